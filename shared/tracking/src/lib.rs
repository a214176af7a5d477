//! The tracking spec (identify, track, page, screen, group, alias, batch): turning request
//! bodies into validated, normalized events, and webhook payloads into the same events
//! through declarative mappings. Pure functions only, so every rule is unit-tested and the
//! parser can be fuzzed.

mod error;
mod event;
mod ids;
pub mod limits;
pub mod mapping;
mod request;
mod time;

pub use error::{ErrorKind, TrackingError};
pub use event::{TrackedEvent, normalize};
pub use mapping::{MappingError, WebhookMapping, webhook_request};
pub use request::{Endpoint, ParsedRequest, RawEvent, parse_request};
pub use time::parse_timestamp;

/// Parses and normalizes a whole request in one step: what the tracking API does.
/// `new_message_id` supplies ids for events that come without one.
pub fn parse_and_normalize(
    endpoint: Endpoint,
    body: &[u8],
    received_at: chrono::DateTime<chrono::Utc>,
    new_message_id: &mut dyn FnMut() -> String,
) -> Result<(Option<String>, Vec<TrackedEvent>), TrackingError> {
    let parsed = parse_request(endpoint, body)?;
    let write_key = parsed.write_key.clone();
    let events = normalize(parsed, received_at, new_message_id)?;
    Ok((write_key, events))
}
