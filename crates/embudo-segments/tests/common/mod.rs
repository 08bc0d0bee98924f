//! Builders shared by the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use embudo_core::{Currency, CustomerId, ProductId};
use embudo_segments::{
    evaluate, parse, EvalContext, Profile, ProfileEvent, ProfileLine, ProfileOrder,
};

/// An RFC 3339 time or a date.
pub fn t(text: &str) -> DateTime<Utc> {
    embudo_segments::parse_time_literal(text).unwrap()
}

/// The instant most tests evaluate at.
pub fn now() -> DateTime<Utc> {
    t("2026-03-01T12:00:00Z")
}

pub fn days(n: i64) -> chrono::TimeDelta {
    chrono::TimeDelta::days(n)
}

pub fn profile(id: &str) -> Profile {
    Profile::new(CustomerId::parse(id).unwrap())
}

pub fn event(name: &str, at: DateTime<Utc>) -> ProfileEvent {
    ProfileEvent::new(name, at)
}

pub fn product_event(
    name: &str,
    at: DateTime<Utc>,
    product: &str,
    category: &str,
    brand: &str,
) -> ProfileEvent {
    ProfileEvent {
        product_id: Some(ProductId::parse(product).unwrap()),
        category: Some(category.into()),
        brand: Some(brand.into()),
        ..ProfileEvent::new(name, at)
    }
}

pub fn line(product: &str, category: &str, brand: &str) -> ProfileLine {
    ProfileLine {
        product_id: Some(ProductId::parse(product).unwrap()),
        category: Some(category.into()),
        brand: Some(brand.into()),
        quantity: 1,
    }
}

pub fn order(
    at: DateTime<Utc>,
    currency: Currency,
    net: i64,
    lines: Vec<ProfileLine>,
) -> ProfileOrder {
    ProfileOrder {
        placed_at: at,
        currency,
        net,
        cancelled: false,
        lines,
    }
}

pub fn eur(at: DateTime<Utc>, net: i64) -> ProfileOrder {
    order(at, Currency::EUR, net, vec![line("X", "Misc", "Acme")])
}

/// Parses `source` (panicking with the rendered error) and evaluates it at `at`, with EUR as
/// the default currency.
pub fn holds_at(source: &str, profile: &Profile, at: DateTime<Utc>) -> bool {
    let expr = parse(source).unwrap_or_else(|e| panic!("{}", e.render(source)));
    evaluate(&expr, profile, &EvalContext::new(at, Currency::EUR))
}

/// [`holds_at`] at [`now`].
pub fn holds(source: &str, profile: &Profile) -> bool {
    holds_at(source, profile, now())
}
