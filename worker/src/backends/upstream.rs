//! Calls to upstream HTTP services: the connection pool every backend
//! shares, an `async-openai` client for any OpenAI-compatible server
//! (OpenAI, LiteLLM, vLLM, Ollama, TEI), and HTTP failures turned into
//! [`Error`]s that know whether a retry can help.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use tower::ServiceBuilder;

use crate::error::{Backend, Error};

/// The client type used for chat.
pub type OpenAiClient = async_openai::Client<OpenAIConfig>;

/// The HTTP client shared by all backends (one connection pool).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("TLS backend initialises")
}

/// A non-success HTTP status, with the backend's `Retry-After` hint, captured
/// before `async-openai` discards the headers.
#[derive(Debug)]
pub struct HttpStatusError {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` hint, as seconds or an HTTP date.
    pub retry_after: Option<Duration>,
    /// The body, as text.
    pub body: String,
}

impl std::fmt::Display for HttpStatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.body)
    }
}

impl std::error::Error for HttpStatusError {}

type StatusFuture = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

fn status_to_error(response: reqwest::Response) -> StatusFuture {
    Box::pin(async move {
        check_status(response)
            .await
            .map_err(|e| OpenAIError::Boxed(Box::new(e)))
    })
}

/// The response when its status is a success; otherwise the status, the
/// `Retry-After` hint and the body.
pub async fn check_status(
    response: reqwest::Response,
) -> Result<reqwest::Response, HttpStatusError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = response.text().await.unwrap_or_default();
    Err(HttpStatusError {
        status,
        retry_after,
        body,
    })
}

/// `Retry-After` as seconds (integer or decimal) or as an HTTP date, at most
/// a day; a date already past means at once.
fn parse_retry_after(value: &str) -> Option<Duration> {
    const DAY: Duration = Duration::from_secs(86_400);
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds >= 0.0)
            .then(|| Duration::try_from_secs_f64(seconds).unwrap_or(DAY).min(DAY));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Some(wait.min(DAY))
}

/// The `async-openai` configuration of a server at `base_url` (including
/// `/v1`).
pub fn config(base_url: &str, api_key: Option<&str>) -> OpenAIConfig {
    OpenAIConfig::new()
        .with_api_base(base_url.trim_end_matches('/'))
        .with_api_key(api_key.unwrap_or_default())
}

/// A client for `config`'s server, sharing `http`'s connection pool.
pub fn client(config: OpenAIConfig, http: reqwest::Client) -> OpenAiClient {
    let service = ServiceBuilder::new()
        .and_then(status_to_error as fn(reqwest::Response) -> StatusFuture)
        .service(ReqwestService::new(http));
    async_openai::Client::with_config(config).with_http_service(service)
}

/// Maps a failed call on `backend` to an [`Error`].
pub fn map_error(backend: &Backend, err: OpenAIError) -> Error {
    match err {
        OpenAIError::Boxed(inner) => match inner.downcast::<HttpStatusError>() {
            Ok(status) => status_error(backend, *status),
            Err(other) => match other.downcast::<reqwest::Error>() {
                Ok(e) => transport_error(backend, &e),
                Err(other) => Error::Unavailable {
                    backend: backend.clone(),
                    message: other.to_string(),
                },
            },
        },
        OpenAIError::ApiError(api) => Error::Upstream {
            backend: backend.clone(),
            status: api.status_code.as_u16(),
            message: api.api_error.message,
            retry_after: None,
        },
        // The only reqwest timeout set is the connect timeout: a backend
        // that cannot be reached (503, retried), not a slow answer.
        OpenAIError::Reqwest(e) => transport_error(backend, &e),
        OpenAIError::JSONDeserialize(e, content) => Error::Upstream {
            backend: backend.clone(),
            status: 200,
            message: format!("unreadable reply ({e}): {}", truncate(&content, 200)),
            retry_after: None,
        },
        other => Error::Internal(format!("{backend}: {other}")),
    }
}

/// The [`Error`] for a non-success status from `backend`.
pub fn status_error(backend: &Backend, e: HttpStatusError) -> Error {
    if e.status == 429 {
        return Error::RateLimited {
            backend: backend.clone(),
            retry_after: e.retry_after,
        };
    }
    // OpenAI-style bodies carry {"error": {"message": ...}}; others are text.
    let message = serde_json::from_str::<serde_json::Value>(&e.body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error"))
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| truncate(&e.body, 300).to_owned());
    Error::Upstream {
        backend: backend.clone(),
        status: e.status,
        message,
        retry_after: e.retry_after,
    }
}

/// A failed HTTP exchange. Only a refused connection is safe to repeat: any
/// later failure may have reached the backend already.
pub fn transport_error(backend: &Backend, e: &reqwest::Error) -> Error {
    if e.is_connect() {
        Error::Unavailable {
            backend: backend.clone(),
            message: error_chain(e),
        }
    } else {
        Error::Upstream {
            backend: backend.clone(),
            status: 0,
            message: format!("the exchange failed: {}", error_chain(e)),
            retry_after: None,
        }
    }
}

/// The error and its sources, e.g. "error sending request: connection refused".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// At most `max` bytes of `s`, cut on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date past"
        );
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        let wait = parse_retry_after(&soon).expect("a date");
        assert!(
            wait > Duration::from_secs(27) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("1e20"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_retry_after("NaN"), None);
    }

    #[test]
    fn status_errors_keep_message_and_hint() {
        let e = status_error(
            &Backend::Reranker,
            HttpStatusError {
                status: 503,
                retry_after: Some(Duration::from_secs(1)),
                body: r#"{"error":{"message":"overloaded"}}"#.into(),
            },
        );
        assert!(e.to_string().contains("overloaded"));
        assert_eq!(
            e.retry(),
            crate::error::Retry::After(Some(Duration::from_secs(1)))
        );
        let e = status_error(
            &Backend::Reranker,
            HttpStatusError {
                status: 429,
                retry_after: None,
                body: String::new(),
            },
        );
        assert_eq!(e.to_body().code, 429);
    }

    #[test]
    fn truncate_respects_chars() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
