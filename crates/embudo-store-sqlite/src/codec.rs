//! Conversions between domain values and SQLite columns.
//!
//! Times are INTEGER microseconds since the Unix epoch (UTC), JSON is TEXT, enums are their
//! `as_str` names. Everything read back is parsed through the domain types' own validation, and
//! a value that does not pass is reported as a corrupt row instead of panicking: the file may
//! have been edited by hand or written by another version.

use crate::error::{corrupt, Result};
use chrono::{DateTime, Utc};
use embudo_core::{
    AnonymousId, Attributes, Attribution, Consent, ConsentStatus, Currency, Customer, CustomerId,
    CustomerType, Email, EventContext, IdentityMerge, LineKind, MergeReason, Message, MessageId,
    MessageKind, OrderId, OrderLine, Product, ProductId, Refund, RefundId, StatusChange,
    StatusKind, StoredEvent, ValidationError,
};
use embudo_store::{ApiKey, KeyKind};
use rusqlite::Row;

/// A time as stored.
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// A stored time.
pub(crate) fn time(value: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(value)
        .ok_or_else(|| corrupt(format!("timestamp {value} is out of range")))
}

fn opt_time(value: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    value.map(time).transpose()
}

/// JSON text of a value that always serializes (maps, vectors, plain structs).
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // These types have string keys and no custom serializers that can fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// JSON text of an event's context, as [`EventContext`] reads it back but without its absent
/// fields: every event carries one, so the nulls would be a good part of the row.
pub(crate) fn context_json(context: &EventContext) -> String {
    #[derive(serde::Serialize)]
    struct Compact<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        device_type: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_agent: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        locale: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        country: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        city: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ip: Option<&'a str>,
        attribution: CompactAttribution<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        page_url: Option<&'a str>,
        raw: &'a Attributes,
    }
    #[derive(serde::Serialize)]
    struct CompactAttribution<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        medium: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        campaign: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        term: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        referrer: Option<&'a str>,
    }
    let a = &context.attribution;
    json(&Compact {
        device_type: context.device_type.as_deref(),
        user_agent: context.user_agent.as_deref(),
        locale: context.locale.as_deref(),
        country: context.country.as_deref(),
        city: context.city.as_deref(),
        ip: context.ip.as_deref(),
        attribution: CompactAttribution {
            source: a.source.as_deref(),
            medium: a.medium.as_deref(),
            campaign: a.campaign.as_deref(),
            term: a.term.as_deref(),
            content: a.content.as_deref(),
            referrer: a.referrer.as_deref(),
        },
        page_url: context.page_url.as_deref(),
        raw: &context.raw,
    })
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{what}: {e}")))
}

pub(crate) fn parsed<T>(what: &str, result: std::result::Result<T, ValidationError>) -> Result<T> {
    result.map_err(|e| corrupt(format!("{what}: {e}")))
}

fn named<T>(what: &str, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T> {
    parse(text).ok_or_else(|| corrupt(format!("{what}: unknown value `{text}`")))
}

fn opt_parsed<T>(
    what: &str,
    text: Option<String>,
    parse: impl FnOnce(String) -> std::result::Result<T, ValidationError>,
) -> Result<Option<T>> {
    text.map(|t| parsed(what, parse(t))).transpose()
}

/// The stored name of a consent status (the domain type has none).
pub(crate) fn consent_status_str(status: ConsentStatus) -> &'static str {
    match status {
        ConsentStatus::Granted => "granted",
        ConsentStatus::Denied => "denied",
    }
}

fn consent_status(text: &str) -> Option<ConsentStatus> {
    match text {
        "granted" => Some(ConsentStatus::Granted),
        "denied" => Some(ConsentStatus::Denied),
        _ => None,
    }
}

/// A customer id read back.
pub(crate) fn customer_id(text: &str) -> Result<CustomerId> {
    parsed("customer id", CustomerId::parse(text))
}

/// A currency read back.
pub(crate) fn currency(text: &str) -> Result<Currency> {
    parsed("currency", Currency::parse(text))
}

/// The columns [`event`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! event_columns {
    () => {
        "seq, customer_id, message_id, kind, event, anonymous_id, user_id, previous_id, \
     group_id, session_id, ts, received_at, properties, traits, context"
    };
}
pub(crate) use event_columns;

/// A stored event from a row of [`event_columns!`].
pub(crate) fn event(row: &Row<'_>) -> Result<StoredEvent> {
    let kind: String = row.get(3)?;
    let properties: String = row.get(12)?;
    let traits: String = row.get(13)?;
    let context: String = row.get(14)?;
    Ok(StoredEvent {
        seq: row.get(0)?,
        customer_id: opt_parsed("events.customer_id", row.get(1)?, CustomerId::parse)?,
        message: Message {
            message_id: parsed(
                "events.message_id",
                MessageId::parse(row.get::<_, String>(2)?),
            )?,
            kind: named("events.kind", &kind, MessageKind::parse)?,
            event: row.get(4)?,
            anonymous_id: opt_parsed("events.anonymous_id", row.get(5)?, AnonymousId::parse)?,
            user_id: opt_parsed("events.user_id", row.get(6)?, CustomerId::parse)?,
            previous_id: row.get(7)?,
            group_id: row.get(8)?,
            session_id: row.get(9)?,
            timestamp: time(row.get(10)?)?,
            received_at: time(row.get(11)?)?,
            properties: from_json::<Attributes>("events.properties", &properties)?,
            traits: from_json::<Attributes>("events.traits", &traits)?,
            context: from_json::<EventContext>("events.context", &context)?,
        },
    })
}

/// The columns [`customer`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! customer_columns {
    () => {
        "id, email, name, phone, country, city, customer_type, consent_status, \
     consent_at, consent_source, attributes, first_seen, last_seen, updated_at, merged_into"
    };
}
pub(crate) use customer_columns;

/// A customer from a row of [`customer_columns!`].
pub(crate) fn customer(row: &Row<'_>) -> Result<Customer> {
    let customer_type: String = row.get(6)?;
    let consent_status_text: Option<String> = row.get(7)?;
    let consent = match consent_status_text {
        None => None,
        Some(text) => Some(Consent {
            status: named("customers.consent_status", &text, consent_status)?,
            at: time(row.get(8)?)?,
            source: row.get::<_, Option<String>>(9)?.unwrap_or_default(),
        }),
    };
    let attributes: String = row.get(10)?;
    Ok(Customer {
        id: parsed("customers.id", CustomerId::parse(row.get::<_, String>(0)?))?,
        email: opt_parsed("customers.email", row.get(1)?, |t: String| Email::parse(t))?,
        name: row.get(2)?,
        phone: row.get(3)?,
        country: row.get(4)?,
        city: row.get(5)?,
        customer_type: named(
            "customers.customer_type",
            &customer_type,
            CustomerType::parse,
        )?,
        consent,
        attributes: from_json::<Attributes>("customers.attributes", &attributes)?,
        first_seen: opt_time(row.get(11)?)?,
        last_seen: opt_time(row.get(12)?)?,
        updated_at: opt_time(row.get(13)?)?,
        merged_into: opt_parsed("customers.merged_into", row.get(14)?, CustomerId::parse)?,
    })
}

/// The columns [`product`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! product_columns {
    () => {
        "id, sku, title, description, category_path, brand, price, currency, tags, \
     in_stock, inventory_quantity, url, image_url, created_at, updated_at"
    };
}
pub(crate) use product_columns;

/// A product from a row of [`product_columns!`].
pub(crate) fn product(row: &Row<'_>) -> Result<Product> {
    let category_path: String = row.get(4)?;
    let currency_text: String = row.get(7)?;
    let tags: String = row.get(8)?;
    Ok(Product {
        id: parsed("products.id", ProductId::parse(row.get::<_, String>(0)?))?,
        sku: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        category_path: from_json("products.category_path", &category_path)?,
        brand: row.get(5)?,
        price: row.get(6)?,
        currency: currency(&currency_text)?,
        tags: from_json("products.tags", &tags)?,
        in_stock: row.get(9)?,
        inventory_quantity: row.get(10)?,
        url: row.get(11)?,
        image_url: row.get(12)?,
        created_at: Some(time(row.get(13)?)?),
        updated_at: Some(time(row.get(14)?)?),
    })
}

/// The columns [`order_header`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! order_columns {
    () => {
        "id, customer_id, anonymous_id, email, placed_at, currency, shipping, tax, \
     discount, coupon, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer"
    };
}
pub(crate) use order_columns;

/// An order without lines and history, from a row of [`order_columns!`].
pub(crate) fn order_header(row: &Row<'_>) -> Result<embudo_core::Order> {
    let currency_text: String = row.get(5)?;
    Ok(embudo_core::Order {
        id: parsed("orders.id", OrderId::parse(row.get::<_, String>(0)?))?,
        customer_id: opt_parsed("orders.customer_id", row.get(1)?, CustomerId::parse)?,
        anonymous_id: opt_parsed("orders.anonymous_id", row.get(2)?, AnonymousId::parse)?,
        email: opt_parsed("orders.email", row.get(3)?, |t: String| Email::parse(t))?,
        placed_at: time(row.get(4)?)?,
        currency: currency(&currency_text)?,
        lines: Vec::new(),
        shipping: row.get(6)?,
        tax: row.get(7)?,
        discount: row.get(8)?,
        coupon: row.get(9)?,
        attribution: Attribution {
            source: row.get(10)?,
            medium: row.get(11)?,
            campaign: row.get(12)?,
            term: row.get(13)?,
            content: row.get(14)?,
            referrer: row.get(15)?,
        },
        history: Vec::new(),
    })
}

/// The columns [`order_line`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! line_columns {
    () => {
        "kind, product_id, sku, title, quantity, unit_price, discount"
    };
}
pub(crate) use line_columns;

/// An order line from a row of [`line_columns!`].
pub(crate) fn order_line(row: &Row<'_>) -> Result<OrderLine> {
    let kind: String = row.get(0)?;
    Ok(OrderLine {
        kind: named("order_lines.kind", &kind, LineKind::parse)?,
        product_id: opt_parsed("order_lines.product_id", row.get(1)?, ProductId::parse)?,
        sku: row.get(2)?,
        title: row.get(3)?,
        quantity: row.get(4)?,
        unit_price: row.get(5)?,
        discount: row.get(6)?,
    })
}

/// The columns [`status_change`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! status_columns {
    () => {
        "status, at, carrier, tracking_number, note"
    };
}
pub(crate) use status_columns;

/// A status change from a row of [`status_columns!`].
pub(crate) fn status_change(row: &Row<'_>) -> Result<StatusChange> {
    let status: String = row.get(0)?;
    Ok(StatusChange {
        status: named("order_status.status", &status, StatusKind::parse)?,
        at: time(row.get(1)?)?,
        carrier: row.get(2)?,
        tracking_number: row.get(3)?,
        amount: None,
        note: row.get(4)?,
    })
}

/// The columns [`refund`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! refund_columns {
    () => {
        "id, order_id, customer_id, at, amount, currency, reason"
    };
}
pub(crate) use refund_columns;

/// A refund from a row of [`refund_columns!`].
pub(crate) fn refund(row: &Row<'_>) -> Result<Refund> {
    let currency_text: String = row.get(5)?;
    Ok(Refund {
        id: parsed("refunds.id", RefundId::parse(row.get::<_, String>(0)?))?,
        order_id: opt_parsed("refunds.order_id", row.get(1)?, OrderId::parse)?,
        customer_id: opt_parsed("refunds.customer_id", row.get(2)?, CustomerId::parse)?,
        at: time(row.get(3)?)?,
        amount: row.get(4)?,
        currency: currency(&currency_text)?,
        reason: row.get(6)?,
    })
}

/// A refund as the `refunded` history entry it stands for.
pub(crate) fn refund_as_change(refund: &Refund) -> StatusChange {
    StatusChange {
        status: StatusKind::Refunded,
        at: refund.at,
        carrier: None,
        tracking_number: None,
        amount: Some(refund.amount),
        note: refund.reason.clone(),
    }
}

/// The columns [`api_key`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! key_columns {
    () => {
        "id, name, kind, hash, created_at, revoked_at"
    };
}
pub(crate) use key_columns;

/// An API key from a row of [`key_columns!`].
pub(crate) fn api_key(row: &Row<'_>) -> Result<ApiKey> {
    let kind: String = row.get(2)?;
    Ok(ApiKey {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: named("api_keys.kind", &kind, KeyKind::parse)?,
        hash: row.get(3)?,
        created_at: time(row.get(4)?)?,
        revoked_at: opt_time(row.get(5)?)?,
    })
}

/// The columns [`identity_merge`] reads, in its order (a macro, so that queries are `concat!`ed
/// at compile time).
macro_rules! merge_columns {
    () => {
        "anonymous_id, from_customer, into_customer, reason, message_id, events_moved, at"
    };
}
pub(crate) use merge_columns;

/// An identity merge from a row of [`merge_columns!`].
pub(crate) fn identity_merge(row: &Row<'_>) -> Result<IdentityMerge> {
    let reason: String = row.get(3)?;
    Ok(IdentityMerge {
        anonymous_id: opt_parsed(
            "identity_merges.anonymous_id",
            row.get(0)?,
            AnonymousId::parse,
        )?,
        from_customer: opt_parsed(
            "identity_merges.from_customer",
            row.get(1)?,
            CustomerId::parse,
        )?,
        into_customer: parsed(
            "identity_merges.into_customer",
            CustomerId::parse(row.get::<_, String>(2)?),
        )?,
        reason: named("identity_merges.reason", &reason, MergeReason::parse)?,
        message_id: opt_parsed("identity_merges.message_id", row.get(4)?, MessageId::parse)?,
        events_moved: row.get(5)?,
        at: time(row.get(6)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_keep_microseconds_and_refuse_nonsense() {
        let at = DateTime::from_timestamp_micros(1_767_225_600_123_456).unwrap();
        assert_eq!(time(micros(at)).unwrap(), at);
        assert!(time(i64::MAX).is_err());
    }

    #[test]
    fn compact_contexts_read_back_whole() {
        let mut context = EventContext::default();
        assert_eq!(context_json(&context), r#"{"attribution":{},"raw":{}}"#);
        context.locale = Some("de-DE".into());
        context.attribution.term = Some("knives".into());
        context.raw.insert("x".into(), serde_json::json!([1, null]));
        let back: EventContext = from_json("context", &context_json(&context)).unwrap();
        assert_eq!(back, context);
    }
}
