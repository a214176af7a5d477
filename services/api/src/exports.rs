//! Streamed exports for loading into a warehouse, as NDJSON: the tenant's events (the log,
//! opened) and its profiles, whole, in pages read one after another, so an export of any
//! size takes constant memory. A segment's members export from
//! `GET /v1/segments/{id}/members?format=ndjson`.

use cdp_http::{Content, Routes};
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{ProfileId, Seq, TenantId};
use cdp_profile_store as store;
use serde::Deserialize;

use crate::events::event_view;
use crate::profiles::{ProfileView, store_error};
use crate::{ApiError, ApiState};

/// Rows per page read.
const PAGE: u64 = 500;

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Sharing");
    r.get("/v1/exports/events", events)
        .summary("Export the event log as NDJSON")
        .query::<EventRange>()
        .answers(200, Content::Raw("application/x-ndjson"));
    r.get("/v1/exports/profiles", profiles)
        .summary("Export every profile as NDJSON")
        .answers(200, Content::Raw("application/x-ndjson"));
}

type Chunk = Result<web::Bytes, actix_web::Error>;

fn ndjson(stream: impl futures::Stream<Item = Chunk> + 'static) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming(stream)
}

/// An export that cannot go on ends with an error, which aborts the response: the client
/// sees a broken transfer, never a complete-looking file with a gap.
fn stopped(tenant: TenantId, what: &str, e: &dyn std::fmt::Display) -> actix_web::Error {
    tracing::warn!(%tenant, error = %e, "an export of {what} stopped");
    actix_web::error::ErrorServiceUnavailable("the export stopped: storage unavailable")
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct EventRange {
    /// Events after this position (0: from the start).
    #[serde(default)]
    after: i64,
    /// Up to and including this position; by default the log as it stood when asked.
    through: Option<i64>,
}

async fn events(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    range: web::Query<EventRange>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    if range.after < 0 {
        return Err(ApiError::Invalid("after must be 0 or more".into()));
    }
    let through = match range.through {
        Some(t) => t,
        None => {
            cdp_log::head(&state.db, tenant)
                .await
                .map_err(ApiError::storage)?
                .0
        }
    };
    let state: Arc<ApiState> = state.into_inner();
    let stream = futures::stream::unfold(range.after, move |after| {
        let state = state.clone();
        async move {
            if after >= through {
                return None;
            }
            let limit = PAGE.min((through - after) as u64);
            let page = match cdp_log::read_after(&state.db, tenant, Seq(after), limit).await {
                Ok(page) if !page.is_empty() => page,
                Ok(_) => return None,
                Err(e) => return Some((Err(stopped(tenant, "events", &e)), through)),
            };
            if let Err(e) = crate::events::preload_keys(&state, tenant, &page).await {
                return Some((Err(stopped(tenant, "events", &e)), through));
            }
            let mut out = String::new();
            let mut last = after;
            for stored in page {
                last = stored.seq.0;
                match event_view(&state, tenant, stored).await {
                    Ok(view) => {
                        out.push_str(&serde_json::to_string(&view).expect("an event serializes"));
                        out.push('\n');
                    }
                    Err(e) => return Some((Err(stopped(tenant, "events", &e)), through)),
                }
            }
            Some((Ok(web::Bytes::from(out)), last))
        }
    });
    Ok(ndjson(stream))
}

async fn profiles(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    // A tenant that has never projected anything has no profiles to export.
    let generation = store::active_generation(&state.db, tenant)
        .await
        .map_err(store_error)?;
    let state: Arc<ApiState> = state.into_inner();
    struct Pages {
        after: Option<ProfileId>,
        done: bool,
    }
    let start = Pages {
        after: None,
        done: generation.is_none(),
    };
    let generation = generation.unwrap_or_default();
    let stream = futures::stream::unfold(start, move |mut at| {
        let state = state.clone();
        async move {
            if at.done {
                return None;
            }
            let page = async {
                let ids =
                    store::profile_page(&state.db, tenant, generation, at.after, PAGE).await?;
                let found = store::profiles_by_id(&state.db, tenant, generation, &ids).await?;
                Ok::<_, store::StoreError>((ids, found))
            };
            let (ids, found) = match page.await {
                Ok(page) => page,
                Err(e) => {
                    at.done = true;
                    return Some((Err(stopped(tenant, "profiles", &e)), at));
                }
            };
            at.done = (ids.len() as u64) < PAGE;
            at.after = ids.last().copied();
            if ids.is_empty() {
                return None;
            }
            let mut out = String::new();
            for profile in found {
                out.push_str(
                    &serde_json::to_string(&ProfileView::of(profile, None))
                        .expect("a profile serializes"),
                );
                out.push('\n');
            }
            Some((Ok(web::Bytes::from(out)), at))
        }
    });
    Ok(ndjson(stream))
}
