//! A recursive-descent parser from text to a checked [`Expr`].

use crate::ast::{
    ArgName, Args, Call, CmpOp, Comparison, Decimal, Expr, Field, FieldKind, Function, InList,
    MoneyValue, Sign, TimeBase, TimeOffset, TimeValue, Value,
};
use crate::check::{
    check_attribute_path, check_call, check_comparison, check_in_list, check_segment_key,
    did_you_mean, unknown_arg_message, At, Problem, MAX_DEPTH,
};
use crate::lexer::{lex, Tok, Token};
use crate::ParseError;
use embudo_core::Currency;

/// How deep parentheses and `not` may nest while reading (the tree's own limit is
/// [`MAX_DEPTH`]; this only keeps the reader's recursion bounded).
const MAX_NESTING: usize = 100;

const KEYWORDS: &[&str] = &["and", "or", "not", "in", "is", "set", "true", "false"];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

fn is_kw(token: &Token, keyword: &str) -> bool {
    matches!(&token.kind, Tok::Ident(w) if w.eq_ignore_ascii_case(keyword))
}

/// Parses and checks a segment expression.
///
/// ```
/// let expr = embudo_segments::parse(
///     r#"orders_count >= 2 and last_order_at > now() - 90d and bought(category: "Kitchen")"#,
/// ).unwrap();
/// assert_eq!(
///     expr.to_string(),
///     r#"orders_count >= 2 and last_order_at > now() - 90d and bought(category: "Kitchen")"#
/// );
/// let error = embudo_segments::parse("orders_count >= ").unwrap_err();
/// assert_eq!(error.to_string(), "1:17: expected a value after `>=`");
/// ```
pub fn parse(source: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(source)?;
    if matches!(p.peek().kind, Tok::Eof) {
        return Err(p.err(source.len(), "the expression is empty"));
    }
    let (expr, _) = p.or()?;
    let t = p.peek().clone();
    match t.kind {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(p.err(t.start, "this `)` has no matching `(`")),
        _ => Err(p.err(
            t.start,
            format!(
                "expected `and`, `or` or the end of the expression, found {}",
                p.describe(&t)
            ),
        )),
    }
}

/// Parses a field reference alone (`orders_count`, `attributes.plan`), as in the JSON tree.
pub(crate) fn parse_field(source: &str) -> Result<Field, ParseError> {
    let mut p = Parser::new(source)?;
    let t = p.bump();
    let Tok::Ident(name) = &t.kind else {
        return Err(p.err(t.start, "expected a field name"));
    };
    let (field, _) = p.field_ref(name, &t)?;
    let rest = p.peek().clone();
    if !matches!(rest.kind, Tok::Eof) {
        return Err(p.err(
            rest.start,
            format!("unexpected {} after the field", p.describe(&rest)),
        ));
    }
    Ok(field)
}

type Span = (usize, usize);

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    nesting: usize,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Result<Self, ParseError> {
        Ok(Self {
            src,
            toks: lex(src)?,
            pos: 0,
            nesting: 0,
        })
    }

    fn peek(&self) -> &Token {
        &self.toks[self.pos]
    }

    fn peek2(&self) -> &Token {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn prev(&self) -> Option<&Token> {
        self.pos.checked_sub(1).map(|i| &self.toks[i])
    }

    fn err(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.src, at, message)
    }

    fn text(&self, t: &Token) -> &'s str {
        &self.src[t.start..t.end]
    }

    fn describe(&self, t: &Token) -> String {
        if matches!(t.kind, Tok::Eof) {
            return "the end of the expression".into();
        }
        let text = self.text(t);
        if text.chars().count() > 30 {
            let short: String = text.chars().take(30).collect();
            format!("`{short}…`")
        } else {
            format!("`{text}`")
        }
    }

    fn problem(&self, p: Problem, span_of: impl Fn(At) -> usize) -> ParseError {
        self.err(span_of(p.at), p.message)
    }

    fn group(&self, expr: Expr, depth: usize, start: usize) -> Result<(Expr, usize), ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err(
                start,
                format!("the expression is nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok((expr, depth))
    }

    fn or(&mut self) -> Result<(Expr, usize), ParseError> {
        let start = self.peek().start;
        let (first, mut depth) = self.and()?;
        let mut items = vec![first];
        while is_kw(self.peek(), "or") {
            self.bump();
            let (item, d) = self.and()?;
            depth = depth.max(d);
            items.push(item);
        }
        if items.len() == 1 {
            Ok((items.remove(0), depth))
        } else {
            self.group(Expr::Or(items), depth + 1, start)
        }
    }

    fn and(&mut self) -> Result<(Expr, usize), ParseError> {
        let start = self.peek().start;
        let (first, mut depth) = self.primary()?;
        let mut items = vec![first];
        while is_kw(self.peek(), "and") {
            self.bump();
            let (item, d) = self.primary()?;
            depth = depth.max(d);
            items.push(item);
        }
        if items.len() == 1 {
            Ok((items.remove(0), depth))
        } else {
            self.group(Expr::And(items), depth + 1, start)
        }
    }

    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.err(at, "the expression is nested too deeply"));
        }
        Ok(())
    }

    fn expected_condition(&self) -> ParseError {
        let t = self.peek();
        let after = self
            .prev()
            .map(|p| format!(" after `{}`", self.text(p)))
            .unwrap_or_default();
        let found = if matches!(t.kind, Tok::Eof) {
            String::new()
        } else {
            format!(", found {}", self.describe(t))
        };
        self.err(t.start, format!("expected a condition{after}{found}"))
    }

    fn primary(&mut self) -> Result<(Expr, usize), ParseError> {
        let t = self.peek().clone();
        match &t.kind {
            Tok::LParen => {
                self.bump();
                self.enter(t.start)?;
                let inner = self.or()?;
                self.nesting -= 1;
                let close = self.peek().clone();
                if !matches!(close.kind, Tok::RParen) {
                    let open = ParseError::new(self.src, t.start, "");
                    return Err(self.err(
                        close.start,
                        format!(
                            "expected `and`, `or` or `)` to close the `(` at {}:{}, found {}",
                            open.line,
                            open.column,
                            self.describe(&close)
                        ),
                    ));
                }
                self.bump();
                Ok(inner)
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("not") => {
                self.bump();
                self.enter(t.start)?;
                if matches!(self.peek().kind, Tok::Eof) || is_kw(self.peek(), "and") {
                    return Err(self.expected_condition());
                }
                let (inner, depth) = self.primary()?;
                self.nesting -= 1;
                self.group(Expr::Not(Box::new(inner)), depth + 1, t.start)
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") => {
                self.bump();
                Ok((Expr::Const(true), 0))
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("false") => {
                self.bump();
                Ok((Expr::Const(false), 0))
            }
            Tok::Ident(w) if is_keyword(w) => Err(self.expected_condition()),
            Tok::Ident(name) => {
                self.bump();
                if matches!(self.peek().kind, Tok::LParen) {
                    self.call(name, &t).map(|e| (e, 0))
                } else {
                    self.field_condition(name, &t)
                }
            }
            _ => Err(self.expected_condition()),
        }
    }

    fn field_ref(&mut self, name: &str, tok: &Token) -> Result<(Field, Span), ParseError> {
        if name == "attributes" {
            let mut path = Vec::new();
            let mut end = tok.end;
            while matches!(self.peek().kind, Tok::Dot) {
                self.bump();
                let t = self.peek().clone();
                match &t.kind {
                    Tok::Ident(key) | Tok::Str(key) => path.push(key.clone()),
                    _ => {
                        return Err(self.err(
                            t.start,
                            "expected an attribute name after `.` (`attributes.plan` or \
                             `attributes.\"signup source\"`)",
                        ))
                    }
                }
                self.bump();
                end = t.end;
            }
            if let Err(m) = check_attribute_path(&path) {
                let at = if path.is_empty() { tok.start } else { end };
                return Err(self.err(at, m));
            }
            return Ok((Field::Attribute(path), (tok.start, end)));
        }
        if let Some(field) = Field::from_name(name) {
            return Ok((field, (tok.start, tok.end)));
        }
        let message = if Function::from_name(name).is_some() {
            format!("`{name}` is a function; call it with its arguments: `{name}(…)`")
        } else if name == "in_segment" {
            "`in_segment` needs the segment's key: `in_segment(\"vip\")`".to_string()
        } else if name == "now" {
            "`now()` is a value, not a condition; compare a time with it: \
             `last_order_at > now() - 30d`"
                .to_string()
        } else {
            let candidates = Field::names()
                .chain(Function::ALL.iter().map(|f| f.name()))
                .chain(["in_segment"]);
            let hint = did_you_mean(name, candidates);
            if hint.is_empty() {
                format!(
                    "unknown field `{name}` (custom attributes are written `attributes.{name}`)"
                )
            } else {
                format!("unknown field `{name}`{hint}")
            }
        };
        Err(self.err(tok.start, message))
    }

    fn field_condition(&mut self, name: &str, tok: &Token) -> Result<(Expr, usize), ParseError> {
        let (field, field_span) = self.field_ref(name, tok)?;
        let next = self.peek().clone();
        if is_kw(&next, "is") {
            self.bump();
            let negated = is_kw(self.peek(), "not");
            if negated {
                self.bump();
            }
            if !is_kw(self.peek(), "set") {
                let after = self.prev().map(|p| self.text(p)).unwrap_or("is");
                return Err(self.err(
                    self.peek().start,
                    format!(
                        "expected `set` after `{after}` (`{field} is set` or `{field} is not set`)"
                    ),
                ));
            }
            self.bump();
            let e = Expr::IsSet(field);
            return Ok(if negated {
                (Expr::Not(Box::new(e)), 1)
            } else {
                (e, 0)
            });
        }
        if is_kw(&next, "not") {
            self.bump();
            if !is_kw(self.peek(), "in") {
                return Err(self.err(
                    self.peek().start,
                    format!("expected `in` after `not` (`{field} not in [\"A\", \"B\"]`)"),
                ));
            }
            self.bump();
            let e = self.in_list(field, field_span)?;
            return Ok((Expr::Not(Box::new(e)), 1));
        }
        if is_kw(&next, "in") {
            self.bump();
            return Ok((self.in_list(field, field_span)?, 0));
        }
        if let Tok::Op(op) = next.kind {
            self.bump();
            let (value, value_span) = self.value(&next)?;
            let comparison = Comparison { field, op, value };
            check_comparison(&comparison).map_err(|p| {
                self.problem(p, |at| match at {
                    At::Field => field_span.0,
                    At::Op => next.start,
                    _ => value_span.0,
                })
            })?;
            return Ok((Expr::Compare(comparison), 0));
        }
        match field.kind() {
            FieldKind::Bool | FieldKind::Any => Ok((
                Expr::Compare(Comparison {
                    field,
                    op: CmpOp::Eq,
                    value: Value::Bool(true),
                }),
                0,
            )),
            kind => {
                let example = match kind {
                    FieldKind::Text => format!("`{field} = \"…\"`"),
                    FieldKind::Number => format!("`{field} >= 2`"),
                    FieldKind::Money => format!("`{field} > 500`"),
                    _ => format!("`{field} > now() - 30d`"),
                };
                Err(self.err(
                    next.start,
                    format!(
                        "expected a comparison after `{field}` ({example}), `in`, or `is set`, \
                         found {}",
                        self.describe(&next)
                    ),
                ))
            }
        }
    }

    fn in_list(&mut self, field: Field, field_span: Span) -> Result<Expr, ParseError> {
        let open = self.peek().clone();
        if !matches!(open.kind, Tok::LBracket) {
            return Err(self.err(
                open.start,
                "expected `[` after `in` (`country in [\"ES\", \"PT\"]`)",
            ));
        }
        self.bump();
        if matches!(self.peek().kind, Tok::RBracket) {
            return Err(self.err(self.peek().start, "the list is empty"));
        }
        let mut values = Vec::new();
        let mut spans = Vec::new();
        loop {
            let after = self.prev().cloned().unwrap_or(open.clone());
            let (value, span) = self.value(&after)?;
            values.push(value);
            spans.push(span);
            let t = self.peek().clone();
            match t.kind {
                Tok::Comma => {
                    self.bump();
                    if matches!(self.peek().kind, Tok::RBracket) {
                        self.bump();
                        break;
                    }
                }
                Tok::RBracket => {
                    self.bump();
                    break;
                }
                _ => {
                    return Err(self.err(
                        t.start,
                        format!(
                            "expected `,` or `]` in the list, found {}",
                            self.describe(&t)
                        ),
                    ))
                }
            }
        }
        let list = InList { field, values };
        check_in_list(&list).map_err(|p| {
            self.problem(p, |at| match at {
                At::Item(i) => spans[i].0,
                _ => field_span.0,
            })
        })?;
        Ok(Expr::InList(list))
    }

    fn value(&mut self, after: &Token) -> Result<(Value, Span), ParseError> {
        let after_text = self.text(after).to_string();
        let t = self.peek().clone();
        match &t.kind {
            Tok::Str(s) => {
                self.bump();
                Ok((Value::Text(s.clone()), (t.start, t.end)))
            }
            Tok::Num(digits) => {
                self.bump();
                self.number(digits, t.start, false)
            }
            Tok::Minus => {
                self.bump();
                let n = self.peek().clone();
                match &n.kind {
                    Tok::Num(digits) => {
                        self.bump();
                        self.number(digits, t.start, true)
                    }
                    _ => Err(self.err(n.start, "expected a number after `-`")),
                }
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") => {
                self.bump();
                let b = w.eq_ignore_ascii_case("true");
                Ok((Value::Bool(b), (t.start, t.end)))
            }
            Tok::Ident(w) if w == "now" => {
                self.bump();
                if !matches!(self.peek().kind, Tok::LParen) {
                    return Err(self.err(self.peek().start, "write `now()` with parentheses"));
                }
                self.bump();
                if !matches!(self.peek().kind, Tok::RParen) {
                    return Err(self.err(self.peek().start, "`now()` takes no arguments"));
                }
                let close = self.bump();
                self.time_offset(TimeBase::Now, t.start, close.end)
            }
            Tok::Time(at) => {
                self.bump();
                self.time_offset(TimeBase::At(*at), t.start, t.end)
            }
            Tok::Dur(d) => Err(self.err(
                t.start,
                format!(
                    "`{d}` is a duration, not a value; for a time write `now() - {d}`, for a \
                     window use `within: {d}`"
                ),
            )),
            Tok::Ident(w) if !is_keyword(w) => Err(self.err(
                t.start,
                format!(
                    "expected a value after `{after_text}`; text is written in double quotes: \
                     \"{w}\""
                ),
            )),
            Tok::LBracket => Err(self.err(
                t.start,
                "a list of values goes after `in`: `country in [\"ES\", \"PT\"]`",
            )),
            _ => Err(self.err(t.start, format!("expected a value after `{after_text}`"))),
        }
    }

    fn number(
        &mut self,
        digits: &str,
        start: usize,
        negative: bool,
    ) -> Result<(Value, Span), ParseError> {
        let text = if negative {
            format!("-{digits}")
        } else {
            digits.to_string()
        };
        let amount = Decimal::parse(&text).map_err(|m| self.err(start, m))?;
        let mut end = self.prev().map(|p| p.end).unwrap_or(start);
        let next = self.peek().clone();
        if let Tok::Ident(code) = &next.kind {
            // A three-letter word after a number is a currency code.
            if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) && !is_keyword(code)
            {
                let currency = Currency::parse(code).map_err(|_| {
                    self.err(
                        next.start,
                        format!(
                            "unknown currency `{code}` (an amount of money is written with an \
                             ISO 4217 code: `500 EUR`)"
                        ),
                    )
                })?;
                self.bump();
                end = next.end;
                return Ok((Value::Money(MoneyValue { amount, currency }), (start, end)));
            }
        }
        Ok((Value::Number(amount), (start, end)))
    }

    fn time_offset(
        &mut self,
        base: TimeBase,
        start: usize,
        end: usize,
    ) -> Result<(Value, Span), ParseError> {
        let t = self.peek().clone();
        let sign = match t.kind {
            Tok::Plus => Sign::Plus,
            Tok::Minus => Sign::Minus,
            _ => return Ok((Value::Time(TimeValue { base, offset: None }), (start, end))),
        };
        self.bump();
        let d = self.peek().clone();
        match d.kind {
            Tok::Dur(duration) => {
                self.bump();
                let offset = Some(TimeOffset { sign, duration });
                Ok((Value::Time(TimeValue { base, offset }), (start, d.end)))
            }
            _ => Err(self.err(
                d.start,
                format!(
                    "expected a duration after `{}` (`90d`, `12h`, `2w`)",
                    self.text(&t)
                ),
            )),
        }
    }

    fn call(&mut self, name: &str, name_tok: &Token) -> Result<Expr, ParseError> {
        if name == "in_segment" {
            self.bump();
            let t = self.peek().clone();
            let Tok::Str(key) = &t.kind else {
                return Err(self.err(
                    t.start,
                    "`in_segment` takes a segment key in double quotes: `in_segment(\"vip\")`",
                ));
            };
            check_segment_key(key).map_err(|m| self.err(t.start, m))?;
            self.bump();
            let close = self.peek().clone();
            if !matches!(close.kind, Tok::RParen) {
                return Err(self.err(
                    close.start,
                    format!("expected `)`, found {}", self.describe(&close)),
                ));
            }
            self.bump();
            return Ok(Expr::InSegment(key.clone()));
        }
        if name == "now" {
            return Err(self.err(
                name_tok.start,
                "`now()` is a value, not a condition; compare a time with it: \
                 `last_order_at > now() - 30d`",
            ));
        }
        let Some(function) = Function::from_name(name) else {
            let message = if Field::from_name(name).is_some() || name == "attributes" {
                format!("`{name}` is a field, not a function")
            } else {
                format!(
                    "unknown function `{name}`{}",
                    did_you_mean(
                        name,
                        Function::ALL
                            .iter()
                            .map(|f| f.name())
                            .chain(["in_segment"])
                            .chain(Field::names())
                    )
                )
            };
            return Err(self.err(name_tok.start, message));
        };
        self.bump(); // `(`
        let mut args = Args::default();
        let mut arg_spans: Vec<(ArgName, usize)> = Vec::new();
        if matches!(self.peek().kind, Tok::RParen) {
            self.bump();
        } else {
            loop {
                let t = self.peek().clone();
                let arg_name = match &t.kind {
                    Tok::Ident(w) if matches!(self.peek2().kind, Tok::Colon) => w.clone(),
                    Tok::Ident(w) if ArgName::from_name(w).is_some() => {
                        return Err(
                            self.err(self.peek2().start, format!("expected `:` after `{w}`"))
                        )
                    }
                    Tok::Ident(w) if matches!(w.as_str(), "count" | "times" | "min") => {
                        return Err(self.err(t.start, unknown_arg_message(function, w)))
                    }
                    Tok::Str(_) | Tok::Num(_) | Tok::Dur(_) | Tok::LBracket => {
                        let example = match function {
                            Function::Event => "`event(name: \"Checkout Started\")`",
                            Function::Searched => "`searched(query: \"shoes\")`",
                            Function::Ordered
                            | Function::OpenedEmail
                            | Function::ClickedEmail
                            | Function::Visited => "`within: 7d`",
                            _ => "`product: \"P1\"` or `within: 7d`",
                        };
                        return Err(self.err(t.start, format!("arguments are named: {example}")));
                    }
                    _ => {
                        return Err(self.err(
                            t.start,
                            format!(
                                "expected an argument name (such as `within:`) or `)`, found {}",
                                self.describe(&t)
                            ),
                        ))
                    }
                };
                let arg = ArgName::from_name(&arg_name)
                    .filter(|a| function.allowed_args().contains(a))
                    .ok_or_else(|| self.err(t.start, unknown_arg_message(function, &arg_name)))?;
                if args.has(arg) || arg_spans.iter().any(|(a, _)| *a == arg) {
                    return Err(self.err(t.start, format!("`{arg}:` is given twice")));
                }
                self.bump(); // name
                self.bump(); // `:`
                let v = self.peek().clone();
                arg_spans.push((arg, v.start));
                self.arg_value(arg, &mut args)?;
                let sep = self.peek().clone();
                match sep.kind {
                    Tok::Comma => {
                        self.bump();
                        if matches!(self.peek().kind, Tok::RParen) {
                            self.bump();
                            break;
                        }
                    }
                    Tok::RParen => {
                        self.bump();
                        break;
                    }
                    _ => {
                        return Err(self.err(
                            sep.start,
                            format!(
                                "expected `,` or `)` after the argument, found {}",
                                self.describe(&sep)
                            ),
                        ))
                    }
                }
            }
        }
        let mut call = Call::new(function, args);
        let op_tok = self.peek().clone();
        if let Tok::Op(op) = op_tok.kind {
            self.bump();
            let n = self.peek().clone();
            let count = match &n.kind {
                Tok::Num(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                    digits.parse::<u64>().map_err(|_| self.err(n.start, "this number is too large"))?
                }
                _ => {
                    return Err(self.err(
                        n.start,
                        format!(
                            "expected a whole number after `{op}` (how many times): `{function}(…) {op} 3`"
                        ),
                    ))
                }
            };
            self.bump();
            call.op = op;
            call.count = count;
        }
        check_call(&call).map_err(|p| {
            self.problem(p, |at| match at {
                At::Arg(a) => arg_spans
                    .iter()
                    .find(|(x, _)| *x == a)
                    .map(|(_, s)| *s)
                    .unwrap_or(name_tok.start),
                _ => name_tok.start,
            })
        })?;
        Ok(Expr::Call(call))
    }

    fn arg_value(&mut self, arg: ArgName, args: &mut Args) -> Result<(), ParseError> {
        let v = self.peek().clone();
        match arg {
            ArgName::Within => match v.kind {
                Tok::Dur(d) => {
                    self.bump();
                    args.within = Some(d);
                    Ok(())
                }
                _ => Err(self.err(
                    v.start,
                    "`within:` takes a duration such as `7d`, `12h` or `2w`",
                )),
            },
            ArgName::Name => match &v.kind {
                Tok::Str(s) => {
                    self.bump();
                    args.name = Some(s.clone());
                    Ok(())
                }
                _ => Err(self.err(
                    v.start,
                    "`name:` takes the event's name in double quotes: `name: \"Checkout Started\"`",
                )),
            },
            list_arg => {
                let mut values = Vec::new();
                match &v.kind {
                    Tok::Str(s) => {
                        self.bump();
                        values.push(s.clone());
                    }
                    Tok::LBracket => {
                        self.bump();
                        loop {
                            let t = self.peek().clone();
                            match &t.kind {
                                Tok::Str(s) => {
                                    self.bump();
                                    values.push(s.clone());
                                }
                                Tok::RBracket if !values.is_empty() => {
                                    self.bump();
                                    break;
                                }
                                Tok::RBracket => {
                                    return Err(self.err(t.start, "the list is empty"));
                                }
                                _ => {
                                    return Err(self.err(
                                        t.start,
                                        format!(
                                            "expected text in double quotes in the list, found {}",
                                            self.describe(&t)
                                        ),
                                    ))
                                }
                            }
                            let sep = self.peek().clone();
                            match sep.kind {
                                Tok::Comma => {
                                    self.bump();
                                }
                                Tok::RBracket => {}
                                _ => {
                                    return Err(self.err(
                                        sep.start,
                                        format!(
                                            "expected `,` or `]` in the list, found {}",
                                            self.describe(&sep)
                                        ),
                                    ))
                                }
                            }
                        }
                    }
                    _ => {
                        return Err(self.err(
                            v.start,
                            format!(
                                "`{list_arg}:` takes text in double quotes or a list of texts: \
                                 `{list_arg}: \"A\"` or `{list_arg}: [\"A\", \"B\"]`"
                            ),
                        ))
                    }
                }
                if let Some(list) = args.list_mut(list_arg) {
                    *list = values;
                }
                Ok(())
            }
        }
    }
}
