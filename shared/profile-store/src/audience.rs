//! The projection of computed traits and segments: each profile's aggregation states,
//! its memberships, segment sizes. Written in the projector's transactions.

use std::collections::{BTreeMap, BTreeSet};

use cdp_domain::{DataKeyId, ProfileId, SegmentId, TenantId};
use cdp_profiles::AggState;
use cdp_storage::{one_of, power_of_two_chunks};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{
    event, profile, profile_computed, segment, segment_count, segment_member, segment_size, state,
};
use crate::selection::Selection;

const CHUNK: usize = 256;

/// A profile's row of the projection: its aggregation states, the key its membership
/// events are sealed under, and when to evaluate it again without a new event.
#[derive(Clone, Debug, PartialEq)]
pub struct ComputedRow {
    pub profile: ProfileId,
    pub aggregates: BTreeMap<String, AggState>,
    pub key_id: Option<DataKeyId>,
    pub reevaluate_at: Option<DateTime<Utc>>,
}

/// A profile entering (or leaving) a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipChange {
    pub segment: SegmentId,
    pub profile: ProfileId,
    pub entered: bool,
    pub at: DateTime<Utc>,
}

/// What one transaction changes of the projection.
#[derive(Clone, Debug, Default)]
pub struct AudienceWrite {
    pub rows: Vec<ComputedRow>,
    /// Profiles merged away: their rows go.
    pub removed: Vec<ProfileId>,
    pub changes: Vec<MembershipChange>,
}

fn uuids(ids: &[ProfileId]) -> Vec<Uuid> {
    ids.iter().map(|i| i.as_uuid()).collect()
}

/// The stored rows of these profiles.
pub async fn computed_rows<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    which: Selection<'_>,
) -> Result<BTreeMap<ProfileId, ComputedRow>, StoreError> {
    let mut out = BTreeMap::new();
    let backend = conn.get_database_backend();
    for filter in which.filters(backend, profile_computed::Column::ProfileId) {
        let rows = profile_computed::Entity::find()
            .filter(profile_computed::Column::TenantId.eq(tenant.as_uuid()))
            .filter(profile_computed::Column::Generation.eq(generation))
            .filter(filter)
            .all(conn)
            .await?;
        for row in rows {
            let aggregates = serde_json::from_str(&row.aggregates)
                .map_err(|_| StoreError::Corrupt("aggregation states"))?;
            let id = ProfileId::from_uuid(row.profile_id);
            out.insert(
                id,
                ComputedRow {
                    profile: id,
                    aggregates,
                    key_id: row.key_id.map(DataKeyId::from_uuid),
                    reevaluate_at: row.reevaluate_at,
                },
            );
        }
    }
    Ok(out)
}

/// The segments each of these profiles is a member of, with since when.
pub async fn memberships<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    which: Selection<'_>,
) -> Result<BTreeMap<ProfileId, BTreeMap<SegmentId, DateTime<Utc>>>, StoreError> {
    let mut out: BTreeMap<ProfileId, BTreeMap<SegmentId, DateTime<Utc>>> = BTreeMap::new();
    let backend = conn.get_database_backend();
    for filter in which.filters(backend, segment_member::Column::ProfileId) {
        let rows = segment_member::Entity::find()
            .filter(segment_member::Column::TenantId.eq(tenant.as_uuid()))
            .filter(segment_member::Column::Generation.eq(generation))
            .filter(filter)
            .all(conn)
            .await?;
        for row in rows {
            out.entry(ProfileId::from_uuid(row.profile_id))
                .or_default()
                .insert(SegmentId::from_uuid(row.segment_id), row.since);
        }
    }
    Ok(out)
}

/// Writes a transaction's changes: rows, memberships, member counts, and (for the
/// generation serving reads) the size of the hour.
pub async fn write_audience<C: ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    generation: i64,
    write: &AudienceWrite,
    record_sizes: bool,
) -> Result<(), StoreError> {
    let t = tenant.as_uuid();
    let backend = txn.get_database_backend();
    for ids in uuids(&write.removed).chunks(CHUNK) {
        profile_computed::Entity::delete_many()
            .filter(profile_computed::Column::TenantId.eq(t))
            .filter(profile_computed::Column::Generation.eq(generation))
            .filter(one_of(
                backend,
                profile_computed::Column::ProfileId,
                ids.to_vec(),
            ))
            .exec(txn)
            .await?;
    }
    let rows: Vec<profile_computed::ActiveModel> = write
        .rows
        .iter()
        .map(|r| profile_computed::ActiveModel {
            tenant_id: Set(t),
            generation: Set(generation),
            profile_id: Set(r.profile.as_uuid()),
            aggregates: Set(serde_json::to_string(&r.aggregates).expect("states serialize")),
            key_id: Set(r.key_id.map(|k| k.as_uuid())),
            reevaluate_at: Set(r.reevaluate_at),
        })
        .collect();
    use profile_computed::Column as pc;
    for chunk in power_of_two_chunks(rows, CHUNK) {
        profile_computed::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([pc::TenantId, pc::Generation, pc::ProfileId])
                    .update_columns([pc::Aggregates, pc::KeyId, pc::ReevaluateAt])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }

    // A segment deleted while this batch was evaluated gets no rows back.
    let live: BTreeSet<Uuid> = if write.changes.is_empty() {
        BTreeSet::new()
    } else {
        segment::Entity::find()
            .select_only()
            .column(segment::Column::SegmentId)
            .filter(segment::Column::TenantId.eq(t))
            .into_tuple::<Uuid>()
            .all(txn)
            .await?
            .into_iter()
            .collect()
    };
    let mut deltas: BTreeMap<SegmentId, i64> = BTreeMap::new();
    let (entered, left): (Vec<&MembershipChange>, Vec<&MembershipChange>) = write
        .changes
        .iter()
        .filter(|c| live.contains(&c.segment.as_uuid()))
        .partition(|c| c.entered);
    for c in &left {
        segment_member::Entity::delete_many()
            .filter(segment_member::Column::TenantId.eq(t))
            .filter(segment_member::Column::Generation.eq(generation))
            .filter(segment_member::Column::SegmentId.eq(c.segment.as_uuid()))
            .filter(segment_member::Column::ProfileId.eq(c.profile.as_uuid()))
            .exec(txn)
            .await?;
        *deltas.entry(c.segment).or_default() -= 1;
    }
    let rows: Vec<segment_member::ActiveModel> = entered
        .iter()
        .map(|c| {
            *deltas.entry(c.segment).or_default() += 1;
            segment_member::ActiveModel {
                tenant_id: Set(t),
                generation: Set(generation),
                segment_id: Set(c.segment.as_uuid()),
                profile_id: Set(c.profile.as_uuid()),
                since: Set(c.at),
            }
        })
        .collect();
    for chunk in power_of_two_chunks(rows, CHUNK) {
        segment_member::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    let hour = Utc::now()
        .duration_trunc(TimeDelta::hours(1))
        .expect("an hour divides time");
    for (segment, delta) in deltas.into_iter().filter(|(_, d)| *d != 0) {
        use segment_count::Column as sc;
        segment_count::Entity::insert(segment_count::ActiveModel {
            tenant_id: Set(t),
            generation: Set(generation),
            segment_id: Set(segment.as_uuid()),
            members: Set(delta),
        })
        .on_conflict(
            OnConflict::columns([sc::TenantId, sc::Generation, sc::SegmentId])
                .value(
                    sc::Members,
                    Expr::col((segment_count::Entity, sc::Members)).add(delta),
                )
                .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
        if record_sizes {
            let members = segment_size(txn, tenant, generation, segment).await?;
            use segment_size::Column as ss;
            segment_size::Entity::insert(segment_size::ActiveModel {
                tenant_id: Set(t),
                segment_id: Set(segment.as_uuid()),
                hour: Set(hour),
                members: Set(members),
            })
            .on_conflict(
                OnConflict::columns([ss::TenantId, ss::SegmentId, ss::Hour])
                    .update_column(ss::Members)
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        }
    }
    Ok(())
}

/// Members of the segment now (in this generation).
pub async fn segment_size<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    segment: SegmentId,
) -> Result<i64, StoreError> {
    Ok(
        segment_count::Entity::find_by_id((tenant.as_uuid(), generation, segment.as_uuid()))
            .one(conn)
            .await?
            .map_or(0, |row| row.members),
    )
}

/// The segment's size at the end of every hour that changed it, since `since`.
pub async fn size_history<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    segment: SegmentId,
    since: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, i64)>, StoreError> {
    Ok(segment_size::Entity::find()
        .filter(segment_size::Column::TenantId.eq(tenant.as_uuid()))
        .filter(segment_size::Column::SegmentId.eq(segment.as_uuid()))
        .filter(segment_size::Column::Hour.gte(since))
        .order_by_asc(segment_size::Column::Hour)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.hour, row.members))
        .collect())
}

/// Members of a segment in profile id order, after `after`.
pub async fn members<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    segment: SegmentId,
    after: Option<ProfileId>,
    limit: u64,
) -> Result<Vec<(ProfileId, DateTime<Utc>)>, StoreError> {
    let mut query = segment_member::Entity::find()
        .filter(segment_member::Column::TenantId.eq(tenant.as_uuid()))
        .filter(segment_member::Column::Generation.eq(generation))
        .filter(segment_member::Column::SegmentId.eq(segment.as_uuid()));
    if let Some(after) = after {
        query = query.filter(segment_member::Column::ProfileId.gt(after.as_uuid()));
    }
    Ok(query
        .order_by_asc(segment_member::Column::ProfileId)
        .limit(limit)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (ProfileId::from_uuid(row.profile_id), row.since))
        .collect())
}

/// Profiles due to be evaluated again by `now`, a page at a time.
pub async fn due_profiles<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<ProfileId>, StoreError> {
    let ids: Vec<Uuid> = profile_computed::Entity::find()
        .select_only()
        .column(profile_computed::Column::ProfileId)
        .filter(profile_computed::Column::TenantId.eq(tenant.as_uuid()))
        .filter(profile_computed::Column::Generation.eq(generation))
        .filter(profile_computed::Column::ReevaluateAt.lte(now))
        .order_by_asc(profile_computed::Column::ReevaluateAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(ids.into_iter().map(ProfileId::from_uuid).collect())
}

/// Tenants with a profile due to be evaluated again, or a segment to backfill.
pub async fn tenants_with_audience_work<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<BTreeSet<TenantId>, StoreError> {
    let mut tenants: Vec<Uuid> = profile_computed::Entity::find()
        .select_only()
        .column(profile_computed::Column::TenantId)
        .distinct()
        .filter(profile_computed::Column::ReevaluateAt.lte(now))
        .into_tuple()
        .all(conn)
        .await?;
    let backfilling: Vec<Uuid> = segment::Entity::find()
        .select_only()
        .column(segment::Column::TenantId)
        .distinct()
        .filter(
            Expr::col(segment::Column::BackfilledVersion).lt(Expr::col(segment::Column::Version)),
        )
        .into_tuple()
        .all(conn)
        .await?;
    tenants.extend(backfilling);
    let reconciling: Vec<Uuid> = state::Entity::find()
        .select_only()
        .column(state::Column::TenantId)
        .filter(state::Column::Status.eq(crate::Status::Active.as_str()))
        .filter(state::Column::ReconcileFrom.is_not_null())
        .into_tuple()
        .all(conn)
        .await?;
    tenants.extend(reconciling);
    Ok(tenants.into_iter().map(TenantId::from_uuid).collect())
}

/// Live profiles (not merged away) in id order after `after`: a backfill's pages.
pub async fn profile_page<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    after: Option<ProfileId>,
    limit: u64,
) -> Result<Vec<ProfileId>, StoreError> {
    let mut query = profile::Entity::find()
        .select_only()
        .column(profile::Column::ProfileId)
        .filter(profile::Column::TenantId.eq(tenant.as_uuid()))
        .filter(profile::Column::Generation.eq(generation))
        .filter(profile::Column::MergedInto.is_null());
    if let Some(after) = after {
        query = query.filter(profile::Column::ProfileId.gt(after.as_uuid()));
    }
    let ids: Vec<Uuid> = query
        .order_by_asc(profile::Column::ProfileId)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(ids.into_iter().map(ProfileId::from_uuid).collect())
}

/// How many live profiles the generation has.
pub async fn live_profiles<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
) -> Result<i64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(profile::Entity::find()
        .filter(profile::Column::TenantId.eq(tenant.as_uuid()))
        .filter(profile::Column::Generation.eq(generation))
        .filter(profile::Column::MergedInto.is_null())
        .count(conn)
        .await? as i64)
}

/// The profile each event in `(after, up_to]` went to.
pub async fn event_owners<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    after: i64,
    up_to: i64,
) -> Result<BTreeMap<i64, ProfileId>, StoreError> {
    let rows: Vec<(i64, Uuid)> = event::Entity::find()
        .select_only()
        .column(event::Column::Seq)
        .column(event::Column::ProfileId)
        .filter(event::Column::TenantId.eq(tenant.as_uuid()))
        .filter(event::Column::Generation.eq(generation))
        .filter(event::Column::Seq.gt(after))
        .filter(event::Column::Seq.lte(up_to))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, p)| (seq, ProfileId::from_uuid(p)))
        .collect())
}

/// The segments a profile is a member of, with since when.
pub async fn segments_of<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    profile: ProfileId,
) -> Result<Vec<(SegmentId, DateTime<Utc>)>, StoreError> {
    Ok(
        memberships(conn, tenant, generation, Selection::Ids(&[profile]))
            .await?
            .remove(&profile)
            .unwrap_or_default()
            .into_iter()
            .collect(),
    )
}

/// The data key of each profile's latest event: what records about the profile are
/// sealed under when it has no row of its own yet.
pub async fn latest_keys<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    ids: &[ProfileId],
) -> Result<BTreeMap<ProfileId, DataKeyId>, StoreError> {
    use sea_orm::sea_query::{Alias, Query};
    let backend = conn.get_database_backend();
    let mut latest: BTreeMap<i64, ProfileId> = BTreeMap::new();
    for chunk in uuids(ids).chunks(512) {
        let rows: Vec<(Uuid, Option<i64>)> = event::Entity::find()
            .select_only()
            .column(event::Column::ProfileId)
            .column_as(event::Column::Seq.max(), "seq")
            .filter(event::Column::TenantId.eq(tenant.as_uuid()))
            .filter(event::Column::Generation.eq(generation))
            .filter(one_of(backend, event::Column::ProfileId, chunk.to_vec()))
            .group_by(event::Column::ProfileId)
            .into_tuple()
            .all(conn)
            .await?;
        latest.extend(
            rows.into_iter()
                .filter_map(|(p, seq)| Some((seq?, ProfileId::from_uuid(p)))),
        );
    }
    let mut keys = BTreeMap::new();
    let seqs: Vec<i64> = latest.keys().copied().collect();
    for chunk in seqs.chunks(512) {
        let query = Query::select()
            .columns([Alias::new("seq"), Alias::new("key_id")])
            .from(Alias::new("event_log"))
            .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_uuid()))
            .and_where(Expr::col(Alias::new("seq")).is_in(chunk.iter().copied()))
            .to_owned();
        for row in conn.query_all(&query).await? {
            let seq: i64 = row.try_get("", "seq")?;
            let key: Uuid = row.try_get("", "key_id")?;
            if let Some(profile) = latest.get(&seq) {
                keys.insert(*profile, DataKeyId::from_uuid(key));
            }
        }
    }
    Ok(keys)
}
