use cdp_domain::{DataKeyId, EventId, Seq, SourceId, TenantId};
use cdp_storage::one_of;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::store::{event_log, head};
use crate::{LogError, StoredEvent};

/// Up to `limit` of a tenant's events after `after`, in sequence order.
///
/// The result is always contiguous from `after + 1`: should a later number ever be visible
/// before an earlier one, the read stops before the gap rather than step over it.
pub async fn read_after<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    after: Seq,
    limit: u64,
) -> Result<Vec<StoredEvent>, LogError> {
    let rows = event_log::Entity::find()
        .filter(event_log::Column::TenantId.eq(tenant.as_uuid()))
        .filter(event_log::Column::Seq.gt(after.0))
        .order_by_asc(event_log::Column::Seq)
        .limit(limit)
        .all(conn)
        .await?;
    let mut events = Vec::with_capacity(rows.len());
    let mut expected = after.next();
    for row in rows {
        if row.seq != expected.0 {
            tracing::warn!(%tenant, expected = expected.0, found = row.seq, "gap in the event log; stopping the read before it");
            break;
        }
        expected = expected.next();
        events.push(stored(tenant, row));
    }
    Ok(events)
}

/// A tenant's events at the given positions (those that exist), in the order asked for.
pub async fn read_at<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    seqs: &[Seq],
) -> Result<Vec<StoredEvent>, LogError> {
    let mut found = std::collections::HashMap::with_capacity(seqs.len());
    for chunk in seqs.chunks(500) {
        let values: Vec<i64> = chunk.iter().map(|s| s.0).collect();
        let rows = event_log::Entity::find()
            .filter(event_log::Column::TenantId.eq(tenant.as_uuid()))
            .filter(one_of(
                conn.get_database_backend(),
                event_log::Column::Seq,
                values,
            ))
            .all(conn)
            .await?;
        found.extend(rows.into_iter().map(|row| (row.seq, row)));
    }
    Ok(seqs
        .iter()
        .filter_map(|seq| found.remove(&seq.0))
        .map(|row| stored(tenant, row))
        .collect())
}

/// Bytes of sealed payloads in a tenant's log.
pub async fn stored_bytes<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<u64, LogError> {
    let row = head::Entity::find_by_id(tenant.as_uuid()).one(conn).await?;
    Ok(row.map_or(0, |r| u64::try_from(r.stored_bytes).unwrap_or(0)))
}

/// The last committed sequence number of a tenant's log (zero when it is empty).
pub async fn head<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<Seq, LogError> {
    let row = head::Entity::find_by_id(tenant.as_uuid()).one(conn).await?;
    Ok(Seq(row.map_or(0, |r| r.last_seq)))
}

fn stored(tenant: TenantId, row: event_log::Model) -> StoredEvent {
    StoredEvent {
        tenant_id: tenant,
        seq: Seq(row.seq),
        event_id: EventId::from_uuid(row.event_id),
        message_id: row.message_id,
        event_type: row.event_type,
        source_id: row.source_id.map(SourceId::from_uuid),
        received_at: row.received_at,
        occurred_at: row.occurred_at,
        key_id: DataKeyId::from_uuid(row.key_id),
        payload: row.payload,
    }
}
