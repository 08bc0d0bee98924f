//! Cart abandonment: carts built from "Product Added" and "Product Removed" events, and what
//! became of them.
//!
//! Definitions:
//! - A person's *cart* starts with a "Product Added" when they have no open cart. Quantities
//!   cannot be recovered from the events (an event's value is price × quantity), so the cart
//!   holds one line per product: each "Product Added" adds its value (in the event's currency,
//!   else the shop's default) to its product's line, and a "Product Removed" removes that
//!   product's line with all its value. Removing everything empties the cart, which stays open
//!   until it ends. Events without a product id share one line. Each add or remove is the
//!   cart's *last activity*.
//! - The cart ends at the person's next order placed after it started (an order at the same
//!   instant as an event comes after it; cancelled orders are ignored). If the order comes
//!   within `timeout` of the last activity (at last activity + timeout exactly included), the
//!   cart is *converted*, whatever it holds.
//! - Otherwise, once the timeout has passed, a cart with items is *abandoned* at last activity +
//!   timeout, and a cart emptied by removals is *emptied* (not abandoned). An abandoned cart is
//!   *recovered* when the person places an order afterwards, before `now`. A "Product Added"
//!   after the timeout starts a new cart.
//! - A cart whose timeout has not passed at `now` and that has no order is *open*; it is left
//!   out of the rates.
//! - The period's carts are those started in it (events before the period's start are not
//!   read); orders and events up to `now` decide their outcome.
//! - *Abandonment rate* = abandoned / (abandoned + converted); *recovery rate* = recovered /
//!   abandoned; `None` when the divisor is 0. *Abandoned value* is the sum of the abandoned
//!   carts' contents at abandonment, *recovered value* that of the recovered ones, per
//!   currency (never summed across currencies).

use crate::params::UNKNOWN;
use crate::Period;
use chrono::{DateTime, Duration, Utc};
use embudo_core::Currency;
use embudo_store::facts::{EventFact, OrderFact};
use serde::Serialize;
use std::collections::BTreeMap;

/// The event that adds a product to the cart.
pub const PRODUCT_ADDED: &str = "Product Added";
/// The event that removes a product from the cart.
pub const PRODUCT_REMOVED: &str = "Product Removed";

/// The value of abandoned carts in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CurrencyCartValue {
    /// The ISO 4217 code.
    pub currency: String,
    /// The contents of the abandoned carts at abandonment, in minor units.
    pub abandoned_value: i64,
    /// The contents of those of them that were recovered, in minor units.
    pub recovered_value: i64,
}

/// The cart abandonment report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AbandonmentReport {
    /// The timeout after the last activity, in seconds.
    pub timeout_seconds: i64,
    /// Carts started in the period (converted + abandoned + emptied + open).
    pub carts: u64,
    /// Carts ended by an order within the timeout.
    pub converted: u64,
    /// Carts with items left when the timeout passed.
    pub abandoned: u64,
    /// Abandoned carts followed by an order of the person.
    pub recovered: u64,
    /// Carts emptied by removals when the timeout passed.
    pub emptied: u64,
    /// Carts still within their timeout at `now`, without an order.
    pub open: u64,
    /// `abandoned / (abandoned + converted)`.
    pub abandonment_rate: Option<f64>,
    /// `recovered / abandoned`.
    pub recovery_rate: Option<f64>,
    /// The abandoned carts' value, per currency, sorted by currency code.
    pub value: Vec<CurrencyCartValue>,
}

/// Contents by product line, then by currency.
type Contents = BTreeMap<String, BTreeMap<&'static str, i64>>;

/// An open cart.
struct Cart {
    start: DateTime<Utc>,
    last: DateTime<Utc>,
    items: Contents,
}

/// What became of a cart.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Converted,
    Abandoned {
        value: BTreeMap<&'static str, i64>,
        recovered: bool,
    },
    Emptied,
    Open,
}

/// A cart and its outcome.
struct Ended {
    start: DateTime<Utc>,
    outcome: Outcome,
}

/// One step of a person's history.
enum Step<'a> {
    Event(&'a EventFact),
    Order,
}

/// Ends `cart` by its timeout.
fn time_out(cart: Cart) -> Ended {
    let value: BTreeMap<&'static str, i64> =
        cart.items
            .values()
            .flatten()
            .fold(BTreeMap::new(), |mut sum, (code, v)| {
                *sum.entry(*code).or_default() += v;
                sum
            });
    let outcome = if cart.items.is_empty() {
        Outcome::Emptied
    } else {
        Outcome::Abandoned {
            value,
            recovered: false,
        }
    };
    Ended {
        start: cart.start,
        outcome,
    }
}

/// The carts of one person, from their cart events and their orders' times, both in order.
fn carts(
    events: &[&EventFact],
    orders: &[DateTime<Utc>],
    timeout: Duration,
    now: DateTime<Utc>,
    default_currency: Currency,
) -> Vec<Ended> {
    let mut out: Vec<Ended> = Vec::new();
    let mut cart: Option<Cart> = None;
    // Carts before this index have been followed by an order.
    let mut followed = 0;
    let (mut e, mut o) = (0, 0);
    loop {
        let (at, step) = match (events.get(e), orders.get(o)) {
            (Some(ev), Some(order)) if ev.at <= *order => (ev.at, Step::Event(ev)),
            (_, Some(order)) => (*order, Step::Order),
            (Some(ev), None) => (ev.at, Step::Event(ev)),
            (None, None) => break,
        };
        match step {
            Step::Event(_) => e += 1,
            Step::Order => o += 1,
        }
        if let Some(c) = cart.take_if(|c| at > c.last + timeout) {
            out.push(time_out(c));
        }
        match step {
            Step::Event(ev) => {
                let product = ev.product_id.as_deref().unwrap_or(UNKNOWN).to_string();
                if ev.event == PRODUCT_ADDED {
                    let c = cart.get_or_insert_with(|| Cart {
                        start: at,
                        last: at,
                        items: Contents::new(),
                    });
                    let code = ev.currency.unwrap_or(default_currency).code();
                    *c.items.entry(product).or_default().entry(code).or_default() +=
                        ev.value.unwrap_or(0);
                    c.last = at;
                } else if let Some(c) = cart.as_mut() {
                    c.items.remove(&product);
                    c.last = at;
                }
            }
            Step::Order => {
                for ended in &mut out[followed..] {
                    if let Outcome::Abandoned { recovered, .. } = &mut ended.outcome {
                        *recovered = true;
                    }
                }
                if let Some(c) = cart.take() {
                    out.push(Ended {
                        start: c.start,
                        outcome: Outcome::Converted,
                    });
                }
                followed = out.len();
            }
        }
    }
    if let Some(c) = cart {
        if c.last + timeout < now {
            out.push(time_out(c));
        } else {
            out.push(Ended {
                start: c.start,
                outcome: Outcome::Open,
            });
        }
    }
    out
}

/// The abandonment report of the carts started in `period`, judged at `now`, from the cart
/// `events` ("Product Added" and "Product Removed", from the period's start to `now`, sorted by
/// time and sequence) and the `orders` placed from the period's start to `now` (see the module
/// documentation).
pub fn abandonment(
    period: &Period,
    timeout: Duration,
    now: DateTime<Utc>,
    events: &[EventFact],
    orders: &[OrderFact],
    default_currency: Currency,
) -> AbandonmentReport {
    let mut by_person: BTreeMap<&str, (Vec<&EventFact>, Vec<DateTime<Utc>>)> = BTreeMap::new();
    for ev in events {
        let cart_event = ev.event == PRODUCT_ADDED || ev.event == PRODUCT_REMOVED;
        if cart_event && ev.at >= period.from && ev.at < now {
            by_person.entry(&ev.person).or_default().0.push(ev);
        }
    }
    for order in orders {
        if !order.cancelled && order.placed_at >= period.from && order.placed_at < now {
            by_person
                .entry(&order.person)
                .or_default()
                .1
                .push(order.placed_at);
        }
    }

    let mut report = AbandonmentReport {
        timeout_seconds: timeout.num_seconds(),
        carts: 0,
        converted: 0,
        abandoned: 0,
        recovered: 0,
        emptied: 0,
        open: 0,
        abandonment_rate: None,
        recovery_rate: None,
        value: Vec::new(),
    };
    let mut value: BTreeMap<&'static str, (i64, i64)> = BTreeMap::new();
    for (events, orders) in by_person.values_mut() {
        events.sort_by_key(|ev| (ev.at, ev.seq));
        orders.sort();
        for cart in carts(events, orders, timeout, now, default_currency) {
            if cart.start < period.from || cart.start >= period.to {
                continue;
            }
            report.carts += 1;
            match cart.outcome {
                Outcome::Converted => report.converted += 1,
                Outcome::Emptied => report.emptied += 1,
                Outcome::Open => report.open += 1,
                Outcome::Abandoned {
                    value: contents,
                    recovered,
                } => {
                    report.abandoned += 1;
                    report.recovered += u64::from(recovered);
                    for (code, v) in contents {
                        let sum = value.entry(code).or_default();
                        sum.0 += v;
                        if recovered {
                            sum.1 += v;
                        }
                    }
                }
            }
        }
    }
    report.abandonment_rate = crate::ratio(report.abandoned, report.abandoned + report.converted);
    report.recovery_rate = crate::ratio(report.recovered, report.abandoned);
    report.value = value
        .into_iter()
        .map(
            |(code, (abandoned_value, recovered_value))| CurrencyCartValue {
                currency: code.to_string(),
                abandoned_value,
                recovered_value,
            },
        )
        .collect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use embudo_core::OrderId;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn ev(seq: i64, who: &str, at: &str, name: &str, product: &str, value: i64) -> EventFact {
        EventFact {
            product_id: Some(product.to_string()),
            value: Some(value),
            currency: Some(Currency::EUR),
            ..EventFact::new(seq, t(at), who, name)
        }
    }

    fn add(seq: i64, who: &str, at: &str, product: &str, value: i64) -> EventFact {
        ev(seq, who, at, PRODUCT_ADDED, product, value)
    }

    fn remove(seq: i64, who: &str, at: &str, product: &str) -> EventFact {
        ev(seq, who, at, PRODUCT_REMOVED, product, 0)
    }

    fn order(who: &str, at: &str) -> OrderFact {
        OrderFact {
            id: OrderId::parse(format!("{who}-{at}")).unwrap(),
            customer_id: None,
            person: who.to_string(),
            placed_at: t(at),
            currency: Currency::EUR,
            merchandise: 1000,
            total: 1000,
            source: None,
            medium: None,
            campaign: None,
            cancelled: false,
            lines: vec![],
        }
    }

    /// March 2026 (UTC), judged on 2 April at noon, with a 24-hour timeout.
    fn run(events: &[EventFact], orders: &[OrderFact]) -> AbandonmentReport {
        let period = Period::parse("2026-03-01", "2026-04-01", None).unwrap();
        let mut events = events.to_vec();
        events.sort_by_key(|e| (e.at, e.seq));
        abandonment(
            &period,
            Duration::hours(24),
            t("2026-04-02T12:00:00Z"),
            &events,
            orders,
            Currency::USD,
        )
    }

    /// (carts, converted, abandoned, recovered, emptied, open).
    fn counts(r: &AbandonmentReport) -> (u64, u64, u64, u64, u64, u64) {
        (
            r.carts,
            r.converted,
            r.abandoned,
            r.recovered,
            r.emptied,
            r.open,
        )
    }

    #[test]
    fn converted_within_the_timeout() {
        let r = run(
            &[add(1, "v:a", "2026-03-02T10:00:00Z", "P1", 1000)],
            &[order("v:a", "2026-03-02T12:00:00Z")],
        );
        assert_eq!(counts(&r), (1, 1, 0, 0, 0, 0));
        assert_eq!(r.abandonment_rate, Some(0.0));
        assert_eq!(r.recovery_rate, None);
        assert_eq!(r.timeout_seconds, 86_400);
        assert!(r.value.is_empty());
    }

    #[test]
    fn an_order_exactly_at_the_timeout_converts() {
        let events = [
            add(1, "v:a", "2026-03-02T10:00:00Z", "P1", 1000),
            // The timeout runs from the last activity.
            add(2, "v:a", "2026-03-02T20:00:00Z", "P2", 1000),
        ];
        let r = run(&events, &[order("v:a", "2026-03-03T20:00:00Z")]);
        assert_eq!(counts(&r), (1, 1, 0, 0, 0, 0));
        let r = run(&events, &[order("v:a", "2026-03-03T20:00:01Z")]);
        assert_eq!(counts(&r), (1, 0, 1, 1, 0, 0));
    }

    #[test]
    fn abandoned_with_its_value_at_abandonment() {
        let mut usd = add(4, "v:b", "2026-03-06T10:00:00Z", "P9", 700);
        usd.currency = None; // the shop's default, USD
        let events = [
            add(1, "v:a", "2026-03-05T10:00:00Z", "P1", 1000),
            add(2, "v:a", "2026-03-05T10:05:00Z", "P1", 1000),
            add(3, "v:a", "2026-03-05T11:00:00Z", "P2", 500),
            remove(5, "v:a", "2026-03-05T11:30:00Z", "P2"),
            usd,
        ];
        let r = run(&events, &[]);
        assert_eq!(counts(&r), (2, 0, 2, 0, 0, 0));
        assert_eq!(r.abandonment_rate, Some(1.0));
        assert_eq!(r.recovery_rate, Some(0.0));
        assert_eq!(
            r.value,
            [
                CurrencyCartValue {
                    currency: "EUR".into(),
                    abandoned_value: 2000,
                    recovered_value: 0
                },
                CurrencyCartValue {
                    currency: "USD".into(),
                    abandoned_value: 700,
                    recovered_value: 0
                },
            ]
        );
    }

    #[test]
    fn recovered_by_a_later_order_and_a_new_cart_after_abandonment() {
        let events = [
            add(1, "v:a", "2026-03-07T10:00:00Z", "P1", 2000),
            // After the timeout: a new cart, converted by the order below.
            add(2, "v:a", "2026-03-10T09:00:00Z", "P2", 300),
        ];
        let r = run(&events, &[order("v:a", "2026-03-10T10:00:00Z")]);
        assert_eq!(counts(&r), (2, 1, 1, 1, 0, 0));
        assert_eq!(r.abandonment_rate, Some(0.5));
        assert_eq!(r.recovery_rate, Some(1.0));
        assert_eq!(r.value[0].abandoned_value, 2000);
        assert_eq!(r.value[0].recovered_value, 2000);
        // Someone else's order recovers nothing, and cancelled orders count nowhere.
        let mut cancelled = order("v:a", "2026-03-10T10:00:00Z");
        cancelled.cancelled = true;
        let r = run(
            &events[..1],
            &[order("v:z", "2026-03-09T10:00:00Z"), cancelled],
        );
        assert_eq!(counts(&r), (1, 0, 1, 0, 0, 0));
    }

    #[test]
    fn emptied_carts_are_not_abandoned() {
        let events = [
            add(1, "v:a", "2026-03-08T10:00:00Z", "P1", 1000),
            add(2, "v:a", "2026-03-08T10:01:00Z", "P2", 500),
            remove(3, "v:a", "2026-03-08T10:02:00Z", "P1"),
            remove(4, "v:a", "2026-03-08T10:03:00Z", "P2"),
            // A removal with no cart open does nothing.
            remove(5, "v:a", "2026-03-12T10:00:00Z", "P2"),
        ];
        let r = run(&events, &[]);
        assert_eq!(counts(&r), (1, 0, 0, 0, 1, 0));
        assert_eq!(r.abandonment_rate, None);
        // Emptied, then filled again within the timeout: the same cart, abandoned.
        let refill = add(6, "v:a", "2026-03-09T09:00:00Z", "P3", 400);
        let r = run(&[&events[..4], &[refill]].concat(), &[]);
        assert_eq!(counts(&r), (1, 0, 1, 0, 0, 0));
        assert_eq!(r.value[0].abandoned_value, 400);
    }

    #[test]
    fn open_carts_and_carts_outside_the_period() {
        let events = [
            // Within its timeout at `now` (2 April, 12:00), no order: open.
            add(1, "v:a", "2026-03-31T20:00:00Z", "P1", 1000),
            add(2, "v:a", "2026-04-01T13:00:00Z", "P1", 1000),
            // Started after the period: not counted, though abandoned by now.
            add(3, "v:b", "2026-04-01T01:00:00Z", "P1", 1000),
        ];
        let r = run(&events, &[]);
        assert_eq!(counts(&r), (1, 0, 0, 0, 0, 1));
        assert_eq!(r.abandonment_rate, None);
        assert!(r.value.is_empty());
    }
}
