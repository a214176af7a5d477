use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_id: Uuid,
    pub state: String,
    pub master_key_id: String,
    pub wrapped_key: Option<Vec<u8>>,
    pub wrapped_index_key: Option<Vec<u8>>,
    pub created_at: ChronoDateTimeUtc,
    pub shredded_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const ACTIVE: &str = "active";
pub const SHREDDED: &str = "shredded";

// Written by hand so that wrapped key bytes never reach a log.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("tenant_key::Model")
            .field("tenant_id", &self.tenant_id)
            .field("key_id", &self.key_id)
            .field("state", &self.state)
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}
