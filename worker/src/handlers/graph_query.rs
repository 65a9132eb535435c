//! `rag.graph.query`: the caller's read-only Cypher, with Bolt parameters,
//! on a Bolt graph store. Write clauses are refused before anything is sent.

use ragwire_schemas::graph::{QueryReply, QueryRequest};

use crate::error::Error;
use crate::graph::cypher::check_read_only;
use crate::state::State;
use crate::validate::check_text;

/// Runs read-only Cypher on the Bolt graph store.
pub async fn handle(state: &State, req: QueryRequest) -> Result<QueryReply, Error> {
    check_text("query", &req.query)?;
    check_read_only(&req.query)?;
    let records = state
        .graph
        .query(&req.query, req.params.unwrap_or_default())
        .await?;
    Ok(QueryReply { records })
}

impl super::Encode for QueryReply {}
