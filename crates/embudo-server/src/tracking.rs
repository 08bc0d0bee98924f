//! The Segment-compatible tracking endpoints: `/v1/track`, `/v1/identify`, `/v1/page`,
//! `/v1/screen`, `/v1/alias`, `/v1/group` and `/v1/batch` (also `/v1/import`).
//!
//! The key comes as HTTP Basic (key as user name), as a Bearer token, or as the body's
//! `writeKey` (what Segment's server-side libraries send).
//!
//! Answers:
//! - 200 `{"success": true, …}` when every message was stored (or was a repeat, which is
//!   ignored so that client retries are safe);
//! - for a batch with some invalid messages: the valid ones are stored and the answer is 200
//!   with `rejected: [{index, field, reason}]` (retrying would not help the invalid ones);
//! - 422 when a single message, or every message of a batch, is invalid; 400 when the body is
//!   not JSON; 413 above the size limits (a single message over the message limit, or a body
//!   over the batch limit; in a batch, a message over the message limit is rejected by index);
//! - 429 with `Retry-After` when ingestion is at capacity, 503 when the database is down.

use crate::auth::TrackingKey;
use crate::body::JsonBytes;
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use chrono::Utc;
use embudo_core::MessageKind;
use embudo_ingest::{envelope, parse_batch_body, parse_message, MessageError};
use embudo_store::Applied;
use serde::Serialize;
use std::sync::Arc;

/// The answer to a tracking call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrackResponse {
    /// True when the request was processed (Segment's libraries read this).
    pub success: bool,
    /// Messages stored now.
    pub accepted: usize,
    /// Messages whose `messageId` was already stored (ignored).
    pub duplicates: usize,
    /// Messages refused, by index.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<FieldError>,
}

async fn single(
    state: &AppState,
    kind: MessageKind,
    body: &[u8],
) -> Result<Json<TrackResponse>, ApiError> {
    let message =
        parse_message(body, kind, Utc::now(), &state.config.limits).map_err(single_error)?;
    let envelope = envelope(message, &state.config.effects).map_err(single_error)?;
    let applied = state.committer.submit(vec![envelope]).await?;
    Ok(Json(summary(&applied, Vec::new())))
}

fn single_error(err: MessageError) -> ApiError {
    if err.too_large {
        ApiError::TooLarge(err.reason)
    } else if err.field.is_empty() && err.reason.contains("not valid JSON") {
        ApiError::BadRequest(err.reason)
    } else {
        ApiError::Invalid {
            detail: err.to_string(),
            errors: vec![err.into()],
        }
    }
}

fn summary(applied: &[Applied], rejected: Vec<FieldError>) -> TrackResponse {
    let duplicates = applied.iter().filter(|a| **a == Applied::Duplicate).count();
    TrackResponse {
        success: true,
        accepted: applied.len() - duplicates,
        duplicates,
        rejected,
    }
}

macro_rules! single_endpoint {
    ($name:ident, $kind:expr, $path:literal, $what:literal) => {
        #[doc = concat!("`POST ", $path, "`: ", $what)]
        #[utoipa::path(post, path = $path, tag = "tracking", request_body(content = Object, description = $what),
            responses((status = 200, body = TrackResponse), (status = 400, body = crate::problem::Problem), (status = 401, body = crate::problem::Problem),
                      (status = 413, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem), (status = 429, body = crate::problem::Problem)),
            security(("basic" = []), ("bearer" = [])))]
        pub async fn $name(key: TrackingKey, State(state): State<Arc<AppState>>, JsonBytes(body): JsonBytes) -> Result<Json<TrackResponse>, ApiError> {
            key.check(&state, &body).await?;
            single(&state, $kind, &body).await
        }
    };
}

single_endpoint!(
    track,
    MessageKind::Track,
    "/v1/track",
    "A Segment track call."
);
single_endpoint!(
    identify,
    MessageKind::Identify,
    "/v1/identify",
    "A Segment identify call."
);
single_endpoint!(page, MessageKind::Page, "/v1/page", "A Segment page call.");
single_endpoint!(
    screen,
    MessageKind::Screen,
    "/v1/screen",
    "A Segment screen call."
);
single_endpoint!(
    alias,
    MessageKind::Alias,
    "/v1/alias",
    "A Segment alias call."
);
single_endpoint!(
    group,
    MessageKind::Group,
    "/v1/group",
    "A Segment group call."
);

/// `POST /v1/batch`: many calls at once, each with its `type`.
#[utoipa::path(post, path = "/v1/batch", tag = "tracking", request_body(content = Object, description = "`{\"batch\": [message, …]}`"),
    responses((status = 200, body = TrackResponse), (status = 400, body = crate::problem::Problem), (status = 401, body = crate::problem::Problem),
              (status = 413, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem), (status = 429, body = crate::problem::Problem)),
    security(("basic" = []), ("bearer" = [])))]
pub async fn batch(
    key: TrackingKey,
    State(state): State<Arc<AppState>>,
    JsonBytes(body): JsonBytes,
) -> Result<Json<TrackResponse>, ApiError> {
    key.check(&state, &body).await?;
    let parsed = parse_batch_body(&body, Utc::now(), &state.config.limits).map_err(|e| {
        if e.reason.contains("not a JSON batch object") {
            ApiError::BadRequest(e.reason)
        } else {
            ApiError::Invalid {
                detail: e.to_string(),
                errors: vec![e.into()],
            }
        }
    })?;
    let mut rejected: Vec<FieldError> = parsed.rejected.into_iter().map(FieldError::from).collect();
    let mut envelopes = Vec::with_capacity(parsed.messages.len());
    for (index, message) in parsed.messages {
        match envelope(message, &state.config.effects) {
            Ok(e) => envelopes.push(e),
            Err(mut err) => {
                err.index = Some(index);
                rejected.push(err.into());
            }
        }
    }
    rejected.sort_by_key(|e| e.index);
    if envelopes.is_empty() && !rejected.is_empty() {
        let detail = format!("none of the {} messages is valid", rejected.len());
        return Err(ApiError::Invalid {
            detail,
            errors: rejected,
        });
    }
    let applied = state.committer.submit(envelopes).await?;
    state
        .metrics
        .rejected_messages
        .inc_by(rejected.len() as u64);
    Ok(Json(summary(&applied, rejected)))
}
