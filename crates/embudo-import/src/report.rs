//! What an import did: counts of what was imported, and of every row skipped or changed, by
//! reason, with where the first few are, so a user can look at them in the file.

use crate::Format;
use embudo_core::{Currency, Money};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// How many places are kept per reason.
const EXAMPLES: usize = 5;

/// Why a row was skipped, or what was changed in a row that was imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    // ---- rows skipped ----
    /// The row has another number of columns than the header.
    WrongColumnCount,
    /// A required value is empty.
    MissingValue,
    /// An id is too long or holds control characters.
    BadId,
    /// A date that cannot be read.
    BadDate,
    /// A local time that does not exist in the timezone (skipped by a daylight-saving change).
    NonexistentLocalTime,
    /// A quantity that is not a whole number.
    BadQuantity,
    /// A price or amount that is not a decimal number (or too large).
    BadAmount,
    /// A currency that is not an ISO 4217 code, or none where one is needed.
    BadCurrency,
    /// An amount with more decimals than the currency has (the generic CSVs are exact).
    TooPrecise,
    /// A line kind that is not product, shipping, fee, discount or adjustment.
    BadKind,
    /// A yes/no value that cannot be read.
    BadBoolean,
    /// A whole number that cannot be read (inventory).
    BadNumber,
    /// Online Retail: a unit price of zero or less.
    NonPositivePrice,
    /// Online Retail: a quantity of zero, or below zero on an order.
    NonPositiveQuantity,
    /// Online Retail: a bad-debt adjustment (invoice number starting with `A`).
    BadDebtAdjustment,
    /// Online Retail: an invoice number that is neither all digits nor `C` + something.
    UnknownInvoiceShape,
    /// Online Retail: a non-product line of a cancellation (refunds count product lines only).
    CancellationNonProductLine,
    /// Generic orders CSV: a line in another currency than its order's first row.
    CurrencyMismatch,
    /// Generic orders CSV: a line the data model refuses (no product id on a product line, a
    /// zero quantity, a negative product quantity or price).
    InvalidLine,
    /// Generic orders CSV: an order the data model refuses (a negative shipping, tax or
    /// discount); all its rows are skipped.
    InvalidOrder,
    /// Generic products CSV: a product the data model refuses (negative price or inventory).
    InvalidProduct,

    // ---- rows imported with a change ----
    /// Bytes that are not UTF-8 were replaced by U+FFFD.
    InvalidUtf8,
    /// A unit price finer than the currency's minor unit was rounded (half away from zero).
    RoundedPrice,
    /// CDNOW: a purchase worth nothing, imported as such.
    ZeroValuePurchase,
    /// Online Retail: an invoice whose lines have different dates; the earliest is used.
    MixedInvoiceDates,
    /// A customer seen with several countries; the one of their latest order is kept.
    SeveralCountries,
    /// An order-level value differs from the one on the order's first row; the first is kept.
    ConflictingOrderValue,
    /// Rows of an order found far from its other rows were added to it.
    MergedDistantRows,
    /// Instacart: a basket line whose product is not in `products.csv`.
    UnknownProduct,
    /// An email that is not valid was dropped (the row was kept).
    InvalidEmailDropped,
}

impl Reason {
    /// Whether rows with this reason were skipped (else they were imported with a change).
    pub fn is_skip(&self) -> bool {
        *self < Reason::InvalidUtf8
    }

    /// A sentence for people.
    pub fn describe(&self) -> &'static str {
        match self {
            Reason::WrongColumnCount => "wrong number of columns",
            Reason::MissingValue => "a required value is empty",
            Reason::BadId => "an id is too long or holds control characters",
            Reason::BadDate => "a date that cannot be read",
            Reason::NonexistentLocalTime => "a local time that does not exist in the timezone",
            Reason::BadQuantity => "a quantity that is not a whole number",
            Reason::BadAmount => "a price or amount that is not a decimal number",
            Reason::BadCurrency => "a currency that is missing or not an ISO 4217 code",
            Reason::TooPrecise => "an amount with more decimals than the currency has",
            Reason::BadKind => {
                "a line kind other than product, shipping, fee, discount, adjustment"
            }
            Reason::BadBoolean => "a yes/no value that cannot be read",
            Reason::BadNumber => "a whole number that cannot be read",
            Reason::NonPositivePrice => "unit price is zero or negative",
            Reason::NonPositiveQuantity => "quantity is zero, or negative on an order",
            Reason::BadDebtAdjustment => "bad-debt adjustment (invoice starts with A)",
            Reason::UnknownInvoiceShape => "invoice number is neither digits nor C + digits",
            Reason::CancellationNonProductLine => {
                "non-product line of a cancellation (refunds count product lines)"
            }
            Reason::CurrencyMismatch => "line currency differs from its order's",
            Reason::InvalidLine => "line refused by the data model",
            Reason::InvalidOrder => "order refused by the data model (all its rows)",
            Reason::InvalidProduct => "product refused by the data model",
            Reason::InvalidUtf8 => "bytes that are not UTF-8, replaced by U+FFFD",
            Reason::RoundedPrice => "unit price finer than the minor unit, rounded",
            Reason::ZeroValuePurchase => "purchase worth 0, imported",
            Reason::MixedInvoiceDates => "invoice lines with different dates, earliest used",
            Reason::SeveralCountries => "customer with several countries, latest kept",
            Reason::ConflictingOrderValue => {
                "order-level value differs from the order's first row, first kept"
            }
            Reason::MergedDistantRows => "rows of an order far from its other rows, merged into it",
            Reason::UnknownProduct => "product not in products.csv, imported",
            Reason::InvalidEmailDropped => "invalid email dropped, row kept",
        }
    }
}

/// A row in an input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file, as given.
    pub file: String,
    /// The 1-based line number (the header is line 1).
    pub line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Rows that share a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// The reason.
    pub reason: Reason,
    /// The reason, for people.
    pub description: &'static str,
    /// How many rows (for invoice-level reasons, how many invoices or customers).
    pub count: u64,
    /// Where the first few are.
    pub first: Vec<Location>,
}

/// What was written to the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// Orders (distinct ids).
    pub orders: u64,
    /// Of which without a customer.
    pub guest_orders: u64,
    /// Order lines.
    pub order_lines: u64,
    /// Distinct customers named by orders or refunds.
    pub customers: u64,
    /// Products written to the catalog.
    pub products: u64,
    /// Refunds.
    pub refunds: u64,
    /// Of which the store already held (by id), so they were not recorded again.
    pub refunds_already_stored: u64,
    /// Σ of product lines per currency (what the store reports as merchandise revenue).
    pub merchandise: Vec<Money>,
    /// Σ of refunds per currency.
    pub refunded: Vec<Money>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The format read.
    pub format: Format,
    /// The files read, as given.
    pub files: Vec<String>,
    /// Data rows read (headers excluded).
    pub rows: u64,
    /// Bytes read.
    pub bytes: u64,
    /// What was written.
    pub imported: Imported,
    /// Rows not imported, by reason.
    pub skipped: Vec<Issue>,
    /// Rows imported with a change, by reason.
    pub changed: Vec<Issue>,
    /// Facts about the whole import (what the data lacks and how it was filled in).
    pub notes: Vec<String>,
}

impl ImportReport {
    /// Rows skipped, all reasons together.
    pub fn skipped_rows(&self) -> u64 {
        self.skipped.iter().map(|i| i.count).sum()
    }

    /// The count for one reason (skipped or changed), 0 when it never happened.
    pub fn count(&self, reason: Reason) -> u64 {
        self.skipped
            .iter()
            .chain(&self.changed)
            .filter(|i| i.reason == reason)
            .map(|i| i.count)
            .sum()
    }
}

/// Thousands separated by commas, so big counts read at a glance.
fn grouped(n: u64) -> String {
    let mut reversed = String::new();
    for (i, c) in n.to_string().chars().rev().enumerate() {
        if i > 0 && i % 3 == 0 {
            reversed.push(',');
        }
        reversed.push(c);
    }
    reversed.chars().rev().collect()
}

fn money_list(amounts: &[Money]) -> String {
    if amounts.is_empty() {
        return "0".into();
    }
    amounts
        .iter()
        .map(Money::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.imported;
        let files = if self.files.len() == 1 {
            "1 file".to_string()
        } else {
            format!("{} files", self.files.len())
        };
        writeln!(
            f,
            "Imported {} from {files} ({} rows):",
            self.format,
            grouped(self.rows)
        )?;
        writeln!(
            f,
            "  orders       {} (guest: {}), lines: {}",
            grouped(i.orders),
            grouped(i.guest_orders),
            grouped(i.order_lines)
        )?;
        writeln!(f, "  merchandise  {}", money_list(&i.merchandise))?;
        writeln!(f, "  customers    {}", grouped(i.customers))?;
        writeln!(f, "  products     {}", grouped(i.products))?;
        write!(
            f,
            "  refunds      {} ({})",
            grouped(i.refunds),
            money_list(&i.refunded)
        )?;
        if i.refunds_already_stored > 0 {
            write!(f, ", {} already stored", grouped(i.refunds_already_stored))?;
        }
        writeln!(f)?;
        for (title, issues) in [
            ("Skipped", &self.skipped),
            ("Imported with a change", &self.changed),
        ] {
            if issues.is_empty() {
                continue;
            }
            let total: u64 = issues.iter().map(|i| i.count).sum();
            writeln!(f, "{title} ({}):", grouped(total))?;
            for issue in issues {
                let first: Vec<String> = issue.first.iter().map(|l| l.to_string()).collect();
                let more = if issue.count > issue.first.len() as u64 {
                    ", …"
                } else {
                    ""
                };
                writeln!(
                    f,
                    "  {:>9}  {} (at {}{more})",
                    grouped(issue.count),
                    issue.description,
                    first.join(", ")
                )?;
            }
        }
        for note in &self.notes {
            writeln!(f, "Note: {note}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Tally {
    count: u64,
    first: Vec<Location>,
}

/// Collects the report while parsing.
#[derive(Debug)]
pub(crate) struct ReportBuilder {
    format: Format,
    files: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub imported: Imported,
    merchandise: BTreeMap<Currency, i64>,
    refunded: BTreeMap<Currency, i64>,
    tallies: BTreeMap<Reason, Tally>,
    notes: Vec<String>,
}

impl ReportBuilder {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            files: Vec::new(),
            rows: 0,
            bytes: 0,
            imported: Imported::default(),
            merchandise: BTreeMap::new(),
            refunded: BTreeMap::new(),
            tallies: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    pub fn file(&mut self, name: String) {
        self.files.push(name);
    }

    /// Counts one row (or invoice) for `reason` at `file:line`.
    pub fn note_row(&mut self, reason: Reason, file: &str, line: u64) {
        let tally = self.tallies.entry(reason).or_default();
        tally.count += 1;
        if tally.first.len() < EXAMPLES {
            tally.first.push(Location {
                file: file.to_string(),
                line,
            });
        }
    }

    /// Counts `n` rows for `reason`, the first of them at `file:line`.
    pub fn note_rows(&mut self, reason: Reason, n: u64, file: &str, line: u64) {
        let tally = self.tallies.entry(reason).or_default();
        tally.count += n;
        if tally.first.len() < EXAMPLES {
            tally.first.push(Location {
                file: file.to_string(),
                line,
            });
        }
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    pub fn add_merchandise(&mut self, currency: Currency, amount: i64) {
        *self.merchandise.entry(currency).or_default() += amount;
    }

    pub fn add_refund(&mut self, currency: Currency, amount: i64) {
        *self.refunded.entry(currency).or_default() += amount;
    }

    pub fn finish(self) -> ImportReport {
        let mut imported = self.imported;
        imported.merchandise = self
            .merchandise
            .into_iter()
            .map(|(c, a)| Money::new(a, c))
            .collect();
        imported.refunded = self
            .refunded
            .into_iter()
            .map(|(c, a)| Money::new(a, c))
            .collect();
        let (mut skipped, mut changed) = (Vec::new(), Vec::new());
        for (reason, tally) in self.tallies {
            let issue = Issue {
                reason,
                description: reason.describe(),
                count: tally.count,
                first: tally.first,
            };
            if reason.is_skip() {
                skipped.push(issue);
            } else {
                changed.push(issue);
            }
        }
        ImportReport {
            format: self.format,
            files: self.files,
            rows: self.rows,
            bytes: self.bytes,
            imported,
            skipped,
            changed,
            notes: self.notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(20951), "20,951");
        assert_eq!(grouped(1384617), "1,384,617");
    }

    #[test]
    fn skips_and_changes_are_separated_and_capped() {
        let mut b = ReportBuilder::new(Format::OnlineRetail);
        b.file("a.csv".into());
        for line in 2..10 {
            b.note_row(Reason::NonPositivePrice, "a.csv", line);
        }
        b.note_row(Reason::RoundedPrice, "a.csv", 42);
        b.add_merchandise(Currency::GBP, 1234);
        let report = b.finish();
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].count, 8);
        assert_eq!(report.skipped[0].first.len(), EXAMPLES);
        assert_eq!(report.changed[0].reason, Reason::RoundedPrice);
        assert_eq!(report.skipped_rows(), 8);
        assert_eq!(report.count(Reason::RoundedPrice), 1);
        let text = report.to_string();
        assert!(text.contains("a.csv:2, a.csv:3"), "{text}");
        assert!(text.contains("12.34 GBP"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["skipped"][0]["reason"], "non_positive_price");
        assert_eq!(json["format"], "online-retail");
    }
}
