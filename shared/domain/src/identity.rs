//! Identities and the subjects whose keys seal events.

use std::fmt;

use crate::DomainError;

/// The type of an identifier. Custom types are declared by a tenant (for example `shopify_id`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    UserId,
    AnonymousId,
    Email,
    Phone,
    GroupId,
    Custom(String),
}

impl IdentityKind {
    pub fn as_str(&self) -> &str {
        match self {
            IdentityKind::UserId => "user_id",
            IdentityKind::AnonymousId => "anonymous_id",
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::GroupId => "group_id",
            IdentityKind::Custom(name) => name,
        }
    }

    /// Parses a kind name; unknown names are custom kinds if they are short snake-case words.
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        Ok(match name {
            "user_id" => IdentityKind::UserId,
            "anonymous_id" => IdentityKind::AnonymousId,
            "email" => IdentityKind::Email,
            "phone" => IdentityKind::Phone,
            "group_id" => IdentityKind::GroupId,
            other => {
                let valid = !other.is_empty()
                    && other.len() <= 64
                    && other.starts_with(|c: char| c.is_ascii_lowercase())
                    && other
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    return Err(DomainError::InvalidIdentity(
                        "identity type must be 1 to 64 lowercase letters, digits or underscores",
                    ));
                }
                IdentityKind::Custom(other.to_owned())
            }
        })
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One identifier value of a given kind. The value is personal data: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    kind: IdentityKind,
    value: String,
}

impl Identity {
    pub const MAX_VALUE_BYTES: usize = 1024;

    pub fn new(kind: IdentityKind, value: impl Into<String>) -> Result<Self, DomainError> {
        let value = value.into();
        if value.is_empty() {
            return Err(DomainError::InvalidIdentity(
                "identity value must not be empty",
            ));
        }
        if value.len() > Self::MAX_VALUE_BYTES {
            return Err(DomainError::InvalidIdentity(
                "identity value must be at most 1024 bytes",
            ));
        }
        Ok(Self { kind, value })
    }

    /// An identity from a stored or requested type name and value.
    pub fn parse(kind: &str, value: impl Into<String>) -> Result<Self, DomainError> {
        Self::new(IdentityKind::parse(kind)?, value)
    }

    pub fn kind(&self) -> &IdentityKind {
        &self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({}:<redacted>)", self.kind)
    }
}

/// Whose data key seals a piece of data: one identity, or the tenant itself for data that
/// names no person (for example system bookkeeping).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeySubject {
    Identity(Identity),
    Tenant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let id = Identity::new(IdentityKind::Email, "ann@example.com").unwrap();
        let shown = format!("{id:?} {:?}", KeySubject::Identity(id.clone()));
        assert!(!shown.contains("ann@example.com"), "{shown}");
        assert!(shown.contains("email"));
    }

    #[test]
    fn kinds_parse_builtin_and_custom_names() {
        assert_eq!(IdentityKind::parse("email").unwrap(), IdentityKind::Email);
        assert_eq!(
            IdentityKind::parse("shopify_id").unwrap(),
            IdentityKind::Custom("shopify_id".into())
        );
        for bad in ["", "Email", "1abc", "a-b", &"x".repeat(65)] {
            assert!(IdentityKind::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn empty_and_huge_values_are_refused() {
        assert!(Identity::new(IdentityKind::UserId, "").is_err());
        assert!(Identity::new(IdentityKind::UserId, "x".repeat(1025)).is_err());
    }
}
