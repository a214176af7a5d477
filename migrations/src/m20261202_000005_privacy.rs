//! Data-subject requests, and the queue of erased profiles whose timeline rows are still
//! being removed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The subject is never stored here: only its identity type. The value travels
        // in the log, sealed under the subject's own data key, which the erasure destroys.
        manager
            .create_table(
                Table::create()
                    .table(PrivacyRequests::Table)
                    .col(uuid(PrivacyRequests::TenantId))
                    .col(uuid(PrivacyRequests::RequestId))
                    .col(string(PrivacyRequests::Kind))
                    .col(string(PrivacyRequests::Status))
                    .col(string(PrivacyRequests::SubjectType))
                    .col(string(PrivacyRequests::Regulation))
                    .col(timestamp_with_time_zone(PrivacyRequests::ReceivedAt))
                    .col(timestamp_with_time_zone(PrivacyRequests::DueAt))
                    .col(string_null(PrivacyRequests::RequestedBy))
                    .col(big_integer_null(PrivacyRequests::LogSeq))
                    .col(timestamp_with_time_zone_null(PrivacyRequests::ErasedAt))
                    .col(timestamp_with_time_zone_null(PrivacyRequests::CompletedAt))
                    .col(text_null(PrivacyRequests::Failure))
                    .col(text_null(PrivacyRequests::Receipt))
                    .primary_key(
                        Index::create()
                            .col(PrivacyRequests::TenantId)
                            .col(PrivacyRequests::RequestId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("privacy_requests_by_status")
                    .table(PrivacyRequests::Table)
                    .col(PrivacyRequests::TenantId)
                    .col(PrivacyRequests::Status)
                    .col(PrivacyRequests::DueAt)
                    .to_owned(),
            )
            .await?;
        // An erased profile's timeline rows (positions and event names, no values) are
        // deleted in the background, a chunk at a time, so that an erasure's cost does not
        // grow with the subject's number of events.
        manager
            .create_table(
                Table::create()
                    .table(ErasurePurges::Table)
                    .col(uuid(ErasurePurges::TenantId))
                    .col(uuid(ErasurePurges::RequestId))
                    .col(big_integer(ErasurePurges::Generation))
                    .col(uuid(ErasurePurges::ProfileId))
                    .primary_key(
                        Index::create()
                            .col(ErasurePurges::TenantId)
                            .col(ErasurePurges::RequestId)
                            .col(ErasurePurges::Generation)
                            .col(ErasurePurges::ProfileId),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum PrivacyRequests {
    Table,
    TenantId,
    RequestId,
    Kind,
    Status,
    SubjectType,
    Regulation,
    ReceivedAt,
    DueAt,
    RequestedBy,
    LogSeq,
    ErasedAt,
    CompletedAt,
    Failure,
    Receipt,
}

#[derive(DeriveIden)]
enum ErasurePurges {
    Table,
    TenantId,
    RequestId,
    Generation,
    ProfileId,
}
