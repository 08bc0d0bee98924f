//! Embudo's ingestion pipeline.
//!
//! Tracking data arrives as Segment HTTP tracking API messages (from the HTTP API, the demo
//! generator or a replay). [`segment`] parses each into an [`embudo_core::Message`], naming the
//! field at fault when it cannot; [`effects`] decides what a message does to the shop's data
//! (an `identify` updates a profile and links the visitor, an `Order Completed` creates the
//! order…); [`committer`] merges concurrent batches into few store transactions (group commit),
//! so that every acknowledged message is durable without paying one fsync per request.
#![deny(missing_docs)]

pub mod committer;
pub mod effects;
pub mod segment;

pub use committer::{CommitError, Committer, CommitterConfig};
pub use effects::{envelope, EffectsConfig};
pub use segment::{
    parse_batch_body, parse_json_message, parse_message, MessageError, ParseLimits, ParsedBatch,
};
