//! `embudo clv fit` and `embudo clv predict`: customer lifetime value (BG/NBD and Gamma-Gamma,
//! `embudo-clv`, `docs/clv.md`) from the orders in the store.
//!
//! Both commands read the same purchase history ([`history`]): the orders of known customers
//! (guest orders belong to nobody who can come back), not cancelled, in one currency, each worth
//! its merchandise less the refunds recorded against it (never below 0), on the UTC day it was
//! placed. What is left out is counted on stderr, without any personal data.
//!
//! - `fit --calibration-end DATE [--holdout-end DATE]` fits both models on the orders up to the
//!   calibration end and, when there are later orders, compares predicted with actual repeat
//!   purchases in the holdout period. `--format json` prints the `ClvReport` as it serialises.
//! - `predict [--calibration-end DATE] [--horizon 365d] [--discount-rate 0.1]` fits the same
//!   way and prints one `CustomerPrediction` per customer (CSV with a header, a JSON array, or
//!   an aligned table).

use crate::settings::Settings;
use anyhow::Context as _;
use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use embudo_clv::{
    summarize, validate, ClvError, ClvModel, ClvReport, CustomerCounts, CustomerPrediction,
    Holdout, PredictOptions,
};
use embudo_core::Currency;
use embudo_intel::history::{purchase_history, History, HistoryError};
use embudo_store::facts::TimeRange;
use embudo_store::Store;
use std::fmt::Write as _;
use std::io::Write as _;

/// The longest horizon the models accept, in days (100 years).
const MAX_HORIZON_DAYS: u32 = 36_525;

/// `embudo clv` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClvCommand {
    /// Fit BG/NBD and Gamma-Gamma on the orders up to a day, and validate on the later ones.
    Fit(FitArgs),
    /// Predict every customer's purchases, churn risk and lifetime value over a horizon.
    Predict(PredictArgs),
}

/// How to print `embudo clv fit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FitFormat {
    /// Aligned text: parameters, customer counts, the holdout table.
    Table,
    /// The report as JSON: `{"bgnbd":…,"gamma_gamma":…,"customers":…,"holdout":…}`.
    Json,
}

/// How to print `embudo clv predict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PredictFormat {
    /// Comma-separated values with a header, one row per customer.
    Csv,
    /// A JSON array, one object per customer.
    Json,
    /// Aligned text columns.
    Table,
}

/// `embudo clv fit` arguments.
#[derive(Debug, Args)]
pub struct FitArgs {
    /// The last day (inclusive, UTC) of the calibration period: the models see the orders up
    /// to it.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub calibration_end: NaiveDate,
    /// The last day (inclusive) of the holdout period [default: the last order day].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub holdout_end: Option<NaiveDate>,
    /// The currency of the orders to use (ISO 4217) [default: the one with the most orders].
    #[arg(long, value_name = "CODE", value_parser = parse_currency)]
    pub currency: Option<Currency>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: FitFormat,
}

/// `embudo clv predict` arguments.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The last day (inclusive, UTC) of the calibration period; predictions start after it
    /// [default: the last order day].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub calibration_end: Option<NaiveDate>,
    /// How far ahead to predict, in days: `365d`.
    #[arg(long, value_name = "DAYS", default_value = "365d", value_parser = parse_horizon)]
    pub horizon: u32,
    /// Annual discount rate of the lifetime value: 0.1 is 10 % a year.
    #[arg(
        long,
        value_name = "RATE",
        default_value = "0",
        allow_negative_numbers = true,
        value_parser = parse_discount_rate
    )]
    pub discount_rate: f64,
    /// The currency of the orders to use (ISO 4217) [default: the one with the most orders].
    #[arg(long, value_name = "CODE", value_parser = parse_currency)]
    pub currency: Option<Currency>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: PredictFormat,
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| format!("not a date like 1997-09-30 ({e})"))
}

fn parse_horizon(text: &str) -> Result<u32, String> {
    let bad = || format!("not a number of days like `365d` (1d to {MAX_HORIZON_DAYS}d)");
    let digits = text.trim().strip_suffix('d').ok_or_else(bad)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match digits.parse::<u32>() {
        Ok(days) if (1..=MAX_HORIZON_DAYS).contains(&days) => Ok(days),
        _ => Err(bad()),
    }
}

fn parse_discount_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| "not a number like 0.1 (10 % a year)".to_string())?;
    if !rate.is_finite() || rate < 0.0 {
        return Err("the annual discount rate must be a finite number >= 0".into());
    }
    Ok(rate)
}

fn parse_currency(text: &str) -> Result<Currency, String> {
    Currency::parse(text.trim()).map_err(|e| e.to_string())
}

/// Runs `embudo clv …`.
pub async fn clv(settings: &Settings, command: ClvCommand) -> anyhow::Result<()> {
    match command {
        ClvCommand::Fit(args) => fit(settings, args).await,
        ClvCommand::Predict(args) => predict(settings, args).await,
    }
}

/// Reads every order and refund from the store (with a spinner on stderr) and makes the
/// [`History`]; prints what was used and left out to stderr.
pub async fn history(
    store: &dyn Store,
    currency: Option<Currency>,
    shop_currency: Currency,
) -> anyhow::Result<History> {
    let spinner = super::spinner("reading orders");
    let orders = store
        .order_facts(TimeRange::all())
        .await
        .context("reading the orders")?;
    spinner.set_message(format!("reading refunds ({} orders read)", orders.len()));
    let refunds = store
        .refund_facts(TimeRange::all())
        .await
        .context("reading the refunds")?;
    spinner.finish_and_clear();
    let history =
        purchase_history(&orders, &refunds, currency, shop_currency).map_err(|e| match e {
            HistoryError::NoOrdersInCurrency { currency, .. } => {
                anyhow::anyhow!("--currency {currency}: {e}")
            }
            other => anyhow::anyhow!(other),
        })?;
    eprintln!("clv: {}", history.describe());
    Ok(history)
}

/// Why the models could not be fitted, in terms of the flags.
fn explain(error: ClvError, calibration_end: NaiveDate, history: &History) -> anyhow::Error {
    match error {
        ClvError::NoCustomers => anyhow::anyhow!(
            "--calibration-end {calibration_end}: no customer has an order on or before it (the orders in {} run from {} to {})",
            history.currency,
            history.first_day,
            history.last_day
        ),
        ClvError::NoRepeatCustomers { model: "BG/NBD" } => anyhow::anyhow!(
            "--calibration-end {calibration_end}: no repeat customers to fit the BG/NBD model: nobody ordered on two different days up to then"
        ),
        ClvError::NoRepeatCustomers { model } => anyhow::anyhow!(
            "--calibration-end {calibration_end}: no repeat customers to fit the {model} model: no customer's repeat orders up to then are worth more than 0"
        ),
        other => anyhow::anyhow!("fitting the models: {other}"),
    }
}

/// Fits both models on the calibration period (in `spawn_blocking`: it is CPU work), with a
/// spinner on stderr. With `prediction`, predicts every customer and leaves the report's
/// holdout out; without, validates on the orders after the calibration end.
async fn fit_models(
    history: History,
    calibration_end: NaiveDate,
    holdout_end: Option<NaiveDate>,
    prediction: Option<PredictOptions>,
) -> anyhow::Result<(ClvReport, Vec<CustomerPrediction>)> {
    let spinner = super::spinner("fitting BG/NBD and Gamma-Gamma");
    let exponent = history.currency.exponent();
    let result = tokio::task::spawn_blocking(move || {
        let run = || -> Result<(ClvReport, Vec<CustomerPrediction>), ClvError> {
            let customers = summarize(&history.transactions, calibration_end)?;
            if customers.is_empty() {
                return Err(ClvError::NoCustomers);
            }
            let model = ClvModel::fit(&customers, exponent)?;
            let (holdout, predictions) = match prediction {
                Some(options) => (
                    None::<Holdout>,
                    model.predict(&customers, calibration_end, &options)?,
                ),
                None => (
                    validate(
                        &model.bgnbd,
                        &history.transactions,
                        calibration_end,
                        holdout_end,
                    )?,
                    Vec::new(),
                ),
            };
            let counts = CustomerCounts {
                total: customers.len(),
                repeat: customers.iter().filter(|c| c.frequency > 0).count(),
                gamma_gamma: customers
                    .iter()
                    .filter(|c| c.frequency > 0 && c.repeat_value_minor > 0)
                    .count(),
            };
            let report = ClvReport {
                bgnbd: model.bgnbd,
                gamma_gamma: model.gamma_gamma,
                customers: counts,
                holdout,
            };
            Ok((report, predictions))
        };
        run().map_err(|e| explain(e, calibration_end, &history))
    })
    .await
    .context("the model fit stopped")?;
    spinner.finish_and_clear();
    result
}

async fn fit(settings: &Settings, args: FitArgs) -> anyhow::Result<()> {
    if let Some(end) = args.holdout_end {
        if end <= args.calibration_end {
            anyhow::bail!(
                "--holdout-end {end} must be after --calibration-end {}",
                args.calibration_end
            );
        }
    }
    let store = super::open_store(settings).await?;
    let history = history(store.as_ref(), args.currency, settings.default_currency).await?;
    let currency = history.currency;
    let (report, _) = fit_models(history, args.calibration_end, args.holdout_end, None).await?;
    let text = match args.format {
        FitFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        FitFormat::Table => fit_table(&report, args.calibration_end, currency),
    };
    write_stdout(text.as_bytes())
}

async fn predict(settings: &Settings, args: PredictArgs) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    let history = history(store.as_ref(), args.currency, settings.default_currency).await?;
    let calibration_end = args.calibration_end.unwrap_or(history.last_day);
    if args.calibration_end.is_none() {
        eprintln!("clv: calibration end {calibration_end} (the last order day)");
    }
    let options = PredictOptions {
        horizon_days: f64::from(args.horizon),
        annual_discount_rate: args.discount_rate,
    };
    let (_, predictions) = fit_models(history, calibration_end, None, Some(options)).await?;
    let text = match args.format {
        PredictFormat::Json => serde_json::to_string_pretty(&predictions)? + "\n",
        PredictFormat::Csv => predictions_csv(&predictions)?,
        PredictFormat::Table => predictions_table(&predictions),
    };
    write_stdout(text.as_bytes())
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

fn predictions_csv(predictions: &[CustomerPrediction]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if predictions.is_empty() {
        writer.write_record(PREDICTION_COLUMNS)?;
    }
    for row in predictions {
        writer.serialize(row)?;
    }
    let bytes = writer.into_inner().context("writing the CSV")?;
    Ok(String::from_utf8(bytes)?)
}

/// The columns of a prediction row, as serialised.
const PREDICTION_COLUMNS: [&str; 11] = [
    "customer",
    "frequency",
    "recency",
    "T",
    "monetary",
    "expected_purchases",
    "p_alive",
    "churn_risk",
    "expected_order_value",
    "predicted_clv",
    "next_order_date",
];

fn predictions_table(predictions: &[CustomerPrediction]) -> String {
    let rows: Vec<Vec<String>> = predictions
        .iter()
        .map(|p| {
            vec![
                p.customer.clone(),
                p.frequency.to_string(),
                format!("{:.2}", p.recency),
                format!("{:.2}", p.age),
                p.monetary.map(|m| format!("{m:.2}")).unwrap_or_default(),
                format!("{:.4}", p.expected_purchases),
                format!("{:.4}", p.p_alive),
                format!("{:.4}", p.churn_risk),
                format!("{:.2}", p.expected_order_value),
                format!("{:.2}", p.predicted_clv),
                p.next_order_date.map(|d| d.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    aligned(&PREDICTION_COLUMNS, &rows, &[0, 10])
}

/// Aligned text: numbers right-aligned, the columns in `left` left-aligned.
fn aligned(columns: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([columns[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        cells
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if left.contains(&i) {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = String::new();
    let _ = writeln!(out, "{}", line(&mut columns.iter().copied()));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let _ = writeln!(out, "{}", line(&mut rule.iter().map(String::as_str)));
    for row in rows {
        let _ = writeln!(out, "{}", line(&mut row.iter().map(String::as_str)));
    }
    out
}

fn fit_table(report: &ClvReport, calibration_end: NaiveDate, currency: Currency) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Calibration: orders in {currency} up to {calibration_end} (inclusive)\n"
    );
    let b = &report.bgnbd;
    let g = &report.gamma_gamma;
    let params = [
        ("BG/NBD", "r", b.r),
        ("BG/NBD", "alpha", b.alpha),
        ("BG/NBD", "a", b.a),
        ("BG/NBD", "b", b.b),
        ("BG/NBD", "log_likelihood", b.log_likelihood),
        ("Gamma-Gamma", "p", g.p),
        ("Gamma-Gamma", "q", g.q),
        ("Gamma-Gamma", "gamma", g.gamma),
    ];
    let rows: Vec<Vec<String>> = params
        .iter()
        .map(|(model, name, value)| vec![model.to_string(), name.to_string(), fmt_param(*value)])
        .collect();
    out.push_str("Parameters\n");
    out.push_str(&aligned(&["model", "parameter", "value"], &rows, &[0, 1]));
    let c = &report.customers;
    let rows = vec![
        vec!["total".to_string(), c.total.to_string()],
        vec!["repeat".to_string(), c.repeat.to_string()],
        vec!["gamma_gamma".to_string(), c.gamma_gamma.to_string()],
    ];
    out.push_str("\nCustomers\n");
    out.push_str(&aligned(&["customers", "count"], &rows, &[0]));
    out.push('\n');
    match &report.holdout {
        None => out.push_str("Holdout: none (no order after the calibration end)\n"),
        Some(h) => {
            let _ = writeln!(
                out,
                "Holdout: {} to {} ({:.2} weeks), {} customers: repeat purchases (purchase days) predicted against actual",
                h.start, h.end, h.weeks, h.customers
            );
            let mut rows: Vec<Vec<String>> = h
                .by_frequency
                .iter()
                .map(|r| {
                    vec![
                        r.frequency.clone(),
                        r.customers.to_string(),
                        r.actual.to_string(),
                        format!("{:.2}", r.predicted),
                        format!("{:.3}", r.actual_mean),
                        format!("{:.3}", r.predicted_mean),
                        relative(r.predicted, r.actual),
                    ]
                })
                .collect();
            let n = h.customers.max(1) as f64;
            rows.push(vec![
                "total".to_string(),
                h.customers.to_string(),
                h.actual.to_string(),
                format!("{:.2}", h.predicted),
                format!("{:.3}", h.actual as f64 / n),
                format!("{:.3}", h.predicted / n),
                relative(h.predicted, h.actual),
            ]);
            out.push_str(&aligned(
                &[
                    "calibration repeat purchases",
                    "customers",
                    "actual",
                    "predicted",
                    "actual mean",
                    "predicted mean",
                    "error",
                ],
                &rows,
                &[0],
            ));
            let _ = writeln!(
                out,
                "\nError: {} in total; per customer MAE {:.3}, RMSE {:.3}",
                h.relative_error
                    .map(|e| format!("{:+.2} %", 100.0 * e))
                    .unwrap_or_else(|| "n/a (no actual purchases)".into()),
                h.mae,
                h.rmse
            );
        }
    }
    out
}

/// (predicted − actual) / actual as a percentage, blank when actual is 0.
fn relative(predicted: f64, actual: u64) -> String {
    if actual == 0 {
        String::new()
    } else {
        format!(
            "{:+.1} %",
            100.0 * (predicted - actual as f64) / actual as f64
        )
    }
}

/// A parameter with 6 significant digits (at least 2 decimals).
fn fmt_param(value: f64) -> String {
    let magnitude = if value == 0.0 || !value.is_finite() {
        0
    } else {
        value.abs().log10().floor() as i32
    };
    let decimals = (5 - magnitude).clamp(2, 12) as usize;
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_parsed_strictly() {
        assert_eq!(parse_horizon("365d"), Ok(365));
        assert!(parse_horizon("365").is_err());
        assert!(parse_horizon("0d").is_err());
        assert!(parse_horizon("-5d").is_err());
        assert!(parse_horizon("40000d").is_err());
        assert_eq!(parse_discount_rate("0.1"), Ok(0.1));
        assert!(parse_discount_rate("-0.1").is_err());
        assert!(parse_discount_rate("NaN").is_err());
        assert!(parse_date("1997-09-30").is_ok());
        assert!(parse_date("1997-13-01").is_err());
        assert_eq!(fmt_param(0.242595123), "0.242595");
        assert_eq!(fmt_param(-9582.4291), "-9582.43");
    }
}
