//! `embudo segments …` and `embudo scores refresh`: segments and customer scores on the
//! command line, as the API gives them.

use super::report::{render_csv, render_tables, Format, Table};
use crate::settings::Settings;
use anyhow::Context as _;
use clap::Subcommand;
use embudo_intel::{refresh_scores, SegmentEngine, SegmentError};
use embudo_store::PageRequest;
use serde_json::{json, Value};
use std::sync::Arc;

/// `embudo segments` subcommands.
#[derive(Debug, Subcommand)]
pub enum SegmentsCommand {
    /// Every segment with its size.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Create a segment (or give an existing one a new definition) and evaluate every customer.
    Create {
        /// The key: 1 to 64 of a-z, 0-9, `_` and `-`.
        key: String,
        /// The condition (docs/segments.md), e.g. 'orders_count >= 2 and bought(category: "Kitchen")'.
        #[arg(long)]
        expression: String,
        /// A name [default: the key].
        #[arg(long)]
        name: Option<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// One segment.
    Show {
        /// The key.
        key: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// A segment's members, by customer id.
    Members {
        /// The key.
        key: String,
        /// The last customer id of the previous page.
        #[arg(long)]
        after: Option<String>,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// How many customers a condition matches now, with a sample, without saving it.
    Preview {
        /// The condition.
        #[arg(long)]
        expression: String,
        /// How many matching customers to list.
        #[arg(long, default_value_t = 20)]
        sample: usize,
    },
    /// Delete a segment (its members leave it).
    Delete {
        /// The key.
        key: String,
    },
}

/// `embudo scores` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScoresCommand {
    /// Score every customer now (RFM, lifetime value predictions, VIP) and update the segments
    /// that read scores.
    Refresh {
        /// The share of customers in the VIP group (0–1).
        #[arg(long, default_value_t = 0.10)]
        vip_share: f64,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

fn expression_error(err: SegmentError, expression: &str) -> anyhow::Error {
    match err {
        SegmentError::Expression(e) => {
            anyhow::anyhow!("--expression: {e}\n{}", e.render(expression))
        }
        other => anyhow::anyhow!("{other}"),
    }
}

fn print(value: &Value, name: &str, format: Format) -> anyhow::Result<()> {
    let text = match format {
        Format::Json => serde_json::to_string_pretty(value)? + "\n",
        Format::Table | Format::Csv => {
            let rows: Vec<Value> = match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            let mut columns: Vec<String> = Vec::new();
            for row in &rows {
                if let Value::Object(map) = row {
                    for key in map.keys() {
                        if !columns.contains(key) {
                            columns.push(key.clone());
                        }
                    }
                }
            }
            let table = Table {
                name: name.into(),
                columns: columns.clone(),
                rows: rows
                    .iter()
                    .map(|row| {
                        columns
                            .iter()
                            .map(|c| match &row[c] {
                                Value::Null => String::new(),
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            })
                            .collect()
                    })
                    .collect(),
            };
            if format == Format::Csv {
                render_csv(&[table])
            } else {
                render_tables(&[table])
            }
        }
    };
    print!("{text}");
    Ok(())
}

/// Runs `embudo segments …`.
pub async fn segments(settings: &Settings, command: SegmentsCommand) -> anyhow::Result<()> {
    let store = super::open_store(settings).await?;
    let engine = SegmentEngine::load(Arc::clone(&store), settings.default_currency)
        .await
        .context("reading the segments")?;
    let now = chrono::Utc::now();
    match command {
        SegmentsCommand::List { format } => {
            let mut rows = Vec::new();
            for r in store.segments().await? {
                let size = store.segment_size(&r.key).await?;
                rows.push(
                    json!({"key": r.key, "name": r.name, "size": size, "system": r.system,
                    "expression": r.expression, "updated_at": r.updated_at}),
                );
            }
            print(&Value::Array(rows), "segments", format)
        }
        SegmentsCommand::Create {
            key,
            expression,
            name,
            description,
        } => {
            let spinner = super::spinner("evaluating every customer");
            let saved = engine
                .save(
                    &key,
                    name.as_deref().unwrap_or(&key),
                    description,
                    &expression,
                    now,
                )
                .await;
            spinner.finish_and_clear();
            let (record, stats) = saved.map_err(|e| expression_error(e, &expression))?;
            let size = store.segment_size(&record.key).await?;
            println!(
                "segment `{}` saved: {} members ({} customers evaluated, {} entered, {} left)",
                record.key, size, stats.customers, stats.entered, stats.left
            );
            Ok(())
        }
        SegmentsCommand::Show { key, format } => {
            let r = store
                .segment(&key)
                .await?
                .with_context(|| format!("no segment `{key}`"))?;
            let size = store.segment_size(&key).await?;
            print(
                &json!({"key": r.key, "name": r.name, "description": r.description,
                    "expression": r.expression, "system": r.system, "size": size,
                    "created_at": r.created_at, "updated_at": r.updated_at}),
                "segment",
                format,
            )
        }
        SegmentsCommand::Members {
            key,
            after,
            limit,
            format,
        } => {
            if store.segment(&key).await?.is_none() {
                anyhow::bail!("no segment `{key}`");
            }
            if !(1..=1000).contains(&limit) {
                anyhow::bail!("--limit: must be between 1 and 1000");
            }
            let members = store
                .segment_members(
                    &key,
                    &PageRequest {
                        after,
                        limit: Some(limit),
                    },
                )
                .await?;
            let rows = members
                .into_iter()
                .map(|m| json!({"customer_id": m.customer_id, "entered_at": m.entered_at}))
                .collect();
            print(&Value::Array(rows), "members", format)
        }
        SegmentsCommand::Preview { expression, sample } => {
            let spinner = super::spinner("evaluating every customer");
            let preview = engine.preview(&expression, sample, now).await;
            spinner.finish_and_clear();
            let preview = preview.map_err(|e| expression_error(e, &expression))?;
            println!(
                "{} of {} customers match{}",
                preview.size,
                preview.customers,
                if preview.sample.is_empty() {
                    String::new()
                } else {
                    format!("; for example: {}", preview.sample.join(", "))
                }
            );
            Ok(())
        }
        SegmentsCommand::Delete { key } => {
            if engine
                .delete(&key, now)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                println!("segment `{key}` deleted");
                Ok(())
            } else {
                anyhow::bail!("no segment `{key}`")
            }
        }
    }
}

/// Runs `embudo scores …`.
pub async fn scores(settings: &Settings, command: ScoresCommand) -> anyhow::Result<()> {
    let ScoresCommand::Refresh { vip_share, format } = command;
    let store = super::open_store(settings).await?;
    let engine = SegmentEngine::load(Arc::clone(&store), settings.default_currency)
        .await
        .context("reading the segments")?;
    let options = embudo_intel::ScoresOptions {
        vip_share,
        ..Default::default()
    };
    let spinner = super::spinner("scoring every customer");
    let report = refresh_scores(
        store.as_ref(),
        Some(&engine),
        chrono::Utc::now(),
        settings.default_currency,
        &options,
    )
    .await;
    spinner.finish_and_clear();
    let report = report.map_err(|e| anyhow::anyhow!("{e}"))?;
    let value = serde_json::to_value(&report)?;
    match format {
        Format::Json => print(&value, "scores", format),
        _ => {
            let summary = json!({"customers": report.customers, "currency": report.currency,
                "vip": report.vip, "vip_basis": report.vip_basis, "vip_fallback": report.vip_fallback,
                "model_error": report.model_error, "membership_changes": report.membership_changes});
            print(&summary, "scores", format)
        }
    }
}
