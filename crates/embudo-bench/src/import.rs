//! The importer, as a user runs it: the release `embudo` binary under `/usr/bin/time -v`
//! (wall time and peak resident memory), into a fresh SQLite directory or a fresh PostgreSQL
//! database, followed by a count of what was stored.

use crate::server::{fresh_postgres_database, temp_dir, Backend};
use anyhow::{bail, Context, Result};
use embudo_store::Store;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportSpec {
    /// The `embudo` binary.
    pub embudo: PathBuf,
    /// The importer's format name.
    pub format: String,
    /// The file.
    pub file: PathBuf,
}

/// What one import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportResult {
    /// The command run (with a placeholder for the temporary directory and database).
    pub command: String,
    /// Whether `embudo import` exited with status 0.
    pub success: bool,
    /// The exit status `time` reported.
    pub exit_status: i32,
    /// Wall seconds.
    pub wall_seconds: f64,
    /// User CPU seconds.
    pub user_seconds: f64,
    /// System CPU seconds.
    pub system_seconds: f64,
    /// Peak resident memory, in MiB.
    pub max_rss_mib: f64,
    /// The last lines `embudo` printed (its report, or its error).
    pub output_tail: String,
    /// Rows stored afterwards, when the store could be opened.
    pub counts: Option<String>,
}

fn time_field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
}

/// `h:mm:ss` or `m:ss.ss` as seconds.
fn clock_seconds(text: &str) -> f64 {
    text.split(':').fold(0.0, |acc, part| {
        acc * 60.0 + part.parse::<f64>().unwrap_or(0.0)
    })
}

/// Runs one import into a fresh store of `backend`.
pub fn run(
    spec: &ImportSpec,
    backend: Backend,
    dir: Option<&Path>,
    rt: &tokio::runtime::Runtime,
) -> Result<ImportResult> {
    if !Path::new("/usr/bin/time").exists() {
        bail!("/usr/bin/time is missing (apt-get install time)");
    }
    let data = temp_dir(dir)?;
    let (url, _guard) = match backend {
        Backend::Sqlite => (None, None),
        Backend::Postgres => {
            let (url, guard) = rt.block_on(fresh_postgres_database())?;
            (Some(url), Some(guard))
        }
    };
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-v")
        .arg(&spec.embudo)
        .arg("--data-dir")
        .arg(data.path());
    let mut shown = format!(
        "/usr/bin/time -v {} --data-dir <tmp>",
        spec.embudo.display()
    );
    if let Some(url) = &url {
        command.arg("--database-url").arg(url);
        shown.push_str(" --database-url <fresh database>");
    }
    command.arg("import").arg(&spec.format).arg(&spec.file);
    shown.push_str(&format!(" import {} {}", spec.format, spec.file.display()));
    command
        .env_remove("DATABASE_URL")
        .env_remove("EMBUDO_CONFIG")
        .env_remove("EMBUDO_DATA_DIR");
    eprintln!("import: {shown}");
    let output = command.output().context("running /usr/bin/time")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // `time -v` appends its report to stderr, after whatever `embudo` wrote there.
    let report_at = stderr
        .find("\tCommand being timed:")
        .unwrap_or(stderr.len());
    let (embudo_err, timing) = stderr.split_at(report_at);
    let exit_status = time_field(timing, "Exit status:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    let tail: Vec<&str> = stdout
        .lines()
        .chain(embudo_err.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let output_tail = tail[tail.len().saturating_sub(25)..].join("\n");

    let counts = if exit_status == 0 {
        rt.block_on(async {
            let store: Box<dyn Store> = match &url {
                None => Box::new(embudo_store_sqlite::SqliteStore::open(
                    &data.path().join("embudo.db"),
                )?),
                Some(url) => Box::new(embudo_store_postgres::PgStore::connect(url).await?),
            };
            let c = store.counts().await?;
            anyhow::Ok(format!(
                "{} orders ({} guest), {} customers, {} products, {} refunds, {} events",
                c.orders, c.guest_orders, c.customers, c.products, c.refunds, c.events
            ))
        })
        .map_err(|e| eprintln!("import: could not count the stored rows: {e:#}"))
        .ok()
    } else {
        None
    };
    Ok(ImportResult {
        command: shown,
        success: exit_status == 0,
        exit_status,
        wall_seconds: time_field(timing, "Elapsed (wall clock) time (h:mm:ss or m:ss):")
            .map_or(0.0, clock_seconds),
        user_seconds: time_field(timing, "User time (seconds):")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        system_seconds: time_field(timing, "System time (seconds):")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        max_rss_mib: time_field(timing, "Maximum resident set size (kbytes):")
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0,
        output_tail,
        counts,
    })
}
