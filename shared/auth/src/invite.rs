//! Bringing people in: an existing user joins a tenant; a new one gets a one-time
//! password, shown once, which must be changed at the first sign-in.

use cdp_domain::{Email, Role, TenantId, UserId};
use cdp_storage::DatabaseConnection;
use cdp_tenancy::{NewUser, SecretToken, TenancyError, TokenKind};

use crate::{AuthError, password};

/// Who was brought in, and the password to hand over when the user is new.
pub struct Invited {
    pub user_id: UserId,
    pub one_time_password: Option<String>,
}

impl std::fmt::Debug for Invited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invited")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// A random password for a first sign-in.
fn one_time_password() -> Result<String, AuthError> {
    let token = SecretToken::generate(TokenKind::RefreshToken).map_err(AuthError::unavailable)?;
    // The random part of a token: 32 URL-safe characters.
    Ok(token.expose()[TokenKind::RefreshToken.prefix().len()..].to_owned())
}

async fn hashed(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || password::hash_password(&password))
        .await
        .map_err(AuthError::unavailable)?
}

/// Finds or creates the user with this address. A new user gets a one-time password.
async fn find_or_create(
    db: &DatabaseConnection,
    email: &Email,
    platform_admin: bool,
) -> Result<Invited, AuthError> {
    if let Some(user) = cdp_tenancy::find_user_by_email(db, email)
        .await
        .map_err(AuthError::unavailable)?
    {
        return Ok(Invited {
            user_id: user.id,
            one_time_password: None,
        });
    }
    let password = one_time_password()?;
    let user = cdp_tenancy::create_user(
        db,
        NewUser {
            email,
            password_hash: hashed(password.clone()).await?,
            platform_admin,
            password_change_required: true,
        },
    )
    .await
    .map_err(|e| match e {
        TenancyError::Conflict(message) => AuthError::NotAllowed(message),
        other => AuthError::unavailable(other),
    })?;
    Ok(Invited {
        user_id: user.id,
        one_time_password: Some(password),
    })
}

/// Makes the person with this address a member of the tenant.
pub async fn invite_member(
    db: &DatabaseConnection,
    tenant: TenantId,
    email: &Email,
    role: Role,
) -> Result<Invited, AuthError> {
    let invited = find_or_create(db, email, false).await?;
    cdp_tenancy::add_member(db, tenant, invited.user_id, role)
        .await
        .map_err(|e| match e {
            TenancyError::Conflict(message) => AuthError::NotAllowed(message),
            other => AuthError::unavailable(other),
        })?;
    Ok(invited)
}

/// Creates a platform admin with a one-time password (`cdp admin create`).
pub async fn create_platform_admin(
    db: &DatabaseConnection,
    email: &Email,
) -> Result<Invited, AuthError> {
    if cdp_tenancy::find_user_by_email(db, email)
        .await
        .map_err(AuthError::unavailable)?
        .is_some()
    {
        return Err(AuthError::NotAllowed(
            "a user with this e-mail address exists",
        ));
    }
    find_or_create(db, email, true).await
}

/// Creates the first platform admin from configuration, with a password of the operator's
/// choosing, unless a platform admin exists already. Returns whether one was created.
pub async fn bootstrap_platform_admin(
    db: &DatabaseConnection,
    email: &Email,
    password: &str,
) -> Result<bool, AuthError> {
    if cdp_tenancy::any_platform_admin(db)
        .await
        .map_err(AuthError::unavailable)?
    {
        return Ok(false);
    }
    password::check_strength(password, email)?;
    cdp_tenancy::create_user(
        db,
        NewUser {
            email,
            password_hash: hashed(password.to_owned()).await?,
            platform_admin: true,
            password_change_required: false,
        },
    )
    .await
    .map_err(AuthError::unavailable)?;
    Ok(true)
}
