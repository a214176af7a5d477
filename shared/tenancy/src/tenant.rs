//! Tenants as platform admins see them: listing, renaming, suspending, deleting.

use cdp_domain::{TenantId, TenantName};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::TenancyError;
use crate::store::{credential, tenant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    /// Every credential of the tenant answers 403 until it is resumed.
    Suspended,
    /// Erased: its keys are destroyed; nothing of it can be read or written again.
    Deleted,
}

impl TenantStatus {
    pub(crate) fn parse(text: &str) -> TenantStatus {
        match text {
            tenant::ACTIVE => TenantStatus::Active,
            tenant::SUSPENDED => TenantStatus::Suspended,
            _ => TenantStatus::Deleted,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => tenant::ACTIVE,
            TenantStatus::Suspended => tenant::SUSPENDED,
            TenantStatus::Deleted => tenant::DELETED,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub status: TenantStatus,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<tenant::Model> for Tenant {
    fn from(row: tenant::Model) -> Self {
        Tenant {
            id: TenantId::from_uuid(row.id),
            name: row.name,
            status: TenantStatus::parse(&row.status),
            created_at: row.created_at,
            deleted_at: row.deleted_at,
        }
    }
}

pub async fn find_tenant<C: ConnectionTrait>(
    conn: &C,
    id: TenantId,
) -> Result<Option<Tenant>, TenancyError> {
    Ok(tenant::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(Tenant::from))
}

/// Every tenant, oldest first; deleted ones too, as records.
pub async fn list_tenants<C: ConnectionTrait>(conn: &C) -> Result<Vec<Tenant>, TenancyError> {
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(Tenant::from)
        .collect())
}

pub async fn rename_tenant<C: ConnectionTrait>(
    conn: &C,
    id: TenantId,
    name: &TenantName,
) -> Result<bool, TenancyError> {
    let result = tenant::Entity::update_many()
        .col_expr(tenant::Column::Name, Expr::value(name.as_str()))
        .filter(tenant::Column::Id.eq(id.as_uuid()))
        .filter(tenant::Column::Status.ne(tenant::DELETED))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Suspends or resumes a tenant. A deleted tenant stays deleted.
pub async fn set_tenant_status<C: ConnectionTrait>(
    conn: &C,
    id: TenantId,
    status: TenantStatus,
) -> Result<bool, TenancyError> {
    if status == TenantStatus::Deleted {
        return Err(TenancyError::UseDelete);
    }
    let result = tenant::Entity::update_many()
        .col_expr(tenant::Column::Status, Expr::value(status.as_str()))
        .filter(tenant::Column::Id.eq(id.as_uuid()))
        .filter(tenant::Column::Status.ne(tenant::DELETED))
        .exec(conn)
        .await?;
    crate::credentials_changed();
    Ok(result.rows_affected > 0)
}

/// Marks a tenant deleted and revokes every credential of it. The caller destroys its keys
/// in the same transaction, and calls [`crate::credentials_changed`] once it has committed.
pub async fn mark_tenant_deleted<C: ConnectionTrait>(
    conn: &C,
    id: TenantId,
) -> Result<bool, TenancyError> {
    let now = Utc::now();
    let result = tenant::Entity::update_many()
        .col_expr(tenant::Column::Status, Expr::value(tenant::DELETED))
        .col_expr(tenant::Column::DeletedAt, Expr::value(Some(now)))
        .filter(tenant::Column::Id.eq(id.as_uuid()))
        .filter(tenant::Column::Status.ne(tenant::DELETED))
        .exec(conn)
        .await?;
    credential::Entity::update_many()
        .col_expr(credential::Column::RevokedAt, Expr::value(Some(now)))
        .filter(credential::Column::TenantId.eq(id.as_uuid()))
        .filter(credential::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}
