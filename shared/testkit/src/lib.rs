//! Test helpers. Storage tests run against the backend `DATABASE_URL` names (PostgreSQL),
//! or a fresh SQLite file when it is unset, so the same test code covers both. Random
//! event streams for property tests are in [`streams`].

pub mod streams;

use cdp_keyring::{Keyring, KeyringOptions, MasterKey};
use cdp_storage::{Backend, ConnectOptions, DatabaseConnection, connect, migrate, sqlite_url};
use tempfile::TempDir;

/// A migrated database for one test. On PostgreSQL the database is shared between tests,
/// which is why every test works in tenants of its own.
pub struct TestDb {
    pub db: DatabaseConnection,
    pub backend: Backend,
    master_key: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        match std::env::var("DATABASE_URL") {
            Ok(url) if matches!(Backend::of_url(&url), Ok(Backend::Postgres)) => {
                let db = connect(&url, &ConnectOptions::default())
                    .await
                    .expect("connect to DATABASE_URL");
                migrate(&db).await.expect("migrate PostgreSQL");
                TestDb {
                    db,
                    backend: Backend::Postgres,
                    master_key: new_master_key(),
                    _dir: None,
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = sqlite_url(dir.path()).expect("SQLite URL");
                let db = connect(&url, &ConnectOptions::default())
                    .await
                    .expect("open SQLite");
                migrate(&db).await.expect("migrate SQLite");
                TestDb {
                    db,
                    backend: Backend::Sqlite,
                    master_key: new_master_key(),
                    _dir: Some(dir),
                }
            }
        }
    }

    /// A keyring over this database with empty caches, as another process or a restarted
    /// one would have. Every keyring of one `TestDb` shares its master key.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(
            self.db.clone(),
            MasterKey::from_base64(&self.master_key).expect("test master key"),
            KeyringOptions::default(),
        )
    }
}

fn new_master_key() -> String {
    MasterKey::generate()
        .expect("random master key")
        .to_base64()
        .to_string()
}
