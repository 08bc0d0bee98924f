//! Fatal import errors: problems that make the input or the store unusable as a whole. A bad
//! row is never one of them; it is skipped and reported.

use embudo_store::StoreError;
use std::path::PathBuf;

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No input paths were given.
    #[error("no input files given")]
    NoInput,
    /// A file or directory could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A file's header matches none of the layouts of the format.
    #[error("{}: unknown layout; found header `{found}`, expected {}", path.display(), expected.join(" or "))]
    UnknownLayout {
        /// The file.
        path: PathBuf,
        /// The header found (or the first line, for files without one).
        found: String,
        /// The headers (or line shapes) the format accepts.
        expected: Vec<String>,
    },
    /// The input is unusable for another reason (an empty file, a directory without the
    /// format's files…).
    #[error("{}: {message}", path.display())]
    Input {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The store failed; what was written before stays written (importing again is safe).
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    /// The parsing task died (a bug).
    #[error("the import task failed: {0}")]
    Task(String),
}

impl ImportError {
    /// A read error on `path`.
    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Read {
            path: path.into(),
            source,
        }
    }

    /// A CSV reader error on `path`: an I/O error is a read error, anything else bad input.
    pub(crate) fn csv(path: impl Into<PathBuf>, err: csv::Error) -> Self {
        let path = path.into();
        let message = err.to_string();
        match err.into_kind() {
            csv::ErrorKind::Io(source) => Self::Read { path, source },
            _ => Self::Input { path, message },
        }
    }
}
