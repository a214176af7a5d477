//! The disk under the database fills up while clients send events: ingestion refuses with
//! 503 `storage_full` and `Retry-After`, never acknowledges what it could not store, stays
//! up, and takes events again by itself once space is freed. The database lives on a small
//! tmpfs of the test's own: SQLite's data directory, or a PostgreSQL tablespace holding the
//! test's database. Mounting needs root, as on the project's machines and in CI.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Server, Tenant, get_json, http, suite_env};
use crate::profiles::caught_up;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "{program} {args:?}: {status:?}"
    );
}

/// A tmpfs of `megabytes`, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let size = format!("size={megabytes}m");
        run(
            "mount",
            &["-t", "tmpfs", "-o", &size, "tmpfs", path_str(dir.path())],
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Takes every byte left with a file of its own; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 4096, 1] {
            let bytes = vec![0u8; chunk];
            while file.write_all(&bytes).and_then(|()| file.flush()).is_ok() {}
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .args(["-l", path_str(self.dir.path())])
            .status();
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A PostgreSQL database of the test's own whose tables live in a tablespace on `disk`;
/// dropped with it.
struct DatabaseOnDisk {
    admin_url: String,
    name: String,
}

impl DatabaseOnDisk {
    fn create(suite_url: &str, disk: &SmallDisk) -> (DatabaseOnDisk, String) {
        let (base, _) = suite_url.rsplit_once('/').unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let database = DatabaseOnDisk {
            admin_url: format!("{base}/postgres"),
            name: format!("cdp_e2e_full_{nanos}"),
        };
        run("chown", &["postgres:postgres", path_str(disk.path())]);
        database.psql(&format!(
            "CREATE TABLESPACE {} LOCATION '{}'",
            database.name,
            path_str(disk.path())
        ));
        database.psql(&format!(
            "CREATE DATABASE {0} TABLESPACE {0}",
            database.name
        ));
        let url = format!("{base}/{}", database.name);
        (database, url)
    }

    fn psql(&self, sql: &str) {
        run(
            "psql",
            &["-qX", "-v", "ON_ERROR_STOP=1", &self.admin_url, "-c", sql],
        );
    }
}

impl Drop for DatabaseOnDisk {
    fn drop(&mut self) {
        for sql in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            format!("DROP TABLESPACE IF EXISTS {}", self.name),
        ] {
            let _ = Command::new("psql")
                .args(["-qX", &self.admin_url, "-c", &sql])
                .status();
        }
    }
}

/// One batch of five events, each with a kilobyte of properties, so that the disk fills
/// in a few hundred batches.
fn batch(n: usize) -> Value {
    let events: Vec<Value> = (0..5)
        .map(|i| {
            json!({
                "type": "track",
                "userId": format!("u{}", n % 7),
                "event": "Page Filled",
                "messageId": format!("m{n}-{i}"),
                "properties": {"padding": "x".repeat(1000), "n": n}
            })
        })
        .collect();
    json!({ "batch": events })
}

fn message_ids(body: &Value) -> Vec<String> {
    body["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_refused_clearly_loses_nothing_acknowledged_and_heals_when_freed() {
    if !is_root() {
        eprintln!("disk full: skipped, mounting a tmpfs needs root");
        return;
    }
    let mut env = suite_env();
    let postgres = env
        .iter()
        .find(|(k, v)| k == "DATABASE_URL" && v.starts_with("postgres"))
        .map(|(_, v)| v.clone());
    // PostgreSQL copies its template database into the tablespace first.
    let disk = SmallDisk::mount(if postgres.is_some() { 64 } else { 16 });
    let _database = postgres.map(|url| {
        let (database, url) = DatabaseOnDisk::create(&url, &disk);
        env.retain(|(k, _)| k != "DATABASE_URL");
        env.push(("DATABASE_URL".into(), url));
        database
    });
    // SQLite keeps its data under the server's directory: the small disk.
    let server = Server::start_in(disk.path(), &env);
    let tenant = server.create_tenant("disk-full");

    let mut acknowledged = Vec::new();
    let mut n = 0;
    let mut send = async |server: &Server, tenant: &Tenant| {
        n += 1;
        let body = batch(n);
        let response = http()
            .post(server.url("/v1/batch"))
            .basic_auth(&tenant.write_key, Some(""))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("batch {n}: {e}\n{}", server.log()));
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").cloned();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 {
            acknowledged.extend(message_ids(&body));
        }
        (status, retry_after, answer)
    };
    for _ in 0..5 {
        assert_eq!(send(&server, &tenant).await.0, 200);
    }

    let filler = disk.fill();
    let full_at = Instant::now();
    let mut refusals = BTreeMap::<String, usize>::new();
    let mut accepted_while_full = 0;
    loop {
        let (status, retry_after, answer) = send(&server, &tenant).await;
        match status {
            200 => accepted_while_full += 1,
            503 => {
                assert!(retry_after.is_some(), "503 without Retry-After: {answer}");
                *refusals
                    .entry(answer["code"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
                if answer["code"] == "storage_full" {
                    break;
                }
            }
            other => panic!("{other} while the disk is full: {answer}\n{}", server.log()),
        }
        assert!(
            full_at.elapsed() < Duration::from_secs(60),
            "never refused in a minute of a full disk: {accepted_while_full} batches taken, \
             refusals {refusals:?}\n{}",
            server.log()
        );
    }
    // While the disk stays full, a batch is stored only where it fits into space the
    // database already holds (a failed write's, say), and refused clearly otherwise; the
    // server stays up for everything else.
    for _ in 0..3 {
        let (status, _, answer) = send(&server, &tenant).await;
        assert!(
            status == 200 || (status, &answer["code"]) == (503, &json!("storage_full")),
            "{status} {answer}"
        );
    }
    assert_eq!(get_json(&server, "/healthz").await.0, 200);
    let refused_for = full_at.elapsed();

    std::fs::remove_file(filler).unwrap();
    let freed_at = Instant::now();
    loop {
        let (status, _, answer) = send(&server, &tenant).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{answer}");
        assert!(
            freed_at.elapsed() < Duration::from_secs(30),
            "never took events again after space was freed: {answer}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let healed = freed_at.elapsed();

    let found = server
        .assert_acknowledged_stored_once(&tenant, &acknowledged)
        .await;
    // The projector, refused meanwhile as well, catches up by itself.
    caught_up(&server, &tenant).await;
    let log = server.log();
    assert!(log.contains("storage is full"), "{log}");
    eprintln!(
        "disk full: {accepted_while_full} batches still taken into space already held, then \
         refused ({refusals:?}) for {refused_for:?}; events taken again {healed:?} after space \
         was freed; {} acknowledged, {found} stored, none twice",
        acknowledged.len()
    );
}
