//! `embudo serve`: the API until SIGINT or SIGTERM.

use crate::settings::Settings;
use anyhow::Context;
use embudo_ingest::{CommitterConfig, EffectsConfig, ParseLimits};
use embudo_server::ServerConfig;
use embudo_store::Store;
use std::sync::Arc;

/// The address served when none is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Server settings from the checked settings.
pub fn server_config(settings: &Settings) -> ServerConfig {
    ServerConfig {
        limits: ParseLimits {
            max_message_bytes: settings.max_message_bytes,
            max_batch_bytes: settings.max_batch_bytes,
        },
        effects: EffectsConfig {
            default_currency: settings.default_currency,
        },
        analytics_in_memory: settings.analytics_in_memory,
        ..ServerConfig::default()
    }
}

/// Runs `embudo serve`.
pub async fn serve(settings: &Settings, addr: Option<String>) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    let addr = addr
        .or_else(|| settings.addr.clone())
        .unwrap_or_else(|| DEFAULT_ADDR.to_string());
    run_server(settings, store, &addr, |url| {
        println!("Embudo is serving on {url}")
    })
    .await
}

/// Binds `addr`, tells `announce` the URL, and serves until SIGINT or SIGTERM.
pub async fn run_server(
    settings: &Settings,
    store: Arc<dyn Store>,
    addr: &str,
    announce: impl FnOnce(&str),
) -> anyhow::Result<()> {
    // Take over the signals before announcing the URL, so that a signal sent as soon as the
    // URL is known already means "shut down cleanly".
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    announce(&format!("http://{local}"));
    tracing::info!(%local, backend = ?store.backend(), "serving");
    let committer = CommitterConfig::for_backend(store.backend());
    embudo_server::serve(
        listener,
        store,
        server_config(settings),
        committer,
        shutdown,
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}

fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}
