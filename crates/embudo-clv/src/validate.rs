//! Calibration/holdout validation: predicted against actual repeat purchases after the
//! calibration end (the paper's table and figures).

use crate::summary::{purchase_days, summarize_days};
use crate::{BgNbdParams, ClvError, Result, Transaction};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Rows of the table: customers with 0, 1, …, 6 and 7 or more calibration repeat purchases.
const ROWS: usize = 8;

/// Predicted against actual repeat purchase days in the holdout period, for the customers of
/// the calibration period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    /// The first day of the holdout period (the day after the calibration end).
    pub start: NaiveDate,
    /// The last day of the holdout period (inclusive).
    pub end: NaiveDate,
    /// Its length in weeks.
    pub weeks: f64,
    /// Calibration customers compared.
    pub customers: usize,
    /// Their purchase days in the holdout period.
    pub actual: u64,
    /// E[Y(weeks) | x, tₓ, T] summed over them.
    pub predicted: f64,
    /// (predicted − actual) / actual; `None` when actual is 0.
    pub relative_error: Option<f64>,
    /// Mean over customers of |predicted − actual|.
    pub mae: f64,
    /// Root mean square over customers of predicted − actual.
    pub rmse: f64,
    /// The same by number of calibration repeat purchases: "0", "1", …, "6", "7+".
    pub by_frequency: Vec<HoldoutRow>,
}

/// One row of the validation table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutRow {
    /// Calibration repeat purchases: "0" … "6", or "7+".
    pub frequency: String,
    /// Customers in the row.
    pub customers: usize,
    /// Their purchase days in the holdout period.
    pub actual: u64,
    /// Their expected purchase days in the holdout period.
    pub predicted: f64,
    /// `actual` per customer (0 for an empty row).
    pub actual_mean: f64,
    /// `predicted` per customer (0 for an empty row).
    pub predicted_mean: f64,
}

/// Compares the BG/NBD predictions of `params` (fitted on the calibration period) with what
/// happened after `calibration_end`.
///
/// The holdout period runs from the day after `calibration_end` to `holdout_end` inclusive, or
/// to the last day of any transaction when `holdout_end` is `None`; transactions after it are
/// ignored. The customers are those whose first purchase is on or before `calibration_end`;
/// their actual count is their purchase days (grouped per day as in calibration) in the holdout
/// period; the prediction is E[Y(t) | x, tₓ, T] with t the holdout length in weeks.
///
/// Returns `None` when no transaction falls in the holdout period. Errors: `BadInput` when
/// `holdout_end` is not after `calibration_end`; `NoCustomers` without calibration customers;
/// the errors of [`crate::summarize`].
pub fn validate(
    params: &BgNbdParams,
    transactions: &[Transaction],
    calibration_end: NaiveDate,
    holdout_end: Option<NaiveDate>,
) -> Result<Option<Holdout>> {
    if let Some(end) = holdout_end {
        if end <= calibration_end {
            return Err(ClvError::BadInput(format!(
                "the holdout end {end} must be after the calibration end {calibration_end}"
            )));
        }
    }
    let days = purchase_days(transactions)?;
    let Some(start) = calibration_end.checked_add_days(Days::new(1)) else {
        return Ok(None);
    };
    let end = match (holdout_end, days.last_day) {
        (Some(end), _) => end,
        (None, Some(last)) if last > calibration_end => last,
        _ => return Ok(None),
    };
    let in_holdout = |d: NaiveDate| d >= start && d <= end;
    let any_later = days
        .customers
        .iter()
        .any(|(_, ds)| ds.iter().any(|&(d, _)| in_holdout(d)));
    if !any_later {
        return Ok(None);
    }
    let weeks = (end - calibration_end).num_days() as f64 / 7.0;
    let mut rows = vec![(0usize, 0u64, 0.0f64); ROWS];
    let (mut customers, mut actual, mut predicted, mut abs, mut sq) = (0, 0u64, 0.0, 0.0, 0.0);
    for (customer, ds) in &days.customers {
        let Some(s) = summarize_days(customer, ds, calibration_end)? else {
            continue;
        };
        let a = ds.iter().filter(|&&(d, _)| in_holdout(d)).count() as u64;
        let p = params.expected_purchases(weeks, s.frequency, s.recency(), s.age())?;
        let row = &mut rows[(s.frequency as usize).min(ROWS - 1)];
        row.0 += 1;
        row.1 += a;
        row.2 += p;
        customers += 1;
        actual += a;
        predicted += p;
        abs += (p - a as f64).abs();
        sq += (p - a as f64).powi(2);
    }
    if customers == 0 {
        return Err(ClvError::NoCustomers);
    }
    let n = customers as f64;
    let by_frequency = rows
        .into_iter()
        .enumerate()
        .map(|(i, (c, a, p))| HoldoutRow {
            frequency: if i == ROWS - 1 {
                format!("{i}+")
            } else {
                i.to_string()
            },
            customers: c,
            actual: a,
            predicted: p,
            actual_mean: if c == 0 { 0.0 } else { a as f64 / c as f64 },
            predicted_mean: if c == 0 { 0.0 } else { p / c as f64 },
        })
        .collect();
    Ok(Some(Holdout {
        start,
        end,
        weeks,
        customers,
        actual,
        predicted,
        relative_error: (actual > 0).then(|| (predicted - actual as f64) / actual as f64),
        mae: abs / n,
        rmse: (sq / n).sqrt(),
        by_frequency,
    }))
}
