//! One handler per subject, one file each: `async fn handle(state, request)`
//! taking the subject's request type from `ragwire_schemas` and returning
//! its reply type, which implements [`Encode`] there too (or a reply of its
//! own that stands for the table's type: [`ReplyOf`], [`IntoReply`], as a
//! streamed one does). [`dispatch`] is generated from the subject table
//! (`ragwire_schemas::for_each_subject!`), so a subject without a handler,
//! or a handler of other types than the table's, does not compile.

use bytes::Bytes;
use ragwire_schemas::{Subject, Success};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::Error;
use crate::state::State;

// Declared plainly, not by the macro below, so that rustfmt reaches them;
// the dispatch still names each one, so a missing handler does not compile.
pub mod chat;
pub mod collections_drop;
pub mod collections_list;
pub mod collections_show;
pub mod docs_delete;
pub mod embed;
pub mod graph_delete;
pub mod graph_extract;
pub mod graph_probe;
pub mod graph_query;
pub mod graph_upsert;
pub mod index;
pub mod info;
pub mod jobs_dead;
pub mod jobs_replay;
pub mod jobs_status;
pub mod jobs_submit;
pub mod points_delete;
pub mod rerank;
pub mod retrieve;
pub mod search;
pub mod tenants_purge;
pub mod v1_chat_completions;
pub mod v1_embeddings;
pub mod v1_models;

macro_rules! handlers {
    ($( $(#[$doc:meta])* $variant:ident $name:ident $suffix:literal $path:literal
        $request:ty => $reply:ty; )*) => {
        /// Runs the handler of `subject` on a raw request payload and
        /// returns the encoded success reply.
        pub async fn dispatch(state: &State, subject: Subject, payload: &[u8]) -> Result<Reply, Error> {
            match subject {
                $(Subject::$variant => {
                    let request: $request = decode(payload)?;
                    // Boxed: the handlers' futures differ in size by kilobytes
                    // (retrieve, extraction), and unboxed every request would
                    // carry, and copy, the largest.
                    let reply = Box::pin($name::handle(state, request)).await?;
                    checked::<$reply, _>(reply).into_reply().await
                })*
            }
        }
    };
}

ragwire_schemas::for_each_subject!(handlers);

/// A success reply: its bytes, or chunks sent one by one as they come (a
/// stream: see `ragwire_schemas::openai::stream`).
pub enum Reply {
    /// One message.
    Whole(Bytes),
    /// Chunks, each a message.
    Stream(ByteStream),
}

/// Chunks of a streamed reply, as they come.
pub type ByteStream = futures::stream::BoxStream<'static, Result<Bytes, Error>>;

/// A handler's reply stands for the table's reply type `T`: `T` itself, or
/// a reply of its own that is `T` on the wire (a stream of its chunks).
pub trait ReplyOf<T> {}

impl<T> ReplyOf<T> for T {}

/// `reply`, checked to stand for the table's type `T`.
fn checked<T, R: ReplyOf<T>>(reply: R) -> R {
    reply
}

/// What a handler's reply becomes.
pub trait IntoReply: Send + 'static {
    /// The reply, encoded or streamed.
    fn into_reply(self) -> impl std::future::Future<Output = Result<Reply, Error>> + Send;
}

impl<T: Encode> IntoReply for T {
    async fn into_reply(self) -> Result<Reply, Error> {
        encode(self).await.map(Reply::Whole)
    }
}

/// How a reply becomes the bytes of a success reply. The default is
/// `{"ok": true, ...fields}` through serde_json, on the request's task; a
/// handler whose replies can be large says so, or prints them its own way.
pub trait Encode: Serialize + Send + Sized + 'static {
    /// Whether this reply takes long enough to print that it belongs on a
    /// blocking thread: small requests run on their endpoint's task (see
    /// `service`), and printing a large reply there would hold up every
    /// other request of the subject.
    fn is_large(&self) -> bool {
        false
    }

    /// The reply's bytes.
    fn encode(self) -> Result<Bytes, Error> {
        serde_json::to_vec(&Success::new(self))
            .map(Bytes::from)
            .map_err(|e| Error::Internal(format!("cannot encode reply: {e}")))
    }
}

/// The bytes of an OpenAI object as OpenAI prints it, without ragwire's
/// `ok` (the `v1.*` subjects answer OpenAI's own shapes).
pub fn openai_object<T: Serialize>(reply: &T) -> Result<Bytes, Error> {
    serde_json::to_vec(reply)
        .map(Bytes::from)
        .map_err(|e| Error::Internal(format!("cannot encode reply: {e}")))
}

/// Hits (and graph nodes and edges) above which a search or retrieve reply
/// is large: each hit carries its chunk's text and metadata, so a thousand
/// of them take milliseconds to print.
pub const MANY_ITEMS: usize = 64;

/// Encodes `reply` here, or on a blocking thread when it is large.
async fn encode<R: Encode>(reply: R) -> Result<Bytes, Error> {
    if !reply.is_large() {
        return reply.encode();
    }
    tokio::task::spawn_blocking(move || reply.encode())
        .await
        .map_err(|e| Error::Internal(format!("cannot encode reply: {e}")))?
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
    let mut de = serde_json::Deserializer::from_slice(payload);
    let request = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            Error::bad_request(format!("request body is not valid JSON: {inner}"))
        } else if path == "." {
            Error::bad_request(format!("invalid request: {inner}"))
        } else {
            Error::bad_request(format!("invalid field `{path}`: {inner}"))
        }
    })?;
    // One JSON value and white space around it; anything after is a mistake
    // (or a second request smuggled in), not something to ignore.
    de.end().map_err(|e| {
        Error::bad_request(format!(
            "request body is not one JSON value: {e}; send exactly one JSON object"
        ))
    })?;
    Ok(request)
}
