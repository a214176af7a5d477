//! Schema migrations, applied by `cdp migrate` and at the start of `cdp serve`.
//!
//! Every primary and unique key of tenant-owned data leads with `tenant_id`, so the tables
//! can later be distributed by tenant on Citus without changing a key.

pub use sea_orm_migration::prelude::*;

mod append_only;
mod m20261128_000001_foundation;
mod m20261129_000002_ingestion;
mod m20261129_000003_access;
mod m20261129_000004_profiles;
mod m20261202_000005_privacy;
mod m20261202_000006_suppressions;
mod m20261202_000007_key_watch;
mod m20261202_000008_retention;
mod m20261203_000009_audiences;
mod m20261204_000010_reconcile;
mod m20261205_000011_destinations;
mod m20261206_000012_event_volume;
mod m20261206_000013_source_rejections;

/// The event log counted per tenant, source and hour (what the volume table's backfill
/// inserts), for tests to hold the table against.
pub use m20261206_000012_event_volume::counts_from_log;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_foundation::Migration),
            Box::new(m20261129_000002_ingestion::Migration),
            Box::new(m20261129_000003_access::Migration),
            Box::new(m20261129_000004_profiles::Migration),
            Box::new(m20261202_000005_privacy::Migration),
            Box::new(m20261202_000006_suppressions::Migration),
            Box::new(m20261202_000007_key_watch::Migration),
            Box::new(m20261202_000008_retention::Migration),
            Box::new(m20261203_000009_audiences::Migration),
            Box::new(m20261204_000010_reconcile::Migration),
            Box::new(m20261205_000011_destinations::Migration),
            Box::new(m20261206_000012_event_volume::Migration),
            Box::new(m20261206_000013_source_rejections::Migration),
        ]
    }
}
