//! The recommendation API end to end: a small shop sent through the real API to a real server
//! on a free port, once on SQLite and once on PostgreSQL; the model trained through the API
//! (or by "another node" writing to the same store) and every placement asked for over HTTP.

use chrono::{DateTime, Duration as Days, Utc};
use embudo_ingest::CommitterConfig;
use embudo_server::recs::RecsSettings;
use embudo_server::ServerConfig;
use embudo_store::{KeyKind, NewKey, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::any::Any;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- the server ----

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

/// The test controls training: no background service.
fn manual() -> ServerConfig {
    ServerConfig {
        recs: None,
        intel_worker: None,
        analytics_in_memory: false,
        ..ServerConfig::default()
    }
}

/// The background service, looking for models of other nodes every 50 ms.
fn polling() -> ServerConfig {
    ServerConfig {
        recs: Some(RecsSettings {
            train_every: Duration::from_secs(3600),
            poll_every: Duration::from_millis(50),
        }),
        ..manual()
    }
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl TestApp {
    async fn new(backend: Backend, config: ServerConfig) -> Self {
        let (store, guard): (Arc<dyn Store>, Box<dyn Any + Send>) = match backend {
            Backend::Sqlite => {
                let (store, dir) = embudo_store_sqlite::testing::fresh().await;
                (store, Box::new(dir))
            }
            Backend::Postgres => {
                let (store, guard) = embudo_store_postgres::testing::fresh().await;
                (store, Box::new(guard))
            }
        };
        Self::start(store, guard, config).await
    }

    /// A server over `store` (a second node when another server uses it already).
    async fn start(
        store: Arc<dyn Store>,
        guard: Box<dyn Any + Send>,
        config: ServerConfig,
    ) -> Self {
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
            config,
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        read(r).await
    }

    async fn get_as(&self, path: &str, key: &str) -> (StatusCode, Value) {
        read(
            self.http
                .get(self.url(path))
                .bearer_auth(key)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// `GET /v1/recommendations?{query}` with the secret key.
    async fn recs(&self, query: &str) -> (StatusCode, Value) {
        self.get_as(&format!("/v1/recommendations?{query}"), &self.secret)
            .await
    }

    /// Like [`TestApp::recs`], insisting on 200 and a well-formed answer.
    async fn recs_ok(&self, query: &str) -> Value {
        let (status, body) = self.recs(query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        check_answer(query, &body);
        body
    }

    async fn train(&self) -> Value {
        let (status, body) = self
            .post("/v1/recommendations/train", &self.secret, &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
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

/// Waits for `check` to give a value, trying again until `within` has passed.
async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name(super::Backend::Sqlite).await; } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name(super::Backend::Postgres).await; } )*
        }
    };
}

on_both_backends!(
    answers_503_until_a_model_is_trained_then_every_placement_answers,
    business_rules_hold_on_every_placement,
    a_shops_page_asks_with_its_write_key,
    new_events_change_personal_recommendations_at_once,
    bad_input_is_a_client_error,
    served_lists_are_recorded,
    a_model_stored_by_another_node_is_picked_up_without_restart,
);

// ---- the shop ----

struct Item {
    id: &'static str,
    title: &'static str,
    path: &'static [&'static str],
    price: i64,
    in_stock: bool,
    tags: &'static [&'static str],
}

const fn item(
    id: &'static str,
    title: &'static str,
    path: &'static [&'static str],
    price: i64,
) -> Item {
    Item {
        id,
        title,
        path,
        price,
        in_stock: true,
        tags: &[],
    }
}

const KNIVES: &[&str] = &["Kitchen", "Knives"];
const BOARDS: &[&str] = &["Kitchen", "Boards"];
const KITCHEN_ACCESSORIES: &[&str] = &["Kitchen", "Accessories"];
const TOOLS: &[&str] = &["Garden", "Tools"];
const GARDEN_ACCESSORIES: &[&str] = &["Garden", "Accessories"];
const SEEDS: &[&str] = &["Garden", "Seeds"];
const COOKBOOKS: &[&str] = &["Books", "Cooking"];

/// Two products are best sellers that may never be recommended: one out of stock, one hidden.
const OUT_OF_STOCK: &str = "knife-bread";
const HIDDEN: &str = "knife-prototype";

const CATALOG: &[Item] = &[
    item("knife-chef", "Chef Knife", KNIVES, 3000),
    item("knife-paring", "Paring Knife", KNIVES, 1500),
    item("knife-santoku", "Santoku Knife", KNIVES, 4500),
    item("knife-carbon", "Carbon Steel Chef Knife", KNIVES, 6000),
    item("knife-damascus", "Damascus Chef Knife", KNIVES, 9000),
    Item {
        in_stock: false,
        ..item(OUT_OF_STOCK, "Bread Knife", KNIVES, 4000)
    },
    Item {
        tags: &["steel", "hidden"],
        ..item(HIDDEN, "Prototype Chef Knife", KNIVES, 5000)
    },
    item("board-oak", "Oak Cutting Board", BOARDS, 2000),
    item("board-bamboo", "Bamboo Cutting Board", BOARDS, 2500),
    item("sharpener", "Knife Sharpener", KITCHEN_ACCESSORIES, 1800),
    item("knife-block", "Knife Block", KITCHEN_ACCESSORIES, 3500),
    item("trowel", "Garden Trowel", TOOLS, 1200),
    item("shears", "Pruning Shears", TOOLS, 1800),
    item("gloves", "Garden Gloves", TOOLS, 900),
    item("kneeler", "Garden Kneeler", GARDEN_ACCESSORIES, 2200),
    item("seeds-tomato", "Tomato Seeds", SEEDS, 300),
    item("seeds-basil", "Basil Seeds", SEEDS, 250),
    item("book-pasta", "Pasta Cookbook", COOKBOOKS, 2500),
    item("book-bread", "Bread Baking Book", COOKBOOKS, 2800),
];

fn product(id: &str) -> &'static Item {
    CATALOG
        .iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("{id} is not in the test catalog"))
}

fn in_category(id: &str, category: &str) -> bool {
    product(id).path.contains(&category)
}

/// What each customer bought, for the checks.
struct Shop {
    bought: std::collections::HashMap<String, HashSet<&'static str>>,
}

fn at(now: DateTime<Utc>, days_ago: i64, minute: i64) -> String {
    (now - Days::days(days_ago) + Days::minutes(minute)).to_rfc3339()
}

/// Sends the catalog (shop data API) and the shop's history (tracking API): kitchen buyers,
/// garden buyers, cookbook readers, last year's gardeners, product views on two devices, and
/// anonymous browsers.
async fn build_shop(app: &TestApp) -> Shop {
    let products: Vec<Value> = CATALOG
        .iter()
        .map(|p| {
            json!({"id": p.id, "title": p.title, "currency": "EUR", "price": p.price,
                   "category_path": p.path, "in_stock": p.in_stock, "tags": p.tags,
                   "description": format!("{} for {}", p.title, p.path.join(" and "))})
        })
        .collect();
    let (status, body) = app
        .post("/v1/products", &app.secret, &Value::Array(products))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let now = Utc::now();
    let mut messages: Vec<Value> = Vec::new();
    let mut bought: std::collections::HashMap<String, HashSet<&'static str>> = Default::default();
    let mut order = |user: String, days_ago: i64, items: Vec<&'static str>| {
        let id = format!("o-{}", messages.len());
        let lines: Vec<Value> = items
            .iter()
            .map(|p| {
                let price = product(p).price as f64 / 100.0;
                json!({"product_id": p, "price": price, "quantity": 1})
            })
            .collect();
        bought.entry(user.clone()).or_default().extend(&items);
        messages.push(
            json!({"type": "track", "messageId": format!("m-{id}"), "userId": user,
            "event": "Order Completed", "timestamp": at(now, days_ago, 0),
            "properties": {"order_id": id, "currency": "EUR", "products": lines}}),
        );
    };
    for i in 0..16i64 {
        let user = format!("kc{i}");
        let mut first = vec!["knife-chef", "board-oak", OUT_OF_STOCK];
        if i % 2 == 0 {
            first.push(HIDDEN);
        }
        if i % 4 == 0 {
            first.push("book-pasta");
        }
        order(user.clone(), 3 + 5 * i, first);
        let mut second = vec!["sharpener", "board-bamboo", OUT_OF_STOCK];
        if i % 2 == 1 {
            second.push("knife-paring");
        }
        order(user.clone(), 2 + (7 * i) % 80, second);
        if i % 5 == 0 {
            order(user, 1 + i, vec!["knife-santoku", "knife-block"]);
        }
    }
    for i in 0..16i64 {
        let user = format!("gc{i}");
        order(
            user.clone(),
            4 + 5 * i,
            vec!["trowel", "gloves", "seeds-tomato"],
        );
        if i % 2 == 0 {
            order(user, 2 + 3 * i, vec!["shears", "kneeler", "seeds-basil"]);
        }
    }
    for i in 0..6i64 {
        order(
            format!("bc{i}"),
            10 + 9 * i,
            vec!["book-pasta", "book-bread"],
        );
    }
    // Last year's spring: what the seasonal placement finds.
    for i in 0..6i64 {
        order(
            format!("sc{i}"),
            362 - i,
            vec!["seeds-tomato", "seeds-basil", "gloves"],
        );
    }
    let mut view = |person: (&str, String), days_ago: i64, minute: i64, p: &str, device: &str| {
        let mut m = json!({"type": "track", "messageId": format!("v-{}", messages.len()),
            "event": "Product Viewed", "timestamp": at(now, days_ago, minute),
            "context": {"device": {"type": device}, "location": {"country": "PT"}},
            "properties": {"product_id": p, "price": product(p).price as f64 / 100.0}});
        m[person.0] = json!(person.1);
        messages.push(m);
    };
    for i in 0..16i64 {
        for (k, p) in ["knife-santoku", "knife-carbon", "knife-damascus"]
            .iter()
            .enumerate()
        {
            view(("userId", format!("kc{i}")), 1 + i, k as i64, p, "desktop");
        }
        for (k, p) in ["shears", "kneeler"].iter().enumerate() {
            view(("userId", format!("gc{i}")), 1 + i, k as i64, p, "mobile");
        }
        for (k, p) in ["knife-chef", "board-oak", "sharpener"].iter().enumerate() {
            view(
                ("anonymousId", format!("browser-k{i}")),
                1 + i,
                k as i64,
                p,
                "desktop",
            );
        }
        for (k, p) in ["trowel", "gloves", "seeds-basil"].iter().enumerate() {
            view(
                ("anonymousId", format!("browser-g{i}")),
                1 + i,
                k as i64,
                p,
                "mobile",
            );
        }
    }
    for chunk in messages.chunks(100) {
        let (status, body) = app
            .post("/v1/batch", &app.write, &json!({"batch": chunk}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("rejected").is_none(), "{body}");
    }
    Shop { bought }
}

// ---- checks ----

/// Every answer: an id, the placement, the model's time, and items that say why.
fn check_answer(query: &str, body: &Value) {
    let id = body["recommendation_id"].as_str().unwrap_or("");
    assert!(id.starts_with("rec_") && id.len() > 8, "{query}: {body}");
    assert!(body["model_trained_at"].is_string(), "{query}: {body}");
    let placement = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("placement="))
        .unwrap();
    assert_eq!(body["placement"], placement, "{query}: {body}");
    let mut seen = HashSet::new();
    for item in items(body) {
        let id = item["product_id"].as_str().unwrap_or("");
        assert!(!id.is_empty(), "{query}: {item}");
        assert!(seen.insert(id.to_string()), "{query}: {id} twice in {body}");
        assert!(item["score"].as_f64().is_some(), "{query}: {item}");
        assert!(
            !item["source"].as_str().unwrap_or("").is_empty(),
            "{query}: {item}"
        );
        assert!(
            !item["reason"].as_str().unwrap_or("").trim().is_empty(),
            "{query}: {item}"
        );
        assert!(
            !item["title"].as_str().unwrap_or("").is_empty(),
            "{query}: {item}"
        );
    }
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {body}"))
}

fn ids(body: &Value) -> Vec<String> {
    items(body)
        .iter()
        .map(|i| i["product_id"].as_str().unwrap().to_string())
        .collect()
}

fn sources(body: &Value) -> HashSet<String> {
    items(body)
        .iter()
        .map(|i| i["source"].as_str().unwrap().to_string())
        .collect()
}

/// One query per placement, each with what it needs.
const EVERY_PLACEMENT: [&str; 7] = [
    "placement=personal",
    "placement=related&product=knife-chef",
    "placement=fbt&product=knife-chef",
    "placement=cart&cart=knife-chef,trowel",
    "placement=upsell&product=knife-chef",
    "placement=trending",
    "placement=seasonal",
];

// ---- the tests ----

async fn answers_503_until_a_model_is_trained_then_every_placement_answers(backend: Backend) {
    let app = TestApp::new(backend, manual()).await;
    build_shop(&app).await;
    // No model yet: 503, saying why, and when to come back.
    let r = app
        .http
        .get(app.url("/v1/recommendations?placement=trending"))
        .bearer_auth(&app.secret)
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("retry-after"));
    let (status, body) = read(r).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("no recommendation model") && detail.contains("/v1/recommendations/train"),
        "{body}"
    );
    // Training is for secret keys.
    let (status, body) = app
        .post("/v1/recommendations/train", &app.write, &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = app.recs("placement=trending").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let trained = app.train().await;
    assert_eq!(
        trained["products"].as_u64(),
        Some(CATALOG.len() as u64),
        "{trained}"
    );
    assert!(
        trained["people"].as_u64().unwrap() >= 16 * 2 + 6,
        "{trained}"
    );
    let mut ids_seen = HashSet::new();
    for query in EVERY_PLACEMENT {
        let query = format!("{query}&customer=kc1");
        let body = app.recs_ok(&query).await;
        assert!(!items(&body).is_empty(), "{query}: {body}");
        assert_eq!(body["model_trained_at"], trained["trained_at"], "{query}");
        assert!(ids_seen.insert(body["recommendation_id"].to_string()));
    }
    // The placements say where their items come from.
    let trending = app.recs_ok("placement=trending").await;
    assert_eq!(sources(&trending), HashSet::from(["trending".to_string()]));
    let seasonal = app.recs_ok("placement=seasonal").await;
    assert_eq!(sources(&seasonal), HashSet::from(["seasonal".to_string()]));
    for id in ids(&seasonal) {
        assert!(
            ["seeds-tomato", "seeds-basil", "gloves"].contains(&id.as_str()),
            "last year's spring sold seeds and gloves: {seasonal}"
        );
    }
    let fbt = app.recs_ok("placement=fbt&product=knife-chef").await;
    assert_eq!(ids(&fbt)[0], "board-oak", "{fbt}");
    assert!(
        items(&fbt)[0]["reason"]
            .as_str()
            .unwrap()
            .contains("Chef Knife"),
        "{fbt}"
    );
    // The device moves what its shoppers look at up: garden on phones, kitchen on desktops.
    for (device, category) in [("mobile", "Garden"), ("desktop", "Kitchen")] {
        let q = format!("placement=trending&device={device}");
        let body = app.recs_ok(&q).await;
        assert!(in_category(&ids(&body)[0], category), "{q}: {body}");
    }
    let related = app.recs_ok("placement=related&product=trowel").await;
    assert!(
        ids(&related)[..2].iter().all(|p| in_category(p, "Garden")),
        "{related}"
    );
    app.stop().await;
}

async fn business_rules_hold_on_every_placement(backend: Backend) {
    let app = TestApp::new(backend, manual()).await;
    let shop = build_shop(&app).await;
    app.train().await;

    // Out of stock and hidden: never, whoever asks and however many.
    let people = [
        "",
        "&customer=kc0",
        "&customer=gc1",
        "&anonymous_id=browser-k2",
    ];
    let mut answered = 0;
    for query in EVERY_PLACEMENT {
        for who in people {
            for n in [10, 1000] {
                let q = format!("{query}{who}&n={n}&exclude_purchased=false");
                let body = app.recs_ok(&q).await;
                let got = ids(&body);
                assert!(
                    !got.iter().any(|p| p == OUT_OF_STOCK || p == HIDDEN),
                    "{q}: {body}"
                );
                answered += got.len();
            }
        }
    }
    assert!(answered > 100, "the lists are not empty: {answered}");

    // Category (any level of the path) and price filters.
    for (query, category) in [
        ("placement=trending&category=Garden", "Garden"),
        ("placement=personal&customer=kc3&category=knives", "Knives"),
        (
            "placement=related&product=knife-chef&category=Boards",
            "Boards",
        ),
    ] {
        let body = app.recs_ok(query).await;
        assert!(!items(&body).is_empty(), "{query}: {body}");
        for p in ids(&body) {
            assert!(in_category(&p, category), "{query}: {p} in {body}");
        }
    }
    for query in [
        "placement=trending&min_price=1000&max_price=2500",
        "placement=personal&customer=gc2&min_price=1000&max_price=2500",
    ] {
        let body = app.recs_ok(query).await;
        assert!(!items(&body).is_empty(), "{query}: {body}");
        for item in items(&body) {
            let price = item["price"].as_i64().unwrap();
            assert!((1000..=2500).contains(&price), "{query}: {item}");
            assert_eq!(price, product(item["product_id"].as_str().unwrap()).price);
        }
    }
    let body = app
        .recs_ok("placement=trending&min_price=2500&max_price=2500")
        .await;
    assert!(!items(&body).is_empty(), "{body}");
    for p in ids(&body) {
        assert!(
            ["board-bamboo", "book-pasta"].contains(&p.as_str()),
            "{body}"
        );
    }

    // Never the product of the page or what is in the cart.
    for p in [
        "knife-chef",
        "board-oak",
        "trowel",
        "book-pasta",
        "sharpener",
    ] {
        for placement in ["fbt", "upsell", "related"] {
            let q = format!("placement={placement}&product={p}&n=50");
            let body = app.recs_ok(&q).await;
            assert!(!ids(&body).contains(&p.to_string()), "{q}: {body}");
        }
    }
    let cart = ["knife-chef", "board-oak", "trowel"];
    let q = format!("placement=cart&cart={}&n=50", cart.join(","));
    let body = app.recs_ok(&q).await;
    assert!(!items(&body).is_empty(), "{q}: {body}");
    for p in ids(&body) {
        assert!(!cart.contains(&p.as_str()), "{q}: {body}");
        // Complements: other categories than the cart's.
        assert!(
            !in_category(&p, "Kitchen") && !in_category(&p, "Garden"),
            "{q}: {body}"
        );
    }

    // Upsell: pricier within the band (10 % to 150 % more), same leaf category — the leaf as
    // a place in the tree: Garden > Accessories is no upsell for Kitchen > Accessories.
    for (p, expected) in [
        ("knife-chef", vec!["knife-carbon", "knife-santoku"]),
        ("sharpener", vec!["knife-block"]),
        ("gloves", vec!["trowel", "shears"]),
    ] {
        let q = format!("placement=upsell&product={p}&n=50");
        let body = app.recs_ok(&q).await;
        let base = product(p);
        let mut got = ids(&body);
        for id in &got {
            let item = product(id);
            assert_eq!(item.path, base.path, "{q}: {body}");
            assert!(
                item.price * 10 >= base.price * 11 && item.price * 10 <= base.price * 25,
                "{q}: {body}"
            );
        }
        got.sort();
        let mut expected: Vec<String> = expected.into_iter().map(String::from).collect();
        expected.sort();
        assert_eq!(got, expected, "{q}: {body}");
    }

    // exclude_purchased: nothing the customer bought; without it, buying again is an option.
    for customer in ["kc0", "kc5", "gc0"] {
        let bought = &shop.bought[customer];
        let q = format!("placement=personal&customer={customer}&n=50&exclude_purchased=true");
        let body = app.recs_ok(&q).await;
        assert!(!items(&body).is_empty(), "{q}: {body}");
        for p in ids(&body) {
            assert!(!bought.contains(p.as_str()), "{q}: {p} was bought: {body}");
        }
        let q = format!("placement=personal&customer={customer}&n=50");
        let body = app.recs_ok(&q).await;
        assert!(
            ids(&body).iter().any(|p| bought.contains(p.as_str())),
            "{q}: {body}"
        );
    }
    // fbt leaves out what the person bought by default.
    let body = app
        .recs_ok("placement=fbt&product=sharpener&customer=kc1&n=50")
        .await;
    for p in ids(&body) {
        assert!(!shop.bought["kc1"].contains(p.as_str()), "{body}");
    }
    app.stop().await;
}

async fn a_shops_page_asks_with_its_write_key(backend: Backend) {
    let app = TestApp::new(backend, manual()).await;
    build_shop(&app).await;
    app.train().await;
    // A browser asks first whether it may send the key from the shop's origin…
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/v1/recommendations"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
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
    // …then asks with it.
    for query in EVERY_PLACEMENT {
        let r = app
            .http
            .get(app.url(&format!("/v1/recommendations?{query}")))
            .bearer_auth(&app.write)
            .header("origin", "https://shop.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let (status, body) = read(r).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        check_answer(query, &body);
    }
    // Segment's libraries' way of sending the key works too.
    let r = app
        .http
        .get(app.url("/v1/recommendations?placement=trending"))
        .basic_auth(&app.write, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Without a key, or with a revoked one: 401.
    let (status, _) = read(
        app.http
            .get(app.url("/v1/recommendations?placement=trending"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .get_as("/v1/recommendations?placement=trending", "ew_not-a-key")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// The personal list of `who` once it satisfies `done`, asked for until a second after the
/// event that should change it was stored.
async fn personal_after_event(
    app: &TestApp,
    query: &str,
    stored: Instant,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = stored + Duration::from_secs(1);
    loop {
        let body = app.recs_ok(query).await;
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{query}: not changed a second after the event: {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn new_events_change_personal_recommendations_at_once(backend: Backend) {
    let app = TestApp::new(backend, manual()).await;
    build_shop(&app).await;
    app.train().await;
    // A shop in a time zone behind UTC asks with its own date, which may be yesterday in UTC:
    // the season moves, the person's latest events still count.
    let yesterday = (Utc::now() - Days::days(1)).format("%Y-%m-%d").to_string();

    // A visitor nobody knows gets what is trending…
    let cold = "placement=personal&anonymous_id=cold-visitor&n=5";
    let before = app.recs_ok(cold).await;
    assert_eq!(
        sources(&before),
        HashSet::from(["trending".to_string()]),
        "{before}"
    );
    // …views a garden tool, and gets garden products at once.
    let event = json!({"anonymousId": "cold-visitor", "event": "Product Viewed",
        "context": {"device": {"type": "mobile"}}, "properties": {"product_id": "shears"}});
    let (status, body) = app.post("/v1/track", &app.write, &event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = Instant::now();
    let garden_first = |body: &Value| {
        let got = ids(body);
        !sources(body).contains("trending")
            && got.len() >= 2
            && got[..2].iter().all(|p| in_category(p, "Garden"))
    };
    let after = personal_after_event(&app, cold, stored, garden_first).await;
    assert_ne!(ids(&before), ids(&after));
    let dated = format!("{cold}&date={yesterday}");
    personal_after_event(&app, &dated, stored, garden_first).await;

    // A customer who signed up after training: trending, then what goes with the cart.
    let query = "placement=personal&customer=newcomer&n=5";
    let before = app.recs_ok(query).await;
    assert_eq!(sources(&before), HashSet::from(["trending".to_string()]));
    let event = json!({"userId": "newcomer", "event": "Product Added",
        "properties": {"product_id": "trowel", "quantity": 1}});
    let (status, body) = app.post("/v1/track", &app.write, &event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = Instant::now();
    personal_after_event(&app, query, stored, garden_first).await;

    // A kitchen customer puts a garden product in the cart: garden products move up.
    let query = "placement=personal&customer=kc4&n=10";
    let garden = |body: &Value| {
        ids(body)
            .iter()
            .filter(|p| in_category(p, "Garden") && *p != "trowel")
            .count()
    };
    let before = app.recs_ok(query).await;
    assert!(garden(&before) < 5, "{before}");
    let event = json!({"userId": "kc4", "event": "Product Added",
        "properties": {"product_id": "trowel", "quantity": 1}});
    let (status, body) = app.post("/v1/track", &app.write, &event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = Instant::now();
    let moved_up = |body: &Value| ids(body) != ids(&before) && garden(body) > garden(&before);
    personal_after_event(&app, query, stored, moved_up).await;
    personal_after_event(&app, &format!("{query}&date={yesterday}"), stored, moved_up).await;

    // A visitor of a known customer counts as that customer.
    let event = json!({"userId": "gc3", "anonymousId": "phone-of-gc3", "event": "Product Viewed",
        "properties": {"product_id": "book-bread"}});
    let (status, _) = app.post("/v1/track", &app.write, &event).await;
    assert_eq!(status, StatusCode::OK);
    let stored = Instant::now();
    personal_after_event(
        &app,
        "placement=personal&anonymous_id=phone-of-gc3&n=10",
        stored,
        |body| ids(body).iter().any(|p| in_category(p, "Books")),
    )
    .await;
    app.stop().await;
}

async fn bad_input_is_a_client_error(backend: Backend) {
    let app = TestApp::new(backend, manual()).await;
    build_shop(&app).await;
    app.train().await;
    let cases: &[(&str, StatusCode, &str)] = &[
        ("placement=horoscope", StatusCode::BAD_REQUEST, "placement"),
        ("customer=kc1", StatusCode::BAD_REQUEST, "placement"),
        ("placement=trending&n=0", StatusCode::BAD_REQUEST, "n"),
        ("placement=trending&n=5000", StatusCode::BAD_REQUEST, "n"),
        ("placement=trending&n=-1", StatusCode::BAD_REQUEST, "n"),
        ("placement=trending&n=ten", StatusCode::BAD_REQUEST, "n"),
        ("placement=related", StatusCode::BAD_REQUEST, "product"),
        ("placement=fbt", StatusCode::BAD_REQUEST, "product"),
        ("placement=upsell", StatusCode::BAD_REQUEST, "product"),
        ("placement=cart", StatusCode::BAD_REQUEST, "cart"),
        ("placement=cart&cart=", StatusCode::BAD_REQUEST, "cart"),
        ("placement=cart&cart=,%20,", StatusCode::BAD_REQUEST, "cart"),
        (
            "placement=related&product=no-such-product",
            StatusCode::NOT_FOUND,
            "no-such-product",
        ),
        (
            "placement=upsell&product=no-such-product",
            StatusCode::NOT_FOUND,
            "no-such-product",
        ),
        (
            "placement=related&product=",
            StatusCode::BAD_REQUEST,
            "product",
        ),
        (
            "placement=seasonal&date=2026-02-30",
            StatusCode::BAD_REQUEST,
            "date",
        ),
        (
            "placement=seasonal&date=tomorrow",
            StatusCode::BAD_REQUEST,
            "date",
        ),
        (
            "placement=trending&min_price=5000&max_price=1000",
            StatusCode::BAD_REQUEST,
            "min_price",
        ),
        (
            "placement=trending&min_price=cheap",
            StatusCode::BAD_REQUEST,
            "min_price",
        ),
        (
            "placement=trending&exclude_purchased=maybe",
            StatusCode::BAD_REQUEST,
            "exclude_purchased",
        ),
        (
            "placement=trending&colour=red",
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            "placement=trending&placement=personal",
            StatusCode::BAD_REQUEST,
            "placement",
        ),
        (
            "placement=personal&customer=",
            StatusCode::BAD_REQUEST,
            "customer",
        ),
        (
            "placement=personal&anonymous_id=%20",
            StatusCode::BAD_REQUEST,
            "anonymous_id",
        ),
    ];
    for &(query, expected, names) in cases {
        let (status, body) = app.recs(query).await;
        assert_eq!(status, expected, "{query}: {body}");
        assert!(
            body["detail"].as_str().unwrap_or("").contains(names),
            "{query}: the problem names `{names}`: {body}"
        );
    }
    // A product added after training has no behaviour yet, but content neighbours at once.
    let (status, body) = app
        .post(
            "/v1/products",
            &app.secret,
            &json!({"id": "knife-ceramic", "title": "Ceramic Chef Knife", "currency": "EUR",
                    "price": 3200, "category_path": KNIVES}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for placement in ["related", "fbt", "upsell"] {
        let q = format!("placement={placement}&product=knife-ceramic");
        let body = app.recs_ok(&q).await;
        assert!(!ids(&body).contains(&"knife-ceramic".to_string()), "{body}");
        if placement == "related" {
            let got = ids(&body);
            assert!(!got.is_empty(), "{q}: {body}");
            assert!(in_category(&got[0], "Knives"), "{q}: {body}");
            assert!(sources(&body).contains("content"), "{q}: {body}");
        }
    }
    // Unknown people are nobody in particular, not errors.
    let body = app
        .recs_ok("placement=personal&customer=never-seen&n=3")
        .await;
    assert_eq!(items(&body).len(), 3, "{body}");
    app.stop().await;
}

async fn served_lists_are_recorded(backend: Backend) {
    let app = TestApp::new(backend, manual()).await;
    build_shop(&app).await;
    app.train().await;
    let asked = [
        ("placement=personal&customer=kc1", Some("c:kc1")),
        (
            "placement=personal&anonymous_id=browser-g3",
            Some("v:browser-g3"),
        ),
        ("placement=related&product=trowel&n=3", None),
    ];
    let mut answers = Vec::new();
    for (query, person) in asked {
        answers.push((app.recs_ok(query).await, person));
    }
    for (body, person) in answers {
        let id = body["recommendation_id"].as_str().unwrap().to_string();
        let served = eventually(Duration::from_secs(10), "the list is recorded", || {
            let (store, id) = (app.store.clone(), id.clone());
            async move { store.recommendation(&id).await.unwrap() }
        })
        .await;
        assert_eq!(served.id, id);
        assert_eq!(served.placement, body["placement"].as_str().unwrap());
        assert_eq!(served.person.as_deref(), person);
        assert_eq!(served.items, ids(&body));
        assert!(!served.items.is_empty());
        assert!((Utc::now() - served.served_at).num_seconds().abs() < 60);
    }
    app.stop().await;
}

async fn trained_at(app: &TestApp) -> Option<String> {
    let (status, body) = app.recs("placement=trending").await;
    match status {
        StatusCode::OK => Some(body["model_trained_at"].as_str().unwrap().to_string()),
        StatusCode::SERVICE_UNAVAILABLE => None,
        other => panic!("{other}: {body}"),
    }
}

async fn a_model_stored_by_another_node_is_picked_up_without_restart(backend: Backend) {
    let app = TestApp::new(backend, polling()).await;
    // The service trains at start, even on an empty shop.
    let first = eventually(Duration::from_secs(30), "a model at start", || {
        trained_at(&app)
    })
    .await;
    assert!(items(&app.recs_ok("placement=trending").await).is_empty());
    build_shop(&app).await;
    // Another node trains on the same store and stores its model (a second later than the
    // first, as models are timed to the second).
    eventually(Duration::from_secs(5), "the next second", || async {
        (Utc::now().timestamp() > DateTime::parse_from_rfc3339(&first).unwrap().timestamp())
            .then_some(())
    })
    .await;
    let model = embudo_recs::service::train(
        app.store.as_ref(),
        None,
        embudo_recs::serve::RecsConfig::default(),
        Arc::new(()),
    )
    .await
    .unwrap();
    let theirs = DateTime::from_timestamp(model.trained_at, 0).unwrap();
    app.store
        .put_model(
            embudo_recs::service::MODEL_KEY,
            theirs,
            &embudo_recs::service::encode(&model),
        )
        .await
        .unwrap();
    let stored = Instant::now();
    let now = eventually(
        Duration::from_secs(10),
        "the other node's model",
        || async { trained_at(&app).await.filter(|t| *t != first) },
    )
    .await;
    assert_eq!(DateTime::parse_from_rfc3339(&now).unwrap(), theirs);
    assert!(
        stored.elapsed() < Duration::from_secs(5),
        "{:?}",
        stored.elapsed()
    );
    let trending = app.recs_ok("placement=trending").await;
    assert!(!items(&trending).is_empty(), "{trending}");

    // A node started later loads the stored model instead of training its own.
    let info = app
        .store
        .model_info(embudo_recs::service::MODEL_KEY)
        .await
        .unwrap();
    let second = TestApp::start(app.store.clone(), Box::new(()), polling()).await;
    let loaded = eventually(Duration::from_secs(10), "the second node's model", || {
        trained_at(&second)
    })
    .await;
    assert_eq!(loaded, now);
    let after = app
        .store
        .model_info(embudo_recs::service::MODEL_KEY)
        .await
        .unwrap();
    assert_eq!(after, info, "the second node stored no model of its own");
    second.stop().await;
    app.stop().await;
}
