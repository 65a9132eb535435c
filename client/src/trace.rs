//! W3C trace context (`traceparent`, `tracestate`) on NATS messages, so a
//! request's spans in the producer, the client, the worker and its backend
//! calls form one trace. Off until [`enable`] is called (by the binaries'
//! telemetry set-up when an OTLP endpoint is configured): nothing is made
//! and nothing is added to messages until then.
//!
//! Spans are OpenTelemetry spans, made through the tracer given to
//! [`enable`]; the current one travels with a future ([`within`]), moved
//! into place at each poll, not cloned. Sampling is decided once, at a
//! trace's root ([`Roots`]), as parent-based samplers do: in a trace
//! sampled out no span is made at all ([`start`], [`child`]), and its
//! context is still carried on (flag `00`) so that every service agrees.
//! Names and attributes are only built for spans the tracer is asked for
//! and, when it samples by itself, only for those it records; the W3C
//! headers are written and read here, without the SDK's propagator, which
//! formats and allocates on every message. A future run [`within`] a
//! context sees it here, not through OpenTelemetry's `Context::current`;
//! outside any, OpenTelemetry's current context is the parent.
//!
//! Spans follow OpenTelemetry's messaging conventions: `send {subject}`
//! (kind producer) around a request, `process {subject}` (kind consumer)
//! around its handling, with `messaging.system = nats`,
//! `messaging.destination.name` and `messaging.operation.type`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::OnceLock;
use std::task::Poll;

use async_nats::header::HeaderName;
use async_nats::HeaderMap;
use opentelemetry::global::BoxedTracer;
pub use opentelemetry::trace::SpanKind;
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
pub use opentelemetry::{Context, KeyValue};

/// How the root of a trace begun here is sampled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Roots {
    /// The tracer's sampler decides, on a span it makes.
    Tracer,
    /// Sampled with this probability (a random draw per root), decided
    /// here before the tracer is asked: a root sampled out costs no span
    /// of the tracer's, only its context (flag `00`). The tracer must then
    /// sample every root it is given (a parent-based sampler over
    /// always-on).
    Ratio(f64),
}

/// What makes spans, given by the process's tracing set-up
/// (`ragwire_common::telemetry`), so this crate needs no OpenTelemetry
/// SDK.
struct Tracing {
    tracer: BoxedTracer,
    roots: Roots,
}

static ON: OnceLock<Tracing> = OnceLock::new();

/// Turns traces on for the process, once: spans are made by `tracer`, and
/// the roots of traces begun here sampled as `roots` says.
pub fn enable(tracer: BoxedTracer, roots: Roots) {
    let _ = ON.set(Tracing { tracer, roots });
}

/// Whether traces are on in this process.
pub fn enabled() -> bool {
    ON.get().is_some()
}

// The W3C trace context headers. Names made once: a name given as `&str`
// is copied at every lookup.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Writes `context` into `headers` as `traceparent` (version 00) and,
/// when it has one, `tracestate`.
fn write(context: &SpanContext, headers: &mut HeaderMap) {
    let mut value = String::with_capacity(55);
    value.push_str("00-");
    push_hex(&mut value, &context.trace_id().to_bytes());
    value.push('-');
    push_hex(&mut value, &context.span_id().to_bytes());
    value.push_str(if context.is_sampled() { "-01" } else { "-00" });
    headers.insert(TRACEPARENT, value);
    // An empty `tracestate` says nothing: not sent.
    let state = context.trace_state().header();
    if !state.is_empty() {
        headers.insert(TRACESTATE, state);
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

/// The span context `headers` carry, when their `traceparent` is valid.
fn read(headers: &HeaderMap) -> Option<SpanContext> {
    let (trace_id, span_id, flags) = parse_traceparent(headers.get(TRACEPARENT)?.as_str())?;
    // An invalid `tracestate` is dropped, the `traceparent` kept.
    let state = headers
        .get(TRACESTATE)
        .and_then(|v| TraceState::from_str(v.as_str()).ok())
        .unwrap_or_default();
    let context = SpanContext::new(trace_id, span_id, flags, true, state);
    context.is_valid().then_some(context)
}

/// A `traceparent` header's trace id, parent id and flags (the sampled bit
/// only), as the W3C Trace Context recommendation reads it: lower-case
/// hex; version `ff` invalid; version 00 exactly 55 characters; a later
/// version read for its first four fields, more allowed after a `-`.
fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId, TraceFlags)> {
    let b = value.trim().as_bytes();
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let version = hex_array::<1>(&b[0..2])?[0];
    let rest_ok = match version {
        0xff => false,
        0 => b.len() == 55,
        _ => b.len() == 55 || b[55] == b'-',
    };
    if !rest_ok {
        return None;
    }
    let trace_id = TraceId::from_bytes(hex_array(&b[3..35])?);
    let span_id = SpanId::from_bytes(hex_array(&b[36..52])?);
    let flags = hex_array::<1>(&b[53..55])?[0];
    Some((
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
    ))
}

/// `N` bytes from `2 * N` lower-case hex digits.
fn hex_array<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    fn digit(d: u8) -> Option<u8> {
        match d {
            b'0'..=b'9' => Some(d - b'0'),
            b'a'..=b'f' => Some(d - b'a' + 10),
            _ => None,
        }
    }
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

thread_local! {
    /// The context of the traced future ([`within`]) being polled on this
    /// thread; `None` outside any.
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Calls `f` with the current context: the traced future's being polled,
/// or outside any, OpenTelemetry's own (an application's that uses this
/// crate within its own spans; empty when it has none).
fn with_current<R>(f: impl FnOnce(&Context) -> R) -> R {
    CURRENT.with_borrow(|current| match current {
        Some(cx) => f(cx),
        None => f(&Context::current()),
    })
}

/// Writes the current trace context into `headers` (sampled or not), when
/// traces are on and there is one.
pub fn inject(headers: &mut HeaderMap) {
    if ON.get().is_some() {
        with_current(|cx| inject_context(cx, headers));
    }
}

fn inject_context(cx: &Context, headers: &mut HeaderMap) {
    let span = cx.span();
    let context = span.span_context();
    if context.is_valid() {
        write(context, headers);
    }
}

/// Writes the current trace context into a reply's `headers`, when it is
/// sampled: a reply goes back to a caller that knows its own context, and
/// the id of a trace nobody records tells it nothing.
pub fn inject_reply(headers: &mut HeaderMap) {
    if ON.get().is_some() {
        with_current(|cx| {
            let span = cx.span();
            let context = span.span_context();
            if context.is_sampled() {
                write(context, headers);
            }
        });
    }
}

/// The trace context `headers` carry, as the parent of what handles them:
/// an empty context when they carry none or traces are off.
pub fn extract(headers: Option<&HeaderMap>) -> Context {
    match ON.get().and(headers).and_then(read) {
        Some(context) => Context::new().with_remote_span_context(context),
        None => Context::new(),
    }
}

/// The trace id of the current span (32 hex digits), when traces are on.
pub fn current_trace_id() -> Option<String> {
    with_current(trace_id)
}

/// The trace id of `cx`'s span (32 hex digits), when it has one.
pub fn trace_id(cx: &Context) -> Option<String> {
    let span = cx.span();
    let id = span.span_context();
    id.is_valid().then(|| id.trace_id().to_string())
}

/// A span of `kind`, child of `parent`, as the context of what it covers;
/// `None` when traces are off. A root is sampled as [`enable`] was told;
/// a parent that is sampled out is returned as it is, no span made (its
/// context is all that is passed on). `describe` (the span's name and
/// attributes) is called only for a span the tracer is asked for (with
/// [`Roots::Tracer`], only once it records it). The span ends when the
/// last clone of the context is dropped.
pub fn start(
    parent: &Context,
    kind: SpanKind,
    describe: impl FnOnce() -> (Cow<'static, str>, Vec<KeyValue>),
) -> Option<Context> {
    let on = ON.get()?;
    let span = parent.span();
    let context = span.span_context();
    if context.is_valid() {
        if !context.is_sampled() {
            return Some(parent.clone());
        }
    } else if let Roots::Ratio(ratio) = on.roots {
        // NaN samples nothing, as the SDK's ratio sampler.
        let sampled = ratio >= 1.0 || rand::random::<f64>() < ratio;
        if !sampled {
            return Some(parent.with_remote_span_context(unsampled_root()));
        }
    }
    let span = match on.roots {
        // Every span that reaches the tracer is recorded: described up
        // front, its attributes handed over in one piece.
        Roots::Ratio(_) => {
            let (name, attributes) = describe();
            let builder = SpanBuilder::from_name(name)
                .with_kind(kind)
                .with_attributes(attributes);
            on.tracer.build_with_context(builder, parent)
        }
        // Named once recorded: the name costs an allocation the samplers
        // here do not read.
        Roots::Tracer => {
            let builder = SpanBuilder::from_name("span").with_kind(kind);
            let mut span = on.tracer.build_with_context(builder, parent);
            if span.is_recording() {
                let (name, attributes) = describe();
                span.update_name(name);
                span.set_attributes(attributes);
            }
            span
        }
    };
    Some(parent.with_span(span))
}

/// The context of a new trace sampled out: new ids, flag `00`, so that
/// every service it reaches agrees and makes no span.
fn unsampled_root() -> SpanContext {
    // Zero is no id: drawn again (one chance in 2^64 or more).
    let trace_id = std::iter::repeat_with(rand::random::<u128>).find(|id| *id != 0);
    let span_id = std::iter::repeat_with(rand::random::<u64>).find(|id| *id != 0);
    SpanContext::new(
        TraceId::from(trace_id.unwrap_or(1)),
        SpanId::from(span_id.unwrap_or(1)),
        TraceFlags::NOT_SAMPLED,
        false,
        TraceState::NONE,
    )
}

/// A span of `kind` in the current trace, for a piece of work that passes
/// no context on (a backend call): `None` when traces are off or the
/// current trace is sampled out, since a sampled-out parent's children are
/// sampled out too and need not be made.
pub fn child(
    kind: SpanKind,
    describe: impl FnOnce() -> (Cow<'static, str>, Vec<KeyValue>),
) -> Option<Context> {
    ON.get()?;
    with_current(|parent| {
        if sampled_out(parent) {
            None
        } else {
            start(parent, kind, describe)
        }
    })
}

/// Whether `cx` is part of a trace that was sampled out.
fn sampled_out(cx: &Context) -> bool {
    let span = cx.span();
    let context = span.span_context();
    context.is_valid() && !context.is_sampled()
}

/// Sets an attribute of `cx`'s span, when it is recorded.
pub fn record(cx: Option<&Context>, attribute: KeyValue) {
    if let Some(cx) = cx {
        let span = cx.span();
        if span.is_recording() {
            span.set_attribute(attribute);
        }
    }
}

/// Runs `work` with `cx` as the current context (at every poll), or as it
/// is without one.
pub fn within<F: Future>(cx: Option<Context>, work: F) -> Traced<F> {
    Traced { work, cx }
}

pin_project_lite::pin_project! {
    /// A future run with a context of its own as the current one
    /// ([`within`]).
    pub struct Traced<F> {
        // Declared first, dropped first: spans the work holds end before
        // the one around it.
        #[pin]
        work: F,
        cx: Option<Context>,
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if this.cx.is_none() {
            return this.work.poll(task);
        }
        // The context is moved in for the poll and back out after it (or
        // when it unwinds), not cloned: the outer one waits in its place.
        let _entered = Entered::swap(this.cx);
        this.work.poll(task)
    }
}

/// A context swapped in as the current one, swapped back out when dropped.
struct Entered<'a>(&'a mut Option<Context>);

impl<'a> Entered<'a> {
    fn swap(cx: &'a mut Option<Context>) -> Self {
        CURRENT.with_borrow_mut(|current| std::mem::swap(current, cx));
        Entered(cx)
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        CURRENT.with_borrow_mut(|current| std::mem::swap(current, self.0));
    }
}

/// A span's name: `operation` then `subject` (`format!` costs several times
/// more, at every recorded span).
fn named(operation: &str, subject: &str) -> Cow<'static, str> {
    let mut name = String::with_capacity(operation.len() + subject.len());
    name.push_str(operation);
    name.push_str(subject);
    name.into()
}

/// The messaging attributes of a NATS span.
fn messaging(operation: &'static str, subject: &str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("messaging.system", "nats"),
        KeyValue::new("messaging.operation.type", operation),
        KeyValue::new("messaging.destination.name", subject.to_owned()),
    ]
}

/// The `send {subject}` span of a request about to be published, child of
/// the current context; `None` when traces are off.
pub fn send_span(subject: &str) -> Option<Context> {
    ON.get()?;
    with_current(|parent| {
        start(parent, SpanKind::Producer, || {
            (named("send ", subject), messaging("send", subject))
        })
    })
}

/// The `process {subject}` span of a message being handled, child of the
/// trace its headers carry (a root when they carry none); `None` when
/// traces are off.
pub fn process_span(subject: &str, headers: Option<&HeaderMap>) -> Option<Context> {
    ON.get()?;
    start(&extract(headers), SpanKind::Consumer, || {
        (named("process ", subject), messaging("process", subject))
    })
}

/// Writes `cx`'s trace context into `headers`: [`inject`] for a context
/// that is not (yet) the current one.
pub fn inject_from(cx: Option<&Context>, headers: &mut HeaderMap) {
    if let (Some(_), Some(cx)) = (ON.get(), cx) {
        inject_context(cx, headers);
    }
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;

    use futures::FutureExt;
    use opentelemetry::trace::noop::NoopTracer;

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn remote(trace: &str, span: &str, sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::NOT_SAMPLED
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex(trace).unwrap(),
            SpanId::from_hex(span).unwrap(),
            flags,
            true,
            TraceState::NONE,
        ))
    }

    #[test]
    fn traceparent_is_read_as_the_recommendation_says() {
        let ok = |v: &str| parse_traceparent(v).map(|(t, s, f)| (t.to_string(), s.to_string(), f));
        let sampled = Some((TRACE.to_owned(), SPAN.to_owned(), TraceFlags::SAMPLED));
        assert_eq!(ok(&format!("00-{TRACE}-{SPAN}-01")), sampled);
        assert_eq!(ok(&format!(" 00-{TRACE}-{SPAN}-01 ")), sampled);
        // Only the sampled bit of the flags is kept.
        assert_eq!(ok(&format!("00-{TRACE}-{SPAN}-03")), sampled);
        assert_eq!(
            ok(&format!("00-{TRACE}-{SPAN}-00")).map(|(.., f)| f),
            Some(TraceFlags::NOT_SAMPLED)
        );
        // A later version: its first four fields, more after a dash.
        assert_eq!(ok(&format!("01-{TRACE}-{SPAN}-01")), sampled);
        assert_eq!(
            ok(&format!("cc-{TRACE}-{SPAN}-01-what-comes-next")),
            sampled
        );
        for bad in [
            String::new(),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("cc-{TRACE}-{SPAN}-01x"),
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
            format!("00-{TRACE}-{SPAN}-0g"),
            format!("00-{}-{SPAN}-01", &TRACE[1..]),
            format!("00-{TRACE}0-{SPAN}-1"),
            format!("00_{TRACE}-{SPAN}-01"),
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01".to_owned(),
        ] {
            assert_eq!(ok(&bad), None, "{bad:?}");
        }
        // All-zero ids are no ids.
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, format!("00-{}-{SPAN}-01", "0".repeat(32)));
        assert!(read(&headers).is_none());
        headers.insert(TRACEPARENT, format!("00-{TRACE}-{}-01", "0".repeat(16)));
        assert!(read(&headers).is_none());
    }

    #[test]
    fn what_is_written_is_read_back() {
        for (sampled, state) in [
            (true, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
            (false, ""),
        ] {
            let context = SpanContext::new(
                TraceId::from_hex(TRACE).unwrap(),
                SpanId::from_hex(SPAN).unwrap(),
                if sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::NOT_SAMPLED
                },
                false,
                TraceState::from_str(state).unwrap(),
            );
            let mut headers = HeaderMap::new();
            write(&context, &mut headers);
            let flag = if sampled { "01" } else { "00" };
            assert_eq!(
                headers.get("traceparent").unwrap().as_str(),
                format!("00-{TRACE}-{SPAN}-{flag}")
            );
            // An empty `tracestate` is not sent.
            assert_eq!(headers.get("tracestate").is_some(), !state.is_empty());
            let back = read(&headers).unwrap();
            assert_eq!(back.trace_id(), context.trace_id());
            assert_eq!(back.span_id(), context.span_id());
            assert_eq!(back.is_sampled(), sampled);
            assert!(back.is_remote());
            assert_eq!(back.trace_state().header(), state);
        }
        // An invalid `tracestate` is dropped, the `traceparent` kept.
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, format!("00-{TRACE}-{SPAN}-01"));
        headers.insert(TRACESTATE, "not a list member");
        let back = read(&headers).unwrap();
        assert_eq!(back.trace_state().header(), "");
    }

    #[test]
    fn the_current_context_is_the_innermost_traced_future() {
        let other = "0af7651916cd43dd8448eb211c80319c";
        let outer = within(Some(remote(TRACE, SPAN, true)), async {
            assert_eq!(current_trace_id().as_deref(), Some(TRACE));
            within(Some(remote(other, SPAN, true)), async {
                assert_eq!(current_trace_id().as_deref(), Some(other));
                tokio::task::yield_now().await;
                assert_eq!(current_trace_id().as_deref(), Some(other));
            })
            .await;
            // No context of its own: the one around it.
            within(None, async {
                tokio::task::yield_now().await;
                assert_eq!(current_trace_id().as_deref(), Some(TRACE));
            })
            .await;
            tokio::task::yield_now().await;
            assert_eq!(current_trace_id().as_deref(), Some(TRACE));
        });
        futures::executor::block_on(outer);
        assert_eq!(current_trace_id(), None, "nothing left behind");
        // Nor when a poll unwinds.
        let panics = within(Some(remote(TRACE, SPAN, true)), async {
            panic!("in a traced future");
        });
        let unwound = futures::executor::block_on(AssertUnwindSafe(panics).catch_unwind());
        assert!(unwound.is_err());
        assert_eq!(current_trace_id(), None);
    }

    #[test]
    fn roots_sampled_out_here_carry_new_ids_with_flag_00() {
        // Traces on in this test process: every root sampled out.
        enable(
            BoxedTracer::new(Box::new(NoopTracer::new())),
            Roots::Ratio(0.0),
        );
        let mut described = false;
        let roots: Vec<Context> = (0..2)
            .map(|_| {
                start(&Context::new(), SpanKind::Consumer, || {
                    described = true;
                    ("never".into(), Vec::new())
                })
                .unwrap()
            })
            .collect();
        assert!(!described, "a span sampled out is not described");
        let ids: Vec<String> = roots.iter().filter_map(trace_id).collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1], "each root a trace of its own");
        let mut headers = HeaderMap::new();
        inject_from(Some(&roots[0]), &mut headers);
        let sent = headers.get("traceparent").unwrap().as_str().to_owned();
        assert!(
            sent.starts_with(&format!("00-{}-", ids[0])) && sent.ends_with("-00"),
            "{sent}"
        );
        // What the next service reads is sampled out too: no span there.
        let next = extract(Some(&headers));
        let continued = process_span("rag.embed", Some(&headers)).unwrap();
        assert_eq!(trace_id(&next), Some(ids[0].clone()));
        assert_eq!(trace_id(&continued), Some(ids[0].clone()));
        assert!(!continued.span().span_context().is_sampled());
        let work = within(Some(continued), async {
            assert!(child(SpanKind::Client, || unreachable!()).is_none());
            // A reply says nothing of a trace nobody records.
            let mut reply = HeaderMap::new();
            inject_reply(&mut reply);
            assert!(reply.is_empty());
            // A request sent on carries it.
            let mut request = HeaderMap::new();
            inject(&mut request);
            request.get("traceparent").map(|v| v.as_str().to_owned())
        });
        let carried = futures::executor::block_on(work).unwrap();
        assert!(carried.starts_with(&format!("00-{}-", ids[0])), "{carried}");
        // A caller's sampled trace is continued whatever the ratio: its
        // context is the parent given to the tracer.
        let sampled = start(&remote(TRACE, SPAN, true), SpanKind::Consumer, || {
            ("process".into(), Vec::new())
        })
        .unwrap();
        assert_eq!(trace_id(&sampled).as_deref(), Some(TRACE));
    }
}
