use std::collections::HashMap;

use cdp_domain::{Seq, TenantId};
use cdp_storage::{one_of, power_of_two_chunks};
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QuerySelect, QueryTrait, Statement,
};

use crate::store::{event_log, head};
use crate::{APPENDED_CHANNEL, LogError, MAX_EVENT_TYPE_BYTES, MAX_MESSAGE_ID_BYTES, NewEvent};

/// Rows per INSERT statement on SQLite at most: well under its bound-parameter limit.
const INSERT_CHUNK: usize = 256;
/// Message ids per duplicate-lookup query.
const LOOKUP_CHUNK: usize = 512;

/// What became of one event of a batch, in the order the batch gave them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, at this position.
    New(Seq),
    /// Its message id was already in the log (or earlier in the same batch) at this position;
    /// nothing was stored.
    Duplicate(Seq),
}

impl Appended {
    pub fn seq(self) -> Seq {
        match self {
            Appended::New(seq) | Appended::Duplicate(seq) => seq,
        }
    }
}

/// Appends a batch of one tenant's events inside the caller's transaction.
///
/// The batch is numbered from the tenant's head, which stays locked until the caller
/// commits or rolls back: the events become visible exactly when the caller commits, and
/// if the transaction rolls back their numbers are handed out again. Duplicate message ids
/// store nothing. To append for several tenants in one transaction, take them in a fixed
/// order (for example sorted by tenant id) so that concurrent transactions cannot deadlock.
pub async fn append(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    events: Vec<NewEvent>,
) -> Result<Vec<Appended>, LogError> {
    validate(&events)?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let last = lock_head(txn, tenant).await?;
    let existing = existing_message_ids(txn, tenant, &events).await?;

    let mut outcomes = Vec::with_capacity(events.len());
    let mut assigned: HashMap<&str, Seq> = HashMap::with_capacity(events.len());
    let mut rows = Vec::with_capacity(events.len());
    let mut next = last;
    for event in &events {
        if let Some(seq) = existing.get(&event.message_id) {
            outcomes.push(Appended::Duplicate(*seq));
        } else if let Some(seq) = assigned.get(event.message_id.as_str()) {
            outcomes.push(Appended::Duplicate(*seq));
        } else {
            next = next.next();
            assigned.insert(&event.message_id, next);
            outcomes.push(Appended::New(next));
            rows.push((next, event));
        }
    }
    if rows.is_empty() {
        return Ok(outcomes);
    }

    let bytes: i64 = rows.iter().map(|(_, e)| e.payload.len() as i64).sum();
    crate::volume::count(txn, tenant, rows.iter().map(|(_, e)| *e)).await?;
    insert_rows(txn, tenant, rows).await?;
    head::Entity::update_many()
        .col_expr(head::Column::LastSeq, Expr::value(next.0))
        .col_expr(
            head::Column::StoredBytes,
            Expr::col(head::Column::StoredBytes).add(bytes),
        )
        .filter(head::Column::TenantId.eq(tenant.as_uuid()))
        .exec(txn)
        .await?;
    notify_appended(txn, tenant).await?;
    Ok(outcomes)
}

/// On PostgreSQL, tells listeners in other processes (projectors) that the tenant's log
/// grew. NOTIFY is delivered at commit and dropped on rollback, so the notice arrives
/// exactly when the events become visible.
async fn notify_appended(txn: &DatabaseTransaction, tenant: TenantId) -> Result<(), LogError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [APPENDED_CHANNEL.into(), tenant.as_uuid().to_string().into()],
    ))
    .await?;
    Ok(())
}

pub(crate) fn validate(events: &[NewEvent]) -> Result<(), LogError> {
    for (index, event) in events.iter().enumerate() {
        let reason = if event.message_id.is_empty() {
            "message id is empty"
        } else if event.message_id.len() > MAX_MESSAGE_ID_BYTES {
            "message id is longer than 256 bytes"
        } else if event.event_type.is_empty() || event.event_type.len() > MAX_EVENT_TYPE_BYTES {
            "event type must be 1 to 64 bytes"
        } else {
            continue;
        };
        return Err(LogError::InvalidEvent { index, reason });
    }
    Ok(())
}

/// Locks the tenant's head row for the rest of the transaction and returns its value,
/// creating the row on the tenant's first append. Nothing is appended to the tenant's log
/// until the transaction ends, so what it writes is in place before any later event.
pub async fn lock_head(txn: &DatabaseTransaction, tenant: TenantId) -> Result<Seq, LogError> {
    // A no-op update takes the row lock on every backend (SQLite has no SELECT ... FOR UPDATE).
    let lock = Query::update()
        .table(head::Entity)
        .value(head::Column::LastSeq, Expr::col(head::Column::LastSeq))
        .and_where(head::Column::TenantId.eq(tenant.as_uuid()))
        .returning_col(head::Column::LastSeq)
        .to_owned();
    if let Some(row) = txn.query_one(&lock).await? {
        return Ok(Seq(row.try_get_by_index(0)?));
    }
    head::Entity::insert(head::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        last_seq: Set(0),
        stored_bytes: Set(0),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(txn)
    .await?;
    let row = txn
        .query_one(&lock)
        .await?
        .ok_or_else(|| LogError::CorruptRow {
            tenant: tenant.to_string(),
            reason: "log head vanished while appending".into(),
        })?;
    Ok(Seq(row.try_get_by_index(0)?))
}

async fn existing_message_ids(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    events: &[NewEvent],
) -> Result<HashMap<String, Seq>, LogError> {
    let mut found = HashMap::new();
    for chunk in events.chunks(LOOKUP_CHUNK) {
        let ids = chunk.iter().map(|e| e.message_id.clone()).collect();
        let rows: Vec<(String, i64)> = event_log::Entity::find()
            .select_only()
            .column(event_log::Column::MessageId)
            .column(event_log::Column::Seq)
            .filter(event_log::Column::TenantId.eq(tenant.as_uuid()))
            .filter(one_of(
                txn.get_database_backend(),
                event_log::Column::MessageId,
                ids,
            ))
            .into_tuple()
            .all(txn)
            .await?;
        found.extend(rows.into_iter().map(|(id, seq)| (id, Seq(seq))));
    }
    Ok(found)
}

/// Inserts the numbered events. On PostgreSQL one `UNNEST` statement of the same shape for
/// any number of rows; on SQLite multi-row inserts of a few lengths, each compiled once.
async fn insert_rows(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    rows: Vec<(Seq, &NewEvent)>,
) -> Result<(), LogError> {
    let statements = if txn.get_database_backend() == DbBackend::Postgres {
        vec![unnest_insert(tenant, &rows)]
    } else {
        power_of_two_chunks(rows, INSERT_CHUNK)
            .into_iter()
            .map(|chunk| {
                event_log::Entity::insert_many(chunk.iter().map(|(seq, e)| row(tenant, *seq, e)))
                    .build(DbBackend::Sqlite)
            })
            .collect()
    };
    for statement in statements {
        txn.execute_raw(statement).await?;
    }
    Ok(())
}

fn unnest_insert(tenant: TenantId, rows: &[(Seq, &NewEvent)]) -> Statement {
    fn column<T>(rows: &[(Seq, &NewEvent)], f: impl Fn(Seq, &NewEvent) -> T) -> Vec<T> {
        rows.iter().map(|(seq, e)| f(*seq, e)).collect()
    }
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO event_log (tenant_id, seq, event_id, message_id, event_type, source_id, \
         received_at, occurred_at, key_id, payload) \
         SELECT $1, r.seq, r.event_id, r.message_id, r.event_type, NULLIF(r.source_id, $11), \
         r.received_at, r.occurred_at, r.key_id, r.payload \
         FROM UNNEST($2::int8[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], \
         $7::timestamptz[], $8::timestamptz[], $9::uuid[], $10::bytea[]) \
         AS r(seq, event_id, message_id, event_type, source_id, received_at, occurred_at, key_id, payload)",
        [
            tenant.as_uuid().into(),
            column(rows, |seq, _| seq.0).into(),
            column(rows, |_, e| e.event_id.as_uuid()).into(),
            column(rows, |_, e| e.message_id.clone()).into(),
            column(rows, |_, e| e.event_type.clone()).into(),
            // Arrays cannot hold NULL here: the nil UUID stands for "no source".
            column(rows, |_, e| {
                e.source_id.map_or(Uuid::nil(), |s| s.as_uuid())
            })
            .into(),
            column(rows, |_, e| e.received_at).into(),
            column(rows, |_, e| e.occurred_at).into(),
            column(rows, |_, e| e.key_id.as_uuid()).into(),
            column(rows, |_, e| e.payload.clone()).into(),
            Uuid::nil().into(),
        ],
    )
}

fn row(tenant: TenantId, seq: Seq, event: &NewEvent) -> event_log::ActiveModel {
    event_log::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        seq: Set(seq.0),
        event_id: Set(event.event_id.as_uuid()),
        message_id: Set(event.message_id.clone()),
        event_type: Set(event.event_type.clone()),
        source_id: Set(event.source_id.map(|s| s.as_uuid())),
        received_at: Set(event.received_at),
        occurred_at: Set(event.occurred_at),
        key_id: Set(event.key_id.as_uuid()),
        payload: Set(event.payload.clone()),
    }
}
