//! The Instacart Online Grocery Shopping Dataset 2017: a catalog (`products.csv`, `aisles.csv`,
//! `departments.csv`) and baskets (`order_products__train.csv`, `order_products__prior.csv`).
//!
//! Each product gets the category path `[department, aisle]`. Each basket (`order_id`) is one
//! guest order with its lines in `add_to_cart_order`. The data has no prices, no customers and
//! no dates: lines have unit price 0 in USD (or the currency option), and every order is placed
//! at the `placed_at` option (default 2017-01-01T00:00:00Z); the report says so. Basket files
//! are streamed (the train file alone has 1.4 million lines); only the catalog is held.
//!
//! Files are recognized by their header, so they may be passed one by one under any name; a
//! directory stands for the files in it with the data set's names.

use crate::group::{Closed, Grouper, WINDOW};
use crate::input::{non_empty, parse_quantity, CsvFile};
use crate::pipeline::{file_size, Ctx, Stop, Stopped};
use crate::report::Reason;
use crate::ImportError;
use embudo_core::{Attribution, Currency, LineKind, Order, OrderId, OrderLine, Product, ProductId};
use std::collections::HashMap;
use std::path::PathBuf;

/// What an Instacart file holds, by its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Departments,
    Aisles,
    Products,
    Baskets,
}

const HEADERS: [(Kind, &[&str]); 4] = [
    (Kind::Departments, &["department_id", "department"]),
    (Kind::Aisles, &["aisle_id", "aisle"]),
    (
        Kind::Products,
        &["product_id", "product_name", "aisle_id", "department_id"],
    ),
    (
        Kind::Baskets,
        &["order_id", "product_id", "add_to_cart_order"],
    ),
];

/// Whether a file name in a directory belongs to the data set.
fn known_name(name: &str) -> bool {
    matches!(name, "products.csv" | "aisles.csv" | "departments.csv")
        || (name.starts_with("order_products__") && name.ends_with(".csv"))
}

/// The files to read: directories are expanded to the data set's files in them, sorted.
pub(crate) fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| ImportError::read(path, e))?;
        if !meta.is_dir() {
            out.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| ImportError::read(path, e))? {
            let entry = entry.map_err(|e| ImportError::read(path, e))?;
            if entry.file_name().to_str().is_some_and(known_name) {
                found.push(entry.path());
            }
        }
        if found.is_empty() {
            return Err(ImportError::Input {
                path: path.clone(),
                message:
                    "holds none of products.csv, aisles.csv, departments.csv, order_products__*.csv"
                        .into(),
            });
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

fn kind_of(csv: &CsvFile) -> Result<Kind, ImportError> {
    for (kind, names) in HEADERS {
        if csv.columns(names).iter().all(Option::is_some) {
            return Ok(kind);
        }
    }
    Err(ImportError::UnknownLayout {
        path: csv.path.clone(),
        found: csv.header_line(),
        expected: HEADERS.iter().map(|(_, names)| names.join(",")).collect(),
    })
}

/// Reads a two-column `id,name` table (aisles, departments).
fn read_names(ctx: &mut Ctx, csv: &mut CsvFile) -> Result<HashMap<String, String>, ImportError> {
    // The columns are `aisle_id,aisle` or `department_id,department`: the id, then the name.
    let (id, name) = (Some(0), Some(1));
    let mut out = HashMap::new();
    while csv.next()? {
        ctx.report.rows += 1;
        if csv.invalid_utf8 {
            ctx.report
                .note_row(Reason::InvalidUtf8, &csv.name, csv.line);
        }
        match (csv.get(id), csv.get(name)) {
            ("", _) | (_, "") => ctx
                .report
                .note_row(Reason::MissingValue, &csv.name, csv.line),
            (id, name) => {
                out.insert(id.to_string(), name.to_string());
            }
        }
    }
    Ok(out)
}

/// One basket being gathered: (add_to_cart_order, product).
struct Basket {
    lines: Vec<(i64, ProductId)>,
}

struct Catalog {
    /// Product id → name, when `products.csv` was given (for line titles and checks).
    names: Option<HashMap<String, String>>,
}

fn close(
    ctx: &mut Ctx,
    grouper: &mut Grouper<Basket>,
    closed: Closed<Basket>,
    catalog: &Catalog,
    currency: Currency,
) -> Result<(), Stopped> {
    let mut basket = closed.group;
    // Stable: lines with the same position keep the file's order.
    basket.lines.sort_by_key(|(position, _)| *position);
    let lines = basket
        .lines
        .into_iter()
        .map(|(_, product)| OrderLine {
            kind: LineKind::Product,
            title: catalog
                .names
                .as_ref()
                .and_then(|n| n.get(product.as_str()).cloned()),
            product_id: Some(product),
            sku: None,
            quantity: 1,
            unit_price: 0,
            discount: 0,
        })
        .collect();
    let order = Order {
        id: OrderId::parse(closed.key.as_str()).expect("checked on each row"),
        customer_id: None,
        anonymous_id: None,
        email: None,
        placed_at: ctx.options.instacart_placed_at(),
        currency,
        lines,
        shipping: 0,
        tax: 0,
        discount: 0,
        coupon: None,
        attribution: Attribution::default(),
        history: Vec::new(),
    };
    grouper.done(&closed.key, true);
    if closed.reopened {
        ctx.append(order)
    } else {
        ctx.order(order)
    }
}

fn read_products(
    ctx: &mut Ctx,
    csv: &mut CsvFile,
    aisles: &HashMap<String, String>,
    departments: &HashMap<String, String>,
    currency: Currency,
) -> Result<HashMap<String, String>, Stop> {
    let [id, name, aisle, department] =
        csv.columns(&["product_id", "product_name", "aisle_id", "department_id"])[..]
    else {
        unreachable!("four columns asked")
    };
    let mut names = HashMap::new();
    while csv.next()? {
        ctx.report.rows += 1;
        if csv.invalid_utf8 {
            ctx.report
                .note_row(Reason::InvalidUtf8, &csv.name, csv.line);
        }
        if csv.fields.len() != csv.header.len() {
            ctx.report
                .note_row(Reason::WrongColumnCount, &csv.name, csv.line);
            continue;
        }
        let (raw_id, title) = (csv.get(id), csv.get(name));
        if raw_id.is_empty() || title.is_empty() {
            ctx.report
                .note_row(Reason::MissingValue, &csv.name, csv.line);
            continue;
        }
        let Ok(product_id) = ProductId::parse(raw_id) else {
            ctx.report.note_row(Reason::BadId, &csv.name, csv.line);
            continue;
        };
        let mut product = Product::new(product_id, title, currency);
        // Department first: it is the broader of the two.
        product.category_path = [
            departments.get(csv.get(department)),
            aisles.get(csv.get(aisle)),
        ]
        .into_iter()
        .flatten()
        .filter_map(|s| non_empty(s))
        .collect();
        names.insert(raw_id.to_string(), title.to_string());
        ctx.product(product)?;
        ctx.progress(csv.position())?;
    }
    Ok(names)
}

fn read_baskets(
    ctx: &mut Ctx,
    csv: &mut CsvFile,
    catalog: &Catalog,
    currency: Currency,
) -> Result<(), Stop> {
    let [order, product, position] =
        csv.columns(&["order_id", "product_id", "add_to_cart_order"])[..]
    else {
        unreachable!("three columns asked")
    };
    let mut grouper: Grouper<Basket> = Grouper::new(WINDOW);
    while csv.next()? {
        ctx.report.rows += 1;
        if csv.invalid_utf8 {
            ctx.report
                .note_row(Reason::InvalidUtf8, &csv.name, csv.line);
        }
        match basket_row(csv, order, product, position, catalog) {
            Ok((order_id, product_id, position, known)) => {
                if !known {
                    ctx.report
                        .note_row(Reason::UnknownProduct, &csv.name, csv.line);
                }
                grouper
                    .row(order_id, || Basket { lines: Vec::new() })
                    .lines
                    .push((position, product_id));
            }
            Err(reason) => ctx.report.note_row(reason, &csv.name, csv.line),
        }
        for closed in grouper.idle() {
            close(ctx, &mut grouper, closed, catalog, currency)?;
        }
        ctx.progress(csv.position())?;
    }
    for closed in grouper.drain() {
        close(ctx, &mut grouper, closed, catalog, currency)?;
    }
    Ok(())
}

/// One basket row, checked: (order, product, position, whether the catalog knows it).
fn basket_row<'c>(
    csv: &'c CsvFile,
    order: Option<usize>,
    product: Option<usize>,
    position: Option<usize>,
    catalog: &Catalog,
) -> Result<(&'c str, ProductId, i64, bool), Reason> {
    if csv.fields.len() != csv.header.len() {
        return Err(Reason::WrongColumnCount);
    }
    let (order_id, product_id) = (csv.get(order), csv.get(product));
    if order_id.is_empty() || product_id.is_empty() {
        return Err(Reason::MissingValue);
    }
    OrderId::parse(order_id).map_err(|_| Reason::BadId)?;
    let product = ProductId::parse(product_id).map_err(|_| Reason::BadId)?;
    let position = match csv.get(position) {
        "" => return Err(Reason::MissingValue),
        text => parse_quantity(text)?,
    };
    let known = catalog
        .names
        .as_ref()
        .is_none_or(|n| n.contains_key(product_id));
    Ok((order_id, product, position, known))
}

pub(crate) fn run(ctx: &mut Ctx, paths: &[PathBuf]) -> Result<(), Stop> {
    let mut files = Vec::new();
    for path in paths {
        let csv = CsvFile::open(path)?;
        let kind = kind_of(&csv)?;
        files.push((kind, csv, file_size(path)?));
    }
    // The catalog's parts first, so products know their category and baskets their products.
    files.sort_by_key(|(kind, _, _)| *kind);
    let currency = ctx.options.currency_or(Currency::USD);
    let mut aisles = HashMap::new();
    let mut departments = HashMap::new();
    let mut catalog = Catalog { names: None };
    let mut baskets = false;
    for (kind, mut csv, size) in files {
        ctx.report.file(csv.name.clone());
        match kind {
            Kind::Departments => departments.extend(read_names(ctx, &mut csv)?),
            Kind::Aisles => aisles.extend(read_names(ctx, &mut csv)?),
            Kind::Products => {
                let names = read_products(ctx, &mut csv, &aisles, &departments, currency)?;
                catalog.names.get_or_insert_with(HashMap::new).extend(names);
            }
            Kind::Baskets => {
                baskets = true;
                read_baskets(ctx, &mut csv, &catalog, currency)?;
            }
        }
        ctx.file_done(size)?;
    }
    if baskets {
        ctx.report.note(format!(
            "Instacart baskets have no prices, customers or dates: every order is a guest order placed at {}, with unit prices of 0 {currency}",
            ctx.options.instacart_placed_at().to_rfc3339()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{parse_files, parse_paths};
    use crate::{Format, ImportOptions};

    const DEPARTMENTS: &[u8] = b"department_id,department\n1,frozen\n7,beverages\n";
    const AISLES: &[u8] = b"aisle_id,aisle\n61,cookies cakes\n77,soft drinks\n";
    const PRODUCTS: &[u8] = b"product_id,product_name,aisle_id,department_id\n1,Chocolate Sandwich Cookies,61,1\n2,\"Cola, Zero\",77,7\n";
    const BASKETS: &[u8] = b"order_id,product_id,add_to_cart_order,reordered\n1,2,2,1\n1,1,1,0\n36,1,1,0\n36,999,2,0\n36,x,,0\n";

    #[test]
    fn catalog_and_baskets() {
        let out = parse_files(
            Format::Instacart,
            &[
                ("order_products__train.csv", BASKETS),
                ("products.csv", PRODUCTS),
                ("aisles.csv", AISLES),
                ("departments.csv", DEPARTMENTS),
            ],
            &ImportOptions::default(),
        )
        .unwrap();
        assert_eq!(out.products.len(), 2);
        assert_eq!(out.products[1].title, "Cola, Zero");
        assert_eq!(out.products[1].category_path, ["beverages", "soft drinks"]);
        assert_eq!(out.orders.len(), 2);
        let first = &out.orders[0];
        assert_eq!(first.id.as_str(), "1");
        assert_eq!(first.customer_id, None);
        assert_eq!(first.currency, Currency::USD);
        assert_eq!(first.placed_at.to_rfc3339(), "2017-01-01T00:00:00+00:00");
        let products: Vec<&str> = first
            .lines
            .iter()
            .map(|l| l.product_id.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(products, ["1", "2"], "in add-to-cart order");
        assert_eq!(
            first.lines[0].title.as_deref(),
            Some("Chocolate Sandwich Cookies")
        );
        assert_eq!(first.lines[0].unit_price, 0);
        assert_eq!(out.report.count(Reason::UnknownProduct), 1);
        assert_eq!(out.report.count(Reason::MissingValue), 1);
        assert_eq!(out.report.imported.guest_orders, 2);
        assert!(
            out.report.notes[0].contains("no prices"),
            "{:?}",
            out.report.notes
        );
        assert!(out.orders.iter().all(|o| o.validate().is_ok()));
    }

    #[test]
    fn a_directory_stands_for_its_files() {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in [
            ("products.csv", PRODUCTS),
            ("departments.csv", DEPARTMENTS),
            ("aisles.csv", AISLES),
            ("notes.txt", b"x".as_slice()),
        ] {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        let out = parse_paths(
            Format::Instacart,
            &[dir.path().to_path_buf()],
            &ImportOptions::default(),
        )
        .unwrap();
        assert_eq!(out.report.files.len(), 3);
        assert_eq!(out.products[0].category_path, ["frozen", "cookies cakes"]);
        assert!(out.orders.is_empty());
        let empty = tempfile::tempdir().unwrap();
        assert!(parse_paths(
            Format::Instacart,
            &[empty.path().to_path_buf()],
            &ImportOptions::default()
        )
        .is_err());
    }

    #[test]
    fn placed_at_option_and_unknown_files() {
        let at = chrono::DateTime::parse_from_rfc3339("2020-05-01T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let options = ImportOptions {
            placed_at: Some(at),
            ..Default::default()
        };
        let out = parse_files(Format::Instacart, &[("b.csv", BASKETS)], &options).unwrap();
        assert_eq!(out.orders[0].placed_at, at);
        assert_eq!(
            out.report.count(Reason::UnknownProduct),
            0,
            "no catalog, nothing to check"
        );
        let err =
            parse_files(Format::Instacart, &[("x.csv", b"a,b\n1,2\n")], &options).unwrap_err();
        assert!(
            err.to_string()
                .contains("order_id,product_id,add_to_cart_order"),
            "{err}"
        );
    }
}
