//! The condition language: text and JSON forms, errors with positions and paths,
//! validation, and evaluation.

use std::collections::{BTreeMap, BTreeSet};

use cdp_domain::{ProfileId, TenantId};
use cdp_profiles::{AggKind, IdentityRules, Observation, WorkingSet};
use cdp_segments::{
    Audiences, Catalog, ComputedTrait, Condition, Reads, SegmentDef, from_json, parse, to_text,
    validate,
};
use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

fn condition(text: &str) -> Condition {
    parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn the_issue_example_reads_as_json_and_back() {
    let c = condition(
        r#"trait plan = "pro" and performed "Order Completed" >= 2 times within 30 days"#,
    );
    assert_eq!(
        c.to_json(),
        json!({"and": [
            {"trait": {"name": "plan", "op": "eq", "value": "pro"}},
            {"performed": {"event": "Order Completed", "times": {"op": "gte", "value": 2}, "within": {"days": 30}}}
        ]})
    );
    assert_eq!(from_json(&c.to_json()).unwrap(), c);
    assert_eq!(
        to_text(&c),
        r#"trait plan = "pro" and performed "Order Completed" >= 2 times within 30 days"#
    );
}

#[test]
fn every_kind_of_node_reads_back_from_its_text() {
    let texts = [
        r#"not performed "Order Completed" within 90 days"#,
        r#"performed "Order Completed" where total > 100 >= 2 times within 30 days"#,
        r#"performed "Order Completed" where (total > 100 and currency in ["EUR", "USD"]) = 0 times"#,
        r#"(trait plan = "pro" or trait plan = "team") and consent "marketing""#,
        r#"computed total_revenue >= 500.5 and in segment "seg_1""#,
        r#"trait "first name" starts with "an" and trait email contains "@example.com""#,
        r#"trait signed_up within last 7 days and trait birthday before "2000-01-01""#,
        r#"trait address.city exists and not (trait vip = true and trait churned != false)"#,
        r#"trait last_order after "2026-01-01T00:00:00Z" or trait score < -3"#,
    ];
    for text in texts {
        let c = condition(text);
        assert_eq!(to_text(&c), text, "prints as written");
        assert_eq!(
            from_json(&c.to_json()).unwrap(),
            c,
            "JSON round trip of {text}"
        );
    }
}

#[test]
fn keywords_are_case_insensitive_and_spacing_free() {
    let a = condition(r#"TRAIT plan="pro" AND Performed "X">=2 Times"#);
    let b = condition(r#"trait plan = "pro" and performed "X" >= 2 times"#);
    assert_eq!(a, b);
}

#[test]
fn parse_errors_point_at_the_mistake() {
    let cases = [
        (r#"trait plan == "pro""#, 1, 13, "expected a value"),
        (r#"trait plan = "pro" and"#, 1, 23, "expected a condition"),
        (
            "trait plan = \"pro\"\n  and performed \"X\" >= two times",
            2,
            24,
            "whole number of times",
        ),
        (r#"trait plan = "pro"#, 1, 14, "never closed"),
        (r#"trait age > "old""#, 1, 11, "a number or a date"),
        (r#"(trait a = 1"#, 1, 13, "to close the `(`"),
        (
            r#"trait a = 1 trait b = 2"#,
            1,
            13,
            "expected `and`, `or` or the end",
        ),
        (
            r#"performed "X" within 30 weeks"#,
            1,
            25,
            "`days` or `hours`",
        ),
        (r#"trait a ~ 1"#, 1, 9, "unexpected character"),
        (r#"trait a = null"#, 1, 9, "a value is needed"),
    ];
    for (text, line, column, message) in cases {
        let e = parse(text).expect_err(text);
        assert_eq!((e.line, e.column), (line, column), "{text}: {e}");
        assert!(e.message.contains(message), "{text}: {e}");
    }
}

#[test]
fn json_problems_name_their_paths() {
    let bad = json!({"and": [
        {"trait": {"name": "plan", "op": "equals", "value": "pro"}},
        {"or": [{"computed": {"name": "ltv", "op": "gt", "value": "lots"}}, {"xor": []}]},
        {"performed": {"event": "X", "within": {"weeks": 2}, "times": {"op": "gte", "value": -1}}}
    ]});
    let problems = from_json(&bad).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "$.and[0].trait.op",
            "$.and[1].or[0].computed.value",
            "$.and[1].or[1]",
            "$.and[2].performed.times.value",
            "$.and[2].performed.within.weeks",
            "$.and[2].performed.within",
        ],
        "{problems:?}"
    );
    assert!(problems[0].message.contains("unknown operator \"equals\""));
    assert!(
        problems[2]
            .message
            .contains("unknown kind of condition `xor`")
    );
}

fn catalog() -> Catalog {
    Catalog {
        computed: BTreeMap::from([
            ("ltv".to_owned(), AggKind::Sum),
            ("colour".to_owned(), AggKind::MostFrequent),
        ]),
        segments: BTreeMap::from([
            ("seg_a".to_owned(), condition(r#"in segment "seg_b""#)),
            ("seg_b".to_owned(), condition(r#"trait plan = "pro""#)),
        ]),
    }
}

#[test]
fn validation_refuses_missing_references_wrong_types_and_cycles() {
    let c = condition(r#"computed ltv contains "x" or computed nope = 1 or in segment "seg_x""#);
    let problems = validate(&c, &catalog(), None).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "$.or[0].computed",
            "$.or[1].computed.name",
            "$.or[2].in_segment"
        ]
    );

    // seg_b -> seg_a -> seg_b
    let cycle = condition(r#"in segment "seg_a""#);
    let problems = validate(&cycle, &catalog(), Some("seg_b")).unwrap_err();
    assert!(problems[0].message.contains("cycle"), "{problems:?}");
    let own = validate(
        &condition(r#"in segment "seg_b""#),
        &catalog(),
        Some("seg_b"),
    )
    .unwrap_err();
    assert!(own[0].message.contains("itself"));
    assert!(
        validate(
            &condition(r#"computed colour = "red" and in segment "seg_a""#),
            &catalog(),
            Some("seg_new")
        )
        .is_ok()
    );
}

#[test]
fn computed_trait_definitions_and_presets() {
    let preset =
        ComputedTrait::from_json(&json!({"name": "ltv", "preset": "total_revenue"})).unwrap();
    assert_eq!(preset.aggregation.kind, AggKind::Sum);
    assert_eq!(preset.aggregation.property.as_deref(), Some("revenue"));
    assert_eq!(ComputedTrait::from_json(&preset.to_json()).unwrap(), preset);
    let custom = json!({"name": "colours_30d", "kind": "distinct_list", "event": "Product Viewed",
        "property": "colour", "where": [{"property": "price", "op": "gt", "value": 10}], "window": {"days": 30}});
    let t = ComputedTrait::from_json(&custom).unwrap();
    assert_eq!(t.aggregation.window_hours, Some(720));
    assert_eq!(t.to_json(), custom);
    let e =
        ComputedTrait::from_json(&json!({"name": "1x", "kind": "sum", "event": "E"})).unwrap_err();
    let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["$.name", "$.property"]);
}

// --- evaluation ---

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn event(
    seq: i64,
    user: &str,
    name: &str,
    days_ago: i64,
    properties: Value,
    traits: Value,
) -> Observation {
    let body = json!({
        "type": if name.is_empty() { "identify" } else { "track" },
        "event": name,
        "userId": user,
        "traits": traits,
        "properties": properties,
        "timestamp": (now() - TimeDelta::days(days_ago)).to_rfc3339(),
    });
    cdp_profiles::observe(
        seq,
        None,
        now() - TimeDelta::days(days_ago),
        &body,
        &IdentityRules::default(),
    )
    .expect("an event naming a user")
}

fn profiles(audiences: &Audiences, events: &[Observation]) -> Vec<cdp_profiles::Profile> {
    profiles_of(TenantId::new(), audiences, events)
}

fn profiles_of(
    tenant: TenantId,
    audiences: &Audiences,
    events: &[Observation],
) -> Vec<cdp_profiles::Profile> {
    let mut set = WorkingSet::new(tenant, IdentityRules::default(), vec![])
        .with_aggregations(audiences.aggregations().clone());
    for e in events {
        set.apply(e);
    }
    set.into_profiles().collect()
}

fn definitions(segments: &[(&str, &str)]) -> Vec<SegmentDef> {
    segments
        .iter()
        .map(|(id, text)| SegmentDef {
            id: (*id).to_owned(),
            condition: condition(text),
        })
        .collect()
}

fn everything(computed: &[ComputedTrait], segments: &[SegmentDef]) -> Audiences {
    let keys: BTreeSet<String> = Audiences::needed(computed, segments).into_keys().collect();
    Audiences::new(computed, segments, &keys)
}

#[test]
fn orders_inside_a_window_make_members_until_they_leave_it() {
    let segments = definitions(&[
        (
            "seg_buyers",
            r#"performed "Order Completed" where revenue > 100 >= 2 times within 30 days"#,
        ),
        (
            "seg_pro_buyers",
            r#"in segment "seg_buyers" and trait plan = "pro""#,
        ),
        ("seg_lapsed", r#"not in segment "seg_buyers""#),
    ]);
    let audiences = everything(&[], &segments);
    let order = |seq, days_ago, revenue| {
        event(
            seq,
            "u1",
            "Order Completed",
            days_ago,
            json!({"revenue": revenue}),
            json!({}),
        )
    };
    let events = vec![
        event(1, "u1", "", 40, json!({}), json!({"plan": "pro"})),
        order(2, 20, 150),
        order(3, 10, 50), // too small
        order(4, 5, 120),
    ];
    let p = &profiles(&audiences, &events)[0];
    let e = audiences.evaluate(p, now());
    assert_eq!(
        e.members,
        BTreeSet::from(["seg_buyers".to_owned(), "seg_pro_buyers".to_owned()])
    );
    // The order of 20 days ago leaves the window in 10 days: that is when to look again.
    let leaves = e.changes_at.expect("a window answers when it changes");
    assert_eq!(leaves, now() - TimeDelta::days(20) + TimeDelta::days(30));
    let later = audiences.evaluate(p, leaves);
    assert_eq!(later.members, BTreeSet::from(["seg_lapsed".to_owned()]));
}

#[test]
fn segments_needing_what_profiles_do_not_keep_wait() {
    let segments = definitions(&[
        ("seg_w", r#"performed "Order Completed" within 7 days"#),
        ("seg_dep", r#"in segment "seg_w" or trait a = 1"#),
        ("seg_plain", r#"performed "Order Completed" >= 1 times"#),
    ]);
    let audiences = Audiences::new(&[], &segments, &BTreeSet::new());
    assert_eq!(
        audiences.pending(),
        &BTreeSet::from(["seg_dep".to_owned(), "seg_w".to_owned()])
    );
    assert!(
        audiences.has_segments(),
        "counts without a window need no aggregation"
    );
}

#[test]
fn what_evaluation_reads_of_a_profile_follows_the_conditions() {
    let reads = |segments: &[(&str, &str)]| everything(&[], &definitions(segments)).reads();
    assert_eq!(reads(&[]), Reads::default());
    assert_eq!(
        reads(&[("seg_a", r#"not (trait plan = "pro" or in segment "seg_b")"#)]),
        Reads {
            traits: true,
            ..Reads::default()
        }
    );
    assert_eq!(
        reads(&[
            ("seg_a", r#"performed "Signed Up" >= 1 times"#),
            (
                "seg_b",
                r#"consent "email" and performed "Order Completed" within 7 days"#
            ),
        ]),
        Reads {
            counts: true,
            consent: true,
            traits: false,
        }
    );
}

#[test]
fn computed_values_of_presets() {
    let computed: Vec<ComputedTrait> = [
        "total_revenue",
        "order_count",
        "average_order_value",
        "days_since_last_order",
        "rfm_score",
    ]
    .iter()
    .map(|p| ComputedTrait::from_json(&json!({"name": p, "preset": p})).unwrap())
    .collect();
    let audiences = everything(&computed, &[]);
    let order = |seq, days_ago, revenue: Value| {
        event(
            seq,
            "u1",
            "Order Completed",
            days_ago,
            json!({"revenue": revenue}),
            json!({}),
        )
    };
    let p = &profiles(
        &audiences,
        &[order(1, 40, json!(100)), order(2, 3, json!("50.5"))],
    )[0];
    let values = audiences.computed_values(p, now());
    assert_eq!(values["total_revenue"], json!(150.5));
    assert_eq!(values["order_count"], json!(2));
    assert_eq!(values["average_order_value"], json!(75.25));
    assert_eq!(values["days_since_last_order"], json!(3));
    assert_eq!(values["rfm_score"], json!("522"));
}

// --- properties ---

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_]{0,8}",
        "[a-z]{1,4}\\.[a-z]{1,4}",
        "[ -~]{1,12}".prop_filter("not blank", |s| !s.trim().is_empty()),
        Just("and".to_owned()),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|n| json!(n)),
        (-1.0e6f64..1.0e6).prop_map(|n| json!(n)),
        "[ -~]{0,10}".prop_map(Value::String),
        "\\PC{0,6}".prop_map(Value::String),
    ]
}

fn comparison_json(subject: &'static str) -> impl Strategy<Value = Value> {
    (
        name(),
        scalar(),
        prop::collection::vec(scalar(), 0..3),
        1u32..400,
        0u8..7,
    )
        .prop_map(move |(n, v, list, days, which)| match which {
            0 => json!({subject: n, "op": "eq", "value": v}),
            1 => json!({subject: n, "op": "neq", "value": v}),
            2 => json!({subject: n, "op": "gt", "value": days}),
            3 => json!({subject: n, "op": "in", "value": list}),
            4 => json!({subject: n, "op": "exists"}),
            5 => json!({subject: n, "op": "within_last_days", "value": days}),
            _ => json!({subject: n, "op": "before", "value": "2026-05-01"}),
        })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        comparison_json("name").prop_map(|c| json!({"trait": c})),
        comparison_json("name").prop_map(|c| json!({"computed": c})),
        ("[A-Z][a-z]{0,6}( [A-Z][a-z]{0,6})?", prop::collection::vec(comparison_json("property"), 0..3), prop::option::of((0u8..6, 0u64..5)), prop::option::of(1u32..100)).prop_map(
            |(event, filters, times, days)| {
                let mut p = json!({"event": event});
                if !filters.is_empty() {
                    p["where"] = json!(filters);
                }
                if let Some((op, value)) = times {
                    p["times"] = json!({"op": (["eq", "neq", "lt", "lte", "gt", "gte"][op as usize]), "value": value});
                }
                if let Some(days) = days {
                    p["within"] = json!({"days": days});
                }
                json!({"performed": p})
            }
        ),
        "[a-z]{1,8}".prop_map(|id| json!({"in_segment": id})),
        "[a-z]{1,8}".prop_map(|purpose| json!({"consent": purpose})),
    ]
}

fn condition_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|items| json!({"and": items})),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|items| json!({"or": items})),
            inner.prop_map(|c| json!({"not": c})),
        ]
    })
}

proptest! {
    #[test]
    fn json_and_text_convert_both_ways(value in condition_json()) {
        let c = from_json(&value).expect("generated conditions are valid");
        let text = to_text(&c);
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&back, &c, "{}", text);
        prop_assert_eq!(from_json(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn the_parser_never_panics(text in "\\PC{0,80}") {
        let _ = parse(&text);
    }

    #[test]
    fn the_parser_never_panics_on_near_misses(value in condition_json(), cut in 0usize..200, noise in "[ -~]{0,3}") {
        let text = to_text(&from_json(&value).unwrap());
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let mangled = format!("{}{}{}", &text[..cut], noise, &text[cut..]);
        if let Err(e) = parse(&mangled) {
            prop_assert!(e.offset <= mangled.len());
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed(depth in 30usize..5000) {
        let text = format!("{}trait a = 1{}", "(".repeat(depth), ")".repeat(depth));
        let parsed = parse(&text);
        if depth > 32 {
            prop_assert!(parsed.is_err());
        }
        let mut value = json!({"trait": {"name": "a", "op": "exists"}});
        for _ in 0..depth.min(200) {
            value = json!({"not": value});
        }
        // serde_json's own recursion limit keeps hostile documents shallower than this.
        let _ = from_json(&value);
    }
}

/// Random profiles and random conditions: membership decided event by event (as the
/// projector does, carrying state between batches) equals membership decided on the
/// profile rebuilt from all events at once.
mod incremental_equals_rebuild {
    use super::*;

    fn random_events() -> impl Strategy<Value = Vec<(u8, u8, u8, i64, u16)>> {
        // (user, event name, plan, days ago, revenue)
        prop::collection::vec((0u8..4, 0u8..3, 0u8..3, 0i64..60, 0u16..300), 1..40)
    }

    fn observation(
        seq: i64,
        (user, name, plan, days_ago, revenue): (u8, u8, u8, i64, u16),
    ) -> Observation {
        let names = ["Order Completed", "Product Viewed", ""];
        let plans = ["free", "pro", "team"];
        event(
            seq,
            &format!("u{user}"),
            names[name as usize],
            days_ago,
            json!({"revenue": revenue, "colour": (["red", "blue"][(revenue % 2) as usize])}),
            json!({"plan": plans[plan as usize], "signed_up": (now() - TimeDelta::days(days_ago)).to_rfc3339()}),
        )
    }

    fn random_segments() -> impl Strategy<Value = Vec<Value>> {
        prop::collection::vec(condition_json(), 1..6)
    }

    fn known_conditions() -> Vec<&'static str> {
        vec![
            r#"performed "Order Completed" where revenue > 100 >= 2 times within 30 days"#,
            r#"trait plan = "pro" and not performed "Product Viewed" within 7 days"#,
            r#"computed ltv > 300 or computed colours contains "red""#,
            r#"trait signed_up within last 20 days"#,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn in_batches_or_at_once(events in random_events(), split in 1usize..10, extra in random_segments()) {
            let computed = vec![
                ComputedTrait::from_json(&json!({"name": "ltv", "preset": "total_revenue"})).unwrap(),
                ComputedTrait::from_json(&json!({"name": "colours", "kind": "distinct_list", "event": "Order Completed", "property": "colour", "window": {"days": 14}})).unwrap(),
            ];
            let mut segments: Vec<SegmentDef> = known_conditions()
                .iter()
                .enumerate()
                .map(|(i, t)| SegmentDef { id: format!("k{i}"), condition: condition(t) })
                .collect();
            for (i, v) in extra.iter().enumerate() {
                segments.push(SegmentDef { id: format!("r{i}"), condition: from_json(v).unwrap() });
            }
            let audiences = everything(&computed, &segments);
            let observations: Vec<Observation> = events.iter().enumerate().map(|(i, e)| observation(i as i64 + 1, *e)).collect();

            let tenant = TenantId::new();
            let at_once = profiles_of(tenant, &audiences, &observations);

            let mut kept: Vec<cdp_profiles::Profile> = Vec::new();
            for chunk in observations.chunks(split) {
                let mut set = WorkingSet::new(tenant, IdentityRules::default(), std::mem::take(&mut kept))
                    .with_aggregations(audiences.aggregations().clone());
                for o in chunk {
                    set.apply(o);
                }
                kept = set.into_profiles().collect();
            }
            let members = |ps: &[cdp_profiles::Profile]| -> BTreeMap<ProfileId, BTreeSet<String>> {
                ps.iter().map(|p| (p.id, audiences.evaluate(p, now()).members)).collect()
            };
            prop_assert_eq!(members(&kept), members(&at_once));
            prop_assert_eq!(kept, at_once);
        }
    }
}
