//! The store: a directory of blocks, the head and its WAL, behind the span store contract.
//!
//! ```text
//! <dir>/
//!     <block id>/...   persisted blocks (see `block`)
//!     wal/             the head's write-ahead log (see `wal`)
//!     lock             flock'ed by the process that has the store open
//! ```
//!
//! Opening reads every block's meta and index, then replays the WAL into a new head.
//! [`TraceDb::append`](spans::SpanStore::append) writes the batch to the WAL, then applies
//! it to the head, both under the WAL lock. A cut freezes the head (reads go on seeing
//! it), starts a new one and a new WAL segment, writes the frozen head into a block, swaps
//! the block in for it, and only then deletes the WAL segments it came from. Once the head
//! holds [`Options::max_head_bytes`], the append that crossed the limit freezes it and the
//! store's own thread writes the block; an append that finds the next head at twice the
//! limit while that block is still being written waits for it. So the heads' memory is
//! bounded however fast spans come and whoever calls [`TraceDb::maintain`], and appends
//! do not wait for block writes in the common case.
//!
//! Reads take a snapshot of the sources (the head, a frozen head, the blocks) and gather a
//! trace from every source that may hold it: a head by its map, a block by its bloom filter
//! and index. A trace whose spans were cut into several blocks is returned whole, once.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use spans::{
    AttributeScope, Hint, Span, SpanError, SpanKind, SpanStore, TagNames, TraceId, Value, Window,
    normalize, validate,
};

use crate::block::{Block, BlockMeta, BlockWriter, Compaction, TraceEntry};
use crate::head::{self, Head};
use crate::tags::Range;
use crate::wal::{self, Damage, SyncPolicy, disk_err, io_err};
use disk::dir::Quarantined;
use disk::wal::Wal;

/// How a store behaves. The defaults follow Tempo's where Tempo has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Blocks whose latest span ended longer than this before now are deleted by
    /// [`TraceDb::maintain`]. Default: 14 days (Tempo's `block_retention`). `None` keeps
    /// blocks however old.
    pub retention_age: Option<Duration>,
    /// While blocks and WAL together take more bytes than this, [`TraceDb::maintain`]
    /// deletes the oldest blocks. Default: `None` (no limit; Tempo has none either).
    pub retention_bytes: Option<u64>,
    /// The head is cut into a block once its spans take this many bytes in their row
    /// encoding, which is how the head holds them (its memory is this, plus a map entry
    /// per trace and the slack of growing buffers). Default: 64 MiB. The block is
    /// written in the background while a new head takes appends; appends wait when that
    /// head reaches twice the limit first, so the two heads together stay under about
    /// three times it.
    pub max_head_bytes: u64,
    /// The head is cut into a block by [`TraceDb::maintain`] once its first span arrived
    /// this long ago. Default: 30 minutes (Tempo's `max_block_duration`).
    pub max_head_age: Duration,
    /// The most spans one trace may have in the head (the spans received since the last
    /// cut, as Tempo limits a live trace); a batch that would pass it is refused whole.
    /// Default: 250,000.
    pub max_trace_spans: u32,
    /// The longest attribute key, string value or bytes value, in bytes, anywhere in a span
    /// (its resource, scope, events and links too); a batch with a longer one is refused
    /// whole. Default: 64 KiB.
    pub max_attribute_bytes: usize,
    /// When appended batches reach stable storage. Default: [`SyncPolicy::Never`], which
    /// survives the process being killed but not a power loss.
    pub sync: SyncPolicy,
    /// [`TraceDb::maintain`] merges the blocks of one compaction level whose latest spans
    /// fall in the same window of this length, once there are four of them. Default: 1 hour
    /// (Tempo's `compaction_window`).
    pub compaction_window: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            retention_age: Some(Duration::from_secs(14 * 24 * 3600)),
            retention_bytes: None,
            max_head_bytes: 64 << 20,
            max_head_age: Duration::from_secs(30 * 60),
            max_trace_spans: 250_000,
            max_attribute_bytes: 64 << 10,
            sync: SyncPolicy::default(),
            compaction_window: Duration::from_secs(3600),
        }
    }
}

/// Blocks merged by one compaction: at least this many, at most four times as many.
const COMPACTION_FAN_IN: usize = 4;

/// What a store holds, for its self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Spans in blocks and in the head (a span received twice since the last cut counts
    /// twice until it is cut).
    pub spans: u64,
    /// Traces summed over the blocks and the head: a trace cut into several blocks counts
    /// once in each.
    pub traces: u64,
    /// Blocks.
    pub blocks: u64,
    /// Bytes on disk: blocks and WAL.
    pub bytes_on_disk: u64,
    /// Spans in the head (a frozen head being written included).
    pub head_spans: u64,
    /// Bytes of span data in the head, the measure it is cut by.
    pub head_bytes: u64,
    /// Bytes of WAL segments.
    pub wal_bytes: u64,
}

/// The sources a read sees.
#[derive(Debug)]
struct State {
    head: Arc<Head>,
    /// A head being written into a block, and the WAL segment after its last record.
    frozen: Option<(Arc<Head>, u32)>,
    blocks: Vec<Arc<Block>>,
}

/// The store, shared with the thread that writes frozen heads into blocks.
#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    wal_dir: PathBuf,
    options: Options,
    /// Held open for its exclusive `flock`: one process per directory.
    _lock: fs::File,
    /// Serialises appends: a batch's WAL write and its application to the head happen
    /// together, in the same order for the log and the head.
    wal: Mutex<Wal>,
    state: RwLock<State>,
    /// Serialises cuts, so that the WAL segments a cut deletes hold nothing but its head.
    cut_lock: Mutex<()>,
    /// Serialises compaction and retention, which both remove blocks.
    maintenance: Mutex<()>,
    damage: Option<Damage>,
    /// The damaged blocks moved aside at open.
    quarantined: Vec<Quarantined>,
    closed: AtomicBool,
    /// Wakes the cutter thread: a head was frozen, or the store is shutting down.
    signal: Mutex<Signal>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Signal {
    frozen: bool,
    stop: bool,
}

/// A span store in a directory; see the module's docs.
#[derive(Debug)]
pub struct TraceDb {
    inner: Arc<Inner>,
    cutter: Option<std::thread::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn corrupt_head(message: String) -> SpanError {
    SpanError::Corrupt {
        path: "<span head>".into(),
        offset: 0,
        message,
    }
}

/// Opens the blocks in `dir`; a damaged one is moved into `quarantine/`, logged and listed.
fn read_blocks(dir: &Path) -> Result<(Vec<Arc<Block>>, Vec<Quarantined>), SpanError> {
    let paths = disk::dir::block_dirs(dir).map_err(disk_err)?;
    let (blocks, quarantined) = disk::dir::open_or_quarantine(
        dir,
        &paths,
        |path| Block::open(path).map(Arc::new),
        |e| match e {
            SpanError::Corrupt { .. } => true,
            SpanError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof
            ),
            _ => false,
        },
        disk_err,
    )?;
    for q in &quarantined {
        tracing::warn!(from = %q.from.display(), to = %q.to.display(), "{q}");
    }
    let mut live: Vec<Arc<Block>> = disk::dir::drop_replaced(blocks).map_err(disk_err)?;
    sort_blocks(&mut live);
    Ok((live, quarantined))
}

fn sort_blocks(blocks: &mut [Arc<Block>]) {
    blocks
        .sort_by(|a, b| (a.meta().max_time, &a.meta().id).cmp(&(b.meta().max_time, &b.meta().id)));
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The first key or string or bytes value in `attrs` longer than `limit`, with its length.
fn too_long(attrs: &[spans::KeyValue], limit: usize) -> Option<(&str, usize)> {
    fn value_len(v: &Value, limit: usize) -> Option<usize> {
        match v {
            Value::String(s) if s.len() > limit => Some(s.len()),
            Value::Bytes(b) if b.len() > limit => Some(b.len()),
            Value::Array(items) => items.iter().find_map(|i| value_len(i, limit)),
            Value::Map(pairs) => too_long(pairs, limit).map(|(_, n)| n),
            _ => None,
        }
    }
    attrs.iter().find_map(|a| {
        if a.key.len() > limit {
            Some((a.key.as_str(), a.key.len()))
        } else {
            value_len(&a.value, limit).map(|n| (a.key.as_str(), n))
        }
    })
}

/// A snapshot of the sources, for one read.
struct Sources {
    heads: Vec<Arc<Head>>,
    blocks: Vec<Arc<Block>>,
}

impl Sources {
    /// `id`'s spans in every source but block `except`, appended to `out`.
    fn gather(
        &self,
        id: &TraceId,
        except: Option<usize>,
        out: &mut Vec<Span>,
    ) -> Result<(), SpanError> {
        for h in &self.heads {
            if let Some(c) = h.copy(id) {
                c.decode_into(out).map_err(corrupt_head)?;
            }
        }
        for (i, b) in self.blocks.iter().enumerate() {
            if Some(i) != except {
                b.trace(id, out)?;
            }
        }
        Ok(())
    }
}

impl Inner {
    fn open(dir: &Path, options: Options) -> Result<Self, SpanError> {
        let dir = dir.to_owned();
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let lock_file = disk::dir::lock(&dir).map_err(wal::disk_err)?;
        let (blocks, quarantined) = read_blocks(&dir)?;
        let wal_dir = dir.join("wal");
        // Segments below the newest block's mark are in blocks already: a cut that died
        // between renaming its block and deleting them left them behind.
        let wal_before = blocks
            .iter()
            .map(|b| b.meta().wal_before)
            .max()
            .unwrap_or(0);
        disk::wal::remove_before(&wal_dir, wal_before).map_err(disk_err)?;
        let head = Head::default();
        // A batch that passes its checksum but does not decode is damage like a torn one:
        // decoding it whole first means nothing of it is applied.
        let damage = wal::replay(&wal_dir, |batch| {
            let spans = head::decode_batch(batch)?;
            head.apply(batch, &head::summarize(&spans))
        })?;
        if let Some(d) = &damage {
            tracing::warn!(path = %d.path.display(), offset = d.offset, "{d}");
        }
        let wal = Wal::open(&wal_dir, options.sync, wal_before).map_err(disk_err)?;
        let db = Self {
            dir,
            wal_dir,
            options,
            _lock: lock_file,
            wal: Mutex::new(wal),
            state: RwLock::new(State {
                head: Arc::new(head),
                frozen: None,
                blocks,
            }),
            cut_lock: Mutex::new(()),
            maintenance: Mutex::new(()),
            damage,
            quarantined,
            closed: AtomicBool::new(false),
            signal: Mutex::new(Signal::default()),
            wake: Condvar::new(),
        };
        if db.head().bytes() >= options.max_head_bytes {
            db.cut()?;
        }
        Ok(db)
    }

    /// Where the WAL was found damaged at open, if it was.
    fn wal_damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// The store's directory.
    fn dir(&self) -> &Path {
        &self.dir
    }

    /// The open blocks, oldest (by latest span end) first.
    fn blocks(&self) -> Vec<Arc<Block>> {
        self.read_state().blocks.clone()
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn head(&self) -> Arc<Head> {
        self.read_state().head.clone()
    }

    fn sources(&self) -> Sources {
        let st = self.read_state();
        let mut heads = vec![st.head.clone()];
        heads.extend(st.frozen.as_ref().map(|(h, _)| h.clone()));
        Sources {
            heads,
            blocks: st.blocks.clone(),
        }
    }

    /// What the store holds.
    fn stats(&self) -> Stats {
        let src = self.sources();
        let wal_bytes: u64 = disk::wal::segments(&self.wal_dir)
            .unwrap_or_default()
            .iter()
            .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        let head_spans: u64 = src.heads.iter().map(|h| h.spans()).sum();
        Stats {
            spans: head_spans + src.blocks.iter().map(|b| b.meta().spans).sum::<u64>(),
            traces: src.heads.iter().map(|h| h.traces() as u64).sum::<u64>()
                + src.blocks.iter().map(|b| b.meta().traces).sum::<u64>(),
            blocks: src.blocks.len() as u64,
            bytes_on_disk: wal_bytes + src.blocks.iter().map(|b| b.size()).sum::<u64>(),
            head_spans,
            head_bytes: src.heads.iter().map(|h| h.bytes()).sum(),
            wal_bytes,
        }
    }

    fn check_limits(&self, spans: &[Span]) -> Result<(), SpanError> {
        let limit = self.options.max_attribute_bytes;
        for (index, s) in spans.iter().enumerate() {
            let lists = [&s.attributes, &s.resource.attributes, &s.scope.attributes]
                .into_iter()
                .chain(s.events.iter().map(|e| &e.attributes))
                .chain(s.links.iter().map(|l| &l.attributes));
            for attrs in lists {
                if let Some((key, len)) = too_long(attrs, limit) {
                    return Err(SpanError::Limit {
                        limit: "max_attribute_bytes",
                        value: limit as u64,
                        message: format!(
                            "span {index} of the batch has {len} bytes in attribute {key:?}; shorten it or raise max_attribute_bytes"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    fn check_trace_limit(&self, head: &Head, spans: &[Span]) -> Result<(), SpanError> {
        let mut counts: HashMap<TraceId, u64> = HashMap::new();
        for s in spans {
            *counts.entry(s.trace_id).or_default() += 1;
        }
        let limit = u64::from(self.options.max_trace_spans);
        for (id, n) in counts {
            let total = n + u64::from(head.trace_spans(&id));
            if total > limit {
                return Err(SpanError::Limit {
                    limit: "max_trace_spans",
                    value: limit,
                    message: format!(
                        "trace {id} would have {total} spans since the last cut; send fewer spans per trace or raise max_trace_spans"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Freezes the head, if it holds anything and no other head is frozen: a new head
    /// and a new WAL segment take the appends that follow. Returns whether it froze.
    fn freeze(&self) -> Result<bool, SpanError> {
        let mut wal = lock(&self.wal);
        if self.read_state().frozen.is_some() || self.head().spans() == 0 {
            return Ok(false);
        }
        let segment = wal.cut().map_err(disk_err)?;
        let mut st = self.write_state();
        let old = std::mem::replace(&mut st.head, Arc::new(Head::default()));
        st.frozen = Some((old, segment));
        Ok(true)
    }

    /// Writes the frozen head, if there is one, into a block, swaps the block in for it
    /// and deletes the WAL segments it came from. The caller holds `cut_lock`.
    fn write_frozen(&self) -> Result<Option<BlockMeta>, SpanError> {
        let Some((frozen, segment)) = self.read_state().frozen.clone() else {
            return Ok(None);
        };
        let mut writer = BlockWriter::new(
            &self.dir,
            segment,
            Compaction {
                level: 1,
                sources: Vec::new(),
            },
        )?;
        frozen.for_each_sorted(|s| writer.push(s))?;
        let meta = writer.finish()?;
        let block = match &meta {
            Some(m) => Some(Arc::new(Block::open(&self.dir.join(&m.id))?)),
            None => None,
        };
        {
            let mut st = self.write_state();
            st.blocks.extend(block);
            sort_blocks(&mut st.blocks);
            st.frozen = None;
        }
        disk::wal::remove_before(&self.wal_dir, segment).map_err(disk_err)?;
        Ok(meta)
    }

    /// Cuts the head into a block now, after writing a head frozen earlier, and returns
    /// the new block's meta.
    fn cut(&self) -> Result<Option<BlockMeta>, SpanError> {
        let _cut = lock(&self.cut_lock);
        self.write_frozen()?;
        if self.freeze()? {
            self.write_frozen()
        } else {
            Ok(None)
        }
    }

    /// Asks the cutter thread to write the frozen head.
    fn wake_cutter(&self) {
        lock(&self.signal).frozen = true;
        self.wake.notify_all();
    }

    /// The cutter thread: writes each frozen head into a block until told to stop.
    fn run_cutter(&self) {
        loop {
            {
                let mut s = lock(&self.signal);
                while !s.frozen && !s.stop {
                    s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                if s.stop {
                    return;
                }
                s.frozen = false;
            }
            let _cut = lock(&self.cut_lock);
            if let Err(e) = self.write_frozen() {
                // The head stays frozen and readable, its WAL in place; the next cut or
                // maintenance tries again.
                tracing::warn!(dir = %self.dir.display(), "writing the span head into a block: {e}");
            }
        }
    }

    /// Cuts the head if it is due: as large as [`Options::max_head_bytes`] or as old as
    /// [`Options::max_head_age`].
    fn cut_if_due(&self) -> Result<Option<BlockMeta>, SpanError> {
        let head = self.head();
        let big = head.bytes() >= self.options.max_head_bytes;
        let old = head
            .first_append()
            .is_some_and(|t| t.elapsed() >= self.options.max_head_age);
        let pending = self.read_state().frozen.is_some();
        if big || old || pending {
            self.cut()
        } else {
            Ok(None)
        }
    }

    /// See [`TraceDb::maintain`].
    fn maintain(&self) -> Result<(), SpanError> {
        self.cut_if_due()?;
        self.compact()?;
        self.apply_retention(now_nanos())?;
        Ok(())
    }

    /// See [`TraceDb::compact`].
    fn compact(&self) -> Result<Vec<BlockMeta>, SpanError> {
        let _m = lock(&self.maintenance);
        let window = self.options.compaction_window.as_nanos().max(1) as u64;
        let mut written = Vec::new();
        loop {
            let blocks = self.blocks();
            let mut groups: std::collections::BTreeMap<(u64, u32), Vec<Arc<Block>>> =
                std::collections::BTreeMap::new();
            for b in &blocks {
                groups
                    .entry((b.meta().max_time / window, b.meta().compaction.level))
                    .or_default()
                    .push(b.clone());
            }
            let Some(mut group) = groups.into_values().find(|g| g.len() >= COMPACTION_FAN_IN)
            else {
                break;
            };
            group.truncate(4 * COMPACTION_FAN_IN);
            written.extend(self.merge(&group)?);
        }
        Ok(written)
    }

    /// Writes one block holding everything in `sources`, swaps it in and deletes them.
    fn merge(&self, sources: &[Arc<Block>]) -> Result<Option<BlockMeta>, SpanError> {
        let (level, ids) = disk::dir::merged(sources);
        let wal_before = sources
            .iter()
            .map(|b| b.meta().wal_before)
            .max()
            .unwrap_or(0);
        let mut writer = BlockWriter::new(
            &self.dir,
            wal_before,
            Compaction {
                level,
                sources: ids,
            },
        )?;
        merge_sorted(sources, |s| writer.push(s))?;
        let meta = writer.finish()?;
        let merged = match &meta {
            Some(m) => Some(Arc::new(Block::open(&self.dir.join(&m.id))?)),
            None => None,
        };
        {
            let mut st = self.write_state();
            st.blocks
                .retain(|b| !sources.iter().any(|s| Arc::ptr_eq(s, b)));
            st.blocks.extend(merged);
            sort_blocks(&mut st.blocks);
        }
        // Reads still holding a source keep reading it through its open files.
        for b in sources {
            fs::remove_dir_all(b.dir()).map_err(io_err("removing", b.dir()))?;
        }
        Ok(meta)
    }

    /// See [`TraceDb::apply_retention`].
    fn apply_retention(&self, now: u64) -> Result<Vec<BlockMeta>, SpanError> {
        let _m = lock(&self.maintenance);
        let blocks = self.blocks();
        let stats = self.stats();
        let mut total = stats.bytes_on_disk;
        let oldest_kept = self
            .options
            .retention_age
            .map(|a| now.saturating_sub(a.as_nanos() as u64));
        let mut doomed = Vec::new();
        for b in &blocks {
            let too_old = oldest_kept.is_some_and(|t| b.meta().max_time < t);
            let too_big = self.options.retention_bytes.is_some_and(|l| total > l);
            if !(too_old || too_big) {
                break;
            }
            total = total.saturating_sub(b.size());
            doomed.push(b.clone());
        }
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        self.write_state()
            .blocks
            .retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(d, b)));
        for b in &doomed {
            fs::remove_dir_all(b.dir()).map_err(io_err("removing", b.dir()))?;
        }
        Ok(doomed.iter().map(|b| b.meta().clone()).collect())
    }

    /// See [`TraceDb::close`].
    fn close(&self) -> Result<(), SpanError> {
        {
            let wal = lock(&self.wal);
            if self.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            wal.sync().map_err(disk_err)?;
        }
        self.cut().map(|_| ())
    }
}

impl TraceDb {
    /// Opens (creating if needed) the store in `dir`, which no other process may have open,
    /// and starts the thread that writes full heads into blocks.
    ///
    /// A damaged WAL does not stop the open: everything before the damage is recovered,
    /// the rest is cut off, a warning names the file and offset, and
    /// [`TraceDb::wal_damage`] says where. A damaged block meta or index does stop it, with
    /// an error naming the file and offset.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self, SpanError> {
        let inner = Arc::new(Inner::open(dir.as_ref(), options)?);
        let for_thread = inner.clone();
        let cutter = std::thread::Builder::new()
            .name("tracedb-cut".into())
            .spawn(move || for_thread.run_cutter())
            .map_err(io_err("starting a thread for", dir.as_ref()))?;
        Ok(Self {
            inner,
            cutter: Some(cutter),
        })
    }

    /// Where the WAL was found damaged at open, if it was.
    pub fn wal_damage(&self) -> Option<&Damage> {
        self.inner.wal_damage()
    }

    /// The damaged blocks moved into `quarantine/` at open, with why.
    pub fn quarantined(&self) -> &[Quarantined] {
        &self.inner.quarantined
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.inner.dir()
    }

    /// The open blocks, oldest (by latest span end) first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.inner.blocks()
    }

    /// What the store holds, for its self-metrics.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Cuts the head into a block now (after writing a head frozen earlier, if the
    /// background write has not) and returns the new block's meta; `None` if the head is
    /// empty.
    pub fn cut(&self) -> Result<Option<BlockMeta>, SpanError> {
        self.inner.cut()
    }

    /// Runs the periodic work: cuts the head if it is due ([`Options::max_head_bytes`],
    /// [`Options::max_head_age`]), compacts, applies retention. The server calls it every
    /// minute or so, on a thread that may block.
    pub fn maintain(&self) -> Result<(), SpanError> {
        self.inner.maintain()
    }

    /// Merges blocks of the same compaction level whose latest spans fall in the same
    /// compaction window, four or more at a time, and returns the blocks written. Merging
    /// streams: one decoded page of each source and one page being written are in memory,
    /// whatever the size of a trace.
    pub fn compact(&self) -> Result<Vec<BlockMeta>, SpanError> {
        self.inner.compact()
    }

    /// Deletes the blocks that retention by age (relative to `now`, Unix nanoseconds) or
    /// by size no longer keeps, oldest first, and returns their metas. The head is never
    /// deleted.
    pub fn apply_retention(&self, now: u64) -> Result<Vec<BlockMeta>, SpanError> {
        self.inner.apply_retention(now)
    }

    /// Cuts the head into a block and syncs the WAL; appends after it fail with
    /// [`SpanError::Closed`]. Dropping the store does the same, logging what fails.
    pub fn close(&self) -> Result<(), SpanError> {
        self.inner.close()
    }

    fn stop_cutter(&mut self) {
        lock(&self.inner.signal).stop = true;
        self.inner.wake.notify_all();
        if let Some(t) = self.cutter.take() {
            let _ = t.join();
        }
    }

    /// Drops the store as a crash would leave it: no cut, nothing flushed by the store
    /// (what the kernel has of the WAL stays).
    #[cfg(test)]
    pub(crate) fn crash(mut self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.stop_cutter();
    }
}

impl Drop for TraceDb {
    fn drop(&mut self) {
        self.stop_cutter();
        if let Err(e) = self.inner.close() {
            tracing::warn!(dir = %self.inner.dir.display(), "closing the span store: {e}");
        }
    }
}

/// Calls `push` with every span of `blocks` in order of trace ID, start and span ID, by a
/// k-way merge holding one decoded page per block.
fn merge_sorted(
    blocks: &[Arc<Block>],
    mut push: impl FnMut(&Span) -> Result<(), SpanError>,
) -> Result<(), SpanError> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    struct Cursor {
        page: usize,
        spans: std::vec::IntoIter<Span>,
    }
    fn next(b: &Block, c: &mut Cursor) -> Result<Option<Span>, SpanError> {
        loop {
            if let Some(s) = c.spans.next() {
                return Ok(Some(s));
            }
            if c.page >= b.page_count() {
                return Ok(None);
            }
            let mut spans = Vec::new();
            b.page_rows(c.page, |_| true, |s| spans.push(s))?;
            c.page += 1;
            c.spans = spans.into_iter();
        }
    }
    let mut cursors: Vec<Cursor> = blocks
        .iter()
        .map(|_| Cursor {
            page: 0,
            spans: Vec::new().into_iter(),
        })
        .collect();
    let mut heads: Vec<Option<Span>> = Vec::with_capacity(blocks.len());
    let mut heap = BinaryHeap::new();
    for (i, (b, c)) in blocks.iter().zip(&mut cursors).enumerate() {
        let s = next(b, c)?;
        if let Some(s) = &s {
            heap.push(Reverse(((s.trace_id, s.start, s.span_id), i)));
        }
        heads.push(s);
    }
    while let Some(Reverse((_, i))) = heap.pop() {
        if let Some(s) = heads[i].take() {
            push(&s)?;
        }
        let s = next(&blocks[i], &mut cursors[i])?;
        if let Some(s) = &s {
            heap.push(Reverse(((s.trace_id, s.start, s.span_id), i)));
        }
        heads[i] = s;
    }
    Ok(())
}

/// A trace to visit in a scan, from the source being scanned.
#[derive(Clone, Copy)]
struct Candidate {
    id: TraceId,
    range: Range,
}

impl SpanStore for Inner {
    fn append(&self, spans: &[Span]) -> Result<(), SpanError> {
        validate(spans)?;
        self.check_limits(spans)?;
        if spans.is_empty() {
            return Ok(());
        }
        // A head at twice its limit means the block of the previous head is still being
        // written, or writing fails (a full disk, say): wait for it, or refuse, rather than
        // grow without bound.
        if self.head().bytes() >= self.options.max_head_bytes.saturating_mul(2) {
            {
                let _cut = lock(&self.cut_lock);
                self.write_frozen()?;
            }
            if self.freeze()? {
                self.wake_cutter();
            }
        }
        // Encoding and summarising happen before the lock, in the appending thread.
        let summary = head::summarize(spans);
        let mut buf = Vec::new();
        wal::encode(spans, &mut buf);
        let head = {
            let mut wal = lock(&self.wal);
            if self.closed.load(Ordering::SeqCst) {
                return Err(SpanError::Closed);
            }
            let head = self.head();
            self.check_trace_limit(&head, spans)?;
            if buf.len() > u32::MAX as usize {
                return Err(SpanError::Limit {
                    limit: "batch bytes",
                    value: u64::from(u32::MAX),
                    message: format!(
                        "the batch encodes to {} bytes; send smaller batches",
                        buf.len()
                    ),
                });
            }
            wal.write(&buf).map_err(disk_err)?;
            let (batch, _) = wal::decode(&buf).map_err(corrupt_head)?;
            head.apply(&batch, &summary).map_err(corrupt_head)?;
            head
        };
        if head.bytes() >= self.options.max_head_bytes {
            match self.freeze() {
                Ok(true) => self.wake_cutter(),
                Ok(false) => {}
                // The batch is durable in the WAL: the append succeeded. The next append
                // or maintenance tries again.
                Err(e) => tracing::warn!(dir = %self.dir.display(), "freezing the span head: {e}"),
            }
        }
        Ok(())
    }

    fn trace(&self, id: &TraceId, window: Window) -> Result<Vec<Span>, SpanError> {
        let src = self.sources();
        let mut out = Vec::new();
        src.gather(id, None, &mut out)?;
        normalize(&mut out);
        if out.iter().any(|s| window.overlaps(s.start, s.end)) {
            Ok(out)
        } else {
            Ok(Vec::new())
        }
    }

    fn scan(
        &self,
        window: Window,
        hint: &Hint,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<(), SpanError> {
        let src = self.sources();
        let head_ok: Vec<bool> = src.heads.iter().map(|h| h.may_match(hint)).collect();
        let block_ok: Vec<bool> = src
            .blocks
            .iter()
            .map(|b| b.may_match(hint))
            .collect::<Result<_, _>>()?;
        let any_ok = head_ok.iter().chain(&block_ok).any(|ok| *ok);
        if !any_ok {
            return Ok(());
        }
        // Whether a source other than `except` that may satisfy the hint may hold `id`: a
        // trace of a source the hint rules out can still match through its other spans.
        let elsewhere = |id: &TraceId, except: (bool, usize)| {
            src.heads
                .iter()
                .enumerate()
                .any(|(i, h)| (true, i) != except && head_ok[i] && h.contains(id))
                || src
                    .blocks
                    .iter()
                    .enumerate()
                    .any(|(i, b)| (false, i) != except && block_ok[i] && b.may_contain(id))
        };
        // Sources newest first: `(is_head, index)`.
        let mut order: Vec<(u64, (bool, usize))> = src
            .heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.range().map(|r| (r.max, (true, i))))
            .chain(
                src.blocks
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (b.meta().max_time, (false, i))),
            )
            .collect();
        order.sort_by(|a, b| b.cmp(a));
        let mut visited: HashSet<TraceId> = HashSet::new();
        let mut trace = Vec::new();
        // Finishes a candidate whose spans in the scanned source are in `trace`: gathers the
        // rest, checks it, visits it.
        let mut finish = |trace: &mut Vec<Span>,
                          id: &TraceId,
                          except: Option<usize>|
         -> Result<ControlFlow<()>, SpanError> {
            src.gather(id, except, trace)?;
            normalize(trace);
            let keep = trace.iter().any(|s| window.overlaps(s.start, s.end)) && hint.matches(trace);
            let flow = if keep {
                visit(trace)
            } else {
                ControlFlow::Continue(())
            };
            trace.clear();
            Ok(flow)
        };
        for (_, (is_head, i)) in order {
            let ok = if is_head { head_ok[i] } else { block_ok[i] };
            if is_head {
                let h = &src.heads[i];
                if !h.range().is_some_and(|r| r.overlaps(window)) {
                    continue;
                }
                let mut cands: Vec<Candidate> = h
                    .traces_in(window)
                    .into_iter()
                    .filter(|(id, _)| !visited.contains(id) && (ok || elsewhere(id, (true, i))))
                    .map(|(id, range)| Candidate { id, range })
                    .collect();
                cands.sort_by(|a, b| b.range.max.cmp(&a.range.max).then(a.id.cmp(&b.id)));
                for c in cands {
                    visited.insert(c.id);
                    if finish(&mut trace, &c.id, None)?.is_break() {
                        return Ok(());
                    }
                }
                continue;
            }
            let b = &src.blocks[i];
            if !b.range().overlaps(window) {
                continue;
            }
            let entries: Vec<TraceEntry> = b
                .entries()?
                .into_iter()
                .filter(|e| {
                    e.range.overlaps(window)
                        && !visited.contains(&e.id)
                        && (ok || elsewhere(&e.id, (false, i)))
                })
                .collect();
            // Pages are decoded once each, the page with the newest trace first; a trace
            // spread over several pages (a large one) is read by itself.
            let mut by_page: HashMap<u32, Vec<Candidate>> = HashMap::new();
            let mut large = Vec::new();
            for e in &entries {
                let c = Candidate {
                    id: e.id,
                    range: e.range,
                };
                if e.pages == 1 {
                    by_page.entry(e.first_page).or_default().push(c);
                } else {
                    large.push(c);
                }
            }
            let mut pages: Vec<(u32, Vec<Candidate>)> = by_page.into_iter().collect();
            for (_, cands) in &mut pages {
                cands.sort_by(|a, b| b.range.max.cmp(&a.range.max).then(a.id.cmp(&b.id)));
            }
            pages.sort_by(|a, b| b.1[0].range.max.cmp(&a.1[0].range.max).then(a.0.cmp(&b.0)));
            if !large.is_empty() {
                large.sort_by(|a, b| b.range.max.cmp(&a.range.max).then(a.id.cmp(&b.id)));
                pages.insert(0, (u32::MAX, large));
            }
            for (page, cands) in pages {
                let mut rows: HashMap<TraceId, Vec<Span>> = HashMap::new();
                if page != u32::MAX {
                    let wanted: HashSet<TraceId> = cands.iter().map(|c| c.id).collect();
                    b.page_rows(
                        page as usize,
                        |id| wanted.contains(id),
                        |s| {
                            rows.entry(s.trace_id).or_default().push(s);
                        },
                    )?;
                }
                for c in cands {
                    visited.insert(c.id);
                    let except = match rows.remove(&c.id) {
                        Some(spans) => {
                            trace.extend(spans);
                            Some(i)
                        }
                        None => None,
                    };
                    if finish(&mut trace, &c.id, except)?.is_break() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn tag_names(&self, window: Window) -> Result<TagNames, SpanError> {
        let src = self.sources();
        let mut out = TagNames::default();
        for h in &src.heads {
            h.tag_names(window, &mut out);
        }
        for b in &src.blocks {
            if b.range().overlaps(window) {
                b.tag_names(window, &mut out);
            }
        }
        Ok(out)
    }

    fn tag_values(
        &self,
        window: Window,
        scope: AttributeScope,
        key: &str,
        limit: usize,
    ) -> Result<BTreeSet<String>, SpanError> {
        let src = self.sources();
        let mut out = BTreeSet::new();
        for h in &src.heads {
            h.tag_values(window, scope, key, &mut out);
        }
        for b in &src.blocks {
            let keys = match scope {
                AttributeScope::Resource => &b.meta().resource_keys,
                AttributeScope::Span => &b.meta().span_keys,
            };
            if keys
                .get(key)
                .is_some_and(|[lo, hi]| window.overlaps(*lo, *hi))
            {
                b.tags()?.values(window, scope, key, &mut out);
            }
        }
        Ok(out.into_iter().take(limit).collect())
    }

    fn operations(
        &self,
        window: Window,
        service: &str,
    ) -> Result<BTreeSet<(String, SpanKind)>, SpanError> {
        let src = self.sources();
        let mut out = BTreeSet::new();
        for h in &src.heads {
            h.operations(window, service, &mut out);
        }
        for b in &src.blocks {
            if b.range().overlaps(window) && b.meta().services.contains(service) {
                b.tags()?.operations(window, service, &mut out);
            }
        }
        Ok(out)
    }
}

impl SpanStore for TraceDb {
    fn append(&self, spans: &[Span]) -> Result<(), SpanError> {
        self.inner.append(spans)
    }

    fn trace(&self, id: &TraceId, window: Window) -> Result<Vec<Span>, SpanError> {
        self.inner.trace(id, window)
    }

    fn scan(
        &self,
        window: Window,
        hint: &Hint,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<(), SpanError> {
        self.inner.scan(window, hint, visit)
    }

    fn tag_names(&self, window: Window) -> Result<TagNames, SpanError> {
        self.inner.tag_names(window)
    }

    fn tag_values(
        &self,
        window: Window,
        scope: AttributeScope,
        key: &str,
        limit: usize,
    ) -> Result<BTreeSet<String>, SpanError> {
        self.inner.tag_values(window, scope, key, limit)
    }

    fn operations(
        &self,
        window: Window,
        service: &str,
    ) -> Result<BTreeSet<(String, SpanKind)>, SpanError> {
        self.inner.operations(window, service)
    }
}
