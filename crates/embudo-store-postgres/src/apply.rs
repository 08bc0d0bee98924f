//! Applying a batch of tracking messages in one transaction, in a handful of round trips.
//!
//! 1. All messages are inserted by one `INSERT … SELECT FROM unnest(…) ON CONFLICT (message_id)
//!    DO NOTHING RETURNING`, which tells which are new; a message id repeated inside the batch
//!    is sent once (its first occurrence). Each event is resolved to a person in the same
//!    statement, from the state before the batch: its `user_id` (following merges), else its
//!    visitor's link. `seq` values are drawn in batch order, while rows are inserted in
//!    message-id order so that two nodes inserting overlapping batches lock in the same order.
//! 2. One statement creates every customer the new messages name, widens their first/last
//!    seen times with the batch's events, and locks them in id order. (When the batch links
//!    visitors or merges customers, the widening waits until the effects are done, and uses
//!    the customer each event ended up with.)
//! 3. All `UpsertCustomer` effects are folded and written by one statement. They commute with
//!    every other effect (those only create customers or move rows between them), so doing
//!    them first changes nothing.
//! 4. The other effects run in message order. Consecutive links and order upserts are written
//!    together, one set-based statement per step, as long as no visitor repeats in the run.
//!
//! The result is what applying the messages one by one would give. Events stored in step 1 for
//! a visitor that a later message of the batch links are filled in by the link; effects that
//! re-link a visitor or merge customers correct the batch's later events themselves, and do
//! not count them as "moved" (see [`BatchIndex`]).
//!
//! Concurrency: the caller holds the apply lock (see [`crate::lock`]), shared when the batch
//! cannot change who anyone is and exclusive when it can, so that an event stored by one node
//! is never resolved against a link another node is making at the same moment.

use crate::codec::{json_text, opt_text, text};
use crate::error::Result;
use crate::write::{self, widen, BatchIndex, Link, OrderWrite, Span};
use chrono::{DateTime, Utc};
use embudo_core::{CustomerPatch, Message};
use embudo_store::{Applied, Effect, Envelope};
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Whether applying `batch` may change who an event belongs to (link a visitor or merge
/// customers), which needs the apply lock in exclusive mode.
pub(crate) fn changes_identities(batch: &[Envelope]) -> bool {
    batch
        .iter()
        .flat_map(|e| &e.effects)
        .any(|effect| match effect {
            Effect::LinkVisitor { .. } | Effect::MergeCustomers { .. } => true,
            Effect::UpsertOrder(order) => {
                order.anonymous_id.is_some() && order.customer_id.is_some()
            }
            Effect::UpsertCustomer(_) | Effect::OrderStatus { .. } | Effect::Refund(_) => false,
        })
}

/// Whether every identity change of `batch` is a visitor link that is already stored (the
/// visitor linked to that very customer), so that applying it changes no one's identity.
/// Logged-in visitors carry both ids on every message, so most batches link only visitors
/// linked long ago. The answer holds while the caller holds the apply lock, shared or not: only
/// exclusive holders change links.
pub(crate) async fn links_known(conn: &mut PgConnection, batch: &[Envelope]) -> Result<bool> {
    let mut pairs: BTreeSet<(&str, &str)> = BTreeSet::new();
    for effect in batch.iter().flat_map(|e| &e.effects) {
        match effect {
            Effect::MergeCustomers { .. } => return Ok(false),
            Effect::LinkVisitor {
                anonymous_id,
                customer_id,
                ..
            } => {
                pairs.insert((anonymous_id.as_str(), customer_id.as_str()));
            }
            Effect::UpsertOrder(order) => {
                if let (Some(anonymous_id), Some(customer_id)) =
                    (&order.anonymous_id, &order.customer_id)
                {
                    pairs.insert((anonymous_id.as_str(), customer_id.as_str()));
                }
            }
            Effect::UpsertCustomer(_) | Effect::OrderStatus { .. } | Effect::Refund(_) => {}
        }
    }
    let (visitors, customers): (Vec<&str>, Vec<&str>) = pairs.iter().copied().unzip();
    let known: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identities i \
         JOIN UNNEST($1::text[], $2::text[]) AS p (anonymous_id, customer_id) \
         ON i.anonymous_id = p.anonymous_id AND i.customer_id = p.customer_id",
    )
    .bind(&visitors)
    .bind(&customers)
    .fetch_one(&mut *conn)
    .await?;
    Ok(known == pairs.len() as i64)
}

/// Applies a batch inside the caller's transaction. See the module documentation.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    batch: &[Envelope],
    now: DateTime<Utc>,
) -> Result<Vec<Applied>> {
    // First occurrence of each message id, in batch order.
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
    for (position, envelope) in batch.iter().enumerate() {
        first
            .entry(envelope.message.message_id.as_str())
            .or_insert(position);
    }
    let mut candidates: Vec<usize> = first.values().copied().collect();
    candidates.sort_unstable();

    let inserted = insert_events(conn, batch, &candidates).await?;
    // When no effect can change who an event belongs to, the resolution made while inserting
    // is final and the seen times can be widened right away; otherwise they are widened at the
    // end, by the customer each event ended up with (widening twice is harmless, widening the
    // wrong customer is not).
    let identities_change = changes_identities(batch);

    let mut index = BatchIndex::default();
    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    let mut first_named: HashMap<String, usize> = HashMap::new();
    let mut new_positions: Vec<usize> = Vec::with_capacity(inserted.len());
    for (position, stored) in &inserted {
        let message = &batch[*position].message;
        new_positions.push(*position);
        index.position_of_seq.insert(stored.seq, *position);
        if message.user_id.is_none() {
            if let Some(anonymous_id) = &message.anonymous_id {
                index
                    .anonymous
                    .entry(anonymous_id.as_str().to_owned())
                    .or_default()
                    .push((*position, stored.seq));
            }
        }
        if let Some(customer) = &stored.customer_id {
            let first = first_named.entry(customer.clone()).or_insert(*position);
            *first = (*first).min(*position);
            let span = seen.entry(customer.clone()).or_default();
            if !identities_change {
                widen(span, message.timestamp);
            }
        }
    }
    new_positions.sort_unstable();

    // Every customer that the new messages' effects would create exists before the effects run
    // (a merge creates none: `from` must exist already, `into` is made by the merge itself).
    let mut patches: Vec<&CustomerPatch> = Vec::new();
    for &position in &new_positions {
        for effect in &batch[position].effects {
            let named = match effect {
                Effect::UpsertCustomer(patch) => {
                    patches.push(patch);
                    Some(&patch.id)
                }
                Effect::LinkVisitor { customer_id, .. } => Some(customer_id),
                Effect::UpsertOrder(order) => order.customer_id.as_ref(),
                Effect::MergeCustomers { .. } | Effect::OrderStatus { .. } | Effect::Refund(_) => {
                    None
                }
            };
            if let Some(customer) = named {
                seen.entry(customer.as_str().to_owned()).or_default();
                let first = first_named
                    .entry(customer.as_str().to_owned())
                    .or_insert(position);
                *first = (*first).min(position);
            }
        }
    }
    for created in write::ensure_customers_created(conn, &seen, now).await? {
        if let Some(&position) = first_named.get(&created) {
            index.created.insert(created, position);
        }
    }
    write::patch_customers(conn, &patches, now).await?;

    let mut run = Run::default();
    for &position in &new_positions {
        let message = &batch[position].message;
        for effect in &batch[position].effects {
            match effect {
                Effect::UpsertCustomer(_) => {}
                Effect::LinkVisitor {
                    anonymous_id,
                    customer_id,
                    reason,
                } => {
                    if run.visitors.contains(anonymous_id.as_str()) {
                        run.flush(conn, &index, now).await?;
                    }
                    run.visitors.insert(anonymous_id.as_str());
                    run.links.push(Link {
                        anonymous_id: anonymous_id.as_str().to_owned(),
                        customer_id: customer_id.as_str().to_owned(),
                        reason: *reason,
                        message_id: Some(message.message_id.as_str().to_owned()),
                        at: message.timestamp,
                        position: Some(position),
                    });
                }
                Effect::UpsertOrder(order) => {
                    let links = order
                        .customer_id
                        .is_some()
                        .then_some(order.anonymous_id.as_ref())
                        .flatten();
                    if let Some(anonymous_id) = links {
                        if run.visitors.contains(anonymous_id.as_str()) {
                            run.flush(conn, &index, now).await?;
                        }
                        run.visitors.insert(anonymous_id.as_str());
                    }
                    run.orders.push(OrderWrite {
                        order,
                        message: Some((message.message_id.as_str(), position)),
                        at: message.timestamp,
                    });
                }
                Effect::MergeCustomers { from, into } => {
                    run.flush(conn, &index, now).await?;
                    let origin = write::Origin {
                        message_id: Some(message.message_id.as_str()),
                        at: message.timestamp,
                        position: Some(position),
                    };
                    write::merge_customers(conn, from.as_str(), into.as_str(), origin, &index, now)
                        .await?;
                }
                Effect::OrderStatus { order_id, change } => {
                    run.flush(conn, &index, now).await?;
                    write::add_order_status(conn, order_id.as_str(), change, now).await?;
                }
                Effect::Refund(request) => {
                    run.flush(conn, &index, now).await?;
                    write::refund_request(conn, request).await?;
                }
            }
        }
    }
    run.flush(conn, &index, now).await?;
    if identities_change {
        widen_by_final_customer(conn, &index, now).await?;
    }

    let new: HashSet<usize> = new_positions.into_iter().collect();
    Ok((0..batch.len())
        .map(|p| {
            if new.contains(&p) {
                Applied::Inserted
            } else {
                Applied::Duplicate
            }
        })
        .collect())
}

/// Widens the first/last seen times of the customers the batch's new events belong to now.
async fn widen_by_final_customer(
    conn: &mut PgConnection,
    index: &BatchIndex,
    now: DateTime<Utc>,
) -> Result<()> {
    let seqs: Vec<i64> = index.position_of_seq.keys().copied().collect();
    let rows = sqlx::query(
        "SELECT customer_id, min(ts) AS first, max(ts) AS last FROM events \
         WHERE seq = ANY($1::int8[]) AND customer_id IS NOT NULL GROUP BY customer_id",
    )
    .bind(&seqs)
    .fetch_all(&mut *conn)
    .await?;
    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    for row in rows {
        seen.insert(
            row.try_get("customer_id")?,
            (row.try_get("first")?, row.try_get("last")?),
        );
    }
    write::ensure_customers(conn, &seen, now).await
}

/// Consecutive effects written together: order upserts and visitor links, no visitor twice.
#[derive(Default)]
struct Run<'a> {
    orders: Vec<OrderWrite<'a>>,
    links: Vec<Link>,
    visitors: HashSet<&'a str>,
}

impl Run<'_> {
    async fn flush(
        &mut self,
        conn: &mut PgConnection,
        index: &BatchIndex,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // Orders first: they create their customers. Orders and links of a run touch different
        // visitors, so their order does not matter otherwise.
        let mut links = write::upsert_orders(conn, &self.orders, now).await?;
        links.append(&mut self.links);
        write::link_visitors(conn, &links, index, now).await?;
        self.orders.clear();
        self.visitors.clear();
        Ok(())
    }
}

/// What step 1 learnt of a new event.
struct StoredRow {
    seq: i64,
    customer_id: Option<String>,
}

/// Inserts the candidate messages (positions in the batch, ascending); returns the new ones by
/// position.
async fn insert_events(
    conn: &mut PgConnection,
    batch: &[Envelope],
    candidates: &[usize],
) -> Result<Vec<(usize, StoredRow)>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<(usize, &Message)> =
        candidates.iter().map(|&p| (p, &batch[p].message)).collect();
    rows.sort_unstable_by(|a, b| a.1.message_id.as_str().cmp(b.1.message_id.as_str()));

    let n = rows.len();
    let mut positions = Vec::with_capacity(n);
    let mut message_ids = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    let mut anons = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut previous = Vec::with_capacity(n);
    let mut groups = Vec::with_capacity(n);
    let mut sessions = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut received = Vec::with_capacity(n);
    let mut properties = Vec::with_capacity(n);
    let mut traits = Vec::with_capacity(n);
    let mut contexts = Vec::with_capacity(n);
    let mut devices = Vec::with_capacity(n);
    let mut countries = Vec::with_capacity(n);
    let mut cities = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut mediums = Vec::with_capacity(n);
    let mut campaigns = Vec::with_capacity(n);
    let mut referrers = Vec::with_capacity(n);
    let mut pages = Vec::with_capacity(n);
    for (position, m) in &rows {
        let c = &m.context;
        // 1-based rank of the message among the candidates (which are in batch order).
        let rank = candidates.binary_search(position).unwrap_or_default() + 1;
        positions.push(rank as i32);
        message_ids.push(m.message_id.as_str());
        kinds.push(m.kind.as_str());
        events.push(opt_text(m.event.as_deref()));
        anons.push(m.anonymous_id.as_ref().map(|a| a.as_str()));
        users.push(m.user_id.as_ref().map(|u| u.as_str()));
        previous.push(opt_text(m.previous_id.as_deref()));
        groups.push(opt_text(m.group_id.as_deref()));
        sessions.push(opt_text(m.session_id.as_deref()));
        ts.push(m.timestamp);
        received.push(m.received_at);
        properties.push(json_text(&m.properties)?);
        traits.push(json_text(&m.traits)?);
        contexts.push(json_text(c)?);
        devices.push(opt_text(c.device_type.as_deref()));
        countries.push(opt_text(c.country.as_deref()));
        cities.push(opt_text(c.city.as_deref()));
        sources.push(opt_text(c.attribution.source.as_deref()));
        mediums.push(opt_text(c.attribution.medium.as_deref()));
        campaigns.push(opt_text(c.attribution.campaign.as_deref()));
        referrers.push(c.attribution.referrer.as_deref().map(text));
        pages.push(opt_text(c.page_url.as_deref()));
    }

    // `seqs` draws one sequence value per candidate in batch order into an array (materialized
    // once, before the insert runs), and each row takes the value at its rank, so `seq` follows
    // the batch even though rows go in by message id. (A join on the rank instead made the
    // planner, which cannot estimate `unnest`, pick a nested loop: quadratic in the batch.)
    // Values drawn for duplicates are simply skipped.
    let returned = sqlx::query(
        "WITH seqs AS MATERIALIZED ( \
           SELECT array_agg(nextval('events_seq_seq'::regclass) ORDER BY s.i) AS a \
           FROM generate_series(1, $1::int4) AS s(i)) \
         INSERT INTO events (seq, message_id, kind, event, anonymous_id, user_id, customer_id, previous_id, group_id, \
           session_id, ts, received_at, properties, traits, context, device_type, country, city, utm_source, \
           utm_medium, utm_campaign, referrer, page_url) \
         SELECT (SELECT a FROM seqs)[u.ord], u.message_id, u.kind, u.event, u.anonymous_id, u.user_id, \
           CASE WHEN u.user_id IS NOT NULL THEN COALESCE(c.merged_into, u.user_id) ELSE i.customer_id END, \
           u.previous_id, u.group_id, u.session_id, u.ts, u.received_at, u.properties::jsonb, u.traits::jsonb, \
           u.context::jsonb, u.device_type, u.country, u.city, u.utm_source, u.utm_medium, u.utm_campaign, \
           u.referrer, u.page_url \
         FROM unnest($2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], \
             $10::text[], $11::timestamptz[], $12::timestamptz[], $13::text[], $14::text[], $15::text[], $16::text[], \
             $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[]) \
           AS u(ord, message_id, kind, event, anonymous_id, user_id, previous_id, group_id, session_id, ts, \
                received_at, properties, traits, context, device_type, country, city, utm_source, utm_medium, \
                utm_campaign, referrer, page_url) \
         LEFT JOIN customers c ON c.id = u.user_id \
         LEFT JOIN identities i ON i.anonymous_id = u.anonymous_id \
         ORDER BY u.message_id COLLATE \"C\" \
         ON CONFLICT (message_id) DO NOTHING \
         RETURNING seq, message_id, customer_id",
    )
    .bind(n as i32)
    .bind(&positions)
    .bind(&message_ids)
    .bind(&kinds)
    .bind(&events)
    .bind(&anons)
    .bind(&users)
    .bind(&previous)
    .bind(&groups)
    .bind(&sessions)
    .bind(&ts)
    .bind(&received)
    .bind(&properties)
    .bind(&traits)
    .bind(&contexts)
    .bind(&devices)
    .bind(&countries)
    .bind(&cities)
    .bind(&sources)
    .bind(&mediums)
    .bind(&campaigns)
    .bind(&referrers)
    .bind(&pages)
    .fetch_all(&mut *conn)
    .await?;

    let position_of: HashMap<&str, usize> = rows
        .iter()
        .map(|(p, m)| (m.message_id.as_str(), *p))
        .collect();
    let mut stored = Vec::with_capacity(returned.len());
    for row in returned {
        let message_id: String = row.try_get("message_id")?;
        let Some(&position) = position_of.get(message_id.as_str()) else {
            continue;
        };
        stored.push((
            position,
            StoredRow {
                seq: row.try_get("seq")?,
                customer_id: row.try_get("customer_id")?,
            },
        ));
    }
    Ok(stored)
}
