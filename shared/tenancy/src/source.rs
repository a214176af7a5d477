//! Sources: where a tenant's data comes from. Each owns write keys.

use cdp_domain::{SourceId, TenantId};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::TenancyError;
use crate::create::insert_credential;
use crate::store::source;
use crate::token::{SecretToken, TokenKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// Sends tracking-spec calls (SDKs, servers).
    Tracking,
    /// Pushes its own JSON payloads, turned into events by the source's mapping.
    Webhook,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Tracking => source::TRACKING,
            SourceKind::Webhook => source::WEBHOOK,
        }
    }

    fn parse(text: &str) -> SourceKind {
        if text == source::WEBHOOK {
            SourceKind::Webhook
        } else {
            SourceKind::Tracking
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub id: SourceId,
    pub name: String,
    pub kind: SourceKind,
    /// The source's JSON configuration (a webhook source's mapping).
    pub config: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<source::Model> for Source {
    fn from(row: source::Model) -> Self {
        Source {
            id: SourceId::from_uuid(row.id),
            name: row.name,
            kind: SourceKind::parse(&row.kind),
            config: row.config,
            created_at: row.created_at,
        }
    }
}

/// Creates a source with its first write key, shown only in the return value.
pub async fn create_source<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    name: &str,
    kind: SourceKind,
    config: Option<String>,
) -> Result<(Source, SecretToken), TenancyError> {
    let id = SourceId::new();
    let created_at = Utc::now();
    let write_key = SecretToken::generate(TokenKind::WriteKey)?;
    source::Entity::insert(source::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        id: Set(id.as_uuid()),
        name: Set(name.to_owned()),
        kind: Set(kind.as_str().to_owned()),
        created_at: Set(created_at),
        config: Set(config.clone()),
    })
    .exec_without_returning(conn)
    .await?;
    insert_credential(
        conn,
        tenant,
        Some(id),
        &format!("{name} write key"),
        &write_key,
        TokenKind::WriteKey,
        "ingest",
    )
    .await?;
    Ok((
        Source {
            id,
            name: name.to_owned(),
            kind,
            config,
            created_at,
        },
        write_key,
    ))
}

/// The tenant's sources, oldest first.
pub async fn list_sources<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<Source>, TenancyError> {
    Ok(source::Entity::find()
        .filter(source::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_asc(source::Column::CreatedAt)
        .all(conn)
        .await?
        .into_iter()
        .map(Source::from)
        .collect())
}

/// One of the tenant's sources; another tenant's id finds nothing.
pub async fn find_source<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: SourceId,
) -> Result<Option<Source>, TenancyError> {
    Ok(source::Entity::find_by_id((tenant.as_uuid(), id.as_uuid()))
        .one(conn)
        .await?
        .map(Source::from))
}
