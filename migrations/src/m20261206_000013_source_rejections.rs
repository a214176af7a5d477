//! Requests refused lately per source, for the live event debugger: the status, code and
//! message each sender was told. Kept in the database (not one process's memory) so that
//! every process of a deployment answers alike, whichever refused the request; the writer
//! keeps the last few per source and the reader shows the last hour.

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
                    .table(SourceRejections::Table)
                    .col(uuid(SourceRejections::TenantId))
                    .col(uuid(SourceRejections::SourceId))
                    // Microseconds since the epoch when refused: order and reading cursor.
                    .col(big_integer(SourceRejections::Id))
                    .col(timestamp_with_time_zone(SourceRejections::At))
                    .col(integer(SourceRejections::Status))
                    .col(string(SourceRejections::Code))
                    .col(text(SourceRejections::Message))
                    .primary_key(
                        Index::create()
                            .col(SourceRejections::TenantId)
                            .col(SourceRejections::SourceId)
                            .col(SourceRejections::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SourceRejections::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SourceRejections {
    Table,
    TenantId,
    SourceId,
    Id,
    At,
    Status,
    Code,
    Message,
}
