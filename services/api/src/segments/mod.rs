//! Computed traits and segments: definitions (JSON or text conditions, validated with the
//! path or position of every mistake), previews before saving, members (paged, or
//! streamed as NDJSON or CSV), sizes over time, and a profile's segments.

use cdp_http::Routes;
use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{SegmentId, TenantId};
use cdp_profile_store::{self as store, Definitions, SegmentRow};
use cdp_segments::{Catalog, Condition, from_json, parse, to_text, validate};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::profiles::{resolve, store_error};
use crate::{ApiError, ApiState};

mod members;
mod preview;
mod traits;

/// Profiles per page of a member list or a scan.
const MAX_PAGE: u64 = 1_000;

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Segments");
    r.get("/v1/computed-traits", traits::list_traits)
        .summary("List the computed traits")
        .ok();
    r.put("/v1/computed-traits/{name}", traits::put_trait)
        .summary("Define or replace a computed trait")
        .any_body()
        .ok()
        .created();
    r.delete("/v1/computed-traits/{name}", traits::delete_trait)
        .summary("Delete a computed trait")
        .no_content();
    r.get("/v1/segments", list)
        .summary("List the segments")
        .ok();
    r.post("/v1/segments", create)
        .summary("Create a segment")
        .body::<SegmentBody>()
        .created();
    r.post("/v1/segments/preview", preview::preview)
        .summary("Check a segment's conditions and estimate its size")
        .body::<preview::PreviewBody>()
        .ok();
    r.get("/v1/segments/{segment_id}", show)
        .summary("Show a segment")
        .ok();
    r.put("/v1/segments/{segment_id}", update)
        .summary("Replace a segment's definition")
        .body::<SegmentBody>()
        .ok();
    r.delete("/v1/segments/{segment_id}", delete)
        .summary("Delete a segment")
        .no_content();
    r.get("/v1/segments/{segment_id}/members", members::members)
        .summary("A segment's members")
        .query::<members::MembersQuery>()
        .ok();
    r.get("/v1/segments/{segment_id}/sizes", members::sizes)
        .summary("A segment's size over time")
        .query::<members::SizesQuery>()
        .ok();
    r.get("/v1/profiles/{profile}/segments", profile_segments)
        .summary("The segments a profile belongs to")
        .ok();
}

fn rejected(message: impl Into<String>, details: Value) -> ApiError {
    ApiError::Rejected {
        message: message.into(),
        details,
    }
}

/// A condition given as JSON (`condition`) or as text (`text`), read and checked.
fn read_condition(
    condition: Option<&Value>,
    text: Option<&str>,
    catalog: &Catalog,
    this: Option<&str>,
) -> Result<Condition, ApiError> {
    let condition = match (condition, text) {
        (Some(json), None) => from_json(json).map_err(|problems| {
            rejected(
                "the condition is not valid",
                json!({ "problems": problems }),
            )
        })?,
        (None, Some(text)) => parse(text).map_err(|e| {
            rejected(
                format!("the condition text is not valid: {e}"),
                json!({"position": {"line": e.line, "column": e.column, "offset": e.offset}}),
            )
        })?,
        _ => {
            return Err(ApiError::Invalid(
                "give the condition either as `condition` (JSON) or as `text`".into(),
            ));
        }
    };
    validate(&condition, catalog, this).map_err(|problems| {
        rejected(
            "the condition is not valid",
            json!({ "problems": problems }),
        )
    })?;
    Ok(condition)
}

fn catalog(definitions: &Definitions) -> Catalog {
    Catalog {
        computed: definitions
            .computed
            .iter()
            .map(|c| (c.name.clone(), c.aggregation.kind))
            .collect(),
        segments: definitions
            .segments
            .iter()
            .map(|s| (s.id.to_string(), s.condition.clone()))
            .collect(),
    }
}

async fn definitions(state: &ApiState, tenant: TenantId) -> Result<Definitions, ApiError> {
    store::definitions(&state.db, tenant)
        .await
        .map_err(store_error)
}

// --- segments ---

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SegmentBody {
    name: String,
    description: Option<String>,
    condition: Option<Value>,
    text: Option<String>,
}

impl SegmentBody {
    fn checked_name(&self) -> Result<&str, ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(ApiError::Invalid(
                "a segment's name has 1 to 200 characters".into(),
            ));
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 2_000) {
            return Err(ApiError::Invalid(
                "a description has at most 2000 characters".into(),
            ));
        }
        Ok(name)
    }
}

/// Where a segment's membership stands.
async fn status(
    state: &ApiState,
    tenant: TenantId,
    segment: &SegmentRow,
    definitions: &Definitions,
) -> Result<Value, ApiError> {
    if segment.backfilled_version == segment.version {
        return Ok(json!({"state": "ready"}));
    }
    let generations = store::generations(&state.db, tenant)
        .await
        .map_err(store_error)?;
    let Some(active) = generations
        .iter()
        .find(|g| g.status == store::Status::Active)
    else {
        return Ok(json!({"state": "backfilling", "profiles_done": 0, "profiles_total": 0}));
    };
    let audiences = definitions.audiences_for(active);
    if audiences.pending().contains(&segment.id.to_string()) {
        // Needs event history no generation has folded yet: a rebuild is computing it.
        let head = cdp_log::head(&state.db, tenant)
            .await
            .map_err(ApiError::storage)?
            .0;
        let building = generations
            .iter()
            .find(|g| g.status == store::Status::Building);
        return Ok(json!({
            "state": "rebuilding",
            "events_done": building.map_or(0, |g| g.last_seq),
            "events_total": head,
        }));
    }
    let total = store::live_profiles(&state.db, tenant, active.generation)
        .await
        .map_err(store_error)?;
    Ok(json!({
        "state": "backfilling",
        "profiles_done": segment.backfill_done.min(total),
        "profiles_total": total,
    }))
}

async fn view(
    state: &ApiState,
    tenant: TenantId,
    segment: &SegmentRow,
    definitions: &Definitions,
) -> Result<Value, ApiError> {
    let size = match store::active_generation(&state.db, tenant)
        .await
        .map_err(store_error)?
    {
        Some(g) => store::segment_size(&state.db, tenant, g, segment.id)
            .await
            .map_err(store_error)?,
        None => 0,
    };
    Ok(json!({
        "segment_id": segment.id,
        "name": segment.name,
        "description": segment.description,
        "condition": segment.condition.to_json(),
        "text": to_text(&segment.condition),
        "version": segment.version,
        "size": size,
        "status": status(state, tenant, segment, definitions).await?,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
    }))
}

fn segment_id(path: &str) -> Result<SegmentId, ApiError> {
    path.parse().map_err(|_| ApiError::NotFound("segment"))
}

async fn find(state: &ApiState, tenant: TenantId, path: &str) -> Result<SegmentRow, ApiError> {
    store::segment_by_id(&state.db, tenant, segment_id(path)?)
        .await
        .map_err(store_error)?
        .ok_or(ApiError::NotFound("segment"))
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let definitions = definitions(&state, tenant).await?;
    let mut items = Vec::new();
    for s in &definitions.segments {
        items.push(view(&state, tenant, s, &definitions).await?);
    }
    Ok(HttpResponse::Ok().json(json!({ "segments": items })))
}

fn name_taken(e: store::StoreError) -> ApiError {
    match &e {
        store::StoreError::Db(db) if cdp_storage::is_unique_violation(db) => {
            ApiError::Conflict("another segment has this name")
        }
        _ => store_error(e),
    }
}

async fn create(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<SegmentBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let name = body.checked_name()?;
    let definitions = definitions(&state, tenant).await?;
    let id = SegmentId::new();
    let condition = read_condition(
        body.condition.as_ref(),
        body.text.as_deref(),
        &catalog(&definitions),
        Some(&id.to_string()),
    )?;
    store::insert_segment(
        &state.db,
        tenant,
        id,
        name,
        body.description.as_deref(),
        &condition,
    )
    .await
    .map_err(name_taken)?;
    principal
        .record(
            "segment.create",
            Some(("segment", id.to_string())),
            cdp_audit::Outcome::Success,
            json!({"name": name, "condition": condition.to_json()}),
        )
        .await;
    state.wake_projector(tenant);
    let definitions = self::definitions(&state, tenant).await?;
    let row = find(&state, tenant, &id.to_string()).await?;
    Ok(HttpResponse::Created().json(view(&state, tenant, &row, &definitions).await?))
}

async fn show(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let row = find(&state, tenant, &path).await?;
    let definitions = definitions(&state, tenant).await?;
    Ok(HttpResponse::Ok().json(view(&state, tenant, &row, &definitions).await?))
}

async fn update(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    body: web::Json<SegmentBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let row = find(&state, tenant, &path).await?;
    let name = body.checked_name()?;
    let definitions = definitions(&state, tenant).await?;
    let condition = read_condition(
        body.condition.as_ref(),
        body.text.as_deref(),
        &catalog(&definitions),
        Some(&row.id.to_string()),
    )?;
    store::update_segment(
        &state.db,
        tenant,
        row.id,
        name,
        body.description.as_deref(),
        &condition,
    )
    .await
    .map_err(name_taken)?;
    principal
        .record(
            "segment.update",
            Some(("segment", row.id.to_string())),
            cdp_audit::Outcome::Success,
            json!({"name": name, "condition": condition.to_json()}),
        )
        .await;
    state.wake_projector(tenant);
    let definitions = self::definitions(&state, tenant).await?;
    let row = find(&state, tenant, &path).await?;
    Ok(HttpResponse::Ok().json(view(&state, tenant, &row, &definitions).await?))
}

async fn delete(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let row = find(&state, tenant, &path).await?;
    let definitions = definitions(&state, tenant).await?;
    let id = row.id.to_string();
    if definitions
        .segments
        .iter()
        .any(|s| s.id != row.id && s.condition.segments().contains(&id.as_str()))
    {
        return Err(ApiError::Conflict("another segment refers to this one"));
    }
    let txn = cdp_storage::begin_write(&state.db).await?;
    store::delete_segment(&txn, tenant, row.id)
        .await
        .map_err(store_error)?;
    txn.commit().await?;
    principal
        .record(
            "segment.delete",
            Some(("segment", id)),
            cdp_audit::Outcome::Success,
            json!({}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

/// A profile's segments (with since when) and its computed traits' values.
async fn profile_segments(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    key: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let generations = store::generations(&state.db, tenant)
        .await
        .map_err(store_error)?;
    let active = generations
        .into_iter()
        .find(|g| g.status == store::Status::Active)
        .ok_or(ApiError::NotFound("profile"))?;
    let found = resolve(&state, tenant, active.generation, &key).await?;
    let mut body = audience_of(&state, tenant, &active, &found.profile).await?;
    body["profile_id"] = json!(found.profile.id);
    Ok(HttpResponse::Ok().json(body))
}

/// `{"segments": [...], "computed_traits": {...}}` of a profile: what the profile page
/// and a person's access export show.
pub(crate) async fn audience_of(
    state: &ApiState,
    tenant: TenantId,
    generation: &store::GenerationState,
    profile: &cdp_profiles::Profile,
) -> Result<Value, ApiError> {
    let definitions = definitions(state, tenant).await?;
    let audiences = definitions.audiences_for(generation);
    let names: BTreeMap<SegmentId, &str> = definitions
        .segments
        .iter()
        .map(|s| (s.id, s.name.as_str()))
        .collect();
    let segments: Vec<Value> =
        store::segments_of(&state.db, tenant, generation.generation, profile.id)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|(id, since)| json!({"segment_id": id, "name": names.get(&id), "since": since}))
            .collect();
    Ok(json!({
        "segments": segments,
        "computed_traits": audiences.computed_values(profile, Utc::now()),
    }))
}
