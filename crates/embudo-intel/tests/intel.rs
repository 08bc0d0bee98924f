//! The segment engine, the worker and the scores job on a generated shop, on both backends.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use embudo_core::{Currency, CustomerId};
use embudo_intel::scores::VIP_SEGMENT;
use embudo_intel::worker::{Worker, WorkerConfig};
use embudo_intel::{refresh_scores, ScoresOptions, SegmentEngine, SegmentError};
use embudo_store::facts::TimeRange;
use embudo_store::Store;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn received() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
}

async fn send(store: &dyn Store, messages: Vec<Value>) {
    let effects = embudo_ingest::EffectsConfig {
        default_currency: Currency::EUR,
    };
    let envelopes: Vec<_> = messages
        .into_iter()
        .map(|m| {
            embudo_ingest::parse_json_message(m, None, received())
                .and_then(|m| embudo_ingest::envelope(m, &effects))
                .expect("valid message")
        })
        .collect();
    store.apply(envelopes).await.unwrap();
}

async fn shop(store: &dyn Store) {
    let spec = embudo_generate::ShopSpec {
        customers: 150,
        days: 60,
        seed: 3,
        end: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
        currency: Currency::EUR,
    };
    let generator = embudo_generate::Generator::new(spec);
    store.upsert_products(generator.catalog()).await.unwrap();
    for day in generator.days() {
        send(store, day.messages).await;
        for (order, change) in &day.status_changes {
            store.add_order_status(order, change).await.unwrap();
        }
    }
}

async fn members(store: &dyn Store, key: &str) -> BTreeSet<String> {
    store
        .member_ids(key)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.as_str().to_owned())
        .collect()
}

/// Customers with two or more orders that count, computed from the analytics rows.
async fn repeat_customers(store: &dyn Store) -> BTreeSet<String> {
    let mut orders: BTreeMap<String, u32> = BTreeMap::new();
    for order in store.order_facts(TimeRange::all()).await.unwrap() {
        if let (Some(customer), false) = (order.customer_id, order.cancelled) {
            *orders.entry(customer.as_str().to_owned()).or_default() += 1;
        }
    }
    orders
        .into_iter()
        .filter(|(_, n)| *n >= 2)
        .map(|(c, _)| c)
        .collect()
}

async fn engine_and_worker(store: Arc<dyn Store>) {
    shop(store.as_ref()).await;
    let now = received();
    let engine = Arc::new(
        SegmentEngine::load(Arc::clone(&store), Currency::EUR)
            .await
            .unwrap(),
    );

    // A purchase-history segment has exactly the customers the definition names.
    let (record, stats) = engine
        .save("repeat", "Repeat buyers", None, "orders_count >= 2", now)
        .await
        .unwrap();
    assert_eq!(record.expression, "orders_count >= 2");
    let expected = repeat_customers(store.as_ref()).await;
    assert!(!expected.is_empty(), "the generated shop has repeat buyers");
    assert_eq!(members(store.as_ref(), "repeat").await, expected);
    assert_eq!(stats.entered as usize, expected.len());
    // A preview of the same condition sees the same people; saving again changes nothing.
    let preview = engine.preview("orders_count >= 2", 5, now).await.unwrap();
    assert_eq!(preview.size as usize, expected.len());
    assert_eq!(preview.sample.len(), 5.min(expected.len()));
    let (_, again) = engine
        .save("repeat", "Repeat buyers", None, "orders_count >= 2", now)
        .await
        .unwrap();
    assert_eq!((again.entered, again.left), (0, 0));

    // Segments of segments, refused circles, errors with positions.
    engine
        .save(
            "loyal_browsers",
            "Loyal browsers",
            None,
            "in_segment(\"repeat\") and viewed(within: 30d) >= 1",
            now,
        )
        .await
        .unwrap();
    assert!(members(store.as_ref(), "loyal_browsers")
        .await
        .is_subset(&expected));
    match engine
        .save("repeat", "x", None, "in_segment(\"loyal_browsers\")", now)
        .await
    {
        Err(SegmentError::Cycle(keys)) => assert!(keys.contains(&"repeat".to_string())),
        other => panic!("a circle must be refused: {other:?}"),
    }
    match engine.save("bad", "x", None, "orders_count >= ", now).await {
        Err(SegmentError::Expression(e)) => assert_eq!((e.line, e.column), (1, 17), "{e}"),
        other => panic!("a bad expression must be refused: {other:?}"),
    }
    assert!(matches!(
        engine
            .save("Bad Key", "x", None, "orders_count >= 1", now)
            .await,
        Err(SegmentError::Key(_))
    ));
    assert!(matches!(
        engine.delete("repeat", now).await,
        Err(SegmentError::InUse { .. })
    ));

    // The worker: a new event enters its customer, and time takes them out again.
    let someone: CustomerId = store
        .customer_ids(&embudo_store::PageRequest {
            after: None,
            limit: Some(1),
        })
        .await
        .unwrap()
        .remove(0);
    engine
        .save(
            "saw_p_new",
            "Saw the new product",
            None,
            "viewed(product: \"p-new\", within: 2d)",
            now,
        )
        .await
        .unwrap();
    assert!(members(store.as_ref(), "saw_p_new").await.is_empty());
    let mut worker = Worker::new(
        Arc::clone(&engine),
        Arc::clone(&store),
        WorkerConfig {
            scores_every: None,
            ..WorkerConfig::default()
        },
    )
    .await
    .unwrap();
    worker.round(now).await.unwrap();
    send(
        store.as_ref(),
        vec![json!({"type": "track", "event": "Product Viewed",
        "user_id": someone.as_str(), "message_id": "intel-view-1",
        "timestamp": (now - Duration::hours(1)).to_rfc3339(),
        "properties": {"product_id": "p-new", "price": 10}})],
    )
    .await;
    worker.round(now).await.unwrap();
    assert_eq!(
        members(store.as_ref(), "saw_p_new").await,
        BTreeSet::from([someone.as_str().to_owned()])
    );
    // Still in a day later, out once the view is more than two days old.
    worker.round(now + Duration::days(1)).await.unwrap();
    assert_eq!(members(store.as_ref(), "saw_p_new").await.len(), 1);
    worker.round(now + Duration::days(2)).await.unwrap();
    assert!(members(store.as_ref(), "saw_p_new").await.is_empty());
    let changes = store.segment_changes(0, 10_000).await.unwrap();
    let trail: Vec<bool> = changes
        .iter()
        .filter(|c| c.segment == "saw_p_new")
        .map(|c| c.entered)
        .collect();
    assert_eq!(trail, vec![true, false], "entered, then left");

    // Scores: every customer with orders is scored, the VIP group is the top tenth, and a
    // segment on predictions follows the scores.
    engine
        .save("at_risk", "At risk", None, "churn_risk > 0.5", now)
        .await
        .unwrap();
    let report = refresh_scores(
        store.as_ref(),
        Some(&engine),
        now,
        Currency::EUR,
        &ScoresOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.customers > 0);
    assert_eq!(report.vip, (report.customers as f64 * 0.1).ceil() as usize);
    assert_eq!(members(store.as_ref(), VIP_SEGMENT).await.len(), report.vip);
    let scored = store.all_scores().await.unwrap();
    assert_eq!(scored.len(), report.customers);
    let at_risk: BTreeSet<String> = scored
        .iter()
        .filter(|s| {
            s.scores["predictions"]["churn_risk"]
                .as_f64()
                .is_some_and(|r| r > 0.5)
        })
        .map(|s| s.customer_id.as_str().to_owned())
        .collect();
    assert_eq!(members(store.as_ref(), "at_risk").await, at_risk);
    assert!(
        !at_risk.is_empty() && at_risk.len() < scored.len(),
        "some, not all, are at risk: {} of {}",
        at_risk.len(),
        scored.len()
    );
    eprintln!(
        "scored {}, VIP {} by {} ({:?}), at risk {}, repeat buyers {}",
        report.customers,
        report.vip,
        report.vip_basis,
        report.model_error,
        at_risk.len(),
        expected.len()
    );
    assert!(matches!(
        engine.delete(VIP_SEGMENT, now).await,
        Err(SegmentError::System(_))
    ));
}

#[tokio::test]
async fn segments_worker_and_scores_on_sqlite() {
    let (store, _dir) = embudo_store_sqlite::testing::fresh().await;
    engine_and_worker(store).await;
}

#[tokio::test]
async fn segments_worker_and_scores_on_postgres() {
    let (store, _guard) = embudo_store_postgres::testing::fresh().await;
    engine_and_worker(store).await;
}

/// On the CDNOW sample (2,357 customers, the paper's data), the full model is fitted: VIP by
/// predicted lifetime value, and segments on predictions and RFM.
async fn cdnow_scores(store: Arc<dyn Store>) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/cdnow/CDNOW_sample.txt");
    embudo_import::import(
        store.as_ref(),
        embudo_import::Format::Cdnow,
        &[file],
        &embudo_import::ImportOptions::default(),
        &embudo_import::NoProgress,
    )
    .await
    .expect("import");
    let now = Utc.with_ymd_and_hms(1998, 7, 1, 0, 0, 0).unwrap();
    let engine = SegmentEngine::load(Arc::clone(&store), Currency::EUR)
        .await
        .unwrap();
    engine
        .save("likely_gone", "Likely gone", None, "churn_risk > 0.7", now)
        .await
        .unwrap();
    engine
        .save(
            "champions",
            "Champions",
            None,
            "rfm_segment = \"Champions\"",
            now,
        )
        .await
        .unwrap();
    let report = refresh_scores(
        store.as_ref(),
        Some(&engine),
        now,
        Currency::EUR,
        &ScoresOptions::default(),
    )
    .await
    .unwrap();
    assert!(report.model.is_some(), "{:?}", report.model_error);
    assert_eq!(report.currency.as_deref(), Some("USD"));
    assert_eq!(report.customers, 2_357);
    assert_eq!(report.vip_basis, "predicted_clv");
    assert_eq!(report.vip, 236, "the top tenth of 2,357, rounded up");
    let scored = store.all_scores().await.unwrap();
    let gone = scored
        .iter()
        .filter(|s| {
            s.scores["predictions"]["churn_risk"]
                .as_f64()
                .is_some_and(|r| r > 0.7)
        })
        .count();
    assert!(gone > 0 && gone < scored.len());
    assert_eq!(members(store.as_ref(), "likely_gone").await.len(), gone);
    // RFM over the year before `now`: customers who ordered then.
    let champions = scored
        .iter()
        .filter(|s| s.scores["rfm"]["group"] == "champions")
        .count();
    assert!(champions > 0, "some champions");
    assert_eq!(members(store.as_ref(), "champions").await.len(), champions);
    // The VIP group has the highest predicted values.
    let vip = members(store.as_ref(), VIP_SEGMENT).await;
    let clv = |s: &embudo_store::intel::CustomerScores| {
        s.scores["predictions"]["predicted_clv"]["amount"]
            .as_i64()
            .unwrap_or(0)
    };
    let lowest_vip = scored
        .iter()
        .filter(|s| vip.contains(s.customer_id.as_str()))
        .map(clv)
        .min();
    let highest_other = scored
        .iter()
        .filter(|s| !vip.contains(s.customer_id.as_str()))
        .map(clv)
        .max();
    assert!(
        lowest_vip >= highest_other,
        "{lowest_vip:?} < {highest_other:?}"
    );
}

#[tokio::test]
async fn cdnow_scores_on_sqlite() {
    let (store, _dir) = embudo_store_sqlite::testing::fresh().await;
    cdnow_scores(store).await;
}

#[tokio::test]
async fn cdnow_scores_on_postgres() {
    let (store, _guard) = embudo_store_postgres::testing::fresh().await;
    cdnow_scores(store).await;
}
