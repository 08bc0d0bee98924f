//! One visit to the shop, from landing page to leaving (or to the thank-you page), written as
//! the Segment calls a browser would send.
//!
//! A session first decides how far down the funnel it will go: view a product, add to cart,
//! start checkout, order. Each step is a conditional probability that depends on who is
//! visiting (anonymous, about to sign up, known), then is shifted by the device (desktops buy
//! more than phones), the traffic source (email converts, social browses), the season (Cyber
//! Weekend, December) and, for known customers, their personal buying affinity. The session
//! then plays those steps out as pages and track events, with realistic dwell times: landing,
//! category lists, searches, product pages (by popularity), adds and removals, cart, login or
//! signup, coupon, checkout, payment, confirmation.

use crate::calendar::{dwell_ms, timestamp, DAY_MS};
use crate::catalog::{Catalog, SHOP_URL};
use crate::people::{Country, CustomerProfile, Device, DeviceKind};
use crate::price::Pricing;
use crate::rng::{Rng8, RngExt};
use chrono::{Datelike, NaiveDate};
use embudo_core::names;
use rand::Rng;
use serde_json::{Map, Value};

/// A message waiting for the day's time sort: when, in what order it was made, and its body
/// (everything but `messageId`, added once the order is final).
pub(crate) struct Draft {
    /// Milliseconds since UTC midnight.
    pub(crate) ms: u32,
    /// Creation order, to keep a session's messages in order when times tie.
    pub(crate) seq: u64,
    /// The message without its `messageId`.
    pub(crate) body: Map<String, Value>,
}

/// Day-wide facts every session of the day shares.
pub(crate) struct World<'a> {
    /// The catalog.
    pub(crate) catalog: &'a Catalog,
    /// Currency rules.
    pub(crate) pricing: &'a Pricing,
    /// The day.
    pub(crate) date: NaiveDate,
    /// `YYYY-MM-DDT` of the day.
    pub(crate) prefix: &'a str,
    /// How much more sessions buy today ([`crate::calendar::conversion_boost`]).
    pub(crate) boost: f64,
    /// Whether today is in Cyber Weekend.
    pub(crate) cyber: bool,
}

/// Where the visitor is in their relationship with the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Someone who will never make an account.
    Anonymous,
    /// A future customer, browsing before signing up.
    PreSignup,
    /// A new customer's signup visit.
    Signup,
    /// An existing customer's first visit in the period: they log in.
    FirstLogin,
    /// A known customer coming back.
    Returning,
}

/// Who is visiting, and on what.
pub(crate) struct Visitor<'a> {
    /// Relationship with the shop.
    pub(crate) phase: Phase,
    /// The browser.
    pub(crate) device: &'a Device,
    /// Country.
    pub(crate) country: &'static Country,
    /// City.
    pub(crate) city: &'static str,
    /// The known customer (all phases but `Anonymous`).
    pub(crate) customer: Option<&'a CustomerProfile>,
    /// The browser still holds a login: the session is identified from the start.
    pub(crate) logged_in: bool,
    /// The address given at a guest checkout.
    pub(crate) guest_email: &'a str,
    /// Orders placed before this session.
    pub(crate) orders: u32,
    /// A product bought earlier that the customer may review.
    pub(crate) review: Option<usize>,
    /// When the account was created (`createdAt` trait), RFC 3339; `None` when this session
    /// creates it.
    pub(crate) created_at: Option<String>,
}

/// An order placed in a session.
pub(crate) struct PlacedOrder {
    /// `order_id`. Empty until the day loop numbers orders in time order and writes the id
    /// into the `Order Completed` message (sessions may run on several threads).
    pub(crate) id: String,
    /// Index of the `Order Completed` message in the session's output vector.
    pub(crate) draft: usize,
    /// When, in milliseconds since midnight.
    pub(crate) ms: u32,
    /// What the customer paid, minor units.
    pub(crate) total: i64,
    /// Items and quantities.
    pub(crate) lines: Vec<(usize, i64)>,
    /// The customer, unless a guest checkout.
    pub(crate) user_id: Option<String>,
    /// The browser it was placed from.
    pub(crate) anonymous_id: String,
    /// Shipping destination.
    pub(crate) country: &'static Country,
}

/// What a session changed about the visitor.
pub(crate) struct Outcome {
    /// The visitor identified (logged in or signed up).
    pub(crate) identified: bool,
    /// The browser keeps the login for later visits.
    pub(crate) remember: bool,
    /// The order placed, if any.
    pub(crate) order: Option<PlacedOrder>,
    /// When the visitor identified (ms since midnight), if they did.
    pub(crate) identified_at: u32,
}

/// Conditional probabilities of going one step further down the funnel.
#[derive(Clone, Copy)]
struct Funnel {
    view: f64,
    add: f64,
    checkout: f64,
    order: f64,
}

impl Funnel {
    fn for_phase(phase: Phase) -> Self {
        match phase {
            Phase::Anonymous => Funnel {
                view: 0.26,
                add: 0.225,
                checkout: 0.285,
                order: 0.51,
            },
            // Future customers look around and fill carts, but buy on the day they sign up.
            Phase::PreSignup => Funnel {
                view: 0.48,
                add: 0.27,
                checkout: 0.19,
                order: 0.0,
            },
            // Many accounts are created at checkout; the rest are newsletter or wishlist signups.
            Phase::Signup => Funnel {
                view: 0.75,
                add: 0.5,
                checkout: 0.52,
                order: 0.7,
            },
            Phase::FirstLogin | Phase::Returning => Funnel {
                view: 0.35,
                add: 0.21,
                checkout: 0.245,
                order: 0.47,
            },
        }
    }
}

/// `p` made `factor` times "stronger" while staying a probability: `1 − (1 − p)^factor`.
fn shift(p: f64, factor: f64) -> f64 {
    1.0 - (1.0 - p.clamp(0.0, 1.0)).powf(factor.max(0.0))
}

/// Where a visit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Organic,
    Direct,
    Paid,
    Email,
    Social,
    Referral,
}

impl Source {
    /// How much deeper than average visits from here go.
    fn intent(self) -> f64 {
        match self {
            Source::Organic => 1.0,
            Source::Direct => 1.1,
            Source::Paid => 0.9,
            Source::Email => 1.35,
            Source::Social => 0.6,
            Source::Referral => 1.0,
        }
    }
}

/// Where the first page of a session is.
enum Landing {
    Home,
    Category(usize),
    Product(usize),
}

const SEARCH_ENGINES: &[&str] = &[
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
];
const REFERRERS: &[&str] = &[
    "https://blog.example.org/best-home-finds",
    "https://www.example.net/gift-guide",
    "https://forum.example.org/t/kitchen-recommendations",
    "https://news.example.com/lifestyle/editors-picks",
];
const SOCIAL: &[(&str, &str)] = &[
    ("instagram", "https://l.instagram.com/"),
    ("facebook", "https://m.facebook.com/"),
    ("pinterest", "https://www.pinterest.com/"),
    ("tiktok", "https://www.tiktok.com/"),
];
const INFO_PAGES: &[(&str, &str)] = &[
    ("Shipping & Returns", "/pages/shipping-returns"),
    ("About Us", "/pages/about"),
    ("Contact", "/pages/contact"),
];
const PAYMENT_METHODS: &[&str] = &["card", "paypal", "apple_pay", "klarna", "google_pay"];

/// One session being written.
pub(crate) struct Session<'a> {
    world: &'a World<'a>,
    out: &'a mut Vec<Draft>,
    /// Next sequence number: the session number in the high bits, a counter in the low ones,
    /// so that ties in time keep a session's messages in order whatever thread made them.
    seq: u64,
    rng: Rng8,
    ms: u32,
    anonymous_id: &'a str,
    user_id: Option<&'a str>,
    context: Map<String, Value>,
    /// `context` plus the current page, cloned into each message.
    page_context: Value,
    path: String,
    url: String,
    referrer: Option<String>,
    /// The landing page's UTM parameters, when the visit has a campaign.
    landing_query: Option<String>,
    /// Session number, used for cart and checkout ids.
    number: u64,
    messages: u32,
    identified_at: u32,
}

fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

impl<'a> Session<'a> {
    /// A session starting at `ms` on the world's day.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        world: &'a World<'a>,
        out: &'a mut Vec<Draft>,
        rng: Rng8,
        ms: u32,
        number: u64,
        visitor: &'a Visitor<'a>,
    ) -> Self {
        let mut context = Map::new();
        let mut device = Map::new();
        device.insert("type".into(), s(visitor.device.kind.as_str()));
        context.insert("device".into(), Value::Object(device));
        context.insert("userAgent".into(), s(visitor.device.user_agent));
        context.insert("locale".into(), s(visitor.country.locale));
        context.insert("ip".into(), s(visitor.device.ip.clone()));
        let mut location = Map::new();
        location.insert("country".into(), s(visitor.country.name));
        location.insert("city".into(), s(visitor.city));
        context.insert("location".into(), Value::Object(location));
        context.insert("sessionId".into(), s(format!("s{number}")));
        let user_id = if visitor.logged_in {
            visitor.customer.map(|c| c.user_id.as_str())
        } else {
            None
        };
        Self {
            world,
            out,
            seq: number << 24,
            rng,
            ms: ms.min(DAY_MS - 1),
            anonymous_id: &visitor.device.anonymous_id,
            user_id,
            context,
            page_context: Value::Null,
            path: String::new(),
            url: String::new(),
            referrer: None,
            landing_query: None,
            number,
            messages: 0,
            identified_at: 0,
        }
    }

    /// Moves the clock forward by about `ms`, slowing down near midnight so the session never
    /// leaves its day.
    fn wait(&mut self, ms: u32) {
        let remaining = DAY_MS - 1 - self.ms;
        self.ms += ms.min(remaining / 4);
    }

    /// The common part of every message.
    fn message(&self, kind: &'static str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), s(kind));
        m.insert("anonymousId".into(), s(self.anonymous_id));
        if let Some(user) = self.user_id {
            m.insert("userId".into(), s(user));
        }
        m.insert("timestamp".into(), s(timestamp(self.world.prefix, self.ms)));
        m.insert("context".into(), self.page_context.clone());
        m
    }

    /// Rebuilds the context for the current page (messages on one page share it).
    fn set_page_context(&mut self) {
        let mut context = self.context.clone();
        let mut page = Map::new();
        page.insert("url".into(), s(self.url.clone()));
        if let Some(referrer) = &self.referrer {
            page.insert("referrer".into(), s(referrer.clone()));
        }
        context.insert("page".into(), Value::Object(page));
        self.page_context = Value::Object(context);
    }

    fn push(&mut self, body: Map<String, Value>) {
        self.out.push(Draft {
            ms: self.ms,
            seq: self.seq,
            body,
        });
        self.seq += 1;
        self.messages += 1;
    }

    /// A page view; `first` pages carry the external referrer and campaign parameters.
    fn page(&mut self, name: &'static str, path: String, title: String, query: Option<&str>) {
        if self.messages > 0 {
            let dwell = dwell_ms(&mut self.rng, 22.0, 2_000);
            self.wait(dwell);
            self.referrer = Some(std::mem::take(&mut self.url));
        }
        self.url = match query {
            Some(q) => format!("{SHOP_URL}{path}?{q}"),
            None => format!("{SHOP_URL}{path}"),
        };
        self.path = path;
        self.set_page_context();
        let mut m = self.message("page");
        m.insert("name".into(), s(name));
        let mut p = Map::new();
        p.insert("path".into(), s(self.path.clone()));
        p.insert("url".into(), s(self.url.clone()));
        if let Some(referrer) = &self.referrer {
            p.insert("referrer".into(), s(referrer.clone()));
        }
        p.insert("title".into(), s(title));
        m.insert("properties".into(), Value::Object(p));
        self.push(m);
    }

    /// A track call on the current page, shortly after the last message.
    fn track(&mut self, event: &'static str, properties: Map<String, Value>) {
        let gap = self.rng.random_range(150..4_000);
        self.wait(gap);
        let mut m = self.message("track");
        m.insert("event".into(), s(event));
        m.insert("properties".into(), Value::Object(properties));
        self.push(m);
    }

    /// An `identify` call: a login, or a signup when `created_at` is `None` (the account is
    /// created now).
    fn identify(&mut self, customer: &'a CustomerProfile, created_at: Option<&str>) {
        self.user_id = Some(&customer.user_id);
        let gap = self.rng.random_range(2_000..40_000);
        self.wait(gap);
        self.identified_at = self.ms;
        let now;
        let created_at = match created_at {
            Some(text) => text,
            None => {
                now = timestamp(self.world.prefix, self.ms);
                &now
            }
        };
        let mut traits = Map::new();
        traits.insert("email".into(), s(customer.email.clone()));
        traits.insert(
            "name".into(),
            s(format!("{} {}", customer.first_name, customer.last_name)),
        );
        traits.insert("firstName".into(), s(customer.first_name));
        traits.insert("lastName".into(), s(customer.last_name));
        if let Some(phone) = &customer.phone {
            traits.insert("phone".into(), s(phone.clone()));
        }
        let mut address = Map::new();
        address.insert("country".into(), s(customer.country.name));
        address.insert("city".into(), s(customer.city));
        traits.insert("address".into(), Value::Object(address));
        traits.insert("customer_type".into(), s(customer.customer_type.as_str()));
        traits.insert("email_consent".into(), Value::Bool(customer.email_consent));
        traits.insert("createdAt".into(), s(created_at));
        let mut m = self.message("identify");
        m.insert("traits".into(), Value::Object(traits));
        self.push(m);
    }

    fn product_page(&mut self, item: usize) {
        let catalog = self.world.catalog;
        let it = &catalog.items[item];
        self.page("Product", it.path.clone(), it.name.clone(), None);
        let props = catalog.properties(item, 1, self.world.pricing.currency());
        self.track(names::PRODUCT_VIEWED, props);
    }

    fn category_page(&mut self, sub: usize) {
        let c = &self.world.catalog.subcategories[sub];
        self.page(
            "Category",
            format!("/c/{}", c.list_id),
            c.category.clone(),
            None,
        );
        let mut p = Map::new();
        p.insert("list_id".into(), s(c.list_id.clone()));
        p.insert("category".into(), s(c.category.clone()));
        self.track(names::PRODUCT_LIST_VIEWED, p);
    }

    fn search_page(&mut self, item: usize) {
        let catalog = self.world.catalog;
        let it = &catalog.items[item];
        let query = match self.rng.weighted(&[0.5, 0.2, 0.15, 0.15]) {
            0 => it.noun.to_lowercase(),
            1 => format!("{} {}", it.brand, it.noun).to_lowercase(),
            2 => it.name.to_lowercase(),
            _ => catalog.subcategories[it.sub].name.to_lowercase(),
        };
        let encoded = format!("q={}", query.replace(' ', "+").replace('&', "%26"));
        self.page(
            "Search Results",
            "/search".into(),
            format!("Search: {query}"),
            Some(&encoded),
        );
        let mut p = Map::new();
        p.insert("query".into(), s(query));
        self.track(names::PRODUCTS_SEARCHED, p);
    }

    fn clicked(&mut self, item: usize, list_id: String, position: usize) {
        let mut p = self
            .world
            .catalog
            .properties(item, 1, self.world.pricing.currency());
        p.insert("list_id".into(), s(list_id));
        p.insert("position".into(), Value::from(position as u64));
        self.track(names::PRODUCT_CLICKED, p);
    }

    /// Views a product reached from a list, a search, or a recommendation.
    fn browse_to_product(&mut self, sub_hint: Option<usize>) -> usize {
        let catalog = self.world.catalog;
        match self.rng.weighted(&[0.55, 0.2, 0.25]) {
            0 => {
                let sub = match sub_hint {
                    Some(sub) if self.rng.chance(0.5) => sub,
                    _ => catalog.popular_sub(&mut self.rng),
                };
                self.category_page(sub);
                let item = catalog.popular_in(sub, &mut self.rng);
                let position = 1 + self.rng.poisson(3.0) as usize;
                self.clicked(item, catalog.subcategories[sub].list_id.clone(), position);
                self.product_page(item);
                item
            }
            1 => {
                let item = catalog.popular(&mut self.rng);
                self.search_page(item);
                let position = 1 + self.rng.poisson(1.0) as usize;
                self.clicked(item, "search_results".into(), position);
                self.product_page(item);
                item
            }
            _ => {
                let item = match sub_hint {
                    Some(sub) if self.rng.chance(0.6) => catalog.popular_in(sub, &mut self.rng),
                    _ => catalog.popular(&mut self.rng),
                };
                self.product_page(item);
                item
            }
        }
    }

    fn cart_properties(&self, cart: &[(usize, i64)]) -> (Vec<Value>, i64) {
        let catalog = self.world.catalog;
        let currency = self.world.pricing.currency();
        let products = cart
            .iter()
            .map(|&(item, quantity)| Value::Object(catalog.properties(item, quantity, currency)))
            .collect();
        let value = cart
            .iter()
            .map(|&(item, quantity)| catalog.items[item].price * quantity)
            .sum();
        (products, value)
    }

    /// Plays the session out.
    pub(crate) fn run(mut self, visitor: &'a Visitor<'a>) -> Outcome {
        let world = self.world;
        let catalog = world.catalog;
        let pricing = world.pricing;
        let currency = pricing.currency();
        let customer = visitor.customer;
        let source = self.choose_source(visitor);

        // How far this session will go.
        let funnel = Funnel::for_phase(visitor.phase);
        // Having bought before makes buying again likelier (trust, saved details).
        let affinity = customer.map_or(1.0, |c| c.affinity.sqrt())
            * if visitor.orders > 0 { 1.5 } else { 1.0 };
        let intent = visitor.device.kind.intent() * source.intent() * world.boost * affinity;
        let view = self.rng.chance(shift(funnel.view, intent.sqrt()));
        let add = view && self.rng.chance(shift(funnel.add, intent));
        let checkout = add && self.rng.chance(shift(funnel.checkout, intent));
        let order = checkout && self.rng.chance(shift(funnel.order, intent.sqrt()));

        let landing = self.landing(source, view);
        let (first_sub, first_item) = match landing {
            Landing::Home => {
                let q = self.landing_query.take();
                self.page("Home", "/".into(), "Home".into(), q.as_deref());
                (None, None)
            }
            Landing::Category(sub) => {
                let c = &catalog.subcategories[sub];
                let q = self.landing_query.take();
                self.page(
                    "Category",
                    format!("/c/{}", c.list_id),
                    c.category.clone(),
                    q.as_deref(),
                );
                let mut p = Map::new();
                p.insert("list_id".into(), s(c.list_id.clone()));
                p.insert("category".into(), s(c.category.clone()));
                self.track(names::PRODUCT_LIST_VIEWED, p);
                (Some(sub), None)
            }
            Landing::Product(item) => {
                let it = &catalog.items[item];
                let q = self.landing_query.take();
                self.page("Product", it.path.clone(), it.name.clone(), q.as_deref());
                self.track(names::PRODUCT_VIEWED, catalog.properties(item, 1, currency));
                (Some(it.sub), Some(item))
            }
        };

        let mut identified = false;
        let must_identify = matches!(visitor.phase, Phase::Signup | Phase::FirstLogin);
        if let Some(c) = customer {
            let login_now = match visitor.phase {
                Phase::FirstLogin => !checkout && self.rng.chance(0.6),
                Phase::Returning => self.user_id.is_none() && self.rng.chance(0.2),
                _ => false,
            };
            if login_now {
                self.page("Log In", "/account/login".into(), "Log in".into(), None);
                self.identify(c, visitor.created_at.as_deref());
                identified = true;
            }
            if let (Some(item), true) = (visitor.review, self.user_id.is_some()) {
                self.product_page(item);
                let mut p = Map::new();
                p.insert("product_id".into(), s(catalog.items[item].id.clone()));
                p.insert("review_id".into(), s(format!("R{}", self.number)));
                let rating = [5, 4, 3, 2, 1][self.rng.weighted(&[0.55, 0.25, 0.1, 0.04, 0.06])];
                p.insert("rating".into(), Value::from(rating));
                self.track(names::PRODUCT_REVIEWED, p);
            }
        }

        let mut cart: Vec<(usize, i64)> = Vec::new();
        if !view {
            // A bounce, or a look at a list, a search or an information page.
            let extra = self.rng.weighted(&[0.45, 0.33, 0.22]);
            for _ in 0..extra {
                match self.rng.weighted(&[0.6, 0.25, 0.15]) {
                    0 => {
                        let sub = catalog.popular_sub(&mut self.rng);
                        self.category_page(sub);
                    }
                    1 => {
                        let item = catalog.popular(&mut self.rng);
                        self.search_page(item);
                    }
                    _ => {
                        let (title, path) = *self.rng.pick(INFO_PAGES);
                        self.page("Info", path.into(), title.into(), None);
                    }
                }
            }
        } else {
            let depth = if visitor.device.kind == DeviceKind::Desktop {
                2.6
            } else {
                1.8
            };
            let mut views = 1 + (self.rng.poisson(depth) as usize).min(14);
            let adds = if add {
                1 + usize::from(self.rng.chance(0.3)) + usize::from(self.rng.chance(0.1))
            } else {
                0
            };
            views = views.max(adds);
            // Which views end in an add: the last one always does when adding, others at random.
            let mut add_at = vec![false; views];
            if adds > 0 {
                add_at[views - 1] = true;
                let mut placed = 1;
                while placed < adds {
                    let i = self.rng.index(views);
                    if !add_at[i] {
                        add_at[i] = true;
                        placed += 1;
                    }
                }
            }
            let wishlist = if visitor.phase == Phase::Anonymous {
                0.0
            } else {
                0.04
            };
            let mut sub_hint = first_sub;
            for (i, &adds_here) in add_at.iter().enumerate() {
                let item = match (i, first_item) {
                    (0, Some(item)) => item,
                    _ => self.browse_to_product(sub_hint),
                };
                sub_hint = Some(catalog.items[item].sub);
                if adds_here {
                    let item = if catalog.items[item].in_stock {
                        item
                    } else {
                        self.in_stock_alternative(item)
                    };
                    if cart.iter().all(|&(i, _)| i != item) {
                        let quantity = self.quantity(customer);
                        let mut p = catalog.properties(item, quantity, currency);
                        p.insert("cart_id".into(), s(format!("cart-{}", self.number)));
                        self.track(names::PRODUCT_ADDED, p);
                        cart.push((item, quantity));
                    }
                } else if self.user_id.is_some() && self.rng.chance(wishlist) {
                    let mut p = catalog.properties(item, 1, currency);
                    p.insert("wishlist_id".into(), s("favourites"));
                    p.insert("wishlist_name".into(), s("Favourites"));
                    self.track(names::PRODUCT_ADDED_TO_WISHLIST, p);
                }
            }
        }

        let mut placed = None;
        let mut remember = false;
        if !cart.is_empty() {
            self.page("Cart", "/cart".into(), "Your cart".into(), None);
            let (products, value) = self.cart_properties(&cart);
            let mut p = Map::new();
            p.insert("cart_id".into(), s(format!("cart-{}", self.number)));
            p.insert("value".into(), pricing.json(value));
            p.insert("currency".into(), s(currency.code()));
            p.insert("products".into(), Value::Array(products));
            self.track(names::CART_VIEWED, p);
            let remove = if cart.len() >= 2 {
                0.15
            } else if checkout {
                0.0
            } else {
                0.1
            };
            if self.rng.chance(remove) {
                let (item, quantity) = cart.remove(self.rng.index(cart.len()));
                let mut p = catalog.properties(item, quantity, currency);
                p.insert("cart_id".into(), s(format!("cart-{}", self.number)));
                self.track(names::PRODUCT_REMOVED, p);
            }
        }
        if checkout && !cart.is_empty() {
            // Known customers log in (or sign up) before paying; a few check out as guests.
            if let (Some(c), None) = (customer, self.user_id) {
                let guest = visitor.phase == Phase::Returning && self.rng.chance(0.1);
                if visitor.phase == Phase::Signup {
                    self.page(
                        "Create Account",
                        "/account/register".into(),
                        "Create account".into(),
                        None,
                    );
                    self.identify(c, visitor.created_at.as_deref());
                    identified = true;
                } else if !guest && visitor.phase != Phase::PreSignup {
                    self.page("Log In", "/account/login".into(), "Log in".into(), None);
                    self.identify(c, visitor.created_at.as_deref());
                    identified = true;
                }
            }
            let (products, revenue) = self.cart_properties(&cart);
            let checkout_id = format!("chk-{}", self.number);
            self.page("Checkout", "/checkout".into(), "Checkout".into(), None);
            let mut p = Map::new();
            p.insert("checkout_id".into(), s(checkout_id.clone()));
            p.insert("value".into(), pricing.json(revenue));
            p.insert("revenue".into(), pricing.json(revenue));
            p.insert("currency".into(), s(currency.code()));
            p.insert("products".into(), Value::Array(products.clone()));
            self.track(names::CHECKOUT_STARTED, p);

            let (coupon, discount) = self.coupon(visitor, source, revenue);
            if let Some(code) = coupon {
                let mut p = Map::new();
                p.insert("cart_id".into(), s(format!("cart-{}", self.number)));
                p.insert("coupon_id".into(), s(code));
                p.insert("coupon_name".into(), s(code));
                p.insert("discount".into(), pricing.json(discount));
                self.track(names::COUPON_APPLIED, p);
            }
            let express = self.rng.chance(0.12);
            let shipping = if express {
                pricing.fixed(9.95)
            } else if revenue - discount >= pricing.fixed(60.0) {
                0
            } else {
                pricing.fixed(4.95)
            };
            if order || self.rng.chance(0.4) {
                self.page(
                    "Payment",
                    "/checkout/payment".into(),
                    "Payment".into(),
                    None,
                );
                let mut p = Map::new();
                p.insert("checkout_id".into(), s(checkout_id.clone()));
                p.insert("step".into(), Value::from(2));
                p.insert(
                    "shipping_method".into(),
                    s(if express { "express" } else { "standard" }),
                );
                p.insert("payment_method".into(), s(*self.rng.pick(PAYMENT_METHODS)));
                self.track(names::PAYMENT_INFO_ENTERED, p);
            }
            if order {
                let tax =
                    ((revenue - discount + shipping) * visitor.country.tax_bp + 5_000) / 10_000;
                let total = revenue - discount + shipping + tax;
                self.page(
                    "Order Confirmation",
                    "/checkout/thank-you".into(),
                    "Thank you".into(),
                    None,
                );
                let mut p = Map::new();
                p.insert("checkout_id".into(), s(checkout_id));
                p.insert("affiliation".into(), s("Online Store"));
                p.insert("total".into(), pricing.json(total));
                p.insert("revenue".into(), pricing.json(revenue));
                p.insert("shipping".into(), pricing.json(shipping));
                p.insert("tax".into(), pricing.json(tax));
                p.insert("discount".into(), pricing.json(discount));
                if let Some(code) = coupon {
                    p.insert("coupon".into(), s(code));
                }
                p.insert("currency".into(), s(currency.code()));
                if self.user_id.is_none() {
                    p.insert(
                        "email".into(),
                        s(customer.map_or(visitor.guest_email, |c| c.email.as_str())),
                    );
                }
                p.insert("products".into(), Value::Array(products));
                self.track(names::ORDER_COMPLETED, p);
                placed = Some(PlacedOrder {
                    id: String::new(),
                    draft: self.out.len() - 1,
                    ms: self.ms,
                    total,
                    lines: cart.clone(),
                    user_id: self.user_id.map(str::to_string),
                    anonymous_id: self.anonymous_id.to_string(),
                    country: visitor.country,
                });
            }
        }
        // Whoever had to identify and has not yet done so does it on the way out: a newsletter
        // signup or account creation, or a login to check an order.
        if must_identify && !identified && self.user_id.is_none() {
            if let Some(c) = customer {
                let (name, path, title) = if visitor.phase == Phase::Signup {
                    ("Create Account", "/account/register", "Create account")
                } else {
                    ("Log In", "/account/login", "Log in")
                };
                self.page(name, path.into(), title.into(), None);
                self.identify(c, visitor.created_at.as_deref());
                identified = true;
            }
        }
        if identified {
            remember = self.rng.chance(0.9);
        }
        Outcome {
            identified: identified || self.user_id.is_some(),
            remember,
            order: placed,
            identified_at: self.identified_at,
        }
    }

    fn in_stock_alternative(&mut self, item: usize) -> usize {
        let catalog = self.world.catalog;
        let sub = catalog.items[item].sub;
        for _ in 0..8 {
            let other = catalog.popular_in(sub, &mut self.rng);
            if catalog.items[other].in_stock {
                self.product_page(other);
                return other;
            }
        }
        item
    }

    fn quantity(&mut self, customer: Option<&CustomerProfile>) -> i64 {
        let base = [1, 2, 3, 4][self.rng.weighted(&[0.85, 0.11, 0.03, 0.01])];
        match customer.map(|c| c.customer_type) {
            Some(embudo_core::CustomerType::Business | embudo_core::CustomerType::Government) => {
                base * [1, 2, 5][self.rng.weighted(&[0.5, 0.3, 0.2])]
            }
            _ => base,
        }
    }

    /// A coupon at checkout: welcome offers at signup, Cyber Weekend codes, newsletter codes,
    /// loyalty codes for regulars, and the odd generic code found online.
    fn coupon(
        &mut self,
        visitor: &Visitor,
        source: Source,
        revenue: i64,
    ) -> (Option<&'static str>, i64) {
        let percent = |pct: i64| revenue * pct / 100;
        if visitor.phase == Phase::Signup && self.rng.chance(0.4) {
            return (Some("WELCOME10"), percent(10));
        }
        if self.world.cyber && self.rng.chance(0.5) {
            return (Some("CYBER20"), percent(20));
        }
        if source == Source::Email && self.rng.chance(0.35) {
            return (Some("NEWS15"), percent(15));
        }
        if visitor.orders >= 3 && self.rng.chance(0.15) {
            return (Some("LOYAL10"), percent(10));
        }
        let five = self.world.pricing.fixed(5.0);
        if revenue >= 8 * five && self.rng.chance(0.04) {
            return (Some("SAVE5"), five);
        }
        (None, 0)
    }

    fn choose_source(&mut self, visitor: &Visitor) -> Source {
        const SOURCES: [Source; 6] = [
            Source::Organic,
            Source::Direct,
            Source::Paid,
            Source::Email,
            Source::Social,
            Source::Referral,
        ];
        let weights = match visitor.customer {
            None => [32.0, 20.0, 22.0, 0.0, 14.0, 12.0],
            Some(c) => {
                let email = if visitor.phase == Phase::PreSignup {
                    0.0
                } else if c.email_consent {
                    22.0
                } else {
                    3.0
                };
                [22.0, 30.0, 12.0, email, 8.0, 6.0]
            }
        };
        let source = SOURCES[self.rng.weighted(&weights)];
        let date = self.world.date;
        let year = date.year();
        let campaign: Option<(&str, &str, String)> = match source {
            Source::Organic => {
                self.referrer = Some(self.rng.pick(SEARCH_ENGINES).to_string());
                None
            }
            Source::Direct => None,
            Source::Referral => {
                self.referrer = Some(self.rng.pick(REFERRERS).to_string());
                None
            }
            Source::Paid => {
                let dept = self.world.catalog.subcategories
                    [self.world.catalog.popular_sub(&mut self.rng)]
                .list_id
                .clone();
                let dept = dept.split('/').next().unwrap_or("all").to_string();
                let meta = self.rng.chance(0.25);
                let name = if self.world.cyber {
                    format!("black-friday-{year}")
                } else if meta {
                    if self.rng.chance(0.5) {
                        "retargeting".to_string()
                    } else {
                        format!("prospecting-{dept}")
                    }
                } else {
                    match self.rng.weighted(&[0.3, 0.45, 0.25]) {
                        0 => "brand-search".to_string(),
                        1 => format!("shopping-{dept}"),
                        _ => format!("generic-{dept}"),
                    }
                };
                if meta {
                    self.referrer = Some("https://m.facebook.com/".into());
                    Some(("meta", "paid_social", name))
                } else {
                    self.referrer = Some("https://www.google.com/".into());
                    Some(("google", "cpc", name))
                }
            }
            Source::Email => {
                let name = if self.world.cyber {
                    format!("black-friday-{year}")
                } else if date.month() == 12 && date.day() < 20 {
                    format!("gift-guide-{year}")
                } else if visitor.orders > 0 && self.rng.chance(0.2) {
                    "winback".to_string()
                } else {
                    let week = date.iso_week();
                    format!("weekly-{}-w{:02}", week.year(), week.week())
                };
                Some(("newsletter", "email", name))
            }
            Source::Social => {
                let (name, referrer) = *self.rng.pick(SOCIAL);
                self.referrer = Some(referrer.into());
                let month = [
                    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                    "dec",
                ][date.month0() as usize];
                Some((name, "social", format!("{month}-{year}-inspiration")))
            }
        };
        if let Some((source, medium, name)) = campaign {
            let mut c = Map::new();
            c.insert("source".into(), s(source));
            c.insert("medium".into(), s(medium));
            self.landing_query = Some(format!(
                "utm_source={source}&utm_medium={medium}&utm_campaign={name}"
            ));
            c.insert("name".into(), s(name));
            self.context.insert("campaign".into(), Value::Object(c));
        }
        source
    }

    fn landing(&mut self, source: Source, view: bool) -> Landing {
        let catalog = self.world.catalog;
        // Share landing on [home, category, product].
        let weights = match source {
            Source::Direct => [0.7, 0.15, 0.15],
            Source::Organic => [0.3, 0.3, 0.4],
            Source::Paid => [0.15, 0.25, 0.6],
            Source::Email => [0.2, 0.5, 0.3],
            Source::Social => [0.4, 0.0, 0.6],
            Source::Referral => [0.3, 0.0, 0.7],
        };
        match self.rng.weighted(&weights) {
            2 if view => Landing::Product(catalog.popular(&mut self.rng)),
            0 => Landing::Home,
            _ => Landing::Category(catalog.popular_sub(&mut self.rng)),
        }
    }
}
