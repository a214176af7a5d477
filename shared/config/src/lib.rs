//! Configuration in layers: built-in defaults, then an optional TOML file (`cdp.toml`, or
//! the file `CDP_CONFIG` names), then `CDP_`-prefixed environment variables, plus the
//! conventional `DATABASE_URL` and `REDIS_URL`. A bad value fails with the name of its field.

mod secret;

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use thiserror::Error;

pub use secret::Secret;

#[derive(Debug, Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for development.
    #[default]
    Pretty,
    /// One JSON object per line, for production log pipelines.
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded default keeps its SQLite database and generated master key.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// Address the HTTP server binds; port 0 picks a free port.
    #[serde(default = "defaults::http_addr")]
    pub http_addr: SocketAddr,
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
    /// Commit transactions in flight at once (default: 1 on SQLite, 4 on PostgreSQL).
    #[serde(default)]
    pub ingest_committers: Option<usize>,
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
}

impl Config {
    /// Reads the configuration from the file and the process environment.
    pub fn load() -> Result<Config, ConfigError> {
        Self::from_figment(Self::figment())
    }

    fn figment() -> Figment {
        let file = std::env::var_os("CDP_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("cdp.toml"));
        Figment::new()
            .merge(Toml::file(file))
            .merge(Env::prefixed("CDP_").ignore(&["config"]))
            .merge(Env::raw().only(&["database_url", "redis_url"]))
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        figment.extract().map_err(|e| ConfigError(e.to_string()))
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
    fn unknown_settings_are_refused() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CDP_HTTP_ADR", "127.0.0.1:1");
            let err = Config::load().unwrap_err().to_string();
            assert!(err.to_lowercase().contains("http_adr"), "{err}");
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
