//! The verified caller of a request, as actix extractors.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use cdp_audit::{Actor, ActorKind, AuditEntry, Chain, Outcome};
use cdp_domain::{CredentialId, Permission, Role, TenantId, UserId};
use cdp_http::{Presented, presented_credential};
use cdp_storage::DatabaseConnection;
use cdp_tenancy::KeyCheck;
use uuid::Uuid;

use crate::token::{Claims, verify};
use crate::{AuthError, Authenticator};

/// Who acts inside a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A signed-in person, with the role they hold there.
    Member { user: UserId, role: Role },
    /// A machine credential, with its scopes (`*` for all).
    ApiKey {
        credential: CredentialId,
        scopes: Vec<String>,
    },
}

/// A caller acting inside one tenant: the only way handlers of tenant data learn which
/// tenant they serve.
#[derive(Clone)]
pub struct TenantPrincipal {
    pub tenant_id: TenantId,
    pub caller: Caller,
    pub source_ip: Option<String>,
    db: DatabaseConnection,
}

impl std::fmt::Debug for TenantPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantPrincipal")
            .field("tenant_id", &self.tenant_id)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl TenantPrincipal {
    /// Whether the caller holds `permission` (without recording anything).
    pub fn holds(&self, permission: Permission) -> bool {
        match &self.caller {
            Caller::Member { role, .. } => role.allows(permission),
            Caller::ApiKey { scopes, .. } => scopes
                .iter()
                .any(|s| s == cdp_tenancy::ALL_SCOPES || s == permission.as_str()),
        }
    }

    /// Checks a permission; a refusal is answered 403 and recorded in the audit log.
    pub async fn authorize(&self, permission: Permission) -> Result<(), AuthError> {
        if self.holds(permission) {
            return Ok(());
        }
        self.record(
            "access.denied",
            None,
            Outcome::Denied,
            serde_json::json!({"permission": permission.as_str()}),
        )
        .await;
        Err(AuthError::Forbidden(permission))
    }

    pub fn role(&self) -> Option<Role> {
        match self.caller {
            Caller::Member { role, .. } => Some(role),
            Caller::ApiKey { .. } => None,
        }
    }

    pub fn actor(&self) -> Actor {
        match &self.caller {
            Caller::Member { user, role } => Actor {
                kind: ActorKind::Member,
                id: Some(user.to_string()),
                role: Some(role.as_str().to_owned()),
            },
            Caller::ApiKey { credential, scopes } => Actor {
                kind: ActorKind::ApiKey,
                id: Some(credential.to_string()),
                role: Some(scopes.join(" ")),
            },
        }
    }

    /// An audit entry for an action of this caller, ready to append.
    pub fn audit_entry(
        &self,
        action: &str,
        target: Option<(&str, String)>,
        outcome: Outcome,
        details: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry::of(
            self.actor(),
            self.source_ip.clone(),
            action,
            target,
            outcome,
            details,
        )
    }

    /// Appends an entry to the tenant's audit log in a transaction of its own.
    pub async fn record(
        &self,
        action: &str,
        target: Option<(&str, String)>,
        outcome: Outcome,
        details: serde_json::Value,
    ) {
        let entry = self.audit_entry(action, target, outcome, details);
        if let Err(e) = cdp_audit::append_now(&self.db, Chain::Tenant(self.tenant_id), entry).await
        {
            tracing::warn!(error = %e, "could not append to the audit log");
        }
    }
}

/// A platform admin.
#[derive(Clone)]
pub struct PlatformPrincipal {
    pub user_id: UserId,
    pub source_ip: Option<String>,
}

impl PlatformPrincipal {
    pub fn actor(&self) -> Actor {
        Actor {
            kind: ActorKind::PlatformAdmin,
            id: Some(self.user_id.to_string()),
            role: Some("platform_admin".to_owned()),
        }
    }

    pub fn audit_entry(
        &self,
        action: &str,
        target: Option<(&str, String)>,
        outcome: Outcome,
        details: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry::of(
            self.actor(),
            self.source_ip.clone(),
            action,
            target,
            outcome,
            details,
        )
    }
}

/// Any signed-in person, even one who must change a one-time password first: what
/// changing one's password and signing out need.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub user_id: UserId,
}

/// The client's address, for the audit log and sign-in throttling.
pub fn source_ip(request: &HttpRequest) -> Option<String> {
    request.peer_addr().map(|addr| addr.ip().to_string())
}

fn bearer(request: &HttpRequest) -> Result<String, AuthError> {
    match presented_credential(request) {
        Some(Presented::Bearer(secret)) => Ok(secret),
        Some(_) => Err(AuthError::InvalidToken(
            "send credentials as Authorization: Bearer",
        )),
        None => Err(AuthError::Missing),
    }
}

impl Authenticator {
    /// Verifies an access token (signature, algorithm, issuer, audience, times) and checks
    /// that its sign-in is still open.
    pub async fn check_access_token(&self, token: &str) -> Result<Claims, AuthError> {
        Ok(self.claims(token).await?.0)
    }

    /// Verifies an access token and checks that its sign-in is still open.
    async fn claims(&self, token: &str) -> Result<(Claims, UserId), AuthError> {
        let claims = verify(&self.signing, token).await?;
        let user: UserId = claims
            .sub
            .parse()
            .map_err(|_| AuthError::InvalidToken("malformed"))?;
        let session =
            Uuid::parse_str(&claims.sid).map_err(|_| AuthError::InvalidToken("malformed"))?;
        if !self.session_open(session).await? {
            return Err(AuthError::InvalidToken("signed out"));
        }
        Ok((claims, user))
    }

    async fn tenant_principal(
        &self,
        request: &HttpRequest,
    ) -> Result<(TenantId, Caller), AuthError> {
        let secret = bearer(request)?;
        if secret.starts_with(cdp_tenancy::TokenKind::ApiKey.prefix()) {
            return match cdp_tenancy::authenticate_api_key(&self.db, &secret)
                .await
                .map_err(AuthError::unavailable)?
            {
                KeyCheck::Valid(grant) => Ok((
                    grant.tenant_id,
                    Caller::ApiKey {
                        credential: grant.credential_id,
                        scopes: grant.scopes,
                    },
                )),
                KeyCheck::Suspended => Err(AuthError::Suspended),
                KeyCheck::Invalid => Err(AuthError::InvalidKey),
            };
        }
        let (claims, user) = self.claims(&secret).await?;
        if claims.pwc {
            return Err(AuthError::PasswordChangeRequired);
        }
        let (Some(tenant), Some(role)) = (claims.tid.as_deref(), claims.role.as_deref()) else {
            return Err(AuthError::NotAllowed(
                "a platform token acts on /v1/admin only",
            ));
        };
        let tenant: TenantId = tenant
            .parse()
            .map_err(|_| AuthError::InvalidToken("malformed"))?;
        let role: Role = role
            .parse()
            .map_err(|_| AuthError::InvalidToken("malformed"))?;
        // The membership is checked on every request: a removed member, or one whose role
        // changed, is out at once rather than when the token expires.
        match self.live_role(tenant, user).await? {
            Some(current) if current == role => Ok((tenant, Caller::Member { user, role })),
            Some(_) => Err(AuthError::InvalidToken("your role changed: sign in again")),
            None => Err(AuthError::InvalidToken("no longer a member")),
        }
    }

    async fn platform_principal(&self, request: &HttpRequest) -> Result<UserId, AuthError> {
        let secret = bearer(request)?;
        if secret.starts_with(cdp_tenancy::TokenKind::ApiKey.prefix()) {
            return Err(AuthError::NotAllowed(
                "platform administration needs a platform admin's token",
            ));
        }
        let (claims, user) = self.claims(&secret).await?;
        if claims.pwc {
            return Err(AuthError::PasswordChangeRequired);
        }
        let still_admin = cdp_tenancy::find_user(&self.db, user)
            .await
            .map_err(AuthError::unavailable)?
            .is_some_and(|u| u.platform_admin && !u.disabled);
        if claims.adm && still_admin {
            Ok(user)
        } else {
            Err(AuthError::NotAllowed(
                "platform administration needs a platform admin's token",
            ))
        }
    }
}

impl Authenticator {
    /// The caller of a tenant endpoint, authenticated (not yet authorized).
    pub async fn tenant_caller(&self, request: &HttpRequest) -> Result<TenantPrincipal, AuthError> {
        let (tenant_id, caller) = self.tenant_principal(request).await?;
        Ok(TenantPrincipal {
            tenant_id,
            caller,
            source_ip: source_ip(request),
            db: self.db.clone(),
        })
    }

    /// The caller of a platform endpoint.
    pub async fn platform_caller(
        &self,
        request: &HttpRequest,
    ) -> Result<PlatformPrincipal, AuthError> {
        let user_id = self.platform_principal(request).await?;
        Ok(PlatformPrincipal {
            user_id,
            source_ip: source_ip(request),
        })
    }

    /// Any signed-in person.
    pub async fn signed_in(&self, request: &HttpRequest) -> Result<SignedIn, AuthError> {
        let secret = bearer(request)?;
        let (_, user_id) = self.claims(&secret).await?;
        Ok(SignedIn { user_id })
    }
}

/// Principals are put on the request by the access gate, which checks every endpoint
/// against the one table of what it requires before any handler runs. A handler asking for
/// one the gate did not provide is a route missing from that table: a programming error.
fn from_gate<T: Clone + 'static>(request: &HttpRequest) -> Result<T, AuthError> {
    request
        .extensions()
        .get::<T>()
        .cloned()
        .ok_or(AuthError::Unguarded)
}

impl FromRequest for TenantPrincipal {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(from_gate(request))
    }
}

impl FromRequest for PlatformPrincipal {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(from_gate(request))
    }
}

impl FromRequest for SignedIn {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(from_gate(request))
    }
}
