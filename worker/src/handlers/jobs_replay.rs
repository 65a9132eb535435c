//! `rag.jobs.replay` (`POST /jobs/{job_id}/replay`): a dead-lettered job
//! queued again.

use ragwire_schemas::jobs::{JobRef, StatusReply};

use crate::error::Error;
use crate::state::State;

/// Queues a dead-lettered job again.
pub async fn handle(state: &State, req: JobRef) -> Result<StatusReply, Error> {
    let status = state.jobs()?.replay(&req.job_id).await?;
    Ok(StatusReply { status })
}
