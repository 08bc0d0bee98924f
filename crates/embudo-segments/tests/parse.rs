//! The text form: the issue's examples, canonical printing, and errors at exact positions.

mod common;

use embudo_core::Currency;
use embudo_segments::{
    parse, Args, Call, CmpOp, Comparison, Decimal, Duration, Expr, Field, Function, MoneyValue,
    TimeValue, Value,
};

fn canonical(source: &str) -> String {
    parse(source)
        .unwrap_or_else(|e| panic!("{}", e.render(source)))
        .to_string()
}

#[track_caller]
fn error(source: &str) -> (usize, usize, String) {
    match parse(source) {
        Ok(e) => panic!("`{source}` parsed as {e:?}"),
        Err(e) => {
            assert_eq!(
                e.to_string(),
                format!("{}:{}: {}", e.line, e.column, e.message)
            );
            (e.line, e.column, e.message)
        }
    }
}

#[test]
fn the_first_example_of_the_issue() {
    let source =
        r#"orders_count >= 2 and last_order_at > now() - 90d and bought(category: "Kitchen")"#;
    let expected = Expr::And(vec![
        Expr::Compare(Comparison {
            field: Field::OrdersCount,
            op: CmpOp::Ge,
            value: Value::Number(Decimal::from_int(2)),
        }),
        Expr::Compare(Comparison {
            field: Field::LastOrderAt,
            op: CmpOp::Gt,
            value: Value::Time(TimeValue::now_minus(Duration::days(90))),
        }),
        Expr::Call(Call::new(
            Function::Bought,
            Args {
                category: vec!["Kitchen".into()],
                ..Args::default()
            },
        )),
    ]);
    assert_eq!(parse(source).unwrap(), expected);
    assert_eq!(expected.to_string(), source);
}

#[test]
fn the_second_example_of_the_issue() {
    let source = r#"viewed(product: "P1", within: 7d) and not ordered(within: 7d)"#;
    let week = Some(Duration::days(7));
    let expected = Expr::And(vec![
        Expr::Call(Call::new(
            Function::Viewed,
            Args {
                product: vec!["P1".into()],
                within: week,
                ..Args::default()
            },
        )),
        Expr::Not(Box::new(Expr::Call(Call::new(
            Function::Ordered,
            Args {
                within: week,
                ..Args::default()
            },
        )))),
    ]);
    assert_eq!(parse(source).unwrap(), expected);
    assert_eq!(expected.to_string(), source);
}

#[test]
fn behaviour_functions_yield_counts() {
    let e = parse(r#"viewed(category: "Shoes", device: "mobile", within: 30d) >= 3"#).unwrap();
    let Expr::Call(call) = e else { panic!() };
    assert_eq!(
        (call.function, call.op, call.count),
        (Function::Viewed, CmpOp::Ge, 3)
    );
    assert_eq!(call.args.device, vec!["mobile".to_string()]);
    // A bare call is `>= 1`, and prints bare.
    assert_eq!(canonical("viewed() >= 1"), "viewed()");
    assert_eq!(
        canonical("searched(query: \"red\") = 0"),
        "searched(query: \"red\") = 0"
    );
}

#[test]
fn money_literals_keep_their_currency() {
    let e = parse("revenue > 500.50 eur").unwrap();
    let Expr::Compare(c) = e else { panic!() };
    let Value::Money(m) = c.value else { panic!() };
    assert_eq!(
        m,
        MoneyValue {
            amount: Decimal::parse("500.5").unwrap(),
            currency: Currency::EUR
        }
    );
    assert_eq!(m.to_money().unwrap().amount, 50050);
    let jpy = Currency::parse("JPY").unwrap();
    let m = MoneyValue {
        amount: Decimal::parse("1200").unwrap(),
        currency: jpy,
    };
    assert_eq!(m.to_money().unwrap().amount, 1200);
    // A plain number is in the shop's default currency, decided when evaluating.
    let Expr::Compare(c) = parse("revenue > 500").unwrap() else {
        panic!()
    };
    assert_eq!(c.value, Value::Number(Decimal::from_int(500)));
}

#[test]
fn canonical_text() {
    let cases = [
        // Keywords in any case, extra spaces and comments go; values are normalised.
        (
            "NOT (country = \"ES\"   OR city = \"Lyon\") # a comment",
            "not (country = \"ES\" or city = \"Lyon\")",
        ),
        ("email_consent", "email_consent = true"),
        ("attributes.vip", "attributes.vip = true"),
        ("not email_consent", "not email_consent = true"),
        ("revenue > 500.00 eur", "revenue > 500 EUR"),
        (
            "country not in [\"ES\", \"PT\",]",
            "country not in [\"ES\", \"PT\"]",
        ),
        ("city is not set", "city is not set"),
        ("not (city is set)", "city is not set"),
        (
            "attributes.\"signup source\" = \"ads\"",
            "attributes.\"signup source\" = \"ads\"",
        ),
        ("attributes.\"plan\" = \"pro\"", "attributes.plan = \"pro\""),
        ("attributes.a.b >= -2.50", "attributes.a.b >= -2.5"),
        (
            "last_order_at > 2026-01-31T10:00:00+02:00",
            "last_order_at > 2026-01-31T08:00:00Z",
        ),
        (
            "first_seen < 2026-01-01T00:00:00Z",
            "first_seen < 2026-01-01",
        ),
        (
            "first_seen < 2026-01-01 + 2w",
            "first_seen < 2026-01-01 + 2w",
        ),
        ("last_seen >= now()-12h", "last_seen >= now() - 12h"),
        (
            "bought(within: 30d, brand: [\"Acme\", \"Zeta\"], product: \"P1\") > 2",
            "bought(product: \"P1\", brand: [\"Acme\", \"Zeta\"], within: 30d) > 2",
        ),
        ("a_b_c_not_a_field is set", ""),
        (
            "in_segment(\"vip\") and not in_segment(\"churned\")",
            "in_segment(\"vip\") and not in_segment(\"churned\")",
        ),
        ("true", "true"),
        (
            "(orders_count > 1 and orders_count < 5) and true",
            "(orders_count > 1 and orders_count < 5) and true",
        ),
        (
            "orders_count > 1 and (orders_count < 5 and true)",
            "orders_count > 1 and (orders_count < 5 and true)",
        ),
        (
            "orders_count > 1 or orders_count < 5 and true",
            "orders_count > 1 or orders_count < 5 and true",
        ),
        (
            "(orders_count > 1 or orders_count < 5) and true",
            "(orders_count > 1 or orders_count < 5) and true",
        ),
        ("((((orders_count > 1))))", "orders_count > 1"),
        (
            "rfm_segment = \"can't lose them\"",
            "rfm_segment = \"can't lose them\"",
        ),
        (
            "country = \"a\\\"b\\\\c\\n\\u{1}\"",
            "country = \"a\\\"b\\\\c\\n\\u{1}\"",
        ),
        (
            "event(name: \"Checkout Started\", within: 3d)",
            "event(name: \"Checkout Started\", within: 3d)",
        ),
        (
            "opened_email(within: 30min) and clicked_email()",
            "opened_email(within: 30min) and clicked_email()",
        ),
        ("churn_risk > 0.7 and p_alive <= .5e0", ""),
    ];
    for (source, expected) in cases {
        if expected.is_empty() {
            assert!(parse(source).is_err(), "{source}");
            continue;
        }
        assert_eq!(canonical(source), expected, "{source}");
        // The canonical text is a fixed point.
        assert_eq!(canonical(expected), expected);
        assert_eq!(parse(expected).unwrap(), parse(source).unwrap());
    }
}

#[test]
fn the_example_error_of_the_brief() {
    assert_eq!(
        parse("orders_count >= ").unwrap_err().to_string(),
        "1:17: expected a value after `>=`"
    );
    assert_eq!(
        parse("orders_count >= and x").unwrap_err().to_string(),
        "1:17: expected a value after `>=`"
    );
    let source = "orders_count >= 2 and\n  revenue >";
    let e = parse(source).unwrap_err();
    assert_eq!(e.to_string(), "2:12: expected a value after `>`");
    assert_eq!(e.offset, source.len());
    assert_eq!(
        e.render(source),
        "2:12: expected a value after `>`\n  |\n2 |   revenue >\n  |            ^"
    );
}

#[test]
fn unknown_names_get_suggestions() {
    assert_eq!(
        error("order_count >= 2"),
        (
            1,
            1,
            "unknown field `order_count`; did you mean `orders_count`?".into()
        )
    );
    assert_eq!(
        error("orders_count >= 2 and revenu > 5"),
        (
            1,
            23,
            "unknown field `revenu`; did you mean `revenue`?".into()
        )
    );
    assert_eq!(
        error("plan = \"pro\""),
        (
            1,
            1,
            "unknown field `plan` (custom attributes are written `attributes.plan`)".into()
        )
    );
    assert_eq!(
        error("boughtt(category: \"Kitchen\")"),
        (
            1,
            1,
            "unknown function `boughtt`; did you mean `bought`?".into()
        )
    );
    assert_eq!(
        error("viewed(produc: \"P1\")"),
        (
            1,
            8,
            "`viewed` has no argument `produc`; it takes product, category, brand, device, \
             source, within; did you mean `product`?"
                .into()
        )
    );
    assert_eq!(
        error("customer_type = \"bussiness\""),
        (
            1,
            17,
            "`bussiness` is not a customer type (consumer, business or government); did you \
             mean `business`?"
                .into()
        )
    );
    let (_, col, msg) = error("rfm_segment = \"Champion\"");
    assert_eq!(col, 15);
    assert!(msg.ends_with("did you mean `Champions`?"), "{msg}");
    let (_, col, msg) = error("bought category = 1");
    assert_eq!(col, 1);
    assert_eq!(
        msg,
        "`bought` is a function; call it with its arguments: `bought(…)`"
    );
}

#[test]
fn type_and_argument_errors_point_at_the_culprit() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("country = 5", 1, 11, "type mismatch: `country` is text, but the value is a number"),
        ("country > \"ES\"", 1, 9, "text can only be compared with `=` or `!=` (or `in`), not `>`"),
        ("orders_count >= \"2\"", 1, 17, "type mismatch: `orders_count` is a number, but the value is text"),
        ("orders_count >= 2 EUR", 1, 17, "only amounts of money take a currency"),
        ("last_order_at > 5", 1, 17, "type mismatch: `last_order_at` is a time"),
        ("last_order_at > 90d", 1, 17, "`90d` is a duration, not a value; for a time write `now() - 90d`"),
        ("last_order_at > now() - 6m", 1, 25, "`6m` is ambiguous: write `6min` for minutes, or days for months (`180d`)"),
        ("last_order_at > now() - 90", 1, 25, "expected a duration after `-`"),
        ("email_consent = \"yes\"", 1, 17, "type mismatch: `email_consent` is true/false"),
        ("email_consent < true", 1, 15, "can only be compared with `=` or `!=`"),
        ("country = Spain", 1, 11, "expected a value after `=`; text is written in double quotes: \"Spain\""),
        ("country", 1, 8, "expected a comparison after `country`"),
        ("revenue > 5 XYZ", 1, 13, "unknown currency `XYZ`"),
        ("revenue in [1, 2]", 1, 1, "`revenue` is an amount of money; `in` works with text and numbers only"),
        ("country in []", 1, 13, "the list is empty"),
        ("country in [\"ES\", 3]", 1, 19, "type mismatch: `country` is text, but the value is a number"),
        ("attributes.plan = 5 EUR", 1, 19, "custom attributes are compared with plain numbers"),
        ("attributes = 1", 1, 1, "write the attribute's name after `attributes.`"),
        ("bought(category: \"Kitchen\", count >= 2)", 1, 29, "`bought` has no argument `count`; compare the call with the number instead: `bought(…) >= 2`"),
        ("bought(within: 7d)", 1, 1, "`bought` needs `product:`, `category:` or `brand:`"),
        ("ordered(category: \"Shoes\")", 1, 9, "use `bought(…)`"),
        ("viewed(within: \"7d\")", 1, 16, "`within:` takes a duration such as `7d`"),
        ("viewed(within: 0d)", 1, 16, "`within:` must be longer than zero"),
        ("viewed(within: 7d, within: 8d)", 1, 20, "`within:` is given twice"),
        ("viewed(\"P1\")", 1, 8, "arguments are named"),
        ("viewed(product \"P1\")", 1, 16, "expected `:` after `product`"),
        ("viewed(product: []) ", 1, 18, "the list is empty"),
        ("viewed(product: \"P1\") >= 2.5", 1, 26, "expected a whole number after `>=`"),
        ("event(within: 1d)", 1, 1, "`event` needs the event's name"),
        ("searched(product: \"P1\")", 1, 10, "`searched` has no argument `product`"),
        ("in_segment(vip)", 1, 12, "`in_segment` takes a segment key in double quotes"),
        ("in_segment(\" \")", 1, 12, "a segment key is not empty"),
        ("now() > last_order_at", 1, 1, "`now()` is a value, not a condition"),
        ("orders_count(within: 1d)", 1, 1, "`orders_count` is a field, not a function"),
        ("(orders_count >= 2", 1, 19, "expected `and`, `or` or `)` to close the `(` at 1:1, found the end of the expression"),
        ("orders_count >= 2)", 1, 18, "this `)` has no matching `(`"),
        ("orders_count >= 2 orders_count < 3", 1, 19, "expected `and`, `or` or the end of the expression, found `orders_count`"),
        ("email_consent and", 1, 18, "expected a condition after `and`"),
        ("email_consent and or", 1, 19, "expected a condition after `and`, found `or`"),
        ("not", 1, 4, "expected a condition after `not`"),
        ("", 1, 1, "the expression is empty"),
        ("  # only a comment", 1, 19, "the expression is empty"),
        ("orders_count == 2", 1, 14, "write `=` to compare, not `==`"),
        ("orders_count >= 2 && email_consent", 1, 19, "write `and` to combine conditions"),
        ("country = 'ES'", 1, 11, "text is written in double quotes"),
        ("country = \"ES", 1, 11, "this text has no closing `\"`"),
        ("country = \"\\q\"", 1, 12, "unknown escape"),
        ("first_seen > 2026-02-30", 1, 14, "`2026-02-30` is not a valid date"),
        ("first_seen > 2026-02-01T10:00", 1, 14, "needs a time zone"),
        ("orders_count > 1234567890123456", 1, 16, "more than 15 significant digits"),
        ("city is set set", 1, 13, "expected `and`, `or` or the end of the expression, found `set`"),
        ("city is nothing", 1, 9, "expected `set` after `is`"),
        ("city not like \"x\"", 1, 10, "expected `in` after `not`"),
        ("revenue > 5EUR", 1, 11, "for money write a space: `5 EUR`"),
        ("viewed(within: 1.5d)", 1, 16, "a duration is a whole number"),
        ("country = \"ES\" and\n\tcitty = \"Lyon\"", 2, 2, "unknown field `citty`; did you mean `city`?"),
    ];
    for (source, line, column, message) in cases {
        let (l, c, m) = error(source);
        assert!(
            (l, c) == (*line, *column) && m.contains(message),
            "`{source}`: got {l}:{c}: {m}\nwanted {line}:{column}: …{message}…"
        );
    }
}

#[test]
fn nesting_is_limited() {
    let deep = format!("{}email_consent", "not ".repeat(64));
    assert!(parse(&deep).is_ok());
    let too_deep = format!("{}email_consent", "not ".repeat(65));
    let (_, _, m) = error(&too_deep);
    assert!(m.contains("nested more than 64 levels"), "{m}");
    let parens = |n: usize| format!("{}email_consent{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&parens(100)).is_ok());
    let nested = |n: usize| {
        format!(
            "{}email_consent{}",
            "(email_consent or not ".repeat(n),
            ")".repeat(n)
        )
    };
    assert!(parse(&nested(32)).is_ok());
    let (_, _, m) = error(&parens(101));
    assert!(m.contains("nested too deeply"), "{m}");
    let (_, _, m) = error(&parens(20_000));
    assert!(m.contains("nested too deeply"), "{m}");
    let long = "email_consent or ".repeat(10_000) + "email_consent";
    let (_, _, m) = error(&long);
    assert!(m.contains("longer than"), "{m}");
}

#[test]
fn fields_in_json_are_written_like_in_text() {
    let f: Field = serde_json::from_str("\"attributes.\\\"a b\\\".c\"").unwrap();
    assert_eq!(f, Field::Attribute(vec!["a b".into(), "c".into()]));
    assert_eq!(
        serde_json::to_string(&f).unwrap(),
        "\"attributes.\\\"a b\\\".c\""
    );
    let e = serde_json::from_str::<Field>("\"order_count\"").unwrap_err();
    assert!(
        e.to_string().contains("did you mean `orders_count`?"),
        "{e}"
    );
}
