//! Unified profiles: lookup by any identity or by id, the decrypted timeline, identities,
//! and search by traits. Reads use the tenant's active generation, so a rebuild under way
//! never shows a half-built profile.

use cdp_http::Routes;
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{EventId, ProfileId, Seq, SourceId, TenantId};
use cdp_profile_store::{self as store, SearchCondition, TimelineFilter};
use cdp_profiles::{IdentityRules, Profile, normalize};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ApiError, ApiState};

const MAX_LIMIT: u64 = 1000;
const MAX_CONDITIONS: usize = 20;

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Profiles");
    r.post("/v1/profiles/search", search)
        .summary("Search profiles by traits, identities and events")
        .body::<SearchRequest>()
        .ok();
    r.get("/v1/profiles/{profile}", show)
        .summary("A unified profile, by id or by identity (kind:value)")
        .ok();
    r.get("/v1/profiles/{profile}/events", events)
        .summary("A profile's event timeline")
        .query::<TimelineQuery>()
        .ok();
    r.get("/v1/profiles/{profile}/identities", identities)
        .summary("A profile's identities")
        .ok();
}

pub(crate) fn store_error(e: store::StoreError) -> ApiError {
    match e {
        store::StoreError::Invalid(reason) => ApiError::Invalid(reason.to_owned()),
        store::StoreError::Superseded => {
            ApiError::Conflict("another change to the projection came first; try again")
        }
        other => ApiError::storage(other),
    }
}

#[derive(Serialize)]
pub(crate) struct IdentityView {
    #[serde(rename = "type")]
    kind: String,
    value: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

#[derive(Serialize)]
struct TraitView {
    value: serde_json::Value,
    /// The source that sent the winning value, when known.
    source: Option<String>,
    observed_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct CountView {
    count: i64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct GroupView {
    group_id: String,
    traits: serde_json::Map<String, serde_json::Value>,
    observed_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct ConsentView {
    granted: bool,
    observed_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
pub(crate) struct ProfileView {
    profile_id: ProfileId,
    /// Set when the profile was asked for by an id that has since been merged into it.
    #[serde(skip_serializing_if = "Option::is_none")]
    merged_from: Option<ProfileId>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    identities: Vec<IdentityView>,
    traits: BTreeMap<String, TraitView>,
    event_counts: BTreeMap<String, CountView>,
    groups: Vec<GroupView>,
    consent: BTreeMap<String, ConsentView>,
}

impl ProfileView {
    pub(crate) fn of(profile: Profile, merged_from: Option<ProfileId>) -> ProfileView {
        ProfileView {
            profile_id: profile.id,
            merged_from,
            first_seen: profile.first_seen,
            last_seen: profile.last_seen,
            identities: profile
                .identities
                .into_iter()
                .map(|((kind, value), seen)| IdentityView {
                    kind,
                    value,
                    first_seen: seen.first_seen,
                    last_seen: seen.last_seen,
                })
                .collect(),
            traits: profile
                .traits
                .into_iter()
                .map(|(name, t)| {
                    let view = TraitView {
                        value: t.value,
                        source: t.source,
                        observed_at: t.at,
                    };
                    (name, view)
                })
                .collect(),
            event_counts: profile
                .counts
                .into_iter()
                .map(|(name, c)| {
                    let view = CountView {
                        count: c.count,
                        first_at: c.first_at,
                        last_at: c.last_at,
                    };
                    (name, view)
                })
                .collect(),
            groups: profile
                .groups
                .into_iter()
                .map(|(group_id, g)| GroupView {
                    group_id,
                    traits: g.traits,
                    observed_at: g.at,
                })
                .collect(),
            consent: profile
                .consent
                .into_iter()
                .map(|(purpose, c)| {
                    let view = ConsentView {
                        granted: c.granted,
                        observed_at: c.at,
                        expires_at: c.expires_at,
                    };
                    (purpose, view)
                })
                .collect(),
        }
    }
}

/// The generation reads use; a tenant never projected has no profiles yet.
pub(crate) async fn active(state: &ApiState, tenant: TenantId) -> Result<i64, ApiError> {
    store::active_generation(&state.db, tenant)
        .await
        .map_err(store_error)?
        .ok_or(ApiError::NotFound("profile"))
}

/// A profile by `prof_…` id or by `type:value` of any identity it holds.
pub(crate) async fn resolve(
    state: &ApiState,
    tenant: TenantId,
    generation: i64,
    key: &str,
) -> Result<store::ProfileView, ApiError> {
    let found = if let Some((kind, value)) = key.split_once(':') {
        let rules = generation_rules(state, tenant).await?;
        if !rules.is_known_type(kind) {
            return Err(ApiError::Invalid(format!(
                "unknown identifier type {kind:?}: use user_id, anonymous_id, email, phone, or a custom type of the identity rules"
            )));
        }
        let value = normalize(kind, value);
        store::find_by_identity(&state.db, tenant, generation, kind, &value).await
    } else {
        let id: ProfileId = key.parse().map_err(|_| {
            ApiError::Invalid("a profile is named by its id (prof_…) or by type:value, for example email:ann@example.com".into())
        })?;
        store::find_profile(&state.db, tenant, generation, id).await
    };
    found
        .map_err(store_error)?
        .ok_or(ApiError::NotFound("profile"))
}

/// The rules of the generation serving reads (lookups name types they know).
pub(crate) async fn generation_rules(
    state: &ApiState,
    tenant: TenantId,
) -> Result<IdentityRules, ApiError> {
    let generations = store::generations(&state.db, tenant)
        .await
        .map_err(store_error)?;
    Ok(generations
        .into_iter()
        .find(|g| g.status == store::Status::Active)
        .map(|g| g.rules)
        .unwrap_or_default())
}

async fn show(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let generation = active(&state, tenant).await?;
    let found = resolve(&state, tenant, generation, &key).await?;
    Ok(HttpResponse::Ok().json(ProfileView::of(found.profile, found.merged_from)))
}

async fn identities(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let generation = active(&state, tenant).await?;
    let found = resolve(&state, tenant, generation, &key).await?;
    let view = ProfileView::of(found.profile, found.merged_from);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "profile_id": view.profile_id,
        "identities": view.identities,
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct TimelineQuery {
    /// Events before this log position: the `next_before` of the previous page.
    before: Option<i64>,
    #[serde(default = "default_limit")]
    limit: u64,
    /// The event type: `track`, `identify`, `page`, `screen`, `group`, `alias`.
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// What the event counts as: a track event's name, `Page Viewed`, `Screen Viewed`.
    name: Option<String>,
    /// Events that happened at or after this time (RFC 3339)…
    since: Option<DateTime<Utc>>,
    /// …and before this one.
    until: Option<DateTime<Utc>>,
}

fn default_limit() -> u64 {
    50
}

#[derive(Serialize)]
pub(crate) struct TimelineEvent {
    pub(crate) seq: i64,
    event_id: EventId,
    message_id: String,
    #[serde(rename = "type")]
    event_type: String,
    name: Option<String>,
    pub(crate) source_id: Option<SourceId>,
    pub(crate) occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    /// The event as stored; `null` once its subject's key was shredded.
    pub(crate) payload: Option<serde_json::Value>,
    shredded: bool,
}

/// Timeline rows with their events read from the log and opened.
pub(crate) async fn timeline_events(
    state: &ApiState,
    tenant: TenantId,
    rows: Vec<store::TimelineRow>,
) -> Result<Vec<TimelineEvent>, ApiError> {
    let seqs: Vec<Seq> = rows.iter().map(|r| Seq(r.seq)).collect();
    let stored = cdp_log::read_at(&state.db, tenant, &seqs)
        .await
        .map_err(ApiError::storage)?;
    crate::events::preload_keys(state, tenant, &stored).await?;
    let names: BTreeMap<i64, Option<String>> =
        rows.into_iter().map(|r| (r.seq, r.event_name)).collect();
    let mut events = Vec::with_capacity(stored.len());
    for event in stored {
        let (payload, shredded) = crate::events::open_payload(state, tenant, &event).await?;
        events.push(TimelineEvent {
            seq: event.seq.0,
            name: names.get(&event.seq.0).cloned().flatten(),
            event_id: event.event_id,
            message_id: event.message_id,
            event_type: event.event_type,
            source_id: event.source_id,
            occurred_at: event.occurred_at,
            received_at: event.received_at,
            payload,
            shredded,
        });
    }
    Ok(events)
}

async fn events(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    key: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, ApiError> {
    if query.limit == 0 || query.limit > MAX_LIMIT {
        return Err(ApiError::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    if query.before.is_some_and(|b| b < 1) {
        return Err(ApiError::Invalid("before must be 1 or more".into()));
    }
    let tenant = principal.tenant_id;
    let generation = active(&state, tenant).await?;
    let found = resolve(&state, tenant, generation, &key).await?;
    let query = query.into_inner();
    let filter = TimelineFilter {
        before: query.before,
        limit: query.limit,
        event_type: query.event_type,
        event_name: query.name,
        since: query.since,
        until: query.until,
    };
    let rows = store::timeline(&state.db, tenant, generation, found.profile.id, &filter)
        .await
        .map_err(store_error)?;
    let events = timeline_events(&state, tenant, rows).await?;
    let next_before = (events.len() as u64 == filter.limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "profile_id": found.profile.id,
        "events": events,
        "next_before": next_before,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    /// Each `{"trait": name, "op": …, "value": …}`; docs/profiles.md lists the operators.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    conditions: Vec<SearchCondition>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    #[serde(default = "default_limit")]
    limit: u64,
}

async fn search(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    if body.limit == 0 || body.limit > 200 {
        return Err(ApiError::Invalid("limit must be between 1 and 200".into()));
    }
    if body.conditions.len() > MAX_CONDITIONS {
        return Err(ApiError::Invalid(format!(
            "at most {MAX_CONDITIONS} conditions"
        )));
    }
    let after = body
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<ProfileId>()
                .map_err(|_| ApiError::Invalid("cursor is not one this API gave".into()))
        })
        .transpose()?;
    let tenant = principal.tenant_id;
    let Some(generation) = store::active_generation(&state.db, tenant)
        .await
        .map_err(store_error)?
    else {
        return Ok(
            HttpResponse::Ok().json(serde_json::json!({"profiles": [], "next_cursor": null}))
        );
    };
    let ids = store::search(
        &state.db,
        tenant,
        generation,
        &body.conditions,
        after,
        body.limit,
    )
    .await
    .map_err(store_error)?;
    let next_cursor = (ids.len() as u64 == body.limit)
        .then(|| ids.last().copied())
        .flatten();
    let profiles: Vec<ProfileView> = store::profiles_by_id(&state.db, tenant, generation, &ids)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|p| ProfileView::of(p, None))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "profiles": profiles,
        "next_cursor": next_cursor,
    })))
}
