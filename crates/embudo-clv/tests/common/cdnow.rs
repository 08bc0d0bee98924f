//! Reading the CDNOW files (Fader, Hardie & Lee 2005) into transactions, for the tests and the
//! benchmark.
//!
//! - `CDNOW_master.txt`: `customer_id date number_of_cds dollar_value`, a header line;
//! - `CDNOW_sample.txt`: `customer_id sample_id date number_of_cds dollar_value`, no header.
//!
//! The customer is the `customer_id` in the master file and the `sample_id` in the sample (the
//! `ID` of the paper's summary file), both as integers without leading zeros.

#![allow(dead_code)]

use embudo_clv::Transaction;
use std::path::{Path, PathBuf};

/// The shared data directory, beside the repository.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cdnow")
}

/// Dollars as a decimal string ("29.33", "12", "0.5") to cents, exactly.
pub fn cents(s: &str) -> Result<i64, String> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("not a dollar amount: {s:?}"));
    }
    let whole: i64 = whole
        .parse()
        .map_err(|_| format!("not a dollar amount: {s:?}"))?;
    let mut frac_cents: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().unwrap_or(0)
    };
    if frac.len() == 1 {
        frac_cents *= 10;
    }
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac_cents))
        .ok_or_else(|| format!("amount too large: {s:?}"))
}

/// Parses a CDNOW file (either layout, told by the number of columns).
pub fn parse(text: &str) -> Result<Vec<Transaction>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || (i == 0 && fields[0].parse::<u64>().is_err()) {
            continue; // blank line or the header
        }
        let (customer, date, value) = match fields.len() {
            4 => (fields[0], fields[1], fields[3]),
            5 => (fields[1], fields[2], fields[4]),
            n => return Err(format!("line {}: {n} columns", i + 1)),
        };
        let customer: u64 = customer
            .parse()
            .map_err(|_| format!("line {}: bad customer {customer:?}", i + 1))?;
        let at = chrono::NaiveDate::parse_from_str(date, "%Y%m%d")
            .map_err(|e| format!("line {}: bad date {date:?}: {e}", i + 1))?;
        let value_minor = cents(value).map_err(|e| format!("line {}: {e}", i + 1))?;
        out.push(Transaction {
            customer: customer.to_string(),
            at,
            value_minor,
        });
    }
    Ok(out)
}

/// Reads and parses a CDNOW file.
pub fn read(path: &Path) -> Result<Vec<Transaction>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text)
}
