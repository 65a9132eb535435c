//! BM25 vectors of texts, made in the worker for both stores with Qdrant's
//! own tokenizer (English stop words and stemming, as a Qdrant server's
//! BM25 does), so the embedded store and a server rank alike. The store
//! weighs each term by its inverse document frequency in the collection
//! (the IDF modifier), so the weights stay right as the collection grows.
//!
//! Stemming is most of the cost of a document's vector, and a corpus
//! repeats its words: each word's term id is kept in a bounded cache, and
//! the BM25 weights are computed from the ids as Qdrant computes them. The
//! vectors are the same as Qdrant's encoder gives (a test holds them to it).

use std::sync::Arc;

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};

use super::point::Sparse;
use crate::error::Error;

/// Words whose term ids are kept.
const CACHED_WORDS: usize = 200_000;

/// The BM25 encoder. Cheap to clone.
#[derive(Clone)]
pub struct Keywords(Arc<Inner>);

struct Inner {
    bm25: EdgeBm25,
    /// k1, b and the average document length, in tokens.
    k1: f64,
    b: f64,
    avg_len: f64,
    /// Word as written -> its term id, or `None` for a stop word.
    ids: quick_cache::sync::Cache<String, Option<u32>>,
}

impl Keywords {
    /// The encoder with BM25's usual parameters (k1 1.2, b 0.75) and an
    /// average chunk of 256 tokens.
    pub fn new() -> Result<Keywords, Error> {
        let config = EdgeBm25Config::default();
        let (k1, b, avg_len) = (*config.k, *config.b, *config.avg_len);
        let bm25 = EdgeBm25::new(config)
            .map_err(|e| Error::Internal(format!("cannot build the BM25 encoder: {e}")))?;
        Ok(Keywords(Arc::new(Inner {
            bm25,
            k1,
            b,
            avg_len,
            ids: quick_cache::sync::Cache::new(CACHED_WORDS),
        })))
    }

    /// The BM25 vector of a chunk's text.
    pub fn document(&self, text: &str) -> Sparse {
        let Inner { k1, b, avg_len, .. } = *self.0;
        // Qdrant's word tokenizer: a token is a run of alphanumeric
        // characters, and each is lowercased, filtered and stemmed alone.
        let mut ids: Vec<u32> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .filter_map(|word| self.word_id(word))
            .collect();
        let len = ids.len() as f64;
        ids.sort_unstable();
        let mut sparse = Sparse::default();
        for run in ids.chunk_by(|a, b| a == b) {
            let n = run.len() as f64;
            let tf = n * (k1 + 1.0) / k1.mul_add(1.0 - b + b * len / avg_len, n);
            sparse.indices.push(run[0]);
            sparse.values.push(tf as f32);
        }
        sparse
    }

    /// The term id of one token, `None` for a stop word.
    fn word_id(&self, word: &str) -> Option<u32> {
        if let Some(id) = self.0.ids.get(word) {
            return id;
        }
        // A single token gives at most one term.
        let id = self.0.bm25.embed_query(word).indices.first().copied();
        self.0.ids.insert(word.to_owned(), id);
        id
    }

    /// The terms of a query (each weighs 1; the store applies the IDF).
    pub fn query(&self, text: &str) -> Sparse {
        let v = self.0.bm25.embed_query(text);
        Sparse {
            indices: v.indices,
            values: v.values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drops_stop_words_and_matches_query_terms() {
        let k = Keywords::new().unwrap();
        let doc = k.document("The wings of the aircraft were flying at supersonic speeds");
        let query = k.query("supersonic wing flight");
        assert!(!doc.indices.is_empty());
        assert_eq!(doc.indices.len(), doc.values.len());
        // `wings`/`wing` share a stem; `the`, `of`, `at` are stop words.
        let shared = query
            .indices
            .iter()
            .filter(|i| doc.indices.contains(i))
            .count();
        assert!(shared >= 2, "{query:?} vs {doc:?}");
        assert!(k.query("the of at").indices.is_empty());
        assert_eq!(k.document("Mach 3"), k.document("mach 3"));
    }

    /// The cached encoding is Qdrant's, weights and all, on texts with
    /// repeats, punctuation, digits, stop words and non-ASCII letters.
    #[test]
    fn documents_are_qdrants_own_encoding() {
        let k = Keywords::new().unwrap();
        let qdrant = EdgeBm25::new(EdgeBm25Config::default()).unwrap();
        let texts = [
            "",
            "the of and",
            "Boundary-layer flow; boundary layers FLOW at Mach 2.5 (flows).",
            "an experimental study of a wing in a propeller slipstream was made in order \
             to determine the spanwise distribution of the lift increase due to slipstream",
            "Ünïcode wörds, naïve café Straße ΑΒΓ αβγ 東京 x=y+z/2 e-mail@host_name",
            "part XJ-4471-B and xj4471b; 4471 4471 4471 repeated repeated",
        ];
        // Twice: the second pass is served from the cache.
        for _ in 0..2 {
            for text in texts {
                let want = qdrant.embed_document(text);
                let got = k.document(text);
                assert_eq!(got.indices, want.indices, "{text}");
                assert_eq!(got.values, want.values, "{text}");
            }
        }
    }
}
