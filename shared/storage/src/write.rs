//! Write transactions, and the queue SQLite writers of one process wait in.
//!
//! SQLite has one writer at a time. A writer that finds the lock taken sleeps in SQLite's
//! busy handler for growing intervals (up to 100 ms) and tries again; whoever happens to
//! try at the right moment wins. Under a steady ingest load the group committer, which
//! starts its next transaction the moment the last one ends, nearly always wins: the
//! projector starved (it applied a quarter of what was ingested) and each ingest commit
//! that did lose waited a whole sleep. So the writers of a process first queue for the
//! database in order (a fair lock, per database file) and only then begin; the busy
//! handler is left for writers in other processes. PostgreSQL locks rows, and needs none
//! of this.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;

/// One queue per SQLite database file this process writes.
static GATES: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Mutex::default);

/// The turn to write to the database, held until dropped; `None` on PostgreSQL.
pub struct WriteTurn(#[allow(dead_code)] Option<OwnedMutexGuard<()>>);

/// Waits for this process's turn to write to `db`, for a write that is not a
/// [`begin_write`] transaction (a single statement, a checkpoint).
pub async fn write_turn(db: &DatabaseConnection) -> WriteTurn {
    if db.get_database_backend() != DbBackend::Sqlite {
        return WriteTurn(None);
    }
    let file = db
        .get_sqlite_connection_pool()
        .connect_options()
        .get_filename()
        .to_path_buf();
    let gate = GATES.lock().entry(file).or_default().clone();
    WriteTurn(Some(gate.lock_owned().await))
}

/// A transaction that will write, holding this process's turn to write until it ends.
pub struct WriteTransaction {
    // Declared first, so dropped (rolled back) before the turn is handed on.
    txn: DatabaseTransaction,
    _turn: WriteTurn,
}

impl WriteTransaction {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

// Everything a transaction is asked to do, it does (the turn only rides along), so code
// written for any connection takes it.
#[async_trait::async_trait]
impl ConnectionTrait for WriteTransaction {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
}

impl Deref for WriteTransaction {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// Starts a transaction that will write. On SQLite it waits for this process's turn, then
/// takes the write lock at once (`BEGIN IMMEDIATE`), so a transaction never fails half-way
/// when it upgrades from reading to writing; PostgreSQL ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTransaction, DbErr> {
    let turn = write_turn(db).await;
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await?;
    Ok(WriteTransaction { txn, _turn: turn })
}
