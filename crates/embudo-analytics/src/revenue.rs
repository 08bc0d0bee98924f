//! Revenue: merchandise, refunds and net revenue, orders, units, buyers and averages, per
//! currency, in time buckets and broken down.
//!
//! Definitions:
//! - *Merchandise* is the sum of [`OrderFact::merchandise`] of the orders placed in the period
//!   (product lines after line discounts; no shipping, tax or fees). Cancelled orders count
//!   nowhere.
//! - *Refunds* are the refunds made in the period, in the bucket of their own time (not of the
//!   order they refund, which may be older). *Net* is merchandise − refunds; it is not clamped
//!   and may be negative.
//! - *Units* is the sum of the orders' line quantities; *customers* the distinct persons with an
//!   order (a guest order is its own person, or its visitor when known).
//! - *Average order value* is merchandise / orders, *revenue per customer* merchandise /
//!   customers, *revenue per visitor* merchandise / visitors (totals only; `None` in the series
//!   and the breakdown, and when there were no visitors). Averages are whole minor units,
//!   rounded half away from zero, and 0 when the divisor is 0.
//! - Money is never summed across currencies: every figure is reported per currency, in one
//!   block per currency, blocks sorted by currency code.
//! - Breakdown by product or category splits each order by its lines: a row's merchandise and
//!   units are those of its lines, and an order counts once in every row it touches. Refunds are
//!   not split by line, so they are 0 (and net equals merchandise) in those rows.
//! - Breakdown by source, medium or campaign uses the order's attribution; by country or
//!   customer type, the order's customer. A refund follows the order it refunds when that order
//!   is among the period's orders, else it is counted under [`UNKNOWN`]. Orders carry no device,
//!   so a breakdown by device puts everything under [`UNKNOWN`].
//! - Rows are sorted by merchandise, largest first, then by value.

use crate::params::UNKNOWN;
use crate::{Breakdown, Customers, Interval, Period};
use chrono::NaiveDate;
use embudo_store::facts::{OrderFact, RefundFact};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Revenue figures of a set of orders and refunds in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RevenueFigures {
    /// Merchandise revenue of the orders, in minor units.
    pub merchandise: i64,
    /// Refunded amount, in minor units (positive).
    pub refunds: i64,
    /// `merchandise − refunds` (may be negative).
    pub net: i64,
    /// Orders placed.
    pub orders: u64,
    /// Units sold (sum of line quantities).
    pub units: i64,
    /// Distinct persons with an order.
    pub customers: u64,
    /// `merchandise / orders`, rounded half away from zero; 0 without orders.
    pub average_order_value: i64,
    /// `merchandise / visitors`, rounded half away from zero; totals only (`None` in the series
    /// and the breakdown, and when there were no visitors).
    pub revenue_per_visitor: Option<i64>,
    /// `merchandise / customers`, rounded half away from zero; 0 without customers.
    pub revenue_per_customer: i64,
}

/// The figures of one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RevenueBucket {
    /// The bucket's first local date.
    pub start: NaiveDate,
    /// Its figures.
    pub figures: RevenueFigures,
}

/// The figures of one breakdown value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RevenueBreakdownRow {
    /// The value (`(none)` when unknown).
    pub value: String,
    /// Its figures.
    pub figures: RevenueFigures,
}

/// Revenue in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CurrencyRevenue {
    /// The ISO 4217 code.
    pub currency: String,
    /// The whole period.
    pub totals: RevenueFigures,
    /// Every bucket of the period, in order, with zeros where nothing happened.
    pub series: Vec<RevenueBucket>,
    /// Rows by the requested breakdown (empty without one).
    pub breakdown: Vec<RevenueBreakdownRow>,
}

/// The revenue report: one block per currency, sorted by currency code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RevenueReport {
    /// One block per currency with orders or refunds in the period.
    pub currencies: Vec<CurrencyRevenue>,
}

/// Running sums behind [`RevenueFigures`].
#[derive(Default)]
struct Acc<'a> {
    merchandise: i64,
    refunds: i64,
    orders: u64,
    units: i64,
    persons: HashSet<&'a str>,
}

impl<'a> Acc<'a> {
    fn add_order(&mut self, person: &'a str, merchandise: i64, units: i64) {
        self.merchandise += merchandise;
        self.units += units;
        self.orders += 1;
        self.persons.insert(person);
    }

    fn figures(&self, visitors: Option<u64>) -> RevenueFigures {
        let customers = self.persons.len() as u64;
        RevenueFigures {
            merchandise: self.merchandise,
            refunds: self.refunds,
            net: self.merchandise - self.refunds,
            orders: self.orders,
            units: self.units,
            customers,
            average_order_value: crate::div_round(self.merchandise, self.orders as i64),
            revenue_per_visitor: visitors
                .filter(|v| *v > 0)
                .map(|v| crate::div_round(self.merchandise, v as i64)),
            revenue_per_customer: crate::div_round(self.merchandise, customers as i64),
        }
    }
}

/// One currency's running sums.
struct CurrencyAcc<'a> {
    totals: Acc<'a>,
    series: BTreeMap<NaiveDate, Acc<'a>>,
    rows: BTreeMap<String, Acc<'a>>,
}

impl CurrencyAcc<'_> {
    fn new(buckets: &[NaiveDate]) -> Self {
        Self {
            totals: Acc::default(),
            series: buckets.iter().map(|b| (*b, Acc::default())).collect(),
            rows: BTreeMap::new(),
        }
    }
}

/// `value`, or [`UNKNOWN`] when absent or blank.
fn known(value: Option<&str>) -> String {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => UNKNOWN.to_string(),
    }
}

/// The breakdown value of a whole order (for breakdowns that do not split by line).
fn order_value(by: Breakdown, order: &OrderFact, customers: &Customers) -> String {
    match by {
        Breakdown::Source => known(order.source.as_deref()),
        Breakdown::Medium => known(order.medium.as_deref()),
        Breakdown::Campaign => known(order.campaign.as_deref()),
        Breakdown::Country => known(
            customers
                .get(&order.person)
                .and_then(|c| c.country.as_deref()),
        ),
        Breakdown::CustomerType => customers
            .get(&order.person)
            .map(|c| c.customer_type.as_str().to_string())
            .unwrap_or_else(|| UNKNOWN.to_string()),
        Breakdown::Device | Breakdown::Product | Breakdown::Category => UNKNOWN.to_string(),
    }
}

/// Merchandise and units of an order's lines by product or category.
fn split_lines(by: Breakdown, order: &OrderFact) -> BTreeMap<String, (i64, i64)> {
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for line in &order.lines {
        let key = match by {
            Breakdown::Product => line.product_id.as_str().to_string(),
            _ => known(line.category.as_deref()),
        };
        let entry = out.entry(key).or_default();
        entry.0 += line.amount;
        entry.1 += line.quantity;
    }
    out
}

/// The revenue report of `orders` placed in `period` and `refunds` made in it, with `visitors`
/// distinct persons seen in the period (see the module documentation for the definitions).
pub fn revenue(
    period: &Period,
    interval: Interval,
    by: Option<Breakdown>,
    orders: &[OrderFact],
    refunds: &[RefundFact],
    visitors: u64,
    customers: &Customers,
) -> RevenueReport {
    let buckets = period.buckets(interval);
    let mut blocks: BTreeMap<&'static str, CurrencyAcc> = BTreeMap::new();
    let present = orders
        .iter()
        .filter(|o| !o.cancelled)
        .map(|o| o.currency)
        .chain(refunds.iter().map(|r| r.currency));
    for currency in present {
        blocks
            .entry(currency.code())
            .or_insert_with(|| CurrencyAcc::new(&buckets));
    }

    for order in orders.iter().filter(|o| !o.cancelled) {
        let Some(acc) = blocks.get_mut(order.currency.code()) else {
            continue;
        };
        let units: i64 = order.lines.iter().map(|l| l.quantity).sum();
        let person = order.person.as_str();
        acc.totals.add_order(person, order.merchandise, units);
        if let Some(bucket) = acc
            .series
            .get_mut(&period.bucket(order.placed_at, interval))
        {
            bucket.add_order(person, order.merchandise, units);
        }
        match by {
            None => {}
            Some(b @ (Breakdown::Product | Breakdown::Category)) => {
                for (key, (amount, quantity)) in split_lines(b, order) {
                    acc.rows
                        .entry(key)
                        .or_default()
                        .add_order(person, amount, quantity);
                }
            }
            Some(b) => {
                acc.rows
                    .entry(order_value(b, order, customers))
                    .or_default()
                    .add_order(person, order.merchandise, units);
            }
        }
    }

    let by_id: HashMap<&str, &OrderFact> = orders.iter().map(|o| (o.id.as_str(), o)).collect();
    for refund in refunds {
        let Some(acc) = blocks.get_mut(refund.currency.code()) else {
            continue;
        };
        acc.totals.refunds += refund.amount;
        if let Some(bucket) = acc.series.get_mut(&period.bucket(refund.at, interval)) {
            bucket.refunds += refund.amount;
        }
        match by {
            None | Some(Breakdown::Product | Breakdown::Category) => {}
            Some(b) => {
                let value = refund
                    .order_id
                    .as_ref()
                    .and_then(|id| by_id.get(id.as_str()))
                    .map(|order| order_value(b, order, customers))
                    .unwrap_or_else(|| UNKNOWN.to_string());
                acc.rows.entry(value).or_default().refunds += refund.amount;
            }
        }
    }

    let currencies = blocks
        .into_iter()
        .map(|(code, acc)| {
            let mut breakdown: Vec<RevenueBreakdownRow> = acc
                .rows
                .into_iter()
                .map(|(value, row)| RevenueBreakdownRow {
                    value,
                    figures: row.figures(None),
                })
                .collect();
            breakdown.sort_by(|a, b| {
                b.figures
                    .merchandise
                    .cmp(&a.figures.merchandise)
                    .then_with(|| a.value.cmp(&b.value))
            });
            CurrencyRevenue {
                currency: code.to_string(),
                totals: acc.totals.figures(Some(visitors)),
                series: acc
                    .series
                    .into_iter()
                    .map(|(start, bucket)| RevenueBucket {
                        start,
                        figures: bucket.figures(None),
                    })
                    .collect(),
                breakdown,
            }
        })
        .collect();
    RevenueReport { currencies }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use embudo_core::{Currency, CustomerId, CustomerType, OrderId, ProductId};
    use embudo_store::facts::{CustomerFact, LineFact};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn madrid_march() -> Period {
        Period::parse("2026-03-01", "2026-04-01", Some("Europe/Madrid")).unwrap()
    }

    fn line(product: &str, category: Option<&str>, quantity: i64, amount: i64) -> LineFact {
        LineFact {
            product_id: ProductId::parse(product).unwrap(),
            category: category.map(str::to_string),
            quantity,
            amount,
        }
    }

    /// An order by customer `who` (a guest when it starts with `o:`), one line of `amount`.
    fn order(id: &str, who: &str, at: &str, currency: Currency, amount: i64) -> OrderFact {
        let customer_id = (!who.starts_with("o:")).then(|| CustomerId::parse(who).unwrap());
        OrderFact {
            id: OrderId::parse(id).unwrap(),
            person: match &customer_id {
                Some(c) => format!("c:{c}"),
                None => who.to_string(),
            },
            customer_id,
            placed_at: t(at),
            currency,
            merchandise: amount,
            total: amount + 500,
            source: None,
            medium: None,
            campaign: None,
            cancelled: false,
            lines: vec![line("P1", Some("shoes"), 1, amount)],
        }
    }

    fn refund(order: Option<&str>, at: &str, currency: Currency, amount: i64) -> RefundFact {
        RefundFact {
            order_id: order.map(|o| OrderId::parse(o).unwrap()),
            customer_id: None,
            at: t(at),
            currency,
            amount,
        }
    }

    fn bucket(block: &CurrencyRevenue, date: &str) -> RevenueFigures {
        block
            .series
            .iter()
            .find(|b| b.start == d(date))
            .unwrap()
            .figures
            .clone()
    }

    fn report(orders: &[OrderFact], refunds: &[RefundFact]) -> RevenueReport {
        revenue(
            &madrid_march(),
            Interval::Day,
            None,
            orders,
            refunds,
            10,
            &Customers::new(),
        )
    }

    #[test]
    fn orders_fall_in_their_local_day() {
        // 23:30 UTC on 1 March is 00:30 on 2 March in Madrid; 23:30 UTC on 28 February is
        // already 1 March there.
        let orders = [
            order("1", "a", "2026-03-01T23:30:00Z", Currency::EUR, 1000),
            order("2", "b", "2026-02-28T23:30:00Z", Currency::EUR, 300),
        ];
        let r = report(&orders, &[]);
        let eur = &r.currencies[0];
        assert_eq!(eur.series.len(), 31);
        assert_eq!(eur.series[0].start, d("2026-03-01"));
        assert_eq!(bucket(eur, "2026-03-01").merchandise, 300);
        assert_eq!(bucket(eur, "2026-03-02").merchandise, 1000);
        assert_eq!(bucket(eur, "2026-03-03").orders, 0);
        assert_eq!(eur.totals.merchandise, 1300);
        assert_eq!(eur.totals.orders, 2);
        assert_eq!(eur.totals.customers, 2);
    }

    #[test]
    fn refunds_go_to_their_own_bucket_and_net_may_be_negative() {
        let orders = [order("1", "a", "2026-03-02T10:00:00Z", Currency::EUR, 1000)];
        let refunds = [refund(
            Some("1"),
            "2026-03-10T10:00:00Z",
            Currency::EUR,
            1500,
        )];
        let r = report(&orders, &refunds);
        let eur = &r.currencies[0];
        assert_eq!(eur.totals.refunds, 1500);
        assert_eq!(eur.totals.net, -500);
        let day2 = bucket(eur, "2026-03-02");
        assert_eq!((day2.merchandise, day2.refunds, day2.net), (1000, 0, 1000));
        let day10 = bucket(eur, "2026-03-10");
        assert_eq!(
            (day10.merchandise, day10.refunds, day10.net),
            (0, 1500, -1500)
        );
        assert_eq!(day10.orders, 0);
    }

    #[test]
    fn currencies_are_never_mixed_and_cancelled_orders_count_nowhere() {
        let mut cancelled = order("3", "c", "2026-03-03T10:00:00Z", Currency::GBP, 9999);
        cancelled.cancelled = true;
        let mut cancelled_eur = order("4", "a", "2026-03-03T10:00:00Z", Currency::EUR, 7777);
        cancelled_eur.cancelled = true;
        let orders = [
            order("2", "b", "2026-03-02T10:00:00Z", Currency::USD, 2000),
            order("1", "a", "2026-03-02T10:00:00Z", Currency::EUR, 1000),
            cancelled,
            cancelled_eur,
        ];
        let refunds = [refund(None, "2026-03-05T10:00:00Z", Currency::USD, 100)];
        let r = report(&orders, &refunds);
        let codes: Vec<&str> = r.currencies.iter().map(|c| c.currency.as_str()).collect();
        assert_eq!(codes, ["EUR", "USD"]);
        let (eur, usd) = (&r.currencies[0].totals, &r.currencies[1].totals);
        assert_eq!(
            (eur.merchandise, eur.refunds, eur.net, eur.orders),
            (1000, 0, 1000, 1)
        );
        assert_eq!(
            (usd.merchandise, usd.refunds, usd.net, usd.orders),
            (2000, 100, 1900, 1)
        );
        assert_eq!(eur.revenue_per_visitor, Some(100));
        assert_eq!(usd.revenue_per_visitor, Some(200));
    }

    #[test]
    fn averages_round_half_away_from_zero() {
        let orders = [
            order("1", "a", "2026-03-02T10:00:00Z", Currency::EUR, 1001),
            order("2", "a", "2026-03-02T11:00:00Z", Currency::EUR, 1000),
            order("3", "o:3", "2026-03-02T12:00:00Z", Currency::EUR, 1000),
        ];
        // 3001 / 3 orders = 1000.33; 3001 / 2 customers = 1500.5; 3001 / 4 visitors = 750.25.
        let r = revenue(
            &madrid_march(),
            Interval::Month,
            None,
            &orders,
            &[],
            4,
            &Customers::new(),
        );
        let totals = &r.currencies[0].totals;
        assert_eq!(totals.average_order_value, 1000);
        assert_eq!(totals.customers, 2, "the guest is a customer of their own");
        assert_eq!(totals.revenue_per_customer, 1501);
        assert_eq!(totals.revenue_per_visitor, Some(750));
        assert_eq!(totals.units, 3);
        let series = &r.currencies[0].series;
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].figures.revenue_per_visitor, None);
        assert_eq!(series[0].figures.average_order_value, 1000);
        // Two orders of 1001 and 1000: 1000.5 rounds up.
        let r = report(&orders[..2], &[]);
        assert_eq!(r.currencies[0].totals.average_order_value, 1001);
        // No visitors: no revenue per visitor.
        let r = revenue(
            &madrid_march(),
            Interval::Day,
            None,
            &orders,
            &[],
            0,
            &Customers::new(),
        );
        assert_eq!(r.currencies[0].totals.revenue_per_visitor, None);
    }

    #[test]
    fn product_breakdown_splits_orders_by_line() {
        let mut first = order("1", "a", "2026-03-02T10:00:00Z", Currency::EUR, 0);
        first.lines = vec![
            line("P1", Some("shoes"), 2, 2000),
            line("P2", None, 1, 500),
            line("P1", Some("shoes"), 1, 900),
        ];
        first.merchandise = 3400;
        let mut second = order("2", "b", "2026-03-03T10:00:00Z", Currency::EUR, 0);
        second.lines = vec![line("P2", Some("hats"), 3, 2900)];
        second.merchandise = 2900;
        let orders = [first, second];
        let refunds = [refund(
            Some("1"),
            "2026-03-04T10:00:00Z",
            Currency::EUR,
            100,
        )];
        let run = |by| {
            revenue(
                &madrid_march(),
                Interval::Day,
                Some(by),
                &orders,
                &refunds,
                10,
                &Customers::new(),
            )
        };
        let r = run(Breakdown::Product);
        let rows = &r.currencies[0].breakdown;
        let summary: Vec<(&str, i64, u64, i64, u64, i64)> = rows
            .iter()
            .map(|r| {
                let f = &r.figures;
                (
                    r.value.as_str(),
                    f.merchandise,
                    f.orders,
                    f.units,
                    f.customers,
                    f.refunds,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("P2", 3400, 2, 4, 2, 0), ("P1", 2900, 1, 3, 1, 0)]
        );
        assert_eq!(rows[0].figures.average_order_value, 1700);
        assert_eq!(rows[0].figures.revenue_per_visitor, None);
        assert_eq!(r.currencies[0].totals.refunds, 100);

        let r = run(Breakdown::Category);
        let summary: Vec<(&str, i64, u64)> = r.currencies[0]
            .breakdown
            .iter()
            .map(|r| (r.value.as_str(), r.figures.merchandise, r.figures.orders))
            .collect();
        assert_eq!(
            summary,
            [("hats", 2900, 1), ("shoes", 2900, 1), ("(none)", 500, 1)]
        );
    }

    #[test]
    fn attribution_breakdown_and_refunds_follow_their_order() {
        let mut a = order("1", "a", "2026-03-02T10:00:00Z", Currency::EUR, 1000);
        a.source = Some("google".into());
        let mut b = order("2", "b", "2026-03-02T11:00:00Z", Currency::EUR, 1000);
        b.source = Some("newsletter".into());
        let c = order("3", "o:3", "2026-03-02T12:00:00Z", Currency::EUR, 400);
        let orders = [a, b, c];
        let refunds = [
            refund(Some("1"), "2026-03-05T10:00:00Z", Currency::EUR, 300),
            refund(Some("old"), "2026-03-05T10:00:00Z", Currency::EUR, 50),
        ];
        let r = revenue(
            &madrid_march(),
            Interval::Day,
            Some(Breakdown::Source),
            &orders,
            &refunds,
            10,
            &Customers::new(),
        );
        let summary: Vec<(&str, i64, i64, i64)> = r.currencies[0]
            .breakdown
            .iter()
            .map(|r| {
                (
                    r.value.as_str(),
                    r.figures.merchandise,
                    r.figures.refunds,
                    r.figures.net,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("google", 1000, 300, 700),
                ("newsletter", 1000, 0, 1000),
                ("(none)", 400, 50, 350)
            ]
        );
    }

    #[test]
    fn customer_breakdowns_use_the_customer() {
        let mut customers = Customers::new();
        for (id, country, kind) in [
            ("a", Some("ES"), CustomerType::Business),
            ("b", None, CustomerType::Consumer),
        ] {
            let fact = CustomerFact {
                id: CustomerId::parse(id).unwrap(),
                customer_type: kind,
                country: country.map(str::to_string),
                first_seen: None,
            };
            customers.insert(fact.person(), fact);
        }
        let orders = [
            order("1", "a", "2026-03-02T10:00:00Z", Currency::EUR, 1000),
            order("2", "b", "2026-03-02T11:00:00Z", Currency::EUR, 700),
            order("3", "o:3", "2026-03-02T12:00:00Z", Currency::EUR, 400),
        ];
        let run = |by| {
            revenue(
                &madrid_march(),
                Interval::Day,
                Some(by),
                &orders,
                &[],
                10,
                &customers,
            )
            .currencies[0]
                .breakdown
                .iter()
                .map(|r| (r.value.clone(), r.figures.merchandise))
                .collect::<Vec<_>>()
        };
        let rows = |v: &[(&str, i64)]| {
            v.iter()
                .map(|(s, m)| (s.to_string(), *m))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            run(Breakdown::Country),
            rows(&[("(none)", 1100), ("ES", 1000)])
        );
        assert_eq!(
            run(Breakdown::CustomerType),
            rows(&[("business", 1000), ("consumer", 700), ("(none)", 400)])
        );
    }
}
