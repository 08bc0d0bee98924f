//! Products of the shop's catalog.

use crate::{Currency, ProductId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A product in the catalog. Prices are in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Product {
    /// The shop's id of the product.
    pub id: ProductId,
    /// Stock-keeping unit, when different from the id.
    #[serde(default)]
    pub sku: Option<String>,
    /// The product's name.
    pub title: String,
    /// A longer description.
    #[serde(default)]
    pub description: Option<String>,
    /// The category path from the root, e.g. `["Home", "Kitchen", "Knives"]`.
    #[serde(default)]
    pub category_path: Vec<String>,
    /// The brand.
    #[serde(default)]
    pub brand: Option<String>,
    /// The price in minor units of `currency`; absent when unknown.
    #[serde(default)]
    pub price: Option<i64>,
    /// The price's currency.
    pub currency: Currency,
    /// Free tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether the product can be bought now.
    #[serde(default = "default_true")]
    pub in_stock: bool,
    /// Units in stock, when the shop tracks them.
    #[serde(default)]
    pub inventory_quantity: Option<i64>,
    /// The product page.
    #[serde(default)]
    pub url: Option<String>,
    /// The main image.
    #[serde(default)]
    pub image_url: Option<String>,
    /// When the product was created (set by the store when absent).
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// When the product last changed (set by the store).
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn default_true() -> bool {
    true
}

impl Product {
    /// A product with a title and a currency and nothing else.
    pub fn new(id: ProductId, title: impl Into<String>, currency: Currency) -> Self {
        Self {
            id,
            sku: None,
            title: title.into(),
            description: None,
            category_path: Vec::new(),
            brand: None,
            price: None,
            currency,
            tags: Vec::new(),
            in_stock: true,
            inventory_quantity: None,
            url: None,
            image_url: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// The category path joined with ` > `, as shown in reports.
    pub fn category(&self) -> String {
        self.category_path.join(" > ")
    }

    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), crate::ValidationError> {
        use crate::{ValidationError, ValidationErrorKind::*};
        if self.title.trim().is_empty() {
            return Err(ValidationError::new("title", Missing, "must not be empty"));
        }
        if self.price.is_some_and(|p| p < 0) {
            return Err(ValidationError::new(
                "price",
                OutOfRange,
                "must not be negative",
            ));
        }
        if self.inventory_quantity.is_some_and(|q| q < 0) {
            return Err(ValidationError::new(
                "inventory_quantity",
                OutOfRange,
                "must not be negative",
            ));
        }
        Ok(())
    }
}
