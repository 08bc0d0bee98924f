//! People like you: neighbours among people, in the manner of TIFU-KNN (Hu et al. 2020).
//!
//! Each person is their profile vector (the recency-faded weight of each product), scaled to
//! unit length. For a profile, the `k` most similar people (cosine) are found through an
//! inverted index from items to people, and each item scores `Σ sim(p, v)^power · v[item]`
//! over them. The person themself is never their own neighbour.

use serde::{Deserialize, Serialize};

use crate::data::{Csr, Profile};
use crate::scorer::{top_k, Scorer};

/// Settings of [`UserKnn`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UserKnnConfig {
    /// Neighbours per person.
    pub k: usize,
    /// Sharpening of similarities.
    pub power: f32,
}

impl Default for UserKnnConfig {
    fn default() -> Self {
        UserKnnConfig { k: 100, power: 1.0 }
    }
}

/// The people's normalised vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserKnn {
    config: UserKnnConfig,
    /// People × items, rows of unit length.
    people: Csr,
    /// Items × people.
    by_item: Csr,
}

impl UserKnn {
    /// Fits on a people × items matrix of profile weights.
    pub fn fit(weights: &Csr, config: UserKnnConfig) -> UserKnn {
        let mut people = weights.clone();
        for u in 0..people.rows {
            let span = people.indptr[u]..people.indptr[u + 1];
            let norm = people.values[span.clone()]
                .iter()
                .map(|v| v * v)
                .sum::<f32>()
                .sqrt();
            if norm > 0.0 {
                for v in &mut people.values[span] {
                    *v /= norm;
                }
            }
        }
        let by_item = people.transpose();
        UserKnn {
            config,
            people,
            by_item,
        }
    }

    /// The most similar people to a profile, best first.
    pub fn neighbours(&self, profile: &Profile) -> Vec<(u32, f32)> {
        let norm = profile
            .entries
            .iter()
            .map(|e| e.recent * e.recent)
            .sum::<f32>()
            .sqrt();
        if norm <= 0.0 {
            return Vec::new();
        }
        let mut sims = vec![0f32; self.people.rows];
        for e in &profile.entries {
            if (e.item as usize) >= self.by_item.rows {
                continue;
            }
            let (users, vals) = self.by_item.row(e.item as usize);
            let q = e.recent / norm;
            for (&u, &v) in users.iter().zip(vals) {
                sims[u as usize] += q * v;
            }
        }
        top_k(&sims, self.config.k, |u| Some(u) == profile.user)
    }
}

impl Scorer for UserKnn {
    fn name(&self) -> &'static str {
        "people"
    }

    fn score(&self, profile: &Profile, out: &mut [f32]) {
        for (u, sim) in self.neighbours(profile) {
            let w = sim.powf(self.config.power);
            let (items, vals) = self.people.row(u as usize);
            for (&i, &v) in items.iter().zip(vals) {
                out[i as usize] += w * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ProfileEntry;

    #[test]
    fn scores_from_similar_people_not_oneself() {
        // People 0 and 1 share items 0 and 1; person 1 also has 2; person 2 has 3 only.
        let m = Csr::from_triplets(
            3,
            4,
            vec![
                (0, 0, 1.),
                (0, 1, 1.),
                (1, 0, 1.),
                (1, 1, 1.),
                (1, 2, 1.),
                (2, 3, 1.),
            ],
        );
        let knn = UserKnn::fit(&m, UserKnnConfig { k: 5, power: 1.0 });
        let entry = |item| ProfileEntry {
            item,
            weight: 1.0,
            recent: 1.0,
            orders: 1,
            last_at: 0,
        };
        let p = Profile {
            user: Some(0),
            entries: vec![entry(0), entry(1)],
        };
        let n = knn.neighbours(&p);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].0, 1);
        let mut out = vec![0f32; 4];
        knn.score(&p, &mut out);
        assert!(out[2] > 0.0 && out[3] == 0.0);
    }
}
