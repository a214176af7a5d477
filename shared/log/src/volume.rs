//! How many events each source sent, hour by hour: counted as batches are appended (in
//! their transaction, so the count and the log agree), read without touching the log.

use std::collections::BTreeMap;

use cdp_domain::{SourceId, TenantId};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sea_orm::prelude::Uuid;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::store::volume;
use crate::{LogError, NewEvent};

/// Events of one source (None: sent without one) received in the hour starting `hour`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourlyVolume {
    pub hour: DateTime<Utc>,
    pub source_id: Option<SourceId>,
    pub events: u64,
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::hours(1)).unwrap_or(at)
}

/// Adds the appended events to their hours' counts, inside the append's transaction.
pub(crate) async fn count<'a, C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    events: impl Iterator<Item = &'a NewEvent>,
) -> Result<(), LogError> {
    let mut counts: BTreeMap<(DateTime<Utc>, Uuid), i64> = BTreeMap::new();
    for event in events {
        let source = event.source_id.map_or(Uuid::nil(), |s| s.as_uuid());
        *counts
            .entry((hour_of(event.received_at), source))
            .or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(());
    }
    let rows = counts
        .into_iter()
        .map(|((hour, source), events)| volume::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            hour: Set(hour),
            source_id: Set(source),
            events: Set(events),
        });
    volume::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                volume::Column::TenantId,
                volume::Column::Hour,
                volume::Column::SourceId,
            ])
            .value(
                volume::Column::Events,
                Expr::col((volume::Entity, volume::Column::Events))
                    .add(Expr::cust("excluded.events")),
            )
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// A tenant's counts from the hour holding `since` on, oldest first.
pub async fn hourly_volume<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    since: DateTime<Utc>,
) -> Result<Vec<HourlyVolume>, LogError> {
    let rows = volume::Entity::find()
        .filter(volume::Column::TenantId.eq(tenant.as_uuid()))
        .filter(volume::Column::Hour.gte(hour_of(since)))
        .order_by_asc(volume::Column::Hour)
        .order_by_asc(volume::Column::SourceId)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| HourlyVolume {
            hour: row.hour,
            source_id: (!row.source_id.is_nil()).then(|| SourceId::from_uuid(row.source_id)),
            events: u64::try_from(row.events).unwrap_or(0),
        })
        .collect())
}
