use cdp_domain::{Role, TenantId, UserId};
use cdp_keyring::Keyring;
use cdp_storage::DatabaseConnection;
use cdp_storage::FastPath;

use crate::AuthError;
use crate::signing::SigningKeys;
use crate::throttle::LoginThrottle;

#[derive(Clone, Debug)]
pub struct AuthOptions {
    /// Lifetime of an access token.
    pub access_ttl_seconds: i64,
    /// Lifetime of a refresh token.
    pub refresh_ttl_seconds: i64,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            access_ttl_seconds: 15 * 60,
            refresh_ttl_seconds: 30 * 24 * 60 * 60,
        }
    }
}

/// Checks credentials and signs people in. Registered as app data for the extractors.
pub struct Authenticator {
    pub(crate) db: DatabaseConnection,
    pub(crate) signing: SigningKeys,
    pub(crate) throttle: LoginThrottle,
    pub(crate) options: AuthOptions,
}

impl Authenticator {
    pub fn new(
        db: DatabaseConnection,
        keyring: Keyring,
        redis: Option<FastPath>,
        options: AuthOptions,
    ) -> Self {
        // A superseded signing key verifies for a token's lifetime plus a margin.
        let grace = chrono::TimeDelta::seconds(options.access_ttl_seconds + 5 * 60);
        Self {
            signing: SigningKeys::new(db.clone(), keyring, grace),
            throttle: LoginThrottle::new(redis),
            db,
            options,
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Starts signing with a new key; tokens signed with the previous ones stay valid.
    pub async fn rotate_signing_key(&self) -> Result<String, AuthError> {
        self.signing.rotate().await
    }

    /// The role a user holds now in a tenant that is not deleted; `Err(Suspended)` for a
    /// suspended tenant.
    pub(crate) async fn live_role(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Option<Role>, AuthError> {
        let status = cdp_tenancy::find_tenant(&self.db, tenant)
            .await
            .map_err(AuthError::unavailable)?
            .map(|t| t.status);
        match status {
            Some(cdp_tenancy::TenantStatus::Active) => {}
            Some(cdp_tenancy::TenantStatus::Suspended) => return Err(AuthError::Suspended),
            _ => return Ok(None),
        }
        cdp_tenancy::role_in(&self.db, tenant, user)
            .await
            .map_err(AuthError::unavailable)
    }
}
