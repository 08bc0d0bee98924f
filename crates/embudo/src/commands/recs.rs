//! `embudo recs …`: product recommendations (`embudo-recs`, `docs/recommendations.md`).
//!
//! - `eval --cutoff DATE [--horizon 90d]` trains on the orders before the cutoff and measures
//!   each source, the blend and popularity on the people who ordered before and after it.

use crate::settings::Settings;
use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use embudo_recs::hybrid::{evaluate_hybrid, EvalReport, HybridConfig, Progress};
use embudo_recs::load::load;
use embudo_recs::serve::RecsConfig;
use embudo_recs::service::{decode, encode, MODEL_KEY};
use indicatif::ProgressBar;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

/// `embudo recs` subcommands.
#[derive(Debug, Subcommand)]
pub enum RecsCommand {
    /// Measure the recommenders offline: train before a cutoff, test on what people bought
    /// after it.
    Eval(EvalArgs),
    /// Train the model on the history (before a day, with --until) and store it; a running
    /// server picks it up.
    Train(TrainArgs),
    /// Write the stored model's top products for every customer with history, as CSV.
    Export(ExportArgs),
}

/// `embudo recs train` arguments.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Train on what happened before this day (00:00 UTC) only [default: everything].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub until: Option<NaiveDate>,
}

/// The formats of `embudo recs export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// `customer_id,rank,product_id,score` with a header.
    Csv,
}

/// `embudo recs export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Products per customer.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub k: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
}

/// How to print a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text.
    Table,
    /// JSON.
    Json,
}

/// `embudo recs eval` arguments.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Train on the orders placed before this day (00:00 UTC); test on the orders from it on.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub cutoff: NaiveDate,
    /// Length of the test period, e.g. `90d` [default: everything after the cutoff].
    #[arg(long, value_name = "DAYS", value_parser = parse_days)]
    pub horizon: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|e| format!("not a date like 2010-09-01 ({e})"))
}

fn parse_days(text: &str) -> Result<u32, String> {
    let bad = || "not a number of days like `90d` (1d to 3650d)".to_string();
    let digits = text.trim().strip_suffix('d').ok_or_else(bad)?;
    match digits.parse::<u32>() {
        Ok(d) if (1..=3650).contains(&d) && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(d),
        _ => Err(bad()),
    }
}

/// Runs `embudo recs …`.
pub async fn recs(settings: &Settings, command: RecsCommand) -> anyhow::Result<()> {
    match command {
        RecsCommand::Eval(args) => eval(settings, args).await,
        RecsCommand::Train(args) => train(settings, args).await,
        RecsCommand::Export(args) => export(settings, args).await,
    }
}

/// Shows training steps on a spinner and keeps their times.
struct Spinner(
    ProgressBar,
    std::sync::Mutex<Vec<(String, std::time::Instant)>>,
);

impl Spinner {
    fn new(bar: ProgressBar) -> Self {
        Spinner(bar, std::sync::Mutex::new(Vec::new()))
    }

    /// Each step's seconds, in order.
    fn times(&self) -> String {
        let steps = self.1.lock().expect("steps lock");
        let mut out = Vec::new();
        for (k, (name, at)) in steps.iter().enumerate() {
            let end = steps
                .get(k + 1)
                .map_or_else(std::time::Instant::now, |s| s.1);
            out.push(format!("{name} {:.1} s", (end - *at).as_secs_f64()));
        }
        out.join(", ")
    }
}

impl Progress for Spinner {
    fn step(&self, name: &str) {
        self.0.set_message(format!("training: {name}"));
        self.1
            .lock()
            .expect("steps lock")
            .push((name.to_string(), std::time::Instant::now()));
    }
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

async fn eval(settings: &Settings, args: EvalArgs) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    let spinner = super::spinner("reading the history");
    let data = load(store.as_ref(), None, &|step| {
        spinner.set_message(format!("reading {step}"))
    })
    .await
    .context("reading the shop's history")?;
    let cutoff = midnight(args.cutoff).timestamp();
    let end = match args.horizon {
        Some(days) => cutoff + i64::from(days) * 86_400,
        None => data
            .interactions
            .baskets
            .last()
            .map_or(cutoff, |b| b.at + 1),
    };
    if !data.interactions.baskets.iter().any(|b| b.at < cutoff) {
        anyhow::bail!("--cutoff {}: no order was placed before it", args.cutoff);
    }
    if !data
        .interactions
        .baskets
        .iter()
        .any(|b| b.at >= cutoff && b.at < end)
    {
        anyhow::bail!(
            "--cutoff {}: no order was placed in the test period after it",
            args.cutoff
        );
    }
    let config = HybridConfig::default();
    let progress = Spinner::new(spinner.clone());
    let report = tokio::task::spawn_blocking(move || {
        evaluate_hybrid(&data.interactions, cutoff, end, &config, &progress)
    })
    .await
    .context("the evaluation stopped")?;
    spinner.finish_and_clear();
    if report.users == 0 {
        anyhow::bail!(
            "--cutoff {}: nobody ordered both before and after it, so there is nothing to test",
            args.cutoff
        );
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => print!("{}", table(&report)),
    }
    Ok(())
}

fn table(report: &EvalReport) -> String {
    let day = |t: i64| {
        DateTime::<Utc>::from_timestamp(t, 0)
            .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "train: orders before {} ({} baskets); test: {} people who ordered in [{}, {}); catalog: {} items",
        day(report.cutoff),
        report.train_baskets,
        report.users,
        day(report.cutoff),
        day(report.end),
        report.catalog
    );
    let _ = writeln!(
        out,
        "{:<10} {:>10} {:>9} {:>7} {:>9}",
        "source", "Recall@20", "NDCG@20", "HR@10", "coverage"
    );
    for r in &report.results {
        let m = &r.metrics;
        let _ = writeln!(
            out,
            "{:<10} {:>10.4} {:>9.4} {:>7.4} {:>9.4}",
            r.source, m.recall_at_20, m.ndcg_at_20, m.hit_rate_at_10, m.coverage
        );
    }
    let weights: Vec<String> = report
        .blend
        .weights
        .iter()
        .map(|(s, w)| format!("{s} {w}"))
        .collect();
    let _ = writeln!(
        out,
        "blend weights (learned on a validation split before the cutoff): {}",
        weights.join(", ")
    );
    if let Some(v) = &report.validation {
        let _ = writeln!(
            out,
            "validation: Recall@20 {:.4}, NDCG@20 {:.4} on {} people",
            v.recall_at_20, v.ndcg_at_20, v.users
        );
    }
    let _ = writeln!(
        out,
        "training: {:.2} s (with the blend search: {:.2} s)",
        report.train_seconds, report.learn_seconds
    );
    out
}

async fn train(settings: &Settings, args: TrainArgs) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    let spinner = super::spinner("training");
    let started = std::time::Instant::now();
    let until = args.until.map(midnight);
    let progress = Arc::new(Spinner::new(spinner.clone()));
    let model = embudo_recs::service::train(
        store.as_ref(),
        until,
        RecsConfig::default(),
        progress.clone(),
    )
    .await
    .context("reading the shop's history")?;
    if model.hybrid.popular.scores.iter().all(|&s| s == 0.0) {
        spinner.finish_and_clear();
        anyhow::bail!(
            "no orders{}: there is nothing to learn from",
            args.until
                .map(|d| format!(" before {d}"))
                .unwrap_or_default()
        );
    }
    spinner.set_message("storing the model");
    let bytes = encode(&model);
    let trained_at = DateTime::from_timestamp(model.trained_at, 0).unwrap_or_else(Utc::now);
    store
        .put_model(MODEL_KEY, trained_at, &bytes)
        .await
        .context("storing the model")?;
    spinner.finish_and_clear();
    println!(
        "trained on {} orders before {}: {} products, {} people, {} bundle rules; {:.1} MB; {:.1} s",
        model.fbt.n_baskets(),
        DateTime::<Utc>::from_timestamp(model.until, 0).map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M UTC").to_string()),
        model.catalog.len(),
        model.people.len(),
        model.fbt.rules().len(),
        bytes.len() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let weights: Vec<String> = model
        .hybrid
        .blend
        .weights
        .iter()
        .map(|(s, w)| format!("{s} {w}"))
        .collect();
    println!("blend: {}", weights.join(", "));
    println!("steps: {}", progress.times());
    if let Some(v) = &model.validation {
        println!(
            "validation ({} people): Recall@20 {:.4}, NDCG@20 {:.4}, HR@10 {:.4}",
            v.users, v.recall_at_20, v.ndcg_at_20, v.hit_rate_at_10
        );
    }
    Ok(())
}

async fn export(settings: &Settings, args: ExportArgs) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    let spinner = super::spinner("reading the model");
    let stored = store
        .model(MODEL_KEY)
        .await
        .context("reading the stored model")?
        .ok_or_else(|| anyhow::anyhow!("no model is stored yet: run `embudo recs train` first"))?;
    let model = decode(&stored.bytes)?;
    // The history the model saw, and nothing after it: no fold-in of later events.
    spinner.set_message("reading the history the model saw");
    let until = DateTime::from_timestamp(model.until, 0);
    let data = load(store.as_ref(), until, &|_| {})
        .await
        .context("reading the shop's history")?;
    spinner.finish_and_clear();
    let k = args.k as usize;
    let rows = tokio::task::spawn_blocking(move || export_rows(&model, &data, k))
        .await
        .context("the export stopped")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        ExportFormat::Csv => {
            writeln!(out, "customer_id,rank,product_id,score")?;
            let mut w = csv::Writer::from_writer(out);
            for (customer, rank, product, score) in rows {
                w.write_record([
                    customer.as_str(),
                    &rank.to_string(),
                    product.as_str(),
                    &format!("{score:.6}"),
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

/// Every customer with history before the model's end, their top `k` (the blend, over the
/// products a placement may show).
fn export_rows(
    model: &embudo_recs::serve::RecsModel,
    data: &embudo_recs::load::ShopData,
    k: usize,
) -> Vec<(String, usize, String, f32)> {
    use rayon::prelude::*;
    let signals = *model.signals();
    let mut by_user: Vec<(
        Vec<&embudo_recs::data::Basket>,
        Vec<&embudo_recs::data::Touch>,
    )> = vec![(Vec::new(), Vec::new()); data.people.len()];
    for b in &data.interactions.baskets {
        if let Some(u) = b.user {
            by_user[u as usize].0.push(b);
        }
    }
    for t in &data.interactions.touches {
        by_user[t.user as usize].1.push(t);
    }
    let people: Vec<(String, u32, usize)> = data
        .people
        .iter()
        .enumerate()
        .filter_map(|(u, key)| Some((key.strip_prefix("c:")?.to_string(), model.person(key)?, u)))
        .filter(|(_, _, u)| !by_user[*u].0.is_empty() || !by_user[*u].1.is_empty())
        .collect();
    let mut rows: Vec<(String, usize, String, f32)> = people
        .par_iter()
        .flat_map_iter(|(customer, model_user, u)| {
            let (baskets, touches) = &by_user[*u];
            let mut profile = embudo_recs::data::Profile::build(
                baskets
                    .iter()
                    .map(|b| embudo_recs::data::Basket {
                        user: Some(*model_user),
                        at: b.at,
                        items: b
                            .items
                            .iter()
                            .filter_map(|&i| model.catalog.get(&data.catalog.item(i).id))
                            .collect(),
                    })
                    .collect::<Vec<_>>()
                    .iter(),
                touches
                    .iter()
                    .filter_map(|t| {
                        Some(embudo_recs::data::Touch {
                            item: model.catalog.get(&data.catalog.item(t.item).id)?,
                            ..**t
                        })
                    })
                    .collect::<Vec<_>>()
                    .iter(),
                &signals,
                model.until,
            );
            profile.user = Some(*model_user);
            let scores = model.hybrid.score(&profile);
            embudo_recs::scorer::top_k(&scores, k, |i| !model.catalog.item(i).recommendable())
                .into_iter()
                .enumerate()
                .map(|(rank, (item, score))| {
                    (
                        customer.clone(),
                        rank + 1,
                        model.catalog.item(item).id.clone(),
                        score,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    rows
}
