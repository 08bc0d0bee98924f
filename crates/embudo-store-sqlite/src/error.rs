//! The crate's internal error and its mapping to [`StoreError`].
//!
//! Inner functions return [`Error`] so that both `rusqlite` errors and domain errors travel
//! with `?`; the public methods turn it into a [`StoreError`] that callers can act on without
//! reading SQLite's messages: a broken constraint is a conflict, a database still busy after
//! the busy timeout is unavailable, and a value that does not decode is a corrupt row.

use embudo_store::StoreError;
use rusqlite::ErrorCode;

/// What inner functions fail with.
#[derive(Debug)]
pub(crate) enum Error {
    /// An error from SQLite or from `rusqlite`'s conversions.
    Sql(rusqlite::Error),
    /// An error already in the store's terms.
    Store(StoreError),
}

/// The result of inner functions.
pub(crate) type Result<T> = std::result::Result<T, Error>;

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Self::Sql(err)
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        match err {
            Error::Store(err) => err,
            Error::Sql(err) => map_sql(err),
        }
    }
}

/// A value read back that does not decode.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Store(StoreError::Corrupt(what.to_string()))
}

fn map_sql(err: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    match &err {
        E::SqliteFailure(failure, message) => {
            let text = message.clone().unwrap_or_else(|| failure.to_string());
            match failure.code {
                ErrorCode::ConstraintViolation => StoreError::Conflict(text),
                // The busy timeout has already been waited out when SQLite reports these.
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                    StoreError::Unavailable(text)
                }
                ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::OutOfMemory => StoreError::Unavailable(text),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt(text),
                _ => StoreError::database(err),
            }
        }
        E::FromSqlConversionFailure(..)
        | E::InvalidColumnType(..)
        | E::IntegralValueOutOfRange(..)
        | E::Utf8Error(..)
        | E::InvalidColumnIndex(..)
        | E::InvalidColumnName(..) => StoreError::Corrupt(err.to_string()),
        _ => StoreError::database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_and_busy_errors_keep_their_meaning() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);")
            .unwrap();
        let err = conn.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        assert!(matches!(
            StoreError::from(Error::from(err)),
            StoreError::Conflict(_)
        ));

        let err = conn
            .query_row("SELECT 'x'", [], |row| row.get::<_, i64>(0))
            .unwrap_err();
        assert!(matches!(
            StoreError::from(Error::from(err)),
            StoreError::Corrupt(_)
        ));
    }
}
