//! Members: users with a role in a tenant. Every query takes the tenant id.

use cdp_domain::{Email, Role, TenantId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde::Serialize;

use crate::TenancyError;
use crate::store::{membership, user};

#[derive(Clone, Serialize)]
pub struct Member {
    pub user_id: UserId,
    #[serde(serialize_with = "email_text")]
    pub email: Email,
    #[serde(serialize_with = "role_text")]
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

fn email_text<S: serde::Serializer>(email: &Email, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(email.as_str())
}

fn role_text<S: serde::Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.as_str())
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn role_of(text: &str) -> Result<Role, TenancyError> {
    text.parse()
        .map_err(|_| TenancyError::Corrupt("a stored role"))
}

/// Adds a user to a tenant; an existing member is [`TenancyError::Conflict`].
pub async fn add_member<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user: UserId,
    role: Role,
) -> Result<(), TenancyError> {
    membership::Entity::insert(membership::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        user_id: Set(user.as_uuid()),
        role: Set(role.as_str().to_owned()),
        created_at: Set(Utc::now()),
    })
    .exec_without_returning(conn)
    .await
    .map_err(|e| {
        if cdp_storage::is_unique_violation(&e) {
            TenancyError::Conflict("this user is a member already")
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// The tenant's members, oldest first.
pub async fn list_members<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<Member>, TenancyError> {
    let rows = membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(membership::Column::CreatedAt)
        .all(conn)
        .await?;
    let mut members = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(member) = with_user(conn, row).await? {
            members.push(member);
        }
    }
    Ok(members)
}

/// One member of the tenant; another tenant's member is `None`.
pub async fn find_member<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<Member>, TenancyError> {
    match membership::Entity::find_by_id((tenant.as_uuid(), user.as_uuid()))
        .one(conn)
        .await?
    {
        Some(row) => with_user(conn, row).await,
        None => Ok(None),
    }
}

/// The role a user holds in a tenant, if any.
pub async fn role_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<Role>, TenancyError> {
    membership::Entity::find_by_id((tenant.as_uuid(), user.as_uuid()))
        .one(conn)
        .await?
        .map(|row| role_of(&row.role))
        .transpose()
}

/// The tenants a user belongs to, with the role in each.
pub async fn memberships_of<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
) -> Result<Vec<(TenantId, Role)>, TenancyError> {
    membership::Entity::find()
        .filter(membership::Column::UserId.eq(user.as_uuid()))
        .order_by_asc(membership::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| Ok((TenantId::from_uuid(row.tenant_id), role_of(&row.role)?)))
        .collect()
}

pub async fn set_role<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user: UserId,
    role: Role,
) -> Result<bool, TenancyError> {
    let result = membership::Entity::update_many()
        .col_expr(membership::Column::Role, Expr::value(role.as_str()))
        .filter(membership::Column::TenantId.eq(tenant.as_uuid()))
        .filter(membership::Column::UserId.eq(user.as_uuid()))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn remove_member<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user: UserId,
) -> Result<bool, TenancyError> {
    let result = membership::Entity::delete_many()
        .filter(membership::Column::TenantId.eq(tenant.as_uuid()))
        .filter(membership::Column::UserId.eq(user.as_uuid()))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// How many owners the tenant has: the last one cannot be removed or demoted.
pub async fn count_owners<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<usize, TenancyError> {
    Ok(membership::Entity::find()
        .filter(membership::Column::TenantId.eq(tenant.as_uuid()))
        .filter(membership::Column::Role.eq(Role::Owner.as_str()))
        .all(conn)
        .await?
        .len())
}

async fn with_user<C: ConnectionTrait>(
    conn: &C,
    row: membership::Model,
) -> Result<Option<Member>, TenancyError> {
    let Some(user) = user::Entity::find_by_id(row.user_id).one(conn).await? else {
        return Ok(None);
    };
    Ok(Some(Member {
        user_id: UserId::from_uuid(row.user_id),
        email: Email::parse(&user.email)
            .map_err(|_| TenancyError::Corrupt("a stored e-mail address"))?,
        role: role_of(&row.role)?,
        created_at: row.created_at,
    }))
}
