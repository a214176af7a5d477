use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub event_id: Uuid,
    pub message_id: String,
    pub event_type: String,
    pub source_id: Option<Uuid>,
    pub received_at: ChronoDateTimeUtc,
    pub occurred_at: ChronoDateTimeUtc,
    pub key_id: Uuid,
    pub payload: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("event_log::Model")
            .field("tenant_id", &self.tenant_id)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}
