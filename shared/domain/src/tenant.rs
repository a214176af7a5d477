use std::fmt;

use crate::DomainError;

/// A workspace's display name: trimmed, 1 to 100 characters, no control characters.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantName(String);

impl TenantName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(DomainError::InvalidTenantName("must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::InvalidTenantName(
                "must be at most 100 characters",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(DomainError::InvalidTenantName(
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TenantName::parse("  acme ").unwrap().as_str(), "acme");
        assert!(TenantName::parse("   ").is_err());
        assert!(TenantName::parse(&"a".repeat(101)).is_err());
        assert!(TenantName::parse(&"é".repeat(100)).is_ok());
        assert!(TenantName::parse("ac\u{0}me").is_err());
    }
}
