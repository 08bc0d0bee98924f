//! The backend conformance suite: what every [`Store`] must do, checked only through the
//! trait so that the SQLite and PostgreSQL backends run the very same tests.
//!
//! Each test is a public `async fn(&dyn Store)` that panics on failure and expects an empty
//! store. A backend's test binary runs them all with [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! embudo_store::conformance_tests!(embudo_store_sqlite::testing::fresh());
//! ```
//!
//! The argument is an expression evaluated once per test, giving a future that resolves to
//! `(Arc<dyn Store>, guard)`; the guard (a temporary directory, a database handle…) is kept
//! alive until the test ends. The calling crate needs `tokio` (with `macros` and `rt`) as a
//! dev-dependency, because each test is a `#[tokio::test]`.
//!
//! The tests avoid what the trait leaves open, so that a correct backend passes whatever it
//! chose there: times are whole seconds (both databases keep microseconds), ids sort the same
//! byte-wise and in any collation, ties in time are avoided where an order is checked, and
//! store-set fields (`updated_at`, `created_at` when absent, merge times) are not compared.

use crate::intel::{
    CustomerScores, CustomerSegment, MembershipChange, ProfileEventRow, ProfileLineRow,
    SegmentChange, SegmentMember, SegmentRecord,
};
use crate::recs::{ServedRecommendation, StoredModel, MAX_MODEL_KEY_LEN};
use crate::{
    hash_secret, ApiKey, Applied, Effect, Envelope, KeyKind, PageRequest, RefundRequest, Store,
    StoreError,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use embudo_core::{
    AnonymousId, Attributes, Attribution, Consent, ConsentStatus, Currency, CustomerId,
    CustomerPatch, CustomerType, Email, EventContext, LineKind, MergeReason, Message, MessageId,
    MessageKind, Order, OrderId, OrderLine, OrderStatus, Product, ProductId, Refund, RefundId,
    StatusChange, StatusKind, StoredEvent,
};
use serde_json::json;

/// Expands to one `#[tokio::test]` per conformance test, each running against a new store.
///
/// `$factory` is an expression giving a future of `(Arc<dyn Store>, Guard)`; it is evaluated
/// afresh in every test. See the [module documentation](crate::conformance).
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::conformance_tests!(@each $factory;
            dedup_within_a_batch,
            dedup_across_batches,
            events_create_and_widen_known_customers,
            identify_links_earlier_anonymous_events,
            merges_are_traced,
            alias_links_a_visitor,
            alias_merges_two_customers,
            order_completed_and_orders_api_are_one_order,
            order_status_history,
            partial_refunds,
            refund_by_two_routes_counts_once,
            refund_larger_than_the_order,
            refund_without_amount_refunds_what_is_left,
            customer_patches_merge,
            products_upsert_replace_and_page,
            keys_insert_lookup_revoke,
            counts_and_totals_per_currency,
            guest_orders,
            unicode_and_long_values_round_trip,
            event_facts_resolve_people_and_read_details,
            order_refund_and_customer_facts,
            marks_and_identity_log_for_catching_up,
            segments_are_defined_replaced_and_deleted,
            memberships_are_idempotent_and_logged,
            deleting_a_segment_logs_its_members_leaving,
            merging_customers_drops_the_old_memberships_and_scores,
            scores_are_upserted_in_bulk,
            customer_ids_page_the_live_customers,
            profile_data_reads_orders_events_and_the_catalog,
            visitor_events_are_the_visitors_linked_or_not,
            models_round_trip_and_are_replaced_whole,
            served_recommendations_are_recorded_once,
        );
    };
    (@each $factory:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $factory.await;
                $crate::conformance::$name(&*store).await;
            }
        )+
    };
}

// ---- builders ----

/// A fixed time, `minutes` after 2026-01-01 00:00 UTC.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn cid(id: &str) -> CustomerId {
    CustomerId::parse(id).unwrap()
}

fn aid(id: &str) -> AnonymousId {
    AnonymousId::parse(id).unwrap()
}

fn oid(id: &str) -> OrderId {
    OrderId::parse(id).unwrap()
}

fn pid(id: &str) -> ProductId {
    ProductId::parse(id).unwrap()
}

fn rid(id: &str) -> RefundId {
    RefundId::parse(id).unwrap()
}

fn attrs(value: serde_json::Value) -> Attributes {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// A message of `kind` at minute `minute`, with a little context and nothing else.
fn message(id: &str, kind: MessageKind, minute: i64) -> Message {
    Message {
        message_id: MessageId::parse(id).unwrap(),
        kind,
        event: (kind == MessageKind::Track).then(|| "Product Viewed".to_owned()),
        anonymous_id: None,
        user_id: None,
        previous_id: None,
        group_id: None,
        session_id: Some("s-1".into()),
        timestamp: at(minute),
        received_at: at(minute) + Duration::seconds(2),
        properties: attrs(json!({"product_id": "p-01", "price": 19.99})),
        traits: Attributes::new(),
        context: EventContext {
            device_type: Some("mobile".into()),
            user_agent: Some("Mozilla/5.0".into()),
            locale: Some("de-DE".into()),
            country: Some("DE".into()),
            city: Some("Berlin".into()),
            ip: Some("203.0.113.7".into()),
            attribution: Attribution {
                source: Some("newsletter".into()),
                medium: Some("email".into()),
                campaign: Some("spring".into()),
                term: None,
                content: Some("hero".into()),
                referrer: None,
            },
            page_url: Some("https://shop.example/p/1".into()),
            raw: attrs(json!({"locale": "de-DE", "campaign": {"source": "newsletter"}})),
        },
    }
}

/// An anonymous track event.
fn anon_track(id: &str, visitor: &str, minute: i64) -> Message {
    Message {
        anonymous_id: Some(aid(visitor)),
        ..message(id, MessageKind::Track, minute)
    }
}

/// A track event of a known customer.
fn user_track(id: &str, user: &str, minute: i64) -> Message {
    Message {
        user_id: Some(cid(user)),
        ..message(id, MessageKind::Track, minute)
    }
}

/// An identify call naming both ids.
fn identify(id: &str, visitor: &str, user: &str, minute: i64) -> Message {
    Message {
        anonymous_id: Some(aid(visitor)),
        user_id: Some(cid(user)),
        traits: attrs(json!({"plan": "gold"})),
        ..message(id, MessageKind::Identify, minute)
    }
}

fn link(visitor: &str, customer: &str, reason: MergeReason) -> Effect {
    Effect::LinkVisitor {
        anonymous_id: aid(visitor),
        customer_id: cid(customer),
        reason,
    }
}

fn envelope(message: Message, effects: Vec<Effect>) -> Envelope {
    Envelope { message, effects }
}

fn product_line(product: &str, quantity: i64, unit_price: i64, discount: i64) -> OrderLine {
    OrderLine {
        kind: LineKind::Product,
        product_id: Some(pid(product)),
        sku: Some(format!("SKU-{product}")),
        title: Some(format!("Title of {product}")),
        quantity,
        unit_price,
        discount,
    }
}

/// An order of `customer` (or a guest order) placed at minute `minute`.
fn order(
    id: &str,
    customer: Option<&str>,
    currency: Currency,
    lines: Vec<OrderLine>,
    minute: i64,
) -> Order {
    Order {
        id: oid(id),
        customer_id: customer.map(cid),
        anonymous_id: None,
        email: None,
        placed_at: at(minute),
        currency,
        lines,
        shipping: 0,
        tax: 0,
        discount: 0,
        coupon: None,
        attribution: Attribution::default(),
        history: Vec::new(),
    }
}

fn status(status: StatusKind, minute: i64) -> StatusChange {
    StatusChange {
        status,
        at: at(minute),
        carrier: None,
        tracking_number: None,
        amount: None,
        note: None,
    }
}

fn refunded(amount: i64, minute: i64) -> StatusChange {
    StatusChange {
        amount: Some(amount),
        ..status(StatusKind::Refunded, minute)
    }
}

fn refund(
    id: &str,
    order: &str,
    customer: Option<&str>,
    amount: i64,
    currency: Currency,
    minute: i64,
) -> Refund {
    Refund {
        id: rid(id),
        order_id: Some(oid(order)),
        customer_id: customer.map(cid),
        at: at(minute),
        amount,
        currency,
        reason: None,
    }
}

fn refund_effect(id: &str, order: &str, amount: Option<i64>, minute: i64) -> Effect {
    Effect::Refund(RefundRequest {
        id: rid(id),
        order_id: oid(order),
        at: at(minute),
        amount,
        currency: None,
        reason: Some("damaged".into()),
    })
}

fn ids(events: &[StoredEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.message.message_id.as_str())
        .collect()
}

async fn apply(store: &dyn Store, batch: Vec<Envelope>) -> Vec<Applied> {
    let len = batch.len();
    let applied = store.apply(batch).await.expect("apply");
    assert_eq!(applied.len(), len, "one result per envelope");
    applied
}

async fn apply_one(store: &dyn Store, message: Message, effects: Vec<Effect>) -> Applied {
    apply(store, vec![envelope(message, effects)]).await[0]
}

async fn read_order(store: &dyn Store, id: &str) -> Order {
    store
        .order(&oid(id))
        .await
        .expect("order")
        .unwrap_or_else(|| panic!("order {id} exists"))
}

// ---- tracking: exactly once ----

/// A message repeated within one batch is stored once and its effects happen once.
pub async fn dedup_within_a_batch(store: &dyn Store) {
    // Relinking a visitor is not idempotent, so applying `m1` twice would show.
    let batch = vec![
        envelope(
            anon_track("m1", "v1", 1),
            vec![link("v1", "ann", MergeReason::Track)],
        ),
        envelope(
            anon_track("m2", "v1", 2),
            vec![link("v1", "bob", MergeReason::Track)],
        ),
        envelope(
            anon_track("m1", "v1", 1),
            vec![link("v1", "ann", MergeReason::Track)],
        ),
    ];
    assert_eq!(
        apply(store, batch).await,
        vec![Applied::Inserted, Applied::Inserted, Applied::Duplicate]
    );
    assert_eq!(
        store.visitor_customer(&aid("v1")).await.unwrap(),
        Some(cid("bob"))
    );
    assert_eq!(store.identity_merges(&cid("ann")).await.unwrap().len(), 1);
    assert_eq!(store.identity_merges(&cid("bob")).await.unwrap().len(), 1);
    assert_eq!(store.counts().await.unwrap().events, 2);
}

/// A message repeated in a later batch is reported as a duplicate and changes nothing.
pub async fn dedup_across_batches(store: &dyn Store) {
    let o1 = order(
        "o-1",
        Some("ann"),
        Currency::EUR,
        vec![product_line("p-01", 1, 5000, 0)],
        0,
    );
    store.upsert_orders(&[o1]).await.unwrap();
    let first = vec![envelope(
        identify("m1", "v1", "ann", 1),
        vec![
            Effect::UpsertCustomer(CustomerPatch {
                attributes: attrs(json!({"tier": 1})),
                ..CustomerPatch::id_only(cid("ann"))
            }),
            refund_effect("m1/refund", "o-1", Some(1000), 1),
        ],
    )];
    assert_eq!(apply(store, first).await, vec![Applied::Inserted]);
    let second = vec![envelope(
        user_track("m2", "ann", 2),
        vec![Effect::UpsertCustomer(CustomerPatch {
            attributes: attrs(json!({"tier": 2})),
            ..CustomerPatch::id_only(cid("ann"))
        })],
    )];
    assert_eq!(apply(store, second).await, vec![Applied::Inserted]);

    // The same message again, in a batch with a new one: only the new one counts.
    let again = vec![
        envelope(
            identify("m1", "v1", "ann", 1),
            vec![
                Effect::UpsertCustomer(CustomerPatch {
                    attributes: attrs(json!({"tier": 1})),
                    ..CustomerPatch::id_only(cid("ann"))
                }),
                refund_effect("m1/refund-again", "o-1", Some(1000), 3),
            ],
        ),
        envelope(user_track("m3", "ann", 3), vec![]),
    ];
    assert_eq!(
        apply(store, again).await,
        vec![Applied::Duplicate, Applied::Inserted]
    );

    let ann = store
        .customer(&cid("ann"))
        .await
        .unwrap()
        .expect("ann exists");
    assert_eq!(
        ann.attributes.get("tier"),
        Some(&json!(2)),
        "the repeated message's patch was not applied again"
    );
    assert_eq!(
        store.order_refunds(&oid("o-1")).await.unwrap().len(),
        1,
        "the repeated message's refund was not recorded"
    );
    assert_eq!(store.counts().await.unwrap().events, 3);
    assert_eq!(
        ids(&store.customer_events(&cid("ann"), 10).await.unwrap()),
        vec!["m3", "m2", "m1"]
    );
}

/// Events naming a customer create it and widen its first and last seen times.
pub async fn events_create_and_widen_known_customers(store: &dyn Store) {
    apply(store, vec![envelope(user_track("m1", "ann", 5), vec![])]).await;
    let ann = store
        .customer(&cid("ann"))
        .await
        .unwrap()
        .expect("an event's user becomes a customer");
    assert_eq!((ann.first_seen, ann.last_seen), (Some(at(5)), Some(at(5))));
    assert_eq!(ann.merged_into, None);

    apply(
        store,
        vec![
            envelope(user_track("m2", "ann", 9), vec![]),
            envelope(user_track("m3", "ann", 3), vec![]),
            envelope(user_track("m4", "bob", 4), vec![]),
        ],
    )
    .await;
    let ann = store.customer(&cid("ann")).await.unwrap().unwrap();
    assert_eq!((ann.first_seen, ann.last_seen), (Some(at(3)), Some(at(9))));
    let bob = store
        .customer(&cid("bob"))
        .await
        .unwrap()
        .expect("bob exists");
    assert_eq!((bob.first_seen, bob.last_seen), (Some(at(4)), Some(at(4))));
    assert_eq!(store.counts().await.unwrap().customers, 2);

    let events = store.customer_events(&cid("ann"), 10).await.unwrap();
    assert_eq!(ids(&events), vec!["m2", "m1", "m3"], "newest first");
    assert!(events.iter().all(|e| e.customer_id == Some(cid("ann"))));
    let limited = store.customer_events(&cid("ann"), 2).await.unwrap();
    assert_eq!(ids(&limited), vec!["m2", "m1"]);
}

// ---- identity ----

/// Anonymous events become the customer's once an identify links the visitor, and later
/// events of the visitor follow.
pub async fn identify_links_earlier_anonymous_events(store: &dyn Store) {
    let e1 = anon_track("e1", "v1", 1);
    let e2 = Message {
        event: Some("Product Added".into()),
        ..anon_track("e2", "v1", 2)
    };
    let other = anon_track("e-other", "v2", 2);
    apply(
        store,
        vec![
            envelope(e1.clone(), vec![]),
            envelope(e2.clone(), vec![]),
            envelope(other, vec![]),
        ],
    )
    .await;
    assert_eq!(store.visitor_customer(&aid("v1")).await.unwrap(), None);

    let who = identify("id-1", "v1", "ann", 3);
    let effects = vec![
        Effect::UpsertCustomer(CustomerPatch {
            email: Some(Email::parse("ann@example.com").unwrap()),
            ..CustomerPatch::id_only(cid("ann"))
        }),
        link("v1", "ann", MergeReason::Identify),
    ];
    assert_eq!(
        apply_one(store, who.clone(), effects).await,
        Applied::Inserted
    );

    assert_eq!(
        store.visitor_customer(&aid("v1")).await.unwrap(),
        Some(cid("ann"))
    );
    assert_eq!(store.visitor_customer(&aid("v2")).await.unwrap(), None);
    let events = store.customer_events(&cid("ann"), 10).await.unwrap();
    assert_eq!(ids(&events), vec!["id-1", "e2", "e1"]);
    assert!(events.iter().all(|e| e.customer_id == Some(cid("ann"))));
    // The messages come back exactly as sent.
    assert_eq!(events[0].message, who);
    assert_eq!(events[1].message, e2);
    assert_eq!(events[2].message, e1);
    assert!(
        events[0].seq > events[1].seq && events[1].seq > events[2].seq,
        "seq follows insertion"
    );

    let merges = store.identity_merges(&cid("ann")).await.unwrap();
    assert_eq!(merges.len(), 1);
    assert_eq!(merges[0].anonymous_id, Some(aid("v1")));
    assert_eq!(merges[0].from_customer, None);
    assert_eq!(merges[0].into_customer, cid("ann"));
    assert_eq!(merges[0].reason, MergeReason::Identify);
    assert_eq!(
        merges[0].message_id.as_ref().map(|m| m.as_str()),
        Some("id-1")
    );
    assert_eq!(merges[0].events_moved, 2);

    // Later anonymous events of the visitor are the customer's from the start.
    apply_one(store, anon_track("e4", "v1", 4), vec![]).await;
    let events = store.customer_events(&cid("ann"), 10).await.unwrap();
    assert_eq!(ids(&events), vec!["e4", "id-1", "e2", "e1"]);
    assert_eq!(events[0].customer_id, Some(cid("ann")));

    let ann = store
        .customer(&cid("ann"))
        .await
        .unwrap()
        .expect("ann exists");
    assert_eq!(
        ann.email.as_ref().map(Email::as_str),
        Some("ann@example.com")
    );
    assert!(
        ann.first_seen.is_some_and(|t| t <= at(3)) && ann.last_seen.is_some_and(|t| t >= at(3))
    );
    assert_eq!(store.counts().await.unwrap().linked_visitors, 1);
}

/// Every link and merge leaves one row in `identity_merges`, oldest first; relinking to the
/// same customer leaves none.
pub async fn merges_are_traced(store: &dyn Store) {
    apply_one(
        store,
        identify("i1", "v1", "ann", 1),
        vec![link("v1", "ann", MergeReason::Identify)],
    )
    .await;
    // The same link again, from another message: nothing to trace.
    apply_one(
        store,
        identify("i2", "v1", "ann", 2),
        vec![link("v1", "ann", MergeReason::Identify)],
    )
    .await;
    assert_eq!(store.identity_merges(&cid("ann")).await.unwrap().len(), 1);

    // The visitor turns out to be someone else: re-linked, and traced on the new customer.
    apply_one(
        store,
        anon_track("t3", "v1", 3),
        vec![link("v1", "bob", MergeReason::Track)],
    )
    .await;
    assert_eq!(
        store.visitor_customer(&aid("v1")).await.unwrap(),
        Some(cid("bob"))
    );
    // And a customer folded into bob.
    let alias = Message {
        user_id: Some(cid("bob")),
        previous_id: Some("cy".into()),
        ..message("a4", MessageKind::Alias, 4)
    };
    apply_one(store, user_track("c0", "cy", 0), vec![]).await;
    apply_one(
        store,
        alias,
        vec![Effect::MergeCustomers {
            from: cid("cy"),
            into: cid("bob"),
        }],
    )
    .await;

    let merges = store.identity_merges(&cid("bob")).await.unwrap();
    assert_eq!(merges.len(), 2, "{merges:?}");
    assert_eq!(
        (
            merges[0].anonymous_id.clone(),
            merges[0].from_customer.clone()
        ),
        (Some(aid("v1")), None)
    );
    assert_eq!(merges[0].reason, MergeReason::Track);
    assert_eq!(
        merges[0].message_id.as_ref().map(|m| m.as_str()),
        Some("t3")
    );
    assert_eq!(
        (
            merges[1].anonymous_id.clone(),
            merges[1].from_customer.clone()
        ),
        (None, Some(cid("cy")))
    );
    assert_eq!(
        merges[1].message_id.as_ref().map(|m| m.as_str()),
        Some("a4")
    );
    assert_eq!(merges[1].events_moved, 1, "cy's one event moved");
    assert!(merges.iter().all(|m| m.into_customer == cid("bob")));
    assert_eq!(
        store.identity_merges(&cid("ann")).await.unwrap().len(),
        1,
        "ann's trace stays"
    );
}

/// An alias from a visitor id to a user id links the visitor. Ingestion cannot tell a
/// visitor id from a customer id in `previousId`, so it sends both a merge and a link, as here:
/// a merge from an id that is no customer changes nothing and creates no customer.
pub async fn alias_links_a_visitor(store: &dyn Store) {
    apply(
        store,
        vec![
            envelope(anon_track("e1", "v9", 1), vec![]),
            envelope(anon_track("e2", "v9", 2), vec![]),
        ],
    )
    .await;
    let alias = Message {
        user_id: Some(cid("ann")),
        previous_id: Some("v9".into()),
        ..message("a1", MessageKind::Alias, 3)
    };
    let effects = vec![
        Effect::MergeCustomers {
            from: cid("v9"),
            into: cid("ann"),
        },
        link("v9", "ann", MergeReason::Alias),
    ];
    apply_one(store, alias, effects).await;

    assert_eq!(
        store.visitor_customer(&aid("v9")).await.unwrap(),
        Some(cid("ann"))
    );
    assert_eq!(
        ids(&store.customer_events(&cid("ann"), 10).await.unwrap()),
        vec!["a1", "e2", "e1"]
    );
    let merges = store.identity_merges(&cid("ann")).await.unwrap();
    assert_eq!(merges.len(), 1, "only the visitor link: {merges:?}");
    assert_eq!(merges[0].reason, MergeReason::Alias);
    assert_eq!(merges[0].anonymous_id, Some(aid("v9")));
    assert_eq!(merges[0].events_moved, 2);
    assert!(
        store.customer(&cid("v9")).await.unwrap().is_none(),
        "the visitor id did not become a customer"
    );
    assert_eq!(store.counts().await.unwrap().customers, 1);
}

/// An alias between two customers folds one into the other: events, orders, refunds and
/// visitors move, the old one is marked, and later events naming it resolve to the new one.
pub async fn alias_merges_two_customers(store: &dyn Store) {
    // old: one anonymous event, an identify, an event, an order with a refund.
    apply(
        store,
        vec![
            envelope(anon_track("v-e1", "v-old", 1), vec![]),
            envelope(
                identify("old-i", "v-old", "old", 2),
                vec![link("v-old", "old", MergeReason::Identify)],
            ),
            envelope(user_track("old-e", "old", 3), vec![]),
            envelope(user_track("new-e", "new", 4), vec![]),
        ],
    )
    .await;
    let o = order(
        "o-old",
        Some("old"),
        Currency::EUR,
        vec![product_line("p-01", 1, 4000, 0)],
        3,
    );
    store.upsert_orders(&[o]).await.unwrap();
    store
        .record_refunds(&[refund("r-old", "o-old", Some("old"), 500, Currency::EUR, 4)])
        .await
        .unwrap();

    let alias = Message {
        user_id: Some(cid("new")),
        previous_id: Some("old".into()),
        ..message("al", MessageKind::Alias, 5)
    };
    // As ingestion sends an alias: a merge, and a link in case `old` was a visitor id.
    let effects = vec![
        Effect::MergeCustomers {
            from: cid("old"),
            into: cid("new"),
        },
        link("old", "new", MergeReason::Alias),
    ];
    apply_one(store, alias, effects).await;

    let old = store
        .customer(&cid("old"))
        .await
        .unwrap()
        .expect("a merged customer is kept");
    assert_eq!(old.merged_into, Some(cid("new")));
    let new = store
        .customer(&cid("new"))
        .await
        .unwrap()
        .expect("new exists");
    assert_eq!(new.merged_into, None);

    let events = store.customer_events(&cid("new"), 10).await.unwrap();
    assert_eq!(ids(&events), vec!["al", "new-e", "old-e", "old-i", "v-e1"]);
    assert!(events.iter().all(|e| e.customer_id == Some(cid("new"))));
    let orders = store.customer_orders(&cid("new"), 10).await.unwrap();
    assert_eq!(
        orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        vec!["o-old"]
    );
    assert_eq!(
        read_order(store, "o-old").await.customer_id,
        Some(cid("new"))
    );
    let refunds = store.order_refunds(&oid("o-old")).await.unwrap();
    assert_eq!(refunds[0].customer_id, Some(cid("new")));
    assert_eq!(
        store.visitor_customer(&aid("v-old")).await.unwrap(),
        Some(cid("new"))
    );

    let merges = store.identity_merges(&cid("new")).await.unwrap();
    let merge = merges
        .iter()
        .find(|m| m.from_customer == Some(cid("old")))
        .expect("the merge is traced");
    assert_eq!(merge.into_customer, cid("new"));
    assert_eq!(merge.events_moved, 3, "v-e1, old-i and old-e moved");
    assert_eq!(merge.message_id.as_ref().map(|m| m.as_str()), Some("al"));

    // Later events naming the old id, and of the old visitor, resolve to the new customer.
    apply(
        store,
        vec![
            envelope(user_track("late", "old", 6), vec![]),
            envelope(anon_track("late-v", "v-old", 7), vec![]),
        ],
    )
    .await;
    let events = store.customer_events(&cid("new"), 2).await.unwrap();
    assert_eq!(ids(&events), vec!["late-v", "late"]);
    assert_eq!(events[1].customer_id, Some(cid("new")));
    assert_eq!(
        events[1].message.user_id,
        Some(cid("old")),
        "the message is kept as sent"
    );
}

// ---- orders ----

fn full_order() -> Order {
    Order {
        id: oid("o-100"),
        customer_id: Some(cid("ann")),
        anonymous_id: Some(aid("v1")),
        email: Some(Email::parse("ann@example.com").unwrap()),
        placed_at: at(10),
        currency: Currency::EUR,
        lines: vec![
            product_line("p-01", 2, 1999, 0),
            product_line("p-02", 1, 5000, 500),
            OrderLine {
                kind: LineKind::Shipping,
                product_id: None,
                sku: Some("POST".into()),
                title: Some("Parcel".into()),
                quantity: 1,
                unit_price: 495,
                discount: 0,
            },
        ],
        shipping: 0,
        tax: 1200,
        discount: 300,
        coupon: Some("SPRING10".into()),
        attribution: Attribution {
            source: Some("google".into()),
            medium: Some("cpc".into()),
            campaign: Some("spring".into()),
            term: Some("knives".into()),
            content: Some("ad-2".into()),
            referrer: Some("https://www.google.com/".into()),
        },
        history: vec![status(StatusKind::Paid, 11)],
    }
}

/// An order from an "Order Completed" event and the same order from the orders API are one
/// order, and writing it again changes nothing.
pub async fn order_completed_and_orders_api_are_one_order(store: &dyn Store) {
    let o = full_order();
    let completed = Message {
        event: Some("Order Completed".into()),
        anonymous_id: Some(aid("v1")),
        user_id: Some(cid("ann")),
        ..message("oc-1", MessageKind::Track, 10)
    };
    apply_one(
        store,
        completed,
        vec![Effect::UpsertOrder(Box::new(o.clone()))],
    )
    .await;
    assert_eq!(
        store.upsert_orders(std::slice::from_ref(&o)).await.unwrap(),
        1
    );
    assert_eq!(
        store.upsert_orders(std::slice::from_ref(&o)).await.unwrap(),
        1
    );

    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.orders, counts.guest_orders, counts.refunds),
        (1, 0, 0)
    );
    assert_eq!(
        read_order(store, "o-100").await,
        o,
        "the order reads back as written"
    );
    assert_eq!(
        store.customer_orders(&cid("ann"), 10).await.unwrap(),
        vec![o.clone()]
    );
    assert_eq!(
        store.visitor_customer(&aid("v1")).await.unwrap(),
        Some(cid("ann")),
        "the order links its visitor"
    );
    assert_eq!(
        store.orders(&PageRequest::default()).await.unwrap(),
        vec![o.clone()]
    );

    // Replacing: lines are replaced, history is kept and added to.
    let mut changed = o.clone();
    changed.lines.truncate(1);
    changed.coupon = None;
    changed.history = vec![status(StatusKind::Fulfilled, 12)];
    store
        .upsert_orders(std::slice::from_ref(&changed))
        .await
        .unwrap();
    let read = read_order(store, "o-100").await;
    assert_eq!(read.lines, changed.lines);
    assert_eq!(read.coupon, None);
    assert_eq!(
        read.history,
        vec![
            status(StatusKind::Paid, 11),
            status(StatusKind::Fulfilled, 12)
        ]
    );
    let totals = store.totals().await.unwrap();
    assert_eq!(totals.len(), 1);
    assert_eq!(totals[0].merchandise_revenue, 2 * 1999);
    assert_eq!(totals[0].products_sold, 1);
}

/// Status changes: shipped with carrier and tracking, delivered, cancelled; identical entries
/// are kept once; unknown orders are reported.
pub async fn order_status_history(store: &dyn Store) {
    let o = order(
        "o-1",
        Some("ann"),
        Currency::EUR,
        vec![product_line("p-01", 1, 2500, 0)],
        0,
    );
    store.upsert_orders(&[o]).await.unwrap();
    assert_eq!(read_order(store, "o-1").await.status(), OrderStatus::Placed);

    let shipped = StatusChange {
        carrier: Some("DHL".into()),
        tracking_number: Some("00340434161094042557".into()),
        ..status(StatusKind::Shipped, 20)
    };
    let after = store
        .add_order_status(&oid("o-1"), &shipped)
        .await
        .unwrap()
        .expect("known order");
    assert_eq!(after.history, vec![shipped.clone()]);
    assert_eq!(after.status(), OrderStatus::Shipped);
    store.add_order_status(&oid("o-1"), &shipped).await.unwrap();
    let delivered = StatusChange {
        note: Some("left with neighbour".into()),
        ..status(StatusKind::Delivered, 30)
    };
    let after = store
        .add_order_status(&oid("o-1"), &delivered)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.history, vec![shipped.clone(), delivered.clone()]);
    assert_eq!(after.status(), OrderStatus::Delivered);

    // Through tracking: a status for a known order is added, one for an unknown order ignored.
    let paid = status(StatusKind::Paid, 5);
    apply(
        store,
        vec![
            envelope(
                user_track("s1", "ann", 5),
                vec![Effect::OrderStatus {
                    order_id: oid("o-1"),
                    change: paid.clone(),
                }],
            ),
            envelope(
                user_track("s2", "ann", 6),
                vec![Effect::OrderStatus {
                    order_id: oid("o-unknown"),
                    change: status(StatusKind::Paid, 6),
                }],
            ),
        ],
    )
    .await;
    let cancelled = status(StatusKind::Cancelled, 40);
    let after = store
        .add_order_status(&oid("o-1"), &cancelled)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.history, vec![paid, shipped, delivered, cancelled]);
    assert_eq!(after.status(), OrderStatus::Cancelled);
    assert_eq!(read_order(store, "o-1").await, after);

    assert!(store
        .add_order_status(&oid("o-unknown"), &status(StatusKind::Paid, 1))
        .await
        .unwrap()
        .is_none());
    assert!(store.order(&oid("o-unknown")).await.unwrap().is_none());
    assert_eq!(store.counts().await.unwrap().orders, 1);
}

/// Partial refunds add up, show in the history and make the order partially refunded.
pub async fn partial_refunds(store: &dyn Store) {
    let o = order(
        "o-1",
        Some("ann"),
        Currency::EUR,
        vec![product_line("p-01", 2, 5000, 0)],
        0,
    );
    store.upsert_orders(&[o]).await.unwrap();
    let r1 = Refund {
        reason: Some("scratched".into()),
        ..refund("r-1", "o-1", Some("ann"), 3000, Currency::EUR, 10)
    };
    let r2 = refund("r-2", "o-1", Some("ann"), 2000, Currency::EUR, 20);
    assert_eq!(
        store
            .record_refunds(&[r2.clone(), r1.clone()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .record_refunds(&[r1.clone(), r2.clone()])
            .await
            .unwrap(),
        0,
        "known ids are ignored"
    );

    assert_eq!(
        store.order_refunds(&oid("o-1")).await.unwrap(),
        vec![r1, r2],
        "oldest first"
    );
    let read = read_order(store, "o-1").await;
    assert_eq!(read.refunded(), 5000);
    assert_eq!(read.status(), OrderStatus::PartiallyRefunded);
    let entries: Vec<_> = read
        .history
        .iter()
        .filter(|c| c.status == StatusKind::Refunded)
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        (entries[0].amount, entries[0].at, entries[0].note.as_deref()),
        (Some(3000), at(10), Some("scratched"))
    );
    assert_eq!((entries[1].amount, entries[1].at), (Some(2000), at(20)));
    let totals = store.totals().await.unwrap();
    assert_eq!(totals[0].refunds, 5000);
    assert_eq!(store.counts().await.unwrap().refunds, 2);
}

/// The same refund arriving as an event, in the order's history, as a status change and
/// through the refunds API counts once.
pub async fn refund_by_two_routes_counts_once(store: &dyn Store) {
    let o = order(
        "o-1",
        Some("ann"),
        Currency::EUR,
        vec![product_line("p-01", 1, 5000, 0)],
        0,
    );
    store.upsert_orders(std::slice::from_ref(&o)).await.unwrap();

    apply_one(
        store,
        user_track("refund-msg", "ann", 30),
        vec![refund_effect("refund-msg/refund", "o-1", Some(1500), 30)],
    )
    .await;
    let with_history = Order {
        history: vec![refunded(1500, 30)],
        ..o.clone()
    };
    store
        .upsert_orders(std::slice::from_ref(&with_history))
        .await
        .unwrap();
    store.upsert_orders(&[with_history]).await.unwrap();
    assert_eq!(
        store
            .record_refunds(&[refund(
                "shop-r1",
                "o-1",
                Some("ann"),
                1500,
                Currency::EUR,
                30
            )])
            .await
            .unwrap(),
        0
    );
    store
        .add_order_status(&oid("o-1"), &refunded(1500, 30))
        .await
        .unwrap();

    assert_eq!(store.order_refunds(&oid("o-1")).await.unwrap().len(), 1);
    assert_eq!(store.counts().await.unwrap().refunds, 1);
    let read = read_order(store, "o-1").await;
    assert_eq!(read.refunded(), 1500);
    assert_eq!(
        read.history
            .iter()
            .filter(|c| c.status == StatusKind::Refunded)
            .count(),
        1
    );
    assert_eq!(store.totals().await.unwrap()[0].refunds, 1500);

    // A second, different refund of the same amount at another time is a new refund.
    store
        .add_order_status(&oid("o-1"), &refunded(1500, 31))
        .await
        .unwrap();
    assert_eq!(read_order(store, "o-1").await.refunded(), 3000);
}

/// A refund larger than the order is kept as given and makes the order refunded.
pub async fn refund_larger_than_the_order(store: &dyn Store) {
    let o = order(
        "o-1",
        Some("ann"),
        Currency::EUR,
        vec![product_line("p-01", 1, 3000, 0)],
        0,
    );
    store.upsert_orders(&[o]).await.unwrap();
    assert_eq!(
        store
            .record_refunds(&[refund("r-big", "o-1", None, 10_000, Currency::EUR, 5)])
            .await
            .unwrap(),
        1
    );
    let read = read_order(store, "o-1").await;
    assert_eq!(read.refunded(), 10_000);
    assert_eq!(read.status(), OrderStatus::Refunded);
    assert_eq!(store.totals().await.unwrap()[0].refunds, 10_000);

    // Nothing is left to refund.
    apply_one(
        store,
        user_track("m-none", "ann", 6),
        vec![refund_effect("m-none/refund", "o-1", None, 6)],
    )
    .await;
    assert_eq!(read_order(store, "o-1").await.refunded(), 10_000);
}

/// A refund without an amount refunds what is left of the order; of an unknown order, nothing.
pub async fn refund_without_amount_refunds_what_is_left(store: &dyn Store) {
    let mut o = order(
        "o-1",
        Some("ann"),
        Currency::EUR,
        vec![product_line("p-01", 2, 2000, 0)],
        0,
    );
    o.tax = 1000;
    assert_eq!(o.total(), 5000);
    store.upsert_orders(&[o]).await.unwrap();
    store
        .record_refunds(&[refund("r-1", "o-1", Some("ann"), 1000, Currency::EUR, 5)])
        .await
        .unwrap();

    apply_one(
        store,
        user_track("m-rest", "ann", 6),
        vec![refund_effect("m-rest/refund", "o-1", None, 6)],
    )
    .await;
    let refunds = store.order_refunds(&oid("o-1")).await.unwrap();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[1].id, rid("m-rest/refund"));
    assert_eq!(
        (refunds[1].amount, refunds[1].currency, refunds[1].at),
        (4000, Currency::EUR, at(6))
    );
    assert_eq!(refunds[1].reason.as_deref(), Some("damaged"));
    let read = read_order(store, "o-1").await;
    assert_eq!(read.refunded(), 5000);
    assert_eq!(read.status(), OrderStatus::Refunded);

    apply_one(
        store,
        user_track("m-unknown", "ann", 7),
        vec![refund_effect("m-unknown/refund", "o-nope", None, 7)],
    )
    .await;
    assert_eq!(store.counts().await.unwrap().refunds, 2);
    assert!(store
        .order_refunds(&oid("o-nope"))
        .await
        .unwrap()
        .is_empty());
}

// ---- customers ----

/// Given fields replace stored ones, attributes merge key by key, absent fields are kept,
/// consent is replaced as a whole, and seen times only widen.
pub async fn customer_patches_merge(store: &dyn Store) {
    let granted = Consent {
        status: ConsentStatus::Granted,
        at: at(1),
        source: "checkout".into(),
    };
    let first = CustomerPatch {
        email: Some(Email::parse("ann@example.com").unwrap()),
        name: Some("Ann Example".into()),
        phone: Some("+49 30 1234567".into()),
        country: Some("DE".into()),
        city: Some("Berlin".into()),
        customer_type: Some(CustomerType::Business),
        consent: Some(granted.clone()),
        attributes: attrs(json!({"a": 1, "b": "x", "list": [1, 2]})),
        seen_at: Some(at(5)),
        ..CustomerPatch::id_only(cid("ann"))
    };
    assert_eq!(store.upsert_customers(&[first]).await.unwrap(), 1);
    let ann = store.customer(&cid("ann")).await.unwrap().expect("created");
    assert_eq!(ann.customer_type, CustomerType::Business);
    assert_eq!(ann.consent, Some(granted.clone()));
    assert_eq!((ann.first_seen, ann.last_seen), (Some(at(5)), Some(at(5))));

    let second = CustomerPatch {
        name: Some("Ann B. Example".into()),
        attributes: attrs(json!({"b": "y", "c": true})),
        seen_at: Some(at(2)),
        ..CustomerPatch::id_only(cid("ann"))
    };
    store.upsert_customers(&[second]).await.unwrap();
    let ann = store.customer(&cid("ann")).await.unwrap().unwrap();
    assert_eq!(ann.name.as_deref(), Some("Ann B. Example"));
    assert_eq!(
        ann.email.as_ref().map(Email::as_str),
        Some("ann@example.com"),
        "absent fields are kept"
    );
    assert_eq!(ann.phone.as_deref(), Some("+49 30 1234567"));
    assert_eq!(
        (ann.country.as_deref(), ann.city.as_deref()),
        (Some("DE"), Some("Berlin"))
    );
    assert_eq!(ann.customer_type, CustomerType::Business);
    assert_eq!(
        ann.attributes,
        attrs(json!({"a": 1, "b": "y", "c": true, "list": [1, 2]}))
    );
    assert_eq!(ann.consent, Some(granted));
    assert_eq!((ann.first_seen, ann.last_seen), (Some(at(2)), Some(at(5))));
    assert!(ann.updated_at.is_some());

    let denied = Consent {
        status: ConsentStatus::Denied,
        at: at(9),
        source: "unsubscribe-link".into(),
    };
    let third = CustomerPatch {
        consent: Some(denied.clone()),
        customer_type: Some(CustomerType::Consumer),
        seen_at: Some(at(3)),
        ..CustomerPatch::id_only(cid("ann"))
    };
    store
        .upsert_customers(&[third, CustomerPatch::id_only(cid("bob"))])
        .await
        .unwrap();
    let ann = store.customer(&cid("ann")).await.unwrap().unwrap();
    assert_eq!(ann.consent, Some(denied));
    assert_eq!(ann.customer_type, CustomerType::Consumer);
    assert_eq!(
        (ann.first_seen, ann.last_seen),
        (Some(at(2)), Some(at(5))),
        "a time inside the span changes nothing"
    );
    assert_eq!(ann.attributes.len(), 4);

    let bob = store
        .customer(&cid("bob"))
        .await
        .unwrap()
        .expect("an id-only patch creates the customer");
    assert_eq!(
        (bob.email, bob.consent, bob.customer_type),
        (None, None, CustomerType::Consumer)
    );
    assert!(bob.attributes.is_empty());
    assert!(store.customer(&cid("nobody")).await.unwrap().is_none());

    let page = store
        .customers(&PageRequest {
            after: None,
            limit: Some(1),
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec!["ann"]
    );
    let page = store
        .customers(&PageRequest {
            after: Some("ann".into()),
            limit: Some(10),
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec!["bob"]
    );
}

// ---- catalog ----

fn catalog_product(id: &str, title: &str) -> Product {
    Product {
        sku: Some(format!("SKU-{id}")),
        description: Some("Forged steel.".into()),
        category_path: vec!["Home".into(), "Kitchen".into(), "Knives".into()],
        brand: Some("Messerwerk".into()),
        price: Some(8900),
        tags: vec!["steel".into(), "gift".into()],
        inventory_quantity: Some(12),
        url: Some(format!("https://shop.example/p/{id}")),
        image_url: Some(format!("https://shop.example/img/{id}.jpg")),
        ..Product::new(pid(id), title, Currency::EUR)
    }
}

/// The product as written, without the times the store sets.
fn without_store_times(product: Product) -> Product {
    Product {
        created_at: None,
        updated_at: None,
        ..product
    }
}

/// Products are created, replaced whole (not merged) and listed by id in pages.
pub async fn products_upsert_replace_and_page(store: &dyn Store) {
    let products: Vec<Product> = (1..=5)
        .map(|i| catalog_product(&format!("p-0{i}"), &format!("Knife {i}")))
        .collect();
    assert_eq!(store.upsert_products(&products).await.unwrap(), 5);
    let read = store.product(&pid("p-03")).await.unwrap().expect("exists");
    assert!(
        read.updated_at.is_some() && read.created_at.is_some(),
        "the store sets the times"
    );
    assert_eq!(without_store_times(read), products[2]);

    let replaced = Product {
        price: Some(7900),
        in_stock: false,
        created_at: Some(at(-600)),
        ..Product::new(pid("p-03"), "Knife 3, second edition", Currency::USD)
    };
    assert_eq!(
        store
            .upsert_products(std::slice::from_ref(&replaced))
            .await
            .unwrap(),
        1
    );
    let read = store.product(&pid("p-03")).await.unwrap().unwrap();
    assert_eq!(
        read.created_at,
        Some(at(-600)),
        "a given creation time is kept"
    );
    assert_eq!(
        without_store_times(read),
        without_store_times(replaced),
        "replaced, not merged"
    );
    assert!(store.product(&pid("p-99")).await.unwrap().is_none());

    let page = |after: Option<&str>, limit: u32| PageRequest {
        after: after.map(str::to_owned),
        limit: Some(limit),
    };
    let list = |products: Vec<Product>| {
        products
            .into_iter()
            .map(|p| p.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(store.products(&page(None, 2)).await.unwrap()),
        vec!["p-01", "p-02"]
    );
    assert_eq!(
        list(store.products(&page(Some("p-02"), 2)).await.unwrap()),
        vec!["p-03", "p-04"]
    );
    assert_eq!(
        list(store.products(&page(Some("p-04"), 2)).await.unwrap()),
        vec!["p-05"]
    );
    assert!(store
        .products(&page(Some("p-05"), 2))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        list(store.products(&PageRequest::default()).await.unwrap()).len(),
        5
    );
    assert_eq!(store.counts().await.unwrap().products, 5);
}

// ---- keys ----

/// Keys are stored by hash, found while not revoked, listed oldest first, and unique.
pub async fn keys_insert_lookup_revoke(store: &dyn Store) {
    let key = |id: &str, kind: KeyKind, minute: i64| ApiKey {
        id: id.into(),
        name: format!("{id} for the site"),
        kind,
        hash: hash_secret(&format!("secret-of-{id}")),
        created_at: at(minute),
        revoked_at: None,
    };
    let write = key("key_a1", KeyKind::Write, 1);
    let secret = key("key_b2", KeyKind::Secret, 2);
    store.insert_key(&secret).await.unwrap();
    store.insert_key(&write).await.unwrap();

    assert_eq!(
        store.key_by_hash(&write.hash).await.unwrap(),
        Some(write.clone())
    );
    assert_eq!(
        store.key_by_hash(&secret.hash).await.unwrap(),
        Some(secret.clone())
    );
    assert_eq!(
        store.key_by_hash(&hash_secret("unknown")).await.unwrap(),
        None
    );
    assert_eq!(
        store.keys().await.unwrap(),
        vec![write.clone(), secret.clone()],
        "oldest first"
    );

    match store.insert_key(&write).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a duplicate key is a conflict, got {other:?}"),
    }

    assert!(store.revoke_key("key_a1").await.unwrap());
    assert!(!store.revoke_key("key_nope").await.unwrap());
    assert_eq!(
        store.key_by_hash(&write.hash).await.unwrap(),
        None,
        "revoked keys are not found"
    );
    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].revoked_at.is_some());
    assert_eq!(keys[1], secret);
}

// ---- facts ----

/// Counts of every kind, and order and refund totals per currency.
pub async fn counts_and_totals_per_currency(store: &dyn Store) {
    assert_eq!(store.counts().await.unwrap(), crate::Counts::default());
    assert!(store.totals().await.unwrap().is_empty());

    store
        .upsert_products(&[
            catalog_product("p-01", "A"),
            catalog_product("p-02", "B"),
            catalog_product("p-03", "C"),
        ])
        .await
        .unwrap();
    let usd = Currency::USD;
    let eur = Currency::EUR;
    let mut o1 = order(
        "o-1",
        Some("ann"),
        eur,
        vec![
            product_line("p-01", 2, 1000, 0),
            product_line("p-02", 1, 500, 100),
        ],
        1,
    );
    o1.lines.push(OrderLine {
        kind: LineKind::Shipping,
        product_id: None,
        sku: None,
        title: Some("Shipping".into()),
        quantity: 1,
        unit_price: 495,
        discount: 0,
    });
    let o2 = order(
        "o-2",
        Some("bob"),
        eur,
        vec![product_line("p-01", 1, 1000, 0)],
        2,
    );
    let o3 = order(
        "o-3",
        Some("ann"),
        usd,
        vec![product_line("p-03", 3, 700, 0)],
        3,
    );
    let o4 = order("o-4", None, eur, vec![product_line("p-02", 1, 500, 0)], 4);
    assert_eq!(store.upsert_orders(&[o1, o2, o3, o4]).await.unwrap(), 4);
    store
        .record_refunds(&[
            refund("r-1", "o-1", Some("ann"), 300, eur, 5),
            refund("r-2", "o-3", Some("ann"), 700, usd, 6),
        ])
        .await
        .unwrap();
    apply(
        store,
        vec![
            envelope(anon_track("e1", "v1", 1), vec![]),
            envelope(
                identify("e2", "v1", "ann", 2),
                vec![link("v1", "ann", MergeReason::Identify)],
            ),
            envelope(anon_track("e3", "v2", 3), vec![]),
        ],
    )
    .await;

    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts,
        crate::Counts {
            events: 3,
            customers: 2,
            linked_visitors: 1,
            orders: 4,
            guest_orders: 1,
            products: 3,
            refunds: 2
        }
    );

    let totals = store.totals().await.unwrap();
    assert_eq!(totals.len(), 2, "{totals:?}");
    let of = |currency: Currency| {
        totals
            .iter()
            .find(|t| t.currency == currency)
            .expect("a row per currency")
            .clone()
    };
    let eur_totals = of(eur);
    assert_eq!(eur_totals.orders, 3);
    assert_eq!(
        eur_totals.customers_with_orders, 2,
        "guests are not customers"
    );
    assert_eq!(eur_totals.products_sold, 2);
    assert_eq!(
        eur_totals.merchandise_revenue,
        2000 + 400 + 1000 + 500,
        "shipping lines are not merchandise"
    );
    assert_eq!(eur_totals.refunds, 300);
    let usd_totals = of(usd);
    assert_eq!(
        (
            usd_totals.orders,
            usd_totals.customers_with_orders,
            usd_totals.products_sold,
            usd_totals.merchandise_revenue
        ),
        (1, 1, 1, 2100)
    );
    assert_eq!(usd_totals.refunds, 700);
}

/// Orders without a customer are kept as guest orders and create no customer.
pub async fn guest_orders(store: &dyn Store) {
    let guest = Order {
        email: Some(Email::parse("guest@Example.org").unwrap()),
        anonymous_id: Some(aid("v-guest")),
        ..order(
            "o-g",
            None,
            Currency::GBP,
            vec![product_line("p-01", 1, 1500, 0)],
            1,
        )
    };
    store
        .upsert_orders(std::slice::from_ref(&guest))
        .await
        .unwrap();
    assert_eq!(read_order(store, "o-g").await, guest);
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (
            counts.orders,
            counts.guest_orders,
            counts.customers,
            counts.linked_visitors
        ),
        (1, 1, 0, 0)
    );
    assert_eq!(store.visitor_customer(&aid("v-guest")).await.unwrap(), None);
    let totals = store.totals().await.unwrap();
    assert_eq!(
        (
            totals[0].currency,
            totals[0].orders,
            totals[0].customers_with_orders
        ),
        (Currency::GBP, 1, 0)
    );

    // The shop later learns who it was.
    let known = Order {
        customer_id: Some(cid("gina")),
        ..guest
    };
    store
        .upsert_orders(std::slice::from_ref(&known))
        .await
        .unwrap();
    assert_eq!(read_order(store, "o-g").await, known);
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.orders, counts.guest_orders, counts.customers),
        (1, 0, 1)
    );
    assert_eq!(
        store.visitor_customer(&aid("v-guest")).await.unwrap(),
        Some(cid("gina"))
    );
    assert_eq!(
        store.customer_orders(&cid("gina"), 5).await.unwrap(),
        vec![known]
    );
}

// ---- values ----

/// An id of exactly 255 bytes made of multi-byte characters.
fn long_id(prefix: &str) -> String {
    let mut id = prefix.to_owned();
    while id.len() + "字".len() <= 255 {
        id.push('字');
    }
    while id.len() < 255 {
        id.push('x');
    }
    id
}

/// Non-ASCII text, ids at their maximum length and long values come back unchanged.
pub async fn unicode_and_long_values_round_trip(store: &dyn Store) {
    let long_text: String = "Grüße 🦀 مرحبا ʻōlelo\u{301} — ".repeat(2_000);
    let user = long_id("ü-");
    let visitor = long_id("v-");
    let product = long_id("p-");
    let order_id = long_id("o-");
    assert_eq!(user.len(), 255);

    let mut m = Message {
        user_id: Some(cid(&user)),
        anonymous_id: Some(aid(&visitor)),
        event: Some("Produkt angesehen ✓".into()),
        session_id: Some("séance".into()),
        group_id: Some("グループ".into()),
        properties: attrs(json!({
            "naïve key 🗝": long_text,
            "nested": {"list": ["ä", "😀", null, 1.5, -7, true], "empty": {}},
            "quote\"and\\backslash": "line\nbreak\ttab",
        })),
        traits: attrs(json!({"name": "Zoë 🦊"})),
        ..message("msg-ユニコード-1", MessageKind::Track, 1)
    };
    m.context.city = Some("Zürich".into());
    m.context.raw = attrs(json!({"page": {"title": long_text.clone()}, "ip": "2001:db8::1"}));
    apply_one(store, m.clone(), vec![]).await;
    let events = store.customer_events(&cid(&user), 1).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, m);

    let patch = CustomerPatch {
        name: Some("Ægir Ørsted-Łukasz 李小龍".into()),
        city: Some("Zürich".into()),
        attributes: attrs(json!({"bio": long_text.clone(), "emoji": "👩‍👩‍👧"})),
        ..CustomerPatch::id_only(cid(&user))
    };
    store.upsert_customers(&[patch]).await.unwrap();
    let customer = store.customer(&cid(&user)).await.unwrap().expect("exists");
    assert_eq!(customer.name.as_deref(), Some("Ægir Ørsted-Łukasz 李小龍"));
    assert_eq!(
        customer.attributes.get("bio"),
        Some(&json!(long_text.clone()))
    );
    assert_eq!(customer.attributes.get("emoji"), Some(&json!("👩‍👩‍👧")));

    let p = Product {
        description: Some(long_text.clone()),
        category_path: vec!["Küche".into(), "Messer & Scheren".into(), "包丁".into()],
        tags: vec!["🔪".into()],
        ..Product::new(
            pid(&product),
            "Santoku 三徳包丁 — handgeschmiedet",
            Currency::parse("JPY").unwrap(),
        )
    };
    store
        .upsert_products(std::slice::from_ref(&p))
        .await
        .unwrap();
    assert_eq!(
        without_store_times(store.product(&pid(&product)).await.unwrap().unwrap()),
        p
    );

    let mut line = product_line(&product, 1, 12_000, 0);
    line.title = Some("Santoku 三徳包丁".into());
    let o = Order {
        coupon: Some("SCHÖN-🎁".into()),
        history: vec![StatusChange {
            note: Some(long_text.clone()),
            ..status(StatusKind::Paid, 2)
        }],
        ..order(
            &order_id,
            Some(&user),
            Currency::parse("JPY").unwrap(),
            vec![line],
            1,
        )
    };
    store.upsert_orders(std::slice::from_ref(&o)).await.unwrap();
    assert_eq!(read_order(store, &order_id).await, o);
}

// ---- analytics facts ----

/// Event facts: only track/page/screen calls, in (time, seq) order, by name and range, with
/// people resolved (a linked visitor's earlier events are the customer's) and product details.
pub async fn event_facts_resolve_people_and_read_details(store: &dyn Store) {
    use crate::facts::{EventQuery, TimeRange};
    let mut page = anon_track("m-page", "v-1", 1);
    page.kind = MessageKind::Page;
    page.event = Some("Home".into());
    let mut added = anon_track("m-add", "v-1", 3);
    added.event = Some("Product Added".into());
    added.properties = attrs(
        json!({"product_id": "p-7", "category": "Home > Kitchen", "price": "12.50", "quantity": 2, "currency": "EUR"}),
    );
    store
        .apply(vec![
            envelope(anon_track("m-view", "v-1", 2), vec![]),
            envelope(page, vec![]),
            envelope(added, vec![]),
            envelope(anon_track("m-other", "v-2", 2), vec![]),
            envelope(
                identify("m-identify", "v-1", "ann", 4),
                vec![link("v-1", "ann", MergeReason::Identify)],
            ),
            envelope(user_track("m-late", "ann", 90), vec![]),
        ])
        .await
        .unwrap();

    let all = store
        .event_facts(&EventQuery {
            range: TimeRange::new(at(0), at(60)),
            names: Vec::new(),
            details: true,
            seqs: None,
        })
        .await
        .unwrap();
    let seen: Vec<(&str, &str)> = all
        .iter()
        .map(|e| (e.person.as_str(), e.event.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("c:ann", "Page Viewed"),
            ("c:ann", "Product Viewed"),
            ("v:v-2", "Product Viewed"),
            ("c:ann", "Product Added"),
        ],
        "identify is no fact, the late event is out of range, ties in time keep arrival order"
    );
    let add = &all[3];
    assert_eq!(add.product_id.as_deref(), Some("p-7"));
    assert_eq!(add.category.as_deref(), Some("Home"));
    assert_eq!(add.value, Some(2500));
    assert_eq!(add.currency, Some(Currency::EUR));
    assert_eq!(add.customer_id, Some(cid("ann")));
    assert_eq!(add.session_id.as_deref(), Some("s-1"));
    assert_eq!(add.device.as_deref(), Some("mobile"));
    assert_eq!(add.country.as_deref(), Some("DE"));
    assert_eq!(
        (
            add.source.as_deref(),
            add.medium.as_deref(),
            add.campaign.as_deref()
        ),
        (Some("newsletter"), Some("email"), Some("spring"))
    );
    assert_eq!(all[1].value, Some(1999), "price without quantity");

    let named = store
        .event_facts(&EventQuery {
            range: TimeRange::all(),
            names: vec!["Page Viewed".into(), "Product Viewed".into()],
            details: false,
            seqs: None,
        })
        .await
        .unwrap();
    let names: Vec<&str> = named.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "Page Viewed",
            "Product Viewed",
            "Product Viewed",
            "Product Viewed"
        ]
    );
    assert_eq!(named.last().unwrap().at, at(90));
}

/// Order facts carry their product lines with the catalog's top category, cancellations,
/// guests (a guest order of a linked visitor is the customer's); refund and customer facts.
pub async fn order_refund_and_customer_facts(store: &dyn Store) {
    use crate::facts::TimeRange;
    store
        .upsert_products(&[catalog_product("p-01", "Knife")])
        .await
        .unwrap();
    let mut knives = order(
        "o-1",
        Some("ann"),
        Currency::EUR,
        vec![
            product_line("p-01", 2, 8900, 100),
            product_line("p-99", 1, 500, 0),
        ],
        10,
    );
    knives.shipping = 490;
    let mut guest = order(
        "o-2",
        None,
        Currency::EUR,
        vec![product_line("p-01", 1, 8900, 0)],
        20,
    );
    guest.anonymous_id = Some(aid("v-9"));
    let lone = order(
        "o-3",
        None,
        Currency::USD,
        vec![product_line("p-01", 1, 100, 0)],
        30,
    );
    let mut cancelled = order(
        "o-4",
        Some("bob"),
        Currency::EUR,
        vec![product_line("p-01", 1, 100, 0)],
        40,
    );
    cancelled.history = vec![status(StatusKind::Cancelled, 41)];
    store
        .upsert_orders(&[knives, guest, lone, cancelled])
        .await
        .unwrap();
    store
        .apply(vec![envelope(
            identify("m-id", "v-9", "cat", 50),
            vec![link("v-9", "cat", MergeReason::Identify)],
        )])
        .await
        .unwrap();
    store
        .record_refunds(&[
            refund("r-1", "o-1", Some("ann"), 1000, Currency::EUR, 60),
            refund("r-2", "o-3", None, 100, Currency::USD, 200),
        ])
        .await
        .unwrap();

    let orders = store
        .order_facts(TimeRange::new(at(0), at(40)))
        .await
        .unwrap();
    let ids: Vec<&str> = orders.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, vec!["o-1", "o-2", "o-3"]);
    let o1 = &orders[0];
    assert_eq!(
        (o1.person.as_str(), o1.merchandise, o1.total),
        ("c:ann", 2 * 8900 - 100 + 500, 2 * 8900 - 100 + 500 + 490)
    );
    assert_eq!(o1.lines.len(), 2);
    assert_eq!(o1.lines[0].category.as_deref(), Some("Home"));
    assert_eq!((o1.lines[0].quantity, o1.lines[0].amount), (2, 17700));
    assert_eq!(o1.lines[1].category, None, "not in the catalog");
    assert_eq!(
        orders[1].person, "c:cat",
        "the guest's visitor was linked later"
    );
    assert_eq!(orders[1].customer_id, Some(cid("cat")));
    assert_eq!(
        (orders[2].person.as_str(), orders[2].currency),
        ("o:o-3", Currency::USD)
    );
    assert!(!o1.cancelled);
    let all = store.order_facts(TimeRange::all()).await.unwrap();
    assert!(all[3].cancelled);

    let refunds = store.refund_facts(TimeRange::until(at(100))).await.unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(
        (
            refunds[0].amount,
            refunds[0].order_id.as_ref().map(|o| o.as_str())
        ),
        (1000, Some("o-1"))
    );
    assert_eq!(refunds[0].customer_id, Some(cid("ann")));
    assert_eq!(store.refund_facts(TimeRange::all()).await.unwrap().len(), 2);

    let customers = store.customer_facts().await.unwrap();
    let ids: Vec<&str> = customers.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["ann", "bob", "cat"]);
    assert_eq!(customers[0].person(), "c:ann");
}

/// What a copy kept in memory catches up with: the marks move with every kind of change, the
/// events between two marks are read by sequence number, and the identity log, replayed on the
/// person keys read before, gives the keys the events have now.
pub async fn marks_and_identity_log_for_catching_up(store: &dyn Store) {
    use crate::facts::{EventQuery, SeqRange, TimeRange};
    let empty = store.fact_marks().await.unwrap();
    assert_eq!((empty.events, empty.identities), (0, 0));
    apply(
        store,
        vec![
            envelope(anon_track("c-1", "v-a", 1), vec![]),
            envelope(anon_track("c-2", "v-b", 2), vec![]),
            envelope(user_track("c-3", "kim", 3), vec![]),
        ],
    )
    .await;
    let first = store.fact_marks().await.unwrap();
    assert!(first.events > 0);
    assert_eq!(first.identities, 0);
    let read = |after: i64, through: i64| async move {
        store
            .event_facts(&EventQuery {
                range: TimeRange::all(),
                names: Vec::new(),
                details: true,
                seqs: Some(SeqRange { after, through }),
            })
            .await
            .unwrap()
    };
    let before: Vec<(i64, String)> = read(0, first.events)
        .await
        .into_iter()
        .map(|e| (e.seq, e.person))
        .collect();
    assert_eq!(before.len(), 3);

    // v-a becomes ann, then ann is merged into kim; an order and a refund arrive.
    apply(
        store,
        vec![
            envelope(
                identify("c-4", "v-a", "ann", 4),
                vec![link("v-a", "ann", MergeReason::Identify)],
            ),
            envelope(anon_track("c-5", "v-b", 5), vec![]),
        ],
    )
    .await;
    let alias = Message {
        user_id: Some(cid("kim")),
        previous_id: Some("ann".into()),
        ..message("c-6", MessageKind::Alias, 6)
    };
    apply_one(
        store,
        alias,
        vec![
            Effect::MergeCustomers {
                from: cid("ann"),
                into: cid("kim"),
            },
            link("ann", "kim", MergeReason::Alias),
        ],
    )
    .await;
    let second = store.fact_marks().await.unwrap();
    assert!(second.events > first.events);
    assert!(second.identities > first.identities);
    assert_eq!(second.orders, first.orders);
    let new: Vec<i64> = read(first.events, second.events)
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(new.len(), 1, "only the one new track event is a fact");
    assert!(new[0] > first.events);

    let changes = store
        .identity_changes(first.identities, second.identities)
        .await
        .unwrap();
    assert!(changes.windows(2).all(|w| w[0].id < w[1].id));
    let mut replayed = before.clone();
    for (from, to) in changes.iter().filter_map(|c| c.person_keys()) {
        for (_, person) in &mut replayed {
            if *person == from {
                *person = to.clone();
            }
        }
    }
    let now: Vec<(i64, String)> = read(0, first.events)
        .await
        .into_iter()
        .map(|e| (e.seq, e.person))
        .collect();
    assert_eq!(replayed, now);
    assert_eq!(now.iter().filter(|(_, p)| p == "c:kim").count(), 2);

    let o = order(
        "c-o",
        Some("kim"),
        Currency::EUR,
        vec![product_line("p-01", 1, 4000, 0)],
        7,
    );
    store.upsert_orders(&[o]).await.unwrap();
    let third = store.fact_marks().await.unwrap();
    assert_ne!(third.orders, second.orders);
    assert_eq!(third.refunds, second.refunds);
    store
        .record_refunds(&[refund("c-r", "c-o", Some("kim"), 500, Currency::EUR, 8)])
        .await
        .unwrap();
    let fourth = store.fact_marks().await.unwrap();
    assert_ne!(fourth.refunds, third.refunds);
    let customers = store.customer_mark().await.unwrap();
    assert!(customers.rows >= 2);
}

// ---- customer intelligence ----

fn segment_record(key: &str, minute: i64) -> SegmentRecord {
    SegmentRecord {
        key: key.to_owned(),
        name: format!("Segment {key}"),
        description: Some("Customers for a test.".into()),
        expression: "orders.count >= 1 and country = \"DE\"".into(),
        system: false,
        created_at: at(minute),
        updated_at: at(minute),
    }
}

fn enter(segment: &str, customer: &str, minute: i64) -> MembershipChange {
    MembershipChange {
        segment: segment.to_owned(),
        customer_id: cid(customer),
        entered: true,
        at: at(minute),
    }
}

fn leave(segment: &str, customer: &str, minute: i64) -> MembershipChange {
    MembershipChange {
        entered: false,
        ..enter(segment, customer, minute)
    }
}

async fn make_customers(store: &dyn Store, ids: &[&str]) {
    let patches: Vec<CustomerPatch> = ids
        .iter()
        .map(|id| CustomerPatch::id_only(cid(id)))
        .collect();
    store.upsert_customers(&patches).await.unwrap();
}

/// (segment, customer, entered, minute) of history entries, for comparing.
fn history(changes: &[SegmentChange]) -> Vec<(String, String, bool, DateTime<Utc>)> {
    changes
        .iter()
        .map(|c| {
            (
                c.segment.clone(),
                c.customer_id.as_str().to_owned(),
                c.entered,
                c.at,
            )
        })
        .collect()
}

fn entry(
    segment: &str,
    customer: &str,
    entered: bool,
    minute: i64,
) -> (String, String, bool, DateTime<Utc>) {
    (segment.to_owned(), customer.to_owned(), entered, at(minute))
}

async fn last_change_id(store: &dyn Store) -> i64 {
    store
        .segment_changes(0, u32::MAX)
        .await
        .unwrap()
        .last()
        .map_or(0, |c| c.id)
}

fn id_strs(ids: &[CustomerId]) -> Vec<&str> {
    ids.iter().map(CustomerId::as_str).collect()
}

/// Segment definitions are created, replaced by key (keeping their creation time), listed by
/// key and deleted; keys that are no slug are refused.
pub async fn segments_are_defined_replaced_and_deleted(store: &dyn Store) {
    let vip = SegmentRecord {
        system: true,
        ..segment_record("vip", 0)
    };
    store.put_segment(&vip).await.unwrap();
    store
        .put_segment(&segment_record("at-risk_2", 1))
        .await
        .unwrap();
    assert_eq!(store.segment("vip").await.unwrap(), Some(vip.clone()));
    let keys: Vec<String> = store
        .segments()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, vec!["at-risk_2", "vip"]);

    let replaced = SegmentRecord {
        name: "Very important".into(),
        description: None,
        expression: "clv.predicted > 500".into(),
        created_at: at(50),
        updated_at: at(60),
        ..vip.clone()
    };
    store.put_segment(&replaced).await.unwrap();
    assert_eq!(
        store.segment("vip").await.unwrap(),
        Some(SegmentRecord {
            created_at: at(0),
            ..replaced
        }),
        "replaced, keeping the first creation time"
    );

    for bad in ["", "VIP", "big spenders", "café", &"k".repeat(65)] {
        let err = store
            .put_segment(&segment_record(bad, 2))
            .await
            .expect_err("an invalid key is refused");
        assert!(matches!(err, StoreError::Conflict(_)), "{bad:?}: {err:?}");
        assert_eq!(store.segment(bad).await.unwrap(), None);
    }
    store
        .put_segment(&segment_record(&"k".repeat(64), 2))
        .await
        .unwrap();
    assert_eq!(store.segments().await.unwrap().len(), 3);

    assert!(store.segment("nope").await.unwrap().is_none());
    assert!(store.delete_segment("at-risk_2", at(70)).await.unwrap());
    assert!(!store.delete_segment("at-risk_2", at(71)).await.unwrap());
    assert!(!store.delete_segment("NOT A KEY", at(71)).await.unwrap());
    assert!(store.segment("at-risk_2").await.unwrap().is_none());
    assert_eq!(store.segments().await.unwrap().len(), 2);
    assert!(
        store.segment_changes(0, 100).await.unwrap().is_empty(),
        "a segment without members leaves no history"
    );
}

/// Entering and leaving: a change that changes nothing is not logged, so applying changes
/// again is a no-op; the history keeps every entry and exit in order; members page by id;
/// customers that do not exist are skipped and undefined segments refused.
pub async fn memberships_are_idempotent_and_logged(store: &dyn Store) {
    store
        .put_segment(&segment_record("buyers", 0))
        .await
        .unwrap();
    store.put_segment(&segment_record("vip", 0)).await.unwrap();
    make_customers(store, &["ann", "bob", "cat"]).await;

    let first = vec![
        enter("buyers", "ann", 1),
        enter("buyers", "bob", 2),
        enter("buyers", "ann", 3),
        enter("vip", "ann", 4),
        enter("buyers", "nobody", 5),
    ];
    assert_eq!(store.change_memberships(&first).await.unwrap(), 3);
    assert_eq!(
        store.change_memberships(&first).await.unwrap(),
        0,
        "idempotent"
    );
    assert_eq!(store.change_memberships(&[]).await.unwrap(), 0);
    let changes = store.segment_changes(0, 100).await.unwrap();
    assert_eq!(
        history(&changes),
        vec![
            entry("buyers", "ann", true, 1),
            entry("buyers", "bob", true, 2),
            entry("vip", "ann", true, 4),
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].id < w[1].id));

    assert_eq!(store.segment_size("buyers").await.unwrap(), 2);
    assert_eq!(store.segment_size("nope").await.unwrap(), 0);
    assert_eq!(
        id_strs(&store.member_ids("buyers").await.unwrap()),
        vec!["ann", "bob"]
    );
    let page = |after: Option<&str>, limit: u32| PageRequest {
        after: after.map(str::to_owned),
        limit: Some(limit),
    };
    assert_eq!(
        store
            .segment_members("buyers", &page(None, 1))
            .await
            .unwrap(),
        vec![SegmentMember {
            customer_id: cid("ann"),
            entered_at: at(1)
        }]
    );
    assert_eq!(
        store
            .segment_members("buyers", &page(Some("ann"), 10))
            .await
            .unwrap(),
        vec![SegmentMember {
            customer_id: cid("bob"),
            entered_at: at(2)
        }]
    );
    assert!(store
        .segment_members("buyers", &page(Some("bob"), 10))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .segment_members("buyers", &PageRequest::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.customer_segments(&cid("ann")).await.unwrap(),
        vec![
            CustomerSegment {
                segment: "buyers".into(),
                entered_at: at(1)
            },
            CustomerSegment {
                segment: "vip".into(),
                entered_at: at(4)
            },
        ]
    );
    assert!(store
        .customer_segments(&cid("cat"))
        .await
        .unwrap()
        .is_empty());

    // Leaving: only members leave; an exit from an undefined segment changes nothing.
    let seen = last_change_id(store).await;
    let exits = vec![
        leave("buyers", "bob", 10),
        leave("buyers", "cat", 11),
        leave("ghost", "ann", 12),
    ];
    assert_eq!(store.change_memberships(&exits).await.unwrap(), 1);
    assert_eq!(store.change_memberships(&exits).await.unwrap(), 0);
    // Out and back in within one call: both logged, the last entry time kept.
    let back = vec![
        enter("buyers", "bob", 20),
        leave("buyers", "bob", 21),
        enter("buyers", "bob", 22),
        leave("vip", "ann", 23),
        enter("vip", "ann", 24),
    ];
    assert_eq!(store.change_memberships(&back).await.unwrap(), 5);
    assert_eq!(
        history(&store.segment_changes(seen, 100).await.unwrap()),
        vec![
            entry("buyers", "bob", false, 10),
            entry("buyers", "bob", true, 20),
            entry("buyers", "bob", false, 21),
            entry("buyers", "bob", true, 22),
            entry("vip", "ann", false, 23),
            entry("vip", "ann", true, 24),
        ],
        "only what happened after the last id seen"
    );
    assert_eq!(
        store
            .segment_members("buyers", &page(Some("ann"), 10))
            .await
            .unwrap(),
        vec![SegmentMember {
            customer_id: cid("bob"),
            entered_at: at(22)
        }]
    );
    assert_eq!(
        store.customer_segments(&cid("ann")).await.unwrap()[1].entered_at,
        at(24)
    );
    let all = store.segment_changes(0, 100).await.unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(
        store.segment_changes(0, 2).await.unwrap(),
        all[..2].to_vec()
    );
    assert_eq!(
        store.segment_changes(all[6].id, 100).await.unwrap(),
        all[7..].to_vec()
    );

    // Entering an undefined segment fails the whole call.
    let err = store
        .change_memberships(&[enter("buyers", "cat", 30), enter("ghost", "cat", 30)])
        .await
        .expect_err("an undefined segment is refused");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = store
        .change_memberships(&[enter("Not A Key", "cat", 30)])
        .await
        .expect_err("a key that is no slug names no segment");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        store.segment_size("buyers").await.unwrap(),
        2,
        "nothing written"
    );
    assert_eq!(store.segment_changes(0, 100).await.unwrap(), all);
}

/// Deleting a segment removes its members, logging each one leaving at the given time.
pub async fn deleting_a_segment_logs_its_members_leaving(store: &dyn Store) {
    store
        .put_segment(&segment_record("lapsed", 0))
        .await
        .unwrap();
    store.put_segment(&segment_record("vip", 0)).await.unwrap();
    make_customers(store, &["ann", "bob"]).await;
    store
        .change_memberships(&[
            enter("lapsed", "bob", 1),
            enter("lapsed", "ann", 2),
            enter("vip", "ann", 3),
        ])
        .await
        .unwrap();
    let seen = last_change_id(store).await;

    assert!(store.delete_segment("lapsed", at(40)).await.unwrap());
    assert_eq!(
        history(&store.segment_changes(seen, 100).await.unwrap()),
        vec![
            entry("lapsed", "ann", false, 40),
            entry("lapsed", "bob", false, 40),
        ]
    );
    assert!(store.segment("lapsed").await.unwrap().is_none());
    assert_eq!(store.segment_size("lapsed").await.unwrap(), 0);
    assert!(store.member_ids("lapsed").await.unwrap().is_empty());
    assert_eq!(
        store.customer_segments(&cid("ann")).await.unwrap(),
        vec![CustomerSegment {
            segment: "vip".into(),
            entered_at: at(3)
        }]
    );
    assert!(store
        .customer_segments(&cid("bob"))
        .await
        .unwrap()
        .is_empty());

    // Defined again, it starts empty; entering it is allowed again.
    store
        .put_segment(&segment_record("lapsed", 41))
        .await
        .unwrap();
    assert_eq!(store.segment_size("lapsed").await.unwrap(), 0);
    assert_eq!(
        store
            .change_memberships(&[enter("lapsed", "bob", 42)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.segment_changes(0, 100).await.unwrap().len(), 6);
}

/// A merge takes the merged-away customer out of every segment (logged at the merge's time)
/// and deletes its scores; it can enter no segment and get no scores afterwards.
pub async fn merging_customers_drops_the_old_memberships_and_scores(store: &dyn Store) {
    apply(
        store,
        vec![
            envelope(user_track("old-e", "old", 1), vec![]),
            envelope(user_track("new-e", "new", 2), vec![]),
        ],
    )
    .await;
    store
        .put_segment(&segment_record("buyers", 0))
        .await
        .unwrap();
    store.put_segment(&segment_record("vip", 0)).await.unwrap();
    store
        .change_memberships(&[
            enter("vip", "old", 3),
            enter("buyers", "old", 4),
            enter("buyers", "new", 5),
        ])
        .await
        .unwrap();
    let scores = |customer: &str, minute: i64| CustomerScores {
        customer_id: cid(customer),
        computed_at: at(minute),
        scores: json!({"rfm": "555", "frequency": 3}),
    };
    assert_eq!(
        store
            .put_scores(&[scores("old", 6), scores("new", 6)])
            .await
            .unwrap(),
        2
    );
    let seen = last_change_id(store).await;

    let alias = Message {
        user_id: Some(cid("new")),
        previous_id: Some("old".into()),
        ..message("al", MessageKind::Alias, 50)
    };
    apply_one(
        store,
        alias,
        vec![
            Effect::MergeCustomers {
                from: cid("old"),
                into: cid("new"),
            },
            link("old", "new", MergeReason::Alias),
        ],
    )
    .await;

    assert_eq!(
        history(&store.segment_changes(seen, 100).await.unwrap()),
        vec![
            entry("buyers", "old", false, 50),
            entry("vip", "old", false, 50),
        ],
        "the merged-away customer left, by segment key, at the merge's time"
    );
    assert!(store
        .customer_segments(&cid("old"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.customer_segments(&cid("new")).await.unwrap(),
        vec![CustomerSegment {
            segment: "buyers".into(),
            entered_at: at(5)
        }],
        "the survivor keeps its own memberships"
    );
    assert_eq!(
        id_strs(&store.member_ids("buyers").await.unwrap()),
        vec!["new"]
    );
    assert!(store.customer_scores(&cid("old")).await.unwrap().is_none());
    assert_eq!(
        store.customer_scores(&cid("new")).await.unwrap(),
        Some(scores("new", 6))
    );
    assert_eq!(store.all_scores().await.unwrap(), vec![scores("new", 6)]);

    // The merged-away customer cannot come back in, nor get scores.
    assert_eq!(
        store
            .change_memberships(&[enter("vip", "old", 60), enter("vip", "new", 61)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        id_strs(&store.member_ids("vip").await.unwrap()),
        vec!["new"]
    );
    assert_eq!(store.put_scores(&[scores("old", 62)]).await.unwrap(), 0);
    assert!(store.customer_scores(&cid("old")).await.unwrap().is_none());
    // A merge of a customer without memberships logs nothing.
    apply(store, vec![envelope(user_track("x-e", "x", 63), vec![])]).await;
    let seen = last_change_id(store).await;
    let alias = Message {
        user_id: Some(cid("new")),
        previous_id: Some("x".into()),
        ..message("al-x", MessageKind::Alias, 64)
    };
    apply_one(
        store,
        alias,
        vec![Effect::MergeCustomers {
            from: cid("x"),
            into: cid("new"),
        }],
    )
    .await;
    assert!(store.segment_changes(seen, 100).await.unwrap().is_empty());
}

/// Scores are upserted in bulk (the last row of a customer wins), skip customers that do not
/// exist, read back as written, and are listed by customer id.
pub async fn scores_are_upserted_in_bulk(store: &dyn Store) {
    let ids: Vec<String> = (0..6_000).map(|i| format!("c-{i:05}")).collect();
    let patches: Vec<CustomerPatch> = ids
        .iter()
        .map(|id| CustomerPatch::id_only(cid(id)))
        .collect();
    store.upsert_customers(&patches).await.unwrap();
    let value = |i: usize| {
        json!({
            "rfm": {"r": i % 5 + 1, "f": 3, "m": 4},
            "clv": 123.25,
            "label": "champions ✓",
            "list": [1, null, true, "x"],
        })
    };
    let mut rows: Vec<CustomerScores> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| CustomerScores {
            customer_id: cid(id),
            computed_at: at(1),
            scores: value(i),
        })
        .collect();
    rows.push(CustomerScores {
        customer_id: cid("ghost"),
        computed_at: at(1),
        scores: json!({}),
    });
    let again = CustomerScores {
        customer_id: cid("c-00001"),
        computed_at: at(2),
        scores: json!({"rfm": "again"}),
    };
    rows.push(again.clone());
    assert_eq!(store.put_scores(&rows).await.unwrap(), 6_000);
    assert_eq!(store.put_scores(&[]).await.unwrap(), 0);

    assert_eq!(
        store.customer_scores(&cid("c-00001")).await.unwrap(),
        Some(again),
        "the last row of a customer wins"
    );
    assert!(store
        .customer_scores(&cid("ghost"))
        .await
        .unwrap()
        .is_none());
    let all = store.all_scores().await.unwrap();
    assert_eq!(all.len(), 6_000);
    assert!(all.windows(2).all(|w| w[0].customer_id < w[1].customer_id));
    assert_eq!(all[0], rows[0]);
    assert_eq!(all[5_999], rows[5_999]);

    // Upserting replaces.
    let newer = CustomerScores {
        customer_id: cid("c-00002"),
        computed_at: at(3),
        scores: json!(42),
    };
    assert_eq!(
        store
            .put_scores(std::slice::from_ref(&newer))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.customer_scores(&cid("c-00002")).await.unwrap(),
        Some(newer)
    );
    assert_eq!(store.all_scores().await.unwrap().len(), 6_000);
}

/// The ids of the customers not merged away, in pages.
pub async fn customer_ids_page_the_live_customers(store: &dyn Store) {
    assert!(store
        .customer_ids(&PageRequest::default())
        .await
        .unwrap()
        .is_empty());
    make_customers(store, &["ann", "bob", "cat", "dan"]).await;
    let alias = Message {
        user_id: Some(cid("dan")),
        previous_id: Some("bob".into()),
        ..message("al", MessageKind::Alias, 5)
    };
    apply_one(
        store,
        alias,
        vec![Effect::MergeCustomers {
            from: cid("bob"),
            into: cid("dan"),
        }],
    )
    .await;
    let page = |after: Option<&str>, limit: u32| PageRequest {
        after: after.map(str::to_owned),
        limit: Some(limit),
    };
    assert_eq!(
        id_strs(&store.customer_ids(&page(None, 2)).await.unwrap()),
        vec!["ann", "cat"]
    );
    assert_eq!(
        id_strs(&store.customer_ids(&page(Some("cat"), 2)).await.unwrap()),
        vec!["dan"]
    );
    assert!(store
        .customer_ids(&page(Some("dan"), 2))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        id_strs(&store.customer_ids(&PageRequest::default()).await.unwrap()),
        vec!["ann", "cat", "dan"]
    );
}

/// Profiles: the customer as stored, their orders (guest orders of their visitors too) with
/// refunds netted, cancellations and the catalog's category and brand on lines, and their
/// track/page/screen events with product, category, brand, query, device and source, from
/// `events_since` on. Customers that do not exist or are merged are left out.
pub async fn profile_data_reads_orders_events_and_the_catalog(store: &dyn Store) {
    let garden = Product {
        category_path: vec!["Garden".into()],
        ..Product::new(pid("p-02"), "Rake", Currency::EUR)
    };
    store
        .upsert_products(&[catalog_product("p-01", "Knife"), garden])
        .await
        .unwrap();

    // ann: an old event, an anonymous event that her identify links, page, product and search
    // events (the identify itself is no event of a profile).
    let mut page = user_track("a-page", "ann", 5);
    page.kind = MessageKind::Page;
    page.event = Some("Home".into());
    page.properties = attrs(json!({}));
    let mut viewed = user_track("a-view", "ann", 6);
    viewed.properties = attrs(json!({"product_id": "p-01", "category": "Home > Kitchen"}));
    viewed.context.device_type = Some("desktop".into());
    viewed.context.attribution.source = None;
    let mut branded = user_track("a-brand", "ann", 7);
    branded.properties = attrs(json!({"product_id": "p-01", "brand": "Acme"}));
    let mut searched = user_track("a-search", "ann", 8);
    searched.event = Some("Products Searched".into());
    searched.properties = attrs(json!({"query": "  santoku ", "sku": 42}));
    apply(
        store,
        vec![
            envelope(user_track("a-old", "ann", 1), vec![]),
            envelope(anon_track("a-anon", "v-ann", 3), vec![]),
            envelope(page, vec![]),
            envelope(viewed, vec![]),
            envelope(branded, vec![]),
            envelope(searched, vec![]),
            envelope(
                identify("a-identify", "v-ann", "ann", 9),
                vec![link("v-ann", "ann", MergeReason::Identify)],
            ),
            envelope(user_track("b-view", "bob", 2), vec![]),
            envelope(user_track("c-view", "cat", 4), vec![]),
        ],
    )
    .await;

    let mut knives = order(
        "o-1",
        Some("ann"),
        Currency::EUR,
        vec![
            product_line("p-01", 2, 8900, 100),
            product_line("p-99", 1, 500, 0),
            OrderLine {
                kind: LineKind::Shipping,
                product_id: None,
                sku: None,
                title: Some("Parcel".into()),
                quantity: 1,
                unit_price: 490,
                discount: 0,
            },
        ],
        10,
    );
    knives.tax = 700;
    let mut rakes = order(
        "o-2",
        Some("ann"),
        Currency::EUR,
        vec![product_line("p-02", 3, 1000, 0)],
        20,
    );
    rakes.history = vec![status(StatusKind::Cancelled, 21)];
    let mut guest = order(
        "o-3",
        None,
        Currency::USD,
        vec![product_line("p-01", 1, 100, 0)],
        30,
    );
    guest.anonymous_id = Some(aid("v-ann"));
    let bobs = order(
        "o-4",
        Some("bob"),
        Currency::EUR,
        vec![product_line("p-01", 1, 8900, 0)],
        15,
    );
    store
        .upsert_orders(&[knives, rakes, guest, bobs])
        .await
        .unwrap();
    store
        .record_refunds(&[
            refund("r-1", "o-1", Some("ann"), 1000, Currency::EUR, 12),
            refund("r-2", "o-1", Some("ann"), 200, Currency::EUR, 13),
        ])
        .await
        .unwrap();
    // bob is merged into cat: his order and event are cat's now.
    let alias = Message {
        user_id: Some(cid("cat")),
        previous_id: Some("bob".into()),
        ..message("al", MessageKind::Alias, 40)
    };
    apply_one(
        store,
        alias,
        vec![Effect::MergeCustomers {
            from: cid("bob"),
            into: cid("cat"),
        }],
    )
    .await;

    let wanted = [
        cid("cat"),
        cid("bob"),
        cid("nobody"),
        cid("ann"),
        cid("ann"),
    ];
    let profiles = store.profile_data(&wanted, Some(at(5))).await.unwrap();
    let who: Vec<&str> = profiles.iter().map(|p| p.customer.id.as_str()).collect();
    assert_eq!(
        who,
        vec!["ann", "cat"],
        "by id, the merged and the unknown left out"
    );
    let ann = &profiles[0];
    assert_eq!(
        Some(ann.customer.clone()),
        store.customer(&cid("ann")).await.unwrap()
    );

    let orders: Vec<(&str, Currency, i64, bool)> = ann
        .orders
        .iter()
        .map(|o| (o.id.as_str(), o.currency, o.net, o.cancelled))
        .collect();
    assert_eq!(
        orders,
        vec![
            (
                "o-1",
                Currency::EUR,
                2 * 8900 - 100 + 500 - 1000 - 200,
                false
            ),
            ("o-2", Currency::EUR, 3000, true),
            ("o-3", Currency::USD, 100, false),
        ],
        "refunds netted from the merchandise, cancellations, the guest order of her visitor"
    );
    assert_eq!(ann.orders[0].placed_at, at(10));
    let line = |product: &str, category: Option<&str>, brand: Option<&str>, quantity: i64| {
        ProfileLineRow {
            product_id: pid(product),
            category: category.map(str::to_owned),
            brand: brand.map(str::to_owned),
            quantity,
        }
    };
    assert_eq!(
        ann.orders[0].lines,
        vec![
            line("p-01", Some("Home"), Some("Messerwerk"), 2),
            line("p-99", None, None, 1),
        ],
        "product lines only, with the catalog's top category and brand"
    );
    assert_eq!(
        ann.orders[1].lines,
        vec![line("p-02", Some("Garden"), None, 3)]
    );

    let event = |name: &str, minute: i64| ProfileEventRow {
        name: name.to_owned(),
        at: at(minute),
        product_id: None,
        category: None,
        brand: None,
        query: None,
        device: Some("mobile".into()),
        source: Some("newsletter".into()),
    };
    assert_eq!(
        ann.events,
        vec![
            event("Page Viewed", 5),
            ProfileEventRow {
                product_id: Some("p-01".into()),
                category: Some("Home".into()),
                brand: Some("Messerwerk".into()),
                device: Some("desktop".into()),
                source: None,
                ..event("Product Viewed", 6)
            },
            ProfileEventRow {
                product_id: Some("p-01".into()),
                brand: Some("Acme".into()),
                ..event("Product Viewed", 7)
            },
            ProfileEventRow {
                product_id: Some("42".into()),
                query: Some("santoku".into()),
                ..event("Products Searched", 8)
            },
        ],
        "from events_since on; the identify is no event; properties' brand before the catalog's"
    );

    let cat = &profiles[1];
    assert_eq!(
        cat.orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        vec!["o-4"]
    );
    assert!(
        cat.events.is_empty(),
        "bob's and cat's events are before events_since"
    );

    let everything = store.profile_data(&wanted, None).await.unwrap();
    let ann_all: Vec<DateTime<Utc>> = everything[0].events.iter().map(|e| e.at).collect();
    assert_eq!(
        ann_all,
        vec![at(1), at(3), at(5), at(6), at(7), at(8)],
        "the visitor's linked event too"
    );
    assert_eq!(everything[0].events[1].product_id.as_deref(), Some("p-01"));
    assert_eq!(everything[0].events[1].brand.as_deref(), Some("Messerwerk"));
    let cat_all: Vec<DateTime<Utc>> = everything[1].events.iter().map(|e| e.at).collect();
    assert_eq!(cat_all, vec![at(2), at(4)], "bob's event is cat's");
    assert_eq!(everything[0].orders, ann.orders);

    assert!(store.profile_data(&[], None).await.unwrap().is_empty());
    assert!(store
        .profile_data(&[cid("bob"), cid("nobody")], None)
        .await
        .unwrap()
        .is_empty());
}

// ---- a visitor's events ----

/// A visitor's events are those sent with their anonymous id, newest first, before and after
/// the visitor is linked to a customer (and that customer merged into another); a customer's
/// own events without the anonymous id are not among them.
pub async fn visitor_events_are_the_visitors_linked_or_not(store: &dyn Store) {
    assert!(store
        .visitor_events(&aid("v1"), 10)
        .await
        .unwrap()
        .is_empty());
    let a1 = anon_track("a1", "v1", 1);
    apply(
        store,
        vec![
            envelope(anon_track("a2", "v1", 2), vec![]),
            envelope(a1.clone(), vec![]),
            envelope(anon_track("b3", "v2", 3), vec![]),
            envelope(user_track("u0", "ann", 0), vec![]),
        ],
    )
    .await;
    let before = store.visitor_events(&aid("v1"), 10).await.unwrap();
    assert_eq!(ids(&before), vec!["a2", "a1"], "newest first");
    assert!(before.iter().all(|e| e.customer_id.is_none()));
    assert_eq!(before[1].message, a1, "the message comes back as sent");
    assert_eq!(
        ids(&store.visitor_events(&aid("v2"), 10).await.unwrap()),
        vec!["b3"]
    );

    apply_one(
        store,
        identify("i4", "v1", "ann", 4),
        vec![link("v1", "ann", MergeReason::Identify)],
    )
    .await;
    apply(
        store,
        vec![
            envelope(anon_track("a5", "v1", 5), vec![]),
            envelope(user_track("u6", "ann", 6), vec![]),
        ],
    )
    .await;
    let linked = store.visitor_events(&aid("v1"), 10).await.unwrap();
    assert_eq!(ids(&linked), vec!["a5", "i4", "a2", "a1"]);
    assert!(
        linked.iter().all(|e| e.customer_id == Some(cid("ann"))),
        "linked: the events name the customer"
    );
    assert_eq!(
        ids(&store.customer_events(&cid("ann"), 10).await.unwrap()),
        vec!["u6", "a5", "i4", "a2", "a1", "u0"],
        "the customer's own events are theirs, not the visitor's"
    );
    assert_eq!(
        ids(&store.visitor_events(&aid("v1"), 2).await.unwrap()),
        vec!["a5", "i4"]
    );
    assert!(store
        .visitor_events(&aid("v1"), 0)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .visitor_events(&aid("nobody"), 10)
        .await
        .unwrap()
        .is_empty());

    // ann merged into bob: the visitor's events follow, and are still the visitor's.
    let alias = Message {
        user_id: Some(cid("bob")),
        previous_id: Some("ann".into()),
        ..message("al", MessageKind::Alias, 7)
    };
    apply_one(
        store,
        alias,
        vec![Effect::MergeCustomers {
            from: cid("ann"),
            into: cid("bob"),
        }],
    )
    .await;
    let merged = store.visitor_events(&aid("v1"), 10).await.unwrap();
    assert_eq!(ids(&merged), vec!["a5", "i4", "a2", "a1"]);
    assert!(merged.iter().all(|e| e.customer_id == Some(cid("bob"))));
}

// ---- recommendations ----

/// `len` bytes of every value, from a xorshift generator seeded with `seed`.
fn model_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u8
        })
        .collect()
}

/// Compares a model without printing megabytes when it differs.
fn assert_model(found: Option<StoredModel>, key: &str, trained_at: DateTime<Utc>, bytes: &[u8]) {
    let found = found.unwrap_or_else(|| panic!("model {key} is stored"));
    assert_eq!((found.key.as_str(), found.trained_at), (key, trained_at));
    assert_eq!(found.bytes.len(), bytes.len(), "{key}: size");
    assert!(found.bytes == bytes, "{key}: the bytes come back unchanged");
}

/// Models: a blob of a few megabytes comes back unchanged; `model_info` tells its times and
/// size; putting under a key replaces the whole model and moves `stored_at` forward, every
/// time; a read during a replacement sees the old model or the new one; other keys are left
/// alone; keys that break the rule are refused and never found.
pub async fn models_round_trip_and_are_replaced_whole(store: &dyn Store) {
    assert!(store.model("ease").await.unwrap().is_none());
    assert!(store.model_info("ease").await.unwrap().is_none());

    let big = model_bytes(3 * 1024 * 1024 + 7, 1);
    store.put_model("ease", at(10), &big).await.unwrap();
    let (trained_at, first_stored, size) = store.model_info("ease").await.unwrap().unwrap();
    assert_eq!((trained_at, size), (at(10), big.len() as u64));
    let model = store.model("ease").await.unwrap();
    assert_eq!(model.as_ref().map(|m| m.stored_at), Some(first_stored));
    assert_model(model, "ease", at(10), &big);

    // Another key, an empty model.
    let other_key = format!("fbt/v2:{}", "k".repeat(MAX_MODEL_KEY_LEN - 7));
    store.put_model(&other_key, at(11), &[]).await.unwrap();
    assert_model(
        store.model(&other_key).await.unwrap(),
        &other_key,
        at(11),
        &[],
    );
    assert_eq!(store.model_info(&other_key).await.unwrap().unwrap().2, 0);

    // Replaced, by a smaller model and then at once by another: stored_at grows each time.
    let small = model_bytes(1000, 2);
    store.put_model("ease", at(20), &small).await.unwrap();
    let (trained_at, second_stored, size) = store.model_info("ease").await.unwrap().unwrap();
    assert_eq!((trained_at, size), (at(20), 1000));
    assert!(
        second_stored > first_stored,
        "{second_stored} > {first_stored}"
    );
    assert_model(store.model("ease").await.unwrap(), "ease", at(20), &small);
    let same = model_bytes(1000, 3);
    store.put_model("ease", at(20), &same).await.unwrap();
    let (_, third_stored, _) = store.model_info("ease").await.unwrap().unwrap();
    assert!(
        third_stored > second_stored,
        "{third_stored} > {second_stored}"
    );
    assert_model(store.model("ease").await.unwrap(), "ease", at(20), &same);

    // Reads while a replacement is written see one model or the other, whole.
    let next = model_bytes(2 * 1024 * 1024, 4);
    let (put, during, info) = tokio::join!(
        store.put_model("ease", at(30), &next),
        store.model("ease"),
        store.model_info("ease"),
    );
    put.unwrap();
    let during = during.unwrap().expect("a model is there throughout");
    if during.trained_at == at(30) {
        assert!(during.bytes == next, "the new model, whole");
    } else {
        assert_model(Some(during), "ease", at(20), &same);
    }
    let (trained_at, _, size) = info.unwrap().expect("a model is there throughout");
    assert!(
        (trained_at, size) == (at(30), next.len() as u64) || (trained_at, size) == (at(20), 1000),
        "{trained_at} {size}"
    );
    assert_model(store.model("ease").await.unwrap(), "ease", at(30), &next);
    assert_model(
        store.model(&other_key).await.unwrap(),
        &other_key,
        at(11),
        &[],
    );

    let too_long = "k".repeat(MAX_MODEL_KEY_LEN + 1);
    for bad in [
        "",
        "with space",
        "café",
        "a\0b",
        "line\nbreak",
        too_long.as_str(),
    ] {
        let err = store
            .put_model(bad, at(40), b"model")
            .await
            .expect_err("an invalid key is refused");
        assert!(matches!(err, StoreError::Conflict(_)), "{bad:?}: {err:?}");
        assert!(store.model(bad).await.unwrap().is_none());
        assert!(store.model_info(bad).await.unwrap().is_none());
    }
}

fn served(id: &str, minute: i64, placement: &str, person: Option<&str>) -> ServedRecommendation {
    ServedRecommendation {
        id: id.to_owned(),
        served_at: at(minute),
        placement: placement.to_owned(),
        person: person.map(str::to_owned),
        items: vec!["p-02".into(), "p-01".into(), "p-10".into()],
        context: json!({"model": "ease", "scores": [0.9, 0.5, 0.25], "beside": "p-07"}),
    }
}

/// Served recommendations read back as written (items in rank order, any context); an id is
/// written once, whether repeated in a batch or in a later one; a batch with an invalid id
/// writes nothing; large batches work.
pub async fn served_recommendations_are_recorded_once(store: &dyn Store) {
    assert_eq!(store.record_recommendations(&[]).await.unwrap(), 0);
    assert!(store.recommendation("r-1").await.unwrap().is_none());

    let r1 = served("r-1", 1, "product-page", Some("c:ann"));
    let r2 = ServedRecommendation {
        items: Vec::new(),
        context: json!(null),
        ..served(
            "r-2 ユニコード",
            2,
            "Startseite — oben ✓",
            Some("v:visitor 1"),
        )
    };
    let r3 = ServedRecommendation {
        items: vec!["Messer-字".into(), "p-01".into(), "p-01".into()],
        context: json!({"nested": {"list": [1, null, true, "x"], "empty": {}}, "n": -7}),
        ..served("r-3", 3, "email", None)
    };
    let r1_again = served("r-1", 9, "cart", Some("c:bob"));
    assert_eq!(
        store
            .record_recommendations(&[r1.clone(), r2.clone(), r1_again.clone(), r3.clone()])
            .await
            .unwrap(),
        3,
        "the second r-1 of the batch is ignored"
    );
    for row in [&r1, &r2, &r3] {
        assert_eq!(
            store.recommendation(&row.id).await.unwrap().as_ref(),
            Some(row)
        );
    }

    let r4 = served("r-4", 4, "cart", Some("c:ann"));
    assert_eq!(
        store
            .record_recommendations(&[r1_again, r4.clone()])
            .await
            .unwrap(),
        1,
        "a stored id is ignored"
    );
    assert_eq!(store.recommendation("r-1").await.unwrap(), Some(r1));
    assert_eq!(store.recommendation("r-4").await.unwrap(), Some(r4));

    let long_id = "r".repeat(256);
    for bad in ["", "   ", "tab\there", long_id.as_str()] {
        let err = store
            .record_recommendations(&[served("r-5", 5, "home", None), served(bad, 5, "home", None)])
            .await
            .expect_err("an invalid id is refused");
        assert!(matches!(err, StoreError::Conflict(_)), "{bad:?}: {err:?}");
        assert!(store.recommendation(bad).await.unwrap().is_none());
    }
    assert!(
        store.recommendation("r-5").await.unwrap().is_none(),
        "a refused batch writes nothing"
    );

    // A large batch, ids out of order, with repeats.
    let bulk: Vec<ServedRecommendation> = (0..12_000)
        .rev()
        .chain([7, 11_999])
        .map(|i| served(&format!("bulk-{i:05}"), 10 + i % 50, "home", Some("v:v1")))
        .collect();
    assert_eq!(store.record_recommendations(&bulk).await.unwrap(), 12_000);
    assert_eq!(store.record_recommendations(&bulk).await.unwrap(), 0);
    for i in [0, 7, 11_999] {
        let id = format!("bulk-{i:05}");
        assert_eq!(
            store.recommendation(&id).await.unwrap(),
            Some(served(&id, 10 + i % 50, "home", Some("v:v1")))
        );
    }
}
