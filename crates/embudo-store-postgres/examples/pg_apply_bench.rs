//! Measures how fast [`Store::apply`] stores tracking events in PostgreSQL: batches of 1,000
//! track events (a realistic mix of anonymous and known visitors, with properties and context),
//! into a new database of the server named by `EMBUDO_TEST_PG_URL`.
//!
//! ```text
//! eval "$(scripts/pg-cluster start)"
//! cargo run --release -p embudo-store-postgres --features testing --example pg_apply_bench [BATCHES]
//! ```
//!
//! It prints events per second for one writer, and for two writers at once (two nodes).

use chrono::{Duration, TimeZone, Utc};
use embudo_core::{
    AnonymousId, Attributes, Attribution, CustomerId, EventContext, Message, MessageId, MessageKind,
};
use embudo_store::{Envelope, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

const BATCH: usize = 1_000;

fn batch(tag: &str, number: usize) -> Vec<Envelope> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    (0..BATCH)
        .map(|i| {
            let n = number * BATCH + i;
            let mut properties = Attributes::new();
            properties.insert("product_id".into(), json!(format!("p-{}", n % 500)));
            properties.insert("price".into(), json!(19.99));
            properties.insert("currency".into(), json!("EUR"));
            let mut raw = Attributes::new();
            raw.insert("userAgent".into(), json!("Mozilla/5.0 (X11; Linux x86_64)"));
            raw.insert(
                "page".into(),
                json!({"url": format!("https://shop.example/p/{}", n % 500)}),
            );
            let message = Message {
                message_id: MessageId::parse(format!("{tag}-{n}")).unwrap(),
                kind: MessageKind::Track,
                event: Some("Product Viewed".into()),
                anonymous_id: Some(
                    AnonymousId::parse(format!("{tag}-visitor-{}", n % 20_000)).unwrap(),
                ),
                // One event in five is from a known customer.
                user_id: matches!(n % 5, 0)
                    .then(|| CustomerId::parse(format!("{tag}-customer-{}", n % 2_000)).unwrap()),
                previous_id: None,
                group_id: None,
                session_id: Some(format!("s-{}", n % 5_000)),
                timestamp: start + Duration::milliseconds(n as i64 * 250),
                received_at: start + Duration::milliseconds(n as i64 * 250 + 40),
                properties,
                traits: Attributes::new(),
                context: EventContext {
                    device_type: Some("mobile".into()),
                    user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
                    locale: Some("de-DE".into()),
                    country: Some("DE".into()),
                    city: Some("Berlin".into()),
                    ip: Some("203.0.113.7".into()),
                    attribution: Attribution {
                        source: Some("newsletter".into()),
                        medium: Some("email".into()),
                        campaign: Some("spring".into()),
                        ..Attribution::default()
                    },
                    page_url: Some(format!("https://shop.example/p/{}", n % 500)),
                    raw,
                },
            };
            Envelope {
                message,
                effects: vec![],
            }
        })
        .collect()
}

async fn run(stores: &[Arc<dyn Store>], batches: usize, tag: &str) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(w, store)| {
            let store = store.clone();
            let tag = format!("{tag}{w}");
            tokio::spawn(async move {
                for b in 0..batches {
                    store.apply(batch(&tag, b)).await.expect("apply");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (stores.len() * batches * BATCH) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let (store, guard) = embudo_store_postgres::testing::fresh_pg().await;
    let one: Arc<dyn Store> = Arc::new(store);

    // Warm up (connections, statement caches), then measure.
    run(std::slice::from_ref(&one), 2, "warm").await;
    let single = run(std::slice::from_ref(&one), batches, "single").await;
    println!("one writer:  {single:>9.0} events/s ({batches} batches of {BATCH})");

    let second = embudo_store_postgres::PgStore::connect_with(
        guard.connect_options(),
        embudo_store_postgres::PgPoolOptions::new(),
    )
    .await
    .expect("second node");
    let two: Vec<Arc<dyn Store>> = vec![one.clone(), Arc::new(second)];
    let both = run(&two, batches / 2, "pair").await;
    println!(
        "two writers: {both:>9.0} events/s (2 × {} batches of {BATCH})",
        batches / 2
    );
    println!(
        "events stored: {}",
        one.counts().await.expect("counts").events
    );
}
