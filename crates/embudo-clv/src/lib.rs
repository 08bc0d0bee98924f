//! Customer lifetime value: BG/NBD and Gamma-Gamma.
//!
//! Pure functions of a shop's purchase history, no database:
//!
//! - [`summarize`] turns transactions into one [`CustomerSummary`] per customer (frequency,
//!   recency, age, repeat spend), with the conventions of Fader, Hardie & Lee (2005): time in
//!   weeks, purchases grouped per customer per day, recency and age from the first purchase;
//! - [`BgNbd::fit`] fits the BG/NBD model ("Counting your customers the easy way") by maximum
//!   likelihood: expected number of future purchases and the probability a customer is alive;
//! - [`GammaGamma::fit`] fits the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and
//!   CLV: using iso-value curves"): expected value of a purchase;
//! - [`ClvModel::predict`] gives each customer's [`CustomerPrediction`]: expected purchases in
//!   a horizon, probability alive, churn risk, expected order value, predicted CLV (optionally
//!   discounted) and the expected date of the next order;
//! - [`validate`] compares predicted with actual repeat purchases in a holdout period, in total
//!   and by number of calibration repeat purchases (the paper's validation table);
//! - [`analyze`] does all of it: fit on the calibration period, predict, validate when later
//!   data exists, and return a serialisable [`ClvReport`] with the per-customer rows.
//!
//! Money comes in as integer minor units with a decimal exponent; it becomes `f64` only inside
//! the models. The definitions, formulas and conventions are in `docs/clv.md`.
//!
//! ```
//! use embudo_clv::BgNbdParams;
//!
//! // The paper's estimates on the CDNOW sample.
//! let model = BgNbdParams { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426, log_likelihood: 0.0 };
//! // Two repeat purchases, the last 30.43 weeks after the first, first purchase 38.86 weeks ago:
//! let alive = model.p_alive(2, 30.43, 38.86);
//! let next_year = model.expected_purchases(365.0 / 7.0, 2, 30.43, 38.86).unwrap();
//! assert!((0.72..0.74).contains(&alive));
//! assert!((1.5..1.6).contains(&next_year));
//! ```
#![deny(missing_docs)]

mod bgnbd;
mod gamma_gamma;
mod optimize;
mod predict;
mod report;
mod special;
mod summary;
mod validate;

pub use bgnbd::{BgNbd, BgNbdParams};
pub use gamma_gamma::{GammaGamma, GammaGammaParams};
pub use predict::{ClvModel, CustomerPrediction, PredictOptions, DAYS_PER_WEEK};
pub use report::{analyze, Analysis, AnalyzeOptions, ClvReport, CustomerCounts};
pub use special::hyp2f1;
pub use summary::{summarize, CustomerSummary, Transaction};
pub use validate::{validate, Holdout, HoldoutRow};

/// What can go wrong fitting or using the models. Data never makes this crate panic: every
/// problem with the input is one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClvError {
    /// There is no customer with a purchase up to the calibration end.
    #[error("no customers: no purchase up to the calibration end")]
    NoCustomers,
    /// Nobody to fit the model to: BG/NBD needs at least one customer with a repeat purchase,
    /// Gamma-Gamma at least one with repeat purchases of positive mean value.
    #[error("no repeat customers to fit the {model} model")]
    NoRepeatCustomers {
        /// `"BG/NBD"` or `"Gamma-Gamma"`.
        model: &'static str,
    },
    /// The maximum-likelihood optimisation (or a series) did not converge.
    #[error("{what} did not converge after {iterations} iterations")]
    NotConverged {
        /// What did not converge: `"BG/NBD fit"`, `"Gamma-Gamma fit"`, `"2F1 series"`.
        what: &'static str,
        /// How many iterations (or series terms) were tried.
        iterations: usize,
    },
    /// A transaction has a negative value: refunds must be netted out before.
    #[error("transaction of customer {customer:?} on {date} has a negative value ({value_minor})")]
    NegativeValue {
        /// The customer.
        customer: String,
        /// The day of the transaction.
        date: chrono::NaiveDate,
        /// Its value in minor units.
        value_minor: i64,
    },
    /// An argument is out of its domain (horizon ≤ 0, negative discount rate, holdout end not
    /// after the calibration end, values that overflow, …).
    #[error("bad input: {0}")]
    BadInput(String),
}

/// The crate's result type.
pub type Result<T, E = ClvError> = std::result::Result<T, E>;
