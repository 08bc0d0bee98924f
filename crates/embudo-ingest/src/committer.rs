//! Group commit: many concurrent requests, few transactions.
//!
//! Each HTTP request hands its envelopes to the committer and waits. A writer task takes
//! whatever requests are queued (up to a size), applies them to the store in **one**
//! transaction, and answers every request only after that transaction committed. Under load a
//! single fsync thus covers hundreds of requests, and an acknowledgement always means durable.

use embudo_store::{Applied, Envelope, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

/// Tuning of the committer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitterConfig {
    /// Stop gathering requests for one transaction at this many messages.
    pub max_batch_messages: usize,
    /// Requests that may wait; beyond this, [`Committer::submit`] answers `Overloaded`.
    pub queue_capacity: usize,
    /// Transactions that may be in flight at once ([`CommitterConfig::for_backend`]).
    pub writers: usize,
}

impl CommitterConfig {
    /// The settings for a backend. SQLite has one writer, but two transactions in flight let
    /// the store encode one group while it writes the other; PostgreSQL writes four at once.
    pub fn for_backend(backend: embudo_store::Backend) -> Self {
        let writers = match backend {
            embudo_store::Backend::Sqlite => 1,
            embudo_store::Backend::Postgres => 4,
        };
        Self {
            writers,
            ..Self::default()
        }
    }
}

impl Default for CommitterConfig {
    fn default() -> Self {
        Self {
            max_batch_messages: 20_000,
            queue_capacity: 4096,
            writers: 1,
        }
    }
}

/// Why a submission was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The queue is full; the client should retry later.
    #[error("ingestion is overloaded, retry later")]
    Overloaded,
    /// The committer has stopped (the server is shutting down).
    #[error("ingestion has stopped")]
    Closed,
    /// The store refused or failed the transaction.
    #[error("{0}")]
    Store(Arc<StoreError>),
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Messages stored for the first time.
    pub inserted: AtomicU64,
    /// Messages ignored as repeats.
    pub duplicates: AtomicU64,
    /// Transactions that failed.
    pub failures: AtomicU64,
    /// Total time spent in store transactions, in microseconds.
    pub commit_micros: AtomicU64,
}

struct Request {
    envelopes: Vec<Envelope>,
    reply: oneshot::Sender<Result<Vec<Applied>, CommitError>>,
}

/// A handle to the group-commit writers. Cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
    stats: Arc<CommitStats>,
}

impl Committer {
    /// Starts the writer tasks. They stop when every handle is dropped, after draining the
    /// queue; await the returned handles to wait for that.
    pub fn start(store: Arc<dyn Store>, config: CommitterConfig) -> (Self, Vec<JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let stats = Arc::new(CommitStats::default());
        let handles = (0..config.writers.max(1))
            .map(|_| tokio::spawn(writer(store.clone(), rx.clone(), config, stats.clone())))
            .collect();
        (Self { tx, stats }, handles)
    }

    /// Stores the envelopes, answering once they are durable. Fails fast with `Overloaded`
    /// when the queue is full (the HTTP layer answers 429).
    pub async fn submit(&self, envelopes: Vec<Envelope>) -> Result<Vec<Applied>, CommitError> {
        if envelopes.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Request { envelopes, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => CommitError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => CommitError::Closed,
            })?;
        answer.await.map_err(|_| CommitError::Closed)?
    }

    /// Like [`Committer::submit`], but waits for room in the queue instead of failing (for
    /// the generator and replays, which should go as fast as the store allows).
    pub async fn submit_waiting(
        &self,
        envelopes: Vec<Envelope>,
    ) -> Result<Vec<Applied>, CommitError> {
        if envelopes.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request { envelopes, reply })
            .await
            .map_err(|_| CommitError::Closed)?;
        answer.await.map_err(|_| CommitError::Closed)?
    }

    /// The counters.
    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// Requests waiting now.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

async fn writer(
    store: Arc<dyn Store>,
    rx: Arc<Mutex<mpsc::Receiver<Request>>>,
    config: CommitterConfig,
    stats: Arc<CommitStats>,
) {
    loop {
        let group = {
            let mut rx = rx.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut size = first.envelopes.len();
            let mut group = vec![first];
            while size < config.max_batch_messages {
                match rx.try_recv() {
                    Ok(next) => {
                        size += next.envelopes.len();
                        group.push(next);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        commit_group(store.as_ref(), group, &stats).await;
    }
}

async fn commit_group(store: &dyn Store, group: Vec<Request>, stats: &CommitStats) {
    let mut sizes = Vec::with_capacity(group.len());
    let mut replies = Vec::with_capacity(group.len());
    let mut combined = Vec::with_capacity(group.iter().map(|r| r.envelopes.len()).sum());
    for request in group {
        sizes.push(request.envelopes.len());
        replies.push(request.reply);
        combined.extend(request.envelopes);
    }
    match timed_apply(store, combined, stats).await {
        Ok(results) => {
            let mut results = results.into_iter();
            for (size, reply) in sizes.into_iter().zip(replies) {
                let _ = reply.send(Ok(results.by_ref().take(size).collect()));
            }
        }
        Err(err) => {
            // Store failures are the database's (unavailable, disk full), not one request's:
            // tracking data is validated before it gets here. Every request of the group is
            // told; clients retry, and message ids make the retry safe.
            tracing::error!(error = %err, requests = replies.len(), "ingestion transaction failed");
            let err = Arc::new(err);
            for reply in replies {
                let _ = reply.send(Err(CommitError::Store(err.clone())));
            }
        }
    }
}

async fn timed_apply(
    store: &dyn Store,
    envelopes: Vec<Envelope>,
    stats: &CommitStats,
) -> Result<Vec<Applied>, StoreError> {
    let started = Instant::now();
    let result = store.apply(envelopes).await;
    stats
        .commit_micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    match &result {
        Ok(applied) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            let dup = applied.iter().filter(|a| **a == Applied::Duplicate).count() as u64;
            stats.duplicates.fetch_add(dup, Ordering::Relaxed);
            stats
                .inserted
                .fetch_add(applied.len() as u64 - dup, Ordering::Relaxed);
        }
        Err(_) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
    result
}
