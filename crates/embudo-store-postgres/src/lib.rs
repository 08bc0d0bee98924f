//! Embudo's PostgreSQL storage backend.
//!
//! [`PgStore`] implements [`embudo_store::Store`] on a PostgreSQL server (13 or later) through a
//! pool of connections. Several Embudo nodes may share one database: migrations are applied
//! under sqlx's advisory lock, every write is a transaction that is retried when PostgreSQL
//! reports a serialization failure or a deadlock, and rows are written in a fixed order so
//! that concurrent writers queue rather than deadlock.
//!
//! Tracking batches ([`Store::apply`]) take an advisory "apply lock": shared by batches that
//! cannot change who an event belongs to, exclusive for batches that link visitors or merge
//! customers (a batch whose links are all stored already counts as not linking: it checks
//! under the shared lock). Without it, an event stored by one node while another node links its visitor
//! could miss the link forever (each transaction would not see the other's uncommitted row).
//! Most batches only take the shared lock and run side by side. Writers of segment memberships
//! share the apply lock and hold a second advisory lock alone, so that the membership history's
//! ids are committed in the order they are drawn (see `intel`).
//!
//! The schema (`migrations/`) is the one in `docs/schema.md`, with `timestamptz`, `jsonb` and
//! `bigint` minor units, and ids compared byte-wise (`COLLATE "C"`).
#![deny(missing_docs)]

mod apply;
mod codec;
mod error;
mod facts;
mod intel;
mod read;
mod recs;
mod write;

#[cfg(feature = "testing")]
pub mod testing;

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
    is_segment_key, CustomerScores, CustomerSegment, MembershipChange, ProfileData, SegmentChange,
    SegmentMember, SegmentRecord,
};
use embudo_store::recs::{
    check_model, first_per_id, is_model_key, is_recommendation_id, ModelInfo, ServedRecommendation,
    StoredModel,
};
use embudo_store::{
    ApiKey, Applied, Backend, Counts, CurrencyTotals, Envelope, PageRequest, Store, StoreError,
    StoreResult,
};
use error::{corrupt, from_sqlx};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::PgConnection;
use std::time::Duration;

pub use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The advisory lock key that orders tracking batches against identity changes: "Embudo" and a
/// version number, 0x456D_6275_646F_0001 as a decimal i64 (a literal, for `concat!`).
macro_rules! apply_lock {
    () => {
        "5002763017414180865"
    };
}

/// A write that cannot change who an event belongs to: shares the apply lock. Taking the lock
/// in the statement that begins the transaction saves a round trip.
const BEGIN_SHARED: &str = concat!(
    "BEGIN; SELECT pg_advisory_xact_lock_shared(",
    apply_lock!(),
    ")"
);
/// A write that links visitors or merges customers: holds the apply lock alone.
const BEGIN_EXCLUSIVE: &str = concat!("BEGIN; SELECT pg_advisory_xact_lock(", apply_lock!(), ")");
/// A write that needs no apply lock.
const BEGIN: &str = "BEGIN";

/// The advisory lock key that serializes the writers of the segment membership history:
/// "Embudo" and 2, 0x456D_6275_646F_0002 as a decimal i64.
macro_rules! segments_lock {
    () => {
        "5002763017414180866"
    };
}

/// A write of memberships: shares the apply lock (merges, which also log membership changes,
/// hold it alone) and holds the segments lock alone, so that the history's ids are committed
/// in the order they are drawn.
const BEGIN_SEGMENTS: &str = concat!(
    "BEGIN; SELECT pg_advisory_xact_lock_shared(",
    apply_lock!(),
    "); SELECT pg_advisory_xact_lock(",
    segments_lock!(),
    ")"
);
/// A read of several statements that must see one state.
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// How many times a transaction is tried when PostgreSQL asks for a retry.
const MAX_ATTEMPTS: u32 = 12;

/// Runs `$body` (which uses `$conn: &mut PgConnection`, and `?` on backend errors) in a
/// transaction begun with `$begin`, retrying the whole transaction on serialization failures
/// and deadlocks. Evaluates to a `StoreResult`.
macro_rules! transaction {
    ($store:expr, $begin:expr, |$conn:ident| $body:block) => {{
        let mut attempt: u32 = 0;
        loop {
            let result: crate::error::Result<_> = async {
                let mut tx = $store.pool.begin_with($begin).await?;
                let value = {
                    let $conn: &mut PgConnection = &mut *tx;
                    $body
                };
                tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Ok(value) => break Ok(value),
                Err(err) if err.is_retryable() && attempt + 1 < MAX_ATTEMPTS => {
                    attempt += 1;
                    tracing::debug!(attempt, "retrying a PostgreSQL transaction after a serialization failure or deadlock");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(err) => break Err(StoreError::from(err)),
            }
        }
    }};
}

/// The pause before retry `attempt`: growing, with jitter so that two colliding writers do not
/// collide again.
fn backoff(attempt: u32) -> Duration {
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
            % 5,
    );
    Duration::from_millis(u64::from(attempt.min(8)) * 5 + jitter)
}

/// Embudo's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`) with
    /// a pool of up to 10 connections, and brings the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        let options: PgConnectOptions = url.parse().map_err(from_sqlx)?;
        Self::connect_with(
            options,
            PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(30)),
        )
        .await
    }

    /// Connects with explicit connection and pool options, and brings the schema up to date.
    pub async fn connect_with(
        options: PgConnectOptions,
        pool: PgPoolOptions,
    ) -> StoreResult<PgStore> {
        let pool = pool.connect_with(options).await.map_err(from_sqlx)?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool, bringing the schema up to date first. Safe to run from several
    /// nodes at once: sqlx applies migrations under an advisory lock.
    pub async fn from_pool(pool: PgPool) -> StoreResult<PgStore> {
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|err| match err {
                sqlx::migrate::MigrateError::Execute(inner) => match from_sqlx(inner) {
                    unavailable @ StoreError::Unavailable(_) => unavailable,
                    other => StoreError::Migration(other.to_string()),
                },
                other => StoreError::Migration(other.to_string()),
            })?;
        Ok(PgStore { pool })
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn conn(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        self.pool.acquire().await.map_err(from_sqlx)
    }

    /// One row mapped by `decode`, from a single statement.
    async fn fetch_optional<T>(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        decode: fn(&PgRow) -> error::Result<T>,
    ) -> StoreResult<Option<T>> {
        let row = query.fetch_optional(&self.pool).await.map_err(from_sqlx)?;
        Ok(row.as_ref().map(decode).transpose()?)
    }

    /// All rows mapped by `decode`, from a single statement.
    async fn fetch_all<T>(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        decode: fn(&PgRow) -> error::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let rows = query.fetch_all(&self.pool).await.map_err(from_sqlx)?;
        Ok(rows.iter().map(decode).collect::<error::Result<_>>()?)
    }
}

/// The `after` cursor and limit of a page, as bind values.
fn page_binds(page: &PageRequest) -> (Option<String>, i64) {
    (page.after.clone(), i64::from(page.limit()))
}

/// The `after` cursor and limit of a page for `id > $n`: ids are never empty, so every id
/// sorts after "" (byte-wise). Unlike `$n IS NULL OR id > $n`, this bounds the index scan also
/// in a generic plan, so that every page costs the same.
fn seek_binds(page: &PageRequest) -> (&str, i64) {
    (page.after.as_deref().unwrap_or(""), i64::from(page.limit()))
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn apply(&self, batch: Vec<Envelope>) -> StoreResult<Vec<Applied>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        if !apply::changes_identities(&batch) {
            return transaction!(self, BEGIN_SHARED, |conn| {
                apply::apply(conn, &batch, Utc::now()).await?
            });
        }
        // Links that are stored already change nothing: try under the shared lock first, and
        // take the exclusive one only when a link is new (or customers merge).
        let done = transaction!(self, BEGIN_SHARED, |conn| {
            if apply::links_known(conn, &batch).await? {
                Some(apply::apply(conn, &batch, Utc::now()).await?)
            } else {
                None
            }
        })?;
        match done {
            Some(applied) => Ok(applied),
            None => transaction!(self, BEGIN_EXCLUSIVE, |conn| {
                apply::apply(conn, &batch, Utc::now()).await?
            }),
        }
    }

    async fn customer_events(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        let mut conn = self.conn().await?;
        Ok(read::customer_events(&mut conn, id.as_str(), limit).await?)
    }

    async fn visitor_events(
        &self,
        anonymous_id: &AnonymousId,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        let mut conn = self.conn().await?;
        Ok(read::visitor_events(&mut conn, anonymous_id.as_str(), limit).await?)
    }

    async fn visitor_customer(
        &self,
        anonymous_id: &AnonymousId,
    ) -> StoreResult<Option<CustomerId>> {
        let customer: Option<String> =
            sqlx::query_scalar("SELECT customer_id FROM identities WHERE anonymous_id = $1")
                .bind(anonymous_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(from_sqlx)?;
        customer
            .map(|c| CustomerId::parse(c).map_err(|e| corrupt("customer_id", e).into()))
            .transpose()
    }

    async fn identity_merges(&self, id: &CustomerId) -> StoreResult<Vec<IdentityMerge>> {
        self.fetch_all(
            sqlx::query(
                "SELECT anonymous_id, from_customer, into_customer, reason, message_id, events_moved, at \
                 FROM identity_merges WHERE into_customer = $1 ORDER BY at, id",
            )
            .bind(id.as_str()),
            codec::identity_merge,
        )
        .await
    }

    async fn upsert_products(&self, products: &[Product]) -> StoreResult<u64> {
        if products.is_empty() {
            return Ok(0);
        }
        transaction!(self, BEGIN, |conn| {
            write::upsert_products(conn, products, Utc::now()).await?
        })?;
        Ok(products.len() as u64)
    }

    async fn product(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        self.fetch_optional(
            sqlx::query("SELECT * FROM products WHERE id = $1").bind(id.as_str()),
            codec::product,
        )
        .await
    }

    async fn products(&self, page: &PageRequest) -> StoreResult<Vec<Product>> {
        let (after, limit) = page_binds(page);
        self.fetch_all(
            sqlx::query(
                "SELECT * FROM products WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit),
            codec::product,
        )
        .await
    }

    async fn upsert_customers(&self, patches: &[CustomerPatch]) -> StoreResult<u64> {
        if patches.is_empty() {
            return Ok(0);
        }
        let patches: Vec<&CustomerPatch> = patches.iter().collect();
        transaction!(self, BEGIN, |conn| {
            write::patch_customers(conn, &patches, Utc::now()).await?
        })?;
        Ok(patches.len() as u64)
    }

    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<Customer>> {
        self.fetch_optional(
            sqlx::query("SELECT * FROM customers WHERE id = $1").bind(id.as_str()),
            codec::customer,
        )
        .await
    }

    async fn customers(&self, page: &PageRequest) -> StoreResult<Vec<Customer>> {
        let (after, limit) = page_binds(page);
        self.fetch_all(
            sqlx::query(
                "SELECT * FROM customers WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit),
            codec::customer,
        )
        .await
    }

    async fn customer_orders(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<Order>> {
        // Orders written for a customer after it was merged away (by a node that had not seen
        // the merge yet) still belong to the customer it was merged into.
        let sql = format!(
            "SELECT {} FROM orders WHERE customer_id = $1 \
               OR customer_id IN (SELECT id FROM customers WHERE merged_into = $1) \
             ORDER BY placed_at DESC, id DESC LIMIT $2",
            read::ORDER_COLUMNS
        );
        transaction!(self, BEGIN_READ, |conn| {
            let headers = sqlx::query(&sql)
                .bind(id.as_str())
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await?;
            read::orders_with_details(conn, headers).await?
        })
    }

    async fn upsert_orders(&self, orders: &[Order]) -> StoreResult<u64> {
        if orders.is_empty() {
            return Ok(0);
        }
        let links = orders
            .iter()
            .any(|o| o.anonymous_id.is_some() && o.customer_id.is_some());
        let writes: Vec<write::OrderWrite<'_>> = orders
            .iter()
            .map(|order| write::OrderWrite {
                order,
                message: None,
                at: order.placed_at,
            })
            .collect();
        transaction!(
            self,
            if links { BEGIN_EXCLUSIVE } else { BEGIN_SHARED },
            |conn| {
                let now = Utc::now();
                let links = write::upsert_orders(conn, &writes, now).await?;
                write::link_visitors(conn, &links, &write::BatchIndex::default(), now).await?
            }
        )?;
        Ok(orders.len() as u64)
    }

    async fn order(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        let sql = format!("SELECT {} FROM orders WHERE id = $1", read::ORDER_COLUMNS);
        let orders = transaction!(self, BEGIN_READ, |conn| {
            let headers = sqlx::query(&sql)
                .bind(id.as_str())
                .fetch_all(&mut *conn)
                .await?;
            read::orders_with_details(conn, headers).await?
        })?;
        Ok(orders.into_iter().next())
    }

    async fn orders(&self, page: &PageRequest) -> StoreResult<Vec<Order>> {
        let (after, limit) = page_binds(page);
        let sql = format!(
            "SELECT {} FROM orders WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
            read::ORDER_COLUMNS
        );
        transaction!(self, BEGIN_READ, |conn| {
            let headers = sqlx::query(&sql)
                .bind(&after)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?;
            read::orders_with_details(conn, headers).await?
        })
    }

    async fn add_order_status(
        &self,
        id: &OrderId,
        change: &StatusChange,
    ) -> StoreResult<Option<Order>> {
        let sql = format!("SELECT {} FROM orders WHERE id = $1", read::ORDER_COLUMNS);
        let orders = transaction!(self, BEGIN, |conn| {
            if write::add_order_status(conn, id.as_str(), change, Utc::now()).await? {
                let headers = sqlx::query(&sql)
                    .bind(id.as_str())
                    .fetch_all(&mut *conn)
                    .await?;
                read::orders_with_details(conn, headers).await?
            } else {
                Vec::new()
            }
        })?;
        Ok(orders.into_iter().next())
    }

    async fn record_refunds(&self, refunds: &[Refund]) -> StoreResult<u64> {
        if refunds.is_empty() {
            return Ok(0);
        }
        let refunds: Vec<(Refund, Option<String>)> =
            refunds.iter().map(|r| (r.clone(), None)).collect();
        transaction!(self, BEGIN_SHARED, |conn| {
            write::insert_refunds(conn, &refunds).await?
        })
    }

    async fn order_refunds(&self, id: &OrderId) -> StoreResult<Vec<Refund>> {
        self.fetch_all(
            sqlx::query(
                "SELECT id, order_id, customer_id, at, amount, currency, reason FROM refunds \
                 WHERE order_id = $1 ORDER BY at, id",
            )
            .bind(id.as_str()),
            codec::refund,
        )
        .await
    }

    async fn insert_key(&self, key: &ApiKey) -> StoreResult<()> {
        sqlx::query("INSERT INTO api_keys (id, name, kind, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(codec::text(&key.id))
            .bind(codec::text(&key.name))
            .bind(key.kind.as_str())
            .bind(codec::text(&key.hash))
            .bind(key.created_at)
            .bind(key.revoked_at)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(())
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.fetch_optional(
            sqlx::query("SELECT * FROM api_keys WHERE hash = $1 AND revoked_at IS NULL")
                .bind(codec::text(hash)),
            codec::api_key,
        )
        .await
    }

    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.fetch_all(
            sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id"),
            codec::api_key,
        )
        .await
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let found =
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                .bind(codec::text(id))
                .bind(Utc::now())
                .execute(&self.pool)
                .await
                .map_err(from_sqlx)?;
        Ok(found.rows_affected() > 0)
    }

    async fn counts(&self) -> StoreResult<Counts> {
        let mut conn = self.conn().await?;
        Ok(read::counts(&mut conn).await?)
    }

    async fn totals(&self) -> StoreResult<Vec<CurrencyTotals>> {
        let mut conn = self.conn().await?;
        Ok(read::totals(&mut conn).await?)
    }

    async fn event_facts(&self, query: &EventQuery) -> StoreResult<Vec<EventFact>> {
        let mut conn = self.conn().await?;
        Ok(facts::events(&mut conn, query).await?)
    }

    async fn count_people(&self, range: TimeRange) -> StoreResult<u64> {
        let mut conn = self.conn().await?;
        Ok(facts::count_people(&mut conn, range).await?)
    }

    async fn order_facts(&self, range: TimeRange) -> StoreResult<Vec<OrderFact>> {
        let mut tx = self.pool.begin_with(BEGIN_READ).await.map_err(from_sqlx)?;
        let orders = facts::orders(&mut tx, range).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(orders)
    }

    async fn refund_facts(&self, range: TimeRange) -> StoreResult<Vec<RefundFact>> {
        let mut conn = self.conn().await?;
        Ok(facts::refunds(&mut conn, range).await?)
    }

    async fn customer_facts(&self) -> StoreResult<Vec<CustomerFact>> {
        let mut conn = self.conn().await?;
        Ok(facts::customers(&mut conn).await?)
    }

    async fn fact_marks(&self) -> StoreResult<Marks> {
        // Holding the apply lock alone waits for the tracking batches in flight, whose
        // sequence numbers may be below ones already committed.
        let mut tx = self
            .pool
            .begin_with(BEGIN_EXCLUSIVE)
            .await
            .map_err(from_sqlx)?;
        let marks = facts::marks(&mut tx).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(marks)
    }

    async fn customer_mark(&self) -> StoreResult<Fingerprint> {
        let mut conn = self.conn().await?;
        Ok(facts::customer_mark(&mut conn).await?)
    }

    async fn identity_changes(&self, after: i64, through: i64) -> StoreResult<Vec<IdentityChange>> {
        let mut conn = self.conn().await?;
        Ok(facts::identity_changes(&mut conn, after, through).await?)
    }

    async fn put_segment(&self, segment: &SegmentRecord) -> StoreResult<()> {
        segment.check()?;
        let mut conn = self.conn().await?;
        Ok(intel::put_segment(&mut conn, segment).await?)
    }

    async fn segment(&self, key: &str) -> StoreResult<Option<SegmentRecord>> {
        if !is_segment_key(key) {
            return Ok(None);
        }
        self.fetch_optional(
            sqlx::query("SELECT * FROM segments WHERE key = $1").bind(key),
            intel::segment,
        )
        .await
    }

    async fn segments(&self) -> StoreResult<Vec<SegmentRecord>> {
        self.fetch_all(
            sqlx::query("SELECT * FROM segments ORDER BY key"),
            intel::segment,
        )
        .await
    }

    async fn delete_segment(&self, key: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        if !is_segment_key(key) {
            return Ok(false);
        }
        transaction!(self, BEGIN_SEGMENTS, |conn| {
            intel::delete_segment(conn, key, at).await?
        })
    }

    async fn change_memberships(&self, changes: &[MembershipChange]) -> StoreResult<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        transaction!(self, BEGIN_SEGMENTS, |conn| {
            intel::change_memberships(conn, changes).await?
        })
    }

    async fn segment_members(
        &self,
        key: &str,
        page: &PageRequest,
    ) -> StoreResult<Vec<SegmentMember>> {
        if !is_segment_key(key) {
            return Ok(Vec::new());
        }
        let (after, limit) = seek_binds(page);
        self.fetch_all(
            sqlx::query(
                "SELECT customer_id, entered_at FROM segment_members \
                 WHERE segment_key = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3",
            )
            .bind(key)
            .bind(after)
            .bind(limit),
            intel::member,
        )
        .await
    }

    async fn segment_size(&self, key: &str) -> StoreResult<u64> {
        if !is_segment_key(key) {
            return Ok(0);
        }
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM segment_members WHERE segment_key = $1")
                .bind(key)
                .fetch_one(&self.pool)
                .await
                .map_err(from_sqlx)?;
        Ok(n as u64)
    }

    async fn member_ids(&self, key: &str) -> StoreResult<Vec<CustomerId>> {
        if !is_segment_key(key) {
            return Ok(Vec::new());
        }
        self.fetch_all(
            sqlx::query(
                "SELECT customer_id FROM segment_members WHERE segment_key = $1 ORDER BY customer_id",
            )
            .bind(key),
            intel::member_id,
        )
        .await
    }

    async fn customer_segments(&self, id: &CustomerId) -> StoreResult<Vec<CustomerSegment>> {
        self.fetch_all(
            sqlx::query(
                "SELECT segment_key, entered_at FROM segment_members WHERE customer_id = $1 \
                 ORDER BY segment_key",
            )
            .bind(id.as_str()),
            intel::customer_segment,
        )
        .await
    }

    async fn segment_changes(&self, after_id: i64, limit: u32) -> StoreResult<Vec<SegmentChange>> {
        self.fetch_all(
            sqlx::query(
                "SELECT id, segment_key, customer_id, entered, at FROM segment_changes \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(i64::from(limit)),
            intel::segment_change,
        )
        .await
    }

    async fn put_scores(&self, scores: &[CustomerScores]) -> StoreResult<u64> {
        if scores.is_empty() {
            return Ok(0);
        }
        transaction!(self, BEGIN_SHARED, |conn| {
            intel::put_scores(conn, scores).await?
        })
    }

    async fn customer_scores(&self, id: &CustomerId) -> StoreResult<Option<CustomerScores>> {
        self.fetch_optional(
            sqlx::query("SELECT * FROM customer_scores WHERE customer_id = $1").bind(id.as_str()),
            intel::scores,
        )
        .await
    }

    async fn delete_scores(&self, ids: &[CustomerId]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
        let done = sqlx::query("DELETE FROM customer_scores WHERE customer_id = ANY($1::text[])")
            .bind(&ids)
            .execute(&self.pool)
            .await
            .map_err(from_sqlx)?;
        Ok(done.rows_affected())
    }

    async fn customers_with_orders_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<CustomerId>> {
        self.fetch_all(
            sqlx::query(
                "SELECT DISTINCT c.id AS customer_id FROM orders o \
                 LEFT JOIN identities i ON o.customer_id IS NULL AND i.anonymous_id = o.anonymous_id \
                 JOIN customers c ON c.id = coalesce(o.customer_id, i.customer_id) \
                 WHERE o.updated_at >= $1 AND c.merged_into IS NULL ORDER BY c.id",
            )
            .bind(since),
            intel::member_id,
        )
        .await
    }

    async fn all_scores(&self) -> StoreResult<Vec<CustomerScores>> {
        self.fetch_all(
            sqlx::query("SELECT * FROM customer_scores ORDER BY customer_id"),
            intel::scores,
        )
        .await
    }

    async fn profile_data(
        &self,
        ids: &[CustomerId],
        events_since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<ProfileData>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin_with(BEGIN_READ).await.map_err(from_sqlx)?;
        let profiles = intel::profile_data(&mut tx, ids, events_since).await?;
        tx.commit().await.map_err(from_sqlx)?;
        Ok(profiles)
    }

    async fn customer_ids(&self, page: &PageRequest) -> StoreResult<Vec<CustomerId>> {
        let (after, limit) = seek_binds(page);
        self.fetch_all(
            sqlx::query(
                "SELECT id AS customer_id FROM customers \
                 WHERE id > $1 AND merged_into IS NULL ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit),
            intel::member_id,
        )
        .await
    }

    async fn put_model(
        &self,
        key: &str,
        trained_at: DateTime<Utc>,
        bytes: &[u8],
    ) -> StoreResult<()> {
        check_model(key, bytes.len())?;
        let mut conn = self.conn().await?;
        Ok(recs::put_model(&mut conn, key, trained_at, bytes).await?)
    }

    async fn model(&self, key: &str) -> StoreResult<Option<StoredModel>> {
        if !is_model_key(key) {
            return Ok(None);
        }
        self.fetch_optional(
            sqlx::query("SELECT key, trained_at, stored_at, bytes FROM models WHERE key = $1")
                .bind(key),
            recs::model,
        )
        .await
    }

    async fn model_info(&self, key: &str) -> StoreResult<Option<ModelInfo>> {
        if !is_model_key(key) {
            return Ok(None);
        }
        self.fetch_optional(
            sqlx::query("SELECT trained_at, stored_at, size FROM models WHERE key = $1").bind(key),
            recs::model_info,
        )
        .await
    }

    async fn record_recommendations(&self, served: &[ServedRecommendation]) -> StoreResult<u64> {
        let mut rows = first_per_id(served)?;
        if rows.is_empty() {
            return Ok(0);
        }
        // In id order (byte-wise, as the column's collation), so that concurrent writers of
        // the same ids queue rather than deadlock.
        rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        transaction!(self, BEGIN, |conn| {
            recs::record_recommendations(conn, &rows).await?
        })
    }

    async fn recommendation(&self, id: &str) -> StoreResult<Option<ServedRecommendation>> {
        if !is_recommendation_id(id) {
            return Ok(None);
        }
        self.fetch_optional(
            sqlx::query(
                "SELECT id, served_at, placement, person, items, context FROM recommendations \
                 WHERE id = $1",
            )
            .bind(id),
            recs::recommendation,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_lock_key_spells_embudo() {
        let key: i64 = apply_lock!().parse().unwrap();
        assert_eq!(key, 0x456D_6275_646F_0001);
        assert_eq!(&key.to_be_bytes()[..6], b"Embudo");
        let segments: i64 = segments_lock!().parse().unwrap();
        assert_eq!(segments, 0x456D_6275_646F_0002);
    }
}
