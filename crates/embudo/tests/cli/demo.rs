//! `embudo demo`: generates a shop on the embedded store and serves it with fresh keys.

use crate::support::{Backend, Site};
use serde_json::Value;

#[tokio::test]
async fn demo_serves_a_generated_shop() {
    let site = Site::new(Backend::Sqlite);
    let server = site.spawn_until_url(
        &[
            "demo",
            "--addr",
            "127.0.0.1:0",
            "--customers",
            "60",
            "--days",
            "10",
        ],
        "is running at ",
    );
    // The keys are printed after the URL line.
    let printed = server.stop();
    let secret = printed
        .iter()
        .find(|l| l.contains("secret API key"))
        .expect("the demo prints a secret key");
    let secret = secret.split_whitespace().last().unwrap().to_string();
    assert!(secret.starts_with("es_"), "{secret}");

    // Serve the same data again: the shop is still there and the printed key works.
    let server = site.serve();
    let orders: Value = reqwest::Client::new()
        .get(format!("{}/v1/orders?limit=5", server.url))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        orders.as_array().map(Vec::len).unwrap_or(0) > 0,
        "the generated shop has orders: {orders}"
    );
    server.stop();
}
