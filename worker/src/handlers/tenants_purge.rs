//! `rag.tenants.purge` (`POST /tenants/purge`): a deleted tenant's data
//! deleted by a durable job (see `jobs::purge`). The admin API's
//! `DELETE /admin/tenants/{id}` sends it.

use ragwire_schemas::jobs::{PurgeRequest, StatusReply};

use crate::error::Error;
use crate::state::State;

/// Queues the purge of a deleted tenant's data; its status.
pub async fn handle(state: &State, req: PurgeRequest) -> Result<StatusReply, Error> {
    // A tenant's own subjects never reach another tenant's data, nor its
    // own registry record: purging is the deployment's business.
    if !state.tenant.is_default() {
        return Err(Error::Forbidden(format!(
            "tenant `{}` cannot purge tenants: the admin API does",
            state.tenant
        )));
    }
    let status = state.jobs()?.submit_purge(&req.tenant).await?;
    Ok(StatusReply { status })
}
