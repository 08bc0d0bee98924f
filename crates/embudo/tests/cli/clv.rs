//! `embudo clv fit` and `embudo clv predict` reproduce Fader, Hardie & Lee (2005) on the CDNOW
//! sample imported with `embudo import cdnow`, on both backends.

use crate::support::{postgres, Backend, Site};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn cdnow_sample() -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cdnow/CDNOW_sample.txt");
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

/// `args` must fail, without a panic, with a message naming `flag`.
fn fails_naming(site: &Site, args: &[&str], flag: &str) {
    let output = run(site, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "embudo {args:?} succeeded");
    assert!(stderr.contains(flag), "embudo {args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "embudo {args:?}: {stderr}");
}

fn rounds_to(value: &Value, digits: i32, expected: f64) {
    let v = value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"));
    let scale = 10f64.powi(digits);
    assert_eq!((v * scale).round() / scale, expected, "{v} vs {expected}");
}

async fn reproduces_the_paper(site: Site) {
    // An empty store: nothing to fit.
    fails_naming(
        &site,
        &["clv", "fit", "--calibration-end", "1997-09-30"],
        "no orders",
    );

    let sample = cdnow_sample();
    ok(&site, &["import", "cdnow", sample.to_str().unwrap()]);

    let fit = run(
        &site,
        &[
            "clv",
            "fit",
            "--calibration-end",
            "1997-09-30",
            "--format",
            "json",
        ],
    );
    let stderr = String::from_utf8_lossy(&fit.stderr);
    assert!(fit.status.success(), "{stderr}");
    assert!(
        stderr.contains("6919 orders of 2357 customers in USD")
            && stderr.contains("0 guest orders"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&fit.stdout).unwrap();
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["bgnbd", "customers", "gamma_gamma", "holdout"]);
    let (b, g) = (&report["bgnbd"], &report["gamma_gamma"]);
    rounds_to(&b["r"], 3, 0.243);
    rounds_to(&b["alpha"], 3, 4.414);
    rounds_to(&b["a"], 3, 0.793);
    rounds_to(&b["b"], 3, 2.426);
    rounds_to(&b["log_likelihood"], 1, -9582.4);
    rounds_to(&g["p"], 2, 6.25);
    rounds_to(&g["q"], 2, 3.74);
    rounds_to(&g["gamma"], 2, 15.44);
    assert_eq!(
        report["customers"],
        serde_json::json!({"total": 2357, "repeat": 946, "gamma_gamma": 946})
    );

    let holdout = &report["holdout"];
    assert_eq!(holdout["start"], "1997-10-01");
    assert_eq!(holdout["end"], "1998-06-30");
    assert_eq!(holdout["weeks"], 39.0);
    assert_eq!(holdout["customers"], 2357);
    assert_eq!(holdout["actual"], 1882);
    rounds_to(&holdout["predicted"], 1, 1653.4);
    let rows = holdout["by_frequency"].as_array().unwrap();
    let labels: Vec<&str> = rows
        .iter()
        .map(|r| r["frequency"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["0", "1", "2", "3", "4", "5", "6", "7+"]);
    let sum = |field: &str| rows.iter().map(|r| r[field].as_f64().unwrap()).sum::<f64>();
    assert_eq!(sum("customers"), 2357.0);
    assert_eq!(sum("actual"), 1882.0);
    let predicted = holdout["predicted"].as_f64().unwrap();
    assert!((sum("predicted") - predicted).abs() < 1e-6 * predicted);
    assert_eq!(rows[0]["customers"], 1411);

    // The table: parameters, counts and the holdout table with its totals and errors.
    let table = ok(&site, &["clv", "fit", "--calibration-end", "1997-09-30"]);
    for needle in [
        "alpha",
        "4.4136",
        "gamma_gamma",
        "7+",
        "total",
        "MAE",
        "-12.15 %",
    ] {
        assert!(table.contains(needle), "no {needle} in\n{table}");
    }
    // Without later orders there is nothing to validate on.
    let late = ok(
        &site,
        &[
            "clv",
            "fit",
            "--calibration-end",
            "1998-06-30",
            "--format=json",
        ],
    );
    let late: Value = serde_json::from_str(&late).unwrap();
    assert_eq!(late["holdout"], Value::Null);

    // One prediction per customer, after a header.
    let csv = ok(
        &site,
        &[
            "clv",
            "predict",
            "--calibration-end",
            "1997-09-30",
            "--horizon",
            "365d",
            "--format",
            "csv",
        ],
    );
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "customer",
            "frequency",
            "recency",
            "T",
            "monetary",
            "expected_purchases",
            "p_alive",
            "churn_risk",
            "expected_order_value",
            "predicted_clv",
            "next_order_date"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2357);
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (p_alive, churn, frequency) =
        (column("p_alive"), column("churn_risk"), column("frequency"));
    let mut customers = std::collections::HashSet::new();
    for row in &rows {
        assert_eq!(row.len(), header.len(), "{row:?}");
        assert!(customers.insert(row[0]), "customer {} twice", row[0]);
        let p: f64 = row[p_alive].parse().unwrap();
        let c: f64 = row[churn].parse().unwrap();
        assert!((0.0..=1.0).contains(&p), "{row:?}");
        assert!((c - (1.0 - p)).abs() < 1e-12, "{row:?}");
    }
    let repeat = rows.iter().filter(|r| r[frequency] != "0").count();
    assert_eq!(repeat, 946);

    // JSON: the same rows as an array; discounting lowers the value.
    let json = ok(
        &site,
        &[
            "clv",
            "predict",
            "--calibration-end=1997-09-30",
            "--discount-rate=0.1",
            "--format=json",
        ],
    );
    let json: Value = serde_json::from_str(&json).unwrap();
    let array = json.as_array().unwrap();
    assert_eq!(array.len(), 2357);
    let clv = column("predicted_clv");
    let undiscounted: f64 = rows.iter().map(|r| r[clv].parse::<f64>().unwrap()).sum();
    let discounted: f64 = array
        .iter()
        .map(|r| r["predicted_clv"].as_f64().unwrap())
        .sum();
    assert!(discounted < undiscounted && discounted > 0.9 * undiscounted);
    let table = ok(&site, &["clv", "predict", "--format", "table"]);
    assert_eq!(table.lines().count(), 2357 + 2, "header, rule, rows");

    // Bad flags: a message naming the flag, a non-zero exit, no panic.
    fails_naming(
        &site,
        &["clv", "fit", "--calibration-end", "1997-13-01"],
        "--calibration-end",
    );
    fails_naming(&site, &["clv", "fit"], "--calibration-end");
    fails_naming(
        &site,
        &["clv", "fit", "--calibration-end", "1990-01-01"],
        "--calibration-end",
    );
    fails_naming(
        &site,
        &["clv", "fit", "--calibration-end", "1997-01-01"],
        "no repeat customers",
    );
    fails_naming(
        &site,
        &[
            "clv",
            "fit",
            "--calibration-end",
            "1997-09-30",
            "--holdout-end",
            "1997-09-01",
        ],
        "--holdout-end",
    );
    fails_naming(
        &site,
        &[
            "clv",
            "fit",
            "--calibration-end",
            "1997-09-30",
            "--currency",
            "EUR",
        ],
        "--currency",
    );
    fails_naming(
        &site,
        &["clv", "predict", "--currency", "XYZ"],
        "--currency",
    );
    fails_naming(&site, &["clv", "predict", "--horizon", "365"], "--horizon");
    fails_naming(&site, &["clv", "predict", "--horizon", "0d"], "--horizon");
    fails_naming(
        &site,
        &["clv", "predict", "--discount-rate", "-0.1"],
        "--discount-rate",
    );
    fails_naming(&site, &["clv", "predict", "--format", "xml"], "--format");
}

#[tokio::test]
async fn clv_reproduces_the_paper_on_sqlite() {
    reproduces_the_paper(Site::new(Backend::Sqlite)).await;
}

#[tokio::test]
async fn clv_reproduces_the_paper_on_postgres() {
    reproduces_the_paper(Site::new(postgres().await)).await;
}
