//! Schema migrations: numbered `.sql` files compiled into the binary, applied in order.
//!
//! The number of migrations applied is kept in `PRAGMA user_version`, which lives in the
//! database header and so changes in the same transaction as the schema: a migration is either
//! applied and counted, or neither. A file newer than this build (a higher version than it
//! knows) is refused rather than used with a schema the code does not understand.

use embudo_store::{StoreError, StoreResult};
use rusqlite::{Connection, TransactionBehavior};

/// The migrations, oldest first; the `n`th one brings the schema to version `n`.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_initial",
        include_str!("../migrations/0001_initial.sql"),
    ),
    ("0002_intel", include_str!("../migrations/0002_intel.sql")),
    ("0003_recs", include_str!("../migrations/0003_recs.sql")),
];

/// Brings the schema up to date. Returns the version reached.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<usize> {
    let failed = |name: &str, err: rusqlite::Error| StoreError::Migration(format!("{name}: {err}"));
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| failed("reading the schema version", e))?;
    let current = usize::try_from(current)
        .map_err(|_| StoreError::Migration(format!("schema version {current} is invalid")))?;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {current}, newer than this build knows ({}); upgrade Embudo",
            MIGRATIONS.len()
        )));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = index + 1;
        // IMMEDIATE takes the write lock up front, so two processes starting at once do not
        // both run the same migration.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| failed(name, e))?;
        let now: i64 = tx
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| failed(name, e))?;
        if now as usize >= version {
            // Another process applied it while this one waited for the lock.
            continue;
        }
        tx.execute_batch(sql).map_err(|e| failed(name, e))?;
        tx.pragma_update(None, "user_version", version as i64)
            .map_err(|e| failed(name, e))?;
        tx.commit().map_err(|e| failed(name, e))?;
        tracing::info!(migration = name, version, "applied SQLite migration");
    }
    Ok(MIGRATIONS.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_newer_files_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        assert_eq!(migrate(&mut conn).unwrap(), MIGRATIONS.len());
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(tables >= 10, "{tables}");
        conn.pragma_update(None, "user_version", 999).unwrap();
        assert!(matches!(migrate(&mut conn), Err(StoreError::Migration(_))));
    }
}
