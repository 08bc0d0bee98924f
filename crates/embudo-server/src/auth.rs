//! API keys on requests: HTTP Basic with the key as user name (what Segment's libraries send)
//! or `Authorization: Bearer <key>`. A write key may only send tracking data; a secret key may
//! do everything. Lookups are cached for a few seconds (hits and misses alike), so a tracking
//! request does not read the database to authenticate; a revoked key stops working within
//! that time.

use crate::problem::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use embudo_store::{hash_secret, ApiKey, KeyKind, Store};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a key lookup is trusted.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Bound on cached lookups (misses included), so random keys cannot grow memory.
const CACHE_MAX: usize = 10_000;

/// Cached key lookups by hash.
#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (Option<ApiKey>, Instant)>>,
}

impl KeyCache {
    async fn lookup(&self, store: &dyn Store, secret: &str) -> Result<Option<ApiKey>, ApiError> {
        let hash = hash_secret(secret);
        if let Some((key, at)) = self.entries.read().expect("key cache lock").get(&hash) {
            if at.elapsed() < CACHE_TTL {
                return Ok(key.clone());
            }
        }
        let key = store.key_by_hash(&hash).await?;
        let mut entries = self.entries.write().expect("key cache lock");
        if entries.len() >= CACHE_MAX {
            entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(hash, (key.clone(), Instant::now()));
        Ok(key)
    }
}

const NO_KEY: &str = "send the API key with HTTP Basic (key as user name) or as a Bearer token";

fn secret_from(parts: &Parts) -> Result<String, ApiError> {
    header_secret(parts)?.ok_or_else(|| ApiError::Unauthorized(NO_KEY.into()))
}

fn header_secret(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let header = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not text".into()))?;
    let (scheme, value) = header
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header has no scheme".into()))?;
    let secret = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| ApiError::Unauthorized("the Basic credentials are not base64".into()))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| ApiError::Unauthorized("the Basic credentials are not UTF-8".into()))?;
        let user = decoded.split_once(':').map(|(u, _)| u).unwrap_or(&decoded);
        user.to_string()
    } else if scheme.eq_ignore_ascii_case("bearer") {
        value.trim().to_string()
    } else {
        return Err(ApiError::Unauthorized(format!(
            "the `{scheme}` scheme is not supported; use Basic or Bearer"
        )));
    };
    if secret.is_empty() {
        return Err(ApiError::Unauthorized("the API key is empty".into()));
    }
    Ok(Some(secret))
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<ApiKey, ApiError> {
    let secret = secret_from(parts)?;
    state
        .keys
        .lookup(state.store.as_ref(), &secret)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))
}

/// The key of a tracking request, from the `Authorization` header or, as Segment's server
/// libraries send it, from the body's `writeKey`. Checked with [`TrackingKey::check`] once the
/// body is read.
pub struct TrackingKey(Option<String>);

impl TrackingKey {
    /// Checks the header's key, or else the body's `writeKey`; any key kind may track.
    pub async fn check(self, state: &AppState, body: &[u8]) -> Result<ApiKey, ApiError> {
        let secret = match self.0 {
            Some(secret) => secret,
            None => body_write_key(body).ok_or_else(|| ApiError::Unauthorized(NO_KEY.into()))?,
        };
        state
            .keys
            .lookup(state.store.as_ref(), &secret)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown or revoked API key".into()))
    }
}

fn body_write_key(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct WithKey {
        #[serde(rename = "writeKey")]
        write_key: Option<String>,
    }
    serde_json::from_slice::<WithKey>(body)
        .ok()?
        .write_key
        .filter(|k| !k.is_empty())
}

impl FromRequestParts<Arc<AppState>> for TrackingKey {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        header_secret(parts).map(TrackingKey)
    }
}

/// A request made with a secret key (everything else).
pub struct SecretAccess(#[allow(dead_code)] pub ApiKey);

impl FromRequestParts<Arc<AppState>> for SecretAccess {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let key = authenticate(parts, state).await?;
        if key.kind != KeyKind::Secret {
            return Err(ApiError::Forbidden(
                "a write key may only send tracking data; use a secret key".into(),
            ));
        }
        Ok(SecretAccess(key))
    }
}

/// A request made with any valid key, write or secret (recommendations are asked for from a
/// shop's pages with its write key).
pub struct AnyKey(#[allow(dead_code)] pub ApiKey);

impl FromRequestParts<Arc<AppState>> for AnyKey {
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(AnyKey(authenticate(parts, state).await?))
    }
}
