//! Data-subject requests, for compliance officers. An erasure request is recorded, its
//! order appended to the tenant's log (sealed under the subject's own key), and the
//! projector carries it out; the request shows its progress and, once done, its receipt.
//! An access request is recorded the same way, and its export is read on download.

mod consent;
mod export;
mod receipt;
mod retention;

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{Identity, KeySubject, PrivacyRequestId};
use cdp_http::{Content, Routes};
use cdp_keyring::KeyringError;
use cdp_privacy::{
    OrderSubject, PrivacyRequest, Regulation, RequestEvent, RequestFilter, RequestKind,
    RequestStatus,
};
use cdp_profiles::normalize;
use cdp_storage::begin_write;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::{ApiError, ApiState};

const MAX_LIMIT: u64 = 500;

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Privacy");
    r.post("/v1/privacy/requests", create)
        .summary("File a data-subject request (access or erasure)")
        .body::<NewRequest>()
        .answers(202, Content::object());
    r.get("/v1/privacy/requests", list)
        .summary("List data-subject requests")
        .query::<ListQuery>()
        .ok();
    r.get("/v1/privacy/requests/{request_id}", show)
        .summary("Show a data-subject request")
        .ok();
    r.get("/v1/privacy/requests/{request_id}/export", export::download)
        .summary("Download an access request's export")
        .ok();
    r.get(
        "/v1/privacy/requests/{request_id}/receipt/verify",
        receipt::verify,
    )
    .summary("Verify an erasure receipt")
    .ok();
    r.post("/v1/consent", consent::record)
        .summary("Record a person's consent")
        .body::<consent::NewConsent>()
        .answers(202, Content::object());
    r.get("/v1/consent", consent::overview)
        .summary("How many profiles granted, refused or let expire each purpose")
        .ok();
    r.get("/v1/retention", retention::show)
        .summary("Show the retention policy")
        .ok();
    r.put("/v1/retention", retention::set)
        .summary("Set the retention policy")
        .body::<retention::NewRetention>()
        .ok();
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    #[serde(rename = "type")]
    kind: String,
    subject: SubjectInput,
    regulation: Option<String>,
    /// For an erasure: put the erased identities on the suppression list (the default).
    suppress: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubjectInput {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

fn privacy_error(e: cdp_privacy::PrivacyError) -> ApiError {
    ApiError::storage(e)
}

async fn create(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<NewRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let body = body.into_inner();
    let kind = RequestKind::parse(&body.kind).ok_or_else(|| {
        ApiError::Invalid("type must be one of access, erasure, suppression, unsuppression".into())
    })?;
    if body.suppress.is_some() && kind != RequestKind::Erasure {
        return Err(ApiError::Invalid(
            "suppress applies to erasure requests only".into(),
        ));
    }
    let regulation = match body.regulation.as_deref() {
        None => Regulation::default(),
        Some(r) => Regulation::parse(r)
            .ok_or_else(|| ApiError::Invalid("regulation must be gdpr or ccpa".into()))?,
    };
    let identity = subject_identity(&state, tenant, &body.subject).await?;
    if matches!(kind, RequestKind::Suppression | RequestKind::Unsuppression) {
        return change_suppression(&principal, &state, kind, identity, regulation).await;
    }
    let key = state
        .keyring
        .subject_key(tenant, &KeySubject::Identity(identity.clone()))
        .await
        .map_err(keyring_error)?;

    let txn = begin_write(&state.db).await?;
    let request = cdp_privacy::insert(
        &txn,
        tenant,
        kind,
        identity.kind().as_str(),
        regulation,
        principal.actor().id,
    )
    .await
    .map_err(privacy_error)?;
    let subject = OrderSubject {
        kind: identity.kind().as_str().to_owned(),
        value: identity.value().to_owned(),
    };
    let event = if kind == RequestKind::Erasure {
        RequestEvent::erasure(request.id, subject, body.suppress.unwrap_or(true))
    } else {
        RequestEvent::access(request.id, subject)
    };
    let event = event.sealed_event(&key).map_err(ApiError::internal)?;
    let appended = cdp_log::append(&txn, tenant, vec![event])
        .await
        .map_err(ApiError::storage)?;
    let log_seq = appended.first().map(|a| a.seq().0);
    if let Some(seq) = log_seq {
        cdp_privacy::set_log_seq(&txn, tenant, request.id, seq)
            .await
            .map_err(privacy_error)?;
    }
    record(
        &txn,
        &principal,
        "privacy.request.create",
        request.id,
        serde_json::json!({
            "type": kind.as_str(),
            "subject_type": identity.kind().as_str(),
            "regulation": regulation.as_str(),
        }),
    )
    .await?;
    txn.commit().await?;
    state.wake_projector(tenant);
    Ok(HttpResponse::Accepted().json(PrivacyRequest { log_seq, ..request }))
}

/// A suppression or unsuppression: carried out at once, in the request's transaction.
async fn change_suppression(
    principal: &TenantPrincipal,
    state: &ApiState,
    kind: RequestKind,
    identity: Identity,
    regulation: Regulation,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let subject_type = identity.kind().as_str().to_owned();
    let hash = state
        .keyring
        .suppression_refs(tenant, &[identity])
        .await
        .map_err(keyring_error)?
        .pop()
        .ok_or(ApiError::NotFound("tenant"))?;
    let txn = begin_write(&state.db).await?;
    let request = cdp_privacy::insert(
        &txn,
        tenant,
        kind,
        &subject_type,
        regulation,
        principal.actor().id,
    )
    .await
    .map_err(privacy_error)?;
    let changed = if kind == RequestKind::Suppression {
        cdp_privacy::suppress(
            &txn,
            tenant,
            &[(subject_type.clone(), hash)],
            Some(request.id),
        )
        .await
    } else {
        cdp_privacy::unsuppress(&txn, tenant, &[hash]).await
    }
    .map_err(privacy_error)?;
    let now = Utc::now();
    cdp_privacy::mark_done(&txn, tenant, request.id, now)
        .await
        .map_err(privacy_error)?;
    record(
        &txn,
        principal,
        &format!("privacy.{}", kind.as_str()),
        request.id,
        serde_json::json!({"subject_type": subject_type, "changed": changed}),
    )
    .await?;
    txn.commit().await?;
    cdp_privacy::suppressions_changed();
    let done = cdp_privacy::get(&state.db, tenant, request.id)
        .await
        .map_err(privacy_error)?
        .ok_or(ApiError::NotFound("privacy request"))?;
    Ok(HttpResponse::Ok().json(done))
}

/// Records a request in the tenant's audit chain, in the request's transaction (never the
/// subject's value: only its type).
async fn record(
    txn: &sea_orm::DatabaseTransaction,
    principal: &TenantPrincipal,
    action: &str,
    request: PrivacyRequestId,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let entry = principal.audit_entry(
        action,
        Some(("privacy_request", request.to_string())),
        cdp_audit::Outcome::Success,
        details,
    );
    cdp_audit::append(txn, cdp_audit::Chain::Tenant(principal.tenant_id), entry).await?;
    Ok(())
}

/// The subject as the projections store it: a known identity type, its value normalized.
async fn subject_identity(
    state: &ApiState,
    tenant: cdp_domain::TenantId,
    subject: &SubjectInput,
) -> Result<Identity, ApiError> {
    let rules = crate::profiles::generation_rules(state, tenant).await?;
    if !rules.is_known_type(&subject.kind) {
        return Err(ApiError::Invalid(format!(
            "unknown subject type {:?}: use user_id, anonymous_id, email, phone, or a custom type of the identity rules",
            subject.kind
        )));
    }
    // The same bound as every identity's, said in the request's terms.
    if subject.value.trim().is_empty() || subject.value.len() > Identity::MAX_VALUE_BYTES {
        return Err(ApiError::Invalid(format!(
            "subject value must be 1 to {} bytes",
            Identity::MAX_VALUE_BYTES
        )));
    }
    Identity::parse(&subject.kind, normalize(&subject.kind, &subject.value))
        .map_err(|e| ApiError::Invalid(e.to_string()))
}

fn keyring_error(e: KeyringError) -> ApiError {
    match e {
        KeyringError::TenantShredded(_) | KeyringError::UnknownTenant(_) => {
            ApiError::NotFound("tenant")
        }
        other => ApiError::storage(other),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    overdue: bool,
    before: Option<String>,
    #[serde(default = "default_limit")]
    limit: u64,
}

fn default_limit() -> u64 {
    100
}

#[derive(Serialize)]
struct RequestPage {
    requests: Vec<PrivacyRequest>,
    /// Pass as `before` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<PrivacyRequestId>,
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    if query.limit == 0 || query.limit > MAX_LIMIT {
        return Err(ApiError::Invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let filter = RequestFilter {
        status: query
            .status
            .map(|s| {
                RequestStatus::parse(&s).ok_or_else(|| {
                    ApiError::Invalid(
                        "status must be received, in_progress, completed or failed".into(),
                    )
                })
            })
            .transpose()?,
        kind: query
            .kind
            .map(|k| {
                RequestKind::parse(&k).ok_or_else(|| {
                    ApiError::Invalid(
                        "type must be access, erasure, suppression or unsuppression".into(),
                    )
                })
            })
            .transpose()?,
        overdue: query.overdue,
        before: query.before.map(|b| parse_id(&b)).transpose()?,
        limit: query.limit,
    };
    let requests = cdp_privacy::list(&state.db, principal.tenant_id, &filter)
        .await
        .map_err(privacy_error)?;
    let next_before = (requests.len() as u64 == filter.limit)
        .then(|| requests.last().map(|r| r.id))
        .flatten();
    Ok(HttpResponse::Ok().json(RequestPage {
        requests,
        next_before,
    }))
}

/// A request of this tenant by its id, which must be of `kind` (else 400 with `wrong_kind`).
async fn request_of_kind(
    state: &ApiState,
    tenant: cdp_domain::TenantId,
    raw_id: &str,
    kind: RequestKind,
    wrong_kind: &str,
) -> Result<PrivacyRequest, ApiError> {
    let request = cdp_privacy::get(&state.db, tenant, parse_id(raw_id)?)
        .await
        .map_err(privacy_error)?
        .ok_or(ApiError::NotFound("privacy request"))?;
    if request.kind != kind {
        return Err(ApiError::Invalid(wrong_kind.to_owned()));
    }
    Ok(request)
}

fn parse_id(raw: &str) -> Result<PrivacyRequestId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::Invalid("a privacy request id looks like dsr_…".into()))
}

async fn show(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let request = cdp_privacy::get(&state.db, principal.tenant_id, id)
        .await
        .map_err(privacy_error)?
        .ok_or(ApiError::NotFound("privacy request"))?;
    Ok(HttpResponse::Ok().json(request))
}
