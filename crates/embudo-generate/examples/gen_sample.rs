//! Prints the messages of one generated day as JSON lines, and the day's status changes.
//!
//! `cargo run -p embudo-generate --example gen_sample -- [customers] [days] [seed]`

use chrono::NaiveDate;
use embudo_generate::{Generator, ShopSpec};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments"))
        .collect();
    let customers = args.first().copied().unwrap_or(50) as u32;
    let days = args.get(1).copied().unwrap_or(7) as u32;
    let seed = args.get(2).copied().unwrap_or(1);
    let spec = ShopSpec::new(
        customers,
        days,
        seed,
        NaiveDate::from_ymd_opt(2025, 11, 30).expect("a valid date"),
    );
    let generator = Generator::new(spec);
    if let Some(day) = generator.days().last() {
        for m in &day.messages {
            println!("{m}");
        }
        for (order, change) in &day.status_changes {
            println!(
                "# {order}: {}",
                serde_json::to_string(change).expect("serialisable")
            );
        }
    }
}
