//! Every endpoint of the management API with what it requires: the list the permission
//! test walks, and the one the documentation's matrix is checked against.

use cdp_domain::Permission;

/// What a caller needs to reach an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Anyone (signing in).
    Public,
    /// Any signed-in person, even one who must change a one-time password.
    SignedIn,
    /// A member or API key of the tenant holding the permission.
    Tenant(Permission),
    /// A platform admin.
    Platform,
}

#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    pub method: &'static str,
    /// With `{…}` for path parameters.
    pub path: &'static str,
    pub guard: Guard,
}

const fn tenant(method: &'static str, path: &'static str, permission: Permission) -> Endpoint {
    Endpoint {
        method,
        path,
        guard: Guard::Tenant(permission),
    }
}

const fn platform(method: &'static str, path: &'static str) -> Endpoint {
    Endpoint {
        method,
        path,
        guard: Guard::Platform,
    }
}

use Permission::*;

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "POST",
        path: "/v1/auth/login",
        guard: Guard::Public,
    },
    Endpoint {
        method: "POST",
        path: "/v1/auth/refresh",
        guard: Guard::Public,
    },
    Endpoint {
        method: "POST",
        path: "/v1/auth/logout",
        guard: Guard::Public,
    },
    Endpoint {
        method: "POST",
        path: "/v1/auth/password",
        guard: Guard::SignedIn,
    },
    Endpoint {
        method: "GET",
        path: "/v1/auth/me",
        guard: Guard::SignedIn,
    },
    tenant("GET", "/v1/tenant", TenantRead),
    tenant("GET", "/v1/members", MembersRead),
    tenant("POST", "/v1/members", MembersWrite),
    tenant("PATCH", "/v1/members/{user_id}", MembersWrite),
    tenant("DELETE", "/v1/members/{user_id}", MembersWrite),
    tenant("GET", "/v1/keys", KeysRead),
    tenant("POST", "/v1/keys", KeysWrite),
    tenant("DELETE", "/v1/keys/{credential_id}", KeysWrite),
    tenant("GET", "/v1/sources", SourcesRead),
    tenant("POST", "/v1/sources", SourcesWrite),
    tenant("GET", "/v1/sources/{source_id}", SourcesRead),
    tenant("POST", "/v1/sources/{source_id}/keys", SourcesWrite),
    tenant("GET", "/v1/events", EventsRead),
    tenant("GET", "/v1/events/volume", TenantRead),
    tenant("GET", "/v1/stream", EventsRead),
    tenant("GET", "/v1/exports/events", EventsRead),
    tenant("GET", "/v1/exports/profiles", ProfilesRead),
    tenant("POST", "/v1/profiles/search", ProfilesRead),
    tenant("GET", "/v1/profiles/{profile}", ProfilesRead),
    tenant("GET", "/v1/profiles/{profile}/events", ProfilesRead),
    tenant("GET", "/v1/profiles/{profile}/identities", ProfilesRead),
    tenant("GET", "/v1/profiles/{profile}/segments", ProfilesRead),
    tenant("GET", "/v1/computed-traits", SegmentsRead),
    tenant("PUT", "/v1/computed-traits/{name}", SegmentsWrite),
    tenant("DELETE", "/v1/computed-traits/{name}", SegmentsWrite),
    tenant("GET", "/v1/segments", SegmentsRead),
    tenant("POST", "/v1/segments", SegmentsWrite),
    tenant("POST", "/v1/segments/preview", SegmentsRead),
    tenant("GET", "/v1/segments/{segment_id}", SegmentsRead),
    tenant("PUT", "/v1/segments/{segment_id}", SegmentsWrite),
    tenant("DELETE", "/v1/segments/{segment_id}", SegmentsWrite),
    tenant("GET", "/v1/segments/{segment_id}/members", SegmentsRead),
    tenant("GET", "/v1/segments/{segment_id}/sizes", SegmentsRead),
    tenant("GET", "/v1/destinations", DestinationsRead),
    tenant("POST", "/v1/destinations", DestinationsWrite),
    tenant("GET", "/v1/destinations/{destination_id}", DestinationsRead),
    tenant(
        "PUT",
        "/v1/destinations/{destination_id}",
        DestinationsWrite,
    ),
    tenant(
        "DELETE",
        "/v1/destinations/{destination_id}",
        DestinationsWrite,
    ),
    tenant(
        "POST",
        "/v1/destinations/{destination_id}/secret",
        DestinationsWrite,
    ),
    tenant(
        "GET",
        "/v1/destinations/{destination_id}/deliveries",
        DestinationsRead,
    ),
    tenant(
        "GET",
        "/v1/destinations/{destination_id}/deliveries/{seq}",
        DestinationsRead,
    ),
    tenant(
        "POST",
        "/v1/destinations/{destination_id}/replay",
        DestinationsWrite,
    ),
    tenant(
        "POST",
        "/v1/destinations/{destination_id}/test",
        DestinationsWrite,
    ),
    tenant("GET", "/v1/identity-rules", ProfilesRead),
    tenant("PUT", "/v1/identity-rules", IdentityRulesWrite),
    tenant("GET", "/v1/projection", TenantRead),
    tenant("POST", "/v1/privacy/requests", PrivacyWrite),
    tenant("GET", "/v1/privacy/requests", PrivacyRead),
    tenant("GET", "/v1/privacy/requests/{request_id}", PrivacyRead),
    tenant(
        "GET",
        "/v1/privacy/requests/{request_id}/export",
        PrivacyRead,
    ),
    tenant(
        "GET",
        "/v1/privacy/requests/{request_id}/receipt/verify",
        PrivacyRead,
    ),
    tenant("POST", "/v1/consent", PrivacyWrite),
    tenant("GET", "/v1/consent", PrivacyRead),
    tenant("GET", "/v1/retention", PrivacyRead),
    tenant("PUT", "/v1/retention", PrivacyWrite),
    tenant("GET", "/v1/sources/{source_id}/rejections", EventsRead),
    tenant("GET", "/v1/imports", ImportsRead),
    tenant("POST", "/v1/imports", ImportsWrite),
    tenant("GET", "/v1/imports/{import_id}", ImportsRead),
    tenant("GET", "/v1/audit", AuditRead),
    tenant("GET", "/v1/audit/verify", AuditRead),
    platform("GET", "/v1/admin/tenants"),
    platform("POST", "/v1/admin/tenants"),
    platform("GET", "/v1/admin/tenants/{tenant_id}"),
    platform("PATCH", "/v1/admin/tenants/{tenant_id}"),
    platform("DELETE", "/v1/admin/tenants/{tenant_id}"),
    platform("PUT", "/v1/admin/tenants/{tenant_id}/quotas"),
    platform("GET", "/v1/admin/projections"),
    platform("POST", "/v1/admin/tenants/{tenant_id}/projection/rebuild"),
    platform("POST", "/v1/admin/tenants/{tenant_id}/projection/resume"),
    platform("GET", "/v1/admin/audit"),
    platform("GET", "/v1/admin/audit/verify"),
    platform("POST", "/v1/admin/signing-keys"),
];

/// The endpoint table as Markdown, for the documentation (a test keeps the two equal).
pub fn endpoints_markdown() -> String {
    let mut table = String::from("| method | path | requires |\n|---|---|---|\n");
    for e in ENDPOINTS {
        let requires = match e.guard {
            Guard::Public => "anyone".to_owned(),
            Guard::SignedIn => "a signed-in person".to_owned(),
            Guard::Tenant(p) => format!("`{}`", p.as_str()),
            Guard::Platform => "a platform admin".to_owned(),
        };
        table.push_str(&format!("| {} | `{}` | {requires} |\n", e.method, e.path));
    }
    table
}
