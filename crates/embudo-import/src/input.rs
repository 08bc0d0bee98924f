//! Reading input: CSV files as rows of text (decoded lossily, with line numbers), header
//! matching, and the value parsers every format shares (dates, money, quantities, ids).

use crate::report::Reason;
use crate::ImportError;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use embudo_core::{Currency, Money, ValidationErrorKind};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A header name reduced to what matters: lower case, without spaces, `_`, `-` or a BOM, so
/// that `Customer ID`, `CustomerID` and `customer_id` are one column.
pub(crate) fn norm(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '\t'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A CSV file read row by row. Fields are decoded as UTF-8, replacing invalid bytes (real
/// exports mix encodings); [`CsvFile::invalid_utf8`] says when that happened.
pub(crate) struct CsvFile {
    pub path: PathBuf,
    /// The file as shown in the report.
    pub name: String,
    reader: csv::Reader<File>,
    record: csv::ByteRecord,
    /// The header's fields, decoded.
    pub header: Vec<String>,
    /// The current row's fields.
    pub fields: Vec<String>,
    /// The current row's line number (1-based; the header is line 1).
    pub line: u64,
    /// Whether the current row held bytes that are not UTF-8.
    pub invalid_utf8: bool,
}

impl CsvFile {
    /// Opens `path` and reads its first row as the header. An empty file has an empty header.
    pub fn open(path: &Path) -> Result<Self, ImportError> {
        let file = File::open(path).map_err(|e| ImportError::read(path, e))?;
        // Rows are checked against the header by the formats (a short row is a bad row, not a
        // fatal error), so the reader is flexible; the header is read like any row so it is
        // decoded the same lenient way.
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(file);
        let mut this = Self {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            reader,
            record: csv::ByteRecord::new(),
            header: Vec::new(),
            fields: Vec::new(),
            line: 0,
            invalid_utf8: false,
        };
        if this.next()? {
            this.header = std::mem::take(&mut this.fields);
            if let Some(first) = this.header.first_mut() {
                *first = first.trim_start_matches('\u{feff}').to_string();
            }
        }
        Ok(this)
    }

    /// The header as one line, for error messages.
    pub fn header_line(&self) -> String {
        self.header.join(",")
    }

    /// Where each wanted column is, by normalized name; `None` for a missing one.
    pub fn columns(&self, wanted: &[&str]) -> Vec<Option<usize>> {
        let names: Vec<String> = self.header.iter().map(|h| norm(h)).collect();
        wanted
            .iter()
            .map(|w| names.iter().position(|n| *n == norm(w)))
            .collect()
    }

    /// Reads the next row; false at the end of the file.
    pub fn next(&mut self) -> Result<bool, ImportError> {
        let more = self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| ImportError::csv(&self.path, e))?;
        if !more {
            return Ok(false);
        }
        self.line = self.record.position().map(|p| p.line()).unwrap_or(0);
        self.invalid_utf8 = false;
        self.fields.resize_with(self.record.len(), String::new);
        for (field, bytes) in self.fields.iter_mut().zip(self.record.iter()) {
            field.clear();
            match std::str::from_utf8(bytes) {
                Ok(text) => field.push_str(text),
                Err(_) => {
                    field.push_str(&String::from_utf8_lossy(bytes));
                    self.invalid_utf8 = true;
                }
            }
        }
        Ok(true)
    }

    /// The byte offset reached, for progress.
    pub fn position(&self) -> u64 {
        self.reader.position().byte()
    }

    /// The current row's field `i` exactly as written ("" when the row is too short).
    pub fn raw(&self, i: usize) -> &str {
        self.fields.get(i).map(String::as_str).unwrap_or("")
    }

    /// The current row's field `i`, trimmed ("" when the row is too short or `i` is `None`).
    pub fn get(&self, i: Option<usize>) -> &str {
        i.and_then(|i| self.fields.get(i))
            .map(|s| s.trim())
            .unwrap_or("")
    }
}

/// Local date-time layouts accepted, tried in order.
const LOCAL_FORMATS: [&str; 6] = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
];

/// A local wall-clock time in `tz` as UTC. An ambiguous time (the hour repeated when clocks go
/// back) is its first occurrence; a time skipped when clocks go forward is an error.
pub(crate) fn localize(naive: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, Reason> {
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(Reason::NonexistentLocalTime)
}

/// A time without a zone (`2010-12-01 08:26:00`, `2010-12-01 08:26`, `12/1/2010 8:26`, with
/// `T` or a space between date and time) read in `tz`.
pub(crate) fn parse_local_datetime(text: &str, tz: Tz) -> Result<DateTime<Utc>, Reason> {
    let text = text.trim();
    let naive = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists"))
        })
        .ok_or(Reason::BadDate)?;
    localize(naive, tz)
}

/// An RFC 3339 time (with its own offset), or a time without a zone read in `tz`.
pub(crate) fn parse_datetime(text: &str, tz: Tz) -> Result<DateTime<Utc>, Reason> {
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(t) => Ok(t.with_timezone(&Utc)),
        Err(_) => parse_local_datetime(text, tz),
    }
}

/// Remembers the last date parsed: rows of one order share it, and parsing is the costliest
/// part of a row.
#[derive(Default)]
pub(crate) struct DateCache {
    text: String,
    value: Option<Result<DateTime<Utc>, Reason>>,
}

impl DateCache {
    pub fn get(
        &mut self,
        text: &str,
        parse: impl FnOnce(&str) -> Result<DateTime<Utc>, Reason>,
    ) -> Result<DateTime<Utc>, Reason> {
        if let Some(value) = &self.value {
            if self.text == text {
                return *value;
            }
        }
        let value = parse(text);
        self.text.clear();
        self.text.push_str(text);
        self.value = Some(value);
        value
    }
}

/// A decimal amount in major units as minor units of `currency`, rounded half away from zero
/// when finer than the minor unit; the flag says whether it was rounded.
pub(crate) fn parse_money_rounding(text: &str, currency: Currency) -> Result<(i64, bool), Reason> {
    match Money::from_decimal_str_exact(text, currency) {
        Ok(m) => Ok((m.amount, false)),
        Err(e) if e.kind == ValidationErrorKind::Malformed => {
            match Money::from_decimal_str(text, currency) {
                // The exact parse refused it but the rounding one took it: it was too precise.
                Ok(m) => Ok((m.amount, true)),
                Err(_) => Err(Reason::BadAmount),
            }
        }
        Err(_) => Err(Reason::BadAmount),
    }
}

/// A decimal amount in major units as exact minor units of `currency`.
pub(crate) fn parse_money_exact(text: &str, currency: Currency) -> Result<i64, Reason> {
    match parse_money_rounding(text, currency)? {
        (amount, false) => Ok(amount),
        (_, true) => Err(Reason::TooPrecise),
    }
}

/// Whether a decimal text (already known to parse) is above zero, judged on its digits, not
/// on its rounded value: `0.001` is positive even where it rounds to 0.
pub(crate) fn decimal_is_positive(text: &str) -> bool {
    let text = text.trim();
    if text.starts_with('-') {
        return false;
    }
    let mantissa = text.split(['e', 'E']).next().unwrap_or("");
    mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b))
}

/// A whole number; `12.0` is accepted (spreadsheets write whole numbers so).
pub(crate) fn parse_quantity(text: &str) -> Result<i64, Reason> {
    let text = text.trim();
    if let Ok(q) = text.parse::<i64>() {
        return Ok(q);
    }
    match text.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => {
            whole.parse().map_err(|_| Reason::BadQuantity)
        }
        _ => Err(Reason::BadQuantity),
    }
}

/// An id written by a spreadsheet as a float (`17850.0`) back to its digits.
pub(crate) fn strip_float_suffix(text: &str) -> &str {
    match text.split_once('.') {
        Some((whole, frac))
            if !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b == b'0') =>
        {
            whole
        }
        _ => text,
    }
}

/// The value of `key` in `map`, inserted with `make` when absent. Unlike `entry`, it needs no
/// owned key for a key that is already there, which is nearly every row.
pub(crate) fn slot<'m, V>(
    map: &'m mut std::collections::HashMap<String, V>,
    key: &str,
    make: impl FnOnce() -> V,
) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), make());
    }
    map.get_mut(key).expect("inserted above")
}

/// `Some(text)` unless it is empty.
pub(crate) fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_both_online_retail_layouts() {
        let a = parse_local_datetime("12/1/2010 8:26", chrono_tz::UTC).unwrap();
        let b = parse_local_datetime("2010-12-01 08:26:00", chrono_tz::UTC).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_rfc3339(), "2010-12-01T08:26:00+00:00");
        assert_eq!(
            parse_local_datetime("2010-12-01", chrono_tz::UTC)
                .unwrap()
                .to_rfc3339(),
            "2010-12-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_local_datetime("13/45/2010 8:26", chrono_tz::UTC),
            Err(Reason::BadDate)
        );
        assert_eq!(
            parse_local_datetime("yesterday", chrono_tz::UTC),
            Err(Reason::BadDate)
        );
    }

    #[test]
    fn timezones_apply_to_local_times_only() {
        let paris = chrono_tz::Europe::Paris;
        assert_eq!(
            parse_local_datetime("2010-07-01 12:00:00", paris)
                .unwrap()
                .to_rfc3339(),
            "2010-07-01T10:00:00+00:00"
        );
        assert_eq!(
            parse_datetime("2010-07-01T12:00:00+01:00", paris)
                .unwrap()
                .to_rfc3339(),
            "2010-07-01T11:00:00+00:00"
        );
        // Clocks went forward at 02:00 on 2010-03-28 in Paris: 02:30 never happened.
        assert_eq!(
            parse_local_datetime("2010-03-28 02:30:00", paris),
            Err(Reason::NonexistentLocalTime)
        );
        // 02:30 happened twice on 2010-10-31: the first one (still summer time) is taken.
        assert_eq!(
            parse_local_datetime("2010-10-31 02:30:00", paris)
                .unwrap()
                .to_rfc3339(),
            "2010-10-31T00:30:00+00:00"
        );
    }

    #[test]
    fn money_rounding_is_reported() {
        assert_eq!(parse_money_rounding("2.1", Currency::GBP), Ok((210, false)));
        assert_eq!(parse_money_rounding("0.001", Currency::GBP), Ok((0, true)));
        assert_eq!(parse_money_rounding("0.005", Currency::GBP), Ok((1, true)));
        assert_eq!(
            parse_money_rounding("abc", Currency::GBP),
            Err(Reason::BadAmount)
        );
        assert_eq!(
            parse_money_rounding("1e30", Currency::GBP),
            Err(Reason::BadAmount)
        );
        assert_eq!(
            parse_money_exact("0.001", Currency::GBP),
            Err(Reason::TooPrecise)
        );
        assert_eq!(parse_money_exact("19.99", Currency::USD), Ok(1999));
    }

    #[test]
    fn positivity_reads_digits() {
        assert!(decimal_is_positive("0.001"));
        assert!(decimal_is_positive("1e-5"));
        assert!(!decimal_is_positive("0"));
        assert!(!decimal_is_positive("0.00"));
        assert!(!decimal_is_positive("-1.5"));
        assert!(!decimal_is_positive("0e5"));
    }

    #[test]
    fn quantities_and_float_ids() {
        assert_eq!(parse_quantity(" -12 "), Ok(-12));
        assert_eq!(parse_quantity("3.0"), Ok(3));
        assert_eq!(parse_quantity("3.5"), Err(Reason::BadQuantity));
        assert_eq!(parse_quantity(""), Err(Reason::BadQuantity));
        assert_eq!(strip_float_suffix("17850.0"), "17850");
        assert_eq!(strip_float_suffix("17850"), "17850");
        assert_eq!(strip_float_suffix("A.0"), "A.0");
    }

    #[test]
    fn header_names_are_normalized() {
        assert_eq!(norm("\u{feff}Customer ID"), "customerid");
        assert_eq!(norm("customer_id"), "customerid");
        assert_eq!(norm("CustomerID"), "customerid");
    }
}
