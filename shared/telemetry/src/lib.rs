//! Telemetry set up in one place: an environment filter, human or JSON log lines on stderr
//! (stdout stays free for command output), and an OpenTelemetry trace exporter that is off
//! unless the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is set. W3C trace context is the
//! propagation format.

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use thiserror::Error;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub mod metrics;
mod panic;

pub use panic::{install_panic_hook, report as report_panic};

#[derive(Debug, Error)]
pub enum TelemetryError {
    #[error("invalid log filter {filter:?}")]
    Filter {
        filter: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("could not build the OTLP trace exporter")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Flushes and stops the exporters when dropped, at shutdown.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("could not flush traces at shutdown: {e}");
        }
        if let Some(meters) = self.meters.take()
            && let Err(e) = meters.shutdown()
        {
            eprintln!("could not flush metrics at shutdown: {e}");
        }
    }
}

/// Installs the global subscriber. `filter` is used when `RUST_LOG` is unset.
pub fn init(
    service_name: &str,
    filter: &str,
    json: bool,
) -> Result<TelemetryGuard, TelemetryError> {
    let filter_text = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    let env_filter = EnvFilter::try_new(&filter_text).map_err(|source| TelemetryError::Filter {
        filter: filter_text.clone(),
        source,
    })?;

    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed()
    } else {
        fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed()
    };

    let provider = otlp_provider(service_name)?;
    let meters = otlp_meters(service_name)?;
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("cdp")));
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    tracing_subscriber::registry()
        .with(env_filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    install_panic_hook();
    Ok(TelemetryGuard { provider, meters })
}

/// Whether the standard variables name an OTLP endpoint for this signal.
fn endpoint_set(signal: &str) -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
        format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"),
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

fn resource(service_name: &str) -> Resource {
    // OTEL_SERVICE_NAME, when set, wins over ours.
    let service_name =
        std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service_name.to_owned());
    Resource::builder().with_service_name(service_name).build()
}

/// The metrics catalog exported over OTLP/HTTP too, every `OTEL_METRIC_EXPORT_INTERVAL`
/// (60 s by default), when an endpoint is configured.
fn otlp_meters(service_name: &str) -> Result<Option<SdkMeterProvider>, TelemetryError> {
    if !endpoint_set("METRICS") {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .build()
        .map_err(TelemetryError::Exporter)?;
    let meters = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(resource(service_name))
        .build();
    metrics::export_to(meters.meter("cdp"));
    Ok(Some(meters))
}

fn otlp_provider(service_name: &str) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    if !endpoint_set("TRACES") {
        return Ok(None);
    }
    // The exporter reads the endpoint itself.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(TelemetryError::Exporter)?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(service_name))
        .build();
    Ok(Some(provider))
}

/// The W3C trace context of the current span as headers (`traceparent`, `tracestate`),
/// for a request this process makes; empty when no exporter records traces.
pub fn outgoing_trace_headers() -> Vec<(String, String)> {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    let mut headers = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut headers));
    headers.into_iter().collect()
}

/// Makes `span` a child of the caller's trace, read from the request's `traceparent` and
/// `tracestate` headers; a malformed or missing header starts a new trace.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let mut carrier = std::collections::HashMap::new();
    for (name, value) in [("traceparent", traceparent), ("tracestate", tracestate)] {
        if let Some(value) = value {
            carrier.insert(name.to_owned(), value.to_owned());
        }
    }
    if carrier.is_empty() {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let _ = span.set_parent(parent);
}
