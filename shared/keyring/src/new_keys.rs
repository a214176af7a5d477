//! Keys of subjects seen for the first time, written with the first events they seal.
//!
//! A new visitor's first events need a data key that did not exist. Writing that key in a
//! transaction of its own costs a commit (a disk sync) before the events' own, and on
//! SQLite, where there is one writer, it queues behind the event log's group commit and
//! slows every request waiting there. Instead the key is made in memory and its row goes
//! into the database in the same transaction as the events: both are stored, or neither.
//!
//! Until that transaction commits the key is *pending*: requests of this process that see
//! the same new subject meanwhile use the same key, and each of them carries its row, so
//! whichever commits first stores it (the others' inserts of the same key id do nothing).
//! Another process may store a different key for the same subject first; the unique
//! index on the subject then refuses ours, the events sealed under it fail with
//! [`KeyringError::SubjectTaken`], and the caller seals them again under the winner's key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cdp_domain::{DataKeyId, TenantId, TenantKeyId};
use cdp_storage::{is_unique_violation, power_of_two_chunks};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::KeyringError;
use crate::cipher::Cipher;
use crate::store::data_key;

/// How long a pending key is offered to other requests: longer than any commit takes, so
/// only a key whose request vanished before telling the outcome ever reaches it.
const PENDING_TTL: Duration = Duration::from_secs(60);

/// How long a key is still offered once stored. A request that looked for the subject's
/// key in the database just before the commit (and so did not see it) must be given this
/// key, not make a second one: the second would be refused by the unique index on the
/// subject, and with it the request's events. Longer than any key lookup takes.
const STORED_LINGER: Duration = Duration::from_secs(5);

/// Pending keys beyond which expired ones are swept out (at most once a second).
const SWEEP_ABOVE: usize = 10_000;

/// The row of a key that is not stored yet.
#[derive(Clone)]
pub(crate) struct PendingRow {
    pub(crate) key_id: DataKeyId,
    pub(crate) subject_ref: String,
    /// The subject's hash without the period.
    pub(crate) subject_hash: String,
    pub(crate) period_end: Option<DateTime<Utc>>,
    pub(crate) tenant_key_id: TenantKeyId,
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) cipher: Arc<Cipher>,
}

/// Data keys that must be stored in the same transaction as the events they sealed, by
/// [`NewKeys::insert`]. Holds wrapped keys only, and never prints them.
#[derive(Clone, Default)]
pub struct NewKeys {
    tenant: Option<TenantId>,
    pub(crate) rows: Vec<PendingRow>,
}

impl std::fmt::Debug for NewKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKeys")
            .field("count", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl NewKeys {
    pub(crate) fn new(tenant: TenantId, rows: Vec<PendingRow>) -> Self {
        Self {
            tenant: Some(tenant),
            rows,
        }
    }

    pub(crate) fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Stores the keys of several sets (of one tenant, or several) inside the caller's
    /// transaction, in one order (by subject), so that concurrent transactions storing
    /// the same subjects cannot deadlock. A key id stored already is skipped; a subject
    /// that another key took first fails with [`KeyringError::SubjectTaken`].
    pub async fn insert<C: ConnectionTrait>(
        conn: &C,
        sets: &[&NewKeys],
    ) -> Result<(), KeyringError> {
        insert_rows(
            conn,
            sets,
            &[data_key::Column::TenantId, data_key::Column::KeyId],
        )
        .await
    }

    /// Stores the keys on their own, each unless its subject has one already: the
    /// subject's stored key wins, whichever it is.
    pub(crate) async fn insert_unless_keyed<C: ConnectionTrait>(
        &self,
        conn: &C,
    ) -> Result<(), KeyringError> {
        insert_rows(
            conn,
            &[self],
            &[data_key::Column::TenantId, data_key::Column::SubjectRef],
        )
        .await
    }
}

/// Inserts rows in subject order, doing nothing for a row that conflicts on `skip`.
async fn insert_rows<C: ConnectionTrait>(
    conn: &C,
    sets: &[&NewKeys],
    skip: &[data_key::Column],
) -> Result<(), KeyringError> {
    let mut rows: Vec<(TenantId, &PendingRow)> = sets
        .iter()
        .flat_map(|set| set.tenant.map(|t| set.rows.iter().map(move |r| (t, r))))
        .flatten()
        .collect();
    rows.sort_by(|a, b| (a.0, &a.1.subject_ref).cmp(&(b.0, &b.1.subject_ref)));
    rows.dedup_by(|a, b| a.0 == b.0 && a.1.key_id == b.1.key_id);
    for chunk in power_of_two_chunks(rows, 256) {
        let models = chunk
            .into_iter()
            .map(|(tenant, row)| data_key::ActiveModel {
                tenant_id: Set(tenant.as_uuid()),
                key_id: Set(row.key_id.as_uuid()),
                subject_ref: Set(Some(row.subject_ref.clone())),
                tenant_key_id: Set(row.tenant_key_id.as_uuid()),
                wrapped_key: Set(Some(row.wrapped_key.clone())),
                created_at: Set(row.created_at),
                shredded_at: Set(None),
                subject_hash: Set(Some(row.subject_hash.clone())),
                period_end: Set(row.period_end),
            });
        let result = data_key::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns(skip.iter().copied())
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(KeyringError::SubjectTaken),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

struct Pending {
    /// Offered until then.
    until: Instant,
    row: PendingRow,
}

struct Entries {
    pending: HashMap<(TenantId, String), Pending>,
    swept: Instant,
}

/// The keys of this process that are made but not known to be stored (or stored a
/// moment ago, see [`STORED_LINGER`]).
pub(crate) struct PendingKeys {
    entries: Mutex<Entries>,
}

impl Default for PendingKeys {
    fn default() -> Self {
        Self {
            entries: Mutex::new(Entries {
                pending: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }
}

impl PendingKeys {
    /// The pending key of a subject, if one is offered.
    pub(crate) fn get(&self, tenant: TenantId, subject_ref: &str) -> Option<PendingRow> {
        let mut entries = self.entries.lock();
        let key = (tenant, subject_ref.to_owned());
        match entries.pending.get(&key) {
            Some(p) if Instant::now() < p.until => Some(p.row.clone()),
            Some(_) => {
                entries.pending.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Offers a new key to other requests, unless one is offered already (a request that
    /// raced this one): then that one is answered, and the new one dropped.
    pub(crate) fn offer(&self, tenant: TenantId, row: PendingRow) -> PendingRow {
        let mut entries = self.entries.lock();
        let now = Instant::now();
        if entries.pending.len() >= SWEEP_ABOVE && entries.swept.elapsed() > Duration::from_secs(1)
        {
            entries.pending.retain(|_, p| now < p.until);
            entries.swept = now;
        }
        let entry = entries
            .pending
            .entry((tenant, row.subject_ref.clone()))
            .or_insert(Pending {
                until: now + PENDING_TTL,
                row: row.clone(),
            });
        if now >= entry.until {
            *entry = Pending {
                until: now + PENDING_TTL,
                row,
            };
        }
        entry.row.clone()
    }

    /// These keys are stored: still offered for [`STORED_LINGER`], then forgotten.
    pub(crate) fn stored(&self, keys: &NewKeys) {
        let Some(tenant) = keys.tenant else {
            return;
        };
        let linger = Instant::now() + STORED_LINGER;
        let mut entries = self.entries.lock();
        for row in &keys.rows {
            if let Some(p) = entries.pending.get_mut(&(tenant, row.subject_ref.clone()))
                && p.row.key_id == row.key_id
            {
                p.until = p.until.min(linger);
            }
        }
    }

    /// Stops offering keys that were destroyed (a key lingering after its commit must not
    /// seal anything once shredded).
    pub(crate) fn shredded(&self, tenant: TenantId, key_ids: &[DataKeyId]) {
        self.entries
            .lock()
            .pending
            .retain(|(t, _), p| *t != tenant || !key_ids.contains(&p.row.key_id));
    }

    /// Stops offering these keys: they were refused.
    pub(crate) fn forget(&self, keys: &NewKeys) {
        let Some(tenant) = keys.tenant else {
            return;
        };
        let mut entries = self.entries.lock();
        for row in &keys.rows {
            let key = (tenant, row.subject_ref.clone());
            // Only our key: a later one for the same subject is someone else's to settle.
            if entries
                .pending
                .get(&key)
                .is_some_and(|p| p.row.key_id == row.key_id)
            {
                entries.pending.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyMaterial;

    fn row(subject_ref: &str) -> PendingRow {
        PendingRow {
            key_id: DataKeyId::new(),
            subject_ref: subject_ref.to_owned(),
            subject_hash: subject_ref.to_owned(),
            period_end: None,
            tenant_key_id: TenantKeyId::new(),
            wrapped_key: Vec::new(),
            created_at: Utc::now(),
            cipher: Arc::new(Cipher::new(&KeyMaterial::generate().unwrap())),
        }
    }

    #[test]
    fn a_stored_key_is_still_offered_for_a_moment_and_never_once_shredded() {
        let pending = PendingKeys::default();
        let tenant = TenantId::new();
        let first = pending.offer(tenant, row("subject"));
        let raced = pending.offer(tenant, row("subject"));
        assert_eq!(
            raced.key_id, first.key_id,
            "a racing request gets the same key"
        );

        // Stored; a request that looked in the database just before the commit, and so
        // made a key of its own, is still given the stored one.
        pending.stored(&NewKeys::new(tenant, vec![first.clone()]));
        let late = pending.offer(tenant, row("subject"));
        assert_eq!(late.key_id, first.key_id);
        assert_eq!(
            pending.get(tenant, "subject").map(|r| r.key_id),
            Some(first.key_id)
        );

        // Shredded: never offered again; the next request makes a new key.
        pending.shredded(tenant, &[first.key_id]);
        assert!(pending.get(tenant, "subject").is_none());
        let next = pending.offer(tenant, row("subject"));
        assert_ne!(next.key_id, first.key_id);

        // Refused: forgotten at once.
        pending.forget(&NewKeys::new(tenant, vec![next.clone()]));
        assert!(pending.get(tenant, "subject").is_none());
    }
}
