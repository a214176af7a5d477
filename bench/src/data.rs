//! Realistic e-commerce and web events from a fixed seed: page and product views, cart
//! changes, checkouts, orders with line items, identifies with traits, and anonymous
//! visitors who later log in. About 300 bytes each.

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

/// One event for visitor `visitor`, of a kind drawn from a realistic mix.
pub fn event(rng: &mut Rng, visitor: u64) -> Value {
    let anonymous_id = format!("anon-{visitor:08x}");
    let user_id = format!("user-{visitor}");
    let known = visitor.is_multiple_of(3);
    let (sku, name, price) = PRODUCTS[rng.below(PRODUCTS.len() as u64) as usize];
    let context = json!({"ip": format!("203.0.113.{}", visitor % 250), "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "locale": "en-US"});
    let mut event = match rng.below(100) {
        0..=39 => {
            json!({"type": "page", "name": "Product", "properties": {"path": format!("/p/{sku}"), "referrer": "https://search.example/", "title": name}})
        }
        40..=69 => {
            json!({"type": "track", "event": "Product Viewed", "properties": {"product_id": sku, "name": name, "price": price, "currency": "USD"}})
        }
        70..=82 => {
            json!({"type": "track", "event": "Product Added", "properties": {"product_id": sku, "price": price, "quantity": 1 + rng.below(3), "cart_id": format!("cart-{visitor}")}})
        }
        83..=89 => {
            json!({"type": "track", "event": "Checkout Started", "properties": {"cart_id": format!("cart-{visitor}"), "value": price, "currency": "USD"}})
        }
        90..=95 => {
            json!({"type": "track", "event": "Order Completed", "properties": {"order_id": format!("ord-{}", rng.next() % 1_000_000), "total": price, "currency": "USD", "products": [{"product_id": sku, "price": price, "quantity": 1}]}})
        }
        _ => {
            json!({"type": "identify", "traits": {"email": format!("user{visitor}@example.com"), "plan": "free", "first_name": "Sam"}})
        }
    };
    let fields = event.as_object_mut().expect("events are objects");
    fields.insert("anonymousId".into(), json!(anonymous_id));
    if known || fields["type"] == "identify" {
        fields.insert("userId".into(), json!(user_id));
    }
    fields.insert("context".into(), context);
    event
}

/// `count` request bodies of `batch` events each; message ids are left to the server, so
/// replaying a body stores it again.
pub fn batches(seed: u64, batch: usize, count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let events: Vec<Value> = (0..batch)
                .map(|_| {
                    let visitor = rng.below(100_000);
                    event(&mut rng, visitor)
                })
                .collect();
            serde_json::to_vec(&json!({"batch": events})).expect("JSON serializes")
        })
        .collect()
}
