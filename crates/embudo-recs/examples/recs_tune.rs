//! Development aid: evaluates variants of the hybrid's settings on a SQLite store.
//!
//! `cargo run --release -p embudo-recs --example recs_tune -- STORE.db 2010-09-01 [VARIANT…]`
//! where a variant is a JSON patch of `HybridConfig` fields, e.g. `{"knn":{"k":50}}`.

use embudo_recs::hybrid::{evaluate_hybrid, HybridConfig};
use embudo_recs::load::load;

fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let store =
        embudo_store_sqlite::SqliteStore::open(std::path::Path::new(&args[1])).expect("open store");
    let cutoff = chrono::NaiveDate::parse_from_str(&args[2], "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp();
    let data = load(&store, None, &|_| {}).await.expect("load");
    let end = data.interactions.baskets.last().unwrap().at + 1;
    let variants: Vec<String> = if args.len() > 3 {
        args[3..].to_vec()
    } else {
        vec!["{}".into()]
    };
    for v in variants {
        let mut cfg = serde_json::to_value(HybridConfig::default()).unwrap();
        merge(&mut cfg, &serde_json::from_str(&v).expect("variant JSON"));
        let cfg: HybridConfig = serde_json::from_value(cfg).expect("config");
        let r = evaluate_hybrid(&data.interactions, cutoff, end, &cfg, &());
        let line: Vec<String> = r
            .results
            .iter()
            .map(|s| {
                format!(
                    "{} {:.4}/{:.4}",
                    s.source, s.metrics.recall_at_20, s.metrics.ndcg_at_20
                )
            })
            .collect();
        println!(
            "{v}\n  {}\n  weights {:?} train {:.1}s",
            line.join("  "),
            r.blend.weights,
            r.train_seconds
        );
    }
}
