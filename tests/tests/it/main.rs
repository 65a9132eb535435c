//! Integration tests over the real NATS server on 127.0.0.1:4222 (or
//! `NATS_URL`), with fake model backends listening on local ports.

mod errors;
mod extract;
mod graph;
mod graph_store;
mod http;
mod jobs;
mod process;
mod qdrant_server;
mod resilience;
mod retrieve;
mod subjects;
mod vectors;
