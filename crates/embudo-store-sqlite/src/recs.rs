//! Recommendations ([`embudo_store::recs`]): trained models and the recommendations served.
//!
//! A model is one row replaced by one statement inside the writer's transaction, so readers
//! (each in its own snapshot) see the old row or the new one. Its `size` is a column of its own
//! and its bytes come last in the row, so [`model_info`] reads only the row's first page.

use crate::codec::{json, micros, time};
use crate::error::{corrupt, Result};
use embudo_store::recs::{ModelInfo, ServedRecommendation, StoredModel};
use rusqlite::{params, Connection, OptionalExtension, Row};

// ---- models ----

/// Creates or replaces a model; its `stored_at` is `now`, or a microsecond after the replaced
/// model's when that is not earlier (a clock set back).
pub(crate) fn put_model(
    conn: &Connection,
    key: &str,
    trained_at: i64,
    bytes: &[u8],
    now: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO models (key, trained_at, stored_at, size, bytes) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (key) DO UPDATE SET trained_at = excluded.trained_at, \
           stored_at = max(excluded.stored_at, models.stored_at + 1), \
           size = excluded.size, bytes = excluded.bytes",
    )?
    .execute(params![key, trained_at, now, bytes.len() as i64, bytes])?;
    Ok(())
}

/// The model under `key`, with its bytes.
pub(crate) fn model(conn: &Connection, key: &str) -> Result<Option<StoredModel>> {
    conn.prepare_cached("SELECT key, trained_at, stored_at, bytes FROM models WHERE key = ?1")?
        .query_row([key], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()?
        .map(|(key, trained_at, stored_at, bytes)| {
            Ok(StoredModel {
                key,
                trained_at: time(trained_at)?,
                bytes,
                stored_at: time(stored_at)?,
            })
        })
        .transpose()
}

/// `trained_at`, `stored_at` and size of the model under `key`, without its bytes.
pub(crate) fn model_info(conn: &Connection, key: &str) -> Result<Option<ModelInfo>> {
    conn.prepare_cached("SELECT trained_at, stored_at, size FROM models WHERE key = ?1")?
        .query_row([key], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .optional()?
        .map(|(trained_at, stored_at, size)| {
            let size = u64::try_from(size)
                .map_err(|_| corrupt(format!("models.size: {size} is negative")))?;
            Ok((time(trained_at)?, time(stored_at)?, size))
        })
        .transpose()
}

// ---- served recommendations ----

/// Inserts the rows whose id is not stored yet (ids distinct and valid: see
/// [`embudo_store::recs::first_per_id`]); returns how many.
pub(crate) fn record_recommendations(
    conn: &Connection,
    rows: &[ServedRecommendation],
) -> Result<u64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO recommendations (id, served_at, placement, person, items, context) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
    )?;
    let mut new = 0;
    for row in rows {
        new += stmt.execute(params![
            row.id,
            micros(row.served_at),
            row.placement,
            row.person,
            json(&row.items),
            json(&row.context),
        ])? as u64;
    }
    Ok(new)
}

/// One served recommendation.
pub(crate) fn recommendation(conn: &Connection, id: &str) -> Result<Option<ServedRecommendation>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, served_at, placement, person, items, context FROM recommendations WHERE id = ?1",
    )?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some(served(row)?)),
        None => Ok(None),
    }
}

fn served(row: &Row<'_>) -> Result<ServedRecommendation> {
    let items: String = row.get(4)?;
    let context: String = row.get(5)?;
    Ok(ServedRecommendation {
        id: row.get(0)?,
        served_at: time(row.get(1)?)?,
        placement: row.get(2)?,
        person: row.get(3)?,
        items: serde_json::from_str(&items)
            .map_err(|e| corrupt(format!("recommendations.items: {e}")))?,
        context: serde_json::from_str(&context)
            .map_err(|e| corrupt(format!("recommendations.context: {e}")))?,
    })
}
