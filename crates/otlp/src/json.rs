//! OTLP/JSON: the protobuf JSON mapping with OTLP's deviations, read into and written
//! from the generated protobuf types, in this one place.
//!
//! `opentelemetry-proto`'s `with-serde` feature derives serde for the same types, but it
//! does not read or write OTLP/JSON as the specification has it, so Skywatch does not use
//! it:
//!
//! - doubles that are `NaN` or infinite are written as `null` and cannot be read back:
//!   protobuf's JSON mapping writes them as the strings `"NaN"`, `"Infinity"` and
//!   `"-Infinity"` (an attribute `{"doubleValue": "NaN"}` fails to parse);
//! - `ArrayValue` and `KeyValueList` have no defaults, so `{"arrayValue": {}}` fails where
//!   protobuf's mapping reads the empty list;
//! - 32-bit integers (`droppedAttributesCount`, `flags`) must be numbers, where the mapping
//!   accepts decimal strings too;
//! - snake_case keys are ignored as unknown fields, so a request written with them reads
//!   as empty and its data is dropped without a word. OTLP says senders MUST use
//!   lowerCamelCase; the Collector reads the original names too, and so does Skywatch;
//! - errors say the line and column but not the field (`invalid digit found in string`).
//!
//! What this module reads: keys in lowerCamelCase or snake_case (unknown keys ignored,
//! `null` as the field's default), trace and span IDs as case-insensitive hex, enums as
//! integers (or, as the Collector accepts, their names), 64-bit integers as numbers or
//! decimal strings, doubles as numbers or the special strings, bytes as base64 (standard
//! or URL-safe alphabet). Errors carry the JSON path of the value that failed
//! (`resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano`) and what it should be.
//!
//! What it writes: lowerCamelCase keys, hex IDs, enums as integers, 64-bit integers as
//! strings, special doubles as strings; default values are left out, except the span
//! fields every reader expects (`traceId`, `spanId`, `name`, `kind`, its times).

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, exemplar, exponential_histogram_data_point, metric,
    number_data_point, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, TracesData, span, span::SpanKind, status::StatusCode,
};
use serde_json::{Map, Value as Json};

/// A JSON body that is not OTLP/JSON: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct JsonError {
    /// The JSON path of the value that failed, such as
    /// `resourceSpans[0].scopeSpans[0].spans[2].traceId`; `$` for the whole document.
    pub path: String,
    /// What is wrong and what it should be.
    pub message: String,
}

/// One step of a JSON path; a path is a chain of them on the stack, rendered only when an
/// error needs it.
#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

const ROOT: Path<'static> = Path {
    parent: None,
    step: Step::Root,
};

impl<'a> Path<'a> {
    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Key(key),
        }
    }

    fn index(&'a self, i: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Index(i),
        }
    }

    fn render(&self) -> String {
        let mut steps = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            steps.push(p.step);
            at = p.parent;
        }
        let mut out = String::new();
        for step in steps.iter().rev() {
            match step {
                Step::Root => {}
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        if out.is_empty() { "$".into() } else { out }
    }

    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            path: self.render(),
            message: message.into(),
        }
    }
}

type Result<T> = std::result::Result<T, JsonError>;

/// An ID that is not hex reads as this one-byte value, which no ID field accepts, so that
/// the span carrying it is rejected on its own (as a protobuf ID of the wrong length is)
/// rather than the whole request.
pub(crate) const NOT_HEX: [u8; 1] = [0xff];

/// The snake_case form of a lowerCamelCase field name.
fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The fields of one JSON object, and where it is.
#[derive(Clone, Copy)]
struct Fields<'v, 'p> {
    map: &'v Map<String, Json>,
    path: &'p Path<'p>,
}

impl<'v, 'p> Fields<'v, 'p> {
    fn of(value: &'v Json, path: &'p Path<'p>) -> Result<Self> {
        match value {
            Json::Object(map) => Ok(Self { map, path }),
            other => Err(path.error(format!("expected an object, found {}", kind(other)))),
        }
    }

    /// The field by its lowerCamelCase name or its snake_case one; `null` is absent.
    fn get(&self, name: &str) -> Option<&'v Json> {
        let v = match self.map.get(name) {
            Some(v) => Some(v),
            None if name.bytes().any(|b| b.is_ascii_uppercase()) => self.map.get(&snake(name)),
            None => None,
        };
        v.filter(|v| !v.is_null())
    }

    fn scalar<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Json) -> Option<T>,
        expected: &str,
    ) -> Result<Option<T>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => read(v).map(Some).ok_or_else(|| {
                self.path
                    .key(name)
                    .error(format!("expected {expected}, found {}", short(v)))
            }),
        }
    }

    fn string(&self, name: &str) -> Result<String> {
        Ok(self
            .scalar(name, |v| v.as_str().map(str::to_owned), "a string")?
            .unwrap_or_default())
    }

    fn bool(&self, name: &str) -> Result<bool> {
        Ok(self
            .scalar(name, Json::as_bool, "true or false")?
            .unwrap_or(false))
    }

    fn u64(&self, name: &str) -> Result<u64> {
        Ok(self
            .scalar(
                name,
                read_u64,
                "an unsigned integer (a number or a decimal string)",
            )?
            .unwrap_or(0))
    }

    fn i64(&self, name: &str) -> Result<Option<i64>> {
        self.scalar(name, read_i64, "an integer (a number or a decimal string)")
    }

    fn u32(&self, name: &str) -> Result<u32> {
        Ok(self
            .scalar(
                name,
                |v| read_u64(v).and_then(|n| u32::try_from(n).ok()),
                "an unsigned 32-bit integer",
            )?
            .unwrap_or(0))
    }

    fn i32(&self, name: &str) -> Result<i32> {
        Ok(self
            .scalar(
                name,
                |v| read_i64(v).and_then(|n| i32::try_from(n).ok()),
                "a 32-bit integer",
            )?
            .unwrap_or(0))
    }

    fn f64(&self, name: &str) -> Result<Option<f64>> {
        self.scalar(
            name,
            read_f64,
            "a number, or \"NaN\", \"Infinity\" or \"-Infinity\"",
        )
    }

    /// An enum: its number, or (as the Collector accepts) its name.
    fn enumeration(&self, name: &str, by_name: fn(&str) -> Option<i32>) -> Result<i32> {
        Ok(self
            .scalar(
                name,
                |v| match v {
                    Json::String(s) => by_name(s),
                    other => read_i64(other).and_then(|n| i32::try_from(n).ok()),
                },
                "an enum's number",
            )?
            .unwrap_or(0))
    }

    /// A trace or span ID in hex; an ID that is not hex becomes [`NOT_HEX`].
    fn id(&self, name: &str) -> Result<Vec<u8>> {
        Ok(self
            .scalar(
                name,
                |v| {
                    v.as_str()
                        .map(|s| hex(s).unwrap_or_else(|| NOT_HEX.to_vec()))
                },
                "a hex string",
            )?
            .unwrap_or_default())
    }

    fn list<T>(
        &self,
        name: &str,
        mut item: impl FnMut(&'v Json, &Path<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let Some(v) = self.get(name) else {
            return Ok(Vec::new());
        };
        let path = self.path.key(name);
        let Json::Array(items) = v else {
            return Err(path.error(format!("expected a list, found {}", kind(v))));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| item(v, &path.index(i)))
            .collect()
    }

    fn messages<T>(&self, name: &str, read: fn(Fields<'v, '_>) -> Result<T>) -> Result<Vec<T>> {
        self.list(name, |v, path| read(Fields::of(v, path)?))
    }

    fn message<T>(&self, name: &str, read: fn(Fields<'v, '_>) -> Result<T>) -> Result<Option<T>> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => {
                let path = self.path.key(name);
                read(Fields::of(v, &path)?).map(Some)
            }
        }
    }

    fn f64_list(&self, name: &str) -> Result<Vec<f64>> {
        self.list(name, |v, path| {
            read_f64(v).ok_or_else(|| path.error(format!("expected a number, found {}", short(v))))
        })
    }

    fn u64_list(&self, name: &str) -> Result<Vec<u64>> {
        self.list(name, |v, path| {
            read_u64(v).ok_or_else(|| {
                path.error(format!("expected an unsigned integer, found {}", short(v)))
            })
        })
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// A value, shortened for an error message.
fn short(v: &Json) -> String {
    let text = v.to_string();
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

fn read_u64(v: &Json) -> Option<u64> {
    match v {
        Json::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64()?;
            (f >= 0.0 && f.fract() == 0.0 && f < 18_446_744_073_709_551_616.0).then_some(f as u64)
        }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn read_i64(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0
                && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f))
            .then_some(f as i64)
        }),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn read_f64(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.trim().parse().ok(),
        },
        _ => None,
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn base64_bytes(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

/// Parses `body` as JSON, with serde_json's line and column on failure.
fn parse(body: &[u8]) -> Result<Json> {
    serde_json::from_slice(body).map_err(|e| JsonError {
        path: "$".into(),
        message: format!("not JSON: {e}"),
    })
}

// Reading: one function per message, in the order of the .proto files.

fn any_value(f: Fields<'_, '_>) -> Result<AnyValue> {
    use any_value::Value as V;
    let value = if let Some(s) = f.get("stringValue") {
        let s = s
            .as_str()
            .ok_or_else(|| f.path.key("stringValue").error("expected a string"))?;
        Some(V::StringValue(s.to_owned()))
    } else if f.get("boolValue").is_some() {
        Some(V::BoolValue(f.bool("boolValue")?))
    } else if let Some(i) = f.i64("intValue")? {
        Some(V::IntValue(i))
    } else if let Some(d) = f.f64("doubleValue")? {
        Some(V::DoubleValue(d))
    } else if let Some(a) = f.message("arrayValue", array_value)? {
        Some(V::ArrayValue(a))
    } else if let Some(kv) = f.message("kvlistValue", kvlist_value)? {
        Some(V::KvlistValue(kv))
    } else if let Some(b) = f.get("bytesValue") {
        let bytes = b.as_str().and_then(base64_bytes).ok_or_else(|| {
            f.path
                .key("bytesValue")
                .error(format!("expected base64, found {}", short(b)))
        })?;
        Some(V::BytesValue(bytes))
    } else {
        // No value (or only fields this version does not know): OTLP's empty value.
        None
    };
    Ok(AnyValue { value })
}

fn array_value(f: Fields<'_, '_>) -> Result<ArrayValue> {
    Ok(ArrayValue {
        values: f.messages("values", any_value)?,
    })
}

fn kvlist_value(f: Fields<'_, '_>) -> Result<KeyValueList> {
    Ok(KeyValueList {
        values: f.messages("values", key_value)?,
    })
}

fn key_value(f: Fields<'_, '_>) -> Result<KeyValue> {
    Ok(KeyValue {
        key: f.string("key")?,
        value: f.message("value", any_value)?,
        key_strindex: 0,
    })
}

fn scope(f: Fields<'_, '_>) -> Result<InstrumentationScope> {
    Ok(InstrumentationScope {
        name: f.string("name")?,
        version: f.string("version")?,
        attributes: f.messages("attributes", key_value)?,
        dropped_attributes_count: f.u32("droppedAttributesCount")?,
    })
}

fn resource(f: Fields<'_, '_>) -> Result<Resource> {
    Ok(Resource {
        attributes: f.messages("attributes", key_value)?,
        dropped_attributes_count: f.u32("droppedAttributesCount")?,
        entity_refs: Vec::new(),
    })
}

fn resource_spans(f: Fields<'_, '_>) -> Result<ResourceSpans> {
    Ok(ResourceSpans {
        resource: f.message("resource", resource)?,
        scope_spans: f.messages("scopeSpans", scope_spans)?,
        schema_url: f.string("schemaUrl")?,
    })
}

fn scope_spans(f: Fields<'_, '_>) -> Result<ScopeSpans> {
    Ok(ScopeSpans {
        scope: f.message("scope", scope)?,
        spans: f.messages("spans", span)?,
        schema_url: f.string("schemaUrl")?,
    })
}

fn span_kind(name: &str) -> Option<i32> {
    SpanKind::from_str_name(name).map(|k| k as i32)
}

fn status_code(name: &str) -> Option<i32> {
    StatusCode::from_str_name(name).map(|k| k as i32)
}

fn span(f: Fields<'_, '_>) -> Result<Span> {
    Ok(Span {
        trace_id: f.id("traceId")?,
        span_id: f.id("spanId")?,
        trace_state: f.string("traceState")?,
        parent_span_id: f.id("parentSpanId")?,
        flags: f.u32("flags")?,
        name: f.string("name")?,
        kind: f.enumeration("kind", span_kind)?,
        start_time_unix_nano: f.u64("startTimeUnixNano")?,
        end_time_unix_nano: f.u64("endTimeUnixNano")?,
        attributes: f.messages("attributes", key_value)?,
        dropped_attributes_count: f.u32("droppedAttributesCount")?,
        events: f.messages("events", event)?,
        dropped_events_count: f.u32("droppedEventsCount")?,
        links: f.messages("links", link)?,
        dropped_links_count: f.u32("droppedLinksCount")?,
        status: f.message("status", status)?,
    })
}

fn event(f: Fields<'_, '_>) -> Result<span::Event> {
    Ok(span::Event {
        time_unix_nano: f.u64("timeUnixNano")?,
        name: f.string("name")?,
        attributes: f.messages("attributes", key_value)?,
        dropped_attributes_count: f.u32("droppedAttributesCount")?,
    })
}

fn link(f: Fields<'_, '_>) -> Result<span::Link> {
    Ok(span::Link {
        trace_id: f.id("traceId")?,
        span_id: f.id("spanId")?,
        trace_state: f.string("traceState")?,
        attributes: f.messages("attributes", key_value)?,
        dropped_attributes_count: f.u32("droppedAttributesCount")?,
        flags: f.u32("flags")?,
    })
}

fn status(f: Fields<'_, '_>) -> Result<Status> {
    Ok(Status {
        message: f.string("message")?,
        code: f.enumeration("code", status_code)?,
    })
}

fn resource_logs(f: Fields<'_, '_>) -> Result<ResourceLogs> {
    Ok(ResourceLogs {
        resource: f.message("resource", resource)?,
        scope_logs: f.messages("scopeLogs", scope_logs)?,
        schema_url: f.string("schemaUrl")?,
    })
}

fn scope_logs(f: Fields<'_, '_>) -> Result<ScopeLogs> {
    Ok(ScopeLogs {
        scope: f.message("scope", scope)?,
        log_records: f.messages("logRecords", log_record)?,
        schema_url: f.string("schemaUrl")?,
    })
}

fn severity(name: &str) -> Option<i32> {
    SeverityNumber::from_str_name(name).map(|s| s as i32)
}

fn log_record(f: Fields<'_, '_>) -> Result<LogRecord> {
    Ok(LogRecord {
        time_unix_nano: f.u64("timeUnixNano")?,
        observed_time_unix_nano: f.u64("observedTimeUnixNano")?,
        severity_number: f.enumeration("severityNumber", severity)?,
        severity_text: f.string("severityText")?,
        body: f.message("body", any_value)?,
        attributes: f.messages("attributes", key_value)?,
        dropped_attributes_count: f.u32("droppedAttributesCount")?,
        flags: f.u32("flags")?,
        trace_id: f.id("traceId")?,
        span_id: f.id("spanId")?,
        event_name: f.string("eventName")?,
    })
}

fn resource_metrics(f: Fields<'_, '_>) -> Result<ResourceMetrics> {
    Ok(ResourceMetrics {
        resource: f.message("resource", resource)?,
        scope_metrics: f.messages("scopeMetrics", scope_metrics)?,
        schema_url: f.string("schemaUrl")?,
    })
}

fn scope_metrics(f: Fields<'_, '_>) -> Result<ScopeMetrics> {
    Ok(ScopeMetrics {
        scope: f.message("scope", scope)?,
        metrics: f.messages("metrics", metric)?,
        schema_url: f.string("schemaUrl")?,
    })
}

fn temporality(name: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(name).map(|t| t as i32)
}

fn metric(f: Fields<'_, '_>) -> Result<Metric> {
    use metric::Data;
    let data = if let Some(g) = f.message("gauge", gauge)? {
        Some(Data::Gauge(g))
    } else if let Some(s) = f.message("sum", sum)? {
        Some(Data::Sum(s))
    } else if let Some(h) = f.message("histogram", histogram)? {
        Some(Data::Histogram(h))
    } else if let Some(h) = f.message("exponentialHistogram", exponential_histogram)? {
        Some(Data::ExponentialHistogram(h))
    } else {
        f.message("summary", summary)?.map(Data::Summary)
    };
    Ok(Metric {
        name: f.string("name")?,
        description: f.string("description")?,
        unit: f.string("unit")?,
        metadata: f.messages("metadata", key_value)?,
        data,
    })
}

fn gauge(f: Fields<'_, '_>) -> Result<Gauge> {
    Ok(Gauge {
        data_points: f.messages("dataPoints", number_point)?,
    })
}

fn sum(f: Fields<'_, '_>) -> Result<Sum> {
    Ok(Sum {
        data_points: f.messages("dataPoints", number_point)?,
        aggregation_temporality: f.enumeration("aggregationTemporality", temporality)?,
        is_monotonic: f.bool("isMonotonic")?,
    })
}

fn histogram(f: Fields<'_, '_>) -> Result<Histogram> {
    Ok(Histogram {
        data_points: f.messages("dataPoints", histogram_point)?,
        aggregation_temporality: f.enumeration("aggregationTemporality", temporality)?,
    })
}

fn exponential_histogram(f: Fields<'_, '_>) -> Result<ExponentialHistogram> {
    Ok(ExponentialHistogram {
        data_points: f.messages("dataPoints", exponential_point)?,
        aggregation_temporality: f.enumeration("aggregationTemporality", temporality)?,
    })
}

fn summary(f: Fields<'_, '_>) -> Result<Summary> {
    Ok(Summary {
        data_points: f.messages("dataPoints", summary_point)?,
    })
}

fn number_point(f: Fields<'_, '_>) -> Result<NumberDataPoint> {
    use number_data_point::Value;
    let value = match f.f64("asDouble")? {
        Some(d) => Some(Value::AsDouble(d)),
        None => f.i64("asInt")?.map(Value::AsInt),
    };
    Ok(NumberDataPoint {
        attributes: f.messages("attributes", key_value)?,
        start_time_unix_nano: f.u64("startTimeUnixNano")?,
        time_unix_nano: f.u64("timeUnixNano")?,
        exemplars: f.messages("exemplars", exemplar)?,
        flags: f.u32("flags")?,
        value,
    })
}

fn histogram_point(f: Fields<'_, '_>) -> Result<HistogramDataPoint> {
    Ok(HistogramDataPoint {
        attributes: f.messages("attributes", key_value)?,
        start_time_unix_nano: f.u64("startTimeUnixNano")?,
        time_unix_nano: f.u64("timeUnixNano")?,
        count: f.u64("count")?,
        sum: f.f64("sum")?,
        bucket_counts: f.u64_list("bucketCounts")?,
        explicit_bounds: f.f64_list("explicitBounds")?,
        exemplars: f.messages("exemplars", exemplar)?,
        flags: f.u32("flags")?,
        min: f.f64("min")?,
        max: f.f64("max")?,
    })
}

fn buckets(f: Fields<'_, '_>) -> Result<exponential_histogram_data_point::Buckets> {
    Ok(exponential_histogram_data_point::Buckets {
        offset: f.i32("offset")?,
        bucket_counts: f.u64_list("bucketCounts")?,
    })
}

fn exponential_point(f: Fields<'_, '_>) -> Result<ExponentialHistogramDataPoint> {
    Ok(ExponentialHistogramDataPoint {
        attributes: f.messages("attributes", key_value)?,
        start_time_unix_nano: f.u64("startTimeUnixNano")?,
        time_unix_nano: f.u64("timeUnixNano")?,
        count: f.u64("count")?,
        sum: f.f64("sum")?,
        scale: f.i32("scale")?,
        zero_count: f.u64("zeroCount")?,
        positive: f.message("positive", buckets)?,
        negative: f.message("negative", buckets)?,
        flags: f.u32("flags")?,
        exemplars: f.messages("exemplars", exemplar)?,
        min: f.f64("min")?,
        max: f.f64("max")?,
        zero_threshold: f.f64("zeroThreshold")?.unwrap_or(0.0),
    })
}

fn quantile(f: Fields<'_, '_>) -> Result<summary_data_point::ValueAtQuantile> {
    Ok(summary_data_point::ValueAtQuantile {
        quantile: f.f64("quantile")?.unwrap_or(0.0),
        value: f.f64("value")?.unwrap_or(0.0),
    })
}

fn summary_point(f: Fields<'_, '_>) -> Result<SummaryDataPoint> {
    Ok(SummaryDataPoint {
        attributes: f.messages("attributes", key_value)?,
        start_time_unix_nano: f.u64("startTimeUnixNano")?,
        time_unix_nano: f.u64("timeUnixNano")?,
        count: f.u64("count")?,
        sum: f.f64("sum")?.unwrap_or(0.0),
        quantile_values: f.messages("quantileValues", quantile)?,
        flags: f.u32("flags")?,
    })
}

fn exemplar(f: Fields<'_, '_>) -> Result<Exemplar> {
    use exemplar::Value;
    let value = match f.f64("asDouble")? {
        Some(d) => Some(Value::AsDouble(d)),
        None => f.i64("asInt")?.map(Value::AsInt),
    };
    Ok(Exemplar {
        filtered_attributes: f.messages("filteredAttributes", key_value)?,
        time_unix_nano: f.u64("timeUnixNano")?,
        span_id: f.id("spanId")?,
        trace_id: f.id("traceId")?,
        value,
    })
}

/// Reads an `ExportTraceServiceRequest` (or a `TracesData`: the same fields) from
/// OTLP/JSON.
pub fn read_traces(body: &[u8]) -> Result<ExportTraceServiceRequest> {
    let doc = parse(body)?;
    let f = Fields::of(&doc, &ROOT)?;
    Ok(ExportTraceServiceRequest {
        resource_spans: f.messages("resourceSpans", resource_spans)?,
    })
}

/// Reads an `ExportMetricsServiceRequest` from OTLP/JSON.
pub fn read_metrics(body: &[u8]) -> Result<ExportMetricsServiceRequest> {
    let doc = parse(body)?;
    let f = Fields::of(&doc, &ROOT)?;
    Ok(ExportMetricsServiceRequest {
        resource_metrics: f.messages("resourceMetrics", resource_metrics)?,
    })
}

/// Reads an `ExportLogsServiceRequest` from OTLP/JSON.
pub fn read_logs(body: &[u8]) -> Result<ExportLogsServiceRequest> {
    let doc = parse(body)?;
    let f = Fields::of(&doc, &ROOT)?;
    Ok(ExportLogsServiceRequest {
        resource_logs: f.messages("resourceLogs", resource_logs)?,
    })
}

// Writing: traces only, which the trace APIs answer with.

/// An object under construction that leaves default values out.
struct Out(Map<String, Json>);

impl Out {
    fn new() -> Self {
        Self(Map::new())
    }

    fn put(mut self, key: &str, value: Json) -> Self {
        self.0.insert(key.to_owned(), value);
        self
    }

    fn string(self, key: &str, s: &str) -> Self {
        if s.is_empty() {
            self
        } else {
            self.put(key, Json::String(s.to_owned()))
        }
    }

    fn count(self, key: &str, n: u32) -> Self {
        if n == 0 {
            self
        } else {
            self.put(key, n.into())
        }
    }

    fn list(self, key: &str, items: Vec<Json>) -> Self {
        if items.is_empty() {
            self
        } else {
            self.put(key, Json::Array(items))
        }
    }

    fn id(self, key: &str, bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            self
        } else {
            self.put(key, Json::String(to_hex(bytes)))
        }
    }

    fn attributes(self, key: &str, kvs: &[KeyValue]) -> Self {
        self.list(key, kvs.iter().map(write_key_value).collect())
    }

    fn done(self) -> Json {
        Json::Object(self.0)
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_f64(d: f64) -> Json {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        // Finite: serde_json writes it so that it reads back bit for bit (-0.0 included).
        serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number)
    }
}

fn write_any_value(v: &AnyValue) -> Json {
    use any_value::Value as V;
    let out = Out::new();
    match &v.value {
        None => out,
        Some(V::StringValue(s)) => out.put("stringValue", s.as_str().into()),
        Some(V::BoolValue(b)) => out.put("boolValue", (*b).into()),
        Some(V::IntValue(i)) => out.put("intValue", i.to_string().into()),
        Some(V::DoubleValue(d)) => out.put("doubleValue", write_f64(*d)),
        Some(V::ArrayValue(a)) => out.put(
            "arrayValue",
            Out::new()
                .list("values", a.values.iter().map(write_any_value).collect())
                .done(),
        ),
        Some(V::KvlistValue(kv)) => out.put(
            "kvlistValue",
            Out::new().attributes("values", &kv.values).done(),
        ),
        Some(V::BytesValue(b)) => out.put(
            "bytesValue",
            base64::engine::general_purpose::STANDARD.encode(b).into(),
        ),
        // A profiles-only dictionary index: no value in traces.
        Some(V::StringValueStrindex(_)) => out,
    }
    .done()
}

fn write_key_value(kv: &KeyValue) -> Json {
    let out = Out::new().put("key", kv.key.as_str().into());
    match &kv.value {
        Some(v) => out.put("value", write_any_value(v)),
        None => out,
    }
    .done()
}

fn write_span(s: &Span) -> Json {
    let mut out = Out::new()
        .put("traceId", to_hex(&s.trace_id).into())
        .put("spanId", to_hex(&s.span_id).into())
        .string("traceState", &s.trace_state)
        .id("parentSpanId", &s.parent_span_id)
        .count("flags", s.flags)
        .put("name", s.name.as_str().into())
        .put("kind", s.kind.into())
        .put(
            "startTimeUnixNano",
            s.start_time_unix_nano.to_string().into(),
        )
        .put("endTimeUnixNano", s.end_time_unix_nano.to_string().into())
        .attributes("attributes", &s.attributes)
        .count("droppedAttributesCount", s.dropped_attributes_count)
        .list(
            "events",
            s.events
                .iter()
                .map(|e| {
                    Out::new()
                        .put("timeUnixNano", e.time_unix_nano.to_string().into())
                        .string("name", &e.name)
                        .attributes("attributes", &e.attributes)
                        .count("droppedAttributesCount", e.dropped_attributes_count)
                        .done()
                })
                .collect(),
        )
        .count("droppedEventsCount", s.dropped_events_count)
        .list(
            "links",
            s.links
                .iter()
                .map(|l| {
                    Out::new()
                        .id("traceId", &l.trace_id)
                        .id("spanId", &l.span_id)
                        .string("traceState", &l.trace_state)
                        .attributes("attributes", &l.attributes)
                        .count("droppedAttributesCount", l.dropped_attributes_count)
                        .count("flags", l.flags)
                        .done()
                })
                .collect(),
        )
        .count("droppedLinksCount", s.dropped_links_count);
    if let Some(st) = &s.status {
        let status = Out::new().string("message", &st.message);
        let status = if st.code == 0 {
            status
        } else {
            status.put("code", st.code.into())
        };
        out = out.put("status", status.done());
    }
    out.done()
}

fn write_scope(s: &InstrumentationScope) -> Json {
    Out::new()
        .string("name", &s.name)
        .string("version", &s.version)
        .attributes("attributes", &s.attributes)
        .count("droppedAttributesCount", s.dropped_attributes_count)
        .done()
}

/// One `ResourceSpans` as OTLP/JSON.
pub fn write_resource_spans(rs: &ResourceSpans) -> Json {
    let mut out = Out::new();
    if let Some(r) = &rs.resource {
        out = out.put(
            "resource",
            Out::new()
                .attributes("attributes", &r.attributes)
                .count("droppedAttributesCount", r.dropped_attributes_count)
                .done(),
        );
    }
    out.list(
        "scopeSpans",
        rs.scope_spans
            .iter()
            .map(|ss| {
                let mut out = Out::new();
                if let Some(scope) = &ss.scope {
                    out = out.put("scope", write_scope(scope));
                }
                out.list("spans", ss.spans.iter().map(write_span).collect())
                    .string("schemaUrl", &ss.schema_url)
                    .done()
            })
            .collect(),
    )
    .string("schemaUrl", &rs.schema_url)
    .done()
}

/// `TracesData` as OTLP/JSON: `{"resourceSpans": [...]}`.
pub fn write_traces(data: &TracesData) -> Json {
    Out::new()
        .put(
            "resourceSpans",
            Json::Array(
                data.resource_spans
                    .iter()
                    .map(write_resource_spans)
                    .collect(),
            ),
        )
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traces(json: &str) -> ExportTraceServiceRequest {
        read_traces(json.as_bytes()).unwrap()
    }

    fn first_span(json: &str) -> Span {
        traces(json).resource_spans[0].scope_spans[0].spans[0].clone()
    }

    fn error(json: &str) -> String {
        read_traces(json.as_bytes()).unwrap_err().to_string()
    }

    fn one_span(fields: &str) -> String {
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{{fields}}}]}}]}}]}}"#)
    }

    #[test]
    fn ids_are_case_insensitive_hex() {
        let s = first_span(&one_span(
            r#""traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174""#,
        ));
        assert_eq!(to_hex(&s.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            s.span_id,
            vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
        assert!(s.parent_span_id.is_empty());
        // Not hex: read as an ID no field accepts, so that the span alone is refused.
        let s = first_span(&one_span(r#""traceId":"not hex at all, no""#));
        assert_eq!(s.trace_id, NOT_HEX);
    }

    #[test]
    fn keys_are_read_in_lower_camel_case_and_snake_case() {
        let camel = first_span(&one_span(
            r#""droppedAttributesCount":3,"startTimeUnixNano":"5","parentSpanId":"0102030405060708""#,
        ));
        let snake = first_span(&one_span(
            r#""dropped_attributes_count":3,"start_time_unix_nano":"5","parent_span_id":"0102030405060708""#,
        ));
        assert_eq!(camel, snake);
        assert_eq!(camel.dropped_attributes_count, 3);
        assert_eq!(camel.start_time_unix_nano, 5);
        let req = traces(
            r#"{"resource_spans":[{"scope_spans":[{"spans":[{"name":"x"}]}],"schema_url":"u"}]}"#,
        );
        assert_eq!(req.resource_spans[0].schema_url, "u");
        assert_eq!(req.resource_spans[0].scope_spans[0].spans[0].name, "x");
    }

    #[test]
    fn enums_are_integers_or_their_names() {
        let s = first_span(&one_span(r#""kind":2,"status":{"code":2}"#));
        assert_eq!(s.kind, SpanKind::Server as i32);
        assert_eq!(s.status.unwrap().code, StatusCode::Error as i32);
        let s = first_span(&one_span(
            r#""kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_OK"}"#,
        ));
        assert_eq!(s.kind, SpanKind::Client as i32);
        assert_eq!(s.status.unwrap().code, StatusCode::Ok as i32);
        let e = error(&one_span(r#""kind":"SERVER""#));
        assert_eq!(
            e,
            r#"resourceSpans[0].scopeSpans[0].spans[0].kind: expected an enum's number, found "SERVER""#
        );
    }

    #[test]
    fn sixty_four_bit_integers_are_numbers_or_strings() {
        let s = first_span(&one_span(
            r#""startTimeUnixNano":1700000000123456789,"endTimeUnixNano":"1700000000223456789","attributes":[{"key":"a","value":{"intValue":"-9223372036854775808"}},{"key":"b","value":{"intValue":42}}]"#,
        ));
        assert_eq!(s.start_time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(s.end_time_unix_nano, 1_700_000_000_223_456_789);
        assert_eq!(
            s.attributes[0].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(i64::MIN))
        );
        assert_eq!(
            s.attributes[1].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(42))
        );
        // 32-bit integers as strings too, as protobuf's JSON mapping reads them.
        let s = first_span(&one_span(r#""droppedEventsCount":"7","flags":"257""#));
        assert_eq!((s.dropped_events_count, s.flags), (7, 257));
    }

    #[test]
    fn special_doubles_are_strings() {
        let s = first_span(&one_span(
            r#""attributes":[{"key":"n","value":{"doubleValue":"NaN"}},{"key":"i","value":{"doubleValue":"-Infinity"}},{"key":"d","value":{"doubleValue":0.5}}]"#,
        ));
        let d = |i: usize| match s.attributes[i].value.as_ref().unwrap().value {
            Some(any_value::Value::DoubleValue(d)) => d,
            ref other => panic!("{other:?}"),
        };
        assert!(d(0).is_nan());
        assert_eq!(d(1), f64::NEG_INFINITY);
        assert_eq!(d(2), 0.5);
    }

    #[test]
    fn unknown_fields_and_nulls_are_ignored_and_empty_values_read() {
        let s = first_span(&one_span(
            r#""futureField":{"x":[1,2]},"name":null,"attributes":[{"key":"e","value":{}},{"key":"u","value":{"futureValue":1}},{"key":"a","value":{"arrayValue":{}}},{"key":"k","value":{"kvlistValue":{}}},{"key":"b","value":{"bytesValue":"AP8H"}}]"#,
        ));
        assert_eq!(s.name, "");
        let v = |i: usize| s.attributes[i].value.as_ref().unwrap().value.clone();
        assert_eq!(v(0), None);
        assert_eq!(v(1), None);
        assert_eq!(
            v(2),
            Some(any_value::Value::ArrayValue(ArrayValue { values: vec![] }))
        );
        assert_eq!(
            v(3),
            Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![]
            }))
        );
        assert_eq!(v(4), Some(any_value::Value::BytesValue(vec![0, 255, 7])));
    }

    #[test]
    fn errors_name_the_json_path_and_what_would_fix_it() {
        for (body, expected) in [
            (
                one_span(r#""startTimeUnixNano":"soon""#),
                r#"resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an unsigned integer (a number or a decimal string), found "soon""#,
            ),
            (
                one_span(r#""attributes":[{"key":"a"},{"key":"b","value":{"intValue":1.5}}]"#),
                "resourceSpans[0].scopeSpans[0].spans[0].attributes[1].value.intValue: expected an integer (a number or a decimal string), found 1.5",
            ),
            (
                r#"{"resourceSpans":{}}"#.into(),
                "resourceSpans: expected a list, found an object",
            ),
            ("[]".into(), "$: expected an object, found a list"),
        ] {
            assert_eq!(error(&body), expected);
        }
        let e = error("{\"resourceSpans\": [\n{,");
        assert!(
            e.starts_with("$: not JSON: key must be a string at line 2 column 2"),
            "{e}"
        );
    }

    #[test]
    fn logs_and_metrics_read_with_the_same_rules() {
        let logs = read_logs(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","severityNumber":9,"severityText":"INFO","body":{"stringValue":"hi"},"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}"#,
        )
        .unwrap();
        let r = &logs.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!((r.time_unix_nano, r.severity_number), (1, 9));
        assert_eq!(r.trace_id.len(), 16);
        let metrics = read_metrics(
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
                {"name":"a","sum":{"dataPoints":[{"asInt":"3","timeUnixNano":"5"}],"aggregationTemporality":2,"isMonotonic":true}},
                {"name":"b","histogram":{"dataPoints":[{"count":"3","sum":1.5,"bucketCounts":["1","2"],"explicitBounds":[0.5]}],"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE"}},
                {"name":"c","summary":{"dataPoints":[{"count":"1","sum":2,"quantileValues":[{"quantile":0.5,"value":"NaN"}]}]}},
                {"name":"d","exponentialHistogram":{"dataPoints":[{"scale":-2,"positive":{"offset":-1,"bucketCounts":[1]}}]}},
                {"name":"e","gauge":{"dataPoints":[{"asDouble":"Infinity"}]}}
            ]}]}]}"#,
        )
        .unwrap();
        let m = &metrics.resource_metrics[0].scope_metrics[0].metrics;
        assert!(
            matches!(&m[0].data, Some(metric::Data::Sum(s)) if s.is_monotonic && s.aggregation_temporality == 2)
        );
        assert!(
            matches!(&m[1].data, Some(metric::Data::Histogram(h)) if h.data_points[0].bucket_counts == [1, 2] && h.aggregation_temporality == 2)
        );
        assert!(
            matches!(&m[2].data, Some(metric::Data::Summary(s)) if s.data_points[0].quantile_values[0].value.is_nan())
        );
        assert!(
            matches!(&m[3].data, Some(metric::Data::ExponentialHistogram(h)) if h.data_points[0].scale == -2 && h.data_points[0].positive.as_ref().unwrap().offset == -1)
        );
        assert!(
            matches!(&m[4].data, Some(metric::Data::Gauge(g)) if g.data_points[0].value == Some(number_data_point::Value::AsDouble(f64::INFINITY)))
        );
        let e = read_metrics(br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"histogram":{"dataPoints":[{"bucketCounts":[-1]}]}}]}]}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0].bucketCounts[0]: expected an unsigned integer, found -1"
        );
    }

    #[test]
    fn written_json_follows_otlp_and_reads_back() {
        let req = traces(&one_span(
            r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"s","kind":3,"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[{"key":"n","value":{"doubleValue":"NaN"}},{"key":"i","value":{"intValue":"9007199254740993"}},{"key":"z","value":{"doubleValue":-0.0}}],"status":{"code":2,"message":"bad"}"#,
        ));
        let data = TracesData {
            resource_spans: req.resource_spans.clone(),
        };
        let json = write_traces(&data);
        let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "5b8efff798038103d269b633813fc60c");
        assert_eq!(span["kind"], 3);
        assert_eq!(span["startTimeUnixNano"], "1");
        assert_eq!(span["attributes"][0]["value"]["doubleValue"], "NaN");
        assert_eq!(
            span["attributes"][1]["value"]["intValue"],
            "9007199254740993"
        );
        assert_eq!(
            span["status"],
            serde_json::json!({"code": 2, "message": "bad"})
        );
        assert!(span.get("parentSpanId").is_none());
        let back = read_traces(json.to_string().as_bytes()).unwrap();
        let d = |r: &ExportTraceServiceRequest, i: usize| match &r.resource_spans[0].scope_spans[0]
            .spans[0]
            .attributes[i]
            .value
        {
            Some(AnyValue {
                value: Some(any_value::Value::DoubleValue(d)),
            }) => d.to_bits(),
            other => panic!("{other:?}"),
        };
        assert_eq!(d(&back, 0), f64::NAN.to_bits());
        assert_eq!(d(&back, 2), (-0.0_f64).to_bits());
        let mut without_doubles = back.clone();
        let mut original = req.clone();
        for r in [&mut without_doubles, &mut original] {
            r.resource_spans[0].scope_spans[0].spans[0]
                .attributes
                .retain(|a| a.key == "i");
        }
        assert_eq!(without_doubles, original);
    }
}
