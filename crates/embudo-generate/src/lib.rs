//! A believable online shop, generated: a catalog, the tracking traffic of its visitors and
//! customers, and the shipping updates of its orders, for demos and load tests.
//!
//! The output goes through the same doors as a real shop's data:
//!
//! * [`Generator::catalog`]: the products, as [`embudo_core::Product`]s (the catalog API);
//! * [`DayBatch::messages`]: Segment HTTP tracking API messages (`track`, `page`,
//!   `identify`) as JSON, exactly what a Segment or RudderStack client would `POST` to
//!   `/v1/batch`, with Segment e-commerce v2 events and properties;
//! * [`DayBatch::status_changes`]: shipped and delivered updates (the orders API).
//!
//! Output streams day by day ([`Generator::days`]); memory is bounded by one day's batch plus a
//! few bytes per customer, so tens of millions of events can be generated without holding them.
//!
//! # Determinism
//!
//! The same [`ShopSpec`] gives byte-identical output (on the same platform: distributions use
//! `f64` `ln`/`exp`). Randomness comes from [`rand_chacha::ChaCha8Rng`] streams derived from
//! the seed and what is being decided (a day, a customer's n-th visit, an order…), never from
//! the clock or hash-map order. Message ids are `gen-{seed}-{n}`, numbered in output order.
//!
//! # The model
//!
//! **Catalog** (see the `catalog` module): five departments (Kitchen, Home, Outdoor, Wellness,
//! Kids) of two to four subcategories, a dozen invented brands, `3·√customers + 40` products
//! (60 to 1,200) plus premium variants, log-normal prices around each subcategory's typical
//! price (a long tail), Zipf-like popularity.
//!
//! **People**: `customers` known customers, each identified (signed up or logged in) at least
//! once during the period, so exactly `customers` distinct `userId`s appear. 40% had an
//! account before the period and log in on their first visit; 60% sign up during it, on a day
//! following traffic, after zero to three anonymous visits on the same browser (which the
//! `identify` call links). Each has a visit rate (log-normal: median about 5 visits a year,
//! mean about 10, a few weekly or more; each past order raises it by 40%, up to 3×, since
//! buyers come back), a buying affinity (log-normal; having bought before raises it too), one to
//! three devices (each a browser with its own `anonymousId`; a login is remembered per
//! browser), a country and city of the shop's market, consent to email for 55%, and 8% are
//! businesses or public bodies (who buy larger quantities). About 2% of visits are a
//! customer's last. The result is a heavy tail: most customers never order in the period (many
//! accounts are newsletter or wishlist signups), about a quarter of buyers order again, and a
//! few order dozens of times.
//! Besides them, **anonymous-only visitors** — four per customer — come 1.5 times on average
//! (returning ones within about a month) and never make an account; some buy as guests (their
//! email is in the order's `properties.email`). Known customers not logged in at checkout
//! occasionally check out as guests too. Visit times follow a Poisson process whose rate
//! follows the seasonality below.
//!
//! **Sessions**: each arrives from a source — organic search, direct, paid (Google Ads
//! `cpc`, Meta `paid_social`), email (newsletter; only customers, mostly those who
//! consented), social, referral — with `context.campaign` (`source`, `medium`, `name`) for
//! paid, email and social visits and UTM parameters on the landing URL; on a device (58%
//! mobile, 35% desktop, 7% tablet). A session decides how far down the funnel it goes, with
//! conditional probabilities by visitor kind, shifted by device, source, season and affinity;
//! measured over whole years, about 35% of sessions view a product, 10% add to cart, 4% start
//! checkout and 2.5% order (periods of a few weeks, dominated by first visits, convert a little
//! less). It plays the steps out as page views and Segment events: category
//! lists, searches, product clicks and views (by popularity), wishlist adds and reviews (known
//! customers), adds (quantity mostly 1) and removals, cart, login or signup, checkout, coupon
//! (`WELCOME10` at signup, `CYBER20`, `NEWS15` from email, `LOYAL10` for regulars, `SAVE5`),
//! payment, confirmation.
//!
//! **Money**: integer minor units throughout; prices are net, tax is added at the customer's
//! country rate, shipping is free above about 60 (else 4.95, express 9.95). In
//! `Order Completed`, `revenue` = Σ `price` × `quantity` of its products, and
//! `total` = `revenue` − `discount` + `shipping` + `tax`. JSON numbers are built from decimal
//! text, so they read back exactly.
//!
//! **Time**: weekly (quiet Saturdays, busy Sundays) and yearly seasonality (winter lull, summer
//! dip, Q4 build-up), Cyber Weekend at about twice the traffic with better conversion, busy
//! pre-Christmas weeks, quiet Christmas days, January sales; sessions start along a daily curve
//! (evening peak, in the market's local time) and last from seconds to half an hour. Messages
//! of a day are in time order.
//!
//! **After the order**: about 1% are cancelled within hours (`Order Cancelled`); the rest are
//! shipped one or two days later (never on a Sunday) with a carrier and tracking number, and
//! delivered one to five days after that (status changes); about 4.5% of shipped orders are
//! refunded (`Order Refunded`) days to weeks after delivery, a third of them partially (one
//! unit, or a goodwill share). Follow-ups falling after the period are not emitted.
//!
//! # Volume
//!
//! A spec yields about `customers × (47 + 0.059·days + 1.5·√days)` messages (within a few
//! percent for periods of a week to two years; [`Generator::estimated_events`] computes it):
//!
//! | customers | days | messages |
//! | --- | --- | --- |
//! | 1,000 | 90 | ≈ 67 thousand |
//! | 10,000 | 365 | ≈ 1 million |
//! | 100,000 | 365 | ≈ 9.8 million (measured: 9.8 M, 1.3 M sessions, 37 k orders) |
//! | 100,000 | 30 | ≈ 5.7 million |
//!
//! Every customer and their four anonymous companions come at least once whatever the
//! period, so short periods are dense: `customers` is the number of people, not a daily rate.
//!
//! # Performance
//!
//! Generation is bound by building `serde_json::Value`s: a message is about 60 small
//! allocations (five or six maps, their keys and strings). On the shared two-core development
//! machine, under load from other builds, `examples/gen_bench.rs` measured about 120 k
//! messages/s wall-clock and 180 k messages per CPU-second for 100,000 customers over 365 days
//! (about 230–270 k per CPU-second for smaller days that stay in cache). Freeing the values
//! costs the consumer about as much again with glibc's allocator; a faster allocator
//! (mimalloc, jemalloc) in the binary helps both. Peak memory is one day's batch: about 600 MB
//! for the busiest day (Cyber Weekend, 85 k messages) of that spec. [`Generator::with_threads`]
//! spreads a day's sessions over threads without changing the output.
#![deny(missing_docs)]

mod calendar;
mod catalog;
mod days;
mod people;
mod price;
mod rng;
mod session;

pub use days::Days;

use chrono::{DateTime, NaiveDate, Utc};
use embudo_core::{Currency, OrderId, Product, StatusChange};
use people::{Market, PeopleContext};
use rng::Cdf;

/// Distinct anonymous-only visitors per known customer.
const ANON_PER_CUSTOMER: f64 = 4.0;
/// Sessions per anonymous-only visitor over the period.
const ANON_SESSIONS_PER_VISITOR: f64 = 1.5;
/// Share of anonymous sessions made by a visitor not seen before.
const ANON_NEW_SHARE: f64 = 1.0 / ANON_SESSIONS_PER_VISITOR;
/// Returning anonymous visitors were first seen within about this many days.
const ANON_RETURN_DAYS: f64 = 30.0;

/// What shop to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopSpec {
    /// Distinct known customers (people who identify) over the period. Anonymous-only
    /// visitors come in addition, about four per customer.
    pub customers: u32,
    /// Number of days generated.
    pub days: u32,
    /// The seed; the same spec always gives the same shop.
    pub seed: u64,
    /// The last day generated (**inclusive**): the period is `end − (days − 1) ..= end`.
    pub end: NaiveDate,
    /// The shop's currency; it also picks the market (the euro area for EUR, the United States
    /// for USD, the United Kingdom for GBP…).
    pub currency: Currency,
}

impl ShopSpec {
    /// A spec in euros.
    pub fn new(customers: u32, days: u32, seed: u64, end: NaiveDate) -> Self {
        Self {
            customers,
            days,
            seed,
            end,
            currency: Currency::EUR,
        }
    }

    /// The first day generated.
    pub fn start(&self) -> NaiveDate {
        self.end - chrono::Days::new(u64::from(self.days.max(1)) - 1)
    }
}

/// One day of shop activity.
#[derive(Debug, Clone, PartialEq)]
pub struct DayBatch {
    /// The day (UTC).
    pub date: NaiveDate,
    /// Segment messages timestamped on this day, in time order.
    pub messages: Vec<serde_json::Value>,
    /// Shipping updates timestamped on this day, in time order; each refers to an order
    /// completed on an earlier day.
    pub status_changes: Vec<(OrderId, StatusChange)>,
}

/// Generates a shop from a [`ShopSpec`].
pub struct Generator {
    spec: ShopSpec,
    start: NaiveDate,
    catalog: catalog::Catalog,
    pricing: price::Pricing,
    market: Market,
    /// Traffic multiplier of each day.
    traffic: Vec<f64>,
    /// The same, as a distribution over days.
    day_traffic: Cdf,
    /// The largest daily multiplier.
    max_traffic: f64,
    /// Expected anonymous-only sessions on each day.
    anon_sessions: Vec<f64>,
    /// How far back (in visitor numbers) returning anonymous visitors are drawn from.
    anon_return_window: u64,
    diurnal: calendar::Diurnal,
    /// Threads simulating a day's sessions.
    threads: usize,
}

impl Generator {
    /// Prepares a shop: builds the catalog and the calendar. Cheap; the work happens while
    /// iterating [`Generator::days`].
    pub fn new(spec: ShopSpec) -> Self {
        let start = spec.start();
        let pricing = price::Pricing::new(spec.currency);
        let catalog = catalog::Catalog::generate(spec.seed, spec.customers, &pricing, start);
        let market = Market::for_currency(spec.currency);
        let traffic: Vec<f64> = (0..spec.days)
            .map(|d| calendar::traffic(start + chrono::Days::new(u64::from(d))))
            .collect();
        let total_traffic: f64 = traffic.iter().sum();
        let max_traffic = traffic.iter().copied().fold(1.0, f64::max);
        let anon_total = f64::from(spec.customers) * ANON_PER_CUSTOMER * ANON_SESSIONS_PER_VISITOR;
        let anon_sessions = traffic
            .iter()
            .map(|t| anon_total * t / total_traffic.max(f64::MIN_POSITIVE))
            .collect();
        let new_per_day =
            f64::from(spec.customers) * ANON_PER_CUSTOMER / f64::from(spec.days.max(1));
        let anon_return_window = (new_per_day * ANON_RETURN_DAYS).ceil() as u64;
        let day_traffic = if traffic.is_empty() {
            Cdf::new([1.0])
        } else {
            Cdf::new(traffic.iter().copied())
        };
        Self {
            spec,
            start,
            catalog,
            pricing,
            market,
            traffic,
            day_traffic,
            max_traffic,
            anon_sessions,
            anon_return_window,
            diurnal: calendar::Diurnal::new(),
            threads: 1,
        }
    }

    /// Uses `threads` threads to simulate each day's sessions (default 1: everything runs on
    /// the caller's thread). The output does not depend on it. More threads help only on an
    /// otherwise idle machine: building `serde_json::Value`s is allocation-bound, and with
    /// glibc's allocator, values built on one thread and freed on another are slow to free.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The spec.
    pub fn spec(&self) -> &ShopSpec {
        &self.spec
    }

    /// The first day generated.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// The catalog, to load before the messages (they refer to its product ids).
    pub fn catalog(&self) -> &[Product] {
        &self.catalog.products
    }

    /// About how many messages [`Generator::days`] will yield in total (within about 15%),
    /// for progress bars.
    pub fn estimated_events(&self) -> u64 {
        let days = f64::from(self.spec.days);
        if days == 0.0 {
            return 0;
        }
        let per_customer = EVENTS_BASE + EVENTS_PER_DAY * days + EVENTS_PER_SQRT_DAY * days.sqrt();
        (f64::from(self.spec.customers) * per_customer).round() as u64
    }

    /// The shop's activity, one day at a time, oldest first. Each call starts over and yields
    /// the same batches.
    pub fn days(&self) -> Days<'_> {
        Days::new(self)
    }

    fn people(&self) -> PeopleContext<'_> {
        PeopleContext {
            seed: self.spec.seed,
            market: &self.market,
            days: self.spec.days,
            day_traffic: &self.day_traffic,
        }
    }

    /// Day index `d` as a date.
    fn date(&self, d: u32) -> NaiveDate {
        self.start + chrono::Days::new(u64::from(d))
    }

    /// `ms` milliseconds after midnight of day index `d`.
    fn instant(&self, d: u32, ms: u32) -> DateTime<Utc> {
        self.date(d)
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            + chrono::Duration::milliseconds(i64::from(ms))
    }
}

// Calibration of [`Generator::estimated_events`], fitted to measured output (periods of 7 to
// 730 days, within 2%): every customer and their four anonymous companions come at least once
// whatever the length of the period (the fixed part); customers return at a steady rate (the
// linear part), and churn and the one-visit-a-day cap bend the curve (the square-root part).
const EVENTS_BASE: f64 = 47.0;
const EVENTS_PER_DAY: f64 = 0.059;
const EVENTS_PER_SQRT_DAY: f64 = 1.5;
