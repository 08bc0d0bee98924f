//! EASE^R (Steck 2019, "Embarrassingly shallow autoencoders for sparse data").
//!
//! A linear item-to-item model with a closed form: with `G = XᵀX + λI` over the users × items
//! confidence matrix `X` and `P = G⁻¹`, the weights are `B[i][j] = −P[i][j] / P[j][j]` with a
//! zero diagonal, and a person's scores are `x · B`. It needs the dense `items × items` matrix,
//! so it is fitted only when the catalog's bought items number at most
//! [`EaseConfig::max_items`].

use faer::linalg::solvers::DenseSolveCore;
use faer::{Mat, Side};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Csr, Profile};
use crate::knn::gram_row;
use crate::scorer::Scorer;

/// Settings of [`Ease`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EaseConfig {
    /// The L2 penalty λ.
    pub lambda: f32,
    /// Largest catalog it is fitted on (the model takes `4 · n²` bytes).
    pub max_items: usize,
    /// Score from the profile's recency-faded weights instead of the plain ones.
    pub use_recent: bool,
    /// Fit and score on "has it or not" (1) instead of the confidence.
    #[serde(default)]
    pub binary: bool,
}

impl Default for EaseConfig {
    fn default() -> Self {
        EaseConfig {
            lambda: 200.0,
            max_items: 20_000,
            use_recent: false,
            binary: false,
        }
    }
}

/// Why EASE^R was not fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EaseError {
    /// Too many items for the dense model.
    #[error("EASE^R needs a dense {items} × {items} matrix; the limit is {max} items")]
    TooManyItems {
        /// Items in the data.
        items: usize,
        /// The configured limit.
        max: usize,
    },
    /// `XᵀX + λI` was not positive definite (λ ≤ 0).
    #[error("EASE^R: XᵀX + λI is not positive definite (λ = {0})")]
    NotPositiveDefinite(f32),
}

/// A fitted EASE^R model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ease {
    config: EaseConfig,
    n: usize,
    /// `B`, row-major.
    weights: Vec<f32>,
}

impl Ease {
    /// Fits on a users × items confidence matrix.
    pub fn fit(confidence: &Csr, config: EaseConfig) -> Result<Ease, EaseError> {
        let n = confidence.cols;
        if n > config.max_items {
            return Err(EaseError::TooManyItems {
                items: n,
                max: config.max_items,
            });
        }
        let binary;
        let confidence = if config.binary {
            binary = confidence.map_values(|v| if v > 0.0 { 1.0 } else { 0.0 });
            &binary
        } else {
            confidence
        };
        let mt = confidence.transpose();
        let rows: Vec<Vec<f32>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut acc = vec![0f32; n];
                gram_row(confidence, &mt, i, &mut acc);
                acc
            })
            .collect();
        // Single precision: half the time and memory of double; λ keeps the matrix well
        // conditioned.
        let lambda = config.lambda;
        let g = Mat::<f32>::from_fn(n, n, |i, j| rows[i][j] + if i == j { lambda } else { 0.0 });
        drop(rows);
        let p = g
            .llt(Side::Lower)
            .map_err(|_| EaseError::NotPositiveDefinite(config.lambda))?
            .inverse();
        let mut weights = vec![0f32; n * n];
        weights
            .par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, row)| {
                for (j, w) in row.iter_mut().enumerate() {
                    if i != j {
                        *w = -p[(i, j)] / p[(j, j)];
                    }
                }
            });
        Ok(Ease { config, n, weights })
    }

    /// Number of items the model knows.
    pub fn items(&self) -> usize {
        self.n
    }
}

impl Scorer for Ease {
    fn name(&self) -> &'static str {
        "ease"
    }

    fn score(&self, profile: &Profile, out: &mut [f32]) {
        for e in &profile.entries {
            let i = e.item as usize;
            if i >= self.n {
                continue;
            }
            let x = if self.config.use_recent {
                e.recent
            } else {
                e.weight
            };
            let row = &self.weights[i * self.n..(i + 1) * self.n];
            for (o, w) in out[..self.n].iter_mut().zip(row) {
                *o += x * w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ProfileEntry;

    #[test]
    fn learns_co_occurrence_and_refuses_large_catalogs() {
        let m = Csr::from_triplets(
            4,
            3,
            vec![
                (0, 0, 1.),
                (0, 1, 1.),
                (1, 0, 1.),
                (1, 1, 1.),
                (2, 0, 1.),
                (2, 1, 1.),
                (3, 2, 1.),
            ],
        );
        let ease = Ease::fit(
            &m,
            EaseConfig {
                lambda: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
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
        let mut out = vec![0f32; 3];
        ease.score(&p, &mut out);
        assert_eq!(out[0], 0.0, "zero diagonal");
        assert!(out[1] > 0.5, "{out:?}");
        assert!(out[2].abs() < 1e-6, "{out:?}");
        let err = Ease::fit(
            &m,
            EaseConfig {
                max_items: 2,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(err, EaseError::TooManyItems { items: 3, max: 2 });
    }
}
