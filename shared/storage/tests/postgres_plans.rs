//! On PostgreSQL every pooled connection plans each statement for its own values
//! (`plan_cache_mode = force_custom_plan`): tenants differ in size by orders of magnitude,
//! and a plan cached for an average tenant read a large tenant's whole log on every commit
//! (RELIABILITY.md, "PostgreSQL sustained rate"). Runs when `DATABASE_URL` names PostgreSQL.

use cdp_storage::{Backend, ConnectOptions, connect};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};

#[tokio::test]
async fn every_postgres_connection_plans_statements_for_their_own_values() {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if matches!(Backend::of_url(&url), Ok(Backend::Postgres)) => url,
        _ => {
            eprintln!("runs when DATABASE_URL names PostgreSQL");
            return;
        }
    };
    let db = connect(&url, &ConnectOptions::default()).await.unwrap();
    // Several transactions open at once, so that they are on different connections.
    let mut open = Vec::new();
    for _ in 0..3 {
        let txn = db.begin().await.unwrap();
        let row = txn
            .query_one_raw(Statement::from_string(
                txn.get_database_backend(),
                "SELECT current_setting('plan_cache_mode'), pg_backend_pid()",
            ))
            .await
            .unwrap()
            .unwrap();
        let mode: String = row.try_get_by_index(0).unwrap();
        let pid: i32 = row.try_get_by_index(1).unwrap();
        assert_eq!(mode, "force_custom_plan");
        open.push((txn, pid));
    }
    let mut pids: Vec<i32> = open.iter().map(|(_, pid)| *pid).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 3, "three connections");
}
