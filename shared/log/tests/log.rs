//! Event log tests. They run on SQLite, or on PostgreSQL when DATABASE_URL names one.

use std::collections::HashSet;
use std::time::Duration;

use cdp_domain::{EventId, Identity, IdentityKind, KeySubject, Seq, TenantId, TenantName};
use cdp_keyring::{Keyring, KeyringError, Opened};
use cdp_log::{Appended, LogError, NewEvent, StoredEvent, append, head, lock_head, read_after};
use cdp_storage::{Backend, begin_write};
use cdp_testkit::TestDb;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;

async fn new_tenant(db: &DatabaseConnection, keyring: &Keyring) -> TenantId {
    let name = TenantName::parse("log test").unwrap();
    cdp_tenancy::create_tenant(db, keyring, name)
        .await
        .unwrap()
        .tenant_id
}

fn user(id: &str) -> KeySubject {
    KeySubject::Identity(Identity::new(IdentityKind::UserId, id).unwrap())
}

/// Seals a JSON payload for `subject` and returns the event ready to append.
async fn sealed_event(
    keyring: &Keyring,
    tenant: TenantId,
    subject: &KeySubject,
    message_id: &str,
    body: serde_json::Value,
) -> NewEvent {
    let event_id = EventId::new();
    let plaintext = serde_json::to_vec(&body).unwrap();
    let (key_id, payload) = keyring
        .seal(tenant, event_id, subject, &plaintext)
        .await
        .unwrap();
    let now = Utc::now();
    NewEvent {
        event_id,
        message_id: message_id.to_owned(),
        event_type: "track".to_owned(),
        source_id: None,
        received_at: now,
        occurred_at: now - chrono::Duration::seconds(5),
        key_id,
        payload,
    }
}

async fn append_committed(
    db: &DatabaseConnection,
    tenant: TenantId,
    events: Vec<NewEvent>,
) -> Vec<Appended> {
    let txn = begin_write(db).await.unwrap();
    let outcome = append(&txn, tenant, events).await.unwrap();
    txn.commit().await.unwrap();
    outcome
}

async fn open_json(
    keyring: &Keyring,
    event: &StoredEvent,
) -> Result<Option<serde_json::Value>, KeyringError> {
    match keyring
        .open(
            event.tenant_id,
            event.event_id,
            event.key_id,
            &event.payload,
        )
        .await?
    {
        Opened::Plain(bytes) => Ok(Some(serde_json::from_slice(&bytes).unwrap())),
        Opened::Shredded => Ok(None),
    }
}

/// A new tenant whose log holds one committed event with `body`, and that event as stored.
async fn tenant_with_one_event(
    t: &TestDb,
    keyring: &Keyring,
    body: serde_json::Value,
) -> (TenantId, StoredEvent) {
    let tenant = new_tenant(&t.db, keyring).await;
    let event = sealed_event(keyring, tenant, &user("1"), "m", body).await;
    append_committed(&t.db, tenant, vec![event]).await;
    let stored = read_after(&t.db, tenant, Seq::ZERO, 10)
        .await
        .unwrap()
        .remove(0);
    (tenant, stored)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

#[tokio::test]
async fn append_then_read_returns_every_field() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let subject = user("42");
    let body = json!({"type": "track", "event": "Order Completed", "properties": {"total": 99.5, "items": [1, 2]}});
    let event = sealed_event(&keyring, tenant, &subject, "msg-1", body.clone()).await;
    let sent = event.clone();

    assert_eq!(
        append_committed(&t.db, tenant, vec![event]).await,
        vec![Appended::New(Seq(1))]
    );

    let read = read_after(&t.db, tenant, Seq::ZERO, 100).await.unwrap();
    assert_eq!(read.len(), 1);
    let got = &read[0];
    assert_eq!(got.seq, Seq(1));
    assert_eq!(got.tenant_id, tenant);
    assert_eq!(got.event_id, sent.event_id);
    assert_eq!(got.message_id, "msg-1");
    assert_eq!(got.event_type, "track");
    assert_eq!(got.key_id, sent.key_id);
    assert_eq!(got.payload, sent.payload);
    assert_eq!(micros(got.received_at), micros(sent.received_at));
    assert_eq!(micros(got.occurred_at), micros(sent.occurred_at));
    assert_eq!(open_json(&keyring, got).await.unwrap(), Some(body));
    assert_eq!(head(&t.db, tenant).await.unwrap(), Seq(1));
}

#[tokio::test]
async fn payloads_are_not_stored_in_clear() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let marker = "ann.marker@example.com";
    let (_, stored) =
        tenant_with_one_event(&t, &keyring, json!({"traits": {"email": marker}})).await;
    let haystack = &stored.payload;
    assert!(
        !haystack
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
    );
}

#[tokio::test]
async fn duplicate_message_ids_are_stored_once() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let s = user("1");
    let first = vec![
        sealed_event(&keyring, tenant, &s, "a", json!({"n": 1})).await,
        sealed_event(&keyring, tenant, &s, "b", json!({"n": 2})).await,
        sealed_event(&keyring, tenant, &s, "a", json!({"n": 3})).await,
    ];
    assert_eq!(
        append_committed(&t.db, tenant, first).await,
        vec![
            Appended::New(Seq(1)),
            Appended::New(Seq(2)),
            Appended::Duplicate(Seq(1))
        ]
    );
    let resent = vec![
        sealed_event(&keyring, tenant, &s, "b", json!({"n": 2})).await,
        sealed_event(&keyring, tenant, &s, "c", json!({"n": 4})).await,
    ];
    assert_eq!(
        append_committed(&t.db, tenant, resent).await,
        vec![Appended::Duplicate(Seq(2)), Appended::New(Seq(3))]
    );
    assert_eq!(
        read_after(&t.db, tenant, Seq::ZERO, 100)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn message_ids_are_unique_per_tenant_not_globally() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let a = new_tenant(&t.db, &keyring).await;
    let b = new_tenant(&t.db, &keyring).await;
    let ea = sealed_event(&keyring, a, &user("1"), "same", json!({})).await;
    let eb = sealed_event(&keyring, b, &user("1"), "same", json!({})).await;
    assert_eq!(
        append_committed(&t.db, a, vec![ea]).await,
        vec![Appended::New(Seq(1))]
    );
    assert_eq!(
        append_committed(&t.db, b, vec![eb]).await,
        vec![Appended::New(Seq(1))]
    );
    assert_eq!(read_after(&t.db, a, Seq::ZERO, 10).await.unwrap().len(), 1);
    assert_eq!(read_after(&t.db, b, Seq::ZERO, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_events_are_refused_and_store_nothing() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let good = sealed_event(&keyring, tenant, &user("1"), "ok", json!({})).await;
    let mut bad = good.clone();
    bad.message_id = "x".repeat(300);
    let txn = begin_write(&t.db).await.unwrap();
    let err = append(&txn, tenant, vec![good, bad]).await.unwrap_err();
    txn.rollback().await.unwrap();
    assert!(
        matches!(err, LogError::InvalidEvent { index: 1, .. }),
        "{err}"
    );
    assert!(
        read_after(&t.db, tenant, Seq::ZERO, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn rolled_back_appends_leave_no_gap() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let s = user("1");
    append_committed(
        &t.db,
        tenant,
        vec![sealed_event(&keyring, tenant, &s, "1", json!({})).await],
    )
    .await;

    let txn = begin_write(&t.db).await.unwrap();
    let e = sealed_event(&keyring, tenant, &s, "2", json!({})).await;
    assert_eq!(
        append(&txn, tenant, vec![e]).await.unwrap(),
        vec![Appended::New(Seq(2))]
    );
    txn.rollback().await.unwrap();

    let e = sealed_event(&keyring, tenant, &s, "3", json!({})).await;
    assert_eq!(
        append_committed(&t.db, tenant, vec![e]).await,
        vec![Appended::New(Seq(2))]
    );
    let seqs: Vec<i64> = read_after(&t.db, tenant, Seq::ZERO, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq.0)
        .collect();
    assert_eq!(seqs, vec![1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_head_holds_appends_until_its_transaction_ends() {
    // What is written under the lock (a destination and the position it starts from) is
    // committed before any event numbered from there: a reader that sees such an event
    // sees what was written too.
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let (tenant, _) = tenant_with_one_event(&t, &keyring, json!({})).await;
    let e = sealed_event(&keyring, tenant, &user("2"), "2", json!({})).await;
    let txn = begin_write(&t.db).await.unwrap();
    assert_eq!(lock_head(&txn, tenant).await.unwrap(), Seq(1));
    let db = t.db.clone();
    let appending = tokio::spawn(async move { append_committed(&db, tenant, vec![e]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !appending.is_finished(),
        "an append went past the locked head"
    );
    txn.commit().await.unwrap();
    let appended = tokio::time::timeout(Duration::from_secs(30), appending)
        .await
        .expect("the append resumes once the lock is released")
        .unwrap();
    assert_eq!(appended, vec![Appended::New(Seq(2))]);
}

/// A tenant whose log is still empty gets a head to lock, at zero.
#[tokio::test]
async fn a_head_is_locked_before_the_first_event() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let txn = begin_write(&t.db).await.unwrap();
    assert_eq!(lock_head(&txn, tenant).await.unwrap(), Seq::ZERO);
    txn.commit().await.unwrap();
    let e = sealed_event(&keyring, tenant, &user("1"), "1", json!({})).await;
    assert_eq!(
        append_committed(&t.db, tenant, vec![e]).await,
        vec![Appended::New(Seq(1))]
    );
}

/// Counts the tenant's visible rows and their highest sequence in one statement, so both
/// come from one snapshot: with no holes, the count equals the maximum.
async fn visible_count_and_max(db: &DatabaseConnection, tenant: TenantId) -> (i64, i64) {
    let backend = db.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT COUNT(*) AS n, COALESCE(MAX(seq), 0) AS m FROM event_log WHERE tenant_id = {placeholder}"),
            [tenant.as_uuid().into()],
        ))
        .await
        .unwrap()
        .unwrap();
    (row.try_get("", "n").unwrap(), row.try_get("", "m").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_get_gapless_sequences_and_readers_skip_nothing() {
    const APPENDERS: usize = 6;
    const BATCHES: usize = 15;
    const PER_BATCH: usize = 4;
    const TOTAL: i64 = (APPENDERS * BATCHES * PER_BATCH) as i64;

    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;

    let mut appenders = Vec::new();
    for a in 0..APPENDERS {
        let db = t.db.clone();
        let keyring = keyring.clone();
        appenders.push(tokio::spawn(async move {
            let subject = user(&format!("appender-{a}"));
            let mut seqs = Vec::new();
            for b in 0..BATCHES {
                let mut batch = Vec::new();
                for i in 0..PER_BATCH {
                    batch.push(
                        sealed_event(
                            &keyring,
                            tenant,
                            &subject,
                            &format!("{a}-{b}-{i}"),
                            json!({"a": a}),
                        )
                        .await,
                    );
                }
                let txn = begin_write(&db).await.unwrap();
                let outcome = append(&txn, tenant, batch).await.unwrap();
                // Hold the transaction open a moment, so that a design that let a later
                // number commit first would be caught by the reader below.
                tokio::time::sleep(Duration::from_millis(1)).await;
                txn.commit().await.unwrap();
                seqs.extend(outcome.into_iter().map(Appended::seq));
            }
            seqs
        }));
    }

    let reader_db = t.db.clone();
    let reader = tokio::spawn(async move {
        let mut checkpoint = Seq::ZERO;
        let mut seen = Vec::new();
        let mut snapshots = 0;
        while checkpoint.0 < TOTAL {
            let (count, max) = visible_count_and_max(&reader_db, tenant).await;
            assert_eq!(
                count, max,
                "a reader saw sequence {max} while an earlier one was not visible"
            );
            snapshots += 1;
            let batch = read_after(&reader_db, tenant, checkpoint, 7).await.unwrap();
            for event in &batch {
                assert_eq!(event.seq, checkpoint.next());
                checkpoint = event.seq;
                seen.push(event.seq.0);
            }
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        (seen, snapshots)
    });

    let mut assigned = Vec::new();
    for task in appenders {
        assigned.extend(task.await.unwrap());
    }
    let (seen, snapshots) = reader.await.unwrap();

    assigned.sort_unstable();
    let expected: Vec<i64> = (1..=TOTAL).collect();
    assert_eq!(
        assigned.iter().map(|s| s.0).collect::<Vec<_>>(),
        expected,
        "sequences are not gapless"
    );
    assert_eq!(
        seen, expected,
        "the reader did not see every event exactly once, in order"
    );
    assert!(snapshots > 1);
    assert_eq!(head(&t.db, tenant).await.unwrap(), Seq(TOTAL));
}

#[tokio::test]
async fn the_database_refuses_update_and_delete_on_the_log() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let (tenant, stored) = tenant_with_one_event(&t, &keyring, json!({})).await;
    let before = vec![stored];

    let mut statements = vec![
        "UPDATE event_log SET event_type = 'changed'".to_owned(),
        "UPDATE event_log SET payload = payload".to_owned(),
        "DELETE FROM event_log".to_owned(),
    ];
    if t.backend == Backend::Postgres {
        statements.push("TRUNCATE event_log".to_owned());
    }
    for sql in statements {
        let err = t.db.execute_unprepared(&sql).await.expect_err(&sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(
        read_after(&t.db, tenant, Seq::ZERO, 10).await.unwrap(),
        before
    );
}

#[tokio::test]
async fn a_flipped_byte_fails_to_open() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let (_, stored) = tenant_with_one_event(&t, &keyring, json!({"x": 1})).await;
    for position in [0, 1, 13, stored.payload.len() / 2, stored.payload.len() - 1] {
        let mut altered = stored.clone();
        altered.payload[position] ^= 0x01;
        assert!(
            open_json(&keyring, &altered).await.is_err(),
            "byte {position} flipped yet opened"
        );
    }
    assert!(open_json(&keyring, &stored).await.unwrap().is_some());
}

#[tokio::test]
async fn a_payload_moved_to_another_tenant_or_event_fails_to_open() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let (_, original) = tenant_with_one_event(&t, &keyring, json!({"secret": "a"})).await;
    let b = new_tenant(&t.db, &keyring).await;

    // Copied row by row into tenant B's log, keeping A's key id.
    let mut moved = original.clone();
    moved.tenant_id = b;
    assert!(matches!(
        open_json(&keyring, &moved).await,
        Err(KeyringError::UnknownDataKey(_))
    ));

    // Copied under a key id that tenant B does have: the key and the bound data differ.
    let b_key = keyring.subject_key(b, &user("1")).await.unwrap();
    moved.key_id = b_key.key_id();
    assert!(matches!(
        open_json(&keyring, &moved).await,
        Err(KeyringError::Tampered)
    ));

    // Within tenant A, under another event's id.
    let mut renamed = original.clone();
    renamed.event_id = EventId::new();
    assert!(matches!(
        open_json(&keyring, &renamed).await,
        Err(KeyringError::Tampered)
    ));
}

#[tokio::test]
async fn shredding_a_subject_makes_exactly_its_events_unreadable() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let (ann, bob) = (user("ann"), user("bob"));
    let mut batch = Vec::new();
    for i in 0..6 {
        let who = if i % 2 == 0 { &ann } else { &bob };
        batch.push(sealed_event(&keyring, tenant, who, &format!("m{i}"), json!({"i": i})).await);
    }
    append_committed(&t.db, tenant, batch).await;
    let ann_key = keyring
        .find_subject_key_id(tenant, &ann)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(
        keyring.shred_subject(tenant, &ann).await.unwrap(),
        Some(ann_key)
    );
    assert_eq!(
        keyring.shred_subject(tenant, &ann).await.unwrap(),
        None,
        "shredding twice finds nothing"
    );

    // A keyring with cold caches (another process, or after a restart) sees the same.
    let cold = t.keyring();
    for reader in [&keyring, &cold] {
        let events = read_after(&t.db, tenant, Seq::ZERO, 100).await.unwrap();
        assert_eq!(events.len(), 6, "the log keeps every row");
        for (i, event) in events.iter().enumerate() {
            let opened = open_json(reader, event).await.unwrap();
            if i % 2 == 0 {
                assert_eq!(opened, None, "ann's event {i} still opens");
            } else {
                assert_eq!(opened, Some(json!({"i": i})), "bob's event {i} was harmed");
            }
        }
    }

    // New events for the same person get a new key and stay readable.
    let later = sealed_event(&keyring, tenant, &ann, "later", json!({"new": true})).await;
    assert_ne!(later.key_id, ann_key);
    append_committed(&t.db, tenant, vec![later]).await;
    let last = read_after(&t.db, tenant, Seq(6), 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        open_json(&keyring, &last).await.unwrap(),
        Some(json!({"new": true}))
    );
}

#[tokio::test]
async fn shredding_a_tenant_makes_all_its_events_unreadable_and_spares_others() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let doomed = new_tenant(&t.db, &keyring).await;
    let kept = new_tenant(&t.db, &keyring).await;
    for tenant in [doomed, kept] {
        let mut batch = Vec::new();
        for i in 0..5 {
            batch.push(
                sealed_event(
                    &keyring,
                    tenant,
                    &user(&format!("u{i}")),
                    &format!("m{i}"),
                    json!({"i": i}),
                )
                .await,
            );
        }
        append_committed(&t.db, tenant, batch).await;
    }

    keyring.shred_tenant(doomed).await.unwrap();

    let cold = t.keyring();
    for reader in [&keyring, &cold] {
        for event in read_after(&t.db, doomed, Seq::ZERO, 100).await.unwrap() {
            assert_eq!(open_json(reader, &event).await.unwrap(), None);
        }
        let kept_events = read_after(&t.db, kept, Seq::ZERO, 100).await.unwrap();
        assert_eq!(kept_events.len(), 5);
        for event in kept_events {
            assert!(open_json(reader, &event).await.unwrap().is_some());
        }
    }
    assert!(matches!(
        keyring.subject_key(doomed, &user("u0")).await,
        Err(KeyringError::TenantShredded(_))
    ));
}

#[tokio::test]
async fn distinct_subjects_get_distinct_keys_and_one_subject_one_key() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let keyring = keyring.clone();
        tasks.push(tokio::spawn(async move {
            keyring
                .subject_key(tenant, &user("same"))
                .await
                .unwrap()
                .key_id()
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(
        ids.len(),
        1,
        "concurrent first use created several keys for one subject"
    );
    let other = keyring
        .subject_key(tenant, &user("other"))
        .await
        .unwrap()
        .key_id();
    assert!(!ids.contains(&other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_commit_queue_refuses_at_once_and_drains_when_commits_resume() {
    use cdp_log::{CommitError, GroupCommitOptions, GroupCommitter};

    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let committer = GroupCommitter::start(
        t.db.clone(),
        GroupCommitOptions {
            max_queued_events: 10,
            max_batch_events: 100,
            committers: 1,
        },
    );
    // Everything is sealed first: on SQLite sealing may write a key, and the blocker below
    // holds the only write lock.
    let first = sealed_event(&keyring, tenant, &user("1"), "held", json!({})).await;
    let refused = sealed_event(&keyring, tenant, &user("1"), "refused", json!({})).await;
    let mut jobs = Vec::new();
    for i in 0..5 {
        jobs.push(vec![
            sealed_event(&keyring, tenant, &user("1"), &format!("q{i}a"), json!({})).await,
            sealed_event(&keyring, tenant, &user("1"), &format!("q{i}b"), json!({})).await,
        ]);
    }
    // An open transaction holding the tenant's head: commits wait behind it.
    let blocker = begin_write(&t.db).await.unwrap();
    append(&blocker, tenant, vec![first]).await.unwrap();

    let mut waiting = Vec::new();
    for events in jobs {
        let committer = committer.clone();
        waiting.push(tokio::spawn(async move {
            committer.append(tenant, events).await
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while committer.queued_events() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue never filled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(matches!(
        committer.append(tenant, vec![refused]).await,
        Err(CommitError::Overloaded)
    ));

    blocker.commit().await.unwrap();
    for task in waiting {
        assert_eq!(task.await.unwrap().unwrap().len(), 2);
    }
    assert_eq!(committer.queued_events(), 0);
    assert_eq!(
        read_after(&t.db, tenant, Seq::ZERO, 100)
            .await
            .unwrap()
            .len(),
        11
    );
}

#[tokio::test]
async fn a_job_the_database_refuses_fails_alone() {
    use cdp_log::{GroupCommitOptions, GroupCommitter};

    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let other = new_tenant(&t.db, &keyring).await;
    let committer = GroupCommitter::start(t.db.clone(), GroupCommitOptions::default());
    // PostgreSQL refuses a NUL in text; SQLite stores it. Either way the neighbour commits.
    let good = sealed_event(&keyring, other, &user("1"), "good", json!({})).await;
    let mut poison = sealed_event(&keyring, tenant, &user("1"), "poison", json!({})).await;
    poison.message_id = "bad\u{0}id".into();
    let (a, b) = tokio::join!(
        committer.append(tenant, vec![poison]),
        committer.append(other, vec![good])
    );
    assert!(b.is_ok(), "a neighbour's failure took this job down: {b:?}");
    if t.backend == Backend::Postgres {
        assert!(a.is_err());
    }
}

/// The data key rows a tenant has in the key table.
async fn stored_keys(db: &DatabaseConnection, tenant: TenantId) -> i64 {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT COUNT(*) FROM data_keys WHERE tenant_id = $1",
        _ => "SELECT COUNT(*) FROM data_keys WHERE tenant_id = ?",
    };
    db.query_one_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [tenant.as_uuid().into()],
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get_by_index(0)
    .unwrap()
}

/// Events of new subjects sealed under keys made for them, ready to append.
async fn events_of_new_subjects(
    keyring: &Keyring,
    tenant: TenantId,
    subjects: &[KeySubject],
    prefix: &str,
) -> (Vec<NewEvent>, cdp_keyring::NewKeys) {
    let (keys, new_keys) = keyring.keys_for_append(tenant, subjects).await.unwrap();
    let now = Utc::now();
    let events = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let event_id = EventId::new();
            NewEvent {
                event_id,
                message_id: format!("{prefix}-{i}"),
                event_type: "track".to_owned(),
                source_id: None,
                received_at: now,
                occurred_at: now,
                key_id: key.key_id(),
                payload: key.seal(event_id, b"{\"n\":1}").unwrap(),
            }
        })
        .collect();
    (events, new_keys)
}

#[tokio::test]
async fn new_keys_are_stored_with_the_events_they_sealed_and_not_before() {
    use cdp_log::{GroupCommitOptions, GroupCommitter};

    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let before = stored_keys(&t.db, tenant).await;
    let subjects = [user("n1"), user("n2"), user("n1")];
    let (events, new_keys) = events_of_new_subjects(&keyring, tenant, &subjects, "n").await;
    assert_eq!(new_keys.len(), 2, "one new key per new subject");
    assert_eq!(
        stored_keys(&t.db, tenant).await,
        before,
        "nothing stored yet"
    );

    let committer = GroupCommitter::start(t.db.clone(), GroupCommitOptions::default());
    committer
        .reserve(events.len())
        .unwrap()
        .append_with_keys(tenant, events, new_keys.clone())
        .await
        .unwrap();
    keyring.new_keys_stored(&new_keys);
    assert_eq!(stored_keys(&t.db, tenant).await, before + 2);

    // Another process, with nothing cached, reads every event.
    let fresh = t.keyring();
    for event in read_after(&t.db, tenant, Seq::ZERO, 10).await.unwrap() {
        let opened = fresh
            .open(tenant, event.event_id, event.key_id, &event.payload)
            .await
            .unwrap();
        assert!(matches!(opened, Opened::Plain(_)));
    }
    // And the subjects are known now: no new key is made for them again.
    let (_, again) = keyring.keys_for_append(tenant, &subjects).await.unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn a_refused_append_stores_no_key_and_its_key_is_offered_no_more() {
    use cdp_log::{CommitError, GroupCommitOptions, GroupCommitter};

    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let before = stored_keys(&t.db, tenant).await;
    let (mut events, new_keys) =
        events_of_new_subjects(&keyring, tenant, &[user("refused")], "r").await;
    let refused_key = events[0].key_id;
    events[0].message_id.clear();
    let committer = GroupCommitter::start(t.db.clone(), GroupCommitOptions::default());
    let outcome = committer
        .reserve(1)
        .unwrap()
        .append_with_keys(tenant, events, new_keys.clone())
        .await;
    assert!(matches!(outcome, Err(CommitError::Invalid(_))));
    keyring.new_keys_refused(&new_keys);
    assert_eq!(stored_keys(&t.db, tenant).await, before);
    let (next, again) = keyring
        .keys_for_append(tenant, &[user("refused")])
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "the subject still has no stored key");
    assert_ne!(
        next[0].key_id(),
        refused_key,
        "a refused key is not handed out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_of_one_process_share_a_pending_key_and_store_it_once() {
    use cdp_log::{GroupCommitOptions, GroupCommitter};

    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let before = stored_keys(&t.db, tenant).await;
    let (a, keys_a) = events_of_new_subjects(&keyring, tenant, &[user("shared")], "a").await;
    let (b, keys_b) = events_of_new_subjects(&keyring, tenant, &[user("shared")], "b").await;
    assert_eq!(a[0].key_id, b[0].key_id, "one subject, one key");
    assert_eq!((keys_a.len(), keys_b.len()), (1, 1), "each carries its row");

    let committer = GroupCommitter::start(t.db.clone(), GroupCommitOptions::default());
    let (ra, rb) = tokio::join!(
        committer
            .reserve(1)
            .unwrap()
            .append_with_keys(tenant, a, keys_a.clone()),
        committer
            .reserve(1)
            .unwrap()
            .append_with_keys(tenant, b, keys_b.clone()),
    );
    ra.unwrap();
    rb.unwrap();
    keyring.new_keys_stored(&keys_a);
    keyring.new_keys_stored(&keys_b);
    assert_eq!(stored_keys(&t.db, tenant).await, before + 1);
}

#[tokio::test]
async fn a_subject_another_process_keyed_first_fails_the_append_as_a_race() {
    use cdp_log::{CommitError, GroupCommitOptions, GroupCommitter};

    let t = TestDb::new().await;
    let (here, elsewhere) = (t.keyring(), t.keyring());
    let tenant = new_tenant(&t.db, &here).await;
    let (events, new_keys) = events_of_new_subjects(&here, tenant, &[user("raced")], "x").await;
    // The other process stores its own key for the same subject meanwhile.
    let theirs = elsewhere.subject_key(tenant, &user("raced")).await.unwrap();
    assert_ne!(theirs.key_id(), events[0].key_id);

    let committer = GroupCommitter::start(t.db.clone(), GroupCommitOptions::default());
    let outcome = committer
        .reserve(1)
        .unwrap()
        .append_with_keys(tenant, events, new_keys.clone())
        .await;
    match outcome {
        Err(CommitError::Failed(e)) => assert!(matches!(*e, LogError::NewKeyTaken), "{e:?}"),
        other => panic!("expected a key race, got {other:?}"),
    }
    here.new_keys_refused(&new_keys);
    assert!(
        read_after(&t.db, tenant, Seq::ZERO, 10)
            .await
            .unwrap()
            .is_empty(),
        "no event was stored under a key that lost"
    );
    // Asked again, this process finds the winner's key.
    let (keys, again) = here
        .keys_for_append(tenant, &[user("raced")])
        .await
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(keys[0].key_id(), theirs.key_id());
}

/// The hourly volume: each stored event counted once under its source and the hour it was
/// received in (duplicates not at all), across appends, apart from other tenants; and the
/// same figures as counting the log itself, as the migration's backfill does.
#[tokio::test]
async fn volume_counts_each_stored_event_once_per_source_and_hour() {
    use cdp_domain::SourceId;
    use chrono::{DurationRound, TimeDelta};

    let t = TestDb::new().await;
    let keyring = t.keyring();
    let tenant = new_tenant(&t.db, &keyring).await;
    let other = new_tenant(&t.db, &keyring).await;
    let (a, b) = (SourceId::new(), SourceId::new());
    let hour = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap() - TimeDelta::hours(2);
    let mut n = 0;
    let mut made = |tenant: TenantId, source: Option<SourceId>, minutes: i64, id: Option<&str>| {
        n += 1;
        let message = id.map_or_else(|| format!("v{n}"), str::to_owned);
        let keyring = keyring.clone();
        async move {
            let mut event = sealed_event(&keyring, tenant, &user("1"), &message, json!({})).await;
            event.source_id = source;
            event.received_at = hour + TimeDelta::minutes(minutes);
            event
        }
    };
    let first = vec![
        made(tenant, Some(a), 10, None).await,
        made(tenant, Some(a), 11, Some("same")).await,
        made(tenant, Some(b), 5, None).await,
        made(tenant, None, 1, None).await,
    ];
    append_committed(&t.db, tenant, first).await;
    let second = vec![
        made(tenant, Some(a), 12, None).await,
        made(tenant, Some(a), 13, Some("same")).await, // a duplicate: not stored, not counted
        made(tenant, Some(b), 6, None).await,
        made(tenant, Some(a), 70, None).await,
    ];
    append_committed(&t.db, tenant, second).await;
    append_committed(&t.db, other, vec![made(other, Some(a), 10, None).await]).await;

    let got: HashSet<(i64, Option<SourceId>, u64)> =
        cdp_log::hourly_volume(&t.db, tenant, hour - TimeDelta::hours(1))
            .await
            .unwrap()
            .into_iter()
            .map(|v| ((v.hour - hour).num_hours(), v.source_id, v.events))
            .collect();
    let expected: HashSet<(i64, Option<SourceId>, u64)> = [
        (0, Some(a), 3),
        (0, Some(b), 2),
        (0, None, 1),
        (1, Some(a), 1),
    ]
    .into();
    assert_eq!(got, expected);
    let later = cdp_log::hourly_volume(&t.db, tenant, hour + TimeDelta::minutes(61))
        .await
        .unwrap();
    assert_eq!(
        later.len(),
        1,
        "from the hour holding `since` on: {later:?}"
    );

    let backend = t.db.get_database_backend();
    let placeholder = if t.backend == Backend::Postgres {
        "$1"
    } else {
        "?"
    };
    let rows =
        t.db.query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT source_id, hour, events FROM ({}) v WHERE tenant_id = {placeholder}",
                cdp_migrations::counts_from_log(backend)
            ),
            [tenant.as_uuid().into()],
        ))
        .await
        .unwrap();
    let counted: HashSet<(i64, Option<SourceId>, u64)> = rows
        .iter()
        .map(|row| {
            let source: sea_orm::prelude::Uuid = row.try_get("", "source_id").unwrap();
            let at: DateTime<Utc> = row.try_get("", "hour").unwrap();
            let events: i64 = row.try_get("", "events").unwrap();
            (
                (at - hour).num_hours(),
                (!source.is_nil()).then(|| SourceId::from_uuid(source)),
                events as u64,
            )
        })
        .collect();
    assert_eq!(counted, expected, "the backfill's count of the log");
}
