//! Orders, their lines, their status history, and refunds.

use crate::{AnonymousId, Attribution, Currency, CustomerId, Email, OrderId, ProductId, RefundId};
use crate::{ValidationError, ValidationErrorKind::*};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What an order line is for. Only `product` lines count as merchandise revenue.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A product sold.
    #[default]
    Product,
    /// Postage or delivery.
    Shipping,
    /// A fee (payment, marketplace, bank charges…).
    Fee,
    /// A discount given as a line.
    Discount,
    /// Any other adjustment (manual corrections…).
    Adjustment,
}

impl LineKind {
    /// The name used in storage and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Shipping => "shipping",
            Self::Fee => "fee",
            Self::Discount => "discount",
            Self::Adjustment => "adjustment",
        }
    }

    /// Parses the name used in storage and the API.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "product" => Self::Product,
            "shipping" => Self::Shipping,
            "fee" => Self::Fee,
            "discount" => Self::Discount,
            "adjustment" => Self::Adjustment,
            _ => return None,
        })
    }
}

/// One line of an order. Amounts are minor units of the order's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    /// Product line or a non-product line (shipping, fee, discount, adjustment).
    #[serde(default)]
    pub kind: LineKind,
    /// The product, for product lines.
    #[serde(default)]
    pub product_id: Option<ProductId>,
    /// The stock code as the shop knows it (also for non-product lines).
    #[serde(default)]
    pub sku: Option<String>,
    /// The name shown on the order.
    #[serde(default)]
    pub title: Option<String>,
    /// Units.
    pub quantity: i64,
    /// Price of one unit in minor units.
    pub unit_price: i64,
    /// Discount on the whole line in minor units.
    #[serde(default)]
    pub discount: i64,
}

impl OrderLine {
    /// `quantity × unit_price − discount`.
    pub fn total(&self) -> i64 {
        self.quantity * self.unit_price - self.discount
    }
}

/// A step in an order's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    /// The order was placed.
    Placed,
    /// Payment was received.
    Paid,
    /// The order was packed and handed over.
    Fulfilled,
    /// The order is on its way (carrier and tracking number).
    Shipped,
    /// The order arrived.
    Delivered,
    /// The order was cancelled.
    Cancelled,
    /// Money was given back (all or part: see `amount`).
    Refunded,
}

impl StatusKind {
    /// The name used in storage and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Paid => "paid",
            Self::Fulfilled => "fulfilled",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }

    /// Parses the name used in storage and the API.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "placed" => Self::Placed,
            "paid" => Self::Paid,
            "fulfilled" => Self::Fulfilled,
            "shipped" => Self::Shipped,
            "delivered" => Self::Delivered,
            "cancelled" => Self::Cancelled,
            "refunded" => Self::Refunded,
            _ => return None,
        })
    }
}

/// One entry of an order's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusChange {
    /// What happened.
    pub status: StatusKind,
    /// When.
    pub at: DateTime<Utc>,
    /// The carrier, for `shipped`.
    #[serde(default)]
    pub carrier: Option<String>,
    /// The tracking number, for `shipped`.
    #[serde(default)]
    pub tracking_number: Option<String>,
    /// The amount refunded in minor units, for `refunded` (partial refunds allowed).
    #[serde(default)]
    pub amount: Option<i64>,
    /// A free note.
    #[serde(default)]
    pub note: Option<String>,
}

/// The order's current state, derived from its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed, not yet paid.
    Placed,
    /// Paid.
    Paid,
    /// Fulfilled.
    Fulfilled,
    /// Shipped.
    Shipped,
    /// Delivered.
    Delivered,
    /// Cancelled.
    Cancelled,
    /// Some money given back.
    PartiallyRefunded,
    /// All money given back.
    Refunded,
}

/// An order. Amounts are minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    /// The shop's order id.
    pub id: OrderId,
    /// The customer, or none for a guest order.
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    /// The visitor who placed it, when known; links their browsing to the customer.
    #[serde(default)]
    pub anonymous_id: Option<AnonymousId>,
    /// The email given at checkout (guest orders).
    #[serde(default)]
    pub email: Option<Email>,
    /// When the order was placed.
    pub placed_at: DateTime<Utc>,
    /// The order's currency.
    pub currency: Currency,
    /// The lines.
    #[serde(default)]
    pub lines: Vec<OrderLine>,
    /// Shipping charged, in minor units.
    #[serde(default)]
    pub shipping: i64,
    /// Tax, in minor units.
    #[serde(default)]
    pub tax: i64,
    /// Order-level discount, in minor units.
    #[serde(default)]
    pub discount: i64,
    /// The coupon code used.
    #[serde(default)]
    pub coupon: Option<String>,
    /// Where the order came from.
    #[serde(default)]
    pub attribution: Attribution,
    /// The status history, oldest first. `placed` is implied by `placed_at`.
    #[serde(default)]
    pub history: Vec<StatusChange>,
}

impl Order {
    /// Revenue from product lines: `Σ quantity × unit_price − line discount`.
    pub fn merchandise_total(&self) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.kind == LineKind::Product)
            .map(OrderLine::total)
            .sum()
    }

    /// What the customer paid: all lines plus shipping and tax, less the order discount.
    pub fn total(&self) -> i64 {
        self.lines.iter().map(OrderLine::total).sum::<i64>() + self.shipping + self.tax
            - self.discount
    }

    /// The sum of refunds recorded in the history.
    pub fn refunded(&self) -> i64 {
        self.history
            .iter()
            .filter(|c| c.status == StatusKind::Refunded)
            .filter_map(|c| c.amount)
            .sum()
    }

    /// The current state, from the latest status change.
    pub fn status(&self) -> OrderStatus {
        let mut status = OrderStatus::Placed;
        let mut history: Vec<&StatusChange> = self.history.iter().collect();
        history.sort_by_key(|c| c.at);
        for change in history {
            status = match change.status {
                StatusKind::Placed => OrderStatus::Placed,
                StatusKind::Paid => OrderStatus::Paid,
                StatusKind::Fulfilled => OrderStatus::Fulfilled,
                StatusKind::Shipped => OrderStatus::Shipped,
                StatusKind::Delivered => OrderStatus::Delivered,
                StatusKind::Cancelled => OrderStatus::Cancelled,
                StatusKind::Refunded => OrderStatus::PartiallyRefunded,
            };
        }
        if status == OrderStatus::PartiallyRefunded && self.refunded() >= self.total() {
            status = OrderStatus::Refunded;
        }
        status
    }

    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), ValidationError> {
        for (i, line) in self.lines.iter().enumerate() {
            let at = |e: ValidationError| e.within(format!("lines.{i}"));
            if line.kind == LineKind::Product && line.product_id.is_none() {
                return Err(at(ValidationError::new(
                    "product_id",
                    Missing,
                    "a product line needs a product_id",
                )));
            }
            if line.quantity == 0 {
                return Err(at(ValidationError::new(
                    "quantity",
                    OutOfRange,
                    "must not be zero",
                )));
            }
            if line.kind == LineKind::Product && (line.quantity < 0 || line.unit_price < 0) {
                return Err(at(ValidationError::new(
                    "quantity",
                    OutOfRange,
                    "product lines have a positive quantity and price; send returns as refunds",
                )));
            }
        }
        for (name, value) in [
            ("shipping", self.shipping),
            ("tax", self.tax),
            ("discount", self.discount),
        ] {
            if value < 0 {
                return Err(ValidationError::new(
                    name,
                    OutOfRange,
                    "must not be negative",
                ));
            }
        }
        for (i, change) in self.history.iter().enumerate() {
            change
                .validate()
                .map_err(|e| e.within(format!("history.{i}")))?;
        }
        Ok(())
    }
}

impl StatusChange {
    /// Checks that a refund has a non-negative amount and only refunds carry one.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match (self.status, self.amount) {
            (StatusKind::Refunded, Some(a)) if a < 0 => Err(ValidationError::new(
                "amount",
                OutOfRange,
                "must not be negative",
            )),
            (StatusKind::Refunded, _) | (_, None) => Ok(()),
            (_, Some(_)) => Err(ValidationError::new(
                "amount",
                Malformed,
                "only a `refunded` status carries an amount",
            )),
        }
    }
}

/// Money given back to a customer, linked to an order when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refund {
    /// Unique id; recording the same refund twice counts once.
    pub id: RefundId,
    /// The order refunded, when known.
    #[serde(default)]
    pub order_id: Option<OrderId>,
    /// The customer refunded, when known.
    #[serde(default)]
    pub customer_id: Option<CustomerId>,
    /// When.
    pub at: DateTime<Utc>,
    /// Amount in minor units of `currency`.
    pub amount: i64,
    /// Currency.
    pub currency: Currency,
    /// Why, when given.
    #[serde(default)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        chrono::Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()
    }

    fn order() -> Order {
        Order {
            id: OrderId::parse("o1").unwrap(),
            customer_id: None,
            anonymous_id: None,
            email: None,
            placed_at: at(1),
            currency: Currency::EUR,
            lines: vec![
                OrderLine {
                    kind: LineKind::Product,
                    product_id: Some(ProductId::parse("p1").unwrap()),
                    sku: None,
                    title: None,
                    quantity: 2,
                    unit_price: 1000,
                    discount: 100,
                },
                OrderLine {
                    kind: LineKind::Shipping,
                    product_id: None,
                    sku: Some("POST".into()),
                    title: None,
                    quantity: 1,
                    unit_price: 500,
                    discount: 0,
                },
            ],
            shipping: 0,
            tax: 300,
            discount: 200,
            coupon: None,
            attribution: Attribution::default(),
            history: vec![],
        }
    }

    #[test]
    fn totals_separate_merchandise_from_other_lines() {
        let o = order();
        assert_eq!(o.merchandise_total(), 1900);
        assert_eq!(o.total(), 1900 + 500 + 300 - 200);
    }

    #[test]
    fn status_follows_history_and_refunds() {
        let mut o = order();
        assert_eq!(o.status(), OrderStatus::Placed);
        o.history.push(StatusChange {
            status: StatusKind::Shipped,
            at: at(3),
            carrier: Some("DHL".into()),
            tracking_number: Some("1Z".into()),
            amount: None,
            note: None,
        });
        o.history.push(StatusChange {
            status: StatusKind::Paid,
            at: at(2),
            carrier: None,
            tracking_number: None,
            amount: None,
            note: None,
        });
        assert_eq!(o.status(), OrderStatus::Shipped);
        o.history.push(StatusChange {
            status: StatusKind::Refunded,
            at: at(4),
            carrier: None,
            tracking_number: None,
            amount: Some(100),
            note: None,
        });
        assert_eq!(o.status(), OrderStatus::PartiallyRefunded);
        o.history.push(StatusChange {
            status: StatusKind::Refunded,
            at: at(5),
            carrier: None,
            tracking_number: None,
            amount: Some(5000),
            note: None,
        });
        assert_eq!(o.status(), OrderStatus::Refunded);
        assert_eq!(o.refunded(), 5100);
    }

    #[test]
    fn validation_names_the_line() {
        let mut o = order();
        o.lines[0].quantity = 0;
        assert_eq!(o.validate().unwrap_err().field, "lines.0.quantity");
        let mut o = order();
        o.lines[0].product_id = None;
        assert_eq!(o.validate().unwrap_err().field, "lines.0.product_id");
    }
}
