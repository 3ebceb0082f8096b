//! The columnar encoding of a block's pages.
//!
//! A page holds a run of spans sorted by trace ID, then start, then span ID: whole traces,
//! except that a trace too large for one page continues in the next. Each field of the
//! spans is a column of its own, compressed with zstd on its own, so that like values sit
//! together: span IDs, parents as positions within the trace, start times as differences
//! from the previous span of the trace, durations, and every string (names, attribute keys
//! and string values, trace states, status messages) as a position in the page's string
//! dictionary. `docs/format/traces.md` draws every column.

use std::collections::HashMap;
use std::sync::Arc;

use spans::{Event, KeyValue, Link, Resource, Scope, Span, SpanId, Status, TraceId, Value};

use crate::row::{self, tag};
use disk::varint::{Reader, put_uvarint, put_varint};

/// A page is finished at the first trace boundary after this many spans.
pub(crate) const TARGET_SPANS: usize = 4096;
/// A page is finished mid-trace at this many spans, so a page's size is bounded whatever
/// the size of a trace.
pub(crate) const MAX_SPANS: usize = 2 * TARGET_SPANS;
/// The zstd level pages are compressed at.
const LEVEL: i32 = 3;
/// No column decompresses to more than this; a larger size in a header is corruption.
const MAX_COLUMN: usize = 1 << 30;

const C_TRACES: usize = 0;
const C_SPAN_IDS: usize = 1;
const C_PARENTS: usize = 2;
const C_PARENT_IDS: usize = 3;
const C_STARTS: usize = 4;
const C_DURATIONS: usize = 5;
const C_NAMES: usize = 6;
const C_KINDS: usize = 7;
const C_MISC: usize = 8;
const C_ATTR_KEYS: usize = 9;
const C_ATTR_TYPES: usize = 10;
const C_ATTR_STRS: usize = 11;
const C_ATTR_NUMS: usize = 12;
const C_ATTR_OTHER: usize = 13;
const C_EVENTS: usize = 14;
const C_LINKS: usize = 15;
const C_STRINGS: usize = 16;
const C_RESOURCES: usize = 17;
const COLUMNS: usize = 18;

const CODEC_RAW: u8 = 0;
const CODEC_ZSTD: u8 = 1;

/// Builds one page.
#[derive(Debug, Default)]
pub(crate) struct PageWriter {
    cols: [Vec<u8>; COLUMNS],
    strings: HashMap<String, u32>,
    string_list: Vec<u8>,
    resources: HashMap<*const Resource, u32>,
    resource_bytes: HashMap<Vec<u8>, u32>,
    scopes: HashMap<*const Scope, u32>,
    scope_bytes: HashMap<Vec<u8>, u32>,
    resource_list: Vec<u8>,
    scope_list: Vec<u8>,
    /// Every `Arc` whose pointer is a key above, held so that no other resource or scope
    /// is allocated at its address while the page is written.
    held: (Vec<Arc<Resource>>, Vec<Arc<Scope>>),
    /// The page's resources in order, with the range of their spans, for the summary.
    pub(crate) resource_ranges: Vec<(Arc<Resource>, crate::tags::Range)>,
    /// Trace ID, span count and first start of each trace in the page.
    traces: Vec<(TraceId, u64, u64)>,
    /// The first row (within the trace) of each span ID of the current trace.
    rows: HashMap<SpanId, u32>,
    prev_start: u64,
    spans: usize,
    base: u64,
}

impl PageWriter {
    /// The number of spans written.
    pub(crate) fn spans(&self) -> usize {
        self.spans
    }

    /// The traces written, with their span counts.
    pub(crate) fn traces(&self) -> impl Iterator<Item = (TraceId, u64)> + '_ {
        self.traces.iter().map(|(id, n, _)| (*id, *n))
    }

    fn string(&mut self, s: &str) -> u64 {
        if let Some(i) = self.strings.get(s) {
            return u64::from(*i);
        }
        let i = self.strings.len() as u32;
        self.strings.insert(s.to_owned(), i);
        disk::varint::put_bytes(&mut self.string_list, s.as_bytes());
        u64::from(i)
    }

    fn put_string(&mut self, col: usize, s: &str) {
        let i = self.string(s);
        put_uvarint(&mut self.cols[col], i);
    }

    fn resource(&mut self, s: &Span) -> u32 {
        if let Some(i) = self.resources.get(&Arc::as_ptr(&s.resource)) {
            return *i;
        }
        let mut b = Vec::new();
        row::put_resource(&mut b, &s.resource);
        let next = self.resource_bytes.len() as u32;
        let i = *self.resource_bytes.entry(b.clone()).or_insert(next);
        if i == next {
            self.resource_list.extend_from_slice(&b);
            self.resource_ranges
                .push((s.resource.clone(), crate::tags::Range::of(s)));
        }
        self.resources.insert(Arc::as_ptr(&s.resource), i);
        self.held.0.push(s.resource.clone());
        i
    }

    fn scope(&mut self, s: &Span) -> u32 {
        if let Some(i) = self.scopes.get(&Arc::as_ptr(&s.scope)) {
            return *i;
        }
        let mut b = Vec::new();
        row::put_scope(&mut b, &s.scope);
        let next = self.scope_bytes.len() as u32;
        let i = *self.scope_bytes.entry(b.clone()).or_insert(next);
        if i == next {
            self.scope_list.extend_from_slice(&b);
        }
        self.scopes.insert(Arc::as_ptr(&s.scope), i);
        self.held.1.push(s.scope.clone());
        i
    }

    fn put_attrs(&mut self, attrs: &[KeyValue]) {
        put_uvarint(&mut self.cols[C_ATTR_KEYS], attrs.len() as u64);
        for a in attrs {
            self.put_string(C_ATTR_KEYS, &a.key);
            match &a.value {
                Value::String(s) => {
                    self.cols[C_ATTR_TYPES].push(tag::STRING);
                    self.put_string(C_ATTR_STRS, s);
                }
                Value::Int(i) => {
                    self.cols[C_ATTR_TYPES].push(tag::INT);
                    put_varint(&mut self.cols[C_ATTR_NUMS], *i);
                }
                Value::Double(d) => {
                    self.cols[C_ATTR_TYPES].push(tag::DOUBLE);
                    self.cols[C_ATTR_NUMS].extend_from_slice(&d.to_bits().to_le_bytes());
                }
                Value::Bool(b) => {
                    self.cols[C_ATTR_TYPES].push(if *b { tag::TRUE } else { tag::FALSE })
                }
                Value::Empty => self.cols[C_ATTR_TYPES].push(tag::EMPTY),
                other => {
                    // Bytes, lists and maps are rare: kept whole, in the row encoding.
                    self.cols[C_ATTR_TYPES].push(tag::BYTES);
                    row::put_value(&mut self.cols[C_ATTR_OTHER], other);
                }
            }
        }
    }

    /// Adds a span; spans come sorted by trace ID, start and span ID.
    pub(crate) fn push(&mut self, s: &Span) {
        if self.spans == 0 {
            self.base = s.start;
        }
        let first = self.traces.last().is_none_or(|t| t.0 != s.trace_id);
        if first {
            self.traces.push((s.trace_id, 0, s.start));
            self.rows.clear();
        } else {
            put_uvarint(
                &mut self.cols[C_STARTS],
                s.start.wrapping_sub(self.prev_start),
            );
        }
        self.prev_start = s.start;
        let row_in_trace = match self.traces.last_mut() {
            Some(t) => {
                t.1 += 1;
                (t.1 - 1) as u32
            }
            None => 0,
        };
        self.cols[C_SPAN_IDS].extend_from_slice(&s.span_id.0);
        let parent = match s.parent_span_id {
            None => 0,
            Some(p) => match self.rows.get(&p) {
                Some(row) => u64::from(*row) + 2,
                None => {
                    self.cols[C_PARENT_IDS].extend_from_slice(&p.0);
                    1
                }
            },
        };
        put_uvarint(&mut self.cols[C_PARENTS], parent);
        self.rows.entry(s.span_id).or_insert(row_in_trace);
        put_varint(
            &mut self.cols[C_DURATIONS],
            s.end.wrapping_sub(s.start) as i64,
        );
        self.put_string(C_NAMES, &s.name);
        self.cols[C_KINDS].push(s.kind as u8 | ((s.status.code as u8) << 4));
        let resource = self.resource(s);
        if let Some((_, r)) = self.resource_ranges.get_mut(resource as usize) {
            r.widen(crate::tags::Range::of(s));
        }
        let scope = self.scope(s);
        let trace_state = self.string(&s.trace_state);
        let message = self.string(&s.status.message);
        let misc = &mut self.cols[C_MISC];
        for v in [
            u64::from(s.flags),
            trace_state,
            message,
            u64::from(resource),
            u64::from(scope),
            u64::from(s.dropped_attributes_count),
            u64::from(s.dropped_events_count),
            u64::from(s.dropped_links_count),
        ] {
            put_uvarint(misc, v);
        }
        self.put_attrs(&s.attributes);
        put_uvarint(&mut self.cols[C_EVENTS], s.events.len() as u64);
        for e in &s.events {
            put_varint(
                &mut self.cols[C_EVENTS],
                e.time.wrapping_sub(s.start) as i64,
            );
            self.put_string(C_EVENTS, &e.name);
            put_uvarint(
                &mut self.cols[C_EVENTS],
                u64::from(e.dropped_attributes_count),
            );
            self.put_attrs(&e.attributes);
        }
        put_uvarint(&mut self.cols[C_LINKS], s.links.len() as u64);
        for l in &s.links {
            self.cols[C_LINKS].extend_from_slice(&l.trace_id.0);
            self.cols[C_LINKS].extend_from_slice(&l.span_id.0);
            self.put_string(C_LINKS, &l.trace_state);
            put_uvarint(
                &mut self.cols[C_LINKS],
                u64::from(l.dropped_attributes_count),
            );
            put_uvarint(&mut self.cols[C_LINKS], u64::from(l.flags));
            self.put_attrs(&l.attributes);
        }
        self.spans += 1;
    }

    /// Encodes the page and resets the writer for the next one.
    pub(crate) fn finish(&mut self) -> Result<Vec<u8>, String> {
        let mut done = std::mem::take(self);
        let traces = &mut done.cols[C_TRACES];
        for (id, n, first) in &done.traces {
            traces.extend_from_slice(&id.0);
            put_uvarint(traces, *n);
            put_varint(traces, first.wrapping_sub(done.base) as i64);
        }
        let strings = &mut done.cols[C_STRINGS];
        put_uvarint(strings, done.strings.len() as u64);
        strings.extend_from_slice(&done.string_list);
        let res = &mut done.cols[C_RESOURCES];
        put_uvarint(res, done.resource_bytes.len() as u64);
        res.extend_from_slice(&done.resource_list);
        put_uvarint(res, done.scope_bytes.len() as u64);
        res.extend_from_slice(&done.scope_list);

        let mut out = Vec::new();
        put_uvarint(&mut out, done.spans as u64);
        put_uvarint(&mut out, done.traces.len() as u64);
        put_uvarint(&mut out, done.base);
        put_uvarint(&mut out, COLUMNS as u64);
        let mut stored = Vec::with_capacity(COLUMNS);
        for col in &done.cols {
            let z = zstd::bulk::compress(col, LEVEL).map_err(|e| format!("compressing: {e}"))?;
            if z.len() < col.len() {
                out.push(CODEC_ZSTD);
                put_uvarint(&mut out, col.len() as u64);
                put_uvarint(&mut out, z.len() as u64);
                stored.push(z);
            } else {
                out.push(CODEC_RAW);
                put_uvarint(&mut out, col.len() as u64);
                put_uvarint(&mut out, col.len() as u64);
                stored.push(col.clone());
            }
        }
        for s in stored {
            out.extend_from_slice(&s);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        // Keep the allocations of the columns for the next page.
        for (mine, mut old) in self.cols.iter_mut().zip(done.cols) {
            old.clear();
            *mine = old;
        }
        Ok(out)
    }
}

/// A decoded page: its columns, decompressed.
#[derive(Debug)]
pub(crate) struct Page {
    cols: Vec<Vec<u8>>,
    spans: usize,
    traces: usize,
    base: u64,
}

/// Checks a page's checksum and decompresses its columns. Errors name the byte within
/// the page.
pub(crate) fn decode(bytes: &[u8]) -> Result<Page, String> {
    let Some(body_len) = bytes.len().checked_sub(4) else {
        return Err("page shorter than its checksum".into());
    };
    let (body, crc) = bytes.split_at(body_len);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    let spans = r.usize()?;
    let traces = r.usize()?;
    let base = r.uvarint()?;
    let n = r.usize()?;
    if n != COLUMNS {
        return Err(format!("{n} columns where this version writes {COLUMNS}"));
    }
    let mut heads = Vec::with_capacity(COLUMNS);
    for _ in 0..n {
        let at = r.pos();
        let codec = r.u8()?;
        let raw = r.usize()?;
        let stored = r.usize()?;
        if raw > MAX_COLUMN {
            return Err(format!("column of {raw} bytes at byte {at} is too large"));
        }
        heads.push((at, codec, raw, stored));
    }
    let mut cols = Vec::with_capacity(COLUMNS);
    for (at, codec, raw, stored) in heads {
        let data_at = r.pos();
        let data = r.take(stored)?;
        let col = match codec {
            CODEC_RAW => data.to_vec(),
            CODEC_ZSTD => zstd::bulk::decompress(data, raw)
                .map_err(|e| format!("column at byte {data_at} does not decompress: {e}"))?,
            other => return Err(format!("unknown codec {other} at byte {at}")),
        };
        if col.len() != raw {
            return Err(format!(
                "column at byte {data_at} decompressed to {} bytes, not {raw}",
                col.len()
            ));
        }
        cols.push(col);
    }
    if !r.is_empty() {
        return Err(format!("trailing bytes after byte {}", r.pos()));
    }
    Ok(Page {
        cols,
        spans,
        traces,
        base,
    })
}

/// Readers over a page's columns, and its dictionaries.
struct Cursor<'a> {
    r: Vec<Reader<'a>>,
    strings: Vec<&'a str>,
    resources: Vec<Arc<Resource>>,
    scopes: Vec<Arc<Scope>>,
}

impl<'a> Cursor<'a> {
    fn string(&mut self, col: usize) -> Result<&'a str, String> {
        let at = self.r[col].pos();
        let i = self.r[col].usize()?;
        self.strings.get(i).copied().ok_or_else(|| {
            format!("string {i} at byte {at} of column {col} is not in the dictionary")
        })
    }

    fn attrs(&mut self, keep: bool) -> Result<Vec<KeyValue>, String> {
        let n = self.r[C_ATTR_KEYS].usize()?;
        let mut out = Vec::with_capacity(if keep { n.min(1024) } else { 0 });
        for _ in 0..n {
            let key = self.string(C_ATTR_KEYS)?;
            let t = self.r[C_ATTR_TYPES].u8()?;
            let value = match t {
                tag::STRING => {
                    let s = self.string(C_ATTR_STRS)?;
                    if !keep {
                        continue;
                    }
                    Value::String(s.to_owned())
                }
                tag::INT => Value::Int(self.r[C_ATTR_NUMS].varint()?),
                tag::DOUBLE => Value::Double(f64::from_bits(self.r[C_ATTR_NUMS].u64_le()?)),
                tag::TRUE => Value::Bool(true),
                tag::FALSE => Value::Bool(false),
                tag::EMPTY => Value::Empty,
                tag::BYTES => {
                    let r = &mut self.r[C_ATTR_OTHER];
                    let t = r.u8()?;
                    row::value_after_tag(r, t, 0)?
                }
                other => {
                    return Err(format!(
                        "unknown attribute type {other} at byte {} of its column",
                        self.r[C_ATTR_TYPES].pos() - 1
                    ));
                }
            };
            if keep {
                out.push(KeyValue {
                    key: key.to_owned(),
                    value,
                });
            }
        }
        Ok(out)
    }
}

impl Page {
    /// Calls `out` with every span of the traces `keep` accepts, in page order.
    pub(crate) fn rows(
        &self,
        keep: impl Fn(&TraceId) -> bool,
        mut out: impl FnMut(Span),
    ) -> Result<(), String> {
        let mut c = Cursor {
            r: self.cols.iter().map(|c| Reader::new(c)).collect(),
            strings: Vec::new(),
            resources: Vec::new(),
            scopes: Vec::new(),
        };
        let n = c.r[C_STRINGS].usize()?;
        c.strings.reserve(n.min(1 << 20));
        for _ in 0..n {
            c.strings.push(c.r[C_STRINGS].str()?);
        }
        for _ in 0..c.r[C_RESOURCES].usize()? {
            c.resources
                .push(Arc::new(row::resource(&mut c.r[C_RESOURCES])?));
        }
        for _ in 0..c.r[C_RESOURCES].usize()? {
            c.scopes.push(Arc::new(row::scope(&mut c.r[C_RESOURCES])?));
        }
        let mut ids: Vec<SpanId> = Vec::new();
        let mut seen = 0usize;
        for _ in 0..self.traces {
            let trace_id = TraceId(c.r[C_TRACES].array()?);
            let count = c.r[C_TRACES].usize()?;
            let mut start = self.base.wrapping_add(c.r[C_TRACES].varint()? as u64);
            let keep = keep(&trace_id);
            ids.clear();
            for row in 0..count {
                if row > 0 {
                    start = start.wrapping_add(c.r[C_STARTS].uvarint()?);
                }
                let span_id = SpanId(c.r[C_SPAN_IDS].array()?);
                ids.push(span_id);
                let at = c.r[C_PARENTS].pos();
                let parent_span_id = match c.r[C_PARENTS].usize()? {
                    0 => None,
                    1 => Some(SpanId(c.r[C_PARENT_IDS].array()?)),
                    k => Some(*ids.get(k - 2).ok_or_else(|| {
                        format!(
                            "parent row {} at byte {at} of its column is not in the trace",
                            k - 2
                        )
                    })?),
                };
                let end = start.wrapping_add(c.r[C_DURATIONS].varint()? as u64);
                let name = c.string(C_NAMES)?;
                let at = c.r[C_KINDS].pos();
                let ks = c.r[C_KINDS].u8()?;
                let kind = row::kind(ks & 0xf, at)?;
                let code = row::status_code(ks >> 4, at)?;
                let flags = c.r[C_MISC].u32v()?;
                let trace_state = c.string(C_MISC)?;
                let message = c.string(C_MISC)?;
                let at = c.r[C_MISC].pos();
                let res = c.r[C_MISC].usize()?;
                let scope = c.r[C_MISC].usize()?;
                let dropped_attributes_count = c.r[C_MISC].u32v()?;
                let dropped_events_count = c.r[C_MISC].u32v()?;
                let dropped_links_count = c.r[C_MISC].u32v()?;
                let attributes = c.attrs(keep)?;
                let n = c.r[C_EVENTS].usize()?;
                let mut events = Vec::with_capacity(if keep { n.min(1024) } else { 0 });
                for _ in 0..n {
                    let time = start.wrapping_add(c.r[C_EVENTS].varint()? as u64);
                    let name = c.string(C_EVENTS)?;
                    let dropped_attributes_count = c.r[C_EVENTS].u32v()?;
                    let attributes = c.attrs(keep)?;
                    if keep {
                        events.push(Event {
                            time,
                            name: name.to_owned(),
                            attributes,
                            dropped_attributes_count,
                        });
                    }
                }
                let n = c.r[C_LINKS].usize()?;
                let mut links = Vec::with_capacity(if keep { n.min(1024) } else { 0 });
                for _ in 0..n {
                    let trace_id = TraceId(c.r[C_LINKS].array()?);
                    let span_id = SpanId(c.r[C_LINKS].array()?);
                    let trace_state = c.string(C_LINKS)?;
                    let dropped_attributes_count = c.r[C_LINKS].u32v()?;
                    let flags = c.r[C_LINKS].u32v()?;
                    let attributes = c.attrs(keep)?;
                    if keep {
                        links.push(Link {
                            trace_id,
                            span_id,
                            trace_state: trace_state.to_owned(),
                            attributes,
                            dropped_attributes_count,
                            flags,
                        });
                    }
                }
                seen += 1;
                if !keep {
                    continue;
                }
                let (Some(resource), Some(scope)) = (c.resources.get(res), c.scopes.get(scope))
                else {
                    return Err(format!(
                        "resource {res} or scope {scope} at byte {at} of its column is not in the page"
                    ));
                };
                out(Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    trace_state: trace_state.to_owned(),
                    flags,
                    name: name.to_owned(),
                    kind,
                    start,
                    end,
                    attributes,
                    dropped_attributes_count,
                    events,
                    dropped_events_count,
                    links,
                    dropped_links_count,
                    status: Status {
                        code,
                        message: message.to_owned(),
                    },
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
        if seen != self.spans {
            return Err(format!(
                "the page says it holds {} spans, its traces hold {seen}",
                self.spans
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spans::conformance::{rich_span, span};

    fn sorted(mut spans: Vec<Span>) -> Vec<Span> {
        spans.sort_by_key(|s| (s.trace_id, s.start, s.span_id));
        spans
    }

    fn round_trip(spans: &[Span]) -> Vec<Span> {
        let mut w = PageWriter::default();
        for s in spans {
            w.push(s);
        }
        let bytes = w.finish().unwrap();
        let page = decode(&bytes).unwrap();
        let mut out = Vec::new();
        page.rows(|_| true, |s| out.push(s)).unwrap();
        out
    }

    #[test]
    fn every_field_round_trips() {
        let mut rich2 = rich_span();
        rich2.span_id = SpanId([9; 8]);
        rich2.start += 5;
        rich2.parent_span_id = Some(rich_span().span_id);
        let mut root = rich_span();
        root.span_id = SpanId([3; 8]);
        root.start -= 7;
        root.end = root.start - 1;
        root.parent_span_id = None;
        let spans = sorted(vec![
            rich_span(),
            rich2,
            root,
            span(1, 0, "api", 10, 5),
            span(1, 1, "api", 11, 5),
            span(2, 0, "p2p", 1, 5),
        ]);
        let back = round_trip(&spans);
        assert_eq!(format!("{back:?}"), format!("{spans:?}"));
    }

    #[test]
    fn a_writer_is_reused_page_after_page_and_rows_can_be_skipped() {
        let mut w = PageWriter::default();
        let first: Vec<Span> = (0..3).map(|n| span(1, n, "api", 10 + n, 5)).collect();
        for s in &first {
            w.push(s);
        }
        let p1 = w.finish().unwrap();
        let second: Vec<Span> = sorted(vec![span(2, 0, "db", 50, 5), span(3, 0, "db", 60, 5)]);
        for s in &second {
            w.push(s);
        }
        let p2 = w.finish().unwrap();
        let mut out = Vec::new();
        decode(&p1)
            .unwrap()
            .rows(|_| true, |s| out.push(s))
            .unwrap();
        assert_eq!(out, first);
        out.clear();
        let want = second[1].trace_id;
        decode(&p2)
            .unwrap()
            .rows(|id| *id == want, |s| out.push(s))
            .unwrap();
        assert_eq!(out, [second[1].clone()]);
    }

    #[test]
    fn a_damaged_page_is_refused() {
        let mut w = PageWriter::default();
        w.push(&rich_span());
        let mut bytes = w.finish().unwrap();
        bytes[3] ^= 0x10;
        let e = decode(&bytes).unwrap_err();
        assert!(e.contains("checksum"), "{e}");
    }
}
