//! The shop's history as analytics reads it: flat rows of events, orders, refunds and
//! customers over a time range, the same from every backend.
//!
//! A *person* is the unit of analytics: the customer an event was resolved to, or, while it is
//! anonymous, its visitor. Person keys are `c:<customer id>` and `v:<anonymous id>` (and
//! `m:<message id>` for the rare message with neither), so a visitor linked to a customer
//! counts as that customer in every report, with the history from before the link.

use chrono::{DateTime, Utc};
use embudo_core::{Currency, CustomerId, CustomerType, OrderId, ProductId};

/// A half-open time range `[from, to)`; an absent end is open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive end.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// `[from, to)`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            from: Some(from),
            to: Some(to),
        }
    }

    /// Everything before `to`.
    pub fn until(to: DateTime<Utc>) -> Self {
        Self {
            from: None,
            to: Some(to),
        }
    }

    /// All time.
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether `at` is inside.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

/// Which events to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// When they happened.
    pub range: TimeRange,
    /// Only these event names (all when empty). Page views are "Page Viewed", screens
    /// "Screen Viewed"; `identify`, `alias` and `group` calls are never facts.
    pub names: Vec<String>,
}

/// One event (a `track`, `page` or `screen` call).
#[derive(Debug, Clone, PartialEq)]
pub struct EventFact {
    /// The store's sequence number: order of arrival, and the tie-break between events with
    /// the same time.
    pub seq: i64,
    /// When it happened (the client's time, corrected for clock skew).
    pub at: DateTime<Utc>,
    /// The person (see the module documentation).
    pub person: String,
    /// The customer, when the event is resolved to one.
    pub customer_id: Option<CustomerId>,
    /// The event name.
    pub event: String,
    /// The session the client sent, if any.
    pub session_id: Option<String>,
    /// `properties.product_id` (or `properties.sku`) of product events.
    pub product_id: Option<String>,
    /// `properties.category` of product events.
    pub category: Option<String>,
    /// What the event is worth in minor units of `currency`: `price × quantity` (quantity 1
    /// when absent) for product events; `revenue`, else `total`, else `value` for others.
    pub value: Option<i64>,
    /// The currency of `value` (`properties.currency`, else the shop's default).
    pub currency: Option<Currency>,
    /// `context.device.type`.
    pub device: Option<String>,
    /// The visitor's country.
    pub country: Option<String>,
    /// UTM source (or the referrer's host when there is no campaign).
    pub source: Option<String>,
    /// UTM medium.
    pub medium: Option<String>,
    /// UTM campaign.
    pub campaign: Option<String>,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFact {
    /// The product.
    pub product_id: ProductId,
    /// The product's top-level category, when the catalog knows the product.
    pub category: Option<String>,
    /// Units.
    pub quantity: i64,
    /// `quantity × unit price − line discount`, in minor units of the order's currency.
    pub amount: i64,
}

/// One order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFact {
    /// Its id.
    pub id: OrderId,
    /// The customer (after merges), or none for a guest order.
    pub customer_id: Option<CustomerId>,
    /// The person who placed it (see the module documentation): the customer, else the
    /// visitor, else `o:<order id>` for a guest nobody can recognise.
    pub person: String,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Its currency.
    pub currency: Currency,
    /// Merchandise revenue: the sum of its product lines, in minor units.
    pub merchandise: i64,
    /// What the customer paid in all (merchandise, shipping, tax, fees, less discounts).
    pub total: i64,
    /// Attribution.
    pub source: Option<String>,
    /// Attribution.
    pub medium: Option<String>,
    /// Attribution.
    pub campaign: Option<String>,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// Its product lines.
    pub lines: Vec<LineFact>,
}

/// One refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFact {
    /// The order refunded, when known.
    pub order_id: Option<OrderId>,
    /// The customer (after merges), when known.
    pub customer_id: Option<CustomerId>,
    /// When it was refunded.
    pub at: DateTime<Utc>,
    /// The currency.
    pub currency: Currency,
    /// The amount, in minor units (positive).
    pub amount: i64,
}

/// One customer (not merged into another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFact {
    /// Its id.
    pub id: CustomerId,
    /// Consumer, business or government.
    pub customer_type: CustomerType,
    /// Its country, when known.
    pub country: Option<String>,
    /// When it was first seen.
    pub first_seen: Option<DateTime<Utc>>,
}

impl CustomerFact {
    /// The person key of this customer.
    pub fn person(&self) -> String {
        customer_person(self.id.as_str())
    }
}

/// The person key of a customer.
pub fn customer_person(id: &str) -> String {
    format!("c:{id}")
}

/// The person key of an anonymous visitor.
pub fn visitor_person(anonymous_id: &str) -> String {
    format!("v:{anonymous_id}")
}
