//! `GET /v1/analytics/{report}`: the analytics reports (secret key).

use crate::auth::SecretAccess;
use crate::problem::ApiError;
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use embudo_analytics::report::{run, Context, ReportError, ReportKind, ReportQuery};
use std::sync::Arc;

impl From<ReportError> for ApiError {
    fn from(err: ReportError) -> Self {
        match err {
            ReportError::Param(p) => ApiError::bad_parameter(p.parameter, p.message),
            ReportError::Store(s) => s.into(),
        }
    }
}

/// The response header naming the engine that answered: `memory` or `store`.
pub const ENGINE_HEADER: &str = "x-embudo-analytics";

/// A report as JSON: funnel, funnel_people, traffic, revenue, growth, retention or
/// abandonment. Parameters and definitions: docs/analytics.md.
#[utoipa::path(
    get,
    path = "/v1/analytics/{report}",
    tag = "analytics",
    params(("report" = String, Path, description = "funnel, funnel_people, traffic, revenue, growth, retention, abandonment or rfm"), ReportQuery),
    responses(
        (status = 200, description = "The report", body = Object),
        (status = 400, description = "A parameter cannot be used", body = crate::problem::Problem),
        (status = 404, description = "No such report", body = crate::problem::Problem)
    ),
    security(("bearer" = []))
)]
pub async fn report(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(report): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<([(&'static str, &'static str); 1], Json<serde_json::Value>), ApiError> {
    let kind: ReportKind = report
        .parse()
        .map_err(|e: embudo_analytics::ParamError| ApiError::NotFound(e.message))?;
    let Query(pairs) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "the query string cannot be read: {}",
            e.body_text()
        ))
    })?;
    let query = ReportQuery::from_pairs(pairs).map_err(ReportError::from)?;
    let context = Context {
        now: chrono::Utc::now(),
        default_currency: state.config.effects.default_currency,
    };
    // The history in memory once it is loaded, the store until then: the same answer, the
    // header tells which engine gave it.
    let (report, engine) = match state.live.get() {
        Some(live) => (live.report(kind, &query, context).await?, "memory"),
        None => (
            run(state.store.as_ref(), kind, &query, context).await?,
            "store",
        ),
    };
    Ok(([(ENGINE_HEADER, engine)], Json(report)))
}
