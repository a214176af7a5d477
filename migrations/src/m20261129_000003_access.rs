//! People and their access: users, memberships with roles, sessions, token signing keys,
//! storage quotas and usage, and the hash-chained audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::append_only::refuse_changes;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // People who sign in to the console and the management API. Users are not data
        // subjects; they belong to no single tenant (on Citus: a reference table).
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::Id).primary_key())
                    .col(string(Users::Email))
                    .col(string(Users::PasswordHash))
                    .col(boolean(Users::PlatformAdmin))
                    .col(boolean(Users::PasswordChangeRequired))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone_null(Users::DisabledAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_email")
                    .table(Users::Table)
                    .col(Users::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(uuid(Memberships::TenantId))
                    .col(uuid(Memberships::UserId))
                    .col(string(Memberships::Role))
                    .col(timestamp_with_time_zone(Memberships::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Memberships::TenantId)
                            .col(Memberships::UserId),
                    )
                    .to_owned(),
            )
            .await?;

        // Refresh tokens, stored as hashes. A family is one sign-in; rotating a token keeps
        // the family, and reusing a rotated token revokes the whole family.
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(uuid(RefreshTokens::Id).primary_key())
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(uuid(RefreshTokens::UserId))
                    .col(uuid_null(RefreshTokens::TenantId))
                    .col(string(RefreshTokens::TokenHash))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_tokens_hash")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_tokens_family")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::FamilyId)
                    .to_owned(),
            )
            .await?;

        // Keys that sign access tokens, wrapped by the master key; several verify at once
        // so that a rotation logs nobody out.
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string(SigningKeys::Kid).primary_key())
                    .col(string(SigningKeys::MasterKeyId))
                    .col(blob(SigningKeys::WrappedSecret))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(EventLogHeads::Table)
                    .add_column(big_integer(EventLogHeads::StoredBytes).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(timestamp_with_time_zone_null(Tenants::DeletedAt))
                    .to_owned(),
            )
            .await?;

        // One hash chain per tenant, plus the platform's under the nil tenant id.
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(uuid(AuditLog::TenantId))
                    .col(big_integer(AuditLog::Seq))
                    .col(uuid(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(string(AuditLog::ActorKind))
                    .col(string_null(AuditLog::ActorId))
                    .col(string_null(AuditLog::ActorRole))
                    .col(string(AuditLog::Action))
                    .col(string_null(AuditLog::TargetKind))
                    .col(string_null(AuditLog::TargetId))
                    .col(string_null(AuditLog::SourceIp))
                    .col(string(AuditLog::Outcome))
                    .col(text(AuditLog::Details))
                    .col(string(AuditLog::PrevHash))
                    .col(string(AuditLog::Hash))
                    .primary_key(Index::create().col(AuditLog::TenantId).col(AuditLog::Seq))
                    .to_owned(),
            )
            .await?;
        refuse_changes(manager, "audit_log").await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditHeads::Table)
                    .col(uuid(AuditHeads::TenantId).primary_key())
                    .col(big_integer(AuditHeads::LastSeq))
                    .col(string(AuditHeads::LastHash))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    PlatformAdmin,
    PasswordChangeRequired,
    CreatedAt,
    DisabledAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    TenantId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    FamilyId,
    UserId,
    TenantId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    MasterKeyId,
    WrappedSecret,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum EventLogHeads {
    Table,
    StoredBytes,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    DeletedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    TenantId,
    Seq,
    Id,
    At,
    ActorKind,
    ActorId,
    ActorRole,
    Action,
    TargetKind,
    TargetId,
    SourceIp,
    Outcome,
    Details,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    TenantId,
    LastSeq,
    LastHash,
}
