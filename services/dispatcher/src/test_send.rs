//! A test delivery: a signed sample posted to a destination at once, outside the queue,
//! so that whoever sets a receiver up sees whether it is reachable, answers 2xx and can
//! check the signature, before any real event depends on it.

use std::time::Duration;

use cdp_destinations::sign;
use cdp_destinations::store::Destination;
use cdp_keyring::Keyring;
use cdp_storage::DatabaseConnection;
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use crate::client::Answer;
use crate::sender::signing_secrets;
use crate::{DispatchError, WebhookClient};

/// How the receiver took the test delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestSend {
    /// The `webhook-id` it was sent with (`msg_test_…`, never one of a real delivery).
    pub webhook_id: String,
    /// The receiver's status code, when it answered.
    pub status: Option<u16>,
    /// What went wrong when it did not answer 2xx: the status, or why no answer came.
    pub error: Option<String>,
    pub took: Duration,
}

impl TestSend {
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Posts a sample with `type` `test` (receivers can tell it from real deliveries), signed
/// with the destination's live secrets as a real one would be. Nothing is recorded in the
/// delivery log and the breaker is not touched.
pub async fn send_test(
    db: &DatabaseConnection,
    keyring: &Keyring,
    client: &WebhookClient,
    destination: &Destination,
) -> Result<TestSend, DispatchError> {
    let now = Utc::now();
    let secrets = signing_secrets(db, keyring, destination, now).await?;
    let webhook_id = format!("msg_test_{}", Uuid::now_v7().simple());
    if secrets.is_empty() {
        return Ok(TestSend {
            webhook_id,
            status: None,
            error: Some("the destination has no signing secret".into()),
            took: Duration::ZERO,
        });
    }
    let body = json!({
        "type": "test",
        "destination_id": destination.id.to_string(),
        "occurred_at": now,
        "event": {
            "type": "track",
            "event": "Test Event",
            "properties": {"note": "a test delivery from the CDP; no person's data"},
        },
    });
    let body = serde_json::to_vec(&body).expect("a JSON value serializes");
    let headers = sign(&secrets, &webhook_id, now.timestamp(), &body);
    let (answer, took) = client.post(&destination.url, &headers, body).await;
    let (status, error) = match answer {
        Answer::Status { code, .. } if (200..300).contains(&code) => (Some(code), None),
        Answer::Status { code, .. } => (Some(code), Some(format!("the receiver answered {code}"))),
        Answer::Failed(why) => (None, Some(why)),
    };
    Ok(TestSend {
        webhook_id,
        status,
        error,
        took,
    })
}
