//! Everything at once: fit on the calibration period, predict, validate.

use crate::{
    summarize, validate, BgNbdParams, ClvModel, CustomerPrediction, GammaGammaParams, Holdout,
    PredictOptions, Result, Transaction,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What to fit and predict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnalyzeOptions {
    /// The last day (inclusive) of the calibration period: the models see the transactions up
    /// to it, and predictions start after it.
    pub calibration_end: NaiveDate,
    /// The last day (inclusive) of the holdout period; `None`: the last day of any transaction.
    pub holdout_end: Option<NaiveDate>,
    /// The decimal exponent of the money's minor unit (2 for USD).
    pub exponent: u32,
    /// Horizon and discount rate of the predictions.
    pub predict: PredictOptions,
}

impl AnalyzeOptions {
    /// Calibration up to `calibration_end`, holdout to the end of the data, exponent 2, one
    /// year's horizon, no discount.
    pub fn new(calibration_end: NaiveDate) -> Self {
        Self {
            calibration_end,
            holdout_end: None,
            exponent: 2,
            predict: PredictOptions::default(),
        }
    }
}

/// How many customers the models saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerCounts {
    /// Customers with a first purchase up to the calibration end (all fitted by BG/NBD).
    pub total: usize,
    /// Those with at least one repeat purchase day.
    pub repeat: usize,
    /// Those the Gamma-Gamma model was fitted to: repeat purchases of positive mean value.
    pub gamma_gamma: usize,
}

/// The fitted models and the validation, as JSON:
/// `{"bgnbd":{"r","alpha","a","b","log_likelihood"},"gamma_gamma":{"p","q","gamma"},
/// "customers":{"total","repeat","gamma_gamma"},"holdout":{…} or null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClvReport {
    /// The purchase model.
    pub bgnbd: BgNbdParams,
    /// The spend model.
    pub gamma_gamma: GammaGammaParams,
    /// Customer counts.
    pub customers: CustomerCounts,
    /// Predicted against actual purchases after the calibration end; `null` without later data.
    pub holdout: Option<Holdout>,
}

/// The report and the per-customer predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Parameters, counts, validation.
    pub report: ClvReport,
    /// The fitted models (to predict again with other options).
    pub model: ClvModel,
    /// One row per calibration customer, sorted by customer id.
    pub predictions: Vec<CustomerPrediction>,
}

/// Summarises the transactions up to the calibration end, fits both models, predicts every
/// customer from the calibration end and, when there are later transactions, validates the
/// purchase model on them.
pub fn analyze(transactions: &[Transaction], options: &AnalyzeOptions) -> Result<Analysis> {
    let customers = summarize(transactions, options.calibration_end)?;
    let model = ClvModel::fit(&customers, options.exponent)?;
    let predictions = model.predict(&customers, options.calibration_end, &options.predict)?;
    let holdout = validate(
        &model.bgnbd,
        transactions,
        options.calibration_end,
        options.holdout_end,
    )?;
    let counts = CustomerCounts {
        total: customers.len(),
        repeat: customers.iter().filter(|c| c.frequency > 0).count(),
        gamma_gamma: customers
            .iter()
            .filter(|c| c.frequency > 0 && c.repeat_value_minor > 0)
            .count(),
    };
    Ok(Analysis {
        report: ClvReport {
            bgnbd: model.bgnbd,
            gamma_gamma: model.gamma_gamma,
            customers: counts,
            holdout,
        },
        model,
        predictions,
    })
}
