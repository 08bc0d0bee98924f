//! The HTTP API, driven over real HTTP against a real server on a free port, once on SQLite and
//! once on PostgreSQL.

use chrono::Utc;
use embudo_ingest::CommitterConfig;
use embudo_server::ServerConfig;
use embudo_store::{KeyKind, NewKey, Store};
use flate2::write::GzEncoder;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::any::Any;
use std::io::Write;
use std::sync::Arc;

struct TestApp {
    base: String,
    http: reqwest::Client,
    secret: String,
    write: String,
    store: Arc<dyn Store>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _guard: Box<dyn Any + Send>,
}

impl TestApp {
    async fn start(store: Arc<dyn Store>, guard: Box<dyn Any + Send>) -> Self {
        let secret = NewKey::generate(KeyKind::Secret, "test", Utc::now());
        let write = NewKey::generate(KeyKind::Write, "site", Utc::now());
        store.insert_key(&secret.key).await.unwrap();
        store.insert_key(&write.key).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(embudo_server::serve(
            listener,
            store.clone(),
            ServerConfig::default(),
            CommitterConfig::default(),
            async {
                let _ = rx.await;
            },
        ));
        Self {
            base,
            http: reqwest::Client::new(),
            secret: secret.secret,
            write: write.secret,
            store,
            shutdown: Some(tx),
            server: Some(server),
            _guard: guard,
        }
    }

    async fn sqlite() -> Self {
        let (store, dir) = embudo_store_sqlite::testing::fresh().await;
        Self::start(store, Box::new(dir)).await
    }

    async fn postgres() -> Self {
        let (store, guard) = embudo_store_postgres::testing::fresh().await;
        Self::start(store, Box::new(guard)).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        read(
            self.http
                .get(self.url(path))
                .bearer_auth(&self.secret)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(
            content_type, "application/problem+json",
            "error answers are problem documents: {status} {text}"
        );
    }
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn problem_field(body: &Value, i: usize) -> &str {
    body["errors"][i]["field"].as_str().unwrap_or("")
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { let app = super::TestApp::sqlite().await; super::$name(&app).await; app.stop().await; } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { let app = super::TestApp::postgres().await; super::$name(&app).await; app.stop().await; } )*
        }
    };
}

on_both_backends!(
    keys_are_checked_and_scoped,
    tracking_is_exactly_once,
    batches_store_valid_messages_and_report_invalid_ones,
    bad_bodies_get_the_right_status,
    gzip_bodies_are_read,
    anonymous_history_joins_the_customer_after_identify,
    an_order_from_events_and_from_the_api_is_one_order,
    shop_data_round_trips,
    operations_endpoints_answer,
    browsers_may_track_from_any_origin,
    analytics_reports_answer_and_refuse_bad_parameters,
    segments_are_created_evaluated_and_listed,
);

async fn browsers_may_track_from_any_origin(app: &TestApp) {
    for path in ["/v1/track", "/v1/batch"] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{}", preflight.status());
        assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
        let allowed = preflight.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("authorization"), "{allowed}");
    }
    // Shop data is not for browsers: no CORS headers there.
    let r = app
        .http
        .get(app.url("/v1/orders"))
        .bearer_auth(&app.secret)
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

async fn keys_are_checked_and_scoped(app: &TestApp) {
    let event = json!({"anonymousId": "a1", "event": "Product Viewed"});
    let r = app
        .http
        .post(app.url("/v1/track"))
        .json(&event)
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = app.post("/v1/track", "ew_not-a-key", &event).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Segment's libraries send HTTP Basic with the key as user name…
    let r = app
        .http
        .post(app.url("/v1/track"))
        .basic_auth(&app.write, Some(""))
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // …or the key in the body.
    let mut with_key = json!({"batch": [{"type": "track", "anonymousId": "a1", "event": "x"}]});
    with_key["writeKey"] = json!(app.write);
    let r = app
        .http
        .post(app.url("/v1/batch"))
        .json(&with_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A write key may track but not read or change shop data.
    let r = app
        .http
        .get(app.url("/v1/orders"))
        .bearer_auth(&app.write)
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app.get("/v1/orders").await;
    assert_eq!(status, StatusCode::OK);
}

async fn tracking_is_exactly_once(app: &TestApp) {
    let event = json!({"anonymousId": "a1", "event": "Product Viewed", "messageId": "m-1", "properties": {"product_id": "P1"}});
    let (status, body) = app.post("/v1/track", &app.write, &event).await;
    assert_eq!(
        (
            status,
            body["accepted"].as_u64(),
            body["duplicates"].as_u64()
        ),
        (StatusCode::OK, Some(1), Some(0)),
        "{body}"
    );
    let (_, body) = app.post("/v1/track", &app.write, &event).await;
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "{body}"
    );
    let batch = json!({"batch": [
        {"type": "track", "anonymousId": "a1", "event": "x", "messageId": "m-1"},
        {"type": "track", "anonymousId": "a1", "event": "x", "messageId": "m-2"},
        {"type": "track", "anonymousId": "a1", "event": "x", "messageId": "m-2"}
    ]});
    let (_, body) = app.post("/v1/batch", &app.write, &batch).await;
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(1), Some(2)),
        "{body}"
    );
    assert_eq!(app.store.counts().await.unwrap().events, 2);
}

async fn batches_store_valid_messages_and_report_invalid_ones(app: &TestApp) {
    let batch = json!({"batch": [
        {"type": "track", "anonymousId": "a1", "event": "Product Viewed"},
        {"type": "track", "anonymousId": "a1"},
        {"type": "identify", "userId": "u1", "traits": {"email": "not-an-email"}},
        {"type": "nonsense", "userId": "u1"},
        {"type": "page", "anonymousId": "a1", "name": "Home"}
    ]});
    let (status, body) = app.post("/v1/batch", &app.write, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 2);
    let rejected: Vec<(u64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        vec![(1, "event"), (2, "traits.email"), (3, "type")]
    );
    let all_bad = json!({"batch": [{"type": "track", "anonymousId": "a1"}]});
    let (status, body) = app.post("/v1/batch", &app.write, &all_bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["index"], 0);
}

async fn bad_bodies_get_the_right_status(app: &TestApp) {
    let send = |path: &'static str, body: Vec<u8>, content_type: &'static str| {
        let request = app
            .http
            .post(app.url(path))
            .bearer_auth(&app.secret)
            .header("content-type", content_type)
            .body(body);
        async move { read(request.send().await.unwrap()).await }
    };
    let (status, body) = send("/v1/track", b"{not json".to_vec(), "application/json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = send("/v1/track", b"<xml/>".to_vec(), "application/xml").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = send(
        "/v1/track",
        br#"{"anonymousId":"a","event":"x","timestamp":"soon"}"#.to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(
        (status, problem_field(&body, 0)),
        (StatusCode::UNPROCESSABLE_ENTITY, "timestamp"),
        "{body}"
    );
    let big =
        json!({"anonymousId": "a", "event": "x", "properties": {"blob": "x".repeat(40 * 1024)}});
    let (status, _) = send(
        "/v1/track",
        serde_json::to_vec(&big).unwrap(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let messages: Vec<Value> = (0..40).map(|i| json!({"type": "track", "anonymousId": "a", "event": "x", "properties": {"blob": format!("{i}{}", "y".repeat(15_000))}})).collect();
    let (status, _) = send(
        "/v1/batch",
        serde_json::to_vec(&json!({"batch": messages})).unwrap(),
        "application/json",
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Shop data: a wrong value names its field; an unknown order is a 404.
    let (status, body) = app
        .post(
            "/v1/products",
            &app.secret,
            &json!({"id": "p1", "title": "Mug", "currency": "EURO"}),
        )
        .await;
    assert_eq!(
        (status, problem_field(&body, 0)),
        (StatusCode::UNPROCESSABLE_ENTITY, "currency"),
        "{body}"
    );
    let (status, body) = app
        .post(
            "/v1/orders",
            &app.secret,
            &json!([{"id": "o1", "placed_at": "2026-01-01T00:00:00Z", "currency": "EUR",
        "lines": [{"product_id": "p1", "quantity": 0, "unit_price": 100}]}]),
        )
        .await;
    assert_eq!(
        (
            status,
            problem_field(&body, 0),
            body["errors"][0]["index"].as_u64()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "lines.0.quantity",
            Some(0)
        ),
        "{body}"
    );
    let (status, _) = app
        .post(
            "/v1/orders/nope/status",
            &app.secret,
            &json!({"status": "shipped", "at": "2026-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/v1/no-such-thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = app.http.delete(app.url("/v1/track")).send().await.unwrap();
    assert_eq!(read(r).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

async fn gzip_bodies_are_read(app: &TestApp) {
    let body =
        json!({"batch": [{"type": "track", "anonymousId": "gz", "event": "Product Viewed"}]});
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&serde_json::to_vec(&body).unwrap())
        .unwrap();
    let compressed = encoder.finish().unwrap();
    let r = app
        .http
        .post(app.url("/v1/batch"))
        .basic_auth(&app.write, Some(""))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    let r = app
        .http
        .post(app.url("/v1/batch"))
        .basic_auth(&app.write, Some(""))
        .header("content-type", "application/json")
        .header("content-encoding", "br-nonsense")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(read(r).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

async fn anonymous_history_joins_the_customer_after_identify(app: &TestApp) {
    let batch = json!({"batch": [
        {"type": "page", "anonymousId": "visitor-9", "name": "Home", "timestamp": "2026-11-20T10:00:00Z"},
        {"type": "track", "anonymousId": "visitor-9", "event": "Product Viewed", "properties": {"product_id": "P1"}, "timestamp": "2026-11-20T10:01:00Z"},
    ]});
    app.post("/v1/batch", &app.write, &batch).await;
    let identify = json!({"userId": "cust-9", "anonymousId": "visitor-9", "traits": {"email": "nine@example.com", "name": "Nine"}, "timestamp": "2026-11-20T10:05:00Z"});
    let (status, _) = app.post("/v1/identify", &app.write, &identify).await;
    assert_eq!(status, StatusCode::OK);
    let (status, profile) = app.get("/v1/customers/cust-9").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["customer"]["email"], "nine@example.com");
    let events: Vec<&str> = profile["recent_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(events, vec!["identify", "track", "page"], "{profile}");
    let merges = profile["merges"].as_array().unwrap();
    assert_eq!(merges.len(), 1, "{profile}");
    assert_eq!(
        (
            merges[0]["anonymous_id"].as_str(),
            merges[0]["events_moved"].as_i64()
        ),
        (Some("visitor-9"), Some(2))
    );
    let (status, _) = app.get("/v1/customers/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn an_order_from_events_and_from_the_api_is_one_order(app: &TestApp) {
    let completed = json!({"userId": "u5", "anonymousId": "a5", "event": "Order Completed", "timestamp": "2026-11-21T09:00:00Z",
        "properties": {"order_id": "ord-5", "currency": "EUR", "shipping": 4.5, "tax": 0, "products": [
            {"product_id": "p1", "price": 19.99, "quantity": 2}, {"product_id": "p2", "price": 5, "quantity": 1}]}});
    let (status, body) = app.post("/v1/track", &app.write, &completed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, order) = app.get("/v1/orders/ord-5").await;
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["lines"][0]["unit_price"], 1999);
    // The shop's backend sends the same order through the orders API: still one order.
    let mut api_order = order.clone();
    api_order["coupon"] = json!("THANKS");
    let (status, body) = app.post("/v1/orders", &app.secret, &api_order).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let counts = app.store.counts().await.unwrap();
    assert_eq!(counts.orders, 1);
    let (status, shipped) = app
        .post("/v1/orders/ord-5/status", &app.secret, &json!({"status": "shipped", "at": "2026-11-22T08:00:00Z", "carrier": "DHL", "tracking_number": "JD0001"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{shipped}");
    assert_eq!(shipped["coupon"], "THANKS");
    let refund = json!({"userId": "u5", "event": "Order Refunded", "messageId": "refund-1", "timestamp": "2026-11-23T08:00:00Z", "properties": {"order_id": "ord-5", "total": 5, "currency": "EUR"}});
    app.post("/v1/track", &app.write, &refund).await;
    app.post("/v1/track", &app.write, &refund).await;
    let (_, refunds) = app.get("/v1/orders/ord-5/refunds").await;
    assert_eq!(refunds.as_array().unwrap().len(), 1, "{refunds}");
    assert_eq!(refunds[0]["amount"], 500);
    let (_, order) = app.get("/v1/orders/ord-5").await;
    let statuses: Vec<&str> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["shipped", "refunded"], "{order}");
    let totals = app.store.totals().await.unwrap();
    assert_eq!(
        (totals[0].merchandise_revenue, totals[0].refunds),
        (2 * 1999 + 500, 500)
    );
}

async fn shop_data_round_trips(app: &TestApp) {
    let products = json!([
        {"id": "p1", "title": "Mug", "currency": "EUR", "price": 1299, "category_path": ["Home", "Kitchen"], "tags": ["ceramic"]},
        {"id": "p2", "title": "Kanne ☕", "currency": "EUR", "price": 3999}
    ]);
    let (status, body) = app.post("/v1/products", &app.secret, &products).await;
    assert_eq!(
        (status, body["written"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    let r = app
        .http
        .put(app.url("/v1/products/p2"))
        .bearer_auth(&app.secret)
        .json(&json!({"title": "Kanne", "currency": "EUR", "price": 3499}))
        .send()
        .await
        .unwrap();
    let (status, p2) = read(r).await;
    assert_eq!(
        (status, p2["price"].as_i64()),
        (StatusCode::OK, Some(3499)),
        "{p2}"
    );
    let (_, page) = app.get("/v1/products?limit=1").await;
    assert_eq!(page[0]["id"], "p1");
    let (_, page) = app.get("/v1/products?after=p1").await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    let r = app
        .http
        .patch(app.url("/v1/customers/c1"))
        .bearer_auth(&app.secret)
        .json(&json!({"email": "c1@example.com", "customer_type": "business", "attributes": {"vat": "PT123"}}))
        .send()
        .await
        .unwrap();
    let (status, c1) = read(r).await;
    assert_eq!(
        (status, c1["customer_type"].as_str()),
        (StatusCode::OK, Some("business")),
        "{c1}"
    );
    for path in [
        "/v1/products?limit=abc",
        "/v1/customers?limit=-1",
        "/v1/orders?limit=1.5",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("limit"),
            "{path}: {body}"
        );
    }
}

async fn operations_endpoints_answer(app: &TestApp) {
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.post(
        "/v1/track",
        &app.write,
        &json!({"anonymousId": "m", "event": "x"}),
    )
    .await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("embudo_ingest_inserted_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("route=\"/v1/track\""), "{metrics}");
    let spec: Value = app
        .http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/track",
        "/v1/batch",
        "/v1/orders/{id}/status",
        "/v1/customers/{id}",
    ] {
        assert!(spec["paths"].get(path).is_some(), "{path} is documented");
    }
}

/// A small shop's visit through tracking, then the reports: funnel counts, revenue, the
/// people who dropped out, and bad parameters answered 400 with the parameter named.
async fn analytics_reports_answer_and_refuse_bad_parameters(app: &TestApp) {
    let event = |id: &str, visitor: &str, name: &str, minute: u32, properties: Value| {
        json!({"type": "track", "messageId": id, "anonymousId": visitor, "event": name,
               "timestamp": format!("2026-01-05T10:{minute:02}:00Z"), "properties": properties,
               "context": {"device": {"type": "mobile"}}})
    };
    let product = json!({"product_id": "p-1", "price": 25.0, "currency": "EUR"});
    let batch = json!({"batch": [
        event("a1", "v-buyer", "Product Viewed", 1, product.clone()),
        event("a2", "v-buyer", "Product Added", 2, product.clone()),
        event("a3", "v-buyer", "Checkout Started", 3, json!({})),
        event("a4", "v-buyer", "Order Completed", 4, json!({"order_id": "o-1", "revenue": 25.0, "currency": "EUR",
            "products": [{"product_id": "p-1", "price": 25.0, "quantity": 1}]})),
        event("b1", "v-looker", "Product Viewed", 5, product.clone()),
    ]});
    let (status, body) = app.post("/v1/batch", &app.write, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The history is loaded into memory in the background at start; from then on the reports
    // come from it (the store answers the same before).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let response = app
            .http
            .get(format!("{}/v1/analytics/traffic", app.base))
            .bearer_auth(&app.secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let engine = response.headers()[embudo_server::analytics::ENGINE_HEADER].clone();
        if engine == "memory" {
            break;
        }
        assert_eq!(engine, "store");
        assert!(
            std::time::Instant::now() < deadline,
            "the history never loaded"
        );
        tokio::task::yield_now().await;
    }

    let range = "from=2026-01-01&to=2026-02-01";
    let (status, funnel) = app
        .get(&format!("/v1/analytics/funnel?{range}&by=device"))
        .await;
    assert_eq!(status, StatusCode::OK, "{funnel}");
    let counts: Vec<u64> = funnel["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![2, 1, 1, 1]);
    assert_eq!(funnel["steps"][1]["conversion_from_first"], 0.5);
    assert_eq!(funnel["steps"][1]["median_seconds_from_previous"], 60.0);
    assert_eq!(funnel["breakdown"][0]["value"], "mobile");
    assert_eq!(funnel["period"]["tz"], "UTC");

    let (status, people) = app
        .get(&format!("/v1/analytics/funnel_people?{range}&step=1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{people}");
    assert_eq!(people["people"], json!(["v:v-looker"]));

    let (status, revenue) = app
        .get(&format!("/v1/analytics/revenue?{range}&interval=week"))
        .await;
    assert_eq!(status, StatusCode::OK, "{revenue}");
    let eur = &revenue["currencies"][0];
    assert_eq!(eur["currency"], "EUR");
    assert_eq!(eur["totals"]["merchandise"], 2500);
    assert_eq!(eur["totals"]["orders"], 1);
    assert_eq!(eur["totals"]["revenue_per_visitor"], 1250);

    for report in ["traffic", "growth", "retention", "abandonment"] {
        let (status, body) = app.get(&format!("/v1/analytics/{report}?{range}")).await;
        assert_eq!(status, StatusCode::OK, "{report}: {body}");
        assert_eq!(body["report"], report);
    }

    for (query, field) in [
        ("funnel?from=yesterday", "from"),
        ("funnel?from=2026-02-01&to=2026-01-01", "to"),
        ("funnel?by=colour", "by"),
        ("funnel?window=0d", "window"),
        ("funnel?mode=sideways", "mode"),
        ("funnel?steps=Product%20Viewed", "steps"),
        ("funnel?bogus=1", "bogus"),
        ("funnel?tz=Mars%2FOlympus", "tz"),
        ("funnel_people?step=9", "step"),
        ("revenue?interval=fortnight", "interval"),
        ("retention?interval=day", "interval"),
        ("growth?compare=someday", "compare"),
    ] {
        let (status, body) = app.get(&format!("/v1/analytics/{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(problem_field(&body, 0), field, "{query}: {body}");
    }
    let (status, _) = app.get("/v1/analytics/horoscope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = app
        .http
        .get(app.url("/v1/analytics/funnel"))
        .bearer_auth(&app.write)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a write key cannot read reports"
    );
    let response = app
        .http
        .get(app.url("/v1/analytics/funnel"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn segments_are_created_evaluated_and_listed(app: &TestApp) {
    // Order lines take their category from the catalog.
    let product = json!({"id": "p-1", "title": "Pan", "currency": "EUR", "price": 3000, "category_path": ["Kitchen"]});
    let (status, body) = app.post("/v1/products", &app.secret, &product).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let order = |id: &str, user: &str, minute: u32| {
        json!({"type": "track", "messageId": id, "userId": user, "event": "Order Completed",
               "timestamp": format!("2026-01-05T10:{minute:02}:00Z"),
               "properties": {"order_id": format!("o-{id}"), "revenue": 30.0, "currency": "EUR",
                   "products": [{"product_id": "p-1", "price": 30.0, "quantity": 1, "category": "Kitchen"}]}})
    };
    let batch = json!({"batch": [order("s1", "ana", 1), order("s2", "ana", 2), order("s3", "ben", 3),
        json!({"type": "track", "messageId": "s4", "userId": "cid", "event": "Product Viewed",
               "timestamp": "2026-01-05T10:04:00Z", "properties": {"product_id": "p-1"}})]});
    let (status, body) = app.post("/v1/batch", &app.write, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A bad condition is refused with the position of the fault.
    let (status, body) = app
        .post(
            "/v1/segments",
            &app.secret,
            &json!({"key": "repeat", "expression": "orders_count >= "}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(problem_field(&body, 0), "expression");
    assert!(body["detail"].as_str().unwrap().contains("1:17"), "{body}");
    let (status, _) = app
        .post(
            "/v1/segments",
            &app.secret,
            &json!({"key": "Not A Key", "expression": "true"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A preview, then the segment itself, evaluated at once.
    let (status, preview) = app
        .post(
            "/v1/segments/preview",
            &app.secret,
            &json!({"expression": "orders_count >= 2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["size"], 1);
    assert_eq!(preview["sample"], json!(["ana"]));
    let (status, saved) = app
        .post(
            "/v1/segments",
            &app.secret,
            &json!({"key": "repeat", "name": "Repeat buyers",
            "expression": "orders_count >= 2 and bought(category: \"Kitchen\")"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["segment"]["size"], 1);
    assert_eq!(saved["evaluation"]["entered"], 1);
    let (status, _) = app
        .post(
            "/v1/segments",
            &app.secret,
            &json!({"key": "repeat", "expression": "true"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "creating twice");
    let (_, members) = app.get("/v1/segments/repeat/members").await;
    assert_eq!(members[0]["customer_id"], "ana");
    let (_, profile) = app.get("/v1/customers/ana").await;
    assert_eq!(profile["segments"][0]["segment"], "repeat");
    let (_, list) = app.get("/v1/segments").await;
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["key"] == "repeat" && s["size"] == 1));

    // Changing the definition moves people; a segment in use cannot be deleted.
    let response = app
        .http
        .put(app.url("/v1/segments/repeat"))
        .bearer_auth(&app.secret)
        .json(&json!({"expression": "orders_count >= 1"}))
        .send()
        .await
        .unwrap();
    let (status, saved) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["segment"]["size"], 2);
    let (status, _) = app
        .post(
            "/v1/segments",
            &app.secret,
            &json!({"key": "fans", "expression": "in_segment(\"repeat\")"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let delete = |key: &str| {
        app.http
            .delete(app.url(&format!("/v1/segments/{key}")))
            .bearer_auth(&app.secret)
            .send()
    };
    let (status, body) = read(delete("repeat").await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        delete("fans").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete("fans").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = app.get("/v1/segments/nope/members").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Scores: every customer with orders, the VIP group, visible in the profile.
    let (status, body) = app
        .post(
            "/v1/scores/refresh",
            &app.secret,
            &json!({"vip_share": 2.0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, report) = app
        .post(
            "/v1/scores/refresh",
            &app.secret,
            &json!({"vip_share": 0.5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["customers"], 2, "{report}");
    assert_eq!(report["vip"], 1);
    let (_, vip) = app.get("/v1/segments/vip/members").await;
    assert_eq!(vip[0]["customer_id"], "ana", "the bigger spender: {vip}");
    let (_, profile) = app.get("/v1/customers/ana").await;
    assert_eq!(profile["scores"]["vip"], true, "{profile}");
    assert_eq!(profile["scores"]["currency"], "EUR");
}
