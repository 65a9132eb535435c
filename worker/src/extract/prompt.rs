//! The messages of each attempt mode.

use ragwire_schemas::chat::ChatMessage;
use ragwire_schemas::graph::GRAPH_SCHEMA;

const SHAPE: &str = r#"Answer with one JSON object and nothing else:
{"nodes": [{"id": "...", "type": "...", "props": {...}}], "edges": [{"src": "<node id>", "dst": "<node id>", "type": "...", "props": {...}}]}
Node ids are the entities' names as written in the text. Types are a letter or `_` followed by letters, digits or `_` (e.g. Person, Organisation, WORKS_AT). Property values are strings, numbers, booleans or null. Every edge joins two of your nodes."#;

/// How an attempt asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only facts stated in the text; empty arrays are not an answer.
    Strict,
    /// Low-confidence candidates allowed, marked in their props.
    Nudge,
    /// Fix an invalid answer against the schema.
    Repair,
}

impl Mode {
    /// The name replies use, e.g. `nudge`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strict => "strict",
            Mode::Nudge => "nudge",
            Mode::Repair => "repair",
        }
    }
}

fn message(role: &str, content: String) -> ChatMessage {
    ChatMessage::new(role, content)
}

/// The messages of a strict or nudge attempt on `context`.
pub fn extract(mode: Mode, context: &str) -> Vec<ChatMessage> {
    let rules = match mode {
        Mode::Nudge => "You extract a knowledge graph from a text. An earlier attempt found too little. \
            Include every entity and relation the text supports, also candidates you are not sure of: \
            mark those with \"low_confidence\": true in their props. Still use only what the text says; \
            do not invent facts that are not in it.",
        _ => "You extract a knowledge graph from a text: its entities (nodes) and the relations \
            between them (edges). Use only facts stated in the text; do not invent anything that is \
            not in it. Do not answer with empty arrays when the text names entities or relations.",
    };
    vec![
        message("system", format!("{rules}\n\n{SHAPE}")),
        message("user", format!("Text:\n{context}")),
    ]
}

/// The messages of a repair: the schema, the invalid answer and what was
/// wrong with it.
pub fn repair(invalid: &str, problem: &str) -> Vec<ChatMessage> {
    vec![
        message(
            "system",
            format!(
                "You fix JSON so that it validates against this JSON Schema:\n{GRAPH_SCHEMA}\n\
                 Keep the content; change only what the schema requires. {SHAPE}"
            ),
        ),
        message(
            "user",
            format!("This answer is invalid: {problem}\n\nAnswer to fix:\n{invalid}"),
        ),
    ]
}
