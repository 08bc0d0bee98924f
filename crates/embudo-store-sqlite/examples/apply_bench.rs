//! Measures the ingestion hot path: `Store::apply` with batches of track events.
//!
//! ```text
//! cargo run --release -p embudo-store-sqlite --example apply_bench -- [batches] [batch_size]
//! ```
//!
//! Defaults: 200 batches of 1,000 events, into a new database in a temporary directory. Every
//! event has a visitor id (20,000 visitors) and one in ten a user id (2,000 customers); the
//! properties are a product view's few fields. Messages are built before the clock starts, so
//! the figure is the store's alone: insert, dedup, identity resolution, customer upkeep and
//! one durable commit per batch.

use chrono::{Duration, TimeZone, Utc};
use embudo_core::{
    AnonymousId, Attribution, CustomerId, EventContext, Message, MessageId, MessageKind,
};
use embudo_store::{Applied, Envelope, Store};
use embudo_store_sqlite::SqliteStore;
use serde_json::json;
use std::time::Instant;

/// A bijective scramble of `n` (SplitMix64's finalizer).
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How message ids look.
#[derive(Clone, Copy)]
enum Ids {
    Random,
    Timed,
}

fn event(n: u64, ids: Ids) -> Message {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let properties =
        json!({"product_id": format!("p-{}", n % 500), "price": 19.99, "currency": "EUR"});
    let raw = json!({"locale": "de-DE", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"});
    Message {
        message_id: MessageId::parse(match ids {
            // UUID-like: every insert lands somewhere else in the unique index.
            Ids::Random => format!("{:016x}-{:016x}", splitmix64(n), splitmix64(!n)),
            // Like analytics.js's `ajs-next-<millis>-<uuid>`: ids grow with time.
            Ids::Timed => format!(
                "ajs-next-{}-{:016x}",
                1_767_225_600_000 + n * 37 / 1000,
                splitmix64(n)
            ),
        })
        .unwrap(),
        kind: MessageKind::Track,
        event: Some("Product Viewed".into()),
        anonymous_id: Some(
            AnonymousId::parse(format!("anon-{}", n.wrapping_mul(7919) % 20_000)).unwrap(),
        ),
        user_id: (n % 10 == 0).then(|| CustomerId::parse(format!("user-{}", n % 2_000)).unwrap()),
        previous_id: None,
        group_id: None,
        session_id: Some(format!("s-{}", n / 20)),
        timestamp: start + Duration::milliseconds(n as i64 * 37),
        received_at: start + Duration::milliseconds(n as i64 * 37 + 120),
        properties: properties.as_object().unwrap().clone(),
        traits: Default::default(),
        context: EventContext {
            device_type: Some("desktop".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
            locale: Some("de-DE".into()),
            country: Some("DE".into()),
            city: None,
            ip: None,
            attribution: Attribution {
                source: Some("newsletter".into()),
                ..Default::default()
            },
            page_url: Some(format!("https://shop.example/p/{}", n % 500)),
            raw: raw.as_object().unwrap().clone(),
        },
    }
}

/// User plus system CPU time of this process so far, from `/proc/self/stat` (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime
    // are fields 14 and 15, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    fields
        .get(11)
        .zip(fields.get(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

/// Bytes this process caused to be written to storage, from `/proc/self/io` (Linux; 0 elsewhere).
fn written_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let batches: u64 = args
        .next()
        .map(|a| a.parse().expect("batches is a number"))
        .unwrap_or(200);
    let batch_size: u64 = args
        .next()
        .map(|a| a.parse().expect("batch_size is a number"))
        .unwrap_or(1_000);
    let ids = match args.next().as_deref() {
        None | Some("random") => Ids::Random,
        Some("timed") => Ids::Timed,
        Some(other) => panic!("ids are `random` or `timed`, not `{other}`"),
    };

    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("bench.db")).expect("open the store");

    let work: Vec<Vec<Envelope>> = (0..batches)
        .map(|b| {
            (0..batch_size)
                .map(|i| Envelope {
                    message: event(b * batch_size + i, ids),
                    effects: Vec::new(),
                })
                .collect()
        })
        .collect();

    let (cpu0, io0) = (cpu_seconds(), written_bytes());
    let started = Instant::now();
    let mut slowest = std::time::Duration::ZERO;
    for batch in work {
        let t = Instant::now();
        let applied = store.apply(batch).await.expect("apply");
        slowest = slowest.max(t.elapsed());
        debug_assert!(applied.iter().all(|a| *a == Applied::Inserted));
    }
    let elapsed = started.elapsed();
    let (cpu, io) = (cpu_seconds() - cpu0, written_bytes() - io0);
    let events = batches * batch_size;
    let counts = store.counts().await.expect("counts");
    assert_eq!(counts.events as u64, events);
    println!(
        "{events} events in {batches} batches of {batch_size}: {:.2} s, {:.0} events/s, slowest batch {:.1} ms ({} customers)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        counts.customers,
    );
    println!(
        "  CPU {:.2} s ({:.1} µs/event), written to disk {:.1} MiB ({:.0} bytes/event)",
        cpu,
        cpu * 1e6 / events as f64,
        io as f64 / (1 << 20) as f64,
        io as f64 / events as f64,
    );
}
