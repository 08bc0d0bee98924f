//! `embudo generate`: a generated shop, fed through the same ingestion path as real traffic
//! (Segment messages → effects → group commit), with a progress bar.

use crate::settings::Settings;
use anyhow::Context;
use chrono::{NaiveDate, Utc};
use clap::Args;
use embudo_generate::{Generator, ShopSpec};
use embudo_ingest::{envelope, parse_json_message, EffectsConfig};
use embudo_store::{Envelope, Store};
use std::sync::Arc;

/// Arguments of `embudo generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Known customers over the period (anonymous visitors come in addition).
    #[arg(long, default_value_t = 2000)]
    pub customers: u32,
    /// Days of history.
    #[arg(long, default_value_t = 120)]
    pub days: u32,
    /// Random seed: the same seed and settings give the same shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The last day of the history (default: today, UTC).
    #[arg(long)]
    pub end: Option<NaiveDate>,
}

/// What a generation run wrote.
#[derive(Debug, Default)]
pub struct Generated {
    /// Products in the catalog.
    pub products: usize,
    /// Tracking messages stored.
    pub events: u64,
    /// Messages the ingest pipeline refused (should be none).
    pub rejected: u64,
    /// Order status changes applied.
    pub status_changes: u64,
}

/// Runs `embudo generate`.
pub async fn generate(settings: &Settings, args: GenerateArgs) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    let started = std::time::Instant::now();
    let done = fill(store, settings, &args).await?;
    println!(
        "generated {} products, {} events, {} order status changes in {:.1}s{}",
        done.products,
        done.events,
        done.status_changes,
        started.elapsed().as_secs_f64(),
        if done.rejected > 0 {
            format!(" ({} messages refused)", done.rejected)
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Writes a generated shop into `store`.
pub async fn fill(
    store: Arc<dyn Store>,
    settings: &Settings,
    args: &GenerateArgs,
) -> anyhow::Result<Generated> {
    let spec = ShopSpec {
        customers: args.customers,
        days: args.days,
        seed: args.seed,
        end: args.end.unwrap_or_else(|| Utc::now().date_naive()),
        currency: settings.default_currency,
    };
    let generator = Generator::new(spec);
    store
        .upsert_products(generator.catalog())
        .await
        .context("writing the catalog")?;
    let mut done = Generated {
        products: generator.catalog().len(),
        ..Generated::default()
    };
    let bar = super::progress_bar(generator.estimated_events(), "events");
    let effects = EffectsConfig {
        default_currency: settings.default_currency,
    };

    // Generation and parsing run on a blocking thread while the store writes the previous
    // chunk, so both cores work.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(4);
    let producer = tokio::task::spawn_blocking(move || {
        let received_at = Utc::now();
        for day in generator.days() {
            let mut envelopes = Vec::with_capacity(day.messages.len());
            let mut rejected = 0u64;
            for value in day.messages {
                match parse_json_message(value, None, received_at)
                    .and_then(|m| envelope(m, &effects))
                {
                    Ok(e) => envelopes.push(e),
                    Err(err) => {
                        rejected += 1;
                        tracing::warn!(%err, "generated message refused");
                    }
                }
            }
            if tx
                .blocking_send(Chunk {
                    envelopes,
                    rejected,
                    status_changes: day.status_changes,
                })
                .is_err()
            {
                return;
            }
        }
    });
    while let Some(chunk) = rx.recv().await {
        done.rejected += chunk.rejected;
        let mut rest = chunk.envelopes;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(5_000));
            let part = std::mem::replace(&mut rest, tail);
            let applied = store
                .apply(part)
                .await
                .context("storing generated events")?;
            done.events += applied.len() as u64;
            bar.inc(applied.len() as u64);
        }
        for (order_id, change) in &chunk.status_changes {
            store
                .add_order_status(order_id, change)
                .await
                .context("storing order status changes")?;
            done.status_changes += 1;
        }
    }
    producer.await.context("the generator thread failed")?;
    bar.finish_and_clear();
    Ok(done)
}

struct Chunk {
    envelopes: Vec<Envelope>,
    rejected: u64,
    status_changes: Vec<(embudo_core::OrderId, embudo_core::StatusChange)>,
}
