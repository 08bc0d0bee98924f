//! Embudo's generic orders CSV: one row per order line, rows of an order together, columns
//! found by header name in any order (see `docs/import.md` for the full description).
//!
//! Order-level values (time, customer, email, currency, shipping, tax, discount, coupon, UTM)
//! come from an order's first row; later rows may repeat them or leave them empty, and a
//! differing value is counted and ignored. Amounts are decimals in major units, read exactly
//! (`Money::from_decimal_str_exact`): an amount finer than the currency's minor unit is an
//! error, not a rounding, because a shop's own export should add up to the cent.

use crate::group::{Closed, Grouper, WINDOW};
use crate::input::{
    non_empty, parse_datetime, parse_money_exact, parse_quantity, CsvFile, DateCache,
};
use crate::pipeline::{file_size, Ctx, Stop, Stopped};
use crate::report::Reason;
use crate::ImportError;
use chrono::{DateTime, Utc};
use embudo_core::{
    Attribution, Currency, CustomerId, CustomerPatch, Email, LineKind, Order, OrderId, OrderLine,
    ProductId,
};
use std::collections::HashMap;
use std::path::PathBuf;

/// Every column read, in the documented order.
pub(crate) const COLUMNS: [&str; 22] = [
    "order_id",
    "placed_at",
    "customer_id",
    "email",
    "currency",
    "kind",
    "product_id",
    "sku",
    "title",
    "quantity",
    "unit_price",
    "line_discount",
    "shipping",
    "tax",
    "discount",
    "coupon",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
];

const REQUIRED: [usize; 4] = [ORDER_ID, PLACED_AT, QUANTITY, UNIT_PRICE];

const ORDER_ID: usize = 0;
const PLACED_AT: usize = 1;
const CUSTOMER_ID: usize = 2;
const EMAIL: usize = 3;
const CURRENCY: usize = 4;
const KIND: usize = 5;
const PRODUCT_ID: usize = 6;
const SKU: usize = 7;
const TITLE: usize = 8;
const QUANTITY: usize = 9;
const UNIT_PRICE: usize = 10;
const LINE_DISCOUNT: usize = 11;
const SHIPPING: usize = 12;
const TAX: usize = 13;
const DISCOUNT: usize = 14;
const COUPON: usize = 15;
const UTM_SOURCE: usize = 16;
const UTM_MEDIUM: usize = 17;
const UTM_CAMPAIGN: usize = 18;
const UTM_TERM: usize = 19;
const UTM_CONTENT: usize = 20;
const REFERRER: usize = 21;

/// Checks the header: the required columns, and a currency from somewhere. Returns where each
/// column is, and the header names that are not read.
pub(crate) fn header(
    csv: &CsvFile,
    columns: &[&str],
    required: &[usize],
    has_currency_option: bool,
    currency_at: usize,
) -> Result<(Vec<Option<usize>>, Vec<String>), ImportError> {
    let cols = csv.columns(columns);
    if required.iter().any(|&i| cols[i].is_none()) {
        let names: Vec<&str> = required.iter().map(|&i| columns[i]).collect();
        return Err(ImportError::UnknownLayout {
            path: csv.path.clone(),
            found: csv.header_line(),
            expected: vec![format!(
                "a header with at least {} (all columns: {})",
                names.join(","),
                columns.join(",")
            )],
        });
    }
    if cols[currency_at].is_none() && !has_currency_option {
        return Err(ImportError::Input {
            path: csv.path.clone(),
            message: "has no `currency` column; give the currency as an option".into(),
        });
    }
    let known: Vec<String> = columns.iter().map(|c| crate::input::norm(c)).collect();
    let ignored = csv
        .header
        .iter()
        .filter(|h| !known.contains(&crate::input::norm(h)))
        .cloned()
        .collect();
    Ok((cols, ignored))
}

/// An order being gathered.
struct Draft {
    file: usize,
    first_line: u64,
    rows: u64,
    placed_at: DateTime<Utc>,
    customer_id: Option<CustomerId>,
    email: Option<Email>,
    currency: Currency,
    shipping: i64,
    tax: i64,
    discount: i64,
    coupon: Option<String>,
    attribution: Attribution,
    lines: Vec<OrderLine>,
}

/// The order-level values of one row, each `None` when its cell is empty.
struct RowHeader {
    placed_at: Option<DateTime<Utc>>,
    customer_id: Option<CustomerId>,
    email: Option<Email>,
    currency: Currency,
    shipping: Option<i64>,
    tax: Option<i64>,
    discount: Option<i64>,
    coupon: Option<String>,
    attribution: Attribution,
}

/// Sets `slot` from a row's value on an order's first row; later, tells whether it differs.
fn differs<T: PartialEq>(slot: &Option<T>, value: &Option<T>) -> bool {
    value.is_some() && slot.is_some() && slot != value
}

impl Draft {
    fn new(file: usize, line: u64, h: RowHeader) -> Self {
        Self {
            file,
            first_line: line,
            rows: 0,
            placed_at: h.placed_at.expect("required on an order's first row"),
            customer_id: h.customer_id,
            email: h.email,
            currency: h.currency,
            shipping: h.shipping.unwrap_or(0),
            tax: h.tax.unwrap_or(0),
            discount: h.discount.unwrap_or(0),
            coupon: h.coupon,
            attribution: h.attribution,
            lines: Vec::new(),
        }
    }

    /// Whether a later row says something else than the first one did.
    fn conflicts(&self, h: &RowHeader) -> bool {
        let a = &self.attribution;
        let b = &h.attribution;
        h.placed_at.is_some_and(|t| t != self.placed_at)
            || differs(&self.customer_id, &h.customer_id)
            || (self.customer_id.is_none() && h.customer_id.is_some())
            || differs(&self.email, &h.email)
            || h.shipping.is_some_and(|v| v != self.shipping)
            || h.tax.is_some_and(|v| v != self.tax)
            || h.discount.is_some_and(|v| v != self.discount)
            || differs(&self.coupon, &h.coupon)
            || differs(&a.source, &b.source)
            || differs(&a.medium, &b.medium)
            || differs(&a.campaign, &b.campaign)
            || differs(&a.term, &b.term)
            || differs(&a.content, &b.content)
            || differs(&a.referrer, &b.referrer)
    }
}

/// What is known about a customer: first and last order, and the email of the latest.
struct Seen {
    seq: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    email: Option<Email>,
}

struct State {
    files: Vec<String>,
    customers: HashMap<String, Seen>,
}

fn money(csv: &CsvFile, col: Option<usize>, currency: Currency) -> Result<Option<i64>, Reason> {
    match csv.get(col) {
        "" => Ok(None),
        text => parse_money_exact(text, currency).map(Some),
    }
}

/// One row, checked: its order id, order-level values, line, and whether an email was dropped.
fn read_row(
    ctx: &Ctx,
    csv: &CsvFile,
    cols: &[Option<usize>],
    grouper: &Grouper<Draft>,
    dates: &mut DateCache,
) -> Result<(String, RowHeader, OrderLine, bool), Reason> {
    if csv.fields.len() != csv.header.len() {
        return Err(Reason::WrongColumnCount);
    }
    let order_id = csv.get(cols[ORDER_ID]);
    if order_id.is_empty() {
        return Err(Reason::MissingValue);
    }
    OrderId::parse(order_id).map_err(|_| Reason::BadId)?;
    let open = grouper.get(order_id);
    let currency = match csv.get(cols[CURRENCY]) {
        "" => open
            .map(|d| d.currency)
            .or(ctx.options.currency)
            .ok_or(Reason::BadCurrency)?,
        code => Currency::parse(code).map_err(|_| Reason::BadCurrency)?,
    };
    if open.is_some_and(|d| d.currency != currency) {
        return Err(Reason::CurrencyMismatch);
    }
    let tz = ctx.options.timezone;
    let placed_at = match csv.get(cols[PLACED_AT]) {
        "" if open.is_none() => return Err(Reason::MissingValue),
        "" => None,
        text => Some(dates.get(text, |t| parse_datetime(t, tz))?),
    };
    let customer_id = match csv.get(cols[CUSTOMER_ID]) {
        "" => None,
        id => Some(CustomerId::parse(id).map_err(|_| Reason::BadId)?),
    };
    let email_text = csv.get(cols[EMAIL]);
    let email = Email::parse(email_text).ok();
    let email_dropped = !email_text.is_empty() && email.is_none();
    let text = |i: usize| non_empty(csv.get(cols[i]));
    let header = RowHeader {
        placed_at,
        customer_id,
        email,
        currency,
        shipping: money(csv, cols[SHIPPING], currency)?,
        tax: money(csv, cols[TAX], currency)?,
        discount: money(csv, cols[DISCOUNT], currency)?,
        coupon: text(COUPON),
        attribution: Attribution {
            source: text(UTM_SOURCE),
            medium: text(UTM_MEDIUM),
            campaign: text(UTM_CAMPAIGN),
            term: text(UTM_TERM),
            content: text(UTM_CONTENT),
            referrer: text(REFERRER),
        },
    };
    let kind = match csv.get(cols[KIND]) {
        "" => LineKind::Product,
        kind => LineKind::parse(&kind.to_ascii_lowercase()).ok_or(Reason::BadKind)?,
    };
    let product_id = match csv.get(cols[PRODUCT_ID]) {
        "" => None,
        id => Some(ProductId::parse(id).map_err(|_| Reason::BadId)?),
    };
    let quantity = match csv.get(cols[QUANTITY]) {
        "" => return Err(Reason::MissingValue),
        q => parse_quantity(q)?,
    };
    let unit_price = money(csv, cols[UNIT_PRICE], currency)?.ok_or(Reason::MissingValue)?;
    let line = OrderLine {
        kind,
        product_id,
        sku: text(SKU),
        title: text(TITLE),
        quantity,
        unit_price,
        discount: money(csv, cols[LINE_DISCOUNT], currency)?.unwrap_or(0),
    };
    // The line rules of `Order::validate`, checked per row so one bad line does not cost its
    // whole order.
    if (kind == LineKind::Product && (line.product_id.is_none() || quantity < 0 || unit_price < 0))
        || quantity == 0
    {
        return Err(Reason::InvalidLine);
    }
    quantity
        .checked_mul(unit_price)
        .and_then(|t| t.checked_sub(line.discount))
        .ok_or(Reason::BadAmount)?;
    Ok((order_id.to_string(), header, line, email_dropped))
}

fn close(
    ctx: &mut Ctx,
    state: &mut State,
    grouper: &mut Grouper<Draft>,
    closed: Closed<Draft>,
) -> Result<(), Stopped> {
    let draft = closed.group;
    let file = &state.files[draft.file];
    let order = Order {
        id: OrderId::parse(closed.key.as_str()).expect("checked on each row"),
        customer_id: draft.customer_id,
        anonymous_id: None,
        email: draft.email,
        placed_at: draft.placed_at,
        currency: draft.currency,
        lines: draft.lines,
        shipping: draft.shipping,
        tax: draft.tax,
        discount: draft.discount,
        coupon: draft.coupon,
        attribution: draft.attribution,
        history: Vec::new(),
    };
    if order.validate().is_err() {
        ctx.report
            .note_rows(Reason::InvalidOrder, draft.rows, file, draft.first_line);
        grouper.done(&closed.key, false);
        return Ok(());
    }
    if let Some(customer) = &order.customer_id {
        let seq = state.customers.len() as u64;
        let seen = state
            .customers
            .entry(customer.as_str().to_string())
            .or_insert(Seen {
                seq,
                first: order.placed_at,
                last: order.placed_at,
                email: None,
            });
        seen.first = seen.first.min(order.placed_at);
        if order.placed_at >= seen.last || seen.email.is_none() {
            seen.last = seen.last.max(order.placed_at);
            if order.email.is_some() {
                seen.email = order.email.clone();
            }
        }
    }
    grouper.done(&closed.key, true);
    if closed.reopened {
        ctx.report
            .note_row(Reason::MergedDistantRows, file, draft.first_line);
        ctx.append(order)
    } else {
        ctx.order(order)
    }
}

pub(crate) fn run(ctx: &mut Ctx, paths: &[PathBuf]) -> Result<(), Stop> {
    let mut files = Vec::new();
    for path in paths {
        let csv = CsvFile::open(path)?;
        let (cols, ignored) = header(
            &csv,
            &COLUMNS,
            &REQUIRED,
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
    let mut state = State {
        files: files.iter().map(|(csv, _, _)| csv.name.clone()).collect(),
        customers: HashMap::new(),
    };
    for (index, (mut csv, cols, size)) in files.into_iter().enumerate() {
        ctx.report.file(csv.name.clone());
        let mut grouper = Grouper::new(WINDOW);
        let mut dates = DateCache::default();
        while csv.next()? {
            ctx.report.rows += 1;
            if csv.invalid_utf8 {
                ctx.report
                    .note_row(Reason::InvalidUtf8, &csv.name, csv.line);
            }
            match read_row(ctx, &csv, &cols, &grouper, &mut dates) {
                Ok((order_id, header, line, email_dropped)) => {
                    if email_dropped {
                        ctx.report
                            .note_row(Reason::InvalidEmailDropped, &csv.name, csv.line);
                    }
                    let line_no = csv.line;
                    let is_new = grouper.get(&order_id).is_none();
                    let conflict =
                        !is_new && grouper.get(&order_id).is_some_and(|d| d.conflicts(&header));
                    let draft = grouper.row(&order_id, || Draft::new(index, line_no, header));
                    draft.rows += 1;
                    draft.lines.push(line);
                    if conflict {
                        ctx.report
                            .note_row(Reason::ConflictingOrderValue, &csv.name, line_no);
                    }
                }
                Err(reason) => ctx.report.note_row(reason, &csv.name, csv.line),
            }
            for closed in grouper.idle() {
                close(ctx, &mut state, &mut grouper, closed)?;
            }
            ctx.progress(csv.position())?;
        }
        for closed in grouper.drain() {
            close(ctx, &mut state, &mut grouper, closed)?;
        }
        ctx.file_done(size)?;
    }

    let mut customers: Vec<(String, Seen)> = state.customers.into_iter().collect();
    customers.sort_by_key(|(_, s)| s.seq);
    ctx.report.imported.customers = customers.len() as u64;
    for (id, seen) in customers {
        let id = CustomerId::parse(id).expect("checked on its rows");
        let mut patch = CustomerPatch::id_only(id.clone());
        patch.email = seen.email;
        patch.seen_at = Some(seen.first);
        ctx.customer(patch)?;
        if seen.last != seen.first {
            let mut patch = CustomerPatch::id_only(id);
            patch.seen_at = Some(seen.last);
            ctx.customer(patch)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{parse_str, Output};
    use crate::{Format, ImportOptions};

    fn run(body: &str) -> Output {
        parse_str(
            Format::OrdersCsv,
            body.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn rows_make_orders_with_order_level_values_from_the_first_row() {
        let out = run("order_id,placed_at,customer_id,email,currency,kind,product_id,sku,title,quantity,unit_price,line_discount,shipping,tax,discount,coupon,utm_source,utm_medium,utm_campaign\n\
             1001,2026-03-01T10:00:00+01:00,c-1,Ann@Example.com,EUR,,p-1,SKU1,Mug,2,12.50,1.00,4.90,3.20,2.00,SPRING,newsletter,email,spring\n\
             1001,,,,,shipping,,,Express,1,4.90,,,,,,,,\n\
             1002,2026-03-02 09:30:00,,,eur,product,p-2,,,1,10,,,,,,,,\n");
        assert_eq!(out.orders.len(), 2);
        let o = &out.orders[0];
        assert_eq!(o.placed_at.to_rfc3339(), "2026-03-01T09:00:00+00:00");
        assert_eq!(o.customer_id.as_ref().unwrap().as_str(), "c-1");
        assert_eq!(o.email.as_ref().unwrap().as_str(), "Ann@example.com");
        assert_eq!(o.currency, Currency::EUR);
        assert_eq!((o.shipping, o.tax, o.discount), (490, 320, 200));
        assert_eq!(o.coupon.as_deref(), Some("SPRING"));
        assert_eq!(o.attribution.campaign.as_deref(), Some("spring"));
        assert_eq!(o.lines.len(), 2);
        assert_eq!(o.lines[0].discount, 100);
        assert_eq!(o.lines[0].sku.as_deref(), Some("SKU1"));
        assert_eq!(o.lines[1].kind, LineKind::Shipping);
        assert_eq!(o.merchandise_total(), 2400);
        assert_eq!(out.orders[1].customer_id, None);
        assert_eq!(
            out.orders[1].placed_at.to_rfc3339(),
            "2026-03-02T09:30:00+00:00"
        );
        assert_eq!(out.report.imported.guest_orders, 1);
        assert_eq!(
            out.customers[0].email.as_ref().unwrap().as_str(),
            "Ann@example.com"
        );
        assert!(out.report.skipped.is_empty(), "{}", out.report);
    }

    #[test]
    fn columns_may_come_in_any_order_and_extra_ones_are_noted() {
        let out = run("Unit Price,Quantity,Placed At,Order ID,Product ID,Currency,Colour\n9.99,1,2026-01-01,A1,p,USD,red\n");
        assert_eq!(out.orders[0].merchandise_total(), 999);
        assert!(
            out.report.notes[0].contains("Colour"),
            "{:?}",
            out.report.notes
        );
    }

    #[test]
    fn bad_rows_are_skipped_with_reasons() {
        let out = run(
            "order_id,placed_at,currency,kind,product_id,quantity,unit_price,shipping,email\n\
             1,2026-01-01,EUR,,p,1,1.005,,\n\
             2,not a date,EUR,,p,1,1,,\n\
             3,2026-01-01,EURO,,p,1,1,,\n\
             4,2026-01-01,EUR,gift,p,1,1,,\n\
             5,2026-01-01,EUR,,,1,1,,\n\
             6,2026-01-01,EUR,,p,0,1,,\n\
             7,2026-01-01,EUR,,p,1,1,-5,\n\
             7,,EUR,,p,1,1,,\n\
             8,2026-01-01,EUR,,p,1,1,,\n\
             8,,USD,,p,1,1,,\n\
             9,2026-01-01,EUR,,p,1,1,,not-an-email\n\
             ,2026-01-01,EUR,,p,1,1,,\n\
             10,,EUR,,p,1,1,,\n\
             11,2026-01-01,EUR,,p,1\n",
        );
        let r = &out.report;
        assert_eq!(r.count(Reason::TooPrecise), 1);
        assert_eq!(r.count(Reason::BadDate), 1);
        assert_eq!(r.count(Reason::BadCurrency), 1);
        assert_eq!(r.count(Reason::BadKind), 1);
        assert_eq!(r.count(Reason::InvalidLine), 2);
        assert_eq!(r.count(Reason::InvalidOrder), 2, "both rows of order 7");
        assert_eq!(r.count(Reason::CurrencyMismatch), 1);
        assert_eq!(r.count(Reason::InvalidEmailDropped), 1);
        assert_eq!(r.count(Reason::MissingValue), 2);
        assert_eq!(r.count(Reason::WrongColumnCount), 1);
        let ids: Vec<&str> = out.orders.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["8", "9"]);
        assert_eq!(out.orders[1].email, None);
    }

    #[test]
    fn later_rows_that_disagree_are_counted() {
        let out = run(
            "order_id,placed_at,currency,product_id,quantity,unit_price,coupon\n\
             1,2026-01-01,EUR,p,1,1,A\n\
             1,2026-01-01,EUR,p,1,1,B\n",
        );
        assert_eq!(out.orders[0].coupon.as_deref(), Some("A"));
        assert_eq!(out.report.count(Reason::ConflictingOrderValue), 1);
    }

    #[test]
    fn currency_comes_from_the_option_when_absent() {
        let body = "order_id,placed_at,product_id,quantity,unit_price\n1,2026-01-01,p,1,1\n";
        let err = parse_str(
            Format::OrdersCsv,
            body.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("currency"), "{err}");
        let options = ImportOptions {
            currency: Some(Currency::parse("JPY").unwrap()),
            ..Default::default()
        };
        let out = parse_str(Format::OrdersCsv, body.as_bytes(), &options).unwrap();
        assert_eq!(out.orders[0].merchandise_total(), 1);
    }

    #[test]
    fn missing_required_columns_name_them() {
        let err = parse_str(
            Format::OrdersCsv,
            b"order_id,quantity\n1,2\n",
            &ImportOptions::default(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("found header `order_id,quantity`")
                && text.contains("order_id,placed_at,quantity,unit_price"),
            "{text}"
        );
    }
}
