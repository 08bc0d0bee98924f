//! Training from a store, persisting models, and people's profiles at request time.

use chrono::{DateTime, Utc};
use embudo_core::{names, AnonymousId, CustomerId};
use embudo_store::facts::{event_details, EventQuery, TimeRange};
use embudo_store::{Store, StoreResult};

use crate::data::{Basket, Profile, Touch};
use crate::hybrid::Progress;
use crate::load::{load, signal_of};
use crate::serve::{ContextObservation, RecsConfig, RecsModel};

/// The store key of the served model.
pub const MODEL_KEY: &str = "recs";

/// The format version written in front of an encoded model; a model of another version is
/// retrained instead of read.
pub const FORMAT_VERSION: u32 = 1;

/// Why a stored model could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Written by another version of Embudo.
    #[error(
        "the stored model has format version {found}; this Embudo reads version {FORMAT_VERSION}"
    )]
    Version {
        /// The version found.
        found: u32,
    },
    /// Not a model.
    #[error("the stored model cannot be decoded: {0}")]
    Decode(String),
}

/// Encodes a model for [`Store::put_model`].
pub fn encode(model: &RecsModel) -> Vec<u8> {
    let mut out = FORMAT_VERSION.to_le_bytes().to_vec();
    out.extend(postcard::to_stdvec(model).expect("a model always serialises"));
    out
}

/// Decodes a model written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<RecsModel, ModelError> {
    let (version, body) = bytes
        .split_at_checked(4)
        .ok_or_else(|| ModelError::Decode("too short".into()))?;
    let found = u32::from_le_bytes(version.try_into().expect("four bytes"));
    if found != FORMAT_VERSION {
        return Err(ModelError::Version { found });
    }
    let mut model: RecsModel =
        postcard::from_bytes(body).map_err(|e| ModelError::Decode(e.to_string()))?;
    model.reindex();
    Ok(model)
}

/// Trains the served model on the store's history before `until` (all of it when absent).
/// The CPU work runs on the blocking pool.
pub async fn train(
    store: &dyn Store,
    until: Option<DateTime<Utc>>,
    config: RecsConfig,
    progress: std::sync::Arc<dyn Progress + Send>,
) -> StoreResult<RecsModel> {
    let data = load(store, until, &|step| {
        progress.step(&format!("reading {step}"))
    })
    .await?;
    progress.step("reading context");
    let range = until.map_or(TimeRange::all(), TimeRange::until);
    let events = store
        .event_facts(&EventQuery {
            range,
            names: vec![names::PRODUCT_VIEWED.into(), names::PRODUCT_ADDED.into()],
            details: true,
            seqs: None,
        })
        .await?;
    let mut observations: Vec<ContextObservation> = Vec::new();
    for e in events {
        let category = e.category.clone().or_else(|| {
            let p = e.product_id.as_deref()?;
            data.catalog
                .get(p)
                .and_then(|i| data.catalog.item(i).category().map(str::to_string))
        });
        let Some(category) = category else { continue };
        if let Some(d) = e.device {
            observations.push(("device", d, category.clone()));
        }
        if let Some(c) = e.country {
            observations.push(("country", c, category));
        }
    }
    let until_ts = until.map_or_else(|| Utc::now().timestamp() + 1, |t| t.timestamp());
    let model = tokio::task::spawn_blocking(move || {
        RecsModel::train(data, until_ts, config, observations, &*progress)
    })
    .await
    .expect("training does not panic");
    Ok(model)
}

/// Who a request is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Who {
    /// A known customer.
    Customer(CustomerId),
    /// A visitor (resolved to their customer when linked).
    Visitor(AnonymousId),
    /// Nobody in particular.
    Nobody,
}

/// How much of a person's latest history a request reads.
const RECENT_ORDERS: u32 = 200;
const RECENT_EVENTS: u32 = 500;

/// A person's profile now, from the store: their latest orders and product events, so that
/// an event that just arrived counts. Returns the person key too (for the served record).
pub async fn profile_for(
    store: &dyn Store,
    model: &RecsModel,
    who: &Who,
    now: DateTime<Utc>,
) -> StoreResult<(Profile, Option<String>)> {
    let customer = match who {
        Who::Customer(id) => Some(id.clone()),
        Who::Visitor(anon) => store.visitor_customer(anon).await?,
        Who::Nobody => None,
    };
    let (key, orders, events) = match (&customer, who) {
        (Some(id), _) => {
            let orders = store.customer_orders(id, RECENT_ORDERS).await?;
            let events = store.customer_events(id, RECENT_EVENTS).await?;
            (Some(format!("c:{id}")), orders, events)
        }
        (None, Who::Visitor(anon)) => (
            Some(format!("v:{anon}")),
            Vec::new(),
            store.visitor_events(anon, RECENT_EVENTS).await?,
        ),
        _ => return Ok((Profile::default(), None)),
    };
    let user = key.as_deref().and_then(|k| model.person(k));
    let mut baskets = Vec::new();
    for o in orders
        .iter()
        .filter(|o| o.status() != embudo_core::OrderStatus::Cancelled)
    {
        let mut items: Vec<u32> = o
            .lines
            .iter()
            .filter_map(|l| l.product_id.as_ref())
            .filter_map(|p| model.catalog.get(p.as_str()))
            .collect();
        items.sort_unstable();
        items.dedup();
        baskets.push(Basket {
            user,
            at: o.placed_at.timestamp(),
            items,
        });
    }
    let mut touches = Vec::new();
    for e in &events {
        let Some(signal) = e.message.event.as_deref().and_then(signal_of) else {
            continue;
        };
        let props = serde_json::Value::Object(e.message.properties.clone());
        let Some(item) = event_details(&props)
            .product_id
            .and_then(|p| model.catalog.get(&p))
        else {
            continue;
        };
        touches.push(Touch {
            user: user.unwrap_or(0),
            item,
            signal,
            at: e.message.timestamp.timestamp(),
        });
    }
    // Orders also arrive as `Order Completed` events; a basket is counted from the order only.
    let mut profile = Profile::build(
        baskets.iter(),
        touches.iter(),
        model.signals(),
        now.timestamp() + 1,
    );
    profile.user = user;
    Ok((profile, key))
}
