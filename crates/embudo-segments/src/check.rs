//! The rules both the parser and the JSON tree validation apply: value types, operators,
//! arguments, known names; and "did you mean" suggestions.

use crate::ast::{ArgName, Call, Comparison, Expr, Field, FieldKind, Function, InList, Value};
use crate::error::TreeError;
use crate::rfm::RfmGroup;
use embudo_core::CustomerType;

/// The deepest nesting of `and`, `or` and `not` accepted.
pub const MAX_DEPTH: usize = 64;

/// Which part of a node a problem is about (the parser turns it into a position, the tree
/// validation into a path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    Field,
    Op,
    Value,
    Item(usize),
    Arg(ArgName),
    Function,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub at: At,
    pub message: String,
}

fn problem<T>(at: At, message: impl Into<String>) -> Result<T, Problem> {
    Err(Problem {
        at,
        message: message.into(),
    })
}

/// Levenshtein distance, in characters, ignoring ASCII case.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// The candidate closest to `word`, if close enough to be a likely typo.
pub(crate) fn suggest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= limit && *d < c.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `; did you mean `x`?` or nothing.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    suggest(word, candidates)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

fn customer_types() -> [&'static str; 3] {
    [
        CustomerType::Consumer.as_str(),
        CustomerType::Business.as_str(),
        CustomerType::Government.as_str(),
    ]
}

/// Checks a text value for the fields with a closed set of values.
fn check_text_value(field: &Field, value: &Value, at: At) -> Result<(), Problem> {
    let Value::Text(text) = value else {
        return Ok(());
    };
    match field {
        Field::CustomerType if CustomerType::parse(&text.to_lowercase()).is_none() => problem(
            at,
            format!(
                "`{text}` is not a customer type (consumer, business or government){}",
                did_you_mean(text, customer_types())
            ),
        ),
        Field::RfmSegment if RfmGroup::parse(text).is_none() => problem(
            at,
            format!(
                "`{text}` is not an RFM group ({}){}",
                RfmGroup::ALL.map(|g| g.name()).join(", "),
                did_you_mean(text, RfmGroup::ALL.map(|g| g.name()))
            ),
        ),
        Field::Id if text.is_empty() => problem(at, "a customer id is not empty"),
        _ => Ok(()),
    }
}

fn mismatch(field: &Field, value: &Value) -> String {
    let hint = match field.kind() {
        FieldKind::Text => format!(" (write text in double quotes: `{field} = \"…\"`)"),
        FieldKind::Time => format!(
            " (compare it with a date `2026-01-31`, a time `2026-01-31T10:00:00Z` or \
             `now() - 30d`: `{field} > now() - 30d`)"
        ),
        FieldKind::Bool => format!(" (`{field} = true` or `{field} = false`)"),
        FieldKind::Number if matches!(value, Value::Money(_)) => {
            " (only amounts of money take a currency)".to_string()
        }
        FieldKind::Any if matches!(value, Value::Money(_)) => {
            " (custom attributes are compared with plain numbers, without a currency)".into()
        }
        _ => String::new(),
    };
    format!(
        "type mismatch: `{field}` is {}, but the value is {}{hint}",
        field.kind().describe(),
        value.describe()
    )
}

pub(crate) fn check_comparison(c: &Comparison) -> Result<(), Problem> {
    let kind = c.field.kind();
    let fits = match (kind, &c.value) {
        (FieldKind::Text, Value::Text(_)) => true,
        (FieldKind::Bool, Value::Bool(_)) => true,
        (FieldKind::Number, Value::Number(_)) => true,
        (FieldKind::Money, Value::Number(_) | Value::Money(_)) => true,
        (FieldKind::Time, Value::Time(_)) => true,
        (FieldKind::Any, Value::Money(_)) => false,
        (FieldKind::Any, _) => true,
        _ => false,
    };
    if !fits {
        return problem(At::Value, mismatch(&c.field, &c.value));
    }
    if matches!(c.value, Value::Text(_) | Value::Bool(_)) && !c.op.is_equality() {
        return problem(
            At::Op,
            format!(
                "{} can only be compared with `=` or `!=` (or `in`), not `{}`",
                c.value.describe(),
                c.op
            ),
        );
    }
    check_text_value(&c.field, &c.value, At::Value)
}

pub(crate) fn check_in_list(list: &InList) -> Result<(), Problem> {
    let kind = list.field.kind();
    if !matches!(kind, FieldKind::Text | FieldKind::Number | FieldKind::Any) {
        return problem(
            At::Field,
            format!(
                "`{}` is {}; `in` works with text and numbers only (use comparisons)",
                list.field,
                kind.describe()
            ),
        );
    }
    if list.values.is_empty() {
        return problem(At::Field, "the list of values is empty");
    }
    for (i, value) in list.values.iter().enumerate() {
        let fits = matches!(
            (kind, value),
            (FieldKind::Text, Value::Text(_))
                | (FieldKind::Number, Value::Number(_))
                | (
                    FieldKind::Any,
                    Value::Text(_) | Value::Number(_) | Value::Bool(_)
                )
        );
        if !fits {
            let message = if matches!(kind, FieldKind::Any) {
                format!(
                    "a list after `in` holds text, numbers or true/false, not {}",
                    value.describe()
                )
            } else {
                mismatch(&list.field, value)
            };
            return problem(At::Item(i), message);
        }
        check_text_value(&list.field, value, At::Item(i))?;
    }
    Ok(())
}

pub(crate) fn check_attribute_path(path: &[String]) -> Result<(), String> {
    if path.is_empty() {
        return Err("write the attribute's name after `attributes.` (`attributes.plan`)".into());
    }
    if path.iter().any(String::is_empty) {
        return Err("an attribute name is not empty".into());
    }
    Ok(())
}

pub(crate) fn check_call(call: &Call) -> Result<(), Problem> {
    let f = call.function;
    for arg in ArgName::ALL {
        if call.args.has(arg) && !f.allowed_args().contains(&arg) {
            return problem(At::Arg(arg), unknown_arg_message(f, arg.name()));
        }
        if call.args.list(arg).iter().any(String::is_empty) {
            return problem(At::Arg(arg), format!("`{arg}:` values are not empty"));
        }
    }
    if let Some(within) = call.args.within {
        if within.amount == 0 {
            return problem(
                At::Arg(ArgName::Within),
                "`within:` must be longer than zero",
            );
        }
    }
    match f {
        Function::Event => match &call.args.name {
            None => {
                return problem(
                    At::Function,
                    "`event` needs the event's name: `event(name: \"Checkout Started\")`",
                )
            }
            Some(name) if name.is_empty() => {
                return problem(At::Arg(ArgName::Name), "the event name is not empty")
            }
            _ => {}
        },
        Function::Bought
            if !call.args.has(ArgName::Product)
                && !call.args.has(ArgName::Category)
                && !call.args.has(ArgName::Brand) =>
        {
            return problem(
                At::Function,
                "`bought` needs `product:`, `category:` or `brand:` (for any order, use \
                 `ordered(…)`)",
            )
        }
        _ => {}
    }
    Ok(())
}

pub(crate) fn unknown_arg_message(f: Function, arg: &str) -> String {
    let allowed: Vec<&str> = f.allowed_args().iter().map(|a| a.name()).collect();
    let takes = format!("it takes {}", allowed.join(", "));
    if arg == "count" || arg == "times" || arg == "min" {
        return format!(
            "`{f}` has no argument `{arg}`; compare the call with the number instead: \
             `{f}(…) >= 2`"
        );
    }
    let hint = match (f, arg) {
        (Function::Ordered, "product" | "category" | "brand") => {
            " (use `bought(…)` to look at what was in the orders)".to_string()
        }
        _ => did_you_mean(arg, allowed.iter().copied()),
    };
    format!("`{f}` has no argument `{arg}`; {takes}{hint}")
}

pub(crate) fn check_segment_key(key: &str) -> Result<(), String> {
    if key.trim().is_empty() {
        return Err("a segment key is not empty".into());
    }
    if key.chars().any(char::is_control) {
        return Err("a segment key has no control characters".into());
    }
    Ok(())
}

/// The nesting depth of `and`, `or` and `not` (0 for a single condition).
pub(crate) fn depth(expr: &Expr) -> usize {
    match expr {
        Expr::And(items) | Expr::Or(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Expr::Not(inner) => 1 + depth(inner),
        _ => 0,
    }
}

fn at_path(base: &str, at: At) -> String {
    match at {
        At::Field => format!("{base}.field"),
        At::Op => format!("{base}.op"),
        At::Value => format!("{base}.value"),
        At::Item(i) => format!("{base}.values[{i}]"),
        At::Arg(arg) => format!("{base}.args.{arg}"),
        At::Function => format!("{base}.function"),
    }
}

/// Checks a tree built in code or read from JSON with the rules the parser applies.
pub fn validate(expr: &Expr) -> Result<(), TreeError> {
    if depth(expr) > MAX_DEPTH {
        return Err(TreeError {
            path: ".".into(),
            message: format!("the expression is nested more than {MAX_DEPTH} levels deep"),
        });
    }
    validate_at(expr, "")
}

fn validate_at(expr: &Expr, path: &str) -> Result<(), TreeError> {
    let fail = |path: String, message: String| {
        Err(TreeError {
            path: if path.is_empty() { ".".into() } else { path },
            message,
        })
    };
    let base = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    match expr {
        Expr::And(items) | Expr::Or(items) => {
            let name = if matches!(expr, Expr::And(_)) {
                "and"
            } else {
                "or"
            };
            if items.len() < 2 {
                return fail(
                    base(name),
                    format!("`{name}` needs at least two conditions"),
                );
            }
            for (i, item) in items.iter().enumerate() {
                validate_at(item, &format!("{}[{i}]", base(name)))?;
            }
            Ok(())
        }
        Expr::Not(inner) => validate_at(inner, &base("not")),
        Expr::Const(_) => Ok(()),
        Expr::Compare(c) => {
            let here = base("compare");
            if let Field::Attribute(p) = &c.field {
                if let Err(m) = check_attribute_path(p) {
                    return fail(format!("{here}.field"), m);
                }
            }
            check_comparison(c).or_else(|p| fail(at_path(&here, p.at), p.message))
        }
        Expr::InList(list) => {
            let here = base("in");
            if let Field::Attribute(p) = &list.field {
                if let Err(m) = check_attribute_path(p) {
                    return fail(format!("{here}.field"), m);
                }
            }
            check_in_list(list).or_else(|p| fail(at_path(&here, p.at), p.message))
        }
        Expr::IsSet(field) => match field {
            Field::Attribute(p) => check_attribute_path(p).or_else(|m| fail(base("is_set"), m)),
            _ => Ok(()),
        },
        Expr::Call(call) => {
            let here = base("call");
            check_call(call).or_else(|p| fail(at_path(&here, p.at), p.message))
        }
        Expr::InSegment(key) => check_segment_key(key).or_else(|m| fail(base("in_segment"), m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let fields: Vec<&str> = Field::names().collect();
        assert_eq!(
            suggest("order_count", fields.iter().copied()),
            Some("orders_count")
        );
        assert_eq!(suggest("Country", fields.iter().copied()), Some("country"));
        assert_eq!(suggest("revenu", fields.iter().copied()), Some("revenue"));
        assert_eq!(suggest("zzz", fields.iter().copied()), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
