//! Special functions: ln Γ and ψ (from `statrs`), a stable log-sum-exp and the logistic
//! function, and Gauss's hypergeometric series with a bound on what it leaves out.

use crate::{ClvError, Result};

/// ln Γ(x) for x > 0.
#[inline]
pub(crate) fn ln_gamma(x: f64) -> f64 {
    statrs::function::gamma::ln_gamma(x)
}

/// ψ(x) = d/dx ln Γ(x) for x > 0.
#[inline]
pub(crate) fn digamma(x: f64) -> f64 {
    statrs::function::gamma::digamma(x)
}

/// Below this the differences of ln Γ and ψ are taken directly; from it on, by the difference
/// of their asymptotic (Stirling) series, whose first omitted term is below 2·10⁻¹⁵ there.
const ASYMPTOTIC_FROM: f64 = 20.0;

/// The tail of Stirling's series for ln Γ(z) after (z − ½) ln z − z + ½ ln 2π.
fn stirling_tail(z: f64) -> f64 {
    let r = 1.0 / z;
    let r2 = r * r;
    r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0 - r2 / 1680.0)))
}

/// The tail of the asymptotic series for ψ(z) after ln z − 1 / (2z).
fn digamma_tail(z: f64) -> f64 {
    let r2 = 1.0 / (z * z);
    -r2 * (1.0 / 12.0 - r2 * (1.0 / 120.0 - r2 * (1.0 / 252.0 - r2 / 240.0)))
}

/// ln Γ(a + h) − ln Γ(a) (the log of the Pochhammer symbol (a)ₕ), for a > 0, h ≥ 0, accurate
/// also when a is so large that the two ln Γ would cancel (a model parameter running off to
/// infinity on data that does not identify it).
pub(crate) fn ln_poch(a: f64, h: f64) -> f64 {
    if h == 0.0 {
        return 0.0;
    }
    if a < ASYMPTOTIC_FROM {
        return ln_gamma(a + h) - ln_gamma(a);
    }
    let ah = a + h;
    (a - 0.5) * (h / a).ln_1p() + h * ah.ln() - h + (stirling_tail(ah) - stirling_tail(a))
}

/// ψ(a + h) − ψ(a) for a > 0, h ≥ 0, accurate for large a as [`ln_poch`].
pub(crate) fn digamma_diff(a: f64, h: f64) -> f64 {
    if h == 0.0 {
        return 0.0;
    }
    if a < ASYMPTOTIC_FROM {
        return digamma(a + h) - digamma(a);
    }
    let ah = a + h;
    (h / a).ln_1p() + 0.5 * h / (a * ah) + (digamma_tail(ah) - digamma_tail(a))
}

/// 1 / (1 + e^u), without overflow for large |u|.
#[inline]
pub(crate) fn logistic_neg(u: f64) -> f64 {
    if u > 0.0 {
        let e = (-u).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + u.exp())
    }
}

/// The most terms a series may take before it is declared not converged. The series here
/// converge geometrically with ratio at most z, so this bounds z away from 1 by about 3·10⁻⁵ (a
/// horizon more than ~10⁵ times the customer's α + T, far beyond any shop's).
pub(crate) const MAX_TERMS: usize = 2_000_000;

/// Relative precision at which a series stops.
const EPSILON: f64 = 1e-15;

/// A sum kept as `value · e^ln_scale`, so that series whose terms pass f64's range can still
/// be summed (their result is then combined in log space).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scaled {
    pub value: f64,
    pub ln_scale: f64,
}

impl Scaled {
    /// ln of the (positive) sum; NaN for a sum ≤ 0.
    pub fn ln(self) -> f64 {
        if self.value > 0.0 {
            self.value.ln() + self.ln_scale
        } else {
            f64::NAN
        }
    }

    pub fn to_f64(self) -> f64 {
        self.value * self.ln_scale.exp()
    }
}

/// Rescale when a term passes this.
const RESCALE_AT: f64 = 1e250;

/// Σ_{k≥0} t_k with t₀ = `first` and t_{k+1} = t_k · (A + n)(B + n) z / ((C + n)(n + 1)),
/// n = k + `offset`: a hypergeometric series or its tail from term `offset` on.
///
/// Stops when the bound on the remaining terms falls below [`EPSILON`] of the sum: from a term
/// n where A + n, B + n and C + n are positive, each of (A + m)/(m + 1) and (B + m)/(C + m) is
/// monotone in m ≥ n and tends to 1, so every later ratio is at most
/// R = |z| · max((A + n)/(n + 1), 1) · max((B + n)/(C + n), 1), and when R < 1 the rest is at
/// most |t| R / (1 − R). A term that is exactly zero ends a terminating series.
pub(crate) fn hypergeometric_sum(
    first: f64,
    (a, b, c): (f64, f64, f64),
    z: f64,
    offset: f64,
) -> Result<Scaled> {
    let mut term = first;
    let mut sum = first;
    let mut ln_scale = 0.0;
    if term == 0.0 {
        return Ok(Scaled {
            value: 0.0,
            ln_scale,
        });
    }
    for k in 0..MAX_TERMS {
        let n = k as f64 + offset;
        let (an, bn, cn) = (a + n, b + n, c + n);
        term *= an * bn * z / (cn * (n + 1.0));
        sum += term;
        if term == 0.0 {
            return Ok(Scaled {
                value: sum,
                ln_scale,
            });
        }
        if !sum.is_finite() || !term.is_finite() {
            break;
        }
        if term.abs() > RESCALE_AT {
            term /= RESCALE_AT;
            sum /= RESCALE_AT;
            ln_scale += RESCALE_AT.ln();
        }
        let m = n + 1.0;
        if a + m > 0.0 && b + m > 0.0 && c + m > 0.0 {
            let bound = z.abs() * ((a + m) / (m + 1.0)).max(1.0) * ((b + m) / (c + m)).max(1.0);
            if bound < 1.0 && term.abs() * bound / (1.0 - bound) <= EPSILON * sum.abs() {
                return Ok(Scaled {
                    value: sum,
                    ln_scale,
                });
            }
        }
    }
    Err(ClvError::NotConverged {
        what: "2F1 series",
        iterations: MAX_TERMS,
    })
}

/// Gauss's hypergeometric function ₂F₁(a, b; c; z) for real z < 1.
///
/// For 0 ≤ z < 1 the power series Σ (a)ₙ(b)ₙ / ((c)ₙ n!) zⁿ is summed until the geometric
/// bound on its tail is below 10⁻¹⁵ of the sum; for z < 0 Pfaff's transformation
/// ₂F₁(a, b; c; z) = (1 − z)^(−a) ₂F₁(a, c − b; c; z / (z − 1)) maps z into [0, 1) first.
///
/// Errors: `BadInput` when z ≥ 1, z is not finite, or c is zero or a negative integer;
/// `NotConverged` when z is so close to 1 that the series would need more than two million
/// terms.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64> {
    if z >= 1.0 || !z.is_finite() || !a.is_finite() || !b.is_finite() || !c.is_finite() {
        return Err(ClvError::BadInput(format!(
            "2F1({a}, {b}; {c}; {z}) needs finite arguments and z < 1"
        )));
    }
    if c <= 0.0 && c == c.floor() {
        return Err(ClvError::BadInput(format!(
            "2F1 is undefined for c = {c} (zero or a negative integer)"
        )));
    }
    if z < 0.0 {
        let w = z / (z - 1.0);
        return Ok((1.0 - z).powf(-a) * hyp2f1_series(a, c - b, c, w)?);
    }
    hyp2f1_series(a, b, c, z)
}

fn hyp2f1_series(a: f64, b: f64, c: f64, z: f64) -> Result<f64> {
    Ok(hypergeometric_sum(1.0, (a, b, c), z, 0.0)?.to_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        for &z in &[0.0f64, 0.1, 0.5, 0.9, 0.99, 0.999, -0.5, -3.0, -100.0] {
            // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z
            let expected = if z == 0.0 { 1.0 } else { -(1.0 - z).ln() / z };
            assert!(
                close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), expected, 1e-12),
                "z={z}"
            );
            // ₂F₁(a, b; b; z) = (1 − z)^(−a)
            let expected = (1.0 - z).powf(-0.7);
            assert!(
                close(hyp2f1(0.7, 2.3, 2.3, z).unwrap(), expected, 1e-12),
                "z={z}"
            );
        }
        // A terminating series: ₂F₁(−2, b; c; z) = 1 − 2bz/c + b(b+1)z²/(c(c+1)).
        let (b, c, z) = (1.5, 2.5, 0.3);
        let expected = 1.0 - 2.0 * b * z / c + b * (b + 1.0) * z * z / (c * (c + 1.0));
        assert!(close(hyp2f1(-2.0, b, c, z).unwrap(), expected, 1e-14));
    }

    #[test]
    fn hyp2f1_rejects_its_poles_and_z_at_least_one() {
        assert!(matches!(
            hyp2f1(1.0, 1.0, 2.0, 1.0),
            Err(ClvError::BadInput(_))
        ));
        assert!(matches!(
            hyp2f1(1.0, 1.0, -2.0, 0.5),
            Err(ClvError::BadInput(_))
        ));
        assert!(matches!(
            hyp2f1(1.0, 1.0, 2.0, f64::NAN),
            Err(ClvError::BadInput(_))
        ));
        assert!(matches!(
            hyp2f1(1.0, 1.0, 2.0, 1.0 - 1e-12),
            Err(ClvError::NotConverged { .. })
        ));
    }

    #[test]
    fn pochhammer_differences_are_accurate() {
        // Moderate arguments: both ways agree.
        for &a in &[0.3, 1.0, 19.9, 20.0, 25.0, 300.0] {
            for &h in &[0.0, 0.5, 1.0, 7.0, 150.0] {
                let direct = ln_gamma(a + h) - ln_gamma(a);
                assert!(close(ln_poch(a, h), direct, 1e-12), "ln_poch({a}, {h})");
                let direct = digamma(a + h) - digamma(a);
                assert!(
                    close(digamma_diff(a, h), direct, 1e-12),
                    "digamma_diff({a}, {h})"
                );
            }
        }
        // Huge a with an integer h: (a)ₕ = a (a + 1) … (a + h − 1).
        for &a in &[1e6, 1e9, 1e13] {
            for h in [1u32, 2, 5, 30] {
                let exact: f64 = (0..h).map(|k| (a + f64::from(k)).ln()).sum();
                assert!(
                    close(ln_poch(a, f64::from(h)), exact, 1e-14),
                    "ln_poch({a}, {h})"
                );
                let exact: f64 = (0..h).map(|k| 1.0 / (a + f64::from(k))).sum();
                let got = digamma_diff(a, f64::from(h));
                assert!(
                    (got - exact).abs() <= 1e-14 * exact,
                    "digamma_diff({a}, {h}): {got} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn logistic_is_stable() {
        assert_eq!(logistic_neg(1000.0), 0.0);
        assert_eq!(logistic_neg(-1000.0), 1.0);
        assert!(close(logistic_neg(0.0), 0.5, 1e-15));
    }
}
