//! The segment language: any text parses or fails with a position inside the text, and
//! what parses prints back to text that parses to the same condition. The JSON form of a
//! condition is read from the same bytes when they are JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = cdp_segments::from_json(&value);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match cdp_segments::parse(text) {
        Ok(condition) => {
            let printed = cdp_segments::to_text(&condition);
            let again = cdp_segments::parse(&printed)
                .unwrap_or_else(|e| panic!("{printed:?} does not parse: {e:?}"));
            assert_eq!(again, condition, "{printed:?} parses to something else");
        }
        Err(e) => {
            let shown = format!("{e}");
            assert!(!shown.is_empty());
        }
    }
});
