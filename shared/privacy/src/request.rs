//! What a data-subject request is, and the receipt of a completed erasure.

use cdp_domain::{DataKeyId, PrivacyRequestId};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Access,
    Erasure,
    Suppression,
    Unsuppression,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Erasure => "erasure",
            RequestKind::Suppression => "suppression",
            RequestKind::Unsuppression => "unsuppression",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RequestKind::Access,
            RequestKind::Erasure,
            RequestKind::Suppression,
            RequestKind::Unsuppression,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Received,
    InProgress,
    Completed,
    Failed,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Received => "received",
            RequestStatus::InProgress => "in_progress",
            RequestStatus::Completed => "completed",
            RequestStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RequestStatus::Received,
            RequestStatus::InProgress,
            RequestStatus::Completed,
            RequestStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Still to be done (and so can become overdue).
    pub fn is_open(self) -> bool {
        matches!(self, RequestStatus::Received | RequestStatus::InProgress)
    }
}

/// The law a request is made under, which sets its due date.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regulation {
    /// One month (Art. 12(3)); counted as 30 days.
    #[default]
    Gdpr,
    /// 45 days (Cal. Civ. Code § 1798.130).
    Ccpa,
}

impl Regulation {
    pub fn as_str(self) -> &'static str {
        match self {
            Regulation::Gdpr => "gdpr",
            Regulation::Ccpa => "ccpa",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Regulation::Gdpr, Regulation::Ccpa]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    pub fn due(self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        received_at
            + match self {
                Regulation::Gdpr => TimeDelta::days(30),
                Regulation::Ccpa => TimeDelta::days(45),
            }
    }
}

/// What was destroyed and when: the evidence a compliance officer keeps. It names keys
/// and counts, never the person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The data keys destroyed: every event they sealed is unreadable from then on.
    pub keys_shredded: Vec<DataKeyId>,
    /// Identities removed from the projections (with the subject's own).
    pub identities_erased: u64,
    /// Profiles removed, counted once per projection generation.
    pub profiles_erased: u64,
    /// Identities put on the suppression list (none if the request said not to).
    #[serde(default)]
    pub identities_suppressed: u64,
    /// The log position of the erasure order, after which nothing before it is readable.
    pub log_seq: i64,
    /// When the keys were destroyed and the profile removed.
    pub erased_at: DateTime<Utc>,
    /// The audit entry that recorded it (its position and hash in the tenant's chain).
    pub audit_seq: i64,
    pub audit_hash: String,
    /// When the last timeline rows were gone as well.
    pub completed_at: Option<DateTime<Utc>>,
    /// Set when another erasure destroyed this request's subject first (the same person,
    /// named twice before the first was carried out): that request's receipt holds the
    /// keys, this one its own log position and the audit entry of the erasure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<PrivacyRequestId>,
}

/// A request as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PrivacyRequest {
    pub id: PrivacyRequestId,
    #[serde(rename = "type")]
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub subject_type: String,
    pub regulation: Regulation,
    pub received_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Open past its due date.
    pub overdue: bool,
    pub requested_by: Option<String>,
    pub erased_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub failure: Option<String>,
    pub receipt: Option<Receipt>,
    /// An access request's export, to download (streamed JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_url: Option<String>,
    /// Where the request's event sits in the log (an erasure order, an access record).
    #[serde(skip)]
    pub log_seq: Option<i64>,
}

/// Which requests a list shows, newest first.
#[derive(Clone, Debug, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestKind>,
    /// Only open requests past their due date.
    pub overdue: bool,
    /// Requests received before this one (the cursor of the next page).
    pub before: Option<PrivacyRequestId>,
    pub limit: u64,
}
