//! The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").
//!
//! While alive, a customer buys at Poisson rate λ ~ Gamma(r, α); after each purchase they drop
//! out with probability p ~ Beta(a, b). A customer's data is (x, tₓ, T): repeat purchases,
//! the time of the last one and their age, in weeks from the first purchase.

use crate::optimize::{minimize, Settings};
use crate::special::{digamma_diff, hypergeometric_sum, ln_poch, logistic_neg};
use crate::{ClvError, CustomerSummary, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The fitted BG/NBD parameters and the maximised log-likelihood (summed over customers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    /// Shape of the Gamma distribution of purchase rates.
    pub r: f64,
    /// Scale of the Gamma distribution of purchase rates, in weeks.
    pub alpha: f64,
    /// First shape of the Beta distribution of drop-out probabilities.
    pub a: f64,
    /// Second shape of the Beta distribution of drop-out probabilities.
    pub b: f64,
    /// The log-likelihood of the data at these parameters.
    pub log_likelihood: f64,
}

/// Fitting the BG/NBD model by maximum likelihood.
#[derive(Debug, Clone, Copy, Default)]
pub struct BgNbd;

impl BgNbd {
    /// Fits the model to customer summaries (tₓ and T in weeks: days / 7).
    ///
    /// Errors: `NoCustomers` for an empty slice, `NoRepeatCustomers` when nobody has a repeat
    /// purchase (the model is not identified), `NotConverged` when the optimiser fails.
    pub fn fit(customers: &[CustomerSummary]) -> Result<BgNbdParams> {
        let data: Vec<(u32, f64, f64)> = customers
            .iter()
            .map(|c| (c.frequency, c.recency(), c.age()))
            .collect();
        Self::fit_weeks(&data)
    }

    /// Fits the model to (x, tₓ, T) triples in weeks, e.g. read from a summary file.
    ///
    /// Errors as [`BgNbd::fit`], and `BadInput` unless 0 ≤ tₓ ≤ T, both finite (tₓ is ignored
    /// when x = 0).
    pub fn fit_weeks(data: &[(u32, f64, f64)]) -> Result<BgNbdParams> {
        let mut objective = Likelihood::new(data)?;
        let mean_age = objective.mean_age.max(1e-3);
        let start = [0.0, mean_age.ln(), 0.0, 0.0];
        let out = minimize(
            &mut |x: &[f64], g: &mut [f64]| objective.eval(x, g),
            &start,
            Settings::default(),
        );
        let [r, alpha, a, b] = [
            out.x[0].exp(),
            out.x[1].exp(),
            out.x[2].exp(),
            out.x[3].exp(),
        ];
        let ok =
            [r, alpha, a, b].iter().all(|v| v.is_finite() && *v > 0.0) && out.value.is_finite();
        if !out.converged || !ok {
            return Err(ClvError::NotConverged {
                what: "BG/NBD fit",
                iterations: out.iterations,
            });
        }
        Ok(BgNbdParams {
            r,
            alpha,
            a,
            b,
            log_likelihood: -out.value * objective.total_weight,
        })
    }
}

/// The data grouped by identical (x, tₓ, T), with the distinct times and frequencies indexed so
/// that one evaluation computes each ln Γ, ψ and ln(α + τ) once.
struct Likelihood {
    /// Distinct frequencies, with their total weight.
    xs: Vec<(f64, f64)>,
    /// Distinct times (tₓ and T values), in weeks.
    times: Vec<f64>,
    /// (index in xs, index of tₓ, index of T, weight).
    groups: Vec<(usize, usize, usize, f64)>,
    total_weight: f64,
    mean_age: f64,
    // Scratch per evaluation.
    time: Vec<PerTime>,
    per_x: Vec<PerX>,
}

/// What one evaluation needs of a distinct frequency x.
#[derive(Clone, Copy, Default)]
struct PerX {
    x: f64,
    /// ln a − ln(b + x − 1), −∞ for x = 0.
    k: f64,
    inv_bx1: f64,
}

/// What one evaluation needs of a distinct time τ (a tₓ or a T).
#[derive(Clone, Copy, Default)]
struct PerTime {
    ln1p: f64,
    ln: f64,
    inv: f64,
    tau_inv: f64,
}

impl Likelihood {
    fn new(data: &[(u32, f64, f64)]) -> Result<Self> {
        if data.is_empty() {
            return Err(ClvError::NoCustomers);
        }
        if data.iter().all(|d| d.0 == 0) {
            return Err(ClvError::NoRepeatCustomers { model: "BG/NBD" });
        }
        let mut x_index: HashMap<u32, usize> = HashMap::new();
        let mut xs: Vec<(f64, f64)> = Vec::new();
        let mut time_index: HashMap<u64, usize> = HashMap::new();
        let mut times: Vec<f64> = Vec::new();
        let mut group_index: HashMap<(usize, usize, usize), usize> = HashMap::new();
        let mut groups: Vec<(usize, usize, usize, f64)> = Vec::new();
        let mut age_sum = 0.0;
        for &(x, tx, t) in data {
            let tx = if x == 0 { 0.0 } else { tx };
            if !(tx.is_finite() && t.is_finite() && 0.0 <= tx && tx <= t) {
                return Err(ClvError::BadInput(format!(
                    "BG/NBD needs 0 <= recency <= T, got x = {x}, recency = {tx}, T = {t}"
                )));
            }
            age_sum += t;
            let xi = *x_index.entry(x).or_insert_with(|| {
                xs.push((f64::from(x), 0.0));
                xs.len() - 1
            });
            xs[xi].1 += 1.0;
            let mut index_of = |v: f64| {
                *time_index.entry((v + 0.0).to_bits()).or_insert_with(|| {
                    times.push(v);
                    times.len() - 1
                })
            };
            let (txi, ti) = (index_of(tx), index_of(t));
            let g = *group_index.entry((xi, txi, ti)).or_insert_with(|| {
                groups.push((xi, txi, ti, 0.0));
                groups.len() - 1
            });
            groups[g].3 += 1.0;
        }
        let n = data.len() as f64;
        Ok(Self {
            per_x: vec![PerX::default(); xs.len()],
            time: vec![PerTime::default(); times.len()],
            xs,
            times,
            groups,
            total_weight: n,
            mean_age: age_sum / n,
        })
    }

    /// Mean negative log-likelihood at log-parameters, and its gradient in them.
    ///
    /// Per customer, ln L = ln (r)ₓ + ln (b)ₓ − ln (a + b)ₓ + log(e^A₃ + δ(x > 0) e^A₄) with
    /// A₃ = −r ln(1 + T/α) − x ln(α + T) and A₄ = ln a − ln(b + x − 1) − r ln(1 + tₓ/α)
    /// − x ln(α + tₓ): the paper's equation (6) with the terms that cancel for large
    /// parameters (r ln α against (r + x) ln(α + T), ln Γ(r + x) against ln Γ(r)) combined.
    fn eval(&mut self, log_params: &[f64], grad: &mut [f64]) -> f64 {
        let [r, alpha, a, b] = [
            log_params[0].exp(),
            log_params[1].exp(),
            log_params[2].exp(),
            log_params[3].exp(),
        ];
        let ln_a = a.ln();
        let (mut ll, mut dr, mut dalpha, mut da, mut db) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &(x, w)) in self.xs.iter().enumerate() {
            ll += w * (ln_poch(r, x) + ln_poch(b, x) - ln_poch(a + b, x));
            let psi_abx = digamma_diff(a + b, x);
            dr += w * digamma_diff(r, x);
            da -= w * psi_abx;
            db += w * (digamma_diff(b, x) - psi_abx);
            self.per_x[i] = if x > 0.0 {
                let bx1 = b + x - 1.0;
                PerX {
                    x,
                    k: ln_a - bx1.ln(),
                    inv_bx1: 1.0 / bx1,
                }
            } else {
                PerX {
                    x,
                    k: f64::NEG_INFINITY,
                    inv_bx1: 0.0,
                }
            };
        }
        for (i, &tau) in self.times.iter().enumerate() {
            let inv = 1.0 / (alpha + tau);
            self.time[i] = PerTime {
                ln1p: (tau / alpha).ln_1p(),
                ln: (alpha + tau).ln(),
                inv,
                // d/dα of −r ln(1 + τ/α) is r · τ / (α (α + τ)).
                tau_inv: tau / alpha * inv,
            };
        }
        for &(xi, txi, ti, w) in &self.groups {
            let px = self.per_x[xi];
            let big_t = self.time[ti];
            let a3 = -r * big_t.ln1p - px.x * big_t.ln;
            let d3_alpha = r * big_t.tau_inv - px.x * big_t.inv;
            if px.k == f64::NEG_INFINITY {
                ll += w * a3;
                dr -= w * big_t.ln1p;
                dalpha += w * d3_alpha;
                continue;
            }
            let rec = self.time[txi];
            let a4 = px.k - r * rec.ln1p - px.x * rec.ln;
            let d4_alpha = r * rec.tau_inv - px.x * rec.inv;
            // log(e^a3 + e^a4) and the weights of the two terms, without overflow.
            let (m, other) = if a3 >= a4 { (a3, a4) } else { (a4, a3) };
            let e = (other - m).exp();
            let lse = m + e.ln_1p();
            let w_big = 1.0 / (1.0 + e);
            let (w3, w4) = if a3 >= a4 {
                (w_big, 1.0 - w_big)
            } else {
                (1.0 - w_big, w_big)
            };
            ll += w * lse;
            dr -= w * (w3 * big_t.ln1p + w4 * rec.ln1p);
            dalpha += w * (w3 * d3_alpha + w4 * d4_alpha);
            da += w * w4 / a;
            db -= w * w4 * px.inv_bx1;
        }
        let n = self.total_weight;
        grad[0] = -r * dr / n;
        grad[1] = -alpha * dalpha / n;
        grad[2] = -a * da / n;
        grad[3] = -b * db / n;
        -ll / n
    }
}

impl BgNbdParams {
    /// The log-likelihood of one customer's (x, tₓ, T) (weeks): the paper's equation (6),
    /// computed in log space (as the fit computes it).
    pub fn log_likelihood_of(&self, x: u32, recency: f64, age: f64) -> f64 {
        let Self { r, alpha, a, b, .. } = *self;
        let x = f64::from(x);
        let a12 = ln_poch(r, x) + ln_poch(b, x) - ln_poch(a + b, x);
        let a3 = -r * (age / alpha).ln_1p() - x * (alpha + age).ln();
        if x == 0.0 {
            return a12 + a3;
        }
        let a4 = a.ln()
            - (b + x - 1.0).ln()
            - r * (recency / alpha).ln_1p()
            - x * (alpha + recency).ln();
        let (m, other) = if a3 >= a4 { (a3, a4) } else { (a4, a3) };
        a12 + m + (other - m).exp().ln_1p()
    }

    /// P(alive | x, tₓ, T) = 1 / (1 + δ(x > 0) · a / (b + x − 1) · ((α + T) / (α + tₓ))^(r + x));
    /// 1 for x = 0 (a customer can only drop out right after a repeat purchase).
    pub fn p_alive(&self, x: u32, recency: f64, age: f64) -> f64 {
        if x == 0 {
            return 1.0;
        }
        let Self { r, alpha, a, b, .. } = *self;
        let x = f64::from(x);
        let log_odds =
            (a / (b + x - 1.0)).ln() + (r + x) * ((age - recency) / (alpha + recency)).ln_1p();
        logistic_neg(log_odds)
    }

    /// E[Y(t) | x, tₓ, T]: the expected number of purchases in the next `t` weeks of a customer
    /// with history (x, tₓ, T) (the paper's equation (10)): P(alive) times the expectation for
    /// a customer who is alive, [`Self::expected_purchases_if_alive`].
    ///
    /// Errors: `BadInput` for a negative or non-finite `t`; `NotConverged` if t is more than
    /// ~10⁵ times α + T.
    pub fn expected_purchases(&self, t: f64, x: u32, recency: f64, age: f64) -> Result<f64> {
        Ok(self.p_alive(x, recency, age) * self.expected_purchases_if_alive(t, x, age)?)
    }

    /// The expected number of purchases in the next `t` weeks of a customer known to be alive,
    /// with x repeat purchases and age T: (a + b + x − 1)/(a − 1) · [1 − (1 − z)^(r+x)
    /// ₂F₁(r + x, b + x; a + b + x − 1; z)], z = t / (α + T + t).
    ///
    /// The ₂F₁ is summed in whichever of two forms converges in fewer terms (see
    /// `docs/clv.md`): after Euler's transformation (1 − z)^(r+x) ₂F₁(r + x, b + x; c; z) =
    /// (1 − z)^(a−1) ₂F₁(a + b − 1 − r, a − 1; c; z), whose terms stay bounded for any x and
    /// which has no singularity at a = 1, or, for large a (b), as printed with its terms summed
    /// on a log scale.
    pub fn expected_purchases_if_alive(&self, t: f64, x: u32, age: f64) -> Result<f64> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(ClvError::BadInput(format!(
                "the prediction time must be finite and >= 0, got {t}"
            )));
        }
        if t == 0.0 {
            return Ok(0.0);
        }
        let Self { r, alpha, a, b, .. } = *self;
        let xf = f64::from(x);
        let z = t / (alpha + age + t);
        let c = a + b + xf - 1.0;
        // Rough term counts of the two forms: each grows while its ratio exceeds 1.
        let euler_terms = (a - 1.0).max(0.0) * z / (1.0 - z) + 40.0 / (1.0 - z);
        let qz = (b + xf) / c * z;
        let direct_terms = (r + xf) * qz / (1.0 - qz) + 40.0 / (1.0 - qz);
        if a > 2.0 && direct_terms < euler_terms {
            self.if_alive_direct(t, xf, age)
        } else {
            self.if_alive_euler(t, xf, age)
        }
    }

    /// The Euler form: E = (a + b + x − 1) (1 − (1 − z)^ε)/ε − (1 − z)^ε Σₙ≥₁ vₙ with
    /// ε = a − 1, v₁ = (a + b − 1 − r) z, vₙ₊₁ = vₙ (a + b − 1 − r + n)(ε + n) z /
    /// ((a + b + x − 1 + n)(n + 1)) — the (a + b + x − 1)/(a − 1) factor taken inside.
    fn if_alive_euler(&self, t: f64, x: f64, age: f64) -> Result<f64> {
        let Self { r, alpha, a, b, .. } = *self;
        let z = t / (alpha + age + t);
        let ln_1mz = -(t / (alpha + age)).ln_1p();
        let eps = a - 1.0;
        // (1 − (1 − z)^ε) / ε, which tends to −ln(1 − z) as ε → 0.
        let first = if eps == 0.0 {
            -ln_1mz
        } else {
            -(eps * ln_1mz).exp_m1() / eps
        };
        let c = a + b + x - 1.0;
        let big_a = a + b - 1.0 - r;
        let tail = hypergeometric_sum(big_a * z, (big_a, eps, c), z, 1.0)?.to_f64();
        Ok((c * first - (eps * ln_1mz).exp() * tail).max(0.0))
    }

    /// The printed form, for a > 1: (a + b + x − 1)/(a − 1) · (1 − F) with
    /// ln F = (r + x) ln(1 − z) + ln ₂F₁(r + x, b + x; a + b + x − 1; z).
    fn if_alive_direct(&self, t: f64, x: f64, age: f64) -> Result<f64> {
        let Self { r, alpha, a, b, .. } = *self;
        let z = t / (alpha + age + t);
        let ln_1mz = -(t / (alpha + age)).ln_1p();
        let c = a + b + x - 1.0;
        let series = hypergeometric_sum(1.0, (r + x, b + x, c), z, 0.0)?;
        let ln_f = (r + x) * ln_1mz + series.ln();
        Ok((c / (a - 1.0) * -ln_f.exp_m1()).max(0.0))
    }

    /// E[X(t)]: the expected number of repeat purchases in the first `t` weeks after a
    /// customer's first purchase (the paper's equation (7)); equal to
    /// [`expected_purchases`](Self::expected_purchases) for x = 0, T = 0.
    pub fn expected_purchases_new(&self, t: f64) -> Result<f64> {
        self.expected_purchases(t, 0, 0.0, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyp2f1;

    const PAPER: BgNbdParams = BgNbdParams {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
        log_likelihood: 0.0,
    };

    /// Equation (10) as printed, with the ₂F₁ summed directly.
    fn textbook(p: &BgNbdParams, t: f64, x: u32, tx: f64, big_t: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b, .. } = *p;
        let x = f64::from(x);
        let z = t / (alpha + big_t + t);
        let f = hyp2f1(r + x, b + x, a + b + x - 1.0, z).unwrap();
        let num = (a + b + x - 1.0) / (a - 1.0)
            * (1.0 - ((alpha + big_t) / (alpha + big_t + t)).powf(r + x) * f);
        let den = if x > 0.0 {
            1.0 + a / (b + x - 1.0) * ((alpha + big_t) / (alpha + tx)).powf(r + x)
        } else {
            1.0
        };
        num / den
    }

    #[test]
    fn conditional_expectation_matches_the_printed_formula() {
        for &(t, x, tx, big_t) in &[
            (39.0, 0, 0.0, 38.86),
            (39.0, 2, 30.43, 38.86),
            (52.0, 7, 35.0, 38.0),
            (5.0, 1, 1.71, 38.86),
            (100.0, 20, 70.0, 78.0),
            (0.01, 3, 10.0, 20.0),
        ] {
            let ours = PAPER.expected_purchases(t, x, tx, big_t).unwrap();
            let theirs = textbook(&PAPER, t, x, tx, big_t);
            assert!(
                (ours - theirs).abs() <= 1e-10 * theirs.abs().max(1e-3),
                "{t} {x}: {ours} vs {theirs}"
            );
        }
    }

    #[test]
    fn both_forms_agree() {
        for &(a, b) in &[(2.5, 2.426), (8.0, 3.0), (40.0, 100.0)] {
            let p = BgNbdParams { a, b, ..PAPER };
            for &(t, x, big_t) in &[
                (39.0, 0, 38.86),
                (52.0, 7, 38.0),
                (400.0, 30, 10.0),
                (1.0, 2, 0.0),
            ] {
                let euler = p.if_alive_euler(t, f64::from(x), big_t).unwrap();
                let direct = p.if_alive_direct(t, f64::from(x), big_t).unwrap();
                assert!(
                    (euler - direct).abs() <= 1e-10 * direct,
                    "{a} {b} {t} {x}: {euler} vs {direct}"
                );
                let ours = p.expected_purchases(t, x, big_t / 2.0, big_t).unwrap();
                let printed = textbook(&p, t, x, big_t / 2.0, big_t);
                assert!((ours - printed).abs() <= 1e-9 * printed, "{a} {b} {t} {x}");
            }
        }
    }

    #[test]
    fn huge_shape_parameters_stay_finite() {
        // A fit at the edge of the parameter space (no heterogeneity in p or λ).
        for &(r, alpha, a, b) in &[
            (0.5, 5.0, 4e12, 6e12),
            (1e9, 2e9, 0.8, 2.5),
            (1e9, 2e9, 1e9, 3e9),
        ] {
            let p = BgNbdParams {
                r,
                alpha,
                a,
                b,
                log_likelihood: 0.0,
            };
            for x in [0, 3, 500] {
                let e = p.expected_purchases(52.0, x, 30.0, 39.0).unwrap();
                assert!(e.is_finite() && e >= 0.0, "{p:?} x={x}: {e}");
                assert!(p.log_likelihood_of(x, 30.0, 39.0).is_finite());
            }
        }
    }

    #[test]
    fn continuous_through_a_equal_one() {
        let at = |a: f64| {
            let p = BgNbdParams { a, ..PAPER };
            p.expected_purchases(52.0, 3, 20.0, 30.0).unwrap()
        };
        let (below, exact, above) = (at(1.0 - 1e-9), at(1.0), at(1.0 + 1e-9));
        assert!(exact.is_finite() && exact > 0.0);
        assert!((below - exact).abs() < 1e-7 && (above - exact).abs() < 1e-7);
    }

    #[test]
    fn p_alive_is_one_without_repeat_purchases() {
        assert_eq!(PAPER.p_alive(0, 0.0, 38.86), 1.0);
        let p = PAPER.p_alive(2, 30.43, 38.86);
        assert!(p > 0.0 && p < 1.0);
    }
}
