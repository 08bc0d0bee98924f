//! Segment's own Python library, pointed at Embudo with a write key.

use crate::support::{eventually, postgres, Backend, Site};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn python() -> String {
    std::env::var("EMBUDO_TEST_PYTHON").expect(
        "the end-to-end test needs EMBUDO_TEST_PYTHON, a Python with segment-analytics-python: run ./scripts/test, or scripts/python-env",
    )
}

async fn delivers_a_visit_that_joins_the_profile(backend: Backend) {
    let site = Site::new(backend);
    let write = site.create_key("write");
    let secret = site.create_key("secret");
    let server = site.serve();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/segment_client.py");
    let output = Command::new(python())
        .arg(script)
        .arg(&server.url)
        .arg(&write)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the Segment client failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let http = reqwest::Client::new();
    let url = format!("{}/v1/customers/py-customer-1", server.url);
    let profile: Value = eventually(Duration::from_secs(20), || {
        let request = http.get(&url).bearer_auth(&secret);
        async move {
            let response = request.send().await.ok()?;
            let profile: Value = response.json().await.ok()?;
            (profile["recent_events"].as_array().map(Vec::len) == Some(6)).then_some(profile)
        }
    })
    .await;
    let events: Vec<(&str, &str)> = profile["recent_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["event"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        vec![
            ("track", "Order Completed"),
            ("identify", ""),
            ("track", "Product Added"),
            ("track", "Product Viewed"),
            ("track", "Products Searched"),
            ("page", "Page Viewed"),
        ],
        "{profile:#}"
    );
    assert_eq!(profile["customer"]["email"], "py.customer@example.com");
    assert_eq!(profile["customer"]["consent"]["status"], "granted");
    assert_eq!(profile["merges"][0]["anonymous_id"], "py-visitor-1");
    assert_eq!(profile["merges"][0]["events_moved"], 4);
    let page = profile["recent_events"].as_array().unwrap().last().unwrap();
    assert_eq!(page["context"]["attribution"]["source"], "newsletter");
    let order = &profile["orders"][0];
    assert_eq!(
        (order["id"].as_str(), order["currency"].as_str()),
        (Some("py-order-1"), Some("EUR"))
    );
    assert_eq!(order["lines"][0]["unit_price"], 2499);
    assert_eq!(order["shipping"], 490);
    server.stop();
}

#[tokio::test]
async fn segment_python_library_on_sqlite() {
    delivers_a_visit_that_joins_the_profile(Backend::Sqlite).await;
}

#[tokio::test]
async fn segment_python_library_on_postgres() {
    delivers_a_visit_that_joins_the_profile(postgres().await).await;
}
