//! Customer intelligence as the server runs it, over a [`embudo_store::Store`]:
//!
//! - [`history`]: a shop's orders as the lifetime value models read them;
//! - [`scores`]: the batch job that scores every customer (RFM, BG/NBD + Gamma-Gamma
//!   predictions, the VIP group) and stores the scores with the customer;
//! - [`segments`]: the segment engine: definitions checked and stored, members evaluated from
//!   each customer's profile, entries and exits recorded;
//! - [`worker`]: the background loop that keeps memberships up to date as events arrive and
//!   as time passes, and refreshes the scores on a schedule.
//!
//! The segment language and the models themselves are pure crates (`embudo-segments`,
//! `embudo-clv`); this crate reads and writes the store around them.
#![deny(missing_docs)]

pub mod history;
pub mod scores;
pub mod segments;
pub mod worker;

pub use scores::{refresh_scores, Scores, ScoresOptions, ScoresReport};
pub use segments::{EvalStats, SegmentEngine, SegmentError};
