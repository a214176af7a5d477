//! A switch that exists only in the benchmark build (feature `bench`): with
//! `BENCH_NOOP_STORE` set, the group committer answers every event as stored without
//! touching the database, so the benchmark can tell what HTTP and validation cost alone.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, Ordering};

use cdp_domain::Seq;

use crate::Appended;

static NOOP_STORE: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("BENCH_NOOP_STORE").is_some());
static NEXT: AtomicI64 = AtomicI64::new(1);

pub(crate) fn noop_store() -> bool {
    *NOOP_STORE
}

/// Positions for `count` events, as if they had been appended.
pub(crate) fn pretend_appended(count: usize) -> Vec<Appended> {
    let first = NEXT.fetch_add(count as i64, Ordering::Relaxed);
    (first..first + count as i64)
        .map(|seq| Appended::New(Seq(seq)))
        .collect()
}
