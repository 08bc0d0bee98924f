//! Fitting BG/NBD and Gamma-Gamma with embudo-clv against the Python package `lifetimes`, on
//! the same data in the same run.
//!
//! ```text
//! cargo run --release -p embudo-clv --example clv_bench -- DATA PYTHON [--runs N]
//!     [--python-runs N] [--calibration-end YYYY-MM-DD]
//! ```
//!
//! DATA is a CDNOW file (`CDNOW_master.txt` or `CDNOW_sample.txt`), PYTHON an interpreter with
//! `lifetimes` installed (the pins are at the top of `scripts/lifetimes_fit.py`). The Rust fit
//! (both models, from the customer summaries) runs N times (default 51) and its median is
//! compared with the median of the Python script's fits; the summary computed here is handed
//! to the script, which checks that its own (built by `lifetimes`) is identical.

#[path = "../tests/common/cdnow.rs"]
mod cdnow;

use chrono::NaiveDate;
use embudo_clv::{
    analyze, summarize, AnalyzeOptions, BgNbd, BgNbdParams, CustomerSummary, GammaGamma,
    GammaGammaParams,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Args {
    data: PathBuf,
    python: PathBuf,
    runs: usize,
    python_runs: usize,
    calibration_end: NaiveDate,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut runs = 51;
    let mut python_runs = 3;
    let mut calibration_end = NaiveDate::from_ymd_opt(1997, 9, 30).expect("a valid date");
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--runs" => {
                runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?
            }
            "--python-runs" => {
                python_runs = value("--python-runs")?
                    .parse()
                    .map_err(|e| format!("--python-runs: {e}"))?
            }
            "--calibration-end" => {
                calibration_end = value("--calibration-end")?
                    .parse()
                    .map_err(|e| format!("--calibration-end: {e}"))?
            }
            _ => positional.push(arg),
        }
    }
    let [data, python]: [String; 2] = positional
        .try_into()
        .map_err(|_| "usage: clv_bench DATA PYTHON [--runs N] [--python-runs N] [--calibration-end YYYY-MM-DD]".to_string())?;
    Ok(Args {
        data: data.into(),
        python: python.into(),
        runs: runs.max(1),
        python_runs: python_runs.max(1),
        calibration_end,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn fit(summary: &[CustomerSummary]) -> (BgNbdParams, GammaGammaParams, f64, f64) {
    let t0 = Instant::now();
    let bg = BgNbd::fit(summary).expect("BG/NBD fits");
    let t1 = Instant::now();
    let gg = GammaGamma::fit(summary, 2).expect("Gamma-Gamma fits");
    let t2 = Instant::now();
    (bg, gg, (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64())
}

fn write_summary(path: &Path, summary: &[CustomerSummary]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path).map_err(|e| e.to_string())?;
    w.write_record(["customer", "frequency", "recency", "T", "monetary_value"])
        .map_err(|e| e.to_string())?;
    for c in summary {
        let monetary = c
            .monetary(2)
            .map(|m| format!("{m:.17e}"))
            .unwrap_or_default();
        w.write_record([
            c.customer.clone(),
            c.frequency.to_string(),
            format!("{:.17e}", c.recency()),
            format!("{:.17e}", c.age()),
            monetary,
        ])
        .map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())
}

/// Equal when rounded to 3 significant digits.
fn same3(a: f64, b: f64) -> bool {
    format!("{a:.2e}") == format!("{b:.2e}")
}

fn ms(s: f64) -> String {
    format!("{:.2} ms", s * 1e3)
}

fn main() -> Result<(), String> {
    let args = parse_args()?;

    // One full pass: read, parse, summarise, fit.
    let t = Instant::now();
    let transactions = cdnow::read(&args.data)?;
    let t_read = t.elapsed().as_secs_f64();
    let t_sum = Instant::now();
    let summary = summarize(&transactions, args.calibration_end).map_err(|e| e.to_string())?;
    let t_summary = t_sum.elapsed().as_secs_f64();
    let (bg, gg, _, _) = fit(&summary);
    let total = t.elapsed().as_secs_f64();

    let (mut both, mut bg_times, mut gg_times) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.runs {
        let (_, _, t_bg, t_gg) = fit(&summary);
        bg_times.push(t_bg);
        gg_times.push(t_gg);
        both.push(t_bg + t_gg);
    }
    let (rust_fit, rust_bg, rust_gg) = (median(both), median(bg_times), median(gg_times));

    // Everything a shop would run: fit, predict every customer (one year, monthly CLV steps,
    // next order date) and validate on the later data.
    let t = Instant::now();
    let analysis = analyze(&transactions, &AnalyzeOptions::new(args.calibration_end))
        .map_err(|e| e.to_string())?;
    let t_analyze = t.elapsed().as_secs_f64();

    let csv_path =
        std::env::temp_dir().join(format!("embudo-clv-summary-{}.csv", std::process::id()));
    write_summary(&csv_path, &summary)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lifetimes_fit.py");
    let output = Command::new(&args.python)
        .arg(&script)
        .arg(&args.data)
        .arg("--calibration-end")
        .arg(args.calibration_end.to_string())
        .arg("--summary")
        .arg(&csv_path)
        .arg("--runs")
        .arg(args.python_runs.to_string())
        .output()
        .map_err(|e| format!("running {}: {e}", args.python.display()));
    let _ = std::fs::remove_file(&csv_path);
    let output = output?;
    if !output.status.success() {
        return Err(format!(
            "the lifetimes script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let py: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("the lifetimes script's output: {e}"))?;
    let num = |path: &[&str]| -> Result<f64, String> {
        let mut v = &py;
        for p in path {
            v = &v[*p];
        }
        v.as_f64()
            .ok_or(format!("no {} in the script's output", path.join(".")))
    };

    let repeat = summary.iter().filter(|c| c.frequency > 0).count();
    let gg_customers = summary
        .iter()
        .filter(|c| c.frequency > 0 && c.repeat_value_minor > 0)
        .count();
    println!(
        "Data: {} ({} transactions), calibration end {} inclusive: {} customers, {} with repeat \
         purchases, {} fitted by Gamma-Gamma (lifetimes: {} / {}).",
        args.data
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?"),
        transactions.len(),
        args.calibration_end,
        summary.len(),
        repeat,
        gg_customers,
        py["customers"],
        py["gamma_gamma_customers"],
    );
    println!(
        "Summary check (lifetimes' summary against embudo-clv's): {}",
        py["summary_check"]
    );
    println!(
        "lifetimes {} (numpy {}, pandas {}).",
        py["lifetimes"].as_str().unwrap_or("?"),
        py["numpy"].as_str().unwrap_or("?"),
        py["pandas"].as_str().unwrap_or("?")
    );
    println!();
    println!("| Parameter | embudo-clv | lifetimes | relative difference | same to 3 significant digits |");
    println!("|---|---|---|---|---|");
    let rows = [
        ("BG/NBD r", bg.r, num(&["bgnbd", "r"])?),
        ("BG/NBD alpha", bg.alpha, num(&["bgnbd", "alpha"])?),
        ("BG/NBD a", bg.a, num(&["bgnbd", "a"])?),
        ("BG/NBD b", bg.b, num(&["bgnbd", "b"])?),
        (
            "BG/NBD log-likelihood",
            bg.log_likelihood,
            num(&["bgnbd", "log_likelihood"])?,
        ),
        ("Gamma-Gamma p", gg.p, num(&["gamma_gamma", "p"])?),
        ("Gamma-Gamma q", gg.q, num(&["gamma_gamma", "q"])?),
        (
            "Gamma-Gamma gamma",
            gg.gamma,
            num(&["gamma_gamma", "gamma"])?,
        ),
    ];
    let mut all_same = true;
    for (name, ours, theirs) in rows {
        let same = same3(ours, theirs);
        all_same &= same;
        println!(
            "| {name} | {ours:.6} | {theirs:.6} | {:.1e} | {} |",
            ((ours - theirs) / theirs).abs(),
            if same { "yes" } else { "no" }
        );
    }
    println!();
    let py_fit = num(&["fit_seconds"])?;
    let py_bg = num(&["bgnbd_fit_seconds"])?;
    let py_gg = num(&["gamma_gamma_fit_seconds"])?;
    let py_grouped = num(&["bgnbd_grouped_fit_seconds"])?;
    let py_total = num(&["total_seconds"])?;
    println!(
        "| Time | embudo-clv (median of {}) | lifetimes (median of {}) | lifetimes / embudo-clv |",
        args.runs, args.python_runs
    );
    println!("|---|---|---|---|");
    println!(
        "| **fit, BG/NBD + Gamma-Gamma** | **{}** | **{}** | **{:.0}×** |",
        ms(rust_fit),
        ms(py_fit),
        py_fit / rust_fit
    );
    println!(
        "| fit, BG/NBD | {} | {} | {:.0}× |",
        ms(rust_bg),
        ms(py_bg),
        py_bg / rust_bg
    );
    println!(
        "| fit, Gamma-Gamma | {} | {} | {:.0}× |",
        ms(rust_gg),
        ms(py_gg),
        py_gg / rust_gg
    );
    println!(
        "| fit, BG/NBD, lifetimes given the data grouped into {} (x, tₓ, T) weights | {} | {} | {:.0}× |",
        py["groups"],
        ms(rust_bg),
        ms(py_grouped),
        py_grouped / rust_bg
    );
    println!(
        "| one pass: read file, summarise, fit (one sample; embudo-clv read {} + summary {}) | {} | {} | {:.0}× |",
        ms(t_read),
        ms(t_summary),
        ms(total),
        ms(py_total),
        py_total / total
    );
    println!(
        "| embudo-clv `analyze`: fit, predict {} customers (365 days), validate (one sample) | {} | | |",
        analysis.predictions.len(),
        ms(t_analyze)
    );
    if let Some(h) = &analysis.report.holdout {
        println!();
        println!(
            "Holdout {} to {} ({} weeks): actual {} repeat purchase days, predicted {:.1} \
             (relative error {:+.1} %), MAE per customer {:.3}, RMSE {:.3}.",
            h.start,
            h.end,
            h.weeks,
            h.actual,
            h.predicted,
            h.relative_error.unwrap_or(f64::NAN) * 100.0,
            h.mae,
            h.rmse
        );
        println!();
        println!("| Calibration repeat purchases | Customers | Actual (mean) | Predicted (mean) |");
        println!("|---|---|---|---|");
        for r in &h.by_frequency {
            println!(
                "| {} | {} | {} ({:.3}) | {:.1} ({:.3}) |",
                r.frequency, r.customers, r.actual, r.actual_mean, r.predicted, r.predicted_mean
            );
        }
    }
    println!();
    println!(
        "Parameters the same to 3 significant digits: {}; fit speed ratio {:.0}× (target: ≥ 20×).",
        if all_same { "yes" } else { "no" },
        py_fit / rust_fit
    );
    Ok(())
}
