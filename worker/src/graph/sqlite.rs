//! The embedded graph store: SQLite (bundled) in the data directory. Calls
//! run on Tokio's blocking pool; one connection, so writes are serialised.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ragwire_schemas::graph::{Edge, GraphData, Node};
use ragwire_schemas::retrieve::Subgraph;
use ragwire_schemas::JsonMap;
use rusqlite::{params, Connection, OptionalExtension};

use super::{GraphStore, Provenance};
use crate::error::{Backend, Error};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS nodes (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    props TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL,
    type TEXT NOT NULL,
    dst TEXT NOT NULL,
    props TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (src, type, dst)
);
CREATE INDEX IF NOT EXISTS edges_by_dst ON edges (dst);
-- The documents each element comes from ('' for none); an element stored
-- before sources were recorded has no row and counts as ''.
CREATE TABLE IF NOT EXISTS node_sources (
    id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (id, doc_id)
);
CREATE INDEX IF NOT EXISTS node_sources_by_doc ON node_sources (doc_id);
CREATE TABLE IF NOT EXISTS edge_sources (
    src TEXT NOT NULL,
    type TEXT NOT NULL,
    dst TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (src, type, dst, doc_id)
);
CREATE INDEX IF NOT EXISTS edge_sources_by_doc ON edge_sources (doc_id);
-- Each document's newest version (generation) written by a replacement or
-- a delete: an older replacement writes nothing.
CREATE TABLE IF NOT EXISTS doc_versions (
    doc_id TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
);
CREATE TEMP TABLE IF NOT EXISTS keep_nodes (id TEXT PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS keep_edges (src TEXT, type TEXT, dst TEXT, PRIMARY KEY (src, type, dst));
CREATE TEMP TABLE IF NOT EXISTS gone_nodes (id TEXT PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS gone_edges (src TEXT, type TEXT, dst TEXT, PRIMARY KEY (src, type, dst));
";

/// Records `source` on node `id`; a node stored before sources were
/// recorded first gets the unattributed source, so a document delete never
/// removes it.
const NODE_SOURCE: &str = "
INSERT OR IGNORE INTO node_sources (id, doc_id)
    SELECT ?1, '' WHERE NOT EXISTS (SELECT 1 FROM node_sources WHERE id = ?1)
                    AND EXISTS (SELECT 1 FROM nodes WHERE id = ?1) AND ?2 <> '';
";
const NODE_SOURCE_ADD: &str = "INSERT OR IGNORE INTO node_sources (id, doc_id) VALUES (?1, ?2)";
const EDGE_SOURCE: &str = "
INSERT OR IGNORE INTO edge_sources (src, type, dst, doc_id)
    SELECT ?1, ?2, ?3, '' WHERE NOT EXISTS (SELECT 1 FROM edge_sources WHERE src = ?1 AND type = ?2 AND dst = ?3)
                          AND EXISTS (SELECT 1 FROM edges WHERE src = ?1 AND type = ?2 AND dst = ?3) AND ?4 <> '';
";
const EDGE_SOURCE_ADD: &str =
    "INSERT OR IGNORE INTO edge_sources (src, type, dst, doc_id) VALUES (?1, ?2, ?3, ?4)";

/// Removes `doc_id` (?1) from the sources of the elements listed in
/// `gone_nodes` and `gone_edges`, then deletes those left with none, and the
/// relationships of deleted nodes.
const PRUNE: &str = "
DELETE FROM node_sources WHERE doc_id = ?1 AND id IN (SELECT id FROM gone_nodes);
DELETE FROM edge_sources WHERE doc_id = ?1 AND (src, type, dst) IN (SELECT src, type, dst FROM gone_edges);
DELETE FROM gone_nodes WHERE EXISTS (SELECT 1 FROM node_sources s WHERE s.id = gone_nodes.id);
DELETE FROM gone_edges WHERE EXISTS (SELECT 1 FROM edge_sources s
    WHERE s.src = gone_edges.src AND s.type = gone_edges.type AND s.dst = gone_edges.dst);
INSERT OR IGNORE INTO gone_edges (src, type, dst)
    SELECT src, type, dst FROM edges WHERE src IN (SELECT id FROM gone_nodes) OR dst IN (SELECT id FROM gone_nodes);
DELETE FROM edge_sources WHERE (src, type, dst) IN (SELECT src, type, dst FROM gone_edges);
";

/// SQLite graph store. Cheap to clone.
#[derive(Clone)]
pub struct SqliteGraph {
    conn: Arc<Mutex<Connection>>,
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("embedded graph store: {e}"))
}

impl SqliteGraph {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<SqliteGraph, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::config(
                    "RAGWIRE_DATA_DIR",
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        let conn = Connection::open(path).map_err(|e| {
            Error::config(
                "RAGWIRE_DATA_DIR",
                format!("cannot open {}: {e}", path.display()),
            )
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(internal)?;
        conn.execute_batch(SCHEMA).map_err(internal)?;
        Ok(SqliteGraph {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let conn = self.conn.clone();
        let call = tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        });
        crate::waiting::on(Backend::EmbeddedGraph, call)
            .await
            .map_err(internal)?
    }
}

/// Removes `doc` from the sources of the elements in `gone_nodes` and
/// `gone_edges` and deletes those left with none, with the relationships of
/// deleted nodes; returns the numbers of nodes and relationships deleted.
/// Records version `generation` of `doc` unless a newer one is recorded;
/// `Err(409)` then, and the caller's transaction is dropped unwritten.
fn claim(tx: &rusqlite::Transaction<'_>, doc: &str, generation: u64) -> Result<(), Error> {
    let generation = i64::try_from(generation).unwrap_or(i64::MAX);
    let stored: Option<i64> = tx
        .query_row(
            "SELECT generation FROM doc_versions WHERE doc_id = ?1",
            [doc],
            |r| r.get(0),
        )
        .optional()
        .map_err(internal)?;
    match stored {
        Some(newer) if newer > generation => Err(super::superseded(doc, newer as u64)),
        _ => tx
            .execute(
                "INSERT INTO doc_versions (doc_id, generation) VALUES (?1, ?2)
                 ON CONFLICT (doc_id) DO UPDATE SET generation = max(generation, excluded.generation)",
                params![doc, generation],
            )
            .map(drop)
            .map_err(internal),
    }
}

fn prune(tx: &rusqlite::Transaction<'_>, doc: &str) -> Result<(usize, usize), Error> {
    for statement in PRUNE.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let takes_doc = statement.contains("?1");
        if takes_doc {
            tx.execute(statement, [doc]).map_err(internal)?;
        } else {
            tx.execute(statement, []).map_err(internal)?;
        }
    }
    let edges = tx
        .execute(
            "DELETE FROM edges WHERE (src, type, dst) IN (SELECT src, type, dst FROM gone_edges)",
            [],
        )
        .map_err(internal)?;
    let nodes = tx
        .execute(
            "DELETE FROM nodes WHERE id IN (SELECT id FROM gone_nodes)",
            [],
        )
        .map_err(internal)?;
    Ok((nodes, edges))
}

fn props_text(props: &JsonMap) -> String {
    serde_json::Value::Object(props.clone()).to_string()
}

fn props_map(text: &str) -> JsonMap {
    serde_json::from_str(text).unwrap_or_default()
}

#[async_trait::async_trait]
impl GraphStore for SqliteGraph {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn upsert(
        &self,
        data: GraphData,
        provenance: Provenance,
    ) -> Result<(usize, usize), Error> {
        self.run(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            if let Provenance::Replace { doc, generation } = &provenance {
                claim(&tx, doc, *generation)?;
            }
            let source = provenance.source();
            {
                let mut legacy_node = tx.prepare_cached(NODE_SOURCE).map_err(internal)?;
                let mut add_node = tx.prepare_cached(NODE_SOURCE_ADD).map_err(internal)?;
                let mut legacy_edge = tx.prepare_cached(EDGE_SOURCE).map_err(internal)?;
                let mut add_edge = tx.prepare_cached(EDGE_SOURCE_ADD).map_err(internal)?;
                let mut node_source = |id: &str| -> Result<(), Error> {
                    legacy_node.execute(params![id, source]).map_err(internal)?;
                    add_node.execute(params![id, source]).map_err(internal)?;
                    Ok(())
                };
                for n in &data.nodes {
                    node_source(&n.id)?;
                }
                for e in &data.edges {
                    node_source(&e.src)?;
                    node_source(&e.dst)?;
                    legacy_edge.execute(params![e.src, e.edge_type, e.dst, source]).map_err(internal)?;
                    add_edge.execute(params![e.src, e.edge_type, e.dst, source]).map_err(internal)?;
                }
            }
            {
                // MERGE by id; SET += props.
                let mut node = tx
                    .prepare_cached(
                        "INSERT INTO nodes (id, type, props) VALUES (?1, ?2, ?3)
                         ON CONFLICT (id) DO UPDATE SET type = excluded.type,
                             props = json_patch(nodes.props, excluded.props)",
                    )
                    .map_err(internal)?;
                for n in &data.nodes {
                    node.execute(params![n.id, n.node_type, props_text(&n.props)]).map_err(internal)?;
                }
                let mut exists = tx.prepare_cached("SELECT 1 FROM nodes WHERE id = ?1").map_err(internal)?;
                let mut edge = tx
                    .prepare_cached(
                        "INSERT INTO edges (src, type, dst, props) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (src, type, dst) DO UPDATE SET
                             props = json_patch(edges.props, excluded.props)",
                    )
                    .map_err(internal)?;
                for (i, e) in data.edges.iter().enumerate() {
                    for end in [&e.src, &e.dst] {
                        let found: Option<i64> = exists.query_row([end], |r| r.get(0)).optional().map_err(internal)?;
                        if found.is_none() {
                            // Dropping the transaction rolls every write back.
                            return Err(Error::bad_request(format!(
                                "`data.edges[{i}]` refers to node `{end}`, which is neither in `data.nodes` nor stored"
                            )));
                        }
                    }
                    edge.execute(params![e.src, e.edge_type, e.dst, props_text(&e.props)]).map_err(internal)?;
                }
            }
            if let Provenance::Replace { doc, .. } = &provenance {
                // What the document contributed before and not now.
                tx.execute_batch("DELETE FROM keep_nodes; DELETE FROM keep_edges; DELETE FROM gone_nodes; DELETE FROM gone_edges;")
                    .map_err(internal)?;
                {
                    let mut keep_node = tx.prepare_cached("INSERT OR IGNORE INTO keep_nodes (id) VALUES (?1)").map_err(internal)?;
                    let mut keep_edge = tx
                        .prepare_cached("INSERT OR IGNORE INTO keep_edges (src, type, dst) VALUES (?1, ?2, ?3)")
                        .map_err(internal)?;
                    for n in &data.nodes {
                        keep_node.execute([&n.id]).map_err(internal)?;
                    }
                    for e in &data.edges {
                        keep_node.execute([&e.src]).map_err(internal)?;
                        keep_node.execute([&e.dst]).map_err(internal)?;
                        keep_edge.execute(params![e.src, e.edge_type, e.dst]).map_err(internal)?;
                    }
                }
                tx.execute(
                    "INSERT INTO gone_nodes (id) SELECT id FROM node_sources
                     WHERE doc_id = ?1 AND id NOT IN (SELECT id FROM keep_nodes)",
                    [doc],
                )
                .map_err(internal)?;
                tx.execute(
                    "INSERT INTO gone_edges (src, type, dst) SELECT src, type, dst FROM edge_sources
                     WHERE doc_id = ?1 AND (src, type, dst) NOT IN (SELECT src, type, dst FROM keep_edges)",
                    [doc],
                )
                .map_err(internal)?;
                prune(&tx, doc)?;
            }
            tx.commit().map_err(internal)?;
            Ok((data.nodes.len(), data.edges.len()))
        })
        .await
    }

    async fn delete_document(
        &self,
        doc_id: &str,
        generation: u64,
    ) -> Result<(usize, usize), Error> {
        let doc = doc_id.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            // A version newer than the delete replaced what came before:
            // nothing of what the delete is about is left.
            match claim(&tx, &doc, generation) {
                Ok(()) => {}
                Err(Error::Conflict(_)) => return Ok((0, 0)),
                Err(e) => return Err(e),
            }
            tx.execute_batch("DELETE FROM gone_nodes; DELETE FROM gone_edges;")
                .map_err(internal)?;
            tx.execute(
                "INSERT INTO gone_nodes (id) SELECT id FROM node_sources WHERE doc_id = ?1",
                [&doc],
            )
            .map_err(internal)?;
            tx.execute(
                "INSERT INTO gone_edges (src, type, dst) SELECT src, type, dst FROM edge_sources WHERE doc_id = ?1",
                [&doc],
            )
            .map_err(internal)?;
            let counts = prune(&tx, &doc)?;
            tx.commit().map_err(internal)?;
            Ok(counts)
        })
        .await
    }

    async fn clear(&self, mark: &str) -> Result<(usize, usize), Error> {
        let mark = mark.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            let delete = |table: &str, column: &str| {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE {}", in_scope(column)),
                    params![mark],
                )
                .map_err(internal)
            };
            // An edge joins nodes of one tenant: its source says whose it is.
            let edges = delete("edges", "src")?;
            let nodes = delete("nodes", "id")?;
            delete("node_sources", "id")?;
            delete("edge_sources", "src")?;
            tx.commit().map_err(internal)?;
            Ok((nodes, edges))
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
        self.run(move |conn| {
            let seeds = serde_json::to_string(&seeds).map_err(internal)?;
            let mut reach = conn
                .prepare_cached(
                    "WITH RECURSIVE reach (id, depth) AS (
                         SELECT id, 0 FROM nodes WHERE id IN (SELECT value FROM json_each(?1))
                         UNION
                         SELECT CASE WHEN e.src = r.id THEN e.dst ELSE e.src END, r.depth + 1
                         FROM reach r JOIN edges e ON e.src = r.id OR e.dst = r.id
                         WHERE r.depth < ?2
                     )
                     SELECT n.id, n.type, n.props, MIN(r.depth) AS d
                     FROM reach r JOIN nodes n ON n.id = r.id
                     GROUP BY n.id ORDER BY d, n.id LIMIT ?3",
                )
                .map_err(internal)?;
            let nodes: Vec<Node> = reach
                .query_map(params![seeds, i64::from(max_hops), limit as i64], |row| {
                    Ok(Node {
                        id: row.get(0)?,
                        node_type: row.get(1)?,
                        props: props_map(&row.get::<_, String>(2)?),
                    })
                })
                .map_err(internal)?
                .collect::<Result<_, _>>()
                .map_err(internal)?;
            let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
            let ids_json = serde_json::to_string(&ids).map_err(internal)?;
            let mut between = conn
                .prepare_cached(
                    "SELECT src, type, dst, props FROM edges
                     WHERE src IN (SELECT value FROM json_each(?1)) AND dst IN (SELECT value FROM json_each(?1))
                     ORDER BY src, type, dst",
                )
                .map_err(internal)?;
            let edges: Vec<Edge> = between
                .query_map([ids_json], |row| {
                    Ok(Edge {
                        src: row.get(0)?,
                        edge_type: row.get(1)?,
                        dst: row.get(2)?,
                        props: props_map(&row.get::<_, String>(3)?),
                    })
                })
                .map_err(internal)?
                .collect::<Result<_, _>>()
                .map_err(internal)?;
            Ok(Subgraph { nodes, edges })
        })
        .await
    }

    async fn find_seeds(&self, text: &str, limit: usize, mark: &str) -> Result<Vec<String>, Error> {
        let text = text.to_lowercase();
        let mark = mark.to_owned();
        self.run(move |conn| {
            let mut found = conn
                .prepare_cached(&format!(
                    "SELECT id FROM nodes
                     WHERE {} AND (
                        (length(id) - length(?1) >= 3
                            AND instr(?2, lower(substr(id, length(?1) + 1))) > 0)
                        OR (length(json_extract(props, '$.name')) >= 3
                            AND instr(?2, lower(json_extract(props, '$.name'))) > 0))
                     ORDER BY length(id) DESC, id LIMIT ?3",
                    in_scope("id")
                ))
                .map_err(internal)?;
            let ids = found
                .query_map(params![mark, text, limit as i64], |row| {
                    row.get::<_, String>(0)
                })
                .map_err(internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            Ok(ids)
        })
        .await
    }

    async fn counts(&self) -> Result<(usize, usize), Error> {
        self.run(|conn| {
            let count = |table: &str| -> Result<usize, Error> {
                conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as usize)
                .map_err(internal)
            };
            Ok((count("nodes")?, count("edges")?))
        })
        .await
    }
}

/// The SQL condition that `column` holds an id of the scope whose mark is
/// the statement's parameter `?1` (see [`GraphStore::clear`]): starting
/// with the mark, or, for the empty mark, holding no tenant's mark.
fn in_scope(column: &str) -> String {
    format!(
        "(CASE WHEN ?1 = '' THEN instr({column}, char(31)) = 0 \
         ELSE substr({column}, 1, length(?1)) = ?1 END)"
    )
}
