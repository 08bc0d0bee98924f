//! A compact, columnar, interned in-memory form of the events, and the funnel report over it.
//!
//! [`EventTable`] holds one column per field the funnel needs (time in microseconds, sequence
//! number, person, event name and the seven breakdown attributes), with every string interned
//! to a `u32` id. [`funnel`] and [`dropped`] are the engine of the funnel report (see
//! [`crate::funnel`] for the definitions; its tests' reference implementation, written directly
//! over the facts, gives exactly the same for the same events),
//! but without owned strings or hashing on the query path:
//!
//! - the table keeps its rows in `(at, seq)` order (a fact older than the last one marks it
//!   unsorted; the next query orders it through a permutation, [`EventTable::sort`] reorders
//!   the columns themselves);
//! - a per-person index (offsets and rows by `(person, at, seq)`, with the time and the name
//!   copied next to each row so the per-person walk reads memory in order) is built lazily
//!   with a counting sort by person and cached until the next [`EventTable::push`];
//! - a query maps its step names to ids once, scans the time-ordered rows of `[from, to)` for
//!   the people who have a starting event there, and walks each of them from their first
//!   event at or after `from` to `to + window`, with the same per-person pass as the funnel
//!   module (reimplemented here over ids and microseconds); large queries split the people
//!   over several threads.
//!
//! Times are kept to the microsecond, the precision of every store (a finer event time is
//! truncated); the report's bounds and window are compared exactly (rounded the right way)
//! against them.

mod traffic;
pub use traffic::traffic;

use crate::funnel::{
    DroppedPage, FunnelBreakdown, FunnelMode, FunnelReport, FunnelSpec, FunnelStep,
};
use crate::params::{Breakdown, UNKNOWN};
use crate::period::Period;
use crate::{ratio, Customers};
use chrono::{DateTime, Duration, Utc};
use embudo_core::{Currency, CustomerId};
use embudo_store::facts::{EventFact, TimeRange};
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// The id no string has: an absent (or empty) attribute, or a name the table never saw.
pub const NONE: u32 = u32::MAX;

/// The value column's mark of an event without a value.
const NO_VALUE: i64 = i64::MIN;

/// The most rows a table may hold (row numbers are `u32`).
pub const MAX_ROWS: usize = u32::MAX as usize - 1;

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Interned strings: each distinct string gets the next `u32` id, from 0.
///
/// The strings are stored once, back to back; the lookup table maps a string's hash to its
/// newest id, and ids with the same hash are chained.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    /// Every string, back to back.
    text: String,
    /// Per id, where its string ends in `text` (it starts where the previous one ends).
    ends: Vec<usize>,
    /// Hash to the newest id with that hash.
    heads: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    /// Per id, the previous id with the same hash ([`NONE`] for none).
    chain: Vec<u32>,
    /// The hash of the strings.
    hasher: RandomState,
}

impl Interner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `s`, interning it when new.
    ///
    /// # Panics
    ///
    /// When it would be the `u32::MAX`-th distinct string.
    pub fn get_or_insert(&mut self, s: &str) -> u32 {
        let hash = self.hasher.hash_one(s);
        if let Some(id) = self.find(hash, s) {
            return id;
        }
        let id = u32::try_from(self.ends.len())
            .ok()
            .filter(|&id| id != NONE)
            .expect("too many distinct strings to intern");
        self.text.push_str(s);
        self.ends.push(self.text.len());
        self.chain.push(self.heads.insert(hash, id).unwrap_or(NONE));
        id
    }

    /// The id of `s`, if interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.find(self.hasher.hash_one(s), s)
    }

    fn find(&self, hash: u64, s: &str) -> Option<u32> {
        let mut id = *self.heads.get(&hash)?;
        while id != NONE {
            if self.name(id) == s {
                return Some(id);
            }
            id = self.chain[id as usize];
        }
        None
    }

    /// The string of `id`.
    ///
    /// # Panics
    ///
    /// When `id` is not an id of this interner.
    pub fn name(&self, id: u32) -> &str {
        let id = id as usize;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        &self.text[start..self.ends[id]]
    }

    /// How many distinct strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Approximate heap size in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + self.chain.capacity() * std::mem::size_of::<u32>()
            + self.heads.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
    }
}

/// The breakdown attributes an event carries, in the order of [`EventTable`]'s columns.
const ATTRIBUTES: [Breakdown; 7] = [
    Breakdown::Product,
    Breakdown::Category,
    Breakdown::Source,
    Breakdown::Medium,
    Breakdown::Campaign,
    Breakdown::Device,
    Breakdown::Country,
];

/// The column of a breakdown attribute (none for the customer type, which is the customer's).
fn attribute_column(by: Breakdown) -> Option<usize> {
    ATTRIBUTES.iter().position(|&b| b == by)
}

/// The events, column by column, with interned strings.
#[derive(Debug, Clone, Default)]
pub struct EventTable {
    /// When, in microseconds since the epoch.
    at: Vec<i64>,
    /// The store's sequence number.
    seq: Vec<i64>,
    /// The person, an id of `people`.
    person: Vec<u32>,
    /// The event name, an id of `names`.
    event: Vec<u32>,
    /// Per [`ATTRIBUTES`], an id of `values` ([`NONE`] when absent or empty).
    attributes: [Vec<u32>; 7],
    /// The client's session id, an id of `sessions` ([`NONE`] when absent or empty).
    session: Vec<u32>,
    /// What the event is worth in minor units ([`NO_VALUE`] when absent).
    value: Vec<i64>,
    /// The currency of `value`, an id of `values` ([`NONE`] when absent).
    currency: Vec<u32>,
    /// Person keys.
    people: Interner,
    /// Session ids.
    sessions: Interner,
    /// Event names.
    names: Interner,
    /// Attribute values (one interner for all seven).
    values: Interner,
    /// Whether some row is older, by `(at, seq)`, than a row before it.
    unsorted: bool,
    /// The per-person index, built on the first query after a change.
    index: OnceLock<Index>,
}

impl EventTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table of `facts` (in `(at, seq)` order, as the store hands them over; other orders
    /// are sorted, keeping the given order between equal `(at, seq)`).
    pub fn from_facts(facts: &[EventFact]) -> Self {
        let mut table = Self::new();
        table.reserve(facts.len());
        for fact in facts {
            table.push(fact);
        }
        table.sort();
        table
    }

    /// Room for `additional` more rows.
    pub fn reserve(&mut self, additional: usize) {
        self.at.reserve(additional);
        self.seq.reserve(additional);
        self.person.reserve(additional);
        self.event.reserve(additional);
        for column in &mut self.attributes {
            column.reserve(additional);
        }
        self.session.reserve(additional);
        self.value.reserve(additional);
        self.currency.reserve(additional);
    }

    /// Appends one event. Events should arrive in `(at, seq)` order; one that is older than
    /// the last one is still placed correctly (the table is then ordered on the next query,
    /// or by [`EventTable::sort`]).
    ///
    /// # Panics
    ///
    /// When the table already holds [`MAX_ROWS`] rows.
    pub fn push(&mut self, fact: &EventFact) {
        assert!(
            self.at.len() < MAX_ROWS,
            "an event table holds at most {MAX_ROWS} rows"
        );
        let at = fact.at.timestamp_micros();
        if let (Some(&last_at), Some(&last_seq)) = (self.at.last(), self.seq.last()) {
            if (at, fact.seq) < (last_at, last_seq) {
                self.unsorted = true;
            }
        }
        self.at.push(at);
        self.seq.push(fact.seq);
        self.person.push(self.people.get_or_insert(&fact.person));
        self.event.push(self.names.get_or_insert(&fact.event));
        let values = [
            &fact.product_id,
            &fact.category,
            &fact.source,
            &fact.medium,
            &fact.campaign,
            &fact.device,
            &fact.country,
        ];
        for (column, value) in self.attributes.iter_mut().zip(values) {
            column.push(match value.as_deref() {
                Some(v) if !v.is_empty() => self.values.get_or_insert(v),
                _ => NONE,
            });
        }
        self.session.push(match fact.session_id.as_deref() {
            Some(s) if !s.is_empty() => self.sessions.get_or_insert(s),
            _ => NONE,
        });
        self.value.push(fact.value.unwrap_or(NO_VALUE));
        self.currency.push(match fact.currency {
            Some(c) => self.values.get_or_insert(c.code()),
            None => NONE,
        });
        self.index.take();
    }

    /// Puts the rows themselves in `(at, seq)` order (keeping the order of arrival between
    /// equal ones), when a push left them out of order.
    pub fn sort(&mut self) {
        if !self.unsorted {
            return;
        }
        let order = self.time_order();
        fn permute<T: Copy>(column: &mut Vec<T>, order: &[u32]) {
            *column = order.iter().map(|&r| column[r as usize]).collect();
        }
        permute(&mut self.at, &order);
        permute(&mut self.seq, &order);
        permute(&mut self.person, &order);
        permute(&mut self.event, &order);
        for column in &mut self.attributes {
            permute(column, &order);
        }
        permute(&mut self.session, &order);
        permute(&mut self.value, &order);
        permute(&mut self.currency, &order);
        self.unsorted = false;
        self.index.take();
    }

    /// Builds the per-person index now rather than on the next query (it is kept until the
    /// next change).
    pub fn prepare(&self) {
        self.index();
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// The person keys.
    pub fn people(&self) -> &Interner {
        &self.people
    }

    /// The event names.
    pub fn names(&self) -> &Interner {
        &self.names
    }

    /// Approximate heap size in bytes, the per-person index included when built.
    pub fn memory_bytes(&self) -> usize {
        let columns = (self.at.capacity() + self.seq.capacity() + self.value.capacity()) * 8
            + (self.person.capacity()
                + self.event.capacity()
                + self.session.capacity()
                + self.currency.capacity()
                + self.attributes.iter().map(Vec::capacity).sum::<usize>())
                * 4;
        columns
            + self.people.memory_bytes()
            + self.sessions.memory_bytes()
            + self.names.memory_bytes()
            + self.values.memory_bytes()
            + self.index.get().map_or(0, Index::memory_bytes)
    }

    /// The positions, in time order, of the rows in `range`, and the row at each position.
    fn time_span(
        &self,
        range: TimeRange,
    ) -> (std::ops::Range<usize>, impl Fn(usize) -> usize + '_) {
        let index = self.index();
        let row = move |i: usize| match &index.time {
            None => i,
            Some(order) => order[i] as usize,
        };
        let from = range.from.map_or(i64::MIN, ceil_micros);
        let to = range.to.map_or(i64::MAX, ceil_micros);
        let lo = lower_bound(self.len(), |i| self.at[row(i)] < from);
        let hi = lo + lower_bound(self.len() - lo, |i| self.at[row(lo + i)] < to);
        (lo..hi, row)
    }

    /// The events in `range` named one of `names` (all when empty), in `(at, seq)` order, as
    /// the store would give them.
    pub fn facts(&self, range: TimeRange, names: &[String]) -> Vec<EventFact> {
        let wanted: Vec<bool> = (0..self.names.len() as u32)
            .map(|id| names.is_empty() || names.iter().any(|n| n == self.names.name(id)))
            .collect();
        let (span, row) = self.time_span(range);
        let text =
            |id: u32, interner: &Interner| (id != NONE).then(|| interner.name(id).to_owned());
        let mut out = Vec::new();
        for i in span {
            let r = row(i);
            if !wanted[self.event[r] as usize] {
                continue;
            }
            let person = self.people.name(self.person[r]);
            let attribute = |column: usize| text(self.attributes[column][r], &self.values);
            out.push(EventFact {
                seq: self.seq[r],
                at: DateTime::from_timestamp_micros(self.at[r]).unwrap_or_default(),
                person: person.to_owned(),
                customer_id: person
                    .strip_prefix("c:")
                    .and_then(|id| CustomerId::parse(id).ok()),
                event: self.names.name(self.event[r]).to_owned(),
                session_id: text(self.session[r], &self.sessions),
                product_id: attribute(0),
                category: attribute(1),
                value: (self.value[r] != NO_VALUE).then_some(self.value[r]),
                currency: (self.currency[r] != NONE)
                    .then(|| Currency::parse(self.values.name(self.currency[r])).ok())
                    .flatten(),
                source: attribute(2),
                medium: attribute(3),
                campaign: attribute(4),
                device: attribute(5),
                country: attribute(6),
            });
        }
        out
    }

    /// How many distinct people have an event in `range`.
    pub fn count_people(&self, range: TimeRange) -> u64 {
        let (span, row) = self.time_span(range);
        let mut seen = vec![0u64; self.people.len().div_ceil(64)];
        for i in span {
            let p = self.person[row(i)] as usize;
            seen[p / 64] |= 1 << (p % 64);
        }
        seen.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Moves events between people: for each `(from, to)` in turn, the events whose person key
    /// is `from` now belong to `to` (the identity log replayed, see
    /// [`embudo_store::facts::IdentityChange`]). One pass over the rows, whatever the number
    /// of changes.
    pub fn rekey<'a>(&mut self, changes: impl IntoIterator<Item = (&'a str, &'a str)>) {
        // Per person id, its key now, for the ids that change; and per key id now, the ids that
        // have it (besides itself).
        let mut now: HashMap<u32, u32> = HashMap::new();
        let mut holders: HashMap<u32, Vec<u32>> = HashMap::new();
        for (from, to) in changes {
            let Some(from) = self.people.get(from) else {
                continue;
            };
            let to = self.people.get_or_insert(to);
            if from == to {
                continue;
            }
            let mut moving = holders.remove(&from).unwrap_or_default();
            if !now.contains_key(&from) {
                moving.push(from);
            }
            for &id in &moving {
                now.insert(id, to);
            }
            holders.entry(to).or_default().extend(moving);
        }
        if now.is_empty() {
            return;
        }
        let mut map: Vec<u32> = (0..self.people.len() as u32).collect();
        for (id, to) in now {
            map[id as usize] = to;
        }
        for p in &mut self.person {
            *p = map[*p as usize];
        }
        self.index.take();
    }

    /// The rows in `(at, seq, row)` order.
    fn time_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        // A stable sort: equal `(at, seq)` keep their order of arrival.
        order.sort_by_key(|&r| (self.at[r as usize], self.seq[r as usize]));
        order
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::build(self))
    }
}

/// The per-person index of a table.
#[derive(Debug, Clone)]
struct Index {
    /// The rows in `(at, seq)` order, when the columns are not.
    time: Option<Vec<u32>>,
    /// Per person id, where their events start in the columns below (one more at the end).
    offsets: Vec<u32>,
    /// The rows by `(person, at, seq)`.
    rows: Vec<u32>,
    /// The time of each of `rows`.
    at: Vec<i64>,
    /// The name of each of `rows`.
    name: Vec<u32>,
    /// The client session of each of `rows`.
    session: Vec<u32>,
}

impl Index {
    /// A counting sort by person of the rows in time order: O(rows + people).
    fn build(table: &EventTable) -> Self {
        let n = table.len();
        let people = table.people.len();
        let time = table.unsorted.then(|| table.time_order());
        let mut offsets = vec![0u32; people + 1];
        for &p in &table.person {
            offsets[p as usize + 1] += 1;
        }
        for p in 0..people {
            offsets[p + 1] += offsets[p];
        }
        let mut next = offsets[..people].to_vec();
        let mut rows = vec![0u32; n];
        let mut at = vec![0i64; n];
        let mut name = vec![0u32; n];
        let mut session = vec![0u32; n];
        let mut place = |r: usize| {
            let p = table.person[r] as usize;
            let j = next[p] as usize;
            next[p] += 1;
            rows[j] = r as u32;
            at[j] = table.at[r];
            name[j] = table.event[r];
            session[j] = table.session[r];
        };
        match &time {
            Some(order) => order.iter().for_each(|&r| place(r as usize)),
            None => (0..n).for_each(place),
        }
        Self {
            time,
            offsets,
            rows,
            at,
            name,
            session,
        }
    }

    fn memory_bytes(&self) -> usize {
        self.time.as_ref().map_or(0, Vec::capacity) * 4
            + (self.offsets.capacity()
                + self.rows.capacity()
                + self.name.capacity()
                + self.session.capacity())
                * 4
            + self.at.capacity() * 8
    }
}

/// `t` in whole microseconds, rounded up: `at >= t` for a time `at` in microseconds is
/// `at >= ceil_micros(t)`, and so is `at < t` with `at < ceil_micros(t)`.
fn ceil_micros(t: DateTime<Utc>) -> i64 {
    let micros = t.timestamp_micros();
    if t.timestamp_subsec_micros() * 1_000 != t.timestamp_subsec_nanos() {
        micros.saturating_add(1)
    } else {
        micros
    }
}

/// `d` in whole microseconds, rounded down: `gap <= d` for a gap in microseconds is
/// `gap <= floor_micros(d)`.
fn floor_micros(d: Duration) -> i64 {
    match d.num_microseconds() {
        Some(us) if Duration::microseconds(us) > d => us - 1,
        Some(us) => us,
        None if d > Duration::zero() => i64::MAX,
        None => i64::MIN,
    }
}

/// A funnel query, resolved against one table.
struct Plan {
    /// The number of steps.
    n: usize,
    mode: FunnelMode,
    /// Per name id of the table, the slot of the step name (distinct names, numbered in the
    /// order the steps first list them), or [`NONE`] for other events.
    slot_of: Vec<u32>,
    /// Per step, its slot.
    step_slot: Vec<u32>,
    /// Per slot, how many times the steps list it.
    wanted: Vec<u32>,
    /// Per slot, the steps after the first with that name (0-based), last first.
    later: Vec<Vec<usize>>,
    /// Per name id of the table, whether an event of that name in `[from, to)` can start a
    /// match (of step 1; of any step in mode `any`).
    start_name: Vec<bool>,
    /// `period.from`, rounded up to the microsecond.
    from: i64,
    /// `period.to`, rounded up to the microsecond.
    to: i64,
    /// The window, rounded down to the microsecond.
    window: i64,
    /// No event from here on can change anybody's outcome: `to + max(window, 0)`.
    end: i64,
}

impl Plan {
    fn new(period: &Period, spec: &FunnelSpec, table: &EventTable) -> Self {
        let mut distinct: Vec<&str> = Vec::new();
        let mut wanted: Vec<u32> = Vec::new();
        let mut step_slot = Vec::with_capacity(spec.steps.len());
        for name in &spec.steps {
            let slot = match distinct.iter().position(|d| *d == name.as_str()) {
                Some(slot) => slot,
                None => {
                    distinct.push(name);
                    wanted.push(0);
                    distinct.len() - 1
                }
            };
            wanted[slot] += 1;
            step_slot.push(slot as u32);
        }
        let mut slot_of = vec![NONE; table.names.len()];
        for (slot, name) in distinct.iter().enumerate() {
            if let Some(id) = table.names.get(name) {
                slot_of[id as usize] = slot as u32;
            }
        }
        let mut later = vec![Vec::new(); distinct.len()];
        for (k, &slot) in step_slot.iter().enumerate().skip(1).rev() {
            later[slot as usize].push(k);
        }
        let start_name = slot_of
            .iter()
            .map(|&slot| slot != NONE && (spec.mode == FunnelMode::Any || slot == step_slot[0]))
            .collect();
        let (from, to) = (ceil_micros(period.from), ceil_micros(period.to));
        let window = floor_micros(spec.window);
        Self {
            n: spec.steps.len(),
            mode: spec.mode,
            slot_of,
            step_slot,
            wanted,
            later,
            start_name,
            from,
            to,
            window,
            end: to.saturating_add(window.max(0)),
        }
    }
}

/// One funnel event of a person.
#[derive(Debug, Clone, Copy)]
struct Ev {
    at: i64,
    slot: u32,
    row: u32,
}

/// How far one person got.
#[derive(Debug, Clone)]
struct Outcome {
    /// Their furthest step (1-based); 0 when they never started.
    reached: usize,
    /// The row of the event that started their best match.
    start: u32,
    /// Per step (0-based), the microseconds from the previous step on the match that first
    /// reached it (`None` for step 1, in mode `any`, and for steps not reached).
    gaps: Vec<Option<i64>>,
}

/// A partial match: where it started and when its latest step happened.
#[derive(Debug, Clone, Copy)]
struct Partial {
    start: u32,
    start_at: i64,
    last_at: i64,
}

/// The reusable buffers of the per-person pass.
struct Pass {
    events: Vec<Ev>,
    state: Vec<Option<Partial>>,
    seen: Vec<u32>,
    out: Outcome,
}

impl Pass {
    fn new(plan: &Plan) -> Self {
        Self {
            events: Vec::new(),
            state: vec![None; plan.n],
            seen: vec![0; plan.wanted.len()],
            out: Outcome {
                reached: 0,
                start: NONE,
                gaps: vec![None; plan.n],
            },
        }
    }

    /// Loads the funnel events of `person` from their first event at or after `from` up to
    /// `end` (events outside cannot change their outcome).
    fn load(&mut self, plan: &Plan, index: &Index, person: usize) {
        let (lo, hi) = (
            index.offsets[person] as usize,
            index.offsets[person + 1] as usize,
        );
        let first = lo + index.at[lo..hi].partition_point(|&at| at < plan.from);
        self.events.clear();
        for j in first..hi {
            let at = index.at[j];
            if at >= plan.end {
                break;
            }
            let slot = plan.slot_of[index.name[j] as usize];
            if slot != NONE {
                self.events.push(Ev {
                    at,
                    slot,
                    row: index.rows[j],
                });
            }
        }
    }

    fn run(&mut self, plan: &Plan) {
        self.out.reached = 0;
        self.out.start = NONE;
        self.out.gaps.fill(None);
        match plan.mode {
            FunnelMode::Ordered => self.in_order(plan, false),
            FunnelMode::Strict => self.in_order(plan, true),
            FunnelMode::Any => self.any_order(plan),
        }
    }

    /// Modes `ordered` and `strict`, as in the funnel module: per step the partial match with
    /// the latest start among those that reached it; steps advance in descending order so
    /// that one event never advances two steps.
    fn in_order(&mut self, plan: &Plan, strict: bool) {
        let state = &mut self.state;
        let out = &mut self.out;
        state.fill(None);
        for event in &self.events {
            if strict {
                for k in (1..plan.n).rev() {
                    advance(plan, state, out, event, k, true);
                }
            } else {
                // Steps of other names leave the state as it is.
                for &k in &plan.later[event.slot as usize] {
                    advance(plan, state, out, event, k, false);
                }
            }
            let starts =
                plan.step_slot[0] == event.slot && event.at >= plan.from && event.at < plan.to;
            if starts {
                if strict || state[0].is_none_or(|s| event.at > s.start_at) {
                    state[0] = Some(Partial {
                        start: event.row,
                        start_at: event.at,
                        last_at: event.at,
                    });
                }
                if out.reached == 0 {
                    out.reached = 1;
                    out.start = event.row;
                }
            } else if strict {
                state[0] = None;
            }
        }
    }

    /// Mode `any`, as in the funnel module: a sliding window counting the distinct steps done
    /// from each start in the range to `window` after it.
    fn any_order(&mut self, plan: &Plan) {
        let events = &self.events;
        let seen = &mut self.seen;
        let out = &mut self.out;
        seen.fill(0);
        let mut done = 0usize;
        let mut end = 0usize;
        for (pos, start) in events.iter().enumerate() {
            end = end.max(pos);
            if start.at >= plan.from && start.at < plan.to {
                while end < events.len() && events[end].at.saturating_sub(start.at) <= plan.window {
                    let slot = events[end].slot as usize;
                    if seen[slot] < plan.wanted[slot] {
                        done += 1;
                    }
                    seen[slot] += 1;
                    end += 1;
                }
                if done > out.reached {
                    out.reached = done;
                    out.start = start.row;
                }
            }
            if end > pos {
                let slot = start.slot as usize;
                seen[slot] -= 1;
                if seen[slot] < plan.wanted[slot] {
                    done -= 1;
                }
            }
        }
    }
}

/// Step `k` (0-based, at least 1) of an ordered or strict pass, for one event.
fn advance(
    plan: &Plan,
    state: &mut [Option<Partial>],
    out: &mut Outcome,
    event: &Ev,
    k: usize,
    strict: bool,
) {
    let advanced = state[k - 1].filter(|p| {
        plan.step_slot[k] == event.slot && event.at.saturating_sub(p.start_at) <= plan.window
    });
    match advanced {
        Some(previous) => {
            let next = Partial {
                last_at: event.at,
                ..previous
            };
            if out.reached < k + 1 {
                out.reached = k + 1;
                out.start = previous.start;
                out.gaps[k] = Some(event.at.saturating_sub(previous.last_at));
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

/// How many threads a query over `rows` events in its range may use: one for small ones.
fn threads_for(rows: usize) -> usize {
    if rows < 400_000 {
        return 1;
    }
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    cores.min(8).min(rows / 200_000).max(1)
}

/// Bounds of `threads` ranges of person ids, in 64-person words of a bitset of `words` words,
/// with about as many events each.
fn person_words(index: &Index, words: usize, threads: usize) -> Vec<usize> {
    let total = index.rows.len();
    let mut bounds = vec![0usize];
    for t in 1..threads {
        let person = index
            .offsets
            .partition_point(|&o| (o as usize) < total / threads * t);
        let word = (person / 64).clamp(*bounds.last().unwrap_or(&0), words);
        bounds.push(word);
    }
    bounds.push(words);
    bounds
}

/// Runs `work(from_word, to_word)` over the ranges `bounds` on as many threads, the first on
/// this one; the results in order.
fn on_threads<S: Send>(bounds: &[usize], work: impl Fn(usize, usize) -> S + Sync) -> Vec<S> {
    if bounds.len() <= 2 {
        return vec![work(bounds[0], *bounds.last().unwrap_or(&bounds[0]))];
    }
    std::thread::scope(|scope| {
        let work = &work;
        let others: Vec<_> = bounds
            .windows(2)
            .skip(1)
            .map(|b| {
                let (a, z) = (b[0], b[1]);
                scope.spawn(move || work(a, z))
            })
            .collect();
        let mut states = vec![work(bounds[0], bounds[1])];
        for other in others {
            states.push(
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        states
    })
}

/// The first of `0..len` for which `below(i)` is false (`below` is true, then false).
fn lower_bound(len: usize, below: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Runs every person who reached at least step 1 through `visit(state, person, outcome)`,
/// on up to `threads` threads (`None`: as many as the size asks for), each over its own
/// range of person ids with its own state from `init`. The states come back in ascending
/// order of their person ranges.
fn each_outcome<S: Send>(
    table: &EventTable,
    plan: &Plan,
    threads: Option<usize>,
    init: impl Fn() -> S + Sync,
    visit: impl Fn(&mut S, u32, &Outcome) + Sync,
) -> Vec<S> {
    if plan.n == 0 || table.is_empty() {
        return vec![init()];
    }
    let index = table.index();
    let at = |i: usize| match &index.time {
        None => table.at[i],
        Some(order) => table.at[order[i] as usize],
    };
    let lo = lower_bound(table.len(), |i| at(i) < plan.from);
    let hi = lo + lower_bound(table.len() - lo, |i| at(lo + i) < plan.to);
    let threads = threads.unwrap_or_else(|| threads_for(hi - lo)).max(1);
    let marks = candidates(table, plan, lo..hi, threads);
    let words = marks.len();
    let bounds = person_words(index, words, threads);
    let work = |from_word: usize, to_word: usize| {
        let mut state = init();
        let mut pass = Pass::new(plan);
        for (word_at, &word) in marks.iter().enumerate().take(to_word).skip(from_word) {
            let mut bits = word;
            while bits != 0 {
                let person = word_at * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                pass.load(plan, index, person);
                pass.run(plan);
                if pass.out.reached > 0 {
                    visit(&mut state, person as u32, &pass.out);
                }
            }
        }
        state
    };
    on_threads(&bounds, work)
}

/// A bit per person id: whether they have an event that can start a match among the events
/// at time positions `range` (those in `[from, to)`), scanned on `threads` threads.
fn candidates(
    table: &EventTable,
    plan: &Plan,
    range: std::ops::Range<usize>,
    threads: usize,
) -> Vec<u64> {
    let words = table.people.len().div_ceil(64);
    let time = table.index().time.as_deref();
    let scan = |range: std::ops::Range<usize>| {
        let mut marks = vec![0u64; words];
        let mut mark = |r: usize| {
            let p = table.person[r] as usize;
            let bit = u64::from(plan.start_name[table.event[r] as usize]);
            marks[p / 64] |= bit << (p % 64);
        };
        match time {
            None => range.for_each(&mut mark),
            Some(order) => order[range].iter().for_each(|&r| mark(r as usize)),
        }
        marks
    };
    if threads <= 1 {
        return scan(range);
    }
    let step = range.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let scan = &scan;
        let parts: Vec<_> = (1..threads)
            .map(|t| {
                let a = (range.start + t * step).min(range.end);
                let z = (a + step).min(range.end);
                scope.spawn(move || scan(a..z))
            })
            .collect();
        let mut marks = scan(range.start..(range.start + step).min(range.end));
        for part in parts {
            let part = part
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (m, p) in marks.iter_mut().zip(part) {
                *m |= p;
            }
        }
        marks
    })
}

/// Per-step counts and gaps of a group of people.
#[derive(Debug, Clone)]
struct Tally {
    counts: Vec<u64>,
    gaps: Vec<Vec<i64>>,
}

impl Tally {
    fn new(n: usize) -> Self {
        Self {
            counts: vec![0; n],
            gaps: vec![Vec::new(); n],
        }
    }

    /// One person, who reached step `reached` with these `gaps` (see [`Outcome`]).
    fn add(&mut self, reached: usize, gaps: &[Option<i64>]) {
        let steps = self.counts.iter_mut().zip(&mut self.gaps).zip(gaps);
        for ((count, all), gap) in steps.take(reached) {
            *count += 1;
            if let Some(gap) = *gap {
                all.push(gap);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        for (k, (count, gaps)) in other.counts.into_iter().zip(other.gaps).enumerate() {
            self.counts[k] += count;
            self.gaps[k].extend(gaps);
        }
    }

    /// The steps, as the funnel module builds them.
    fn steps(mut self, spec: &FunnelSpec) -> Vec<FunnelStep> {
        let counts = &self.counts;
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
                    median_seconds_from_previous: median_seconds(&mut self.gaps[k]),
                }
            })
            .collect()
    }
}

/// The median of microsecond gaps, in seconds, as the funnel module computes it (each value
/// in seconds first, then the mean of the two middle ones for an even count).
fn median_seconds(micros: &mut [i64]) -> Option<f64> {
    if micros.is_empty() {
        return None;
    }
    let seconds = |us: i64| us as f64 / 1e6;
    let mid = micros.len() / 2;
    let even = mid * 2 == micros.len();
    let (below, &mut upper, _) = micros.select_nth_unstable(mid);
    Some(if even {
        let lower = below.iter().copied().max().unwrap_or(upper);
        (seconds(lower) + seconds(upper)) / 2.0
    } else {
        seconds(upper)
    })
}

/// The breakdown value of a person's outcome.
#[derive(Debug, Clone, Copy)]
enum Valuer<'a> {
    /// An attribute column of the starting event.
    Attribute(&'a [u32]),
    /// The customer type of the person.
    CustomerType,
}

impl<'a> Valuer<'a> {
    fn new(by: Breakdown, table: &'a EventTable) -> Self {
        match attribute_column(by) {
            Some(c) => Valuer::Attribute(&table.attributes[c]),
            None => Valuer::CustomerType,
        }
    }
}

/// The customer type of a person key, as the funnel module gives it.
fn customer_type<'c>(person: &str, customers: &'c Customers) -> &'c str {
    if !person.starts_with("c:") {
        return UNKNOWN;
    }
    customers
        .get(person)
        .map_or(UNKNOWN, |c| c.customer_type.as_str())
}

/// The people's tallies per breakdown value.
struct Groups<'a> {
    valuer: Valuer<'a>,
    table: &'a EventTable,
    customers: &'a Customers,
    n: usize,
    /// Per attribute value id (and [`NONE`] last), its group in `by_id`.
    group_of: Vec<u32>,
    by_id: Vec<(u32, Tally)>,
    by_name: Vec<(&'a str, Tally)>,
    /// Outcomes waiting for their attribute value, `(start row, reached)`: the values are
    /// read a batch at a time, so that the reads overlap.
    pending: Vec<(u32, usize)>,
    /// The gaps of `pending`, `n` each.
    pending_gaps: Vec<Option<i64>>,
}

/// How many outcomes [`Groups`] reads the attribute values of at once.
const BATCH: usize = 256;

impl<'a> Groups<'a> {
    fn new(by: Breakdown, table: &'a EventTable, customers: &'a Customers, n: usize) -> Self {
        let valuer = Valuer::new(by, table);
        let group_of = match valuer {
            Valuer::Attribute(_) => vec![NONE; table.values.len() + 1],
            Valuer::CustomerType => Vec::new(),
        };
        Self {
            valuer,
            table,
            customers,
            n,
            group_of,
            by_id: Vec::new(),
            by_name: Vec::new(),
            pending: Vec::with_capacity(BATCH),
            pending_gaps: Vec::with_capacity(BATCH * n),
        }
    }

    fn add(&mut self, person: u32, outcome: &Outcome) {
        match self.valuer {
            Valuer::Attribute(_) => {
                self.pending.push((outcome.start, outcome.reached));
                self.pending_gaps.extend_from_slice(&outcome.gaps);
                if self.pending.len() == BATCH {
                    self.flush();
                }
            }
            Valuer::CustomerType => {
                let value = customer_type(self.table.people.name(person), self.customers);
                let at = match self.by_name.iter().position(|(v, _)| *v == value) {
                    Some(at) => at,
                    None => {
                        self.by_name.push((value, Tally::new(self.n)));
                        self.by_name.len() - 1
                    }
                };
                self.by_name[at].1.add(outcome.reached, &outcome.gaps);
            }
        }
    }

    /// Counts the pending outcomes under their attribute values.
    fn flush(&mut self) {
        let Valuer::Attribute(column) = self.valuer else {
            return;
        };
        let mut values = [NONE; BATCH];
        for (value, &(start, _)) in values.iter_mut().zip(&self.pending) {
            *value = column[start as usize];
        }
        for (i, (&value, &(_, reached))) in values.iter().zip(&self.pending).enumerate() {
            let slot = (value as usize).min(self.group_of.len() - 1);
            if self.group_of[slot] == NONE {
                self.group_of[slot] = self.by_id.len() as u32;
                self.by_id.push((value, Tally::new(self.n)));
            }
            let gaps = &self.pending_gaps[i * self.n..(i + 1) * self.n];
            self.by_id[self.group_of[slot] as usize]
                .1
                .add(reached, gaps);
        }
        self.pending.clear();
        self.pending_gaps.clear();
    }

    /// The rows of the breakdown, from the groups of every thread.
    fn rows(all: Vec<Groups<'a>>, spec: &FunnelSpec) -> Vec<FunnelBreakdown> {
        let mut merged: BTreeMap<&str, Tally> = BTreeMap::new();
        for mut groups in all {
            groups.flush();
            let values = &groups.table.values;
            let named = groups
                .by_id
                .into_iter()
                .map(|(id, tally)| (value_name(values, id), tally))
                .chain(groups.by_name);
            for (value, tally) in named {
                match merged.get_mut(value) {
                    Some(t) => t.merge(tally),
                    None => {
                        merged.insert(value, tally);
                    }
                }
            }
        }
        let mut rows: Vec<FunnelBreakdown> = merged
            .into_iter()
            .map(|(value, tally)| FunnelBreakdown {
                value: value.to_string(),
                steps: tally.steps(spec),
            })
            .collect();
        let first = |row: &FunnelBreakdown| row.steps.first().map_or(0, |s| s.count);
        rows.sort_by(|a, b| first(b).cmp(&first(a)).then_with(|| a.value.cmp(&b.value)));
        rows
    }
}

/// The text of an attribute value id ([`UNKNOWN`] for [`NONE`]).
fn value_name(values: &Interner, id: u32) -> &str {
    if id == NONE {
        UNKNOWN
    } else {
        values.name(id)
    }
}

/// The funnel report over the events of `table`: the same as the reference implementation over
/// the same events. See the funnel module for the definitions. Large queries run on several
/// threads.
pub fn funnel(
    period: &Period,
    spec: &FunnelSpec,
    table: &EventTable,
    customers: &Customers,
) -> FunnelReport {
    funnel_on(period, spec, table, customers, None)
}

/// [`funnel`] on `threads` threads (`None`: as many as the size asks for).
fn funnel_on(
    period: &Period,
    spec: &FunnelSpec,
    table: &EventTable,
    customers: &Customers,
    threads: Option<usize>,
) -> FunnelReport {
    let plan = Plan::new(period, spec, table);
    let n = spec.steps.len();
    let states = each_outcome(
        table,
        &plan,
        threads,
        || {
            (
                Tally::new(n),
                spec.by.map(|by| Groups::new(by, table, customers, n)),
            )
        },
        |(total, groups), person, outcome| {
            total.add(outcome.reached, &outcome.gaps);
            if let Some(groups) = groups.as_mut() {
                groups.add(person, outcome);
            }
        },
    );
    let mut total = Tally::new(n);
    let mut all_groups = Vec::new();
    for (tally, groups) in states {
        total.merge(tally);
        all_groups.extend(groups);
    }
    FunnelReport {
        steps: total.steps(spec),
        breakdown: match spec.by {
            Some(_) => Groups::rows(all_groups, spec),
            None => Vec::new(),
        },
    }
}

/// The people whose furthest step is exactly `step`, over the events of `table`: the same as
/// the reference implementation over the same events (1-based `step`; ascending person keys
/// after `after`, at most `limit`; only those counted under `breakdown_value` of `spec.by`
/// when both are given).
#[allow(clippy::too_many_arguments)]
pub fn dropped(
    period: &Period,
    spec: &FunnelSpec,
    table: &EventTable,
    customers: &Customers,
    step: usize,
    breakdown_value: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> DroppedPage {
    let page = Page {
        step,
        breakdown_value,
        after,
        limit,
    };
    dropped_on(period, spec, table, customers, page, None)
}

/// Which page of [`dropped`].
#[derive(Debug, Clone, Copy)]
struct Page<'a> {
    step: usize,
    breakdown_value: Option<&'a str>,
    after: Option<&'a str>,
    limit: usize,
}

/// [`dropped`] on `threads` threads (`None`: as many as the size asks for).
fn dropped_on(
    period: &Period,
    spec: &FunnelSpec,
    table: &EventTable,
    customers: &Customers,
    page: Page<'_>,
    threads: Option<usize>,
) -> DroppedPage {
    let Page {
        step,
        breakdown_value,
        after,
        limit,
    } = page;
    let mut page = DroppedPage {
        people: Vec::new(),
        next: None,
    };
    if step == 0 || step >= spec.steps.len() || limit == 0 {
        return page;
    }
    let plan = Plan::new(period, spec, table);
    let filter = match (spec.by, breakdown_value) {
        (Some(by), Some(value)) => Some((Valuer::new(by, table), value)),
        _ => None,
    };
    // For an attribute, the value id that reads `value` (besides NONE for `(none)`).
    let wanted_id = breakdown_value.and_then(|v| table.values.get(v));
    let states = each_outcome(
        table,
        &plan,
        threads,
        Vec::new,
        |keys: &mut Vec<&str>, person, outcome| {
            if outcome.reached != step {
                return;
            }
            let key = table.people.name(person);
            if after.is_some_and(|after| key <= after) {
                return;
            }
            let matches = match filter {
                None => true,
                Some((Valuer::Attribute(column), value)) => {
                    let id = column[outcome.start as usize];
                    if id == NONE {
                        value == UNKNOWN
                    } else {
                        Some(id) == wanted_id
                    }
                }
                Some((Valuer::CustomerType, value)) => customer_type(key, customers) == value,
            };
            if matches {
                keys.push(key);
            }
        },
    );
    let mut keys = states.concat();
    if keys.len() > limit {
        keys.select_nth_unstable(limit);
        keys.truncate(limit);
        page.next = Some(String::new());
    }
    keys.sort_unstable();
    page.people = keys.into_iter().map(str::to_string).collect();
    if page.next.is_some() {
        page.next = page.people.last().cloned();
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::funnel;
    use chrono::TimeZone;
    use chrono_tz::Tz;
    use embudo_core::{CustomerId, CustomerType};
    use embudo_store::facts::CustomerFact;
    use std::fmt::Write as _;
    use std::time::Instant;

    /// SplitMix64: a small deterministic generator.
    pub(super) struct Rng(pub(super) u64);

    impl Rng {
        pub(super) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        pub(super) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        pub(super) fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len() as u64) as usize]
        }
    }

    /// 2026-03-02 00:00 UTC.
    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    fn customers() -> Customers {
        [
            ("1", CustomerType::Business),
            ("2", CustomerType::Consumer),
            ("3", CustomerType::Government),
            ("4", CustomerType::Business),
        ]
        .into_iter()
        .map(|(id, customer_type)| {
            let c = CustomerFact {
                id: CustomerId::parse(id).unwrap(),
                customer_type,
                country: None,
                first_seen: None,
            };
            (c.person(), c)
        })
        .collect()
    }

    /// Sorts by (at, seq), keeping the given order between equal ones, as the store does.
    fn sorted(mut facts: Vec<EventFact>) -> Vec<EventFact> {
        facts.sort_by_key(|e| (e.at, e.seq));
        facts
    }

    fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }

    struct Case {
        period: Period,
        spec: FunnelSpec,
        facts: Vec<EventFact>,
    }

    const PEOPLE: [&str; 10] = [
        "v:0", "v:1", "v:2", "v:3", "c:1", "c:2", "c:3", "c:4", "c:9", "m:1",
    ];
    const NAMES: [&str; 6] = ["A", "B", "C", "D", "E", "Page Viewed"];
    const SHAPES: [&[&str]; 9] = [
        &["A", "B", "C"],
        &["A", "B", "A"],
        &["A", "A"],
        &["B", "A", "C", "B"],
        &["A", "B", "C", "D"],
        &["A", "X"],
        &["C", "B", "A"],
        &["A", "A", "A"],
        &["Page Viewed", "A", "B"],
    ];
    const VALUES: [Option<&str>; 6] = [
        None,
        Some(""),
        Some(UNKNOWN),
        Some("x"),
        Some("y"),
        Some("z"),
    ];

    fn random_case(rng: &mut Rng, round: usize) -> Case {
        let steps = SHAPES[round % SHAPES.len()];
        let mode = FunnelMode::ALL[(round / SHAPES.len()) % 3];
        let by = if rng.chance(30) {
            None
        } else {
            Some(*rng.pick(&Breakdown::ALL))
        };
        let mut window = Duration::minutes(1 + rng.below(90) as i64);
        if rng.chance(30) {
            window += Duration::microseconds(rng.below(60_000_000) as i64);
        }
        if rng.chance(10) {
            window += Duration::nanoseconds(500);
        }
        let mut from = base() + Duration::minutes(rng.below(60) as i64);
        let mut to = from + Duration::minutes(30 + rng.below(240) as i64);
        if rng.chance(10) {
            from += Duration::nanoseconds(1 + rng.below(999_999) as i64);
        }
        if rng.chance(10) {
            to += Duration::nanoseconds(1 + rng.below(999_999) as i64);
        }
        let period = Period::new(from, to, Tz::UTC).unwrap();
        let people = &PEOPLE[..1 + rng.below(PEOPLE.len() as u64) as usize];
        let mut facts = Vec::new();
        let mut seq = 0i64;
        for _ in 0..rng.below(70) {
            if !rng.chance(10) {
                seq += 1;
            }
            let mut at = base() + Duration::minutes(rng.below(400) as i64 - 60);
            if rng.chance(30) {
                at += Duration::microseconds(rng.below(120_000_000) as i64);
            }
            let name = if rng.chance(70) {
                *rng.pick(steps)
            } else {
                *rng.pick(&NAMES)
            };
            let mut fact = EventFact::new(seq, at, *rng.pick(people), name);
            let mut value = || rng.pick(&VALUES).map(String::from);
            fact.product_id = value();
            fact.category = value();
            fact.source = value();
            fact.medium = value();
            fact.campaign = value();
            fact.device = value();
            fact.country = value();
            facts.push(fact);
        }
        let mut facts = sorted(facts);
        if rng.chance(20) {
            // Handed over in any order: both sides sort per person.
            shuffle(rng, &mut facts);
        }
        Case {
            period,
            spec: FunnelSpec {
                steps: steps.iter().map(|s| s.to_string()).collect(),
                window,
                mode,
                by,
            },
            facts,
        }
    }

    /// Every page of `dropped` over the table equals the funnel module's.
    fn assert_same_dropped(
        rng: &mut Rng,
        case: &Case,
        table: &EventTable,
        customers: &Customers,
        what: &str,
    ) {
        let n = case.spec.steps.len();
        for step in 0..=n {
            for value in [None, Some("x"), Some(UNKNOWN), Some("business"), Some("")] {
                let limit = 1 + rng.below(3) as usize;
                let mut after: Option<String> = None;
                for _ in 0..20 {
                    let (s, v, a, l) = (step, value, after.as_deref(), limit);
                    let mine = dropped(&case.period, &case.spec, table, customers, s, v, a, l);
                    // The same split over several threads.
                    let page = Page {
                        step: s,
                        breakdown_value: v,
                        after: a,
                        limit: l,
                    };
                    let threads = Some(2 + step % 3);
                    assert_eq!(
                        dropped_on(&case.period, &case.spec, table, customers, page, threads),
                        mine
                    );
                    let theirs = funnel::reference::dropped(
                        &case.period,
                        &case.spec,
                        &case.facts,
                        customers,
                        s,
                        v,
                        a,
                        l,
                    );
                    assert_eq!(
                        mine, theirs,
                        "{what}: step {step}, value {value:?}, after {a:?}"
                    );
                    match mine.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
            }
        }
        // A limit of 0 and a cursor past everybody give empty pages.
        for (after, limit) in [(None, 0), (Some("zzz"), 10)] {
            let mine = dropped(
                &case.period,
                &case.spec,
                table,
                customers,
                1,
                None,
                after,
                limit,
            );
            let theirs = funnel::reference::dropped(
                &case.period,
                &case.spec,
                &case.facts,
                customers,
                1,
                None,
                after,
                limit,
            );
            assert_eq!(mine, theirs, "{what}");
        }
    }

    #[test]
    fn the_same_report_as_the_funnel_module() {
        let mut rng = Rng(0x5eed_f00d);
        let customers = customers();
        let mut reached_last = 0;
        let mut with_medians = 0;
        for round in 0..600 {
            let case = random_case(&mut rng, round);
            let table = EventTable::from_facts(&case.facts);
            assert_eq!(table.len(), case.facts.len());
            let mine = funnel(&case.period, &case.spec, &table, &customers);
            let theirs =
                funnel::reference::funnel(&case.period, &case.spec, &case.facts, &customers);
            let what = format!("round {round}: {:?} {:?}", case.spec, case.period);
            assert_eq!(mine, theirs, "{what}");
            for threads in [2, 3, 5] {
                let split = funnel_on(&case.period, &case.spec, &table, &customers, Some(threads));
                assert_eq!(split, theirs, "{what}: {threads} threads");
            }
            if mine.steps.last().is_some_and(|s| s.count > 0) {
                reached_last += 1;
            }
            if mine
                .steps
                .iter()
                .any(|s| s.median_seconds_from_previous.is_some())
            {
                with_medians += 1;
            }
            assert_same_dropped(&mut rng, &case, &table, &customers, &what);
        }
        // The rounds are not trivial.
        assert!(reached_last > 100, "{reached_last}");
        assert!(with_medians > 100, "{with_medians}");
    }

    #[test]
    fn every_breakdown_and_mode_on_one_history() {
        let mut rng = Rng(42);
        let customers = customers();
        for round in 0..40 {
            let case = random_case(&mut rng, round);
            let table = EventTable::from_facts(&case.facts);
            for mode in FunnelMode::ALL {
                for by in Breakdown::ALL.map(Some).into_iter().chain([None]) {
                    let spec = FunnelSpec {
                        mode,
                        by,
                        ..case.spec.clone()
                    };
                    assert_eq!(
                        funnel(&case.period, &spec, &table, &customers),
                        funnel::reference::funnel(&case.period, &spec, &case.facts, &customers),
                        "round {round}: {spec:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn pushes_after_building_even_out_of_order() {
        let mut rng = Rng(7);
        let customers = customers();
        for round in 0..200 {
            let case = random_case(&mut rng, round);
            let facts = sorted(case.facts.clone());
            let split = rng.below(facts.len() as u64 + 1) as usize;
            let mut table = EventTable::from_facts(&facts[..split]);
            let mut rest = facts[split..].to_vec();
            // Mostly in order, with a few late ones and one older than everything.
            if rest.len() > 2 && rng.chance(70) {
                let i = rng.below(rest.len() as u64) as usize;
                let late = rest.remove(i);
                rest.push(late);
            }
            if rng.chance(30) {
                shuffle(&mut rng, &mut rest);
            }
            let mut late = EventFact::new(-1, base() - Duration::minutes(1), "v:0", "A");
            late.source = Some("late".into());
            rest.push(late);
            let mut pushed: Vec<EventFact> = facts[..split].to_vec();
            for (i, fact) in rest.iter().enumerate() {
                table.push(fact);
                pushed.push(fact.clone());
                if i % 7 == 3 {
                    // A query in between: the index is rebuilt after the next push.
                    let mine = funnel(&case.period, &case.spec, &table, &customers);
                    let theirs =
                        funnel::reference::funnel(&case.period, &case.spec, &pushed, &customers);
                    assert_eq!(mine, theirs, "round {round}, after {i} pushes");
                    let split = funnel_on(&case.period, &case.spec, &table, &customers, Some(3));
                    assert_eq!(split, theirs, "round {round}, after {i} pushes, 3 threads");
                }
            }
            let whole = sorted(pushed);
            let expected = funnel(
                &case.period,
                &case.spec,
                &EventTable::from_facts(&whole),
                &customers,
            );
            assert_eq!(
                expected,
                funnel::reference::funnel(&case.period, &case.spec, &whole, &customers)
            );
            assert_eq!(
                funnel(&case.period, &case.spec, &table, &customers),
                expected,
                "round {round}"
            );
            let case = Case {
                facts: whole,
                ..case
            };
            assert_same_dropped(&mut rng, &case, &table, &customers, "pushed");
            table.sort();
            assert_eq!(
                funnel(&case.period, &case.spec, &table, &customers),
                expected
            );
            assert_same_dropped(&mut rng, &case, &table, &customers, "sorted");
        }
    }

    #[test]
    fn the_funnel_module_examples() {
        let t = |minutes: i64| base() + Duration::minutes(minutes);
        let week = Period::parse("2026-03-02", "2026-03-09", None).unwrap();
        let spec = FunnelSpec {
            steps: ["A", "B", "C"].map(String::from).to_vec(),
            window: Duration::hours(1),
            mode: FunnelMode::Ordered,
            by: Some(Breakdown::Source),
        };
        let mut facts = vec![
            EventFact::new(1, t(0), "v:1", "A"),
            EventFact::new(2, t(30), "v:1", "B"),
            EventFact::new(3, t(100), "v:1", "A"),
            EventFact::new(4, t(110), "v:1", "B"),
            EventFact::new(5, t(120), "v:1", "C"),
            EventFact::new(6, t(0), "v:2", "A"),
        ];
        facts[2].source = Some("google".into());
        let facts = sorted(facts);
        let table = EventTable::from_facts(&facts);
        let report = funnel(&week, &spec, &table, &Customers::new());
        let counts: Vec<u64> = report.steps.iter().map(|s| s.count).collect();
        assert_eq!(counts, vec![2, 1, 1]);
        assert_eq!(report.steps[1].median_seconds_from_previous, Some(1800.0));
        assert_eq!(report.steps[2].median_seconds_from_previous, Some(600.0));
        assert_eq!(report.breakdown[0].value, "(none)");
        assert_eq!(report.breakdown[1].value, "google");
        assert_eq!(
            report,
            funnel::reference::funnel(&week, &spec, &facts, &Customers::new())
        );
        let page = dropped(&week, &spec, &table, &Customers::new(), 1, None, None, 10);
        assert_eq!(page.people, vec!["v:2"]);
        // An empty table, and steps the table never saw.
        let empty = EventTable::new();
        assert!(empty.is_empty());
        assert_eq!(
            funnel(&week, &spec, &empty, &Customers::new()),
            funnel::reference::funnel(&week, &spec, &[], &Customers::new())
        );
        let unknown = FunnelSpec {
            steps: vec!["X".into(), "Y".into()],
            ..spec
        };
        assert_eq!(
            funnel(&week, &unknown, &table, &Customers::new()),
            funnel::reference::funnel(&week, &unknown, &facts, &Customers::new())
        );
    }

    #[test]
    fn bounds_and_window_to_the_microsecond() {
        let ns = Duration::nanoseconds;
        let us = Duration::microseconds;
        let hour = Duration::hours(1);
        let period = Period::new(base() + ns(500), base() + hour + ns(500), Tz::UTC).unwrap();
        let spec = FunnelSpec {
            steps: vec!["A".into(), "B".into()],
            window: Duration::minutes(10) + ns(500),
            mode: FunnelMode::Ordered,
            by: None,
        };
        let b = |person: &str, at: DateTime<Utc>| EventFact::new(0, at, person, "B");
        let a = |person: &str, at: DateTime<Utc>| EventFact::new(0, at, person, "A");
        let last = base() + hour;
        let facts = sorted(vec![
            // Before `from` by half a microsecond: no start.
            a("v:a", base()),
            // Just after: a start.
            a("v:b", base() + us(1)),
            // The last microsecond of the range, and B exactly a window (rounded) later.
            a("v:c", last),
            b("v:c", last + Duration::minutes(10)),
            // After `to`: no start.
            a("v:d", last + us(1)),
            // B a microsecond too late.
            a("v:e", last),
            b("v:e", last + Duration::minutes(10) + us(1)),
        ]);
        let facts: Vec<EventFact> = facts
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.seq = i as i64;
                e
            })
            .collect();
        let table = EventTable::from_facts(&facts);
        let report = funnel(&period, &spec, &table, &Customers::new());
        assert_eq!(
            report.steps.iter().map(|s| s.count).collect::<Vec<_>>(),
            vec![3, 1]
        );
        assert_eq!(
            report,
            funnel::reference::funnel(&period, &spec, &facts, &Customers::new())
        );
        let page = dropped(&period, &spec, &table, &Customers::new(), 1, None, None, 9);
        assert_eq!(page.people, vec!["v:b", "v:e"]);
    }

    /// The table gives its events back as the store would, counts people in ranges, and moves
    /// events between people as the identity log says.
    #[test]
    fn facts_people_and_identity_changes() {
        let mut rng = Rng(5);
        let eur = Currency::parse("EUR").unwrap();
        for round in 0..200 {
            let mut case = random_case(&mut rng, round);
            for fact in &mut case.facts {
                fact.customer_id = fact
                    .person
                    .strip_prefix("c:")
                    .map(|c| CustomerId::parse(c).unwrap());
                fact.session_id = rng.pick(&[None, Some("s1"), Some("s2")]).map(String::from);
                if rng.chance(50) {
                    fact.value = Some(rng.below(1000) as i64 - 10);
                    fact.currency = Some(eur);
                }
                // Absent and empty attributes read back as absent, as the store gives them.
                for v in [
                    &mut fact.product_id,
                    &mut fact.category,
                    &mut fact.source,
                    &mut fact.medium,
                    &mut fact.campaign,
                    &mut fact.device,
                    &mut fact.country,
                ] {
                    if v.as_deref() == Some("") {
                        *v = None;
                    }
                }
            }
            let mut table = EventTable::from_facts(&case.facts);
            let expected = sorted(case.facts.clone());
            assert_eq!(table.facts(TimeRange::all(), &[]), expected);
            let range = case.period.range();
            let names = vec!["A".to_string(), "Page Viewed".to_string()];
            let within: Vec<EventFact> = expected
                .iter()
                .filter(|e| range.contains(e.at) && names.contains(&e.event))
                .cloned()
                .collect();
            assert_eq!(table.facts(range, &names), within);
            let people: std::collections::HashSet<&str> = expected
                .iter()
                .filter(|e| range.contains(e.at))
                .map(|e| e.person.as_str())
                .collect();
            assert_eq!(table.count_people(range), people.len() as u64);

            // Replaying changes one by one on the facts gives the same as the table's one pass.
            let changes: Vec<(String, String)> = (0..rng.below(6))
                .map(|_| {
                    (
                        rng.pick(&PEOPLE).to_string(),
                        rng.pick(&["c:1", "c:2", "c:7", "v:0"]).to_string(),
                    )
                })
                .collect();
            let mut moved = expected.clone();
            for (from, to) in &changes {
                for fact in &mut moved {
                    if &fact.person == from {
                        fact.person = to.clone();
                        fact.customer_id =
                            to.strip_prefix("c:").map(|c| CustomerId::parse(c).unwrap());
                    }
                }
            }
            table.rekey(changes.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            assert_eq!(table.facts(TimeRange::all(), &[]), moved, "{changes:?}");
        }
    }

    #[test]
    fn interner_round_trips() {
        let mut interner = Interner::new();
        assert!(interner.is_empty());
        let words: Vec<String> = (0..1000).map(|i| format!("w{}", i % 700)).collect();
        let ids: Vec<u32> = words.iter().map(|w| interner.get_or_insert(w)).collect();
        assert_eq!(interner.len(), 700);
        for (w, &id) in words.iter().zip(&ids) {
            assert_eq!(interner.name(id), w);
            assert_eq!(interner.get(w), Some(id));
        }
        assert_eq!(interner.get("nope"), None);
        assert_eq!(interner.get_or_insert(""), 700);
        assert_eq!(interner.name(700), "");
        assert!(interner.memory_bytes() > 0);
    }

    /// The six steps of the synthetic shop.
    const SIX: [&str; 6] = [
        "Product List Viewed",
        "Product Viewed",
        "Product Added",
        "Checkout Started",
        "Payment Info Entered",
        "Order Completed",
    ];

    /// `n` synthetic events over a week, in time order: a thousand sessions at a time, each
    /// of one person going some way down the six steps with page views between, their events
    /// interleaved.
    fn synthetic(n: usize, seed: u64, mut each: impl FnMut(&EventFact)) {
        struct Session {
            person: u64,
            source: usize,
            depth: usize,
            step: usize,
        }
        let mut rng = Rng(seed);
        let people = (n / 10).max(1) as u64;
        let sources = ["google", "bing", "newsletter", "direct"];
        let session = |rng: &mut Rng| Session {
            person: rng.below(people),
            source: rng.below(sources.len() as u64) as usize,
            depth: 1 + rng.below(8) as usize,
            step: 0,
        };
        let mut active: Vec<Session> = (0..1000).map(|_| session(&mut rng)).collect();
        let mut fact = EventFact::new(0, base(), "", "");
        let start = base().timestamp_micros();
        let span = 7 * 24 * 3600 * 1_000_000i64;
        for made in 0..n {
            let i = rng.below(active.len() as u64) as usize;
            let s = &mut active[i];
            fact.person.clear();
            let kind = match s.person % 3 {
                0 => "c",
                _ => "v",
            };
            let _ = write!(fact.person, "{kind}:{}", s.person);
            fact.source = Some(sources[s.source].to_string());
            let name = if rng.chance(30) {
                "Page Viewed"
            } else {
                let name = if rng.chance(85) {
                    SIX[s.step.min(5)]
                } else {
                    *rng.pick(&SIX)
                };
                s.step += 1;
                name
            };
            fact.event.clear();
            fact.event.push_str(name);
            fact.seq = made as i64;
            // Pairs of events share a time: ties are broken by `seq`.
            let at = start + (made / 2 * 2) as i64 * (span / n as i64);
            fact.at = DateTime::from_timestamp_micros(at).unwrap();
            each(&fact);
            if s.step >= s.depth {
                active[i] = session(&mut rng);
            }
        }
    }

    fn six_steps(by: Option<Breakdown>) -> FunnelSpec {
        FunnelSpec {
            steps: SIX.map(String::from).to_vec(),
            window: Duration::hours(1),
            mode: FunnelMode::Ordered,
            by,
        }
    }

    fn run_at_scale(n: usize) -> (EventTable, FunnelReport) {
        let started = Instant::now();
        let mut table = EventTable::new();
        table.reserve(n);
        synthetic(n, 11, |fact| table.push(fact));
        let built = started.elapsed();
        let started = Instant::now();
        table.prepare();
        let indexed = started.elapsed();
        let period = Period::parse("2026-03-02", "2026-03-09", None).unwrap();
        let spec = six_steps(None);
        let started = Instant::now();
        let report = funnel(&period, &spec, &table, &Customers::new());
        let first = started.elapsed();
        let started = Instant::now();
        let again = funnel(&period, &spec, &table, &Customers::new());
        let second = started.elapsed();
        assert_eq!(report, again);
        let started = Instant::now();
        let by_source = funnel(
            &period,
            &six_steps(Some(Breakdown::Source)),
            &table,
            &customers(),
        );
        let with_breakdown = started.elapsed();
        eprintln!(
            "columnar funnel over {n} events ({} people): push {built:?}, index {indexed:?}, \
             funnel {first:?} then {second:?}, by source {with_breakdown:?}; {} bytes ({:.1} \
             per event); counts {:?}",
            table.people().len(),
            table.memory_bytes(),
            table.memory_bytes() as f64 / n as f64,
            report.steps.iter().map(|s| s.count).collect::<Vec<_>>(),
        );
        assert_eq!(by_source.steps, report.steps);
        for (k, step) in report.steps.iter().enumerate() {
            let rows: u64 = by_source.breakdown.iter().map(|r| r.steps[k].count).sum();
            assert_eq!(rows, step.count);
        }
        (table, report)
    }

    #[test]
    fn a_larger_synthetic_history() {
        // Enough people for the batches of breakdown values and for several threads.
        let mut facts = Vec::new();
        synthetic(40_000, 3, |fact| facts.push(fact.clone()));
        let table = EventTable::from_facts(&facts);
        let period = Period::parse("2026-03-02", "2026-03-05", None).unwrap();
        let customers = customers();
        for mode in FunnelMode::ALL {
            for by in [None, Some(Breakdown::Source), Some(Breakdown::CustomerType)] {
                let spec = FunnelSpec {
                    mode,
                    window: Duration::hours(6),
                    ..six_steps(by)
                };
                let theirs = funnel::reference::funnel(&period, &spec, &facts, &customers);
                assert!(theirs.steps[0].count > 1_000, "{theirs:?}");
                assert_eq!(funnel(&period, &spec, &table, &customers), theirs);
                assert_eq!(
                    funnel_on(&period, &spec, &table, &customers, Some(3)),
                    theirs
                );
                let page = Page {
                    step: 2,
                    breakdown_value: Some("google"),
                    after: Some("v:2"),
                    limit: 50,
                };
                assert_eq!(
                    dropped_on(&period, &spec, &table, &customers, page, Some(2)),
                    funnel::reference::dropped(
                        &period,
                        &spec,
                        &facts,
                        &customers,
                        2,
                        Some("google"),
                        Some("v:2"),
                        50
                    )
                );
            }
        }
    }

    #[test]
    fn scale_smoke() {
        // A million events; a fifth of that in unoptimised builds, where interning is slow.
        let n = if cfg!(debug_assertions) {
            200_000
        } else {
            1_000_000
        };
        let (table, report) = run_at_scale(n);
        assert_eq!(table.len(), n);
        let counts: Vec<u64> = report.steps.iter().map(|s| s.count).collect();
        assert!(counts[0] > 0 && counts[5] > 0, "{counts:?}");
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    }
}
