//! Destinations: webhooks a tenant routes its events and audience changes to, their
//! signing secrets, and every delivery's fate (the delivery log, dead letters, replay).

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_destinations::store::{self, Delivery, Destination, DestinationInput, SealedSecret};
use cdp_destinations::{
    DeliveryStatus, DestinationError, DestinationSpec, NetworkPolicy, SECRET_PURPOSE,
    SigningSecret, check_purpose, webhook_id,
};
use cdp_domain::{DestinationId, TenantId};
use cdp_http::Routes;
use cdp_storage::begin_write;
use chrono::{TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ApiError, ApiState};

/// Deliveries per page of the delivery log.
const MAX_PAGE: u64 = 1_000;
/// The longest a rotated-out secret may keep signing.
const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;
const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Destinations");
    r.get("/v1/destinations", list)
        .summary("List the destinations")
        .ok();
    r.post("/v1/destinations", create)
        .summary("Create a webhook destination (its signing secret is shown once)")
        .body::<DestinationBody>()
        .created();
    r.get("/v1/destinations/{destination_id}", show)
        .summary("Show a destination")
        .ok();
    r.put("/v1/destinations/{destination_id}", update)
        .summary("Replace a destination's settings")
        .body::<DestinationBody>()
        .ok();
    r.delete("/v1/destinations/{destination_id}", delete)
        .summary("Delete a destination")
        .no_content();
    r.post("/v1/destinations/{destination_id}/secret", rotate_secret)
        .summary("Rotate the signing secret")
        .body::<RotateBody>()
        .ok();
    r.get("/v1/destinations/{destination_id}/deliveries", deliveries)
        .summary("The delivery log (dead letters with status=dead)")
        .query::<DeliveriesQuery>()
        .ok();
    r.get(
        "/v1/destinations/{destination_id}/deliveries/{seq}",
        delivery,
    )
    .summary("One delivery and its attempts")
    .ok();
    r.post("/v1/destinations/{destination_id}/replay", replay)
        .summary("Send deliveries again")
        .body::<ReplayBody>()
        .ok();
    r.post("/v1/destinations/{destination_id}/test", test)
        .summary("Send a signed test delivery now and say how the receiver answered")
        .ok();
}

fn storage(e: DestinationError) -> ApiError {
    ApiError::storage(e)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DestinationBody {
    name: String,
    url: String,
    /// The consent purpose a profile must have granted for anything about it to be sent.
    purpose: String,
    #[serde(default = "yes")]
    enabled: bool,
    /// What it receives (`receives`, `filter`, `mapping`), described in docs/destinations.md.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    spec: DestinationSpec,
}

fn yes() -> bool {
    true
}

impl DestinationBody {
    /// Every problem of the body at once, the resolved addresses of its host included.
    async fn checked(self, network: &NetworkPolicy) -> Result<DestinationInput, ApiError> {
        let mut problems = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            problems.push("name: 1 to 200 characters".to_owned());
        }
        let purpose = self.purpose.trim().to_lowercase();
        if let Err(e) = check_purpose(&purpose) {
            problems.push(format!("purpose: {e}"));
        }
        match network.check_url(self.url.trim()) {
            Ok(url) => {
                if let Some(ip) = refused_resolution(&url, network).await {
                    problems.push(format!("url: {}", DestinationError::ForbiddenAddress(ip)));
                }
            }
            Err(e) => problems.push(format!("url: {e}")),
        }
        problems.extend(self.spec.problems());
        if !problems.is_empty() {
            return Err(ApiError::Rejected {
                message: "the destination is not valid".into(),
                details: json!({ "problems": problems }),
            });
        }
        Ok(DestinationInput {
            name,
            url: self.url.trim().to_owned(),
            purpose,
            spec: self.spec,
            enabled: self.enabled,
        })
    }
}

/// A host name that resolves only to addresses the policy refuses, by the first of them,
/// so the mistake shows when the destination is saved rather than in its delivery log. A
/// name that does not resolve now passes: every delivery checks again when it connects.
async fn refused_resolution(url: &url::Url, network: &NetworkPolicy) -> Option<std::net::IpAddr> {
    let (Some(url::Host::Domain(host)), Some(port)) = (url.host(), url.port_or_known_default())
    else {
        return None;
    };
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::net::lookup_host((host, port)),
    )
    .await;
    let addrs: Vec<_> = match lookup {
        Ok(Ok(addrs)) => addrs.collect(),
        _ => return None,
    };
    let refused = !addrs.iter().any(|a| network.permits(a.ip()));
    addrs.first().map(|a| a.ip()).filter(|_| refused)
}

fn view(d: &Destination, counts: Option<Value>) -> Value {
    let now = Utc::now();
    let mut shown = json!({
        "id": d.id,
        "name": d.name,
        "url": d.url,
        "purpose": d.purpose,
        "enabled": d.enabled,
        "disabled_reason": d.disabled_reason,
        "receives": d.spec.receives,
        "filter": d.spec.filter,
        "mapping": d.spec.mapping,
        "breaker": {
            "state": d.breaker.phase(&cdp_destinations::Breaker::default(), now).as_str(),
            "consecutive_failures": d.breaker.consecutive_failures,
            "open_until": d.breaker.open_until,
        },
        "skipped_without_consent": d.skipped_without_consent,
        "from_seq": d.from_seq,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    });
    if let Some(counts) = counts {
        shown["deliveries"] = counts;
    }
    shown
}

fn delivery_view(destination: DestinationId, d: &Delivery) -> Value {
    json!({
        "seq": d.seq,
        "webhook_id": webhook_id(destination, d.seq),
        "kind": d.kind.as_str(),
        "profile_id": d.ordering_key,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "next_attempt_at": (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
        "first_attempt_at": d.first_attempt_at,
        "last_attempt_at": d.last_attempt_at,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "latency_ms": d.latency_ms,
        "created_at": d.created_at,
        "done_at": d.done_at,
    })
}

fn destination_id(text: &str) -> Result<DestinationId, ApiError> {
    // A malformed id and another tenant's id answer alike: not found.
    text.parse().map_err(|_| ApiError::NotFound("destination"))
}

async fn found(
    state: &ApiState,
    tenant: TenantId,
    id: DestinationId,
) -> Result<Destination, ApiError> {
    store::destination(&state.db, tenant, id)
        .await
        .map_err(storage)?
        .ok_or(ApiError::NotFound("destination"))
}

/// A new secret, sealed under the master key for storage.
fn new_secret(state: &ApiState) -> Result<(SigningSecret, SealedSecret), ApiError> {
    let secret = SigningSecret::generate();
    let id = Uuid::now_v7();
    let sealed = state
        .keyring
        .seal_platform_secret(SECRET_PURPOSE, &id.to_string(), secret.expose().as_bytes())
        .map_err(ApiError::internal)?;
    Ok((
        secret,
        SealedSecret {
            id,
            sealed,
            master_key_id: state.keyring.master_key_id().to_owned(),
            created_at: Utc::now(),
            expires_at: None,
        },
    ))
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let all = store::destinations(&state.db, principal.tenant_id)
        .await
        .map_err(storage)?;
    let shown: Vec<Value> = all.iter().map(|d| view(d, None)).collect();
    Ok(HttpResponse::Ok().json(json!({ "destinations": shown })))
}

async fn create(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<DestinationBody>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner().checked(&state.network).await?;
    let tenant = principal.tenant_id;
    let (secret, sealed) = new_secret(&state)?;
    let id = DestinationId::new();
    let txn = begin_write(&state.db).await?;
    // From the next event on: a destination is not sent the tenant's history. The head
    // stays locked until the destination is stored, so every event numbered from
    // `from_seq` commits after it, and a router that reads such an event finds it.
    let head = cdp_log::lock_head(&txn, tenant)
        .await
        .map_err(ApiError::storage)?;
    let created = store::insert_destination(&txn, tenant, id, input, head.0 + 1, sealed)
        .await
        .map_err(storage)?;
    txn.commit().await?;
    principal
        .record(
            "destination.create",
            Some(("destination", id.to_string())),
            cdp_audit::Outcome::Success,
            json!({}),
        )
        .await;
    state.wake_dispatcher();
    let mut shown = view(&created, None);
    // Shown once: the receiver verifies signatures with it.
    shown["signing_secret"] = json!(secret.expose().as_str());
    Ok(HttpResponse::Created().json(shown))
}

async fn show(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = destination_id(&id)?;
    let destination = found(&state, principal.tenant_id, id).await?;
    let counts = store::status_counts(&state.db, principal.tenant_id, id)
        .await
        .map_err(storage)?;
    Ok(HttpResponse::Ok().json(view(&destination, Some(json!(counts)))))
}

async fn update(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<DestinationBody>,
) -> Result<HttpResponse, ApiError> {
    let id = destination_id(&id)?;
    let input = body.into_inner().checked(&state.network).await?;
    let updated = store::update_destination(&state.db, principal.tenant_id, id, input)
        .await
        .map_err(storage)?
        .ok_or(ApiError::NotFound("destination"))?;
    principal
        .record(
            "destination.update",
            Some(("destination", id.to_string())),
            cdp_audit::Outcome::Success,
            json!({"enabled": updated.enabled}),
        )
        .await;
    state.wake_dispatcher();
    Ok(HttpResponse::Ok().json(view(&updated, None)))
}

async fn delete(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = destination_id(&id)?;
    let txn = begin_write(&state.db).await?;
    let deleted = store::delete_destination(&txn, principal.tenant_id, id)
        .await
        .map_err(storage)?;
    txn.commit().await?;
    if !deleted {
        return Err(ApiError::NotFound("destination"));
    }
    principal
        .record(
            "destination.delete",
            Some(("destination", id.to_string())),
            cdp_audit::Outcome::Success,
            json!({}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// How long the secret in use keeps signing beside the new one (default a day).
    keep_old_seconds: Option<i64>,
}

async fn rotate_secret(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: Option<web::Json<RotateBody>>,
) -> Result<HttpResponse, ApiError> {
    let id = destination_id(&id)?;
    let tenant = principal.tenant_id;
    found(&state, tenant, id).await?;
    let keep = body
        .map(|b| b.into_inner())
        .unwrap_or_default()
        .keep_old_seconds
        .unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&keep) {
        return Err(ApiError::Invalid(format!(
            "keep_old_seconds is 0 to {MAX_OVERLAP_SECONDS}"
        )));
    }
    let (secret, sealed) = new_secret(&state)?;
    let old_expire_at = sealed.created_at + TimeDelta::seconds(keep);
    let txn = begin_write(&state.db).await?;
    store::add_secret(&txn, tenant, id, sealed, old_expire_at)
        .await
        .map_err(storage)?;
    txn.commit().await?;
    principal
        .record(
            "destination.secret.rotate",
            Some(("destination", id.to_string())),
            cdp_audit::Outcome::Success,
            json!({"keep_old_seconds": keep}),
        )
        .await;
    Ok(HttpResponse::Ok().json(json!({
        "signing_secret": secret.expose().as_str(),
        "previous_secret_expires_at": old_expire_at,
    })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    status: Option<String>,
    #[serde(default)]
    after: i64,
    limit: Option<u64>,
}

async fn deliveries(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = destination_id(&id)?;
    let tenant = principal.tenant_id;
    found(&state, tenant, id).await?;
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(DeliveryStatus::parse(text).ok_or_else(|| {
            ApiError::Invalid("status is one of pending, delivered, dead, cancelled".into())
        })?),
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::Invalid(format!("limit is 1 to {MAX_PAGE}")));
    }
    let page = store::deliveries(&state.db, tenant, id, status, query.after.max(0), limit)
        .await
        .map_err(storage)?;
    let next_after = (page.len() as u64 == limit).then(|| page.last().map(|d| d.seq));
    let shown: Vec<Value> = page.iter().map(|d| delivery_view(id, d)).collect();
    Ok(HttpResponse::Ok().json(json!({
        "deliveries": shown,
        "next_after": next_after.flatten(),
    })))
}

async fn delivery(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, seq) = path.into_inner();
    let id = destination_id(&id)?;
    let seq: i64 = seq.parse().map_err(|_| ApiError::NotFound("delivery"))?;
    let found = store::delivery(&state.db, principal.tenant_id, id, seq)
        .await
        .map_err(storage)?
        .ok_or(ApiError::NotFound("delivery"))?;
    Ok(HttpResponse::Ok().json(delivery_view(id, &found)))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    /// The dead deliveries to replay, by position; all of them when left out.
    seqs: Option<Vec<i64>>,
}

async fn replay(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: Option<web::Json<ReplayBody>>,
) -> Result<HttpResponse, ApiError> {
    let id = destination_id(&id)?;
    let tenant = principal.tenant_id;
    found(&state, tenant, id).await?;
    let seqs = body.map(|b| b.into_inner()).unwrap_or_default().seqs;
    if seqs.as_ref().is_some_and(|s| s.len() > MAX_PAGE as usize) {
        return Err(ApiError::Invalid(format!(
            "replay at most {MAX_PAGE} deliveries by position at once, or leave seqs out for all"
        )));
    }
    let txn = begin_write(&state.db).await?;
    let replayed = store::replay(&txn, tenant, id, seqs, Utc::now())
        .await
        .map_err(storage)?;
    txn.commit().await?;
    principal
        .record(
            "destination.replay",
            Some(("destination", id.to_string())),
            cdp_audit::Outcome::Success,
            json!({"replayed": replayed}),
        )
        .await;
    state.wake_dispatcher();
    Ok(HttpResponse::Ok().json(json!({ "replayed": replayed })))
}

/// A signed sample posted now, outside the queue: how the receiver answered is the
/// answer (200 either way: the call worked, the receiver may not have).
async fn test(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = destination_id(&id)?;
    let destination = found(&state, principal.tenant_id, id).await?;
    let sent = cdp_dispatcher::send_test(&state.db, &state.keyring, &state.webhooks, &destination)
        .await
        .map_err(ApiError::storage)?;
    let outcome = if sent.delivered() {
        cdp_audit::Outcome::Success
    } else {
        cdp_audit::Outcome::Failure
    };
    principal
        .record(
            "destination.test",
            Some(("destination", id.to_string())),
            outcome,
            json!({"status": sent.status}),
        )
        .await;
    Ok(HttpResponse::Ok().json(json!({
        "delivered": sent.delivered(),
        "webhook_id": sent.webhook_id,
        "status": sent.status,
        "error": sent.error,
        "latency_ms": sent.took.as_millis() as u64,
    })))
}
