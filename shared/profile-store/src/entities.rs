//! The projection tables.

macro_rules! relationless {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub(crate) mod state {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "projection_state")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        pub status: String,
        pub rules: String,
        pub last_seq: i64,
        pub events_applied: i64,
        pub events_shredded: i64,
        pub events_unattributed: i64,
        pub failed_seq: Option<i64>,
        pub failure: Option<String>,
        pub failed_at: Option<ChronoDateTimeUtc>,
        pub started_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
        pub aggregations: Option<String>,
        pub reconcile_from: Option<i64>,
        pub reconcile_cursor: Option<Uuid>,
    }
    relationless!();
}

pub(crate) mod lease {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "projector_leases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        pub holder: String,
        pub expires_at: ChronoDateTimeUtc,
    }
    relationless!();
}

pub(crate) mod rules {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "identity_rules")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        pub rules: String,
        pub updated_at: ChronoDateTimeUtc,
    }
    relationless!();
}

pub(crate) mod profile {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profiles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
        pub created_seq: i64,
        pub merged_into: Option<Uuid>,
        pub first_seen: ChronoDateTimeUtc,
        pub last_seen: ChronoDateTimeUtc,
    }
    relationless!();
}

pub(crate) mod identity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profile_identities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub value: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        pub profile_id: Uuid,
        pub first_seen: ChronoDateTimeUtc,
        pub last_seen: ChronoDateTimeUtc,
    }
    relationless!();

    // Identity values are personal data: kept out of logs.
    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("identity::Model")
                .field("kind", &self.kind)
                .finish_non_exhaustive()
        }
    }
}

pub(crate) mod profile_trait {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profile_traits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub value: String,
        pub source: Option<String>,
        pub observed_at: ChronoDateTimeUtc,
        pub seq: i64,
    }
    relationless!();

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("profile_trait::Model")
                .field("name", &self.name)
                .finish_non_exhaustive()
        }
    }
}

pub(crate) mod count {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profile_counts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub count: i64,
        pub first_at: ChronoDateTimeUtc,
        pub last_at: ChronoDateTimeUtc,
    }
    relationless!();
}

pub(crate) mod group {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profile_groups")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub group_id: String,
        pub traits: String,
        pub observed_at: ChronoDateTimeUtc,
        pub seq: i64,
    }
    relationless!();

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("group::Model")
                .field("group_id", &self.group_id)
                .finish_non_exhaustive()
        }
    }
}

pub(crate) mod consent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profile_consent")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub purpose: String,
        pub granted: bool,
        pub observed_at: ChronoDateTimeUtc,
        pub expires_at: Option<ChronoDateTimeUtc>,
        pub seq: i64,
    }
    relationless!();
}

pub(crate) mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profile_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub event_type: String,
        pub event_name: Option<String>,
        pub occurred_at: ChronoDateTimeUtc,
    }
    relationless!();
}

pub(crate) mod erasure_purge {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "erasure_purges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
    }
    relationless!();
}

pub(crate) mod computed_trait {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "computed_traits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub definition: String,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }
    relationless!();
}

pub(crate) mod segment {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "segments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment_id: Uuid,
        pub name: String,
        pub description: Option<String>,
        pub condition: String,
        pub version: i64,
        pub backfilled_version: i64,
        pub backfill_cursor: Option<Uuid>,
        pub backfill_done: i64,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }
    relationless!();
}

pub(crate) mod profile_computed {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profile_computed")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
        pub aggregates: String,
        pub key_id: Option<Uuid>,
        pub reevaluate_at: Option<ChronoDateTimeUtc>,
    }
    relationless!();
}

pub(crate) mod segment_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "segment_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: Uuid,
        pub since: ChronoDateTimeUtc,
    }
    relationless!();
}

pub(crate) mod segment_count {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "segment_counts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub generation: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment_id: Uuid,
        pub members: i64,
    }
    relationless!();
}

pub(crate) mod segment_size {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "segment_sizes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub segment_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub hour: ChronoDateTimeUtc,
        pub members: i64,
    }
    relationless!();
}
