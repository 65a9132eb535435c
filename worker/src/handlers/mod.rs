//! One handler per subject. Each file has one `async fn handle(state, request)`
//! taking the subject's request type from `ragwire_schemas` and returning its
//! reply type; [`dispatch`] decodes the payload and encodes the reply.

pub mod chat;
pub mod embed;
pub mod graph_extract;
pub mod graph_probe;
pub mod graph_query;
pub mod graph_upsert;
pub mod index;
pub mod jobs;
pub mod rerank;
pub mod retrieve;
pub mod search;

use bytes::Bytes;
use ragwire_schemas::{Subject, Success};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::Error;
use crate::state::State;

/// Runs the handler of `subject` on a raw request payload and returns the
/// encoded success reply.
pub async fn dispatch(state: &State, subject: Subject, payload: &[u8]) -> Result<Bytes, Error> {
    match subject {
        Subject::Chat => encode(chat::handle(state, decode(payload)?).await?),
        Subject::Embed => {
            // Printed by its own encoder: see `EmbedReply::to_success_json`.
            let reply = embed::handle(state, decode(payload)?).await?;
            let large = reply.dim * reply.vectors.len() > LARGE_REPLY_NUMBERS;
            print(large, move || Ok(reply.to_success_json().into())).await
        }
        Subject::Rerank => encode(rerank::handle(state, decode(payload)?).await?),
        Subject::Index => encode(index::handle(state, decode(payload)?).await?),
        Subject::Search => {
            let reply = search::handle(state, decode(payload)?).await?;
            let many = reply.hits.len() > MANY_ITEMS;
            print(many, move || encode(reply)).await
        }
        Subject::Retrieve => {
            let reply = retrieve::handle(state, decode(payload)?).await?;
            let graph = reply
                .subgraph
                .as_ref()
                .map_or(0, |g| g.nodes.len() + g.edges.len());
            let many = reply.hits.len() + graph > MANY_ITEMS;
            print(many, move || encode(reply)).await
        }
        Subject::GraphExtract => encode(graph_extract::handle(state, decode(payload)?).await?),
        Subject::GraphUpsert => encode(graph_upsert::handle(state, decode(payload)?).await?),
        Subject::GraphQuery => encode(graph_query::handle(state, decode(payload)?).await?),
        Subject::GraphProbe => encode(graph_probe::handle(state, decode(payload)?).await?),
        Subject::JobsSubmit => encode(jobs::submit(state, decode(payload)?).await?),
        Subject::JobsStatus => encode(jobs::status(state, decode(payload)?).await?),
        Subject::JobsReplay => encode(jobs::replay(state, decode(payload)?).await?),
        Subject::JobsDead => encode(jobs::dead(state, decode(payload)?).await?),
    }
}

/// Parses a request, naming the offending field on error.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Error> {
    match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(Error::bad_request(
                "empty request body: expected a JSON object",
            ))
        }
        // serde would also accept a struct written as an array.
        Some(b'[') => {
            return Err(Error::bad_request(
                "invalid request: expected a JSON object, got an array",
            ))
        }
        Some(_) => {}
    }
    let de = &mut serde_json::Deserializer::from_slice(payload);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::bad_request(format!("request body is not valid JSON: {inner}"))
        } else if path == "." {
            Error::bad_request(format!("invalid request: {inner}"))
        } else {
            Error::bad_request(format!("invalid field `{path}`: {inner}"))
        }
    })
}

/// Numbers in a reply above which it is encoded on a blocking thread:
/// small requests run on their endpoint's task (see `service`), and printing
/// a million floats there would hold up every other request of the subject.
const LARGE_REPLY_NUMBERS: usize = 64 * 1024;

/// Hits (and graph nodes and edges) above which a search or retrieve reply
/// is encoded on a blocking thread: each hit carries its chunk's text and
/// metadata, so a thousand of them take milliseconds to print.
const MANY_ITEMS: usize = 64;

/// Runs `print`, the encoding of a reply, here, or on a blocking thread when
/// the reply is `large`.
async fn print(
    large: bool,
    print: impl FnOnce() -> Result<Bytes, Error> + Send + 'static,
) -> Result<Bytes, Error> {
    if !large {
        return print();
    }
    tokio::task::spawn_blocking(print)
        .await
        .map_err(|e| Error::Internal(format!("cannot encode reply: {e}")))?
}

fn encode<T: Serialize>(reply: T) -> Result<Bytes, Error> {
    serde_json::to_vec(&Success::new(reply))
        .map(Bytes::from)
        .map_err(|e| Error::Internal(format!("cannot encode reply: {e}")))
}

/// Fails with 400 unless `items` is non-empty and at most `max` long.
pub fn check_count<T>(field: &str, items: &[T], max: usize) -> Result<(), Error> {
    if items.is_empty() {
        return Err(Error::bad_request(format!("`{field}` must not be empty")));
    }
    if items.len() > max {
        return Err(Error::TooLarge {
            what: format!("the number of items in `{field}`").into(),
            size: items.len(),
            limit: max,
        });
    }
    Ok(())
}

/// Fails with 400 when a string is empty or only white space. The field
/// name is only formatted for the error (`format_args!` costs nothing else).
pub fn check_text(field: impl std::fmt::Display, text: &str) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::bad_request(format!("`{field}` must not be empty")));
    }
    Ok(())
}
