//! Customer intelligence ([`embudo_store::intel`]): segments, memberships and their history,
//! scores, and the profile rows the segment evaluator reads.
//!
//! Concurrency: membership writers ([`change_memberships`], [`delete_segment`]) hold the apply
//! lock shared and the segments lock alone, and merges (the other writer of the history) hold
//! the apply lock alone; so writers of `segment_changes` never overlap, and its ids are drawn
//! and committed in the same order. Score writers hold the apply lock shared, so a merge never
//! runs between a score row's check that its customer is live and its write.

use crate::codec::{self, json_text, opt_text, text};
use crate::error::{corrupt, Error, Result};
use chrono::{DateTime, NaiveDate, Utc};
use embudo_core::{CustomerId, OrderId, ProductId};
use embudo_store::facts::top_category;
use embudo_store::intel::{
    event_profile_details, is_segment_key, last_scores_per_customer, CustomerScores,
    CustomerSegment, MembershipChange, ProfileData, ProfileEventRow, ProfileLineRow,
    ProfileOrderRow, SegmentChange, SegmentMember, SegmentRecord,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Score rows per statement: big enough that 100,000 rows take a few round trips, small
/// enough that one statement's arrays stay a few megabytes.
const SCORES_PER_STATEMENT: usize = 5_000;

fn customer_id(column: &str, value: String) -> Result<CustomerId> {
    CustomerId::parse(value).map_err(|e| corrupt(column, e))
}

// ---- segments ----

/// A row of `segments`.
pub(crate) fn segment(row: &PgRow) -> Result<SegmentRecord> {
    Ok(SegmentRecord {
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        expression: row.try_get("expression")?,
        system: row.try_get("system")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) async fn put_segment(conn: &mut PgConnection, record: &SegmentRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO segments (key, name, description, expression, system, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description, \
           expression = EXCLUDED.expression, system = EXCLUDED.system, updated_at = EXCLUDED.updated_at",
    )
    .bind(&record.key)
    .bind(text(&record.name))
    .bind(opt_text(record.description.as_deref()))
    .bind(text(&record.expression))
    .bind(record.system)
    .bind(record.created_at)
    .bind(record.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Run holding the segments lock (see the module documentation).
pub(crate) async fn delete_segment(
    conn: &mut PgConnection,
    key: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    sqlx::query(
        "WITH gone AS (DELETE FROM segment_members WHERE segment_key = $1 RETURNING customer_id) \
         INSERT INTO segment_changes (segment_key, customer_id, entered, at) \
         SELECT $1, customer_id, FALSE, $2 FROM gone ORDER BY customer_id",
    )
    .bind(key)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let deleted = sqlx::query("DELETE FROM segments WHERE key = $1")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

// ---- memberships ----

/// A (segment, customer) pair while membership changes are played.
struct Membership {
    /// A member before the call.
    before: bool,
    /// A member after the changes played so far.
    now: bool,
    /// The time of its last entry in this call.
    entered_at: Option<DateTime<Utc>>,
}

/// Run holding the segments lock (see the module documentation). Reads the current state of
/// the pairs the changes touch, plays the changes on it in order, and writes the outcome with
/// three set-based statements.
pub(crate) async fn change_memberships(
    conn: &mut PgConnection,
    changes: &[MembershipChange],
) -> Result<u64> {
    let entered: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.entered)
        .map(|c| c.segment.as_str())
        .collect();
    if let Some(invalid) = entered.iter().find(|k| !is_segment_key(k)) {
        return Err(Error::Conflict(format!(
            "no segment `{}`",
            invalid.escape_debug()
        )));
    }
    // Keys that are no slug name no segment and have no members: nothing to do for them (and
    // PostgreSQL could not even compare some of them, with a NUL).
    let changes: Vec<&MembershipChange> = changes
        .iter()
        .filter(|c| is_segment_key(&c.segment))
        .collect();
    if !entered.is_empty() {
        let keys: Vec<&str> = entered.iter().copied().collect();
        let known: HashSet<String> =
            sqlx::query_scalar("SELECT key FROM segments WHERE key = ANY($1::text[])")
                .bind(&keys)
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .collect();
        if let Some(missing) = keys.iter().find(|k| !known.contains(**k)) {
            return Err(Error::Conflict(format!(
                "no segment `{}`",
                missing.escape_debug()
            )));
        }
    }
    let entering: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.entered)
        .map(|c| c.customer_id.as_str())
        .collect();
    let live: HashSet<String> = if entering.is_empty() {
        HashSet::new()
    } else {
        let ids: Vec<&str> = entering.into_iter().collect();
        sqlx::query_scalar(
            "SELECT id FROM customers WHERE id = ANY($1::text[]) AND merged_into IS NULL",
        )
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect()
    };
    let pairs: BTreeSet<(&str, &str)> = changes
        .iter()
        .map(|c| (c.segment.as_str(), c.customer_id.as_str()))
        .collect();
    let (segments, customers): (Vec<&str>, Vec<&str>) = pairs.iter().copied().unzip();
    let rows = sqlx::query(
        "SELECT m.segment_key, m.customer_id FROM segment_members m \
         JOIN unnest($1::text[], $2::text[]) AS u(segment_key, customer_id) \
           ON m.segment_key = u.segment_key AND m.customer_id = u.customer_id",
    )
    .bind(&segments)
    .bind(&customers)
    .fetch_all(&mut *conn)
    .await?;
    let mut members: HashSet<(String, String)> = HashSet::with_capacity(rows.len());
    for row in rows {
        members.insert((row.try_get("segment_key")?, row.try_get("customer_id")?));
    }

    // Keyed by (customer, segment): the foreign key check locks customers in the order rows
    // are written, and other writers lock customers in id order.
    let mut state: BTreeMap<(&str, &str), Membership> = pairs
        .iter()
        .map(|&(segment, customer)| {
            let member = members.contains(&(segment.to_owned(), customer.to_owned()));
            (
                (customer, segment),
                Membership {
                    before: member,
                    now: member,
                    entered_at: None,
                },
            )
        })
        .collect();
    let mut log: Vec<&MembershipChange> = Vec::new();
    for change in changes {
        let customer = change.customer_id.as_str();
        let Some(pair) = state.get_mut(&(customer, change.segment.as_str())) else {
            continue;
        };
        if change.entered && !pair.now && live.contains(customer) {
            pair.now = true;
            pair.entered_at = Some(change.at);
            log.push(change);
        } else if !change.entered && pair.now {
            pair.now = false;
            log.push(change);
        }
    }
    if log.is_empty() {
        return Ok(0);
    }

    let (mut gone_segments, mut gone_customers) = (Vec::new(), Vec::new());
    let (mut in_segments, mut in_customers, mut in_ats) = (Vec::new(), Vec::new(), Vec::new());
    for ((customer, segment), pair) in state {
        match (pair.before, pair.now, pair.entered_at) {
            (true, false, _) => {
                gone_segments.push(segment);
                gone_customers.push(customer);
            }
            // New, or left and back within this call (a new entry time).
            (_, true, Some(at)) => {
                in_segments.push(segment);
                in_customers.push(customer);
                in_ats.push(at);
            }
            _ => {}
        }
    }
    if !gone_segments.is_empty() {
        sqlx::query(
            "DELETE FROM segment_members m USING unnest($1::text[], $2::text[]) AS u(segment_key, customer_id) \
             WHERE m.segment_key = u.segment_key AND m.customer_id = u.customer_id",
        )
        .bind(&gone_segments)
        .bind(&gone_customers)
        .execute(&mut *conn)
        .await?;
    }
    if !in_segments.is_empty() {
        sqlx::query(
            "INSERT INTO segment_members (segment_key, customer_id, entered_at) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) \
             ON CONFLICT (segment_key, customer_id) DO UPDATE SET entered_at = EXCLUDED.entered_at",
        )
        .bind(&in_segments)
        .bind(&in_customers)
        .bind(&in_ats)
        .execute(&mut *conn)
        .await?;
    }
    let segments: Vec<&str> = log.iter().map(|c| c.segment.as_str()).collect();
    let customers: Vec<&str> = log.iter().map(|c| c.customer_id.as_str()).collect();
    let entered: Vec<bool> = log.iter().map(|c| c.entered).collect();
    let ats: Vec<DateTime<Utc>> = log.iter().map(|c| c.at).collect();
    sqlx::query(
        "INSERT INTO segment_changes (segment_key, customer_id, entered, at) \
         SELECT u.s, u.c, u.e, u.at \
         FROM unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[]) \
           WITH ORDINALITY AS u(s, c, e, at, ord) ORDER BY u.ord",
    )
    .bind(&segments)
    .bind(&customers)
    .bind(&entered)
    .bind(&ats)
    .execute(&mut *conn)
    .await?;
    Ok(log.len() as u64)
}

/// A merged-away customer leaves every segment (logged at `at`) and loses its scores. Run by
/// a merge, which holds the apply lock alone.
pub(crate) async fn drop_merged_customer(
    conn: &mut PgConnection,
    customer: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "WITH gone AS (DELETE FROM segment_members WHERE customer_id = $1 RETURNING segment_key), \
              scores AS (DELETE FROM customer_scores WHERE customer_id = $1) \
         INSERT INTO segment_changes (segment_key, customer_id, entered, at) \
         SELECT segment_key, $1, FALSE, $2 FROM gone ORDER BY segment_key",
    )
    .bind(customer)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) fn member(row: &PgRow) -> Result<SegmentMember> {
    Ok(SegmentMember {
        customer_id: customer_id("customer_id", row.try_get("customer_id")?)?,
        entered_at: row.try_get("entered_at")?,
    })
}

pub(crate) fn customer_segment(row: &PgRow) -> Result<CustomerSegment> {
    Ok(CustomerSegment {
        segment: row.try_get("segment_key")?,
        entered_at: row.try_get("entered_at")?,
    })
}

pub(crate) fn member_id(row: &PgRow) -> Result<CustomerId> {
    customer_id("customer_id", row.try_get("customer_id")?)
}

pub(crate) fn segment_change(row: &PgRow) -> Result<SegmentChange> {
    Ok(SegmentChange {
        id: row.try_get("id")?,
        segment: row.try_get("segment_key")?,
        customer_id: customer_id("customer_id", row.try_get("customer_id")?)?,
        entered: row.try_get("entered")?,
        at: row.try_get("at")?,
    })
}

// ---- scores ----

/// A row of `customer_scores`.
pub(crate) fn scores(row: &PgRow) -> Result<CustomerScores> {
    Ok(CustomerScores {
        customer_id: customer_id("customer_id", row.try_get("customer_id")?)?,
        computed_at: row.try_get("computed_at")?,
        scores: row
            .try_get::<serde_json::Value, _>("scores")
            .map_err(|e| corrupt("scores", e))?,
    })
}

/// Run holding the apply lock shared (see the module documentation).
pub(crate) async fn put_scores(conn: &mut PgConnection, rows: &[CustomerScores]) -> Result<u64> {
    let latest = last_scores_per_customer(rows);
    let mut written = 0;
    for chunk in latest.chunks(SCORES_PER_STATEMENT) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.customer_id.as_str()).collect();
        let ats: Vec<DateTime<Utc>> = chunk.iter().map(|r| r.computed_at).collect();
        let scores = chunk
            .iter()
            .map(|r| json_text(&r.scores))
            .collect::<Result<Vec<String>>>()?;
        // In id order, so that two writers lock rows in the same order.
        written += sqlx::query(
            "INSERT INTO customer_scores AS s (customer_id, computed_at, scores) \
             SELECT u.customer_id, u.computed_at, u.scores::jsonb \
             FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS u(customer_id, computed_at, scores) \
             JOIN customers c ON c.id = u.customer_id AND c.merged_into IS NULL \
             ORDER BY u.customer_id COLLATE \"C\" \
             ON CONFLICT (customer_id) DO UPDATE SET computed_at = EXCLUDED.computed_at, scores = EXCLUDED.scores",
        )
        .bind(&ids)
        .bind(&ats)
        .bind(&scores)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(written)
}

// ---- profiles ----

/// The event name analytics uses: pages are "Page Viewed", screens "Screen Viewed".
const NAME: &str =
    "CASE kind WHEN 'page' THEN 'Page Viewed' WHEN 'screen' THEN 'Screen Viewed' ELSE event END";

/// The columns of an order row of a profile, after its owner.
const ORDER_COLUMNS: &str = "o.id, o.placed_at, o.currency, \
     (o.merchandise_total - COALESCE((SELECT sum(r.amount) FROM refunds r WHERE r.order_id = o.id), 0))::int8 AS net, \
     EXISTS (SELECT 1 FROM order_status s WHERE s.order_id = o.id AND s.status = 'cancelled') AS cancelled";

/// Run inside one `REPEATABLE READ` transaction. Five queries whatever the number of
/// customers: customers, orders (own, and guest orders of linked visitors) with refunds and
/// cancellation, their lines with the catalog, events, and the catalog's brands of the events'
/// products.
pub(crate) async fn profile_data(
    conn: &mut PgConnection,
    ids: &[CustomerId],
    events_since: Option<DateTime<Utc>>,
) -> Result<Vec<ProfileData>> {
    let wanted: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    let rows = sqlx::query(
        "SELECT * FROM customers WHERE id = ANY($1::text[]) AND merged_into IS NULL ORDER BY id",
    )
    .bind(&wanted)
    .fetch_all(&mut *conn)
    .await?;
    let customers = rows
        .iter()
        .map(codec::customer)
        .collect::<Result<Vec<_>>>()?;
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let live: Vec<&str> = customers.iter().map(|c| c.id.as_str()).collect();

    // customer → orders, and order → (customer, position) to attach the lines.
    let mut orders: HashMap<String, Vec<ProfileOrderRow>> = HashMap::new();
    let mut order_at: HashMap<String, (String, usize)> = HashMap::new();
    let sql = format!(
        "SELECT o.customer_id AS owner, {ORDER_COLUMNS} FROM orders o \
           WHERE o.customer_id = ANY($1::text[]) \
         UNION ALL \
         SELECT i.customer_id AS owner, {ORDER_COLUMNS} FROM identities i \
           JOIN orders o ON o.anonymous_id = i.anonymous_id AND o.customer_id IS NULL \
           WHERE i.customer_id = ANY($1::text[]) \
         ORDER BY owner, placed_at, id"
    );
    let rows = sqlx::query(&sql).bind(&live).fetch_all(&mut *conn).await?;
    for row in &rows {
        let owner: String = row.try_get("owner")?;
        let id: String = row.try_get("id")?;
        let list = orders.entry(owner.clone()).or_default();
        order_at.insert(id.clone(), (owner, list.len()));
        list.push(ProfileOrderRow {
            id: OrderId::parse(id).map_err(|e| corrupt("order id", e))?,
            placed_at: row.try_get("placed_at")?,
            currency: codec::currency_code(row.try_get::<&str, _>("currency")?)?,
            net: row.try_get("net")?,
            cancelled: row.try_get("cancelled")?,
            lines: Vec::new(),
        });
    }
    if !order_at.is_empty() {
        let order_ids: Vec<&str> = order_at.keys().map(String::as_str).collect();
        let rows = sqlx::query(
            "SELECT l.order_id, l.product_id, p.category, p.brand, l.quantity FROM order_lines l \
             LEFT JOIN products p ON p.id = l.product_id \
             WHERE l.order_id = ANY($1::text[]) AND l.kind = 'product' AND l.product_id IS NOT NULL \
             ORDER BY l.order_id, l.line_no",
        )
        .bind(&order_ids)
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            let order: String = row.try_get("order_id")?;
            let product: String = row.try_get("product_id")?;
            let category: Option<String> = row.try_get("category")?;
            let Some((customer, index)) = order_at.get(&order) else {
                continue;
            };
            if let Some(order) = orders
                .get_mut(customer)
                .and_then(|list| list.get_mut(*index))
            {
                order.lines.push(ProfileLineRow {
                    product_id: ProductId::parse(product).map_err(|e| corrupt("product_id", e))?,
                    category: category.as_deref().and_then(top_category),
                    brand: row.try_get("brand")?,
                    quantity: row.try_get("quantity")?,
                });
            }
        }
    }

    let since = events_since.unwrap_or_else(|| {
        NaiveDate::from_ymd_opt(1, 1, 1)
            .unwrap_or_default()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc()
    });
    let sql = format!(
        "SELECT customer_id, {NAME} AS name, ts, properties::text AS properties, device_type, utm_source \
         FROM events WHERE customer_id = ANY($1::text[]) AND ts >= $2 \
           AND kind IN ('track', 'page', 'screen') \
         ORDER BY customer_id, ts, seq"
    );
    let rows = sqlx::query(&sql)
        .bind(&live)
        .bind(since)
        .fetch_all(&mut *conn)
        .await?;
    let mut events: HashMap<String, Vec<ProfileEventRow>> = HashMap::new();
    let mut products: BTreeSet<String> = BTreeSet::new();
    for row in &rows {
        let customer: String = row.try_get("customer_id")?;
        let properties: &str = row.try_get("properties")?;
        let found = event_profile_details(properties);
        if found.brand.is_none() {
            if let Some(product) = &found.details.product_id {
                products.insert(product.clone());
            }
        }
        events.entry(customer).or_default().push(ProfileEventRow {
            name: row
                .try_get::<Option<String>, _>("name")?
                .unwrap_or_default(),
            at: row.try_get("ts")?,
            product_id: found.details.product_id,
            category: found.details.category,
            brand: found.brand,
            query: found.query,
            device: row.try_get("device_type")?,
            source: row.try_get("utm_source")?,
        });
    }
    if !products.is_empty() {
        let wanted: Vec<&str> = products.iter().map(String::as_str).collect();
        let brands: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
            "SELECT id, brand FROM products WHERE id = ANY($1::text[]) AND brand IS NOT NULL",
        )
        .bind(&wanted)
        .fetch_all(&mut *conn)
        .await?
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
