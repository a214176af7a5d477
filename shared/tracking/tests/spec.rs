//! The tracking spec's rules, one by one.

use cdp_domain::{EventType, IdentityKind};
use cdp_tracking::limits::{MAX_BATCH_EVENTS, MAX_EVENT_BYTES};
use cdp_tracking::{Endpoint, ErrorKind, TrackedEvent, TrackingError, parse_and_normalize};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn received() -> DateTime<Utc> {
    "2026-11-28T10:00:00Z".parse().unwrap()
}

fn run(
    endpoint: Endpoint,
    body: &Value,
) -> Result<(Option<String>, Vec<TrackedEvent>), TrackingError> {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut n = 0;
    parse_and_normalize(endpoint, &bytes, received(), &mut || {
        n += 1;
        format!("assigned-{n}")
    })
}

fn one(endpoint: Endpoint, body: Value) -> TrackedEvent {
    run(endpoint, &body).unwrap().1.remove(0)
}

fn err(endpoint: Endpoint, body: Value) -> TrackingError {
    run(endpoint, &body).unwrap_err()
}

const TRACK: Endpoint = Endpoint::Single(EventType::Track);
const IDENTIFY: Endpoint = Endpoint::Single(EventType::Identify);

#[test]
fn every_field_the_client_sent_is_kept() {
    let sent = json!({
        "userId": "u1", "event": "Order Completed",
        "properties": {"total": 12.5, "items": [{"sku": "a"}], "nested": {"deep": [1, 2, 3]}},
        "context": {"library": {"name": "analytics-python", "version": "2.3.0"}, "ip": "203.0.113.9"},
        "integrations": {"All": true}, "anonymousId": "anon-1", "customTopLevel": "kept"
    });
    let event = one(TRACK, sent.clone());
    for (key, value) in sent.as_object().unwrap() {
        assert_eq!(&event.body[key], value, "{key} changed");
    }
    assert_eq!(event.body["type"], "track");
    assert_eq!(event.body["receivedAt"], "2026-11-28T10:00:00Z");
}

#[test]
fn numeric_ids_become_strings() {
    let event = one(IDENTIFY, json!({"userId": 42, "anonymousId": 7.5}));
    assert_eq!(event.body["userId"], "42");
    assert_eq!(event.user_id.as_deref(), Some("42"));
    assert_eq!(event.body["anonymousId"], "7.5");
    assert_eq!(*event.subject().kind(), IdentityKind::UserId);
}

#[test]
fn the_anonymous_id_is_the_subject_until_the_user_is_known() {
    let event = one(TRACK, json!({"anonymousId": "a1", "event": "Viewed"}));
    assert_eq!(*event.subject().kind(), IdentityKind::AnonymousId);
    assert_eq!(event.subject().value(), "a1");
}

#[test]
fn required_fields_are_named_when_missing() {
    let cases = [
        (
            TRACK,
            json!({"event": "x"}),
            "userId or anonymousId is required",
        ),
        (TRACK, json!({"userId": "u"}), "event is required"),
        (
            TRACK,
            json!({"userId": "u", "event": "  "}),
            "event is required",
        ),
        (
            Endpoint::Single(EventType::Alias),
            json!({"userId": "u"}),
            "previousId is required",
        ),
        (
            Endpoint::Single(EventType::Alias),
            json!({"previousId": "p", "anonymousId": "a"}),
            "userId is required",
        ),
        (
            Endpoint::Single(EventType::Group),
            json!({"userId": "u"}),
            "groupId is required",
        ),
        (IDENTIFY, json!({"userId": ""}), "userId must not be empty"),
        (
            IDENTIFY,
            json!({"userId": true}),
            "userId must be a string or a number",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "traits": [1]}),
            "traits must be a JSON object",
        ),
        (
            TRACK,
            json!({"userId": "u", "event": "x", "properties": "p"}),
            "properties must be a JSON object",
        ),
        (
            TRACK,
            json!({"userId": "u", "event": 5}),
            "event is required",
        ),
        (
            IDENTIFY,
            json!({"userId": "x".repeat(1025)}),
            "userId is 1025 bytes",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "messageId": "m".repeat(257)}),
            "messageId is 257 bytes",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "timestamp": "yesterday"}),
            "timestamp is not an ISO 8601",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "sentAt": 17}),
            "sentAt must be an ISO 8601",
        ),
        (
            IDENTIFY,
            json!({"type": "track", "userId": "u"}),
            "this endpoint takes identify",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "writeKey": 5}),
            "writeKey must be a string",
        ),
    ];
    for (endpoint, body, needle) in cases {
        let e = err(endpoint, body.clone());
        assert_eq!(e.kind, ErrorKind::Invalid, "{body}");
        assert!(
            e.message.contains(needle),
            "{body}: got {:?}, wanted {needle:?}",
            e.message
        );
    }
}

#[test]
fn bodies_that_are_not_json_objects_are_refused() {
    for body in [
        &b"not json"[..],
        b"[1,2]",
        b"\"s\"",
        b"",
        b"{\"userId\": \"u\"",
        &[0xff, 0xfe],
    ] {
        let e = parse_and_normalize(IDENTIFY, body, received(), &mut || "m".into()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid, "{body:?}");
    }
}

#[test]
fn a_batch_names_the_index_of_its_bad_event_and_fails_whole() {
    let body = json!({"batch": [
        {"type": "identify", "userId": "a"},
        {"type": "track", "userId": "b", "event": "ok"},
        {"type": "track", "userId": "c"},
    ]});
    let e = err(Endpoint::Batch, body);
    assert!(e.message.contains("batch[2].event"), "{}", e.message);

    for (body, needle) in [
        (
            json!({"batch": [{"userId": "a"}]}),
            "batch[0].type is required",
        ),
        (
            json!({"batch": [{"type": "purchase", "userId": "a"}]}),
            "batch[0].type must be one of",
        ),
        (json!({"batch": [5]}), "batch[0] must be a JSON object"),
        (
            json!({"batch": {"type": "track"}}),
            "batch must be an array",
        ),
        (json!({"events": []}), "batch is required"),
        (
            json!({"batch": [{"type": "identify"}]}),
            "batch[0]: userId or anonymousId",
        ),
    ] {
        let e = err(Endpoint::Batch, body.clone());
        assert!(e.message.contains(needle), "{body}: {}", e.message);
    }
}

#[test]
fn batches_are_limited_in_count_and_events_in_size() {
    let events: Vec<Value> = (0..=MAX_BATCH_EVENTS)
        .map(|i| json!({"type": "track", "userId": i, "event": "e"}))
        .collect();
    let e = err(Endpoint::Batch, json!({"batch": events}));
    assert_eq!(e.kind, ErrorKind::TooManyEvents);
    assert!(e.message.contains("2501"), "{}", e.message);

    let big = "x".repeat(MAX_EVENT_BYTES);
    let e = err(
        Endpoint::Batch,
        json!({"batch": [{"type": "track", "userId": "u", "event": "e"}, {"type": "track", "userId": "u", "event": "e", "properties": {"blob": big}}]}),
    );
    assert_eq!(e.kind, ErrorKind::EventTooLarge);
    assert!(e.message.contains("batch[1]"), "{}", e.message);

    let e = err(
        TRACK,
        json!({"userId": "u", "event": "e", "properties": {"blob": big}}),
    );
    assert_eq!(e.kind, ErrorKind::EventTooLarge);

    let exactly_full: Vec<Value> = (0..MAX_BATCH_EVENTS)
        .map(|i| json!({"type": "track", "userId": i, "event": "e"}))
        .collect();
    assert_eq!(
        run(Endpoint::Batch, &json!({"batch": exactly_full}))
            .unwrap()
            .1
            .len(),
        MAX_BATCH_EVENTS
    );
}

#[test]
fn the_write_key_is_taken_out_of_the_stored_event() {
    let (key, events) = run(IDENTIFY, &json!({"userId": "u", "writeKey": "cdp_wk_x"})).unwrap();
    assert_eq!(key.as_deref(), Some("cdp_wk_x"));
    assert!(!events[0].body.contains_key("writeKey"));
    let (key, events) = run(Endpoint::Batch, &json!({"writeKey": "cdp_wk_y", "batch": [{"type": "identify", "userId": "u", "writeKey": "cdp_wk_z"}]})).unwrap();
    assert_eq!(key.as_deref(), Some("cdp_wk_y"));
    assert!(!events[0].body.contains_key("writeKey"));
}

#[test]
fn batch_context_applies_to_every_event_but_event_fields_win() {
    let body = json!({
        "context": {"library": {"name": "sdk"}, "ip": "1.2.3.4"},
        "integrations": {"All": false},
        "batch": [
            {"type": "identify", "userId": "a"},
            {"type": "identify", "userId": "b", "context": {"ip": "5.6.7.8"}},
        ]
    });
    let (_, events) = run(Endpoint::Batch, &body).unwrap();
    assert_eq!(
        events[0].body["context"],
        json!({"library": {"name": "sdk"}, "ip": "1.2.3.4"})
    );
    assert_eq!(
        events[1].body["context"],
        json!({"library": {"name": "sdk"}, "ip": "5.6.7.8"})
    );
    assert_eq!(events[1].body["integrations"], json!({"All": false}));
}

#[test]
fn client_clock_skew_is_corrected_with_sent_at() {
    // The client's clock runs five minutes ahead: it stamped the event at 10:04 and sent it
    // at 10:05 by its clock; the server received it at 10:00:00.
    let event = one(
        TRACK,
        json!({"userId": "u", "event": "e", "timestamp": "2026-11-28T10:04:00Z", "sentAt": "2026-11-28T10:05:00Z"}),
    );
    assert_eq!(event.body["timestamp"], "2026-11-28T09:59:00Z");
    assert_eq!(event.body["originalTimestamp"], "2026-11-28T10:04:00Z");
    assert_eq!(
        event.timestamp,
        "2026-11-28T09:59:00Z".parse::<DateTime<Utc>>().unwrap()
    );

    // A batch's sentAt serves every event in it.
    let (_, events) = run(
        Endpoint::Batch,
        &json!({"sentAt": "2026-11-28T10:05:00Z", "batch": [
            {"type": "track", "userId": "u", "event": "e", "timestamp": "2026-11-28T10:04:30Z"}
        ]}),
    )
    .unwrap();
    assert_eq!(events[0].body["timestamp"], "2026-11-28T09:59:30Z");
}

#[test]
fn without_sent_at_the_timestamp_stands_and_without_one_receipt_time_does() {
    let event = one(
        TRACK,
        json!({"userId": "u", "event": "e", "timestamp": "2020-01-01T00:00:00Z"}),
    );
    assert_eq!(event.body["timestamp"], "2020-01-01T00:00:00Z");
    let event = one(TRACK, json!({"userId": "u", "event": "e"}));
    assert_eq!(event.body["timestamp"], "2026-11-28T10:00:00Z");
    assert!(!event.body.contains_key("originalTimestamp"));
}

#[test]
fn events_more_than_a_day_ahead_are_clamped_and_flagged() {
    let event = one(
        TRACK,
        json!({"userId": "u", "event": "e", "timestamp": "2026-12-05T00:00:00Z"}),
    );
    assert!(event.timestamp_clamped);
    assert_eq!(event.body["timestamp"], "2026-11-28T10:00:00Z");
    assert_eq!(event.body["_cdp"]["timestampClamped"], true);
    assert_eq!(event.body["originalTimestamp"], "2026-12-05T00:00:00Z");

    let within_a_day = one(
        TRACK,
        json!({"userId": "u", "event": "e", "timestamp": "2026-11-29T09:00:00Z"}),
    );
    assert!(!within_a_day.timestamp_clamped);
}

#[test]
fn message_ids_are_kept_or_assigned() {
    let (_, events) = run(
        Endpoint::Batch,
        &json!({"batch": [
            {"type": "identify", "userId": "a", "messageId": "given"},
            {"type": "identify", "userId": "b"},
            {"type": "identify", "userId": "c", "messageId": 99},
        ]}),
    )
    .unwrap();
    assert_eq!(events[0].message_id, "given");
    assert_eq!(events[1].message_id, "assigned-1");
    assert_eq!(events[1].body["messageId"], "assigned-1");
    assert_eq!(events[2].message_id, "99");
}

#[test]
fn debug_output_hides_personal_data() {
    let event = one(
        IDENTIFY,
        json!({"userId": "ann@example.com", "traits": {"phone": "+15550100"}}),
    );
    let shown = format!("{event:?}");
    assert!(
        !shown.contains("ann@example.com") && !shown.contains("+15550100"),
        "{shown}"
    );
}

mod no_input_panics {
    use proptest::prelude::*;

    use super::*;

    fn endpoints() -> impl Strategy<Value = Endpoint> {
        prop_oneof![
            Just(Endpoint::Batch),
            Just(Endpoint::Single(EventType::Identify)),
            Just(Endpoint::Single(EventType::Track)),
            Just(Endpoint::Single(EventType::Alias)),
            Just(Endpoint::Single(EventType::Group)),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-zA-Z0-9:+.\\- ]{0,30}".prop_map(Value::from),
            prop_oneof![
                Just("identify"),
                Just("track"),
                Just("alias"),
                Just("group")
            ]
            .prop_map(Value::from),
            Just(Value::from("2026-11-28T10:00:00Z")),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("userId".to_owned()),
                        Just("anonymousId".to_owned()),
                        Just("event".to_owned()),
                        Just("batch".to_owned()),
                        Just("timestamp".to_owned()),
                        Just("sentAt".to_owned()),
                        Just("messageId".to_owned()),
                        Just("previousId".to_owned()),
                        Just("groupId".to_owned()),
                        Just("context".to_owned()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..8,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_bytes(endpoint in endpoints(), body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_and_normalize(endpoint, &body, received(), &mut || "m".into());
        }

        #[test]
        fn arbitrary_json(endpoint in endpoints(), body in json_value()) {
            let bytes = serde_json::to_vec(&body).unwrap();
            if let Ok((_, events)) = parse_and_normalize(endpoint, &bytes, received(), &mut || "m".into()) {
                for event in events {
                    // Whatever is accepted has a subject and a message id.
                    let _ = event.subject();
                    prop_assert!(!event.message_id.is_empty());
                }
            }
        }
    }
}

#[test]
fn values_no_database_can_hold_are_refused() {
    let cases = [
        (
            IDENTIFY,
            json!({"userId": "u", "messageId": "a\u{7}b"}),
            "messageId must not contain control characters",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "messageId": "a\u{0}b"}),
            "messageId holds the NUL character",
        ),
        (
            IDENTIFY,
            json!({"userId": "a\nb"}),
            "userId must not contain control characters",
        ),
        (
            TRACK,
            json!({"userId": "u", "event": "x", "messageId": "sys:merge:a:b"}),
            "reserved for the system's own events",
        ),
        (
            TRACK,
            json!({"userId": "u", "event": "x\u{7}"}),
            "event must not contain control characters",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "traits": {"address": {"lines": ["ok", "a\u{0}b"]}}}),
            "traits.address.lines[1] holds the NUL character",
        ),
        (
            TRACK,
            json!({"userId": "u", "event": "x", "properties": {"k\u{0}": 1}}),
            "properties.k\\0 holds the NUL character",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "timestamp": "-5000-01-01T00:00:00"}),
            "between the years 1 and 9999",
        ),
        (
            IDENTIFY,
            json!({"userId": "u", "timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-01-01T00:00:00Z"}),
            "too far apart",
        ),
    ];
    for (endpoint, body, needle) in cases {
        let e = err(endpoint, body.clone());
        assert!(e.message.contains(needle), "{body}: got {:?}", e.message);
    }
}

#[test]
fn error_messages_do_not_echo_values() {
    let e = err(
        IDENTIFY,
        json!({"userId": "u", "timestamp": "ann@example.com"}),
    );
    assert!(!e.message.contains("ann@example.com"), "{}", e.message);
}
