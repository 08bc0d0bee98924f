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
    /// Whether to read the details kept in the properties (product, category, value,
    /// currency); without them the read is several times faster.
    pub details: bool,
    /// Only events whose sequence number is in this range (all when absent).
    pub seqs: Option<SeqRange>,
}

/// Sequence numbers `after < seq <= through`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// Exclusive start.
    pub after: i64,
    /// Inclusive end.
    pub through: i64,
}

/// Where the history analytics reads stood at one moment, cheap to read, so that a copy kept
/// in memory can tell whether it is still up to date and what to read to catch up.
///
/// Every event with a sequence number up to `events`, and every identity change with an id up
/// to `identities`, was committed when the marks were read: none can appear later below them
/// (on PostgreSQL, reading the marks waits for the tracking batches in flight).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// The last event sequence number (0 without events).
    pub events: i64,
    /// The last id of the identity log (links and merges; 0 without any).
    pub identities: i64,
    /// The orders, with their lines and status history (changes bump their update time).
    pub orders: Fingerprint,
    /// The refunds.
    pub refunds: Fingerprint,
}

/// A fingerprint of a table: its rows and a checksum of their update times. Any insert and
/// any change that moves an update time changes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// How many rows.
    pub rows: i64,
    /// The sum over the rows of their update time in microseconds modulo 1,000,000,007 (plus,
    /// for refunds, the amount).
    pub checksum: i64,
}

/// The modulus of [`Fingerprint::checksum`] terms.
pub const FINGERPRINT_MODULUS: i64 = 1_000_000_007;

/// One entry of the identity log, in the order the changes happened. Replaying them on the
/// person keys of events read earlier gives the keys those events have now:
/// - a link (`anonymous_id` set): the events whose person is the visitor `v:<anonymous_id>`
///   now belong to `c:<into_customer>`;
/// - a merge (`from_customer` set): the events of `c:<from_customer>` now belong to
///   `c:<into_customer>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityChange {
    /// Its id in the log.
    pub id: i64,
    /// The visitor linked.
    pub anonymous_id: Option<String>,
    /// The customer merged away.
    pub from_customer: Option<String>,
    /// The customer they now belong to.
    pub into_customer: String,
}

impl IdentityChange {
    /// The person key whose events move, and the key they move to.
    pub fn person_keys(&self) -> Option<(String, String)> {
        let from = match (&self.anonymous_id, &self.from_customer) {
            (_, Some(customer)) => customer_person(customer),
            (Some(visitor), None) => visitor_person(visitor),
            (None, None) => return None,
        };
        Some((from, customer_person(&self.into_customer)))
    }
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

impl EventFact {
    /// An event with only its sequence number, time, person and name (everything else absent).
    pub fn new(
        seq: i64,
        at: DateTime<Utc>,
        person: impl Into<String>,
        event: impl Into<String>,
    ) -> Self {
        Self {
            seq,
            at,
            person: person.into(),
            customer_id: None,
            event: event.into(),
            session_id: None,
            product_id: None,
            category: None,
            value: None,
            currency: None,
            device: None,
            country: None,
            source: None,
            medium: None,
            campaign: None,
        }
    }
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

/// The person key of an event: its customer, else its visitor, else its message.
pub fn event_person(
    customer_id: Option<&str>,
    anonymous_id: Option<&str>,
    message_id: &str,
) -> String {
    match (customer_id, anonymous_id) {
        (Some(c), _) => customer_person(c),
        (None, Some(a)) => visitor_person(a),
        (None, None) => format!("m:{message_id}"),
    }
}

/// The person key of an order: its customer, else its visitor, else the order itself.
pub fn order_person(
    customer_id: Option<&str>,
    anonymous_id: Option<&str>,
    order_id: &str,
) -> String {
    match (customer_id, anonymous_id) {
        (Some(c), _) => customer_person(c),
        (None, Some(a)) => visitor_person(a),
        (None, None) => format!("o:{order_id}"),
    }
}

/// The top level of a category path (`Home > Kitchen` → `Home`); none when empty.
pub fn top_category(path: &str) -> Option<String> {
    let top = path.split(" > ").next().unwrap_or("").trim();
    (!top.is_empty()).then(|| top.to_owned())
}

/// What analytics reads from an event's properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventDetails {
    /// `product_id`, else `sku`.
    pub product_id: Option<String>,
    /// The top level of `category`.
    pub category: Option<String>,
    /// See [`EventFact::value`].
    pub value: Option<i64>,
    /// `currency`, when it is a known ISO 4217 code.
    pub currency: Option<Currency>,
}

/// Reads [`EventDetails`] from an event's properties. Amounts without a currency are read
/// with two decimals (the minor unit of most currencies); amounts that are not numbers are
/// left out.
pub fn event_details(properties: &serde_json::Value) -> EventDetails {
    let text = |key: &str| match properties.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let currency = text("currency").and_then(|c| Currency::parse(&c.to_ascii_uppercase()).ok());
    let exponent = currency.map_or(2, |c| c.exponent());
    let minor = |key: &str| -> Option<i64> {
        let amount = properties.get(key)?;
        let decimal = match amount {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.trim().to_owned(),
            _ => return None,
        };
        embudo_core::decimal_to_minor(&decimal, exponent, false).ok()
    };
    let value = match minor("price") {
        Some(price) => {
            let quantity = properties
                .get("quantity")
                .and_then(|q| q.as_f64())
                .filter(|q| q.is_finite() && *q > 0.0)
                .map_or(1, |q| q.round() as i64);
            price.checked_mul(quantity)
        }
        None => minor("revenue")
            .or_else(|| minor("total"))
            .or_else(|| minor("value")),
    };
    EventDetails {
        product_id: text("product_id").or_else(|| text("sku")),
        category: text("category").as_deref().and_then(top_category),
        value,
        currency,
    }
}

/// [`event_details`] of properties stored as JSON text (nothing for text that is not JSON).
pub fn event_details_text(properties: &str) -> EventDetails {
    if properties.len() <= 2 {
        return EventDetails::default();
    }
    serde_json::from_str::<serde_json::Value>(properties)
        .map(|p| event_details(&p))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn details_of_product_and_order_events() {
        let d = event_details(
            &json!({"product_id": "p1", "category": "Home > Kitchen", "price": 19.99, "quantity": 2, "currency": "eur"}),
        );
        assert_eq!(d.product_id.as_deref(), Some("p1"));
        assert_eq!(d.category.as_deref(), Some("Home"));
        assert_eq!(d.value, Some(3998));
        assert_eq!(d.currency.map(|c| c.code()), Some("EUR"));
        let d = event_details(&json!({"sku": 42, "price": "1000", "currency": "JPY"}));
        assert_eq!((d.product_id.as_deref(), d.value), (Some("42"), Some(1000)));
        let d = event_details(&json!({"order_id": "o1", "total": 30, "revenue": 25.5}));
        assert_eq!((d.value, d.currency), (Some(2550), None));
        assert_eq!(event_details(&json!({"price": "free"})).value, None);
        assert_eq!(event_details(&json!([1])), EventDetails::default());
    }

    #[test]
    fn person_keys() {
        assert_eq!(event_person(Some("ann"), Some("v1"), "m"), "c:ann");
        assert_eq!(event_person(None, Some("v1"), "m"), "v:v1");
        assert_eq!(event_person(None, None, "m"), "m:m");
        assert_eq!(order_person(None, None, "o1"), "o:o1");
        assert_eq!(top_category("  "), None);
    }
}
