//! Webhook sources: any mapping a tenant could configure, applied to any payload a third
//! party could send. The bytes before the first 0xff are the mapping's JSON, the rest the
//! body. An invalid mapping or body is an error, never a panic, and every event made is
//! then normalized like any tracked event.
#![no_main]

use cdp_tracking::{WebhookMapping, normalize, webhook_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (config, body) = match data.iter().position(|b| *b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"{\"preset\": \"ecommerce_order\"}"[..], data),
    };
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(config) else {
        return;
    };
    let Ok(mapping) = WebhookMapping::from_json(&config) else {
        return;
    };
    if let Ok(request) = webhook_request(&mapping, body) {
        let mut n = 0;
        let _ = normalize(request, chrono::Utc::now(), &mut || {
            n += 1;
            format!("fuzz-{n}")
        });
    }
});
