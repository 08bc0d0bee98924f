//! The reports on real data, on both backends: the Online Retail II figures of the issue,
//! and every report giving the same JSON from SQLite and PostgreSQL (on the Online Retail
//! import and on a generated shop with events).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use embudo_analytics::live::Live;
use embudo_analytics::report::{run, Context, ReportKind, ReportQuery};
use embudo_core::Currency;
use embudo_import::{import, Format, ImportOptions, NoProgress};
use embudo_store::Store;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

fn context(now: DateTime<Utc>, currency: Currency) -> Context {
    Context {
        now,
        default_currency: currency,
    }
}

fn query(pairs: &[(&str, &str)]) -> ReportQuery {
    ReportQuery::from_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .unwrap()
}

async fn report(store: &dyn Store, kind: ReportKind, q: &ReportQuery, ctx: Context) -> Value {
    run(store, kind, q, ctx)
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// Every report with a few parameter sets, for comparing backends.
fn report_set<'a>(range: (&'a str, &'a str)) -> Vec<(ReportKind, Vec<(&'a str, &'a str)>)> {
    let (from, to) = range;
    let base = [("from", from), ("to", to)];
    [
        (ReportKind::Funnel, vec![]),
        (
            ReportKind::Funnel,
            vec![("mode", "strict"), ("by", "source")],
        ),
        (
            ReportKind::Funnel,
            vec![("mode", "any"), ("by", "customer_type")],
        ),
        (
            ReportKind::FunnelPeople,
            vec![("step", "1"), ("limit", "50")],
        ),
        (
            ReportKind::Traffic,
            vec![("interval", "week"), ("by", "device")],
        ),
        (ReportKind::Traffic, vec![("by", "product")]),
        (
            ReportKind::Traffic,
            vec![("by", "country"), ("compare", "previous")],
        ),
        (
            ReportKind::Revenue,
            vec![("interval", "month"), ("by", "category")],
        ),
        (
            ReportKind::Revenue,
            vec![
                ("interval", "week"),
                ("by", "country"),
                ("tz", "Europe/Madrid"),
            ],
        ),
        (ReportKind::Growth, vec![]),
        (ReportKind::Retention, vec![("interval", "month")]),
        (ReportKind::Abandonment, vec![("timeout", "24h")]),
        (ReportKind::Rfm, vec![]),
    ]
    .into_iter()
    .map(|(kind, extra)| {
        let mut pairs = base.to_vec();
        pairs.extend(extra);
        (kind, pairs)
    })
    .collect()
}

async fn all_reports(store: &dyn Store, range: (&str, &str), ctx: Context) -> Vec<Value> {
    let mut out = Vec::new();
    for (kind, pairs) in report_set(range) {
        out.push(report(store, kind, &query(&pairs), ctx).await);
    }
    out
}

fn online_retail_file() -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/online_retail_ii/online_retail_II_2009_2010.csv");
    assert!(path.exists(), "the data set {} is missing", path.display());
    path
}

fn gbp(revenue: &Value) -> &Value {
    revenue["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "GBP")
        .expect("GBP figures")
}

/// The figures on Online Retail II, on one store.
async fn online_retail_figures(store: &dyn Store) -> Vec<Value> {
    import(
        store,
        Format::OnlineRetail,
        &[online_retail_file()],
        &ImportOptions::default(),
        &NoProgress,
    )
    .await
    .expect("import");
    let ctx = context(
        Utc.with_ymd_and_hms(2011, 1, 1, 0, 0, 0).unwrap(),
        Currency::GBP,
    );
    let whole = [("from", "2009-12-01"), ("to", "2010-12-10")];

    let mut pairs = whole.to_vec();
    pairs.push(("interval", "month"));
    let revenue = report(store, ReportKind::Revenue, &query(&pairs), ctx).await;
    let gbp = gbp(&revenue);
    let month = |start: &str| {
        gbp["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["start"] == start)
            .unwrap_or_else(|| panic!("no bucket {start}"))["figures"]["merchandise"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        month("2010-11-01"),
        143_553_281,
        "2010-11: 1,435,532.81 GBP"
    );
    assert_eq!(month("2009-12-01"), 80_093_983, "2009-12: 800,939.83 GBP");
    assert_eq!(gbp["totals"]["merchandise"], 983_796_079);
    assert_eq!(gbp["totals"]["orders"], 20_951);
    assert_eq!(gbp["totals"]["refunds"], 24_779_521);

    let retention = report(store, ReportKind::Retention, &query(&whole), ctx).await;
    let rate = retention["repeat_purchase_rate"].as_f64().unwrap();
    assert_eq!(retention["customers_with_orders"], 4_312);
    assert_eq!((rate * 10_000.0).round() / 10_000.0, 0.6709, "{rate}");

    all_reports(store, ("2009-12-01", "2010-12-10"), ctx).await
}

/// A generated shop with events, stored through the ingestion path.
async fn generated_shop(store: &dyn Store) -> Vec<Value> {
    let end = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    let spec = embudo_generate::ShopSpec {
        customers: 150,
        days: 45,
        seed: 7,
        end,
        currency: Currency::EUR,
    };
    let generator = embudo_generate::Generator::new(spec);
    store.upsert_products(generator.catalog()).await.unwrap();
    let effects = embudo_ingest::EffectsConfig {
        default_currency: Currency::EUR,
    };
    let received = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
    for day in generator.days() {
        let envelopes: Vec<_> = day
            .messages
            .into_iter()
            .map(|m| {
                embudo_ingest::parse_json_message(m, None, received)
                    .and_then(|m| embudo_ingest::envelope(m, &effects))
                    .expect("generated messages are valid")
            })
            .collect();
        store.apply(envelopes).await.unwrap();
        for (order, change) in &day.status_changes {
            store.add_order_status(order, change).await.unwrap();
        }
    }
    let ctx = context(received, Currency::EUR);
    let reports = all_reports(store, ("2026-03-01", "2026-03-25"), ctx).await;
    let funnel = &reports[0];
    let steps = funnel["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    let counts: Vec<u64> = steps.iter().map(|s| s["count"].as_u64().unwrap()).collect();
    assert!(
        counts[0] > 0 && counts.windows(2).all(|w| w[0] >= w[1]),
        "{counts:?}"
    );
    assert!(counts[3] > 0, "some viewers bought: {counts:?}");
    reports
}

#[tokio::test]
async fn online_retail_figures_and_backends_agree() {
    let (sqlite, _dir) = embudo_store_sqlite::testing::fresh().await;
    let (postgres, _guard) = embudo_store_postgres::testing::fresh().await;
    let a = online_retail_figures(sqlite.as_ref()).await;
    let b = online_retail_figures(postgres.as_ref()).await;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "SQLite and PostgreSQL differ on {}", x["report"]);
    }
}

#[tokio::test]
async fn generated_shop_reports_and_backends_agree() {
    let (sqlite, _dir) = embudo_store_sqlite::testing::fresh().await;
    let (postgres, _guard) = embudo_store_postgres::testing::fresh().await;
    let a = generated_shop(sqlite.as_ref()).await;
    let b = generated_shop(postgres.as_ref()).await;
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "SQLite and PostgreSQL differ on {}", x["report"]);
    }
}

/// Applies raw Segment messages (JSON) through the ingestion path.
async fn send(store: &dyn Store, messages: Vec<Value>, received: DateTime<Utc>) {
    let effects = embudo_ingest::EffectsConfig {
        default_currency: Currency::EUR,
    };
    let envelopes: Vec<_> = messages
        .into_iter()
        .map(|m| {
            embudo_ingest::parse_json_message(m, None, received)
                .and_then(|m| embudo_ingest::envelope(m, &effects))
                .expect("valid message")
        })
        .collect();
    store.apply(envelopes).await.unwrap();
}

/// The history kept in memory answers every report exactly as the store does: loaded half-way
/// through a shop's life, then caught up after more days, visitors linked, customers merged,
/// order status changes and refunds.
async fn live_history_follows_the_store(store: Arc<dyn Store>) {
    let end = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    let spec = embudo_generate::ShopSpec {
        customers: 120,
        days: 40,
        seed: 11,
        end,
        currency: Currency::EUR,
    };
    let generator = embudo_generate::Generator::new(spec);
    store.upsert_products(generator.catalog()).await.unwrap();
    let received = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
    let ctx = context(received, Currency::EUR);
    let range = ("2026-03-01", "2026-03-25");
    let mut live: Option<Arc<Live>> = None;
    for (n, day) in generator.days().enumerate() {
        if n == 25 {
            let loaded = Arc::new(Live::load(Arc::clone(&store)).await.unwrap());
            compare(store.as_ref(), &loaded, range, ctx).await;
            live = Some(loaded);
        }
        send(store.as_ref(), day.messages, received).await;
        for (order, change) in &day.status_changes {
            store.add_order_status(order, change).await.unwrap();
        }
    }
    let live = live.unwrap();
    let before = live.with(|h| h.events());
    // A visitor with history is linked, and two customers are merged.
    let at = "2026-03-20T10:00:00Z";
    send(
        store.as_ref(),
        vec![
            serde_json::json!({"type": "track", "event": "Product Viewed", "anonymous_id": "late-visitor",
                "message_id": "live-1", "timestamp": at, "properties": {"product_id": "p1", "price": 10}}),
            serde_json::json!({"type": "track", "event": "Product Added", "anonymous_id": "late-visitor",
                "message_id": "live-2", "timestamp": at, "properties": {"product_id": "p1", "price": 10}}),
        ],
        received,
    )
    .await;
    compare(store.as_ref(), &live, range, ctx).await;
    let customers = store
        .customers(&embudo_store::PageRequest {
            limit: Some(3),
            after: None,
        })
        .await
        .unwrap();
    let (a, b) = (customers[0].id.as_str(), customers[1].id.as_str());
    send(
        store.as_ref(),
        vec![
            serde_json::json!({"type": "identify", "anonymous_id": "late-visitor", "user_id": a,
                "message_id": "live-3", "timestamp": "2026-03-30T10:00:00Z"}),
            serde_json::json!({"type": "alias", "previous_id": b, "user_id": a,
                "message_id": "live-4", "timestamp": "2026-03-30T10:00:01Z"}),
        ],
        received,
    )
    .await;
    compare(store.as_ref(), &live, range, ctx).await;
    assert!(live.with(|h| h.events()) > before);
}

async fn compare(store: &dyn Store, live: &Arc<Live>, range: (&str, &str), ctx: Context) {
    let from_store = all_reports(store, range, ctx).await;
    let mut from_live = Vec::new();
    for (kind, pairs) in report_set(range) {
        let q = query(&pairs);
        from_live.push(
            live.report(kind, &q, ctx)
                .await
                .unwrap_or_else(|e| panic!("{kind}: {e}")),
        );
    }
    for (x, y) in from_store.iter().zip(&from_live) {
        assert_eq!(
            x, y,
            "the store and the live history differ on {}",
            x["report"]
        );
    }
}

#[tokio::test]
async fn live_history_follows_the_store_on_both_backends() {
    let (sqlite, _dir) = embudo_store_sqlite::testing::fresh().await;
    live_history_follows_the_store(sqlite).await;
    let (postgres, _guard) = embudo_store_postgres::testing::fresh().await;
    live_history_follows_the_store(postgres).await;
}
