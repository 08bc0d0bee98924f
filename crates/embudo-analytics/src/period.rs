//! Date ranges in a time zone, comparison periods and time buckets.
//!
//! A report's range is `[from, to)`. A bound written as a date (`2026-03-01`) is that date's
//! first instant in the report's time zone; one written as an RFC 3339 time (with its offset) is
//! that instant. Buckets (`interval`) are local calendar days, ISO weeks starting on Monday,
//! and calendar months, in the report's time zone, labelled by their first local date.

use crate::params::{Compare, ParamError};
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use embudo_store::facts::TimeRange;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The size of a time bucket.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// A local calendar day.
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl Interval {
    /// The name used in the API and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }

    /// The first date of the bucket holding `date`.
    pub fn start(&self, date: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => date,
            Interval::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Interval::Month => date.with_day(1).unwrap_or(date),
        }
    }

    /// The first date of the bucket after the one starting at `start`.
    pub fn next(&self, start: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => start + Days::new(1),
            Interval::Week => start + Days::new(7),
            Interval::Month => start + Months::new(1),
        }
    }
}

impl FromStr for Interval {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, ParamError> {
        match s {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            _ => Err(ParamError::new(
                "interval",
                format!("unknown interval `{s}`; one of: day, week, month"),
            )),
        }
    }
}

/// A report's range `[from, to)` and the time zone its dates are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
    /// The zone of dates, days, weeks and months.
    pub tz: Tz,
}

/// The longest range a report may span.
const MAX_DAYS: i64 = 366 * 20;

impl Period {
    /// `[from, to)` in `tz`; `from` must be before `to`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Result<Self, ParamError> {
        if from >= to {
            return Err(ParamError::new("to", "must be after `from`"));
        }
        if (to - from).num_days() > MAX_DAYS {
            return Err(ParamError::new("to", "the range may span at most 20 years"));
        }
        Ok(Self { from, to, tz })
    }

    /// Parses `from` and `to` (dates or RFC 3339 times) in the zone named `tz` (an IANA name
    /// such as `Europe/Madrid`; UTC when absent).
    pub fn parse(from: &str, to: &str, tz: Option<&str>) -> Result<Self, ParamError> {
        let tz = parse_tz(tz)?;
        let from = parse_bound("from", from, tz)?;
        let to = parse_bound("to", to, tz)?;
        Self::new(from, to, tz)
    }

    /// The range as the store reads it.
    pub fn range(&self) -> TimeRange {
        TimeRange::new(self.from, self.to)
    }

    /// The local date of `at`.
    pub fn date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// The first instant of local `date`.
    pub fn start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        start_of(date, self.tz)
    }

    /// Whether both bounds are local midnights (the range is whole days).
    fn whole_days(&self) -> bool {
        self.start_of(self.date(self.from)) == self.from
            && self.start_of(self.date(self.to)) == self.to
    }

    /// The comparison period.
    pub fn compare(&self, compare: Compare) -> Period {
        match compare {
            Compare::Previous => self.previous(),
            Compare::PreviousYear => self.previous_year(),
        }
    }

    /// The period of the same length just before this one (the same number of local days
    /// when the range is whole days).
    pub fn previous(&self) -> Period {
        if self.whole_days() {
            let (from, to) = (self.date(self.from), self.date(self.to));
            let days = (to - from).num_days().max(1) as u64;
            let start = from - Days::new(days);
            return Period {
                from: self.start_of(start),
                to: self.from,
                tz: self.tz,
            };
        }
        Period {
            from: self.from - (self.to - self.from),
            to: self.from,
            tz: self.tz,
        }
    }

    /// The same local dates and times one year earlier (29 February becomes 28 February).
    pub fn previous_year(&self) -> Period {
        let back = |at: DateTime<Utc>| {
            let local = at.with_timezone(&self.tz).naive_local();
            let earlier = local.checked_sub_months(Months::new(12)).unwrap_or(local);
            self.tz
                .from_local_datetime(&earlier)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| at - chrono::Duration::days(365))
        };
        Period {
            from: back(self.from),
            to: back(self.to),
            tz: self.tz,
        }
    }

    /// The first local date of the bucket holding `at`.
    pub fn bucket(&self, at: DateTime<Utc>, interval: Interval) -> NaiveDate {
        interval.start(self.date(at))
    }

    /// Every bucket the range touches, in order, by first local date (the first and last may
    /// be partial).
    pub fn buckets(&self, interval: Interval) -> Vec<NaiveDate> {
        let last = self.date(self.to - chrono::Duration::microseconds(1));
        let mut out = Vec::new();
        let mut start = interval.start(self.date(self.from));
        while start <= last {
            out.push(start);
            start = interval.next(start);
        }
        out
    }
}

/// The first instant of local `date` in `tz` (when midnight does not exist there, the first
/// instant that does).
pub fn start_of(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let mut local = date.and_time(NaiveTime::MIN);
    for _ in 0..48 {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

/// Parses an IANA zone name; UTC when absent.
pub fn parse_tz(tz: Option<&str>) -> Result<Tz, ParamError> {
    match tz {
        None | Some("") => Ok(Tz::UTC),
        Some(name) => name.parse::<Tz>().map_err(|_| {
            ParamError::new(
                "tz",
                format!(
                    "unknown time zone `{name}`; use an IANA name such as Europe/Madrid or UTC"
                ),
            )
        }),
    }
}

/// Parses a range bound: a date (its first instant in `tz`) or an RFC 3339 time.
pub fn parse_bound(parameter: &str, text: &str, tz: Tz) -> Result<DateTime<Utc>, ParamError> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(start_of(date, tz));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ParamError::new(
                parameter,
                format!("`{text}` is neither a date (2026-03-01) nor an RFC 3339 time (2026-03-01T00:00:00Z)"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dates_are_local_midnights() {
        let p = Period::parse("2026-03-01", "2026-04-01", Some("Europe/Madrid")).unwrap();
        assert_eq!(p.from.to_rfc3339(), "2026-02-28T23:00:00+00:00");
        // Summer time started on 29 March: April begins at 22:00 UTC.
        assert_eq!(p.to.to_rfc3339(), "2026-03-31T22:00:00+00:00");
        assert_eq!(p.buckets(Interval::Month), vec![d("2026-03-01")]);
        assert_eq!(p.buckets(Interval::Day).len(), 31);
        assert_eq!(p.buckets(Interval::Week).first(), Some(&d("2026-02-23")));
        let prev = p.previous();
        assert_eq!(prev.date(prev.from), d("2026-01-29"));
        assert_eq!(prev.to, p.from);
        let year = p.previous_year();
        assert_eq!(year.date(year.from), d("2025-03-01"));
        assert_eq!(year.date(year.to), d("2025-04-01"));
    }

    #[test]
    fn bad_ranges_name_their_parameter() {
        assert_eq!(
            Period::parse("2026-03-01", "2026-03-01", None)
                .unwrap_err()
                .parameter,
            "to"
        );
        assert_eq!(
            Period::parse("March", "2026-03-01", None)
                .unwrap_err()
                .parameter,
            "from"
        );
        assert_eq!(
            Period::parse("2026-03-01", "2026-04-01", Some("Mars/Olympus"))
                .unwrap_err()
                .parameter,
            "tz"
        );
        let p = Period::parse("2026-03-01T10:00:00+01:00", "2026-03-01T12:00:00Z", None).unwrap();
        assert_eq!((p.to - p.from).num_hours(), 3);
        assert_eq!(p.previous().from.to_rfc3339(), "2026-03-01T06:00:00+00:00");
    }

    #[test]
    fn leap_day_goes_back_to_the_28th() {
        let p = Period::parse("2028-02-29", "2028-03-01", None).unwrap();
        assert_eq!(
            p.previous_year().date(p.previous_year().from),
            d("2027-02-28")
        );
    }
}
