//! `ragwire jobs status ID | dead | replay ID`: the job subjects from the
//! command line, printing the replies as JSON.

use ragwire_client::endpoint::{JobsDead, JobsReplay, JobsStatus};
use ragwire_common::CommonConfig;
use ragwire_schemas::jobs::{DeadRequest, JobRef};

/// `ragwire jobs`.
#[derive(clap::Args)]
pub struct Jobs {
    #[command(flatten)]
    common: CommonConfig,
    #[command(subcommand)]
    what: What,
}

/// What to ask about jobs.
#[derive(clap::Subcommand)]
enum What {
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

pub async fn run(args: Jobs) -> anyhow::Result<()> {
    let rag = args.common.client("ragwire-jobs").await?;
    let out = match args.what {
        What::Status { job_id } => {
            let reply = rag.call::<JobsStatus>(&JobRef { job_id }).await?;
            serde_json::to_string_pretty(&reply.status)?
        }
        What::Dead { limit } => {
            let request = DeadRequest { limit: Some(limit) };
            let reply = rag.call::<JobsDead>(&request).await?;
            serde_json::to_string_pretty(&reply.dead)?
        }
        What::Replay { job_id } => {
            let reply = rag.call::<JobsReplay>(&JobRef { job_id }).await?;
            serde_json::to_string_pretty(&reply.status)?
        }
    };
    println!("{out}");
    Ok(())
}
