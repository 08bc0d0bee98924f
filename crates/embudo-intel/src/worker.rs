//! The background loop that keeps segment memberships up to date.
//!
//! Every `poll` it reads the store's marks ([`embudo_store::facts::Marks`]) and re-evaluates
//! only the customers touched since the last round: those with new events, those whose
//! visitors were linked or who were merged into, and those whose orders changed. Customers whose
//! membership can change with time alone are re-evaluated when that time comes (each
//! evaluation tells the next such instant, kept in a queue), and every `recheck` all customers
//! are re-evaluated for the time-based segments, so nothing is missed after a restart. The
//! scores job runs every `scores_every`, and segment definitions are read again every round
//! (another node may have changed them).

use crate::scores::{refresh_scores, ScoresOptions};
use crate::segments::SegmentEngine;
use chrono::{DateTime, Utc};
use embudo_core::CustomerId;
use embudo_store::facts::{EventQuery, Marks, SeqRange, TimeRange};
use embudo_store::{Store, StoreError};
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

/// How often the worker does what.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Between rounds.
    pub poll: Duration,
    /// Between full re-evaluations of the time-based segments.
    pub recheck: Duration,
    /// Between runs of the scores job (`None`: never).
    pub scores_every: Option<Duration>,
    /// The scores job's settings.
    pub scores: ScoresOptions,
    /// Whether the first round re-evaluates everybody for the time-based segments (a restart
    /// may have missed instants); otherwise the first such pass comes after `recheck`.
    pub recheck_at_start: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            recheck: Duration::from_secs(15 * 60),
            scores_every: Some(Duration::from_secs(24 * 3600)),
            scores: ScoresOptions::default(),
            recheck_at_start: true,
        }
    }
}

/// The worker's state between rounds.
pub struct Worker {
    engine: Arc<SegmentEngine>,
    store: Arc<dyn Store>,
    config: WorkerConfig,
    marks: Marks,
    /// Order update times seen (to find the customers of changed orders).
    orders_since: DateTime<Utc>,
    due: BinaryHeap<Reverse<(DateTime<Utc>, CustomerId)>>,
    last_recheck: Option<std::time::Instant>,
    last_scores: Option<std::time::Instant>,
}

impl Worker {
    /// A worker that starts from the store as it is now.
    pub async fn new(
        engine: Arc<SegmentEngine>,
        store: Arc<dyn Store>,
        config: WorkerConfig,
    ) -> Result<Self, StoreError> {
        let marks = store.fact_marks().await?;
        let last_recheck = (!config.recheck_at_start).then(std::time::Instant::now);
        Ok(Self {
            engine,
            store,
            config,
            marks,
            orders_since: Utc::now(),
            due: BinaryHeap::new(),
            last_recheck,
            last_scores: None,
        })
    }

    /// One round: catches up with what changed and re-evaluates who it touched. Returns how
    /// many customers were evaluated.
    pub async fn round(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.engine.reload().await?;
        let mut evaluated = 0;
        if self
            .config
            .scores_every
            .is_some_and(|every| self.last_scores.is_none_or(|t| t.elapsed() >= every))
        {
            self.last_scores = Some(std::time::Instant::now());
            match refresh_scores(
                self.store.as_ref(),
                Some(&self.engine),
                now,
                self.engine.default_currency(),
                &self.config.scores,
            )
            .await
            {
                Ok(report) => tracing::info!(
                    customers = report.customers,
                    vip = report.vip,
                    changes = report.membership_changes,
                    "scores refreshed"
                ),
                Err(error) => tracing::warn!(%error, "the scores job failed"),
            }
        }
        if self
            .last_recheck
            .is_none_or(|t| t.elapsed() >= self.config.recheck)
        {
            self.last_recheck = Some(std::time::Instant::now());
            let stats = self.engine.recompute_timed(now).await?;
            evaluated += stats.customers;
        }

        let marks = self.store.fact_marks().await?;
        if !self.engine.has_segments() {
            // Nothing to keep up to date: only where the history stands.
            self.marks = marks;
            self.orders_since = now;
            self.due.clear();
            return Ok(evaluated);
        }
        let mut touched: BTreeSet<CustomerId> = BTreeSet::new();
        if marks.events > self.marks.events {
            let events = self
                .store
                .event_facts(&EventQuery {
                    range: TimeRange::all(),
                    names: Vec::new(),
                    details: false,
                    seqs: Some(SeqRange {
                        after: self.marks.events,
                        through: marks.events,
                    }),
                })
                .await?;
            touched.extend(events.into_iter().filter_map(|e| e.customer_id));
        }
        if marks.identities > self.marks.identities {
            for change in self
                .store
                .identity_changes(self.marks.identities, marks.identities)
                .await?
            {
                if let Ok(id) = CustomerId::parse(change.into_customer) {
                    touched.insert(id);
                }
            }
        }
        if marks.orders != self.marks.orders || marks.refunds != self.marks.refunds {
            let since = self.orders_since;
            self.orders_since = now;
            touched.extend(
                self.store
                    .customers_with_orders_changed_since(since)
                    .await?,
            );
        }
        self.marks = marks;
        while let Some(Reverse((at, _))) = self.due.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, id))) = self.due.pop() {
                touched.insert(id);
            }
        }
        let ids: Vec<CustomerId> = touched.into_iter().collect();
        for chunk in ids.chunks(500) {
            let (stats, next) = self.engine.evaluate(chunk, now, None).await?;
            evaluated += stats.customers;
            self.due.extend(next.into_iter().map(Reverse));
        }
        Ok(evaluated)
    }

    /// Runs rounds every `poll` until `stop` resolves.
    pub async fn run(mut self, stop: tokio::sync::watch::Receiver<bool>) {
        let mut stop = stop;
        loop {
            if let Err(error) = self.round(Utc::now()).await {
                tracing::warn!(%error, "a segment round failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll) => {}
                _ = stop.changed() => break,
            }
        }
    }
}
