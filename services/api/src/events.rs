//! `GET /v1/events`: the tenant's log, decrypted, in sequence order.

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{DataKeyId, EventId, Seq, SourceId, TenantId};
use cdp_http::Routes;
use cdp_keyring::Opened;
use cdp_log::StoredEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ApiError, ApiState};

const MAX_LIMIT: u64 = 1000;

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Events");
    r.get("/v1/events", list)
        .summary("Read the event log in order")
        .query::<Page>()
        .ok();
    r.get("/v1/events/volume", volume)
        .summary("Events received per source and hour (counts, no content)")
        .query::<VolumeQuery>()
        .ok();
}

/// The longest stretch the volume is read over at once.
const MAX_VOLUME_DAYS: i64 = 90;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct VolumeQuery {
    /// From the hour holding this time (RFC 3339); 24 hours ago when left out, at most
    /// 90 days ago.
    since: Option<DateTime<Utc>>,
    /// `hour` (the default) or `day` (days from midnight UTC): a long period by day keeps
    /// the answer small.
    by: Option<String>,
}

/// Counts only, kept as events are appended: the whole answer comes from a small table,
/// whatever the size of the log.
async fn volume(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    query: web::Query<VolumeQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let since = query.since.unwrap_or(now - chrono::TimeDelta::hours(24));
    if since < now - chrono::TimeDelta::days(MAX_VOLUME_DAYS) {
        return Err(ApiError::Invalid(format!(
            "since is at most {MAX_VOLUME_DAYS} days ago"
        )));
    }
    let by = match query.by.as_deref() {
        None | Some("hour") => chrono::TimeDelta::hours(1),
        Some("day") => chrono::TimeDelta::days(1),
        Some(_) => return Err(ApiError::Invalid("by is hour or day".into())),
    };
    let rows = cdp_log::hourly_volume(&state.db, principal.tenant_id, since)
        .await
        .map_err(ApiError::storage)?;
    // Rows come by hour, then source: summed into their slot (an hour or a UTC day).
    let mut slots: std::collections::BTreeMap<(DateTime<Utc>, Option<String>), u64> =
        std::collections::BTreeMap::new();
    for row in &rows {
        let start = chrono::DurationRound::duration_trunc(row.hour, by).unwrap_or(row.hour);
        *slots
            .entry((start, row.source_id.map(|s| s.to_string())))
            .or_default() += row.events;
    }
    let volume: Vec<serde_json::Value> = slots
        .into_iter()
        .map(|((start, source), events)| {
            serde_json::json!({"start": start, "source_id": source, "events": events})
        })
        .collect();
    let by = if by == chrono::TimeDelta::days(1) {
        "day"
    } else {
        "hour"
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "since": since, "by": by, "volume": volume })))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct Page {
    /// Events after this sequence number (0 reads from the start).
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u64,
}

fn default_limit() -> u64 {
    100
}

#[derive(Serialize)]
pub(crate) struct EventView {
    seq: i64,
    event_id: EventId,
    message_id: String,
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    pub(crate) source_id: Option<SourceId>,
    received_at: DateTime<Utc>,
    occurred_at: DateTime<Utc>,
    key_id: DataKeyId,
    /// The event as stored; `null` once its subject's key was shredded.
    pub(crate) payload: Option<serde_json::Value>,
    shredded: bool,
}

/// An event as the API shows it, opened (keys preloaded by [`preload_keys`]).
pub(crate) async fn event_view(
    state: &ApiState,
    tenant: TenantId,
    event: StoredEvent,
) -> Result<EventView, ApiError> {
    let (payload, shredded) = open_payload(state, tenant, &event).await?;
    Ok(EventView {
        seq: event.seq.0,
        event_id: event.event_id,
        message_id: event.message_id,
        event_type: event.event_type,
        source_id: event.source_id,
        received_at: event.received_at,
        occurred_at: event.occurred_at,
        key_id: event.key_id,
        payload,
        shredded,
    })
}

#[derive(Serialize)]
struct EventPage {
    events: Vec<EventView>,
    /// Pass as `after` to read on.
    next_after: i64,
}

/// Reads the keys of these events in one go, so that opening them costs no query each.
pub(crate) async fn preload_keys(
    state: &ApiState,
    tenant: TenantId,
    events: &[StoredEvent],
) -> Result<(), ApiError> {
    let key_ids: Vec<_> = events.iter().map(|e| e.key_id).collect();
    state
        .keyring
        .preload(tenant, &key_ids)
        .await
        .map_err(ApiError::internal)
}

/// An event's payload as JSON, or `None` (shredded: `true`) once its key is destroyed.
pub(crate) async fn open_payload(
    state: &ApiState,
    tenant: TenantId,
    event: &StoredEvent,
) -> Result<(Option<serde_json::Value>, bool), ApiError> {
    let opened = state
        .keyring
        .open(tenant, event.event_id, event.key_id, &event.payload)
        .await
        .map_err(ApiError::internal)?;
    Ok(match opened {
        Opened::Plain(bytes) => (
            Some(serde_json::from_slice(&bytes).map_err(ApiError::internal)?),
            false,
        ),
        Opened::Shredded => (None, true),
    })
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    if page.after < 0 {
        return Err(ApiError::Invalid("after must be 0 or more".into()));
    }
    if page.limit == 0 || page.limit > MAX_LIMIT {
        return Err(ApiError::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let tenant = principal.tenant_id;
    let stored = cdp_log::read_after(&state.db, tenant, Seq(page.after), page.limit)
        .await
        .map_err(ApiError::storage)?;
    preload_keys(&state, tenant, &stored).await?;
    let mut events = Vec::with_capacity(stored.len());
    for event in stored {
        events.push(event_view(&state, tenant, event).await?);
    }
    let next_after = events.last().map_or(page.after, |e| e.seq);
    Ok(HttpResponse::Ok().json(EventPage { events, next_after }))
}
