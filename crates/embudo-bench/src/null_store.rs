//! A store that takes tracking batches without writing them: the experiment that shows what
//! the server costs without its database (HTTP, keys, parsing, effects, group commit).
//!
//! `apply` counts the envelopes and answers "inserted" for each; `counts` reports that count
//! as `events`, so the benchmark's check still compares acknowledged with "stored". Every
//! other call goes to the real store underneath (the key lookup, for one).

use async_trait::async_trait;
use embudo_core::{
    AnonymousId, Customer, CustomerId, CustomerPatch, IdentityMerge, Order, OrderId, Product,
    ProductId, Refund, StatusChange, StoredEvent,
};
use embudo_store::{
    ApiKey, Applied, Backend, Counts, CurrencyTotals, Envelope, PageRequest, Store, StoreResult,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// See the module documentation.
pub struct NullApply {
    inner: Arc<dyn Store>,
    applied: AtomicU64,
}

impl NullApply {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            applied: AtomicU64::new(0),
        }
    }
}

#[async_trait]
impl Store for NullApply {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn apply(&self, batch: Vec<Envelope>) -> StoreResult<Vec<Applied>> {
        self.applied
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(vec![Applied::Inserted; batch.len()])
    }
    async fn customer_events(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        self.inner.customer_events(id, limit).await
    }
    async fn visitor_customer(
        &self,
        anonymous_id: &AnonymousId,
    ) -> StoreResult<Option<CustomerId>> {
        self.inner.visitor_customer(anonymous_id).await
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
        let mut counts = self.inner.counts().await?;
        counts.events = self.applied.load(Ordering::Relaxed) as i64;
        Ok(counts)
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
