//! One request and its reply: the caller's deadline and the time it waited
//! checked before it starts (504 when nobody waits for it any more, 503
//! when it waited too long), size limit, deadline and panic guard around
//! the handler, the reply or error reply sent, the outcome counted and
//! logged.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime};

use async_nats::service::Request;
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::FutureExt;
use ragwire_schemas::{headers, ErrorReply, Subject, TenantId};

use super::error_reply::{error_reply, header_value, HEADER_ROOM};
use super::shared::Shared;
use super::stream;
use crate::error::{Backend, Error};
use crate::handlers::{dispatch, Reply};
use crate::state::State;
use crate::waiting;

pub(super) async fn respond(shared: &Shared, subject: Subject, request: Request) {
    let (state, max_payload) = (&shared.state, shared.max_payload);
    let started = Instant::now();
    let request_id = request
        .message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::REQUEST_ID))
        .map(|v| v.as_str().to_owned());
    let series = crate::metrics::get().subject(subject);
    let timing = Timing::of(request.message.headers.as_ref(), SystemTime::now());
    if let Some(waited) = timing.waited {
        series.wait.observe(waited.as_secs_f64());
    }
    let admitted = timing.admit(&state.config.limits);
    if let Err(refusal) = &admitted {
        shared.counters.refused(subject, refusal);
    }
    let _in_flight = InFlight::enter(&series.in_flight);
    let result = match admitted {
        Ok(budget) => match tenant_of(state, &request) {
            Ok(None) => run(state, subject, &request.message.payload, budget).await,
            Ok(Some(tenant)) => {
                let state = shared.tenant_state(&tenant);
                run(&state, subject, &request.message.payload, budget).await
            }
            Err(e) => Err(e),
        },
        Err(refusal) => Err(refusal.into_error()),
    };
    let result = match result {
        Ok(Reply::Stream(chunks)) => {
            let deadline = started + state.config.limits.request_timeout;
            // Boxed: a stream's state stays out of every request's future,
            // which is moved at each request.
            let code = Box::pin(stream::serve(shared, &request, chunks, deadline.into())).await;
            shared.counters.count(subject, code, started);
            let request_id = request_id.as_deref().unwrap_or("-");
            let seconds = started.elapsed().as_secs_f64();
            tracing::debug!(%subject, request_id, seconds, code, "stream ended");
            return;
        }
        Ok(Reply::Whole(body)) => Ok(body),
        Err(e) => Err(e),
    };
    let mut reply_headers = HeaderMap::new();
    if let Some(id) = &request_id {
        reply_headers.insert(headers::REQUEST_ID, id.as_str());
    }
    ragwire_client::trace::inject_reply(&mut reply_headers);
    // The server's limit counts headers too; keep room for the error headers.
    let room = max_payload.saturating_sub(HEADER_ROOM);
    let result = result.and_then(|body| {
        if max_payload > 0 && body.len() > room {
            Err(Error::TooLarge {
                what: "the reply size in bytes".into(),
                size: body.len(),
                limit: room,
            })
        } else {
            Ok(body)
        }
    });
    let (body, code, backend) = match result {
        Ok(body) => (body, 200, None),
        Err(err) => {
            crate::metrics::get().failed(&err);
            let (body, code) = error_reply(&err, &mut reply_headers);
            (body, code, err.backend().map(ToString::to_string))
        }
    };
    shared.counters.count(subject, code, started);
    let latency_ms = started.elapsed().as_secs_f64() * 1e3;
    let request_id = request_id.as_deref().unwrap_or("-");
    match code {
        200 => tracing::debug!(%subject, request_id, latency_ms, code, "handled"),
        c if c >= 500 => {
            let backend = backend.as_deref().unwrap_or("-");
            tracing::warn!(%subject, request_id, latency_ms, code, backend, "failed")
        }
        _ => tracing::info!(%subject, request_id, latency_ms, code, "rejected"),
    }
    if request.message.reply.is_none() {
        tracing::info!(%subject, request_id, "request had no reply subject; nothing sent");
        return;
    }
    if let Err(e) = request.respond_with_headers(Ok(body), reply_headers).await {
        tracing::warn!(%subject, request_id, error = %e, "could not send reply");
        // Still answer, so the caller does not wait for its timeout.
        let error = Error::Internal(format!("the reply could not be sent: {e}")).to_body();
        let mut fallback = HeaderMap::new();
        fallback.insert(
            headers::SERVICE_ERROR,
            header_value(&error.message).as_str(),
        );
        fallback.insert(headers::SERVICE_ERROR_CODE, "500");
        let body = serde_json::to_vec(&ErrorReply::from(error)).unwrap_or_default();
        let _ = request
            .respond_with_headers(Ok(body.into()), fallback)
            .await;
    }
}

/// A request counted in its subject's in-flight gauge until dropped,
/// however it ends (a dropped task included).
struct InFlight<'a>(&'a prometheus::IntGauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a prometheus::IntGauge) -> InFlight<'a> {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What a request's headers say of its time, read at `now`: when its
/// caller stops waiting, and how long it has waited since it was sent.
struct Timing {
    now: SystemTime,
    deadline: Option<SystemTime>,
    waited: Option<Duration>,
}

/// Why a request is not started.
pub(super) enum Refusal {
    /// Its caller's deadline passed, `late` ago: nobody waits for it (504).
    Expired { late: Duration },
    /// It waited `waited` since it was sent, over the bound (503).
    Shed { waited: Duration, bound: Duration },
}

impl Refusal {
    fn into_error(self) -> Error {
        match self {
            Refusal::Expired { late } => Error::Expired { late },
            Refusal::Shed { waited, bound } => Error::Unavailable {
                backend: Backend::Worker,
                message: format!(
                    "the request waited {} ms before a worker could start it, over the bound of {} ms \
                     (RAGWIRE_LIMITS_MAX_WAIT_MS): the workers are saturated; try again",
                    waited.as_millis(),
                    bound.as_millis()
                ),
            },
        }
    }
}

impl Timing {
    fn of(headers: Option<&HeaderMap>, now: SystemTime) -> Timing {
        let at = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .and_then(|v| headers::parse_epoch_millis(v.as_str()))
        };
        Timing {
            now,
            deadline: at(headers::DEADLINE),
            waited: at(headers::SENT_AT).map(|sent| now.duration_since(sent).unwrap_or_default()),
        }
    }

    /// The time the request may take, or why it is not started: its
    /// deadline passed, or it waited too long.
    fn admit(&self, limits: &crate::config::Limits) -> Result<Duration, Refusal> {
        let mut budget = limits.request_timeout;
        if let Some(deadline) = self.deadline {
            match deadline.duration_since(self.now) {
                Ok(left) if !left.is_zero() => budget = budget.min(left),
                Ok(_) => {
                    return Err(Refusal::Expired {
                        late: Duration::ZERO,
                    })
                }
                Err(e) => return Err(Refusal::Expired { late: e.duration() }),
            }
        }
        if let (Some(waited), false) = (self.waited, limits.max_wait.is_zero()) {
            if waited > limits.max_wait {
                return Err(Refusal::Shed {
                    waited,
                    bound: limits.max_wait,
                });
            }
        }
        Ok(budget)
    }
}

/// The tenant a request arrived for, from its subject; `None` for
/// `default` (the state as it is).
fn tenant_of(state: &State, request: &Request) -> Result<Option<TenantId>, Error> {
    let subject = request.message.subject.as_str();
    match TenantId::of_subject(subject, &state.config.common.prefix) {
        Some(tenant) if tenant.is_default() => Ok(None),
        Some(tenant) => Ok(Some(tenant)),
        None => Err(Error::bad_request(format!(
            "`{subject}` names no tenant: a tenant id is 1 to {} lowercase letters and digits",
            ragwire_schemas::tenant::MAX_TENANT_LEN
        ))),
    }
}

/// Size limit, deadline and panic guard around one handler call, which may
/// take `budget`.
async fn run(
    state: &State,
    subject: Subject,
    payload: &Bytes,
    budget: Duration,
) -> Result<Reply, Error> {
    let limit = state.config.limits.max_request_bytes;
    if payload.len() > limit {
        return Err(Error::TooLarge {
            what: "the request size in bytes".into(),
            size: payload.len(),
            limit,
        });
    }
    let deadline = budget;
    let work = AssertUnwindSafe(dispatch(state, subject, payload)).catch_unwind();
    match waiting::until(deadline, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(_panic)) => {
            tracing::error!(%subject, "handler panicked");
            Err(Error::Internal(format!(
                "the {subject} handler failed unexpectedly"
            )))
        }
        // The backend being waited on is the one that ran out the clock.
        Err(waited_on) => Err(Error::Timeout {
            backend: waited_on.unwrap_or(Backend::Worker),
            after: deadline,
        }),
    }
}
