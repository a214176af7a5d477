//! The process's metrics: counters and histograms kept in atomics, rendered as Prometheus
//! text at `/metrics`. One catalog for the whole process, so that a series is declared once
//! and every role that moves it (the request middleware, ingestion, the projector) writes
//! to the same place. Labels take only bounded values (routes, reasons, outcomes), never
//! a tenant, a key or anything a client sent. When an OTLP endpoint is configured, every
//! value is recorded into an OpenTelemetry instrument of the same name as well (without
//! Prometheus' `_total` suffix), and exported with the traces' settings.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter as OtelCounter, Histogram as OtelHistogram, Meter};

/// Upper bounds, in seconds, of the latency buckets: 1 ms to 10 s.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the batch-size buckets, in events.
const EVENTS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];

/// A monotonic count per label value.
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    values: Mutex<BTreeMap<String, u64>>,
    otel: OnceLock<OtelCounter<u64>>,
}

impl CounterVec {
    const fn new(name: &'static str, help: &'static str, label: &'static str) -> Self {
        Self {
            name,
            help,
            label,
            values: Mutex::new(BTreeMap::new()),
            otel: OnceLock::new(),
        }
    }

    fn export(&self, meter: &Meter) {
        let _ = self.otel.set(otel_counter(meter, self.name, self.help));
    }

    pub fn add(&self, label: &str, n: u64) {
        if let Some(counter) = self.otel.get() {
            counter.add(n, &[KeyValue::new(self.label, label.to_owned())]);
        }
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        match values.get_mut(label) {
            Some(v) => *v += n,
            None => {
                values.insert(label.to_owned(), n);
            }
        }
    }

    pub fn get(&self, label: &str) -> u64 {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.get(label).copied().unwrap_or(0)
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} counter",
            self.name, self.help, self.name
        );
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        for (label, value) in values.iter() {
            let _ = writeln!(out, "{}{{{}=\"{label}\"}} {value}", self.name, self.label);
        }
    }
}

/// A distribution per label value, in fixed buckets.
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    bounds: &'static [f64],
    series: Mutex<BTreeMap<String, Series>>,
    otel: OnceLock<OtelHistogram<f64>>,
}

#[derive(Default)]
struct Series {
    /// Per bucket, not cumulative; summed when rendered.
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

impl HistogramVec {
    const fn new(
        name: &'static str,
        help: &'static str,
        label: &'static str,
        bounds: &'static [f64],
    ) -> Self {
        Self {
            name,
            help,
            label,
            bounds,
            series: Mutex::new(BTreeMap::new()),
            otel: OnceLock::new(),
        }
    }

    fn export(&self, meter: &Meter) {
        let histogram = meter
            .f64_histogram(self.name)
            .with_description(self.help)
            .with_boundaries(self.bounds.to_vec());
        let histogram = match self.name.ends_with("_seconds") {
            true => histogram.with_unit("s"),
            false => histogram,
        };
        let _ = self.otel.set(histogram.build());
    }

    pub fn observe(&self, label: &str, value: f64) {
        if let Some(histogram) = self.otel.get() {
            histogram.record(value, &[KeyValue::new(self.label, label.to_owned())]);
        }
        let bucket = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = match series.get_mut(label) {
            Some(s) => s,
            None => series.entry(label.to_owned()).or_default(),
        };
        if s.buckets.is_empty() {
            s.buckets = vec![0; self.bounds.len() + 1];
        }
        s.buckets[bucket] += 1;
        s.count += 1;
        s.sum += value;
    }

    pub fn observe_duration(&self, label: &str, took: Duration) {
        self.observe(label, took.as_secs_f64());
    }

    /// How many values were observed under `label`.
    pub fn count(&self, label: &str) -> u64 {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        series.get(label).map_or(0, |s| s.count)
    }

    fn render(&self, out: &mut String) {
        let name = self.name;
        let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", self.help);
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        for (label, s) in series.iter() {
            let key = self.label;
            let mut cumulative = 0;
            for (bound, n) in self.bounds.iter().zip(&s.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{{key}=\"{label}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{{key}=\"{label}\",le=\"+Inf\"}} {}\n\
                 {name}_sum{{{key}=\"{label}\"}} {}\n\
                 {name}_count{{{key}=\"{label}\"}} {}",
                s.count, s.sum, s.count
            );
        }
    }
}

/// A single count.
pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
    otel: OnceLock<OtelCounter<u64>>,
}

impl Counter {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            value: AtomicU64::new(0),
            otel: OnceLock::new(),
        }
    }

    fn export(&self, meter: &Meter) {
        let _ = self.otel.set(otel_counter(meter, self.name, self.help));
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
        if let Some(counter) = self.otel.get() {
            counter.add(n, &[]);
        }
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String) {
        let name = self.name;
        let _ = writeln!(
            out,
            "# HELP {name} {}\n# TYPE {name} counter\n{name} {}",
            self.help,
            self.get()
        );
    }
}

/// Requests answered, by route template (never the path itself: it may hold an identity).
pub static HTTP_REQUEST_SECONDS: HistogramVec = HistogramVec::new(
    "cdp_http_request_duration_seconds",
    "Time to answer a request, by route and method.",
    "route",
    SECONDS,
);
pub static HTTP_RESPONSES: CounterVec = CounterVec::new(
    "cdp_http_responses_total",
    "Responses sent, by status class.",
    "status",
);
pub static INGEST_EVENTS: Counter = Counter::new(
    "cdp_ingest_events_total",
    "Events appended to the log by this process.",
);
pub static INGEST_DUPLICATES: Counter = Counter::new(
    "cdp_ingest_duplicate_events_total",
    "Events not stored again because their message id was already seen.",
);
pub static INGEST_BATCH_EVENTS: HistogramVec = HistogramVec::new(
    "cdp_ingest_batch_events",
    "Events per accepted ingest request, by channel.",
    "channel",
    EVENTS,
);
pub static INGEST_REJECTED: CounterVec = CounterVec::new(
    "cdp_ingest_rejected_requests_total",
    "Ingest requests refused, by reason (the error code the client got).",
    "reason",
);
/// Redis is a fast path: when it does not answer, each use falls back to what this process
/// knows (per-process rate limits and login throttling, the log's unique key for dedupe).
pub static REDIS_FALLBACKS: CounterVec = CounterVec::new(
    "cdp_redis_fallbacks_total",
    "Operations that went on without Redis because it did not answer, by use.",
    "use",
);
pub static PROJECTOR_BATCH_EVENTS: HistogramVec = HistogramVec::new(
    "cdp_projector_batch_events",
    "Events per projector transaction.",
    "kind",
    EVENTS,
);
pub static PROJECTOR_BATCH_SECONDS: HistogramVec = HistogramVec::new(
    "cdp_projector_batch_duration_seconds",
    "Time from reading a projector batch to its commit.",
    "kind",
    SECONDS,
);
pub static SEGMENT_EVALUATION_SECONDS: HistogramVec = HistogramVec::new(
    "cdp_segment_evaluation_duration_seconds",
    "Time of one step of segment and computed-trait evaluation outside event batches.",
    "kind",
    SECONDS,
);

pub static PANICS: Counter = Counter::new(
    "cdp_panics_total",
    "Panics in this process (each is logged with its location).",
);

/// Every series of the catalog, in Prometheus text format.
pub fn render(out: &mut String) {
    HTTP_REQUEST_SECONDS.render(out);
    HTTP_RESPONSES.render(out);
    INGEST_EVENTS.render(out);
    INGEST_DUPLICATES.render(out);
    INGEST_BATCH_EVENTS.render(out);
    INGEST_REJECTED.render(out);
    REDIS_FALLBACKS.render(out);
    PROJECTOR_BATCH_EVENTS.render(out);
    PROJECTOR_BATCH_SECONDS.render(out);
    SEGMENT_EVALUATION_SECONDS.render(out);
    PANICS.render(out);
}

fn otel_counter(meter: &Meter, name: &'static str, help: &'static str) -> OtelCounter<u64> {
    meter
        .u64_counter(otel_name(name))
        .with_description(help)
        .build()
}

/// OpenTelemetry names counters without Prometheus' suffix (its exporters add it back).
fn otel_name(name: &'static str) -> &'static str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// The meter values are also recorded into, once OTLP export is on.
static METER: OnceLock<Meter> = OnceLock::new();

/// Observable instruments registered by [`observe`], kept for the life of the process.
static OBSERVED: Mutex<Vec<Box<dyn std::any::Any + Send + Sync>>> = Mutex::new(Vec::new());

/// Records every series of the catalog into `meter` from now on (at start, with OTLP on).
pub fn export_to(meter: Meter) {
    HTTP_REQUEST_SECONDS.export(&meter);
    HTTP_RESPONSES.export(&meter);
    INGEST_EVENTS.export(&meter);
    INGEST_DUPLICATES.export(&meter);
    INGEST_BATCH_EVENTS.export(&meter);
    INGEST_REJECTED.export(&meter);
    REDIS_FALLBACKS.export(&meter);
    PROJECTOR_BATCH_EVENTS.export(&meter);
    PROJECTOR_BATCH_SECONDS.export(&meter);
    SEGMENT_EVALUATION_SECONDS.export(&meter);
    PANICS.export(&meter);
    let _ = METER.set(meter);
}

/// A value kept elsewhere (a queue's depth, a cache's counts), read when OTLP exports:
/// `read` gives it per label value. Nothing happens while OTLP export is off.
pub fn observe(
    name: &'static str,
    help: &'static str,
    label: &'static str,
    read: impl Fn() -> Vec<(&'static str, u64)> + Send + Sync + 'static,
) {
    let Some(meter) = METER.get() else {
        return;
    };
    let callback = move |observer: &dyn opentelemetry::metrics::AsyncInstrument<u64>| {
        for (value, n) in read() {
            if label.is_empty() {
                observer.observe(n, &[]);
            } else {
                observer.observe(n, &[KeyValue::new(label, value)]);
            }
        }
    };
    // A count that only grows is a counter to OpenTelemetry; anything else a gauge.
    let instrument: Box<dyn std::any::Any + Send + Sync> = if name.ends_with("_total") {
        Box::new(
            meter
                .u64_observable_counter(otel_name(name))
                .with_description(help)
                .with_callback(callback)
                .build(),
        )
    } else {
        Box::new(
            meter
                .u64_observable_gauge(name)
                .with_description(help)
                .with_callback(callback)
                .build(),
        )
    };
    OBSERVED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(instrument);
}

/// A gauge or counter computed elsewhere (read at scrape time), in the same format.
pub fn render_value(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    value: impl std::fmt::Display,
) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_render_cumulative_buckets() {
        let h = HistogramVec::new("t_seconds", "test", "route", &[0.1, 1.0]);
        h.observe("/a", 0.05);
        h.observe("/a", 0.5);
        h.observe("/a", 5.0);
        let mut out = String::new();
        h.render(&mut out);
        assert!(
            out.contains("t_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("t_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("t_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("t_seconds_count{route=\"/a\"} 3\n"), "{out}");
        assert!(out.contains("t_seconds_sum{route=\"/a\"} 5.55\n"), "{out}");
    }

    #[test]
    fn counters_add_per_label() {
        let c = CounterVec::new("t_total", "test", "reason");
        c.add("invalid", 2);
        c.add("invalid", 1);
        c.add("unauthorized", 1);
        assert_eq!(c.get("invalid"), 3);
        let mut out = String::new();
        c.render(&mut out);
        assert!(out.contains("t_total{reason=\"invalid\"} 3\n"), "{out}");
        assert!(
            out.contains("t_total{reason=\"unauthorized\"} 1\n"),
            "{out}"
        );
    }
}
