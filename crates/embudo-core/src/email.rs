//! Email addresses, checked on the way in. The domain is lower-cased; the local part is kept
//! as given. An `Email` must never be logged: its `Debug` form hides the local part.

use crate::{ValidationError, ValidationErrorKind};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntactically valid email address.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, format = "email")]
pub struct Email(String);

impl Email {
    /// Parses an address (surrounding spaces are trimmed).
    pub fn parse(value: impl AsRef<str>) -> Result<Self, ValidationError> {
        let value = value.as_ref().trim();
        if value.is_empty() {
            return Err(ValidationError::new(
                "email",
                ValidationErrorKind::Missing,
                "must not be empty",
            ));
        }
        if !email_address::EmailAddress::is_valid(value) {
            return Err(ValidationError::new(
                "email",
                ValidationErrorKind::Malformed,
                "is not a valid email address",
            ));
        }
        let (local, domain) = value.rsplit_once('@').expect("a valid address has an @");
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        write!(f, "Email(***@{domain})")
    }
}

impl TryFrom<String> for Email {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_domain() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "Ann@example.com"
        );
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("").is_err());
    }

    #[test]
    fn debug_hides_the_person() {
        let email = Email::parse("ann@example.com").unwrap();
        assert_eq!(format!("{email:?}"), "Email(***@example.com)");
    }
}
