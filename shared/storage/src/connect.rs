use std::path::Path;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

use crate::StorageError;

/// Which database engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Backend, StorageError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StorageError::UnsupportedUrl(redact_url(url)))
        }
    }
}

/// Pool settings; the defaults suit one process on a small machine.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// SQLite page cache per connection, in MiB, instead of SQLite's 2 MB. Memory is
    /// spent per pooled connection, so only pools whose work touches index pages all over
    /// the database (the projector's) ask for more.
    pub sqlite_page_cache_mib: Option<u32>,
    /// SQLite: leave checkpoints of the write-ahead log to [`crate::run_checkpoints`]
    /// instead of the connection that happens to commit when the log is full, so that no
    /// commit waits for one.
    pub sqlite_background_checkpoints: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            sqlite_page_cache_mib: None,
            sqlite_background_checkpoints: false,
        }
    }
}

/// Creates a directory, readable by its owner only, unless it exists.
pub fn create_private_dir(path: &Path) -> Result<(), StorageError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(path)
        .map_err(|source| StorageError::DataDir {
            path: path.display().to_string(),
            source,
        })
}

/// The URL of the SQLite database file inside a data directory, creating the directory.
pub fn sqlite_url(data_dir: &Path) -> Result<String, StorageError> {
    create_private_dir(data_dir)?;
    Ok(format!(
        "sqlite://{}",
        data_dir.join("cdp.sqlite3").display()
    ))
}

/// Opens a connection pool for a `sqlite://` or `postgres://` URL.
pub async fn connect(
    url: &str,
    options: &ConnectOptions,
) -> Result<DatabaseConnection, StorageError> {
    let backend = Backend::of_url(url)?;
    let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
    opts.max_connections(options.max_connections)
        .min_connections(0)
        .acquire_timeout(options.acquire_timeout)
        .sqlx_logging(false);
    if backend == Backend::Postgres {
        // Every key leads with the tenant id, and tenants differ in size by orders of
        // magnitude. A plan that PostgreSQL caches for a prepared statement assumes an
        // average tenant: made while the log was small, the duplicate check of every
        // commit used the index for the tenant alone and read the tenant's whole log
        // (100-400 ms a commit after a few minutes, and growing with the log). Each
        // statement is planned for its own values instead; planning these simple
        // statements costs a fraction of a millisecond.
        opts.map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
        opts.map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|_connection, _metadata| {
                Box::pin(async {
                    crate::nodelay::apply_to_open_sockets();
                    Ok(())
                })
            })
            .after_release(|connection, _metadata| Box::pin(reusable(connection)))
        });
    }
    if backend == Backend::Sqlite {
        opts.map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_release(|connection, _metadata| Box::pin(reusable(connection)))
        });
        // WAL lets readers run beside the writer; synchronous FULL makes a commit durable
        // before it returns, which is what acknowledging an event promises.
        let page_cache = options.sqlite_page_cache_mib;
        let background_checkpoints = options.sqlite_background_checkpoints;
        opts.map_sqlx_sqlite_opts(move |o| {
            let mut o = o
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                // Statement journals (kept while a multi-row statement runs inside a
                // transaction) in memory rather than in temporary files.
                .pragma("temp_store", "memory");
            if background_checkpoints {
                o = o.pragma("wal_autocheckpoint", "0");
            }
            match page_cache {
                // A negative size is in KiB.
                Some(mib) => o.pragma("cache_size", format!("-{}", mib * 1024)),
                None => o,
            }
        });
    }
    Database::connect(opts)
        .await
        .map_err(|source| StorageError::Connect {
            url: redact_url(url),
            // The driver's message may quote the URL it could not use, password and all.
            source: DbErr::Custom(redact_password_in(&source.to_string(), url)),
        })
}

/// Whether a connection handed back to the pool may be handed out again: not while the
/// driver still counts it inside a transaction.
///
/// When a write fails for want of disk space, SQLite may end the transaction itself or
/// refuse the driver's ROLLBACK; the driver then keeps counting the connection inside a
/// transaction. Reused, its next BEGIN would become a SAVEPOINT, and that transaction's
/// COMMIT a RELEASE that commits nothing, while it reports success: an event acknowledged
/// and never stored. Such a connection is closed instead, which ends whatever it held.
async fn reusable<C: sea_orm::sqlx::Connection>(
    connection: &mut C,
) -> Result<bool, sea_orm::sqlx::Error> {
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction's rollback is queued: let it run before judging.
    connection.ping().await?;
    if connection.is_in_transaction() {
        tracing::warn!("closed a database connection its transaction could not be ended on");
        return Ok(false);
    }
    Ok(true)
}

/// Answers when the database answers a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), StorageError> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

/// Which backend an open connection talks to.
pub fn backend_of(db: &impl ConnectionTrait) -> Backend {
    match db.get_database_backend() {
        DbBackend::Postgres => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// A URL fit for logs and errors: any password is replaced.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

/// `text` with the password of `url` replaced wherever it appears, as written in the URL or
/// percent-decoded (drivers quote either).
fn redact_password_in(text: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .unwrap_or_default();
    if password.is_empty() {
        return text.to_owned();
    }
    text.replace(password, "***")
        .replace(&percent_decoded(password), "***")
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_quoting_the_url_does_not_give_the_password_away() {
        let url = "postgres://cdp:p%40ss-w0rd@[not a host/cdp";
        let said = format!("The connection string '{url}' cannot be parsed, nor 'p@ss-w0rd'");
        let redacted = redact_password_in(&said, url);
        assert!(!redacted.contains("p%40ss-w0rd"), "{redacted}");
        assert!(!redacted.contains("p@ss-w0rd"), "{redacted}");
        assert!(
            redacted.contains("postgres://cdp:***@[not a host/cdp"),
            "{redacted}"
        );
        assert_eq!(
            redact_password_in("no password here", "postgres://cdp@h/db"),
            "no password here"
        );
    }

    #[test]
    fn passwords_never_reach_error_messages() {
        assert_eq!(
            redact_url("postgres://cdp:s3cret@db:5432/cdp"),
            "postgres://cdp:***@db:5432/cdp"
        );
        assert_eq!(redact_url("sqlite://./data/x"), "sqlite://./data/x");
        let err = Backend::of_url("mysql://root:pw@h/db").unwrap_err();
        assert!(!err.to_string().contains("pw@"), "{err}");
    }

    #[test]
    fn backends_are_recognised_by_scheme() {
        assert_eq!(Backend::of_url("sqlite://x").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("postgres://h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::of_url("postgresql://h/db").unwrap(),
            Backend::Postgres
        );
    }
}
