//! The syntax tree of a segment expression, and its literal values.
//!
//! The tree carries no source positions, so two spellings of the same condition
//! (`(a and b)` and `a and b`, `viewed() >= 1` and `viewed()`) give equal trees. It serialises
//! to a readable JSON tree (see `docs/segments.md`) and prints back to canonical text with
//! `Display`.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Timelike, Utc};
use embudo_core::{Currency, Money, ValidationError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// A segment condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Expr {
    /// All of the conditions hold (at least two).
    And(Vec<Expr>),
    /// At least one of the conditions holds (at least two).
    Or(Vec<Expr>),
    /// The condition does not hold.
    Not(Box<Expr>),
    /// Always true (`true`) or always false (`false`).
    Const(bool),
    /// A field compared with a value: `orders_count >= 2`.
    Compare(Comparison),
    /// A field equal to one of a list of values: `country in ["ES", "PT"]`.
    #[serde(rename = "in")]
    InList(InList),
    /// The field has a value: `city is set`.
    IsSet(Field),
    /// How many times something happened, compared with a number: `viewed(within: 7d) >= 3`.
    Call(Call),
    /// The customer is a member of another segment: `in_segment("vip")`.
    InSegment(String),
}

/// `field op value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// The field.
    pub field: Field,
    /// The comparison.
    pub op: CmpOp,
    /// The value compared with.
    pub value: Value,
}

/// `field in [values]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InList {
    /// The field.
    pub field: Field,
    /// The values, at least one.
    pub values: Vec<Value>,
}

/// A behaviour or purchase function with its arguments, and the comparison of the number it
/// yields. A bare call (`viewed(product: "P1")`) is `>= 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// The function.
    pub function: Function,
    /// Its named arguments.
    #[serde(default)]
    pub args: Args,
    /// The comparison of the count (`>=` when absent from JSON).
    #[serde(default = "default_op")]
    pub op: CmpOp,
    /// The number the count is compared with (1 when absent from JSON).
    #[serde(default = "default_count")]
    pub count: u64,
}

fn default_op() -> CmpOp {
    CmpOp::Ge
}

fn default_count() -> u64 {
    1
}

impl Call {
    /// A bare call (`count >= 1`).
    pub fn new(function: Function, args: Args) -> Self {
        Self {
            function,
            args,
            op: CmpOp::Ge,
            count: 1,
        }
    }

    /// Whether the call is written bare (`viewed()` rather than `viewed() >= 3`).
    pub fn is_bare(&self) -> bool {
        self.op == CmpOp::Ge && self.count == 1
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl CmpOp {
    /// All operators.
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    /// The operator as written.
    pub fn as_str(&self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether `left op right` holds when `left.cmp(right)` is `ordering`.
    pub fn holds(&self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Eq => ordering == Ordering::Equal,
            CmpOp::Ne => ordering != Ordering::Equal,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Le => ordering != Ordering::Greater,
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Ge => ordering != Ordering::Less,
        }
    }

    /// Whether this is `=` or `!=` (the only operators for text and true/false).
    pub fn is_equality(&self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a field holds, which decides the values and operators it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// Text: `=`, `!=`, `in`.
    Text,
    /// True or false: `=`, `!=`, or the field alone.
    Bool,
    /// A number: every operator and `in`.
    Number,
    /// An amount of money: every operator; a plain number is in the shop's default currency.
    Money,
    /// A point in time: every operator, with a date, a time or `now()`.
    Time,
    /// A custom attribute: whatever JSON value the profile holds.
    Any,
}

impl FieldKind {
    /// How the kind is named in messages.
    pub fn describe(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Bool => "true/false",
            FieldKind::Number => "a number",
            FieldKind::Money => "an amount of money",
            FieldKind::Time => "a time",
            FieldKind::Any => "a custom attribute",
        }
    }
}

/// Which part of a customer's data a field reads (see [`crate::Dependencies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The profile (identity, location, consent, custom attributes, first/last seen).
    Profile,
    /// The orders.
    Orders,
    /// The model predictions.
    Predictions,
    /// The RFM scores.
    Rfm,
}

/// A field of the customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `id`: the shop's customer id.
    Id,
    /// `country`.
    Country,
    /// `city`.
    City,
    /// `customer_type`: `consumer`, `business` or `government`.
    CustomerType,
    /// `email_consent`: whether marketing email is allowed.
    EmailConsent,
    /// `email_consent_at`: when consent was last given or withdrawn.
    EmailConsentAt,
    /// `first_seen`.
    FirstSeen,
    /// `last_seen`.
    LastSeen,
    /// `attributes.a.b`: a custom attribute, by its path of keys.
    Attribute(Vec<String>),
    /// `orders_count`: orders that were not cancelled.
    OrdersCount,
    /// `revenue`: the sum of the net values of those orders, in one currency.
    Revenue,
    /// `average_order_value`: revenue divided by the number of those orders, in one currency.
    AverageOrderValue,
    /// `first_order_at`.
    FirstOrderAt,
    /// `last_order_at`.
    LastOrderAt,
    /// `churn_risk`: predicted probability that the customer has stopped buying (0–1).
    ChurnRisk,
    /// `p_alive`: predicted probability that the customer is still active (0–1).
    PAlive,
    /// `predicted_clv`: predicted future value.
    PredictedClv,
    /// `expected_order_value`: predicted value of the customer's next order.
    ExpectedOrderValue,
    /// `expected_orders_30d`: predicted number of orders in the next 30 days.
    ExpectedOrders30d,
    /// `expected_orders_90d`: predicted number of orders in the next 90 days.
    ExpectedOrders90d,
    /// `expected_orders_365d`: predicted number of orders in the next 365 days.
    ExpectedOrders365d,
    /// `rfm_r`: recency score 1–5.
    RfmR,
    /// `rfm_f`: frequency score 1–5.
    RfmF,
    /// `rfm_m`: monetary score 1–5.
    RfmM,
    /// `rfm_fm`: the frequency-monetary score, `(rfm_f + rfm_m) / 2` rounded down.
    RfmFm,
    /// `rfm_segment`: the RFM group (`"Champions"`, `"At risk"`…).
    RfmSegment,
}

/// The named fields (all but `attributes.…`) with their names, in documentation order.
/// Makes a field.
type MakeField = fn() -> Field;

pub(crate) const NAMED_FIELDS: &[(&str, MakeField)] = &[
    ("id", || Field::Id),
    ("country", || Field::Country),
    ("city", || Field::City),
    ("customer_type", || Field::CustomerType),
    ("email_consent", || Field::EmailConsent),
    ("email_consent_at", || Field::EmailConsentAt),
    ("first_seen", || Field::FirstSeen),
    ("last_seen", || Field::LastSeen),
    ("orders_count", || Field::OrdersCount),
    ("revenue", || Field::Revenue),
    ("average_order_value", || Field::AverageOrderValue),
    ("first_order_at", || Field::FirstOrderAt),
    ("last_order_at", || Field::LastOrderAt),
    ("churn_risk", || Field::ChurnRisk),
    ("p_alive", || Field::PAlive),
    ("predicted_clv", || Field::PredictedClv),
    ("expected_order_value", || Field::ExpectedOrderValue),
    ("expected_orders_30d", || Field::ExpectedOrders30d),
    ("expected_orders_90d", || Field::ExpectedOrders90d),
    ("expected_orders_365d", || Field::ExpectedOrders365d),
    ("rfm_r", || Field::RfmR),
    ("rfm_f", || Field::RfmF),
    ("rfm_m", || Field::RfmM),
    ("rfm_fm", || Field::RfmFm),
    ("rfm_segment", || Field::RfmSegment),
];

impl Field {
    /// The names of every named field, and `attributes`.
    pub fn names() -> impl Iterator<Item = &'static str> {
        NAMED_FIELDS
            .iter()
            .map(|(name, _)| *name)
            .chain(std::iter::once("attributes"))
    }

    /// The field with this name (not `attributes.…`).
    pub fn from_name(name: &str) -> Option<Field> {
        NAMED_FIELDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, make)| make())
    }

    /// The field's name (`attributes` for every custom attribute).
    pub fn name(&self) -> &'static str {
        match self {
            Field::Attribute(_) => "attributes",
            other => NAMED_FIELDS
                .iter()
                .find(|(_, make)| make() == *other)
                .map(|(n, _)| *n)
                .unwrap_or("?"),
        }
    }

    /// What the field holds.
    pub fn kind(&self) -> FieldKind {
        match self {
            Field::Id | Field::Country | Field::City | Field::CustomerType | Field::RfmSegment => {
                FieldKind::Text
            }
            Field::EmailConsent => FieldKind::Bool,
            Field::EmailConsentAt
            | Field::FirstSeen
            | Field::LastSeen
            | Field::FirstOrderAt
            | Field::LastOrderAt => FieldKind::Time,
            Field::Attribute(_) => FieldKind::Any,
            Field::OrdersCount
            | Field::ChurnRisk
            | Field::PAlive
            | Field::ExpectedOrders30d
            | Field::ExpectedOrders90d
            | Field::ExpectedOrders365d
            | Field::RfmR
            | Field::RfmF
            | Field::RfmM
            | Field::RfmFm => FieldKind::Number,
            Field::Revenue
            | Field::AverageOrderValue
            | Field::PredictedClv
            | Field::ExpectedOrderValue => FieldKind::Money,
        }
    }

    /// Which part of the customer's data the field reads.
    pub fn source(&self) -> Source {
        match self {
            Field::Id
            | Field::Country
            | Field::City
            | Field::CustomerType
            | Field::EmailConsent
            | Field::EmailConsentAt
            | Field::FirstSeen
            | Field::LastSeen
            | Field::Attribute(_) => Source::Profile,
            Field::OrdersCount
            | Field::Revenue
            | Field::AverageOrderValue
            | Field::FirstOrderAt
            | Field::LastOrderAt => Source::Orders,
            Field::ChurnRisk
            | Field::PAlive
            | Field::PredictedClv
            | Field::ExpectedOrderValue
            | Field::ExpectedOrders30d
            | Field::ExpectedOrders90d
            | Field::ExpectedOrders365d => Source::Predictions,
            Field::RfmR | Field::RfmF | Field::RfmM | Field::RfmFm | Field::RfmSegment => {
                Source::Rfm
            }
        }
    }
}

/// Whether `text` can be written bare as an identifier (`plan`, `signup_source`).
pub(crate) fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Attribute(path) => {
                f.write_str("attributes")?;
                for key in path {
                    f.write_str(".")?;
                    if is_identifier(key) {
                        f.write_str(key)?;
                    } else {
                        write_quoted(f, key)?;
                    }
                }
                Ok(())
            }
            other => f.write_str(other.name()),
        }
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        crate::parser::parse_field(&text).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// A behaviour or purchase function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    /// `bought(product:|category:|brand:, within:)`: orders with a matching line.
    Bought,
    /// `ordered(within:)`: orders.
    Ordered,
    /// `viewed(…)`: `Product Viewed` events.
    Viewed,
    /// `added_to_cart(…)`: `Product Added` events.
    AddedToCart,
    /// `searched(query:, …)`: `Products Searched` events.
    Searched,
    /// `visited(device:, source:, within:)`: distinct days (UTC) with an event that is a
    /// visit (see [`is_visit_event`]).
    Visited,
    /// `opened_email(within:)`: `Email Opened` events.
    OpenedEmail,
    /// `clicked_email(within:)`: `Email Clicked` events.
    ClickedEmail,
    /// `event(name:, …)`: events of any name.
    Event,
}

/// The event name of engagement: an email was opened.
pub const EMAIL_OPENED: &str = "Email Opened";
/// The event name of engagement: a link in an email was clicked.
pub const EMAIL_CLICKED: &str = "Email Clicked";

/// The events that are not the customer visiting the shop, so `visited` does not count them:
/// email engagement and order changes made by the shop.
pub const NOT_VISITS: &[&str] = &[
    EMAIL_OPENED,
    EMAIL_CLICKED,
    embudo_core::names::ORDER_REFUNDED,
    embudo_core::names::ORDER_CANCELLED,
];

/// Whether an event with this name counts as a visit for `visited` (every name but
/// [`NOT_VISITS`]).
pub fn is_visit_event(name: &str) -> bool {
    !NOT_VISITS.contains(&name)
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 9] = [
        Function::Bought,
        Function::Ordered,
        Function::Viewed,
        Function::AddedToCart,
        Function::Searched,
        Function::Visited,
        Function::OpenedEmail,
        Function::ClickedEmail,
        Function::Event,
    ];

    /// The name as written.
    pub fn name(&self) -> &'static str {
        match self {
            Function::Bought => "bought",
            Function::Ordered => "ordered",
            Function::Viewed => "viewed",
            Function::AddedToCart => "added_to_cart",
            Function::Searched => "searched",
            Function::Visited => "visited",
            Function::OpenedEmail => "opened_email",
            Function::ClickedEmail => "clicked_email",
            Function::Event => "event",
        }
    }

    /// The function with this name.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The arguments the function takes.
    pub fn allowed_args(&self) -> &'static [ArgName] {
        use ArgName::*;
        match self {
            Function::Bought => &[Product, Category, Brand, Within],
            Function::Ordered => &[Within],
            Function::Viewed | Function::AddedToCart => {
                &[Product, Category, Brand, Device, Source, Within]
            }
            Function::Searched => &[Query, Device, Source, Within],
            Function::Visited => &[Device, Source, Within],
            Function::OpenedEmail | Function::ClickedEmail => &[Within],
            Function::Event => &[
                Name, Product, Category, Brand, Query, Device, Source, Within,
            ],
        }
    }

    /// The event name the function counts, for the functions that count one event name.
    pub fn event_name(&self) -> Option<&'static str> {
        use embudo_core::names;
        match self {
            Function::Viewed => Some(names::PRODUCT_VIEWED),
            Function::AddedToCart => Some(names::PRODUCT_ADDED),
            Function::Searched => Some(names::PRODUCTS_SEARCHED),
            Function::OpenedEmail => Some(EMAIL_OPENED),
            Function::ClickedEmail => Some(EMAIL_CLICKED),
            Function::Bought | Function::Ordered | Function::Visited | Function::Event => None,
        }
    }

    /// Whether the function counts orders (rather than events).
    pub fn counts_orders(&self) -> bool {
        matches!(self, Function::Bought | Function::Ordered)
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name of a function argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArgName {
    /// `name:` the event name (`event` only).
    Name,
    /// `product:` product ids.
    Product,
    /// `category:` categories.
    Category,
    /// `brand:` brands.
    Brand,
    /// `query:` search text.
    Query,
    /// `device:` device types.
    Device,
    /// `source:` traffic sources.
    Source,
    /// `within:` the time window.
    Within,
}

impl ArgName {
    /// Every argument name, in printing order.
    pub const ALL: [ArgName; 8] = [
        ArgName::Name,
        ArgName::Product,
        ArgName::Category,
        ArgName::Brand,
        ArgName::Query,
        ArgName::Device,
        ArgName::Source,
        ArgName::Within,
    ];

    /// The name as written.
    pub fn name(&self) -> &'static str {
        match self {
            ArgName::Name => "name",
            ArgName::Product => "product",
            ArgName::Category => "category",
            ArgName::Brand => "brand",
            ArgName::Query => "query",
            ArgName::Device => "device",
            ArgName::Source => "source",
            ArgName::Within => "within",
        }
    }

    /// The argument with this name.
    pub fn from_name(name: &str) -> Option<ArgName> {
        ArgName::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for ArgName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The named arguments of a call. An empty list means "no filter"; a list of several values
/// matches any of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// `name:` the event name, exactly (`event` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `product:` product ids, exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    pub product: Vec<String>,
    /// `category:` categories, ignoring case.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    pub category: Vec<String>,
    /// `brand:` brands, ignoring case.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    pub brand: Vec<String>,
    /// `query:` text the search query contains, ignoring case.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    pub query: Vec<String>,
    /// `device:` device types, ignoring case.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    pub device: Vec<String>,
    /// `source:` traffic sources, ignoring case.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "one_or_many")]
    pub source: Vec<String>,
    /// `within:` only what happened in the window `(now - within, now]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Duration>,
}

impl Args {
    /// Whether the argument is given.
    pub fn has(&self, arg: ArgName) -> bool {
        match arg {
            ArgName::Name => self.name.is_some(),
            ArgName::Within => self.within.is_some(),
            other => !self.list(other).is_empty(),
        }
    }

    /// The values of a text-list argument (empty for `name` and `within`).
    pub fn list(&self, arg: ArgName) -> &[String] {
        match arg {
            ArgName::Product => &self.product,
            ArgName::Category => &self.category,
            ArgName::Brand => &self.brand,
            ArgName::Query => &self.query,
            ArgName::Device => &self.device,
            ArgName::Source => &self.source,
            ArgName::Name | ArgName::Within => &[],
        }
    }

    /// The list of a text-list argument, to fill.
    pub(crate) fn list_mut(&mut self, arg: ArgName) -> Option<&mut Vec<String>> {
        match arg {
            ArgName::Product => Some(&mut self.product),
            ArgName::Category => Some(&mut self.category),
            ArgName::Brand => Some(&mut self.brand),
            ArgName::Query => Some(&mut self.query),
            ArgName::Device => Some(&mut self.device),
            ArgName::Source => Some(&mut self.source),
            ArgName::Name | ArgName::Within => None,
        }
    }
}

/// One string or a list of strings in JSON, a list in Rust.
mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(values: &[String], s: S) -> Result<S::Ok, S::Error> {
        match values {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        })
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `"Kitchen"`.
    Text(String),
    /// `2`, `0.7`, `-3`; with a money field, major units of the shop's default currency.
    Number(Decimal),
    /// `500 EUR`: major units of an explicit currency.
    Money(MoneyValue),
    /// `true` or `false`.
    Bool(bool),
    /// `now()`, `now() - 90d`, `2026-01-31`, `2026-01-31T10:00:00Z`.
    Time(TimeValue),
}

impl Value {
    /// How the value's type is named in messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Text(_) => "text",
            Value::Number(_) => "a number",
            Value::Money(_) => "an amount of money",
            Value::Bool(_) => "true/false",
            Value::Time(_) => "a time",
        }
    }

    /// The JSON form (see `docs/segments.md`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Value::Text(text) => json!(text),
            Value::Number(d) => d.to_json(),
            Value::Bool(b) => json!(b),
            Value::Money(m) => json!({"amount": m.amount.to_json(), "currency": m.currency.code()}),
            Value::Time(t) => {
                let mut map = serde_json::Map::new();
                map.insert("time".into(), json!(t.base.to_string_json()));
                if let Some(offset) = &t.offset {
                    map.insert("offset".into(), json!(offset.to_string()));
                }
                serde_json::Value::Object(map)
            }
        }
    }

    /// Reads the JSON form.
    pub fn from_json(json: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        match json {
            J::String(s) => Ok(Value::Text(s.clone())),
            J::Bool(b) => Ok(Value::Bool(*b)),
            J::Number(n) => Decimal::from_json_number(n).map(Value::Number),
            J::Object(map) if map.contains_key("amount") => {
                if let Some(key) = map.keys().find(|k| *k != "amount" && *k != "currency") {
                    return Err(format!(
                        "unknown key `{key}` in an amount of money (amount, currency)"
                    ));
                }
                let amount = match map.get("amount") {
                    Some(J::Number(n)) => Decimal::from_json_number(n)?,
                    _ => return Err("`amount` must be a number".into()),
                };
                let currency = match map.get("currency") {
                    Some(J::String(code)) => {
                        Currency::parse(code).map_err(|_| format!("unknown currency `{code}`"))?
                    }
                    _ => {
                        return Err("an amount of money needs `currency` (a plain number is in \
                                    the shop's default currency)"
                            .into())
                    }
                };
                Ok(Value::Money(MoneyValue { amount, currency }))
            }
            J::Object(map) if map.contains_key("time") => {
                if let Some(key) = map.keys().find(|k| *k != "time" && *k != "offset") {
                    return Err(format!("unknown key `{key}` in a time (time, offset)"));
                }
                let base = match map.get("time") {
                    Some(J::String(text)) => TimeBase::parse_json(text)?,
                    _ => return Err("`time` must be \"now\", a date or an RFC 3339 time".into()),
                };
                let offset = match map.get("offset") {
                    None | Some(J::Null) => None,
                    Some(J::String(text)) => Some(TimeOffset::parse(text)?),
                    Some(_) => return Err("`offset` must be text such as \"-90d\"".into()),
                };
                Ok(Value::Time(TimeValue { base, offset }))
            }
            J::Object(_) => Err(
                "an object value must be an amount of money ({\"amount\": 500, \"currency\": \
                 \"EUR\"}) or a time ({\"time\": \"now\", \"offset\": \"-90d\"})"
                    .into(),
            ),
            J::Null => Err("a value cannot be null (use `is_set` to test for absence)".into()),
            J::Array(_) => Err("a value cannot be a list (use `in` for lists)".into()),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(d)?;
        Value::from_json(&json).map_err(serde::de::Error::custom)
    }
}

/// An amount of money in major units of an explicit currency: `500 EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MoneyValue {
    /// The amount in major units, as written.
    pub amount: Decimal,
    /// The currency.
    pub currency: Currency,
}

impl MoneyValue {
    /// The amount in minor units of its currency (rounded half away from zero when written
    /// with more decimals than the currency has).
    pub fn to_money(&self) -> Result<Money, ValidationError> {
        Money::from_decimal_str(&self.amount.to_string(), self.currency)
    }
}

/// An exact decimal number of at most [`Decimal::MAX_DIGITS`] significant digits, normalised
/// (no trailing zeros after the point), so `500.00` and `500` are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: i64,
    scale: u32,
}

impl Decimal {
    /// The most significant digits a number may have (what a JSON number keeps exactly).
    pub const MAX_DIGITS: usize = 15;

    /// The most digits after the point a number keeps.
    pub const MAX_SCALE: u32 = 18;

    /// `mantissa / 10^scale`, normalised; digits beyond [`Decimal::MAX_SCALE`] decimals are
    /// dropped (rounding toward zero).
    pub fn new(mantissa: i64, scale: u32) -> Self {
        let (mut mantissa, mut scale) = (mantissa, scale);
        while scale > Self::MAX_SCALE {
            mantissa /= 10;
            scale -= 1;
        }
        while scale > 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            scale -= 1;
        }
        Self { mantissa, scale }
    }

    /// A whole number.
    pub fn from_int(value: i64) -> Self {
        Self {
            mantissa: value,
            scale: 0,
        }
    }

    /// The digits as an integer (`-125` for `-12.5`).
    pub fn mantissa(&self) -> i64 {
        self.mantissa
    }

    /// How many digits follow the point (`1` for `-12.5`).
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// Parses `12`, `-0.75`, `3.50` (no exponent, no `+`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a number");
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        if int_part.is_empty()
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || (unsigned.contains('.') && frac_part.is_empty())
        {
            return Err(bad());
        }
        let frac_part = frac_part.trim_end_matches('0');
        if frac_part.len() > Self::MAX_SCALE as usize {
            return Err(format!(
                "`{text}` has more than {} decimals",
                Self::MAX_SCALE
            ));
        }
        let digits = format!("{int_part}{frac_part}");
        let significant = digits.trim_start_matches('0');
        if significant.len() > Self::MAX_DIGITS {
            return Err(format!(
                "`{text}` has more than {} significant digits",
                Self::MAX_DIGITS
            ));
        }
        let magnitude: i64 = if significant.is_empty() {
            0
        } else {
            significant.parse().map_err(|_| bad())?
        };
        let mantissa = if negative { -magnitude } else { magnitude };
        Ok(Self::new(mantissa, frac_part.len() as u32))
    }

    /// The nearest `f64`.
    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The value as a non-negative whole number, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        if self.scale == 0 {
            u64::try_from(self.mantissa).ok()
        } else {
            None
        }
    }

    /// Compares `numerator / denominator` (denominator > 0) with this number, exactly when the
    /// arithmetic fits in 128 bits (always for amounts of money), else in floating point.
    pub fn cmp_ratio(&self, numerator: i128, denominator: i128) -> Ordering {
        let left = 10i128
            .checked_pow(self.scale)
            .and_then(|scaled| numerator.checked_mul(scaled));
        let right = i128::from(self.mantissa).checked_mul(denominator);
        match (left, right) {
            (Some(l), Some(r)) => l.cmp(&r),
            _ => {
                let l = numerator as f64 / denominator as f64;
                l.partial_cmp(&self.to_f64()).unwrap_or(Ordering::Equal)
            }
        }
    }

    /// Compares an amount of `minor` minor units of a currency with `exponent` decimals with
    /// this number of major units, exactly.
    pub fn cmp_minor(&self, minor: i64, exponent: u32) -> Ordering {
        self.cmp_ratio(i128::from(minor), 10i128.pow(exponent))
    }

    /// Compares a float with this number (`None` for NaN).
    pub fn cmp_f64(&self, value: f64) -> Option<Ordering> {
        value.partial_cmp(&self.to_f64())
    }

    fn to_json(self) -> serde_json::Value {
        if self.scale == 0 {
            serde_json::Value::from(self.mantissa)
        } else {
            serde_json::Number::from_f64(self.to_f64())
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null)
        }
    }

    fn from_json_number(n: &serde_json::Number) -> Result<Self, String> {
        if let Some(i) = n.as_i64() {
            return Ok(Self::from_int(i));
        }
        match n.as_f64() {
            Some(f) if f.is_finite() => Self::parse(&format!("{f}")),
            _ => Err(format!("`{n}` is too large")),
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        other.cmp_ratio(i128::from(self.mantissa), 10i128.pow(self.scale))
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.mantissa);
        }
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let abs = self.mantissa.unsigned_abs();
        let scale = 10u64.pow(self.scale);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = self.scale as usize
        )
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => {
                Decimal::from_json_number(&n).map_err(serde::de::Error::custom)
            }
            other => Err(serde::de::Error::custom(format!(
                "expected a number, found {other}"
            ))),
        }
    }
}

/// The unit of a [`Duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DurationUnit {
    /// `s`
    Seconds,
    /// `min`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
    /// `w`
    Weeks,
}

impl DurationUnit {
    /// Every unit.
    pub const ALL: [DurationUnit; 5] = [
        DurationUnit::Seconds,
        DurationUnit::Minutes,
        DurationUnit::Hours,
        DurationUnit::Days,
        DurationUnit::Weeks,
    ];

    /// The suffix as written.
    pub fn suffix(&self) -> &'static str {
        match self {
            DurationUnit::Seconds => "s",
            DurationUnit::Minutes => "min",
            DurationUnit::Hours => "h",
            DurationUnit::Days => "d",
            DurationUnit::Weeks => "w",
        }
    }

    /// Seconds in one unit.
    pub fn seconds(&self) -> i64 {
        match self {
            DurationUnit::Seconds => 1,
            DurationUnit::Minutes => 60,
            DurationUnit::Hours => 3_600,
            DurationUnit::Days => 86_400,
            DurationUnit::Weeks => 604_800,
        }
    }
}

/// A length of time: a whole number and a unit (`90d`, `12h`, `2w`, `30min`, `45s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    /// How many units.
    pub amount: u32,
    /// The unit.
    pub unit: DurationUnit,
}

impl Duration {
    /// The longest duration accepted: 100 years of 365 days.
    pub const MAX_SECONDS: i64 = 36_500 * 86_400;

    /// `amount` units.
    pub fn new(amount: u32, unit: DurationUnit) -> Self {
        Self { amount, unit }
    }

    /// `amount` days.
    pub fn days(amount: u32) -> Self {
        Self::new(amount, DurationUnit::Days)
    }

    /// The length in seconds.
    pub fn seconds(&self) -> i64 {
        i64::from(self.amount) * self.unit.seconds()
    }

    /// The length as a chrono delta.
    pub fn to_delta(&self) -> TimeDelta {
        TimeDelta::seconds(self.seconds())
    }

    /// Parses `90d` (whole number, unit `s`, `min`, `h`, `d` or `w`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        Self::from_parts(digits, unit)
    }

    /// Builds a duration from its digits and unit, explaining what is wrong.
    pub(crate) fn from_parts(digits: &str, unit: &str) -> Result<Self, String> {
        let text = format!("{digits}{unit}");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "`{text}` is not a duration (a whole number and s, min, h, d or w: `90d`)"
            ));
        }
        let unit = match unit {
            "s" => DurationUnit::Seconds,
            "min" => DurationUnit::Minutes,
            "h" => DurationUnit::Hours,
            "d" => DurationUnit::Days,
            "w" => DurationUnit::Weeks,
            "m" => {
                return Err(format!(
                    "`{text}` is ambiguous: write `{digits}min` for minutes, or days for months \
                     (`{}d`)",
                    digits.parse::<u64>().unwrap_or(1).saturating_mul(30)
                ))
            }
            "mo" | "mon" | "month" | "months" | "y" | "yr" | "year" | "years" => {
                return Err(format!(
                    "`{text}`: months and years vary in length; write days or weeks instead \
                     (`30d`, `365d`)"
                ))
            }
            other => {
                let currency_hint = if other.len() == 3 && Currency::parse(other).is_ok() {
                    format!("; for money write a space: `{digits} {other}`")
                } else {
                    String::new()
                };
                return Err(format!(
                    "unknown duration unit `{other}` in `{text}` (use s, min, h, d or w){currency_hint}"
                ));
            }
        };
        let amount: u32 = digits
            .parse()
            .map_err(|_| format!("`{text}` is too long (at most 100 years)"))?;
        let duration = Self::new(amount, unit);
        if duration.seconds() > Self::MAX_SECONDS {
            return Err(format!("`{text}` is too long (at most 100 years)"));
        }
        Ok(duration)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A point in time, fixed or relative to the moment of evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeValue {
    /// `now()` or a fixed time.
    pub base: TimeBase,
    /// `- 90d`, `+ 1w`.
    pub offset: Option<TimeOffset>,
}

impl TimeValue {
    /// `now()`.
    pub fn now() -> Self {
        Self {
            base: TimeBase::Now,
            offset: None,
        }
    }

    /// `now() - duration`.
    pub fn now_minus(duration: Duration) -> Self {
        Self {
            base: TimeBase::Now,
            offset: Some(TimeOffset {
                sign: Sign::Minus,
                duration,
            }),
        }
    }

    /// A fixed time.
    pub fn at(at: DateTime<Utc>) -> Self {
        Self {
            base: TimeBase::At(at),
            offset: None,
        }
    }

    /// Whether the value moves with the clock (`now()`).
    pub fn is_relative(&self) -> bool {
        self.base == TimeBase::Now
    }

    /// The offset as a signed delta (zero without one).
    pub fn offset_delta(&self) -> TimeDelta {
        match &self.offset {
            None => TimeDelta::zero(),
            Some(o) => match o.sign {
                Sign::Plus => o.duration.to_delta(),
                Sign::Minus => -o.duration.to_delta(),
            },
        }
    }

    /// The instant the value stands for at `now` (`None` if out of chrono's range).
    pub fn resolve(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let base = match self.base {
            TimeBase::Now => now,
            TimeBase::At(at) => at,
        };
        base.checked_add_signed(self.offset_delta())
    }
}

/// The base of a [`TimeValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeBase {
    /// `now()`: the moment of evaluation.
    Now,
    /// A fixed instant (a date is its midnight UTC).
    At(DateTime<Utc>),
}

impl TimeBase {
    fn to_string_json(self) -> String {
        match self {
            TimeBase::Now => "now".into(),
            TimeBase::At(at) => format_time(at),
        }
    }

    fn parse_json(text: &str) -> Result<TimeBase, String> {
        if text == "now" {
            Ok(TimeBase::Now)
        } else {
            parse_time_literal(text).map(TimeBase::At)
        }
    }
}

/// Prints a time as a date when it is midnight UTC, else as RFC 3339 in UTC.
pub(crate) fn format_time(at: DateTime<Utc>) -> String {
    if at.num_seconds_from_midnight() == 0 && at.nanosecond() == 0 {
        at.format("%Y-%m-%d").to_string()
    } else {
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

/// Parses a date (`2026-01-31`, midnight UTC) or an RFC 3339 time with a zone.
pub fn parse_time_literal(text: &str) -> Result<DateTime<Utc>, String> {
    if text.len() == 10 {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| format!("`{text}` is not a valid date"))?;
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_default());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{text}` is not a valid RFC 3339 time (2026-01-31T10:00:00Z)"))
}

/// `+` or `-` in a time offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sign {
    /// Later.
    Plus,
    /// Earlier.
    Minus,
}

/// `- 90d` after a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeOffset {
    /// Earlier or later.
    pub sign: Sign,
    /// By how much.
    pub duration: Duration,
}

impl TimeOffset {
    /// Parses `-90d` or `+7d`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (sign, rest) = if let Some(rest) = text.strip_prefix('-') {
            (Sign::Minus, rest)
        } else if let Some(rest) = text.strip_prefix('+') {
            (Sign::Plus, rest)
        } else {
            return Err(format!("`{text}` is not an offset (\"-90d\" or \"+7d\")"));
        };
        Ok(Self {
            sign,
            duration: Duration::parse(rest)?,
        })
    }
}

impl fmt::Display for TimeOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.sign {
            Sign::Plus => '+',
            Sign::Minus => '-',
        };
        write!(f, "{sign}{}", self.duration)
    }
}

/// Writes text in double quotes with `\"`, `\\`, `\n`, `\r`, `\t` and `\u{…}` escapes.
pub(crate) fn write_quoted(f: &mut impl fmt::Write, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact_and_normalised() {
        assert_eq!(Decimal::parse("500.00").unwrap(), Decimal::from_int(500));
        assert_eq!(Decimal::parse("-0.50").unwrap().to_string(), "-0.5");
        assert_eq!(Decimal::parse("0.07").unwrap().to_string(), "0.07");
        assert_eq!(Decimal::parse("0").unwrap().to_string(), "0");
        assert!(Decimal::parse("1234567890123456").is_err());
        assert!(Decimal::parse("1.").is_err());
        assert!(Decimal::parse("abc").is_err());
        let d = Decimal::parse("10.005").unwrap();
        assert_eq!(d.cmp_minor(1001, 2), Ordering::Greater);
        assert_eq!(d.cmp_minor(1000, 2), Ordering::Less);
        assert_eq!(
            Decimal::parse("5").unwrap().cmp_minor(500, 2),
            Ordering::Equal
        );
        assert!(Decimal::parse("0.7").unwrap() < Decimal::parse("0.71").unwrap());
        assert!(Decimal::parse("-1").unwrap() < Decimal::parse("0").unwrap());
        assert_eq!(Decimal::new(123, 40), Decimal::from_int(0));
        assert_eq!(Decimal::new(-1_000, 19).to_string(), "-0.0000000000000001");
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(Duration::parse("90d").unwrap(), Duration::days(90));
        assert_eq!(Duration::parse("30min").unwrap().seconds(), 1800);
        assert_eq!(Duration::parse("2w").unwrap().to_string(), "2w");
        assert!(Duration::parse("6m").unwrap_err().contains("ambiguous"));
        assert!(Duration::parse("1y").unwrap_err().contains("vary"));
        assert!(Duration::parse("40000d").unwrap_err().contains("100 years"));
        assert!(Duration::parse("5EUR").unwrap_err().contains("`5 EUR`"));
    }
}
