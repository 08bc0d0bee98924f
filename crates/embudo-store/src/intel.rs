//! Customer intelligence as the store keeps it: segment definitions, who is in each segment
//! (with the history of entries and exits), per-customer scores written by batch jobs, and
//! the profile rows the segment evaluator reads.
//!
//! The store does not evaluate anything: the segment language is opaque text here, scores are
//! any JSON, and which customers enter or leave a segment is decided by the service, which
//! hands the store [`MembershipChange`]s.
//!
//! Rules every backend keeps:
//! - only customers that exist and are not merged into another can be members or have scores;
//!   a change or a score row naming any other customer is skipped;
//! - entering a segment that is not defined is refused as a conflict (nothing is written);
//! - when a customer is merged into another, the merged-away customer leaves every segment
//!   (logged as a `left` change at the merge's time) and its scores are deleted; the service
//!   re-evaluates the customer that stays;
//! - [`SegmentChange`] ids grow in commit order, so reading "after the last id seen" misses
//!   nothing.

use chrono::{DateTime, Utc};
use embudo_core::{Currency, Customer, CustomerId, OrderId, ProductId};
use std::collections::HashMap;

use crate::facts::{event_details, EventDetails};
use crate::{StoreError, StoreResult};

/// The longest segment key, in bytes.
pub const MAX_SEGMENT_KEY_LEN: usize = 64;

/// Whether `key` is a valid segment key: 1 to 64 characters of `a-z`, `0-9`, `_` and `-`.
pub fn is_segment_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_SEGMENT_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A segment definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRecord {
    /// Its key, a slug: 1 to 64 characters of `a-z`, `0-9`, `_` and `-` (see [`is_segment_key`]).
    pub key: String,
    /// Its display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The definition in the segment language (opaque to the store).
    pub expression: String,
    /// Whether Embudo made it (the VIP segment, say): users may not delete it. The store does
    /// not enforce this; the service does.
    pub system: bool,
    /// When it was first defined (kept when the definition is replaced).
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl SegmentRecord {
    /// Checks what the store requires of a definition: a valid key.
    pub fn check(&self) -> StoreResult<()> {
        if is_segment_key(&self.key) {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "segment key `{}` is invalid: use 1 to {MAX_SEGMENT_KEY_LEN} characters of a-z, 0-9, `_` and `-`",
                self.key.escape_debug()
            )))
        }
    }
}

/// A customer entering or leaving a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    /// The segment's key.
    pub segment: String,
    /// The customer.
    pub customer_id: CustomerId,
    /// Entered (true) or left (false).
    pub entered: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// A member of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentMember {
    /// The customer.
    pub customer_id: CustomerId,
    /// When they entered (the last time, if they left and came back).
    pub entered_at: DateTime<Utc>,
}

/// A segment a customer is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSegment {
    /// The segment's key.
    pub segment: String,
    /// When the customer entered it.
    pub entered_at: DateTime<Utc>,
}

/// One entry of the membership history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentChange {
    /// Its id: increasing, in commit order.
    pub id: i64,
    /// The segment's key.
    pub segment: String,
    /// The customer.
    pub customer_id: CustomerId,
    /// Entered (true) or left (false).
    pub entered: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// The scores of one customer (RFM, model predictions…), as a batch job computed them.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerScores {
    /// The customer.
    pub customer_id: CustomerId,
    /// When they were computed.
    pub computed_at: DateTime<Utc>,
    /// The scores, any JSON (usually an object of named numbers).
    pub scores: serde_json::Value,
}

/// What the segment evaluator reads about one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileData {
    /// The customer, as [`crate::Store::customer`] returns it.
    pub customer: Customer,
    /// Their orders (also guest orders of a visitor linked to them), by placed time and id.
    pub orders: Vec<ProfileOrderRow>,
    /// Their `track`, `page` and `screen` events, by time and arrival.
    pub events: Vec<ProfileEventRow>,
}

/// One order of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileOrderRow {
    /// The order.
    pub id: OrderId,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Its currency.
    pub currency: Currency,
    /// Merchandise total (the sum of its product lines) minus the refunds of this order, in
    /// minor units; negative when more was refunded than the merchandise (shipping, tax).
    pub net: i64,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// Its product lines, in order.
    pub lines: Vec<ProfileLineRow>,
}

/// One product line of a profile's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileLineRow {
    /// The product.
    pub product_id: ProductId,
    /// The product's top-level category, when the catalog knows the product.
    pub category: Option<String>,
    /// The product's brand, when the catalog knows it.
    pub brand: Option<String>,
    /// Units.
    pub quantity: i64,
}

/// One event of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEventRow {
    /// The event name (pages are "Page Viewed", screens "Screen Viewed").
    pub name: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// `properties.product_id`, else `properties.sku`.
    pub product_id: Option<String>,
    /// The top level of `properties.category`.
    pub category: Option<String>,
    /// `properties.brand`, else the brand the catalog gives the product.
    pub brand: Option<String>,
    /// `properties.query` (searches).
    pub query: Option<String>,
    /// `context.device.type`.
    pub device: Option<String>,
    /// UTM source.
    pub source: Option<String>,
}

/// Of score rows naming the same customer, the last one; the others in the given order. What
/// [`crate::Store::put_scores`] writes.
pub fn last_scores_per_customer(scores: &[CustomerScores]) -> Vec<&CustomerScores> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(scores.len());
    for (i, row) in scores.iter().enumerate() {
        last.insert(row.customer_id.as_str(), i);
    }
    scores
        .iter()
        .enumerate()
        .filter(|(i, row)| last.get(row.customer_id.as_str()) == Some(i))
        .map(|(_, row)| row)
        .collect()
}

/// What a profile event takes from its properties: [`EventDetails`], `brand` and `query`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventProfileDetails {
    /// Product, category (and value and currency, unused here), as analytics reads them.
    pub details: EventDetails,
    /// `properties.brand`.
    pub brand: Option<String>,
    /// `properties.query`.
    pub query: Option<String>,
}

/// Reads [`EventProfileDetails`] from an event's properties stored as JSON text (nothing for
/// text that is not JSON). Text values are trimmed, numbers written out, empty text absent.
pub fn event_profile_details(properties: &str) -> EventProfileDetails {
    if properties.len() <= 2 {
        return EventProfileDetails::default();
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(properties) else {
        return EventProfileDetails::default();
    };
    let text = |key: &str| match value.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    EventProfileDetails {
        details: event_details(&value),
        brand: text("brand"),
        query: text("query"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_keys() {
        assert!(is_segment_key("vip"));
        assert!(is_segment_key("at-risk_2"));
        assert!(is_segment_key(&"a".repeat(64)));
        assert!(!is_segment_key(""));
        assert!(!is_segment_key(&"a".repeat(65)));
        assert!(!is_segment_key("VIP"));
        assert!(!is_segment_key("big spenders"));
        assert!(!is_segment_key("café"));
    }

    #[test]
    fn profile_details_of_properties() {
        let d = event_profile_details(
            r#"{"sku": 42, "category": "Home > Kitchen", "brand": " Acme ", "query": "knife"}"#,
        );
        assert_eq!(d.details.product_id.as_deref(), Some("42"));
        assert_eq!(d.details.category.as_deref(), Some("Home"));
        assert_eq!(d.brand.as_deref(), Some("Acme"));
        assert_eq!(d.query.as_deref(), Some("knife"));
        assert_eq!(event_profile_details("{}"), EventProfileDetails::default());
        assert_eq!(
            event_profile_details(r#"{"brand": "", "query": null}"#),
            EventProfileDetails::default()
        );
        assert_eq!(
            event_profile_details("not json"),
            EventProfileDetails::default()
        );
    }
}
