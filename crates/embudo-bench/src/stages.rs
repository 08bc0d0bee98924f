//! Where an ingested message's time goes: each stage of the hot path timed on its own.
//!
//! - `generate`: building the JSON (the load generator's cost, on the same cores);
//! - `parse`: `embudo_ingest::parse_batch_body` (JSON to `Message`, validation, context);
//! - `effects`: `embudo_ingest::envelope` (what the message does to the shop's data);
//! - `apply`: `Store::apply` on a fresh SQLite store, one call per group of messages, for
//!   each group size asked (1,000 is a batch request; 64 is what the committer gathers from
//!   64 single-event clients), wall time (with the fsync) and CPU time;
//! - `http`: the HTTP layer alone: the same client and bodies against an axum server on the
//!   same runtime settings whose handlers only read the body and answer a fixed JSON.
//!
//! The first three run on one thread, one after the other, so their sum is the CPU a message
//! costs the server outside the store and HTTP.

use crate::gen::Generator;
use crate::load::{self, LoadResult, LoadSpec};
use crate::server::{fresh_store, Backend};
use crate::sys::process_cpu;
use anyhow::{Context, Result};
use chrono::Utc;
use embudo_ingest::{envelope, parse_batch_body, EffectsConfig, ParseLimits};
use embudo_store::Envelope;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Settings of the breakdown.
#[derive(Debug, Clone)]
pub struct StagesSpec {
    /// Messages to push through parse, effects and apply.
    pub messages: u64,
    /// Group sizes for `Store::apply`.
    pub apply_groups: Vec<u64>,
    /// Clients for the HTTP-only batch run.
    pub batch_clients: usize,
    /// Messages per batch.
    pub batch_size: u64,
    /// Clients for the HTTP-only single-message run.
    pub single_clients: usize,
    /// Length of each HTTP-only run.
    pub http_duration: Duration,
}

/// One `Store::apply` measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApplyStage {
    /// Messages per call.
    pub group: u64,
    /// Messages stored.
    pub messages: u64,
    /// Wall microseconds per message (CPU and fsync).
    pub wall_us: f64,
    /// CPU microseconds per message.
    pub cpu_us: f64,
}

/// Measurements that size possible changes to the hot path; times are per message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WhatIf {
    /// Microseconds the SQLite store spends turning `properties`, `traits` and `context` back
    /// into JSON text (`codec::json` in `insert_event`), on its single writer thread.
    pub store_serialize_us: f64,
    /// Bytes of the stored `context` column (the store's compact `EventContext`: the extracted
    /// fields and `raw`, the context as sent).
    pub context_stored_bytes: f64,
    /// Bytes of `context` as sent (what `raw` alone would store).
    pub context_sent_bytes: f64,
    /// Microseconds of `serde_json::from_str::<Value>` of one message alone (the DOM that
    /// `parse_one` builds before reading fields).
    pub dom_parse_us: f64,
    /// Microseconds to read the fields the server needs into a borrowed struct, keeping
    /// `properties`, `traits` and `context` as raw JSON text (and reading `context`'s page,
    /// campaign, device, location, user agent, locale and IP, and the timestamp).
    pub lean_parse_us: f64,
}

/// What the breakdown measured; times are per message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StagesResult {
    /// Messages measured.
    pub messages: u64,
    /// Average JSON size of a message, in bytes.
    pub message_bytes: f64,
    /// Microseconds to build a message's JSON.
    pub generate_us: f64,
    /// Microseconds to parse a message.
    pub parse_us: f64,
    /// Microseconds to decide its effects.
    pub effects_us: f64,
    /// `Store::apply` per group size.
    pub apply: Vec<ApplyStage>,
    /// Sizing of possible changes.
    pub what_if: WhatIf,
    /// HTTP only, batch bodies.
    pub http_batch: LoadResult,
    /// HTTP only, single messages.
    pub http_single: LoadResult,
}

/// Runs the breakdown: in-process stages on this thread, `apply` and HTTP on `server_rt`, the
/// HTTP clients on `client_rt`.
pub fn run(
    generator: Arc<Generator>,
    spec: &StagesSpec,
    dir: Option<&Path>,
    server_rt: &Runtime,
    client_rt: &Runtime,
) -> Result<StagesResult> {
    let batches = spec.messages.div_ceil(spec.batch_size);
    let messages = batches * spec.batch_size;
    eprintln!("stages: generating, parsing and deciding effects for {messages} messages");

    let started = Instant::now();
    let bodies: Vec<String> = (0..batches)
        .map(|b| {
            let mut body = String::with_capacity(spec.batch_size as usize * 1400);
            generator.batch_body(b * spec.batch_size, spec.batch_size, &mut body);
            body
        })
        .collect();
    let generate_us = started.elapsed().as_secs_f64() * 1e6 / messages as f64;
    let message_bytes = bodies.iter().map(String::len).sum::<usize>() as f64 / messages as f64;

    let limits = ParseLimits {
        max_message_bytes: 32 * 1024,
        max_batch_bytes: usize::MAX,
    };
    let config = EffectsConfig::default();
    let parse = |body: &String| -> Result<Vec<(usize, embudo_core::Message)>> {
        let batch = parse_batch_body(body.as_bytes(), Utc::now(), &limits)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(
            batch.rejected.is_empty(),
            "refused: {:?}",
            batch.rejected.first()
        );
        Ok(batch.messages)
    };
    // Timed batch by batch and freed at once, as the server frees a batch after its commit:
    // keeping every message alive would charge the parser for page faults of memory the
    // server would have reused.
    let (mut parse_time, mut effects_time) = (Duration::ZERO, Duration::ZERO);
    for body in &bodies {
        let started = Instant::now();
        let batch = parse(body)?;
        parse_time += started.elapsed();
        let started = Instant::now();
        let envelopes = batch
            .into_iter()
            .map(|(_, m)| envelope(m, &config).map_err(|e| anyhow::anyhow!("{e}")))
            .collect::<Result<Vec<Envelope>>>()?;
        drop(std::hint::black_box(envelopes));
        effects_time += started.elapsed();
    }
    let parse_us = parse_time.as_secs_f64() * 1e6 / messages as f64;
    let effects_us = effects_time.as_secs_f64() * 1e6 / messages as f64;
    let (dom_parse_us, lean_parse_us) = parse_alternatives(&bodies)?;
    // Again, off the clock, to keep the envelopes for `Store::apply`.
    let mut envelopes: Vec<Envelope> = Vec::with_capacity(messages as usize);
    for body in &bodies {
        for (_, m) in parse(body)? {
            envelopes.push(envelope(m, &config).map_err(|e| anyhow::anyhow!("{e}"))?);
        }
    }
    drop(bodies);

    let started = Instant::now();
    let (mut stored, mut sent) = (0usize, 0usize);
    for e in &envelopes {
        let m = &e.message;
        std::hint::black_box(serde_json::to_string(&m.properties)?);
        std::hint::black_box(serde_json::to_string(&m.traits)?);
        stored += std::hint::black_box(crate::limit::context_json(&m.context)).len();
    }
    let store_serialize_us = started.elapsed().as_secs_f64() * 1e6 / messages as f64;
    for e in &envelopes {
        sent += serde_json::to_string(&e.message.context.raw)?.len();
    }
    let what_if = WhatIf {
        store_serialize_us,
        context_stored_bytes: stored as f64 / messages as f64,
        context_sent_bytes: sent as f64 / messages as f64,
        dom_parse_us,
        lean_parse_us,
    };

    let mut apply = Vec::new();
    for &group in &spec.apply_groups {
        // Small groups commit (and fsync) once per group: fewer messages keep the run short.
        let count = if group >= 1_000 {
            messages
        } else {
            (group * 400).min(messages)
        };
        eprintln!(
            "stages: Store::apply of {count} messages in groups of {group} on a fresh SQLite store"
        );
        let work: Vec<Vec<Envelope>> = envelopes[..count as usize]
            .chunks(group as usize)
            .map(<[Envelope]>::to_vec)
            .collect();
        let stage = server_rt.block_on(async {
            let fresh = fresh_store(Backend::Sqlite, dir).await?;
            let cpu = process_cpu();
            let started = Instant::now();
            for chunk in work {
                fresh.store.apply(chunk).await.context("Store::apply")?;
            }
            let wall = started.elapsed().as_secs_f64();
            let cpu = process_cpu() - cpu;
            let stored = fresh.store.counts().await?.events as u64;
            anyhow::ensure!(stored == count, "{stored} events stored of {count}");
            anyhow::Ok(ApplyStage {
                group,
                messages: count,
                wall_us: wall * 1e6 / count as f64,
                cpu_us: cpu * 1e6 / count as f64,
            })
        })?;
        apply.push(stage);
    }
    drop(envelopes);

    let addr = server_rt.block_on(start_null_server())?;
    eprintln!(
        "stages: HTTP only, {} clients posting batches of {}",
        spec.batch_clients, spec.batch_size
    );
    let batch_spec = LoadSpec {
        path: "/v1/batch",
        clients: spec.batch_clients,
        per_request: spec.batch_size,
        duration: spec.http_duration,
        progress: Duration::from_secs(5),
        postmaster: None,
    };
    let http_batch =
        client_rt.block_on(load::run(addr, "none", generator.clone(), &batch_spec, 0))?;
    eprintln!(
        "stages: HTTP only, {} clients posting single messages",
        spec.single_clients
    );
    let single_spec = LoadSpec {
        path: "/v1/track",
        clients: spec.single_clients,
        per_request: 1,
        ..batch_spec
    };
    let http_single = client_rt.block_on(load::run(addr, "none", generator, &single_spec, 0))?;
    Ok(StagesResult {
        messages,
        message_bytes,
        generate_us,
        parse_us,
        effects_us,
        apply,
        what_if,
        http_batch,
        http_single,
    })
}

/// An axum server whose tracking routes read the body and answer at once, as the real ones
/// would if parsing, effects and the store took no time.
async fn start_null_server() -> Result<std::net::SocketAddr> {
    use axum::body::Bytes;
    use axum::routing::post;
    // `Bytes` reads the whole body, as the real handlers do; the answer is fixed (the load
    // generator counts requests here, not accepted messages).
    async fn answer(_body: Bytes) -> ([(axum::http::HeaderName, &'static str); 1], &'static str) {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            "{\"success\":true,\"accepted\":0,\"duplicates\":0}",
        )
    }
    let app = axum::Router::new()
        .route("/v1/batch", post(answer))
        .route("/v1/track", post(answer))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// Times two ways of reading the same messages: into a `serde_json::Value` (what the parser
/// does first), and into a borrowed struct that keeps the bulky objects as raw text.
fn parse_alternatives(bodies: &[String]) -> Result<(f64, f64)> {
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use std::borrow::Cow;

    #[derive(Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        batch: Vec<&'a RawValue>,
    }
    #[allow(dead_code)] // read by the deserializer only: this measures the reading
    #[derive(Deserialize)]
    struct Lean<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<Cow<'a, str>>,
        #[serde(rename = "messageId", borrow)]
        message_id: Option<Cow<'a, str>>,
        #[serde(rename = "anonymousId", borrow)]
        anonymous_id: Option<Cow<'a, str>>,
        #[serde(rename = "userId", borrow)]
        user_id: Option<Cow<'a, str>>,
        #[serde(borrow)]
        event: Option<Cow<'a, str>>,
        #[serde(borrow)]
        timestamp: Option<Cow<'a, str>>,
        #[serde(borrow)]
        properties: Option<&'a RawValue>,
        #[serde(borrow)]
        traits: Option<&'a RawValue>,
        #[serde(borrow)]
        context: Option<&'a RawValue>,
    }
    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        url: Option<Cow<'a, str>>,
        #[serde(borrow)]
        referrer: Option<Cow<'a, str>>,
        #[serde(borrow, rename = "type")]
        kind: Option<Cow<'a, str>>,
        #[serde(borrow)]
        source: Option<Cow<'a, str>>,
        #[serde(borrow)]
        medium: Option<Cow<'a, str>>,
        #[serde(borrow)]
        name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        country: Option<Cow<'a, str>>,
        #[serde(borrow)]
        city: Option<Cow<'a, str>>,
    }
    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct LeanContext<'a> {
        #[serde(borrow)]
        page: Option<Named<'a>>,
        #[serde(borrow)]
        campaign: Option<Named<'a>>,
        #[serde(borrow)]
        device: Option<Named<'a>>,
        #[serde(borrow)]
        location: Option<Named<'a>>,
        #[serde(borrow, rename = "userAgent")]
        user_agent: Option<Cow<'a, str>>,
        #[serde(borrow)]
        locale: Option<Cow<'a, str>>,
        #[serde(borrow)]
        ip: Option<Cow<'a, str>>,
    }

    let mut messages = 0usize;
    let mut dom = Duration::ZERO;
    let mut lean = Duration::ZERO;
    for body in bodies {
        let body: Body = serde_json::from_str(body)?;
        messages += body.batch.len();
        let started = Instant::now();
        for raw in &body.batch {
            std::hint::black_box(serde_json::from_str::<serde_json::Value>(raw.get())?);
        }
        dom += started.elapsed();
        let started = Instant::now();
        for raw in &body.batch {
            let message: Lean = serde_json::from_str(raw.get())?;
            if let Some(context) = message.context {
                std::hint::black_box(serde_json::from_str::<LeanContext>(context.get())?);
            }
            if let Some(t) = &message.timestamp {
                std::hint::black_box(chrono::DateTime::parse_from_rfc3339(t)?);
            }
            std::hint::black_box(message);
        }
        lean += started.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / messages.max(1) as f64;
    Ok((per(dom), per(lean)))
}
