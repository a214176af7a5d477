//! The audit chain, on SQLite or PostgreSQL (DATABASE_URL).

use cdp_audit::{
    Actor, ActorKind, AuditEntry, AuditFilter, Chain, Outcome, append_now, list, verify,
};
use cdp_domain::TenantId;
use cdp_storage::{Backend, begin_write};
use cdp_testkit::TestDb;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

fn entry(action: &str, n: u32) -> AuditEntry {
    AuditEntry {
        actor: Actor {
            kind: ActorKind::Member,
            id: Some(format!("usr_{n:032x}")),
            role: Some("admin".into()),
        },
        action: action.into(),
        target: Some(("member".into(), format!("usr_{:032x}", n + 1))),
        source_ip: Some("198.51.100.7".into()),
        outcome: Outcome::Success,
        details: json!({"role": "analyst", "n": n}),
    }
}

/// Changes a stored entry the way someone with direct database access could: the trigger
/// that refuses changes is lifted inside the same transaction, so nobody else sees it gone.
async fn tamper(t: &TestDb, chain_key: &str, sql_change: &str) {
    let txn = t.db.begin().await.unwrap();
    match t.backend {
        Backend::Postgres => {
            txn.execute_unprepared(
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_refuse_update_delete",
            )
            .await
            .unwrap();
            txn.execute_unprepared(&format!("{sql_change} AND tenant_id = '{chain_key}'"))
                .await
                .unwrap();
            txn.execute_unprepared(
                "ALTER TABLE audit_log ENABLE TRIGGER audit_log_refuse_update_delete",
            )
            .await
            .unwrap();
        }
        Backend::Sqlite => {
            txn.execute_unprepared("DROP TRIGGER IF EXISTS audit_log_refuse_update")
                .await
                .unwrap();
            txn.execute_unprepared("DROP TRIGGER IF EXISTS audit_log_refuse_delete")
                .await
                .unwrap();
            // SQLite stores UUIDs as 16-byte blobs.
            let key = chain_key.replace('-', "");
            txn.execute_unprepared(&format!("{sql_change} AND hex(tenant_id) = upper('{key}')"))
                .await
                .unwrap();
        }
    }
    txn.commit().await.unwrap();
}

#[tokio::test]
async fn an_untouched_chain_verifies() {
    let t = TestDb::new().await;
    let chain = Chain::Tenant(TenantId::new());
    assert_eq!(verify(&t.db, chain).await.unwrap().entries, 0);
    for n in 0..5 {
        append_now(&t.db, chain, entry("member.add", n))
            .await
            .unwrap();
    }
    let report = verify(&t.db, chain).await.unwrap();
    assert!(report.valid, "{report:?}");
    assert_eq!(report.entries, 5);
    let entries = list(
        &t.db,
        chain,
        &AuditFilter {
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[1].prev_hash, entries[0].hash);
    assert_eq!(entries[0].details, json!({"role": "analyst", "n": 0}));
}

#[tokio::test]
async fn an_edited_entry_is_found_by_verify() {
    let t = TestDb::new().await;
    let tenant = TenantId::new();
    let chain = Chain::Tenant(tenant);
    for n in 0..5 {
        append_now(&t.db, chain, entry("member.role", n))
            .await
            .unwrap();
    }
    tamper(
        &t,
        &tenant.as_uuid().to_string(),
        "UPDATE audit_log SET details = '{\"role\":\"owner\"}' WHERE seq = 3",
    )
    .await;
    let report = verify(&t.db, chain).await.unwrap();
    assert!(!report.valid);
    let broken = report.first_broken.unwrap();
    assert_eq!(broken.seq, 3);
    assert!(
        broken.reason.contains("does not match its hash"),
        "{}",
        broken.reason
    );
}

#[tokio::test]
async fn removed_entries_are_found_by_verify() {
    let t = TestDb::new().await;
    let tenant = TenantId::new();
    let chain = Chain::Tenant(tenant);
    for n in 0..6 {
        append_now(&t.db, chain, entry("key.revoke", n))
            .await
            .unwrap();
    }
    tamper(
        &t,
        &tenant.as_uuid().to_string(),
        "DELETE FROM audit_log WHERE seq = 2",
    )
    .await;
    let broken = verify(&t.db, chain).await.unwrap().first_broken.unwrap();
    assert_eq!(broken.seq, 2);

    let other = TenantId::new();
    let chain = Chain::Tenant(other);
    for n in 0..4 {
        append_now(&t.db, chain, entry("key.revoke", n))
            .await
            .unwrap();
    }
    tamper(
        &t,
        &other.as_uuid().to_string(),
        "DELETE FROM audit_log WHERE seq = 4",
    )
    .await;
    let broken = verify(&t.db, chain).await.unwrap().first_broken.unwrap();
    assert_eq!(broken.seq, 4, "cutting off the end is found too");
}

#[tokio::test]
async fn the_database_refuses_to_change_the_audit_log() {
    let t = TestDb::new().await;
    append_now(&t.db, Chain::Platform, entry("tenant.create", 1))
        .await
        .unwrap();
    for sql in [
        "UPDATE audit_log SET outcome = 'denied'",
        "DELETE FROM audit_log",
    ] {
        let err = t.db.execute_unprepared(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_keep_one_valid_chain_per_tenant() {
    let t = TestDb::new().await;
    let (a, b) = (
        Chain::Tenant(TenantId::new()),
        Chain::Tenant(TenantId::new()),
    );
    let mut tasks = Vec::new();
    for n in 0..20 {
        let db = t.db.clone();
        let chain = if n % 2 == 0 { a } else { b };
        tasks.push(tokio::spawn(async move {
            let txn = begin_write(&db).await.unwrap();
            cdp_audit::append(&txn, chain, entry("source.create", n))
                .await
                .unwrap();
            txn.commit().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for chain in [a, b] {
        let report = verify(&t.db, chain).await.unwrap();
        assert!(report.valid, "{report:?}");
        assert_eq!(report.entries, 10);
    }
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let t = TestDb::new().await;
    let chain = Chain::Tenant(TenantId::new());
    append_now(&t.db, chain, entry("member.add", 1))
        .await
        .unwrap();
    append_now(&t.db, chain, entry("key.create", 2))
        .await
        .unwrap();
    let mut denied = entry("key.create", 3);
    denied.outcome = Outcome::Denied;
    append_now(&t.db, chain, denied).await.unwrap();
    let only = |filter: AuditFilter| {
        let db = t.db.clone();
        async move {
            list(
                &db,
                chain,
                &AuditFilter {
                    limit: 100,
                    ..filter
                },
            )
            .await
            .unwrap()
            .len()
        }
    };
    assert_eq!(
        only(AuditFilter {
            action_prefix: Some("key.".into()),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        only(AuditFilter {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        only(AuditFilter {
            actor_id: Some(format!("usr_{:032x}", 1)),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        only(AuditFilter {
            after: 2,
            ..Default::default()
        })
        .await,
        1
    );
}
