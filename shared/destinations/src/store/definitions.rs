//! Destinations and their signing secrets.

use cdp_domain::{DestinationId, TenantId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::entities::{delivery, destination, secret};
use crate::{BreakerState, DestinationError, DestinationSpec};

/// A destination as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Destination {
    pub tenant: TenantId,
    pub id: DestinationId,
    pub name: String,
    pub url: String,
    pub purpose: String,
    pub spec: DestinationSpec,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// The first position of the tenant's log it receives.
    pub from_seq: i64,
    pub breaker: BreakerState,
    pub skipped_without_consent: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a tenant sets of a destination.
#[derive(Clone, Debug)]
pub struct DestinationInput {
    pub name: String,
    pub url: String,
    pub purpose: String,
    pub spec: DestinationSpec,
    pub enabled: bool,
}

/// A signing secret sealed under the master key.
#[derive(Clone)]
pub struct SealedSecret {
    pub id: Uuid,
    pub sealed: Vec<u8>,
    pub master_key_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

fn view(row: destination::Model) -> Result<Destination, DestinationError> {
    let spec = serde_json::from_str(&row.spec)
        .map_err(|e| DestinationError::Corrupt(format!("destination spec: {e}")))?;
    Ok(Destination {
        tenant: TenantId::from_uuid(row.tenant_id),
        id: DestinationId::from_uuid(row.destination_id),
        name: row.name,
        url: row.url,
        purpose: row.purpose,
        spec,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        from_seq: row.from_seq,
        breaker: BreakerState {
            consecutive_failures: super::from_db(row.consecutive_failures),
            open_until: row.open_until,
            times_opened: super::from_db(row.times_opened),
        },
        skipped_without_consent: row.skipped_without_consent,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn spec_text(spec: &DestinationSpec) -> String {
    serde_json::to_string(spec).expect("a destination spec serializes")
}

/// Saves a new destination with its first signing secret. It receives the log from
/// `from_seq` on.
pub async fn insert_destination<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    input: DestinationInput,
    from_seq: i64,
    first_secret: SealedSecret,
) -> Result<Destination, DestinationError> {
    let now = Utc::now();
    let row = destination::Model {
        tenant_id: tenant.as_uuid(),
        destination_id: id.as_uuid(),
        name: input.name,
        url: input.url,
        purpose: input.purpose,
        spec: spec_text(&input.spec),
        enabled: input.enabled,
        disabled_reason: None,
        from_seq,
        consecutive_failures: 0,
        open_until: None,
        times_opened: 0,
        skipped_without_consent: 0,
        created_at: now,
        updated_at: now,
    };
    destination::Entity::insert(destination::ActiveModel::from(row.clone()))
        .exec_without_returning(conn)
        .await?;
    insert_secret(conn, tenant, id, first_secret).await?;
    view(row)
}

async fn insert_secret<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    s: SealedSecret,
) -> Result<(), DestinationError> {
    secret::Entity::insert(secret::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        destination_id: Set(id.as_uuid()),
        secret_id: Set(s.id),
        sealed: Set(s.sealed),
        master_key_id: Set(s.master_key_id),
        created_at: Set(s.created_at),
        expires_at: Set(s.expires_at),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

pub async fn destinations<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<Destination>, DestinationError> {
    destination::Entity::find()
        .filter(destination::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(destination::Column::DestinationId)
        .all(conn)
        .await?
        .into_iter()
        .map(view)
        .collect()
}

pub async fn destination<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
) -> Result<Option<Destination>, DestinationError> {
    destination::Entity::find_by_id((tenant.as_uuid(), id.as_uuid()))
        .one(conn)
        .await?
        .map(view)
        .transpose()
}

/// Replaces what the tenant sets. Turning a destination on again clears why it was off
/// and closes its breaker.
pub async fn update_destination<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    input: DestinationInput,
) -> Result<Option<Destination>, DestinationError> {
    let mut update = destination::Entity::update_many()
        .col_expr(destination::Column::Name, Expr::value(input.name))
        .col_expr(destination::Column::Url, Expr::value(input.url))
        .col_expr(destination::Column::Purpose, Expr::value(input.purpose))
        .col_expr(
            destination::Column::Spec,
            Expr::value(spec_text(&input.spec)),
        )
        .col_expr(destination::Column::Enabled, Expr::value(input.enabled))
        .col_expr(destination::Column::UpdatedAt, Expr::value(Utc::now()));
    if input.enabled {
        update = update
            .col_expr(
                destination::Column::DisabledReason,
                Expr::value(Option::<String>::None),
            )
            .col_expr(destination::Column::ConsecutiveFailures, Expr::value(0))
            .col_expr(destination::Column::TimesOpened, Expr::value(0))
            .col_expr(
                destination::Column::OpenUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            );
    }
    let updated = update
        .filter(destination::Column::TenantId.eq(tenant.as_uuid()))
        .filter(destination::Column::DestinationId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    destination(conn, tenant, id).await
}

/// Removes a destination with its secrets and its whole delivery log.
pub async fn delete_destination<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
) -> Result<bool, DestinationError> {
    delivery::Entity::delete_many()
        .filter(delivery::Column::TenantId.eq(tenant.as_uuid()))
        .filter(delivery::Column::DestinationId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    secret::Entity::delete_many()
        .filter(secret::Column::TenantId.eq(tenant.as_uuid()))
        .filter(secret::Column::DestinationId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    let deleted = destination::Entity::delete_many()
        .filter(destination::Column::TenantId.eq(tenant.as_uuid()))
        .filter(destination::Column::DestinationId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Adds a new signing secret. The ones in use keep signing until `old_expire_at` (so
/// receivers can switch without a gap); those already expired are removed.
pub async fn add_secret<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    new: SealedSecret,
    old_expire_at: DateTime<Utc>,
) -> Result<(), DestinationError> {
    let now = new.created_at;
    let of_destination = || {
        secret::Column::TenantId
            .eq(tenant.as_uuid())
            .and(secret::Column::DestinationId.eq(id.as_uuid()))
    };
    secret::Entity::delete_many()
        .filter(of_destination())
        .filter(secret::Column::ExpiresAt.lte(now))
        .exec(conn)
        .await?;
    secret::Entity::update_many()
        .col_expr(secret::Column::ExpiresAt, Expr::value(old_expire_at))
        .filter(of_destination())
        .filter(
            secret::Column::ExpiresAt
                .is_null()
                .or(secret::Column::ExpiresAt.gt(old_expire_at)),
        )
        .exec(conn)
        .await?;
    insert_secret(conn, tenant, id, new).await
}

/// The secrets that sign at `now`, the newest first.
pub async fn live_secrets<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    now: DateTime<Utc>,
) -> Result<Vec<SealedSecret>, DestinationError> {
    Ok(secret::Entity::find()
        .filter(secret::Column::TenantId.eq(tenant.as_uuid()))
        .filter(secret::Column::DestinationId.eq(id.as_uuid()))
        .filter(
            secret::Column::ExpiresAt
                .is_null()
                .or(secret::Column::ExpiresAt.gt(now)),
        )
        .order_by_desc(secret::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(|s| SealedSecret {
            id: s.secret_id,
            sealed: s.sealed,
            master_key_id: s.master_key_id,
            created_at: s.created_at,
            expires_at: s.expires_at,
        })
        .collect())
}

/// Tenants with destinations, turned on or off: those whose log is routed (past what a
/// turned-off destination would have received, too).
pub async fn tenants_with_destinations<C: ConnectionTrait>(
    conn: &C,
) -> Result<Vec<TenantId>, DestinationError> {
    let tenants: Vec<Uuid> = destination::Entity::find()
        .select_only()
        .column(destination::Column::TenantId)
        .distinct()
        .into_tuple()
        .all(conn)
        .await?;
    Ok(tenants.into_iter().map(TenantId::from_uuid).collect())
}

/// Stores a destination's breaker, and turns it off with a reason when asked.
pub async fn record_breaker<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DestinationId,
    state: BreakerState,
    disable: Option<&str>,
) -> Result<(), DestinationError> {
    let mut update = destination::Entity::update_many()
        .col_expr(
            destination::Column::ConsecutiveFailures,
            Expr::value(super::to_db(state.consecutive_failures)),
        )
        .col_expr(
            destination::Column::OpenUntil,
            Expr::value(state.open_until),
        )
        .col_expr(
            destination::Column::TimesOpened,
            Expr::value(super::to_db(state.times_opened)),
        );
    if let Some(reason) = disable {
        update = update
            .col_expr(destination::Column::Enabled, Expr::value(false))
            .col_expr(destination::Column::DisabledReason, Expr::value(reason))
            .col_expr(destination::Column::UpdatedAt, Expr::value(Utc::now()));
    }
    update
        .filter(destination::Column::TenantId.eq(tenant.as_uuid()))
        .filter(destination::Column::DestinationId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Seals again every signing secret held under a master key other than `current` (part
/// of a master key rotation): `reseal(secret_id, from_master_key_id, sealed)` gives the
/// secret sealed under `current`, or `None` for one it cannot open (left as it is).
/// Returns how many were resealed.
pub async fn reseal_secrets<C, F>(
    conn: &C,
    current: &str,
    mut reseal: F,
) -> Result<u64, DestinationError>
where
    C: ConnectionTrait,
    F: FnMut(&str, &str, &[u8]) -> Option<Vec<u8>>,
{
    let rows = secret::Entity::find()
        .filter(secret::Column::MasterKeyId.ne(current))
        .all(conn)
        .await?;
    let mut resealed = 0;
    for row in rows {
        let Some(again) = reseal(&row.secret_id.to_string(), &row.master_key_id, &row.sealed)
        else {
            continue;
        };
        resealed += secret::Entity::update_many()
            .col_expr(secret::Column::Sealed, Expr::value(again))
            .col_expr(secret::Column::MasterKeyId, Expr::value(current))
            .filter(secret::Column::TenantId.eq(row.tenant_id))
            .filter(secret::Column::DestinationId.eq(row.destination_id))
            .filter(secret::Column::SecretId.eq(row.secret_id))
            .filter(secret::Column::MasterKeyId.eq(row.master_key_id.clone()))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(resealed)
}
