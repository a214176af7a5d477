//! Computed traits and segments: their definitions per tenant, and the projection of them
//! per profile (aggregation states, memberships, sizes), keyed by generation like every
//! other projection so that a rebuild computes them beside the serving ones.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn keyed(table: impl IntoIden + 'static) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(uuid(Alias::new("tenant_id")))
        .col(big_integer(Alias::new("generation")))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ComputedTraits::Table)
                    .col(uuid(ComputedTraits::TenantId))
                    .col(string(ComputedTraits::Name))
                    .col(text(ComputedTraits::Definition))
                    .col(timestamp_with_time_zone(ComputedTraits::CreatedAt))
                    .col(timestamp_with_time_zone(ComputedTraits::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ComputedTraits::TenantId)
                            .col(ComputedTraits::Name),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Segments::Table)
                    .col(uuid(Segments::TenantId))
                    .col(uuid(Segments::SegmentId))
                    .col(string(Segments::Name))
                    .col(text_null(Segments::Description))
                    .col(text(Segments::Condition))
                    .col(big_integer(Segments::Version))
                    // The version whose membership has been computed over every profile.
                    .col(big_integer(Segments::BackfilledVersion))
                    .col(uuid_null(Segments::BackfillCursor))
                    .col(big_integer(Segments::BackfillDone))
                    .col(timestamp_with_time_zone(Segments::CreatedAt))
                    .col(timestamp_with_time_zone(Segments::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Segments::TenantId)
                            .col(Segments::SegmentId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("segments_name")
                    .table(Segments::Table)
                    .col(Segments::TenantId)
                    .col(Segments::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Which profile each event went to, by position: what filling a new aggregation
        // in from the log reads (seq grows, so the index only ever appends).
        manager
            .create_index(
                Index::create()
                    .name("profile_events_seq")
                    .table(Alias::new("profile_events"))
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("generation"))
                    .col(Alias::new("seq"))
                    .to_owned(),
            )
            .await?;
        // What aggregations a generation keeps, and which it is still filling from the log.
        manager
            .alter_table(
                Table::alter()
                    .table(ProjectionState::Table)
                    .add_column(text_null(ProjectionState::Aggregations))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                keyed(ProfileComputed::Table)
                    .col(uuid(ProfileComputed::ProfileId))
                    .col(text(ProfileComputed::Aggregates))
                    // The data key of the profile's latest event: what its membership
                    // events are sealed under (so its erasure shreds them too).
                    .col(uuid_null(ProfileComputed::KeyId))
                    .col(timestamp_with_time_zone_null(ProfileComputed::ReevaluateAt))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("generation"))
                            .col(ProfileComputed::ProfileId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("profile_computed_due")
                    .table(ProfileComputed::Table)
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("generation"))
                    .col(ProfileComputed::ReevaluateAt)
                    .to_owned(),
            )
            .await?;
        // Which tenants have profiles due, over all tenants (the projector's sweep asks).
        manager
            .create_index(
                Index::create()
                    .name("profile_computed_due_anywhere")
                    .table(ProfileComputed::Table)
                    .col(ProfileComputed::ReevaluateAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                keyed(SegmentMembers::Table)
                    .col(uuid(SegmentMembers::SegmentId))
                    .col(uuid(SegmentMembers::ProfileId))
                    .col(timestamp_with_time_zone(SegmentMembers::Since))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("generation"))
                            .col(SegmentMembers::SegmentId)
                            .col(SegmentMembers::ProfileId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("segment_members_profile")
                    .table(SegmentMembers::Table)
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("generation"))
                    .col(SegmentMembers::ProfileId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                keyed(SegmentCounts::Table)
                    .col(uuid(SegmentCounts::SegmentId))
                    .col(big_integer(SegmentCounts::Members))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("generation"))
                            .col(SegmentCounts::SegmentId),
                    )
                    .to_owned(),
            )
            .await?;
        // Size over time: the size at the end of each hour that changed it.
        manager
            .create_table(
                Table::create()
                    .table(SegmentSizes::Table)
                    .col(uuid(SegmentSizes::TenantId))
                    .col(uuid(SegmentSizes::SegmentId))
                    .col(timestamp_with_time_zone(SegmentSizes::Hour))
                    .col(big_integer(SegmentSizes::Members))
                    .primary_key(
                        Index::create()
                            .col(SegmentSizes::TenantId)
                            .col(SegmentSizes::SegmentId)
                            .col(SegmentSizes::Hour),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ComputedTraits {
    Table,
    TenantId,
    Name,
    Definition,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    TenantId,
    SegmentId,
    Name,
    Description,
    Condition,
    Version,
    BackfilledVersion,
    BackfillCursor,
    BackfillDone,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectionState {
    Table,
    Aggregations,
}

#[derive(DeriveIden)]
enum ProfileComputed {
    Table,
    ProfileId,
    Aggregates,
    KeyId,
    ReevaluateAt,
}

#[derive(DeriveIden)]
enum SegmentMembers {
    Table,
    SegmentId,
    ProfileId,
    Since,
}

#[derive(DeriveIden)]
enum SegmentCounts {
    Table,
    SegmentId,
    Members,
}

#[derive(DeriveIden)]
enum SegmentSizes {
    Table,
    TenantId,
    SegmentId,
    Hour,
    Members,
}
