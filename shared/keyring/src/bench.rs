//! A switch that exists only in the benchmark build (feature `bench`): with
//! `BENCH_NOOP_CIPHER` set, event payloads are stored in an envelope of the sealed size
//! without being encrypted, so the benchmark can tell what encryption costs ingestion.
//! Such payloads cannot be opened; the switch is for measuring ingestion alone.

use std::sync::LazyLock;

use crate::cipher::SEALED_OVERHEAD;

static NOOP_CIPHER: LazyLock<bool> =
    LazyLock::new(|| std::env::var_os("BENCH_NOOP_CIPHER").is_some());

pub(crate) fn noop_cipher() -> bool {
    *NOOP_CIPHER
}

/// The plaintext in an envelope of the size a sealed payload has.
pub(crate) fn unsealed(plaintext: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; plaintext.len() + SEALED_OVERHEAD];
    out[13..13 + plaintext.len()].copy_from_slice(plaintext);
    out
}
