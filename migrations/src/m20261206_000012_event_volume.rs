//! Events received per tenant, source and hour: what the console's volume chart reads,
//! kept as each batch is appended so that reading it never scans the log. Counts only:
//! nothing here names a person, so erasure leaves it as it is.
//!
//! Events without a source (imports not tied to one) count under the nil UUID, which a
//! primary key can hold where NULL could not.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventVolume::Table)
                    .col(uuid(EventVolume::TenantId))
                    .col(uuid(EventVolume::SourceId))
                    // The start of the hour the events were received in.
                    .col(timestamp_with_time_zone(EventVolume::Hour))
                    .col(big_integer(EventVolume::Events))
                    .primary_key(
                        Index::create()
                            .col(EventVolume::TenantId)
                            .col(EventVolume::Hour)
                            .col(EventVolume::SourceId),
                    )
                    .to_owned(),
            )
            .await?;
        // The logs as they stand: counted once here, then kept by every append.
        let backfill = format!(
            "INSERT INTO event_volume (tenant_id, source_id, hour, events) {}",
            counts_from_log(manager.get_database_backend())
        );
        manager
            .get_connection()
            .execute_unprepared(&backfill)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventVolume::Table).to_owned())
            .await
    }
}

/// The log's events counted per tenant, source and hour, as `event_volume` holds them
/// (columns `tenant_id, source_id, hour, events`).
pub fn counts_from_log(backend: DbBackend) -> &'static str {
    match backend {
        // Hours in UTC, whatever the session's time zone (as the appender counts them).
        DbBackend::Postgres => {
            "SELECT tenant_id, COALESCE(source_id, '00000000-0000-0000-0000-000000000000'::uuid) AS source_id, \
                    date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, count(*) AS events \
             FROM event_log GROUP BY 1, 2, 3"
        }
        // Times are stored as RFC 3339 text (`2026-12-06T04:31:07.5+00:00`) and UUIDs as
        // 16 bytes: the hour is the text up to it with the rest zeroed, as the driver
        // writes a time on the hour.
        _ => {
            "SELECT tenant_id, COALESCE(source_id, zeroblob(16)) AS source_id, \
                    substr(received_at, 1, 13) || ':00:00+00:00' AS hour, count(*) AS events \
             FROM event_log GROUP BY 1, 2, 3"
        }
    }
}

#[derive(DeriveIden)]
enum EventVolume {
    Table,
    TenantId,
    SourceId,
    Hour,
    Events,
}
