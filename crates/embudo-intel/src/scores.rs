//! The scores job: every customer's RFM scores, lifetime value predictions and VIP flag,
//! computed from the whole order history and stored with the customer
//! ([`embudo_store::Store::put_scores`]), where segments read them.
//!
//! - **Predictions** (BG/NBD + Gamma-Gamma, `docs/clv.md`): fitted on every purchase of the
//!   modelled currency up to now (the calibration period ends today), then per customer: the
//!   probability of being alive and churn risk, expected orders in the next 30, 90 and 365
//!   days, expected order value, predicted lifetime value over the horizon, expected next
//!   order date.
//! - **RFM** (`docs/segments.md`): as `embudo report rfm` over the 365 days up to now, in the
//!   modelled currency.
//! - **VIP**: the top share (default 10 %) of customers with orders by predicted lifetime
//!   value. Minimum data rule: predictions are used only when the model could be fitted, at
//!   least [`ScoresOptions::min_repeat_customers`] customers bought again, and the history spans
//!   at least [`ScoresOptions::min_history_days`] days; otherwise the ranking uses historical
//!   value (net revenue to date), and the report and every customer's scores say so. Ties at
//!   the cut are broken by customer id, so the group has exactly `ceil(share × customers)`
//!   members.
//!
//! Customers without orders in the modelled currency get no scores (their row is removed when
//! they had one), so no stale prediction survives.

use crate::history::purchase_history;
use crate::segments::SegmentEngine;
use chrono::{DateTime, NaiveDate, Utc};
use embudo_analytics::rfm::rfm_inputs;
use embudo_analytics::Period;
use embudo_clv::{
    summarize, BgNbd, BgNbdParams, ClvModel, ClvReport, CustomerCounts, CustomerSummary,
    PredictOptions,
};
use embudo_core::{Currency, CustomerId, Money};
use embudo_segments::{rfm_scores, Predictions, RfmScore};
use embudo_store::facts::TimeRange;
use embudo_store::intel::{CustomerScores, MembershipChange};
use embudo_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// The key of the VIP segment, kept by this job.
pub const VIP_SEGMENT: &str = "vip";

/// What is stored per customer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// The currency the scores are in.
    pub currency: Option<Currency>,
    /// RFM scores over the last 365 days (absent without an order then).
    pub rfm: Option<RfmScore>,
    /// Model predictions (absent when the model could not be fitted).
    pub predictions: Option<Predictions>,
    /// The expected date of the next order, when within the horizon.
    pub next_order_date: Option<NaiveDate>,
    /// Net revenue to date, in minor units of `currency`.
    pub historical_value: i64,
    /// Whether the customer is in the VIP group.
    pub vip: bool,
    /// What the VIP ranking used: `predicted_clv` or `historical_value`.
    pub vip_basis: String,
}

/// Settings of the job.
#[derive(Debug, Clone)]
pub struct ScoresOptions {
    /// The currency modelled (default: the one with the most orders).
    pub currency: Option<Currency>,
    /// Predicted lifetime value horizon, in days.
    pub horizon_days: f64,
    /// Annual discount rate of predicted lifetime value.
    pub annual_discount_rate: f64,
    /// The share of customers in the VIP group (0–1).
    pub vip_share: f64,
    /// Below this many repeat customers, VIP falls back to historical value.
    pub min_repeat_customers: usize,
    /// Below this span of history, in days, VIP falls back to historical value.
    pub min_history_days: i64,
}

impl Default for ScoresOptions {
    fn default() -> Self {
        Self {
            currency: None,
            horizon_days: 365.0,
            annual_discount_rate: 0.0,
            vip_share: 0.10,
            min_repeat_customers: 50,
            min_history_days: 90,
        }
    }
}

/// What the job did.
#[derive(Debug, Clone, Serialize)]
pub struct ScoresReport {
    /// When.
    pub computed_at: DateTime<Utc>,
    /// The currency modelled (absent without orders).
    pub currency: Option<String>,
    /// Customers scored.
    pub customers: usize,
    /// The fitted models (absent when they could not be fitted).
    pub model: Option<ClvReport>,
    /// Why there is no model, if there is none.
    pub model_error: Option<String>,
    /// VIP members.
    pub vip: usize,
    /// `predicted_clv` or `historical_value`.
    pub vip_basis: String,
    /// Why VIP fell back to historical value, if it did.
    pub vip_fallback: Option<String>,
    /// The orders modelled and those left out (counts).
    pub history: Option<String>,
    /// Segment memberships changed as a result (VIP and the segments that read scores).
    pub membership_changes: u64,
}

/// Why the job failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoresError {
    /// The options are wrong.
    #[error("{0}")]
    Options(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Scores every customer now, stores the scores, keeps the VIP segment, and (with `engine`)
/// re-evaluates the segments that read scores.
pub async fn refresh_scores(
    store: &dyn Store,
    engine: Option<&SegmentEngine>,
    now: DateTime<Utc>,
    shop_currency: Currency,
    options: &ScoresOptions,
) -> Result<ScoresReport, ScoresError> {
    if !(options.vip_share > 0.0 && options.vip_share <= 1.0) {
        return Err(ScoresError::Options(format!(
            "the VIP share must be above 0 and at most 1, not {}",
            options.vip_share
        )));
    }
    let orders = store.order_facts(TimeRange::until(now)).await?;
    let refunds = store.refund_facts(TimeRange::until(now)).await?;
    let mut report = ScoresReport {
        computed_at: now,
        currency: None,
        customers: 0,
        model: None,
        model_error: None,
        vip: 0,
        vip_basis: "historical_value".into(),
        vip_fallback: None,
        history: None,
        membership_changes: 0,
    };
    let bought = match purchase_history(&orders, &refunds, options.currency, shop_currency) {
        Ok(bought) => bought,
        Err(e) => {
            report.model_error = Some(e.to_string());
            return Ok(report);
        }
    };
    let currency = bought.currency;
    report.currency = Some(currency.code().to_owned());
    report.history = Some(bought.describe());
    let today = now.date_naive();
    let summaries = summarize(&bought.transactions, today).unwrap_or_default();

    // The model, when it can be fitted.
    let predict = PredictOptions {
        horizon_days: options.horizon_days,
        annual_discount_rate: options.annual_discount_rate,
    };
    let model = match ClvModel::fit(&summaries, currency.exponent()) {
        Ok(model) => Some(Model::Full(model)),
        Err(e) => {
            report.model_error = Some(e.to_string());
            // Without a spend model the purchase model still predicts who is alive and how
            // often they buy; order values are then the customer's own mean, else everybody's.
            BgNbd::fit(&summaries).ok().map(|bgnbd| {
                let values: Vec<f64> = summaries
                    .iter()
                    .filter_map(|c| c.monetary(currency.exponent()))
                    .filter(|v| *v > 0.0)
                    .collect();
                let mean_value = if values.is_empty() {
                    0.0
                } else {
                    values.iter().sum::<f64>() / values.len() as f64
                };
                Model::PurchasesOnly { bgnbd, mean_value }
            })
        }
    };
    let mut by_customer: BTreeMap<String, Scores> = BTreeMap::new();
    let mut clv: BTreeMap<String, f64> = BTreeMap::new();
    for summary in &summaries {
        let scores = by_customer.entry(summary.customer.clone()).or_default();
        scores.currency = Some(currency);
        if let Some(model) = &model {
            if let Some((predictions, next, value)) =
                predictions(model, summary, today, &predict, currency)
            {
                scores.predictions = Some(predictions);
                scores.next_order_date = next;
                clv.insert(summary.customer.clone(), value);
            }
        }
    }
    for t in &bought.transactions {
        if let Some(scores) = by_customer.get_mut(&t.customer) {
            scores.historical_value = scores.historical_value.saturating_add(t.value_minor);
        }
    }
    if let Some(Model::Full(model)) = &model {
        let repeat = summaries.iter().filter(|s| s.frequency > 0).count();
        let gamma_gamma = summaries
            .iter()
            .filter(|s| s.frequency > 0 && s.repeat_value_minor > 0)
            .count();
        report.model = Some(ClvReport {
            bgnbd: model.bgnbd,
            gamma_gamma: model.gamma_gamma,
            customers: CustomerCounts {
                total: summaries.len(),
                repeat,
                gamma_gamma,
            },
            holdout: None,
        });
    }

    // RFM over the last 365 days, as the report computes it.
    let period_from = now - chrono::Duration::days(365);
    if let Ok(period) = Period::new(period_from, now, chrono_tz::Tz::UTC) {
        if let Some((_, inputs)) = rfm_inputs(&period, &orders, &refunds).remove(currency.code()) {
            for (input, score) in inputs.iter().zip(rfm_scores(&inputs, now)) {
                by_customer
                    .entry(input.customer.as_str().to_owned())
                    .or_default()
                    .rfm = Some(score);
            }
        }
    }

    // VIP.
    let repeat = summaries.iter().filter(|s| s.frequency > 0).count();
    let first = bought.transactions.iter().map(|t| t.at).min();
    let span = first.map_or(0, |f| (today - f).num_days());
    let fallback = if !matches!(model, Some(Model::Full(_))) {
        Some("the lifetime value model could not be fitted".to_owned())
    } else if repeat < options.min_repeat_customers {
        Some(format!(
            "only {repeat} customers bought twice or more (at least {} needed)",
            options.min_repeat_customers
        ))
    } else if span < options.min_history_days {
        Some(format!(
            "the history spans {span} days (at least {} needed)",
            options.min_history_days
        ))
    } else {
        None
    };
    let basis = if fallback.is_none() {
        "predicted_clv"
    } else {
        "historical_value"
    };
    let mut ranked: Vec<(f64, &String)> = by_customer
        .iter()
        .map(|(id, s)| {
            let value = match fallback {
                None => clv.get(id).copied().unwrap_or(0.0),
                Some(_) => s.historical_value as f64,
            };
            (value, id)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let members = (options.vip_share * ranked.len() as f64).ceil() as usize;
    let vip: HashSet<String> = ranked
        .iter()
        .take(members)
        .map(|(_, id)| (*id).clone())
        .collect();
    for (id, scores) in by_customer.iter_mut() {
        scores.vip = vip.contains(id);
        scores.vip_basis = basis.to_owned();
    }
    report.vip = vip.len();
    report.vip_basis = basis.to_owned();
    report.vip_fallback = fallback;
    report.customers = by_customer.len();

    // Store: every scored customer, and nothing left over for the others.
    let mut rows = Vec::with_capacity(by_customer.len());
    for (id, scores) in &by_customer {
        let Ok(customer_id) = CustomerId::parse(id.as_str()) else {
            continue;
        };
        rows.push(CustomerScores {
            customer_id,
            computed_at: now,
            scores: serde_json::to_value(scores).unwrap_or_default(),
        });
    }
    let stale: Vec<CustomerId> = store
        .all_scores()
        .await?
        .into_iter()
        .filter(|s| !by_customer.contains_key(s.customer_id.as_str()))
        .map(|s| s.customer_id)
        .collect();
    store.put_scores(&rows).await?;
    if !stale.is_empty() {
        store.delete_scores(&stale).await?;
    }

    // The VIP segment.
    let current: HashSet<String> = store
        .member_ids(VIP_SEGMENT)
        .await?
        .into_iter()
        .map(|id| id.as_str().to_owned())
        .collect();
    let mut changes = Vec::new();
    for id in vip.difference(&current) {
        if let Ok(customer_id) = CustomerId::parse(id.as_str()) {
            changes.push(MembershipChange {
                segment: VIP_SEGMENT.into(),
                customer_id,
                entered: true,
                at: now,
            });
        }
    }
    for id in current.difference(&vip) {
        if let Ok(customer_id) = CustomerId::parse(id.as_str()) {
            changes.push(MembershipChange {
                segment: VIP_SEGMENT.into(),
                customer_id,
                entered: false,
                at: now,
            });
        }
    }
    if let Some(engine) = engine {
        engine.ensure_vip_segment(now).await?;
    }
    report.membership_changes = store.change_memberships(&changes).await?;
    if let Some(engine) = engine {
        engine.reload_scores().await?;
        let stats = engine.recompute_scored(now).await?;
        report.membership_changes += stats.entered + stats.left;
    }
    Ok(report)
}

/// The models fitted.
enum Model {
    /// BG/NBD and Gamma-Gamma.
    Full(ClvModel),
    /// BG/NBD alone (the spend model could not be fitted), with the mean order value.
    PurchasesOnly { bgnbd: BgNbdParams, mean_value: f64 },
}

/// One customer's predictions, next order date and predicted value (in major units).
fn predictions(
    model: &Model,
    summary: &CustomerSummary,
    today: NaiveDate,
    options: &PredictOptions,
    currency: Currency,
) -> Option<(Predictions, Option<NaiveDate>, f64)> {
    let money = |major: f64| {
        let minor = (major * 10f64.powi(currency.exponent() as i32)).round();
        minor
            .is_finite()
            .then(|| Money::new(minor as i64, currency))
    };
    let model = match model {
        Model::Full(model) => model,
        Model::PurchasesOnly { bgnbd, mean_value } => {
            let (x, recency, age) = (summary.frequency, summary.recency(), summary.age());
            let expected = |days: f64| bgnbd.expected_purchases(days / 7.0, x, recency, age).ok();
            let p_alive = bgnbd.p_alive(x, recency, age);
            let value = summary
                .monetary(currency.exponent())
                .filter(|v| *v > 0.0)
                .unwrap_or(*mean_value);
            let clv = expected(options.horizon_days)? * value;
            return Some((
                Predictions {
                    p_alive: Some(p_alive),
                    churn_risk: Some(1.0 - p_alive),
                    expected_orders_30d: expected(30.0),
                    expected_orders_90d: expected(90.0),
                    expected_orders_365d: expected(365.0),
                    predicted_clv: money(clv),
                    expected_order_value: money(value),
                },
                None,
                clv,
            ));
        }
    };
    let one = model.predict_one(summary, today, options).ok()?;
    let expected = |days: f64| model.expected_purchases(summary, days).ok();
    Some((
        Predictions {
            p_alive: Some(one.p_alive),
            churn_risk: Some(one.churn_risk),
            expected_orders_30d: expected(30.0),
            expected_orders_90d: expected(90.0),
            expected_orders_365d: expected(365.0),
            predicted_clv: money(one.predicted_clv),
            expected_order_value: money(one.expected_order_value),
        },
        one.next_order_date,
        one.predicted_clv,
    ))
}
