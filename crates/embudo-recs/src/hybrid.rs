//! The personal models together: training, the blend, and blend weights learned on held-out
//! data.
//!
//! Each source scores the whole catalog for a profile; its best 200 items get `10 / (10 + rank)`
//! and the rest 0 (so every source speaks on the same scale whatever its units), multiplied by
//! the source's weight and summed. The weights are learned on a validation split
//! carved out of the training data itself (the last `validation_days` before the end of
//! training): the models are fitted on what came before it, and a coordinate search picks the
//! weights that maximise Recall@20 + NDCG@20 of the validation people. The test period of an
//! evaluation is never seen.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::{Interactions, Profile, SignalWeights};
use crate::ease::{Ease, EaseConfig};
use crate::eval::{Metrics, MetricsAcc, Split};
use crate::ials::{Ials, IalsConfig};
use crate::knn::{ItemKnn, KnnConfig};
use crate::scorer::{rank_all, Popularity, Repeat, Scorer};
use crate::userknn::{UserKnn, UserKnnConfig};

/// Settings of the whole set of personal models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HybridConfig {
    /// How behaviour is weighted in profiles.
    pub signals: SignalWeights,
    /// Item neighbours.
    pub knn: KnnConfig,
    /// EASE^R.
    pub ease: EaseConfig,
    /// Matrix factorisation.
    pub ials: IalsConfig,
    /// People like you.
    #[serde(default)]
    pub people: UserKnnConfig,
    /// Length of the validation period the blend weights are learned on, in days.
    pub validation_days: u32,
    /// The recency half-lives (days) tried on the validation period; the best is kept.
    #[serde(default = "default_half_lives")]
    pub half_lives: Vec<f32>,
}

fn default_half_lives() -> Vec<f32> {
    vec![30.0, 120.0, 365.0]
}

impl Default for HybridConfig {
    fn default() -> Self {
        HybridConfig {
            signals: SignalWeights::default(),
            knn: KnnConfig::default(),
            ease: EaseConfig::default(),
            ials: IalsConfig::default(),
            people: UserKnnConfig::default(),
            validation_days: 60,
            half_lives: default_half_lives(),
        }
    }
}

/// The names of the blended sources, in the order of [`Blend::weights`].
pub const SOURCES: [&str; 6] = ["again", "similar", "ease", "mf", "people", "popular"];

/// The weight of each source in the blend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blend {
    /// Weights by source name.
    pub weights: BTreeMap<String, f32>,
}

impl Default for Blend {
    fn default() -> Self {
        let w = [1.0, 1.0, 1.0, 0.5, 0.5, 0.05];
        Blend {
            weights: SOURCES
                .iter()
                .zip(w)
                .map(|(s, w)| (s.to_string(), w))
                .collect(),
        }
    }
}

impl Blend {
    /// The weight of a source (0 when absent).
    pub fn weight(&self, source: &str) -> f32 {
        self.weights.get(source).copied().unwrap_or(0.0)
    }
}

/// The fitted personal models.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hybrid {
    /// The settings they were fitted with.
    pub config: HybridConfig,
    /// Popularity (distinct buyers).
    pub popular: Popularity,
    /// Item neighbours.
    pub knn: ItemKnn,
    /// EASE^R, when the catalog is small enough.
    pub ease: Option<Ease>,
    /// Matrix factorisation.
    pub ials: Ials,
    /// People like you.
    pub people: UserKnn,
    /// The blend.
    pub blend: Blend,
}

/// What training reports as it goes.
pub trait Progress: Sync {
    /// A step began.
    fn step(&self, name: &str);
}

impl Progress for () {
    fn step(&self, _name: &str) {}
}

impl Hybrid {
    /// Fits every model on `data` as of `now` (later baskets are ignored), with a given blend.
    pub fn fit(
        data: &Interactions,
        now: i64,
        config: &HybridConfig,
        blend: Blend,
        progress: &dyn Progress,
    ) -> Hybrid {
        let confidence = confidence_matrix(data, &config.signals, now);
        progress.step("popularity");
        let popular = Popularity::fit(data, now, None);
        progress.step("item neighbours");
        let knn = ItemKnn::fit(&confidence, config.knn);
        progress.step("EASE^R");
        let ease = Ease::fit(&confidence, config.ease).ok();
        progress.step("matrix factorisation");
        let ials = Ials::fit(&confidence, config.ials, &|_| {});
        progress.step("people like you");
        let people = UserKnn::fit(
            &weight_matrix(data, &config.signals, now, true),
            config.people,
        );
        Hybrid {
            config: config.clone(),
            popular,
            knn,
            ease,
            ials,
            people,
            blend,
        }
    }

    /// Fits the models, learning the blend weights first on a validation split of `data`
    /// (see the module documentation).
    pub fn fit_learned(
        data: &Interactions,
        now: i64,
        config: &HybridConfig,
        progress: &dyn Progress,
    ) -> (Hybrid, Option<Metrics>) {
        let val_cutoff = now - i64::from(config.validation_days) * 86_400;
        let split = Split::new(data, val_cutoff, now, &config.signals);
        if split.test.is_empty() {
            return (
                Hybrid::fit(data, now, config, Blend::default(), progress),
                None,
            );
        }
        progress.step("validation models");
        let mut inner = Hybrid::fit(&split.train, val_cutoff, config, Blend::default(), progress);
        progress.step("blend weights");
        // The recency half-life is learned with the weights: it changes the profiles' faded
        // weights, so "again" and "people like you" are re-scored for each candidate.
        let mut best: Option<(f32, Blend, Metrics)> = None;
        for &half_life in &config.half_lives {
            let signals = SignalWeights {
                half_life_days: half_life,
                ..config.signals
            };
            let split = Split::new(data, val_cutoff, now, &signals);
            inner.people = UserKnn::fit(
                &weight_matrix(&split.train, &signals, val_cutoff, true),
                config.people,
            );
            let (blend, m) = learn_blend(&inner, &split);
            if best
                .as_ref()
                .is_none_or(|b| m.recall_at_20 + m.ndcg_at_20 > b.2.recall_at_20 + b.2.ndcg_at_20)
            {
                best = Some((half_life, blend, m));
            }
        }
        let (half_life, blend, m) = best.expect("at least one half-life");
        let config = HybridConfig {
            signals: SignalWeights {
                half_life_days: half_life,
                ..config.signals
            },
            ..config.clone()
        };
        (Hybrid::fit(data, now, &config, blend, progress), Some(m))
    }

    /// The models by source name.
    pub fn sources(&self) -> Vec<&dyn Scorer> {
        let mut s: Vec<&dyn Scorer> = vec![&Repeat, &self.knn];
        if let Some(e) = &self.ease {
            s.push(e);
        }
        s.push(&self.ials);
        s.push(&self.people);
        s.push(&self.popular);
        s
    }

    /// Every source's normalised scores for a profile, in [`SOURCES`] order (a missing source
    /// gives an empty vector).
    pub fn source_scores(&self, profile: &Profile) -> Vec<Vec<f32>> {
        let n = self.popular.scores.len();
        SOURCES
            .iter()
            .map(
                |name| match self.sources().into_iter().find(|s| s.name() == *name) {
                    Some(s) => {
                        let mut v = vec![0f32; n];
                        s.score(profile, &mut v);
                        rank_normalise(&mut v);
                        v
                    }
                    None => Vec::new(),
                },
            )
            .collect()
    }

    /// The blended score of every item for a profile.
    pub fn score(&self, profile: &Profile) -> Vec<f32> {
        combine(
            &self.source_scores(profile),
            &weights_vec(&self.blend),
            self.popular.scores.len(),
        )
    }
}

/// The users × items confidence matrix as of `now`: each person's profile weights.
pub fn confidence_matrix(
    data: &Interactions,
    signals: &SignalWeights,
    now: i64,
) -> crate::data::Csr {
    weight_matrix(data, signals, now, false)
}

/// The users × items matrix as of `now` of the profile weights, faded by age when `recent`.
pub fn weight_matrix(
    data: &Interactions,
    signals: &SignalWeights,
    now: i64,
    recent: bool,
) -> crate::data::Csr {
    let fade = |at: i64| if recent { signals.decay(now - at) } else { 1.0 };
    let mut triplets = Vec::new();
    for b in data.baskets.iter().filter(|b| b.at < now) {
        if let Some(u) = b.user {
            for &i in &b.items {
                triplets.push((u, i, signals.purchase * fade(b.at)));
            }
        }
    }
    for t in data.touches.iter().filter(|t| t.at < now) {
        triplets.push((t.user, t.item, signals.of(t.signal) * fade(t.at)));
    }
    crate::data::Csr::from_triplets(data.users as usize, data.items as usize, triplets)
}

/// Replaces scores by a function of rank: `10 / (10 + rank)` for the best 200 (rank 0 first),
/// 0 for the rest. Every source then speaks on the same scale whatever its units, and one
/// outsized score cannot drown the others.
fn rank_normalise(v: &mut [f32]) {
    let top = crate::scorer::top_k(v, 200, |_| false);
    v.iter_mut().for_each(|x| *x = 0.0);
    for (r, (i, _)) in top.into_iter().enumerate() {
        v[i as usize] = 10.0 / (10.0 + r as f32);
    }
}

fn weights_vec(blend: &Blend) -> Vec<f32> {
    SOURCES.iter().map(|s| blend.weight(s)).collect()
}

fn combine(sources: &[Vec<f32>], weights: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    for (v, &w) in sources.iter().zip(weights) {
        if w != 0.0 && !v.is_empty() {
            for (o, x) in out.iter_mut().zip(v) {
                *o += w * x;
            }
        }
    }
    out
}

/// Evaluates a scoring function on a split: rank the known catalog, the person's top 20.
pub fn evaluate(split: &Split, score: impl Fn(&Profile) -> Vec<f32> + Sync) -> Metrics {
    let lists: Vec<Vec<u32>> = split
        .test
        .par_iter()
        .map(|case| {
            rank_all(&score(&case.profile), 20, |i| !split.known[i as usize])
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let mut acc = MetricsAcc::new(split.known.len());
    for (list, case) in lists.iter().zip(&split.test) {
        acc.add(list, &case.truth);
    }
    acc.finish(split.catalog_size())
}

/// Coordinate search for the blend weights on a validation split.
fn learn_blend(models: &Hybrid, split: &Split) -> (Blend, Metrics) {
    // Each person's candidates: the union of every source's top 100; the search ranks only
    // those (an item outside all of them cannot reach a top 20 of any blend that matters).
    let cached: Vec<(Vec<u32>, Vec<Vec<f32>>)> = split
        .test
        .par_iter()
        .map(|c| {
            let full = models.source_scores(&c.profile);
            let mut cands: Vec<u32> = full
                .iter()
                .filter(|v| !v.is_empty())
                .flat_map(|v| {
                    rank_all(v, 100, |i| !split.known[i as usize])
                        .into_iter()
                        .map(|(i, _)| i)
                })
                .collect();
            cands.sort_unstable();
            cands.dedup();
            let narrow = full
                .iter()
                .map(|v| {
                    if v.is_empty() {
                        Vec::new()
                    } else {
                        cands.iter().map(|&i| v[i as usize]).collect()
                    }
                })
                .collect();
            (cands, narrow)
        })
        .collect();
    let eval = |w: &[f32]| -> Metrics {
        let lists: Vec<Vec<u32>> = cached
            .par_iter()
            .map(|(cands, s)| {
                rank_all(&combine(s, w, cands.len()), 20, |_| false)
                    .into_iter()
                    .map(|(k, _)| cands[k as usize])
                    .collect()
            })
            .collect();
        let mut acc = MetricsAcc::new(split.known.len());
        for (list, case) in lists.iter().zip(&split.test) {
            acc.add(list, &case.truth);
        }
        acc.finish(split.catalog_size())
    };
    let objective = |m: &Metrics| m.recall_at_20 + m.ndcg_at_20;
    let mut w = weights_vec(&Blend::default());
    let mut best = eval(&w);
    let grid = [
        0.0f32, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0,
    ];
    for _round in 0..3 {
        let mut improved = false;
        for s in 0..w.len() {
            for &g in &grid {
                if g == w[s] {
                    continue;
                }
                let mut trial = w.clone();
                trial[s] = g;
                let m = eval(&trial);
                if objective(&m) > objective(&best) + 1e-6 {
                    best = m;
                    w = trial;
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    (
        Blend {
            weights: SOURCES
                .iter()
                .zip(w)
                .map(|(s, w)| (s.to_string(), w))
                .collect(),
        },
        best,
    )
}

/// One line of an evaluation report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceMetrics {
    /// The source (`blend` for the blend).
    pub source: String,
    /// Its metrics on the test people.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// The result of an offline evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Training data ends here (Unix seconds).
    pub cutoff: i64,
    /// The test period ends here (Unix seconds).
    pub end: i64,
    /// Test people.
    pub users: usize,
    /// Items in the ranking's catalog.
    pub catalog: usize,
    /// Baskets in the training data.
    pub train_baskets: usize,
    /// Each source alone, then the blend.
    pub results: Vec<SourceMetrics>,
    /// The learned blend weights.
    pub blend: Blend,
    /// The blend's metrics on its own validation split (inside the training data).
    pub validation: Option<Metrics>,
    /// Seconds spent fitting the final models (with the blend search: `learn_seconds`).
    pub train_seconds: f64,
    /// Seconds spent learning the blend weights.
    pub learn_seconds: f64,
}

/// Runs the offline protocol of [`crate::eval`]: fit on `[.., cutoff)` (learning the blend on
/// a validation split inside it), rank for the people who bought in `[cutoff, end)`.
pub fn evaluate_hybrid(
    data: &Interactions,
    cutoff: i64,
    end: i64,
    config: &HybridConfig,
    progress: &dyn Progress,
) -> EvalReport {
    let split = Split::new(data, cutoff, end, &config.signals);
    let started = std::time::Instant::now();
    let (models, validation) = Hybrid::fit_learned(&split.train, cutoff, config, progress);
    let learn_seconds = started.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let _ = Hybrid::fit(&split.train, cutoff, config, models.blend.clone(), &());
    let train_seconds = t.elapsed().as_secs_f64();
    progress.step("ranking");
    let mut results = Vec::new();
    for s in models.sources() {
        let m = evaluate(&split, |p| {
            let mut v = vec![0f32; data.items as usize];
            s.score(p, &mut v);
            v
        });
        results.push(SourceMetrics {
            source: s.name().to_string(),
            metrics: m,
        });
    }
    let m = evaluate(&split, |p| models.score(p));
    results.push(SourceMetrics {
        source: "blend".into(),
        metrics: m,
    });
    EvalReport {
        cutoff,
        end,
        users: split.test.len(),
        catalog: split.catalog_size(),
        train_baskets: split.train.baskets.len(),
        results,
        blend: models.blend,
        validation,
        train_seconds,
        learn_seconds,
    }
}
