//! Every process looks for keys destroyed (and tenant keys created) since its last look,
//! to update its caches; these indexes keep that look from scanning the key tables.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("data_keys_shredded_at")
                    .table(DataKeys::Table)
                    .col(DataKeys::ShreddedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tenant_keys_shredded_at")
                    .table(TenantKeys::Table)
                    .col(TenantKeys::ShreddedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tenant_keys_created_at")
                    .table(TenantKeys::Table)
                    .col(TenantKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum DataKeys {
    Table,
    ShreddedAt,
}

#[derive(DeriveIden)]
enum TenantKeys {
    Table,
    ShreddedAt,
    CreatedAt,
}
