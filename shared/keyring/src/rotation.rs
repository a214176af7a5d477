//! Key rotation without re-encrypting events and without stopping anything.
//!
//! *A tenant key* gets a new version: new data keys are wrapped under it at once (every
//! process notices within seconds, `crate::watch`), the existing data keys are rewrapped
//! under it in small transactions, and the old version is destroyed once nothing is
//! wrapped under it any more. Data keys themselves, and so every sealed event, stay as
//! they are. The tenant's index key (behind subject hashes and the suppression list)
//! carries over unchanged, rewrapped under the new version.
//!
//! *The master key* is replaced by starting every process with the new key and the old
//! one as previous (both open, the new one wraps), then rewrapping every tenant key and
//! platform secret under the new one; then the previous key can be dropped.

use std::sync::Arc;
use std::time::Duration;

use cdp_domain::{DataKeyId, TenantId, TenantKeyId};
use chrono::Utc;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::cipher::Cipher;
use crate::keyring::TenantKeys;
use crate::store::{data_key, tenant_key};
use crate::{Keyring, KeyringError, aad};

/// State of a tenant key version that has a successor: it still opens what it wrapped.
pub const RETIRED: &str = "retired";

/// Data keys rewrapped per transaction.
const REWRAP_CHUNK: u64 = 500;

/// What a tenant key rotation did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantKeyRotation {
    /// The new version, under which every data key of the tenant is wrapped now.
    pub tenant_key_id: TenantKeyId,
    pub data_keys_rewrapped: u64,
    /// Older versions destroyed (nothing was wrapped under them any more).
    pub versions_destroyed: Vec<TenantKeyId>,
    /// Older versions kept because a data key under them could not be rewrapped yet (a
    /// later rotation destroys them).
    pub versions_kept: Vec<TenantKeyId>,
}

/// What a master key rotation did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MasterKeyRotation {
    pub master_key_id: String,
    pub tenant_keys_rewrapped: u64,
    /// Tenant keys wrapped by a master key this process does not hold.
    pub tenant_keys_left: u64,
}

impl Keyring {
    /// Rotates a tenant's key. `settle` is how long to wait for every process to switch
    /// to the new version before the last pass ([`crate::SHREDDED_EVERYWHERE_AFTER`] in
    /// service; shorter in tests of one process).
    pub async fn rotate_tenant_key(
        &self,
        tenant: TenantId,
        settle: Duration,
    ) -> Result<TenantKeyRotation, KeyringError> {
        let db = &self.inner.db;
        let rows = self.tenant_rows(tenant).await?;
        let keys = self.unwrap_tenant_keys(tenant, &rows)?;
        let TenantKeys::Live { index, .. } = &keys else {
            return Err(KeyringError::TenantShredded(tenant.to_string()));
        };
        let txn = cdp_storage::begin_write(db).await?;
        tenant_key::Entity::update_many()
            .col_expr(tenant_key::Column::State, Expr::value(RETIRED))
            .filter(tenant_key::Column::TenantId.eq(tenant.as_uuid()))
            .filter(tenant_key::Column::State.eq(tenant_key::ACTIVE))
            .exec(&txn)
            .await?;
        let new_id = self.insert_tenant_key_version(&txn, tenant, index).await?;
        txn.commit().await?;
        self.inner.tenants.remove(&tenant);

        // Every process switches to the new version before keys are rewrapped under it (one
        // that meets a key under a version it does not know yet reads its keys again);
        // keys made meanwhile under the old version are caught by the second pass.
        tokio::time::sleep(settle).await;
        let mut rewrapped = self.rewrap_data_keys(tenant, new_id).await?;
        tokio::time::sleep(settle).await;
        rewrapped += self.rewrap_data_keys(tenant, new_id).await?;

        let mut destroyed = Vec::new();
        let mut kept = Vec::new();
        for row in rows.iter().filter(|r| r.wrapped_key.is_some()) {
            let old = TenantKeyId::from_uuid(row.key_id);
            if destroy_version_if_unused(self, tenant, old).await? {
                destroyed.push(old);
            } else {
                kept.push(old);
            }
        }
        self.inner.tenants.remove(&tenant);
        Ok(TenantKeyRotation {
            tenant_key_id: new_id,
            data_keys_rewrapped: rewrapped,
            versions_destroyed: destroyed,
            versions_kept: kept,
        })
    }

    /// One pass over the tenant's data keys not under `to`: each is unwrapped and wrapped
    /// again under `to`. A key destroyed meanwhile stays destroyed (the update requires
    /// its wrapped key to be there still).
    async fn rewrap_data_keys(
        &self,
        tenant: TenantId,
        to: TenantKeyId,
    ) -> Result<u64, KeyringError> {
        let db = &self.inner.db;
        let rows = self.tenant_rows(tenant).await?;
        let TenantKeys::Live { ciphers, .. } = self.unwrap_tenant_keys(tenant, &rows)? else {
            return Err(KeyringError::TenantShredded(tenant.to_string()));
        };
        let target: Arc<Cipher> = ciphers
            .get(&to)
            .cloned()
            .ok_or_else(|| KeyringError::UnknownTenant(tenant.to_string()))?;
        let mut after = uuid::Uuid::nil();
        let mut rewrapped = 0;
        loop {
            let chunk = data_key::Entity::find()
                .filter(data_key::Column::TenantId.eq(tenant.as_uuid()))
                .filter(data_key::Column::TenantKeyId.ne(to.as_uuid()))
                .filter(data_key::Column::WrappedKey.is_not_null())
                .filter(data_key::Column::KeyId.gt(after))
                .order_by_asc(data_key::Column::KeyId)
                .limit(REWRAP_CHUNK)
                .all(db)
                .await?;
            let Some(last) = chunk.last() else {
                return Ok(rewrapped);
            };
            after = last.key_id;
            let mut updates: Vec<(data_key::Model, Vec<u8>)> = Vec::new();
            for row in chunk {
                let key_id = DataKeyId::from_uuid(row.key_id);
                let from = TenantKeyId::from_uuid(row.tenant_key_id);
                let (Some(wrapped), Some(cipher)) = (&row.wrapped_key, ciphers.get(&from)) else {
                    continue;
                };
                let material =
                    Zeroizing::new(cipher.open(&aad::data_key(tenant, key_id, from), wrapped)?);
                let again = target.seal(&aad::data_key(tenant, key_id, to), &material)?;
                updates.push((row, again));
            }
            let txn = cdp_storage::begin_write(db).await?;
            for (row, again) in updates {
                let done = data_key::Entity::update_many()
                    .col_expr(data_key::Column::WrappedKey, Expr::value(Some(again)))
                    .col_expr(data_key::Column::TenantKeyId, Expr::value(to.as_uuid()))
                    .filter(data_key::Column::TenantId.eq(tenant.as_uuid()))
                    .filter(data_key::Column::KeyId.eq(row.key_id))
                    .filter(data_key::Column::TenantKeyId.eq(row.tenant_key_id))
                    .filter(data_key::Column::WrappedKey.is_not_null())
                    .exec(&txn)
                    .await?;
                rewrapped += done.rows_affected;
            }
            txn.commit().await?;
        }
    }

    /// Rewraps every tenant key wrapped by a previous master key under the current one.
    pub async fn rewrap_under_current_master(&self) -> Result<MasterKeyRotation, KeyringError> {
        let db = &self.inner.db;
        let master = &self.inner.master;
        let rows = tenant_key::Entity::find()
            .filter(tenant_key::Column::MasterKeyId.ne(master.id()))
            .filter(tenant_key::Column::WrappedKey.is_not_null())
            .all(db)
            .await?;
        let mut report = MasterKeyRotation {
            master_key_id: master.id().to_owned(),
            ..MasterKeyRotation::default()
        };
        for row in rows {
            let (Ok(previous), Some(wrapped)) =
                (self.master_by_id(&row.master_key_id), &row.wrapped_key)
            else {
                report.tenant_keys_left += 1;
                continue;
            };
            let tenant = TenantId::from_uuid(row.tenant_id);
            let key_id = TenantKeyId::from_uuid(row.key_id);
            let kek = Zeroizing::new(
                previous
                    .cipher()
                    .open(&aad::tenant_key(tenant, key_id, previous.id()), wrapped)?,
            );
            let again = master
                .cipher()
                .seal(&aad::tenant_key(tenant, key_id, master.id()), &kek)?;
            let _turn = cdp_storage::write_turn(db).await;
            let done = tenant_key::Entity::update_many()
                .col_expr(tenant_key::Column::WrappedKey, Expr::value(Some(again)))
                .col_expr(tenant_key::Column::MasterKeyId, Expr::value(master.id()))
                .filter(tenant_key::Column::TenantId.eq(row.tenant_id))
                .filter(tenant_key::Column::KeyId.eq(row.key_id))
                .filter(tenant_key::Column::MasterKeyId.eq(previous.id()))
                .filter(tenant_key::Column::WrappedKey.is_not_null())
                .exec(db)
                .await?;
            report.tenant_keys_rewrapped += done.rows_affected;
        }
        Ok(report)
    }

    /// A platform secret sealed under the master key `from` (current or previous), sealed
    /// again under the current one.
    pub fn reseal_platform_secret(
        &self,
        purpose: &str,
        id: &str,
        from: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, KeyringError> {
        let secret = self.open_platform_secret(purpose, id, from, sealed)?;
        self.seal_platform_secret(purpose, id, &secret)
    }
}

/// Destroys an older tenant key version if no live data key is wrapped under it, in one
/// statement, so that a key wrapped under it meanwhile keeps it alive.
async fn destroy_version_if_unused(
    keyring: &Keyring,
    tenant: TenantId,
    version: TenantKeyId,
) -> Result<bool, KeyringError> {
    let db = &keyring.inner.db;
    let _turn = cdp_storage::write_turn(db).await;
    let in_use = data_key::Entity::find()
        .select_only()
        .column(data_key::Column::KeyId)
        .filter(data_key::Column::TenantId.eq(tenant.as_uuid()))
        .filter(data_key::Column::TenantKeyId.eq(version.as_uuid()))
        .filter(data_key::Column::WrappedKey.is_not_null())
        .into_query();
    let done = tenant_key::Entity::update_many()
        .col_expr(
            tenant_key::Column::WrappedKey,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(
            tenant_key::Column::WrappedIndexKey,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(tenant_key::Column::State, Expr::value(tenant_key::SHREDDED))
        .col_expr(
            tenant_key::Column::ShreddedAt,
            Expr::value(Some(Utc::now())),
        )
        .filter(tenant_key::Column::TenantId.eq(tenant.as_uuid()))
        .filter(tenant_key::Column::KeyId.eq(version.as_uuid()))
        .filter(tenant_key::Column::State.eq(RETIRED))
        .filter(Expr::exists(in_use).not())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}
