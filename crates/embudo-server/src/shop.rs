//! Shop data: products, customers, orders and refunds (secret key only).
//!
//! Writes accept one object or an array of up to [`MAX_BULK`] objects and are atomic: either
//! every item is valid and stored, or nothing is and the answer names each bad item by index.

use crate::auth::SecretAccess;
use crate::body::{from_value, Json as JsonBody};
use crate::problem::{ApiError, FieldError};
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use embudo_core::{
    Customer, CustomerId, CustomerPatch, IdentityMerge, Order, OrderId, Product, ProductId, Refund,
    StatusChange, StoredEvent,
};
use embudo_store::PageRequest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// The most items one bulk write may carry.
pub const MAX_BULK: usize = 1000;

/// How many items a write stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Written {
    /// Items written.
    pub written: u64,
}

/// Reads one object or an array of objects, checking each and naming bad ones by index.
fn items<T: DeserializeOwned>(
    body: Value,
    check: impl Fn(&T) -> Result<(), embudo_core::ValidationError>,
) -> Result<Vec<T>, ApiError> {
    let (values, bulk) = match body {
        Value::Array(values) => (values, true),
        other => (vec![other], false),
    };
    if values.len() > MAX_BULK {
        return Err(ApiError::TooLarge(format!(
            "at most {MAX_BULK} items per request, got {}",
            values.len()
        )));
    }
    let mut out = Vec::with_capacity(values.len());
    let mut errors = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let index = bulk.then_some(i);
        match from_value::<T>(value) {
            Ok(item) => match check(&item) {
                Ok(()) => out.push(item),
                Err(e) => errors.push(FieldError {
                    index,
                    field: e.field,
                    reason: e.reason,
                }),
            },
            Err(ApiError::Invalid { errors: mut e, .. }) => {
                e.iter_mut().for_each(|f| f.index = index);
                errors.extend(e);
            }
            Err(other) => return Err(other),
        }
    }
    if !errors.is_empty() {
        let detail = if bulk {
            format!(
                "{} of the items are invalid; nothing was written",
                errors.len()
            )
        } else {
            format!("{}: {}", errors[0].field, errors[0].reason)
        };
        return Err(ApiError::Invalid { detail, errors });
    }
    Ok(out)
}

/// Puts the path's id into a body that has none, and refuses a body naming another id.
fn with_path_id(mut body: Value, id: &str) -> Result<Value, ApiError> {
    let Value::Object(map) = &mut body else {
        return Err(ApiError::invalid("", "must be a JSON object"));
    };
    match map.get("id") {
        None | Some(Value::Null) => {
            map.insert("id".into(), Value::String(id.to_string()));
        }
        Some(Value::String(s)) if s == id => {}
        Some(_) => return Err(ApiError::invalid("id", "differs from the id in the path")),
    }
    Ok(body)
}

fn parse_path_id<T>(
    parse: impl Fn(String) -> Result<T, embudo_core::ValidationError>,
    raw: String,
) -> Result<T, ApiError> {
    parse(raw)
        .map_err(|e| ApiError::NotFound(format!("`{}` is not a valid id: {}", e.field, e.reason)))
}

// ---- products ----

/// Create or replace products (one object or an array).
#[utoipa::path(post, path = "/v1/products", tag = "products", request_body = Vec<Product>,
    responses((status = 200, body = Written), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn put_products(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Written>, ApiError> {
    let products: Vec<Product> = items(body, Product::validate)?;
    Ok(Json(Written {
        written: state.store.upsert_products(&products).await?,
    }))
}

/// Create or replace one product.
#[utoipa::path(put, path = "/v1/products/{id}", tag = "products", request_body = Product,
    responses((status = 200, body = Product), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn put_product(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Product>, ApiError> {
    let id = parse_path_id(ProductId::parse, id)?;
    let product: Product = items(with_path_id(body, id.as_str())?, Product::validate)?.remove(0);
    state
        .store
        .upsert_products(std::slice::from_ref(&product))
        .await?;
    state
        .store
        .product(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::Internal("a product just written is missing".into()))
}

/// One product.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "products", responses((status = 200, body = Product), (status = 404, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn get_product(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Product>, ApiError> {
    let id = parse_path_id(ProductId::parse, id)?;
    state
        .store
        .product(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no product `{id}`")))
}

/// Products, by id, paged with `after` and `limit`.
#[utoipa::path(get, path = "/v1/products", tag = "products", params(PageRequest), responses((status = 200, body = Vec<Product>)), security(("bearer" = [])))]
pub async fn list_products(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    page: Result<Query<PageRequest>, QueryRejection>,
) -> Result<Json<Vec<Product>>, ApiError> {
    let Query(page) = page.map_err(page_rejection)?;
    Ok(Json(state.store.products(&page).await?))
}

/// A paging query string that cannot be read (`limit=abc`): 400, as a problem document.
pub(crate) fn page_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest(format!(
        "the query string cannot be read (`after` is an id, `limit` a whole number): {}",
        rejection.body_text()
    ))
}

// ---- customers ----

fn no_check<T>(_: &T) -> Result<(), embudo_core::ValidationError> {
    Ok(())
}

/// Create or update customers (one patch or an array): given fields replace stored ones,
/// `attributes` are merged key by key.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = Vec<CustomerPatch>,
    responses((status = 200, body = Written), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn patch_customers(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Written>, ApiError> {
    let patches: Vec<CustomerPatch> = items(body, no_check)?;
    Ok(Json(Written {
        written: state.store.upsert_customers(&patches).await?,
    }))
}

/// Create or update one customer.
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", request_body = CustomerPatch,
    responses((status = 200, body = Customer), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn patch_customer(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Customer>, ApiError> {
    let id = parse_path_id(CustomerId::parse, id)?;
    let patch: CustomerPatch = items(with_path_id(body, id.as_str())?, no_check)?.remove(0);
    state
        .store
        .upsert_customers(std::slice::from_ref(&patch))
        .await?;
    state
        .store
        .customer(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::Internal("a customer just written is missing".into()))
}

/// Customers, by id, paged with `after` and `limit`.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(PageRequest), responses((status = 200, body = Vec<Customer>)), security(("bearer" = [])))]
pub async fn list_customers(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    page: Result<Query<PageRequest>, QueryRejection>,
) -> Result<Json<Vec<Customer>>, ApiError> {
    let Query(page) = page.map_err(page_rejection)?;
    Ok(Json(state.store.customers(&page).await?))
}

/// A customer's profile with recent history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerProfile {
    /// The profile.
    pub customer: Customer,
    /// The most recent events (the customer's and their linked visitors'), newest first.
    pub recent_events: Vec<StoredEvent>,
    /// The most recent orders, newest first.
    pub orders: Vec<Order>,
    /// How the customer's identity was assembled.
    pub merges: Vec<IdentityMerge>,
    /// The segments the customer is in, with when they entered.
    pub segments: Vec<CustomerSegmentView>,
    /// RFM scores, lifetime value predictions and the VIP flag, as the scores job last
    /// computed them (`docs/segments.md`, `docs/clv.md`).
    #[schema(value_type = Object)]
    pub scores: Option<Value>,
}

/// A segment a customer is in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CustomerSegmentView {
    /// The segment's key.
    pub segment: String,
    /// When the customer entered it.
    pub entered_at: chrono::DateTime<chrono::Utc>,
}

/// A customer's profile with recent events, orders and identity merges.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", responses((status = 200, body = CustomerProfile), (status = 404, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn get_customer(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<CustomerProfile>, ApiError> {
    let id = parse_path_id(CustomerId::parse, id)?;
    let customer = state
        .store
        .customer(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no customer `{id}`")))?;
    // A customer folded into another shows the history of the one it now belongs to.
    let owner = customer.merged_into.clone().unwrap_or_else(|| id.clone());
    let (recent_events, orders, merges, segments, scores) = tokio::try_join!(
        state.store.customer_events(&owner, 50),
        state.store.customer_orders(&owner, 20),
        state.store.identity_merges(&owner),
        state.store.customer_segments(&owner),
        state.store.customer_scores(&owner)
    )?;
    Ok(Json(CustomerProfile {
        customer,
        recent_events,
        orders,
        merges,
        segments: segments
            .into_iter()
            .map(|s| CustomerSegmentView {
                segment: s.segment,
                entered_at: s.entered_at,
            })
            .collect(),
        scores: scores.map(|s| s.scores),
    }))
}

// ---- orders ----

/// Create or replace orders (one object or an array), idempotent by order id.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = Vec<Order>,
    responses((status = 200, body = Written), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn put_orders(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Written>, ApiError> {
    let orders: Vec<Order> = items(body, Order::validate)?;
    Ok(Json(Written {
        written: state.store.upsert_orders(&orders).await?,
    }))
}

/// Create or replace one order.
#[utoipa::path(put, path = "/v1/orders/{id}", tag = "orders", request_body = Order,
    responses((status = 200, body = Order), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn put_order(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Order>, ApiError> {
    let id = parse_path_id(OrderId::parse, id)?;
    let order: Order = items(with_path_id(body, id.as_str())?, Order::validate)?.remove(0);
    state
        .store
        .upsert_orders(std::slice::from_ref(&order))
        .await?;
    state
        .store
        .order(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::Internal("an order just written is missing".into()))
}

/// One order with its status history.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", responses((status = 200, body = Order), (status = 404, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn get_order(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    let id = parse_path_id(OrderId::parse, id)?;
    state
        .store
        .order(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no order `{id}`")))
}

/// Orders, by id, paged with `after` and `limit`.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(PageRequest), responses((status = 200, body = Vec<Order>)), security(("bearer" = [])))]
pub async fn list_orders(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    page: Result<Query<PageRequest>, QueryRejection>,
) -> Result<Json<Vec<Order>>, ApiError> {
    let Query(page) = page.map_err(page_rejection)?;
    Ok(Json(state.store.orders(&page).await?))
}

/// Add a status change (paid, shipped with carrier and tracking number, delivered, cancelled,
/// refunded with an amount) to an order.
#[utoipa::path(post, path = "/v1/orders/{id}/status", tag = "orders", request_body = StatusChange,
    responses((status = 200, body = Order), (status = 404, body = crate::problem::Problem), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn add_status(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(change): JsonBody<StatusChange>,
) -> Result<Json<Order>, ApiError> {
    let id = parse_path_id(OrderId::parse, id)?;
    change
        .validate()
        .map_err(|e| ApiError::invalid(e.field, e.reason))?;
    state
        .store
        .add_order_status(&id, &change)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no order `{id}`")))
}

/// An order's refunds.
#[utoipa::path(get, path = "/v1/orders/{id}/refunds", tag = "orders", responses((status = 200, body = Vec<Refund>)), security(("bearer" = [])))]
pub async fn order_refunds(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Refund>>, ApiError> {
    let id = parse_path_id(OrderId::parse, id)?;
    Ok(Json(state.store.order_refunds(&id).await?))
}

/// Record refunds (one object or an array); a refund id already stored is ignored.
#[utoipa::path(post, path = "/v1/refunds", tag = "orders", request_body = Vec<Refund>,
    responses((status = 200, body = Written), (status = 422, body = crate::problem::Problem)), security(("bearer" = [])))]
pub async fn put_refunds(
    _: SecretAccess,
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Written>, ApiError> {
    let refunds: Vec<Refund> = items(body, |r: &Refund| {
        if r.amount < 0 {
            Err(embudo_core::ValidationError::new(
                "amount",
                embudo_core::ValidationErrorKind::OutOfRange,
                "must not be negative",
            ))
        } else {
            Ok(())
        }
    })?;
    Ok(Json(Written {
        written: state.store.record_refunds(&refunds).await?,
    }))
}
