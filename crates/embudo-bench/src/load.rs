//! The load generator: concurrent keep-alive clients posting tracking messages for a fixed
//! time, with per-request latencies.
//!
//! Each client builds its next body itself (see [`crate::gen`]) from a shared message counter,
//! so no message id repeats and memory stays bounded however fast the server goes. Building a
//! body costs the client about a microsecond per message; that CPU time is measured (client
//! threads are named apart) and reported next to the server's.
//!
//! A request counts as acknowledged only on `200` with `success: true`; its `accepted`,
//! `duplicates` and `rejected` are summed, so the caller can check that the store holds
//! exactly the acknowledged messages.

use crate::client::{request, Connection};
use crate::gen::Generator;
use crate::sys::{CpuMark, CpuUse};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// `/v1/batch` (bodies of `per_request` messages) or `/v1/track` (one message each).
    pub path: &'static str,
    /// Concurrent connections, each with at most one request in flight.
    pub clients: usize,
    /// Messages per request (1 for `/v1/track`).
    pub per_request: u64,
    /// How long clients keep starting requests.
    pub duration: Duration,
    /// How often to print progress (to stderr).
    pub progress: Duration,
    /// The postmaster of the PostgreSQL cluster behind the server, to count its CPU.
    pub postmaster: Option<u32>,
}

/// What happened.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadResult {
    /// Requests answered `200`.
    pub requests: u64,
    /// Requests answered otherwise, or failed.
    pub failures: u64,
    /// The first failure, for the report.
    pub failure_sample: Option<String>,
    /// Messages the server said it stored.
    pub accepted: u64,
    /// Messages the server said were repeats (should be 0).
    pub duplicates: u64,
    /// Messages the server refused (should be 0).
    pub rejected: u64,
    /// Seconds from the first request to the last answer.
    pub seconds: f64,
    /// Bytes of request bodies sent.
    pub body_bytes: u64,
    /// Latency percentiles of answered requests, in milliseconds: p50, p90, p99, max.
    pub latency_ms: [f64; 4],
    /// CPU use during the run.
    pub cpu: CpuUse,
}

impl LoadResult {
    /// Acknowledged messages per second.
    pub fn events_per_second(&self) -> f64 {
        self.accepted as f64 / self.seconds
    }

    /// Answered requests per second.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

#[derive(serde::Deserialize)]
struct TrackAnswer {
    success: bool,
    accepted: u64,
    duplicates: u64,
    #[serde(default)]
    rejected: Vec<serde_json::Value>,
}

#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    failures: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    body_bytes: AtomicU64,
    failure_sample: Mutex<Option<String>>,
}

impl Totals {
    fn fail(&self, why: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.failure_sample.lock().expect("lock").get_or_insert(why);
    }
}

/// Runs the load against `addr` with `secret`; messages are numbered from `first_message`.
pub async fn run(
    addr: SocketAddr,
    secret: &str,
    generator: Arc<Generator>,
    spec: &LoadSpec,
    first_message: u64,
) -> Result<LoadResult> {
    let counter = Arc::new(AtomicU64::new(first_message));
    let totals = Arc::new(Totals::default());
    // Everyone connects first; the clock starts when all are ready.
    let ready = Arc::new(tokio::sync::Barrier::new(spec.clients + 1));
    let start_at = Arc::new(Mutex::new(None::<Instant>));
    let mut tasks = Vec::with_capacity(spec.clients);
    for _ in 0..spec.clients {
        let mut conn = Connection::connect(addr).await?;
        let (counter, totals, ready, generator, start_at) = (
            counter.clone(),
            totals.clone(),
            ready.clone(),
            generator.clone(),
            start_at.clone(),
        );
        let spec = spec.clone();
        let secret = secret.to_string();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(64 * 1024);
            let mut body = String::with_capacity(spec.per_request as usize * 1400 + 64);
            ready.wait().await;
            let deadline = start_at.lock().expect("lock").expect("started") + spec.duration;
            while Instant::now() < deadline {
                let first = counter.fetch_add(spec.per_request, Ordering::Relaxed);
                body.clear();
                if spec.path == "/v1/batch" {
                    generator.batch_body(first, spec.per_request, &mut body);
                } else {
                    generator.message(first, &mut body);
                }
                let req = request(spec.path, &secret, body.as_bytes());
                let sent = Instant::now();
                let answer = match conn.send(&req).await {
                    Ok(answer) => answer,
                    Err(err) => {
                        totals.fail(format!("{err:#}"));
                        // The connection is unusable; a new one keeps the client going.
                        match Connection::connect(addr).await {
                            Ok(c) => conn = c,
                            Err(_) => return latencies,
                        }
                        continue;
                    }
                };
                let latency = sent.elapsed();
                if answer.status != 200 {
                    totals.fail(format!(
                        "HTTP {}: {}",
                        answer.status,
                        String::from_utf8_lossy(answer.body)
                    ));
                    continue;
                }
                match serde_json::from_slice::<TrackAnswer>(answer.body) {
                    Ok(a) if a.success => {
                        latencies.push(latency.as_micros().min(u32::MAX as u128) as u32);
                        totals.requests.fetch_add(1, Ordering::Relaxed);
                        totals.accepted.fetch_add(a.accepted, Ordering::Relaxed);
                        totals.duplicates.fetch_add(a.duplicates, Ordering::Relaxed);
                        totals
                            .rejected
                            .fetch_add(a.rejected.len() as u64, Ordering::Relaxed);
                        totals
                            .body_bytes
                            .fetch_add(body.len() as u64, Ordering::Relaxed);
                    }
                    _ => totals.fail(format!(
                        "unexpected answer: {}",
                        String::from_utf8_lossy(answer.body)
                    )),
                }
            }
            latencies
        }));
    }
    let mark = CpuMark::now(spec.postmaster);
    let started = Instant::now();
    *start_at.lock().expect("lock") = Some(started);
    ready.wait().await;

    // Progress, until the clients are done.
    let progress = {
        let totals = totals.clone();
        let every = spec.progress;
        let per_request = spec.per_request;
        tokio::spawn(async move {
            let mut last = (0u64, Instant::now());
            loop {
                tokio::time::sleep(every).await;
                let accepted = totals.accepted.load(Ordering::Relaxed);
                let now = Instant::now();
                let rate = (accepted - last.0) as f64 / (now - last.1).as_secs_f64();
                eprintln!(
                    "  {:>5.1} s  {:>10} messages acknowledged  {:>9.0}/s now{}",
                    started.elapsed().as_secs_f64(),
                    accepted,
                    rate,
                    if per_request > 1 {
                        format!("  ({:.0} requests/s)", rate / per_request as f64)
                    } else {
                        String::new()
                    },
                );
                last = (accepted, now);
            }
        })
    };
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.context("a client task panicked")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = mark.since();
    progress.abort();

    latencies.sort_unstable();
    let pick = |q: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        latencies[((latencies.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
    };
    let failure_sample = totals.failure_sample.lock().expect("lock").clone();
    Ok(LoadResult {
        requests: totals.requests.load(Ordering::Relaxed),
        failures: totals.failures.load(Ordering::Relaxed),
        failure_sample,
        accepted: totals.accepted.load(Ordering::Relaxed),
        duplicates: totals.duplicates.load(Ordering::Relaxed),
        rejected: totals.rejected.load(Ordering::Relaxed),
        seconds,
        body_bytes: totals.body_bytes.load(Ordering::Relaxed),
        latency_ms: [pick(0.5), pick(0.9), pick(0.99), pick(1.0)],
        cpu,
    })
}
