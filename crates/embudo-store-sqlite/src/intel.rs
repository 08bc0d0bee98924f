//! Customer intelligence ([`embudo_store::intel`]): segments, memberships and their history,
//! scores, and the profile rows the segment evaluator reads.
//!
//! Writes take the writer's connection inside its transaction; the one writer commits in
//! order, so `segment_changes` ids grow in commit order. Reads take any connection. Sets of
//! ids are bound as one JSON array and read with `json_each`, so a query has the same text
//! (and cached statement) whatever the number of ids.

use crate::codec::{self, json, micros, time};
use crate::error::{corrupt, Result};
use embudo_core::{CustomerId, OrderId, ProductId};
use embudo_store::facts::top_category;
use embudo_store::intel::{
    event_profile_details, last_scores_per_customer, CustomerScores, CustomerSegment,
    MembershipChange, ProfileData, ProfileEventRow, ProfileLineRow, ProfileOrderRow, SegmentChange,
    SegmentMember, SegmentRecord,
};
use embudo_store::{PageRequest, StoreError};
use rusqlite::{params, Connection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The columns [`segment`] reads, in its order.
const SEGMENT_COLUMNS: &str = "key, name, description, expression, system, created_at, updated_at";

fn segment(row: &Row<'_>) -> Result<SegmentRecord> {
    Ok(SegmentRecord {
        key: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        expression: row.get(3)?,
        system: row.get(4)?,
        created_at: time(row.get(5)?)?,
        updated_at: time(row.get(6)?)?,
    })
}

fn scores(row: &Row<'_>) -> Result<CustomerScores> {
    let text: String = row.get(2)?;
    Ok(CustomerScores {
        customer_id: codec::customer_id(&row.get::<_, String>(0)?)?,
        computed_at: time(row.get(1)?)?,
        scores: serde_json::from_str(&text)
            .map_err(|e| corrupt(format!("customer_scores.scores: {e}")))?,
    })
}

/// Runs a cached query and decodes every row.
fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
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

/// A set of texts bound as one JSON array, for `IN (SELECT value FROM json_each(?))`.
fn json_set<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    json(&values.into_iter().collect::<Vec<_>>())
}

// ---- segments ----

pub(crate) fn put_segment(conn: &Connection, record: &SegmentRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO segments (key, name, description, expression, system, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (key) DO UPDATE SET name = excluded.name, description = excluded.description, \
           expression = excluded.expression, system = excluded.system, updated_at = excluded.updated_at",
    )?
    .execute(params![
        record.key,
        record.name,
        record.description,
        record.expression,
        record.system,
        micros(record.created_at),
        micros(record.updated_at),
    ])?;
    Ok(())
}

pub(crate) fn get_segment(conn: &Connection, key: &str) -> Result<Option<SegmentRecord>> {
    let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE key = ?1");
    Ok(all(conn, &sql, [key], segment)?.into_iter().next())
}

pub(crate) fn segments(conn: &Connection) -> Result<Vec<SegmentRecord>> {
    let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments ORDER BY key");
    all(conn, &sql, [], segment)
}

/// Logs one membership change.
fn log_change(
    conn: &Connection,
    segment: &str,
    customer: &str,
    entered: bool,
    at: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO segment_changes (segment_key, customer_id, entered, at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![segment, customer, entered, at])?;
    Ok(())
}

pub(crate) fn delete_segment(conn: &Connection, key: &str, at: i64) -> Result<bool> {
    let mut members: Vec<String> = all(
        conn,
        "DELETE FROM segment_members WHERE segment_key = ?1 RETURNING customer_id",
        [key],
        |row| Ok(row.get(0)?),
    )?;
    members.sort_unstable();
    for customer in &members {
        log_change(conn, key, customer, false, at)?;
    }
    let deleted = conn
        .prepare_cached("DELETE FROM segments WHERE key = ?1")?
        .execute([key])?;
    Ok(deleted > 0)
}

// ---- memberships ----

pub(crate) fn change_memberships(conn: &Connection, changes: &[MembershipChange]) -> Result<u64> {
    let entered: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.entered)
        .map(|c| c.segment.as_str())
        .collect();
    for key in entered {
        let known: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM segments WHERE key = ?1)")?
            .query_row([key], |row| row.get(0))?;
        if !known {
            return Err(
                StoreError::Conflict(format!("no segment `{}`", key.escape_debug())).into(),
            );
        }
    }
    let mut enter = conn.prepare_cached(
        "INSERT INTO segment_members (segment_key, customer_id, entered_at) SELECT ?1, ?2, ?3 \
         WHERE EXISTS (SELECT 1 FROM customers WHERE id = ?2 AND merged_into IS NULL) \
         ON CONFLICT (segment_key, customer_id) DO NOTHING",
    )?;
    let mut leave = conn.prepare_cached(
        "DELETE FROM segment_members WHERE segment_key = ?1 AND customer_id = ?2",
    )?;
    let mut taken = 0;
    for change in changes {
        let (segment, customer, at) = (
            change.segment.as_str(),
            change.customer_id.as_str(),
            micros(change.at),
        );
        let changed = if change.entered {
            enter.execute(params![segment, customer, at])?
        } else {
            leave.execute(params![segment, customer])?
        };
        if changed > 0 {
            log_change(conn, segment, customer, change.entered, at)?;
            taken += 1;
        }
    }
    Ok(taken)
}

/// A merged-away customer leaves every segment (logged at `at`) and loses its scores.
pub(crate) fn drop_merged_customer(conn: &Connection, customer: &str, at: i64) -> Result<()> {
    let mut segments: Vec<String> = all(
        conn,
        "DELETE FROM segment_members WHERE customer_id = ?1 RETURNING segment_key",
        [customer],
        |row| Ok(row.get(0)?),
    )?;
    segments.sort_unstable();
    for segment in &segments {
        log_change(conn, segment, customer, false, at)?;
    }
    conn.prepare_cached("DELETE FROM customer_scores WHERE customer_id = ?1")?
        .execute([customer])?;
    Ok(())
}

fn member(row: &Row<'_>) -> Result<SegmentMember> {
    Ok(SegmentMember {
        customer_id: codec::customer_id(&row.get::<_, String>(0)?)?,
        entered_at: time(row.get(1)?)?,
    })
}

pub(crate) fn segment_members(
    conn: &Connection,
    key: &str,
    page: &PageRequest,
) -> Result<Vec<SegmentMember>> {
    all(
        conn,
        "SELECT customer_id, entered_at FROM segment_members \
         WHERE segment_key = ?1 AND customer_id > ?2 ORDER BY customer_id LIMIT ?3",
        params![key, page.after.as_deref().unwrap_or(""), page.limit()],
        member,
    )
}

pub(crate) fn segment_size(conn: &Connection, key: &str) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM segment_members WHERE segment_key = ?1")?
        .query_row([key], |row| row.get(0))?;
    Ok(n as u64)
}

pub(crate) fn member_ids(conn: &Connection, key: &str) -> Result<Vec<CustomerId>> {
    all(
        conn,
        "SELECT customer_id FROM segment_members WHERE segment_key = ?1 ORDER BY customer_id",
        [key],
        |row| codec::customer_id(&row.get::<_, String>(0)?),
    )
}

pub(crate) fn customer_segments(conn: &Connection, id: &str) -> Result<Vec<CustomerSegment>> {
    all(
        conn,
        "SELECT segment_key, entered_at FROM segment_members WHERE customer_id = ?1 ORDER BY segment_key",
        [id],
        |row| {
            Ok(CustomerSegment {
                segment: row.get(0)?,
                entered_at: time(row.get(1)?)?,
            })
        },
    )
}

pub(crate) fn segment_changes(
    conn: &Connection,
    after_id: i64,
    limit: u32,
) -> Result<Vec<SegmentChange>> {
    all(
        conn,
        "SELECT id, segment_key, customer_id, entered, at FROM segment_changes \
         WHERE id > ?1 ORDER BY id LIMIT ?2",
        params![after_id, limit],
        |row| {
            Ok(SegmentChange {
                id: row.get(0)?,
                segment: row.get(1)?,
                customer_id: codec::customer_id(&row.get::<_, String>(2)?)?,
                entered: row.get(3)?,
                at: time(row.get(4)?)?,
            })
        },
    )
}

// ---- scores ----

pub(crate) fn put_scores(conn: &Connection, scores: &[CustomerScores]) -> Result<u64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO customer_scores (customer_id, computed_at, scores) SELECT ?1, ?2, ?3 \
         WHERE EXISTS (SELECT 1 FROM customers WHERE id = ?1 AND merged_into IS NULL) \
         ON CONFLICT (customer_id) DO UPDATE SET computed_at = excluded.computed_at, scores = excluded.scores",
    )?;
    let mut written = 0;
    for row in last_scores_per_customer(scores) {
        written += stmt.execute(params![
            row.customer_id.as_str(),
            micros(row.computed_at),
            json(&row.scores),
        ])? as u64;
    }
    Ok(written)
}

pub(crate) fn customer_scores(conn: &Connection, id: &str) -> Result<Option<CustomerScores>> {
    Ok(all(
        conn,
        "SELECT customer_id, computed_at, scores FROM customer_scores WHERE customer_id = ?1",
        [id],
        scores,
    )?
    .into_iter()
    .next())
}

pub(crate) fn all_scores(conn: &Connection) -> Result<Vec<CustomerScores>> {
    all(
        conn,
        "SELECT customer_id, computed_at, scores FROM customer_scores ORDER BY customer_id",
        [],
        scores,
    )
}

// ---- profiles ----

/// The event name analytics uses: pages are "Page Viewed", screens "Screen Viewed".
const NAME: &str =
    "CASE kind WHEN 'page' THEN 'Page Viewed' WHEN 'screen' THEN 'Screen Viewed' ELSE event END";

/// Run in one read transaction. Five queries whatever the number of customers: customers,
/// orders (own, and guest orders of linked visitors) with refunds and cancellation, their
/// lines with the catalog, events, and the catalog's brands of the events' products.
pub(crate) fn profile_data(
    conn: &Connection,
    ids: &[CustomerId],
    events_since: Option<i64>,
) -> Result<Vec<ProfileData>> {
    let wanted = json_set(ids.iter().map(|id| id.as_str()));
    let customers = {
        let sql = concat!(
            "SELECT ",
            codec::customer_columns!(),
            " FROM customers WHERE id IN (SELECT value FROM json_each(?1)) AND merged_into IS NULL ORDER BY id"
        );
        all(conn, sql, [&wanted], codec::customer)?
    };
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let live = json_set(customers.iter().map(|c| c.id.as_str()));

    // customer → orders, and order → (customer, position) to attach the lines. The guest
    // orders of linked visitors are found from the visitors (CROSS JOIN keeps SQLite from
    // scanning every guest order instead).
    let mut orders: HashMap<String, Vec<ProfileOrderRow>> = HashMap::new();
    let mut order_at: HashMap<String, (String, usize)> = HashMap::new();
    {
        let columns = "o.id, o.placed_at, o.currency, o.merchandise_total - \
             coalesce((SELECT sum(r.amount) FROM refunds r WHERE r.order_id = o.id), 0), \
             EXISTS (SELECT 1 FROM order_status s WHERE s.order_id = o.id AND s.status = 'cancelled')";
        let sql = format!(
            "SELECT o.customer_id, {columns} FROM orders o \
               WHERE o.customer_id IN (SELECT value FROM json_each(?1)) \
             UNION ALL \
             SELECT i.customer_id, {columns} FROM identities i \
               CROSS JOIN orders o ON o.anonymous_id = i.anonymous_id AND o.customer_id IS NULL \
               WHERE i.customer_id IN (SELECT value FROM json_each(?1)) \
             ORDER BY 1, 3, 2"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([&live])?;
        while let Some(row) = rows.next()? {
            let customer: String = row.get(0)?;
            let id: String = row.get(1)?;
            let list = orders.entry(customer.clone()).or_default();
            order_at.insert(id.clone(), (customer, list.len()));
            list.push(ProfileOrderRow {
                id: codec::parsed("order id", OrderId::parse(id))?,
                placed_at: time(row.get(2)?)?,
                currency: codec::currency(&row.get::<_, String>(3)?)?,
                net: row.get(4)?,
                cancelled: row.get(5)?,
                lines: Vec::new(),
            });
        }
    }
    if !order_at.is_empty() {
        let order_ids = json_set(order_at.keys().map(String::as_str));
        let mut stmt = conn.prepare_cached(
            "SELECT l.order_id, l.product_id, p.category, p.brand, l.quantity FROM order_lines l \
             LEFT JOIN products p ON p.id = l.product_id \
             WHERE l.order_id IN (SELECT value FROM json_each(?1)) \
               AND l.kind = 'product' AND l.product_id IS NOT NULL \
             ORDER BY l.order_id, l.line_no",
        )?;
        let mut rows = stmt.query([&order_ids])?;
        while let Some(row) = rows.next()? {
            let order: String = row.get(0)?;
            let product: String = row.get(1)?;
            let category: Option<String> = row.get(2)?;
            let Some((customer, index)) = order_at.get(&order) else {
                continue;
            };
            if let Some(order) = orders
                .get_mut(customer)
                .and_then(|list| list.get_mut(*index))
            {
                order.lines.push(ProfileLineRow {
                    product_id: codec::parsed("product id", ProductId::parse(product))?,
                    category: category.as_deref().and_then(top_category),
                    brand: row.get(3)?,
                    quantity: row.get(4)?,
                });
            }
        }
    }

    let mut events: HashMap<String, Vec<ProfileEventRow>> = HashMap::new();
    let mut products: BTreeSet<String> = BTreeSet::new();
    {
        let sql = format!(
            "SELECT customer_id, {NAME}, ts, properties, device_type, utm_source FROM events \
             WHERE customer_id IN (SELECT value FROM json_each(?1)) AND ts >= ?2 \
               AND kind IN ('track', 'page', 'screen') \
             ORDER BY customer_id, ts, seq"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![live, events_since.unwrap_or(i64::MIN)])?;
        while let Some(row) = rows.next()? {
            let customer: String = row.get(0)?;
            let properties: String = row.get(3)?;
            let found = event_profile_details(&properties);
            if found.brand.is_none() {
                if let Some(product) = &found.details.product_id {
                    products.insert(product.clone());
                }
            }
            events.entry(customer).or_default().push(ProfileEventRow {
                name: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                at: time(row.get(2)?)?,
                product_id: found.details.product_id,
                category: found.details.category,
                brand: found.brand,
                query: found.query,
                device: row.get(4)?,
                source: row.get(5)?,
            });
        }
    }
    if !products.is_empty() {
        let brands: BTreeMap<String, String> = all(
            conn,
            "SELECT id, brand FROM products \
             WHERE id IN (SELECT value FROM json_each(?1)) AND brand IS NOT NULL",
            [json_set(products.iter().map(String::as_str))],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .into_iter()
        .collect();
        for event in events.values_mut().flatten() {
            if event.brand.is_none() {
                event.brand = event
                    .product_id
                    .as_ref()
                    .and_then(|p| brands.get(p))
                    .cloned();
            }
        }
    }

    Ok(customers
        .into_iter()
        .map(|customer| {
            let id = customer.id.as_str();
            ProfileData {
                orders: orders.remove(id).unwrap_or_default(),
                events: events.remove(id).unwrap_or_default(),
                customer,
            }
        })
        .collect())
}

pub(crate) fn customer_ids(conn: &Connection, page: &PageRequest) -> Result<Vec<CustomerId>> {
    all(
        conn,
        "SELECT id FROM customers WHERE id > ?1 AND merged_into IS NULL ORDER BY id LIMIT ?2",
        params![page.after.as_deref().unwrap_or(""), page.limit()],
        |row| codec::customer_id(&row.get::<_, String>(0)?),
    )
}

pub(crate) fn delete_scores(conn: &Connection, ids: &[String]) -> Result<u64> {
    let mut stmt = conn.prepare_cached("DELETE FROM customer_scores WHERE customer_id = ?1")?;
    let mut deleted = 0u64;
    for id in ids {
        deleted += stmt.execute([id])? as u64;
    }
    Ok(deleted)
}

pub(crate) fn customers_with_orders_changed_since(
    conn: &Connection,
    since: i64,
) -> Result<Vec<CustomerId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT c.id FROM orders o \
         LEFT JOIN identities i ON o.customer_id IS NULL AND i.anonymous_id = o.anonymous_id \
         JOIN customers c ON c.id = coalesce(o.customer_id, i.customer_id) \
         WHERE o.updated_at >= ?1 AND c.merged_into IS NULL ORDER BY c.id",
    )?;
    let rows = stmt.query_map([since], |row| row.get::<_, String>(0))?;
    let mut out = Vec::new();
    for id in rows {
        out.push(codec::customer_id(&id?)?);
    }
    Ok(out)
}
