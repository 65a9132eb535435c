//! Knowledge-graph extraction that never stalls.
//!
//! - [`parse`]: lenient parsing, normalisation and schema validation.
//! - [`prompt`]: the strict, nudge and repair messages.
//! - [`window`]: the graphs of a long context's windows merged into one.
//!
//! Each provider (a model alias) gets up to `max_attempts` attempts: strict
//! first, then nudge; an invalid answer gets one repair. Providers are
//! hedged, not tried one after the other: the next one starts when the
//! running ones have not produced a valid graph within the hedge delay, or
//! as soon as one fails. The first valid graph wins and the other calls are
//! dropped (their HTTP requests with them). Every LLM call here is a single
//! call, without the chat path's retries: the chain is the retry.

pub mod parse;
pub mod prompt;
pub mod window;

use std::future::pending;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use ragwire_schemas::graph::{Attempt, GraphData};

use ragwire_common::settings::parse as setting;

use crate::backends::llm::{ChatCall, Llm};
use crate::error::Error;
use parse::{Minimums, Rejection};
use prompt::Mode;

/// Knowledge-graph extraction (`graph.extract`, and ingest jobs with
/// `extract_graph`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Extraction")]
pub struct ExtractConfig {
    /// Model aliases tried, hedged, in this order, comma-separated; a
    /// request's `provider_chain` replaces it.
    #[arg(
        id = "extract.chain",
        long = "extract-chain",
        env = "RAGWIRE_EXTRACT_CHAIN",
        value_delimiter = ',',
        default_value = "graph-extractor"
    )]
    pub chain: Vec<String>,
    /// Start the next provider when the running ones have no valid graph
    /// after this many milliseconds.
    #[arg(
        id = "extract.hedge_delay_ms",
        long = "extract-hedge-delay-ms",
        env = "RAGWIRE_EXTRACT_HEDGE_DELAY_MS",
        default_value = "1500",
        value_parser = setting::duration_ms
    )]
    pub hedge_delay: Duration,
    /// Attempts per provider: strict, then nudge.
    #[arg(id = "extract.max_attempts", long = "extract-max-attempts",
          env = "RAGWIRE_EXTRACT_MAX_ATTEMPTS", default_value_t = 2,
          value_parser = setting::at_least_one::<u32>)]
    pub max_attempts: u32,
    /// Accept an empty graph when a request does not say (its
    /// `allow_empty`).
    #[arg(
        id = "extract.allow_empty",
        long = "extract-allow-empty",
        env = "RAGWIRE_EXTRACT_ALLOW_EMPTY",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = setting::boolean
    )]
    pub allow_empty: bool,
    /// Fewest nodes of a successful extraction.
    #[arg(
        id = "extract.min_nodes",
        long = "extract-min-nodes",
        env = "RAGWIRE_EXTRACT_MIN_NODES",
        default_value_t = 1
    )]
    pub min_nodes: usize,
    /// Fewest edges of a successful extraction.
    #[arg(
        id = "extract.min_edges",
        long = "extract-min-edges",
        env = "RAGWIRE_EXTRACT_MIN_EDGES",
        default_value_t = 1
    )]
    pub min_edges: usize,
    /// Contexts longer than this many characters are split into windows.
    #[arg(id = "extract.window_chars", long = "extract-window-chars",
          env = "RAGWIRE_EXTRACT_WINDOW_CHARS", default_value_t = 6000,
          value_parser = setting::at_least_one::<usize>)]
    pub window_chars: usize,
    /// Characters shared by neighbouring windows.
    #[arg(
        id = "extract.window_overlap",
        long = "extract-window-overlap",
        env = "RAGWIRE_EXTRACT_WINDOW_OVERLAP",
        default_value_t = 400
    )]
    pub window_overlap: usize,
    /// Windows extracted at once per request.
    #[arg(id = "extract.window_concurrency", long = "extract-window-concurrency",
          env = "RAGWIRE_EXTRACT_WINDOW_CONCURRENCY", default_value_t = 4,
          value_parser = setting::at_least_one::<usize>)]
    pub window_concurrency: usize,
    /// Longest `context` accepted, in characters (413 beyond).
    #[arg(id = "extract.max_context_chars", long = "extract-max-context-chars",
          env = "RAGWIRE_EXTRACT_MAX_CONTEXT_CHARS", default_value_t = 200_000,
          value_parser = setting::at_least_one::<usize>)]
    pub max_context_chars: usize,
    /// Aliases whose servers reject `response_format: json_object`; they
    /// get the JSON instruction only. Comma-separated.
    #[arg(
        id = "extract.no_response_format",
        long = "extract-no-response-format",
        env = "RAGWIRE_EXTRACT_NO_RESPONSE_FORMAT",
        value_delimiter = ','
    )]
    pub no_response_format: Vec<String>,
    /// Sampling temperature of extraction calls, 0 to 2.
    #[arg(id = "extract.temperature", long = "extract-temperature",
          env = "RAGWIRE_EXTRACT_TEMPERATURE", default_value_t = 0.0, value_parser = temperature)]
    pub temperature: f32,
}

ragwire_common::default_from_declarations!(ExtractConfig);

impl ExtractConfig {
    /// Fails when the chain names no model alias.
    pub fn validate(&self) -> Result<(), Error> {
        if self.chain.iter().all(|a| a.trim().is_empty()) {
            return Err(Error::config(
                "RAGWIRE_EXTRACT_CHAIN",
                "needs at least one model alias",
            ));
        }
        Ok(())
    }
}

fn temperature(s: &str) -> Result<f32, String> {
    let t: f32 = s
        .trim()
        .parse()
        .map_err(|e: std::num::ParseFloatError| e.to_string())?;
    if (0.0..=2.0).contains(&t) {
        Ok(t)
    } else {
        Err("must be 0 to 2".into())
    }
}

/// Most attempts listed in a reply.
pub const MAX_LISTED_ATTEMPTS: usize = 50;

/// One extraction, its options resolved.
#[derive(Debug, Clone)]
pub struct Task {
    /// The text to extract from.
    pub context: String,
    /// Model aliases, in order of preference.
    pub chain: Vec<String>,
    /// Attempts per provider.
    pub max_attempts: u32,
    /// What a graph must have to be accepted.
    pub min: Minimums,
    /// The first attempt is strict; otherwise every attempt is a nudge.
    pub strict: bool,
    /// An invalid answer gets one repair request.
    pub repair: bool,
}

/// A successful extraction.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// The graph, valid by construction; windows merged.
    pub graph: GraphData,
    /// The winning alias; with several windows, the winners joined by `,`.
    pub provider: String,
    /// Every attempt, at most [`MAX_LISTED_ATTEMPTS`].
    pub attempts: Vec<Attempt>,
    /// How many windows the context was split into.
    pub windows: usize,
}

/// Extracts a graph from `task.context`, window by window (concurrently,
/// bounded), and merges the windows' graphs. A 422 listing the attempts
/// when no window produced a valid graph.
pub async fn run(llm: &Llm, config: &ExtractConfig, task: &Task) -> Result<Extraction, Error> {
    let log = Log::default();
    let windows = crate::chunking::split(&task.context, config.window_chars, config.window_overlap);
    // Built first, then run bounded: a stream mapping a closure over
    // borrowed windows would not be `Send`.
    let tasks: Vec<_> = windows
        .iter()
        .enumerate()
        .map(|(i, text)| hedged(llm, config, task, i, text, &log))
        .collect();
    let results: Vec<Option<(GraphData, String)>> = futures::stream::iter(tasks)
        .buffered(config.window_concurrency.max(1))
        .collect()
        .await;
    let mut attempts = log.take();
    attempts.truncate(MAX_LISTED_ATTEMPTS);
    let mut winners: Vec<String> = Vec::new();
    let mut graphs = Vec::new();
    for (graph, provider) in results.into_iter().flatten() {
        if !winners.contains(&provider) {
            winners.push(provider);
        }
        graphs.push(graph);
    }
    if graphs.is_empty() {
        // Every provider unreachable, rate limited or failing: that is an
        // outage (retryable), not a text no model can read.
        let outage = attempts
            .iter()
            .all(|a| a.outcome == "error" || a.outcome == "cancelled");
        if let Some(error) = log.last_error().filter(|_| outage) {
            return Err(error);
        }
        // The details carry the gateway's keys too (`error`, the options in
        // force, the schema's hash), so its clients read them as before.
        return Err(Error::UnprocessableWith {
            message: format!(
                "no provider produced a valid graph ({} attempts over {})",
                attempts.len(),
                task.chain.join(", ")
            ),
            details: serde_json::json!({
                "error": "graph_extraction_failed",
                "message": "no provider produced acceptable output",
                "min_nodes": task.min.nodes,
                "min_edges": task.min.edges,
                "allow_empty": task.min.allow_empty,
                "max_attempts": task.max_attempts,
                "provider_chain": task.chain,
                "schema_hash": parse::SCHEMA_HASH.as_str(),
                "attempts": attempts,
            }),
        });
    }
    Ok(Extraction {
        graph: window::merge(graphs),
        provider: winners.join(","),
        attempts,
        windows: windows.len(),
    })
}

/// The hedged chain on one window: the first valid graph and its provider.
async fn hedged(
    llm: &Llm,
    config: &ExtractConfig,
    task: &Task,
    window: usize,
    text: &str,
    log: &Log,
) -> Option<(GraphData, String)> {
    let hedge_delay = config.hedge_delay;
    let mut running = FuturesUnordered::new();
    running.push(numbered(llm, config, task, 0, window, text, log));
    let mut next = 1;
    loop {
        let hedge = async {
            if next < task.chain.len() {
                tokio::time::sleep(hedge_delay).await
            } else {
                pending().await
            }
        };
        tokio::select! {
            Some((graph, i)) = running.next() => {
                if let Some(graph) = graph {
                    // Dropping `running` cancels the other providers' calls.
                    return Some((graph, task.chain[i].clone()));
                }
                if next < task.chain.len() {
                    running.push(numbered(llm, config, task, next, window, text, log));
                    next += 1;
                } else if running.is_empty() {
                    return None;
                }
            }
            () = hedge => {
                running.push(numbered(llm, config, task, next, window, text, log));
                next += 1;
            }
        }
    }
}

/// [`provider`] for the `i`th alias of the chain, returning `i` too.
async fn numbered(
    llm: &Llm,
    config: &ExtractConfig,
    task: &Task,
    i: usize,
    window: usize,
    text: &str,
    log: &Log,
) -> (Option<GraphData>, usize) {
    (
        provider(llm, config, task, &task.chain[i], window, text, log).await,
        i,
    )
}

/// One provider's attempts on one window. `None` when they are used up or
/// the provider fails (an HTTP error or timeout moves on at once).
async fn provider(
    llm: &Llm,
    config: &ExtractConfig,
    task: &Task,
    alias: &str,
    window: usize,
    text: &str,
    log: &Log,
) -> Option<GraphData> {
    for n in 0..task.max_attempts {
        let mode = if n == 0 && task.strict {
            Mode::Strict
        } else {
            Mode::Nudge
        };
        let pending = log.start(alias, mode, window);
        let answer = match call(llm, config, alias, prompt::extract(mode, text)).await {
            Ok(answer) => answer,
            Err(e) => {
                pending.end("error", Some(e.to_string()));
                log.failed(e);
                return None;
            }
        };
        let problem = match parse::accept(&answer, task.min) {
            Ok(graph) => {
                pending.end("ok", None);
                return Some(graph);
            }
            Err(Rejection::TooSmall(m)) => {
                pending.end("too_small", Some(m));
                continue;
            }
            Err(Rejection::Invalid(m)) => {
                pending.end("invalid", Some(m.clone()));
                m
            }
        };
        if !task.repair {
            continue;
        }
        let pending = log.start(alias, Mode::Repair, window);
        match call(llm, config, alias, prompt::repair(&answer, &problem)).await {
            Err(e) => {
                pending.end("error", Some(e.to_string()));
                log.failed(e);
                return None;
            }
            Ok(fixed) => match parse::accept(&fixed, task.min) {
                Ok(graph) => {
                    pending.end("ok", None);
                    return Some(graph);
                }
                Err(r @ Rejection::TooSmall(_)) => {
                    pending.end("too_small", Some(r.message().into()))
                }
                Err(r) => pending.end("invalid", Some(r.message().into())),
            },
        }
    }
    None
}

async fn call(
    llm: &Llm,
    config: &ExtractConfig,
    alias: &str,
    messages: Vec<ragwire_schemas::chat::ChatMessage>,
) -> Result<String, Error> {
    let completion = llm
        .complete_once(&ChatCall {
            messages,
            model: Some(alias.to_owned()),
            temperature: config.temperature,
            json_mode: true,
            response_format: !config.no_response_format.iter().any(|a| a == alias),
            max_tokens: None,
            verbatim_model: true,
        })
        .await?;
    Ok(completion.text)
}

/// The attempts of one extraction, in the order they ended, and the last
/// call error.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Attempt>>>, Arc<Mutex<Option<Error>>>);

impl Log {
    fn failed(&self, error: Error) {
        *self.1.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
    }

    fn last_error(&self) -> Option<Error> {
        self.1.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn start(&self, provider: &str, mode: Mode, window: usize) -> Pending {
        Pending {
            log: self.clone(),
            attempt: Some(Attempt {
                provider: provider.to_owned(),
                mode: mode.as_str().to_owned(),
                outcome: String::new(),
                latency_ms: 0,
                window,
                error: None,
            }),
            started: Instant::now(),
        }
    }

    fn take(&self) -> Vec<Attempt> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// An attempt in flight. Dropped before it ended, it is logged as
/// `cancelled`: another provider won first.
struct Pending {
    log: Log,
    attempt: Option<Attempt>,
    started: Instant,
}

impl Pending {
    fn end(mut self, outcome: &str, error: Option<String>) {
        self.record(outcome, error);
    }

    fn record(&mut self, outcome: &str, error: Option<String>) {
        if let Some(mut attempt) = self.attempt.take() {
            attempt.outcome = outcome.to_owned();
            attempt.error = error;
            attempt.latency_ms = self.started.elapsed().as_millis() as u64;
            self.log
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(attempt);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.record("cancelled", Some("another provider answered first".into()));
    }
}
