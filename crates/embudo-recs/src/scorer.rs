//! The common shape of the personal models, and the two simplest: popularity and "buy again".

use serde::{Deserialize, Serialize};

use crate::data::{Interactions, Profile, SignalWeights};

/// A model that scores every item of the catalog for one person's [`Profile`].
///
/// Every personal model works from the profile at request time, so a person's latest events
/// change their recommendations at once, without retraining.
pub trait Scorer: Send + Sync {
    /// The source's name, as reports and reasons show it.
    fn name(&self) -> &'static str;

    /// Adds the score of every item to `out` (one slot per item, zeroed by the caller).
    fn score(&self, profile: &Profile, out: &mut [f32]);
}

/// Items by how many distinct people bought them, faded by age when a half-life is given
/// (trending).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Popularity {
    /// The score of each item.
    pub scores: Vec<f32>,
}

impl Popularity {
    /// Counts the distinct buyers of each item (guests count once per order), each purchase
    /// faded by its age at `now` when `half_life_days` is given.
    pub fn fit(data: &Interactions, now: i64, half_life_days: Option<f32>) -> Popularity {
        let weights = SignalWeights {
            half_life_days: half_life_days.unwrap_or(f32::INFINITY),
            ..Default::default()
        };
        let mut scores = vec![0f32; data.items as usize];
        // The latest purchase of each (person, item): a buyer counts once.
        let mut latest: std::collections::HashMap<(u32, u32), i64> = Default::default();
        for b in data.baskets.iter().filter(|b| b.at < now) {
            for &i in &b.items {
                match b.user {
                    Some(u) => {
                        let at = latest.entry((u, i)).or_insert(b.at);
                        *at = (*at).max(b.at);
                    }
                    None => scores[i as usize] += weights.decay(now - b.at),
                }
            }
        }
        for ((_, i), at) in latest {
            scores[i as usize] += if half_life_days.is_some() {
                weights.decay(now - at)
            } else {
                1.0
            };
        }
        Popularity { scores }
    }
}

impl Scorer for Popularity {
    fn name(&self) -> &'static str {
        "popular"
    }

    fn score(&self, _profile: &Profile, out: &mut [f32]) {
        for (o, s) in out.iter_mut().zip(&self.scores) {
            *o += s;
        }
    }
}

/// "Buy again": the person's own products, by their recency-faded weight. Repeat purchases
/// are most of the revenue in many shops (consumables, wholesale).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Repeat;

impl Scorer for Repeat {
    fn name(&self) -> &'static str {
        "again"
    }

    fn score(&self, profile: &Profile, out: &mut [f32]) {
        for e in &profile.entries {
            out[e.item as usize] += e.recent;
        }
    }
}

/// The `k` best items of `scores` (highest first, ties by lower index), skipping items for
/// which `skip` is true and items scored zero or less or not a number.
pub fn top_k(scores: &[f32], k: usize, skip: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
    best(scores, k, skip, true)
}

/// The `k` best items of `scores` like [`top_k`], keeping items scored zero or less: a full
/// ranking of the catalog, as the offline evaluation needs.
pub fn rank_all(scores: &[f32], k: usize, skip: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
    best(scores, k, skip, false)
}

fn best(scores: &[f32], k: usize, skip: impl Fn(u32) -> bool, positive: bool) -> Vec<(u32, f32)> {
    if k == 0 {
        return Vec::new();
    }
    // A min-heap of the best k so far, ordered by (score, reversed index).
    let mut heap: std::collections::BinaryHeap<
        std::cmp::Reverse<(Ordered, std::cmp::Reverse<u32>)>,
    > = std::collections::BinaryHeap::with_capacity(k + 1);
    for (i, &s) in scores.iter().enumerate() {
        if s.is_nan() || (positive && s <= 0.0) || skip(i as u32) {
            continue;
        }
        let entry = std::cmp::Reverse((Ordered(s), std::cmp::Reverse(i as u32)));
        if heap.len() < k {
            heap.push(entry);
        } else if let Some(min) = heap.peek() {
            if entry < *min {
                heap.pop();
                heap.push(entry);
            }
        }
    }
    let mut out: Vec<(u32, f32)> = heap
        .into_iter()
        .map(|std::cmp::Reverse((s, std::cmp::Reverse(i)))| (i, s.0))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// An `f32` that is totally ordered (for heaps).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ordered(f32);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Basket;

    #[test]
    fn top_k_orders_by_score_then_index_and_skips() {
        let scores = [0.5, 2.0, 0.0, 2.0, 1.0, f32::NAN, -1.0];
        assert_eq!(
            top_k(&scores, 3, |_| false),
            vec![(1, 2.0), (3, 2.0), (4, 1.0)]
        );
        assert_eq!(
            top_k(&scores, 10, |i| i == 3),
            vec![(1, 2.0), (4, 1.0), (0, 0.5)]
        );
        assert!(top_k(&scores, 0, |_| false).is_empty());
    }

    #[test]
    fn popularity_counts_buyers_once() {
        let b = |user, at, items: &[u32]| Basket {
            user,
            at,
            items: items.to_vec(),
        };
        let data = Interactions {
            users: 2,
            items: 3,
            baskets: vec![
                b(Some(0), 10, &[0, 1]),
                b(Some(0), 20, &[0]),
                b(Some(1), 30, &[0]),
                b(None, 40, &[2]),
                b(Some(1), 100, &[2]),
            ],
            touches: vec![],
        };
        let p = Popularity::fit(&data, 50, None);
        assert_eq!(p.scores, vec![2.0, 1.0, 1.0]);
    }
}
