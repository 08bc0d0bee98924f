//! Checks shared by the backend tests: the same imports must give the same figures on every
//! store. The real data sets are read from `../shared/data` beside the repository; a missing
//! file fails the test (the data sets are part of the test environment).
#![allow(dead_code)]

use embudo_core::Currency;
use embudo_import::{import, Format, ImportOptions, ImportReport, NoProgress, Reason};
use embudo_store::{Counts, CurrencyTotals, Store};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A file or directory of the shared data. Returns an `Option` for the callers' convenience;
/// it is always `Some`: a missing data set fails the test.
pub fn shared(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(relative);
    assert!(
        path.exists(),
        "the test data set {} is missing (../shared/data beside the repository)",
        path.display()
    );
    Some(path)
}

pub async fn run(store: &dyn Store, format: Format, paths: &[PathBuf]) -> ImportReport {
    let started = Instant::now();
    let report = import(store, format, paths, &ImportOptions::default(), &NoProgress)
        .await
        .expect("import");
    eprintln!("{format} imported in {:?}\n{report}", started.elapsed());
    report
}

fn totals_in(totals: &[CurrencyTotals], currency: Currency) -> CurrencyTotals {
    totals
        .iter()
        .find(|t| t.currency == currency)
        .cloned()
        .unwrap_or_else(|| panic!("no {currency} totals in {totals:?}"))
}

/// The whole Online Retail II 2009-2010 file gives the documented figures, and importing it
/// again changes nothing.
pub async fn online_retail_ii(store: &dyn Store) {
    let Some(path) = shared("online_retail_ii/online_retail_II_2009_2010.csv") else {
        return;
    };
    let first = run(store, Format::OnlineRetail, std::slice::from_ref(&path)).await;
    assert_eq!(first.imported.orders, 20_951);
    assert_eq!(first.imported.guest_orders, 1_738);
    assert_eq!(first.count(Reason::BadDebtAdjustment), 3);

    let counts = store.counts().await.unwrap();
    let totals = store.totals().await.unwrap();
    let gbp = totals_in(&totals, Currency::GBP);
    eprintln!("{counts:?}\n{gbp:?}");
    assert_eq!(counts.orders, 20_951);
    assert_eq!(counts.guest_orders, 1_738);
    assert_eq!(counts.products, 4_213);
    assert_eq!(counts.refunds as u64, first.imported.refunds);
    assert_eq!(counts.customers as u64, first.imported.customers);
    assert_eq!(gbp.orders, 20_951);
    assert_eq!(gbp.customers_with_orders, 4_312);
    assert_eq!(gbp.products_sold, 4_213);
    assert_eq!(gbp.merchandise_revenue, 983_796_079);
    assert_eq!(gbp.refunds, 24_779_521);

    let second = run(store, Format::OnlineRetail, &[path]).await;
    assert_eq!(
        second.imported.refunds_already_stored,
        second.imported.refunds
    );
    assert_eq!(store.counts().await.unwrap(), counts);
    assert_eq!(store.totals().await.unwrap(), totals);
}

/// The CDNOW sample: one order per line, exact money, zero-value purchases kept.
pub async fn cdnow_sample(store: &dyn Store) {
    let Some(path) = shared("cdnow/CDNOW_sample.txt") else {
        return;
    };
    let report = run(store, Format::Cdnow, std::slice::from_ref(&path)).await;
    assert_eq!(report.skipped_rows(), 0);
    assert_eq!(report.imported.customers, 2_357);
    let counts: Counts = store.counts().await.unwrap();
    assert_eq!(counts.orders as u64, report.rows);
    assert_eq!(counts.customers, 2_357);
    assert_eq!(counts.products, 1);
    let usd = totals_in(&store.totals().await.unwrap(), Currency::USD);
    assert_eq!(
        usd.merchandise_revenue,
        report.imported.merchandise[0].amount
    );
    assert_eq!(usd.products_sold, 1);
    run(store, Format::Cdnow, &[path]).await;
    assert_eq!(store.counts().await.unwrap(), counts);
}

/// The Instacart catalog and the first baskets of the train file (the whole file is left to
/// release runs: it is 1.4 million lines).
pub async fn instacart_head(store: &dyn Store, baskets_lines: usize) {
    let Some(dir) = shared("instacart") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(dir.join("order_products__train.csv")).unwrap();
    let head: Vec<&str> = text.lines().take(baskets_lines + 1).collect();
    let baskets = tmp.path().join("order_products__train.csv");
    std::fs::write(&baskets, head.join("\n") + "\n").unwrap();
    let paths: Vec<PathBuf> = ["products.csv", "aisles.csv", "departments.csv"]
        .iter()
        .map(|f| dir.join(f))
        .chain([baskets])
        .collect();
    let report = run(store, Format::Instacart, &paths).await;
    assert_eq!(report.skipped_rows(), 0);
    assert_eq!(report.imported.products, 49_688);
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.products, 49_688);
    assert_eq!(counts.orders as u64, report.imported.orders);
    assert_eq!(counts.guest_orders, counts.orders);
    assert_eq!(report.imported.order_lines, baskets_lines as u64);
    let stored = store
        .product(&embudo_core::ProductId::parse("24852").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.title, "Banana");
    assert_eq!(stored.category_path, ["produce", "fresh fruits"]);
}

/// The generic CSVs round-trip through the store.
pub async fn generic_csv(store: &dyn Store) {
    let tmp = tempfile::tempdir().unwrap();
    let products = tmp.path().join("products.csv");
    std::fs::write(
        &products,
        "id,title,category,price,currency,tags\np-1,Blue mug,Home > Kitchen,12.50,EUR,gift|blue\np-2,Green tea,Food > Tea,6,EUR,\n",
    )
    .unwrap();
    let orders = tmp.path().join("orders.csv");
    std::fs::write(
        &orders,
        "order_id,placed_at,customer_id,email,currency,kind,product_id,quantity,unit_price,shipping\n\
         1001,2026-03-01T10:00:00+01:00,c-1,ann@example.com,EUR,product,p-1,2,12.50,4.90\n\
         1001,,,,,product,p-2,1,6.00,\n\
         1002,2026-03-02 09:30:00,,,EUR,product,p-2,3,6.00,\n",
    )
    .unwrap();
    run(store, Format::ProductsCsv, &[products]).await;
    let report = run(store, Format::OrdersCsv, std::slice::from_ref(&orders)).await;
    assert_eq!(report.skipped_rows(), 0);
    let order = store
        .order(&embudo_core::OrderId::parse("1001").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.shipping, 490);
    assert_eq!(order.placed_at.to_rfc3339(), "2026-03-01T09:00:00+00:00");
    let eur = totals_in(&store.totals().await.unwrap(), Currency::EUR);
    assert_eq!(
        (
            eur.orders,
            eur.customers_with_orders,
            eur.merchandise_revenue
        ),
        (2, 1, 2500 + 600 + 1800)
    );
    let customer = store
        .customer(&embudo_core::CustomerId::parse("c-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer.email.unwrap().as_str(), "ann@example.com");
    let counts = store.counts().await.unwrap();
    run(store, Format::OrdersCsv, &[orders]).await;
    assert_eq!(store.counts().await.unwrap(), counts);
}
