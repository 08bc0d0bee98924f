//! Helpers for tests: a [`PgStore`] on a brand-new database of the server named by the
//! `EMBUDO_TEST_PG_URL` environment variable (`scripts/pg-cluster start` prints one).
//!
//! Each call creates a database with a random name, so tests run in parallel without seeing
//! each other; the [`Guard`] drops it again.

use crate::{PgConnectOptions, PgPoolOptions, PgStore};
use embudo_store::Store;
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;
use std::time::Duration;

/// The environment variable naming the test server.
pub const URL_VAR: &str = "EMBUDO_TEST_PG_URL";

/// Drops its test database when dropped (best effort: the cluster is thrown away anyway).
#[derive(Debug)]
pub struct Guard {
    admin: PgConnectOptions,
    database: String,
}

impl Guard {
    /// The name of the test database.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Options that connect to the test database (for a second store on the same data).
    pub fn connect_options(&self) -> PgConnectOptions {
        self.admin.clone().database(&self.database)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
        // Its own thread and runtime: the test's runtime may be shutting down, or be a
        // current-thread runtime that cannot block. WITH (FORCE) ends the pool's connections.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let _ = conn.execute(sql.as_str()).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// The options of the server named by `EMBUDO_TEST_PG_URL`.
///
/// # Panics
///
/// When the variable is unset or not a PostgreSQL URL.
pub fn server_options() -> PgConnectOptions {
    let url = std::env::var(URL_VAR).unwrap_or_else(|_| {
        panic!("PostgreSQL tests need EMBUDO_TEST_PG_URL: run ./scripts/test, or eval \"$(scripts/pg-cluster start)\" first")
    });
    url.parse()
        .unwrap_or_else(|e| panic!("{URL_VAR} is not a PostgreSQL URL: {e}"))
}

/// Creates a new, empty database on the test server and connects a [`PgStore`] to it.
///
/// # Panics
///
/// When `EMBUDO_TEST_PG_URL` is unset, or the server cannot be reached: this is for tests.
pub async fn fresh() -> (Arc<dyn Store>, Guard) {
    let (store, guard) = fresh_pg().await;
    (Arc::new(store), guard)
}

/// Like [`fresh`], with the concrete store type.
///
/// # Panics
///
/// As [`fresh`].
pub async fn fresh_pg() -> (PgStore, Guard) {
    let admin = server_options();
    let database = format!("embudo_test_{:016x}", rand::random::<u64>());
    let mut conn = PgConnection::connect_with(&admin)
        .await
        .unwrap_or_else(|e| panic!("connect to {URL_VAR}: {e}"));
    conn.execute(format!("CREATE DATABASE \"{database}\"").as_str())
        .await
        .unwrap_or_else(|e| panic!("create {database}: {e}"));
    let _ = conn.close().await;
    let guard = Guard { admin, database };
    let store = PgStore::connect_with(
        guard.connect_options(),
        PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(60)),
    )
    .await
    .unwrap_or_else(|e| panic!("connect to the test database {}: {e}", guard.database));
    (store, guard)
}
