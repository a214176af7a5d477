//! Rows of `audit_log` and `audit_heads`.

use cdp_storage::{DatabaseConnection, DatabaseTransaction, begin_write};
use chrono::{DurationRound, TimeDelta, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ActiveValue::Set, ConnectionTrait, QueryOrder, QuerySelect};

use crate::chain::{GENESIS, hash};
use crate::{AuditEntry, AuditError, AuditFilter, Chain, StoredEntry};

pub(crate) mod entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub id: Uuid,
        pub at: ChronoDateTimeUtc,
        pub actor_kind: String,
        pub actor_id: Option<String>,
        pub actor_role: Option<String>,
        pub action: String,
        pub target_kind: Option<String>,
        pub target_id: Option<String>,
        pub source_ip: Option<String>,
        pub outcome: String,
        pub details: String,
        pub prev_hash: String,
        pub hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod head {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_heads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        pub last_seq: i64,
        pub last_hash: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) type Row = entry::Model;

/// Appends an entry inside the caller's transaction, so that an action and its record
/// commit together. The chain's head stays locked until the transaction ends.
pub async fn append(
    txn: &DatabaseTransaction,
    chain: Chain,
    audit: AuditEntry,
) -> Result<StoredEntry, AuditError> {
    let key = chain.key();
    let (last_seq, last_hash) = lock_head(txn, key).await?;
    let now = Utc::now();
    let mut row = Row {
        tenant_id: key,
        seq: last_seq + 1,
        id: Uuid::now_v7(),
        // Microseconds: what both backends keep, so the hash survives a round trip.
        at: now
            .duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or(now),
        actor_kind: audit.actor.kind.as_str().to_owned(),
        actor_id: audit.actor.id,
        actor_role: audit.actor.role,
        action: audit.action,
        target_kind: audit.target.as_ref().map(|(kind, _)| kind.clone()),
        target_id: audit.target.map(|(_, id)| id),
        source_ip: audit.source_ip,
        outcome: audit.outcome.as_str().to_owned(),
        details: audit.details.to_string(),
        prev_hash: last_hash,
        hash: String::new(),
    };
    row.hash = hash(&row);
    entry::Entity::insert(entry::ActiveModel::from(row.clone()))
        .exec_without_returning(txn)
        .await?;
    head::Entity::update_many()
        .col_expr(head::Column::LastSeq, Expr::value(row.seq))
        .col_expr(head::Column::LastHash, Expr::value(row.hash.clone()))
        .filter(head::Column::TenantId.eq(key))
        .exec(txn)
        .await?;
    Ok(stored(row))
}

/// Appends an entry in a transaction of its own.
pub async fn append_now(
    db: &DatabaseConnection,
    chain: Chain,
    audit: AuditEntry,
) -> Result<StoredEntry, AuditError> {
    let txn = begin_write(db).await?;
    let stored = append(&txn, chain, audit).await?;
    txn.commit().await?;
    Ok(stored)
}

async fn lock_head(txn: &DatabaseTransaction, key: Uuid) -> Result<(i64, String), AuditError> {
    let lock = Query::update()
        .table(head::Entity)
        .value(head::Column::LastSeq, Expr::col(head::Column::LastSeq))
        .and_where(head::Column::TenantId.eq(key))
        .returning(Query::returning().columns([head::Column::LastSeq, head::Column::LastHash]))
        .to_owned();
    if let Some(row) = txn.query_one(&lock).await? {
        return Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?));
    }
    head::Entity::insert(head::ActiveModel {
        tenant_id: Set(key),
        last_seq: Set(0),
        last_hash: Set(GENESIS.to_owned()),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(txn)
    .await?;
    let row = txn
        .query_one(&lock)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("audit head".into()))?;
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

/// Entries of a chain, oldest first, filtered.
pub async fn list(
    db: &DatabaseConnection,
    chain: Chain,
    filter: &AuditFilter,
) -> Result<Vec<StoredEntry>, AuditError> {
    let mut query = entry::Entity::find()
        .filter(entry::Column::TenantId.eq(chain.key()))
        .filter(entry::Column::Seq.gt(filter.after))
        .order_by_asc(entry::Column::Seq)
        .limit(filter.limit.clamp(1, 1000));
    if let Some(prefix) = &filter.action_prefix {
        query = query.filter(entry::Column::Action.starts_with(prefix));
    }
    if let Some(actor) = &filter.actor_id {
        query = query.filter(entry::Column::ActorId.eq(actor.clone()));
    }
    if let Some(outcome) = filter.outcome {
        query = query.filter(entry::Column::Outcome.eq(outcome.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(entry::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(entry::Column::At.lt(until));
    }
    Ok(query.all(db).await?.into_iter().map(stored).collect())
}

pub(crate) async fn rows_after(
    db: &DatabaseConnection,
    chain: Chain,
    after: i64,
    limit: u64,
) -> Result<Vec<Row>, AuditError> {
    Ok(entry::Entity::find()
        .filter(entry::Column::TenantId.eq(chain.key()))
        .filter(entry::Column::Seq.gt(after))
        .order_by_asc(entry::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

pub(crate) async fn head_of(
    db: &DatabaseConnection,
    chain: Chain,
) -> Result<Option<(i64, String)>, AuditError> {
    Ok(head::Entity::find_by_id(chain.key())
        .one(db)
        .await?
        .map(|h| (h.last_seq, h.last_hash)))
}

fn stored(row: Row) -> StoredEntry {
    StoredEntry {
        seq: row.seq,
        id: row.id,
        at: row.at,
        actor_kind: row.actor_kind,
        actor_id: row.actor_id,
        actor_role: row.actor_role,
        action: row.action,
        target_kind: row.target_kind,
        target_id: row.target_id,
        source_ip: row.source_ip,
        outcome: row.outcome,
        details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
        prev_hash: row.prev_hash,
        hash: row.hash,
    }
}
