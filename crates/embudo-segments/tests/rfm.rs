//! RFM scores on a small known data set with ties, the group table, and the report.

use chrono::{DateTime, TimeDelta, Utc};
use embudo_core::CustomerId;
use embudo_segments::{quintile_scores, rfm_report, rfm_scores, RfmGroup, RfmInput, RfmScore};

fn now() -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse().unwrap()
}

fn input(id: &str, days_ago: i64, orders: u64, monetary_minor: i64) -> RfmInput {
    RfmInput {
        customer: CustomerId::parse(id).unwrap(),
        // A few hours more than whole days: recency counts whole days.
        last_order_at: now() - TimeDelta::days(days_ago) - TimeDelta::hours(3),
        orders,
        monetary_minor,
    }
}

fn data() -> Vec<RfmInput> {
    vec![
        input("A", 1, 10, 100_000),
        input("B", 1, 1, 5_000),
        input("C", 5, 3, 30_000),
        input("D", 10, 3, 30_000),
        input("E", 30, 2, 12_000),
        input("F", 30, 1, 3_000),
        input("G", 90, 5, 80_000),
        input("H", 200, 1, 2_000),
        input("I", 365, 8, 90_000),
        input("J", 400, 1, 1_000),
    ]
}

#[test]
fn scores_of_a_known_data_set() {
    use RfmGroup::*;
    let scores = rfm_scores(&data(), now());
    // Worked by hand with score = 1 + floor(5 × strictly-worse / 10) (see docs/segments.md).
    let expected = [
        ("A", 5, 5, 5, Champions),
        ("B", 5, 1, 2, New),
        ("C", 4, 3, 3, Loyal),
        ("D", 4, 3, 3, Loyal),
        ("E", 3, 3, 3, NeedAttention),
        ("F", 3, 1, 2, AboutToSleep),
        ("G", 2, 4, 4, AtRisk),
        ("H", 2, 1, 1, Hibernating),
        ("I", 1, 5, 5, CantLoseThem),
        ("J", 1, 1, 1, Lost),
    ];
    for ((id, r, f, m, group), (input, score)) in expected.iter().zip(data().iter().zip(&scores)) {
        assert_eq!(input.customer.as_str(), *id);
        assert_eq!(
            (score.r, score.f, score.m, score.group),
            (*r, *f, *m, *group),
            "customer {id}"
        );
    }
    // Ties share scores: A and B ordered the same day, C and D spent the same.
    assert_eq!(scores[0].r, scores[1].r);
    assert_eq!(scores[2].m, scores[3].m);
}

#[test]
fn ties_never_split_and_scores_follow_the_values() {
    assert_eq!(quintile_scores(&[5, 5, 5]), vec![1, 1, 1]);
    assert_eq!(
        quintile_scores(&[1, 1, 1, 1, 1, 1, 2, 3]),
        vec![1, 1, 1, 1, 1, 1, 4, 5]
    );
    // A deterministic spread of values with many ties.
    let values: Vec<i64> = (0..1000).map(|i| (i * 7919 % 97) / 4).collect();
    let scores = quintile_scores(&values);
    for (i, a) in values.iter().enumerate() {
        assert!((1..=5).contains(&scores[i]));
        for (j, b) in values.iter().enumerate() {
            if a == b {
                assert_eq!(scores[i], scores[j]);
            }
            if a < b {
                assert!(scores[i] <= scores[j]);
            }
        }
    }
    // Distinct values split into equal fifths.
    let distinct: Vec<i64> = (0..100).rev().collect();
    let scores = quintile_scores(&distinct);
    for s in 1..=5u8 {
        assert_eq!(scores.iter().filter(|x| **x == s).count(), 20);
    }
}

#[test]
fn the_group_table() {
    use RfmGroup::*;
    let table = [
        (1, [Lost, Hibernating, AtRisk, CantLoseThem, CantLoseThem]),
        (2, [Hibernating, AboutToSleep, AtRisk, AtRisk, AtRisk]),
        (
            3,
            [AboutToSleep, NeedAttention, NeedAttention, Loyal, Loyal],
        ),
        (
            4,
            [Promising, PotentialLoyalists, Loyal, Champions, Champions],
        ),
        (5, [New, PotentialLoyalists, Loyal, Champions, Champions]),
    ];
    for (r, row) in table {
        for (fm, group) in (1..=5u8).zip(row) {
            assert_eq!(RfmGroup::from_scores(r, fm), group, "r {r} fm {fm}");
        }
    }
    // fm is (f + m) / 2 rounded down.
    assert_eq!(RfmScore::new(5, 1, 2).fm(), 1);
    assert_eq!(RfmScore::new(5, 1, 2).group, New);
    assert_eq!(RfmScore::new(5, 2, 3).group, PotentialLoyalists);
    assert_eq!(RfmScore::new(5, 3, 5).group, Champions);
    assert_eq!(
        serde_json::to_string(&RfmScore::new(1, 4, 5)).unwrap(),
        r#"{"r":1,"f":4,"m":5,"group":"cant_lose_them"}"#
    );
}

#[test]
fn the_report() {
    let data = data();
    let scores = rfm_scores(&data, now());
    let report = rfm_report(&data, &scores, now());
    assert_eq!(report.customers, 10);
    assert_eq!(report.groups.len(), 11);
    let loyal = report
        .groups
        .iter()
        .find(|g| g.group == RfmGroup::Loyal)
        .unwrap();
    assert_eq!(
        (loyal.customers, loyal.orders, loyal.monetary_minor),
        (2, 6, 60_000)
    );
    assert_eq!(loyal.share, 0.2);
    assert_eq!(loyal.mean_recency_days, Some(7.5));
    let promising = report
        .groups
        .iter()
        .find(|g| g.group == RfmGroup::Promising)
        .unwrap();
    assert_eq!(
        (promising.customers, promising.mean_recency_days),
        (0, None)
    );
    assert_eq!(report.grid[4][4], 1, "A: r 5, fm 5");
    assert_eq!(report.grid[3][2], 2, "C and D: r 4, fm 3");
    assert_eq!(report.grid.iter().flatten().sum::<u64>(), 10);
    assert_eq!(report.groups[0].name, "Champions");

    let empty = rfm_report(&[], &rfm_scores(&[], now()), now());
    assert_eq!(empty.customers, 0);
    assert!(empty
        .groups
        .iter()
        .all(|g| g.customers == 0 && g.share == 0.0));
}
