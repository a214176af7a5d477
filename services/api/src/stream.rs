//! `GET /v1/stream`: the tenant's log as it grows, as Server-Sent Events: the events its
//! sources send and the changes the system records about profiles (segment entries and
//! exits, merges, consent), each with its position as the event id, so a client that
//! reconnects with `Last-Event-ID` carries on where it stopped. The same filters as a
//! destination's choose what is sent.

use cdp_http::{Content, Routes};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_destinations::{EventFacts, EventFilter, FieldCondition};
use cdp_domain::{Seq, TenantId};
use serde::Deserialize;

use crate::events::event_view;
use crate::{ApiError, ApiState};

/// Events read from the log per step.
const PAGE: u64 = 200;
/// How often an idle stream looks at the log again.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// A comment line this often keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Sharing");
    r.get("/v1/stream", stream)
        .summary("Live stream of the log as server-sent events")
        .query::<StreamQuery>()
        .answers(200, Content::Raw("text/event-stream"));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// Start after this position; by default, from now on. `Last-Event-ID` wins.
    after: Option<i64>,
    /// Comma-separated: `events` (what sources send) and `changes` (what the system
    /// records about profiles); both by default.
    include: Option<String>,
    sources: Option<String>,
    event_types: Option<String>,
    event_names: Option<String>,
    /// Conditions on the events' fields, as a destination's filter takes them (JSON).
    conditions: Option<String>,
    /// Only the entries and exits of these segments (comma-separated ids).
    segments: Option<String>,
}

fn list(text: &Option<String>) -> Vec<String> {
    text.as_deref()
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// What a stream sends.
struct Choice {
    events: bool,
    changes: bool,
    filter: EventFilter,
    segments: Vec<String>,
}

impl Choice {
    fn of(query: &StreamQuery) -> Result<Choice, ApiError> {
        let include = list(&query.include);
        for part in &include {
            if part != "events" && part != "changes" {
                return Err(ApiError::Invalid("include: events, changes or both".into()));
            }
        }
        let conditions: Vec<FieldCondition> = match &query.conditions {
            None => Vec::new(),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                ApiError::Invalid(format!("conditions: not a list of conditions: {e}"))
            })?,
        };
        let filter = EventFilter {
            sources: list(&query.sources),
            event_types: list(&query.event_types),
            event_names: list(&query.event_names),
            conditions,
        };
        let problems = filter.problems();
        if !problems.is_empty() {
            return Err(ApiError::Rejected {
                message: "the filter is not valid".into(),
                details: serde_json::json!({ "problems": problems }),
            });
        }
        Ok(Choice {
            events: include.is_empty() || include.iter().any(|p| p == "events"),
            changes: include.is_empty() || include.iter().any(|p| p == "changes"),
            filter,
            segments: list(&query.segments),
        })
    }

    fn wants(&self, event: &crate::events::EventView) -> bool {
        let Some(payload) = &event.payload else {
            return false;
        };
        match &event.source_id {
            Some(source) => {
                let source = source.to_string();
                self.events
                    && self.filter.matches(&EventFacts {
                        source: Some(&source),
                        event_type: &event.event_type,
                        body: payload,
                    })
            }
            None => {
                self.changes
                    && (self.segments.is_empty()
                        || payload
                            .get("segment")
                            .and_then(|s| s.as_str())
                            .is_some_and(|s| self.segments.iter().any(|w| w == s)))
            }
        }
    }
}

async fn stream(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    request: HttpRequest,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let choice = Choice::of(&query)?;
    let tenant = principal.tenant_id;
    let resume = request
        .headers()
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|seq| *seq >= 0)
                .ok_or_else(|| ApiError::Invalid("Last-Event-ID: a position in the log".into()))
        })
        .transpose()?;
    let after = match resume.or(query.after) {
        Some(after) if after < 0 => {
            return Err(ApiError::Invalid("after must be 0 or more".into()));
        }
        Some(after) => after,
        None => {
            cdp_log::head(&state.db, tenant)
                .await
                .map_err(ApiError::storage)?
                .0
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        // Proxies that buffer would hold events back.
        .insert_header(("x-accel-buffering", "no"))
        .streaming(frames(state.into_inner(), tenant, after, choice)))
}

struct Cursor {
    after: i64,
    last_sent: Instant,
    first: bool,
}

fn frames(
    state: Arc<ApiState>,
    tenant: TenantId,
    after: i64,
    choice: Choice,
) -> impl futures::Stream<Item = Result<web::Bytes, actix_web::Error>> {
    let choice = Arc::new(choice);
    let start = Cursor {
        after,
        last_sent: Instant::now(),
        first: true,
    };
    futures::stream::unfold(start, move |mut at| {
        let (state, choice) = (state.clone(), choice.clone());
        async move {
            if at.first {
                // Tells the client how long to wait before reconnecting, and opens the
                // stream at once, before any event.
                at.first = false;
                return Some((Ok(web::Bytes::from_static(b"retry: 2000\n\n")), at));
            }
            loop {
                let page = match cdp_log::read_after(&state.db, tenant, Seq(at.after), PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "a live stream stopped: storage unavailable");
                        return None;
                    }
                };
                if page.is_empty() {
                    if at.last_sent.elapsed() >= KEEPALIVE {
                        at.last_sent = Instant::now();
                        return Some((Ok(web::Bytes::from_static(b": keepalive\n\n")), at));
                    }
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
                if let Err(e) = crate::events::preload_keys(&state, tenant, &page).await {
                    tracing::warn!(%tenant, error = %e, "a live stream stopped: keys unavailable");
                    return None;
                }
                let mut out = String::new();
                for stored in page {
                    let seq = stored.seq.0;
                    at.after = seq;
                    let view = match event_view(&state, tenant, stored).await {
                        Ok(view) => view,
                        Err(e) => {
                            tracing::warn!(%tenant, seq, error = %e, "a live stream stopped at an event it cannot open");
                            return None;
                        }
                    };
                    if !choice.wants(&view) {
                        continue;
                    }
                    let data = serde_json::to_string(&view).expect("an event serializes");
                    out.push_str(&format!(
                        "id: {seq}\nevent: {}\ndata: {data}\n\n",
                        view.event_type
                    ));
                }
                if out.is_empty() {
                    // Nothing wanted in this stretch: an id alone moves the client's
                    // Last-Event-ID past it without dispatching an event.
                    out = format!("id: {}\n\n", at.after);
                }
                at.last_sent = Instant::now();
                return Some((Ok(web::Bytes::from(out)), at));
            }
        }
    })
}
