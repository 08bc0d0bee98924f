//! Identifiers: newtypes over strings that are non-empty, at most 255 bytes and free of
//! control characters. Shops bring their own ids, so they are text, not numbers.

use crate::{ValidationError, ValidationErrorKind};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 255;

fn check_id(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(
            field,
            ValidationErrorKind::Missing,
            "must not be empty",
        ));
    }
    if value.len() > MAX_ID_LEN {
        return Err(ValidationError::new(
            field,
            ValidationErrorKind::TooLong,
            format!("must be at most {MAX_ID_LEN} bytes, got {}", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            ValidationErrorKind::Malformed,
            "must not contain control characters",
        ));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            /// Parses an id, refusing empty, overlong or control-character values.
            pub fn parse(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value = value.into();
                check_id($field, &value)?;
                Ok(Self(value))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A product's id in the shop.
    ProductId, "product_id"
);
string_id!(
    /// A known customer's id in the shop (Segment's `userId`).
    CustomerId, "user_id"
);
string_id!(
    /// An order's id in the shop.
    OrderId, "order_id"
);
string_id!(
    /// A refund's id; unique, so that a refund recorded twice counts once.
    RefundId, "refund_id"
);
string_id!(
    /// A visitor's id before they are known (Segment's `anonymousId`).
    AnonymousId, "anonymous_id"
);
string_id!(
    /// A tracking message's id (Segment's `messageId`); a repeated one is ignored.
    MessageId, "message_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_refuse_empty_long_and_control_characters() {
        assert!(ProductId::parse("P-1").is_ok());
        assert_eq!(
            ProductId::parse("  ").unwrap_err().kind,
            ValidationErrorKind::Missing
        );
        assert_eq!(
            ProductId::parse("x".repeat(256)).unwrap_err().kind,
            ValidationErrorKind::TooLong
        );
        assert_eq!(OrderId::parse("a\nb").unwrap_err().field, "order_id");
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let err = serde_json::from_str::<CustomerId>("\"\"").unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
        let id: CustomerId = serde_json::from_str("\"u1\"").unwrap();
        assert_eq!(id.as_str(), "u1");
    }
}
