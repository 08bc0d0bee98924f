//! One module per command, plus what they share (opening the store, progress bars).

pub mod clv;
pub mod demo;
pub mod generate;
pub mod import;
pub mod keys;
pub mod recs;
pub mod report;
pub mod segments;
pub mod serve;

use crate::settings::{Settings, StoreLocation};
use anyhow::Context;
use embudo_store::Store;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;

/// Opens (and migrates) the store the settings name.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    match &settings.store {
        StoreLocation::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the data directory {}", dir.display()))?;
            }
            let store = embudo_store_sqlite::SqliteStore::open(path)
                .with_context(|| format!("opening the SQLite store {}", path.display()))?;
            Ok(Arc::new(store))
        }
        StoreLocation::Postgres(url) => {
            let store = embudo_store_postgres::PgStore::connect(url.expose())
                .await
                .with_context(|| format!("connecting to PostgreSQL at {url:?}"))?;
            Ok(Arc::new(store))
        }
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})")
            .expect("static template is valid"),
    );
    bar.set_message(what.to_string());
    bar
}

/// A spinner on stderr for work of unknown length (hidden when stderr is not a terminal).
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
            .expect("static template is valid"),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}
