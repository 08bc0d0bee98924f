//! The importers against the PostgreSQL backend. Needs `EMBUDO_TEST_PG_URL`
//! (`eval "$(scripts/pg-cluster start)"` sets it).

mod common;

use embudo_store_postgres::testing::fresh;

#[tokio::test]
async fn online_retail_ii_figures_and_reimport() {
    let (store, _guard) = fresh().await;
    common::online_retail_ii(store.as_ref()).await;
}

#[tokio::test]
async fn cdnow_sample() {
    let (store, _guard) = fresh().await;
    common::cdnow_sample(store.as_ref()).await;
}

#[tokio::test]
async fn instacart_catalog_and_baskets() {
    let (store, _guard) = fresh().await;
    common::instacart_head(store.as_ref(), 50_000).await;
}

#[tokio::test]
async fn generic_csv() {
    let (store, _guard) = fresh().await;
    common::generic_csv(store.as_ref()).await;
}
