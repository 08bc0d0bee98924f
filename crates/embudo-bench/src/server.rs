//! An Embudo server in this process, on 127.0.0.1:0, over a fresh store.
//!
//! It runs `embudo_server::serve` exactly as `embudo serve` does (same committer settings per
//! backend: one writer for SQLite, four for PostgreSQL), on its own multi-threaded Tokio
//! runtime with one worker per core, like the binary's `#[tokio::main]`. Only the batch size
//! limit is raised (see [`ServerOptions::max_batch_bytes`]).

use crate::sys::SERVER_THREADS;
use anyhow::{Context, Result};
use chrono::Utc;
use embudo_ingest::CommitterConfig;
use embudo_server::ServerConfig;
use embudo_store::{Counts, KeyKind, NewKey, Store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which database the server writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A new SQLite file in a temporary directory (WAL, synchronous = FULL).
    Sqlite,
    /// A new database on the server named by `EMBUDO_TEST_PG_URL` (`scripts/pg-cluster start`).
    Postgres,
}

impl Backend {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The runtime the server (and the SQLite work it hands to the blocking pool) runs on.
pub fn server_runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(SERVER_THREADS)
        .build()
        .context("starting the server runtime")
}

/// A fresh, empty store, and what keeps it alive (its directory or its database).
pub struct FreshStore {
    /// The store.
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _guard: Option<embudo_store_postgres::testing::Guard>,
}

/// A new temporary directory under `parent` (the system's temporary directory by default).
pub fn temp_dir(parent: Option<&Path>) -> Result<tempfile::TempDir> {
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("embudo-bench-");
        b
    };
    match parent {
        Some(parent) => builder.tempdir_in(parent),
        None => builder.tempdir(),
    }
    .context("creating a temporary directory")
}

/// A new database URL on the PostgreSQL server named by `EMBUDO_TEST_PG_URL`, and the guard
/// that drops it again. Must run inside a Tokio runtime.
pub async fn fresh_postgres_database() -> Result<(String, embudo_store_postgres::testing::Guard)> {
    let server = std::env::var(embudo_store_postgres::testing::URL_VAR).context(
        "PostgreSQL runs need EMBUDO_TEST_PG_URL: eval \"$(scripts/pg-cluster start)\" first",
    )?;
    let (store, guard) = embudo_store_postgres::testing::fresh_pg().await;
    store.close().await;
    let base = server
        .rsplit_once('/')
        .map_or(server.as_str(), |(base, _)| base);
    Ok((format!("{base}/{}", guard.database()), guard))
}

/// Opens a fresh store of `backend`. Must run inside the runtime that will use it (sqlx pools
/// belong to their runtime).
pub async fn fresh_store(backend: Backend, dir: Option<&Path>) -> Result<FreshStore> {
    match backend {
        Backend::Sqlite => {
            let tmp = temp_dir(dir)?;
            let path = tmp.path().join("embudo.db");
            let store = embudo_store_sqlite::SqliteStore::open(&path)
                .context("opening the SQLite store")?;
            Ok(FreshStore {
                store: Arc::new(store),
                _dir: Some(tmp),
                _guard: None,
            })
        }
        Backend::Postgres => {
            let (url, guard) = fresh_postgres_database().await?;
            // `PgStore::connect`, as `embudo serve --database-url` does (same pool size).
            let store = embudo_store_postgres::PgStore::connect(&url)
                .await
                .context("connecting to PostgreSQL")?;
            Ok(FreshStore {
                store: Arc::new(store),
                _dir: None,
                _guard: Some(guard),
            })
        }
    }
}

/// A copy of the SQLite store at `base` in a temporary directory.
fn copied_store(base: &Path, dir: Option<&Path>) -> Result<FreshStore> {
    let tmp = temp_dir(dir)?;
    let path = tmp.path().join("embudo.db");
    std::fs::copy(base, &path).with_context(|| format!("copying {}", base.display()))?;
    let store =
        embudo_store_sqlite::SqliteStore::open(&path).context("opening the copied store")?;
    Ok(FreshStore {
        store: Arc::new(store),
        _dir: Some(tmp),
        _guard: None,
    })
}

/// Settings of the server under test.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The largest `/v1/batch` body. Segment's (and Embudo's default) limit is 500 KB, which
    /// realistic messages of about 1 KB exceed at 1,000 per batch; the benchmark raises it so
    /// that it measures the batch size asked for.
    pub max_batch_bytes: usize,
    /// Where SQLite files go (the system's temporary directory by default).
    pub dir: Option<PathBuf>,
    /// Put [`crate::null_store::NullApply`] in front of the store (an experiment).
    pub null_store: bool,
    /// Committer transactions in flight, other than `embudo serve`'s (an experiment).
    pub writers: Option<usize>,
    /// Ask the in-memory analytics for the dashboard set every this many milliseconds.
    pub dashboard_every: Option<u64>,
    /// Start from a copy of this SQLite store.
    pub base: Option<PathBuf>,
    /// Run the segment worker, as `serve` does.
    pub segment_worker: bool,
}

/// A running server.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A write key's secret.
    pub secret: String,
    /// Its store.
    pub fresh: FreshStore,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

/// The committer settings `embudo serve` uses for `backend`, unless `options` say otherwise.
pub fn committer_config(backend: Backend, options: &ServerOptions) -> CommitterConfig {
    let standard = CommitterConfig::for_backend(match backend {
        Backend::Sqlite => embudo_store::Backend::Sqlite,
        Backend::Postgres => embudo_store::Backend::Postgres,
    });
    CommitterConfig {
        writers: options.writers.unwrap_or(standard.writers),
        ..standard
    }
}

/// Starts a server over a fresh store of `backend` on `rt`, with a new write key.
pub fn start(rt: &Runtime, backend: Backend, options: &ServerOptions) -> Result<Running> {
    rt.block_on(async {
        let mut fresh = match &options.base {
            Some(base) => copied_store(base, options.dir.as_deref())?,
            None => fresh_store(backend, options.dir.as_deref()).await?,
        };
        if options.null_store {
            fresh.store = Arc::new(crate::null_store::NullApply::new(fresh.store.clone()));
        }
        let key = NewKey::generate(KeyKind::Write, "bench", Utc::now());
        fresh
            .store
            .insert_key(&key.key)
            .await
            .context("storing the key")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut config = ServerConfig::default();
        config.limits.max_batch_bytes = options.max_batch_bytes;
        // Ingestion is measured without the recommendation trainer (measured on its own).
        config.recs = None;
        if options.segment_worker {
            if let Some(worker) = config.intel_worker.as_mut() {
                // The benchmark measures ingestion with the worker keeping segments up to
                // date; the scores job (daily) and the full recheck (every 15 minutes) are
                // measured on their own (`segments-setup`).
                worker.scores_every = None;
                worker.recheck_at_start = false;
            }
        } else {
            config.intel_worker = None;
        }
        let (shutdown, stop) = oneshot::channel::<()>();
        let handle = tokio::spawn(embudo_server::serve(
            listener,
            fresh.store.clone(),
            config,
            committer_config(backend, options),
            async move {
                let _ = stop.await;
            },
        ));
        Ok(Running {
            addr,
            secret: key.secret,
            fresh,
            shutdown: Some(shutdown),
            handle: Some(handle),
        })
    })
}

impl Running {
    /// Stops taking requests, waits until every accepted message is committed, and returns
    /// what the store holds.
    pub fn stop(&mut self, rt: &Runtime) -> Result<Counts> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        rt.block_on(async {
            if let Some(handle) = self.handle.take() {
                handle
                    .await
                    .context("the server task")?
                    .context("serving")?;
            }
            self.fresh
                .store
                .counts()
                .await
                .context("counting the stored rows")
        })
    }
}

/// Counters of the group committer, read from `/metrics`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct CommitStats {
    /// Transactions committed.
    pub commits: u64,
    /// Messages stored.
    pub inserted: u64,
    /// Seconds spent inside `Store::apply` (summed over writers).
    pub apply_seconds: f64,
}

/// Reads the committer's counters from the text of `/metrics`.
pub fn commit_stats(metrics: &str) -> CommitStats {
    let value = |name: &str| {
        metrics
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    CommitStats {
        commits: value("embudo_ingest_commits_total") as u64,
        inserted: value("embudo_ingest_inserted_total") as u64,
        apply_seconds: value("embudo_ingest_commit_microseconds_total") / 1e6,
    }
}
