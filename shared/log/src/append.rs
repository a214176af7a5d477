use std::collections::HashMap;

use cdp_domain::{Seq, TenantId};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QuerySelect,
};

use crate::store::{event_log, head};
use crate::{LogError, MAX_EVENT_TYPE_BYTES, MAX_MESSAGE_ID_BYTES, NewEvent};

/// Rows per INSERT statement: well under the bound-parameter limits of both backends.
const INSERT_CHUNK: usize = 500;
/// Message ids per duplicate-lookup query.
const LOOKUP_CHUNK: usize = 500;

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
            rows.push(row(tenant, next, event));
        }
    }
    if rows.is_empty() {
        return Ok(outcomes);
    }

    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(INSERT_CHUNK).collect();
        event_log::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    head::Entity::update_many()
        .col_expr(head::Column::LastSeq, Expr::value(next.0))
        .filter(head::Column::TenantId.eq(tenant.as_uuid()))
        .exec(txn)
        .await?;
    Ok(outcomes)
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
/// creating the row on the tenant's first append.
async fn lock_head(txn: &DatabaseTransaction, tenant: TenantId) -> Result<Seq, LogError> {
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
        let ids = chunk.iter().map(|e| e.message_id.as_str());
        let rows: Vec<(String, i64)> = event_log::Entity::find()
            .select_only()
            .column(event_log::Column::MessageId)
            .column(event_log::Column::Seq)
            .filter(event_log::Column::TenantId.eq(tenant.as_uuid()))
            .filter(event_log::Column::MessageId.is_in(ids))
            .into_tuple()
            .all(txn)
            .await?;
        found.extend(rows.into_iter().map(|(id, seq)| (id, Seq(seq))));
    }
    Ok(found)
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
