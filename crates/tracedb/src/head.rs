//! The head: the spans appended since the last cut, in memory, grouped by trace.
//!
//! Each trace keeps its spans back to back in the row encoding (`row`), with the positions
//! of their resource and scope in the head's tables, so that a span costs about its
//! encoded size rather than the allocations of a [`Span`]. Spans are decoded when read.
//! The head also keeps the summary (`tags`) that tag queries and hints read.
//!
//! A batch is applied under the head's write lock, so a read (which takes the read lock to
//! copy a trace's bytes out) sees all of a batch's spans of a trace or none. Once cut, a
//! head is frozen: it is read, and written into a block, but never appended to again.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use spans::{AttributeScope, Resource, Scope, Span, SpanKind, TagNames, TraceId, Window};

use crate::row;
use crate::tags::{Range, Tags};
use crate::wal::Batch;
use disk::varint::{Reader, put_bytes, put_uvarint};

/// One trace's spans in the head.
#[derive(Debug, Default)]
pub(crate) struct HeadTrace {
    /// Spans, each `resource <uvarint> scope <uvarint> body <len-prefixed>`.
    bytes: Vec<u8>,
    pub(crate) spans: u32,
    pub(crate) range: Option<Range>,
}

#[derive(Debug, Default)]
struct Inner {
    traces: HashMap<TraceId, HeadTrace>,
    resources: Vec<Arc<Resource>>,
    resource_ids: HashMap<Box<[u8]>, u32>,
    scopes: Vec<Arc<Scope>>,
    scope_ids: HashMap<Box<[u8]>, u32>,
    tags: Tags,
    spans: u64,
    range: Option<Range>,
    /// When the first span arrived, for the head's age.
    first_append: Option<Instant>,
}

/// The in-memory part of the store; see the module's docs.
#[derive(Debug, Default)]
pub(crate) struct Head {
    inner: RwLock<Inner>,
    /// Bytes of span data held, the measure the head is cut by.
    bytes: AtomicU64,
}

/// A trace copied out of the head, decoded outside its lock.
#[derive(Debug)]
pub(crate) struct Copied {
    trace_id: TraceId,
    bytes: Vec<u8>,
    resources: Vec<Arc<Resource>>,
    scopes: Vec<Arc<Scope>>,
}

impl Copied {
    /// Decodes the spans, appending them to `out`.
    pub(crate) fn decode_into(&self, out: &mut Vec<Span>) -> Result<(), String> {
        let mut r = Reader::new(&self.bytes);
        while !r.is_empty() {
            out.push(decode_one(
                &mut r,
                self.trace_id,
                &self.resources,
                &self.scopes,
            )?);
        }
        Ok(())
    }
}

fn decode_one(
    r: &mut Reader<'_>,
    trace_id: TraceId,
    resources: &[Arc<Resource>],
    scopes: &[Arc<Scope>],
) -> Result<Span, String> {
    let res = r.usize()?;
    let scope = r.usize()?;
    let body = r.bytes()?;
    let (Some(res), Some(scope)) = (resources.get(res), scopes.get(scope)) else {
        return Err(format!(
            "head span refers to resource {res} or scope {scope} it lacks"
        ));
    };
    row::body(&mut Reader::new(body), trace_id, res.clone(), scope.clone())
}

impl Head {
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a batch whose spans `summary` summarises (see [`summarize`]).
    pub(crate) fn apply(&self, batch: &Batch<'_>, summary: &Tags) -> Result<(), String> {
        let mut added = 0u64;
        let mut inner = self.write();
        let inner = &mut *inner;
        inner.first_append.get_or_insert_with(Instant::now);
        let res_ids: Vec<u32> = batch
            .resources
            .iter()
            .map(|bytes| {
                intern(
                    &mut inner.resource_ids,
                    &mut inner.resources,
                    bytes,
                    row::resource,
                )
            })
            .collect::<Result<_, _>>()?;
        let scope_ids: Vec<u32> = batch
            .scopes
            .iter()
            .map(|bytes| intern(&mut inner.scope_ids, &mut inner.scopes, bytes, row::scope))
            .collect::<Result<_, _>>()?;
        for b in &batch.spans {
            let (_, start, end) = row::body_key(b.body)?;
            let r = Range {
                min: start,
                max: end.max(start),
            };
            let t = inner.traces.entry(b.trace_id).or_default();
            let before = t.bytes.len();
            put_uvarint(&mut t.bytes, u64::from(res_ids[b.resource]));
            put_uvarint(&mut t.bytes, u64::from(scope_ids[b.scope]));
            put_bytes(&mut t.bytes, b.body);
            added += (t.bytes.len() - before) as u64;
            t.spans += 1;
            widen(&mut t.range, r);
            widen(&mut inner.range, r);
        }
        inner.spans += batch.spans.len() as u64;
        inner.tags.merge(summary);
        self.bytes.fetch_add(added, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes of span data held.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Spans held, a span sent twice counted twice.
    pub(crate) fn spans(&self) -> u64 {
        self.read().spans
    }

    /// Traces held.
    pub(crate) fn traces(&self) -> usize {
        self.read().traces.len()
    }

    /// When the first span arrived, if one has.
    pub(crate) fn first_append(&self) -> Option<Instant> {
        self.read().first_append
    }

    /// The earliest start and latest end held.
    pub(crate) fn range(&self) -> Option<Range> {
        self.read().range
    }

    /// The number of `id`'s spans held.
    pub(crate) fn trace_spans(&self, id: &TraceId) -> u32 {
        self.read().traces.get(id).map_or(0, |t| t.spans)
    }

    /// Copies `id`'s spans out, if the head has any.
    pub(crate) fn copy(&self, id: &TraceId) -> Option<Copied> {
        let inner = self.read();
        let t = inner.traces.get(id)?;
        Some(Copied {
            trace_id: *id,
            bytes: t.bytes.clone(),
            resources: inner.resources.clone(),
            scopes: inner.scopes.clone(),
        })
    }

    /// Whether the head holds spans of `id`.
    pub(crate) fn contains(&self, id: &TraceId) -> bool {
        self.read().traces.contains_key(id)
    }

    /// Each trace whose range overlaps `window`, with its range.
    pub(crate) fn traces_in(&self, window: Window) -> Vec<(TraceId, Range)> {
        self.read()
            .traces
            .iter()
            .filter_map(|(id, t)| t.range.filter(|r| r.overlaps(window)).map(|r| (*id, r)))
            .collect()
    }

    /// Whether the head may hold spans satisfying `hint`.
    pub(crate) fn may_match(&self, hint: &spans::Hint) -> bool {
        self.read().tags.may_match(hint)
    }

    pub(crate) fn tag_names(&self, window: Window, out: &mut TagNames) {
        self.read().tags.names(window, out);
    }

    pub(crate) fn tag_values(
        &self,
        window: Window,
        scope: AttributeScope,
        key: &str,
        out: &mut BTreeSet<String>,
    ) {
        self.read().tags.values(window, scope, key, out);
    }

    pub(crate) fn operations(
        &self,
        window: Window,
        service: &str,
        out: &mut BTreeSet<(String, SpanKind)>,
    ) {
        self.read().tags.operations(window, service, out);
    }

    /// Calls `push` with every span, traces in ID order and each trace's spans by start
    /// then span ID, decoding one span at a time: what a block is written from. Meant for
    /// a frozen head; it holds the read lock throughout.
    pub(crate) fn for_each_sorted(
        &self,
        mut push: impl FnMut(&Span) -> Result<(), spans::SpanError>,
    ) -> Result<(), spans::SpanError> {
        let corrupt = |message: String| spans::SpanError::Corrupt {
            path: "<span head>".into(),
            offset: 0,
            message,
        };
        let inner = self.read();
        let mut ids: Vec<&TraceId> = inner.traces.keys().collect();
        ids.sort();
        let mut keys = Vec::new();
        for id in ids {
            let t = &inner.traces[id];
            // Sort (start, span ID, offset) keys rather than spans: a 100,000-span trace
            // needs 32 bytes a span here, not a decoded copy of itself.
            keys.clear();
            let mut r = Reader::new(&t.bytes);
            while !r.is_empty() {
                let at = r.pos();
                r.usize().map_err(corrupt)?;
                r.usize().map_err(corrupt)?;
                let (span_id, start, _) =
                    row::body_key(r.bytes().map_err(corrupt)?).map_err(corrupt)?;
                keys.push((start, span_id, at));
            }
            keys.sort_unstable();
            for &(_, _, at) in &keys {
                let mut r = Reader::new(&t.bytes[at..]);
                let s =
                    decode_one(&mut r, *id, &inner.resources, &inner.scopes).map_err(corrupt)?;
                push(&s)?;
            }
        }
        Ok(())
    }
}

/// Summarises spans for [`Head::apply`]: done before the store's locks are taken, so
/// appending threads do it in parallel.
pub(crate) fn summarize(spans: &[Span]) -> Tags {
    let mut summary = Tags::default();
    let mut text = String::new();
    // Spans of one resource share its `Arc`: its attributes are added once, with the range
    // of all its spans.
    let mut per_resource: HashMap<*const Resource, (Range, &Resource)> = HashMap::new();
    for s in spans {
        summary.add_span(s, &mut text);
        let r = Range::of(s);
        per_resource
            .entry(Arc::as_ptr(&s.resource))
            .and_modify(|x| x.0.widen(r))
            .or_insert((r, &s.resource));
    }
    for (r, res) in per_resource.values() {
        summary.add_resource(res, *r, &mut text);
    }
    summary
}

fn widen(slot: &mut Option<Range>, r: Range) {
    match slot {
        Some(x) => x.widen(r),
        None => *slot = Some(r),
    }
}

fn intern<T>(
    ids: &mut HashMap<Box<[u8]>, u32>,
    table: &mut Vec<Arc<T>>,
    bytes: &[u8],
    decode: fn(&mut Reader<'_>) -> Result<T, String>,
) -> Result<u32, String> {
    if let Some(id) = ids.get(bytes) {
        return Ok(*id);
    }
    let value = decode(&mut Reader::new(bytes))?;
    let id = table.len() as u32;
    table.push(Arc::new(value));
    ids.insert(bytes.into(), id);
    Ok(id)
}

/// Decodes every span of a batch.
pub(crate) fn decode_batch(batch: &Batch<'_>) -> Result<Vec<Span>, String> {
    let resources: Vec<Arc<Resource>> = batch
        .resources
        .iter()
        .map(|b| row::resource(&mut Reader::new(b)).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let scopes: Vec<Arc<Scope>> = batch
        .scopes
        .iter()
        .map(|b| row::scope(&mut Reader::new(b)).map(Arc::new))
        .collect::<Result<_, _>>()?;
    batch
        .spans
        .iter()
        .map(|s| {
            row::body(
                &mut Reader::new(s.body),
                s.trace_id,
                resources[s.resource].clone(),
                scopes[s.scope].clone(),
            )
        })
        .collect()
}
