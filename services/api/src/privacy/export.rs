//! The export of an access request: everything held on the subject, as one JSON document
//! streamed a page of events at a time, so that a subject with a million events costs
//! the memory of one page.
//!
//! Nothing of it is stored: the subject is read from the request's own record in the
//! log (sealed under the subject's key), the rest from the projections and the log at
//! download time. A download that ends with `"complete": true` is whole; the first one
//! produced whole completes the request. Every download started is recorded in the audit
//! chain (`privacy.access.download`), and every whole one once more at its end
//! (`privacy.access.exported`, with its event count).

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{PrivacyRequestId, ProfileId, Seq, TenantId};
use cdp_privacy::{OrderSubject, PrivacyRequest, RequestEvent, RequestKind};
use cdp_profile_store as store;
use cdp_profiles::{CONSENT_EVENT_TYPE, IdentityRules, observe};
use cdp_storage::begin_write;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::{privacy_error, record, request_of_kind};
use crate::profiles::{ProfileView, TimelineEvent, store_error, timeline_events};
use crate::{ApiError, ApiState};

/// Events read, opened and written per step of the stream.
const PAGE: u64 = 500;

pub(super) async fn download(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let request = request_of_kind(
        &state,
        tenant,
        &id,
        RequestKind::Access,
        "only an access request has an export",
    )
    .await?;
    let subject = subject_of(&state, tenant, &request).await?;
    let generation = caught_up_generation(&state, tenant, &request).await?;
    let profile = store::find_by_identity(
        &state.db,
        tenant,
        generation.generation,
        &subject.kind,
        &subject.value,
    )
    .await
    .map_err(store_error)?;

    let mut head = Vec::new();
    head.extend_from_slice(b"{\"request\":");
    serde_json::to_writer(&mut head, &request).map_err(ApiError::internal)?;
    head.extend_from_slice(b",\"generated_at\":");
    serde_json::to_writer(&mut head, &Utc::now()).map_err(ApiError::internal)?;
    head.extend_from_slice(b",\"subject\":");
    serde_json::to_writer(&mut head, &subject).map_err(ApiError::internal)?;
    head.extend_from_slice(b",\"profile\":");
    let profile_id = profile.as_ref().map(|p| p.profile.id);
    // The segments the person is in and the figures computed about them are theirs too.
    let audience = match &profile {
        Some(p) => crate::segments::audience_of(&state, tenant, &generation, &p.profile).await?,
        None => serde_json::json!({"segments": [], "computed_traits": {}}),
    };
    let view = profile.map(|p| ProfileView::of(p.profile, None));
    serde_json::to_writer(&mut head, &view).map_err(ApiError::internal)?;
    head.extend_from_slice(b",\"segments\":");
    serde_json::to_writer(&mut head, &audience["segments"]).map_err(ApiError::internal)?;
    head.extend_from_slice(b",\"computed_traits\":");
    serde_json::to_writer(&mut head, &audience["computed_traits"]).map_err(ApiError::internal)?;
    head.extend_from_slice(b",\"events\":[");

    // Every download is on record, the ones cut short too; a whole one again at its end.
    let txn = begin_write(&state.db).await?;
    record(
        &txn,
        &principal,
        "privacy.access.download",
        request.id,
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await?;
    let pages = Pages {
        principal,
        request: request.id,
        state,
        tenant,
        generation: generation.generation,
        rules: generation.rules,
        profile: profile_id,
        part: Part::Events,
        before: None,
        events_written: 0,
        consent_written: 0,
    };
    let events = stream::unfold(pages, |mut pages| async move {
        let step = pages.next().await.transpose()?;
        Some((step, pages))
    });
    let body = stream::once(async move { Ok::<_, ApiError>(Bytes::from(head)) }).chain(events);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.json\"", request.id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// The subject the request names, from its record in the log; gone once the subject is
/// erased (the record was sealed under a key the erasure destroyed).
async fn subject_of(
    state: &ApiState,
    tenant: TenantId,
    request: &PrivacyRequest,
) -> Result<OrderSubject, ApiError> {
    let seq = request
        .log_seq
        .ok_or_else(|| ApiError::internal(Missing("the request's log record")))?;
    let stored = cdp_log::read_at(&state.db, tenant, &[Seq(seq)])
        .await
        .map_err(ApiError::storage)?
        .pop()
        .ok_or_else(|| ApiError::internal(Missing("the request's log record")))?;
    let (payload, _) = crate::events::open_payload(state, tenant, &stored).await?;
    let Some(payload) = payload else {
        return Err(ApiError::Gone(
            "the subject has been erased since this request: nothing is held on them any more",
        ));
    };
    RequestEvent::from_event(&payload)
        .filter(|event| event.request_id == request.id && event.kind() == RequestKind::Access)
        .map(|event| event.subject)
        .ok_or_else(|| ApiError::internal(Missing("an access record at the request's position")))
}

/// The generation serving reads, once it has projected everything up to the request: an
/// export leaves out nothing the subject sent before asking.
async fn caught_up_generation(
    state: &ApiState,
    tenant: TenantId,
    request: &PrivacyRequest,
) -> Result<store::GenerationState, ApiError> {
    let active = store::generations(&state.db, tenant)
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|g| g.status == store::Status::Active);
    match active {
        Some(g) if request.log_seq.is_some_and(|seq| g.last_seq >= seq) => Ok(g),
        _ => Err(ApiError::NotReady(
            "the profiles have not caught up with this request yet; try again in a moment",
        )),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is missing")]
struct Missing(&'static str);

/// One consent decision, as an event of the subject's recorded it.
#[derive(Serialize)]
struct ConsentChange {
    purpose: String,
    granted: bool,
    expires_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
    seq: i64,
    /// `event` (a tracked event carried it) or `api` (recorded through `/v1/consent`).
    via: &'static str,
    /// The event's source id, or the label the API call gave.
    source: Option<String>,
    /// Who recorded it through the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded_by: Option<String>,
}

/// Which part of the document comes next.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The events, newest first.
    Events,
    /// The consent decisions those events carry, read in a second pass over the same
    /// pages so that neither part is held in memory whole.
    Consent,
    Done,
}

/// The subject's profile's timeline, a page at a time, twice.
struct Pages {
    principal: TenantPrincipal,
    request: PrivacyRequestId,
    state: web::Data<ApiState>,
    tenant: TenantId,
    generation: i64,
    rules: IdentityRules,
    profile: Option<ProfileId>,
    part: Part,
    before: Option<i64>,
    events_written: u64,
    consent_written: u64,
}

impl Pages {
    /// The next piece of the document; then nothing (also after an error, which cuts the
    /// document short, so that it lacks its closing `"complete": true`).
    async fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        if self.part == Part::Done {
            return Ok(None);
        }
        let step = self.next_piece().await;
        if step.is_err() {
            self.part = Part::Done;
        }
        step.map(Some)
    }

    async fn next_piece(&mut self) -> Result<Bytes, ApiError> {
        let events = self.next_page().await?;
        let mut out = Vec::new();
        if events.is_empty() {
            self.before = None;
            match self.part {
                Part::Events => {
                    out.extend_from_slice(b"],\"event_count\":");
                    serde_json::to_writer(&mut out, &self.events_written)
                        .map_err(ApiError::internal)?;
                    out.extend_from_slice(b",\"consent_history\":[");
                    self.part = Part::Consent;
                }
                Part::Consent | Part::Done => {
                    self.still_whole().await?;
                    record_export(
                        &self.principal,
                        &self.state,
                        self.request,
                        self.events_written,
                    )
                    .await?;
                    out.extend_from_slice(b"],\"complete\":true}");
                    self.part = Part::Done;
                }
            }
            return Ok(Bytes::from(out));
        }
        for event in &events {
            match self.part {
                Part::Events => {
                    if self.events_written > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, event).map_err(ApiError::internal)?;
                    self.events_written += 1;
                }
                Part::Consent | Part::Done => {
                    for change in self.consent_of(event) {
                        if self.consent_written > 0 {
                            out.push(b',');
                        }
                        serde_json::to_writer(&mut out, &change).map_err(ApiError::internal)?;
                        self.consent_written += 1;
                    }
                }
            }
        }
        Ok(Bytes::from(out))
    }

    async fn next_page(&mut self) -> Result<Vec<TimelineEvent>, ApiError> {
        let Some(profile) = self.profile else {
            return Ok(Vec::new());
        };
        let filter = store::TimelineFilter {
            before: self.before,
            limit: PAGE,
            event_type: None,
            event_name: None,
            since: None,
            until: None,
        };
        let rows = store::timeline(
            &self.state.db,
            self.tenant,
            self.generation,
            profile,
            &filter,
        )
        .await
        .map_err(store_error)?;
        self.before = rows.last().map(|r| r.seq);
        timeline_events(&self.state, self.tenant, rows).await
    }

    /// The generation read from is still there: a rebuild that replaced it meanwhile
    /// (its rows are then removed) would have cut the timeline short without a sign.
    async fn still_whole(&self) -> Result<(), ApiError> {
        let live = store::generations(&self.state.db, self.tenant)
            .await
            .map_err(store_error)?
            .into_iter()
            .any(|g| g.generation == self.generation && g.status != store::Status::Retired);
        if live || self.profile.is_none() {
            Ok(())
        } else {
            Err(ApiError::NotReady(
                "the profiles were rebuilt during the download; download it again",
            ))
        }
    }

    /// The consent decisions an event carries.
    fn consent_of(&self, event: &TimelineEvent) -> Vec<ConsentChange> {
        let Some(payload) = &event.payload else {
            return Vec::new();
        };
        let source = event.source_id.map(|s| s.to_string());
        let Some(observation) = observe(
            event.seq,
            source.clone(),
            event.occurred_at,
            payload,
            &self.rules,
        ) else {
            return Vec::new();
        };
        let text = |field: &str| {
            payload
                .get(field)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let (via, source, recorded_by) = if observation.event_type == CONSENT_EVENT_TYPE {
            ("api", text("source"), text("recordedBy"))
        } else {
            ("event", source, None)
        };
        observation
            .consent
            .into_iter()
            .map(|(purpose, granted, expires_at)| ConsentChange {
                purpose,
                granted,
                expires_at,
                at: observation.at,
                seq: event.seq,
                via,
                source: source.clone(),
                recorded_by: recorded_by.clone(),
            })
            .collect()
    }
}

/// The whole document is written: the request is completed (the first time) and the
/// audit chain records who took the export.
async fn record_export(
    principal: &TenantPrincipal,
    state: &ApiState,
    id: PrivacyRequestId,
    events: u64,
) -> Result<(), ApiError> {
    let tenant = principal.tenant_id;
    let txn = begin_write(&state.db).await?;
    let open = cdp_privacy::get(&txn, tenant, id)
        .await
        .map_err(privacy_error)?
        .is_some_and(|r| r.status.is_open());
    if open {
        cdp_privacy::mark_done(&txn, tenant, id, Utc::now())
            .await
            .map_err(privacy_error)?;
    }
    record(
        &txn,
        principal,
        "privacy.access.exported",
        id,
        serde_json::json!({"events": events}),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}
