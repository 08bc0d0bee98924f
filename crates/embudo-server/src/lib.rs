//! Embudo's HTTP API (axum), under `/v1`.
//!
//! - Tracking, compatible with Segment's HTTP tracking API ([`tracking`]): write or secret key.
//! - Shop data: products, customers, orders, refunds ([`shop`]): secret key.
//! - `GET /healthz` (the process is up), `GET /readyz` (the database answers), `GET /metrics`
//!   (Prometheus), `GET /v1/openapi.json`.
//!
//! Handlers are thin: they check the key, read the body, call the ingest pipeline or the store,
//! and map the result; every error becomes a problem document in [`problem`].
#![deny(missing_docs)]

pub mod analytics;
mod auth;
mod body;
mod metrics;
pub mod problem;
pub mod recs;
pub mod segments;
pub mod shop;
pub mod tracking;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::Router;
use embudo_ingest::{Committer, EffectsConfig, ParseLimits};
use embudo_store::Store;
use problem::ApiError;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::decompression::RequestDecompressionLayer;
use utoipa::OpenApi;

pub use metrics::Metrics;

/// Settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Tracking size limits.
    pub limits: ParseLimits,
    /// What tracking messages do (default currency).
    pub effects: EffectsConfig,
    /// The largest body of a shop-data request, in bytes.
    pub max_body_bytes: usize,
    /// Whether to keep the shop's history in memory for analytics (loaded in the background
    /// at start; reports read the store until it is ready).
    pub analytics_in_memory: bool,
    /// The background worker that keeps segments and scores up to date (`None`: no worker).
    pub intel_worker: Option<embudo_intel::worker::WorkerConfig>,
    /// The recommendation service's schedule (`None`: no background training or polling; a
    /// model is served once trained through the API).
    pub recs: Option<recs::RecsSettings>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            limits: ParseLimits::default(),
            effects: EffectsConfig::default(),
            max_body_bytes: 8 * 1024 * 1024,
            analytics_in_memory: true,
            intel_worker: Some(embudo_intel::worker::WorkerConfig::default()),
            recs: Some(recs::RecsSettings::default()),
        }
    }
}

/// What every handler shares.
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The group-commit writer for tracking data.
    pub committer: Committer,
    /// Settings.
    pub config: ServerConfig,
    /// Metrics.
    pub metrics: Metrics,
    /// The history in memory for analytics, once loaded.
    pub live: Arc<tokio::sync::OnceCell<Arc<embudo_analytics::live::Live>>>,
    /// The segment engine, loaded on first use.
    intel: tokio::sync::OnceCell<Arc<embudo_intel::SegmentEngine>>,
    /// The served recommendation model.
    pub recs: recs::RecsState,
    served: std::sync::Mutex<
        Option<tokio::sync::mpsc::Receiver<embudo_store::recs::ServedRecommendation>>,
    >,
    keys: auth::KeyCache,
}

impl AppState {
    /// State over a store and a running committer.
    pub fn new(store: Arc<dyn Store>, committer: Committer, config: ServerConfig) -> Self {
        let (recs, served) = recs::RecsState::new();
        Self {
            recs,
            served: std::sync::Mutex::new(Some(served)),
            store,
            committer,
            config,
            metrics: Metrics::default(),
            live: Arc::new(tokio::sync::OnceCell::new()),
            intel: tokio::sync::OnceCell::new(),
            keys: auth::KeyCache::default(),
        }
    }

    /// The segment engine (loaded on first use).
    pub async fn segment_engine(
        &self,
    ) -> Result<&Arc<embudo_intel::SegmentEngine>, embudo_store::StoreError> {
        self.intel
            .get_or_try_init(|| async {
                let engine = embudo_intel::SegmentEngine::load(
                    Arc::clone(&self.store),
                    self.config.effects.default_currency,
                )
                .await?;
                Ok(Arc::new(engine))
            })
            .await
    }

    /// Starts the segments and scores worker, when the settings ask for it; it stops when
    /// `stop` turns true.
    pub fn start_intel(self: &Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        let Some(config) = self.config.intel_worker.clone() else {
            return;
        };
        let state = Arc::clone(self);
        tokio::spawn(async move {
            let engine = match state.segment_engine().await {
                Ok(engine) => Arc::clone(engine),
                Err(error) => {
                    tracing::error!(%error, "the segment engine could not start");
                    return;
                }
            };
            match embudo_intel::worker::Worker::new(engine, Arc::clone(&state.store), config).await
            {
                Ok(worker) => worker.run(stop).await,
                Err(error) => tracing::error!(%error, "the segment worker could not start"),
            }
        });
    }

    /// Starts recording served recommendations and, when the settings ask for it, the
    /// recommendation service (load or train the model, retrain on schedule); it stops when
    /// `stop` turns true.
    pub fn start_recs(self: &Arc<Self>, stop: tokio::sync::watch::Receiver<bool>) {
        if let Some(rx) = self.served.lock().expect("served queue lock").take() {
            tokio::spawn(recs::record_served(Arc::clone(&self.store), rx));
        }
        if let Some(settings) = self.config.recs.clone() {
            tokio::spawn(recs::run(Arc::clone(self), settings, stop));
        }
    }

    /// Loads the history into memory in the background, when the settings ask for it.
    pub fn start_analytics(&self) {
        if !self.config.analytics_in_memory {
            return;
        }
        let store = Arc::clone(&self.store);
        let live = Arc::clone(&self.live);
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match embudo_analytics::live::Live::load(store).await {
                Ok(loaded) => {
                    let (events, bytes) = loaded.with(|h| (h.events(), h.memory_bytes()));
                    tracing::info!(
                        events,
                        megabytes = bytes / (1024 * 1024),
                        seconds = started.elapsed().as_secs_f64(),
                        "analytics history loaded into memory"
                    );
                    let _ = live.set(Arc::new(loaded));
                }
                Err(error) => {
                    tracing::error!(%error, "loading the analytics history failed; reports read the store")
                }
            }
        });
    }
}

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Embudo API", description = "Self-hosted marketing engine for online shops. Tracking endpoints are compatible with Segment's HTTP tracking API."),
    paths(
        analytics::report,
        tracking::track, tracking::identify, tracking::page, tracking::screen, tracking::alias, tracking::group, tracking::batch,
        shop::put_products, shop::put_product, shop::get_product, shop::list_products,
        shop::patch_customers, shop::patch_customer, shop::get_customer, shop::list_customers,
        shop::put_orders, shop::put_order, shop::get_order, shop::list_orders, shop::add_status, shop::order_refunds, shop::put_refunds,
        segments::list, segments::create, segments::replace, segments::get, segments::delete, segments::members, segments::preview, segments::refresh_scores,
        recs::recommend, recs::train,
    ),
    components(schemas(problem::Problem, problem::FieldError)),
    modifiers(&SecurityAddon),
    tags((name = "tracking", description = "Segment-compatible tracking (write or secret key)"),
         (name = "products"), (name = "customers"), (name = "orders"),
         (name = "analytics", description = "Reports (docs/analytics.md)"),
         (name = "segments", description = "Segments (docs/segments.md)"),
         (name = "recommendations", description = "Product recommendations (docs/recommendations.md)"))
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The whole API as a router.
pub fn router(state: Arc<AppState>) -> Router {
    let batch_limit = state.config.limits.max_batch_bytes;
    let message_limit = state.config.limits.max_message_bytes;
    // Tracking is called from shoppers' browsers with a write key: any origin may call it.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ]);
    let limit = || DefaultBodyLimit::max(message_limit);
    let tracking = Router::new()
        .route(
            "/v1/track",
            post(tracking::track).options(preflight).layer(limit()),
        )
        .route(
            "/v1/identify",
            post(tracking::identify).options(preflight).layer(limit()),
        )
        .route(
            "/v1/page",
            post(tracking::page).options(preflight).layer(limit()),
        )
        .route(
            "/v1/screen",
            post(tracking::screen).options(preflight).layer(limit()),
        )
        .route(
            "/v1/alias",
            post(tracking::alias).options(preflight).layer(limit()),
        )
        .route(
            "/v1/group",
            post(tracking::group).options(preflight).layer(limit()),
        )
        .route(
            "/v1/batch",
            post(tracking::batch)
                .options(preflight)
                .layer(DefaultBodyLimit::max(batch_limit)),
        )
        .route(
            "/v1/import",
            post(tracking::batch)
                .options(preflight)
                .layer(DefaultBodyLimit::max(batch_limit)),
        )
        .layer(cors);
    let shop = Router::new()
        .route(
            "/v1/products",
            post(shop::put_products).get(shop::list_products),
        )
        .route(
            "/v1/products/{id}",
            put(shop::put_product).get(shop::get_product),
        )
        .route(
            "/v1/customers",
            post(shop::patch_customers).get(shop::list_customers),
        )
        .route(
            "/v1/customers/{id}",
            patch(shop::patch_customer).get(shop::get_customer),
        )
        .route("/v1/orders", post(shop::put_orders).get(shop::list_orders))
        .route("/v1/orders/{id}", put(shop::put_order).get(shop::get_order))
        .route("/v1/orders/{id}/status", post(shop::add_status))
        .route("/v1/orders/{id}/refunds", get(shop::order_refunds))
        .route("/v1/refunds", post(shop::put_refunds))
        .route("/v1/analytics/{report}", get(analytics::report))
        .route("/v1/segments", get(segments::list).post(segments::create))
        .route("/v1/segments/preview", post(segments::preview))
        .route(
            "/v1/segments/{key}",
            get(segments::get)
                .put(segments::replace)
                .delete(segments::delete),
        )
        .route("/v1/segments/{key}/members", get(segments::members))
        .route("/v1/scores/refresh", post(segments::refresh_scores))
        .route("/v1/recommendations/train", post(recs::train))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes));
    // Recommendations are asked for from shoppers' browsers with a write key: any origin.
    let recommendations = Router::new()
        .route(
            "/v1/recommendations",
            get(recs::recommend).options(preflight),
        )
        .layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::any())
                .allow_methods([Method::GET, Method::OPTIONS])
                .allow_headers([header::AUTHORIZATION]),
        );
    Router::new()
        .merge(tracking)
        .merge(recommendations)
        .merge(shop)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/v1/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(RequestDecompressionLayer::new())
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("a handler panicked".into()).into_response()
        }))
        .with_state(state)
}

/// Counts and times every request, and turns bodiless error answers of layers (such as the
/// decompression layer's 415) into problem documents.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let mut response = next.run(request).await;
    if response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
        && response.headers().get(header::CONTENT_TYPE).is_none()
    {
        response = ApiError::UnsupportedMediaType(
            "the Content-Encoding is not supported; use gzip or none".into(),
        )
        .into_response();
    }
    let labels = metrics::RequestLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .latency
        .observe(started.elapsed().as_secs_f64());
    response
}

/// CORS preflights of the tracking and recommendation routes; the CORS layer answers them
/// before this runs, but the route must accept `OPTIONS` for the request to reach the layer.
async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ready")
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.committer.stats();
    let text = state.metrics.render(&[
        (
            "ingest_commits",
            "Ingestion transactions committed",
            stats.commits.load(Ordering::Relaxed),
        ),
        (
            "ingest_inserted",
            "Tracking messages stored",
            stats.inserted.load(Ordering::Relaxed),
        ),
        (
            "ingest_duplicates",
            "Tracking messages ignored as repeats",
            stats.duplicates.load(Ordering::Relaxed),
        ),
        (
            "ingest_failures",
            "Ingestion transactions failed",
            stats.failures.load(Ordering::Relaxed),
        ),
        (
            "ingest_commit_microseconds",
            "Time spent in ingestion transactions",
            stats.commit_micros.load(Ordering::Relaxed),
        ),
    ]);
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// Serves the API on `listener` until `shutdown` completes, then stops taking requests,
/// finishes the ones in flight and waits until every accepted tracking message is committed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    config: ServerConfig,
    committer: embudo_ingest::CommitterConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (committer, writers) = Committer::start(store.clone(), committer);
    let state = Arc::new(AppState::new(store, committer, config));
    state.start_analytics();
    let (stop_intel, intel_stopped) = tokio::sync::watch::channel(false);
    state.start_intel(intel_stopped.clone());
    state.start_recs(intel_stopped);
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_intel.send(true);
    served?;
    // The router (and with it the last committer handle) is gone: the writers drain and stop.
    for writer in writers {
        let _ = writer.await;
    }
    Ok(())
}
