//! Writing a batch's changes back: the changed profiles' rows are replaced whole, merged
//! profiles point at the profile they live in now, and the batch's events join the
//! timelines.

use cdp_domain::TenantId;
use cdp_profiles::{Profile, WorkingSet};
use cdp_storage::one_of;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{consent, count, event, group, identity, profile, profile_trait};

/// Rows per insert statement.
const CHUNK: usize = 400;

async fn insert_chunks<A, E>(txn: &DatabaseTransaction, rows: Vec<A>) -> Result<(), StoreError>
where
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
    E: EntityTrait,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(CHUNK).collect();
        E::insert_many(chunk).exec_without_returning(txn).await?;
    }
    Ok(())
}

pub async fn write_batch(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    generation: i64,
    set: &WorkingSet,
) -> Result<(), StoreError> {
    let t = tenant.as_uuid();
    let backend = txn.get_database_backend();
    let changed: Vec<&Profile> = set.changed().collect();
    let touched: Vec<Uuid> = changed
        .iter()
        .map(|p| p.id.as_uuid())
        .chain(set.retired().keys().map(|id| id.as_uuid()))
        .collect();

    for ids in touched.chunks(CHUNK) {
        let ids = ids.to_vec();
        macro_rules! clear {
            ($entity:ident) => {
                $entity::Entity::delete_many()
                    .filter($entity::Column::TenantId.eq(t))
                    .filter($entity::Column::Generation.eq(generation))
                    .filter(one_of(backend, $entity::Column::ProfileId, ids.clone()))
                    .exec(txn)
                    .await?;
            };
        }
        clear!(identity);
        clear!(profile_trait);
        clear!(count);
        clear!(group);
        clear!(consent);
    }

    // Merged profiles keep their row, pointing at where they live now (and so does anything
    // that pointed at them), so an old id still finds its person.
    for (loser, winner) in set.retired() {
        profile::Entity::update_many()
            .col_expr(
                profile::Column::MergedInto,
                Expr::value(Some(winner.as_uuid())),
            )
            .filter(profile::Column::TenantId.eq(t))
            .filter(profile::Column::Generation.eq(generation))
            .filter(
                profile::Column::ProfileId
                    .eq(loser.as_uuid())
                    .or(profile::Column::MergedInto.eq(loser.as_uuid())),
            )
            .exec(txn)
            .await?;
        event::Entity::update_many()
            .col_expr(event::Column::ProfileId, Expr::value(winner.as_uuid()))
            .filter(event::Column::TenantId.eq(t))
            .filter(event::Column::Generation.eq(generation))
            .filter(event::Column::ProfileId.eq(loser.as_uuid()))
            .exec(txn)
            .await?;
    }

    let mut profiles = Vec::new();
    let mut identities = Vec::new();
    let mut traits = Vec::new();
    let mut counts = Vec::new();
    let mut groups = Vec::new();
    let mut consents = Vec::new();
    for p in &changed {
        let id = p.id.as_uuid();
        profiles.push(profile::ActiveModel {
            tenant_id: Set(t),
            generation: Set(generation),
            profile_id: Set(id),
            created_seq: Set(p.created_seq),
            merged_into: Set(None),
            first_seen: Set(p.first_seen),
            last_seen: Set(p.last_seen),
        });
        for ((kind, value), seen) in &p.identities {
            identities.push(identity::ActiveModel {
                tenant_id: Set(t),
                generation: Set(generation),
                value: Set(value.clone()),
                kind: Set(kind.clone()),
                profile_id: Set(id),
                first_seen: Set(seen.first_seen),
                last_seen: Set(seen.last_seen),
            });
        }
        for (name, v) in &p.traits {
            traits.push(profile_trait::ActiveModel {
                tenant_id: Set(t),
                generation: Set(generation),
                profile_id: Set(id),
                name: Set(name.clone()),
                value: Set(v.value.to_string()),
                source: Set(v.source.clone()),
                observed_at: Set(v.at),
                seq: Set(v.seq),
            });
        }
        for (name, c) in &p.counts {
            counts.push(count::ActiveModel {
                tenant_id: Set(t),
                generation: Set(generation),
                profile_id: Set(id),
                name: Set(name.clone()),
                count: Set(c.count),
                first_at: Set(c.first_at),
                last_at: Set(c.last_at),
            });
        }
        for (group_id, link) in &p.groups {
            groups.push(group::ActiveModel {
                tenant_id: Set(t),
                generation: Set(generation),
                profile_id: Set(id),
                group_id: Set(group_id.clone()),
                traits: Set(serde_json::Value::Object(link.traits.clone()).to_string()),
                observed_at: Set(link.at),
                seq: Set(link.seq),
            });
        }
        for (purpose, c) in &p.consent {
            consents.push(consent::ActiveModel {
                tenant_id: Set(t),
                generation: Set(generation),
                profile_id: Set(id),
                purpose: Set(purpose.clone()),
                granted: Set(c.granted),
                observed_at: Set(c.at),
                expires_at: Set(c.expires_at),
                seq: Set(c.seq),
            });
        }
    }
    let mut rows = profiles.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        profile::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    profile::Column::TenantId,
                    profile::Column::Generation,
                    profile::Column::ProfileId,
                ])
                .update_columns([
                    profile::Column::MergedInto,
                    profile::Column::FirstSeen,
                    profile::Column::LastSeen,
                ])
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    insert_chunks(txn, identities).await?;
    insert_chunks(txn, traits).await?;
    insert_chunks(txn, counts).await?;
    insert_chunks(txn, groups).await?;
    insert_chunks(txn, consents).await?;
    let timeline = set
        .timeline
        .iter()
        .map(|e| event::ActiveModel {
            tenant_id: Set(t),
            generation: Set(generation),
            profile_id: Set(e.profile.as_uuid()),
            seq: Set(e.seq),
            event_type: Set(e.event_type.clone()),
            event_name: Set(e.event_name.clone()),
            occurred_at: Set(e.at),
        })
        .collect();
    insert_chunks(txn, timeline).await?;
    Ok(())
}
