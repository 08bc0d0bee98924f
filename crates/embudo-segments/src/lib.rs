//! Segments: a small language for conditions over a customer, and RFM scores.
//!
//! A segment is a named condition over a customer's profile and history, written as text a
//! marketer can read:
//!
//! ```text
//! orders_count >= 2 and last_order_at > now() - 90d and bought(category: "Kitchen")
//! viewed(product: "P1", within: 7d) and not ordered(within: 7d)
//! ```
//!
//! or as the equivalent JSON tree. This crate is pure — no store, no I/O:
//!
//! - [`parse`] turns text into a checked [`Expr`] (errors carry a line and column,
//!   [`ParseError::render`] shows them under the source); `Display` prints an [`Expr`] back as
//!   canonical text; [`Expr::to_json`] / [`Expr::from_json`] are the JSON tree.
//! - [`evaluate`] decides whether a [`Profile`] matches at an instant ([`EvalContext`]).
//! - [`Dependencies`] says which changes can change the value, [`next_change`] when the clock
//!   alone could change it, [`find_cycle`] / [`evaluation_order`] handle segments that refer
//!   to segments.
//! - [`rfm_scores`] scores customers 1–5 on recency, frequency and monetary value and names
//!   their group; [`rfm_report`] summarises them.
//!
//! The language reference is `docs/segments.md`.
#![deny(missing_docs)]

mod analysis;
mod ast;
mod check;
mod error;
mod eval;
mod json;
mod lexer;
mod parser;
mod printer;
mod profile;
mod rfm;

pub use analysis::{
    dependencies, dependents, depends_on_time, evaluation_order, find_cycle, next_change,
    referenced_segments, Change, Dependencies,
};
pub use ast::{
    is_visit_event, parse_time_literal, ArgName, Args, Call, CmpOp, Comparison, Decimal, Duration,
    DurationUnit, Expr, Field, FieldKind, Function, InList, MoneyValue, Sign, Source, TimeBase,
    TimeOffset, TimeValue, Value, EMAIL_CLICKED, EMAIL_OPENED, NOT_VISITS,
};
pub use check::{validate, MAX_DEPTH};
pub use error::{ParseError, TreeError};
pub use eval::{count, evaluate, preview, EvalContext, Membership, Preview, StoredMembership};
pub use lexer::MAX_SOURCE_LEN;
pub use parser::parse;
pub use profile::{Predictions, Profile, ProfileEvent, ProfileLine, ProfileOrder};
pub use rfm::{
    quintile_scores, recency_days, rfm_report, rfm_scores, RfmGroup, RfmGroupRow, RfmInput,
    RfmReport, RfmScore,
};
