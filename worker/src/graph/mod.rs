//! Graph stores behind one small interface. The embedded default is SQLite
//! (`{data_dir}/graph.sqlite`): a node table and an edge table with MERGE
//! semantics and neighbourhoods by recursive query. With `NEO4J_URI` set,
//! a Bolt server (Neo4j, Memgraph, ArcadeDB) through `neo4rs`.

pub mod bolt;
pub mod cypher;
pub mod sqlite;
pub mod tenant;

use ragwire_schemas::graph::GraphData;
use ragwire_schemas::retrieve::Subgraph;
use ragwire_schemas::JsonMap;
use serde_json::Value;
use std::time::Duration;

use ragwire_common::settings::parse;

use crate::error::Error;

/// The graph store: embedded SQLite, or a Bolt server.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Graph")]
pub struct GraphConfig {
    /// Bolt graph server (`bolt://`, `neo4j://`, `+s`/`+ssc` for TLS:
    /// Neo4j, Memgraph, ArcadeDB); unset: embedded SQLite in
    /// `{RAGWIRE_DATA_DIR}/graph.sqlite`.
    #[arg(id = "graph.neo4j_uri", long = "neo4j-uri", env = "NEO4J_URI",
          value_parser = bolt_uri)]
    pub neo4j_uri: Option<String>,
    /// Bolt user.
    #[arg(
        id = "graph.user",
        long = "neo4j-user",
        env = "NEO4J_USER",
        default_value = "neo4j"
    )]
    pub user: String,
    /// Bolt password.
    #[arg(
        id = "graph.password",
        long = "neo4j-password",
        env = "NEO4J_PASSWORD",
        default_value = ""
    )]
    pub password: String,
    /// Bolt database; unset: the server's default.
    #[arg(id = "graph.database", long = "neo4j-database", env = "NEO4J_DATABASE")]
    pub database: Option<String>,
    /// Label every ragwire node carries in a Bolt store besides its type,
    /// so several graphs can share one database.
    #[arg(id = "graph.label", long = "graph-label", env = "RAGWIRE_GRAPH_LABEL",
          default_value = "Entity", value_parser = label)]
    pub label: String,
    /// Per graph store call, in milliseconds (504 beyond).
    #[arg(id = "graph.timeout_ms", long = "graph-timeout-ms", env = "RAGWIRE_GRAPH_TIMEOUT_MS",
          default_value = "10000", value_parser = parse::timeout)]
    pub timeout: Duration,
    /// Bolt connections per worker.
    #[arg(id = "graph.max_connections", long = "graph-max-connections",
          env = "RAGWIRE_GRAPH_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = parse::at_least_one::<usize>)]
    pub max_connections: usize,
    /// Most records one `graph.query` returns (413 beyond).
    #[arg(id = "graph.max_rows", long = "graph-max-rows", env = "RAGWIRE_GRAPH_MAX_ROWS",
          default_value_t = 1000, value_parser = parse::at_least_one::<usize>)]
    pub max_rows: usize,
}

ragwire_common::default_from_declarations!(GraphConfig);

fn bolt_uri(uri: &str) -> Result<String, String> {
    let schemes = [
        "bolt://",
        "bolt+s://",
        "bolt+ssc://",
        "neo4j://",
        "neo4j+s://",
        "neo4j+ssc://",
    ];
    if schemes.iter().any(|s| uri.starts_with(s)) {
        Ok(uri.to_owned())
    } else {
        Err(format!("`{uri}` is not a bolt:// or neo4j:// URI"))
    }
}

fn label(value: &str) -> Result<String, String> {
    check_type("RAGWIRE_GRAPH_LABEL", value)
        .map(|()| value.to_owned())
        .map_err(|e| e.to_string())
}

/// Most nodes or edges in one upsert.
pub const MAX_ITEMS: usize = 10_000;

/// Where the elements of a write come from, recorded on each so that a
/// document's contribution can be deleted (or replaced) alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// No document: no document delete ever removes these elements.
    Unattributed,
    /// Merged as part of a document's contribution.
    Document(String),
    /// The document's whole contribution as of version `generation`: what
    /// it contributed before and not now is removed in the same
    /// transaction. The store keeps each document's newest generation (of
    /// a replacement or a delete) and refuses an older one with a 409
    /// ([`superseded`]), so a late writer never brings back what a newer
    /// version or a delete removed.
    Replace {
        /// The document.
        doc: String,
        /// Its version: a job's submission time, a request's arrival
        /// (microseconds since the epoch, [`crate::vectors::new_generation`]).
        generation: u64,
    },
}

impl Provenance {
    /// The provenance a request states with `doc_id` and `replace`: a
    /// replacement is a version of now.
    pub fn of(doc_id: Option<String>, replace: bool) -> Provenance {
        match doc_id {
            None => Provenance::Unattributed,
            Some(doc) if replace => Provenance::Replace {
                doc,
                generation: crate::vectors::new_generation(),
            },
            Some(doc) => Provenance::Document(doc),
        }
    }

    /// The source recorded on the elements: the document id, or `""` for
    /// unattributed writes (and for elements stored before sources were).
    pub fn source(&self) -> &str {
        match self {
            Provenance::Unattributed => UNATTRIBUTED,
            Provenance::Document(doc) | Provenance::Replace { doc, .. } => doc,
        }
    }
}

/// The refusal of a replacement older than the document's newest version
/// or delete (generation `by`): a 409, which a job takes as "superseded".
pub fn superseded(doc: &str, by: u64) -> Error {
    Error::Conflict(format!(
        "a newer version or a delete of document `{doc}` reached the graph first (generation {by}); nothing written"
    ))
}

/// The source of elements written without a document.
pub const UNATTRIBUTED: &str = "";

/// The property (Bolt) in which an element lists its sources; reserved.
pub const SOURCES: &str = "ragwire_sources";

/// A knowledge-graph store. Nodes are merged by `id`, edges by
/// `(src, type, dst)`; properties of a merged item are updated key by key.
/// Every element records its sources: the documents that produced it (an
/// edge's ends count as produced by the edge's document), or
/// [`UNATTRIBUTED`].
#[async_trait::async_trait]
pub trait GraphStore: Send + Sync + 'static {
    /// `embedded` or `bolt`, for messages.
    fn kind(&self) -> &'static str;

    /// Merges the nodes, then the edges, recording `provenance`; returns
    /// how many of each were written. An edge whose end is neither in
    /// `data` nor stored is a 400; a [`Provenance::Replace`] older than the
    /// document's newest version or delete is a 409 ([`superseded`]).
    async fn upsert(
        &self,
        data: GraphData,
        provenance: Provenance,
    ) -> Result<(usize, usize), Error>;

    /// Removes `doc_id` from every element's sources and deletes the
    /// elements left with none (a node with its relationships); returns the
    /// numbers of nodes and relationships deleted. Records the delete as
    /// the document's version `generation`: a replacement of an older
    /// generation arriving later writes nothing.
    async fn delete_document(&self, doc_id: &str, generation: u64)
        -> Result<(usize, usize), Error>;

    /// Deletes every node (with its relationships) whose id starts with
    /// `mark` (a tenant's, see [`tenant`]), or, with an empty `mark`, every
    /// node whose id has no tenant's mark; returns the numbers of nodes and
    /// relationships deleted.
    async fn clear(&self, mark: &str) -> Result<(usize, usize), Error>;

    /// The nodes within `max_hops` (1 to 3) of the seed ids, nearest first,
    /// at most `limit`, and the edges between them.
    async fn neighbourhood(
        &self,
        seeds: Vec<String>,
        max_hops: u8,
        limit: usize,
    ) -> Result<Subgraph, Error>;

    /// Stored ids of the nodes of `mark` (as in [`GraphStore::clear`])
    /// whose id without the mark, or whose `name` property, occurs in
    /// `text` (3 characters or more, case-insensitive): the entities a
    /// query mentions.
    async fn find_seeds(&self, text: &str, limit: usize, mark: &str) -> Result<Vec<String>, Error>;

    /// Numbers of stored nodes and edges.
    // Read by tests and benchmarks only.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    async fn counts(&self) -> Result<(usize, usize), Error>;

    /// Runs read-only Cypher, already checked by
    /// [`cypher::check_read_only`], with Bolt parameters; one JSON object per
    /// record. Stores without Cypher answer 501, naming the setting that
    /// brings one.
    async fn query(&self, cypher: &str, params: JsonMap) -> Result<Vec<Value>, Error> {
        let _ = (cypher, params);
        Err(Error::NotImplemented(format!(
            "graph.query runs Cypher on a Bolt graph store; the {} graph store has none. \
             Set NEO4J_URI (with NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE) to a Neo4j, Memgraph or ArcadeDB server",
            self.kind()
        )))
    }
}

/// Node and edge types become labels and relationship types in a Bolt
/// store, so they are checked, never spliced as given: a letter or `_`, then
/// up to 63 letters, digits or `_`.
pub fn check_type(field: &str, value: &str) -> Result<(), Error> {
    let mut chars = value.chars();
    let ok = value.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "`{field}` is `{value}`; a type is a letter or `_` followed by up to 63 letters, digits or `_`"
        )))
    }
}

fn check_id(field: &str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() || value.len() > 512 {
        return Err(Error::bad_request(format!(
            "`{field}` must be 1 to 512 bytes and not blank"
        )));
    }
    Ok(())
}

fn check_props(field: &str, props: &JsonMap) -> Result<(), Error> {
    for (key, value) in props {
        if key == SOURCES {
            return Err(Error::bad_request(format!(
                "`{field}.{key}`: `{SOURCES}` is the graph store's own property (the documents \
                 an element comes from); name the property otherwise"
            )));
        }
        if matches!(value, Value::Array(_) | Value::Object(_)) {
            return Err(Error::bad_request(format!(
                "`{field}.{key}`: property values are strings, numbers, booleans or null"
            )));
        }
    }
    Ok(())
}

/// Checks a graph before any of it is written.
pub fn validate(data: &GraphData) -> Result<(), Error> {
    if data.nodes.is_empty() && data.edges.is_empty() {
        return Err(Error::bad_request("`data` has no nodes and no edges"));
    }
    let total = data.nodes.len() + data.edges.len();
    if total > MAX_ITEMS {
        return Err(Error::TooLarge {
            what: "the number of nodes and edges".into(),
            size: total,
            limit: MAX_ITEMS,
        });
    }
    for (i, n) in data.nodes.iter().enumerate() {
        check_id(&format!("data.nodes[{i}].id"), &n.id)?;
        check_type(&format!("data.nodes[{i}].type"), &n.node_type)?;
        check_props(&format!("data.nodes[{i}].props"), &n.props)?;
    }
    for (i, e) in data.edges.iter().enumerate() {
        check_id(&format!("data.edges[{i}].src"), &e.src)?;
        check_id(&format!("data.edges[{i}].dst"), &e.dst)?;
        check_type(&format!("data.edges[{i}].type"), &e.edge_type)?;
        check_props(&format!("data.edges[{i}].props"), &e.props)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        for ok in ["Person", "_x", "WORKS_AT", "a1"] {
            assert!(check_type("t", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "Person`) DETACH DELETE n //",
            "a-b",
            "a b",
            "Ä",
            &"a".repeat(65),
        ] {
            assert!(check_type("t", bad).is_err(), "{bad}");
        }
    }
}
