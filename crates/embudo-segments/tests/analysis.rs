//! Dependencies, the next change by time alone, and references between segments.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use embudo_core::Currency;
use embudo_segments::{
    dependencies, dependents, depends_on_time, evaluate, evaluation_order, find_cycle, next_change,
    parse, Change, Dependencies, EvalContext, Expr, Profile, ProfileEvent,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn dependencies_of_a_mixed_expression() {
    let e = parse(
        r#"country = "ES" and bought(category: "K") and viewed(within: 7d) >= 2
           and (churn_risk > 0.5 or rfm_r >= 4) and in_segment("vip")
           and event(name: "Checkout Started") and not opened_email()"#,
    )
    .unwrap();
    assert_eq!(
        dependencies(&e),
        Dependencies {
            profile: true,
            orders: true,
            event_names: set(&["Product Viewed", "Checkout Started", "Email Opened"]),
            any_event: false,
            predictions: true,
            rfm: true,
            segments: set(&["vip"]),
            time: true,
        }
    );
    let d = dependencies(&e);
    assert!(d.affected_by(Change::Event("Product Viewed")));
    assert!(!d.affected_by(Change::Event("Page Viewed")));
    assert!(d.affected_by(Change::Segment("vip")));
    assert!(!d.affected_by(Change::Segment("other")));
    assert!(d.affected_by(Change::Order));

    let d = dependencies(&parse("last_order_at > 2026-01-01 and visited() >= 3").unwrap());
    assert!(d.orders && d.any_event && !d.profile && !d.time);
    assert!(d.affected_by(Change::Event("Anything")));
    assert!(!d.affected_by(Change::Event("Email Opened")));
    assert!(!d.affected_by(Change::Profile));
    assert!(!d.affected_by(Change::Predictions));

    let d = dependencies(&parse("attributes.plan is set or first_seen < now()").unwrap());
    assert!(d.profile && d.time && !d.orders);
    assert_eq!(
        dependencies(&parse("true").unwrap()),
        Dependencies::default()
    );
}

#[test]
fn time_dependence() {
    for (src, expected) in [
        ("last_order_at > now() - 90d", true),
        ("last_order_at > 2026-01-01 - 90d", false),
        ("viewed(within: 1h)", true),
        ("viewed()", false),
        ("orders_count > 2 or not ordered(within: 30d)", true),
        ("attributes.renews_at < now()", true),
        ("rfm_segment = \"Lost\"", false),
    ] {
        assert_eq!(depends_on_time(&parse(src).unwrap()), expected, "{src}");
    }
}

fn next(src: &str, p: &Profile, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    next_change(&parse(src).unwrap(), p, at)
}

#[test]
fn windows_change_when_something_enters_or_leaves() {
    let mut p = profile("n1");
    let seen = now() - days(2);
    p.events = vec![
        event("Product Viewed", seen),
        event("Product Viewed", now() + TimeDelta::hours(1)),
        event("Page Viewed", now() - days(1)),
    ];
    // The future view enters first, then the old one leaves.
    assert_eq!(
        next("viewed(within: 7d)", &p, now()),
        Some(now() + TimeDelta::hours(1))
    );
    let later = now() + TimeDelta::hours(2);
    assert_eq!(next("viewed(within: 7d)", &p, later), Some(seen + days(7)));
    assert!(holds_at(
        "viewed(within: 7d) = 2",
        &p,
        seen + days(7) - TimeDelta::microseconds(1)
    ));
    assert!(holds_at("viewed(within: 7d) = 1", &p, seen + days(7)));
    // Without a window, or with no matching events, time changes nothing.
    assert_eq!(next("viewed()", &p, now()), None);
    assert_eq!(next(r#"viewed(product: "X", within: 7d)"#, &p, now()), None);
    assert_eq!(next("added_to_cart(within: 7d)", &p, now()), None);
    // Orders too; cancelled ones never count.
    p.orders = vec![eur(now() - days(3), 100)];
    let mut cancelled = eur(now() - days(1), 100);
    cancelled.cancelled = true;
    p.orders.push(cancelled);
    assert_eq!(
        next("ordered(within: 30d)", &p, now()),
        Some(now() + days(27))
    );
}

#[test]
fn time_bounds_change_exactly_when_crossed() {
    let mut p = profile("n2");
    let last = now() - days(30);
    p.orders = vec![eur(last, 100)];
    let flip = last + days(90);
    let micro = TimeDelta::microseconds(1);
    // `>` turns false at last + 90d; `>=` one microsecond later.
    let src = "last_order_at > now() - 90d";
    assert_eq!(next(src, &p, now()), Some(flip));
    assert!(holds_at(src, &p, flip - micro) && !holds_at(src, &p, flip));
    let src = "last_order_at >= now() - 90d";
    assert_eq!(next(src, &p, now()), Some(flip + micro));
    assert!(holds_at(src, &p, flip) && !holds_at(src, &p, flip + micro));
    // `<` turns true one microsecond after; `<=` exactly at.
    let src = "last_order_at < now() - 90d";
    assert_eq!(next(src, &p, now()), Some(flip + micro));
    assert!(!holds_at(src, &p, flip) && holds_at(src, &p, flip + micro));
    let src = "last_order_at <= now() - 90d";
    assert_eq!(next(src, &p, now()), Some(flip));
    assert!(!holds_at(src, &p, flip - micro) && holds_at(src, &p, flip));
    // `=` is true for one instant.
    assert_eq!(next("last_order_at = now() - 90d", &p, now()), Some(flip));
    assert_eq!(
        next("last_order_at = now() - 90d", &p, flip),
        Some(flip + micro)
    );
    // A bound already crossed, or a fixed time, never changes again.
    assert_eq!(next("last_order_at > now() - 90d", &p, flip), None);
    assert_eq!(next("last_order_at > 2026-01-01", &p, now()), None);
    // `+` offsets and attributes holding times.
    p.attributes = json!({"renews_at": "2026-04-01", "dates": ["2026-03-10", "x"]})
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(
        next("attributes.renews_at < now() + 1w", &p, now()),
        Some(t("2026-03-25") + micro)
    );
    assert_eq!(
        next("attributes.dates <= now()", &p, now()),
        Some(t("2026-03-10"))
    );
    // The earliest of all parts.
    assert_eq!(
        next(
            "attributes.renews_at < now() + 1w or last_order_at > now() - 90d",
            &p,
            now()
        ),
        Some(t("2026-03-25") + micro)
    );
}

/// Checks on a grid of instants that the value never changes before `next_change` says it
/// could, and that every change is announced.
fn check_schedule(expr: &Expr, p: &Profile, start: DateTime<Utc>, steps: usize, step: TimeDelta) {
    let ctx = |at| EvalContext::new(at, Currency::EUR);
    let grid: Vec<DateTime<Utc>> = (0..steps).map(|i| start + step * i as i32).collect();
    let values: Vec<bool> = grid.iter().map(|at| evaluate(expr, p, &ctx(*at))).collect();
    for i in 0..grid.len() {
        let announced = next_change(expr, p, grid[i]);
        if let Some(n) = announced {
            assert!(n > grid[i]);
        }
        for j in i + 1..grid.len() {
            if announced.is_some_and(|n| grid[j] >= n) {
                break;
            }
            assert_eq!(
                values[j], values[i],
                "`{expr}` changed at {} with no change announced after {}",
                grid[j], grid[i]
            );
        }
    }
}

#[test]
fn schedules_announce_every_change() {
    let mut p = profile("n3");
    let odd = TimeDelta::minutes(7 * 60 + 13);
    p.events = (0..12)
        .map(|i| ProfileEvent {
            device: Some(if i % 2 == 0 { "mobile" } else { "desktop" }.into()),
            ..event(
                if i % 3 == 0 {
                    "Email Opened"
                } else {
                    "Product Viewed"
                },
                now() + days(i * 9) + odd,
            )
        })
        .collect();
    p.orders = (0..4)
        .map(|i| eur(now() + days(i * 25) + odd, 1000))
        .collect();
    p.first_seen = Some(now() - days(3) + odd);
    let expressions = [
        "viewed(within: 14d) >= 2",
        "not ordered(within: 20d) and opened_email(within: 30d)",
        r#"viewed(device: "mobile", within: 10d) = 1 or last_order_at > now() - 12d"#,
        "visited(within: 3d) >= 1 and first_seen < now() - 5w",
        "last_order_at <= now() - 15d or ordered(within: 1w) >= 2",
    ];
    for src in expressions {
        let e = parse(src).unwrap();
        check_schedule(&e, &p, now() - days(5), 500, TimeDelta::hours(6));
    }
}

#[test]
fn cycles_between_segments() {
    let seg = |src: &str| parse(src).unwrap();
    let mut segments: BTreeMap<String, Expr> = BTreeMap::new();
    segments.insert("vip".into(), seg("revenue > 1000"));
    segments.insert(
        "vip_es".into(),
        seg(r#"in_segment("vip") and country = "ES""#),
    );
    segments.insert(
        "vip_es_active".into(),
        seg(r#"in_segment("vip_es") and ordered(within: 30d) and in_segment("missing")"#),
    );
    assert_eq!(find_cycle(&segments), None);
    assert_eq!(
        evaluation_order(&segments).unwrap(),
        vec!["vip", "vip_es", "vip_es_active"]
    );
    assert_eq!(
        dependents(&segments, "vip"),
        set(&["vip_es", "vip_es_active"])
    );
    assert_eq!(dependents(&segments, "vip_es_active"), set(&[]));

    segments.insert("vip".into(), seg(r#"in_segment("vip_es_active")"#));
    assert_eq!(
        find_cycle(&segments),
        Some(vec![
            "vip".into(),
            "vip_es_active".into(),
            "vip_es".into(),
            "vip".into()
        ])
    );
    let mut selfish = BTreeMap::new();
    selfish.insert(
        "me".to_string(),
        seg(r#"in_segment("me") or email_consent"#),
    );
    assert_eq!(find_cycle(&selfish), Some(vec!["me".into(), "me".into()]));
}
