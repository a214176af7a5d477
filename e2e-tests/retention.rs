//! A tenant's retention period through the API: set, read back, refused when out of
//! range, recorded in the audit chain, and followed by the events sealed from then on.
//! (Expiry itself is tested against a controlled clock in the keyring's and the
//! projector's own tests.)

use serde_json::json;

use crate::access::call;
use crate::helpers::{Server, suite_env};
use crate::profiles::send;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_period_is_set_read_and_bounded() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("retention");
    let (status, shown) = call(&server, "GET", "/v1/retention", &tenant.api_key, None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown,
        json!({"days": null, "period_days": null}),
        "kept for good by default"
    );

    let (status, set) = call(
        &server,
        "PUT",
        "/v1/retention",
        &tenant.api_key,
        Some(&json!({"days": 365})),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set, json!({"days": 365, "period_days": 12}));
    let (_, shown) = call(&server, "GET", "/v1/retention", &tenant.api_key, None).await;
    assert_eq!(shown, set);
    // Events keep flowing and stay readable under the new keys.
    send(
        &server,
        &tenant,
        vec![json!({"type": "track", "userId": "42", "event": "Viewed"})],
    )
    .await;
    let events = server.events(&tenant).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["shredded"], false);

    for bad in [
        json!({"days": 36_501}),
        json!({"days": -1}),
        json!({"weeks": 2}),
    ] {
        let (status, answer) =
            call(&server, "PUT", "/v1/retention", &tenant.api_key, Some(&bad)).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let (status, cleared) = call(
        &server,
        "PUT",
        "/v1/retention",
        &tenant.api_key,
        Some(&json!({"days": null})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cleared["days"], json!(null));

    let (_, audit) = call(
        &server,
        "GET",
        "/v1/audit?action=retention",
        &tenant.api_key,
        None,
    )
    .await;
    let changes: Vec<&serde_json::Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["details"]["days"])
        .collect();
    assert_eq!(changes, vec![&json!(365), &json!(null)], "{audit}");
}
