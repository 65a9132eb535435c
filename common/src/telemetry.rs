//! Tracing set-up: text or JSON lines on stderr, filtered by `RUST_LOG`
//! (default `info`, with qdrant-edge's chatter at `error`); and, when an
//! OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), traces exported over OTLP/HTTP
//! (protobuf) with the standard `OTEL_*` variables (`OTEL_SERVICE_NAME`,
//! `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_BSP_SCHEDULE_DELAY`, ...) and W3C trace context carried on NATS
//! messages ([`ragwire_client::trace`]).
//!
//! Spans are made with the OpenTelemetry SDK directly, not through
//! `tracing`: a `tracing` span bridged to OpenTelemetry costs its full
//! span data whether sampled or not, and an OpenTelemetry context switch
//! at every poll; logs stay `tracing` events.

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use ragwire_client::trace::Roots;
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
    let installed = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .try_init()
        .is_ok();
    // Only the first set-up of the process exports: traces are global too.
    let exporting = (installed && otlp_configured()).then(|| {
        let (roots, sampler) = sampling(|name| std::env::var(name).ok());
        provider(service, sampler).map(|provider| (provider, roots))
    });
    let provider = match exporting {
        Some(Ok((provider, roots))) => {
            let tracer = BoxedTracer::new(Box::new(provider.tracer("ragwire")));
            ragwire_client::trace::enable(tracer, roots);
            Some(provider)
        }
        Some(Err(e)) => {
            eprintln!("traces are off: {e}");
            None
        }
        None => None,
    };
    Telemetry { provider }
}

/// How roots are sampled, from `OTEL_TRACES_SAMPLER` and
/// `OTEL_TRACES_SAMPLER_ARG`, and the sampler the SDK is given instead of
/// reading them itself. The parent-based samplers (the default) decide
/// their roots in [`ragwire_client::trace`], so that a root sampled out
/// costs no span; the SDK then samples what reaches it by its parent, as
/// it would have. The others are left to the SDK, read as it reads them
/// (a missing or unreadable ratio is 1). `var` reads a variable of the
/// environment.
fn sampling(var: impl Fn(&str) -> Option<String>) -> (Roots, Option<Sampler>) {
    let ratio = || {
        var("OTEL_TRACES_SAMPLER_ARG")
            .and_then(|r| r.parse::<f64>().ok())
            .unwrap_or(1.0)
    };
    let by_parent = || Sampler::ParentBased(Box::new(Sampler::AlwaysOn));
    match var("OTEL_TRACES_SAMPLER").as_deref() {
        // The SDK's default when the variable is not set.
        None | Some("parentbased_always_on") => (Roots::Ratio(1.0), Some(by_parent())),
        Some("parentbased_traceidratio") => (Roots::Ratio(ratio()), Some(by_parent())),
        Some("parentbased_always_off") => (Roots::Ratio(0.0), Some(by_parent())),
        _ => (Roots::Tracer, None),
    }
}

fn provider(service: &str, sampler: Option<Sampler>) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("the OTLP exporter could not be built: {e}"))?;
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| service.to_owned());
    let builder = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(name).build());
    Ok(match sampler {
        Some(sampler) => builder.with_sampler(sampler),
        None => builder,
    }
    .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampled(vars: &[(&str, &str)]) -> (Roots, bool) {
        let (roots, sampler) = sampling(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        });
        (roots, sampler.is_some())
    }

    #[test]
    fn parent_based_samplers_decide_their_roots_here() {
        let sampler = "OTEL_TRACES_SAMPLER";
        let arg = "OTEL_TRACES_SAMPLER_ARG";
        // Unset: the SDK's default, every root kept.
        assert_eq!(sampled(&[]), (Roots::Ratio(1.0), true));
        assert_eq!(
            sampled(&[(sampler, "parentbased_always_on")]),
            (Roots::Ratio(1.0), true)
        );
        assert_eq!(
            sampled(&[(sampler, "parentbased_traceidratio"), (arg, "0.25")]),
            (Roots::Ratio(0.25), true)
        );
        // A missing or unreadable ratio is 1, as the SDK reads it.
        assert_eq!(
            sampled(&[(sampler, "parentbased_traceidratio"), (arg, "a tenth")]),
            (Roots::Ratio(1.0), true)
        );
        assert_eq!(
            sampled(&[(sampler, "parentbased_traceidratio")]),
            (Roots::Ratio(1.0), true)
        );
        assert_eq!(
            sampled(&[(sampler, "parentbased_always_off")]),
            (Roots::Ratio(0.0), true)
        );
        // The others are the SDK's to read.
        for other in ["always_on", "always_off", "traceidratio", "xray"] {
            assert_eq!(
                sampled(&[(sampler, other), (arg, "0.5")]),
                (Roots::Tracer, false),
                "{other}"
            );
        }
    }
}
