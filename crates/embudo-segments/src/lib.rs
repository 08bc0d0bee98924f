//! Segments: a small language for conditions over a customer, and RFM scores.
#![deny(missing_docs)]
