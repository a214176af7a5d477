//! Tenants, the key hierarchy, the append-only event log, sources and credentials.

use crate::append_only::refuse_changes;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(uuid(Tenants::Id).primary_key())
                    .col(string(Tenants::Name))
                    .col(string(Tenants::Status))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .to_owned(),
            )
            .await?;

        // One row per tenant key version; the wrapped key is set to NULL when shredded.
        manager
            .create_table(
                Table::create()
                    .table(TenantKeys::Table)
                    .col(uuid(TenantKeys::TenantId))
                    .col(uuid(TenantKeys::KeyId))
                    .col(string(TenantKeys::State))
                    .col(string(TenantKeys::MasterKeyId))
                    .col(blob_null(TenantKeys::WrappedKey))
                    .col(blob_null(TenantKeys::WrappedIndexKey))
                    .col(timestamp_with_time_zone(TenantKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(TenantKeys::ShreddedAt))
                    .primary_key(
                        Index::create()
                            .col(TenantKeys::TenantId)
                            .col(TenantKeys::KeyId),
                    )
                    .to_owned(),
            )
            .await?;

        // One row per data subject (identity) key. `subject_ref` is a keyed hash of the
        // identity, never the identity itself; shredding sets it and the key to NULL.
        manager
            .create_table(
                Table::create()
                    .table(DataKeys::Table)
                    .col(uuid(DataKeys::TenantId))
                    .col(uuid(DataKeys::KeyId))
                    .col(string_null(DataKeys::SubjectRef))
                    .col(uuid(DataKeys::TenantKeyId))
                    .col(blob_null(DataKeys::WrappedKey))
                    .col(timestamp_with_time_zone(DataKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(DataKeys::ShreddedAt))
                    .primary_key(Index::create().col(DataKeys::TenantId).col(DataKeys::KeyId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("data_keys_subject_ref")
                    .table(DataKeys::Table)
                    .col(DataKeys::TenantId)
                    .col(DataKeys::SubjectRef)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // The last sequence number handed out per tenant. Appenders lock this row for the
        // length of their transaction, which makes sequences gapless and commit-ordered.
        manager
            .create_table(
                Table::create()
                    .table(EventLogHeads::Table)
                    .col(uuid(EventLogHeads::TenantId).primary_key())
                    .col(big_integer(EventLogHeads::LastSeq))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EventLog::Table)
                    .col(uuid(EventLog::TenantId))
                    .col(big_integer(EventLog::Seq))
                    .col(uuid(EventLog::EventId))
                    .col(string(EventLog::MessageId))
                    .col(string(EventLog::EventType))
                    .col(uuid_null(EventLog::SourceId))
                    .col(timestamp_with_time_zone(EventLog::ReceivedAt))
                    .col(timestamp_with_time_zone(EventLog::OccurredAt))
                    .col(uuid(EventLog::KeyId))
                    .col(blob(EventLog::Payload))
                    .primary_key(Index::create().col(EventLog::TenantId).col(EventLog::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("event_log_message_id")
                    .table(EventLog::Table)
                    .col(EventLog::TenantId)
                    .col(EventLog::MessageId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        refuse_changes(manager, "event_log").await?;

        manager
            .create_table(
                Table::create()
                    .table(Sources::Table)
                    .col(uuid(Sources::TenantId))
                    .col(uuid(Sources::Id))
                    .col(string(Sources::Name))
                    .col(string(Sources::Kind))
                    .col(timestamp_with_time_zone(Sources::CreatedAt))
                    .primary_key(Index::create().col(Sources::TenantId).col(Sources::Id))
                    .to_owned(),
            )
            .await?;

        // Write keys and API keys, stored only as hashes. Credentials are looked up by hash
        // before the tenant is known, so on Citus this is a reference table, not a distributed one.
        manager
            .create_table(
                Table::create()
                    .table(Credentials::Table)
                    .col(uuid(Credentials::TenantId))
                    .col(uuid(Credentials::Id))
                    .col(string(Credentials::Kind))
                    .col(uuid_null(Credentials::SourceId))
                    .col(string(Credentials::Name))
                    .col(string(Credentials::DisplayPrefix))
                    .col(string(Credentials::SecretHash))
                    .col(string(Credentials::Scopes))
                    .col(timestamp_with_time_zone(Credentials::CreatedAt))
                    .col(timestamp_with_time_zone_null(Credentials::RevokedAt))
                    .primary_key(
                        Index::create()
                            .col(Credentials::TenantId)
                            .col(Credentials::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("credentials_secret_hash")
                    .table(Credentials::Table)
                    .col(Credentials::SecretHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TenantKeys {
    Table,
    TenantId,
    KeyId,
    State,
    MasterKeyId,
    WrappedKey,
    WrappedIndexKey,
    CreatedAt,
    ShreddedAt,
}

#[derive(DeriveIden)]
enum DataKeys {
    Table,
    TenantId,
    KeyId,
    SubjectRef,
    TenantKeyId,
    WrappedKey,
    CreatedAt,
    ShreddedAt,
}

#[derive(DeriveIden)]
enum EventLogHeads {
    Table,
    TenantId,
    LastSeq,
}

#[derive(DeriveIden)]
enum EventLog {
    Table,
    TenantId,
    Seq,
    EventId,
    MessageId,
    EventType,
    SourceId,
    ReceivedAt,
    OccurredAt,
    KeyId,
    Payload,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    TenantId,
    Id,
    Name,
    Kind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    TenantId,
    Id,
    Kind,
    SourceId,
    Name,
    DisplayPrefix,
    SecretHash,
    Scopes,
    CreatedAt,
    RevokedAt,
}
