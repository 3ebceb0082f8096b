//! The span store contract: how spans go in and how traces come out.
//!
//! Everything that receives spans (the OTLP receivers, the demo) holds a [`SpanStore`] and
//! calls [`SpanStore::append`]; everything that reads traces (the Tempo and Jaeger APIs,
//! TraceQL, the span metrics) reads through the same trait. Neither knows which store is
//! behind it: the persistent one, or the reference [`MemSpans`]. This crate holds only the
//! span model (OTLP's, without its wire format), the trait, its error type, the reference
//! store and the [`conformance_tests!`] suite every store must pass.
//!
//! ```
//! use spans::{MemSpans, Span, SpanId, SpanStore, TraceId, Window};
//!
//! let store = MemSpans::new();
//! let trace: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
//! let mut root = Span::new(trace, SpanId([1; 8]), "GET /api/tasks", 1_000, 9_000);
//! root.resource = spans::Resource::service("api").into();
//! store.append(&[root]).unwrap();
//!
//! let found = store.trace(&trace, Window::ALL).unwrap();
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].service_name(), "api");
//! ```
//!
//! # Writing
//!
//! [`SpanStore::append`] takes a batch (what one OTLP request carried). When it returns
//! `Ok`, every span of the batch is durable against the process being killed (a store with
//! files has written them to its write-ahead log) and visible to every read after. A batch
//! that fails is not half-kept: it is refused whole, and what was appended before stays.
//!
//! Spans of one trace may arrive in any order, in any number of batches, over any time; a
//! trace is whatever spans share its ID. The same span sent twice (same trace ID, span ID
//! and start) is kept once.
//!
//! # Reading
//!
//! A trace is read whole by ID ([`SpanStore::trace`]). Search walks traces
//! ([`SpanStore::scan`]), each trace once with all its spans, after a [`Hint`] that lets a
//! store skip traces that cannot match; the caller (TraceQL, Jaeger's search) decides what
//! matches. Times are Unix nanoseconds throughout, as OTLP has them.

pub mod conformance;
mod memory;

use std::collections::BTreeSet;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

pub use memory::MemSpans;

/// The resource attribute naming a span's service.
pub const SERVICE_NAME: &str = "service.name";

/// A trace's ID: 16 bytes, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TraceId(pub [u8; 16]);

/// A span's ID: 8 bytes, written as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SpanId(pub [u8; 8]);

/// Why a trace or span ID did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a {1} ID: give up to {2} hex digits, or the ID's bytes in base64")]
pub struct IdError(String, &'static str, usize);

fn parse_id<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N], IdError> {
    let err = || IdError(s.to_owned(), what, 2 * N);
    let hex = s.trim();
    if !hex.is_empty() && hex.len() <= 2 * N && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        // Shorter hex is left-padded with zeros, as Tempo and Jaeger take it.
        let padded = format!("{hex:0>width$}", width = 2 * N);
        let mut out = [0u8; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        return Ok(out);
    }
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(hex)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(hex))
        .map_err(|_| err())?;
    bytes.try_into().map_err(|_| err())
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

impl TraceId {
    /// Whether every byte is zero: OTLP's "no trace", which a span may not carry.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl SpanId {
    /// Whether every byte is zero: OTLP's "no span" (a root span's parent).
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }
}

impl std::str::FromStr for TraceId {
    type Err = IdError;
    /// Up to 32 hex digits (fewer are left-padded with zeros), or 16 bytes in base64.
    fn from_str(s: &str) -> Result<Self, IdError> {
        parse_id(s, "trace").map(Self)
    }
}

impl std::str::FromStr for SpanId {
    type Err = IdError;
    /// Up to 16 hex digits (fewer are left-padded with zeros), or 8 bytes in base64.
    fn from_str(s: &str) -> Result<Self, IdError> {
        parse_id(s, "span").map(Self)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// An attribute's value: OTLP's `AnyValue`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float, kept bit for bit.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values.
    Array(Vec<Value>),
    /// A list of key-value pairs.
    Map(Vec<KeyValue>),
    /// OTLP's `AnyValue` with no value set.
    Empty,
}

impl Value {
    /// The value as text, as Tempo and Jaeger show a tag's value: strings as they are,
    /// numbers and booleans as Go formats them, lists and maps as JSON.
    pub fn to_text(&self) -> String {
        match self {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Double(d) => d.to_string(),
            Value::Bytes(b) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(b)
            }
            Value::Array(items) => {
                let inner: Vec<String> = items.iter().map(Value::to_json_text).collect();
                format!("[{}]", inner.join(","))
            }
            Value::Map(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|kv| format!("{:?}:{}", kv.key, kv.value.to_json_text()))
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
            Value::Empty => String::new(),
        }
    }

    fn to_json_text(&self) -> String {
        match self {
            Value::String(s) => format!("{s:?}"),
            Value::Empty => "null".into(),
            other => other.to_text(),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// One attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// Its key, such as `http.method`.
    pub key: String,
    /// Its value.
    pub value: Value,
}

impl KeyValue {
    /// An attribute.
    pub fn new(key: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The value of the attribute `key` in `attributes`, if there is one.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes.iter().find(|a| a.key == key).map(|a| &a.value)
}

/// What produced spans: a service instance, described by its attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resource {
    /// Its attributes, such as `service.name`.
    pub attributes: Vec<KeyValue>,
    /// How many attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// The schema URL the sender gave for the resource.
    pub schema_url: String,
}

impl Resource {
    /// A resource with only `service.name`.
    pub fn service(name: &str) -> Self {
        Self {
            attributes: vec![KeyValue::new(SERVICE_NAME, name)],
            ..Self::default()
        }
    }
}

/// The instrumentation scope (library) that made spans.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scope {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// How many attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// The schema URL the sender gave for the scope.
    pub schema_url: String,
}

/// A span's kind, with OTLP's numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpanKind {
    /// Not said.
    #[default]
    Unspecified = 0,
    /// Internal work.
    Internal = 1,
    /// Serving a remote request.
    Server = 2,
    /// Making a remote request.
    Client = 3,
    /// Sending a message.
    Producer = 4,
    /// Receiving a message.
    Consumer = 5,
}

impl SpanKind {
    /// The kind with OTLP's number; `None` for a number OTLP does not define.
    pub fn from_i32(n: i32) -> Option<Self> {
        Some(match n {
            0 => Self::Unspecified,
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => return None,
        })
    }

    /// The kind as TraceQL and Tempo write it: `unspecified`, `internal`, `server`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

/// A span's status code, with OTLP's numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusCode {
    /// Not set.
    #[default]
    Unset = 0,
    /// Succeeded, as the application says.
    Ok = 1,
    /// Failed.
    Error = 2,
}

impl StatusCode {
    /// The code with OTLP's number; `None` for a number OTLP does not define.
    pub fn from_i32(n: i32) -> Option<Self> {
        Some(match n {
            0 => Self::Unset,
            1 => Self::Ok,
            2 => Self::Error,
            _ => return None,
        })
    }

    /// The code as TraceQL writes it: `unset`, `ok`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "unset",
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}

/// A span's status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// Its code.
    pub code: StatusCode,
    /// Its message, if any.
    pub message: String,
}

/// Something that happened during a span, at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event {
    /// When, in Unix nanoseconds.
    pub time: u64,
    /// Its name, such as `exception`.
    pub name: String,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// How many attributes the sender dropped.
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span, of this trace or another.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Link {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// Its W3C trace state.
    pub trace_state: String,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// How many attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Its W3C trace flags.
    pub flags: u32,
}

/// One span, as OTLP carries it, with its resource and scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its ID, unique within the trace.
    pub span_id: SpanId,
    /// Its parent's ID; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// Its W3C trace state.
    pub trace_state: String,
    /// Its W3C trace flags.
    pub flags: u32,
    /// Its name (the operation).
    pub name: String,
    /// Its kind.
    pub kind: SpanKind,
    /// When it started, in Unix nanoseconds.
    pub start: u64,
    /// When it ended, in Unix nanoseconds.
    pub end: u64,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// How many attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Its events.
    pub events: Vec<Event>,
    /// How many events the sender dropped.
    pub dropped_events_count: u32,
    /// Its links.
    pub links: Vec<Link>,
    /// How many links the sender dropped.
    pub dropped_links_count: u32,
    /// Its status.
    pub status: Status,
    /// What produced it, shared by the spans of one resource in a batch.
    pub resource: Arc<Resource>,
    /// The library that made it, shared likewise.
    pub scope: Arc<Scope>,
}

impl Span {
    /// A span with the given identity, name and times, and nothing else.
    pub fn new(trace_id: TraceId, span_id: SpanId, name: &str, start: u64, end: u64) -> Self {
        Self {
            trace_id,
            span_id,
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            name: name.to_owned(),
            kind: SpanKind::Unspecified,
            start,
            end,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status::default(),
            resource: Arc::default(),
            scope: Arc::default(),
        }
    }

    /// Its service: the resource's `service.name`, or empty.
    pub fn service_name(&self) -> &str {
        attribute(&self.resource.attributes, SERVICE_NAME)
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// How long it took, in nanoseconds (zero if it ends before it starts).
    pub fn duration(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Its attributes in `scope`: the resource's or its own.
    pub fn attributes_in(&self, scope: AttributeScope) -> &[KeyValue] {
        match scope {
            AttributeScope::Resource => &self.resource.attributes,
            AttributeScope::Span => &self.attributes,
        }
    }

    /// Whether it has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }
}

/// A closed range of Unix nanoseconds `[start, end]`: a span is in it when the two
/// overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first instant.
    pub start: u64,
    /// The last instant.
    pub end: u64,
}

impl Window {
    /// All time.
    pub const ALL: Window = Window {
        start: 0,
        end: u64::MAX,
    };

    /// Whether a span from `start` to `end` overlaps the window.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        start <= self.end && end.max(start) >= self.start
    }
}

/// Where an attribute is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttributeScope {
    /// On the resource (`resource.` in TraceQL).
    Resource,
    /// On the span (`span.` in TraceQL).
    Span,
}

/// What a search is certain to require of a trace, so that a store can skip traces
/// without it; a store may ignore any part of a hint, and a hint never makes a store skip
/// a trace that has what it names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hint {
    /// Some span of the trace has this service.
    pub service: Option<String>,
    /// Some span of the trace has this name.
    pub span_name: Option<String>,
    /// Some span has each of these attributes with this string value.
    pub attributes: Vec<(AttributeScope, String, String)>,
    /// Some span lasts at least this many nanoseconds.
    pub min_span_duration: Option<u64>,
}

impl Hint {
    /// Whether some span of `trace` has each thing the hint names: what a trace must
    /// satisfy not to be skipped. Stores that test hints against whole traces use it.
    pub fn matches(&self, trace: &[Span]) -> bool {
        let has = |f: &dyn Fn(&Span) -> bool| trace.iter().any(f);
        self.service
            .as_deref()
            .is_none_or(|s| has(&|x| x.service_name() == s))
            && self
                .span_name
                .as_deref()
                .is_none_or(|n| has(&|x| x.name == n))
            && self
                .min_span_duration
                .is_none_or(|d| has(&|x| x.duration() >= d))
            && self.attributes.iter().all(|(scope, key, value)| {
                has(&|x| {
                    attribute(x.attributes_in(*scope), key).is_some_and(|v| v.to_text() == *value)
                })
            })
    }
}

/// An error from a span store.
#[derive(Debug, thiserror::Error)]
pub enum SpanError {
    /// An I/O operation failed. Retrying may help if the cause (disk full, permissions) is
    /// fixed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, for example "writing".
        op: &'static str,
        /// The file or directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Stored bytes are not what was written.
    #[error("corrupt data in {path} at byte {offset}: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// The byte offset where the damage starts.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// A span breaks the model's rules (a zero trace or span ID). Nothing of its batch was
    /// kept.
    #[error("span {index} of the batch: {message}")]
    Invalid {
        /// The span's position in the batch.
        index: usize,
        /// What is wrong, and what would fix it.
        message: String,
    },
    /// A limit of the store was reached; nothing of the batch was kept.
    #[error("{limit} ({value}) reached: {message}")]
    Limit {
        /// The limit's name, as it is configured.
        limit: &'static str,
        /// Its value.
        value: u64,
        /// What was refused, and what would fix it.
        message: String,
    },
    /// The store was closed.
    #[error("the span store is closed")]
    Closed,
}

/// The attribute keys seen, by scope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TagNames {
    /// Keys of resource attributes.
    pub resource: BTreeSet<String>,
    /// Keys of span attributes.
    pub span: BTreeSet<String>,
}

/// A store of spans.
pub trait SpanStore: Send + Sync {
    /// Keeps a batch of spans: all of them, durably, or none (see the crate's docs).
    fn append(&self, spans: &[Span]) -> Result<(), SpanError>;

    /// Every span of the trace with a span overlapping `window`, ordered by start time then
    /// span ID; empty when there is none.
    fn trace(&self, id: &TraceId, window: Window) -> Result<Vec<Span>, SpanError>;

    /// Calls `visit` with each trace that has a span overlapping `window`, once, with all
    /// of the trace's spans (ordered as [`SpanStore::trace`] orders them); may skip traces
    /// that cannot satisfy `hint`. Newest traces (by their latest span end) come first as
    /// far as the store can tell cheaply; `visit` returns `Break` to stop.
    fn scan(
        &self,
        window: Window,
        hint: &Hint,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<(), SpanError>;

    /// The attribute keys of the spans overlapping `window`.
    fn tag_names(&self, window: Window) -> Result<TagNames, SpanError>;

    /// The distinct values (as [`Value::to_text`] writes them) of attribute `key` in
    /// `scope`, on spans overlapping `window`; at most `limit` of them, the first in order.
    fn tag_values(
        &self,
        window: Window,
        scope: AttributeScope,
        key: &str,
        limit: usize,
    ) -> Result<BTreeSet<String>, SpanError>;

    /// The span names and kinds of `service`'s spans overlapping `window`.
    fn operations(
        &self,
        window: Window,
        service: &str,
    ) -> Result<BTreeSet<(String, SpanKind)>, SpanError>;
}

/// Checks a batch against the model's rules before a store keeps any of it.
pub fn validate(spans: &[Span]) -> Result<(), SpanError> {
    for (index, s) in spans.iter().enumerate() {
        let message = if s.trace_id.is_zero() {
            "its trace ID is all zeros: a span needs a trace ID"
        } else if s.span_id.is_zero() {
            "its span ID is all zeros: a span needs a span ID"
        } else {
            continue;
        };
        return Err(SpanError::Invalid {
            index,
            message: message.into(),
        });
    }
    Ok(())
}

/// Orders a trace's spans as [`SpanStore::trace`] returns them and drops repeats (the same
/// span ID and start).
pub fn normalize(spans: &mut Vec<Span>) {
    spans.sort_by_key(|s| (s.start, s.span_id));
    spans.dedup_by(|a, b| a.span_id == b.span_id && a.start == b.start);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_from_hex_short_hex_and_base64_and_print_as_hex() {
        let full: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
        assert_eq!(full.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let upper: TraceId = "4BF92F3577B34DA6A3CE929D0E0E4736".parse().unwrap();
        assert_eq!(upper, full);
        let short: TraceId = "a3ce929d0e0e4736".parse().unwrap();
        assert_eq!(short.to_string(), "0000000000000000a3ce929d0e0e4736");
        let b64: TraceId = "S/kvNXezTaajzpKdDg5HNg==".parse().unwrap();
        assert_eq!(b64, full);
        let span: SpanId = "00f067aa0ba902b7".parse().unwrap();
        assert_eq!(span.to_string(), "00f067aa0ba902b7");
        assert_eq!("f067aa0ba902b7".parse::<SpanId>().unwrap(), span);
        for bad in ["", "xyz", "4bf92f3577b34da6a3ce929d0e0e47361", "AAAA=="] {
            let e = bad.parse::<TraceId>().unwrap_err().to_string();
            assert!(e.contains("up to 32 hex digits"), "{bad}: {e}");
        }
    }

    #[test]
    fn values_read_as_tempo_shows_them() {
        assert_eq!(Value::Int(42).to_text(), "42");
        assert_eq!(Value::Double(0.5).to_text(), "0.5");
        assert_eq!(Value::Bool(true).to_text(), "true");
        assert_eq!(
            Value::Array(vec!["a".into(), Value::Int(1)]).to_text(),
            r#"["a",1]"#
        );
    }

    #[test]
    fn a_window_holds_the_spans_that_overlap_it() {
        let w = Window { start: 10, end: 20 };
        assert!(w.overlaps(5, 10) && w.overlaps(20, 30) && w.overlaps(12, 13));
        assert!(!w.overlaps(0, 9) && !w.overlaps(21, 30));
        // A span ending before it starts is an instant at its start.
        assert!(w.overlaps(15, 3) && !w.overlaps(25, 3));
    }
}
