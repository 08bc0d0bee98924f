//! The CDNOW data set (Fader, Hardie & Lee 2005): every purchase of a cohort of customers of
//! a CD shop, one line each, whitespace-separated.
//!
//! - `CDNOW_master.txt`: `customer_id date number_of_cds dollar_value`, first line a header;
//! - `CDNOW_sample.txt`: `customer_id sample_id date number_of_cds dollar_value`, no header.
//!
//! The layout is told by the number of columns of the first data line. Each line is one order
//! in USD (or the currency option), placed at midnight of its day in the timezone option, with
//! the id `cdnow:{customer}:{date}:{n}` where `n` counts the purchases of that customer on
//! that day in the file (1, 2…), so ids are stable across imports.
//!
//! CDNOW has no products and no unit prices: each order has one product line, product
//! `cdnow-cd`, quantity 1 and unit price the whole dollar value, so that money stays exact (a
//! per-CD price would not divide evenly); the number of CDs is kept in the line's title
//! (`3 CDs`). Purchases worth 0 are imported as they are, and counted.

use crate::input::{localize, non_empty, parse_money_rounding};
use crate::pipeline::{file_size, Ctx, Stop};
use crate::report::Reason;
use crate::ImportError;
use chrono::{DateTime, NaiveDate, Utc};
use embudo_core::{
    Attribution, Currency, CustomerId, CustomerPatch, LineKind, Order, OrderId, OrderLine, Product,
    ProductId,
};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The product every CDNOW line refers to.
pub(crate) const PRODUCT_ID: &str = "cdnow-cd";

const EXPECTED: [&str; 2] = [
    "customer_id date(YYYYMMDD) number_of_cds dollar_value",
    "customer_id sample_id date(YYYYMMDD) number_of_cds dollar_value",
];

/// Which file layout: where the date, the count and the value are.
#[derive(Clone, Copy)]
struct Layout {
    columns: usize,
    date: usize,
    cds: usize,
    value: usize,
}

const MASTER: Layout = Layout {
    columns: 4,
    date: 1,
    cds: 2,
    value: 3,
};
const SAMPLE: Layout = Layout {
    columns: 5,
    date: 2,
    cds: 3,
    value: 4,
};

/// A text file read line by line, decoded lossily.
struct Lines {
    reader: BufReader<File>,
    buf: Vec<u8>,
    text: String,
    line: u64,
    position: u64,
    invalid_utf8: bool,
}

impl Lines {
    fn open(path: &Path) -> Result<Self, ImportError> {
        let file = File::open(path).map_err(|e| ImportError::read(path, e))?;
        Ok(Self {
            reader: BufReader::new(file),
            buf: Vec::new(),
            text: String::new(),
            line: 0,
            position: 0,
            invalid_utf8: false,
        })
    }

    fn next(&mut self, path: &Path) -> Result<bool, ImportError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| ImportError::read(path, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.position += n as u64;
        self.line += 1;
        let text = String::from_utf8_lossy(&self.buf);
        self.invalid_utf8 = matches!(text, std::borrow::Cow::Owned(_));
        self.text.clear();
        self.text.push_str(&text);
        Ok(true)
    }

    fn tokens(&self) -> Vec<&str> {
        self.text.split_whitespace().collect()
    }
}

fn is_data(tokens: &[&str]) -> bool {
    tokens
        .first()
        .is_some_and(|t| t.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads the first non-blank line to tell the layout; true when that line is a header.
fn detect(path: &Path) -> Result<(Layout, bool), ImportError> {
    let mut lines = Lines::open(path)?;
    while lines.next(path)? {
        let tokens = lines.tokens();
        if tokens.is_empty() {
            continue;
        }
        let layout = match tokens.len() {
            4 => MASTER,
            5 => SAMPLE,
            _ => break,
        };
        return Ok((layout, !is_data(&tokens)));
    }
    Err(ImportError::UnknownLayout {
        path: path.to_path_buf(),
        found: lines.text.trim().to_string(),
        expected: EXPECTED.iter().map(|s| s.to_string()).collect(),
    })
}

/// Seen times of a customer.
struct Seen {
    seq: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

fn read_row(
    ctx: &mut Ctx,
    tokens: &[&str],
    layout: Layout,
    occurrences: &mut HashMap<(String, String), u32>,
    currency: Currency,
) -> Result<(Order, bool), Reason> {
    if tokens.len() != layout.columns {
        return Err(Reason::WrongColumnCount);
    }
    let customer = tokens[0];
    let customer_id = CustomerId::parse(customer).map_err(|_| Reason::BadId)?;
    let date = tokens[layout.date];
    // chrono would take `1997011` as January 1st; the data set always writes eight digits.
    if date.len() != 8 {
        return Err(Reason::BadDate);
    }
    let day = NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|_| Reason::BadDate)?;
    let placed_at = localize(
        day.and_hms_opt(0, 0, 0).expect("midnight exists"),
        ctx.options.timezone,
    )?;
    let cds: i64 = tokens[layout.cds]
        .parse()
        .map_err(|_| Reason::BadQuantity)?;
    if cds < 0 {
        return Err(Reason::BadQuantity);
    }
    let (value, rounded) = parse_money_rounding(tokens[layout.value], currency)?;
    if value < 0 {
        return Err(Reason::BadAmount);
    }
    let n = occurrences
        .entry((customer.to_string(), date.to_string()))
        .or_insert(0);
    *n += 1;
    let id = OrderId::parse(format!("cdnow:{customer}:{date}:{n}")).map_err(|_| Reason::BadId)?;
    let order = Order {
        id,
        customer_id: Some(customer_id),
        anonymous_id: None,
        email: None,
        placed_at,
        currency,
        lines: vec![OrderLine {
            kind: LineKind::Product,
            product_id: Some(ProductId::parse(PRODUCT_ID).expect("valid id")),
            sku: None,
            title: non_empty(&format!("{cds} CD{}", if cds == 1 { "" } else { "s" })),
            quantity: 1,
            unit_price: value,
            discount: 0,
        }],
        shipping: 0,
        tax: 0,
        discount: 0,
        coupon: None,
        attribution: Attribution::default(),
        history: Vec::new(),
    };
    Ok((order, rounded))
}

pub(crate) fn run(ctx: &mut Ctx, paths: &[PathBuf]) -> Result<(), Stop> {
    let mut layouts = Vec::new();
    for path in paths {
        layouts.push(detect(path)?);
    }
    let currency = ctx.options.currency_or(Currency::USD);
    let mut product = Product::new(
        ProductId::parse(PRODUCT_ID).expect("valid id"),
        "CD (CDNOW)",
        currency,
    );
    product.description =
        Some("Any CD bought at CDNOW; the data set records how many, not which.".into());
    ctx.product(product)?;

    let mut customers: HashMap<String, Seen> = HashMap::new();
    for (path, (layout, has_header)) in paths.iter().zip(layouts) {
        let name = path.display().to_string();
        ctx.report.file(name.clone());
        // Ids count repeat purchases within one file, so the same file always gives the same
        // ids and the sample (a subset of the master file) gives the master's ids.
        let mut occurrences = HashMap::new();
        let mut lines = Lines::open(path)?;
        let mut header_pending = has_header;
        while lines.next(path)? {
            let tokens = lines.tokens();
            if tokens.is_empty() {
                continue;
            }
            if header_pending {
                header_pending = false;
                continue;
            }
            ctx.report.rows += 1;
            if lines.invalid_utf8 {
                ctx.report.note_row(Reason::InvalidUtf8, &name, lines.line);
            }
            match read_row(ctx, &tokens, layout, &mut occurrences, currency) {
                Ok((order, rounded)) => {
                    if rounded {
                        ctx.report.note_row(Reason::RoundedPrice, &name, lines.line);
                    }
                    if order.lines[0].unit_price == 0 {
                        ctx.report
                            .note_row(Reason::ZeroValuePurchase, &name, lines.line);
                    }
                    let seq = customers.len() as u64;
                    let customer = tokens[0].to_string();
                    let seen = customers.entry(customer).or_insert(Seen {
                        seq,
                        first: order.placed_at,
                        last: order.placed_at,
                    });
                    seen.first = seen.first.min(order.placed_at);
                    seen.last = seen.last.max(order.placed_at);
                    ctx.order(order)?;
                }
                Err(reason) => ctx.report.note_row(reason, &name, lines.line),
            }
            ctx.progress(lines.position)?;
        }
        ctx.file_done(file_size(path)?)?;
    }

    let mut customers: Vec<(String, Seen)> = customers.into_iter().collect();
    customers.sort_by_key(|(_, s)| s.seq);
    ctx.report.imported.customers = customers.len() as u64;
    for (id, seen) in customers {
        let id = CustomerId::parse(id).expect("checked on its rows");
        for at in [
            Some(seen.first),
            (seen.last != seen.first).then_some(seen.last),
        ]
        .into_iter()
        .flatten()
        {
            let mut patch = CustomerPatch::id_only(id.clone());
            patch.seen_at = Some(at);
            ctx.customer(patch)?;
        }
    }
    ctx.report.note("CDNOW has no products: each purchase is one line of product `cdnow-cd`, quantity 1, priced at its whole value; the number of CDs is in the line title");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::parse_str;
    use crate::{Format, ImportOptions};

    #[test]
    fn master_layout_with_header() {
        let body = b" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  2   12.00\r\n 00002 19970112  3   0.00\r\n";
        let out = parse_str(Format::Cdnow, body, &ImportOptions::default()).unwrap();
        let ids: Vec<&str> = out.orders.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "cdnow:00001:19970101:1",
                "cdnow:00002:19970112:1",
                "cdnow:00002:19970112:2"
            ]
        );
        let first = &out.orders[0];
        assert_eq!(first.currency, Currency::USD);
        assert_eq!(first.placed_at.to_rfc3339(), "1997-01-01T00:00:00+00:00");
        assert_eq!(first.merchandise_total(), 1177);
        assert_eq!(first.lines[0].title.as_deref(), Some("1 CD"));
        assert_eq!(out.orders[1].lines[0].title.as_deref(), Some("2 CDs"));
        assert_eq!(out.orders[2].merchandise_total(), 0);
        assert_eq!(out.report.count(Reason::ZeroValuePurchase), 1);
        assert_eq!(out.report.rows, 3);
        assert_eq!(out.report.imported.customers, 2);
        assert_eq!(out.products.len(), 1);
        assert!(out.orders.iter().all(|o| o.validate().is_ok()));
    }

    #[test]
    fn sample_layout_without_header_in_a_timezone() {
        let body = b" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n 00004 0001 1997011  2   29.73\r\n 00004 0001 19970118  2\r\n";
        let options = ImportOptions {
            timezone: chrono_tz::America::New_York,
            ..Default::default()
        };
        let out = parse_str(Format::Cdnow, body, &options).unwrap();
        assert_eq!(out.orders.len(), 2);
        assert_eq!(out.orders[0].id.as_str(), "cdnow:00004:19970101:1");
        assert_eq!(
            out.orders[0].placed_at.to_rfc3339(),
            "1997-01-01T05:00:00+00:00"
        );
        assert_eq!(
            out.orders[0].customer_id.as_ref().unwrap().as_str(),
            "00004"
        );
        assert_eq!(out.report.count(Reason::BadDate), 1);
        assert_eq!(out.report.count(Reason::WrongColumnCount), 1);
        assert_eq!(out.customers.len(), 2, "first and last seen");
    }

    #[test]
    fn other_shapes_are_unknown() {
        let err =
            parse_str(Format::Cdnow, b"a,b,c\n1,2,3\n", &ImportOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("customer_id date(YYYYMMDD)"),
            "{err}"
        );
    }

    /// The master file's figures from the data set's README; skipped without the shared data.
    #[test]
    fn real_master_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/cdnow/CDNOW_master.txt");
        if !path.exists() {
            eprintln!("skipped: {} not found", path.display());
            return;
        }
        let out = crate::testutil::parse_paths(Format::Cdnow, &[path], &ImportOptions::default())
            .unwrap();
        assert_eq!(out.report.rows, 69_659);
        assert_eq!(out.report.skipped_rows(), 0);
        assert_eq!(out.report.imported.orders, 69_659);
        assert_eq!(out.report.imported.customers, 23_570);
        assert_eq!(out.report.count(Reason::ZeroValuePurchase), 80);
        let ids: std::collections::HashSet<_> = out.orders.iter().map(|o| o.id.clone()).collect();
        assert_eq!(ids.len(), 69_659, "ids are unique");
    }
}
