//! How PostgreSQL and sqlx errors become [`StoreError`]s, and which of them are worth retrying.
//!
//! Callers map `StoreError` kinds to HTTP statuses, so the mapping matters: a unique or foreign
//! key violation is a [`StoreError::Conflict`] (409), anything that says the server cannot be
//! reached or is going away is [`StoreError::Unavailable`] (503), and a value that cannot be
//! decoded is [`StoreError::Corrupt`].

use embudo_store::StoreError;

/// The error of the backend's internal functions: a database error, or a row that does not
/// decode into the domain types.
#[derive(Debug)]
pub(crate) enum Error {
    /// From sqlx.
    Sql(sqlx::Error),
    /// A stored value that is not what the schema promises.
    Corrupt(String),
    /// A rule of the store the call broke (see [`StoreError::Conflict`]).
    Conflict(String),
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Self::Sql(err)
    }
}

/// A stored value that does not decode: names the column and says why.
pub(crate) fn corrupt(column: &str, why: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{column}: {why}"))
}

impl Error {
    /// The SQLSTATE of a database error.
    fn sqlstate(&self) -> Option<String> {
        match self {
            Self::Sql(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// Whether running the whole transaction again may succeed: a serialization failure or a
    /// deadlock between concurrent writers (the other transaction has gone on by then).
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self.sqlstate().as_deref(), Some("40001" | "40P01"))
    }
}

impl From<Error> for StoreError {
    fn from(err: Error) -> Self {
        match err {
            Error::Corrupt(why) => StoreError::Corrupt(why),
            Error::Conflict(why) => StoreError::Conflict(why),
            Error::Sql(err) => from_sqlx(err),
        }
    }
}

/// Maps a sqlx error to the store's error kinds.
pub(crate) fn from_sqlx(err: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match err {
        E::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = db.message().to_owned();
            match code.as_str() {
                // unique_violation, foreign_key_violation, exclusion_violation, check_violation
                // (as SQLite, which reports all of them as one constraint error)
                "23505" | "23503" | "23P01" | "23514" => StoreError::Conflict(message),
                // Transient: serialization failure or deadlock still there after retries.
                "40001" | "40P01" => {
                    StoreError::Unavailable(format!("{message} (gave up after retrying)"))
                }
                // Connection exceptions, too many connections, shutting down, cannot connect
                // now, crash of another backend, out of disk or memory.
                c if c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") => {
                    StoreError::Unavailable(format!("{message} ({code})"))
                }
                _ => StoreError::Database(Box::new(E::Database(db))),
            }
        }
        E::Io(_)
        | E::Tls(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::Protocol(_) => StoreError::Unavailable(err.to_string()),
        E::ColumnDecode { .. }
        | E::Decode(_)
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::TypeNotFound { .. } => StoreError::Corrupt(err.to_string()),
        E::Migrate(err) => StoreError::Migration(err.to_string()),
        other => StoreError::database(other),
    }
}
