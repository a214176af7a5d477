use thiserror::Error;

/// What kind of bad input, which decides the status code the client gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or invalid input: 400.
    Invalid,
    /// More events in one batch than allowed: 400.
    TooManyEvents,
    /// One event larger than allowed: 413.
    EventTooLarge,
}

impl ErrorKind {
    /// The stable `code` field of the error body.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid_request",
            ErrorKind::TooManyEvents => "too_many_events",
            ErrorKind::EventTooLarge => "event_too_large",
        }
    }
}

/// Bad input, with a message that names the field (and the batch index) at fault.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct TrackingError {
    pub kind: ErrorKind,
    pub message: String,
}

impl TrackingError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Invalid,
            message: message.into(),
        }
    }
}
