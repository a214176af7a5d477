//! Random streams of tracking events for property tests of identity resolution: a few
//! users, anonymous ids and e-mail addresses, so that links, merges and placeholders
//! (`"null"`) happen often.

use proptest::prelude::*;
use serde_json::{Value, json};

/// One tracking-spec event body naming a user id or an anonymous id (or both).
pub fn event_body() -> impl Strategy<Value = Value> {
    let user = prop_oneof![Just(None), (0..4u8).prop_map(|u| Some(format!("u{u}")))];
    let anonymous = prop_oneof![
        Just(None),
        Just(Some("null".to_owned())),
        (0..6u8).prop_map(|a| Some(format!("a{a}")))
    ];
    let email = prop_oneof![
        Just(None),
        (0..3u8).prop_map(|e| Some(format!("p{e}@example.com")))
    ];
    (0..5u8, user, anonymous, email, 0..3u8).prop_map(|(kind, user, anonymous, email, n)| {
        let mut body = match kind {
            0 => json!({"type": "identify", "traits": {"n": n}}),
            1 => json!({"type": "track", "event": format!("E{n}")}),
            2 => json!({"type": "alias", "previousId": format!("a{n}")}),
            3 => json!({"type": "group", "groupId": format!("g{n}"), "traits": {"size": n}}),
            _ => json!({"type": "page"}),
        };
        // The tracking API requires one of the two.
        let anonymous = match (&user, anonymous) {
            (None, None) => Some("a0".to_owned()),
            (_, anonymous) => anonymous,
        };
        if let Some(u) = user {
            body["userId"] = json!(u);
        }
        if let Some(a) = anonymous {
            body["anonymousId"] = json!(a);
        }
        if let Some(e) = email {
            body["context"] = json!({"traits": {"email": e}});
        }
        body
    })
}
