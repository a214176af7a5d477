//! Per-tenant ingest rate limits.

use cdp_domain::TenantId;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::TenancyError;
use crate::store::limit;

/// The tenant's own limit as (events per second, burst), if it has one.
pub async fn ingest_limit<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Option<(u32, u32)>, TenancyError> {
    let row = limit::Entity::find_by_id(tenant.as_uuid())
        .one(conn)
        .await?;
    Ok(row.map(|r| {
        (
            u32::try_from(r.ingest_events_per_second).unwrap_or(u32::MAX),
            u32::try_from(r.ingest_burst).unwrap_or(u32::MAX),
        )
    }))
}

/// Sets the tenant's ingest limit. Both numbers must be at least 1; the burst at least the rate.
pub async fn set_ingest_limit<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    events_per_second: u32,
    burst: u32,
) -> Result<(), TenancyError> {
    if events_per_second == 0 || burst < events_per_second {
        return Err(TenancyError::InvalidLimit);
    }
    limit::Entity::insert(limit::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        ingest_events_per_second: Set(i64::from(events_per_second)),
        ingest_burst: Set(i64::from(burst)),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(limit::Column::TenantId)
            .update_columns([
                limit::Column::IngestEventsPerSecond,
                limit::Column::IngestBurst,
                limit::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
