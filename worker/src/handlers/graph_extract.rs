//! `rag.graph.extract`: a knowledge graph from a text, valid by construction,
//! from the first provider of the hedged chain that produces one; optionally
//! written to the graph store in the same request.

use ragwire_schemas::graph::{ExtractReply, ExtractRequest, UpsertReply};

use crate::error::Error;
use crate::extract::{self, parse::Minimums, Task};
use crate::graph::{self, Provenance};
use crate::state::State;
use crate::validate::{check_doc_id, check_doc_ref, check_text};

/// Most aliases in a request's `provider_chain`, and most attempts each.
const MAX_CHAIN: usize = 10;
const MAX_ATTEMPTS: u32 = 5;

/// Extracts a graph from the context, optionally writing it to the graph store.
pub async fn handle(state: &State, req: ExtractRequest) -> Result<ExtractReply, Error> {
    let config = &state.config.extract;
    check_text("context", &req.context)?;
    if let Some(doc) = &req.doc_id {
        // Written with `upsert`, it replaces the document's contribution:
        // an id a delete can name.
        if req.upsert {
            check_doc_ref("doc_id", doc)?;
        } else {
            check_doc_id("doc_id", doc)?;
        }
    }
    let chars = req.context.chars().count();
    if chars > config.max_context_chars {
        return Err(Error::TooLarge {
            what: "the length of `context` in characters".into(),
            size: chars,
            limit: config.max_context_chars,
        });
    }
    // An empty chain, like none, means the configured one.
    let chain: Vec<String> = req
        .provider_chain
        .map(|c| c.iter().map(|a| a.trim().to_owned()).collect::<Vec<_>>())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| config.chain.clone());
    if chain.len() > MAX_CHAIN || chain.iter().any(|a| a.is_empty()) {
        return Err(Error::bad_request(format!(
            "`provider_chain` must hold 1 to {MAX_CHAIN} non-empty model aliases"
        )));
    }
    let max_attempts = req.max_attempts.unwrap_or(config.max_attempts);
    if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
        return Err(Error::bad_request(format!(
            "`max_attempts` is {max_attempts}; expected 1 to {MAX_ATTEMPTS}"
        )));
    }
    let task = Task {
        context: req.context,
        chain,
        max_attempts,
        min: Minimums {
            nodes: req.min_nodes.unwrap_or(config.min_nodes),
            edges: req.min_edges.unwrap_or(config.min_edges),
            allow_empty: req.allow_empty.unwrap_or(config.allow_empty),
        },
        strict: req.strict,
        repair: req.repair_if_invalid,
    };
    let out = extract::run(&state.llm, config, &task).await?;
    let upserted = if req.upsert {
        if out.graph.nodes.is_empty() && out.graph.edges.is_empty() {
            Some(UpsertReply { nodes: 0, edges: 0 })
        } else {
            graph::validate(&out.graph)?;
            let provenance = Provenance::of(req.doc_id.clone(), true);
            let (nodes, edges) = state.graph.upsert(out.graph.clone(), provenance).await?;
            Some(UpsertReply { nodes, edges })
        }
    } else {
        None
    };
    Ok(ExtractReply {
        data: out.graph,
        provider: out.provider,
        schema_hash: extract::parse::SCHEMA_HASH.clone(),
        attempts: out.attempts,
        windows: out.windows,
        upserted,
    })
}

impl super::Encode for ExtractReply {}
