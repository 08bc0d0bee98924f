//! Prints an [`Expr`] as canonical text that parses back to the same tree.

use crate::ast::{format_time, write_quoted, ArgName, Call, Expr, TimeBase, Value};
use std::fmt::{self, Write};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    InAnd,
    InOr,
    InNot,
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self, Place::Top)
    }
}

fn write_expr(f: &mut fmt::Formatter<'_>, expr: &Expr, place: Place) -> fmt::Result {
    match expr {
        Expr::And(items) | Expr::Or(items) => {
            let is_and = matches!(expr, Expr::And(_));
            // Parentheses keep nested groups as they are in the tree, so printing and
            // parsing again gives the same tree.
            let parens = match place {
                Place::Top => false,
                Place::InOr => !is_and,
                Place::InAnd | Place::InNot => true,
            };
            if parens {
                f.write_char('(')?;
            }
            let (sep, inner) = if is_and {
                (" and ", Place::InAnd)
            } else {
                (" or ", Place::InOr)
            };
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write_expr(f, item, inner)?;
            }
            if parens {
                f.write_char(')')?;
            }
            Ok(())
        }
        Expr::Not(inner) => match inner.as_ref() {
            Expr::InList(list) => {
                write!(f, "{} not in ", list.field)?;
                write_list(f, &list.values)
            }
            Expr::IsSet(field) => write!(f, "{field} is not set"),
            other => {
                f.write_str("not ")?;
                write_expr(f, other, Place::InNot)
            }
        },
        Expr::Const(b) => write!(f, "{b}"),
        Expr::Compare(c) => {
            write!(f, "{} {} ", c.field, c.op)?;
            write_value(f, &c.value)
        }
        Expr::InList(list) => {
            write!(f, "{} in ", list.field)?;
            write_list(f, &list.values)
        }
        Expr::IsSet(field) => write!(f, "{field} is set"),
        Expr::Call(call) => write_call(f, call),
        Expr::InSegment(key) => {
            f.write_str("in_segment(")?;
            write_quoted(f, key)?;
            f.write_char(')')
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, values: &[Value]) -> fmt::Result {
    f.write_char('[')?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_value(f, v)?;
    }
    f.write_char(']')
}

fn write_texts(f: &mut fmt::Formatter<'_>, values: &[String]) -> fmt::Result {
    if let [one] = values {
        return write_quoted(f, one);
    }
    f.write_char('[')?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_quoted(f, v)?;
    }
    f.write_char(']')
}

pub(crate) fn write_value(f: &mut impl Write, value: &Value) -> fmt::Result {
    match value {
        Value::Text(text) => write_quoted(f, text),
        Value::Number(d) => write!(f, "{d}"),
        Value::Money(m) => write!(f, "{} {}", m.amount, m.currency),
        Value::Bool(b) => write!(f, "{b}"),
        Value::Time(t) => {
            match t.base {
                TimeBase::Now => f.write_str("now()")?,
                TimeBase::At(at) => f.write_str(&format_time(at))?,
            }
            if let Some(offset) = &t.offset {
                let text = offset.to_string();
                let (sign, duration) = text.split_at(1);
                write!(f, " {sign} {duration}")?;
            }
            Ok(())
        }
    }
}

fn write_call(f: &mut fmt::Formatter<'_>, call: &Call) -> fmt::Result {
    write!(f, "{}(", call.function)?;
    let mut first = true;
    for arg in ArgName::ALL {
        if !call.args.has(arg) {
            continue;
        }
        if !first {
            f.write_str(", ")?;
        }
        first = false;
        write!(f, "{arg}: ")?;
        match arg {
            ArgName::Name => write_quoted(f, call.args.name.as_deref().unwrap_or_default())?,
            ArgName::Within => {
                if let Some(d) = &call.args.within {
                    write!(f, "{d}")?;
                }
            }
            list => write_texts(f, call.args.list(list))?,
        }
    }
    f.write_char(')')?;
    if !call.is_bare() {
        write!(f, " {} {}", call.op, call.count)?;
    }
    Ok(())
}
