//! Leases: one projector process works a tenant at a time. A lease expires if its holder
//! stops renewing it (it died), and every projection commit renews it in the same
//! transaction, so a holder that lost its lease cannot commit.

use cdp_domain::TenantId;
use chrono::{TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::StoreError;
use crate::entities::lease;

/// Takes the tenant's lease if it is free, expired, or already ours.
pub async fn acquire_lease<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    holder: &str,
    ttl: TimeDelta,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    lease::Entity::insert(lease::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        holder: Set(holder.to_owned()),
        expires_at: Set(now - TimeDelta::seconds(1)),
    })
    .on_conflict(
        OnConflict::column(lease::Column::TenantId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    let taken = lease::Entity::update_many()
        .col_expr(lease::Column::Holder, Expr::value(holder))
        .col_expr(lease::Column::ExpiresAt, Expr::value(now + ttl))
        .filter(lease::Column::TenantId.eq(tenant.as_uuid()))
        .filter(
            lease::Column::ExpiresAt
                .lt(now)
                .or(lease::Column::Holder.eq(holder)),
        )
        .exec(conn)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Renews the lease; `false` when someone else holds it now. Called inside each
/// projection transaction, so that a commit happens only under a lease still held.
pub async fn hold_lease<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    holder: &str,
    ttl: TimeDelta,
) -> Result<bool, StoreError> {
    let renewed = lease::Entity::update_many()
        .col_expr(lease::Column::ExpiresAt, Expr::value(Utc::now() + ttl))
        .filter(lease::Column::TenantId.eq(tenant.as_uuid()))
        .filter(lease::Column::Holder.eq(holder))
        .exec(conn)
        .await?;
    Ok(renewed.rows_affected == 1)
}

pub async fn release_lease<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    holder: &str,
) -> Result<(), StoreError> {
    lease::Entity::update_many()
        .col_expr(
            lease::Column::ExpiresAt,
            Expr::value(Utc::now() - TimeDelta::seconds(1)),
        )
        .filter(lease::Column::TenantId.eq(tenant.as_uuid()))
        .filter(lease::Column::Holder.eq(holder))
        .exec(conn)
        .await?;
    Ok(())
}
