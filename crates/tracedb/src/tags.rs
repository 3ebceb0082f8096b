//! What a head or a block holds, summarised: each attribute key's values, each service's
//! operations, and the longest span, each with the time range it was seen in. Tag
//! queries (`tag_names`, `tag_values`, `operations`) and the skipping of `scan`'s hints read
//! these instead of decoding spans.
//!
//! A value's time range runs from the earliest start to the latest end of the spans that
//! carry it; a query's window is compared with that range, so a value is reported for a
//! window that falls between two of its spans too. A key keeps at most
//! [`MAX_VALUES_PER_KEY`] values; past that it is marked overflowed, its values are no
//! longer listed in full, and hints on it never skip anything.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use spans::{AttributeScope, KeyValue, Span, SpanKind, TagNames, Value, Window};

use crate::row::put_str;
use disk::varint::{Reader, put_uvarint};

/// The most distinct values kept per attribute key, per head or block.
pub const MAX_VALUES_PER_KEY: usize = 1_000;

/// A closed range of Unix nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) min: u64,
    pub(crate) max: u64,
}

impl Range {
    pub(crate) fn of(s: &Span) -> Self {
        Self {
            min: s.start,
            max: s.end.max(s.start),
        }
    }

    pub(crate) fn widen(&mut self, other: Range) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub(crate) fn overlaps(&self, w: Window) -> bool {
        w.overlaps(self.min, self.max)
    }
}

fn widen(slot: &mut Option<Range>, r: Range) {
    match slot {
        Some(x) => x.widen(r),
        None => *slot = Some(r),
    }
}

/// The values of one attribute key.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyTags {
    pub(crate) seen: Option<Range>,
    pub(crate) values: HashMap<String, Range>,
    /// More than [`MAX_VALUES_PER_KEY`] values were seen; `values` holds some of them.
    pub(crate) overflow: bool,
}

impl KeyTags {
    fn add(&mut self, text: &str, r: Range) {
        widen(&mut self.seen, r);
        if let Some(x) = self.values.get_mut(text) {
            x.widen(r);
        } else if self.values.len() < MAX_VALUES_PER_KEY {
            self.values.insert(text.to_owned(), r);
        } else {
            self.overflow = true;
        }
    }
}

/// A summary of spans; see the module's docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tags {
    pub(crate) resource: HashMap<String, KeyTags>,
    pub(crate) span: HashMap<String, KeyTags>,
    /// Service, then span name, then the range per span kind (by OTLP number).
    pub(crate) ops: HashMap<String, HashMap<String, [Option<Range>; 6]>>,
    pub(crate) max_duration: u64,
}

/// Calls `f` with the value as [`Value::to_text`] writes it, without allocating for strings
/// and numbers.
fn with_text(v: &Value, buf: &mut String, f: impl FnOnce(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Int(i) => {
            buf.clear();
            let _ = write!(buf, "{i}");
            f(buf);
        }
        Value::Bool(b) => f(if *b { "true" } else { "false" }),
        other => f(&other.to_text()),
    }
}

fn add_attrs(map: &mut HashMap<String, KeyTags>, attrs: &[KeyValue], r: Range, buf: &mut String) {
    for a in attrs {
        let key = match map.get_mut(a.key.as_str()) {
            Some(k) => k,
            None => map.entry(a.key.clone()).or_default(),
        };
        with_text(&a.value, buf, |t| key.add(t, r));
    }
}

impl Tags {
    /// Adds a span's own attributes, operation and duration (not its resource's
    /// attributes: see [`Tags::add_resource`]).
    pub(crate) fn add_span(&mut self, s: &Span, buf: &mut String) {
        let r = Range::of(s);
        add_attrs(&mut self.span, &s.attributes, r, buf);
        let service = s.service_name();
        let names = match self.ops.get_mut(service) {
            Some(n) => n,
            None => self.ops.entry(service.to_owned()).or_default(),
        };
        let kinds = match names.get_mut(s.name.as_str()) {
            Some(k) => k,
            None => names.entry(s.name.clone()).or_default(),
        };
        widen(&mut kinds[s.kind as usize], r);
        self.max_duration = self.max_duration.max(s.duration());
    }

    /// Adds a resource's attributes as seen over `r`: callers add each resource once per
    /// group of spans, with the group's range, rather than once per span.
    pub(crate) fn add_resource(&mut self, res: &spans::Resource, r: Range, buf: &mut String) {
        add_attrs(&mut self.resource, &res.attributes, r, buf);
    }

    /// Adds everything `other` holds.
    pub(crate) fn merge(&mut self, other: &Tags) {
        for (mine, theirs) in [
            (&mut self.resource, &other.resource),
            (&mut self.span, &other.span),
        ] {
            for (key, t) in theirs {
                let k = match mine.get_mut(key.as_str()) {
                    Some(k) => k,
                    None => mine.entry(key.clone()).or_default(),
                };
                if let Some(r) = t.seen {
                    widen(&mut k.seen, r);
                }
                k.overflow |= t.overflow;
                for (v, r) in &t.values {
                    k.add(v, *r);
                }
            }
        }
        for (service, names) in &other.ops {
            let mine = match self.ops.get_mut(service.as_str()) {
                Some(m) => m,
                None => self.ops.entry(service.clone()).or_default(),
            };
            for (name, kinds) in names {
                let k = match mine.get_mut(name.as_str()) {
                    Some(k) => k,
                    None => mine.entry(name.clone()).or_default(),
                };
                for (slot, r) in k.iter_mut().zip(kinds) {
                    if let Some(r) = r {
                        widen(slot, *r);
                    }
                }
            }
        }
        self.max_duration = self.max_duration.max(other.max_duration);
    }

    fn keys(&self, scope: AttributeScope) -> &HashMap<String, KeyTags> {
        match scope {
            AttributeScope::Resource => &self.resource,
            AttributeScope::Span => &self.span,
        }
    }

    /// Adds the keys seen in `window` to `out`.
    pub(crate) fn names(&self, window: Window, out: &mut TagNames) {
        for (map, set) in [
            (&self.resource, &mut out.resource),
            (&self.span, &mut out.span),
        ] {
            for (key, t) in map {
                if t.seen.is_some_and(|r| r.overlaps(window)) && !set.contains(key) {
                    set.insert(key.clone());
                }
            }
        }
    }

    /// Adds the values of `key` seen in `window` to `out`.
    pub(crate) fn values(
        &self,
        window: Window,
        scope: AttributeScope,
        key: &str,
        out: &mut BTreeSet<String>,
    ) {
        if let Some(t) = self.keys(scope).get(key) {
            for (v, r) in &t.values {
                if r.overlaps(window) && !out.contains(v) {
                    out.insert(v.clone());
                }
            }
        }
    }

    /// Adds `service`'s span names and kinds seen in `window` to `out`.
    pub(crate) fn operations(
        &self,
        window: Window,
        service: &str,
        out: &mut BTreeSet<(String, SpanKind)>,
    ) {
        for (name, kinds) in self.ops.get(service).into_iter().flatten() {
            for (n, r) in kinds.iter().enumerate() {
                if r.is_some_and(|r| r.overlaps(window))
                    && let Some(kind) = SpanKind::from_i32(n as i32)
                {
                    out.insert((name.clone(), kind));
                }
            }
        }
    }

    /// Whether some span may have `value` for `key` in `scope`.
    pub(crate) fn may_have(&self, scope: AttributeScope, key: &str, value: &str) -> bool {
        self.keys(scope)
            .get(key)
            .is_some_and(|t| t.overflow || t.values.contains_key(value))
    }

    /// Whether some span may have the service and span name of a hint, and last long
    /// enough.
    pub(crate) fn may_match(&self, hint: &spans::Hint) -> bool {
        hint.service
            .as_deref()
            .is_none_or(|s| self.ops.contains_key(s))
            && hint
                .span_name
                .as_deref()
                .is_none_or(|n| self.ops.values().any(|names| names.contains_key(n)))
            && hint
                .min_span_duration
                .is_none_or(|d| self.max_duration >= d)
            && hint
                .attributes
                .iter()
                .all(|(scope, key, value)| self.may_have(*scope, key, value))
    }

    /// The keys with the range they were seen in, sorted, for a block's meta.
    pub(crate) fn key_ranges(&self, scope: AttributeScope) -> Vec<(String, [u64; 2])> {
        let mut out: Vec<(String, [u64; 2])> = self
            .keys(scope)
            .iter()
            .filter_map(|(k, t)| t.seen.map(|r| (k.clone(), [r.min, r.max])))
            .collect();
        out.sort();
        out
    }

    /// Encodes the summary; `docs/format/traces.md` draws it.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        fn put_range(buf: &mut Vec<u8>, r: Range) {
            put_uvarint(buf, r.min);
            put_uvarint(buf, r.max - r.min);
        }
        for map in [&self.resource, &self.span] {
            let mut keys: Vec<_> = map.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            put_uvarint(buf, keys.len() as u64);
            for (key, t) in keys {
                put_str(buf, key);
                buf.push(u8::from(t.overflow));
                put_range(buf, t.seen.unwrap_or(Range { min: 0, max: 0 }));
                let mut values: Vec<_> = t.values.iter().collect();
                values.sort_by(|a, b| a.0.cmp(b.0));
                put_uvarint(buf, values.len() as u64);
                for (v, r) in values {
                    put_str(buf, v);
                    put_range(buf, *r);
                }
            }
        }
        let mut services: Vec<_> = self.ops.iter().collect();
        services.sort_by(|a, b| a.0.cmp(b.0));
        put_uvarint(buf, services.len() as u64);
        for (service, names) in services {
            put_str(buf, service);
            let mut names: Vec<_> = names.iter().collect();
            names.sort_by(|a, b| a.0.cmp(b.0));
            put_uvarint(buf, names.len() as u64);
            for (name, kinds) in names {
                put_str(buf, name);
                let mask = kinds
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.is_some())
                    .fold(0u8, |m, (i, _)| m | (1 << i));
                buf.push(mask);
                for r in kinds.iter().flatten() {
                    put_range(buf, *r);
                }
            }
        }
        put_uvarint(buf, self.max_duration);
    }

    /// Decodes what [`Tags::encode`] wrote.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Tags, String> {
        fn range(r: &mut Reader<'_>) -> Result<Range, String> {
            let min = r.uvarint()?;
            let max = min.saturating_add(r.uvarint()?);
            Ok(Range { min, max })
        }
        let mut r = Reader::new(bytes);
        let mut tags = Tags::default();
        for map in [&mut tags.resource, &mut tags.span] {
            for _ in 0..r.usize()? {
                let key = r.str()?.to_owned();
                let overflow = r.u8()? != 0;
                let seen = Some(range(&mut r)?);
                let n = r.usize()?;
                let mut values = HashMap::with_capacity(n.min(MAX_VALUES_PER_KEY));
                for _ in 0..n {
                    let v = r.str()?.to_owned();
                    values.insert(v, range(&mut r)?);
                }
                map.insert(
                    key,
                    KeyTags {
                        seen,
                        values,
                        overflow,
                    },
                );
            }
        }
        for _ in 0..r.usize()? {
            let service = r.str()?.to_owned();
            let names = tags.ops.entry(service).or_default();
            for _ in 0..r.usize()? {
                let name = r.str()?.to_owned();
                let mask = r.u8()?;
                let mut kinds = [None; 6];
                for (i, slot) in kinds.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *slot = Some(range(&mut r)?);
                    }
                }
                names.insert(name, kinds);
            }
        }
        tags.max_duration = r.uvarint()?;
        if !r.is_empty() {
            return Err(format!("trailing bytes after byte {}", r.pos()));
        }
        Ok(tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spans::conformance::span;

    #[test]
    fn a_summary_round_trips_and_answers_by_window() {
        let mut tags = Tags::default();
        let mut buf = String::new();
        let mut a = span(1, 0, "api", 100, 10);
        a.attributes.push(KeyValue::new("code", 200_i64));
        let mut b = span(2, 0, "dht", 1_000, 10);
        b.attributes.push(KeyValue::new("code", 500_i64));
        b.kind = SpanKind::Client;
        for s in [&a, &b] {
            tags.add_span(s, &mut buf);
            tags.add_resource(&s.resource, Range::of(s), &mut buf);
        }
        let mut bytes = Vec::new();
        tags.encode(&mut bytes);
        let back = Tags::decode(&bytes).unwrap();
        let mut again = Vec::new();
        back.encode(&mut again);
        assert_eq!(bytes, again);
        let late = Window {
            start: 500,
            end: 2_000,
        };
        let mut values = BTreeSet::new();
        back.values(late, AttributeScope::Span, "code", &mut values);
        assert_eq!(values.into_iter().collect::<Vec<_>>(), ["500"]);
        let mut ops = BTreeSet::new();
        back.operations(Window::ALL, "dht", &mut ops);
        assert_eq!(
            ops.into_iter().collect::<Vec<_>>(),
            [("op-0".to_owned(), SpanKind::Client)]
        );
        assert!(back.may_have(AttributeScope::Resource, "service.name", "api"));
        assert!(!back.may_have(AttributeScope::Span, "code", "404"));
        assert_eq!(back.max_duration, 10);
    }

    #[test]
    fn a_key_with_too_many_values_overflows_and_never_rules_out() {
        let mut tags = Tags::default();
        let mut buf = String::new();
        for i in 0..=MAX_VALUES_PER_KEY as u64 {
            let mut s = span(i, 0, "api", i, 1);
            s.attributes.push(KeyValue::new("id", i as i64));
            tags.add_span(&s, &mut buf);
        }
        assert_eq!(tags.span["id"].values.len(), MAX_VALUES_PER_KEY);
        assert!(tags.may_have(AttributeScope::Span, "id", "never-seen"));
    }
}
