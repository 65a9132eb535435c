//! The message contract of ragwire: one request and one reply type per subject,
//! shared by the worker, the producer and every client.
//!
//! - [`subject`]: the subjects, their endpoint names and HTTP routes.
//! - [`endpoint`]: one marker type per subject, naming its request and
//!   reply types ([`Endpoint`]).
//! - [`error`]: the one error shape every subject replies with.
//! - [`reply`]: the `{ok: true, ...}` envelope and a decoder for replies.
//! - [`tenant`]: tenant ids and the subjects of a tenant's requests.
//! - [`asyncapi`] (feature `json-schema`): the AsyncAPI document of the
//!   NATS API, with the JSON Schema of every request and reply.
//! - one module per subject: [`chat`], [`embed`], [`rerank`], [`index`],
//!   [`search`], [`retrieve`], [`collections`], [`graph`], [`jobs`].
//!
//! Field names follow the HTTP API of the Python gateway that ragwire replaces,
//! so its clients switch without changes. Unknown fields are ignored; a known
//! field of the wrong type is a 400.

#[cfg(feature = "json-schema")]
pub mod asyncapi;
pub mod chat;
pub mod collections;
pub mod embed;
pub mod endpoint;
pub mod error;
pub mod graph;
pub mod headers;
pub mod index;
pub mod info;
pub mod jobs;
pub mod lax;
pub mod openai;
pub mod reply;
pub mod rerank;
pub mod retrieve;
pub mod search;
pub mod subject;
pub mod tenant;

pub use endpoint::Endpoint;
pub use error::{ErrorBody, ErrorKind, ErrorReply};
pub use reply::{decode_reply, Success};
pub use subject::Subject;
pub use tenant::TenantId;

/// JSON object used for free-form metadata, payloads and properties.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;
