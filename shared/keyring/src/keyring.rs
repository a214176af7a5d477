//! The keyring service: finds or creates keys, caches unwrapped ones, seals, opens, shreds.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cdp_domain::{DataKeyId, EventId, Identity, KeySubject, TenantId, TenantKeyId};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use parking_lot::RwLock;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect,
};
use sha2::Sha256;
use zeroize::Zeroizing;

use cdp_storage::one_of;

use crate::cache::BoundedCache;
use crate::cipher::Cipher;
use crate::new_keys::{NewKeys, PendingKeys, PendingRow};
use crate::retention::{Retention, policy_of};
use crate::store::{data_key, tenant_key};
use crate::watch::{Watch, changed_since};
use crate::{KeyMaterial, KeyringError, MasterKey, aad};

/// Destroyed keys up to this many get a tombstone each in the cache.
const MARK_EVERY_KEY_UP_TO: usize = 1_000;

/// Cache sizes and lifetimes.
#[derive(Clone, Debug)]
pub struct KeyringOptions {
    /// How many unwrapped data keys stay in memory.
    pub data_key_capacity: usize,
    /// How many tenants' unwrapped keys stay in memory.
    pub tenant_key_capacity: usize,
    /// How long a cached key may be used before it is read again from the key store.
    pub cache_ttl: Duration,
}

impl Default for KeyringOptions {
    fn default() -> Self {
        Self {
            data_key_capacity: 100_000,
            tenant_key_capacity: 10_000,
            cache_ttl: Duration::from_secs(60),
        }
    }
}

/// The result of opening a sealed payload.
pub enum Opened {
    Plain(Vec<u8>),
    /// The key that sealed it was destroyed: the data is gone for good.
    Shredded,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::Plain(bytes) => write!(f, "Plain({} bytes)", bytes.len()),
            Opened::Shredded => f.write_str("Shredded"),
        }
    }
}

/// Hit and miss counts of the data key cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

/// The data key of one subject, ready to seal that subject's events.
#[derive(Clone)]
pub struct SubjectKey {
    tenant: TenantId,
    key_id: DataKeyId,
    cipher: Arc<Cipher>,
}

impl SubjectKey {
    pub fn key_id(&self) -> DataKeyId {
        self.key_id
    }

    /// Seals one event's payload, binding the tenant, the event id and the key id to it.
    pub fn seal(&self, event: EventId, plaintext: &[u8]) -> Result<Vec<u8>, KeyringError> {
        #[cfg(feature = "bench")]
        if crate::bench::noop_cipher() {
            return Ok(crate::bench::unsealed(plaintext));
        }
        self.cipher
            .seal(&aad::event(self.tenant, event, self.key_id), plaintext)
    }
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

pub(crate) enum TenantKeys {
    Live {
        active: TenantKeyId,
        ciphers: HashMap<TenantKeyId, Arc<Cipher>>,
        index: KeyMaterial,
        /// New data keys are made per period of it, when set.
        retention: Option<Retention>,
    },
    Shredded,
}

impl TenantKeys {
    pub(crate) fn retention(&self) -> Option<Retention> {
        match self {
            TenantKeys::Live { retention, .. } => *retention,
            TenantKeys::Shredded => None,
        }
    }
}

#[derive(Clone)]
enum DataKeyEntry {
    Live(Arc<Cipher>),
    Shredded,
}

#[derive(Clone)]
pub struct Keyring {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: DatabaseConnection,
    pub(crate) master: MasterKey,
    /// Master keys being rotated away from: tenant keys they wrapped still open until
    /// `cdp keys rotate-master` has rewrapped them under `master`.
    pub(crate) previous_masters: Vec<MasterKey>,
    pub(crate) tenants: BoundedCache<TenantId, Arc<TenantKeys>>,
    data_keys: BoundedCache<(TenantId, DataKeyId), DataKeyEntry>,
    subjects: BoundedCache<(TenantId, String), DataKeyId>,
    pending: PendingKeys,
    /// Tenants whose keys were destroyed (seen by this process).
    shredded_tenants: RwLock<HashSet<TenantId>>,
    watch: Watch,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("master_key_id", &self.inner.master.id())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    pub fn new(db: DatabaseConnection, master: MasterKey, options: KeyringOptions) -> Self {
        Self::with_previous_masters(db, master, Vec::new(), options)
    }

    /// A keyring that wraps with `master` and still opens what `previous` wrapped: the
    /// state of every process while a master key is rotated.
    pub fn with_previous_masters(
        db: DatabaseConnection,
        master: MasterKey,
        previous: Vec<MasterKey>,
        options: KeyringOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                master,
                previous_masters: previous,
                tenants: BoundedCache::new(options.tenant_key_capacity, options.cache_ttl),
                data_keys: BoundedCache::new(options.data_key_capacity, options.cache_ttl),
                subjects: BoundedCache::new(options.data_key_capacity, options.cache_ttl),
                pending: PendingKeys::default(),
                shredded_tenants: RwLock::default(),
                watch: Watch::default(),
            }),
        }
    }

    pub fn master_key_id(&self) -> &str {
        self.inner.master.id()
    }

    /// Seals a secret of the platform itself (a token signing key, say) under the master
    /// key, bound to its purpose and id.
    pub fn seal_platform_secret(
        &self,
        purpose: &str,
        id: &str,
        secret: &[u8],
    ) -> Result<Vec<u8>, KeyringError> {
        let master = &self.inner.master;
        master
            .cipher()
            .seal(&aad::platform_secret(purpose, id, master.id()), secret)
    }

    /// Opens what [`Keyring::seal_platform_secret`] sealed under the master key
    /// `master_key_id` (the current one or a previous one); the caller zeroes the result.
    pub fn open_platform_secret(
        &self,
        purpose: &str,
        id: &str,
        master_key_id: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
        let master = self.master_by_id(master_key_id)?;
        Ok(Zeroizing::new(master.cipher().open(
            &aad::platform_secret(purpose, id, master.id()),
            sealed,
        )?))
    }

    /// Whether this keyring holds the master key with this fingerprint.
    pub fn knows_master_key(&self, master_key_id: &str) -> bool {
        self.master_by_id(master_key_id).is_ok()
    }

    pub(crate) fn master_by_id(&self, master_key_id: &str) -> Result<&MasterKey, KeyringError> {
        std::iter::once(&self.inner.master)
            .chain(&self.inner.previous_masters)
            .find(|m| m.id() == master_key_id)
            .ok_or_else(|| KeyringError::WrongMasterKey {
                key_id: String::new(),
                wrapped_by: master_key_id.to_owned(),
                configured: self.inner.master.id().to_owned(),
            })
    }

    pub fn cache_stats(&self) -> CacheStats {
        let (hits, misses) = self.inner.data_keys.counts();
        CacheStats { hits, misses }
    }

    /// Creates the key of a new tenant, inside the caller's transaction so that a tenant
    /// never exists without its key.
    pub async fn create_tenant_key<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: TenantId,
    ) -> Result<TenantKeyId, KeyringError> {
        let index = KeyMaterial::generate()?;
        self.insert_tenant_key_version(conn, tenant, &index).await
    }

    /// Stores a new active version of a tenant's key (a new key wrapped by the master key)
    /// holding `index`, the tenant's index key, wrapped by it.
    pub(crate) async fn insert_tenant_key_version<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: TenantId,
        index: &KeyMaterial,
    ) -> Result<TenantKeyId, KeyringError> {
        let master = &self.inner.master;
        let key_id = TenantKeyId::new();
        let kek = KeyMaterial::generate()?;
        let wrapped_key = master
            .cipher()
            .seal(&aad::tenant_key(tenant, key_id, master.id()), kek.expose())?;
        let wrapped_index_key =
            Cipher::new(&kek).seal(&aad::index_key(tenant, key_id), index.expose())?;
        tenant_key::Entity::insert(tenant_key::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            key_id: Set(key_id.as_uuid()),
            state: Set(tenant_key::ACTIVE.to_owned()),
            master_key_id: Set(master.id().to_owned()),
            wrapped_key: Set(Some(wrapped_key)),
            wrapped_index_key: Set(Some(wrapped_index_key)),
            created_at: Set(Utc::now()),
            shredded_at: Set(None),
        })
        .exec_without_returning(conn)
        .await?;
        Ok(key_id)
    }

    /// The data key of a subject, created on first use.
    pub async fn subject_key(
        &self,
        tenant: TenantId,
        subject: &KeySubject,
    ) -> Result<SubjectKey, KeyringError> {
        let mut keys = self
            .subject_keys(tenant, std::slice::from_ref(subject))
            .await?;
        Ok(keys.remove(0))
    }

    /// The data keys of several subjects (in the same order), creating and storing the
    /// missing ones. However many subjects are new, this takes one read and one multi-row
    /// insert: a batch of first-time visitors costs one write, not one per visitor.
    pub async fn subject_keys(
        &self,
        tenant: TenantId,
        subjects: &[KeySubject],
    ) -> Result<Vec<SubjectKey>, KeyringError> {
        let (keys, new) = self.keys_for_append(tenant, subjects).await?;
        if new.is_empty() {
            return Ok(keys);
        }
        let stored = new.insert_unless_keyed(&self.inner.db).await;
        self.new_keys_refused(&new);
        stored?;
        // Whoever won a concurrent race, the rows that now exist are the keys.
        let (keys, still_new) = self.keys_for_append(tenant, subjects).await?;
        if !still_new.is_empty() {
            self.new_keys_refused(&still_new);
            return Err(KeyringError::UnknownDataKey(format!(
                "a subject key of tenant {tenant}"
            )));
        }
        Ok(keys)
    }

    /// The data keys of several subjects (in the same order) for events about to be
    /// appended. Subjects without a stored key get one made in memory, or the one another
    /// request of this process made and has not stored yet; their rows come back as
    /// [`NewKeys`], for the caller to store in the transaction that appends the events
    /// ([`NewKeys::insert`]) and then to report with [`Keyring::new_keys_stored`] or
    /// [`Keyring::new_keys_refused`].
    pub async fn keys_for_append(
        &self,
        tenant: TenantId,
        subjects: &[KeySubject],
    ) -> Result<(Vec<SubjectKey>, NewKeys), KeyringError> {
        let keys = self.tenant_keys(tenant).await?;
        let TenantKeys::Live {
            index,
            retention,
            active,
            ..
        } = keys.as_ref()
        else {
            return Err(KeyringError::TenantShredded(tenant.to_string()));
        };
        // Under a retention period, one key per subject and period: the period's suffix
        // makes the reference, the bare hash still names the person.
        let period = retention.map(|r| r.period_of(Utc::now()));
        let refs: Vec<String> = subjects
            .iter()
            .map(|s| {
                let hash = subject_ref(index, s);
                match &period {
                    Some((suffix, _)) => hash + suffix,
                    None => hash,
                }
            })
            .collect();
        let mut found = self.cached_subject_keys(tenant, &refs);
        let mut new_rows: Vec<PendingRow> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        for subject_ref in &refs {
            if found.contains_key(subject_ref) || unknown.contains(subject_ref) {
                continue;
            }
            // A pending key made under an older version of the tenant key is not offered
            // again: that version is on its way out (a rotation).
            if let Some(row) = self
                .inner
                .pending
                .get(tenant, subject_ref)
                .filter(|row| row.tenant_key_id == *active)
            {
                found.insert(subject_ref.clone(), pending_key(tenant, &row));
                new_rows.push(row);
            } else {
                unknown.push(subject_ref.clone());
            }
        }
        if !unknown.is_empty() {
            let rows = find_by_subjects(&self.inner.db, tenant, &unknown).await?;
            let keys = self.keys_for_rows(tenant, keys.clone(), &rows).await?;
            self.adopt(tenant, &keys, rows, &mut found)?;
            for subject_ref in unknown {
                if found.contains_key(&subject_ref) {
                    continue;
                }
                // The reference less the period's suffix.
                let suffix_len = period.as_ref().map_or(0, |(suffix, _)| suffix.len());
                let subject_hash = subject_ref[..subject_ref.len() - suffix_len].to_owned();
                let period_end = period.as_ref().map(|(_, end)| *end);
                let row = self.inner.pending.offer(
                    tenant,
                    make_data_key(tenant, &keys, subject_ref, subject_hash, period_end)?,
                );
                found.insert(row.subject_ref.clone(), pending_key(tenant, &row));
                new_rows.push(row);
            }
        }
        let keys = refs
            .iter()
            .map(|r| {
                found.get(r).cloned().ok_or_else(|| {
                    KeyringError::UnknownDataKey(format!("a subject key of tenant {tenant}"))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((keys, NewKeys::new(tenant, new_rows)))
    }

    /// New keys are in the database now: they are served from the cache from here on.
    pub fn new_keys_stored(&self, new: &NewKeys) {
        let Some(tenant) = new.tenant() else {
            return;
        };
        for row in &new.rows {
            self.cache_data_key(tenant, row.key_id, &DataKeyEntry::Live(row.cipher.clone()));
            self.inner
                .subjects
                .put((tenant, row.subject_ref.clone()), row.key_id);
        }
        self.inner.pending.stored(new);
    }

    /// New keys were not stored (their transaction failed): they are offered no more, and
    /// the next request makes or finds others.
    pub fn new_keys_refused(&self, new: &NewKeys) {
        self.inner.pending.forget(new);
    }

    /// A cached data key; every key of a tenant shredded by this process reads as
    /// shredded, whatever the cache still holds, so shredding a tenant need not visit
    /// its cached keys (however many there are).
    fn cached_data_key(&self, tenant: TenantId, key_id: DataKeyId) -> Option<DataKeyEntry> {
        if self.inner.shredded_tenants.read().contains(&tenant) {
            return Some(DataKeyEntry::Shredded);
        }
        match self.inner.data_keys.get(&(tenant, key_id))? {
            DataKeyEntry::Live(_) if !self.inner.watch.trusts_cache() => None,
            entry => Some(entry),
        }
    }

    /// The cached keys of these subjects (those the caches hold), two lock takings in all.
    fn cached_subject_keys(
        &self,
        tenant: TenantId,
        refs: &[String],
    ) -> HashMap<String, SubjectKey> {
        let mut found = HashMap::new();
        if self.inner.shredded_tenants.read().contains(&tenant) || !self.inner.watch.trusts_cache()
        {
            return found;
        }
        let subject_keys: Vec<(TenantId, String)> =
            refs.iter().map(|r| (tenant, r.clone())).collect();
        let key_ids = self.inner.subjects.get_many(&subject_keys);
        let wanted: Vec<(TenantId, DataKeyId)> =
            key_ids.iter().flatten().map(|id| (tenant, *id)).collect();
        let mut entries = self.inner.data_keys.get_many(&wanted).into_iter();
        for (subject_ref, key_id) in refs.iter().zip(key_ids) {
            let Some(key_id) = key_id else {
                continue;
            };
            if let Some(DataKeyEntry::Live(cipher)) = entries.next().flatten() {
                found.insert(
                    subject_ref.clone(),
                    SubjectKey {
                        tenant,
                        key_id,
                        cipher,
                    },
                );
            }
        }
        found
    }

    /// Unwraps found key rows into `found`, caching them.
    fn adopt(
        &self,
        tenant: TenantId,
        keys: &TenantKeys,
        rows: Vec<data_key::Model>,
        found: &mut HashMap<String, SubjectKey>,
    ) -> Result<(), KeyringError> {
        for row in rows {
            let Some(subject_ref) = row.subject_ref.clone() else {
                continue;
            };
            let key_id = DataKeyId::from_uuid(row.key_id);
            match self.unwrap_data_key(tenant, keys, &row)? {
                DataKeyEntry::Live(cipher) => {
                    self.inner
                        .subjects
                        .put((tenant, subject_ref.clone()), key_id);
                    found.insert(
                        subject_ref,
                        SubjectKey {
                            tenant,
                            key_id,
                            cipher,
                        },
                    );
                }
                // A subject row is cleared when shredded, so this only happens when the
                // tenant key under it was destroyed.
                DataKeyEntry::Shredded => {
                    return Err(KeyringError::TenantShredded(tenant.to_string()));
                }
            }
        }
        Ok(())
    }

    /// Seals a payload under its subject's data key. Returns the key id and the sealed bytes.
    pub async fn seal(
        &self,
        tenant: TenantId,
        event: EventId,
        subject: &KeySubject,
        plaintext: &[u8],
    ) -> Result<(DataKeyId, Vec<u8>), KeyringError> {
        let key = self.subject_key(tenant, subject).await?;
        Ok((key.key_id(), key.seal(event, plaintext)?))
    }

    /// Opens a sealed payload. A destroyed key gives [`Opened::Shredded`]; altered bytes, or
    /// bytes moved from another tenant or event, give [`KeyringError::Tampered`].
    pub async fn open(
        &self,
        tenant: TenantId,
        event: EventId,
        key_id: DataKeyId,
        sealed: &[u8],
    ) -> Result<Opened, KeyringError> {
        let entry = match self.cached_data_key(tenant, key_id) {
            Some(entry) => entry,
            None => self.load_data_key(tenant, key_id).await?,
        };
        match entry {
            DataKeyEntry::Shredded => Ok(Opened::Shredded),
            DataKeyEntry::Live(cipher) => cipher
                .open(&aad::event(tenant, event, key_id), sealed)
                .map(Opened::Plain),
        }
    }

    /// Loads the keys of many events at once (one query per 500 keys not yet cached), so
    /// that opening a batch of events does not cost a query per event.
    pub async fn preload(
        &self,
        tenant: TenantId,
        key_ids: &[DataKeyId],
    ) -> Result<(), KeyringError> {
        let mut missing: Vec<uuid::Uuid> = key_ids
            .iter()
            .filter(|id| self.cached_data_key(tenant, **id).is_none())
            .map(|id| id.as_uuid())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let mut keys = self.tenant_keys(tenant).await?;
        if matches!(keys.as_ref(), TenantKeys::Shredded) {
            return Ok(());
        }
        for chunk in missing.chunks(512) {
            let rows = data_key::Entity::find()
                .filter(data_key::Column::TenantId.eq(tenant.as_uuid()))
                .filter(one_of(
                    self.inner.db.get_database_backend(),
                    data_key::Column::KeyId,
                    chunk.to_vec(),
                ))
                .all(&self.inner.db)
                .await?;
            keys = self.keys_for_rows(tenant, keys, &rows).await?;
            for row in rows {
                let entry = self.unwrap_data_key(tenant, &keys, &row)?;
                self.cache_data_key(tenant, DataKeyId::from_uuid(row.key_id), &entry);
            }
        }
        Ok(())
    }

    /// A data key by id, to seal more data of the same subject (the system's own records
    /// about an event go under that event's key). `None` once shredded.
    pub async fn key_by_id(
        &self,
        tenant: TenantId,
        key_id: DataKeyId,
    ) -> Result<Option<SubjectKey>, KeyringError> {
        let entry = match self.cached_data_key(tenant, key_id) {
            Some(entry) => entry,
            None => self.load_data_key(tenant, key_id).await?,
        };
        Ok(match entry {
            DataKeyEntry::Shredded => None,
            DataKeyEntry::Live(cipher) => Some(SubjectKey {
                tenant,
                key_id,
                cipher,
            }),
        })
    }

    /// The id of a subject's data key, if it has one; creates nothing.
    pub async fn find_subject_key_id(
        &self,
        tenant: TenantId,
        subject: &KeySubject,
    ) -> Result<Option<DataKeyId>, KeyringError> {
        let keys = self.tenant_keys(tenant).await?;
        let TenantKeys::Live { index, .. } = keys.as_ref() else {
            return Ok(None);
        };
        let hash = subject_ref(index, subject);
        Ok(find_by_hashes(&self.inner.db, tenant, &[hash])
            .await?
            .iter()
            .max_by_key(|row| row.created_at)
            .map(|row| DataKeyId::from_uuid(row.key_id)))
    }

    /// Destroys a subject's data keys (one per retention period, or the one). Returns a
    /// destroyed key's id, or `None` if the subject had no live key.
    pub async fn shred_subject(
        &self,
        tenant: TenantId,
        subject: &KeySubject,
    ) -> Result<Option<DataKeyId>, KeyringError> {
        let ids = self
            .shred_subjects_in(&self.inner.db, tenant, std::slice::from_ref(subject))
            .await?;
        self.shredded_keys_committed(tenant, &ids);
        Ok(ids.first().copied())
    }

    /// Which of these data keys still exist (have their wrapped key): what a receipt's
    /// check of its destroyed keys looks at, in the key store itself.
    pub async fn live_data_keys(
        &self,
        tenant: TenantId,
        key_ids: &[DataKeyId],
    ) -> Result<Vec<DataKeyId>, KeyringError> {
        let mut live = Vec::new();
        for chunk in key_ids.chunks(512) {
            let found: Vec<uuid::Uuid> = data_key::Entity::find()
                .select_only()
                .column(data_key::Column::KeyId)
                .filter(data_key::Column::TenantId.eq(tenant.as_uuid()))
                .filter(one_of(
                    self.inner.db.get_database_backend(),
                    data_key::Column::KeyId,
                    chunk.iter().map(|id| id.as_uuid()).collect::<Vec<_>>(),
                ))
                .filter(data_key::Column::WrappedKey.is_not_null())
                .into_tuple()
                .all(&self.inner.db)
                .await?;
            live.extend(found.into_iter().map(DataKeyId::from_uuid));
        }
        Ok(live)
    }

    /// Destroys one data key. Its cost does not depend on how many events it sealed.
    pub async fn shred_data_key(
        &self,
        tenant: TenantId,
        key_id: DataKeyId,
    ) -> Result<bool, KeyringError> {
        let destroyed = destroy_data_keys(&self.inner.db, tenant, &[key_id]).await?;
        self.shredded_keys_committed(tenant, &[key_id]);
        Ok(destroyed > 0)
    }

    /// Destroys the data keys of these subjects inside the caller's transaction, so that
    /// an erasure and its record commit together; returns the ids of the keys destroyed.
    /// Once the transaction has committed, call [`Keyring::shredded_keys_committed`].
    pub async fn shred_subjects_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: TenantId,
        subjects: &[KeySubject],
    ) -> Result<Vec<DataKeyId>, KeyringError> {
        let keys = self.tenant_keys(tenant).await?;
        let TenantKeys::Live { index, .. } = keys.as_ref() else {
            return Ok(Vec::new());
        };
        let hashes: Vec<String> = subjects.iter().map(|s| subject_ref(index, s)).collect();
        let mut ids: Vec<DataKeyId> = find_by_hashes(conn, tenant, &hashes)
            .await?
            .iter()
            .map(|row| DataKeyId::from_uuid(row.key_id))
            .collect();
        ids.sort_by_key(|id| id.as_uuid());
        ids.dedup();
        // Rows found by their subject hash are live ones (destroying a key clears its
        // hash), so every one of them must be destroyed now; anything else is reported
        // rather than recorded as erased.
        let destroyed = destroy_data_keys(conn, tenant, &ids).await?;
        if destroyed != ids.len() as u64 {
            return Err(KeyringError::ShredIncomplete {
                found: ids.len() as u64,
                destroyed,
            });
        }
        Ok(ids)
    }

    /// Keyed hashes of identities (in the same order) for the tenant's suppression list:
    /// they let ingestion recognise a suppressed person without the list holding who they
    /// are. (Another label than the data keys' subject hash, so the two cannot be matched.)
    /// Empty once the tenant's keys are destroyed.
    pub async fn suppression_refs(
        &self,
        tenant: TenantId,
        identities: &[Identity],
    ) -> Result<Vec<String>, KeyringError> {
        let keys = self.tenant_keys(tenant).await?;
        let TenantKeys::Live { index, .. } = keys.as_ref() else {
            return Ok(Vec::new());
        };
        Ok(identities
            .iter()
            .map(|i| keyed_hash(index, b"cdp.suppression.v1\0", Some(i)))
            .collect())
    }

    /// Tells this process's caches that these keys are destroyed (after the transaction
    /// that destroyed them committed): nothing here seals or opens with them again.
    pub fn shredded_keys_committed(&self, tenant: TenantId, key_ids: &[DataKeyId]) {
        self.mark_destroyed(tenant, key_ids, key_ids.len() <= MARK_EVERY_KEY_UP_TO);
    }

    /// A few destroyed keys (an erasure) get a tombstone each, which also stops a load
    /// that read the row just before it was destroyed from caching it live. Many (a
    /// retention sweep) are marked only where cached, so the tombstones do not push out
    /// the keys in use; a key read meanwhile is caught by the next looks (`watch`).
    pub(crate) fn mark_destroyed(&self, tenant: TenantId, key_ids: &[DataKeyId], mark_all: bool) {
        self.inner.pending.shredded(tenant, key_ids);
        for key_id in key_ids {
            let key = (tenant, *key_id);
            if mark_all {
                self.inner.data_keys.put(key, DataKeyEntry::Shredded);
            } else {
                self.inner
                    .data_keys
                    .replace_present(&key, DataKeyEntry::Shredded);
            }
        }
    }

    /// One look for keys other processes destroyed or rotated lately (see
    /// [`crate::watch`]): destroyed ones are dropped from this process's caches, and a
    /// rotated tenant's keys are read again. Returns how many changes it saw.
    pub async fn look_for_key_changes(&self) -> Result<usize, KeyringError> {
        let began = Instant::now();
        let at = Utc::now();
        let destroyed = changed_since(&self.inner.db, self.inner.watch.since(at)).await?;
        if destroyed.overflow {
            // Too many to mark one by one: every key is read again from the key store.
            self.inner.data_keys.clear();
            self.inner.subjects.clear();
        } else {
            let mut by_tenant: HashMap<TenantId, Vec<DataKeyId>> = HashMap::new();
            for (tenant, key_id) in &destroyed.data_keys {
                by_tenant.entry(*tenant).or_default().push(*key_id);
            }
            for (tenant, key_ids) in by_tenant {
                self.shredded_keys_committed(tenant, &key_ids);
            }
        }
        for tenant in &destroyed.tenants {
            self.tenant_shredded(*tenant);
        }
        for tenant in &destroyed.rotated {
            if !self.inner.shredded_tenants.read().contains(tenant) {
                self.inner.tenants.remove(tenant);
            }
        }
        self.inner.watch.looked(began, at);
        Ok(destroyed.data_keys.len() + destroyed.tenants.len() + destroyed.rotated.len())
    }

    /// Destroys every key of a tenant: all of its sealed data becomes unreadable at once.
    pub async fn shred_tenant(&self, tenant: TenantId) -> Result<(), KeyringError> {
        tenant_key::Entity::update_many()
            .col_expr(tenant_key::Column::State, Expr::value(tenant_key::SHREDDED))
            .col_expr(
                tenant_key::Column::WrappedKey,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                tenant_key::Column::WrappedIndexKey,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                tenant_key::Column::ShreddedAt,
                Expr::value(Some(Utc::now())),
            )
            .filter(tenant_key::Column::TenantId.eq(tenant.as_uuid()))
            .exec(&self.inner.db)
            .await?;
        self.tenant_shredded(tenant);
        Ok(())
    }

    fn tenant_shredded(&self, tenant: TenantId) {
        self.inner
            .tenants
            .put(tenant, Arc::new(TenantKeys::Shredded));
        // Its cached keys stay until they age out, unusable (`cached_data_key`).
        self.inner.shredded_tenants.write().insert(tenant);
    }

    pub(crate) async fn tenant_keys(
        &self,
        tenant: TenantId,
    ) -> Result<Arc<TenantKeys>, KeyringError> {
        // Like data keys, cached tenant keys are trusted only while the watch is looking:
        // a rotation or a deleted workspace elsewhere must reach this process in seconds.
        if let Some(keys) = self.inner.tenants.get(&tenant)
            && (matches!(keys.as_ref(), TenantKeys::Shredded) || self.inner.watch.trusts_cache())
        {
            return Ok(keys);
        }
        let rows = self.tenant_rows(tenant).await?;
        let mut keys = self.unwrap_tenant_keys(tenant, &rows)?;
        if let TenantKeys::Live { retention, .. } = &mut keys {
            *retention = policy_of(&self.inner.db, tenant).await?;
        }
        let keys = Arc::new(keys);
        self.inner
            .tenants
            .put_unless(tenant, keys.clone(), |existing| {
                matches!(existing.as_ref(), TenantKeys::Shredded)
            });
        Ok(keys)
    }

    /// Every version row of a tenant's key, read from the key store.
    pub(crate) async fn tenant_rows(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<tenant_key::Model>, KeyringError> {
        let rows = tenant_key::Entity::find()
            .filter(tenant_key::Column::TenantId.eq(tenant.as_uuid()))
            .all(&self.inner.db)
            .await?;
        if rows.is_empty() {
            return Err(KeyringError::UnknownTenant(tenant.to_string()));
        }
        Ok(rows)
    }

    pub(crate) fn unwrap_tenant_keys(
        &self,
        tenant: TenantId,
        rows: &[tenant_key::Model],
    ) -> Result<TenantKeys, KeyringError> {
        let mut ciphers = HashMap::new();
        let mut active = None;
        for row in rows {
            let Some(wrapped) = &row.wrapped_key else {
                continue;
            };
            let key_id = TenantKeyId::from_uuid(row.key_id);
            let master = self.master_by_id(&row.master_key_id).map_err(|_| {
                KeyringError::WrongMasterKey {
                    key_id: key_id.to_string(),
                    wrapped_by: row.master_key_id.clone(),
                    configured: self.inner.master.id().to_owned(),
                }
            })?;
            let kek = Zeroizing::new(
                master
                    .cipher()
                    .open(&aad::tenant_key(tenant, key_id, master.id()), wrapped)?,
            );
            let cipher = Cipher::new(&KeyMaterial::from_slice(&kek)?);
            if row.state == tenant_key::ACTIVE
                && let Some(wrapped_index) = &row.wrapped_index_key
                && active
                    .as_ref()
                    .is_none_or(|(_, created, _)| row.created_at > *created)
            {
                let index =
                    Zeroizing::new(cipher.open(&aad::index_key(tenant, key_id), wrapped_index)?);
                active = Some((key_id, row.created_at, KeyMaterial::from_slice(&index)?));
            }
            ciphers.insert(key_id, Arc::new(cipher));
        }
        Ok(match active {
            Some((active, _, index)) => TenantKeys::Live {
                active,
                ciphers,
                index,
                retention: None,
            },
            None => TenantKeys::Shredded,
        })
    }

    /// The tenant's keys, read again if one of these rows is wrapped under a version they
    /// lack: another process rotated the tenant key and rewrapped it under the new
    /// version. (A version that is really gone makes its keys read as destroyed.)
    async fn keys_for_rows(
        &self,
        tenant: TenantId,
        keys: Arc<TenantKeys>,
        rows: &[data_key::Model],
    ) -> Result<Arc<TenantKeys>, KeyringError> {
        let TenantKeys::Live { ciphers, .. } = keys.as_ref() else {
            return Ok(keys);
        };
        let stale = rows.iter().any(|row| {
            row.wrapped_key.is_some()
                && !ciphers.contains_key(&TenantKeyId::from_uuid(row.tenant_key_id))
        });
        if !stale {
            return Ok(keys);
        }
        self.inner.tenants.remove(&tenant);
        self.tenant_keys(tenant).await
    }

    async fn load_data_key(
        &self,
        tenant: TenantId,
        key_id: DataKeyId,
    ) -> Result<DataKeyEntry, KeyringError> {
        let keys = self.tenant_keys(tenant).await?;
        let entry = if matches!(keys.as_ref(), TenantKeys::Shredded) {
            DataKeyEntry::Shredded
        } else {
            let row = data_key::Entity::find_by_id((tenant.as_uuid(), key_id.as_uuid()))
                .one(&self.inner.db)
                .await?
                .ok_or_else(|| KeyringError::UnknownDataKey(key_id.to_string()))?;
            let keys = self
                .keys_for_rows(tenant, keys, std::slice::from_ref(&row))
                .await?;
            self.unwrap_data_key(tenant, &keys, &row)?
        };
        self.cache_data_key(tenant, key_id, &entry);
        Ok(entry)
    }

    /// Caches a key, never over a tombstone: a key read just before it was shredded must not
    /// come back to life in the cache.
    fn cache_data_key(&self, tenant: TenantId, key_id: DataKeyId, entry: &DataKeyEntry) {
        self.inner
            .data_keys
            .put_unless((tenant, key_id), entry.clone(), |existing| {
                matches!(existing, DataKeyEntry::Shredded)
            });
    }

    fn unwrap_data_key(
        &self,
        tenant: TenantId,
        keys: &TenantKeys,
        row: &data_key::Model,
    ) -> Result<DataKeyEntry, KeyringError> {
        let key_id = DataKeyId::from_uuid(row.key_id);
        let wrapped_by = TenantKeyId::from_uuid(row.tenant_key_id);
        let entry = match (keys, &row.wrapped_key) {
            (TenantKeys::Live { ciphers, .. }, Some(wrapped)) => match ciphers.get(&wrapped_by) {
                Some(tenant_cipher) => {
                    let material = Zeroizing::new(
                        tenant_cipher.open(&aad::data_key(tenant, key_id, wrapped_by), wrapped)?,
                    );
                    DataKeyEntry::Live(Arc::new(Cipher::new(&KeyMaterial::from_slice(&material)?)))
                }
                // The tenant key version that wrapped it was destroyed.
                None => DataKeyEntry::Shredded,
            },
            _ => DataKeyEntry::Shredded,
        };
        self.cache_data_key(tenant, key_id, &entry);
        Ok(entry)
    }
}

/// The key rows of these subject hashes (live ones: destroying a key clears its hash), in
/// chunks that stay under the bound-parameter limits.
/// Live key rows by their exact subject reference (subject and period).
async fn find_by_subjects<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    subject_refs: &[String],
) -> Result<Vec<data_key::Model>, KeyringError> {
    find_by(conn, tenant, data_key::Column::SubjectRef, subject_refs).await
}

/// Live key rows of subjects, every period's. Also by reference: a key without a period
/// has its hash as reference, and one stored by a process that predates periods (during
/// an upgrade) has no `subject_hash` at all.
async fn find_by_hashes<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    hashes: &[String],
) -> Result<Vec<data_key::Model>, KeyringError> {
    let mut rows = find_by(conn, tenant, data_key::Column::SubjectHash, hashes).await?;
    rows.extend(find_by(conn, tenant, data_key::Column::SubjectRef, hashes).await?);
    rows.sort_by_key(|row| row.key_id);
    rows.dedup_by_key(|row| row.key_id);
    Ok(rows)
}

async fn find_by<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    column: data_key::Column,
    values: &[String],
) -> Result<Vec<data_key::Model>, KeyringError> {
    let mut rows = Vec::with_capacity(values.len());
    for chunk in values.chunks(512) {
        rows.extend(
            data_key::Entity::find()
                .filter(data_key::Column::TenantId.eq(tenant.as_uuid()))
                .filter(one_of(conn.get_database_backend(), column, chunk.to_vec()))
                .all(conn)
                .await?,
        );
    }
    Ok(rows)
}

/// Drops the wrapped keys (and the subject hashes, so the subject gets a new key if it
/// comes back) of live data keys; returns how many were live.
pub(crate) async fn destroy_data_keys<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    key_ids: &[DataKeyId],
) -> Result<u64, KeyringError> {
    let mut destroyed = 0;
    for chunk in key_ids.chunks(512) {
        let result = data_key::Entity::update_many()
            .col_expr(
                data_key::Column::WrappedKey,
                Expr::value(Option::<Vec<u8>>::None),
            )
            .col_expr(
                data_key::Column::SubjectRef,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                data_key::Column::SubjectHash,
                Expr::value(Option::<String>::None),
            )
            .col_expr(data_key::Column::ShreddedAt, Expr::value(Some(Utc::now())))
            .filter(data_key::Column::TenantId.eq(tenant.as_uuid()))
            .filter(one_of(
                conn.get_database_backend(),
                data_key::Column::KeyId,
                chunk.iter().map(|id| id.as_uuid()).collect::<Vec<_>>(),
            ))
            .filter(data_key::Column::WrappedKey.is_not_null())
            .exec(conn)
            .await?;
        destroyed += result.rows_affected;
    }
    Ok(destroyed)
}

/// A keyed hash naming a subject in the key table without revealing it. The kinds are
/// snake-case words, so the tenant marker `@tenant` cannot collide with an identity.
fn subject_ref(index: &KeyMaterial, subject: &KeySubject) -> String {
    let identity = match subject {
        KeySubject::Identity(identity) => Some(identity),
        KeySubject::Tenant => None,
    };
    keyed_hash(index, b"cdp.subject.v1\0", identity)
}

/// HMAC-SHA256 under the tenant's index key of a label and an identity (or, for `None`,
/// the tenant marker).
fn keyed_hash(index: &KeyMaterial, label: &[u8], identity: Option<&Identity>) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(index.expose())
        .expect("HMAC accepts keys of any length");
    mac.update(label);
    match identity {
        Some(identity) => {
            mac.update(identity.kind().as_str().as_bytes());
            mac.update(b"\0");
            mac.update(identity.value().as_bytes());
        }
        None => mac.update(b"@tenant"),
    }
    hex::encode(mac.finalize().into_bytes())
}

/// A pending key, ready to seal.
fn pending_key(tenant: TenantId, row: &PendingRow) -> SubjectKey {
    SubjectKey {
        tenant,
        key_id: row.key_id,
        cipher: row.cipher.clone(),
    }
}

/// A new data key for a subject, wrapped by the tenant's active key; nothing is stored.
fn make_data_key(
    tenant: TenantId,
    keys: &TenantKeys,
    subject_ref: String,
    subject_hash: String,
    period_end: Option<DateTime<Utc>>,
) -> Result<PendingRow, KeyringError> {
    let TenantKeys::Live {
        active, ciphers, ..
    } = keys
    else {
        return Err(KeyringError::TenantShredded(tenant.to_string()));
    };
    let key_id = DataKeyId::new();
    let material = KeyMaterial::generate()?;
    let wrapped_key =
        ciphers[active].seal(&aad::data_key(tenant, key_id, *active), material.expose())?;
    Ok(PendingRow {
        key_id,
        subject_ref,
        subject_hash,
        period_end,
        tenant_key_id: *active,
        wrapped_key,
        created_at: Utc::now(),
        cipher: Arc::new(Cipher::new(&material)),
    })
}
