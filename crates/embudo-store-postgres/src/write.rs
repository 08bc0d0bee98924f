//! The write operations, each a few set-based statements on a connection that is inside a
//! transaction. They are shared by the trait's write methods and by [`crate::apply`], which
//! calls them for the effects of tracking messages.
//!
//! Statements take whole arrays (`unnest`) rather than one row each, so that a call costs a
//! handful of round trips whatever its size. Rows that concurrent transactions may both lock
//! (customers, identities, orders) are written in id order, so that two writers touching the
//! same rows queue behind each other instead of deadlocking.

use crate::codec::{self, json_text, opt_text, text};
use crate::error::Result;
use chrono::{DateTime, Utc};
use embudo_core::{CustomerPatch, MergeReason, Order, Product, Refund, StatusChange, StatusKind};
use embudo_store::refunds_from_history;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, HashMap};

/// Where the events of the batch being applied are, so that identity changes made by message
/// `k` treat the batch's later events as a one-by-one application would have: as resolved when
/// they were stored, not as moved.
#[derive(Debug, Default)]
pub(crate) struct BatchIndex {
    /// Position in the batch of each event stored by it, by `seq`.
    pub(crate) position_of_seq: HashMap<i64, usize>,
    /// The batch's new events that have a visitor and no user, by visitor: (position, seq).
    pub(crate) anonymous: HashMap<String, Vec<(usize, i64)>>,
    /// Customers created for this batch before its effects ran, with the position of the first
    /// message that named them: one by one, they would not exist before that message.
    pub(crate) created: HashMap<String, usize>,
}

impl BatchIndex {
    /// Whether `seq` is an event of this batch stored after position `position`.
    fn later(&self, seq: i64, position: Option<usize>) -> bool {
        match (position, self.position_of_seq.get(&seq)) {
            (Some(position), Some(&at)) => at > position,
            _ => false,
        }
    }
}

/// A visitor to link to a customer.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) anonymous_id: String,
    /// The customer as named; it is resolved through merges here.
    pub(crate) customer_id: String,
    pub(crate) reason: MergeReason,
    pub(crate) message_id: Option<String>,
    pub(crate) at: DateTime<Utc>,
    /// The position in the batch of the message asking for it, when it comes from `apply`.
    pub(crate) position: Option<usize>,
}

/// First and last seen times to widen a customer's span with.
pub(crate) type Span = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Adds a time to a span.
pub(crate) fn widen(span: &mut Span, at: DateTime<Utc>) {
    span.0 = Some(span.0.map_or(at, |f| f.min(at)));
    span.1 = Some(span.1.map_or(at, |l| l.max(at)));
}

/// Creates the customers that do not exist, widens first/last seen with the given spans, and
/// locks all of them (in id order) until the transaction ends.
pub(crate) async fn ensure_customers(
    conn: &mut PgConnection,
    customers: &BTreeMap<String, Span>,
    now: DateTime<Utc>,
) -> Result<()> {
    ensure_customers_created(conn, customers, now)
        .await
        .map(drop)
}

/// [`ensure_customers`], returning the ids of the customers it created.
pub(crate) async fn ensure_customers_created(
    conn: &mut PgConnection,
    customers: &BTreeMap<String, Span>,
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    if customers.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = customers.keys().map(String::as_str).collect();
    let firsts: Vec<Option<DateTime<Utc>>> = customers.values().map(|s| s.0).collect();
    let lasts: Vec<Option<DateTime<Utc>>> = customers.values().map(|s| s.1).collect();
    // ON CONFLICT DO UPDATE locks every conflicting row, also those its WHERE leaves alone, so
    // rows that need no change are locked without being rewritten.
    let rows = sqlx::query(
        "INSERT INTO customers AS c (id, first_seen, last_seen, created_at) \
         SELECT u.id, u.first_seen, u.last_seen, $4 \
         FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS u(id, first_seen, last_seen) \
         ORDER BY u.id COLLATE \"C\" \
         ON CONFLICT (id) DO UPDATE SET \
           first_seen = LEAST(c.first_seen, EXCLUDED.first_seen), \
           last_seen = GREATEST(c.last_seen, EXCLUDED.last_seen) \
         WHERE LEAST(c.first_seen, EXCLUDED.first_seen) IS DISTINCT FROM c.first_seen \
            OR GREATEST(c.last_seen, EXCLUDED.last_seen) IS DISTINCT FROM c.last_seen \
         RETURNING id, xmax = 0 AS created",
    )
    .bind(&ids)
    .bind(&firsts)
    .bind(&lasts)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    // A row this statement inserted has no xmax; an updated one has ours.
    let mut created = Vec::new();
    for row in rows {
        if row.try_get::<bool, _>("created")? {
            created.push(row.try_get("id")?);
        }
    }
    Ok(created)
}

/// The customers the given ids stand for now: the customer each was merged into, or itself.
/// Merges keep chains one link long, so one lookup suffices.
pub(crate) async fn resolve_customers(
    conn: &mut PgConnection,
    ids: &[&str],
) -> Result<HashMap<String, String>> {
    let mut resolved: HashMap<String, String> = ids
        .iter()
        .map(|id| ((*id).to_owned(), (*id).to_owned()))
        .collect();
    if ids.is_empty() {
        return Ok(resolved);
    }
    let rows = sqlx::query("SELECT id, merged_into FROM customers WHERE id = ANY($1::text[]) AND merged_into IS NOT NULL")
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        let id: String = row.try_get("id")?;
        let into: String = row.try_get("merged_into")?;
        resolved.insert(id, into);
    }
    Ok(resolved)
}

// ---- customers ----

/// Several patches of one customer folded into one, as if applied one after the other.
#[derive(Debug, Default)]
struct Folded {
    email: Option<String>,
    name: Option<String>,
    phone: Option<String>,
    country: Option<String>,
    city: Option<String>,
    customer_type: Option<&'static str>,
    consent: Option<(&'static str, DateTime<Utc>, String)>,
    attributes: serde_json::Map<String, serde_json::Value>,
    seen: Span,
}

/// Applies customer patches: creates missing customers; given fields replace, attributes are
/// merged key by key (`jsonb ||`), absent fields are kept, seen times only widen.
pub(crate) async fn patch_customers(
    conn: &mut PgConnection,
    patches: &[&CustomerPatch],
    now: DateTime<Utc>,
) -> Result<()> {
    if patches.is_empty() {
        return Ok(());
    }
    let mut folded: BTreeMap<String, Folded> = BTreeMap::new();
    for patch in patches {
        let f = folded.entry(patch.id.as_str().to_owned()).or_default();
        let replace = |slot: &mut Option<String>, value: &Option<String>| {
            if let Some(value) = value {
                *slot = Some(text(value));
            }
        };
        replace(
            &mut f.email,
            &patch.email.as_ref().map(|e| e.as_str().to_owned()),
        );
        replace(&mut f.name, &patch.name);
        replace(&mut f.phone, &patch.phone);
        replace(&mut f.country, &patch.country);
        replace(&mut f.city, &patch.city);
        if let Some(customer_type) = patch.customer_type {
            f.customer_type = Some(customer_type.as_str());
        }
        if let Some(consent) = &patch.consent {
            f.consent = Some((
                codec::consent_status(consent.status),
                consent.at,
                text(&consent.source),
            ));
        }
        f.attributes
            .extend(patch.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(at) = patch.seen_at {
            widen(&mut f.seen, at);
        }
    }

    let spans: BTreeMap<String, Span> = folded.iter().map(|(id, f)| (id.clone(), f.seen)).collect();
    ensure_customers(conn, &spans, now).await?;

    let n = folded.len();
    let mut ids = Vec::with_capacity(n);
    let mut emails = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut phones = Vec::with_capacity(n);
    let mut countries = Vec::with_capacity(n);
    let mut cities = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut consent_statuses = Vec::with_capacity(n);
    let mut consent_ats = Vec::with_capacity(n);
    let mut consent_sources = Vec::with_capacity(n);
    let mut attributes = Vec::with_capacity(n);
    for (id, f) in folded {
        ids.push(id);
        emails.push(f.email);
        names.push(f.name);
        phones.push(f.phone);
        countries.push(f.country);
        cities.push(f.city);
        types.push(f.customer_type);
        let (status, at, source) = match f.consent {
            Some((status, at, source)) => (Some(status), Some(at), Some(source)),
            None => (None, None, None),
        };
        consent_statuses.push(status);
        consent_ats.push(at);
        consent_sources.push(source);
        attributes.push(json_text(&f.attributes)?);
    }
    sqlx::query(
        "UPDATE customers AS c SET \
           email = COALESCE(u.email, c.email), \
           name = COALESCE(u.name, c.name), \
           phone = COALESCE(u.phone, c.phone), \
           country = COALESCE(u.country, c.country), \
           city = COALESCE(u.city, c.city), \
           customer_type = COALESCE(u.customer_type, c.customer_type), \
           consent_status = CASE WHEN u.consent_status IS NULL THEN c.consent_status ELSE u.consent_status END, \
           consent_at = CASE WHEN u.consent_status IS NULL THEN c.consent_at ELSE u.consent_at END, \
           consent_source = CASE WHEN u.consent_status IS NULL THEN c.consent_source ELSE u.consent_source END, \
           attributes = c.attributes || u.attributes::jsonb, \
           updated_at = $12 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                     $8::text[], $9::timestamptz[], $10::text[], $11::text[]) \
           AS u(id, email, name, phone, country, city, customer_type, consent_status, consent_at, consent_source, attributes) \
         WHERE c.id = u.id",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(&names)
    .bind(&phones)
    .bind(&countries)
    .bind(&cities)
    .bind(&types)
    .bind(&consent_statuses)
    .bind(&consent_ats)
    .bind(&consent_sources)
    .bind(&attributes)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---- identity ----

/// Links visitors to customers (each visitor at most once per call, customers already
/// existing): a visitor already linked to the customer is left alone; otherwise the link is
/// written, the visitor's unresolved events are given to the customer, and the change is
/// recorded in `identity_merges` with how many events moved.
pub(crate) async fn link_visitors(
    conn: &mut PgConnection,
    links: &[Link],
    batch: &BatchIndex,
    now: DateTime<Utc>,
) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let named: Vec<&str> = links.iter().map(|l| l.customer_id.as_str()).collect();
    let resolved = resolve_customers(conn, &named).await?;

    let mut visitors: Vec<&str> = links.iter().map(|l| l.anonymous_id.as_str()).collect();
    visitors.sort_unstable();
    let rows = sqlx::query(
        "SELECT anonymous_id, customer_id FROM identities WHERE anonymous_id = ANY($1::text[]) \
         ORDER BY anonymous_id FOR UPDATE",
    )
    .bind(&visitors)
    .fetch_all(&mut *conn)
    .await?;
    let mut current: HashMap<String, String> = HashMap::with_capacity(rows.len());
    for row in rows {
        current.insert(row.try_get("anonymous_id")?, row.try_get("customer_id")?);
    }

    // (link, resolved customer, the customer it was linked to before)
    let mut changes: Vec<(&Link, String, Option<String>)> = Vec::new();
    for link in links {
        let customer = resolved
            .get(&link.customer_id)
            .cloned()
            .unwrap_or_else(|| link.customer_id.clone());
        let before = current.get(&link.anonymous_id).cloned();
        if before.as_deref() != Some(customer.as_str()) {
            changes.push((link, customer, before));
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    changes.sort_by(|a, b| a.0.anonymous_id.cmp(&b.0.anonymous_id));

    let anons: Vec<&str> = changes.iter().map(|c| c.0.anonymous_id.as_str()).collect();
    let customers: Vec<&str> = changes.iter().map(|c| c.1.as_str()).collect();
    let ats: Vec<DateTime<Utc>> = changes.iter().map(|c| c.0.at).collect();
    let reasons: Vec<&str> = changes.iter().map(|c| c.0.reason.as_str()).collect();
    sqlx::query(
        "INSERT INTO identities (anonymous_id, customer_id, linked_at, reason) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) \
         ON CONFLICT (anonymous_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, \
           linked_at = EXCLUDED.linked_at, reason = EXCLUDED.reason",
    )
    .bind(&anons)
    .bind(&customers)
    .bind(&ats)
    .bind(&reasons)
    .execute(&mut *conn)
    .await?;

    // The visitors' events not yet resolved to anyone now belong to their customer.
    let moved_rows = sqlx::query(
        "UPDATE events AS e SET customer_id = u.customer_id \
         FROM unnest($1::text[], $2::text[]) AS u(anonymous_id, customer_id) \
         WHERE e.anonymous_id = u.anonymous_id AND e.customer_id IS NULL \
         RETURNING e.seq, e.anonymous_id, e.ts",
    )
    .bind(&anons)
    .bind(&customers)
    .fetch_all(&mut *conn)
    .await?;
    let by_visitor: HashMap<&str, &(&Link, String, Option<String>)> = changes
        .iter()
        .map(|c| (c.0.anonymous_id.as_str(), c))
        .collect();
    let mut moved: HashMap<&str, i64> = HashMap::new();
    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    for row in &moved_rows {
        let seq: i64 = row.try_get("seq")?;
        let anonymous_id: String = row.try_get("anonymous_id")?;
        let ts: DateTime<Utc> = row.try_get("ts")?;
        let Some((link, customer, _)) = by_visitor.get(anonymous_id.as_str()) else {
            continue;
        };
        // The batch's own later events would have been resolved when stored, perhaps to
        // someone else by a later effect of the batch: they are not counted as moved, and
        // `apply` widens seen times with them once all effects are done.
        if !batch.later(seq, link.position) {
            widen(seen.entry(customer.clone()).or_default(), ts);
            *moved.entry(link.anonymous_id.as_str()).or_default() += 1;
        }
    }

    // A visitor re-linked in the middle of a batch: its later anonymous events in the batch
    // were stored resolved to the old customer, and belong to the new one.
    let mut fix_seqs: Vec<i64> = Vec::new();
    let mut fix_customers: Vec<&str> = Vec::new();
    for (link, customer, before) in &changes {
        if before.is_none() {
            continue;
        }
        if let (Some(position), Some(events)) =
            (link.position, batch.anonymous.get(&link.anonymous_id))
        {
            for &(_, seq) in events.iter().filter(|(at, _)| *at > position) {
                fix_seqs.push(seq);
                fix_customers.push(customer.as_str());
            }
        }
    }
    // (Seen times are not widened with these: a later effect of the batch may move them again;
    // `apply` widens with every event of the batch once all effects are done.)
    if !fix_seqs.is_empty() {
        sqlx::query(
            "UPDATE events AS e SET customer_id = u.customer_id \
             FROM unnest($1::int8[], $2::text[]) AS u(seq, customer_id) WHERE e.seq = u.seq",
        )
        .bind(&fix_seqs)
        .bind(&fix_customers)
        .execute(&mut *conn)
        .await?;
    }
    ensure_customers(conn, &seen, now).await?;

    // Traced in the order the messages came in (the changes are sorted by visitor for locking).
    changes.sort_by_key(|c| c.0.position);
    let merges: Vec<MergeRow> = changes
        .iter()
        .map(|(link, customer, _)| MergeRow {
            anonymous_id: Some(link.anonymous_id.clone()),
            from_customer: None,
            into_customer: customer.clone(),
            reason: link.reason,
            message_id: link.message_id.clone(),
            events_moved: moved.get(link.anonymous_id.as_str()).copied().unwrap_or(0),
            at: link.at,
        })
        .collect();
    record_merges(conn, &merges).await
}

/// A row of `identity_merges` to write.
pub(crate) struct MergeRow {
    anonymous_id: Option<String>,
    from_customer: Option<String>,
    into_customer: String,
    reason: MergeReason,
    message_id: Option<String>,
    events_moved: i64,
    at: DateTime<Utc>,
}

async fn record_merges(conn: &mut PgConnection, merges: &[MergeRow]) -> Result<()> {
    let anons: Vec<Option<&str>> = merges.iter().map(|m| m.anonymous_id.as_deref()).collect();
    let froms: Vec<Option<&str>> = merges.iter().map(|m| m.from_customer.as_deref()).collect();
    let intos: Vec<&str> = merges.iter().map(|m| m.into_customer.as_str()).collect();
    let reasons: Vec<&str> = merges.iter().map(|m| m.reason.as_str()).collect();
    let messages: Vec<Option<&str>> = merges.iter().map(|m| m.message_id.as_deref()).collect();
    let moved: Vec<i64> = merges.iter().map(|m| m.events_moved).collect();
    let ats: Vec<DateTime<Utc>> = merges.iter().map(|m| m.at).collect();
    // `WITH ORDINALITY … ORDER BY` keeps the ids in the order the merges happened.
    sqlx::query(
        "INSERT INTO identity_merges (anonymous_id, from_customer, into_customer, reason, message_id, events_moved, at) \
         SELECT u.a, u.f, u.i, u.r, u.m, u.n, u.at \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::timestamptz[]) \
           WITH ORDINALITY AS u(a, f, i, r, m, n, at, ord) ORDER BY u.ord",
    )
    .bind(&anons)
    .bind(&froms)
    .bind(&intos)
    .bind(&reasons)
    .bind(&messages)
    .bind(&moved)
    .bind(&ats)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Where an identity change comes from.
pub(crate) struct Origin<'a> {
    /// The message that asked for it.
    pub(crate) message_id: Option<&'a str>,
    /// When it happened.
    pub(crate) at: DateTime<Utc>,
    /// The message's position in the batch being applied.
    pub(crate) position: Option<usize>,
}

/// Folds customer `from` into `into`: its events, orders, refunds and visitors move, customers
/// merged into it follow, it is marked `merged_into`, and the merge is traced. Nothing of the
/// shop's history is deleted; `from`'s segment memberships (logged as exits) and scores are.
/// A `from` that is no customer (yet) is left alone: ingestion cannot tell whether an alias
/// names a former customer id or a visitor id, and sends a link as well.
pub(crate) async fn merge_customers(
    conn: &mut PgConnection,
    from: &str,
    into: &str,
    origin: Origin<'_>,
    batch: &BatchIndex,
    now: DateTime<Utc>,
) -> Result<()> {
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)")
        .bind(from)
        .fetch_one(&mut *conn)
        .await?;
    let created_later = match (batch.created.get(from), origin.position) {
        (Some(&first), Some(position)) => first > position,
        _ => false,
    };
    if !known || created_later {
        return Ok(());
    }
    let resolved = resolve_customers(conn, &[from, into]).await?;
    let (from, into) = (resolved[from].clone(), resolved[into].clone());
    if from == into {
        return Ok(());
    }
    ensure_customers(
        conn,
        &BTreeMap::from([(into.clone(), Span::default())]),
        now,
    )
    .await?;
    // One statement: every part sees the same snapshot, so `src` reads `from`'s span before
    // any of it changes. The parts touch different rows.
    let rows = sqlx::query(
        "WITH ev AS (UPDATE events SET customer_id = $2 WHERE customer_id = $1 RETURNING seq), \
              ord AS (UPDATE orders SET customer_id = $2, updated_at = $3 WHERE customer_id = $1), \
              ref AS (UPDATE refunds SET customer_id = $2 WHERE customer_id = $1), \
              idn AS (UPDATE identities SET customer_id = $2 WHERE customer_id = $1), \
              flat AS (UPDATE customers SET merged_into = $2 WHERE merged_into = $1), \
              mark AS (UPDATE customers SET merged_into = $2, updated_at = $3 WHERE id = $1), \
              src AS (SELECT first_seen, last_seen FROM customers WHERE id = $1), \
              span AS (UPDATE customers AS c SET first_seen = LEAST(c.first_seen, src.first_seen), \
                         last_seen = GREATEST(c.last_seen, src.last_seen) FROM src WHERE c.id = $2) \
         SELECT seq FROM ev",
    )
    .bind(&from)
    .bind(&into)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut moved = 0i64;
    for row in rows {
        if !batch.later(row.try_get("seq")?, origin.position) {
            moved += 1;
        }
    }
    // Memberships and scores are the live customer's: `from` leaves its segments (logged, so
    // that triggers see it) and loses its scores; the service re-evaluates `into`.
    crate::intel::drop_merged_customer(conn, &from, origin.at).await?;
    record_merges(
        conn,
        &[MergeRow {
            anonymous_id: None,
            from_customer: Some(from),
            into_customer: into,
            reason: MergeReason::Alias,
            message_id: origin.message_id.map(str::to_owned),
            events_moved: moved,
            at: origin.at,
        }],
    )
    .await
}

// ---- catalog ----

/// Creates or replaces products, by id (the last of repeated ids wins).
pub(crate) async fn upsert_products(
    conn: &mut PgConnection,
    products: &[Product],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut latest: BTreeMap<&str, &Product> = BTreeMap::new();
    for product in products {
        latest.insert(product.id.as_str(), product);
    }
    // A given creation time is written; an absent one is now for a new product and the stored
    // one for a known product. EXCLUDED only shows the value after defaulting, so the two
    // kinds go in separate statements.
    let (dated, undated): (Vec<&Product>, Vec<&Product>) =
        latest.into_values().partition(|p| p.created_at.is_some());
    write_products(conn, &dated, "EXCLUDED.created_at", now).await?;
    write_products(conn, &undated, "p.created_at", now).await
}

async fn write_products(
    conn: &mut PgConnection,
    products: &[&Product],
    created_at: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    if products.is_empty() {
        return Ok(());
    }
    let n = products.len();
    let mut ids = Vec::with_capacity(n);
    let mut skus = Vec::with_capacity(n);
    let mut titles = Vec::with_capacity(n);
    let mut descriptions = Vec::with_capacity(n);
    let mut paths = Vec::with_capacity(n);
    let mut categories = Vec::with_capacity(n);
    let mut brands = Vec::with_capacity(n);
    let mut prices = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut tags = Vec::with_capacity(n);
    let mut in_stock = Vec::with_capacity(n);
    let mut quantities = Vec::with_capacity(n);
    let mut urls = Vec::with_capacity(n);
    let mut images = Vec::with_capacity(n);
    let mut created = Vec::with_capacity(n);
    for p in products {
        ids.push(p.id.as_str());
        skus.push(opt_text(p.sku.as_deref()));
        titles.push(text(&p.title));
        descriptions.push(opt_text(p.description.as_deref()));
        paths.push(json_text(&p.category_path)?);
        categories.push(text(&p.category()));
        brands.push(opt_text(p.brand.as_deref()));
        prices.push(p.price);
        currencies.push(p.currency.code());
        tags.push(json_text(&p.tags)?);
        in_stock.push(p.in_stock);
        quantities.push(p.inventory_quantity);
        urls.push(opt_text(p.url.as_deref()));
        images.push(opt_text(p.image_url.as_deref()));
        created.push(p.created_at.unwrap_or(now));
    }
    let sql = format!(
        "INSERT INTO products AS p (id, sku, title, description, category_path, category, brand, price, currency, tags, \
           in_stock, inventory_quantity, url, image_url, created_at, updated_at) \
         SELECT id, sku, title, description, category_path::jsonb, category, brand, price, currency, tags::jsonb, \
           in_stock, inventory_quantity, url, image_url, created_at, $16 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::int8[], $9::text[], $10::text[], $11::bool[], $12::int8[], $13::text[], $14::text[], $15::timestamptz[]) \
           AS u(id, sku, title, description, category_path, category, brand, price, currency, tags, in_stock, \
                inventory_quantity, url, image_url, created_at) \
         ORDER BY id COLLATE \"C\" \
         ON CONFLICT (id) DO UPDATE SET sku = EXCLUDED.sku, title = EXCLUDED.title, description = EXCLUDED.description, \
           category_path = EXCLUDED.category_path, category = EXCLUDED.category, brand = EXCLUDED.brand, \
           price = EXCLUDED.price, currency = EXCLUDED.currency, tags = EXCLUDED.tags, in_stock = EXCLUDED.in_stock, \
           inventory_quantity = EXCLUDED.inventory_quantity, url = EXCLUDED.url, image_url = EXCLUDED.image_url, \
           created_at = {created_at}, updated_at = EXCLUDED.updated_at"
    );
    sqlx::query(&sql)
        .bind(&ids)
        .bind(&skus)
        .bind(&titles)
        .bind(&descriptions)
        .bind(&paths)
        .bind(&categories)
        .bind(&brands)
        .bind(&prices)
        .bind(&currencies)
        .bind(&tags)
        .bind(&in_stock)
        .bind(&quantities)
        .bind(&urls)
        .bind(&images)
        .bind(&created)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---- orders ----

/// An order to write, with where it came from (for the visitor link it may make).
pub(crate) struct OrderWrite<'a> {
    pub(crate) order: &'a Order,
    /// The message that carried it, with its position in the batch.
    pub(crate) message: Option<(&'a str, usize)>,
    /// When the link it makes happened (the message's time, or when the order was placed).
    pub(crate) at: DateTime<Utc>,
}

/// Creates or replaces orders: header and lines replaced (the last of repeated ids wins),
/// history entries added to the stored ones, `refunded` entries recorded as refunds, customers
/// created and their seen times widened. Returns the visitor links the orders make, for the
/// caller to apply with [`link_visitors`].
pub(crate) async fn upsert_orders(
    conn: &mut PgConnection,
    orders: &[OrderWrite<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<Link>> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let named: Vec<&str> = orders
        .iter()
        .filter_map(|o| o.order.customer_id.as_ref().map(|c| c.as_str()))
        .collect();
    let resolved = resolve_customers(conn, &named).await?;
    let customer_of = |o: &Order| o.customer_id.as_ref().map(|c| resolved[c.as_str()].clone());

    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    for o in orders {
        if let Some(customer) = customer_of(o.order) {
            widen(seen.entry(customer).or_default(), o.order.placed_at);
        }
    }
    ensure_customers(conn, &seen, now).await?;

    let mut latest: BTreeMap<&str, &Order> = BTreeMap::new();
    for o in orders {
        latest.insert(o.order.id.as_str(), o.order);
    }
    write_headers(conn, &latest, &customer_of, now).await?;
    write_lines(conn, &latest).await?;

    // History entries of every version, an identical (order, status, time) kept once with the
    // details the later entries give.
    let mut entries: BTreeMap<StatusKey<'_>, StatusDetails> = BTreeMap::new();
    for o in orders {
        for change in o
            .order
            .history
            .iter()
            .filter(|c| c.status != StatusKind::Refunded)
        {
            let slot = entries
                .entry((o.order.id.as_str(), change.status.as_str(), change.at))
                .or_default();
            slot.0 = opt_text(change.carrier.as_deref()).or(slot.0.take());
            slot.1 = opt_text(change.tracking_number.as_deref()).or(slot.1.take());
            slot.2 = opt_text(change.note.as_deref()).or(slot.2.take());
        }
    }
    insert_statuses(conn, entries).await?;

    let mut refunds = Vec::new();
    for o in orders {
        let customer = customer_of(o.order);
        for mut refund in refunds_from_history(o.order) {
            refund.customer_id = None;
            refunds.push((refund, customer.clone()));
        }
    }
    insert_refunds(conn, &refunds).await?;

    // Refunds follow their order's customer, also when the order changes hands.
    let order_ids: Vec<&str> = latest.keys().copied().collect();
    let customers: Vec<Option<String>> = latest.values().map(|o| customer_of(o)).collect();
    sqlx::query(
        "UPDATE refunds AS r SET customer_id = u.customer_id \
         FROM unnest($1::text[], $2::text[]) AS u(order_id, customer_id) \
         WHERE r.order_id = u.order_id AND r.customer_id IS DISTINCT FROM u.customer_id",
    )
    .bind(&order_ids)
    .bind(&customers)
    .execute(&mut *conn)
    .await?;

    Ok(orders
        .iter()
        .filter_map(|o| {
            let anonymous_id = o.order.anonymous_id.as_ref()?;
            let customer = customer_of(o.order)?;
            Some(Link {
                anonymous_id: anonymous_id.as_str().to_owned(),
                customer_id: customer,
                reason: MergeReason::Order,
                message_id: o.message.map(|(id, _)| id.to_owned()),
                at: o.at,
                position: o.message.map(|(_, position)| position),
            })
        })
        .collect())
}

async fn write_headers(
    conn: &mut PgConnection,
    latest: &BTreeMap<&str, &Order>,
    customer_of: &(dyn Fn(&Order) -> Option<String> + Sync),
    now: DateTime<Utc>,
) -> Result<()> {
    let n = latest.len();
    let mut ids = Vec::with_capacity(n);
    let mut customers = Vec::with_capacity(n);
    let mut anons = Vec::with_capacity(n);
    let mut emails = Vec::with_capacity(n);
    let mut placed = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut merchandise = Vec::with_capacity(n);
    let mut totals = Vec::with_capacity(n);
    let mut shipping = Vec::with_capacity(n);
    let mut tax = Vec::with_capacity(n);
    let mut discount = Vec::with_capacity(n);
    let mut coupons = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut mediums = Vec::with_capacity(n);
    let mut campaigns = Vec::with_capacity(n);
    let mut terms = Vec::with_capacity(n);
    let mut contents = Vec::with_capacity(n);
    let mut referrers = Vec::with_capacity(n);
    for (id, o) in latest {
        let a = &o.attribution;
        ids.push(*id);
        customers.push(customer_of(o));
        anons.push(o.anonymous_id.as_ref().map(|a| a.as_str()));
        emails.push(o.email.as_ref().map(|e| text(e.as_str())));
        placed.push(o.placed_at);
        currencies.push(o.currency.code());
        merchandise.push(o.merchandise_total());
        totals.push(o.total());
        shipping.push(o.shipping);
        tax.push(o.tax);
        discount.push(o.discount);
        coupons.push(opt_text(o.coupon.as_deref()));
        sources.push(opt_text(a.source.as_deref()));
        mediums.push(opt_text(a.medium.as_deref()));
        campaigns.push(opt_text(a.campaign.as_deref()));
        terms.push(opt_text(a.term.as_deref()));
        contents.push(opt_text(a.content.as_deref()));
        referrers.push(opt_text(a.referrer.as_deref()));
    }
    sqlx::query(
        "INSERT INTO orders (id, customer_id, anonymous_id, email, placed_at, currency, merchandise_total, total, \
           shipping, tax, discount, coupon, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, \
           created_at, updated_at) \
         SELECT u.*, $19, $19 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], \
           $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::text[], $13::text[], $14::text[], \
           $15::text[], $16::text[], $17::text[], $18::text[]) AS u \
         ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, anonymous_id = EXCLUDED.anonymous_id, \
           email = EXCLUDED.email, placed_at = EXCLUDED.placed_at, currency = EXCLUDED.currency, \
           merchandise_total = EXCLUDED.merchandise_total, total = EXCLUDED.total, shipping = EXCLUDED.shipping, \
           tax = EXCLUDED.tax, discount = EXCLUDED.discount, coupon = EXCLUDED.coupon, \
           utm_source = EXCLUDED.utm_source, utm_medium = EXCLUDED.utm_medium, utm_campaign = EXCLUDED.utm_campaign, \
           utm_term = EXCLUDED.utm_term, utm_content = EXCLUDED.utm_content, referrer = EXCLUDED.referrer, \
           updated_at = EXCLUDED.updated_at",
    )
    .bind(&ids)
    .bind(&customers)
    .bind(&anons)
    .bind(&emails)
    .bind(&placed)
    .bind(&currencies)
    .bind(&merchandise)
    .bind(&totals)
    .bind(&shipping)
    .bind(&tax)
    .bind(&discount)
    .bind(&coupons)
    .bind(&sources)
    .bind(&mediums)
    .bind(&campaigns)
    .bind(&terms)
    .bind(&contents)
    .bind(&referrers)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn write_lines(conn: &mut PgConnection, latest: &BTreeMap<&str, &Order>) -> Result<()> {
    let ids: Vec<&str> = latest.keys().copied().collect();
    sqlx::query("DELETE FROM order_lines WHERE order_id = ANY($1::text[])")
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    let mut order_ids = Vec::new();
    let mut line_nos = Vec::new();
    let mut kinds = Vec::new();
    let mut products = Vec::new();
    let mut skus = Vec::new();
    let mut titles = Vec::new();
    let mut quantities = Vec::new();
    let mut prices = Vec::new();
    let mut discounts = Vec::new();
    for (id, o) in latest {
        for (line_no, line) in o.lines.iter().enumerate() {
            order_ids.push(*id);
            line_nos.push(line_no as i32);
            kinds.push(line.kind.as_str());
            products.push(line.product_id.as_ref().map(|p| p.as_str()));
            skus.push(opt_text(line.sku.as_deref()));
            titles.push(opt_text(line.title.as_deref()));
            quantities.push(line.quantity);
            prices.push(line.unit_price);
            discounts.push(line.discount);
        }
    }
    if order_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_lines (order_id, line_no, kind, product_id, sku, title, quantity, unit_price, discount) \
         SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], \
           $8::int8[], $9::int8[])",
    )
    .bind(&order_ids)
    .bind(&line_nos)
    .bind(&kinds)
    .bind(&products)
    .bind(&skus)
    .bind(&titles)
    .bind(&quantities)
    .bind(&prices)
    .bind(&discounts)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

type StatusKey<'a> = (&'a str, &'a str, DateTime<Utc>);
type StatusDetails = (Option<String>, Option<String>, Option<String>);

/// Adds status entries (never `refunded`); an identical (order, status, time) is kept once,
/// its carrier, tracking number and note filled in by later entries that give them.
async fn insert_statuses(
    conn: &mut PgConnection,
    entries: BTreeMap<StatusKey<'_>, StatusDetails>,
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut order_ids = Vec::with_capacity(entries.len());
    let mut statuses = Vec::with_capacity(entries.len());
    let mut ats = Vec::with_capacity(entries.len());
    let mut carriers = Vec::with_capacity(entries.len());
    let mut tracking = Vec::with_capacity(entries.len());
    let mut notes = Vec::with_capacity(entries.len());
    for ((order_id, status, at), (carrier, tracking_number, note)) in entries {
        order_ids.push(order_id);
        statuses.push(status);
        ats.push(at);
        carriers.push(carrier);
        tracking.push(tracking_number);
        notes.push(note);
    }
    sqlx::query(
        "INSERT INTO order_status (order_id, status, at, carrier, tracking_number, note) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[]) \
         ON CONFLICT (order_id, status, at) DO UPDATE SET \
           carrier = COALESCE(EXCLUDED.carrier, order_status.carrier), \
           tracking_number = COALESCE(EXCLUDED.tracking_number, order_status.tracking_number), \
           note = COALESCE(EXCLUDED.note, order_status.note)",
    )
    .bind(&order_ids)
    .bind(&statuses)
    .bind(&ats)
    .bind(&carriers)
    .bind(&tracking)
    .bind(&notes)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records refunds, each with the customer it names (resolved through merges) or else its
/// order's. One whose id, or whose (order, time, amount), is already stored is skipped.
/// Returns how many were new.
///
/// The second element of each pair, when given, is the customer to use instead of the
/// refund's own (already resolved).
pub(crate) async fn insert_refunds(
    conn: &mut PgConnection,
    refunds: &[(Refund, Option<String>)],
) -> Result<u64> {
    if refunds.is_empty() {
        return Ok(0);
    }
    let n = refunds.len();
    let mut ids = Vec::with_capacity(n);
    let mut order_ids = Vec::with_capacity(n);
    let mut customers = Vec::with_capacity(n);
    let mut ats = Vec::with_capacity(n);
    let mut amounts = Vec::with_capacity(n);
    let mut currencies = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    for (refund, customer) in refunds {
        ids.push(refund.id.as_str());
        order_ids.push(refund.order_id.as_ref().map(|o| o.as_str()));
        customers.push(
            customer
                .as_deref()
                .or(refund.customer_id.as_ref().map(|c| c.as_str())),
        );
        ats.push(refund.at);
        amounts.push(refund.amount);
        currencies.push(refund.currency.code());
        reasons.push(opt_text(refund.reason.as_deref()));
    }
    // In the given order (ORDINALITY): of two refunds of one call that are the same refund,
    // the first is kept.
    let inserted = sqlx::query(
        "INSERT INTO refunds (id, order_id, customer_id, at, amount, currency, reason) \
         SELECT u.id, u.order_id, COALESCE(c.merged_into, u.customer_id, o.customer_id), u.at, u.amount, u.currency, u.reason \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int8[], $6::text[], $7::text[]) \
           WITH ORDINALITY AS u(id, order_id, customer_id, at, amount, currency, reason, ord) \
         LEFT JOIN customers c ON c.id = u.customer_id \
         LEFT JOIN orders o ON o.id = u.order_id \
         ORDER BY u.ord \
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&ids)
    .bind(&order_ids)
    .bind(&customers)
    .bind(&ats)
    .bind(&amounts)
    .bind(&currencies)
    .bind(&reasons)
    .fetch_all(&mut *conn)
    .await?;
    Ok(inserted.len() as u64)
}

/// The parts of a stored order that adding a status needs, its row locked.
struct OrderHead {
    order: Order,
}

async fn lock_order(
    conn: &mut PgConnection,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<OrderHead>> {
    let row = sqlx::query(
        "UPDATE orders SET updated_at = $2 WHERE id = $1 RETURNING id, customer_id, placed_at, currency, total",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let currency: String = row.try_get("currency")?;
    let customer: Option<String> = row.try_get("customer_id")?;
    let total: i64 = row.try_get("total")?;
    // Only what `refunds_from_history` reads matters: id, customer, currency and total() — the
    // stored total stands in for the lines as the shipping charge of an order without lines.
    let order = Order {
        id: embudo_core::OrderId::parse(id).map_err(|e| crate::error::corrupt("id", e))?,
        customer_id: customer
            .map(embudo_core::CustomerId::parse)
            .transpose()
            .map_err(|e| crate::error::corrupt("customer_id", e))?,
        anonymous_id: None,
        email: None,
        placed_at: row.try_get("placed_at")?,
        currency: codec::currency_code(&currency)?,
        lines: Vec::new(),
        shipping: total,
        tax: 0,
        discount: 0,
        coupon: None,
        attribution: Default::default(),
        history: Vec::new(),
    };
    Ok(Some(OrderHead { order }))
}

/// Adds a status change to a known order (a `refunded` one as a refund, with the same id an
/// order upsert would derive). Returns false when the order is unknown.
pub(crate) async fn add_order_status(
    conn: &mut PgConnection,
    id: &str,
    change: &StatusChange,
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(head) = lock_order(conn, id, now).await? else {
        return Ok(false);
    };
    if change.status == StatusKind::Refunded {
        let single = Order {
            history: vec![change.clone()],
            ..head.order
        };
        let refunds: Vec<(Refund, Option<String>)> = refunds_from_history(&single)
            .into_iter()
            .map(|r| (r, None))
            .collect();
        insert_refunds(conn, &refunds).await?;
    } else {
        let mut entries = BTreeMap::new();
        entries.insert(
            (id, change.status.as_str(), change.at),
            (
                opt_text(change.carrier.as_deref()),
                opt_text(change.tracking_number.as_deref()),
                opt_text(change.note.as_deref()),
            ),
        );
        insert_statuses(conn, entries).await?;
    }
    Ok(true)
}

/// A refund asked for by a tracking message. Without an amount it refunds what is left of the
/// order's total (nothing when nothing is left or the order is unknown); with an amount, a
/// refund of an unknown order is kept when the message gave a currency.
pub(crate) async fn refund_request(
    conn: &mut PgConnection,
    request: &embudo_store::RefundRequest,
) -> Result<()> {
    // The order row is locked so that two refunds of "what is left" cannot both see the same
    // remainder.
    let row = sqlx::query("SELECT currency, total FROM orders WHERE id = $1 FOR UPDATE")
        .bind(request.order_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let order: Option<(String, i64)> = match row {
        Some(row) => Some((row.try_get("currency")?, row.try_get("total")?)),
        None => None,
    };
    let (currency, amount) = match (order, request.amount) {
        (Some((currency, _)), Some(amount)) => (
            request
                .currency
                .map_or_else(|| codec::currency_code(&currency), Ok)?,
            amount,
        ),
        (Some((currency, total)), None) => {
            let refunded: i64 = sqlx::query_scalar(
                "SELECT COALESCE(sum(amount), 0)::int8 FROM refunds WHERE order_id = $1",
            )
            .bind(request.order_id.as_str())
            .fetch_one(&mut *conn)
            .await?;
            if total - refunded <= 0 {
                return Ok(());
            }
            (
                request
                    .currency
                    .map_or_else(|| codec::currency_code(&currency), Ok)?,
                total - refunded,
            )
        }
        (None, Some(amount)) => match request.currency {
            Some(currency) => (currency, amount),
            None => return Ok(()),
        },
        (None, None) => return Ok(()),
    };
    let refund = Refund {
        id: request.id.clone(),
        order_id: Some(request.order_id.clone()),
        customer_id: None,
        at: request.at,
        amount,
        currency,
        reason: request.reason.clone(),
    };
    insert_refunds(conn, &[(refund, None)]).await?;
    Ok(())
}
