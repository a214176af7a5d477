//! Data-subject requests (GDPR, CCPA): what was asked, by whom, by when it is due, and
//! what was done. The subject's identity is never stored with the request: it travels in
//! the tenant's log as a [`RequestEvent`], sealed under the subject's own data key, so
//! carrying out the erasure also makes the order unreadable.

mod consent;
mod error;
mod order;
mod request;
mod store;
mod suppression;

pub use consent::ConsentRecord;
pub use error::PrivacyError;
pub use order::{ACCESS_EVENT_TYPE, ERASURE_EVENT_TYPE, OrderSubject, RequestEvent};
pub use request::{PrivacyRequest, Receipt, Regulation, RequestFilter, RequestKind, RequestStatus};
pub use store::{
    OpenRecord, erasures_in_progress, get, insert, list, mark_completed, mark_done, mark_erased,
    mark_failed, open_records, set_log_seq,
};
pub use suppression::{
    SUPPRESSION_TTL, SuppressionCache, is_suppressed, suppress, suppressions_changed, unsuppress,
};
