//! Recommendations ([`embudo_store::recs`]): trained models and the recommendations served.
//!
//! A model is one row replaced by one statement, so readers see the old row or the new one.
//! Its `stored_at` comes from the database's clock, the one clock every node shares. Its bytes
//! are `bytea` stored out of line (TOAST) and uncompressed; `size` is a column of its own, so
//! [`model_info`] never fetches them.
//!
//! Served recommendations are inserted in id order, so two nodes writing overlapping batches
//! wait for each other rather than deadlock.

use crate::codec::{json_text, opt_text, text};
use crate::error::{corrupt, Result};
use chrono::{DateTime, Utc};
use embudo_store::recs::{ModelInfo, ServedRecommendation, StoredModel};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

/// Served recommendations per statement: a few round trips for a large batch, arrays of a few
/// megabytes each.
const RECOMMENDATIONS_PER_STATEMENT: usize = 5_000;

// ---- models ----

/// Creates or replaces a model; its `stored_at` is the database's time, or a microsecond after
/// the replaced model's when that is not earlier.
pub(crate) async fn put_model(
    conn: &mut PgConnection,
    key: &str,
    trained_at: DateTime<Utc>,
    bytes: &[u8],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO models AS m (key, trained_at, stored_at, size, bytes) \
         VALUES ($1, $2, clock_timestamp(), $3, $4) \
         ON CONFLICT (key) DO UPDATE SET trained_at = EXCLUDED.trained_at, \
           stored_at = GREATEST(EXCLUDED.stored_at, m.stored_at + interval '1 microsecond'), \
           size = EXCLUDED.size, bytes = EXCLUDED.bytes",
    )
    .bind(key)
    .bind(trained_at)
    .bind(bytes.len() as i64)
    .bind(bytes)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A row of `models` with its bytes.
pub(crate) fn model(row: &PgRow) -> Result<StoredModel> {
    Ok(StoredModel {
        key: row.try_get("key")?,
        trained_at: row.try_get("trained_at")?,
        bytes: row.try_get("bytes")?,
        stored_at: row.try_get("stored_at")?,
    })
}

/// `trained_at`, `stored_at` and `size` of a row of `models`.
pub(crate) fn model_info(row: &PgRow) -> Result<ModelInfo> {
    let size: i64 = row.try_get("size")?;
    Ok((
        row.try_get("trained_at")?,
        row.try_get("stored_at")?,
        u64::try_from(size).map_err(|_| corrupt("models.size", format!("{size} is negative")))?,
    ))
}

// ---- served recommendations ----

/// Inserts rows whose id is not stored yet (ids distinct, checked by the caller); returns
/// how many.
pub(crate) async fn record_recommendations(
    conn: &mut PgConnection,
    rows: &[&ServedRecommendation],
) -> Result<u64> {
    let mut new = 0;
    for chunk in rows.chunks(RECOMMENDATIONS_PER_STATEMENT) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
        let ats: Vec<DateTime<Utc>> = chunk.iter().map(|r| r.served_at).collect();
        let placements: Vec<String> = chunk.iter().map(|r| text(&r.placement)).collect();
        let people: Vec<Option<String>> = chunk
            .iter()
            .map(|r| opt_text(r.person.as_deref()))
            .collect();
        let items = chunk
            .iter()
            .map(|r| json_text(&r.items))
            .collect::<Result<Vec<String>>>()?;
        let contexts = chunk
            .iter()
            .map(|r| json_text(&r.context))
            .collect::<Result<Vec<String>>>()?;
        new += sqlx::query(
            "INSERT INTO recommendations (id, served_at, placement, person, items, context) \
             SELECT u.id, u.served_at, u.placement, u.person, u.items::jsonb, u.context::jsonb \
             FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[]) \
               WITH ORDINALITY AS u(id, served_at, placement, person, items, context, ord) \
             ORDER BY u.ord \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&ats)
        .bind(&placements)
        .bind(&people)
        .bind(&items)
        .bind(&contexts)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(new)
}

/// A row of `recommendations`.
pub(crate) fn recommendation(row: &PgRow) -> Result<ServedRecommendation> {
    let items: serde_json::Value = row
        .try_get("items")
        .map_err(|e| corrupt("recommendations.items", e))?;
    Ok(ServedRecommendation {
        id: row.try_get("id")?,
        served_at: row.try_get("served_at")?,
        placement: row.try_get("placement")?,
        person: row.try_get("person")?,
        items: serde_json::from_value(items).map_err(|e| corrupt("recommendations.items", e))?,
        context: row
            .try_get("context")
            .map_err(|e| corrupt("recommendations.context", e))?,
    })
}
