//! The ragwire producer: an HTTP front door that turns each POST into a NATS
//! request to the workers and the reply into the HTTP response.
//!
//! - [`config`]: the producer's settings (its HTTP section).
//! - [`app`]: `fn app(state) -> Router`, every route and tower layer; tests
//!   call it without a socket.
//! - [`forward`]: the HTTP -> NATS request-reply bridge.
//! - [`openai`]: OpenAI's API (chat completions, streamed as server-sent
//!   events; embeddings; models) in OpenAI's shapes.
//! - [`auth`]: API keys (`X-API-Key` or `Authorization: Bearer`): legacy
//!   keys as the `default` tenant, tenant keys as theirs.
//! - [`tenants`]: the tenant registry (a JetStream key-value bucket every
//!   producer watches), tenant keys, the admin API and its audit trail.
//! - [`compat`]: the replies of the gateway ragwire replaces, for its
//!   clients.
//! - [`gateway`]: routes of the gateway ragwire replaces without a subject
//!   of their own (`POST /delete/graph`).
//! - [`metrics`]: Prometheus counters and latency histograms.
//! - [`request_id`]: `X-Request-ID` on every request and response.
//! - [`state`]: what the routes share, and the sub-states they take.
//! - [`error`]: the crate's error enum, rendered as ragwire's error shape
//!   or, on OpenAI's routes, as OpenAI's.

pub mod app;
pub mod auth;
pub mod compat;
pub mod config;
pub mod deadline;
pub mod error;
pub mod forward;
pub mod gateway;
pub mod metrics;
pub mod openai;
pub mod request_id;
pub mod state;
pub mod tenants;
pub mod trace;

pub use app::{app, serve};
pub use config::{Config, HttpConfig, TenantsConfig};
pub use error::ApiError;
pub use state::AppState;
