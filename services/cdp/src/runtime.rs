//! Start-up: storage, migrations, the master key and the keyring, and Redis when configured.

use std::path::Path;
use std::time::Duration;

use cdp_config::Config;
use cdp_keyring::{Keyring, KeyringOptions, MasterKey};
use cdp_storage::{
    Backend, ConnectOptions, DatabaseConnection, FastPath, connect, create_private_dir, migrate,
    run_checkpoints, sqlite_url,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::Error;

/// What every role shares once started.
#[derive(Clone)]
pub struct Runtime {
    pub db: DatabaseConnection,
    pub backend: Backend,
    pub keyring: Keyring,
    pub redis: Option<FastPath>,
    /// The database URL, kept to open further pools; it may hold a password.
    database_url: std::sync::Arc<str>,
}

impl Runtime {
    /// Opens the database (SQLite in the data directory unless `DATABASE_URL` says
    /// otherwise), applies migrations, loads the master key and connects to Redis lazily.
    pub async fn start(config: &Config) -> Result<Runtime, Error> {
        let url = match &config.database_url {
            Some(url) => url.expose().to_owned(),
            None => sqlite_url(&config.data_dir)?,
        };
        let backend = Backend::of_url(&url)?;
        let db = connect(
            &url,
            &ConnectOptions {
                max_connections: config.db_max_connections,
                sqlite_background_checkpoints: true,
                ..ConnectOptions::default()
            },
        )
        .await?;
        migrate(&db).await?;
        if backend == Backend::Sqlite {
            let own = connect(
                &url,
                &ConnectOptions {
                    max_connections: 1,
                    ..ConnectOptions::default()
                },
            )
            .await?;
            tokio::spawn(run_checkpoints(own));
        }

        let master = master_key(config, backend)?;
        let previous = config
            .previous_master_key
            .as_ref()
            .map(|encoded| MasterKey::from_base64(encoded.expose()))
            .transpose()?;
        tracing::info!(
            backend = ?backend,
            master_key_id = master.id(),
            previous_master_key_id = previous.as_ref().map(MasterKey::id),
            "storage ready"
        );
        let keyring = Keyring::with_previous_masters(
            db.clone(),
            master,
            previous.into_iter().collect(),
            KeyringOptions {
                data_key_capacity: config.key_cache_capacity,
                ..KeyringOptions::default()
            },
        );
        // Every command, not only the server: an import or a projector process seals and
        // opens too, and must notice keys destroyed or rotated elsewhere.
        tokio::spawn(watch_key_changes(keyring.clone()));

        let redis = match &config.redis_url {
            Some(url) => Some(FastPath::new(redis_manager(url.expose())?)),
            None => None,
        };
        Ok(Runtime {
            db,
            backend,
            keyring,
            redis,
            database_url: url.into(),
        })
    }

    /// The database URL when it is PostgreSQL (for LISTEN); it may hold a password.
    pub fn postgres_url(&self) -> Option<String> {
        (self.backend == Backend::Postgres).then(|| self.database_url.to_string())
    }

    /// A further pool on the same database, whose connections are opened by whoever uses
    /// it first: called from a task of the main runtime, its connections live there.
    pub async fn dedicated_pool(
        &self,
        max_connections: u32,
        sqlite_page_cache_mib: Option<u32>,
    ) -> Result<DatabaseConnection, Error> {
        Ok(connect(
            &self.database_url,
            &ConnectOptions {
                max_connections,
                sqlite_page_cache_mib,
                sqlite_background_checkpoints: true,
                ..ConnectOptions::default()
            },
        )
        .await?)
    }
}

/// The master key from `CDP_MASTER_KEY`, then `CDP_MASTER_KEY_FILE`; with the embedded
/// SQLite default and neither set, one generated into the data directory.
fn master_key(config: &Config, backend: Backend) -> Result<MasterKey, Error> {
    if let Some(encoded) = &config.master_key {
        return Ok(MasterKey::from_base64(encoded.expose())?);
    }
    if let Some(path) = &config.master_key_file {
        return Ok(MasterKey::from_file(path)?);
    }
    if backend != Backend::Sqlite {
        return Err(Error::MasterKeyRequired);
    }
    generated_master_key(&config.data_dir)
}

fn generated_master_key(data_dir: &Path) -> Result<MasterKey, Error> {
    create_private_dir(data_dir)?;
    let path = data_dir.join("master.key");
    let (key, created) = MasterKey::load_or_create(&path)?;
    if created {
        tracing::warn!(
            path = %path.display(),
            master_key_id = key.id(),
            "no master key configured: generated a new one into the data directory. \
             Back it up: without it no stored event can be read. \
             Set CDP_MASTER_KEY or CDP_MASTER_KEY_FILE for production"
        );
    } else {
        tracing::warn!(
            path = %path.display(),
            "using the master key generated into the data directory; \
             set CDP_MASTER_KEY or CDP_MASTER_KEY_FILE for production"
        );
    }
    Ok(key)
}

/// A Redis connection that connects on first use and reconnects by itself, so a Redis
/// outage degrades the service instead of stopping it from starting.
fn redis_manager(url: &str) -> Result<ConnectionManager, Error> {
    let client = redis::Client::open(url).map_err(Error::RedisUrl)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(2);
    ConnectionManager::new_lazy_with_config(client, config).map_err(Error::RedisUrl)
}

/// Looks for keys destroyed or rotated by other processes, for as long as the process
/// runs (see `cdp_keyring::watch`). A failed look is retried at the next tick; meanwhile
/// the keyring stops trusting its cache.
async fn watch_key_changes(keyring: Keyring) {
    let mut tick = tokio::time::interval(cdp_keyring::WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = keyring.look_for_key_changes().await {
            tracing::warn!(error = %e, "could not look for destroyed keys");
        }
    }
}
