//! Event time: parsing client timestamps and correcting client clock skew.

use chrono::{DateTime, Datelike, DurationRound, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

use crate::TrackingError;
use crate::limits::MAX_FUTURE_SKEW_HOURS;
use crate::request::RawEvent;

/// Parses an ISO 8601 timestamp: RFC 3339 with an offset, or a date-time without one (UTC).
/// Years outside 1 to 9999 are refused: not every database can store them.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let parsed = match DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
            .map(|naive| naive.and_utc())?,
    };
    in_range(parsed).then_some(parsed)
}

/// Within the years every storage backend keeps.
pub(crate) fn in_range(t: DateTime<Utc>) -> bool {
    (1..=9999).contains(&t.year())
}

pub(crate) fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn read_time(
    event: &RawEvent,
    name: &str,
) -> Result<Option<(DateTime<Utc>, String)>, TrackingError> {
    match event.fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        // The value is not echoed: error reports are kept, and it could be personal data.
        Some(Value::String(text)) => parse_timestamp(text)
            .map(|t| Some((t, text.clone())))
            .ok_or_else(|| {
                TrackingError::invalid(format!(
                    "{} is not an ISO 8601 timestamp between the years 1 and 9999",
                    event.field(name)
                ))
            }),
        Some(_) => Err(TrackingError::invalid(format!(
            "{} must be an ISO 8601 timestamp string",
            event.field(name)
        ))),
    }
}

/// When the event happened, as far as the server can tell.
pub(crate) struct EventTime {
    pub timestamp: DateTime<Utc>,
    /// The client's own timestamp, as sent, when it sent one.
    pub original: Option<String>,
    /// The corrected time lay more than a day ahead of the server's clock.
    pub clamped: bool,
}

/// `timestamp = receivedAt - (sentAt - originalTimestamp)`: the client's clock error, seen
/// as the gap between when it says it sent the request and when the request arrived,
/// is taken off its timestamp. Without `sentAt` the client's timestamp stands; without a
/// timestamp the time of receipt does.
pub(crate) fn resolve(
    event: &RawEvent,
    received_at: DateTime<Utc>,
) -> Result<EventTime, TrackingError> {
    let original = match read_time(event, "originalTimestamp")? {
        Some(t) => Some(t),
        None => read_time(event, "timestamp")?,
    };
    let sent_at = read_time(event, "sentAt")?;
    let timestamp = match (&original, &sent_at) {
        (Some((original, _)), Some((sent, _))) => {
            let skew: TimeDelta = *sent - *original;
            received_at
                .checked_sub_signed(skew)
                .filter(|t| in_range(*t))
                .ok_or_else(|| {
                    TrackingError::invalid(format!(
                        "{} and sentAt are too far apart",
                        event.field("timestamp")
                    ))
                })?
        }
        (Some((original, _)), None) => *original,
        (None, _) => received_at,
    };
    // Microseconds: what both storage backends keep, so nothing differs after a round trip.
    let timestamp = timestamp
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(timestamp);
    let limit = received_at + TimeDelta::hours(MAX_FUTURE_SKEW_HOURS);
    let clamped = timestamp > limit;
    Ok(EventTime {
        timestamp: if clamped { received_at } else { timestamp },
        original: original.map(|(_, text)| text),
        clamped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_sdks_send() {
        for text in [
            "2026-11-28T10:00:00Z",
            "2026-11-28T10:00:00.123Z",
            "2026-11-28T11:00:00.123456+01:00",
            "2026-11-28T10:00:00",
            "2026-11-28 10:00:00.5",
        ] {
            assert!(parse_timestamp(text).is_some(), "{text}");
        }
        assert_eq!(
            parse_timestamp("2026-11-28T11:00:00+01:00"),
            parse_timestamp("2026-11-28T10:00:00Z")
        );
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for text in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "1764000000",
            "2026-11-28",
        ] {
            assert!(parse_timestamp(text).is_none(), "{text}");
        }
    }
}
