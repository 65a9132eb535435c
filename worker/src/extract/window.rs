//! Long contexts: the merge of the graphs of their windows (cut by
//! [`crate::chunking::split`]).

use std::collections::{HashMap, HashSet};

use ragwire_schemas::graph::{Edge, GraphData, Node};

/// One graph from several: nodes with the same id (case-insensitive) merged
/// (first type kept, props filled in), edges de-duplicated by
/// `(src, type, dst)` on the merged ids.
pub fn merge(graphs: Vec<GraphData>) -> GraphData {
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut pending_edges: Vec<Edge> = Vec::new();
    for graph in graphs {
        for node in graph.nodes {
            let key = node.id.to_lowercase();
            match index.get(&key) {
                Some(&i) => {
                    for (k, v) in node.props {
                        nodes[i].props.entry(k).or_insert(v);
                    }
                }
                None => {
                    index.insert(key, nodes.len());
                    nodes.push(node);
                }
            }
        }
        pending_edges.extend(graph.edges);
    }
    let mut seen = HashSet::new();
    let mut edges = Vec::new();
    for mut edge in pending_edges {
        let (Some(&s), Some(&d)) = (
            index.get(&edge.src.to_lowercase()),
            index.get(&edge.dst.to_lowercase()),
        ) else {
            continue;
        };
        edge.src = nodes[s].id.clone();
        edge.dst = nodes[d].id.clone();
        if seen.insert((edge.src.clone(), edge.edge_type.clone(), edge.dst.clone())) {
            edges.push(edge);
        }
    }
    GraphData { nodes, edges }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_unites_nodes_and_edges() {
        let a: GraphData = serde_json::from_value(json!({
            "nodes": [{"id": "Ada", "type": "Person", "props": {"born": 1815}}, {"id": "Engine", "type": "Machine"}],
            "edges": [{"src": "Ada", "dst": "Engine", "type": "PROGRAMMED"}]
        }))
        .unwrap();
        let b: GraphData = serde_json::from_value(json!({
            "nodes": [{"id": "ada", "type": "Scientist", "props": {"field": "maths"}}, {"id": "engine", "type": "Machine"},
                      {"id": "Babbage", "type": "Person"}],
            "edges": [{"src": "ada", "dst": "engine", "type": "PROGRAMMED"}, {"src": "Babbage", "dst": "engine", "type": "DESIGNED"}]
        }))
        .unwrap();
        let g = merge(vec![a, b]);
        assert_eq!(g.nodes.len(), 3);
        assert_eq!(g.nodes[0].node_type, "Person");
        assert_eq!(g.nodes[0].props.len(), 2);
        assert_eq!(g.edges.len(), 2);
        assert_eq!(g.edges[1].dst, "Engine");
    }
}
