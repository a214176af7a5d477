//! What senders are told when their requests are refused, kept for the source's live
//! debugger (`cdp_tenancy::record_rejection`): written in the background, so that refusing
//! costs the sender no wait, and at most [`PER_SECOND`] per source each second, so that a
//! flood of bad requests cannot turn into a flood of writes.

use std::collections::HashMap;

use cdp_domain::{SourceId, TenantId};
use cdp_storage::DatabaseConnection;
use parking_lot::Mutex;

use crate::IngestError;

/// Refusals kept per source per second; the debugger shows a sample beyond that.
pub const PER_SECOND: u32 = 10;
/// Sources throttled at once; past it the counts start again (a second's worth of slack).
const MAX_TRACKED: usize = 10_000;

pub(crate) struct Refusals {
    db: DatabaseConnection,
    /// Per source: the second last counted, and how many were kept in it.
    counts: Mutex<HashMap<(TenantId, SourceId), (i64, u32)>>,
}

impl Refusals {
    pub(crate) fn new(db: DatabaseConnection) -> Refusals {
        Refusals {
            db,
            counts: Mutex::default(),
        }
    }

    /// Keeps `error` when it is the sender's to mend (a 4xx other than a bad credential,
    /// which names no source anyway) and the source's share of this second is not spent.
    pub(crate) fn record(&self, tenant: TenantId, source: SourceId, error: &IngestError) {
        let status = actix_web::ResponseError::status_code(error).as_u16();
        if !(400..500).contains(&status) || status == 401 || !self.admit(tenant, source) {
            return;
        }
        let (db, code, message) = (self.db.clone(), error.code(), error.to_string());
        tokio::spawn(async move {
            if let Err(e) =
                cdp_tenancy::record_rejection(&db, tenant, source, status, code, &message).await
            {
                tracing::debug!(error = %e, "a refusal could not be kept for the source's debugger");
            }
        });
    }

    fn admit(&self, tenant: TenantId, source: SourceId) -> bool {
        let second = chrono::Utc::now().timestamp();
        let mut counts = self.counts.lock();
        if counts.len() >= MAX_TRACKED && !counts.contains_key(&(tenant, source)) {
            counts.clear();
        }
        let entry = counts.entry((tenant, source)).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        entry.1 += 1;
        entry.1 <= PER_SECOND
    }
}
