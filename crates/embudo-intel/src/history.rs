//! A shop's orders as the lifetime value models read them: the orders of known customers (guest
//! orders belong to nobody who can come back), not cancelled, in one currency, each worth its
//! merchandise less the refunds recorded against it (never below 0), on the UTC day it was
//! placed. What is left out is counted, without any personal data.

use chrono::NaiveDate;
use embudo_clv::Transaction;
use embudo_core::Currency;
use embudo_store::facts::{OrderFact, RefundFact};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Why there is no history to model.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// No order in the currency asked for.
    #[error("no orders of known customers in {currency} (found: {found})")]
    NoOrdersInCurrency {
        /// The currency asked for.
        currency: Currency,
        /// The orders found per currency.
        found: String,
    },
    /// No order at all.
    #[error("no orders to fit: the store has no orders of known customers that are not cancelled ({orders} orders in all: {guest_orders} guest orders, {cancelled_orders} cancelled)")]
    NoOrders {
        /// Orders in the store.
        orders: usize,
        /// Of which guest orders.
        guest_orders: u64,
        /// Of which cancelled.
        cancelled_orders: u64,
    },
}

/// The purchase history the models see, and what was left out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The currency of every transaction.
    pub currency: Currency,
    /// One per order used: the customer, the UTC day it was placed, its value net of refunds.
    pub transactions: Vec<Transaction>,
    /// Distinct customers among them.
    pub customers: usize,
    /// The first and last days of the transactions.
    pub first_day: NaiveDate,
    /// See `first_day`.
    pub last_day: NaiveDate,
    /// Orders left out: guest orders (no customer).
    pub guest_orders: u64,
    /// Orders left out: cancelled orders of known customers.
    pub cancelled_orders: u64,
    /// Orders left out: orders of known customers in other currencies, by currency code.
    pub other_currencies: BTreeMap<&'static str, u64>,
    /// Used orders whose refunds took their value to 0 or below (counted, kept at 0).
    pub refunded_to_zero: u64,
    /// Refunds not recorded against an order, which could not be netted out.
    pub refunds_without_order: u64,
}

impl History {
    /// The counts, for stderr: no ids, no personal data.
    pub fn describe(&self) -> String {
        let other: u64 = self.other_currencies.values().sum();
        let mut text = format!(
            "{} orders of {} customers in {}, {} to {}; left out: {} guest orders (no customer), {} cancelled, {} in other currencies",
            self.transactions.len(),
            self.customers,
            self.currency,
            self.first_day,
            self.last_day,
            self.guest_orders,
            self.cancelled_orders,
            other,
        );
        if other > 0 {
            let list: Vec<String> = self
                .other_currencies
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect();
            let _ = write!(text, " ({})", list.join(", "));
        }
        if self.refunded_to_zero > 0 {
            let _ = write!(
                text,
                "; {} orders refunded in full count as purchases worth 0",
                self.refunded_to_zero
            );
        }
        if self.refunds_without_order > 0 {
            let _ = write!(
                text,
                "; {} refunds not recorded against an order were not netted out",
                self.refunds_without_order
            );
        }
        text
    }
}

/// Turns the store's orders and refunds into the models' transactions (see the module
/// documentation). `currency`: the one asked for, or `None` for the currency with the most
/// orders of known customers (ties: the shop's default currency, then the first code).
pub fn purchase_history(
    orders: &[OrderFact],
    refunds: &[RefundFact],
    currency: Option<Currency>,
    shop_currency: Currency,
) -> Result<History, HistoryError> {
    let mut guest_orders = 0u64;
    let mut cancelled_orders = 0u64;
    let mut per_currency: BTreeMap<&'static str, (Currency, u64)> = BTreeMap::new();
    let mut eligible = Vec::with_capacity(orders.len());
    for order in orders {
        let Some(customer) = &order.customer_id else {
            guest_orders += 1;
            continue;
        };
        if order.cancelled {
            cancelled_orders += 1;
            continue;
        }
        per_currency
            .entry(order.currency.code())
            .or_insert((order.currency, 0))
            .1 += 1;
        eligible.push((order, customer));
    }
    let currency = match currency {
        Some(c) => {
            if !per_currency.contains_key(c.code()) {
                let found: Vec<String> = per_currency
                    .iter()
                    .map(|(code, (_, n))| format!("{code} {n}"))
                    .collect();
                return Err(HistoryError::NoOrdersInCurrency {
                    currency: c,
                    found: if found.is_empty() {
                        "none".to_string()
                    } else {
                        found.join(", ")
                    },
                });
            }
            c
        }
        None => match per_currency
            .values()
            .max_by_key(|(c, n)| (*n, *c == shop_currency, std::cmp::Reverse(c.code())))
        {
            Some((c, _)) => *c,
            None => {
                return Err(HistoryError::NoOrders {
                    orders: orders.len(),
                    guest_orders,
                    cancelled_orders,
                })
            }
        },
    };
    let mut refunded: HashMap<&str, i64> = HashMap::new();
    let mut refunds_without_order = 0u64;
    for refund in refunds {
        match &refund.order_id {
            Some(id) if refund.currency == currency => {
                let sum = refunded.entry(id.as_str()).or_insert(0);
                *sum = sum.saturating_add(refund.amount);
            }
            Some(_) => {}
            None => refunds_without_order += 1,
        }
    }
    let mut other_currencies = BTreeMap::new();
    let mut transactions = Vec::with_capacity(eligible.len());
    let mut refunded_to_zero = 0u64;
    for (order, customer) in eligible {
        if order.currency != currency {
            *other_currencies.entry(order.currency.code()).or_insert(0) += 1;
            continue;
        }
        let refund = refunded.get(order.id.as_str()).copied().unwrap_or(0);
        let value = order.merchandise.saturating_sub(refund);
        if refund > 0 && value <= 0 {
            refunded_to_zero += 1;
        }
        transactions.push(Transaction {
            customer: customer.as_str().to_owned(),
            at: order.placed_at.date_naive(),
            value_minor: value.max(0),
        });
    }
    let mut customers: Vec<&str> = transactions.iter().map(|t| t.customer.as_str()).collect();
    customers.sort_unstable();
    customers.dedup();
    let customers = customers.len();
    // Not empty: the chosen currency has at least one eligible order.
    let first_day = transactions.iter().map(|t| t.at).min().unwrap_or_default();
    let last_day = transactions.iter().map(|t| t.at).max().unwrap_or_default();
    Ok(History {
        currency,
        transactions,
        customers,
        first_day,
        last_day,
        guest_orders,
        cancelled_orders,
        other_currencies,
        refunded_to_zero,
        refunds_without_order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use embudo_core::{CustomerId, OrderId};

    fn order(id: &str, customer: Option<&str>, day: u32, currency: Currency) -> OrderFact {
        OrderFact {
            id: OrderId::parse(id).unwrap(),
            customer_id: customer.map(|c| CustomerId::parse(c).unwrap()),
            person: format!("o:{id}"),
            placed_at: Utc.with_ymd_and_hms(2026, 3, day, 23, 30, 0).unwrap(),
            currency,
            merchandise: 1000,
            total: 1200,
            source: None,
            medium: None,
            campaign: None,
            cancelled: false,
            lines: Vec::new(),
        }
    }

    fn refund(order: Option<&str>, amount: i64, currency: Currency) -> RefundFact {
        RefundFact {
            order_id: order.map(|o| OrderId::parse(o).unwrap()),
            customer_id: None,
            at: Utc.with_ymd_and_hms(2026, 3, 20, 0, 0, 0).unwrap(),
            currency,
            amount,
        }
    }

    #[test]
    fn history_keeps_customers_orders_in_one_currency_net_of_refunds() {
        let eur = Currency::EUR;
        let mut cancelled = order("o4", Some("ann"), 4, eur);
        cancelled.cancelled = true;
        let orders = vec![
            order("o1", Some("ann"), 1, eur),
            order("o2", Some("bob"), 2, eur),
            order("o3", None, 3, eur),
            cancelled,
            order("o5", Some("ann"), 5, Currency::USD),
            order("o6", Some("bob"), 6, eur),
        ];
        let refunds = vec![
            refund(Some("o1"), 300, eur),
            refund(Some("o1"), 200, eur),
            refund(Some("o2"), 5000, eur),
            refund(None, 100, eur),
        ];
        let h = purchase_history(&orders, &refunds, None, Currency::GBP).unwrap();
        assert_eq!(h.currency, eur);
        let values: Vec<(&str, u32, i64)> = h
            .transactions
            .iter()
            .map(|t| {
                (
                    t.customer.as_str(),
                    chrono::Datelike::day(&t.at),
                    t.value_minor,
                )
            })
            .collect();
        assert_eq!(
            values,
            vec![("ann", 1, 500), ("bob", 2, 0), ("bob", 6, 1000)]
        );
        assert_eq!((h.customers, h.guest_orders, h.cancelled_orders), (2, 1, 1));
        assert_eq!(h.other_currencies, BTreeMap::from([("USD", 1)]));
        assert_eq!((h.refunded_to_zero, h.refunds_without_order), (1, 1));
        let text = h.describe();
        assert!(!text.contains("ann") && text.contains("USD 1"), "{text}");

        let usd = purchase_history(&orders, &refunds, Some(Currency::USD), eur).unwrap();
        assert_eq!(usd.transactions.len(), 1);
        assert_eq!(usd.other_currencies, BTreeMap::from([("EUR", 3)]));
        let err = purchase_history(&orders, &[], Some(Currency::GBP), eur).unwrap_err();
        assert!(err.to_string().contains("in GBP"), "{err}");
        let err = purchase_history(&orders[2..3], &[], None, eur).unwrap_err();
        assert!(err.to_string().contains("no orders"), "{err}");

        // A tie goes to the shop's currency.
        let tie = [
            order("a", Some("x"), 1, eur),
            order("b", Some("y"), 1, Currency::USD),
        ];
        let h = purchase_history(&tie, &[], None, Currency::USD).unwrap();
        assert_eq!(h.currency, Currency::USD);
    }
}
