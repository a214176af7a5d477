use cdp_domain::{CredentialId, SourceId, TenantId, TenantName};
use cdp_keyring::Keyring;
use cdp_storage::{DatabaseConnection, begin_write};
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::Serialize;

use crate::TenancyError;
use crate::source::{SourceKind, create_source};
use crate::store::{credential, tenant};
use crate::token::{SecretToken, TokenKind, hash};

/// A new tenant with its first source and credentials. The secrets exist in clear only here.
#[derive(Debug)]
pub struct CreatedTenant {
    pub tenant_id: TenantId,
    pub name: TenantName,
    pub source_id: SourceId,
    pub write_key: SecretToken,
    pub api_key: SecretToken,
}

/// The one-time answer shown to whoever created the tenant.
#[derive(Serialize)]
struct Shown<'a> {
    tenant_id: TenantId,
    name: &'a str,
    source_id: SourceId,
    write_key: &'a str,
    api_key: &'a str,
}

impl CreatedTenant {
    /// The JSON object `cdp tenant create` prints, secrets included.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(Shown {
            tenant_id: self.tenant_id,
            name: self.name.as_str(),
            source_id: self.source_id,
            write_key: self.write_key.expose(),
            api_key: self.api_key.expose(),
        })
        .expect("plain strings always serialize")
    }
}

/// Creates a tenant, its key, a default tracking source with a write key, and an owner API
/// key, all in one transaction.
pub async fn create_tenant(
    db: &DatabaseConnection,
    keyring: &Keyring,
    name: TenantName,
) -> Result<CreatedTenant, TenancyError> {
    let tenant_id = TenantId::new();
    let api_key = SecretToken::generate(TokenKind::ApiKey)?;

    let txn = begin_write(db).await?;
    tenant::Entity::insert(tenant::ActiveModel {
        id: Set(tenant_id.as_uuid()),
        name: Set(name.as_str().to_owned()),
        status: Set(tenant::ACTIVE.to_owned()),
        created_at: Set(Utc::now()),
        deleted_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await?;
    keyring.create_tenant_key(&txn, tenant_id).await?;
    let (source, write_key) =
        create_source(&txn, tenant_id, "default", SourceKind::Tracking, None).await?;
    insert_credential(
        &txn,
        tenant_id,
        None,
        "owner key",
        &api_key,
        TokenKind::ApiKey,
        credential::ALL_SCOPES,
    )
    .await?;
    txn.commit().await?;

    tracing::info!(tenant_id = %tenant_id, "tenant created");
    Ok(CreatedTenant {
        tenant_id,
        name,
        source_id: source.id,
        write_key,
        api_key,
    })
}

pub(crate) async fn insert_credential<C: ConnectionTrait>(
    conn: &C,
    tenant_id: TenantId,
    source_id: Option<SourceId>,
    name: &str,
    token: &SecretToken,
    kind: TokenKind,
    scopes: &str,
) -> Result<CredentialId, TenancyError> {
    let id = CredentialId::new();
    credential::Entity::insert(credential::ActiveModel {
        tenant_id: Set(tenant_id.as_uuid()),
        id: Set(id.as_uuid()),
        kind: Set(kind.as_str().to_owned()),
        source_id: Set(source_id.map(|s| s.as_uuid())),
        name: Set(name.to_owned()),
        display_prefix: Set(token.display_prefix()),
        secret_hash: Set(hash(token.expose())),
        scopes: Set(scopes.to_owned()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(id)
}
