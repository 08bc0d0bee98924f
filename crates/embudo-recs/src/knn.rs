//! Item-to-item neighbours by behaviour, with BM25 weighting.
//!
//! Each item is a vector over people: the person's confidence in the item (number of orders
//! holding it, plus weighted views and carts), re-weighted the way BM25 weights a term in a
//! document, with the item as the document and the people as its terms:
//!
//! `w(i, u) = c(i, u) · (k1 + 1) / (k1 · ((1 − b) + b · |i| / avg|i|) + c(i, u)) · idf(u)`,
//! `idf(u) = ln(N / (1 + n(u)))`,
//!
//! where `|i|` is the sum of the item's confidences, `N` the number of items and `n(u)` the
//! number of items the person touched. A person who buys half the catalog says little about
//! any two of its items; a best seller's raw counts are damped. The similarity of two items is
//! the dot product of their weighted vectors; each item keeps its `k` nearest. A person's
//! score for item `j` is `Σ_i conf(i) · sim(i, j)` over the items of their profile, and
//! `self_weight · sim(i, i)` more for the items they already have.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Csr, Profile};
use crate::scorer::{top_k, Scorer};

/// Settings of [`ItemKnn`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KnnConfig {
    /// Neighbours kept per item.
    pub k: usize,
    /// BM25 saturation.
    pub k1: f32,
    /// BM25 length normalisation.
    pub b: f32,
    /// How much an item the person already has counts toward itself (0: only neighbours).
    pub self_weight: f32,
    /// Score from the profile's recency-faded weights instead of the plain ones.
    pub use_recent: bool,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig {
            k: 100,
            k1: 1.2,
            b: 0.75,
            self_weight: 1.0,
            use_recent: false,
        }
    }
}

/// Item-to-item neighbours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemKnn {
    config: KnnConfig,
    /// Row `i`: the item's neighbours (not itself) and their similarity, best first.
    neighbours: Csr,
    /// Each item's similarity to itself.
    self_sim: Vec<f32>,
}

/// Row `i` of `Mᵀ·M` for a users × items matrix `m` (with `mt` its transpose), accumulated
/// into `acc` (one slot per item, zeroed by the caller): `Σ_u m[u,i] · m[u,:]`.
pub(crate) fn gram_row(m: &Csr, mt: &Csr, i: usize, acc: &mut [f32]) {
    let (users, ws) = mt.row(i);
    for (&u, &w) in users.iter().zip(ws) {
        let (items, vs) = m.row(u as usize);
        for (&j, &v) in items.iter().zip(vs) {
            acc[j as usize] += w * v;
        }
    }
}

impl ItemKnn {
    /// Fits on a users × items confidence matrix.
    pub fn fit(confidence: &Csr, config: KnnConfig) -> ItemKnn {
        let weighted = bm25(confidence, config.k1, config.b);
        let wt = weighted.transpose();
        let n = confidence.cols;
        let rows: Vec<(Vec<(u32, f32)>, f32)> = (0..n)
            .into_par_iter()
            .map_init(
                || vec![0f32; n],
                |acc, i| {
                    gram_row(&weighted, &wt, i, acc);
                    let own = acc[i];
                    let best = top_k(acc, config.k, |j| j as usize == i);
                    // Clear only what the row touched.
                    let (users, _) = wt.row(i);
                    for &u in users {
                        for &j in weighted.row(u as usize).0 {
                            acc[j as usize] = 0.0;
                        }
                    }
                    (best, own)
                },
            )
            .collect();
        let mut indptr = Vec::with_capacity(n + 1);
        indptr.push(0);
        let mut indices = Vec::new();
        let mut values = Vec::new();
        let mut self_sim = Vec::with_capacity(n);
        for (best, own) in rows {
            for (j, s) in best {
                indices.push(j);
                values.push(s);
            }
            indptr.push(indices.len());
            self_sim.push(own);
        }
        ItemKnn {
            config,
            neighbours: Csr {
                rows: n,
                cols: n,
                indptr,
                indices,
                values,
            },
            self_sim,
        }
    }

    /// The item's nearest neighbours and their similarity, best first.
    pub fn neighbours(&self, item: u32) -> impl Iterator<Item = (u32, f32)> + '_ {
        let (items, sims) = if (item as usize) < self.neighbours.rows {
            self.neighbours.row(item as usize)
        } else {
            (&[][..], &[][..])
        };
        items.iter().copied().zip(sims.iter().copied())
    }

    /// Number of items the model knows.
    pub fn items(&self) -> usize {
        self.neighbours.rows
    }
}

/// BM25-weights a users × items matrix (see the module documentation).
fn bm25(m: &Csr, k1: f32, b: f32) -> Csr {
    let n_items = m.cols as f32;
    let mut item_len = vec![0f32; m.cols];
    for (&i, &v) in m.indices.iter().zip(&m.values) {
        item_len[i as usize] += v;
    }
    let touched = item_len.iter().filter(|&&l| l > 0.0).count().max(1) as f32;
    let avg = item_len.iter().sum::<f32>() / touched;
    let mut out = m.clone();
    for u in 0..m.rows {
        let span = m.indptr[u]..m.indptr[u + 1];
        let idf = (n_items / (1.0 + span.len() as f32)).ln().max(0.0);
        for e in span {
            let i = m.indices[e] as usize;
            let c = m.values[e];
            let norm = (1.0 - b) + b * item_len[i] / avg.max(f32::MIN_POSITIVE);
            out.values[e] = c * (k1 + 1.0) / (k1 * norm + c) * idf;
        }
    }
    out
}

impl Scorer for ItemKnn {
    fn name(&self) -> &'static str {
        "similar"
    }

    fn score(&self, profile: &Profile, out: &mut [f32]) {
        for e in &profile.entries {
            let conf = if self.config.use_recent {
                e.recent
            } else {
                e.weight
            };
            if (e.item as usize) >= self.items() {
                continue;
            }
            out[e.item as usize] += conf * self.config.self_weight * self.self_sim[e.item as usize];
            for (j, s) in self.neighbours(e.item) {
                out[j as usize] += conf * s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ProfileEntry;

    #[test]
    fn items_bought_together_are_neighbours() {
        // Users 0–2 buy items 0 and 1 together; user 3 buys 2 and 3; user 4 buys 1 and 2.
        let m = Csr::from_triplets(
            5,
            4,
            vec![
                (0, 0, 1.),
                (0, 1, 1.),
                (1, 0, 1.),
                (1, 1, 1.),
                (2, 0, 1.),
                (2, 1, 1.),
                (3, 2, 1.),
                (3, 3, 1.),
                (4, 1, 1.),
                (4, 2, 1.),
            ],
        );
        let knn = ItemKnn::fit(
            &m,
            KnnConfig {
                k: 2,
                ..Default::default()
            },
        );
        let n0: Vec<u32> = knn.neighbours(0).map(|(j, _)| j).collect();
        assert_eq!(n0, vec![1]);
        let n2: Vec<u32> = knn.neighbours(2).map(|(j, _)| j).collect();
        assert_eq!(n2.len(), 2);
        assert!(n2.contains(&3) && n2.contains(&1));
        // A person holding item 0 gets item 1 first among the others.
        let p = Profile {
            user: None,
            entries: vec![ProfileEntry {
                item: 0,
                weight: 1.0,
                recent: 1.0,
                orders: 1,
                last_at: 0,
            }],
        };
        let mut out = vec![0f32; 4];
        knn.score(&p, &mut out);
        assert!(out[1] > 0.0 && out[2] == 0.0 && out[3] == 0.0);
    }
}
