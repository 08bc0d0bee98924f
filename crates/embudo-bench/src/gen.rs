//! Realistic Segment `track` messages, as a shop's analytics.js would send them.
//!
//! Every message is a pure function of its sequence number `n` (and the seed), so that
//! concurrent clients can share one counter and never repeat a `messageId`, and so that the
//! `limit` benchmark can write exactly the rows the HTTP benchmarks make the server write.
//!
//! The mix: a few hundred visitors (a quarter of them logged in, so their messages carry a
//! `userId` as well as an `anonymousId`), each with a stable device, locale, location and
//! campaign; e-commerce events (product views dominate, about 1 % are `Order Completed` with an
//! order id and product lines, which create orders); a context with library, page (URL with
//! UTM parameters), user agent, device, campaign, IP, location, screen and time zone. Message
//! ids are random UUIDs, like those of Segment's libraries, so every insert lands somewhere
//! else in the unique index. Typical size: 0.8–1.3 KB per message.

use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write;

/// SplitMix64's finalizer: a cheap bijective scramble, so ids and choices look random but are
/// reproducible.
pub fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn write_uuid(out: &mut String, a: u64, b: u64) {
    // Version 4, variant 1, like uuid4() in Segment's libraries.
    let _ = write!(
        out,
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    );
}

struct Campaign {
    source: &'static str,
    medium: &'static str,
    name: &'static str,
}

const CAMPAIGNS: [Option<Campaign>; 5] = [
    None,
    None,
    Some(Campaign {
        source: "google",
        medium: "cpc",
        name: "spring-sale",
    }),
    Some(Campaign {
        source: "newsletter",
        medium: "email",
        name: "weekly-2026-14",
    }),
    Some(Campaign {
        source: "instagram",
        medium: "social",
        name: "creator-collab",
    }),
];

const DEVICES: [(&str, &str, u32, u32); 4] = [
    ("mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", 390, 844),
    ("mobile", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36", 412, 915),
    ("desktop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", 1920, 1080),
    ("tablet", "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", 820, 1180),
];

const PLACES: [(&str, &str, &str, &str); 6] = [
    ("de-DE", "DE", "Berlin", "Europe/Berlin"),
    ("es-ES", "ES", "Madrid", "Europe/Madrid"),
    ("en-GB", "GB", "London", "Europe/London"),
    ("fr-FR", "FR", "Lyon", "Europe/Paris"),
    ("nl-NL", "NL", "Utrecht", "Europe/Amsterdam"),
    ("es-MX", "MX", "Guadalajara", "America/Mexico_City"),
];

const REFERRERS: [&str; 4] = [
    "https://www.google.com/",
    "https://www.instagram.com/",
    "",
    "https://duckduckgo.com/",
];

const CATEGORIES: [&str; 6] = [
    "Apparel/Shirts",
    "Apparel/Dresses",
    "Home/Kitchen",
    "Home/Lighting",
    "Beauty/Skincare",
    "Outdoor/Camping",
];
const BRANDS: [&str; 5] = ["Nordfjell", "Casa Lumen", "Verdant", "Atelier Sur", "Brisa"];
const ADJECTIVES: [&str; 8] = [
    "Linen",
    "Organic",
    "Vintage",
    "Classic",
    "Recycled",
    "Hand-made",
    "Compact",
    "Oversized",
];
const NOUNS: [&str; 8] = [
    "Shirt", "Dress", "Teapot", "Lamp", "Serum", "Tent", "Blanket", "Mug",
];
const SEARCHES: [&str; 6] = [
    "linen shirt",
    "gift for mum",
    "lamp",
    "camping tent 2 person",
    "vitamin c serum",
    "blue dress",
];

struct Visitor {
    anonymous_id: String,
    user_id: Option<String>,
    device: usize,
    place: usize,
    campaign: usize,
    referrer: usize,
    ip: String,
}

struct Product {
    id: String,
    name: String,
    category: &'static str,
    brand: &'static str,
    cents: u64,
}

/// Makes messages; cheap to share between client tasks (read-only).
pub struct Generator {
    seed: u64,
    visitors: Vec<Visitor>,
    products: Vec<Product>,
    start: DateTime<Utc>,
}

impl Generator {
    /// The logged-in visitors become the customers of a generated shop (`embudo generate`,
    /// whose customer ids are `C100001`, `C100002`…), so that their messages add to existing
    /// histories.
    pub fn shop_user_ids(mut self) -> Self {
        for (v, visitor) in self.visitors.iter_mut().enumerate() {
            if visitor.user_id.is_some() {
                visitor.user_id = Some(format!("C{:06}", 100_001 + v));
            }
        }
        self
    }

    /// A generator over `visitors` visitors (`identified_percent` of them logged in) and
    /// `products` products. Message times start a week before now and advance 1 ms per
    /// message, so they are never "in the future" for the server (which refuses timestamps
    /// more than 24 h ahead).
    pub fn new(seed: u64, visitors: usize, identified_percent: u64, products: usize) -> Self {
        let visitors = visitors.max(1);
        let visitors = (0..visitors as u64)
            .map(|v| {
                let h = splitmix64(seed ^ 0xA11CE ^ (v << 20));
                let mut anonymous_id = String::with_capacity(36);
                write_uuid(&mut anonymous_id, h, splitmix64(h));
                Visitor {
                    anonymous_id,
                    // Logged-in visitors' messages carry both ids, which links visitor and customer.
                    user_id: ((v * 100 / visitors as u64) < identified_percent)
                        .then(|| format!("cust-{:06}", 100_000 + v)),
                    device: (h % DEVICES.len() as u64) as usize,
                    place: ((h >> 8) % PLACES.len() as u64) as usize,
                    campaign: ((h >> 16) % CAMPAIGNS.len() as u64) as usize,
                    referrer: ((h >> 24) % REFERRERS.len() as u64) as usize,
                    ip: format!("198.51.{}.{}", (h >> 32) % 256, (h >> 40) % 254 + 1),
                }
            })
            .collect();
        let products = (0..products.max(1) as u64)
            .map(|p| {
                let h = splitmix64(seed ^ 0xB0B ^ (p << 24));
                Product {
                    id: format!("SKU-{:05}", p),
                    name: format!(
                        "{} {}",
                        ADJECTIVES[(h % 8) as usize],
                        NOUNS[((h >> 4) % 8) as usize]
                    ),
                    category: CATEGORIES[((h >> 8) % CATEGORIES.len() as u64) as usize],
                    brand: BRANDS[((h >> 16) % BRANDS.len() as u64) as usize],
                    // 4.95 to 149.95, ending in .95 like shop prices do.
                    cents: ((h >> 24) % 146 + 4) * 100 + 95,
                }
            })
            .collect();
        Self {
            seed,
            visitors,
            products,
            start: Utc::now() - chrono::Duration::days(7),
        }
    }

    fn product(&self, h: u64) -> &Product {
        &self.products[(h % self.products.len() as u64) as usize]
    }

    /// Appends message `n` as JSON to `out`.
    pub fn message(&self, n: u64, out: &mut String) {
        let h = splitmix64(self.seed ^ n);
        let h2 = splitmix64(h);
        let visitor = &self.visitors[(h2 % self.visitors.len() as u64) as usize];
        let product = self.product(h >> 7);
        let (device, user_agent, width, height) = DEVICES[visitor.device];
        let (locale, country, city, timezone) = PLACES[visitor.place];

        out.push_str("{\"type\":\"track\",\"messageId\":\"");
        write_uuid(out, h, h2);
        out.push_str("\",\"anonymousId\":\"");
        out.push_str(&visitor.anonymous_id);
        out.push('"');
        if let Some(user) = &visitor.user_id {
            out.push_str(",\"userId\":\"");
            out.push_str(user);
            out.push('"');
        }
        let kind = h % 100;
        let (event, path) = match kind {
            0..=34 => ("Product Viewed", "product"),
            35..=49 => ("Product List Viewed", "category"),
            50..=57 => ("Products Searched", "search"),
            58..=69 => ("Product Clicked", "category"),
            70..=79 => ("Product Added", "product"),
            80..=83 => ("Product Removed", "cart"),
            84..=89 => ("Cart Viewed", "cart"),
            90..=94 => ("Checkout Started", "checkout"),
            95..=96 => ("Promotion Viewed", "home"),
            97 => ("Coupon Applied", "checkout"),
            98 => ("Payment Info Entered", "checkout"),
            _ => ("Order Completed", "checkout"),
        };
        let _ = write!(out, ",\"event\":\"{event}\",\"properties\":{{");
        let cart = splitmix64(h2 ^ 0xCA27) % 100_000;
        match kind {
            0..=34 | 58..=83 => {
                product_fields(out, product);
                if (70..=83).contains(&kind) {
                    let _ = write!(
                        out,
                        ",\"quantity\":{},\"cart_id\":\"cart-{cart:05}\"",
                        1 + (h >> 40) % 3
                    );
                } else if kind >= 58 {
                    let _ = write!(
                        out,
                        ",\"position\":{},\"list_id\":\"{}\"",
                        1 + (h >> 40) % 24,
                        product.category
                    );
                }
            }
            35..=49 => {
                let _ = write!(
                    out,
                    "\"list_id\":\"{}\",\"category\":\"{}\",\"products\":[",
                    product.category, product.category
                );
                product_list(self, out, h, 4, false);
                out.push(']');
            }
            50..=57 => {
                let _ = write!(
                    out,
                    "\"query\":\"{}\"",
                    SEARCHES[((h >> 40) % SEARCHES.len() as u64) as usize]
                );
            }
            84..=94 => {
                let lines = 1 + (h >> 44) % 3;
                let value = self.order_value(h, lines);
                let _ = write!(out, "\"cart_id\":\"cart-{cart:05}\",\"value\":{},\"currency\":\"EUR\",\"products\":[", money(value));
                product_list(self, out, h, lines, true);
                out.push(']');
            }
            95..=96 => {
                let _ = write!(out, "\"promotion_id\":\"promo-{}\",\"name\":\"Spring sale\",\"creative\":\"banner-top\",\"position\":\"home_banner\"", h % 7);
            }
            97 => {
                let _ = write!(out, "\"cart_id\":\"cart-{cart:05}\",\"coupon_id\":\"SPRING10\",\"coupon_name\":\"10% off\",\"discount\":5.00");
            }
            98 => {
                let _ = write!(
                    out,
                    "\"checkout_id\":\"chk-{cart:05}\",\"step\":3,\"payment_method\":\"card\""
                );
            }
            _ => {
                // A real order: creates an order row with its lines (and links the visitor).
                let lines = 1 + (h >> 44) % 3;
                let merchandise = self.order_value(h, lines);
                let shipping = 495;
                let tax = merchandise * 19 / 119;
                let _ = write!(
                    out,
                    "\"order_id\":\"ord-{n}\",\"checkout_id\":\"chk-{cart:05}\",\"total\":{},\"revenue\":{},\"shipping\":{},\"tax\":{},\"discount\":0,\"currency\":\"EUR\",\"products\":[",
                    money(merchandise + shipping),
                    money(merchandise),
                    money(shipping),
                    money(tax)
                );
                product_list(self, out, h, lines, true);
                out.push(']');
            }
        }
        out.push_str("},\"context\":{\"library\":{\"name\":\"analytics.js\",\"version\":\"next-1.72.0\"},\"page\":{");
        let slug = product.id.to_ascii_lowercase();
        let (page_path, title) = match path {
            "product" => (format!("/products/{slug}"), product.name.as_str()),
            "category" => (
                format!(
                    "/collections/{}",
                    product.category.to_ascii_lowercase().replace('/', "-")
                ),
                product.category,
            ),
            "search" => ("/search".to_string(), "Search"),
            "cart" => ("/cart".to_string(), "Your cart"),
            "checkout" => ("/checkout".to_string(), "Checkout"),
            _ => ("/".to_string(), "Home"),
        };
        let search = match &CAMPAIGNS[visitor.campaign] {
            Some(c) => format!(
                "?utm_source={}&utm_medium={}&utm_campaign={}",
                c.source, c.medium, c.name
            ),
            None => String::new(),
        };
        let _ = write!(
            out,
            "\"path\":\"{page_path}\",\"referrer\":\"{}\",\"search\":\"{search}\",\"title\":\"{title}\",\"url\":\"https://shop.example{page_path}{search}\"}}",
            REFERRERS[visitor.referrer]
        );
        let _ = write!(out, ",\"userAgent\":\"{user_agent}\",\"locale\":\"{locale}\",\"device\":{{\"type\":\"{device}\"}}");
        if let Some(c) = &CAMPAIGNS[visitor.campaign] {
            let _ = write!(
                out,
                ",\"campaign\":{{\"source\":\"{}\",\"medium\":\"{}\",\"name\":\"{}\"}}",
                c.source, c.medium, c.name
            );
        }
        let _ = write!(
            out,
            ",\"ip\":\"{}\",\"location\":{{\"country\":\"{country}\",\"city\":\"{city}\"}},\"screen\":{{\"width\":{width},\"height\":{height}}},\"timezone\":\"{timezone}\"}}",
            visitor.ip
        );
        let at = self.start + chrono::Duration::milliseconds(n as i64);
        let _ = write!(
            out,
            ",\"timestamp\":\"{}\"}}",
            at.to_rfc3339_opts(SecondsFormat::Millis, true)
        );
    }

    fn order_value(&self, h: u64, lines: u64) -> u64 {
        (0..lines)
            .map(|i| self.product(splitmix64(h ^ i)).cents)
            .sum()
    }

    /// A `/v1/batch` body with messages `first..first + count`.
    pub fn batch_body(&self, first: u64, count: u64, out: &mut String) {
        out.push_str("{\"batch\":[");
        for n in first..first + count {
            if n > first {
                out.push(',');
            }
            self.message(n, out);
        }
        let _ = write!(
            out,
            "],\"sentAt\":\"{}\"}}",
            Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
        );
    }
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn product_fields(out: &mut String, p: &Product) {
    let _ = write!(
        out,
        "\"product_id\":\"{}\",\"sku\":\"{}\",\"name\":\"{}\",\"category\":\"{}\",\"brand\":\"{}\",\"price\":{},\"currency\":\"EUR\",\"url\":\"https://shop.example/products/{}\"",
        p.id,
        p.id,
        p.name,
        p.category,
        p.brand,
        money(p.cents),
        p.id.to_ascii_lowercase()
    );
}

fn product_list(g: &Generator, out: &mut String, h: u64, count: u64, with_quantity: bool) {
    for i in 0..count {
        let p = g.product(splitmix64(h ^ i));
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"product_id\":\"{}\",\"sku\":\"{}\",\"name\":\"{}\",\"price\":{}",
            p.id,
            p.id,
            p.name,
            money(p.cents)
        );
        if with_quantity {
            out.push_str(",\"quantity\":1}");
        } else {
            let _ = write!(out, ",\"position\":{}}}", i + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_valid_json_with_unique_ids() {
        let g = Generator::new(7, 300, 25, 500);
        let mut ids = std::collections::HashSet::new();
        for n in 0..5_000 {
            let mut s = String::new();
            g.message(n, &mut s);
            let v: serde_json::Value =
                serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"));
            assert!(ids.insert(v["messageId"].as_str().unwrap().to_string()));
        }
        let mut body = String::new();
        g.batch_body(0, 1_000, &mut body);
        let parsed = embudo_ingest::parse_batch_body(
            body.as_bytes(),
            Utc::now(),
            &embudo_ingest::ParseLimits {
                max_message_bytes: 32 * 1024,
                max_batch_bytes: usize::MAX,
            },
        )
        .unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        assert_eq!(parsed.messages.len(), 1_000);
        for (_, m) in parsed.messages {
            embudo_ingest::envelope(m, &Default::default()).unwrap();
        }
    }
}
