//! The JSON tree, and round trips of random expressions through text and JSON; random
//! damage to valid text never panics and always gets a well-placed error.

use chrono::{DateTime, TimeDelta, Utc};
use embudo_core::Currency;
use embudo_segments::{
    parse, validate, ArgName, Args, Call, CmpOp, Comparison, Decimal, Duration, DurationUnit, Expr,
    Field, FieldKind, Function, InList, MoneyValue, ParseError, RfmGroup, Sign, TimeBase,
    TimeOffset, TimeValue, Value,
};
use serde_json::json;

#[test]
fn the_json_tree_of_the_first_example() {
    let e = parse(
        r#"orders_count >= 2 and last_order_at > now() - 90d and bought(category: "Kitchen")"#,
    )
    .unwrap();
    let expected = json!({"and": [
        {"compare": {"field": "orders_count", "op": ">=", "value": 2}},
        {"compare": {"field": "last_order_at", "op": ">", "value": {"time": "now", "offset": "-90d"}}},
        {"call": {"function": "bought", "args": {"category": "Kitchen"}, "op": ">=", "count": 1}}
    ]});
    assert_eq!(e.to_json(), expected);
    assert_eq!(Expr::from_json(&expected).unwrap(), e);
    // `op` and `count` may be left out of a call.
    let short = json!({"and": [
        {"compare": {"field": "orders_count", "op": ">=", "value": 2}},
        {"compare": {"field": "last_order_at", "op": ">", "value": {"time": "now", "offset": "-90d"}}},
        {"call": {"function": "bought", "args": {"category": ["Kitchen"]}}}
    ]});
    assert_eq!(Expr::from_json(&short).unwrap(), e);
}

#[test]
fn the_json_forms_of_values_and_nodes() {
    let e = parse(
        r#"not (revenue > 500.5 EUR or first_seen < 2026-01-31T10:00:00.25Z + 1w)
           and country not in ["ES", "PT"] and city is set and in_segment("vip")
           and attributes.score <= -0.125 and email_consent and false"#,
    )
    .unwrap();
    let expected = json!({"and": [
        {"not": {"or": [
            {"compare": {"field": "revenue", "op": ">", "value": {"amount": 500.5, "currency": "EUR"}}},
            {"compare": {"field": "first_seen", "op": "<",
                         "value": {"time": "2026-01-31T10:00:00.250Z", "offset": "+1w"}}}
        ]}},
        {"not": {"in": {"field": "country", "values": ["ES", "PT"]}}},
        {"is_set": "city"},
        {"in_segment": "vip"},
        {"compare": {"field": "attributes.score", "op": "<=", "value": -0.125}},
        {"compare": {"field": "email_consent", "op": "=", "value": true}},
        {"const": false}
    ]});
    assert_eq!(e.to_json(), expected);
    assert_eq!(Expr::from_json(&expected).unwrap(), e);
}

#[test]
fn json_errors_name_the_path() {
    let cases = [
        (
            json!({"and": [{"const": true}, {"compare": {"field": "order_count", "op": ">", "value": 1}}]}),
            "and[1].compare.field",
            "did you mean `orders_count`?",
        ),
        (
            json!({"and": [{"const": true}]}),
            "and",
            "needs at least two conditions",
        ),
        (
            json!({"compare": {"field": "country", "op": ">", "value": "ES"}}),
            "compare.op",
            "can only be compared with `=` or `!=`",
        ),
        (
            json!({"or": [{"const": true}, {"in": {"field": "country", "values": ["ES", 1]}}]}),
            "or[1].in.values[1]",
            "type mismatch",
        ),
        (
            json!({"not": {"call": {"function": "viewed", "args": {"within": "0d"}}}}),
            "not.call.args.within",
            "longer than zero",
        ),
        (
            json!({"call": {"function": "viewed", "args": {"query": "x"}}}),
            "call.args.query",
            "`viewed` has no argument `query`",
        ),
        (
            json!({"call": {"function": "bought", "args": {}}}),
            "call.function",
            "`bought` needs",
        ),
        (json!({"xor": []}), ".", "unknown variant `xor`"),
        (
            json!({"compare": {"field": "revenue", "op": ">", "value": {"amount": 5}}}),
            "compare.value",
            "needs `currency`",
        ),
        (
            json!({"compare": {"field": "revenue", "op": ">", "value": {"amount": 5, "currency": "XYZ"}}}),
            "compare.value",
            "unknown currency `XYZ`",
        ),
        (
            json!({"compare": {"field": "last_seen", "op": ">", "value": {"time": "yesterday"}}}),
            "compare.value",
            "not a valid RFC 3339 time",
        ),
        (
            json!({"compare": {"field": "city", "op": "=", "value": null}}),
            "compare.value",
            "is_set",
        ),
        (
            json!({"compare": {"field": "city", "op": "=", "value": "x", "extra": 1}}),
            "compare.extra",
            "unknown field `extra`",
        ),
        (
            json!({"call": {"function": "viewed", "args": {"within": "6m"}}}),
            "call.args.within",
            "ambiguous",
        ),
    ];
    for (tree, path, message) in cases {
        let e = Expr::from_json(&tree).unwrap_err();
        assert!(
            e.path == path && e.message.contains(message),
            "{tree}: got {e}, wanted {path}: …{message}…"
        );
        // The same from text.
        let e2 = Expr::from_json_str(&tree.to_string()).unwrap_err();
        assert_eq!(e2.path, e.path);
    }
    assert!(Expr::from_json_str(r#"{"const": true} x"#).is_err());
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const CHARS: &[char] = &[
    'a', 'Z', '7', ' ', '"', '\\', '\n', '\t', 'é', '€', '\u{1}', '\'', '#', '(', ')', '.', ',',
];

fn text(rng: &mut Rng, min: u64) -> String {
    let len = min + rng.below(6);
    (0..len).map(|_| *rng.pick(CHARS)).collect()
}

fn non_blank(rng: &mut Rng) -> String {
    format!("k{}", text(rng, 0)).replace(|c: char| c.is_control(), "")
}

fn decimal(rng: &mut Rng) -> Decimal {
    let magnitude = [10, 1000, 1_000_000, 1_000_000_000_000][rng.below(4) as usize];
    let m = rng.below(magnitude) as i64;
    let m = if rng.chance(30) { -m } else { m };
    Decimal::new(m, rng.below(5) as u32)
}

fn duration(rng: &mut Rng) -> Duration {
    Duration::new(1 + rng.below(500) as u32, *rng.pick(&DurationUnit::ALL))
}

fn time(rng: &mut Rng) -> TimeValue {
    let base = if rng.chance(50) {
        TimeBase::Now
    } else {
        let start: DateTime<Utc> = "2000-01-01T00:00:00Z".parse().unwrap();
        let micros = rng.below(100 * 365 * 86_400 * 1_000_000) as i64;
        let at = if rng.chance(30) {
            start + TimeDelta::days(micros / 86_400_000_000)
        } else {
            start + TimeDelta::microseconds(micros)
        };
        TimeBase::At(at)
    };
    let offset = rng.chance(60).then(|| TimeOffset {
        sign: if rng.chance(50) {
            Sign::Plus
        } else {
            Sign::Minus
        },
        duration: duration(rng),
    });
    TimeValue { base, offset }
}

fn field(rng: &mut Rng) -> Field {
    if rng.chance(25) {
        let keys = 1 + rng.below(3);
        let pool = ["plan", "and", "a b", "1x", "x.y", "é", "\"q\""];
        return Field::Attribute((0..keys).map(|_| rng.pick(&pool).to_string()).collect());
    }
    let names: Vec<&str> = Field::names().filter(|n| *n != "attributes").collect();
    Field::from_name(rng.pick::<&str>(&names)).unwrap()
}

fn text_for(rng: &mut Rng, field: &Field) -> String {
    match field {
        Field::CustomerType => rng
            .pick(&["consumer", "Business", "government"])
            .to_string(),
        Field::RfmSegment => {
            let g = *rng.pick(&RfmGroup::ALL);
            if rng.chance(50) { g.name() } else { g.key() }.to_string()
        }
        Field::Id => non_blank(rng),
        _ => text(rng, 0),
    }
}

fn value_for(rng: &mut Rng, field: &Field) -> Value {
    match field.kind() {
        FieldKind::Text => Value::Text(text_for(rng, field)),
        FieldKind::Bool => Value::Bool(rng.chance(50)),
        FieldKind::Number => Value::Number(decimal(rng)),
        FieldKind::Money if rng.chance(50) => Value::Number(decimal(rng)),
        FieldKind::Money => Value::Money(MoneyValue {
            amount: decimal(rng),
            currency: *rng.pick(&[
                Currency::EUR,
                Currency::USD,
                Currency::parse("JPY").unwrap(),
                Currency::parse("KWD").unwrap(),
            ]),
        }),
        FieldKind::Time => Value::Time(time(rng)),
        FieldKind::Any => match rng.below(4) {
            0 => Value::Text(text(rng, 0)),
            1 => Value::Number(decimal(rng)),
            2 => Value::Bool(rng.chance(50)),
            _ => Value::Time(time(rng)),
        },
    }
}

fn leaf(rng: &mut Rng) -> Expr {
    match rng.below(6) {
        0 | 1 => {
            let field = field(rng);
            let value = value_for(rng, &field);
            let op = match value {
                Value::Text(_) | Value::Bool(_) => *rng.pick(&[CmpOp::Eq, CmpOp::Ne]),
                _ => *rng.pick(&CmpOp::ALL),
            };
            Expr::Compare(Comparison { field, op, value })
        }
        2 => {
            let field = loop {
                let f = field(rng);
                if matches!(
                    f.kind(),
                    FieldKind::Text | FieldKind::Number | FieldKind::Any
                ) {
                    break f;
                }
            };
            let values = (0..1 + rng.below(3))
                .map(|_| loop {
                    let v = value_for(rng, &field);
                    if !matches!(v, Value::Time(_)) {
                        break v;
                    }
                })
                .collect();
            Expr::InList(InList { field, values })
        }
        3 => {
            let function = *rng.pick(&Function::ALL);
            let mut args = Args::default();
            for arg in function.allowed_args() {
                if !rng.chance(40) {
                    continue;
                }
                match arg {
                    ArgName::Name => args.name = Some(non_blank(rng)),
                    ArgName::Within => args.within = Some(duration(rng)),
                    _ => {}
                }
                let values: Vec<String> = (0..1 + rng.below(3)).map(|_| non_blank(rng)).collect();
                match arg {
                    ArgName::Product => args.product = values,
                    ArgName::Category => args.category = values,
                    ArgName::Brand => args.brand = values,
                    ArgName::Query => args.query = values,
                    ArgName::Device => args.device = values,
                    ArgName::Source => args.source = values,
                    _ => {}
                }
            }
            if function == Function::Event && args.name.is_none() {
                args.name = Some("Checkout Started".into());
            }
            if function == Function::Bought
                && args.product.is_empty()
                && args.category.is_empty()
                && args.brand.is_empty()
            {
                args.category = vec!["Kitchen".into()];
            }
            let mut call = Call::new(function, args);
            if rng.chance(50) {
                call.op = *rng.pick(&CmpOp::ALL);
                call.count = rng.below(12);
            }
            Expr::Call(call)
        }
        4 => {
            if rng.chance(50) {
                Expr::IsSet(field(rng))
            } else {
                Expr::InSegment(non_blank(rng))
            }
        }
        _ => Expr::Const(rng.chance(50)),
    }
}

fn expr(rng: &mut Rng, depth: u32) -> Expr {
    if depth == 0 || rng.chance(35) {
        return leaf(rng);
    }
    match rng.below(3) {
        0 => Expr::And(
            (0..2 + rng.below(3))
                .map(|_| expr(rng, depth - 1))
                .collect(),
        ),
        1 => Expr::Or(
            (0..2 + rng.below(3))
                .map(|_| expr(rng, depth - 1))
                .collect(),
        ),
        _ => Expr::Not(Box::new(expr(rng, depth - 1))),
    }
}

#[test]
fn random_expressions_round_trip_through_text_and_json() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let e = expr(&mut rng, 4);
        validate(&e).unwrap_or_else(|err| panic!("generated an invalid tree: {err}\n{e:?}"));
        let text = e.to_string();
        let parsed = parse(&text).unwrap_or_else(|err| panic!("{}\n{e:?}", err.render(&text)));
        assert_eq!(parsed, e, "{text}");
        assert_eq!(parsed.to_string(), text);
        let json = serde_json::to_string(&e).unwrap();
        let back = Expr::from_json_str(&json).unwrap_or_else(|err| panic!("{err}\n{json}"));
        assert_eq!(back, e, "{json}");
    }
}

const DAMAGE: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "and ",
    " or",
    "not ",
    " in ",
    "is ",
    "7d",
    "-",
    "=",
    ">=",
    "#",
    "now()",
    "2026-01-01",
    "é",
    "\\",
    "1.5",
    " EUR",
    "m",
    "attributes.",
];

fn check_error(source: &str, e: &ParseError) {
    assert!(e.offset <= source.len() && source.is_char_boundary(e.offset));
    let again = ParseError::new(source, e.offset, e.message.clone());
    assert_eq!((again.line, again.column), (e.line, e.column));
    assert!(!e.message.is_empty());
    let rendered = e.render(source);
    assert!(rendered.starts_with(&e.to_string()));
}

#[test]
fn damaged_text_never_panics() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..3000 {
        let mut text = expr(&mut rng, 3).to_string();
        for _ in 0..1 + rng.below(3) {
            let boundaries: Vec<usize> = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .collect();
            let at = *rng.pick(&boundaries);
            match rng.below(3) {
                0 => text.insert_str(at, rng.pick::<&str>(DAMAGE)),
                1 => {
                    let end = *rng.pick(&boundaries);
                    let (a, b) = (at.min(end), at.max(end));
                    if b - a < 12 {
                        text.replace_range(a..b, "");
                    }
                }
                _ => text.truncate(at),
            }
        }
        match parse(&text) {
            Ok(e) => {
                let printed = e.to_string();
                assert_eq!(parse(&printed).unwrap(), e, "{text}");
            }
            Err(e) => check_error(&text, &e),
        }
    }
}
