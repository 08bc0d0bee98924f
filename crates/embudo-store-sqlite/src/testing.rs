//! Helpers for other crates' tests: a fresh store in a temporary directory.

use crate::SqliteStore;
use embudo_store::Store;
use std::sync::Arc;

/// Opens a new, empty store in a new temporary directory. Keep the directory guard alive for
/// as long as the store is used; dropping it deletes the database.
///
/// # Panics
///
/// When the directory or the database cannot be created: this is for tests.
pub async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("embudo-sqlite-")
        .tempdir()
        .expect("create a temporary directory");
    let path = dir.path().join("embudo.db");
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
        .await
        .expect("the open task finished")
        .expect("open a fresh SQLite store");
    (Arc::new(store), dir)
}
