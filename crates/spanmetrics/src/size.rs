//! How many bytes a span takes as an OTLP protobuf `Span` message, which
//! `traces_spanmetrics_size_total` adds up as Tempo's `span.Size()` does. Worked out from
//! the span model, field by field, without encoding anything.
//!
//! The model does not say whether a sender set a status that is all defaults, nor an
//! attribute value that is empty; both are taken as absent (a difference of two bytes at
//! most, against what the sender encoded).

use spans::{Event, KeyValue, Link, Span, Value};

/// Bytes of a varint holding `v`.
fn varint(v: u64) -> usize {
    // 7 bits a byte; at least one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes of a field's key (number and wire type).
fn key(field: u32) -> usize {
    varint(u64::from(field) << 3)
}

/// A length-delimited field (bytes, string, message) of `len` bytes.
fn delimited(field: u32, len: usize) -> usize {
    key(field) + varint(len as u64) + len
}

/// A bytes or string field, left out when empty (proto3).
fn text(field: u32, len: usize) -> usize {
    if len == 0 { 0 } else { delimited(field, len) }
}

/// A varint field (uint32, int64, enum), left out when zero (proto3).
fn number(field: u32, v: u64) -> usize {
    if v == 0 { 0 } else { key(field) + varint(v) }
}

/// A fixed64 field, left out when zero (proto3).
fn fixed64(field: u32, v: u64) -> usize {
    if v == 0 { 0 } else { key(field) + 8 }
}

/// A fixed32 field, left out when zero (proto3).
fn fixed32(field: u32, v: u32) -> usize {
    if v == 0 { 0 } else { key(field) + 4 }
}

/// `AnyValue`: a oneof, so its member is written even when it holds a default.
fn any_value(v: &Value) -> usize {
    match v {
        Value::String(s) => delimited(1, s.len()),
        Value::Bool(_) => key(2) + 1,
        // Negative int64s take ten bytes, as their two's complement does.
        Value::Int(i) => key(3) + varint(*i as u64),
        Value::Double(_) => key(4) + 8,
        // ArrayValue { repeated AnyValue values = 1 }
        Value::Array(items) => delimited(5, items.iter().map(|v| delimited(1, any_value(v))).sum()),
        // KeyValueList { repeated KeyValue values = 1 }
        Value::Map(pairs) => delimited(6, pairs.iter().map(|kv| delimited(1, key_value(kv))).sum()),
        Value::Bytes(b) => delimited(7, b.len()),
        Value::Empty => 0,
    }
}

/// `KeyValue { key = 1; value = 2 }`.
fn key_value(kv: &KeyValue) -> usize {
    let value = match kv.value {
        Value::Empty => 0,
        ref v => delimited(2, any_value(v)),
    };
    text(1, kv.key.len()) + value
}

fn attributes(field: u32, attrs: &[KeyValue]) -> usize {
    attrs.iter().map(|kv| delimited(field, key_value(kv))).sum()
}

/// `Span.Event`.
fn event(e: &Event) -> usize {
    fixed64(1, e.time)
        + text(2, e.name.len())
        + attributes(3, &e.attributes)
        + number(4, u64::from(e.dropped_attributes_count))
}

/// `Span.Link`.
fn link(l: &Link) -> usize {
    text(1, l.trace_id.0.len())
        + text(2, l.span_id.0.len())
        + text(3, l.trace_state.len())
        + attributes(4, &l.attributes)
        + number(5, u64::from(l.dropped_attributes_count))
        + fixed32(6, l.flags)
}

/// The span's size as an OTLP protobuf `Span` message, in bytes.
pub(crate) fn encoded_len(s: &Span) -> usize {
    let status = {
        let len = text(2, s.status.message.len()) + number(3, s.status.code as u64);
        if len == 0 { 0 } else { delimited(15, len) }
    };
    text(1, s.trace_id.0.len())
        + text(2, s.span_id.0.len())
        + text(3, s.trace_state.len())
        + s.parent_span_id.map_or(0, |p| text(4, p.0.len()))
        + fixed32(16, s.flags)
        + text(5, s.name.len())
        + number(6, s.kind as u64)
        + fixed64(7, s.start)
        + fixed64(8, s.end)
        + attributes(9, &s.attributes)
        + number(10, u64::from(s.dropped_attributes_count))
        + s.events
            .iter()
            .map(|e| delimited(11, event(e)))
            .sum::<usize>()
        + number(12, u64::from(s.dropped_events_count))
        + s.links
            .iter()
            .map(|l| delimited(13, link(l)))
            .sum::<usize>()
        + number(14, u64::from(s.dropped_links_count))
        + status
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1 as pc;
    use opentelemetry_proto::tonic::trace::v1 as pt;
    use prost::Message as _;
    use spans::{SpanId, SpanKind, Status, StatusCode, TraceId};

    fn any(v: &Value) -> Option<pc::AnyValue> {
        use pc::any_value::Value as V;
        let value = match v {
            Value::String(s) => V::StringValue(s.clone()),
            Value::Bool(b) => V::BoolValue(*b),
            Value::Int(i) => V::IntValue(*i),
            Value::Double(d) => V::DoubleValue(*d),
            Value::Bytes(b) => V::BytesValue(b.clone()),
            Value::Array(items) => V::ArrayValue(pc::ArrayValue {
                values: items.iter().filter_map(any).collect(),
            }),
            Value::Map(pairs) => V::KvlistValue(pc::KeyValueList { values: kvs(pairs) }),
            Value::Empty => return None,
        };
        Some(pc::AnyValue { value: Some(value) })
    }

    fn kvs(attrs: &[KeyValue]) -> Vec<pc::KeyValue> {
        attrs
            .iter()
            .map(|kv| pc::KeyValue {
                key: kv.key.clone(),
                value: any(&kv.value),
                ..Default::default()
            })
            .collect()
    }

    /// The span as prost's OTLP message, for prost to measure.
    fn otlp(s: &Span) -> pt::Span {
        let status = (s.status != Status::default()).then(|| pt::Status {
            message: s.status.message.clone(),
            code: s.status.code as i32,
        });
        pt::Span {
            trace_id: s.trace_id.0.to_vec(),
            span_id: s.span_id.0.to_vec(),
            trace_state: s.trace_state.clone(),
            parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
            flags: s.flags,
            name: s.name.clone(),
            kind: s.kind as i32,
            start_time_unix_nano: s.start,
            end_time_unix_nano: s.end,
            attributes: kvs(&s.attributes),
            dropped_attributes_count: s.dropped_attributes_count,
            events: s
                .events
                .iter()
                .map(|e| pt::span::Event {
                    time_unix_nano: e.time,
                    name: e.name.clone(),
                    attributes: kvs(&e.attributes),
                    dropped_attributes_count: e.dropped_attributes_count,
                })
                .collect(),
            dropped_events_count: s.dropped_events_count,
            links: s
                .links
                .iter()
                .map(|l| pt::span::Link {
                    trace_id: l.trace_id.0.to_vec(),
                    span_id: l.span_id.0.to_vec(),
                    trace_state: l.trace_state.clone(),
                    attributes: kvs(&l.attributes),
                    dropped_attributes_count: l.dropped_attributes_count,
                    flags: l.flags,
                })
                .collect(),
            dropped_links_count: s.dropped_links_count,
            status,
        }
    }

    #[test]
    fn sizes_match_prosts_encoding_of_the_otlp_message() {
        let trace = TraceId([7; 16]);
        let bare = Span::new(trace, SpanId([1; 8]), "", 0, 0);
        let mut full = Span::new(trace, SpanId([2; 8]), "GET /api/tasks/{id}", 1, u64::MAX);
        full.parent_span_id = Some(SpanId([1; 8]));
        full.trace_state = "ot=th:8".into();
        full.flags = 0x301;
        full.kind = SpanKind::Consumer;
        full.attributes = vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.status_code", 200_i64),
            KeyValue::new("negative", -1_i64),
            KeyValue::new("ratio", 0.1),
            KeyValue::new("ok", false),
            KeyValue::new("empty.string", ""),
            KeyValue::new("blob", Value::Bytes(vec![0; 300])),
            KeyValue::new(
                "nested",
                Value::Array(vec![
                    Value::Int(3),
                    Value::Map(vec![KeyValue::new("k", "v")]),
                    Value::Array(vec![]),
                ]),
            ),
            KeyValue::new("x".repeat(200), "y".repeat(20_000)),
        ];
        full.dropped_attributes_count = 3;
        full.events = vec![
            Event {
                time: 5,
                name: "exception".into(),
                attributes: vec![KeyValue::new("exception.message", "boom")],
                dropped_attributes_count: 1,
            },
            Event::default(),
        ];
        full.dropped_events_count = 200;
        full.links = vec![
            Link {
                trace_id: trace,
                span_id: SpanId([9; 8]),
                trace_state: "a=b".into(),
                attributes: vec![KeyValue::new("link", 1_i64)],
                dropped_attributes_count: 0,
                flags: 1,
            },
            Link::default(),
        ];
        full.dropped_links_count = 1;
        full.status = Status {
            code: StatusCode::Error,
            message: "timeout".into(),
        };
        let mut ok_only = bare.clone();
        ok_only.status.code = StatusCode::Ok;
        for span in [bare, full, ok_only] {
            let want = otlp(&span).encoded_len();
            assert_eq!(encoded_len(&span), want, "{}", span.name);
        }
    }

    #[test]
    fn varints_grow_a_byte_every_seven_bits() {
        assert_eq!(varint(0), 1);
        assert_eq!(varint(127), 1);
        assert_eq!(varint(128), 2);
        assert_eq!(varint(u64::MAX), 10);
        assert_eq!(key(15), 1);
        assert_eq!(key(16), 2);
    }
}
