//! `embudo report` prints what `GET /v1/analytics/{report}` answers, on both backends.

use crate::support::{postgres, Backend, Site};
use serde_json::Value;

async fn cli_matches_api(site: Site) {
    let secret = site.create_key("secret");
    let output = site
        .command()
        .args([
            "generate",
            "--customers",
            "40",
            "--days",
            "20",
            "--end",
            "2026-03-20",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let server = site.serve();
    let http = reqwest::Client::new();
    let cases: [(&str, &[(&str, &str)]); 4] = [
        ("funnel", &[("by", "source"), ("mode", "strict")]),
        ("revenue", &[("interval", "week"), ("by", "category")]),
        ("traffic", &[("interval", "day"), ("by", "device")]),
        ("retention", &[("interval", "week")]),
    ];
    let mut from_api = Vec::new();
    for (report, extra) in cases {
        let mut query = vec![
            ("from", "2026-03-01"),
            ("to", "2026-03-21"),
            ("tz", "Europe/Madrid"),
        ];
        query.extend_from_slice(extra);
        let response = http
            .get(format!("{}/v1/analytics/{report}", server.url))
            .query(&query)
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{report}: {}",
            response.status()
        );
        from_api.push(response.json::<Value>().await.unwrap());
    }
    server.stop();

    for ((report, extra), api) in cases.iter().zip(&from_api) {
        let mut args = vec![
            "report".to_string(),
            report.to_string(),
            "--from=2026-03-01".into(),
            "--to=2026-03-21".into(),
            "--tz=Europe/Madrid".into(),
            "--format=json".into(),
        ];
        args.extend(extra.iter().map(|(k, v)| format!("--{k}={v}")));
        let output = site.command().args(&args).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let cli: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(&cli, api, "embudo report {report} differs from the API");
    }
    assert!(
        from_api[0]["steps"][0]["count"].as_u64().unwrap() > 0,
        "{}",
        from_api[0]
    );

    // The other formats, and a bad flag named in the error.
    let csv = site
        .command()
        .args([
            "report",
            "funnel",
            "--from=2026-03-01",
            "--to=2026-03-21",
            "--format=csv",
        ])
        .output()
        .unwrap();
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.contains("# steps\nevent,"), "{csv}");
    let table = site
        .command()
        .args(["report", "revenue", "--from=2026-03-01", "--to=2026-03-21"])
        .output()
        .unwrap();
    assert!(String::from_utf8(table.stdout)
        .unwrap()
        .contains("currencies"));
    let bad = site
        .command()
        .args(["report", "funnel", "--window=soon"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--window"), "{stderr}");
}

#[tokio::test]
async fn report_cli_matches_the_api_on_sqlite() {
    cli_matches_api(Site::new(Backend::Sqlite)).await;
}

#[tokio::test]
async fn report_cli_matches_the_api_on_postgres() {
    cli_matches_api(Site::new(postgres().await)).await;
}
