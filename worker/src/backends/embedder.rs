//! Embeddings: their settings, what computes vectors ([`EmbedBackend`]: the
//! local model or an embedding service), and the [`Embedder`] every subject
//! calls, which micro-batches and caches in front of one backend.
//!
//! Concurrent embed requests are collected into one backend call, up to
//! `max_batch` texts, and the vectors are split back to each requester. A
//! request goes at once while a call slot is free (no added latency at low
//! load); while every slot is busy, requests queue and leave together as the
//! next batch, and the call that takes the last free slot waits for more
//! until the window ends or another call returns, whichever is first. Queue
//! and in-flight calls are bounded.
//!
//! Interactive requests (queries, `rag.embed`, `/v1/embeddings`) and bulk
//! ones (chunks being indexed) never share a queue, a batch or a call slot:
//! each kind has a batcher of its own, and bulk work has fewer slots and
//! smaller batches ([`Priority`]). A query therefore never waits behind
//! bulk work in a queue; with the local model it shares the CPU with at
//! most one bulk call of a bounded size, and bulk work still progresses
//! under any interactive load, on its own slot.
//!
//! In front of the batchers, a bounded cache keeps the vectors of recently
//! embedded short texts (queries repeat; a model's vector for a text does
//! not change), so a repeated text costs no backend call. Bulk texts are
//! looked up but not kept: chunks rarely repeat, and they would push the
//! queries out.

use std::sync::Arc;
use std::time::Duration;

use ragwire_common::settings::parse;
use ragwire_common::usage::{Counter, Meter};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::error::Error;

/// Embeddings: an OpenAI-compatible service, or the local model, behind the
/// micro-batcher and its cache.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Embeddings")]
pub struct EmbedConfig {
    /// OpenAI-compatible `/v1/embeddings` server, `/v1` included; unset:
    /// the local model of `RAGWIRE_EMBED_MODEL_DIR`.
    #[arg(id = "embed.base_url", long = "embed-base-url", env = "RAGWIRE_EMBED_BASE_URL",
          value_parser = parse::http_url)]
    pub base_url: Option<String>,
    /// Folder of the local sentence-transformers BERT model (`config.json`,
    /// `tokenizer.json`, `model.safetensors`); default
    /// `{RAGWIRE_DATA_DIR}/models/all-MiniLM-L6-v2`.
    #[arg(
        id = "embed.model_dir",
        long = "embed-model-dir",
        env = "RAGWIRE_EMBED_MODEL_DIR"
    )]
    pub model_dir: Option<std::path::PathBuf>,
    /// Key of the embedding service, sent as `Authorization: Bearer`
    /// (default: the LLM's); a key that cannot be a header value stops
    /// start-up.
    #[arg(
        id = "embed.api_key",
        long = "embed-api-key",
        env = "RAGWIRE_EMBED_API_KEY"
    )]
    pub api_key: Option<String>,
    /// Embedding model name asked of the service.
    #[arg(
        id = "embed.model",
        long = "embed-model",
        env = "RAGWIRE_EMBED_MODEL",
        default_value = "text-embedding-3-small"
    )]
    pub model: String,
    /// Per embedding call, in milliseconds.
    #[arg(id = "embed.timeout_ms", long = "embed-timeout-ms", env = "RAGWIRE_EMBED_TIMEOUT_MS",
          default_value = "30000", value_parser = parse::timeout)]
    pub timeout: Duration,
    /// How long, in microseconds, the batcher waits for more requests when
    /// all call slots are busy (0: none).
    #[arg(
        id = "embed.batch_window_us",
        long = "embed-batch-window-us",
        env = "RAGWIRE_EMBED_BATCH_WINDOW_US",
        default_value = "2000",
        value_parser = parse::duration_us
    )]
    pub batch_window: Duration,
    /// Most texts in one embedding call for interactive work (at most 64
    /// with the local model).
    #[arg(id = "embed.max_batch", long = "embed-max-batch", env = "RAGWIRE_EMBED_MAX_BATCH",
          default_value_t = 256, value_parser = parse::at_least_one::<usize>)]
    pub max_batch: usize,
    /// Embedding calls in flight per worker for interactive work (queries,
    /// `rag.embed`); 1 with the local model.
    #[arg(id = "embed.max_concurrency", long = "embed-max-concurrency",
          env = "RAGWIRE_EMBED_MAX_CONCURRENCY", default_value_t = 16,
          value_parser = parse::at_least_one::<usize>)]
    pub max_concurrency: usize,
    /// Embedding calls in flight per worker for bulk work (chunks being
    /// indexed), on slots of their own; unset: 1 with the local model (it
    /// computes on this machine's cores, which queries need too), half of
    /// `RAGWIRE_EMBED_MAX_CONCURRENCY` with a service.
    #[arg(id = "embed.bulk_max_concurrency", long = "embed-bulk-max-concurrency",
          env = "RAGWIRE_EMBED_BULK_MAX_CONCURRENCY",
          value_parser = parse::at_least_one::<usize>)]
    pub bulk_max_concurrency: Option<usize>,
    /// Most texts in one bulk embedding call, the piece of bulk work a query
    /// may share the model with; unset: 32 with the local model,
    /// `RAGWIRE_EMBED_MAX_BATCH` with a service.
    #[arg(id = "embed.bulk_max_batch", long = "embed-bulk-max-batch",
          env = "RAGWIRE_EMBED_BULK_MAX_BATCH",
          value_parser = parse::at_least_one::<usize>)]
    pub bulk_max_batch: Option<usize>,
    /// Embed requests waiting for a batch (each kind, interactive and bulk).
    #[arg(id = "embed.queue", long = "embed-queue", env = "RAGWIRE_EMBED_QUEUE",
          default_value_t = 10_000, value_parser = parse::at_least_one::<usize>)]
    pub queue: usize,
    /// Texts (up to 2 KB each) whose vectors are kept, so a repeated text
    /// costs no backend call; 0: off.
    #[arg(
        id = "embed.cache",
        long = "embed-cache",
        env = "RAGWIRE_EMBED_CACHE",
        default_value_t = 10_000
    )]
    pub cache: usize,
    /// How vectors are asked of the embedding service (its
    /// `encoding_format`).
    #[arg(id = "embed.encoding", long = "embed-encoding", env = "RAGWIRE_EMBED_ENCODING",
          value_enum, default_value_t = EmbedEncoding::Base64)]
    pub encoding: EmbedEncoding,
}

ragwire_common::default_from_declarations!(EmbedConfig);

impl EmbedConfig {
    /// The batchers' settings; `local`: the backend computes on this
    /// machine (the local model), so it gets one interactive slot, one bulk
    /// slot and small bulk batches unless the settings say otherwise.
    pub fn batching(&self, local: bool) -> BatchConfig {
        let (max_concurrency, max_batch) = if local {
            // CPU-bound and parallel inside: one call at a time of each
            // kind; requests queue into the next batch.
            (1, self.max_batch.min(64))
        } else {
            (self.max_concurrency, self.max_batch)
        };
        BatchConfig {
            window: self.batch_window,
            max_batch,
            max_concurrency,
            bulk_max_batch: self
                .bulk_max_batch
                .unwrap_or(if local { 32 } else { max_batch }),
            bulk_max_concurrency: self.bulk_max_concurrency.unwrap_or(if local {
                1
            } else {
                max_concurrency.div_ceil(2)
            }),
            queue: self.queue,
            cache: self.cache,
        }
    }
}

/// Which kind of work an embedding is for: each has its own batcher and
/// call slots, so bulk work never delays a query in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A caller is waiting: queries, `rag.embed`, `/v1/embeddings`.
    Interactive,
    /// Chunks being indexed (`rag.index`, ingest jobs).
    Bulk,
}

/// Wire encoding of vectors asked of an OpenAI-compatible embedding service
/// (its `encoding_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmbedEncoding {
    /// Little-endian f32 bytes in base64: exact, and far cheaper to parse
    /// than decimal floats. OpenAI, vLLM, TEI and LiteLLM support it; a
    /// service that ignores it and sends floats is still understood.
    Base64,
    /// JSON arrays of floats, for services that refuse `encoding_format`.
    Float,
}

impl std::str::FromStr for EmbedEncoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        clap::ValueEnum::from_str(s, false).map_err(|_| format!("`{s}` is not `base64` or `float`"))
    }
}

/// Something that turns texts into vectors, in order.
#[async_trait::async_trait]
pub trait EmbedBackend: Send + Sync + 'static {
    /// The model name reported in replies.
    fn model(&self) -> &str;
    /// One vector per text, in the same order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error>;

    /// The dimension of every vector, when the backend has one fixed (a
    /// local model); `None` when it can give others.
    fn dimension(&self) -> Option<usize> {
        None
    }

    /// One vector of `dimensions` per text: a service's own `dimensions`
    /// parameter (shortened vectors). A backend of fixed dimension refuses
    /// any other.
    async fn embed_dimensions(
        &self,
        texts: &[String],
        dimensions: usize,
    ) -> Result<Vec<Vec<f32>>, Error> {
        match self.dimension() {
            Some(own) if own == dimensions => self.embed(texts).await,
            Some(own) => Err(Error::bad_request(format!(
                "`dimensions` is {dimensions}; the model `{}` gives vectors of {own}",
                self.model()
            ))),
            None => Err(Error::bad_request(
                "`dimensions` is not supported by this embedding backend",
            )),
        }
    }
}

/// Tuning of the batcher.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// How long the call taking the last free slot waits for more requests.
    pub window: Duration,
    /// Most texts in one backend call.
    pub max_batch: usize,
    /// Most backend calls in flight.
    pub max_concurrency: usize,
    /// Most texts in one bulk call.
    pub bulk_max_batch: usize,
    /// Most bulk calls in flight, besides the interactive ones.
    pub bulk_max_concurrency: usize,
    /// Most requests waiting; senders wait when it is full.
    pub queue: usize,
    /// Texts whose vectors are kept (0: no cache).
    pub cache: usize,
}

/// Longest text (bytes) whose vector is cached: queries and short passages
/// repeat, long chunks being indexed rarely do.
pub const CACHE_MAX_TEXT: usize = 2048;

type Cache = quick_cache::sync::Cache<String, Arc<[f32]>>;

/// A request waiting for its vectors.
struct Pending {
    texts: Vec<String>,
    reply: Reply,
    queued: Instant,
}

/// The embedding entry point used by every subject. Cheap to clone.
#[derive(Clone)]
pub struct Embedder {
    tx: mpsc::Sender<Pending>,
    bulk: mpsc::Sender<Pending>,
    backend: Arc<dyn EmbedBackend>,
    model: Arc<str>,
    cache: Option<Arc<Cache>>,
    /// The tenant whose texts these are, for the cache: a tenant's vectors
    /// are cached under keys of its own, so no tenant learns, even from
    /// how fast it is answered, what another embedded. `None`: `default`.
    tenant: Option<Arc<str>>,
    /// Where the tenant's embedded texts are counted.
    meter: Option<Meter>,
}

impl Embedder {
    /// Starts the batching task in front of `backend` (needs a Tokio runtime).
    pub fn spawn(backend: Arc<dyn EmbedBackend>, config: BatchConfig) -> Embedder {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let (bulk, bulk_rx) = mpsc::channel(config.queue.max(1));
        let model: Arc<str> = backend.model().into();
        tokio::spawn(run(rx, backend.clone(), config, "interactive"));
        let bulk_config = BatchConfig {
            max_batch: config.bulk_max_batch,
            max_concurrency: config.bulk_max_concurrency,
            ..config
        };
        tokio::spawn(run(bulk_rx, backend.clone(), bulk_config, "bulk"));
        let cache = (config.cache > 0).then(|| Arc::new(Cache::new(config.cache)));
        Embedder {
            tx,
            bulk,
            backend,
            model,
            cache,
            tenant: None,
            meter: None,
        }
    }

    /// Vectors of `dimensions` for `texts`, in order. The backend's own
    /// dimension goes through the batcher and the cache; another one asks
    /// the backend directly (its `dimensions` parameter), as such vectors
    /// are neither batched with nor cached like the others.
    pub async fn embed_dimensions(
        &self,
        texts: Vec<String>,
        dimensions: usize,
    ) -> Result<Vec<Vec<f32>>, Error> {
        if self.backend.dimension() == Some(dimensions) {
            return self.embed(texts).await;
        }
        self.count(texts.len());
        let backend = self.backend.clone();
        crate::waiting::on(crate::error::Backend::Embeddings, async move {
            backend.embed_dimensions(&texts, dimensions).await
        })
        .await
    }

    /// The model name reported in replies.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Vectors for `texts`, in order, for a caller who is waiting.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, Error> {
        self.embed_as(texts, Priority::Interactive).await
    }

    /// The same embedder, caching for `tenant` and counting its texts on
    /// `meter`.
    pub fn for_tenant(&self, tenant: &ragwire_schemas::TenantId, meter: Option<Meter>) -> Embedder {
        Embedder {
            tenant: (!tenant.is_default()).then(|| tenant.as_str().into()),
            meter,
            ..self.clone()
        }
    }

    fn count(&self, texts: usize) {
        if let Some(meter) = &self.meter {
            meter.add(Counter::EmbeddedTexts, texts as u64);
        }
    }

    /// The cache key of `text`.
    fn cache_key<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match &self.tenant {
            None => text.into(),
            Some(tenant) => format!("{tenant}\u{1f}{text}").into(),
        }
    }

    /// Vectors for `texts`, in order, as `priority` work.
    pub async fn embed_as(
        &self,
        texts: Vec<String>,
        priority: Priority,
    ) -> Result<Vec<Vec<f32>>, Error> {
        self.count(texts.len());
        let Some(cache) = &self.cache else {
            return self.batched(texts, priority).await;
        };
        let keep = priority == Priority::Interactive;
        let mut vectors: Vec<Option<Vec<f32>>> = Vec::with_capacity(texts.len());
        let mut missing = Vec::new();
        let mut keys = Vec::new();
        for text in texts {
            let key = self.cache_key(&text);
            match cache.get(key.as_ref()) {
                Some(hit) => vectors.push(Some(hit.to_vec())),
                None => {
                    let key = (keep && text.len() <= CACHE_MAX_TEXT).then(|| key.into_owned());
                    keys.push((vectors.len(), key));
                    vectors.push(None);
                    missing.push(text);
                }
            }
        }
        if !missing.is_empty() {
            let fresh = self.batched(missing, priority).await?;
            for ((i, key), vector) in keys.into_iter().zip(fresh) {
                if let Some(key) = key {
                    cache.insert(key, Arc::from(vector.as_slice()));
                }
                vectors[i] = Some(vector);
            }
        }
        Ok(vectors.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// Vectors for `texts` from the backend, through the batcher.
    async fn batched(
        &self,
        texts: Vec<String>,
        priority: Priority,
    ) -> Result<Vec<Vec<f32>>, Error> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        let queue = match priority {
            Priority::Interactive => &self.tx,
            Priority::Bulk => &self.bulk,
        };
        crate::waiting::on(crate::error::Backend::Embeddings, async {
            queue
                .send(Pending {
                    texts,
                    reply,
                    queued: Instant::now(),
                })
                .await
                .map_err(|_| stopped())?;
            rx.await.map_err(|_| stopped())?
        })
        .await
    }
}

fn stopped() -> Error {
    Error::Internal("the embedding batcher has stopped".into())
}

/// One kind's batcher (`kind`: `interactive` or `bulk`, for metrics).
async fn run(
    mut rx: mpsc::Receiver<Pending>,
    backend: Arc<dyn EmbedBackend>,
    config: BatchConfig,
    kind: &'static str,
) {
    let metrics = crate::metrics::get();
    let (sizes, waits) = (
        metrics.embed_batch.with_label_values(&[kind]),
        metrics.embed_wait.with_label_values(&[kind]),
    );
    let calls = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
    let mut carry: Option<Pending> = None;
    // A slot that freed while a batch waited its window: the next batch's.
    let mut spare: Option<OwnedSemaphorePermit> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        // While every call slot is busy, requests queue up: they form the
        // next batch.
        let permit = match spare.take() {
            Some(permit) => permit,
            None => match calls.clone().acquire_owned().await {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let mut batch = Batch {
            size: first.texts.len(),
            jobs: vec![first],
            max: config.max_batch,
        };
        // Take what is already queued, without waiting.
        while batch.has_room() {
            match rx.try_recv() {
                Ok(job) => {
                    if let Some(job) = batch.push(job) {
                        carry = Some(job);
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        // Holding the last free slot while other calls are out: nothing else
        // could be sent before one returns, so a fuller batch is worth the
        // window. It ends early once a call returns: a slot is free again,
        // and waiting longer would only leave it idle. With one slot there
        // is no other call, and waiting would only idle the backend.
        let others_out = config.max_concurrency > 1 && calls.available_permits() == 0;
        if carry.is_none() && others_out && !config.window.is_zero() {
            let deadline = Instant::now() + config.window;
            while batch.has_room() {
                tokio::select! {
                    biased;
                    job = rx.recv() => match job {
                        Some(job) => {
                            if let Some(job) = batch.push(job) {
                                carry = Some(job);
                                break;
                            }
                        }
                        None => break,
                    },
                    freed = calls.clone().acquire_owned() => {
                        spare = freed.ok();
                        break;
                    }
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
        sizes.observe(batch.size as f64);
        for job in &batch.jobs {
            waits.observe(job.queued.elapsed().as_secs_f64());
        }
        let backend = backend.clone();
        let max_batch = config.max_batch;
        tokio::spawn(async move {
            flush(backend.as_ref(), batch.jobs, max_batch).await;
            drop(permit);
        });
    }
}

struct Batch {
    jobs: Vec<Pending>,
    size: usize,
    max: usize,
}

impl Batch {
    fn has_room(&self) -> bool {
        self.size < self.max
    }

    /// Adds `job`, or hands it back when it would overflow the batch.
    fn push(&mut self, job: Pending) -> Option<Pending> {
        if self.size + job.texts.len() > self.max {
            return Some(job);
        }
        self.size += job.texts.len();
        self.jobs.push(job);
        None
    }
}

async fn flush(backend: &dyn EmbedBackend, batch: Vec<Pending>, max_batch: usize) {
    let alone = batch.len() == 1;
    let Err((error, jobs)) = try_send(backend, batch, max_batch).await else {
        return;
    };
    let refused = matches!(
        error,
        Error::Upstream {
            status: 400..=499,
            ..
        }
    );
    if alone || !refused {
        return fail(jobs, &error);
    }
    // The backend refused the batch for good: one request's bad text must not
    // fail the others, so each goes alone.
    for job in jobs {
        if let Err((error, job)) = try_send(backend, vec![job], max_batch).await {
            fail(job, &error);
        }
    }
}

fn fail(jobs: Vec<Pending>, error: &Error) {
    for job in jobs {
        let _ = job.reply.send(Err(error.clone()));
    }
}

type Reply = oneshot::Sender<Result<Vec<Vec<f32>>, Error>>;

/// Embeds a batch and answers each job; on failure hands the error and the
/// unanswered jobs back, texts and all, so they can be sent again.
async fn try_send(
    backend: &dyn EmbedBackend,
    batch: Vec<Pending>,
    max_batch: usize,
) -> Result<(), (Error, Vec<Pending>)> {
    let counts: Vec<usize> = batch.iter().map(|j| j.texts.len()).collect();
    let mut replies = Vec::with_capacity(batch.len());
    let mut texts = Vec::with_capacity(counts.iter().sum());
    for job in batch {
        texts.extend(job.texts);
        replies.push(job.reply);
    }
    // A single request larger than a batch is sent as several calls.
    let mut vectors = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(max_batch.max(1)) {
        match backend.embed(chunk).await {
            Ok(v) => vectors.extend(v),
            Err(e) => {
                let mut texts = texts.into_iter();
                let jobs = replies
                    .into_iter()
                    .zip(counts)
                    .map(|(reply, n)| Pending {
                        texts: texts.by_ref().take(n).collect(),
                        reply,
                        queued: Instant::now(),
                    })
                    .collect();
                return Err((e, jobs));
            }
        }
    }
    let mut vectors = vectors.into_iter();
    for (reply, n) in replies.into_iter().zip(counts) {
        let _ = reply.send(Ok(vectors.by_ref().take(n).collect()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        calls: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl EmbedBackend for Counting {
        fn model(&self) -> &str {
            "count"
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    struct Picky;

    #[async_trait::async_trait]
    impl EmbedBackend for Picky {
        fn model(&self) -> &str {
            "picky"
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if texts.iter().any(|t| t == "bad") {
                return Err(Error::Upstream {
                    backend: crate::error::Backend::Embeddings,
                    status: 400,
                    message: "bad input".into(),
                    retry_after: None,
                });
            }
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[tokio::test]
    async fn one_bad_request_does_not_fail_its_batch() {
        let embedder = Embedder::spawn(
            Arc::new(Picky),
            BatchConfig {
                window: Duration::from_millis(5),
                max_batch: 64,
                max_concurrency: 1,
                bulk_max_batch: 64,
                bulk_max_concurrency: 1,
                queue: 100,
                cache: 0,
            },
        );
        let tasks: Vec<_> = ["a", "bad", "ccc", "dd"]
            .into_iter()
            .map(|t| {
                let e = embedder.clone();
                tokio::spawn(async move { e.embed(vec![t.to_owned()]).await })
            })
            .collect();
        let results: Vec<_> = futures::future::join_all(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert!(results[1].is_err());
        assert_eq!(results[0].as_ref().unwrap(), &vec![vec![1.0]]);
        assert_eq!(results[2].as_ref().unwrap(), &vec![vec![3.0]]);
        assert_eq!(results[3].as_ref().unwrap(), &vec![vec![2.0]]);
    }

    #[tokio::test]
    async fn batches_and_splits_back_in_order() {
        let backend = Arc::new(Counting {
            calls: AtomicUsize::new(0),
        });
        let embedder = Embedder::spawn(
            backend.clone(),
            BatchConfig {
                window: Duration::from_millis(5),
                max_batch: 64,
                max_concurrency: 4,
                bulk_max_batch: 64,
                bulk_max_concurrency: 1,
                queue: 1000,
                cache: 0,
            },
        );
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let e = embedder.clone();
                tokio::spawn(
                    async move { (i, e.embed(vec!["x".repeat(i), "y".repeat(i + 1)]).await) },
                )
            })
            .collect();
        for t in tasks {
            let (i, v) = t.await.unwrap();
            assert_eq!(v.unwrap(), vec![vec![i as f32], vec![(i + 1) as f32]]);
        }
        let calls = backend.calls.load(Ordering::SeqCst);
        assert!(calls < 40, "200 requests took {calls} backend calls");
        // Larger than one batch: split into several calls, order kept.
        let big: Vec<String> = (0..150).map(|i| "z".repeat(i)).collect();
        let v = embedder.embed(big).await.unwrap();
        assert_eq!(v.len(), 150);
        assert_eq!(v[149], vec![149.0]);
    }

    /// A batcher in front of a 5 ms backend with a 5 s window.
    fn long_window(max_concurrency: usize) -> Embedder {
        let backend = Arc::new(Counting {
            calls: AtomicUsize::new(0),
        });
        Embedder::spawn(
            backend,
            BatchConfig {
                window: Duration::from_secs(5),
                max_batch: 64,
                max_concurrency,
                bulk_max_batch: 64,
                bulk_max_concurrency: 1,
                queue: 100,
                cache: 0,
            },
        )
    }

    #[tokio::test]
    async fn the_window_ends_when_a_call_returns() {
        // Two slots: the second call waits for company, but only until the
        // first returns and frees its slot.
        let embedder = long_window(2);
        let first = {
            let e = embedder.clone();
            tokio::spawn(async move { e.embed(vec!["a".into()]).await })
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        let started = std::time::Instant::now();
        let second = embedder.embed(vec!["bb".into()]).await.unwrap();
        assert_eq!(second, vec![vec![2.0]]);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the batch waited {:?}",
            started.elapsed()
        );
        assert_eq!(first.await.unwrap().unwrap(), vec![vec![1.0]]);
    }

    #[tokio::test]
    async fn one_slot_sends_without_waiting() {
        let embedder = long_window(1);
        let started = std::time::Instant::now();
        assert_eq!(
            embedder.embed(vec!["abc".into()]).await.unwrap(),
            vec![vec![3.0]]
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// A backend whose every call takes 50 ms, counting the texts of bulk
    /// calls (texts starting with `bulk`).
    struct Slow {
        bulk_texts: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl EmbedBackend for Slow {
        fn model(&self) -> &str {
            "slow"
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Error> {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let bulk = texts.iter().filter(|t| t.starts_with("bulk")).count();
            self.bulk_texts.fetch_add(bulk, Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[tokio::test]
    async fn queries_never_queue_behind_bulk_work_and_bulk_work_goes_on() {
        let backend = Arc::new(Slow {
            bulk_texts: AtomicUsize::new(0),
        });
        let embedder = Embedder::spawn(
            backend.clone(),
            BatchConfig {
                window: Duration::ZERO,
                max_batch: 64,
                max_concurrency: 1,
                bulk_max_batch: 8,
                bulk_max_concurrency: 1,
                queue: 100,
                cache: 100,
            },
        );
        // 20 bulk calls' worth queued (a second of backend time).
        let bulk: Vec<_> = (0..20)
            .map(|i| {
                let e = embedder.clone();
                let texts = (0..8).map(|j| format!("bulk {i} {j}")).collect();
                tokio::spawn(async move { e.embed_as(texts, Priority::Bulk).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Queries one after another meanwhile: each takes about one call.
        let mut slowest = Duration::ZERO;
        for i in 0..6 {
            let started = std::time::Instant::now();
            embedder.embed(vec![format!("query {i}")]).await.unwrap();
            slowest = slowest.max(started.elapsed());
        }
        assert!(
            slowest < Duration::from_millis(200),
            "a query waited {slowest:?} behind bulk work"
        );
        let done_meanwhile = backend.bulk_texts.load(Ordering::SeqCst);
        assert!(done_meanwhile > 0, "bulk work starved by queries");
        for task in bulk {
            assert_eq!(task.await.unwrap().unwrap().len(), 8);
        }
        // Bulk texts are not kept in the cache: asked again, they are
        // embedded again; a query is kept.
        embedder
            .embed_as(vec!["bulk 0 0".into()], Priority::Bulk)
            .await
            .unwrap();
        assert_eq!(backend.bulk_texts.load(Ordering::SeqCst), 161);
        let before = std::time::Instant::now();
        embedder.embed(vec!["query 0".into()]).await.unwrap();
        assert!(
            before.elapsed() < Duration::from_millis(40),
            "a cached query"
        );
    }

    #[tokio::test]
    async fn repeated_short_texts_come_from_the_cache() {
        let backend = Arc::new(Counting {
            calls: AtomicUsize::new(0),
        });
        let embedder = Embedder::spawn(
            backend.clone(),
            BatchConfig {
                window: Duration::ZERO,
                max_batch: 64,
                max_concurrency: 4,
                bulk_max_batch: 64,
                bulk_max_concurrency: 1,
                queue: 100,
                cache: 100,
            },
        );
        let long = "l".repeat(CACHE_MAX_TEXT + 1);
        let first = embedder
            .embed(vec!["ab".into(), "abc".into(), long.clone()])
            .await
            .unwrap();
        assert_eq!(backend.calls.load(Ordering::SeqCst), 1);
        // Hits and a miss mixed: the miss alone goes to the backend, the
        // order is kept.
        let second = embedder
            .embed(vec!["abc".into(), "abcd".into(), "ab".into()])
            .await
            .unwrap();
        assert_eq!(second, vec![vec![3.0], vec![4.0], vec![2.0]]);
        assert_eq!(backend.calls.load(Ordering::SeqCst), 2);
        let again = embedder
            .embed(vec!["ab".into(), "abcd".into()])
            .await
            .unwrap();
        assert_eq!(again, vec![first[0].clone(), vec![4.0]]);
        assert_eq!(backend.calls.load(Ordering::SeqCst), 2, "all hits");
        // Long texts are not kept.
        embedder.embed(vec![long]).await.unwrap();
        assert_eq!(backend.calls.load(Ordering::SeqCst), 3);
    }
}
