//! Properties of a generated shop: well-formed Segment messages, consistent money, a
//! believable funnel, and follow-ups that make sense. A medium spec is streamed once into a
//! summary (keeping every message would take gigabytes); each test checks one aspect of it.

use chrono::{DateTime, NaiveDate, Utc};
use embudo_core::{
    AnonymousId, Currency, CustomerId, CustomerType, Email, MessageId, Money, OrderId, ProductId,
    StatusKind,
};
use embudo_generate::{DayBatch, Generator, ShopSpec};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const SEED: u64 = 20_251_231;

fn medium() -> ShopSpec {
    ShopSpec::new(
        2_000,
        365,
        SEED,
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
    )
}

/// Session flags.
const VIEW: u8 = 1;
const ADD: u8 = 2;
const CHECKOUT: u8 = 4;
const ORDER: u8 = 8;

struct OrderInfo {
    at: DateTime<Utc>,
    total: i64,
    user: Option<String>,
}

#[derive(Default)]
struct Summary {
    events: u64,
    estimate: u64,
    /// Problems found, by aspect.
    errors: BTreeMap<&'static str, Vec<String>>,
    sessions: BTreeMap<String, u8>,
    orders: BTreeMap<String, OrderInfo>,
    refunded: BTreeMap<String, i64>,
    partial_refunds: u32,
    refunds: u32,
    cancelled: BTreeSet<String>,
    shipped: BTreeSet<String>,
    delivered: BTreeSet<String>,
    users: BTreeSet<String>,
    orders_per_user: BTreeMap<String, u32>,
    guest_orders: u32,
    events_per_day: BTreeMap<NaiveDate, u64>,
    identifies_with_history: u32,
    seen_anonymous: BTreeSet<String>,
    coupons: u32,
}

impl Summary {
    fn error(&mut self, aspect: &'static str, message: String) {
        let list = self.errors.entry(aspect).or_default();
        if list.len() < 10 {
            list.push(message);
        }
    }

    fn errors(&self, aspect: &str) -> &[String] {
        self.errors.get(aspect).map_or(&[], Vec::as_slice)
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn money(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer)
        .and_then(|n| Money::from_json(n, Currency::EUR).ok())
        .map(|m| m.amount)
}

fn example_email(text: &str) -> bool {
    Email::parse(text).is_ok_and(|e| {
        ["@example.com", "@example.org", "@example.net"]
            .iter()
            .any(|d| e.as_str().ends_with(d))
    })
}

fn in_documentation_range(ip: &str) -> bool {
    ["192.0.2.", "198.51.100.", "203.0.113."]
        .iter()
        .any(|p| ip.starts_with(p))
}

fn summary() -> &'static Summary {
    static SUMMARY: OnceLock<Summary> = OnceLock::new();
    SUMMARY.get_or_init(|| {
        let generator = Generator::new(medium());
        let products: BTreeSet<&str> = generator.catalog().iter().map(|p| p.id.as_str()).collect();
        let mut s = Summary {
            estimate: generator.estimated_events(),
            ..Summary::default()
        };
        let mut next_id = 0u64;
        for day in generator.days() {
            check_day(&mut s, &day, &products, &mut next_id);
        }
        s
    })
}

fn check_day(s: &mut Summary, day: &DayBatch, products: &BTreeSet<&str>, next_id: &mut u64) {
    s.events_per_day.insert(day.date, day.messages.len() as u64);
    let mut last: Option<DateTime<Utc>> = None;
    for m in &day.messages {
        s.events += 1;
        // Envelope.
        let kind = str_at(m, "/type").unwrap_or("");
        let expected_id = format!("gen-{SEED}-{next_id}");
        *next_id += 1;
        if str_at(m, "/messageId") != Some(expected_id.as_str())
            || MessageId::parse(expected_id.clone()).is_err()
        {
            s.error(
                "envelope",
                format!("messageId {:?}, expected {expected_id}", m.get("messageId")),
            );
        }
        let timestamp = str_at(m, "/timestamp").unwrap_or("");
        match DateTime::parse_from_rfc3339(timestamp) {
            Ok(t) if timestamp.ends_with('Z') => {
                let t = t.with_timezone(&Utc);
                if t.date_naive() != day.date {
                    s.error("envelope", format!("{timestamp} outside {}", day.date));
                }
                if last.is_some_and(|l| t < l) {
                    s.error("envelope", format!("{timestamp} out of order"));
                }
                last = Some(t);
            }
            _ => s.error("envelope", format!("bad timestamp {timestamp:?}")),
        }
        let anonymous = str_at(m, "/anonymousId");
        let user = str_at(m, "/userId");
        if anonymous.is_none() && user.is_none() {
            s.error("envelope", format!("no identity: {m}"));
        }
        if let Some(a) = anonymous {
            if AnonymousId::parse(a).is_err() {
                s.error("ids", format!("anonymousId {a:?}"));
            }
        }
        if let Some(u) = user {
            if CustomerId::parse(u).is_err() {
                s.error("ids", format!("userId {u:?}"));
            }
            s.users.insert(u.to_string());
        }
        match kind {
            "track"
                if str_at(m, "/event").is_some_and(|e| !e.is_empty())
                    && m["properties"].is_object() => {}
            "page" if str_at(m, "/name").is_some() && m["properties"].is_object() => {}
            "identify" if m["traits"].is_object() && user.is_some() => {}
            _ => s.error("envelope", format!("bad {kind:?} message: {m}")),
        }
        // Browser context.
        if let Some(session) = str_at(m, "/context/sessionId") {
            let device = str_at(m, "/context/device/type").unwrap_or("");
            let ok = ["mobile", "desktop", "tablet"].contains(&device)
                && str_at(m, "/context/userAgent").is_some()
                && str_at(m, "/context/locale").is_some()
                && str_at(m, "/context/ip").is_some_and(in_documentation_range)
                && str_at(m, "/context/location/country").is_some()
                && str_at(m, "/context/location/city").is_some()
                && str_at(m, "/context/page/url")
                    .is_some_and(|u| u.starts_with("https://shop.example.com/"));
            if !ok {
                s.error("context", format!("{m}"));
            }
            if let Some(campaign) = m.pointer("/context/campaign") {
                if ["source", "medium", "name"]
                    .iter()
                    .any(|k| !campaign[k].is_string())
                {
                    s.error("context", format!("campaign {campaign}"));
                }
            }
            let event = str_at(m, "/event").unwrap_or("");
            let flag = match event {
                "Product Viewed" => VIEW,
                "Product Added" => ADD,
                "Checkout Started" => CHECKOUT,
                "Order Completed" => ORDER,
                _ => 0,
            };
            *s.sessions.entry(session.to_string()).or_default() |= flag;
            if kind == "identify" {
                if anonymous.is_some_and(|a| s.seen_anonymous.contains(a)) {
                    s.identifies_with_history += 1;
                }
            } else if let (Some(a), None) = (anonymous, user) {
                s.seen_anonymous.insert(a.to_string());
            }
        }
        if kind == "identify" {
            let t = &m["traits"];
            let ok = t["email"].as_str().is_some_and(example_email)
                && t["name"].is_string()
                && t.pointer("/address/country").is_some_and(Value::is_string)
                && t.pointer("/address/city").is_some_and(Value::is_string)
                && t["customer_type"]
                    .as_str()
                    .and_then(CustomerType::parse)
                    .is_some()
                && t["email_consent"].is_boolean();
            if !ok {
                s.error("traits", format!("{t}"));
            }
        }
        // Products.
        let props = &m["properties"];
        let mut product_lists: Vec<&Value> = Vec::new();
        if props.get("product_id").is_some() && str_at(m, "/event") != Some("Product Reviewed") {
            product_lists.push(props);
        }
        if let Some(Value::Array(list)) = props.get("products") {
            product_lists.extend(list.iter());
        }
        for p in product_lists {
            let id = p["product_id"].as_str().unwrap_or("");
            let ok = ProductId::parse(id).is_ok()
                && products.contains(id)
                && p["sku"].is_string()
                && p["name"].is_string()
                && p["category"].is_string()
                && p["brand"].is_string()
                && money(p, "/price").is_some_and(|v| v > 0)
                && p["quantity"].as_i64().is_some_and(|q| q > 0);
            if !ok {
                s.error("products", format!("{p}"));
            }
        }
        match str_at(m, "/event") {
            Some("Order Completed") => check_order(s, m, user),
            Some("Order Refunded") => {
                let order = str_at(m, "/properties/order_id").unwrap_or("").to_string();
                let amount = money(m, "/properties/total").unwrap_or(-1);
                s.refunds += 1;
                match s.orders.get(&order) {
                    Some(info) => {
                        let t = DateTime::parse_from_rfc3339(timestamp)
                            .unwrap()
                            .with_timezone(&Utc);
                        let sum = s.refunded.entry(order.clone()).or_default();
                        *sum += amount;
                        let (sum, total, before) = (*sum, info.total, t <= info.at);
                        if amount < total {
                            s.partial_refunds += 1;
                        }
                        if amount <= 0 || sum > total || before {
                            s.error("refunds", format!("{order}: refunded {sum} of {total}"));
                        }
                    }
                    None => s.error("refunds", format!("refund of unknown order {order}")),
                }
            }
            Some("Order Cancelled") => {
                let order = str_at(m, "/properties/order_id").unwrap_or("").to_string();
                if !s.orders.contains_key(&order) {
                    s.error("refunds", format!("cancel of unknown order {order}"));
                }
                s.cancelled.insert(order);
            }
            Some("Coupon Applied") => s.coupons += 1,
            _ => {}
        }
    }
    let mut last = None;
    for (order, change) in &day.status_changes {
        let problem = match s.orders.get(order.as_str()) {
            None => Some("unknown order".to_string()),
            Some(info) if change.at <= info.at => Some("before the order".into()),
            Some(_) if change.at.date_naive() != day.date => Some("outside its day".into()),
            Some(_) if last.is_some_and(|l| change.at < l) => Some("out of order".into()),
            Some(_) if s.cancelled.contains(order.as_str()) => {
                Some("cancelled order shipped".into())
            }
            Some(_) => match change.status {
                StatusKind::Shipped
                    if change.carrier.is_none() || change.tracking_number.is_none() =>
                {
                    Some("shipped without carrier".into())
                }
                StatusKind::Shipped => {
                    s.shipped.insert(order.to_string());
                    None
                }
                StatusKind::Delivered if !s.shipped.contains(order.as_str()) => {
                    Some("delivered before shipped".into())
                }
                StatusKind::Delivered => {
                    s.delivered.insert(order.to_string());
                    None
                }
                other => Some(format!("unexpected status {other:?}")),
            },
        };
        if let Some(problem) = problem {
            s.error("status", format!("{order}: {problem}"));
        }
        last = Some(change.at);
    }
}

fn check_order(s: &mut Summary, m: &Value, user: Option<&str>) {
    let p = &m["properties"];
    let id = p["order_id"].as_str().unwrap_or("").to_string();
    if OrderId::parse(id.clone()).is_err() || s.orders.contains_key(&id) {
        s.error("orders", format!("order id {id:?} invalid or repeated"));
    }
    let line_sum: i64 = p["products"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|l| money(l, "/price").unwrap_or(0) * l["quantity"].as_i64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(-1);
    let [total, revenue, shipping, tax, discount] =
        ["total", "revenue", "shipping", "tax", "discount"]
            .map(|k| money(p, &format!("/{k}")).unwrap_or(-1));
    if line_sum <= 0 || line_sum != revenue {
        s.error(
            "orders",
            format!("{id}: lines sum to {line_sum}, revenue {revenue}"),
        );
    }
    if total != revenue - discount + shipping + tax
        || [shipping, tax, discount].iter().any(|&x| x < 0)
        || discount > revenue
    {
        s.error(
            "orders",
            format!("{id}: total {total} ≠ {revenue} − {discount} + {shipping} + {tax}"),
        );
    }
    if p["currency"] != "EUR" {
        s.error("orders", format!("{id}: currency {}", p["currency"]));
    }
    match user {
        Some(u) => *s.orders_per_user.entry(u.to_string()).or_default() += 1,
        None => {
            s.guest_orders += 1;
            if !p["email"].as_str().is_some_and(example_email) {
                s.error("orders", format!("{id}: guest order without a valid email"));
            }
        }
    }
    let at = DateTime::parse_from_rfc3339(m["timestamp"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    s.orders.insert(
        id,
        OrderInfo {
            at,
            total,
            user: user.map(str::to_string),
        },
    );
}

fn assert_clean(aspect: &str) {
    let errors = summary().errors(aspect);
    assert!(errors.is_empty(), "{aspect}: {errors:#?}");
}

#[test]
fn messages_have_the_segment_envelope() {
    assert_clean("envelope");
    assert!(summary().events > 100_000, "{}", summary().events);
}

#[test]
fn browser_messages_have_a_full_context() {
    assert_clean("context");
}

#[test]
fn ids_are_valid_embudo_ids() {
    assert_clean("ids");
    assert_clean("products");
}

#[test]
fn identify_traits_are_complete_with_example_emails() {
    assert_clean("traits");
}

#[test]
fn orders_add_up_exactly() {
    assert_clean("orders");
    let s = summary();
    assert!(s.orders.len() > 400, "{} orders", s.orders.len());
    assert!(s.guest_orders > 0 && s.coupons > 0);
}

#[test]
fn refunds_never_exceed_their_order() {
    assert_clean("refunds");
    let s = summary();
    let refunded = s.refunded.len() as f64 / s.orders.len() as f64;
    let cancelled = s.cancelled.len() as f64 / s.orders.len() as f64;
    assert!(
        (0.025..0.06).contains(&refunded),
        "refunded share {refunded}"
    );
    assert!(
        (0.003..0.02).contains(&cancelled),
        "cancelled share {cancelled}"
    );
    assert!(
        s.partial_refunds > 0 && s.partial_refunds < s.refunds,
        "{} of {}",
        s.partial_refunds,
        s.refunds
    );
}

#[test]
fn status_changes_follow_earlier_orders() {
    assert_clean("status");
    let s = summary();
    // Orders of the last days are not shipped yet; almost all others are.
    assert!(s.shipped.len() as f64 > 0.9 * s.orders.len() as f64);
    assert!(s.delivered.len() as f64 > 0.9 * s.shipped.len() as f64);
}

#[test]
fn funnel_has_realistic_drop_off() {
    let s = summary();
    let n = s.sessions.len() as f64;
    let share = |flag: u8| s.sessions.values().filter(|&&f| f & flag != 0).count() as f64 / n;
    let (view, add, checkout, order) = (share(VIEW), share(ADD), share(CHECKOUT), share(ORDER));
    eprintln!(
        "sessions {n}: view {view:.3}, add {add:.3}, checkout {checkout:.3}, order {order:.3}"
    );
    assert!((0.30..=0.40).contains(&view), "view {view}");
    assert!((0.08..=0.12).contains(&add), "add {add}");
    assert!((0.03..=0.05).contains(&checkout), "checkout {checkout}");
    assert!((0.02..=0.03).contains(&order), "order {order}");
}

#[test]
fn every_customer_identifies_and_some_buy_again() {
    let s = summary();
    assert_eq!(s.users.len(), 2_000, "distinct userIds");
    let buyers = s.orders_per_user.len();
    let repeat = s.orders_per_user.values().filter(|&&n| n >= 2).count();
    let most = s.orders_per_user.values().copied().max().unwrap_or(0);
    eprintln!(
        "buyers {buyers}, repeat {repeat}, most {most}, orders {}, guest orders {}",
        s.orders.len(),
        s.guest_orders
    );
    assert!(
        repeat as f64 > 0.15 * buyers as f64,
        "{repeat} repeat buyers of {buyers}"
    );
    assert!(
        most >= 5,
        "heavy tail: the best customer ordered {most} times"
    );
    // Anonymous browsing is linked when people sign up or log in.
    assert!(
        s.identifies_with_history > 500,
        "{}",
        s.identifies_with_history
    );
    assert!(s.orders.values().any(|o| o.user.is_none()));
}

#[test]
fn traffic_is_seasonal() {
    let s = summary();
    let mean = |month: u32, days: std::ops::RangeInclusive<u32>| {
        let v: Vec<u64> = s
            .events_per_day
            .iter()
            .filter(|(d, _)| {
                chrono::Datelike::month(*d) == month && days.contains(&chrono::Datelike::day(*d))
            })
            .map(|(_, &n)| n)
            .collect();
        v.iter().sum::<u64>() as f64 / v.len() as f64
    };
    let february = mean(2, 1..=28);
    let december = mean(12, 1..=19);
    let cyber = s.events_per_day[&NaiveDate::from_ymd_opt(2025, 11, 29).unwrap()] as f64;
    assert!(
        december > 1.3 * february,
        "December {december} vs February {february}"
    );
    assert!(
        cyber > 1.8 * february,
        "Cyber Weekend {cyber} vs February {february}"
    );
    let weekday = |w: chrono::Weekday| {
        let v: Vec<u64> = s
            .events_per_day
            .iter()
            .filter(|(d, _)| chrono::Datelike::weekday(*d) == w)
            .map(|(_, &n)| n)
            .collect();
        v.iter().sum::<u64>() as f64 / v.len() as f64
    };
    assert!(weekday(chrono::Weekday::Sun) > 1.15 * weekday(chrono::Weekday::Sat));
}

#[test]
fn the_estimate_is_close() {
    let s = summary();
    let ratio = s.estimate as f64 / s.events as f64;
    assert!(
        (0.85..1.15).contains(&ratio),
        "estimate {} for {} events",
        s.estimate,
        s.events
    );
}

fn run(spec: ShopSpec, threads: usize) -> Vec<String> {
    let generator = Generator::new(spec).with_threads(threads);
    let mut out = vec![serde_json::to_string(generator.catalog()).unwrap()];
    for day in generator.days() {
        out.push(serde_json::to_string(&day.messages).unwrap());
        out.push(serde_json::to_string(&day.status_changes).unwrap());
    }
    out
}

#[test]
fn output_is_deterministic() {
    let spec = ShopSpec::new(400, 40, 7, NaiveDate::from_ymd_opt(2025, 3, 31).unwrap());
    let a = run(spec.clone(), 1);
    assert_eq!(a, run(spec.clone(), 1));
    assert_eq!(a, run(spec.clone(), 3), "threads do not change the output");
    let other = run(ShopSpec { seed: 8, ..spec }, 1);
    assert_ne!(a, other);
    assert!(a.iter().zip(&other).filter(|(x, y)| x == y).count() < a.len() / 10);
}

#[test]
fn catalog_is_valid() {
    let generator = Generator::new(medium());
    let catalog = generator.catalog();
    let ids: BTreeSet<&str> = catalog.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids.len(), catalog.len());
    for p in catalog {
        p.validate().unwrap();
        assert_eq!(p.currency, Currency::EUR);
        assert_eq!(p.category_path.len(), 2);
        assert!(p.brand.is_some() && p.sku.is_some() && p.price.is_some_and(|x| x > 0));
    }
}

#[test]
fn small_and_empty_specs_work() {
    let end = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    assert_eq!(
        Generator::new(ShopSpec::new(10, 0, 1, end)).days().count(),
        0
    );
    let days: Vec<DayBatch> = Generator::new(ShopSpec::new(0, 3, 1, end)).days().collect();
    assert_eq!(days.len(), 3);
    assert!(days.iter().all(|d| d.messages.is_empty()));
    let spec = ShopSpec::new(5, 1, 1, end);
    let days: Vec<DayBatch> = Generator::new(spec).days().collect();
    assert_eq!(days[0].date, end);
    let users: BTreeSet<&str> = days[0]
        .messages
        .iter()
        .filter_map(|m| m["userId"].as_str())
        .collect();
    assert_eq!(users.len(), 5);
}

#[test]
fn other_currencies_price_sensibly() {
    let end = NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    let spec = ShopSpec {
        currency: Currency::parse("JPY").unwrap(),
        ..ShopSpec::new(50, 10, 1, end)
    };
    let generator = Generator::new(spec);
    assert!(generator.catalog().iter().all(|p| p.price.unwrap() >= 100));
    let jpy = Currency::parse("JPY").unwrap();
    for day in generator.days() {
        for m in &day.messages {
            if m["event"] == "Order Completed" {
                let revenue = Money::from_json(&m["properties"]["revenue"], jpy)
                    .unwrap()
                    .amount;
                assert!(m["properties"]["revenue"].is_u64(), "whole yen: {revenue}");
                assert_eq!(m["context"]["location"]["country"], "Japan");
            }
        }
    }
}
