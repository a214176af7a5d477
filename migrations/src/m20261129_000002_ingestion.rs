//! Ingestion: per-tenant quotas (rate and storage), source configuration (webhook mappings),
//! import jobs.

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
                    .table(TenantLimits::Table)
                    .col(uuid(TenantLimits::TenantId).primary_key())
                    .col(big_integer_null(TenantLimits::IngestEventsPerSecond))
                    .col(big_integer_null(TenantLimits::IngestBurst))
                    .col(big_integer_null(TenantLimits::StorageBytes))
                    .col(timestamp_with_time_zone(TenantLimits::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        // The JSON configuration of a source, for example a webhook source's mapping.
        manager
            .alter_table(
                Table::alter()
                    .table(Sources::Table)
                    .add_column(text_null(Sources::Config))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ImportJobs::Table)
                    .col(uuid(ImportJobs::TenantId))
                    .col(uuid(ImportJobs::Id))
                    .col(uuid_null(ImportJobs::SourceId))
                    .col(string(ImportJobs::Format))
                    .col(string(ImportJobs::Status))
                    .col(big_integer(ImportJobs::LinesRead))
                    .col(big_integer(ImportJobs::EventsStored))
                    .col(big_integer(ImportJobs::EventsDuplicate))
                    .col(big_integer(ImportJobs::LinesFailed))
                    .col(text(ImportJobs::Errors))
                    .col(text_null(ImportJobs::Failure))
                    .col(timestamp_with_time_zone(ImportJobs::CreatedAt))
                    .col(timestamp_with_time_zone(ImportJobs::UpdatedAt))
                    .col(timestamp_with_time_zone_null(ImportJobs::FinishedAt))
                    .primary_key(
                        Index::create()
                            .col(ImportJobs::TenantId)
                            .col(ImportJobs::Id),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum TenantLimits {
    Table,
    TenantId,
    IngestEventsPerSecond,
    IngestBurst,
    StorageBytes,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sources {
    Table,
    Config,
}

#[derive(DeriveIden)]
enum ImportJobs {
    Table,
    TenantId,
    Id,
    SourceId,
    Format,
    Status,
    LinesRead,
    EventsStored,
    EventsDuplicate,
    LinesFailed,
    Errors,
    Failure,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}
