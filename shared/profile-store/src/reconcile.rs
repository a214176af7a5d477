//! When a rebuild takes over, the memberships it computed are compared with the ones of
//! the generation it replaced, whose entries and exits the log holds: the differences
//! (a changed identity rule merges or splits people, a segment changed during the rebuild)
//! are recorded, a page of profiles at a time. The replaced generation's rows are kept
//! until then ([`crate::purge_step`] leaves them alone).

use cdp_domain::{ProfileId, TenantId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{segment_member, state};

/// The next profiles after `after`, in id order, that are members of a segment in either
/// generation: at most `limit` of them, and whether they are the last.
pub async fn member_page<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generations: [i64; 2],
    after: Option<ProfileId>,
    limit: u64,
) -> Result<(Vec<ProfileId>, bool), StoreError> {
    let mut ids: Vec<Uuid> = Vec::new();
    // Where a full list stops, the other may go on: only ids up to the smaller end of the
    // full lists are known to be complete.
    let mut bound: Option<Uuid> = None;
    for generation in generations {
        let mut query = segment_member::Entity::find()
            .select_only()
            .column(segment_member::Column::ProfileId)
            .distinct()
            .filter(segment_member::Column::TenantId.eq(tenant.as_uuid()))
            .filter(segment_member::Column::Generation.eq(generation));
        if let Some(after) = after {
            query = query.filter(segment_member::Column::ProfileId.gt(after.as_uuid()));
        }
        let found: Vec<Uuid> = query
            .order_by_asc(segment_member::Column::ProfileId)
            .limit(limit)
            .into_tuple()
            .all(conn)
            .await?;
        if found.len() as u64 == limit
            && let Some(last) = found.last()
        {
            bound = Some(bound.map_or(*last, |b| b.min(*last)));
        }
        ids.extend(found);
    }
    ids.sort();
    ids.dedup();
    if let Some(bound) = bound {
        ids.retain(|id| *id <= bound);
    }
    let last = bound.is_none();
    Ok((ids.into_iter().map(ProfileId::from_uuid).collect(), last))
}

/// Records how far the comparison went; `None` once every profile was compared, which
/// releases the replaced generation to be removed.
pub async fn record_reconcile<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
    cursor: Option<ProfileId>,
) -> Result<(), StoreError> {
    let update = state::Entity::update_many()
        .filter(state::Column::TenantId.eq(tenant.as_uuid()))
        .filter(state::Column::Generation.eq(generation));
    let update = match cursor {
        Some(cursor) => update.col_expr(
            state::Column::ReconcileCursor,
            Expr::value(cursor.as_uuid()),
        ),
        None => update
            .col_expr(
                state::Column::ReconcileFrom,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                state::Column::ReconcileCursor,
                Expr::value(Option::<Uuid>::None),
            ),
    };
    update.exec(conn).await?;
    Ok(())
}

/// Whether a generation has any membership (a replaced one with none needs no comparison).
pub(crate) async fn has_members<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    generation: i64,
) -> Result<bool, StoreError> {
    Ok(segment_member::Entity::find()
        .select_only()
        .column(segment_member::Column::ProfileId)
        .filter(segment_member::Column::TenantId.eq(tenant.as_uuid()))
        .filter(segment_member::Column::Generation.eq(generation))
        .limit(1)
        .into_tuple::<Uuid>()
        .one(conn)
        .await?
        .is_some())
}
