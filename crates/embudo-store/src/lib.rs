//! The storage interface of Embudo.
//!
//! [`Store`] is the one trait the rest of Embudo talks to; `embudo-store-sqlite` (the embedded
//! default) and `embudo-store-postgres` implement it, each with its own migrations and SQL.
//! Business rules live outside the backends: the ingest pipeline decides what a tracking
//! message *does* ([`Effect`]s), and a backend only applies those effects atomically together
//! with the message, exactly once per `message_id`.
//!
//! With the `conformance` feature, [`conformance`] holds the test suite that every backend runs
//! unchanged.
#![deny(missing_docs)]

mod error;
pub mod facts;
pub mod intel;
mod keys;
mod model;
pub mod recs;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{StoreError, StoreResult};
pub use keys::{hash_secret, ApiKey, KeyKind, NewKey};
pub use model::{
    refunds_from_history, Applied, Backend, Counts, CurrencyTotals, Effect, Envelope, PageRequest,
    RefundRequest,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use embudo_core::{
    AnonymousId, Customer, CustomerId, CustomerPatch, IdentityMerge, Order, OrderId, Product,
    ProductId, Refund, StatusChange, StoredEvent,
};

/// Everything Embudo keeps. Implementations must be safe to share between tasks; every write
/// method is atomic (all of it is stored or none) and durable when it returns `Ok`.
///
/// Refunds are kept in one place, the refund table: an order's `refunded` history entries are
/// read back from it, and writing an order whose history has `refunded` entries records them
/// there. A refund is identified by its id and, when it names an order, also by (order, time,
/// amount), so the same refund arriving by two routes (an event and the orders API) counts once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which database this is.
    fn backend(&self) -> Backend;

    /// Checks that the database answers (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    // ---- tracking ----

    /// Stores a batch of tracking messages in one transaction and applies the effects of each
    /// message whose `message_id` was not seen before, in order. A repeated `message_id` (in
    /// this batch or earlier) is reported as [`Applied::Duplicate`] and has no effect.
    /// The result has one entry per envelope, in the same order.
    ///
    /// Each stored event is resolved to a person: its `user_id` (following customer merges) or,
    /// for an anonymous event, the customer its `anonymous_id` is linked to, if any.
    async fn apply(&self, batch: Vec<Envelope>) -> StoreResult<Vec<Applied>>;

    /// Events of a customer (their own and those of every visitor linked to them), newest
    /// first.
    async fn customer_events(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<StoredEvent>>;

    /// Events sent with this anonymous id, newest first (as [`Store::customer_events`]), at
    /// most `limit`: all of them, whether or not the visitor has since been linked to a
    /// customer (their `customer_id` then names that customer).
    async fn visitor_events(
        &self,
        anonymous_id: &AnonymousId,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The customer an anonymous visitor is linked to, if any.
    async fn visitor_customer(&self, anonymous_id: &AnonymousId)
        -> StoreResult<Option<CustomerId>>;

    /// The identity merges into a customer, oldest first.
    async fn identity_merges(&self, id: &CustomerId) -> StoreResult<Vec<IdentityMerge>>;

    // ---- catalog ----

    /// Creates or replaces products (by id) in one transaction. Returns how many were written.
    async fn upsert_products(&self, products: &[Product]) -> StoreResult<u64>;

    /// One product.
    async fn product(&self, id: &ProductId) -> StoreResult<Option<Product>>;

    /// Products ordered by id, after the page's cursor.
    async fn products(&self, page: &PageRequest) -> StoreResult<Vec<Product>>;

    // ---- customers ----

    /// Creates customers or updates them with the given fields (see [`CustomerPatch`]).
    async fn upsert_customers(&self, patches: &[CustomerPatch]) -> StoreResult<u64>;

    /// One customer. A customer merged into another is still returned, with `merged_into` set.
    async fn customer(&self, id: &CustomerId) -> StoreResult<Option<Customer>>;

    /// Customers ordered by id, after the page's cursor.
    async fn customers(&self, page: &PageRequest) -> StoreResult<Vec<Customer>>;

    /// A customer's orders, newest first.
    async fn customer_orders(&self, id: &CustomerId, limit: u32) -> StoreResult<Vec<Order>>;

    // ---- orders ----

    /// Creates or replaces orders (by id) in one transaction: header and lines are replaced,
    /// status history entries are added to the stored ones (an identical entry is kept once),
    /// and every `refunded` entry is also recorded as a refund (see [`refunds_from_history`]).
    /// Customers named by an order are created when unknown; an order naming both a visitor
    /// and a customer links them.
    async fn upsert_orders(&self, orders: &[Order]) -> StoreResult<u64>;

    /// One order with its full history.
    async fn order(&self, id: &OrderId) -> StoreResult<Option<Order>>;

    /// Orders ordered by id, after the page's cursor.
    async fn orders(&self, page: &PageRequest) -> StoreResult<Vec<Order>>;

    /// Adds a status change to an order (an identical entry is kept once). A `refunded` change
    /// is also recorded as a refund. Returns the updated order, or `None` if it is unknown.
    async fn add_order_status(
        &self,
        id: &OrderId,
        change: &StatusChange,
    ) -> StoreResult<Option<Order>>;

    /// Records refunds; one whose id is already stored is ignored. A refund naming a known
    /// order also adds a `refunded` entry to that order's history. Returns how many were new.
    async fn record_refunds(&self, refunds: &[Refund]) -> StoreResult<u64>;

    /// The refunds of an order, oldest first.
    async fn order_refunds(&self, id: &OrderId) -> StoreResult<Vec<Refund>>;

    // ---- keys ----

    /// Stores a new API key (only its hash).
    async fn insert_key(&self, key: &ApiKey) -> StoreResult<()>;

    /// The key whose secret hashes to `hash`, if it exists and is not revoked.
    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKey>>;

    /// All keys, revoked ones included, oldest first.
    async fn keys(&self) -> StoreResult<Vec<ApiKey>>;

    /// Revokes a key by id. Returns false when there is no such key.
    async fn revoke_key(&self, id: &str) -> StoreResult<bool>;

    // ---- facts ----

    /// How many rows of each kind are stored.
    async fn counts(&self) -> StoreResult<Counts>;

    /// Order and refund totals per currency, over all time.
    async fn totals(&self) -> StoreResult<Vec<CurrencyTotals>>;

    /// Events in `query.range` with one of its names, in (time, seq) order.
    async fn event_facts(&self, query: &facts::EventQuery) -> StoreResult<Vec<facts::EventFact>>;

    /// Distinct people (see [`facts`]) with an event (`track`, `page` or `screen`) in `range`.
    async fn count_people(&self, range: facts::TimeRange) -> StoreResult<u64>;

    /// Orders placed in `range`, in (placed time, id) order.
    async fn order_facts(&self, range: facts::TimeRange) -> StoreResult<Vec<facts::OrderFact>>;

    /// Refunds made in `range`, in time order.
    async fn refund_facts(&self, range: facts::TimeRange) -> StoreResult<Vec<facts::RefundFact>>;

    /// Every customer that is not merged into another.
    async fn customer_facts(&self) -> StoreResult<Vec<facts::CustomerFact>>;

    /// Where the analytics history stands now (see [`facts::Marks`]).
    async fn fact_marks(&self) -> StoreResult<facts::Marks>;

    /// A fingerprint of the customers analytics reads.
    async fn customer_mark(&self) -> StoreResult<facts::Fingerprint>;

    /// The identity log entries with `after < id <= through`, in order.
    async fn identity_changes(
        &self,
        after: i64,
        through: i64,
    ) -> StoreResult<Vec<facts::IdentityChange>>;

    // ---- customer intelligence (see [`intel`]) ----

    /// Creates or replaces a segment definition by key, keeping the `created_at` of one that
    /// exists. An invalid key is refused as a conflict.
    async fn put_segment(&self, segment: &intel::SegmentRecord) -> StoreResult<()>;

    /// One segment definition.
    async fn segment(&self, key: &str) -> StoreResult<Option<intel::SegmentRecord>>;

    /// All segment definitions, by key.
    async fn segments(&self) -> StoreResult<Vec<intel::SegmentRecord>>;

    /// Deletes a segment definition and its members, logging a `left` change at `at` for each
    /// member (by customer id). Returns false when there is no such segment.
    async fn delete_segment(&self, key: &str, at: DateTime<Utc>) -> StoreResult<bool>;

    /// Applies membership changes in order, in one transaction: an entry adds a customer that
    /// is not a member yet, an exit removes one that is; each change that takes effect is
    /// logged, one that changes nothing is not. Entries of customers that do not exist or are
    /// merged are skipped; entering a segment that is not defined is refused as a conflict.
    /// Returns how many changes took effect.
    async fn change_memberships(&self, changes: &[intel::MembershipChange]) -> StoreResult<u64>;

    /// Members of a segment ordered by customer id, after the page's cursor.
    async fn segment_members(
        &self,
        key: &str,
        page: &PageRequest,
    ) -> StoreResult<Vec<intel::SegmentMember>>;

    /// How many members a segment has.
    async fn segment_size(&self, key: &str) -> StoreResult<u64>;

    /// Every member of a segment, by id.
    async fn member_ids(&self, key: &str) -> StoreResult<Vec<CustomerId>>;

    /// The segments a customer is in, by key.
    async fn customer_segments(&self, id: &CustomerId) -> StoreResult<Vec<intel::CustomerSegment>>;

    /// Membership history entries with an id above `after_id`, in id order, at most `limit`.
    async fn segment_changes(
        &self,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<intel::SegmentChange>>;

    /// Creates or replaces customers' scores in one transaction (of a customer named twice,
    /// the last row wins). Rows of customers that do not exist or are merged are skipped.
    /// Returns how many customers' scores were written.
    async fn put_scores(&self, scores: &[intel::CustomerScores]) -> StoreResult<u64>;

    /// A customer's scores.
    async fn customer_scores(&self, id: &CustomerId) -> StoreResult<Option<intel::CustomerScores>>;

    /// Every customer's scores, by customer id.
    async fn all_scores(&self) -> StoreResult<Vec<intel::CustomerScores>>;

    /// Deletes these customers' scores (those no longer scored); returns how many rows went.
    async fn delete_scores(&self, ids: &[CustomerId]) -> StoreResult<u64>;

    /// The customers (not merged away) with an order created or changed at or after `since`
    /// (placed, a status added, moved by a merge), for re-evaluating their segments.
    async fn customers_with_orders_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<CustomerId>>;

    /// What the segment evaluator needs of these customers (see [`intel::ProfileData`]), read
    /// from one state of the database, by customer id. Customers that do not exist or are
    /// merged are left out; events before `events_since`, when given, too.
    async fn profile_data(
        &self,
        ids: &[CustomerId],
        events_since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<intel::ProfileData>>;

    /// Ids of the customers not merged into another, ordered, after the page's cursor.
    async fn customer_ids(&self, page: &PageRequest) -> StoreResult<Vec<CustomerId>>;

    // ---- recommendations (see [`recs`]) ----

    /// Creates or replaces the model under `key`, atomically: readers see the old model or
    /// the new one. The store sets its `stored_at` (later than the replaced model's). A key
    /// that is not valid ([`recs::is_model_key`]) or a model larger than
    /// [`recs::MAX_MODEL_BYTES`] is refused as a conflict.
    async fn put_model(
        &self,
        key: &str,
        trained_at: DateTime<Utc>,
        bytes: &[u8],
    ) -> StoreResult<()>;

    /// The model under `key`, with its bytes.
    async fn model(&self, key: &str) -> StoreResult<Option<recs::StoredModel>>;

    /// `trained_at`, `stored_at` and the size in bytes of the model under `key`, without
    /// reading its bytes: cheap enough to poll for a newer model.
    async fn model_info(&self, key: &str) -> StoreResult<Option<recs::ModelInfo>>;

    /// Records served recommendations in one transaction. A row whose id is stored already
    /// (or came earlier in the batch) is ignored; a row with an invalid id
    /// ([`recs::is_recommendation_id`]) refuses the whole batch as a conflict. Returns how
    /// many rows were new.
    async fn record_recommendations(
        &self,
        served: &[recs::ServedRecommendation],
    ) -> StoreResult<u64>;

    /// One served recommendation.
    async fn recommendation(&self, id: &str) -> StoreResult<Option<recs::ServedRecommendation>>;
}
