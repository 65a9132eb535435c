//! The one retry loop for backend calls. Errors say whether a retry can help
//! ([`Error::retry`]); this loop decides how often and how long to wait.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use ragwire_common::settings::parse;

use crate::error::{Error, Retry};

/// How backend calls (LLM, embeddings, reranker, a Qdrant cluster) are
/// retried.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Retries")]
pub struct RetryConfig {
    /// Retries of a backend call (per LLM provider, embeddings, reranker)
    /// on 429, 5xx and refused connections, and of a Qdrant call while a
    /// node or replica of its cluster is down.
    #[arg(
        id = "retry.max_retries",
        long = "retry-max-retries",
        env = "RAGWIRE_RETRY_MAX_RETRIES",
        default_value_t = 2
    )]
    pub max_retries: u32,
    /// A `Retry-After` longer than this many milliseconds is not waited
    /// for: the call fails (an LLM call skips to the next provider).
    #[arg(
        id = "retry.max_retry_after_ms",
        long = "retry-max-retry-after-ms",
        env = "RAGWIRE_RETRY_MAX_RETRY_AFTER_MS",
        default_value = "10000",
        value_parser = parse::duration_ms
    )]
    pub max_retry_after: Duration,
    /// First backoff step, in milliseconds, when the backend gives no
    /// `Retry-After`; doubles each retry, with jitter.
    #[arg(
        id = "retry.backoff_ms",
        long = "retry-backoff-ms",
        env = "RAGWIRE_RETRY_BACKOFF_MS",
        default_value = "200",
        value_parser = parse::duration_ms
    )]
    pub backoff: Duration,
}

ragwire_common::default_from_declarations!(RetryConfig);

/// The backoff step before retry `attempt` (0 for the first retry): `first`
/// doubled `attempt` times, at most `max`. The one formula for backend
/// calls (with jitter on top) and job redeliveries.
pub fn backoff(first: Duration, attempt: u32, max: Duration) -> Duration {
    first
        .saturating_mul(2u32.saturating_pow(attempt.min(31)))
        .min(max)
}

/// How many times and how patiently to retry one backend.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff step; doubles each retry, with jitter.
    pub backoff: Duration,
    /// Longest backoff step.
    pub max_backoff: Duration,
    /// A backend asking to wait longer than this is given up on at once.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The policy configured for backend calls (LLM, embeddings, reranker).
    pub fn from_config(config: &RetryConfig) -> RetryPolicy {
        RetryPolicy {
            max_retries: config.max_retries,
            backoff: config.backoff,
            max_backoff: Duration::from_secs(8),
            max_retry_after: config.max_retry_after,
        }
    }

    fn delay(&self, attempt: u32, hint: Option<Duration>) -> Option<Duration> {
        match hint {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => {
                let jitter = rand::rng().random_range(0.5..1.0);
                Some(backoff(self.backoff, attempt, self.max_backoff).mul_f64(jitter))
            }
        }
    }

    /// Runs `op` until it succeeds, fails for good, or retries run out.
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        self.run_when(op, |err: &Error| err.retry()).await
    }

    /// Like [`RetryPolicy::run`], for calls whose errors `retry` judges
    /// (those of a client library, before they become an [`Error`]).
    pub async fn run_when<T, E, F, Fut>(
        &self,
        mut op: F,
        retry: impl Fn(&E) -> Retry,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 0;
        loop {
            let err = match op().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let Retry::After(hint) = retry(&err) else {
                return Err(err);
            };
            if attempt >= self.max_retries {
                return Err(err);
            }
            let Some(delay) = self.delay(attempt, hint) else {
                return Err(err);
            };
            tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Backend;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            max_retry_after: Duration::from_millis(50),
        }
    }

    fn busy(retry_after: Option<Duration>) -> Error {
        Error::RateLimited {
            backend: Backend::Reranker,
            retry_after,
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let ms = Duration::from_millis;
        assert_eq!(backoff(ms(100), 0, ms(1000)), ms(100));
        assert_eq!(backoff(ms(100), 3, ms(1000)), ms(800));
        assert_eq!(backoff(ms(100), 4, ms(1000)), ms(1000));
        assert_eq!(backoff(ms(100), u32::MAX, ms(1000)), ms(1000));
    }

    #[tokio::test]
    async fn retries_transient_then_gives_up() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = policy()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(busy(None))
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn aborts_on_permanent_and_long_retry_after() {
        let calls = AtomicU32::new(0);
        let _ = policy()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::bad_request("no"))
            })
            .await;
        let _ = policy()
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(busy(Some(Duration::from_secs(60))))
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn succeeds_after_retry() {
        let calls = AtomicU32::new(0);
        let r = policy()
            .run(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(busy(Some(Duration::from_millis(1))))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
    }
}
