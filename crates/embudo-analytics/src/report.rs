//! Running a report against a store: parameters in (as text, from a query string or the
//! command line), JSON out. The API and the CLI both call [`run`], so they print the same.

use crate::abandonment::abandonment;
use crate::funnel::{dropped, funnel, FunnelMode, FunnelSpec};
use crate::growth::{growth, GrowthInput};
use crate::params::{parse_duration, Breakdown, Compare, ParamError};
use crate::period::{parse_tz, start_of, Interval, Period};
use crate::retention::retention;
use crate::revenue::revenue;
use crate::rfm::rfm;
use crate::traffic::traffic;
use crate::{customers_by_person, Customers};
use chrono::{DateTime, Days, Duration, Utc};
use embudo_core::Currency;
use embudo_store::facts::{EventQuery, TimeRange};
use embudo_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// The reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Conversion funnel.
    Funnel,
    /// The people who dropped out of a funnel at a step.
    FunnelPeople,
    /// Visitors, sessions, views and conversion.
    Traffic,
    /// Revenue, refunds, orders, average order value.
    Revenue,
    /// The revenue figures against a comparison period.
    Growth,
    /// Cohorts, repeat purchase, retention and churn, lifetime value.
    Retention,
    /// Cart abandonment and recovery.
    Abandonment,
    /// Recency, frequency and monetary scores and groups.
    Rfm,
}

impl ReportKind {
    /// Every report.
    pub const ALL: [ReportKind; 8] = [
        ReportKind::Funnel,
        ReportKind::FunnelPeople,
        ReportKind::Traffic,
        ReportKind::Revenue,
        ReportKind::Growth,
        ReportKind::Retention,
        ReportKind::Abandonment,
        ReportKind::Rfm,
    ];

    /// The name in the API path and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReportKind::Funnel => "funnel",
            ReportKind::FunnelPeople => "funnel_people",
            ReportKind::Traffic => "traffic",
            ReportKind::Revenue => "revenue",
            ReportKind::Growth => "growth",
            ReportKind::Retention => "retention",
            ReportKind::Abandonment => "abandonment",
            ReportKind::Rfm => "rfm",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportKind {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, ParamError> {
        let s = s.replace('-', "_");
        ReportKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                ParamError::new(
                    "report",
                    format!(
                        "unknown report `{s}`; one of: {}",
                        ReportKind::ALL.map(|k| k.as_str()).join(", ")
                    ),
                )
            })
    }
}

/// A report's parameters as text, exactly as the API's query string and the CLI's flags name
/// them. Everything is optional; see `docs/analytics.md` for the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start, inclusive: a date (midnight in `tz`) or an RFC 3339 time. Default: 30 days
    /// before `to`.
    pub from: Option<String>,
    /// End, exclusive. Default: the end of today in `tz`.
    pub to: Option<String>,
    /// IANA time zone of dates and buckets. Default UTC.
    pub tz: Option<String>,
    /// `previous` or `previous_year`: adds the same report over that period as `comparison`
    /// (growth compares with `previous` by default).
    pub compare: Option<String>,
    /// `day`, `week` or `month`.
    pub interval: Option<String>,
    /// Breakdown: category, product, source, medium, campaign, device, country, customer_type.
    pub by: Option<String>,
    /// Funnel steps, comma-separated event names.
    pub steps: Option<String>,
    /// Funnel conversion window, e.g. `14d` (default).
    pub window: Option<String>,
    /// Funnel mode: `ordered` (default), `strict` or `any`.
    pub mode: Option<String>,
    /// Cart abandonment timeout, e.g. `24h` (default).
    pub timeout: Option<String>,
    /// Funnel people: the step (1-based) people dropped out after.
    pub step: Option<String>,
    /// Funnel people: only this breakdown value.
    pub value: Option<String>,
    /// Funnel people: the last person key of the previous page.
    pub after: Option<String>,
    /// Funnel people: page size (default 100, at most 1000).
    pub limit: Option<String>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A parameter is wrong.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn opt<T: FromStr<Err = ParamError>>(value: &Option<String>) -> Result<Option<T>, ParamError> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().parse())
        .transpose()
}

impl ReportQuery {
    /// The report's period (defaults: the 30 days up to the end of today, UTC).
    pub fn period(&self, now: DateTime<Utc>) -> Result<Period, ParamError> {
        self.period_with(now, 30)
    }

    /// The period of `kind`: RFM looks back 365 days by default.
    pub fn period_for(&self, kind: ReportKind, now: DateTime<Utc>) -> Result<Period, ParamError> {
        self.period_with(now, if kind == ReportKind::Rfm { 365 } else { 30 })
    }

    fn period_with(&self, now: DateTime<Utc>, days: u64) -> Result<Period, ParamError> {
        let tz = parse_tz(self.tz.as_deref())?;
        let to = match self.to.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(to) => crate::period::parse_bound("to", to, tz)?,
            None => start_of(now.with_timezone(&tz).date_naive() + Days::new(1), tz),
        };
        let from = match self.from.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(from) => crate::period::parse_bound("from", from, tz)?,
            None => start_of(to.with_timezone(&tz).date_naive() - Days::new(days), tz),
        };
        Period::new(from, to, tz)
    }

    pub(crate) fn compare(&self) -> Result<Option<Compare>, ParamError> {
        opt(&self.compare)
    }

    pub(crate) fn interval(&self) -> Result<Option<Interval>, ParamError> {
        opt(&self.interval)
    }

    pub(crate) fn by(&self) -> Result<Option<Breakdown>, ParamError> {
        opt(&self.by)
    }

    /// Funnel people: the step (1-based) and the page size.
    pub(crate) fn dropped_page(&self, spec: &FunnelSpec) -> Result<(usize, usize), ParamError> {
        let step: usize = match self.step.as_deref() {
            Some(s) => s
                .trim()
                .parse()
                .map_err(|_| ParamError::new("step", format!("`{s}` is not a step number")))?,
            None => {
                return Err(ParamError::new(
                    "step",
                    "is required: the step (1-based) people dropped out after",
                ))
            }
        };
        if step == 0 || step >= spec.steps.len() {
            return Err(ParamError::new(
                "step",
                format!(
                    "must be between 1 and {} (the last step has no drop-out)",
                    spec.steps.len() - 1
                ),
            ));
        }
        let limit: usize = match self.limit.as_deref() {
            Some(l) => l
                .trim()
                .parse()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| ParamError::new("limit", "must be a whole number from 1 to 1000"))?,
            None => 100,
        };
        Ok((step, limit))
    }

    /// Retention: the cohort interval (monthly by default; never daily).
    pub(crate) fn cohort_interval(&self) -> Result<Interval, ParamError> {
        let interval = self.interval()?.unwrap_or(Interval::Month);
        if interval == Interval::Day {
            return Err(ParamError::new(
                "interval",
                "retention cohorts are weekly or monthly",
            ));
        }
        Ok(interval)
    }

    /// Cart abandonment: the timeout (24 hours by default).
    pub(crate) fn timeout(&self) -> Result<Duration, ParamError> {
        match self.timeout.as_deref() {
            Some(t) => parse_duration("timeout", t),
            None => Ok(Duration::hours(24)),
        }
    }

    /// The funnel this query asks for.
    pub fn funnel_spec(&self) -> Result<FunnelSpec, ParamError> {
        let steps = match self.steps.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(steps) => steps.split(',').map(|s| s.trim().to_owned()).collect(),
            None => FunnelSpec::default_steps(),
        };
        let window = match self.window.as_deref() {
            Some(w) => parse_duration("window", w)?,
            None => Duration::days(14),
        };
        let mode: FunnelMode = opt(&self.mode)?.unwrap_or(FunnelMode::Ordered);
        let spec = FunnelSpec {
            steps,
            window,
            mode,
            by: self.by()?,
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// What every report needs besides its parameters.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The current time (abandonment: carts whose timeout has not passed are open).
    pub now: DateTime<Utc>,
    /// The currency of event amounts that name none.
    pub default_currency: Currency,
}

/// Runs `kind` with `query` against `store`, as JSON: the report's own fields, `period`
/// (`from`, `to`, `tz`), and with `compare`, the same report over the comparison period as
/// `comparison`.
pub async fn run(
    store: &dyn Store,
    kind: ReportKind,
    query: &ReportQuery,
    context: Context,
) -> Result<Value, ReportError> {
    let period = query.period_for(kind, context.now)?;
    let compare = query.compare()?;
    let mut out = one(store, kind, query, &period, compare, context).await?;
    if let (Some(compare), true) = (
        compare,
        !matches!(kind, ReportKind::Growth | ReportKind::FunnelPeople),
    ) {
        let previous = period.compare(compare);
        let comparison = one(store, kind, query, &previous, None, context).await?;
        out["comparison"] = comparison;
    }
    Ok(out)
}

pub(crate) fn period_json(period: &Period) -> Value {
    json!({"from": period.from.to_rfc3339(), "to": period.to.to_rfc3339(), "tz": period.tz.name()})
}

async fn customers(store: &dyn Store) -> Result<Customers, StoreError> {
    Ok(customers_by_person(store.customer_facts().await?))
}

/// Whether a breakdown needs the events' product details.
fn needs_details(by: Option<Breakdown>) -> bool {
    matches!(by, Some(Breakdown::Product | Breakdown::Category))
}

async fn one(
    store: &dyn Store,
    kind: ReportKind,
    query: &ReportQuery,
    period: &Period,
    compare: Option<Compare>,
    context: Context,
) -> Result<Value, ReportError> {
    let mut out = match kind {
        ReportKind::Funnel | ReportKind::FunnelPeople => {
            let spec = query.funnel_spec()?;
            let events = store
                .event_facts(&EventQuery {
                    range: TimeRange::new(period.from, period.to + spec.window),
                    names: spec.steps.clone(),
                    details: needs_details(spec.by),
                    seqs: None,
                })
                .await?;
            let customers = match spec.by {
                Some(Breakdown::CustomerType) => customers(store).await?,
                _ => HashMap::new(),
            };
            if kind == ReportKind::Funnel {
                to_json(&funnel(period, &spec, &events, &customers))
            } else {
                let (step, limit) = query.dropped_page(&spec)?;
                to_json(&dropped(
                    period,
                    &spec,
                    &events,
                    &customers,
                    step,
                    query.value.as_deref(),
                    query.after.as_deref(),
                    limit,
                ))
            }
        }
        ReportKind::Traffic => {
            let events = store
                .event_facts(&EventQuery {
                    range: period.range(),
                    names: Vec::new(),
                    details: needs_details(query.by()?),
                    seqs: None,
                })
                .await?;
            let orders = store.order_facts(period.range()).await?;
            let customers = customers(store).await?;
            to_json(&traffic(
                period,
                query.interval()?,
                query.by()?,
                &events,
                &orders,
                &customers,
            ))
        }
        ReportKind::Revenue => {
            let orders = store.order_facts(period.range()).await?;
            let refunds = store.refund_facts(period.range()).await?;
            let visitors = store.count_people(period.range()).await?;
            let customers = customers(store).await?;
            to_json(&revenue(
                period,
                query.interval()?.unwrap_or(Interval::Day),
                query.by()?,
                &orders,
                &refunds,
                visitors,
                &customers,
            ))
        }
        ReportKind::Growth => {
            let previous = period.compare(compare.unwrap_or(Compare::Previous));
            let history = store.order_facts(TimeRange::until(period.to)).await?;
            let mut first_order_at = HashMap::new();
            for order in history.iter().filter(|o| !o.cancelled) {
                first_order_at
                    .entry(order.person.clone())
                    .or_insert(order.placed_at);
            }
            let mut input = Vec::new();
            for p in [period, &previous] {
                let orders: Vec<_> = history
                    .iter()
                    .filter(|o| p.range().contains(o.placed_at))
                    .cloned()
                    .collect();
                let refunds = store.refund_facts(p.range()).await?;
                let visitors = store.count_people(p.range()).await?;
                input.push((orders, refunds, visitors));
            }
            let inputs: Vec<GrowthInput<'_>> = input
                .iter()
                .map(|(orders, refunds, visitors)| GrowthInput {
                    orders,
                    refunds,
                    visitors: *visitors,
                    first_order_at: &first_order_at,
                })
                .collect();
            to_json(&growth(period, &previous, &inputs[0], &inputs[1]))
        }
        ReportKind::Retention => {
            let interval = query.cohort_interval()?;
            let orders = store.order_facts(TimeRange::until(period.to)).await?;
            let refunds = store.refund_facts(TimeRange::until(period.to)).await?;
            to_json(&retention(period, interval, &orders, &refunds))
        }
        ReportKind::Abandonment => {
            let timeout = query.timeout()?;
            let now = context.now.max(period.from);
            let events = store
                .event_facts(&EventQuery {
                    range: TimeRange::new(period.from, now),
                    names: vec!["Product Added".into(), "Product Removed".into()],
                    details: true,
                    seqs: None,
                })
                .await?;
            let orders = store.order_facts(TimeRange::new(period.from, now)).await?;
            to_json(&abandonment(
                period,
                timeout,
                now,
                &events,
                &orders,
                context.default_currency,
            ))
        }
        ReportKind::Rfm => {
            let orders = store.order_facts(period.range()).await?;
            let refunds = store.refund_facts(TimeRange::until(period.to)).await?;
            to_json(&rfm(period, &orders, &refunds))
        }
    };
    if let Value::Object(map) = &mut out {
        map.insert("report".into(), Value::String(kind.as_str().into()));
        map.insert("period".into(), period_json(period));
    }
    Ok(out)
}

pub(crate) fn to_json<T: Serialize>(report: &T) -> Value {
    serde_json::to_value(report).unwrap_or(Value::Null)
}

impl ReportQuery {
    /// Builds a query from name/value pairs (a decoded query string), refusing unknown and
    /// repeated names.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ParamError> {
        let mut query = ReportQuery::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "from" => &mut query.from,
                "to" => &mut query.to,
                "tz" => &mut query.tz,
                "compare" => &mut query.compare,
                "interval" => &mut query.interval,
                "by" => &mut query.by,
                "steps" => &mut query.steps,
                "window" => &mut query.window,
                "mode" => &mut query.mode,
                "timeout" => &mut query.timeout,
                "step" => &mut query.step,
                "value" => &mut query.value,
                "after" => &mut query.after,
                "limit" => &mut query.limit,
                _ => {
                    return Err(ParamError::new(
                        name,
                        "unknown parameter; known: from, to, tz, compare, interval, by, steps, window, mode, timeout, step, value, after, limit",
                    ))
                }
            };
            if slot.is_some() {
                return Err(ParamError::new(name, "given more than once"));
            }
            *slot = Some(value);
        }
        Ok(query)
    }
}
