//! Erasing one person from the projections: the profile that holds an identity, every
//! identity linked to it, in every generation (a rebuild under way holds its own copy).
//!
//! Profiles, identities, traits, counts, groups and consent go at once, in the caller's
//! transaction (they are bounded per person). The timeline rows (log positions and event
//! names, no values) grow with the person's events, so they are queued and removed in
//! the background ([`purge_erasure_step`]): the erasure's cost does not grow with them.

use std::collections::{BTreeMap, BTreeSet};

use cdp_domain::TenantId;
use cdp_storage::one_of;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{
    consent, count, erasure_purge, group, identity, profile, profile_computed, profile_trait,
    segment_count, segment_member,
};
use crate::purge::{PURGE_CHUNK, delete_chunk};
use crate::state::Status;

/// Rounds of "identities → profiles → their identities" before giving up on finding more:
/// one profile per generation holds an identity, so two rounds find everything unless
/// generations disagree about who is linked to whom.
const MAX_ROUNDS: usize = 8;

/// What [`erase_profiles`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErasedProfiles {
    /// Every identity the erased profiles held, as (type, value), the subject included:
    /// the data keys to destroy are found by these.
    pub identities: Vec<(String, String)>,
    /// Profiles removed, counted once per generation.
    pub profiles: u64,
}

/// Removes the profiles holding `subject` (a type and a normalized value) or any identity
/// linked to it, in every live generation of the tenant, and queues their timelines for
/// [`purge_erasure_step`] under `request`.
pub async fn erase_profiles<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    request: Uuid,
    subject: (String, String),
) -> Result<ErasedProfiles, StoreError> {
    let t = tenant.as_uuid();
    let backend = conn.get_database_backend();
    let generations: Vec<i64> = crate::state::generations(conn, tenant)
        .await?
        .into_iter()
        .filter(|g| g.status != Status::Retired)
        .map(|g| g.generation)
        .collect();
    let mut identities: BTreeSet<(String, String)> = BTreeSet::from([subject]);
    let mut victims: BTreeMap<i64, BTreeSet<Uuid>> = BTreeMap::new();
    for _ in 0..MAX_ROUNDS {
        let known = identities.len();
        let values: Vec<String> = identities.iter().map(|(_, v)| v.clone()).collect();
        for &generation in &generations {
            let holders: Vec<Uuid> = identity::Entity::find()
                .filter(identity::Column::TenantId.eq(t))
                .filter(identity::Column::Generation.eq(generation))
                .filter(one_of(backend, identity::Column::Value, values.clone()))
                .all(conn)
                .await?
                .into_iter()
                .filter(|row| identities.contains(&(row.kind.clone(), row.value.clone())))
                .map(|row| row.profile_id)
                .collect();
            let found = victims.entry(generation).or_default();
            let new: Vec<Uuid> = holders.into_iter().filter(|p| found.insert(*p)).collect();
            if new.is_empty() {
                continue;
            }
            let linked = identity::Entity::find()
                .filter(identity::Column::TenantId.eq(t))
                .filter(identity::Column::Generation.eq(generation))
                .filter(one_of(backend, identity::Column::ProfileId, new))
                .all(conn)
                .await?;
            identities.extend(linked.into_iter().map(|row| (row.kind, row.value)));
        }
        if identities.len() == known {
            break;
        }
    }

    let mut erased = ErasedProfiles {
        identities: identities.into_iter().collect(),
        profiles: 0,
    };
    for (generation, live) in victims {
        if live.is_empty() {
            continue;
        }
        let live: Vec<Uuid> = live.into_iter().collect();
        // Profiles merged into an erased one are only pointers to it now; they go too.
        let merged: Vec<Uuid> = profile::Entity::find()
            .select_only()
            .column(profile::Column::ProfileId)
            .filter(profile::Column::TenantId.eq(t))
            .filter(profile::Column::Generation.eq(generation))
            .filter(one_of(backend, profile::Column::MergedInto, live.clone()))
            .into_tuple()
            .all(conn)
            .await?;
        let all: Vec<Uuid> = live.iter().chain(&merged).copied().collect();
        macro_rules! delete_rows {
            ($entity:ident) => {
                $entity::Entity::delete_many()
                    .filter($entity::Column::TenantId.eq(t))
                    .filter($entity::Column::Generation.eq(generation))
                    .filter(one_of(backend, $entity::Column::ProfileId, all.clone()))
                    .exec(conn)
                    .await?;
            };
        }
        // Sizes lose the erased (no exit is recorded: the person is gone, and what
        // would record it is sealed under keys being destroyed).
        let memberships: Vec<Uuid> = segment_member::Entity::find()
            .select_only()
            .column(segment_member::Column::SegmentId)
            .filter(segment_member::Column::TenantId.eq(t))
            .filter(segment_member::Column::Generation.eq(generation))
            .filter(one_of(
                backend,
                segment_member::Column::ProfileId,
                all.clone(),
            ))
            .into_tuple()
            .all(conn)
            .await?;
        let mut left: BTreeMap<Uuid, i64> = BTreeMap::new();
        for segment in memberships {
            *left.entry(segment).or_default() += 1;
        }
        for (segment, n) in left {
            segment_count::Entity::update_many()
                .col_expr(
                    segment_count::Column::Members,
                    Expr::col(segment_count::Column::Members).sub(n),
                )
                .filter(segment_count::Column::TenantId.eq(t))
                .filter(segment_count::Column::Generation.eq(generation))
                .filter(segment_count::Column::SegmentId.eq(segment))
                .exec(conn)
                .await?;
        }
        delete_rows!(segment_member);
        delete_rows!(profile_computed);
        delete_rows!(identity);
        delete_rows!(profile_trait);
        delete_rows!(count);
        delete_rows!(group);
        delete_rows!(consent);
        delete_rows!(profile);
        erased.profiles += live.len() as u64;
        let queued = all.iter().map(|profile_id| erasure_purge::ActiveModel {
            tenant_id: sea_orm::ActiveValue::Set(t),
            request_id: sea_orm::ActiveValue::Set(request),
            generation: sea_orm::ActiveValue::Set(generation),
            profile_id: sea_orm::ActiveValue::Set(*profile_id),
        });
        erasure_purge::Entity::insert_many(queued)
            .on_conflict_do_nothing()
            .exec_without_returning(conn)
            .await?;
    }
    Ok(erased)
}

/// What one [`purge_erasure_step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErasurePurgeStep {
    pub rows: u64,
}

/// Whether timeline rows of an erasure request's profiles are still to be removed.
pub async fn erasure_purge_pending<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    request: Uuid,
) -> Result<bool, StoreError> {
    Ok(erasure_purge::Entity::find()
        .filter(erasure_purge::Column::TenantId.eq(tenant.as_uuid()))
        .filter(erasure_purge::Column::RequestId.eq(request))
        .one(conn)
        .await?
        .is_some())
}

/// Deletes up to [`PURGE_CHUNK`] timeline rows of one erased profile. `None` when no
/// erased profile has any left.
pub async fn purge_erasure_step(
    db: &DatabaseConnection,
) -> Result<Option<ErasurePurgeStep>, StoreError> {
    let Some(row) = erasure_purge::Entity::find().limit(1).one(db).await? else {
        return Ok(None);
    };
    let rows = delete_chunk(
        db,
        "profile_events",
        "tenant_id = ? AND generation = ? AND profile_id = ?",
        vec![
            row.tenant_id.into(),
            row.generation.into(),
            row.profile_id.into(),
        ],
    )
    .await?;
    if rows < PURGE_CHUNK {
        let _turn = cdp_storage::write_turn(db).await;
        erasure_purge::Entity::delete_by_id((
            row.tenant_id,
            row.request_id,
            row.generation,
            row.profile_id,
        ))
        .exec(db)
        .await?;
    }
    Ok(Some(ErasurePurgeStep { rows }))
}
