use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub source_id: Option<Uuid>,
    pub name: String,
    pub display_prefix: String,
    pub secret_hash: String,
    pub scopes: String,
    pub created_at: ChronoDateTimeUtc,
    pub revoked_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The scope of an owner's key: every permission of the tenant.
pub const ALL_SCOPES: &str = "*";
