//! Analytics speed: a generated shop in a store, then the default dashboard set over a 90-day
//! range and an ad-hoc 6-step funnel over all raw events, with DuckDB running the same funnel
//! on the same events as the peer.

use anyhow::{ensure, Context as _, Result};
use chrono::{Days, NaiveDate, TimeZone, Utc};
use embudo_analytics::live::Live;
use embudo_analytics::report::{run as run_report, Context, ReportKind, ReportQuery};
use embudo_core::Currency;
use embudo_store::facts::{EventQuery, TimeRange};
use embudo_store::Store;
use serde_json::{json, Value};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The ad-hoc funnel's steps (six of the generated shop's events, in shopping order).
pub const SIX_STEPS: [&str; 6] = [
    "Product List Viewed",
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Payment Info Entered",
    "Order Completed",
];

/// The shop and what to measure.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Known customers of the generated shop.
    pub customers: u32,
    /// Days of history.
    pub days: u32,
    /// Generator seed.
    pub seed: u64,
    /// The last day of history.
    pub end: NaiveDate,
    /// Timed repetitions of each query (after one warm-up).
    pub runs: usize,
    /// A Python with the `duckdb` package, for the peer (skipped when absent).
    pub python: Option<PathBuf>,
}

/// Writes the generated shop into `store` through the ingestion path (parse, effects,
/// `Store::apply` in groups of 5,000), returning (events, seconds).
pub async fn fill(store: &dyn Store, spec: &Spec) -> Result<(u64, f64)> {
    let shop = embudo_generate::ShopSpec {
        customers: spec.customers,
        days: spec.days,
        seed: spec.seed,
        end: spec.end,
        currency: Currency::EUR,
    };
    let generator = embudo_generate::Generator::new(shop);
    store.upsert_products(generator.catalog()).await?;
    let effects = embudo_ingest::EffectsConfig {
        default_currency: Currency::EUR,
    };
    let expected = generator.estimated_events();
    let received = Utc::now();
    let started = Instant::now();
    let mut last = Instant::now();
    let mut events = 0u64;
    for day in generator.days() {
        let mut envelopes = Vec::with_capacity(day.messages.len());
        for message in day.messages {
            envelopes.push(
                embudo_ingest::parse_json_message(message, None, received)
                    .and_then(|m| embudo_ingest::envelope(m, &effects))
                    .context("a generated message was refused")?,
            );
        }
        while !envelopes.is_empty() {
            let rest = envelopes.split_off(envelopes.len().min(5_000));
            let part = std::mem::replace(&mut envelopes, rest);
            events += store.apply(part).await?.len() as u64;
        }
        for (order, change) in &day.status_changes {
            store.add_order_status(order, change).await?;
        }
        if last.elapsed().as_secs() >= 10 {
            last = Instant::now();
            eprintln!(
                "  {events} of ~{expected} events, {:.0} events/s",
                events as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    Ok((events, started.elapsed().as_secs_f64()))
}

/// One report of the dashboard set: its name, kind and parameters besides the range.
type Dashboard = (&'static str, ReportKind, Vec<(&'static str, String)>);

fn query(pairs: &[(&str, String)]) -> ReportQuery {
    ReportQuery::from_pairs(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
    .expect("benchmark parameters are valid")
}

fn p50(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}

/// Runs `f` once to warm up and then `runs` times; the median and the last result.
async fn timed<F, Fut, T>(runs: usize, mut f: F) -> Result<(f64, T)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut out = f().await?;
    let mut seconds = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        out = f().await?;
        seconds.push(t.elapsed().as_secs_f64());
    }
    Ok((p50(seconds), out))
}

/// Measures everything on a filled `store`, printing as it goes; returns the figures as JSON.
pub async fn measure(shared: Arc<dyn Store>, spec: &Spec, backend: &str) -> Result<Value> {
    let store = shared.as_ref();
    let counts = store.counts().await?;
    println!(
        "analytics {backend}: {} events, {} orders, {} customers",
        counts.events, counts.orders, counts.customers
    );
    let to = spec.end + Days::new(1);
    let from = to - Days::new(90);
    let context = Context {
        now: Utc.from_utc_datetime(&to.and_hms_opt(0, 0, 0).unwrap_or_default()),
        default_currency: Currency::EUR,
    };
    let range = [("from", from.to_string()), ("to", to.to_string())];
    let dashboard: [Dashboard; 4] = [
        ("funnel (default 4 steps)", ReportKind::Funnel, vec![]),
        (
            "revenue by day",
            ReportKind::Revenue,
            vec![("interval", "day".into())],
        ),
        (
            "conversion by source (traffic by source)",
            ReportKind::Traffic,
            vec![("by", "source".into())],
        ),
        (
            "cohort retention (monthly)",
            ReportKind::Retention,
            vec![("interval", "month".into())],
        ),
    ];
    let mut figures = Vec::new();
    let mut total = 0.0;
    let mut answers = Vec::new();
    for (name, kind, extra) in &dashboard {
        let mut pairs = range.to_vec();
        pairs.extend(extra.iter().cloned());
        let q = query(&pairs);
        let (median, answer) = timed(spec.runs, || async {
            Ok(run_report(store, *kind, &q, context).await?)
        })
        .await?;
        total += median;
        answers.push(answer);
        println!(
            "  dashboard, 90 days, {name}, read from the store: p50 {:.1} ms",
            median * 1e3
        );
        figures.push(json!({"report": name, "engine": "store", "p50_ms": median * 1e3}));
    }
    println!(
        "  dashboard set, 90 days, read from the store: sum of p50s {:.1} ms",
        total * 1e3
    );

    // The server's engine: the history in memory, caught up with the store before each report.
    let t = Instant::now();
    let live = Arc::new(Live::load(Arc::clone(&shared)).await?);
    let load_seconds = t.elapsed().as_secs_f64();
    let live_bytes = live.with(|h| h.memory_bytes());
    println!(
        "  history loaded into memory: {:.1} s, {:.0} MiB",
        load_seconds,
        live_bytes as f64 / 1048576.0
    );
    let mut live_total = 0.0;
    let mut live_figures = Vec::new();
    for ((name, kind, extra), expected) in dashboard.iter().zip(&answers) {
        let mut pairs = range.to_vec();
        pairs.extend(extra.iter().cloned());
        let q = query(&pairs);
        let (median, answer) = timed(spec.runs, || async {
            Ok(live.report(*kind, &q, context).await?)
        })
        .await?;
        ensure!(
            &answer == expected,
            "{name}: the history in memory answers differently from the store"
        );
        live_total += median;
        println!(
            "  dashboard, 90 days, {name}, in memory: p50 {:.1} ms",
            median * 1e3
        );
        live_figures.push(json!({"report": name, "engine": "memory", "p50_ms": median * 1e3}));
    }
    println!(
        "  dashboard set, 90 days, in memory: sum of p50s {:.1} ms",
        live_total * 1e3
    );
    let marks = {
        let (median, _) = timed(spec.runs, || async { Ok(shared.fact_marks().await?) }).await?;
        median
    };
    println!(
        "  of which the check for changes before each report: p50 {:.2} ms",
        marks * 1e3
    );
    figures.extend(live_figures);

    // The ad-hoc 6-step funnel over all raw events.
    let start = spec.end - Days::new(u64::from(spec.days.saturating_sub(1)));
    let steps = SIX_STEPS.join(",");
    let whole = [
        ("from", start.to_string()),
        ("to", to.to_string()),
        ("steps", steps.clone()),
        ("window", "14d".to_string()),
    ];
    let q = query(&whole);
    let t = Instant::now();
    let api = run_report(store, ReportKind::Funnel, &q, context).await?;
    let api_seconds = t.elapsed().as_secs_f64();
    let api_counts: Vec<u64> = api["steps"]
        .as_array()
        .context("funnel steps")?
        .iter()
        .map(|s| s["count"].as_u64().unwrap_or(0))
        .collect();
    println!("  6-step funnel, all {} days, through the report API (rows read from the store, then the funnel report): {:.2} s, counts {api_counts:?}", spec.days, api_seconds);
    let (live_funnel, live_answer) = timed(spec.runs, || async {
        Ok(live.report(ReportKind::Funnel, &q, context).await?)
    })
    .await?;
    ensure!(live_answer == api, "the 6-step funnel differs in memory");
    println!(
        "  6-step funnel, all {} days, in memory (as the server answers): p50 {:.1} ms",
        spec.days,
        live_funnel * 1e3
    );

    let period_from = Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0).unwrap_or_default());
    let period_to = context.now;
    let window = chrono::Duration::days(14);
    let t = Instant::now();
    let facts = store
        .event_facts(&EventQuery {
            range: TimeRange::new(period_from, period_to + window),
            names: SIX_STEPS.iter().map(|s| s.to_string()).collect(),
            details: false,
            seqs: None,
        })
        .await?;
    let read_seconds = t.elapsed().as_secs_f64();
    println!(
        "  read {} funnel events from the store: {:.2} s",
        facts.len(),
        read_seconds
    );

    // The columnar engine: the same events in memory, as the server would keep them.
    let t = Instant::now();
    let table = embudo_analytics::columnar::EventTable::from_facts(&facts);
    let build_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    table.prepare();
    let index_seconds = t.elapsed().as_secs_f64();
    let period = embudo_analytics::Period::new(period_from, period_to, chrono_tz::Tz::UTC)?;
    let funnel_spec = q.funnel_spec()?;
    let no_customers = embudo_analytics::Customers::new();
    let (columnar_median, report) = timed(spec.runs, || async {
        Ok(embudo_analytics::columnar::funnel(
            &period,
            &funnel_spec,
            &table,
            &no_customers,
        ))
    })
    .await?;
    let columnar_counts: Vec<u64> = report.steps.iter().map(|s| s.count).collect();
    println!(
        "  columnar engine, same funnel in memory: p50 {:.1} ms (table build {:.2} s, person index {:.2} s, {:.0} MiB, {:.0} bytes/event), counts {columnar_counts:?}",
        columnar_median * 1e3,
        build_seconds,
        index_seconds,
        table.memory_bytes() as f64 / 1048576.0,
        table.memory_bytes() as f64 / facts.len().max(1) as f64
    );
    ensure!(
        columnar_counts == api_counts,
        "the columnar engine's counts {columnar_counts:?} differ from the report's {api_counts:?}"
    );

    let mut out = json!({
        "backend": backend,
        "events": counts.events,
        "orders": counts.orders,
        "dashboard": figures,
        "dashboard_sum_p50_ms": total * 1e3,
        "memory": {"load_seconds": load_seconds, "bytes": live_bytes, "dashboard_sum_p50_ms": live_total * 1e3,
            "marks_p50_ms": marks * 1e3, "six_step_p50_ms": live_funnel * 1e3},
        "six_step": {"api_seconds": api_seconds, "counts": api_counts, "funnel_events": facts.len(), "read_seconds": read_seconds,
            "columnar": {"p50_ms": columnar_median * 1e3, "build_seconds": build_seconds, "index_seconds": index_seconds, "memory_bytes": table.memory_bytes()}},
    });

    if let Some(python) = &spec.python {
        let dir = tempfile::tempdir()?;
        let csv = dir.path().join("events.csv");
        {
            let mut w = std::io::BufWriter::new(std::fs::File::create(&csv)?);
            writeln!(w, "person,ts,seq,event")?;
            for e in &facts {
                let person = e.person.replace('"', "\"\"");
                writeln!(
                    w,
                    "\"{person}\",{},{},{}",
                    e.at.timestamp_micros(),
                    e.seq,
                    e.event
                )?;
            }
        }
        let spec_path = dir.path().join("spec.json");
        std::fs::write(
            &spec_path,
            json!({
                "steps": SIX_STEPS,
                "from": period_from.timestamp_micros(),
                "to": period_to.timestamp_micros(),
                "window": window.num_microseconds(),
                "runs": spec.runs,
            })
            .to_string(),
        )?;
        let duck = duckdb(python, &csv, &spec_path)?;
        let seconds: Vec<f64> = duck["seconds"]
            .as_array()
            .context("seconds")?
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let duck_counts: Vec<u64> = duck["counts"]
            .as_array()
            .context("counts")?
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        let median = p50(seconds);
        println!(
            "  DuckDB {} ({} threads), same funnel on the same {} events: p50 {:.1} ms (load {:.2} s, prepare {:.2} s), counts {duck_counts:?}",
            duck["duckdb"], duck["threads"], facts.len(), median * 1e3,
            duck["load_seconds"].as_f64().unwrap_or(0.0), duck["prepare_seconds"].as_f64().unwrap_or(0.0)
        );
        ensure!(
            duck_counts == api_counts,
            "DuckDB's counts {duck_counts:?} differ from Embudo's {api_counts:?}"
        );
        println!(
            "  ratio: DuckDB's p50 / the columnar engine's p50 = {:.2} (above 1: Embudo is faster)",
            median / columnar_median
        );
        out["duckdb"] = json!({"p50_ms": median * 1e3, "result": duck});
    }
    Ok(out)
}

fn duckdb(python: &Path, csv: &Path, spec: &Path) -> Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/duckdb_funnel.py");
    let output = std::process::Command::new(python)
        .arg(&script)
        .arg(csv)
        .arg(spec)
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    ensure!(
        output.status.success(),
        "the DuckDB script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// What [`dashboard_loop`] did.
#[derive(Debug, Clone, Default)]
pub struct DashboardStats {
    /// Dashboard sets answered.
    pub sets: usize,
    /// Their times, in seconds.
    pub seconds: Vec<f64>,
    /// Events in memory at the end.
    pub events: usize,
}

impl std::fmt::Display for DashboardStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p50 = if self.seconds.is_empty() {
            0.0
        } else {
            p50(self.seconds.clone())
        };
        write!(
            f,
            "{} dashboard sets from memory (p50 {:.1} ms each, catching up included; {} events in memory at the end)",
            self.sets,
            p50 * 1e3,
            self.events
        )
    }
}

/// Loads the history into memory, then answers the dashboard set (the 90 days up to now) every
/// `every` milliseconds, catching up with the store each time, until `stop` turns true.
pub async fn dashboard_loop(
    store: Arc<dyn Store>,
    every: u64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<DashboardStats> {
    let live = Arc::new(Live::load(store).await?);
    let now = Utc::now();
    let to = (now + chrono::Duration::days(1)).date_naive();
    let from = to - Days::new(90);
    let range = [("from", from.to_string()), ("to", to.to_string())];
    let set = [
        (ReportKind::Funnel, None),
        (ReportKind::Revenue, Some(("interval", "day"))),
        (ReportKind::Traffic, Some(("by", "source"))),
        (ReportKind::Retention, Some(("interval", "month"))),
    ];
    let mut stats = DashboardStats::default();
    loop {
        let t = Instant::now();
        for (kind, extra) in &set {
            let mut pairs = range.to_vec();
            if let Some((k, v)) = extra {
                pairs.push((k, v.to_string()));
            }
            let context = Context {
                now: Utc::now(),
                default_currency: Currency::EUR,
            };
            live.report(*kind, &query(&pairs), context).await?;
        }
        stats.seconds.push(t.elapsed().as_secs_f64());
        stats.sets += 1;
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(every)) => {}
            _ = stop.changed() => break,
        }
    }
    stats.events = live.with(|h| h.events());
    Ok(stats)
}
