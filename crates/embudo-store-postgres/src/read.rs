//! The read side. Reads that take several statements (orders with their lines, history and
//! refunds) run in one `REPEATABLE READ` transaction so that they see one state of the
//! database, never half of a concurrent write.

use crate::codec::{self, EVENT_COLUMNS};
use crate::error::{corrupt, Result};
use embudo_core::{CustomerId, Order, OrderId, OrderLine, Refund, StatusChange, StatusKind};
use embudo_store::{Counts, CurrencyTotals};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashMap};

/// The columns of `orders` that [`orders_with_details`] reads.
pub(crate) const ORDER_COLUMNS: &str =
    "id, customer_id, anonymous_id, email, placed_at, currency, shipping, tax, \
     discount, coupon, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer";

/// Events of a customer, newest first.
pub(crate) async fn customer_events(
    conn: &mut PgConnection,
    id: &str,
    limit: u32,
) -> Result<Vec<embudo_core::StoredEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE customer_id = $1 ORDER BY ts DESC, seq DESC LIMIT $2");
    let rows = sqlx::query(&sql)
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(codec::event).collect()
}

/// Events sent with a visitor's anonymous id, newest first (through `events_anonymous`).
pub(crate) async fn visitor_events(
    conn: &mut PgConnection,
    anonymous_id: &str,
    limit: u32,
) -> Result<Vec<embudo_core::StoredEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE anonymous_id = $1 ORDER BY ts DESC, seq DESC LIMIT $2");
    let rows = sqlx::query(&sql)
        .bind(anonymous_id)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(codec::event).collect()
}

/// Decodes order headers and attaches their lines, status history and refunds.
pub(crate) async fn orders_with_details(
    conn: &mut PgConnection,
    headers: Vec<PgRow>,
) -> Result<Vec<Order>> {
    if headers.is_empty() {
        return Ok(Vec::new());
    }
    let mut orders = Vec::with_capacity(headers.len());
    for row in &headers {
        orders.push(order_header(row)?);
    }
    let ids: Vec<&str> = orders.iter().map(|o| o.id.as_str()).collect();

    let mut lines: HashMap<String, Vec<OrderLine>> = HashMap::new();
    let rows = sqlx::query(
        "SELECT order_id, kind, product_id, sku, title, quantity, unit_price, discount FROM order_lines \
         WHERE order_id = ANY($1::text[]) ORDER BY order_id, line_no",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        lines
            .entry(row.try_get("order_id")?)
            .or_default()
            .push(codec::order_line(row)?);
    }

    let mut history: HashMap<String, Vec<StatusChange>> = HashMap::new();
    let rows = sqlx::query(
        "SELECT order_id, status, at, carrier, tracking_number, note FROM order_status \
         WHERE order_id = ANY($1::text[]) ORDER BY order_id, at, status",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        history
            .entry(row.try_get("order_id")?)
            .or_default()
            .push(codec::status_change(row)?);
    }
    let rows = sqlx::query(
        "SELECT id, order_id, customer_id, at, amount, currency, reason FROM refunds \
         WHERE order_id = ANY($1::text[]) ORDER BY order_id, at, id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let refund = codec::refund(row)?;
        let Some(order_id) = refund.order_id.as_ref() else {
            continue;
        };
        history
            .entry(order_id.as_str().to_owned())
            .or_default()
            .push(refund_entry(&refund));
    }

    for order in &mut orders {
        order.lines = lines.remove(order.id.as_str()).unwrap_or_default();
        let mut entries = history.remove(order.id.as_str()).unwrap_or_default();
        // Stable: at equal times, status entries stay before refunds.
        entries.sort_by_key(|c| c.at);
        order.history = entries;
    }
    Ok(orders)
}

/// A refund as the `refunded` history entry it stands for.
fn refund_entry(refund: &Refund) -> StatusChange {
    StatusChange {
        status: StatusKind::Refunded,
        at: refund.at,
        carrier: None,
        tracking_number: None,
        amount: Some(refund.amount),
        note: refund.reason.clone(),
    }
}

fn order_header(row: &PgRow) -> Result<Order> {
    let get_text = |column: &str| -> Result<Option<String>> {
        row.try_get(column).map_err(|e| corrupt(column, e))
    };
    let id: String = row.try_get("id").map_err(|e| corrupt("id", e))?;
    let currency: String = row
        .try_get("currency")
        .map_err(|e| corrupt("currency", e))?;
    Ok(Order {
        id: OrderId::parse(id).map_err(|e| corrupt("id", e))?,
        customer_id: get_text("customer_id")?
            .map(CustomerId::parse)
            .transpose()
            .map_err(|e| corrupt("customer_id", e))?,
        anonymous_id: get_text("anonymous_id")?
            .map(embudo_core::AnonymousId::parse)
            .transpose()
            .map_err(|e| corrupt("anonymous_id", e))?,
        email: get_text("email")?
            .map(embudo_core::Email::parse)
            .transpose()
            .map_err(|e| corrupt("email", e))?,
        placed_at: row
            .try_get("placed_at")
            .map_err(|e| corrupt("placed_at", e))?,
        currency: codec::currency_code(&currency)?,
        lines: Vec::new(),
        shipping: row
            .try_get("shipping")
            .map_err(|e| corrupt("shipping", e))?,
        tax: row.try_get("tax").map_err(|e| corrupt("tax", e))?,
        discount: row
            .try_get("discount")
            .map_err(|e| corrupt("discount", e))?,
        coupon: get_text("coupon")?,
        attribution: embudo_core::Attribution {
            source: get_text("utm_source")?,
            medium: get_text("utm_medium")?,
            campaign: get_text("utm_campaign")?,
            term: get_text("utm_term")?,
            content: get_text("utm_content")?,
            referrer: get_text("referrer")?,
        },
        history: Vec::new(),
    })
}

/// How many rows of each kind are stored.
pub(crate) async fn counts(conn: &mut PgConnection) -> Result<Counts> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM events) AS events, \
                (SELECT count(*) FROM customers) AS customers, \
                (SELECT count(*) FROM identities) AS linked_visitors, \
                (SELECT count(*) FROM orders) AS orders, \
                (SELECT count(*) FROM orders WHERE customer_id IS NULL) AS guest_orders, \
                (SELECT count(*) FROM products) AS products, \
                (SELECT count(*) FROM refunds) AS refunds",
    )
    .fetch_one(&mut *conn)
    .await?;
    let get = |column: &str| -> Result<i64> { row.try_get(column).map_err(|e| corrupt(column, e)) };
    Ok(Counts {
        events: get("events")?,
        customers: get("customers")?,
        linked_visitors: get("linked_visitors")?,
        orders: get("orders")?,
        guest_orders: get("guest_orders")?,
        products: get("products")?,
        refunds: get("refunds")?,
    })
}

/// Order and refund totals per currency, ordered by currency code.
pub(crate) async fn totals(conn: &mut PgConnection) -> Result<Vec<CurrencyTotals>> {
    let rows = sqlx::query(
        "WITH o AS (SELECT currency, count(*) AS orders, count(DISTINCT customer_id) AS customers, \
                      COALESCE(sum(merchandise_total), 0)::int8 AS revenue FROM orders GROUP BY currency), \
              p AS (SELECT o.currency, count(DISTINCT l.product_id) AS products FROM order_lines l \
                      JOIN orders o ON o.id = l.order_id WHERE l.kind = 'product' GROUP BY o.currency), \
              r AS (SELECT currency, COALESCE(sum(amount), 0)::int8 AS refunds FROM refunds GROUP BY currency) \
         SELECT COALESCE(o.currency, r.currency) AS currency, COALESCE(o.orders, 0) AS orders, \
                COALESCE(o.customers, 0) AS customers, COALESCE(p.products, 0) AS products, \
                COALESCE(o.revenue, 0) AS revenue, COALESCE(r.refunds, 0) AS refunds \
         FROM o FULL JOIN r ON r.currency = o.currency LEFT JOIN p ON p.currency = o.currency \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut totals: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
    for row in rows {
        let get =
            |column: &str| -> Result<i64> { row.try_get(column).map_err(|e| corrupt(column, e)) };
        let code: String = row
            .try_get("currency")
            .map_err(|e| corrupt("currency", e))?;
        let currency = codec::currency_code(&code)?;
        totals.insert(
            code,
            CurrencyTotals {
                currency,
                orders: get("orders")?,
                customers_with_orders: get("customers")?,
                products_sold: get("products")?,
                merchandise_revenue: get("revenue")?,
                refunds: get("refunds")?,
            },
        );
    }
    Ok(totals.into_values().collect())
}
