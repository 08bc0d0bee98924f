//! Frequently-bought-together benchmark: FP-growth over Instacart's train baskets.
//!
//! ```sh
//! cargo run --release -p embudo-recs --example fbt_bench -- \
//!     [--data ../shared/data/instacart/order_products__train.csv] \
//!     [--min-support 0.001,0.0005] [--max-len N] [--runs 5] [--out-dir target/fbt-bench]
//! ```
//!
//! Loads the baskets (timed on its own), mines the frequent itemsets `--runs` times at each
//! minimum support (timing each run; the median is printed), and writes them to
//! `<out-dir>/rust_<min_support>.tsv` in the canonical form `scripts/fbt_reference.py` writes
//! and compares: one itemset a line, `product_id product_id …<TAB>count`, product ids sorted
//! ascending within a line, lines ordered by length, then by product ids.
//!
//! Then trains an [`FbtModel`] with the default configuration, times it, and shows what it
//! offers with the three best-selling products and with a cart of two of them (names from
//! `products.csv` beside the data file, when present).

use std::collections::HashMap;
use std::error::Error;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use embudo_recs::fbt::{frequent_itemsets, min_count, FbtConfig, FbtModel, Itemset};

struct Args {
    data: PathBuf,
    min_supports: Vec<f64>,
    max_len: Option<usize>,
    runs: usize,
    out_dir: PathBuf,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        data: PathBuf::from("../shared/data/instacart/order_products__train.csv"),
        min_supports: vec![0.001, 0.0005],
        max_len: None,
        runs: 5,
        out_dir: PathBuf::from("target/fbt-bench"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => args.data = PathBuf::from(value()?),
            "--min-support" => {
                args.min_supports = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--max-len" => args.max_len = Some(value()?.parse()?),
            "--runs" => args.runs = value()?.parse::<usize>()?.max(1),
            "--out-dir" => args.out_dir = PathBuf::from(value()?),
            "-h" | "--help" => {
                println!(
                    "fbt_bench [--data CSV] [--min-support S[,S…]] [--max-len N] [--runs N] \
                     [--out-dir DIR]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

/// Baskets of dense item indices, and the product id of each index.
struct Loaded {
    baskets: Vec<Vec<u32>>,
    product_ids: Vec<u64>,
}

fn load(path: &Path) -> Result<Loaded, Box<dyn Error>> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no column {name}"))
    };
    let (order_col, product_col) = (column("order_id")?, column("product_id")?);
    let mut orders: HashMap<u64, usize> = HashMap::new();
    let mut products: HashMap<u64, u32> = HashMap::new();
    let mut product_ids: Vec<u64> = Vec::new();
    let mut baskets: Vec<Vec<u32>> = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut skipped = 0usize;
    while reader.read_byte_record(&mut record)? {
        let parse = |i: usize| -> Option<u64> {
            std::str::from_utf8(record.get(i)?)
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        let (Some(order), Some(product)) = (parse(order_col), parse(product_col)) else {
            skipped += 1;
            continue;
        };
        let b = *orders.entry(order).or_insert_with(|| {
            baskets.push(Vec::new());
            baskets.len() - 1
        });
        let item = *products.entry(product).or_insert_with(|| {
            product_ids.push(product);
            (product_ids.len() - 1) as u32
        });
        baskets[b].push(item);
    }
    if skipped > 0 {
        eprintln!("skipped {skipped} lines without a numeric order_id and product_id");
    }
    Ok(Loaded {
        baskets,
        product_ids,
    })
}

fn write_canonical(path: &Path, itemsets: &[Itemset], product_ids: &[u64]) -> std::io::Result<()> {
    let mut lines: Vec<(Vec<u64>, u32)> = itemsets
        .iter()
        .map(|s| {
            let mut ids: Vec<u64> = s.items.iter().map(|&i| product_ids[i as usize]).collect();
            ids.sort_unstable();
            (ids, s.count)
        })
        .collect();
    lines.sort_unstable_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
    let mut out = BufWriter::new(fs::File::create(path)?);
    for (ids, count) in lines {
        let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        writeln!(out, "{}\t{count}", ids.join(" "))?;
    }
    out.flush()
}

/// Product names by id, from `products.csv` (`product_id,product_name,…`) if it can be read.
fn product_names(path: &Path) -> HashMap<u64, String> {
    let mut names = HashMap::new();
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return names;
    };
    for record in reader.records().flatten() {
        if let (Some(id), Some(name)) = (record.get(0), record.get(1)) {
            if let Ok(id) = id.trim().parse() {
                names.insert(id, name.to_string());
            }
        }
    }
    names
}

fn show_model(baskets: &[Vec<u32>], product_ids: &[u64], names: &HashMap<u64, String>) {
    let config = FbtConfig::default();
    let start = Instant::now();
    let model = FbtModel::train(baskets, product_ids.len(), &config);
    println!(
        "model with {config:?}: trained in {:.1} ms, {} rules",
        start.elapsed().as_secs_f64() * 1e3,
        model.rules().len()
    );
    let name = |i: u32| {
        let id = product_ids[i as usize];
        names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("product {id}"))
    };
    let mut popular: Vec<u32> = (0..product_ids.len() as u32).collect();
    popular.sort_by_key(|&i| std::cmp::Reverse(model.item_count(i)));
    let queries = [
        vec![popular[0]],
        vec![popular[1]],
        vec![popular[2]],
        vec![popular[0], popular[2]],
    ];
    for query in queries {
        let shown: Vec<String> = query.iter().map(|&i| name(i)).collect();
        let start = Instant::now();
        let offers = model.together_with(&query, 5);
        let took = start.elapsed().as_secs_f64() * 1e6;
        println!("  with {} ({took:.0} µs):", shown.join(" + "));
        for f in offers {
            let because: Vec<String> = f.because.iter().map(|&i| name(i)).collect();
            println!(
                "    {:<45} score {:.3}  confidence {:.1}%  lift {:.2}  together in {:.2}% of \
                 orders ({} orders, with {})",
                name(f.item),
                f.score,
                f.confidence * 100.0,
                f.lift,
                f.support * 100.0,
                f.count,
                because.join(" + ")
            );
        }
    }
    if let Some(bundle) = model.bundles(popular[2], 1).first() {
        let items: Vec<String> = bundle.items.iter().map(|&i| name(i)).collect();
        println!(
            "  best bundle with {}: {} (confidence {:.1}%, lift {:.2})",
            name(popular[2]),
            items.join(" + "),
            bundle.confidence * 100.0,
            bundle.lift
        );
    }
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(|a, b| a.total_cmp(b));
    let n = times.len();
    if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let start = Instant::now();
    let Loaded {
        baskets,
        product_ids,
    } = load(&args.data)?;
    let load_s = start.elapsed().as_secs_f64();
    let lines: usize = baskets.iter().map(Vec::len).sum();
    println!(
        "loaded {} lines, {} baskets, {} products in {load_s:.3} s (threads: {})",
        lines,
        baskets.len(),
        product_ids.len(),
        rayon::current_num_threads()
    );
    fs::create_dir_all(&args.out_dir)?;
    for &min_support in &args.min_supports {
        let mut times = Vec::new();
        let mut itemsets = Vec::new();
        for _ in 0..args.runs {
            let start = Instant::now();
            itemsets = frequent_itemsets(&baskets, product_ids.len(), min_support, args.max_len);
            times.push(start.elapsed().as_secs_f64());
        }
        let runs: Vec<String> = times.iter().map(|t| format!("{:.1}", t * 1e3)).collect();
        let median_s = median(&mut times);
        let mut by_len: Vec<usize> = Vec::new();
        for s in &itemsets {
            if by_len.len() < s.items.len() {
                by_len.resize(s.items.len(), 0);
            }
            by_len[s.items.len() - 1] += 1;
        }
        let path = args.out_dir.join(format!("rust_{min_support}.tsv"));
        write_canonical(&path, &itemsets, &product_ids)?;
        println!(
            "min_support {min_support} (count >= {}): {} itemsets (by length {:?}); mining \
             median {:.1} ms over {} runs [{}] ms; written to {}",
            min_count(min_support, baskets.len()).map_or("-".to_string(), |c| c.to_string()),
            itemsets.len(),
            by_len,
            median_s * 1e3,
            args.runs,
            runs.join(", "),
            path.display()
        );
    }
    let names = product_names(&args.data.with_file_name("products.csv"));
    show_model(&baskets, &product_ids, &names);
    Ok(())
}
