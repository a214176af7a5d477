//! End-to-end tests: the real `cdp` binary, started as a separate process in a fresh
//! directory, driven over HTTP and its command line. They use the storage the test run
//! uses (PostgreSQL when DATABASE_URL is set, SQLite otherwise) unless a test is about the
//! embedded default itself.

mod access;
mod cli;
mod consent;
mod console;
mod crash;
mod cross_tenant;
mod destinations;
mod disk_full;
mod erasure_scan;
mod faults;
mod helpers;
mod hostile;
mod ingest;
mod key_rotation;
mod lifecycle;
mod load;
mod privacy;
mod profiles;
mod receiver;
mod retention;
mod sdk;
mod secrets;
mod segments;
mod server;
mod sharing;
mod sources;
mod subject_access;
mod telemetry;
