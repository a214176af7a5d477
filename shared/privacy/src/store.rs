//! Where requests are kept.

use cdp_domain::{PrivacyRequestId, TenantId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{
    PrivacyError, PrivacyRequest, Receipt, Regulation, RequestFilter, RequestKind, RequestStatus,
};

pub(crate) mod request {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "privacy_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub request_id: Uuid,
        pub kind: String,
        pub status: String,
        pub subject_type: String,
        pub regulation: String,
        pub received_at: ChronoDateTimeUtc,
        pub due_at: ChronoDateTimeUtc,
        pub requested_by: Option<String>,
        pub log_seq: Option<i64>,
        pub erased_at: Option<ChronoDateTimeUtc>,
        pub completed_at: Option<ChronoDateTimeUtc>,
        pub failure: Option<String>,
        pub receipt: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records a new request (status `received`).
pub async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    kind: RequestKind,
    subject_type: &str,
    regulation: Regulation,
    requested_by: Option<String>,
) -> Result<PrivacyRequest, PrivacyError> {
    let id = PrivacyRequestId::new();
    let now = Utc::now();
    let row = request::Model {
        tenant_id: tenant.as_uuid(),
        request_id: id.as_uuid(),
        kind: kind.as_str().to_owned(),
        status: RequestStatus::Received.as_str().to_owned(),
        subject_type: subject_type.to_owned(),
        regulation: regulation.as_str().to_owned(),
        received_at: now,
        due_at: regulation.due(now),
        requested_by,
        log_seq: None,
        erased_at: None,
        completed_at: None,
        failure: None,
        receipt: None,
    };
    request::Entity::insert(request::ActiveModel::from(row.clone()))
        .exec_without_returning(conn)
        .await?;
    view(row, now)
}

/// Where the request's order landed in the log.
pub async fn set_log_seq<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: PrivacyRequestId,
    seq: i64,
) -> Result<(), PrivacyError> {
    request::Entity::update_many()
        .col_expr(request::Column::LogSeq, Expr::value(seq))
        .filter(request::Column::TenantId.eq(tenant.as_uuid()))
        .filter(request::Column::RequestId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn get<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: PrivacyRequestId,
) -> Result<Option<PrivacyRequest>, PrivacyError> {
    let row = request::Entity::find_by_id((tenant.as_uuid(), id.as_uuid()))
        .one(conn)
        .await?;
    row.map(|row| view(row, Utc::now())).transpose()
}

pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    filter: &RequestFilter,
) -> Result<Vec<PrivacyRequest>, PrivacyError> {
    let now = Utc::now();
    let mut query = request::Entity::find()
        .filter(request::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_desc(request::Column::RequestId)
        .limit(filter.limit);
    if let Some(status) = filter.status {
        query = query.filter(request::Column::Status.eq(status.as_str()));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(request::Column::Kind.eq(kind.as_str()));
    }
    if filter.overdue {
        query = query
            .filter(request::Column::Status.is_in([
                RequestStatus::Received.as_str(),
                RequestStatus::InProgress.as_str(),
            ]))
            .filter(request::Column::DueAt.lt(now));
    }
    if let Some(before) = filter.before {
        query = query.filter(request::Column::RequestId.lt(before.as_uuid()));
    }
    query
        .all(conn)
        .await?
        .into_iter()
        .map(|row| view(row, now))
        .collect()
}

/// The subject is erased: keys destroyed, profile gone. The request stays `in_progress`
/// until the erasure has reached every process and the timeline rows are purged too
/// ([`mark_completed`]).
pub async fn mark_erased<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: PrivacyRequestId,
    receipt: &Receipt,
) -> Result<(), PrivacyError> {
    request::Entity::update_many()
        .col_expr(
            request::Column::Status,
            Expr::value(RequestStatus::InProgress.as_str()),
        )
        .col_expr(request::Column::ErasedAt, Expr::value(receipt.erased_at))
        .col_expr(
            request::Column::Receipt,
            Expr::value(serde_json::to_string(&receipt).expect("a receipt serializes")),
        )
        .filter(request::Column::TenantId.eq(tenant.as_uuid()))
        .filter(request::Column::RequestId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// An open request with a record in the log (an erasure order, an access record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenRecord {
    pub id: PrivacyRequestId,
    pub kind: RequestKind,
    pub log_seq: i64,
}

/// The tenant's requests not started yet that have a record in the log.
pub async fn open_records<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<OpenRecord>, PrivacyError> {
    let rows = request::Entity::find()
        .filter(request::Column::TenantId.eq(tenant.as_uuid()))
        .filter(request::Column::Status.eq(RequestStatus::Received.as_str()))
        .filter(request::Column::LogSeq.is_not_null())
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(OpenRecord {
                id: PrivacyRequestId::from_uuid(row.request_id),
                kind: RequestKind::parse(&row.kind)?,
                log_seq: row.log_seq?,
            })
        })
        .collect())
}

/// A request that cannot be carried out, with the reason (no personal data in it).
pub async fn mark_failed<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: PrivacyRequestId,
    reason: &str,
) -> Result<(), PrivacyError> {
    request::Entity::update_many()
        .col_expr(
            request::Column::Status,
            Expr::value(RequestStatus::Failed.as_str()),
        )
        .col_expr(request::Column::Failure, Expr::value(reason))
        .filter(request::Column::TenantId.eq(tenant.as_uuid()))
        .filter(request::Column::RequestId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// A request carried out at once (suppression, unsuppression).
pub async fn mark_done<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: PrivacyRequestId,
    at: DateTime<Utc>,
) -> Result<(), PrivacyError> {
    request::Entity::update_many()
        .col_expr(
            request::Column::Status,
            Expr::value(RequestStatus::Completed.as_str()),
        )
        .col_expr(request::Column::CompletedAt, Expr::value(at))
        .filter(request::Column::TenantId.eq(tenant.as_uuid()))
        .filter(request::Column::RequestId.eq(id.as_uuid()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Erasures carried out before `erased_before` and not completed yet, oldest first.
pub async fn erasures_in_progress<C: ConnectionTrait>(
    conn: &C,
    erased_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(TenantId, PrivacyRequestId)>, PrivacyError> {
    let rows: Vec<(uuid::Uuid, uuid::Uuid)> = request::Entity::find()
        .select_only()
        .column(request::Column::TenantId)
        .column(request::Column::RequestId)
        .filter(request::Column::Kind.eq(RequestKind::Erasure.as_str()))
        .filter(request::Column::Status.eq(RequestStatus::InProgress.as_str()))
        .filter(request::Column::ErasedAt.lte(erased_before))
        .order_by_asc(request::Column::ErasedAt)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(t, r)| (TenantId::from_uuid(t), PrivacyRequestId::from_uuid(r)))
        .collect())
}

/// An erasure has reached every process and its last rows are gone. Returns the receipt,
/// or `None` if the request is not an erasure in progress (another process completed it
/// first, say).
pub async fn mark_completed<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: PrivacyRequestId,
    at: DateTime<Utc>,
) -> Result<Option<Receipt>, PrivacyError> {
    let Some(row) = request::Entity::find_by_id((tenant.as_uuid(), id.as_uuid()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let Some(mut receipt) = parse_receipt(row.receipt.as_deref())? else {
        return Ok(None);
    };
    receipt.completed_at = Some(at);
    // Conditional on the status, so that of two processes completing it only one does.
    let updated = request::Entity::update_many()
        .col_expr(
            request::Column::Status,
            Expr::value(RequestStatus::Completed.as_str()),
        )
        .col_expr(request::Column::CompletedAt, Expr::value(at))
        .col_expr(
            request::Column::Receipt,
            Expr::value(serde_json::to_string(&receipt).expect("a receipt serializes")),
        )
        .filter(request::Column::TenantId.eq(tenant.as_uuid()))
        .filter(request::Column::RequestId.eq(id.as_uuid()))
        .filter(request::Column::Status.eq(RequestStatus::InProgress.as_str()))
        .exec(conn)
        .await?;
    Ok((updated.rows_affected == 1).then_some(receipt))
}

fn parse_receipt(stored: Option<&str>) -> Result<Option<Receipt>, PrivacyError> {
    stored
        .map(|s| serde_json::from_str(s).map_err(|_| PrivacyError::Corrupt("receipt")))
        .transpose()
}

fn view(row: request::Model, now: DateTime<Utc>) -> Result<PrivacyRequest, PrivacyError> {
    let status = RequestStatus::parse(&row.status).ok_or(PrivacyError::Corrupt("status"))?;
    Ok(PrivacyRequest {
        id: PrivacyRequestId::from_uuid(row.request_id),
        kind: RequestKind::parse(&row.kind).ok_or(PrivacyError::Corrupt("type"))?,
        status,
        subject_type: row.subject_type,
        regulation: Regulation::parse(&row.regulation)
            .ok_or(PrivacyError::Corrupt("regulation"))?,
        received_at: row.received_at,
        due_at: row.due_at,
        overdue: status.is_open() && row.due_at < now,
        requested_by: row.requested_by,
        erased_at: row.erased_at,
        completed_at: row.completed_at,
        failure: row.failure,
        receipt: parse_receipt(row.receipt.as_deref())?,
        export_url: (row.kind == RequestKind::Access.as_str()).then(|| {
            format!(
                "/v1/privacy/requests/{}/export",
                PrivacyRequestId::from_uuid(row.request_id)
            )
        }),
        log_seq: row.log_seq,
    })
}
