//! The store: segment files, the head and its WAL, behind the log store contract.
//!
//! ```text
//! <dir>/
//!     chunks/<id>.seg   segment files, one per cut of the head (see `segment`)
//!     wal/              the head's write-ahead log (see `wal`)
//!     lock              flock'ed by the process that has the store open
//! ```
//!
//! Opening reads every segment's index, then replays the WAL into the head. A push decides
//! entry by entry what it accepts, writes the accepted entries to the WAL in one record,
//! then adds them to their streams' heads, all under the WAL lock, so the log and the head
//! see pushes in the same order and a push is durable before it is visible. A cut freezes
//! every stream's head at once (reads go on seeing it), starts a new WAL segment, writes
//! the frozen entries as chunks into one segment file, attaches the chunks to their
//! streams, and only then deletes the WAL segments the frozen entries came from. Once the
//! heads hold [`Options::max_head_bytes`], the push that crossed the limit freezes them
//! and the store's own thread writes the segment; a push that finds the new heads at
//! twice the limit while that segment is still being written waits for it, so memory
//! stays bounded however fast lines come.
//!
//! Reads take each matching stream's sources (chunks whose time range and bloom filter
//! allow them, the frozen head, a copy of the head's entries in the window), then visit
//! them in time order: sources whose time ranges do not overlap one after another, each
//! chunk decompressed only when the visit reaches it; overlapping ones (entries that came
//! out of order across a cut) decoded together and merged, a repeated entry kept once.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime};

use disk::dir::Quarantined;
use disk::wal::{Damage, SyncPolicy, Wal};
use logs::{
    Direction, Entry, Labels, LogError, LogStore, Matcher, Pushed, Reason, Refusal, Select, Stream,
    StreamStats, Visit, validate,
};

use crate::bloom::Query;
use crate::chunk;
use crate::index::Index;
use crate::segment::{self, ChunkMeta, Segment, io};
use crate::wal;

/// How a store behaves. The defaults follow Loki's where Loki has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How far behind its stream's newest entry an entry may be and still be accepted.
    /// Default: 1 hour (Loki's `max_chunk_age` / 2).
    pub out_of_order_window: Duration,
    /// Segments whose newest entry is older than this are deleted by
    /// [`LogDb::maintain`], and entries older than this are refused. Default: `None`
    /// (keep everything; Loki's `retention_period` of 0).
    pub retention_age: Option<Duration>,
    /// While segments and WAL together take more bytes than this, [`LogDb::maintain`]
    /// deletes the oldest segments. Default: `None` (no limit).
    pub retention_bytes: Option<u64>,
    /// The longest line accepted, in bytes. Default: 256 KiB (Loki's `max_line_size`).
    pub max_line_bytes: usize,
    /// The most streams the store holds; an entry that would create one more is refused.
    /// Default: 1,000,000.
    pub max_streams: usize,
    /// The heads are cut into chunks once their lines take this many bytes. Default:
    /// 64 MiB. The segment is written in the background while new heads take pushes;
    /// pushes wait when those reach twice the limit first.
    pub max_head_bytes: u64,
    /// The heads are cut by [`LogDb::maintain`] once the first entry since the last cut
    /// came this long ago. Default: 30 minutes (Loki's `chunk_idle_period`).
    pub max_head_age: Duration,
    /// A stream's entries of one cut are split into chunks of about this many bytes of
    /// lines. Default: 1 MiB, chosen by measurement (see the crate's docs): smaller chunks
    /// compress worse, larger ones cost more to decompress for a needle that hits one.
    pub chunk_target_bytes: usize,
    /// The zstd level chunks are compressed with. Default: [`DEFAULT_LEVEL`], chosen by
    /// measurement (see the crate's docs).
    pub compression_level: i32,
    /// When pushes reach stable storage. Default: [`SyncPolicy::Never`], which survives the
    /// process being killed but not a power loss.
    pub sync: SyncPolicy,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            out_of_order_window: Duration::from_secs(3600),
            retention_age: None,
            retention_bytes: None,
            max_line_bytes: 256 << 10,
            max_streams: 1_000_000,
            max_head_bytes: 64 << 20,
            max_head_age: Duration::from_secs(30 * 60),
            chunk_target_bytes: 1 << 20,
            compression_level: DEFAULT_LEVEL,
            sync: SyncPolicy::default(),
        }
    }
}

/// The zstd level of [`Options::compression_level`] by default.
pub const DEFAULT_LEVEL: i32 = chunk::LEVEL;

/// What a store holds, for its self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogDbFigures {
    /// Streams.
    pub streams: u64,
    /// Chunks on disk.
    pub chunks: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes on disk: segments and WAL.
    pub bytes_on_disk: u64,
    /// Bytes of WAL segments.
    pub wal_bytes: u64,
    /// Entries in the heads (a frozen head being written included).
    pub head_entries: u64,
    /// Bytes of their lines.
    pub head_bytes: u64,
    /// Bytes of the chunks' bloom filters (in the segments' indexes, and in memory).
    pub bloom_bytes: u64,
    /// Chunks decompressed by reads since the store was opened.
    pub chunks_read: u64,
}

/// How many entries a visit gets at once.
const BATCH: usize = 512;

/// The head being written into a segment.
#[derive(Debug)]
struct Frozen {
    /// The streams with entries in it.
    streams: Vec<(Labels, Arc<Vec<Entry>>)>,
    /// The first WAL segment after its entries.
    wal_before: u32,
    entries: u64,
    bytes: u64,
}

#[derive(Debug, Default)]
struct State {
    index: Index,
    segments: Vec<Arc<Segment>>,
    frozen: Option<Frozen>,
    head_entries: u64,
    head_bytes: u64,
    first_append: Option<Instant>,
}

#[derive(Debug, Default)]
struct Signal {
    frozen: bool,
    stop: bool,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    chunk_dir: PathBuf,
    wal_dir: PathBuf,
    options: Options,
    /// Held open for its exclusive `flock`: one process per directory.
    _lock: fs::File,
    /// Serialises pushes: a push's WAL write and its application to the heads happen
    /// together, in the same order for the log and the heads.
    wal: Mutex<Wal>,
    state: RwLock<State>,
    /// Serialises cuts, so that the WAL segments a cut deletes hold nothing but its head.
    cut_lock: Mutex<()>,
    /// Serialises retention.
    maintenance: Mutex<()>,
    damage: Option<Damage>,
    /// The damaged segment files moved aside at open.
    quarantined: Vec<Quarantined>,
    closed: AtomicBool,
    chunks_read: AtomicU64,
    signal: Mutex<Signal>,
    wake: Condvar,
}

/// A log store in a directory; see the crate's docs.
#[derive(Debug)]
pub struct LogDb {
    inner: Arc<Inner>,
    cutter: Option<std::thread::JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn disk_err(e: disk::Error) -> LogError {
    io(e.op, &e.path)(e.source)
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Where a stream's entries are read from.
enum Source {
    Chunk(Arc<ChunkMeta>),
    Mem(Arc<Vec<Entry>>),
}

/// A source with its time range and its place in write order (ties go to the earlier).
struct Ranged {
    min: i64,
    max: i64,
    order: usize,
    source: Source,
}

impl Ranged {
    fn load(&self, read: &AtomicU64) -> Result<Arc<Vec<Entry>>, LogError> {
        match &self.source {
            Source::Chunk(c) => {
                read.fetch_add(1, Ordering::Relaxed);
                c.read().map(Arc::new)
            }
            Source::Mem(m) => Ok(m.clone()),
        }
    }
}

fn mem_range(e: &Arc<Vec<Entry>>, order: usize) -> Option<Ranged> {
    Some(Ranged {
        min: e.first()?.timestamp,
        max: e.last()?.timestamp,
        order,
        source: Source::Mem(e.clone()),
    })
}

impl Inner {
    fn open(dir: &Path, options: Options) -> Result<Self, LogError> {
        let dir = dir.to_owned();
        fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let lock_file = disk::dir::lock(&dir).map_err(disk_err)?;
        let chunk_dir = dir.join("chunks");
        fs::create_dir_all(&chunk_dir).map_err(io("creating", &chunk_dir))?;
        let wal_dir = dir.join("wal");
        let mut state = State::default();
        let mut wal_before = 0;
        // A damaged segment file is moved into `quarantine/` and the store opens with the
        // rest; any other error stops the open.
        let (opened, quarantined) = disk::dir::open_or_quarantine(
            &dir,
            &segment::list(&chunk_dir)?,
            segment::open,
            |e| match e {
                LogError::Corrupt(_) => true,
                LogError::Io(e) => e.kind() == std::io::ErrorKind::UnexpectedEof,
                _ => false,
            },
            disk_err,
        )?;
        for q in &quarantined {
            tracing::warn!(from = %q.from.display(), to = %q.to.display(), "{q}");
        }
        for (seg, streams) in opened {
            wal_before = wal_before.max(seg.wal_before);
            attach(&mut state.index, streams);
            state.segments.push(seg);
        }
        // Segments of the WAL below the newest segment file's mark are in segment files
        // already: a cut that died between renaming its file and deleting them left them.
        disk::wal::remove_before(&wal_dir, wal_before).map_err(disk_err)?;
        // A record that passes its checksum but does not decode is damage like a torn one:
        // it is decoded whole before anything of it is applied.
        let damage = disk::wal::read(&wal_dir, true, |kind, payload| {
            for (labels, entries) in wal::decode(kind, payload)? {
                apply(&mut state, &labels, entries);
            }
            Ok(())
        })
        .map_err(disk_err)?;
        if let Some(d) = &damage {
            tracing::warn!(path = %d.path.display(), offset = d.offset, "{d}");
        }
        if state.head_entries > 0 {
            state.first_append = Some(Instant::now());
        }
        let wal = Wal::open(&wal_dir, options.sync, wal_before).map_err(disk_err)?;
        let db = Self {
            dir,
            chunk_dir,
            wal_dir,
            options,
            _lock: lock_file,
            wal: Mutex::new(wal),
            state: RwLock::new(state),
            cut_lock: Mutex::new(()),
            maintenance: Mutex::new(()),
            damage,
            quarantined,
            closed: AtomicBool::new(false),
            chunks_read: AtomicU64::new(0),
            signal: Mutex::new(Signal::default()),
            wake: Condvar::new(),
        };
        if db.read_state().head_bytes >= options.max_head_bytes {
            db.cut()?;
        }
        Ok(db)
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn figures(&self) -> LogDbFigures {
        let st = self.read_state();
        let wal_bytes: u64 = disk::wal::segments(&self.wal_dir)
            .unwrap_or_default()
            .iter()
            .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        let frozen = st.frozen.as_ref();
        LogDbFigures {
            streams: st.index.len() as u64,
            chunks: st.index.iter().map(|(_, s)| s.chunks.len() as u64).sum(),
            segments: st.segments.len() as u64,
            bytes_on_disk: wal_bytes + st.segments.iter().map(|s| s.size).sum::<u64>(),
            wal_bytes,
            head_entries: st.head_entries + frozen.map_or(0, |f| f.entries),
            head_bytes: st.head_bytes + frozen.map_or(0, |f| f.bytes),
            bloom_bytes: st
                .index
                .iter()
                .flat_map(|(_, s)| &s.chunks)
                .map(|c| c.bloom.encoded_len() as u64)
                .sum(),
            chunks_read: self.chunks_read.load(Ordering::Relaxed),
        }
    }

    fn push(&self, streams: &[Stream]) -> Result<Pushed, LogError> {
        validate(streams)?;
        // New heads at twice their limit mean the previous cut is still being written, or
        // writing fails (a full disk): wait for it, or fail, rather than grow without bound.
        let (heavy, pending) = {
            let st = self.read_state();
            (
                st.head_bytes >= self.options.max_head_bytes.saturating_mul(2),
                st.frozen.is_some(),
            )
        };
        if heavy {
            if pending {
                let _cut = lock(&self.cut_lock);
                self.write_frozen()?;
            }
            if self.freeze()? {
                self.wake_cutter();
            }
        }
        let pushed = {
            let mut log = lock(&self.wal);
            if self.closed.load(Ordering::SeqCst) {
                return Err(LogError::Unavailable("the log store is closed".into()));
            }
            let mut st = self.write_state();
            let (pushed, accepted) = self.judge(&st.index, streams);
            if pushed.accepted > 0 {
                let mut buf = Vec::new();
                wal::encode(
                    accepted
                        .iter()
                        .filter(|(_, e)| !e.is_empty())
                        .map(|(i, e)| {
                            (
                                &streams[*i].labels,
                                e.iter().map(|&j| &streams[*i].entries[j]).collect(),
                            )
                        })
                        .collect::<Vec<_>>()
                        .into_iter(),
                    &mut buf,
                );
                if buf.len() > u32::MAX as usize {
                    return Err(LogError::Invalid {
                        stream: 0,
                        message: format!(
                            "the push encodes to {} bytes, over the 4 GiB a WAL record holds; send smaller pushes",
                            buf.len()
                        ),
                    });
                }
                log.write(&buf).map_err(disk_err)?;
                for (i, kept) in accepted.iter().filter(|(_, k)| !k.is_empty()) {
                    let s = &streams[*i];
                    apply(
                        &mut st,
                        &s.labels,
                        kept.iter().map(|&j| s.entries[j].clone()),
                    );
                }
            }
            pushed
        };
        if self.read_state().head_bytes >= self.options.max_head_bytes {
            match self.freeze() {
                Ok(true) => self.wake_cutter(),
                Ok(false) => {}
                // The push is durable in the WAL: it succeeded. The next push or
                // maintenance tries again.
                Err(e) => tracing::warn!(dir = %self.dir.display(), "freezing the log heads: {e}"),
            }
        }
        Ok(pushed)
    }

    /// Decides entry by entry what a push keeps: the refusals, and per request stream the
    /// positions of its accepted entries.
    fn judge(&self, index: &Index, streams: &[Stream]) -> (Pushed, Vec<(usize, Vec<usize>)>) {
        let o = &self.options;
        let window = nanos(o.out_of_order_window);
        let oldest = o
            .retention_age
            .map(|a| now_nanos().saturating_sub(nanos(a)));
        let mut pushed = Pushed::default();
        let mut accepted = Vec::with_capacity(streams.len());
        // The newest timestamp per label set as this push goes, and the streams it creates.
        let mut newest: std::collections::HashMap<&Labels, i64> = Default::default();
        let mut created: std::collections::HashSet<&Labels> = Default::default();
        for (si, s) in streams.iter().enumerate() {
            let existing = index.find(&s.labels).and_then(|id| index.get(id));
            let mut kept = Vec::new();
            for (ei, e) in s.entries.iter().enumerate() {
                let newest_now = *newest
                    .entry(&s.labels)
                    .or_insert_with(|| existing.map_or(i64::MIN, |st| st.newest));
                let new_stream = existing.is_none() && !created.contains(&s.labels);
                let reason = if e.line.len() > o.max_line_bytes {
                    Some(Reason::LineTooLong {
                        size: e.line.len(),
                        limit: o.max_line_bytes,
                    })
                } else if new_stream && index.len() + created.len() >= o.max_streams {
                    Some(Reason::StreamLimit {
                        limit: o.max_streams,
                    })
                } else if let Some(oldest) = oldest.filter(|t| e.timestamp < *t) {
                    Some(Reason::BeyondRetention { oldest })
                } else if newest_now != i64::MIN && e.timestamp < newest_now.saturating_sub(window)
                {
                    Some(Reason::TooOld {
                        newest: newest_now,
                        window,
                    })
                } else {
                    None
                };
                match reason {
                    Some(reason) => pushed.refused.push(Refusal {
                        stream: si,
                        entry: ei,
                        reason,
                    }),
                    None => {
                        if new_stream {
                            created.insert(&s.labels);
                        }
                        newest.insert(&s.labels, newest_now.max(e.timestamp));
                        pushed.accepted += 1;
                        kept.push(ei);
                    }
                }
            }
            accepted.push((si, kept));
        }
        (pushed, accepted)
    }

    /// Freezes every stream's head, if any holds entries and no cut is being written: new
    /// heads and a new WAL segment take the pushes that follow. Returns whether it froze.
    fn freeze(&self) -> Result<bool, LogError> {
        let mut log = lock(&self.wal);
        {
            let st = self.read_state();
            if st.frozen.is_some() || st.head_entries == 0 {
                return Ok(false);
            }
        }
        let wal_before = log.cut().map_err(disk_err)?;
        let mut st = self.write_state();
        let mut frozen = Vec::new();
        for s in st.index.iter_mut() {
            if !s.head.is_empty() {
                let entries = Arc::new(std::mem::take(&mut s.head));
                s.frozen = Some(entries.clone());
                frozen.push((s.labels.clone(), entries));
            }
        }
        st.frozen = Some(Frozen {
            streams: frozen,
            wal_before,
            entries: std::mem::take(&mut st.head_entries),
            bytes: std::mem::take(&mut st.head_bytes),
        });
        st.first_append = None;
        Ok(true)
    }

    /// Writes the frozen head, if there is one, into a segment, attaches its chunks and
    /// deletes the WAL segments it came from. The caller holds `cut_lock`.
    fn write_frozen(&self) -> Result<(), LogError> {
        let (mut streams, wal_before) = {
            let st = self.read_state();
            let Some(f) = &st.frozen else { return Ok(()) };
            (f.streams.clone(), f.wal_before)
        };
        streams.sort_by(|a, b| a.0.cmp(&b.0));
        let mut writer = segment::Writer::new(&self.chunk_dir)?;
        let target = self.options.chunk_target_bytes.max(1);
        for (labels, entries) in &streams {
            writer.stream(labels);
            let mut from = 0;
            let mut bytes = 0;
            for (i, e) in entries.iter().enumerate() {
                bytes += e.line.len();
                if bytes >= target || i + 1 == entries.len() {
                    let c = chunk::encode(&entries[from..=i], self.options.compression_level)
                        .map_err(LogError::Corrupt)?;
                    writer.chunk(&c)?;
                    from = i + 1;
                    bytes = 0;
                }
            }
        }
        let path = writer.finish(wal_before)?;
        let (seg, chunks) = segment::open(&path)?;
        {
            let mut st = self.write_state();
            attach(&mut st.index, chunks);
            for (labels, _) in &streams {
                if let Some(id) = st.index.find(labels)
                    && let Some(s) = st.index.get_mut(id)
                {
                    s.frozen = None;
                }
            }
            st.segments.push(seg);
            st.frozen = None;
        }
        disk::wal::remove_before(&self.wal_dir, wal_before).map_err(disk_err)?;
        Ok(())
    }

    fn cut(&self) -> Result<(), LogError> {
        let _cut = lock(&self.cut_lock);
        self.write_frozen()?;
        if self.freeze()? {
            self.write_frozen()?;
        }
        Ok(())
    }

    fn wake_cutter(&self) {
        lock(&self.signal).frozen = true;
        self.wake.notify_all();
    }

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
                tracing::warn!(dir = %self.dir.display(), "writing the log heads into a segment: {e}");
            }
        }
    }

    fn maintain(&self) -> Result<(), LogError> {
        let (big, old, pending) = {
            let st = self.read_state();
            (
                st.head_bytes >= self.options.max_head_bytes,
                st.first_append
                    .is_some_and(|t| t.elapsed() >= self.options.max_head_age),
                st.frozen.is_some(),
            )
        };
        if big || old || pending {
            self.cut()?;
        }
        self.apply_retention(now_nanos())?;
        Ok(())
    }

    fn apply_retention(&self, now: i64) -> Result<u64, LogError> {
        let _m = lock(&self.maintenance);
        let figures = self.figures();
        let oldest_kept = self
            .options
            .retention_age
            .map(|a| now.saturating_sub(nanos(a)));
        let mut total = figures.bytes_on_disk;
        let doomed: Vec<Arc<Segment>> = {
            let st = self.read_state();
            let mut doomed = Vec::new();
            for s in &st.segments {
                let too_old = oldest_kept.is_some_and(|t| s.max_time < t);
                let too_big = self.options.retention_bytes.is_some_and(|l| total > l);
                if too_old || too_big {
                    total = total.saturating_sub(s.size);
                    doomed.push(s.clone());
                }
            }
            doomed
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        {
            let mut st = self.write_state();
            let gone = |c: &Arc<ChunkMeta>| doomed.iter().any(|d| Arc::ptr_eq(d, &c.segment));
            let mut empty = Vec::new();
            let ids: Vec<u32> = st.index.iter().map(|(id, _)| id).collect();
            for id in ids {
                if let Some(s) = st.index.get_mut(id) {
                    s.chunks.retain(|c| !gone(c));
                    if s.is_empty() {
                        empty.push(id);
                    }
                }
            }
            for id in empty {
                st.index.remove(id);
            }
            st.segments
                .retain(|s| !doomed.iter().any(|d| Arc::ptr_eq(d, s)));
        }
        // Reads still holding a chunk of a deleted segment go on reading its open file.
        for s in &doomed {
            fs::remove_file(&s.path).map_err(io("removing", &s.path))?;
        }
        disk::dir::sync(&self.chunk_dir).map_err(disk_err)?;
        Ok(doomed.len() as u64)
    }

    fn close(&self) -> Result<(), LogError> {
        {
            let log = lock(&self.wal);
            if self.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            log.sync().map_err(disk_err)?;
        }
        self.cut()
    }

    /// The sources of stream `id` for `select`, if it still has the labels `labels`.
    fn sources(&self, id: u32, labels: &Labels, select: &Select, query: &Query) -> Vec<Ranged> {
        let st = self.read_state();
        let Some(s) = st.index.get(id).filter(|s| &s.labels == labels) else {
            return Vec::new();
        };
        let mut out: Vec<Ranged> = s
            .chunks
            .iter()
            .filter(|c| c.min_time < select.end && c.max_time >= select.start)
            .filter(|c| query.is_empty() || query.may_match(&c.bloom))
            .enumerate()
            .map(|(order, c)| Ranged {
                min: c.min_time,
                max: c.max_time,
                order,
                source: Source::Chunk(c.clone()),
            })
            .collect();
        let n = s.chunks.len();
        out.extend(s.frozen.as_ref().and_then(|f| mem_range(f, n)));
        let from = s.head.partition_point(|e| e.timestamp < select.start);
        let to = s.head.partition_point(|e| e.timestamp < select.end);
        if from < to {
            out.extend(mem_range(&Arc::new(s.head[from..to].to_vec()), n + 1));
        }
        out.retain(|r| r.min < select.end && r.max >= select.start);
        out
    }
}

/// Adds a segment's chunks to their streams.
fn attach(index: &mut Index, streams: Vec<segment::StreamChunks>) {
    for (labels, chunks) in streams {
        let id = index.get_or_create(&labels);
        if let Some(s) = index.get_mut(id) {
            for c in chunks {
                s.newest = s.newest.max(c.max_time);
                s.chunks.push(Arc::new(c));
            }
        }
    }
}

/// Adds accepted entries to their stream's head.
fn apply(state: &mut State, labels: &Labels, entries: impl IntoIterator<Item = Entry>) {
    let id = state.index.get_or_create(labels);
    let Some(s) = state.index.get_mut(id) else {
        return;
    };
    let mut added = (0, 0);
    for e in entries {
        let before = s.head.len();
        let bytes = s.insert(e);
        if s.head.len() > before {
            added.0 += 1;
            added.1 += bytes as u64;
        }
    }
    state.head_entries += added.0;
    state.head_bytes += added.1;
    if added.0 > 0 && state.first_append.is_none() {
        state.first_append = Some(Instant::now());
    }
}

/// Visits one stream's sources in time order; returns what the visitor said last.
fn visit_stream(
    read: &AtomicU64,
    labels: &Labels,
    mut sources: Vec<Ranged>,
    select: &Select,
    visit: &mut dyn FnMut(&Labels, &[Entry]) -> Visit,
) -> Result<Visit, LogError> {
    // Groups of sources whose time ranges overlap, in time order; within a group, sources
    // keep write order (chunks, then the frozen head, then the head), which `sort_by_key`
    // keeps for ties since it is stable.
    sources.sort_by_key(|r| r.min);
    let mut groups: Vec<Vec<Ranged>> = Vec::new();
    let mut group_max = i64::MIN;
    for r in sources {
        match groups.last_mut() {
            Some(g) if r.min <= group_max => {
                group_max = group_max.max(r.max);
                g.push(r);
            }
            _ => {
                group_max = r.max;
                groups.push(vec![r]);
            }
        }
    }
    if select.direction == Direction::Backward {
        groups.reverse();
    }
    for group in groups {
        let entries = merge(&group, read)?;
        let from = entries.partition_point(|e| e.timestamp < select.start);
        let to = entries.partition_point(|e| e.timestamp < select.end);
        let window = &entries[from..to.max(from)];
        let flow = match select.direction {
            Direction::Forward => batches(labels, window.chunks(BATCH), visit),
            Direction::Backward => {
                let reversed: Vec<Entry> = window.iter().rev().cloned().collect();
                batches(labels, reversed.chunks(BATCH), visit)
            }
        };
        if flow != Visit::Continue {
            return Ok(flow);
        }
    }
    Ok(Visit::Continue)
}

/// The entries of overlapping sources in timestamp order, ties in write order, an entry
/// repeated across sources (same time and line) once.
fn merge(group: &[Ranged], read: &AtomicU64) -> Result<Arc<Vec<Entry>>, LogError> {
    if let [one] = group {
        return one.load(read);
    }
    let mut group: Vec<&Ranged> = group.iter().collect();
    group.sort_by_key(|r| r.order);
    let mut all: Vec<Entry> = Vec::new();
    for r in group {
        all.extend(r.load(read)?.iter().cloned());
    }
    all.sort_by_key(|e| e.timestamp);
    let mut out: Vec<Entry> = Vec::with_capacity(all.len());
    let mut run_start = 0;
    for e in all {
        if out.last().is_none_or(|l| l.timestamp != e.timestamp) {
            run_start = out.len();
        }
        if !out[run_start..].iter().any(|k| k.line == e.line) {
            out.push(e);
        }
    }
    Ok(Arc::new(out))
}

fn batches<'a>(
    labels: &Labels,
    batches: impl Iterator<Item = &'a [Entry]>,
    visit: &mut dyn FnMut(&Labels, &[Entry]) -> Visit,
) -> Visit {
    for batch in batches {
        match visit(labels, batch) {
            Visit::Continue => {}
            other => return other,
        }
    }
    Visit::Continue
}

impl LogStore for Inner {
    fn push(&self, streams: &[Stream]) -> Result<Pushed, LogError> {
        Inner::push(self, streams)
    }

    fn select(
        &self,
        select: &Select,
        visit: &mut dyn FnMut(&Labels, &[Entry]) -> Visit,
    ) -> Result<(), LogError> {
        let query = Query::new(&select.contains);
        let streams: Vec<(u32, Labels)> = {
            let st = self.read_state();
            st.index
                .matching(&select.matchers)
                .into_iter()
                .filter_map(|id| st.index.get(id).map(|s| (id, s.labels.clone())))
                .collect()
        };
        for (id, labels) in streams {
            let sources = self.sources(id, &labels, select, &query);
            if sources.is_empty() {
                continue;
            }
            if visit_stream(&self.chunks_read, &labels, sources, select, visit)? == Visit::Stop {
                break;
            }
        }
        Ok(())
    }

    fn series(
        &self,
        matchers: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>, LogError> {
        let st = self.read_state();
        let mut ids: Vec<u32> = if matchers.is_empty() {
            st.index.matching(&[])
        } else {
            matchers.iter().flat_map(|m| st.index.matching(m)).collect()
        };
        ids.sort_unstable();
        ids.dedup();
        let mut out: Vec<Labels> = ids
            .into_iter()
            .filter_map(|id| st.index.get(id))
            .filter(|s| s.may_have(start, end))
            .map(|s| s.labels.clone())
            .collect();
        out.sort();
        Ok(out)
    }

    fn stats(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<StreamStats>, LogError> {
        let count = |e: &[Entry]| {
            let from = e.partition_point(|x| x.timestamp < start);
            let to = e.partition_point(|x| x.timestamp < end).max(from);
            let bytes: u64 = e[from..to].iter().map(|x| x.line.len() as u64).sum();
            ((to - from) as u64, bytes)
        };
        // Chunks wholly inside the window count from their meta; chunks across an edge are
        // decompressed after the lock is released, and counted exactly.
        let mut partial: Vec<(usize, Arc<ChunkMeta>)> = Vec::new();
        let mut out: Vec<StreamStats> = {
            let st = self.read_state();
            let mut out = Vec::new();
            for id in st.index.matching(matchers) {
                let Some(s) = st.index.get(id) else { continue };
                let mut stat = StreamStats {
                    labels: s.labels.clone(),
                    entries: 0,
                    bytes: 0,
                    chunks: 0,
                };
                for c in &s.chunks {
                    if c.min_time >= end || c.max_time < start {
                        continue;
                    }
                    stat.chunks += 1;
                    if c.min_time >= start && c.max_time < end {
                        stat.entries += u64::from(c.entries);
                        stat.bytes += c.bytes;
                    } else {
                        partial.push((out.len(), c.clone()));
                    }
                }
                for mem in [Some(&s.head), s.frozen.as_deref()].into_iter().flatten() {
                    let (n, b) = count(mem);
                    stat.entries += n;
                    stat.bytes += b;
                }
                out.push(stat);
            }
            out
        };
        for (i, c) in partial {
            self.chunks_read.fetch_add(1, Ordering::Relaxed);
            let (n, b) = count(&c.read()?);
            out[i].entries += n;
            out[i].bytes += b;
        }
        out.retain(|s| s.entries > 0);
        Ok(out)
    }
}

impl LogDb {
    /// Opens (creating if needed) the store in `dir`, which no other process may have open,
    /// and starts the thread that writes full heads into segments.
    ///
    /// A damaged WAL does not stop the open: everything before the damage is recovered,
    /// the rest is cut off, a warning names the file and offset, and
    /// [`LogDb::wal_damage`] says where. A damaged segment index does stop it, with an
    /// error naming the file and byte.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self, LogError> {
        let inner = Arc::new(Inner::open(dir.as_ref(), options)?);
        let for_thread = inner.clone();
        let cutter = std::thread::Builder::new()
            .name("logdb-cut".into())
            .spawn(move || for_thread.run_cutter())
            .map_err(io("starting a thread for", dir.as_ref()))?;
        Ok(Self {
            inner,
            cutter: Some(cutter),
        })
    }

    /// Where the WAL was found damaged at open, if it was.
    pub fn wal_damage(&self) -> Option<&Damage> {
        self.inner.damage.as_ref()
    }

    /// The damaged segment files moved into `quarantine/` at open, with why.
    pub fn quarantined(&self) -> &[Quarantined] {
        &self.inner.quarantined
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What the store holds, for its self-metrics.
    pub fn figures(&self) -> LogDbFigures {
        self.inner.figures()
    }

    /// Cuts every stream's head into chunks now (after writing a cut frozen earlier, if
    /// the background write has not).
    pub fn cut(&self) -> Result<(), LogError> {
        self.inner.cut()
    }

    /// Runs the periodic work: cuts the heads if they are due ([`Options::max_head_bytes`],
    /// [`Options::max_head_age`]) and applies retention. The server calls it every minute
    /// or so, on a thread that may block.
    pub fn maintain(&self) -> Result<(), LogError> {
        self.inner.maintain()
    }

    /// Deletes the segments that retention by age (relative to `now`, Unix nanoseconds) or
    /// by size no longer keeps, oldest first, and returns how many. Heads are never
    /// deleted; a stream left with nothing is forgotten.
    pub fn apply_retention(&self, now: i64) -> Result<u64, LogError> {
        self.inner.apply_retention(now)
    }

    /// Cuts the heads into chunks and syncs the WAL; pushes after it fail with
    /// [`LogError::Unavailable`]. Dropping the store does the same, logging what fails.
    pub fn close(&self) -> Result<(), LogError> {
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

impl Drop for LogDb {
    fn drop(&mut self) {
        self.stop_cutter();
        if let Err(e) = self.inner.close() {
            tracing::warn!(dir = %self.inner.dir.display(), "closing the log store: {e}");
        }
    }
}

impl LogStore for LogDb {
    fn push(&self, streams: &[Stream]) -> Result<Pushed, LogError> {
        self.inner.push(streams)
    }

    fn select(
        &self,
        select: &Select,
        visit: &mut dyn FnMut(&Labels, &[Entry]) -> Visit,
    ) -> Result<(), LogError> {
        self.inner.select(select, visit)
    }

    fn series(
        &self,
        matchers: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>, LogError> {
        self.inner.series(matchers, start, end)
    }

    fn stats(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<StreamStats>, LogError> {
        self.inner.stats(matchers, start, end)
    }
}
