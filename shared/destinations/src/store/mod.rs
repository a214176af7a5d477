//! Where destinations, their secrets and their deliveries are kept. Every function takes
//! the tenant: another tenant's destination is never found.

mod definitions;
mod queue;

pub use definitions::{
    Destination, DestinationInput, SealedSecret, add_secret, delete_destination, destination,
    destinations, insert_destination, live_secrets, record_breaker, reseal_secrets,
    tenants_with_destinations, update_destination,
};
pub use queue::{
    Delivery, DeliveryUpdate, NewDelivery, add_skipped, advance_cursor, cancel_for_keys, claim,
    cursor, deliveries, delivery, due_destinations, forget_tenant, insert_deliveries,
    record_outcomes, replay, status_counts,
};

/// Counts as the database keeps them (`integer`), saturating rather than wrapping.
pub(crate) fn to_db(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

pub(crate) fn from_db(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}
