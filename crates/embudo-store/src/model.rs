//! The values that cross the [`crate::Store`] interface besides the domain types.

use chrono::{DateTime, Utc};
use embudo_core::{
    AnonymousId, Currency, CustomerId, CustomerPatch, MergeReason, Message, Order, OrderId, Refund,
    RefundId, StatusChange, StatusKind, MAX_ID_LEN,
};
use serde::{Deserialize, Serialize};

/// Which database a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A tracking message and what it does to the shop's data the first time it is seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The message, stored as an event.
    pub message: Message,
    /// Its effects, applied in order in the same transaction, only if the message is new.
    pub effects: Vec<Effect>,
}

/// One change a tracking message makes besides being stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Create or update a customer profile.
    UpsertCustomer(CustomerPatch),
    /// The visitor is this customer: link them, and give the visitor's stored events (those not
    /// yet resolved to a customer) to the customer. Linking an already-linked visitor to the
    /// same customer does nothing; linking it to another customer re-links it and records it.
    LinkVisitor {
        /// The visitor.
        anonymous_id: AnonymousId,
        /// The customer.
        customer_id: CustomerId,
        /// Why.
        reason: MergeReason,
    },
    /// Two customers are one person: `from`'s events, orders, refunds and visitors move to
    /// `into`, `from` is marked `merged_into = into`, and later events naming `from` resolve to
    /// `into`. Nothing is deleted. When `from` is not a stored customer (an `alias` whose
    /// previous id was a visitor's), this does nothing; the ingest pipeline sends a
    /// `LinkVisitor` for that case.
    MergeCustomers {
        /// The customer folded in.
        from: CustomerId,
        /// The customer that stays.
        into: CustomerId,
    },
    /// Create or replace an order, as [`crate::Store::upsert_orders`] does.
    UpsertOrder(Box<Order>),
    /// Add a status change to an order; ignored when the order is unknown.
    OrderStatus {
        /// The order.
        order_id: OrderId,
        /// The change.
        change: StatusChange,
    },
    /// Record a refund, as [`crate::Store::record_refunds`] does.
    Refund(RefundRequest),
}

/// A refund asked for by a tracking message, whose amount may be left to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// Unique id (derived from the message id).
    pub id: RefundId,
    /// The order refunded.
    pub order_id: OrderId,
    /// When.
    pub at: DateTime<Utc>,
    /// The amount in minor units; `None` refunds what is left of the order's total (nothing
    /// is recorded when the order is unknown).
    pub amount: Option<i64>,
    /// The currency, when the message gave one (else the order's).
    pub currency: Option<Currency>,
    /// Why.
    pub reason: Option<String>,
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Stored now, with its effects.
    Inserted,
    /// Its `message_id` was stored before; nothing changed.
    Duplicate,
}

/// A page of a listing ordered by id.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, utoipa::IntoParams)]
pub struct PageRequest {
    /// Return rows with an id greater than this (the last id of the previous page).
    pub after: Option<String>,
    /// At most this many rows (capped at 1000; default 100).
    pub limit: Option<u32>,
}

impl PageRequest {
    /// The effective limit.
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }
}

/// How many rows of each kind a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Counts {
    /// Tracking messages.
    pub events: i64,
    /// Customers (merged ones included).
    pub customers: i64,
    /// Visitors linked to a customer.
    pub linked_visitors: i64,
    /// Orders.
    pub orders: i64,
    /// Orders without a customer.
    pub guest_orders: i64,
    /// Products in the catalog.
    pub products: i64,
    /// Refunds.
    pub refunds: i64,
}

/// Order and refund totals in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CurrencyTotals {
    /// The currency.
    pub currency: Currency,
    /// Orders placed in it.
    pub orders: i64,
    /// Distinct customers with an order in it.
    pub customers_with_orders: i64,
    /// Distinct products on product lines.
    pub products_sold: i64,
    /// Σ of product lines (quantity × unit price − line discount), minor units.
    pub merchandise_revenue: i64,
    /// Σ of refunds in this currency, minor units.
    pub refunds: i64,
}

/// The refunds implied by an order's `refunded` history entries, with deterministic ids
/// (`{order}/refund/{time in microseconds}/{amount}`) so that upserting the same order again
/// adds none.
/// Entries without an amount refund the order's whole total.
pub fn refunds_from_history(order: &Order) -> Vec<Refund> {
    order
        .history
        .iter()
        .filter(|c| c.status == StatusKind::Refunded)
        .map(|c| {
            let amount = c.amount.unwrap_or_else(|| order.total());
            let id = format!("{}/refund/{}/{}", order.id, c.at.timestamp_micros(), amount);
            Refund {
                id: RefundId::parse(truncate_id(id)).expect("derived refund id is valid"),
                order_id: Some(order.id.clone()),
                customer_id: order.customer_id.clone(),
                at: c.at,
                amount,
                currency: order.currency,
                reason: c.note.clone(),
            }
        })
        .collect()
}

fn truncate_id(mut id: String) -> String {
    // Keep derived ids within the id length bound.
    if id.len() > MAX_ID_LEN {
        let mut cut = MAX_ID_LEN;
        while !id.is_char_boundary(cut) {
            cut -= 1;
        }
        id.truncate(cut);
    }
    id
}
