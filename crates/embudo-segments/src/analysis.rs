//! What an expression depends on, when its value can change by the clock alone, and how
//! segments refer to each other — so that membership is re-evaluated only when needed.

use crate::ast::{CmpOp, Expr, Field, Function, Source, TimeBase, Value};
use crate::eval::{event_matches, json_time, lookup, order_matches};
use crate::profile::Profile;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The kinds of change that can change an expression's value for a customer. A server
/// re-evaluates a customer's memberships of the segments whose dependencies a change touches,
/// and re-checks time-dependent segments at [`next_change`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dependencies {
    /// The profile: identity, location, type, consent, custom attributes, first/last seen.
    pub profile: bool,
    /// The orders (new, changed, cancelled).
    pub orders: bool,
    /// New events with these names.
    pub event_names: BTreeSet<String>,
    /// New events of any name that is a visit (`visited`; see [`crate::is_visit_event`]).
    pub any_event: bool,
    /// The model predictions.
    pub predictions: bool,
    /// The RFM scores.
    pub rfm: bool,
    /// Membership of these segments.
    pub segments: BTreeSet<String>,
    /// The value can change by the passing of time alone (`now()` or `within:`).
    pub time: bool,
}

/// A change to one customer's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// The profile changed.
    Profile,
    /// An order arrived or changed.
    Order,
    /// An event with this name arrived.
    Event(&'a str),
    /// New predictions.
    Predictions,
    /// New RFM scores.
    Rfm,
    /// The customer entered or left this segment.
    Segment(&'a str),
}

impl Dependencies {
    /// What `expr` depends on.
    pub fn of(expr: &Expr) -> Self {
        let mut deps = Self::default();
        deps.add(expr);
        deps
    }

    /// Whether `change` can change the value.
    pub fn affected_by(&self, change: Change<'_>) -> bool {
        match change {
            Change::Profile => self.profile,
            Change::Order => self.orders,
            Change::Event(name) => {
                (self.any_event && crate::ast::is_visit_event(name))
                    || self.event_names.contains(name)
            }
            Change::Predictions => self.predictions,
            Change::Rfm => self.rfm,
            Change::Segment(key) => self.segments.contains(key),
        }
    }

    fn field(&mut self, field: &Field) {
        match field.source() {
            Source::Profile => self.profile = true,
            Source::Orders => self.orders = true,
            Source::Predictions => self.predictions = true,
            Source::Rfm => self.rfm = true,
        }
    }

    fn add(&mut self, expr: &Expr) {
        match expr {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| self.add(e)),
            Expr::Not(inner) => self.add(inner),
            Expr::Const(_) => {}
            Expr::Compare(c) => {
                self.field(&c.field);
                if matches!(&c.value, Value::Time(t) if t.is_relative()) {
                    self.time = true;
                }
            }
            Expr::InList(list) => self.field(&list.field),
            Expr::IsSet(field) => self.field(field),
            Expr::Call(call) => {
                if call.args.within.is_some() {
                    self.time = true;
                }
                match call.function {
                    Function::Bought | Function::Ordered => self.orders = true,
                    Function::Visited => self.any_event = true,
                    Function::Event => {
                        if let Some(name) = &call.args.name {
                            self.event_names.insert(name.clone());
                        }
                    }
                    f => {
                        if let Some(name) = f.event_name() {
                            self.event_names.insert(name.to_string());
                        }
                    }
                }
            }
            Expr::InSegment(key) => {
                self.segments.insert(key.clone());
            }
        }
    }
}

/// What `expr` depends on (see [`Dependencies`]).
pub fn dependencies(expr: &Expr) -> Dependencies {
    Dependencies::of(expr)
}

/// Whether the value can change by the passing of time alone (`now()` or `within:`).
pub fn depends_on_time(expr: &Expr) -> bool {
    Dependencies::of(expr).time
}

const MICROSECOND: TimeDelta = TimeDelta::microseconds(1);

/// The first instant after `now` at which the expression's value for this profile could
/// change with no new data, only because time passed: when an event or order enters or leaves
/// a `within:` window, or a time crosses a `now() - …` bound. `None` when nothing will change
/// by itself. The instant may be one at which the value turns out the same (a part changed but
/// not the whole); re-check then and ask again. Instants are rounded to microseconds.
///
/// A `within: d` window holds what happened at `t` from `now = t` until just before
/// `now = t + d`; `x > now() - d` turns false at `now = x + d`, `x >= now() - d` one
/// microsecond later.
pub fn next_change(expr: &Expr, profile: &Profile, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut best: Option<DateTime<Utc>> = None;
    let mut consider = |t: DateTime<Utc>| {
        if t > now && best.is_none_or(|b| t < b) {
            best = Some(t);
        }
    };
    collect(expr, profile, &mut consider);
    best
}

fn field_times(field: &Field, profile: &Profile) -> Vec<DateTime<Utc>> {
    let live = || profile.live_orders().map(|o| o.placed_at);
    match field {
        Field::EmailConsentAt => profile.email_consent_at.into_iter().collect(),
        Field::FirstSeen => profile.first_seen.into_iter().collect(),
        Field::LastSeen => profile.last_seen.into_iter().collect(),
        Field::FirstOrderAt => live().min().into_iter().collect(),
        Field::LastOrderAt => live().max().into_iter().collect(),
        Field::Attribute(path) => match lookup(&profile.attributes, path) {
            Some(serde_json::Value::Array(items)) => items.iter().filter_map(json_time).collect(),
            Some(json) => json_time(json).into_iter().collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn collect(expr: &Expr, profile: &Profile, consider: &mut impl FnMut(DateTime<Utc>)) {
    match expr {
        Expr::And(items) | Expr::Or(items) => {
            items.iter().for_each(|e| collect(e, profile, consider))
        }
        Expr::Not(inner) => collect(inner, profile, consider),
        Expr::Compare(c) => {
            let Value::Time(t) = &c.value else { return };
            if t.base != TimeBase::Now {
                return;
            }
            // `x op now() + offset` flips when `now` crosses `x - offset`.
            for x in field_times(&c.field, profile) {
                let Some(cross) = x.checked_sub_signed(t.offset_delta()) else {
                    continue;
                };
                let after = cross.checked_add_signed(MICROSECOND);
                match c.op {
                    CmpOp::Le | CmpOp::Gt => consider(cross),
                    CmpOp::Lt | CmpOp::Ge => after.into_iter().for_each(&mut *consider),
                    CmpOp::Eq | CmpOp::Ne => {
                        consider(cross);
                        after.into_iter().for_each(&mut *consider);
                    }
                }
            }
        }
        Expr::Call(call) => {
            let Some(within) = call.args.within else {
                return;
            };
            let width = within.to_delta();
            let mut window = |at: DateTime<Utc>| {
                consider(at);
                if let Some(end) = at.checked_add_signed(width) {
                    consider(end);
                }
            };
            if call.function.counts_orders() {
                profile
                    .orders
                    .iter()
                    .filter(|o| order_matches(call, o))
                    .for_each(|o| window(o.placed_at));
            } else {
                profile
                    .events
                    .iter()
                    .filter(|e| event_matches(call, e))
                    .for_each(|e| window(e.at));
            }
        }
        Expr::Const(_) | Expr::InList(_) | Expr::IsSet(_) | Expr::InSegment(_) => {}
    }
}

/// The segments `expr` refers to with `in_segment`.
pub fn referenced_segments(expr: &Expr) -> BTreeSet<String> {
    Dependencies::of(expr).segments
}

/// A cycle of segments referring to each other (`["a", "b", "a"]`; `["a", "a"]` for a segment
/// that refers to itself), if there is one. References to keys not in the map are ignored.
pub fn find_cycle(segments: &BTreeMap<String, Expr>) -> Option<Vec<String>> {
    evaluation_order(segments).err()
}

/// The segments in an order where every segment comes after the segments it refers to, or
/// the first cycle found.
pub fn evaluation_order(segments: &BTreeMap<String, Expr>) -> Result<Vec<String>, Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let refs: BTreeMap<&str, BTreeSet<String>> = segments
        .iter()
        .map(|(k, e)| (k.as_str(), referenced_segments(e)))
        .collect();
    let mut state: BTreeMap<&str, State> = refs.keys().map(|k| (*k, State::New)).collect();
    let mut order = Vec::new();
    // An explicit stack: (segment, its references still to visit).
    for root in refs.keys() {
        if state[root] != State::New {
            continue;
        }
        let mut stack: Vec<(&str, Vec<&str>)> = Vec::new();
        let children = |k: &str| -> Vec<&str> {
            refs[k]
                .iter()
                .rev()
                .filter_map(|r| refs.get_key_value(r.as_str()).map(|(k, _)| *k))
                .collect()
        };
        state.insert(root, State::Open);
        stack.push((root, children(root)));
        while let Some((key, pending)) = stack.last_mut() {
            let key: &str = key;
            let next = pending.pop();
            match next {
                Some(next) => match state[next] {
                    State::Done => {}
                    State::Open => {
                        let from = stack.iter().position(|(k, _)| *k == next).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|(k, _)| k.to_string()).collect();
                        cycle.push(next.to_string());
                        return Err(cycle);
                    }
                    State::New => {
                        state.insert(next, State::Open);
                        stack.push((next, children(next)));
                    }
                },
                None => {
                    state.insert(key, State::Done);
                    order.push(key.to_string());
                    stack.pop();
                }
            }
        }
    }
    Ok(order)
}

/// The segments that refer to `key`, directly or through other segments: those to re-evaluate
/// for a customer who entered or left `key`.
pub fn dependents(segments: &BTreeMap<String, Expr>, key: &str) -> BTreeSet<String> {
    let refs: BTreeMap<&str, BTreeSet<String>> = segments
        .iter()
        .map(|(k, e)| (k.as_str(), referenced_segments(e)))
        .collect();
    let mut found = BTreeSet::new();
    let mut frontier = vec![key.to_string()];
    while let Some(target) = frontier.pop() {
        for (k, r) in &refs {
            if r.contains(&target) && found.insert(k.to_string()) {
                frontier.push(k.to_string());
            }
        }
    }
    found
}
