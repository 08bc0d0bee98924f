//! Tests of the PostgreSQL backend beyond the shared conformance suite: a batch gives what
//! applying its messages one by one gives, several nodes on one database apply exactly once,
//! migrations may run concurrently, and awkward values and dead servers are handled.
//!
//! They need a server: `eval "$(scripts/pg-cluster start)"` first.

use chrono::{DateTime, Duration, TimeZone, Utc};
use embudo_core::{
    AnonymousId, Attributes, Attribution, Currency, CustomerId, CustomerPatch, EventContext,
    LineKind, MergeReason, Message, MessageId, MessageKind, Order, OrderId, OrderLine, ProductId,
    RefundId, StatusChange, StatusKind,
};
use embudo_store::{Applied, Effect, Envelope, RefundRequest, Store, StoreError};
use embudo_store_postgres::testing::{fresh_pg, Guard};
use embudo_store_postgres::{PgPoolOptions, PgStore};
use serde_json::json;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

// ---- a deterministic workload ----

/// A small linear congruential generator: the tests need repeatable, not good, randomness.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn message(id: &str, kind: MessageKind, seconds: i64) -> Message {
    Message {
        message_id: MessageId::parse(id).unwrap(),
        kind,
        event: (kind == MessageKind::Track).then(|| "Product Viewed".to_owned()),
        anonymous_id: None,
        user_id: None,
        previous_id: None,
        group_id: None,
        session_id: None,
        timestamp: at(seconds),
        received_at: at(seconds + 1),
        properties: Attributes::new(),
        traits: Attributes::new(),
        context: EventContext::default(),
    }
}

fn visitor(i: u64) -> AnonymousId {
    AnonymousId::parse(format!("v{i}")).unwrap()
}

fn customer(i: u64) -> CustomerId {
    CustomerId::parse(format!("c{i}")).unwrap()
}

fn order(
    id: u64,
    customer: Option<CustomerId>,
    anonymous_id: Option<AnonymousId>,
    seconds: i64,
    quantity: i64,
) -> Order {
    Order {
        id: OrderId::parse(format!("o{id}")).unwrap(),
        customer_id: customer,
        anonymous_id,
        email: None,
        placed_at: at(seconds),
        currency: Currency::EUR,
        lines: vec![OrderLine {
            kind: LineKind::Product,
            product_id: Some(ProductId::parse(format!("p{}", id % 3)).unwrap()),
            sku: None,
            title: None,
            quantity,
            unit_price: 1000,
            discount: 0,
        }],
        shipping: 0,
        tax: 0,
        discount: 0,
        coupon: None,
        attribution: Attribution::default(),
        history: vec![],
    }
}

/// Messages with the effects an ingest pipeline would give them. With `stable`, every visitor
/// is only ever linked to one customer, there are no merges and orders do not change, so the
/// end state does not depend on the order the messages are applied in.
fn workload(seed: u64, count: usize, stable: bool) -> Vec<Envelope> {
    let mut rng = Lcg(seed);
    let mut out: Vec<Envelope> = Vec::with_capacity(count);
    let (visitors, customers, orders) = (14, 7, 5);
    let customer_of = |v: u64| customer(v % customers);
    for n in 0..count {
        let seconds = (n as i64) * 10 + rng.below(5) as i64;
        let id = format!("m{seed}-{n}");
        let roll = rng.below(100);
        let v = rng.below(visitors);
        let c = if stable {
            customer_of(v)
        } else {
            customer(rng.below(customers))
        };
        let envelope = if roll < 40 {
            let mut m = message(&id, MessageKind::Track, seconds);
            m.anonymous_id = Some(visitor(v));
            Envelope {
                message: m,
                effects: vec![],
            }
        } else if roll < 50 {
            let mut m = message(&id, MessageKind::Track, seconds);
            m.user_id = Some(c.clone());
            let mut effects = vec![];
            if rng.below(2) == 0 {
                m.anonymous_id = Some(visitor(v));
                effects.push(Effect::LinkVisitor {
                    anonymous_id: visitor(v),
                    customer_id: c,
                    reason: MergeReason::Track,
                });
            }
            Envelope {
                message: m,
                effects,
            }
        } else if roll < 65 {
            let mut m = message(&id, MessageKind::Identify, seconds);
            m.user_id = Some(c.clone());
            m.anonymous_id = Some(visitor(v));
            let mut attributes = Attributes::new();
            attributes.insert(format!("k{}", rng.below(4)), json!(n));
            let patch = CustomerPatch {
                attributes,
                seen_at: Some(at(seconds)),
                ..CustomerPatch::id_only(c.clone())
            };
            Envelope {
                message: m,
                effects: vec![
                    Effect::UpsertCustomer(patch),
                    Effect::LinkVisitor {
                        anonymous_id: visitor(v),
                        customer_id: c,
                        reason: MergeReason::Identify,
                    },
                ],
            }
        } else if roll < 70 && !stable {
            // Ingestion cannot tell a former customer id from a visitor id in an alias, and
            // asks for both a merge and a link.
            let into = customer(rng.below(customers));
            let previous = if rng.below(3) == 0 {
                format!("v{v}")
            } else {
                format!("c{}", rng.below(customers))
            };
            let mut m = message(&id, MessageKind::Alias, seconds);
            m.user_id = Some(into.clone());
            m.previous_id = Some(previous.clone());
            let effects = vec![
                Effect::MergeCustomers {
                    from: CustomerId::parse(previous.clone()).unwrap(),
                    into: into.clone(),
                },
                Effect::LinkVisitor {
                    anonymous_id: AnonymousId::parse(previous).unwrap(),
                    customer_id: into,
                    reason: MergeReason::Alias,
                },
            ];
            Envelope {
                message: m,
                effects,
            }
        } else if roll < 82 {
            let o = rng.below(orders);
            let (who, anon, quantity) = if stable {
                // The same content every time, and the customer the visitor belongs to.
                let v = o + 1;
                (Some(customer_of(v)), Some(visitor(v)), 1 + o as i64)
            } else {
                let who = (rng.below(4) != 0).then(|| c.clone());
                let anon = (rng.below(2) == 0).then(|| visitor(v));
                (who, anon, 1 + rng.below(3) as i64)
            };
            let mut m = message(&id, MessageKind::Track, seconds);
            m.event = Some("Order Completed".into());
            m.user_id = who.clone();
            m.anonymous_id = anon.clone();
            let placed = if stable { o as i64 } else { seconds };
            let mut order = order(o, who, anon, placed, quantity);
            if rng.below(3) == 0 {
                order.history.push(StatusChange {
                    status: StatusKind::Refunded,
                    at: at(placed + 5),
                    carrier: None,
                    tracking_number: None,
                    amount: Some(100),
                    note: None,
                });
            }
            Envelope {
                message: m,
                effects: vec![Effect::UpsertOrder(Box::new(order))],
            }
        } else if roll < 90 {
            let o = rng.below(orders);
            let mut m = message(&id, MessageKind::Track, seconds);
            m.user_id = Some(c);
            let status = [StatusKind::Paid, StatusKind::Shipped, StatusKind::Delivered]
                [rng.below(3) as usize];
            let change = StatusChange {
                status,
                at: at(seconds),
                carrier: None,
                tracking_number: None,
                amount: None,
                note: Some(id.clone()),
            };
            Envelope {
                message: m,
                effects: vec![Effect::OrderStatus {
                    order_id: OrderId::parse(format!("o{o}")).unwrap(),
                    change,
                }],
            }
        } else if roll < 96 {
            let o = rng.below(orders);
            let mut m = message(&id, MessageKind::Track, seconds);
            m.event = Some("Order Refunded".into());
            m.user_id = Some(c);
            let amount = if stable || rng.below(2) == 0 {
                Some(50 + rng.below(100) as i64)
            } else {
                None
            };
            let request = RefundRequest {
                id: RefundId::parse(format!("{id}/refund")).unwrap(),
                order_id: OrderId::parse(format!("o{o}")).unwrap(),
                at: at(seconds),
                amount,
                currency: if stable { Some(Currency::EUR) } else { None },
                reason: None,
            };
            Envelope {
                message: m,
                effects: vec![Effect::Refund(request)],
            }
        } else if let Some(previous) =
            (!out.is_empty()).then(|| out[rng.below(out.len() as u64) as usize].clone())
        {
            // A message sent again.
            previous
        } else {
            Envelope {
                message: message(&id, MessageKind::Page, seconds),
                effects: vec![],
            }
        };
        out.push(envelope);
    }
    out
}

/// Everything a store holds that the tests compare, as sorted text rows per table.
async fn dump(store: &PgStore) -> BTreeMap<&'static str, Vec<String>> {
    let queries: [(&str, &str); 8] = [
        ("events", "SELECT message_id || ' ' || coalesce(customer_id, '-') FROM events"),
        ("identities", "SELECT anonymous_id || ' ' || customer_id || ' ' || reason || ' ' || linked_at FROM identities"),
        (
            "identity_merges",
            "SELECT concat_ws(' ', coalesce(anonymous_id, '-'), coalesce(from_customer, '-'), into_customer, reason, \
             message_id, events_moved, at) FROM identity_merges",
        ),
        (
            // The seen times of a customer merged away inside a batch may differ (see apply.rs).
            "customers",
            "SELECT concat_ws(' ', id, coalesce(merged_into, '-'), CASE WHEN merged_into IS NULL THEN \
             concat_ws(' ', first_seen, last_seen) END, attributes::text) FROM customers",
        ),
        ("orders", "SELECT concat_ws(' ', id, coalesce(customer_id, '-'), coalesce(anonymous_id, '-'), total, placed_at) FROM orders"),
        ("order_lines", "SELECT concat_ws(' ', order_id, line_no, product_id, quantity) FROM order_lines"),
        ("order_status", "SELECT concat_ws(' ', order_id, status, at, note) FROM order_status"),
        ("refunds", "SELECT concat_ws(' ', id, order_id, coalesce(customer_id, '-'), at, amount, currency) FROM refunds"),
    ];
    let mut out = BTreeMap::new();
    for (name, sql) in queries {
        let rows = sqlx::query(sql).fetch_all(store.pool()).await.unwrap();
        let mut lines: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        lines.sort();
        out.insert(name, lines);
    }
    out
}

// ---- batches ----

/// Applying a batch at once, in batches of any size, gives exactly what applying its messages
/// one at a time gives: resolution of every event, links, merges with their counts, orders,
/// refunds and seen times.
#[tokio::test]
async fn a_batch_is_the_same_as_its_messages_one_by_one() {
    for seed in [1u64, 2, 3, 4] {
        let messages = workload(seed, 300, false);
        let (one_by_one, _g1) = fresh_pg().await;
        let (batched, _g2) = fresh_pg().await;

        let mut expected = Vec::new();
        for envelope in &messages {
            expected.extend(one_by_one.apply(vec![envelope.clone()]).await.unwrap());
        }
        let mut got = Vec::new();
        let mut rng = Lcg(seed * 7919);
        let mut rest = messages.as_slice();
        while !rest.is_empty() {
            let size = (1 + rng.below(80) as usize).min(rest.len());
            let (batch, tail) = rest.split_at(size);
            got.extend(batched.apply(batch.to_vec()).await.unwrap());
            rest = tail;
        }
        assert_eq!(got, expected, "seed {seed}: inserted/duplicate per message");

        let (a, b) = (dump(&one_by_one).await, dump(&batched).await);
        for (table, rows) in &a {
            assert_eq!(&b[table], rows, "seed {seed}: table {table} differs");
        }
        assert!(
            a["identity_merges"].iter().any(|m| m.starts_with("- c")),
            "seed {seed}: the workload merges customers"
        );
    }
}

/// A batch of a thousand messages with repeats inside it is stored exactly once.
#[tokio::test]
async fn a_large_batch_with_repeats_is_stored_once() {
    let (store, _guard) = fresh_pg().await;
    let batch: Vec<Envelope> = (0..1000)
        .map(|i| {
            let mut m = message(&format!("big-{}", i % 900), MessageKind::Track, i);
            m.anonymous_id = Some(visitor(i as u64 % 50));
            Envelope {
                message: m,
                effects: vec![],
            }
        })
        .collect();
    let applied = store.apply(batch.clone()).await.unwrap();
    assert_eq!(
        applied.iter().filter(|a| **a == Applied::Inserted).count(),
        900
    );
    assert!(applied[900..].iter().all(|a| *a == Applied::Duplicate));
    assert!(store
        .apply(batch)
        .await
        .unwrap()
        .iter()
        .all(|a| *a == Applied::Duplicate));
    assert_eq!(store.counts().await.unwrap().events, 900);
    // seq follows the batch, not the message ids.
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM events ORDER BY ts")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

/// A visitor re-linked in the middle of a batch: its later events in the batch belong to the new
/// customer, and are not counted as moved.
#[tokio::test]
async fn relinking_inside_a_batch_resolves_later_events() {
    let (store, _guard) = fresh_pg().await;
    let anon = |id: &str, s: i64| {
        let mut m = message(id, MessageKind::Track, s);
        m.anonymous_id = Some(visitor(1));
        m
    };
    let link = |c: u64| Effect::LinkVisitor {
        anonymous_id: visitor(1),
        customer_id: customer(c),
        reason: MergeReason::Track,
    };
    store
        .apply(vec![Envelope {
            message: anon("a0", 0),
            effects: vec![],
        }])
        .await
        .unwrap();
    store
        .apply(vec![
            Envelope {
                message: anon("a1", 1),
                effects: vec![link(1)],
            },
            Envelope {
                message: anon("a2", 2),
                effects: vec![],
            },
            Envelope {
                message: anon("a3", 3),
                effects: vec![link(2)],
            },
            Envelope {
                message: anon("a4", 4),
                effects: vec![],
            },
        ])
        .await
        .unwrap();
    let ids = |events: Vec<embudo_core::StoredEvent>| {
        events
            .into_iter()
            .map(|e| e.message.message_id.to_string())
            .collect::<Vec<_>>()
    };
    // a3 itself was stored while v1 was still c1's; a re-link only takes unresolved events.
    assert_eq!(
        ids(store.customer_events(&customer(1), 10).await.unwrap()),
        vec!["a3", "a2", "a1", "a0"]
    );
    assert_eq!(
        ids(store.customer_events(&customer(2), 10).await.unwrap()),
        vec!["a4"]
    );
    let merges = store.identity_merges(&customer(1)).await.unwrap();
    assert_eq!(merges.len(), 1);
    assert_eq!(
        merges[0].events_moved, 2,
        "a0 and a1 were stored before the link; a2 came after it"
    );
    let merges = store.identity_merges(&customer(2)).await.unwrap();
    assert_eq!(
        merges[0].events_moved, 0,
        "a re-link moves no resolved events"
    );
    let c1 = store.customer(&customer(1)).await.unwrap().unwrap();
    assert_eq!(
        (c1.first_seen, c1.last_seen),
        (Some(at(0)), Some(at(3))),
        "a4 is not c1's"
    );
    let c2 = store.customer(&customer(2)).await.unwrap().unwrap();
    assert_eq!((c2.first_seen, c2.last_seen), (Some(at(4)), Some(at(4))));
}

// ---- several nodes ----

/// Two stores (two "nodes") on one database apply the same messages in different batches and
/// orders at the same time: every message is stored and applied exactly once, and no event of
/// a linked visitor is left without its customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_apply_interleaved_batches_exactly_once() {
    let (a, guard) = fresh_pg().await;
    let b = PgStore::connect_with(
        guard.connect_options(),
        PgPoolOptions::new().max_connections(4),
    )
    .await
    .unwrap();
    let (a, b) = (Arc::new(a), Arc::new(b));

    let messages = workload(42, 1200, true);
    let distinct: HashSet<String> = messages
        .iter()
        .map(|e| e.message.message_id.to_string())
        .collect();

    // Node A sends in order in batches of 25; node B sends the same messages shuffled, in
    // batches of 40; each node runs two senders at once.
    let mut shuffled = messages.clone();
    let mut rng = Lcg(7);
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut tasks = Vec::new();
    for (store, list, size) in [(a.clone(), messages.clone(), 25), (b.clone(), shuffled, 40)] {
        let chunks: Vec<Vec<Envelope>> = list.chunks(size).map(<[Envelope]>::to_vec).collect();
        let (even, odd): (Vec<_>, Vec<_>) = chunks
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        for half in [even, odd] {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut inserted = Vec::new();
                for (_, batch) in half {
                    let ids: Vec<String> = batch
                        .iter()
                        .map(|e| e.message.message_id.to_string())
                        .collect();
                    let applied = store.apply(batch).await.expect("apply under concurrency");
                    inserted.extend(
                        ids.into_iter()
                            .zip(applied)
                            .filter(|(_, a)| *a == Applied::Inserted)
                            .map(|(id, _)| id),
                    );
                }
                inserted
            }));
        }
    }
    let mut inserted = Vec::new();
    for task in tasks {
        inserted.extend(task.await.unwrap());
    }
    let unique: HashSet<&String> = inserted.iter().collect();
    assert_eq!(
        unique.len(),
        inserted.len(),
        "a message was inserted by both nodes"
    );
    assert_eq!(
        unique.len(),
        distinct.len(),
        "every message was inserted once"
    );

    let pool = a.pool();
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert_eq!(
        count("SELECT count(*) FROM events").await,
        distinct.len() as i64
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM events e JOIN identities i ON i.anonymous_id = e.anonymous_id \
             WHERE e.user_id IS NULL AND e.customer_id IS DISTINCT FROM i.customer_id"
        )
        .await,
        0,
        "every anonymous event of a linked visitor belongs to the visitor's customer"
    );
    assert_eq!(
        count("SELECT count(*) FROM identity_merges").await,
        count("SELECT count(*) FROM identities").await,
        "each visitor was linked once"
    );
    assert!(
        count("SELECT coalesce(sum(events_moved), 0)::int8 FROM identity_merges").await
            <= count("SELECT count(*) FROM events e JOIN identities i USING (anonymous_id) WHERE e.user_id IS NULL").await,
        "no event was counted as moved twice"
    );
    let refund_ids: BTreeSet<String> = messages
        .iter()
        .flat_map(|e| &e.effects)
        .filter_map(|e| match e {
            Effect::Refund(r) => Some(r.id.to_string()),
            _ => None,
        })
        .collect();
    let history_refunds: BTreeSet<String> = messages
        .iter()
        .flat_map(|e| &e.effects)
        .filter_map(|e| match e {
            Effect::UpsertOrder(o) => Some(embudo_store::refunds_from_history(o)),
            _ => None,
        })
        .flatten()
        .map(|r| format!("{}@{}", r.order_id.unwrap(), r.at))
        .collect();
    let stored_refunds = count("SELECT count(*) FROM refunds").await as usize;
    assert!(stored_refunds <= refund_ids.len() + history_refunds.len());
    let duplicate_refunds = count(
        "SELECT count(*) FROM (SELECT order_id, at, amount FROM refunds GROUP BY 1, 2, 3 HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(duplicate_refunds, 0);
    // Every refund effect of an order that exists was recorded once.
    let orders_known: i64 = count("SELECT count(*) FROM orders").await;
    assert!(orders_known > 0);
    // Seen times cover every event of the customer.
    assert_eq!(
        count(
            "SELECT count(*) FROM events e JOIN customers c ON c.id = e.customer_id \
             WHERE e.ts < c.first_seen OR e.ts > c.last_seen OR c.first_seen IS NULL"
        )
        .await,
        0
    );
    // The same workload applied alone gives the same data.
    let (alone, _g) = fresh_pg().await;
    for batch in messages.chunks(100) {
        alone.apply(batch.to_vec()).await.unwrap();
    }
    let (x, y) = (dump(&alone).await, dump(&a).await);
    // (Not order_status: a status for an order not stored yet is ignored, so which statuses
    // are kept depends on the order messages arrive in.)
    for table in ["events", "orders", "order_lines"] {
        assert_eq!(x[table], y[table], "table {table}");
    }
    // Who linked a visitor first (and so the link's reason and time) depends on arrival order.
    let strip_times = |rows: &Vec<String>| {
        rows.iter()
            .map(|r| r.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_times(&x["identities"]), strip_times(&y["identities"]));
    b.close().await;
}

/// The race the apply lock exists for: one node links a visitor while another stores an event
/// of that visitor. Whoever commits last, the event ends up with the customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stored_while_its_visitor_is_linked_gets_the_customer() {
    let (a, guard) = fresh_pg().await;
    let b = PgStore::connect_with(
        guard.connect_options(),
        PgPoolOptions::new().max_connections(2),
    )
    .await
    .unwrap();
    // Make both batches take a while, so that they overlap.
    let filler = |prefix: &str, round: u64| -> Vec<Envelope> {
        (0..300)
            .map(|i| {
                let mut m = message(&format!("{prefix}-{round}-{i}"), MessageKind::Page, i);
                m.anonymous_id = Some(AnonymousId::parse(format!("filler-{i}")).unwrap());
                Envelope {
                    message: m,
                    effects: vec![],
                }
            })
            .collect()
    };
    for round in 0..20u64 {
        let v = AnonymousId::parse(format!("racer-{round}")).unwrap();
        let mut track = message(&format!("track-{round}"), MessageKind::Track, 1);
        track.anonymous_id = Some(v.clone());
        let mut identify = message(&format!("identify-{round}"), MessageKind::Identify, 2);
        identify.anonymous_id = Some(v.clone());
        identify.user_id = Some(customer(round));
        let link = Effect::LinkVisitor {
            anonymous_id: v.clone(),
            customer_id: customer(round),
            reason: MergeReason::Identify,
        };
        let mut first = filler("a", round);
        first.push(Envelope {
            message: identify,
            effects: vec![link],
        });
        let mut second = filler("b", round);
        second.push(Envelope {
            message: track,
            effects: vec![],
        });
        let (x, y) = tokio::join!(a.apply(first), b.apply(second));
        x.unwrap();
        y.unwrap();
        let events = a.customer_events(&customer(round), 5).await.unwrap();
        let ids: Vec<String> = events
            .iter()
            .map(|e| e.message.message_id.to_string())
            .collect();
        assert!(
            ids.contains(&format!("track-{round}")),
            "round {round}: the track event was not resolved: {ids:?}"
        );
    }
    b.close().await;
}

/// Nodes starting at the same time on an empty database all bring the schema up to date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_concurrently() {
    let (first, guard) = fresh_pg().await;
    // Start over on an empty database of the same server.
    sqlx::query("DROP SCHEMA public CASCADE")
        .execute(first.pool())
        .await
        .unwrap();
    sqlx::query("CREATE SCHEMA public")
        .execute(first.pool())
        .await
        .unwrap();
    first.close().await;
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let options = guard.connect_options();
            tokio::spawn(async move {
                PgStore::connect_with(options, PgPoolOptions::new().max_connections(1)).await
            })
        })
        .collect();
    for start in starts {
        let store = start.await.unwrap().expect("connect and migrate");
        store.ping().await.unwrap();
        assert_eq!(store.counts().await.unwrap().events, 0);
    }
    let _: &Guard = &guard;
}

// ---- values and errors ----

/// PostgreSQL cannot store NUL: it is replaced, and the batch still goes in.
#[tokio::test]
async fn nul_characters_do_not_fail_a_batch() {
    let (store, _guard) = fresh_pg().await;
    let mut m = message("nul-1", MessageKind::Track, 1);
    m.user_id = Some(customer(1));
    m.event = Some("bad\0name".into());
    m.properties.insert("k\0".into(), json!("v\0"));
    m.context.raw.insert("x".into(), json!(["\0"]));
    store
        .apply(vec![Envelope {
            message: m,
            effects: vec![],
        }])
        .await
        .unwrap();
    let events = store.customer_events(&customer(1), 1).await.unwrap();
    assert_eq!(events[0].message.event.as_deref(), Some("bad\u{FFFD}name"));
    assert_eq!(
        events[0].message.properties.get("k\u{FFFD}"),
        Some(&json!("v\u{FFFD}"))
    );
    let patch = CustomerPatch {
        name: Some("A\0B".into()),
        ..CustomerPatch::id_only(customer(1))
    };
    store.upsert_customers(&[patch]).await.unwrap();
    assert_eq!(
        store
            .customer(&customer(1))
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("A\u{FFFD}B")
    );
}

/// A product replaced without a creation time keeps the one it had.
#[tokio::test]
async fn a_replaced_product_keeps_its_creation_time() {
    let (store, _guard) = fresh_pg().await;
    let mut p = embudo_core::Product::new(ProductId::parse("p1").unwrap(), "Knife", Currency::EUR);
    p.created_at = Some(at(-100));
    store.upsert_products(&[p.clone()]).await.unwrap();
    p.created_at = None;
    p.title = "Knife II".into();
    store
        .upsert_products(&[p.clone(), p.clone()])
        .await
        .unwrap();
    let read = store.product(&p.id).await.unwrap().unwrap();
    assert_eq!(
        (read.title.as_str(), read.created_at),
        ("Knife II", Some(at(-100)))
    );
}

/// A server that is not there is reported as unavailable, not as a generic error.
#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let err = PgStore::connect("postgres://postgres@127.0.0.1:1/postgres")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

/// A row that does not decode is reported as corrupt, without panicking.
#[tokio::test]
async fn a_corrupt_row_is_an_error() {
    let (store, _guard) = fresh_pg().await;
    sqlx::query(
        "INSERT INTO customers (id, customer_type, created_at) VALUES ('c1', 'alien', now())",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let err = store.customer(&customer(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    sqlx::query("INSERT INTO orders (id, placed_at, currency, merchandise_total, total, created_at, updated_at) \
                 VALUES ('o1', now(), 'ZZZ', 0, 0, now(), now())")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.order(&OrderId::parse("o1").unwrap()).await,
        Err(StoreError::Corrupt(_))
    ));
}
