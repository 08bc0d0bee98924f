//! `/v1/segments`: segment definitions, previews and members (secret key).

use crate::auth::SecretAccess;
use crate::body::Json as JsonBody;
use crate::problem::{ApiError, FieldError};
use crate::shop::page_rejection;
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use embudo_intel::{EvalStats, SegmentEngine, SegmentError};
use embudo_store::intel::SegmentRecord;
use embudo_store::PageRequest;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

impl From<SegmentError> for ApiError {
    fn from(err: SegmentError) -> Self {
        match err {
            SegmentError::Expression(e) => {
                let reason = format!("{}:{}: {}", e.line, e.column, e.message);
                ApiError::Invalid {
                    detail: format!("expression: {reason}"),
                    errors: vec![FieldError {
                        index: None,
                        field: "expression".into(),
                        reason,
                    }],
                }
            }
            SegmentError::UnknownSegment(_) | SegmentError::Cycle(_) => {
                ApiError::invalid("expression", err.to_string())
            }
            SegmentError::Key(_) => ApiError::invalid("key", err.to_string()),
            SegmentError::InUse { .. } | SegmentError::System(_) => {
                ApiError::Conflict(err.to_string())
            }
            SegmentError::NotFound(m) => ApiError::NotFound(format!("no segment `{m}`")),
            SegmentError::Store(e) => e.into(),
        }
    }
}

/// A segment as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SegmentView {
    /// The key.
    pub key: String,
    /// The name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The condition, in canonical form (empty for system segments).
    pub expression: String,
    /// Kept by Embudo (the VIP group): read-only.
    pub system: bool,
    /// Members now.
    pub size: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A saved segment and what saving it did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SavedSegment {
    /// The segment.
    pub segment: SegmentView,
    /// Customers evaluated, entries and exits.
    #[schema(value_type = Object)]
    pub evaluation: EvalStats,
}

/// A new segment, or a new definition of one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// The key (creation only; 1–64 of a-z, 0-9, `_`, `-`).
    pub key: Option<String>,
    /// The name (default: the key).
    pub name: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The condition (`docs/segments.md`).
    pub expression: String,
}

/// A condition to preview.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The condition.
    pub expression: String,
    /// How many matching customers to list (default 20, at most 100).
    pub sample: Option<usize>,
}

async fn engine(state: &AppState) -> Result<Arc<SegmentEngine>, ApiError> {
    Ok(Arc::clone(state.segment_engine().await?))
}

async fn view(state: &AppState, record: SegmentRecord) -> Result<SegmentView, ApiError> {
    let size = state.store.segment_size(&record.key).await?;
    Ok(SegmentView {
        key: record.key,
        name: record.name,
        description: record.description,
        expression: record.expression,
        system: record.system,
        size,
        created_at: record.created_at,
        updated_at: record.updated_at,
    })
}

/// Every segment, by key.
#[utoipa::path(get, path = "/v1/segments", tag = "segments", responses((status = 200, body = Vec<SegmentView>)), security(("bearer" = [])))]
pub async fn list(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<SegmentView>>, ApiError> {
    let mut out = Vec::new();
    for record in state.store.segments().await? {
        out.push(view(&state, record).await?);
    }
    Ok(Json(out))
}

/// Creates a segment and evaluates every customer for it.
#[utoipa::path(post, path = "/v1/segments", tag = "segments", request_body = SegmentInput,
    responses((status = 201, body = SavedSegment), (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    JsonBody(input): JsonBody<SegmentInput>,
) -> Result<(StatusCode, Json<SavedSegment>), ApiError> {
    let key = input
        .key
        .clone()
        .ok_or_else(|| ApiError::invalid("key", "is required"))?;
    if state.store.segment(&key).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "segment `{key}` exists; change it with PUT /v1/segments/{key}"
        )));
    }
    let saved = save(&state, &key, input).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Changes a segment's definition (or creates it) and evaluates every customer for it.
#[utoipa::path(put, path = "/v1/segments/{key}", tag = "segments", request_body = SegmentInput,
    responses((status = 200, body = SavedSegment), (status = 409, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)),
    security(("bearer" = [])))]
pub async fn replace(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    JsonBody(input): JsonBody<SegmentInput>,
) -> Result<Json<SavedSegment>, ApiError> {
    if input.key.as_deref().is_some_and(|k| k != key) {
        return Err(ApiError::invalid("key", "differs from the key in the path"));
    }
    Ok(Json(save(&state, &key, input).await?))
}

async fn save(state: &AppState, key: &str, input: SegmentInput) -> Result<SavedSegment, ApiError> {
    let engine = engine(state).await?;
    let name = input.name.unwrap_or_else(|| key.to_owned());
    let (record, evaluation) = engine
        .save(key, &name, input.description, &input.expression, Utc::now())
        .await?;
    Ok(SavedSegment {
        segment: view(state, record).await?,
        evaluation,
    })
}

/// One segment.
#[utoipa::path(get, path = "/v1/segments/{key}", tag = "segments", responses((status = 200, body = SegmentView), (status = 404, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn get(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<Json<SegmentView>, ApiError> {
    let record = state
        .store
        .segment(&key)
        .await?
        .ok_or(SegmentError::NotFound(key))?;
    Ok(Json(view(&state, record).await?))
}

/// Deletes a segment; its members leave it.
#[utoipa::path(delete, path = "/v1/segments/{key}", tag = "segments", responses((status = 204), (status = 404, body = crate::problem::Problem), (status = 409, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn delete(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let engine = engine(&state).await?;
    if engine.delete(&key, Utc::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(SegmentError::NotFound(key).into())
    }
}

/// A segment's members, by customer id, paged.
#[utoipa::path(get, path = "/v1/segments/{key}/members", tag = "segments", params(PageRequest), responses((status = 200, body = Vec<Object>), (status = 404, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn members(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
    page: Result<Query<PageRequest>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(page) = page.map_err(page_rejection)?;
    if state.store.segment(&key).await?.is_none() {
        return Err(SegmentError::NotFound(key).into());
    }
    let members = state.store.segment_members(&key, &page).await?;
    Ok(Json(serde_json::Value::Array(
        members
            .into_iter()
            .map(|m| serde_json::json!({"customer_id": m.customer_id, "entered_at": m.entered_at}))
            .collect(),
    )))
}

/// How many customers a condition matches now, with a sample, without saving it.
#[utoipa::path(post, path = "/v1/segments/preview", tag = "segments", request_body = PreviewInput, responses((status = 200, body = Object), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn preview(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    JsonBody(input): JsonBody<PreviewInput>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let sample = input.sample.unwrap_or(20);
    if sample > 100 {
        return Err(ApiError::invalid("sample", "at most 100"));
    }
    let engine = engine(&state).await?;
    let preview = engine
        .preview(&input.expression, sample, Utc::now())
        .await?;
    Ok(Json(serde_json::to_value(preview).unwrap_or_default()))
}

/// Settings of a scores run.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoresInput {
    /// The share of customers in the VIP group (default 0.10).
    pub vip_share: Option<f64>,
    /// The currency modelled (default: the one with the most orders).
    pub currency: Option<String>,
    /// Predicted lifetime value horizon in days (default 365).
    pub horizon_days: Option<f64>,
    /// Annual discount rate of predicted lifetime value (default 0).
    pub annual_discount_rate: Option<f64>,
}

/// Scores every customer now (RFM, BG/NBD + Gamma-Gamma predictions, VIP), stores the scores
/// and updates the VIP segment and the segments that read scores; answers the fitted models
/// and what was done. The server also does this once a day.
#[utoipa::path(post, path = "/v1/scores/refresh", tag = "segments", request_body = ScoresInput,
    responses((status = 200, body = Object), (status = 422, body = crate::problem::Problem)),
    security(("bearer" = [])))]
pub async fn refresh_scores(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    JsonBody(input): JsonBody<ScoresInput>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let defaults = embudo_intel::ScoresOptions::default();
    let currency = input
        .currency
        .as_deref()
        .map(embudo_core::Currency::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("currency", e.reason))?;
    let horizon_days = input.horizon_days.unwrap_or(defaults.horizon_days);
    if !(horizon_days > 0.0 && horizon_days <= 36_525.0) {
        return Err(ApiError::invalid(
            "horizon_days",
            "must be above 0 and at most 36525",
        ));
    }
    let annual_discount_rate = input
        .annual_discount_rate
        .unwrap_or(defaults.annual_discount_rate);
    if !(0.0..10.0).contains(&annual_discount_rate) {
        return Err(ApiError::invalid(
            "annual_discount_rate",
            "must be at least 0 and below 10",
        ));
    }
    let options = embudo_intel::ScoresOptions {
        currency,
        horizon_days,
        annual_discount_rate,
        vip_share: input.vip_share.unwrap_or(defaults.vip_share),
        ..defaults
    };
    let engine = engine(&state).await?;
    let report = embudo_intel::refresh_scores(
        state.store.as_ref(),
        Some(&engine),
        Utc::now(),
        state.config.effects.default_currency,
        &options,
    )
    .await
    .map_err(|e| match e {
        embudo_intel::scores::ScoresError::Options(m) => ApiError::invalid("vip_share", m),
        embudo_intel::scores::ScoresError::Store(s) => s.into(),
    })?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}
