//! Splits a segment expression into tokens.

use crate::ast::{parse_time_literal, CmpOp, Duration};
use crate::ParseError;
use chrono::{DateTime, Utc};

/// A token and its byte range in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    /// A number as written (digits, optional fraction).
    Num(String),
    Dur(Duration),
    Time(DateTime<Utc>),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Colon,
    Dot,
    Op(CmpOp),
    Plus,
    Minus,
    Eof,
}

/// The longest source accepted, in bytes.
pub const MAX_SOURCE_LEN: usize = 100_000;

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    if src.len() > MAX_SOURCE_LEN {
        return Err(ParseError::new(
            src,
            MAX_SOURCE_LEN,
            format!("the expression is longer than {MAX_SOURCE_LEN} bytes"),
        ));
    }
    let bytes = src.as_bytes();
    let err = |at: usize, msg: String| ParseError::new(src, at, msg);
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = src[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        if c == '#' {
            // A comment, to the end of the line.
            i = src[i..].find('\n').map(|n| i + n).unwrap_or(src.len());
            continue;
        }
        let start = i;
        let next = bytes.get(i + 1).copied();
        let (kind, end) = match c {
            '(' => (Tok::LParen, i + 1),
            ')' => (Tok::RParen, i + 1),
            '[' => (Tok::LBracket, i + 1),
            ']' => (Tok::RBracket, i + 1),
            ',' => (Tok::Comma, i + 1),
            ':' => (Tok::Colon, i + 1),
            '.' => (Tok::Dot, i + 1),
            '+' => (Tok::Plus, i + 1),
            '-' => (Tok::Minus, i + 1),
            '=' if next == Some(b'=') => {
                return Err(err(i, "write `=` to compare, not `==`".into()));
            }
            '=' => (Tok::Op(CmpOp::Eq), i + 1),
            '!' if next == Some(b'=') => (Tok::Op(CmpOp::Ne), i + 2),
            '!' => return Err(err(i, "write `not` to negate a condition, not `!`".into())),
            '<' if next == Some(b'=') => (Tok::Op(CmpOp::Le), i + 2),
            '<' if next == Some(b'>') => {
                return Err(err(i, "write `!=` for \"not equal\", not `<>`".into()));
            }
            '<' => (Tok::Op(CmpOp::Lt), i + 1),
            '>' if next == Some(b'=') => (Tok::Op(CmpOp::Ge), i + 2),
            '>' => (Tok::Op(CmpOp::Gt), i + 1),
            '&' => return Err(err(i, "write `and` to combine conditions".into())),
            '|' => return Err(err(i, "write `or` to combine alternatives".into())),
            '\'' => {
                return Err(err(
                    i,
                    "text is written in double quotes: \"Kitchen\"".into(),
                ));
            }
            '"' => {
                let (text, end) = lex_string(src, i)?;
                (Tok::Str(text), end)
            }
            c if c.is_ascii_digit() => lex_number(src, i)?,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let end = src[i..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map(|n| i + n)
                    .unwrap_or(src.len());
                (Tok::Ident(src[i..end].to_string()), end)
            }
            other => return Err(err(i, format!("unexpected character `{other}`"))),
        };
        tokens.push(Token { kind, start, end });
        i = end;
    }
    tokens.push(Token {
        kind: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(tokens)
}

fn lex_string(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut i = start + 1;
    while let Some(c) = src[i..].chars().next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let simple = match src[i + 1..].chars().next() {
                    Some('"') => Some('"'),
                    Some('\\') => Some('\\'),
                    Some('n') => Some('\n'),
                    Some('r') => Some('\r'),
                    Some('t') => Some('\t'),
                    _ => None,
                };
                if let Some(ch) = simple {
                    out.push(ch);
                    i += 2;
                    continue;
                }
                if src[i + 1..].starts_with("u{") {
                    let rest = &src[i + 3..];
                    let code = rest.find('}').and_then(|close| {
                        u32::from_str_radix(&rest[..close], 16)
                            .ok()
                            .and_then(char::from_u32)
                            .map(|ch| (ch, close))
                    });
                    if let Some((ch, close)) = code {
                        out.push(ch);
                        i += 3 + close + 1;
                        continue;
                    }
                    return Err(ParseError::new(
                        src,
                        i,
                        "`\\u` needs a hexadecimal character code in braces: `\\u{e9}`",
                    ));
                }
                return Err(ParseError::new(
                    src,
                    i,
                    "unknown escape (use \\\", \\\\, \\n, \\r, \\t or \\u{…})",
                ));
            }
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Err(ParseError::new(src, start, "this text has no closing `\"`"))
}

fn is_date_at(bytes: &[u8], i: usize) -> bool {
    let d = |k: usize| bytes.get(i + k).is_some_and(u8::is_ascii_digit);
    (0..4).all(d)
        && bytes.get(i + 4) == Some(&b'-')
        && d(5)
        && d(6)
        && bytes.get(i + 7) == Some(&b'-')
        && d(8)
        && d(9)
}

fn lex_number(src: &str, i: usize) -> Result<(Tok, usize), ParseError> {
    let bytes = src.as_bytes();
    if is_date_at(bytes, i) {
        return lex_time(src, i);
    }
    let digits_end = |from: usize| {
        src[from..]
            .find(|c: char| !c.is_ascii_digit())
            .map(|n| from + n)
            .unwrap_or(src.len())
    };
    let mut end = digits_end(i);
    let mut fraction = false;
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        end = digits_end(end + 1);
        fraction = true;
    }
    if bytes
        .get(end)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        let unit_end = src[end..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map(|n| end + n)
            .unwrap_or(src.len());
        if fraction {
            return Err(ParseError::new(
                src,
                i,
                format!(
                    "`{}`: a duration is a whole number (`36h` rather than `1.5d`)",
                    &src[i..unit_end]
                ),
            ));
        }
        let duration = Duration::from_parts(&src[i..end], &src[end..unit_end])
            .map_err(|m| ParseError::new(src, i, m))?;
        return Ok((Tok::Dur(duration), unit_end));
    }
    Ok((Tok::Num(src[i..end].to_string()), end))
}

fn lex_time(src: &str, i: usize) -> Result<(Tok, usize), ParseError> {
    let bytes = src.as_bytes();
    let mut end = i + 10;
    if matches!(bytes.get(end), Some(b'T') | Some(b't')) {
        end += 1;
        while bytes
            .get(end)
            .is_some_and(|b| b.is_ascii_digit() || *b == b':' || *b == b'.')
        {
            end += 1;
        }
        match bytes.get(end) {
            Some(b'Z') | Some(b'z') => end += 1,
            Some(b'+') | Some(b'-')
                if src.len() >= end + 6
                    && src.is_char_boundary(end + 6)
                    && src[end + 1..end + 6].bytes().enumerate().all(|(k, b)| {
                        if k == 2 {
                            b == b':'
                        } else {
                            b.is_ascii_digit()
                        }
                    }) =>
            {
                end += 6
            }
            _ => {
                return Err(ParseError::new(
                    src,
                    i,
                    format!(
                        "`{}` needs a time zone: add `Z` for UTC or an offset such as `+02:00`",
                        &src[i..end]
                    ),
                ))
            }
        }
    }
    let at = parse_time_literal(&src[i..end]).map_err(|m| ParseError::new(src, i, m))?;
    Ok((Tok::Time(at), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn tokens() {
        assert_eq!(
            kinds("a >= 2 # comment\n\"x\\\"y\\u{e9}\" 90d 2026-01-31 1.5"),
            vec![
                Tok::Ident("a".into()),
                Tok::Op(CmpOp::Ge),
                Tok::Num("2".into()),
                Tok::Str("x\"yé".into()),
                Tok::Dur(Duration::days(90)),
                Tok::Time(parse_time_literal("2026-01-31").unwrap()),
                Tok::Num("1.5".into()),
                Tok::Eof,
            ]
        );
        assert_eq!(
            kinds("2026-01-31T10:00:00+02:00"),
            vec![
                Tok::Time(parse_time_literal("2026-01-31T08:00:00Z").unwrap()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors_point_at_the_character() {
        let e = lex("a == 1").unwrap_err();
        assert_eq!(
            (e.column, e.message.as_str()),
            (3, "write `=` to compare, not `==`")
        );
        let e = lex("x = \"open").unwrap_err();
        assert_eq!(e.column, 5);
        let e = lex("2026-01-31T10:00").unwrap_err();
        assert!(e.message.contains("time zone"), "{}", e.message);
        let e = lex("2026-02-30").unwrap_err();
        assert!(e.message.contains("not a valid date"), "{}", e.message);
    }
}
