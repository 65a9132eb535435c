//! The Rust client of ragwire's workers: connect to NATS, send typed
//! requests to the subjects under a prefix, read streamed replies, find the
//! workers. It depends on the message contract ([`ragwire_schemas`]) and
//! async-nats, nothing of the worker, the producer or the command line.
//!
//! ```no_run
//! use ragwire_client::{endpoint::Search, schemas::search::SearchRequest, ConnectOptions, RagClient};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), ragwire_client::CallError> {
//!     let rag = RagClient::connect(&ConnectOptions::new("nats://127.0.0.1:4222"), "rag").await?;
//!     let mut request = SearchRequest::new("load balancing");
//!     request.collection = "kb".into();
//!     let reply = rag.call::<Search>(&request).await?; // a SearchReply, nothing else
//!     for hit in reply.hits {
//!         println!("{:.2} {}", hit.score, hit.payload["text"]);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! - [`connect`]: the NATS connection ([`ConnectOptions`]: credentials,
//!   TLS, timeout) and its reconnections.
//! - [`call`]: requests to the workers ([`RagClient`]), typed by
//!   [`Endpoint`] or as raw bytes.
//! - [`stream`]: streamed replies (chat completion chunks) with credit and
//!   cancel.
//! - [`discovery`]: the workers as a NATS micro-service.
//! - [`names`]: the JetStream names of ingest jobs.
//! - [`trace`]: W3C trace context on NATS messages (off unless enabled).
//! - [`error`]: the crate's error enum ([`CallError`]).

pub mod call;
pub mod connect;
pub mod discovery;
pub mod error;
pub mod names;
pub mod stream;
pub mod trace;

pub use async_nats;
pub use call::{error_code, RagClient};
pub use connect::{ConnectOptions, Reconnections};
pub use error::CallError;
pub use ragwire_schemas as schemas;
pub use ragwire_schemas::endpoint::{self, Endpoint};
