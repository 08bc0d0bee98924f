//! Helpers for unit tests: run a parser on bytes and look at what it would write.

use crate::pipeline::{parse_to_vec, Msg};
use crate::{Format, ImportError, ImportOptions, ImportReport};
use embudo_core::{
    AnonymousId, Customer, CustomerId, IdentityMerge, OrderId, ProductId, StatusChange, StoredEvent,
};
use embudo_core::{CustomerPatch, Order, Product, Refund};
use embudo_store::{
    ApiKey, Applied, Backend, Counts, CurrencyTotals, Envelope, PageRequest, Store, StoreError,
    StoreResult,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What a parser sent, by kind.
#[derive(Debug)]
pub(crate) struct Output {
    pub report: ImportReport,
    pub products: Vec<Product>,
    pub customers: Vec<CustomerPatch>,
    pub orders: Vec<Order>,
    pub appends: Vec<Order>,
    pub refunds: Vec<Refund>,
    pub progress: u64,
}

/// Parses files made of `(name, content)` in a temporary directory.
pub(crate) fn parse_files(
    format: Format,
    files: &[(&str, &[u8])],
    options: &ImportOptions,
) -> Result<Output, ImportError> {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|(name, content)| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path
        })
        .collect();
    parse_paths(format, &paths, options)
}

/// Parses existing files or directories.
pub(crate) fn parse_paths(
    format: Format,
    paths: &[PathBuf],
    options: &ImportOptions,
) -> Result<Output, ImportError> {
    let (report, msgs) = parse_to_vec(format, paths, options)?;
    let mut out = Output {
        report,
        products: vec![],
        customers: vec![],
        orders: vec![],
        appends: vec![],
        refunds: vec![],
        progress: 0,
    };
    for msg in msgs {
        match msg {
            Msg::Progress(n) => out.progress += n,
            Msg::Products(v) => out.products.extend(v),
            Msg::Customers(v) => out.customers.extend(v),
            Msg::Orders(v) => out.orders.extend(v),
            Msg::Appends(v) => out.appends.extend(v),
            Msg::Refunds(v) => out.refunds.extend(v),
        }
    }
    Ok(out)
}

/// Parses one file holding `content`.
pub(crate) fn parse_str(
    format: Format,
    content: &[u8],
    options: &ImportOptions,
) -> Result<Output, ImportError> {
    parse_files(format, &[("input.csv", content)], options)
}

/// A real SQLite store (in a temporary directory) behind a thin wrapper that counts order
/// writes and can be switched to fail them, so that tests can see batching and error handling.
pub(crate) struct CountingStore {
    inner: std::sync::Arc<dyn Store>,
    _dir: tempfile::TempDir,
    /// Calls to `upsert_orders`.
    pub order_calls: AtomicUsize,
    /// When set, `upsert_orders` fails as an unavailable database would.
    pub fail_orders: AtomicBool,
}

impl CountingStore {
    pub(crate) async fn new() -> Self {
        let (inner, dir) = embudo_store_sqlite::testing::fresh().await;
        Self {
            inner,
            _dir: dir,
            order_calls: AtomicUsize::new(0),
            fail_orders: AtomicBool::new(false),
        }
    }

    /// Every stored order and product (without its write time), by id, plus counts and totals.
    pub(crate) async fn snapshot(&self) -> (Vec<Order>, Vec<Product>, Counts, Vec<CurrencyTotals>) {
        let mut orders = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: Some(1000),
        };
        loop {
            let got = self.inner.orders(&page).await.unwrap();
            let Some(last) = got.last() else { break };
            page.after = Some(last.id.to_string());
            orders.extend(got);
        }
        let mut products = Vec::new();
        let mut page = PageRequest {
            after: None,
            limit: Some(1000),
        };
        loop {
            let got = self.inner.products(&page).await.unwrap();
            let Some(last) = got.last() else { break };
            page.after = Some(last.id.to_string());
            // `updated_at` is the store's write time, which a re-import moves on purpose.
            products.extend(got.into_iter().map(|p| Product {
                updated_at: None,
                ..p
            }));
        }
        (
            orders,
            products,
            self.inner.counts().await.unwrap(),
            self.inner.totals().await.unwrap(),
        )
    }
}

#[async_trait::async_trait]
impl Store for CountingStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn apply(&self, batch: Vec<Envelope>) -> StoreResult<Vec<Applied>> {
        self.inner.apply(batch).await
    }
    async fn customer_events(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        self.inner.customer_events(id, limit).await
    }
    async fn visitor_customer(&self, id: &AnonymousId) -> StoreResult<Option<CustomerId>> {
        self.inner.visitor_customer(id).await
    }
    async fn identity_merges(&self, id: &CustomerId) -> StoreResult<Vec<IdentityMerge>> {
        self.inner.identity_merges(id).await
    }
    async fn upsert_products(&self, products: &[Product]) -> StoreResult<u64> {
        self.inner.upsert_products(products).await
    }
    async fn product(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        self.inner.product(id).await
    }
    async fn products(&self, page: &PageRequest) -> StoreResult<Vec<Product>> {
        self.inner.products(page).await
    }
    async fn upsert_customers(&self, patches: &[CustomerPatch]) -> StoreResult<u64> {
        self.inner.upsert_customers(patches).await
    }
    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<Customer>> {
        self.inner.customer(id).await
    }
    async fn customers(&self, page: &PageRequest) -> StoreResult<Vec<Customer>> {
        self.inner.customers(page).await
    }
    async fn customer_orders(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<Order>> {
        self.inner.customer_orders(id, limit).await
    }
    async fn upsert_orders(&self, orders: &[Order]) -> StoreResult<u64> {
        if self.fail_orders.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("switched off".into()));
        }
        self.order_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.upsert_orders(orders).await
    }
    async fn order(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        self.inner.order(id).await
    }
    async fn orders(&self, page: &PageRequest) -> StoreResult<Vec<Order>> {
        self.inner.orders(page).await
    }
    async fn add_order_status(
        &self,
        id: &OrderId,
        change: &StatusChange,
    ) -> StoreResult<Option<Order>> {
        self.inner.add_order_status(id, change).await
    }
    async fn record_refunds(&self, refunds: &[Refund]) -> StoreResult<u64> {
        self.inner.record_refunds(refunds).await
    }
    async fn order_refunds(&self, id: &OrderId) -> StoreResult<Vec<Refund>> {
        self.inner.order_refunds(id).await
    }
    async fn insert_key(&self, key: &ApiKey) -> StoreResult<()> {
        self.inner.insert_key(key).await
    }
    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>> {
        self.inner.key_by_hash(hash).await
    }
    async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
        self.inner.keys().await
    }
    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        self.inner.revoke_key(id).await
    }
    async fn counts(&self) -> StoreResult<Counts> {
        self.inner.counts().await
    }
    async fn totals(&self) -> StoreResult<Vec<CurrencyTotals>> {
        self.inner.totals().await
    }
    async fn event_facts(
        &self,
        query: &embudo_store::facts::EventQuery,
    ) -> StoreResult<Vec<embudo_store::facts::EventFact>> {
        self.inner.event_facts(query).await
    }
    async fn count_people(&self, range: embudo_store::facts::TimeRange) -> StoreResult<u64> {
        self.inner.count_people(range).await
    }
    async fn order_facts(
        &self,
        range: embudo_store::facts::TimeRange,
    ) -> StoreResult<Vec<embudo_store::facts::OrderFact>> {
        self.inner.order_facts(range).await
    }
    async fn refund_facts(
        &self,
        range: embudo_store::facts::TimeRange,
    ) -> StoreResult<Vec<embudo_store::facts::RefundFact>> {
        self.inner.refund_facts(range).await
    }
    async fn customer_facts(&self) -> StoreResult<Vec<embudo_store::facts::CustomerFact>> {
        self.inner.customer_facts().await
    }
    async fn fact_marks(&self) -> StoreResult<embudo_store::facts::Marks> {
        self.inner.fact_marks().await
    }
    async fn customer_mark(&self) -> StoreResult<embudo_store::facts::Fingerprint> {
        self.inner.customer_mark().await
    }
    async fn identity_changes(
        &self,
        after: i64,
        through: i64,
    ) -> StoreResult<Vec<embudo_store::facts::IdentityChange>> {
        self.inner.identity_changes(after, through).await
    }
    async fn put_segment(&self, segment: &embudo_store::intel::SegmentRecord) -> StoreResult<()> {
        self.inner.put_segment(segment).await
    }
    async fn segment(&self, key: &str) -> StoreResult<Option<embudo_store::intel::SegmentRecord>> {
        self.inner.segment(key).await
    }
    async fn segments(&self) -> StoreResult<Vec<embudo_store::intel::SegmentRecord>> {
        self.inner.segments().await
    }
    async fn delete_segment(
        &self,
        key: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        self.inner.delete_segment(key, at).await
    }
    async fn change_memberships(
        &self,
        changes: &[embudo_store::intel::MembershipChange],
    ) -> StoreResult<u64> {
        self.inner.change_memberships(changes).await
    }
    async fn segment_members(
        &self,
        key: &str,
        page: &PageRequest,
    ) -> StoreResult<Vec<embudo_store::intel::SegmentMember>> {
        self.inner.segment_members(key, page).await
    }
    async fn segment_size(&self, key: &str) -> StoreResult<u64> {
        self.inner.segment_size(key).await
    }
    async fn member_ids(&self, key: &str) -> StoreResult<Vec<CustomerId>> {
        self.inner.member_ids(key).await
    }
    async fn customer_segments(
        &self,
        id: &CustomerId,
    ) -> StoreResult<Vec<embudo_store::intel::CustomerSegment>> {
        self.inner.customer_segments(id).await
    }
    async fn segment_changes(
        &self,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<embudo_store::intel::SegmentChange>> {
        self.inner.segment_changes(after_id, limit).await
    }
    async fn put_scores(&self, scores: &[embudo_store::intel::CustomerScores]) -> StoreResult<u64> {
        self.inner.put_scores(scores).await
    }
    async fn delete_scores(&self, ids: &[embudo_core::CustomerId]) -> StoreResult<u64> {
        self.inner.delete_scores(ids).await
    }
    async fn customers_with_orders_changed_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<embudo_core::CustomerId>> {
        self.inner.customers_with_orders_changed_since(since).await
    }
    async fn customer_scores(
        &self,
        id: &CustomerId,
    ) -> StoreResult<Option<embudo_store::intel::CustomerScores>> {
        self.inner.customer_scores(id).await
    }
    async fn all_scores(&self) -> StoreResult<Vec<embudo_store::intel::CustomerScores>> {
        self.inner.all_scores().await
    }
    async fn profile_data(
        &self,
        ids: &[CustomerId],
        events_since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> StoreResult<Vec<embudo_store::intel::ProfileData>> {
        self.inner.profile_data(ids, events_since).await
    }
    async fn customer_ids(&self, page: &PageRequest) -> StoreResult<Vec<CustomerId>> {
        self.inner.customer_ids(page).await
    }
    async fn visitor_events(
        &self,
        anonymous_id: &AnonymousId,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.inner.visitor_events(anonymous_id, limit).await
    }
    async fn put_model(
        &self,
        key: &str,
        trained_at: chrono::DateTime<chrono::Utc>,
        bytes: &[u8],
    ) -> StoreResult<()> {
        self.inner.put_model(key, trained_at, bytes).await
    }
    async fn model(&self, key: &str) -> StoreResult<Option<embudo_store::recs::StoredModel>> {
        self.inner.model(key).await
    }
    async fn model_info(&self, key: &str) -> StoreResult<Option<embudo_store::recs::ModelInfo>> {
        self.inner.model_info(key).await
    }
    async fn record_recommendations(
        &self,
        served: &[embudo_store::recs::ServedRecommendation],
    ) -> StoreResult<u64> {
        self.inner.record_recommendations(served).await
    }
    async fn recommendation(
        &self,
        id: &str,
    ) -> StoreResult<Option<embudo_store::recs::ServedRecommendation>> {
        self.inner.recommendation(id).await
    }
}
