//! Identifier fields: strings, or numbers turned into strings as the tracking SDKs do.

use serde_json::Value;

use crate::TrackingError;
use crate::request::RawEvent;

/// Reads an identifier field and writes its normalized string form back. Absent or null
/// is `None`; a blank string, an over-long one, or any other type is an error.
pub(crate) fn read_id(
    event: &mut RawEvent,
    name: &str,
    max_bytes: usize,
) -> Result<Option<String>, TrackingError> {
    let text = match event.fields.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(TrackingError::invalid(format!(
                "{} must be a string or a number",
                event.field(name)
            )));
        }
    };
    if text.trim().is_empty() {
        return Err(TrackingError::invalid(format!(
            "{} must not be empty",
            event.field(name)
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(TrackingError::invalid(format!(
            "{} must not contain control characters",
            event.field(name)
        )));
    }
    if text.len() > max_bytes {
        return Err(TrackingError::invalid(format!(
            "{} is {} bytes; at most {max_bytes} are allowed",
            event.field(name),
            text.len()
        )));
    }
    event
        .fields
        .insert(name.to_owned(), Value::String(text.clone()));
    Ok(Some(text))
}
