//! Errors as `application/problem+json` (RFC 9457), mapped to HTTP statuses in one place.
//!
//! Every failure the API can meet is an [`ApiError`]; handlers never build responses for
//! errors themselves. A problem names the field at fault when there is one.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use embudo_ingest::{CommitError, MessageError};
use embudo_store::StoreError;
use serde::Serialize;

/// One thing wrong with the input.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The message's index in a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The field, as a dotted path; empty for the whole body.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

impl From<MessageError> for FieldError {
    fn from(e: MessageError) -> Self {
        Self {
            index: e.index,
            field: e.field,
            reason: e.reason,
        }
    }
}

/// A problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened here.
    pub detail: String,
    /// The fields at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The kind of problem as a short code (Segment's clients read `code` and `message`).
    pub code: String,
    /// The same as `detail`, for Segment's clients.
    pub message: String,
}

/// Everything that can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not what the endpoint reads (bad JSON, wrong shape).
    #[error("{0}")]
    BadRequest(String),
    /// No usable API key was given.
    #[error("{0}")]
    Unauthorized(String),
    /// The key may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource or route.
    #[error("{0}")]
    NotFound(String),
    /// The method is not allowed on this route.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request conflicts with stored data.
    #[error("{0}")]
    Conflict(String),
    /// The body is too large.
    #[error("{0}")]
    TooLarge(String),
    /// The content type or encoding is not supported.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is well formed but its values are invalid.
    #[error("{detail}")]
    Invalid {
        /// A summary.
        detail: String,
        /// The fields at fault.
        errors: Vec<FieldError>,
    },
    /// A query parameter cannot be used.
    #[error("{detail}")]
    BadParameter {
        /// A summary.
        detail: String,
        /// The parameter at fault.
        errors: Vec<FieldError>,
    },
    /// Too many requests waiting; retry later.
    #[error("{0}")]
    Overloaded(String),
    /// The database cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours; logged, and answered without details.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A validation error about one field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (field.into(), reason.into());
        Self::Invalid {
            detail: format!("{field}: {reason}"),
            errors: vec![FieldError {
                index: None,
                field,
                reason,
            }],
        }
    }

    /// A query parameter that cannot be used (400, naming it).
    pub fn bad_parameter(parameter: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (parameter.into(), reason.into());
        Self::BadParameter {
            detail: format!("{field}: {reason}"),
            errors: vec![FieldError {
                index: None,
                field,
                reason,
            }],
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Self::BadParameter { .. } => (
                StatusCode::BAD_REQUEST,
                "bad-parameter",
                "Bad query parameter",
            ),
            Self::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or unknown API key",
            ),
            Self::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed with this key",
            ),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Payload too large",
            ),
            Self::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid data",
            ),
            Self::Overloaded(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "overloaded",
                "Too many requests",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        let detail = match &self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "the server met an internal error; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            Self::Invalid { errors, .. } | Self::BadParameter { errors, .. } => errors,
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("urn:embudo:problem:{code}"),
            title: title.into(),
            status: status.as_u16(),
            message: detail.clone(),
            detail,
            errors,
            code: code.into(),
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"embudo\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Unavailable(m) => {
                Self::Unavailable(format!("the database is unavailable: {m}"))
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<CommitError> for ApiError {
    fn from(err: CommitError) -> Self {
        match err {
            CommitError::Overloaded => {
                Self::Overloaded("ingestion is at capacity; retry after a second".into())
            }
            CommitError::Closed => Self::Unavailable("the server is shutting down".into()),
            CommitError::Store(e) => match e.as_ref() {
                StoreError::Conflict(m) => Self::Conflict(m.clone()),
                StoreError::Unavailable(m) => {
                    Self::Unavailable(format!("the database is unavailable: {m}"))
                }
                other => Self::Internal(other.to_string()),
            },
        }
    }
}
