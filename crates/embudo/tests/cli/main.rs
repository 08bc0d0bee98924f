//! The `embudo` binary as users run it: real processes, real ports, real files.
//!
//! - `segment_client`: Segment's own Python library delivers a visit; the anonymous history
//!   appears in the customer's profile after `identify`.
//! - `crash`: the server is killed with SIGKILL in the middle of heavy batch ingestion and
//!   restarted; every acknowledged message is there exactly once.
//! - `demo`: the README's main command serves a generated shop.
//! - `reports`: `embudo report` prints what the analytics API answers.
//! - `clv`: `embudo clv fit` and `embudo clv predict` reproduce the BG/NBD and Gamma-Gamma
//!   papers on the CDNOW sample imported with `embudo import`.
//! - `recs`: `embudo recs eval|train|export` on the Online Retail II file: the peers'
//!   protocol, the blend above the best peer, an export for every customer.
//! - `segments`: `embudo scores refresh`, `embudo segments …` and `embudo report rfm` on the
//!   same sample.

mod support;

mod clv;
mod crash;
mod demo;
mod recs;
mod reports;
mod segment_client;
mod segments;
