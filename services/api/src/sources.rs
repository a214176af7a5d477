//! `POST /v1/sources` and `GET /v1/sources`: tracking and webhook sources.

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::SourceId;
use cdp_http::Routes;
use cdp_tenancy::{Source, SourceKind};
use cdp_tracking::WebhookMapping;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ApiError, ApiState};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Sources");
    r.post("/v1/sources", create)
        .summary("Create a source (tracking or webhook) with its first write key")
        .body::<NewSource>()
        .created();
    r.get("/v1/sources", list).summary("List the sources").ok();
    r.get("/v1/sources/{source_id}/rejections", rejections)
        .summary("The source's requests refused lately, and why (the live debugger's errors)")
        .query::<RejectionsQuery>()
        .ok();
    r.get("/v1/sources/{source_id}", get)
        .summary("Show a source")
        .ok();
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum KindInput {
    Tracking,
    Webhook,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSource {
    name: String,
    kind: KindInput,
    /// For webhook sources: a mapping, or `{"preset": "ecommerce_order" | "payment"}`.
    mapping: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct SourceView {
    id: SourceId,
    name: String,
    kind: &'static str,
    mapping: Option<serde_json::Value>,
    created_at: DateTime<Utc>,
}

impl From<Source> for SourceView {
    fn from(source: Source) -> Self {
        SourceView {
            id: source.id,
            name: source.name,
            kind: source.kind.as_str(),
            mapping: source.config.and_then(|c| serde_json::from_str(&c).ok()),
            created_at: source.created_at,
        }
    }
}

#[derive(Serialize)]
struct Created {
    #[serde(flatten)]
    source: SourceView,
    /// Shown once.
    write_key: String,
    /// Where a webhook source's system should send its payloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_path: Option<String>,
}

async fn create(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<NewSource>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Invalid("name must be 1 to 100 characters".into()));
    }
    let (kind, config) = match (body.kind, body.mapping) {
        (KindInput::Tracking, None) => (SourceKind::Tracking, None),
        (KindInput::Tracking, Some(_)) => {
            return Err(ApiError::Invalid(
                "only webhook sources take a mapping".into(),
            ));
        }
        (KindInput::Webhook, None) => {
            return Err(ApiError::Invalid("a webhook source needs a mapping".into()));
        }
        (KindInput::Webhook, Some(mapping)) => {
            WebhookMapping::from_json(&mapping).map_err(|e| ApiError::Invalid(e.to_string()))?;
            (SourceKind::Webhook, Some(mapping.to_string()))
        }
    };
    let (source, write_key) =
        cdp_tenancy::create_source(&state.db, principal.tenant_id, name, kind, config)
            .await
            .map_err(ApiError::storage)?;
    principal
        .record(
            "source.create",
            Some(("source", source.id.to_string())),
            cdp_audit::Outcome::Success,
            serde_json::json!({"kind": kind.as_str()}),
        )
        .await;
    let webhook_path =
        (kind == SourceKind::Webhook).then(|| format!("/v1/webhooks/{}", write_key.expose()));
    Ok(HttpResponse::Created().json(Created {
        source: source.into(),
        write_key: write_key.expose().to_owned(),
        webhook_path,
    }))
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let sources = cdp_tenancy::list_sources(&state.db, principal.tenant_id)
        .await
        .map_err(ApiError::storage)?;
    let sources: Vec<SourceView> = sources.into_iter().map(SourceView::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "sources": sources })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct RejectionsQuery {
    /// The `id` of the last refusal already seen.
    after: Option<i64>,
}

/// The last refusals (at most 50, from the last hour) after `after`, oldest first.
async fn rejections(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    query: web::Query<RejectionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let source = found(&state, principal.tenant_id, &id).await?;
    let listed = cdp_tenancy::rejections_after(
        &state.db,
        principal.tenant_id,
        source.id,
        query.after.unwrap_or(0),
    )
    .await
    .map_err(ApiError::storage)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "rejections": listed })))
}

/// The tenant's source named by `id`; a malformed id and another tenant's id answer alike.
async fn found(
    state: &ApiState,
    tenant: cdp_domain::TenantId,
    id: &str,
) -> Result<Source, ApiError> {
    let Ok(id) = id.parse::<SourceId>() else {
        return Err(ApiError::NotFound("source"));
    };
    cdp_tenancy::find_source(&state.db, tenant, id)
        .await
        .map_err(ApiError::storage)?
        .ok_or(ApiError::NotFound("source"))
}

async fn get(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let source = found(&state, principal.tenant_id, &id).await?;
    Ok(HttpResponse::Ok().json(SourceView::from(source)))
}
