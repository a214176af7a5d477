//! The suppression list: keyed hashes of identities whose events are dropped at ingestion.

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
                    .table(Suppressions::Table)
                    .col(uuid(Suppressions::TenantId))
                    .col(string(Suppressions::SubjectRef))
                    .col(string(Suppressions::SubjectType))
                    .col(uuid_null(Suppressions::RequestId))
                    .col(timestamp_with_time_zone(Suppressions::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Suppressions::TenantId)
                            .col(Suppressions::SubjectRef),
                    )
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Suppressions {
    Table,
    TenantId,
    SubjectRef,
    SubjectType,
    RequestId,
    CreatedAt,
}
