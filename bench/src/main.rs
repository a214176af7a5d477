//! The benchmark suite. It builds and starts `cdp` as a separate process (SQLite in a
//! fresh directory, or PostgreSQL and Redis when `DATABASE_URL` / `REDIS_URL` are set),
//! drives it over loopback from this process, and prints a table (and writes JSON).
//!
//! `cargo run --release -p cdp-bench -- ingest`

mod data;
mod load;
mod proc_stats;
mod report;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::report::{Report, Row};
use crate::server::CdpServer;

#[derive(Parser)]
#[command(name = "cdp-bench", about = "Benchmarks cdp over loopback")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Runs per figure (the table shows min / median / max).
    #[arg(long, default_value_t = 3, global = true)]
    runs: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 5, global = true)]
    seconds: u64,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench-results.json", global = true)]
    json: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest throughput with batches of 100 events and with single events.
    Ingest,
    /// Every benchmark.
    All,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let binary = server::build_cdp()?;
    let mut report = Report::new();
    match cli.command {
        Command::Ingest | Command::All => {
            ingest(&binary, &cli, &mut report).await?;
        }
    }
    report.print();
    report.write_json(&cli.json)?;
    Ok(())
}

async fn ingest(binary: &std::path::Path, cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    let duration = Duration::from_secs(cli.seconds);
    for (name, batch, clients) in [
        ("ingest, batches of 100 events", 100usize, 16usize),
        ("ingest, single events", 1, 64),
    ] {
        let mut rates = Vec::new();
        let mut samples = Vec::new();
        for run in 0..cli.runs {
            let server = CdpServer::start(binary).await?;
            let tenant = server.create_tenant(&format!("bench-{run}"))?;
            let bodies = data::batches(42 + run as u64, batch, 200);
            let outcome = load::drive(
                &server,
                &tenant.write_key,
                &bodies,
                batch,
                clients,
                duration,
            )
            .await?;
            let stats = server.stats()?;
            rates.push(outcome.events_per_second());
            samples.push((outcome, stats));
            server.stop();
        }
        report.push(Row::from_runs(name, "events/s", &rates, &samples));
    }
    Ok(())
}
