//! Kill the server with SIGKILL in the middle of heavy batch ingestion, restart it: every
//! acknowledged message is there once, none twice.

use crate::support::{eventually, postgres, Backend, Site};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: usize = 6;
const BATCH: usize = 250;
/// Kill once at least this many messages were acknowledged.
const KILL_AFTER: usize = 15_000;

fn batch_body(client: usize, n: usize) -> Value {
    let messages: Vec<Value> = (0..BATCH)
        .map(|i| {
            json!({"type": "track", "messageId": format!("c{client}-b{n}-{i}"), "anonymousId": format!("v{client}-{}", i % 17),
                   "event": "Product Viewed", "properties": {"product_id": format!("P{}", i % 50), "price": 9.99}})
        })
        .collect();
    json!({ "batch": messages })
}

async fn acknowledged_messages_survive_sigkill(backend: Backend) {
    let site = Site::new(backend);
    let key = site.create_key("write");
    let server = site.serve();
    let url = format!("{}/v1/batch", server.url);
    let http = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let acked_count = Arc::new(AtomicUsize::new(0));

    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (http, url, key, acked, acked_count) = (
            http.clone(),
            url.clone(),
            key.clone(),
            acked.clone(),
            acked_count.clone(),
        );
        clients.push(tokio::spawn(async move {
            for n in 0.. {
                let Ok(response) = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&batch_body(client, n))
                    .send()
                    .await
                else {
                    return;
                };
                if !response.status().is_success() {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                assert_eq!(body["accepted"], BATCH, "{body}");
                acked.lock().unwrap().push((client, n));
                acked_count.fetch_add(BATCH, Ordering::SeqCst);
            }
        }));
    }
    eventually(Duration::from_secs(120), || {
        let count = acked_count.load(Ordering::SeqCst);
        async move { (count >= KILL_AFTER).then_some(()) }
    })
    .await;
    server.kill();
    for client in clients {
        client.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() * BATCH >= KILL_AFTER);

    // Restart on the same data and send every acknowledged batch again, as a client retrying
    // would: each message must already be there (a duplicate), none may be new.
    let server = site.serve();
    let url = format!("{}/v1/batch", server.url);
    let mut duplicates = 0;
    for (client, n) in &acked {
        let body: Value = http
            .post(&url)
            .bearer_auth(&key)
            .json(&batch_body(*client, *n))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            body["accepted"], 0,
            "an acknowledged message was lost: {body}"
        );
        duplicates += body["duplicates"].as_u64().unwrap() as usize;
    }
    assert_eq!(duplicates, acked.len() * BATCH);
    server.stop();

    // None twice: the store holds each message id once.
    if site.database_url.is_none() {
        let db = rusqlite::Connection::open(site.sqlite_file()).unwrap();
        let (rows, distinct): (i64, i64) = db
            .query_row(
                "SELECT count(*), count(DISTINCT message_id) FROM events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(rows, distinct);
        assert!(rows as usize >= acked.len() * BATCH);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingestion_loses_nothing_on_sqlite() {
    acknowledged_messages_survive_sigkill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingestion_loses_nothing_on_postgres() {
    acknowledged_messages_survive_sigkill(postgres().await).await;
}
