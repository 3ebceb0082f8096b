//! Persisted blocks: immutable directories of spans sorted by trace ID, with a trace-ID
//! index, a bloom filter and a summary of what they hold.
//!
//! ```text
//! <dir>/<block id>/
//!     meta.json   time range, counts, services, span names, attribute keys, history
//!     data        pages of spans in the columnar encoding (`page`), each with its CRC
//!     index       page table, trace-ID index, bloom filter, tag summary
//! ```
//!
//! A block is written into `<id>.tmp`, synced and renamed into place, so no crash leaves a
//! half-written block under a block's name; leftover `.tmp` directories are removed at
//! open. Opening reads the index's page table and bloom filter into memory, and of the
//! trace-ID index only every 64th ID (the fences): a lookup by ID asks the bloom filter,
//! then reads the one run of 64 index entries the fences point to, then the trace's pages.
//! `docs/format/traces.md` draws every byte.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spans::{AttributeScope, Hint, Span, SpanError, SpanId, TagNames, TraceId, Window};

use crate::bloom::Bloom;
use crate::page::{self, PageWriter};
use crate::tags::{Range, Tags};
use crate::wal::{disk_err, io_err};
use disk::varint::{Reader, put_uvarint};

const DATA_MAGIC: &[u8; 8] = b"SKYTDAT1";
const INDEX_MAGIC: &[u8; 8] = b"SKYTIDX1";
/// Bytes of a page table entry and of a trace index entry.
const PAGE_ENTRY: usize = 36;
const TRACE_ENTRY: usize = 44;
/// One trace-ID index entry in this many is kept in memory.
const FENCE: usize = 64;

/// What `meta.json` says about a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Format version, 1.
    pub version: u32,
    /// The block's ID, also its directory's name.
    pub id: String,
    /// The earliest span start, Unix nanoseconds.
    pub min_time: u64,
    /// The latest span end, Unix nanoseconds.
    pub max_time: u64,
    /// Spans held.
    pub spans: u64,
    /// Traces with spans here (a trace may have spans in other blocks too).
    pub traces: u64,
    /// Pages in the data file.
    pub pages: u64,
    /// The longest span's duration, nanoseconds.
    pub max_span_duration: u64,
    /// The services of its spans.
    pub services: BTreeSet<String>,
    /// The names of its spans.
    pub span_names: BTreeSet<String>,
    /// Resource attribute keys, each with the earliest start and latest end of its spans.
    pub resource_keys: BTreeMap<String, [u64; 2]>,
    /// Span attribute keys, likewise.
    pub span_keys: BTreeMap<String, [u64; 2]>,
    /// Write-ahead log segments numbered below this hold nothing that is not in blocks.
    pub wal_before: u32,
    /// How the block was made.
    pub compaction: Compaction,
}

/// The compaction history of a block.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Compaction {
    /// 1 for a block cut from the head; one more than its highest source's for a merge.
    pub level: u32,
    /// The IDs of the blocks merged into this one, directly or through earlier merges.
    pub sources: Vec<String>,
}

/// Where a page is in the data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageInfo {
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) spans: u32,
    pub(crate) traces: u32,
    pub(crate) range: Range,
}

/// A trace's entry in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceEntry {
    pub(crate) id: TraceId,
    pub(crate) first_page: u32,
    pub(crate) pages: u32,
    pub(crate) spans: u32,
    pub(crate) range: Range,
}

impl TraceEntry {
    fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.id.0);
        buf.extend_from_slice(&self.first_page.to_le_bytes());
        buf.extend_from_slice(&self.pages.to_le_bytes());
        buf.extend_from_slice(&self.spans.to_le_bytes());
        buf.extend_from_slice(&self.range.min.to_le_bytes());
        buf.extend_from_slice(&self.range.max.to_le_bytes());
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, String> {
        Ok(Self {
            id: TraceId(r.array()?),
            first_page: r.u32_le()?,
            pages: r.u32_le()?,
            spans: r.u32_le()?,
            range: Range {
                min: r.u64_le()?,
                max: r.u64_le()?,
            },
        })
    }
}

fn corrupt(path: &Path, offset: u64, message: impl Into<String>) -> SpanError {
    SpanError::Corrupt {
        path: path.display().to_string(),
        offset,
        message: message.into(),
    }
}

/// Writes a block from spans pushed in order of trace ID, start and span ID. Repeats of a
/// span (same trace, span ID and start) are kept once.
pub(crate) struct BlockWriter {
    parent: PathBuf,
    id: String,
    tmp: PathBuf,
    /// Removes `tmp` if the block is dropped before it is renamed into place (a write
    /// failed), so that failed cuts do not pile up partial blocks.
    unfinished: disk::dir::Unfinished,
    data: BufWriter<File>,
    offset: u64,
    page: PageWriter,
    page_range: Option<Range>,
    pages: Vec<PageInfo>,
    entries: Vec<TraceEntry>,
    tags: Tags,
    text: String,
    last: Option<(TraceId, u64, SpanId)>,
    spans: u64,
    wal_before: u32,
    compaction: Compaction,
}

impl BlockWriter {
    /// Starts a block in `parent`.
    pub(crate) fn new(
        parent: &Path,
        wal_before: u32,
        compaction: Compaction,
    ) -> Result<Self, SpanError> {
        let id = disk::dir::new_block_id();
        let tmp = parent.join(format!("{id}.tmp"));
        fs::create_dir_all(&tmp).map_err(io_err("creating", &tmp))?;
        let unfinished = disk::dir::Unfinished::new(tmp.clone());
        let path = tmp.join("data");
        let mut data = BufWriter::with_capacity(
            1 << 20,
            File::create(&path).map_err(io_err("creating", &path))?,
        );
        data.write_all(DATA_MAGIC)
            .map_err(io_err("writing", &path))?;
        Ok(Self {
            parent: parent.to_owned(),
            id,
            tmp,
            unfinished,
            data,
            offset: DATA_MAGIC.len() as u64,
            page: PageWriter::default(),
            page_range: None,
            pages: Vec::new(),
            entries: Vec::new(),
            tags: Tags::default(),
            text: String::new(),
            last: None,
            spans: 0,
            wal_before,
            compaction,
        })
    }

    /// Adds a span.
    pub(crate) fn push(&mut self, s: &Span) -> Result<(), SpanError> {
        let key = (s.trace_id, s.start, s.span_id);
        if self.last == Some(key) {
            return Ok(());
        }
        let new_trace = self.last.is_none_or(|l| l.0 != s.trace_id);
        self.last = Some(key);
        let full = self.page.spans() >= page::MAX_SPANS
            || (new_trace && self.page.spans() >= page::TARGET_SPANS);
        if full {
            self.flush_page()?;
        }
        let r = Range::of(s);
        let page = self.pages.len() as u32;
        match self.entries.last_mut() {
            Some(e) if !new_trace => {
                e.spans += 1;
                e.range.widen(r);
                e.pages = page - e.first_page + 1;
            }
            _ => self.entries.push(TraceEntry {
                id: s.trace_id,
                first_page: page,
                pages: 1,
                spans: 1,
                range: r,
            }),
        }
        match &mut self.page_range {
            Some(x) => x.widen(r),
            None => self.page_range = Some(r),
        }
        self.page.push(s);
        self.tags.add_span(s, &mut self.text);
        self.spans += 1;
        Ok(())
    }

    fn flush_page(&mut self) -> Result<(), SpanError> {
        let Some(range) = self.page_range.take() else {
            return Ok(());
        };
        for (res, r) in std::mem::take(&mut self.page.resource_ranges) {
            self.tags.add_resource(&res, r, &mut self.text);
        }
        let spans = self.page.spans() as u32;
        let traces = self.page.traces().count() as u32;
        let path = self.tmp.join("data");
        let bytes = self
            .page
            .finish()
            .map_err(|m| corrupt(&path, self.offset, m))?;
        self.data
            .write_all(&bytes)
            .map_err(io_err("writing", &path))?;
        self.pages.push(PageInfo {
            offset: self.offset,
            len: bytes.len() as u32,
            spans,
            traces,
            range,
        });
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Finishes the block and renames it into place; `None` (and nothing on disk) if no
    /// span was pushed.
    pub(crate) fn finish(mut self) -> Result<Option<BlockMeta>, SpanError> {
        self.flush_page()?;
        if self.spans == 0 {
            fs::remove_dir_all(&self.tmp).map_err(io_err("removing", &self.tmp))?;
            return Ok(None);
        }
        let data_path = self.tmp.join("data");
        let data = self
            .data
            .into_inner()
            .map_err(|e| io_err("writing", &data_path)(e.into_error()))?;
        data.sync_all().map_err(io_err("syncing", &data_path))?;

        let mut index = INDEX_MAGIC.to_vec();
        let mut section = Vec::new();
        for p in &self.pages {
            section.extend_from_slice(&p.offset.to_le_bytes());
            section.extend_from_slice(&p.len.to_le_bytes());
            section.extend_from_slice(&p.spans.to_le_bytes());
            section.extend_from_slice(&p.traces.to_le_bytes());
            section.extend_from_slice(&p.range.min.to_le_bytes());
            section.extend_from_slice(&p.range.max.to_le_bytes());
        }
        put_section(&mut index, &section);
        section.clear();
        let mut bloom = Bloom::new(self.entries.len());
        for e in &self.entries {
            e.encode(&mut section);
            bloom.insert(&e.id);
        }
        put_section(&mut index, &section);
        section.clear();
        bloom.encode(&mut section);
        put_section(&mut index, &section);
        section.clear();
        let mut raw = Vec::new();
        self.tags.encode(&mut raw);
        put_uvarint(&mut section, raw.len() as u64);
        let z = zstd::bulk::compress(&raw, 3)
            .map_err(|e| corrupt(&self.tmp.join("index"), index.len() as u64, e.to_string()))?;
        section.extend_from_slice(&z);
        put_section(&mut index, &section);
        let index_path = self.tmp.join("index");
        write_synced(&index_path, &index)?;

        let (min_time, max_time) = self.pages.iter().fold((u64::MAX, 0), |(lo, hi), p| {
            (lo.min(p.range.min), hi.max(p.range.max))
        });
        let meta = BlockMeta {
            version: 1,
            id: self.id.clone(),
            min_time,
            max_time,
            spans: self.spans,
            traces: self.entries.len() as u64,
            pages: self.pages.len() as u64,
            max_span_duration: self.tags.max_duration,
            services: self.tags.ops.keys().cloned().collect(),
            span_names: self
                .tags
                .ops
                .values()
                .flat_map(|n| n.keys().cloned())
                .collect(),
            resource_keys: self
                .tags
                .key_ranges(AttributeScope::Resource)
                .into_iter()
                .collect(),
            span_keys: self
                .tags
                .key_ranges(AttributeScope::Span)
                .into_iter()
                .collect(),
            wal_before: self.wal_before,
            compaction: self.compaction.clone(),
        };
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| SpanError::Io {
            op: "encoding",
            path: self.tmp.join("meta.json").display().to_string(),
            source: e.into(),
        })?;
        write_synced(&self.tmp.join("meta.json"), &json)?;
        disk::dir::sync(&self.tmp).map_err(disk_err)?;
        let dest = self.parent.join(&self.id);
        fs::rename(&self.tmp, &dest).map_err(io_err("renaming", &self.tmp))?;
        self.unfinished.done();
        disk::dir::sync(&self.parent).map_err(disk_err)?;
        Ok(Some(meta))
    }
}

fn put_section(buf: &mut Vec<u8>, payload: &[u8]) {
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    buf.extend_from_slice(payload);
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), SpanError> {
    let mut f = File::create(path).map_err(io_err("creating", path))?;
    f.write_all(bytes).map_err(io_err("writing", path))?;
    f.sync_all().map_err(io_err("syncing", path))
}

/// An open block.
#[derive(Debug)]
pub struct Block {
    dir: PathBuf,
    meta: BlockMeta,
    data: File,
    index: File,
    pages: Vec<PageInfo>,
    bloom: Bloom,
    /// Every [`FENCE`]th trace ID of the index.
    fences: Vec<TraceId>,
    traces_at: u64,
    traces: usize,
    tags_at: u64,
    tags_len: usize,
    tags_crc: u32,
    size: u64,
}

/// Reads the section at `at` of an index, returning its payload and the offset after it.
fn section<'a>(
    path: &Path,
    bytes: &'a [u8],
    at: usize,
) -> Result<(&'a [u8], usize, u32), SpanError> {
    let mut r = Reader::new(&bytes[at.min(bytes.len())..]);
    let len = r
        .u32_le()
        .map_err(|m| corrupt(path, at as u64, format!("section header: {m}")))?
        as usize;
    let crc = r
        .u32_le()
        .map_err(|m| corrupt(path, at as u64, format!("section header: {m}")))?;
    let payload = r.take(len).map_err(|_| {
        corrupt(
            path,
            at as u64,
            format!("section of {len} bytes is cut off"),
        )
    })?;
    if crc32fast::hash(payload) != crc {
        return Err(corrupt(path, at as u64, "section checksum mismatch"));
    }
    Ok((payload, at + 8 + len, crc))
}

impl Block {
    /// Opens the block in `dir`. A damaged meta or index is an error naming the file and
    /// offset; a damaged page is found when it is read.
    pub fn open(dir: &Path) -> Result<Self, SpanError> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = fs::read(&meta_path).map_err(io_err("reading", &meta_path))?;
        let meta: BlockMeta = serde_json::from_slice(&meta_bytes).map_err(|e| {
            corrupt(
                &meta_path,
                e.column() as u64,
                format!("line {}: {e}", e.line()),
            )
        })?;
        if meta.version != 1 {
            return Err(corrupt(
                &meta_path,
                0,
                format!(
                    "format version {} is not 1, the one this build reads",
                    meta.version
                ),
            ));
        }
        let index_path = dir.join("index");
        let bytes = fs::read(&index_path).map_err(io_err("reading", &index_path))?;
        if bytes.get(..8) != Some(INDEX_MAGIC) {
            return Err(corrupt(
                &index_path,
                0,
                "not a span block index (bad magic)",
            ));
        }
        let (pages_raw, at, _) = section(&index_path, &bytes, 8)?;
        let traces_at = at + 8;
        let (traces_raw, at, _) = section(&index_path, &bytes, at)?;
        let (bloom_raw, at, _) = section(&index_path, &bytes, at)?;
        let tags_at = at;
        let (tags_raw, end, tags_crc) = section(&index_path, &bytes, at)?;
        if end != bytes.len() {
            return Err(corrupt(
                &index_path,
                end as u64,
                "trailing bytes after the last section",
            ));
        }
        if pages_raw.len() % PAGE_ENTRY != 0 || traces_raw.len() % TRACE_ENTRY != 0 {
            return Err(corrupt(
                &index_path,
                8,
                "page table or trace index of a partial entry",
            ));
        }
        let mut r = Reader::new(pages_raw);
        let mut pages = Vec::with_capacity(pages_raw.len() / PAGE_ENTRY);
        let entry_err = |m: String| corrupt(&index_path, 16, m);
        while !r.is_empty() {
            pages.push(PageInfo {
                offset: r.u64_le().map_err(entry_err)?,
                len: r.u32_le().map_err(entry_err)?,
                spans: r.u32_le().map_err(entry_err)?,
                traces: r.u32_le().map_err(entry_err)?,
                range: Range {
                    min: r.u64_le().map_err(entry_err)?,
                    max: r.u64_le().map_err(entry_err)?,
                },
            });
        }
        let traces = traces_raw.len() / TRACE_ENTRY;
        let fences = (0..traces)
            .step_by(FENCE)
            .map(|i| {
                let mut id = [0; 16];
                id.copy_from_slice(&traces_raw[i * TRACE_ENTRY..i * TRACE_ENTRY + 16]);
                TraceId(id)
            })
            .collect();
        let bloom = Bloom::decode(bloom_raw)
            .map_err(|m| corrupt(&index_path, (tags_at - bloom_raw.len()) as u64, m))?;
        let data_path = dir.join("data");
        let data = File::open(&data_path).map_err(io_err("opening", &data_path))?;
        let index = File::open(&index_path).map_err(io_err("opening", &index_path))?;
        let data_len = data
            .metadata()
            .map_err(io_err("reading", &data_path))?
            .len();
        if let Some(p) = pages
            .iter()
            .find(|p| p.offset + u64::from(p.len) > data_len)
        {
            return Err(corrupt(
                &data_path,
                p.offset,
                format!(
                    "page of {} bytes runs past the end of the file ({data_len} bytes)",
                    p.len
                ),
            ));
        }
        Ok(Self {
            dir: dir.to_owned(),
            size: data_len + bytes.len() as u64 + meta_bytes.len() as u64,
            meta,
            data,
            index,
            pages,
            bloom,
            fences,
            traces_at: traces_at as u64,
            traces,
            tags_at: (tags_at + 8) as u64,
            tags_len: tags_raw.len(),
            tags_crc,
        })
    }

    /// Its meta.
    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its bytes on disk.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its time range.
    pub(crate) fn range(&self) -> Range {
        Range {
            min: self.meta.min_time,
            max: self.meta.max_time,
        }
    }

    /// False when the block certainly has no span of `id`.
    pub(crate) fn may_contain(&self, id: &TraceId) -> bool {
        self.bloom.may_contain(id)
    }

    fn read_index(&self, at: u64, len: usize) -> Result<Vec<u8>, SpanError> {
        let path = self.dir.join("index");
        let mut buf = vec![0; len];
        self.index
            .read_exact_at(&mut buf, at)
            .map_err(io_err("reading", &path))?;
        Ok(buf)
    }

    /// `id`'s index entry, reading one run of entries between two fences.
    pub(crate) fn entry(&self, id: &TraceId) -> Result<Option<TraceEntry>, SpanError> {
        // The last fence at or before `id`.
        let run = self.fences.partition_point(|f| f <= id);
        let Some(run) = run.checked_sub(1) else {
            return Ok(None);
        };
        let first = run * FENCE;
        let count = FENCE.min(self.traces - first);
        let at = self.traces_at + (first * TRACE_ENTRY) as u64;
        let bytes = self.read_index(at, count * TRACE_ENTRY)?;
        let path = self.dir.join("index");
        let entries = bytes
            .chunks_exact(TRACE_ENTRY)
            .map(|c| TraceEntry::decode(&mut Reader::new(c)).map_err(|m| corrupt(&path, at, m)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(entries
            .binary_search_by(|e| e.id.cmp(id))
            .ok()
            .map(|i| entries[i]))
    }

    /// Every index entry, in trace-ID order.
    pub(crate) fn entries(&self) -> Result<Vec<TraceEntry>, SpanError> {
        let bytes = self.read_index(self.traces_at, self.traces * TRACE_ENTRY)?;
        let path = self.dir.join("index");
        bytes
            .chunks_exact(TRACE_ENTRY)
            .map(|c| {
                TraceEntry::decode(&mut Reader::new(c))
                    .map_err(|m| corrupt(&path, self.traces_at, m))
            })
            .collect()
    }

    /// The number of pages.
    pub(crate) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Reads and decodes page `i`, verifying its checksum.
    pub(crate) fn page(&self, i: usize) -> Result<page::Page, SpanError> {
        let path = self.dir.join("data");
        let Some(p) = self.pages.get(i) else {
            return Err(corrupt(&self.dir.join("index"), 8, format!("no page {i}")));
        };
        let mut buf = vec![0; p.len as usize];
        self.data
            .read_exact_at(&mut buf, p.offset)
            .map_err(io_err("reading", &path))?;
        page::decode(&buf).map_err(|m| corrupt(&path, p.offset, format!("page {i}: {m}")))
    }

    /// Calls `out` with the spans of page `i` whose trace `keep` accepts.
    pub(crate) fn page_rows(
        &self,
        i: usize,
        keep: impl Fn(&TraceId) -> bool,
        out: impl FnMut(Span),
    ) -> Result<(), SpanError> {
        let offset = self.pages.get(i).map_or(0, |p| p.offset);
        self.page(i)?
            .rows(keep, out)
            .map_err(|m| corrupt(&self.dir.join("data"), offset, format!("page {i}: {m}")))
    }

    /// The spans of `id` held here.
    pub(crate) fn trace(&self, id: &TraceId, out: &mut Vec<Span>) -> Result<(), SpanError> {
        if !self.may_contain(id) {
            return Ok(());
        }
        let Some(e) = self.entry(id)? else {
            return Ok(());
        };
        for p in e.first_page..e.first_page + e.pages {
            self.page_rows(p as usize, |t| t == id, |s| out.push(s))?;
        }
        Ok(())
    }

    /// The block's summary, read from the index.
    pub(crate) fn tags(&self) -> Result<Tags, SpanError> {
        let path = self.dir.join("index");
        let bytes = self.read_index(self.tags_at, self.tags_len)?;
        if crc32fast::hash(&bytes) != self.tags_crc {
            return Err(corrupt(
                &path,
                self.tags_at,
                "tag summary checksum mismatch",
            ));
        }
        let mut r = Reader::new(&bytes);
        let raw = r.usize().map_err(|m| corrupt(&path, self.tags_at, m))?;
        let z = &bytes[r.pos()..];
        let plain = zstd::bulk::decompress(z, raw)
            .map_err(|e| corrupt(&path, self.tags_at, format!("tag summary: {e}")))?;
        Tags::decode(&plain).map_err(|m| corrupt(&path, self.tags_at, format!("tag summary: {m}")))
    }

    /// Whether the block may hold a span satisfying each part of `hint`: its meta rules
    /// out services, span names, durations and attribute keys; attribute values need the
    /// summary.
    pub(crate) fn may_match(&self, hint: &Hint) -> Result<bool, SpanError> {
        let m = &self.meta;
        let keys = |scope| match scope {
            AttributeScope::Resource => &m.resource_keys,
            AttributeScope::Span => &m.span_keys,
        };
        let cheap = hint.service.as_ref().is_none_or(|s| m.services.contains(s))
            && hint
                .span_name
                .as_ref()
                .is_none_or(|n| m.span_names.contains(n))
            && hint
                .min_span_duration
                .is_none_or(|d| m.max_span_duration >= d)
            && hint
                .attributes
                .iter()
                .all(|(scope, key, _)| keys(*scope).contains_key(key));
        if !cheap || hint.attributes.is_empty() {
            return Ok(cheap);
        }
        let tags = self.tags()?;
        Ok(hint
            .attributes
            .iter()
            .all(|(scope, key, value)| tags.may_have(*scope, key, value)))
    }

    /// Adds the attribute keys seen in `window`, from the meta alone.
    pub(crate) fn tag_names(&self, window: Window, out: &mut TagNames) {
        for (keys, set) in [
            (&self.meta.resource_keys, &mut out.resource),
            (&self.meta.span_keys, &mut out.span),
        ] {
            for (k, [lo, hi]) in keys {
                if window.overlaps(*lo, *hi) && !set.contains(k) {
                    set.insert(k.clone());
                }
            }
        }
    }
}

impl disk::dir::Replaces for Block {
    fn id(&self) -> &str {
        &self.meta.id
    }
    fn sources(&self) -> &[String] {
        &self.meta.compaction.sources
    }
    fn dir(&self) -> &Path {
        &self.dir
    }
    fn level(&self) -> u32 {
        self.meta.compaction.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spans::conformance::{rich_span, span};

    fn write(dir: &Path, spans: &[Span]) -> Block {
        let mut sorted = spans.to_vec();
        sorted.sort_by_key(|s| (s.trace_id, s.start, s.span_id));
        let mut w = BlockWriter::new(
            dir,
            7,
            Compaction {
                level: 1,
                sources: vec![],
            },
        )
        .unwrap();
        for s in &sorted {
            w.push(s).unwrap();
        }
        let meta = w.finish().unwrap().unwrap();
        Block::open(&dir.join(&meta.id)).unwrap()
    }

    #[test]
    fn a_block_round_trips_every_field_and_finds_traces_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut spans = vec![rich_span(), rich_span()];
        for t in 0..300 {
            for n in 0..20 {
                spans.push(span(
                    t,
                    n,
                    ["api", "dht"][(n % 2) as usize],
                    t * 1_000 + n,
                    7,
                ));
            }
        }
        let block = write(dir.path(), &spans);
        let m = block.meta();
        assert_eq!(
            (m.spans, m.traces, m.wal_before),
            (6_001, 301, 7),
            "the repeat kept once"
        );
        assert!(m.pages >= 2, "{} pages", m.pages);
        assert_eq!(
            m.services.iter().collect::<Vec<_>>(),
            ["api", "dht", "payments"]
        );
        assert!(m.span_keys.contains_key("payment.amount"));
        let mut got = Vec::new();
        block.trace(&rich_span().trace_id, &mut got).unwrap();
        assert_eq!(format!("{got:?}"), format!("{:?}", [rich_span()]));
        for t in [0, 63, 64, 65, 150, 299] {
            got.clear();
            block
                .trace(&spans::conformance::trace_id(t), &mut got)
                .unwrap();
            assert_eq!(got.len(), 20, "trace {t}");
            assert!(
                got.iter()
                    .all(|s| s.trace_id == spans::conformance::trace_id(t))
            );
        }
        got.clear();
        block
            .trace(&spans::conformance::trace_id(300), &mut got)
            .unwrap();
        assert!(got.is_empty());
        assert!(
            fs::read_dir(dir.path()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp"))
        );
    }

    #[test]
    fn a_trace_larger_than_a_page_spans_pages_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let spans: Vec<Span> = (0..(page::MAX_SPANS as u64 * 2 + 5))
            .map(|n| span(1, n, "wasm", 1_000 + n, 3))
            .collect();
        let block = write(dir.path(), &spans);
        assert_eq!(block.meta().pages, 3);
        let mut got = Vec::new();
        block.trace(&spans[0].trace_id, &mut got).unwrap();
        assert_eq!(got, spans);
    }

    #[test]
    fn a_damaged_page_fails_the_read_naming_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let spans: Vec<Span> = (0..10).map(|t| span(t, 0, "api", t, 1)).collect();
        let block = write(dir.path(), &spans);
        let data = block.dir().join("data");
        let mut bytes = fs::read(&data).unwrap();
        bytes[20] ^= 0xff;
        fs::write(&data, &bytes).unwrap();
        let block = Block::open(block.dir()).unwrap();
        let mut got = Vec::new();
        match block.trace(&spans[3].trace_id, &mut got) {
            Err(SpanError::Corrupt {
                path,
                offset,
                message,
            }) => {
                assert_eq!(path, data.display().to_string());
                assert_eq!(offset, 8, "the page starts after the magic");
                assert!(message.contains("checksum"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_damaged_index_fails_the_open_naming_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let block = write(dir.path(), &[span(1, 0, "api", 1, 1)]);
        let index = block.dir().join("index");
        let mut bytes = fs::read(&index).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&index, &bytes).unwrap();
        let e = Block::open(block.dir()).unwrap_err().to_string();
        assert!(
            e.contains(&index.display().to_string()) && e.contains("checksum"),
            "{e}"
        );
    }
}
