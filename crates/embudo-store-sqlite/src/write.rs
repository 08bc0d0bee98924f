//! Everything that changes the database, run on the writer connection inside one transaction.
//!
//! A [`Writer`] lives for one transaction. Besides the connection it keeps per-transaction
//! caches that make the ingestion hot path cheap: who a `user_id` resolves to, who a visitor is
//! linked to, and the first/last-seen times of customers, which are widened once per
//! transaction instead of once per event. The caches are dropped when a merge changes who is
//! who, and the pending seen times are written before anything reads them back.

use crate::codec::{self, consent_status_str, context_json, json, micros};
use crate::error::Result;
use crate::read;
use chrono::{DateTime, Utc};
use embudo_core::{
    CustomerPatch, MergeReason, Message, Order, Product, Refund, StatusChange, StatusKind,
};
use embudo_store::{refunds_from_history, ApiKey, Applied, Effect, Envelope, RefundRequest};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// The longest chain of `merged_into` links followed; merges keep chains one link long, so
/// this only guards against hand-made cycles.
const MAX_MERGE_HOPS: usize = 16;

const INSERT_EVENT: &str = "INSERT INTO events (message_id, kind, event, anonymous_id, user_id, customer_id, \
     previous_id, group_id, session_id, ts, received_at, properties, traits, context, device_type, country, city, \
     utm_source, utm_medium, utm_campaign, referrer, page_url) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22) \
     ON CONFLICT (message_id) DO NOTHING";

/// The JSON text columns of an event, encoded ahead of its transaction.
pub(crate) struct EncodedEvent {
    properties: String,
    traits: String,
    context: String,
}

impl EncodedEvent {
    /// Encodes `message`'s properties, traits and context as the store keeps them.
    pub(crate) fn new(message: &Message) -> Self {
        Self {
            properties: json(&message.properties),
            traits: json(&message.traits),
            context: context_json(&message.context),
        }
    }
}

/// Inserts an event with [`INSERT_EVENT`]; false when its message id was stored before.
fn insert_event(
    stmt: &mut rusqlite::CachedStatement<'_>,
    message: &Message,
    encoded: &EncodedEvent,
    customer: Option<&str>,
) -> Result<bool> {
    let context = &message.context;
    let changed = stmt.execute(params![
        message.message_id.as_str(),
        message.kind.as_str(),
        message.event,
        message.anonymous_id.as_ref().map(|a| a.as_str()),
        message.user_id.as_ref().map(|u| u.as_str()),
        customer,
        message.previous_id,
        message.group_id,
        message.session_id,
        micros(message.timestamp),
        micros(message.received_at),
        encoded.properties,
        encoded.traits,
        encoded.context,
        context.device_type,
        context.country,
        context.city,
        context.attribution.source,
        context.attribution.medium,
        context.attribution.campaign,
        context.attribution.referrer,
        context.page_url,
    ])?;
    Ok(changed == 1)
}

/// The writer's view of one transaction.
pub(crate) struct Writer<'c> {
    conn: &'c Connection,
    /// The transaction's time, for `created_at`/`updated_at` columns.
    now: i64,
    /// `user_id` → the customer it resolves to (following merges).
    users: HashMap<String, String>,
    /// `anonymous_id` → the customer the visitor is linked to, if any.
    visitors: HashMap<String, Option<String>>,
    /// Customer → (first, last) seen times not yet written.
    seen: HashMap<String, (i64, i64)>,
}

impl<'c> Writer<'c> {
    /// A writer for the transaction open on `conn`.
    pub(crate) fn new(conn: &'c Connection, now: DateTime<Utc>) -> Self {
        Self {
            conn,
            now: micros(now),
            users: HashMap::new(),
            visitors: HashMap::new(),
            seen: HashMap::new(),
        }
    }

    /// The connection, for reads inside the transaction.
    pub(crate) fn conn(&self) -> &'c Connection {
        self.conn
    }

    /// Writes what is pending; call before committing.
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.flush_seen()
    }

    // ---- tracking ----

    /// Stores a batch of messages and applies the effects of the new ones.
    /// `encoded[i]` is `batch[i]`'s message encoded.
    pub(crate) fn apply(
        &mut self,
        batch: &[Envelope],
        encoded: &[EncodedEvent],
    ) -> Result<Vec<Applied>> {
        // Held for the whole batch: the statement cache is keyed by SQL text, and hashing it
        // for every event is measurable on this path.
        let mut insert = self.conn.prepare_cached(INSERT_EVENT)?;
        let mut applied = Vec::with_capacity(batch.len());
        for (envelope, encoded) in batch.iter().zip(encoded) {
            let message = &envelope.message;
            let customer = self.resolve_message(message)?;
            if !insert_event(&mut insert, message, encoded, customer.as_deref())? {
                applied.push(Applied::Duplicate);
                continue;
            }
            if let Some(customer) = customer {
                self.widen_seen(
                    customer,
                    micros(message.timestamp),
                    micros(message.timestamp),
                );
            }
            for effect in &envelope.effects {
                self.effect(effect, message)?;
            }
            applied.push(Applied::Inserted);
        }
        Ok(applied)
    }

    fn effect(&mut self, effect: &Effect, message: &Message) -> Result<()> {
        let at = micros(message.timestamp);
        let message_id = Some(message.message_id.as_str());
        match effect {
            Effect::UpsertCustomer(patch) => self.upsert_customer(patch),
            Effect::LinkVisitor {
                anonymous_id,
                customer_id,
                reason,
            } => self.link_visitor(
                anonymous_id.as_str(),
                customer_id.as_str(),
                *reason,
                message_id,
                at,
            ),
            Effect::MergeCustomers { from, into } => {
                self.merge_customers(from.as_str(), into.as_str(), message_id, at)
            }
            Effect::UpsertOrder(order) => self.upsert_order(order, message_id, at),
            Effect::OrderStatus { order_id, change } => {
                self.add_order_status(order_id.as_str(), change).map(drop)
            }
            Effect::Refund(request) => self.refund_request(request),
        }
    }

    /// The customer a new message belongs to: its `user_id` following merges, else the customer
    /// its visitor is linked to.
    fn resolve_message(&mut self, message: &Message) -> Result<Option<String>> {
        if let Some(user) = &message.user_id {
            if let Some(resolved) = self.users.get(user.as_str()) {
                return Ok(Some(resolved.clone()));
            }
            let resolved = self.resolve_customer(user.as_str())?;
            self.users
                .insert(user.as_str().to_owned(), resolved.clone());
            return Ok(Some(resolved));
        }
        if let Some(anonymous) = &message.anonymous_id {
            return self.visitor(anonymous.as_str());
        }
        Ok(None)
    }

    fn visitor(&mut self, anonymous_id: &str) -> Result<Option<String>> {
        if let Some(linked) = self.visitors.get(anonymous_id) {
            return Ok(linked.clone());
        }
        let linked: Option<String> = self
            .conn
            .prepare_cached("SELECT customer_id FROM identities WHERE anonymous_id = ?1")?
            .query_row([anonymous_id], |row| row.get(0))
            .optional()?;
        self.visitors
            .insert(anonymous_id.to_owned(), linked.clone());
        Ok(linked)
    }

    /// The customer `id` stands for now: itself, or the customer it was merged into.
    fn resolve_customer(&self, id: &str) -> Result<String> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT merged_into FROM customers WHERE id = ?1")?;
        let mut current = id.to_owned();
        for _ in 0..MAX_MERGE_HOPS {
            let next: Option<Option<String>> =
                stmt.query_row([&current], |row| row.get(0)).optional()?;
            match next {
                Some(Some(into)) if into != current => current = into,
                _ => break,
            }
        }
        Ok(current)
    }

    /// Notes that `customer` was seen between `first` and `last`; written by [`Self::flush_seen`].
    fn widen_seen(&mut self, customer: String, first: i64, last: i64) {
        self.seen
            .entry(customer)
            .and_modify(|(f, l)| {
                *f = (*f).min(first);
                *l = (*l).max(last);
            })
            .or_insert((first, last));
    }

    /// Creates the customers noted as seen and widens their first/last seen times.
    fn flush_seen(&mut self) -> Result<()> {
        if self.seen.is_empty() {
            return Ok(());
        }
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO customers (id, first_seen, last_seen, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO UPDATE SET \
               first_seen = coalesce(min(customers.first_seen, excluded.first_seen), excluded.first_seen), \
               last_seen = coalesce(max(customers.last_seen, excluded.last_seen), excluded.last_seen) \
             WHERE customers.first_seen IS NULL OR customers.last_seen IS NULL \
               OR excluded.first_seen < customers.first_seen OR excluded.last_seen > customers.last_seen",
        )?;
        for (customer, (first, last)) in self.seen.drain() {
            stmt.execute(params![customer, first, last, self.now])?;
        }
        Ok(())
    }

    /// Makes sure a customer row exists.
    fn ensure_customer(&self, id: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO customers (id, created_at) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING")?
            .execute(params![id, self.now])?;
        Ok(())
    }

    // ---- identity ----

    /// Links a visitor to a customer and gives the customer the visitor's unresolved events.
    pub(crate) fn link_visitor(
        &mut self,
        anonymous_id: &str,
        customer: &str,
        reason: MergeReason,
        message_id: Option<&str>,
        at: i64,
    ) -> Result<()> {
        let customer = self.resolve_customer(customer)?;
        if self.visitor(anonymous_id)?.as_deref() == Some(customer.as_str()) {
            return Ok(());
        }
        self.ensure_customer(&customer)?;
        self.conn
            .prepare_cached(
                "INSERT INTO identities (anonymous_id, customer_id, linked_at, reason) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (anonymous_id) DO UPDATE SET customer_id = excluded.customer_id, \
                 linked_at = excluded.linked_at, reason = excluded.reason",
            )?
            .execute(params![anonymous_id, customer, at, reason.as_str()])?;
        let mut moved = 0i64;
        let mut span: Option<(i64, i64)> = None;
        {
            let mut stmt = self.conn.prepare_cached(
                "UPDATE events SET customer_id = ?1 WHERE anonymous_id = ?2 AND customer_id IS NULL RETURNING ts",
            )?;
            let mut rows = stmt.query(params![customer, anonymous_id])?;
            while let Some(row) = rows.next()? {
                let ts: i64 = row.get(0)?;
                moved += 1;
                span = Some(span.map_or((ts, ts), |(f, l)| (f.min(ts), l.max(ts))));
            }
        }
        if let Some((first, last)) = span {
            self.widen_seen(customer.clone(), first, last);
        }
        self.record_merge(
            Some(anonymous_id),
            None,
            &customer,
            reason,
            message_id,
            moved,
            at,
        )?;
        self.visitors
            .insert(anonymous_id.to_owned(), Some(customer));
        Ok(())
    }

    /// Folds customer `from` into `into`: its events, orders, refunds and visitors move, and it
    /// is marked merged. Nothing of the shop's history is deleted; `from`'s segment
    /// memberships (logged as exits) and scores are.
    pub(crate) fn merge_customers(
        &mut self,
        from: &str,
        into: &str,
        message_id: Option<&str>,
        at: i64,
    ) -> Result<()> {
        // The merge reads and moves seen times, so pending ones must be in the table first
        // (they also create the customers that events of this batch named).
        self.flush_seen()?;
        // Ingestion cannot tell whether an alias's previous id was a customer or a visitor and
        // sends both a merge and a link; a merge from an id that never was a customer is the
        // visitor case, and must not invent a customer.
        let known: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM customers WHERE id = ?1)")?
            .query_row([from], |row| row.get(0))?;
        if !known {
            return Ok(());
        }
        let into = self.resolve_customer(into)?;
        let from = self.resolve_customer(from)?;
        if from == into {
            return Ok(());
        }
        self.ensure_customer(&into)?;
        let conn = self.conn;
        let moved = conn
            .prepare_cached("UPDATE events SET customer_id = ?1 WHERE customer_id = ?2")?
            .execute(params![into, from])?;
        conn.prepare_cached(
            "UPDATE orders SET customer_id = ?1, updated_at = ?3 WHERE customer_id = ?2",
        )?
        .execute(params![into, from, self.now])?;
        conn.prepare_cached("UPDATE refunds SET customer_id = ?1 WHERE customer_id = ?2")?
            .execute(params![into, from])?;
        conn.prepare_cached("UPDATE identities SET customer_id = ?1 WHERE customer_id = ?2")?
            .execute(params![into, from])?;
        // Customers merged into `from` earlier now point at `into` directly, keeping chains
        // one link long.
        conn.prepare_cached("UPDATE customers SET merged_into = ?1 WHERE merged_into = ?2")?
            .execute(params![into, from])?;
        conn.prepare_cached(
            "UPDATE customers SET merged_into = ?1, updated_at = ?3 WHERE id = ?2",
        )?
        .execute(params![into, from, self.now])?;
        conn.prepare_cached(
            "UPDATE customers SET \
               first_seen = coalesce(min(first_seen, (SELECT first_seen FROM customers WHERE id = ?2)), first_seen, \
                 (SELECT first_seen FROM customers WHERE id = ?2)), \
               last_seen = coalesce(max(last_seen, (SELECT last_seen FROM customers WHERE id = ?2)), last_seen, \
                 (SELECT last_seen FROM customers WHERE id = ?2)) \
             WHERE id = ?1",
        )?
        .execute(params![into, from])?;
        // Memberships and scores are the live customer's: `from` leaves its segments (logged,
        // so that triggers see it) and loses its scores; the service re-evaluates `into`.
        crate::intel::drop_merged_customer(conn, &from, at)?;
        self.record_merge(
            None,
            Some(&from),
            &into,
            MergeReason::Alias,
            message_id,
            moved as i64,
            at,
        )?;
        // Who resolves to whom changed.
        self.users.clear();
        self.visitors.clear();
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // one column each; a struct would only rename them
    fn record_merge(
        &self,
        anonymous_id: Option<&str>,
        from: Option<&str>,
        into: &str,
        reason: MergeReason,
        message_id: Option<&str>,
        events_moved: i64,
        at: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO identity_merges (anonymous_id, from_customer, into_customer, reason, message_id, \
                 events_moved, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![anonymous_id, from, into, reason.as_str(), message_id, events_moved, at])?;
        Ok(())
    }

    // ---- customers ----

    /// Creates a customer or updates it with the patch's fields.
    pub(crate) fn upsert_customer(&mut self, patch: &CustomerPatch) -> Result<()> {
        let changes_profile = patch.email.is_some()
            || patch.name.is_some()
            || patch.phone.is_some()
            || patch.country.is_some()
            || patch.city.is_some()
            || patch.customer_type.is_some()
            || patch.consent.is_some()
            || !patch.attributes.is_empty();
        let consent = patch.consent.as_ref();
        self.conn
            .prepare_cached(
                "INSERT INTO customers (id, email, name, phone, country, city, customer_type, consent_status, \
                 consent_at, consent_source, attributes, first_seen, last_seen, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, coalesce(?7, 'consumer'), ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14) \
                 ON CONFLICT (id) DO UPDATE SET \
                   email = coalesce(?2, customers.email), \
                   name = coalesce(?3, customers.name), \
                   phone = coalesce(?4, customers.phone), \
                   country = coalesce(?5, customers.country), \
                   city = coalesce(?6, customers.city), \
                   customer_type = coalesce(?7, customers.customer_type), \
                   consent_status = CASE WHEN ?8 IS NULL THEN customers.consent_status ELSE ?8 END, \
                   consent_at = CASE WHEN ?8 IS NULL THEN customers.consent_at ELSE ?9 END, \
                   consent_source = CASE WHEN ?8 IS NULL THEN customers.consent_source ELSE ?10 END, \
                   attributes = CASE WHEN ?11 = '{}' THEN customers.attributes \
                     ELSE json_patch(customers.attributes, ?11) END, \
                   first_seen = coalesce(min(customers.first_seen, ?12), customers.first_seen, ?12), \
                   last_seen = coalesce(max(customers.last_seen, ?12), customers.last_seen, ?12), \
                   updated_at = coalesce(?14, customers.updated_at)",
            )?
            .execute(params![
                patch.id.as_str(),
                patch.email.as_ref().map(|e| e.as_str()),
                patch.name,
                patch.phone,
                patch.country,
                patch.city,
                patch.customer_type.map(|t| t.as_str()),
                consent.map(|c| consent_status_str(c.status)),
                consent.map(|c| micros(c.at)),
                consent.map(|c| c.source.as_str()),
                json(&patch.attributes),
                patch.seen_at.map(micros),
                self.now,
                changes_profile.then_some(self.now),
            ])?;
        Ok(())
    }

    // ---- catalog ----

    /// Creates or replaces a product.
    pub(crate) fn upsert_product(&self, product: &Product) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO products (id, sku, title, description, category_path, category, brand, price, currency, \
                 tags, in_stock, inventory_quantity, url, image_url, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, coalesce(?15, ?16), ?16) \
                 ON CONFLICT (id) DO UPDATE SET sku = excluded.sku, title = excluded.title, \
                   description = excluded.description, category_path = excluded.category_path, \
                   category = excluded.category, brand = excluded.brand, price = excluded.price, \
                   currency = excluded.currency, tags = excluded.tags, in_stock = excluded.in_stock, \
                   inventory_quantity = excluded.inventory_quantity, url = excluded.url, \
                   image_url = excluded.image_url, created_at = coalesce(?15, products.created_at), \
                   updated_at = excluded.updated_at",
            )?
            .execute(params![
                product.id.as_str(),
                product.sku,
                product.title,
                product.description,
                json(&product.category_path),
                product.category(),
                product.brand,
                product.price,
                product.currency.code(),
                json(&product.tags),
                product.in_stock,
                product.inventory_quantity,
                product.url,
                product.image_url,
                product.created_at.map(micros),
                self.now,
            ])?;
        Ok(())
    }

    // ---- orders ----

    /// Creates or replaces an order: header and lines replaced, history merged, refunds in the
    /// history recorded, the customer created and the visitor linked.
    pub(crate) fn upsert_order(
        &mut self,
        order: &Order,
        message_id: Option<&str>,
        at: i64,
    ) -> Result<()> {
        let customer = order
            .customer_id
            .as_ref()
            .map(|c| self.resolve_customer(c.as_str()))
            .transpose()?;
        if let Some(customer) = &customer {
            self.ensure_customer(customer)?;
            self.widen_seen(
                customer.clone(),
                micros(order.placed_at),
                micros(order.placed_at),
            );
        }
        let conn = self.conn;
        let id = order.id.as_str();
        let attribution = &order.attribution;
        conn.prepare_cached(
            "INSERT INTO orders (id, customer_id, anonymous_id, email, placed_at, currency, merchandise_total, total, \
             shipping, tax, discount, coupon, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, \
             created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19) \
             ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, anonymous_id = excluded.anonymous_id, \
               email = excluded.email, placed_at = excluded.placed_at, currency = excluded.currency, \
               merchandise_total = excluded.merchandise_total, total = excluded.total, shipping = excluded.shipping, \
               tax = excluded.tax, discount = excluded.discount, coupon = excluded.coupon, \
               utm_source = excluded.utm_source, utm_medium = excluded.utm_medium, \
               utm_campaign = excluded.utm_campaign, utm_term = excluded.utm_term, \
               utm_content = excluded.utm_content, referrer = excluded.referrer, updated_at = excluded.updated_at",
        )?
        .execute(params![
            id,
            customer,
            order.anonymous_id.as_ref().map(|a| a.as_str()),
            order.email.as_ref().map(|e| e.as_str()),
            micros(order.placed_at),
            order.currency.code(),
            order.merchandise_total(),
            order.total(),
            order.shipping,
            order.tax,
            order.discount,
            order.coupon,
            attribution.source,
            attribution.medium,
            attribution.campaign,
            attribution.term,
            attribution.content,
            attribution.referrer,
            self.now,
        ])?;
        conn.prepare_cached("DELETE FROM order_lines WHERE order_id = ?1")?
            .execute([id])?;
        {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO order_lines (order_id, line_no, kind, product_id, sku, title, quantity, unit_price, \
                 discount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (line_no, line) in order.lines.iter().enumerate() {
                stmt.execute(params![
                    id,
                    line_no as i64,
                    line.kind.as_str(),
                    line.product_id.as_ref().map(|p| p.as_str()),
                    line.sku,
                    line.title,
                    line.quantity,
                    line.unit_price,
                    line.discount,
                ])?;
            }
        }
        for change in order
            .history
            .iter()
            .filter(|c| c.status != StatusKind::Refunded)
        {
            self.insert_status(id, change)?;
        }
        for mut refund in refunds_from_history(order) {
            refund.customer_id = customer.as_deref().map(codec::customer_id).transpose()?;
            self.insert_refund(&refund)?;
        }
        // Refunds follow their order's customer, also when the order changes hands.
        conn.prepare_cached(
            "UPDATE refunds SET customer_id = ?2 WHERE order_id = ?1 AND customer_id IS NOT ?2",
        )?
        .execute(params![id, customer])?;
        if let (Some(anonymous_id), Some(customer)) = (&order.anonymous_id, &customer) {
            self.link_visitor(
                anonymous_id.as_str(),
                customer,
                MergeReason::Order,
                message_id,
                at,
            )?;
        }
        Ok(())
    }

    /// Adds a status change to an order; false when the order is unknown.
    pub(crate) fn add_order_status(
        &mut self,
        order_id: &str,
        change: &StatusChange,
    ) -> Result<bool> {
        let Some(order) = read::order(self.conn, order_id)? else {
            return Ok(false);
        };
        if change.status == StatusKind::Refunded {
            // The same derivation as an order upsert, so the two routes give one refund.
            let single = Order {
                history: vec![change.clone()],
                ..order
            };
            for refund in refunds_from_history(&single) {
                self.insert_refund(&refund)?;
            }
        } else {
            self.insert_status(order_id, change)?;
        }
        self.conn
            .prepare_cached("UPDATE orders SET updated_at = ?2 WHERE id = ?1")?
            .execute(params![order_id, self.now])?;
        Ok(true)
    }

    fn insert_status(&self, order_id: &str, change: &StatusChange) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO order_status (order_id, status, at, carrier, tracking_number, note) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (order_id, status, at) DO UPDATE SET \
                   carrier = coalesce(excluded.carrier, order_status.carrier), \
                   tracking_number = coalesce(excluded.tracking_number, order_status.tracking_number), \
                   note = coalesce(excluded.note, order_status.note)",
            )?
            .execute(params![
                order_id,
                change.status.as_str(),
                micros(change.at),
                change.carrier,
                change.tracking_number,
                change.note,
            ])?;
        Ok(())
    }

    /// Records a refund unless its id, or its (order, time, amount), is already stored. A
    /// refund without a customer takes its order's.
    pub(crate) fn insert_refund(&self, refund: &Refund) -> Result<bool> {
        let customer = refund
            .customer_id
            .as_ref()
            .map(|c| self.resolve_customer(c.as_str()))
            .transpose()?;
        let changed = self
            .conn
            .prepare_cached(
                "INSERT INTO refunds (id, order_id, customer_id, at, amount, currency, reason) \
                 VALUES (?1, ?2, coalesce(?3, (SELECT customer_id FROM orders WHERE id = ?2)), ?4, ?5, ?6, ?7) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![
                refund.id.as_str(),
                refund.order_id.as_ref().map(|o| o.as_str()),
                customer,
                micros(refund.at),
                refund.amount,
                refund.currency.code(),
                refund.reason,
            ])?;
        Ok(changed == 1)
    }

    /// A refund asked for by a message: `None` refunds what is left of the order.
    fn refund_request(&mut self, request: &RefundRequest) -> Result<()> {
        let order_id = request.order_id.as_str();
        let order: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT currency, total FROM orders WHERE id = ?1")?
            .query_row([order_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let (currency, amount) = match (order, request.amount) {
            (Some((stored, total)), amount) => {
                let currency = match request.currency {
                    Some(currency) => currency,
                    None => codec::currency(&stored)?,
                };
                let amount = match amount {
                    Some(amount) => amount,
                    None => {
                        let refunded: i64 = self
                            .conn
                            .prepare_cached(
                                "SELECT coalesce(sum(amount), 0) FROM refunds WHERE order_id = ?1",
                            )?
                            .query_row([order_id], |row| row.get(0))?;
                        if total <= refunded {
                            return Ok(());
                        }
                        total - refunded
                    }
                };
                (currency, amount)
            }
            // An unknown order: a refund of a stated amount and currency is kept (the order
            // may come later); what is "left" of an unknown order is unknowable.
            (None, Some(amount)) => match request.currency {
                Some(currency) => (currency, amount),
                None => return Ok(()),
            },
            (None, None) => return Ok(()),
        };
        self.insert_refund(&Refund {
            id: request.id.clone(),
            order_id: Some(request.order_id.clone()),
            customer_id: None,
            at: request.at,
            amount,
            currency,
            reason: request.reason.clone(),
        })?;
        Ok(())
    }

    // ---- keys ----

    /// Stores a key.
    pub(crate) fn insert_key(&self, key: &ApiKey) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO api_keys (id, name, kind, hash, created_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                key.id,
                key.name,
                key.kind.as_str(),
                key.hash,
                micros(key.created_at),
                key.revoked_at.map(micros),
            ])?;
        Ok(())
    }

    /// Revokes a key; false when there is none with this id.
    pub(crate) fn revoke_key(&self, id: &str) -> Result<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            )?
            .execute(params![id, self.now])?;
        Ok(changed > 0)
    }
}
