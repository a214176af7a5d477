//! Removing the rows of retired generations, a chunk at a time.
//!
//! A generation is retired when a rebuild replaces it or its workspace is deleted; from
//! then on nothing reads it. Its rows (profiles hold personal data in clear) are deleted
//! in the background in small transactions, so that deleting a workspace of a million
//! profiles answers at once and never holds the database's write lock for long: the
//! request's cost does not grow with the workspace, and ingestion goes on beside the
//! purge.

use cdp_domain::TenantId;
use sea_orm::{ColumnTrait, Condition, QueryOrder, QuerySelect};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, Statement,
};
use serde::Serialize;
use uuid::Uuid;

use crate::StoreError;
use crate::entities::state;
use crate::state::Status;

/// The tables holding a generation's rows, children first and profiles last.
const TABLES: [&str; 10] = [
    "segment_members",
    "segment_counts",
    "profile_computed",
    "profile_events",
    "profile_identities",
    "profile_traits",
    "profile_counts",
    "profile_groups",
    "profile_consent",
    "profiles",
];

/// Rows deleted per table in one transaction.
pub const PURGE_CHUNK: u64 = 5_000;

/// What one [`purge_step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeStep {
    pub rows: u64,
    /// A retired generation is gone completely.
    pub finished_generation: bool,
}

/// Deletes up to [`PURGE_CHUNK`] rows of each table of one retired generation, and the
/// generation itself once it has no rows left. `None` when no retired generation is left.
pub async fn purge_step(db: &DatabaseConnection) -> Result<Option<PurgeStep>, StoreError> {
    // A generation whose memberships are still being compared with its replacement's
    // stays until that is done.
    let kept: Vec<(Uuid, Option<i64>)> = state::Entity::find()
        .select_only()
        .column(state::Column::TenantId)
        .column(state::Column::ReconcileFrom)
        .filter(state::Column::Status.eq(Status::Active.as_str()))
        .filter(state::Column::ReconcileFrom.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut retired = state::Entity::find()
        .filter(state::Column::Status.eq(Status::Retired.as_str()))
        .order_by_asc(state::Column::UpdatedAt);
    for (tenant, generation) in &kept {
        if let Some(generation) = generation {
            retired = retired.filter(
                Condition::any()
                    .add(state::Column::TenantId.ne(*tenant))
                    .add(state::Column::Generation.ne(*generation)),
            );
        }
    }
    let Some(row) = retired.limit(1).one(db).await? else {
        return Ok(None);
    };
    let (tenant, generation) = (row.tenant_id, row.generation);
    let mut step = PurgeStep::default();
    for table in TABLES {
        step.rows += delete_chunk(
            db,
            table,
            "tenant_id = ? AND generation = ?",
            vec![tenant.into(), generation.into()],
        )
        .await?;
    }
    if step.rows == 0 {
        let _turn = cdp_storage::write_turn(db).await;
        state::Entity::delete_many()
            .filter(state::Column::TenantId.eq(tenant))
            .filter(state::Column::Generation.eq(generation))
            .filter(state::Column::Status.eq(Status::Retired.as_str()))
            .exec(db)
            .await?;
        step.finished_generation = true;
    }
    Ok(Some(step))
}

/// Deletes up to [`PURGE_CHUNK`] rows of `table` matching `filter` (with `?` for each of
/// `values`), as one short statement in its write turn, so that ingest commits come in
/// between. Returns how many it deleted.
pub(crate) async fn delete_chunk(
    db: &DatabaseConnection,
    table: &str,
    filter: &str,
    mut values: Vec<sea_orm::Value>,
) -> Result<u64, StoreError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            let mut numbered = String::new();
            for (i, part) in filter.split('?').enumerate() {
                if i > 0 {
                    numbered.push_str(&format!("${i}"));
                }
                numbered.push_str(part);
            }
            let limit = values.len() + 1;
            format!(
                "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} \
                 WHERE {numbered} LIMIT ${limit}))"
            )
        }
        _ => format!(
            "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} \
             WHERE {filter} LIMIT ?)"
        ),
    };
    values.push((PURGE_CHUNK as i64).into());
    let _turn = cdp_storage::write_turn(db).await;
    Ok(db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .rows_affected())
}

/// How far the purge of a tenant's retired generations has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PurgeStatus {
    /// `in_progress` while retired rows remain, `done` when none do.
    pub status: &'static str,
    /// Retired generations not yet removed.
    pub generations_left: u64,
    /// Their profiles still stored.
    pub profiles_left: u64,
}

pub async fn purge_status<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<PurgeStatus, StoreError> {
    let backend = conn.get_database_backend();
    let sql = "SELECT COUNT(DISTINCT s.generation), COUNT(p.profile_id) \
               FROM projection_state s \
               LEFT JOIN profiles p ON p.tenant_id = s.tenant_id AND p.generation = s.generation \
               WHERE s.tenant_id = $1 AND s.status = 'retired'";
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => sql.replace("$1", "?"),
    };
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [tenant.as_uuid().into()],
        ))
        .await?
        .ok_or(StoreError::Corrupt("purge status"))?;
    let generations_left = row.try_get_by_index::<i64>(0)? as u64;
    let profiles_left = row.try_get_by_index::<i64>(1)? as u64;
    Ok(PurgeStatus {
        status: if generations_left == 0 {
            "done"
        } else {
            "in_progress"
        },
        generations_left,
        profiles_left,
    })
}
