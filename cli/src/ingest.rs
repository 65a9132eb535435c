//! `ragwire ingest PATH...`: files and folders submitted as ingest jobs, a
//! progress bar per job and one overall, and a summary at the end.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ragwire_schemas::jobs::{
    Chunking, JobDocument, JobEvent, JobState, JobStatus, SubmitReply, SubmitRequest,
};
use ragwire_schemas::{decode_reply, Subject};

/// Largest file read (bigger ones are skipped with a warning).
const MAX_FILE_BYTES: u64 = 16 << 20;
/// Submission requests stay under NATS's default payload limit.
const MAX_SUBMIT_BYTES: usize = 512 << 10;

/// Options of `ragwire ingest`.
#[derive(clap::Args)]
pub struct Ingest {
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

pub async fn call<T: serde::de::DeserializeOwned>(
    nats: &async_nats::Client,
    prefix: &str,
    subject: Subject,
    body: &impl serde::Serialize,
) -> anyhow::Result<T> {
    let request = async_nats::Request::new()
        .payload(serde_json::to_vec(body)?.into())
        .timeout(Some(Duration::from_secs(30)));
    let reply = nats
        .send_request(subject.subject(prefix), request)
        .await
        .with_context(|| format!("{} (is a worker running?)", subject.subject(prefix)))?;
    Ok(decode_reply(&reply.payload)??)
}

/// Submits the files, follows their jobs and returns the summary.
pub async fn run(nats: &async_nats::Client, prefix: &str, args: Ingest) -> anyhow::Result<Summary> {
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
    let mut events = nats.subscribe(format!("{prefix}.jobs.events.>")).await?;
    let chunking = Chunking {
        size: args.chunk_size,
        overlap: args.chunk_overlap,
    };
    let mut jobs: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut batch: Vec<JobDocument> = Vec::new();
    let mut batch_bytes = 0;
    let mut files = files.into_iter().peekable();
    while let Some((doc_id, text)) = files.next() {
        batch_bytes += text.len() + doc_id.len();
        batch.push(JobDocument {
            doc_id,
            text: Some(text),
            chunks: None,
            metadata: None,
        });
        let full = files
            .peek()
            .is_none_or(|(id, t)| batch_bytes + id.len() + t.len() > MAX_SUBMIT_BYTES);
        if full {
            let request = SubmitRequest {
                collection: args.collection.clone(),
                documents: std::mem::take(&mut batch),
                extract_graph: args.extract_graph,
                chunking: Some(chunking),
            };
            batch_bytes = 0;
            let reply: SubmitReply = call(nats, prefix, Subject::JobsSubmit, &request).await?;
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
                for id in open {
                    let status: JobStatus = call(nats, prefix, Subject::JobsStatus, &serde_json::json!({"job_id": id})).await?;
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
                        settled.insert(id.clone(), status.state);
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
