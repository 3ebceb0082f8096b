//! The database: a directory of blocks plus the head and its WAL, behind the storage
//! contract.
//!
//! ```text
//! <data>/
//!     <block id>/...   persisted blocks (see `block`)
//!     wal/             the head's write-ahead log (see `wal`)
//!     lock             flock'ed by the process that has the database open
//! ```
//!
//! Opening reads every block's meta and index, then replays the WAL into a new head that
//! accepts samples newer than the newest block. [`Tsdb::cut`] persists the head's data
//! older than one and a half block ranges into a block, as Prometheus does, and
//! [`Tsdb::flush`] persists all of it (at shutdown, or to import). A querier reads the
//! blocks overlapping its range and a snapshot of the head, merging each series' chunks in
//! time order.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use model::{Labels, Matcher, Sample, Timestamp};
use storage::{
    Appendable, Appender, Querier, Queryable, SampleIterator, SelectHints, Series, SeriesSet,
    StorageError,
};

use crate::block::{self, Block, BlockMeta, ChunkData, ChunkMeta, Compaction};
use crate::chunk;
use crate::head::{Head, HeadOptions, HeadSnapshot, SealedChunk};
use crate::wal::{self, Damage, SyncPolicy, Wal, io_err};
use disk::dir::Quarantined;

/// Two hours, Prometheus's block range.
pub const DEFAULT_BLOCK_RANGE: i64 = 2 * 3600 * 1000;

/// How a database behaves.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The time range of a block cut from the head, in milliseconds.
    pub block_range: i64,
    /// The most series the head holds; appends creating more fail.
    pub max_series: Option<usize>,
    /// When commits reach stable storage.
    pub sync: SyncPolicy,
    /// Blocks whose newest sample is older than this many milliseconds before the newest
    /// sample of the database are deleted by [`Tsdb::apply_retention`].
    pub retention_time: Option<i64>,
    /// The oldest blocks are deleted by [`Tsdb::apply_retention`] while blocks and WAL
    /// together take more bytes than this.
    pub retention_bytes: Option<u64>,
    /// The most exemplars kept, of all series together (Prometheus's
    /// `storage.exemplars.max_exemplars`); 0 keeps none.
    pub max_exemplars: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            block_range: DEFAULT_BLOCK_RANGE,
            max_series: None,
            sync: SyncPolicy::default(),
            retention_time: None,
            retention_bytes: None,
            max_exemplars: storage::exemplar::DEFAULT_MAX_EXEMPLARS,
        }
    }
}

/// How many block ranges a compacted block spans at each level: 3, 9 and 27 (6 h, 18 h and
/// 54 h with the default 2 h range), as Prometheus's compaction levels do.
const COMPACTION_FACTORS: [i64; 3] = [3, 9, 27];

/// A time-series database in a directory.
#[derive(Debug)]
pub struct Tsdb {
    dir: PathBuf,
    /// Held open for its exclusive `flock`: one process per directory. The kernel releases
    /// it when the process ends, however it ends.
    _lock: fs::File,
    head: Head,
    blocks: RwLock<Vec<Arc<Block>>>,
    options: Options,
    damage: Option<Damage>,
    quarantined: Vec<Quarantined>,
}

/// Opens the blocks in `dir`; a damaged one is moved into `quarantine/` and listed.
fn read_blocks(dir: &Path) -> Result<(Vec<Arc<Block>>, Vec<Quarantined>), StorageError> {
    let paths = disk::dir::block_dirs(dir).map_err(wal::disk_err)?;
    let (blocks, quarantined) = disk::dir::open_or_quarantine(
        dir,
        &paths,
        |path| Block::open(path).map(Arc::new),
        is_damage,
        wal::disk_err,
    )?;
    let mut live = disk::dir::drop_replaced(blocks).map_err(wal::disk_err)?;
    live.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok((live, quarantined))
}

/// Whether opening a block failed on its data (corrupt, cut short or missing a file),
/// which moving it aside cures, rather than on the file system.
fn is_damage(e: &StorageError) -> bool {
    match e {
        StorageError::Corrupt { .. } => true,
        StorageError::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// Takes the directory's lock file, failing at once if another process (or another open in
/// this one) holds it.
fn lock(dir: &Path) -> Result<fs::File, StorageError> {
    disk::dir::lock(dir).map_err(wal::disk_err)
}

impl Tsdb {
    /// Opens (creating if needed) the database in `dir`, which no other process may have
    /// open.
    ///
    /// A damaged WAL does not stop the open: everything before the damage is recovered, the
    /// rest is cut off (kept in `quarantine/`), and [`Tsdb::wal_damage`] says where. A
    /// damaged block does not stop it either: it is moved into `quarantine/`, and
    /// [`Tsdb::quarantined`] names it with the error (file and offset).
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self, StorageError> {
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let lock = lock(&dir)?;
        let (blocks, quarantined) = read_blocks(&dir)?;
        let min_valid = blocks
            .iter()
            .map(|b| b.meta().max_time.saturating_add(1))
            .max()
            .unwrap_or(Timestamp::MIN);
        let wal_dir = dir.join("wal");
        // Replay into a head whose WAL is not open yet: records are read from the existing
        // segments, and writing starts in a fresh segment after them.
        let mut records = Vec::new();
        let damage = wal::replay(&wal_dir, |r| records.push(r))?;
        let head = Head::new(
            Wal::open(&wal_dir, options.sync)?,
            HeadOptions {
                block_range: options.block_range,
                max_series: options.max_series,
                max_exemplars: options.max_exemplars,
            },
            min_valid,
        );
        for r in records {
            head.replay(r);
        }
        Ok(Self {
            dir,
            _lock: lock,
            head,
            blocks: RwLock::new(blocks),
            options,
            damage,
            quarantined,
        })
    }

    /// Where the WAL was found damaged at open, if it was.
    pub fn wal_damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// The damaged blocks moved into `quarantine/` at open, with why.
    pub fn quarantined(&self) -> &[Quarantined] {
        &self.quarantined
    }

    /// The head, for its counters.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The open blocks, oldest first.
    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The oldest timestamp held: the oldest block's start, or the head's oldest sample.
    pub fn start_time(&self) -> Option<Timestamp> {
        match self.blocks().first() {
            Some(block) => Some(block.meta().min_time),
            None => self.head.time_range().map(|(lo, _)| lo),
        }
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Persists the head's data older than `t` into a block.
    ///
    /// The head keeps the data until the block is written: a write that fails (a full
    /// disk) loses nothing, and the next cut tries again. (It used to be taken out of the
    /// head first, so a failed write hid it from queries, and the next checkpoint deleted
    /// it from the WAL.)
    fn persist_before(&self, t: Timestamp) -> Result<Option<BlockMeta>, StorageError> {
        let series = self.head.seal_before(t);
        if series.is_empty() {
            return Ok(None);
        }
        let meta = block::write(
            &self.dir,
            series.into_iter().map(|(labels, chunks)| {
                let chunks = chunks
                    .into_iter()
                    .map(|c| ChunkData {
                        mint: c.mint,
                        maxt: c.maxt,
                        bytes: c.bytes,
                    })
                    .collect();
                (labels, chunks)
            }),
            Compaction {
                level: 1,
                sources: Vec::new(),
            },
        )?;
        let block = Arc::new(Block::open(&self.dir.join(&meta.id))?);
        self.head.truncate_before(t);
        {
            let mut blocks = self.blocks.write().unwrap_or_else(|e| e.into_inner());
            blocks.push(block);
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        self.head.checkpoint()?;
        Ok(Some(meta))
    }

    /// Persists every complete block range of the head that is older than half a range
    /// before the newest sample, keeping recent data in memory for late scrapes.
    pub fn cut(&self) -> Result<Vec<BlockMeta>, StorageError> {
        let range = self.options.block_range;
        let mut cut = Vec::new();
        while let Some((lo, hi)) = self.head.time_range() {
            if hi.saturating_sub(lo) < range + range / 2 {
                break;
            }
            let boundary = crate::head::next_boundary(lo, range);
            match self.persist_before(boundary)? {
                Some(meta) => cut.push(meta),
                None => break,
            }
        }
        Ok(cut)
    }

    /// Persists everything in the head into a block; later samples must be newer.
    pub fn flush(&self) -> Result<Option<BlockMeta>, StorageError> {
        match self.head.time_range() {
            Some((_, hi)) => self.persist_before(hi.saturating_add(1)),
            None => Ok(None),
        }
    }
}

impl Tsdb {
    /// Merges the blocks of each closed, aligned window of 3, 9 or 27 block ranges into one
    /// block, smallest windows first, and returns the blocks written.
    ///
    /// A window is closed when everything before its end is persisted (the head accepts
    /// only later samples), so that a window still receiving cuts is not merged early. The merged block lists every block it
    /// replaces, directly or through earlier merges, as its sources: if the process dies
    /// after writing it but before deleting them, the next open deletes them.
    pub fn compact(&self) -> Result<Vec<BlockMeta>, StorageError> {
        let mut written = Vec::new();
        for factor in COMPACTION_FACTORS {
            let window = self.options.block_range.saturating_mul(factor);
            loop {
                let blocks = self.blocks();
                // Everything before the head's oldest accepted timestamp is in blocks.
                let persisted_until = self.head.min_valid();
                let group = blocks
                    .iter()
                    .map(|b| b.meta().min_time.div_euclid(window))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|w| {
                        let members: Vec<Arc<Block>> = blocks
                            .iter()
                            .filter(|b| {
                                b.meta().min_time.div_euclid(window) == w
                                    && b.meta().max_time.div_euclid(window) == w
                            })
                            .cloned()
                            .collect();
                        (w, members)
                    })
                    .find(|(w, members)| {
                        members.len() >= 2 && (w + 1).saturating_mul(window) <= persisted_until
                    });
                let Some((_, members)) = group else { break };
                written.push(self.merge(&members)?);
            }
        }
        Ok(written)
    }

    /// Writes one block holding everything in `sources`, swaps it in and deletes them.
    fn merge(&self, sources: &[Arc<Block>]) -> Result<BlockMeta, StorageError> {
        let mut series: BTreeMap<Labels, Vec<ChunkData>> = BTreeMap::new();
        for b in sources {
            for (labels, chunks) in b.all_series() {
                let entry = series.entry(labels.clone()).or_default();
                for c in chunks {
                    entry.push(ChunkData {
                        mint: c.mint,
                        maxt: c.maxt,
                        bytes: b.read_chunk(c)?.into(),
                    });
                }
            }
        }
        for chunks in series.values_mut() {
            chunks.sort_by_key(|c| c.mint);
        }
        let (level, ids) = disk::dir::merged(sources);
        let meta = block::write(
            &self.dir,
            series,
            Compaction {
                level,
                sources: ids,
            },
        )?;
        let merged = Arc::new(Block::open(&self.dir.join(&meta.id))?);
        {
            let mut blocks = self.blocks.write().unwrap_or_else(|e| e.into_inner());
            blocks.retain(|b| !sources.iter().any(|s| Arc::ptr_eq(s, b)));
            blocks.push(merged);
            blocks.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        }
        // Queriers still holding a source keep reading it: its index is in memory and its
        // chunks file stays readable through the open handle after the directory is gone.
        for b in sources {
            fs::remove_dir_all(b.dir()).map_err(io_err("removing", b.dir()))?;
        }
        Ok(meta)
    }

    /// Deletes the blocks that retention by time or by size no longer keeps, oldest first,
    /// and returns their metas. The head is never deleted.
    pub fn apply_retention(&self) -> Result<Vec<BlockMeta>, StorageError> {
        let blocks = self.blocks();
        let newest = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .chain(self.head.time_range().map(|(_, hi)| hi))
            .max();
        let wal_bytes: u64 = wal::segments(&self.dir.join("wal"))?
            .iter()
            .map(|(_, p)| fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
        let mut total = wal_bytes + blocks.iter().map(|b| b.size()).sum::<u64>();
        let mut doomed = Vec::new();
        for b in &blocks {
            let too_old = match (self.options.retention_time, newest) {
                (Some(keep), Some(newest)) => b.meta().max_time < newest.saturating_sub(keep),
                _ => false,
            };
            let too_big = self
                .options
                .retention_bytes
                .is_some_and(|limit| total > limit);
            if !(too_old || too_big) {
                break;
            }
            total -= b.size();
            doomed.push(b.clone());
        }
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        self.blocks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|b| !doomed.iter().any(|d| Arc::ptr_eq(d, b)));
        for b in &doomed {
            fs::remove_dir_all(b.dir()).map_err(io_err("removing", b.dir()))?;
        }
        Ok(doomed.iter().map(|b| b.meta().clone()).collect())
    }

    /// Runs the periodic work: cut the head into blocks, compact, apply retention.
    pub fn maintain(&self) -> Result<(), StorageError> {
        self.cut()?;
        self.compact()?;
        self.apply_retention()?;
        Ok(())
    }
}

impl Appendable for Tsdb {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(self.head.appender())
    }
}

impl Queryable for Tsdb {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        // The head snapshot is taken first: a block cut after it holds data the snapshot
        // still has, and the merge drops the duplicates; the other order could miss data.
        let head = self.head.snapshot();
        let blocks = self
            .blocks()
            .into_iter()
            .filter(|b| b.meta().max_time >= mint && b.meta().min_time <= maxt)
            .collect();
        Ok(Box::new(DbQuerier {
            blocks,
            head,
            mint,
            maxt,
        }))
    }

    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[&[Matcher]],
    ) -> Result<Vec<storage::ExemplarSeries>, StorageError> {
        Ok(self.head.select_exemplars(start, end, matcher_sets))
    }
}

/// Reads blocks and a head snapshot as one.
struct DbQuerier {
    blocks: Vec<Arc<Block>>,
    head: HeadSnapshot,
    mint: Timestamp,
    maxt: Timestamp,
}

/// Where a chunk comes from.
enum Source {
    Block(Arc<Block>, ChunkMeta),
    Head(SealedChunk),
}

impl Source {
    fn mint(&self) -> Timestamp {
        match self {
            Source::Block(_, m) => m.mint,
            Source::Head(c) => c.mint,
        }
    }

    fn bytes(&self) -> Result<Arc<[u8]>, StorageError> {
        match self {
            Source::Block(b, m) => b.read_chunk(m).map(Into::into),
            Source::Head(c) => Ok(c.bytes.clone()),
        }
    }

    fn path(&self) -> String {
        match self {
            Source::Block(b, _) => b.dir().join("chunks").display().to_string(),
            Source::Head(_) => "<head>".into(),
        }
    }

    fn offset(&self) -> u64 {
        match self {
            Source::Block(_, m) => m.offset,
            Source::Head(_) => 0,
        }
    }
}

impl DbQuerier {
    /// The series matching `matchers` in the blocks and the head, by labels, each with its
    /// chunks by start time. Each source lists its series sorted by labels already, so they
    /// are merged run by run rather than sorted again.
    fn matching(&self, matchers: &[Matcher]) -> Vec<(Labels, Vec<Source>)> {
        let mut runs: Vec<Vec<(Labels, Vec<Source>)>> = Vec::with_capacity(self.blocks.len() + 1);
        for b in &self.blocks {
            runs.push(
                b.select(self.mint, self.maxt, matchers)
                    .into_iter()
                    .map(|(labels, chunks)| {
                        let sources = chunks.into_iter().map(|c| Source::Block(b.clone(), c));
                        (labels, sources.collect())
                    })
                    .collect(),
            );
        }
        runs.push(
            self.head
                .select(self.mint, self.maxt, matchers)
                .into_iter()
                .map(|(labels, chunks)| (labels, chunks.into_iter().map(Source::Head).collect()))
                .collect(),
        );
        let mut out = runs.into_iter().reduce(merge_runs).unwrap_or_default();
        if self.blocks.is_empty() {
            // The head's chunks of a series are in order already.
            return out;
        }
        for (_, sources) in &mut out {
            sources.sort_by_key(Source::mint);
        }
        out
    }

    /// Series with at least one sample in range, each with its first sample read.
    fn series(
        &self,
        matchers: &[Matcher],
    ) -> impl Iterator<Item = Result<(Labels, ChunksIter), StorageError>> + Send + '_ {
        let (mint, maxt) = (self.mint, self.maxt);
        self.matching(matchers)
            .into_iter()
            .filter_map(move |(labels, sources)| {
                let mut it = ChunksIter::new(sources, mint, maxt);
                match it.peek() {
                    Ok(Some(_)) => Some(Ok((labels, it))),
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                }
            })
    }
}

impl Querier for DbQuerier {
    fn select(
        &self,
        _hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError> {
        Ok(Box::new(self.series(matchers).map(|r| {
            r.map(|(labels, it)| Series {
                labels,
                samples: Box::new(it) as Box<dyn SampleIterator>,
            })
        })))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names = std::collections::BTreeSet::new();
        for s in self.series(matchers) {
            names.extend(s?.0.iter().map(|l| l.name.to_string()));
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut values = std::collections::BTreeSet::new();
        for s in self.series(matchers) {
            if let Some(v) = s?.0.get(name) {
                values.insert(v.to_owned());
            }
        }
        Ok(values.into_iter().collect())
    }
}

/// Two lists of series sorted by labels as one, a series in both with the sources of both.
fn merge_runs(
    a: Vec<(Labels, Vec<Source>)>,
    b: Vec<(Labels, Vec<Source>)>,
) -> Vec<(Labels, Vec<Source>)> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return out,
        };
        match order {
            std::cmp::Ordering::Less => out.extend(a.next()),
            std::cmp::Ordering::Greater => out.extend(b.next()),
            std::cmp::Ordering::Equal => {
                if let (Some((labels, mut sources)), Some((_, more))) = (a.next(), b.next()) {
                    sources.extend(more);
                    out.push((labels, sources));
                }
            }
        }
    }
}

/// The samples of a series' chunks in `[mint, maxt]`, in order, without duplicates where
/// chunks overlap.
struct ChunksIter {
    sources: std::vec::IntoIter<Source>,
    current: std::vec::IntoIter<Sample>,
    mint: Timestamp,
    maxt: Timestamp,
    last: Option<Timestamp>,
    peeked: Option<Sample>,
}

impl ChunksIter {
    fn new(sources: Vec<Source>, mint: Timestamp, maxt: Timestamp) -> Self {
        Self {
            sources: sources.into_iter(),
            current: Vec::new().into_iter(),
            mint,
            maxt,
            last: None,
            peeked: None,
        }
    }

    fn peek(&mut self) -> Result<Option<Sample>, StorageError> {
        if self.peeked.is_none() {
            self.peeked = self.advance()?;
        }
        Ok(self.peeked)
    }

    fn advance(&mut self) -> Result<Option<Sample>, StorageError> {
        loop {
            for s in self.current.by_ref() {
                if s.t < self.mint || self.last.is_some_and(|l| s.t <= l) {
                    continue;
                }
                if s.t > self.maxt {
                    break;
                }
                self.last = Some(s.t);
                return Ok(Some(s));
            }
            let Some(source) = self.sources.next() else {
                return Ok(None);
            };
            let bytes = source.bytes()?;
            let corrupt = |e: chunk::ChunkError| StorageError::Corrupt {
                path: source.path(),
                offset: source.offset(),
                message: e.to_string(),
            };
            // Only the samples in range are kept: an instant query reads a few minutes of
            // chunks that span up to hours.
            let (mint, maxt) = (self.mint, self.maxt);
            let samples: Vec<Sample> = chunk::iter(&bytes)
                .map_err(corrupt)?
                .filter(|s| s.as_ref().map_or(true, |s| s.t >= mint))
                .take_while(|s| s.as_ref().map_or(true, |s| s.t <= maxt))
                .collect::<Result<_, _>>()
                .map_err(corrupt)?;
            self.current = samples.into_iter();
        }
    }
}

impl SampleIterator for ChunksIter {
    fn next(&mut self) -> Result<Option<Sample>, StorageError> {
        match self.peeked.take() {
            Some(s) => Ok(Some(s)),
            None => self.advance(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in a temporary directory that is removed with it.
    pub(crate) struct TempTsdb {
        db: Tsdb,
        _dir: tempfile::TempDir,
    }

    impl TempTsdb {
        fn new(options: Options) -> Self {
            let dir = tempfile::tempdir().unwrap();
            Self {
                db: Tsdb::open(dir.path(), options).unwrap(),
                _dir: dir,
            }
        }
    }

    impl Appendable for TempTsdb {
        fn appender(&self) -> Box<dyn Appender + '_> {
            self.db.appender()
        }
    }

    impl Queryable for TempTsdb {
        fn querier(
            &self,
            mint: Timestamp,
            maxt: Timestamp,
        ) -> Result<Box<dyn Querier + '_>, StorageError> {
            self.db.querier(mint, maxt)
        }

        fn select_exemplars(
            &self,
            start: Timestamp,
            end: Timestamp,
            matcher_sets: &[&[Matcher]],
        ) -> Result<Vec<storage::ExemplarSeries>, StorageError> {
            self.db.select_exemplars(start, end, matcher_sets)
        }
    }

    impl storage::conformance::Subject for TempTsdb {
        fn persist(&self) {
            self.db.flush().unwrap();
            assert!(!self.db.blocks().is_empty(), "persist must write a block");
        }
    }

    fn up(i: i64) -> Labels {
        Labels::from_pairs([("__name__", "up"), ("i", &i.to_string())])
    }

    fn everything(db: &Tsdb) -> Vec<(Labels, Vec<Sample>)> {
        storage::conformance::select_all(db, Timestamp::MIN, Timestamp::MAX, &[])
    }

    fn trace(t: Timestamp, id: &str) -> storage::Exemplar {
        storage::Exemplar {
            labels: Labels::from_pairs([("trace_id", id)]),
            value: t as f64,
            t,
            has_timestamp: true,
        }
    }

    fn all_exemplars(db: &Tsdb) -> Vec<storage::conformance::FoundExemplars> {
        storage::conformance::exemplars_of(db, Timestamp::MIN, Timestamp::MAX, &[&[]])
    }

    #[test]
    fn exemplars_survive_a_restart_a_cut_and_a_checkpoint_in_ring_order() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options {
            block_range: 1000,
            max_exemplars: 3,
            ..Options::default()
        };
        let before = {
            let db = Tsdb::open(dir.path(), options).unwrap();
            for t in [100, 200, 300, 2900] {
                let mut app = db.appender();
                let series = up(t % 2);
                let r = app.append(None, &series, t, 1.0).unwrap();
                app.append_exemplar(Some(r), &series, trace(t, &format!("t{t}")))
                    .unwrap();
                app.commit().unwrap();
            }
            // Four exemplars in a ring of three: 100 is gone.
            let before = all_exemplars(&db);
            let times: Vec<Timestamp> = before
                .iter()
                .flat_map(|s| s.1.iter().map(|e| e.0))
                .collect();
            assert_eq!(times, [200, 300, 2900]);
            before
        };
        let db = Tsdb::open(dir.path(), options).unwrap();
        assert_eq!(all_exemplars(&db), before, "replayed from the WAL");
        // A cut checkpoints the WAL: the exemplars of series still in the head stay.
        assert!(!db.cut().unwrap().is_empty());
        assert_eq!(
            all_exemplars(&db),
            before,
            "the ring is not cut with the head"
        );
        drop(db);
        let db = Tsdb::open(dir.path(), options).unwrap();
        assert_eq!(all_exemplars(&db), before, "replayed from the checkpoint");
        // The ring goes on from where it was: the next exemplar overwrites the oldest.
        let mut app = db.appender();
        app.append_exemplar(None, &up(0), trace(3000, "t3000"))
            .unwrap();
        app.commit().unwrap();
        let times: Vec<Timestamp> = all_exemplars(&db)
            .iter()
            .flat_map(|s| s.1.iter().map(|e| e.0))
            .collect();
        assert_eq!(times, [300, 2900, 3000]);
        assert_eq!(db.head().exemplar_count(), (3, 3));
    }

    #[test]
    fn a_restart_replays_the_wal_and_keeps_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let before = {
            let db = Tsdb::open(dir.path(), Options::default()).unwrap();
            for round in 0..3 {
                let mut app = db.appender();
                for i in 0..10 {
                    app.append(None, &up(i), round * 1000, (i * round) as f64)
                        .unwrap();
                }
                app.commit().unwrap();
                if round == 1 {
                    db.flush().unwrap();
                }
            }
            let mut uncommitted = db.appender();
            uncommitted.append(None, &up(0), 9000, 1.0).unwrap();
            everything(&db)
            // Dropped here without a flush or a commit of the last appender: a crash.
        };
        assert_eq!(before.len(), 10);
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        assert_eq!(db.wal_damage(), None);
        assert_eq!(db.blocks().len(), 1);
        assert_eq!(everything(&db), before);
        let mut app = db.appender();
        assert!(
            app.append(None, &up(0), 500, 1.0).is_err(),
            "older than the block"
        );
        app.append(None, &up(0), 3000, 1.0).unwrap();
        app.commit().unwrap();
    }

    #[test]
    fn a_directory_opens_once_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        let err = Tsdb::open(dir.path(), Options::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("in use by another Skywatch process"), "{err}");
        drop(db);
        Tsdb::open(dir.path(), Options::default()).unwrap();
    }

    #[test]
    fn refusals_are_counted() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(
            dir.path(),
            Options {
                max_series: Some(1),
                ..Options::default()
            },
        )
        .unwrap();
        let mut app = db.appender();
        app.append(None, &up(0), 100, 1.0).unwrap();
        assert!(app.append(None, &up(0), 50, 1.0).is_err());
        assert!(app.append(None, &up(0), 100, 2.0).is_err());
        assert!(app.append(None, &up(1), 100, 1.0).is_err());
        app.commit().unwrap();
        db.flush().unwrap();
        let mut app = db.appender();
        assert!(app.append(None, &up(0), 90, 1.0).is_err());
        let stats = &db.head().stats;
        assert_eq!(
            [
                &stats.out_of_order,
                &stats.duplicates,
                &stats.series_limit,
                &stats.too_old
            ]
            .map(|c| c.load(Relaxed)),
            [1, 1, 1, 1]
        );
    }

    #[test]
    fn a_torn_wal_tail_loses_only_the_torn_commit() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Tsdb::open(dir.path(), Options::default()).unwrap();
            for t in 0..5 {
                let mut app = db.appender();
                app.append(None, &up(1), t, t as f64).unwrap();
                app.commit().unwrap();
            }
        }
        let (_, last) = wal::segments(&dir.path().join("wal"))
            .unwrap()
            .pop()
            .unwrap();
        let len = fs::metadata(&last).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&last)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        let damage = db.wal_damage().unwrap().to_string();
        assert!(damage.contains(&last.display().to_string()), "{damage}");
        let got = everything(&db);
        assert_eq!(
            got[0].1.iter().map(|s| s.t).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }

    /// Regression (chaos suite): a damaged block used to stop the open, so one flipped bit
    /// in one block took every other block and the WAL offline with it.
    #[test]
    fn a_damaged_block_is_quarantined_and_the_rest_opens() {
        for (file, damage) in [("chunks", "cut"), ("index", "flip"), ("meta.json", "cut")] {
            let dir = tempfile::tempdir().unwrap();
            let damaged = {
                let db = Tsdb::open(dir.path(), Options::default()).unwrap();
                let mut metas = Vec::new();
                for t in [0, 10 * HOUR] {
                    let mut app = db.appender();
                    app.append(None, &up(1), t, 1.0).unwrap();
                    app.commit().unwrap();
                    metas.push(db.flush().unwrap().unwrap());
                }
                let mut app = db.appender();
                app.append(None, &up(1), 20 * HOUR, 2.0).unwrap();
                app.commit().unwrap();
                dir.path().join(&metas[1].id)
            };
            let path = damaged.join(file);
            let mut bytes = fs::read(&path).unwrap();
            if damage == "cut" {
                bytes.truncate(bytes.len() - 2);
            } else {
                let at = bytes.len() - 3;
                bytes[at] ^= 0x40;
            }
            fs::write(&path, &bytes).unwrap();
            let db = Tsdb::open(dir.path(), Options::default()).unwrap();
            let q = db.quarantined();
            assert_eq!(q.len(), 1, "{file}");
            assert!(
                q[0].reason.contains(&path.display().to_string()),
                "{file}: {}",
                q[0]
            );
            assert!(!damaged.exists(), "{file}");
            assert!(q[0].to.join(file).is_file(), "{file}");
            let got = everything(&db);
            assert_eq!(
                got[0].1.iter().map(|s| s.t).collect::<Vec<_>>(),
                [0, 20 * HOUR],
                "{file}: the other block and the WAL are kept"
            );
        }
    }

    const HOUR: i64 = 3_600_000;

    /// A database with one level-1 block per two hours over `hours`, plus head data after.
    fn with_blocks(dir: &Path, hours: i64, options: Options) -> Tsdb {
        let db = Tsdb::open(dir, options).unwrap();
        for t in (0..=hours * HOUR).step_by(15 * 60_000) {
            let mut app = db.appender();
            for i in 0..3 {
                app.append(None, &up(i), t, (t / 1000 + i) as f64).unwrap();
            }
            app.commit().unwrap();
            db.cut().unwrap();
        }
        db
    }

    #[test]
    fn compaction_merges_closed_windows_and_keeps_every_sample() {
        let dir = tempfile::tempdir().unwrap();
        let db = with_blocks(dir.path(), 14, Options::default());
        let before = everything(&db);
        let levels = |db: &Tsdb| {
            db.blocks()
                .iter()
                .map(|b| b.meta().compaction.level)
                .collect::<Vec<_>>()
        };
        assert!(
            levels(&db).iter().all(|l| *l == 1) && db.blocks().len() >= 5,
            "{:?}",
            levels(&db)
        );
        let merged = db.compact().unwrap();
        assert_eq!(
            merged.len(),
            2,
            "two closed 6 h windows: [0, 6h) and [6h, 12h)"
        );
        assert_eq!(merged[0].compaction.sources.len(), 3);
        assert_eq!(
            (merged[0].min_time, merged[0].max_time),
            (0, 6 * HOUR - 15 * 60_000)
        );
        assert_eq!(everything(&db), before);
        // Simulate a crash between writing the merge and deleting its sources: put a source
        // back. The next open must drop it, not double its samples.
        let source = merged[0].compaction.sources[0].clone();
        let survivor = tempfile::tempdir().unwrap();
        let merged_dir = dir.path().join(&merged[0].id);
        drop(db);
        let db = with_blocks(survivor.path(), 4, Options::default());
        let stray = db.blocks()[0].dir().to_owned();
        drop(db);
        fs::rename(&stray, dir.path().join(&source)).unwrap();
        let meta_path = dir.path().join(&source).join("meta.json");
        let mut meta: BlockMeta = serde_json::from_slice(&fs::read(&meta_path).unwrap()).unwrap();
        meta.id = source.clone();
        fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
        assert!(merged_dir.exists());
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        assert!(
            !dir.path().join(&source).exists(),
            "a replaced source is deleted at open"
        );
        assert_eq!(everything(&db), before);
    }

    #[test]
    fn retention_deletes_the_oldest_blocks_by_time_and_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let db = with_blocks(
            dir.path(),
            10,
            Options {
                retention_time: Some(5 * HOUR),
                ..Options::default()
            },
        );
        let deleted = db.apply_retention().unwrap();
        assert!(!deleted.is_empty());
        assert!(deleted.iter().all(|m| m.max_time < 5 * HOUR));
        let oldest = everything(&db)[0].1[0].t;
        assert!(oldest >= 4 * HOUR, "{oldest}");
        drop(db);

        let dir = tempfile::tempdir().unwrap();
        let db = with_blocks(dir.path(), 10, Options::default());
        let sizes: Vec<u64> = db.blocks().iter().map(|b| b.size()).collect();
        let wal_bytes: u64 = wal::segments(&dir.path().join("wal"))
            .unwrap()
            .iter()
            .map(|(_, p)| fs::metadata(p).unwrap().len())
            .sum();
        // Room for the WAL and all blocks but the two oldest.
        let limit = wal_bytes + sizes.iter().skip(2).sum::<u64>();
        drop(db);
        let db = Tsdb::open(
            dir.path(),
            Options {
                retention_bytes: Some(limit),
                ..Options::default()
            },
        )
        .unwrap();
        let deleted = db.apply_retention().unwrap();
        assert_eq!(deleted.len(), 2);
        assert_eq!(deleted[0].min_time, 0, "the oldest goes first");
        assert_eq!(everything(&db)[0].1[0].t, 4 * HOUR);
    }

    storage::conformance_tests!(TempTsdb::new(Options::default()), |limit| TempTsdb::new(
        Options {
            max_series: Some(limit),
            ..Options::default()
        }
    ));
}
