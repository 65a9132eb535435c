//! `rag.jobs.submit` (`POST /ingest`): documents queued as ingest jobs.

use ragwire_schemas::jobs::{SubmitReply, SubmitRequest};

use crate::error::Error;
use crate::state::State;

/// Queues one ingest job per document.
pub async fn handle(state: &State, req: SubmitRequest) -> Result<SubmitReply, Error> {
    state
        .jobs()?
        .submit(req, state.config.limits.max_texts)
        .await
}

impl super::Encode for SubmitReply {}
