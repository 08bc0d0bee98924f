//! Queries. Each function takes any connection, so the writer can read inside its own
//! transaction and readers run them inside a read transaction (one consistent snapshot).

use crate::codec;
use crate::error::Result;
use embudo_core::{Customer, IdentityMerge, Order, Product, Refund, StoredEvent};
use embudo_store::{ApiKey, Counts, CurrencyTotals, PageRequest};
use rusqlite::{params, Connection, OptionalExtension, Params, Row};
use std::collections::BTreeMap;

/// Runs a cached query and decodes every row.
fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs a cached query and decodes its first row, if any.
fn first<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    decode: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    match rows.next()? {
        Some(row) => Ok(Some(decode(row)?)),
        None => Ok(None),
    }
}

/// The cursor of a page: ids are never empty, so every id sorts after "". One query shape
/// (`id > ?`) lets SQLite seek in the primary key instead of scanning from the start.
fn after(page: &PageRequest) -> &str {
    page.after.as_deref().unwrap_or("")
}

// ---- tracking ----

/// A customer's events, newest first.
pub(crate) fn customer_events(conn: &Connection, id: &str, limit: u32) -> Result<Vec<StoredEvent>> {
    let sql = concat!(
        "SELECT ",
        codec::event_columns!(),
        " FROM events WHERE customer_id = ?1 ORDER BY ts DESC, seq DESC LIMIT ?2"
    );
    all(conn, sql, params![id, limit], codec::event)
}

/// Events sent with a visitor's anonymous id, newest first (through `events_anonymous`).
pub(crate) fn visitor_events(
    conn: &Connection,
    anonymous_id: &str,
    limit: u32,
) -> Result<Vec<StoredEvent>> {
    let sql = concat!(
        "SELECT ",
        codec::event_columns!(),
        " FROM events WHERE anonymous_id = ?1 ORDER BY ts DESC, seq DESC LIMIT ?2"
    );
    all(conn, sql, params![anonymous_id, limit], codec::event)
}

/// The customer a visitor is linked to.
pub(crate) fn visitor_customer(conn: &Connection, anonymous_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT customer_id FROM identities WHERE anonymous_id = ?1")?
        .query_row([anonymous_id], |row| row.get(0))
        .optional()?)
}

/// The merges into a customer, oldest first.
pub(crate) fn identity_merges(conn: &Connection, id: &str) -> Result<Vec<IdentityMerge>> {
    let sql = concat!(
        "SELECT ",
        codec::merge_columns!(),
        " FROM identity_merges WHERE into_customer = ?1 ORDER BY id"
    );
    all(conn, sql, [id], codec::identity_merge)
}

// ---- catalog ----

/// One product.
pub(crate) fn product(conn: &Connection, id: &str) -> Result<Option<Product>> {
    let sql = concat!(
        "SELECT ",
        codec::product_columns!(),
        " FROM products WHERE id = ?1"
    );
    first(conn, sql, [id], codec::product)
}

/// A page of products by id.
pub(crate) fn products(conn: &Connection, page: &PageRequest) -> Result<Vec<Product>> {
    let sql = concat!(
        "SELECT ",
        codec::product_columns!(),
        " FROM products WHERE id > ?1 ORDER BY id LIMIT ?2"
    );
    all(
        conn,
        sql,
        params![after(page), page.limit()],
        codec::product,
    )
}

// ---- customers ----

/// One customer.
pub(crate) fn customer(conn: &Connection, id: &str) -> Result<Option<Customer>> {
    let sql = concat!(
        "SELECT ",
        codec::customer_columns!(),
        " FROM customers WHERE id = ?1"
    );
    first(conn, sql, [id], codec::customer)
}

/// A page of customers by id.
pub(crate) fn customers(conn: &Connection, page: &PageRequest) -> Result<Vec<Customer>> {
    let sql = concat!(
        "SELECT ",
        codec::customer_columns!(),
        " FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2"
    );
    all(
        conn,
        sql,
        params![after(page), page.limit()],
        codec::customer,
    )
}

/// A customer's orders, newest first.
pub(crate) fn customer_orders(conn: &Connection, id: &str, limit: u32) -> Result<Vec<Order>> {
    let sql = concat!(
        "SELECT ",
        codec::order_columns!(),
        " FROM orders WHERE customer_id = ?1 ORDER BY placed_at DESC, id DESC LIMIT ?2"
    );
    let mut orders = all(conn, sql, params![id, limit], codec::order_header)?;
    for order in &mut orders {
        fill_order(conn, order)?;
    }
    Ok(orders)
}

// ---- orders ----

/// One order with its lines and full history.
pub(crate) fn order(conn: &Connection, id: &str) -> Result<Option<Order>> {
    let sql = concat!(
        "SELECT ",
        codec::order_columns!(),
        " FROM orders WHERE id = ?1"
    );
    let Some(mut order) = first(conn, sql, [id], codec::order_header)? else {
        return Ok(None);
    };
    fill_order(conn, &mut order)?;
    Ok(Some(order))
}

/// A page of orders by id.
pub(crate) fn orders(conn: &Connection, page: &PageRequest) -> Result<Vec<Order>> {
    let sql = concat!(
        "SELECT ",
        codec::order_columns!(),
        " FROM orders WHERE id > ?1 ORDER BY id LIMIT ?2"
    );
    let mut orders = all(
        conn,
        sql,
        params![after(page), page.limit()],
        codec::order_header,
    )?;
    for order in &mut orders {
        fill_order(conn, order)?;
    }
    Ok(orders)
}

/// Adds lines and history (status entries and refunds, by time) to an order header.
fn fill_order(conn: &Connection, order: &mut Order) -> Result<()> {
    let id = order.id.as_str();
    let lines_sql = concat!(
        "SELECT ",
        codec::line_columns!(),
        " FROM order_lines WHERE order_id = ?1 ORDER BY line_no"
    );
    order.lines = all(conn, lines_sql, [id], codec::order_line)?;
    let status_sql = concat!(
        "SELECT ",
        codec::status_columns!(),
        " FROM order_status WHERE order_id = ?1 ORDER BY at, rowid"
    );
    let mut history = all(conn, status_sql, [id], codec::status_change)?;
    history.extend(order_refunds(conn, id)?.iter().map(codec::refund_as_change));
    // Stable: at equal times, status entries stay before refunds.
    history.sort_by_key(|change| change.at);
    order.history = history;
    Ok(())
}

/// An order's refunds, oldest first.
pub(crate) fn order_refunds(conn: &Connection, id: &str) -> Result<Vec<Refund>> {
    let sql = concat!(
        "SELECT ",
        codec::refund_columns!(),
        " FROM refunds WHERE order_id = ?1 ORDER BY at, id"
    );
    all(conn, sql, [id], codec::refund)
}

// ---- keys ----

/// The unrevoked key with this hash.
pub(crate) fn key_by_hash(conn: &Connection, hash: &str) -> Result<Option<ApiKey>> {
    let sql = concat!(
        "SELECT ",
        codec::key_columns!(),
        " FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL"
    );
    first(conn, sql, [hash], codec::api_key)
}

/// All keys, oldest first.
pub(crate) fn keys(conn: &Connection) -> Result<Vec<ApiKey>> {
    let sql = concat!(
        "SELECT ",
        codec::key_columns!(),
        " FROM api_keys ORDER BY created_at, id"
    );
    all(conn, sql, [], codec::api_key)
}

// ---- facts ----

/// Row counts.
pub(crate) fn counts(conn: &Connection) -> Result<Counts> {
    Ok(conn.prepare_cached(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM customers), (SELECT count(*) FROM identities), \
         (SELECT count(*) FROM orders), (SELECT count(*) FROM orders WHERE customer_id IS NULL), \
         (SELECT count(*) FROM products), (SELECT count(*) FROM refunds)",
    )?
    .query_row([], |row| {
        Ok(Counts {
            events: row.get(0)?,
            customers: row.get(1)?,
            linked_visitors: row.get(2)?,
            orders: row.get(3)?,
            guest_orders: row.get(4)?,
            products: row.get(5)?,
            refunds: row.get(6)?,
        })
    })?)
}

/// Totals per currency, ordered by currency code.
pub(crate) fn totals(conn: &Connection) -> Result<Vec<CurrencyTotals>> {
    // (orders, customers, merchandise, products sold, refunds) per currency code.
    let mut by_code: BTreeMap<String, [i64; 5]> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT currency, count(*), count(DISTINCT customer_id), coalesce(sum(merchandise_total), 0) \
         FROM orders GROUP BY currency",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let entry = by_code.entry(row.get(0)?).or_default();
        entry[0] = row.get(1)?;
        entry[1] = row.get(2)?;
        entry[2] = row.get(3)?;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT o.currency, count(DISTINCT l.product_id) FROM order_lines l JOIN orders o ON o.id = l.order_id \
         WHERE l.kind = 'product' AND l.product_id IS NOT NULL GROUP BY o.currency",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        by_code.entry(row.get(0)?).or_default()[3] = row.get(1)?;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT currency, coalesce(sum(amount), 0) FROM refunds GROUP BY currency",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        by_code.entry(row.get(0)?).or_default()[4] = row.get(1)?;
    }
    by_code
        .into_iter()
        .map(
            |(
                code,
                [orders, customers_with_orders, merchandise_revenue, products_sold, refunds],
            )| {
                Ok(CurrencyTotals {
                    currency: codec::currency(&code)?,
                    orders,
                    customers_with_orders,
                    products_sold,
                    merchandise_revenue,
                    refunds,
                })
            },
        )
        .collect()
}

/// Checks the connection answers.
pub(crate) fn ping(conn: &Connection) -> Result<()> {
    conn.prepare_cached("SELECT 1")?
        .query_row([], |row| row.get::<_, i64>(0))?;
    Ok(())
}
