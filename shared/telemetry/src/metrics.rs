//! The process's metrics: counters and histograms kept in atomics, rendered as Prometheus
//! text at `/metrics`. One catalog for the whole process, so that a series is declared once
//! and every role that moves it (the request middleware, ingestion, the projector) writes
//! to the same place. Labels take only bounded values (routes, reasons, outcomes), never
//! a tenant, a key or anything a client sent.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
}

impl CounterVec {
    const fn new(name: &'static str, help: &'static str, label: &'static str) -> Self {
        Self {
            name,
            help,
            label,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn add(&self, label: &str, n: u64) {
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
        }
    }

    pub fn observe(&self, label: &str, value: f64) {
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
}

impl Counter {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
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

/// Every series of the catalog, in Prometheus text format.
pub fn render(out: &mut String) {
    HTTP_REQUEST_SECONDS.render(out);
    HTTP_RESPONSES.render(out);
    INGEST_EVENTS.render(out);
    INGEST_DUPLICATES.render(out);
    INGEST_BATCH_EVENTS.render(out);
    INGEST_REJECTED.render(out);
    PROJECTOR_BATCH_EVENTS.render(out);
    PROJECTOR_BATCH_SECONDS.render(out);
    SEGMENT_EVALUATION_SECONDS.render(out);
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
