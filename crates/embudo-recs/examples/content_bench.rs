//! The content model on the Instacart catalog (49,688 products): fit, precompute the top
//! neighbours of every product, memory, exactness against brute force, serving time, and
//! sample neighbour lists to judge by eye.
//!
//! ```sh
//! cargo run --release -p embudo-recs --example content_bench -- \
//!     [../shared/data/instacart/products.csv] [--k 20] [--max-postings N] \
//!     [--tfidf] [--no-stemming]
//! ```
//!
//! `aisles.csv` and `departments.csv` are read from beside `products.csv`. A product's title is
//! its name and its category path is `[department, aisle]` (the "missing" department and aisle
//! count as no category).

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;

use embudo_recs::content::{ContentConfig, ContentModel, SparseVector, Weighting};
use embudo_recs::{Catalog, CatalogItem};
use rayon::prelude::*;

fn names(path: &Path) -> Result<HashMap<String, String>, Box<dyn Error>> {
    let mut names = HashMap::new();
    for row in csv::Reader::from_path(path)?.records() {
        let row = row?;
        names.insert(row[0].to_string(), row[1].to_string());
    }
    Ok(names)
}

fn load(products: &Path) -> Result<Catalog, Box<dyn Error>> {
    let dir = products.parent().unwrap_or(Path::new("."));
    let aisles = names(&dir.join("aisles.csv"))?;
    let departments = names(&dir.join("departments.csv"))?;
    let mut items = Vec::new();
    for row in csv::Reader::from_path(products)?.records() {
        let row = row?;
        let category_path = [departments.get(&row[3]), aisles.get(&row[2])]
            .into_iter()
            .flatten()
            .filter(|name| name.as_str() != "missing")
            .cloned()
            .collect();
        items.push(CatalogItem {
            id: row[0].to_string(),
            title: row[1].to_string(),
            category_path,
            in_stock: true,
            ..CatalogItem::default()
        });
    }
    Ok(Catalog::new(items))
}

fn show(catalog: &Catalog, list: &[(u32, f32)], limit: usize) {
    for &(j, score) in list.iter().take(limit) {
        let it = catalog.item(j);
        println!(
            "    {score:.3}  {}  [{}]",
            it.title,
            it.category_path.join(" > ")
        );
    }
    if list.is_empty() {
        println!("    (none)");
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut path = PathBuf::from("../shared/data/instacart/products.csv");
    let mut k = 20;
    let mut config = ContentConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--k" => k = args.next().ok_or("--k needs a number")?.parse()?,
            "--max-postings" => {
                config.max_postings = args
                    .next()
                    .ok_or("--max-postings needs a number")?
                    .parse()?
            }
            "--tfidf" => config.weighting = Weighting::TfIdf,
            "--no-stemming" => config.stemming = false,
            other if !other.starts_with("--") => path = PathBuf::from(other),
            other => return Err(format!("unknown option {other}").into()),
        }
    }

    let started = Instant::now();
    let catalog = load(&path)?;
    println!(
        "catalog: {} products from {} in {:.2?}",
        catalog.len(),
        path.display(),
        started.elapsed()
    );
    println!("config: {config:?}");
    println!("threads: {}", rayon::current_num_threads());

    let started = Instant::now();
    let mut model = ContentModel::fit(&catalog, &config);
    let fit = started.elapsed();
    let started = Instant::now();
    model.precompute(k);
    let precompute = started.elapsed();
    let entries: usize = (0..model.len() as u32).map(|i| model.vector(i).len()).sum();
    println!(
        "fit: {fit:.2?}  ({} terms, {entries} vector entries)",
        model.vocabulary_len()
    );
    println!("precompute top-{k}: {precompute:.2?}");
    let short = (0..model.len() as u32)
        .filter(|&i| model.top(i).len() < k)
        .count();
    let none = (0..model.len() as u32)
        .filter(|&i| model.top(i).is_empty())
        .count();
    println!("products with fewer than {k} neighbours: {short}; with none: {none}");
    println!(
        "model memory: ~{:.1} MiB ({} bytes)",
        model.approx_bytes() as f64 / 1048576.0,
        model.approx_bytes()
    );

    // Serving.
    let started = Instant::now();
    let mut checksum = 0usize;
    let lookups = 1_000_000u32;
    for i in 0..lookups {
        checksum += std::hint::black_box(model.top(i % model.len() as u32)).len();
    }
    let per_lookup = started.elapsed() / lookups;
    let queries = 1_000u32;
    let started = Instant::now();
    for i in 0..queries {
        checksum += model.neighbours(i * 49 % model.len() as u32, k).len();
    }
    let per_query = started.elapsed() / queries;
    println!("top(): {per_lookup:.2?} per lookup ({checksum})");
    println!("neighbours() on the fly: {per_query:.2?} per query");

    // Exactness of the capped inverted index against brute force.
    let vectors: Vec<SparseVector> = (0..model.len() as u32).map(|i| model.vector(i)).collect();
    let sample: Vec<u32> = (0..500u32)
        .map(|s| s * (model.len() as u32 / 500))
        .collect();
    let (found, wanted) = sample
        .par_iter()
        .map(|&i| {
            let mut exact: Vec<(u32, f32)> = (0..vectors.len() as u32)
                .filter(|&j| j != i)
                .map(|j| (j, vectors[i as usize].dot(&vectors[j as usize])))
                .filter(|&(_, s)| s > 0.0)
                .collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            exact.truncate(k);
            // Count by score, so that ties at the cut do not count as misses.
            let cut = exact.last().map_or(0.0, |&(_, s)| s);
            let top = model.top(i);
            let hits = top
                .iter()
                .filter(|&&(_, s)| s >= cut - 1e-6)
                .count()
                .min(exact.len());
            (hits, exact.len())
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!(
        "recall@{k} against brute force on {} products: {:.4}",
        sample.len(),
        found as f64 / wanted.max(1) as f64
    );

    let started = Instant::now();
    let json = serde_json::to_vec(&model)?;
    let written = started.elapsed();
    let started = Instant::now();
    let back: ContentModel = serde_json::from_slice(&json)?;
    println!(
        "serde_json: {:.1} MiB, written in {written:.2?}, read (and index rebuilt) in {:.2?}",
        json.len() as f64 / 1048576.0,
        started.elapsed()
    );
    assert_eq!(back.top(0), model.top(0));
    let started = Instant::now();
    let bytes = postcard::to_stdvec(&model)?;
    let written = started.elapsed();
    let started = Instant::now();
    let back: ContentModel = postcard::from_bytes(&bytes)?;
    println!(
        "postcard: {:.1} MiB, written in {written:.2?}, read (and index rebuilt) in {:.2?}",
        bytes.len() as f64 / 1048576.0,
        started.elapsed()
    );
    assert_eq!(back.top(0), model.top(0));

    for title in [
        "Organic Strawberries",
        "Sparkling Water Grapefruit",
        "Banana",
        "Organic Whole Milk",
        "Chocolate Sandwich Cookies",
        "Extra Virgin Olive Oil",
        "Fancy Feast Trout Feast Flaked Wet Cat Food",
    ] {
        match catalog.items().iter().position(|it| it.title == title) {
            Some(i) => {
                let it = catalog.item(i as u32);
                println!("\n{title}  [{}]:", it.category_path.join(" > "));
                show(&catalog, model.top(i as u32), 10);
            }
            None => println!("\n{title}: not in the catalog"),
        }
    }

    let new = CatalogItem {
        id: "new-1".into(),
        title: "Organic Strawberry Lemonade Sparkling".into(),
        category_path: vec!["beverages".into(), "juice nectars".into()],
        brand: Some("Brand Nobody Knows".into()),
        ..CatalogItem::default()
    };
    let started = Instant::now();
    let v = model.vector_of(&new);
    let near = model.similar_to_vector(&v, 10, &[]);
    println!(
        "\ncold start, \"{}\" [{}] ({:.2?}, vector length {:.3}):",
        new.title,
        new.category_path.join(" > "),
        started.elapsed(),
        v.norm()
    );
    show(&catalog, &near, 10);

    let bought: Vec<(u32, f32)> = [
        "Organic Strawberries",
        "Organic Blueberries",
        "Sparkling Water Grapefruit",
    ]
    .iter()
    .filter_map(|t| catalog.items().iter().position(|it| it.title == *t))
    .map(|i| (i as u32, 1.0))
    .collect();
    let started = Instant::now();
    let scores = model.profile_scores(&bought, 10);
    println!(
        "\nprofile of {} bought items ({:.2?}):",
        bought.len(),
        started.elapsed()
    );
    show(&catalog, &scores, 10);
    Ok(())
}
