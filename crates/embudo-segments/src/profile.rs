//! What a segment is evaluated on: one customer's profile and history, as the store gives it.

use crate::rfm::RfmScore;
use chrono::{DateTime, Utc};
use embudo_core::{
    Attributes, ConsentStatus, Currency, Customer, CustomerId, CustomerType, Money, ProductId,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One customer's data, everything a segment condition can look at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The shop's id of the customer.
    pub id: CustomerId,
    /// Country (name or ISO code, as given).
    pub country: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Consumer, business or government.
    pub customer_type: CustomerType,
    /// Whether the customer agreed to marketing email (false when never asked).
    pub email_consent: bool,
    /// When consent was last given or withdrawn.
    pub email_consent_at: Option<DateTime<Utc>>,
    /// Custom attributes (`attributes.plan`).
    pub attributes: Attributes,
    /// The first time the customer was seen.
    pub first_seen: Option<DateTime<Utc>>,
    /// The last time the customer was seen.
    pub last_seen: Option<DateTime<Utc>>,
    /// The customer's orders, in any order.
    pub orders: Vec<ProfileOrder>,
    /// The customer's events, in any order.
    pub events: Vec<ProfileEvent>,
    /// The latest model predictions, if any were made.
    pub predictions: Option<Predictions>,
    /// The latest RFM scores, if the customer was scored.
    pub rfm: Option<RfmScore>,
    /// The keys of the segments the customer is a member of now.
    pub segments: BTreeSet<String>,
}

impl Profile {
    /// A profile with no attributes and no history.
    pub fn new(id: CustomerId) -> Self {
        Self {
            id,
            country: None,
            city: None,
            customer_type: CustomerType::Consumer,
            email_consent: false,
            email_consent_at: None,
            attributes: Attributes::new(),
            first_seen: None,
            last_seen: None,
            orders: Vec::new(),
            events: Vec::new(),
            predictions: None,
            rfm: None,
            segments: BTreeSet::new(),
        }
    }

    /// The profile part of a stored customer, with no history yet.
    pub fn from_customer(customer: &Customer) -> Self {
        let consent = customer.consent.as_ref();
        Self {
            country: customer.country.clone(),
            city: customer.city.clone(),
            customer_type: customer.customer_type,
            email_consent: consent.is_some_and(|c| c.status == ConsentStatus::Granted),
            email_consent_at: consent.map(|c| c.at),
            attributes: customer.attributes.clone(),
            first_seen: customer.first_seen,
            last_seen: customer.last_seen,
            ..Self::new(customer.id.clone())
        }
    }

    /// The orders that count: those not cancelled.
    pub fn live_orders(&self) -> impl Iterator<Item = &ProfileOrder> {
        self.orders.iter().filter(|o| !o.cancelled)
    }
}

/// An order, as segments see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileOrder {
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// Its currency.
    pub currency: Currency,
    /// Its net value in minor units of `currency` (what counts as revenue).
    pub net: i64,
    /// Cancelled orders count for nothing.
    pub cancelled: bool,
    /// What was bought.
    pub lines: Vec<ProfileLine>,
}

/// A line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileLine {
    /// The product.
    pub product_id: Option<ProductId>,
    /// The product's category.
    pub category: Option<String>,
    /// The product's brand.
    pub brand: Option<String>,
    /// How many.
    pub quantity: i64,
}

/// A tracked event, as segments see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileEvent {
    /// The event name (`Product Viewed`, `Email Opened`, a custom name).
    pub name: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The product, for product events.
    pub product_id: Option<ProductId>,
    /// The product's or list's category.
    pub category: Option<String>,
    /// The product's brand.
    pub brand: Option<String>,
    /// The search text, for searches.
    pub query: Option<String>,
    /// The device type (`mobile`, `desktop`, `tablet`…).
    pub device: Option<String>,
    /// The traffic source (`google`, `newsletter`…).
    pub source: Option<String>,
}

impl ProfileEvent {
    /// An event with only a name and a time.
    pub fn new(name: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            name: name.into(),
            at,
            product_id: None,
            category: None,
            brand: None,
            query: None,
            device: None,
            source: None,
        }
    }
}

/// Model predictions for a customer. A missing value makes every comparison with it false.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    /// Probability that the customer is still active (0–1).
    pub p_alive: Option<f64>,
    /// Probability that the customer has stopped buying (0–1).
    pub churn_risk: Option<f64>,
    /// Expected number of orders in the next 30 days.
    pub expected_orders_30d: Option<f64>,
    /// Expected number of orders in the next 90 days.
    pub expected_orders_90d: Option<f64>,
    /// Expected number of orders in the next 365 days.
    pub expected_orders_365d: Option<f64>,
    /// Predicted customer lifetime value (future revenue).
    pub predicted_clv: Option<Money>,
    /// Predicted value of the next order.
    pub expected_order_value: Option<Money>,
}
