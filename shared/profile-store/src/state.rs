//! Where each generation of a tenant's projection stands.

use cdp_domain::{ProfileId, TenantId};
use std::collections::BTreeMap;

use cdp_profiles::{Aggregation, IdentityRules};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::entities::state;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Serves reads and follows the log.
    Active,
    /// Being rebuilt from the start of the log, to replace the active one.
    Building,
    /// Replaced; its rows are being removed.
    Retired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Building => "building",
            Status::Retired => "retired",
        }
    }

    fn parse(text: &str) -> Status {
        match text {
            "active" => Status::Active,
            "building" => Status::Building,
            _ => Status::Retired,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct GenerationState {
    pub generation: i64,
    pub status: Status,
    #[serde(skip)]
    pub rules: IdentityRules,
    pub last_seq: i64,
    pub events_applied: i64,
    pub events_shredded: i64,
    pub events_unattributed: i64,
    pub failed_seq: Option<i64>,
    pub failure: Option<String>,
    pub failed_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub aggregations: KeptAggregations,
    /// The generation this one replaced, while their memberships are being compared.
    #[serde(skip)]
    pub reconcile_from: Option<i64>,
    /// The last profile compared.
    #[serde(skip)]
    pub reconcile_cursor: Option<ProfileId>,
}

/// The aggregations a generation keeps on its profiles: complete ones (folded over the
/// whole log), and ones defined after the generation started, folded from then on but
/// complete only in a generation that replays the log with them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeptAggregations {
    pub complete: BTreeMap<String, Aggregation>,
    pub filling: BTreeMap<String, Aggregation>,
}

impl KeptAggregations {
    /// Every aggregation folded as events come.
    pub fn folded(&self) -> BTreeMap<String, Aggregation> {
        let mut all = self.complete.clone();
        all.extend(self.filling.clone());
        all
    }
}

/// Records what a generation keeps (the worker holding the tenant's lease does).
pub async fn set_kept_aggregations<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    kept: &KeptAggregations,
) -> Result<(), StoreError> {
    state::Entity::update_many()
        .col_expr(
            state::Column::Aggregations,
            Expr::value(Some(
                serde_json::to_string(kept).expect("aggregations serialize"),
            )),
        )
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .filter(state::Column::Generation.eq(generation))
        .exec(conn)
        .await?;
    Ok(())
}

impl TryFrom<state::Model> for GenerationState {
    type Error = StoreError;

    fn try_from(row: state::Model) -> Result<Self, StoreError> {
        Ok(GenerationState {
            generation: row.generation,
            status: Status::parse(&row.status),
            rules: IdentityRules::from_json(&row.rules)
                .map_err(|_| StoreError::Corrupt("identity rules"))?,
            last_seq: row.last_seq,
            events_applied: row.events_applied,
            events_shredded: row.events_shredded,
            events_unattributed: row.events_unattributed,
            failed_seq: row.failed_seq,
            failure: row.failure,
            failed_at: row.failed_at,
            started_at: row.started_at,
            updated_at: row.updated_at,
            reconcile_from: row.reconcile_from,
            reconcile_cursor: row.reconcile_cursor.map(ProfileId::from_uuid),
            aggregations: match row.aggregations.as_deref() {
                None => KeptAggregations::default(),
                Some(text) => serde_json::from_str(text)
                    .map_err(|_| StoreError::Corrupt("kept aggregations"))?,
            },
        })
    }
}

/// The tenant's generations that are not retired, oldest first.
pub async fn generations<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<GenerationState>, StoreError> {
    state::Entity::find()
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .filter(state::Column::Status.ne(Status::Retired.as_str()))
        .order_by_asc(state::Column::Generation)
        .all(conn)
        .await?
        .into_iter()
        .map(GenerationState::try_from)
        .collect()
}

/// The generation reads use, if the tenant has been projected at all.
pub async fn active_generation<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Option<i64>, StoreError> {
    Ok(state::Entity::find()
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .filter(state::Column::Status.eq(Status::Active.as_str()))
        .one(conn)
        .await?
        .map(|row| row.generation))
}

async fn insert_generation<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    status: Status,
    rules: &IdentityRules,
) -> Result<(), StoreError> {
    let now = Utc::now();
    state::Entity::insert(state::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        generation: Set(generation),
        status: Set(status.as_str().to_owned()),
        rules: Set(serde_json::to_string(rules).expect("rules serialize")),
        last_seq: Set(0),
        events_applied: Set(0),
        events_shredded: Set(0),
        events_unattributed: Set(0),
        failed_seq: Set(None),
        failure: Set(None),
        failed_at: Set(None),
        started_at: Set(now),
        updated_at: Set(now),
        aggregations: Set(None),
        reconcile_from: Set(None),
        reconcile_cursor: Set(None),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The active generation, created (empty, with the tenant's current rules) on first use.
pub async fn ensure_active<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<GenerationState, StoreError> {
    if let Some(active) = generations(conn, tenant)
        .await?
        .into_iter()
        .find(|g| g.status == Status::Active)
    {
        return Ok(active);
    }
    start_rebuild(conn, tenant).await?;
    generations(conn, tenant)
        .await?
        .into_iter()
        .find(|g| g.status == Status::Active)
        .ok_or(StoreError::Corrupt("projection state"))
}

/// Starts a rebuild under the tenant's current rules; an unfinished one is replaced.
pub async fn start_rebuild<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<i64, StoreError> {
    let all = state::Entity::find()
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .all(conn)
        .await?;
    // An unfinished rebuild is only marked: its rows go in the background (`purge`), and a
    // batch it is writing right now fails to advance a retired generation, so rolls back.
    for building in all.iter().filter(|g| g.status == Status::Building.as_str()) {
        state::Entity::update_many()
            .col_expr(state::Column::Status, Expr::value(Status::Retired.as_str()))
            .filter(state::Column::TenantId.eq(tenant.as_uuid()))
            .filter(state::Column::Generation.eq(building.generation))
            .exec(conn)
            .await?;
    }
    let next = all.iter().map(|g| g.generation).max().unwrap_or(0) + 1;
    let rules = crate::identity_rules(conn, tenant).await?;
    // Nothing projected yet: the new generation is the first, and serves at once.
    let status = if all.iter().any(|g| g.status == Status::Active.as_str()) {
        Status::Building
    } else {
        Status::Active
    };
    insert_generation(conn, tenant, next, status, &rules).await?;
    // A concurrent start may have taken the number, or made its own generation active
    // (at most one is: a unique index says so); then this one did not happen.
    let inserted = state::Entity::find_by_id((tenant.as_uuid(), next))
        .one(conn)
        .await?
        .is_some_and(|row| {
            row.status == status.as_str()
                && row.rules == serde_json::to_string(&rules).expect("rules serialize")
        });
    if !inserted {
        return Err(StoreError::Superseded);
    }
    Ok(next)
}

/// Records progress (and clears any failure), inside the projection's transaction.
pub async fn advance<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    last_seq: i64,
    applied: i64,
    shredded: i64,
    unattributed: i64,
) -> Result<(), StoreError> {
    let advanced = state::Entity::update_many()
        .col_expr(state::Column::LastSeq, Expr::value(last_seq))
        .col_expr(
            state::Column::EventsApplied,
            Expr::col(state::Column::EventsApplied).add(applied),
        )
        .col_expr(
            state::Column::EventsShredded,
            Expr::col(state::Column::EventsShredded).add(shredded),
        )
        .col_expr(
            state::Column::EventsUnattributed,
            Expr::col(state::Column::EventsUnattributed).add(unattributed),
        )
        .col_expr(state::Column::FailedSeq, Expr::value(Option::<i64>::None))
        .col_expr(state::Column::Failure, Expr::value(Option::<String>::None))
        .col_expr(
            state::Column::FailedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(state::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .filter(state::Column::Generation.eq(generation))
        .filter(state::Column::Status.ne(Status::Retired.as_str()))
        .exec(conn)
        .await?;
    if advanced.rows_affected != 1 {
        return Err(StoreError::Superseded);
    }
    Ok(())
}

/// Stops a generation at the event that could not be applied, saying why.
pub async fn record_failure<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    seq: i64,
    reason: &str,
) -> Result<(), StoreError> {
    state::Entity::update_many()
        .col_expr(state::Column::FailedSeq, Expr::value(Some(seq)))
        .col_expr(state::Column::Failure, Expr::value(Some(reason.to_owned())))
        .col_expr(state::Column::FailedAt, Expr::value(Some(Utc::now())))
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .filter(state::Column::Generation.eq(generation))
        .exec(conn)
        .await?;
    Ok(())
}

/// Lets a stopped projection retry at once.
pub async fn clear_failure<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<(), StoreError> {
    state::Entity::update_many()
        .col_expr(
            state::Column::FailedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Makes a caught-up building generation the active one, inside a transaction.
pub async fn switch_over<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    from: i64,
    to: i64,
) -> Result<(), StoreError> {
    for (generation, status) in [(from, Status::Retired), (to, Status::Active)] {
        state::Entity::update_many()
            .col_expr(state::Column::Status, Expr::value(status.as_str()))
            .col_expr(state::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(state::Column::TenantId.eq(tenant.as_uuid()))
            .filter(state::Column::Generation.eq(generation))
            .exec(conn)
            .await?;
    }
    // The replaced generation's memberships are what the log says: compared with the new
    // ones before its rows go (see `reconcile`).
    if crate::reconcile::has_members(conn, tenant, from).await? {
        state::Entity::update_many()
            .col_expr(state::Column::ReconcileFrom, Expr::value(from))
            .col_expr(
                state::Column::ReconcileCursor,
                Expr::value(Option::<uuid::Uuid>::None),
            )
            .filter(state::Column::TenantId.eq(tenant.as_uuid()))
            .filter(state::Column::Generation.eq(to))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// Retires everything projected for a tenant (its profiles hold personal data in clear)
/// and removes its identity rules: for a workspace being deleted. Nothing reads a retired
/// generation; its rows are deleted in the background ([`crate::purge_step`]), so this
/// costs the same whatever the tenant's size.
pub async fn forget_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<(), StoreError> {
    // The lease before the generations: a projector's transaction holds the lease and then
    // advances its generation, so taking them the other way round deadlocks with it.
    crate::entities::lease::Entity::delete_by_id(tenant.as_uuid())
        .exec(conn)
        .await?;
    state::Entity::update_many()
        .col_expr(state::Column::Status, Expr::value(Status::Retired.as_str()))
        .col_expr(state::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .exec(conn)
        .await?;
    crate::entities::rules::Entity::delete_by_id(tenant.as_uuid())
        .exec(conn)
        .await?;
    // Definitions go too (a condition may name a value in clear), so that nothing wakes
    // the projector for the tenant again.
    use crate::entities::{computed_trait, segment, segment_size};
    segment::Entity::delete_many()
        .filter(segment::Column::TenantId.eq(tenant.as_uuid()))
        .exec(conn)
        .await?;
    computed_trait::Entity::delete_many()
        .filter(computed_trait::Column::TenantId.eq(tenant.as_uuid()))
        .exec(conn)
        .await?;
    segment_size::Entity::delete_many()
        .filter(segment_size::Column::TenantId.eq(tenant.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// One generation of one live tenant, for metrics.
#[derive(Clone, Debug)]
pub struct GenerationMetric {
    pub tenant: TenantId,
    pub status: Status,
    pub lag: i64,
    pub events_applied: i64,
    pub events_shredded: i64,
    pub stopped: bool,
}

/// Every live tenant's generations with their lag, in one query.
pub async fn generation_metrics(
    db: &DatabaseConnection,
) -> Result<Vec<GenerationMetric>, StoreError> {
    let sql = "SELECT s.tenant_id, s.status, h.last_seq - s.last_seq, s.events_applied, s.events_shredded, \
               s.failure IS NOT NULL \
               FROM projection_state s \
               JOIN event_log_heads h ON h.tenant_id = s.tenant_id \
               JOIN tenants t ON t.id = s.tenant_id AND t.deleted_at IS NULL \
               WHERE s.status <> 'retired'";
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(backend, sql))
        .await?;
    rows.into_iter()
        .map(|row| {
            Ok(GenerationMetric {
                tenant: TenantId::from_uuid(row.try_get_by_index::<uuid::Uuid>(0)?),
                status: Status::parse(&row.try_get_by_index::<String>(1)?),
                lag: row.try_get_by_index(2)?,
                events_applied: row.try_get_by_index(3)?,
                events_shredded: row.try_get_by_index(4)?,
                stopped: row.try_get_by_index(5)?,
            })
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()
        .map_err(StoreError::from)
}

/// Tenants with work to do: events beyond a generation's checkpoint, or a rebuild under
/// way. Failed generations wait `retry_after` before they are tried again.
pub async fn lagging_tenants(
    db: &DatabaseConnection,
    retry_after: chrono::TimeDelta,
) -> Result<Vec<TenantId>, StoreError> {
    let sql = "SELECT DISTINCT h.tenant_id FROM event_log_heads h \
               JOIN tenants t ON t.id = h.tenant_id AND t.deleted_at IS NULL \
               LEFT JOIN projection_state s ON s.tenant_id = h.tenant_id AND s.status <> 'retired' \
               WHERE (s.tenant_id IS NULL AND h.last_seq > 0) \
                  OR (s.last_seq < h.last_seq AND (s.failed_at IS NULL OR s.failed_at < $1)) \
                  OR (s.status = 'building' AND (s.failed_at IS NULL OR s.failed_at < $1))";
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Postgres {
        sql.to_owned()
    } else {
        sql.replace("$1", "?1")
    };
    let rows = db
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [(Utc::now() - retry_after).into()],
        ))
        .await?;
    rows.into_iter()
        .map(|row| Ok(TenantId::from_uuid(row.try_get_by_index::<uuid::Uuid>(0)?)))
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()
        .map_err(StoreError::from)
}

/// Refreshes the query planner's statistics of the profile tables (PostgreSQL; SQLite's
/// planner goes by the indexes alone).
pub async fn refresh_statistics(db: &DatabaseConnection) -> Result<(), StoreError> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    db.execute_unprepared(
        "ANALYZE profiles, profile_identities, profile_traits, profile_counts, profile_groups, \
         profile_consent, profile_events",
    )
    .await?;
    Ok(())
}
