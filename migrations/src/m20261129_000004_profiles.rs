//! Projections: unified profiles rebuilt from the log. Every table is keyed by tenant and
//! generation: a rebuild writes the next generation beside the one serving reads, and
//! switches over when it has caught up.

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
        // Where each generation of a tenant's projection stands, with the rules it uses.
        manager
            .create_table(
                keyed(ProjectionState::Table)
                    .col(string(ProjectionState::Status))
                    .col(text(ProjectionState::Rules))
                    .col(big_integer(ProjectionState::LastSeq))
                    .col(big_integer(ProjectionState::EventsApplied))
                    .col(big_integer(ProjectionState::EventsShredded))
                    .col(big_integer(ProjectionState::EventsUnattributed))
                    .col(big_integer_null(ProjectionState::FailedSeq))
                    .col(text_null(ProjectionState::Failure))
                    .col(timestamp_with_time_zone_null(ProjectionState::FailedAt))
                    .col(timestamp_with_time_zone(ProjectionState::StartedAt))
                    .col(timestamp_with_time_zone(ProjectionState::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("generation")),
                    )
                    .to_owned(),
            )
            .await?;
        // One generation serves reads: two starts racing cannot both make theirs active.
        // (A partial index; both backends write it the same way.)
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX projection_state_one_active ON projection_state (tenant_id) \
                 WHERE status = 'active'",
            )
            .await?;
        // Which projector process works a tenant; a lease left by a dead process expires.
        manager
            .create_table(
                Table::create()
                    .table(ProjectorLeases::Table)
                    .col(uuid(ProjectorLeases::TenantId).primary_key())
                    .col(string(ProjectorLeases::Holder))
                    .col(timestamp_with_time_zone(ProjectorLeases::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdentityRules::Table)
                    .col(uuid(IdentityRules::TenantId).primary_key())
                    .col(text(IdentityRules::Rules))
                    .col(timestamp_with_time_zone(IdentityRules::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                keyed(Profiles::Table)
                    .col(uuid(Profiles::ProfileId))
                    .col(big_integer(Profiles::CreatedSeq))
                    .col(uuid_null(Profiles::MergedInto))
                    .col(timestamp_with_time_zone(Profiles::FirstSeen))
                    .col(timestamp_with_time_zone(Profiles::LastSeen))
                    .primary_key(&mut profile_key())
                    .to_owned(),
            )
            .await?;
        // Profiles merged into a given one, to repoint them when that one is merged in turn.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX profiles_merged_into ON profiles (tenant_id, generation, merged_into) \
                 WHERE merged_into IS NOT NULL",
            )
            .await?;
        manager
            .create_table(
                keyed(ProfileIdentities::Table)
                    .col(string(ProfileIdentities::Kind))
                    .col(string(ProfileIdentities::Value))
                    .col(uuid(ProfileIdentities::ProfileId))
                    .col(timestamp_with_time_zone(ProfileIdentities::FirstSeen))
                    .col(timestamp_with_time_zone(ProfileIdentities::LastSeen))
                    .primary_key(
                        Index::create()
                            .col(Alias::new("tenant_id"))
                            .col(Alias::new("generation"))
                            .col(ProfileIdentities::Value)
                            .col(ProfileIdentities::Kind),
                    )
                    .to_owned(),
            )
            .await?;
        // A profile's identities, by profile. The profile id leads, so that this index is
        // never a candidate for lookups by identity value (which the primary key serves): on
        // PostgreSQL, with statistics not yet gathered on a young table, the planner was
        // seen scanning all of a tenant's identities through it.
        manager
            .create_index(
                Index::create()
                    .name("profile_identities_profile")
                    .table(ProfileIdentities::Table)
                    .col(ProfileIdentities::ProfileId)
                    .col(Alias::new("tenant_id"))
                    .col(Alias::new("generation"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                keyed(ProfileTraits::Table)
                    .col(uuid(ProfileTraits::ProfileId))
                    .col(string(ProfileTraits::Name))
                    .col(text(ProfileTraits::Value))
                    .col(string_null(ProfileTraits::Source))
                    .col(timestamp_with_time_zone(ProfileTraits::ObservedAt))
                    .col(big_integer(ProfileTraits::Seq))
                    .primary_key(&mut child_key(ProfileTraits::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                keyed(ProfileCounts::Table)
                    .col(uuid(ProfileCounts::ProfileId))
                    .col(string(ProfileCounts::Name))
                    .col(big_integer(ProfileCounts::Count))
                    .col(timestamp_with_time_zone(ProfileCounts::FirstAt))
                    .col(timestamp_with_time_zone(ProfileCounts::LastAt))
                    .primary_key(&mut child_key(ProfileCounts::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                keyed(ProfileGroups::Table)
                    .col(uuid(ProfileGroups::ProfileId))
                    .col(string(ProfileGroups::GroupId))
                    .col(text(ProfileGroups::Traits))
                    .col(timestamp_with_time_zone(ProfileGroups::ObservedAt))
                    .col(big_integer(ProfileGroups::Seq))
                    .primary_key(&mut child_key(ProfileGroups::GroupId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                keyed(ProfileConsent::Table)
                    .col(uuid(ProfileConsent::ProfileId))
                    .col(string(ProfileConsent::Purpose))
                    .col(boolean(ProfileConsent::Granted))
                    .col(timestamp_with_time_zone(ProfileConsent::ObservedAt))
                    .col(timestamp_with_time_zone_null(ProfileConsent::ExpiresAt))
                    .col(big_integer(ProfileConsent::Seq))
                    .primary_key(&mut child_key(ProfileConsent::Purpose))
                    .to_owned(),
            )
            .await?;
        // Which events belong to which profile: the timeline, without decrypting anything.
        manager
            .create_table(
                keyed(ProfileEvents::Table)
                    .col(uuid(ProfileEvents::ProfileId))
                    .col(big_integer(ProfileEvents::Seq))
                    .col(string(ProfileEvents::EventType))
                    .col(string_null(ProfileEvents::EventName))
                    .col(timestamp_with_time_zone(ProfileEvents::OccurredAt))
                    .primary_key(&mut child_key(ProfileEvents::Seq))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

fn profile_key() -> IndexCreateStatement {
    Index::create()
        .col(Alias::new("tenant_id"))
        .col(Alias::new("generation"))
        .col(Alias::new("profile_id"))
        .to_owned()
}

fn child_key(column: impl IntoIden + 'static) -> IndexCreateStatement {
    profile_key().col(column).to_owned()
}

#[derive(DeriveIden)]
enum ProjectionState {
    Table,
    Status,
    Rules,
    LastSeq,
    EventsApplied,
    EventsShredded,
    EventsUnattributed,
    FailedSeq,
    Failure,
    FailedAt,
    StartedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectorLeases {
    Table,
    TenantId,
    Holder,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum IdentityRules {
    Table,
    TenantId,
    Rules,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Profiles {
    Table,
    ProfileId,
    CreatedSeq,
    MergedInto,
    FirstSeen,
    LastSeen,
}

#[derive(DeriveIden)]
enum ProfileIdentities {
    Table,
    Kind,
    Value,
    ProfileId,
    FirstSeen,
    LastSeen,
}

#[derive(DeriveIden)]
enum ProfileTraits {
    Table,
    ProfileId,
    Name,
    Value,
    Source,
    ObservedAt,
    Seq,
}

#[derive(DeriveIden)]
enum ProfileCounts {
    Table,
    ProfileId,
    Name,
    Count,
    FirstAt,
    LastAt,
}

#[derive(DeriveIden)]
enum ProfileGroups {
    Table,
    ProfileId,
    GroupId,
    Traits,
    ObservedAt,
    Seq,
}

#[derive(DeriveIden)]
enum ProfileConsent {
    Table,
    ProfileId,
    Purpose,
    Granted,
    ObservedAt,
    ExpiresAt,
    Seq,
}

#[derive(DeriveIden)]
enum ProfileEvents {
    Table,
    ProfileId,
    Seq,
    EventType,
    EventName,
    OccurredAt,
}
