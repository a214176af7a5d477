use std::fmt;

use cdp_domain::{DataKeyId, EventId, Seq, SourceId, TenantId};
use chrono::{DateTime, Utc};

/// An event about to be appended; its payload is already sealed.
#[derive(Clone)]
pub struct NewEvent {
    pub event_id: EventId,
    /// The client's message id; unique per tenant, so a resent event is stored once.
    pub message_id: String,
    pub event_type: String,
    pub source_id: Option<SourceId>,
    pub received_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
    /// The data key that sealed the payload.
    pub key_id: DataKeyId,
    pub payload: Vec<u8>,
}

/// An event as the log holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub tenant_id: TenantId,
    pub seq: Seq,
    pub event_id: EventId,
    pub message_id: String,
    pub event_type: String,
    pub source_id: Option<SourceId>,
    pub received_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
    pub key_id: DataKeyId,
    pub payload: Vec<u8>,
}

// Payloads are sealed, but a log line has no use for kilobytes of ciphertext either.
impl fmt::Debug for NewEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEvent")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for StoredEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredEvent")
            .field("tenant_id", &self.tenant_id)
            .field("seq", &self.seq)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}
