//! From transactions to per-customer summaries (frequency, recency, age, repeat spend).

use crate::{ClvError, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One order (or any purchase) of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The customer's id.
    pub customer: String,
    /// The shop-local day of the purchase. Several purchases on one day are one purchase day.
    pub at: NaiveDate,
    /// The purchase's value in minor units (cents for USD); zero is allowed, negative is not.
    pub value_minor: i64,
}

/// A customer's calibration-period history, as the models see it.
///
/// Purchases are grouped per day: a purchase day is a day with at least one transaction, its
/// value the sum of that day's values. Times are whole days from the first purchase day; the
/// models read them in weeks (days / 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// The customer's id.
    pub customer: String,
    /// The first purchase day.
    pub first_purchase: NaiveDate,
    /// The last purchase day up to the calibration end.
    pub last_purchase: NaiveDate,
    /// x: the number of repeat purchase days (purchase days after the first).
    pub frequency: u32,
    /// tₓ in days: last purchase day − first purchase day (0 when `frequency` is 0).
    pub recency_days: u32,
    /// T in days: calibration end − first purchase day.
    pub age_days: u32,
    /// Sum of the values of the repeat purchase days (the first purchase day excluded), in
    /// minor units.
    pub repeat_value_minor: i64,
}

impl CustomerSummary {
    /// tₓ in weeks.
    pub fn recency(&self) -> f64 {
        f64::from(self.recency_days) / 7.0
    }

    /// T in weeks.
    pub fn age(&self) -> f64 {
        f64::from(self.age_days) / 7.0
    }

    /// The mean value of the repeat purchase days in major units (minor units / 10^exponent),
    /// or `None` without repeat purchases. The first purchase is excluded, as in the
    /// Gamma-Gamma papers.
    pub fn monetary(&self, exponent: u32) -> Option<f64> {
        (self.frequency > 0).then(|| {
            self.repeat_value_minor as f64 / f64::from(self.frequency) / 10f64.powi(exponent as i32)
        })
    }
}

/// Purchase days per customer: (day, summed value), sorted by day; customers sorted by id.
pub(crate) struct Days<'a> {
    pub customers: Vec<(&'a str, Vec<(NaiveDate, i64)>)>,
    /// The latest day of any transaction.
    pub last_day: Option<NaiveDate>,
}

/// Groups transactions per customer per day. Negative values are an error; sums that overflow
/// `i64` too.
pub(crate) fn purchase_days(transactions: &[Transaction]) -> Result<Days<'_>> {
    let mut by_customer: HashMap<&str, Vec<(NaiveDate, i64)>> = HashMap::new();
    let mut last_day = None;
    for t in transactions {
        if t.value_minor < 0 {
            return Err(ClvError::NegativeValue {
                customer: t.customer.clone(),
                date: t.at,
                value_minor: t.value_minor,
            });
        }
        by_customer
            .entry(t.customer.as_str())
            .or_default()
            .push((t.at, t.value_minor));
        last_day = last_day.max(Some(t.at));
    }
    let mut customers = Vec::with_capacity(by_customer.len());
    for (customer, mut rows) in by_customer {
        rows.sort_unstable_by_key(|r| r.0);
        let mut days: Vec<(NaiveDate, i64)> = Vec::with_capacity(rows.len());
        for (day, value) in rows {
            match days.last_mut() {
                Some(last) if last.0 == day => {
                    last.1 = last
                        .1
                        .checked_add(value)
                        .ok_or_else(|| overflow(customer))?;
                }
                _ => days.push((day, value)),
            }
        }
        customers.push((customer, days));
    }
    customers.sort_unstable_by(|a, b| a.0.cmp(b.0));
    Ok(Days {
        customers,
        last_day,
    })
}

fn overflow(customer: &str) -> ClvError {
    ClvError::BadInput(format!("the values of customer {customer:?} overflow i64"))
}

/// The summary of one customer's purchase days up to `calibration_end` (inclusive), or `None`
/// when the first purchase is after it.
pub(crate) fn summarize_days(
    customer: &str,
    days: &[(NaiveDate, i64)],
    calibration_end: NaiveDate,
) -> Result<Option<CustomerSummary>> {
    let Some(&(first, _)) = days.first() else {
        return Ok(None);
    };
    if first > calibration_end {
        return Ok(None);
    }
    let calibration = days.partition_point(|d| d.0 <= calibration_end);
    let last = days[calibration - 1].0;
    let mut repeat_value: i64 = 0;
    for &(_, value) in &days[1..calibration] {
        repeat_value = repeat_value
            .checked_add(value)
            .ok_or_else(|| overflow(customer))?;
    }
    let span = |from: NaiveDate, to: NaiveDate| {
        u32::try_from((to - from).num_days()).map_err(|_| {
            ClvError::BadInput(format!("dates of customer {customer:?} span too long"))
        })
    };
    Ok(Some(CustomerSummary {
        customer: customer.to_owned(),
        first_purchase: first,
        last_purchase: last,
        frequency: u32::try_from(calibration - 1).map_err(|_| {
            ClvError::BadInput(format!("customer {customer:?} has too many purchases"))
        })?,
        recency_days: span(first, last)?,
        age_days: span(first, calibration_end)?,
        repeat_value_minor: repeat_value,
    }))
}

/// One summary per customer whose first purchase is on or before `calibration_end` (the
/// inclusive last day of the calibration period), sorted by customer id; later transactions
/// are ignored.
///
/// - purchases are grouped per customer per day: several orders on one day are one purchase
///   day, their values summed;
/// - `frequency` x is the number of purchase days after the first, `recency_days` tₓ the days
///   from the first to the last purchase day, `age_days` T the days from the first purchase day
///   to `calibration_end` (a customer whose first purchase is on `calibration_end` has T = 0);
/// - `repeat_value_minor` sums the repeat purchase days' values; orders worth 0 count as
///   purchases and add 0.
///
/// Errors: `NegativeValue` for a transaction below 0, `BadInput` when values overflow.
pub fn summarize(
    transactions: &[Transaction],
    calibration_end: NaiveDate,
) -> Result<Vec<CustomerSummary>> {
    let days = purchase_days(transactions)?;
    let mut out = Vec::with_capacity(days.customers.len());
    for (customer, days) in &days.customers {
        if let Some(s) = summarize_days(customer, days, calibration_end)? {
            out.push(s);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn t(customer: &str, at: &str, value_minor: i64) -> Transaction {
        Transaction {
            customer: customer.into(),
            at: d(at),
            value_minor,
        }
    }

    #[test]
    fn groups_per_day_and_excludes_the_first_purchase_from_spend() {
        let tx = vec![
            t("b", "2024-01-10", 500),
            t("a", "2024-01-01", 1000),
            t("a", "2024-01-01", 250),
            t("a", "2024-01-08", 0),
            t("a", "2024-01-15", 300),
            t("a", "2024-01-15", 100),
            t("a", "2024-02-01", 9999), // after the calibration end
            t("c", "2024-02-01", 100),  // first purchase after it: not a customer yet
        ];
        let s = summarize(&tx, d("2024-01-29")).unwrap();
        assert_eq!(s.len(), 2);
        let a = &s[0];
        assert_eq!(a.customer, "a");
        assert_eq!((a.frequency, a.recency_days, a.age_days), (2, 14, 28));
        assert_eq!(a.repeat_value_minor, 400);
        assert_eq!(a.monetary(2), Some(2.0));
        assert_eq!((a.recency(), a.age()), (2.0, 4.0));
        let b = &s[1];
        assert_eq!((b.frequency, b.recency_days, b.age_days), (0, 0, 19));
        assert_eq!(b.monetary(2), None);
    }

    #[test]
    fn rejects_negative_values_and_overflow() {
        let err = summarize(&[t("a", "2024-01-01", -1)], d("2024-02-01")).unwrap_err();
        assert!(matches!(err, ClvError::NegativeValue { .. }));
        let tx = [
            t("a", "2024-01-01", 1),
            t("a", "2024-01-02", i64::MAX),
            t("a", "2024-01-02", 1),
        ];
        assert!(matches!(
            summarize(&tx, d("2024-02-01")),
            Err(ClvError::BadInput(_))
        ));
    }
}
