//! A segment's members, paged or streamed whole as NDJSON or CSV, and its size over time.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{ProfileId, SegmentId, TenantId};
use cdp_profile_store as store;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MAX_PAGE, find};
use crate::profiles::{active, store_error};
use crate::{ApiError, ApiState};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct MembersQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    limit: Option<u64>,
    /// `json` (pages), `ndjson` or `csv` (the whole list, streamed).
    format: Option<String>,
}

pub(super) async fn members(
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

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct SizesQuery {
    /// From when (RFC 3339); 30 days back by default.
    since: Option<DateTime<Utc>>,
}

pub(super) async fn sizes(
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
