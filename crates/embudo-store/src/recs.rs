//! Recommendations as the store keeps them: trained models (opaque bytes under a key) and the
//! recommendations served, kept for attribution.
//!
//! The store does not train or score anything: a model is any bytes its trainer wrote, and a
//! served recommendation is a record of what was shown, to whom and where.
//!
//! Rules every backend keeps:
//! - a model is replaced as a whole: a reader sees the old model or the new one, never a mix;
//! - a model's `stored_at` is set by the store and grows with every replacement of its key
//!   (by at least a microsecond, whatever the clocks say), so that a node that remembers the
//!   `stored_at` it loaded knows a newer model exists when [`crate::Store::model_info`] gives
//!   another one;
//! - a model key or a recommendation id that breaks its rule ([`is_model_key`],
//!   [`is_recommendation_id`]), or a model larger than [`MAX_MODEL_BYTES`], is refused as a
//!   conflict and nothing is written; reading one finds nothing;
//! - a served recommendation is written once: of rows with the same id (in one batch or
//!   across batches) the first one stored is kept.

use chrono::{DateTime, Utc};
use embudo_core::MAX_ID_LEN;
use std::collections::HashSet;

use crate::{StoreError, StoreResult};

/// The longest model key, in bytes.
pub const MAX_MODEL_KEY_LEN: usize = 128;

/// The largest model the store accepts, in bytes (512 MiB): well within what one value may
/// hold on both backends (SQLite: 1,000,000,000 bytes a row; PostgreSQL: 1 GiB a value and a
/// message).
pub const MAX_MODEL_BYTES: usize = 512 * 1024 * 1024;

/// Whether `key` is a valid model key: 1 to 128 characters of ASCII letters, digits, `_`,
/// `-`, `.`, `:` and `/` (`ease`, `fbt/v2`, `ials:2026-04`).
pub fn is_model_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_MODEL_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

/// Checks what the store requires of a model before writing it: a valid key and at most
/// [`MAX_MODEL_BYTES`] bytes (`size`).
pub fn check_model(key: &str, size: usize) -> StoreResult<()> {
    if !is_model_key(key) {
        return Err(StoreError::Conflict(format!(
            "model key `{}` is invalid: use 1 to {MAX_MODEL_KEY_LEN} characters of A-Z, a-z, 0-9, `_`, `-`, `.`, `:` and `/`",
            key.escape_debug()
        )));
    }
    if size > MAX_MODEL_BYTES {
        return Err(StoreError::Conflict(format!(
            "model `{key}` is {size} bytes, more than the {MAX_MODEL_BYTES} the store accepts"
        )));
    }
    Ok(())
}

/// A trained model as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredModel {
    /// Its key (see [`is_model_key`]).
    pub key: String,
    /// When its trainer says it was trained.
    pub trained_at: DateTime<Utc>,
    /// The model, as its trainer serialized it (opaque to the store).
    pub bytes: Vec<u8>,
    /// When the store stored it (set by the store; grows with every replacement).
    pub stored_at: DateTime<Utc>,
}

impl std::fmt::Debug for StoredModel {
    /// Shows the size of the bytes, not the bytes: a model may be hundreds of megabytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredModel")
            .field("key", &self.key)
            .field("trained_at", &self.trained_at)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("stored_at", &self.stored_at)
            .finish()
    }
}

/// What [`crate::Store::model_info`] tells about a stored model without reading its bytes:
/// (`trained_at`, `stored_at`, size in bytes).
pub type ModelInfo = (DateTime<Utc>, DateTime<Utc>, u64);

/// Whether `id` is a valid recommendation id: as every other id, 1 to 255 bytes, not only
/// whitespace, and no control characters.
pub fn is_recommendation_id(id: &str) -> bool {
    !id.trim().is_empty() && id.len() <= MAX_ID_LEN && !id.chars().any(char::is_control)
}

/// A list of recommendations served, for attributing later what shoppers did with them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedRecommendation {
    /// Its id, chosen by whoever served it (see [`is_recommendation_id`]): writing the same id
    /// again keeps the first row.
    pub id: String,
    /// When it was served.
    pub served_at: DateTime<Utc>,
    /// Where it was shown (a page slot, an email block…).
    pub placement: String,
    /// Whom it was shown to, as a person key: `c:<customer id>` or `v:<anonymous id>`; none
    /// when nobody is known.
    pub person: Option<String>,
    /// The product ids recommended, best first.
    pub items: Vec<String>,
    /// Anything else worth keeping (model, scores, the product it was shown beside…), any JSON.
    pub context: serde_json::Value,
}

impl ServedRecommendation {
    /// Checks what the store requires of a row: a valid id.
    pub fn check(&self) -> StoreResult<()> {
        if is_recommendation_id(&self.id) {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "recommendation id `{}` is invalid: use 1 to {MAX_ID_LEN} bytes without control characters",
                self.id.escape_debug()
            )))
        }
    }
}

/// Of rows with the same id, the first one, in the given order; or the first row that fails
/// [`ServedRecommendation::check`] as an error. What [`crate::Store::record_recommendations`]
/// writes.
pub fn first_per_id(served: &[ServedRecommendation]) -> StoreResult<Vec<&ServedRecommendation>> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(served.len());
    let mut out = Vec::with_capacity(served.len());
    for row in served {
        row.check()?;
        if seen.insert(row.id.as_str()) {
            out.push(row);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn model_keys() {
        for good in [
            "ease",
            "fbt/v2",
            "ials:2026-04",
            "A.b_c-d",
            &"k".repeat(128),
        ] {
            assert!(is_model_key(good), "{good}");
            assert!(check_model(good, 0).is_ok());
        }
        for bad in ["", "with space", "café", "a\0b", "a\nb", &"k".repeat(129)] {
            assert!(!is_model_key(bad), "{bad:?}");
            assert!(matches!(check_model(bad, 0), Err(StoreError::Conflict(_))));
        }
    }

    #[test]
    fn model_sizes() {
        assert!(check_model("ease", MAX_MODEL_BYTES).is_ok());
        assert!(matches!(
            check_model("ease", MAX_MODEL_BYTES + 1),
            Err(StoreError::Conflict(_))
        ));
    }

    #[test]
    fn model_debug_hides_the_bytes() {
        let model = StoredModel {
            key: "ease".into(),
            trained_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            bytes: vec![7; 1000],
            stored_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap(),
        };
        let shown = format!("{model:?}");
        assert!(shown.contains("<1000 bytes>"), "{shown}");
        assert!(shown.len() < 300, "{shown}");
    }

    fn served(id: &str, placement: &str) -> ServedRecommendation {
        ServedRecommendation {
            id: id.into(),
            served_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            placement: placement.into(),
            person: Some("v:visitor-1".into()),
            items: vec!["p-1".into(), "p-2".into()],
            context: json!({"model": "ease"}),
        }
    }

    #[test]
    fn recommendation_ids() {
        assert!(is_recommendation_id("r-1"));
        assert!(is_recommendation_id(&"r".repeat(255)));
        assert!(is_recommendation_id("émoji 🦀"));
        for bad in ["", "  ", "a\0b", "tab\there", &"r".repeat(256)] {
            assert!(!is_recommendation_id(bad), "{bad:?}");
            assert!(matches!(
                served(bad, "home").check(),
                Err(StoreError::Conflict(_))
            ));
        }
    }

    #[test]
    fn first_row_per_id_wins() {
        let rows = vec![
            served("a", "home"),
            served("b", "home"),
            served("a", "cart"),
        ];
        let kept = first_per_id(&rows).unwrap();
        let kept: Vec<(&str, &str)> = kept
            .iter()
            .map(|r| (r.id.as_str(), r.placement.as_str()))
            .collect();
        assert_eq!(kept, vec![("a", "home"), ("b", "home")]);
        let with_bad = vec![served("a", "home"), served("", "home")];
        assert!(matches!(
            first_per_id(&with_bad),
            Err(StoreError::Conflict(_))
        ));
    }
}
