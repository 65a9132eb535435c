//! `rag.jobs.status` (`GET /jobs/{job_id}`): a job's status.

use ragwire_schemas::jobs::{JobRef, StatusReply};

use crate::error::Error;
use crate::state::State;

/// Reads a job's status.
pub async fn handle(state: &State, req: JobRef) -> Result<StatusReply, Error> {
    let status = state.jobs()?.status(&req.job_id).await?;
    Ok(StatusReply { status })
}

impl super::Encode for StatusReply {}
