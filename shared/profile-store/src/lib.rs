//! Where profiles are kept. Every row carries its tenant and a generation: reads use the
//! tenant's active generation while a rebuild fills the next one.

mod audience;
mod definitions;
mod entities;
mod erase;
mod error;
mod lease;
mod purge;
mod read;
mod reconcile;
mod rules;
mod selection;
mod state;
mod write;

pub use audience::{
    AudienceWrite, ComputedRow, MembershipChange, computed_rows, due_profiles, event_owners,
    latest_keys, live_profiles, members, memberships, profile_page, segment_size, segments_of,
    size_history, tenants_with_audience_work, write_audience,
};
pub use definitions::{
    ComputedTraitRow, Definitions, SegmentRow, backfill_again_since, computed_traits, definitions,
    delete_computed_trait, delete_segment, insert_segment, put_computed_trait, record_backfill,
    segment_by_id, segments, update_segment,
};
pub use erase::{
    ErasedProfiles, ErasurePurgeStep, erase_profiles, erasure_purge_pending, purge_erasure_step,
};
pub use error::StoreError;
pub use lease::{acquire_lease, hold_lease, release_lease};
pub use purge::{PURGE_CHUNK, PurgeStatus, PurgeStep, purge_status, purge_step};
pub use read::{
    ConsentTally, Parts, ProfileView, SearchCondition, SearchOp, TimelineFilter, TimelineRow,
    consent_tallies, find_by_identity, find_profile, load_for, profile_identities, profile_parts,
    profiles_by_id, search, timeline,
};
pub use reconcile::{member_page, record_reconcile};
pub use rules::{identity_rules, set_identity_rules};
pub use selection::Selection;
pub use state::{
    GenerationMetric, GenerationState, KeptAggregations, Status, active_generation, advance,
    clear_failure, ensure_active, forget_tenant, generation_metrics, generations, lagging_tenants,
    record_failure, refresh_statistics, set_kept_aggregations, start_rebuild, switch_over,
};
pub use write::write_batch;
