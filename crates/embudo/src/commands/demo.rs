//! `embudo demo`: a generated shop on the embedded store, served, with fresh keys printed.

use crate::commands::generate::{fill, GenerateArgs};
use crate::commands::serve::{run_server, DEFAULT_ADDR};
use crate::settings::Settings;
use chrono::Utc;
use embudo_store::{KeyKind, NewKey};

/// Runs `embudo demo`.
pub async fn demo(
    settings: &Settings,
    addr: Option<String>,
    customers: u32,
    days: u32,
    seed: u64,
) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    if store.counts().await?.events == 0 {
        eprintln!(
            "Generating a demo shop ({customers} customers, {days} days, seed {seed}) into {}…",
            settings.data_dir.display()
        );
        let started = std::time::Instant::now();
        let done = fill(
            store.clone(),
            settings,
            &GenerateArgs {
                customers,
                days,
                seed,
                end: None,
            },
        )
        .await?;
        eprintln!(
            "Generated {} products and {} events in {:.1}s.",
            done.products,
            done.events,
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!(
            "The store in {} already holds a shop; serving it as it is.",
            settings.data_dir.display()
        );
    }
    let secret = NewKey::generate(KeyKind::Secret, "demo", Utc::now());
    let write = NewKey::generate(KeyKind::Write, "demo site", Utc::now());
    store.insert_key(&secret.key).await?;
    store.insert_key(&write.key).await?;
    let counts = store.counts().await?;
    let addr = addr
        .or_else(|| settings.addr.clone())
        .unwrap_or_else(|| DEFAULT_ADDR.to_string());
    run_server(settings, store, &addr, |url| {
        println!();
        println!("Embudo demo is running at {url}");
        println!(
            "  shop: {} products, {} customers, {} orders, {} events",
            counts.products, counts.customers, counts.orders, counts.events
        );
        println!("  secret API key (everything): {}", secret.secret);
        println!("  write key (tracking only):   {}", write.secret);
        println!(
            "  try: curl -H 'Authorization: Bearer {}' {url}/v1/orders?limit=3",
            secret.secret
        );
        println!("  API description: {url}/v1/openapi.json    stop with Ctrl-C");
    })
    .await
}
