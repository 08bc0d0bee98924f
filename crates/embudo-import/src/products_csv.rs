//! Embudo's generic products CSV: one row per product, columns found by header name in any
//! order (see `docs/import.md`). A product found twice is written twice; the last row wins.

use crate::input::{non_empty, parse_money_exact, CsvFile};
use crate::orders_csv::header;
use crate::pipeline::{file_size, Ctx, Stop};
use crate::report::Reason;
use embudo_core::{Currency, Product, ProductId};
use std::path::PathBuf;

/// Every column read, in the documented order.
pub(crate) const COLUMNS: [&str; 13] = [
    "id",
    "sku",
    "title",
    "description",
    "category",
    "brand",
    "price",
    "currency",
    "tags",
    "in_stock",
    "inventory_quantity",
    "url",
    "image_url",
];

const ID: usize = 0;
const SKU: usize = 1;
const TITLE: usize = 2;
const DESCRIPTION: usize = 3;
const CATEGORY: usize = 4;
const BRAND: usize = 5;
const PRICE: usize = 6;
const CURRENCY: usize = 7;
const TAGS: usize = 8;
const IN_STOCK: usize = 9;
const INVENTORY: usize = 10;
const URL: usize = 11;
const IMAGE_URL: usize = 12;

fn parse_bool(text: &str) -> Result<bool, Reason> {
    match text.to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(Reason::BadBoolean),
    }
}

fn split(text: &str, separator: &str) -> Vec<String> {
    text.split(separator).filter_map(non_empty).collect()
}

fn read_row(ctx: &Ctx, csv: &CsvFile, cols: &[Option<usize>]) -> Result<Product, Reason> {
    if csv.fields.len() != csv.header.len() {
        return Err(Reason::WrongColumnCount);
    }
    let text = |i: usize| non_empty(csv.get(cols[i]));
    let id = text(ID).ok_or(Reason::MissingValue)?;
    let title = text(TITLE).ok_or(Reason::MissingValue)?;
    let id = ProductId::parse(id).map_err(|_| Reason::BadId)?;
    let currency = match csv.get(cols[CURRENCY]) {
        "" => ctx.options.currency.ok_or(Reason::BadCurrency)?,
        code => Currency::parse(code).map_err(|_| Reason::BadCurrency)?,
    };
    let mut product = Product::new(id, title, currency);
    product.sku = text(SKU);
    product.description = text(DESCRIPTION);
    product.category_path = split(csv.get(cols[CATEGORY]), ">");
    product.brand = text(BRAND);
    product.price = match csv.get(cols[PRICE]) {
        "" => None,
        price => Some(parse_money_exact(price, currency)?),
    };
    product.tags = split(csv.get(cols[TAGS]), "|");
    product.in_stock = parse_bool(csv.get(cols[IN_STOCK]))?;
    product.inventory_quantity = match csv.get(cols[INVENTORY]) {
        "" => None,
        n => Some(crate::input::parse_quantity(n).map_err(|_| Reason::BadNumber)?),
    };
    product.url = text(URL);
    product.image_url = text(IMAGE_URL);
    product.validate().map_err(|_| Reason::InvalidProduct)?;
    Ok(product)
}

pub(crate) fn run(ctx: &mut Ctx, paths: &[PathBuf]) -> Result<(), Stop> {
    let mut files = Vec::new();
    for path in paths {
        let csv = CsvFile::open(path)?;
        let (cols, ignored) = header(
            &csv,
            &COLUMNS,
            &[ID, TITLE],
            ctx.options.currency.is_some(),
            CURRENCY,
        )?;
        if !ignored.is_empty() {
            ctx.report.note(format!(
                "{}: columns not read: {}",
                csv.name,
                ignored.join(", ")
            ));
        }
        files.push((csv, cols, file_size(path)?));
    }
    for (mut csv, cols, size) in files {
        ctx.report.file(csv.name.clone());
        while csv.next()? {
            ctx.report.rows += 1;
            if csv.invalid_utf8 {
                ctx.report
                    .note_row(Reason::InvalidUtf8, &csv.name, csv.line);
            }
            match read_row(ctx, &csv, &cols) {
                Ok(product) => ctx.product(product)?,
                Err(reason) => ctx.report.note_row(reason, &csv.name, csv.line),
            }
            ctx.progress(csv.position())?;
        }
        ctx.file_done(size)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::parse_str;
    use crate::{Format, ImportOptions};

    #[test]
    fn every_column_is_read() {
        let body = "id,sku,title,description,category,brand,price,currency,tags,in_stock,inventory_quantity,url,image_url\n\
             p-1,SKU-1,Chef's knife,Forged steel,Home > Kitchen > Knives,Acme,49.90,EUR,steel|gift,no,0,https://shop.example/p-1,https://cdn.example/p-1.jpg\n\
             p-2,,Mug,,,,,usd,,,,,\n";
        let out = parse_str(
            Format::ProductsCsv,
            body.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
        let p = &out.products[0];
        assert_eq!(p.id.as_str(), "p-1");
        assert_eq!(p.sku.as_deref(), Some("SKU-1"));
        assert_eq!(p.category_path, ["Home", "Kitchen", "Knives"]);
        assert_eq!(p.price, Some(4990));
        assert_eq!(p.currency, Currency::EUR);
        assert_eq!(p.tags, ["steel", "gift"]);
        assert!(!p.in_stock);
        assert_eq!(p.inventory_quantity, Some(0));
        assert_eq!(p.image_url.as_deref(), Some("https://cdn.example/p-1.jpg"));
        let q = &out.products[1];
        assert_eq!(
            (q.price, q.currency, q.in_stock),
            (None, Currency::USD, true)
        );
        assert_eq!(out.report.imported.products, 2);
    }

    #[test]
    fn bad_rows_are_skipped() {
        let body = "id,title,price,currency,in_stock,inventory_quantity\n\
             ,No id,1,EUR,,\n\
             a,,1,EUR,,\n\
             b,B,1.001,EUR,,\n\
             c,C,-1,EUR,,\n\
             d,D,1,EUR,maybe,\n\
             e,E,1,EUR,,lots\n\
             f,F,1,,,\n\
             g,G,1,EUR,,\n";
        let out = parse_str(
            Format::ProductsCsv,
            body.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap();
        let r = &out.report;
        assert_eq!(r.count(Reason::MissingValue), 2);
        assert_eq!(r.count(Reason::TooPrecise), 1);
        assert_eq!(r.count(Reason::InvalidProduct), 1);
        assert_eq!(r.count(Reason::BadBoolean), 1);
        assert_eq!(r.count(Reason::BadNumber), 1);
        assert_eq!(r.count(Reason::BadCurrency), 1);
        assert_eq!(out.products.len(), 1);
    }
}
