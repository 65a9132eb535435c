//! What a point of a collection is: its id, its vectors and its payload
//! (the chunk), and what a search returns of it.

use ragwire_schemas::JsonMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a point of a collection carries: its chunk. Written by `index` and
/// ingest jobs, returned whole by `search`, read by `retrieve`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkPayload {
    /// The document the chunk belongs to.
    pub doc_id: String,
    /// The chunk's id within its document, when it has one.
    pub chunk_id: Option<String>,
    /// The chunk's text.
    pub text: String,
    /// Free-form metadata; filters name its fields.
    pub metadata: JsonMap,
    /// Hex SHA-256 of `text`.
    pub hash: String,
    /// The version of the document the chunk belongs to (see
    /// [`new_generation`]); 0 on points written before generations.
    pub generation: u64,
}

impl ChunkPayload {
    /// The payload keys of the chunk's own fields; any other filter field
    /// is a metadata field.
    pub const OWN_FIELDS: [&'static str; 5] = ["doc_id", "chunk_id", "hash", "text", "generation"];

    /// The payload key of the tenant a point belongs to, absent on the
    /// `default` tenant's points (those written before tenants existed
    /// among them). Not a filter field: a request's `tenant` is
    /// `metadata.tenant`.
    pub const TENANT: &'static str = "tenant";

    /// The payload key of [`ChunkPayload::generation`].
    pub const GENERATION: &'static str = "generation";

    /// The payload as stored: `chunk_id` is `null` when there is none.
    pub fn into_map(self) -> JsonMap {
        let mut map = JsonMap::new();
        map.insert("doc_id".into(), Value::String(self.doc_id));
        map.insert(
            "chunk_id".into(),
            self.chunk_id.map_or(Value::Null, Value::String),
        );
        map.insert("text".into(), Value::String(self.text));
        map.insert("metadata".into(), Value::Object(self.metadata));
        map.insert("hash".into(), Value::String(self.hash));
        map.insert(Self::GENERATION.into(), Value::from(self.generation));
        map
    }

    /// Reads a stored payload; a field that is missing or of another type
    /// (points written by other tools) is left empty.
    pub fn from_map(mut map: JsonMap) -> ChunkPayload {
        let mut text = |key: &str| match map.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let (doc_id, chunk_id, text_, hash) =
            (text("doc_id"), text("chunk_id"), text("text"), text("hash"));
        let generation = map
            .remove(Self::GENERATION)
            .and_then(|g| g.as_u64())
            .unwrap_or(0);
        let metadata = match map.remove("metadata") {
            Some(Value::Object(m)) => m,
            _ => JsonMap::new(),
        };
        ChunkPayload {
            doc_id: doc_id.unwrap_or_default(),
            chunk_id,
            text: text_.unwrap_or_default(),
            metadata,
            hash: hash.unwrap_or_default(),
            generation,
        }
    }
}

/// A sparse vector: a text's term ids and their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sparse {
    /// Term ids, ascending.
    pub indices: Vec<u32>,
    /// Their weights.
    pub values: Vec<f32>,
}

/// One vector with its payload.
#[derive(Debug, Clone)]
pub struct Point {
    /// The point id (see [`point_id`]).
    pub id: Uuid,
    /// The dense vector.
    pub vector: Vec<f32>,
    /// The BM25 vector of the chunk's text (left out of a collection made
    /// before keyword search).
    pub keywords: Sparse,
    /// The payload, a [`ChunkPayload`] as stored.
    pub payload: JsonMap,
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The point id.
    pub id: String,
    /// The query's score: cosine, BM25 or fused.
    pub score: f32,
    /// The point's payload as stored.
    pub payload: JsonMap,
}

/// Hex SHA-256 of a chunk's text.
pub fn text_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The point id of a chunk: a UUIDv5 of collection, document id and chunk id
/// (or the text's hash without one), so indexing a chunk twice keeps one point.
/// A chunk of a replacing version (`generation`) has an id of its own, so
/// that writing it never overwrites a chunk of another version: versions
/// are removed whole, by generation, never a chunk at a time.
pub fn point_id(
    collection: &str,
    doc_id: &str,
    chunk_id: Option<&str>,
    hash: &str,
    generation: Option<u64>,
) -> Uuid {
    let chunk = match chunk_id {
        Some(id) => format!("id:{id}"),
        None => format!("sha256:{hash}"),
    };
    // Lengths first, so ("a/b", "c") and ("a", "b/c") never collide.
    let mut name = format!(
        "{}:{collection}/{}:{doc_id}/{chunk}",
        collection.len(),
        doc_id.len()
    );
    if let Some(generation) = generation {
        name.push_str(&format!("@{generation}"));
    }
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// A new document generation: microseconds since the Unix epoch, strictly
/// increasing within the process. Microseconds, so that a generation is an
/// exact number in the `f64` of Qdrant's range filters; later submissions
/// get higher generations as far as the workers' clocks agree.
pub fn new_generation() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// ragwire's UUIDv5 namespace (itself the v5 of "ragwire" in the URL namespace).
const NAMESPACE: Uuid = Uuid::from_u128(0x3f1c_6f0e_2b7a_5d4e_9a61_8f3b_2c0d_4e77);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let h = text_hash("hello");
        assert_eq!(h.len(), 64);
        let a = point_id("c", "doc", Some("1"), &h, None);
        assert_eq!(
            a,
            point_id("c", "doc", Some("1"), &text_hash("other text"), None)
        );
        assert_ne!(a, point_id("c", "doc", Some("2"), &h, None));
        assert_ne!(a, point_id("c2", "doc", Some("1"), &h, None));
        assert_ne!(
            point_id("a/b", "c", None, &h, None),
            point_id("a", "b/c", None, &h, None)
        );
        assert_eq!(
            point_id("c", "d", None, &h, None),
            point_id("c", "d", None, &text_hash("hello"), None)
        );
        let v7 = point_id("c", "doc", Some("1"), &h, Some(7));
        assert_ne!(a, v7);
        assert_ne!(v7, point_id("c", "doc", Some("1"), &h, Some(8)));
        assert_eq!(v7, point_id("c", "doc", Some("1"), &h, Some(7)));
        let (g1, g2) = (new_generation(), new_generation());
        assert!(g2 > g1 && g1 > 1_600_000_000_000_000, "{g1} {g2}");
    }

    #[test]
    fn payloads_round_trip_and_read_leniently() {
        let chunk = ChunkPayload {
            doc_id: "d".into(),
            chunk_id: None,
            text: "t".into(),
            metadata: JsonMap::from_iter([("lang".into(), Value::from("en"))]),
            hash: text_hash("t"),
            generation: 42,
        };
        let map = chunk.clone().into_map();
        assert_eq!(map["chunk_id"], Value::Null);
        assert_eq!(ChunkPayload::from_map(map), chunk);
        let foreign = JsonMap::from_iter([("text".into(), Value::from("only text"))]);
        let read = ChunkPayload::from_map(foreign);
        assert_eq!(
            (read.text.as_str(), read.doc_id.as_str()),
            ("only text", "")
        );
    }
}
