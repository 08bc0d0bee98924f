//! The shop's history kept in memory and up to date, so that reports answer without reading
//! the store: the server's engine for `GET /v1/analytics/{report}`.
//!
//! [`Live::load`] reads every event (into a columnar [`EventTable`]), order and refund once.
//! Before each report, [`Live::refresh`] reads the store's [`Marks`] (a few indexed lookups and
//! two small table checksums) and catches up with what changed since:
//!
//! - new events: those with sequence numbers above the last one read (the marks guarantee that
//!   none can still appear below it, on PostgreSQL too), appended to the table;
//! - visitors linked and customers merged: the identity log entries since the last one read,
//!   replayed on the table's person keys ([`EventTable::rekey`]), one pass over the rows;
//! - orders or refunds changed (their fingerprint moved, or an identity changed, which can
//!   change whose a guest order is): all of them read again (they are few next to events);
//! - customers (only for the breakdowns that need them): read again when their fingerprint
//!   moved.
//!
//! A report then runs on the table with the columnar engines ([`columnar::funnel`],
//! [`columnar::traffic`]) or on slices of the orders and refunds, and returns the same JSON as
//! [`crate::report::run`] over the store.

use crate::abandonment::{abandonment, PRODUCT_ADDED, PRODUCT_REMOVED};
use crate::columnar::{self, EventTable};
use crate::growth::{growth, GrowthInput};
use crate::params::{Breakdown, Compare};
use crate::period::{Interval, Period};
use crate::report::{period_json, to_json, Context, ReportError, ReportKind, ReportQuery};
use crate::retention::retention;
use crate::revenue::revenue;
use crate::rfm::rfm;
use crate::{customers_by_person, Customers};
use embudo_store::facts::{
    EventQuery, Fingerprint, Marks, OrderFact, RefundFact, SeqRange, TimeRange,
};
use embudo_store::{Store, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// The history in memory.
#[derive(Debug, Default)]
pub struct History {
    /// Where the store stood when this was read.
    marks: Marks,
    /// Every event.
    events: EventTable,
    /// Every order, by `(placed_at, id)`.
    orders: Vec<OrderFact>,
    /// Every refund, by time.
    refunds: Vec<RefundFact>,
    /// The customers, with the fingerprint they were read at (read on first need).
    customers: Option<(Fingerprint, Customers)>,
}

impl History {
    /// How many events.
    pub fn events(&self) -> usize {
        self.events.len()
    }

    /// Approximate heap size in bytes of the events.
    pub fn memory_bytes(&self) -> usize {
        self.events.memory_bytes()
    }

    fn orders_in(&self, range: TimeRange) -> &[OrderFact] {
        let lo = range.from.map_or(0, |from| {
            self.orders.partition_point(|o| o.placed_at < from)
        });
        let hi = range.to.map_or(self.orders.len(), |to| {
            self.orders.partition_point(|o| o.placed_at < to)
        });
        &self.orders[lo..hi.max(lo)]
    }

    fn refunds_in(&self, range: TimeRange) -> &[RefundFact] {
        let lo = range
            .from
            .map_or(0, |from| self.refunds.partition_point(|r| r.at < from));
        let hi = range.to.map_or(self.refunds.len(), |to| {
            self.refunds.partition_point(|r| r.at < to)
        });
        &self.refunds[lo..hi.max(lo)]
    }

    fn customers(&self) -> &Customers {
        static EMPTY: std::sync::OnceLock<Customers> = std::sync::OnceLock::new();
        match &self.customers {
            Some((_, customers)) => customers,
            None => EMPTY.get_or_init(HashMap::new),
        }
    }
}

/// Orders by `(placed_at, id)` and refunds by time, as the reports expect them.
fn sort_money(orders: &mut [OrderFact], refunds: &mut [RefundFact]) {
    orders.sort_by(|a, b| (a.placed_at, &a.id).cmp(&(b.placed_at, &b.id)));
    refunds.sort_by_key(|r| r.at);
}

/// A history kept up to date with a store.
pub struct Live {
    store: Arc<dyn Store>,
    history: RwLock<History>,
    /// One refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

/// Whether a report needs the customers (their type and country).
fn needs_customers(kind: ReportKind, by: Option<Breakdown>) -> bool {
    match kind {
        ReportKind::Funnel | ReportKind::FunnelPeople => by == Some(Breakdown::CustomerType),
        ReportKind::Traffic | ReportKind::Revenue => {
            matches!(by, Some(Breakdown::CustomerType | Breakdown::Country))
        }
        _ => false,
    }
}

impl Live {
    /// Reads the whole history of `store` into memory.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let live = Self {
            store,
            history: RwLock::new(History::default()),
            refreshing: tokio::sync::Mutex::new(()),
        };
        live.refresh(false).await?;
        Ok(live)
    }

    /// Runs `f` on the history as it is now (without catching up with the store).
    pub fn with<T>(&self, f: impl FnOnce(&History) -> T) -> T {
        f(&self.history.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Catches up with everything the store committed before this call (see the module
    /// documentation); with `customers`, the customers too.
    pub async fn refresh(&self, customers: bool) -> Result<(), StoreError> {
        let _one = self.refreshing.lock().await;
        let (old, had_customers) = self.with(|h| (h.marks, h.customers.as_ref().map(|c| c.0)));
        let marks = self.store.fact_marks().await?;
        let events = if marks.events > old.events {
            self.store
                .event_facts(&EventQuery {
                    range: TimeRange::all(),
                    names: Vec::new(),
                    details: true,
                    seqs: Some(SeqRange {
                        after: old.events,
                        through: marks.events,
                    }),
                })
                .await?
        } else {
            Vec::new()
        };
        let identities = if marks.identities > old.identities {
            self.store
                .identity_changes(old.identities, marks.identities)
                .await?
        } else {
            Vec::new()
        };
        let money =
            if marks.orders != old.orders || marks.refunds != old.refunds || !identities.is_empty()
            {
                let mut orders = self.store.order_facts(TimeRange::all()).await?;
                let mut refunds = self.store.refund_facts(TimeRange::all()).await?;
                sort_money(&mut orders, &mut refunds);
                Some((orders, refunds))
            } else {
                None
            };
        let customer_rows = if customers {
            let mark = self.store.customer_mark().await?;
            if had_customers == Some(mark) && identities.is_empty() {
                None
            } else {
                Some((
                    mark,
                    customers_by_person(self.store.customer_facts().await?),
                ))
            }
        } else {
            None
        };
        let keys: Vec<(String, String)> = identities
            .iter()
            .filter_map(|change| change.person_keys())
            .collect();
        let mut history = self.history.write().unwrap_or_else(PoisonError::into_inner);
        history.events.reserve(events.len());
        for event in &events {
            history.events.push(event);
        }
        if !keys.is_empty() {
            history
                .events
                .rekey(keys.iter().map(|(a, b)| (a.as_str(), b.as_str())));
        }
        if let Some((orders, refunds)) = money {
            history.orders = orders;
            history.refunds = refunds;
        }
        if let Some(rows) = customer_rows {
            history.customers = Some(rows);
        } else if !identities.is_empty() {
            history.customers = None;
        }
        history.marks = marks;
        // Orders the rows and builds the per-person index now, not in the first report.
        history.events.sort();
        history.events.prepare();
        Ok(())
    }

    /// Runs `kind` with `query` on the history, caught up with the store first: the same JSON as
    /// [`crate::report::run`] on the store.
    pub async fn report(
        self: &Arc<Self>,
        kind: ReportKind,
        query: &ReportQuery,
        context: Context,
    ) -> Result<Value, ReportError> {
        // Parameters are checked before any work.
        let period = query.period_for(kind, context.now)?;
        let compare = query.compare()?;
        let by = query.by()?;
        self.refresh(needs_customers(kind, by)).await?;
        let this = Arc::clone(self);
        let query = query.clone();
        let work = move || {
            this.with(|history| {
                let mut out = one(history, kind, &query, &period, compare, context)?;
                if let (Some(compare), true) = (
                    compare,
                    !matches!(kind, ReportKind::Growth | ReportKind::FunnelPeople),
                ) {
                    let previous = period.compare(compare);
                    out["comparison"] = one(history, kind, &query, &previous, None, context)?;
                }
                Ok(out)
            })
        };
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ReportError::Store(StoreError::Unavailable(format!("report: {e}"))))?
    }
}

/// One report over `period` on `history`.
fn one(
    history: &History,
    kind: ReportKind,
    query: &ReportQuery,
    period: &Period,
    compare: Option<Compare>,
    context: Context,
) -> Result<Value, ReportError> {
    let customers = history.customers();
    let table = &history.events;
    let mut out = match kind {
        ReportKind::Funnel => {
            let spec = query.funnel_spec()?;
            to_json(&columnar::funnel(period, &spec, table, customers))
        }
        ReportKind::FunnelPeople => {
            let spec = query.funnel_spec()?;
            let (step, limit) = query.dropped_page(&spec)?;
            to_json(&columnar::dropped(
                period,
                &spec,
                table,
                customers,
                step,
                query.value.as_deref(),
                query.after.as_deref(),
                limit,
            ))
        }
        ReportKind::Traffic => to_json(&columnar::traffic(
            period,
            query.interval()?,
            query.by()?,
            table,
            history.orders_in(period.range()),
            customers,
        )),
        ReportKind::Revenue => to_json(&revenue(
            period,
            query.interval()?.unwrap_or(Interval::Day),
            query.by()?,
            history.orders_in(period.range()),
            history.refunds_in(period.range()),
            table.count_people(period.range()),
            customers,
        )),
        ReportKind::Growth => {
            let previous = period.compare(compare.unwrap_or(Compare::Previous));
            let history_orders = history.orders_in(TimeRange::until(period.to));
            let mut first_order_at = HashMap::new();
            for order in history_orders.iter().filter(|o| !o.cancelled) {
                first_order_at
                    .entry(order.person.clone())
                    .or_insert(order.placed_at);
            }
            let input = |p: &Period| GrowthInput {
                orders: history.orders_in(p.range()),
                refunds: history.refunds_in(p.range()),
                visitors: table.count_people(p.range()),
                first_order_at: &first_order_at,
            };
            to_json(&growth(
                period,
                &previous,
                &input(period),
                &input(&previous),
            ))
        }
        ReportKind::Retention => to_json(&retention(
            period,
            query.cohort_interval()?,
            history.orders_in(TimeRange::until(period.to)),
            history.refunds_in(TimeRange::until(period.to)),
        )),
        ReportKind::Abandonment => {
            let timeout = query.timeout()?;
            let now = context.now.max(period.from);
            let range = TimeRange::new(period.from, now);
            let events = table.facts(range, &[PRODUCT_ADDED.into(), PRODUCT_REMOVED.into()]);
            to_json(&abandonment(
                period,
                timeout,
                now,
                &events,
                history.orders_in(range),
                context.default_currency,
            ))
        }
        ReportKind::Rfm => to_json(&rfm(
            period,
            history.orders_in(period.range()),
            history.refunds_in(TimeRange::until(period.to)),
        )),
    };
    if let Value::Object(map) = &mut out {
        map.insert("report".into(), Value::String(kind.as_str().into()));
        map.insert("period".into(), period_json(period));
    }
    Ok(out)
}
