//! The tracking API's parser and normalizer, on any body for any endpoint: an error is
//! fine, a panic is not, and what it accepts holds to the limits it promises.
#![no_main]

use cdp_domain::EventType;
use cdp_tracking::{Endpoint, limits, parse_and_normalize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let endpoint = match which % 7 {
        6 => Endpoint::Batch,
        n => Endpoint::Single(EventType::ALL[n as usize]),
    };
    let mut n = 0;
    let mut new_id = || {
        n += 1;
        format!("fuzz-{n}")
    };
    if let Ok((_, events)) = parse_and_normalize(endpoint, body, chrono::Utc::now(), &mut new_id) {
        assert!(events.len() <= limits::MAX_BATCH_EVENTS);
        assert!(body.len() >= events.len(), "events from nothing");
    }
});
