//! The traffic and conversion report: visitors, sessions, page and product views, buyers and
//! orders over a range, in time buckets and broken down.
//!
//! # Definitions
//!
//! - **Visitors**: distinct people (see [`embudo_store::facts`]) with any event in the range.
//! - **Sessions**: events the client sent with a session id belong to that session (one per
//!   person and session id); the person's other events are split into sessions by inactivity:
//!   a gap of 30 minutes or more between two of them starts a new session (29 min 59 s does
//!   not). A session is counted in the bucket of its first event.
//! - **Page views**: `Page Viewed` events. **Product views**: `Product Viewed` events.
//! - **Buyers**: distinct people who placed an order in the range; **orders**: how many.
//!   Cancelled orders are left out.
//! - **Conversion rate**: buyers over visitors, rounded to 6 decimals, absent without visitors.
//!   A buyer need not be a visitor (an order imported or placed without tracking), so the rate
//!   can exceed 1.
//! - **Buckets** (`interval`): every day, week or month of the range in the report's time zone,
//!   those without activity included with zeros; each figure is computed within the bucket
//!   (a person who visits on two days is a visitor of both days).
//! - **Breakdown by source, medium, campaign, device or country**: first touch. A visitor is
//!   counted under the value of their first event in the range, and their sessions, views and
//!   orders follow them. A buyer with no event in the range is counted under the attribution of
//!   their first order in the range (source, medium, campaign), their customer record's
//!   country (country), or `(none)` (device).
//! - **Breakdown by customer type**: the customer's type for known customers (`c:` keys);
//!   everybody else is `(none)`.
//! - **Breakdown by product or category**: product conversion. Per product (or category):
//!   visitors are the distinct people who viewed it (`Product Viewed`), product views how many
//!   times it was viewed, sessions the distinct sessions with a view of it, buyers the distinct
//!   people with an order line of it, orders the orders containing it, and page views 0. The
//!   conversion rate is buyers of the product over viewers of it; people who bought without
//!   viewing still count as buyers, so it can exceed 1.
//! - Rows are sorted by visitors, most first, then by value; a missing value is `(none)`.

use crate::funnel::{customer_type, event_value};
use crate::params::{Breakdown, UNKNOWN};
use crate::period::{Interval, Period};
use crate::{ratio, Customers};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use embudo_store::facts::{EventFact, OrderFact};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The event name of a page view.
pub const PAGE_VIEWED: &str = "Page Viewed";
/// The event name of a product view.
pub const PRODUCT_VIEWED: &str = "Product Viewed";
/// The inactivity, in minutes, that ends a session without a client session id.
pub const SESSION_GAP_MINUTES: i64 = 30;

/// The traffic figures of a range, a bucket or a breakdown value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrafficFigures {
    /// Distinct people with an event.
    pub visitors: u64,
    /// Sessions.
    pub sessions: u64,
    /// `Page Viewed` events.
    pub page_views: u64,
    /// `Product Viewed` events.
    pub product_views: u64,
    /// Distinct people who placed an order (cancelled ones excluded).
    pub buyers: u64,
    /// Orders placed (cancelled ones excluded).
    pub orders: u64,
    /// `buyers / visitors`; absent without visitors; may exceed 1.
    pub conversion_rate: Option<f64>,
}

/// The figures of one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrafficBucket {
    /// The bucket's first local date.
    pub start: NaiveDate,
    /// Its figures.
    pub figures: TrafficFigures,
}

/// The figures of one breakdown value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrafficBreakdownRow {
    /// The value (`(none)` when missing).
    pub value: String,
    /// Its figures.
    pub figures: TrafficFigures,
}

/// The traffic and conversion report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrafficReport {
    /// The whole range.
    pub totals: TrafficFigures,
    /// Every bucket of the range, in order (empty without an interval).
    pub series: Vec<TrafficBucket>,
    /// One row per breakdown value, most visitors first (empty without a breakdown).
    pub breakdown: Vec<TrafficBreakdownRow>,
}

/// The traffic report over `events` (the events in the period) and `orders` (the orders placed
/// in the period). See the module documentation for the definitions.
pub fn traffic(
    period: &Period,
    interval: Option<Interval>,
    by: Option<Breakdown>,
    events: &[EventFact],
    orders: &[OrderFact],
    customers: &Customers,
) -> TrafficReport {
    let visits = Visits::new(period, events);
    let mut orders: Vec<&OrderFact> = orders
        .iter()
        .filter(|o| !o.cancelled && o.placed_at >= period.from && o.placed_at < period.to)
        .collect();
    orders.sort_by(|a, b| (a.placed_at, &a.id).cmp(&(b.placed_at, &b.id)));

    let mut totals = Tally::default();
    visits.add_all(&mut totals, |_| true);
    orders.iter().for_each(|o| totals.order(o));

    let series = match interval {
        None => Vec::new(),
        Some(interval) => {
            let mut buckets: BTreeMap<NaiveDate, Tally> = period
                .buckets(interval)
                .into_iter()
                .map(|start| (start, Tally::default()))
                .collect();
            for (i, event) in visits.events.iter().enumerate() {
                if let Some(tally) = buckets.get_mut(&period.bucket(event.at, interval)) {
                    visits.add(tally, i);
                }
            }
            for order in &orders {
                if let Some(tally) = buckets.get_mut(&period.bucket(order.placed_at, interval)) {
                    tally.order(order);
                }
            }
            buckets
                .into_iter()
                .map(|(start, tally)| TrafficBucket {
                    start,
                    figures: tally.figures(),
                })
                .collect()
        }
    };

    let breakdown = match by {
        None => Vec::new(),
        Some(Breakdown::Product) | Some(Breakdown::Category) => {
            product_rows(by == Some(Breakdown::Category), &visits, &orders)
        }
        Some(by) => person_rows(by, &visits, &orders, customers),
    };

    TrafficReport {
        totals: totals.figures(),
        series,
        breakdown,
    }
}

/// The events of the range in time order, with their sessions.
struct Visits<'a> {
    /// The events in `[from, to)`, by (time, sequence number).
    events: Vec<&'a EventFact>,
    /// The session of each event (an index into `first`).
    session_of: Vec<usize>,
    /// The first event of each session (an index into `events`).
    first: Vec<usize>,
}

impl<'a> Visits<'a> {
    fn new(period: &Period, events: &'a [EventFact]) -> Self {
        let mut events: Vec<&EventFact> = events
            .iter()
            .filter(|e| e.at >= period.from && e.at < period.to)
            .collect();
        events.sort_by_key(|e| (e.at, e.seq));
        let gap = Duration::minutes(SESSION_GAP_MINUTES);
        let mut first = Vec::new();
        let mut by_id: HashMap<(&str, &str), usize> = HashMap::new();
        // Per person, the last event without a session id and its session.
        let mut open: HashMap<&str, (DateTime<Utc>, usize)> = HashMap::new();
        let mut session_of = Vec::with_capacity(events.len());
        for (i, event) in events.iter().enumerate() {
            let person = event.person.as_str();
            let mut new_session = || {
                first.push(i);
                first.len() - 1
            };
            let session = match event.session_id.as_deref().filter(|id| !id.is_empty()) {
                Some(id) => *by_id.entry((person, id)).or_insert_with(new_session),
                None => {
                    let session = match open.get(person) {
                        Some(&(last, session)) if event.at - last < gap => session,
                        _ => new_session(),
                    };
                    open.insert(person, (event.at, session));
                    session
                }
            };
            session_of.push(session);
        }
        Self {
            events,
            session_of,
            first,
        }
    }

    /// Adds event `i` to `tally`: its person, its views, and its session when it is the
    /// session's first event.
    fn add(&self, tally: &mut Tally<'a>, i: usize) {
        let event = self.events[i];
        tally.visitors.insert(&event.person);
        let session = self.session_of[i];
        if self.first[session] == i {
            tally.sessions.insert(session);
        }
        match event.event.as_str() {
            PAGE_VIEWED => tally.page_views += 1,
            PRODUCT_VIEWED => tally.product_views += 1,
            _ => {}
        }
    }

    /// Adds every event whose person passes `keep`.
    fn add_all(&self, tally: &mut Tally<'a>, keep: impl Fn(&str) -> bool) {
        for i in 0..self.events.len() {
            if keep(&self.events[i].person) {
                self.add(tally, i);
            }
        }
    }
}

/// Figures being counted.
#[derive(Default)]
struct Tally<'a> {
    visitors: HashSet<&'a str>,
    sessions: HashSet<usize>,
    page_views: u64,
    product_views: u64,
    buyers: HashSet<&'a str>,
    orders: u64,
}

impl<'a> Tally<'a> {
    fn order(&mut self, order: &'a OrderFact) {
        self.buyers.insert(&order.person);
        self.orders += 1;
    }

    fn figures(&self) -> TrafficFigures {
        let visitors = self.visitors.len() as u64;
        let buyers = self.buyers.len() as u64;
        TrafficFigures {
            visitors,
            sessions: self.sessions.len() as u64,
            page_views: self.page_views,
            product_views: self.product_views,
            buyers,
            orders: self.orders,
            conversion_rate: ratio(buyers, visitors),
        }
    }
}

/// Sorted rows out of tallies by value.
fn rows(tallies: HashMap<String, Tally>) -> Vec<TrafficBreakdownRow> {
    sorted_rows(
        tallies
            .into_iter()
            .map(|(value, tally)| (value, tally.figures()))
            .collect(),
    )
}

/// Breakdown rows, most visitors first, then by value.
pub(crate) fn sorted_rows(figures: Vec<(String, TrafficFigures)>) -> Vec<TrafficBreakdownRow> {
    let mut rows: Vec<TrafficBreakdownRow> = figures
        .into_iter()
        .map(|(value, figures)| TrafficBreakdownRow { value, figures })
        .collect();
    rows.sort_by(|a, b| {
        b.figures
            .visitors
            .cmp(&a.figures.visitors)
            .then_with(|| a.value.cmp(&b.value))
    });
    rows
}

/// Breakdowns where each person has one value: first touch, or the customer type.
fn person_rows<'a>(
    by: Breakdown,
    visits: &Visits<'a>,
    orders: &[&'a OrderFact],
    customers: &Customers,
) -> Vec<TrafficBreakdownRow> {
    let mut value_of: HashMap<&str, String> = HashMap::new();
    for event in &visits.events {
        if !value_of.contains_key(event.person.as_str()) {
            value_of.insert(&event.person, event_value(by, event, customers));
        }
    }
    // Buyers without an event in the range: their first order (orders are in time order).
    for order in orders {
        if !value_of.contains_key(order.person.as_str()) {
            value_of.insert(&order.person, order_value(by, order, customers));
        }
    }
    let mut tallies: HashMap<String, Tally> = HashMap::new();
    for (i, event) in visits.events.iter().enumerate() {
        let value = &value_of[event.person.as_str()];
        visits.add(tallies.entry(value.clone()).or_default(), i);
    }
    for order in orders {
        let value = &value_of[order.person.as_str()];
        tallies.entry(value.clone()).or_default().order(order);
    }
    rows(tallies)
}

/// The value of a buyer with no event in the range, from their order.
pub(crate) fn order_value(by: Breakdown, order: &OrderFact, customers: &Customers) -> String {
    let value = match by {
        Breakdown::Source => order.source.clone(),
        Breakdown::Medium => order.medium.clone(),
        Breakdown::Campaign => order.campaign.clone(),
        Breakdown::Country if order.person.starts_with("c:") => {
            customers.get(&order.person).and_then(|c| c.country.clone())
        }
        Breakdown::CustomerType => return customer_type(&order.person, customers),
        _ => None,
    };
    value
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| UNKNOWN.to_string())
}

/// Product conversion per product, or per category when `category`.
fn product_rows<'a>(
    category: bool,
    visits: &Visits<'a>,
    orders: &[&'a OrderFact],
) -> Vec<TrafficBreakdownRow> {
    let known = |value: Option<&str>| match value {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => UNKNOWN.to_string(),
    };
    let mut tallies: HashMap<String, Tally> = HashMap::new();
    for (i, event) in visits.events.iter().enumerate() {
        if event.event != PRODUCT_VIEWED {
            continue;
        }
        let value = known(if category {
            event.category.as_deref()
        } else {
            event.product_id.as_deref()
        });
        let tally = tallies.entry(value).or_default();
        tally.visitors.insert(&event.person);
        tally.sessions.insert(visits.session_of[i]);
        tally.product_views += 1;
    }
    for order in orders {
        for value in product_order_values(category, order) {
            tallies.entry(value).or_default().order(order);
        }
    }
    rows(tallies)
}

/// The distinct products (or categories, when `category`) of an order's lines.
pub(crate) fn product_order_values(category: bool, order: &OrderFact) -> HashSet<String> {
    order
        .lines
        .iter()
        .map(|line| {
            let value = if category {
                line.category.as_deref()
            } else {
                Some(line.product_id.as_str())
            };
            match value {
                Some(v) if !v.is_empty() => v.to_string(),
                _ => UNKNOWN.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use embudo_core::{Currency, CustomerId, CustomerType, OrderId, ProductId};
    use embudo_store::facts::{CustomerFact, LineFact};

    /// 2026-03-02 00:00 UTC plus `seconds`.
    fn t(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    const MIN: i64 = 60;

    fn week() -> Period {
        Period::parse("2026-03-02", "2026-03-09", None).unwrap()
    }

    fn ev(seq: i64, at: DateTime<Utc>, person: &str, name: &str) -> EventFact {
        EventFact::new(seq, at, person, name)
    }

    fn in_session(mut e: EventFact, session: &str) -> EventFact {
        e.session_id = Some(session.to_string());
        e
    }

    fn from_source(mut e: EventFact, source: &str) -> EventFact {
        e.source = Some(source.to_string());
        e
    }

    fn viewed(
        seq: i64,
        at: DateTime<Utc>,
        person: &str,
        product: &str,
        category: &str,
    ) -> EventFact {
        let mut e = ev(seq, at, person, PRODUCT_VIEWED);
        e.product_id = Some(product.to_string());
        e.category = Some(category.to_string());
        e
    }

    /// An order of `person` with one line per (product, category).
    fn order(id: &str, at: DateTime<Utc>, person: &str, lines: &[(&str, &str)]) -> OrderFact {
        OrderFact {
            id: OrderId::parse(id).unwrap(),
            customer_id: None,
            person: person.to_string(),
            placed_at: at,
            currency: Currency::parse("EUR").unwrap(),
            merchandise: 1000,
            total: 1000,
            source: None,
            medium: None,
            campaign: None,
            cancelled: false,
            lines: lines
                .iter()
                .map(|(product, category)| LineFact {
                    product_id: ProductId::parse(*product).unwrap(),
                    category: Some(category.to_string()),
                    quantity: 1,
                    amount: 1000,
                })
                .collect(),
        }
    }

    fn figures(
        visitors: u64,
        sessions: u64,
        page_views: u64,
        product_views: u64,
        buyers: u64,
        orders: u64,
        conversion_rate: Option<f64>,
    ) -> TrafficFigures {
        TrafficFigures {
            visitors,
            sessions,
            page_views,
            product_views,
            buyers,
            orders,
            conversion_rate,
        }
    }

    fn totals(events: &[EventFact], orders: &[OrderFact]) -> TrafficFigures {
        traffic(&week(), None, None, events, orders, &Customers::new()).totals
    }

    #[test]
    fn figures_over_the_range() {
        let events = vec![
            ev(1, t(0), "v:1", PAGE_VIEWED),
            viewed(2, t(MIN), "v:1", "P1", "shoes"),
            ev(3, t(2 * MIN), "v:1", "Product Added"),
            ev(4, t(0), "v:2", PAGE_VIEWED),
            ev(5, t(MIN), "v:2", PAGE_VIEWED),
            ev(6, t(0), "c:3", "Signed Up"),
        ];
        let mut cancelled = order("O3", t(10 * MIN), "v:2", &[("P1", "shoes")]);
        cancelled.cancelled = true;
        let orders = vec![
            order("O1", t(5 * MIN), "v:1", &[("P1", "shoes")]),
            order("O2", t(6 * MIN), "v:1", &[("P1", "shoes")]),
            cancelled,
            // Before the range: left out.
            order("O4", t(-MIN), "v:2", &[("P1", "shoes")]),
        ];
        assert_eq!(
            totals(&events, &orders),
            figures(3, 3, 3, 1, 1, 2, Some(0.333333))
        );
    }

    #[test]
    fn events_outside_the_range_are_ignored() {
        let p = week();
        let events = vec![
            ev(1, p.from - Duration::seconds(1), "v:1", PAGE_VIEWED),
            ev(2, p.from, "v:2", PAGE_VIEWED),
            ev(3, p.to, "v:3", PAGE_VIEWED),
        ];
        assert_eq!(totals(&events, &[]), figures(1, 1, 1, 0, 0, 0, Some(0.0)));
    }

    #[test]
    fn sessions_split_after_30_minutes_of_inactivity() {
        let events = vec![
            // 29:59 apart: one session.
            ev(1, t(0), "v:1", PAGE_VIEWED),
            ev(2, t(30 * MIN - 1), "v:1", PAGE_VIEWED),
            // 30:00 after the previous event: a new one; the gap is between events, so a
            // long run of close events stays one session.
            ev(3, t(60 * MIN - 1), "v:1", PAGE_VIEWED),
            ev(4, t(80 * MIN), "v:1", PAGE_VIEWED),
            ev(5, t(100 * MIN), "v:1", PAGE_VIEWED),
            // Another person's events never share a session.
            ev(6, t(MIN), "v:2", PAGE_VIEWED),
        ];
        assert_eq!(totals(&events, &[]).sessions, 3);
        let mut one_more = events.clone();
        one_more.push(ev(7, t(130 * MIN), "v:1", PAGE_VIEWED));
        assert_eq!(totals(&one_more, &[]).sessions, 4);
    }

    #[test]
    fn client_session_ids_make_the_session() {
        let events = vec![
            // One session id over hours: one session.
            in_session(ev(1, t(0), "v:1", PAGE_VIEWED), "s1"),
            in_session(ev(2, t(300 * MIN), "v:1", PAGE_VIEWED), "s1"),
            // Two ids a second apart: two sessions.
            in_session(ev(3, t(301 * MIN), "v:1", PAGE_VIEWED), "s2"),
            in_session(ev(4, t(301 * MIN + 1), "v:1", PAGE_VIEWED), "s3"),
            // The same id for another person is another session.
            in_session(ev(5, t(0), "v:2", PAGE_VIEWED), "s1"),
            // Events without an id use the gap rule among themselves.
            ev(6, t(10 * MIN), "v:1", PAGE_VIEWED),
            ev(7, t(20 * MIN), "v:1", PAGE_VIEWED),
        ];
        assert_eq!(totals(&events, &[]).sessions, 5);
    }

    #[test]
    fn empty_period() {
        let report = traffic(
            &week(),
            Some(Interval::Day),
            Some(Breakdown::Source),
            &[],
            &[],
            &Customers::new(),
        );
        assert_eq!(report.totals, figures(0, 0, 0, 0, 0, 0, None));
        assert_eq!(report.series.len(), 7);
        assert!(report
            .series
            .iter()
            .all(|b| b.figures == TrafficFigures::default()));
        assert_eq!(
            report.series[0].start,
            "2026-03-02".parse::<NaiveDate>().unwrap()
        );
        assert!(report.breakdown.is_empty());
        let report = traffic(&week(), None, None, &[], &[], &Customers::new());
        assert!(report.series.is_empty() && report.breakdown.is_empty());
    }

    #[test]
    fn buckets_are_local_dates() {
        let p = Period::parse("2026-03-01", "2026-03-04", Some("Europe/Madrid")).unwrap();
        let at = |h: u32, m: u32, d: u32| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
        let events = vec![
            // 23:30 UTC on 1 March is 00:30 on 2 March in Madrid.
            ev(1, at(23, 30, 1), "v:1", PAGE_VIEWED),
            // A session that starts on the 1st (local) and goes on past midnight: the 1st.
            ev(2, at(22, 50, 1), "v:2", PAGE_VIEWED),
            ev(3, at(23, 10, 1), "v:2", PAGE_VIEWED),
            // 23:10 UTC on 28 February is 1 March local: inside the range.
            ev(4, at(23, 10, 1) - Duration::days(1), "v:3", PAGE_VIEWED),
        ];
        let orders = vec![order("O1", at(23, 40, 1), "v:1", &[("P1", "shoes")])];
        let report = traffic(
            &p,
            Some(Interval::Day),
            None,
            &events,
            &orders,
            &Customers::new(),
        );
        let days: Vec<(String, u64, u64, u64, u64)> = report
            .series
            .iter()
            .map(|b| {
                let f = &b.figures;
                (
                    b.start.to_string(),
                    f.visitors,
                    f.sessions,
                    f.page_views,
                    f.orders,
                )
            })
            .collect();
        assert_eq!(
            days,
            vec![
                ("2026-03-01".to_string(), 2, 2, 2, 0),
                ("2026-03-02".to_string(), 2, 1, 2, 1),
                ("2026-03-03".to_string(), 0, 0, 0, 0),
            ]
        );
        assert_eq!(report.series[1].figures.conversion_rate, Some(0.5));
        assert_eq!(report.totals, figures(3, 3, 4, 0, 1, 1, Some(0.333333)));
        let weeks = traffic(
            &p,
            Some(Interval::Week),
            None,
            &events,
            &orders,
            &Customers::new(),
        );
        let starts: Vec<String> = weeks.series.iter().map(|b| b.start.to_string()).collect();
        assert_eq!(starts, vec!["2026-02-23", "2026-03-02"]);
        assert_eq!(weeks.series[0].figures.visitors, 2);
        assert_eq!(weeks.series[1].figures.visitors, 2);
    }

    #[test]
    fn first_touch_attribution() {
        let events = vec![
            // v:1 first came from google, then from the newsletter; everything stays google.
            from_source(ev(1, t(0), "v:1", PAGE_VIEWED), "google"),
            from_source(ev(2, t(120 * MIN), "v:1", PAGE_VIEWED), "newsletter"),
            viewed(3, t(121 * MIN), "v:1", "P1", "shoes"),
            // v:2's first event had no source: (none), even though a later one has.
            ev(4, t(0), "v:2", PAGE_VIEWED),
            from_source(ev(5, t(MIN), "v:2", PAGE_VIEWED), "google"),
            from_source(ev(6, t(0), "v:3", PAGE_VIEWED), "newsletter"),
        ];
        let mut unseen = order("O3", t(50 * MIN), "c:9", &[("P2", "hats")]);
        unseen.source = Some("instagram".to_string());
        let orders = vec![
            order("O1", t(130 * MIN), "v:1", &[("P1", "shoes")]),
            order("O2", t(5 * MIN), "v:2", &[("P1", "shoes")]),
            // A buyer with no event: their order's attribution.
            unseen,
        ];
        let report = traffic(
            &week(),
            None,
            Some(Breakdown::Source),
            &events,
            &orders,
            &Customers::new(),
        );
        let rows: Vec<(&str, TrafficFigures)> = report
            .breakdown
            .iter()
            .map(|r| (r.value.as_str(), r.figures.clone()))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("(none)", figures(1, 1, 2, 0, 1, 1, Some(1.0))),
                ("google", figures(1, 2, 2, 1, 1, 1, Some(1.0))),
                ("newsletter", figures(1, 1, 1, 0, 0, 0, Some(0.0))),
                ("instagram", figures(0, 0, 0, 0, 1, 1, None)),
            ]
        );
        assert_eq!(report.totals, figures(3, 4, 5, 1, 3, 3, Some(1.0)));
    }

    #[test]
    fn breakdown_by_customer_type() {
        let customer = |id: &str, customer_type| {
            let c = CustomerFact {
                id: CustomerId::parse(id).unwrap(),
                customer_type,
                country: None,
                first_seen: None,
            };
            (c.person(), c)
        };
        let customers: Customers = [
            customer("1", CustomerType::Business),
            customer("2", CustomerType::Consumer),
        ]
        .into_iter()
        .collect();
        let events = vec![
            ev(1, t(0), "c:1", PAGE_VIEWED),
            ev(2, t(0), "c:2", PAGE_VIEWED),
            ev(3, t(0), "v:3", PAGE_VIEWED),
            ev(4, t(0), "c:4", PAGE_VIEWED),
        ];
        let orders = vec![order("O1", t(MIN), "c:1", &[("P1", "shoes")])];
        let report = traffic(
            &week(),
            None,
            Some(Breakdown::CustomerType),
            &events,
            &orders,
            &customers,
        );
        let rows: Vec<(&str, u64, u64)> = report
            .breakdown
            .iter()
            .map(|r| (r.value.as_str(), r.figures.visitors, r.figures.buyers))
            .collect();
        assert_eq!(
            rows,
            vec![("(none)", 2, 0), ("business", 1, 1), ("consumer", 1, 0)]
        );
    }

    #[test]
    fn product_conversion() {
        let events = vec![
            viewed(1, t(0), "v:1", "P1", "shoes"),
            viewed(2, t(MIN), "v:1", "P1", "shoes"),
            viewed(3, t(0), "v:2", "P1", "shoes"),
            viewed(4, t(0), "v:3", "P2", "shoes"),
            // v:1 views P1 again in a second session.
            viewed(5, t(120 * MIN), "v:1", "P1", "shoes"),
            // Not product views: ignored by this breakdown.
            ev(6, t(0), "v:4", PAGE_VIEWED),
        ];
        let orders = vec![
            // Two lines of P1 in one order: one order of it.
            order(
                "O1",
                t(10 * MIN),
                "v:1",
                &[("P1", "shoes"), ("P1", "shoes")],
            ),
            // v:5 bought P2 and P3 without viewing them: still buyers.
            order("O2", t(10 * MIN), "v:5", &[("P2", "shoes"), ("P3", "hats")]),
            order("O3", t(20 * MIN), "v:5", &[("P3", "hats")]),
        ];
        let by = |b| traffic(&week(), None, Some(b), &events, &orders, &Customers::new());
        let rows = |report: TrafficReport| -> Vec<(String, TrafficFigures)> {
            report
                .breakdown
                .into_iter()
                .map(|r| (r.value, r.figures))
                .collect()
        };
        assert_eq!(
            rows(by(Breakdown::Product)),
            vec![
                ("P1".to_string(), figures(2, 3, 0, 4, 1, 1, Some(0.5))),
                ("P2".to_string(), figures(1, 1, 0, 1, 1, 1, Some(1.0))),
                // Bought, never viewed: a rate would divide by zero.
                ("P3".to_string(), figures(0, 0, 0, 0, 1, 2, None)),
            ]
        );
        // Per category: 3 viewers of shoes, 2 buyers of shoes (v:1, v:5).
        assert_eq!(
            rows(by(Breakdown::Category)),
            vec![
                (
                    "shoes".to_string(),
                    figures(3, 4, 0, 5, 2, 2, Some(0.666667))
                ),
                ("hats".to_string(), figures(0, 0, 0, 0, 1, 2, None)),
            ]
        );
    }

    #[test]
    fn product_conversion_can_exceed_one() {
        let events = vec![viewed(1, t(0), "v:1", "P1", "shoes")];
        let orders = vec![
            order("O1", t(MIN), "v:1", &[("P1", "shoes")]),
            order("O2", t(MIN), "v:2", &[("P1", "shoes")]),
            order("O3", t(MIN), "v:3", &[("P1", "shoes")]),
        ];
        let report = traffic(
            &week(),
            None,
            Some(Breakdown::Product),
            &events,
            &orders,
            &Customers::new(),
        );
        assert_eq!(report.breakdown[0].figures.conversion_rate, Some(3.0));
        assert_eq!(report.totals.conversion_rate, Some(3.0));
    }

    #[test]
    fn report_field_names() {
        let report = traffic(
            &week(),
            Some(Interval::Month),
            None,
            &[ev(1, t(0), "v:1", PAGE_VIEWED)],
            &[],
            &Customers::new(),
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "totals": {
                    "visitors": 1, "sessions": 1, "page_views": 1, "product_views": 0,
                    "buyers": 0, "orders": 0, "conversion_rate": 0.0,
                },
                "series": [{
                    "start": "2026-03-01",
                    "figures": {
                        "visitors": 1, "sessions": 1, "page_views": 1, "product_views": 0,
                        "buyers": 0, "orders": 0, "conversion_rate": 0.0,
                    },
                }],
                "breakdown": [],
            })
        );
    }
}
