//! Tests of what only this backend has: the file, its connections, its pragmas and its error
//! mapping. The behaviour every backend shares is in `embudo_store::conformance`.

use super::*;
use chrono::TimeZone;
use embudo_core::{Attributes, Currency, EventContext, Message, MessageId, MessageKind};

fn at(minute: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

fn track(id: &str, user: Option<&str>) -> Envelope {
    Envelope {
        message: Message {
            message_id: MessageId::parse(id).unwrap(),
            kind: MessageKind::Track,
            event: Some("Product Viewed".into()),
            anonymous_id: Some(AnonymousId::parse("v-1").unwrap()),
            user_id: user.map(|u| CustomerId::parse(u).unwrap()),
            previous_id: None,
            group_id: None,
            session_id: None,
            timestamp: at(1),
            received_at: at(1),
            properties: Attributes::new(),
            traits: Attributes::new(),
            context: EventContext::default(),
        },
        effects: Vec::new(),
    }
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("embudo.db");
    (dir, path)
}

fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

#[tokio::test]
async fn data_survives_reopening_and_the_schema_is_as_configured() {
    let (_dir, path) = temp();
    {
        let store = SqliteStore::open(&path).unwrap();
        store.apply(vec![track("m1", Some("ann"))]).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.counts().await.unwrap().events, 1);
    assert_eq!(
        store.apply(vec![track("m1", Some("ann"))]).await.unwrap(),
        vec![Applied::Duplicate]
    );

    let conn = raw(&path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let writer = store.inner.writer.lock().unwrap();
    let sync: i64 = writer
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "FULL");
    let fk: bool = writer
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert!(fk);
}

#[tokio::test]
async fn the_checkpointer_copies_the_log_into_the_file_and_the_writer_never_does() {
    let (_dir, path) = temp();
    let store = SqliteStore::open_with(
        &path,
        SqliteOptions {
            checkpoint_interval: Duration::from_millis(20),
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    let autocheckpoint: i64 = store
        .inner
        .writer
        .lock()
        .unwrap()
        .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        autocheckpoint, 0,
        "the writer leaves checkpoints to the thread"
    );

    let file_len = || std::fs::metadata(&path).unwrap().len();
    let before = file_len();
    let batch = (0..2000)
        .map(|i| track(&format!("m-{i}"), Some("ann")))
        .collect();
    store.apply(batch).await.unwrap();
    // The rows reach the database file itself only through a checkpoint.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while file_len() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint within 10 s: the file is still {before} bytes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.counts().await.unwrap().events, 2000);
}

#[tokio::test]
async fn reads_are_not_blocked_by_a_write_in_progress() {
    let (_dir, path) = temp();
    let store = SqliteStore::open(&path).unwrap();
    store.apply(vec![track("m1", None)]).await.unwrap();

    // Hold the writer inside an uncommitted transaction, as a long batch would.
    let held = Arc::clone(&store.inner);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let mut conn = held.writer.lock().unwrap();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.execute(
            "INSERT INTO customers (id, created_at) VALUES ('uncommitted', 0)",
            [],
        )
        .unwrap();
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        tx.commit().unwrap();
    });
    started_rx.recv().unwrap();
    let counts = tokio::time::timeout(Duration::from_secs(2), store.counts())
        .await
        .expect("not blocked")
        .unwrap();
    assert_eq!(
        (counts.events, counts.customers),
        (1, 0),
        "uncommitted rows are invisible"
    );
    release_tx.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(store.counts().await.unwrap().customers, 1);
}

#[tokio::test]
async fn concurrent_batches_are_all_stored() {
    let (_dir, path) = temp();
    let store = SqliteStore::open(&path).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let batch = (0..50)
                    .map(|i| track(&format!("m-{t}-{i}"), Some(&format!("u-{}", i % 5))))
                    .collect();
                store.apply(batch).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().iter().all(|a| *a == Applied::Inserted));
    }
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.customers), (400, 5));
}

#[tokio::test]
async fn a_row_that_does_not_decode_is_corrupt_not_a_panic() {
    let (_dir, path) = temp();
    let store = SqliteStore::open(&path).unwrap();
    let order = embudo_core::Order {
        id: OrderId::parse("o-1").unwrap(),
        customer_id: None,
        anonymous_id: None,
        email: None,
        placed_at: at(1),
        currency: Currency::EUR,
        lines: Vec::new(),
        shipping: 0,
        tax: 0,
        discount: 0,
        coupon: None,
        attribution: Default::default(),
        history: Vec::new(),
    };
    store.upsert_orders(&[order]).await.unwrap();
    store.apply(vec![track("m1", Some("ann"))]).await.unwrap();
    let conn = raw(&path);
    conn.execute("UPDATE orders SET currency = 'XXY'", [])
        .unwrap();
    conn.execute("UPDATE events SET properties = '{not json'", [])
        .unwrap();
    conn.execute("UPDATE customers SET first_seen = 'yesterday'", [])
        .unwrap();

    let corrupt = |r: StoreResult<_>| matches!(r, Err(StoreError::Corrupt(_)));
    assert!(corrupt(
        store.order(&OrderId::parse("o-1").unwrap()).await.map(drop)
    ));
    assert!(corrupt(store.totals().await.map(drop)));
    assert!(corrupt(
        store
            .customer_events(&CustomerId::parse("ann").unwrap(), 10)
            .await
            .map(drop)
    ));
    assert!(corrupt(
        store
            .customer(&CustomerId::parse("ann").unwrap())
            .await
            .map(drop)
    ));
}

#[tokio::test]
async fn a_database_locked_by_another_process_is_unavailable() {
    let (_dir, path) = temp();
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(50),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&path, options).unwrap();
    let other = raw(&path);
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let result = store.apply(vec![track("m1", None)]).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        store.apply(vec![track("m1", None)]).await.unwrap(),
        vec![Applied::Inserted]
    );
}

#[tokio::test]
async fn a_failing_batch_leaves_nothing_behind() {
    let (_dir, path) = temp();
    let store = SqliteStore::open(&path).unwrap();
    // A trigger stands in for any failure half-way through a batch.
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER refuse AFTER INSERT ON events WHEN NEW.message_id = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .unwrap();
    let result = store
        .apply(vec![track("good", Some("ann")), track("bad", None)])
        .await;
    assert!(result.is_err());
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.events, counts.customers), (0, 0));
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path) = temp();
    drop(SqliteStore::open(&path).unwrap());
    raw(&path).pragma_update(None, "user_version", 999).unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(StoreError::Migration(_))
    ));
}

#[test]
fn hot_queries_use_their_indexes() {
    let (_dir, path) = temp();
    drop(SqliteStore::open(&path).unwrap());
    let conn = raw(&path);
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
    };
    let events =
        plan("SELECT seq FROM events WHERE customer_id = 'a' ORDER BY ts DESC, seq DESC LIMIT 5");
    assert!(
        events.contains("events_customer_ts") && !events.contains("TEMP B-TREE"),
        "{events}"
    );
    let visitor =
        plan("SELECT seq FROM events WHERE anonymous_id = 'v' ORDER BY ts DESC, seq DESC LIMIT 5");
    assert!(visitor.contains("events_anonymous"), "{visitor}");
    let info = plan("SELECT trained_at, stored_at, size FROM models WHERE key = 'ease'");
    assert!(info.contains("SEARCH"), "{info}");
    let served = plan("SELECT served_at FROM recommendations WHERE id = 'r'");
    assert!(served.contains("SEARCH"), "{served}");
    let link = plan(
        "UPDATE events SET customer_id = 'a' WHERE anonymous_id = 'v' AND customer_id IS NULL",
    );
    assert!(link.contains("events_anonymous"), "{link}");
    let page = plan("SELECT id FROM customers WHERE id > 'x' ORDER BY id LIMIT 10");
    assert!(
        page.contains("SEARCH") && !page.contains("TEMP B-TREE"),
        "{page}"
    );
}
