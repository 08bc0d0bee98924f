//! Prices in the shop's currency: integer minor units, with shop-like endings, rendered into
//! JSON as exact decimal numbers.
//!
//! The model states prices in "euro-like" major units (a chef's knife about 55). A small table
//! scales them for currencies whose unit is worth much less (yen, won, forint…); other
//! currencies use the number as is, which is close enough for a demo. Rounding to a price
//! ending (`.99`, `.95`, `.50`, `.00`, or `2,980` for currencies without minor units) happens
//! once, in integers.

use crate::rng::RngExt;
use embudo_core::{Currency, Money};
use rand::Rng;
use serde_json::{Number, Value};
use std::str::FromStr;

/// Rough units of a currency per euro, so that prices look plausible in it.
fn units_per_euro(code: &str) -> f64 {
    match code {
        "JPY" => 160.0,
        "KRW" => 1450.0,
        "HUF" => 390.0,
        "ISK" => 150.0,
        "CLP" => 1000.0,
        "COP" => 4400.0,
        "IDR" => 17000.0,
        "VND" => 27000.0,
        "INR" => 90.0,
        "CZK" => 25.0,
        "SEK" | "NOK" => 11.5,
        "DKK" => 7.5,
        "PLN" => 4.3,
        "MXN" => 20.0,
        "BRL" => 6.0,
        "ZAR" => 20.0,
        "CNY" => 7.8,
        "TWD" => 35.0,
        "THB" => 38.0,
        "TRY" => 40.0,
        "AUD" => 1.65,
        "NZD" => 1.8,
        "CAD" => 1.5,
        _ => 1.0,
    }
}

/// Pricing rules for one currency.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pricing {
    currency: Currency,
    exponent: u32,
    unit: i64,
    factor: f64,
}

impl Pricing {
    /// Rules for `currency`.
    pub(crate) fn new(currency: Currency) -> Self {
        let exponent = currency.exponent();
        Self {
            currency,
            exponent,
            unit: 10i64.pow(exponent),
            factor: units_per_euro(currency.code()),
        }
    }

    /// The currency.
    pub(crate) fn currency(&self) -> Currency {
        self.currency
    }

    /// A shelf price for about `euros`, with a shop-like ending chosen at random.
    pub(crate) fn shelf_price(&self, euros: f64, rng: &mut impl Rng) -> i64 {
        let local = (euros * self.factor).max(1.0);
        if self.exponent == 0 || self.factor >= 100.0 {
            // Currencies with tiny units: round to two or three significant digits and end in
            // 80 or 90 below a round number, as in ¥2,980 or ₩39,900.
            let whole = local.round() as i64;
            let step = if whole >= 10_000 {
                1000
            } else if whole >= 1000 {
                100
            } else {
                10
            };
            let rounded = ((whole + step / 2) / step).max(1) * step;
            let shaved = if step >= 100 && rng.chance(0.6) {
                rounded - step / 5
            } else {
                rounded
            };
            return shaved * self.unit;
        }
        let whole = (local.floor() as i64).max(1);
        // Endings in hundredths of the major unit.
        let ending: i64 = match rng.weighted(&[0.55, 0.15, 0.15, 0.15]) {
            0 => 99,
            1 => 95,
            2 if whole >= 20 => 0,
            _ => 50,
        };
        whole * self.unit + ending * self.unit / 100
    }

    /// About `euros` in minor units, rounded to a round-ish amount (fees, thresholds).
    pub(crate) fn fixed(&self, euros: f64) -> i64 {
        let minor = (euros * self.factor * self.unit as f64).round() as i64;
        if self.unit == 1 && minor >= 100 {
            (minor + 5) / 10 * 10
        } else {
            minor
        }
    }

    /// `minor` units as an exact JSON number in major units (`1999` → `19.99`).
    ///
    /// The number is built from its decimal text, never computed in floating point, so it
    /// reads back as exactly `minor` units. (`serde_json` prints it in its shortest form,
    /// `19.9` for 19.90.)
    pub(crate) fn json(&self, minor: i64) -> Value {
        let text = Money::new(minor, self.currency).to_decimal_string();
        Value::Number(Number::from_str(&text).expect("a decimal string is a JSON number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{rng_for, Stream};

    #[test]
    fn json_numbers_read_back_exactly() {
        let p = Pricing::new(Currency::EUR);
        for minor in [0, 1, 10, 99, 1999, 2000, 123_456_789, 1_000_000_001] {
            let text = serde_json::to_string(&p.json(minor)).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                Money::from_json(&back, Currency::EUR).unwrap().amount,
                minor,
                "{text}"
            );
        }
        let jpy = Pricing::new(Currency::parse("JPY").unwrap());
        assert_eq!(serde_json::to_string(&jpy.json(2980)).unwrap(), "2980");
    }

    #[test]
    fn shelf_prices_have_shop_endings() {
        let mut rng = rng_for(1, Stream::Catalog, 0, 0);
        let eur = Pricing::new(Currency::EUR);
        for _ in 0..200 {
            let p = eur.shelf_price(rng.lognormal(40.0, 0.8), &mut rng);
            assert!(p >= 100 && [99, 95, 50, 0].contains(&(p % 100)), "{p}");
        }
        let jpy = Pricing::new(Currency::parse("JPY").unwrap());
        let p = jpy.shelf_price(18.0, &mut rng);
        assert!(p % 10 == 0 && (2000..3000).contains(&p), "{p}");
        let kwd = Pricing::new(Currency::parse("KWD").unwrap());
        assert_eq!(kwd.shelf_price(19.3, &mut rng) / 1000, 19);
    }
}
