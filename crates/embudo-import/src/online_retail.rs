//! The UCI "Online Retail" (2010-2011) and "Online Retail II" (2009-2011) files: one row per
//! invoice line of a UK gift wholesaler, with cancellations, bad-debt adjustments, postage and
//! fee lines, guest rows and free-text descriptions mixed in.
//!
//! The rules (also in `docs/import.md`) are fixed so that every user gets the same numbers:
//! - all-digit invoice: an order placed at `InvoiceDate` (read in the timezone option), GBP
//!   unless the currency option says otherwise, customer `CustomerID` (`17850.0` → `17850`) or
//!   none (a guest order);
//! - a row with price <= 0, or quantity <= 0 on an order, is skipped;
//! - stock code starting with five digits: a product line; any other code a shipping, fee,
//!   discount or adjustment line (see [`line_kind`]), outside merchandise revenue;
//! - `C…` invoice: a refund (`online-retail:C…`) worth Σ |quantity| × price of its product
//!   lines, for its customer, at its earliest date, with no order;
//! - `A…` invoice (bad debt) and any other shape: skipped;
//! - products: the most frequent non-empty description is the title, the most frequent unit
//!   price the price (ties: the first seen); stock codes are ids exactly as written.

use crate::group::{Closed, Grouper, WINDOW};
use crate::input::{
    decimal_is_positive, non_empty, parse_local_datetime, parse_money_rounding, parse_quantity,
    slot, strip_float_suffix, CsvFile, DateCache,
};
use crate::pipeline::{file_size, Ctx, Stop, Stopped};
use crate::report::Reason;
use crate::ImportError;
use chrono::{DateTime, Utc};
use embudo_core::{
    Attribution, Currency, CustomerId, CustomerPatch, LineKind, Order, OrderId, OrderLine, Product,
    ProductId, Refund, RefundId,
};
use std::collections::HashMap;
use std::path::PathBuf;

/// The two header layouts: Online Retail (2010-2011) and Online Retail II.
const LAYOUTS: [[&str; 8]; 2] = [
    [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ],
    [
        "Invoice",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "Price",
        "Customer ID",
        "Country",
    ],
];

/// Where each column is in a file.
struct Columns {
    invoice: usize,
    code: usize,
    description: usize,
    quantity: usize,
    date: usize,
    price: usize,
    customer: usize,
    country: usize,
}

fn layout(file: &CsvFile) -> Result<Columns, ImportError> {
    for names in LAYOUTS {
        if let [Some(invoice), Some(code), Some(description), Some(quantity), Some(date), Some(price), Some(customer), Some(country)] =
            file.columns(&names)[..]
        {
            return Ok(Columns {
                invoice,
                code,
                description,
                quantity,
                date,
                price,
                customer,
                country,
            });
        }
    }
    Err(ImportError::UnknownLayout {
        path: file.path.clone(),
        found: file.header_line(),
        expected: LAYOUTS.iter().map(|l| l.join(",")).collect(),
    })
}

/// The kind of a line by its stock code: five leading digits make a product; the codes the
/// shop uses for postage, fees and discounts are named; everything else (manual corrections,
/// samples, tests, gift vouchers…) is an adjustment.
pub(crate) fn line_kind(code: &str) -> LineKind {
    let b = code.as_bytes();
    if b.len() >= 5 && b[..5].iter().all(u8::is_ascii_digit) {
        return LineKind::Product;
    }
    match code.trim().to_ascii_uppercase().as_str() {
        "POST" | "DOT" | "C2" => LineKind::Shipping,
        "BANK CHARGES" | "AMAZONFEE" | "PADS" => LineKind::Fee,
        "D" => LineKind::Discount,
        _ => LineKind::Adjustment,
    }
}

/// The lines of one invoice gathered so far.
struct Invoice {
    file: usize,
    first_line: u64,
    customer: Option<CustomerId>,
    placed_at: DateTime<Utc>,
    mixed_dates: bool,
    lines: Vec<OrderLine>,
}

/// A cancellation being summed.
struct PendingRefund {
    seq: u64,
    customer: Option<CustomerId>,
    at: DateTime<Utc>,
    amount: i64,
}

/// What is known about a customer.
struct Seen {
    seq: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    country: Option<String>,
    country_at: DateTime<Utc>,
    several_countries: bool,
}

/// Votes for a product's title and price; each value remembers when it was first seen, which
/// breaks ties.
#[derive(Default)]
struct ProductVotes {
    seq: u64,
    titles: HashMap<String, (u64, u64)>,
    prices: HashMap<i64, (u64, u64)>,
}

fn winner<K: Clone>(votes: &HashMap<K, (u64, u64)>) -> Option<K> {
    // Most votes, then earliest first sight.
    votes
        .iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
        .map(|(k, _)| k.clone())
}

/// What one file needs while it is read.
struct PerFile {
    index: usize,
    grouper: Grouper<Invoice>,
    refunds: HashMap<String, PendingRefund>,
    dates: DateCache,
}

enum InvoiceKind {
    Order,
    Cancellation,
}

struct State {
    currency: Currency,
    files: Vec<String>,
    seq: u64,
    customers: HashMap<String, Seen>,
    products: HashMap<String, ProductVotes>,
    refunds: HashMap<String, PendingRefund>,
}

impl State {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn saw_customer(
        &mut self,
        ctx: &mut Ctx,
        id: &CustomerId,
        at: DateTime<Utc>,
        country: &str,
        file: usize,
        line: u64,
    ) {
        let seq = self.seq;
        let seen = slot(&mut self.customers, id.as_str(), || Seen {
            seq,
            first: at,
            last: at,
            country: None,
            country_at: at,
            several_countries: false,
        });
        seen.first = seen.first.min(at);
        seen.last = seen.last.max(at);
        if country.is_empty() {
            return;
        }
        if seen.country.as_deref().is_some_and(|c| c != country) && !seen.several_countries {
            seen.several_countries = true;
            ctx.report
                .note_row(Reason::SeveralCountries, &self.files[file], line);
        }
        if seen.country.is_none() || at >= seen.country_at {
            if seen.country.as_deref() != Some(country) {
                seen.country = Some(country.to_string());
            }
            seen.country_at = at;
        }
    }

    fn vote(&mut self, code: &str, title: Option<&str>, price: i64) {
        let seq = self.next();
        let votes = slot(&mut self.products, code, || ProductVotes {
            seq,
            ..Default::default()
        });
        if let Some(title) = title {
            slot(&mut votes.titles, title, || (0, seq)).0 += 1;
        }
        votes.prices.entry(price).or_insert((0, seq)).0 += 1;
    }
}

fn close(
    ctx: &mut Ctx,
    state: &State,
    grouper: &mut Grouper<Invoice>,
    closed: Closed<Invoice>,
) -> Result<(), Stopped> {
    let invoice = closed.group;
    let file = &state.files[invoice.file];
    if invoice.mixed_dates {
        ctx.report
            .note_row(Reason::MixedInvoiceDates, file, invoice.first_line);
    }
    let order = Order {
        id: OrderId::parse(closed.key.as_str()).expect("checked on each row"),
        customer_id: invoice.customer,
        anonymous_id: None,
        email: None,
        placed_at: invoice.placed_at,
        currency: state.currency,
        lines: invoice.lines,
        shipping: 0,
        tax: 0,
        discount: 0,
        coupon: None,
        attribution: Attribution::default(),
        history: Vec::new(),
    };
    grouper.done(&closed.key, true);
    if closed.reopened {
        ctx.report
            .note_row(Reason::MergedDistantRows, file, invoice.first_line);
        ctx.append(order)
    } else {
        ctx.order(order)
    }
}

/// One row, checked: either skipped (with the reason) or kept.
fn read_row(
    ctx: &mut Ctx,
    state: &mut State,
    per: &mut PerFile,
    csv: &CsvFile,
    cols: &Columns,
) -> Result<(), Reason> {
    let file = per.index;
    if csv.fields.len() != csv.header.len() {
        return Err(Reason::WrongColumnCount);
    }
    let invoice = csv.get(Some(cols.invoice));
    let kind = if !invoice.is_empty() && invoice.bytes().all(|b| b.is_ascii_digit()) {
        InvoiceKind::Order
    } else if invoice.len() > 1 && invoice.starts_with('C') {
        InvoiceKind::Cancellation
    } else if invoice.is_empty() {
        return Err(Reason::MissingValue);
    } else if invoice.starts_with('A') {
        return Err(Reason::BadDebtAdjustment);
    } else {
        return Err(Reason::UnknownInvoiceShape);
    };
    // The stock code is kept as written, spaces included: the file has both `47503J` and
    // `47503J `, and the documented figures count them as two products.
    let code = csv.raw(cols.code);
    if code.trim().is_empty() {
        return Err(Reason::MissingValue);
    }
    let quantity = parse_quantity(csv.get(Some(cols.quantity)))?;
    let price_text = csv.get(Some(cols.price));
    let (price, rounded) = parse_money_rounding(price_text, state.currency)?;
    if !decimal_is_positive(price_text) {
        return Err(Reason::NonPositivePrice);
    }
    if quantity == 0 || (quantity < 0 && matches!(kind, InvoiceKind::Order)) {
        return Err(Reason::NonPositiveQuantity);
    }
    let tz = ctx.options.timezone;
    let at = per
        .dates
        .get(csv.get(Some(cols.date)), |t| parse_local_datetime(t, tz))?;
    let customer = match strip_float_suffix(csv.get(Some(cols.customer))) {
        "" => None,
        id => Some(CustomerId::parse(id).map_err(|_| Reason::BadId)?),
    };
    let line_kind = line_kind(code);
    let product_id = match line_kind {
        LineKind::Product => Some(ProductId::parse(code).map_err(|_| Reason::BadId)?),
        _ => None,
    };
    let total = quantity
        .unsigned_abs()
        .checked_mul(price.unsigned_abs())
        .and_then(|t| i64::try_from(t).ok())
        .ok_or(Reason::BadAmount)?;
    match kind {
        InvoiceKind::Cancellation => {
            if line_kind != LineKind::Product {
                return Err(Reason::CancellationNonProductLine);
            }
            // Checked like an order id, because the refund id is derived from it.
            if !per.refunds.contains_key(invoice) {
                RefundId::parse(format!("online-retail:{invoice}")).map_err(|_| Reason::BadId)?;
            }
            let seq = state.next();
            let refund = per
                .refunds
                .entry(invoice.to_string())
                .or_insert(PendingRefund {
                    seq,
                    customer: None,
                    at,
                    amount: 0,
                });
            refund.at = refund.at.min(at);
            refund.amount = refund.amount.checked_add(total).ok_or(Reason::BadAmount)?;
            if refund.customer.is_none() {
                refund.customer = customer.clone();
            }
        }
        InvoiceKind::Order => {
            if per.grouper.get(invoice).is_none() {
                OrderId::parse(invoice).map_err(|_| Reason::BadId)?;
            }
            let description = csv.get(Some(cols.description));
            let title = non_empty(description);
            if line_kind == LineKind::Product {
                state.vote(code, title.as_deref(), price);
            }
            let line = OrderLine {
                kind: line_kind,
                product_id,
                sku: Some(code.to_string()),
                title,
                quantity,
                // A discount takes money off: its line is negative so that the order's total is
                // what was paid (merchandise revenue, product lines only, is not affected).
                unit_price: if line_kind == LineKind::Discount {
                    -price
                } else {
                    price
                },
                discount: 0,
            };
            let line_no = csv.line;
            let group = per.grouper.row(invoice, || Invoice {
                file,
                first_line: line_no,
                customer: customer.clone(),
                placed_at: at,
                mixed_dates: false,
                lines: Vec::new(),
            });
            if group.placed_at != at {
                group.mixed_dates = true;
                group.placed_at = group.placed_at.min(at);
            }
            if group.customer.is_none() {
                group.customer = customer.clone();
            } else if customer.is_some() && group.customer != customer {
                ctx.report
                    .note_row(Reason::ConflictingOrderValue, &state.files[file], line_no);
            }
            group.lines.push(line);
        }
    }
    if rounded {
        ctx.report
            .note_row(Reason::RoundedPrice, &state.files[file], csv.line);
    }
    if let Some(id) = &customer {
        state.saw_customer(ctx, id, at, csv.get(Some(cols.country)), file, csv.line);
    }
    Ok(())
}

pub(crate) fn run(ctx: &mut Ctx, paths: &[PathBuf]) -> Result<(), Stop> {
    // Every header is checked before anything is written.
    let mut files = Vec::new();
    for path in paths {
        let csv = CsvFile::open(path)?;
        let cols = layout(&csv)?;
        files.push((csv, cols, file_size(path)?));
    }
    let mut state = State {
        currency: ctx.options.currency_or(Currency::GBP),
        files: files.iter().map(|(csv, _, _)| csv.name.clone()).collect(),
        seq: 0,
        customers: HashMap::new(),
        products: HashMap::new(),
        refunds: HashMap::new(),
    };
    for (index, (mut csv, cols, size)) in files.into_iter().enumerate() {
        ctx.report.file(csv.name.clone());
        // Each file stands alone: an invoice found again in a later file (the two Online
        // Retail II years overlap by a few days) replaces the earlier one instead of adding
        // to it.
        let mut per = PerFile {
            index,
            grouper: Grouper::new(WINDOW),
            refunds: HashMap::new(),
            dates: DateCache::default(),
        };
        while csv.next()? {
            ctx.report.rows += 1;
            if csv.invalid_utf8 {
                ctx.report
                    .note_row(Reason::InvalidUtf8, &csv.name, csv.line);
            }
            if let Err(reason) = read_row(ctx, &mut state, &mut per, &csv, &cols) {
                ctx.report.note_row(reason, &csv.name, csv.line);
            }
            for closed in per.grouper.idle() {
                close(ctx, &state, &mut per.grouper, closed)?;
            }
            ctx.progress(csv.position())?;
        }
        for closed in per.grouper.drain() {
            close(ctx, &state, &mut per.grouper, closed)?;
        }
        state.refunds.extend(per.refunds);
        ctx.file_done(size)?;
    }
    finish(ctx, state)?;
    Ok(())
}

/// Writes what needed the whole input: products, customers and refunds.
fn finish(ctx: &mut Ctx, state: State) -> Result<(), Stopped> {
    let currency = state.currency;
    let mut products: Vec<(String, ProductVotes)> = state.products.into_iter().collect();
    products.sort_by_key(|(_, v)| v.seq);
    for (code, votes) in products {
        let id = ProductId::parse(code.as_str()).expect("checked on its rows");
        // A product never described is called by its code: a title is required.
        let title = winner(&votes.titles).unwrap_or_else(|| code.clone());
        let mut product = Product::new(id, title, currency);
        product.price = winner(&votes.prices);
        ctx.product(product)?;
    }

    let mut customers: Vec<(String, Seen)> = state.customers.into_iter().collect();
    customers.sort_by_key(|(_, s)| s.seq);
    ctx.report.imported.customers = customers.len() as u64;
    for (id, seen) in customers {
        let id = CustomerId::parse(id).expect("checked on its rows");
        // A patch carries one time; two widen first and last seen to the customer's span.
        let mut patch = CustomerPatch::id_only(id.clone());
        patch.country = seen.country;
        patch.seen_at = Some(seen.first);
        ctx.customer(patch)?;
        if seen.last != seen.first {
            let mut patch = CustomerPatch::id_only(id);
            patch.seen_at = Some(seen.last);
            ctx.customer(patch)?;
        }
    }

    let mut refunds: Vec<(String, PendingRefund)> = state.refunds.into_iter().collect();
    refunds.sort_by_key(|(_, r)| r.seq);
    for (invoice, pending) in refunds {
        if pending.amount == 0 {
            // Only lines whose price rounded to nothing: there is no money to give back.
            continue;
        }
        ctx.refund(Refund {
            id: RefundId::parse(format!("online-retail:{invoice}")).expect("checked on its rows"),
            order_id: None,
            customer_id: pending.customer,
            at: pending.at,
            amount: pending.amount,
            currency,
            reason: None,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{parse_str, Output};
    use crate::{Format, ImportOptions};

    const II: &str =
        "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n";
    const I: &str =
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

    fn run(body: &str) -> Output {
        parse_str(
            Format::OnlineRetail,
            body.as_bytes(),
            &ImportOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn both_layouts_give_the_same_order() {
        let new = run(&format!(
            "{II}489434,85048,GLASS BALL ,12,2009-12-01 07:45:00,6.95,13085,United Kingdom\n"
        ));
        let old = run(&format!(
            "{I}489434,85048,GLASS BALL ,12,12/1/2009 7:45,6.95,13085.0,United Kingdom\n"
        ));
        assert_eq!(new.orders, old.orders);
        let order = &new.orders[0];
        assert_eq!(order.id.as_str(), "489434");
        assert_eq!(order.customer_id.as_ref().unwrap().as_str(), "13085");
        assert_eq!(order.currency, Currency::GBP);
        assert_eq!(order.placed_at.to_rfc3339(), "2009-12-01T07:45:00+00:00");
        assert_eq!(order.lines[0].title.as_deref(), Some("GLASS BALL"));
        assert_eq!(order.merchandise_total(), 12 * 695);
        assert_eq!(new.customers[0].country.as_deref(), Some("United Kingdom"));
        assert_eq!(new.products[0].title, "GLASS BALL");
        assert_eq!(new.products[0].price, Some(695));
        assert_eq!(new.report.imported.orders, 1);
        assert_eq!(new.report.imported.customers, 1);
    }

    #[test]
    fn timezone_and_currency_options_apply() {
        let options = ImportOptions {
            timezone: chrono_tz::Europe::London,
            currency: Some(Currency::EUR),
            ..Default::default()
        };
        let out = parse_str(
            Format::OnlineRetail,
            format!("{II}1,85048,X,1,2010-07-01 12:00:00,1,,UK\n").as_bytes(),
            &options,
        )
        .unwrap();
        assert_eq!(
            out.orders[0].placed_at.to_rfc3339(),
            "2010-07-01T11:00:00+00:00"
        );
        assert_eq!(out.orders[0].currency, Currency::EUR);
    }

    #[test]
    fn cancellations_become_refunds_of_their_product_lines() {
        let out = run(&format!(
            "{II}C489449,22087,PAPER BUNTING,-12,2009-12-01 10:33:00,2.95,16321,Australia\n\
             C489449,85206A,CREAM FELT,-6,2009-12-01 10:34:00,1.65,16321,Australia\n\
             C489449,M,Manual,-1,2009-12-01 10:33:00,10.00,16321,Australia\n\
             C489450,POST,POSTAGE,-1,2009-12-01 10:33:00,18.00,16321,Australia\n"
        ));
        assert!(out.orders.is_empty());
        assert_eq!(out.refunds.len(), 1);
        let refund = &out.refunds[0];
        assert_eq!(refund.id.as_str(), "online-retail:C489449");
        assert_eq!(refund.amount, 12 * 295 + 6 * 165);
        assert_eq!(refund.order_id, None);
        assert_eq!(refund.customer_id.as_ref().unwrap().as_str(), "16321");
        assert_eq!(refund.at.to_rfc3339(), "2009-12-01T10:33:00+00:00");
        assert_eq!(out.report.count(Reason::CancellationNonProductLine), 2);
        assert_eq!(out.report.imported.customers, 1);
    }

    #[test]
    fn bad_debt_and_unknown_invoices_are_skipped() {
        let out = run(&format!(
            "{II}A506401,B,Adjust bad debt,1,2010-04-29 13:36:00,-53594.36,,United Kingdom\n\
             X12,85048,THING,1,2010-04-29 13:36:00,1,,United Kingdom\n\
             ,85048,THING,1,2010-04-29 13:36:00,1,,United Kingdom\n"
        ));
        assert!(out.orders.is_empty() && out.refunds.is_empty());
        assert_eq!(out.report.count(Reason::BadDebtAdjustment), 1);
        assert_eq!(out.report.count(Reason::UnknownInvoiceShape), 1);
        assert_eq!(out.report.count(Reason::MissingValue), 1);
        assert_eq!(out.report.skipped_rows(), 3);
        let bad_debt = out
            .report
            .skipped
            .iter()
            .find(|i| i.reason == Reason::BadDebtAdjustment)
            .unwrap();
        assert_eq!(bad_debt.first[0].line, 2);
    }

    #[test]
    fn guest_rows_make_guest_orders() {
        let out = run(&format!(
            "{II}489597,22315,STRAWS,1,2009-12-01 14:28:00,2.57,,United Kingdom\n\
             489597,22324,BAG,1,2009-12-01 14:28:00,10.39,,United Kingdom\n"
        ));
        assert_eq!(out.orders.len(), 1);
        assert_eq!(out.orders[0].customer_id, None);
        assert_eq!(out.orders[0].lines.len(), 2);
        assert_eq!(out.report.imported.guest_orders, 1);
        assert!(out.customers.is_empty());
    }

    #[test]
    fn bad_prices_and_quantities_are_skipped() {
        let out = run(&format!(
            "{II}1,85048,A,1,2010-01-01 10:00:00,0,1,UK\n\
             1,85048,A,1,2010-01-01 10:00:00,-2.5,1,UK\n\
             1,85048,A,-3,2010-01-01 10:00:00,2.5,1,UK\n\
             1,85048,A,0,2010-01-01 10:00:00,2.5,1,UK\n\
             1,85048,A,x,2010-01-01 10:00:00,2.5,1,UK\n\
             1,85048,A,1,2010-01-01 10:00:00,two,1,UK\n\
             1,85048,A,2,2010-01-01 10:00:00,2.5,1,UK\n"
        ));
        assert_eq!(out.report.count(Reason::NonPositivePrice), 2);
        assert_eq!(out.report.count(Reason::NonPositiveQuantity), 2);
        assert_eq!(out.report.count(Reason::BadQuantity), 1);
        assert_eq!(out.report.count(Reason::BadAmount), 1);
        assert_eq!(out.orders[0].lines.len(), 1);
        assert_eq!(out.orders[0].merchandise_total(), 500);
    }

    #[test]
    fn non_product_codes_are_kinds_of_lines_outside_merchandise() {
        let out = run(&format!(
            "{II}1,85048,GOOD,2,2010-01-01 10:00:00,1.5,1,UK\n\
             1,POST,POSTAGE,1,2010-01-01 10:00:00,18,1,UK\n\
             1,DOT,DOTCOM POSTAGE,1,2010-01-01 10:00:00,5,1,UK\n\
             1,BANK CHARGES,Bank Charges,1,2010-01-01 10:00:00,15,1,UK\n\
             1,PADS,PADS TO MATCH,1,2010-01-01 10:00:00,0.001,1,UK\n\
             1,D,Discount,1,2010-01-01 10:00:00,3,1,UK\n\
             1,M,Manual,1,2010-01-01 10:00:00,4,1,UK\n\
             1,TEST001,test,1,2010-01-01 10:00:00,4,1,UK\n"
        ));
        let order = &out.orders[0];
        let kinds: Vec<LineKind> = order.lines.iter().map(|l| l.kind).collect();
        use LineKind::*;
        assert_eq!(
            kinds,
            [Product, Shipping, Shipping, Fee, Fee, Discount, Adjustment, Adjustment]
        );
        assert_eq!(order.merchandise_total(), 300);
        assert_eq!(order.lines[4].unit_price, 0);
        assert_eq!(order.lines[5].unit_price, -300);
        assert_eq!(order.lines[1].product_id, None);
        assert_eq!(order.lines[1].sku.as_deref(), Some("POST"));
        assert_eq!(order.total(), 300 + 1800 + 500 + 1500 - 300 + 400 + 400);
        assert_eq!(out.report.count(Reason::RoundedPrice), 1);
        assert_eq!(out.products.len(), 1);
        assert!(order.validate().is_ok());
    }

    #[test]
    fn repeated_products_stay_separate_lines_and_vote_for_the_catalog() {
        let out = run(&format!(
            "{II}1,85048,Glass Ball,1,2010-01-01 10:00:00,1.5,,UK\n\
             1,85048,GLASS BALL,1,2010-01-01 10:00:00,1.5,,UK\n\
             2,85048,GLASS BALL,1,2010-01-02 10:00:00,1.25,,UK\n\
             2,85048,,1,2010-01-02 10:00:00,1.25,,UK\n\
             3,85048,  ,1,2010-01-03 10:00:00,1.25,,UK\n\
             3,12345,,1,2010-01-03 10:00:00,1.25,,UK\n"
        ));
        assert_eq!(out.orders[0].lines.len(), 2);
        assert_eq!(out.products[0].title, "GLASS BALL");
        assert_eq!(out.products[0].price, Some(125));
        assert_eq!(out.products[1].title, "12345");
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let mut body = II.as_bytes().to_vec();
        body.extend_from_slice(b"1,85048,CAF\xc9 SIGN,1,2010-01-01 10:00:00,1.5,,UK\n");
        let out = parse_str(Format::OnlineRetail, &body, &ImportOptions::default()).unwrap();
        assert_eq!(
            out.orders[0].lines[0].title.as_deref(),
            Some("CAF\u{fffd} SIGN")
        );
        assert_eq!(out.report.count(Reason::InvalidUtf8), 1);
        assert_eq!(out.report.changed[0].first[0].line, 2);
    }

    #[test]
    fn bad_dates_and_short_rows_are_skipped() {
        let out = run(&format!(
            "{II}1,85048,A,1,2010-13-01 10:00:00,1.5,,UK\n\
             1,85048,A,1,2010-01-01 10:00:00,1.5\n\
             1,85048,A,1,2010-01-01 10:00:00,1.5,,UK\n"
        ));
        assert_eq!(out.report.count(Reason::BadDate), 1);
        assert_eq!(out.report.count(Reason::WrongColumnCount), 1);
        assert_eq!(out.orders[0].lines.len(), 1);
    }

    #[test]
    fn an_invoice_takes_its_earliest_date() {
        let out = run(&format!(
            "{II}1,85048,A,1,2010-01-01 10:01:00,1.5,,UK\n\
             1,85049,A,1,2010-01-01 10:00:00,1.5,,UK\n"
        ));
        assert_eq!(
            out.orders[0].placed_at.to_rfc3339(),
            "2010-01-01T10:00:00+00:00"
        );
        assert_eq!(out.report.count(Reason::MixedInvoiceDates), 1);
    }

    #[test]
    fn customers_keep_the_country_of_their_latest_order() {
        let out = run(&format!(
            "{II}2,85048,A,1,2010-02-01 10:00:00,1.5,7,France\n\
             1,85048,A,1,2010-01-01 10:00:00,1.5,7,Belgium\n"
        ));
        assert_eq!(out.customers[0].country.as_deref(), Some("France"));
        assert_eq!(
            out.customers[0].seen_at.unwrap().to_rfc3339(),
            "2010-01-01T10:00:00+00:00"
        );
        assert_eq!(
            out.customers[1].seen_at.unwrap().to_rfc3339(),
            "2010-02-01T10:00:00+00:00"
        );
        assert_eq!(out.report.count(Reason::SeveralCountries), 1);
    }

    #[test]
    fn unknown_header_names_what_was_found_and_expected() {
        let err = parse_str(
            Format::OnlineRetail,
            b"order,sku,qty\n1,2,3\n",
            &ImportOptions::default(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("found header `order,sku,qty`"), "{text}");
        assert!(
            text.contains("InvoiceNo,StockCode") && text.contains("Invoice,StockCode"),
            "{text}"
        );
    }

    #[test]
    fn missing_columns_are_an_unknown_layout() {
        let err = parse_str(
            Format::OnlineRetail,
            b"Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Country\n",
            &ImportOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ImportError::UnknownLayout { .. }), "{err}");
    }

    /// The figures the rules must give on the real file (the store-side check is in
    /// `tests/`); skipped when the shared data is not there.
    #[test]
    fn real_online_retail_ii_figures() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/online_retail_ii/online_retail_II_2009_2010.csv");
        if !path.exists() {
            eprintln!("skipped: {} not found", path.display());
            return;
        }
        let started = std::time::Instant::now();
        let out =
            crate::testutil::parse_paths(Format::OnlineRetail, &[path], &ImportOptions::default())
                .unwrap();
        eprintln!("parsed in {:?}\n{}", started.elapsed(), out.report);
        let i = &out.report.imported;
        assert_eq!(out.report.rows, 525_461);
        assert_eq!((i.orders, i.guest_orders), (20_951, 1_738));
        assert_eq!(i.products, 4_213);
        assert_eq!(
            i.merchandise,
            [embudo_core::Money::new(983_796_079, Currency::GBP)]
        );
        assert_eq!(
            i.refunded,
            [embudo_core::Money::new(24_779_521, Currency::GBP)]
        );
        let with_orders: std::collections::HashSet<_> = out
            .orders
            .iter()
            .filter_map(|o| o.customer_id.clone())
            .collect();
        assert_eq!(with_orders.len(), 4_312);
        assert_eq!(out.report.count(Reason::BadDebtAdjustment), 3);
        assert_eq!(out.report.count(Reason::NonPositivePrice), 3_687);
        assert!(
            out.appends.is_empty(),
            "the window holds every interleaved invoice"
        );
        assert!(out.orders.iter().all(|o| o.validate().is_ok()));
    }
}
