//! The erasure order: the log event that asks the projector to erase a subject.
//!
//! It goes through the log, not around it, so that it takes its place among the
//! subject's events: everything before it is erased with the profile, and the projector
//! carries it out in the transaction that moves its checkpoint past it (exactly once).

use cdp_domain::{EventId, PrivacyRequestId, SYSTEM_MESSAGE_ID_PREFIX};
use cdp_keyring::{KeyringError, SubjectKey};
use cdp_log::NewEvent;
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub const ERASURE_EVENT_TYPE: &str = "privacy.erasure";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSubject {
    #[serde(rename = "type")]
    pub kind: String,
    /// Normalized the way the tenant's identity rules store it.
    pub value: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureOrder {
    #[serde(rename = "type")]
    event_type: String,
    pub request_id: PrivacyRequestId,
    pub subject: OrderSubject,
    /// Put the erased identities on the suppression list, so that their later events are
    /// dropped instead of starting a new profile.
    #[serde(default = "suppress_by_default")]
    pub suppress: bool,
}

fn suppress_by_default() -> bool {
    true
}

impl ErasureOrder {
    pub fn new(request_id: PrivacyRequestId, subject: OrderSubject, suppress: bool) -> Self {
        Self {
            event_type: ERASURE_EVENT_TYPE.to_owned(),
            request_id,
            subject,
            suppress,
        }
    }

    /// One per request: the log stores a resent order once.
    pub fn message_id(&self) -> String {
        format!(
            "{SYSTEM_MESSAGE_ID_PREFIX}privacy:erasure:{}",
            self.request_id
        )
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an erasure order serializes")
    }

    /// The order as the log stores it: a system event (no source), sealed under `key`,
    /// the data key of the subject it names.
    pub fn sealed_event(&self, key: &SubjectKey) -> Result<NewEvent, KeyringError> {
        let event_id = EventId::new();
        let now = Utc::now();
        Ok(NewEvent {
            event_id,
            message_id: self.message_id(),
            event_type: ERASURE_EVENT_TYPE.to_owned(),
            source_id: None,
            received_at: now,
            occurred_at: now,
            key_id: key.key_id(),
            payload: key.seal(event_id, &self.to_json())?,
        })
    }

    /// The order an opened log payload holds, if it is one.
    pub fn from_event(body: &serde_json::Value) -> Option<Self> {
        if body.get("type")?.as_str()? != ERASURE_EVENT_TYPE {
            return None;
        }
        serde_json::from_value(body.clone()).ok()
    }
}

// The subject is personal data: never printed.
impl std::fmt::Debug for ErasureOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErasureOrder")
            .field("request_id", &self.request_id)
            .field("subject_type", &self.subject.kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_reads_back_from_its_event_and_never_prints_its_subject() {
        let order = ErasureOrder::new(
            PrivacyRequestId::new(),
            OrderSubject {
                kind: "email".into(),
                value: "ann@example.com".into(),
            },
            true,
        );
        let body: serde_json::Value = serde_json::from_slice(&order.to_json()).unwrap();
        assert_eq!(ErasureOrder::from_event(&body), Some(order.clone()));
        assert!(!format!("{order:?}").contains("ann@example.com"));
        let track = serde_json::json!({"type": "track", "event": "x", "userId": "u"});
        assert_eq!(ErasureOrder::from_event(&track), None);
    }
}
