//! After an erasure, nothing of the person is left in clear anywhere the platform keeps
//! data: every column of every table of the database (text and binary, on either backend)
//! and every key and value in Redis are searched for her identifiers and trait values,
//! while another person's are found where they belong and the log keeps its rows.

use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::json;

use crate::access::call;
use crate::helpers::{Server, suite_env};
use crate::privacy::{erase, request_when};
use crate::profiles::{profile_when, send};

/// Each needle as it would show in a text column, and as a binary column shows its bytes
/// in the row's text form (hex, in either case).
fn forms(needles: &[String]) -> Vec<(String, String)> {
    needles
        .iter()
        .flat_map(|n| {
            let hex: String = n.bytes().map(|b| format!("{b:02x}")).collect();
            [
                (n.clone(), n.clone()),
                (n.clone(), hex.clone()),
                (n.clone(), hex.to_uppercase()),
            ]
        })
        .collect()
}

/// Every row of every table as one line of text; binary values as hex.
async fn rows_as_text(db: &DatabaseConnection) -> Vec<(String, String)> {
    let backend = db.get_database_backend();
    let tables_sql = match backend {
        DatabaseBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
    };
    let tables: Vec<String> = db
        .query_all_raw(Statement::from_string(backend, tables_sql))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    assert!(tables.len() > 10, "{tables:?}");
    let mut rows = Vec::new();
    for table in tables {
        let select = match backend {
            DatabaseBackend::Sqlite => {
                let columns: Vec<String> = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.try_get_by_index::<String>(0).unwrap())
                    .collect();
                // quote() writes text as text and blobs as X'…' hex.
                let joined: Vec<String> =
                    columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                format!("SELECT {} FROM \"{table}\"", joined.join(" || '|' || "))
            }
            // A row's text form writes bytea as \x… hex.
            _ => format!("SELECT t::text FROM \"{table}\" t"),
        };
        for row in db
            .query_all_raw(Statement::from_string(backend, select))
            .await
            .unwrap()
        {
            let text: Option<String> = row.try_get_by_index(0).unwrap();
            rows.push((table.clone(), text.unwrap_or_default()));
        }
    }
    rows
}

/// Every Redis key with its value, whatever its type, as text. The suite's earlier tests leave
/// many keys behind (the crash test alone writes tens of thousands), so the keys are walked with
/// SCAN and read a page at a time in pipelines: one `KEYS *` over them outlasts the client's
/// response timeout.
async fn redis_as_text(url: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(std::time::Duration::from_secs(30)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let mut types = redis::pipe();
            for key in &keys {
                types.cmd("TYPE").arg(key);
            }
            let kinds: Vec<String> = types.query_async(&mut conn).await.unwrap();
            let mut values = redis::pipe();
            for (key, kind) in keys.iter().zip(&kinds) {
                match kind.as_str() {
                    "string" => values.cmd("GET").arg(key),
                    "hash" => values.cmd("HGETALL").arg(key),
                    "list" => values.cmd("LRANGE").arg(key).arg(0).arg(-1),
                    "set" => values.cmd("SMEMBERS").arg(key),
                    "zset" => values.cmd("ZRANGE").arg(key).arg(0).arg(-1),
                    // Gone meanwhile (expired), or a type the platform never writes.
                    _ => values.cmd("EXISTS").arg(key),
                };
            }
            let read: Vec<redis::Value> = values.query_async(&mut conn).await.unwrap();
            out.extend(
                keys.iter()
                    .zip(read)
                    .map(|(key, value)| format!("{key} {value:?}")),
            );
        }
        if next == 0 {
            return out;
        }
        cursor = next;
    }
}

fn found_in<'a>(
    texts: impl Iterator<Item = &'a str>,
    needles: &[(String, String)],
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for text in texts {
        for (needle, form) in needles {
            if text.contains(form.as_str()) {
                found.insert(needle.clone());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_erasure_no_table_column_or_redis_key_holds_the_person_in_clear() {
    let env = suite_env();
    let server = Server::start(&env);
    let tenant = server.create_tenant("erasure-scan");
    // Values no other test writes, so that finding one means finding this person.
    let tag = &tenant.id[tenant.id.len() - 10..];
    let ann: Vec<String> = [
        "ann-user",
        "ann-device",
        "annabel.quux",
        "Annabel Quux",
        "zebra-crossing",
        "ann-group",
        "ann-order-note",
    ]
    .iter()
    .map(|v| format!("{v}-{tag}"))
    .collect();
    let bob: Vec<String> = ["bob-user", "bob.roe", "Bob Roe"]
        .iter()
        .map(|v| format!("{v}-{tag}"))
        .collect();
    let ann_email = format!("{}@example.com", ann[2]);
    let bob_email = format!("{}@example.org", bob[1]);
    // A computed trait that keeps a property's values, and a segment Ann enters: their
    // rows hold what she sent too.
    let (status, body) = call(
        &server,
        "PUT",
        "/v1/computed-traits/notes",
        &tenant.api_key,
        Some(&json!({"kind": "distinct_list", "event": "Order Completed", "property": "note"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(&server, "POST", "/v1/segments", &tenant.api_key,
        Some(&json!({"name": "zebras", "text": "trait favourite starts with \"zebra\" and performed \"Order Completed\" where total > 10 within 30 days"}))).await;
    assert_eq!(status, 201, "{body}");
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "page", "anonymousId": ann[1], "name": "Home"}),
            json!({"type": "identify", "userId": ann[0], "anonymousId": ann[1],
                   "traits": {"email": ann_email, "name": ann[3], "favourite": ann[4]},
                   "context": {"consent": {"marketing": true}}}),
            json!({"type": "group", "userId": ann[0], "groupId": ann[5], "traits": {"plan": "pro"}}),
            json!({"type": "track", "userId": ann[0], "event": "Order Completed",
                   "properties": {"note": ann[6], "total": 12}}),
            json!({"type": "identify", "userId": bob[0], "traits": {"email": bob_email, "name": bob[2]}}),
        ],
    )
    .await;
    profile_when(&server, &tenant, &format!("user_id:{}", ann[0]), |p| {
        p["groups"].as_array().is_some_and(|g| !g.is_empty())
            && p["event_counts"]["Order Completed"]["count"] == 1
    })
    .await;
    profile_when(&server, &tenant, &format!("user_id:{}", bob[0]), |_| true).await;
    let logged = server.events(&tenant).await.len();

    let request = erase(
        &server,
        &tenant,
        json!({"type": "user_id", "value": ann[0]}),
    )
    .await;
    request_when(
        &server,
        &tenant,
        request["id"].as_str().unwrap(),
        "completed",
    )
    .await;

    let db_url = match env.iter().find(|(k, _)| k == "DATABASE_URL") {
        Some((_, url)) => url.clone(),
        None => cdp_storage::sqlite_url(&server.dir.join("data")).unwrap(),
    };
    let db = cdp_storage::connect(&db_url, &cdp_storage::ConnectOptions::default())
        .await
        .unwrap();
    let rows = rows_as_text(&db).await;
    let mut ann_needles = ann.clone();
    ann_needles.push(ann_email.clone());
    let mut bob_needles = bob.clone();
    bob_needles.push(bob_email.clone());

    let ann_found = found_in(rows.iter().map(|(_, r)| r.as_str()), &forms(&ann_needles));
    let where_found: Vec<&str> = rows
        .iter()
        .filter(|(_, r)| ann_needles.iter().any(|n| r.contains(n.as_str())))
        .map(|(t, _)| t.as_str())
        .collect();
    assert!(
        ann_found.is_empty(),
        "{ann_found:?} still in clear, in {where_found:?}"
    );
    // The scan sees what is there: Bob's projection holds his values in clear.
    let bob_found = found_in(rows.iter().map(|(_, r)| r.as_str()), &forms(&bob_needles));
    assert_eq!(
        bob_found,
        bob_needles.iter().cloned().collect::<BTreeSet<_>>(),
        "Bob's profile is intact"
    );
    let bob_profile =
        profile_when(&server, &tenant, &format!("user_id:{}", bob[0]), |_| true).await;
    assert_eq!(bob_profile["traits"]["name"]["value"], bob[2].as_str());

    // The log lost no row: her events stay, unreadable, and the order joined them.
    let events = server.events(&tenant).await;
    assert_eq!(events.len(), logged + 1, "{events:?}");
    assert_eq!(
        events.iter().filter(|e| e["shredded"] == true).count(),
        6,
        "her four events, the order, and the record of her entering the segment"
    );

    if let Some((_, redis_url)) = env.iter().find(|(k, _)| k == "REDIS_URL") {
        let entries = redis_as_text(redis_url).await;
        assert!(
            entries.iter().any(|e| e.contains("cdp:")),
            "the scan reads the platform's keys: {} keys",
            entries.len()
        );
        let in_redis = found_in(entries.iter().map(String::as_str), &forms(&ann_needles));
        assert!(in_redis.is_empty(), "{in_redis:?} in Redis");
    }
}
