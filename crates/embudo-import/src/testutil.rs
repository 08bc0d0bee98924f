//! Helpers for unit tests: run a parser on bytes and look at what it would write.

use crate::pipeline::{parse_to_vec, Msg};
use crate::{Format, ImportError, ImportOptions, ImportReport};
use embudo_core::{CustomerPatch, Order, Product, Refund};
use std::path::PathBuf;

/// What a parser sent, by kind.
#[derive(Debug)]
pub(crate) struct Output {
    pub report: ImportReport,
    pub products: Vec<Product>,
    pub customers: Vec<CustomerPatch>,
    pub orders: Vec<Order>,
    pub appends: Vec<Order>,
    pub refunds: Vec<Refund>,
    pub progress: u64,
}

/// Parses files made of `(name, content)` in a temporary directory.
pub(crate) fn parse_files(
    format: Format,
    files: &[(&str, &[u8])],
    options: &ImportOptions,
) -> Result<Output, ImportError> {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|(name, content)| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path
        })
        .collect();
    parse_paths(format, &paths, options)
}

/// Parses existing files or directories.
pub(crate) fn parse_paths(
    format: Format,
    paths: &[PathBuf],
    options: &ImportOptions,
) -> Result<Output, ImportError> {
    let (report, msgs) = parse_to_vec(format, paths, options)?;
    let mut out = Output {
        report,
        products: vec![],
        customers: vec![],
        orders: vec![],
        appends: vec![],
        refunds: vec![],
        progress: 0,
    };
    for msg in msgs {
        match msg {
            Msg::Progress(n) => out.progress += n,
            Msg::Products(v) => out.products.extend(v),
            Msg::Customers(v) => out.customers.extend(v),
            Msg::Orders(v) => out.orders.extend(v),
            Msg::Appends(v) => out.appends.extend(v),
            Msg::Refunds(v) => out.refunds.extend(v),
        }
    }
    Ok(out)
}

/// Parses one file holding `content`.
pub(crate) fn parse_str(
    format: Format,
    content: &[u8],
    options: &ImportOptions,
) -> Result<Output, ImportError> {
    parse_files(format, &[("input.csv", content)], options)
}

/// A store in memory with just enough behaviour for the pipeline: upserts by id, refunds
/// deduplicated by id, and a switch to make order writes fail.
#[derive(Default)]
pub(crate) struct MemStore {
    pub state: std::sync::Mutex<MemState>,
}

/// What a [`MemStore`] holds.
#[derive(Default, Clone, PartialEq, Debug)]
pub(crate) struct MemState {
    pub products: std::collections::BTreeMap<String, Product>,
    pub customers: std::collections::BTreeMap<String, Vec<CustomerPatch>>,
    pub orders: std::collections::BTreeMap<String, Order>,
    pub refunds: std::collections::BTreeMap<String, Refund>,
    pub order_calls: usize,
    pub fail_orders: bool,
}

mod mem {
    use super::*;
    use embudo_core::{
        AnonymousId, Customer, CustomerId, IdentityMerge, OrderId, ProductId, StatusChange,
        StoredEvent,
    };
    use embudo_store::{
        ApiKey, Applied, Backend, Counts, CurrencyTotals, Envelope, PageRequest, Store, StoreError,
        StoreResult,
    };

    #[async_trait::async_trait]
    impl Store for MemStore {
        fn backend(&self) -> Backend {
            Backend::Sqlite
        }
        async fn ping(&self) -> StoreResult<()> {
            Ok(())
        }
        async fn apply(&self, _: Vec<Envelope>) -> StoreResult<Vec<Applied>> {
            unimplemented!()
        }
        async fn customer_events(&self, _: &CustomerId, _: u32) -> StoreResult<Vec<StoredEvent>> {
            unimplemented!()
        }
        async fn visitor_customer(&self, _: &AnonymousId) -> StoreResult<Option<CustomerId>> {
            unimplemented!()
        }
        async fn identity_merges(&self, _: &CustomerId) -> StoreResult<Vec<IdentityMerge>> {
            unimplemented!()
        }
        async fn upsert_products(&self, products: &[Product]) -> StoreResult<u64> {
            let mut s = self.state.lock().unwrap();
            for p in products {
                s.products.insert(p.id.to_string(), p.clone());
            }
            Ok(products.len() as u64)
        }
        async fn product(&self, _: &ProductId) -> StoreResult<Option<Product>> {
            unimplemented!()
        }
        async fn products(&self, _: &PageRequest) -> StoreResult<Vec<Product>> {
            unimplemented!()
        }
        async fn upsert_customers(&self, patches: &[CustomerPatch]) -> StoreResult<u64> {
            let mut s = self.state.lock().unwrap();
            for p in patches {
                s.customers
                    .entry(p.id.to_string())
                    .or_default()
                    .push(p.clone());
            }
            Ok(patches.len() as u64)
        }
        async fn customer(&self, _: &CustomerId) -> StoreResult<Option<Customer>> {
            unimplemented!()
        }
        async fn customers(&self, _: &PageRequest) -> StoreResult<Vec<Customer>> {
            unimplemented!()
        }
        async fn customer_orders(&self, _: &CustomerId, _: u32) -> StoreResult<Vec<Order>> {
            unimplemented!()
        }
        async fn upsert_orders(&self, orders: &[Order]) -> StoreResult<u64> {
            let mut s = self.state.lock().unwrap();
            if s.fail_orders {
                return Err(StoreError::Unavailable("switched off".into()));
            }
            s.order_calls += 1;
            for o in orders {
                s.orders.insert(o.id.to_string(), o.clone());
            }
            Ok(orders.len() as u64)
        }
        async fn order(&self, id: &OrderId) -> StoreResult<Option<Order>> {
            Ok(self.state.lock().unwrap().orders.get(id.as_str()).cloned())
        }
        async fn orders(&self, _: &PageRequest) -> StoreResult<Vec<Order>> {
            unimplemented!()
        }
        async fn add_order_status(
            &self,
            _: &OrderId,
            _: &StatusChange,
        ) -> StoreResult<Option<Order>> {
            unimplemented!()
        }
        async fn record_refunds(&self, refunds: &[Refund]) -> StoreResult<u64> {
            let mut s = self.state.lock().unwrap();
            let mut new = 0;
            for r in refunds {
                if !s.refunds.contains_key(r.id.as_str()) {
                    s.refunds.insert(r.id.to_string(), r.clone());
                    new += 1;
                }
            }
            Ok(new)
        }
        async fn order_refunds(&self, _: &OrderId) -> StoreResult<Vec<Refund>> {
            unimplemented!()
        }
        async fn insert_key(&self, _: &ApiKey) -> StoreResult<()> {
            unimplemented!()
        }
        async fn key_by_hash(&self, _: &str) -> StoreResult<Option<ApiKey>> {
            unimplemented!()
        }
        async fn keys(&self) -> StoreResult<Vec<ApiKey>> {
            unimplemented!()
        }
        async fn revoke_key(&self, _: &str) -> StoreResult<bool> {
            unimplemented!()
        }
        async fn counts(&self) -> StoreResult<Counts> {
            unimplemented!()
        }
        async fn totals(&self) -> StoreResult<Vec<CurrencyTotals>> {
            unimplemented!()
        }
    }
}
