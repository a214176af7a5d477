//! Turning a presented secret into the tenant it belongs to.

use cdp_domain::{CredentialId, SourceId, TenantId};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::TenancyError;
use crate::source::{SourceKind, find_source};
use crate::store::{credential, tenant};
use crate::token::{TokenKind, hash};

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

/// The grant of a live write key of an active tenant, or `None`.
pub async fn authenticate_write_key<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
) -> Result<Option<WriteKeyGrant>, TenancyError> {
    let Some(row) = live_credential(conn, presented, TokenKind::WriteKey).await? else {
        return Ok(None);
    };
    let tenant_id = TenantId::from_uuid(row.tenant_id);
    let Some(source_id) = row.source_id.map(SourceId::from_uuid) else {
        return Ok(None);
    };
    Ok(find_source(conn, tenant_id, source_id)
        .await?
        .map(|source| WriteKeyGrant {
            tenant_id,
            source_id,
            source_kind: source.kind,
        }))
}

/// The grant of a live API key of an active tenant, or `None`.
pub async fn authenticate_api_key<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
) -> Result<Option<ApiKeyGrant>, TenancyError> {
    let Some(row) = live_credential(conn, presented, TokenKind::ApiKey).await? else {
        return Ok(None);
    };
    Ok(Some(ApiKeyGrant {
        tenant_id: TenantId::from_uuid(row.tenant_id),
        credential_id: CredentialId::from_uuid(row.id),
        scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
    }))
}

async fn live_credential<C: ConnectionTrait>(
    conn: &C,
    presented: &str,
    kind: TokenKind,
) -> Result<Option<credential::Model>, TenancyError> {
    if !presented.starts_with(kind.prefix()) {
        return Ok(None);
    }
    let Some(row) = credential::Entity::find()
        .filter(credential::Column::SecretHash.eq(hash(presented)))
        .filter(credential::Column::Kind.eq(kind.as_str()))
        .filter(credential::Column::RevokedAt.is_null())
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let active = tenant::Entity::find_by_id(row.tenant_id)
        .one(conn)
        .await?
        .is_some_and(|t| t.status == tenant::ACTIVE);
    Ok(active.then_some(row))
}
