//! Report parameters shared by every report, and their parsing from text (query strings and
//! command-line flags), with errors that name the parameter.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A parameter that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {message}")]
pub struct ParamError {
    /// The parameter's name as the API spells it (`from`, `steps`, `by`…).
    pub parameter: String,
    /// What is wrong with it.
    pub message: String,
}

impl ParamError {
    /// An error about `parameter`.
    pub fn new(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            parameter: parameter.into(),
            message: message.into(),
        }
    }
}

/// What a report can be broken down by.
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
pub enum Breakdown {
    /// The product's category (events: `properties.category`; orders: the catalog's top-level
    /// category of each line's product).
    Category,
    /// The product (events: `properties.product_id`; orders: each line's product).
    Product,
    /// UTM source.
    Source,
    /// UTM medium.
    Medium,
    /// UTM campaign.
    Campaign,
    /// `context.device.type` (mobile, desktop, tablet…).
    Device,
    /// The visitor's country (events) or the customer's (orders).
    Country,
    /// Consumer, business or government (known customers only).
    CustomerType,
}

impl Breakdown {
    /// Every breakdown.
    pub const ALL: [Breakdown; 8] = [
        Breakdown::Category,
        Breakdown::Product,
        Breakdown::Source,
        Breakdown::Medium,
        Breakdown::Campaign,
        Breakdown::Device,
        Breakdown::Country,
        Breakdown::CustomerType,
    ];

    /// The name used in the API and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            Breakdown::Category => "category",
            Breakdown::Product => "product",
            Breakdown::Source => "source",
            Breakdown::Medium => "medium",
            Breakdown::Campaign => "campaign",
            Breakdown::Device => "device",
            Breakdown::Country => "country",
            Breakdown::CustomerType => "customer_type",
        }
    }
}

impl fmt::Display for Breakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Breakdown {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, ParamError> {
        Breakdown::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| {
                ParamError::new(
                    "by",
                    format!(
                        "unknown breakdown `{s}`; one of: {}",
                        Breakdown::ALL.map(|b| b.as_str()).join(", ")
                    ),
                )
            })
    }
}

/// The value a row without the breakdown's attribute is counted under.
pub const UNKNOWN: &str = "(none)";

/// The comparison period of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// The period of the same length just before.
    Previous,
    /// The same dates a year earlier.
    PreviousYear,
}

impl FromStr for Compare {
    type Err = ParamError;
    fn from_str(s: &str) -> Result<Self, ParamError> {
        match s {
            "previous" | "previous_period" => Ok(Compare::Previous),
            "previous_year" | "year" => Ok(Compare::PreviousYear),
            _ => Err(ParamError::new(
                "compare",
                format!("unknown comparison `{s}`; one of: previous, previous_year"),
            )),
        }
    }
}

/// Parses a duration such as `14d`, `24h`, `30m`, `2w` or `90s` (`parameter` names it in
/// errors). Zero and negative durations are refused.
pub fn parse_duration(parameter: &str, text: &str) -> Result<Duration, ParamError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || {
        ParamError::new(
            parameter,
            format!("`{text}` is not a duration; write a whole number and a unit: 14d, 24h, 30m, 2w, 90s"),
        )
    };
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(ParamError::new(parameter, "must be longer than zero"));
    }
    let duration = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => None,
    };
    let duration = duration.ok_or_else(bad)?;
    if duration > Duration::days(3660) {
        return Err(ParamError::new(parameter, "must be at most 3660 days"));
    }
    Ok(duration)
}

/// Formats a duration the way [`parse_duration`] reads it (the largest unit that divides it).
pub fn format_duration(duration: Duration) -> String {
    let s = duration.num_seconds();
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s % size == 0 {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("window", "14d").unwrap(), Duration::days(14));
        assert_eq!(
            parse_duration("window", "24h").unwrap(),
            Duration::hours(24)
        );
        assert_eq!(parse_duration("window", "2w").unwrap(), Duration::days(14));
        assert_eq!(format_duration(Duration::days(14)), "2w");
        assert_eq!(format_duration(Duration::hours(36)), "36h");
        for bad in [
            "",
            "d",
            "14",
            "14x",
            "-1d",
            "0d",
            "1.5d",
            "99999999999999999999d",
        ] {
            let err = parse_duration("window", bad).unwrap_err();
            assert_eq!(err.parameter, "window", "{bad}");
        }
    }

    #[test]
    fn breakdowns_round_trip() {
        for b in Breakdown::ALL {
            assert_eq!(b.as_str().parse::<Breakdown>().unwrap(), b);
        }
        let err = "colour".parse::<Breakdown>().unwrap_err();
        assert!(err.message.contains("customer_type"), "{err}");
    }
}
