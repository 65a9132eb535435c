//! `ragwire jobs status ID | dead | replay ID`: the job subjects from the
//! command line, printing the replies as JSON.

use ragwire_schemas::jobs::{DeadReply, DeadRequest, JobRef, JobStatus};
use ragwire_schemas::Subject;

use crate::ingest::call;

/// What to ask about jobs.
#[derive(clap::Subcommand)]
pub enum Jobs {
    /// A job's status.
    Status { job_id: String },
    /// The jobs in the dead-letter stream, oldest first.
    Dead {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Queue a dead job again.
    Replay { job_id: String },
}

pub async fn run(nats: &async_nats::Client, prefix: &str, command: Jobs) -> anyhow::Result<()> {
    let out = match command {
        Jobs::Status { job_id } => serde_json::to_string_pretty(
            &call::<JobStatus>(nats, prefix, Subject::JobsStatus, &JobRef { job_id }).await?,
        )?,
        Jobs::Dead { limit } => {
            let request = DeadRequest { limit: Some(limit) };
            let reply: DeadReply = call(nats, prefix, Subject::JobsDead, &request).await?;
            serde_json::to_string_pretty(&reply.dead)?
        }
        Jobs::Replay { job_id } => serde_json::to_string_pretty(
            &call::<JobStatus>(nats, prefix, Subject::JobsReplay, &JobRef { job_id }).await?,
        )?,
    };
    println!("{out}");
    Ok(())
}
