//! The chunk search of `rag.search` and `rag.retrieve`: the ranking options
//! checked, the mode chosen for the collection, the query embedded and/or
//! tokenised, and the store asked.

use std::time::Instant;

use ragwire_schemas::search::{Fusion, Ranking, Scoring, SearchMode};

use crate::error::Error;
use crate::state::State;
use crate::validate::MAX_TOP_K;
use crate::vectors::{self, missing, no_keywords, Cond, Hit, Query};

/// The mode when the request names none, on a collection with BM25 vectors.
pub const DEFAULT_MODE: SearchMode = SearchMode::Hybrid;
/// RRF's rank constant when the request names none.
pub const DEFAULT_RRF_K: usize = 60;
/// Fewest candidates per side of a hybrid search.
const MIN_CANDIDATES: usize = 50;
/// Largest RRF weight.
const MAX_WEIGHT: f32 = 100.0;

/// The hits of a chunk search, and how they were ranked.
pub struct Ranked {
    /// Best first, at most the limit asked for.
    pub hits: Vec<Hit>,
    /// What the scores are.
    pub scoring: Scoring,
    /// Milliseconds spent embedding the query (0 without a dense side).
    pub embed_ms: u64,
    /// Milliseconds spent in the store.
    pub search_ms: u64,
}

/// Checks the ranking options of a request for `top_k` hits, before any
/// work: a bad value is a 400 naming its field.
pub fn check(ranking: &Ranking, top_k: usize) -> Result<(), Error> {
    if let Some(k) = ranking.rrf_k {
        if !(1..=1000).contains(&k) {
            return Err(Error::bad_request(format!(
                "`rrf_k` is {k}; expected 1 to 1000"
            )));
        }
    }
    if let Some(w) = ranking.weights {
        if ranking.fusion != Fusion::Rrf {
            return Err(Error::bad_request(
                "`weights` apply to `fusion: rrf` only; `dbsf` weighs its rankings equally",
            ));
        }
        for (name, value) in [("weights.dense", w.dense), ("weights.keyword", w.keyword)] {
            if !(0.0..=MAX_WEIGHT).contains(&value) {
                return Err(Error::bad_request(format!(
                    "`{name}` is {value}; expected 0 to {MAX_WEIGHT}"
                )));
            }
        }
        if w.dense == 0.0 && w.keyword == 0.0 {
            return Err(Error::bad_request(
                "`weights`: `dense` and `keyword` are both 0; give one of them some weight",
            ));
        }
    }
    if let Some(c) = ranking.candidates {
        if c < top_k || c > MAX_TOP_K {
            return Err(Error::bad_request(format!(
                "`candidates` is {c}; expected `top_k` ({top_k}) to {MAX_TOP_K}"
            )));
        }
    }
    Ok(())
}

/// Searches `collection` for `text` as `ranking` says (checked with
/// [`check`]), `limit` hits.
pub async fn search(
    state: &State,
    collection: &str,
    text: &str,
    ranking: &Ranking,
    limit: usize,
    conds: &[Cond],
) -> Result<Ranked, Error> {
    let layout = state
        .vectors
        .layout(collection)
        .await?
        .ok_or_else(|| missing(collection))?;
    let mode = match ranking.mode {
        Some(mode) => mode,
        // Collections made before keyword search answer as they did.
        None if !layout.keywords => SearchMode::Dense,
        None => DEFAULT_MODE,
    };
    if mode != SearchMode::Dense && !layout.keywords {
        return Err(no_keywords(collection));
    }
    let terms = (mode != SearchMode::Dense).then(|| state.keywords.query(text));
    let started = Instant::now();
    let dense = match mode {
        SearchMode::Keyword => None,
        _ => Some(
            state
                .embedder
                .embed(vec![text.to_owned()])
                .await?
                .pop()
                .ok_or_else(|| Error::Internal("no vector for the query".into()))?,
        ),
    };
    let embed_ms = started.elapsed().as_millis() as u64;
    // A query of stop words alone has no terms: keyword search finds
    // nothing, and hybrid search is its dense side.
    let (query, scoring) = match (mode, dense, terms) {
        (SearchMode::Keyword, _, Some(terms)) if terms.indices.is_empty() => {
            return Ok(Ranked {
                hits: Vec::new(),
                scoring: scoring(SearchMode::Keyword, None),
                embed_ms,
                search_ms: 0,
            })
        }
        (SearchMode::Keyword, _, Some(terms)) => {
            (Query::Keyword(terms), scoring(SearchMode::Keyword, None))
        }
        (SearchMode::Hybrid, Some(dense), Some(terms)) if !terms.indices.is_empty() => {
            let fusion = match ranking.fusion {
                Fusion::Rrf => vectors::Fusion::Rrf {
                    k: ranking.rrf_k.unwrap_or(DEFAULT_RRF_K),
                    weights: ranking.weights.map(|w| [w.dense, w.keyword]),
                },
                Fusion::Dbsf => vectors::Fusion::Dbsf,
            };
            let candidates = ranking
                .candidates
                .unwrap_or((limit * 2).clamp(MIN_CANDIDATES, MAX_TOP_K))
                .max(limit);
            (
                Query::Hybrid {
                    dense,
                    keyword: terms,
                    candidates,
                    fusion,
                },
                scoring(SearchMode::Hybrid, Some(ranking.fusion)),
            )
        }
        (_, Some(dense), _) => (Query::Dense(dense), scoring(SearchMode::Dense, None)),
        (_, None, _) => return Err(Error::Internal("no query for the search".into())),
    };
    let started = Instant::now();
    let hits = state
        .vectors
        .search(collection, query, limit, conds)
        .await?;
    Ok(Ranked {
        hits,
        scoring,
        embed_ms,
        search_ms: started.elapsed().as_millis() as u64,
    })
}

fn scoring(mode: SearchMode, fusion: Option<Fusion>) -> Scoring {
    Scoring {
        mode,
        fusion,
        reranked: false,
    }
}
