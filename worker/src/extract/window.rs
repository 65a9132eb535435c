//! Long contexts: overlapping windows, and the merge of their graphs.

use std::collections::{HashMap, HashSet};

use ragwire_schemas::graph::{Edge, GraphData, Node};

/// Splits `text` into windows of at most `size` characters that overlap by
/// about `overlap`, cut at white space where there is some. A text that
/// fits is one window.
pub fn split(text: &str, size: usize, overlap: usize) -> Vec<&str> {
    let size = size.max(1);
    let overlap = overlap.min(size / 2);
    // Byte offsets of every char, plus the end.
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let chars = bounds.len() - 1;
    if chars <= size {
        return vec![text];
    }
    let mut windows = Vec::new();
    let mut start = 0;
    loop {
        let mut end = (start + size).min(chars);
        if end < chars {
            // Back up to white space in the last fifth of the window.
            let floor = end - size / 5;
            if let Some(cut) = (floor..end)
                .rev()
                .find(|&c| text[bounds[c]..].starts_with(char::is_whitespace))
            {
                end = cut;
            }
        }
        windows.push(&text[bounds[start]..bounds[end]]);
        if end == chars {
            return windows;
        }
        start = end.saturating_sub(overlap).max(start + 1);
    }
}

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
    fn windows_overlap_and_cover_the_text() {
        let text: String = (0..500).map(|i| format!("w{i} ")).collect();
        let windows = split(&text, 300, 50);
        assert!(windows.len() > 1);
        assert!(windows.iter().all(|w| w.chars().count() <= 300));
        assert!(text.starts_with(windows[0]));
        assert!(text.ends_with(windows.last().unwrap()));
        for pair in windows.windows(2) {
            // The next window starts inside the previous one.
            let tail = &pair[0][pair[0].len() - 20..];
            assert!(pair[1].contains(tail.trim()), "{tail:?}");
        }
        assert_eq!(split("short", 300, 50), ["short"]);
        // Multi-byte text is cut on char boundaries.
        let greek = "αβγδε ".repeat(100);
        assert!(split(&greek, 64, 8).len() > 5);
    }

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
