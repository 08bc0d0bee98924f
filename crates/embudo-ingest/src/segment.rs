//! The Segment HTTP tracking API wire format.
//!
//! Messages are read field by field from JSON rather than through a derived deserializer, so
//! that a bad message is refused with the exact field and reason (`properties: must be an
//! object`), and so that the quirks of real client libraries are accepted: numeric ids,
//! `originalTimestamp`, traits in `context.traits`, a batch-level `context`, clock skew
//! corrected with `sentAt`.

use chrono::{DateTime, Duration, Utc};
use embudo_core::{
    names, AnonymousId, Attributes, Attribution, CustomerId, EventContext, Message, MessageId,
    MessageKind, ValidationError,
};
use rand::RngCore;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::fmt;

/// Size limits, in bytes of (decompressed) JSON. Segment's own limits are the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// The largest single message (Segment: 32 KB).
    pub max_message_bytes: usize,
    /// The largest batch body (Segment: 500 KB).
    pub max_batch_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 32 * 1024,
            max_batch_bytes: 500 * 1024,
        }
    }
}

/// Why a message (or a whole body) was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageError {
    /// The message's position in its batch, for batches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The field at fault, as a dotted path; empty for the message as a whole.
    pub field: String,
    /// Why.
    pub reason: String,
    /// Whether the message was refused for its size (the HTTP layer answers 413).
    #[serde(skip)]
    pub too_large: bool,
}

impl MessageError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            index: None,
            field: field.into(),
            reason: reason.into(),
            too_large: false,
        }
    }

    fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }

    fn from_validation(prefix: &str, err: ValidationError) -> Self {
        let field = match (prefix.is_empty(), err.field.is_empty()) {
            (true, _) => err.field,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{}", err.field),
        };
        Self::new(field, err.reason)
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.index {
            write!(f, "batch.{i}: ")?;
        }
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.field, self.reason)
        }
    }
}

impl std::error::Error for MessageError {}

/// The messages of a batch that could be read, and the ones that could not.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    /// Valid messages with their index in the batch.
    pub messages: Vec<(usize, Message)>,
    /// Refused messages, by index.
    pub rejected: Vec<MessageError>,
}

/// How far in the future a timestamp may be (by the server's clock) before it is refused.
const MAX_FUTURE: Duration = Duration::hours(24);

/// Reads a `/v1/batch` body: `{"batch": [...], "context": {...}, "sentAt": "..."}`. Fails as a
/// whole only when the body is not such an object; each message is checked on its own.
pub fn parse_batch_body(
    body: &[u8],
    received_at: DateTime<Utc>,
    limits: &ParseLimits,
) -> Result<ParsedBatch, MessageError> {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow)]
        batch: Option<Vec<&'a RawValue>>,
        #[serde(default)]
        context: Option<Value>,
        #[serde(default, rename = "sentAt")]
        sent_at: Option<Value>,
    }
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| MessageError::new("", format!("the body is not a JSON batch object: {e}")))?;
    let batch = body
        .batch
        .ok_or_else(|| MessageError::new("batch", "is required (an array of messages)"))?;
    let shared_context = match body.context {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err(MessageError::new("context", "must be an object")),
    };
    let batch_sent_at = match &body.sent_at {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_time("sentAt", v)?),
    };
    let mut parsed = ParsedBatch::default();
    for (index, raw) in batch.into_iter().enumerate() {
        match parse_one(
            raw,
            None,
            received_at,
            limits,
            shared_context.as_ref(),
            batch_sent_at,
        ) {
            Ok(message) => parsed.messages.push((index, message)),
            Err(err) => parsed.rejected.push(err.at(index)),
        }
    }
    Ok(parsed)
}

/// Reads a single message from a `/v1/track`-style body. `kind` is the call's kind, implied by
/// the endpoint (a `type` field, when present, must agree).
pub fn parse_message(
    body: &[u8],
    kind: MessageKind,
    received_at: DateTime<Utc>,
    limits: &ParseLimits,
) -> Result<Message, MessageError> {
    if body.len() > limits.max_message_bytes {
        return Err(too_large(body.len(), limits.max_message_bytes));
    }
    let raw: &RawValue = serde_json::from_slice(body)
        .map_err(|e| MessageError::new("", format!("the body is not valid JSON: {e}")))?;
    parse_one(raw, Some(kind), received_at, limits, None, None)
}

fn too_large(size: usize, limit: usize) -> MessageError {
    MessageError {
        too_large: true,
        ..MessageError::new(
            "",
            format!("the message is {size} bytes, more than the limit of {limit} bytes"),
        )
    }
}

fn parse_one(
    raw: &RawValue,
    implied: Option<MessageKind>,
    received_at: DateTime<Utc>,
    limits: &ParseLimits,
    shared_context: Option<&Map<String, Value>>,
    batch_sent_at: Option<DateTime<Utc>>,
) -> Result<Message, MessageError> {
    let size = raw.get().len();
    if size > limits.max_message_bytes {
        return Err(too_large(size, limits.max_message_bytes));
    }
    let value: Value = serde_json::from_str(raw.get())
        .map_err(|e| MessageError::new("", format!("not valid JSON: {e}")))?;
    parse_value(value, implied, received_at, shared_context, batch_sent_at)
}

/// Reads one message that is already JSON (from the generator or a replay; no size limit).
/// `implied` is the call's kind when the source implies one; otherwise `type` must say it.
pub fn parse_json_message(
    value: Value,
    implied: Option<MessageKind>,
    received_at: DateTime<Utc>,
) -> Result<Message, MessageError> {
    parse_value(value, implied, received_at, None, None)
}

fn parse_value(
    value: Value,
    implied: Option<MessageKind>,
    received_at: DateTime<Utc>,
    shared_context: Option<&Map<String, Value>>,
    batch_sent_at: Option<DateTime<Utc>>,
) -> Result<Message, MessageError> {
    let Value::Object(mut obj) = value else {
        return Err(MessageError::new("", "a message must be a JSON object"));
    };

    let declared = match obj.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(MessageKind::parse(s).ok_or_else(|| {
            MessageError::new(
                "type",
                format!("`{s}` is not one of track, page, screen, identify, alias, group"),
            )
        })?),
        Some(_) => return Err(MessageError::new("type", "must be a string")),
    };
    let kind = match (implied, declared) {
        (Some(i), Some(d)) if i != d => {
            return Err(MessageError::new(
                "type",
                format!(
                    "is `{}` but this endpoint takes `{}` calls",
                    d.as_str(),
                    i.as_str()
                ),
            ))
        }
        (Some(i), _) => i,
        (None, Some(d)) => d,
        (None, None) => return Err(MessageError::new("type", "is required in a batch")),
    };

    let message_id = match take_id(&mut obj, &["messageId", "message_id"])? {
        Some(id) => {
            MessageId::parse(id).map_err(|e| MessageError::from_validation("messageId", e))?
        }
        None => generated_message_id(),
    };
    let user_id = take_id(&mut obj, &["userId", "user_id"])?
        .map(|id| CustomerId::parse(id).map_err(|e| MessageError::from_validation("userId", e)))
        .transpose()?;
    let anonymous_id = take_id(&mut obj, &["anonymousId", "anonymous_id"])?
        .map(|id| {
            AnonymousId::parse(id).map_err(|e| MessageError::from_validation("anonymousId", e))
        })
        .transpose()?;
    let previous_id = take_id(&mut obj, &["previousId", "previous_id"])?;
    let group_id = take_id(&mut obj, &["groupId", "group_id"])?;

    match kind {
        MessageKind::Alias => {
            if previous_id.is_none() {
                return Err(MessageError::new("previousId", "is required for alias"));
            }
            if user_id.is_none() {
                return Err(MessageError::new("userId", "is required for alias"));
            }
        }
        _ if user_id.is_none() && anonymous_id.is_none() => {
            return Err(MessageError::new(
                "userId",
                "either userId or anonymousId is required",
            ));
        }
        MessageKind::Group if group_id.is_none() => {
            return Err(MessageError::new("groupId", "is required for group"))
        }
        _ => {}
    }
    if let Some(previous) = &previous_id {
        CustomerId::parse(previous.clone())
            .map_err(|e| MessageError::from_validation("previousId", e))?;
    }

    let mut properties = take_object(&mut obj, "properties")?;
    let traits = take_object(&mut obj, "traits")?;
    let mut context = take_object(&mut obj, "context")?;
    if let Some(shared) = shared_context {
        for (k, v) in shared {
            context.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    let event = match kind {
        MessageKind::Track => {
            let name = match obj.get("event") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                Some(Value::String(_)) | None | Some(Value::Null) => {
                    return Err(MessageError::new("event", "is required for track"))
                }
                Some(_) => return Err(MessageError::new("event", "must be a string")),
            };
            if name.len() > 200 {
                return Err(MessageError::new("event", "must be at most 200 bytes"));
            }
            Some(name)
        }
        MessageKind::Page | MessageKind::Screen => {
            match obj.get("name") {
                Some(Value::String(s)) if !s.is_empty() => {
                    properties
                        .entry("name".to_string())
                        .or_insert_with(|| Value::String(s.clone()));
                }
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(_) => return Err(MessageError::new("name", "must be a string")),
            }
            Some(
                if kind == MessageKind::Page {
                    names::PAGE_VIEWED
                } else {
                    names::SCREEN_VIEWED
                }
                .to_string(),
            )
        }
        _ => None,
    };

    let sent_at = match obj.get("sentAt") {
        None | Some(Value::Null) => batch_sent_at,
        Some(v) => Some(parse_time("sentAt", v)?),
    };
    let client_time = match obj.get("timestamp").filter(|v| !v.is_null()) {
        Some(v) => Some(parse_time("timestamp", v)?),
        None => match obj.get("originalTimestamp").filter(|v| !v.is_null()) {
            Some(v) => Some(parse_time("originalTimestamp", v)?),
            None => None,
        },
    };
    // Like Segment: a device clock that is off shifts `timestamp` and `sentAt` alike, so the
    // true time is `received_at - (sentAt - timestamp)`.
    let timestamp = match (client_time, sent_at) {
        (Some(t), Some(s)) => received_at - (s - t),
        (Some(t), None) => t,
        (None, _) => received_at,
    };
    if timestamp > received_at + MAX_FUTURE {
        return Err(MessageError::new(
            "timestamp",
            "is more than 24 hours in the future",
        ));
    }

    let session_id = context
        .get("sessionId")
        .or_else(|| context.get("session_id"))
        .or_else(|| properties.get("session_id"))
        .and_then(id_text);

    let context = event_context(context, &properties);
    Ok(Message {
        message_id,
        kind,
        event,
        anonymous_id,
        user_id,
        previous_id,
        group_id,
        session_id,
        timestamp: truncate_micros(timestamp),
        received_at: truncate_micros(received_at),
        properties,
        traits,
        context,
    })
}

fn generated_message_id() -> MessageId {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    MessageId::parse(format!("srv-{}", hex::encode(bytes))).expect("generated id is valid")
}

/// Stores keep microseconds; cut here so a message reads back equal to what was parsed.
fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Takes the first present id field; numbers are accepted (some libraries send numeric ids).
fn take_id(obj: &mut Map<String, Value>, keys: &[&str]) -> Result<Option<String>, MessageError> {
    for key in keys {
        match obj.remove(*key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.is_empty() => continue,
            Some(Value::String(s)) => return Ok(Some(s)),
            Some(Value::Number(n)) => return Ok(Some(n.to_string())),
            Some(_) => return Err(MessageError::new(*key, "must be a string")),
        }
    }
    Ok(None)
}

fn take_object(obj: &mut Map<String, Value>, key: &str) -> Result<Attributes, MessageError> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(Attributes::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(MessageError::new(key, "must be an object")),
    }
}

fn parse_time(field: &str, value: &Value) -> Result<DateTime<Utc>, MessageError> {
    let Value::String(text) = value else {
        return Err(MessageError::new(
            field,
            "must be an ISO 8601 date-time string",
        ));
    };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            MessageError::new(
                field,
                format!("`{text}` is not an ISO 8601 date-time with a time zone"),
            )
        })
}

fn str_at<'a>(map: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut current = map;
    for key in parents {
        current = current.get(*key)?.as_object()?;
    }
    current.get(*last)?.as_str().filter(|s| !s.is_empty())
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_string)
}

/// The parts of `context` that analytics reads. Campaign fields come from `context.campaign`,
/// or else from the `utm_*` parameters of the page URL.
fn event_context(raw: Map<String, Value>, properties: &Map<String, Value>) -> EventContext {
    let page_url = owned(str_at(&raw, &["page", "url"]).or_else(|| str_at(properties, &["url"])));
    let referrer = owned(
        str_at(&raw, &["page", "referrer"])
            .or_else(|| str_at(&raw, &["referrer", "url"]))
            .or_else(|| str_at(properties, &["referrer"])),
    );
    let from_url = |name: &str| page_url.as_deref().and_then(|url| query_param(url, name));
    let campaign =
        |key: &str, utm: &str| owned(str_at(&raw, &["campaign", key])).or_else(|| from_url(utm));
    let attribution = Attribution {
        source: campaign("source", "utm_source"),
        medium: campaign("medium", "utm_medium"),
        campaign: campaign("name", "utm_campaign"),
        term: campaign("term", "utm_term"),
        content: campaign("content", "utm_content"),
        referrer,
    };
    EventContext {
        device_type: owned(str_at(&raw, &["device", "type"])).map(|d| d.to_ascii_lowercase()),
        user_agent: owned(str_at(&raw, &["userAgent"])),
        locale: owned(str_at(&raw, &["locale"])),
        country: owned(str_at(&raw, &["location", "country"])),
        city: owned(str_at(&raw, &["location", "city"])),
        ip: owned(str_at(&raw, &["ip"])),
        attribution,
        page_url,
        raw,
    }
}

/// One query parameter of a URL, percent-decoded ('+' as space).
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name && !v.is_empty()).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        if let Some(b) = escaped {
            out.push(b);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    fn track(body: &str) -> Result<Message, MessageError> {
        parse_message(
            body.as_bytes(),
            MessageKind::Track,
            now(),
            &ParseLimits::default(),
        )
    }

    #[test]
    fn reads_a_segment_track_call() {
        let m = track(
            r#"{"userId": 42, "anonymousId": "a1", "messageId": "m1", "event": "Product Viewed",
                "timestamp": "2026-11-25T10:00:00.123456789+01:00",
                "properties": {"product_id": "P1", "price": 19.99},
                "context": {"device": {"type": "Mobile"}, "campaign": {"source": "google", "medium": "cpc", "name": "bf"},
                            "page": {"url": "https://shop.example/p1", "referrer": "https://google.com"},
                            "location": {"country": "DE", "city": "Berlin"}, "sessionId": 77}}"#,
        )
        .unwrap();
        assert_eq!(m.user_id.unwrap().as_str(), "42");
        assert_eq!(m.event.as_deref(), Some("Product Viewed"));
        assert_eq!(
            m.timestamp,
            Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap() + Duration::microseconds(123456)
        );
        assert_eq!(m.context.device_type.as_deref(), Some("mobile"));
        assert_eq!(m.context.attribution.campaign.as_deref(), Some("bf"));
        assert_eq!(m.context.country.as_deref(), Some("DE"));
        assert_eq!(m.session_id.as_deref(), Some("77"));
    }

    #[test]
    fn campaign_falls_back_to_utm_parameters() {
        let m = track(r#"{"anonymousId":"a","event":"x","context":{"page":{"url":"https://s.example/?utm_source=news+letter&utm_medium=email&utm_campaign=%C3%A9t%C3%A9"}}}"#).unwrap();
        assert_eq!(m.context.attribution.source.as_deref(), Some("news letter"));
        assert_eq!(m.context.attribution.medium.as_deref(), Some("email"));
        assert_eq!(m.context.attribution.campaign.as_deref(), Some("été"));
    }

    #[test]
    fn sent_at_corrects_clock_skew() {
        // The device clock is one hour fast.
        let m = track(r#"{"anonymousId":"a","event":"x","timestamp":"2026-11-25T12:59:00Z","sentAt":"2026-11-25T13:00:00Z"}"#).unwrap();
        assert_eq!(m.timestamp, now() - Duration::minutes(1));
    }

    #[test]
    fn bad_messages_name_the_field() {
        let cases = [
            (r#"{"event":"x"}"#, "userId"),
            (r#"{"anonymousId":"a"}"#, "event"),
            (
                r#"{"anonymousId":"a","event":"x","properties":[1]}"#,
                "properties",
            ),
            (
                r#"{"anonymousId":"a","event":"x","timestamp":"yesterday"}"#,
                "timestamp",
            ),
            (
                r#"{"anonymousId":"a","event":"x","timestamp":"2026-11-25T10:00:00"}"#,
                "timestamp",
            ),
            (
                r#"{"anonymousId":"a","event":"x","timestamp":"2027-11-25T10:00:00Z"}"#,
                "timestamp",
            ),
            (r#"{"anonymousId":{"x":1},"event":"x"}"#, "anonymousId"),
            (r#"{"type":"page","anonymousId":"a","event":"x"}"#, "type"),
            (r#"[1,2]"#, ""),
        ];
        for (body, field) in cases {
            let err = track(body).unwrap_err();
            assert_eq!(err.field, field, "{body}: {err}");
        }
    }

    #[test]
    fn page_and_alias_calls() {
        let limits = ParseLimits::default();
        let page = parse_message(
            br#"{"anonymousId":"a","name":"Home"}"#,
            MessageKind::Page,
            now(),
            &limits,
        )
        .unwrap();
        assert_eq!(page.event.as_deref(), Some("Page Viewed"));
        assert_eq!(page.properties["name"], "Home");
        let alias = parse_message(
            br#"{"previousId":"a","userId":"u"}"#,
            MessageKind::Alias,
            now(),
            &limits,
        )
        .unwrap();
        assert_eq!(alias.previous_id.as_deref(), Some("a"));
        assert!(parse_message(br#"{"userId":"u"}"#, MessageKind::Alias, now(), &limits).is_err());
    }

    #[test]
    fn batches_keep_good_messages_and_report_bad_ones_by_index() {
        let body = br#"{"batch":[
            {"type":"track","anonymousId":"a","event":"x","messageId":"1"},
            {"type":"track","anonymousId":"a"},
            {"type":"identify","userId":"u","traits":{"email":"u@example.com"}}
        ], "context": {"library": {"name": "analytics-python"}}}"#;
        let parsed = parse_batch_body(body, now(), &ParseLimits::default()).unwrap();
        assert_eq!(parsed.messages.len(), 2);
        assert_eq!(parsed.messages[1].0, 2);
        assert_eq!(
            parsed.rejected,
            vec![MessageError::new("event", "is required for track").at(1)]
        );
        assert!(parsed.messages[0].1.context.raw.contains_key("library"));
        assert!(parse_batch_body(b"{}", now(), &ParseLimits::default()).is_err());
        assert!(parse_batch_body(b"nope", now(), &ParseLimits::default()).is_err());
    }

    #[test]
    fn oversized_messages_are_refused() {
        let limits = ParseLimits {
            max_message_bytes: 100,
            max_batch_bytes: 1000,
        };
        let big = format!(
            r#"{{"anonymousId":"a","event":"x","properties":{{"p":"{}"}}}}"#,
            "x".repeat(200)
        );
        let err = parse_message(big.as_bytes(), MessageKind::Track, now(), &limits).unwrap_err();
        assert!(err.too_large);
        let batch = format!(
            r#"{{"batch":[{}, {{"type":"track","anonymousId":"a","event":"x"}}]}}"#,
            big.replacen('{', r#"{"type":"track","#, 1)
        );
        let parsed = parse_batch_body(batch.as_bytes(), now(), &limits).unwrap();
        assert_eq!(parsed.rejected.len(), 1);
        assert_eq!(parsed.messages.len(), 1);
    }

    #[test]
    fn generated_message_ids_are_unique() {
        let a = track(r#"{"anonymousId":"a","event":"x"}"#).unwrap();
        let b = track(r#"{"anonymousId":"a","event":"x"}"#).unwrap();
        assert_ne!(a.message_id, b.message_id);
    }
}
