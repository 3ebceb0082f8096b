//! The row encoding of spans: one span after another, strings inline. The WAL writes
//! batches in it and the head keeps its spans in it, so that a span costs a few hundred
//! bytes in memory rather than the several allocations of a [`Span`]; blocks use the
//! columnar encoding of `page` instead. `docs/format/traces.md` draws it.
//!
//! A span's body starts with its ID and times so that sorting and summarising need not
//! decode the rest.

use std::sync::Arc;

use spans::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId,
    Value,
};

use disk::varint::{Reader, put_bytes, put_uvarint, put_varint};

/// The tags of encoded values; the page encoding uses the same numbers.
pub(crate) mod tag {
    pub(crate) const EMPTY: u8 = 0;
    pub(crate) const STRING: u8 = 1;
    pub(crate) const FALSE: u8 = 2;
    pub(crate) const TRUE: u8 = 3;
    pub(crate) const INT: u8 = 4;
    pub(crate) const DOUBLE: u8 = 5;
    pub(crate) const BYTES: u8 = 6;
    pub(crate) const ARRAY: u8 = 7;
    pub(crate) const MAP: u8 = 8;
}

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_bytes(buf, s.as_bytes());
}

pub(crate) fn put_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Empty => buf.push(tag::EMPTY),
        Value::String(s) => {
            buf.push(tag::STRING);
            put_str(buf, s);
        }
        Value::Bool(false) => buf.push(tag::FALSE),
        Value::Bool(true) => buf.push(tag::TRUE),
        Value::Int(i) => {
            buf.push(tag::INT);
            put_varint(buf, *i);
        }
        Value::Double(d) => {
            buf.push(tag::DOUBLE);
            buf.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Bytes(b) => {
            buf.push(tag::BYTES);
            put_bytes(buf, b);
        }
        Value::Array(items) => {
            buf.push(tag::ARRAY);
            put_uvarint(buf, items.len() as u64);
            for item in items {
                put_value(buf, item);
            }
        }
        Value::Map(pairs) => {
            buf.push(tag::MAP);
            put_attrs(buf, pairs);
        }
    }
}

/// Reads a value whose tag was already read. Nesting is limited so that corrupt data
/// cannot recurse without end.
pub(crate) fn value_after_tag(r: &mut Reader<'_>, t: u8, depth: u32) -> Result<Value, String> {
    if depth > 64 {
        return Err(format!("values nested over 64 deep at byte {}", r.pos()));
    }
    Ok(match t {
        tag::EMPTY => Value::Empty,
        tag::STRING => Value::String(r.str()?.to_owned()),
        tag::FALSE => Value::Bool(false),
        tag::TRUE => Value::Bool(true),
        tag::INT => Value::Int(r.varint()?),
        tag::DOUBLE => Value::Double(f64::from_bits(r.u64_le()?)),
        tag::BYTES => Value::Bytes(r.bytes()?.to_vec()),
        tag::ARRAY => {
            let n = r.usize()?;
            let mut items = Vec::with_capacity(n.min(1024));
            for _ in 0..n {
                let t = r.u8()?;
                items.push(value_after_tag(r, t, depth + 1)?);
            }
            Value::Array(items)
        }
        tag::MAP => Value::Map(attrs_at(r, depth + 1)?),
        other => return Err(format!("unknown value tag {other} at byte {}", r.pos() - 1)),
    })
}

pub(crate) fn put_attrs(buf: &mut Vec<u8>, attrs: &[KeyValue]) {
    put_uvarint(buf, attrs.len() as u64);
    for a in attrs {
        put_str(buf, &a.key);
        put_value(buf, &a.value);
    }
}

fn attrs_at(r: &mut Reader<'_>, depth: u32) -> Result<Vec<KeyValue>, String> {
    let n = r.usize()?;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let key = r.str()?.to_owned();
        let t = r.u8()?;
        out.push(KeyValue {
            key,
            value: value_after_tag(r, t, depth)?,
        });
    }
    Ok(out)
}

pub(crate) fn attrs(r: &mut Reader<'_>) -> Result<Vec<KeyValue>, String> {
    attrs_at(r, 0)
}

pub(crate) fn put_resource(buf: &mut Vec<u8>, res: &Resource) {
    put_attrs(buf, &res.attributes);
    put_uvarint(buf, u64::from(res.dropped_attributes_count));
    put_str(buf, &res.schema_url);
}

pub(crate) fn resource(r: &mut Reader<'_>) -> Result<Resource, String> {
    Ok(Resource {
        attributes: attrs(r)?,
        dropped_attributes_count: r.u32v()?,
        schema_url: r.str()?.to_owned(),
    })
}

pub(crate) fn put_scope(buf: &mut Vec<u8>, scope: &Scope) {
    put_str(buf, &scope.name);
    put_str(buf, &scope.version);
    put_attrs(buf, &scope.attributes);
    put_uvarint(buf, u64::from(scope.dropped_attributes_count));
    put_str(buf, &scope.schema_url);
}

pub(crate) fn scope(r: &mut Reader<'_>) -> Result<Scope, String> {
    Ok(Scope {
        name: r.str()?.to_owned(),
        version: r.str()?.to_owned(),
        attributes: attrs(r)?,
        dropped_attributes_count: r.u32v()?,
        schema_url: r.str()?.to_owned(),
    })
}

/// Appends a span's body: everything but its trace ID, resource and scope.
pub(crate) fn put_body(buf: &mut Vec<u8>, s: &Span) {
    buf.extend_from_slice(&s.span_id.0);
    put_uvarint(buf, s.start);
    // The end as a signed difference: a span may end before it starts.
    put_varint(buf, s.end.wrapping_sub(s.start) as i64);
    match s.parent_span_id {
        None => buf.push(0),
        Some(p) => {
            buf.push(1);
            buf.extend_from_slice(&p.0);
        }
    }
    put_str(buf, &s.trace_state);
    put_uvarint(buf, u64::from(s.flags));
    put_str(buf, &s.name);
    buf.push(s.kind as u8);
    put_attrs(buf, &s.attributes);
    put_uvarint(buf, u64::from(s.dropped_attributes_count));
    put_uvarint(buf, s.events.len() as u64);
    for e in &s.events {
        put_uvarint(buf, e.time);
        put_str(buf, &e.name);
        put_attrs(buf, &e.attributes);
        put_uvarint(buf, u64::from(e.dropped_attributes_count));
    }
    put_uvarint(buf, u64::from(s.dropped_events_count));
    put_uvarint(buf, s.links.len() as u64);
    for l in &s.links {
        buf.extend_from_slice(&l.trace_id.0);
        buf.extend_from_slice(&l.span_id.0);
        put_str(buf, &l.trace_state);
        put_attrs(buf, &l.attributes);
        put_uvarint(buf, u64::from(l.dropped_attributes_count));
        put_uvarint(buf, u64::from(l.flags));
    }
    put_uvarint(buf, u64::from(s.dropped_links_count));
    buf.push(s.status.code as u8);
    put_str(buf, &s.status.message);
}

/// The leading fields of a body: span ID, start and end.
pub(crate) fn body_key(body: &[u8]) -> Result<(SpanId, u64, u64), String> {
    let mut r = Reader::new(body);
    let id = SpanId(r.array()?);
    let start = r.uvarint()?;
    let end = start.wrapping_add(r.varint()? as u64);
    Ok((id, start, end))
}

pub(crate) fn kind(n: u8, at: usize) -> Result<SpanKind, String> {
    SpanKind::from_i32(i32::from(n)).ok_or_else(|| format!("unknown span kind {n} at byte {at}"))
}

pub(crate) fn status_code(n: u8, at: usize) -> Result<StatusCode, String> {
    StatusCode::from_i32(i32::from(n))
        .ok_or_else(|| format!("unknown status code {n} at byte {at}"))
}

/// Decodes a body written by [`put_body`].
pub(crate) fn body(
    r: &mut Reader<'_>,
    trace_id: TraceId,
    resource: Arc<Resource>,
    scope: Arc<Scope>,
) -> Result<Span, String> {
    let span_id = SpanId(r.array()?);
    let start = r.uvarint()?;
    let end = start.wrapping_add(r.varint()? as u64);
    let parent_span_id = match r.u8()? {
        0 => None,
        _ => Some(SpanId(r.array()?)),
    };
    let trace_state = r.str()?.to_owned();
    let flags = r.u32v()?;
    let name = r.str()?.to_owned();
    let at = r.pos();
    let kind = kind(r.u8()?, at)?;
    let attributes = attrs(r)?;
    let dropped_attributes_count = r.u32v()?;
    let n = r.usize()?;
    let mut events = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        events.push(Event {
            time: r.uvarint()?,
            name: r.str()?.to_owned(),
            attributes: attrs(r)?,
            dropped_attributes_count: r.u32v()?,
        });
    }
    let dropped_events_count = r.u32v()?;
    let n = r.usize()?;
    let mut links = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        links.push(Link {
            trace_id: TraceId(r.array()?),
            span_id: SpanId(r.array()?),
            trace_state: r.str()?.to_owned(),
            attributes: attrs(r)?,
            dropped_attributes_count: r.u32v()?,
            flags: r.u32v()?,
        });
    }
    let dropped_links_count = r.u32v()?;
    let at = r.pos();
    let code = status_code(r.u8()?, at)?;
    let message = r.str()?.to_owned();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        flags,
        name,
        kind,
        start,
        end,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status: Status { code, message },
        resource,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rich_span_round_trips_through_the_row_encoding() {
        let s = spans::conformance::rich_span();
        let mut buf = Vec::new();
        put_body(&mut buf, &s);
        assert_eq!(body_key(&buf).unwrap(), (s.span_id, s.start, s.end));
        let mut r = Reader::new(&buf);
        let back = body(&mut r, s.trace_id, s.resource.clone(), s.scope.clone()).unwrap();
        assert!(r.is_empty());
        assert_eq!(format!("{back:?}"), format!("{s:?}"));
        let mut res = Vec::new();
        put_resource(&mut res, &s.resource);
        put_scope(&mut res, &s.scope);
        let mut r = Reader::new(&res);
        assert_eq!(resource(&mut r).unwrap(), *s.resource);
        assert_eq!(scope(&mut r).unwrap(), *s.scope);
    }

    #[test]
    fn an_end_before_the_start_survives() {
        let mut s = Span::new(TraceId([1; 16]), SpanId([2; 8]), "x", 100, 3);
        s.parent_span_id = Some(SpanId::default());
        let mut buf = Vec::new();
        put_body(&mut buf, &s);
        let back = body(
            &mut Reader::new(&buf),
            s.trace_id,
            s.resource.clone(),
            s.scope.clone(),
        )
        .unwrap();
        assert_eq!(back, s);
    }
}
