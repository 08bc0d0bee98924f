//! The input formats and their command-line names.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What the input files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// UCI "Online Retail" and "Online Retail II" CSV files (both header layouts).
    OnlineRetail,
    /// `CDNOW_master.txt` or `CDNOW_sample.txt`.
    Cdnow,
    /// The Instacart 2017 data set: a directory, or its CSV files.
    Instacart,
    /// Embudo's generic orders CSV: one row per order line (see `docs/import.md`).
    OrdersCsv,
    /// Embudo's generic products CSV: one row per product (see `docs/import.md`).
    ProductsCsv,
}

impl Format {
    /// Every format, in the order shown in help texts.
    pub const ALL: [Format; 5] = [
        Format::OnlineRetail,
        Format::Cdnow,
        Format::Instacart,
        Format::OrdersCsv,
        Format::ProductsCsv,
    ];

    /// The command-line name (`online-retail`, `cdnow`, `instacart`, `orders-csv`, `products-csv`).
    pub fn name(&self) -> &'static str {
        match self {
            Format::OnlineRetail => "online-retail",
            Format::Cdnow => "cdnow",
            Format::Instacart => "instacart",
            Format::OrdersCsv => "orders-csv",
            Format::ProductsCsv => "products-csv",
        }
    }

    /// The command-line names of every format.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(Format::name).collect()
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`Format::names`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown import format `{0}`; expected one of: online-retail, cdnow, instacart, orders-csv, products-csv")]
pub struct ParseFormatError(pub String);

impl FromStr for Format {
    type Err = ParseFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|f| f.name() == wanted)
            .ok_or_else(|| ParseFormatError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>().unwrap(), format);
        }
        assert_eq!("Orders_CSV".parse::<Format>().unwrap(), Format::OrdersCsv);
        let err = "excel".parse::<Format>().unwrap_err();
        assert!(err.to_string().contains("online-retail"), "{err}");
    }
}
