//! Values in and out of PostgreSQL: rows decoded into the domain types (never panicking: a
//! value that does not decode is a [`Error::Corrupt`]), and text made storable.
//!
//! PostgreSQL cannot store the NUL character, neither in `text` nor inside `jsonb` strings,
//! while every other part of Embudo (and SQLite) accepts it. Rather than fail a whole batch of
//! tracking messages because one property holds a NUL, text written by this backend has NUL
//! replaced by U+FFFD (the replacement character); nothing else is changed.

use crate::error::{corrupt, Error, Result};
use chrono::{DateTime, Utc};
use embudo_core::{
    AnonymousId, Attributes, Consent, ConsentStatus, Currency, Customer, CustomerId, CustomerType,
    Email, EventContext, IdentityMerge, LineKind, MergeReason, Message, MessageId, MessageKind,
    OrderId, OrderLine, Product, ProductId, Refund, RefundId, StatusChange, StatusKind,
    StoredEvent,
};
use embudo_store::{ApiKey, KeyKind};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;

const REPLACEMENT: char = '\u{FFFD}';

/// Text as PostgreSQL can store it (NUL replaced).
pub(crate) fn text(value: &str) -> String {
    if value.contains('\0') {
        value.replace('\0', "\u{FFFD}")
    } else {
        value.to_owned()
    }
}

/// Optional text as PostgreSQL can store it.
pub(crate) fn opt_text(value: Option<&str>) -> Option<String> {
    value.map(text)
}

/// A JSON value serialized for a `jsonb` column (bound as text and cast), NULs replaced.
pub(crate) fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String> {
    let serialized = serde_json::to_string(value)
        .map_err(|e| Error::Corrupt(format!("cannot serialize JSON: {e}")))?;
    // serde_json writes NUL as the escape `\u0000`; only then is the slow path needed.
    if !serialized.contains("\\u0000") {
        return Ok(serialized);
    }
    let mut tree: Value = serde_json::from_str(&serialized)
        .map_err(|e| Error::Corrupt(format!("cannot reparse JSON: {e}")))?;
    scrub(&mut tree);
    serde_json::to_string(&tree).map_err(|e| Error::Corrupt(format!("cannot serialize JSON: {e}")))
}

fn scrub(value: &mut Value) {
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                scrub(&mut item);
                let key = if key.contains('\0') {
                    key.replace('\0', &REPLACEMENT.to_string())
                } else {
                    key
                };
                map.insert(key, item);
            }
        }
        _ => {}
    }
}

// ---- decoding ----

fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|e| corrupt(column, e))
}

fn parsed<T, E: std::fmt::Display>(
    column: &str,
    value: String,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Result<T> {
    parse(value).map_err(|e| corrupt(column, e))
}

fn opt_parsed<T, E: std::fmt::Display>(
    row: &PgRow,
    column: &str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Result<Option<T>> {
    get::<Option<String>>(row, column)?
        .map(|v| parsed(column, v, parse))
        .transpose()
}

fn req_parsed<T, E: std::fmt::Display>(
    row: &PgRow,
    column: &str,
    parse: impl FnOnce(String) -> Result<T, E>,
) -> Result<T> {
    parsed(column, get::<String>(row, column)?, parse)
}

fn unknown(what: &str, value: &str) -> String {
    format!("unknown {what} `{value}`")
}

fn object(column: &str, value: Value) -> Result<Attributes> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(corrupt(
            column,
            format!("expected a JSON object, got {other}"),
        )),
    }
}

fn json<T: serde::de::DeserializeOwned>(row: &PgRow, column: &str) -> Result<T> {
    let value: Value = get(row, column)?;
    serde_json::from_value(value).map_err(|e| corrupt(column, e))
}

/// The columns [`event`] reads, in a form ready for `SELECT`.
pub(crate) const EVENT_COLUMNS: &str =
    "seq, customer_id, message_id, kind, event, anonymous_id, user_id, previous_id, \
     group_id, session_id, ts, received_at, properties, traits, context";

/// A row of `events` (see [`EVENT_COLUMNS`]).
pub(crate) fn event(row: &PgRow) -> Result<StoredEvent> {
    let kind: String = get(row, "kind")?;
    let message = Message {
        message_id: req_parsed(row, "message_id", MessageId::parse)?,
        kind: MessageKind::parse(&kind)
            .ok_or_else(|| corrupt("kind", unknown("message kind", &kind)))?,
        event: get(row, "event")?,
        anonymous_id: opt_parsed(row, "anonymous_id", AnonymousId::parse)?,
        user_id: opt_parsed(row, "user_id", CustomerId::parse)?,
        previous_id: get(row, "previous_id")?,
        group_id: get(row, "group_id")?,
        session_id: get(row, "session_id")?,
        timestamp: get(row, "ts")?,
        received_at: get(row, "received_at")?,
        properties: object("properties", get(row, "properties")?)?,
        traits: object("traits", get(row, "traits")?)?,
        context: json::<EventContext>(row, "context")?,
    };
    Ok(StoredEvent {
        seq: get(row, "seq")?,
        customer_id: opt_parsed(row, "customer_id", CustomerId::parse)?,
        message,
    })
}

/// A row of `identity_merges`.
pub(crate) fn identity_merge(row: &PgRow) -> Result<IdentityMerge> {
    let reason: String = get(row, "reason")?;
    Ok(IdentityMerge {
        anonymous_id: opt_parsed(row, "anonymous_id", AnonymousId::parse)?,
        from_customer: opt_parsed(row, "from_customer", CustomerId::parse)?,
        into_customer: req_parsed(row, "into_customer", CustomerId::parse)?,
        reason: MergeReason::parse(&reason)
            .ok_or_else(|| corrupt("reason", unknown("merge reason", &reason)))?,
        message_id: opt_parsed(row, "message_id", MessageId::parse)?,
        events_moved: get(row, "events_moved")?,
        at: get(row, "at")?,
    })
}

fn currency(row: &PgRow, column: &str) -> Result<Currency> {
    let code: String = get(row, column)?;
    Currency::parse(&code).map_err(|e| corrupt(column, e))
}

/// A row of `customers`.
pub(crate) fn customer(row: &PgRow) -> Result<Customer> {
    let customer_type: String = get(row, "customer_type")?;
    let consent_status: Option<String> = get(row, "consent_status")?;
    let consent = match consent_status {
        None => None,
        Some(status) => {
            let status = match status.as_str() {
                "granted" => ConsentStatus::Granted,
                "denied" => ConsentStatus::Denied,
                other => return Err(corrupt("consent_status", unknown("consent status", other))),
            };
            let at: Option<DateTime<Utc>> = get(row, "consent_at")?;
            let source: Option<String> = get(row, "consent_source")?;
            Some(Consent {
                status,
                at: at
                    .ok_or_else(|| corrupt("consent_at", "missing while consent_status is set"))?,
                source: source.unwrap_or_default(),
            })
        }
    };
    Ok(Customer {
        id: req_parsed(row, "id", CustomerId::parse)?,
        email: opt_parsed(row, "email", Email::parse)?,
        name: get(row, "name")?,
        phone: get(row, "phone")?,
        country: get(row, "country")?,
        city: get(row, "city")?,
        customer_type: CustomerType::parse(&customer_type)
            .ok_or_else(|| corrupt("customer_type", unknown("customer type", &customer_type)))?,
        consent,
        attributes: object("attributes", get(row, "attributes")?)?,
        first_seen: get(row, "first_seen")?,
        last_seen: get(row, "last_seen")?,
        updated_at: get(row, "updated_at")?,
        merged_into: opt_parsed(row, "merged_into", CustomerId::parse)?,
    })
}

/// The name a consent status is stored under.
pub(crate) fn consent_status(status: ConsentStatus) -> &'static str {
    match status {
        ConsentStatus::Granted => "granted",
        ConsentStatus::Denied => "denied",
    }
}

/// A row of `products`.
pub(crate) fn product(row: &PgRow) -> Result<Product> {
    Ok(Product {
        id: req_parsed(row, "id", ProductId::parse)?,
        sku: get(row, "sku")?,
        title: get(row, "title")?,
        description: get(row, "description")?,
        category_path: json(row, "category_path")?,
        brand: get(row, "brand")?,
        price: get(row, "price")?,
        currency: currency(row, "currency")?,
        tags: json(row, "tags")?,
        in_stock: get(row, "in_stock")?,
        inventory_quantity: get(row, "inventory_quantity")?,
        url: get(row, "url")?,
        image_url: get(row, "image_url")?,
        created_at: Some(get(row, "created_at")?),
        updated_at: Some(get(row, "updated_at")?),
    })
}

/// A row of `order_lines`.
pub(crate) fn order_line(row: &PgRow) -> Result<OrderLine> {
    let kind: String = get(row, "kind")?;
    Ok(OrderLine {
        kind: LineKind::parse(&kind).ok_or_else(|| corrupt("kind", unknown("line kind", &kind)))?,
        product_id: opt_parsed(row, "product_id", ProductId::parse)?,
        sku: get(row, "sku")?,
        title: get(row, "title")?,
        quantity: get(row, "quantity")?,
        unit_price: get(row, "unit_price")?,
        discount: get(row, "discount")?,
    })
}

/// A row of `order_status`.
pub(crate) fn status_change(row: &PgRow) -> Result<StatusChange> {
    let status: String = get(row, "status")?;
    Ok(StatusChange {
        status: StatusKind::parse(&status)
            .ok_or_else(|| corrupt("status", unknown("order status", &status)))?,
        at: get(row, "at")?,
        carrier: get(row, "carrier")?,
        tracking_number: get(row, "tracking_number")?,
        amount: None,
        note: get(row, "note")?,
    })
}

/// A row of `refunds`.
pub(crate) fn refund(row: &PgRow) -> Result<Refund> {
    Ok(Refund {
        id: req_parsed(row, "id", RefundId::parse)?,
        order_id: opt_parsed(row, "order_id", OrderId::parse)?,
        customer_id: opt_parsed(row, "customer_id", CustomerId::parse)?,
        at: get(row, "at")?,
        amount: get(row, "amount")?,
        currency: currency(row, "currency")?,
        reason: get(row, "reason")?,
    })
}

/// A row of `api_keys`.
pub(crate) fn api_key(row: &PgRow) -> Result<ApiKey> {
    let kind: String = get(row, "kind")?;
    Ok(ApiKey {
        id: get(row, "id")?,
        name: get(row, "name")?,
        kind: KeyKind::parse(&kind).ok_or_else(|| corrupt("kind", unknown("key kind", &kind)))?,
        hash: get(row, "hash")?,
        created_at: get(row, "created_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

/// A currency read from an aggregate.
pub(crate) fn currency_code(code: &str) -> Result<Currency> {
    Currency::parse(code).map_err(|e| corrupt("currency", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_replaced_in_text_and_json() {
        assert_eq!(text("a\0b"), "a\u{FFFD}b");
        assert_eq!(text("plain"), "plain");
        let value = json!({"k\u{0}": ["x\u{0}y", {"n": 1}], "ok": "\\u0000 is text"});
        let stored: Value = serde_json::from_str(&json_text(&value).unwrap()).unwrap();
        assert_eq!(
            stored,
            json!({"k\u{FFFD}": ["x\u{FFFD}y", {"n": 1}], "ok": "\\u0000 is text"})
        );
        let plain = json!({"a": "b"});
        assert_eq!(json_text(&plain).unwrap(), r#"{"a":"b"}"#);
    }
}
