//! Customers: known people, with their profile, consent and free attributes.

use crate::{Attributes, CustomerId, Email};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who the customer buys for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CustomerType {
    /// A private person.
    #[default]
    Consumer,
    /// A company.
    Business,
    /// A public body.
    Government,
}

impl CustomerType {
    /// The name used in storage and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Consumer => "consumer",
            Self::Business => "business",
            Self::Government => "government",
        }
    }

    /// Parses the name used in storage and the API.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "consumer" => Some(Self::Consumer),
            "business" => Some(Self::Business),
            "government" => Some(Self::Government),
            _ => None,
        }
    }
}

/// Whether the customer agreed to marketing email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// The customer opted in.
    Granted,
    /// The customer opted out or never opted in.
    Denied,
}

/// Email-marketing consent, with when and where it was given or withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Consent {
    /// Granted or denied.
    pub status: ConsentStatus,
    /// When it was given or withdrawn.
    pub at: DateTime<Utc>,
    /// Where: `checkout`, `signup-form`, `import`, `api`…
    pub source: String,
}

/// A known customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    /// The shop's id of the customer.
    pub id: CustomerId,
    /// Email address.
    pub email: Option<Email>,
    /// Full name.
    pub name: Option<String>,
    /// Phone number as given.
    pub phone: Option<String>,
    /// Country (name or ISO code, as given).
    pub country: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Consumer, business or government.
    pub customer_type: CustomerType,
    /// Email-marketing consent, when known.
    pub consent: Option<Consent>,
    /// Any other attributes.
    #[schema(value_type = Object)]
    pub attributes: Attributes,
    /// The first time the customer was seen (event, order or profile).
    pub first_seen: Option<DateTime<Utc>>,
    /// The last time the customer was seen.
    pub last_seen: Option<DateTime<Utc>>,
    /// When the profile was last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When this profile was merged into another, the customer it now belongs to.
    pub merged_into: Option<CustomerId>,
}

/// A partial update of a customer profile: given fields replace stored ones, attributes are
/// merged key by key, absent fields are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerPatch {
    /// The customer's id.
    pub id: CustomerId,
    /// Email address.
    #[serde(default)]
    pub email: Option<Email>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Country.
    #[serde(default)]
    pub country: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// Customer type.
    #[serde(default)]
    pub customer_type: Option<CustomerType>,
    /// Consent change.
    #[serde(default)]
    pub consent: Option<Consent>,
    /// Attributes to set (merged into the stored ones).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Attributes,
    /// A time the customer was seen (widens first/last seen).
    #[serde(default)]
    pub seen_at: Option<DateTime<Utc>>,
}

impl CustomerPatch {
    /// A patch that only makes sure the customer exists.
    pub fn id_only(id: CustomerId) -> Self {
        Self {
            id,
            email: None,
            name: None,
            phone: None,
            country: None,
            city: None,
            customer_type: None,
            consent: None,
            attributes: Attributes::new(),
            seen_at: None,
        }
    }
}
