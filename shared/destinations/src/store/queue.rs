//! The delivery queue and log: one row per event and destination, from routing to its
//! fate, and the position up to which each tenant's log has been routed.

use std::collections::{BTreeMap, HashMap};

use cdp_domain::{DataKeyId, DestinationId, TenantId};
use cdp_storage::one_of;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::entities::{cursor, delivery, destination, secret};
use crate::{DeliveryKind, DeliveryStatus, DestinationError};

/// Rows per insert statement.
const INSERT_CHUNK: usize = 256;

/// One delivery as the log shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub destination: DestinationId,
    pub seq: i64,
    pub kind: DeliveryKind,
    pub ordering_key: String,
    pub key_id: DataKeyId,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub latency_ms: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
}

fn view(row: delivery::Model) -> Result<Delivery, DestinationError> {
    let corrupt = |what: &str| DestinationError::Corrupt(format!("delivery {}: {what}", row.seq));
    Ok(Delivery {
        destination: DestinationId::from_uuid(row.destination_id),
        seq: row.seq,
        kind: DeliveryKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?,
        ordering_key: row.ordering_key.clone(),
        key_id: DataKeyId::from_uuid(row.key_id),
        status: DeliveryStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
        attempts: super::from_db(row.attempts),
        next_attempt_at: row.next_attempt_at,
        first_attempt_at: row.first_attempt_at,
        last_attempt_at: row.last_attempt_at,
        last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.last_error,
        latency_ms: row.latency_ms.and_then(|l| u32::try_from(l).ok()),
        created_at: row.created_at,
        done_at: row.done_at,
    })
}

/// A delivery the router decided on.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub destination: DestinationId,
    pub seq: i64,
    pub kind: DeliveryKind,
    pub ordering_key: String,
    pub key_id: DataKeyId,
}

/// Where routing of the tenant's log stands: `None` before its first routing.
pub async fn cursor<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Option<i64>, DestinationError> {
    Ok(cursor::Entity::find_by_id(tenant.as_uuid())
        .one(conn)
        .await?
        .map(|c| c.seq))
}

/// Moves the routing position from `from` to `to`, only if it is still at `from`: two
/// routers of one tenant cannot both commit the same stretch of the log.
pub async fn advance_cursor<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    from: Option<i64>,
    to: i64,
) -> Result<bool, DestinationError> {
    let now = Utc::now();
    let Some(from) = from else {
        let inserted = cursor::Entity::insert(cursor::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            seq: Set(to),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(cursor::Column::TenantId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
        return Ok(inserted == 1);
    };
    let updated = cursor::Entity::update_many()
        .col_expr(cursor::Column::Seq, Expr::value(to))
        .col_expr(cursor::Column::UpdatedAt, Expr::value(now))
        .filter(cursor::Column::TenantId.eq(tenant.as_uuid()))
        .filter(cursor::Column::Seq.eq(from))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Queues deliveries, due now. One that exists already (the same event for the same
/// destination) is left as it is.
pub async fn insert_deliveries<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    new: &[NewDelivery],
    now: DateTime<Utc>,
) -> Result<(), DestinationError> {
    for chunk in new.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().map(|d| delivery::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            destination_id: Set(d.destination.as_uuid()),
            seq: Set(d.seq),
            kind: Set(d.kind.as_str().to_owned()),
            ordering_key: Set(d.ordering_key.clone()),
            key_id: Set(d.key_id.as_uuid()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            first_attempt_at: Set(None),
            last_attempt_at: Set(None),
            leased_until: Set(None),
            last_status: Set(None),
            last_error: Set(None),
            latency_ms: Set(None),
            created_at: Set(now),
            done_at: Set(None),
        });
        delivery::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    delivery::Column::TenantId,
                    delivery::Column::DestinationId,
                    delivery::Column::Seq,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// Counts events a destination would have received but for the person's consent.
pub async fn add_skipped<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    skipped: i64,
) -> Result<(), DestinationError> {
    destination::Entity::update_many()
        .col_expr(
            destination::Column::SkippedWithoutConsent,
            Expr::col(destination::Column::SkippedWithoutConsent).add(skipped),
        )
        .filter(destination::Column::TenantId.eq(tenant.as_uuid()))
        .filter(destination::Column::DestinationId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// `status = 'pending'` written out rather than bound: the partial indexes of pending
/// deliveries are only used for a query whose condition visibly implies theirs, which a
/// bound parameter does not (on SQLite, and in PostgreSQL's generic plans).
fn pending() -> sea_orm::sea_query::SimpleExpr {
    Expr::cust("status = 'pending'")
}

fn due(now: DateTime<Utc>) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(pending())
        .add(delivery::Column::NextAttemptAt.lte(now))
        .add(
            delivery::Column::LeasedUntil
                .is_null()
                .or(delivery::Column::LeasedUntil.lt(now)),
        )
}

/// Destinations with deliveries due at `now`, over all tenants.
pub async fn due_destinations<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(TenantId, DestinationId)>, DestinationError> {
    let rows: Vec<(Uuid, Uuid)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::TenantId)
        .column(delivery::Column::DestinationId)
        .distinct()
        .filter(due(now))
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(t, d)| (TenantId::from_uuid(t), DestinationId::from_uuid(d)))
        .collect())
}

/// Takes up to `limit` due deliveries of a destination for sending, leased until
/// `lease_until` so that no other sender takes them meanwhile. Only the earliest pending
/// delivery of each ordering key is taken: a profile's deliveries go one after another,
/// in the order of the log.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    now: DateTime<Utc>,
    limit: usize,
    lease_until: DateTime<Utc>,
) -> Result<Vec<Delivery>, DestinationError> {
    let candidates = delivery::Entity::find()
        .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
        .filter(due(now))
        .order_by_asc(delivery::Column::Seq)
        .limit((limit * 4) as u64)
        .all(conn)
        .await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys: Vec<String> = candidates.iter().map(|c| c.ordering_key.clone()).collect();
    keys.sort();
    keys.dedup();
    let firsts: HashMap<String, i64> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::OrderingKey)
        .column_as(delivery::Column::Seq.min(), "first")
        .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
        .filter(pending())
        .filter(one_of(
            conn.get_database_backend(),
            delivery::Column::OrderingKey,
            keys,
        ))
        .group_by(delivery::Column::OrderingKey)
        .into_tuple::<(String, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let chosen: Vec<delivery::Model> = candidates
        .into_iter()
        .filter(|row| firsts.get(&row.ordering_key) == Some(&row.seq))
        .take(limit)
        .collect();
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    // One statement takes them all; the lease (to the microsecond, as PostgreSQL keeps
    // it) then tells which this sender got and which another took first.
    let lease_until = lease_until.trunc_subsecs(6);
    let seqs: Vec<i64> = chosen.iter().map(|r| r.seq).collect();
    let backend = conn.get_database_backend();
    delivery::Entity::update_many()
        .col_expr(delivery::Column::LeasedUntil, Expr::value(lease_until))
        .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
        .filter(one_of(backend, delivery::Column::Seq, seqs.clone()))
        .filter(due(now))
        .exec(conn)
        .await?;
    let taken: std::collections::HashSet<i64> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Seq)
        .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
        .filter(one_of(backend, delivery::Column::Seq, seqs))
        .filter(delivery::Column::LeasedUntil.eq(lease_until))
        .into_tuple::<i64>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    chosen
        .into_iter()
        .filter(|row| taken.contains(&row.seq))
        .map(view)
        .collect()
}

/// What an attempt changed of a delivery.
#[derive(Clone, Debug)]
pub struct DeliveryUpdate {
    pub seq: i64,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub first_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub latency_ms: Option<u32>,
    pub done_at: Option<DateTime<Utc>>,
}

/// Writes the outcomes of a round of attempts and releases their leases. A delivery
/// cancelled meanwhile (by an erasure) stays cancelled.
pub async fn record_outcomes<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    updates: &[DeliveryUpdate],
) -> Result<(), DestinationError> {
    for u in updates {
        delivery::Entity::update_many()
            .col_expr(delivery::Column::Status, Expr::value(u.status.as_str()))
            .col_expr(
                delivery::Column::Attempts,
                Expr::value(super::to_db(u.attempts)),
            )
            .col_expr(
                delivery::Column::NextAttemptAt,
                Expr::value(u.next_attempt_at),
            )
            .col_expr(
                delivery::Column::FirstAttemptAt,
                Expr::value(u.first_attempt_at),
            )
            .col_expr(
                delivery::Column::LastAttemptAt,
                Expr::value(u.last_attempt_at),
            )
            .col_expr(
                delivery::Column::LeasedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                delivery::Column::LastStatus,
                Expr::value(u.last_status.map(i32::from)),
            )
            .col_expr(
                delivery::Column::LastError,
                Expr::value(u.last_error.clone()),
            )
            .col_expr(
                delivery::Column::LatencyMs,
                Expr::value(u.latency_ms.map(super::to_db)),
            )
            .col_expr(delivery::Column::DoneAt, Expr::value(u.done_at))
            .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
            .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
            .filter(delivery::Column::Seq.eq(u.seq))
            .filter(delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// A destination's deliveries after `after` in log order, of one status or all.
pub async fn deliveries<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    status: Option<DeliveryStatus>,
    after: i64,
    limit: u64,
) -> Result<Vec<Delivery>, DestinationError> {
    let mut query = delivery::Entity::find()
        .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
        .filter(delivery::Column::Seq.gt(after));
    if let Some(status) = status {
        query = query.filter(delivery::Column::Status.eq(status.as_str()));
    }
    query
        .order_by_asc(delivery::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(view)
        .collect()
}

pub async fn delivery<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    seq: i64,
) -> Result<Option<Delivery>, DestinationError> {
    delivery::Entity::find_by_id((tenant.as_uuid(), id.as_uuid(), seq))
        .one(conn)
        .await?
        .map(view)
        .transpose()
}

/// How many of a destination's deliveries are in each status.
pub async fn status_counts<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
) -> Result<BTreeMap<&'static str, i64>, DestinationError> {
    let rows: Vec<(String, i64)> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::Status)
        .column_as(delivery::Column::Seq.count(), "n")
        .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
        .group_by(delivery::Column::Status)
        .into_tuple()
        .all(conn)
        .await?;
    let mut counts: BTreeMap<&'static str, i64> = DeliveryStatus::ALL
        .iter()
        .map(|s| (s.as_str(), 0))
        .collect();
    for (status, n) in rows {
        if let Some(status) = DeliveryStatus::parse(&status) {
            counts.insert(status.as_str(), n);
        }
    }
    Ok(counts)
}

/// Puts dead deliveries back in the queue, due now, with a fresh retry window: all of
/// the destination's, or those at `seqs`. Returns how many.
pub async fn replay<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    seqs: Option<Vec<i64>>,
    now: DateTime<Utc>,
) -> Result<u64, DestinationError> {
    let mut update = delivery::Entity::update_many()
        .col_expr(
            delivery::Column::Status,
            Expr::value(DeliveryStatus::Pending.as_str()),
        )
        .col_expr(delivery::Column::Attempts, Expr::value(0))
        .col_expr(delivery::Column::NextAttemptAt, Expr::value(now))
        .col_expr(
            delivery::Column::FirstAttemptAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            delivery::Column::DoneAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Dead.as_str()));
    if let Some(seqs) = seqs {
        if seqs.is_empty() {
            return Ok(0);
        }
        update = update.filter(one_of(
            conn.get_database_backend(),
            delivery::Column::Seq,
            seqs,
        ));
    }
    Ok(update.exec(conn).await?.rows_affected)
}

/// Cancels every delivery not yet made (pending or dead) of events sealed under these
/// keys: what an erasure does, in the transaction that destroys them.
pub async fn cancel_for_keys<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    keys: &[DataKeyId],
    now: DateTime<Utc>,
) -> Result<u64, DestinationError> {
    let mut cancelled = 0;
    for chunk in keys.chunks(500) {
        let values: Vec<Uuid> = chunk.iter().map(|k| k.as_uuid()).collect();
        cancelled += delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Status,
                Expr::value(DeliveryStatus::Cancelled.as_str()),
            )
            .col_expr(
                delivery::Column::LastError,
                Expr::value("the person was erased"),
            )
            .col_expr(delivery::Column::DoneAt, Expr::value(now))
            .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
            .filter(one_of(
                conn.get_database_backend(),
                delivery::Column::KeyId,
                values,
            ))
            .filter(delivery::Column::Status.is_in([
                DeliveryStatus::Pending.as_str(),
                DeliveryStatus::Dead.as_str(),
            ]))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(cancelled)
}

/// Removes everything of a deleted workspace.
pub async fn forget_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<(), DestinationError> {
    let t = tenant.as_uuid();
    delivery::Entity::delete_many()
        .filter(delivery::Column::TenantId.eq(t))
        .exec(conn)
        .await?;
    secret::Entity::delete_many()
        .filter(secret::Column::TenantId.eq(t))
        .exec(conn)
        .await?;
    destination::Entity::delete_many()
        .filter(destination::Column::TenantId.eq(t))
        .exec(conn)
        .await?;
    cursor::Entity::delete_many()
        .filter(cursor::Column::TenantId.eq(t))
        .exec(conn)
        .await?;
    Ok(())
}
