//! Integration tests over the real NATS server on 127.0.0.1:4222 (or
//! `NATS_URL`), with fake model backends listening on local ports.

mod cluster;
mod compat;
mod deadlines;
mod errors;
mod extract;
mod fuzz;
mod graph;
mod graph_delete;
mod graph_store;
mod hostile;
mod http;
mod hybrid;
mod jobs;
mod lifecycle;
mod metrics;
mod openai;
mod outage;
mod process;
mod qdrant_cluster;
mod resilience;
mod retrieve;
mod scale_out;
mod split;
mod subjects;
mod tenant_nats;
mod tenants;
mod tenants_admin;
mod vectors;
