//! `embudo-bench`: Embudo's ingestion benchmarks, each figure measured together with the limit
//! it is compared with.
//!
//! - `batch`: `POST /v1/batch` from concurrent clients, batches of realistic Segment track
//!   messages, into an in-process server over a fresh SQLite or PostgreSQL store;
//! - `single`: `POST /v1/track`, one message per request, from many keep-alive clients;
//! - `limit`: the bare SQLite loop inserting the same rows, the ceiling for both;
//! - `all`: the three in sequence (and PostgreSQL when asked), as a Markdown table with each
//!   figure's ratio to the limit measured in the same round;
//! - `stages`: the hot path taken apart (generate, parse, effects, `Store::apply`, HTTP alone);
//! - `import`: `embudo import` under `/usr/bin/time -v`.
//!
//! Every HTTP run ends with a check that the store holds exactly the messages the server
//! acknowledged: a benchmark that loses data measures nothing.
//!
//! Options marked "an experiment" (`--null-store`, `limit --background-checkpoint`,
//! `--page-size`, `--context-as-sent`, `--drop-index`, the `mimalloc` feature…) change what is
//! measured in order to size a possible change; the figures are taken without them.
//!
//! Build with `cargo build --release -p embudo-bench`; see BENCHMARKS.md for the figures.

mod analytics;
mod client;
mod gen;
mod import;
mod limit;
mod load;
mod null_store;
mod segments;
mod server;
mod stages;
mod sys;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use gen::Generator;
use load::{LoadResult, LoadSpec};
use server::{commit_stats, Backend, CommitStats, ServerOptions};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use sys::{Machine, CLIENT_THREADS};
use tokio::runtime::Runtime;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator this build uses, for the record.
const ALLOCATOR_NAME: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "glibc malloc"
};

#[derive(Debug, Parser)]
#[command(
    name = "embudo-bench",
    about = "Embudo's ingestion benchmarks (release builds only mean anything)"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Args)]
struct Common {
    /// How long each measurement runs, in seconds.
    #[arg(long, global = true, default_value_t = 20.0)]
    duration: f64,
    /// Seed of the generated messages.
    #[arg(long, global = true, default_value_t = 42)]
    seed: u64,
    /// Distinct visitors in the generated messages.
    #[arg(long, global = true, default_value_t = 300)]
    visitors: usize,
    /// Percentage of visitors who are logged in (their messages carry a userId too).
    #[arg(long, global = true, default_value_t = 25)]
    identified_percent: u64,
    /// Distinct products in the generated messages.
    #[arg(long, global = true, default_value_t = 500)]
    products: usize,
    /// Where temporary SQLite files go (default: the system's temporary directory).
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    /// Worker threads of the load generator's runtime (the server gets one per core).
    #[arg(long, global = true, default_value_t = 1)]
    client_threads: usize,
    /// Seconds between progress lines.
    #[arg(long, global = true, default_value_t = 5.0)]
    progress: f64,
    /// Also write every result as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Logged-in visitors are the customers of a generated shop (`C100001`…), for loads on a
    /// `--base` store made by `embudo generate` or the analytics benchmark.
    #[arg(long, global = true)]
    shop_users: bool,
}

#[derive(Debug, Clone, Args)]
struct BatchArgs {
    /// The store behind the server.
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Messages per batch.
    #[arg(long, default_value_t = 1000)]
    batch_size: u64,
    /// The server's batch body limit, in bytes (Embudo's default, 500 KB, is too small for
    /// 1,000 messages of about 1 KB).
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_batch_bytes: usize,
    /// Answer `Store::apply` without writing (an experiment: the server without its database).
    #[arg(long)]
    null_store: bool,
    /// Committer transactions in flight, instead of what `embudo serve` uses for the backend
    /// (an experiment).
    #[arg(long)]
    writers: Option<usize>,
    /// Meanwhile, ask the in-memory analytics for the dashboard set every this many
    /// milliseconds (each time catching up with what was ingested), as a dashboard left open.
    #[arg(long)]
    dashboard_every: Option<u64>,
    /// Start from a copy of this SQLite store (a filled shop) instead of an empty one.
    #[arg(long)]
    base: Option<PathBuf>,
    /// Run without the segment worker (`serve` runs it).
    #[arg(long)]
    no_segment_worker: bool,
}

#[derive(Debug, Clone, Args)]
struct SingleArgs {
    /// The store behind the server.
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: Backend,
    /// Concurrent keep-alive clients, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Answer `Store::apply` without writing (an experiment: the server without its database).
    #[arg(long)]
    null_store: bool,
    /// Committer transactions in flight, instead of what `embudo serve` uses for the backend
    /// (an experiment).
    #[arg(long)]
    writers: Option<usize>,
    /// Meanwhile, ask the in-memory analytics for the dashboard set every this many
    /// milliseconds (each time catching up with what was ingested), as a dashboard left open.
    #[arg(long)]
    dashboard_every: Option<u64>,
    /// Start from a copy of this SQLite store (a filled shop) instead of an empty one.
    #[arg(long)]
    base: Option<PathBuf>,
    /// Run without the segment worker (`serve` runs it).
    #[arg(long)]
    no_segment_worker: bool,
}

#[derive(Debug, Clone, Args)]
struct LimitArgs {
    /// Rows per transaction.
    #[arg(long, default_value_t = 10_000)]
    rows_per_transaction: u64,
    /// SQLite's `synchronous` (FULL is the figure; OFF shows what the fsyncs cost).
    #[arg(long, default_value = "FULL", value_parser = ["FULL", "NORMAL", "OFF"])]
    synchronous: String,
    /// Write `context` as sent rather than as the store encodes it (an experiment).
    #[arg(long)]
    context_as_sent: bool,
    /// A page size other than SQLite's default of 4096 (an experiment).
    #[arg(long)]
    page_size: Option<u32>,
    /// Drop this index of `events` first (an experiment; repeatable).
    #[arg(long = "drop-index")]
    drop_indexes: Vec<String>,
    /// Checkpoint in the writer's commits every this many pages (`wal_autocheckpoint`), as
    /// the store did before it had a checkpointer thread (an experiment).
    #[arg(long)]
    checkpoint_in_writer: Option<u32>,
}

impl LimitArgs {
    /// The limit as the figures use it.
    fn standard(rows_per_transaction: u64) -> Self {
        Self {
            rows_per_transaction,
            synchronous: "FULL".into(),
            context_as_sent: false,
            page_size: None,
            drop_indexes: Vec::new(),
            checkpoint_in_writer: None,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// `POST /v1/batch` with concurrent clients into an in-process server.
    Batch(BatchArgs),
    /// `POST /v1/track`, one message per request, with many keep-alive clients.
    Single(SingleArgs),
    /// The bare SQLite loop inserting the same rows (the ceiling).
    Limit(LimitArgs),
    /// limit, batch and single in sequence (per backend), as a Markdown table.
    All {
        /// Backends to run batch and single against (the limit is SQLite's).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite")]
        backends: Vec<Backend>,
        /// Rounds; each has its own limit measurement.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        /// Clients of the batch benchmark.
        #[arg(long, default_value_t = 8)]
        batch_clients: usize,
        /// Messages per batch.
        #[arg(long, default_value_t = 1000)]
        batch_size: u64,
        /// Clients of the single-message benchmark.
        #[arg(long, default_value_t = 64)]
        single_clients: usize,
        /// Rows per transaction of the limit.
        #[arg(long, default_value_t = 10_000)]
        rows_per_transaction: u64,
        /// Also measure the limit with transactions this small, the size of the groups the
        /// committer forms from 64 single-message clients, as a second peer for `single`
        /// (0: skip).
        #[arg(long, default_value_t = 32)]
        small_transaction_rows: u64,
    },
    /// The hot path taken apart: generate, parse, effects, Store::apply, HTTP alone.
    Stages {
        /// Messages to parse, decide and apply.
        #[arg(long, default_value_t = 200_000)]
        messages: u64,
        /// Group sizes for Store::apply.
        #[arg(long, value_delimiter = ',', default_value = "1000,64")]
        apply_groups: Vec<u64>,
        /// Clients of the HTTP-only batch run.
        #[arg(long, default_value_t = 8)]
        batch_clients: usize,
        /// Messages per batch.
        #[arg(long, default_value_t = 1000)]
        batch_size: u64,
        /// Clients of the HTTP-only single-message run.
        #[arg(long, default_value_t = 64)]
        single_clients: usize,
    },
    /// Analytics speed: a generated shop, the dashboard set over 90 days and a 6-step funnel
    /// over all events, with DuckDB as the peer.
    Analytics {
        /// The store.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: Backend,
        /// Known customers of the generated shop (10,000 × 365 days ≈ 1 M events).
        #[arg(long, default_value_t = 10_000)]
        customers: u32,
        /// Days of history.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// The last day of history.
        #[arg(long, default_value = "2026-06-30")]
        end: chrono::NaiveDate,
        /// Timed repetitions of each query (after one warm-up).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// A Python with the `duckdb` package (for the peer).
        #[arg(long)]
        python: Option<PathBuf>,
        /// SQLite: keep the database at this path, and reuse it when it already holds events.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Stores a set of segments in a SQLite shop and times the full evaluation, the scores job
    /// and a worker's batch (changes the file: use a copy).
    SegmentsSetup {
        /// The SQLite store (a filled shop).
        #[arg(long)]
        db: PathBuf,
        /// How many segments.
        #[arg(long, default_value_t = 100)]
        count: usize,
    },
    /// `embudo import` under /usr/bin/time -v.
    Import {
        /// The store to import into.
        #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite")]
        backends: Vec<Backend>,
        /// The release `embudo` binary.
        #[arg(long, default_value = "target/release/embudo")]
        embudo: PathBuf,
        /// The importer's format.
        #[arg(long, default_value = "online-retail")]
        format: String,
        /// The file to import.
        #[arg(
            long,
            default_value = "../shared/data/online_retail_ii/online_retail_II_2009_2010.csv"
        )]
        file: PathBuf,
    },
}

/// The two runtimes: the server's (one worker per core, like `embudo serve`) and the load
/// generator's (named apart so its CPU time can be told from the server's).
struct Runtimes {
    server: Runtime,
    client: Runtime,
}

impl Runtimes {
    fn new(common: &Common) -> Result<Self> {
        let client = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(common.client_threads.max(1))
            .thread_name(CLIENT_THREADS)
            .enable_all()
            .build()
            .context("starting the client runtime")?;
        Ok(Self {
            server: server::server_runtime()?,
            client,
        })
    }
}

impl ServerOptions {
    /// The server as the figures use it.
    fn standard(common: &Common) -> Self {
        Self {
            max_batch_bytes: 8 * 1024 * 1024,
            dir: common.dir.clone(),
            null_store: false,
            writers: None,
            dashboard_every: None,
            base: None,
            segment_worker: true,
        }
    }
}

/// One HTTP benchmark's outcome.
#[derive(Debug, Clone, serde::Serialize)]
struct HttpRun {
    figure: String,
    backend: Backend,
    clients: usize,
    per_request: u64,
    load: LoadResult,
    stored: i64,
    commits: CommitStats,
    /// Committer transactions that could be in flight.
    writers: usize,
    /// Empty when the store holds exactly the acknowledged messages and nothing failed.
    problems: Vec<String>,
}

impl HttpRun {
    fn check(&self) -> String {
        if self.problems.is_empty() {
            format!(
                "ok: {} acknowledged = {} stored",
                thousands(self.load.accepted as f64),
                thousands(self.stored as f64)
            )
        } else {
            format!("FAILED: {}", self.problems.join("; "))
        }
    }

    fn print(&self) {
        let l = &self.load;
        let what = if self.per_request > 1 {
            format!(
                "{} events/s ({:.1} requests/s of {})",
                thousands(l.events_per_second()),
                l.requests_per_second(),
                self.per_request
            )
        } else {
            format!("{} requests/s", thousands(l.requests_per_second()))
        };
        println!(
            "{} {} ({} clients, {:.1} s): {what}; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            self.figure,
            self.backend.name(),
            self.clients,
            l.seconds,
            l.latency_ms[0],
            l.latency_ms[1],
            l.latency_ms[2],
            l.latency_ms[3]
        );
        println!("  check: {}", self.check());
        let cpu = &l.cpu;
        let events = l.accepted.max(1) as f64;
        let database = if cpu.database > 0.0 {
            format!(
                ", PostgreSQL {:.2} cores ({:.1} µs/message)",
                cpu.database / cpu.wall,
                cpu.database * 1e6 / events
            )
        } else {
            String::new()
        };
        println!(
            "  CPU: server {:.2} cores ({:.1} µs/message){database}, load generator {:.2} cores, other processes {:.2} cores; machine {:.0}% busy",
            cpu.server() / cpu.wall,
            cpu.server() * 1e6 / events,
            cpu.client / cpu.wall,
            cpu.others() / cpu.wall,
            100.0 * cpu.machine_busy / cpu.machine_total.max(1e-9)
        );
        let c = &self.commits;
        if c.commits > 0 {
            let writers = self.writers;
            println!(
                "  committer: {} transactions of {:.0} messages on average; Store::apply running {:.0}% of the time (summed over {writers} writer(s)), {:.2} µs/message",
                c.commits,
                c.inserted as f64 / c.commits as f64,
                100.0 * c.apply_seconds / l.seconds,
                c.apply_seconds * 1e6 / c.inserted.max(1) as f64
            );
        }
        println!(
            "  {:.0} bytes per message on the wire, {:.0} bytes written to storage per message (this process)",
            l.body_bytes as f64 / events,
            cpu.written_bytes as f64 / events
        );
    }
}

/// Runs one HTTP benchmark against a fresh server and checks the store afterwards.
#[allow(clippy::too_many_arguments)] // the figure's parameters, each used once
fn http_run(
    rt: &Runtimes,
    common: &Common,
    figure: &'static str,
    backend: Backend,
    path: &'static str,
    clients: usize,
    per_request: u64,
    options: ServerOptions,
) -> Result<HttpRun> {
    eprintln!(
        "{figure} {}: starting a server over a fresh store",
        backend.name()
    );
    let null_store = options.null_store;
    let writers = server::committer_config(backend, &options).writers;
    let mut running = server::start(&rt.server, backend, &options)?;
    let mut generator = Generator::new(
        common.seed,
        common.visitors,
        common.identified_percent,
        common.products,
    );
    if common.shop_users {
        generator = generator.shop_user_ids();
    }
    let generator = Arc::new(generator);
    let spec = LoadSpec {
        path,
        clients,
        per_request,
        duration: Duration::from_secs_f64(common.duration),
        progress: Duration::from_secs_f64(common.progress),
        postmaster: match backend {
            Backend::Sqlite => None,
            Backend::Postgres => std::env::var(embudo_store_postgres::testing::URL_VAR)
                .ok()
                .and_then(|url| sys::postmaster_of(&url)),
        },
    };
    eprintln!(
        "{figure} {}: {clients} clients, {per_request} message(s) per request, {:.0} s",
        backend.name(),
        common.duration
    );
    // A store copied from a filled shop starts with events of its own.
    let before = rt
        .server
        .block_on(running.fresh.store.counts())
        .context("counting the events already stored")?
        .events;
    let dashboards = options.dashboard_every.map(|every| {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let store = running.fresh.store.clone();
        let task = rt
            .server
            .spawn(analytics::dashboard_loop(store, every, stopped));
        (stop, task)
    });
    let outcome = rt.client.block_on(load::run(
        running.addr,
        &running.secret,
        generator,
        &spec,
        0,
    ));
    if let Some((stop, task)) = dashboards {
        let _ = stop.send(true);
        let stats = rt.server.block_on(task)??;
        eprintln!("{figure} {}: meanwhile {stats}", backend.name());
    }
    let metrics = rt.client.block_on(async {
        let mut conn = client::Connection::connect(running.addr).await?;
        conn.get("/metrics").await
    });
    // Stop (and wait for every accepted message to be committed) before counting.
    let mut counts = running.stop(&rt.server)?;
    counts.events -= before;
    let load = outcome?;
    let commits = metrics
        .map(|(_, text)| commit_stats(&text))
        .unwrap_or_default();
    let mut problems = Vec::new();
    if counts.events as u64 != load.accepted {
        problems.push(format!(
            "the server acknowledged {} messages but the store holds {}",
            load.accepted, counts.events
        ));
    }
    if load.duplicates > 0 || load.rejected > 0 {
        problems.push(format!(
            "{} duplicates and {} rejected (all messages are new and valid)",
            load.duplicates, load.rejected
        ));
    }
    if load.failures > 0 {
        problems.push(format!(
            "{} failed requests, e.g. {}",
            load.failures,
            load.failure_sample.clone().unwrap_or_default()
        ));
    }
    if load.requests == 0 {
        problems.push("no request succeeded".into());
    }
    Ok(HttpRun {
        figure: if null_store {
            format!("{figure} (Store::apply a no-op)")
        } else {
            figure.to_string()
        },
        backend,
        clients,
        per_request,
        load,
        stored: counts.events,
        commits,
        writers,
        problems,
    })
}

fn limit_run(common: &Common, args: &LimitArgs) -> Result<limit::LimitResult> {
    let LimitArgs {
        rows_per_transaction,
        synchronous,
        ..
    } = args;
    let mut variant = String::new();
    if args.context_as_sent {
        variant.push_str(", context as sent");
    }
    if let Some(size) = args.page_size {
        variant.push_str(&format!(", page size {size}"));
    }
    for index in &args.drop_indexes {
        variant.push_str(&format!(", without {index}"));
    }
    if let Some(pages) = args.checkpoint_in_writer {
        variant.push_str(&format!(", checkpoints in the writer every {pages} pages"));
    }
    eprintln!(
        "limit: bare SQLite inserts, {rows_per_transaction} rows per transaction, synchronous = {synchronous}, {:.0} s in transactions",
        common.duration
    );
    let generator = Generator::new(
        common.seed,
        common.visitors,
        common.identified_percent,
        common.products,
    );
    let spec = limit::LimitSpec {
        rows_per_transaction: *rows_per_transaction,
        duration: Duration::from_secs_f64(common.duration),
        progress: Duration::from_secs_f64(common.progress),
        synchronous: synchronous.to_string(),
        context_as_sent: args.context_as_sent,
        page_size: args.page_size,
        drop_indexes: args.drop_indexes.clone(),
        checkpoint_in_writer: args.checkpoint_in_writer,
    };
    let result = limit::run(&generator, &spec, common.dir.as_deref())?;
    println!(
        "limit sqlite ({rows_per_transaction} rows per transaction, synchronous = {synchronous}{variant}): {} rows/s ({} rows in {} transactions, {:.1} s in transactions)",
        thousands(result.rows_per_second()),
        thousands(result.rows as f64),
        result.transactions,
        result.seconds,
    );
    println!(
        "  CPU in transactions {:.1} µs/row ({:.2} cores); {:.0} bytes of JSON per row, {:.0} bytes of file per row, {:.0} bytes written per row",
        result.cpu_seconds * 1e6 / result.rows.max(1) as f64,
        result.cpu_seconds / result.seconds,
        result.json_bytes_per_row,
        result.file_bytes_per_row,
        result.written_bytes_per_row
    );
    Ok(result)
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn write_json(path: &Option<PathBuf>, value: serde_json::Value) -> Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_string_pretty(&value)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let common = cli.common;
    let machine = Machine::read();
    eprintln!("machine: {machine}; allocator: {ALLOCATOR_NAME}");
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; only release figures mean anything");
    }
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let profile = format!("{profile} profile, {ALLOCATOR_NAME}");
    match cli.command {
        Command::Batch(args) => {
            let rt = Runtimes::new(&common)?;
            let run = http_run(
                &rt,
                &common,
                "batch",
                args.backend,
                "/v1/batch",
                args.clients,
                args.batch_size,
                ServerOptions {
                    max_batch_bytes: args.max_batch_bytes,
                    dir: common.dir.clone(),
                    null_store: args.null_store,
                    writers: args.writers,
                    dashboard_every: args.dashboard_every,
                    base: args.base.clone(),
                    segment_worker: !args.no_segment_worker,
                },
            )?;
            run.print();
            write_json(
                &common.json,
                serde_json::json!({"machine": machine, "profile": profile, "batch": run}),
            )?;
            anyhow::ensure!(run.problems.is_empty(), "the run failed its check");
        }
        Command::Single(args) => {
            let rt = Runtimes::new(&common)?;
            let run = http_run(
                &rt,
                &common,
                "single",
                args.backend,
                "/v1/track",
                args.clients,
                1,
                ServerOptions {
                    max_batch_bytes: 8 * 1024 * 1024,
                    dir: common.dir.clone(),
                    null_store: args.null_store,
                    writers: args.writers,
                    dashboard_every: args.dashboard_every,
                    base: args.base.clone(),
                    segment_worker: !args.no_segment_worker,
                },
            )?;
            run.print();
            write_json(
                &common.json,
                serde_json::json!({"machine": machine, "profile": profile, "single": run}),
            )?;
            anyhow::ensure!(run.problems.is_empty(), "the run failed its check");
        }
        Command::Limit(args) => {
            let result = limit_run(&common, &args)?;
            write_json(
                &common.json,
                serde_json::json!({"machine": machine, "profile": profile, "limit": result}),
            )?;
        }
        Command::All {
            backends,
            runs,
            batch_clients,
            batch_size,
            single_clients,
            rows_per_transaction,
            small_transaction_rows,
        } => {
            let rt = Runtimes::new(&common)?;
            let mut rows = Vec::new();
            let mut records = Vec::new();
            let mut failed = false;
            for round in 1..=runs.max(1) {
                eprintln!("=== round {round} ===");
                let limit = limit_run(&common, &LimitArgs::standard(rows_per_transaction))?;
                let ceiling = limit.rows_per_second();
                rows.push(format!(
                    "| {round} | limit: bare SQLite inserts, {} rows/transaction | sqlite | **{} rows/s** | | | {:.1} µs | {:.2} | | {} rows |",
                    thousands(rows_per_transaction as f64),
                    thousands(ceiling),
                    limit.cpu_seconds * 1e6 / limit.rows.max(1) as f64,
                    limit.others_cores,
                    thousands(limit.rows as f64)
                ));
                records.push(serde_json::json!({"round": round, "limit": limit}));
                let small_ceiling = if small_transaction_rows > 0 {
                    let small = limit_run(&common, &LimitArgs::standard(small_transaction_rows))?;
                    rows.push(format!(
                        "| {round} | limit: bare SQLite inserts, {} rows/transaction | sqlite | **{} rows/s** | | | {:.1} µs | {:.2} | | {} rows |",
                        small_transaction_rows,
                        thousands(small.rows_per_second()),
                        small.cpu_seconds * 1e6 / small.rows.max(1) as f64,
                        small.others_cores,
                        thousands(small.rows as f64)
                    ));
                    records.push(serde_json::json!({"round": round, "small_limit": small}));
                    Some(small.rows_per_second())
                } else {
                    None
                };
                for &backend in &backends {
                    let batch = http_run(
                        &rt,
                        &common,
                        "batch",
                        backend,
                        "/v1/batch",
                        batch_clients,
                        batch_size,
                        ServerOptions::standard(&common),
                    )?;
                    batch.print();
                    let single = http_run(
                        &rt,
                        &common,
                        "single",
                        backend,
                        "/v1/track",
                        single_clients,
                        1,
                        ServerOptions::standard(&common),
                    )?;
                    single.print();
                    for run in [&batch, &single] {
                        failed |= !run.problems.is_empty();
                        let (figure, value) = if run.per_request > 1 {
                            (
                                format!(
                                    "batch: {} clients × {} messages",
                                    run.clients,
                                    thousands(run.per_request as f64)
                                ),
                                run.load.events_per_second(),
                            )
                        } else {
                            (
                                format!("single: {} clients, 1 message/request", run.clients),
                                run.load.requests_per_second(),
                            )
                        };
                        let unit = if run.per_request > 1 {
                            "events/s"
                        } else {
                            "requests/s"
                        };
                        let mut ratio = format!("{:.2}", value / ceiling);
                        if let (1, Some(small)) = (run.per_request, small_ceiling) {
                            ratio.push_str(&format!(
                                " ({:.2} to the {small_transaction_rows}-row limit)",
                                value / small
                            ));
                        }
                        rows.push(format!(
                            "| {round} | {figure} | {} | **{} {unit}** | {:.1} ms | {:.1} ms | {:.1} µs | {:.2} | {ratio} | {} |",
                            backend.name(),
                            thousands(value),
                            run.load.latency_ms[0],
                            run.load.latency_ms[2],
                            run.load.cpu.server() * 1e6 / run.load.accepted.max(1) as f64,
                            run.load.cpu.others() / run.load.cpu.wall,
                            run.check()
                        ));
                        records.push(serde_json::json!({"round": round, "run": run, "limit_rows_per_second": ceiling}));
                    }
                }
            }
            println!();
            println!(
                "Machine: {machine}; {profile}; {:.0} s per measurement.",
                common.duration
            );
            println!();
            println!(
                "| Round | Figure | Backend | Result | p50 | p99 | CPU per message (server; limit: in transactions) | Other processes (cores) | Ratio to the round's limit | Check |"
            );
            println!("|---|---|---|---|---|---|---|---|---|---|");
            for row in rows {
                println!("{row}");
            }
            write_json(
                &common.json,
                serde_json::json!({"machine": machine, "profile": profile, "results": records}),
            )?;
            anyhow::ensure!(!failed, "a run failed its check");
        }
        Command::Stages {
            messages,
            apply_groups,
            batch_clients,
            batch_size,
            single_clients,
        } => {
            let rt = Runtimes::new(&common)?;
            let generator = Arc::new(Generator::new(
                common.seed,
                common.visitors,
                common.identified_percent,
                common.products,
            ));
            let spec = stages::StagesSpec {
                messages,
                apply_groups,
                batch_clients,
                batch_size,
                single_clients,
                http_duration: Duration::from_secs_f64(common.duration),
            };
            let r = stages::run(
                generator,
                &spec,
                common.dir.as_deref(),
                &rt.server,
                &rt.client,
            )?;
            println!(
                "stages, per message ({} messages of {:.0} bytes on average), one thread:",
                thousands(r.messages as f64),
                r.message_bytes
            );
            println!("  generate (load generator)  {:>7.2} µs", r.generate_us);
            println!("  parse                      {:>7.2} µs", r.parse_us);
            println!("  effects (and freeing)      {:>7.2} µs", r.effects_us);
            for a in &r.apply {
                println!(
                    "  Store::apply, groups of {:>5}  {:>7.2} µs wall, {:>7.2} µs CPU  ({} messages/s)",
                    a.group,
                    a.wall_us,
                    a.cpu_us,
                    thousands(1e6 / a.wall_us)
                );
            }
            let w = &r.what_if;
            println!("  what-ifs:");
            println!("    the store's JSON serialization of properties, traits, context  {:>7.2} µs (on the writer thread)", w.store_serialize_us);
            println!(
                "    stored context column {:.0} bytes, context as sent {:.0} bytes",
                w.context_stored_bytes, w.context_sent_bytes
            );
            println!(
                "    serde_json::Value of one message (the DOM parse_one builds)   {:>7.2} µs",
                w.dom_parse_us
            );
            println!(
                "    borrowed struct with raw properties/context (+ context fields) {:>7.2} µs",
                w.lean_parse_us
            );
            let b = &r.http_batch;
            println!(
                "  HTTP only, {} clients × {} messages: {} messages/s ({:.1} requests/s), p50 {:.2} ms, p99 {:.2} ms; server {:.2} cores, load generator {:.2} cores",
                batch_clients,
                batch_size,
                thousands(b.requests_per_second() * batch_size as f64),
                b.requests_per_second(),
                b.latency_ms[0],
                b.latency_ms[2],
                b.cpu.server() / b.cpu.wall,
                b.cpu.client / b.cpu.wall
            );
            let s = &r.http_single;
            println!(
                "  HTTP only, {} clients × 1 message: {} requests/s, p50 {:.2} ms, p99 {:.2} ms; server {:.2} cores ({:.1} µs/request), load generator {:.2} cores ({:.1} µs/request)",
                single_clients,
                thousands(s.requests_per_second()),
                s.latency_ms[0],
                s.latency_ms[2],
                s.cpu.server() / s.cpu.wall,
                s.cpu.server() * 1e6 / s.requests.max(1) as f64,
                s.cpu.client / s.cpu.wall,
                s.cpu.client * 1e6 / s.requests.max(1) as f64
            );
            write_json(
                &common.json,
                serde_json::json!({"machine": machine, "profile": profile, "stages": r}),
            )?;
        }
        Command::SegmentsSetup { db, count } => {
            let rt = server::server_runtime()?;
            let out = rt.block_on(async {
                let store: Arc<dyn embudo_store::Store> =
                    Arc::new(embudo_store_sqlite::SqliteStore::open(&db)?);
                segments::setup(store, count).await
            })?;
            println!("{machine}");
            write_json(
                &common.json,
                serde_json::json!({"machine": machine, "segments": out}),
            )?;
        }
        Command::Analytics {
            backend,
            customers,
            days,
            end,
            runs,
            python,
            keep,
        } => {
            let rt = server::server_runtime()?;
            let spec = analytics::Spec {
                customers,
                days,
                seed: common.seed,
                end,
                runs,
                python,
            };
            let out = rt.block_on(async {
                let (store, _fresh) = match (&keep, backend) {
                    (Some(path), Backend::Sqlite) => {
                        let store: std::sync::Arc<dyn embudo_store::Store> =
                            std::sync::Arc::new(embudo_store_sqlite::SqliteStore::open(path)?);
                        (store, None)
                    }
                    _ => {
                        let fresh = server::fresh_store(backend, common.dir.as_deref()).await?;
                        (fresh.store.clone(), Some(fresh))
                    }
                };
                let mut fill = serde_json::Value::Null;
                if store.counts().await?.events == 0 {
                    eprintln!("analytics: generating {customers} customers × {days} days into {}", backend.name());
                    let (events, seconds) = analytics::fill(store.as_ref(), &spec).await?;
                    println!(
                        "analytics {}: generated and stored {events} events in {seconds:.1} s ({:.0} events/s through parse, effects and Store::apply)",
                        backend.name(),
                        events as f64 / seconds
                    );
                    fill = serde_json::json!({"events": events, "seconds": seconds});
                }
                let mut out = analytics::measure(Arc::clone(&store), &spec, backend.name()).await?;
                out["fill"] = fill;
                anyhow::Ok(out)
            })?;
            println!("{machine}");
            write_json(
                &common.json,
                serde_json::json!({"machine": machine, "profile": profile, "analytics": out}),
            )?;
        }
        Command::Import {
            backends,
            embudo,
            format,
            file,
        } => {
            let rt = server::server_runtime()?;
            let mut results = Vec::new();
            for backend in backends {
                let spec = import::ImportSpec {
                    embudo: embudo.clone(),
                    format: format.clone(),
                    file: file.clone(),
                };
                let r = import::run(&spec, backend, common.dir.as_deref(), &rt)?;
                println!(
                    "import {} into {}: {}; wall {:.1} s, user {:.1} s, system {:.1} s, peak RSS {:.0} MiB",
                    format,
                    backend.name(),
                    if r.success { "ok".to_string() } else { format!("FAILED (exit {})", r.exit_status) },
                    r.wall_seconds,
                    r.user_seconds,
                    r.system_seconds,
                    r.max_rss_mib
                );
                println!("  command: {}", r.command);
                if let Some(counts) = &r.counts {
                    println!("  stored: {counts}");
                }
                // The report's summary (or the error); the JSON output has the rest.
                let lines: Vec<&str> = r.output_tail.lines().collect();
                let shown = if r.success {
                    &lines[..lines.len().min(8)]
                } else {
                    &lines[lines.len().saturating_sub(8)..]
                };
                let summary: Vec<String> = shown.iter().map(|l| format!("    {l}")).collect();
                println!("  output:\n{}", summary.join("\n"));
                results.push(serde_json::json!({"backend": backend, "result": r}));
            }
            write_json(
                &common.json,
                serde_json::json!({"machine": machine, "profile": profile, "import": results}),
            )?;
        }
    }
    Ok(())
}
