//! The rows analytics reads ([`embudo_store::facts`]).

use crate::codec::{self, micros, time};
use crate::error::Result;
use embudo_core::{CustomerId, CustomerType, OrderId, ProductId};
use embudo_store::facts::{
    event_details_text, event_person, order_person, top_category, CustomerFact, EventFact,
    EventQuery, Fingerprint, IdentityChange, LineFact, Marks, OrderFact, RefundFact, TimeRange,
    FINGERPRINT_MODULUS,
};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use std::collections::HashMap;

/// Bounds of a range as microseconds, open ends widened to the extremes.
fn bounds(range: &TimeRange) -> (i64, i64) {
    (
        range.from.map_or(i64::MIN, micros),
        range.to.map_or(i64::MAX, micros),
    )
}

/// The event name analytics uses: pages are "Page Viewed", screens "Screen Viewed".
const NAME: &str =
    "CASE kind WHEN 'page' THEN 'Page Viewed' WHEN 'screen' THEN 'Screen Viewed' ELSE event END";

pub(crate) fn events(conn: &Connection, query: &EventQuery) -> Result<Vec<EventFact>> {
    let (from, to) = bounds(&query.range);
    let properties = if query.details { "properties" } else { "''" };
    let mut sql = format!(
        "SELECT seq, ts, customer_id, anonymous_id, message_id, {NAME}, session_id, {properties}, \
         device_type, country, utm_source, utm_medium, utm_campaign \
         FROM events WHERE ts >= ?1 AND ts < ?2 AND kind IN ('track', 'page', 'screen')"
    );
    let mut params: Vec<Value> = vec![Value::Integer(from), Value::Integer(to)];
    if !query.names.is_empty() {
        let marks: Vec<String> = (0..query.names.len())
            .map(|i| format!("?{}", i + 3))
            .collect();
        sql.push_str(&format!(" AND {NAME} IN ({})", marks.join(", ")));
        params.extend(query.names.iter().map(|n| Value::Text(n.clone())));
    }
    if let Some(seqs) = query.seqs {
        sql.push_str(&format!(
            " AND seq > ?{} AND seq <= ?{}",
            params.len() + 1,
            params.len() + 2
        ));
        params.extend([Value::Integer(seqs.after), Value::Integer(seqs.through)]);
    }
    sql.push_str(" ORDER BY ts, seq");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let customer: Option<String> = row.get(2)?;
        let anonymous: Option<String> = row.get(3)?;
        let message_id: String = row.get(4)?;
        let properties: String = row.get(7)?;
        let details = event_details_text(&properties);
        out.push(EventFact {
            seq: row.get(0)?,
            at: time(row.get(1)?)?,
            person: event_person(customer.as_deref(), anonymous.as_deref(), &message_id),
            customer_id: customer.as_deref().map(codec::customer_id).transpose()?,
            event: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
            session_id: row.get(6)?,
            product_id: details.product_id,
            category: details.category,
            value: details.value,
            currency: details.currency,
            device: row.get(8)?,
            country: row.get(9)?,
            source: row.get(10)?,
            medium: row.get(11)?,
            campaign: row.get(12)?,
        });
    }
    Ok(out)
}

/// The person key of an event, in SQL (see `embudo_store::facts::event_person`).
const PERSON: &str = "CASE WHEN customer_id IS NOT NULL THEN 'c:' || customer_id \
     WHEN anonymous_id IS NOT NULL THEN 'v:' || anonymous_id ELSE 'm:' || message_id END";

pub(crate) fn count_people(conn: &Connection, range: TimeRange) -> Result<u64> {
    let (from, to) = bounds(&range);
    let sql = format!(
        "SELECT count(DISTINCT {PERSON}) FROM events \
         WHERE ts >= ?1 AND ts < ?2 AND kind IN ('track', 'page', 'screen')"
    );
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row([from, to], |r| r.get(0))?;
    Ok(n as u64)
}

pub(crate) fn orders(conn: &Connection, range: TimeRange) -> Result<Vec<OrderFact>> {
    let (from, to) = bounds(&range);
    let mut lines: HashMap<String, Vec<LineFact>> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT l.order_id, l.product_id, p.category, l.quantity, l.unit_price, l.discount \
             FROM order_lines l JOIN orders o ON o.id = l.order_id \
             LEFT JOIN products p ON p.id = l.product_id \
             WHERE l.kind = 'product' AND l.product_id IS NOT NULL \
               AND o.placed_at >= ?1 AND o.placed_at < ?2 \
             ORDER BY l.order_id, l.line_no",
        )?;
        let mut rows = stmt.query([from, to])?;
        while let Some(row) = rows.next()? {
            let product: String = row.get(1)?;
            let category: Option<String> = row.get(2)?;
            let quantity: i64 = row.get(3)?;
            let unit_price: i64 = row.get(4)?;
            let discount: i64 = row.get(5)?;
            lines.entry(row.get(0)?).or_default().push(LineFact {
                product_id: codec::parsed("product id", ProductId::parse(product))?,
                category: category.as_deref().and_then(top_category),
                quantity,
                amount: quantity.saturating_mul(unit_price).saturating_sub(discount),
            });
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, coalesce(o.customer_id, i.customer_id), o.anonymous_id, o.placed_at, o.currency, \
                o.merchandise_total, o.total, o.utm_source, o.utm_medium, o.utm_campaign, \
                EXISTS (SELECT 1 FROM order_status s WHERE s.order_id = o.id AND s.status = 'cancelled') \
         FROM orders o LEFT JOIN identities i ON i.anonymous_id = o.anonymous_id \
         WHERE o.placed_at >= ?1 AND o.placed_at < ?2 ORDER BY o.placed_at, o.id",
    )?;
    let mut rows = stmt.query([from, to])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let customer: Option<String> = row.get(1)?;
        let anonymous: Option<String> = row.get(2)?;
        out.push(OrderFact {
            person: order_person(customer.as_deref(), anonymous.as_deref(), &id),
            customer_id: customer.as_deref().map(codec::customer_id).transpose()?,
            placed_at: time(row.get(3)?)?,
            currency: codec::currency(&row.get::<_, String>(4)?)?,
            merchandise: row.get(5)?,
            total: row.get(6)?,
            source: row.get(7)?,
            medium: row.get(8)?,
            campaign: row.get(9)?,
            cancelled: row.get(10)?,
            lines: lines.remove(&id).unwrap_or_default(),
            id: codec::parsed("order id", OrderId::parse(id))?,
        });
    }
    Ok(out)
}

pub(crate) fn refunds(conn: &Connection, range: TimeRange) -> Result<Vec<RefundFact>> {
    let (from, to) = bounds(&range);
    let mut stmt = conn.prepare_cached(
        "SELECT order_id, customer_id, at, currency, amount FROM refunds \
         WHERE at >= ?1 AND at < ?2 ORDER BY at, id",
    )?;
    let mut rows = stmt.query([from, to])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let order: Option<String> = row.get(0)?;
        let customer: Option<String> = row.get(1)?;
        out.push(RefundFact {
            order_id: order
                .map(|o| codec::parsed("order id", OrderId::parse(o)))
                .transpose()?,
            customer_id: customer.as_deref().map(codec::customer_id).transpose()?,
            at: time(row.get(2)?)?,
            currency: codec::currency(&row.get::<_, String>(3)?)?,
            amount: row.get(4)?,
        });
    }
    Ok(out)
}

pub(crate) fn customers(conn: &Connection) -> Result<Vec<CustomerFact>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, customer_type, country, first_seen FROM customers \
         WHERE merged_into IS NULL ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let kind: String = row.get(1)?;
        let first_seen: Option<i64> = row.get(3)?;
        out.push(CustomerFact {
            id: codec::parsed("customer id", CustomerId::parse(id))?,
            customer_type: CustomerType::parse(&kind).unwrap_or_default(),
            country: row.get(2)?,
            first_seen: first_seen.map(time).transpose()?,
        });
    }
    Ok(out)
}

/// A fingerprint of `table` with the update-time expression `checksum`.
fn fingerprint(conn: &Connection, table: &str, checksum: &str) -> Result<Fingerprint> {
    let sql = format!(
        "SELECT count(*), coalesce(sum(({checksum}) % {FINGERPRINT_MODULUS}), 0) FROM {table}"
    );
    Ok(conn.prepare_cached(&sql)?.query_row([], |row| {
        Ok(Fingerprint {
            rows: row.get(0)?,
            checksum: row.get(1)?,
        })
    })?)
}

/// Run in one read transaction. The single writer commits sequence numbers in order, so the
/// last one read is a watermark already.
pub(crate) fn marks(conn: &Connection) -> Result<Marks> {
    let last = |sql: &str| -> Result<i64> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row([], |row| row.get::<_, Option<i64>>(0))?
            .unwrap_or(0))
    };
    Ok(Marks {
        events: last("SELECT max(seq) FROM events")?,
        identities: last("SELECT max(id) FROM identity_merges")?,
        orders: fingerprint(conn, "orders", "updated_at")?,
        refunds: fingerprint(conn, "refunds", "at + amount")?,
    })
}

pub(crate) fn customer_mark(conn: &Connection) -> Result<Fingerprint> {
    fingerprint(conn, "customers", "updated_at")
}

pub(crate) fn identity_changes(
    conn: &Connection,
    after: i64,
    through: i64,
) -> Result<Vec<IdentityChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, anonymous_id, from_customer, into_customer FROM identity_merges \
         WHERE id > ?1 AND id <= ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map([after, through], |row| {
        Ok(IdentityChange {
            id: row.get(0)?,
            anonymous_id: row.get(1)?,
            from_customer: row.get(2)?,
            into_customer: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
