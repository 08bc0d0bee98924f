//! `embudo scores refresh`, `embudo segments …` and `embudo report rfm` on the CDNOW sample
//! imported with `embudo import cdnow`, on both backends.

use crate::support::{postgres, Backend, Site};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

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

async fn segments_and_scores(site: Site) {
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cdnow/CDNOW_sample.txt");
    ok(&site, &["import", "cdnow", sample.to_str().unwrap()]);

    // Scores: the model is fitted on the sample, the VIP group is the top tenth.
    let report: Value =
        serde_json::from_str(&ok(&site, &["scores", "refresh", "--format", "json"])).unwrap();
    assert_eq!(report["customers"], 2357, "{report}");
    assert_eq!(report["vip"], 236);
    assert_eq!(report["vip_basis"], "predicted_clv");
    assert_eq!(report["currency"], "USD");

    // A segment on predictions, its members, and the list.
    let saved = ok(
        &site,
        &[
            "segments",
            "create",
            "likely_gone",
            "--expression",
            "churn_risk > 0.7 and orders_count >= 2",
        ],
    );
    assert!(saved.contains("segment `likely_gone` saved"), "{saved}");
    let list: Value =
        serde_json::from_str(&ok(&site, &["segments", "list", "--format", "json"])).unwrap();
    let size = |key: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .map(|s| s["size"].as_u64().unwrap())
    };
    assert_eq!(size("vip"), Some(236));
    let gone = size("likely_gone").expect("listed");
    assert!(gone > 0, "{list}");
    let csv = ok(
        &site,
        &[
            "segments",
            "members",
            "likely_gone",
            "--limit",
            "5",
            "--format",
            "csv",
        ],
    );
    let rows = csv
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(rows, 1 + 5.min(gone as usize), "{csv}");
    let preview = ok(
        &site,
        &[
            "segments",
            "preview",
            "--expression",
            "churn_risk > 0.7 and orders_count >= 2",
        ],
    );
    assert!(
        preview.starts_with(&format!("{gone} of 2357 customers match")),
        "{preview}"
    );

    // A bad condition: a non-zero exit pointing at the fault.
    let output = run(
        &site,
        &[
            "segments",
            "create",
            "bad",
            "--expression",
            "orders_count >= ",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("1:17") && stderr.contains('^'), "{stderr}");
    let output = run(&site, &["segments", "delete", "vip"]);
    assert!(
        !output.status.success(),
        "the VIP segment is kept by Embudo"
    );

    // RFM over the year before the end of the data.
    let rfm: Value = serde_json::from_str(&ok(
        &site,
        &["report", "rfm", "--to", "1998-07-01", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(rfm["currencies"][0]["currency"], "USD", "{rfm}");
    let scored = rfm["currencies"][0]["customers"].as_u64().unwrap();
    let in_groups: u64 = rfm["currencies"][0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["customers"].as_u64().unwrap())
        .sum();
    assert!(
        scored > 0 && scored < 2357,
        "only those who ordered in the year: {scored}"
    );
    assert_eq!(in_groups, scored);
    ok(
        &site,
        &["report", "rfm", "--to", "1998-07-01", "--format", "table"],
    );
}

#[tokio::test]
async fn segments_and_scores_on_sqlite() {
    segments_and_scores(Site::new(Backend::Sqlite)).await;
}

#[tokio::test]
async fn segments_and_scores_on_postgres() {
    segments_and_scores(Site::new(postgres().await)).await;
}
