//! Importers for `embudo import <format> <path>…`.
//!
//! [`import`] reads a shop's history from files and writes it to any [`Store`]: products,
//! customers, orders and refunds. The formats are the public data sets Embudo is tried on
//! ([`Format::OnlineRetail`], [`Format::Cdnow`], [`Format::Instacart`]) and a generic CSV
//! layout any shop can export to ([`Format::OrdersCsv`], [`Format::ProductsCsv`]); the rules of
//! each are written down in `docs/import.md`, so that everyone importing the same file gets the
//! same numbers.
//!
//! How it runs: a parser on a blocking thread reads the files as a stream and hands batches of
//! records over a small bounded channel to the async side, which writes them to the store (one
//! call per batch, thousands of records each). Parsing and writing thus overlap, memory stays
//! bounded, and a store error stops the parser at its next batch.
//!
//! Bad rows are never fatal: they are skipped and counted in the [`ImportReport`] by reason,
//! with the first few line numbers of each. Fatal problems ([`ImportError`]) are those that
//! make the whole input unusable: a file that cannot be read, a header that matches no known
//! layout, a store that fails. Every id is deterministic (taken from the data or derived from
//! it), and the store upserts by id, so importing the same files twice changes nothing.
#![deny(missing_docs)]

mod cdnow;
mod error;
mod format;
mod group;
mod input;
mod instacart;
mod online_retail;
mod options;
mod orders_csv;
mod pipeline;
mod products_csv;
mod report;
#[cfg(test)]
mod testutil;

pub use error::ImportError;
pub use format::{Format, ParseFormatError};
pub use options::{ImportOptions, NoProgress, Progress};
pub use report::{ImportReport, Imported, Issue, Location, Reason};

use embudo_store::Store;
use std::path::PathBuf;

/// Imports `paths` in `format` into `store`.
///
/// `paths` are files, or for [`Format::Instacart`] also a directory holding the data set. All
/// headers are checked before anything is written, so an unknown layout fails early. Rows that
/// break a rule are skipped and reported; the returned report says what was imported and what
/// was not. `progress` hears about the bytes read.
pub async fn import(
    store: &dyn Store,
    format: Format,
    paths: &[PathBuf],
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport, ImportError> {
    pipeline::run(store, format, paths, options, progress).await
}
