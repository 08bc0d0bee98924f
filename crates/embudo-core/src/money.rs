//! Money: an integer count of minor units (cents, pence, yen) plus an ISO 4217 currency.
//!
//! Decimal amounts from the outside world (`"19.99"`, a JSON number `19.99`) are converted by
//! reading their decimal digits, never through floating-point arithmetic, so `19.99` is exactly
//! 1999 cents.

use crate::{ValidationError, ValidationErrorKind};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An ISO 4217 currency.
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
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "EUR")]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses a three-letter code, in any case.
    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        let upper = code.trim().to_ascii_uppercase();
        iso_currency::Currency::from_code(&upper)
            .map(Self)
            .ok_or_else(|| {
                ValidationError::new(
                    "currency",
                    ValidationErrorKind::Malformed,
                    format!("`{code}` is not an ISO 4217 currency code"),
                )
            })
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// The number of decimal digits of the minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u32 {
        // Funds and metals have no minor unit in ISO 4217; treat them as whole units.
        self.0.exponent().map(u32::from).unwrap_or(0)
    }

    /// Euro.
    pub const EUR: Currency = Currency(iso_currency::Currency::EUR);
    /// US dollar.
    pub const USD: Currency = Currency(iso_currency::Currency::USD);
    /// Pound sterling.
    pub const GBP: Currency = Currency(iso_currency::Currency::GBP);
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_string()
    }
}

/// An amount of money in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    /// The amount in minor units (1999 is 19.99 EUR).
    pub amount: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// An amount of `amount` minor units.
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero in `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self {
            amount: 0,
            currency,
        }
    }

    /// Converts a decimal amount in major units (`"19.99"`, `"-3"`, `"1.5e2"`) to minor units,
    /// rounding half away from zero when it has more digits than the currency's minor unit.
    pub fn from_decimal_str(text: &str, currency: Currency) -> Result<Self, ValidationError> {
        decimal_to_minor(text, currency.exponent(), false).map(|amount| Self { amount, currency })
    }

    /// Like [`Money::from_decimal_str`] but refuses amounts finer than the minor unit.
    pub fn from_decimal_str_exact(text: &str, currency: Currency) -> Result<Self, ValidationError> {
        decimal_to_minor(text, currency.exponent(), true).map(|amount| Self { amount, currency })
    }

    /// Converts a JSON number (or a numeric string) in major units to minor units.
    pub fn from_json(
        value: &serde_json::Value,
        currency: Currency,
    ) -> Result<Self, ValidationError> {
        match value {
            serde_json::Value::Number(n) => Self::from_decimal_str(&n.to_string(), currency),
            serde_json::Value::String(s) => Self::from_decimal_str(s, currency),
            _ => Err(ValidationError::new(
                "",
                ValidationErrorKind::Malformed,
                "must be a number",
            )),
        }
    }

    /// The amount as a decimal string in major units (`"19.99"`).
    pub fn to_decimal_string(&self) -> String {
        minor_to_decimal(self.amount, self.currency.exponent())
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

/// Renders `amount` minor units with `exponent` decimals.
pub fn minor_to_decimal(amount: i64, exponent: u32) -> String {
    if exponent == 0 {
        return amount.to_string();
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let scale = 10u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = exponent as usize
    )
}

fn malformed(text: &str) -> ValidationError {
    ValidationError::new(
        "",
        ValidationErrorKind::Malformed,
        format!("`{text}` is not a decimal amount"),
    )
}

/// Converts a decimal amount in major units to minor units of a currency with `exponent`
/// decimals, rounding half away from zero unless `exact` (then finer amounts are refused).
pub fn decimal_to_minor(text: &str, exponent: u32, exact: bool) -> Result<i64, ValidationError> {
    let trimmed = text.trim();
    let (negative, unsigned) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let (mantissa, exp10) = match unsigned.find(['e', 'E']) {
        Some(i) => (
            &unsigned[..i],
            unsigned[i + 1..]
                .parse::<i32>()
                .map_err(|_| malformed(text))?,
        ),
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed(text));
    }
    // All digits as one integer, with the decimal point `point` places from the right.
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let point = frac_part.len() as i64 - i64::from(exp10);
    // Shift so the point sits `exponent` places from the right.
    let shift = i64::from(exponent) - point;
    let too_large = || {
        ValidationError::new(
            "",
            ValidationErrorKind::OutOfRange,
            format!("`{text}` is too large"),
        )
    };
    let value: i128 = if digits.is_empty() {
        0
    } else if shift >= 0 {
        if digits.len() as i64 + shift > 30 {
            return Err(too_large());
        }
        let base: i128 = digits.parse().map_err(|_| too_large())?;
        base * 10i128.pow(shift as u32)
    } else {
        let drop = (-shift) as usize;
        if drop > digits.len() + 1 {
            if exact && !digits.is_empty() {
                return Err(finer_than_minor(text));
            }
            0
        } else {
            let keep_len = digits.len().saturating_sub(drop);
            let (keep, dropped) = digits.split_at(keep_len);
            if keep.len() > 30 {
                return Err(too_large());
            }
            let mut kept: i128 = if keep.is_empty() {
                0
            } else {
                keep.parse().map_err(|_| too_large())?
            };
            let dropped_padded = format!("{:0>width$}", dropped, width = drop);
            if exact && dropped_padded.bytes().any(|b| b != b'0') {
                return Err(finer_than_minor(text));
            }
            if dropped_padded
                .as_bytes()
                .first()
                .is_some_and(|&b| b >= b'5')
            {
                kept += 1;
            }
            kept
        }
    };
    let signed = if negative { -value } else { value };
    i64::try_from(signed).map_err(|_| too_large())
}

fn finer_than_minor(text: &str) -> ValidationError {
    ValidationError::new(
        "",
        ValidationErrorKind::Malformed,
        format!("`{text}` has more decimals than the currency's minor unit"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(text: &str) -> i64 {
        Money::from_decimal_str(text, Currency::EUR).unwrap().amount
    }

    #[test]
    fn decimals_become_exact_minor_units() {
        assert_eq!(eur("19.99"), 1999);
        assert_eq!(eur("0.1"), 10);
        assert_eq!(eur("3"), 300);
        assert_eq!(eur("-2.50"), -250);
        assert_eq!(eur("+7.05"), 705);
        assert_eq!(eur("1.5e2"), 15000);
        assert_eq!(eur("1999e-2"), 1999);
        assert_eq!(eur("0.000"), 0);
        assert_eq!(eur(".5"), 50);
    }

    #[test]
    fn extra_digits_round_half_away_from_zero() {
        assert_eq!(eur("0.005"), 1);
        assert_eq!(eur("0.0049"), 0);
        assert_eq!(eur("-0.005"), -1);
        assert_eq!(eur("0.001"), 0);
        assert_eq!(eur("19.990000000000002"), 1999);
        assert!(Money::from_decimal_str_exact("0.001", Currency::EUR).is_err());
        assert_eq!(
            Money::from_decimal_str_exact("0.010", Currency::EUR)
                .unwrap()
                .amount,
            1
        );
    }

    #[test]
    fn currency_exponents_are_respected() {
        let jpy = Currency::parse("jpy").unwrap();
        assert_eq!(Money::from_decimal_str("1200", jpy).unwrap().amount, 1200);
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::from_decimal_str("1.234", kwd).unwrap().amount, 1234);
        assert_eq!(Money::new(1234, kwd).to_decimal_string(), "1.234");
        assert_eq!(Money::new(-5, Currency::EUR).to_decimal_string(), "-0.05");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for bad in ["", "abc", "1.2.3", "--1", "1e", "12,50"] {
            assert!(
                Money::from_decimal_str(bad, Currency::EUR).is_err(),
                "{bad}"
            );
        }
        assert!(Currency::parse("XYZ").is_err());
        assert!(Money::from_decimal_str("1e30", Currency::EUR).is_err());
    }

    #[test]
    fn json_numbers_convert_without_float_error() {
        let v: serde_json::Value = serde_json::from_str("0.29").unwrap();
        assert_eq!(Money::from_json(&v, Currency::USD).unwrap().amount, 29);
        let v: serde_json::Value = serde_json::from_str("1234567.89").unwrap();
        assert_eq!(
            Money::from_json(&v, Currency::USD).unwrap().amount,
            123456789
        );
    }
}
