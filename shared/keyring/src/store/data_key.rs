use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "data_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_id: Uuid,
    pub subject_ref: Option<String>,
    pub tenant_key_id: Uuid,
    pub wrapped_key: Option<Vec<u8>>,
    pub created_at: ChronoDateTimeUtc,
    pub shredded_at: Option<ChronoDateTimeUtc>,
    /// The subject's keyed hash without the period (`subject_ref` has it), for finding
    /// every key of a person; cleared with the key.
    pub subject_hash: Option<String>,
    /// For a tenant with a retention period: when the period this key seals ends.
    pub period_end: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

// Written by hand so that wrapped key bytes and subject hashes never reach a log.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("data_key::Model")
            .field("tenant_id", &self.tenant_id)
            .field("key_id", &self.key_id)
            .field("shredded", &self.wrapped_key.is_none())
            .finish_non_exhaustive()
    }
}
