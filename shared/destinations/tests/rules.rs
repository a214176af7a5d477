//! What a destination receives and how: filters, mappings, the address policy, retries
//! and the circuit breaker, decided without I/O.

use std::net::IpAddr;
use std::time::Duration;

use cdp_destinations::{
    Breaker, BreakerState, DestinationSpec, EventFacts, EventFilter, Mapping, NetworkPolicy, Phase,
    RetryPolicy, is_public,
};
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::json;

fn filter(value: serde_json::Value) -> EventFilter {
    serde_json::from_value(value).unwrap()
}

#[test]
fn filters_choose_by_source_type_name_and_fields() {
    let body = json!({"type": "track", "event": "Order Completed",
                      "properties": {"total": 120, "coupon": "SPRING", "tags": ["a", "b"]}});
    let facts = EventFacts {
        source: Some("src_1"),
        event_type: "track",
        body: &body,
    };
    assert!(
        EventFilter::default().matches(&facts),
        "an empty filter lets all through"
    );
    for (f, expected) in [
        (json!({"sources": ["src_1"]}), true),
        (json!({"sources": ["src_2"]}), false),
        (json!({"event_types": ["identify"]}), false),
        (json!({"event_names": ["Order Completed", "Refund"]}), true),
        (
            json!({"conditions": [{"path": "properties.total", "op": "gte", "value": 120}]}),
            true,
        ),
        (
            json!({"conditions": [{"path": "properties.total", "op": "gt", "value": 120}]}),
            false,
        ),
        (
            json!({"conditions": [{"path": "properties.total", "op": "eq", "value": 120.0}]}),
            true,
        ),
        (
            json!({"conditions": [{"path": "properties.coupon", "op": "contains", "value": "PRI"}]}),
            true,
        ),
        (
            json!({"conditions": [{"path": "properties.tags", "op": "contains", "value": "b"}]}),
            true,
        ),
        (
            json!({"conditions": [{"path": "properties.coupon", "op": "in", "value": ["X", "SPRING"]}]}),
            true,
        ),
        (
            json!({"conditions": [{"path": "properties.missing", "op": "exists"}]}),
            false,
        ),
        (
            json!({"conditions": [{"path": "properties.missing", "op": "not_exists"}]}),
            true,
        ),
        (
            json!({"conditions": [{"path": "properties.missing", "op": "neq", "value": 1}]}),
            true,
        ),
        // A number against a string compares nothing: the condition does not hold.
        (
            json!({"conditions": [{"path": "properties.coupon", "op": "lt", "value": 5}]}),
            false,
        ),
        // Every part must hold.
        (
            json!({"event_types": ["track"], "event_names": ["Refund"]}),
            false,
        ),
    ] {
        assert_eq!(filter(f.clone()).matches(&facts), expected, "{f}");
    }
}

#[test]
fn bad_filters_and_mappings_are_named_where_they_are_wrong() {
    let spec: DestinationSpec = serde_json::from_value(json!({
        "receives": {"events": false},
        "filter": {"conditions": [
            {"path": "a..b", "op": "exists"},
            {"path": "a", "op": "gt"},
            {"path": "a", "op": "in", "value": 3},
            {"path": "a", "op": "exists", "value": 1},
        ]},
        "mapping": {"drop": [""], "rename": [{"from": "a", "to": "b."}]},
    }))
    .unwrap();
    let problems = spec.problems();
    for expected in [
        "receives:",
        "filter.conditions[0].path",
        "filter.conditions[1].value",
        "filter.conditions[2].value",
        "filter.conditions[3].value",
        "mapping.drop[0]",
        "mapping.rename[0].to",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected} in {problems:?}"
        );
    }
    let unknown = serde_json::from_value::<DestinationSpec>(json!({"filter": {"kinds": []}}));
    assert!(unknown.is_err(), "unknown fields are refused, not ignored");
}

#[test]
fn mappings_move_and_drop_fields_and_lose_nothing_else() {
    let mapping: Mapping = serde_json::from_value(json!({
        "rename": [
            {"from": "event.properties.total", "to": "amount"},
            {"from": "event.userId", "to": "customer.id"},
            {"from": "absent", "to": "anywhere"},
            // The target's parent is not an object: the field stays where it was.
            {"from": "event.event", "to": "seq.name"},
        ],
        "drop": ["event.context.ip", "not.there"],
    }))
    .unwrap();
    let mut body = json!({"seq": 7, "event": {"event": "Order Completed", "userId": "42",
        "properties": {"total": 12.5, "sku": "A"}, "context": {"ip": "203.0.113.9", "locale": "fr"}}});
    mapping.apply(&mut body);
    assert_eq!(
        body,
        json!({"seq": 7, "amount": 12.5, "customer": {"id": "42"},
               "event": {"event": "Order Completed", "properties": {"sku": "A"},
                         "context": {"locale": "fr"}}})
    );
}

#[test]
fn only_public_addresses_unless_allowed() {
    for private in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
        "2001:db8::1",
    ] {
        let ip: IpAddr = private.parse().unwrap();
        assert!(!is_public(ip), "{private} is not public");
    }
    for public in [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "64:ff9b::808:808",
    ] {
        assert!(is_public(public.parse().unwrap()), "{public} is public");
    }
    let none = NetworkPolicy::default();
    let allowed = NetworkPolicy::parse("127.0.0.1, 10.0.0.0/8").unwrap();
    assert!(!none.permits("127.0.0.1".parse().unwrap()));
    assert!(allowed.permits("127.0.0.1".parse().unwrap()));
    assert!(allowed.permits("::ffff:127.0.0.1".parse().unwrap()));
    assert!(allowed.permits("10.200.0.1".parse().unwrap()));
    assert!(!allowed.permits("192.168.0.1".parse().unwrap()));
    assert!(NetworkPolicy::parse("10.0.0.0/33").is_err());
    assert!(NetworkPolicy::parse("intranet").is_err());

    for refused in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://[::1]/",
        "http://169.254.169.254/latest",
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "not a url",
        "https://",
    ] {
        assert!(none.check_url(refused).is_err(), "{refused}");
    }
    assert!(none.check_url("https://hooks.example.com/cdp?x=1").is_ok());
    assert!(allowed.check_url("http://127.0.0.1:8080/hook").is_ok());
}

#[test]
fn retries_back_off_with_jitter_within_the_window() {
    let policy = RetryPolicy {
        first_delay: Duration::from_secs(5),
        max_delay: Duration::from_secs(3600),
        window: Duration::from_secs(4 * 3600),
    };
    // Equal jitter: between half and all of the doubled wait.
    assert_eq!(policy.delay(1, 0.0), Duration::from_millis(2500));
    assert_eq!(policy.delay(1, 1.0), Duration::from_secs(5));
    assert_eq!(policy.delay(2, 1.0), Duration::from_secs(10));
    assert_eq!(policy.delay(4, 1.0), Duration::from_secs(40));
    assert_eq!(policy.delay(30, 1.0), Duration::from_secs(3600), "capped");
    let first = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let soon = policy.next_attempt(1, first, first, 0.5, None).unwrap();
    assert_eq!(soon - first, TimeDelta::milliseconds(3750));
    let asked = policy
        .next_attempt(1, first, first, 0.5, Some(Duration::from_secs(120)))
        .unwrap();
    assert_eq!(
        asked - first,
        TimeDelta::seconds(120),
        "Retry-After is honoured"
    );
    let late = first + TimeDelta::hours(4) - TimeDelta::seconds(1);
    assert_eq!(
        policy.next_attempt(12, first, late, 0.5, None),
        None,
        "dead after the window"
    );
    // Attempts over the whole window: the schedule, not a fixed count, ends it.
    let (mut at, mut failures) = (first, 0);
    while let Some(next) = policy.next_attempt(failures + 1, first, at, 0.5, None) {
        at = next;
        failures += 1;
    }
    assert!(
        (8..=14).contains(&failures),
        "{failures} retries in four hours"
    );
}

#[test]
fn the_breaker_opens_after_failures_in_a_row_and_half_opens_after_its_pause() {
    let breaker = Breaker {
        threshold: 3,
        cooldown: Duration::from_secs(10),
        max_cooldown: Duration::from_secs(40),
    };
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let mut state = BreakerState::default();
    for _ in 0..2 {
        state = state.after_failure(&breaker, now);
        assert_eq!(state.phase(&breaker, now), Phase::Closed);
    }
    state = state.after_failure(&breaker, now);
    assert_eq!(state.phase(&breaker, now), Phase::Open);
    assert_eq!(state.open_until, Some(now + TimeDelta::seconds(10)));
    let later = now + TimeDelta::seconds(11);
    assert_eq!(state.phase(&breaker, later), Phase::HalfOpen);
    // The probe fails: open again, for twice as long, then capped.
    state = state.after_failure(&breaker, later);
    assert_eq!(state.open_until, Some(later + TimeDelta::seconds(20)));
    let probe = later + TimeDelta::seconds(21);
    state = state.after_failure(&breaker, probe);
    assert_eq!(state.open_until, Some(probe + TimeDelta::seconds(40)));
    let probe = probe + TimeDelta::seconds(41);
    state = state.after_failure(&breaker, probe);
    assert_eq!(state.open_until, Some(probe + TimeDelta::seconds(40)));
    // One success closes it and forgets the past.
    state = state.after_success();
    assert_eq!(state, BreakerState::default());
    assert_eq!(state.phase(&breaker, later), Phase::Closed);
}

#[test]
fn a_round_failing_together_opens_the_breaker_once_for_the_first_pause() {
    // A round's attempts are in flight together; those that fail after the breaker opened
    // do not reopen it, so one bad moment costs the first pause, not the longest.
    let breaker = Breaker {
        threshold: 5,
        cooldown: Duration::from_secs(60),
        max_cooldown: Duration::from_secs(3600),
    };
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let mut state = BreakerState::default();
    for n in 0..256 {
        state = state.after_failure(&breaker, now + TimeDelta::milliseconds(n));
    }
    assert_eq!(
        state.open_until,
        Some(now + TimeDelta::milliseconds(4) + TimeDelta::seconds(60))
    );
    assert_eq!(state.times_opened, 1);
    assert_eq!(state.consecutive_failures, 256);
    // The probe after the pause fails: twice as long.
    let probe = now + TimeDelta::seconds(61);
    assert_eq!(state.phase(&breaker, probe), Phase::HalfOpen);
    state = state.after_failure(&breaker, probe);
    assert_eq!(state.open_until, Some(probe + TimeDelta::seconds(120)));
}
