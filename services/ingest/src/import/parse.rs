//! Streaming parsers, run on a blocking thread: each line (or row) becomes one valid event
//! or one line error; only an unreadable input stops the import.

use std::io::{BufRead, BufReader, Read};

use cdp_tracking::limits::MAX_EVENT_BYTES;
use cdp_tracking::{Endpoint, ParsedRequest, RawEvent, TrackedEvent, normalize};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::Sender;

use super::ImportFormat;
use super::csv_rows;

pub(crate) enum Item {
    Event {
        line: i64,
        event: TrackedEvent,
    },
    Invalid {
        line: i64,
        message: String,
    },
    /// The input cannot be read on: the import ends as failed.
    Fatal(String),
}

pub(crate) fn parse(
    format: ImportFormat,
    input: Box<dyn Read + Send>,
    received_at: DateTime<Utc>,
    items: Sender<Item>,
) {
    let result = match format {
        ImportFormat::Ndjson => ndjson(input, received_at, &items),
        ImportFormat::Csv(mapping) => csv_rows::rows(&mapping, input, received_at, &items),
    };
    if let Err(message) = result {
        let _ = items.blocking_send(Item::Fatal(message));
    }
}

/// A stable message id for an event that came without one: the same line always gets the
/// same id, so importing a file twice stores it once.
pub(crate) fn line_message_id(bytes: &[u8]) -> String {
    format!("imp-{}", hex::encode(&Sha256::digest(bytes)[..16]))
}

/// Validates and normalizes one spec event read from a line or row.
pub(crate) fn event_from(
    endpoint: Endpoint,
    mut fields: serde_json::Map<String, Value>,
    line_bytes: &[u8],
    received_at: DateTime<Utc>,
) -> Result<TrackedEvent, String> {
    fields.remove("writeKey");
    if matches!(fields.get("messageId"), None | Some(Value::Null)) {
        fields.insert(
            "messageId".into(),
            Value::String(line_message_id(line_bytes)),
        );
    }
    let request = ParsedRequest {
        endpoint,
        write_key: None,
        events: vec![RawEvent {
            index: None,
            fields,
        }],
    };
    normalize(request, received_at, &mut || {
        unreachable!("every imported event has a message id")
    })
    .map(|mut events| events.remove(0))
    .map_err(|e| e.message)
}

/// Sends an item; `false` when the import stopped listening.
pub(crate) fn send(items: &Sender<Item>, item: Item) -> bool {
    items.blocking_send(item).is_ok()
}

fn ndjson(
    input: Box<dyn Read + Send>,
    received_at: DateTime<Utc>,
    items: &Sender<Item>,
) -> Result<(), String> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut buffer = Vec::with_capacity(4096);
    let mut line: i64 = 0;
    loop {
        buffer.clear();
        line += 1;
        let fits = read_line(&mut reader, &mut buffer, MAX_EVENT_BYTES)
            .map_err(|e| format!("reading line {line} failed: {e}"))?;
        let item = match fits {
            None => return Ok(()),
            Some(false) => Item::Invalid {
                line,
                message: format!("line {line} is longer than {MAX_EVENT_BYTES} bytes"),
            },
            Some(true) => {
                let text = buffer.trim_ascii();
                if text.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<Value>(text) {
                    Ok(Value::Object(fields)) => {
                        match event_from(Endpoint::Batch, fields, text, received_at) {
                            Ok(event) => Item::Event { line, event },
                            Err(message) => Item::Invalid { line, message },
                        }
                    }
                    _ => Item::Invalid {
                        line,
                        message: "not a JSON object".into(),
                    },
                }
            }
        };
        if !send(items, item) {
            return Ok(());
        }
    }
}

/// Reads one line into `buffer`, keeping at most `limit` bytes of it. `None` at the end of
/// the input, `Some(false)` when the line was longer (the rest of it is skipped).
fn read_line(
    reader: &mut impl BufRead,
    buffer: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<Option<bool>> {
    let mut seen_any = false;
    let mut too_long = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(seen_any.then_some(!too_long));
        }
        seen_any = true;
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            if buffer.len() + take > limit + 1 {
                too_long = true;
                buffer.clear();
            } else {
                buffer.extend_from_slice(&available[..take]);
            }
        }
        reader.consume(take);
        if done {
            return Ok(Some(!too_long));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str, limit: usize) -> Vec<Option<String>> {
        let mut reader = BufReader::with_capacity(4, input.as_bytes());
        let mut out = Vec::new();
        let mut buffer = Vec::new();
        while let Some(fits) = read_line(&mut reader, &mut buffer, limit).unwrap() {
            out.push(fits.then(|| String::from_utf8(buffer.clone()).unwrap()));
            buffer.clear();
        }
        out
    }

    #[test]
    fn lines_are_split_and_bounded() {
        assert_eq!(
            lines("ab\ncdefghij\nk", 5),
            vec![Some("ab\n".into()), None, Some("k".into())]
        );
        assert!(lines("", 5).is_empty());
    }

    #[test]
    fn the_same_line_gets_the_same_message_id() {
        assert_eq!(line_message_id(b"x"), line_message_id(b"x"));
        assert_ne!(line_message_id(b"x"), line_message_id(b"y"));
    }
}
