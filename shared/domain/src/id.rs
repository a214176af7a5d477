//! Typed, prefixed identifiers (`ten_…`, `evt_…`): a tenant id can never be passed
//! where an event id is expected, and every id says what it names when printed.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::DomainError;

/// What an [`Id`] names: its printed prefix and a human name for errors.
pub trait IdKind {
    const PREFIX: &'static str;
    const NAME: &'static str;
}

/// A UUID tagged with the kind of thing it identifies.
///
/// New ids are UUIDv7, so ids created close in time sort close together in indexes.
pub struct Id<K> {
    uuid: Uuid,
    kind: PhantomData<fn() -> K>,
}

impl<K: IdKind> Id<K> {
    pub fn new() -> Self {
        Self::from_uuid(Uuid::now_v7())
    }

    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self {
            uuid,
            kind: PhantomData,
        }
    }

    pub const fn as_uuid(&self) -> Uuid {
        self.uuid
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.uuid.as_bytes()
    }
}

impl<K: IdKind> Default for Id<K> {
    fn default() -> Self {
        Self::new()
    }
}

// Manual impls: derives would wrongly require the marker type itself to be Clone, Eq, ...
impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Id<K> {}
impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.uuid == other.uuid
    }
}
impl<K> Eq for Id<K> {}
impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.uuid.cmp(&other.uuid)
    }
}
impl<K> Hash for Id<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.uuid.hash(state)
    }
}

impl<K: IdKind> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", K::PREFIX, self.uuid.simple())
    }
}

impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<K: IdKind> FromStr for Id<K> {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| DomainError::InvalidId {
            kind: K::NAME,
            reason,
        };
        let rest = s
            .strip_prefix(K::PREFIX)
            .and_then(|r| r.strip_prefix('_'))
            .ok_or_else(|| invalid(format!("expected the prefix `{}_`", K::PREFIX)))?;
        if rest.len() != 32 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "expected 32 hexadecimal digits after the prefix".into(),
            ));
        }
        Uuid::parse_str(rest)
            .map(Self::from_uuid)
            .map_err(|e| invalid(e.to_string()))
    }
}

impl<K: IdKind> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Declares the marker type of one id kind.
pub enum Tenant {}
impl IdKind for Tenant {
    const PREFIX: &'static str = "ten";
    const NAME: &'static str = "tenant";
}
pub enum Event {}
impl IdKind for Event {
    const PREFIX: &'static str = "evt";
    const NAME: &'static str = "event";
}
pub enum Source {}
impl IdKind for Source {
    const PREFIX: &'static str = "src";
    const NAME: &'static str = "source";
}
pub enum Credential {}
impl IdKind for Credential {
    const PREFIX: &'static str = "cred";
    const NAME: &'static str = "credential";
}
pub enum TenantKey {}
impl IdKind for TenantKey {
    const PREFIX: &'static str = "tk";
    const NAME: &'static str = "tenant key";
}
pub enum DataKey {}
impl IdKind for DataKey {
    const PREFIX: &'static str = "dk";
    const NAME: &'static str = "data key";
}

pub enum Import {}
impl IdKind for Import {
    const PREFIX: &'static str = "imp";
    const NAME: &'static str = "import";
}

pub enum User {}
impl IdKind for User {
    const PREFIX: &'static str = "usr";
    const NAME: &'static str = "user";
}

pub enum Profile {}
impl IdKind for Profile {
    const PREFIX: &'static str = "prof";
    const NAME: &'static str = "profile";
}

pub enum PrivacyRequest {}
impl IdKind for PrivacyRequest {
    const PREFIX: &'static str = "dsr";
    const NAME: &'static str = "privacy request";
}

pub enum Segment {}
impl IdKind for Segment {
    const PREFIX: &'static str = "seg";
    const NAME: &'static str = "segment";
}

pub enum Destination {}
impl IdKind for Destination {
    const PREFIX: &'static str = "dst";
    const NAME: &'static str = "destination";
}

pub type TenantId = Id<Tenant>;
pub type DestinationId = Id<Destination>;
pub type SegmentId = Id<Segment>;
pub type PrivacyRequestId = Id<PrivacyRequest>;
pub type ProfileId = Id<Profile>;
pub type UserId = Id<User>;
pub type ImportId = Id<Import>;
pub type EventId = Id<Event>;
pub type SourceId = Id<Source>;
pub type CredentialId = Id<Credential>;
pub type TenantKeyId = Id<TenantKey>;
pub type DataKeyId = Id<DataKey>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = TenantId::new();
        let text = id.to_string();
        assert!(text.starts_with("ten_"));
        assert_eq!(text.len(), 4 + 32);
        assert_eq!(text.parse::<TenantId>().unwrap(), id);
    }

    #[test]
    fn wrong_prefix_is_refused() {
        let event = EventId::new().to_string();
        let err = event.parse::<TenantId>().unwrap_err();
        assert!(err.to_string().contains("ten_"), "{err}");
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "ten_",
            "ten_xyz",
            "ten-0123",
            "ten_0123456789abcdef0123456789abcdeg",
        ] {
            assert!(bad.parse::<TenantId>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn serde_uses_the_prefixed_form() {
        let id = SourceId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<SourceId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<TenantId>(&json).is_err());
    }
}
