//! Destinations: where a tenant's events and audience changes go, the signing secrets of
//! each, the queue of deliveries with every delivery's fate, and the position up to which
//! the tenant's log has been routed.
//!
//! Deliveries hold no payload: each names the event in the log, and is built from it when
//! sent. An erased person's deliveries therefore cannot be sent (their keys are gone), and
//! the queue never holds personal data in clear.

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
                    .table(Destinations::Table)
                    .col(uuid(Destinations::TenantId))
                    .col(uuid(Destinations::DestinationId))
                    .col(string(Destinations::Name))
                    .col(text(Destinations::Url))
                    .col(string(Destinations::Purpose))
                    // The filters, what it receives and the mapping, as JSON.
                    .col(text(Destinations::Spec))
                    .col(boolean(Destinations::Enabled))
                    // Why the dispatcher turned it off (a receiver answered 410 Gone).
                    .col(text_null(Destinations::DisabledReason))
                    // The first position of the log this destination receives.
                    .col(big_integer(Destinations::FromSeq))
                    // The circuit breaker: failed attempts in a row, and while open, until when.
                    .col(integer(Destinations::ConsecutiveFailures))
                    .col(timestamp_with_time_zone_null(Destinations::OpenUntil))
                    .col(integer(Destinations::TimesOpened))
                    .col(big_integer(Destinations::SkippedWithoutConsent))
                    .col(timestamp_with_time_zone(Destinations::CreatedAt))
                    .col(timestamp_with_time_zone(Destinations::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Destinations::TenantId)
                            .col(Destinations::DestinationId),
                    )
                    .to_owned(),
            )
            .await?;
        // Signing secrets, sealed under the master key; two at once while one is rotated out.
        manager
            .create_table(
                Table::create()
                    .table(DestinationSecrets::Table)
                    .col(uuid(DestinationSecrets::TenantId))
                    .col(uuid(DestinationSecrets::DestinationId))
                    .col(uuid(DestinationSecrets::SecretId))
                    .col(blob(DestinationSecrets::Sealed))
                    .col(string(DestinationSecrets::MasterKeyId))
                    .col(timestamp_with_time_zone(DestinationSecrets::CreatedAt))
                    // Set on the secret being rotated out: it still signs until then.
                    .col(timestamp_with_time_zone_null(DestinationSecrets::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(DestinationSecrets::TenantId)
                            .col(DestinationSecrets::DestinationId)
                            .col(DestinationSecrets::SecretId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Deliveries::Table)
                    .col(uuid(Deliveries::TenantId))
                    .col(uuid(Deliveries::DestinationId))
                    .col(big_integer(Deliveries::Seq))
                    .col(string(Deliveries::Kind))
                    // Deliveries of one key are sent in order: the profile's id.
                    .col(string(Deliveries::OrderingKey))
                    // The data key that sealed the event: what an erasure cancels by.
                    .col(uuid(Deliveries::KeyId))
                    .col(string(Deliveries::Status))
                    .col(integer(Deliveries::Attempts))
                    .col(timestamp_with_time_zone(Deliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Deliveries::FirstAttemptAt))
                    .col(timestamp_with_time_zone_null(Deliveries::LastAttemptAt))
                    .col(timestamp_with_time_zone_null(Deliveries::LeasedUntil))
                    .col(integer_null(Deliveries::LastStatus))
                    .col(text_null(Deliveries::LastError))
                    .col(integer_null(Deliveries::LatencyMs))
                    .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(Deliveries::DoneAt))
                    .primary_key(
                        Index::create()
                            .col(Deliveries::TenantId)
                            .col(Deliveries::DestinationId)
                            .col(Deliveries::Seq),
                    )
                    .to_owned(),
            )
            .await?;
        // What is due, and the earliest pending delivery of each profile (which must go
        // first): pending deliveries only, so that neither grows with the delivery log.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX deliveries_due ON deliveries (next_attempt_at) \
                 WHERE status = 'pending'",
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX deliveries_pending_order ON deliveries \
                 (tenant_id, destination_id, ordering_key, seq) WHERE status = 'pending'",
            )
            .await?;
        // What an erasure cancels.
        manager
            .create_index(
                Index::create()
                    .name("deliveries_key")
                    .table(Deliveries::Table)
                    .col(Deliveries::TenantId)
                    .col(Deliveries::KeyId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DispatchCursors::Table)
                    .col(uuid(DispatchCursors::TenantId))
                    .col(big_integer(DispatchCursors::Seq))
                    .col(timestamp_with_time_zone(DispatchCursors::UpdatedAt))
                    .primary_key(Index::create().col(DispatchCursors::TenantId))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Destinations {
    Table,
    TenantId,
    DestinationId,
    Name,
    Url,
    Purpose,
    Spec,
    Enabled,
    DisabledReason,
    FromSeq,
    ConsecutiveFailures,
    OpenUntil,
    TimesOpened,
    SkippedWithoutConsent,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DestinationSecrets {
    Table,
    TenantId,
    DestinationId,
    SecretId,
    Sealed,
    MasterKeyId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    TenantId,
    DestinationId,
    Seq,
    Kind,
    OrderingKey,
    KeyId,
    Status,
    Attempts,
    NextAttemptAt,
    FirstAttemptAt,
    LastAttemptAt,
    LeasedUntil,
    LastStatus,
    LastError,
    LatencyMs,
    CreatedAt,
    DoneAt,
}

#[derive(DeriveIden)]
enum DispatchCursors {
    Table,
    TenantId,
    Seq,
    UpdatedAt,
}
