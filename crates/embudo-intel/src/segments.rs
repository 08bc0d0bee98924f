//! The segment engine: definitions checked and stored, members evaluated, entries and exits
//! recorded.
//!
//! A customer's memberships are evaluated from their profile (the store's
//! [`ProfileData`](embudo_store::intel::ProfileData): attributes, orders, events), their stored
//! [`Scores`](crate::Scores) and their memberships of other segments. Segments are evaluated in
//! dependency order (a segment that uses `in_segment("x")` after `x`), so one pass settles every
//! membership. Only what changed is written, as entries and exits with their time
//! ([`embudo_store::Store::change_memberships`]).
//!
//! System segments (the VIP group) are kept by the jobs that own them, never evaluated here;
//! other segments may refer to them.

use crate::scores::{Scores, VIP_SEGMENT};
use chrono::{DateTime, Utc};
use embudo_core::{Currency, CustomerId, ProductId};
use embudo_segments::{
    evaluate, evaluation_order, next_change, parse, referenced_segments, Dependencies, EvalContext,
    Expr, ParseError, Profile, ProfileEvent, ProfileLine, ProfileOrder,
};
use embudo_store::intel::{is_segment_key, MembershipChange, ProfileData, SegmentRecord};
use embudo_store::{PageRequest, Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

/// Why a segment cannot be saved, deleted or previewed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The expression does not parse or check.
    #[error("{0}")]
    Expression(ParseError),
    /// The key is not a valid segment key.
    #[error("segment key `{0}` is invalid: use 1 to 64 characters of a-z, 0-9, `_` and `-`")]
    Key(String),
    /// A referenced segment does not exist.
    #[error("in_segment(\"{0}\"): no segment has that key")]
    UnknownSegment(String),
    /// Saving it would make segments refer to each other in a circle.
    #[error("segments would refer to each other in a circle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    /// Other segments refer to it.
    #[error("segment `{key}` is used by {}", .used_by.join(", "))]
    InUse {
        /// The segment.
        key: String,
        /// The segments that refer to it.
        used_by: Vec<String>,
    },
    /// A system segment cannot be changed by hand.
    #[error("segment `{0}` is kept by Embudo and cannot be changed or deleted")]
    System(String),
    /// No such segment.
    #[error("no segment `{0}`")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvalStats {
    /// Customers evaluated.
    pub customers: u64,
    /// Entries recorded.
    pub entered: u64,
    /// Exits recorded.
    pub left: u64,
}

impl EvalStats {
    fn add(&mut self, other: &EvalStats) {
        self.customers += other.customers;
        self.entered += other.entered;
        self.left += other.left;
    }
}

/// A preview of a condition over the whole shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// Customers who match.
    pub size: u64,
    /// Customers evaluated.
    pub customers: u64,
    /// Some who match, in id order.
    pub sample: Vec<String>,
}

/// A segment ready to evaluate.
#[derive(Debug, Clone)]
struct Compiled {
    key: String,
    expr: Expr,
    deps: Dependencies,
}

/// The segments, in evaluation order.
#[derive(Debug, Clone, Default)]
struct Definitions {
    /// Every segment (system ones included), by key.
    records: BTreeMap<String, SegmentRecord>,
    /// The evaluated ones, dependencies first.
    order: Vec<Compiled>,
}

impl Definitions {
    fn build(records: Vec<SegmentRecord>) -> Self {
        let records: BTreeMap<String, SegmentRecord> =
            records.into_iter().map(|r| (r.key.clone(), r)).collect();
        let exprs: BTreeMap<String, Expr> = records
            .values()
            .filter(|r| !r.system)
            .filter_map(|r| match parse(&r.expression) {
                Ok(expr) => Some((r.key.clone(), expr)),
                Err(e) => {
                    // Stored definitions were checked when saved; one that no longer parses
                    // (a language change) is skipped, not fatal.
                    tracing::warn!(segment = %r.key, error = %e, "a stored segment does not parse; skipped");
                    None
                }
            })
            .collect();
        let keys = evaluation_order(&exprs).unwrap_or_else(|cycle| {
            tracing::warn!(
                ?cycle,
                "stored segments refer to each other in a circle; those are skipped"
            );
            exprs
                .keys()
                .filter(|k| !cycle.contains(k))
                .cloned()
                .collect()
        });
        let order = keys
            .into_iter()
            .filter_map(|key| {
                let expr = exprs.get(&key)?.clone();
                Some(Compiled {
                    deps: Dependencies::of(&expr),
                    key,
                    expr,
                })
            })
            .collect();
        Self { records, order }
    }

    /// Whether any evaluated segment reads events.
    fn needs_events(&self, only: Option<&BTreeSet<String>>) -> bool {
        self.selected(only)
            .any(|c| c.deps.any_event || !c.deps.event_names.is_empty())
    }

    fn selected<'a>(
        &'a self,
        only: Option<&'a BTreeSet<String>>,
    ) -> impl Iterator<Item = &'a Compiled> + 'a {
        self.order
            .iter()
            .filter(move |c| only.is_none_or(|keys| keys.contains(&c.key)))
    }
}

/// When the passing of time alone could change a customer's memberships next.
pub type Rechecks = Vec<(DateTime<Utc>, CustomerId)>;

/// Customer → the keys of the segments they are in.
type Memberships = HashMap<CustomerId, BTreeSet<String>>;

/// Customers per page of a full pass.
const PAGE: u32 = 500;

/// The segment engine over a store.
pub struct SegmentEngine {
    store: Arc<dyn Store>,
    default_currency: Currency,
    definitions: RwLock<Arc<Definitions>>,
    /// Every customer's stored scores (they change only when the scores job runs).
    scores: RwLock<Arc<HashMap<CustomerId, Scores>>>,
}

impl std::fmt::Debug for SegmentEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentEngine").finish_non_exhaustive()
    }
}

/// A customer's profile as segments see it.
pub fn profile(data: ProfileData, scores: Option<Scores>, segments: BTreeSet<String>) -> Profile {
    let mut profile = Profile::from_customer(&data.customer);
    profile.orders = data
        .orders
        .into_iter()
        .map(|o| ProfileOrder {
            placed_at: o.placed_at,
            currency: o.currency,
            net: o.net,
            cancelled: o.cancelled,
            lines: o
                .lines
                .into_iter()
                .map(|l| ProfileLine {
                    product_id: Some(l.product_id),
                    category: l.category,
                    brand: l.brand,
                    quantity: l.quantity,
                })
                .collect(),
        })
        .collect();
    profile.events = data
        .events
        .into_iter()
        .map(|e| ProfileEvent {
            name: e.name,
            at: e.at,
            product_id: e.product_id.and_then(|p| ProductId::parse(p).ok()),
            category: e.category,
            brand: e.brand,
            query: e.query,
            device: e.device,
            source: e.source,
        })
        .collect();
    if let Some(scores) = scores {
        profile.predictions = scores.predictions;
        profile.rfm = scores.rfm;
    }
    profile.segments = segments;
    profile
}

impl SegmentEngine {
    /// The engine over `store`'s segments; money in conditions without a currency is in
    /// `default_currency`.
    pub async fn load(
        store: Arc<dyn Store>,
        default_currency: Currency,
    ) -> Result<Self, StoreError> {
        let records = store.segments().await?;
        let engine = Self {
            store,
            default_currency,
            definitions: RwLock::new(Arc::new(Definitions::build(records))),
            scores: RwLock::new(Arc::new(HashMap::new())),
        };
        engine.reload_scores().await?;
        Ok(engine)
    }

    /// Reads every customer's scores again (after the scores job ran).
    pub async fn reload_scores(&self) -> Result<(), StoreError> {
        let scores: HashMap<CustomerId, Scores> = self
            .store
            .all_scores()
            .await?
            .into_iter()
            .filter_map(|s| Some((s.customer_id, serde_json::from_value(s.scores).ok()?)))
            .collect();
        *self.scores.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(scores);
        Ok(())
    }

    fn definitions(&self) -> Arc<Definitions> {
        Arc::clone(
            &self
                .definitions
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Reads the definitions again (after another node changed them); they are parsed and
    /// ordered again only when they changed.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let records = self.store.segments().await?;
        let current = self.definitions();
        if records.len() == current.records.len()
            && records
                .iter()
                .all(|r| current.records.get(&r.key) == Some(r))
        {
            return Ok(());
        }
        *self
            .definitions
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(Definitions::build(records));
        Ok(())
    }

    /// Parses `expression` and checks that the segments it refers to exist (besides `own`).
    pub fn check(&self, expression: &str, own: Option<&str>) -> Result<Expr, SegmentError> {
        let expr = parse(expression).map_err(SegmentError::Expression)?;
        let definitions = self.definitions();
        for key in referenced_segments(&expr) {
            if Some(key.as_str()) == own || !definitions.records.contains_key(&key) {
                return Err(SegmentError::UnknownSegment(key));
            }
        }
        Ok(expr)
    }

    /// Makes sure the VIP segment exists.
    pub async fn ensure_vip_segment(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        if self.definitions().records.contains_key(VIP_SEGMENT) {
            return Ok(());
        }
        self.store
            .put_segment(&SegmentRecord {
                key: VIP_SEGMENT.into(),
                name: "VIP".into(),
                description: Some(
                    "The top customers by predicted lifetime value, kept by the scores job".into(),
                ),
                expression: String::new(),
                system: true,
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.reload().await
    }

    /// Saves a segment (new, or a new definition of an existing one) and evaluates every
    /// customer for it and for the segments that refer to it.
    pub async fn save(
        &self,
        key: &str,
        name: &str,
        description: Option<String>,
        expression: &str,
        now: DateTime<Utc>,
    ) -> Result<(SegmentRecord, EvalStats), SegmentError> {
        if !is_segment_key(key) {
            return Err(SegmentError::Key(key.to_owned()));
        }
        let definitions = self.definitions();
        if definitions.records.get(key).is_some_and(|r| r.system) {
            return Err(SegmentError::System(key.to_owned()));
        }
        let expr = self.check(expression, Some(key))?;
        // A circle through the new definition.
        let mut exprs: BTreeMap<String, Expr> = definitions
            .order
            .iter()
            .map(|c| (c.key.clone(), c.expr.clone()))
            .collect();
        exprs.insert(key.to_owned(), expr.clone());
        if let Some(cycle) = embudo_segments::find_cycle(&exprs) {
            return Err(SegmentError::Cycle(cycle));
        }
        let record = SegmentRecord {
            key: key.to_owned(),
            name: name.to_owned(),
            description,
            expression: expr.to_string(),
            system: false,
            created_at: definitions.records.get(key).map_or(now, |r| r.created_at),
            updated_at: now,
        };
        self.store.put_segment(&record).await?;
        self.reload().await?;
        let mut affected = embudo_segments::dependents(&exprs, key);
        affected.insert(key.to_owned());
        let stats = self.recompute(now, Some(&affected)).await?;
        let record = self.store.segment(key).await?.unwrap_or(record);
        Ok((record, stats))
    }

    /// Deletes a segment (its members leave it, recorded); refused for system segments and
    /// segments other segments refer to.
    pub async fn delete(&self, key: &str, now: DateTime<Utc>) -> Result<bool, SegmentError> {
        let definitions = self.definitions();
        match definitions.records.get(key) {
            None => return Ok(false),
            Some(r) if r.system => return Err(SegmentError::System(key.to_owned())),
            Some(_) => {}
        }
        let used_by: Vec<String> = definitions
            .order
            .iter()
            .filter(|c| c.key != key && c.deps.segments.contains(key))
            .map(|c| c.key.clone())
            .collect();
        if !used_by.is_empty() {
            return Err(SegmentError::InUse {
                key: key.to_owned(),
                used_by,
            });
        }
        let deleted = self.store.delete_segment(key, now).await?;
        self.reload().await?;
        Ok(deleted)
    }

    /// Evaluates `expression` on every customer without saving anything: how many match, and
    /// up to `sample` of them.
    pub async fn preview(
        &self,
        expression: &str,
        sample: usize,
        now: DateTime<Utc>,
    ) -> Result<Preview, SegmentError> {
        let expr = self.check(expression, None)?;
        let deps = Dependencies::of(&expr);
        let events = deps.any_event || !deps.event_names.is_empty();
        let mut preview = Preview {
            size: 0,
            customers: 0,
            sample: Vec::new(),
        };
        let memberships = self.all_memberships().await?;
        let mut after: Option<String> = None;
        loop {
            let ids = self.page(after.as_deref()).await?;
            let Some(last) = ids.last() else { break };
            after = Some(last.as_str().to_owned());
            let profiles = self.profiles(&ids, events, Some(&memberships)).await?;
            self.preview_page(&expr, &profiles, now, sample, &mut preview);
        }
        Ok(preview)
    }

    fn preview_page(
        &self,
        expr: &Expr,
        profiles: &[Profile],
        now: DateTime<Utc>,
        sample: usize,
        preview: &mut Preview,
    ) {
        let ctx = EvalContext::new(now, self.default_currency);
        for p in profiles {
            preview.customers += 1;
            if evaluate(expr, p, &ctx) {
                preview.size += 1;
                if preview.sample.len() < sample {
                    preview.sample.push(p.id.as_str().to_owned());
                }
            }
        }
    }

    async fn page(&self, after: Option<&str>) -> Result<Vec<CustomerId>, StoreError> {
        self.store
            .customer_ids(&PageRequest {
                after: after.map(str::to_owned),
                limit: Some(PAGE),
            })
            .await
    }

    /// The profiles of `ids`, with scores and memberships (read from the store when
    /// `memberships` is not given).
    async fn profiles(
        &self,
        ids: &[CustomerId],
        events: bool,
        memberships: Option<&Memberships>,
    ) -> Result<Vec<Profile>, StoreError> {
        let since = (!events).then_some(DateTime::<Utc>::MAX_UTC);
        let data = self.store.profile_data(ids, since).await?;
        let read;
        let memberships = match memberships {
            Some(m) => m,
            None => {
                read = self.memberships_of(ids).await?;
                &read
            }
        };
        let scores = Arc::clone(&self.scores.read().unwrap_or_else(PoisonError::into_inner));
        Ok(data
            .into_iter()
            .map(|d| {
                let segments = memberships.get(&d.customer.id).cloned().unwrap_or_default();
                let scores = scores.get(&d.customer.id).cloned();
                profile(d, scores, segments)
            })
            .collect())
    }

    /// The current memberships of `ids`, one read each.
    async fn memberships_of(&self, ids: &[CustomerId]) -> Result<Memberships, StoreError> {
        let mut out = Memberships::new();
        for id in ids {
            let segments = self.store.customer_segments(id).await?;
            out.insert(
                id.clone(),
                segments.into_iter().map(|s| s.segment).collect(),
            );
        }
        Ok(out)
    }

    /// Everybody's memberships.
    async fn all_memberships(&self) -> Result<Memberships, StoreError> {
        let mut out = Memberships::new();
        for key in self.definitions().records.keys() {
            for id in self.store.member_ids(key).await? {
                out.entry(id).or_default().insert(key.clone());
            }
        }
        Ok(out)
    }

    /// Evaluates the segments (those in `only`, else all) for `ids` and records what changed.
    /// Returns the statistics and, per customer, the next time the passing of time alone could
    /// change a membership.
    pub async fn evaluate(
        &self,
        ids: &[CustomerId],
        now: DateTime<Utc>,
        only: Option<&BTreeSet<String>>,
    ) -> Result<(EvalStats, Rechecks), StoreError> {
        self.evaluate_with(ids, now, only, None).await
    }

    async fn evaluate_with(
        &self,
        ids: &[CustomerId],
        now: DateTime<Utc>,
        only: Option<&BTreeSet<String>>,
        memberships: Option<&Memberships>,
    ) -> Result<(EvalStats, Rechecks), StoreError> {
        let definitions = self.definitions();
        if ids.is_empty() || definitions.selected(only).next().is_none() {
            return Ok((EvalStats::default(), Vec::new()));
        }
        let profiles = self
            .profiles(ids, definitions.needs_events(only), memberships)
            .await?;
        let (stats, changes, next) = self.decide(&definitions, profiles, now, only);
        self.store.change_memberships(&changes).await?;
        Ok((stats, next))
    }

    /// The membership changes of `profiles`, and when time alone could change them next.
    fn decide(
        &self,
        definitions: &Definitions,
        profiles: Vec<Profile>,
        now: DateTime<Utc>,
        only: Option<&BTreeSet<String>>,
    ) -> (EvalStats, Vec<MembershipChange>, Rechecks) {
        let ctx = EvalContext::new(now, self.default_currency);
        let mut changes = Vec::new();
        let mut next = Vec::new();
        let mut stats = EvalStats {
            customers: profiles.len() as u64,
            ..EvalStats::default()
        };
        for mut p in profiles {
            let mut soonest: Option<DateTime<Utc>> = None;
            for c in definitions.selected(only) {
                let member = evaluate(&c.expr, &p, &ctx);
                let was = p.segments.contains(&c.key);
                if member != was {
                    changes.push(MembershipChange {
                        segment: c.key.clone(),
                        customer_id: p.id.clone(),
                        entered: member,
                        at: now,
                    });
                    if member {
                        stats.entered += 1;
                        p.segments.insert(c.key.clone());
                    } else {
                        stats.left += 1;
                        p.segments.remove(&c.key);
                    }
                }
                if c.deps.time {
                    if let Some(t) = next_change(&c.expr, &p, now) {
                        soonest = Some(soonest.map_or(t, |s| s.min(t)));
                    }
                }
            }
            if let Some(t) = soonest {
                next.push((t, p.id.clone()));
            }
        }
        (stats, changes, next)
    }

    /// Evaluates every customer (for the segments in `only`, else all).
    pub async fn recompute(
        &self,
        now: DateTime<Utc>,
        only: Option<&BTreeSet<String>>,
    ) -> Result<EvalStats, StoreError> {
        let mut total = EvalStats::default();
        if self.definitions().selected(only).next().is_none() {
            return Ok(total);
        }
        let memberships = self.all_memberships().await?;
        let mut after: Option<String> = None;
        loop {
            let ids = self.page(after.as_deref()).await?;
            let Some(last) = ids.last() else { break };
            after = Some(last.as_str().to_owned());
            let (stats, _) = self
                .evaluate_with(&ids, now, only, Some(&memberships))
                .await?;
            total.add(&stats);
        }
        Ok(total)
    }

    /// Evaluates every customer for the segments that read scores (and those that depend on
    /// them), after the scores changed.
    pub async fn recompute_scored(&self, now: DateTime<Utc>) -> Result<EvalStats, StoreError> {
        let keys = self.keys_where(|d| d.predictions || d.rfm || d.segments.contains(VIP_SEGMENT));
        if keys.is_empty() {
            return Ok(EvalStats::default());
        }
        self.recompute(now, Some(&keys)).await
    }

    /// Evaluates every customer for the segments whose value can change with time alone.
    pub async fn recompute_timed(&self, now: DateTime<Utc>) -> Result<EvalStats, StoreError> {
        let keys = self.keys_where(|d| d.time);
        if keys.is_empty() {
            return Ok(EvalStats::default());
        }
        self.recompute(now, Some(&keys)).await
    }

    /// The keys of the segments whose dependencies pass `f`, and of those that depend on them.
    fn keys_where(&self, f: impl Fn(&Dependencies) -> bool) -> BTreeSet<String> {
        let definitions = self.definitions();
        let exprs: BTreeMap<String, Expr> = definitions
            .order
            .iter()
            .map(|c| (c.key.clone(), c.expr.clone()))
            .collect();
        let mut keys = BTreeSet::new();
        for c in definitions.order.iter().filter(|c| f(&c.deps)) {
            keys.insert(c.key.clone());
            keys.extend(embudo_segments::dependents(&exprs, &c.key));
        }
        keys
    }

    /// Whether any segment is evaluated here (system segments are kept by their jobs).
    pub fn has_segments(&self) -> bool {
        !self.definitions().order.is_empty()
    }

    /// The currency of money in conditions that name none.
    pub fn default_currency(&self) -> Currency {
        self.default_currency
    }
}
