//! Computed traits and segments: definitions (JSON or text conditions, validated with the
//! path or position of every mistake), previews before saving, members (paged, or
//! streamed as NDJSON or CSV), sizes over time, and a profile's segments.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{HttpRequest, HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{ProfileId, SegmentId, TenantId};
use cdp_profile_store::{self as store, Definitions, SegmentRow};
use cdp_segments::{
    Audiences, Catalog, ComputedTrait, Condition, from_json, parse, to_text, validate,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::profiles::{active, resolve, store_error};
use crate::{ApiError, ApiState};

/// Profiles a preview evaluates at most; past it the size is estimated from them.
const PREVIEW_SCAN: u64 = 200_000;
const PREVIEW_SAMPLE: usize = 20;
const MAX_PAGE: u64 = 1_000;

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/computed-traits", web::get().to(list_traits))
        .route("/v1/computed-traits/{name}", web::put().to(put_trait))
        .route("/v1/computed-traits/{name}", web::delete().to(delete_trait))
        .route("/v1/segments", web::get().to(list))
        .route("/v1/segments", web::post().to(create))
        .route("/v1/segments/preview", web::post().to(preview))
        .route("/v1/segments/{segment_id}", web::get().to(show))
        .route("/v1/segments/{segment_id}", web::put().to(update))
        .route("/v1/segments/{segment_id}", web::delete().to(delete))
        .route("/v1/segments/{segment_id}/members", web::get().to(members))
        .route("/v1/segments/{segment_id}/sizes", web::get().to(sizes))
        .route(
            "/v1/profiles/{profile}/segments",
            web::get().to(profile_segments),
        );
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

// --- computed traits ---

async fn list_traits(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let rows = store::computed_traits(&state.db, principal.tenant_id)
        .await
        .map_err(store_error)?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = r.definition.to_json();
            v["created_at"] = json!(r.created_at);
            v["updated_at"] = json!(r.updated_at);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "computed_traits": items })))
}

async fn put_trait(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let mut body = body.into_inner();
    match body.as_object_mut() {
        Some(object) => match object.get("name") {
            Some(given) if given != &json!(name.as_str()) => {
                return Err(ApiError::Invalid(
                    "the name in the body differs from the path's".into(),
                ));
            }
            _ => {
                object.insert("name".into(), json!(name.as_str()));
            }
        },
        None => return Err(ApiError::Invalid("expected a JSON object".into())),
    }
    let definition = ComputedTrait::from_json(&body).map_err(|e| {
        rejected(
            "the computed trait is not valid",
            json!({ "problems": e.0 }),
        )
    })?;
    let existing = definitions(&state, tenant).await?;
    // A segment comparing it as a number must still be valid with the new kind.
    let mut catalog = catalog(&existing);
    catalog
        .computed
        .insert(definition.name.clone(), definition.aggregation.kind);
    for s in &existing.segments {
        if validate(&s.condition, &catalog, Some(&s.id.to_string())).is_err() {
            return Err(ApiError::Conflict(
                "a segment compares this computed trait in a way its new kind does not allow",
            ));
        }
    }
    let created = store::put_computed_trait(&state.db, tenant, &definition)
        .await
        .map_err(store_error)?;
    principal
        .record(
            if created {
                "computed_trait.create"
            } else {
                "computed_trait.update"
            },
            Some(("computed_trait", definition.name.clone())),
            cdp_audit::Outcome::Success,
            definition.to_json(),
        )
        .await;
    state.wake_projector(tenant);
    let status = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    }
    .json(definition.to_json());
    Ok(status)
}

async fn delete_trait(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let existing = definitions(&state, tenant).await?;
    if existing
        .segments
        .iter()
        .any(|s| s.condition.computed_traits().contains(&name.as_str()))
    {
        return Err(ApiError::Conflict("a segment uses this computed trait"));
    }
    if !store::delete_computed_trait(&state.db, tenant, &name)
        .await
        .map_err(store_error)?
    {
        return Err(ApiError::NotFound("computed trait"));
    }
    principal
        .record(
            "computed_trait.delete",
            Some(("computed_trait", name.clone())),
            cdp_audit::Outcome::Success,
            json!({}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

// --- segments ---

#[derive(Deserialize)]
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
    let complete: BTreeSet<String> = active.aggregations.complete.keys().cloned().collect();
    let audiences = Audiences::new(
        &definitions.computed,
        &definitions.segment_defs(),
        &complete,
    );
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    condition: Option<Value>,
    text: Option<String>,
}

/// How many profiles match a condition not saved yet, and a sample of them.
async fn preview(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<PreviewBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let definitions = definitions(&state, tenant).await?;
    let condition = read_condition(
        body.condition.as_ref(),
        body.text.as_deref(),
        &catalog(&definitions),
        None,
    )?;
    let generations = store::generations(&state.db, tenant)
        .await
        .map_err(store_error)?;
    let Some(active) = generations
        .into_iter()
        .find(|g| g.status == store::Status::Active)
    else {
        return Ok(HttpResponse::Ok()
            .json(json!({"size": 0, "scanned": 0, "total": 0, "estimated": false, "sample": []})));
    };
    let complete: BTreeSet<String> = active.aggregations.complete.keys().cloned().collect();
    let audiences = Audiences::new(
        &definitions.computed,
        &definitions.segment_defs(),
        &complete,
    );
    let g = active.generation;
    let now = Utc::now();
    let (mut scanned, mut size, mut sample) = (0u64, 0u64, Vec::new());
    let mut cursor = None;
    while scanned < PREVIEW_SCAN {
        let page = store::profile_page(&state.db, tenant, g, cursor, MAX_PAGE)
            .await
            .map_err(store_error)?;
        let Some(last) = page.last().copied() else {
            break;
        };
        cursor = Some(last);
        let profiles = store::profiles_by_id(&state.db, tenant, g, &page)
            .await
            .map_err(store_error)?;
        let members = store::memberships(&state.db, tenant, g, &page)
            .await
            .map_err(store_error)?;
        for p in &profiles {
            let of: BTreeSet<String> = members
                .get(&p.id)
                .map(|m| m.keys().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let Some(holds) = audiences.check(&condition, p, now, &of) else {
                return Err(ApiError::NotReady(
                    "this condition needs event history that is not computed yet: save it as a segment and its membership is computed from the whole log",
                ));
            };
            if holds {
                size += 1;
                if sample.len() < PREVIEW_SAMPLE {
                    sample.push(p.id);
                }
            }
        }
        scanned += page.len() as u64;
        if (page.len() as u64) < MAX_PAGE {
            break;
        }
    }
    let total = store::live_profiles(&state.db, tenant, g)
        .await
        .map_err(store_error)? as u64;
    let estimated = scanned < total;
    let size = if estimated && scanned > 0 {
        (size as f64 * total as f64 / scanned as f64).round() as u64
    } else {
        size
    };
    Ok(HttpResponse::Ok().json(json!({
        "size": size,
        "scanned": scanned,
        "total": total,
        "estimated": estimated,
        "sample": sample,
        "text": to_text(&condition),
        "condition": condition.to_json(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    limit: Option<u64>,
    /// `json` (pages), `ndjson` or `csv` (the whole list, streamed).
    format: Option<String>,
}

async fn members(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    query: web::Query<MembersQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let row = find(&state, tenant, &path).await?;
    let generation = active(&state, tenant)
        .await
        .map_err(|_| ApiError::NotFound("segment"))?;
    let accept = request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match query.format.as_deref() {
        Some(f) => f.to_owned(),
        None if accept.contains("application/x-ndjson") => "ndjson".into(),
        None if accept.contains("text/csv") => "csv".into(),
        None => "json".into(),
    };
    let cursor = match &query.cursor {
        Some(c) => Some(
            c.parse::<ProfileId>()
                .map_err(|_| ApiError::Invalid("cursor: not a cursor this endpoint gave".into()))?,
        ),
        None => None,
    };
    match format.as_str() {
        "json" => {
            let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
            let page = store::members(&state.db, tenant, generation, row.id, cursor, limit)
                .await
                .map_err(store_error)?;
            let next = (page.len() as u64 == limit)
                .then(|| page.last().map(|(id, _)| *id))
                .flatten();
            let items: Vec<Value> = page
                .iter()
                .map(|(id, since)| json!({"profile_id": id, "since": since}))
                .collect();
            Ok(HttpResponse::Ok().json(json!({"members": items, "next_cursor": next})))
        }
        "ndjson" | "csv" => {
            principal
                .record(
                    "segment.members.export",
                    Some(("segment", row.id.to_string())),
                    cdp_audit::Outcome::Success,
                    json!({"format": format}),
                )
                .await;
            Ok(export(
                state.into_inner(),
                tenant,
                generation,
                row.id,
                cursor,
                format == "csv",
            ))
        }
        _ => Err(ApiError::Invalid("format: one of json, ndjson, csv".into())),
    }
}

/// The whole member list with each member's main identities, a page at a time, in
/// constant memory.
fn export(
    state: std::sync::Arc<ApiState>,
    tenant: TenantId,
    generation: i64,
    segment: SegmentId,
    cursor: Option<ProfileId>,
    csv: bool,
) -> HttpResponse {
    struct Pages {
        cursor: Option<ProfileId>,
        header: bool,
        done: bool,
    }
    let start = Pages {
        cursor,
        header: csv,
        done: false,
    };
    let stream = futures::stream::unfold(start, move |mut at| {
        let state = state.clone();
        async move {
            if at.done {
                return None;
            }
            let mut out = String::new();
            if at.header {
                out.push_str("profile_id,since,user_id,email\n");
                at.header = false;
            }
            let page =
                match store::members(&state.db, tenant, generation, segment, at.cursor, MAX_PAGE)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "a member export stopped: storage unavailable");
                        return None;
                    }
                };
            at.done = (page.len() as u64) < MAX_PAGE;
            at.cursor = page.last().map(|(id, _)| *id);
            let ids: Vec<ProfileId> = page.iter().map(|(id, _)| *id).collect();
            let profiles: BTreeMap<ProfileId, cdp_profiles::Profile> =
                match store::profiles_by_id(&state.db, tenant, generation, &ids).await {
                    Ok(ps) => ps.into_iter().map(|p| (p.id, p)).collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "a member export stopped: storage unavailable");
                        return None;
                    }
                };
            for (id, since) in &page {
                let first = |kind: &str| {
                    profiles.get(id).and_then(|p| {
                        p.identities
                            .keys()
                            .find(|(k, _)| k == kind)
                            .map(|(_, v)| v.clone())
                    })
                };
                let (user_id, email) = (first("user_id"), first("email"));
                if csv {
                    let mut w = csv::Writer::from_writer(Vec::new());
                    let _ = w.write_record([
                        id.to_string(),
                        since.to_rfc3339(),
                        user_id.unwrap_or_default(),
                        email.unwrap_or_default(),
                    ]);
                    out.push_str(&String::from_utf8_lossy(
                        &w.into_inner().unwrap_or_default(),
                    ));
                } else {
                    out.push_str(
                        &json!({"profile_id": id, "since": since, "user_id": user_id, "email": email})
                            .to_string(),
                    );
                    out.push('\n');
                }
            }
            Some((Ok::<_, actix_web::Error>(web::Bytes::from(out)), at))
        }
    });
    HttpResponse::Ok()
        .content_type(if csv {
            "text/csv"
        } else {
            "application/x-ndjson"
        })
        .streaming(stream)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SizesQuery {
    /// From when (RFC 3339); 30 days back by default.
    since: Option<DateTime<Utc>>,
}

async fn sizes(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    query: web::Query<SizesQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let row = find(&state, tenant, &path).await?;
    let since = query
        .since
        .unwrap_or_else(|| Utc::now() - TimeDelta::days(30));
    let history = store::size_history(&state.db, tenant, row.id, since)
        .await
        .map_err(store_error)?;
    let points: Vec<Value> = history
        .into_iter()
        .map(|(hour, members)| json!({"hour": hour, "members": members}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"segment_id": row.id, "sizes": points})))
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
    let complete: BTreeSet<String> = generation.aggregations.complete.keys().cloned().collect();
    let audiences = Audiences::new(
        &definitions.computed,
        &definitions.segment_defs(),
        &complete,
    );
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
