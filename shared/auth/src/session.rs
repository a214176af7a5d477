//! Signing in: e-mail and password give a short-lived access token and a refresh token.
//! Refresh tokens rotate on every use; presenting one that was already used revokes the
//! whole sign-in (someone copied it). Signing out revokes it too.

use cdp_audit::{Actor, ActorKind, AuditEntry, Chain, Outcome};
use cdp_domain::{Email, Role, TenantId, UserId};
use cdp_tenancy::{SecretToken, TenantStatus, TokenKind, User};
use chrono::{TimeDelta, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use serde::{Deserialize, Serialize};

use crate::throttle::{account_key, address_key};
use crate::token::{Claims, issue};
use crate::{AuthError, Authenticator, password};

pub(crate) mod refresh {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub family_id: Uuid,
        pub user_id: Uuid,
        pub tenant_id: Option<Uuid>,
        pub token_hash: String,
        pub created_at: ChronoDateTimeUtc,
        pub expires_at: ChronoDateTimeUtc,
        pub used_at: Option<ChronoDateTimeUtc>,
        pub revoked_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("refresh::Model")
                .field("id", &self.id)
                .finish_non_exhaustive()
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Which workspace, when the person belongs to several.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub tenant_id: Option<TenantId>,
    /// Administer the platform rather than a workspace (platform admins only; needed by
    /// one who also belongs to workspaces).
    #[serde(default)]
    pub platform: bool,
}

/// What signing in (or refreshing) gives.
#[derive(Serialize)]
pub struct Session {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub user_id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    pub platform_admin: bool,
    pub password_change_required: bool,
}

/// What an access token is issued for.
#[derive(Clone, Copy)]
enum Scope {
    Member(TenantId, Role),
    Platform,
}

impl Authenticator {
    pub async fn login(
        &self,
        request: LoginRequest,
        ip: Option<&str>,
    ) -> Result<Session, AuthError> {
        let email = Email::parse(&request.email).map_err(|_| AuthError::InvalidCredentials)?;
        let account = account_key(email.as_str());
        let mut keys = vec![account.clone()];
        if let Some(ip) = ip {
            keys.push(address_key(ip));
        }
        if let Some(wait) = self.throttle.locked(&keys).await {
            return Err(AuthError::Throttled(wait));
        }
        let user = cdp_tenancy::find_user_by_email(&self.db, &email)
            .await
            .map_err(AuthError::unavailable)?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        let password = request.password.clone();
        // An unknown address costs the same time as a wrong password, so timing tells nothing.
        let matches = tokio::task::spawn_blocking(move || match stored {
            Some(hash) => password::verify_password(&password, &hash),
            None => {
                password::verify_password(&password, dummy_hash());
                false
            }
        })
        .await
        .unwrap_or(false);
        let user = match user {
            Some(user) if matches && !user.disabled => user,
            other => {
                self.throttle.failure(&keys).await;
                self.record_login(other.as_ref(), None, ip, Outcome::Failure)
                    .await;
                return Err(AuthError::InvalidCredentials);
            }
        };
        self.throttle.success(&account).await;
        let scope = self
            .scope_for(&user, request.tenant_id, request.platform)
            .await?;
        self.record_login(Some(&user), Some(scope), ip, Outcome::Success)
            .await;
        self.start_session(&user, scope).await
    }

    /// Exchanges a refresh token for a new pair. A token used twice revokes its sign-in.
    pub async fn refresh(&self, presented: &str) -> Result<Session, AuthError> {
        let row = self.find_refresh(presented).await?;
        if row.revoked_at.is_some() || row.expires_at < Utc::now() {
            return Err(AuthError::InvalidRefreshToken);
        }
        if row.used_at.is_some() {
            self.revoke_family(row.family_id).await?;
            tracing::warn!(session = %row.family_id, "a used refresh token came back: the session is revoked");
            return Err(AuthError::InvalidRefreshToken);
        }
        let claimed = refresh::Entity::update_many()
            .col_expr(refresh::Column::UsedAt, Expr::value(Some(Utc::now())))
            .filter(refresh::Column::Id.eq(row.id))
            .filter(refresh::Column::UsedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(AuthError::unavailable)?;
        if claimed.rows_affected == 0 {
            // Another request used it at the same moment.
            self.revoke_family(row.family_id).await?;
            return Err(AuthError::InvalidRefreshToken);
        }
        let user = cdp_tenancy::find_user(&self.db, UserId::from_uuid(row.user_id))
            .await
            .map_err(AuthError::unavailable)?
            .filter(|u| !u.disabled)
            .ok_or(AuthError::InvalidRefreshToken)?;
        let scope = match row.tenant_id.map(TenantId::from_uuid) {
            Some(tenant) => {
                let role = self
                    .live_role(tenant, user.id)
                    .await?
                    .ok_or(AuthError::InvalidRefreshToken)?;
                Scope::Member(tenant, role)
            }
            None if user.platform_admin => Scope::Platform,
            None => return Err(AuthError::InvalidRefreshToken),
        };
        self.issue_pair(&user, scope, row.family_id).await
    }

    /// Ends the sign-in the refresh token belongs to; its access tokens stop working too.
    pub async fn logout(&self, presented: &str) -> Result<(), AuthError> {
        let row = self.find_refresh(presented).await?;
        self.revoke_family(row.family_id).await
    }

    /// Sets a new password after checking the current one.
    pub async fn change_password(
        &self,
        user: UserId,
        current: &str,
        new: &str,
    ) -> Result<(), AuthError> {
        let user = cdp_tenancy::find_user(&self.db, user)
            .await
            .map_err(AuthError::unavailable)?
            .ok_or(AuthError::InvalidCredentials)?;
        password::check_strength(new, &user.email)?;
        let (current, new, stored) = (
            current.to_owned(),
            new.to_owned(),
            user.password_hash.clone(),
        );
        let hashed = tokio::task::spawn_blocking(move || {
            if !password::verify_password(&current, &stored) {
                return Err(AuthError::InvalidCredentials);
            }
            if current == new {
                return Err(AuthError::WeakPassword(
                    "choose a password you have not used here",
                ));
            }
            password::hash_password(&new)
        })
        .await
        .map_err(AuthError::unavailable)??;
        cdp_tenancy::set_password(&self.db, user.id, hashed, false)
            .await
            .map_err(AuthError::unavailable)?;
        Ok(())
    }

    /// Whether the sign-in an access token came from is still open.
    pub(crate) async fn session_open(&self, family: Uuid) -> Result<bool, AuthError> {
        let revoked = refresh::Entity::find()
            .filter(refresh::Column::FamilyId.eq(family))
            .filter(refresh::Column::RevokedAt.is_not_null())
            .one(&self.db)
            .await
            .map_err(AuthError::unavailable)?;
        Ok(revoked.is_none())
    }

    async fn scope_for(
        &self,
        user: &User,
        wanted: Option<TenantId>,
        platform: bool,
    ) -> Result<Scope, AuthError> {
        if platform {
            // Not an admin: the same answer as a wrong password, so nothing is learnt.
            return match (user.platform_admin, wanted) {
                (true, None) => Ok(Scope::Platform),
                (true, Some(_)) => Err(AuthError::NotAllowed(
                    "sign in to the platform or to a workspace, not both",
                )),
                (false, _) => Err(AuthError::InvalidCredentials),
            };
        }
        let memberships = cdp_tenancy::memberships_of(&self.db, user.id)
            .await
            .map_err(AuthError::unavailable)?;
        let mut open = Vec::new();
        for (tenant, role) in memberships {
            let status = cdp_tenancy::find_tenant(&self.db, tenant)
                .await
                .map_err(AuthError::unavailable)?
                .map(|t| (t.status, t.name));
            if let Some((status, name)) = status
                && status != TenantStatus::Deleted
            {
                open.push((tenant, role, status, name));
            }
        }
        let chosen = match wanted {
            Some(tenant) => open.iter().find(|(t, ..)| *t == tenant),
            None if open.len() == 1 => open.first(),
            None if open.is_empty() && user.platform_admin => return Ok(Scope::Platform),
            None if open.is_empty() => None,
            None => {
                return Err(AuthError::TenantRequired {
                    tenants: open
                        .iter()
                        .map(|(t, role, _, name)| serde_json::json!({"tenant_id": t, "name": name, "role": role.as_str()}))
                        .collect(),
                    platform_admin: user.platform_admin,
                });
            }
        };
        match chosen {
            Some((_, _, TenantStatus::Suspended, _)) => Err(AuthError::Suspended),
            Some((tenant, role, ..)) => Ok(Scope::Member(*tenant, *role)),
            // No membership there: the same answer as a wrong password, so nothing is learnt.
            None => Err(AuthError::InvalidCredentials),
        }
    }

    async fn start_session(&self, user: &User, scope: Scope) -> Result<Session, AuthError> {
        self.issue_pair(user, scope, Uuid::now_v7()).await
    }

    async fn issue_pair(
        &self,
        user: &User,
        scope: Scope,
        family: Uuid,
    ) -> Result<Session, AuthError> {
        let refresh_token =
            SecretToken::generate(TokenKind::RefreshToken).map_err(AuthError::unavailable)?;
        let now = Utc::now();
        let tenant = match scope {
            Scope::Member(tenant, _) => Some(tenant),
            Scope::Platform => None,
        };
        refresh::Entity::insert(refresh::ActiveModel {
            id: Set(Uuid::now_v7()),
            family_id: Set(family),
            user_id: Set(user.id.as_uuid()),
            tenant_id: Set(tenant.map(|t| t.as_uuid())),
            token_hash: Set(cdp_tenancy::token_hash(refresh_token.expose())),
            created_at: Set(now),
            expires_at: Set(now + TimeDelta::seconds(self.options.refresh_ttl_seconds)),
            used_at: Set(None),
            revoked_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(AuthError::unavailable)?;

        let mut claims = Claims::new(
            user.id.to_string(),
            family.simple().to_string(),
            self.options.access_ttl_seconds,
        );
        claims.pwc = user.password_change_required;
        let role = match scope {
            Scope::Member(tenant, role) => {
                claims.tid = Some(tenant.to_string());
                claims.role = Some(role.as_str().to_owned());
                Some(role.as_str())
            }
            Scope::Platform => {
                claims.adm = true;
                None
            }
        };
        Ok(Session {
            access_token: issue(&self.signing, &claims).await?,
            token_type: "Bearer",
            expires_in: self.options.access_ttl_seconds,
            refresh_token: refresh_token.expose().to_owned(),
            user_id: user.id,
            tenant_id: tenant,
            role,
            platform_admin: matches!(scope, Scope::Platform),
            password_change_required: user.password_change_required,
        })
    }

    async fn find_refresh(&self, presented: &str) -> Result<refresh::Model, AuthError> {
        refresh::Entity::find()
            .filter(refresh::Column::TokenHash.eq(cdp_tenancy::token_hash(presented)))
            .one(&self.db)
            .await
            .map_err(AuthError::unavailable)?
            .ok_or(AuthError::InvalidRefreshToken)
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), AuthError> {
        refresh::Entity::update_many()
            .col_expr(refresh::Column::RevokedAt, Expr::value(Some(Utc::now())))
            .filter(refresh::Column::FamilyId.eq(family))
            .filter(refresh::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(AuthError::unavailable)?;
        Ok(())
    }

    /// Sign-ins go to the audit log of the tenant signed into (the platform's otherwise).
    /// A failure names the user only when the address belongs to one.
    async fn record_login(
        &self,
        user: Option<&User>,
        scope: Option<Scope>,
        ip: Option<&str>,
        outcome: Outcome,
    ) {
        let (chain, kind, role) = match scope {
            Some(Scope::Member(tenant, role)) => (
                Chain::Tenant(tenant),
                ActorKind::Member,
                Some(role.as_str().to_owned()),
            ),
            Some(Scope::Platform) => (
                Chain::Platform,
                ActorKind::PlatformAdmin,
                Some("platform_admin".to_owned()),
            ),
            None => (Chain::Platform, ActorKind::Member, None),
        };
        let entry = AuditEntry {
            actor: Actor {
                kind,
                id: user.map(|u| u.id.to_string()),
                role,
            },
            action: "auth.login".into(),
            target: user.map(|u| ("user".to_owned(), u.id.to_string())),
            source_ip: ip.map(str::to_owned),
            outcome,
            details: serde_json::json!({}),
        };
        if let Err(e) = cdp_audit::append_now(&self.db, chain, entry).await {
            tracing::warn!(error = %e, "could not record a sign-in in the audit log");
        }
    }
}

/// A real argon2id hash of a random string, checked against when the address is unknown,
/// so that the work done is the same as for a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let mut random = [0u8; 24];
        let _ = getrandom::fill(&mut random);
        password::hash_password(&hex::encode(random)).unwrap_or_default()
    })
}
