//! The JSON tree form of an expression.

use crate::ast::Expr;
use crate::check::validate;
use crate::error::TreeError;

impl Expr {
    /// The JSON tree (see `docs/segments.md`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Reads and checks a JSON tree: the same rules as the text, with errors at a path.
    pub fn from_json(json: &serde_json::Value) -> Result<Expr, TreeError> {
        let expr: Expr = serde_path_to_error::deserialize(json).map_err(|e| TreeError {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
        validate(&expr)?;
        Ok(expr)
    }

    /// Reads and checks a JSON tree from text.
    pub fn from_json_str(text: &str) -> Result<Expr, TreeError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let expr: Expr = serde_path_to_error::deserialize(&mut de).map_err(|e| TreeError {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
        de.end().map_err(|e| TreeError {
            path: ".".into(),
            message: e.to_string(),
        })?;
        validate(&expr)?;
        Ok(expr)
    }
}

impl std::str::FromStr for Expr {
    type Err = crate::ParseError;

    /// Parses the text form ([`crate::parse`]).
    fn from_str(source: &str) -> Result<Self, Self::Err> {
        crate::parse(source)
    }
}
