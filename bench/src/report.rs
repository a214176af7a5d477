//! The results table, and the same as JSON.

use std::path::Path;

use serde::Serialize;

use crate::load::Outcome;
use crate::proc_stats::ProcessStats;

#[derive(Serialize)]
pub struct Row {
    pub name: String,
    pub unit: String,
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub p50_latency_ms: f64,
    pub p99_latency_ms: f64,
    /// CPU used per second of wall time, in cores (1.0 = one core busy).
    pub server_cpu_cores: f64,
    pub load_generator_cpu_cores: f64,
    pub server_peak_rss_mb: f64,
    pub failed_requests: u64,
    /// The baseline measured in the same run, in the figure's unit…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<f64>,
    /// …and the figure's median as a multiple of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_baseline: Option<f64>,
}

/// One run's load outcome and the server's figures after it.
pub type Sample = (Outcome, ProcessStats);

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

impl Row {
    pub fn from_runs(
        name: &str,
        unit: &str,
        values: &[f64],
        runs: &[(Outcome, ProcessStats)],
    ) -> Row {
        let per_run = |f: &dyn Fn(&(Outcome, ProcessStats)) -> f64| {
            median(&runs.iter().map(f).collect::<Vec<_>>())
        };
        Row {
            name: name.to_owned(),
            unit: unit.to_owned(),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            median: median(values),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            p50_latency_ms: per_run(&|(o, _)| o.latency_percentile_ms(0.50)),
            p99_latency_ms: per_run(&|(o, _)| o.latency_percentile_ms(0.99)),
            server_cpu_cores: per_run(&|(o, _)| o.server_cpu_seconds / o.elapsed.as_secs_f64()),
            load_generator_cpu_cores: per_run(&|(o, _)| {
                o.client_cpu_seconds / o.elapsed.as_secs_f64()
            }),
            server_peak_rss_mb: runs
                .iter()
                .map(|(_, s)| s.peak_rss_kb as f64 / 1024.0)
                .fold(0.0, f64::max),
            failed_requests: runs.iter().map(|(o, _)| o.failures).sum(),
            baseline: None,
            ratio_to_baseline: None,
        }
    }

    /// The row with its baseline, and its median as a multiple of it.
    pub fn against(mut self, baseline: f64) -> Row {
        self.baseline = Some(baseline);
        self.ratio_to_baseline = Some(self.median / baseline);
        self
    }

    /// A latency figure: per-run medians for min / median / max, every sample pooled for
    /// the percentiles, and a baseline measured alongside.
    pub fn latency(
        name: &str,
        per_run_medians: &[f64],
        samples: &[f64],
        baseline: &[f64],
        stats: &[ProcessStats],
    ) -> Row {
        let mut samples = samples.to_vec();
        samples.sort_by(f64::total_cmp);
        let mut baseline = baseline.to_vec();
        baseline.sort_by(f64::total_cmp);
        let base = crate::freshness::percentile(&baseline, 0.5);
        let p50 = crate::freshness::percentile(&samples, 0.5);
        Row {
            name: name.to_owned(),
            unit: "ms".to_owned(),
            min: per_run_medians
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min),
            median: median(per_run_medians),
            max: per_run_medians
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max),
            p50_latency_ms: p50,
            p99_latency_ms: crate::freshness::percentile(&samples, 0.99),
            server_cpu_cores: 0.0,
            load_generator_cpu_cores: 0.0,
            server_peak_rss_mb: stats
                .iter()
                .map(|s| s.peak_rss_kb as f64 / 1024.0)
                .fold(0.0, f64::max),
            failed_requests: 0,
            baseline: Some(base),
            ratio_to_baseline: Some(p50 / base),
        }
    }
}

pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    pub fn new() -> Self {
        Report { rows: Vec::new() }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn print(&self) {
        println!(
            "{:<44} {:>10} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6} {:>10} {:>7}",
            "figure",
            "min",
            "median",
            "max",
            "p50 ms",
            "p99 ms",
            "srv cpu",
            "gen cpu",
            "peak MB",
            "fail",
            "baseline",
            "x base"
        );
        for r in &self.rows {
            println!(
                "{:<44} {:>10.1} {:>10.1} {:>10.1} {:>8.2} {:>8.2} {:>7.2} {:>7.2} {:>8.1} {:>6} {:>10} {:>7}  {}",
                r.name,
                r.min,
                r.median,
                r.max,
                r.p50_latency_ms,
                r.p99_latency_ms,
                r.server_cpu_cores,
                r.load_generator_cpu_cores,
                r.server_peak_rss_mb,
                r.failed_requests,
                r.baseline.map_or(String::new(), |b| format!("{b:.1}")),
                r.ratio_to_baseline
                    .map_or(String::new(), |x| format!("{x:.2}")),
                r.unit
            );
        }
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(
            path,
            serde_json::to_vec_pretty(&serde_json::json!({
                "machine": machine(),
                "storage": if std::env::var("DATABASE_URL").is_ok() { "postgresql" } else { "sqlite" },
                "rows": self.rows,
            }))?,
        )?;
        Ok(())
    }
}

fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    serde_json::json!({"cpus": cpus, "cpu_model": model})
}
