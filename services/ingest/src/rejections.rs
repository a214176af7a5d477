//! The requests each source had refused lately, for the live event debugger: whoever wires
//! up a source sees why its events were turned away (a missing field, a batch too big, a
//! rate limit) without reading the server's log, which says nothing about them anyway.
//!
//! Held in this process's memory only: the last [`PER_SOURCE`] per source, none older than
//! [`KEEP`]. A refused request stored nothing, so it has no place in the event log;
//! a deployment with several ingest processes shows each one's own.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::ResponseError;
use cdp_domain::{SourceId, TenantId};
use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use serde::Serialize;

use crate::IngestError;

pub const PER_SOURCE: usize = 50;
pub const KEEP: TimeDelta = TimeDelta::hours(1);
/// Sources followed at once; past it the one refused longest ago is forgotten.
const MAX_SOURCES: usize = 10_000;

/// One refused request, as its sender was told.
#[derive(Clone, Debug, Serialize)]
pub struct Rejection {
    /// Increasing within the process: `after` in the next read.
    pub id: u64,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

#[derive(Default)]
pub struct Rejections {
    next: AtomicU64,
    recent: Mutex<HashMap<(TenantId, SourceId), VecDeque<Rejection>>>,
}

impl Rejections {
    /// Keeps `error` when it is the sender's to mend (a 4xx other than a bad credential).
    pub fn record(&self, tenant: TenantId, source: SourceId, error: &IngestError) {
        let status = error.status_code().as_u16();
        if !(400..500).contains(&status) || status == 401 {
            return;
        }
        let rejection = Rejection {
            id: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            at: Utc::now(),
            status,
            code: error.code(),
            message: error.to_string(),
        };
        let mut recent = self.recent.lock();
        if recent.len() >= MAX_SOURCES && !recent.contains_key(&(tenant, source)) {
            let oldest = recent
                .iter()
                .min_by_key(|(_, list)| list.back().map(|r| r.id))
                .map(|(key, _)| *key);
            if let Some(key) = oldest {
                recent.remove(&key);
            }
        }
        let list = recent.entry((tenant, source)).or_default();
        if list.len() == PER_SOURCE {
            list.pop_front();
        }
        list.push_back(rejection);
    }

    /// The source's rejections after `after`, oldest first, none older than [`KEEP`].
    pub fn after(&self, tenant: TenantId, source: SourceId, after: u64) -> Vec<Rejection> {
        let since = Utc::now() - KEEP;
        self.recent
            .lock()
            .get(&(tenant, source))
            .map(|list| {
                list.iter()
                    .filter(|r| r.id > after && r.at >= since)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid() -> IngestError {
        IngestError::Forbidden("this write key belongs to a webhook source")
    }

    #[test]
    fn keeps_the_latest_per_source_apart_from_other_tenants_and_sources() {
        let rejections = Rejections::default();
        let (t1, t2) = (TenantId::new(), TenantId::new());
        let (s1, s2) = (SourceId::new(), SourceId::new());
        for _ in 0..PER_SOURCE + 5 {
            rejections.record(t1, s1, &invalid());
        }
        rejections.record(t2, s2, &invalid());
        let mine = rejections.after(t1, s1, 0);
        assert_eq!(mine.len(), PER_SOURCE);
        assert_eq!(mine.last().unwrap().status, 403);
        assert_eq!(mine.last().unwrap().code, "forbidden");
        assert!(rejections.after(t1, s2, 0).is_empty(), "another source");
        assert!(rejections.after(t2, s1, 0).is_empty(), "another tenant");
        let last = mine.last().unwrap().id;
        assert!(rejections.after(t1, s1, last).is_empty());
        assert_eq!(rejections.after(t1, s1, last - 2).len(), 2);
    }

    #[test]
    fn server_faults_and_bad_credentials_are_not_the_sender_s_to_mend() {
        let rejections = Rejections::default();
        let (t, s) = (TenantId::new(), SourceId::new());
        rejections.record(t, s, &IngestError::Overloaded);
        rejections.record(t, s, &IngestError::Unauthorized("no such key"));
        assert!(rejections.after(t, s, 0).is_empty());
    }
}
