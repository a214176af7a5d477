//! The envelope every stored payload is sealed in (`version || nonce || ciphertext+tag`):
//! opening any bytes fails cleanly, and a sealed payload with any one byte changed, or
//! opened under other associated data, never opens.
#![no_main]

use cdp_keyring::KeyMaterial;
use cdp_keyring::fuzzing::{open, seal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = KeyMaterial::from_bytes([7; 32]);
    // No bytes open without the tag only the key can make.
    assert!(open(&key, b"tenant|event|key", data).is_err());
    let sealed = seal(&key, b"tenant|event|key", data).expect("seal");
    assert_eq!(
        open(&key, b"tenant|event|key", &sealed)
            .expect("open")
            .as_slice(),
        data
    );
    assert!(open(&key, b"tenant|event|other", &sealed).is_err());
    if let Some(&first) = data.first() {
        let mut altered = sealed.clone();
        let at = usize::from(first) % altered.len();
        altered[at] ^= 1 << (first % 8);
        assert!(
            open(&key, b"tenant|event|key", &altered).is_err(),
            "byte {at} altered"
        );
    }
});
