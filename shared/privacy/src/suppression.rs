//! The suppression list: people whose events are dropped at ingestion (and counted)
//! instead of stored. An erasure puts the erased identities on it unless asked not to, so
//! that a person who was erased is not rebuilt by the next event their browser sends.
//!
//! The list holds keyed hashes (`Keyring::suppression_refs`), never identities: it says
//! "this hash is suppressed", and only a holder of the tenant's key can tell whose it is.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cdp_domain::{PrivacyRequestId, TenantId};
use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::PrivacyError;

/// How long a tenant's list is trusted before it is read again: a change made by another
/// process is seen within this time; one made by this process at once.
pub const SUPPRESSION_TTL: Duration = Duration::from_secs(5);

static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Says that a suppression list changed (call it once the change is committed).
pub fn suppressions_changed() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
}

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "suppressions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub subject_ref: String,
        pub subject_type: String,
        pub request_id: Option<Uuid>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Puts keyed hashes (with their identity types) on the tenant's list; returns how many
/// were not on it yet.
pub async fn suppress<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    entries: &[(String, String)],
    request: Option<PrivacyRequestId>,
) -> Result<u64, PrivacyError> {
    let now = Utc::now();
    let rows = entries.iter().map(|(subject_type, subject_ref)| {
        entity::ActiveModel::from(entity::Model {
            tenant_id: tenant.as_uuid(),
            subject_ref: subject_ref.clone(),
            subject_type: subject_type.clone(),
            request_id: request.map(|r| r.as_uuid()),
            created_at: now,
        })
    });
    let inserted = entity::Entity::insert_many(rows)
        .on_conflict_do_nothing()
        .exec_without_returning(conn)
        .await?;
    Ok(match inserted {
        sea_orm::TryInsertResult::Inserted(rows) => rows,
        _ => 0,
    })
}

/// Takes keyed hashes off the list; returns how many were on it.
pub async fn unsuppress<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    refs: &[String],
) -> Result<u64, PrivacyError> {
    let deleted = entity::Entity::delete_many()
        .filter(entity::Column::TenantId.eq(tenant.as_uuid()))
        .filter(entity::Column::SubjectRef.is_in(refs.iter().cloned()))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}

/// Whether one keyed hash is on the list (read from the database, not a cache).
pub async fn is_suppressed<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    subject_ref: &str,
) -> Result<bool, PrivacyError> {
    Ok(
        entity::Entity::find_by_id((tenant.as_uuid(), subject_ref.to_owned()))
            .one(conn)
            .await?
            .is_some(),
    )
}

async fn load<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<HashSet<String>, PrivacyError> {
    let refs: Vec<String> = entity::Entity::find()
        .select_only()
        .column(entity::Column::SubjectRef)
        .filter(entity::Column::TenantId.eq(tenant.as_uuid()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(refs.into_iter().collect())
}

struct Loaded {
    at: Instant,
    epoch: u64,
    refs: Arc<HashSet<String>>,
}

/// Each tenant's list as ingestion checks it, read at most every [`SUPPRESSION_TTL`].
/// Most tenants' lists are empty, and then checking costs no hashing at all.
#[derive(Default)]
pub struct SuppressionCache {
    tenants: Mutex<HashMap<TenantId, Loaded>>,
}

impl SuppressionCache {
    pub async fn refs<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: TenantId,
    ) -> Result<Arc<HashSet<String>>, PrivacyError> {
        let epoch = EPOCH.load(Ordering::SeqCst);
        if let Some(loaded) = self.tenants.lock().expect("not poisoned").get(&tenant)
            && loaded.epoch == epoch
            && loaded.at.elapsed() < SUPPRESSION_TTL
        {
            return Ok(loaded.refs.clone());
        }
        let refs = Arc::new(load(conn, tenant).await?);
        self.tenants.lock().expect("not poisoned").insert(
            tenant,
            Loaded {
                at: Instant::now(),
                epoch,
                refs: refs.clone(),
            },
        );
        Ok(refs)
    }
}
