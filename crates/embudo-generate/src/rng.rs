//! Deterministic randomness.
//!
//! Every random decision draws from a [`ChaCha8Rng`] whose seed is derived from the spec's
//! seed and *what* is being decided (a stream tag plus one or two indices: a day, a customer
//! and their visit number, a session…). Deriving a fresh generator per decision unit, instead
//! of sharing one generator, means a session's content does not depend on how many numbers
//! other sessions happened to draw, so small changes to one part of the model do not reshuffle
//! everything else, and the order in which independent units are simulated does not matter.
//!
//! The distributions (exponential, log-normal, Poisson) are written here from uniform draws
//! rather than taken from `rand_distr`, to keep the dependency list short. They use `f64`
//! `ln`/`exp`, so output is byte-identical for the same spec on the same platform; money is
//! never computed with floats.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The generator used everywhere.
pub(crate) type Rng8 = ChaCha8Rng;

/// What a derived generator is for; part of its seed so that streams never collide.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
pub(crate) enum Stream {
    /// The product catalog.
    Catalog = 1,
    /// A known customer's fixed profile (index).
    Customer = 2,
    /// A known customer's visit schedule (index, visit number).
    CustomerVisit = 3,
    /// One session of a known customer (index, visit number).
    CustomerSession = 4,
    /// Day-level decisions: how many anonymous sessions, which visitors (day).
    Day = 5,
    /// An anonymous-only visitor's fixed profile (index).
    AnonVisitor = 6,
    /// One anonymous-only session (day, number within the day).
    AnonSession = 7,
    /// What happens to an order after it is placed (order number).
    Fulfilment = 8,
    /// A device of a known customer (index, device number).
    Device = 9,
}

/// SplitMix64's finaliser: a cheap, well-mixing bijection on `u64`.
pub(crate) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit key for `(seed, stream, a, b)`.
pub(crate) fn key(seed: u64, stream: Stream, a: u64, b: u64) -> u64 {
    splitmix(splitmix(splitmix(seed ^ (stream as u64).wrapping_mul(0xA24B_AED4_963E_E407)) ^ a) ^ b)
}

/// A generator for `(seed, stream, a, b)`.
pub(crate) fn rng_for(seed: u64, stream: Stream, a: u64, b: u64) -> Rng8 {
    Rng8::seed_from_u64(key(seed, stream, a, b))
}

/// Sampling helpers on top of [`Rng`].
pub(crate) trait RngExt: Rng {
    /// A uniform `f64` in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        self.random::<f64>()
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// An exponential variate with the given mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// A standard normal variate (Box–Muller; one of the pair is discarded for simplicity).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A log-normal variate given its median and the σ of its logarithm.
    fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// A Poisson variate (Knuth for small means, a rounded normal for large ones).
    fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean > 30.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-mean).exp();
        let mut product = self.unit();
        let mut count = 0;
        while product > limit {
            product *= self.unit();
            count += 1;
        }
        count
    }

    /// `x` rounded down or up at random so that the expectation is `x`.
    fn round_stochastic(&mut self, x: f64) -> u64 {
        let floor = x.floor();
        floor as u64 + u64::from(self.chance(x - floor))
    }

    /// A uniform index below `n` (`n` > 0).
    fn index(&mut self, n: usize) -> usize {
        self.random_range(0..n)
    }

    /// A uniformly chosen element.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// An index chosen with the given (unnormalised) weights; for short tables.
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

impl<R: Rng + ?Sized> RngExt for R {}

/// A cumulative distribution over indices, for sampling from long weighted tables
/// (product popularity) in `O(log n)`.
#[derive(Debug, Clone)]
pub(crate) struct Cdf {
    cumulative: Vec<f64>,
}

impl Cdf {
    /// A distribution proportional to `weights` (at least one must be positive).
    pub(crate) fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w.max(0.0);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// A sampled index.
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.unit() * total;
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_streams_are_stable_and_distinct() {
        let a = rng_for(1, Stream::Day, 3, 0).random::<u64>();
        assert_eq!(a, rng_for(1, Stream::Day, 3, 0).random::<u64>());
        assert_ne!(a, rng_for(1, Stream::Day, 4, 0).random::<u64>());
        assert_ne!(a, rng_for(2, Stream::Day, 3, 0).random::<u64>());
        assert_ne!(a, rng_for(1, Stream::AnonSession, 3, 0).random::<u64>());
    }

    #[test]
    fn samplers_have_the_right_means() {
        let mut rng = rng_for(7, Stream::Catalog, 0, 0);
        let n = 20_000;
        let exp: f64 = (0..n).map(|_| rng.exp(3.0)).sum::<f64>() / n as f64;
        assert!((exp - 3.0).abs() < 0.15, "{exp}");
        let poisson: f64 = (0..n).map(|_| rng.poisson(2.5) as f64).sum::<f64>() / n as f64;
        assert!((poisson - 2.5).abs() < 0.1, "{poisson}");
        let cdf = Cdf::new([1.0, 0.0, 3.0]);
        let hits: usize = (0..n).filter(|_| cdf.sample(&mut rng) == 2).count();
        assert!((hits as f64 / n as f64 - 0.75).abs() < 0.02);
        assert!((0..1000).all(|_| cdf.sample(&mut rng) != 1));
    }
}
