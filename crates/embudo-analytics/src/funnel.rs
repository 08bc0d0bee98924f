//! The funnel report: how many people went through a sequence of steps (event names), and
//! how long each step took them.
//!
//! # Definitions
//!
//! - **Unit.** The unit is the person (see [`embudo_store::facts`]): a visitor who is later
//!   linked to a customer counts as that customer; a visitor key and a customer key the store
//!   has not linked are two people.
//! - **Reaching a step (mode `ordered`, the default).** A person reaches step *k* when they
//!   have events of steps 1, 2, …, *k* in that order in time, all within `window` of the step-1
//!   event (inclusive: an event exactly `window` after it still counts), and that step-1 event
//!   happened inside the report's range `[from, to)`. Later steps may happen after `to` as
//!   long as they are within the window. Events with the same time are ordered by the store's
//!   sequence number. One event never counts for two steps of the same match, so a repeated
//!   step (`A, B, A`) needs a *later* `A` event for its third step.
//! - **Once per person.** Each person counts once, at the furthest step reached over all of
//!   their step-1 events in the range (an earlier attempt that stalled does not hide a later
//!   one that completed).
//! - **Mode `strict`.** As `ordered`, but a match is broken as soon as the person's next
//!   funnel event (an event whose name is any of the steps) is not the match's next step; the
//!   furthest step it reached before breaking still counts.
//! - **Mode `any`.** The steps may happen in any order: a person reaches *k* when, within
//!   `window` after some funnel event of theirs in the range (that event included), they did at
//!   least *k* distinct steps. A step name listed twice counts once per time it is listed (two
//!   events are needed for both). Counts are then by number of steps done, labelled with the
//!   step names in the order given.
//! - **Conversions.** `conversion_from_previous` is step *k*'s count over step *k − 1*'s (1 for
//!   step 1 when anybody reached it); `conversion_from_first` is over step 1's. Both are absent
//!   when the denominator is 0, and rounded to 6 decimals.
//! - **Time between steps.** `median_seconds_from_previous` of step *k* is the median, over the
//!   people who reached step *k*, of the seconds between their step *k − 1* and step *k* events
//!   on the match that first reached step *k* for them (the mean of the two middle values for
//!   an even number of people). It is absent for step 1, in mode `any`, and when nobody
//!   reached the step.
//! - **Breakdown (`by`).** A person is counted under the value of the event that started their
//!   best match: the match that first reached their furthest step (in mode `any`, the earliest
//!   funnel event from which they did their largest number of steps). Category, product,
//!   source, medium, campaign, device and country come from that event; the customer type from
//!   the customer (known customers only, `c:` keys). A missing value is counted under `(none)`.
//!   Rows are sorted by step-1 count, largest first, then by value. The totals (`steps`) are
//!   over everybody whatever their value.
//! - **Dropped.** The people who dropped at step *k* are those whose furthest step is exactly
//!   *k*: they reached step *k* but not step *k + 1*.
//!
//! Every function here is pure: the caller reads the events whose name is one of the steps,
//! from `from` to `to + window`.

use crate::columnar::EventTable;
use crate::params::{Breakdown, ParamError, UNKNOWN};
use crate::period::Period;
use crate::Customers;
use chrono::Duration;
use embudo_store::facts::EventFact;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The fewest steps a funnel may have.
pub const MIN_STEPS: usize = 2;
/// The most steps a funnel may have.
pub const MAX_STEPS: usize = 20;

/// How the steps of a funnel must follow each other.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FunnelMode {
    /// In order, with any other events between them.
    #[default]
    Ordered,
    /// In order, with no other funnel event between them.
    Strict,
    /// In any order.
    Any,
}

impl FunnelMode {
    /// Every mode.
    pub const ALL: [FunnelMode; 3] = [FunnelMode::Ordered, FunnelMode::Strict, FunnelMode::Any];

    /// The name used in the API and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            FunnelMode::Ordered => "ordered",
            FunnelMode::Strict => "strict",
            FunnelMode::Any => "any",
        }
    }
}

impl fmt::Display for FunnelMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FunnelMode {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, ParamError> {
        FunnelMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                ParamError::new(
                    "mode",
                    format!("unknown funnel mode `{s}`; one of: ordered, strict, any"),
                )
            })
    }
}

/// What a funnel report counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelSpec {
    /// The event names of the steps, in order (2 to 20; a name may repeat).
    pub steps: Vec<String>,
    /// How long after the step-1 event the other steps may happen (inclusive).
    pub window: Duration,
    /// How the steps must follow each other.
    pub mode: FunnelMode,
    /// What to break the counts down by, if anything.
    pub by: Option<Breakdown>,
}

impl FunnelSpec {
    /// The steps of a shop's purchase funnel: "Product Viewed", "Product Added",
    /// "Checkout Started", "Order Completed".
    pub fn default_steps() -> Vec<String> {
        [
            "Product Viewed",
            "Product Added",
            "Checkout Started",
            "Order Completed",
        ]
        .map(String::from)
        .to_vec()
    }

    /// Checks the spec: 2 to 20 steps with non-empty names (parameter `steps`) and a window
    /// longer than zero (parameter `window`).
    pub fn validate(&self) -> Result<(), ParamError> {
        let n = self.steps.len();
        if n < MIN_STEPS {
            return Err(ParamError::new(
                "steps",
                format!("a funnel needs at least {MIN_STEPS} steps, got {n}"),
            ));
        }
        if n > MAX_STEPS {
            return Err(ParamError::new(
                "steps",
                format!("a funnel may have at most {MAX_STEPS} steps, got {n}"),
            ));
        }
        if let Some(i) = self.steps.iter().position(|s| s.trim().is_empty()) {
            return Err(ParamError::new(
                "steps",
                format!("step {} has an empty event name", i + 1),
            ));
        }
        if self.window <= Duration::zero() {
            return Err(ParamError::new("window", "must be longer than zero"));
        }
        Ok(())
    }
}

/// One step of a funnel and how many people reached it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FunnelStep {
    /// The step's event name.
    pub event: String,
    /// People who reached this step.
    pub count: u64,
    /// `count` over the previous step's count (1 for step 1 when `count` > 0); absent when the
    /// previous count is 0.
    pub conversion_from_previous: Option<f64>,
    /// `count` over step 1's count; absent when that is 0.
    pub conversion_from_first: Option<f64>,
    /// Median seconds between the previous step and this one, over the people who reached
    /// this one; absent for step 1, in mode `any`, and when nobody reached it.
    pub median_seconds_from_previous: Option<f64>,
}

/// The steps of the people counted under one breakdown value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FunnelBreakdown {
    /// The value (`(none)` when the starting event had none).
    pub value: String,
    /// The steps, as in the totals, over these people only.
    pub steps: Vec<FunnelStep>,
}

/// The funnel report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FunnelReport {
    /// Every step, over all people.
    pub steps: Vec<FunnelStep>,
    /// The same per breakdown value, largest step-1 count first (empty without `by`).
    pub breakdown: Vec<FunnelBreakdown>,
}

/// A page of the people who dropped out of a funnel at one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DroppedPage {
    /// Person keys, in ascending order.
    pub people: Vec<String>,
    /// The cursor (`after`) of the next page, when there is one.
    pub next: Option<String>,
}

/// The funnel report over `events` (every event whose name is a step, from `period.from` to
/// `period.to + spec.window`, sorted by time and sequence number). See the module
/// documentation for the definitions. Computed by the columnar engine
/// ([`crate::columnar::funnel`]) over a table of these events.
pub fn funnel(
    period: &Period,
    spec: &FunnelSpec,
    events: &[EventFact],
    customers: &Customers,
) -> FunnelReport {
    crate::columnar::funnel(period, spec, &EventTable::from_facts(events), customers)
}

/// The people whose furthest step is exactly `step` (1-based; they reached it but not the
/// next one), in ascending order of person key, after the key `after` when given, at most
/// `limit` of them. With `breakdown_value`, only the people counted under that value of
/// `spec.by` (ignored when `spec.by` is absent). A `step` of 0 or of the last step or beyond
/// gives an empty page. Computed by [`crate::columnar::dropped`].
#[allow(clippy::too_many_arguments)]
pub fn dropped(
    period: &Period,
    spec: &FunnelSpec,
    events: &[EventFact],
    customers: &Customers,
    step: usize,
    breakdown_value: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> DroppedPage {
    crate::columnar::dropped(
        period,
        spec,
        &EventTable::from_facts(events),
        customers,
        step,
        breakdown_value,
        after,
        limit,
    )
}

/// The breakdown value of one event: its field for `by` (the customer's type for
/// [`Breakdown::CustomerType`], for `c:` persons only), or [`UNKNOWN`] when missing or empty.
pub(crate) fn event_value(by: Breakdown, event: &EventFact, customers: &Customers) -> String {
    let value = match by {
        Breakdown::Category => event.category.as_deref(),
        Breakdown::Product => event.product_id.as_deref(),
        Breakdown::Source => event.source.as_deref(),
        Breakdown::Medium => event.medium.as_deref(),
        Breakdown::Campaign => event.campaign.as_deref(),
        Breakdown::Device => event.device.as_deref(),
        Breakdown::Country => event.country.as_deref(),
        Breakdown::CustomerType => return customer_type(&event.person, customers),
    };
    match value {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => UNKNOWN.to_string(),
    }
}

/// The customer type of a person ([`UNKNOWN`] unless a known customer).
pub(crate) fn customer_type(person: &str, customers: &Customers) -> String {
    if !person.starts_with("c:") {
        return UNKNOWN.to_string();
    }
    customers
        .get(person)
        .map_or(UNKNOWN, |c| c.customer_type.as_str())
        .to_string()
}

/// The reference implementation the columnar engine is tested against: the definitions of
/// the module documentation, written directly over [`EventFact`]s (one pass per person, owned
/// strings, hashing).
#[cfg(test)]
pub(crate) mod reference {
    use super::*;
    use crate::ratio;
    use chrono::{DateTime, Utc};
    use std::collections::{BTreeMap, HashMap, HashSet};

    /// The funnel report over `events` (every event whose name is a step, from `period.from` to
    /// `period.to + spec.window`, sorted by time and sequence number). See the module
    /// documentation for the definitions.
    pub(crate) fn funnel(
        period: &Period,
        spec: &FunnelSpec,
        events: &[EventFact],
        customers: &Customers,
    ) -> FunnelReport {
        let people = outcomes(period, spec, events);
        let steps = build_steps(spec, people.values());
        let breakdown = match spec.by {
            None => Vec::new(),
            Some(by) => {
                let mut groups: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
                for outcome in people.values() {
                    let value = outcome_value(by, outcome, events, customers);
                    groups.entry(value).or_default().push(outcome);
                }
                let mut rows: Vec<FunnelBreakdown> = groups
                    .into_iter()
                    .map(|(value, group)| FunnelBreakdown {
                        value,
                        steps: build_steps(spec, group.into_iter()),
                    })
                    .collect();
                let first = |row: &FunnelBreakdown| row.steps.first().map_or(0, |s| s.count);
                rows.sort_by(|a, b| first(b).cmp(&first(a)).then_with(|| a.value.cmp(&b.value)));
                rows
            }
        };
        FunnelReport { steps, breakdown }
    }

    /// The people whose furthest step is exactly `step` (1-based; they reached it but not the
    /// next one), in ascending order of person key, after the key `after` when given, at most
    /// `limit` of them. With `breakdown_value`, only the people counted under that value of
    /// `spec.by` (ignored when `spec.by` is absent). A `step` of 0 or of the last step or beyond
    /// gives an empty page.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dropped(
        period: &Period,
        spec: &FunnelSpec,
        events: &[EventFact],
        customers: &Customers,
        step: usize,
        breakdown_value: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> DroppedPage {
        let mut page = DroppedPage {
            people: Vec::new(),
            next: None,
        };
        if step == 0 || step >= spec.steps.len() || limit == 0 {
            return page;
        }
        let people = outcomes(period, spec, events);
        let mut matching = people
            .iter()
            .filter(|(person, _)| after.is_none_or(|after| **person > after))
            .filter(|(_, outcome)| outcome.reached == step)
            .filter(|(_, outcome)| match (spec.by, breakdown_value) {
                (Some(by), Some(value)) => outcome_value(by, outcome, events, customers) == value,
                _ => true,
            })
            .map(|(person, _)| person.to_string());
        page.people.extend(matching.by_ref().take(limit));
        if matching.next().is_some() {
            page.next = page.people.last().cloned();
        }
        page
    }

    /// How far one person got.
    #[derive(Debug, Clone, PartialEq)]
    struct Outcome {
        /// Their furthest step (1-based); 0 when they never started.
        reached: usize,
        /// The index in `events` of the event that started their best match.
        start: Option<usize>,
        /// Per step (0-based), the time from the previous step on the match that first reached
        /// it (`None` for step 1, in mode `any`, and for steps not reached).
        gaps: Vec<Option<Duration>>,
    }

    impl Outcome {
        fn new(steps: usize) -> Self {
            Self {
                reached: 0,
                start: None,
                gaps: vec![None; steps],
            }
        }
    }

    /// The outcome of every person who reached at least step 1, by person key.
    fn outcomes<'a>(
        period: &Period,
        spec: &FunnelSpec,
        events: &'a [EventFact],
    ) -> BTreeMap<&'a str, Outcome> {
        let names: HashSet<&str> = spec.steps.iter().map(String::as_str).collect();
        let mut by_person: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, event) in events.iter().enumerate() {
            if names.contains(event.event.as_str()) {
                by_person.entry(event.person.as_str()).or_default().push(i);
            }
        }
        by_person
            .into_iter()
            .filter_map(|(person, mut indices)| {
                // Already sorted in practice; sorting keeps the pass right whatever the input.
                indices.sort_by_key(|&i| (events[i].at, events[i].seq));
                let outcome = match spec.mode {
                    FunnelMode::Ordered => in_order(period, spec, events, &indices, false),
                    FunnelMode::Strict => in_order(period, spec, events, &indices, true),
                    FunnelMode::Any => any_order(period, spec, events, &indices),
                };
                (outcome.reached > 0).then_some((person, outcome))
            })
            .collect()
    }

    /// A partial match: where it started and when its latest step happened.
    #[derive(Debug, Clone, Copy)]
    struct Partial {
        start: usize,
        start_at: DateTime<Utc>,
        last_at: DateTime<Utc>,
    }

    /// Modes `ordered` and `strict`: one pass over a person's funnel events (`indices`, in time
    /// order), keeping per step the partial match with the latest start among those that reached
    /// it (a later start has more of its window left, so it can do everything an earlier one
    /// can). Steps advance in descending order so that one event never advances two steps.
    fn in_order(
        period: &Period,
        spec: &FunnelSpec,
        events: &[EventFact],
        indices: &[usize],
        strict: bool,
    ) -> Outcome {
        let n = spec.steps.len();
        // `state[k]`: the best partial match that has done steps 1..=k+1.
        let mut state: Vec<Option<Partial>> = vec![None; n];
        let mut out = Outcome::new(n);
        for &i in indices {
            let event = &events[i];
            for k in (1..n).rev() {
                let advanced = state[k - 1].filter(|p| {
                    spec.steps[k] == event.event && event.at - p.start_at <= spec.window
                });
                match advanced {
                    Some(previous) => {
                        let next = Partial {
                            last_at: event.at,
                            ..previous
                        };
                        if out.reached < k + 1 {
                            out.reached = k + 1;
                            out.start = Some(previous.start);
                            out.gaps[k] = Some(event.at - previous.last_at);
                        }
                        if strict || state[k].is_none_or(|s| next.start_at > s.start_at) {
                            state[k] = Some(next);
                        }
                    }
                    // In strict mode a match whose next funnel event is not its next step breaks.
                    None if strict => state[k] = None,
                    None => {}
                }
            }
            let starts =
                spec.steps[0] == event.event && event.at >= period.from && event.at < period.to;
            if starts {
                if strict || state[0].is_none_or(|s| event.at > s.start_at) {
                    state[0] = Some(Partial {
                        start: i,
                        start_at: event.at,
                        last_at: event.at,
                    });
                }
                if out.reached == 0 {
                    out.reached = 1;
                    out.start = Some(i);
                }
            } else if strict {
                state[0] = None;
            }
        }
        out
    }

    /// Mode `any`: a sliding window over a person's funnel events (`indices`, in time order),
    /// counting the distinct steps done from each start in the range to `window` after it.
    fn any_order(
        period: &Period,
        spec: &FunnelSpec,
        events: &[EventFact],
        indices: &[usize],
    ) -> Outcome {
        let n = spec.steps.len();
        // Each distinct name, and how many times the steps list it.
        let mut slots: HashMap<&str, usize> = HashMap::new();
        let mut wanted: Vec<usize> = Vec::new();
        for name in &spec.steps {
            let slot = *slots.entry(name.as_str()).or_insert_with(|| {
                wanted.push(0);
                wanted.len() - 1
            });
            wanted[slot] += 1;
        }
        let slot_of = |i: usize| slots.get(events[i].event.as_str()).copied();
        let mut seen = vec![0usize; wanted.len()];
        let mut done = 0usize;
        let mut out = Outcome::new(n);
        // The window holds `indices[pos..end]`.
        let mut end = 0usize;
        for (pos, &i) in indices.iter().enumerate() {
            end = end.max(pos);
            let start = &events[i];
            if start.at >= period.from && start.at < period.to {
                while end < indices.len() && events[indices[end]].at - start.at <= spec.window {
                    if let Some(slot) = slot_of(indices[end]) {
                        if seen[slot] < wanted[slot] {
                            done += 1;
                        }
                        seen[slot] += 1;
                    }
                    end += 1;
                }
                if done > out.reached {
                    out.reached = done;
                    out.start = Some(i);
                }
            }
            if end > pos {
                if let Some(slot) = slot_of(i) {
                    seen[slot] -= 1;
                    if seen[slot] < wanted[slot] {
                        done -= 1;
                    }
                }
            }
        }
        out
    }

    /// The breakdown value a person is counted under.
    fn outcome_value(
        by: Breakdown,
        outcome: &Outcome,
        events: &[EventFact],
        customers: &Customers,
    ) -> String {
        outcome.start.map_or_else(
            || UNKNOWN.to_string(),
            |i| event_value(by, &events[i], customers),
        )
    }

    /// The steps of a group of people.
    fn build_steps<'a>(
        spec: &FunnelSpec,
        people: impl Iterator<Item = &'a Outcome>,
    ) -> Vec<FunnelStep> {
        let n = spec.steps.len();
        let mut counts = vec![0u64; n];
        let mut gaps: Vec<Vec<f64>> = vec![Vec::new(); n];
        for outcome in people {
            for k in 0..outcome.reached.min(n) {
                counts[k] += 1;
                if let Some(gap) = outcome.gaps[k] {
                    gaps[k].push(seconds(gap));
                }
            }
        }
        let first = counts.first().copied().unwrap_or(0);
        spec.steps
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let previous = if k == 0 { counts[0] } else { counts[k - 1] };
                FunnelStep {
                    event: name.clone(),
                    count: counts[k],
                    conversion_from_previous: ratio(counts[k], previous),
                    conversion_from_first: ratio(counts[k], first),
                    median_seconds_from_previous: median(&mut gaps[k]),
                }
            })
            .collect()
    }

    /// A duration in seconds, to the microsecond.
    fn seconds(d: Duration) -> f64 {
        d.num_microseconds()
            .map_or_else(|| d.num_seconds() as f64, |us| us as f64 / 1e6)
    }

    /// The median (the mean of the two middle values for an even count); `None` when empty.
    fn median(values: &mut [f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        Some(if mid * 2 == values.len() {
            (values[mid - 1] + values[mid]) / 2.0
        } else {
            values[mid]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use embudo_core::{CustomerId, CustomerType};
    use embudo_store::facts::CustomerFact;

    /// 2026-03-02 00:00 UTC plus `minutes`.
    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    /// The week of 2 March 2026, in UTC.
    fn week() -> Period {
        Period::parse("2026-03-02", "2026-03-09", None).unwrap()
    }

    fn ev(seq: i64, at: DateTime<Utc>, person: &str, name: &str) -> EventFact {
        EventFact::new(seq, at, person, name)
    }

    fn with_source(mut e: EventFact, source: &str) -> EventFact {
        e.source = Some(source.to_string());
        e
    }

    /// Sorts by (at, seq), as the store hands events over.
    fn sorted(mut events: Vec<EventFact>) -> Vec<EventFact> {
        events.sort_by_key(|e| (e.at, e.seq));
        events
    }

    fn spec(steps: &[&str], window: Duration, mode: FunnelMode) -> FunnelSpec {
        FunnelSpec {
            steps: steps.iter().map(|s| s.to_string()).collect(),
            window,
            mode,
            by: None,
        }
    }

    fn abc(mode: FunnelMode) -> FunnelSpec {
        spec(&["A", "B", "C"], Duration::days(1), mode)
    }

    fn counts(steps: &[FunnelStep]) -> Vec<u64> {
        steps.iter().map(|s| s.count).collect()
    }

    fn run(spec: &FunnelSpec, events: &[EventFact]) -> Vec<u64> {
        counts(&funnel(&week(), spec, events, &Customers::new()).steps)
    }

    #[test]
    fn basic_conversion() {
        let steps = FunnelSpec::default_steps();
        let s = FunnelSpec {
            steps: steps.clone(),
            window: Duration::days(1),
            mode: FunnelMode::Ordered,
            by: None,
        };
        let mut events = Vec::new();
        let mut seq = 0;
        // v:1 does all four steps, v:2 three, v:3 two, v:4 one.
        for (person, reached) in [("v:1", 4), ("v:2", 3), ("v:3", 2), ("v:4", 1)] {
            for (k, name) in steps.iter().enumerate().take(reached) {
                seq += 1;
                events.push(ev(seq, t(60 + 10 * k as i64), person, name));
            }
        }
        let report = funnel(&week(), &s, &sorted(events), &Customers::new());
        assert_eq!(counts(&report.steps), vec![4, 3, 2, 1]);
        let from_previous: Vec<_> = report
            .steps
            .iter()
            .map(|s| s.conversion_from_previous)
            .collect();
        assert_eq!(
            from_previous,
            vec![Some(1.0), Some(0.75), Some(0.666667), Some(0.5)]
        );
        let from_first: Vec<_> = report
            .steps
            .iter()
            .map(|s| s.conversion_from_first)
            .collect();
        assert_eq!(
            from_first,
            vec![Some(1.0), Some(0.75), Some(0.5), Some(0.25)]
        );
        assert_eq!(report.steps[0].event, "Product Viewed");
        assert_eq!(report.steps[0].median_seconds_from_previous, None);
        assert_eq!(report.steps[1].median_seconds_from_previous, Some(600.0));
        assert!(report.breakdown.is_empty());
    }

    #[test]
    fn nobody_gives_zero_counts_and_no_ratios() {
        let report = funnel(&week(), &abc(FunnelMode::Ordered), &[], &Customers::new());
        assert_eq!(counts(&report.steps), vec![0, 0, 0]);
        assert!(report
            .steps
            .iter()
            .all(|s| s.conversion_from_previous.is_none()
                && s.conversion_from_first.is_none()
                && s.median_seconds_from_previous.is_none()));
    }

    #[test]
    fn time_order_not_arrival_order() {
        // v:1's B arrived first (lower seq) but happened after A: it counts.
        // v:2's B happened before A: it does not.
        let events = vec![
            ev(1, t(20), "v:1", "B"),
            ev(2, t(10), "v:1", "A"),
            ev(3, t(10), "v:2", "B"),
            ev(4, t(20), "v:2", "A"),
        ];
        assert_eq!(
            run(&abc(FunnelMode::Ordered), &sorted(events.clone())),
            vec![2, 1, 0]
        );
        // Even handed over unsorted, the pass follows time.
        assert_eq!(run(&abc(FunnelMode::Ordered), &events), vec![2, 1, 0]);
    }

    #[test]
    fn other_events_in_the_input_are_ignored() {
        let events = sorted(vec![
            ev(1, t(0), "v:1", "A"),
            ev(2, t(1), "v:1", "Page Viewed"),
            ev(3, t(2), "v:1", "B"),
            ev(4, t(3), "v:2", "Page Viewed"),
        ]);
        assert_eq!(run(&abc(FunnelMode::Ordered), &events), vec![1, 1, 0]);
        // Not even in strict mode do they break a match.
        assert_eq!(run(&abc(FunnelMode::Strict), &events), vec![1, 1, 0]);
    }

    #[test]
    fn repeated_steps_need_a_later_event() {
        let s = spec(&["A", "B", "A"], Duration::days(1), FunnelMode::Ordered);
        let events = sorted(vec![
            // A, B: the first A cannot be the third step as well.
            ev(1, t(0), "v:1", "A"),
            ev(2, t(1), "v:1", "B"),
            // A, B, A: complete.
            ev(3, t(0), "v:2", "A"),
            ev(4, t(1), "v:2", "B"),
            ev(5, t(2), "v:2", "A"),
            // A, A, B: the second A came before B.
            ev(6, t(0), "v:3", "A"),
            ev(7, t(1), "v:3", "A"),
            ev(8, t(2), "v:3", "B"),
        ]);
        assert_eq!(run(&s, &events), vec![3, 3, 1]);
    }

    #[test]
    fn one_event_never_counts_for_two_steps() {
        let s = spec(&["A", "A"], Duration::days(1), FunnelMode::Ordered);
        let events = sorted(vec![
            ev(1, t(0), "v:1", "A"),
            ev(2, t(0), "v:2", "A"),
            ev(3, t(5), "v:2", "A"),
        ]);
        assert_eq!(run(&s, &events), vec![2, 1]);
    }

    #[test]
    fn window_is_inclusive_to_the_microsecond() {
        let s = spec(&["A", "B"], Duration::hours(1), FunnelMode::Ordered);
        let events = sorted(vec![
            ev(1, t(0), "v:1", "A"),
            ev(2, t(60), "v:1", "B"),
            ev(3, t(0), "v:2", "A"),
            ev(4, t(60) + Duration::microseconds(1), "v:2", "B"),
        ]);
        assert_eq!(run(&s, &events), vec![2, 1]);
    }

    #[test]
    fn only_step_one_events_in_the_range_start() {
        let p = week();
        let s = spec(&["A", "B"], Duration::days(1), FunnelMode::Ordered);
        let events = sorted(vec![
            // Step 1 a minute before the range, step 2 inside: not counted at all.
            ev(1, p.from - Duration::minutes(1), "v:1", "A"),
            ev(2, p.from + Duration::minutes(1), "v:1", "B"),
            // Step 1 exactly at `from`: counted.
            ev(3, p.from, "v:2", "A"),
            ev(4, p.from + Duration::minutes(1), "v:2", "B"),
            // Step 1 exactly at `to` (exclusive): not counted.
            ev(5, p.to, "v:3", "A"),
            ev(6, p.to + Duration::minutes(1), "v:3", "B"),
        ]);
        assert_eq!(run(&s, &events), vec![1, 1]);
    }

    #[test]
    fn later_steps_may_fall_after_the_range_within_the_window() {
        let p = week();
        let s = spec(&["A", "B", "C"], Duration::days(2), FunnelMode::Ordered);
        let events = sorted(vec![
            ev(1, p.to - Duration::hours(1), "v:1", "A"),
            ev(2, p.to + Duration::hours(1), "v:1", "B"),
            ev(3, p.to + Duration::hours(47), "v:1", "C"),
        ]);
        let report = funnel(&p, &s, &events, &Customers::new());
        assert_eq!(counts(&report.steps), vec![1, 1, 1]);
        assert_eq!(report.steps[1].median_seconds_from_previous, Some(7200.0));
        assert_eq!(
            report.steps[2].median_seconds_from_previous,
            Some(46.0 * 3600.0)
        );
    }

    #[test]
    fn a_later_start_can_complete_where_an_earlier_one_stalled() {
        let s = spec(&["A", "B", "C"], Duration::hours(1), FunnelMode::Ordered);
        let events = sorted(vec![
            ev(1, t(0), "v:1", "A"),
            ev(2, t(30), "v:1", "B"),
            // Too late for the first A (window 1 h) but 20 min after the second.
            ev(3, t(100), "v:1", "A"),
            ev(4, t(110), "v:1", "B"),
            ev(5, t(120), "v:1", "C"),
        ]);
        let report = funnel(&week(), &s, &events, &Customers::new());
        assert_eq!(counts(&report.steps), vec![1, 1, 1]);
        // B was first reached on the first attempt (30 min); C on the second (10 min after B).
        assert_eq!(report.steps[1].median_seconds_from_previous, Some(1800.0));
        assert_eq!(report.steps[2].median_seconds_from_previous, Some(600.0));
    }

    #[test]
    fn a_later_start_keeps_more_window_than_an_earlier_one() {
        // Both A's reach B; C is within the window of the second A only.
        let s = spec(&["A", "B", "C"], Duration::hours(1), FunnelMode::Ordered);
        let events = sorted(vec![
            ev(1, t(0), "v:1", "A"),
            ev(2, t(40), "v:1", "A"),
            ev(3, t(50), "v:1", "B"),
            ev(4, t(90), "v:1", "C"),
        ]);
        assert_eq!(run(&s, &events), vec![1, 1, 1]);
    }

    #[test]
    fn strict_breaks_on_another_funnel_event() {
        let events = sorted(vec![
            // A, C, B, C: ordered reaches C; strict stops at A.
            ev(1, t(0), "v:1", "A"),
            ev(2, t(1), "v:1", "C"),
            ev(3, t(2), "v:1", "B"),
            ev(4, t(3), "v:1", "C"),
            // A, B, A, C: ordered reaches C; strict keeps step 2, its furthest.
            ev(5, t(0), "v:2", "A"),
            ev(6, t(1), "v:2", "B"),
            ev(7, t(2), "v:2", "A"),
            ev(8, t(3), "v:2", "C"),
            // A, B, C: both.
            ev(9, t(0), "v:3", "A"),
            ev(10, t(1), "v:3", "B"),
            ev(11, t(2), "v:3", "C"),
            // A, A, B, C: strict restarts with the second A and completes.
            ev(12, t(0), "v:4", "A"),
            ev(13, t(1), "v:4", "A"),
            ev(14, t(2), "v:4", "B"),
            ev(15, t(3), "v:4", "C"),
        ]);
        assert_eq!(run(&abc(FunnelMode::Ordered), &events), vec![4, 4, 4]);
        assert_eq!(run(&abc(FunnelMode::Strict), &events), vec![4, 3, 2]);
    }

    #[test]
    fn any_order() {
        let events = sorted(vec![
            // C, A, B within the window: all three in any order, A→B in order.
            ev(1, t(0), "v:1", "C"),
            ev(2, t(10), "v:1", "A"),
            ev(3, t(20), "v:1", "B"),
            // B alone: one step in any order, nothing in order.
            ev(4, t(0), "v:2", "B"),
            // C, then A two days later: never two within the window.
            ev(5, t(0), "v:3", "C"),
            ev(6, t(2 * 24 * 60), "v:3", "A"),
            // B twice: still one distinct step.
            ev(7, t(0), "v:4", "B"),
            ev(8, t(5), "v:4", "B"),
        ]);
        let report = funnel(&week(), &abc(FunnelMode::Any), &events, &Customers::new());
        assert_eq!(counts(&report.steps), vec![4, 1, 1]);
        let labels: Vec<_> = report.steps.iter().map(|s| s.event.as_str()).collect();
        assert_eq!(labels, vec!["A", "B", "C"]);
        assert!(report
            .steps
            .iter()
            .all(|s| s.median_seconds_from_previous.is_none()));
        assert_eq!(run(&abc(FunnelMode::Ordered), &events), vec![2, 1, 0]);
    }

    #[test]
    fn any_order_counts_a_repeated_step_per_listing() {
        let s = spec(&["A", "B", "A"], Duration::hours(1), FunnelMode::Any);
        let events = sorted(vec![
            ev(1, t(0), "v:1", "B"),
            ev(2, t(10), "v:1", "A"),
            ev(3, t(0), "v:2", "A"),
            ev(4, t(10), "v:2", "A"),
            ev(5, t(20), "v:2", "B"),
            // The start must be in the range; the window counts from it, inclusive.
            ev(6, t(0), "v:3", "A"),
            ev(7, t(60), "v:3", "B"),
            ev(8, t(61), "v:3", "A"),
        ]);
        assert_eq!(run(&s, &events), vec![3, 3, 1]);
    }

    #[test]
    fn same_time_ties_follow_the_sequence_number() {
        let events = sorted(vec![
            ev(1, t(0), "v:1", "A"),
            ev(2, t(0), "v:1", "B"),
            ev(3, t(0), "v:2", "B"),
            ev(4, t(0), "v:2", "A"),
        ]);
        assert_eq!(run(&abc(FunnelMode::Ordered), &events), vec![2, 1, 0]);
        let report = funnel(
            &week(),
            &abc(FunnelMode::Ordered),
            &events,
            &Customers::new(),
        );
        assert_eq!(report.steps[1].median_seconds_from_previous, Some(0.0));
    }

    #[test]
    fn breakdown_by_source_follows_the_start_of_the_best_match() {
        let s = FunnelSpec {
            by: Some(Breakdown::Source),
            ..spec(&["A", "B"], Duration::hours(1), FunnelMode::Ordered)
        };
        let events = sorted(vec![
            with_source(ev(1, t(0), "v:1", "A"), "google"),
            ev(2, t(10), "v:1", "B"),
            with_source(ev(3, t(0), "v:2", "A"), "newsletter"),
            // v:3 first came from "bing" and stalled; from "google" later and completed.
            with_source(ev(4, t(0), "v:3", "A"), "bing"),
            with_source(ev(5, t(200), "v:3", "A"), "google"),
            ev(6, t(210), "v:3", "B"),
            // No source at all.
            ev(7, t(0), "v:4", "A"),
            // v:5 reached step 1 only, twice: the first start counts.
            with_source(ev(8, t(0), "v:5", "A"), "bing"),
            with_source(ev(9, t(500), "v:5", "A"), "google"),
        ]);
        let report = funnel(&week(), &s, &events, &Customers::new());
        assert_eq!(counts(&report.steps), vec![5, 2]);
        let rows: Vec<(&str, Vec<u64>)> = report
            .breakdown
            .iter()
            .map(|r| (r.value.as_str(), counts(&r.steps)))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("google", vec![2, 2]),
                ("(none)", vec![1, 0]),
                ("bing", vec![1, 0]),
                ("newsletter", vec![1, 0]),
            ]
        );
        assert_eq!(
            report.breakdown[0].steps[1].median_seconds_from_previous,
            Some(600.0)
        );
    }

    fn customer(id: &str, customer_type: CustomerType) -> (String, CustomerFact) {
        let c = CustomerFact {
            id: CustomerId::parse(id).unwrap(),
            customer_type,
            country: None,
            first_seen: None,
        };
        (c.person(), c)
    }

    #[test]
    fn breakdown_by_customer_type() {
        let customers: Customers = [
            customer("1", CustomerType::Business),
            customer("2", CustomerType::Consumer),
            customer("5", CustomerType::Business),
        ]
        .into_iter()
        .collect();
        let s = FunnelSpec {
            by: Some(Breakdown::CustomerType),
            ..spec(&["A", "B"], Duration::hours(1), FunnelMode::Ordered)
        };
        let events = sorted(vec![
            ev(1, t(0), "c:1", "A"),
            ev(2, t(1), "c:1", "B"),
            ev(3, t(0), "c:2", "A"),
            ev(4, t(0), "v:3", "A"),
            ev(5, t(1), "v:3", "B"),
            // A customer the map does not know.
            ev(6, t(0), "c:4", "A"),
            ev(7, t(0), "c:5", "A"),
        ]);
        let report = funnel(&week(), &s, &events, &customers);
        let rows: Vec<(&str, Vec<u64>)> = report
            .breakdown
            .iter()
            .map(|r| (r.value.as_str(), counts(&r.steps)))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("(none)", vec![2, 1]),
                ("business", vec![2, 1]),
                ("consumer", vec![1, 0]),
            ]
        );
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        let s = spec(&["A", "B"], Duration::days(1), FunnelMode::Ordered);
        let mut events = Vec::new();
        for (n, gap_seconds) in [10, 20, 60].into_iter().enumerate() {
            let person = format!("v:{n}");
            events.push(ev(2 * n as i64, t(0), &person, "A"));
            events.push(ev(
                2 * n as i64 + 1,
                t(0) + Duration::seconds(gap_seconds),
                &person,
                "B",
            ));
        }
        let events = sorted(events);
        let report = funnel(&week(), &s, &events, &Customers::new());
        assert_eq!(report.steps[1].median_seconds_from_previous, Some(20.0));
        let mut more = events.clone();
        more.push(ev(100, t(0), "v:9", "A"));
        more.push(ev(101, t(0) + Duration::milliseconds(100_500), "v:9", "B"));
        let report = funnel(&week(), &s, &sorted(more), &Customers::new());
        assert_eq!(report.steps[1].median_seconds_from_previous, Some(40.0));
        let mut last = events;
        last.push(ev(100, t(0), "v:9", "A"));
        last.push(ev(101, t(0) + Duration::milliseconds(15_500), "v:9", "B"));
        let report = funnel(&week(), &s, &sorted(last), &Customers::new());
        assert_eq!(report.steps[1].median_seconds_from_previous, Some(17.75));
    }

    #[test]
    fn dropped_pages_by_person_key() {
        let s = abc(FunnelMode::Ordered);
        let mut events = Vec::new();
        // Five people stop at step 1, two at step 2, one completes.
        for (seq, person) in ["v:e", "v:a", "v:d", "v:b", "v:c"].into_iter().enumerate() {
            events.push(ev(seq as i64, t(0), person, "A"));
        }
        for (seq, person) in ["v:x", "v:y", "v:z"].into_iter().enumerate() {
            events.push(ev(10 + seq as i64, t(0), person, "A"));
            events.push(ev(20 + seq as i64, t(1), person, "B"));
        }
        events.push(ev(30, t(2), "v:z", "C"));
        let events = sorted(events);
        let c = Customers::new();
        let p = week();
        let page = dropped(&p, &s, &events, &c, 1, None, None, 2);
        assert_eq!(page.people, vec!["v:a", "v:b"]);
        assert_eq!(page.next.as_deref(), Some("v:b"));
        let page = dropped(&p, &s, &events, &c, 1, None, page.next.as_deref(), 2);
        assert_eq!(page.people, vec!["v:c", "v:d"]);
        assert_eq!(page.next.as_deref(), Some("v:d"));
        let page = dropped(&p, &s, &events, &c, 1, None, page.next.as_deref(), 2);
        assert_eq!(page.people, vec!["v:e"]);
        assert_eq!(page.next, None);
        // A page that holds exactly the rest has no next.
        let page = dropped(&p, &s, &events, &c, 2, None, None, 2);
        assert_eq!(page.people, vec!["v:x", "v:y"]);
        assert_eq!(page.next, None);
        // There is nobody to drop after the last step, nor at step 0.
        assert_eq!(
            dropped(&p, &s, &events, &c, 3, None, None, 10).people,
            Vec::<String>::new()
        );
        assert_eq!(
            dropped(&p, &s, &events, &c, 0, None, None, 10).people,
            Vec::<String>::new()
        );
    }

    #[test]
    fn dropped_within_one_breakdown_value() {
        let s = FunnelSpec {
            by: Some(Breakdown::Source),
            ..abc(FunnelMode::Ordered)
        };
        let events = sorted(vec![
            with_source(ev(1, t(0), "v:1", "A"), "google"),
            with_source(ev(2, t(0), "v:2", "A"), "bing"),
            ev(3, t(0), "v:3", "A"),
            with_source(ev(4, t(0), "v:4", "A"), "google"),
            ev(5, t(1), "v:4", "B"),
        ]);
        let c = Customers::new();
        let page = dropped(&week(), &s, &events, &c, 1, Some("google"), None, 10);
        assert_eq!(page.people, vec!["v:1"]);
        let page = dropped(&week(), &s, &events, &c, 1, Some(UNKNOWN), None, 10);
        assert_eq!(page.people, vec!["v:3"]);
        let page = dropped(&week(), &s, &events, &c, 1, None, None, 10);
        assert_eq!(page.people, vec!["v:1", "v:2", "v:3"]);
    }

    #[test]
    fn a_visitor_and_a_customer_key_are_two_people() {
        // The store did not link v:1 to c:1, so neither did both steps.
        let events = sorted(vec![ev(1, t(0), "v:1", "A"), ev(2, t(1), "c:1", "B")]);
        assert_eq!(run(&abc(FunnelMode::Ordered), &events), vec![1, 0, 0]);
        assert_eq!(run(&abc(FunnelMode::Any), &events), vec![2, 0, 0]);
    }

    #[test]
    fn spec_validation_and_mode_parsing() {
        let mut s = abc(FunnelMode::Ordered);
        assert_eq!(s.validate(), Ok(()));
        s.steps = vec!["A".into()];
        assert_eq!(s.validate().unwrap_err().parameter, "steps");
        s.steps = (0..21).map(|i| format!("E{i}")).collect();
        assert_eq!(s.validate().unwrap_err().parameter, "steps");
        s.steps = (0..20).map(|i| format!("E{i}")).collect();
        assert_eq!(s.validate(), Ok(()));
        s.steps = vec!["A".into(), " ".into()];
        assert_eq!(s.validate().unwrap_err().parameter, "steps");
        s.steps = vec!["A".into(), "B".into()];
        s.window = Duration::zero();
        assert_eq!(s.validate().unwrap_err().parameter, "window");
        assert_eq!(FunnelSpec::default_steps().len(), 4);
        for mode in FunnelMode::ALL {
            assert_eq!(mode.as_str().parse::<FunnelMode>(), Ok(mode));
            assert_eq!(serde_json::to_value(mode).unwrap(), mode.as_str());
        }
        assert_eq!(
            "Ordered".parse::<FunnelMode>().unwrap_err().parameter,
            "mode"
        );
    }

    #[test]
    fn report_field_names() {
        let events = sorted(vec![ev(1, t(0), "v:1", "A"), ev(2, t(1), "v:1", "B")]);
        let report = funnel(
            &week(),
            &abc(FunnelMode::Ordered),
            &events,
            &Customers::new(),
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["steps"][1],
            serde_json::json!({
                "event": "B",
                "count": 1,
                "conversion_from_previous": 1.0,
                "conversion_from_first": 1.0,
                "median_seconds_from_previous": 60.0,
            })
        );
        assert_eq!(json["breakdown"], serde_json::json!([]));
    }

    /// The furthest step of one person by trying every start on its own (quadratic).
    fn brute_force(period: &Period, spec: &FunnelSpec, mine: &[&EventFact]) -> usize {
        let n = spec.steps.len();
        let mut best = 0;
        for (s, start) in mine.iter().enumerate() {
            if start.at < period.from || start.at >= period.to {
                continue;
            }
            let later = mine[s + 1..]
                .iter()
                .take_while(|e| e.at - start.at <= spec.window);
            let reached = match spec.mode {
                FunnelMode::Any => {
                    let mut left = spec.steps.clone();
                    for e in std::iter::once(start).chain(later) {
                        if let Some(k) = left.iter().position(|name| *name == e.event) {
                            left.remove(k);
                        }
                    }
                    n - left.len()
                }
                mode => {
                    if start.event != spec.steps[0] {
                        continue;
                    }
                    let mut k = 1;
                    for e in later {
                        if k == n {
                            break;
                        }
                        if e.event == spec.steps[k] {
                            k += 1;
                        } else if mode == FunnelMode::Strict && spec.steps.contains(&e.event) {
                            break;
                        }
                    }
                    k
                }
            };
            best = best.max(reached);
        }
        best
    }

    #[test]
    fn the_linear_pass_agrees_with_trying_every_start() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let p = week();
        let names = ["A", "B", "C"];
        let shapes: [&[&str]; 4] = [
            &["A", "B", "C"],
            &["A", "B", "A"],
            &["A", "A"],
            &["B", "A", "C", "B"],
        ];
        for round in 0..300 {
            let steps = shapes[round % shapes.len()];
            let mode = FunnelMode::ALL[round % 3];
            let s = spec(steps, Duration::minutes(30 + next(60) as i64), mode);
            let mut events = Vec::new();
            for seq in 0..(5 + next(40) as i64) {
                let person = format!("v:{}", next(4));
                // Minutes around the start of the range, with many ties.
                let at = p.from + Duration::minutes(next(240) as i64 - 30);
                events.push(ev(seq, at, &person, names[next(3) as usize]));
            }
            let events = sorted(events);
            let report = funnel(&p, &s, &events, &Customers::new());
            let mut expected = vec![0u64; steps.len()];
            for person in ["v:0", "v:1", "v:2", "v:3"] {
                let mine: Vec<&EventFact> = events.iter().filter(|e| e.person == person).collect();
                for count in expected.iter_mut().take(brute_force(&p, &s, &mine)) {
                    *count += 1;
                }
            }
            assert_eq!(counts(&report.steps), expected, "round {round}: {s:?}");
        }
    }
}
