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
}

fn median(values: &[f64]) -> f64 {
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
            "{:<34} {:>10} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>8} {:>6}",
            "figure",
            "min",
            "median",
            "max",
            "p50 ms",
            "p99 ms",
            "srv cpu",
            "gen cpu",
            "peak MB",
            "fail"
        );
        for r in &self.rows {
            println!(
                "{:<34} {:>10.0} {:>10.0} {:>10.0} {:>8.2} {:>8.2} {:>7.2} {:>7.2} {:>8.1} {:>6}  {}",
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
