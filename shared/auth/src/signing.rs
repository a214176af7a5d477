//! Keys that sign access tokens (HMAC-SHA256), stored wrapped by the master key.
//!
//! The newest key signs. Each older key keeps verifying until the key after it is older
//! than an access token's lifetime (plus a margin), so rotating the key logs nobody out:
//! tokens already issued stay valid until they expire on their own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cdp_keyring::Keyring;
use cdp_storage::DatabaseConnection;
use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, QueryOrder};
use tokio::sync::RwLock;
use zeroize::Zeroizing;

use crate::AuthError;

const PURPOSE: &str = "access-token-signing-key";
/// How long the cache of keys is trusted before it is read again.
const RELOAD_AFTER: Duration = Duration::from_secs(60);

mod row {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub master_key_id: String,
        pub wrapped_secret: Vec<u8>,
        pub created_at: ChronoDateTimeUtc,
        pub retired_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl std::fmt::Debug for Model {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("signing_key::Model")
                .field("kid", &self.kid)
                .finish_non_exhaustive()
        }
    }
}

pub(crate) struct SigningKey {
    pub kid: String,
    pub secret: Zeroizing<Vec<u8>>,
}

struct Loaded {
    at: Instant,
    /// Newest first; only keys that still verify.
    keys: Vec<Arc<SigningKey>>,
}

pub(crate) struct SigningKeys {
    db: DatabaseConnection,
    keyring: Keyring,
    /// How long after being superseded a key still verifies.
    grace: chrono::TimeDelta,
    loaded: RwLock<Option<Loaded>>,
}

impl SigningKeys {
    pub(crate) fn new(db: DatabaseConnection, keyring: Keyring, grace: chrono::TimeDelta) -> Self {
        Self {
            db,
            keyring,
            grace,
            loaded: RwLock::new(None),
        }
    }

    /// The key that signs new tokens; the first one is created on first use.
    pub(crate) async fn signing_key(&self) -> Result<Arc<SigningKey>, AuthError> {
        if let Some(key) = self.cached(|keys| keys.first().cloned()).await {
            return Ok(key);
        }
        let keys = self.reload().await?;
        if let Some(key) = keys.first() {
            return Ok(key.clone());
        }
        self.rotate().await?;
        self.reload()
            .await?
            .first()
            .cloned()
            .ok_or(AuthError::NotAllowed("no signing key could be created"))
    }

    /// A key that may verify a token with this `kid`.
    pub(crate) async fn verifying_key(
        &self,
        kid: &str,
    ) -> Result<Option<Arc<SigningKey>>, AuthError> {
        if let Some(key) = self
            .cached(|keys| keys.iter().find(|k| k.kid == kid).cloned())
            .await
        {
            return Ok(Some(key));
        }
        // An unknown kid may be a key another process just created: look once more, but
        // not more often than once a second, whatever kids are thrown at us.
        let fresh_enough = self
            .loaded
            .read()
            .await
            .as_ref()
            .is_some_and(|l| l.at.elapsed() < Duration::from_secs(1));
        if fresh_enough {
            return Ok(None);
        }
        Ok(self.reload().await?.into_iter().find(|k| k.kid == kid))
    }

    /// Creates a new signing key; tokens signed by the previous ones stay valid.
    pub(crate) async fn rotate(&self) -> Result<String, AuthError> {
        let kid = format!("k_{}", Uuid::now_v7().simple());
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(&mut secret).map_err(|_| AuthError::NotAllowed("no randomness"))?;
        let wrapped = self
            .keyring
            .seal_platform_secret(PURPOSE, &kid, &secret)
            .map_err(AuthError::unavailable)?;
        row::Entity::insert(row::ActiveModel {
            kid: Set(kid.clone()),
            master_key_id: Set(self.keyring.master_key_id().to_owned()),
            wrapped_secret: Set(wrapped),
            created_at: Set(Utc::now()),
            retired_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(AuthError::unavailable)?;
        *self.loaded.write().await = None;
        Ok(kid)
    }

    async fn cached<T>(&self, pick: impl Fn(&[Arc<SigningKey>]) -> Option<T>) -> Option<T> {
        let loaded = self.loaded.read().await;
        let loaded = loaded.as_ref().filter(|l| l.at.elapsed() < RELOAD_AFTER)?;
        pick(&loaded.keys)
    }

    async fn reload(&self) -> Result<Vec<Arc<SigningKey>>, AuthError> {
        let rows = row::Entity::find()
            .filter(row::Column::RetiredAt.is_null())
            .order_by_desc(row::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(AuthError::unavailable)?;
        let now = Utc::now();
        let mut keys = Vec::new();
        let mut superseded_at: Option<DateTime<Utc>> = None;
        for row in rows {
            let still_verifies = superseded_at.is_none_or(|at| now - at < self.grace);
            if still_verifies && self.keyring.knows_master_key(&row.master_key_id) {
                let secret = self
                    .keyring
                    .open_platform_secret(
                        PURPOSE,
                        &row.kid,
                        &row.master_key_id,
                        &row.wrapped_secret,
                    )
                    .map_err(AuthError::unavailable)?;
                keys.push(Arc::new(SigningKey {
                    kid: row.kid,
                    secret,
                }));
            }
            superseded_at = Some(row.created_at);
        }
        *self.loaded.write().await = Some(Loaded {
            at: Instant::now(),
            keys: keys.clone(),
        });
        Ok(keys)
    }
}

/// Seals every signing key held under a previous master key under the current one (part
/// of a master key rotation). Returns how many were resealed.
pub async fn reseal_signing_keys(
    db: &DatabaseConnection,
    keyring: &Keyring,
) -> Result<u64, AuthError> {
    let rows = row::Entity::find()
        .filter(row::Column::MasterKeyId.ne(keyring.master_key_id()))
        .all(db)
        .await
        .map_err(AuthError::unavailable)?;
    let mut resealed = 0;
    for row in rows {
        if !keyring.knows_master_key(&row.master_key_id) {
            continue;
        }
        let again = keyring
            .reseal_platform_secret(PURPOSE, &row.kid, &row.master_key_id, &row.wrapped_secret)
            .map_err(AuthError::unavailable)?;
        let done = row::Entity::update_many()
            .col_expr(row::Column::WrappedSecret, Expr::value(again))
            .col_expr(
                row::Column::MasterKeyId,
                Expr::value(keyring.master_key_id()),
            )
            .filter(row::Column::Kid.eq(row.kid.clone()))
            .filter(row::Column::MasterKeyId.eq(row.master_key_id.clone()))
            .exec(db)
            .await
            .map_err(AuthError::unavailable)?;
        resealed += done.rows_affected;
    }
    Ok(resealed)
}
