//! The write key cache: answers from memory, yet a revocation or suspension made by this
//! process is seen on the very next check, and one made elsewhere within the cache's TTL.

use std::time::Duration;

use cdp_domain::TenantName;
use cdp_tenancy::{
    KeyCheck, TenantStatus, WriteKeyCache, create_tenant, list_credentials, revoke_credential,
    set_tenant_status,
};
use cdp_testkit::TestDb;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

// One test function, in order: the cache's epoch is process-wide, so a revocation in a
// test running beside it would empty this cache at a moment the test does not expect.
#[tokio::test]
async fn cached_checks_follow_changes() {
    this_process_sees_revocation_and_suspension_at_once().await;
    another_process_change_is_seen_within_the_ttl().await;
}

async fn this_process_sees_revocation_and_suspension_at_once() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let cache = WriteKeyCache::new(Duration::from_secs(3600));
    let created = create_tenant(&t.db, &keyring, TenantName::parse("cache-a").unwrap())
        .await
        .unwrap();
    let key = created.write_key.expose();
    let KeyCheck::Valid(grant) = cache.authenticate(&t.db, key).await.unwrap() else {
        panic!("a new write key is valid");
    };
    assert_eq!(grant.tenant_id, created.tenant_id);

    set_tenant_status(&t.db, created.tenant_id, TenantStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        cache.authenticate(&t.db, key).await.unwrap(),
        KeyCheck::Suspended
    );
    set_tenant_status(&t.db, created.tenant_id, TenantStatus::Active)
        .await
        .unwrap();
    assert!(matches!(
        cache.authenticate(&t.db, key).await.unwrap(),
        KeyCheck::Valid(_)
    ));

    let write_key = list_credentials(&t.db, created.tenant_id)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.kind == "write_key")
        .expect("the tenant has a write key");
    assert!(
        revoke_credential(&t.db, created.tenant_id, write_key.id)
            .await
            .unwrap()
    );
    assert_eq!(
        cache.authenticate(&t.db, key).await.unwrap(),
        KeyCheck::Invalid
    );
}

async fn another_process_change_is_seen_within_the_ttl() {
    let t = TestDb::new().await;
    let keyring = t.keyring();
    let cache = WriteKeyCache::new(Duration::from_millis(300));
    let created = create_tenant(&t.db, &keyring, TenantName::parse("cache-b").unwrap())
        .await
        .unwrap();
    let key = created.write_key.expose();
    assert!(matches!(
        cache.authenticate(&t.db, key).await.unwrap(),
        KeyCheck::Valid(_)
    ));

    // Another process revokes the key: nothing here is told.
    let backend = t.db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "UPDATE credentials SET revoked_at = now() WHERE tenant_id = $1",
        _ => "UPDATE credentials SET revoked_at = CURRENT_TIMESTAMP WHERE tenant_id = ?",
    };
    t.db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [created.tenant_id.as_uuid().into()],
    ))
    .await
    .unwrap();

    // Still answered from memory (which is what saves the round trip)...
    assert!(matches!(
        cache.authenticate(&t.db, key).await.unwrap(),
        KeyCheck::Valid(_)
    ));
    // ...until the entry is older than the TTL.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        cache.authenticate(&t.db, key).await.unwrap(),
        KeyCheck::Invalid
    );
}

#[tokio::test]
async fn unknown_keys_are_refused_every_time() {
    let t = TestDb::new().await;
    let cache = WriteKeyCache::default();
    for _ in 0..3 {
        assert_eq!(
            cache
                .authenticate(&t.db, "cdp_wk_not-a-real-key")
                .await
                .unwrap(),
            KeyCheck::Invalid
        );
    }
}
