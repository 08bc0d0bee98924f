//! Measures generation speed and prints the shape of the generated traffic.
//!
//! `cargo run --release -p embudo-generate --example gen_bench -- [customers] [days] [seed] [threads]`
//! (defaults: 20000 customers, 365 days, seed 1, 1 thread).
//!
//! Three speeds are reported: wall-clock time inside `Days::next` (generation as the caller
//! sees it), the generating thread's CPU time inside it (meaningful on a busy machine; Linux
//! only, single-threaded runs only), and the whole run including counting and freeing the
//! messages. Freeing `serde_json::Value`s is as costly as building them with glibc's
//! allocator, so a consumer's throughput is lower than the generator's.

use chrono::NaiveDate;
use embudo_generate::{Generator, ShopSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// CPU time of the calling thread, from `/proc/thread-self/schedstat` (zero elsewhere).
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|ns| ns.parse().ok()))
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments"))
        .collect();
    let customers = args.first().copied().unwrap_or(20_000) as u32;
    let days = args.get(1).copied().unwrap_or(365) as u32;
    let seed = args.get(2).copied().unwrap_or(1);
    let threads = args.get(3).copied().unwrap_or(1) as usize;
    let spec = ShopSpec::new(
        customers,
        days,
        seed,
        NaiveDate::from_ymd_opt(2025, 12, 31).expect("a valid date"),
    );
    let started = Instant::now();
    let generator = Generator::new(spec).with_threads(threads);
    let setup = started.elapsed();
    let estimate = generator.estimated_events();

    let mut events = 0u64;
    let mut changes = 0u64;
    let mut largest_day = 0usize;
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut sessions: BTreeMap<String, u8> = BTreeMap::new();
    let mut users = BTreeSet::new();
    let (mut inside, mut inside_cpu) = (Duration::ZERO, Duration::ZERO);
    let run = Instant::now();
    let mut stream = generator.days();
    loop {
        let (t, c) = (Instant::now(), thread_cpu());
        let Some(day) = stream.next() else { break };
        inside += t.elapsed();
        inside_cpu += thread_cpu() - c;
        largest_day = largest_day.max(day.messages.len());
        changes += day.status_changes.len() as u64;
        for m in &day.messages {
            events += 1;
            let name = m
                .get("event")
                .or_else(|| m.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or("?");
            *kinds.entry(name.to_string()).or_default() += 1;
            if let Some(session) = m.pointer("/context/sessionId").and_then(|v| v.as_str()) {
                let flag = match name {
                    "Product Viewed" => 1,
                    "Product Added" => 2,
                    "Checkout Started" => 4,
                    "Order Completed" => 8,
                    _ => 0,
                };
                *sessions.entry(session.to_string()).or_default() |= flag;
            }
            if let Some(u) = m.get("userId").and_then(|v| v.as_str()) {
                users.insert(u.to_string());
            }
        }
    }
    let total = run.elapsed();
    let rate = |d: Duration| events as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "spec: {customers} customers, {days} days, seed {seed}, {threads} thread(s); {} products; setup {setup:.2?}",
        generator.catalog().len()
    );
    println!(
        "{events} messages, {changes} status changes; estimate {estimate} ({:+.1}%); {:.3} per customer per day; largest day {largest_day}",
        (estimate as f64 / events.max(1) as f64 - 1.0) * 100.0,
        events as f64 / f64::from(customers.max(1)) / f64::from(days.max(1)),
    );
    println!(
        "generation (wall, inside next): {inside:.2?} = {:.0} events/s",
        rate(inside)
    );
    if threads == 1 {
        println!(
            "generation (thread CPU time):   {inside_cpu:.2?} = {:.0} events/CPU-s",
            rate(inside_cpu)
        );
    }
    println!(
        "whole run incl. freeing:        {total:.2?} = {:.0} events/s",
        rate(total)
    );
    let n = sessions.len().max(1) as f64;
    let share = |flag: u8| sessions.values().filter(|&&f| f & flag != 0).count() as f64 / n * 100.0;
    println!(
        "{} sessions: {:.1}% view a product, {:.1}% add to cart, {:.1}% start checkout, {:.1}% order; {} distinct userIds",
        sessions.len(),
        share(1),
        share(2),
        share(4),
        share(8),
        users.len()
    );
    for (kind, count) in &kinds {
        println!("  {kind:28} {count:>10}");
    }
}
