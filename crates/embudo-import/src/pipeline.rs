//! The machinery shared by all formats: the parser side ([`Ctx`]) batches records and sends
//! them over a bounded channel; the async side writes each batch to the store.
//!
//! Batches leave in a fixed order (products, customers, orders, additions to earlier orders,
//! refunds), so that whatever a record refers to was written before it, whichever batch
//! filled first.

use crate::report::ReportBuilder;
use crate::{Format, ImportError, ImportOptions, ImportReport, Progress};
use embudo_core::{CustomerPatch, Order, OrderId, Product, Refund};
use embudo_store::{Store, StoreError};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Progress is sent at most once per this many bytes, to keep the channel for data.
const PROGRESS_STEP: u64 = 1 << 20;

/// What the parser hands to the writer.
#[derive(Debug)]
pub(crate) enum Msg {
    /// More bytes were read.
    Progress(u64),
    Products(Vec<Product>),
    Customers(Vec<CustomerPatch>),
    Orders(Vec<Order>),
    /// Lines to add to orders written earlier in this import (rows found far from their order).
    Appends(Vec<Order>),
    Refunds(Vec<Refund>),
}

/// The writer has stopped (the store failed); the parser should stop too.
#[derive(Debug)]
pub(crate) struct Stopped;

/// Why a parser stopped early.
#[derive(Debug)]
pub(crate) enum Stop {
    Fatal(ImportError),
    Writer,
}

impl From<ImportError> for Stop {
    fn from(e: ImportError) -> Self {
        Stop::Fatal(e)
    }
}

impl From<Stopped> for Stop {
    fn from(_: Stopped) -> Self {
        Stop::Writer
    }
}

/// Where a parser's messages go: the channel to the writer, or a vector in unit tests.
pub(crate) trait Emit {
    fn emit(&mut self, msg: Msg) -> Result<(), Stopped>;
}

struct ChannelEmit(mpsc::Sender<Msg>);

impl Emit for ChannelEmit {
    fn emit(&mut self, msg: Msg) -> Result<(), Stopped> {
        self.0.blocking_send(msg).map_err(|_| Stopped)
    }
}

impl Emit for Vec<Msg> {
    fn emit(&mut self, msg: Msg) -> Result<(), Stopped> {
        self.push(msg);
        Ok(())
    }
}

/// A stable 64-bit digest of an id, to remember many ids in little memory. Collisions are
/// astronomically unlikely at the sizes imported and would only blur report counts.
pub(crate) fn digest(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// What one order contributed to the report, so that an order written again (the same
/// invoice in two overlapping files) replaces its contribution instead of adding to it.
#[derive(Debug, Clone, Copy)]
struct OrderShare {
    lines: u64,
    merchandise: i64,
    guest: bool,
}

/// The parser's side: options, the report, pending batches and progress.
pub(crate) struct Ctx<'a> {
    emit: &'a mut dyn Emit,
    pub options: &'a ImportOptions,
    pub report: ReportBuilder,
    batch: usize,
    products: Vec<Product>,
    customers: Vec<CustomerPatch>,
    orders: Vec<Order>,
    appends: Vec<Order>,
    refunds: Vec<Refund>,
    shares: HashMap<u64, OrderShare>,
    bytes_done: u64,
    bytes_sent: u64,
}

impl<'a> Ctx<'a> {
    pub fn new(format: Format, options: &'a ImportOptions, emit: &'a mut dyn Emit) -> Self {
        Self {
            emit,
            options,
            report: ReportBuilder::new(format),
            batch: options.batch(),
            products: Vec::new(),
            customers: Vec::new(),
            orders: Vec::new(),
            appends: Vec::new(),
            refunds: Vec::new(),
            shares: HashMap::new(),
            bytes_done: 0,
            bytes_sent: 0,
        }
    }

    fn full(&self) -> bool {
        [
            self.products.len(),
            self.customers.len(),
            self.orders.len(),
            self.appends.len(),
            self.refunds.len(),
        ]
        .iter()
        .any(|&n| n >= self.batch)
    }

    fn flush_if_full(&mut self) -> Result<(), Stopped> {
        if self.full() {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends every pending batch, in reference order.
    pub fn flush(&mut self) -> Result<(), Stopped> {
        if !self.products.is_empty() {
            self.emit
                .emit(Msg::Products(std::mem::take(&mut self.products)))?;
        }
        if !self.customers.is_empty() {
            self.emit
                .emit(Msg::Customers(std::mem::take(&mut self.customers)))?;
        }
        if !self.orders.is_empty() {
            self.emit
                .emit(Msg::Orders(std::mem::take(&mut self.orders)))?;
        }
        if !self.appends.is_empty() {
            self.emit
                .emit(Msg::Appends(std::mem::take(&mut self.appends)))?;
        }
        if !self.refunds.is_empty() {
            self.emit
                .emit(Msg::Refunds(std::mem::take(&mut self.refunds)))?;
        }
        Ok(())
    }

    /// Queues a product for the catalog.
    pub fn product(&mut self, product: Product) -> Result<(), Stopped> {
        self.report.imported.products += 1;
        self.products.push(product);
        self.flush_if_full()
    }

    /// Queues a customer patch (counting customers is the format's business: one customer may
    /// get several patches).
    pub fn customer(&mut self, patch: CustomerPatch) -> Result<(), Stopped> {
        self.customers.push(patch);
        self.flush_if_full()
    }

    fn share(order: &Order) -> OrderShare {
        OrderShare {
            lines: order.lines.len() as u64,
            merchandise: order.merchandise_total(),
            guest: order.customer_id.is_none(),
        }
    }

    /// Queues an order, which replaces any stored order with its id.
    pub fn order(&mut self, order: Order) -> Result<(), Stopped> {
        let share = Self::share(&order);
        let imported = &mut self.report.imported;
        if let Some(old) = self.shares.insert(digest(order.id.as_str()), share) {
            imported.orders -= 1;
            imported.guest_orders -= u64::from(old.guest);
            imported.order_lines -= old.lines;
            self.report
                .add_merchandise(order.currency, -old.merchandise);
        }
        let imported = &mut self.report.imported;
        imported.orders += 1;
        imported.guest_orders += u64::from(share.guest);
        imported.order_lines += share.lines;
        self.report
            .add_merchandise(order.currency, share.merchandise);
        self.orders.push(order);
        self.flush_if_full()
    }

    /// Queues lines (and an earlier time) to add to an order queued earlier in this import.
    pub fn append(&mut self, order: Order) -> Result<(), Stopped> {
        let added = Self::share(&order);
        let entry = self
            .shares
            .entry(digest(order.id.as_str()))
            .or_insert(OrderShare {
                lines: 0,
                merchandise: 0,
                guest: added.guest,
            });
        entry.lines += added.lines;
        entry.merchandise += added.merchandise;
        self.report.imported.order_lines += added.lines;
        self.report
            .add_merchandise(order.currency, added.merchandise);
        self.appends.push(order);
        self.flush_if_full()
    }

    /// Queues a refund.
    pub fn refund(&mut self, refund: Refund) -> Result<(), Stopped> {
        self.report.imported.refunds += 1;
        self.report.add_refund(refund.currency, refund.amount);
        self.refunds.push(refund);
        self.flush_if_full()
    }

    /// The reader of the current file is at byte `position`; tells the writer now and then.
    pub fn progress(&mut self, position: u64) -> Result<(), Stopped> {
        let now = self.bytes_done + position;
        if now >= self.bytes_sent + PROGRESS_STEP {
            self.emit.emit(Msg::Progress(now - self.bytes_sent))?;
            self.bytes_sent = now;
        }
        Ok(())
    }

    /// A file of `size` bytes was read to its end.
    pub fn file_done(&mut self, size: u64) -> Result<(), Stopped> {
        self.bytes_done += size;
        self.report.bytes = self.bytes_done;
        if self.bytes_done > self.bytes_sent {
            self.emit
                .emit(Msg::Progress(self.bytes_done - self.bytes_sent))?;
            self.bytes_sent = self.bytes_done;
        }
        Ok(())
    }
}

/// The files to read: the paths given, with Instacart directories expanded.
fn plan(format: Format, paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    if paths.is_empty() {
        return Err(ImportError::NoInput);
    }
    if format == Format::Instacart {
        return crate::instacart::files(paths);
    }
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| ImportError::read(path, e))?;
        if meta.is_dir() {
            return Err(ImportError::Input {
                path: path.clone(),
                message: format!("is a directory; {format} reads files"),
            });
        }
    }
    Ok(paths.to_vec())
}

pub(crate) fn file_size(path: &Path) -> Result<u64, ImportError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| ImportError::read(path, e))
}

/// Runs the parser of `format` over `files`, sending its output to `emit`.
pub(crate) fn parse(
    format: Format,
    files: &[PathBuf],
    options: &ImportOptions,
    emit: &mut dyn Emit,
) -> Result<ImportReport, Stop> {
    let mut ctx = Ctx::new(format, options, emit);
    match format {
        Format::OnlineRetail => crate::online_retail::run(&mut ctx, files)?,
        Format::Cdnow => crate::cdnow::run(&mut ctx, files)?,
        Format::Instacart => crate::instacart::run(&mut ctx, files)?,
        Format::OrdersCsv => crate::orders_csv::run(&mut ctx, files)?,
        Format::ProductsCsv => crate::products_csv::run(&mut ctx, files)?,
    }
    ctx.flush()?;
    Ok(ctx.report.finish())
}

/// Parses files into messages without a store (unit tests).
#[cfg(test)]
pub(crate) fn parse_to_vec(
    format: Format,
    files: &[PathBuf],
    options: &ImportOptions,
) -> Result<(ImportReport, Vec<Msg>), ImportError> {
    let files = plan(format, files)?;
    let mut msgs = Vec::new();
    match parse(format, &files, options, &mut msgs) {
        Ok(report) => Ok((report, msgs)),
        Err(Stop::Fatal(e)) => Err(e),
        Err(Stop::Writer) => unreachable!("a vector never stops"),
    }
}

/// Adds the lines of `appends` to the stored orders they belong to. Several additions to one
/// order are applied in order; an order the store does not hold is written as it is.
async fn merge_appends(store: &dyn Store, appends: Vec<Order>) -> Result<Vec<Order>, StoreError> {
    let mut merged: Vec<Order> = Vec::new();
    let mut at: HashMap<OrderId, usize> = HashMap::new();
    for add in appends {
        if let Some(&i) = at.get(&add.id) {
            extend(&mut merged[i], add);
            continue;
        }
        let order = match store.order(&add.id).await? {
            Some(mut stored) => {
                // Refunds read back as history entries are already stored; sending them again
                // would be harmless but is wasted work.
                stored.history.clear();
                extend(&mut stored, add);
                stored
            }
            None => add,
        };
        at.insert(order.id.clone(), merged.len());
        merged.push(order);
    }
    Ok(merged)
}

fn extend(order: &mut Order, add: Order) {
    order.placed_at = order.placed_at.min(add.placed_at);
    if order.customer_id.is_none() {
        order.customer_id = add.customer_id;
    }
    order.lines.extend(add.lines);
}

/// Writes what the parser sends; returns how many refunds the store already held.
async fn write(
    store: &dyn Store,
    mut rx: mpsc::Receiver<Msg>,
    progress: &dyn Progress,
) -> Result<u64, StoreError> {
    let mut already_stored = 0;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Progress(bytes) => progress.advance(bytes),
            Msg::Products(products) => {
                store.upsert_products(&products).await?;
            }
            Msg::Customers(patches) => {
                store.upsert_customers(&patches).await?;
            }
            Msg::Orders(orders) => {
                store.upsert_orders(&orders).await?;
            }
            Msg::Appends(appends) => {
                let merged = merge_appends(store, appends).await?;
                store.upsert_orders(&merged).await?;
            }
            Msg::Refunds(refunds) => {
                let new = store.record_refunds(&refunds).await?;
                already_stored += (refunds.len() as u64).saturating_sub(new);
            }
        }
    }
    Ok(already_stored)
}

/// See [`crate::import`].
pub(crate) async fn run(
    store: &dyn Store,
    format: Format,
    paths: &[PathBuf],
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportReport, ImportError> {
    let files = plan(format, paths)?;
    let mut total = 0;
    for file in &files {
        total += file_size(file)?;
    }
    progress.start(total);
    // Two batches in flight: enough to keep parsing and writing busy at once, little memory.
    let (tx, rx) = mpsc::channel(2);
    let parser_options = options.clone();
    let parser = tokio::task::spawn_blocking(move || {
        let mut emit = ChannelEmit(tx);
        parse(format, &files, &parser_options, &mut emit)
    });
    let written = write(store, rx, progress).await;
    let parsed = parser.await;
    progress.finish();
    let already_stored = written?;
    let mut report = match parsed {
        Ok(Ok(report)) => report,
        Ok(Err(Stop::Fatal(e))) => return Err(e),
        // The writer only stops early on a store error, returned above.
        Ok(Err(Stop::Writer)) => {
            return Err(ImportError::Task(
                "the writer stopped without an error".into(),
            ))
        }
        Err(join) => return Err(ImportError::Task(join.to_string())),
    };
    report.imported.refunds_already_stored = already_stored;
    tracing::info!(
        format = %format,
        orders = report.imported.orders,
        products = report.imported.products,
        refunds = report.imported.refunds,
        skipped = report.skipped_rows(),
        "import finished"
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use crate::testutil::CountingStore;
    use crate::{import, Format, ImportError, ImportOptions, Progress, Reason};
    use embudo_store::Store;
    use std::fmt::Write;
    use std::sync::atomic::{AtomicU64, Ordering};

    const HEADER: &str =
        "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n";

    #[derive(Default)]
    struct Counted {
        total: AtomicU64,
        seen: AtomicU64,
        finished: AtomicU64,
    }

    impl Progress for Counted {
        fn start(&self, total: u64) {
            self.total.store(total, Ordering::SeqCst);
        }
        fn advance(&self, bytes: u64) {
            self.seen.fetch_add(bytes, Ordering::SeqCst);
        }
        fn finish(&self) {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// An invoice whose rows are split by more rows than the grouping window, a refund and a
    /// few thousand filler orders, in a temporary file.
    fn split_invoice_file() -> (tempfile::TempDir, std::path::PathBuf) {
        let mut body = String::from(HEADER);
        body.push_str("1,85048,A,1,2010-01-01 10:00:00,1.5,7,UK\n");
        for i in 0..(crate::group::WINDOW + 2_000) {
            let _ = writeln!(
                body,
                "{},85049,B,1,2010-01-02 10:00:00,2,8,UK",
                100 + i / 10
            );
        }
        body.push_str("1,85050,C,2,2010-01-01 09:00:00,3,7,UK\n");
        body.push_str("C9,85048,A,-1,2010-01-03 10:00:00,1.5,7,UK\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retail.csv");
        std::fs::write(&path, body).unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn distant_rows_join_their_order_and_a_second_import_changes_nothing() {
        let (_dir, path) = split_invoice_file();
        let store = CountingStore::new().await;
        let progress = Counted::default();
        let options = ImportOptions {
            batch_size: 500,
            ..Default::default()
        };
        let report = import(
            &store,
            Format::OnlineRetail,
            std::slice::from_ref(&path),
            &options,
            &progress,
        )
        .await
        .unwrap();
        let first = store.snapshot().await;
        let order = first.0.iter().find(|o| o.id.as_str() == "1").unwrap();
        assert_eq!(order.lines.len(), 2, "the distant line was added");
        assert_eq!(order.placed_at.to_rfc3339(), "2010-01-01T09:00:00+00:00");
        assert_eq!(order.merchandise_total(), 150 + 600);
        assert_eq!(report.count(Reason::MergedDistantRows), 1);
        assert_eq!(report.imported.orders as usize, first.0.len());
        assert_eq!(
            report.imported.order_lines,
            crate::group::WINDOW + 2_000 + 2
        );
        assert_eq!(report.imported.refunds, 1);
        assert!(
            store.order_calls.load(Ordering::SeqCst) > 5,
            "orders went in batches"
        );
        assert_eq!(
            progress.seen.load(Ordering::SeqCst),
            progress.total.load(Ordering::SeqCst)
        );
        assert_eq!(progress.finished.load(Ordering::SeqCst), 1);

        let again = import(
            &store,
            Format::OnlineRetail,
            &[path],
            &options,
            &crate::NoProgress,
        )
        .await
        .unwrap();
        let second = store.snapshot().await;
        assert_eq!(second.0, first.0, "orders");
        assert_eq!(
            (second.2.refunds, &second.3),
            (first.2.refunds, &first.3),
            "refunds and totals"
        );
        assert_eq!(second.1, first.1, "products");
        assert_eq!(again.imported.refunds_already_stored, 1);
        assert_eq!(again.imported.orders, report.imported.orders);
    }

    #[tokio::test]
    async fn a_store_error_stops_the_import() {
        let (_dir, path) = split_invoice_file();
        let store = CountingStore::new().await;
        store.fail_orders.store(true, Ordering::SeqCst);
        let progress = Counted::default();
        let options = ImportOptions {
            batch_size: 100,
            ..Default::default()
        };
        let err = import(&store, Format::OnlineRetail, &[path], &options, &progress)
            .await
            .unwrap_err();
        assert!(matches!(err, ImportError::Store(_)), "{err}");
        assert_eq!(progress.finished.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn fatal_input_errors_come_before_any_write() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.csv");
        std::fs::write(
            &good,
            format!("{HEADER}1,85048,A,1,2010-01-01 10:00:00,1.5,7,UK\n"),
        )
        .unwrap();
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "what,is,this\n").unwrap();
        let store = CountingStore::new().await;
        let options = ImportOptions::default();
        let err = import(
            &store,
            Format::OnlineRetail,
            &[good.clone(), bad],
            &options,
            &crate::NoProgress,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ImportError::UnknownLayout { .. }), "{err}");
        assert_eq!(store.counts().await.unwrap().orders, 0);
        let missing = dir.path().join("missing.csv");
        let err = import(
            &store,
            Format::OnlineRetail,
            &[missing],
            &options,
            &crate::NoProgress,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ImportError::Read { .. }), "{err}");
        let err = import(
            &store,
            Format::OnlineRetail,
            &[],
            &options,
            &crate::NoProgress,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ImportError::NoInput), "{err}");
        let err = import(
            &store,
            Format::OnlineRetail,
            &[dir.path().to_path_buf()],
            &options,
            &crate::NoProgress,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ImportError::Input { .. }), "{err}");
    }
}
