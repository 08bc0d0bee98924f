//! `embudo report`: the analytics reports on the command line, as the API gives them.
//!
//! `--format json` prints exactly the API's JSON. `table` and `csv` flatten it: the report's
//! top-level figures become a `summary` table of name/value pairs, and every list of records
//! (funnel steps, a currency's series, cohorts…) a table of its own, named by where it sits in
//! the JSON (`currencies[GBP].series`); nested records become dotted column names. CSV prints
//! each table after a `# name` line, tables separated by a blank line.

use crate::settings::Settings;
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use embudo_analytics::report::{run, Context, ReportError, ReportKind, ReportQuery};
use serde_json::Value;
use std::fmt::Write as _;

/// How to print a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text tables.
    Table,
    /// The API's JSON.
    Json,
    /// Comma-separated values, one section per table.
    Csv,
}

/// `embudo report` arguments: the API's query parameters as flags.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// funnel, funnel-people, traffic, revenue, growth, retention, abandonment or rfm.
    pub report: String,
    /// Start, inclusive: a date (midnight in --tz) or an RFC 3339 time [default: 30 days before --to].
    #[arg(long)]
    pub from: Option<String>,
    /// End, exclusive [default: the end of today].
    #[arg(long)]
    pub to: Option<String>,
    /// IANA time zone of dates and buckets [default: UTC].
    #[arg(long)]
    pub tz: Option<String>,
    /// Add the report over a comparison period: previous or previous_year.
    #[arg(long)]
    pub compare: Option<String>,
    /// Time buckets: day, week or month.
    #[arg(long)]
    pub interval: Option<String>,
    /// Breakdown: category, product, source, medium, campaign, device, country, customer_type.
    #[arg(long)]
    pub by: Option<String>,
    /// Funnel steps, comma-separated event names.
    #[arg(long)]
    pub steps: Option<String>,
    /// Funnel conversion window [default: 14d].
    #[arg(long)]
    pub window: Option<String>,
    /// Funnel mode: ordered, strict or any.
    #[arg(long)]
    pub mode: Option<String>,
    /// Cart abandonment timeout [default: 24h].
    #[arg(long)]
    pub timeout: Option<String>,
    /// funnel-people: the step (1-based) people dropped out after.
    #[arg(long)]
    pub step: Option<String>,
    /// funnel-people: only this breakdown value.
    #[arg(long)]
    pub value: Option<String>,
    /// funnel-people: the last person of the previous page.
    #[arg(long)]
    pub after: Option<String>,
    /// funnel-people: page size [default: 100].
    #[arg(long)]
    pub limit: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Runs `embudo report`.
pub async fn report(settings: &Settings, args: ReportArgs) -> anyhow::Result<()> {
    let kind: ReportKind = args
        .report
        .parse()
        .map_err(|e: embudo_analytics::ParamError| anyhow::anyhow!(e.message))?;
    let query = ReportQuery {
        from: args.from,
        to: args.to,
        tz: args.tz,
        compare: args.compare,
        interval: args.interval,
        by: args.by,
        steps: args.steps,
        window: args.window,
        mode: args.mode,
        timeout: args.timeout,
        step: args.step,
        value: args.value,
        after: args.after,
        limit: args.limit,
    };
    let store = super::open_store(settings).await?;
    let context = Context {
        now: chrono::Utc::now(),
        default_currency: settings.default_currency,
    };
    let value = match run(store.as_ref(), kind, &query, context).await {
        Ok(value) => value,
        Err(ReportError::Param(p)) => {
            anyhow::bail!("--{}: {}", p.parameter.replace('_', "-"), p.message)
        }
        Err(ReportError::Store(e)) => return Err(e).context("reading the store"),
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&value)? + "\n",
        Format::Table => render_tables(&tables(&value)),
        Format::Csv => render_csv(&tables(&value)),
    };
    print!("{text}");
    Ok(())
}

/// One flattened table.
#[derive(Debug, Default, PartialEq)]
pub struct Table {
    /// Where it sits in the JSON.
    pub name: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Cells, as text.
    pub rows: Vec<Vec<String>>,
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => Some(
            items
                .iter()
                .map(|i| scalar(i).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// A record's scalar fields as (dotted name, text), and its lists of records for later.
fn flatten<'a>(
    prefix: &str,
    value: &'a Value,
    cells: &mut Vec<(String, String)>,
    lists: &mut Vec<(String, &'a Vec<Value>)>,
) {
    if let Value::Object(map) = value {
        for (key, v) in map {
            let name = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if let Some(text) = scalar(v) {
                cells.push((name, text));
            } else if let Value::Array(items) = v {
                lists.push((name, items));
            } else {
                flatten(&name, v, cells, lists);
            }
        }
    }
}

/// The tables of a report (see the module documentation).
pub fn tables(value: &Value) -> Vec<Table> {
    let mut out = Vec::new();
    let mut cells = Vec::new();
    let mut lists = Vec::new();
    flatten("", value, &mut cells, &mut lists);
    if !cells.is_empty() {
        out.push(Table {
            name: "summary".into(),
            columns: vec!["name".into(), "value".into()],
            rows: cells.into_iter().map(|(n, v)| vec![n, v]).collect(),
        });
    }
    let mut queue = lists;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for (name, items) in queue {
            let mut table = Table {
                name: name.clone(),
                ..Table::default()
            };
            let mut rows: Vec<Vec<(String, String)>> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let mut row = Vec::new();
                let mut inner = Vec::new();
                flatten("", item, &mut row, &mut inner);
                // Name nested lists after the row's first text field (a currency, a value).
                let label = row
                    .iter()
                    .find(|(n, _)| matches!(n.as_str(), "currency" | "value" | "event" | "start"))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| i.to_string());
                for (n, list) in inner {
                    next.push((format!("{name}[{label}].{n}"), list));
                }
                for (n, _) in &row {
                    if !table.columns.contains(n) {
                        table.columns.push(n.clone());
                    }
                }
                rows.push(row);
            }
            // Labels first (JSON objects come back with sorted keys).
            let rank = |c: &String| match c.as_str() {
                "currency" => 0,
                "value" | "start" | "event" => 1,
                _ => 2,
            };
            table.columns.sort_by_key(rank);
            for row in rows {
                table.rows.push(
                    table
                        .columns
                        .iter()
                        .map(|c| {
                            row.iter()
                                .find(|(n, _)| n == c)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        })
                        .collect(),
                );
            }
            if !table.columns.is_empty() {
                out.push(table);
            }
        }
        queue = next;
    }
    out
}

pub fn render_tables(tables: &[Table]) -> String {
    let mut out = String::new();
    for table in tables {
        let widths: Vec<usize> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                table
                    .rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([c.chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = writeln!(out, "{}", table.name);
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        };
        let _ = writeln!(out, "{}", line(&table.columns));
        let _ = writeln!(
            out,
            "{}",
            line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>())
        );
        for row in &table.rows {
            let _ = writeln!(out, "{}", line(row));
        }
        out.push('\n');
    }
    out
}

fn csv_cell(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

pub fn render_csv(tables: &[Table]) -> String {
    let mut out = String::new();
    for (i, table) in tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "# {}", table.name);
        let row = |cells: &[String]| {
            cells
                .iter()
                .map(|c| csv_cell(c))
                .collect::<Vec<_>>()
                .join(",")
        };
        let _ = writeln!(out, "{}", row(&table.columns));
        for r in &table.rows {
            let _ = writeln!(out, "{}", row(r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_flatten_into_tables() {
        let report = json!({
            "report": "revenue",
            "period": {"from": "a", "to": "b"},
            "currencies": [{"currency": "GBP", "totals": {"orders": 2}, "series": [{"start": "2026-01-01", "figures": {"orders": 2}}]}]
        });
        let t = tables(&report);
        assert_eq!(t[0].name, "summary");
        assert!(t[0]
            .rows
            .contains(&vec!["period.from".to_string(), "a".to_string()]));
        assert_eq!(t[1].name, "currencies");
        assert_eq!(t[1].columns, vec!["currency", "totals.orders"]);
        assert_eq!(t[2].name, "currencies[GBP].series");
        assert_eq!(
            t[2].rows,
            vec![vec!["2026-01-01".to_string(), "2".to_string()]]
        );
        let steps = tables(&json!({"steps": [{"count": 3, "event": "A"}]}));
        assert_eq!(steps[0].columns, vec!["event", "count"], "labels first");
        let csv = render_csv(&t);
        assert!(
            csv.contains("# currencies[GBP].series\nstart,figures.orders\n2026-01-01,2\n"),
            "{csv}"
        );
        assert_eq!(csv_cell("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
