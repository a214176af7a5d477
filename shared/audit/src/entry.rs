use cdp_domain::TenantId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// Which chain an entry belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    Tenant(TenantId),
    /// Actions of platform admins.
    Platform,
}

impl Chain {
    /// The chain's key in the table: the tenant id, or the nil id for the platform.
    pub(crate) fn key(self) -> Uuid {
        match self {
            Chain::Tenant(tenant) => tenant.as_uuid(),
            Chain::Platform => Uuid::nil(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person signed in with a member token.
    Member,
    /// A platform admin.
    PlatformAdmin,
    /// A machine credential.
    ApiKey,
    /// The command line, run by whoever has access to the server.
    Cli,
    /// The system itself (a background job).
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Member => "member",
            ActorKind::PlatformAdmin => "platform_admin",
            ActorKind::ApiKey => "api_key",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
        }
    }
}

/// Who acted: a kind, an id (`usr_…`, `cred_…`) and the role they acted in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
    pub role: Option<String>,
}

impl Actor {
    /// The system itself, for what a background job does.
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
            role: None,
        }
    }

    pub fn cli() -> Actor {
        Actor {
            kind: ActorKind::Cli,
            id: None,
            role: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Refused for lack of permission.
    Denied,
    /// Attempted and failed (for example a wrong password).
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

/// An entry about to be appended.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub actor: Actor,
    /// A dotted verb, for example `member.add` or `tenant.suspend`.
    pub action: String,
    /// What was acted on: a kind and an id, for example `("member", "usr_…")`.
    pub target: Option<(String, String)>,
    pub source_ip: Option<String>,
    pub outcome: Outcome,
    /// Further facts (ids, roles, counts). Never personal data.
    pub details: serde_json::Value,
}

impl AuditEntry {
    /// An entry for an action of `actor`, from `source_ip`.
    pub fn of(
        actor: Actor,
        source_ip: Option<String>,
        action: &str,
        target: Option<(&str, String)>,
        outcome: Outcome,
        details: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            actor,
            action: action.to_owned(),
            target: target.map(|(kind, id)| (kind.to_owned(), id)),
            source_ip,
            outcome,
            details,
        }
    }
}

/// An entry as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredEntry {
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_role: Option<String>,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub source_ip: Option<String>,
    pub outcome: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Which entries to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Entries after this sequence number.
    pub after: i64,
    pub limit: u64,
    /// Actions starting with this text (`member.` matches every member action).
    pub action_prefix: Option<String>,
    pub actor_id: Option<String>,
    pub outcome: Option<Outcome>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}
