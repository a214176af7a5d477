//! The log event of a data-subject request that names its subject (an erasure or an
//! access request).
//!
//! It goes through the log, not around it, so that it takes its place among the
//! subject's events. An erasure order asks the projector to erase: everything before it
//! is erased with the profile, and the projector carries it out in the transaction that
//! moves its checkpoint past it (exactly once). An access record only keeps the subject,
//! sealed under the subject's own key, for the export to read: the request row never
//! holds it, and an erasure later makes it unreadable with the rest.

use cdp_domain::{EventId, PrivacyRequestId, SYSTEM_MESSAGE_ID_PREFIX};
use cdp_keyring::{KeyringError, SubjectKey};
use cdp_log::NewEvent;
use chrono::Utc;
use serde::{Deserialize, Serialize};

/// A system event (no source) about one person, sealed under `key`, their data key.
pub(crate) fn sealed_system_event(
    event_type: &str,
    message_id: String,
    key: &SubjectKey,
    body: &[u8],
) -> Result<NewEvent, KeyringError> {
    let event_id = EventId::new();
    let now = Utc::now();
    Ok(NewEvent {
        event_id,
        message_id,
        event_type: event_type.to_owned(),
        source_id: None,
        received_at: now,
        occurred_at: now,
        key_id: key.key_id(),
        payload: key.seal(event_id, body)?,
    })
}

use crate::RequestKind;

pub const ERASURE_EVENT_TYPE: &str = "privacy.erasure";
pub const ACCESS_EVENT_TYPE: &str = "privacy.access";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSubject {
    #[serde(rename = "type")]
    pub kind: String,
    /// Normalized the way the tenant's identity rules store it.
    pub value: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestEvent {
    #[serde(rename = "type")]
    event_type: String,
    pub request_id: PrivacyRequestId,
    pub subject: OrderSubject,
    /// Erasure only: put the erased identities on the suppression list, so that their
    /// later events are dropped instead of starting a new profile.
    #[serde(default = "suppress_by_default")]
    pub suppress: bool,
}

fn suppress_by_default() -> bool {
    true
}

impl RequestEvent {
    pub fn erasure(request_id: PrivacyRequestId, subject: OrderSubject, suppress: bool) -> Self {
        Self {
            event_type: ERASURE_EVENT_TYPE.to_owned(),
            request_id,
            subject,
            suppress,
        }
    }

    pub fn access(request_id: PrivacyRequestId, subject: OrderSubject) -> Self {
        Self {
            event_type: ACCESS_EVENT_TYPE.to_owned(),
            request_id,
            subject,
            suppress: false,
        }
    }

    pub fn kind(&self) -> RequestKind {
        if self.event_type == ERASURE_EVENT_TYPE {
            RequestKind::Erasure
        } else {
            RequestKind::Access
        }
    }

    /// One per request: the log stores a resent event once.
    pub fn message_id(&self) -> String {
        format!(
            "{SYSTEM_MESSAGE_ID_PREFIX}privacy:{}:{}",
            self.kind().as_str(),
            self.request_id
        )
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a request event serializes")
    }

    /// The event as the log stores it: a system event (no source), sealed under `key`,
    /// the data key of the subject it names.
    pub fn sealed_event(&self, key: &SubjectKey) -> Result<NewEvent, KeyringError> {
        sealed_system_event(&self.event_type, self.message_id(), key, &self.to_json())
    }

    /// The request event an opened log payload holds, if it is one.
    pub fn from_event(body: &serde_json::Value) -> Option<Self> {
        let event_type = body.get("type")?.as_str()?;
        if event_type != ERASURE_EVENT_TYPE && event_type != ACCESS_EVENT_TYPE {
            return None;
        }
        serde_json::from_value(body.clone()).ok()
    }
}

// The subject is personal data: never printed.
impl std::fmt::Debug for RequestEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestEvent")
            .field("type", &self.event_type)
            .field("request_id", &self.request_id)
            .field("subject_type", &self.subject.kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann() -> OrderSubject {
        OrderSubject {
            kind: "email".into(),
            value: "ann@example.com".into(),
        }
    }

    #[test]
    fn a_request_event_reads_back_from_its_event_and_never_prints_its_subject() {
        for event in [
            RequestEvent::erasure(PrivacyRequestId::new(), ann(), true),
            RequestEvent::access(PrivacyRequestId::new(), ann()),
        ] {
            let body: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
            let back = RequestEvent::from_event(&body).unwrap();
            assert_eq!(back, event);
            assert_eq!(back.kind(), event.kind());
            assert!(!format!("{event:?}").contains("ann@example.com"));
        }
        let track = serde_json::json!({"type": "track", "event": "x", "userId": "u"});
        assert_eq!(RequestEvent::from_event(&track), None);
    }

    #[test]
    fn each_kind_has_its_own_message_id() {
        let id = PrivacyRequestId::new();
        let erasure = RequestEvent::erasure(id, ann(), true).message_id();
        let access = RequestEvent::access(id, ann()).message_id();
        assert_eq!(
            erasure,
            format!("{SYSTEM_MESSAGE_ID_PREFIX}privacy:erasure:{id}")
        );
        assert_ne!(erasure, access);
    }
}
