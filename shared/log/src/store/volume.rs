use sea_orm::entity::prelude::*;

/// Events received per tenant, source (the nil UUID for none) and hour.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_volume")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour: ChronoDateTimeUtc,
    #[sea_orm(primary_key, auto_increment = false)]
    pub source_id: Uuid,
    pub events: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
