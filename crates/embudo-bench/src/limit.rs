//! The ceiling: how fast this machine's SQLite stores the rows ingestion writes, with nothing
//! else in the way.
//!
//! The database is created by `SqliteStore::open` (so the schema, the unique index on
//! `message_id` and the other indexes of `events` are exactly the store's), then written with
//! rusqlite directly: the store's own `INSERT … ON CONFLICT (message_id) DO NOTHING` as one
//! prepared statement, in `BEGIN IMMEDIATE` transactions of `rows_per_transaction` rows, with
//! the store's writer settings (WAL, `synchronous = FULL`, 64 MiB page cache, no checkpoints in
//! the writer: a second connection on its own thread runs a `PASSIVE` checkpoint every 250 ms,
//! like the store's checkpointer) so that only the code path differs, not the configuration.
//!
//! The rows are the ones the store writes for the generated messages: each message goes
//! through the server's own parser (`embudo_ingest::parse_batch_body`) and its columns are
//! encoded the way the store encodes them (JSON text by `serde_json::to_string`, the context
//! in the store's compact form without absent fields, times as
//! microseconds, `customer_id` = the `userId`, which is what the store resolves it to for
//! these messages: they never merge customers, and anonymous visitors are never linked).
//! Preparing rows happens off the clock; only the transactions are timed.
//!
//! What the store does and this does not: the per-batch customer upkeep (first/last seen),
//! visitor links and the orders of `Order Completed` messages. Those are part of what the
//! ratio to this limit measures.

use crate::gen::Generator;
use anyhow::{ensure, Context, Result};
use chrono::Utc;
use embudo_core::{Attributes, EventContext, Message};
use rusqlite::{params, TransactionBehavior};
use std::path::Path;
use std::time::{Duration, Instant};

/// The store's event insert (crates/embudo-store-sqlite/src/write.rs, `INSERT_EVENT`).
const INSERT_EVENT: &str = "INSERT INTO events (message_id, kind, event, anonymous_id, user_id, customer_id, \
     previous_id, group_id, session_id, ts, received_at, properties, traits, context, device_type, country, city, \
     utm_source, utm_medium, utm_campaign, referrer, page_url) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22) \
     ON CONFLICT (message_id) DO NOTHING";

/// The limit run's settings.
#[derive(Debug, Clone)]
pub struct LimitSpec {
    /// Rows per transaction.
    pub rows_per_transaction: u64,
    /// Stop once this much time was spent in transactions.
    pub duration: Duration,
    /// Print progress this often.
    pub progress: Duration,
    /// SQLite's `synchronous` setting: `FULL` for the figure; `OFF` only to see what the
    /// fsyncs cost.
    pub synchronous: String,
    /// Write `context` as sent instead of as the store encodes it (the `EventContext`, which
    /// repeats the extracted fields next to the context as sent): sizes that change.
    pub context_as_sent: bool,
    /// A database page size other than SQLite's default (which the store uses).
    pub page_size: Option<u32>,
    /// Indexes of `events` to drop before the loop (sizes what each costs).
    pub drop_indexes: Vec<String>,
    /// Checkpoint in the writer's commits every this many pages instead of from a second
    /// connection on its own thread every 250 ms as the store does: sizes what the writer's
    /// stalls on checkpoint I/O cost.
    pub checkpoint_in_writer: Option<u32>,
}

/// What the limit run measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LimitResult {
    /// Rows inserted.
    pub rows: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Seconds spent in transactions (the clock).
    pub seconds: f64,
    /// Seconds spent preparing rows (off the clock).
    pub prepare_seconds: f64,
    /// Bytes of JSON text in the rows (properties, traits, context), on average.
    pub json_bytes_per_row: f64,
    /// Bytes of database file per row at the end (table and indexes).
    pub file_bytes_per_row: f64,
    /// CPU seconds spent in transactions.
    pub cpu_seconds: f64,
    /// Bytes written to storage during transactions (log, checkpoints), per row.
    pub written_bytes_per_row: f64,
    /// Cores other processes kept busy during the run (other people's work).
    pub others_cores: f64,
}

impl LimitResult {
    /// Rows per second.
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.seconds
    }
}

/// One `events` row as the store writes it.
struct Row {
    message_id: String,
    kind: &'static str,
    event: Option<String>,
    anonymous_id: Option<String>,
    user_id: Option<String>,
    customer_id: Option<String>,
    previous_id: Option<String>,
    group_id: Option<String>,
    session_id: Option<String>,
    ts: i64,
    received_at: i64,
    properties: String,
    traits: String,
    context: String,
    device_type: Option<String>,
    country: Option<String>,
    city: Option<String>,
    utm_source: Option<String>,
    utm_medium: Option<String>,
    utm_campaign: Option<String>,
    referrer: Option<String>,
    page_url: Option<String>,
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// The store's `context` text (crates/embudo-store-sqlite/src/codec.rs, `context_json`): the
/// `EventContext` without its absent fields.
pub fn context_json(context: &EventContext) -> String {
    #[derive(serde::Serialize)]
    struct Compact<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        device_type: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        user_agent: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        locale: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        country: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        city: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ip: Option<&'a str>,
        attribution: CompactAttribution<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        page_url: Option<&'a str>,
        raw: &'a Attributes,
    }
    #[derive(serde::Serialize)]
    struct CompactAttribution<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        medium: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        campaign: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        term: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        referrer: Option<&'a str>,
    }
    let a = &context.attribution;
    json(&Compact {
        device_type: context.device_type.as_deref(),
        user_agent: context.user_agent.as_deref(),
        locale: context.locale.as_deref(),
        country: context.country.as_deref(),
        city: context.city.as_deref(),
        ip: context.ip.as_deref(),
        attribution: CompactAttribution {
            source: a.source.as_deref(),
            medium: a.medium.as_deref(),
            campaign: a.campaign.as_deref(),
            term: a.term.as_deref(),
            content: a.content.as_deref(),
            referrer: a.referrer.as_deref(),
        },
        page_url: context.page_url.as_deref(),
        raw: &context.raw,
    })
}

impl Row {
    fn from_message(m: Message, context_as_sent: bool) -> Self {
        let user_id = m.user_id.as_ref().map(|u| u.as_str().to_owned());
        let c = &m.context;
        Row {
            message_id: m.message_id.as_str().to_owned(),
            kind: m.kind.as_str(),
            anonymous_id: m.anonymous_id.as_ref().map(|a| a.as_str().to_owned()),
            customer_id: user_id.clone(),
            user_id,
            ts: m.timestamp.timestamp_micros(),
            received_at: m.received_at.timestamp_micros(),
            properties: json(&m.properties),
            traits: json(&m.traits),
            context: if context_as_sent {
                json(&c.raw)
            } else {
                context_json(c)
            },
            device_type: c.device_type.clone(),
            country: c.country.clone(),
            city: c.city.clone(),
            utm_source: c.attribution.source.clone(),
            utm_medium: c.attribution.medium.clone(),
            utm_campaign: c.attribution.campaign.clone(),
            referrer: c.attribution.referrer.clone(),
            page_url: c.page_url.clone(),
            event: m.event,
            previous_id: m.previous_id,
            group_id: m.group_id,
            session_id: m.session_id,
        }
    }
}

impl Row {
    /// Runs [`INSERT_EVENT`] with this row; the number of rows inserted (0 for a repeat).
    fn insert(&self, stmt: &mut rusqlite::Statement<'_>) -> Result<usize> {
        Ok(stmt.execute(params![
            self.message_id,
            self.kind,
            self.event,
            self.anonymous_id,
            self.user_id,
            self.customer_id,
            self.previous_id,
            self.group_id,
            self.session_id,
            self.ts,
            self.received_at,
            self.properties,
            self.traits,
            self.context,
            self.device_type,
            self.country,
            self.city,
            self.utm_source,
            self.utm_medium,
            self.utm_campaign,
            self.referrer,
            self.page_url,
        ])?)
    }
}

/// Messages `first..first + count`, through the server's parser.
fn messages(generator: &Generator, first: u64, count: u64) -> Result<Vec<Message>> {
    let mut body = String::with_capacity(count as usize * 1400);
    generator.batch_body(first, count, &mut body);
    let limits = embudo_ingest::ParseLimits {
        max_message_bytes: 32 * 1024,
        max_batch_bytes: usize::MAX,
    };
    let parsed = embudo_ingest::parse_batch_body(body.as_bytes(), Utc::now(), &limits)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ensure!(
        parsed.rejected.is_empty(),
        "generated messages were refused: {:?}",
        parsed.rejected.first()
    );
    Ok(parsed.messages.into_iter().map(|(_, m)| m).collect())
}

/// Rows for messages `first..first + count`.
fn rows(generator: &Generator, first: u64, count: u64, context_as_sent: bool) -> Result<Vec<Row>> {
    Ok(messages(generator, first, count)?
        .into_iter()
        .map(|m| Row::from_message(m, context_as_sent))
        .collect())
}

/// Every column of `events` but `seq`, for [`verify_rows`].
const COLUMNS: &str = "message_id, kind, event, anonymous_id, user_id, customer_id, previous_id, group_id, \
     session_id, ts, received_at, properties, traits, context, device_type, country, city, utm_source, utm_medium, \
     utm_campaign, referrer, page_url";

/// Checks that this loop writes exactly the rows the store writes: the same messages go
/// through `Store::apply` (with their effects) into one fresh database and through this loop's
/// encoding into another, and every column of every row must be equal.
fn verify_rows(generator: &Generator, dir: &Path) -> Result<usize> {
    let sample = messages(generator, 0, 500)?;
    let store_path = dir.join("verify-store.db");
    let store = embudo_store_sqlite::SqliteStore::open(&store_path)?;
    let envelopes = sample
        .iter()
        .map(|m| {
            embudo_ingest::envelope(m.clone(), &Default::default())
                .map_err(|e| anyhow::anyhow!("{e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(embudo_store::Store::apply(&store, envelopes))?;
    drop(store);

    let loop_path = dir.join("verify-loop.db");
    drop(embudo_store_sqlite::SqliteStore::open(&loop_path)?);
    let conn = rusqlite::Connection::open(&loop_path)?;
    {
        let mut insert = conn.prepare(INSERT_EVENT)?;
        for row in sample.into_iter().map(|m| Row::from_message(m, false)) {
            row.insert(&mut insert)?;
        }
    }
    conn.execute(
        "ATTACH DATABASE ?1 AS store",
        [store_path.to_string_lossy()],
    )?;
    let count = |sql: &str| conn.query_row(sql, [], |row| row.get::<_, i64>(0));
    let ours = count("SELECT count(*) FROM main.events")?;
    let theirs = count("SELECT count(*) FROM store.events")?;
    let differing = count(&format!(
        "SELECT count(*) FROM (SELECT {COLUMNS} FROM main.events EXCEPT SELECT {COLUMNS} FROM store.events)"
    ))?;
    ensure!(
        ours == theirs && differing == 0,
        "the loop's rows differ from the store's: {differing} of {ours} rows ({theirs} in the store)"
    );
    Ok(ours as usize)
}

/// Opens `path` as the store's writer does.
fn open_writer(
    path: &Path,
    synchronous: &str,
    checkpoint_pages: u32,
) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    ensure!(mode.eq_ignore_ascii_case("wal"), "no WAL: {mode}");
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "cache_size", -64 * 1024)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", checkpoint_pages)?;
    conn.pragma_update(None, "journal_size_limit", 16 * 1024 * 4096)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    let level: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0))?;
    ensure!(
        !synchronous.eq_ignore_ascii_case("full") || level == 2,
        "synchronous is {level}, not FULL (2)"
    );
    Ok(conn)
}

/// Runs the limit in a fresh database under `dir`.
pub fn run(generator: &Generator, spec: &LimitSpec, dir: Option<&Path>) -> Result<LimitResult> {
    let tmp = crate::server::temp_dir(dir)?;
    let path = tmp.path().join("embudo.db");
    if let Some(size) = spec.page_size {
        // The page size is fixed when the first table is made: set it on the empty file.
        let conn = rusqlite::Connection::open(&path)?;
        conn.pragma_update(None, "page_size", size)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    // The store creates the schema (migrations) and is closed again before the loop.
    drop(
        embudo_store_sqlite::SqliteStore::open(&path)
            .context("creating the schema with SqliteStore::open")?,
    );
    let verified = verify_rows(generator, tmp.path())?;
    eprintln!("  verified: the loop writes the store's rows, column for column ({verified} messages compared)");
    let mut conn = open_writer(
        &path,
        &spec.synchronous,
        spec.checkpoint_in_writer.unwrap_or(0),
    )?;
    for index in &spec.drop_indexes {
        conn.execute_batch(&format!("DROP INDEX \"{}\"", index.replace('"', "")))?;
    }

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checkpointer = spec.checkpoint_in_writer.is_none().then(|| {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || -> Result<()> {
            let conn = rusqlite::Connection::open(&path)?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                // PASSIVE: copies what it can without waiting for (or blocking) the writer.
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            }
            Ok(())
        })
    });
    let mark = crate::sys::CpuMark::now(None);
    let mut result = LimitResult::default();
    let mut json_bytes = 0u64;
    let mut written_bytes = 0u64;
    let mut next = 0u64;
    let mut last_progress = Instant::now();
    while result.seconds < spec.duration.as_secs_f64() {
        let prepared = Instant::now();
        let batch = rows(
            generator,
            next,
            spec.rows_per_transaction,
            spec.context_as_sent,
        )?;
        next += spec.rows_per_transaction;
        json_bytes += batch
            .iter()
            .map(|r| (r.properties.len() + r.traits.len() + r.context.len()) as u64)
            .sum::<u64>();
        result.prepare_seconds += prepared.elapsed().as_secs_f64();

        let cpu = crate::sys::process_cpu();
        let written = crate::sys::written_bytes();
        let started = Instant::now();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(INSERT_EVENT)?;
            for r in &batch {
                let changed = r.insert(&mut insert)?;
                result.rows += changed as u64;
            }
        }
        tx.commit()?;
        result.seconds += started.elapsed().as_secs_f64();
        result.cpu_seconds += crate::sys::process_cpu() - cpu;
        written_bytes += crate::sys::written_bytes().saturating_sub(written);
        result.transactions += 1;
        if last_progress.elapsed() >= spec.progress {
            eprintln!(
                "  {:>5.1} s in transactions  {:>10} rows  {:>9.0} rows/s",
                result.seconds,
                result.rows,
                result.rows_per_second()
            );
            last_progress = Instant::now();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(thread) = checkpointer {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("the checkpointer panicked"))??;
    }
    let stored: i64 = conn.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
    ensure!(
        stored as u64 == result.rows,
        "the table holds {stored} rows, {} were inserted",
        result.rows
    );
    ensure!(
        result.rows == next,
        "{} of {next} rows were inserted (repeated message ids?)",
        result.rows
    );
    let usage = mark.since();
    result.others_cores = usage.others() / usage.wall;
    let rows = result.rows.max(1) as f64;
    result.json_bytes_per_row = json_bytes as f64 / rows;
    result.written_bytes_per_row = written_bytes as f64 / rows;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    result.file_bytes_per_row = (pages * page_size) as f64 / rows;
    Ok(result)
}
