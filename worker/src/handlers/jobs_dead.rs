//! `rag.jobs.dead` (`GET /jobs/dead`): the jobs in the dead-letter stream,
//! oldest first.

use ragwire_schemas::jobs::{DeadReply, DeadRequest};

use crate::error::Error;
use crate::state::State;

/// Lists the dead-letter stream, oldest first.
pub async fn handle(state: &State, req: DeadRequest) -> Result<DeadReply, Error> {
    let limit = req.limit.unwrap_or(100).clamp(1, 10_000);
    Ok(DeadReply {
        dead: state.jobs()?.dead(limit).await?,
    })
}

impl super::Encode for DeadReply {}
