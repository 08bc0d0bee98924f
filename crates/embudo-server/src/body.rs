//! Reading request bodies: size limits, content types and JSON with the path of the field at
//! fault, all answered as problem documents instead of axum's plain-text rejections.

use crate::problem::{ApiError, FieldError};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// The raw body of a request, refused with 413 above the route's limit and with 415 when it
/// is not JSON (`text/plain` is accepted too, as browsers' `sendBeacon` sends it).
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or("").trim();
            if !(essence == "application/json"
                || essence.ends_with("+json")
                || essence == "text/plain")
            {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "`{essence}` is not supported; send application/json"
                )));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge("the body is larger than this endpoint accepts".into())
            } else {
                ApiError::BadRequest(format!(
                    "the body could not be read: {}",
                    rejection.body_text()
                ))
            }
        })?;
        Ok(Self(bytes))
    }
}

/// A JSON body deserialized into `T`; errors name the path of the field at fault.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// Deserializes JSON, telling syntax errors (400) from wrong values (422, with the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    from_value(value)
}

/// Deserializes a JSON value, naming the field at fault.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let field = err.path().to_string();
        let field = if field == "." { String::new() } else { field };
        let reason = err.into_inner().to_string();
        ApiError::Invalid {
            detail: format!("{field}: {reason}"),
            errors: vec![FieldError {
                index: None,
                field,
                reason,
            }],
        }
    })
}
