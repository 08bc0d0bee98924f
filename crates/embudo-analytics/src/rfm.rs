//! The RFM report: recency, frequency and monetary scores of the customers who ordered in the
//! period, and how many fall in each named group, per currency.
//!
//! # Definitions
//!
//! - The customers scored are the known customers (`c:` person keys) with at least one order
//!   in the period that is not cancelled. Guest orders are left out: a guest is not a customer
//!   one can win back.
//! - Recency is measured at the end of the period (`to`), in whole days since the customer's
//!   last order in the period; frequency is their number of orders in the period; monetary is
//!   the merchandise of those orders minus the refunds recorded against them (the refunds made
//!   up to `to`), never below 0 per order.
//! - Currencies are never mixed: each currency's customers (by the currency of their orders) are
//!   scored among themselves; a customer who ordered in two currencies is scored in both.
//! - Scores are quintiles by rank, equal values sharing a score, and the eleven named groups
//!   come from recency and the mean of frequency and monetary (`docs/segments.md`, "RFM").
//! - Without `from`, the period is the 365 days before `to` (the report's usual 30 days are too
//!   short a history for RFM).

use crate::period::Period;
use chrono::{DateTime, Utc};
use embudo_core::{Currency, CustomerId};
use embudo_segments::{rfm_report, rfm_scores, RfmInput, RfmReport};
use embudo_store::facts::{OrderFact, RefundFact};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One currency's RFM report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RfmCurrency {
    /// The currency (ISO 4217 code).
    #[schema(value_type = String)]
    pub currency: Currency,
    /// Its customers' scores and groups.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub report: RfmReport,
}

/// The RFM report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RfmOut {
    /// When recency is measured: the end of the period.
    pub as_of: DateTime<Utc>,
    /// One report per currency, by code.
    pub currencies: Vec<RfmCurrency>,
}

/// A customer's orders in one currency: the currency, the customer, the last order, how many,
/// and their net value.
type Acc = (Currency, CustomerId, DateTime<Utc>, u64, i64);

/// The RFM inputs per currency: the period's orders (not cancelled, of known customers) net of
/// their refunds made up to the end of the period.
pub fn rfm_inputs(
    period: &Period,
    orders: &[OrderFact],
    refunds: &[RefundFact],
) -> BTreeMap<&'static str, (Currency, Vec<RfmInput>)> {
    let mut refunded: HashMap<&str, i64> = HashMap::new();
    for refund in refunds.iter().filter(|r| r.at < period.to) {
        if let Some(order) = &refund.order_id {
            *refunded.entry(order.as_str()).or_default() += refund.amount;
        }
    }
    // (currency, customer) → (last order, orders, monetary).
    let mut acc: BTreeMap<(&'static str, &str), Acc> = BTreeMap::new();
    for order in orders {
        if order.cancelled || order.placed_at < period.from || order.placed_at >= period.to {
            continue;
        }
        let Some(customer) = &order.customer_id else {
            continue;
        };
        let net =
            (order.merchandise - refunded.get(order.id.as_str()).copied().unwrap_or(0)).max(0);
        let entry = acc
            .entry((order.currency.code(), customer.as_str()))
            .or_insert((order.currency, customer.clone(), order.placed_at, 0, 0));
        entry.2 = entry.2.max(order.placed_at);
        entry.3 += 1;
        entry.4 = entry.4.saturating_add(net);
    }
    let mut out: BTreeMap<&'static str, (Currency, Vec<RfmInput>)> = BTreeMap::new();
    for ((code, _), (currency, customer, last, count, monetary)) in acc {
        out.entry(code)
            .or_insert_with(|| (currency, Vec::new()))
            .1
            .push(RfmInput {
                customer,
                last_order_at: last,
                orders: count,
                monetary_minor: monetary,
            });
    }
    out
}

/// The RFM report over `orders` and `refunds` (any superset of the period's).
pub fn rfm(period: &Period, orders: &[OrderFact], refunds: &[RefundFact]) -> RfmOut {
    let now = period.to;
    RfmOut {
        as_of: now,
        currencies: rfm_inputs(period, orders, refunds)
            .into_values()
            .map(|(currency, inputs)| {
                let scores = rfm_scores(&inputs, now);
                RfmCurrency {
                    currency,
                    report: rfm_report(&inputs, &scores, now),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use embudo_core::OrderId;

    fn order(id: &str, customer: Option<&str>, days_ago: i64, amount: i64, eur: bool) -> OrderFact {
        let to = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        OrderFact {
            id: OrderId::parse(id).unwrap(),
            customer_id: customer.map(|c| CustomerId::parse(c).unwrap()),
            person: customer.map_or(format!("o:{id}"), |c| format!("c:{c}")),
            placed_at: to - Duration::days(days_ago),
            currency: if eur {
                Currency::EUR
            } else {
                Currency::parse("USD").unwrap()
            },
            merchandise: amount,
            total: amount,
            source: None,
            medium: None,
            campaign: None,
            cancelled: false,
            lines: Vec::new(),
        }
    }

    #[test]
    fn customers_per_currency_net_of_refunds() {
        let period = Period::parse("2025-06-01", "2026-06-01", None).unwrap();
        let mut cancelled = order("x", Some("a"), 3, 999, true);
        cancelled.cancelled = true;
        let orders = vec![
            order("1", Some("a"), 10, 1000, true),
            order("2", Some("a"), 5, 500, true),
            order("3", Some("b"), 100, 300, true),
            order("4", None, 1, 700, true),
            order("5", Some("a"), 2, 100, false),
            order("6", Some("c"), 400, 100, true),
            cancelled,
        ];
        let refunds = vec![RefundFact {
            order_id: Some(OrderId::parse("2").unwrap()),
            customer_id: None,
            at: Utc.with_ymd_and_hms(2026, 5, 30, 0, 0, 0).unwrap(),
            currency: Currency::EUR,
            amount: 800,
        }];
        let inputs = rfm_inputs(&period, &orders, &refunds);
        let (_, eur) = &inputs["EUR"];
        assert_eq!(
            eur.len(),
            2,
            "the guest, the cancelled order and the old order are out"
        );
        let a = eur.iter().find(|i| i.customer.as_str() == "a").unwrap();
        assert_eq!(
            (a.orders, a.monetary_minor),
            (2, 1000),
            "a refund never takes an order below 0"
        );
        assert_eq!(inputs["USD"].1.len(), 1);
        let out = rfm(&period, &orders, &refunds);
        assert_eq!(out.currencies.len(), 2);
        assert_eq!(out.currencies[0].report.customers, 2);
    }
}
