//! Embudo's analytics engine.
//!
//! Reports are pure functions of the shop's history as [`embudo_store::facts`] rows (events,
//! orders, refunds, customers) and of their parameters; [`run`] reads the rows a report needs
//! from a [`embudo_store::Store`] and computes it. Every definition is written down in
//! `docs/analytics.md`; the API (`GET /v1/analytics/{report}`) and the CLI (`embudo report`)
//! print exactly what these functions return.
#![deny(missing_docs)]

pub mod abandonment;
pub mod columnar;
pub mod funnel;
pub mod growth;
pub mod live;
pub mod params;
pub mod period;
pub mod report;
pub mod retention;
pub mod revenue;
pub mod rfm;
pub mod traffic;

pub use params::{Breakdown, ParamError};
pub use period::{Interval, Period};

use embudo_store::facts::CustomerFact;
use std::collections::HashMap;

/// Customers by person key (`c:<id>`), for breakdowns by country and customer type.
pub type Customers = HashMap<String, CustomerFact>;

/// Builds [`Customers`] from the store's rows.
pub fn customers_by_person(customers: Vec<CustomerFact>) -> Customers {
    customers.into_iter().map(|c| (c.person(), c)).collect()
}

/// `num / den` rounded to 6 decimals; `None` when `den` is 0.
pub fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| (num as f64 / den as f64 * 1e6).round() / 1e6)
}

/// `amount / n` in whole minor units, rounded half away from zero; 0 when `n` is 0.
pub fn div_round(amount: i64, n: i64) -> i64 {
    if n == 0 {
        return 0;
    }
    let (q, r) = (amount / n, amount % n);
    if 2 * r.abs() >= n.abs() {
        q + if (amount < 0) == (n < 0) { 1 } else { -1 }
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rounding() {
        assert_eq!(super::div_round(10, 4), 3);
        assert_eq!(super::div_round(-10, 4), -3);
        assert_eq!(super::div_round(9, 4), 2);
        assert_eq!(super::div_round(7, 0), 0);
        assert_eq!(super::ratio(1, 3), Some(0.333333));
        assert_eq!(super::ratio(1, 0), None);
    }
}
