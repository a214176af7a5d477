//! Retention without rewriting the log: a tenant with a retention period seals each
//! person's events under one data key per *period* (of received time), so that what is
//! past retention is made unreadable by destroying the keys of the periods that ended
//! before the cutoff. The cost of a sweep follows the number of keys it destroys, never
//! the number of events.
//!
//! A period lasts a thirtieth of the retention (at least a day, at most 31 days), so an
//! event becomes unreadable between `retention` and `retention + period` after it was
//! received (a 365-day retention: 12-day periods, so within 377 days), and a person active
//! throughout holds about 31 live keys.

use cdp_domain::{DataKeyId, TenantId};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

use crate::store::{data_key, retention_policy};
use crate::{Keyring, KeyringError};

pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// Keys destroyed per statement of a sweep.
const SWEEP_CHUNK: u64 = 512;

/// For this long after a tenant's retention was set or changed, its sweep waits: a period
/// set too short by mistake can be put right before anything is destroyed.
pub const RETENTION_GRACE: TimeDelta = TimeDelta::days(1);

/// A process takes a tenant's sweep for this long; others leave it alone meanwhile.
const SWEEP_CLAIM: TimeDelta = TimeDelta::minutes(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Retention {
    pub days: u32,
}

impl Retention {
    /// `None` for 0 (keep everything); an error past [`MAX_RETENTION_DAYS`].
    pub fn of_days(days: u32) -> Result<Option<Retention>, KeyringError> {
        match days {
            0 => Ok(None),
            d if d > MAX_RETENTION_DAYS => Err(KeyringError::BadRetention(MAX_RETENTION_DAYS)),
            d => Ok(Some(Retention { days: d })),
        }
    }

    pub fn period_days(self) -> i64 {
        (i64::from(self.days) / 30).clamp(1, 31)
    }

    fn period_seconds(self) -> i64 {
        self.period_days() * 86_400
    }

    /// The period `at` falls in: a suffix that makes the subject hash per period, and
    /// the period's end.
    pub(crate) fn period_of(self, at: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let length = self.period_seconds();
        let number = at.timestamp().div_euclid(length);
        let end = Utc
            .timestamp_opt((number + 1) * length, 0)
            .single()
            .unwrap_or(at);
        (format!("/p{}d{number}", self.period_days()), end)
    }

    /// Keys of periods that ended at or before this are past retention at `now`.
    pub fn cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - TimeDelta::days(i64::from(self.days))
    }
}

/// What one tenant's sweep destroyed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RetentionSweep {
    pub tenant: TenantId,
    pub keys_shredded: u64,
    pub cutoff: DateTime<Utc>,
}

impl Keyring {
    /// Sets a tenant's retention (`None`: keep everything). New data keys follow it at
    /// once in this process and within seconds in others; keys made before keep their
    /// periods (a key without one is never swept: it predates retention).
    pub async fn set_retention(
        &self,
        tenant: TenantId,
        retention: Option<Retention>,
    ) -> Result<(), KeyringError> {
        let db = &self.inner.db;
        let _turn = cdp_storage::write_turn(db).await;
        retention_policy::Entity::insert(retention_policy::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            retention_days: Set(retention.map_or(0, |r| r.days as i32)),
            updated_at: Set(Utc::now()),
            swept_at: Set(None),
        })
        .on_conflict(
            OnConflict::column(retention_policy::Column::TenantId)
                .update_columns([
                    retention_policy::Column::RetentionDays,
                    retention_policy::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        self.inner.tenants.remove(&tenant);
        Ok(())
    }

    /// A tenant's retention, as new keys follow it.
    pub async fn retention(&self, tenant: TenantId) -> Result<Option<Retention>, KeyringError> {
        Ok(self.tenant_keys(tenant).await?.retention())
    }

    /// Destroys, for every tenant with a retention period, the data keys whose period
    /// ended before the cutoff at `now`. Returns the tenants where it destroyed some.
    pub async fn expire_retained(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<RetentionSweep>, KeyringError> {
        let db = &self.inner.db;
        let policies = retention_policy::Entity::find()
            .filter(retention_policy::Column::RetentionDays.gt(0))
            .all(db)
            .await?;
        let mut swept = Vec::new();
        for policy in policies {
            let Some(retention) = Retention::of_days(policy.retention_days.max(0) as u32)? else {
                continue;
            };
            if policy.updated_at > now - RETENTION_GRACE {
                continue;
            }
            let tenant = TenantId::from_uuid(policy.tenant_id);
            if !claim_sweep(db, tenant, now).await? {
                continue;
            }
            let cutoff = retention.cutoff(now);
            let mut keys_shredded = 0;
            loop {
                let ids: Vec<uuid::Uuid> = data_key::Entity::find()
                    .select_only()
                    .column(data_key::Column::KeyId)
                    .filter(data_key::Column::TenantId.eq(tenant.as_uuid()))
                    .filter(data_key::Column::PeriodEnd.lte(cutoff))
                    .filter(data_key::Column::WrappedKey.is_not_null())
                    .limit(SWEEP_CHUNK)
                    .into_tuple()
                    .all(db)
                    .await?;
                if ids.is_empty() {
                    break;
                }
                let ids: Vec<DataKeyId> = ids.into_iter().map(DataKeyId::from_uuid).collect();
                let _turn = cdp_storage::write_turn(db).await;
                keys_shredded += crate::keyring::destroy_data_keys(db, tenant, &ids).await?;
                drop(_turn);
                self.mark_destroyed(tenant, &ids, false);
            }
            if keys_shredded > 0 {
                swept.push(RetentionSweep {
                    tenant,
                    keys_shredded,
                    cutoff,
                });
            }
        }
        Ok(swept)
    }
}

/// Takes a tenant's sweep for this process unless another took it lately.
async fn claim_sweep(
    db: &sea_orm::DatabaseConnection,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<bool, KeyringError> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let _turn = cdp_storage::write_turn(db).await;
    let claimed = retention_policy::Entity::update_many()
        .col_expr(retention_policy::Column::SweptAt, Expr::value(Some(now)))
        .filter(retention_policy::Column::TenantId.eq(tenant.as_uuid()))
        .filter(
            retention_policy::Column::SweptAt
                .is_null()
                .or(retention_policy::Column::SweptAt.lt(now - SWEEP_CLAIM)),
        )
        .exec(db)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// The policy rows changed since `since` (the watch reads them again).
pub(crate) async fn policies_changed_since<C: sea_orm::ConnectionTrait>(
    conn: &C,
    since: DateTime<Utc>,
) -> Result<Vec<uuid::Uuid>, KeyringError> {
    Ok(retention_policy::Entity::find()
        .select_only()
        .column(retention_policy::Column::TenantId)
        .filter(retention_policy::Column::UpdatedAt.gte(since))
        .into_tuple()
        .all(conn)
        .await?)
}

/// A tenant's policy, if it has one in force.
pub(crate) async fn policy_of<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Option<Retention>, KeyringError> {
    let row = retention_policy::Entity::find_by_id(tenant.as_uuid())
        .one(conn)
        .await?;
    match row {
        Some(row) => Retention::of_days(row.retention_days.max(0) as u32),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_a_thirtieth_of_retention_within_a_day_and_a_month() {
        assert_eq!(Retention { days: 7 }.period_days(), 1);
        assert_eq!(Retention { days: 365 }.period_days(), 12);
        assert_eq!(Retention { days: 3650 }.period_days(), 31);
        assert!(Retention::of_days(0).unwrap().is_none());
        assert!(Retention::of_days(MAX_RETENTION_DAYS + 1).is_err());
    }

    #[test]
    fn an_instant_falls_in_one_period_that_ends_after_it() {
        let r = Retention { days: 365 };
        let at: DateTime<Utc> = "2026-12-02T10:00:00Z".parse().unwrap();
        let (suffix, end) = r.period_of(at);
        assert!(end > at && end - at <= TimeDelta::days(12));
        let (same, same_end) = r.period_of(end - TimeDelta::seconds(1));
        assert_eq!((same, same_end), (suffix.clone(), end));
        let (next, _) = r.period_of(end);
        assert_ne!(next, suffix);
    }
}
