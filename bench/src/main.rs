//! The benchmark suite. It builds and starts `cdp` as a separate process (SQLite in a
//! fresh directory, or PostgreSQL and Redis when `DATABASE_URL` / `REDIS_URL` are set),
//! drives it over loopback from this process, and prints a table (and writes JSON).
//!
//! `cargo run --release -p cdp-bench -- ingest`

mod baseline;
mod data;
mod deliveries;
mod freshness;
mod load;
mod proc_stats;
mod report;
mod scale;
mod segments;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::report::{Report, Row};
use crate::server::CdpServer;

/// The platform admin the groups that need one start the server with.
const ADMIN: (&str, &str) = ("admin@example.com", "long-and-random-7Qx9-pass");

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
    /// People (and so profiles and events) of the large tenant of `scale`.
    #[arg(long, default_value_t = 1_000_000, global = true)]
    profiles: usize,
    /// Events of the projection group's backlog (0: whatever `--seconds` of ingest gives;
    /// up to 10,000,000 is a nightly-sized run).
    #[arg(long, default_value_t = 0, global = true)]
    backlog_events: u64,
    /// Minutes of the memory soak.
    #[arg(long, default_value_t = 10, global = true)]
    soak_minutes: u64,
    /// Where the JSON results go.
    #[arg(long, default_value = "target/bench-results.json", global = true)]
    json: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest throughput with batches of 100 events and with single events, against a raw
    /// bulk load of the same stored rows.
    Ingest,
    /// Single-event latency at half of the peak single-event rate, against the latency of
    /// an fsync on the same disk.
    Latency,
    /// What HTTP and validation cost (ingest into a no-op store against a hello-world
    /// handler) and what encryption costs (the real cipher against a no-op one).
    Overhead,
    /// Projection throughput: a backlog ingested with the projector off, then projected
    /// (the rate of a rebuild), against the ingest rate of the same run.
    Projection,
    /// Time from an ingest 200 to the event being visible in the profile API, idle and
    /// under a batch load.
    Freshness,
    /// Server memory: idle, at peak ingest, and its growth over a soak at half of peak.
    Memory,
    /// A tenant of a million people: profile lookup by identity against lookup by id, and
    /// the tenant's erasure against erasing a tenant of a thousand events.
    Scale,
    /// Segments: projection with 50 active segments against none, and a new segment's
    /// backfill over `--profiles` profiles against a plain scan of the profile table.
    Segments,
    /// Webhook delivery: a backlog of events delivered to a local receiver, against the
    /// rate the same events were ingested at.
    Deliveries,
    /// Every benchmark.
    All,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let binary = server::build_cdp()?;
    let mut report = Report::new();
    match cli.command {
        Command::Ingest => ingest(&binary, &cli, &mut report).await?,
        Command::Latency => latency(&binary, &cli, &mut report).await?,
        Command::Overhead => overhead(&binary, &cli, &mut report).await?,
        Command::Memory => memory(&binary, &cli, &mut report).await?,
        Command::Scale => scale(&binary, &cli, &mut report).await?,
        Command::Segments => segment_rows(&binary, &cli, &mut report).await?,
        Command::Freshness => freshness(&binary, &cli, &mut report).await?,
        Command::Projection => projection(&binary, &cli, &mut report).await?,
        Command::Deliveries => delivery_rows(&binary, &cli, &mut report).await?,
        Command::All => {
            ingest(&binary, &cli, &mut report).await?;
            latency(&binary, &cli, &mut report).await?;
            overhead(&binary, &cli, &mut report).await?;
            freshness(&binary, &cli, &mut report).await?;
            projection(&binary, &cli, &mut report).await?;
            scale(&binary, &cli, &mut report).await?;
            segment_rows(&binary, &cli, &mut report).await?;
            delivery_rows(&binary, &cli, &mut report).await?;
            memory(&binary, &cli, &mut report).await?;
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
        let (mut rates, mut baselines, mut samples) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..cli.runs {
            // The ingest role alone, as a deployment that scales ingestion out runs it:
            // the projector would otherwise share the two cores.
            let server = CdpServer::start_with(binary, &[("CDP_PROJECTOR_WORKERS", "0")]).await?;
            let tenant = server.create_tenant(&format!("bench-{run}"))?;
            let bodies = data::batches(42 + run as u64, batch, data::BODIES);
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
            // The baseline: the rows just stored, loaded again as fast as the database
            // takes them, with no server in the way.
            let url = baseline::database_url(&server.data_dir());
            let (rows, bulk) = baseline::reload_rows(&url, tenant.tenant_id).await?;
            eprintln!(
                "  run {run}: {:.0} events/s through the API; the same {rows} rows bulk-loaded at {bulk:.0} rows/s",
                outcome.events_per_second(),
            );
            rates.push(outcome.events_per_second());
            baselines.push(bulk);
            samples.push((outcome, stats));
            server.stop();
        }
        let row = Row::from_runs(name, "events/s", &rates, &samples);
        report.push(row.against(report::median(&baselines)));
    }
    Ok(())
}

async fn latency(binary: &std::path::Path, cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    let duration = Duration::from_secs(cli.seconds);
    // Every role in one process, as `cdp serve` runs by default; and the ingest role
    // alone, which tells how much of the tail the projector's transactions add.
    for (name, projector_workers) in [
        ("single-event p99 latency at half of peak", "2"),
        ("the same, ingest role alone", "0"),
    ] {
        let (mut p99s, mut fsync_p99s, mut samples) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..cli.runs {
            let server =
                CdpServer::start_with(binary, &[("CDP_PROJECTOR_WORKERS", projector_workers)])
                    .await?;
            let tenant = server.create_tenant(&format!("latency-{run}"))?;
            let bodies = data::batches(300 + run as u64, 1, data::BODIES * 10);
            let peak = load::drive(&server, &tenant.write_key, &bodies, 1, 64, duration).await?;
            let half = peak.events_per_second() / 2.0;
            let outcome =
                load::paced(&server, &tenant.write_key, &bodies, 1, half, duration).await?;
            let fsync = baseline::fsync_latencies(&server.data_dir(), 200)?;
            let fsync_p99 = freshness::percentile(&fsync, 0.99);
            eprintln!(
                "  run {run}: peak {:.0} events/s; at {half:.0}/s p50 {:.2} ms, p99 {:.2} ms; fsync p50 {:.2} ms, p99 {fsync_p99:.2} ms",
                peak.events_per_second(),
                outcome.latency_percentile_ms(0.5),
                outcome.latency_percentile_ms(0.99),
                freshness::percentile(&fsync, 0.5),
            );
            p99s.push(outcome.latency_percentile_ms(0.99));
            fsync_p99s.push(fsync_p99);
            samples.push((outcome, server.stats()?));
            server.stop();
        }
        let row = Row::from_runs(name, "ms", &p99s, &samples);
        let fsync = report::median(&fsync_p99s);
        eprintln!(
            "  target: p99 at most fsync p99 + 5 ms = {:.2} ms; measured median p99 {:.2} ms",
            fsync + 5.0,
            row.median
        );
        report.push(row.against(fsync));
    }
    Ok(())
}

async fn overhead(binary: &std::path::Path, cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    let duration = Duration::from_secs(cli.seconds);
    let rate = |outcome: &load::Outcome| outcome.events_per_second();
    let mut runs: [(Vec<f64>, Vec<report::Sample>); 4] = Default::default();
    for run in 0..cli.runs {
        let bodies = data::batches(500 + run as u64, 100, data::BODIES);
        // The ingest role alone in each: the projector would share the cores.
        for (i, (store, cipher, path)) in [
            ("noop", "real", "/v1/batch"),
            ("noop", "real", "/bench/hello"),
            ("real", "noop", "/v1/batch"),
            ("real", "real", "/v1/batch"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut settings = vec![("CDP_PROJECTOR_WORKERS", "0")];
            if store == "noop" {
                settings.push(("BENCH_NOOP_STORE", "1"));
            }
            if cipher == "noop" {
                settings.push(("BENCH_NOOP_CIPHER", "1"));
                settings.extend([
                    ("CDP_ADMIN_EMAIL", ADMIN.0),
                    ("CDP_ADMIN_PASSWORD", ADMIN.1),
                ]);
            }
            let server = CdpServer::start_with(binary, &settings).await?;
            let tenant = server.create_tenant(&format!("overhead-{run}-{i}"))?;
            let outcome =
                load::drive_to(&server, path, &tenant.write_key, &bodies, 100, 16, duration)
                    .await?;
            eprintln!(
                "  run {run}: store {store}, cipher {cipher}, {path}: {:.0} events/s",
                rate(&outcome)
            );
            runs[i].0.push(rate(&outcome));
            let stats = server.stats()?;
            if cipher == "noop" {
                // Its log holds payloads nobody can open: out of the way of later groups
                // that share the database (PostgreSQL), which would try to project them.
                let token = scale::sign_in(&server, ADMIN.0, ADMIN.1).await?;
                scale::erase_tenant(&server, &token, &tenant).await?;
            }
            runs[i].1.push((outcome, stats));
            server.stop();
        }
    }
    let [noop_store, hello, noop_cipher, real] = runs;
    let row = Row::from_runs(
        "HTTP + validation: ingest into a no-op store",
        "events/s",
        &noop_store.0,
        &noop_store.1,
    );
    report.push(row.against(report::median(&hello.0)));
    let row = Row::from_runs(
        "encryption: ingest with the real cipher",
        "events/s",
        &real.0,
        &real.1,
    );
    report.push(row.against(report::median(&noop_cipher.0)));
    Ok(())
}

async fn scale(binary: &std::path::Path, cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    let (email, password) = ADMIN;
    let server = CdpServer::start_with(
        binary,
        &[("CDP_ADMIN_EMAIL", email), ("CDP_ADMIN_PASSWORD", password)],
    )
    .await?;
    let people = cli.profiles;
    let big = server.create_tenant("scale")?;
    let started = std::time::Instant::now();
    scale::identify_people(&server, &big, "person", people, 16).await?;
    let ingested = started.elapsed();
    let head = scale::caught_up(&server, &big, Duration::from_secs(7200)).await?;
    eprintln!(
        "  {people} people: ingested in {:.0} s, projected ({head} events) after {:.0} s",
        ingested.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    let (by_identity, by_id) = scale::lookups(&server, &big, "person", people, 2_000).await?;
    let stats = server.stats()?;
    let p99 = |v: &[f64]| freshness::percentile(&sorted(v), 0.99);
    let mut row = Row::latency(
        &format!("profile lookup by email, {people} profiles"),
        &[freshness::percentile(&sorted(&by_identity), 0.5)],
        &by_identity,
        &by_id,
        &[stats],
    );
    // The target compares 99th percentiles: lookup by identity against by primary key.
    row.baseline = Some(p99(&by_id));
    row.ratio_to_baseline = Some(p99(&by_identity) / p99(&by_id));
    report.push(row);

    subject_erasure(&server, cli, report).await?;

    // Erasure: tenants of a thousand events first, as the baseline (the median of a few:
    // a single request is at the mercy of whatever else the machine does).
    let token = scale::sign_in(&server, email, password).await?;
    let (mut small_times, mut small_purges) = (Vec::new(), Vec::new());
    for i in 0..cli.runs.max(3) {
        let small = server.create_tenant(&format!("scale-small-{i}"))?;
        scale::identify_people(&server, &small, &format!("small{i}"), 1_000, 4).await?;
        scale::caught_up(&server, &small, Duration::from_secs(600)).await?;
        small_times.push(scale::erase_tenant(&server, &token, &small).await?);
        small_purges.push(scale::purged(&server, &token, &small, Duration::from_secs(600)).await?);
    }
    let (small_ms, small_purge) = (report::median(&small_times), report::median(&small_purges));
    let big_ms = scale::erase_tenant(&server, &token, &big).await?;
    let big_purge = scale::purged(&server, &token, &big, Duration::from_secs(3600)).await?;
    eprintln!(
        "  tenant erasure (until every key is destroyed): 1000 events {small_ms:.1} ms, {head} events {big_ms:.1} ms; \
         projections purged in the background after {small_purge:.0} ms and {big_purge:.0} ms"
    );
    let mut row = Row::latency(
        &format!("tenant erasure, {head} events"),
        &[big_ms],
        &[big_ms],
        &[small_ms],
        &[server.stats()?],
    );
    row.baseline = Some(small_ms);
    report.push(row);
    // Not a target, for the record: how long the background removal of the projected
    // rows took, against the small tenant's.
    let mut row = Row::latency(
        &format!("tenant purge in the background, {head} events"),
        &[big_purge],
        &[big_purge],
        &[small_purge],
        &[server.stats()?],
    );
    row.baseline = Some(small_purge);
    report.push(row);
    server.stop();
    Ok(())
}

/// What 50 active segments add to projecting an event (the same events into a tenant
/// with none, as the baseline, median of `--runs`), and the backfill of a new segment over
/// `--profiles` profiles against reading the profile table once.
async fn segment_rows(
    binary: &std::path::Path,
    cli: &Cli,
    report: &mut Report,
) -> anyhow::Result<()> {
    const EVENTS: usize = 20_000;
    let server = CdpServer::start(binary).await?;
    let (mut plain, mut busy) = (Vec::new(), Vec::new());
    for run in 0..cli.runs.max(1) {
        let none = server.create_tenant(&format!("no-segments-{run}"))?;
        plain.push(segments::project_mixed(&server, &none, EVENTS).await? * 1e6 / EVENTS as f64);
        let fifty = server.create_tenant(&format!("fifty-segments-{run}"))?;
        segments::define_fifty(&server, &fifty).await?;
        busy.push(segments::project_mixed(&server, &fifty, EVENTS).await? * 1e6 / EVENTS as f64);
    }
    eprintln!(
        "  {EVENTS} events sent and projected: {:.1} µs per event with no segment, {:.1} µs with 50",
        report::median(&plain),
        report::median(&busy)
    );
    let stats = server.stats()?;
    let mut row = Row::latency(
        "projection with 50 segments, per event (µs)",
        &busy,
        &busy,
        &plain,
        &[stats],
    );
    row.baseline = Some(report::median(&plain));
    row.ratio_to_baseline = Some(report::median(&busy) / report::median(&plain));
    report.push(row);

    let people = cli.profiles;
    let big = server.create_tenant("backfill")?;
    scale::identify_people(&server, &big, "person", people, 16).await?;
    scale::caught_up(&server, &big, Duration::from_secs(7200)).await?;
    let url = baseline::database_url(&server.data_dir());
    let (scan, rows) = segments::scan_profiles(&url, big.tenant_id, &server.data_dir()).await?;
    // About one person in nine: person-1, person-10…19, person-100…199, …
    let (seconds, size) =
        segments::backfill(&server, &big, "trait email starts with \"person-1\"").await?;
    eprintln!(
        "  backfill over {people} profiles: {seconds:.1} s ({size} members); reading {rows} profile and trait rows: {scan:.2} s"
    );
    let stats = server.stats()?;
    let mut row = Row::latency(
        &format!("segment backfill, {people} profiles (s)"),
        &[seconds],
        &[seconds],
        &[scan],
        &[stats],
    );
    row.baseline = Some(scan);
    row.ratio_to_baseline = Some(seconds / scan);
    report.push(row);
    server.stop();
    Ok(())
}

async fn delivery_rows(
    binary: &std::path::Path,
    cli: &Cli,
    report: &mut Report,
) -> anyhow::Result<()> {
    const EVENTS: usize = 20_000;
    let (mut delivered, mut ingested, mut stats) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..cli.runs.max(1) {
        let server = CdpServer::start_with(
            binary,
            &[
                ("CDP_DESTINATIONS_ALLOWED_NETWORKS", "127.0.0.1"),
                ("CDP_DISPATCHER_CONCURRENCY", "0"),
            ],
        )
        .await?;
        let tenant = server.create_tenant(&format!("deliveries-{run}"))?;
        let (delivery_rate, ingest_rate, server) = deliveries::run(server, &tenant, EVENTS).await?;
        eprintln!(
            "  {EVENTS} events: ingested at {ingest_rate:.0}/s, delivered at {delivery_rate:.0}/s"
        );
        delivered.push(delivery_rate);
        ingested.push(ingest_rate);
        stats.push(server.stats()?);
        server.stop();
    }
    let mut row = Row::latency(
        &format!("webhook delivery of a {EVENTS}-event backlog (events/s)"),
        &delivered,
        &delivered,
        &ingested,
        &stats,
    );
    row.unit = "events/s".to_owned();
    row.p50_latency_ms = 0.0;
    row.p99_latency_ms = 0.0;
    row.baseline = Some(report::median(&ingested));
    row.ratio_to_baseline = Some(report::median(&delivered) / report::median(&ingested));
    report.push(row);
    Ok(())
}

/// Erasing a person with 100,000 events against erasing people with 100 (the median of
/// a few), each measured from the request's receipt until the keys are destroyed and the
/// profile is gone; the background removal of the timeline is reported beside it.
async fn subject_erasure(server: &CdpServer, cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    const HEAVY: usize = 100_000;
    let tenant = server.create_tenant("subjects")?;
    let light: Vec<String> = (0..cli.runs.max(3)).map(|i| format!("light-{i}")).collect();
    for user in &light {
        scale::track_person(server, &tenant, user, 100, 1).await?;
    }
    scale::track_person(server, &tenant, "heavy", HEAVY, 8).await?;
    scale::caught_up(server, &tenant, Duration::from_secs(1800)).await?;
    let within = Duration::from_secs(1800);
    let (mut light_erased, mut light_completed) = (Vec::new(), Vec::new());
    for user in &light {
        let (erased, completed) = scale::erase_subject(server, &tenant, user, within).await?;
        light_erased.push(erased);
        light_completed.push(completed);
    }
    let (heavy_erased, heavy_completed) =
        scale::erase_subject(server, &tenant, "heavy", within).await?;
    let (light_ms, light_done) = (
        report::median(&light_erased),
        report::median(&light_completed),
    );
    eprintln!(
        "  subject erasure (until keys are destroyed and the profile is gone): 100 events {light_ms:.1} ms, \
         {HEAVY} events {heavy_erased:.1} ms; timelines purged after {light_done:.0} ms and {heavy_completed:.0} ms"
    );
    let stats = server.stats()?;
    let mut row = Row::latency(
        &format!("subject erasure, {HEAVY} events"),
        &[heavy_erased],
        &[heavy_erased],
        &light_erased,
        &[stats],
    );
    row.baseline = Some(light_ms);
    report.push(row);
    let mut row = Row::latency(
        &format!("subject timeline purge in the background, {HEAVY} events"),
        &[heavy_completed],
        &[heavy_completed],
        &light_completed,
        &[stats],
    );
    row.baseline = Some(light_done);
    report.push(row);
    Ok(())
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values
}

async fn memory(binary: &std::path::Path, cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    let duration = Duration::from_secs(cli.seconds);
    let mb = |kb: u64| kb as f64 / 1024.0;
    // Every role in one process, as `cdp serve` runs by default.
    let server = CdpServer::start(binary).await?;
    let tenant = server.create_tenant("memory")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = mb(server.stats()?.rss_kb);
    let bodies = data::batches(700, 100, data::BODIES);
    let peak = load::drive(&server, &tenant.write_key, &bodies, 100, 16, duration).await?;
    let peak_rss = mb(server.stats()?.peak_rss_kb);
    let peak_rate = peak.events_per_second();
    let peak_elapsed = peak.elapsed;
    eprintln!(
        "  idle {idle:.1} MB; peak {peak_rss:.1} MB while ingesting {peak_rate:.0} events/s (target: at most 300 MB)"
    );
    let mut row = Row::from_runs(
        "memory: peak RSS at peak ingest",
        "MB",
        &[peak_rss],
        &[(peak, server.stats()?)],
    );
    row.p50_latency_ms = 0.0;
    row.p99_latency_ms = 0.0;
    report.push(row.against(idle));

    // The soak: half of what the whole process sustains, open loop, in one-minute steps;
    // the first minute warms up. Sustained means ingested *and* projected: every role
    // shares the same two cores, so each event costs its ingest and its projection, and
    // a load beyond that leaves a growing backlog (memory that is not a leak).
    let backlog_started = std::time::Instant::now();
    let backlog = scale::caught_up(&server, &tenant, Duration::from_secs(600)).await?;
    let projected_rate = backlog as f64 / (peak_elapsed + backlog_started.elapsed()).as_secs_f64();
    let sustained = 1.0 / (1.0 / peak_rate + 1.0 / projected_rate);
    let rate = sustained / 2.0;
    eprintln!(
        "  the peak's events were projected at {projected_rate:.0} events/s; ingest and projection together sustain \
         {sustained:.0} events/s; soaking at {rate:.0}"
    );
    let minutes = cli.soak_minutes.max(2);
    let mut rss = Vec::new();
    let mut samples = Vec::new();
    for minute in 0..minutes {
        let outcome = load::paced(
            &server,
            &tenant.write_key,
            &bodies,
            100,
            rate / 100.0,
            Duration::from_secs(60),
        )
        .await?;
        let stats = server.stats()?;
        // What waits in the server: a growing commit queue or projection lag means it is
        // not keeping up, and its memory holds the backlog rather than a leak.
        let queued = server.metric("cdp_ingest_queued_events").await?;
        let lag = server.metric("cdp_projection_lag_events").await?;
        eprintln!(
            "  soak minute {}: {:.0} events/s (p99 {:.0} ms), RSS {:.1} MB, commit queue {queued:.0}, projection lag {lag:.0}",
            minute + 1,
            outcome.events_per_second(),
            outcome.latency_percentile_ms(0.99),
            mb(stats.rss_kb)
        );
        rss.push(mb(stats.rss_kb));
        samples.push((outcome, stats));
    }
    let growth = rss[rss.len() - 1] - rss[0];
    eprintln!(
        "  RSS after the first minute {:.1} MB, at the end {:.1} MB: growth {growth:.1} MB",
        rss[0],
        rss[rss.len() - 1]
    );
    let row = Row::from_runs(
        &format!("memory: RSS growth over a {minutes}-minute soak"),
        "MB",
        &[growth],
        &samples,
    );
    report.push(row.against(rss[0]));
    server.stop();
    Ok(())
}

async fn freshness(binary: &std::path::Path, cli: &Cli, report: &mut Report) -> anyhow::Result<()> {
    let duration = Duration::from_secs(cli.seconds);
    // Background load: clients sending batches of 100 back to back; 4 of them come to
    // about half of peak ingest on a 2-core machine, 2 to about a quarter.
    for (name, load_clients) in [
        ("freshness, idle: 200 -> visible in profile", 0usize),
        ("freshness, 2 loading clients: 200 -> visible", 2),
        ("freshness, 4 loading clients: 200 -> visible", 4),
    ] {
        let (mut medians, mut visible, mut reads, mut stats) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..cli.runs {
            let server = CdpServer::start(binary).await?;
            let tenant = server.create_tenant(&format!("fresh-{run}"))?;
            let bodies = data::batches(7 + run as u64, 100, data::BODIES);
            let probes = freshness::probe(&server, &tenant, run, duration, 50);
            let probes = if load_clients == 0 {
                probes.await?
            } else {
                let load = load::drive(
                    &server,
                    &tenant.write_key,
                    &bodies,
                    100,
                    load_clients,
                    duration,
                );
                let (probes, load) = tokio::join!(probes, load);
                let load = load?;
                eprintln!(
                    "  background load: {:.0} events/s",
                    load.events_per_second()
                );
                probes?
            };
            medians.push(freshness::percentile(&probes.visible_ms, 0.5));
            visible.extend(probes.visible_ms);
            reads.extend(probes.read_ms);
            stats.push(server.stats()?);
            server.stop();
        }
        report.push(Row::latency(name, &medians, &visible, &reads, &stats));
    }
    Ok(())
}

/// Ingests a backlog: for `duration`, or in steps of it until `events` are in. Answers the
/// whole of it as one outcome (its rate is the ingest rate the projection is compared to).
async fn backlog(
    server: &CdpServer,
    tenant: &server::Tenant,
    bodies: &[Vec<u8>],
    events: u64,
    duration: Duration,
) -> anyhow::Result<load::Outcome> {
    let mut total = load::drive(server, &tenant.write_key, bodies, 100, 16, duration).await?;
    while total.events < events {
        let more = load::drive(server, &tenant.write_key, bodies, 100, 16, duration).await?;
        total.events += more.events;
        total.failures += more.failures;
        total.elapsed += more.elapsed;
        total.server_cpu_seconds += more.server_cpu_seconds;
        total.client_cpu_seconds += more.client_cpu_seconds;
    }
    Ok(total)
}

async fn projection(
    binary: &std::path::Path,
    cli: &Cli,
    report: &mut Report,
) -> anyhow::Result<()> {
    let duration = Duration::from_secs(cli.seconds);
    let (mut ingest_rates, mut projection_rates, mut samples) =
        (Vec::new(), Vec::new(), Vec::new());
    for run in 0..cli.runs {
        let server = CdpServer::start_with(binary, &[("CDP_PROJECTOR_WORKERS", "0")]).await?;
        let tenant = server.create_tenant(&format!("backlog-{run}"))?;
        let bodies = data::batches(99 + run as u64, 100, data::BODIES);
        let ingested = backlog(&server, &tenant, &bodies, cli.backlog_events, duration).await?;
        let server = server
            .restart_with(&[("CDP_PROJECTOR_WORKERS", "2")])
            .await?;
        let before = server.stats()?;
        let started = std::time::Instant::now();
        let within = Duration::from_secs(600.max(ingested.events / 1000));
        let head = scale::caught_up(&server, &tenant, within).await?;
        let elapsed = started.elapsed();
        let after = server.stats()?;
        let rate = head as f64 / elapsed.as_secs_f64();
        eprintln!(
            "  run {run}: ingested {:.0} events/s; projected {head} events in {:.1} s ({rate:.0} events/s)",
            ingested.events_per_second(),
            elapsed.as_secs_f64()
        );
        ingest_rates.push(ingested.events_per_second());
        projection_rates.push(rate);
        let outcome = load::Outcome {
            events: head as u64,
            failures: 0,
            elapsed,
            latencies_us: Vec::new(),
            server_cpu_seconds: after.cpu_seconds - before.cpu_seconds,
            client_cpu_seconds: 0.0,
        };
        samples.push((outcome, after));
        server.stop();
    }
    let row = Row::from_runs(
        "projection of a backlog (rebuild rate)",
        "events/s",
        &projection_rates,
        &samples,
    );
    let ingest = report::median(&ingest_rates);
    eprintln!("  baseline: ingest of the same backlog, median {ingest:.0} events/s");
    report.push(row.against(ingest));
    Ok(())
}
