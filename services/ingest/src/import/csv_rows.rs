//! CSV of profiles: a header row, then one profile per row. The mapping names the column of
//! the user id (or anonymous id), further identifier columns, trait columns and optionally
//! a time column; each row becomes an identify event. Cell values stay text.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cdp_domain::{EventType, IdentityKind};
use cdp_tracking::Endpoint;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::Sender;

use super::parse::{Item, event_from, send};

/// How CSV columns become a profile.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    /// Column holding the user id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Column holding the anonymous id (when there is no user id).
    #[serde(default)]
    pub anonymous_id: Option<String>,
    /// Further identifiers: identity type → column, for example `{"email": "Email"}`.
    #[serde(default)]
    pub identifiers: BTreeMap<String, String>,
    /// `"*"` (every other column, under its own name), a list of columns, or an object of
    /// trait name → column.
    #[serde(default)]
    pub traits: Option<Value>,
    /// Column holding when the row was last true (ISO 8601).
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl CsvMapping {
    pub fn from_json(text: &str) -> Result<CsvMapping, String> {
        let mapping: CsvMapping =
            serde_json::from_str(text).map_err(|e| format!("invalid CSV mapping: {e}"))?;
        if mapping.user_id.is_none() && mapping.anonymous_id.is_none() {
            return Err("invalid CSV mapping: name a user_id or an anonymous_id column".into());
        }
        for kind in mapping.identifiers.keys() {
            IdentityKind::parse(kind)
                .map_err(|e| format!("invalid CSV mapping: identifiers: {e}"))?;
        }
        match &mapping.traits {
            None => {}
            Some(Value::String(s)) if s == "*" => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
            Some(Value::Object(map)) if map.values().all(Value::is_string) => {}
            Some(_) => {
                return Err(
                    "invalid CSV mapping: traits is \"*\", a list of columns, or an object of trait name to column"
                        .into(),
                );
            }
        }
        Ok(mapping)
    }
}

/// The mapping resolved against a header: column positions.
struct Bound {
    user_id: Option<usize>,
    anonymous_id: Option<usize>,
    identifiers: Vec<(String, usize)>,
    traits: Vec<(String, usize)>,
    timestamp: Option<usize>,
}

fn bind(mapping: &CsvMapping, header: &csv::StringRecord) -> Result<Bound, String> {
    let position = |column: &str| {
        header
            .iter()
            .position(|h| h.trim() == column)
            .ok_or_else(|| format!("the CSV header has no column {column:?}"))
    };
    let optional = |column: &Option<String>| column.as_deref().map(position).transpose();
    let user_id = optional(&mapping.user_id)?;
    let anonymous_id = optional(&mapping.anonymous_id)?;
    let timestamp = optional(&mapping.timestamp)?;
    let identifiers = mapping
        .identifiers
        .iter()
        .map(|(kind, column)| Ok((kind.clone(), position(column)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let used: Vec<usize> = [user_id, anonymous_id, timestamp]
        .into_iter()
        .flatten()
        .chain(identifiers.iter().map(|(_, i)| *i))
        .collect();
    let traits = match &mapping.traits {
        None => Vec::new(),
        Some(Value::String(_)) => header
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(i, name)| (name.trim().to_owned(), i))
            .collect(),
        Some(Value::Array(columns)) => columns
            .iter()
            .filter_map(Value::as_str)
            .map(|c| Ok((c.to_owned(), position(c)?)))
            .collect::<Result<_, String>>()?,
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(name, c)| c.as_str().map(|c| (name, c)))
            .map(|(name, c)| Ok((name.clone(), position(c)?)))
            .collect::<Result<_, String>>()?,
        Some(_) => Vec::new(),
    };
    Ok(Bound {
        user_id,
        anonymous_id,
        identifiers,
        traits,
        timestamp,
    })
}

pub(crate) fn rows(
    mapping: &CsvMapping,
    input: Box<dyn Read + Send>,
    received_at: DateTime<Utc>,
    items: &Sender<Item>,
) -> Result<(), String> {
    let budget = RecordBudget::new(input);
    let spent = budget.spent.clone();
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(budget);
    let header = reader
        .headers()
        .map_err(|e| format!("reading the CSV header failed: {e}"))?
        .clone();
    let bound = bind(mapping, &header)?;
    let mut record = csv::StringRecord::new();
    loop {
        // Where the next record starts; a record spanning several lines is named by its first.
        let next_line = reader.position().line() as i64;
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                spent.store(0, Ordering::Relaxed);
                let line = record.position().map_or(next_line, |p| p.line() as i64);
                let item = if record.len() != header.len() {
                    Item::Invalid {
                        line,
                        message: format!(
                            "the row has {} fields; the header has {}",
                            record.len(),
                            header.len()
                        ),
                    }
                } else {
                    match row_event(&bound, &header, &record, received_at) {
                        Ok(event) => Item::Event { line, event },
                        Err(message) => Item::Invalid { line, message },
                    }
                };
                if !send(items, item) {
                    return Ok(());
                }
            }
            Err(e) if e.is_io_error() => return Err(format!("reading the CSV failed: {e}")),
            Err(e) => {
                let line = e.position().map_or(next_line, |p| p.line() as i64);
                if !send(
                    items,
                    Item::Invalid {
                        line,
                        message: e.to_string(),
                    },
                ) {
                    return Ok(());
                }
            }
        }
    }
}

/// Most bytes read between two records: an unterminated quote must not pull a whole upload
/// into one record.
const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// Fails the read once more than [`MAX_RECORD_BYTES`] pass without a record being completed.
struct RecordBudget<R> {
    inner: R,
    spent: Arc<AtomicU64>,
}

impl<R> RecordBudget<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            spent: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl<R: Read> Read for RecordBudget<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.spent.fetch_add(n as u64, Ordering::Relaxed) + n as u64 > MAX_RECORD_BYTES {
            return Err(std::io::Error::other(
                "a CSV record is longer than 1 MB (an unterminated quote?)",
            ));
        }
        Ok(n)
    }
}

fn row_event(
    bound: &Bound,
    header: &csv::StringRecord,
    record: &csv::StringRecord,
    received_at: DateTime<Utc>,
) -> Result<cdp_tracking::TrackedEvent, String> {
    let cell = |i: usize| record.get(i).map(str::trim).filter(|v| !v.is_empty());
    let mut fields = Map::new();
    fields.insert("type".into(), json!("identify"));
    if let Some(v) = bound.user_id.and_then(cell) {
        fields.insert("userId".into(), json!(v));
    }
    if let Some(v) = bound.anonymous_id.and_then(cell) {
        fields.insert("anonymousId".into(), json!(v));
    }
    if !fields.contains_key("userId") && !fields.contains_key("anonymousId") {
        return Err("the row has no user id or anonymous id value".into());
    }
    let mut traits = Map::new();
    for (name, i) in &bound.traits {
        if let Some(v) = cell(*i) {
            traits.insert(name.clone(), json!(v));
        }
    }
    let mut external_ids = Vec::new();
    for (kind, i) in &bound.identifiers {
        if let Some(v) = cell(*i) {
            external_ids
                .push(json!({"id": v, "type": kind, "collection": "users", "encoding": "none"}));
            if kind == "email" || kind == "phone" {
                traits.entry(kind.clone()).or_insert_with(|| json!(v));
            }
        }
    }
    fields.insert("traits".into(), Value::Object(traits));
    if !external_ids.is_empty() {
        fields.insert("context".into(), json!({"externalIds": external_ids}));
    }
    if let Some(v) = bound.timestamp.and_then(cell) {
        fields.insert("timestamp".into(), json!(v));
    }
    // The id hashes the header with the row, so the same row of the same file is stored once.
    let mut identity = header.iter().collect::<Vec<_>>().join("\u{1f}");
    identity.push('\u{1e}');
    identity.push_str(&record.iter().collect::<Vec<_>>().join("\u{1f}"));
    event_from(
        Endpoint::Single(EventType::Identify),
        fields,
        identity.as_bytes(),
        received_at,
    )
}
