//! Roles and permissions: the one table that says who may do what inside a tenant.

use std::fmt;
use std::str::FromStr;

use crate::DomainError;

/// A member's role in a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything in the tenant, including its owners.
    Owner,
    /// Members, sources, keys, destinations.
    Admin,
    /// Segments, computed traits, destinations; reads profiles.
    Marketer,
    /// Reads.
    Analyst,
    /// Data-subject requests, consent, retention, the audit log.
    Compliance,
}

/// Something a credential may be allowed to do. API-key scopes are these names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    TenantRead,
    MembersRead,
    MembersWrite,
    KeysRead,
    KeysWrite,
    SourcesRead,
    SourcesWrite,
    EventsRead,
    ImportsRead,
    ImportsWrite,
    ProfilesRead,
    IdentityRulesWrite,
    SegmentsRead,
    SegmentsWrite,
    DestinationsRead,
    DestinationsWrite,
    PrivacyRead,
    PrivacyWrite,
    AuditRead,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Marketer,
        Role::Analyst,
        Role::Compliance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Marketer => "marketer",
            Role::Analyst => "analyst",
            Role::Compliance => "compliance",
        }
    }

    /// The permission matrix. Every check of a member's rights comes here.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            // Data-subject requests name people: they are the compliance officer's.
            Role::Admin => !matches!(permission, PrivacyRead | PrivacyWrite),
            Role::Marketer => matches!(
                permission,
                TenantRead
                    | SourcesRead
                    | EventsRead
                    | ImportsRead
                    | ProfilesRead
                    | SegmentsRead
                    | SegmentsWrite
                    | DestinationsRead
                    | DestinationsWrite
            ),
            Role::Analyst => matches!(
                permission,
                TenantRead
                    | SourcesRead
                    | EventsRead
                    | ImportsRead
                    | ProfilesRead
                    | SegmentsRead
                    | DestinationsRead
            ),
            Role::Compliance => {
                matches!(
                    permission,
                    TenantRead | PrivacyRead | PrivacyWrite | AuditRead
                )
            }
        }
    }

    /// Whether a member of this role may give `other` to someone, or change or remove a
    /// member who has it. Only owners touch owners.
    pub fn may_manage(self, other: Role) -> bool {
        self.allows(Permission::MembersWrite) && (self == Role::Owner || other != Role::Owner)
    }
}

impl Permission {
    pub const ALL: [Permission; 19] = [
        Permission::TenantRead,
        Permission::MembersRead,
        Permission::MembersWrite,
        Permission::KeysRead,
        Permission::KeysWrite,
        Permission::SourcesRead,
        Permission::SourcesWrite,
        Permission::EventsRead,
        Permission::ImportsRead,
        Permission::ImportsWrite,
        Permission::ProfilesRead,
        Permission::IdentityRulesWrite,
        Permission::SegmentsRead,
        Permission::SegmentsWrite,
        Permission::DestinationsRead,
        Permission::DestinationsWrite,
        Permission::PrivacyRead,
        Permission::PrivacyWrite,
        Permission::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        use Permission::*;
        match self {
            TenantRead => "tenant:read",
            MembersRead => "members:read",
            MembersWrite => "members:write",
            KeysRead => "keys:read",
            KeysWrite => "keys:write",
            SourcesRead => "sources:read",
            SourcesWrite => "sources:write",
            EventsRead => "events:read",
            ImportsRead => "imports:read",
            ImportsWrite => "imports:write",
            ProfilesRead => "profiles:read",
            IdentityRulesWrite => "identity-rules:write",
            SegmentsRead => "segments:read",
            SegmentsWrite => "segments:write",
            DestinationsRead => "destinations:read",
            DestinationsWrite => "destinations:write",
            PrivacyRead => "privacy:read",
            PrivacyWrite => "privacy:write",
            AuditRead => "audit:read",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(DomainError::UnknownRole)
    }
}

impl FromStr for Permission {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(DomainError::UnknownPermission)
    }
}

/// The matrix as a Markdown table, for the documentation (a test keeps the two equal).
pub fn matrix_markdown() -> String {
    let mut table = String::from("| permission |");
    for role in Role::ALL {
        table.push_str(&format!(" {role} |"));
    }
    table.push_str("\n|---|");
    for _ in Role::ALL {
        table.push_str("---|");
    }
    for permission in Permission::ALL {
        table.push_str(&format!("\n| `{permission}` |"));
        for role in Role::ALL {
            table.push_str(if role.allows(permission) {
                " yes |"
            } else {
                " no |"
            });
        }
    }
    table.push('\n');
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        for permission in Permission::ALL {
            assert_eq!(
                permission.as_str().parse::<Permission>().unwrap(),
                permission
            );
        }
        assert!("root".parse::<Role>().is_err());
        assert!("everything".parse::<Permission>().is_err());
    }

    #[test]
    fn the_roles_hold_what_the_issue_gives_them() {
        use Permission::*;
        assert!(Permission::ALL.iter().all(|p| Role::Owner.allows(*p)));
        assert!(
            Role::Admin.allows(MembersWrite)
                && Role::Admin.allows(KeysWrite)
                && Role::Admin.allows(DestinationsWrite)
        );
        assert!(Role::Marketer.allows(SegmentsWrite) && Role::Marketer.allows(ProfilesRead));
        assert!(!Role::Marketer.allows(MembersRead) && !Role::Marketer.allows(KeysWrite));
        assert!(
            Permission::ALL
                .iter()
                .filter(|p| Role::Analyst.allows(**p))
                .all(|p| p.as_str().ends_with(":read"))
        );
        assert!(Role::Compliance.allows(PrivacyWrite) && Role::Compliance.allows(AuditRead));
        assert!(!Role::Compliance.allows(ProfilesRead) && !Role::Compliance.allows(EventsRead));
    }

    #[test]
    fn only_owners_manage_owners() {
        assert!(Role::Owner.may_manage(Role::Owner));
        assert!(!Role::Admin.may_manage(Role::Owner));
        assert!(Role::Admin.may_manage(Role::Analyst));
        assert!(!Role::Marketer.may_manage(Role::Analyst));
    }
}
