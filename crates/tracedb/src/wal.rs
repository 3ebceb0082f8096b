//! The write-ahead log: every appended batch, written before it becomes visible, so that
//! a restart rebuilds the head.
//!
//! The log is a directory of segment files named by an 8-digit sequence number
//! (`00000001`, `00000002`, ...). A segment holds records back to back:
//!
//! ```text
//! type u8 | payload length u32 LE | CRC-32 (IEEE) of type and payload, u32 LE | payload
//! ```
//!
//! A batch is one record, written with one `write` call, so a crash leaves a batch either
//! whole in the log or torn, and a torn record fails its length or checksum and is cut off
//! at the next open. A record holds the batch's resources and scopes once each and its spans
//! in the row encoding (`row`), each referring to them by position; `docs/format/traces.md`
//! draws every byte.
//!
//! **Durability.** [`SyncPolicy::Never`] (the default) leaves a batch in the kernel's page
//! cache when `append` returns: it survives the process being killed, not a power loss.
//! [`SyncPolicy::Always`] calls `fdatasync` first. Finished segments are synced either way.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spans::{Span, SpanError, TraceId};

use crate::enc::{Reader, put_bytes, put_uvarint};
use crate::row;

/// When appended batches reach stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// Every batch is synced before `append` returns: it survives power loss.
    Always,
    /// Batches are written to the kernel, which writes them back on its own schedule: they
    /// survive the process being killed.
    #[default]
    Never,
}

/// Segments are cut at this size.
pub const SEGMENT_SIZE: u64 = 128 << 20;

const HEADER: usize = 9;
const TYPE_BATCH: u8 = 1;

/// Where the log was found damaged, and what was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub path: PathBuf,
    /// The offset of the first damaged byte; everything before it was replayed.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "corrupt span write-ahead log {} at byte {}: {}; everything before it was recovered and the rest was cut off",
            self.path.display(),
            self.offset,
            self.message
        )
    }
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SpanError + 'a {
    move |source| SpanError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

/// Appends one record holding `spans` to `buf`.
pub(crate) fn encode(spans: &[Span], buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
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
    let len = (buf.len() - start - HEADER) as u32;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[TYPE_BATCH]);
    crc.update(&buf[start + HEADER..]);
    buf[start] = TYPE_BATCH;
    buf[start + 1..start + 5].copy_from_slice(&len.to_le_bytes());
    buf[start + 5..start + 9].copy_from_slice(&crc.finalize().to_le_bytes());
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
    if bytes.len() < HEADER {
        return Err(format!(
            "a record header needs {HEADER} bytes, {} remain",
            bytes.len()
        ));
    }
    let kind = bytes[0];
    let len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
    let crc = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]);
    let Some(payload) = bytes.get(HEADER..HEADER + len) else {
        return Err(format!(
            "record of {len} bytes is cut off after {}",
            bytes.len() - HEADER
        ));
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[kind]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Err("checksum mismatch".into());
    }
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
    Ok((batch, HEADER + len))
}

/// The writer of the log.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    file: File,
    segment: u32,
    size: u64,
    policy: SyncPolicy,
}

impl Wal {
    /// Opens the log in `dir` for appending after [`replay`] read it: writing goes to a new
    /// segment numbered after every existing one and after `at_least`, so a damaged tail of
    /// an old segment is never written after and numbers never repeat.
    pub(crate) fn open(dir: &Path, policy: SyncPolicy, at_least: u32) -> Result<Self, SpanError> {
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        let next = segments(dir)?
            .last()
            .map_or(1, |(n, _)| n + 1)
            .max(at_least);
        let file = create_segment(dir, next)?;
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            file,
            segment: next,
            size: 0,
            policy,
        })
    }

    /// Writes encoded records (one batch) with one call, syncing as the policy says.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), SpanError> {
        if self.size > 0 && self.size + bytes.len() as u64 > SEGMENT_SIZE {
            self.cut()?;
        }
        let path = segment_path(&self.dir, self.segment);
        self.file
            .write_all(bytes)
            .map_err(io_err("writing", &path))?;
        self.size += bytes.len() as u64;
        if self.policy == SyncPolicy::Always {
            self.file.sync_data().map_err(io_err("syncing", &path))?;
        }
        Ok(())
    }

    /// Finishes the current segment (synced) and starts the next one, whose number it
    /// returns.
    pub(crate) fn cut(&mut self) -> Result<u32, SpanError> {
        let path = segment_path(&self.dir, self.segment);
        self.file.sync_all().map_err(io_err("syncing", &path))?;
        self.file = create_segment(&self.dir, self.segment + 1)?;
        sync_dir(&self.dir)?;
        self.segment += 1;
        self.size = 0;
        Ok(self.segment)
    }

    /// Syncs the current segment.
    pub(crate) fn sync(&self) -> Result<(), SpanError> {
        let path = segment_path(&self.dir, self.segment);
        self.file.sync_all().map_err(io_err("syncing", &path))
    }
}

/// Deletes every segment in `dir` numbered below `segment`, whose spans are in blocks.
pub(crate) fn remove_before(dir: &Path, segment: u32) -> Result<(), SpanError> {
    for (n, path) in segments(dir)? {
        if n < segment {
            fs::remove_file(&path).map_err(io_err("removing", &path))?;
        }
    }
    sync_dir(dir)
}

fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}"))
}

fn create_segment(dir: &Path, n: u32) -> Result<File, SpanError> {
    let path = segment_path(dir, n);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err("creating", &path))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), SpanError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("syncing", dir))
}

/// The segments in `dir`, in order.
pub(crate) fn segments(dir: &Path) -> Result<Vec<(u32, PathBuf)>, SpanError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("reading", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("reading", dir))?;
        let name = entry.file_name();
        if let Some(n) = name
            .to_str()
            .filter(|n| n.len() == 8)
            .and_then(|n| n.parse().ok())
        {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every record of the log in order, calling `apply` with each batch.
///
/// Reading stops at the first damaged record: the segment is truncated there (the bytes
/// before it are never rewritten), later segments are removed, and the damage is returned,
/// so that the next open does not report it again. Everything before the damage has been
/// applied.
pub(crate) fn replay(
    dir: &Path,
    mut apply: impl FnMut(&Batch<'_>),
) -> Result<Option<Damage>, SpanError> {
    let segments = segments(dir)?;
    for (i, (_, path)) in segments.iter().enumerate() {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_err("reading", path))?;
        let mut offset = 0usize;
        while offset < bytes.len() {
            match decode(&bytes[offset..]) {
                Ok((batch, used)) => {
                    apply(&batch);
                    offset += used;
                }
                Err(message) => {
                    let damage = Damage {
                        path: path.clone(),
                        offset: offset as u64,
                        message,
                    };
                    OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| f.set_len(offset as u64))
                        .map_err(io_err("truncating", path))?;
                    for (_, later) in &segments[i + 1..] {
                        fs::remove_file(later).map_err(io_err("removing", later))?;
                    }
                    return Ok(Some(damage));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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
        let mut wal = Wal::open(dir, SyncPolicy::Always, 1).unwrap();
        for b in batches {
            let mut buf = Vec::new();
            encode(b, &mut buf);
            wal.write(&buf).unwrap();
        }
    }

    /// Every span replayed, as (trace, body) pairs, per batch.
    fn read_all(dir: &Path) -> (Vec<usize>, Option<Damage>) {
        let mut got = Vec::new();
        let damage = replay(dir, |b| got.push(b.spans.len())).unwrap();
        (got, damage)
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
        })
        .unwrap();
        let want: Vec<Span> = batches().into_iter().flatten().collect();
        assert_eq!(format!("{seen:?}"), format!("{want:?}"));
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &batches());
        let (_, path) = segments(dir.path()).unwrap().remove(0);
        let len = fs::metadata(&path).unwrap().len();
        // A crash in the middle of the last write.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (got, damage) = read_all(dir.path());
        assert_eq!(got, [3, 1]);
        let damage = damage.unwrap();
        assert_eq!(damage.path, path);
        assert!(
            damage
                .to_string()
                .contains(&format!("{} at byte", path.display())),
            "{damage}"
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), damage.offset);
        assert_eq!(read_all(dir.path()).1, None, "the damage was cut off");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_flipped_byte_keeps_every_batch_before_it(at in 0usize..2_000, bit in 0u8..8) {
            let dir = tempfile::tempdir().unwrap();
            write_all(dir.path(), &batches());
            let (_, path) = segments(dir.path()).unwrap().remove(0);
            let mut bytes = fs::read(&path).unwrap();
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            fs::write(&path, &bytes).unwrap();
            let (got, damage) = read_all(dir.path());
            let damage = damage.expect("a flipped bit is always detected");
            prop_assert!(damage.offset as usize <= at);
            let mut buf = Vec::new();
            let mut intact = 0;
            for b in batches() {
                encode(&b, &mut buf);
                if buf.len() <= damage.offset as usize { intact += 1; }
            }
            prop_assert_eq!(got.len(), intact);
        }
    }
}
