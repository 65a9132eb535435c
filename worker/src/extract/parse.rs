//! From an LLM's text to a graph that is valid by construction: lenient
//! parsing and normalisation, then validation against
//! `schemas/graph_schema.json`.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ragwire_schemas::graph::{GraphData, GRAPH_SCHEMA};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// sha256 of the shipped graph schema, hex.
pub static SCHEMA_HASH: LazyLock<String> = LazyLock::new(|| {
    Sha256::digest(GRAPH_SCHEMA.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
});

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(GRAPH_SCHEMA).expect("graph_schema.json is JSON");
    jsonschema::validator_for(&schema).expect("graph_schema.json is a valid JSON Schema")
});

/// Why an output was not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// Not JSON, or against the schema: a repair may fix it.
    Invalid(String),
    /// Valid but empty, below the minimums, or an `error` node: a nudge may.
    TooSmall(String),
}

impl Rejection {
    /// What was wrong, for the attempt's record and the repair prompt.
    pub fn message(&self) -> &str {
        match self {
            Rejection::Invalid(m) | Rejection::TooSmall(m) => m,
        }
    }
}

/// What a graph must have to be accepted.
#[derive(Debug, Clone, Copy)]
pub struct Minimums {
    /// Fewest nodes.
    pub nodes: usize,
    /// Fewest edges.
    pub edges: usize,
    /// Accept an empty graph all the same.
    pub allow_empty: bool,
}

/// Parses, normalises, validates and checks the minimums.
pub fn accept(text: &str, min: Minimums) -> Result<GraphData, Rejection> {
    let value = parse_lenient(text).map_err(Rejection::Invalid)?;
    let graph = validate(&normalise(value)).map_err(Rejection::Invalid)?;
    check_size(&graph, min)?;
    Ok(graph)
}

/// The outermost JSON object in `text`, code fences and chatter around it
/// ignored.
pub fn parse_lenient(text: &str) -> Result<Value, String> {
    let start = text.find('{');
    let end = text.rfind('}');
    let (Some(start), Some(end)) = (start, end) else {
        return Err("the answer holds no JSON object".into());
    };
    if end < start {
        return Err("the answer holds no JSON object".into());
    }
    match serde_json::from_str::<Value>(&text[start..=end]) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("the answer is not a JSON object".into()),
        Err(e) => Err(format!("the answer is not valid JSON: {e}")),
    }
}

/// Turns common variants into the canonical shape: `name`/`label` for a
/// node id, `source`/`from` and `target`/`to` for edge ends,
/// `relation`/`label` for an edge type, props as a map or as a list of
/// `{key, value}`, prop values coerced to scalars, spaces and hyphens in
/// types as `_`. Merges duplicate nodes (same id, case-insensitive) and drops
/// edges whose ends are missing. Other keys are left for the schema to
/// refuse.
pub fn normalise(value: Value) -> Value {
    let Value::Object(mut top) = value else {
        return value;
    };
    // `{"graph": {...}}` or `{"data": {...}}` around the graph.
    if !top.contains_key("nodes") && top.len() == 1 {
        if let Some(Value::Object(inner)) = top.values().next() {
            if inner.contains_key("nodes") {
                top = inner.clone();
            }
        }
    }
    // Anything but arrays is left for the schema to refuse.
    if top.get("nodes").is_some_and(|v| !v.is_array())
        || top.get("edges").is_some_and(|v| !v.is_array())
    {
        return Value::Object(top);
    }
    let mut nodes: Vec<Map<String, Value>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    if let Some(Value::Array(items)) = top.remove("nodes") {
        for item in items {
            let Value::Object(mut node) = item else {
                nodes.push(Map::new());
                continue;
            };
            rename(&mut node, "id", &["name", "label"]);
            if node.contains_key("type") {
                // `label` was the id, or stays for the schema to refuse.
            } else {
                rename(&mut node, "type", &["label", "category", "kind"]);
            }
            tidy(&mut node, &["id"]);
            match node
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
            {
                Some(key) if index.contains_key(&key) => {
                    let first = &mut nodes[index[&key]];
                    merge_into(first, node);
                }
                Some(key) => {
                    index.insert(key, nodes.len());
                    nodes.push(node);
                }
                None => nodes.push(node),
            }
        }
    }
    let canonical = |id: &str| -> Option<String> {
        let i = *index.get(&id.to_lowercase())?;
        nodes[i].get("id")?.as_str().map(str::to_owned)
    };
    let mut edges: Vec<Value> = Vec::new();
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    if let Some(Value::Array(items)) = top
        .remove("edges")
        .or_else(|| top.remove("relations").filter(Value::is_array))
    {
        for item in items {
            let Value::Object(mut edge) = item else {
                continue;
            };
            rename(&mut edge, "src", &["source", "from", "subject"]);
            rename(&mut edge, "dst", &["target", "to", "object"]);
            rename(&mut edge, "type", &["relation", "label", "predicate"]);
            tidy(&mut edge, &["src", "dst"]);
            let ends = (
                edge.get("src").and_then(Value::as_str).map(str::to_owned),
                edge.get("dst").and_then(Value::as_str).map(str::to_owned),
            );
            if let (Some(src), Some(dst)) = ends {
                // An edge must join extracted nodes.
                let (Some(src), Some(dst)) = (canonical(&src), canonical(&dst)) else {
                    continue;
                };
                let key = (
                    src.clone(),
                    dst.clone(),
                    edge.get("type").map(Value::to_string).unwrap_or_default(),
                );
                if !seen.insert(key) {
                    continue;
                }
                edge.insert("src".into(), Value::String(src));
                edge.insert("dst".into(), Value::String(dst));
            }
            edges.push(Value::Object(edge));
        }
    }
    top.insert(
        "nodes".into(),
        Value::Array(nodes.into_iter().map(Value::Object).collect()),
    );
    top.insert("edges".into(), Value::Array(edges));
    Value::Object(top)
}

/// Moves the first present alias to `key` when `key` is absent.
fn rename(item: &mut Map<String, Value>, key: &str, aliases: &[&str]) {
    if item.contains_key(key) {
        return;
    }
    for alias in aliases {
        if let Some(v) = item.remove(*alias) {
            item.insert(key.to_owned(), v);
            return;
        }
    }
}

/// Ids as trimmed strings, types with `_` for spaces and hyphens, props as
/// a map of scalars.
fn tidy(item: &mut Map<String, Value>, id_keys: &[&str]) {
    for key in id_keys {
        match item.get(*key) {
            Some(Value::Number(n)) => {
                let s = n.to_string();
                item.insert((*key).to_owned(), Value::String(s));
            }
            Some(Value::String(s)) if s.trim() != s => {
                let s = s.trim().to_owned();
                item.insert((*key).to_owned(), Value::String(s));
            }
            _ => {}
        }
    }
    if let Some(Value::String(t)) = item.get("type") {
        let t = t.trim().replace([' ', '-'], "_");
        item.insert("type".into(), Value::String(t));
    }
    let props = match item.remove("props").or_else(|| item.remove("properties")) {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(Value::Array(list)) => Some(
            list.into_iter()
                .filter_map(|entry| {
                    let key = entry.get("key").or_else(|| entry.get("name"))?.as_str()?;
                    Some((
                        key.to_owned(),
                        entry.get("value").cloned().unwrap_or(Value::Null),
                    ))
                })
                .collect(),
        ),
        // Left for the schema to refuse.
        Some(other) => {
            item.insert("props".into(), other);
            return;
        }
    };
    if let Some(props) = props {
        let props: Map<String, Value> = props.into_iter().map(|(k, v)| (k, scalar(v))).collect();
        item.insert("props".into(), Value::Object(props));
    }
}

/// A prop value as a string, number, bool or null: lists and maps become
/// their JSON text.
fn scalar(v: Value) -> Value {
    match v {
        Value::Array(_) | Value::Object(_) => Value::String(v.to_string()),
        v => v,
    }
}

/// Merges a duplicate node into the first one: missing fields and props
/// are filled in, present ones kept.
fn merge_into(first: &mut Map<String, Value>, other: Map<String, Value>) {
    for (key, value) in other {
        if key == "props" {
            if let (Some(Value::Object(a)), Value::Object(b)) = (first.get_mut("props"), &value) {
                for (k, v) in b {
                    a.entry(k.clone()).or_insert_with(|| v.clone());
                }
                continue;
            }
        }
        first.entry(key).or_insert(value);
    }
}

/// Checks a normalised graph against the schema.
pub fn validate(value: &Value) -> Result<GraphData, String> {
    let errors: Vec<String> = VALIDATOR
        .iter_errors(value)
        .take(5)
        .map(|e| {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            format!("{at}: {e}")
        })
        .collect();
    if !errors.is_empty() {
        return Err(format!(
            "the graph does not match the schema: {}",
            errors.join("; ")
        ));
    }
    serde_json::from_value(value.clone()).map_err(|e| format!("the graph cannot be read: {e}"))
}

fn check_size(graph: &GraphData, min: Minimums) -> Result<(), Rejection> {
    if graph.nodes.len() == 1
        && graph.edges.is_empty()
        && graph.nodes[0].node_type.eq_ignore_ascii_case("error")
    {
        return Err(Rejection::TooSmall(format!(
            "the model answered with an error node: {}",
            Value::Object(graph.nodes[0].props.clone())
        )));
    }
    if min.allow_empty {
        return Ok(());
    }
    if graph.nodes.len() < min.nodes || graph.edges.len() < min.edges {
        return Err(Rejection::TooSmall(format!(
            "{} nodes and {} edges; at least {} and {} are needed",
            graph.nodes.len(),
            graph.edges.len(),
            min.nodes,
            min.edges
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MIN: Minimums = Minimums {
        nodes: 1,
        edges: 1,
        allow_empty: false,
    };

    #[test]
    fn fenced_variant_keys_normalise() {
        let text = "Here you go:\n```json\n{\"nodes\": [\
            {\"name\": \"Ada\", \"label\": \"Person\", \"properties\": [{\"key\": \"born\", \"value\": 1815}]},\
            {\"id\": \"ada\", \"type\": \"Person\", \"props\": {\"field\": \"maths\", \"born\": 1}},\
            {\"id\": 42, \"type\": \"Programming Language\", \"props\": {\"tags\": [\"a\"]}}],\
          \"edges\": [{\"source\": \"ADA\", \"target\": \"42\", \"relation\": \"wrote-in\"},\
                      {\"from\": \"Ada\", \"to\": \"42\", \"label\": \"wrote-in\"},\
                      {\"src\": \"Ada\", \"dst\": \"nobody\", \"type\": \"KNOWS\"}]}\n```\nDone.";
        let g = accept(text, MIN).unwrap();
        assert_eq!(g.nodes.len(), 2, "duplicates merged: {g:?}");
        assert_eq!(g.nodes[0].id, "Ada");
        assert_eq!(g.nodes[0].node_type, "Person");
        assert_eq!(
            Value::Object(g.nodes[0].props.clone()),
            json!({"born": 1815, "field": "maths"})
        );
        assert_eq!(g.nodes[1].id, "42");
        assert_eq!(g.nodes[1].node_type, "Programming_Language");
        assert_eq!(g.nodes[1].props["tags"], "[\"a\"]");
        assert_eq!(
            g.edges.len(),
            1,
            "duplicate and dangling edges dropped: {g:?}"
        );
        assert_eq!(
            (
                g.edges[0].src.as_str(),
                g.edges[0].dst.as_str(),
                g.edges[0].edge_type.as_str()
            ),
            ("Ada", "42", "wrote_in")
        );
        let wrapped = r#"{"graph": {"nodes": [{"id": "a", "type": "T"}, {"id": "b", "type": "T"}], "edges": [{"src": "a", "dst": "b", "type": "R"}]}}"#;
        assert!(accept(wrapped, MIN).is_ok());
    }

    #[test]
    fn each_schema_violation_is_caught() {
        let node = |n: Value| {
            json!({"nodes": [n, {"id": "b", "type": "T"}], "edges": [{"src": "a", "dst": "b", "type": "R"}]}).to_string()
        };
        for (text, needle) in [
            ("no json here".to_owned(), "no JSON object"),
            ("{\"nodes\": [}".to_owned(), "not valid JSON"),
            (node(json!({"type": "T"})), "\"id\" is a required property"),
            (node(json!({"id": "a"})), "\"type\" is a required property"),
            (node(json!({"id": "a", "type": "T!"})), "does not match"),
            (
                node(json!({"id": "a", "type": "T", "colour": "red"})),
                "Additional properties",
            ),
            (
                node(json!({"id": "a", "type": "T", "props": "x"})),
                "is not of type \"object\"",
            ),
            (node(json!({"id": " ", "type": "T"})), "/nodes/0/id"),
            (
                json!({"nodes": [{"id": "a", "type": "T"}], "edges": [{"src": "a", "dst": "a"}]})
                    .to_string(),
                "\"type\" is a required property",
            ),
            (
                json!({"nodes": [{"id": "a", "type": "T"}], "edges": [{"dst": "a", "type": "R"}]})
                    .to_string(),
                "\"src\" is a required property",
            ),
            (
                json!({"nodes": [{"id": "a", "type": "T"}], "edges": [], "notes": "x"}).to_string(),
                "Additional properties",
            ),
            (
                json!({"nodes": {"a": 1}, "edges": []}).to_string(),
                "is not of type \"array\"",
            ),
        ] {
            match accept(
                &text,
                Minimums {
                    allow_empty: true,
                    ..MIN
                },
            ) {
                Err(Rejection::Invalid(message)) => {
                    assert!(
                        message.contains(needle),
                        "{text}: `{message}` lacks `{needle}`"
                    )
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn small_or_error_graphs_are_too_small() {
        let empty = r#"{"nodes": [], "edges": []}"#;
        assert!(matches!(accept(empty, MIN), Err(Rejection::TooSmall(_))));
        assert!(accept(
            empty,
            Minimums {
                allow_empty: true,
                ..MIN
            }
        )
        .is_ok());
        let error =
            r#"{"nodes": [{"id": "e", "type": "error", "props": {"message": "no"}}], "edges": []}"#;
        assert!(matches!(
            accept(error, Minimums { allow_empty: true, ..MIN }),
            Err(Rejection::TooSmall(m)) if m.contains("error node")
        ));
        let one_node = r#"{"nodes": [{"id": "a", "type": "T"}], "edges": []}"#;
        assert!(matches!(accept(one_node, MIN), Err(Rejection::TooSmall(_))));
        assert!(accept(one_node, Minimums { edges: 0, ..MIN }).is_ok());
        assert_eq!(SCHEMA_HASH.len(), 64);
    }
}
