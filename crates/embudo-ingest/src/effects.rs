//! What a tracking message does to the shop's data, decided here once for every backend.
//!
//! - Any message that carries both a `userId` and an `anonymousId` links the visitor to the
//!   customer (their earlier anonymous events become the customer's).
//! - `identify` creates or updates the customer profile from its traits (`email`, `name` or
//!   `firstName`/`lastName`, `phone`, `address.country`/`address.city`, `customer_type`,
//!   `email_consent`; every other trait is kept as a free attribute).
//! - `alias` folds the previous id into the user id: as a customer (events, orders and visitors
//!   move, nothing is deleted) and as a visitor.
//! - `Order Completed` with an `order_id` creates or replaces that order (idempotent by order
//!   id, so the same order sent through the orders API is the same order); `Order Refunded`
//!   records a refund (the `total`, else `revenue`, else the sum of its `products`, else the
//!   rest of the order) and `Order Cancelled` adds a cancellation to the order's history.
//!
//! Money in event properties is in major units (`19.99`) and is converted exactly to minor
//! units of the order's currency (`properties.currency`, else the shop's default).

use crate::segment::MessageError;
use embudo_core::{
    names, Attributes, Consent, ConsentStatus, Currency, CustomerPatch, CustomerType, Email,
    LineKind, MergeReason, Message, MessageKind, Money, Order, OrderId, OrderLine, ProductId,
    RefundId, StatusChange, StatusKind,
};
use embudo_store::{Effect, Envelope, RefundRequest};
use serde_json::{Map, Value};

/// Settings the effects depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectsConfig {
    /// The currency of amounts that do not name one.
    pub default_currency: Currency,
}

impl Default for EffectsConfig {
    fn default() -> Self {
        Self {
            default_currency: Currency::USD,
        }
    }
}

/// The message with its effects, or the field that makes them impossible.
pub fn envelope(message: Message, config: &EffectsConfig) -> Result<Envelope, MessageError> {
    let mut effects = Vec::new();
    if message.kind == MessageKind::Identify {
        if let Some(user_id) = &message.user_id {
            effects.push(Effect::UpsertCustomer(customer_patch(
                user_id.clone(),
                &message,
            )?));
        }
    }
    if message.kind == MessageKind::Alias {
        if let (Some(previous), Some(user_id)) = (&message.previous_id, &message.user_id) {
            if previous != user_id.as_str() {
                let from = embudo_core::CustomerId::parse(previous.clone())
                    .map_err(|e| MessageError::new("previousId", e.reason))?;
                let visitor = embudo_core::AnonymousId::parse(previous.clone())
                    .map_err(|e| MessageError::new("previousId", e.reason))?;
                effects.push(Effect::MergeCustomers {
                    from,
                    into: user_id.clone(),
                });
                effects.push(Effect::LinkVisitor {
                    anonymous_id: visitor,
                    customer_id: user_id.clone(),
                    reason: MergeReason::Alias,
                });
            }
        }
    }
    if let (Some(anonymous_id), Some(customer_id)) = (&message.anonymous_id, &message.user_id) {
        let reason = match (message.kind, message.event.as_deref()) {
            (MessageKind::Identify, _) => MergeReason::Identify,
            (MessageKind::Alias, _) => MergeReason::Alias,
            (_, Some(names::ORDER_COMPLETED)) => MergeReason::Order,
            _ => MergeReason::Track,
        };
        effects.push(Effect::LinkVisitor {
            anonymous_id: anonymous_id.clone(),
            customer_id: customer_id.clone(),
            reason,
        });
    }
    if message.kind == MessageKind::Track {
        match message.event.as_deref() {
            Some(names::ORDER_COMPLETED) => {
                if let Some(order) = order_from_event(&message, config)? {
                    effects.push(Effect::UpsertOrder(Box::new(order)));
                }
            }
            Some(names::ORDER_REFUNDED) => {
                if let Some(order_id) = order_id(&message.properties)? {
                    effects.push(Effect::Refund(refund_from_event(
                        &message, order_id, config,
                    )?));
                }
            }
            Some(names::ORDER_CANCELLED) => {
                if let Some(order_id) = order_id(&message.properties)? {
                    let change = StatusChange {
                        status: StatusKind::Cancelled,
                        at: message.timestamp,
                        carrier: None,
                        tracking_number: None,
                        amount: None,
                        note: text(&message.properties, "reason"),
                    };
                    effects.push(Effect::OrderStatus { order_id, change });
                }
            }
            _ => {}
        }
    }
    Ok(Envelope { message, effects })
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text_field(map: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(map, k))
}

fn customer_patch(
    id: embudo_core::CustomerId,
    message: &Message,
) -> Result<CustomerPatch, MessageError> {
    let traits = &message.traits;
    let mut patch = CustomerPatch::id_only(id);
    patch.seen_at = Some(message.timestamp);
    let mut attributes = Attributes::new();
    let address = traits.get("address").and_then(Value::as_object);
    for (key, value) in traits {
        match key.as_str() {
            "email" => {
                if let Some(email) = text(traits, "email") {
                    patch.email = Some(
                        Email::parse(email)
                            .map_err(|e| MessageError::new("traits.email", e.reason))?,
                    );
                }
            }
            "name" => patch.name = text(traits, "name"),
            "firstName" | "first_name" | "lastName" | "last_name" => {}
            "phone" => patch.phone = text(traits, "phone"),
            "country" => patch.country = text(traits, "country"),
            "city" => patch.city = text(traits, "city"),
            "address" if address.is_some() => {}
            "customer_type" | "customerType" => {
                let raw = text(traits, key).unwrap_or_default();
                patch.customer_type = Some(
                    CustomerType::parse(&raw.to_ascii_lowercase()).ok_or_else(|| {
                        MessageError::new(
                            format!("traits.{key}"),
                            format!("`{raw}` is not one of consumer, business, government"),
                        )
                    })?,
                );
            }
            "email_consent" | "emailConsent" => {
                let status = match value {
                    Value::Bool(true) => ConsentStatus::Granted,
                    Value::Bool(false) => ConsentStatus::Denied,
                    _ => {
                        return Err(MessageError::new(
                            format!("traits.{key}"),
                            "must be true or false",
                        ))
                    }
                };
                let source = text_field(traits, &["email_consent_source", "emailConsentSource"])
                    .unwrap_or_else(|| "identify".into());
                patch.consent = Some(Consent {
                    status,
                    at: message.timestamp,
                    source,
                });
            }
            "email_consent_source" | "emailConsentSource" => {}
            _ => {
                attributes.insert(key.clone(), value.clone());
            }
        }
    }
    if patch.name.is_none() {
        let first = text_field(traits, &["firstName", "first_name"]);
        let last = text_field(traits, &["lastName", "last_name"]);
        patch.name = match (first, last) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (f, l) => f.or(l),
        };
    }
    if let Some(address) = address {
        patch.country = patch.country.or_else(|| text(address, "country"));
        patch.city = patch.city.or_else(|| text(address, "city"));
    }
    patch.attributes = attributes;
    Ok(patch)
}

fn order_id(properties: &Map<String, Value>) -> Result<Option<OrderId>, MessageError> {
    text_field(properties, &["order_id", "orderId"])
        .map(|id| {
            OrderId::parse(id).map_err(|e| MessageError::new("properties.order_id", e.reason))
        })
        .transpose()
}

fn currency(
    properties: &Map<String, Value>,
    config: &EffectsConfig,
) -> Result<Currency, MessageError> {
    match text(properties, "currency") {
        Some(code) => {
            Currency::parse(&code).map_err(|e| MessageError::new("properties.currency", e.reason))
        }
        None => Ok(config.default_currency),
    }
}

fn money(
    map: &Map<String, Value>,
    key: &str,
    field: &str,
    currency: Currency,
) -> Result<Option<i64>, MessageError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => Money::from_json(value, currency)
            .map(|m| Some(m.amount))
            .map_err(|e| MessageError::new(field, e.reason)),
    }
}

fn products(properties: &Map<String, Value>) -> Result<&[Value], MessageError> {
    match properties.get("products") {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(MessageError::new("properties.products", "must be an array")),
    }
}

fn order_from_event(
    message: &Message,
    config: &EffectsConfig,
) -> Result<Option<Order>, MessageError> {
    let props = &message.properties;
    let Some(id) = order_id(props)? else {
        return Ok(None);
    };
    let currency = currency(props, config)?;
    let mut lines = Vec::new();
    for (i, item) in products(props)?.iter().enumerate() {
        let field = |name: &str| format!("properties.products.{i}.{name}");
        let item = item.as_object().ok_or_else(|| {
            MessageError::new(format!("properties.products.{i}"), "must be an object")
        })?;
        let product_id = text_field(item, &["product_id", "productId", "id", "sku"])
            .ok_or_else(|| MessageError::new(field("product_id"), "is required"))?;
        let product_id = ProductId::parse(product_id)
            .map_err(|e| MessageError::new(field("product_id"), e.reason))?;
        let quantity = match item.get("quantity") {
            None | Some(Value::Null) => 1,
            Some(v) => v.as_i64().filter(|q| *q > 0).ok_or_else(|| {
                MessageError::new(field("quantity"), "must be a positive whole number")
            })?,
        };
        let unit_price = money(item, "price", &field("price"), currency)?.unwrap_or(0);
        if unit_price < 0 {
            return Err(MessageError::new(field("price"), "must not be negative"));
        }
        lines.push(OrderLine {
            kind: LineKind::Product,
            product_id: Some(product_id),
            sku: text(item, "sku"),
            title: text(item, "name"),
            quantity,
            unit_price,
            discount: money(item, "discount", &field("discount"), currency)?.unwrap_or(0),
        });
    }
    let shipping = money(props, "shipping", "properties.shipping", currency)?.unwrap_or(0);
    let tax = money(props, "tax", "properties.tax", currency)?.unwrap_or(0);
    let discount = money(props, "discount", "properties.discount", currency)?
        .unwrap_or(0)
        .abs();
    if lines.is_empty() {
        // No product list: keep the order's value as one non-product line so that totals are
        // right, without inventing a product.
        let value = match money(props, "revenue", "properties.revenue", currency)? {
            Some(revenue) => Some(revenue),
            None => money(props, "total", "properties.total", currency)?
                .map(|total| total - shipping - tax + discount),
        };
        if let Some(value) = value.filter(|v| *v != 0) {
            lines.push(OrderLine {
                kind: LineKind::Adjustment,
                product_id: None,
                sku: None,
                title: Some("order value without product lines".into()),
                quantity: 1,
                unit_price: value,
                discount: 0,
            });
        }
    }
    let email = text(props, "email")
        .or_else(|| {
            message
                .context
                .raw
                .get("traits")
                .and_then(Value::as_object)
                .and_then(|t| text(t, "email"))
        })
        .map(|e| Email::parse(e).map_err(|e| MessageError::new("properties.email", e.reason)))
        .transpose()?;
    let order = Order {
        id,
        customer_id: message.user_id.clone(),
        anonymous_id: message.anonymous_id.clone(),
        email,
        placed_at: message.timestamp,
        currency,
        lines,
        shipping,
        tax,
        discount,
        coupon: text(props, "coupon"),
        attribution: message.context.attribution.clone(),
        history: Vec::new(),
    };
    order
        .validate()
        .map_err(|e| MessageError::new(format!("properties.{}", e.field), e.reason))?;
    Ok(Some(order))
}

fn refund_from_event(
    message: &Message,
    order_id: OrderId,
    config: &EffectsConfig,
) -> Result<RefundRequest, MessageError> {
    let props = &message.properties;
    let currency = currency(props, config)?;
    let mut amount = money(props, "total", "properties.total", currency)?;
    if amount.is_none() {
        amount = money(props, "revenue", "properties.revenue", currency)?;
    }
    if amount.is_none() {
        let mut sum = 0;
        let items = products(props)?;
        for (i, item) in items.iter().enumerate() {
            let Some(item) = item.as_object() else {
                continue;
            };
            let price = money(
                item,
                "price",
                &format!("properties.products.{i}.price"),
                currency,
            )?
            .unwrap_or(0);
            sum += price * item.get("quantity").and_then(Value::as_i64).unwrap_or(1);
        }
        amount = (!items.is_empty()).then_some(sum);
    }
    if amount.is_some_and(|a| a < 0) {
        return Err(MessageError::new(
            "properties.total",
            "a refund amount must not be negative",
        ));
    }
    let id = RefundId::parse(format!("event:{}", message.message_id))
        .map_err(|e| MessageError::new("messageId", e.reason))?;
    Ok(RefundRequest {
        id,
        order_id,
        at: message.timestamp,
        amount,
        currency: props.contains_key("currency").then_some(currency),
        reason: text(props, "reason"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{parse_message, ParseLimits};
    use chrono::Utc;

    fn msg(kind: MessageKind, body: &str) -> Message {
        parse_message(body.as_bytes(), kind, Utc::now(), &ParseLimits::default()).unwrap()
    }

    fn effects(kind: MessageKind, body: &str) -> Result<Vec<Effect>, MessageError> {
        envelope(msg(kind, body), &EffectsConfig::default()).map(|e| e.effects)
    }

    #[test]
    fn order_completed_becomes_an_exact_order() {
        let fx = effects(
            MessageKind::Track,
            r#"{"userId":"u1","anonymousId":"a1","event":"Order Completed","properties":{
                "order_id":"o-1","currency":"eur","shipping":4.9,"tax":3.19,"discount":2,"coupon":"WINTER",
                "products":[{"product_id":"p1","price":19.99,"quantity":3,"name":"Mug"},{"sku":"p2","price":"0.10"}]}}"#,
        )
        .unwrap();
        assert!(matches!(
            &fx[0],
            Effect::LinkVisitor {
                reason: MergeReason::Order,
                ..
            }
        ));
        let Effect::UpsertOrder(order) = &fx[1] else {
            panic!("{fx:?}")
        };
        assert_eq!(order.currency, Currency::EUR);
        assert_eq!(order.merchandise_total(), 3 * 1999 + 10);
        assert_eq!((order.shipping, order.tax, order.discount), (490, 319, 200));
        assert_eq!(order.coupon.as_deref(), Some("WINTER"));
        assert_eq!(order.lines[1].product_id.as_ref().unwrap().as_str(), "p2");
    }

    #[test]
    fn order_errors_point_at_the_product() {
        let err = effects(
            MessageKind::Track,
            r#"{"userId":"u1","event":"Order Completed","properties":{"order_id":"o","products":[{"product_id":"p","price":"abc"}]}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field, "properties.products.0.price");
        let err = effects(
            MessageKind::Track,
            r#"{"userId":"u1","event":"Order Completed","properties":{"order_id":"o","products":[{"product_id":"p","quantity":-1}]}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field, "properties.products.0.quantity");
    }

    #[test]
    fn refunds_take_the_best_amount_available() {
        let fx = effects(MessageKind::Track, r#"{"userId":"u","event":"Order Refunded","messageId":"m9","properties":{"order_id":"o","total":5.5}}"#).unwrap();
        let Effect::Refund(r) = &fx[0] else { panic!() };
        assert_eq!((r.amount, r.id.as_str()), (Some(550), "event:m9"));
        let fx = effects(MessageKind::Track, r#"{"userId":"u","event":"Order Refunded","properties":{"order_id":"o","products":[{"price":2,"quantity":2}]}}"#).unwrap();
        let Effect::Refund(r) = &fx[0] else { panic!() };
        assert_eq!(r.amount, Some(400));
        let fx = effects(
            MessageKind::Track,
            r#"{"userId":"u","event":"Order Refunded","properties":{"order_id":"o"}}"#,
        )
        .unwrap();
        let Effect::Refund(r) = &fx[0] else { panic!() };
        assert_eq!(r.amount, None);
    }

    #[test]
    fn identify_builds_a_profile_and_links_the_visitor() {
        let fx = effects(
            MessageKind::Identify,
            r#"{"userId":"u1","anonymousId":"a1","traits":{"email":"Ann@Example.com","firstName":"Ann","lastName":"Lee",
                "address":{"country":"PT","city":"Porto"},"customer_type":"Business","email_consent":true,"plan":"gold"}}"#,
        )
        .unwrap();
        let Effect::UpsertCustomer(patch) = &fx[0] else {
            panic!()
        };
        assert_eq!(patch.email.as_ref().unwrap().as_str(), "Ann@example.com");
        assert_eq!(patch.name.as_deref(), Some("Ann Lee"));
        assert_eq!(
            (patch.country.as_deref(), patch.city.as_deref()),
            (Some("PT"), Some("Porto"))
        );
        assert_eq!(patch.customer_type, Some(CustomerType::Business));
        assert_eq!(
            patch.consent.as_ref().unwrap().status,
            ConsentStatus::Granted
        );
        assert_eq!(patch.attributes.len(), 1);
        assert!(matches!(
            &fx[1],
            Effect::LinkVisitor {
                reason: MergeReason::Identify,
                ..
            }
        ));
        let err = effects(
            MessageKind::Identify,
            r#"{"userId":"u1","traits":{"email":"nope"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.field, "traits.email");
    }

    #[test]
    fn alias_merges_as_customer_and_as_visitor() {
        let fx = effects(MessageKind::Alias, r#"{"previousId":"old","userId":"new"}"#).unwrap();
        assert!(
            matches!(&fx[0], Effect::MergeCustomers { from, into } if from.as_str() == "old" && into.as_str() == "new")
        );
        assert!(
            matches!(&fx[1], Effect::LinkVisitor { anonymous_id, .. } if anonymous_id.as_str() == "old")
        );
    }

    #[test]
    fn cancellation_is_a_status_change() {
        let fx = effects(
            MessageKind::Track,
            r#"{"anonymousId":"a","event":"Order Cancelled","properties":{"order_id":"o"}}"#,
        )
        .unwrap();
        assert!(
            matches!(&fx[0], Effect::OrderStatus { change, .. } if change.status == StatusKind::Cancelled)
        );
    }
}
