//! Segment costs on a filled shop: `segments-setup` stores a set of varied segments (purchase
//! history, behaviour with windows, attributes, segments of segments, predictions) in a copy
//! of a shop, times one full evaluation of every customer for all of them, the scores job, and
//! the evaluation of a sample of customers as the worker does it after their events. The cost
//! on ingestion is measured by `batch --base … --shop-users` with and without the worker.

use anyhow::{Context as _, Result};
use chrono::Utc;
use embudo_core::{Currency, CustomerId};
use embudo_intel::{refresh_scores, ScoresOptions, SegmentEngine};
use embudo_store::intel::SegmentRecord;
use embudo_store::{PageRequest, Store};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// The `n`-th segment of the set: ten kinds, with varied parameters.
fn expression(n: usize, categories: &[String]) -> String {
    let k = n / 10;
    let category = categories
        .get(n % categories.len().max(1))
        .cloned()
        .unwrap_or_else(|| "Home".into());
    match n % 10 {
        0 => format!("orders_count >= {}", 1 + k % 4),
        1 => format!("revenue > {}", 50 * (k + 1)),
        2 => format!("viewed(within: {}d) >= {}", 1 + k * 3, 1 + k % 3),
        3 => format!("bought(category: {category:?})"),
        4 => format!(
            "added_to_cart(within: {}d) and not ordered(within: {}d)",
            1 + k,
            1 + k
        ),
        5 => format!(
            "country in [\"DE\", \"FR\", \"ES\", \"IT\", \"NL\"] and orders_count >= {}",
            k % 3
        ),
        6 => format!("last_order_at > now() - {}d", 30 * (k + 1)),
        7 => format!("viewed(device: \"mobile\", within: {}d) >= 2", 7 * (k + 1)),
        8 => format!("visited(within: {}d) >= 2", 7 + k),
        _ => format!(
            "in_segment(\"bench-{:03}\") and (churn_risk > 0.{} or orders_count >= 3)",
            n - 9,
            1 + k % 8
        ),
    }
}

/// Stores `count` segments in `store`, scores every customer, evaluates everybody once and a
/// sample as the worker would; prints and returns the times.
pub async fn setup(store: Arc<dyn Store>, count: usize) -> Result<Value> {
    let counts = store.counts().await?;
    println!(
        "segments: a shop of {} customers, {} events, {} orders; {count} segments",
        counts.customers, counts.events, counts.orders
    );
    let mut categories: Vec<String> = store
        .products(&PageRequest {
            after: None,
            limit: Some(1000),
        })
        .await?
        .into_iter()
        .filter_map(|p| p.category_path.first().cloned())
        .collect();
    categories.sort();
    categories.dedup();
    let now = Utc::now();
    for n in 0..count {
        let text = expression(n, &categories);
        embudo_segments::parse(&text).map_err(|e| anyhow::anyhow!("segment {n}: {e}: {text}"))?;
        store
            .put_segment(&SegmentRecord {
                key: format!("bench-{n:03}"),
                name: format!("Bench {n}"),
                description: None,
                expression: text,
                system: false,
                created_at: now,
                updated_at: now,
            })
            .await?;
    }
    let engine = SegmentEngine::load(Arc::clone(&store), Currency::EUR).await?;
    let t = Instant::now();
    let scores = refresh_scores(
        store.as_ref(),
        Some(&engine),
        now,
        Currency::EUR,
        &ScoresOptions::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let scores_seconds = t.elapsed().as_secs_f64();
    println!(
        "  scores job: {} customers scored, VIP {} by {}, in {scores_seconds:.1} s (segments on scores included)",
        scores.customers, scores.vip, scores.vip_basis
    );
    let t = Instant::now();
    let stats = engine.recompute(now, None).await?;
    let full_seconds = t.elapsed().as_secs_f64();
    println!(
        "  every customer for all {count} segments: {} evaluated, {} entries, {} exits, in {full_seconds:.1} s ({:.2} ms per customer)",
        stats.customers,
        stats.entered,
        stats.left,
        full_seconds * 1e3 / stats.customers.max(1) as f64
    );
    // The worker's unit of work: a batch of customers touched by new events.
    let ids: Vec<CustomerId> = store
        .customer_ids(&PageRequest {
            after: Some("C15".into()),
            limit: Some(500),
        })
        .await
        .context("reading customer ids")?;
    let t = Instant::now();
    let (touched, _) = engine.evaluate(&ids, now, None).await?;
    let batch_seconds = t.elapsed().as_secs_f64();
    println!(
        "  a batch of {} touched customers, all {count} segments: {:.1} ms ({:.2} ms per customer)",
        touched.customers,
        batch_seconds * 1e3,
        batch_seconds * 1e3 / touched.customers.max(1) as f64
    );
    Ok(
        json!({"customers": counts.customers, "events": counts.events, "segments": count,
        "scores_seconds": scores_seconds, "full_seconds": full_seconds,
        "members_entered": stats.entered, "batch_customers": touched.customers,
        "batch_seconds": batch_seconds}),
    )
}
