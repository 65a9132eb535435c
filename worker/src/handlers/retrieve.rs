//! `rag.retrieve`: the query embedded once, then vector search and graph
//! expansion in parallel; hits with citations, reranked when a reranker is
//! configured. A failing stage leaves a warning; only when every stage fails
//! is the reply an error.

use std::collections::BTreeMap;
use std::time::Instant;

use ragwire_schemas::retrieve::{
    Citation, RetrieveHit, RetrieveReply, RetrieveRequest, Subgraph, Warning,
};
use ragwire_schemas::JsonMap;
use serde_json::Value;

use crate::error::Error;
use crate::ranking;
use crate::state::State;
use crate::validate::{check_query, MAX_TOP_K};
use crate::vectors::{filter, ChunkPayload, Hit};

/// Deepest neighbourhood, in hops.
const MAX_HOPS: u8 = 3;
/// Most nodes in a returned neighbourhood.
const MAX_NODES: usize = 50;
/// Most seed entities taken from a query.
const MAX_SEEDS: usize = 10;

/// Runs the vector and graph stages and returns the hits, with warnings for stages that failed.
pub async fn handle(state: &State, req: RetrieveRequest) -> Result<RetrieveReply, Error> {
    let started = Instant::now();
    check_query(&req.query, &req.collection, req.top_k)?;
    // Neighbourhoods go at most 3 hops deep: a deeper ask gets 3, and 0
    // asks for no neighbourhood at all.
    let max_hops = req.max_hops.min(MAX_HOPS);
    ranking::check(&req.ranking, req.top_k)?;
    let conds = filter::parse(req.filters.as_ref())?;
    // With a reranker, fetch more candidates than asked for and let it choose.
    let candidates = if state.reranker.is_some() {
        (req.top_k * 3).min(MAX_TOP_K)
    } else {
        req.top_k
    };

    let vector_stage = ranking::search(
        state,
        &req.collection,
        &req.query,
        &req.ranking,
        candidates,
        &conds,
    );
    let graph_stage = async {
        if !req.include_subgraph || max_hops == 0 {
            return Ok(None);
        }
        let t = Instant::now();
        let seeds = state.graph.find_seeds(&req.query, MAX_SEEDS).await?;
        let subgraph = state
            .graph
            .neighbourhood(seeds, max_hops, MAX_NODES)
            .await?;
        Ok::<_, Error>(Some((subgraph, t.elapsed().as_millis() as u64)))
    };
    let (vector_result, graph_result) = if state.config.worker.retrieve_serial {
        (vector_stage.await, graph_stage.await)
    } else {
        tokio::join!(vector_stage, graph_stage)
    };

    let mut warnings = Vec::new();
    let mut timings = BTreeMap::new();
    let mut hits = Vec::new();
    let mut failed = Vec::new();
    let mut scoring = None;
    match vector_result {
        Ok(ranked) => {
            timings.insert("embed".to_owned(), ranked.embed_ms);
            timings.insert("vector".to_owned(), ranked.search_ms);
            hits.extend(ranked.hits.into_iter().map(vector_hit));
            scoring = Some(ranked.scoring);
        }
        Err(e) => failed.push(("vector", e)),
    }
    let subgraph = match graph_result {
        Ok(Some((subgraph, ms))) => {
            timings.insert("graph".to_owned(), ms);
            hits.extend(graph_hits(&subgraph));
            Some(subgraph)
        }
        Ok(None) => None,
        Err(e) => {
            failed.push(("graph", e));
            None
        }
    };
    let stages = 1 + usize::from(req.include_subgraph);
    if failed.len() == stages {
        // Nothing succeeded: the first failure is the answer.
        return Err(failed.swap_remove(0).1);
    }
    warnings.extend(failed.into_iter().map(|(stage, e)| warning(stage, &e)));

    if let (Some(reranker), false) = (&state.reranker, hits.is_empty()) {
        let t = Instant::now();
        let texts: Vec<String> = hits.iter().map(|h| h.text.clone()).collect();
        match reranker.rerank(&req.query, &texts, req.top_k).await {
            Ok(order) => {
                if let Some(scoring) = &mut scoring {
                    scoring.reranked = true;
                }
                let mut slots: Vec<Option<RetrieveHit>> = hits.into_iter().map(Some).collect();
                hits = order
                    .into_iter()
                    .filter_map(|(i, score)| {
                        slots[i].take().map(|mut h| {
                            h.score = Some(score);
                            h
                        })
                    })
                    .collect();
            }
            Err(e) => warnings.push(warning("rerank", &e)),
        }
        timings.insert("rerank".to_owned(), t.elapsed().as_millis() as u64);
    }
    hits.truncate(req.top_k);
    Ok(RetrieveReply {
        hits,
        subgraph,
        query_time_ms: started.elapsed().as_millis() as u64,
        timings_ms: timings,
        warnings,
        scoring,
    })
}

fn warning(stage: &str, e: &Error) -> Warning {
    let body = e.to_body();
    Warning {
        stage: stage.to_owned(),
        code: body.code,
        message: body.message,
    }
}

fn vector_hit(hit: Hit) -> RetrieveHit {
    let chunk = ChunkPayload::from_map(hit.payload);
    RetrieveHit {
        text: chunk.text,
        metadata: chunk.metadata,
        citations: vec![Citation {
            source: "vector".into(),
            doc_id: Some(chunk.doc_id).filter(|d| !d.is_empty()),
            chunk_id: chunk.chunk_id,
            node_id: None,
            edge_type: None,
            score: Some(hit.score),
        }],
        score: Some(hit.score),
    }
}

/// One hit per relation in the neighbourhood, as a sentence a model can read.
fn graph_hits(subgraph: &Subgraph) -> Vec<RetrieveHit> {
    let name = |id: &str| {
        subgraph
            .nodes
            .iter()
            .find(|n| n.id == id)
            .and_then(|n| n.props.get("name").and_then(Value::as_str))
            .unwrap_or(id)
            .to_owned()
    };
    subgraph
        .edges
        .iter()
        .map(|e| {
            let mut metadata = JsonMap::new();
            metadata.insert("src".into(), Value::String(e.src.clone()));
            metadata.insert("dst".into(), Value::String(e.dst.clone()));
            metadata.insert("props".into(), Value::Object(e.props.clone()));
            RetrieveHit {
                text: format!("{} {} {}", name(&e.src), e.edge_type, name(&e.dst)),
                metadata,
                citations: vec![Citation {
                    source: "graph".into(),
                    doc_id: None,
                    chunk_id: None,
                    node_id: Some(e.src.clone()),
                    edge_type: Some(e.edge_type.clone()),
                    score: None,
                }],
                score: None,
            }
        })
        .collect()
}

impl super::Encode for RetrieveReply {
    fn is_large(&self) -> bool {
        let graph = self
            .subgraph
            .as_ref()
            .map_or(0, |g| g.nodes.len() + g.edges.len());
        self.hits.len() + graph > super::MANY_ITEMS
    }
}
