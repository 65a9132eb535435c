//! Vector stores behind one small interface: Qdrant's embedded engine
//! (`qdrant-edge`, the default, files under the data directory) and a Qdrant
//! server (`QDRANT_URL`, through `qdrant-client`). Both keep the same point
//! ids, payload, filters and cosine scores, so switching changes nothing for
//! clients.

pub mod edge;
pub mod filter;
pub mod qdrant;

use ragwire_schemas::JsonMap;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::Error;
pub use filter::{AnyValues, Cond, Scalar};

/// One vector with its payload.
#[derive(Debug, Clone)]
pub struct Point {
    pub id: Uuid,
    pub vector: Vec<f32>,
    pub payload: JsonMap,
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    pub score: f32,
    pub payload: JsonMap,
}

/// A vector store. Collections are created on first upsert with the vectors'
/// dimension and cosine distance.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync + 'static {
    /// `embedded` or `qdrant`, for logs and replies.
    fn kind(&self) -> &'static str;

    /// Writes `points` (all of dimension `dim`), creating the collection when
    /// missing; a collection of another dimension is a 400.
    async fn upsert(&self, collection: &str, dim: usize, points: Vec<Point>) -> Result<(), Error>;

    /// The `limit` nearest points matching every condition of `filter`. A
    /// missing collection is a 404.
    async fn search(
        &self,
        collection: &str,
        vector: Vec<f32>,
        limit: usize,
        filter: &[Cond],
    ) -> Result<Vec<Hit>, Error>;

    /// Number of points in the collection (0 when it does not exist).
    async fn count(&self, collection: &str) -> Result<usize, Error>;

    /// Makes everything written so far durable.
    async fn flush(&self) -> Result<(), Error>;
}

/// Collection names: letters, digits, `_` and `-`, 1 to 64 characters (they
/// become folder names in the embedded store).
pub fn check_collection(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "`collection` is `{name}`; expected 1 to 64 letters, digits, `_` or `-`"
        )))
    }
}

/// Hex SHA-256 of a chunk's text.
pub fn text_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The point id of a chunk: a UUIDv5 of collection, document id and chunk id
/// (or the text's hash without one), so indexing a chunk twice keeps one point.
pub fn point_id(collection: &str, doc_id: &str, chunk_id: Option<&str>, hash: &str) -> Uuid {
    let chunk = match chunk_id {
        Some(id) => format!("id:{id}"),
        None => format!("sha256:{hash}"),
    };
    // Lengths first, so ("a/b", "c") and ("a", "b/c") never collide.
    let name = format!(
        "{}:{collection}/{}:{doc_id}/{chunk}",
        collection.len(),
        doc_id.len()
    );
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// ragwire's UUIDv5 namespace (itself the v5 of "ragwire" in the URL namespace).
const NAMESPACE: Uuid = Uuid::from_u128(0x3f1c_6f0e_2b7a_5d4e_9a61_8f3b_2c0d_4e77);

/// The 404 of a search in a collection that does not exist.
pub fn missing(collection: &str) -> Error {
    Error::NotFound(format!(
        "collection `{collection}` does not exist; index into it first"
    ))
}

/// Fails with 400 unless `vector` has dimension `dim`.
pub fn check_dim(collection: &str, expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "collection `{collection}` holds vectors of dimension {expected}; got dimension {got} \
             (was it indexed with another embedding model?)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let h = text_hash("hello");
        assert_eq!(h.len(), 64);
        let a = point_id("c", "doc", Some("1"), &h);
        assert_eq!(a, point_id("c", "doc", Some("1"), &text_hash("other text")));
        assert_ne!(a, point_id("c", "doc", Some("2"), &h));
        assert_ne!(a, point_id("c2", "doc", Some("1"), &h));
        assert_ne!(
            point_id("a/b", "c", None, &h),
            point_id("a", "b/c", None, &h)
        );
        assert_eq!(
            point_id("c", "d", None, &h),
            point_id("c", "d", None, &text_hash("hello"))
        );
    }

    #[test]
    fn collection_names() {
        assert!(check_collection("chunks_v2-en").is_ok());
        for bad in ["", "../etc", "a b", &"x".repeat(65)] {
            assert!(check_collection(bad).is_err(), "{bad}");
        }
    }
}
