//! The rows analytics reads ([`embudo_store::facts`]).

use crate::codec::currency_code;
use crate::error::{corrupt, Result};
use chrono::{DateTime, NaiveDate, Utc};
use embudo_core::{CustomerId, CustomerType, OrderId, ProductId};
use embudo_store::facts::{
    event_details_text, event_person, order_person, top_category, CustomerFact, EventFact,
    EventQuery, Fingerprint, IdentityChange, LineFact, Marks, OrderFact, RefundFact, TimeRange,
    FINGERPRINT_MODULUS,
};
use sqlx::{PgConnection, Row};
use std::collections::HashMap;

/// Bounds of a range, open ends widened to dates far outside any shop's history.
fn bounds(range: &TimeRange) -> (DateTime<Utc>, DateTime<Utc>) {
    let far = |y| {
        NaiveDate::from_ymd_opt(y, 1, 1)
            .unwrap_or_default()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
    };
    (
        range.from.unwrap_or_else(|| far(1)),
        range.to.unwrap_or_else(|| far(9999)),
    )
}

/// The event name analytics uses: pages are "Page Viewed", screens "Screen Viewed".
const NAME: &str =
    "CASE kind WHEN 'page' THEN 'Page Viewed' WHEN 'screen' THEN 'Screen Viewed' ELSE event END";

fn customer(id: Option<String>) -> Result<Option<CustomerId>> {
    id.map(|c| CustomerId::parse(c).map_err(|e| corrupt("customer_id", e)))
        .transpose()
}

pub(crate) async fn events(conn: &mut PgConnection, query: &EventQuery) -> Result<Vec<EventFact>> {
    let (from, to) = bounds(&query.range);
    let filter = if query.names.is_empty() { "" } else { " AND " };
    let names = if query.names.is_empty() {
        String::new()
    } else {
        format!("{NAME} = ANY($3::text[])")
    };
    let properties = if query.details {
        "properties::text"
    } else {
        "''"
    };
    let seqs = match (query.seqs, query.names.is_empty()) {
        (None, _) => "",
        (Some(_), true) => " AND seq > $3 AND seq <= $4",
        (Some(_), false) => " AND seq > $4 AND seq <= $5",
    };
    let sql = format!(
        "SELECT seq, ts, customer_id, anonymous_id, message_id, {NAME} AS name, session_id, {properties} AS properties, \
         device_type, country, utm_source, utm_medium, utm_campaign \
         FROM events WHERE ts >= $1 AND ts < $2 AND kind IN ('track', 'page', 'screen'){filter}{names}{seqs} \
         ORDER BY ts, seq"
    );
    let mut q = sqlx::query(&sql).bind(from).bind(to);
    if !query.names.is_empty() {
        q = q.bind(&query.names);
    }
    if let Some(seqs) = query.seqs {
        q = q.bind(seqs.after).bind(seqs.through);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let customer_id: Option<String> = row.try_get("customer_id")?;
        let anonymous: Option<String> = row.try_get("anonymous_id")?;
        let message_id: String = row.try_get("message_id")?;
        let properties: String = row.try_get("properties")?;
        let details = event_details_text(&properties);
        out.push(EventFact {
            seq: row.try_get("seq")?,
            at: row.try_get("ts")?,
            person: event_person(customer_id.as_deref(), anonymous.as_deref(), &message_id),
            customer_id: customer(customer_id)?,
            event: row
                .try_get::<Option<String>, _>("name")?
                .unwrap_or_default(),
            session_id: row.try_get("session_id")?,
            product_id: details.product_id,
            category: details.category,
            value: details.value,
            currency: details.currency,
            device: row.try_get("device_type")?,
            country: row.try_get("country")?,
            source: row.try_get("utm_source")?,
            medium: row.try_get("utm_medium")?,
            campaign: row.try_get("utm_campaign")?,
        });
    }
    Ok(out)
}

pub(crate) async fn count_people(conn: &mut PgConnection, range: TimeRange) -> Result<u64> {
    let (from, to) = bounds(&range);
    let n: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT CASE WHEN customer_id IS NOT NULL THEN 'c:' || customer_id \
           WHEN anonymous_id IS NOT NULL THEN 'v:' || anonymous_id ELSE 'm:' || message_id END) \
         FROM events WHERE ts >= $1 AND ts < $2 AND kind IN ('track', 'page', 'screen')",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n as u64)
}

/// Run inside one `REPEATABLE READ` transaction (headers and lines must be one state).
pub(crate) async fn orders(conn: &mut PgConnection, range: TimeRange) -> Result<Vec<OrderFact>> {
    let (from, to) = bounds(&range);
    let mut lines: HashMap<String, Vec<LineFact>> = HashMap::new();
    let rows = sqlx::query(
        "SELECT l.order_id, l.product_id, p.category, l.quantity, l.unit_price, l.discount \
         FROM order_lines l JOIN orders o ON o.id = l.order_id \
         LEFT JOIN products p ON p.id = l.product_id \
         WHERE l.kind = 'product' AND l.product_id IS NOT NULL \
           AND o.placed_at >= $1 AND o.placed_at < $2 \
         ORDER BY l.order_id, l.line_no",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let product: String = row.try_get("product_id")?;
        let category: Option<String> = row.try_get("category")?;
        let quantity: i64 = row.try_get("quantity")?;
        let unit_price: i64 = row.try_get("unit_price")?;
        let discount: i64 = row.try_get("discount")?;
        lines
            .entry(row.try_get("order_id")?)
            .or_default()
            .push(LineFact {
                product_id: ProductId::parse(product).map_err(|e| corrupt("product_id", e))?,
                category: category.as_deref().and_then(top_category),
                quantity,
                amount: quantity.saturating_mul(unit_price).saturating_sub(discount),
            });
    }
    let rows = sqlx::query(
        "SELECT o.id, coalesce(o.customer_id, i.customer_id) AS customer_id, o.anonymous_id, o.placed_at, \
                o.currency, o.merchandise_total, o.total, o.utm_source, o.utm_medium, o.utm_campaign, \
                EXISTS (SELECT 1 FROM order_status s WHERE s.order_id = o.id AND s.status = 'cancelled') AS cancelled \
         FROM orders o LEFT JOIN identities i ON i.anonymous_id = o.anonymous_id \
         WHERE o.placed_at >= $1 AND o.placed_at < $2 ORDER BY o.placed_at, o.id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let customer_id: Option<String> = row.try_get("customer_id")?;
        let anonymous: Option<String> = row.try_get("anonymous_id")?;
        out.push(OrderFact {
            person: order_person(customer_id.as_deref(), anonymous.as_deref(), &id),
            customer_id: customer(customer_id)?,
            placed_at: row.try_get("placed_at")?,
            currency: currency_code(row.try_get::<&str, _>("currency")?)?,
            merchandise: row.try_get("merchandise_total")?,
            total: row.try_get("total")?,
            source: row.try_get("utm_source")?,
            medium: row.try_get("utm_medium")?,
            campaign: row.try_get("utm_campaign")?,
            cancelled: row.try_get("cancelled")?,
            lines: lines.remove(&id).unwrap_or_default(),
            id: OrderId::parse(id).map_err(|e| corrupt("order id", e))?,
        });
    }
    Ok(out)
}

pub(crate) async fn refunds(conn: &mut PgConnection, range: TimeRange) -> Result<Vec<RefundFact>> {
    let (from, to) = bounds(&range);
    let rows = sqlx::query(
        "SELECT order_id, customer_id, at, currency, amount FROM refunds \
         WHERE at >= $1 AND at < $2 ORDER BY at, id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let order: Option<String> = row.try_get("order_id")?;
        out.push(RefundFact {
            order_id: order
                .map(|o| OrderId::parse(o).map_err(|e| corrupt("order_id", e)))
                .transpose()?,
            customer_id: customer(row.try_get("customer_id")?)?,
            at: row.try_get("at")?,
            currency: currency_code(row.try_get::<&str, _>("currency")?)?,
            amount: row.try_get("amount")?,
        });
    }
    Ok(out)
}

pub(crate) async fn customers(conn: &mut PgConnection) -> Result<Vec<CustomerFact>> {
    let rows = sqlx::query(
        "SELECT id, customer_type, country, first_seen FROM customers \
         WHERE merged_into IS NULL ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let kind: &str = row.try_get("customer_type")?;
        out.push(CustomerFact {
            id: CustomerId::parse(id).map_err(|e| corrupt("customer id", e))?,
            customer_type: CustomerType::parse(kind).unwrap_or_default(),
            country: row.try_get("country")?,
            first_seen: row.try_get("first_seen")?,
        });
    }
    Ok(out)
}

/// A fingerprint of `table` with the update-time expression `checksum` (a `timestamptz`
/// expression turned into microseconds).
async fn fingerprint(conn: &mut PgConnection, table: &str, checksum: &str) -> Result<Fingerprint> {
    let sql = format!(
        "SELECT count(*), coalesce(sum(({checksum}) % {FINGERPRINT_MODULUS}), 0)::bigint FROM {table}"
    );
    let (rows, checksum): (i64, i64) = sqlx::query_as(&sql).fetch_one(&mut *conn).await?;
    Ok(Fingerprint { rows, checksum })
}

/// Microseconds since the epoch of a `timestamptz` column, in SQL.
fn micros(column: &str) -> String {
    format!("coalesce((extract(epoch FROM {column}) * 1000000)::bigint, 0)")
}

/// Run inside a transaction that holds the apply lock alone: every tracking batch that drew
/// sequence numbers or identity log ids has committed, so the last ones are watermarks.
pub(crate) async fn marks(conn: &mut PgConnection) -> Result<Marks> {
    let (events, identities): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT max(seq) FROM events), (SELECT max(id) FROM identity_merges)",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Marks {
        events: events.unwrap_or(0),
        identities: identities.unwrap_or(0),
        orders: fingerprint(conn, "orders", &micros("updated_at")).await?,
        refunds: fingerprint(conn, "refunds", &format!("{} + amount", micros("at"))).await?,
    })
}

pub(crate) async fn customer_mark(conn: &mut PgConnection) -> Result<Fingerprint> {
    fingerprint(conn, "customers", &micros("updated_at")).await
}

pub(crate) async fn identity_changes(
    conn: &mut PgConnection,
    after: i64,
    through: i64,
) -> Result<Vec<IdentityChange>> {
    let rows: Vec<(i64, Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT id, anonymous_id, from_customer, into_customer FROM identity_merges \
         WHERE id > $1 AND id <= $2 ORDER BY id",
    )
    .bind(after)
    .bind(through)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, anonymous_id, from_customer, into_customer)| IdentityChange {
                id,
                anonymous_id,
                from_customer,
                into_customer,
            },
        )
        .collect())
}
