//! What the caller can tune ([`ImportOptions`]) and how it hears about progress ([`Progress`]).

use chrono::{DateTime, TimeZone, Utc};
use embudo_core::Currency;

/// Settings of an import. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// The zone of times written without one (Online Retail invoice dates, CDNOW days, dates
    /// in the generic CSVs without an offset). Default UTC.
    pub timezone: chrono_tz::Tz,
    /// The currency of amounts whose file does not say it: replaces GBP for Online Retail and
    /// USD for CDNOW and Instacart, and fills empty `currency` cells of the generic CSVs.
    pub currency: Option<embudo_core::Currency>,
    /// Records per store call (orders, products, customers or refunds). Default 2,000.
    pub batch_size: usize,
    /// When Instacart baskets, which carry no date, were placed. Default 2017-01-01T00:00:00Z.
    pub placed_at: Option<DateTime<Utc>>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            timezone: chrono_tz::UTC,
            currency: None,
            batch_size: 2_000,
            placed_at: None,
        }
    }
}

impl ImportOptions {
    /// The currency override, or `fallback` (the format's own currency).
    pub(crate) fn currency_or(&self, fallback: Currency) -> Currency {
        self.currency.unwrap_or(fallback)
    }

    /// The time given to Instacart baskets.
    pub(crate) fn instacart_placed_at(&self) -> DateTime<Utc> {
        self.placed_at
            .unwrap_or_else(|| Utc.with_ymd_and_hms(2017, 1, 1, 0, 0, 0).unwrap())
    }

    /// The batch size, at least 1.
    pub(crate) fn batch(&self) -> usize {
        self.batch_size.max(1)
    }
}

/// Hears how far an import has got, in bytes of input read. The CLI wires it to a progress bar.
pub trait Progress: Send + Sync {
    /// The import starts; `total_bytes` is the size of all input files.
    fn start(&self, total_bytes: u64);
    /// `bytes` more bytes were read.
    fn advance(&self, bytes: u64);
    /// The import is over (also after an error).
    fn finish(&self);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total_bytes: u64) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}
