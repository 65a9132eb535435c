//! `ragwire ingest PATH...`: files and folders submitted as ingest jobs, a
//! progress bar per job and one overall, and a summary at the end.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ragwire_client::endpoint::{JobsStatus, JobsSubmit};
use ragwire_client::names::JobNames;
use ragwire_client::RagClient;
use ragwire_common::CommonConfig;
use ragwire_schemas::jobs::{
    Chunking, JobDocument, JobEvent, JobRef, JobState, JobStatus, SubmitRequest,
};

/// Largest file read (bigger ones are skipped with a warning).
const MAX_FILE_BYTES: u64 = 16 << 20;
/// Most documents in one submission (the worker's limit).
const MAX_BATCH_DOCUMENTS: usize = 1000;

/// Options of `ragwire ingest`.
#[derive(clap::Args)]
pub struct Ingest {
    #[command(flatten)]
    common: CommonConfig,
    /// Files and folders (walked recursively) of text or Markdown.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Vector collection to index into.
    #[arg(long, default_value = "chunks")]
    collection: String,
    /// Also extract a knowledge graph from each document.
    #[arg(long)]
    extract_graph: bool,
    /// Most characters per chunk.
    #[arg(long, default_value_t = 1000)]
    chunk_size: usize,
    /// Characters shared by neighbouring chunks.
    #[arg(long, default_value_t = 100)]
    chunk_overlap: usize,
    /// Give up waiting after this many seconds (the jobs go on).
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

/// How the run ended, for the summary and the exit code.
pub struct Summary {
    pub done: usize,
    pub failed: usize,
    pub deduplicated: usize,
    pub skipped: usize,
}

/// Text files under `paths`, each with its document id (the path as given,
/// joined with the path below it). Binary and unreadable files are skipped
/// with a warning.
fn collect(paths: &[PathBuf], skipped: &mut usize) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(path) = stack.pop() {
        let meta = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            stack.extend(entries.into_iter().rev());
            continue;
        }
        match read_text(&path, meta.len()) {
            Ok(text) if !text.trim().is_empty() => {
                files.push((path.to_string_lossy().into_owned(), text))
            }
            Ok(_) => {
                eprintln!("skipping {}: empty", path.display());
                *skipped += 1;
            }
            Err(why) => {
                eprintln!("skipping {}: {why}", path.display());
                *skipped += 1;
            }
        }
    }
    Ok(files)
}

fn read_text(path: &Path, len: u64) -> Result<String, String> {
    if len > MAX_FILE_BYTES {
        return Err(format!("larger than {} MiB", MAX_FILE_BYTES >> 20));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err("binary".into());
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".into())
}

/// Submits the files, follows their jobs and prints the summary; fails
/// when a job failed.
pub async fn run(args: Ingest) -> anyhow::Result<()> {
    let rag = args.common.client("ragwire-ingest").await?;
    let s = ingest(&rag, args).await?;
    println!(
        "{} done, {} failed, {} deduplicated, {} skipped",
        s.done, s.failed, s.deduplicated, s.skipped
    );
    anyhow::ensure!(s.failed == 0, "{} jobs failed", s.failed);
    Ok(())
}

/// Submits the files, follows their jobs and returns the summary.
async fn ingest(rag: &RagClient, args: Ingest) -> anyhow::Result<Summary> {
    let nats = rag.nats();
    let mut summary = Summary {
        done: 0,
        failed: 0,
        deduplicated: 0,
        skipped: 0,
    };
    let files = collect(&args.paths, &mut summary.skipped)?;
    if files.is_empty() {
        bail!("no text files to ingest");
    }
    // Subscribed before submitting, so no event is missed.
    let events_subject = JobNames::new(rag.prefix()).events_subject(">");
    let mut events = nats.subscribe(events_subject).await?;
    let chunking = Chunking {
        size: args.chunk_size,
        overlap: args.chunk_overlap,
    };
    // A submission is one NATS message: under the server's payload limit,
    // with room for the envelope.
    let limit = nats
        .server_info()
        .max_payload
        .saturating_sub(4096)
        .max(1024);
    let mut documents = Vec::new();
    for (doc_id, text) in files {
        let document = JobDocument {
            doc_id,
            text: Some(text),
            chunks: None,
            metadata: None,
        };
        let size = serde_json::to_vec(&document)?.len();
        if size > limit {
            eprintln!(
                "skipping {}: {size} bytes as JSON, above the NATS payload limit of {limit}; split it",
                document.doc_id
            );
            summary.skipped += 1;
            continue;
        }
        documents.push((document, size));
    }
    let mut jobs: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut batch: Vec<JobDocument> = Vec::new();
    let mut batch_bytes = 0;
    let mut documents = documents.into_iter().peekable();
    while let Some((document, size)) = documents.next() {
        batch_bytes += size;
        batch.push(document);
        let full = batch.len() == MAX_BATCH_DOCUMENTS
            || documents
                .peek()
                .is_none_or(|(_, next)| batch_bytes + next > limit);
        if full {
            let request = SubmitRequest {
                collection: args.collection.clone(),
                documents: std::mem::take(&mut batch),
                extract_graph: args.extract_graph,
                chunking: Some(chunking),
            };
            batch_bytes = 0;
            let reply = rag.call::<JobsSubmit>(&request).await?;
            for job in reply.jobs {
                jobs.insert(job.job_id, (job.doc_id, job.duplicate));
            }
        }
    }

    let bars = MultiProgress::new();
    let overall = bars.add(ProgressBar::new(jobs.len() as u64));
    overall.set_style(ProgressStyle::with_template(
        "{prefix:>12} [{bar:40}] {pos}/{len} jobs {elapsed}",
    )?);
    overall.set_prefix("overall");
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} chunks {msg}")?;
    let mut per_job: HashMap<String, ProgressBar> = HashMap::new();
    for (id, (doc_id, _)) in &jobs {
        let bar = bars.add(ProgressBar::new(0));
        bar.set_style(style.clone());
        bar.set_prefix(id[..8].to_owned());
        bar.set_message(doc_id.clone());
        per_job.insert(id.clone(), bar);
    }
    let mut settled: HashMap<String, JobState> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while settled.len() < jobs.len() {
        tokio::select! {
            Some(message) = events.next() => {
                if let Ok(event) = serde_json::from_slice::<JobEvent>(&message.payload) {
                    if let Some(bar) = per_job.get(&event.job_id) {
                        bar.set_length(event.chunks_total as u64);
                        bar.set_position(event.chunks_done as u64);
                    }
                }
            }
            // Events can be missed (a job done before this run, a
            // reconnect): the status is the truth.
            _ = poll.tick() => {
                let open: Vec<&String> = jobs.keys().filter(|id| !settled.contains_key(*id)).collect();
                let statuses: Vec<Result<JobStatus, _>> = futures::stream::iter(open)
                    .map(|id| async move {
                        let job = JobRef { job_id: id.clone() };
                        rag.call::<JobsStatus>(&job).await.map(|reply| reply.status)
                    })
                    .buffer_unordered(16)
                    .collect()
                    .await;
                for status in statuses {
                    // A status that cannot be read now is read on the next tick.
                    let status = match status {
                        Ok(status) => status,
                        Err(e) => {
                            bars.suspend(|| eprintln!("cannot read a job status: {e}"));
                            continue;
                        }
                    };
                    let id = &status.job_id;
                    let bar = &per_job[id];
                    bar.set_length(status.chunks_total as u64);
                    bar.set_position(status.chunks_done as u64);
                    if matches!(status.state, JobState::Done | JobState::Failed) {
                        let note = match (&status.state, &status.last_error) {
                            (JobState::Failed, Some(e)) => format!("{} failed: {e}", status.doc_id),
                            _ => status.doc_id.clone(),
                        };
                        bar.finish_with_message(note);
                        overall.inc(1);
                        settled.insert(status.job_id.clone(), status.state);
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                bail!("gave up waiting after {} s; {} of {} jobs settled", args.timeout, settled.len(), jobs.len());
            }
        }
    }
    overall.finish();
    for (id, state) in &settled {
        match state {
            JobState::Failed => summary.failed += 1,
            _ if jobs[id].1 => summary.deduplicated += 1,
            _ => summary.done += 1,
        }
    }
    Ok(summary)
}
