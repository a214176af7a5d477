//! Per-tenant quotas: an ingest rate (events per second and a burst) and storage.

use cdp_domain::TenantId;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};

use crate::TenancyError;
use crate::store::limit;

/// A tenant's own quotas; `None` means the deployment's default (no storage limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quotas {
    pub events_per_second: Option<u32>,
    pub burst: Option<u32>,
    /// Bytes of sealed events the tenant may keep.
    pub storage_bytes: Option<u64>,
}

impl Quotas {
    pub fn validate(&self) -> Result<(), TenancyError> {
        match (self.events_per_second, self.burst) {
            (Some(0), _) => Err(TenancyError::InvalidLimit),
            (Some(rate), Some(burst)) if burst < rate => Err(TenancyError::InvalidLimit),
            (None, Some(_)) => Err(TenancyError::InvalidLimit),
            _ => Ok(()),
        }
    }
}

fn to_u32(v: Option<i64>) -> Option<u32> {
    v.map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

pub async fn quotas<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Quotas, TenancyError> {
    let row = limit::Entity::find_by_id(tenant.as_uuid())
        .one(conn)
        .await?;
    Ok(row.map_or_else(Quotas::default, |r| Quotas {
        events_per_second: to_u32(r.ingest_events_per_second),
        burst: to_u32(r.ingest_burst),
        storage_bytes: r.storage_bytes.map(|b| u64::try_from(b).unwrap_or(0)),
    }))
}

/// Replaces the tenant's quotas.
pub async fn set_quotas<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    quotas: Quotas,
) -> Result<(), TenancyError> {
    quotas.validate()?;
    let burst = quotas
        .burst
        .or(quotas.events_per_second.map(|r| r.saturating_mul(2)));
    limit::Entity::insert(limit::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        ingest_events_per_second: Set(quotas.events_per_second.map(i64::from)),
        ingest_burst: Set(burst.map(i64::from)),
        storage_bytes: Set(quotas
            .storage_bytes
            .map(|b| i64::try_from(b).unwrap_or(i64::MAX))),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(limit::Column::TenantId)
            .update_columns([
                limit::Column::IngestEventsPerSecond,
                limit::Column::IngestBurst,
                limit::Column::StorageBytes,
                limit::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
