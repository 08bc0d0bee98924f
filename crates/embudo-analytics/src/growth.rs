//! Growth: the period's headline figures next to a comparison period's, with the change.
//!
//! Definitions:
//! - Per currency (money is never summed across currencies; blocks sorted by currency code, a
//!   currency with orders or refunds in either period appears): *merchandise* of the orders
//!   placed in the period, *net* (merchandise − refunds made in the period; may be negative),
//!   *orders*, *customers* (distinct persons with an order), *new customers* (those of them
//!   whose first order ever was placed in the period) and *average order value* (merchandise /
//!   orders, whole minor units rounded half away from zero, 0 without orders). Cancelled orders
//!   count nowhere.
//! - *Visitors* (distinct persons with events in the period) do not depend on the currency.
//! - *Change* is `(current − previous) / |previous|`, rounded to 6 decimals, and `None` when the
//!   previous figure is 0. Dividing by the absolute value keeps the sign meaningful for a
//!   negative previous net: from −100 to 100 is a change of +2.

use crate::Period;
use chrono::{DateTime, Utc};
use embudo_store::facts::{OrderFact, RefundFact};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What growth reads of one period.
#[derive(Debug, Clone, Copy)]
pub struct GrowthInput<'a> {
    /// Orders placed in the period.
    pub orders: &'a [OrderFact],
    /// Refunds made in the period.
    pub refunds: &'a [RefundFact],
    /// Distinct persons with events in the period.
    pub visitors: u64,
    /// Person → the time of their first order ever, from all history.
    pub first_order_at: &'a HashMap<String, DateTime<Utc>>,
}

/// A figure in both periods.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GrowthFigure {
    /// The figure in the current period.
    pub current: i64,
    /// The figure in the comparison period.
    pub previous: i64,
    /// `(current − previous) / |previous|`, rounded to 6 decimals; `None` when `previous` is 0.
    pub change: Option<f64>,
}

impl GrowthFigure {
    /// `current` against `previous`.
    pub fn new(current: i64, previous: i64) -> Self {
        let change = (previous != 0).then(|| {
            let c = (current as f64 - previous as f64) / (previous as f64).abs();
            (c * 1e6).round() / 1e6
        });
        Self {
            current,
            previous,
            change,
        }
    }
}

/// The growth figures of one currency.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrencyGrowth {
    /// The ISO 4217 code.
    pub currency: String,
    /// Merchandise revenue, in minor units.
    pub merchandise: GrowthFigure,
    /// Merchandise − refunds, in minor units.
    pub net: GrowthFigure,
    /// Orders placed.
    pub orders: GrowthFigure,
    /// Distinct persons with an order.
    pub customers: GrowthFigure,
    /// Persons whose first order ever was placed in the period.
    pub new_customers: GrowthFigure,
    /// Merchandise / orders, in minor units.
    pub average_order_value: GrowthFigure,
}

/// A period's bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PeriodBounds {
    /// Inclusive start, RFC 3339.
    pub from: String,
    /// Exclusive end, RFC 3339.
    pub to: String,
}

impl PeriodBounds {
    fn of(period: &Period) -> Self {
        Self {
            from: period.from.to_rfc3339(),
            to: period.to.to_rfc3339(),
        }
    }
}

/// The growth report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GrowthReport {
    /// The current period.
    pub current: PeriodBounds,
    /// The comparison period.
    pub previous: PeriodBounds,
    /// Distinct persons with events.
    pub visitors: GrowthFigure,
    /// One block per currency present in either period, sorted by currency code.
    pub currencies: Vec<CurrencyGrowth>,
}

/// One period's figures in one currency.
#[derive(Default, Clone, Copy)]
struct Figures {
    merchandise: i64,
    refunds: i64,
    orders: i64,
    customers: i64,
    new_customers: i64,
}

/// The figures of `input` over `period`, by currency code.
fn figures(period: &Period, input: &GrowthInput) -> BTreeMap<&'static str, Figures> {
    let mut out: BTreeMap<&'static str, Figures> = BTreeMap::new();
    let mut buyers: BTreeMap<&'static str, HashSet<&str>> = BTreeMap::new();
    // A buyer missing from `first_order_at` is taken at their earliest order here.
    let mut earliest: HashMap<&str, DateTime<Utc>> = HashMap::new();
    for order in input.orders.iter().filter(|o| !o.cancelled) {
        let code = order.currency.code();
        let f = out.entry(code).or_default();
        f.merchandise += order.merchandise;
        f.orders += 1;
        buyers.entry(code).or_default().insert(&order.person);
        let first = earliest.entry(&order.person).or_insert(order.placed_at);
        *first = (*first).min(order.placed_at);
    }
    for refund in input.refunds {
        out.entry(refund.currency.code()).or_default().refunds += refund.amount;
    }
    for (code, persons) in buyers {
        let f = out.entry(code).or_default();
        f.customers = persons.len() as i64;
        f.new_customers = persons
            .iter()
            .filter(|p| {
                let first = input.first_order_at.get(**p).or_else(|| earliest.get(**p));
                first.is_some_and(|at| *at >= period.from && *at < period.to)
            })
            .count() as i64;
    }
    out
}

/// The growth report of `current` against `previous` (see the module documentation).
pub fn growth(
    current: &Period,
    previous: &Period,
    cur: &GrowthInput,
    prev: &GrowthInput,
) -> GrowthReport {
    let now = figures(current, cur);
    let before = figures(previous, prev);
    let codes: std::collections::BTreeSet<&'static str> =
        now.keys().chain(before.keys()).copied().collect();
    let currencies = codes
        .into_iter()
        .map(|code| {
            let c = now.get(code).copied().unwrap_or_default();
            let p = before.get(code).copied().unwrap_or_default();
            let figure = |f: fn(&Figures) -> i64| GrowthFigure::new(f(&c), f(&p));
            CurrencyGrowth {
                currency: code.to_string(),
                merchandise: figure(|f| f.merchandise),
                net: figure(|f| f.merchandise - f.refunds),
                orders: figure(|f| f.orders),
                customers: figure(|f| f.customers),
                new_customers: figure(|f| f.new_customers),
                average_order_value: figure(|f| crate::div_round(f.merchandise, f.orders)),
            }
        })
        .collect();
    GrowthReport {
        current: PeriodBounds::of(current),
        previous: PeriodBounds::of(previous),
        visitors: GrowthFigure::new(
            i64::try_from(cur.visitors).unwrap_or(i64::MAX),
            i64::try_from(prev.visitors).unwrap_or(i64::MAX),
        ),
        currencies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embudo_core::{Currency, CustomerId, OrderId};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn order(id: &str, who: &str, at: &str, currency: Currency, amount: i64) -> OrderFact {
        OrderFact {
            id: OrderId::parse(id).unwrap(),
            customer_id: Some(CustomerId::parse(who).unwrap()),
            person: format!("c:{who}"),
            placed_at: t(at),
            currency,
            merchandise: amount,
            total: amount,
            source: None,
            medium: None,
            campaign: None,
            cancelled: false,
            lines: vec![],
        }
    }

    fn refund(at: &str, currency: Currency, amount: i64) -> RefundFact {
        RefundFact {
            order_id: None,
            customer_id: None,
            at: t(at),
            currency,
            amount,
        }
    }

    #[test]
    fn compares_two_periods_per_currency() {
        let current = Period::parse("2026-03-01", "2026-04-01", None).unwrap();
        let previous = current.previous();
        let cur_orders = [
            order("3", "a", "2026-03-02T10:00:00Z", Currency::EUR, 1000),
            order("4", "a", "2026-03-03T10:00:00Z", Currency::EUR, 1001),
            order("5", "b", "2026-03-04T10:00:00Z", Currency::EUR, 1000),
            order("6", "c", "2026-03-05T10:00:00Z", Currency::USD, 500),
        ];
        let mut cancelled = order("7", "z", "2026-03-06T10:00:00Z", Currency::EUR, 9999);
        cancelled.cancelled = true;
        let cur_orders = [&cur_orders[..], &[cancelled]].concat();
        let prev_orders = [
            order("1", "a", "2026-02-02T10:00:00Z", Currency::EUR, 1500),
            order("2", "d", "2026-02-03T10:00:00Z", Currency::EUR, 500),
        ];
        let cur_refunds = [refund("2026-03-10T10:00:00Z", Currency::EUR, 200)];
        let prev_refunds = [refund("2026-02-10T10:00:00Z", Currency::EUR, 2500)];
        // a first ordered in February, b in March; c's first order is unknown (taken here).
        let firsts: HashMap<String, DateTime<Utc>> = [
            ("c:a", "2026-02-02T10:00:00Z"),
            ("c:b", "2026-03-04T10:00:00Z"),
            ("c:d", "2025-01-01T10:00:00Z"),
        ]
        .into_iter()
        .map(|(p, at)| (p.to_string(), t(at)))
        .collect();
        let cur = GrowthInput {
            orders: &cur_orders,
            refunds: &cur_refunds,
            visitors: 150,
            first_order_at: &firsts,
        };
        let prev = GrowthInput {
            orders: &prev_orders,
            refunds: &prev_refunds,
            visitors: 100,
            first_order_at: &firsts,
        };
        let r = growth(&current, &previous, &cur, &prev);
        assert_eq!(r.current.from, "2026-03-01T00:00:00+00:00");
        assert_eq!(r.previous.from, "2026-01-29T00:00:00+00:00");
        assert_eq!(r.previous.to, "2026-03-01T00:00:00+00:00");
        assert_eq!(r.visitors, GrowthFigure::new(150, 100));
        assert_eq!(r.visitors.change, Some(0.5));
        let codes: Vec<&str> = r.currencies.iter().map(|c| c.currency.as_str()).collect();
        assert_eq!(codes, ["EUR", "USD"]);
        let eur = &r.currencies[0];
        assert_eq!(
            (eur.merchandise.current, eur.merchandise.previous),
            (3001, 2000)
        );
        assert_eq!(eur.merchandise.change, Some(0.5005));
        // Net went from 2000 − 2500 = −500 to 3001 − 200 = 2801.
        assert_eq!((eur.net.current, eur.net.previous), (2801, -500));
        assert_eq!(eur.net.change, Some(6.602));
        assert_eq!((eur.orders.current, eur.orders.previous), (3, 2));
        assert_eq!((eur.customers.current, eur.customers.previous), (2, 2));
        assert_eq!(eur.customers.change, Some(0.0));
        assert_eq!(
            (eur.new_customers.current, eur.new_customers.previous),
            (1, 1)
        );
        assert_eq!(
            (
                eur.average_order_value.current,
                eur.average_order_value.previous
            ),
            (1000, 1000)
        );
        // USD only exists now: nothing to compare with.
        let usd = &r.currencies[1];
        assert_eq!(
            usd.merchandise,
            GrowthFigure {
                current: 500,
                previous: 0,
                change: None
            }
        );
        assert_eq!(usd.new_customers.current, 1);
        assert_eq!(usd.average_order_value.change, None);
    }

    #[test]
    fn previous_zero_has_no_change_and_a_vanished_currency_stays() {
        let current = Period::parse("2026-03-01", "2026-04-01", None).unwrap();
        let previous = current.previous();
        let prev_orders = [order("1", "a", "2026-02-02T10:00:00Z", Currency::GBP, 800)];
        let none = HashMap::new();
        let cur = GrowthInput {
            orders: &[],
            refunds: &[],
            visitors: 7,
            first_order_at: &none,
        };
        let prev = GrowthInput {
            orders: &prev_orders,
            refunds: &[],
            visitors: 0,
            first_order_at: &none,
        };
        let r = growth(&current, &previous, &cur, &prev);
        assert_eq!(
            r.visitors,
            GrowthFigure {
                current: 7,
                previous: 0,
                change: None
            }
        );
        assert_eq!(r.currencies.len(), 1);
        let gbp = &r.currencies[0];
        assert_eq!(gbp.currency, "GBP");
        assert_eq!(gbp.merchandise.change, Some(-1.0));
        assert_eq!(
            gbp.new_customers,
            GrowthFigure {
                current: 0,
                previous: 1,
                change: Some(-1.0)
            }
        );
    }
}
