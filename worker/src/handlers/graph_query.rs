//! `rag.graph.query`: read-only Cypher on a Bolt graph store. The embedded
//! SQLite store has no Cypher, and says which setting brings one.

use ragwire_schemas::graph::{QueryReply, QueryRequest};

use super::check_text;
use crate::error::Error;
use crate::state::State;

pub async fn handle(state: &State, req: QueryRequest) -> Result<QueryReply, Error> {
    check_text("query", &req.query)?;
    Err(Error::NotImplemented(format!(
        "{}.graph.query runs Cypher on a Bolt graph store; the {} graph store has none. \
         Set NEO4J_URI (with NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE) to a Neo4j, Memgraph or ArcadeDB server",
        state.config.prefix,
        state.graph.kind()
    )))
}
