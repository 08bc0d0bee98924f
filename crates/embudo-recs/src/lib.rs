//! Product recommendations.
//!
//! Pure functions and models over a shop's interactions, no database: the server and the CLI
//! load the history from a store into an [`Interactions`] table and a [`Catalog`], train the
//! models here, and serve or evaluate them.
//!
//! Items and users are dense indices (`u32`) into the catalog and the user table; the
//! mapping to product and customer ids lives with the caller.
#![deny(missing_docs)]

pub mod content;
pub mod data;
pub mod ease;
pub mod eval;
pub mod fbt;
pub mod hybrid;
pub mod ials;
pub mod knn;
pub mod load;
pub mod scorer;
pub mod serve;
pub mod service;
pub mod userknn;

pub use data::{Catalog, CatalogItem, Csr, Interactions};
