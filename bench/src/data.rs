//! Realistic e-commerce and web events from a fixed seed: page and product views, cart
//! changes, checkouts, orders with line items, identifies with traits, and anonymous
//! visitors who log in part-way through a visit. Visits interleave as they do in a real
//! stream. About 300 bytes each.

use serde_json::{Value, json};

/// A small, seedable generator (SplitMix64): the same seed gives the same events.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const PRODUCTS: [(&str, &str, f64); 6] = [
    ("SKU-1001", "Trail Running Shoe", 129.0),
    ("SKU-1002", "Merino Base Layer", 79.5),
    ("SKU-1003", "Insulated Bottle", 34.0),
    ("SKU-1004", "Headlamp 400lm", 49.99),
    ("SKU-1005", "Rain Shell", 219.0),
    ("SKU-1006", "Wool Socks (3 pack)", 24.0),
];

/// Visitors of the shop: a third of them have accounts and log in during a visit.
pub const VISITORS: u64 = 100_000;

/// Visits going on at once: events of one visit are spread among the others', as they
/// are in a real stream.
const CONCURRENT_VISITS: usize = 2_000;

/// Request bodies per load: about 20 MB of events, so that a run of a few seconds sends
/// most of them once rather than the same few again and again.
pub const BODIES: usize = 2_000;

/// One visit: a visitor browsing products, perhaps logging in, adding to the cart,
/// checking out and ordering.
struct Visit {
    visitor: u64,
    events_left: u32,
    logged_in: bool,
    cart: bool,
    checkout: bool,
}

impl Visit {
    fn new(rng: &mut Rng, visitors: u64) -> Visit {
        Visit {
            visitor: rng.below(visitors),
            events_left: 3 + rng.below(18) as u32,
            logged_in: false,
            cart: false,
            checkout: false,
        }
    }
}

/// A stream of e-commerce and web traffic from a fixed seed: many visits at once, each a
/// few to twenty events long, from a population of `visitors`.
pub struct Traffic {
    rng: Rng,
    visitors: u64,
    visits: Vec<Visit>,
}

impl Traffic {
    pub fn new(seed: u64, visitors: u64) -> Traffic {
        let mut rng = Rng::new(seed);
        let visits = (0..CONCURRENT_VISITS)
            .map(|_| Visit::new(&mut rng, visitors))
            .collect();
        Traffic {
            rng,
            visitors,
            visits,
        }
    }

    pub fn next_event(&mut self) -> Value {
        let i = self.rng.below(self.visits.len() as u64) as usize;
        let visit = &mut self.visits[i];
        let event = visit_event(&mut self.rng, visit);
        visit.events_left -= 1;
        if visit.events_left == 0 {
            *visit = Visit::new(&mut self.rng, self.visitors);
        }
        event
    }
}

/// The next event of a visit, from a realistic mix.
fn visit_event(rng: &mut Rng, visit: &mut Visit) -> Value {
    let visitor = visit.visitor;
    let has_account = visitor.is_multiple_of(3);
    let (sku, name, price) = PRODUCTS[rng.below(PRODUCTS.len() as u64) as usize];
    let roll = rng.below(100);
    let mut event = if has_account && !visit.logged_in && roll < 25 {
        // The anonymous visitor logs in: from here on the events carry the user id.
        visit.logged_in = true;
        json!({"type": "identify", "traits": {"email": format!("user{visitor}@example.com"), "plan": "free", "first_name": "Sam"}})
    } else if visit.checkout && roll < 60 {
        visit.checkout = false;
        visit.cart = false;
        json!({"type": "track", "event": "Order Completed", "properties": {"order_id": format!("ord-{}", rng.next() % 1_000_000), "total": price, "currency": "USD", "products": [{"product_id": sku, "price": price, "quantity": 1}]}})
    } else if visit.cart && roll < 30 {
        visit.checkout = true;
        json!({"type": "track", "event": "Checkout Started", "properties": {"cart_id": format!("cart-{visitor}"), "value": price, "currency": "USD"}})
    } else if roll < 20 {
        visit.cart = true;
        json!({"type": "track", "event": "Product Added", "properties": {"product_id": sku, "price": price, "quantity": 1 + rng.below(3), "cart_id": format!("cart-{visitor}")}})
    } else if roll < 60 {
        json!({"type": "page", "name": "Product", "properties": {"path": format!("/p/{sku}"), "referrer": "https://search.example/", "title": name}})
    } else {
        json!({"type": "track", "event": "Product Viewed", "properties": {"product_id": sku, "name": name, "price": price, "currency": "USD"}})
    };
    let fields = event.as_object_mut().expect("events are objects");
    fields.insert("anonymousId".into(), json!(format!("anon-{visitor:08x}")));
    if visit.logged_in {
        fields.insert("userId".into(), json!(format!("user-{visitor}")));
    }
    fields.insert(
        "context".into(),
        json!({"ip": format!("203.0.113.{}", visitor % 250), "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "locale": "en-US"}),
    );
    event
}

/// `count` request bodies of `batch` events each, from traffic of [`VISITORS`]; message
/// ids are left to the server, so replaying a body stores it again.
pub fn batches(seed: u64, batch: usize, count: usize) -> Vec<Vec<u8>> {
    let mut traffic = Traffic::new(seed, VISITORS);
    (0..count)
        .map(|_| {
            let events: Vec<Value> = (0..batch).map(|_| traffic.next_event()).collect();
            serde_json::to_vec(&json!({"batch": events})).expect("JSON serializes")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_is_repeatable_realistic_and_about_300_bytes_an_event() {
        let bodies = batches(1, 100, 200);
        assert_eq!(
            bodies,
            batches(1, 100, 200),
            "the same seed, the same events"
        );
        let events: Vec<Value> = bodies
            .iter()
            .flat_map(|b| {
                serde_json::from_slice::<Value>(b).unwrap()["batch"]
                    .as_array()
                    .unwrap()
                    .clone()
            })
            .collect();
        let bytes: usize = events
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap().len())
            .sum();
        let mean = bytes / events.len();
        assert!((250..=350).contains(&mean), "{mean} bytes an event");
        let kinds = |t: &str, name: Option<&str>| {
            events
                .iter()
                .filter(|e| e["type"] == t && name.is_none_or(|n| e["event"] == n))
                .count()
        };
        for (t, name) in [
            ("page", None),
            ("identify", None),
            ("track", Some("Product Viewed")),
            ("track", Some("Product Added")),
            ("track", Some("Checkout Started")),
            ("track", Some("Order Completed")),
        ] {
            assert!(kinds(t, name) > 0, "no {t} {name:?}");
        }
        // Visitors who logged in: their earlier events are anonymous only.
        let known = events.iter().filter(|e| e.get("userId").is_some()).count();
        assert!(known > 0 && known < events.len());
    }
}
