//! Time: how busy each day is (weekly and yearly seasonality, Black Friday, Christmas), when
//! in the day people shop, and the RFC 3339 timestamps written into messages.
//!
//! Traffic multipliers average about 1 over a year, so a visit rate stated "per day" is a
//! yearly average. All times are UTC; a market's local evening peak is placed by shifting the
//! hour-of-day curve by the market's UTC offset.

use crate::rng::{Cdf, RngExt};
use chrono::{Datelike, NaiveDate, Weekday};
use rand::Rng;
use std::fmt::Write;

/// Milliseconds in a day.
pub(crate) const DAY_MS: u32 = 86_400_000;

/// Traffic by weekday, Monday first: Sunday evenings are the busiest, Saturdays the quietest,
/// as in most consumer e-commerce.
const WEEKDAY: [f64; 7] = [1.04, 1.0, 0.99, 0.98, 0.93, 0.86, 1.16];

/// Traffic by month: a winter lull, a summer dip, a Q4 build-up (December is shaped by
/// [`special_day`]).
const MONTH: [f64; 12] = [
    0.86, 0.84, 0.93, 0.95, 0.96, 0.9, 0.88, 0.9, 0.97, 1.0, 1.14, 1.2,
];

/// Share of a market's sessions starting in each local hour: a morning bump, lunch, and an
/// evening peak around 20:00.
const HOUR_WEIGHTS: [f64; 24] = [
    1.6, 0.9, 0.5, 0.3, 0.3, 0.5, 1.2, 2.4, 3.6, 4.2, 4.5, 4.7, 5.2, 5.0, 4.6, 4.5, 4.6, 5.0, 5.7,
    6.6, 7.2, 6.8, 5.0, 3.0,
];

/// Black Friday (the day after the fourth Thursday of November) of `year`.
pub(crate) fn black_friday(year: i32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, 11, 1).expect("November 1st exists");
    let to_thursday = (7 + 3 - first.weekday().num_days_from_monday()) % 7;
    first + chrono::Days::new(u64::from(to_thursday) + 22)
}

/// Whether `date` is between Black Friday and Cyber Monday.
pub(crate) fn is_cyber_weekend(date: NaiveDate) -> bool {
    let bf = black_friday(date.year());
    date >= bf && date <= bf + chrono::Days::new(3)
}

/// Extra traffic on special days: Cyber Weekend, the pre-Christmas weeks (gift shopping
/// until the shipping cut-off), the quiet Christmas days, and January sales.
fn special_day(date: NaiveDate) -> f64 {
    if is_cyber_weekend(date) {
        return 2.1;
    }
    match (date.month(), date.day()) {
        (11, d) if d >= 20 => 1.15,
        (12, 1..=19) => 1.35,
        (12, 20..=23) => 1.1,
        (12, 24..=26) => 0.6,
        (1, 2..=10) => 1.1,
        _ => 1.0,
    }
}

/// How busy `date` is compared with an average day.
pub(crate) fn traffic(date: NaiveDate) -> f64 {
    WEEKDAY[date.weekday().num_days_from_monday() as usize]
        * MONTH[date.month0() as usize]
        * special_day(date)
}

/// How much more likely a session is to buy on `date`: deals and gift deadlines convert.
pub(crate) fn conversion_boost(date: NaiveDate) -> f64 {
    if is_cyber_weekend(date) {
        1.3
    } else if date.month() == 12 && date.day() <= 20 {
        1.15
    } else if date.weekday() == Weekday::Sun {
        1.05
    } else {
        1.0
    }
}

/// The hour-of-day distribution.
pub(crate) struct Diurnal {
    hours: Cdf,
}

impl Diurnal {
    /// The standard curve.
    pub(crate) fn new() -> Self {
        Self {
            hours: Cdf::new(HOUR_WEIGHTS),
        }
    }

    /// A session start in milliseconds since UTC midnight, for a market `utc_offset` hours
    /// ahead of UTC. Starts are kept an hour before midnight when possible so that most
    /// sessions end within their day.
    pub(crate) fn start_ms(&self, rng: &mut impl Rng, utc_offset: i32) -> u32 {
        let local = self.hours.sample(rng) as i32;
        let utc = (local - utc_offset).rem_euclid(24) as u32;
        utc * 3_600_000 + rng.random_range(0..3_600_000)
    }
}

/// A uniformly random time within office hours (08:00–18:00 UTC), for back-office actions
/// (refunds, shipping scans).
pub(crate) fn office_hours_ms(rng: &mut impl Rng) -> u32 {
    8 * 3_600_000 + rng.random_range(0..10 * 3_600_000)
}

/// `date` as `YYYY-MM-DDT`, the shared prefix of a day's timestamps.
pub(crate) fn timestamp_prefix(date: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}T", date.year(), date.month(), date.day())
}

/// An RFC 3339 UTC timestamp with milliseconds, `prefix` from [`timestamp_prefix`]. Written by
/// hand because it is on the hot path (one per message).
pub(crate) fn timestamp(prefix: &str, ms: u32) -> String {
    let ms = ms.min(DAY_MS - 1);
    let mut out = String::with_capacity(24);
    out.push_str(prefix);
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    write!(out, "{h:02}:{m:02}:{s:02}.{milli:03}Z").expect("writing to a String cannot fail");
    out
}

/// A random duration in milliseconds: mostly `typical`, sometimes much longer (people read,
/// compare, get distracted), never below `min`.
pub(crate) fn dwell_ms(rng: &mut impl Rng, typical_s: f64, min_ms: u32) -> u32 {
    let ms = rng.lognormal(typical_s * 1000.0, 0.8);
    (ms as u32).max(min_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn black_friday_is_the_day_after_thanksgiving() {
        assert_eq!(black_friday(2024), d(2024, 11, 29));
        assert_eq!(black_friday(2025), d(2025, 11, 28));
        assert_eq!(black_friday(2026), d(2026, 11, 27));
        assert!(is_cyber_weekend(d(2025, 12, 1)));
        assert!(!is_cyber_weekend(d(2025, 12, 2)));
    }

    #[test]
    fn a_year_averages_about_one() {
        let mean: f64 = (0..365)
            .map(|i| traffic(d(2025, 1, 1) + chrono::Days::new(i)))
            .sum::<f64>()
            / 365.0;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
        assert!(traffic(d(2025, 11, 28)) > 1.8 * traffic(d(2025, 2, 11)));
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let prefix = timestamp_prefix(d(2025, 3, 9));
        let text = timestamp(&prefix, 13 * 3_600_000 + 5 * 60_000 + 7_042);
        assert_eq!(text, "2025-03-09T13:05:07.042Z");
        assert!(chrono::DateTime::parse_from_rfc3339(&text).is_ok());
        assert_eq!(timestamp(&prefix, DAY_MS + 5), "2025-03-09T23:59:59.999Z");
    }
}
