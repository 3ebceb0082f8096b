//! Traces: OTLP's `ResourceSpans` to the span model and back.
//!
//! Receiving ([`from_otlp`]): each `ResourceSpans` becomes one shared
//! [`spans::Resource`], each `ScopeSpans` one shared [`spans::Scope`], and every field of
//! every span is kept. A span whose trace or span ID is invalid (the wrong length, all
//! zeros, or not hex in JSON) or whose parent ID has the wrong length is rejected on its
//! own and counted, as OTLP's partial success says; a link with an invalid ID is dropped
//! and counted in the span's `dropped_links_count`. Attribute values longer than the limit
//! are cut (see [`crate::Limits`]).
//!
//! Answering ([`to_otlp`]): spans grouped back by resource and scope, in the order they
//! first appear, as Tempo's `/api/traces/{id}` answers.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, TracesData};
use spans::{SpanId, SpanKind, StatusCode, TraceId, Value};

/// What became of the spans of one request.
#[derive(Debug, Default)]
pub struct Received {
    /// The spans to keep.
    pub spans: Vec<spans::Span>,
    /// How many were rejected.
    pub rejected: u64,
    /// Why: the first few rejections, each with the span's field path.
    pub problems: Vec<String>,
    /// How many attribute values were cut to the limit.
    pub truncated: u64,
    /// How many links were dropped for an invalid ID.
    pub dropped_links: u64,
    /// The limit values were cut to.
    pub max_attribute_value_bytes: usize,
}

/// How many rejections [`Received::problems`] describes; the rest are only counted.
const PROBLEMS_KEPT: usize = 3;

impl Received {
    fn reject(&mut self, path: impl FnOnce() -> String, why: &str) {
        self.rejected += 1;
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(format!("{}: {why}", path()));
        }
    }

    /// The message of a partial success: what was rejected and why, what was cut; `None`
    /// when everything was kept whole.
    pub fn message(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.rejected > 0 {
            let total = self.rejected + self.spans.len() as u64;
            let mut s = format!(
                "rejected {} of {total} spans: {}",
                self.rejected,
                self.problems.join("; ")
            );
            let unsaid = self.rejected.saturating_sub(self.problems.len() as u64);
            if unsaid > 0 {
                s.push_str(&format!("; and {unsaid} more"));
            }
            parts.push(s);
        }
        if self.dropped_links > 0 {
            parts.push(format!(
                "dropped {} links with an invalid trace or span ID (counted in dropped_links_count)",
                self.dropped_links
            ));
        }
        if self.truncated > 0 {
            parts.push(format!(
                "cut {} attribute values to max_attribute_value_bytes ({})",
                self.truncated, self.max_attribute_value_bytes
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// How many spans `resource_spans` holds.
pub fn count(resource_spans: &[ResourceSpans]) -> usize {
    resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

/// Converts attribute values, cutting strings and bytes to `limit` bytes.
pub(crate) struct Values {
    pub(crate) limit: usize,
    pub(crate) truncated: u64,
}

impl Values {
    pub(crate) fn value(&mut self, v: Option<AnyValue>) -> Value {
        use any_value::Value as V;
        match v.and_then(|v| v.value) {
            None | Some(V::StringValueStrindex(_)) => Value::Empty,
            Some(V::StringValue(mut s)) => {
                if s.len() > self.limit {
                    let mut at = self.limit;
                    while !s.is_char_boundary(at) {
                        at -= 1;
                    }
                    s.truncate(at);
                    self.truncated += 1;
                }
                Value::String(s)
            }
            Some(V::BoolValue(b)) => Value::Bool(b),
            Some(V::IntValue(i)) => Value::Int(i),
            Some(V::DoubleValue(d)) => Value::Double(d),
            Some(V::BytesValue(mut b)) => {
                if b.len() > self.limit {
                    b.truncate(self.limit);
                    self.truncated += 1;
                }
                Value::Bytes(b)
            }
            Some(V::ArrayValue(a)) => {
                Value::Array(a.values.into_iter().map(|v| self.value(Some(v))).collect())
            }
            Some(V::KvlistValue(kv)) => Value::Map(self.attributes(kv.values)),
        }
    }

    pub(crate) fn attributes(&mut self, kvs: Vec<KeyValue>) -> Vec<spans::KeyValue> {
        kvs.into_iter()
            .map(|kv| spans::KeyValue {
                key: kv.key,
                value: self.value(kv.value),
            })
            .collect()
    }
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    let id = TraceId(bytes.try_into().ok()?);
    (!id.is_zero()).then_some(id)
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    let id = SpanId(bytes.try_into().ok()?);
    (!id.is_zero()).then_some(id)
}

/// Why an ID is invalid, for a partial success's message.
fn bad_id(what: &str, bytes: &[u8], len: usize) -> String {
    if bytes == crate::json::NOT_HEX {
        format!("its {what} is not hex; give {} hex digits", 2 * len)
    } else if bytes.len() != len {
        format!(
            "its {what} is {} bytes long; give {len} bytes, not all zero",
            bytes.len()
        )
    } else {
        format!("its {what} is all zeros; give {len} bytes, not all zero")
    }
}

/// Converts the spans of one request, keeping every field; see the module's docs.
pub fn from_otlp(resource_spans: Vec<ResourceSpans>, max_attribute_value_bytes: usize) -> Received {
    let mut out = Received {
        spans: Vec::with_capacity(count(&resource_spans)),
        max_attribute_value_bytes,
        ..Received::default()
    };
    let mut values = Values {
        limit: max_attribute_value_bytes,
        truncated: 0,
    };
    for (r, rs) in resource_spans.into_iter().enumerate() {
        let (attributes, dropped_attributes_count) = match rs.resource {
            Some(res) => (res.attributes, res.dropped_attributes_count),
            None => (Vec::new(), 0),
        };
        let resource = Arc::new(spans::Resource {
            attributes: values.attributes(attributes),
            dropped_attributes_count,
            schema_url: rs.schema_url,
        });
        for (s, ss) in rs.scope_spans.into_iter().enumerate() {
            let scope = ss.scope.unwrap_or_default();
            let scope = Arc::new(spans::Scope {
                name: scope.name,
                version: scope.version,
                attributes: values.attributes(scope.attributes),
                dropped_attributes_count: scope.dropped_attributes_count,
                schema_url: ss.schema_url,
            });
            for (i, span) in ss.spans.into_iter().enumerate() {
                let path = || format!("resource_spans[{r}].scope_spans[{s}].spans[{i}]");
                let Some(trace) = trace_id(&span.trace_id) else {
                    out.reject(path, &bad_id("trace ID", &span.trace_id, 16));
                    continue;
                };
                let Some(id) = span_id(&span.span_id) else {
                    out.reject(path, &bad_id("span ID", &span.span_id, 8));
                    continue;
                };
                let parent = match span.parent_span_id.len() {
                    0 => None,
                    // An all-zero parent is no parent, as the Collector reads it.
                    8 => span_id(&span.parent_span_id),
                    _ => {
                        out.reject(path, &bad_id("parent span ID", &span.parent_span_id, 8));
                        continue;
                    }
                };
                let mut dropped_links_count = span.dropped_links_count;
                let links = span
                    .links
                    .into_iter()
                    .filter_map(|l| {
                        let (Some(trace_id), Some(span_id)) =
                            (trace_id(&l.trace_id), span_id(&l.span_id))
                        else {
                            dropped_links_count = dropped_links_count.saturating_add(1);
                            out.dropped_links += 1;
                            return None;
                        };
                        Some(spans::Link {
                            trace_id,
                            span_id,
                            trace_state: l.trace_state,
                            attributes: values.attributes(l.attributes),
                            dropped_attributes_count: l.dropped_attributes_count,
                            flags: l.flags,
                        })
                    })
                    .collect();
                let status = span.status.unwrap_or_default();
                out.spans.push(spans::Span {
                    trace_id: trace,
                    span_id: id,
                    parent_span_id: parent,
                    trace_state: span.trace_state,
                    flags: span.flags,
                    name: span.name,
                    // A number OTLP does not define reads as unspecified.
                    kind: SpanKind::from_i32(span.kind).unwrap_or_default(),
                    start: span.start_time_unix_nano,
                    end: span.end_time_unix_nano,
                    attributes: values.attributes(span.attributes),
                    dropped_attributes_count: span.dropped_attributes_count,
                    events: span
                        .events
                        .into_iter()
                        .map(|e| spans::Event {
                            time: e.time_unix_nano,
                            name: e.name,
                            attributes: values.attributes(e.attributes),
                            dropped_attributes_count: e.dropped_attributes_count,
                        })
                        .collect(),
                    dropped_events_count: span.dropped_events_count,
                    links,
                    dropped_links_count,
                    status: spans::Status {
                        code: StatusCode::from_i32(status.code).unwrap_or_default(),
                        message: status.message,
                    },
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    out.truncated = values.truncated;
    out
}

pub(crate) fn any_value(v: &Value) -> AnyValue {
    use any_value::Value as V;
    AnyValue {
        value: match v {
            Value::Empty => None,
            Value::String(s) => Some(V::StringValue(s.clone())),
            Value::Bool(b) => Some(V::BoolValue(*b)),
            Value::Int(i) => Some(V::IntValue(*i)),
            Value::Double(d) => Some(V::DoubleValue(*d)),
            Value::Bytes(b) => Some(V::BytesValue(b.clone())),
            Value::Array(items) => Some(V::ArrayValue(ArrayValue {
                values: items.iter().map(any_value).collect(),
            })),
            Value::Map(kvs) => Some(V::KvlistValue(KeyValueList {
                values: key_values(kvs),
            })),
        },
    }
}

pub(crate) fn key_values(kvs: &[spans::KeyValue]) -> Vec<KeyValue> {
    kvs.iter()
        .map(|kv| KeyValue {
            key: kv.key.clone(),
            value: Some(any_value(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

/// Whether two values are the same, doubles bit for bit (so that a NaN attribute does not
/// split a resource from itself).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Map(x), Value::Map(y)) => same_attributes(x, y),
        (x, y) => x == y,
    }
}

fn same_attributes(a: &[spans::KeyValue], b: &[spans::KeyValue]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.key == y.key && same_value(&x.value, &y.value))
}

fn same_resource(a: &Arc<spans::Resource>, b: &Arc<spans::Resource>) -> bool {
    Arc::ptr_eq(a, b)
        || (a.dropped_attributes_count == b.dropped_attributes_count
            && a.schema_url == b.schema_url
            && same_attributes(&a.attributes, &b.attributes))
}

fn same_scope(a: &Arc<spans::Scope>, b: &Arc<spans::Scope>) -> bool {
    Arc::ptr_eq(a, b)
        || (a.name == b.name
            && a.version == b.version
            && a.dropped_attributes_count == b.dropped_attributes_count
            && a.schema_url == b.schema_url
            && same_attributes(&a.attributes, &b.attributes))
}

/// One span in OTLP's form, without its resource and scope.
pub fn span_to_otlp(s: &spans::Span) -> Span {
    let status = s.status != spans::Status::default();
    Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start,
        end_time_unix_nano: s.end,
        attributes: key_values(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| opentelemetry_proto::tonic::trace::v1::span::Event {
                time_unix_nano: e.time,
                name: e.name.clone(),
                attributes: key_values(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| opentelemetry_proto::tonic::trace::v1::span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: key_values(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: status.then(|| Status {
            message: s.status.message.clone(),
            code: s.status.code as i32,
        }),
    }
}

/// Spans in OTLP's form, grouped by resource and then scope in the order each first
/// appears, spans in the order given.
pub fn to_otlp(spans: &[spans::Span]) -> TracesData {
    type Scopes = Vec<(Arc<spans::Scope>, Vec<Span>)>;
    let mut groups: Vec<(Arc<spans::Resource>, Scopes)> = Vec::new();
    for s in spans {
        let at = match groups
            .iter()
            .position(|(r, _)| same_resource(r, &s.resource))
        {
            Some(at) => at,
            None => {
                groups.push((s.resource.clone(), Vec::new()));
                groups.len() - 1
            }
        };
        let scopes = &mut groups[at].1;
        let at = match scopes.iter().position(|(sc, _)| same_scope(sc, &s.scope)) {
            Some(at) => at,
            None => {
                scopes.push((s.scope.clone(), Vec::new()));
                scopes.len() - 1
            }
        };
        scopes[at].1.push(span_to_otlp(s));
    }
    TracesData {
        resource_spans: groups
            .into_iter()
            .map(|(resource, scopes)| ResourceSpans {
                resource: Some(Resource {
                    attributes: key_values(&resource.attributes),
                    dropped_attributes_count: resource.dropped_attributes_count,
                    entity_refs: Vec::new(),
                }),
                scope_spans: scopes
                    .into_iter()
                    .map(|(scope, spans)| ScopeSpans {
                        scope: Some(InstrumentationScope {
                            name: scope.name.clone(),
                            version: scope.version.clone(),
                            attributes: key_values(&scope.attributes),
                            dropped_attributes_count: scope.dropped_attributes_count,
                        }),
                        spans,
                        schema_url: scope.schema_url.clone(),
                    })
                    .collect(),
                schema_url: resource.schema_url.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use spans::conformance::rich_span;

    /// Compares spans field by field, doubles bit for bit, as the conformance suite does.
    fn same(a: &[spans::Span], b: &[spans::Span]) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    /// A second resource and scope, and spans over all of them.
    fn mixed() -> Vec<spans::Span> {
        let rich = rich_span();
        let other_resource = Arc::new(spans::Resource::service("api"));
        let other_scope = Arc::new(spans::Scope {
            name: "http".into(),
            ..spans::Scope::default()
        });
        let mut out = vec![rich.clone()];
        for n in 1..=4_u8 {
            let mut s = spans::Span::new(rich.trace_id, SpanId([n; 8]), "op", 10, 20);
            // Equal but not shared resources group together.
            s.resource = if n % 2 == 0 {
                other_resource.clone()
            } else {
                Arc::new((*rich.resource).clone())
            };
            s.scope = if n == 3 {
                other_scope.clone()
            } else {
                rich.scope.clone()
            };
            out.push(s);
        }
        out
    }

    #[test]
    fn spans_go_out_grouped_by_resource_and_scope_and_come_back_whole() {
        let spans = mixed();
        let data = to_otlp(&spans);
        assert_eq!(data.resource_spans.len(), 2);
        let scopes: Vec<usize> = data.resource_spans[0]
            .scope_spans
            .iter()
            .map(|s| s.spans.len())
            .collect();
        assert_eq!(
            scopes,
            [2, 1],
            "the rich resource: its scope twice, then http"
        );
        assert_eq!(data.resource_spans[1].scope_spans[0].spans.len(), 2);
        assert_eq!(
            data.resource_spans[0].schema_url,
            "https://opentelemetry.io/schemas/1.21.0"
        );

        // Back through protobuf: every field, and the resources shared again.
        let bytes = data.encode_to_vec();
        let decoded = TracesData::decode(bytes.as_slice()).unwrap();
        let back = from_otlp(decoded.resource_spans, usize::MAX);
        assert_eq!(back.rejected, 0);
        let mut expected = spans.clone();
        // Grouping reorders: resource 1 (spans 0, 1, 3 by scope), then resource 2.
        expected = [0, 1, 3, 2, 4]
            .iter()
            .map(|&i| expected[i].clone())
            .collect();
        assert!(same(&back.spans, &expected), "{:#?}", back.spans);
        assert!(Arc::ptr_eq(
            &back.spans[0].resource,
            &back.spans[2].resource
        ));
        assert!(Arc::ptr_eq(&back.spans[0].scope, &back.spans[1].scope));

        // And through OTLP/JSON.
        let json = crate::json::write_traces(&data).to_string();
        let decoded = crate::json::read_traces(json.as_bytes()).unwrap();
        let back = from_otlp(decoded.resource_spans, usize::MAX);
        assert!(same(&back.spans, &expected), "{json}");
    }

    #[test]
    fn the_rich_span_round_trips_through_both_encodings() {
        let rich = rich_span();
        let data = to_otlp(std::slice::from_ref(&rich));
        let bytes = data.encode_to_vec();
        let proto = TracesData::decode(bytes.as_slice()).unwrap();
        // NaN is not equal to itself: the encodings are compared instead.
        assert_eq!(proto.encode_to_vec(), bytes);
        let json =
            crate::json::read_traces(crate::json::write_traces(&data).to_string().as_bytes())
                .unwrap();
        for resource_spans in [proto.resource_spans, json.resource_spans] {
            let back = from_otlp(resource_spans, usize::MAX);
            assert!(
                same(&back.spans, std::slice::from_ref(&rich)),
                "{:#?}",
                back.spans
            );
            assert_eq!(back.message(), None);
        }
    }

    #[test]
    fn an_otlp_request_comes_back_as_it_was_sent() {
        // Two resources, three scopes, spans with every kind of field: OTLP to spans and back
        // to the same bytes.
        let json = r#"{"resourceSpans": [
          {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}], "droppedAttributesCount": 1},
           "scopeSpans": [
             {"scope": {"name": "http", "version": "1"}, "schemaUrl": "s1",
              "spans": [
                {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": "GET", "kind": 2,
                 "startTimeUnixNano": "10", "endTimeUnixNano": "20", "flags": 257, "traceState": "a=b",
                 "attributes": [{"key": "n", "value": {"doubleValue": "NaN"}}, {"key": "m", "value": {"kvlistValue": {"values": [{"key": "x", "value": {"bytesValue": "AQI="}}]}}}],
                 "events": [{"timeUnixNano": "15", "name": "e", "droppedAttributesCount": 2}],
                 "links": [{"traceId": "1102030405060708090a0b0c0d0e0f10", "spanId": "1102030405060708", "flags": 1}],
                 "status": {"code": 2, "message": "bad"}},
                {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0202030405060708", "parentSpanId": "0102030405060708", "name": "db", "kind": 3,
                 "startTimeUnixNano": "11", "endTimeUnixNano": "19"}]},
             {"scope": {"name": "db"}, "spans": [
                {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0302030405060708", "name": "q", "kind": 1,
                 "startTimeUnixNano": "12", "endTimeUnixNano": "13", "status": {"code": 1}}]}],
           "schemaUrl": "r1"},
          {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "worker"}}]},
           "scopeSpans": [{"scope": {}, "spans": [
                {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0402030405060708", "parentSpanId": "0202030405060708", "name": "work", "kind": 5,
                 "startTimeUnixNano": "14", "endTimeUnixNano": "18"}]}]}
        ]}"#;
        let sent = crate::json::read_traces(json.as_bytes()).unwrap();
        let original = TracesData {
            resource_spans: sent.resource_spans.clone(),
        };
        let received = from_otlp(sent.resource_spans, usize::MAX);
        assert_eq!((received.spans.len(), received.rejected), (4, 0));
        let back = to_otlp(&received.spans);
        assert_eq!(back.encode_to_vec(), original.encode_to_vec());
        assert_eq!(
            crate::json::write_traces(&back),
            crate::json::write_traces(&original)
        );
    }

    fn request(spans: Vec<Span>) -> Vec<ResourceSpans> {
        vec![ResourceSpans {
            resource: None,
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }]
    }

    fn valid(n: u8) -> Span {
        Span {
            trace_id: vec![n; 16],
            span_id: vec![n; 8],
            ..Span::default()
        }
    }

    #[test]
    fn spans_with_invalid_ids_are_rejected_alone_and_counted() {
        let mut short_trace = valid(2);
        short_trace.trace_id.pop();
        let mut zero_span = valid(3);
        zero_span.span_id = vec![0; 8];
        let mut bad_parent = valid(4);
        bad_parent.parent_span_id = vec![1; 4];
        let mut zero_parent = valid(5);
        zero_parent.parent_span_id = vec![0; 8];
        let mut not_hex = valid(6);
        not_hex.trace_id = crate::json::NOT_HEX.to_vec();
        let mut bad_link = valid(7);
        bad_link.links = vec![
            opentelemetry_proto::tonic::trace::v1::span::Link {
                trace_id: vec![1; 3],
                span_id: vec![1; 8],
                ..Default::default()
            },
            opentelemetry_proto::tonic::trace::v1::span::Link {
                trace_id: vec![1; 16],
                span_id: vec![1; 8],
                ..Default::default()
            },
        ];
        bad_link.dropped_links_count = 2;
        let got = from_otlp(
            request(vec![
                valid(1),
                short_trace,
                zero_span,
                bad_parent,
                zero_parent,
                not_hex,
                bad_link,
            ]),
            usize::MAX,
        );
        let kept: Vec<u8> = got.spans.iter().map(|s| s.span_id.0[0]).collect();
        assert_eq!(kept, [1, 5, 7]);
        assert_eq!(got.rejected, 4);
        assert!(got.spans[1].parent_span_id.is_none());
        assert_eq!(got.spans[2].links.len(), 1);
        assert_eq!(got.spans[2].dropped_links_count, 3);
        assert_eq!(
            got.message().unwrap(),
            "rejected 4 of 7 spans: \
             resource_spans[0].scope_spans[0].spans[1]: its trace ID is 15 bytes long; give 16 bytes, not all zero; \
             resource_spans[0].scope_spans[0].spans[2]: its span ID is all zeros; give 8 bytes, not all zero; \
             resource_spans[0].scope_spans[0].spans[3]: its parent span ID is 4 bytes long; give 8 bytes, not all zero; \
             and 1 more; \
             dropped 1 links with an invalid trace or span ID (counted in dropped_links_count)"
        );
    }

    #[test]
    fn long_attribute_values_are_cut_at_a_character_boundary() {
        let mut s = valid(1);
        let text = |t: &str| {
            Some(AnyValue {
                value: Some(any_value::Value::StringValue(t.into())),
            })
        };
        s.attributes = vec![
            KeyValue {
                key: "long".into(),
                value: text("abcdefgh"),
                key_strindex: 0,
            },
            KeyValue {
                key: "utf8".into(),
                value: text("aé€x"),
                key_strindex: 0,
            },
            KeyValue {
                key: "short".into(),
                value: text("abc"),
                key_strindex: 0,
            },
        ];
        let got = from_otlp(request(vec![s]), 5);
        let values: Vec<String> = got.spans[0]
            .attributes
            .iter()
            .map(|a| a.value.to_text())
            .collect();
        // "aé€x" is a (1), é (2), € (3): five bytes end inside the euro sign.
        assert_eq!(values, ["abcde", "aé", "abc"]);
        assert_eq!(got.truncated, 2);
        assert_eq!(
            got.message().unwrap(),
            "cut 2 attribute values to max_attribute_value_bytes (5)"
        );
    }
}
