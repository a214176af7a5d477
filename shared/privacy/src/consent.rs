//! A consent change recorded through the API (a preference centre, a call centre, a
//! signed form): a log event of its own, sealed under the person's data key, which the
//! profile projection applies as it applies the consent tracked events carry. So every
//! change, whichever way it came, is in the log with its time and source, and an
//! erasure makes it unreadable with the rest.

use std::collections::BTreeMap;

use cdp_domain::SYSTEM_MESSAGE_ID_PREFIX;
use cdp_keyring::{KeyringError, SubjectKey};
use cdp_log::NewEvent;
use cdp_profiles::CONSENT_EVENT_TYPE;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::OrderSubject;
use crate::order::sealed_system_event;

pub struct ConsentRecord {
    pub subject: OrderSubject,
    /// Purpose (lower case) → granted.
    pub purposes: BTreeMap<String, bool>,
    /// Until when the grants hold.
    pub expires_at: Option<DateTime<Utc>>,
    /// Where the decision was taken (a free label such as `preference-centre`).
    pub source: Option<String>,
    /// The member or key that recorded it.
    pub recorded_by: Option<String>,
}

impl ConsentRecord {
    pub fn to_json(&self) -> Value {
        let mut consent: Map<String, Value> = self
            .purposes
            .iter()
            .map(|(purpose, granted)| (purpose.clone(), Value::Bool(*granted)))
            .collect();
        if let Some(until) = self.expires_at {
            consent.insert("expiresAt".into(), json!(until));
        }
        json!({
            "type": CONSENT_EVENT_TYPE,
            "subject": {"type": self.subject.kind, "value": self.subject.value},
            "context": {"consent": consent},
            "source": self.source,
            "recordedBy": self.recorded_by,
        })
    }

    pub fn sealed_event(&self, key: &SubjectKey) -> Result<NewEvent, KeyringError> {
        let body = serde_json::to_vec(&self.to_json()).expect("a consent record serializes");
        let message_id = format!("{SYSTEM_MESSAGE_ID_PREFIX}consent:{}", uuid::Uuid::now_v7());
        sealed_system_event(CONSENT_EVENT_TYPE, message_id, key, &body)
    }
}

// The subject is personal data: never printed.
impl std::fmt::Debug for ConsentRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentRecord")
            .field("subject_type", &self.subject.kind)
            .field("purposes", &self.purposes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use cdp_profiles::{IdentityRules, observe};

    use super::*;

    #[test]
    fn the_projection_reads_a_consent_record_as_consent_of_its_subject() {
        let until: DateTime<Utc> = "2027-06-01T00:00:00Z".parse().unwrap();
        let record = ConsentRecord {
            subject: OrderSubject {
                kind: "user_id".into(),
                value: "42".into(),
            },
            purposes: BTreeMap::from([("marketing".into(), true), ("analytics".into(), false)]),
            expires_at: Some(until),
            source: Some("preference-centre".into()),
            recorded_by: Some("usr_1".into()),
        };
        let o = observe(
            1,
            None,
            Utc::now(),
            &record.to_json(),
            &IdentityRules::default(),
        )
        .unwrap();
        assert_eq!(o.identities.len(), 1);
        assert_eq!(
            (
                o.identities[0].kind.as_str(),
                o.identities[0].value.as_str()
            ),
            ("user_id", "42")
        );
        assert_eq!(
            o.consent,
            vec![
                ("analytics".into(), false, Some(until)),
                ("marketing".into(), true, Some(until))
            ]
        );
        assert!(!format!("{record:?}").contains("42"));
    }
}
