//! Tracking messages (Segment's `track`, `page`, `screen`, `identify`, `alias`, `group`) and
//! the identity merges they cause.

use crate::{AnonymousId, Attributes, CustomerId, MessageId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The Segment e-commerce v2 event names Embudo understands. Any other name is a custom event.
pub mod names {
    /// `page` calls are stored with this event name.
    pub const PAGE_VIEWED: &str = "Page Viewed";
    /// `screen` calls are stored with this event name.
    pub const SCREEN_VIEWED: &str = "Screen Viewed";
    /// Search.
    pub const PRODUCTS_SEARCHED: &str = "Products Searched";
    /// A category or list page.
    pub const PRODUCT_LIST_VIEWED: &str = "Product List Viewed";
    /// A product page.
    pub const PRODUCT_VIEWED: &str = "Product Viewed";
    /// A product clicked in a list.
    pub const PRODUCT_CLICKED: &str = "Product Clicked";
    /// Added to cart.
    pub const PRODUCT_ADDED: &str = "Product Added";
    /// Removed from cart.
    pub const PRODUCT_REMOVED: &str = "Product Removed";
    /// Cart page.
    pub const CART_VIEWED: &str = "Cart Viewed";
    /// Checkout began.
    pub const CHECKOUT_STARTED: &str = "Checkout Started";
    /// Payment details given.
    pub const PAYMENT_INFO_ENTERED: &str = "Payment Info Entered";
    /// An order was placed; creates or updates the order.
    pub const ORDER_COMPLETED: &str = "Order Completed";
    /// An order was refunded (all or part).
    pub const ORDER_REFUNDED: &str = "Order Refunded";
    /// An order was cancelled.
    pub const ORDER_CANCELLED: &str = "Order Cancelled";
    /// A coupon was applied.
    pub const COUPON_APPLIED: &str = "Coupon Applied";
    /// Wishlist.
    pub const PRODUCT_ADDED_TO_WISHLIST: &str = "Product Added to Wishlist";
    /// A review.
    pub const PRODUCT_REVIEWED: &str = "Product Reviewed";

    /// Every standard e-commerce name.
    pub const ALL: &[&str] = &[
        PAGE_VIEWED,
        PRODUCTS_SEARCHED,
        PRODUCT_LIST_VIEWED,
        PRODUCT_VIEWED,
        PRODUCT_CLICKED,
        PRODUCT_ADDED,
        PRODUCT_REMOVED,
        CART_VIEWED,
        CHECKOUT_STARTED,
        PAYMENT_INFO_ENTERED,
        ORDER_COMPLETED,
        ORDER_REFUNDED,
        ORDER_CANCELLED,
        COUPON_APPLIED,
        PRODUCT_ADDED_TO_WISHLIST,
        PRODUCT_REVIEWED,
    ];
}

/// The kind of tracking call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// An action (`event` names it).
    Track,
    /// A web page view.
    Page,
    /// An app screen view.
    Screen,
    /// Who the user is, with traits.
    Identify,
    /// Two ids are the same person.
    Alias,
    /// The user belongs to a group (company, account).
    Group,
}

impl MessageKind {
    /// The name used in storage and Segment's `type` field.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Page => "page",
            Self::Screen => "screen",
            Self::Identify => "identify",
            Self::Alias => "alias",
            Self::Group => "group",
        }
    }

    /// Parses Segment's `type` field.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "track" => Self::Track,
            "page" => Self::Page,
            "screen" => Self::Screen,
            "identify" => Self::Identify,
            "alias" => Self::Alias,
            "group" => Self::Group,
            _ => return None,
        })
    }
}

/// Where a visit or an order came from (UTM fields and referrer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attribution {
    /// `utm_source` (google, newsletter…).
    #[serde(default)]
    pub source: Option<String>,
    /// `utm_medium` (cpc, email, social…).
    #[serde(default)]
    pub medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default)]
    pub campaign: Option<String>,
    /// `utm_term`.
    #[serde(default)]
    pub term: Option<String>,
    /// `utm_content`.
    #[serde(default)]
    pub content: Option<String>,
    /// The referring URL.
    #[serde(default)]
    pub referrer: Option<String>,
}

/// The parts of a message's `context` that analytics reads, plus the whole of it as sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventContext {
    /// `mobile`, `tablet`, `desktop`…
    pub device_type: Option<String>,
    /// The browser's user agent.
    pub user_agent: Option<String>,
    /// `en-GB`…
    pub locale: Option<String>,
    /// Country (`context.location.country`).
    pub country: Option<String>,
    /// City (`context.location.city`).
    pub city: Option<String>,
    /// The client's IP address.
    pub ip: Option<String>,
    /// Campaign fields and referrer.
    pub attribution: Attribution,
    /// The page URL (`context.page.url`).
    pub page_url: Option<String>,
    /// The context exactly as sent.
    #[schema(value_type = Object)]
    pub raw: Attributes,
}

/// A tracking message as stored: one row per Segment call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    /// Unique per call; a repeated id is ignored.
    pub message_id: MessageId,
    /// The kind of call.
    pub kind: MessageKind,
    /// The event name (`track`), page name (`page`, stored as "Page Viewed" when absent)…
    pub event: Option<String>,
    /// The visitor's anonymous id.
    pub anonymous_id: Option<AnonymousId>,
    /// The known customer's id.
    pub user_id: Option<CustomerId>,
    /// For `alias`: the id the person had before.
    pub previous_id: Option<String>,
    /// For `group`: the group's id.
    pub group_id: Option<String>,
    /// The session, when the client sends one (`context.sessionId` or `properties.session_id`).
    pub session_id: Option<String>,
    /// When it happened, by the client's clock (UTC).
    pub timestamp: DateTime<Utc>,
    /// When Embudo received it.
    pub received_at: DateTime<Utc>,
    /// Event properties.
    #[schema(value_type = Object)]
    pub properties: Attributes,
    /// Identify or group traits.
    #[schema(value_type = Object)]
    pub traits: Attributes,
    /// Device, location, campaign.
    pub context: EventContext,
}

/// A stored message with the person it was resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredEvent {
    /// The store's sequence number (insertion order).
    pub seq: i64,
    /// The customer this event belongs to, after identity resolution (none while anonymous).
    pub customer_id: Option<CustomerId>,
    /// The message.
    #[serde(flatten)]
    pub message: Message,
}

/// Why two identities became one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeReason {
    /// An `identify` call carried both ids.
    Identify,
    /// An `alias` call.
    Alias,
    /// An order named both the visitor and the customer.
    Order,
    /// Another call (track, page) carried both ids.
    Track,
}

impl MergeReason {
    /// The name used in storage and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Identify => "identify",
            Self::Alias => "alias",
            Self::Order => "order",
            Self::Track => "track",
        }
    }

    /// Parses the name used in storage and the API.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "identify" => Self::Identify,
            "alias" => Self::Alias,
            "order" => Self::Order,
            "track" => Self::Track,
            _ => return None,
        })
    }
}

/// A trace of one identity merge: an anonymous visitor linked to a customer, or one customer
/// folded into another (by `alias`). Nothing is deleted by a merge; this row says what moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentityMerge {
    /// The visitor linked, when a visitor was linked.
    pub anonymous_id: Option<AnonymousId>,
    /// The customer folded in, when two customers were merged.
    pub from_customer: Option<CustomerId>,
    /// The customer that now owns the history.
    pub into_customer: CustomerId,
    /// Why.
    pub reason: MergeReason,
    /// The message that caused it, when it came from tracking.
    pub message_id: Option<MessageId>,
    /// How many stored events moved to the customer.
    pub events_moved: i64,
    /// When.
    pub at: DateTime<Utc>,
}
