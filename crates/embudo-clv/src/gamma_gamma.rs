//! The Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value
//! curves for customer base analysis"; Fader & Hardie's note "The Gamma-Gamma model of monetary
//! value").
//!
//! The value of each purchase of a customer is Gamma(p, ν) with ν ~ Gamma(q, γ) across
//! customers; what is observed is z̄, the mean value of the x repeat purchases.

use crate::optimize::{minimize, Settings};
use crate::special::{digamma_diff, ln_gamma, ln_poch};
use crate::{ClvError, CustomerSummary, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The fitted Gamma-Gamma parameters (γ in major units of money, e.g. dollars).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    /// Shape of the distribution of one purchase's value.
    pub p: f64,
    /// Shape of the Gamma distribution of ν across customers.
    pub q: f64,
    /// Scale of the Gamma distribution of ν across customers.
    pub gamma: f64,
}

/// Fitting the Gamma-Gamma model by maximum likelihood.
#[derive(Debug, Clone, Copy, Default)]
pub struct GammaGamma;

impl GammaGamma {
    /// Fits the model to the customers with at least one repeat purchase day and a positive
    /// mean repeat value ([`CustomerSummary::monetary`], converted with `exponent`); the others
    /// (no repeat purchase, or only repeat purchases worth 0) are left out.
    ///
    /// Errors: `NoRepeatCustomers` when nobody is left, `NotConverged` when the optimiser fails.
    pub fn fit(customers: &[CustomerSummary], exponent: u32) -> Result<GammaGammaParams> {
        let data: Vec<(u32, f64)> = customers
            .iter()
            .filter(|c| c.frequency > 0 && c.repeat_value_minor > 0)
            .filter_map(|c| c.monetary(exponent).map(|m| (c.frequency, m)))
            .collect();
        Self::fit_values(&data)
    }

    /// Fits the model to (x, z̄) pairs: repeat purchases and their mean value. Pairs with x = 0
    /// or z̄ ≤ 0 are left out; a z̄ that is not finite is `BadInput`.
    pub fn fit_values(data: &[(u32, f64)]) -> Result<GammaGammaParams> {
        let mut objective = Likelihood::new(data)?;
        let start = [0.0, 0.0, objective.mean_value.ln()];
        let out = minimize(
            &mut |x: &[f64], g: &mut [f64]| objective.eval(x, g),
            &start,
            Settings::default(),
        );
        let [p, q, gamma] = [out.x[0].exp(), out.x[1].exp(), out.x[2].exp()];
        let ok = [p, q, gamma].iter().all(|v| v.is_finite() && *v > 0.0);
        if !out.converged || !ok {
            return Err(ClvError::NotConverged {
                what: "Gamma-Gamma fit",
                iterations: out.iterations,
            });
        }
        Ok(GammaGammaParams { p, q, gamma })
    }
}

struct Likelihood {
    /// Distinct x with their total weight.
    xs: Vec<(f64, f64)>,
    /// (index in xs, ln z̄, S = x·z̄, weight).
    groups: Vec<(usize, f64, f64, f64)>,
    total_weight: f64,
    mean_value: f64,
    /// p·x per distinct x, per evaluation.
    per_x: Vec<f64>,
}

impl Likelihood {
    fn new(data: &[(u32, f64)]) -> Result<Self> {
        let mut x_index: HashMap<u32, usize> = HashMap::new();
        let mut xs: Vec<(f64, f64)> = Vec::new();
        let mut group_index: HashMap<(u32, u64), usize> = HashMap::new();
        let mut groups = Vec::new();
        let (mut n, mut sum) = (0.0, 0.0);
        for &(x, m) in data {
            if !m.is_finite() {
                return Err(ClvError::BadInput(format!(
                    "Gamma-Gamma needs finite mean values, got {m}"
                )));
            }
            if x == 0 || m <= 0.0 {
                continue;
            }
            n += 1.0;
            sum += m;
            let xi = *x_index.entry(x).or_insert_with(|| {
                xs.push((f64::from(x), 0.0));
                xs.len() - 1
            });
            xs[xi].1 += 1.0;
            let g = *group_index.entry((x, m.to_bits())).or_insert_with(|| {
                let xf = f64::from(x);
                groups.push((xi, m.ln(), xf * m, 0.0));
                groups.len() - 1
            });
            groups[g].3 += 1.0;
        }
        if n == 0.0 {
            return Err(ClvError::NoRepeatCustomers {
                model: "Gamma-Gamma",
            });
        }
        Ok(Self {
            per_x: vec![0.0; xs.len()],
            xs,
            groups,
            total_weight: n,
            mean_value: sum / n,
        })
    }

    /// Mean negative log-likelihood at log-parameters, and its gradient in them.
    ///
    /// Per customer (S = x z̄), ln L = −ln B(px, q) − ln z̄ − px ln(1 + γ/S) − q ln(1 + S/γ):
    /// the note's likelihood, ln Γ(px + q) − ln Γ(px) − ln Γ(q) + q ln γ + (px − 1) ln z̄ plus
    /// px ln x − (px + q) ln(γ + S), regrouped so that no two large terms cancel when
    /// parameters grow large (data that does not identify them).
    fn eval(&mut self, log_params: &[f64], grad: &mut [f64]) -> f64 {
        let [p, q, gamma] = [
            log_params[0].exp(),
            log_params[1].exp(),
            log_params[2].exp(),
        ];
        let (mut ll, mut dp, mut dq, mut dg) = (0.0, 0.0, 0.0, 0.0);
        for (i, &(x, w)) in self.xs.iter().enumerate() {
            let px = p * x;
            ll -= w * ln_beta(px, q);
            dp += w * x * digamma_diff(px, q);
            dq += w * digamma_diff(q, px);
            self.per_x[i] = px;
        }
        for &(xi, ln_m, s, w) in &self.groups {
            let px = self.per_x[xi];
            let x = self.xs[xi].0;
            // (px − 1) ln z̄ + px ln x − px ln(γ + S) = −ln z̄ − px ln(1 + γ/S)
            let ln1p_gs = (gamma / s).ln_1p();
            let ln1p_sg = (s / gamma).ln_1p();
            ll += w * (-ln_m - px * ln1p_gs - q * ln1p_sg);
            dp -= w * x * ln1p_gs;
            dq -= w * ln1p_sg;
            dg += w * (q * s / gamma - px) / (gamma + s);
        }
        let n = self.total_weight;
        grad[0] = -p * dp / n;
        grad[1] = -q * dq / n;
        grad[2] = -gamma * dg / n;
        -ll / n
    }
}

/// ln B(u, v) = ln Γ(u) + ln Γ(v) − ln Γ(u + v), accurate when one argument is much larger.
fn ln_beta(u: f64, v: f64) -> f64 {
    let (small, large) = if u <= v { (u, v) } else { (v, u) };
    ln_gamma(small) - ln_poch(large, small)
}

impl GammaGammaParams {
    /// The log-likelihood of one customer's (x, z̄).
    pub fn log_likelihood_of(&self, x: u32, monetary: f64) -> f64 {
        let Self { p, q, gamma } = *self;
        let (x, px) = (f64::from(x), p * f64::from(x));
        let s = x * monetary;
        -ln_beta(px, q) - monetary.ln() - px * (gamma / s).ln_1p() - q * (s / gamma).ln_1p()
    }

    /// E(Z) = pγ / (q − 1): the population mean value of a purchase, `None` when q ≤ 1 (the
    /// mean is infinite).
    pub fn population_mean(&self) -> Option<f64> {
        (self.q > 1.0).then(|| self.p * self.gamma / (self.q - 1.0))
    }

    /// E[Z | x, z̄] = p (γ + x z̄) / (p x + q − 1): the expected value of a purchase of a
    /// customer with x repeat purchases of mean value z̄, a weighted mean of the population mean
    /// and z̄ (weight px / (px + q − 1) on z̄). `None` when px + q ≤ 1.
    pub fn expected_value(&self, x: u32, monetary: f64) -> Option<f64> {
        let Self { p, q, gamma } = *self;
        let x = f64::from(x);
        let den = p * x + q - 1.0;
        (den > 0.0).then(|| p * (gamma + x * monetary) / den)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_mean_shrinks_towards_the_population_mean() {
        let g = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let pop = g.population_mean().unwrap();
        assert!((g.expected_value(0, 0.0).unwrap() - pop).abs() < 1e-12);
        let one = g.expected_value(1, 100.0).unwrap();
        let many = g.expected_value(50, 100.0).unwrap();
        assert!(pop < one && one < many && many < 100.0);
        let heavy = GammaGammaParams { q: 0.5, ..g };
        assert_eq!(heavy.population_mean(), None);
    }

    #[test]
    fn needs_positive_repeat_values() {
        assert_eq!(
            GammaGamma::fit_values(&[(0, 10.0), (3, 0.0)]),
            Err(ClvError::NoRepeatCustomers {
                model: "Gamma-Gamma"
            })
        );
    }
}
