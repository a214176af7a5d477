//! Retention by key periods: a tenant with a retention period seals each person's events
//! under one data key per period, so that the periods past retention are shredded (one
//! statement per sweep, whatever the number of events) and the log is never rewritten.
//!
//! `subject_hash` is the person's keyed hash without the period, to find every key of a
//! person (an erasure); `period_end` is when the last event a key may seal was received.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(DataKeys::Table)
                    .add_column(string_null(DataKeys::SubjectHash))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(DataKeys::Table)
                    .add_column(timestamp_with_time_zone_null(DataKeys::PeriodEnd))
                    .to_owned(),
            )
            .await?;
        // Keys made before periods existed have no period: their hash is the subject's.
        manager
            .exec_stmt(
                Query::update()
                    .table(DataKeys::Table)
                    .value(DataKeys::SubjectHash, Expr::col(DataKeys::SubjectRef))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("data_keys_subject_hash")
                    .table(DataKeys::Table)
                    .col(DataKeys::TenantId)
                    .col(DataKeys::SubjectHash)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("data_keys_period_end")
                    .table(DataKeys::Table)
                    .col(DataKeys::TenantId)
                    .col(DataKeys::PeriodEnd)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RetentionPolicies::Table)
                    .col(uuid(RetentionPolicies::TenantId).primary_key())
                    .col(integer(RetentionPolicies::RetentionDays))
                    .col(timestamp_with_time_zone(RetentionPolicies::UpdatedAt))
                    .col(timestamp_with_time_zone_null(RetentionPolicies::SweptAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("retention_policies_updated_at")
                    .table(RetentionPolicies::Table)
                    .col(RetentionPolicies::UpdatedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum DataKeys {
    Table,
    TenantId,
    SubjectRef,
    SubjectHash,
    PeriodEnd,
}

#[derive(DeriveIden)]
enum RetentionPolicies {
    Table,
    TenantId,
    RetentionDays,
    UpdatedAt,
    SweptAt,
}
