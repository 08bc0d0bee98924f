//! `GET /v1/recommendations` (write or secret key) and `POST /v1/recommendations/train`
//! (secret key): product recommendations (docs/recommendations.md).
//!
//! The served model lives in memory behind a lock that is held only to clone an `Arc`: a new
//! model (trained here on schedule, on demand, or by another node and read from the store) is
//! swapped in without interrupting requests. Each answer gets a recommendation id; the list
//! served is written to the store in batches in the background, for attribution.

use crate::auth::{AnyKey, SecretAccess};
use crate::problem::ApiError;
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use embudo_core::{AnonymousId, CustomerId, ProductId};
use embudo_recs::serve::{Context, Placement, RecsConfig, RecsModel, Request, Rules};
use embudo_recs::service::{self, Who, MODEL_KEY};
use embudo_store::recs::ServedRecommendation;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Settings of the recommendation service.
#[derive(Debug, Clone)]
pub struct RecsSettings {
    /// Retrain this often (and at start when no model is stored).
    pub train_every: Duration,
    /// Look for a newer model in the store (trained by another node) this often.
    pub poll_every: Duration,
}

impl Default for RecsSettings {
    fn default() -> Self {
        RecsSettings {
            train_every: Duration::from_secs(6 * 3600),
            poll_every: Duration::from_secs(30),
        }
    }
}

/// A served model and the store's `stored_at` of it, when known.
type Served = (Arc<RecsModel>, Option<DateTime<Utc>>);

/// The served model and the queue of served lists.
pub struct RecsState {
    model: RwLock<Option<Served>>,
    served: tokio::sync::mpsc::Sender<ServedRecommendation>,
    training: tokio::sync::Mutex<()>,
}

impl RecsState {
    /// A state with no model yet; the receiver must be drained by [`record_served`].
    pub fn new() -> (Self, tokio::sync::mpsc::Receiver<ServedRecommendation>) {
        let (tx, rx) = tokio::sync::mpsc::channel(100_000);
        (
            RecsState {
                model: RwLock::new(None),
                served: tx,
                training: tokio::sync::Mutex::new(()),
            },
            rx,
        )
    }

    /// The model now.
    pub fn model(&self) -> Option<Arc<RecsModel>> {
        self.model
            .read()
            .expect("recs model lock")
            .as_ref()
            .map(|m| Arc::clone(&m.0))
    }

    /// The store's `stored_at` of the model served, when it came from (or went to) the store.
    pub fn stored_at(&self) -> Option<DateTime<Utc>> {
        self.model.read().expect("recs model lock").as_ref()?.1
    }

    /// Swaps a new model in, unless the one served was stored later than `stored_at` (a model
    /// read from the store while a newer one was trained here does not replace it).
    pub fn set(&self, model: Arc<RecsModel>, stored_at: Option<DateTime<Utc>>) -> bool {
        let mut served = self.model.write().expect("recs model lock");
        if let (Some((_, Some(current))), Some(new)) = (served.as_ref(), stored_at) {
            if new < *current {
                return false;
            }
        }
        *served = Some((model, stored_at));
        true
    }
}

/// Writes served lists to the store in batches, until the sender side is gone.
pub async fn record_served(
    store: Arc<dyn embudo_store::Store>,
    mut rx: tokio::sync::mpsc::Receiver<ServedRecommendation>,
) {
    let mut batch = Vec::with_capacity(512);
    while rx.recv_many(&mut batch, 512).await > 0 {
        if let Err(error) = store.record_recommendations(&batch).await {
            tracing::warn!(%error, lost = batch.len(), "recording served recommendations failed");
        }
        batch.clear();
    }
}

struct LogProgress;

impl embudo_recs::hybrid::Progress for LogProgress {
    fn step(&self, name: &str) {
        tracing::debug!(step = name, "training recommendations");
    }
}

/// Decodes a stored model on the blocking pool (a large model takes seconds to decode).
async fn decode(bytes: Vec<u8>) -> Result<RecsModel, String> {
    tokio::task::spawn_blocking(move || service::decode(&bytes).map_err(|e| e.to_string()))
        .await
        .map_err(|e| e.to_string())?
}

/// Reads the stored model when it is newer than the one served and than the last one read
/// (`seen`, which remembers unusable models so that they are not read again), and serves it.
/// Returns the model's `trained_at` when one was loaded.
async fn load_newer(state: &AppState, seen: &mut Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let (_, stored_at, _) = match state.store.model_info(MODEL_KEY).await {
        Ok(info) => info?,
        Err(error) => {
            tracing::warn!(%error, "reading the stored recommendation model failed");
            return None;
        }
    };
    if state
        .recs
        .stored_at()
        .max(*seen)
        .is_some_and(|seen| stored_at <= seen)
    {
        return None;
    }
    let stored = match state.store.model(MODEL_KEY).await {
        Ok(stored) => stored?,
        Err(error) => {
            tracing::warn!(%error, "reading the stored recommendation model failed");
            return None;
        }
    };
    *seen = Some(stored.stored_at);
    match decode(stored.bytes).await {
        Ok(model) => {
            if state.recs.set(Arc::new(model), Some(stored.stored_at)) {
                tracing::info!("a recommendation model was loaded from the store");
                return Some(stored.trained_at);
            }
        }
        Err(error) => tracing::warn!(%error, "the stored recommendation model is unusable"),
    }
    None
}

/// Trains a model on the whole history, stores it and serves it. One training at a time per
/// node.
pub async fn train_now(state: &AppState) -> Result<Arc<RecsModel>, ApiError> {
    let _one = state.recs.training.lock().await;
    let started = std::time::Instant::now();
    let model = service::train(
        state.store.as_ref(),
        None,
        RecsConfig::default(),
        Arc::new(LogProgress),
    )
    .await?;
    let model = Arc::new(model);
    let encoding = Arc::clone(&model);
    let bytes = tokio::task::spawn_blocking(move || service::encode(&encoding))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let trained_at = DateTime::from_timestamp(model.trained_at, 0).unwrap_or_else(Utc::now);
    state.store.put_model(MODEL_KEY, trained_at, &bytes).await?;
    // The store sets `stored_at`; remembering it keeps the poll from reading this model back.
    let stored_at = match state.store.model_info(MODEL_KEY).await {
        Ok(info) => info.map(|(_, stored_at, _)| stored_at),
        Err(error) => {
            tracing::warn!(%error, "reading the stored recommendation model's time failed");
            None
        }
    };
    tracing::info!(
        items = model.catalog.len(),
        people = model.people.len(),
        megabytes = bytes.len() / (1 << 20),
        seconds = started.elapsed().as_secs_f64(),
        "recommendation model trained"
    );
    state.recs.set(Arc::clone(&model), stored_at);
    Ok(model)
}

/// How soon training is tried again after it failed while no model is served.
const RETRY_TRAINING: Duration = Duration::from_secs(60);

/// When a model trained at `trained_at` is due for retraining.
fn due(trained_at: DateTime<Utc>, every: Duration) -> tokio::time::Instant {
    let age = (Utc::now() - trained_at).to_std().unwrap_or_default();
    tokio::time::Instant::now() + every.saturating_sub(age)
}

/// Loads the stored model (or trains one), then retrains on schedule and picks up models
/// stored by other nodes (a model stored by another node postpones training here: it is as
/// fresh as one trained here would be).
pub async fn run(
    state: Arc<AppState>,
    settings: RecsSettings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut seen = None;
    let mut next_train = match load_newer(&state, &mut seen).await {
        Some(trained_at) => due(trained_at, settings.train_every),
        None => tokio::time::Instant::now(),
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep_until(next_train) => {
                // Training a large shop takes minutes: shutting down does not wait for it.
                let trained = tokio::select! {
                    _ = stop.changed() => return,
                    trained = train_now(&state) => trained,
                };
                let wait = match trained {
                    Ok(_) => settings.train_every,
                    Err(error) => {
                        tracing::warn!(error = %error, "training recommendations failed");
                        if state.recs.model().is_none() {
                            settings.train_every.min(RETRY_TRAINING)
                        } else {
                            settings.train_every
                        }
                    }
                };
                next_train = tokio::time::Instant::now() + wait;
            }
            _ = tokio::time::sleep(settings.poll_every) => {
                if let Some(trained_at) = load_newer(&state, &mut seen).await {
                    next_train = next_train.max(due(trained_at, settings.train_every));
                }
            }
        }
    }
}

/// Query parameters of `GET /v1/recommendations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecsQuery {
    /// personal, related, fbt, cart, upsell, trending or seasonal.
    pub placement: String,
    /// The customer (personal).
    pub customer: Option<String>,
    /// The visitor (personal), when no customer id is known.
    pub anonymous_id: Option<String>,
    /// The product of the page (related, fbt, upsell).
    pub product: Option<String>,
    /// The cart's product ids, comma-separated (cart).
    pub cart: Option<String>,
    /// How many items (1–1000, default 10).
    pub n: Option<usize>,
    /// Device type.
    pub device: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Weather, as the caller describes it.
    pub weather: Option<String>,
    /// The date to recommend for, `YYYY-MM-DD` (season; default today).
    pub date: Option<String>,
    /// Only this category (any level of the path).
    pub category: Option<String>,
    /// Lowest price, minor units.
    pub min_price: Option<i64>,
    /// Highest price, minor units.
    pub max_price: Option<i64>,
    /// Leave out products the person bought (default: yes for fbt, cart, upsell; no otherwise).
    pub exclude_purchased: Option<bool>,
}

/// One recommended product.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecommendedItem {
    /// The product id.
    pub product_id: String,
    /// Its title.
    pub title: String,
    /// Its price, minor units, when known.
    pub price: Option<i64>,
    /// The score (only comparable within one answer).
    pub score: f32,
    /// The source that placed it.
    pub source: String,
    /// Why, in words a shopper could read.
    pub reason: String,
}

/// An answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Recommendations {
    /// Quote it in later events (`properties.recommendation_id`) to attribute clicks and orders.
    pub recommendation_id: String,
    /// The placement.
    pub placement: String,
    /// When the model was trained.
    pub model_trained_at: DateTime<Utc>,
    /// The products, best first.
    pub items: Vec<RecommendedItem>,
}

fn new_id() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::rng().random();
    format!("rec_{}", hex::encode(bytes))
}

/// Recommendations for a placement. Parameters and definitions: docs/recommendations.md.
#[utoipa::path(
    get,
    path = "/v1/recommendations",
    tag = "recommendations",
    params(RecsQuery),
    responses(
        (status = 200, description = "The recommendations", body = Recommendations),
        (status = 400, description = "A parameter cannot be used", body = crate::problem::Problem),
        (status = 404, description = "No such product", body = crate::problem::Problem),
        (status = 503, description = "No model trained yet", body = crate::problem::Problem)
    ),
    security(("bearer" = []), ("basic" = []))
)]
pub async fn recommend(
    _: AnyKey,
    State(state): State<Arc<AppState>>,
    query: Result<Query<RecsQuery>, QueryRejection>,
) -> Result<Json<Recommendations>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "the query string cannot be read: {}",
            e.body_text()
        ))
    })?;
    let placement = Placement::parse(&q.placement).ok_or_else(|| {
        ApiError::bad_parameter(
            "placement",
            format!(
                "`{}` is not one of personal, related, fbt, cart, upsell, trending, seasonal",
                q.placement
            ),
        )
    })?;
    let n = q.n.unwrap_or(10);
    if !(1..=1000).contains(&n) {
        return Err(ApiError::bad_parameter("n", "must be 1 to 1000"));
    }
    if let (Some(lo), Some(hi)) = (q.min_price, q.max_price) {
        if lo > hi {
            return Err(ApiError::bad_parameter("min_price", "is above max_price"));
        }
    }
    // The date moves the season (and what counts as new); the person's history is read as of
    // now whatever the date, so that their latest events count (a shop west of UTC asks with
    // a date that is yesterday in UTC).
    let now = Utc::now();
    let day = match &q.date {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| ApiError::bad_parameter("date", "not a date like 2026-12-01"))?
            .and_hms_opt(12, 0, 0)
            .expect("noon exists")
            .and_utc(),
        None => now,
    };
    let who = match (&q.customer, &q.anonymous_id) {
        (Some(c), _) => Who::Customer(
            CustomerId::parse(c).map_err(|e| ApiError::bad_parameter("customer", e.to_string()))?,
        ),
        (None, Some(a)) => Who::Visitor(
            AnonymousId::parse(a)
                .map_err(|e| ApiError::bad_parameter("anonymous_id", e.to_string()))?,
        ),
        (None, None) => Who::Nobody,
    };
    let model = state.recs.model().ok_or_else(|| {
        ApiError::Unavailable(if state.config.recs.is_some() {
            "no recommendation model is trained yet; one is being trained".into()
        } else {
            "no recommendation model is trained yet; train one with POST \
             /v1/recommendations/train or `embudo recs train`"
                .into()
        })
    })?;
    let (mut product, mut new_product) = (None, None);
    if let Some(p) = &q.product {
        match model.catalog.get(p) {
            Some(i) => product = Some(i),
            None => {
                let id = ProductId::parse(p)
                    .map_err(|e| ApiError::bad_parameter("product", e.to_string()))?;
                let stored = state
                    .store
                    .product(&id)
                    .await?
                    .ok_or_else(|| ApiError::NotFound(format!("no product `{p}`")))?;
                new_product = Some(embudo_recs::load::catalog_item(&stored));
            }
        }
    }
    if matches!(
        placement,
        Placement::Related | Placement::Fbt | Placement::Upsell
    ) && product.is_none()
        && new_product.is_none()
    {
        return Err(ApiError::bad_parameter(
            "product",
            format!("the {} placement needs a product", placement.as_str()),
        ));
    }
    let cart_ids: Vec<&str> = q
        .cart
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if placement == Placement::Cart && cart_ids.is_empty() {
        return Err(ApiError::bad_parameter(
            "cart",
            "the cart placement needs the cart's product ids, comma-separated",
        ));
    }
    // Products the model does not know (not in the catalog when it was trained) have no
    // behaviour to go on: they are left out.
    let cart: Vec<u32> = cart_ids
        .iter()
        .filter_map(|p| model.catalog.get(p))
        .collect();
    let (profile, person) = service::profile_for(state.store.as_ref(), &model, &who, now).await?;
    let context = Context {
        device: q.device.clone(),
        country: q.country.clone(),
        city: q.city.clone(),
        weather: q.weather.clone(),
    };
    let request = Request {
        placement,
        n,
        profile,
        product,
        new_product,
        cart,
        now: day.timestamp(),
        context: context.clone(),
        rules: Rules {
            category: q.category.clone(),
            min_price: q.min_price,
            max_price: q.max_price,
            exclude_purchased: q.exclude_purchased,
        },
    };
    let work = Arc::clone(&model);
    let list = if n > 100 {
        tokio::task::spawn_blocking(move || work.recommend(&request))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    } else {
        model.recommend(&request)
    };
    let items: Vec<RecommendedItem> = list
        .into_iter()
        .map(|r| {
            let item = model.catalog.item(r.item);
            RecommendedItem {
                product_id: item.id.clone(),
                title: item.title.clone(),
                price: item.price,
                score: r.score,
                source: r.source,
                reason: r.reason,
            }
        })
        .collect();
    let id = new_id();
    let served = ServedRecommendation {
        id: id.clone(),
        served_at: Utc::now(),
        placement: placement.as_str().into(),
        person,
        items: items.iter().map(|i| i.product_id.clone()).collect(),
        context: serde_json::json!({ "product": q.product, "cart": q.cart, "context": context, "model_trained_at": model.trained_at }),
    };
    if state.recs.served.try_send(served).is_err() {
        tracing::warn!("the queue of served recommendations is full; one list is not recorded");
    }
    Ok(Json(Recommendations {
        recommendation_id: id,
        placement: placement.as_str().into(),
        model_trained_at: DateTime::from_timestamp(model.trained_at, 0).unwrap_or_default(),
        items,
    }))
}

/// What training did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Trained {
    /// When.
    pub trained_at: DateTime<Utc>,
    /// Products in the model.
    pub products: usize,
    /// People in the model.
    pub people: usize,
}

/// Trains a new model on the whole history now, stores it and serves it.
#[utoipa::path(
    post,
    path = "/v1/recommendations/train",
    tag = "recommendations",
    responses((status = 200, description = "Trained", body = Trained)),
    security(("bearer" = []))
)]
pub async fn train(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
) -> Result<(StatusCode, Json<Trained>), ApiError> {
    let model = train_now(&state).await?;
    Ok((
        StatusCode::OK,
        Json(Trained {
            trained_at: DateTime::from_timestamp(model.trained_at, 0).unwrap_or_default(),
            products: model.catalog.len(),
            people: model.people.len(),
        }),
    ))
}
