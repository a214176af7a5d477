//! Crashes under load: `cdp` killed with SIGKILL at random moments while clients send
//! batches flat out, many times over, then the log and the profiles are compared with what
//! the clients were told. Every event that got a 200 must be in the log exactly once, the
//! log's sequence must have no gap, and the profiles, once caught up, must equal a rebuild
//! from the log. The same with only the projector killed, mid-batch, while ingestion goes on.
//! `CDP_E2E_KILLS` sets the number of kills (50 by default).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, Tenant, http, identities_of, isolated_env};
use crate::profiles::caught_up;
use crate::sharing::ndjson;

fn kills() -> usize {
    std::env::var("CDP_E2E_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// A small deterministic generator, seeded from the clock (the seed is printed so a failing
/// run can be repeated with `CDP_E2E_SEED`).
struct Random(u64);

impl Random {
    fn new() -> Random {
        let seed = std::env::var("CDP_E2E_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("crash test seed: {seed} (CDP_E2E_SEED repeats it)");
        Random(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One client's batch: mostly orders from a few people, some of them first seen on a
/// device and then signing in, so merges happen in the middle of the load.
fn batch(sender: usize, n: usize) -> (Vec<String>, Value) {
    let mut ids = Vec::new();
    let mut events = Vec::new();
    for i in 0..20 {
        let id = format!("s{sender}-n{n}-{i}");
        let person = (n + i) % 7;
        let event = match i {
            0 => json!({"type": "identify", "userId": format!("u{sender}-{person}"),
                        "anonymousId": format!("a{sender}-{person}"),
                        "traits": {"plan": if n.is_multiple_of(2) { "pro" } else { "free" }, "n": n},
                        "messageId": id}),
            1..=4 => json!({"type": "track", "anonymousId": format!("a{sender}-{person}"),
                            "event": "Viewed", "messageId": id}),
            _ => json!({"type": "track", "userId": format!("u{sender}-{person}"),
                        "event": "Ordered", "properties": {"total": i}, "messageId": id}),
        };
        ids.push(id);
        events.push(event);
    }
    (ids, json!({ "batch": events }))
}

/// Clients sending flat out until the server goes; each returns the ids it was told were
/// stored. A refusal other than the connection going is a failure.
fn senders(
    server: &Server,
    tenant: &Tenant,
    round: usize,
    acks: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    (0..4)
        .map(|sender| {
            let (url, key, acks) = (
                server.url("/v1/batch"),
                tenant.write_key.clone(),
                acks.clone(),
            );
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0.. {
                    let (ids, body) = batch(sender, round * 1_000_000 + n);
                    match http()
                        .post(&url)
                        .basic_auth(&key, Some(""))
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => {
                            acked.extend(ids);
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => panic!("answered {} under load", r.status()),
                        Err(_) => return acked,
                    }
                }
                acked
            })
        })
        .collect()
}

/// What the profiles say, without what a rebuild may give differently (ids, times): for
/// each set of identities, its trait values and event counts.
async fn profiles_by_identities(
    server: &Server,
    tenant: &Tenant,
) -> BTreeMap<BTreeSet<String>, Value> {
    let mut shown = BTreeMap::new();
    for profile in ndjson(server, tenant, "/v1/exports/profiles").await {
        let identities = identities_of(&profile);
        let traits: BTreeMap<&str, &Value> = profile["traits"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), &v["value"]))
            .collect();
        let counts: BTreeMap<&str, &Value> = profile["event_counts"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), &v["count"]))
            .collect();
        let previous = shown.insert(
            identities.clone(),
            json!({"traits": traits, "counts": counts}),
        );
        assert!(previous.is_none(), "two profiles hold {identities:?}");
    }
    shown
}

/// The log holds every acknowledged event once, in a sequence without gaps; returns how
/// many client events it holds.
async fn check_log(server: &Server, tenant: &Tenant, acknowledged: &[String]) -> usize {
    let events = server.log_events(tenant).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "the log has a gap"
    );
    let client: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] != "identity.merged")
        .map(|e| e["message_id"].as_str().unwrap())
        .collect();
    let stored: HashSet<&str> = client.iter().copied().collect();
    assert_eq!(stored.len(), client.len(), "an event was stored twice");
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, first {:?}",
        lost.len(),
        lost.first()
    );
    client.len()
}

/// After catching up, the profiles equal what a rebuild from the log gives.
async fn check_projection_equals_a_rebuild(server: &Server, tenant: &Tenant) -> usize {
    caught_up(server, tenant).await;
    let before = profiles_by_identities(server, tenant).await;
    let out = server.cdp(&["rebuild", "--tenant", &tenant.id]);
    assert!(
        out.status.success(),
        "rebuild: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    caught_up(server, tenant).await;
    let after = profiles_by_identities(server, tenant).await;
    assert_eq!(
        before.len(),
        after.len(),
        "profile counts differ after the rebuild"
    );
    for (identities, shown) in &before {
        assert_eq!(
            Some(shown),
            after.get(identities),
            "{identities:?} differs after the rebuild"
        );
    }
    before.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_many_times_loses_no_acknowledged_event() {
    let kills = kills();
    let mut random = Random::new();
    let env = quick_failover(isolated_env().await);
    let mut server = Server::start(&env);
    let tenant = server.create_tenant("crash");
    let mut acknowledged = Vec::new();
    let started = Instant::now();
    for round in 0..kills {
        let acks = Arc::new(AtomicUsize::new(0));
        let tasks = senders(&server, &tenant, round, &acks);
        // A random moment: after 1 to 15 acknowledged batches, a few milliseconds on.
        let wait_for = 1 + random.below(15) as usize;
        while acks.load(Ordering::Relaxed) < wait_for {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(random.below(20))).await;
        server.kill();
        for task in tasks {
            acknowledged.extend(task.await.unwrap());
        }
        server = server.kill_and_restart();
    }
    let stored = check_log(&server, &tenant, &acknowledged).await;
    let profiles = check_projection_equals_a_rebuild(&server, &tenant).await;
    eprintln!(
        "crash test: {kills} SIGKILLs in {:.0} s; {} events acknowledged, all found; {stored} client events in the log, none twice, no gap; {profiles} profiles equal to a rebuild",
        started.elapsed().as_secs_f64(),
        acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projector_killed_mid_batch_many_times_ends_equal_to_a_rebuild() {
    let kills = kills();
    let mut random = Random::new();
    let mut env = quick_failover(isolated_env().await);
    // Small batches: more of them, so a kill lands inside one more often.
    env.push(("CDP_PROJECTOR_BATCH_SIZE".into(), "20".into()));
    let dir = tempfile::tempdir().unwrap();
    let front = Server::start_in_with(dir.path(), &env, &["--roles", "ingest,api"]);
    let tenant = front.create_tenant("projector-crash");
    // A backlog for the projector to work through while it is killed again and again.
    let mut acknowledged = Vec::new();
    for n in 0..400 {
        let (ids, body) = batch(1, n);
        let (status, _) = front.track(&tenant, "/v1/batch", &body).await;
        assert_eq!(status, 200);
        acknowledged.extend(ids);
    }
    let stop = Arc::new(AtomicBool::new(false));
    // And ingestion going on throughout, into the process that is never killed.
    let load = {
        let (url, key, stop) = (
            front.url("/v1/batch"),
            tenant.write_key.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (ids, body) = batch(0, n);
                n += 1;
                let r = http()
                    .post(&url)
                    .basic_auth(&key, Some(""))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                acked.extend(ids);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            acked
        })
    };
    let applied = |projection: &Value| {
        projection["generations"][0]["events_applied"]
            .as_i64()
            .unwrap_or(0)
    };
    let mut projector = Server::start_in_with(dir.path(), &env, &["--roles", "projector"]);
    let mut with_backlog = 0;
    let started = Instant::now();
    for kill in 0..kills {
        // Once it has taken the tenant over and committed a batch, kill it at a random
        // moment after.
        let (_, before) = call(&front, "GET", "/v1/projection", &tenant.api_key, None).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, now) = call(&front, "GET", "/v1/projection", &tenant.api_key, None).await;
            if applied(&now) > applied(&before) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "kill {kill}: the projector never resumed\n{}",
                projector.log()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(random.below(30))).await;
        projector.kill();
        let (_, after) = call(&front, "GET", "/v1/projection", &tenant.api_key, None).await;
        if after["lag"].as_i64().unwrap_or(0) > 0 {
            with_backlog += 1;
        }
        projector = projector.kill_and_restart();
    }
    stop.store(true, Ordering::Relaxed);
    acknowledged.extend(load.await.unwrap());
    let stored = check_log(&front, &tenant, &acknowledged).await;
    let projection = caught_up(&front, &tenant).await;
    assert_eq!(
        projection["generations"][0]["events_applied"].as_i64(),
        Some(stored as i64),
        "every client event applied once: {projection}"
    );
    let profiles = check_projection_equals_a_rebuild(&front, &tenant).await;
    assert!(
        with_backlog * 2 >= kills,
        "only {with_backlog} of {kills} kills came while the projector had work left"
    );
    eprintln!(
        "projector crash test: {kills} SIGKILLs of the projector in {:.0} s, each after it had committed a batch, {with_backlog} with work still to do; {} events acknowledged, all found and applied once; {profiles} profiles equal to a rebuild",
        started.elapsed().as_secs_f64(),
        acknowledged.len()
    );
}

/// A killed projector's tenants are taken over within about a second rather than 15.
fn quick_failover(mut env: Vec<(String, String)>) -> Vec<(String, String)> {
    env.push(("CDP_PROJECTOR_LEASE_MS".into(), "1000".into()));
    env.push(("CDP_PROJECTOR_SWEEP_MS".into(), "100".into()));
    env
}
