//! Keyring tests against a real key store (SQLite, or PostgreSQL when DATABASE_URL is set).

use cdp_domain::{EventId, Identity, IdentityKind, KeySubject, TenantId};
use cdp_keyring::{Keyring, KeyringError, KeyringOptions, MasterKey, Opened};
use cdp_storage::begin_write;
use cdp_testkit::TestDb;

async fn tenant_with_key(t: &TestDb, keyring: &Keyring) -> TenantId {
    let tenant = TenantId::new();
    let txn = begin_write(&t.db).await.unwrap();
    keyring.create_tenant_key(&txn, tenant).await.unwrap();
    txn.commit().await.unwrap();
    tenant
}

fn email(value: &str) -> KeySubject {
    KeySubject::Identity(Identity::new(IdentityKind::Email, value).unwrap())
}

#[tokio::test]
async fn sealed_data_opens_after_a_restart_with_the_same_master_key() {
    let t = TestDb::new().await;
    let tenant = tenant_with_key(&t, &t.keyring()).await;
    let event = EventId::new();
    let (key_id, sealed) = t
        .keyring()
        .seal(tenant, event, &email("ann@example.com"), b"payload")
        .await
        .unwrap();
    match t
        .keyring()
        .open(tenant, event, key_id, &sealed)
        .await
        .unwrap()
    {
        Opened::Plain(bytes) => assert_eq!(bytes, b"payload"),
        Opened::Shredded => panic!("a live key reported shredded"),
    }
}

#[tokio::test]
async fn another_master_key_is_named_as_the_problem() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = tenant_with_key(&t, &keyring).await;
    let (key_id, sealed) = keyring
        .seal(tenant, EventId::new(), &email("a@b.c"), b"x")
        .await
        .unwrap();
    let stranger = Keyring::new(
        t.db.clone(),
        MasterKey::generate().unwrap(),
        KeyringOptions::default(),
    );
    let err = stranger
        .open(tenant, EventId::new(), key_id, &sealed)
        .await
        .unwrap_err();
    assert!(matches!(err, KeyringError::WrongMasterKey { .. }), "{err}");
}

#[tokio::test]
async fn the_tenant_marker_and_identities_get_separate_keys() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = tenant_with_key(&t, &keyring).await;
    let own = keyring
        .subject_key(tenant, &KeySubject::Tenant)
        .await
        .unwrap();
    let ann = keyring
        .subject_key(tenant, &email("ann@example.com"))
        .await
        .unwrap();
    let ann_phone = keyring
        .subject_key(
            tenant,
            &KeySubject::Identity(Identity::new(IdentityKind::Phone, "ann@example.com").unwrap()),
        )
        .await
        .unwrap();
    assert_ne!(own.key_id(), ann.key_id());
    assert_ne!(
        ann.key_id(),
        ann_phone.key_id(),
        "the same value under another kind is another identity"
    );
    assert_eq!(
        keyring
            .subject_key(tenant, &KeySubject::Tenant)
            .await
            .unwrap()
            .key_id(),
        own.key_id()
    );
}

#[tokio::test]
async fn unknown_tenants_are_an_error_not_a_new_key() {
    let t = TestDb::new().await;
    let err = t
        .keyring()
        .subject_key(TenantId::new(), &email("a@b.c"))
        .await
        .unwrap_err();
    assert!(matches!(err, KeyringError::UnknownTenant(_)), "{err}");
}

#[tokio::test]
async fn preloading_a_batch_of_keys_serves_every_open_from_the_cache() {
    let t = TestDb::new().await;
    let writer = t.keyring();
    let tenant = tenant_with_key(&t, &writer).await;
    let mut sealed = Vec::new();
    for who in ["a@example.com", "b@example.com", "gone@example.com"] {
        let event = EventId::new();
        let (key_id, bytes) = writer
            .seal(tenant, event, &email(who), who.as_bytes())
            .await
            .unwrap();
        sealed.push((event, key_id, bytes));
    }
    writer
        .shred_subject(tenant, &email("gone@example.com"))
        .await
        .unwrap()
        .unwrap();

    let reader = t.keyring();
    let mut ids: Vec<_> = sealed.iter().map(|(_, k, _)| *k).collect();
    ids.push(cdp_domain::DataKeyId::new());
    reader.preload(tenant, &ids).await.unwrap();
    let before = reader.cache_stats();
    let mut opened = Vec::new();
    for (event, key_id, bytes) in &sealed {
        opened.push(reader.open(tenant, *event, *key_id, bytes).await.unwrap());
    }
    let after = reader.cache_stats();
    assert_eq!(
        (after.hits - before.hits, after.misses - before.misses),
        (3, 0)
    );
    assert!(matches!(&opened[0], Opened::Plain(b) if b == b"a@example.com"));
    assert!(matches!(&opened[1], Opened::Plain(b) if b == b"b@example.com"));
    assert!(
        matches!(opened[2], Opened::Shredded),
        "a shredded key preloads as shredded"
    );
}

#[tokio::test]
async fn the_key_cache_serves_repeated_use() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = tenant_with_key(&t, &keyring).await;
    let subject = email("ann@example.com");
    let first = keyring.subject_key(tenant, &subject).await.unwrap();
    let before = keyring.cache_stats();
    for _ in 0..10 {
        assert_eq!(
            keyring
                .subject_key(tenant, &subject)
                .await
                .unwrap()
                .key_id(),
            first.key_id()
        );
    }
    let after = keyring.cache_stats();
    assert_eq!(after.hits - before.hits, 10);
    assert_eq!(after.misses, before.misses);
}

#[tokio::test]
async fn no_key_material_or_identity_shows_in_debug_output() {
    let t = TestDb::new().await;
    let master = MasterKey::generate().unwrap();
    let encoded = master.to_base64().to_string();
    let keyring = Keyring::new(t.db.clone(), master, KeyringOptions::default());
    let tenant = tenant_with_key(&t, &keyring).await;
    let subject = email("ann.secret@example.com");
    let key = keyring.subject_key(tenant, &subject).await.unwrap();
    let event = EventId::new();
    let opened = keyring
        .open(
            tenant,
            event,
            key.key_id(),
            &key.seal(event, b"very private").unwrap(),
        )
        .await
        .unwrap();
    let shown = format!(
        "{keyring:?} {key:?} {opened:?} {subject:?} {:?}",
        KeyringError::Tampered
    );
    for secret in [encoded.as_str(), "ann.secret@example.com", "very private"] {
        assert!(!shown.contains(secret), "{secret:?} leaked into {shown}");
    }
}

/// Two processes creating keys for the same new subjects at once, listed in opposite
/// orders: neither may fail, and both must end up with the same key for each subject. (On
/// PostgreSQL, multi-row inserts that take the same unique entries in different orders
/// deadlock; the benchmark suite hit it under concurrent ingestion.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_key_creation_in_opposite_orders_agrees_and_never_fails() {
    let t = TestDb::new().await;
    let tenant = tenant_with_key(&t, &t.keyring()).await;
    for round in 0..10 {
        let subjects: Vec<KeySubject> = (0..300)
            .map(|i| email(&format!("person{round}-{i}@example.com")))
            .collect();
        let reversed: Vec<KeySubject> = subjects.iter().rev().cloned().collect();
        let (a, b) = (t.keyring(), t.keyring());
        let (forward, backward) = tokio::join!(
            a.subject_keys(tenant, &subjects),
            b.subject_keys(tenant, &reversed)
        );
        let (forward, backward) = (forward.unwrap(), backward.unwrap());
        for (x, y) in forward.iter().zip(backward.iter().rev()) {
            assert_eq!(x.key_id(), y.key_id());
        }
    }
}

#[tokio::test]
async fn keys_destroyed_by_another_process_stop_opening_once_this_one_looks() {
    let t = TestDb::new().await;
    let here = t.keyring();
    let there = t.keyring();
    let tenant = tenant_with_key(&t, &here).await;
    let event = EventId::new();
    let (key_id, sealed) = here
        .seal(tenant, event, &email("ann@example.com"), b"x")
        .await
        .unwrap();
    let opened = |keyring: Keyring, tenant, key_id, sealed: Vec<u8>| async move {
        keyring.open(tenant, event, key_id, &sealed).await.unwrap()
    };
    assert!(matches!(
        opened(here.clone(), tenant, key_id, sealed.clone()).await,
        Opened::Plain(_)
    ));

    assert!(there.shred_data_key(tenant, key_id).await.unwrap());
    // Until it looks, this process still holds the unwrapped key: the window the look
    // closes.
    assert!(matches!(
        opened(here.clone(), tenant, key_id, sealed.clone()).await,
        Opened::Plain(_)
    ));
    assert!(here.look_for_key_changes().await.unwrap() >= 1);
    assert!(matches!(
        opened(here.clone(), tenant, key_id, sealed.clone()).await,
        Opened::Shredded
    ));

    // A whole tenant destroyed elsewhere, likewise; other tenants' keys keep working.
    let other = tenant_with_key(&t, &here).await;
    let (other_key, other_sealed) = here
        .seal(other, event, &email("bob@example.org"), b"y")
        .await
        .unwrap();
    let third = tenant_with_key(&t, &here).await;
    let (third_key, third_sealed) = here
        .seal(third, event, &email("cy@example.net"), b"z")
        .await
        .unwrap();
    there.shred_tenant(other).await.unwrap();
    here.look_for_key_changes().await.unwrap();
    assert!(matches!(
        opened(here.clone(), other, other_key, other_sealed).await,
        Opened::Shredded
    ));
    assert!(matches!(
        opened(here.clone(), third, third_key, third_sealed).await,
        Opened::Plain(_)
    ));
}

/// Reads the tenant key versions: (state, wrapped key still there) per version.
async fn versions(t: &TestDb, tenant: TenantId) -> Vec<(String, bool)> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = t.db.get_database_backend();
    let sql = match backend {
        sea_orm::DatabaseBackend::Sqlite => {
            "SELECT state, wrapped_key IS NOT NULL FROM tenant_keys WHERE tenant_id = ? ORDER BY created_at"
        }
        _ => {
            "SELECT state, wrapped_key IS NOT NULL FROM tenant_keys WHERE tenant_id = $1 ORDER BY created_at"
        }
    };
    t.db.query_all_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [tenant.as_uuid().into()],
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.try_get_by_index::<String>(0).unwrap(),
            r.try_get_by_index::<bool>(1).unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn rotating_a_tenant_key_rewraps_its_data_keys_and_destroys_the_old_version() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = tenant_with_key(&t, &keyring).await;
    let mut sealed = Vec::new();
    for i in 0..7 {
        let event = EventId::new();
        let subject = email(&format!("person{i}@example.com"));
        let (key_id, bytes) = keyring
            .seal(tenant, event, &subject, format!("event {i}").as_bytes())
            .await
            .unwrap();
        sealed.push((event, key_id, bytes, subject));
    }
    // One person erased before the rotation stays erased after it.
    let (_, erased_key, _, erased) = sealed.pop().unwrap();
    assert!(keyring.shred_data_key(tenant, erased_key).await.unwrap());
    let suppression_before = keyring
        .suppression_refs(
            tenant,
            &[Identity::new(IdentityKind::Email, "a@b.c").unwrap()],
        )
        .await
        .unwrap();

    let rotation = keyring
        .rotate_tenant_key(tenant, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(rotation.data_keys_rewrapped, 6);
    assert_eq!(rotation.versions_destroyed.len(), 1, "{rotation:?}");
    assert!(rotation.versions_kept.is_empty());
    assert_eq!(
        versions(&t, tenant).await,
        vec![("shredded".to_owned(), false), ("active".to_owned(), true)]
    );

    // A process that never saw the old version opens everything, and finds every
    // person's key where it was (the subject hashes carried over).
    let cold = t.keyring();
    for (i, (event, key_id, bytes, subject)) in sealed.iter().enumerate() {
        match cold.open(tenant, *event, *key_id, bytes).await.unwrap() {
            Opened::Plain(plain) => assert_eq!(plain, format!("event {i}").as_bytes()),
            Opened::Shredded => panic!("a rewrapped key reads as shredded"),
        }
        assert_eq!(
            cold.subject_key(tenant, subject).await.unwrap().key_id(),
            *key_id
        );
    }
    assert_eq!(
        cold.suppression_refs(
            tenant,
            &[Identity::new(IdentityKind::Email, "a@b.c").unwrap()]
        )
        .await
        .unwrap(),
        suppression_before
    );
    assert_ne!(
        cold.subject_key(tenant, &erased).await.unwrap().key_id(),
        erased_key,
        "the erased person's key did not come back"
    );

    // Again: the version made by the first rotation goes the same way.
    let again = keyring
        .rotate_tenant_key(tenant, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(again.versions_destroyed, vec![rotation.tenant_key_id]);
    assert_eq!(
        again.data_keys_rewrapped, 7,
        "six and the erased person's new one"
    );
}

#[tokio::test]
async fn a_new_master_key_takes_over_from_the_previous_one_without_losing_anything() {
    let t = TestDb::new().await;
    let old = MasterKey::generate().unwrap();
    let old_copy = MasterKey::from_base64(&old.to_base64()).unwrap();
    let old_again = MasterKey::from_base64(&old.to_base64()).unwrap();
    let new = MasterKey::generate().unwrap();
    let new_copy = MasterKey::from_base64(&new.to_base64()).unwrap();
    let before = Keyring::new(t.db.clone(), old, KeyringOptions::default());
    let tenant = tenant_with_key(&t, &before).await;
    let event = EventId::new();
    let (key_id, sealed) = before
        .seal(tenant, event, &email("ann@example.com"), b"kept")
        .await
        .unwrap();

    // Every process restarted with the new key and the old one as previous.
    let during = Keyring::with_previous_masters(
        t.db.clone(),
        new,
        vec![old_copy],
        KeyringOptions::default(),
    );
    assert!(matches!(
        during.open(tenant, event, key_id, &sealed).await.unwrap(),
        Opened::Plain(_)
    ));
    let rotation = during.rewrap_under_current_master().await.unwrap();
    // (A database shared with other tests holds tenants of other master keys too: those
    // are counted as left, not touched.)
    assert!(rotation.tenant_keys_rewrapped >= 1, "{rotation:?}");

    // The previous key can go: the new one alone opens everything.
    let after = Keyring::new(t.db.clone(), new_copy, KeyringOptions::default());
    match after.open(tenant, event, key_id, &sealed).await.unwrap() {
        Opened::Plain(plain) => assert_eq!(plain, b"kept"),
        Opened::Shredded => panic!("lost in the rotation"),
    }
    // A process started with only the old key now is refused, naming the key it lacks.
    let behind = Keyring::new(t.db.clone(), old_again, KeyringOptions::default());
    assert!(matches!(
        behind.open(tenant, event, key_id, &sealed).await,
        Err(KeyringError::WrongMasterKey { .. })
    ));
}

#[tokio::test]
async fn keys_past_retention_are_destroyed_by_period_and_the_rest_stay() {
    use cdp_keyring::Retention;
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = tenant_with_key(&t, &keyring).await;
    let other = tenant_with_key(&t, &keyring).await;
    // Sealed before the tenant had a retention period: kept for good.
    let early = EventId::new();
    let (early_key, early_sealed) = keyring
        .seal(tenant, early, &email("early@example.com"), b"before")
        .await
        .unwrap();

    keyring
        .set_retention(tenant, Retention::of_days(30).unwrap())
        .await
        .unwrap();
    assert_eq!(
        keyring.retention(tenant).await.unwrap(),
        Some(Retention { days: 30 })
    );
    let event = EventId::new();
    let ann = email("ann@example.com");
    let (ann_key, ann_sealed) = keyring.seal(tenant, event, &ann, b"ann").await.unwrap();
    assert_ne!(ann_key, early_key);
    let (again, _) = keyring
        .seal(tenant, EventId::new(), &ann, b"ann 2")
        .await
        .unwrap();
    assert_eq!(again, ann_key, "one key per person per period");
    let theirs = EventId::new();
    let (their_key, their_sealed) = keyring
        .seal(other, theirs, &ann, b"another tenant's ann")
        .await
        .unwrap();

    // Within retention nothing goes; past it (and past the period's end) her key does.
    // (A database shared with other tests holds their tenants too: only these count.)
    let ours = |swept: Vec<cdp_keyring::RetentionSweep>| -> Vec<(TenantId, u64)> {
        swept
            .into_iter()
            .filter(|s| s.tenant == tenant || s.tenant == other)
            .map(|s| (s.tenant, s.keys_shredded))
            .collect()
    };
    let now = chrono::Utc::now();
    assert!(ours(keyring.expire_retained(now).await.unwrap()).is_empty());
    let later = now + chrono::TimeDelta::days(32);
    let swept = ours(keyring.expire_retained(later).await.unwrap());
    assert_eq!(swept, vec![(tenant, 1)]);
    let cold = t.keyring();
    assert!(matches!(
        cold.open(tenant, event, ann_key, &ann_sealed)
            .await
            .unwrap(),
        Opened::Shredded
    ));
    assert!(matches!(
        cold.open(tenant, early, early_key, &early_sealed)
            .await
            .unwrap(),
        Opened::Plain(_)
    ));
    assert!(matches!(
        cold.open(other, theirs, their_key, &their_sealed)
            .await
            .unwrap(),
        Opened::Plain(_)
    ));
    assert!(
        ours(keyring.expire_retained(later).await.unwrap()).is_empty(),
        "once"
    );
}

#[tokio::test]
async fn erasing_a_person_destroys_the_keys_of_every_period() {
    use cdp_keyring::Retention;
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = tenant_with_key(&t, &keyring).await;
    let ann = email("ann@example.com");
    let mut sealed = Vec::new();
    // Three policies, three period lengths: three keys of hers.
    for days in [0, 30, 90] {
        keyring
            .set_retention(tenant, Retention::of_days(days).unwrap())
            .await
            .unwrap();
        let event = EventId::new();
        let (key_id, bytes) = keyring.seal(tenant, event, &ann, b"ann").await.unwrap();
        sealed.push((event, key_id, bytes));
    }
    let ids: std::collections::BTreeSet<_> = sealed.iter().map(|s| s.1).collect();
    assert_eq!(ids.len(), 3);
    let txn = begin_write(&t.db).await.unwrap();
    let shredded = keyring
        .shred_subjects_in(&txn, tenant, std::slice::from_ref(&ann))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        shredded
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        ids
    );
    let cold = t.keyring();
    for (event, key_id, bytes) in sealed {
        assert!(matches!(
            cold.open(tenant, event, key_id, &bytes).await.unwrap(),
            Opened::Shredded
        ));
    }
}

#[tokio::test]
async fn a_process_that_has_not_seen_a_rotation_yet_still_opens_rewrapped_keys() {
    let t = TestDb::new().await;
    let here = t.keyring();
    let there = t.keyring();
    let tenant = tenant_with_key(&t, &here).await;
    // This process holds the tenant's keys as they were before the rotation.
    here.seal(tenant, EventId::new(), &email("x@example.com"), b"x")
        .await
        .unwrap();
    let event = EventId::new();
    let (key_id, sealed) = there
        .seal(tenant, event, &email("y@example.com"), b"y")
        .await
        .unwrap();
    let rotation = there
        .rotate_tenant_key(tenant, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(rotation.versions_destroyed.len(), 1);
    // Its key is wrapped under a version this process has not read: it reads the
    // tenant's keys again instead of taking the key for destroyed.
    match here.open(tenant, event, key_id, &sealed).await.unwrap() {
        Opened::Plain(plain) => assert_eq!(plain, b"y"),
        Opened::Shredded => panic!("a rewrapped key taken for destroyed"),
    }
    // And new keys it makes go under the new version, so they survive the next rotation.
    let later = EventId::new();
    let (new_key, new_sealed) = here
        .seal(tenant, later, &email("z@example.com"), b"z")
        .await
        .unwrap();
    there
        .rotate_tenant_key(tenant, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(
        t.keyring()
            .open(tenant, later, new_key, &new_sealed)
            .await
            .unwrap(),
        Opened::Plain(_)
    ));
}
