//! Writing a batch's changes back: rows that changed are upserted, merged profiles point
//! at the profile they live in now, and the batch's events join the timelines.

use cdp_domain::TenantId;
use cdp_profiles::{Profile, WorkingSet};
use cdp_storage::{one_of, power_of_two_chunks};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{consent, count, event, group, identity, profile, profile_trait};

/// Rows per insert statement at most; statements come in power-of-two lengths, so that
/// each length is compiled once.
const CHUNK: usize = 256;

/// Inserts rows, or updates the non-key columns of rows that exist (`keys` is the
/// primary key, `values` the rest).
async fn upsert_chunks<A, E>(
    txn: &DatabaseTransaction,
    rows: Vec<A>,
    keys: &[E::Column],
    values: &[E::Column],
) -> Result<(), StoreError>
where
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
    E: EntityTrait,
{
    for chunk in power_of_two_chunks(rows, CHUNK) {
        let mut insert = E::insert_many(chunk);
        if !values.is_empty() {
            insert = insert.on_conflict(
                OnConflict::columns(keys.iter().copied())
                    .update_columns(values.iter().copied())
                    .to_owned(),
            );
        }
        insert.exec_without_returning(txn).await?;
    }
    Ok(())
}

/// Writes what a batch changed: only rows that differ from what was loaded, so a track
/// event costs a count, a timeline row and the times it moved, not its whole profile.
pub async fn write_batch(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    generation: i64,
    set: &WorkingSet,
) -> Result<(), StoreError> {
    let t = tenant.as_uuid();
    let backend = txn.get_database_backend();
    let changed: Vec<&Profile> = set.changed().collect();
    let losers: Vec<Uuid> = set.retired().keys().map(|id| id.as_uuid()).collect();

    // What merged away lives on in its winner, whose rows carry it from now on. (Its
    // identities move by the upsert below: they are keyed by value, not by profile.)
    for ids in losers.chunks(CHUNK) {
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
        let before = set.as_loaded(p.id);
        let unchanged = |same: &dyn Fn(&Profile) -> bool| before.is_some_and(same);
        if !unchanged(&|b| b.first_seen == p.first_seen && b.last_seen == p.last_seen) {
            profiles.push(profile::ActiveModel {
                tenant_id: Set(t),
                generation: Set(generation),
                profile_id: Set(id),
                created_seq: Set(p.created_seq),
                merged_into: Set(None),
                first_seen: Set(p.first_seen),
                last_seen: Set(p.last_seen),
            });
        }
        for (key, seen) in &p.identities {
            if unchanged(&|b| b.identities.get(key) == Some(seen)) {
                continue;
            }
            let (kind, value) = key;
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
            if unchanged(&|b| b.traits.get(name) == Some(v)) {
                continue;
            }
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
            if unchanged(&|b| b.counts.get(name) == Some(c)) {
                continue;
            }
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
            if unchanged(&|b| b.groups.get(group_id) == Some(link)) {
                continue;
            }
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
            if unchanged(&|b| b.consent.get(purpose) == Some(c)) {
                continue;
            }
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
    use {
        consent as cs, count as ct, group as gr, identity as id, profile as pr, profile_trait as tr,
    };
    upsert_chunks(
        txn,
        profiles,
        &[
            pr::Column::TenantId,
            pr::Column::Generation,
            pr::Column::ProfileId,
        ],
        &[
            pr::Column::MergedInto,
            pr::Column::FirstSeen,
            pr::Column::LastSeen,
        ],
    )
    .await?;
    upsert_chunks(
        txn,
        identities,
        &[
            id::Column::TenantId,
            id::Column::Generation,
            id::Column::Value,
            id::Column::Kind,
        ],
        &[
            id::Column::ProfileId,
            id::Column::FirstSeen,
            id::Column::LastSeen,
        ],
    )
    .await?;
    upsert_chunks(
        txn,
        traits,
        &[
            tr::Column::TenantId,
            tr::Column::Generation,
            tr::Column::ProfileId,
            tr::Column::Name,
        ],
        &[
            tr::Column::Value,
            tr::Column::Source,
            tr::Column::ObservedAt,
            tr::Column::Seq,
        ],
    )
    .await?;
    upsert_chunks(
        txn,
        counts,
        &[
            ct::Column::TenantId,
            ct::Column::Generation,
            ct::Column::ProfileId,
            ct::Column::Name,
        ],
        &[ct::Column::Count, ct::Column::FirstAt, ct::Column::LastAt],
    )
    .await?;
    upsert_chunks(
        txn,
        groups,
        &[
            gr::Column::TenantId,
            gr::Column::Generation,
            gr::Column::ProfileId,
            gr::Column::GroupId,
        ],
        &[gr::Column::Traits, gr::Column::ObservedAt, gr::Column::Seq],
    )
    .await?;
    upsert_chunks(
        txn,
        consents,
        &[
            cs::Column::TenantId,
            cs::Column::Generation,
            cs::Column::ProfileId,
            cs::Column::Purpose,
        ],
        &[
            cs::Column::Granted,
            cs::Column::ExpiresAt,
            cs::Column::ObservedAt,
            cs::Column::Seq,
        ],
    )
    .await?;
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
    upsert_chunks(txn, timeline, &[], &[]).await?;
    Ok(())
}
