//! Evaluation of every field and function on hand-built profiles.

mod common;

use chrono::TimeDelta;
use common::*;
use embudo_core::{Currency, Money};
use embudo_segments::{
    evaluate, parse, preview, EvalContext, Predictions, Profile, ProfileEvent, RfmScore,
};
use serde_json::json;

const VIEWED: &str = "Product Viewed";

fn kitchen_buyer() -> Profile {
    let mut p = profile("c1");
    p.orders = vec![
        order(
            now() - days(200),
            Currency::EUR,
            4_000,
            vec![line("P9", "Garden", "Acme")],
        ),
        order(
            now() - days(30),
            Currency::EUR,
            6_000,
            vec![line("P1", "Kitchen", "Zeta"), line("P2", "Bath", "Acme")],
        ),
    ];
    p
}

#[test]
fn the_first_example_of_the_issue() {
    let source =
        r#"orders_count >= 2 and last_order_at > now() - 90d and bought(category: "Kitchen")"#;
    let p = kitchen_buyer();
    assert!(holds(source, &p));
    // 91 days later the last order is out of the 90 days.
    assert!(!holds_at(source, &p, now() + days(61)));
    let mut one_order = p.clone();
    one_order.orders.remove(0);
    assert!(!holds(source, &one_order));
    let mut no_kitchen = p.clone();
    no_kitchen.orders[1].lines.remove(0);
    assert!(!holds(source, &no_kitchen));
}

#[test]
fn the_second_example_of_the_issue() {
    let source = r#"viewed(product: "P1", within: 7d) and not ordered(within: 7d)"#;
    let mut p = profile("c2");
    p.events.push(product_event(
        VIEWED,
        now() - days(2),
        "P1",
        "Kitchen",
        "Zeta",
    ));
    assert!(holds(source, &p));
    p.orders.push(eur(now() - days(1), 1_000));
    assert!(!holds(source, &p));
    // An order more than 7 days ago does not count as ordering within 7 days.
    p.orders[0].placed_at = now() - days(8);
    assert!(holds(source, &p));
    // A cancelled order never counts.
    p.orders[0].placed_at = now() - days(1);
    p.orders[0].cancelled = true;
    assert!(holds(source, &p));
    // Viewing another product does not count.
    p.events[0].product_id = Some(embudo_core::ProductId::parse("P2").unwrap());
    assert!(!holds(source, &p));
}

#[test]
fn windows_exclude_their_start_and_include_now() {
    let mut p = profile("c3");
    let week = TimeDelta::days(7);
    let src = "viewed(within: 7d)";
    p.events = vec![event(VIEWED, now() - week)];
    assert!(!holds(src, &p), "exactly `within` ago is outside");
    p.events = vec![event(VIEWED, now() - week + TimeDelta::microseconds(1))];
    assert!(holds(src, &p), "one microsecond later is inside");
    p.events = vec![event(VIEWED, now())];
    assert!(holds(src, &p), "now is inside");
    p.events = vec![event(VIEWED, now() + TimeDelta::seconds(1))];
    assert!(!holds(src, &p), "the future is outside a window");
    assert!(holds("viewed()", &p), "but counts without a window");
    // Orders follow the same rule.
    p.orders = vec![eur(now() - days(30), 100)];
    assert!(!holds("ordered(within: 30d)", &p));
    assert!(holds("ordered(within: 721h)", &p));
    assert!(holds("ordered(within: 5w)", &p));
}

#[test]
fn counts_and_filters_of_behaviour_functions() {
    let mut p = profile("c4");
    let mobile = |mut e: ProfileEvent| {
        e.device = Some("Mobile".into());
        e.source = Some("newsletter".into());
        e
    };
    p.events = vec![
        mobile(product_event(VIEWED, now() - days(1), "S1", "Shoes", "Run")),
        mobile(product_event(VIEWED, now() - days(2), "S2", "shoes", "Run")),
        mobile(product_event(
            VIEWED,
            now() - days(40),
            "S3",
            "Shoes",
            "Run",
        )),
        product_event(VIEWED, now() - days(3), "S4", "Shoes", "Walk"),
        product_event("Product Added", now() - days(1), "S1", "Shoes", "Run"),
    ];
    let src = r#"viewed(category: "Shoes", device: "mobile", within: 30d)"#;
    assert!(holds(&format!("{src} >= 2"), &p));
    assert!(!holds(&format!("{src} >= 3"), &p));
    assert!(holds(&format!("{src} = 2"), &p));
    assert!(holds(&format!("{src} != 3"), &p));
    assert!(holds(&format!("{src} < 3"), &p));
    assert!(
        holds(r#"viewed(category: "SHOES") = 4"#, &p),
        "categories ignore case"
    );
    assert!(holds(r#"viewed(brand: ["Walk", "Other"]) = 1"#, &p));
    assert!(holds(r#"viewed(product: ["S1", "S4"]) = 2"#, &p));
    assert!(
        holds(r#"viewed(product: "s1") = 0"#, &p),
        "product ids are exact"
    );
    assert!(holds(r#"viewed(source: "Newsletter", within: 7d) = 2"#, &p));
    assert!(holds(r#"added_to_cart(product: "S1", within: 2d)"#, &p));
    assert!(
        !holds(r#"added_to_cart(product: "S1", within: 1d)"#, &p),
        "exactly 1d ago"
    );
    assert!(!holds(r#"added_to_cart(brand: "Walk")"#, &p));
    // Events without the filtered field never match the filter.
    assert!(holds(r#"viewed(device: "desktop") = 0"#, &p));
    assert!(holds(r#"not viewed(device: "desktop")"#, &p));
}

#[test]
fn searches_match_text_within_the_query() {
    let mut p = profile("c5");
    p.events = vec![
        ProfileEvent {
            query: Some("Red Running Shoes".into()),
            ..event("Products Searched", now() - days(1))
        },
        ProfileEvent {
            query: None,
            ..event("Products Searched", now() - days(1))
        },
    ];
    assert!(holds(r#"searched(query: "running")"#, &p));
    assert!(holds(r#"searched(query: ["boots", "red run"])"#, &p));
    assert!(!holds(r#"searched(query: "boots")"#, &p));
    assert!(holds("searched(within: 2d) = 2", &p));
}

#[test]
fn visits_are_distinct_days_with_any_event() {
    let mut p = profile("c6");
    let day = t("2026-02-27T00:00:00Z");
    p.events = vec![
        event("Page Viewed", day + TimeDelta::hours(1)),
        event("Product Viewed", day + TimeDelta::hours(23)),
        event("Custom Thing", day + TimeDelta::hours(25)),
        ProfileEvent {
            device: Some("mobile".into()),
            ..event("Page Viewed", day - days(60))
        },
    ];
    assert!(holds("visited(within: 30d) = 2", &p));
    // Opening an email or a refund by the shop is not a visit.
    p.events.push(event("Email Opened", now() - days(10)));
    p.events.push(event("Order Refunded", now() - days(11)));
    assert!(holds("visited(within: 30d) = 2", &p));
    assert!(holds("visited() = 3", &p));
    assert!(holds(r#"visited(device: "mobile") = 1"#, &p));
    assert!(holds(r#"not visited(device: "mobile", within: 30d)"#, &p));
}

#[test]
fn engagement_and_custom_events() {
    let mut p = profile("c7");
    p.events = vec![
        event("Email Opened", now() - days(3)),
        event("Email Opened", now() - days(20)),
        event("Email Clicked", now() - days(20)),
        event("Checkout Started", now() - TimeDelta::hours(2)),
    ];
    assert!(holds("opened_email(within: 7d)", &p));
    assert!(holds("opened_email() = 2", &p));
    assert!(!holds("clicked_email(within: 7d)", &p));
    assert!(holds("clicked_email(within: 30d)", &p));
    assert!(holds(r#"event(name: "Checkout Started", within: 3h)"#, &p));
    assert!(
        !holds(r#"event(name: "checkout started")"#, &p),
        "names are exact"
    );
}

#[test]
fn bought_looks_at_lines_of_live_orders() {
    let mut p = kitchen_buyer();
    assert!(holds(r#"bought(category: "kitchen")"#, &p));
    assert!(
        holds(r#"bought(brand: "Acme") = 2"#, &p),
        "orders, not lines"
    );
    assert!(holds(r#"bought(brand: "Acme", within: 90d) = 1"#, &p));
    // Filters must hold on the same line: the Kitchen line is Zeta, the Acme line is Bath.
    assert!(!holds(r#"bought(category: "Kitchen", brand: "Acme")"#, &p));
    assert!(holds(r#"bought(category: "Kitchen", brand: "Zeta")"#, &p));
    assert!(holds(r#"bought(product: ["P1", "P9"]) = 2"#, &p));
    p.orders[1].cancelled = true;
    assert!(!holds(r#"bought(category: "Kitchen")"#, &p));
    assert!(holds("orders_count = 1", &p));
}

#[test]
fn purchase_fields_and_money() {
    let mut p = kitchen_buyer(); // 40.00 + 60.00 EUR
    p.orders
        .push(order(now() - days(5), Currency::USD, 1_000_000, vec![]));
    let mut cancelled = eur(now() - days(1), 999_999);
    cancelled.cancelled = true;
    p.orders.push(cancelled);
    assert!(
        holds("orders_count = 3", &p),
        "all currencies, cancelled excluded"
    );
    assert!(holds("revenue = 100", &p), "the default currency only");
    assert!(holds("revenue = 100 EUR and revenue = 10000 USD", &p));
    assert!(
        holds("revenue > 99.999 and revenue < 100.001", &p),
        "exact decimals"
    );
    assert!(holds("revenue = 0 GBP", &p), "nothing in GBP");
    assert!(holds("average_order_value = 50", &p));
    assert!(holds("average_order_value = 10000 USD", &p));
    assert!(
        !holds("average_order_value > 0 GBP", &p),
        "no orders in GBP: absent"
    );
    assert!(!holds("average_order_value <= 0 GBP", &p));
    assert!(holds("first_order_at = 2025-08-13T12:00:00Z", &p));
    assert!(
        holds("last_order_at = 2026-02-24T12:00:00Z", &p),
        "the USD order"
    );
    assert!(holds(
        "last_order_at < now() - 4d and last_order_at > now() - 6d",
        &p
    ));

    // Averages compare exactly: 10.005 lies between 10.00 and 10.01.
    let mut q = profile("c8");
    q.orders = vec![eur(now(), 1000), eur(now(), 1001)];
    assert!(holds("average_order_value = 10.005", &q));
    assert!(holds("average_order_value > 10.004", &q));

    // Currencies with other exponents.
    let jpy = Currency::parse("JPY").unwrap();
    let kwd = Currency::parse("KWD").unwrap();
    q.orders = vec![
        order(now(), jpy, 1_200, vec![]),
        order(now(), kwd, 1_234, vec![]),
    ];
    assert!(holds("revenue = 1200 JPY and revenue = 1.234 KWD", &q));
    let ctx = EvalContext::new(now(), jpy);
    assert!(evaluate(&parse("revenue >= 1200").unwrap(), &q, &ctx));

    // A customer without orders.
    let none = profile("c9");
    assert!(holds("orders_count = 0 and revenue = 0", &none));
    for src in [
        "last_order_at < now()",
        "last_order_at >= now()",
        "first_order_at != 2026-01-01",
        "average_order_value >= 0",
        "last_order_at is set",
    ] {
        assert!(!holds(src, &none), "{src}");
    }
    assert!(holds("not (last_order_at > now() - 90d)", &none));
}

#[test]
fn profile_attributes() {
    let mut p = profile("Cust-1");
    p.country = Some("es".into());
    p.city = Some("Málaga".into());
    p.customer_type = embudo_core::CustomerType::Business;
    p.email_consent = true;
    p.email_consent_at = Some(t("2026-01-10T08:00:00Z"));
    p.first_seen = Some(t("2025-01-01T00:00:00Z"));
    p.last_seen = Some(now() - TimeDelta::hours(1));
    assert!(
        holds(r#"country = "ES" and city = "MÁLAGA""#, &p),
        "case is ignored"
    );
    assert!(holds(r#"country in ["PT", "ES"]"#, &p));
    assert!(holds(r#"country not in ["PT", "FR"]"#, &p));
    assert!(
        holds(r#"id = "Cust-1" and id != "cust-1""#, &p),
        "ids are exact"
    );
    assert!(holds(r#"customer_type = "business""#, &p));
    assert!(holds("email_consent and email_consent_at < 2026-01-11", &p));
    assert!(holds(
        "first_seen <= 2025-01-01 and last_seen > now() - 2h",
        &p
    ));

    let mut bare = profile("c10");
    bare.country = None;
    assert!(!holds(r#"country = "ES""#, &bare));
    assert!(
        !holds(r#"country != "ES""#, &bare),
        "absent: every comparison is false"
    );
    assert!(
        holds(r#"not country = "ES""#, &bare),
        "but its negation is true"
    );
    assert!(!holds(r#"country in ["ES"]"#, &bare));
    assert!(holds(r#"country not in ["ES"]"#, &bare));
    assert!(holds("country is not set and not email_consent", &bare));
    assert!(
        holds("email_consent = false", &bare),
        "never asked is no consent"
    );
    assert!(!holds("email_consent_at is set", &bare));
    assert!(holds(r#"customer_type = "consumer""#, &bare));
}

#[test]
fn custom_attributes() {
    let mut p = profile("c11");
    let attrs = json!({
        "plan": "Pro",
        "seats": 12,
        "score": 0.75,
        "age": "34",
        "vip": true,
        "tags": ["gift", "b2b"],
        "address": {"zip": "28001"},
        "renews_at": "2026-04-01T00:00:00Z",
        "signup": "2025-06-30",
        "nothing": null,
    });
    p.attributes = attrs.as_object().unwrap().clone();
    let yes = [
        r#"attributes.plan = "pro""#,
        r#"attributes.plan in ["basic", "PRO"]"#,
        "attributes.seats >= 12 and attributes.seats < 12.5",
        "attributes.score > 0.7",
        "attributes.age = 34",
        "attributes.vip",
        "attributes.vip = true and attributes.vip != false",
        r#"attributes.tags = "gift""#,
        r#"attributes.tags != "retail""#,
        r#"attributes.address.zip = "28001""#,
        r#"attributes."address".zip in ["28001"]"#,
        "attributes.renews_at > now() and attributes.renews_at < now() + 5w",
        "attributes.signup < 2025-07-01",
        "attributes.nothing is not set and attributes.missing is not set",
        "attributes.plan is set",
    ];
    for src in yes {
        assert!(holds(src, &p), "{src}");
    }
    let no = [
        r#"attributes.plan = "basic""#,
        r#"attributes.tags != "gift""#,
        "attributes.plan = 5",
        "attributes.plan != 5",
        "attributes.seats = true",
        r#"attributes.seats = "12""#,
        "attributes.address.zip.more = 1",
        "attributes.nothing = 1",
        "attributes.missing != 1",
        "attributes.plan > now()",
    ];
    for src in no {
        assert!(!holds(src, &p), "{src}");
    }
}

#[test]
fn predictions_absent_make_comparisons_false() {
    let mut p = profile("c12");
    for src in [
        "churn_risk > 0.7",
        "churn_risk <= 0.7",
        "predicted_clv > 0",
        "p_alive != 1",
    ] {
        assert!(!holds(src, &p), "{src}");
    }
    p.predictions = Some(Predictions {
        churn_risk: Some(0.8),
        p_alive: Some(0.2),
        expected_orders_90d: Some(1.5),
        predicted_clv: Some(Money::new(60_000, Currency::EUR)),
        expected_order_value: Some(Money::new(4_550, Currency::EUR)),
        ..Predictions::default()
    });
    assert!(holds("churn_risk > 0.7 and p_alive < 0.25", &p));
    assert!(holds("expected_orders_90d >= 1.5", &p));
    assert!(
        !holds("expected_orders_30d >= 0", &p),
        "this one is still absent"
    );
    assert!(holds(
        "expected_orders_30d is not set and churn_risk is set",
        &p
    ));
    assert!(holds("predicted_clv > 500 and predicted_clv = 600 EUR", &p));
    assert!(
        !holds("predicted_clv > 0 USD", &p),
        "another currency is not converted"
    );
    assert!(!holds("predicted_clv <= 1000000 USD", &p));
    assert!(holds(
        "expected_order_value = 45.5 and expected_order_value is set",
        &p
    ));
}

#[test]
fn rfm_conditions() {
    let mut p = profile("c13");
    assert!(!holds(r#"rfm_segment = "Champions""#, &p));
    assert!(!holds(r#"rfm_segment != "Champions""#, &p));
    assert!(!holds("rfm_r >= 1", &p));
    p.rfm = Some(RfmScore::new(5, 4, 5));
    assert!(holds(
        r#"rfm_segment = "champions" and rfm_segment != "Lost""#,
        &p
    ));
    assert!(holds(r#"rfm_segment in ["At risk", "Champions"]"#, &p));
    assert!(holds(
        "rfm_r = 5 and rfm_f = 4 and rfm_m = 5 and rfm_fm = 4",
        &p
    ));
    p.rfm = Some(RfmScore::new(1, 5, 5));
    assert!(holds(r#"rfm_segment = "Can't lose them""#, &p));
    assert!(holds(r#"rfm_segment = "cant_lose_them""#, &p));
}

#[test]
fn membership_of_other_segments() {
    let mut p = profile("c14");
    p.segments.insert("vip".into());
    assert!(holds(
        r#"in_segment("vip") and not in_segment("churned")"#,
        &p
    ));
    let expr = parse(r#"in_segment("churned")"#).unwrap();
    let lookup = |_: &Profile, key: &str| key == "churned";
    let ctx = EvalContext::new(now(), Currency::EUR).with_membership(&lookup);
    assert!(evaluate(&expr, &p, &ctx));
}

#[test]
fn times_are_utc_whatever_zone_is_written() {
    let mut p = profile("c15");
    p.last_seen = Some(t("2026-01-30T23:30:00Z"));
    assert!(holds("last_seen = 2026-01-31T00:30:00+01:00", &p));
    assert!(
        holds("last_seen < 2026-01-31", &p),
        "a date is midnight UTC"
    );
    assert!(holds("last_seen >= 2026-01-30T18:30:00-05:00", &p));
}

#[test]
fn constants_and_logic() {
    let p = kitchen_buyer();
    assert!(holds("true", &p));
    assert!(!holds("false", &p));
    assert!(holds("orders_count = 5 or orders_count = 2", &p));
    assert!(!holds("orders_count = 5 or orders_count = 3 and true", &p));
    assert!(holds("not (orders_count = 5 or false)", &p));
}

#[test]
fn previews_count_and_sample() {
    let profiles: Vec<Profile> = (0..10)
        .map(|i| {
            let mut p = profile(&format!("c{i}"));
            p.orders = (0..i).map(|_| eur(now(), 100)).collect();
            p
        })
        .collect();
    let expr = parse("orders_count >= 4").unwrap();
    let out = preview(&expr, &profiles, &EvalContext::new(now(), Currency::EUR), 3);
    assert_eq!((out.size, out.scanned), (6, 10));
    let sample: Vec<&str> = out.sample.iter().map(|c| c.as_str()).collect();
    assert_eq!(sample, ["c4", "c5", "c6"]);
}
