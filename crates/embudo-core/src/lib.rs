//! Embudo's shop data model.
//!
//! Every value that crosses a boundary (HTTP, importer, store) is parsed once into one of
//! these types; code that holds a [`ProductId`], an [`Email`] or a [`Money`] knows it is valid.
//! Money is an integer count of minor units plus an ISO 4217 currency, never a float. Times are
//! UTC ([`Timestamp`]).
#![deny(missing_docs)]

mod customer;
mod email;
mod error;
mod event;
mod id;
mod money;
mod order;
mod product;

pub use customer::{Consent, ConsentStatus, Customer, CustomerPatch, CustomerType};
pub use email::Email;
pub use error::{ValidationError, ValidationErrorKind};
pub use event::{
    names, Attribution, EventContext, IdentityMerge, MergeReason, Message, MessageKind, StoredEvent,
};
pub use id::{AnonymousId, CustomerId, MessageId, OrderId, ProductId, RefundId, MAX_ID_LEN};
pub use money::{decimal_to_minor, Currency, Money};
pub use order::{LineKind, Order, OrderLine, OrderStatus, Refund, StatusChange, StatusKind};
pub use product::Product;

/// A point in time, always UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Free-form JSON attributes (event properties, customer traits).
pub type Attributes = serde_json::Map<String, serde_json::Value>;
