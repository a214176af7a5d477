//! What an event says about a person: identities, traits, group, consent, and what to count.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::IdentityRules;

/// One identifier value of a type, normalized (e-mail lower-cased, phone digits only).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident {
    pub kind: String,
    pub value: String,
}

/// An event as the profile projection sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub seq: i64,
    /// `identify`, `track`, `page`, `screen`, `group` or `alias`.
    pub event_type: String,
    /// What the event counts as: the track event's name, `Page Viewed`, `Screen Viewed`.
    pub counted_as: Option<String>,
    /// When it happened (the corrected timestamp).
    pub at: DateTime<Utc>,
    pub source: Option<String>,
    /// Identities the event names, blocked values left out.
    pub identities: Vec<Ident>,
    /// An alias's previous id, to be resolved against known identities.
    pub previous_id: Option<String>,
    pub traits: Map<String, Value>,
    pub group: Option<(String, Map<String, Value>)>,
    /// Consent per purpose: granted or not, and until when.
    pub consent: Vec<(String, bool, Option<DateTime<Utc>>)>,
    /// A counted event's properties (what computed traits read).
    pub properties: Map<String, Value>,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An identifier as profiles keep it: e-mail addresses lower-cased, phone numbers as digits
/// (with a leading `+` kept), other types trimmed. Lookups normalize the same way.
pub fn normalize(kind: &str, value: &str) -> String {
    match kind {
        "email" => value.trim().to_lowercase(),
        "phone" => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            if value.trim_start().starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            }
        }
        _ => value.trim().to_owned(),
    }
}

fn context_of<'a>(
    body: &'a Map<String, Value>,
    empty: &'a Map<String, Value>,
) -> &'a Map<String, Value> {
    body.get("context")
        .and_then(Value::as_object)
        .unwrap_or(empty)
}

/// Traits: an identify's own, over the context traits any call may carry.
fn traits_of(
    event_type: &str,
    body: &Map<String, Value>,
    context: &Map<String, Value>,
) -> Map<String, Value> {
    let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();
    let mut traits = object(context.get("traits"));
    if event_type == "identify" {
        traits.extend(object(body.get("traits")));
    }
    traits
}

/// The identities an event of the tracking spec names (normalized, blocked values left
/// out), as the projection would link them: what ingestion checks against the
/// suppression list.
pub fn identities_in(body: &Map<String, Value>, rules: &IdentityRules) -> Vec<Ident> {
    let event_type = body.get("type").and_then(Value::as_str).unwrap_or_default();
    let empty = Map::new();
    let context = context_of(body, &empty);
    let traits = traits_of(event_type, body, context);
    identities_from(body, context, &traits, rules)
}

fn identities_from(
    body: &Map<String, Value>,
    context: &Map<String, Value>,
    traits: &Map<String, Value>,
    rules: &IdentityRules,
) -> Vec<Ident> {
    let mut identities = Vec::new();
    let mut push = |kind: &str, value: Option<String>| {
        if let Some(value) = value {
            let value = normalize(kind, &value);
            if !rules.is_blocked(&value) {
                identities.push(Ident {
                    kind: kind.to_owned(),
                    value,
                });
            }
        }
    };
    push("user_id", text(body.get("userId")));
    push("anonymous_id", text(body.get("anonymousId")));
    push("email", text(traits.get("email")));
    push("phone", text(traits.get("phone")));
    let external_ids = context.get("externalIds").and_then(Value::as_array);
    for entry in external_ids.into_iter().flatten() {
        let (Some(kind), Some(id)) = (
            entry.get("type").and_then(Value::as_str),
            text(entry.get("id")),
        ) else {
            continue;
        };
        if kind == "email" || kind == "phone" {
            push(kind, Some(id));
        } else if let Some((name, _)) = rules
            .custom
            .iter()
            .find(|(_, custom)| custom.external_id_type.as_deref() == Some(kind))
        {
            push(name, Some(id));
        }
    }
    for (name, custom) in &rules.custom {
        if let Some(trait_name) = &custom.trait_name {
            push(name, text(traits.get(trait_name)));
        }
    }
    identities.sort();
    identities.dedup();
    identities
}

/// A consent change recorded through the API: `{"type": "consent", "subject": {"type",
/// "value"}, "context": {"consent": {…}}, "source": …}`. It names its person by one
/// identity, and carries nothing but consent.
pub const CONSENT_EVENT_TYPE: &str = "consent";

/// The identity a consent record names, normalized (none if blocked or malformed).
fn subject_of(body: &Map<String, Value>, rules: &IdentityRules) -> Vec<Ident> {
    let subject = body.get("subject").and_then(Value::as_object);
    let kind = subject.and_then(|s| s.get("type")).and_then(Value::as_str);
    let value = subject.and_then(|s| s.get("value")).and_then(Value::as_str);
    match (kind, value) {
        (Some(kind), Some(value)) if rules.is_known_type(kind) => {
            let value = normalize(kind, value);
            if rules.is_blocked(&value) {
                return Vec::new();
            }
            vec![Ident {
                kind: kind.to_owned(),
                value,
            }]
        }
        _ => Vec::new(),
    }
}

/// Reads an event of the tracking spec, or a consent record; `None` for the system's
/// other events, which the profile projection does not apply.
pub fn observe(
    seq: i64,
    source: Option<String>,
    at: DateTime<Utc>,
    body: &Value,
    rules: &IdentityRules,
) -> Option<Observation> {
    let event_type = body.get("type")?.as_str()?.to_owned();
    if ![
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
        CONSENT_EVENT_TYPE,
    ]
    .contains(&event_type.as_str())
    {
        return None;
    }
    let body_map = body.as_object()?;
    let empty = Map::new();
    let context = context_of(body_map, &empty);
    if event_type == CONSENT_EVENT_TYPE {
        return Some(Observation {
            seq,
            event_type,
            counted_as: None,
            at,
            source,
            identities: subject_of(body_map, rules),
            previous_id: None,
            traits: Map::new(),
            group: None,
            consent: consent(context),
            properties: Map::new(),
        });
    }
    let traits = traits_of(&event_type, body_map, context);
    let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();

    let identities = identities_from(body_map, context, &traits, rules);

    let counted_as = match event_type.as_str() {
        "track" => text(body.get("event")),
        "page" => Some("Page Viewed".to_owned()),
        "screen" => Some("Screen Viewed".to_owned()),
        _ => None,
    };
    let group = if event_type == "group" {
        text(body.get("groupId"))
            .filter(|g| !rules.is_blocked(g))
            .map(|g| (g, object(body.get("traits"))))
    } else {
        None
    };
    let previous_id = if event_type == "alias" {
        text(body.get("previousId")).filter(|p| !rules.is_blocked(p))
    } else {
        None
    };

    let properties = if counted_as.is_some() {
        object(body.get("properties"))
    } else {
        Map::new()
    };
    Some(Observation {
        seq,
        event_type,
        counted_as,
        at,
        source,
        identities,
        previous_id,
        traits,
        group,
        consent: consent(context),
        properties,
    })
}

/// Consent from `context.consent`: either purposes mapped to booleans, or the
/// consent-management shape `{"categoryPreferences": {"Advertising": true, …}}`. Purposes are
/// lower-cased; an `expiresAt` next to them bounds every grant of the event.
fn consent(context: &Map<String, Value>) -> Vec<(String, bool, Option<DateTime<Utc>>)> {
    let Some(consent) = context.get("consent").and_then(Value::as_object) else {
        return Vec::new();
    };
    let expires = consent
        .get("expiresAt")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let purposes = consent
        .get("categoryPreferences")
        .and_then(Value::as_object)
        .unwrap_or(consent);
    let mut granted: Vec<(String, bool, Option<DateTime<Utc>>)> = purposes
        .iter()
        .filter_map(|(purpose, value)| {
            value
                .as_bool()
                .map(|g| (purpose.to_lowercase(), g, expires))
        })
        .collect();
    granted.sort_by(|a, b| a.0.cmp(&b.0));
    granted
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at() -> DateTime<Utc> {
        "2026-11-28T10:00:00Z".parse().unwrap()
    }

    fn kinds(o: &Observation) -> Vec<(&str, &str)> {
        o.identities
            .iter()
            .map(|i| (i.kind.as_str(), i.value.as_str()))
            .collect()
    }

    #[test]
    fn identities_come_from_ids_traits_and_external_ids() {
        let rules = IdentityRules::from_json(
            r#"{"merge": ["user_id", "shop_id", "anonymous_id"], "custom": {"shop_id": {"external_id_type": "shopify", "trait_name": "shopId"}}}"#,
        )
        .unwrap();
        let body = json!({"type": "identify", "userId": 42, "anonymousId": "null",
            "traits": {"email": " Ann@Example.COM ", "phone": "+1 (555) 010-0199", "plan": "pro"},
            "context": {"externalIds": [{"id": "S-1", "type": "shopify", "collection": "users", "encoding": "none"}]}});
        let o = observe(7, None, at(), &body, &rules).unwrap();
        assert_eq!(
            kinds(&o),
            [
                ("email", "ann@example.com"),
                ("phone", "+15550100199"),
                ("shop_id", "S-1"),
                ("user_id", "42")
            ]
        );
        assert_eq!(o.traits["plan"], "pro");
        // What ingestion checks against the suppression list is what the projection links.
        assert_eq!(
            identities_in(body.as_object().unwrap(), &rules),
            o.identities
        );
        let track = json!({"type": "track", "anonymousId": "a-1", "event": "x",
            "traits": {"email": "not-an-identify@example.com"},
            "context": {"traits": {"email": "Ctx@Example.com"}}});
        let named: Vec<(String, String)> = identities_in(track.as_object().unwrap(), &rules)
            .into_iter()
            .map(|i| (i.kind, i.value))
            .collect();
        assert_eq!(
            named,
            [
                ("anonymous_id".to_owned(), "a-1".to_owned()),
                ("email".to_owned(), "ctx@example.com".to_owned())
            ]
        );
    }

    #[test]
    fn a_consent_record_names_its_person_by_one_identity_and_carries_only_consent() {
        let rules = IdentityRules::default();
        let record = json!({"type": "consent", "subject": {"type": "email", "value": " Ann@Example.com"},
            "context": {"consent": {"Marketing": true, "analytics": false, "expiresAt": "2027-01-01T00:00:00Z"}},
            "traits": {"name": "ignored"}, "userId": "ignored"});
        let o = observe(9, None, at(), &record, &rules).unwrap();
        assert_eq!(kinds(&o), vec![("email", "ann@example.com")]);
        assert!(o.traits.is_empty() && o.counted_as.is_none());
        let until = "2027-01-01T00:00:00Z".parse().ok();
        assert_eq!(
            o.consent,
            vec![
                ("analytics".into(), false, until),
                ("marketing".into(), true, until)
            ]
        );
        let mut profile = crate::Profile::new(cdp_domain::ProfileId::new(), 9, at());
        profile.apply(&o);
        assert!(profile.consents_to("Marketing", at()));
        assert!(!profile.consents_to("analytics", at()), "refused");
        assert!(!profile.consents_to("personalization", at()), "never given");
        assert!(
            !profile.consents_to("marketing", until.unwrap()),
            "expired at its end"
        );
        let unknown = json!({"type": "consent", "subject": {"type": "shoe_size", "value": "9"}});
        assert!(
            observe(10, None, at(), &unknown, &rules)
                .unwrap()
                .identities
                .is_empty()
        );
    }

    #[test]
    fn counts_groups_aliases_and_consent() {
        let rules = IdentityRules::default();
        let track = observe(1, None, at(), &json!({"type": "track", "userId": "u", "event": "Order Completed", "context": {"consent": {"categoryPreferences": {"Marketing": true, "Analytics": false}}}}), &rules).unwrap();
        assert_eq!(track.counted_as.as_deref(), Some("Order Completed"));
        assert_eq!(
            track.consent,
            vec![
                ("analytics".into(), false, None),
                ("marketing".into(), true, None)
            ]
        );
        let page = observe(
            2,
            None,
            at(),
            &json!({"type": "page", "anonymousId": "a"}),
            &rules,
        )
        .unwrap();
        assert_eq!(page.counted_as.as_deref(), Some("Page Viewed"));
        let group = observe(
            3,
            None,
            at(),
            &json!({"type": "group", "userId": "u", "groupId": "org-1", "traits": {"seats": 5}}),
            &rules,
        )
        .unwrap();
        assert_eq!(
            group.group,
            Some((
                "org-1".into(),
                json!({"seats": 5}).as_object().unwrap().clone()
            ))
        );
        let alias = observe(
            4,
            None,
            at(),
            &json!({"type": "alias", "userId": "u", "previousId": "a"}),
            &rules,
        )
        .unwrap();
        assert_eq!(alias.previous_id.as_deref(), Some("a"));
        assert!(observe(5, None, at(), &json!({"type": "identity.merged"}), &rules).is_none());
    }
}
