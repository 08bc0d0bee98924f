//! Retention: cohorts of customers by their first order, repeat purchases, retention and churn
//! against the previous period, and historical customer lifetime value.
//!
//! Definitions:
//! - Only orders of known customers count: a guest cannot be recognised when they come back.
//!   Cancelled orders count nowhere. Orders and refunds after the period's end are ignored.
//! - A customer's *cohort* is the bucket (week or month, in the report's time zone) of their
//!   first order ever. Cohorts are made of the customers whose first order falls inside the
//!   period, so a partial first bucket (started before `from`) holds only those who first
//!   ordered on or after `from`; buckets without such customers are left out.
//! - `customers_ordering[k]` is the number of the cohort's customers with at least one order in
//!   the k-th bucket after the cohort's own (k = 0 is the cohort's bucket, so it equals the
//!   size), up to the last bucket the period touches; `retention[k]` is that number over the
//!   cohort's size (so `retention[0]` is 1). Several orders in one bucket count once.
//! - *Repeat purchase rate*: among the customers with at least one order in the period, the
//!   share with two or more (separate orders: two on one day count as two).
//! - *Retention rate*: among the customers with an order in the equally long period just before
//!   ([`Period::previous`]), the share who ordered again in the period; *churn rate* is the rest
//!   (1 − retention). Both are `None` when nobody ordered in the previous period.
//! - *Historical lifetime value* of a cohort, per currency: the merchandise of all its
//!   customers' orders up to the period's end, minus the refunds made to them (matched by the
//!   refund's customer) up to the period's end, divided by the cohort's size (whole minor units,
//!   rounded half away from zero). Money is never summed across currencies.

use crate::{Interval, Period};
use chrono::{DateTime, NaiveDate, Utc};
use embudo_store::facts::{OrderFact, RefundFact};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A cohort's lifetime value in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CohortValue {
    /// The ISO 4217 code.
    pub currency: String,
    /// The cohort's size (the divisor).
    pub customers: u64,
    /// Merchandise of the cohort's orders minus their refunds, up to the period's end, in minor
    /// units (may be negative).
    pub net_revenue: i64,
    /// `net_revenue / customers`, rounded half away from zero.
    pub per_customer: i64,
}

/// The customers whose first order fell in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Cohort {
    /// The first local date of the bucket of their first order.
    pub start: NaiveDate,
    /// How many customers.
    pub size: u64,
    /// Entry k: the cohort's customers with an order in the k-th bucket after the cohort's.
    pub customers_ordering: Vec<u64>,
    /// Entry k: `customers_ordering[k] / size`, rounded to 6 decimals (entry 0 is 1).
    pub retention: Vec<f64>,
    /// Net revenue per customer up to the period's end, one entry per currency.
    pub historical_clv: Vec<CohortValue>,
}

/// The retention report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RetentionReport {
    /// The cohorts' bucket size.
    pub interval: Interval,
    /// The cohorts whose bucket starts in the period, in order.
    pub cohorts: Vec<Cohort>,
    /// `repeat_customers / customers_with_orders`; `None` without customers.
    pub repeat_purchase_rate: Option<f64>,
    /// Customers with at least one order in the period.
    pub customers_with_orders: u64,
    /// Customers with two or more orders in the period.
    pub repeat_customers: u64,
    /// `retained_customers / previous_customers`; `None` when the latter is 0.
    pub retention_rate: Option<f64>,
    /// `1 − retention_rate`; `None` when `previous_customers` is 0.
    pub churn_rate: Option<f64>,
    /// Customers with an order in the previous period of the same length.
    pub previous_customers: u64,
    /// Those of them with an order in the period too.
    pub retained_customers: u64,
}

/// How many of `times` fall in `[from, to)`.
fn orders_between(times: &[DateTime<Utc>], from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
    times.iter().filter(|t| **t >= from && **t < to).count()
}

/// The retention report of `period`, from all `orders` placed and `refunds` made before its end
/// (see the module documentation). `interval` is a week or a month.
pub fn retention(
    period: &Period,
    interval: Interval,
    orders: &[OrderFact],
    refunds: &[RefundFact],
) -> RetentionReport {
    // Customer id → their orders' times, and their orders.
    let mut times: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
    let mut by_customer: HashMap<&str, Vec<&OrderFact>> = HashMap::new();
    for order in orders {
        let Some(customer) = order.customer_id.as_ref() else {
            continue;
        };
        if order.cancelled || order.placed_at >= period.to {
            continue;
        }
        times
            .entry(customer.as_str())
            .or_default()
            .push(order.placed_at);
        by_customer
            .entry(customer.as_str())
            .or_default()
            .push(order);
    }

    let buckets = period.buckets(interval);
    // The first instant of each bucket: a time's bucket is found without converting it to the
    // period's time zone (the bucket of `t` starts at the last of these at or before `t`).
    let starts: Vec<DateTime<Utc>> = buckets.iter().map(|d| period.start_of(*d)).collect();
    let bucket_of = |t: DateTime<Utc>| -> Option<usize> {
        (starts.first().is_some_and(|first| t >= *first) && t < period.to)
            .then(|| starts.partition_point(|s| *s <= t).saturating_sub(1))
    };
    // Customer → the buckets (indices) they ordered in; cohort bucket → its customers.
    let mut active: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut members: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (customer, ts) in &times {
        let mut ordered: Vec<usize> = ts.iter().filter_map(|t| bucket_of(*t)).collect();
        ordered.sort_unstable();
        ordered.dedup();
        active.insert(customer, ordered);
        if let Some(first) = ts
            .iter()
            .min()
            .filter(|t| **t >= period.from)
            .and_then(|t| bucket_of(*t))
        {
            members.entry(first).or_default().push(customer);
        }
    }

    let mut refunds_by_customer: HashMap<&str, Vec<&RefundFact>> = HashMap::new();
    for refund in refunds.iter().filter(|r| r.at < period.to) {
        if let Some(customer) = refund.customer_id.as_ref() {
            refunds_by_customer
                .entry(customer.as_str())
                .or_default()
                .push(refund);
        }
    }

    let mut cohorts = Vec::new();
    for (i, start) in buckets.iter().enumerate() {
        let Some(customers) = members.get(&i) else {
            continue;
        };
        let size = customers.len() as u64;
        let mut customers_ordering = vec![0u64; buckets.len() - i];
        for c in customers {
            for &b in active[*c].iter().filter(|b| **b >= i) {
                customers_ordering[b - i] += 1;
            }
        }
        let retention = customers_ordering
            .iter()
            .map(|n| crate::ratio(*n, size).unwrap_or(0.0))
            .collect();
        let mut net: BTreeMap<&'static str, i64> = BTreeMap::new();
        for customer in customers {
            for order in &by_customer[*customer] {
                *net.entry(order.currency.code()).or_default() += order.merchandise;
            }
            for refund in refunds_by_customer.get(*customer).into_iter().flatten() {
                *net.entry(refund.currency.code()).or_default() -= refund.amount;
            }
        }
        let historical_clv = net
            .into_iter()
            .map(|(code, net_revenue)| CohortValue {
                currency: code.to_string(),
                customers: size,
                net_revenue,
                per_customer: crate::div_round(net_revenue, size as i64),
            })
            .collect();
        cohorts.push(Cohort {
            start: *start,
            size,
            customers_ordering,
            retention,
            historical_clv,
        });
    }

    let mut customers_with_orders = 0;
    let mut repeat_customers = 0;
    let mut previous_customers = 0;
    let mut retained_customers = 0;
    let previous = period.previous();
    for ts in times.values() {
        let now = orders_between(ts, period.from, period.to);
        let before = orders_between(ts, previous.from, previous.to);
        customers_with_orders += u64::from(now >= 1);
        repeat_customers += u64::from(now >= 2);
        previous_customers += u64::from(before >= 1);
        retained_customers += u64::from(before >= 1 && now >= 1);
    }

    RetentionReport {
        interval,
        cohorts,
        repeat_purchase_rate: crate::ratio(repeat_customers, customers_with_orders),
        customers_with_orders,
        repeat_customers,
        retention_rate: crate::ratio(retained_customers, previous_customers),
        churn_rate: crate::ratio(previous_customers - retained_customers, previous_customers),
        previous_customers,
        retained_customers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embudo_core::{Currency, CustomerId, OrderId};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// An order by customer `who`, or by a guest when `who` starts with `o:`.
    fn order(who: &str, at: &str, currency: Currency, amount: i64) -> OrderFact {
        let customer_id = (!who.starts_with("o:")).then(|| CustomerId::parse(who).unwrap());
        OrderFact {
            id: OrderId::parse(format!("{who}-{at}")).unwrap(),
            person: match &customer_id {
                Some(c) => format!("c:{c}"),
                None => who.to_string(),
            },
            customer_id,
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

    fn refund(who: &str, at: &str, currency: Currency, amount: i64) -> RefundFact {
        RefundFact {
            order_id: None,
            customer_id: Some(CustomerId::parse(who).unwrap()),
            at: t(at),
            currency,
            amount,
        }
    }

    fn q1_madrid() -> Period {
        Period::parse("2026-01-01", "2026-04-01", Some("Europe/Madrid")).unwrap()
    }

    #[test]
    fn cohorts_by_first_order() {
        let mut cancelled = order("e", "2026-01-07T10:00:00Z", Currency::EUR, 100);
        cancelled.cancelled = true;
        let orders = [
            // a: twice in January (counts once), then March.
            order("a", "2026-01-05T10:00:00Z", Currency::EUR, 1000),
            order("a", "2026-01-20T10:00:00Z", Currency::EUR, 1000),
            order("a", "2026-03-03T10:00:00Z", Currency::EUR, 1000),
            // b: January, then February.
            order("b", "2026-01-10T10:00:00Z", Currency::EUR, 1000),
            order("b", "2026-02-02T10:00:00Z", Currency::EUR, 1000),
            // f: 23:30 UTC on 31 January is 1 February in Madrid.
            order("f", "2026-01-31T23:30:00Z", Currency::EUR, 1000),
            // d: first ordered in December 2025, before the period: no cohort here.
            order("d", "2025-12-20T10:00:00Z", Currency::EUR, 1000),
            order("d", "2026-01-15T10:00:00Z", Currency::EUR, 1000),
            // Guests and cancelled orders are in no cohort.
            order("o:1", "2026-01-08T10:00:00Z", Currency::EUR, 1000),
            cancelled,
        ];
        let r = retention(&q1_madrid(), Interval::Month, &orders, &[]);
        assert_eq!(r.interval, Interval::Month);
        let summary: Vec<(NaiveDate, u64, Vec<u64>, Vec<f64>)> = r
            .cohorts
            .iter()
            .map(|c| {
                (
                    c.start,
                    c.size,
                    c.customers_ordering.clone(),
                    c.retention.clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (d("2026-01-01"), 2, vec![2, 1, 1], vec![1.0, 0.5, 0.5]),
                (d("2026-02-01"), 1, vec![1, 0], vec![1.0, 0.0]),
            ]
        );
    }

    #[test]
    fn a_partial_first_bucket_holds_only_customers_first_ordering_in_the_period() {
        // Weeks of March 2026 (UTC): the first week starts on Monday 23 February.
        let period = Period::parse("2026-03-01", "2026-03-16", None).unwrap();
        let orders = [
            order("a", "2026-03-01T10:00:00Z", Currency::EUR, 1000),
            order("b", "2026-03-02T10:00:00Z", Currency::EUR, 1000),
            order("b", "2026-03-15T10:00:00Z", Currency::EUR, 1000),
        ];
        let before = [order("z", "2026-02-27T10:00:00Z", Currency::EUR, 1000)];
        let all: Vec<_> = before.iter().chain(&orders).cloned().collect();
        let r = retention(&period, Interval::Week, &all, &[]);
        assert_eq!(r.cohorts.len(), 2);
        // The week of 23 February: only `a` (first order on 1 March), not `z` (27 February).
        assert_eq!(r.cohorts[0].start, d("2026-02-23"));
        assert_eq!(r.cohorts[0].size, 1);
        assert_eq!(r.cohorts[0].customers_ordering, [1, 0, 0]);
        assert_eq!(r.cohorts[1].start, d("2026-03-02"));
        assert_eq!(r.cohorts[1].customers_ordering, [1, 1]);
    }

    #[test]
    fn repeat_purchases_count_separate_orders() {
        let period = Period::parse("2026-03-01", "2026-04-01", None).unwrap();
        let orders = [
            // a: two orders on one day.
            order("a", "2026-03-05T10:00:00Z", Currency::EUR, 1000),
            order("a", "2026-03-05T11:00:00Z", Currency::EUR, 1000),
            // b: one in the period, one before it.
            order("b", "2026-02-05T10:00:00Z", Currency::EUR, 1000),
            order("b", "2026-03-05T10:00:00Z", Currency::EUR, 1000),
            order("c", "2026-03-06T10:00:00Z", Currency::EUR, 1000),
            // Guest orders never repeat.
            order("o:1", "2026-03-06T10:00:00Z", Currency::EUR, 1000),
            order("o:1", "2026-03-07T10:00:00Z", Currency::EUR, 1000),
        ];
        let r = retention(&period, Interval::Week, &orders, &[]);
        assert_eq!((r.customers_with_orders, r.repeat_customers), (3, 1));
        assert_eq!(r.repeat_purchase_rate, Some(0.333333));
    }

    #[test]
    fn retention_and_churn_against_the_previous_period() {
        // March 2026; the previous period is 29 January to 1 March.
        let period = Period::parse("2026-03-01", "2026-04-01", None).unwrap();
        let orders = [
            order("a", "2026-02-10T10:00:00Z", Currency::EUR, 1000),
            order("a", "2026-03-10T10:00:00Z", Currency::EUR, 1000),
            order("b", "2026-01-29T00:00:00Z", Currency::EUR, 1000),
            order("c", "2026-02-28T23:59:59Z", Currency::EUR, 1000),
            // Before the previous period: not counted.
            order("x", "2026-01-28T23:59:59Z", Currency::EUR, 1000),
            order("x", "2026-03-02T10:00:00Z", Currency::EUR, 1000),
        ];
        let r = retention(&period, Interval::Month, &orders, &[]);
        assert_eq!((r.previous_customers, r.retained_customers), (3, 1));
        assert_eq!(r.retention_rate, Some(0.333333));
        assert_eq!(r.churn_rate, Some(0.666667));
        let r = retention(&period, Interval::Month, &orders[4..], &[]);
        assert_eq!(
            (r.previous_customers, r.retention_rate, r.churn_rate),
            (0, None, None)
        );
    }

    #[test]
    fn lifetime_value_per_currency() {
        let period = Period::parse("2026-01-01", "2026-03-01", None).unwrap();
        let orders = [
            order("a", "2026-01-05T10:00:00Z", Currency::EUR, 1000),
            order("a", "2026-02-05T10:00:00Z", Currency::EUR, 2000),
            order("a", "2026-02-06T10:00:00Z", Currency::USD, 501),
            order("b", "2026-01-10T10:00:00Z", Currency::EUR, 3000),
            order("c", "2026-02-10T10:00:00Z", Currency::EUR, 700),
            // After the period: ignored.
            order("b", "2026-03-10T10:00:00Z", Currency::EUR, 5000),
        ];
        let refunds = [
            refund("a", "2026-02-20T10:00:00Z", Currency::EUR, 1500),
            refund("b", "2026-03-02T10:00:00Z", Currency::EUR, 999),
            refund("c", "2026-02-20T10:00:00Z", Currency::EUR, 1000),
        ];
        let r = retention(&period, Interval::Month, &orders, &refunds);
        let jan = &r.cohorts[0];
        assert_eq!(jan.start, d("2026-01-01"));
        assert_eq!(
            jan.historical_clv,
            [
                CohortValue {
                    currency: "EUR".into(),
                    customers: 2,
                    net_revenue: 4500,
                    per_customer: 2250
                },
                CohortValue {
                    currency: "USD".into(),
                    customers: 2,
                    net_revenue: 501,
                    per_customer: 251
                },
            ]
        );
        // A refund larger than the cohort's orders: negative, not clamped.
        let feb = &r.cohorts[1];
        assert_eq!(feb.historical_clv[0].net_revenue, -300);
        assert_eq!(feb.historical_clv[0].per_customer, -300);
    }

    /// The cohort counts as first written (each order's bucket found through the time zone),
    /// against the report's (bucket starts found once): the same on random histories around a
    /// DST change, with partial first buckets.
    #[test]
    fn cohort_counts_match_the_direct_definition() {
        use std::collections::HashSet;
        let mut seed = 17u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for round in 0..300 {
            let start = t("2026-02-01T00:00:00Z") + chrono::Duration::hours(next(24 * 40) as i64);
            let end = start + chrono::Duration::hours(1 + next(24 * 120) as i64);
            let tz = ["UTC", "Europe/Madrid", "America/New_York"][round % 3];
            let period = Period::new(start, end, tz.parse().unwrap()).unwrap();
            let interval = if round % 2 == 0 {
                Interval::Week
            } else {
                Interval::Month
            };
            let mut orders = Vec::new();
            for n in 0..next(40) {
                let mut at = t("2026-01-01T00:00:00Z")
                    + chrono::Duration::minutes(next(60 * 24 * 200) as i64);
                if next(3) == 0 {
                    // Exactly at a local midnight: often the first instant of a bucket.
                    at = period.start_of(period.date(at));
                }
                let mut o = order(
                    &format!("c{}", next(12)),
                    "2026-01-01T00:00:00Z",
                    Currency::EUR,
                    100,
                );
                o.placed_at = at;
                o.id = OrderId::parse(format!("o{n}")).unwrap();
                orders.push(o);
            }
            let report = retention(&period, interval, &orders, &[]);
            // The direct definition.
            let mut times: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
            for o in orders.iter().filter(|o| o.placed_at < period.to) {
                times
                    .entry(o.customer_id.as_ref().unwrap().as_str())
                    .or_default()
                    .push(o.placed_at);
            }
            let buckets = period.buckets(interval);
            let mut expected = Vec::new();
            for (i, start) in buckets.iter().enumerate() {
                let members: Vec<&&str> = times
                    .iter()
                    .filter(|(_, ts)| {
                        ts.iter()
                            .min()
                            .filter(|m| **m >= period.from)
                            .map(|m| period.bucket(*m, interval))
                            == Some(*start)
                    })
                    .map(|(c, _)| c)
                    .collect();
                if members.is_empty() {
                    continue;
                }
                let counts: Vec<u64> = buckets[i..]
                    .iter()
                    .map(|b| {
                        members
                            .iter()
                            .filter(|c| {
                                let active: HashSet<NaiveDate> = times[**c]
                                    .iter()
                                    .map(|t| period.bucket(*t, interval))
                                    .collect();
                                active.contains(b)
                            })
                            .count() as u64
                    })
                    .collect();
                expected.push((*start, members.len() as u64, counts));
            }
            let got: Vec<(NaiveDate, u64, Vec<u64>)> = report
                .cohorts
                .iter()
                .map(|c| (c.start, c.size, c.customers_ordering.clone()))
                .collect();
            assert_eq!(got, expected, "round {round}: {period:?} {interval:?}");
        }
    }
}
