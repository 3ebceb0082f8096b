//! The head: the newest samples, in memory as compressed chunks, logged to the WAL.
//!
//! Each series keeps sealed chunks and one open chunk that takes new samples. Chunks never
//! cross a block boundary (a multiple of the block range), so that cutting a block takes
//! whole chunks. Series data sits behind an `Arc` and is copied on write: a querier clones
//! the list of series when it is created and keeps reading that state while commits go on,
//! so a query never sees half a commit. The copy is cheap: sealed chunks are shared and the
//! open chunk is a few hundred bytes at most.
//!
//! Commits are serialised by the WAL lock: a commit writes its records, then applies its
//! samples, before the next commit writes. Replaying the WAL applies the same records in
//! the same order under the same rules, so recovery rebuilds exactly the committed state.
//!
//! Exemplars are kept apart from the series, in one `storage::ExemplarRing` for the whole
//! head (the newest `max_exemplars` of all series), logged after the samples of the same
//! commit and added to the ring under the same lock, so replay refills the ring in the
//! order it was filled. Cutting blocks does not touch the ring; a checkpoint keeps the
//! exemplars of the series still in the head, as Prometheus's does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use model::{Labels, Matcher, Sample, Timestamp};
use storage::exemplar::check_exemplar;
use storage::{
    AppendError, Appender, Exemplar, ExemplarError, ExemplarRing, ExemplarSeries,
    SampleOrder as Order, SeriesRef, StorageError, validate_labels,
};

use crate::chunk::{self, ChunkEncoder, MAX_SAMPLES, ValueHint};
use crate::postings::Postings;
use crate::table::Table;
use crate::wal::{self, Record, Wal};

/// Counters of what the head refused or dropped.
#[derive(Debug, Default)]
pub struct HeadStats {
    /// Samples older than their series' newest sample.
    pub out_of_order: AtomicU64,
    /// Samples with a new value at an existing timestamp.
    pub duplicates: AtomicU64,
    /// Samples older than the head accepts.
    pub too_old: AtomicU64,
    /// Series refused by the series limit.
    pub series_limit: AtomicU64,
    /// Samples dropped at commit because a concurrent commit wrote past them first.
    pub dropped_at_commit: AtomicU64,
    /// Exemplars refused as out of order, at append or at commit
    /// (`prometheus_tsdb_exemplar_out_of_order_exemplars_total`).
    pub exemplars_out_of_order: AtomicU64,
    /// Exemplars added to the ring (`prometheus_tsdb_exemplar_exemplars_appended_total`).
    pub exemplars_appended: AtomicU64,
}

/// A chunk that takes no more samples.
#[derive(Debug, Clone)]
pub struct SealedChunk {
    /// Its first timestamp.
    pub mint: Timestamp,
    /// Its last timestamp.
    pub maxt: Timestamp,
    /// The encoded chunk.
    pub bytes: Arc<[u8]>,
}

/// The samples of one series in the head.
#[derive(Debug, Clone)]
pub struct SeriesData {
    /// Sealed chunks, oldest first.
    pub sealed: Vec<SealedChunk>,
    open: Option<ChunkEncoder>,
    last: Option<Sample>,
    hint: ValueHint,
}

impl Default for SeriesData {
    fn default() -> Self {
        Self {
            sealed: Vec::new(),
            open: None,
            last: None,
            hint: ValueHint::Integer(0),
        }
    }
}

/// The first block boundary after `t`.
pub fn next_boundary(t: Timestamp, range: i64) -> Timestamp {
    t.div_euclid(range).saturating_add(1).saturating_mul(range)
}

impl SeriesData {
    fn push(&mut self, s: Sample, block_range: i64) {
        if let Some(open) = &mut self.open {
            let boundary = next_boundary(open.min_time(), block_range);
            if s.t < boundary && open.append(s) {
                self.last = Some(s);
                return;
            }
            let cut_early = s.t < boundary && open.count() < MAX_SAMPLES;
            self.hint = open.next_hint(cut_early);
            self.seal();
        }
        self.open = Some(ChunkEncoder::new(s, self.hint));
        self.last = Some(s);
    }

    fn seal(&mut self) {
        if let Some(open) = self.open.take() {
            self.sealed.push(SealedChunk {
                mint: open.min_time(),
                maxt: open.max_time(),
                bytes: open.bytes().into(),
            });
        }
    }

    /// The number of chunks, the open one included.
    pub fn chunk_count(&self) -> usize {
        self.sealed.len() + usize::from(self.open.is_some())
    }

    /// The chunks overlapping `[mint, maxt]`, the open one copied.
    pub fn chunks(&self, mint: Timestamp, maxt: Timestamp) -> Vec<SealedChunk> {
        let mut out: Vec<SealedChunk> = self
            .sealed
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
            .cloned()
            .collect();
        if let Some(open) = &self.open
            && open.max_time() >= mint
            && open.min_time() <= maxt
        {
            out.push(SealedChunk {
                mint: open.min_time(),
                maxt: open.max_time(),
                bytes: open.bytes().into(),
            });
        }
        out
    }

    /// The oldest timestamp held, if any.
    pub fn min_time(&self) -> Option<Timestamp> {
        self.sealed
            .first()
            .map(|c| c.mint)
            .or_else(|| self.open.as_ref().map(ChunkEncoder::min_time))
    }

    /// The newest sample, if any.
    pub fn last(&self) -> Option<Sample> {
        self.last
    }

    /// Seals the open chunk and removes the chunks that end before `t`, returning them.
    fn split_before(&mut self, t: Timestamp) -> Vec<SealedChunk> {
        if self.open.as_ref().is_some_and(|o| o.max_time() < t) {
            self.seal();
        }
        let keep_from = self.sealed.partition_point(|c| c.maxt < t);
        self.sealed.drain(..keep_from).collect()
    }
}

#[derive(Debug, Clone)]
struct HeadSeries {
    labels: Labels,
    data: Arc<SeriesData>,
    /// Whether the WAL has this series' record.
    logged: bool,
}

#[derive(Debug, Clone, Default)]
struct HeadState {
    /// Series by id - 1; `None` once garbage-collected. Ids are never reused.
    series: Table<HeadSeries>,
    by_labels: HashMap<Labels, u64>,
    postings: Arc<Postings>,
    /// The series' order by labels, for queries; replaced whenever series come or go.
    order: LabelOrder,
    live: usize,
    /// The oldest timestamp the head accepts: after the newest persisted block.
    min_valid: Timestamp,
}

/// Options of the head.
#[derive(Debug, Clone, Copy)]
pub struct HeadOptions {
    /// The block range: chunks never cross a multiple of it.
    pub block_range: i64,
    /// The most series the head holds; creating more fails.
    pub max_series: Option<usize>,
    /// The most exemplars the head keeps, of all series together; 0 keeps none.
    pub max_exemplars: usize,
}

/// The in-memory, WAL-backed part of the database.
#[derive(Debug)]
pub struct Head {
    state: RwLock<HeadState>,
    wal: Mutex<Wal>,
    exemplars: RwLock<ExemplarRing>,
    options: HeadOptions,
    /// Refusals and drops, counted.
    pub stats: HeadStats,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HeadState {
    /// Adds a series and returns its id.
    fn insert_series(&mut self, labels: &Labels) -> u64 {
        self.series.push(Some(HeadSeries {
            labels: labels.clone(),
            data: Arc::default(),
            logged: false,
        }));
        let id = self.series.len() as u64;
        self.by_labels.insert(labels.clone(), id);
        Arc::make_mut(&mut self.postings).add(id, labels);
        self.order = LabelOrder::default();
        self.live += 1;
        id
    }
}

impl Head {
    /// Returns a head that logs to `wal` and accepts samples from `min_valid` on.
    pub fn new(wal: Wal, options: HeadOptions, min_valid: Timestamp) -> Self {
        Self {
            state: RwLock::new(HeadState {
                min_valid,
                ..HeadState::default()
            }),
            wal: Mutex::new(wal),
            exemplars: RwLock::new(ExemplarRing::new(options.max_exemplars)),
            options,
            stats: HeadStats::default(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HeadState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HeadState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn ring(&self) -> RwLockReadGuard<'_, ExemplarRing> {
        self.exemplars.read().unwrap_or_else(|e| e.into_inner())
    }

    fn ring_mut(&self) -> RwLockWriteGuard<'_, ExemplarRing> {
        self.exemplars.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The exemplars in `[start, end]` of the series matching one of `matcher_sets`, as
    /// [`storage::Queryable::select_exemplars`] answers.
    pub fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[&[Matcher]],
    ) -> Vec<ExemplarSeries> {
        self.ring().select(start, end, matcher_sets)
    }

    /// How many exemplars the head keeps, and the most it keeps.
    pub fn exemplar_count(&self) -> (usize, usize) {
        let ring = self.ring();
        (ring.len(), ring.capacity())
    }

    /// Applies one replayed WAL record. Samples that are out of order, duplicates or too
    /// old are dropped, as they were when first committed.
    pub fn replay(&self, record: Record) {
        let mut state = self.write();
        match record {
            Record::Series(series) => {
                for (id, labels) in series {
                    let slot = id as usize;
                    if slot == 0 || state.by_labels.contains_key(&labels) {
                        continue;
                    }
                    if state.series.len() < slot {
                        state.series.resize(slot);
                    }
                    if state.series[slot - 1].is_none() {
                        Arc::make_mut(&mut state.postings).add(id, &labels);
                        state.by_labels.insert(labels.clone(), id);
                        state.series[slot - 1] = Some(HeadSeries {
                            labels,
                            data: Arc::default(),
                            logged: true,
                        });
                        state.order = LabelOrder::default();
                        state.live += 1;
                    }
                }
            }
            Record::Samples(samples) => {
                let range = self.options.block_range;
                let min_valid = state.min_valid;
                for (id, s) in samples {
                    if s.t < min_valid {
                        continue;
                    }
                    if let Some(Some(series)) = state.series.get_mut(id as usize - 1) {
                        let data = Arc::make_mut(&mut series.data);
                        if Order::of(data.last, s) == Order::Append {
                            data.push(s, range);
                        }
                    }
                }
            }
            Record::Exemplars(exemplars) => {
                let mut ring = self.ring_mut();
                for (id, e) in exemplars {
                    if let Some(Some(series)) = state.series.get(id as usize - 1) {
                        // Refused now as when first committed: nothing to count again.
                        let _ = ring.add(&series.labels, e);
                    }
                }
            }
        }
    }

    /// Opens an append transaction.
    pub fn appender(&self) -> HeadAppender<'_> {
        HeadAppender {
            head: self,
            pending: Vec::new(),
            index: HashMap::new(),
            exemplars: Vec::new(),
        }
    }

    /// A snapshot for queries.
    pub fn snapshot(&self) -> HeadSnapshot {
        let state = self.read();
        HeadSnapshot {
            series: state.series.clone(),
            postings: state.postings.clone(),
            order: state.order.clone(),
        }
    }

    /// The oldest timestamp the head accepts.
    pub fn min_valid(&self) -> Timestamp {
        self.read().min_valid
    }

    /// The number of series in the head.
    pub fn series_count(&self) -> usize {
        self.read().live
    }

    /// The number of chunks in the head.
    pub fn chunk_count(&self) -> usize {
        let state = self.read();
        state
            .series
            .iter()
            .flatten()
            .map(|s| s.data.chunk_count())
            .sum()
    }

    /// The oldest and newest timestamps in the head, if it holds samples.
    pub fn time_range(&self) -> Option<(Timestamp, Timestamp)> {
        let state = self.read();
        let mut range: Option<(Timestamp, Timestamp)> = None;
        for s in state.series.iter().flatten() {
            if let (Some(lo), Some(hi)) = (s.data.min_time(), s.data.last().map(|s| s.t)) {
                range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
            }
        }
        range
    }

    /// Removes every chunk ending before `t` from the head and returns them per series
    /// (sorted by labels), raising the head's `min_valid` to `t`; series left empty are
    /// dropped. The caller persists the chunks in a block, then calls [`Head::checkpoint`].
    pub fn truncate_before(&self, t: Timestamp) -> Vec<(Labels, Vec<SealedChunk>)> {
        // (`seal_before` then this: the chunks it returned, which are the ones removed.)
        // Holding the WAL lock keeps commits out while the head changes shape.
        let _wal = lock(&self.wal);
        let mut state = self.write();
        state.min_valid = state.min_valid.max(t);
        let mut out = Vec::new();
        let mut removed = Vec::new();
        for slot in state.series.iter_mut() {
            let Some(series) = slot else { continue };
            let chunks = Arc::make_mut(&mut series.data).split_before(t);
            if !chunks.is_empty() {
                out.push((series.labels.clone(), chunks));
            }
            if series.data.sealed.is_empty() && series.data.open.is_none() {
                removed.push(series.labels.clone());
                *slot = None;
            }
        }
        for labels in &removed {
            state.by_labels.remove(labels);
        }
        state.live -= removed.len();
        state.order = LabelOrder::default();
        if !removed.is_empty() {
            let live: std::collections::HashSet<u64> = state.by_labels.values().copied().collect();
            Arc::make_mut(&mut state.postings).retain(|id| live.contains(&id));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Stops accepting samples older than `t`, seals every open chunk that ends before it,
    /// and returns (copies of) the chunks before `t` by series, sorted by labels, leaving
    /// them in the head: what [`Head::truncate_before`] will remove once they are safely
    /// in a block. Nothing before `t` can change in between, as commits before `t` are
    /// refused from now on.
    pub fn seal_before(&self, t: Timestamp) -> Vec<(Labels, Vec<SealedChunk>)> {
        let _wal = lock(&self.wal);
        let mut state = self.write();
        state.min_valid = state.min_valid.max(t);
        let mut out = Vec::new();
        for slot in state.series.iter_mut() {
            let Some(series) = slot else { continue };
            if series.data.open.as_ref().is_some_and(|o| o.max_time() < t) {
                Arc::make_mut(&mut series.data).seal();
            }
            let before = series.data.sealed.partition_point(|c| c.maxt < t);
            if before > 0 {
                out.push((series.labels.clone(), series.data.sealed[..before].to_vec()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Rewrites the WAL as the head's current content in a new segment and deletes the
    /// older segments, after truncation moved their older samples into a block.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        let mut wal = lock(&self.wal);
        let state = self.read();
        let segment = wal.cut()?;
        let mut buf = Vec::new();
        let series: Vec<(u64, Labels)> = state
            .series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u64 + 1, s.labels.clone())))
            .collect();
        wal::encode(&Record::Series(series), &mut buf);
        for (i, s) in state.series.iter().enumerate() {
            let Some(s) = s else { continue };
            let mut samples = Vec::new();
            for c in s.data.chunks(Timestamp::MIN, Timestamp::MAX) {
                for sample in chunk::iter(&c.bytes).map_err(|e| corrupt_head(&e))? {
                    samples.push((i as u64 + 1, sample.map_err(|e| corrupt_head(&e))?));
                }
            }
            if !samples.is_empty() {
                wal::encode(&Record::Samples(samples), &mut buf);
            }
            if buf.len() > 1 << 20 {
                wal.write(&buf)?;
                buf.clear();
            }
        }
        // The exemplars of the series still here, in ring order, so that replay refills the
        // ring as it is.
        let exemplars: Vec<(u64, Exemplar)> = self
            .ring()
            .iter_oldest_first()
            .filter_map(|(labels, e)| Some((*state.by_labels.get(labels)?, e.clone())))
            .collect();
        for chunk in exemplars.chunks(10_000) {
            wal::encode(&Record::Exemplars(chunk.to_vec()), &mut buf);
        }
        wal.write(&buf)?;
        wal.cut()?;
        wal.remove_before(segment)
    }
}

fn corrupt_head(e: &chunk::ChunkError) -> StorageError {
    StorageError::Corrupt {
        path: "<head>".into(),
        offset: 0,
        message: e.to_string(),
    }
}

/// An append transaction on the head.
#[derive(Debug)]
pub struct HeadAppender<'a> {
    head: &'a Head,
    /// Series id, labels and new samples, in first-append order.
    pending: Vec<(u64, Labels, Vec<Sample>)>,
    index: HashMap<u64, usize>,
    /// New exemplars, in append order, by their series' place in `pending`.
    exemplars: Vec<(usize, Exemplar)>,
}

impl HeadAppender<'_> {
    fn resolve(&self, series: Option<SeriesRef>, labels: &Labels) -> Result<u64, AppendError> {
        {
            let state = self.head.read();
            if let Some(r) = series
                && let Some(Some(s)) = state.series.get(r.get() as usize - 1)
                && &s.labels == labels
            {
                return Ok(r.get());
            }
            if let Some(id) = state.by_labels.get(labels) {
                return Ok(*id);
            }
        }
        let mut state = self.head.write();
        if let Some(id) = state.by_labels.get(labels) {
            return Ok(*id);
        }
        if let Some(limit) = self.head.options.max_series
            && state.live >= limit
        {
            self.head.stats.series_limit.fetch_add(1, Ordering::Relaxed);
            return Err(AppendError::SeriesLimit {
                labels: labels.clone(),
                limit,
            });
        }
        Ok(state.insert_series(labels))
    }

    fn commit_inner(self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut wal = lock(&self.head.wal);
        let mut pending = self.pending;
        // A series created by this transaction may have been dropped by a truncation since
        // (it had no samples then): create it again.
        let missing: Vec<usize> = {
            let state = self.head.read();
            pending
                .iter()
                .enumerate()
                .filter(|(_, (id, labels, _))| {
                    !matches!(state.series.get(*id as usize - 1), Some(Some(s)) if &s.labels == labels)
                })
                .map(|(i, _)| i)
                .collect()
        };
        if !missing.is_empty() {
            let mut state = self.head.write();
            for i in missing {
                let labels = pending[i].1.clone();
                // Past the series limit too: the sample was accepted when appended.
                let id = match state.by_labels.get(&labels) {
                    Some(id) => *id,
                    None => state.insert_series(&labels),
                };
                pending[i].0 = id;
            }
        }
        let mut buf = Vec::new();
        {
            let state = self.head.read();
            let unlogged: Vec<(u64, Labels)> = pending
                .iter()
                .filter(|(id, _, _)| matches!(state.series.get(*id as usize - 1), Some(Some(s)) if !s.logged))
                .map(|(id, labels, _)| (*id, labels.clone()))
                .collect();
            if !unlogged.is_empty() {
                wal::encode(&Record::Series(unlogged), &mut buf);
            }
        }
        let samples: Vec<(u64, Sample)> = pending
            .iter()
            .flat_map(|(id, _, samples)| samples.iter().map(move |s| (*id, *s)))
            .collect();
        wal::encode(&Record::Samples(samples), &mut buf);
        let exemplars: Vec<(u64, Exemplar)> = self
            .exemplars
            .into_iter()
            .map(|(i, e)| (pending[i].0, e))
            .collect();
        if !exemplars.is_empty() {
            wal::encode(&Record::Exemplars(exemplars.clone()), &mut buf);
        }
        wal.write(&buf)?;

        let range = self.head.options.block_range;
        let mut state = self.head.write();
        let min_valid = state.min_valid;
        let mut dropped = 0;
        for (id, _, samples) in pending {
            let Some(Some(series)) = state.series.get_mut(id as usize - 1) else {
                continue;
            };
            series.logged = true;
            let data = Arc::make_mut(&mut series.data);
            for s in samples {
                match Order::of(data.last, s) {
                    Order::Append if s.t >= min_valid => data.push(s, range),
                    Order::Same => {}
                    _ => dropped += 1,
                }
            }
        }
        self.head
            .stats
            .dropped_at_commit
            .fetch_add(dropped, Ordering::Relaxed);
        if !exemplars.is_empty() {
            // Still under the WAL lock: the ring is filled in the order the log has it.
            let mut ring = self.head.ring_mut();
            let (mut added, mut out_of_order) = (0, 0);
            for (id, e) in exemplars {
                let Some(Some(series)) = state.series.get(id as usize - 1) else {
                    continue;
                };
                match ring.add(&series.labels, e) {
                    Ok(()) => added += 1,
                    Err(ExemplarError::OutOfOrder { .. }) => out_of_order += 1,
                    Err(_) => {}
                }
            }
            let stats = &self.head.stats;
            stats.exemplars_appended.fetch_add(added, Ordering::Relaxed);
            stats
                .exemplars_out_of_order
                .fetch_add(out_of_order, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Appender for HeadAppender<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        validate_labels(labels)?;
        let min_valid = self.head.min_valid();
        if t < min_valid {
            self.head.stats.too_old.fetch_add(1, Ordering::Relaxed);
            return Err(AppendError::TooOld {
                labels: labels.clone(),
                t,
                min_valid,
            });
        }
        let id = self.resolve(series, labels)?;
        let r = SeriesRef::new(id).unwrap_or(SeriesRef::MIN);
        let slot = self.index.get(&id).copied();
        let last = match slot.and_then(|i| self.pending[i].2.last().copied()) {
            Some(s) => Some(s),
            None => {
                let state = self.head.read();
                state
                    .series
                    .get(id as usize - 1)
                    .and_then(|s| s.as_ref())
                    .and_then(|s| s.data.last())
            }
        };
        let s = Sample::new(t, v);
        match Order::of(last, s) {
            Order::Append => {}
            Order::Same => return Ok(r),
            Order::Older => {
                self.head.stats.out_of_order.fetch_add(1, Ordering::Relaxed);
                return Err(AppendError::OutOfOrder {
                    labels: labels.clone(),
                    t,
                    last: last.map_or(t, |l| l.t),
                });
            }
            Order::Conflict => {
                self.head.stats.duplicates.fetch_add(1, Ordering::Relaxed);
                return Err(AppendError::Duplicate {
                    labels: labels.clone(),
                    t,
                    existing: last.map_or(f64::NAN, |l| l.v),
                    new: v,
                });
            }
        }
        match slot {
            Some(i) => self.pending[i].2.push(s),
            None => {
                self.index.insert(id, self.pending.len());
                self.pending.push((id, labels.clone(), vec![s]));
            }
        }
        Ok(r)
    }

    fn append_exemplar(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        exemplar: Exemplar,
    ) -> Result<(), ExemplarError> {
        validate_labels(labels)?;
        if self.head.options.max_exemplars == 0 {
            return Err(ExemplarError::Disabled);
        }
        let id = self.resolve(series, labels)?;
        let slot = match self.index.get(&id) {
            Some(&i) => i,
            None => {
                // The series joins the transaction without samples, so that the commit
                // logs it (and recreates it if a truncation dropped it meanwhile).
                self.index.insert(id, self.pending.len());
                self.pending.push((id, labels.clone(), Vec::new()));
                self.pending.len() - 1
            }
        };
        let pending = self.exemplars.iter().rev().find(|(i, _)| *i == slot);
        let ring = self.head.ring();
        let newest = pending.map(|(_, e)| e).or_else(|| ring.newest(labels));
        if let Err(e) = check_exemplar(labels, newest, &exemplar) {
            if matches!(e, ExemplarError::OutOfOrder { .. }) {
                self.head
                    .stats
                    .exemplars_out_of_order
                    .fetch_add(1, Ordering::Relaxed);
            }
            return Err(e);
        }
        drop(ring);
        self.exemplars.push((slot, exemplar));
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        (*self).commit_inner()
    }

    fn rollback(self: Box<Self>) {}
}

/// The head as it was when a querier was created.
#[derive(Debug, Clone)]
pub struct HeadSnapshot {
    series: Table<HeadSeries>,
    postings: Arc<Postings>,
    order: LabelOrder,
}

/// Every series' rank when all are sorted by labels, by id - 1, worked out by the first
/// query that needs it and shared by every snapshot of the same set of series.
type LabelOrder = Arc<OnceLock<Vec<u32>>>;

impl HeadSnapshot {
    /// The series matching `matchers` with chunks overlapping `[mint, maxt]`, by labels.
    pub fn select(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        matchers: &[Matcher],
    ) -> Vec<(Labels, Vec<SealedChunk>)> {
        let mut found: Vec<(u64, &HeadSeries, Vec<SealedChunk>)> = self
            .postings
            .select(matchers)
            .into_iter()
            .filter_map(|id| Some((id, self.series.get(id as usize - 1)?.as_ref()?)))
            .map(|(id, s)| (id, s, s.data.chunks(mint, maxt)))
            .filter(|(_, _, chunks)| !chunks.is_empty())
            .collect();
        // A few series are sorted by their labels; many (a selector over a good part of the
        // head) by their ranks, worked out once for the whole head by comparing labels
        // N log N times, then read by every query until series come or go.
        if found.len() >= 256 && found.len() * 16 >= self.series.len() {
            let ranks = self.order.get_or_init(|| self.ranks());
            found.sort_unstable_by_key(|(id, _, _)| ranks.get(*id as usize - 1).copied());
        } else {
            found.sort_unstable_by(|a, b| a.1.labels.cmp(&b.1.labels));
        }
        found
            .into_iter()
            .map(|(_, s, chunks)| (s.labels.clone(), chunks))
            .collect()
    }

    /// Each series' rank by labels, by id - 1 (removed series rank last).
    fn ranks(&self) -> Vec<u32> {
        let mut live: Vec<(usize, &Labels)> = self
            .series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, &s.as_ref()?.labels)))
            .collect();
        live.sort_unstable_by(|a, b| a.1.cmp(b.1));
        let mut ranks = vec![u32::MAX; self.series.len()];
        for (rank, (i, _)) in live.into_iter().enumerate() {
            ranks[i] = u32::try_from(rank).unwrap_or(u32::MAX);
        }
        ranks
    }
}
