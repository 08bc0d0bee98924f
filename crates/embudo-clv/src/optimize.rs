//! A small BFGS minimiser with a strong-Wolfe line search, for the few (3–4) log-parameters of
//! the models. The objective returns its value and writes its analytic gradient; a value that
//! is not finite (parameters so large that a term overflows) counts as "too far" and the line
//! search steps back.

/// The objective: value at `x`, gradient written to `grad`.
pub(crate) trait Objective {
    fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> f64;
}

impl<F: FnMut(&[f64], &mut [f64]) -> f64> Objective for F {
    fn eval(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        self(x, grad)
    }
}

/// Where the minimiser stopped.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub x: Vec<f64>,
    pub value: f64,
    pub iterations: usize,
    pub converged: bool,
}

/// Stopping rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Converged when every gradient component is at most this (the objectives are means over
    /// customers, so this is a per-customer scale).
    pub grad_tol: f64,
    /// Also converged, when the line search can make no more progress, if the gradient is at
    /// most this.
    pub grad_tol_stalled: f64,
    pub max_iterations: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            grad_tol: 1e-9,
            grad_tol_stalled: 1e-6,
            max_iterations: 1000,
        }
    }
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// A point of the line search: step, value, directional derivative, gradient.
#[derive(Clone)]
struct Point {
    step: f64,
    value: f64,
    slope: f64,
    grad: Vec<f64>,
}

struct Line<'a, O: Objective> {
    objective: &'a mut O,
    x: &'a [f64],
    dir: &'a [f64],
    buf: Vec<f64>,
}

impl<O: Objective> Line<'_, O> {
    fn at(&mut self, step: f64) -> Point {
        for ((b, x), d) in self.buf.iter_mut().zip(self.x).zip(self.dir) {
            *b = x + step * d;
        }
        let mut grad = vec![0.0; self.x.len()];
        let value = self.objective.eval(&self.buf, &mut grad);
        let finite = value.is_finite() && grad.iter().all(|g| g.is_finite());
        if !finite {
            return Point {
                step,
                value: f64::INFINITY,
                slope: f64::NAN,
                grad,
            };
        }
        let slope = dot(&grad, self.dir);
        Point {
            step,
            value,
            slope,
            grad,
        }
    }
}

/// Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6) from `start` (step 0)
/// along `dir`, with a first trial step `step0`. Returns the accepted point, or `None` when no
/// step decreases the value enough.
fn line_search<O: Objective>(
    objective: &mut O,
    x: &[f64],
    dir: &[f64],
    start: &Point,
    step0: f64,
) -> Option<Point> {
    let mut line = Line {
        objective,
        x,
        dir,
        buf: vec![0.0; x.len()],
    };
    let f0 = start.value;
    let d0 = start.slope;
    let mut prev = start.clone();
    let mut step = step0;
    for i in 0..60 {
        let p = line.at(step);
        if !p.value.is_finite() || p.value > f0 + C1 * step * d0 || (i > 0 && p.value >= prev.value)
        {
            return zoom(&mut line, f0, d0, prev, p);
        }
        if p.slope.abs() <= -C2 * d0 {
            return Some(p);
        }
        if p.slope >= 0.0 {
            return zoom(&mut line, f0, d0, p, prev);
        }
        prev = p;
        step *= 2.0;
    }
    None
}

fn zoom<O: Objective>(
    line: &mut Line<'_, O>,
    f0: f64,
    d0: f64,
    mut lo: Point,
    mut hi: Point,
) -> Option<Point> {
    for _ in 0..60 {
        let width = hi.step - lo.step;
        // Minimiser of the quadratic through (lo, value, slope) and (hi, value), kept inside
        // the middle 80 % of the bracket; bisection when hi's value is not finite.
        let mut step = lo.step + 0.5 * width;
        if hi.value.is_finite() {
            let denom = 2.0 * (hi.value - lo.value - lo.slope * width);
            if denom > 0.0 {
                let q = lo.step - lo.slope * width * width / denom;
                let (a, b) = if width > 0.0 {
                    (lo.step + 0.1 * width, hi.step - 0.1 * width)
                } else {
                    (hi.step - 0.1 * width, lo.step + 0.1 * width)
                };
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                if q.is_finite() {
                    step = q.clamp(a, b);
                }
            }
        }
        if (step - lo.step).abs() <= 1e-16 * lo.step.abs().max(1e-300) {
            break;
        }
        let p = line.at(step);
        if !p.value.is_finite() || p.value > f0 + C1 * step * d0 || p.value >= lo.value {
            hi = p;
        } else {
            if p.slope.abs() <= -C2 * d0 {
                return Some(p);
            }
            if p.slope * (hi.step - lo.step) >= 0.0 {
                hi = lo;
            }
            lo = p;
        }
        if (hi.step - lo.step).abs() <= 1e-14 * lo.step.abs().max(hi.step.abs()) {
            break;
        }
    }
    // The bracket collapsed: accept lo if it decreased the value at all.
    (lo.step != 0.0 && lo.value < f0).then_some(lo)
}

/// Minimises `objective` from `x0` by BFGS on the inverse Hessian.
pub(crate) fn minimize<O: Objective>(objective: &mut O, x0: &[f64], settings: Settings) -> Outcome {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut grad = vec![0.0; n];
    let value = objective.eval(&x, &mut grad);
    if !value.is_finite() || grad.iter().any(|g| !g.is_finite()) {
        return Outcome {
            x,
            value,
            iterations: 0,
            converged: false,
        };
    }
    let identity = |h: &mut Vec<f64>| {
        h.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..n {
            h[i * n + i] = 1.0;
        }
    };
    let mut h = vec![0.0; n * n];
    identity(&mut h);
    let mut fresh = true;
    let mut current = Point {
        step: 0.0,
        value,
        slope: 0.0,
        grad,
    };
    let mut dir = vec![0.0; n];
    for iteration in 0..settings.max_iterations {
        if max_abs(&current.grad) <= settings.grad_tol {
            return Outcome {
                x,
                value: current.value,
                iterations: iteration,
                converged: true,
            };
        }
        for i in 0..n {
            dir[i] = -(0..n).map(|j| h[i * n + j] * current.grad[j]).sum::<f64>();
        }
        let mut slope = dot(&dir, &current.grad);
        // Not a descent direction (or NaN): restart from steepest descent.
        if slope >= 0.0 || slope.is_nan() {
            identity(&mut h);
            fresh = true;
            for (d, g) in dir.iter_mut().zip(&current.grad) {
                *d = -g;
            }
            slope = dot(&dir, &current.grad);
        }
        // A fresh (identity) inverse Hessian knows nothing of the scale: move at most 1 in any
        // log-parameter on the first trial.
        let step0 = if fresh {
            (1.0 / max_abs(&dir)).min(1.0)
        } else {
            1.0
        };
        let start = Point {
            step: 0.0,
            value: current.value,
            slope,
            grad: current.grad.clone(),
        };
        let Some(next) = line_search(objective, &x, &dir, &start, step0) else {
            if max_abs(&current.grad) <= settings.grad_tol_stalled {
                return Outcome {
                    x,
                    value: current.value,
                    iterations: iteration,
                    converged: true,
                };
            }
            if fresh {
                break;
            }
            identity(&mut h);
            fresh = true;
            continue;
        };
        let s: Vec<f64> = dir.iter().map(|d| d * next.step).collect();
        let y: Vec<f64> = next
            .grad
            .iter()
            .zip(&current.grad)
            .map(|(a, b)| a - b)
            .collect();
        for (xi, si) in x.iter_mut().zip(&s) {
            *xi += si;
        }
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&s, &s).sqrt() * dot(&y, &y).sqrt() {
            if fresh {
                // Scale the identity by sᵀy / yᵀy before the first update.
                let scale = sy / dot(&y, &y);
                h.iter_mut().for_each(|v| *v *= scale);
                fresh = false;
            }
            // H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ
            let rho = 1.0 / sy;
            let hy: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum())
                .collect();
            let yhy = dot(&y, &hy);
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] += -rho * (hy[i] * s[j] + s[i] * hy[j])
                        + (rho * rho * yhy + rho) * s[i] * s[j];
                }
            }
        }
        current = Point {
            step: 0.0,
            value: next.value,
            slope: 0.0,
            grad: next.grad,
        };
    }
    let converged = max_abs(&current.grad) <= settings.grad_tol_stalled;
    Outcome {
        x,
        value: current.value,
        iterations: settings.max_iterations,
        converged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_the_rosenbrock_function() {
        let mut f = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let out = minimize(&mut f, &[-1.2, 1.0], Settings::default());
        assert!(out.converged);
        assert!(
            (out.x[0] - 1.0).abs() < 1e-6 && (out.x[1] - 1.0).abs() < 1e-6,
            "{out:?}"
        );
    }

    #[test]
    fn steps_back_from_overflow() {
        // exp(x) − 2x, minimum at ln 2; the first steps would overflow without step-back.
        let mut f = |x: &[f64], g: &mut [f64]| {
            g[0] = x[0].exp() - 2.0;
            x[0].exp() - 2.0 * x[0]
        };
        let out = minimize(&mut f, &[-800.0], Settings::default());
        assert!(out.converged, "{out:?}");
        assert!((out.x[0] - 2f64.ln()).abs() < 1e-8);
    }
}
