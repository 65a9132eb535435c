//! The Bolt graph store: Neo4j 5, Memgraph, ArcadeDB or any server that
//! speaks Bolt, through `neo4rs`. Every node carries the configured base
//! label (default `Entity`) and its type as a second label; nodes are merged
//! by `id`, edges by `(src, type, dst)`. Types become labels only after
//! [`check_type`](super::check_type); all values travel as Bolt parameters.
//! The Cypher keeps to what Neo4j and ArcadeDB share.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::time::Duration;

use neo4rs::{BoltType, ConfigBuilder, Graph, Query, Row};
use ragwire_schemas::graph::{Edge, GraphData, Node};
use ragwire_schemas::retrieve::Subgraph;
use ragwire_schemas::JsonMap;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::GraphConfig;
use super::{check_type, GraphStore, Provenance, SOURCES};
use crate::error::{Backend, Error};

const BACKEND: Backend = Backend::Bolt;

/// Bolt graph store. Cheap to clone; connections are pooled and opened on
/// first use, so a server that is down fails requests, not start-up.
#[derive(Clone)]
pub struct BoltGraph {
    graph: Graph,
    label: String,
    timeout: Duration,
    max_rows: usize,
    schema: std::sync::Arc<OnceCell<()>>,
}

impl BoltGraph {
    /// A store for `config.neo4j_uri`; checks the settings, connects lazily.
    pub fn connect(config: &GraphConfig) -> Result<BoltGraph, Error> {
        let uri = config
            .neo4j_uri
            .as_deref()
            .ok_or_else(|| Error::config("NEO4J_URI", "not set"))?;
        check_type("RAGWIRE_GRAPH_LABEL", &config.label)
            .map_err(|e| Error::config("RAGWIRE_GRAPH_LABEL", e.to_string()))?;
        let timeout = config.timeout;
        let mut builder = ConfigBuilder::default()
            .uri(uri)
            .user(config.user.as_str())
            .password(config.password.as_str())
            .max_connections(config.max_connections)
            .fetch_size(config.max_rows.clamp(1, 1000))
            .connection_timeout(timeout);
        if let Some(db) = &config.database {
            builder = builder.db(db.as_str());
        }
        let bolt_config = builder
            .build()
            .map_err(|e| Error::config("NEO4J_URI", e.to_string()))?;
        let graph =
            Graph::connect(bolt_config).map_err(|e| Error::config("NEO4J_URI", e.to_string()))?;
        Ok(BoltGraph {
            graph,
            label: config.label.clone(),
            timeout,
            max_rows: config.max_rows,
            schema: Default::default(),
        })
    }

    /// Runs `fut` under the store's timeout: a server that hangs (a wrong
    /// password or database makes some servers hang rather than refuse) gives
    /// a 504, never a stuck request.
    async fn timed<T>(&self, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        match crate::waiting::on(BACKEND, tokio::time::timeout(self.timeout, fut)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                backend: BACKEND,
                after: self.timeout,
            }),
        }
    }

    /// Creates the index on `id` once per process. A server that does not
    /// know the statement still works, only slower. (An index, not a
    /// uniqueness constraint: ArcadeDB refuses to add a type label to a node
    /// under such a constraint inside a transaction.)
    async fn ensure_schema(&self) {
        let label = &self.label;
        self.schema
            .get_or_init(|| async {
                let statement = format!(
                    "CREATE INDEX ragwire_{label}_id IF NOT EXISTS FOR (n:{label}) ON (n.id)"
                );
                let result =
                    tokio::time::timeout(self.timeout, self.graph.run(neo4rs::query(&statement)))
                        .await;
                match result {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "graph store: no index on node ids"),
                    Err(_) => tracing::warn!("graph store: creating the node id index timed out"),
                }
            })
            .await;
    }

    /// Runs a write transaction: `queries` in order, then commit.
    async fn write(&self, version: Option<(&str, u64)>, queries: Vec<Query>) -> Result<(), Error> {
        self.write_counted(version, queries).await.map(drop)
    }

    /// Runs a write transaction of queries, then commits; returns the
    /// count `c` each query returned (0 for those that return none). With
    /// `version` (a document and a generation), first records that version
    /// of the document, or rolls back with a 409 when a newer one is
    /// recorded.
    async fn write_counted(
        &self,
        version: Option<(&str, u64)>,
        queries: Vec<Query>,
    ) -> Result<Vec<usize>, Error> {
        let error = |e| classify(e, false, self.timeout);
        let mut txn = self.graph.start_txn().await.map_err(error)?;
        if let Some((doc, generation)) = version {
            let generation = i64::try_from(generation).unwrap_or(i64::MAX);
            let q = neo4rs::query(
                "MERGE (v:RagwireVersion {graph: $graph, doc: $doc}) ON CREATE SET v.generation = $g \
                 WITH v, v.generation AS before \
                 SET v.generation = CASE WHEN before > $g THEN before ELSE $g END \
                 RETURN max(before) AS c",
            )
            .param("graph", self.label.as_str())
            .param("doc", doc)
            .param("g", generation);
            let mut stream = txn.execute(q).await.map_err(error)?;
            let mut newest = generation;
            while let Some(row) = stream.next(txn.handle()).await.map_err(error)? {
                newest = newest.max(row.get::<i64>("c").unwrap_or(0));
            }
            if newest > generation {
                txn.rollback().await.map_err(error)?;
                return Err(super::superseded(doc, newest as u64));
            }
        }
        let mut counts = Vec::with_capacity(queries.len());
        for q in queries {
            let mut stream = txn.execute(q).await.map_err(error)?;
            let mut count = 0;
            while let Some(row) = stream.next(txn.handle()).await.map_err(error)? {
                count += row.get::<i64>("c").unwrap_or(0).max(0) as usize;
            }
            counts.push(count);
        }
        txn.commit().await.map_err(error)?;
        Ok(counts)
    }

    /// Two queries that remove `doc` from the sources of relationships,
    /// then of nodes (those that match the extra conditions), and delete the
    /// ones left with none; each returns the count `c` it deleted.
    fn prune_queries(&self, doc: &str, edge_filter: &str, node_filter: &str) -> [Query; 2] {
        let label = &self.label;
        [
            neo4rs::query(&format!(
                "MATCH (s:{label})-[r]->(d:{label}) WHERE $doc IN r.{SOURCES} {edge_filter} \
                 SET r.{SOURCES} = [x IN r.{SOURCES} WHERE x <> $doc] \
                 WITH r WHERE size(r.{SOURCES}) = 0 DELETE r RETURN count(r) AS c"
            ))
            .param("doc", doc),
            neo4rs::query(&format!(
                "MATCH (n:{label}) WHERE $doc IN n.{SOURCES} {node_filter} \
                 SET n.{SOURCES} = [x IN n.{SOURCES} WHERE x <> $doc] \
                 WITH n WHERE size(n.{SOURCES}) = 0 DETACH DELETE n RETURN count(n) AS c"
            ))
            .param("doc", doc),
        ]
    }

    /// The rows of one query in a read transaction, at most `max_rows`.
    async fn read(&self, q: Query, max_rows: usize) -> Result<Vec<Row>, Error> {
        Ok(self.fetch(q, max_rows, false).await?.0)
    }

    /// Up to `max_rows` rows in a read transaction, and whether there were
    /// more. `callers_query` decides who a Cypher error is blamed on.
    async fn fetch(
        &self,
        q: Query,
        max_rows: usize,
        callers_query: bool,
    ) -> Result<(Vec<Row>, bool), Error> {
        let error = |e| classify(e, callers_query, self.timeout);
        let mut stream = self.graph.execute_read(q).await.map_err(error)?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await.map_err(error)? {
            if rows.len() == max_rows {
                return Ok((rows, true));
            }
            rows.push(row);
        }
        Ok((rows, false))
    }

    /// Ids among `ids` that are stored.
    async fn stored(&self, ids: Vec<String>) -> Result<HashSet<String>, Error> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let limit = ids.len();
        let q = neo4rs::query(&format!(
            "MATCH (n:{}) WHERE n.id IN $ids RETURN n.id AS id",
            self.label
        ))
        .param("ids", ids);
        let rows = self.read(q, limit).await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.get::<String>("id").ok())
            .collect())
    }
}

#[async_trait::async_trait]
impl GraphStore for BoltGraph {
    fn kind(&self) -> &'static str {
        "bolt"
    }

    /// In a read transaction; at most `RAGWIRE_GRAPH_MAX_ROWS` records
    /// (more is a 413).
    async fn query(&self, cypher: &str, params: JsonMap) -> Result<Vec<Value>, Error> {
        let mut q = neo4rs::query(cypher);
        for (key, value) in params {
            let value = BoltType::try_from(value).map_err(|e| {
                Error::bad_request(format!(
                    "`params.{key}` cannot be sent to the graph store: {e}"
                ))
            })?;
            q = q.param(&key, value);
        }
        self.timed(async {
            let (rows, more) = self.fetch(q, self.max_rows, true).await?;
            if more {
                return Err(Error::TooLarge {
                    what: "the number of records".into(),
                    size: rows.len() + 1,
                    limit: self.max_rows,
                });
            }
            Ok(rows.iter().map(row_json).collect())
        })
        .await
    }

    async fn upsert(
        &self,
        data: GraphData,
        provenance: Provenance,
    ) -> Result<(usize, usize), Error> {
        self.timed(async {
            self.ensure_schema().await;
            let label = &self.label;
            let counts = (data.nodes.len(), data.edges.len());

            // Edge ends must be in `data` or stored: checked before any write.
            let given: HashSet<&str> = data.nodes.iter().map(|n| n.id.as_str()).collect();
            let outside: Vec<String> = data
                .edges
                .iter()
                .flat_map(|e| [&e.src, &e.dst])
                .filter(|id| !given.contains(id.as_str()))
                .cloned()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let stored = self.stored(outside.clone()).await?;
            for (i, e) in data.edges.iter().enumerate() {
                for end in [&e.src, &e.dst] {
                    if !given.contains(end.as_str()) && !stored.contains(end) {
                        return Err(Error::bad_request(format!(
                            "`data.edges[{i}]` refers to node `{end}`, which is neither in `data.nodes` nor stored"
                        )));
                    }
                }
            }

            // A node whose type changes loses its old type label.
            let mut retype: BTreeMap<String, Vec<String>> = BTreeMap::new();
            if !data.nodes.is_empty() {
                let rows = self
                    .read(
                        neo4rs::query(&format!(
                            "UNWIND $rows AS row MATCH (n:{label} {{id: row.id}}) WHERE n.type <> row.type \
                             RETURN n.id AS id, n.type AS type"
                        ))
                        .param("rows", type_rows(&data.nodes)),
                        data.nodes.len(),
                    )
                    .await?;
                for row in rows {
                    if let (Ok(id), Ok(old)) = (row.get::<String>("id"), row.get::<String>("type")) {
                        // A type written by someone else is removed only if
                        // it is safe to name.
                        if check_type("type", &old).is_ok() && old != *label {
                            retype.entry(old).or_default().push(id);
                        }
                    }
                }
            }

            let source = provenance.source();
            let mut queries = Vec::new();
            for (old, ids) in retype {
                queries.push(
                    neo4rs::query(&format!("MATCH (n:{label}) WHERE n.id IN $ids REMOVE n:{old}"))
                        .param("ids", ids),
                );
            }
            let mut by_type: BTreeMap<&str, Vec<&Node>> = BTreeMap::new();
            for n in &data.nodes {
                by_type.entry(n.node_type.as_str()).or_default().push(n);
            }
            for (node_type, nodes) in by_type {
                queries.push(
                    neo4rs::query(&format!(
                        "UNWIND $rows AS row MERGE (n:{label} {{id: row.id}}) \
                         ON CREATE SET n.{SOURCES} = [] ON MATCH SET n.{SOURCES} = coalesce(n.{SOURCES}, ['']) \
                         SET n += row.props SET n.id = row.id, n.type = row.type, n.{SOURCES} = {ADD_SOURCE_N} \
                         SET n:{node_type}"
                    ))
                    .param("rows", node_rows(&nodes)?)
                    .param("source", source),
                );
            }
            let mut by_type: BTreeMap<&str, Vec<&Edge>> = BTreeMap::new();
            for e in &data.edges {
                by_type.entry(e.edge_type.as_str()).or_default().push(e);
            }
            for (edge_type, edges) in by_type {
                queries.push(
                    neo4rs::query(&format!(
                        "UNWIND $rows AS row MATCH (s:{label} {{id: row.src}}) MATCH (d:{label} {{id: row.dst}}) \
                         SET s.{SOURCES} = {ADD_SOURCE_S}, d.{SOURCES} = {ADD_SOURCE_D} \
                         MERGE (s)-[r:{edge_type}]->(d) \
                         ON CREATE SET r.{SOURCES} = [] ON MATCH SET r.{SOURCES} = coalesce(r.{SOURCES}, ['']) \
                         SET r += row.props SET r.{SOURCES} = {ADD_SOURCE_R}"
                    ))
                    .param("rows", edge_rows(&edges)?)
                    .param("source", source),
                );
            }
            if let Provenance::Replace { doc, .. } = &provenance {
                // What the document contributed before and not now.
                let keep_nodes: Vec<String> = data
                    .nodes
                    .iter()
                    .map(|n| n.id.clone())
                    .chain(data.edges.iter().flat_map(|e| [e.src.clone(), e.dst.clone()]))
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let keep_edges: Vec<String> = data
                    .edges
                    .iter()
                    .map(|e| edge_key(&e.src, &e.edge_type, &e.dst))
                    .collect();
                let [edges, nodes] = self.prune_queries(
                    doc,
                    "AND NOT (s.id + $sep + type(r) + $sep + d.id) IN $keep",
                    "AND NOT n.id IN $keep",
                );
                queries.push(
                    edges
                        .param("keep", keep_edges)
                        .param("sep", KEY_SEP.to_string()),
                );
                queries.push(nodes.param("keep", keep_nodes));
            }
            let version = match &provenance {
                Provenance::Replace { doc, generation } => Some((doc.as_str(), *generation)),
                _ => None,
            };
            self.write(version, queries).await?;
            Ok(counts)
        })
        .await
    }

    async fn delete_document(
        &self,
        doc_id: &str,
        generation: u64,
    ) -> Result<(usize, usize), Error> {
        self.timed(async {
            let [edges, nodes] = self.prune_queries(doc_id, "", "");
            match self
                .write_counted(Some((doc_id, generation)), vec![edges, nodes])
                .await
            {
                Ok(counts) => Ok((counts[1], counts[0])),
                // A newer version replaced what came before: nothing of
                // what the delete is about is left.
                Err(Error::Conflict(_)) => Ok((0, 0)),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn clear(&self, mark: &str) -> Result<(usize, usize), Error> {
        let label = &self.label;
        let (in_scope_s, in_scope_n) = (in_scope("s", mark), in_scope("n", mark));
        self.timed(async {
            let counts = self
                .write_counted(
                    None,
                    vec![
                        // An edge joins nodes of one tenant: its source says
                        // whose it is.
                        scoped(
                            neo4rs::query(&format!(
                                "MATCH (s:{label})-[r]->(:{label}) WHERE {in_scope_s} \
                                 DELETE r RETURN count(r) AS c"
                            )),
                            mark,
                        ),
                        scoped(
                            neo4rs::query(&format!(
                                "MATCH (n:{label}) WHERE {in_scope_n} \
                                 DETACH DELETE n RETURN count(n) AS c"
                            )),
                            mark,
                        ),
                    ],
                )
                .await?;
            Ok((counts[1], counts[0]))
        })
        .await
    }

    async fn neighbourhood(
        &self,
        seeds: Vec<String>,
        max_hops: u8,
        limit: usize,
    ) -> Result<Subgraph, Error> {
        if seeds.is_empty() || limit == 0 {
            return Ok(Subgraph::default());
        }
        let label = &self.label;
        // `max_hops` is a checked integer (1 to 3), not caller text.
        let hops = max_hops.clamp(1, 3);
        self.timed(async {
            let q = neo4rs::query(&format!(
                "MATCH (s:{label}) WHERE s.id IN $seeds \
                 MATCH p = (s)-[*0..{hops}]-(n:{label}) \
                 WITH n, min(length(p)) AS d \
                 RETURN n.id AS id, n.type AS type, properties(n) AS props, d \
                 ORDER BY d, id LIMIT $limit"
            ))
            .param("seeds", seeds)
            .param("limit", limit as i64);
            let nodes: Vec<Node> = self
                .read(q, limit)
                .await?
                .iter()
                .filter_map(|row| {
                    Some(Node {
                        id: row.get::<String>("id").ok()?,
                        node_type: row.get::<String>("type").unwrap_or_default(),
                        props: props_of(row, &["id", "type", SOURCES]),
                    })
                })
                .collect();
            let ids: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
            let q = neo4rs::query(&format!(
                "MATCH (s:{label})-[r]->(d:{label}) WHERE s.id IN $ids AND d.id IN $ids \
                 RETURN s.id AS src, type(r) AS type, d.id AS dst, properties(r) AS props \
                 ORDER BY src, type, dst LIMIT $max"
            ))
            .param("ids", ids)
            .param("max", self.max_rows as i64);
            let edges = self
                .read(q, self.max_rows)
                .await?
                .iter()
                .filter_map(|row| {
                    Some(Edge {
                        src: row.get::<String>("src").ok()?,
                        dst: row.get::<String>("dst").ok()?,
                        edge_type: row.get::<String>("type").ok()?,
                        props: props_of(row, &[SOURCES]),
                    })
                })
                .collect();
            Ok(Subgraph { nodes, edges })
        })
        .await
    }

    async fn find_seeds(&self, text: &str, limit: usize, mark: &str) -> Result<Vec<String>, Error> {
        let label = &self.label;
        let in_scope = in_scope("n", mark);
        let q = neo4rs::query(&format!(
            "MATCH (n:{label}) WHERE {in_scope} \
             WITH n, toLower(substring(n.id, size($mark))) AS bare \
             WHERE (size(bare) >= 3 AND $text CONTAINS bare) \
                OR (n.name IS NOT NULL AND size(toString(n.name)) >= 3 \
                    AND $text CONTAINS toLower(toString(n.name))) \
             RETURN n.id AS id ORDER BY size(n.id) DESC, id LIMIT $limit"
        ))
        .param("text", text.to_lowercase())
        .param("limit", limit as i64);
        let q = scoped(q, mark);
        self.timed(async {
            Ok(self
                .read(q, limit)
                .await?
                .iter()
                .filter_map(|row| row.get::<String>("id").ok())
                .collect())
        })
        .await
    }

    async fn counts(&self) -> Result<(usize, usize), Error> {
        let label = &self.label;
        self.timed(async {
            let count = |cypher: String| async move {
                let rows = self.read(neo4rs::query(&cypher), 1).await?;
                let n = rows
                    .first()
                    .and_then(|r| r.get::<i64>("c").ok())
                    .unwrap_or(0);
                Ok::<_, Error>(n as usize)
            };
            Ok((
                count(format!("MATCH (n:{label}) RETURN count(n) AS c")).await?,
                count(format!(
                    "MATCH (:{label})-[r]->(:{label}) RETURN count(r) AS c"
                ))
                .await?,
            ))
        })
        .await
    }
}

/// The Cypher condition that node `var` belongs to the scope of `mark`
/// (see [`GraphStore::clear`]), with the parameters [`scoped`] sets.
fn in_scope(var: &str, mark: &str) -> String {
    if mark.is_empty() {
        format!("NOT {var}.id CONTAINS $mark_end")
    } else {
        format!("{var}.id STARTS WITH $mark")
    }
}

/// `query` with the parameters of [`in_scope`].
fn scoped(query: neo4rs::Query, mark: &str) -> neo4rs::Query {
    query
        .param("mark", mark)
        .param("mark_end", super::tenant::MARK_END.to_string())
}

/// `[{id, type}]` of the nodes.
fn type_rows(nodes: &[Node]) -> BoltType {
    let rows = nodes
        .iter()
        .map(|n| {
            let mut row = neo4rs::BoltMap::new();
            row.put("id".into(), n.id.clone().into());
            row.put("type".into(), n.node_type.clone().into());
            BoltType::Map(row)
        })
        .collect();
    BoltType::List(neo4rs::BoltList { value: rows })
}

fn bolt_props(props: &JsonMap) -> Result<BoltType, Error> {
    BoltType::try_from(Value::Object(props.clone()))
        .map_err(|e| Error::bad_request(format!("a property cannot be stored: {e}")))
}

/// `x.ragwire_sources` with `$source` added once, for node `n`, edge ends
/// `s` and `d` (stored before sources were: unattributed as well) and
/// relationship `r`.
const ADD_SOURCE_N: &str = "CASE WHEN $source IN n.ragwire_sources THEN n.ragwire_sources ELSE n.ragwire_sources + $source END";
const ADD_SOURCE_S: &str = "CASE WHEN s.ragwire_sources IS NULL THEN [''] + $source \
     WHEN $source IN s.ragwire_sources THEN s.ragwire_sources ELSE s.ragwire_sources + $source END";
const ADD_SOURCE_D: &str = "CASE WHEN d.ragwire_sources IS NULL THEN [''] + $source \
     WHEN $source IN d.ragwire_sources THEN d.ragwire_sources ELSE d.ragwire_sources + $source END";
const ADD_SOURCE_R: &str = "CASE WHEN $source IN r.ragwire_sources THEN r.ragwire_sources ELSE r.ragwire_sources + $source END";

/// Separates the parts of a relationship's key (ids and types cannot hold
/// it: a control character).
const KEY_SEP: char = '\u{1f}';

/// A relationship's key, as the replace query computes it.
fn edge_key(src: &str, edge_type: &str, dst: &str) -> String {
    format!("{src}{KEY_SEP}{edge_type}{KEY_SEP}{dst}")
}

fn node_rows(nodes: &[&Node]) -> Result<BoltType, Error> {
    let mut rows = Vec::with_capacity(nodes.len());
    for n in nodes {
        let mut row = neo4rs::BoltMap::new();
        row.put("id".into(), n.id.clone().into());
        row.put("type".into(), n.node_type.clone().into());
        row.put("props".into(), bolt_props(&n.props)?);
        rows.push(BoltType::Map(row));
    }
    Ok(BoltType::List(neo4rs::BoltList { value: rows }))
}

fn edge_rows(edges: &[&Edge]) -> Result<BoltType, Error> {
    let mut rows = Vec::with_capacity(edges.len());
    for e in edges {
        let mut row = neo4rs::BoltMap::new();
        row.put("src".into(), e.src.clone().into());
        row.put("dst".into(), e.dst.clone().into());
        row.put("props".into(), bolt_props(&e.props)?);
        rows.push(BoltType::Map(row));
    }
    Ok(BoltType::List(neo4rs::BoltList { value: rows }))
}

/// The `props` column as a JSON map, without the keys the store keeps for
/// itself.
fn props_of(row: &Row, skip: &[&str]) -> JsonMap {
    match row.get::<BoltType>("props") {
        Ok(BoltType::Map(map)) => map
            .value
            .into_iter()
            .filter(|(k, _)| !skip.contains(&k.value.as_str()))
            .map(|(k, v)| (k.value, bolt_json(v)))
            .collect(),
        _ => JsonMap::new(),
    }
}

/// One record as a JSON object, column name -> value.
fn row_json(row: &Row) -> Value {
    let map: JsonMap = row
        .keys()
        .into_iter()
        .map(|k| {
            let value = row
                .get::<BoltType>(&k.value)
                .map(bolt_json)
                .unwrap_or(Value::Null);
            (k.value.clone(), value)
        })
        .collect();
    Value::Object(map)
}

/// A Bolt value as JSON: nodes as `{id, labels, props}`, relationships as
/// `{type, props}` (with `start`/`end` element ids when bound), paths as
/// `{nodes, relationships}`, temporal values as ISO-8601 text.
fn bolt_json(value: BoltType) -> Value {
    use serde_json::json;
    let props = |map: neo4rs::BoltMap| -> Value {
        Value::Object(
            map.value
                .into_iter()
                .map(|(k, v)| (k.value, bolt_json(v)))
                .collect(),
        )
    };
    match value {
        BoltType::String(s) => Value::String(s.value),
        BoltType::Boolean(b) => Value::Bool(b.value),
        BoltType::Null(_) => Value::Null,
        BoltType::Integer(i) => json!(i.value),
        BoltType::Float(f) => serde_json::Number::from_f64(f.value)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        BoltType::List(l) => Value::Array(l.value.into_iter().map(bolt_json).collect()),
        BoltType::Map(m) => props(m),
        BoltType::Bytes(b) => json!(b.value.to_vec()),
        BoltType::Node(n) => json!({
            "labels": n.labels.value.into_iter().map(bolt_json).collect::<Vec<_>>(),
            "props": props(n.properties),
        }),
        BoltType::Relation(r) => json!({"type": r.typ.value, "props": props(r.properties)}),
        BoltType::UnboundedRelation(r) => {
            json!({"type": r.typ.value, "props": props(r.properties)})
        }
        BoltType::Path(p) => json!({
            "nodes": p.nodes.value.into_iter().map(bolt_json).collect::<Vec<_>>(),
            "relationships": p.rels.value.into_iter().map(bolt_json).collect::<Vec<_>>(),
        }),
        BoltType::Point2D(p) => json!({"srid": p.sr_id.value, "x": p.x.value, "y": p.y.value}),
        BoltType::Point3D(p) => {
            json!({"srid": p.sr_id.value, "x": p.x.value, "y": p.y.value, "z": p.z.value})
        }
        temporal => temporal_json(temporal),
    }
}

fn temporal_json(value: BoltType) -> Value {
    let text = match value {
        BoltType::Date(_) => chrono::NaiveDate::try_from(value)
            .map(|d| d.to_string())
            .ok(),
        BoltType::DateTime(_) => chrono::DateTime::<chrono::FixedOffset>::try_from(value)
            .map(|d| d.to_rfc3339())
            .ok(),
        BoltType::LocalDateTime(_) => chrono::NaiveDateTime::try_from(value)
            .map(|d| d.to_string())
            .ok(),
        BoltType::DateTimeZoneId(_) => <(chrono::NaiveDateTime, String)>::try_from(value)
            .map(|(d, zone)| format!("{d}[{zone}]"))
            .ok(),
        BoltType::Duration(_) => std::time::Duration::try_from(value)
            .map(|d| format!("PT{}S", d.as_secs_f64()))
            .ok(),
        BoltType::Time(_) | BoltType::LocalTime(_) => {
            <(chrono::NaiveTime, Option<chrono::FixedOffset>)>::try_from(value)
                .map(|(t, offset)| match offset {
                    Some(o) => format!("{t}{o}"),
                    None => t.to_string(),
                })
                .ok()
        }
        _ => None,
    };
    text.map(Value::String).unwrap_or(Value::Null)
}

/// Maps a driver error. In a caller's query (`callers_query`) a Cypher
/// mistake is the caller's (400); in the store's own queries it is the
/// server's (502).
fn classify(e: neo4rs::Error, callers_query: bool, timeout: Duration) -> Error {
    use neo4rs::{Neo4jClientErrorKind as Client, Neo4jErrorKind as Kind};
    let unavailable = |message: String| Error::Unavailable {
        backend: BACKEND,
        message,
    };
    match &e {
        neo4rs::Error::Neo4j(server) => match server.kind() {
            Kind::Client(Client::Security(_)) => unavailable(format!(
                "{e} (check NEO4J_USER, NEO4J_PASSWORD and NEO4J_DATABASE)"
            )),
            Kind::Transient => unavailable(e.to_string()),
            Kind::Client(_) | Kind::Unknown if callers_query => Error::bad_request(format!(
                "the graph store refused the query: {}",
                server.message()
            )),
            _ => Error::Upstream {
                backend: BACKEND,
                status: 500,
                message: e.to_string(),
                retry_after: None,
            },
        },
        neo4rs::Error::AuthenticationError(_) => {
            unavailable(format!("{e} (check NEO4J_USER and NEO4J_PASSWORD)"))
        }
        neo4rs::Error::ConnectionTimedOut => Error::Timeout {
            backend: BACKEND,
            after: timeout,
        },
        _ => unavailable(e.to_string()),
    }
}
