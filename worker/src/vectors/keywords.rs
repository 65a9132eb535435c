//! BM25 vectors of texts, made in the worker for both stores with Qdrant's
//! own tokenizer (English stop words and stemming, as a Qdrant server's
//! BM25 does), so the embedded store and a server rank alike. The store
//! weighs each term by its inverse document frequency in the collection
//! (the IDF modifier), so the weights stay right as the collection grows.

use std::sync::Arc;

use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};

use super::Sparse;
use crate::error::Error;

/// The BM25 encoder. Cheap to clone.
#[derive(Clone)]
pub struct Keywords(Arc<EdgeBm25>);

impl Keywords {
    /// The encoder with BM25's usual parameters (k1 1.2, b 0.75) and an
    /// average chunk of 256 tokens.
    pub fn new() -> Result<Keywords, Error> {
        EdgeBm25::new(EdgeBm25Config::default())
            .map(|bm25| Keywords(Arc::new(bm25)))
            .map_err(|e| Error::Internal(format!("cannot build the BM25 encoder: {e}")))
    }

    /// The BM25 vector of a chunk's text.
    pub fn document(&self, text: &str) -> Sparse {
        let v = self.0.embed_document(text);
        Sparse {
            indices: v.indices,
            values: v.values,
        }
    }

    /// The terms of a query (each weighs 1; the store applies the IDF).
    pub fn query(&self, text: &str) -> Sparse {
        let v = self.0.embed_query(text);
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
}
