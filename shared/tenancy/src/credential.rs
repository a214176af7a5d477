//! Credentials: turning a presented secret into the tenant it belongs to, and managing a
//! tenant's API keys and write keys. Secrets exist in clear only when created.

use cdp_domain::{CredentialId, Permission, SourceId, TenantId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use crate::TenancyError;
use crate::create::insert_credential;
use crate::source::{SourceKind, find_source};
use crate::store::{credential, tenant};
use crate::tenant::TenantStatus;
use crate::token::{SecretToken, TokenKind, hash};

/// What checking a presented secret found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyCheck<T> {
    Valid(T),
    /// A live key of a suspended tenant: refused with 403, not 401.
    Suspended,
    /// Unknown, revoked, or of a deleted tenant.
    Invalid,
}

/// What a valid write key allows: ingesting into one source of one tenant, through the
/// endpoints of that source's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteKeyGrant {
    pub tenant_id: TenantId,
    pub source_id: SourceId,
    pub source_kind: SourceKind,
}

/// What a valid API key allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyGrant {
    pub tenant_id: TenantId,
    pub credential_id: CredentialId,
    pub scopes: Vec<String>,
}

/// The scope list of an owner's key: every permission, now and later.
pub const ALL_SCOPES: &str = credential::ALL_SCOPES;

pub async fn authenticate_write_key<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
) -> Result<KeyCheck<WriteKeyGrant>, TenancyError> {
    let row = match live_credential(conn, presented, TokenKind::WriteKey).await? {
        KeyCheck::Valid(row) => row,
        KeyCheck::Suspended => return Ok(KeyCheck::Suspended),
        KeyCheck::Invalid => return Ok(KeyCheck::Invalid),
    };
    let tenant_id = TenantId::from_uuid(row.tenant_id);
    let Some(source_id) = row.source_id.map(SourceId::from_uuid) else {
        return Ok(KeyCheck::Invalid);
    };
    Ok(match find_source(conn, tenant_id, source_id).await? {
        Some(source) => KeyCheck::Valid(WriteKeyGrant {
            tenant_id,
            source_id,
            source_kind: source.kind,
        }),
        None => KeyCheck::Invalid,
    })
}

pub async fn authenticate_api_key<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
) -> Result<KeyCheck<ApiKeyGrant>, TenancyError> {
    Ok(
        match live_credential(conn, presented, TokenKind::ApiKey).await? {
            KeyCheck::Valid(row) => KeyCheck::Valid(ApiKeyGrant {
                tenant_id: TenantId::from_uuid(row.tenant_id),
                credential_id: CredentialId::from_uuid(row.id),
                scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            }),
            KeyCheck::Suspended => KeyCheck::Suspended,
            KeyCheck::Invalid => KeyCheck::Invalid,
        },
    )
}

async fn live_credential<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
    kind: TokenKind,
) -> Result<KeyCheck<credential::Model>, TenancyError> {
    if !presented.starts_with(kind.prefix()) {
        return Ok(KeyCheck::Invalid);
    }
    let Some(row) = credential::Entity::find()
        .filter(credential::Column::SecretHash.eq(hash(presented)))
        .filter(credential::Column::Kind.eq(kind.as_str()))
        .filter(credential::Column::RevokedAt.is_null())
        .one(conn)
        .await?
    else {
        return Ok(KeyCheck::Invalid);
    };
    let status = tenant::Entity::find_by_id(row.tenant_id)
        .one(conn)
        .await?
        .map(|t| TenantStatus::parse(&t.status));
    Ok(match status {
        Some(TenantStatus::Active) => KeyCheck::Valid(row),
        Some(TenantStatus::Suspended) => KeyCheck::Suspended,
        _ => KeyCheck::Invalid,
    })
}

/// A credential as listed: never its secret, only the first characters of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CredentialInfo {
    pub id: CredentialId,
    pub kind: &'static str,
    pub name: String,
    pub prefix: String,
    pub source_id: Option<SourceId>,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<credential::Model> for CredentialInfo {
    fn from(row: credential::Model) -> Self {
        CredentialInfo {
            id: CredentialId::from_uuid(row.id),
            kind: if row.kind == TokenKind::ApiKey.as_str() {
                TokenKind::ApiKey.as_str()
            } else {
                TokenKind::WriteKey.as_str()
            },
            name: row.name,
            prefix: row.display_prefix,
            source_id: row.source_id.map(SourceId::from_uuid),
            scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Creates an API key holding `scopes` (permission names, or `*` for everything).
pub async fn create_api_key<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    name: &str,
    scopes: &[Permission],
) -> Result<(CredentialId, SecretToken), TenancyError> {
    let token = SecretToken::generate(TokenKind::ApiKey)?;
    let scopes = scopes
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let id =
        insert_credential(conn, tenant, None, name, &token, TokenKind::ApiKey, &scopes).await?;
    Ok((id, token))
}

/// Adds a write key to one of the tenant's sources.
pub async fn create_write_key<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    source: SourceId,
    name: &str,
) -> Result<(CredentialId, SecretToken), TenancyError> {
    let token = SecretToken::generate(TokenKind::WriteKey)?;
    let id = insert_credential(
        conn,
        tenant,
        Some(source),
        name,
        &token,
        TokenKind::WriteKey,
        "ingest",
    )
    .await?;
    Ok((id, token))
}

/// The tenant's credentials, newest first.
pub async fn list_credentials<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<CredentialInfo>, TenancyError> {
    Ok(credential::Entity::find()
        .filter(credential::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_desc(credential::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(CredentialInfo::from)
        .collect())
}

pub async fn find_credential<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: CredentialId,
) -> Result<Option<CredentialInfo>, TenancyError> {
    Ok(
        credential::Entity::find_by_id((tenant.as_uuid(), id.as_uuid()))
            .one(conn)
            .await?
            .map(CredentialInfo::from),
    )
}

/// Revokes a credential at once: the next request with it is refused (by another process
/// within [`crate::GRANT_TTL`]). In a transaction, call [`crate::credentials_changed`]
/// again once it has committed.
pub async fn revoke_credential<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: CredentialId,
) -> Result<bool, TenancyError> {
    let result = credential::Entity::update_many()
        .col_expr(credential::Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(credential::Column::TenantId.eq(tenant.as_uuid()))
        .filter(credential::Column::Id.eq(id.as_uuid()))
        .filter(credential::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    crate::credentials_changed();
    Ok(result.rows_affected > 0)
}
