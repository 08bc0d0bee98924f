//! The background checkpointer: copies the write-ahead log into the database file on its own
//! thread and connection, so that the writer's commits only append to the log.
//!
//! Every `checkpoint_interval`, when something was committed since the last pass, it runs a
//! `PASSIVE` checkpoint, which copies what it can without waiting for anyone; once the whole
//! log is copied, the writer's next transaction starts the log over from its beginning. When
//! readers kept the log from being reset and it has grown past `checkpoint_pages`, it runs a
//! `RESTART` checkpoint, which waits (up to the busy timeout) for them to move on, so the log
//! cannot grow without bound under steady load. The thread stops when the store is dropped.

use crate::error::Result;
use crate::{open_connection, SqliteOptions};
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Starts the checkpointer for the database at `path`; it runs until the returned sender is
/// dropped.
pub(crate) fn start(
    path: &Path,
    options: &SqliteOptions,
    commits: Arc<AtomicU64>,
) -> Result<mpsc::Sender<()>> {
    // A small cache: checkpointing reads the log, not the database's pages.
    let conn = open_connection(path, options, 1024)?;
    let (stop, stopped) = mpsc::channel::<()>();
    let interval = options.checkpoint_interval;
    let max_pages = i64::from(options.checkpoint_pages);
    std::thread::Builder::new()
        .name("embudo-sqlite-checkpoint".into())
        .spawn(move || run(conn, stopped, interval, max_pages, commits))
        .map_err(|e| {
            embudo_store::StoreError::Unavailable(format!(
                "cannot start the checkpoint thread: {e}"
            ))
        })?;
    Ok(stop)
}

fn run(
    conn: Connection,
    stopped: mpsc::Receiver<()>,
    interval: Duration,
    max_pages: i64,
    commits: Arc<AtomicU64>,
) {
    let mut seen = 0;
    loop {
        match stopped.recv_timeout(interval) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The store is gone (nothing is ever sent).
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = commits.load(Ordering::Relaxed);
        if now == seen {
            continue;
        }
        seen = now;
        match checkpoint(&conn, "PASSIVE") {
            Ok((_, log, copied)) if log > max_pages && copied < log => {
                if let Err(err) = checkpoint(&conn, "RESTART") {
                    tracing::warn!(error = %err, "SQLite restart checkpoint failed");
                }
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "SQLite checkpoint failed"),
        }
    }
}

/// Runs `PRAGMA wal_checkpoint(mode)`: (busy, pages in the log, pages copied).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
}
