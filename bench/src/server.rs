//! Building and starting `cdp` as its own process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::proc_stats::ProcessStats;

/// Builds the release binary of `cdp`, with the benchmark build's switches (which do
/// nothing unless their variables are set), and returns its path.
pub fn build_cdp() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // `cargo run` hands this process variables describing the bench package; passed on,
    // they make the nested build look different from a plain one and rebuild everything.
    let inherited = std::env::vars().map(|(k, _)| k).filter(|k| {
        (k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR")
            || k == "LD_LIBRARY_PATH"
    });
    let mut command = Command::new(cargo);
    for key in inherited {
        command.env_remove(key);
    }
    let status = command
        .args([
            "build",
            "--release",
            "-p",
            "cdp",
            "--bin",
            "cdp",
            "--features",
            "bench",
        ])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("building cdp failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    // Absolute, since the server runs in a directory of its own.
    PathBuf::from(target)
        .join("release/cdp")
        .canonicalize()
        .context("finding the built cdp binary")
}

/// The bearer token of the server's `/metrics`.
const METRICS_TOKEN: &str = "bench-metrics-token";

pub struct Tenant {
    pub tenant_id: uuid::Uuid,
    pub write_key: String,
    pub api_key: String,
}

pub struct CdpServer {
    child: Child,
    pub base_url: String,
    binary: PathBuf,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl CdpServer {
    pub async fn start(binary: &Path) -> anyhow::Result<CdpServer> {
        Self::start_with(binary, &[]).await
    }

    /// Starts with further settings (`CDP_…` variables) on top of the bench's own.
    pub async fn start_with(binary: &Path, extra: &[(&str, &str)]) -> anyhow::Result<CdpServer> {
        let dir = tempfile::tempdir()?;
        let mut env: Vec<(String, String)> = vec![
            (
                "CDP_DATA_DIR".into(),
                dir.path().join("data").display().to_string(),
            ),
            ("CDP_INGEST_EVENTS_PER_SECOND".into(), "100000000".into()),
            ("CDP_INGEST_BURST".into(), "100000000".into()),
            ("RUST_LOG".into(), "warn,cdp::http=info".into()),
            ("CDP_METRICS_TOKEN".into(), METRICS_TOKEN.into()),
        ];
        for var in ["DATABASE_URL", "REDIS_URL"] {
            if let Ok(value) = std::env::var(var) {
                env.push((var.into(), value));
            }
        }
        if std::env::var("DATABASE_URL").is_ok() {
            // A fixed key for the run; the database is the caller's.
            env.push((
                "CDP_MASTER_KEY".into(),
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
            ));
        }
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let (child, base_url) = spawn(binary, &env, dir.path()).await?;
        Ok(CdpServer {
            child,
            base_url,
            binary: binary.to_path_buf(),
            dir,
            env,
        })
    }

    /// Stops the server and starts it again on the same data, with `changed` settings
    /// replacing or adding to the ones it had.
    pub async fn restart_with(mut self, changed: &[(&str, &str)]) -> anyhow::Result<CdpServer> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for (key, value) in changed {
            self.env.retain(|(k, _)| k != key);
            self.env.push((key.to_string(), value.to_string()));
        }
        let (child, base_url) = spawn(&self.binary, &self.env, self.dir.path()).await?;
        self.child = child;
        self.base_url = base_url;
        Ok(self)
    }

    pub fn create_tenant(&self, name: &str) -> anyhow::Result<Tenant> {
        let out = Command::new(&self.binary)
            .args(["tenant", "create", name])
            .envs(self.env.iter().cloned())
            .current_dir(self.dir.path())
            .output()?;
        if !out.status.success() {
            bail!(
                "cdp tenant create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let created: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let tenant_id = created["tenant_id"].as_str().context("tenant_id")?;
        Ok(Tenant {
            tenant_id: tenant_id
                .strip_prefix("ten_")
                .context("a tenant id starts with ten_")?
                .parse()?,
            write_key: created["write_key"]
                .as_str()
                .context("write_key")?
                .to_owned(),
            api_key: created["api_key"].as_str().context("api_key")?.to_owned(),
        })
    }

    /// The data directory (the SQLite database, when no `DATABASE_URL` is set).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One figure of `/metrics`, summed over its labels (0 when absent).
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.base_url))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    pub fn stats(&self) -> anyhow::Result<ProcessStats> {
        ProcessStats::read(self.pid())
    }

    pub fn stop(self) {}
}

// A group that fails part-way must not leave its server running (and holding the
// database) for the next one.
impl Drop for CdpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn(
    binary: &Path,
    env: &[(String, String)],
    dir: &Path,
) -> anyhow::Result<(Child, String)> {
    // `CDP_BENCH_WRAPPER="heaptrack -o /tmp/cdp"` (or `perf record -g -o …`) runs the
    // server under a profiler; the process figures are then the wrapper's.
    let mut command = match std::env::var("CDP_BENCH_WRAPPER") {
        Ok(wrapper) if !wrapper.trim().is_empty() => {
            let mut words = wrapper.split_whitespace();
            let mut command = Command::new(words.next().expect("a word"));
            command.args(words).arg(binary);
            command
        }
        _ => Command::new(binary),
    };
    let mut child = command
        .arg("serve")
        .envs(env.iter().cloned())
        .env("CDP_HTTP_ADDR", "127.0.0.1:0")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting cdp")?;
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("WARN") || line.contains("ERROR") {
                eprintln!("cdp: {line}");
            }
            if let Some(at) = line.find("listening on http://") {
                let url: String = line[at + "listening on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = tx.send(url);
            }
        }
    });
    let base_url = rx
        .recv_timeout(Duration::from_secs(60))
        .context("cdp did not report its address")?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok((child, base_url))
}
