//! The one error type of the data model: which field is wrong and why.

use std::fmt;

/// What kind of rule a value broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationErrorKind {
    /// A required value is missing or empty.
    Missing,
    /// The value is longer than allowed.
    TooLong,
    /// The value has the wrong shape (not an email, not a number, an unknown currency…).
    Malformed,
    /// The value is well formed but outside the allowed range.
    OutOfRange,
}

/// A value that did not pass validation, naming the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationError {
    /// The field, as a dotted path (`lines.2.quantity`) when known.
    pub field: String,
    /// The kind of rule broken.
    pub kind: ValidationErrorKind,
    /// A sentence for people.
    pub reason: String,
}

impl ValidationError {
    /// A new error for `field`.
    pub fn new(
        field: impl Into<String>,
        kind: ValidationErrorKind,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind,
            reason: reason.into(),
        }
    }

    /// The same error, with `prefix.` put before its field (for nested values).
    pub fn within(mut self, prefix: impl fmt::Display) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}
