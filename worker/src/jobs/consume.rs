//! The job processor: one durable pull consumer shared by every worker,
//! jobs run concurrently under a local bound, acknowledged only after every
//! write.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use async_nats::jetstream::message::{AckKind, Message};
use futures::StreamExt;
use ragwire_schemas::index::Chunk;
use ragwire_schemas::jobs::{DeadJob, JobEvent, JobState, JobStatus, WorkItem};
use ragwire_schemas::{JsonMap, TenantId};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{now, purge, Jobs};
use crate::documents;
use crate::error::{Error, Retry};
use crate::extract::{self, parse::Minimums};
use crate::graph::Provenance;
use crate::state::State;
use crate::vectors::new_generation;

/// Pulls and runs jobs until `shutdown`; jobs in flight are tracked by
/// `tracker` so the worker can wait for them. A job is pulled only when a
/// slot is free for it: a job waiting in this process would have its
/// acknowledgement clock running.
pub async fn run(jobs: Jobs, state: State, shutdown: CancellationToken, tracker: TaskTracker) {
    let permits = Arc::new(Semaphore::new(jobs.config.concurrency));
    let mut consumer = None;
    while !shutdown.is_cancelled() {
        let Some(jobs_consumer) = &consumer else {
            match open(&jobs).await {
                Ok(c) => consumer = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the job consumer; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
            }
            continue;
        };
        // One free slot at least, then every other one free now.
        let first = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("never closed"),
            _ = shutdown.cancelled() => return,
        };
        let mut slots = vec![first];
        while let Ok(p) = permits.clone().try_acquire_owned() {
            slots.push(p);
        }
        let batch = jobs_consumer
            .batch()
            .max_messages(slots.len())
            .expires(Duration::from_secs(2))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot pull jobs; trying again");
                consumer = None;
                continue;
            }
        };
        loop {
            let next = tokio::select! {
                n = batch.next() => n,
                _ = shutdown.cancelled() => return,
            };
            match next {
                Some(Ok(message)) => {
                    let Some(permit) = slots.pop() else {
                        // More than asked for: hand it back at once.
                        settle(&message, AckKind::Nak(None)).await;
                        continue;
                    };
                    let (jobs, state) = (jobs.clone(), state.clone());
                    tracker.spawn(async move {
                        let span = ragwire_client::trace::process_span(
                            message.subject.as_str(),
                            message.headers.as_ref(),
                        );
                        ragwire_client::trace::within(span, process(&jobs, &state, message)).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "job stream error");
                    break;
                }
                None => break,
            }
        }
    }
}

async fn open(jobs: &Jobs) -> Result<PullConsumer, Error> {
    let stream = jobs
        .js
        .get_stream(jobs.work_stream())
        .await
        .map_err(|e| Error::jetstream("cannot open the job stream", e))?;
    stream
        .get_or_create_consumer(
            &jobs.config.consumer,
            pull::Config {
                durable_name: Some(jobs.config.consumer.clone()),
                description: Some("ragwire ingest workers".into()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: jobs.config.ack_wait,
                max_ack_pending: jobs.config.max_ack_pending,
                // Deliveries are counted here, so that a job whose last
                // delivery was lost in a crash still reaches the dead letters.
                max_deliver: -1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| Error::jetstream("cannot open the job consumer", e))
}

/// Tracks one delivery of a job: its status and its numbered events.
struct Run<'a> {
    jobs: &'a Jobs,
    status: JobStatus,
    seq: u64,
}

impl Run<'_> {
    async fn report(&mut self, state: JobState, error: Option<String>) {
        self.status.state = state;
        self.status.updated_at = now();
        if error.is_some() {
            self.status.last_error = error.clone();
        }
        self.jobs.put_status(&self.status).await;
        self.seq += 1;
        self.jobs
            .event(&JobEvent {
                job_id: self.status.job_id.clone(),
                seq: self.seq,
                state,
                chunks_done: self.status.chunks_done,
                chunks_total: self.status.chunks_total,
                error,
            })
            .await;
    }
}

async fn process(jobs: &Jobs, state: &State, message: Message) {
    let delivered = message.info().map_or(1, |i| i.delivered.max(1) as u64);
    let item: WorkItem = match serde_json::from_slice(&message.payload) {
        Ok(item) => item,
        Err(e) => {
            // Not a job: nothing to retry or replay.
            tracing::error!(error = %e, "unreadable job message; dropped");
            settle(&message, AckKind::Term).await;
            return;
        }
    };
    // The job runs as its tenant, on that tenant's data.
    let prefix = &state.config.common.prefix;
    let (jobs, state) = if item.tenant.is_default() {
        (jobs.clone(), state.clone())
    } else {
        (
            jobs.for_tenant(&item.tenant, prefix),
            state.for_tenant(&item.tenant),
        )
    };
    let (jobs, state) = (&jobs, &state);
    let previous = jobs.status(&item.job_id).await.ok();
    let stamp = now();
    let mut run = Run {
        jobs,
        status: JobStatus {
            job_id: item.job_id.clone(),
            doc_id: item.document.doc_id.clone(),
            collection: item.collection.clone(),
            state: JobState::Running,
            chunks_total: 0,
            chunks_done: 0,
            attempts: delivered,
            last_error: previous.as_ref().and_then(|p| p.last_error.clone()),
            graph: None,
            replays: previous.as_ref().map_or(0, |p| p.replays),
            generation: item.generation,
            superseded: false,
            tenant: item.tenant.clone(),
            created_at: previous.map_or(stamp.clone(), |p| p.created_at),
            updated_at: stamp,
        },
        seq: 0,
    };
    if delivered > jobs.config.max_deliver {
        let error = format!(
            "gave up after {} deliveries; last error: {}",
            jobs.config.max_deliver,
            run.status
                .last_error
                .clone()
                .unwrap_or_else(|| "none recorded".into())
        );
        fail(&mut run, &message, item, error, 500).await;
        return;
    }
    run.report(JobState::Running, None).await;
    // Tells the server the job is alive however long one step takes (an
    // extraction is several LLM calls).
    let heartbeat = async {
        let mut beat =
            tokio::time::interval((jobs.config.ack_wait / 3).max(Duration::from_millis(100)));
        beat.tick().await;
        loop {
            beat.tick().await;
            settle(&message, AckKind::Progress).await;
        }
    };
    let result = tokio::select! {
        result = work(state, &item, &mut run) => result,
        () = heartbeat => unreachable!("the heartbeat never ends"),
    };
    // The status is written before the acknowledgement: a crash in between
    // redelivers the job, which runs again and ends in the same state.
    let metrics = crate::metrics::get();
    match result {
        Ok(()) => {
            let outcome = if run.status.superseded {
                "superseded"
            } else {
                "done"
            };
            metrics.jobs.with_label_values(&[outcome]).inc();
            run.report(JobState::Done, None).await;
            // Confirmed by the server, so a lost ack cannot redeliver a
            // finished job unnoticed.
            if let Err(e) = message.double_ack().await {
                tracing::warn!(job = %item.job_id, error = %e, "done, but the ack was not confirmed");
            }
        }
        Err(e) => {
            metrics.failed(&e);
            let transient = match e.retry() {
                Retry::After(hint) => Some(hint),
                Retry::Abort if matches!(e, Error::Timeout { .. }) => Some(None),
                Retry::Abort => None,
            };
            match transient {
                Some(hint) if delivered < jobs.config.max_deliver => {
                    let delay = jobs.config.retry_delay(delivered, hint);
                    tracing::warn!(job = %item.job_id, error = %e, delivered, ?delay, "job failed; retrying");
                    metrics.jobs.with_label_values(&["retried"]).inc();
                    run.report(JobState::Queued, Some(e.to_string())).await;
                    settle(&message, AckKind::Nak(Some(delay))).await;
                }
                _ => {
                    metrics.jobs.with_label_values(&["failed"]).inc();
                    let code = e.to_body().code;
                    fail(&mut run, &message, item, e.to_string(), code).await;
                }
            }
        }
    }
}

/// Dead-letters a job, then stops its redelivery.
async fn fail(run: &mut Run<'_>, message: &Message, item: WorkItem, error: String, code: u16) {
    tracing::warn!(job = %item.job_id, error = %error, "job failed for good; dead-lettered");
    let dead = DeadJob {
        item,
        error: error.clone(),
        code,
        attempts: run.status.attempts,
        failed_at: now(),
    };
    if let Err(e) = run.jobs.bury(&dead).await {
        // Not terminated: the job comes back rather than being lost.
        tracing::error!(error = %e, "cannot dead-letter a job; leaving it for redelivery");
        settle(message, AckKind::Nak(Some(Duration::from_secs(5)))).await;
        return;
    }
    run.report(JobState::Failed, Some(error)).await;
    settle(message, AckKind::Term).await;
}

/// Tells the server what became of a delivery. A lost word is logged: the
/// server then redelivers the job after its acknowledgement wait (a lost
/// progress beat can make that happen while the job still runs).
async fn settle(message: &Message, kind: AckKind) {
    if let Err(e) = message.ack_with(kind).await {
        let subject = message.subject.as_str();
        tracing::warn!(%subject, ?kind, error = %e, "the job stream did not take an acknowledgement");
    }
}

/// Chunk, embed and store, batch by batch, as the document's version of
/// the job's generation; then delete the earlier versions (`documents`)
/// and extract the graph if asked. A job whose document was deleted, or
/// written by a later submission, meanwhile writes nothing.
async fn work(state: &State, item: &WorkItem, run: &mut Run<'_>) -> Result<(), Error> {
    if let Some(tenant) = &item.purge {
        return purge(state, tenant, run).await;
    }
    // A job of a tenant deleted since it was queued writes nothing: the
    // tenant's purge deletes what it has, and must not find more later.
    if run.jobs.tenant_deleted(&item.tenant).await? {
        tracing::info!(job = %item.job_id, tenant = %item.tenant, "the tenant is deleted: nothing written");
        run.status.superseded = true;
        return Ok(());
    }
    let (collection, doc_id) = (&item.collection, &item.document.doc_id);
    // Items queued before generations existed: as of now, on every delivery.
    let generation = match item.generation {
        0 => new_generation(),
        g => g,
    };
    run.status.generation = generation;
    if let Some(by) = documents::claim(state, collection, doc_id, generation).await? {
        tracing::info!(job = %item.job_id, generation, by, "superseded: nothing written");
        run.status.superseded = true;
        return Ok(());
    }
    let chunks = chunks(item);
    run.status.chunks_total = chunks.len();
    let batch = run.jobs.config.batch.max(1);
    for part in chunks.chunks(batch) {
        documents::write(state, collection, part.to_vec(), generation).await?;
        run.status.chunks_done += part.len();
        run.report(JobState::Running, None).await;
    }
    documents::finish(state, collection, doc_id, generation).await?;
    if item.extract_graph {
        // A newer version or a delete came while the chunks were written:
        // no model call for a graph that would be refused.
        if let Some(by) = documents::newer(state, collection, doc_id, generation).await? {
            tracing::info!(job = %item.job_id, generation, by, "superseded: no graph written");
            run.status.superseded = true;
            return Ok(());
        }
        let text: String = chunks
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n");
        let config = &state.config.extract;
        let task = extract::Task {
            context: text,
            chain: config.chain.clone(),
            max_attempts: config.max_attempts,
            min: Minimums {
                nodes: config.min_nodes,
                edges: config.min_edges,
                allow_empty: false,
            },
            strict: true,
            repair: true,
        };
        let out = extract::run(&state.llm, config, &task).await?;
        crate::graph::validate(&out.graph)?;
        // The document's whole contribution: a re-ingested document's
        // earlier graph goes where this one no longer has it.
        // The graph store refuses it if a newer version or a delete of the
        // document reached the graph during the extraction.
        let provenance = Provenance::Replace {
            doc: doc_id.clone(),
            generation,
        };
        match state.graph.upsert(out.graph, provenance).await {
            Ok((nodes, edges)) => run.status.graph = Some([nodes, edges]),
            Err(Error::Conflict(why)) => {
                tracing::info!(job = %item.job_id, generation, %why, "superseded: no graph written");
                run.status.superseded = true;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Deletes a deleted tenant's data step by step, each step counted as a
/// chunk of the job's progress.
async fn purge(state: &State, tenant: &TenantId, run: &mut Run<'_>) -> Result<(), Error> {
    let steps = purge::steps(state, tenant).await?;
    run.status.chunks_total = steps.len();
    run.status.chunks_done = 0;
    for step in &steps {
        purge::step(state, tenant, step).await?;
        run.status.chunks_done += 1;
        run.report(JobState::Running, None).await;
    }
    Ok(())
}

/// The job's chunks: given ones, or its text split with overlap. Ids are
/// positions (and the point ids carry the generation), so a job run twice
/// writes the same points.
fn chunks(item: &WorkItem) -> Vec<Chunk> {
    let doc = &item.document;
    let mut base = doc.metadata.clone().unwrap_or_default();
    base.insert("job_id".into(), Value::String(item.job_id.clone()));
    let meta = |extra: Option<&JsonMap>| {
        let mut m = base.clone();
        if let Some(extra) = extra {
            m.extend(extra.clone());
        }
        Some(m)
    };
    match (&doc.chunks, &doc.text) {
        (Some(given), _) => given
            .iter()
            .enumerate()
            .map(|(i, c)| Chunk {
                doc_id: doc.doc_id.clone(),
                text: c.text.clone(),
                chunk_id: Some(c.chunk_id.clone().unwrap_or_else(|| i.to_string())),
                metadata: meta(c.metadata.as_ref()),
            })
            .collect(),
        (None, Some(text)) => {
            crate::chunking::split(text, item.chunking.size, item.chunking.overlap)
                .into_iter()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .enumerate()
                .map(|(i, t)| Chunk {
                    doc_id: doc.doc_id.clone(),
                    text: t.to_owned(),
                    chunk_id: Some(i.to_string()),
                    metadata: meta(None),
                })
                .collect()
        }
        (None, None) => Vec::new(),
    }
}
