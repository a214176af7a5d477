//! Identity resolution, scenario by scenario, and batch boundaries that change nothing.

use std::collections::BTreeMap;

use cdp_domain::{ProfileId, TenantId};
use cdp_profiles::{IdentityRules, Observation, Profile, WorkingSet, observe};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

/// Profiles kept between batches, as the database keeps them.
#[derive(Default, Clone)]
struct Store {
    profiles: BTreeMap<ProfileId, Profile>,
    merged_into: BTreeMap<ProfileId, ProfileId>,
}

impl Store {
    /// Runs one batch the way the projector does: load the profiles the batch's
    /// identities belong to, resolve, write the changes back.
    fn batch(&mut self, tenant: TenantId, rules: &IdentityRules, events: &[Observation]) {
        let probe = WorkingSet::new(tenant, rules.clone(), Vec::new());
        let wanted: Vec<(String, String)> = events
            .iter()
            .flat_map(|o| probe.identities_of(o))
            .map(|i| (i.kind, i.value))
            .collect();
        let loaded: Vec<Profile> = self
            .profiles
            .values()
            .filter(|p| wanted.iter().any(|w| p.identities.contains_key(w)))
            .cloned()
            .collect();
        let mut set = WorkingSet::new(tenant, rules.clone(), loaded);
        for o in events {
            set.apply(o);
        }
        for (loser, winner) in set.retired() {
            self.profiles.remove(loser);
            // Whatever pointed at the loser points at the winner now: ids always lead
            // straight to a live profile.
            for target in self.merged_into.values_mut() {
                if target == loser {
                    *target = *winner;
                }
            }
            self.merged_into.insert(*loser, *winner);
        }
        for p in set.changed() {
            self.profiles.insert(p.id, p.clone());
        }
    }

    fn owner(&self, kind: &str, value: &str) -> Option<&Profile> {
        self.profiles.values().find(|p| {
            p.identities
                .contains_key(&(kind.to_owned(), value.to_owned()))
        })
    }
}

fn t0() -> DateTime<Utc> {
    "2026-11-01T00:00:00Z".parse().unwrap()
}

fn events(rules: &IdentityRules, bodies: &[Value]) -> Vec<Observation> {
    bodies
        .iter()
        .enumerate()
        .filter_map(|(i, body)| {
            observe(
                i as i64 + 1,
                Some("src".into()),
                t0() + TimeDelta::minutes(i as i64),
                body,
                rules,
            )
        })
        .collect()
}

fn run(rules: &IdentityRules, bodies: &[Value]) -> Store {
    let tenant = TenantId::from_uuid(uuid::Uuid::nil());
    let mut store = Store::default();
    store.batch(tenant, rules, &events(rules, bodies));
    store
}

#[test]
fn two_known_users_never_merge_through_a_shared_anonymous_id() {
    let rules = IdentityRules::default();
    let store = run(
        &rules,
        &[
            json!({"type": "identify", "userId": "u1", "anonymousId": "device"}),
            json!({"type": "identify", "userId": "u2", "anonymousId": "device"}),
            json!({"type": "track", "userId": "u2", "event": "Order Completed"}),
        ],
    );
    let (u1, u2) = (
        store.owner("user_id", "u1").unwrap(),
        store.owner("user_id", "u2").unwrap(),
    );
    assert_ne!(u1.id, u2.id);
    assert_eq!(
        store.owner("anonymous_id", "device").unwrap().id,
        u1.id,
        "the device stays with its first user"
    );
    assert_eq!(u2.counts["Order Completed"].count, 1);
    assert!(store.merged_into.is_empty());
}

#[test]
fn an_anonymous_history_joins_the_profile_once_linked() {
    let rules = IdentityRules::default();
    let store = run(
        &rules,
        &[
            json!({"type": "page", "anonymousId": "a1"}),
            json!({"type": "track", "anonymousId": "a1", "event": "Product Viewed"}),
            json!({"type": "track", "userId": "u1", "event": "Product Viewed"}),
            json!({"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "pro"}}),
        ],
    );
    assert_eq!(store.profiles.len(), 1);
    let p = store.owner("user_id", "u1").unwrap();
    assert_eq!(p.counts["Product Viewed"].count, 2);
    assert_eq!(p.counts["Page Viewed"].count, 1);
    assert_eq!(p.traits["plan"].value, "pro");
    assert_eq!(
        p.created_seq, 1,
        "the older, anonymous profile survives the merge"
    );
    assert_eq!(store.merged_into.len(), 1);
}

#[test]
fn alias_joins_the_previous_id() {
    let rules = IdentityRules::default();
    let store = run(
        &rules,
        &[
            json!({"type": "track", "anonymousId": "visitor-9", "event": "Signed Up"}),
            json!({"type": "alias", "userId": "u9", "previousId": "visitor-9"}),
        ],
    );
    assert_eq!(store.profiles.len(), 1);
    let p = store.owner("user_id", "u9").unwrap();
    assert!(
        p.identities
            .contains_key(&("anonymous_id".into(), "visitor-9".into()))
    );
}

#[test]
fn blocked_values_link_nothing() {
    let rules = IdentityRules {
        blocked: vec!["*@test.invalid".into()],
        ..IdentityRules::default()
    };
    let store = run(
        &rules,
        &[
            json!({"type": "identify", "userId": "u1", "anonymousId": "undefined", "traits": {"email": "qa@test.invalid"}}),
            json!({"type": "identify", "userId": "u2", "anonymousId": "undefined", "traits": {"email": "qa@test.invalid"}}),
            json!({"type": "track", "anonymousId": "null", "event": "Ghost"}),
        ],
    );
    assert_eq!(store.profiles.len(), 2);
    assert!(store.owner("anonymous_id", "undefined").is_none());
    assert!(store.owner("email", "qa@test.invalid").is_none());
    assert!(
        store
            .profiles
            .values()
            .all(|p| !p.counts.contains_key("Ghost")),
        "an event naming nobody joins no profile"
    );
}

#[test]
fn custom_identifier_types_link_profiles() {
    let rules = IdentityRules::from_json(
        r#"{"merge": ["user_id", "crm_id", "anonymous_id"], "custom": {"crm_id": {"external_id_type": "salesforce", "trait_name": "crmId"}}}"#,
    )
    .unwrap();
    let store = run(
        &rules,
        &[
            json!({"type": "identify", "anonymousId": "a1", "traits": {"crmId": "0031x"}}),
            json!({"type": "track", "userId": "u1", "event": "Call Booked", "context": {"externalIds": [{"id": "0031x", "type": "salesforce"}]}}),
        ],
    );
    assert_eq!(store.profiles.len(), 1);
    let p = store.owner("crm_id", "0031x").unwrap();
    assert!(p.identities.contains_key(&("user_id".into(), "u1".into())));
}

#[test]
fn stricter_rules_keep_apart_what_looser_ones_joined() {
    let bodies = [
        json!({"type": "identify", "userId": "u1", "traits": {"email": "shared@example.com"}}),
        json!({"type": "identify", "anonymousId": "a2", "traits": {"email": "shared@example.com"}}),
    ];
    let loose = run(&IdentityRules::default(), &bodies);
    assert_eq!(loose.profiles.len(), 1);
    let strict = IdentityRules {
        merge: vec!["user_id".into(), "anonymous_id".into()],
        ..IdentityRules::default()
    };
    let strict = run(&strict, &bodies);
    assert_eq!(
        strict.profiles.len(),
        2,
        "without e-mail merging the two stay apart"
    );
}

#[test]
fn traits_keep_the_latest_by_event_time_whatever_the_order_received() {
    let rules = IdentityRules::default();
    let tenant = TenantId::from_uuid(uuid::Uuid::nil());
    let late = observe(
        1,
        Some("crm".into()),
        t0() + TimeDelta::hours(2),
        &json!({"type": "identify", "userId": "u", "traits": {"plan": "pro"}}),
        &rules,
    )
    .unwrap();
    let early = observe(
        2,
        Some("web".into()),
        t0(),
        &json!({"type": "identify", "userId": "u", "traits": {"plan": "free", "city": "Lyon"}}),
        &rules,
    )
    .unwrap();
    let mut store = Store::default();
    store.batch(tenant, &rules, &[late, early]);
    let p = store.owner("user_id", "u").unwrap();
    assert_eq!(p.traits["plan"].value, "pro");
    assert_eq!(p.traits["plan"].source.as_deref(), Some("crm"));
    assert_eq!(p.traits["city"].value, "Lyon");
    assert_eq!(p.first_seen, t0());
}

mod batches_change_nothing {
    use cdp_testkit::streams::event_body;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_split_into_batches_gives_the_same_profiles(
            bodies in proptest::collection::vec(event_body(), 1..60),
            cuts in proptest::collection::vec(1..10usize, 0..12),
        ) {
            let rules = IdentityRules::default();
            let tenant = TenantId::from_uuid(uuid::Uuid::nil());
            let all = events(&rules, &bodies);
            let mut whole = Store::default();
            whole.batch(tenant, &rules, &all);

            let mut pieces = Store::default();
            let mut rest: &[Observation] = &all;
            for cut in cuts.iter().cycle().take(all.len()) {
                if rest.is_empty() { break; }
                let (batch, tail) = rest.split_at((*cut).min(rest.len()));
                pieces.batch(tenant, &rules, batch);
                rest = tail;
            }
            if !rest.is_empty() {
                pieces.batch(tenant, &rules, rest);
            }
            prop_assert_eq!(&whole.profiles, &pieces.profiles);
            prop_assert_eq!(&whole.merged_into, &pieces.merged_into);
            for p in whole.profiles.values() {
                prop_assert!(p.count_of("user_id") <= 1);
            }
        }
    }
}
