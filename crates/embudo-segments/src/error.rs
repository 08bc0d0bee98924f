//! Errors: a position in the source text, or a path in the JSON tree.

use serde::Serialize;

/// A mistake in a segment expression, at a position of its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// What is wrong, and often how to fix it.
    pub message: String,
    /// The byte offset in the source where the problem is.
    pub offset: usize,
    /// The 1-based line of `offset`.
    pub line: usize,
    /// The 1-based column of `offset`, counted in characters.
    pub column: usize,
}

impl ParseError {
    /// An error at byte `offset` of `source` (clamped to the source, moved back to the start
    /// of a character).
    pub fn new(source: &str, offset: usize, message: impl Into<String>) -> Self {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = source[line_start..offset].chars().count() + 1;
        Self {
            message: message.into(),
            offset,
            line,
            column,
        }
    }

    /// The error followed by the line of `source` it is on and a caret under the position:
    ///
    /// ```text
    /// 1:17: expected a value after `>=`
    ///   |
    /// 1 | orders_count >= and
    ///   |                 ^
    /// ```
    pub fn render(&self, source: &str) -> String {
        let line_text = source
            .split('\n')
            .nth(self.line - 1)
            .unwrap_or("")
            .trim_end_matches('\r');
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Tabs are shown as one space so the caret stays under the right character.
        let shown: String = line_text
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        format!(
            "{self}\n{gutter} |\n{number} | {shown}\n{gutter} | {}^",
            " ".repeat(self.column - 1)
        )
    }
}

/// A mistake in the JSON tree form of an expression, at a path such as
/// `and[1].compare.value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TreeError {
    /// Where: keys and `[index]`es from the root, `.` for the root itself.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_lines_and_character_columns() {
        let src = "country = \"España\"\nand cíty = 1";
        let e = ParseError::new(src, src.find("cíty").unwrap(), "unknown field");
        assert_eq!((e.line, e.column), (2, 5));
        let e = ParseError::new(src, src.find(" = 1").unwrap(), "x");
        assert_eq!((e.line, e.column), (2, 9));
        assert_eq!(
            e.render(src),
            "2:9: x\n  |\n2 | and cíty = 1\n  |         ^"
        );
    }
}
