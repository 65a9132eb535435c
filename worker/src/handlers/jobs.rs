//! `rag.jobs.*`: submit ingest jobs, read their status, list the
//! dead-letter stream and replay from it. The work itself runs in
//! [`crate::jobs::consume`].

use ragwire_schemas::jobs::{
    DeadReply, DeadRequest, JobRef, StatusReply, SubmitReply, SubmitRequest,
};

use crate::error::Error;
use crate::jobs::Jobs;
use crate::state::State;

fn jobs(state: &State) -> Result<&Jobs, Error> {
    state.jobs.as_ref().ok_or_else(|| Error::Unavailable {
        backend: "JetStream".into(),
        message: "ingest jobs are off in this worker (RAGWIRE_JOBS=false, or JetStream was not usable at start: see its log)".into(),
    })
}

/// `rag.jobs.submit` (`POST /ingest`).
pub async fn submit(state: &State, req: SubmitRequest) -> Result<SubmitReply, Error> {
    jobs(state)?
        .submit(req, state.config.limits.max_texts)
        .await
}

/// `rag.jobs.status` (`GET /jobs/{job_id}`).
pub async fn status(state: &State, req: JobRef) -> Result<StatusReply, Error> {
    let status = jobs(state)?.status(&req.job_id).await?;
    Ok(StatusReply { status })
}

/// `rag.jobs.replay` (`POST /jobs/{job_id}/replay`).
pub async fn replay(state: &State, req: JobRef) -> Result<StatusReply, Error> {
    let status = jobs(state)?.replay(&req.job_id).await?;
    Ok(StatusReply { status })
}

/// `rag.jobs.dead` (`GET /jobs/dead`).
pub async fn dead(state: &State, req: DeadRequest) -> Result<DeadReply, Error> {
    let limit = req.limit.unwrap_or(100).clamp(1, 10_000);
    Ok(DeadReply {
        dead: jobs(state)?.dead(limit).await?,
    })
}
