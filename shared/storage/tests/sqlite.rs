//! The embedded default's durability settings, read back from a real connection.

use cdp_storage::{ConnectOptions, connect, sqlite_url};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

async fn pragma(db: &sea_orm::DatabaseConnection, name: &str) -> String {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("PRAGMA {name}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0)
        .map(|n| n.to_string())
        .or_else(|_| row.try_get_by_index::<String>(0))
        .unwrap()
}

#[tokio::test]
async fn sqlite_commits_are_synced_to_disk_and_readers_do_not_block_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = connect(&sqlite_url(dir.path()).unwrap(), &ConnectOptions::default())
        .await
        .unwrap();
    // synchronous = FULL (2): a commit reaches the disk before it returns, so an
    // acknowledged event survives power loss, not only a killed process.
    assert_eq!(pragma(&db, "synchronous").await, "2");
    assert_eq!(pragma(&db, "journal_mode").await, "wal");
    assert_eq!(pragma(&db, "busy_timeout").await, "30000");
}
