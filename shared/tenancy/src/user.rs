//! People who sign in: an e-mail address and an argon2id password hash (made by the caller).

use cdp_domain::{Email, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::TenancyError;
use crate::store::user;

#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub password_hash: String,
    pub platform_admin: bool,
    /// Set for a one-time password: the user must choose a new one before anything else.
    pub password_change_required: bool,
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("platform_admin", &self.platform_admin)
            .finish_non_exhaustive()
    }
}

impl TryFrom<user::Model> for User {
    type Error = TenancyError;

    fn try_from(row: user::Model) -> Result<Self, Self::Error> {
        Ok(User {
            id: UserId::from_uuid(row.id),
            email: Email::parse(&row.email)
                .map_err(|_| TenancyError::Corrupt("a stored e-mail address"))?,
            password_hash: row.password_hash,
            platform_admin: row.platform_admin,
            password_change_required: row.password_change_required,
            created_at: row.created_at,
            disabled: row.disabled_at.is_some(),
        })
    }
}

/// What a new user starts with.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub password_hash: String,
    pub platform_admin: bool,
    pub password_change_required: bool,
}

/// Creates a user; an address already taken is [`TenancyError::Conflict`].
pub async fn create_user<C: ConnectionTrait>(
    conn: &C,
    new: NewUser<'_>,
) -> Result<User, TenancyError> {
    let id = UserId::new();
    let created_at = Utc::now();
    user::Entity::insert(user::ActiveModel {
        id: Set(id.as_uuid()),
        email: Set(new.email.as_str().to_owned()),
        password_hash: Set(new.password_hash.clone()),
        platform_admin: Set(new.platform_admin),
        password_change_required: Set(new.password_change_required),
        created_at: Set(created_at),
        disabled_at: Set(None),
    })
    .exec_without_returning(conn)
    .await
    .map_err(|e| {
        if cdp_storage::is_unique_violation(&e) {
            TenancyError::Conflict("a user with this e-mail address exists")
        } else {
            e.into()
        }
    })?;
    Ok(User {
        id,
        email: new.email.clone(),
        password_hash: new.password_hash,
        platform_admin: new.platform_admin,
        password_change_required: new.password_change_required,
        created_at,
        disabled: false,
    })
}

pub async fn find_user<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
) -> Result<Option<User>, TenancyError> {
    user::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(User::try_from)
        .transpose()
}

pub async fn find_user_by_email<C: ConnectionTrait>(
    conn: &C,
    email: &Email,
) -> Result<Option<User>, TenancyError> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email.as_str()))
        .one(conn)
        .await?
        .map(User::try_from)
        .transpose()
}

/// Whether any platform admin exists (the first one is bootstrapped).
pub async fn any_platform_admin<C: ConnectionTrait>(conn: &C) -> Result<bool, TenancyError> {
    Ok(user::Entity::find()
        .filter(user::Column::PlatformAdmin.eq(true))
        .one(conn)
        .await?
        .is_some())
}

pub async fn set_password<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    password_hash: String,
    change_required: bool,
) -> Result<(), TenancyError> {
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(
            user::Column::PasswordChangeRequired,
            Expr::value(change_required),
        )
        .filter(user::Column::Id.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}
