//! Per-customer predictions: expected purchases, P(alive), expected order value, CLV and the
//! expected date of the next order.

use crate::{BgNbd, BgNbdParams, ClvError, CustomerSummary, GammaGamma, GammaGammaParams, Result};
use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Days per week: the models' time unit is the week.
pub const DAYS_PER_WEEK: f64 = 7.0;

/// Days per year, for discounting.
const DAYS_PER_YEAR: f64 = 365.25;

/// The CLV's time step: a month of 365.25 / 12 days.
const DAYS_PER_MONTH: f64 = DAYS_PER_YEAR / 12.0;

/// The longest horizon accepted: 100 years.
const MAX_HORIZON_DAYS: f64 = 100.0 * DAYS_PER_YEAR;

/// How far ahead to predict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PredictOptions {
    /// The horizon in days (default 365): expected purchases and CLV are over the next
    /// `horizon_days`, and the next order date is sought within it. Must be in (0, 36525].
    pub horizon_days: f64,
    /// Annual discount rate for the CLV (default 0: undiscounted); 0.1 means 10 % a year.
    /// Must be ≥ 0.
    pub annual_discount_rate: f64,
}

impl Default for PredictOptions {
    fn default() -> Self {
        Self {
            horizon_days: 365.0,
            annual_discount_rate: 0.0,
        }
    }
}

impl PredictOptions {
    fn check(&self) -> Result<()> {
        let h = self.horizon_days;
        if !(h > 0.0 && h <= MAX_HORIZON_DAYS) {
            return Err(ClvError::BadInput(format!(
                "the horizon must be more than 0 and at most {MAX_HORIZON_DAYS} days, got {h}"
            )));
        }
        let d = self.annual_discount_rate;
        if !(d.is_finite() && d >= 0.0) {
            return Err(ClvError::BadInput(format!(
                "the annual discount rate must be finite and >= 0, got {d}"
            )));
        }
        Ok(())
    }
}

/// One customer's predictions: a flat row, ready for CSV (`None` is an empty field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerPrediction {
    /// The customer's id.
    pub customer: String,
    /// x: repeat purchase days in the calibration period.
    pub frequency: u32,
    /// tₓ in weeks.
    pub recency: f64,
    /// T in weeks.
    #[serde(rename = "T")]
    pub age: f64,
    /// Mean value of the repeat purchase days (major units), empty without repeat purchases.
    pub monetary: Option<f64>,
    /// Expected number of purchase days in the horizon.
    pub expected_purchases: f64,
    /// Probability that the customer is still active at the calibration end.
    pub p_alive: f64,
    /// 1 − `p_alive`.
    pub churn_risk: f64,
    /// Expected value of one future purchase day (major units): the Gamma-Gamma conditional
    /// mean for customers with repeat purchases, the population mean for the others.
    pub expected_order_value: f64,
    /// Predicted value of the customer's purchases in the horizon (major units, discounted at
    /// the annual rate).
    pub predicted_clv: f64,
    /// The day by which the expected number of purchases reaches 1, empty if not within the
    /// horizon.
    pub next_order_date: Option<NaiveDate>,
}

/// The two fitted models together, ready to predict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvModel {
    /// The purchase model.
    pub bgnbd: BgNbdParams,
    /// The spend model.
    pub gamma_gamma: GammaGammaParams,
    /// The expected value of a purchase of a customer without repeat purchases, in major
    /// units: the Gamma-Gamma population mean pγ / (q − 1), or, when q ≤ 1 makes that
    /// infinite, the mean z̄ of the customers the spend model was fitted to.
    pub mean_value: f64,
    /// The decimal exponent of the money's minor unit (2 for USD).
    pub exponent: u32,
}

impl ClvModel {
    /// Fits both models to calibration summaries; `exponent` converts minor units (2 for USD).
    pub fn fit(customers: &[CustomerSummary], exponent: u32) -> Result<Self> {
        let bgnbd = BgNbd::fit(customers)?;
        let gamma_gamma = GammaGamma::fit(customers, exponent)?;
        let mean_value = match gamma_gamma.population_mean() {
            Some(m) => m,
            None => {
                let values: Vec<f64> = customers
                    .iter()
                    .filter(|c| c.repeat_value_minor > 0)
                    .filter_map(|c| c.monetary(exponent))
                    .collect();
                values.iter().sum::<f64>() / values.len() as f64
            }
        };
        Ok(Self {
            bgnbd,
            gamma_gamma,
            mean_value,
            exponent,
        })
    }

    /// The expected value of a purchase day of this customer (major units): the Gamma-Gamma
    /// conditional mean E[Z | x, z̄] for a customer with repeat purchases (also when they were
    /// worth 0 in total: z̄ = 0 pulls it below the population mean, more so the more such
    /// purchases), [`ClvModel::mean_value`] for a customer without.
    pub fn expected_order_value(&self, customer: &CustomerSummary) -> f64 {
        match customer.monetary(self.exponent) {
            Some(m) => self
                .gamma_gamma
                .expected_value(customer.frequency, m)
                .unwrap_or(self.mean_value),
            None => self.mean_value,
        }
    }

    /// The expected number of purchase days of `customer` in the next `days` days.
    pub fn expected_purchases(&self, customer: &CustomerSummary, days: f64) -> Result<f64> {
        self.bgnbd.expected_purchases(
            days / DAYS_PER_WEEK,
            customer.frequency,
            customer.recency(),
            customer.age(),
        )
    }

    /// The predicted value of the customer's purchases over the horizon:
    /// Σₖ (E[Y(tₖ)] − E[Y(tₖ₋₁)]) · (1 + d)^(−tₖ / 365.25) · expected order value, over monthly
    /// steps tₖ = min(k · 365.25 / 12, horizon) days (the last step may be shorter), d the
    /// annual discount rate.
    pub fn clv(&self, customer: &CustomerSummary, options: &PredictOptions) -> Result<f64> {
        options.check()?;
        self.clv_checked(customer, options, self.expected_order_value(customer))
    }

    fn clv_checked(
        &self,
        customer: &CustomerSummary,
        options: &PredictOptions,
        value: f64,
    ) -> Result<f64> {
        let h = options.horizon_days;
        let steps = ((h / DAYS_PER_MONTH) - 1e-9).ceil().max(1.0) as usize;
        let ln_discount = options.annual_discount_rate.ln_1p();
        let (mut total, mut previous) = (0.0, 0.0);
        for k in 1..=steps {
            let t = (k as f64 * DAYS_PER_MONTH).min(h);
            let e = self.expected_purchases(customer, t)?;
            total += (e - previous) * (-ln_discount * t / DAYS_PER_YEAR).exp();
            previous = e;
        }
        Ok(total * value)
    }

    /// The day by which the customer's expected number of purchases reaches 1: `as_of` (the
    /// calibration end) + ⌈t*⌉ days where E[Y(t*)] = 1, or `None` when E[Y(horizon)] < 1.
    pub fn next_order_date(
        &self,
        customer: &CustomerSummary,
        as_of: NaiveDate,
        options: &PredictOptions,
    ) -> Result<Option<NaiveDate>> {
        options.check()?;
        let at_horizon = self.expected_purchases(customer, options.horizon_days)?;
        self.next_order_checked(customer, as_of, options.horizon_days, at_horizon)
    }

    fn next_order_checked(
        &self,
        customer: &CustomerSummary,
        as_of: NaiveDate,
        horizon: f64,
        at_horizon: f64,
    ) -> Result<Option<NaiveDate>> {
        if at_horizon < 1.0 {
            return Ok(None);
        }
        // E[Y(t)] increases with t: bisect to a hundredth of a day.
        let (mut lo, mut hi) = (0.0, horizon);
        while hi - lo > 0.01 {
            let mid = 0.5 * (lo + hi);
            if self.expected_purchases(customer, mid)? >= 1.0 {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let days = (hi - 1e-9).ceil().max(1.0) as u64;
        Ok(as_of.checked_add_days(Days::new(days)))
    }

    /// All the predictions for one customer, `as_of` being the calibration end.
    pub fn predict_one(
        &self,
        customer: &CustomerSummary,
        as_of: NaiveDate,
        options: &PredictOptions,
    ) -> Result<CustomerPrediction> {
        options.check()?;
        let h = options.horizon_days;
        let expected_purchases = self.expected_purchases(customer, h)?;
        let p_alive = self
            .bgnbd
            .p_alive(customer.frequency, customer.recency(), customer.age());
        let expected_order_value = self.expected_order_value(customer);
        Ok(CustomerPrediction {
            customer: customer.customer.clone(),
            frequency: customer.frequency,
            recency: customer.recency(),
            age: customer.age(),
            monetary: customer.monetary(self.exponent),
            expected_purchases,
            p_alive,
            churn_risk: 1.0 - p_alive,
            expected_order_value,
            predicted_clv: self.clv_checked(customer, options, expected_order_value)?,
            next_order_date: self.next_order_checked(customer, as_of, h, expected_purchases)?,
        })
    }

    /// [`predict_one`](Self::predict_one) for every customer, in the given order.
    pub fn predict(
        &self,
        customers: &[CustomerSummary],
        as_of: NaiveDate,
        options: &PredictOptions,
    ) -> Result<Vec<CustomerPrediction>> {
        options.check()?;
        customers
            .iter()
            .map(|c| self.predict_one(c, as_of, options))
            .collect()
    }
}
