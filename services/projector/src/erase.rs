//! Carrying out an erasure order when the projector reaches it in the log.
//!
//! One transaction, under the tenant's lease: the profiles go from every generation, the
//! data keys of every identity they held are destroyed, those identities go on the
//! suppression list (unless the request said not to), the request records its receipt,
//! the audit chain records the erasure, and the checkpoint moves past the order. A crash
//! before the commit leaves the order to be carried out again; after it, the order is
//! sealed under a destroyed key and reads as shredded, so no generation (and no rebuild)
//! carries it out twice or brings anything back.

use cdp_audit::{Actor, AuditEntry, Chain, Outcome};
use cdp_domain::{Identity, KeySubject, TenantId};
use cdp_privacy::{Receipt, RequestEvent, RequestKind};
use cdp_profile_store::{self as store, GenerationState};
use cdp_storage::begin_write;
use chrono::Utc;
use serde_json::json;

use crate::ProjectionError;
use crate::batch::Settings;

pub(crate) async fn carry_out(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    seq: i64,
    order: &RequestEvent,
) -> Result<(), ProjectionError> {
    let txn = begin_write(s.db).await?;
    if !store::hold_lease(&txn, tenant, s.holder, s.lease_ttl).await? {
        return Err(ProjectionError::LeaseLost);
    }
    let subject = (order.subject.kind.clone(), order.subject.value.clone());
    let erased = store::erase_profiles(&txn, tenant, order.request_id.as_uuid(), subject).await?;
    let identities: Vec<Identity> = erased
        .identities
        .iter()
        .filter_map(|(kind, value)| Identity::parse(kind, value.clone()).ok())
        .collect();
    let subjects: Vec<KeySubject> = identities
        .iter()
        .cloned()
        .map(KeySubject::Identity)
        .collect();
    // Read while their keys still open them: another erasure of the same person, filed
    // before this one was carried out, may ask for suppression where this one did not.
    let others = other_open_records(s, &txn, tenant, order).await?;
    let keys = s
        .keyring
        .shred_subjects_in(&txn, tenant, &subjects)
        .await
        .map_err(ProjectionError::Keyring)?;
    // Deliveries waiting for the person's events are cancelled with the keys that seal
    // them, so the delivery log says why they will never arrive.
    cdp_destinations::store::cancel_for_keys(&txn, tenant, &keys, chrono::Utc::now())
        .await
        .map_err(|e| match e {
            cdp_destinations::DestinationError::Db(e) => ProjectionError::Db(e),
            other => ProjectionError::Db(sea_orm::DbErr::Custom(other.to_string())),
        })?;
    let covered: Vec<&OtherRecord> = others.iter().filter(|o| keys.contains(&o.key_id)).collect();
    let suppress = order.suppress || covered.iter().any(|o| o.suppress);
    let identities_suppressed = if suppress {
        let refs = s
            .keyring
            .suppression_refs(tenant, &identities)
            .await
            .map_err(ProjectionError::Keyring)?;
        let entries: Vec<(String, String)> = identities
            .iter()
            .zip(refs)
            .map(|(identity, hash)| (identity.kind().as_str().to_owned(), hash))
            .collect();
        cdp_privacy::suppress(&txn, tenant, &entries, Some(order.request_id))
            .await
            .map_err(ProjectionError::Privacy)?;
        entries.len() as u64
    } else {
        0
    };
    store::advance(&txn, tenant, generation.generation, seq, 1, 0, 0).await?;
    let audit = cdp_audit::append(
        &txn,
        Chain::Tenant(tenant),
        AuditEntry::of(
            Actor::system(),
            None,
            "privacy.erasure.erased",
            Some(("privacy_request", order.request_id.to_string())),
            Outcome::Success,
            json!({
                "keys_shredded": keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                "identities_erased": erased.identities.len(),
                "profiles_erased": erased.profiles,
                "identities_suppressed": identities_suppressed,
                "log_seq": seq,
            }),
        ),
    )
    .await
    .map_err(ProjectionError::Audit)?;
    let receipt = Receipt {
        keys_shredded: keys.clone(),
        identities_erased: erased.identities.len() as u64,
        profiles_erased: erased.profiles,
        identities_suppressed,
        log_seq: seq,
        erased_at: audit.at,
        audit_seq: audit.seq,
        audit_hash: audit.hash,
        completed_at: None,
        covered_by: None,
    };
    cdp_privacy::mark_erased(&txn, tenant, order.request_id, &receipt)
        .await
        .map_err(ProjectionError::Privacy)?;
    close_covered(&txn, tenant, &covered, &receipt, order).await?;
    txn.commit().await?;
    s.keyring.shredded_keys_committed(tenant, &keys);
    if identities_suppressed > 0 {
        cdp_privacy::suppressions_changed();
    }
    tracing::info!(
        tenant_id = %tenant,
        request_id = %order.request_id,
        keys = keys.len(),
        profiles = erased.profiles,
        at = Utc::now().to_rfc3339(),
        "erased a data subject"
    );
    Ok(())
}

/// Another open request with a record in the log, as this erasure found it.
struct OtherRecord {
    record: cdp_privacy::OpenRecord,
    key_id: cdp_domain::DataKeyId,
    /// For an erasure order: whether it asks for suppression.
    suppress: bool,
}

async fn other_open_records(
    s: &Settings<'_>,
    txn: &sea_orm::DatabaseTransaction,
    tenant: TenantId,
    order: &RequestEvent,
) -> Result<Vec<OtherRecord>, ProjectionError> {
    let open: Vec<cdp_privacy::OpenRecord> = cdp_privacy::open_records(txn, tenant)
        .await
        .map_err(ProjectionError::Privacy)?
        .into_iter()
        .filter(|r| r.id != order.request_id)
        .collect();
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<cdp_domain::Seq> = open.iter().map(|r| cdp_domain::Seq(r.log_seq)).collect();
    let events = cdp_log::read_at(txn, tenant, &seqs).await?;
    let mut others = Vec::with_capacity(open.len());
    for record in open {
        let Some(event) = events.iter().find(|e| e.seq.0 == record.log_seq) else {
            continue;
        };
        let opened = s
            .keyring
            .open(tenant, event.event_id, event.key_id, &event.payload)
            .await
            .map_err(ProjectionError::Keyring)?;
        let suppress = match opened {
            cdp_keyring::Opened::Plain(bytes) => serde_json::from_slice(&bytes)
                .ok()
                .and_then(|body| RequestEvent::from_event(&body))
                .is_some_and(|e| e.kind() == RequestKind::Erasure && e.suppress),
            cdp_keyring::Opened::Shredded => false,
        };
        others.push(OtherRecord {
            record,
            key_id: event.key_id,
            suppress,
        });
    }
    Ok(others)
}

/// Other open requests whose records were sealed under a key this erasure destroyed
/// (the same person named again before it was carried out, or an access request not
/// answered yet): their records are unreadable now, so the projector would skip an
/// erasure order and no export could be taken. An erasure among them is done by this one
/// and says so; an access request can no longer be answered and fails.
async fn close_covered(
    txn: &sea_orm::DatabaseTransaction,
    tenant: TenantId,
    covered: &[&OtherRecord],
    receipt: &Receipt,
    order: &RequestEvent,
) -> Result<(), ProjectionError> {
    for other in covered {
        let record = other.record;
        match record.kind {
            RequestKind::Erasure => {
                let covered = Receipt {
                    keys_shredded: Vec::new(),
                    identities_erased: 0,
                    profiles_erased: 0,
                    identities_suppressed: 0,
                    log_seq: record.log_seq,
                    covered_by: Some(order.request_id),
                    ..receipt.clone()
                };
                cdp_privacy::mark_erased(txn, tenant, record.id, &covered).await
            }
            _ => {
                let reason = format!(
                    "the subject was erased (request {}) before this request could be answered",
                    order.request_id
                );
                cdp_privacy::mark_failed(txn, tenant, record.id, &reason).await
            }
        }
        .map_err(ProjectionError::Privacy)?;
    }
    Ok(())
}
