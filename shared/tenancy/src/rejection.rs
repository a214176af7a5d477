//! The requests each source had refused lately, for the live event debugger: whoever wires
//! up a source sees why its events were turned away (a missing field, a batch too big, a
//! rate limit) without reading the server's log, which says nothing about them anyway.
//!
//! Kept in the database so that every process answers alike; only the last
//! [`PER_SOURCE`] of a source are kept, and only those of the last [`KEEP`] are shown.

use cdp_domain::{SourceId, TenantId};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, QueryStatementBuilder};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;

use crate::TenancyError;
use crate::store::rejection;

/// Refusals kept per source.
pub const PER_SOURCE: u64 = 50;
/// How far back the debugger looks.
pub const KEEP: TimeDelta = TimeDelta::hours(1);
/// The longest message kept: enough for any reason the API gives, bounded whatever the
/// sender put in the field names it quotes.
pub const MAX_MESSAGE_BYTES: usize = 512;

/// One refused request, as its sender was told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// Microseconds since the epoch when refused: `after` in the next read.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// `message` cut to at most [`MAX_MESSAGE_BYTES`], on a character boundary.
fn bounded(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_owned();
    }
    let mut end = MAX_MESSAGE_BYTES - '…'.len_utf8();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

/// Keeps a refusal, and forgets the source's refusals beyond the last [`PER_SOURCE`].
pub async fn record_rejection<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    source: SourceId,
    status: u16,
    code: &str,
    message: &str,
) -> Result<(), TenancyError> {
    let at = Utc::now();
    let row = rejection::ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        source_id: Set(source.as_uuid()),
        id: Set(at.timestamp_micros()),
        at: Set(at),
        status: Set(i32::from(status)),
        code: Set(code.to_owned()),
        message: Set(bounded(message)),
    };
    // Two refusals in the same microsecond (from two processes): one is enough to show.
    rejection::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                rejection::Column::TenantId,
                rejection::Column::SourceId,
                rejection::Column::Id,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    let newest_kept = Query::select()
        .column(rejection::Column::Id)
        .from(rejection::Entity)
        .and_where(rejection::Column::TenantId.eq(tenant.as_uuid()))
        .and_where(rejection::Column::SourceId.eq(source.as_uuid()))
        .order_by(rejection::Column::Id, sea_orm::Order::Desc)
        .limit(1)
        .offset(PER_SOURCE - 1)
        .to_owned();
    rejection::Entity::delete_many()
        .filter(rejection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(rejection::Column::SourceId.eq(source.as_uuid()))
        .filter(Expr::col(rejection::Column::Id).lt(Expr::SubQuery(
            None,
            Box::new(newest_kept.into_sub_query_statement()),
        )))
        .exec(conn)
        .await?;
    Ok(())
}

/// The source's refusals after `after` from the last [`KEEP`], oldest first.
pub async fn rejections_after<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    source: SourceId,
    after: i64,
) -> Result<Vec<Rejection>, TenancyError> {
    let since = Utc::now() - KEEP;
    let rows = rejection::Entity::find()
        .filter(rejection::Column::TenantId.eq(tenant.as_uuid()))
        .filter(rejection::Column::SourceId.eq(source.as_uuid()))
        .filter(rejection::Column::Id.gt(Ord::max(after, since.timestamp_micros())))
        .order_by_asc(rejection::Column::Id)
        .limit(PER_SOURCE)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Rejection {
            id: row.id,
            at: row.at,
            status: u16::try_from(row.status).unwrap_or(0),
            code: row.code,
            message: row.message,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(400);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_MESSAGE_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert!(cut.starts_with("éé"));
    }
}
