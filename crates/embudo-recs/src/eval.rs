//! Offline evaluation: a time split, full-catalog ranking metrics.
//!
//! The protocol: models are trained on the baskets placed before the cutoff; the test people
//! are those with a basket before the cutoff and one in `[cutoff, end)`; a person's truth is
//! the set of distinct items they bought in `[cutoff, end)`, repeat purchases included. Each
//! ranking is over every item bought before the cutoff (the catalog the models can know), with
//! no sampled negatives.
//!
//! Metrics, averaged over the test people, for a top-`K` list `L` and truth `T`:
//! - Recall@K = |L ∩ T| / min(K, |T|) (so a perfect list scores 1 even when `|T| > K`);
//! - NDCG@K = Σ_{rank r hit} 1/log₂(r + 1) / Σ_{r ≤ min(K, |T|)} 1/log₂(r + 1);
//! - HR@K = 1 when `L` holds at least one item of `T`;
//! - coverage = distinct items in anybody's top K / items in the catalog.

use serde::{Deserialize, Serialize};

use crate::data::{Basket, Interactions, Profile, SignalWeights};

/// A time split of a shop's history.
#[derive(Debug, Clone)]
pub struct Split {
    /// Everything before the cutoff.
    pub train: Interactions,
    /// The test people: their index, profile at the cutoff, and truth (sorted).
    pub test: Vec<TestCase>,
    /// Items bought before the cutoff: the catalog of the ranking.
    pub known: Vec<bool>,
    /// The cutoff, Unix seconds.
    pub cutoff: i64,
}

/// One test person.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// The person.
    pub user: u32,
    /// What they had done before the cutoff.
    pub profile: Profile,
    /// The distinct items they bought in the test period, sorted.
    pub truth: Vec<u32>,
}

impl Split {
    /// Splits at `cutoff`; the test period ends at `end` (exclusive).
    pub fn new(data: &Interactions, cutoff: i64, end: i64, weights: &SignalWeights) -> Split {
        let train_baskets: Vec<Basket> = data
            .baskets
            .iter()
            .filter(|b| b.at < cutoff)
            .cloned()
            .collect();
        let train = Interactions {
            users: data.users,
            items: data.items,
            baskets: train_baskets,
            touches: data
                .touches
                .iter()
                .filter(|t| t.at < cutoff)
                .copied()
                .collect(),
        };
        let mut known = vec![false; data.items as usize];
        for b in &train.baskets {
            for &i in &b.items {
                known[i as usize] = true;
            }
        }
        let mut before: Vec<Vec<&Basket>> = vec![Vec::new(); data.users as usize];
        for b in &train.baskets {
            if let Some(u) = b.user {
                before[u as usize].push(b);
            }
        }
        let mut touches: Vec<Vec<&crate::data::Touch>> = vec![Vec::new(); data.users as usize];
        for t in &train.touches {
            touches[t.user as usize].push(t);
        }
        let mut truth: Vec<Vec<u32>> = vec![Vec::new(); data.users as usize];
        for b in data.baskets.iter().filter(|b| b.at >= cutoff && b.at < end) {
            if let Some(u) = b.user {
                truth[u as usize].extend(&b.items);
            }
        }
        let test = (0..data.users)
            .filter_map(|u| {
                let t = &mut truth[u as usize];
                if t.is_empty() || before[u as usize].is_empty() {
                    return None;
                }
                t.sort_unstable();
                t.dedup();
                let mut profile = Profile::build(
                    before[u as usize].iter().copied(),
                    touches[u as usize].iter().copied(),
                    weights,
                    cutoff,
                );
                profile.user = Some(u);
                Some(TestCase {
                    user: u,
                    profile,
                    truth: std::mem::take(t),
                })
            })
            .collect();
        Split {
            train,
            test,
            known,
            cutoff,
        }
    }

    /// Number of items in the ranking's catalog.
    pub fn catalog_size(&self) -> usize {
        self.known.iter().filter(|&&k| k).count()
    }
}

/// Ranking metrics over a set of test people.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Recall@20 (see the module documentation).
    pub recall_at_20: f64,
    /// NDCG@20.
    pub ndcg_at_20: f64,
    /// HR@10.
    pub hit_rate_at_10: f64,
    /// Share of the catalog in anybody's top 20.
    pub coverage: f64,
    /// Test people.
    pub users: usize,
}

/// Accumulates [`Metrics`] one ranked list at a time.
#[derive(Debug, Clone)]
pub struct MetricsAcc {
    recall: f64,
    ndcg: f64,
    hits10: f64,
    users: usize,
    seen: Vec<bool>,
}

impl MetricsAcc {
    /// For a catalog of `items` items.
    pub fn new(items: usize) -> Self {
        MetricsAcc {
            recall: 0.0,
            ndcg: 0.0,
            hits10: 0.0,
            users: 0,
            seen: vec![false; items],
        }
    }

    /// Adds one person's top list (best first, at least 20 long when the catalog allows) and
    /// truth (sorted).
    pub fn add(&mut self, list: &[u32], truth: &[u32]) {
        self.users += 1;
        if truth.is_empty() {
            return;
        }
        let k = 20;
        let mut hits = 0usize;
        let mut dcg = 0f64;
        for (r, &item) in list.iter().take(k).enumerate() {
            if let Some(s) = self.seen.get_mut(item as usize) {
                *s = true;
            }
            if truth.binary_search(&item).is_ok() {
                hits += 1;
                dcg += 1.0 / ((r + 2) as f64).log2();
                if r < 10 && hits == 1 {
                    self.hits10 += 1.0;
                }
            }
        }
        let ideal = truth.len().min(k);
        let idcg: f64 = (0..ideal).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
        self.recall += hits as f64 / ideal as f64;
        self.ndcg += dcg / idcg;
    }

    /// The averages, with coverage over `catalog` items.
    pub fn finish(&self, catalog: usize) -> Metrics {
        let n = self.users.max(1) as f64;
        Metrics {
            recall_at_20: self.recall / n,
            ndcg_at_20: self.ndcg / n,
            hit_rate_at_10: self.hits10 / n,
            coverage: self.seen.iter().filter(|&&s| s).count() as f64 / catalog.max(1) as f64,
            users: self.users,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_hand() {
        let mut acc = MetricsAcc::new(30);
        // Truth {1, 2}: hits at ranks 1 and 3.
        acc.add(&[1, 5, 2, 6], &[1, 2]);
        // Truth {9}: a hit at rank 11 counts for recall@20 but not HR@10.
        let list: Vec<u32> = (10..20).chain([9]).collect();
        acc.add(&list, &[9]);
        let m = acc.finish(20);
        let ndcg1 = (1.0 + 1.0 / 4f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        let ndcg2 = 1.0 / 12f64.log2();
        assert!((m.recall_at_20 - 1.0).abs() < 1e-12);
        assert!((m.ndcg_at_20 - (ndcg1 + ndcg2) / 2.0).abs() < 1e-12);
        assert!((m.hit_rate_at_10 - 0.5).abs() < 1e-12);
        assert!((m.coverage - 15.0 / 20.0).abs() < 1e-12);
        assert_eq!(m.users, 2);
    }

    #[test]
    fn split_keeps_people_seen_on_both_sides() {
        let b = |user, at, items: &[u32]| Basket {
            user,
            at,
            items: items.to_vec(),
        };
        let data = Interactions {
            users: 3,
            items: 4,
            baskets: vec![
                b(Some(0), 1, &[0]),
                b(Some(1), 2, &[1]),
                b(Some(0), 10, &[2, 0]),
                b(Some(0), 11, &[2]),
                b(Some(2), 12, &[3]),
                b(Some(1), 99, &[3]),
            ],
            touches: vec![],
        };
        let s = Split::new(&data, 5, 50, &SignalWeights::default());
        assert_eq!(s.test.len(), 1);
        assert_eq!(s.test[0].user, 0);
        assert_eq!(s.test[0].truth, vec![0, 2]);
        assert_eq!(s.known, vec![true, true, false, false]);
        assert_eq!(s.train.baskets.len(), 2);
    }
}
