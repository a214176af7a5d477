//! Reading profiles: by id (following merges), by identity, their timelines, and search.

use std::collections::BTreeMap;

use cdp_domain::{ProfileId, TenantId};
use cdp_profiles::{Consent, EventCount, GroupLink, IdentitySeen, Profile, TraitValue};
use cdp_storage::one_of;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{
    consent, count, event, group, identity, profile, profile_computed, profile_trait,
};
use crate::selection::Selection;

/// Values per query when loading by many ids (a power of two: lists are padded to one).
const CHUNK: usize = 512;

/// The profiles owning any identity with one of these values (of any type): what a batch
/// of events may touch.
pub async fn load_for<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    values: Vec<String>,
) -> Result<Vec<Profile>, StoreError> {
    let mut ids = Vec::new();
    for chunk in values.chunks(CHUNK) {
        let rows: Vec<Uuid> = identity::Entity::find()
            .select_only()
            .column(identity::Column::ProfileId)
            .filter(identity::Column::TenantId.eq(tenant.as_uuid()))
            .filter(identity::Column::Generation.eq(generation))
            .filter(one_of(
                conn.get_database_backend(),
                identity::Column::Value,
                chunk.to_vec(),
            ))
            .into_tuple()
            .all(conn)
            .await?;
        ids.extend(rows);
    }
    ids.sort();
    ids.dedup();
    let ids: Vec<ProfileId> = ids.into_iter().map(ProfileId::from_uuid).collect();
    profile_parts(conn, tenant, generation, Selection::Ids(&ids), Parts::ALL).await
}

/// The rows of these profiles in one table (none when `$wanted` is false).
macro_rules! rows_of {
    ($conn:expr, $entity:ident, $tenant:expr, $generation:expr, $which:expr) => {
        rows_of!($conn, $entity, $tenant, $generation, $which, true)
    };
    ($conn:expr, $entity:ident, $tenant:expr, $generation:expr, $which:expr, $wanted:expr) => {{
        let mut rows = Vec::new();
        let filters = $which.filters($conn.get_database_backend(), $entity::Column::ProfileId);
        for filter in filters.into_iter().filter(|_| $wanted) {
            rows.extend(
                $entity::Entity::find()
                    .filter($entity::Column::TenantId.eq($tenant))
                    .filter($entity::Column::Generation.eq($generation))
                    .filter(filter)
                    .all($conn)
                    .await?,
            );
        }
        rows
    }};
}

/// Which parts of a profile to load beside its head (id, first and last seen): a pass
/// over many profiles that reads only traits need not load the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    pub identities: bool,
    pub traits: bool,
    pub counts: bool,
    pub groups: bool,
    pub consent: bool,
    pub aggregates: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        identities: true,
        traits: true,
        counts: true,
        groups: true,
        consent: true,
        aggregates: true,
    };
}

/// Live profiles by id, whole, in the order asked for (ids merged away are left out).
pub async fn profiles_by_id<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    ids: &[ProfileId],
) -> Result<Vec<Profile>, StoreError> {
    let mut found: BTreeMap<ProfileId, Profile> =
        profile_parts(conn, tenant, generation, Selection::Ids(ids), Parts::ALL)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

/// The live profiles selected, with only these parts, in id order.
pub async fn profile_parts<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    which: Selection<'_>,
    parts: Parts,
) -> Result<Vec<Profile>, StoreError> {
    if matches!(which, Selection::Ids([])) {
        return Ok(Vec::new());
    }
    let t = tenant.as_uuid();
    let heads = rows_of!(conn, profile, t, generation, which);
    let mut profiles: BTreeMap<Uuid, Profile> = heads
        .into_iter()
        .filter(|row| row.merged_into.is_none())
        .map(|row| {
            let mut p = Profile::new(
                ProfileId::from_uuid(row.profile_id),
                row.created_seq,
                row.first_seen,
            );
            p.last_seen = row.last_seen;
            (row.profile_id, p)
        })
        .collect();
    for row in rows_of!(conn, identity, t, generation, which, parts.identities) {
        if let Some(p) = profiles.get_mut(&row.profile_id) {
            p.identities.insert(
                (row.kind, row.value),
                IdentitySeen {
                    first_seen: row.first_seen,
                    last_seen: row.last_seen,
                },
            );
        }
    }
    for row in rows_of!(conn, profile_trait, t, generation, which, parts.traits) {
        if let Some(p) = profiles.get_mut(&row.profile_id) {
            let value = serde_json::from_str(&row.value)
                .map_err(|_| StoreError::Corrupt("a trait value"))?;
            p.traits.insert(
                row.name,
                TraitValue {
                    value,
                    source: row.source,
                    at: row.observed_at,
                    seq: row.seq,
                },
            );
        }
    }
    for row in rows_of!(conn, count, t, generation, which, parts.counts) {
        if let Some(p) = profiles.get_mut(&row.profile_id) {
            p.counts.insert(
                row.name,
                EventCount {
                    count: row.count,
                    first_at: row.first_at,
                    last_at: row.last_at,
                },
            );
        }
    }
    for row in rows_of!(conn, group, t, generation, which, parts.groups) {
        if let Some(p) = profiles.get_mut(&row.profile_id) {
            let traits = match serde_json::from_str(&row.traits) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return Err(StoreError::Corrupt("group traits")),
            };
            p.groups.insert(
                row.group_id,
                GroupLink {
                    traits,
                    at: row.observed_at,
                    seq: row.seq,
                },
            );
        }
    }
    for row in rows_of!(
        conn,
        profile_computed,
        t,
        generation,
        which,
        parts.aggregates
    ) {
        if let Some(p) = profiles.get_mut(&row.profile_id) {
            p.aggregates = serde_json::from_str(&row.aggregates)
                .map_err(|_| StoreError::Corrupt("aggregation states"))?;
        }
    }
    for row in rows_of!(conn, consent, t, generation, which, parts.consent) {
        if let Some(p) = profiles.get_mut(&row.profile_id) {
            p.consent.insert(
                row.purpose,
                Consent {
                    granted: row.granted,
                    at: row.observed_at,
                    expires_at: row.expires_at,
                    seq: row.seq,
                },
            );
        }
    }
    Ok(profiles.into_values().collect())
}

/// A profile as the API shows it: what it is now, and the id it was asked for by.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileView {
    #[serde(flatten)]
    pub profile: Profile,
    /// When the profile was asked for by an id it has since been merged away from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<ProfileId>,
}

/// A profile by id; an id merged away leads to the profile it lives in now.
pub async fn find_profile<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    id: ProfileId,
) -> Result<Option<ProfileView>, StoreError> {
    let Some(head) = profile::Entity::find_by_id((tenant.as_uuid(), generation, id.as_uuid()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let live = head.merged_into.unwrap_or(head.profile_id);
    let live = [ProfileId::from_uuid(live)];
    let mut found =
        profile_parts(conn, tenant, generation, Selection::Ids(&live), Parts::ALL).await?;
    Ok(found.pop().map(|profile| ProfileView {
        merged_from: head.merged_into.map(|_| id),
        profile,
    }))
}

/// The profile an identity belongs to.
pub async fn find_by_identity<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    kind: &str,
    value: &str,
) -> Result<Option<ProfileView>, StoreError> {
    let Some(row) = identity::Entity::find_by_id((
        tenant.as_uuid(),
        generation,
        value.to_owned(),
        kind.to_owned(),
    ))
    .one(conn)
    .await?
    else {
        return Ok(None);
    };
    find_profile(
        conn,
        tenant,
        generation,
        ProfileId::from_uuid(row.profile_id),
    )
    .await
}

/// A profile's identities (of the live profile), as (type, value, first seen, last seen).
pub async fn profile_identities<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    profile: ProfileId,
) -> Result<Vec<(String, String, DateTime<Utc>, DateTime<Utc>)>, StoreError> {
    Ok(identity::Entity::find()
        .filter(identity::Column::TenantId.eq(tenant.as_uuid()))
        .filter(identity::Column::Generation.eq(generation))
        .filter(identity::Column::ProfileId.eq(profile.as_uuid()))
        .order_by_asc(identity::Column::Kind)
        .order_by_asc(identity::Column::Value)
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (r.kind, r.value, r.first_seen, r.last_seen))
        .collect())
}

#[derive(Clone, Debug, Default)]
pub struct TimelineFilter {
    /// Events before this log position (the cursor of the next page).
    pub before: Option<i64>,
    pub limit: u64,
    pub event_type: Option<String>,
    pub event_name: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineRow {
    pub seq: i64,
    pub event_type: String,
    pub event_name: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// A profile's events, newest first (by log position).
pub async fn timeline<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    profile: ProfileId,
    filter: &TimelineFilter,
) -> Result<Vec<TimelineRow>, StoreError> {
    let mut query = event::Entity::find()
        .filter(event::Column::TenantId.eq(tenant.as_uuid()))
        .filter(event::Column::Generation.eq(generation))
        .filter(event::Column::ProfileId.eq(profile.as_uuid()))
        .order_by_desc(event::Column::Seq)
        .limit(filter.limit.clamp(1, 1000));
    if let Some(before) = filter.before {
        query = query.filter(event::Column::Seq.lt(before));
    }
    if let Some(t) = &filter.event_type {
        query = query.filter(event::Column::EventType.eq(t.clone()));
    }
    if let Some(n) = &filter.event_name {
        query = query.filter(event::Column::EventName.eq(n.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(event::Column::OccurredAt.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(event::Column::OccurredAt.lt(until));
    }
    Ok(query
        .all(conn)
        .await?
        .into_iter()
        .map(|r| TimelineRow {
            seq: r.seq,
            event_type: r.event_type,
            event_name: r.event_name,
            occurred_at: r.occurred_at,
        })
        .collect())
}

/// How a trait is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchOp {
    /// The trait holds exactly this JSON value.
    Equals,
    /// The trait is missing or holds another value.
    NotEquals,
    /// The trait is set (to anything, `null` included).
    Exists,
    /// The trait is a string containing this text, ignoring case.
    Contains,
    /// The trait is a string starting with this text, ignoring case.
    StartsWith,
}

/// One condition on a trait.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SearchCondition {
    #[serde(rename = "trait")]
    pub name: String,
    pub op: SearchOp,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

impl SearchCondition {
    /// Why the condition cannot be run, if it cannot.
    pub fn problem(&self) -> Option<&'static str> {
        match (self.op, &self.value) {
            (_, _) if self.name.is_empty() || self.name.len() > 256 => {
                Some("a trait name is 1 to 256 bytes")
            }
            (SearchOp::Exists, None) => None,
            (SearchOp::Exists, Some(_)) => Some("exists takes no value"),
            (SearchOp::Equals | SearchOp::NotEquals, Some(_)) => None,
            (SearchOp::Contains | SearchOp::StartsWith, Some(serde_json::Value::String(text)))
                if !text.is_empty() =>
            {
                None
            }
            (SearchOp::Contains | SearchOp::StartsWith, _) => {
                Some("contains and starts_with take a non-empty string")
            }
            (_, None) => Some("equals and not_equals take a value"),
        }
    }
}

/// A LIKE pattern matching the JSON text of strings holding `text` (`prefix`: at the start).
fn like_pattern(text: &str, prefix: bool) -> String {
    let encoded = serde_json::to_string(&text.to_lowercase()).expect("a string serializes");
    let inner = &encoded[1..encoded.len() - 1];
    let escaped: String = inner
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '!' => vec!['!', c],
            c => vec![c],
        })
        .collect();
    if prefix {
        format!("\"{escaped}%")
    } else {
        format!("%{escaped}%")
    }
}

/// Live profiles matching every condition, by id order, after `after` (the cursor).
pub async fn search<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    conditions: &[SearchCondition],
    after: Option<ProfileId>,
    limit: u64,
) -> Result<Vec<ProfileId>, StoreError> {
    let t = tenant.as_uuid();
    let mut query = profile::Entity::find()
        .select_only()
        .column(profile::Column::ProfileId)
        .filter(profile::Column::TenantId.eq(t))
        .filter(profile::Column::Generation.eq(generation))
        .filter(profile::Column::MergedInto.is_null())
        .order_by_asc(profile::Column::ProfileId)
        .limit(limit.clamp(1, 1000));
    if let Some(after) = after {
        query = query.filter(profile::Column::ProfileId.gt(after.as_uuid()));
    }
    for condition in conditions {
        if let Some(problem) = condition.problem() {
            return Err(StoreError::Invalid(problem));
        }
        // Values are kept as JSON text, so equality compares JSON text.
        let json = condition
            .value
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_default();
        let text = condition
            .value
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let lowered = Func::lower(Expr::col((
            profile_trait::Entity,
            profile_trait::Column::Value,
        )));
        let matching = profile_trait::Entity::find()
            .select_only()
            .column(profile_trait::Column::ProfileId)
            .filter(profile_trait::Column::TenantId.eq(t))
            .filter(profile_trait::Column::Generation.eq(generation))
            .filter(profile_trait::Column::Name.eq(condition.name.clone()));
        let matching = match condition.op {
            SearchOp::Exists => matching,
            SearchOp::Equals | SearchOp::NotEquals => {
                matching.filter(profile_trait::Column::Value.eq(json))
            }
            SearchOp::Contains => matching.filter(
                Expr::expr(lowered).like(LikeExpr::new(like_pattern(text, false)).escape('!')),
            ),
            SearchOp::StartsWith => matching.filter(
                Expr::expr(lowered).like(LikeExpr::new(like_pattern(text, true)).escape('!')),
            ),
        };
        let subquery = sea_orm::QueryTrait::into_query(matching);
        let column = Expr::col((profile::Entity, profile::Column::ProfileId));
        query = if condition.op == SearchOp::NotEquals {
            query.filter(column.not_in_subquery(subquery))
        } else {
            query.filter(column.in_subquery(subquery))
        };
    }
    let ids: Vec<Uuid> = query.into_tuple().all(conn).await?;
    Ok(ids.into_iter().map(ProfileId::from_uuid).collect())
}

/// How many profiles stand where on one purpose of consent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConsentTally {
    pub purpose: String,
    /// Granted and not expired.
    pub granted: u64,
    /// Refused or withdrawn.
    pub refused: u64,
    /// Granted once, but the grant has run out.
    pub expired: u64,
}

/// Every purpose any profile of the generation has a decision on, with the count of each
/// kind of decision, by purpose.
pub async fn consent_tallies<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    now: DateTime<Utc>,
) -> Result<Vec<ConsentTally>, StoreError> {
    let current = consent::Column::ExpiresAt
        .is_null()
        .or(consent::Column::ExpiresAt.gt(now));
    let mut tallies: BTreeMap<String, ConsentTally> = BTreeMap::new();
    for (live, filter) in [(true, current.clone()), (false, current.not())] {
        let rows: Vec<(String, bool, i64)> = consent::Entity::find()
            .select_only()
            .column(consent::Column::Purpose)
            .column(consent::Column::Granted)
            .column_as(Expr::col(consent::Column::ProfileId).count(), "profiles")
            .filter(consent::Column::TenantId.eq(tenant.as_uuid()))
            .filter(consent::Column::Generation.eq(generation))
            .filter(filter)
            .group_by(consent::Column::Purpose)
            .group_by(consent::Column::Granted)
            .into_tuple()
            .all(conn)
            .await?;
        for (purpose, granted, profiles) in rows {
            let tally = tallies
                .entry(purpose.clone())
                .or_insert_with(|| ConsentTally {
                    purpose,
                    ..ConsentTally::default()
                });
            let profiles = u64::try_from(profiles).unwrap_or(0);
            match (granted, live) {
                (false, _) => tally.refused += profiles,
                (true, true) => tally.granted += profiles,
                (true, false) => tally.expired += profiles,
            }
        }
    }
    Ok(tallies.into_values().collect())
}
