//! Logs: one JSON object per line, carrying the trace and span ids of the span it was
//! written in.
//!
//! `tracing-subscriber`'s own JSON formatter writes neither OpenTelemetry ids nor fields
//! that hold for the whole process, and nests span fields where log pipelines want them flat.
//! [`JsonLayer`] writes:
//!
//! ```text
//! {"timestamp":"2025-11-07T10:30:15.123456789Z","level":"INFO","message":"task done",
//!  "target":"node::exec","trace_id":"4bf9…4736","span_id":"00f0…02b7","span":"execute",
//!  "service":"execution","node_id":"node-3","task_id":"task-456","duration_ms":1523}
//! ```
//!
//! (on one line). The keys, in order: `timestamp` (RFC 3339, UTC, nanoseconds), `level`,
//! `message`, `target`, then `trace_id`, `span_id` and `span` (the innermost span's name) when
//! the event happened inside a span (outside a `tracing` span, the ids are those of the
//! OpenTelemetry context attached to the thread, if any), then the persistent fields (service, node id and any
//! others configured), the event's own fields, and the fields of every enclosing span from
//! the innermost out. A key is written once: the first writer wins, so an event's field
//! shadows a span's field of the same name; a field that would overwrite one of the fixed
//! keys is written as `fields.<name>` instead.
//!
//! The same events can also leave the process as OpenTelemetry log records over OTLP
//! ([`Config::otlp_logs`](crate::Config::otlp_logs)): [`LogPipeline`] batches and exports
//! them, and [`bridge`] is the `tracing` layer that feeds it.

mod export;

pub use export::{ExportedLog, LogPipeline, MemoryLogs, Severity};

/// A `tracing` layer that turns every event into a log record of `provider` (a
/// [`LogPipeline::provider`]): severity from the level, body from the message, attributes
/// from the fields, and the trace and span ids of the OpenTelemetry context current when
/// the event happens (the span it happened in, once `tracing-opentelemetry` is installed
/// beside it, as [`crate::init`] does).
pub fn bridge(
    provider: &opentelemetry_sdk::logs::SdkLoggerProvider,
) -> opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge<
    opentelemetry_sdk::logs::SdkLoggerProvider,
    opentelemetry_sdk::logs::SdkLogger,
> {
    opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(provider)
}

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

const RESERVED: [&str; 7] = [
    "timestamp",
    "level",
    "message",
    "target",
    "trace_id",
    "span_id",
    "span",
];

/// A layer writing each event as one JSON line to a writer.
pub struct JsonLayer<W> {
    make_writer: W,
    /// The persistent fields, pre-rendered as `,"key":value` pairs.
    persistent: String,
    persistent_keys: Vec<String>,
    /// The dispatcher this layer is part of, once built: where the OpenTelemetry layer's
    /// span contexts are read from. (Asking for the current dispatcher from inside an
    /// event gives none when the dispatcher is a scoped one.)
    dispatch: Arc<OnceLock<tracing::dispatcher::WeakDispatch>>,
}

impl<W> std::fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLayer")
            .field("persistent_keys", &self.persistent_keys)
            .finish_non_exhaustive()
    }
}

impl<W> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// Returns a layer writing to `make_writer` (for example a `tracing_appender`
    /// non-blocking writer) with the given persistent fields on every line.
    pub fn new(make_writer: W, persistent: impl IntoIterator<Item = (String, Value)>) -> Self {
        let mut rendered = String::new();
        let mut keys = Vec::new();
        for (key, value) in persistent {
            if RESERVED.contains(&key.as_str()) || keys.contains(&key) {
                continue;
            }
            push_key(&mut rendered, &key);
            rendered.push_str(&value.to_string());
            keys.push(key);
        }
        Self {
            make_writer,
            persistent: rendered,
            persistent_keys: keys,
            dispatch: Arc::default(),
        }
    }

    /// Tells the layer which dispatcher it is part of, so that lines carry the trace and
    /// span ids of the OpenTelemetry layer beside it; [`crate::build`] does it.
    pub fn set_dispatch(&self, dispatch: &tracing::Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
    }

    /// A handle to set the dispatcher once the layer has moved into a subscriber.
    pub(crate) fn dispatch_slot(&self) -> Arc<OnceLock<tracing::dispatcher::WeakDispatch>> {
        self.dispatch.clone()
    }
}

/// The recorded fields of a span, kept in its extensions.
#[derive(Default)]
struct SpanFields(Vec<(&'static str, Value)>);

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut FieldVisitor(&mut fields.0));
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            let mut recorded = Vec::new();
            values.record(&mut FieldVisitor(&mut recorded));
            for (k, v) in recorded {
                match fields.0.iter_mut().find(|(key, _)| *key == k) {
                    Some(slot) => slot.1 = v,
                    None => fields.0.push((k, v)),
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut event_fields = Vec::new();
        event.record(&mut FieldVisitor(&mut event_fields));
        let meta = event.metadata();

        let mut line = String::with_capacity(256);
        line.push_str("{\"timestamp\":\"");
        let _ = write!(
            line,
            "{}",
            humantime::format_rfc3339_nanos(std::time::SystemTime::now())
        );
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push('"');
        let message = event_fields
            .iter()
            .position(|(k, _)| *k == "message")
            .map(|i| event_fields.remove(i).1);
        push_key(&mut line, "message");
        match message {
            Some(Value::String(s)) => push_json_str(&mut line, &s),
            Some(other) => push_json_str(&mut line, &other.to_string()),
            None => line.push_str("\"\""),
        }
        push_key(&mut line, "target");
        push_json_str(&mut line, meta.target());

        let span = ctx.event_span(event);
        // A `tracing` span's ids first; outside one, those of the OpenTelemetry context
        // the code attached (`Context::attach`), for spans made with the OpenTelemetry API.
        let ids = span
            .as_ref()
            .and_then(|span| otel_ids(&span.id(), &self.dispatch))
            .or_else(attached_ids);
        if let Some((trace_id, span_id)) = ids {
            push_key(&mut line, "trace_id");
            push_json_str(&mut line, &trace_id);
            push_key(&mut line, "span_id");
            push_json_str(&mut line, &span_id);
        }
        if let Some(span) = &span {
            push_key(&mut line, "span");
            push_json_str(&mut line, span.name());
        }
        line.push_str(&self.persistent);

        let mut written: Vec<&str> = self.persistent_keys.iter().map(String::as_str).collect();
        let push_field =
            |line: &mut String, key: &'static str, value: &Value, written: &mut Vec<&str>| {
                if written.contains(&key) {
                    return;
                }
                written.push(key);
                if RESERVED.contains(&key) {
                    push_key(line, &format!("fields.{key}"));
                } else {
                    push_key(line, key);
                }
                line.push_str(&value.to_string());
            };
        for (k, v) in &event_fields {
            push_field(&mut line, k, v, &mut written);
        }
        if let Some(span) = span {
            for s in span.scope() {
                let extensions = s.extensions();
                if let Some(fields) = extensions.get::<SpanFields>() {
                    for (k, v) in &fields.0 {
                        push_field(&mut line, k, v, &mut written);
                    }
                }
            }
        }
        line.push_str("}\n");
        // A failing log writer has nowhere to report to; dropping the line is all it can do.
        let _ = self
            .make_writer
            .make_writer_for(meta)
            .write_all(line.as_bytes());
    }
}

/// Returns the trace and span ids of the OpenTelemetry context attached to this thread, if
/// it holds a valid span context.
fn attached_ids() -> Option<(String, String)> {
    use opentelemetry::trace::TraceContextExt as _;
    let cx = opentelemetry::Context::current();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// Returns the OpenTelemetry trace and span ids of a `tracing` span, if
/// `tracing-opentelemetry` is installed and the span has a valid context.
fn otel_ids(
    id: &Id,
    known: &OnceLock<tracing::dispatcher::WeakDispatch>,
) -> Option<(String, String)> {
    use opentelemetry::trace::TraceContextExt as _;
    let ids = |dispatch: &tracing::Dispatch| {
        let cx = tracing_opentelemetry::get_otel_context(id, dispatch)?;
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid()
            .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
    };
    match known
        .get()
        .and_then(tracing::dispatcher::WeakDispatch::upgrade)
    {
        Some(dispatch) => ids(&dispatch),
        None => tracing::dispatcher::get_default(ids),
    }
}

fn push_key(line: &mut String, key: &str) {
    line.push(',');
    push_json_str(line, key);
    line.push(':');
}

fn push_json_str(line: &mut String, s: &str) {
    // serde_json's string escaping; writing to a String cannot fail.
    let _ = serde_json::to_writer(StringWriter(line), s);
}

/// Adapts a `String` to `io::Write` for serde_json, which writes valid UTF-8 only.
struct StringWriter<'a>(&'a mut String);

impl std::io::Write for StringWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = std::str::from_utf8(buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        self.0.push_str(s);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A log writer that keeps every line in memory, for tests that assert on a node's logs.
///
/// ```
/// use skywatch_sdk::{Config, LogWriter, log::MemoryWriter, metrics::Registry};
///
/// let logs = MemoryWriter::new();
/// let (_telemetry, dispatch) = skywatch_sdk::build(
///     Config::new("test", "1.0.0")
///         .registry(Registry::new())
///         .log_writer(LogWriter::Custom(tracing_subscriber::fmt::writer::BoxMakeWriter::new(logs.clone()))),
/// )
/// .unwrap();
/// tracing::dispatcher::with_default(&dispatch, || tracing::info!(peers = 3, "joined"));
/// let lines = logs.json_lines().unwrap();
/// assert_eq!(lines[0]["message"], "joined");
/// assert_eq!(lines[0]["peers"], 3);
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryWriter(Arc<Mutex<Vec<u8>>>);

impl MemoryWriter {
    /// Returns an empty writer; clones share the same buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns everything written so far.
    pub fn contents(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Returns every line written so far, parsed as JSON.
    pub fn json_lines(&self) -> Result<Vec<serde_json::Map<String, Value>>, serde_json::Error> {
        self.contents().lines().map(serde_json::from_str).collect()
    }
}

impl std::io::Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for MemoryWriter {
    type Writer = MemoryWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

struct FieldVisitor<'a>(&'a mut Vec<(&'static str, Value)>);

impl FieldVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        // `log` records bridged by tracing-log carry their metadata as `log.*` fields, and
        // `otel.*` fields are instructions to tracing-opentelemetry: neither is log content.
        if name.starts_with("log.") || name.starts_with("otel.") {
            return;
        }
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, v);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[test]
    fn writes_fixed_persistent_event_and_span_fields_once_each() {
        let capture = MemoryWriter::new();
        let layer = JsonLayer::new(
            capture.clone(),
            [
                ("service".to_owned(), Value::from("execution")),
                ("node_id".to_owned(), Value::from("node-3")),
                ("level".to_owned(), Value::from("ignored: reserved")),
            ],
        );
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!(
                "guild",
                guild_id = "g-1",
                task_id = "outer",
                otel.kind = "server"
            );
            let _o = outer.enter();
            let inner = tracing::info_span!(
                "execute",
                task_id = "task-456",
                status = tracing::field::Empty
            );
            let _i = inner.enter();
            inner.record("status", "running");
            tracing::info!(
                duration_ms = 1523u64,
                ok = true,
                ratio = 0.5,
                level = 3,
                "task \"done\""
            );
        });
        let lines = capture.json_lines().unwrap();
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        let keys: Vec<&str> = l.keys().map(String::as_str).collect();
        // serde_json's map sorts keys; presence and values are what matter here.
        for key in [
            "timestamp",
            "level",
            "message",
            "target",
            "span",
            "service",
            "node_id",
        ] {
            assert!(keys.contains(&key), "{key} missing from {l:?}");
        }
        assert_eq!(l["level"], "INFO");
        assert_eq!(l["message"], "task \"done\"");
        assert_eq!(l["span"], "execute");
        assert_eq!(l["service"], "execution");
        assert_eq!(l["task_id"], "task-456", "the innermost span wins");
        assert_eq!(l["guild_id"], "g-1");
        assert_eq!(l["status"], "running", "fields recorded later are kept");
        assert_eq!(l["duration_ms"], 1523);
        assert_eq!(l["ok"], true);
        assert_eq!(l["ratio"], 0.5);
        assert_eq!(l["fields.level"], 3, "a reserved key is moved aside");
        assert!(
            !keys.contains(&"trace_id"),
            "no OpenTelemetry layer, no trace id"
        );
        let ts = l["timestamp"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
    }

    #[test]
    fn outside_a_tracing_span_the_attached_opentelemetry_context_gives_the_ids() {
        use opentelemetry::trace::{
            SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
        };
        let capture = MemoryWriter::new();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(capture.clone(), []));
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        tracing::subscriber::with_default(subscriber, || {
            {
                let _attached = opentelemetry::Context::new()
                    .with_remote_span_context(sc)
                    .attach();
                tracing::info!("inside");
            }
            tracing::info!("outside");
        });
        let lines = capture.json_lines().unwrap();
        assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(lines[0]["span_id"], "00f067aa0ba902b7");
        assert!(!lines[0].contains_key("span"), "{:?}", lines[0]);
        assert!(!lines[1].contains_key("trace_id"), "{:?}", lines[1]);
    }

    #[test]
    fn key_order_puts_fixed_keys_first() {
        let capture = MemoryWriter::new();
        let layer = JsonLayer::new(capture.clone(), [("service".to_owned(), Value::from("s"))]);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::warn!(a = 1, "m");
        });
        let raw = capture.contents();
        let order: Vec<usize> = [
            "\"timestamp\"",
            "\"level\"",
            "\"message\"",
            "\"target\"",
            "\"service\"",
            "\"a\"",
        ]
        .iter()
        .map(|k| raw.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{raw}");
        assert!(raw.ends_with("}\n"));
    }
}
