//! The traffic and conversion report over an [`EventTable`]: the same report as
//! [`crate::traffic::traffic`] over the same events (see that module for the definitions), but
//! one linear walk per person over the table's per-person index, without owned strings.

use super::{
    ceil_micros, lower_bound, on_threads, person_words, threads_for, value_name, EventTable,
    Interner, NONE,
};
use crate::funnel::customer_type;
use crate::params::Breakdown;
use crate::period::{Interval, Period};
use crate::traffic::{
    order_value, product_order_values, sorted_rows, TrafficBucket, TrafficFigures, TrafficReport,
    PAGE_VIEWED, PRODUCT_VIEWED, SESSION_GAP_MINUTES,
};
use crate::{ratio, Customers};
use embudo_store::facts::OrderFact;
use std::collections::{HashMap, HashSet};

/// Event-side figures being counted.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    visitors: u64,
    sessions: u64,
    page_views: u64,
    product_views: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.visitors += other.visitors;
        self.sessions += other.sessions;
        self.page_views += other.page_views;
        self.product_views += other.product_views;
    }
}

/// Order-side figures being counted.
#[derive(Default)]
struct Buys<'a> {
    buyers: HashSet<&'a str>,
    orders: u64,
}

impl<'a> Buys<'a> {
    fn add(&mut self, order: &'a OrderFact) {
        self.buyers.insert(&order.person);
        self.orders += 1;
    }
}

fn figures(counts: &Counts, buys: Option<&Buys>) -> TrafficFigures {
    let buyers = buys.map_or(0, |b| b.buyers.len() as u64);
    TrafficFigures {
        visitors: counts.visitors,
        sessions: counts.sessions,
        page_views: counts.page_views,
        product_views: counts.product_views,
        buyers,
        orders: buys.map_or(0, |b| b.orders),
        conversion_rate: ratio(buyers, counts.visitors),
    }
}

/// What one thread counted.
struct Part {
    total: Counts,
    series: Vec<Counts>,
    groups: HashMap<u32, Counts>,
}

/// How events are broken down.
#[derive(Clone, Copy)]
enum Mode {
    None,
    /// By a value of the person: their first event's attribute (a column), or their type.
    Person(Option<usize>),
    /// By the product (or category, column 1) of product views.
    Product(usize),
}

/// A person's sessions while walking their events.
#[derive(Default)]
struct Sessions {
    /// Client session ids seen, with their local number.
    ids: Vec<(u32, u32)>,
    /// The same, once there are many.
    many: HashMap<u32, u32>,
    /// The last event without a session id, and its session.
    open: Option<(i64, u32)>,
    /// Sessions so far.
    count: u32,
}

impl Sessions {
    fn clear(&mut self) {
        self.ids.clear();
        self.many.clear();
        self.open = None;
        self.count = 0;
    }

    /// The local number of the session of an event, and whether it starts one.
    fn of(&mut self, session: u32, at: i64, gap: i64) -> (u32, bool) {
        if session == NONE {
            if let Some((last, number)) = self.open {
                if at - last < gap {
                    self.open = Some((at, number));
                    return (number, false);
                }
            }
            let number = self.next();
            self.open = Some((at, number));
            return (number, true);
        }
        let known = if self.many.is_empty() {
            self.ids.iter().find(|(id, _)| *id == session).map(|p| p.1)
        } else {
            self.many.get(&session).copied()
        };
        if let Some(number) = known {
            return (number, false);
        }
        let number = self.next();
        if self.many.is_empty() && self.ids.len() < 64 {
            self.ids.push((session, number));
        } else {
            if self.many.is_empty() {
                self.many.extend(self.ids.iter().copied());
            }
            self.many.insert(session, number);
        }
        (number, true)
    }

    fn next(&mut self) -> u32 {
        self.count += 1;
        self.count - 1
    }
}

/// The traffic report over the events of `table` and `orders` (those of the period are used).
/// The same as [`crate::traffic::traffic`] over the same events.
pub fn traffic(
    period: &Period,
    interval: Option<Interval>,
    by: Option<Breakdown>,
    table: &EventTable,
    orders: &[OrderFact],
    customers: &Customers,
) -> TrafficReport {
    traffic_on(period, interval, by, table, orders, customers, None)
}

/// [`traffic`] on `threads` threads (`None`: as many as the size asks for).
fn traffic_on(
    period: &Period,
    interval: Option<Interval>,
    by: Option<Breakdown>,
    table: &EventTable,
    orders: &[OrderFact],
    customers: &Customers,
    threads: Option<usize>,
) -> TrafficReport {
    let from = ceil_micros(period.from);
    let to = ceil_micros(period.to);
    let gap = SESSION_GAP_MINUTES * 60_000_000;
    let page = table.names.get(PAGE_VIEWED).unwrap_or(NONE);
    let product = table.names.get(PRODUCT_VIEWED).unwrap_or(NONE);
    let mode = match by {
        None => Mode::None,
        Some(Breakdown::Product) => Mode::Product(0),
        Some(Breakdown::Category) => Mode::Product(1),
        Some(Breakdown::CustomerType) => Mode::Person(None),
        Some(other) => Mode::Person(super::attribute_column(other)),
    };
    let dates = interval.map_or_else(Vec::new, |i| period.buckets(i));
    // The first instant of every bucket but the first.
    let starts: Vec<i64> = dates
        .iter()
        .skip(1)
        .map(|d| period.start_of(*d).timestamp_micros())
        .collect();

    // The people with an event in the range.
    let (span, row) = table.time_span(embudo_store::facts::TimeRange::new(period.from, period.to));
    let threads = threads.unwrap_or_else(|| threads_for(span.len())).max(1);
    let mut marked = vec![0u64; table.people.len().div_ceil(64)];
    for i in span {
        let p = table.person[row(i)] as usize;
        marked[p / 64] |= 1 << (p % 64);
    }
    let index = table.index();
    // The first of a person's index positions in the range.
    let first_in_range = |p: usize| {
        let (a, z) = (index.offsets[p] as usize, index.offsets[p + 1] as usize);
        a + lower_bound(z - a, |j| index.at[a + j] < from)
    };

    // Customer types are the only values not in the table: numbered here, every possible one
    // before the walk (which only looks them up).
    let mut types = Interner::new();
    types.get_or_insert(crate::params::UNKNOWN);
    for customer in customers.values() {
        types.get_or_insert(customer.customer_type.as_str());
    }
    let person_key = |p: usize, first_row: usize| -> u32 {
        match mode {
            Mode::Person(Some(column)) => table.attributes[column][first_row],
            Mode::Person(None) => types
                .get(&customer_type(table.people.name(p as u32), customers))
                .unwrap_or(NONE),
            _ => NONE,
        }
    };

    let bounds = person_words(index, marked.len(), threads);
    let work = |from_word: usize, to_word: usize| {
        let mut part = Part {
            total: Counts::default(),
            series: vec![Counts::default(); dates.len()],
            groups: HashMap::new(),
        };
        let mut sessions = Sessions::default();
        let mut views: Vec<(u32, u32)> = Vec::new();
        for (word_at, &word) in marked.iter().enumerate().take(to_word).skip(from_word) {
            let mut bits = word;
            while bits != 0 {
                let p = word_at * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let start = first_in_range(p);
                let end = index.offsets[p + 1] as usize;
                sessions.clear();
                views.clear();
                let mut mine = Counts {
                    visitors: 1,
                    ..Counts::default()
                };
                let mut bucket = 0usize;
                let mut last_bucket = usize::MAX;
                for j in start..end {
                    let at = index.at[j];
                    if at >= to {
                        break;
                    }
                    let name = index.name[j];
                    while bucket < starts.len() && starts[bucket] <= at {
                        bucket += 1;
                    }
                    let (number, starts_session) = sessions.of(index.session[j], at, gap);
                    if let Some(counts) = part.series.get_mut(bucket) {
                        if bucket != last_bucket {
                            counts.visitors += 1;
                            last_bucket = bucket;
                        }
                        counts.sessions += u64::from(starts_session);
                        counts.page_views += u64::from(name == page);
                        counts.product_views += u64::from(name == product);
                    }
                    mine.sessions += u64::from(starts_session);
                    mine.page_views += u64::from(name == page);
                    if name == product {
                        mine.product_views += 1;
                        if let Mode::Product(column) = mode {
                            views.push((table.attributes[column][index.rows[j] as usize], number));
                        }
                    }
                }
                part.total.add(&mine);
                match mode {
                    Mode::None => {}
                    Mode::Person(_) => {
                        let key = person_key(p, index.rows[start] as usize);
                        part.groups.entry(key).or_default().add(&mine);
                    }
                    Mode::Product(_) => {
                        views.sort_unstable();
                        let mut last: Option<(u32, u32)> = None;
                        for &(value, session) in &views {
                            let counts = part.groups.entry(value).or_default();
                            counts.product_views += 1;
                            if last.map(|l| l.0) != Some(value) {
                                counts.visitors += 1;
                            }
                            if last != Some((value, session)) {
                                counts.sessions += 1;
                            }
                            last = Some((value, session));
                        }
                    }
                }
            }
        }
        part
    };
    let mut total = Counts::default();
    let mut series = vec![Counts::default(); dates.len()];
    let mut groups: HashMap<u32, Counts> = HashMap::new();
    for part in on_threads(&bounds, work) {
        total.add(&part.total);
        for (s, p) in series.iter_mut().zip(&part.series) {
            s.add(p);
        }
        for (key, counts) in part.groups {
            groups.entry(key).or_default().add(&counts);
        }
    }

    // Orders: those of the period, not cancelled, in time order.
    let mut orders: Vec<&OrderFact> = orders
        .iter()
        .filter(|o| !o.cancelled && o.placed_at >= period.from && o.placed_at < period.to)
        .collect();
    orders.sort_by(|a, b| (a.placed_at, &a.id).cmp(&(b.placed_at, &b.id)));
    let mut total_buys = Buys::default();
    let mut series_buys: Vec<Buys> = (0..dates.len()).map(|_| Buys::default()).collect();
    for order in &orders {
        total_buys.add(order);
        if let Some(interval) = interval {
            let start = period.bucket(order.placed_at, interval);
            if let Ok(i) = dates.binary_search(&start) {
                series_buys[i].add(order);
            }
        }
    }

    let value_text = |key: u32| -> String {
        match mode {
            Mode::Person(None) => types.name(key).to_owned(),
            _ => value_name(&table.values, key).to_owned(),
        }
    };
    let breakdown = match mode {
        Mode::None => Vec::new(),
        Mode::Person(_) => {
            let mut rows: HashMap<String, (Counts, Buys)> = groups
                .iter()
                .map(|(&key, counts)| (value_text(key), (*counts, Buys::default())))
                .collect();
            // A buyer without events in the range: by their first order in it.
            let mut first_order: HashMap<&str, String> = HashMap::new();
            for order in &orders {
                let with_events = table
                    .people
                    .get(&order.person)
                    .map(|p| p as usize)
                    .filter(|&p| marked[p / 64] & (1 << (p % 64)) != 0);
                let value = match with_events {
                    Some(p) => {
                        let first = index.rows[first_in_range(p)] as usize;
                        match mode {
                            Mode::Person(Some(column)) => {
                                value_name(&table.values, table.attributes[column][first])
                                    .to_owned()
                            }
                            _ => customer_type(&order.person, customers),
                        }
                    }
                    None => first_order
                        .entry(order.person.as_str())
                        .or_insert_with(|| {
                            order_value(by.unwrap_or(Breakdown::Source), order, customers)
                        })
                        .clone(),
                };
                rows.entry(value).or_default().1.add(order);
            }
            sorted_rows(
                rows.into_iter()
                    .map(|(value, (counts, buys))| (value, figures(&counts, Some(&buys))))
                    .collect(),
            )
        }
        Mode::Product(_) => {
            let category = matches!(by, Some(Breakdown::Category));
            let mut rows: HashMap<String, (Counts, Buys)> = groups
                .iter()
                .map(|(&key, counts)| (value_text(key), (*counts, Buys::default())))
                .collect();
            for order in &orders {
                for value in product_order_values(category, order) {
                    rows.entry(value).or_default().1.add(order);
                }
            }
            sorted_rows(
                rows.into_iter()
                    .map(|(value, (counts, buys))| (value, figures(&counts, Some(&buys))))
                    .collect(),
            )
        }
    };

    TrafficReport {
        totals: figures(&total, Some(&total_buys)),
        series: dates
            .iter()
            .zip(series.iter().zip(&series_buys))
            .map(|(start, (counts, buys))| TrafficBucket {
                start: *start,
                figures: figures(counts, Some(buys)),
            })
            .collect(),
        breakdown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columnar::tests::Rng;
    use crate::traffic;
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use chrono_tz::Tz;
    use embudo_core::{Currency, CustomerId, CustomerType, OrderId, ProductId};
    use embudo_store::facts::{CustomerFact, EventFact, LineFact};

    const PEOPLE: [&str; 9] = [
        "v:0", "v:1", "v:2", "c:1", "c:2", "c:3", "c:9", "m:1", "o:7",
    ];
    const NAMES: [&str; 4] = ["Page Viewed", "Product Viewed", "Product Added", "Other"];
    const VALUES: [Option<&str>; 5] = [None, Some(""), Some("x"), Some("y"), Some("z")];
    const SESSIONS: [Option<&str>; 4] = [None, Some(""), Some("s1"), Some("s2")];

    fn customers() -> Customers {
        [("1", CustomerType::Business), ("2", CustomerType::Consumer)]
            .into_iter()
            .map(|(id, customer_type)| {
                let c = CustomerFact {
                    id: CustomerId::parse(id).unwrap(),
                    customer_type,
                    country: Some("ES".into()),
                    first_seen: None,
                };
                (c.person(), c)
            })
            .collect()
    }

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 27, 0, 0, 0).unwrap()
    }

    /// Random events and orders over a few days around a DST change, in random periods,
    /// intervals, time zones and breakdowns: the table's report equals the reference's.
    #[test]
    fn the_same_report_as_the_traffic_module() {
        let mut rng = Rng(11);
        let zones = [Tz::UTC, Tz::Europe__Madrid, Tz::America__New_York];
        let currency = Currency::parse("EUR").unwrap();
        for round in 0..600 {
            let tz = *rng.pick(&zones);
            let from = base() + Duration::hours(rng.below(48) as i64);
            let to = from + Duration::hours(1 + rng.below(96) as i64);
            let period = Period::new(from, to, tz).unwrap();
            let interval = match rng.below(4) {
                0 => None,
                1 => Some(Interval::Day),
                2 => Some(Interval::Week),
                _ => Some(Interval::Month),
            };
            let by = if rng.chance(25) {
                None
            } else {
                Some(*rng.pick(&Breakdown::ALL))
            };
            let mut events = Vec::new();
            for seq in 0..rng.below(120) as i64 {
                // Gaps around the 30-minute session edge.
                let at = base()
                    + Duration::minutes(rng.below(6000) as i64 - 600)
                    + Duration::seconds(rng.below(3) as i64 * 30 - 30);
                let mut e = EventFact::new(seq, at, *rng.pick(&PEOPLE[..8]), *rng.pick(&NAMES));
                e.session_id = rng.pick(&SESSIONS).map(String::from);
                let mut value = || rng.pick(&VALUES).map(String::from);
                e.product_id = value();
                e.category = value();
                e.source = value();
                e.medium = value();
                e.campaign = value();
                e.device = value();
                e.country = value();
                events.push(e);
            }
            // Sessions by gap: bursts of one person's events.
            if rng.chance(50) {
                let start = base() + Duration::hours(rng.below(60) as i64);
                for k in 0..20 {
                    let mut e = EventFact::new(
                        1000 + k,
                        start + Duration::minutes(k * (20 + rng.below(20) as i64)),
                        "v:1",
                        "Page Viewed",
                    );
                    e.source = Some("burst".into());
                    events.push(e);
                }
            }
            events.sort_by_key(|e| (e.at, e.seq));
            let mut orders = Vec::new();
            for n in 0..rng.below(15) {
                let person = *rng.pick(&PEOPLE);
                let value = |rng: &mut Rng| rng.pick(&VALUES).map(String::from);
                orders.push(OrderFact {
                    id: OrderId::parse(format!("o{n}")).unwrap(),
                    customer_id: person
                        .strip_prefix("c:")
                        .map(|c| CustomerId::parse(c).unwrap()),
                    person: person.to_string(),
                    placed_at: base() + Duration::minutes(rng.below(6000) as i64 - 600),
                    currency,
                    merchandise: 100,
                    total: 100,
                    source: value(&mut rng),
                    medium: value(&mut rng),
                    campaign: value(&mut rng),
                    cancelled: rng.chance(15),
                    lines: (0..rng.below(3))
                        .map(|_| LineFact {
                            product_id: ProductId::parse(*rng.pick(&["x", "y", "p"])).unwrap(),
                            category: rng.pick(&VALUES).map(String::from),
                            quantity: 1,
                            amount: 100,
                        })
                        .collect(),
                });
            }
            let customers = customers();
            let table = EventTable::from_facts(&events);
            let mine = super::traffic(&period, interval, by, &table, &orders, &customers);
            let theirs = traffic::traffic(&period, interval, by, &events, &orders, &customers);
            let threads = Some(2 + round % 3);
            let split = traffic_on(&period, interval, by, &table, &orders, &customers, threads);
            assert_eq!(split, theirs, "round {round} on {threads:?} threads");
            assert_eq!(
                mine, theirs,
                "round {round}: {period:?} {interval:?} {by:?}"
            );
        }
    }
}
