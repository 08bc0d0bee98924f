//! The models on made-up data: edge cases, errors, monotonicity, and recovering the
//! parameters of simulated customers.

use chrono::NaiveDate;
use embudo_clv::{
    analyze, summarize, validate, AnalyzeOptions, BgNbd, BgNbdParams, ClvError, ClvModel,
    CustomerSummary, GammaGamma, GammaGammaParams, PredictOptions, Transaction,
};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn tx(customer: &str, at: &str, value_minor: i64) -> Transaction {
    Transaction {
        customer: customer.into(),
        at: day(at),
        value_minor,
    }
}

const PARAMS: BgNbdParams = BgNbdParams {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
    log_likelihood: 0.0,
};

const SPEND: GammaGammaParams = GammaGammaParams {
    p: 6.25,
    q: 3.74,
    gamma: 15.44,
};

fn model() -> ClvModel {
    ClvModel {
        bgnbd: PARAMS,
        gamma_gamma: SPEND,
        mean_value: SPEND.population_mean().unwrap(),
        exponent: 2,
    }
}

fn summary(
    frequency: u32,
    recency_days: u32,
    age_days: u32,
    repeat_value_minor: i64,
) -> CustomerSummary {
    CustomerSummary {
        customer: format!("c{frequency}-{recency_days}-{age_days}"),
        first_purchase: day("2024-01-01"),
        last_purchase: day("2024-01-01") + chrono::Days::new(u64::from(recency_days)),
        frequency,
        recency_days,
        age_days,
        repeat_value_minor,
    }
}

/// A small deterministic generator (SplitMix64), so the tests need no random crate.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang.
    fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            return self.gamma(shape + 1.0) * self.uniform().powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v > 0.0 && self.uniform().ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        x / (x + self.gamma(b))
    }
}

/// (x, tₓ, T) per customer, and (x, z̄) per repeat customer.
type Simulated = (Vec<(u32, f64, f64)>, Vec<(u32, f64)>);

/// Simulates BG/NBD customers (λ per week ~ Gamma(r, α), p ~ Beta(a, b)) with first purchases
/// spread over 12 weeks and a calibration end 52 weeks after the first, spend per purchase
/// Gamma(p, ν), ν ~ Gamma(q, γ); times are in fractional weeks, kept continuous (no grouping
/// per day) so that the data is the model's exactly.
fn simulate(n: usize, seed: u64) -> Simulated {
    let mut rng = Rng(seed);
    let (mut rft, mut spend) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let lambda = rng.gamma(PARAMS.r) / PARAMS.alpha;
        let p = rng.beta(PARAMS.a, PARAMS.b);
        let nu = rng.gamma(SPEND.q) / SPEND.gamma;
        let age = 52.0 - 12.0 * rng.uniform();
        let (mut t, mut x, mut last, mut total) = (0.0, 0u32, 0.0, 0.0);
        loop {
            t += -rng.uniform().ln() / lambda;
            if t > age {
                break;
            }
            x += 1;
            last = t;
            total += rng.gamma(SPEND.p) / nu;
            if rng.uniform() < p {
                break;
            }
        }
        rft.push((x, last, age));
        if x > 0 {
            spend.push((x, total / f64::from(x)));
        }
    }
    (rft, spend)
}

#[test]
fn recovers_simulated_parameters() {
    let (rft, spend) = simulate(20_000, 7);
    let p = BgNbd::fit_weeks(&rft).unwrap();
    let close = |got: f64, want: f64, tol: f64| (got / want - 1.0).abs() < tol;
    assert!(close(p.r, PARAMS.r, 0.1), "{p:?}");
    assert!(close(p.alpha, PARAMS.alpha, 0.15), "{p:?}");
    assert!(close(p.a, PARAMS.a, 0.25), "{p:?}");
    assert!(close(p.b, PARAMS.b, 0.3), "{p:?}");
    let g = GammaGamma::fit_values(&spend).unwrap();
    let mean = g.population_mean().unwrap();
    assert!(close(mean, SPEND.population_mean().unwrap(), 0.1), "{g:?}");
}

#[test]
fn large_frequencies_do_not_overflow() {
    for x in [500u32, 5_000, 100_000] {
        let ll = PARAMS.log_likelihood_of(x, 30.0, 39.0);
        assert!(ll.is_finite(), "x={x}: {ll}");
        let alive = PARAMS.p_alive(x, 30.0, 39.0);
        assert!((0.0..=1.0).contains(&alive), "x={x}: {alive}");
        let recent = PARAMS.p_alive(x, 39.0, 39.0);
        assert!(recent > 0.99, "x={x}: {recent}");
        let e = PARAMS.expected_purchases(52.0, x, 39.0, 39.0).unwrap();
        assert!(e.is_finite() && e > 0.0, "x={x}: {e}");
        // A customer buying x times in 39 weeks is expected to buy about as often again.
        let rate = f64::from(x) / 39.0;
        assert!(e > 0.5 * rate * 52.0 && e < 1.5 * rate * 52.0, "x={x}: {e}");
    }
    // Fitting data with very frequent buyers works too.
    let mut data: Vec<(u32, f64, f64)> = (0..200)
        .map(|i| (i % 5, f64::from(i % 5) * 5.0, 30.0))
        .collect();
    data.push((500, 29.0, 30.0));
    data.push((2_000, 30.0, 30.0));
    let p = BgNbd::fit_weeks(&data).unwrap();
    assert!([p.r, p.alpha, p.a, p.b, p.log_likelihood]
        .iter()
        .all(|v| v.is_finite()));
    let g = GammaGamma::fit_values(&[(500, 20.0), (2_000, 35.0), (1, 10.0), (3, 50.0)]).unwrap();
    assert!([g.p, g.q, g.gamma]
        .iter()
        .all(|v| v.is_finite() && *v > 0.0));
}

#[test]
fn p_alive_is_one_without_repeat_purchases() {
    for age in [0.0, 1.0, 39.0, 500.0] {
        assert_eq!(PARAMS.p_alive(0, 0.0, age), 1.0);
    }
    // It falls as time passes since the last purchase.
    assert!(PARAMS.p_alive(3, 10.0, 39.0) < PARAMS.p_alive(3, 30.0, 39.0));
}

#[test]
fn predictions_grow_with_the_horizon() {
    let m = model();
    let customers = [
        summary(0, 0, 273, 0),
        summary(0, 0, 0, 0),
        summary(2, 213, 272, 4469),
        summary(7, 250, 270, 20_000),
        summary(40, 260, 270, 100_000),
    ];
    for c in &customers {
        let (mut last_e, mut last_clv) = (0.0, 0.0);
        for horizon in [1.0, 7.0, 30.0, 90.0, 180.0, 365.0, 730.0, 3650.0] {
            let options = PredictOptions {
                horizon_days: horizon,
                annual_discount_rate: 0.0,
            };
            let p = m.predict_one(c, day("2024-12-31"), &options).unwrap();
            assert!(p.expected_purchases > last_e, "{c:?} {horizon}");
            assert!(p.predicted_clv > last_clv, "{c:?} {horizon}");
            // Undiscounted, the CLV is the expected purchases times the order value.
            let product = p.expected_purchases * p.expected_order_value;
            assert!((p.predicted_clv - product).abs() < 1e-9 * product);
            let discounted = m
                .clv(
                    c,
                    &PredictOptions {
                        horizon_days: horizon,
                        annual_discount_rate: 0.1,
                    },
                )
                .unwrap();
            assert!(discounted <= p.predicted_clv && discounted > 0.0);
            (last_e, last_clv) = (p.expected_purchases, p.predicted_clv);
        }
    }
}

#[test]
fn next_order_date_is_when_one_purchase_is_expected() {
    let m = model();
    let as_of = day("2024-12-31");
    let options = PredictOptions::default();
    let frequent = summary(40, 260, 270, 100_000);
    let p = m.predict_one(&frequent, as_of, &options).unwrap();
    let date = p
        .next_order_date
        .expect("a frequent buyer buys within a year");
    let days = (date - as_of).num_days() as f64;
    assert!(m.expected_purchases(&frequent, days).unwrap() >= 1.0);
    assert!(m.expected_purchases(&frequent, days - 1.0).unwrap() < 1.0);
    // Someone expected to buy less than once in the horizon has no date.
    let rare = summary(0, 0, 273, 0);
    let p = m.predict_one(&rare, as_of, &options).unwrap();
    assert!(p.expected_purchases < 1.0);
    assert_eq!(p.next_order_date, None);
}

#[test]
fn zero_valued_orders_count_as_purchases_but_not_as_spend() {
    let transactions = vec![
        // a: a free first order, then paid repeat orders.
        tx("a", "2024-01-01", 0),
        tx("a", "2024-02-01", 2_000),
        tx("a", "2024-03-01", 4_000),
        // b: only free repeat orders: left out of Gamma-Gamma.
        tx("b", "2024-01-05", 3_000),
        tx("b", "2024-02-05", 0),
        tx("b", "2024-03-05", 0),
        // c: a free repeat day among paid ones lowers the mean.
        tx("c", "2024-01-02", 1_000),
        tx("c", "2024-01-20", 0),
        tx("c", "2024-02-20", 3_000),
        tx("c", "2024-02-20", 0),
        // d, e: single purchases, one of them free.
        tx("d", "2024-02-10", 0),
        tx("e", "2024-03-10", 1_500),
        // f: more repeat buyers so both models have data.
        tx("f", "2024-01-03", 1_000),
        tx("f", "2024-03-03", 5_000),
        tx("g", "2024-01-15", 1_000),
        tx("g", "2024-01-25", 1_200),
        tx("g", "2024-04-25", 1_800),
    ];
    let end = day("2024-06-30");
    let s = summarize(&transactions, end).unwrap();
    let by = |id: &str| s.iter().find(|c| c.customer == id).unwrap().clone();
    assert_eq!((by("a").frequency, by("a").monetary(2)), (2, Some(30.0)));
    assert_eq!((by("b").frequency, by("b").monetary(2)), (2, Some(0.0)));
    assert_eq!((by("c").frequency, by("c").monetary(2)), (2, Some(15.0)));
    assert_eq!(by("d").frequency, 0);
    let model = ClvModel::fit(&s, 2).unwrap();
    // b is left out of Gamma-Gamma: fitting without b gives the same parameters.
    let without_b: Vec<CustomerSummary> = s.iter().filter(|c| c.customer != "b").cloned().collect();
    assert_eq!(GammaGamma::fit(&without_b, 2).unwrap(), model.gamma_gamma);
    let a = analyze(&transactions, &AnalyzeOptions::new(end)).unwrap();
    assert_eq!(a.report.customers.total, 7);
    assert_eq!(a.report.customers.repeat, 5);
    assert_eq!(a.report.customers.gamma_gamma, 4);
    for p in &a.predictions {
        assert!(
            p.expected_purchases.is_finite() && p.predicted_clv.is_finite(),
            "{p:?}"
        );
        match p.customer.as_str() {
            // No repeat purchase: the population mean.
            "d" | "e" => assert_eq!(p.expected_order_value, model.mean_value, "{p:?}"),
            // Free repeat purchases: the conditional mean at z̄ = 0, below the population mean.
            "b" => {
                let g = model.gamma_gamma;
                let expected = g.p * g.gamma / (2.0 * g.p + g.q - 1.0);
                assert!((p.expected_order_value - expected).abs() < 1e-9 * expected);
                assert!(p.expected_order_value < model.mean_value);
            }
            _ => {}
        }
    }
}

#[test]
fn a_customer_with_only_zero_repeat_purchases_is_excluded_from_gamma_gamma() {
    let mut customers = vec![summary(3, 100, 200, 0)];
    assert_eq!(
        GammaGamma::fit(&customers, 2),
        Err(ClvError::NoRepeatCustomers {
            model: "Gamma-Gamma"
        })
    );
    customers.extend([
        summary(1, 50, 200, 2_500),
        summary(2, 80, 150, 7_000),
        summary(4, 120, 200, 9_000),
    ]);
    let with_zero = GammaGamma::fit(&customers, 2).unwrap();
    let without = GammaGamma::fit(&customers[1..], 2).unwrap();
    assert_eq!(with_zero, without);
}

#[test]
fn errors_instead_of_panics() {
    let m = model();
    let c = summary(2, 100, 200, 5_000);
    for horizon in [0.0, -5.0, f64::NAN, f64::INFINITY, 1e9] {
        let options = PredictOptions {
            horizon_days: horizon,
            annual_discount_rate: 0.0,
        };
        assert!(matches!(
            m.predict_one(&c, day("2024-01-01"), &options),
            Err(ClvError::BadInput(_))
        ));
    }
    let options = PredictOptions {
        horizon_days: 365.0,
        annual_discount_rate: -0.1,
    };
    assert!(matches!(m.clv(&c, &options), Err(ClvError::BadInput(_))));
    assert!(matches!(
        PARAMS.expected_purchases(-1.0, 0, 0.0, 1.0),
        Err(ClvError::BadInput(_))
    ));
    assert_eq!(BgNbd::fit(&[]), Err(ClvError::NoCustomers));
    assert_eq!(
        BgNbd::fit(&[summary(0, 0, 100, 0), summary(0, 0, 50, 0)]),
        Err(ClvError::NoRepeatCustomers { model: "BG/NBD" })
    );
    assert!(matches!(
        BgNbd::fit_weeks(&[(1, 5.0, 2.0)]),
        Err(ClvError::BadInput(_))
    ));
    assert!(matches!(
        BgNbd::fit_weeks(&[(1, f64::NAN, 2.0)]),
        Err(ClvError::BadInput(_))
    ));
    assert!(matches!(
        GammaGamma::fit_values(&[(1, f64::INFINITY)]),
        Err(ClvError::BadInput(_))
    ));
    assert_eq!(
        analyze(&[], &AnalyzeOptions::new(day("2024-01-01"))).unwrap_err(),
        ClvError::NoCustomers
    );
    let t = [tx("a", "2024-01-01", 100), tx("a", "2024-01-03", 100)];
    assert!(matches!(
        validate(&PARAMS, &t, day("2024-01-02"), Some(day("2024-01-02"))),
        Err(ClvError::BadInput(_))
    ));
    assert!(matches!(
        summarize(&[tx("a", "2024-01-01", -100)], day("2024-01-02")),
        Err(ClvError::NegativeValue { .. })
    ));
}

#[test]
fn validation_without_later_data_is_none() {
    let t = [
        tx("a", "2024-01-01", 100),
        tx("a", "2024-01-03", 100),
        tx("b", "2024-01-02", 100),
    ];
    assert_eq!(
        validate(&PARAMS, &t, day("2024-01-03"), None).unwrap(),
        None
    );
    assert_eq!(
        validate(&PARAMS, &t, day("2024-01-03"), Some(day("2024-02-01"))).unwrap(),
        None
    );
    let h = validate(&PARAMS, &t, day("2024-01-02"), None)
        .unwrap()
        .unwrap();
    assert_eq!((h.customers, h.actual, h.weeks), (2, 1, 1.0 / 7.0));
}
