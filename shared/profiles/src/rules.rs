//! A tenant's identity rules: which identifier types join profiles (and in which priority),
//! how many of a type one profile may hold, which values never identify anyone, and where
//! custom identifier types come from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("invalid identity rules: {0}")]
pub struct RulesError(pub String);

/// Where a custom identifier type is read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomType {
    /// The `type` of `context.externalIds` entries that carry it.
    #[serde(default)]
    pub external_id_type: Option<String>,
    /// A trait whose value carries it.
    #[serde(default)]
    pub trait_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityRules {
    /// Identifier types that join profiles, strongest first. Others are kept on the
    /// profile but never join two.
    pub merge: Vec<String>,
    /// The most identities of a type one profile may hold.
    pub limits: BTreeMap<String, u32>,
    /// Values that never identify anyone, besides the built-in ones (compared without
    /// regard to case; `*` stands for any run of characters).
    pub blocked: Vec<String>,
    /// Custom identifier types and where they come from.
    pub custom: BTreeMap<String, CustomType>,
}

/// Values no identifier may have: placeholders that SDKs and forms send for "nobody".
const BUILT_IN_BLOCKED: [&str; 10] = [
    "",
    "null",
    "undefined",
    "anonymous",
    "0",
    "-1",
    "none",
    "nil",
    "unknown",
    "[object object]",
];

const BUILT_IN_TYPES: [&str; 5] = ["user_id", "anonymous_id", "email", "phone", "group_id"];

impl Default for IdentityRules {
    fn default() -> Self {
        IdentityRules {
            merge: ["user_id", "email", "phone", "anonymous_id"]
                .map(str::to_owned)
                .to_vec(),
            limits: BTreeMap::from([("user_id".to_owned(), 1)]),
            blocked: Vec::new(),
            custom: BTreeMap::new(),
        }
    }
}

impl IdentityRules {
    pub fn from_json(text: &str) -> Result<IdentityRules, RulesError> {
        let rules: IdentityRules =
            serde_json::from_str(text).map_err(|e| RulesError(e.to_string()))?;
        rules.validate()?;
        Ok(rules)
    }

    /// Whether profiles can hold identifiers of this type: a built-in or a declared one.
    pub fn is_known_type(&self, kind: &str) -> bool {
        BUILT_IN_TYPES.contains(&kind) || self.custom.contains_key(kind)
    }

    pub fn validate(&self) -> Result<(), RulesError> {
        let known = |kind: &str| self.is_known_type(kind);
        for kind in &self.merge {
            if !known(kind) {
                return Err(RulesError(format!(
                    "merge: unknown identifier type {kind:?}"
                )));
            }
            if kind == "group_id" {
                return Err(RulesError(
                    "merge: group_id names an account, not a person".into(),
                ));
            }
        }
        for (kind, limit) in &self.limits {
            if !known(kind) {
                return Err(RulesError(format!(
                    "limits: unknown identifier type {kind:?}"
                )));
            }
            if *limit == 0 {
                return Err(RulesError(format!(
                    "limits: {kind} must allow at least one"
                )));
            }
        }
        for name in self.custom.keys() {
            if BUILT_IN_TYPES.contains(&name.as_str()) {
                return Err(RulesError(format!("custom: {name} is a built-in type")));
            }
            cdp_domain::IdentityKind::parse(name)
                .map_err(|e| RulesError(format!("custom: {e}")))?;
        }
        if self.blocked.len() > 200 || self.blocked.iter().any(|b| b.len() > 200) {
            return Err(RulesError(
                "blocked: at most 200 patterns of at most 200 characters".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        if !self.merge.iter().all(|k| seen.insert(k)) {
            return Err(RulesError("merge: a type is listed twice".into()));
        }
        Ok(())
    }

    /// The priority of a merging type: lower is stronger; `None` for types that never join.
    pub fn priority(&self, kind: &str) -> Option<usize> {
        self.merge.iter().position(|k| k == kind)
    }

    pub fn limit(&self, kind: &str) -> Option<u32> {
        self.limits.get(kind).copied()
    }

    /// Whether a value is a placeholder that identifies nobody.
    pub fn is_blocked(&self, value: &str) -> bool {
        let value = value.trim().to_lowercase();
        BUILT_IN_BLOCKED.contains(&value.as_str())
            || self
                .blocked
                .iter()
                .any(|pattern| glob(&pattern.to_lowercase(), &value))
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_patterns_are_blocked() {
        let rules = IdentityRules {
            blocked: vec!["*@example.com".into(), "test-*".into(), "a*b*c".into()],
            ..IdentityRules::default()
        };
        for value in [
            "",
            " ",
            "null",
            "UNDEFINED",
            "anonymous",
            "0",
            "-1",
            "ann@Example.com",
            "test-42",
            "axxbyyc",
        ] {
            assert!(rules.is_blocked(value), "{value:?}");
        }
        for value in ["42", "ann@example.org", "latest-1", "ab", "acb"] {
            assert!(!rules.is_blocked(value), "{value:?}");
        }
    }

    #[test]
    fn rules_are_checked() {
        for (bad, needle) in [
            (
                r#"{"merge": ["user_id", "shoe_size"]}"#,
                "unknown identifier type",
            ),
            (r#"{"merge": ["group_id"]}"#, "account"),
            (r#"{"limits": {"user_id": 0}}"#, "at least one"),
            (r#"{"custom": {"email": {}}}"#, "built-in"),
            (r#"{"merge": ["email", "email"]}"#, "twice"),
            (r#"{"merges": []}"#, "unknown field"),
        ] {
            let err = IdentityRules::from_json(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        let custom = IdentityRules::from_json(
            r#"{"merge": ["user_id", "shop_id", "anonymous_id"], "custom": {"shop_id": {"external_id_type": "shopify"}}}"#,
        )
        .unwrap();
        assert_eq!(custom.priority("shop_id"), Some(1));
        assert_eq!(custom.priority("email"), None);
    }
}
