//! Limits of the tracking API, as the tracking spec's clients expect them.

/// Largest single event, in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Largest request body after decompression.
pub const MAX_BODY_BYTES: usize = 500 * 1024;
/// Most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 2500;
/// Longest identifier (userId, anonymousId, groupId, previousId).
pub const MAX_ID_BYTES: usize = 1024;
/// Longest messageId; the log indexes it.
pub const MAX_MESSAGE_ID_BYTES: usize = 256;
/// Longest event name of a track call.
pub const MAX_EVENT_NAME_BYTES: usize = 512;
/// Events stamped further in the future than this are clamped to the time received.
pub const MAX_FUTURE_SKEW_HOURS: i64 = 24;
