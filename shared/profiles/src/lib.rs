//! Identity resolution and unified profiles, as pure functions of the event stream.
//!
//! Events are turned into [`Observation`]s (who, what, when); a [`WorkingSet`] of profiles
//! resolves each observation's identities to one profile under the tenant's
//! [`IdentityRules`] — creating, joining or merging profiles — and applies the event to it.
//! The same events in the same order give the same profiles, whatever the batches they
//! come in: that is what makes a rebuild equal to incremental processing.

mod aggregate;
pub mod compare;
mod observe;
mod profile;
mod rules;
mod working_set;

pub use aggregate::{
    AggKind, AggState, Aggregation, Aggregations, Entry, MAX_DISTINCT_VALUES, MAX_WINDOW_ENTRIES,
    PropertyFilter, property,
};
pub use observe::{CONSENT_EVENT_TYPE, Ident, Observation, identities_in, normalize, observe};
pub use profile::{Consent, EventCount, GroupLink, IdentitySeen, Profile, TraitValue};
pub use rules::{CustomType, IdentityRules, RulesError};
pub use working_set::{Merge, TimelineEntry, WorkingSet, profile_id_for};
