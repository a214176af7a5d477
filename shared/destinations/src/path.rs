//! Dotted paths into a JSON document (`properties.total`), as filters and mappings name
//! fields.

use serde_json::{Map, Value};

/// Longest path, and most segments in one.
const MAX_PATH_BYTES: usize = 200;
const MAX_SEGMENTS: usize = 16;

/// A checked path: non-empty segments separated by dots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, &'static str> {
        if text.is_empty() || text.len() > MAX_PATH_BYTES {
            return Err("a field path has 1 to 200 characters");
        }
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        if segments.len() > MAX_SEGMENTS {
            return Err("a field path has at most 16 segments");
        }
        if segments.iter().any(String::is_empty) {
            return Err("a field path has no empty segment (`a..b`, a leading or trailing dot)");
        }
        Ok(FieldPath(segments))
    }

    pub fn as_string(&self) -> String {
        self.0.join(".")
    }

    pub fn get<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        self.0
            .iter()
            .try_fold(document, |node, segment| node.as_object()?.get(segment))
    }

    /// Removes the field and returns it; parents are left as they are.
    pub fn take(&self, document: &mut Value) -> Option<Value> {
        let (last, parents) = self.0.split_last()?;
        let mut node = document;
        for segment in parents {
            node = node.as_object_mut()?.get_mut(segment)?;
        }
        node.as_object_mut()?.remove(last)
    }

    /// Sets the field, making missing parents objects. A parent that is not an object
    /// is left alone and the value dropped: a mapping never destroys data it was not
    /// asked to touch.
    pub fn put(&self, document: &mut Value, value: Value) -> bool {
        let Some((last, parents)) = self.0.split_last() else {
            return false;
        };
        let mut node = document;
        for segment in parents {
            let Some(object) = node.as_object_mut() else {
                return false;
            };
            node = object
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        match node.as_object_mut() {
            Some(object) => {
                object.insert(last.clone(), value);
                true
            }
            None => false,
        }
    }
}
