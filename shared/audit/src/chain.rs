//! The hash chain: each entry's hash covers the previous hash and every field of the entry.

use cdp_storage::DatabaseConnection;
use chrono::SecondsFormat;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::{self, Row};
use crate::{AuditError, Chain};

/// The hash that stands before the first entry of every chain.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields a hash covers, in a fixed order.
#[derive(Serialize)]
struct Hashed<'a> {
    chain: String,
    seq: i64,
    id: String,
    at: String,
    actor_kind: &'a str,
    actor_id: Option<&'a str>,
    actor_role: Option<&'a str>,
    action: &'a str,
    target_kind: Option<&'a str>,
    target_id: Option<&'a str>,
    source_ip: Option<&'a str>,
    outcome: &'a str,
    details: &'a str,
}

pub(crate) fn hash(row: &Row) -> String {
    let hashed = Hashed {
        chain: row.tenant_id.to_string(),
        seq: row.seq,
        id: row.id.to_string(),
        at: row.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor_kind: &row.actor_kind,
        actor_id: row.actor_id.as_deref(),
        actor_role: row.actor_role.as_deref(),
        action: &row.action,
        target_kind: row.target_kind.as_deref(),
        target_id: row.target_id.as_deref(),
        source_ip: row.source_ip.as_deref(),
        outcome: &row.outcome,
        details: &row.details,
    };
    let mut digest = Sha256::new();
    digest.update(row.prev_hash.as_bytes());
    digest.update(b"\n");
    digest.update(serde_json::to_vec(&hashed).expect("plain fields serialize"));
    hex::encode(digest.finalize())
}

/// The first link that does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub valid: bool,
    pub entries: u64,
    pub first_broken: Option<BrokenLink>,
}

/// Recomputes the chain from its start and reports the first broken link: a gap in the
/// numbering, an entry whose `prev_hash` is not its predecessor's hash, or an entry whose
/// hash does not match its content.
pub async fn verify(db: &DatabaseConnection, chain: Chain) -> Result<Verification, AuditError> {
    let mut previous = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut entries = 0;
    loop {
        let rows = store::rows_after(db, chain, expected_seq - 1, 1000).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let broken = |reason: &str| Verification {
                valid: false,
                entries,
                first_broken: Some(BrokenLink {
                    seq: if reason.starts_with("missing") {
                        expected_seq
                    } else {
                        row.seq
                    },
                    reason: reason.to_owned(),
                }),
            };
            if row.seq != expected_seq {
                return Ok(broken("missing entry: the numbering has a gap"));
            }
            if row.prev_hash != previous {
                return Ok(broken(
                    "prev_hash does not match the hash of the entry before",
                ));
            }
            if hash(&row) != row.hash {
                return Ok(broken("the entry's content does not match its hash"));
            }
            previous = row.hash;
            expected_seq += 1;
            entries += 1;
        }
    }
    // The head records the last entry: entries cut off the end of the chain are missing.
    if let Some((last_seq, last_hash)) = store::head_of(db, chain).await?
        && (last_seq != expected_seq - 1 || last_hash != previous)
    {
        return Ok(Verification {
            valid: false,
            entries,
            first_broken: Some(BrokenLink {
                seq: expected_seq,
                reason: format!("missing entry: the chain's head records {last_seq} entries"),
            }),
        });
    }
    Ok(Verification {
        valid: true,
        entries,
        first_broken: None,
    })
}
