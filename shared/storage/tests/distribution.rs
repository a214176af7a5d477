//! The schema, as the migrations leave it, can be distributed by tenant on Citus: every
//! table holding tenant data has `tenant_id` leading its primary key and each of its unique
//! indexes (so the shard of any row is known from its key, and uniqueness is checked on one
//! node), and there are no foreign keys to co-locate. Tables without a tenant, and the two
//! looked up before the tenant is known, are the reference tables docs/scaling.md lists.
//! Runs on PostgreSQL when `DATABASE_URL` names one, and on SQLite otherwise.

use std::collections::{BTreeMap, BTreeSet};

use cdp_storage::{Backend, ConnectOptions, connect, migrate, sqlite_url};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// Reference tables (copied to every node): platform-wide rows, and the lookups by a
/// secret's hash that find the tenant in the first place.
const REFERENCE_TABLES: [&str; 6] = [
    "seaql_migrations",
    "tenants",
    "users",
    "signing_keys",
    "credentials",
    "refresh_tokens",
];

/// Each table: whether it has a `tenant_id` column, and the first column of each of its
/// unique indexes (its primary key included).
type Tables = BTreeMap<String, (bool, Vec<(String, String)>)>;

async fn strings(db: &DatabaseConnection, sql: String) -> Vec<Vec<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (0..)
                .map_while(|i| row.try_get_by_index::<String>(i).ok())
                .collect()
        })
        .collect()
}

async fn postgres_tables(db: &DatabaseConnection) -> Tables {
    let mut tables = Tables::new();
    for row in strings(
        db,
        "SELECT c.relname::text, \
           CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
             AND a.attname = 'tenant_id' AND NOT a.attisdropped) THEN 'yes' ELSE 'no' END \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
            .into(),
    )
    .await
    {
        tables.insert(row[0].clone(), (row[1] == "yes", Vec::new()));
    }
    for row in strings(
        db,
        "SELECT t.relname::text, i.relname::text, a.attname::text \
         FROM pg_index x \
         JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0] \
         WHERE n.nspname = current_schema() AND (x.indisunique OR x.indisprimary)"
            .into(),
    )
    .await
    {
        if let Some((_, indexes)) = tables.get_mut(&row[0]) {
            indexes.push((row[1].clone(), row[2].clone()));
        }
    }
    tables
}

async fn sqlite_tables(db: &DatabaseConnection) -> Tables {
    let mut tables = Tables::new();
    let names = strings(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'".into(),
    )
    .await;
    for name in names.into_iter().map(|r| r[0].clone()) {
        let columns = strings(db, format!("SELECT name FROM pragma_table_info('{name}')")).await;
        let has_tenant = columns.iter().any(|c| c[0] == "tenant_id");
        let mut indexes = Vec::new();
        // The primary key's first column (pk = 1), whether or not SQLite made an index of it.
        let pk = strings(
            db,
            format!("SELECT name FROM pragma_table_info('{name}') WHERE pk = 1"),
        )
        .await;
        if let Some(first) = pk.first() {
            indexes.push(("primary key".to_owned(), first[0].clone()));
        }
        for index in strings(
            db,
            format!("SELECT name FROM pragma_index_list('{name}') WHERE \"unique\" = 1"),
        )
        .await
        {
            let first = strings(
                db,
                format!(
                    "SELECT name FROM pragma_index_info('{}') WHERE seqno = 0",
                    index[0]
                ),
            )
            .await;
            if let Some(first) = first.first() {
                indexes.push((index[0].clone(), first[0].clone()));
            }
        }
        tables.insert(name, (has_tenant, indexes));
    }
    tables
}

#[tokio::test]
async fn every_key_of_tenant_data_leads_with_the_tenant_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => url,
        _ => sqlite_url(dir.path()).unwrap(),
    };
    let db = connect(&url, &ConnectOptions::default()).await.unwrap();
    migrate(&db).await.unwrap();
    let tables = match Backend::of_url(&url).unwrap() {
        Backend::Postgres => postgres_tables(&db).await,
        Backend::Sqlite => sqlite_tables(&db).await,
    };
    assert!(tables.len() > 30, "the schema was not read: {tables:?}");

    let mut wrong = Vec::new();
    let mut without_tenant = BTreeSet::new();
    for (table, (has_tenant, indexes)) in &tables {
        if REFERENCE_TABLES.contains(&table.as_str()) {
            continue;
        }
        if !has_tenant {
            without_tenant.insert(table.clone());
            continue;
        }
        assert!(!indexes.is_empty(), "{table} has no primary key");
        for (index, first) in indexes {
            if first != "tenant_id" {
                wrong.push(format!("{table}.{index} leads with {first}"));
            }
        }
    }
    assert!(
        without_tenant.is_empty(),
        "tables with no tenant_id that are not reference tables: {without_tenant:?}"
    );
    assert!(
        wrong.is_empty(),
        "keys that do not lead with tenant_id: {wrong:?}"
    );

    if let Backend::Postgres = Backend::of_url(&url).unwrap() {
        let foreign = strings(
            &db,
            "SELECT conname::text FROM pg_constraint c JOIN pg_namespace n \
             ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = current_schema()"
                .into(),
        )
        .await;
        assert!(
            foreign.is_empty(),
            "foreign keys Citus would need co-located: {foreign:?}"
        );
    }
}
