//! The importers against the SQLite backend.

mod common;

use embudo_store_sqlite::testing::fresh;

#[tokio::test]
async fn online_retail_ii_figures_and_reimport() {
    let (store, _dir) = fresh().await;
    common::online_retail_ii(store.as_ref()).await;
}

#[tokio::test]
async fn cdnow_sample() {
    let (store, _dir) = fresh().await;
    common::cdnow_sample(store.as_ref()).await;
}

#[tokio::test]
async fn instacart_catalog_and_baskets() {
    let (store, _dir) = fresh().await;
    common::instacart_head(store.as_ref(), 50_000).await;
}

#[tokio::test]
async fn generic_csv() {
    let (store, _dir) = fresh().await;
    common::generic_csv(store.as_ref()).await;
}
