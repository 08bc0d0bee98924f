//! `embudo import <format> <path>…`: a progress bar while reading, then the report of what was
//! imported and what was skipped and why.

use crate::settings::Settings;
use anyhow::Context;
use clap::Args;
use embudo_import::{Format, ImportOptions, Progress};
use indicatif::ProgressBar;
use std::path::PathBuf;

/// Arguments of `embudo import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// online-retail, cdnow, instacart, orders-csv or products-csv.
    #[arg(value_parser = parse_format)]
    format: Format,
    /// Files to read (for instacart, the data set's directory also works).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The time zone of dates written without one (IANA name, e.g. Europe/London).
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// The currency of amounts whose file does not say it (ISO 4217).
    #[arg(long)]
    currency: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_format(text: &str) -> Result<Format, String> {
    text.parse().map_err(|_| {
        format!(
            "unknown format `{text}`; one of: {}",
            Format::names().join(", ")
        )
    })
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn start(&self, total_bytes: u64) {
        self.0.set_length(total_bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Runs `embudo import`.
pub async fn import(settings: &Settings, args: ImportArgs) -> anyhow::Result<()> {
    let timezone: chrono_tz::Tz = args
        .timezone
        .parse()
        .map_err(|_| anyhow::anyhow!("--timezone: `{}` is not an IANA time zone", args.timezone))?;
    let currency = args
        .currency
        .as_deref()
        .map(|c| embudo_core::Currency::parse(c).map_err(|e| anyhow::anyhow!("--currency: {e}")))
        .transpose()?;
    let options = ImportOptions {
        timezone,
        currency,
        ..ImportOptions::default()
    };
    let store = super::open_store(settings).await?;
    let bar = Bar(super::progress_bar(0, "importing"));
    bar.0.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, eta {eta})")
            .expect("static template is valid"),
    );
    let report = embudo_import::import(store.as_ref(), args.format, &args.paths, &options, &bar)
        .await
        .with_context(|| format!("importing {} data", args.format.name()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
