//! The day loop: which sessions happen on a day, in what order, what each changes, and what
//! happens to orders afterwards (shipping, delivery, cancellations, refunds).
//!
//! State carried from day to day is small and bounded: a few counters per known customer
//! (visits, orders, remembered logins), a calendar bucket per day holding each customer's next
//! visit (every customer is in at most one bucket), and the queue of order follow-ups due in
//! the coming weeks. A day's messages are built, sorted by time and handed out; nothing of
//! them is kept.

use crate::calendar::{office_hours_ms, timestamp, timestamp_prefix, DAY_MS};
use crate::people::{self, CustomerProfile, PeopleContext};
use crate::rng::{rng_for, RngExt, Stream};
use crate::session::{Draft, Outcome, Phase, PlacedOrder, Session, Visitor, World};
use crate::{DayBatch, Generator};
use chrono::{Datelike, Weekday};
use embudo_core::{names, OrderId, StatusChange, StatusKind};
use rand::Rng;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What the generator remembers about a known customer between visits.
#[derive(Debug, Clone, Copy, Default)]
struct CustomerState {
    /// Sessions so far (numbers the customer's random streams).
    visits: u32,
    /// Orders so far.
    orders: u32,
    /// Devices whose browser keeps the login (bit per device).
    remembered: u8,
    /// Has logged in or signed up during the period.
    identified: bool,
    /// Day of the last order.
    last_order_day: u32,
    /// A product of the last order, for reviews (`u32::MAX`: none).
    last_product: u32,
    /// When a new customer signed up (ms of their signup day), for the `createdAt` trait.
    signup_ms: u32,
}

/// Who a planned session is for.
enum Who {
    Customer {
        index: u32,
        profile: Box<CustomerProfile>,
        state: CustomerState,
    },
    Anon {
        profile: Box<people::AnonProfile>,
    },
}

/// A session planned for the day: everything it needs, so it can run on any thread.
struct Plan {
    start: u32,
    /// A stable tie-break for equal start times.
    key: u64,
    /// Session number, given in start order.
    number: u64,
    who: Who,
    rng: crate::rng::Rng8,
}

/// What a session did, to be applied to the shared state in session order.
struct Done {
    /// The customer, with the phase and device of the session.
    customer: Option<(u32, Box<CustomerProfile>, Phase, u32)>,
    outcome: Outcome,
    /// Offset of the session's thread output in the day's drafts.
    offset: usize,
}

/// A follow-up of an order, due on a later day.
enum Due {
    Status(OrderId, StatusChange),
    Refund {
        order: String,
        amount: i64,
        line: Option<(usize, i64)>,
        user_id: Option<String>,
        anonymous_id: String,
    },
    Cancel {
        order: String,
        total: i64,
        user_id: Option<String>,
        anonymous_id: String,
    },
}

/// The stream of [`DayBatch`]es of a [`Generator`], in time order. Made by
/// [`Generator::days`].
pub struct Days<'g> {
    g: &'g Generator,
    day: u32,
    customers: Vec<CustomerState>,
    buckets: Vec<Vec<u32>>,
    anon_next: u64,
    orders: u64,
    sessions: u64,
    messages: u64,
    refunds: u64,
    seq: u64,
    pending: BTreeMap<u32, Vec<(u32, Due)>>,
}

impl<'g> Days<'g> {
    pub(crate) fn new(g: &'g Generator) -> Self {
        let n = g.spec.customers;
        let days = g.spec.days;
        let mut buckets = vec![Vec::new(); days as usize];
        let ctx = g.people();
        // Every customer's first appearance: an anonymous pre-signup visit or the day they sign
        // up or log in.
        for index in 0..n {
            let p = people::customer(&ctx, index);
            let first = p.pre_visits.first().copied().unwrap_or(p.first_day);
            if first < days {
                buckets[first as usize].push(index);
            }
        }
        Self {
            g,
            day: 0,
            customers: vec![
                CustomerState {
                    last_product: u32::MAX,
                    ..CustomerState::default()
                };
                n as usize
            ],
            buckets,
            anon_next: 0,
            orders: 0,
            sessions: 0,
            messages: 0,
            refunds: 0,
            seq: 0,
            pending: BTreeMap::new(),
        }
    }

    /// The next visit of customer `index` after a session on `day`, if within the period.
    fn next_visit(&self, index: u32, profile: &CustomerProfile, day: u32) -> Option<u32> {
        if !profile.existing && day < profile.first_day {
            return Some(
                profile
                    .pre_visits
                    .iter()
                    .copied()
                    .find(|&d| d > day)
                    .unwrap_or(profile.first_day),
            );
        }
        let state = &self.customers[index as usize];
        let mut rng = rng_for(
            self.g.spec.seed,
            Stream::CustomerVisit,
            u64::from(index),
            u64::from(state.visits),
        );
        // A few customers never come back.
        if rng.chance(0.02) {
            return None;
        }
        // Visits form a Poisson process whose rate follows the season: draw at the busiest
        // rate and keep a candidate day with probability traffic / busiest (thinning).
        let peak = self.g.max_traffic;
        // Buyers come back more often (order tracking, reorders, newsletters they now read).
        let rate = profile.rate * (1.0 + 0.4 * f64::from(state.orders.min(5)));
        let mut t = f64::from(day) + 1.0;
        loop {
            t += rng.exp(1.0 / (rate * peak));
            let candidate = t as u32;
            if candidate >= self.g.spec.days {
                return None;
            }
            if rng.chance(self.g.traffic[candidate as usize] / peak) {
                return Some(candidate);
            }
        }
    }

    fn plan_day(&mut self, d: u32, ctx: &PeopleContext) -> Vec<Plan> {
        let g = self.g;
        let seed = g.spec.seed;
        let mut due = std::mem::take(&mut self.buckets[d as usize]);
        let expected = due.len() + g.anon_sessions[d as usize] as usize + 16;
        let mut plans = Vec::with_capacity(expected);
        // Bucket order depends on when visits were scheduled; sorting makes the day depend
        // only on who comes.
        due.sort_unstable();
        for index in due {
            let profile = people::customer(ctx, index);
            let visit = self.customers[index as usize].visits;
            let mut rng = rng_for(
                seed,
                Stream::CustomerSession,
                u64::from(index),
                u64::from(visit),
            );
            let start = g.diurnal.start_ms(&mut rng, profile.country.utc_offset);
            let state = self.customers[index as usize];
            plans.push(Plan {
                start,
                key: u64::from(index),
                number: 0,
                who: Who::Customer {
                    index,
                    profile: Box::new(profile),
                    state,
                },
                rng,
            });
        }
        let mut day_rng = rng_for(seed, Stream::Day, u64::from(d), 0);
        let count = day_rng.round_stochastic(g.anon_sessions[d as usize]);
        let window = g.anon_return_window.max(1);
        for k in 0..count {
            let visitor = if self.anon_next == 0 || day_rng.chance(crate::ANON_NEW_SHARE) {
                self.anon_next += 1;
                self.anon_next - 1
            } else {
                let low = self.anon_next.saturating_sub(window);
                day_rng.random_range(low..self.anon_next)
            };
            let profile = people::anon(ctx, visitor);
            let mut rng = rng_for(seed, Stream::AnonSession, u64::from(d), k);
            let start = g.diurnal.start_ms(&mut rng, profile.country.utc_offset);
            plans.push(Plan {
                start,
                key: (1 << 40) + k,
                number: 0,
                who: Who::Anon {
                    profile: Box::new(profile),
                },
                rng,
            });
        }
        plans.sort_unstable_by_key(|p| (p.start, p.key));
        for plan in &mut plans {
            plan.number = self.sessions;
            self.sessions += 1;
        }
        plans
    }

    fn run_day(&mut self, d: u32) -> DayBatch {
        let g = self.g;
        let date = g.start + chrono::Days::new(u64::from(d));
        let prefix = timestamp_prefix(date);
        let ctx = g.people();
        let world = World {
            catalog: &g.catalog,
            pricing: &g.pricing,
            date,
            prefix: &prefix,
            boost: crate::calendar::conversion_boost(date),
            cyber: crate::calendar::is_cyber_weekend(date),
        };
        let plans = self.plan_day(d, &ctx);
        // Sessions only read shared state (each customer comes at most once a day), so they
        // can run on several threads; their effects are applied afterwards in session order,
        // which keeps the output independent of the number of threads.
        let threads = if plans.len() >= 256 {
            g.threads.max(1)
        } else {
            1
        };
        let mut parts: Vec<(Vec<Draft>, Vec<Done>)> = if threads == 1 {
            vec![simulate(g, &world, plans)]
        } else {
            let per_thread = plans.len().div_ceil(threads);
            let mut chunks = Vec::with_capacity(threads);
            let mut plans = plans.into_iter();
            for _ in 0..threads {
                chunks.push(plans.by_ref().take(per_thread).collect::<Vec<Plan>>());
            }
            std::thread::scope(|scope| {
                let world = &world;
                let handles: Vec<_> = chunks
                    .into_iter()
                    .map(|chunk| scope.spawn(move || simulate(g, world, chunk)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a session thread panicked"))
                    .collect()
            })
        };
        let total: usize = parts.iter().map(|(drafts, _)| drafts.len()).sum();
        let mut drafts: Vec<Draft> = Vec::with_capacity(total + 64);
        let mut done = Vec::new();
        for (part_drafts, part_done) in parts.iter_mut() {
            let offset = drafts.len();
            drafts.append(part_drafts);
            done.extend(part_done.drain(..).map(|mut x| {
                x.offset += offset;
                x
            }));
        }
        for x in done {
            self.apply(d, x, &mut drafts);
        }
        let status_changes = self.follow_ups(d, &prefix, &mut drafts);
        drafts.sort_unstable_by_key(|m| (m.ms, m.seq));
        let seed = g.spec.seed;
        let messages = drafts
            .into_iter()
            .map(|draft| {
                let mut body = draft.body;
                body.insert(
                    "messageId".into(),
                    Value::String(format!("gen-{seed}-{}", self.messages)),
                );
                self.messages += 1;
                Value::Object(body)
            })
            .collect();
        DayBatch {
            date,
            messages,
            status_changes,
        }
    }

    /// Applies a session's effects: numbers its order, updates the customer, schedules the
    /// customer's next visit and the order's follow-ups.
    fn apply(&mut self, d: u32, done: Done, drafts: &mut [Draft]) {
        let mut order = done.outcome.order;
        if let Some(order) = order.as_mut() {
            order.id = format!("ORD-{}", 100_001 + self.orders);
            self.orders += 1;
            let body = &mut drafts[done.offset + order.draft].body;
            if let Some(Value::Object(properties)) = body.get_mut("properties") {
                properties.insert("order_id".into(), Value::String(order.id.clone()));
            }
        }
        if let Some((index, profile, phase, device_index)) = done.customer {
            let state = &mut self.customers[index as usize];
            state.visits += 1;
            if done.outcome.identified && !state.identified {
                state.identified = true;
                if phase == Phase::Signup {
                    state.signup_ms = done.outcome.identified_at;
                }
            }
            if done.outcome.remember {
                state.remembered |= 1 << device_index;
            }
            if let Some(order) = &order {
                state.orders += 1;
                state.last_order_day = d;
                state.last_product = order.lines[0].0 as u32;
            }
            if let Some(next) = self.next_visit(index, &profile, d) {
                self.buckets[next as usize].push(index);
            }
        }
        if let Some(order) = order {
            self.fulfil(order, d);
        }
    }

    fn due(&mut self, day: u32, ms: u32, what: Due) {
        if day < self.g.spec.days {
            self.pending.entry(day).or_default().push((ms, what));
        }
    }

    /// Decides what happens to an order: about 1% are cancelled within hours; the rest ship one
    /// or two days later (never on a Sunday) and arrive one to five days after that; about
    /// 4.5% of those are refunded some days after delivery, a third of them partially.
    fn fulfil(&mut self, order: PlacedOrder, d: u32) {
        let g = self.g;
        let number = self.orders;
        let mut rng = rng_for(g.spec.seed, Stream::Fulfilment, number, 0);
        let order_id = OrderId::parse(order.id.clone()).expect("generated ids are valid");
        if rng.chance(0.01) {
            let at = order.ms + rng.random_range(3_600_000..20 * 3_600_000);
            let cancel = Due::Cancel {
                order: order.id,
                total: order.total,
                user_id: order.user_id,
                anonymous_id: order.anonymous_id,
            };
            self.due(d + at / DAY_MS, at % DAY_MS, cancel);
            return;
        }
        let mut ship_day = d + 1 + u32::from(rng.chance(0.35));
        if g.date(ship_day).weekday() == Weekday::Sun {
            ship_day += 1;
        }
        let ship_ms = office_hours_ms(&mut rng);
        let carrier = *rng.pick(order.country.carriers);
        let tracking = tracking_number(carrier, order.country.iso, &mut rng);
        let deliver_day = ship_day + 1 + rng.weighted(&[0.3, 0.35, 0.2, 0.1, 0.05]) as u32;
        let deliver_ms = rng.random_range(9 * 3_600_000..20 * 3_600_000);
        let shipped = StatusChange {
            status: StatusKind::Shipped,
            at: g.instant(ship_day, ship_ms),
            carrier: Some(carrier.to_string()),
            tracking_number: Some(tracking),
            amount: None,
            note: None,
        };
        self.due(ship_day, ship_ms, Due::Status(order_id.clone(), shipped));
        let delivered = StatusChange {
            status: StatusKind::Delivered,
            at: g.instant(deliver_day, deliver_ms),
            carrier: None,
            tracking_number: None,
            amount: None,
            note: None,
        };
        self.due(deliver_day, deliver_ms, Due::Status(order_id, delivered));
        if rng.chance(0.045) {
            let refund_day = deliver_day + 2 + rng.random_range(0..24);
            let units: i64 = order.lines.iter().map(|l| l.1).sum();
            let (amount, line) = if rng.chance(0.35) {
                if units >= 2 {
                    // One unit of one line came back.
                    let (item, _) = order.lines[rng.index(order.lines.len())];
                    (
                        g.catalog.items[item].price.min(order.total),
                        Some((item, 1)),
                    )
                } else {
                    // A goodwill gesture: part of the money back.
                    (order.total * rng.random_range(20..51) / 100, None)
                }
            } else {
                (order.total, None)
            };
            let refund = Due::Refund {
                order: order.id,
                amount,
                line,
                user_id: order.user_id,
                anonymous_id: order.anonymous_id,
            };
            self.due(refund_day, office_hours_ms(&mut rng), refund);
        }
    }

    /// Emits the follow-ups due on day `d`: server-side messages into `drafts`, status changes
    /// returned sorted by time.
    fn follow_ups(
        &mut self,
        d: u32,
        prefix: &str,
        drafts: &mut Vec<Draft>,
    ) -> Vec<(OrderId, StatusChange)> {
        let mut changes = Vec::new();
        let g = self.g;
        let currency = g.pricing.currency();
        for (ms, what) in self.pending.remove(&d).unwrap_or_default() {
            let (event, user_id, anonymous_id, properties) = match what {
                Due::Status(order, change) => {
                    changes.push((order, change));
                    continue;
                }
                Due::Cancel {
                    order,
                    total,
                    user_id,
                    anonymous_id,
                } => {
                    let mut p = Map::new();
                    p.insert("order_id".into(), Value::String(order));
                    p.insert("total".into(), g.pricing.json(total));
                    p.insert("currency".into(), Value::String(currency.code().into()));
                    p.insert("reason".into(), Value::String("customer_request".into()));
                    (names::ORDER_CANCELLED, user_id, anonymous_id, p)
                }
                Due::Refund {
                    order,
                    amount,
                    line,
                    user_id,
                    anonymous_id,
                } => {
                    self.refunds += 1;
                    let mut p = Map::new();
                    p.insert("order_id".into(), Value::String(order));
                    p.insert(
                        "refund_id".into(),
                        Value::String(format!("RF-{}", 100_000 + self.refunds)),
                    );
                    p.insert("total".into(), g.pricing.json(amount));
                    p.insert("currency".into(), Value::String(currency.code().into()));
                    if let Some((item, quantity)) = line {
                        let product = g.catalog.properties(item, quantity, currency);
                        p.insert(
                            "products".into(),
                            Value::Array(vec![Value::Object(product)]),
                        );
                    }
                    (names::ORDER_REFUNDED, user_id, anonymous_id, p)
                }
            };
            // Sent by the shop's backend, so no browser context.
            let mut m = Map::new();
            m.insert("type".into(), Value::String("track".into()));
            m.insert("event".into(), Value::String(event.into()));
            m.insert("anonymousId".into(), Value::String(anonymous_id));
            if let Some(user) = user_id {
                m.insert("userId".into(), Value::String(user));
            }
            m.insert("timestamp".into(), Value::String(timestamp(prefix, ms)));
            m.insert("properties".into(), Value::Object(properties));
            let mut library = Map::new();
            library.insert("name".into(), Value::String("analytics-node".into()));
            library.insert("version".into(), Value::String("2.1.0".into()));
            let mut context = Map::new();
            context.insert("library".into(), Value::Object(library));
            m.insert("context".into(), Value::Object(context));
            // Back-office messages sort after browser messages of the same millisecond.
            drafts.push(Draft {
                ms,
                seq: (1 << 63) + self.seq,
                body: m,
            });
            self.seq += 1;
        }
        changes.sort_by(|a, b| (a.1.at, a.0.as_str()).cmp(&(b.1.at, b.0.as_str())));
        changes
    }
}

/// Runs planned sessions, appending their messages to one vector.
fn simulate(g: &Generator, world: &World, plans: Vec<Plan>) -> (Vec<Draft>, Vec<Done>) {
    let mut drafts = Vec::with_capacity(plans.len() * 8);
    let mut done = Vec::with_capacity(plans.len());
    for plan in plans {
        let (number, start, rng) = (plan.number, plan.start, plan.rng);
        match plan.who {
            Who::Anon { profile } => {
                let visitor = Visitor {
                    phase: Phase::Anonymous,
                    device: &profile.device,
                    country: profile.country,
                    city: profile.city,
                    customer: None,
                    logged_in: false,
                    guest_email: &profile.guest_email,
                    orders: 0,
                    review: None,
                    created_at: None,
                };
                let outcome =
                    Session::new(world, &mut drafts, rng, start, number, &visitor).run(&visitor);
                done.push(Done {
                    customer: None,
                    outcome,
                    offset: 0,
                });
            }
            Who::Customer {
                index,
                profile,
                state,
            } => {
                let (phase, device_index, outcome) = customer_session(
                    g,
                    world,
                    &mut drafts,
                    rng,
                    start,
                    number,
                    index,
                    &profile,
                    state,
                );
                done.push(Done {
                    customer: Some((index, profile, phase, device_index)),
                    outcome,
                    offset: 0,
                });
            }
        }
    }
    (drafts, done)
}

/// Runs one session of a known customer, given their state before it.
#[allow(clippy::too_many_arguments)]
fn customer_session(
    g: &Generator,
    world: &World,
    drafts: &mut Vec<Draft>,
    mut rng: crate::rng::Rng8,
    start: u32,
    number: u64,
    index: u32,
    profile: &CustomerProfile,
    state: CustomerState,
) -> (Phase, u32, Outcome) {
    let d = (world.date - g.start).num_days() as u32;
    let phase = if !profile.existing && d < profile.first_day {
        Phase::PreSignup
    } else if !state.identified {
        if profile.existing {
            Phase::FirstLogin
        } else {
            Phase::Signup
        }
    } else {
        Phase::Returning
    };
    // Before and at signup people use their main device; later any of theirs.
    let device_index = if matches!(phase, Phase::PreSignup | Phase::Signup) {
        0
    } else {
        people::pick_device(profile.devices, &mut rng)
    };
    let device = people::customer_device(g.spec.seed, index, device_index);
    let logged_in = phase == Phase::Returning
        && state.remembered & (1 << device_index) != 0
        && rng.chance(0.85);
    let review = (phase == Phase::Returning
        && state.last_product != u32::MAX
        && d >= state.last_order_day + 5
        && rng.chance(0.08))
    .then_some(state.last_product as usize);
    let created_at = if profile.existing {
        let day = g.start - chrono::Days::new(u64::from(profile.account_age_days));
        Some(timestamp(
            &timestamp_prefix(day),
            profile.account_age_days * 7_919 % DAY_MS,
        ))
    } else if phase == Phase::Signup {
        // Created by the signup itself.
        None
    } else {
        let day = g.start + chrono::Days::new(u64::from(profile.first_day));
        Some(timestamp(&timestamp_prefix(day), state.signup_ms))
    };
    let visitor = Visitor {
        phase,
        device: &device,
        country: profile.country,
        city: profile.city,
        customer: Some(profile),
        logged_in,
        guest_email: &profile.email,
        orders: state.orders,
        review,
        created_at,
    };
    let outcome = Session::new(world, drafts, rng, start, number, &visitor).run(&visitor);
    (phase, device_index, outcome)
}

/// A tracking number shaped like the carrier's.
fn tracking_number(carrier: &str, iso: &str, rng: &mut impl Rng) -> String {
    let digits = |rng: &mut dyn rand::RngCore, n: usize| -> String {
        (0..n)
            .map(|_| char::from(b'0' + (rng.next_u32() % 10) as u8))
            .collect()
    };
    match carrier {
        "UPS" => format!("1Z{}{}", digits(rng, 6), digits(rng, 10)),
        "FedEx" => digits(rng, 12),
        "USPS" => format!("9400{}", digits(rng, 18)),
        "DHL" => format!("00340434{}", digits(rng, 12)),
        _ => format!(
            "{}{}{}",
            ["RR", "CP", "LX", "JJ"][rng.index(4)],
            digits(rng, 9),
            iso
        ),
    }
}

impl Iterator for Days<'_> {
    type Item = DayBatch;

    fn next(&mut self) -> Option<DayBatch> {
        if self.day >= self.g.spec.days {
            return None;
        }
        let d = self.day;
        self.day += 1;
        Some(self.run_day(d))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.g.spec.days - self.day) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Days<'_> {}
