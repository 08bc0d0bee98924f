//! `embudo recs eval|train|export` on the Online Retail II file imported with `embudo import`,
//! on both backends: the protocol reproduces the popularity baseline the peers script
//! measures, the blend beats the best peer, and the export covers every customer.

use crate::support::{postgres, Backend, Site};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Output;

fn online_retail() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/online_retail_ii/online_retail_II_2009_2010.csv");
    assert!(path.exists(), "the data set {} is missing", path.display());
    path
}

fn run(site: &Site, args: &[&str]) -> Output {
    site.command().args(args).output().unwrap()
}

fn ok(site: &Site, args: &[&str]) -> String {
    let output = run(site, args);
    assert!(
        output.status.success(),
        "embudo {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn fails_naming(site: &Site, args: &[&str], text: &str) {
    let output = run(site, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "embudo {args:?} succeeded");
    assert!(stderr.contains(text), "embudo {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "embudo {args:?}: {stderr}");
}

fn metric(report: &Value, source: &str, name: &str) -> f64 {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == source)
        .unwrap_or_else(|| panic!("no source {source} in {report}"))[name]
        .as_f64()
        .unwrap()
}

async fn evaluates_and_exports(site: Site) {
    fails_naming(
        &site,
        &["recs", "eval", "--cutoff", "2010-09-01"],
        "--cutoff",
    );
    fails_naming(&site, &["recs", "export"], "recs train");
    fails_naming(&site, &["recs", "train"], "no orders");

    ok(
        &site,
        &["import", "online-retail", online_retail().to_str().unwrap()],
    );
    fails_naming(
        &site,
        &["recs", "eval", "--cutoff", "2031-01-01"],
        "--cutoff",
    );
    fails_naming(
        &site,
        &["recs", "eval", "--cutoff", "2010-09-01", "--horizon", "0d"],
        "--horizon",
    );
    fails_naming(&site, &["recs", "eval", "--cutoff", "1 Sept"], "--cutoff");

    let report: Value = serde_json::from_str(&ok(
        &site,
        &["recs", "eval", "--cutoff", "2010-09-01", "--format", "json"],
    ))
    .unwrap();
    // The peers script's protocol: 1,989 test customers; popularity by distinct buyers gives
    // 0.119 / 0.131, as the peers measured.
    assert_eq!(report["users"], 1989);
    let pop = (
        metric(&report, "popular", "recall_at_20"),
        metric(&report, "popular", "ndcg_at_20"),
    );
    assert!(
        (pop.0 - 0.1193).abs() < 5e-4 && (pop.1 - 0.1317).abs() < 5e-4,
        "{pop:?}"
    );
    // The blend beats the best peer of the script (BM25 item-kNN, 0.315 / 0.328) and every
    // source of its own.
    let blend = (
        metric(&report, "blend", "recall_at_20"),
        metric(&report, "blend", "ndcg_at_20"),
    );
    assert!(blend.0 > 0.33 && blend.1 > 0.345, "{blend:?}");
    for source in ["again", "similar", "ease", "mf", "people"] {
        assert!(
            blend.0 > metric(&report, source, "recall_at_20"),
            "{source}: {report}"
        );
    }

    let trained = ok(&site, &["recs", "train", "--until", "2010-09-01"]);
    assert!(trained.contains("before 2010-09-01"), "{trained}");
    let export = ok(&site, &["recs", "export", "--k", "20"]);
    let mut lines = export.lines();
    assert_eq!(lines.next(), Some("customer_id,rank,product_id,score"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let customers: HashSet<&str> = rows.iter().map(|r| r[0]).collect();
    // Every customer who ordered before the day, 20 products each, ranks 1..20.
    assert_eq!(customers.len(), 3299);
    assert_eq!(rows.len(), 3299 * 20);
    assert!(rows
        .iter()
        .all(|r| r.len() == 4 && (1..=20).contains(&r[1].parse::<u32>().unwrap())));
    fails_naming(&site, &["recs", "export", "--k", "0"], "--k");
}

#[tokio::test]
async fn recs_evaluate_and_export_on_sqlite() {
    evaluates_and_exports(Site::new(Backend::Sqlite)).await;
}

#[tokio::test]
async fn recs_evaluate_and_export_on_postgres() {
    evaluates_and_exports(Site::new(postgres().await)).await;
}
