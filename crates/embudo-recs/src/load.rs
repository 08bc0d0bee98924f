//! Reading a shop's history from a store into the recommenders' dense tables.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use embudo_core::names;
use embudo_store::facts::{EventQuery, TimeRange};
use embudo_store::{PageRequest, Store, StoreResult};

use crate::data::{Basket, Catalog, CatalogItem, Interactions, Signal, Touch};

/// A shop's history in dense indices, with the ids to map them back.
#[derive(Debug, Clone, Default)]
pub struct ShopData {
    /// The products.
    pub catalog: Catalog,
    /// Baskets and behaviour.
    pub interactions: Interactions,
    /// Person key of each user index (`c:<customer id>` or `v:<anonymous id>`).
    pub people: Vec<String>,
    /// User index of each person key.
    pub person_index: HashMap<String, u32>,
}

impl ShopData {
    /// The user index of a person key, adding it when new.
    fn user(&mut self, person: &str) -> Option<u32> {
        // Guests nobody can recognise (`o:`) and messages without a person (`m:`) are nobody's
        // history.
        if !(person.starts_with("c:") || person.starts_with("v:")) {
            return None;
        }
        if let Some(&u) = self.person_index.get(person) {
            return Some(u);
        }
        let u = self.people.len() as u32;
        self.people.push(person.to_string());
        self.person_index.insert(person.to_string(), u);
        Some(u)
    }

    fn item(&mut self, product: &str) -> u32 {
        match self.catalog.get(product) {
            Some(i) => i,
            // A product sold but not in the catalog: known by its id only.
            None => self.catalog.insert(CatalogItem {
                id: product.to_string(),
                title: product.to_string(),
                in_stock: true,
                ..Default::default()
            }),
        }
    }

    /// The customer id of a user index, when the person is a customer.
    pub fn customer_id(&self, user: u32) -> Option<&str> {
        self.people
            .get(user as usize)
            .and_then(|p| p.strip_prefix("c:"))
    }
}

/// Tags that keep a product out of every recommendation.
pub const HIDDEN_TAGS: [&str; 2] = ["hidden", "no-recommend"];

/// The catalog item of a store product.
pub fn catalog_item(p: &embudo_core::Product) -> CatalogItem {
    CatalogItem {
        id: p.id.to_string(),
        title: p.title.clone(),
        description: p.description.clone(),
        category_path: p.category_path.clone(),
        brand: p.brand.clone(),
        tags: p.tags.clone(),
        price: p.price,
        in_stock: p.in_stock,
        hidden: p
            .tags
            .iter()
            .any(|t| HIDDEN_TAGS.iter().any(|h| t.eq_ignore_ascii_case(h))),
        created_at: p.created_at.map(|t| t.timestamp()),
    }
}

/// Which event names count as which signal.
pub fn signal_of(event: &str) -> Option<Signal> {
    match event {
        names::PRODUCT_VIEWED => Some(Signal::View),
        names::PRODUCT_CLICKED | names::PRODUCT_ADDED_TO_WISHLIST => Some(Signal::Search),
        names::PRODUCT_ADDED => Some(Signal::Cart),
        _ => None,
    }
}

/// Reads the catalog, the orders (cancelled ones left out) and the product events placed
/// before `until` (everything when absent). `progress` is told each step.
pub async fn load(
    store: &dyn Store,
    until: Option<DateTime<Utc>>,
    progress: &(dyn Fn(&str) + Sync),
) -> StoreResult<ShopData> {
    let mut data = ShopData::default();
    progress("products");
    let mut page = PageRequest {
        after: None,
        limit: Some(1000),
    };
    loop {
        let products = store.products(&page).await?;
        let Some(last) = products.last() else { break };
        page.after = Some(last.id.to_string());
        for p in &products {
            data.catalog.insert(catalog_item(p));
        }
        if products.len() < 1000 {
            break;
        }
    }
    let range = match until {
        Some(t) => TimeRange::until(t),
        None => TimeRange::all(),
    };
    progress("orders");
    let orders = store.order_facts(range).await?;
    let mut baskets = Vec::with_capacity(orders.len());
    for o in orders.iter().filter(|o| !o.cancelled) {
        let user = data.user(&o.person);
        let mut items: Vec<u32> = o
            .lines
            .iter()
            .map(|l| l.product_id.as_str())
            .map(|p| data.item(p))
            .collect();
        items.sort_unstable();
        items.dedup();
        if !items.is_empty() {
            baskets.push(Basket {
                user,
                at: o.placed_at.timestamp(),
                items,
            });
        }
    }
    progress("product events");
    let query = EventQuery {
        range,
        names: [
            names::PRODUCT_VIEWED,
            names::PRODUCT_CLICKED,
            names::PRODUCT_ADDED_TO_WISHLIST,
            names::PRODUCT_ADDED,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        details: true,
        seqs: None,
    };
    let events = store.event_facts(&query).await?;
    let mut touches = Vec::with_capacity(events.len());
    for e in &events {
        let (Some(product), Some(signal)) = (e.product_id.as_deref(), signal_of(&e.event)) else {
            continue;
        };
        let Some(user) = data.user(&e.person) else {
            continue;
        };
        let item = data.item(product);
        touches.push(Touch {
            user,
            item,
            signal,
            at: e.at.timestamp(),
        });
    }
    baskets.sort_by_key(|b| b.at);
    touches.sort_by_key(|t| t.at);
    data.interactions = Interactions {
        users: data.people.len() as u32,
        items: data.catalog.len() as u32,
        baskets,
        touches,
    };
    Ok(data)
}
