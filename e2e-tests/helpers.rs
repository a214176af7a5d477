use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;

pub const CDP: &str = env!("CARGO_BIN_EXE_cdp");

/// Settings every test shares: the suite's database when there is one, with a master key
/// fixed for this test process, and nothing else from the caller's environment.
pub fn suite_env() -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Ok(url) = std::env::var("DATABASE_URL") {
        env.push(("DATABASE_URL".into(), url));
        env.push(("CDP_MASTER_KEY".into(), test_master_key()));
    }
    if let Ok(url) = std::env::var("REDIS_URL") {
        env.push(("REDIS_URL".into(), url));
    }
    env
}

fn test_master_key() -> String {
    use std::sync::OnceLock;
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(random_master_key).clone()
}

/// A new master key, base64 as `CDP_MASTER_KEY` takes it.
pub fn random_master_key() -> String {
    let out = Command::new("sh")
        .args(["-c", "head -c 32 /dev/urandom | base64"])
        .output()
        .expect("generate a master key");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A `cdp` command in `dir` with exactly `env` (plus PATH): no CDP_ setting leaks in.
pub fn cdp_command(dir: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(CDP);
    cmd.current_dir(dir).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    cmd.env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub fn run_cdp(dir: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    cdp_command(dir, env)
        .args(args)
        .output()
        .expect("run the cdp binary")
}

/// A running `cdp serve`, killed when dropped.
pub struct Server {
    child: Child,
    pub base_url: String,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    /// The arguments after `serve`, kept for a restart.
    args: Vec<String>,
    log: Arc<Mutex<String>>,
    temp: Option<TempDir>,
}

/// A tenant made by `cdp tenant create`, with its keys.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: String,
    pub write_key: String,
    pub api_key: String,
}

impl Server {
    /// Starts `cdp serve` on a free port in a fresh directory.
    pub fn start(env: &[(String, String)]) -> Server {
        Self::start_with(env, &[])
    }

    /// `cdp serve` with these arguments, on a free port in a fresh directory.
    pub fn start_with(env: &[(String, String)], args: &[&str]) -> Server {
        let temp = tempfile::tempdir().expect("temporary directory");
        let dir = temp.path().to_path_buf();
        let mut server = Self::start_in_with(&dir, env, args);
        server.temp = Some(temp);
        server
    }

    pub fn start_in(dir: &Path, env: &[(String, String)]) -> Server {
        Self::start_in_with(dir, env, &[])
    }

    /// `cdp serve` with these arguments (`--roles …`) in `dir`.
    pub fn start_in_with(dir: &Path, env: &[(String, String)], args: &[&str]) -> Server {
        let server_env = env.to_vec();
        let mut env = env.to_vec();
        env.push(("CDP_HTTP_ADDR".into(), "127.0.0.1:0".into()));
        let mut child = cdp_command(dir, &env)
            .arg("serve")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cdp serve");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let url: String = line[at + "listening on ".len()..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    let _ = tx.send(url);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let base_url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "cdp serve did not log its address:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Server {
            child,
            base_url,
            dir: dir.to_path_buf(),
            env: server_env,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            log,
            temp: None,
        }
    }

    /// Runs another `cdp` command against the same storage.
    pub fn cdp(&self, args: &[&str]) -> Output {
        run_cdp(&self.dir, &self.env, args)
    }

    pub fn create_tenant(&self, name: &str) -> Tenant {
        let out = self.cdp(&["tenant", "create", name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        Tenant {
            id: created["tenant_id"].as_str().unwrap().to_owned(),
            write_key: created["write_key"].as_str().unwrap().to_owned(),
            api_key: created["api_key"].as_str().unwrap().to_owned(),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL now, without waiting; for killing the server while requests are in flight.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Stops the server the hard way (SIGKILL) and starts it again on the same storage.
    pub fn kill_and_restart(self) -> Server {
        let env = self.env.clone();
        self.kill_and_restart_with(&env)
    }

    /// Like [`Server::kill_and_restart`], with other settings.
    pub fn kill_and_restart_with(mut self, env: &[(String, String)]) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let temp = self.temp.take();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut restarted = Server::start_in_with(&self.dir, env, &args);
        restarted.temp = temp;
        restarted
    }

    /// Every event clients sent to the tenant's log, read through the management API (the
    /// merge records the projector adds are left out).
    pub async fn events(&self, tenant: &Tenant) -> Vec<serde_json::Value> {
        self.log_events(tenant)
            .await
            .into_iter()
            .filter(|e| e["type"] != "identity.merged")
            .collect()
    }

    /// Every event of the tenant's log, the system's own included.
    pub async fn log_events(&self, tenant: &Tenant) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let response = http()
                .get(self.url(&format!("/v1/events?after={after}&limit=1000")))
                .bearer_auth(&tenant.api_key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let page: serde_json::Value = response.json().await.unwrap();
            let events = page["events"].as_array().unwrap();
            if events.is_empty() {
                return all;
            }
            all.extend(events.iter().cloned());
            after = page["next_after"].as_i64().unwrap();
        }
    }

    /// Asserts that every message id in `acknowledged` is in the tenant's log and that no
    /// message id is stored twice; answers how many client events the log holds.
    pub async fn assert_acknowledged_stored_once(
        &self,
        tenant: &Tenant,
        acknowledged: &[String],
    ) -> usize {
        let events = self.events(tenant).await;
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in &events {
            *counts.entry(e["message_id"].as_str().unwrap()).or_default() += 1;
        }
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "stored more than once: {twice:?}");
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|id| !counts.contains_key(id.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "acknowledged but not stored: {missing:?}\n{}",
            self.log()
        );
        events.len()
    }

    /// POSTs a JSON body to a tracking endpoint with the write key as Basic user name.
    pub async fn track(
        &self,
        tenant: &Tenant,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = http()
            .post(self.url(path))
            .basic_auth(&tenant.write_key, Some(""))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Scrapes `/metrics` with its token.
    pub async fn metrics(&self, token: &str) -> String {
        let response = http()
            .get(self.url("/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (at most 60 seconds) for the process to exit; returns
    /// whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for cdp") {
                return status.success();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "cdp did not stop after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs `path` and returns the status and the JSON body (`Null` when the body is not JSON).
pub async fn get_json(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let response = http().get(server.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

pub fn http() -> reqwest::Client {
    cdp_dispatcher::install_tls_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Like [`suite_env`], but on PostgreSQL in a database of its own, for tests that must
/// know no other server works the same tenants (projectors share out every tenant of a
/// database between them).
pub async fn isolated_env() -> Vec<(String, String)> {
    let mut env = suite_env();
    let Some((_, url)) = env.iter_mut().find(|(k, _)| k == "DATABASE_URL") else {
        return env;
    };
    use sea_orm::ConnectionTrait;
    let name = format!(
        "cdp_e2e_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let admin = sea_orm::Database::connect(url.as_str())
        .await
        .expect("connect to DATABASE_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a database for the test");
    let (base, _) = url.rsplit_once('/').expect("a database URL ends in /name");
    *url = format!("{base}/{name}");
    env
}

/// A profile's identities as `kind:value`, as the profile API and the exports show them.
pub fn identities_of(profile: &serde_json::Value) -> std::collections::BTreeSet<String> {
    profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}:{}",
                i["type"].as_str().unwrap(),
                i["value"].as_str().unwrap()
            )
        })
        .collect()
}

/// Percent-encodes everything but unreserved characters, as a client building a URL would.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
