//! The write-ahead log: every appended batch, written before it becomes visible, so that
//! a restart rebuilds the head.
//!
//! The segments, the record framing (type, length, CRC) and the cutting off of a damaged
//! tail are `disk::wal`'s. A batch is one record, written with one `write` call, so a crash
//! leaves a batch either whole in the log or torn, and a torn record fails its length or
//! checksum and is cut off at the next open. A record holds the batch's resources and
//! scopes once each and its spans in the row encoding (`row`), each referring to them by
//! position; `docs/format/traces.md` draws every byte. [`SyncPolicy`] says when batches
//! reach stable storage.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use disk::varint::{Reader, put_bytes, put_uvarint};
pub use disk::wal::{Damage, SEGMENT_SIZE, SyncPolicy};
use spans::{Span, SpanError, TraceId};

use crate::row;

const TYPE_BATCH: u8 = 1;

/// A failed file operation of `disk`, as the span store contract reports it.
pub(crate) fn disk_err(e: disk::Error) -> SpanError {
    SpanError::Io {
        op: e.op,
        path: e.path.display().to_string(),
        source: e.source,
    }
}

/// Wraps an I/O error with what was done to which path.
pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SpanError + 'a {
    move |source| disk_err(disk::io_err(op, path)(source))
}

/// Appends one record holding `spans` to `buf`.
pub(crate) fn encode(spans: &[Span], buf: &mut Vec<u8>) {
    // Spans of one resource share its `Arc`: one lookup by pointer per span finds its
    // position, and equal resources in different `Arc`s are written once by content.
    let mut resources: Vec<Vec<u8>> = Vec::new();
    let mut scopes: Vec<Vec<u8>> = Vec::new();
    let mut by_content: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut scope_by_content: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut res_ptr: HashMap<*const spans::Resource, usize> = HashMap::new();
    let mut scope_ptr: HashMap<*const spans::Scope, usize> = HashMap::new();
    let mut refs = Vec::with_capacity(spans.len());
    for s in spans {
        let r = *res_ptr.entry(Arc::as_ptr(&s.resource)).or_insert_with(|| {
            let mut b = Vec::new();
            row::put_resource(&mut b, &s.resource);
            *by_content.entry(b.clone()).or_insert_with(|| {
                resources.push(b);
                resources.len() - 1
            })
        });
        let c = *scope_ptr.entry(Arc::as_ptr(&s.scope)).or_insert_with(|| {
            let mut b = Vec::new();
            row::put_scope(&mut b, &s.scope);
            *scope_by_content.entry(b.clone()).or_insert_with(|| {
                scopes.push(b);
                scopes.len() - 1
            })
        });
        refs.push((r, c));
    }
    disk::wal::frame(buf, TYPE_BATCH, |buf| {
        put_uvarint(buf, resources.len() as u64);
        for r in &resources {
            put_bytes(buf, r);
        }
        put_uvarint(buf, scopes.len() as u64);
        for c in &scopes {
            put_bytes(buf, c);
        }
        put_uvarint(buf, spans.len() as u64);
        let mut body = Vec::new();
        for (s, (r, c)) in spans.iter().zip(refs) {
            buf.extend_from_slice(&s.trace_id.0);
            put_uvarint(buf, r as u64);
            put_uvarint(buf, c as u64);
            body.clear();
            row::put_body(&mut body, s);
            put_bytes(buf, &body);
        }
    });
}

/// A decoded batch record, borrowing the record's bytes: resources and scopes in their row
/// encoding, and each span's trace ID, resource and scope positions, and body.
#[derive(Debug, Default)]
pub(crate) struct Batch<'a> {
    pub(crate) resources: Vec<&'a [u8]>,
    pub(crate) scopes: Vec<&'a [u8]>,
    pub(crate) spans: Vec<BatchSpan<'a>>,
}

/// One span of a [`Batch`].
#[derive(Debug)]
pub(crate) struct BatchSpan<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) resource: usize,
    pub(crate) scope: usize,
    pub(crate) body: &'a [u8],
}

/// Decodes the record at the start of `bytes`; returns it and its size.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Batch<'_>, usize), String> {
    let (kind, payload, used) = disk::wal::unframe(bytes)?;
    Ok((decode_payload(kind, payload)?, used))
}

fn decode_payload(kind: u8, payload: &[u8]) -> Result<Batch<'_>, String> {
    if kind != TYPE_BATCH {
        return Err(format!("unknown record type {kind}"));
    }
    let mut r = Reader::new(payload);
    let mut batch = Batch::default();
    for _ in 0..r.usize()? {
        batch.resources.push(r.bytes()?);
    }
    for _ in 0..r.usize()? {
        batch.scopes.push(r.bytes()?);
    }
    let n = r.usize()?;
    batch.spans.reserve(n.min(1 << 16));
    for _ in 0..n {
        let trace_id = TraceId(r.array()?);
        let resource = r.usize()?;
        let scope = r.usize()?;
        if resource >= batch.resources.len() || scope >= batch.scopes.len() {
            return Err(format!(
                "span refers to a resource or scope the record lacks, before byte {}",
                r.pos()
            ));
        }
        batch.spans.push(BatchSpan {
            trace_id,
            resource,
            scope,
            body: r.bytes()?,
        });
    }
    if !r.is_empty() {
        return Err("record payload has trailing bytes".into());
    }
    Ok(batch)
}

/// Reads every record of the log in order, calling `apply` with each batch; a batch
/// `apply` refuses counts as damage.
///
/// Reading stops at the first damaged record: the segment is truncated there (the bytes
/// before it are never rewritten), later segments are removed, and the damage is returned,
/// so that the next open does not report it again. Everything before the damage has been
/// applied.
pub(crate) fn replay(
    dir: &Path,
    mut apply: impl FnMut(&Batch<'_>) -> Result<(), String>,
) -> Result<Option<Damage>, SpanError> {
    disk::wal::read(dir, true, |kind, payload| {
        apply(&decode_payload(kind, payload)?)
    })
    .map_err(disk_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use disk::wal::segments;
    use spans::conformance::{rich_span, span};

    fn batches() -> Vec<Vec<Span>> {
        vec![
            vec![
                rich_span(),
                span(1, 0, "api", 10, 5),
                span(1, 1, "api", 11, 5),
            ],
            vec![span(2, 0, "p2p", 20, 5)],
            vec![],
        ]
    }

    fn write_all(dir: &Path, batches: &[Vec<Span>]) {
        let mut wal = disk::wal::Wal::open(dir, SyncPolicy::Always, 1).unwrap();
        for b in batches {
            let mut buf = Vec::new();
            encode(b, &mut buf);
            wal.write(&buf).unwrap();
        }
    }

    #[test]
    fn batches_round_trip_across_opens_with_resources_written_once() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &batches()[..2]);
        write_all(dir.path(), &batches()[2..]);
        assert_eq!(segments(dir.path()).unwrap().len(), 2);
        let mut seen = Vec::new();
        replay(dir.path(), |b| {
            for s in &b.spans {
                let mut r = Reader::new(b.resources[s.resource]);
                let res = row::resource(&mut r).unwrap();
                let mut r = Reader::new(b.scopes[s.scope]);
                let scope = row::scope(&mut r).unwrap();
                let span = row::body(
                    &mut Reader::new(s.body),
                    s.trace_id,
                    res.into(),
                    scope.into(),
                )
                .unwrap();
                seen.push(span);
            }
            // The two "api" spans share one resource.
            if b.spans.len() == 3 {
                assert_eq!(b.resources.len(), 2);
            }
            Ok(())
        })
        .unwrap();
        let want: Vec<Span> = batches().into_iter().flatten().collect();
        assert_eq!(format!("{seen:?}"), format!("{want:?}"));
    }
}
