//! Checkpoints of SQLite's write-ahead log, taken in the background.
//!
//! By default the connection whose commit fills the log past 1,000 pages copies the log
//! into the database file and syncs it before its commit returns, so every so often an
//! ingest commit (and every request waiting on it) takes several times as long. Pools
//! opened with `sqlite_background_checkpoints` leave that to this loop instead.
//!
//! A passive checkpoint blocks nobody: it copies what no reader still needs while writers
//! go on. But under a steady stream of commits it never catches up completely, and SQLite
//! starts the log over only after a checkpoint that did; the log would grow without end.
//! So once the log is long, a restarting checkpoint follows the passive one: it takes the
//! write lock, copies the few pages the passive one left, and makes the next commit start
//! the log from its beginning. Commits wait for that short step only, once per
//! [`RESTART_AFTER_PAGES`] pages of log.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// How often the log is checkpointed.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Pages of log (of 4 KiB) after which the log is started over.
pub const RESTART_AFTER_PAGES: i64 = 8_192;

/// Checkpoints the log of the database `db` is open on, every [`CHECKPOINT_EVERY`], for as
/// long as the task runs. Give it a connection of its own: a checkpoint of a large
/// backlog takes a while, and should not hold a connection others wait for.
pub async fn run_checkpoints(db: DatabaseConnection) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = checkpoint(&db).await {
            tracing::warn!(error = %e, "could not checkpoint the SQLite log");
        }
    }
}

async fn checkpoint(db: &DatabaseConnection) -> Result<(), DbErr> {
    let pages = run(db, "PASSIVE").await?;
    if pages >= RESTART_AFTER_PAGES {
        // It takes the write lock: in its turn, like any writer of this process.
        let _turn = crate::write_turn(db).await;
        run(db, "RESTART").await?;
    }
    Ok(())
}

/// Runs one checkpoint; answers how many pages the log held.
async fn run(db: &DatabaseConnection, mode: &str) -> Result<i64, DbErr> {
    let statement =
        Statement::from_string(DbBackend::Sqlite, format!("PRAGMA wal_checkpoint({mode})"));
    let row = db.query_one_raw(statement).await?;
    // (busy, pages in the log, pages copied); -1 when the database is not in WAL mode.
    Ok(match row {
        Some(row) => row.try_get_by_index::<i64>(1)?,
        None => 0,
    })
}
