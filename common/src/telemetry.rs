//! Tracing set-up: text or JSON lines on stderr, filtered by `RUST_LOG`
//! (default `info`, with qdrant-edge's chatter at `error`); and, when an
//! OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), traces exported over OTLP/HTTP
//! (protobuf) with the standard `OTEL_*` variables (`OTEL_SERVICE_NAME`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_SCHEDULE_DELAY`, ...) and W3C
//! trace context carried on NATS messages ([`ragwire_client::trace`]).

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Flushes the exported spans when dropped: keep it until the process
/// ends.
#[must_use = "spans not yet exported are lost when this is dropped"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("traces: the last spans were not exported: {e}");
            }
        }
    }
}

/// Whether an OTLP endpoint for traces is configured.
fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()))
        && !std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none")
}

/// Installs the global subscriber once (later calls do nothing but return
/// an empty guard); `service` names the process in traces unless
/// `OTEL_SERVICE_NAME` does.
pub fn init(json: bool, service: &str) -> Telemetry {
    // qdrant-edge warns about server-only feature flags at every collection
    // open; they mean nothing in-process.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,qdrant_edge=error"));
    // Logs on stderr: stdout is for what a command prints.
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json().flatten_event(true).boxed()
    } else {
        fmt.boxed()
    };
    let (provider, otel) = match otlp_configured().then(|| provider(service)) {
        Some(Ok(provider)) => {
            let tracer = provider.tracer("ragwire");
            // Spans go to the collector whatever RUST_LOG keeps of logs.
            // Only what the conventions ask for: no code location, thread,
            // target or busy/idle timing (a clock read at every poll).
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                .with_level(false)
                .with_tracked_inactivity(false)
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
            (Some(provider), Some(layer))
        }
        Some(Err(e)) => {
            eprintln!("traces are off: {e}");
            (None, None)
        }
        None => (None, None),
    };
    let installed = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init()
        .is_ok();
    if installed && provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        ragwire_client::trace::enable(ragwire_client::trace::Propagation {
            inject,
            adopt,
            trace_id,
        });
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

struct Headers<'a>(&'a mut HeaderMap);

impl Injector for Headers<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
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

fn inject(headers: &mut HeaderMap) {
    let context = Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut Headers(headers))
    });
}

fn adopt(span: &Span, headers: &HeaderMap) {
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&ReadHeaders(headers)));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

fn trace_id() -> Option<String> {
    let context = Span::current().context();
    let span = context.span();
    let id = span.span_context();
    id.is_valid().then(|| id.trace_id().to_string())
}

fn provider(service: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("the OTLP exporter could not be built: {e}"))?;
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| service.to_owned());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(name).build())
        .build())
}
