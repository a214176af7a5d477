//! Configuration in layers: built-in defaults, then an optional TOML file (`cdp.toml`, or
//! the file `CDP_CONFIG` names), then `CDP_`-prefixed environment variables, plus the
//! conventional `DATABASE_URL` and `REDIS_URL`. A bad value fails with the name of its field.

mod secret;

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use secret::Secret;

#[derive(Debug, Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for development.
    #[default]
    Pretty,
    /// One JSON object per line, for production log pipelines.
    Json,
}

/// Unknown keys are refused in the file (a typo there is a mistake); in the environment only
/// the known `CDP_` names are read, since platforms add variables of their own (Kubernetes
/// adds `CDP_PORT` for a service named `cdp`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded default keeps its SQLite database and generated master key.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// Address the HTTP server binds; port 0 picks a free port.
    #[serde(default = "defaults::http_addr")]
    pub http_addr: SocketAddr,
    /// How long a client has to send a request's body once its head has arrived; past it the
    /// request gets 408 and the connection is closed, so slow clients hold no worker.
    #[serde(default = "defaults::http_body_timeout_ms")]
    pub http_body_timeout_ms: u64,
    /// `postgres://…` switches storage to PostgreSQL; unset means SQLite in `data_dir`.
    #[serde(default)]
    pub database_url: Option<Secret>,
    /// `redis://…` turns Redis on.
    #[serde(default)]
    pub redis_url: Option<Secret>,
    /// Base64 of the 32-byte master key.
    #[serde(default)]
    pub master_key: Option<Secret>,
    /// A file holding the base64 master key.
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    /// Base64 of the master key being rotated away from: what it wrapped still opens
    /// until `cdp keys rotate-master` has rewrapped it under `master_key`.
    #[serde(default)]
    pub previous_master_key: Option<Secret>,
    #[serde(default)]
    pub log_format: LogFormat,
    /// A tracing filter, for example `info` or `cdp=debug,sea_orm=warn`.
    #[serde(default = "defaults::log")]
    pub log: String,
    #[serde(default = "defaults::db_max_connections")]
    pub db_max_connections: u32,
    /// How many unwrapped data keys the keyring keeps in memory.
    #[serde(default = "defaults::key_cache_capacity")]
    pub key_cache_capacity: usize,
    /// The ingest rate limit of tenants without one of their own: events per second…
    #[serde(default = "defaults::ingest_events_per_second")]
    pub ingest_events_per_second: u32,
    /// …and the burst allowed on top.
    #[serde(default = "defaults::ingest_burst")]
    pub ingest_burst: u32,
    /// Events that may wait for a commit before ingestion answers 503.
    #[serde(default = "defaults::ingest_max_queued_events")]
    pub ingest_max_queued_events: usize,
    /// Tracking and webhook requests worked on at once; past it they get 503 before their
    /// body is read, so that overload does not slow every other request.
    #[serde(default = "defaults::ingest_max_concurrent_requests")]
    pub ingest_max_concurrent_requests: usize,
    /// Commit transactions in flight at once (default: 1 on SQLite, 4 on PostgreSQL).
    #[serde(default)]
    pub ingest_committers: Option<usize>,
    /// With `admin_password`: the first platform admin, created at start when none exists.
    #[serde(default)]
    pub admin_email: Option<String>,
    #[serde(default)]
    pub admin_password: Option<Secret>,
    /// Tenants this process projects at once; 0 leaves projection to other processes.
    #[serde(default = "defaults::projector_workers")]
    pub projector_workers: usize,
    /// Events per projection transaction.
    #[serde(default = "defaults::projector_batch_size")]
    pub projector_batch_size: u64,
    /// Profiles the projector keeps in memory between batches, over all tenants.
    #[serde(default = "defaults::projector_cache_profiles")]
    pub projector_cache_profiles: usize,
    /// How long a projector's hold on a tenant lasts without renewal: after a crash, another
    /// process takes the tenant over this long after the last commit at the latest.
    #[serde(default = "defaults::projector_lease_ms")]
    pub projector_lease_ms: u64,
    /// How often lagging tenants are looked for (in case a wake-up was missed, and after
    /// another process's lease lapsed).
    #[serde(default = "defaults::projector_sweep_ms")]
    pub projector_sweep_ms: u64,
    /// The bearer token `/metrics` asks for; unset, `/metrics` is off.
    #[serde(default)]
    pub metrics_token: Option<Secret>,
    /// Destinations this process sends to at once; 0 leaves delivery to other processes.
    #[serde(default = "defaults::dispatcher_concurrency")]
    pub dispatcher_concurrency: usize,
    /// Networks beyond the public internet that deliveries may reach, comma-separated
    /// (`10.0.0.0/8, 127.0.0.1`): for self-hosted receivers and tests. Empty by default.
    #[serde(default)]
    pub destinations_allowed_networks: String,
    /// How long a failing delivery is retried before it is dead-lettered.
    #[serde(default = "defaults::delivery_window_seconds")]
    pub delivery_window_seconds: u64,
    /// The wait after a delivery's first failure; it doubles with each further one.
    #[serde(default = "defaults::delivery_first_retry_ms")]
    pub delivery_first_retry_ms: u64,
    /// How long a receiver has to answer.
    #[serde(default = "defaults::delivery_timeout_ms")]
    pub delivery_timeout_ms: u64,
    /// How long a destination that keeps failing is paused the first time.
    #[serde(default = "defaults::delivery_breaker_cooldown_ms")]
    pub delivery_breaker_cooldown_ms: u64,
}

mod defaults {
    use std::net::SocketAddr;
    use std::path::PathBuf;

    pub fn data_dir() -> PathBuf {
        PathBuf::from("./data")
    }
    pub fn http_addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 8080))
    }
    pub fn http_body_timeout_ms() -> u64 {
        30_000
    }
    pub fn log() -> String {
        "info".to_owned()
    }
    pub fn db_max_connections() -> u32 {
        16
    }
    pub fn key_cache_capacity() -> usize {
        100_000
    }
    pub fn ingest_events_per_second() -> u32 {
        10_000
    }
    pub fn ingest_burst() -> u32 {
        20_000
    }
    pub fn ingest_max_queued_events() -> usize {
        100_000
    }
    pub fn ingest_max_concurrent_requests() -> usize {
        64
    }
    pub fn projector_workers() -> usize {
        2
    }
    pub fn projector_batch_size() -> u64 {
        500
    }
    pub fn projector_cache_profiles() -> usize {
        50_000
    }
    pub fn projector_lease_ms() -> u64 {
        10_000
    }
    pub fn projector_sweep_ms() -> u64 {
        5_000
    }
    pub fn dispatcher_concurrency() -> usize {
        64
    }
    pub fn delivery_window_seconds() -> u64 {
        4 * 3600
    }
    pub fn delivery_first_retry_ms() -> u64 {
        5_000
    }
    pub fn delivery_timeout_ms() -> u64 {
        10_000
    }
    pub fn delivery_breaker_cooldown_ms() -> u64 {
        60_000
    }
}

/// Every setting's name, as read from `CDP_<NAME>`.
pub const FIELDS: [&str; 32] = [
    "data_dir",
    "http_addr",
    "http_body_timeout_ms",
    "database_url",
    "redis_url",
    "master_key",
    "master_key_file",
    "previous_master_key",
    "log_format",
    "log",
    "db_max_connections",
    "key_cache_capacity",
    "ingest_events_per_second",
    "ingest_burst",
    "ingest_max_queued_events",
    "ingest_max_concurrent_requests",
    "ingest_committers",
    "admin_email",
    "admin_password",
    "projector_workers",
    "projector_batch_size",
    "projector_cache_profiles",
    "projector_lease_ms",
    "projector_sweep_ms",
    "metrics_token",
    "dispatcher_concurrency",
    "destinations_allowed_networks",
    "delivery_window_seconds",
    "delivery_first_retry_ms",
    "delivery_timeout_ms",
    "delivery_breaker_cooldown_ms",
    "config",
];

/// The smallest commit queue that can take the largest batch (the tracking API's 2,500 events).
pub const MIN_QUEUED_EVENTS: usize = 2500;

impl Config {
    /// Reads the configuration from the file and the process environment.
    pub fn load() -> Result<Config, ConfigError> {
        let config = Self::from_figment(Self::figment())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.ingest_max_queued_events < MIN_QUEUED_EVENTS {
            return Err(ConfigError(format!(
                "ingest_max_queued_events must be at least {MIN_QUEUED_EVENTS}, the largest batch"
            )));
        }
        if !(1..=10_000).contains(&self.projector_batch_size) {
            return Err(ConfigError(
                "projector_batch_size must be between 1 and 10000".into(),
            ));
        }
        if self.projector_lease_ms < 100 || self.projector_sweep_ms < 10 {
            return Err(ConfigError(
                "projector_lease_ms must be at least 100 and projector_sweep_ms at least 10".into(),
            ));
        }
        if self.http_body_timeout_ms == 0 || self.ingest_max_concurrent_requests == 0 {
            return Err(ConfigError(
                "http_body_timeout_ms and ingest_max_concurrent_requests must be at least 1".into(),
            ));
        }
        if self.delivery_timeout_ms == 0 || self.delivery_first_retry_ms == 0 {
            return Err(ConfigError(
                "delivery_timeout_ms and delivery_first_retry_ms must be at least 1".into(),
            ));
        }
        if self.ingest_events_per_second == 0 || self.ingest_burst < self.ingest_events_per_second {
            return Err(ConfigError(
                "ingest_events_per_second must be at least 1 and ingest_burst at least as large"
                    .into(),
            ));
        }
        Ok(())
    }

    /// `CDP_` variables of the environment that name no setting (likely typos), for a warning.
    pub fn unknown_environment() -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| {
                k.strip_prefix("CDP_")
                    .is_some_and(|rest| !FIELDS.contains(&rest.to_ascii_lowercase().as_str()))
            })
            .collect()
    }

    fn figment() -> Figment {
        let file = std::env::var_os("CDP_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("cdp.toml"));
        Figment::new()
            .merge(Toml::file(file))
            .merge(Env::prefixed("CDP_").filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key != "config" && FIELDS.contains(&key.as_str())
            }))
            .merge(Env::raw().only(&["database_url", "redis_url"]))
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        figment.extract().map_err(|e| ConfigError(e.to_string()))
    }

    /// The configuration as a `cdp.toml` would hold it, secrets masked (`cdp config`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a configuration serializes as TOML")
    }

    /// Whether storage is the embedded SQLite database.
    pub fn is_embedded(&self) -> bool {
        self.database_url.is_none()
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn defaults_need_no_configuration() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let config = Config::load().unwrap();
            assert_eq!(config.data_dir, PathBuf::from("./data"));
            assert_eq!(config.http_addr.to_string(), "127.0.0.1:8080");
            assert!(config.is_embedded());
            assert!(config.redis_url.is_none());
            assert_eq!(config.log_format, LogFormat::Pretty);
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "cdp.toml",
                "http_addr = \"0.0.0.0:9000\"\ndata_dir = \"/srv/cdp\"",
            )?;
            jail.set_env("CDP_HTTP_ADDR", "127.0.0.1:0");
            jail.set_env("DATABASE_URL", "postgres://cdp:pw@db/cdp");
            jail.set_env("CDP_LOG_FORMAT", "json");
            let config = Config::load().unwrap();
            assert_eq!(config.http_addr.port(), 0);
            assert_eq!(config.data_dir, PathBuf::from("/srv/cdp"));
            assert_eq!(
                config.database_url.unwrap().expose(),
                "postgres://cdp:pw@db/cdp"
            );
            assert_eq!(config.log_format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn the_printed_configuration_masks_secrets_and_reads_back() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("DATABASE_URL", "postgres://cdp:hunter2@db/cdp");
            jail.set_env("CDP_METRICS_TOKEN", "scrape-token-1");
            jail.set_env("CDP_PROJECTOR_WORKERS", "5");
            let printed = Config::load().unwrap().to_toml();
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(!printed.contains("scrape-token-1"), "{printed}");
            assert!(printed.contains("database_url = \"***\""), "{printed}");
            assert!(printed.contains("projector_workers = 5"), "{printed}");
            // What it prints is a valid cdp.toml with the same settings.
            jail.clear_env();
            jail.create_file("cdp.toml", &printed)?;
            let again = Config::load().unwrap();
            assert_eq!(again.projector_workers, 5);
            assert_eq!(again.database_url.unwrap().expose(), "***");
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_names_its_field() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CDP_HTTP_ADDR", "not an address");
            let err = Config::load().unwrap_err().to_string();
            assert!(err.to_lowercase().contains("http_addr"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_settings_are_refused_in_the_file_and_named_in_the_environment() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("cdp.toml", "http_adr = \"127.0.0.1:1\"")?;
            let err = Config::load().unwrap_err().to_string();
            assert!(err.to_lowercase().contains("http_adr"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CDP_HTTP_ADR", "127.0.0.1:1");
            jail.set_env("CDP_PORT", "tcp://10.0.0.1:8080");
            jail.set_env("CDP_SERVICE_HOST", "10.0.0.1");
            assert_eq!(Config::load().unwrap().http_addr.port(), 8080);
            let mut unknown = Config::unknown_environment();
            unknown.sort();
            assert_eq!(unknown, ["CDP_HTTP_ADR", "CDP_PORT", "CDP_SERVICE_HOST"]);
            Ok(())
        });
    }

    #[test]
    fn the_list_of_settings_matches_the_struct() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let shown = serde_json::to_value(Config::load().unwrap()).unwrap();
            let mut keys: Vec<&str> = shown
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            keys.push("config");
            keys.sort();
            let mut fields = FIELDS.to_vec();
            fields.sort();
            assert_eq!(keys, fields);
            Ok(())
        });
    }

    #[test]
    fn a_commit_queue_smaller_than_a_batch_is_refused() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CDP_INGEST_MAX_QUEUED_EVENTS", "100");
            let err = Config::load().unwrap_err().to_string();
            assert!(err.contains("ingest_max_queued_events"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CDP_MASTER_KEY", "c2VjcmV0");
            let config = Config::load().unwrap();
            assert!(!format!("{config:?}").contains("c2VjcmV0"));
            Ok(())
        });
    }
}
