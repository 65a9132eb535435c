//! W3C trace context (`traceparent`, `tracestate`) on NATS messages, so a
//! request's spans in the producer, the client, the worker and its backend
//! calls form one trace. Off until [`enable`] is called (by the binaries'
//! telemetry set-up when an OTLP endpoint is configured): nothing is made
//! and nothing is added to messages until then.
//!
//! Spans are OpenTelemetry spans, made through the tracer given to
//! [`enable`]; the current one travels with a future ([`within`]). The
//! sampler decides once, at a trace's root, as parent-based samplers do:
//! in a trace sampled out no span is made at all ([`start`], [`child`]),
//! and its context is still carried on (flag `00`) so that every service
//! agrees. Names and attributes are only built for spans that are
//! recorded.
//!
//! Spans follow OpenTelemetry's messaging conventions: `send {subject}`
//! (kind producer) around a request, `process {subject}` (kind consumer)
//! around its handling, with `messaging.system = nats`,
//! `messaging.destination.name` and `messaging.operation.type`.

use std::borrow::Cow;
use std::future::Future;
use std::sync::OnceLock;

use async_nats::HeaderMap;
use futures::future::Either;
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::global::BoxedTracer;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
pub use opentelemetry::trace::SpanKind;
use opentelemetry::trace::{Span as _, SpanBuilder, TraceContextExt, Tracer as _};
pub use opentelemetry::{Context, KeyValue};

/// What makes spans and carries their context, given by the process's
/// tracing set-up (`ragwire_common::telemetry`), so this crate needs no
/// OpenTelemetry SDK.
struct Tracing {
    tracer: BoxedTracer,
    propagator: Box<dyn TextMapPropagator + Send + Sync>,
}

static ON: OnceLock<Tracing> = OnceLock::new();

/// Turns traces on for the process, once: spans are made by `tracer` and
/// their context written into and read from messages by `propagator`.
pub fn enable(tracer: BoxedTracer, propagator: impl TextMapPropagator + Send + Sync + 'static) {
    let _ = ON.set(Tracing {
        tracer,
        propagator: Box::new(propagator),
    });
}

/// Whether traces are on in this process.
pub fn enabled() -> bool {
    ON.get().is_some()
}

struct Headers<'a>(&'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` says nothing: not sent.
        if !value.is_empty() {
            self.0.insert(key, value.as_str());
        }
    }
}

struct ReadHeaders<'a>(&'a HeaderMap);

impl Extractor for ReadHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Writes the current trace context into `headers` (sampled or not), when
/// traces are on and there is one.
pub fn inject(headers: &mut HeaderMap) {
    if let Some(on) = ON.get() {
        let cx = Context::current();
        if cx.span().span_context().is_valid() {
            on.propagator.inject_context(&cx, &mut Headers(headers));
        }
    }
}

/// Writes the current trace context into a reply's `headers`, when it is
/// sampled: a reply goes back to a caller that knows its own context, and
/// the id of a trace nobody records tells it nothing.
pub fn inject_reply(headers: &mut HeaderMap) {
    if let Some(on) = ON.get() {
        let cx = Context::current();
        if cx.span().span_context().is_sampled() {
            on.propagator.inject_context(&cx, &mut Headers(headers));
        }
    }
}

/// The trace context `headers` carry, as the parent of what handles them:
/// an empty context when they carry none or traces are off.
pub fn extract(headers: Option<&HeaderMap>) -> Context {
    match (ON.get(), headers) {
        (Some(on), Some(headers)) => on.propagator.extract(&ReadHeaders(headers)),
        _ => Context::new(),
    }
}

/// The trace id of the current span (32 hex digits), when traces are on.
pub fn current_trace_id() -> Option<String> {
    trace_id(&Context::current())
}

/// The trace id of `cx`'s span (32 hex digits), when it has one.
pub fn trace_id(cx: &Context) -> Option<String> {
    let span = cx.span();
    let id = span.span_context();
    id.is_valid().then(|| id.trace_id().to_string())
}

/// A span of `kind`, child of `parent`, as the context of what it covers;
/// `None` when traces are off. The sampler decides at a root; a parent
/// that is sampled out is returned as it is, no span made (its context is
/// all that is passed on). `describe` (the span's name and attributes) is
/// called only for a span that is recorded. The span ends when the last
/// clone of the context is dropped.
pub fn start(
    parent: &Context,
    kind: SpanKind,
    describe: impl FnOnce() -> (Cow<'static, str>, Vec<KeyValue>),
) -> Option<Context> {
    let on = ON.get()?;
    if sampled_out(parent) {
        return Some(parent.clone());
    }
    // Named once recorded: the name costs an allocation the samplers here
    // do not read.
    let builder = SpanBuilder::from_name("span").with_kind(kind);
    let mut span = on.tracer.build_with_context(builder, parent);
    if span.is_recording() {
        let (name, attributes) = describe();
        span.update_name(name);
        span.set_attributes(attributes);
    }
    Some(parent.with_span(span))
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
    let parent = Context::current();
    if sampled_out(&parent) {
        return None;
    }
    start(&parent, kind, describe)
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
pub fn within<F: Future>(cx: Option<Context>, work: F) -> Either<WithContext<F>, F> {
    match cx {
        Some(cx) => Either::Left(work.with_context(cx)),
        None => Either::Right(work),
    }
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
    start(&Context::current(), SpanKind::Producer, || {
        (format!("send {subject}").into(), messaging("send", subject))
    })
}

/// The `process {subject}` span of a message being handled, child of the
/// trace its headers carry (a root when they carry none); `None` when
/// traces are off.
pub fn process_span(subject: &str, headers: Option<&HeaderMap>) -> Option<Context> {
    ON.get()?;
    start(&extract(headers), SpanKind::Consumer, || {
        (
            format!("process {subject}").into(),
            messaging("process", subject),
        )
    })
}

/// Writes `cx`'s trace context into `headers`: [`inject`] for a context
/// that is not (yet) the current one.
pub fn inject_from(cx: Option<&Context>, headers: &mut HeaderMap) {
    if let (Some(on), Some(cx)) = (ON.get(), cx) {
        on.propagator.inject_context(cx, &mut Headers(headers));
    }
}
