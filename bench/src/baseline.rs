//! Baselines measured beside the figures, on the same machine and in the same run: a raw
//! bulk load of the rows the server wrote, and the latency of an fsync on the data disk.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sqlx::{self, Connection, Row};
use uuid::Uuid;

/// One row of the event log, exactly as stored: ids, times, and the sealed payload.
pub struct LogRow {
    seq: i64,
    event_id: Uuid,
    message_id: String,
    event_type: String,
    source_id: Option<Uuid>,
    received_at: DateTime<Utc>,
    occurred_at: DateTime<Utc>,
    key_id: Uuid,
    payload: Vec<u8>,
}

macro_rules! columns {
    () => {
        "tenant_id, seq, event_id, message_id, event_type, source_id, received_at, \
         occurred_at, key_id, payload"
    };
}
const SELECT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM event_log WHERE tenant_id = $1 ORDER BY seq"
);
const INSERT: &str = concat!(
    "INSERT INTO event_log (",
    columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
);
const COPY: &str = concat!("COPY event_log (", columns!(), ") FROM STDIN");

/// Where the server keeps its data: the caller's PostgreSQL, or the SQLite file in its
/// data directory.
pub fn database_url(data_dir: &Path) -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", data_dir.join("cdp.sqlite3").display()))
}

/// Reads back every row the server stored for `tenant` and loads the same rows again under
/// a tenant id of their own, the fastest plain way each backend has: `COPY` on PostgreSQL;
/// on SQLite prepared inserts, a transaction per 1,000 rows, with the server's durability
/// settings. Only the load is timed. Answers the number of rows and rows per second.
pub async fn reload_rows(url: &str, tenant: Uuid) -> anyhow::Result<(usize, f64)> {
    if url.starts_with("postgres") {
        reload_postgres(url, tenant).await
    } else {
        let path = url.trim_start_matches("sqlite://").to_owned();
        tokio::task::spawn_blocking(move || reload_sqlite(Path::new(&path), tenant)).await?
    }
}

async fn reload_postgres(url: &str, tenant: Uuid) -> anyhow::Result<(usize, f64)> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let rows = sqlx::query(SELECT)
        .bind(tenant)
        .fetch_all(&mut conn)
        .await?
        .iter()
        .map(log_row)
        .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(!rows.is_empty(), "the server stored no rows for the tenant");
    let copy_tenant = Uuid::new_v4();
    let started = Instant::now();
    for chunk in rows.chunks(10_000) {
        let mut copy = conn.copy_in_raw(COPY).await?;
        copy.send(copy_text(copy_tenant, chunk)).await?;
        copy.finish().await?;
    }
    Ok((
        rows.len(),
        rows.len() as f64 / started.elapsed().as_secs_f64(),
    ))
}

fn log_row(row: &sqlx::postgres::PgRow) -> Result<LogRow, sqlx::Error> {
    Ok(LogRow {
        seq: row.try_get("seq")?,
        event_id: row.try_get("event_id")?,
        message_id: row.try_get("message_id")?,
        event_type: row.try_get("event_type")?,
        source_id: row.try_get("source_id")?,
        received_at: row.try_get("received_at")?,
        occurred_at: row.try_get("occurred_at")?,
        key_id: row.try_get("key_id")?,
        payload: row.try_get("payload")?,
    })
}

/// SQLite through its C interface directly, with the values exactly as the server stored
/// them (only the tenant id replaced).
fn reload_sqlite(path: &Path, tenant: Uuid) -> anyhow::Result<(usize, f64)> {
    use rusqlite::types::Value;
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let rows: Vec<Vec<Value>> = {
        let mut select = conn.prepare(&SELECT.replace("$1", "?1"))?;
        let width = select.column_count();
        select
            .query_map([tenant.as_bytes().to_vec()], |row| {
                (0..width).map(|i| row.get::<_, Value>(i)).collect()
            })?
            .collect::<Result<_, _>>()?
    };
    anyhow::ensure!(!rows.is_empty(), "the server stored no rows for the tenant");
    let copy_tenant = Value::Blob(Uuid::new_v4().as_bytes().to_vec());
    let started = Instant::now();
    for chunk in rows.chunks(1_000) {
        let txn = conn.transaction()?;
        {
            let mut insert = txn.prepare_cached(INSERT)?;
            for row in chunk {
                let values = std::iter::once(&copy_tenant).chain(&row[1..]);
                insert.execute(rusqlite::params_from_iter(values))?;
            }
        }
        txn.commit()?;
    }
    Ok((
        rows.len(),
        rows.len() as f64 / started.elapsed().as_secs_f64(),
    ))
}

/// Rows in `COPY`'s text format.
fn copy_text(tenant: Uuid, rows: &[LogRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 700);
    for r in rows {
        let source = r.source_id.map_or("\\N".to_owned(), |s| s.to_string());
        let _ = write!(
            out,
            "{tenant}\t{}\t{}\t{}\t{}\t{source}\t{}\t{}\t{}\t\\\\x",
            r.seq,
            r.event_id,
            escape(&r.message_id),
            escape(&r.event_type),
            r.received_at.to_rfc3339(),
            r.occurred_at.to_rfc3339(),
            r.key_id,
        );
        for byte in &r.payload {
            let _ = write!(out, "{byte:02x}");
        }
        out.push(b'\n');
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Latencies of writing 4 KiB and `fdatasync`ing it, in milliseconds, sorted: what one
/// durable commit costs on this disk at the least.
pub fn fsync_latencies(dir: &Path, count: usize) -> anyhow::Result<Vec<f64>> {
    // With PostgreSQL the server writes no data directory of its own; it is on the same
    // disk as PostgreSQL's on this machine.
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(dir.join("fsync-probe"))?;
    let block = [0x5au8; 4096];
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(2));
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}
