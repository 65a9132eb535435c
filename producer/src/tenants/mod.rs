//! Tenants: who owns data, the keys that act for them, and the admin API
//! that manages both, with the routes, bodies, replies and status codes of
//! the gateway ragwire replaces (without its defects).
//!
//! - [`records`]: what the tenant bucket holds, one JSON record per tenant
//!   and per key (its hash, never the key).
//! - [`keys`]: tenant ids, tenant keys (`sk-{tenant}-{secret}`, 256 random
//!   bits), their SHA-256 and comparisons in constant time.
//! - [`registry`]: the bucket `{prefix}_tenants` on JetStream, this
//!   producer's view of it kept by a watch (a suspension, a revoked key, a
//!   deleted tenant reach every producer within a second), the admin API's
//!   writes, and last uses written now and then.
//! - [`admin`]: the routes under `/admin/`, behind the admin key.
//! - [`audit`]: the audit trail of admin actions, a JetStream stream.
//! - [`quota`]: each tenant's quotas, checked against counters every
//!   producer shares, and its usage.
//!
//! Requests authenticate in [`crate::auth`]; the tenant's requests go to
//! its subjects, `{prefix}.t.{tenant}.*` (see [`ragwire_schemas::tenant`]).

pub mod admin;
pub mod audit;
pub mod keys;
pub mod quota;
pub mod records;
pub mod registry;
mod view;

pub use admin::Admin;
pub use registry::Registry;
pub use view::Authenticated;
