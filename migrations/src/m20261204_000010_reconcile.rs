//! Reconciling memberships when a rebuild takes over: the new generation names the one it
//! replaced (`reconcile_from`), whose rows are kept until every profile's memberships in
//! the two were compared and the differences recorded as entries and exits
//! (`reconcile_cursor`: the last profile compared).

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
                    .table(ProjectionState::Table)
                    .add_column(big_integer_null(ProjectionState::ReconcileFrom))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ProjectionState::Table)
                    .add_column(uuid_null(ProjectionState::ReconcileCursor))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ProjectionState {
    Table,
    ReconcileFrom,
    ReconcileCursor,
}
