//! Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008), solved by alternating
//! least squares with a few conjugate-gradient steps per row (Takács, Pilászy & Tikk 2011).
//!
//! With `r(u, i)` the confidence data (orders holding the item, weighted behaviour), the
//! preference is `p = 1` where `r > 0` and the confidence `c = 1 + α · r`; the model
//! minimises `Σ c (p − xᵤ·yᵢ)² + λ (Σ‖xᵤ‖² + Σ‖yᵢ‖²)` over all cells. Only the item factors
//! are kept: a person's factors are solved from their current profile at request time (the
//! same least-squares step as in training), so new events count at once.

use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Csr, Profile};
use crate::scorer::Scorer;

/// Settings of [`Ials`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IalsConfig {
    /// Number of latent factors.
    pub factors: usize,
    /// The L2 penalty λ.
    pub lambda: f32,
    /// Confidence scale α.
    pub alpha: f32,
    /// Alternating sweeps.
    pub iterations: usize,
    /// Conjugate-gradient steps per row and sweep.
    pub cg_steps: usize,
    /// Conjugate-gradient steps when folding a person in at request time.
    pub fold_in_steps: usize,
    /// Seed of the initial factors.
    pub seed: u64,
}

impl Default for IalsConfig {
    fn default() -> Self {
        IalsConfig {
            factors: 128,
            lambda: 0.01,
            alpha: 1.0,
            iterations: 15,
            cg_steps: 3,
            fold_in_steps: 12,
            seed: 42,
        }
    }
}

/// A fitted model: the item factors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ials {
    config: IalsConfig,
    items: usize,
    /// Item factors, row-major (`items × factors`).
    item_factors: Vec<f32>,
    /// `YᵀY`, row-major (`factors × factors`).
    gram: Vec<f32>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent sums, so that the compiler vectorises.
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (ca, cb) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += ca[k] * cb[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for k in chunks..a.len() {
        s += a[k] * b[k];
    }
    s
}

fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `YᵀY` of a row-major `rows × f` matrix.
fn gram(m: &[f32], f: usize) -> Vec<f32> {
    let partial = m
        .par_chunks(f.max(1) * 256)
        .map(|block| {
            let mut g = vec![0f32; f * f];
            for row in block.chunks_exact(f) {
                for a in 0..f {
                    let ra = row[a];
                    if ra != 0.0 {
                        axpy(&mut g[a * f..(a + 1) * f], ra, row);
                    }
                }
            }
            g
        })
        .reduce(
            || vec![0f32; f * f],
            |mut a, b| {
                axpy(&mut a, 1.0, &b);
                a
            },
        );
    partial
}

/// Solves one row's least-squares problem by conjugate gradient, starting from `x`:
/// `(YᵀY + Σ (c−1) yᵢyᵢᵀ + λI) x = Σ c yᵢ` over the row's entries `(i, r)` with `c = 1 + α r`.
fn solve_row(
    x: &mut [f32],
    entries: impl Iterator<Item = (u32, f32)> + Clone,
    y: &[f32],
    yty: &[f32],
    cfg: &IalsConfig,
    steps: usize,
) {
    let f = x.len();
    let apply = |v: &[f32], out: &mut [f32]| {
        for a in 0..f {
            out[a] = dot(&yty[a * f..(a + 1) * f], v) + cfg.lambda * v[a];
        }
        for (i, r) in entries.clone() {
            let yi = &y[i as usize * f..(i as usize + 1) * f];
            let c = 1.0 + cfg.alpha * r;
            axpy(out, (c - 1.0) * dot(yi, v), yi);
        }
    };
    let mut r = vec![0f32; f];
    apply(x, &mut r);
    for v in r.iter_mut() {
        *v = -*v;
    }
    for (i, rv) in entries.clone() {
        let yi = &y[i as usize * f..(i as usize + 1) * f];
        axpy(&mut r, 1.0 + cfg.alpha * rv, yi);
    }
    let mut p = r.clone();
    let mut rs = dot(&r, &r);
    let mut ap = vec![0f32; f];
    for _ in 0..steps {
        if rs < 1e-12 {
            break;
        }
        apply(&p, &mut ap);
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            break;
        }
        let a = rs / pap;
        axpy(x, a, &p);
        axpy(&mut r, -a, &ap);
        let rs_new = dot(&r, &r);
        let beta = rs_new / rs;
        for (pv, rv) in p.iter_mut().zip(&r) {
            *pv = rv + beta * *pv;
        }
        rs = rs_new;
    }
}

/// One sweep over the rows of `m`, solving each row's factors against `other`.
fn sweep(m: &Csr, own: &mut [f32], other: &[f32], cfg: &IalsConfig) {
    let f = cfg.factors;
    let g = gram(other, f);
    own.par_chunks_mut(f).enumerate().for_each(|(row, x)| {
        let (idx, vals) = m.row(row);
        let entries = idx.iter().copied().zip(vals.iter().copied());
        solve_row(x, entries, other, &g, cfg, cfg.cg_steps);
    });
}

impl Ials {
    /// Fits on a users × items confidence matrix; `progress` is told each finished sweep.
    pub fn fit(confidence: &Csr, config: IalsConfig, progress: &(dyn Fn(usize) + Sync)) -> Ials {
        let f = config.factors.max(1);
        let config = IalsConfig {
            factors: f,
            ..config
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        let scale = 0.01;
        let mut users: Vec<f32> = (0..confidence.rows * f)
            .map(|_| rng.random_range(-scale..scale))
            .collect();
        let mut items: Vec<f32> = (0..confidence.cols * f)
            .map(|_| rng.random_range(-scale..scale))
            .collect();
        let transposed = confidence.transpose();
        for it in 0..config.iterations {
            sweep(confidence, &mut users, &items, &config);
            sweep(&transposed, &mut items, &users, &config);
            progress(it + 1);
        }
        let gram = gram(&items, f);
        Ials {
            config,
            items: confidence.cols,
            item_factors: items,
            gram,
        }
    }

    /// A person's factors from their profile (the fold-in).
    pub fn user_factors(&self, profile: &Profile) -> Vec<f32> {
        let mut x = vec![0f32; self.config.factors];
        let entries = profile
            .entries
            .iter()
            .filter(|e| (e.item as usize) < self.items)
            .map(|e| (e.item, e.weight));
        solve_row(
            &mut x,
            entries,
            &self.item_factors,
            &self.gram,
            &self.config,
            self.config.fold_in_steps,
        );
        x
    }

    /// Number of items the model knows.
    pub fn items(&self) -> usize {
        self.items
    }
}

impl Scorer for Ials {
    fn name(&self) -> &'static str {
        "mf"
    }

    fn score(&self, profile: &Profile, out: &mut [f32]) {
        if profile.is_empty() {
            return;
        }
        let x = self.user_factors(profile);
        let f = self.config.factors;
        for (o, y) in out[..self.items]
            .iter_mut()
            .zip(self.item_factors.chunks_exact(f))
        {
            *o += dot(&x, y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ProfileEntry;

    #[test]
    fn separates_two_groups_and_folds_in() {
        // Two groups of users who buy within their own group of items.
        let mut t = Vec::new();
        for u in 0..20u32 {
            let base = if u < 10 { 0 } else { 4 };
            for k in 0..4u32 {
                if (u + k) % 5 != 0 {
                    t.push((u, base + k, 1.0));
                }
            }
        }
        let m = Csr::from_triplets(20, 8, t);
        let model = Ials::fit(
            &m,
            IalsConfig {
                factors: 4,
                iterations: 10,
                ..Default::default()
            },
            &|_| {},
        );
        let p = Profile {
            user: None,
            entries: vec![ProfileEntry {
                item: 1,
                weight: 1.0,
                recent: 1.0,
                orders: 1,
                last_at: 0,
            }],
        };
        let mut out = vec![0f32; 8];
        model.score(&p, &mut out);
        let same: f32 = [0, 2, 3].iter().map(|&i| out[i]).sum::<f32>() / 3.0;
        let other: f32 = (4..8).map(|i| out[i]).sum::<f32>() / 4.0;
        assert!(same > other + 0.1, "{out:?}");
    }
}
