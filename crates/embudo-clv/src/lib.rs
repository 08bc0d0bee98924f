//! Customer lifetime value: BG/NBD and Gamma-Gamma.
#![deny(missing_docs)]
