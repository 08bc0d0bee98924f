//! Evaluates an expression on one customer's [`Profile`].

use crate::ast::{Args, Call, CmpOp, Comparison, Decimal, Expr, Field, Function, InList, Value};
use crate::profile::{Profile, ProfileEvent, ProfileLine, ProfileOrder};
use crate::rfm::RfmGroup;
use chrono::{DateTime, Duration as Delta, Utc};
use embudo_core::{Currency, CustomerId};
use std::collections::BTreeSet;

/// Answers whether a customer is a member of another segment (`in_segment("vip")`).
pub trait Membership {
    /// Whether `profile`'s customer is a member of the segment `key`.
    fn is_member(&self, profile: &Profile, key: &str) -> bool;
}

/// Membership as recorded in [`Profile::segments`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StoredMembership;

impl Membership for StoredMembership {
    fn is_member(&self, profile: &Profile, key: &str) -> bool {
        profile.segments.contains(key)
    }
}

impl<F: Fn(&Profile, &str) -> bool> Membership for F {
    fn is_member(&self, profile: &Profile, key: &str) -> bool {
        self(profile, key)
    }
}

/// What an evaluation needs besides the profile.
#[derive(Clone, Copy)]
pub struct EvalContext<'a> {
    /// The moment of evaluation: `now()`, and the end of every `within:` window.
    pub now: DateTime<Utc>,
    /// The currency of plain numbers compared with money fields (`revenue > 500`).
    pub default_currency: Currency,
    /// Membership of other segments.
    pub membership: &'a dyn Membership,
}

impl EvalContext<'static> {
    /// A context reading segment membership from the profile.
    pub fn new(now: DateTime<Utc>, default_currency: Currency) -> Self {
        Self {
            now,
            default_currency,
            membership: &StoredMembership,
        }
    }
}

impl<'a> EvalContext<'a> {
    /// The same context with another membership lookup.
    pub fn with_membership<'b>(self, membership: &'b dyn Membership) -> EvalContext<'b> {
        EvalContext {
            now: self.now,
            default_currency: self.default_currency,
            membership,
        }
    }
}

impl std::fmt::Debug for EvalContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalContext")
            .field("now", &self.now)
            .field("default_currency", &self.default_currency)
            .finish_non_exhaustive()
    }
}

/// Whether the customer matches the expression.
pub fn evaluate(expr: &Expr, profile: &Profile, ctx: &EvalContext<'_>) -> bool {
    match expr {
        Expr::And(items) => items.iter().all(|e| evaluate(e, profile, ctx)),
        Expr::Or(items) => items.iter().any(|e| evaluate(e, profile, ctx)),
        Expr::Not(inner) => !evaluate(inner, profile, ctx),
        Expr::Const(b) => *b,
        Expr::Compare(c) => compare(c, profile, ctx),
        Expr::InList(list) => in_list(list, profile, ctx),
        Expr::IsSet(field) => is_set(field, profile),
        Expr::Call(call) => call
            .op
            .holds(count(call, profile, ctx.now).cmp(&call.count)),
        Expr::InSegment(key) => ctx.membership.is_member(profile, key),
    }
}

/// The size of a segment and a sample of its members, before it is saved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    /// How many of the profiles match.
    pub size: u64,
    /// How many profiles were looked at.
    pub scanned: u64,
    /// The first matching customers, in the order given, at most the sample size asked for.
    pub sample: Vec<CustomerId>,
}

/// Evaluates the expression on every profile: how many match, and the first `sample` of them.
pub fn preview<'p>(
    expr: &Expr,
    profiles: impl IntoIterator<Item = &'p Profile>,
    ctx: &EvalContext<'_>,
    sample: usize,
) -> Preview {
    let mut out = Preview {
        size: 0,
        scanned: 0,
        sample: Vec::new(),
    };
    for profile in profiles {
        out.scanned += 1;
        if evaluate(expr, profile, ctx) {
            out.size += 1;
            if out.sample.len() < sample {
                out.sample.push(profile.id.clone());
            }
        }
    }
    out
}

/// Text equality, ignoring case.
fn same_text(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

fn text_holds(actual: Option<&str>, op: CmpOp, expected: &str, exact: bool) -> bool {
    let Some(actual) = actual else {
        return false;
    };
    let equal = if exact {
        actual == expected
    } else {
        same_text(actual, expected)
    };
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        _ => false,
    }
}

fn time_holds(actual: Option<DateTime<Utc>>, op: CmpOp, value: &Value, now: DateTime<Utc>) -> bool {
    let (Some(actual), Value::Time(t)) = (actual, value) else {
        return false;
    };
    match t.resolve(now) {
        Some(at) => op.holds(actual.cmp(&at)),
        None => false,
    }
}

fn number_holds(actual: Option<Decimal>, op: CmpOp, value: &Value) -> bool {
    match (actual, value) {
        (Some(a), Value::Number(v)) => op.holds(a.cmp(v)),
        _ => false,
    }
}

fn float_holds(actual: Option<f64>, op: CmpOp, value: &Value) -> bool {
    match (actual, value) {
        (Some(a), Value::Number(v)) => v.cmp_f64(a).is_some_and(|o| op.holds(o)),
        _ => false,
    }
}

/// The currency and amount a money condition is about.
fn money_target(value: &Value, default: Currency) -> Option<(Currency, Decimal)> {
    match value {
        Value::Number(d) => Some((default, *d)),
        Value::Money(m) => Some((m.currency, m.amount)),
        _ => None,
    }
}

/// Sum and count of the live orders in `currency`.
fn orders_in(profile: &Profile, currency: Currency) -> (i128, i128) {
    profile
        .live_orders()
        .filter(|o| o.currency == currency)
        .fold((0, 0), |(sum, n), o| (sum + i128::from(o.net), n + 1))
}

fn count_of(n: usize) -> Decimal {
    Decimal::from_int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn compare(c: &Comparison, profile: &Profile, ctx: &EvalContext<'_>) -> bool {
    let Comparison { field, op, value } = c;
    let op = *op;
    let now = ctx.now;
    let text = |v: &Value| match v {
        Value::Text(t) => Some(t.clone()),
        _ => None,
    };
    match field {
        Field::Id => {
            text(value).is_some_and(|t| text_holds(Some(profile.id.as_str()), op, &t, true))
        }
        Field::Country => {
            text(value).is_some_and(|t| text_holds(profile.country.as_deref(), op, &t, false))
        }
        Field::City => {
            text(value).is_some_and(|t| text_holds(profile.city.as_deref(), op, &t, false))
        }
        Field::CustomerType => text(value)
            .is_some_and(|t| text_holds(Some(profile.customer_type.as_str()), op, &t, false)),
        Field::EmailConsent => match value {
            Value::Bool(b) => match op {
                CmpOp::Eq => profile.email_consent == *b,
                CmpOp::Ne => profile.email_consent != *b,
                _ => false,
            },
            _ => false,
        },
        Field::EmailConsentAt => time_holds(profile.email_consent_at, op, value, now),
        Field::FirstSeen => time_holds(profile.first_seen, op, value, now),
        Field::LastSeen => time_holds(profile.last_seen, op, value, now),
        Field::Attribute(path) => match lookup(&profile.attributes, path) {
            Some(json) => json_holds(json, op, value, now),
            None => false,
        },
        Field::OrdersCount => {
            number_holds(Some(count_of(profile.live_orders().count())), op, value)
        }
        Field::Revenue => match money_target(value, ctx.default_currency) {
            Some((currency, amount)) => {
                let (sum, _) = orders_in(profile, currency);
                op.holds(amount.cmp_ratio(sum, 10i128.pow(currency.exponent())))
            }
            None => false,
        },
        Field::AverageOrderValue => match money_target(value, ctx.default_currency) {
            Some((currency, amount)) => {
                let (sum, n) = orders_in(profile, currency);
                n > 0 && op.holds(amount.cmp_ratio(sum, n * 10i128.pow(currency.exponent())))
            }
            None => false,
        },
        Field::FirstOrderAt => time_holds(
            profile.live_orders().map(|o| o.placed_at).min(),
            op,
            value,
            now,
        ),
        Field::LastOrderAt => time_holds(
            profile.live_orders().map(|o| o.placed_at).max(),
            op,
            value,
            now,
        ),
        Field::ChurnRisk
        | Field::PAlive
        | Field::ExpectedOrders30d
        | Field::ExpectedOrders90d
        | Field::ExpectedOrders365d => {
            let p = profile.predictions.as_ref();
            let actual = p.and_then(|p| match field {
                Field::ChurnRisk => p.churn_risk,
                Field::PAlive => p.p_alive,
                Field::ExpectedOrders30d => p.expected_orders_30d,
                Field::ExpectedOrders90d => p.expected_orders_90d,
                _ => p.expected_orders_365d,
            });
            float_holds(actual, op, value)
        }
        Field::PredictedClv | Field::ExpectedOrderValue => {
            let clv = profile.predictions.as_ref().and_then(|p| {
                if *field == Field::PredictedClv {
                    p.predicted_clv
                } else {
                    p.expected_order_value
                }
            });
            match (clv, money_target(value, ctx.default_currency)) {
                (Some(clv), Some((currency, amount))) if clv.currency == currency => {
                    op.holds(amount.cmp_minor(clv.amount, currency.exponent()))
                }
                _ => false,
            }
        }
        Field::RfmR | Field::RfmF | Field::RfmM | Field::RfmFm => {
            let score = profile.rfm.map(|s| match field {
                Field::RfmR => s.r,
                Field::RfmF => s.f,
                Field::RfmM => s.m,
                _ => s.fm(),
            });
            number_holds(score.map(|s| Decimal::from_int(i64::from(s))), op, value)
        }
        Field::RfmSegment => match (profile.rfm, value) {
            (Some(score), Value::Text(t)) => {
                let equal = RfmGroup::parse(t) == Some(score.group);
                match op {
                    CmpOp::Eq => equal,
                    CmpOp::Ne => !equal,
                    _ => false,
                }
            }
            _ => false,
        },
    }
}

fn in_list(list: &InList, profile: &Profile, ctx: &EvalContext<'_>) -> bool {
    list.values.iter().any(|value| {
        compare(
            &Comparison {
                field: list.field.clone(),
                op: CmpOp::Eq,
                value: value.clone(),
            },
            profile,
            ctx,
        )
    })
}

fn is_set(field: &Field, profile: &Profile) -> bool {
    let p = profile.predictions.as_ref();
    match field {
        Field::Id | Field::CustomerType | Field::EmailConsent | Field::OrdersCount => true,
        Field::Revenue => true,
        Field::Country => profile.country.is_some(),
        Field::City => profile.city.is_some(),
        Field::EmailConsentAt => profile.email_consent_at.is_some(),
        Field::FirstSeen => profile.first_seen.is_some(),
        Field::LastSeen => profile.last_seen.is_some(),
        Field::Attribute(path) => lookup(&profile.attributes, path).is_some(),
        Field::AverageOrderValue | Field::FirstOrderAt | Field::LastOrderAt => {
            profile.live_orders().next().is_some()
        }
        Field::ChurnRisk => p.is_some_and(|p| p.churn_risk.is_some()),
        Field::PAlive => p.is_some_and(|p| p.p_alive.is_some()),
        Field::ExpectedOrders30d => p.is_some_and(|p| p.expected_orders_30d.is_some()),
        Field::ExpectedOrders90d => p.is_some_and(|p| p.expected_orders_90d.is_some()),
        Field::ExpectedOrders365d => p.is_some_and(|p| p.expected_orders_365d.is_some()),
        Field::PredictedClv => p.is_some_and(|p| p.predicted_clv.is_some()),
        Field::ExpectedOrderValue => p.is_some_and(|p| p.expected_order_value.is_some()),
        Field::RfmR | Field::RfmF | Field::RfmM | Field::RfmFm | Field::RfmSegment => {
            profile.rfm.is_some()
        }
    }
}

/// The attribute at `path`, if present and not null.
pub(crate) fn lookup<'a>(
    attributes: &'a serde_json::Map<String, serde_json::Value>,
    path: &[String],
) -> Option<&'a serde_json::Value> {
    let (first, rest) = path.split_first()?;
    let mut current = attributes.get(first)?;
    for key in rest {
        current = current.as_object()?.get(key)?;
    }
    (!current.is_null()).then_some(current)
}

/// A JSON attribute read as a time: an RFC 3339 string or a date.
pub(crate) fn json_time(json: &serde_json::Value) -> Option<DateTime<Utc>> {
    json.as_str()
        .and_then(|s| crate::ast::parse_time_literal(s.trim()).ok())
}

fn json_holds(json: &serde_json::Value, op: CmpOp, value: &Value, now: DateTime<Utc>) -> bool {
    use serde_json::Value as J;
    if let J::Array(items) = json {
        // A list attribute matches when one of its elements does; `!=` when none is equal.
        return match op {
            CmpOp::Ne => !items.iter().any(|i| json_holds(i, CmpOp::Eq, value, now)),
            _ => items.iter().any(|i| json_holds(i, op, value, now)),
        };
    }
    match value {
        Value::Text(t) => json
            .as_str()
            .is_some_and(|s| text_holds(Some(s), op, t, false)),
        Value::Bool(b) => match json.as_bool() {
            Some(actual) => match op {
                CmpOp::Eq => actual == *b,
                CmpOp::Ne => actual != *b,
                _ => false,
            },
            None => false,
        },
        Value::Number(d) => match json {
            J::Number(n) => match n.as_i64() {
                Some(i) => op.holds(Decimal::from_int(i).cmp(d)),
                None => n
                    .as_f64()
                    .and_then(|f| d.cmp_f64(f))
                    .is_some_and(|o| op.holds(o)),
            },
            J::String(s) => match Decimal::parse(s.trim()) {
                Ok(actual) => op.holds(actual.cmp(d)),
                Err(_) => false,
            },
            _ => false,
        },
        Value::Time(_) => time_holds(json_time(json), op, value, now),
        Value::Money(_) => false,
    }
}

/// Whether `at` falls in the window `(now - within, now]` (always, without `within`).
pub(crate) fn in_window(at: DateTime<Utc>, within: Option<Delta>, now: DateTime<Utc>) -> bool {
    match within {
        None => true,
        Some(w) => match now.checked_sub_signed(w) {
            Some(start) => start < at && at <= now,
            None => at <= now,
        },
    }
}

fn any_text(wanted: &[String], actual: Option<&str>) -> bool {
    wanted.is_empty() || actual.is_some_and(|a| wanted.iter().any(|w| same_text(w, a)))
}

fn line_matches(args: &Args, line: &ProfileLine) -> bool {
    (args.product.is_empty()
        || line
            .product_id
            .as_ref()
            .is_some_and(|p| args.product.iter().any(|w| w == p.as_str())))
        && any_text(&args.category, line.category.as_deref())
        && any_text(&args.brand, line.brand.as_deref())
}

/// Whether an order counts for the call, leaving the time window aside.
pub(crate) fn order_matches(call: &Call, order: &ProfileOrder) -> bool {
    if order.cancelled {
        return false;
    }
    match call.function {
        Function::Bought => order.lines.iter().any(|l| line_matches(&call.args, l)),
        _ => true,
    }
}

/// Whether an event counts for the call, leaving the time window aside.
pub(crate) fn event_matches(call: &Call, event: &ProfileEvent) -> bool {
    let args = &call.args;
    let name_ok = match call.function {
        Function::Event => args.name.as_deref() == Some(event.name.as_str()),
        Function::Visited => crate::ast::is_visit_event(&event.name),
        f => f.event_name() == Some(event.name.as_str()),
    };
    let lower = |s: &str| s.to_lowercase();
    name_ok
        && (args.product.is_empty()
            || event
                .product_id
                .as_ref()
                .is_some_and(|p| args.product.iter().any(|w| w == p.as_str())))
        && any_text(&args.category, event.category.as_deref())
        && any_text(&args.brand, event.brand.as_deref())
        && any_text(&args.device, event.device.as_deref())
        && any_text(&args.source, event.source.as_deref())
        && (args.query.is_empty()
            || event.query.as_deref().is_some_and(|q| {
                let q = lower(q);
                args.query.iter().any(|w| q.contains(&lower(w)))
            }))
}

/// The number a call yields for the profile at `now`.
pub fn count(call: &Call, profile: &Profile, now: DateTime<Utc>) -> u64 {
    let within = call.args.within.map(|d| d.to_delta());
    if call.function.counts_orders() {
        return profile
            .orders
            .iter()
            .filter(|o| order_matches(call, o) && in_window(o.placed_at, within, now))
            .count() as u64;
    }
    let events = profile
        .events
        .iter()
        .filter(|e| event_matches(call, e) && in_window(e.at, within, now));
    if call.function == Function::Visited {
        events
            .map(|e| e.at.date_naive())
            .collect::<BTreeSet<_>>()
            .len() as u64
    } else {
        events.count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn cmp_direction_of_money() {
        // `amount.cmp_ratio(actual)` orders the actual amount against the literal.
        let d = Decimal::from_int(500);
        assert_eq!(d.cmp_ratio(60000, 100), Ordering::Greater);
        assert_eq!(d.cmp_minor(40000, 2), Ordering::Less);
    }
}
