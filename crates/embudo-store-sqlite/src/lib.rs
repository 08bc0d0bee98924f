//! Embudo's embedded storage backend: the whole shop in one SQLite file.
//!
//! [`SqliteStore`] implements [`embudo_store::Store`]. The file runs in WAL mode with
//! `synchronous = FULL`, so a write that returned `Ok` survives a power cut, and readers never
//! wait for the writer. SQLite allows one writer at a time anyway, so the store keeps exactly
//! one writer connection behind a mutex and a small pool of read-only connections; every call
//! runs on Tokio's blocking pool so that database work never stalls the async runtime.
//!
//! The schema (see `docs/schema.md`) is created and upgraded by the numbered migrations in
//! `migrations/`, compiled into the binary and applied by [`SqliteStore::open`].
//!
//! Where the trait leaves a choice open, this backend:
//! - resolves an event's customer when it is stored, before its own effects run (its
//!   `LinkVisitor` then fills it in like any earlier event of the visitor);
//! - widens a customer's first/last seen with the events, orders and patches that name them,
//!   once per transaction, and with the events a visitor link or a merge gives them;
//! - follows merges when an order or refund names a merged customer (it is stored under the
//!   customer it was merged into), but patches the named row itself on `upsert_customers`;
//! - ignores `MergeCustomers` from an id that is no customer: ingestion sends one for every
//!   alias, also when the previous id was a visitor's;
//! - merges a status entry equal in (status, time) to a stored one into it, keeping fields the
//!   new one leaves empty;
//! - gives a refund without a customer its order's customer, and keeps a refund request of a
//!   stated amount and currency even when the order is not (yet) known;
//! - stores an event's context without its absent fields (it reads back the same).
#![deny(missing_docs)]

mod checkpoint;
mod codec;
mod error;
mod facts;
mod intel;
mod migrate;
mod read;
mod recs;
mod write;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use embudo_core::{
    AnonymousId, Customer, CustomerId, CustomerPatch, IdentityMerge, Order, OrderId, Product,
    ProductId, Refund, StatusChange, StoredEvent,
};
use embudo_store::facts::{
    CustomerFact, EventFact, EventQuery, Fingerprint, IdentityChange, Marks, OrderFact, RefundFact,
    TimeRange,
};
use embudo_store::intel::{
    CustomerScores, CustomerSegment, MembershipChange, ProfileData, SegmentChange, SegmentMember,
    SegmentRecord,
};
use embudo_store::recs::{
    check_model, first_per_id, is_model_key, is_recommendation_id, ModelInfo, ServedRecommendation,
    StoredModel,
};
use embudo_store::{
    ApiKey, Applied, Backend, Counts, CurrencyTotals, Envelope, PageRequest, Store, StoreError,
    StoreResult,
};
use error::Result;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;
use write::{EncodedEvent, Writer};

/// How many statements each connection keeps prepared. The writer uses a few dozen distinct
/// statements; evicting them would mean re-parsing SQL on the hot path.
const STATEMENT_CACHE: usize = 128;

/// The schema version this build brings database files to (the number of its migrations, kept
/// in `PRAGMA user_version`).
pub const SCHEMA_VERSION: usize = migrate::MIGRATIONS.len();

/// Settings of a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// How many read-only connections may run queries at once (at least 1).
    pub readers: usize,
    /// How long a connection waits for a lock held by another connection or process before the
    /// call fails as unavailable.
    pub busy_timeout: Duration,
    /// Page cache of the writer connection, in KiB; each reader gets a quarter of it.
    pub cache_kib: u32,
    /// How often the background checkpointer copies the write-ahead log into the database
    /// file (when something was committed since its last pass).
    pub checkpoint_interval: Duration,
    /// When the write-ahead log holds more pages than this after a pass (readers kept it from
    /// being reset), the checkpointer waits for them and restarts the log so it cannot grow
    /// without bound; it is also the size the log file is truncated back to.
    pub checkpoint_pages: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            cache_kib: 64 * 1024,
            checkpoint_interval: Duration::from_millis(250),
            checkpoint_pages: 16 * 1024,
        }
    }
}

/// A [`Store`] in one SQLite file. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    options: SqliteOptions,
    /// The only connection that writes; SQLite serializes writers anyway, and one connection
    /// keeps its prepared statements warm.
    writer: Mutex<Connection>,
    /// Idle read-only connections; more are opened when one was lost to a panic.
    readers: Mutex<Vec<Connection>>,
    /// Bounds the readers in use to `options.readers`.
    reader_permits: Arc<Semaphore>,
    /// Commits so far, for the checkpointer to see whether there is anything to copy.
    commits: Arc<AtomicU64>,
    /// Dropped with the store, which stops the checkpointer thread.
    _checkpointer: mpsc::Sender<()>,
    /// Large batches, to be freed on a thread of their own.
    free: mpsc::SyncSender<Box<dyn Send>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path` with default settings, creating the file (and its
    /// directory) when missing and bringing its schema up to date.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Like [`SqliteStore::open`], with explicit settings.
    pub fn open_with(path: &Path, options: SqliteOptions) -> StoreResult<SqliteStore> {
        let options = SqliteOptions {
            readers: options.readers.max(1),
            ..options
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let mut writer = open_writer(path, &options).map_err(StoreError::from)?;
        migrate::migrate(&mut writer)?;
        let readers = (0..options.readers)
            .map(|_| open_reader(path, &options))
            .collect::<Result<Vec<_>>>()
            .map_err(StoreError::from)?;
        let commits = Arc::new(AtomicU64::new(0));
        let checkpointer = checkpoint::start(path, &options, Arc::clone(&commits))?;
        let (free, garbage) = mpsc::sync_channel::<Box<dyn Send>>(2);
        std::thread::Builder::new()
            .name("embudo-sqlite-free".into())
            // Ends when the store (the sender) is dropped.
            .spawn(move || garbage.into_iter().for_each(drop))
            .map_err(|e| StoreError::Unavailable(format!("cannot start a thread: {e}")))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                reader_permits: Arc::new(Semaphore::new(options.readers)),
                options,
                writer: Mutex::new(writer),
                readers: Mutex::new(readers),
                commits,
                _checkpointer: checkpointer,
                free,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in one write transaction on the writer connection, committing when it succeeds.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.write_now(f)).await
    }

    /// Runs `f` in one read transaction (a consistent snapshot) on a reader connection.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> StoreResult<T> {
        let permit = Arc::clone(&self.inner.reader_permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let _permit = permit;
            let idle = inner
                .readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let conn = match idle {
                Some(conn) => conn,
                None => open_reader(&inner.path, &inner.options)?,
            };
            let result = (|| {
                let tx = conn.unchecked_transaction()?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })();
            inner
                .readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            result
        })
        .await
    }
}

impl Inner {
    /// Runs `f` in one write transaction on the writer connection, committing when it
    /// succeeds; blocks while another transaction holds the writer.
    fn write_now<T>(&self, f: impl FnOnce(&mut Writer<'_>) -> Result<T>) -> Result<T> {
        // A panic while holding the lock rolled its transaction back on unwind; the connection
        // itself is still good.
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        // IMMEDIATE takes the write lock at BEGIN, so a transaction never fails half-way for
        // want of it.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = {
            let mut writer = Writer::new(&tx, Utc::now());
            let out = f(&mut writer)?;
            writer.finish()?;
            out
        };
        tx.commit()?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(out)
    }
}

/// Runs blocking database work off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> StoreResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(err) if err.is_cancelled() => Err(StoreError::Unavailable(
            "the runtime is shutting down".into(),
        )),
        Err(err) => Err(StoreError::database(err)),
    }
}

fn open_connection(path: &Path, options: &SqliteOptions, cache_kib: u32) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(options.busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Negative: a size in KiB rather than in pages.
    conn.pragma_update(None, "cache_size", -i64::from(cache_kib))?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

fn open_writer(path: &Path, options: &SqliteOptions) -> Result<Connection> {
    let conn = open_connection(path, options, options.cache_kib)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{} cannot use WAL journaling (got `{mode}`)",
            path.display()
        ))
        .into());
    }
    // WAL with FULL syncs the log at every commit: an acknowledged write is durable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // The writer never checkpoints: copying the log into the database file (and its fsync)
    // would stall the commit that crosses the threshold. The checkpointer thread does it.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // After a burst made the log large, truncate it back to this size on the next reset.
    conn.pragma_update(
        None,
        "journal_size_limit",
        i64::from(options.checkpoint_pages) * 4096,
    )?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

fn open_reader(path: &Path, options: &SqliteOptions) -> Result<Connection> {
    let conn = open_connection(path, options, options.cache_kib / 4)?;
    // Read-write at the file level (WAL readers need the shared-memory file), but refusing to
    // change anything: all writes go through the one writer.
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(read::ping).await
    }

    async fn apply(&self, batch: Vec<Envelope>) -> StoreResult<Vec<Applied>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            // Encoded before taking the writer, so that with two calls in flight one batch is
            // encoded while the other is written.
            let encoded: Vec<EncodedEvent> = batch
                .iter()
                .map(|e| EncodedEvent::new(&e.message))
                .collect();
            let applied = inner.write_now(|w| w.apply(&batch, &encoded));
            // Freeing a large batch takes as long as encoding it: leave that to another thread
            // rather than make the next transaction wait for it.
            if batch.len() >= 64 {
                // When the freeing thread is behind (or gone), free it here.
                let _ = inner.free.try_send(Box::new((batch, encoded)));
            }
            applied
        })
        .await
    }

    async fn customer_events(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        let id = id.clone();
        self.read(move |conn| read::customer_events(conn, id.as_str(), limit))
            .await
    }

    async fn visitor_customer(
        &self,
        anonymous_id: &AnonymousId,
    ) -> StoreResult<Option<CustomerId>> {
        let anonymous_id = anonymous_id.clone();
        self.read(move |conn| {
            read::visitor_customer(conn, anonymous_id.as_str())?
                .as_deref()
                .map(codec::customer_id)
                .transpose()
        })
        .await
    }

    async fn visitor_events(
        &self,
        anonymous_id: &AnonymousId,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let anonymous_id = anonymous_id.clone();
        self.read(move |conn| read::visitor_events(conn, anonymous_id.as_str(), limit))
            .await
    }

    async fn identity_merges(&self, id: &CustomerId) -> StoreResult<Vec<IdentityMerge>> {
        let id = id.clone();
        self.read(move |conn| read::identity_merges(conn, id.as_str()))
            .await
    }

    async fn upsert_products(&self, products: &[Product]) -> StoreResult<u64> {
        let products = products.to_vec();
        self.write(move |w| {
            for product in &products {
                w.upsert_product(product)?;
            }
            Ok(products.len() as u64)
        })
        .await
    }

    async fn product(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        let id = id.clone();
        self.read(move |conn| read::product(conn, id.as_str()))
            .await
    }

    async fn products(&self, page: &PageRequest) -> StoreResult<Vec<Product>> {
        let page = page.clone();
        self.read(move |conn| read::products(conn, &page)).await
    }

    async fn upsert_customers(&self, patches: &[CustomerPatch]) -> StoreResult<u64> {
        let patches = patches.to_vec();
        self.write(move |w| {
            for patch in &patches {
                w.upsert_customer(patch)?;
            }
            Ok(patches.len() as u64)
        })
        .await
    }

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<Customer>> {
        let id = id.clone();
        self.read(move |conn| read::customer(conn, id.as_str()))
            .await
    }

    async fn customers(&self, page: &PageRequest) -> StoreResult<Vec<Customer>> {
        let page = page.clone();
        self.read(move |conn| read::customers(conn, &page)).await
    }

    async fn customer_orders(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<Order>> {
        let id = id.clone();
        self.read(move |conn| read::customer_orders(conn, id.as_str(), limit))
            .await
    }

    async fn upsert_orders(&self, orders: &[Order]) -> StoreResult<u64> {
        let orders = orders.to_vec();
        self.write(move |w| {
            for order in &orders {
                w.upsert_order(order, None, codec::micros(order.placed_at))?;
            }
            Ok(orders.len() as u64)
        })
        .await
    }

    async fn order(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        let id = id.clone();
        self.read(move |conn| read::order(conn, id.as_str())).await
    }

    async fn orders(&self, page: &PageRequest) -> StoreResult<Vec<Order>> {
        let page = page.clone();
        self.read(move |conn| read::orders(conn, &page)).await
    }

    async fn add_order_status(
        &self,
        id: &OrderId,
        change: &StatusChange,
    ) -> StoreResult<Option<Order>> {
        let id = id.clone();
        let change = change.clone();
        self.write(move |w| {
            if !w.add_order_status(id.as_str(), &change)? {
                return Ok(None);
            }
            read::order(w.conn(), id.as_str())
        })
        .await
    }

    async fn record_refunds(&self, refunds: &[Refund]) -> StoreResult<u64> {
        let refunds = refunds.to_vec();
        self.write(move |w| {
            let mut new = 0;
            for refund in &refunds {
                new += u64::from(w.insert_refund(refund)?);
            }
            Ok(new)
        })
        .await
    }

    async fn order_refunds(&self, id: &OrderId) -> StoreResult<Vec<Refund>> {
        let id = id.clone();
        self.read(move |conn| read::order_refunds(conn, id.as_str()))
            .await
    }

    async fn insert_key(&self, key: &ApiKey) -> StoreResult<()> {
        let key = key.clone();
        self.write(move |w| w.insert_key(&key)).await
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        let hash = hash.to_owned();
        self.read(move |conn| read::key_by_hash(conn, &hash)).await
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.read(read::keys).await
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |w| w.revoke_key(&id)).await
    }

    async fn counts(&self) -> StoreResult<Counts> {
        self.read(read::counts).await
    }

    async fn totals(&self) -> StoreResult<Vec<CurrencyTotals>> {
        self.read(read::totals).await
    }

    async fn event_facts(&self, query: &EventQuery) -> StoreResult<Vec<EventFact>> {
        let query = query.clone();
        self.read(move |conn| facts::events(conn, &query)).await
    }

    async fn count_people(&self, range: TimeRange) -> StoreResult<u64> {
        self.read(move |conn| facts::count_people(conn, range))
            .await
    }

    async fn order_facts(&self, range: TimeRange) -> StoreResult<Vec<OrderFact>> {
        self.read(move |conn| facts::orders(conn, range)).await
    }

    async fn refund_facts(&self, range: TimeRange) -> StoreResult<Vec<RefundFact>> {
        self.read(move |conn| facts::refunds(conn, range)).await
    }

    async fn customer_facts(&self) -> StoreResult<Vec<CustomerFact>> {
        self.read(facts::customers).await
    }

    async fn fact_marks(&self) -> StoreResult<Marks> {
        self.read(facts::marks).await
    }

    async fn customer_mark(&self) -> StoreResult<Fingerprint> {
        self.read(facts::customer_mark).await
    }

    async fn identity_changes(&self, after: i64, through: i64) -> StoreResult<Vec<IdentityChange>> {
        self.read(move |conn| facts::identity_changes(conn, after, through))
            .await
    }

    async fn put_segment(&self, segment: &SegmentRecord) -> StoreResult<()> {
        segment.check()?;
        let segment = segment.clone();
        self.write(move |w| intel::put_segment(w.conn(), &segment))
            .await
    }

    async fn segment(&self, key: &str) -> StoreResult<Option<SegmentRecord>> {
        let key = key.to_owned();
        self.read(move |conn| intel::get_segment(conn, &key)).await
    }

    async fn segments(&self) -> StoreResult<Vec<SegmentRecord>> {
        self.read(intel::segments).await
    }

    async fn delete_segment(&self, key: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let key = key.to_owned();
        self.write(move |w| intel::delete_segment(w.conn(), &key, codec::micros(at)))
            .await
    }

    async fn change_memberships(&self, changes: &[MembershipChange]) -> StoreResult<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        let changes = changes.to_vec();
        self.write(move |w| intel::change_memberships(w.conn(), &changes))
            .await
    }

    async fn segment_members(
        &self,
        key: &str,
        page: &PageRequest,
    ) -> StoreResult<Vec<SegmentMember>> {
        let (key, page) = (key.to_owned(), page.clone());
        self.read(move |conn| intel::segment_members(conn, &key, &page))
            .await
    }

    async fn segment_size(&self, key: &str) -> StoreResult<u64> {
        let key = key.to_owned();
        self.read(move |conn| intel::segment_size(conn, &key)).await
    }

    async fn member_ids(&self, key: &str) -> StoreResult<Vec<CustomerId>> {
        let key = key.to_owned();
        self.read(move |conn| intel::member_ids(conn, &key)).await
    }

    async fn customer_segments(&self, id: &CustomerId) -> StoreResult<Vec<CustomerSegment>> {
        let id = id.clone();
        self.read(move |conn| intel::customer_segments(conn, id.as_str()))
            .await
    }

    async fn segment_changes(&self, after_id: i64, limit: u32) -> StoreResult<Vec<SegmentChange>> {
        self.read(move |conn| intel::segment_changes(conn, after_id, limit))
            .await
    }

    async fn put_scores(&self, scores: &[CustomerScores]) -> StoreResult<u64> {
        if scores.is_empty() {
            return Ok(0);
        }
        let scores = scores.to_vec();
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let written = inner.write_now(|w| intel::put_scores(w.conn(), &scores));
            // Freeing a large batch is slow: not on the writer's time (see `apply`).
            if scores.len() >= 1024 {
                let _ = inner.free.try_send(Box::new(scores));
            }
            written
        })
        .await
    }

    async fn customer_scores(&self, id: &CustomerId) -> StoreResult<Option<CustomerScores>> {
        let id = id.clone();
        self.read(move |conn| intel::customer_scores(conn, id.as_str()))
            .await
    }

    async fn delete_scores(&self, ids: &[CustomerId]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.write_now(|w| intel::delete_scores(w.conn(), &ids))).await
    }

    async fn customers_with_orders_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<CustomerId>> {
        let since = codec::micros(since);
        self.read(move |conn| intel::customers_with_orders_changed_since(conn, since))
            .await
    }

    async fn all_scores(&self) -> StoreResult<Vec<CustomerScores>> {
        self.read(intel::all_scores).await
    }

    async fn profile_data(
        &self,
        ids: &[CustomerId],
        events_since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<ProfileData>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.read(move |conn| intel::profile_data(conn, &ids, events_since.map(codec::micros)))
            .await
    }

    async fn customer_ids(&self, page: &PageRequest) -> StoreResult<Vec<CustomerId>> {
        let page = page.clone();
        self.read(move |conn| intel::customer_ids(conn, &page))
            .await
    }

    async fn put_model(
        &self,
        key: &str,
        trained_at: DateTime<Utc>,
        bytes: &[u8],
    ) -> StoreResult<()> {
        check_model(key, bytes.len())?;
        let (key, bytes) = (key.to_owned(), bytes.to_vec());
        self.write(move |w| {
            recs::put_model(
                w.conn(),
                &key,
                codec::micros(trained_at),
                &bytes,
                codec::micros(Utc::now()),
            )
        })
        .await
    }

    async fn model(&self, key: &str) -> StoreResult<Option<StoredModel>> {
        if !is_model_key(key) {
            return Ok(None);
        }
        let key = key.to_owned();
        self.read(move |conn| recs::model(conn, &key)).await
    }

    async fn model_info(&self, key: &str) -> StoreResult<Option<ModelInfo>> {
        if !is_model_key(key) {
            return Ok(None);
        }
        let key = key.to_owned();
        self.read(move |conn| recs::model_info(conn, &key)).await
    }

    async fn record_recommendations(&self, served: &[ServedRecommendation]) -> StoreResult<u64> {
        // Checked and deduplicated before taking the writer.
        let rows: Vec<ServedRecommendation> = first_per_id(served)?.into_iter().cloned().collect();
        if rows.is_empty() {
            return Ok(0);
        }
        self.write(move |w| recs::record_recommendations(w.conn(), &rows))
            .await
    }

    async fn recommendation(&self, id: &str) -> StoreResult<Option<ServedRecommendation>> {
        if !is_recommendation_id(id) {
            return Ok(None);
        }
        let id = id.to_owned();
        self.read(move |conn| recs::recommendation(conn, &id)).await
    }
}
