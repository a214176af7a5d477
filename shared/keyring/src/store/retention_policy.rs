use sea_orm::entity::prelude::*;

/// A tenant's retention period; `retention_days = 0` keeps everything (a row is updated,
/// never deleted, so that other processes see the change by `updated_at`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "retention_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub retention_days: i32,
    pub updated_at: ChronoDateTimeUtc,
    /// When a process last took this tenant's sweep (one process sweeps a tenant at a time).
    pub swept_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
