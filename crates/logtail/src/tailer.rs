//! The tailer: follows every file the configuration names and hands its lines, through the
//! job's pipeline, to a [`LogStore`].
//!
//! One [`Tailer`] owns every file; [`Tailer::poll_once`] does one round (find the files
//! the globs match now, then read what each has gained), which the tests call directly
//! and [`Tailer::spawn`]'s thread calls on a tick. Per file it keeps the open handle, its
//! device and inode, the *committed* offset (after the last line the store has taken) and
//! the bytes read after it that do not end in a newline yet. Each round:
//!
//! - **Rotation by rename** (`app.log` renamed, a new `app.log` created): the path now
//!   names another inode. The old handle is read to its end first (its last line even
//!   without a newline: nothing more will be written to it), then the new file is read
//!   from its start.
//! - **Truncation** (`copytruncate`): the file is shorter than the committed offset; it
//!   is read again from its start. (A file truncated and then written past the old offset
//!   between two rounds cannot be told from one that grew; Promtail has the same blind spot.)
//! - **Partial lines** wait for their newline; they are not committed, so a restart reads
//!   them again.
//! - A file no longer matched (deleted, or renamed away and not replaced) is read to its
//!   end through its handle and forgotten, with its position.
//!
//! Lines go to the store a batch (at most [`BATCH_BYTES`] of one file) at a time, and the
//! committed offset moves only when `push` returns `Ok`: an `Err` (store closing, disk
//! full) leaves it, and the lines are read again next round. Entries the store refuses are
//! logged with the file, line number (when known: reading began at the file's start) and
//! byte offset, and counted; they are not retried. Positions are written every
//! `positions.sync_period` and when the tailer stops, so a restart resumes after the last
//! committed line: lines read but not yet in a written positions file may be sent twice
//! after a crash, which the store keeps once when their timestamps match (they do when a
//! `timestamp` stage sets them).
//!
//! Entries without a `timestamp` stage take the time they are read, made strictly
//! increasing per tailer so that two equal lines read in the same instant stay two entries.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use logs::{Entry, LogStore, Stream};
use model::Labels;

use crate::config::Config;
use crate::positions::{Position, Positions};
use crate::stages::{self, Line, Outcome};
use crate::targets::{self, FileTarget};
use crate::telemetry::Stats;

/// The most bytes of one file read into one push.
pub const BATCH_BYTES: usize = 1 << 20;

/// The most batches of one file per round, so one busy file cannot hold up the others
/// (a file being drained after rotation is read to its end regardless).
const BATCHES_PER_ROUND: usize = 16;

/// What a [`Tailer`] needs.
pub struct TailerOptions {
    /// The checked configuration.
    pub config: Config,
    /// Where the lines go.
    pub store: Arc<dyn LogStore>,
    /// The positions file (see [`Config::positions_file`]).
    pub positions_file: PathBuf,
}

/// Follows the configured files into a log store; see the module's docs.
pub struct Tailer {
    config: Config,
    store: Arc<dyn LogStore>,
    positions: Positions,
    files: BTreeMap<String, Tailed>,
    states: Vec<stages::State>,
    stats: Arc<Stats>,
    host: String,
    last_timestamp: i64,
    /// Paths whose open failed, so the failure is logged once, not every round.
    failing: HashMap<String, String>,
    /// Problems of the last discovery, so each is logged when it appears.
    problems: Vec<String>,
    /// Files read to their end after being renamed away or unmatched, by device and
    /// inode, with the offset reached: a glob that also matches the rotated name
    /// (`app.log.1`) then goes on from there instead of sending the file twice.
    finished: HashMap<(u64, u64), u64>,
}

struct Tailed {
    target: FileTarget,
    file: File,
    id: (u64, u64),
    /// After the last line the store took.
    offset: u64,
    /// Read after `offset`, no newline yet.
    pending: Vec<u8>,
    /// The number of the line at `offset`, when reading began at the file's start.
    line: Option<u64>,
}

/// What one read of a file did.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    /// The file has no more bytes now.
    AtEnd,
    /// A full batch was read; there may be more.
    More,
    /// The store did not take the batch; nothing was committed.
    Failed,
}

/// What a round did, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// Lines read (complete, and final lines of rotated files).
    pub lines: u64,
    /// Entries the store took.
    pub accepted: u64,
    /// Entries the store refused.
    pub refused: u64,
    /// Lines a pipeline dropped.
    pub dropped: u64,
    /// Pushes that failed (their lines are read again next round).
    pub failed_pushes: u64,
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn file_id(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

impl Tailer {
    /// Reads the positions file and prepares the tailer; nothing is read before the first
    /// round.
    pub fn new(options: TailerOptions) -> Result<Self, String> {
        let positions = Positions::load(
            &options.positions_file,
            options.config.positions.ignore_invalid_yaml,
        )?;
        let states = options
            .config
            .scrape_configs
            .iter()
            .map(|_| stages::State::default())
            .collect();
        Ok(Self {
            config: options.config,
            store: options.store,
            positions,
            files: BTreeMap::new(),
            states,
            stats: Arc::new(Stats::default()),
            host: targets::hostname(),
            last_timestamp: 0,
            failing: HashMap::new(),
            problems: Vec::new(),
            finished: HashMap::new(),
        })
    }

    /// The tailer's counters, as a `prometheus-client` collector.
    pub fn telemetry(&self) -> crate::Telemetry {
        crate::Telemetry(Arc::clone(&self.stats))
    }

    /// The files followed now, sorted.
    pub fn files(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// One round: find the files, then read each.
    pub fn poll_once(&mut self) -> Polled {
        let mut polled = Polled::default();
        self.discover(&mut polled);
        self.read_all(&mut polled);
        polled
    }

    /// Writes the positions file now.
    pub fn save_positions(&self) -> Result<(), String> {
        self.positions.save().map_err(|e| {
            self.stats.count(&self.stats.position_errors, 1);
            format!(
                "cannot write the positions file {}: {e}",
                self.positions.path().display()
            )
        })
    }

    /// Evaluates the globs again: files no longer matched are read to their end and
    /// forgotten, new ones opened at their position.
    fn discover(&mut self, polled: &mut Polled) {
        // Rotations are followed first, so a rotated file the globs also match under its
        // new name is known as read (`finished`) before that name is opened.
        self.read_all(polled);
        let (found, problems) = targets::discover(&self.config.scrape_configs, &self.host);
        for p in &problems {
            if !self.problems.contains(p) {
                tracing::warn!("logs config: {p}");
            }
        }
        self.problems = problems;
        let gone: Vec<String> = self
            .files
            .keys()
            .filter(|p| !found.contains_key(*p))
            .cloned()
            .collect();
        for path in gone {
            if let Some(mut t) = self.files.remove(&path) {
                // Whatever was written before the file went away is still sent.
                while self.read(&mut t, true, polled) == Read::More {}
                self.finished.insert(t.id, t.offset);
                tracing::info!(file = %path, "stopped tailing: the file is no longer matched");
            }
            self.positions.remove(&path);
            self.stats.forget(&path);
        }
        let stale: Vec<String> = self
            .positions
            .files()
            .filter(|p| !found.contains_key(*p) && std::fs::metadata(p).is_err())
            .map(str::to_owned)
            .collect();
        for p in stale {
            self.positions.remove(&p);
        }
        for (path, target) in found {
            if self.files.contains_key(&path) {
                continue;
            }
            match self.open(target) {
                Ok(t) => {
                    self.failing.remove(&path);
                    self.files.insert(path, t);
                }
                Err(e) => {
                    if self.failing.get(&path) != Some(&e) {
                        tracing::warn!(file = %path, "cannot tail: {e}");
                        self.failing.insert(path, e);
                    }
                }
            }
        }
        self.stats.set_active(self.files.len());
    }

    fn open(&self, target: FileTarget) -> Result<Tailed, String> {
        let file = File::open(&target.path).map_err(|e| e.to_string())?;
        let meta = file.metadata().map_err(|e| e.to_string())?;
        let id = file_id(&meta);
        let offset = match self.positions.get(&target.path) {
            Some(p) if p.id.is_some_and(|i| i != id) => {
                tracing::info!(file = %target.path, "the file was replaced while Skywatch was stopped; reading it from its start");
                0
            }
            Some(p) if p.offset > meta.len() => {
                tracing::info!(file = %target.path, offset = p.offset, size = meta.len(), "the file is shorter than its saved position (truncated); reading it from its start");
                0
            }
            Some(p) => p.offset,
            None => match self.finished.get(&id) {
                Some(&offset) if offset <= meta.len() => {
                    tracing::info!(file = %target.path, offset, "a rotated file already read under its old name; reading on from there");
                    offset
                }
                _ => 0,
            },
        };
        tracing::info!(file = %target.path, offset, "tailing");
        Ok(Tailed {
            target,
            file,
            id,
            offset,
            pending: Vec::new(),
            line: (offset == 0).then_some(1),
        })
    }

    fn read_all(&mut self, polled: &mut Polled) {
        let paths: Vec<String> = self.files.keys().cloned().collect();
        for path in paths {
            let Some(mut t) = self.files.remove(&path) else {
                continue;
            };
            self.follow(&mut t, polled);
            self.files.insert(path, t);
        }
    }

    /// Reads what one file gained, after checking whether it was rotated or truncated.
    fn follow(&mut self, t: &mut Tailed, polled: &mut Polled) {
        match std::fs::metadata(&t.target.path) {
            Ok(m) if file_id(&m) != t.id => {
                // Rotated: finish the old file through its handle, then start the new one.
                loop {
                    match self.read(t, true, polled) {
                        Read::More => {}
                        Read::AtEnd => break,
                        Read::Failed => return,
                    }
                }
                self.finished.insert(t.id, t.offset);
                match File::open(&t.target.path) {
                    Ok(file) => {
                        let id = file.metadata().map(|m| file_id(&m)).unwrap_or((0, 0));
                        tracing::info!(file = %t.target.path, "the file was rotated; reading the new one from its start");
                        t.file = file;
                        t.id = id;
                        t.offset = 0;
                        t.pending.clear();
                        t.line = Some(1);
                    }
                    Err(e) => {
                        tracing::warn!(file = %t.target.path, "cannot open the rotated file: {e}");
                        return;
                    }
                }
            }
            Ok(m) if m.len() < t.offset + t.pending.len() as u64 => {
                tracing::info!(file = %t.target.path, offset = t.offset, size = m.len(), "the file was truncated; reading it from its start");
                t.offset = 0;
                t.pending.clear();
                t.line = Some(1);
            }
            // Unchanged, or gone (the next discovery forgets it): read through the handle.
            _ => {}
        }
        for _ in 0..BATCHES_PER_ROUND {
            if self.read(t, false, polled) != Read::More {
                break;
            }
        }
        self.positions.put(
            &t.target.path,
            Position {
                offset: t.offset,
                id: Some(t.id),
            },
        );
    }

    /// Reads one batch of `t` and pushes its complete lines; with `last`, a final line
    /// without a newline is complete too (the file will not grow any more).
    fn read(&mut self, t: &mut Tailed, last: bool, polled: &mut Polled) -> Read {
        let mut at = t.offset + t.pending.len() as u64;
        let mut buf = vec![0u8; 64 * 1024];
        let mut eof = false;
        while t.pending.len() < BATCH_BYTES {
            let want = (BATCH_BYTES - t.pending.len()).min(buf.len());
            match t.file.read_at(&mut buf[..want], at) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    t.pending.extend_from_slice(&buf[..n]);
                    at += n as u64;
                    self.stats.read(&t.target.path, n as u64);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(file = %t.target.path, "cannot read: {e}");
                    eof = true;
                    break;
                }
            }
        }
        // Complete lines end at the last newline; a batch that is one unfinished line of
        // BATCH_BYTES is sent as it is, or it would never be.
        let mut end = t
            .pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if (last && eof) || (end == 0 && t.pending.len() >= BATCH_BYTES) {
            end = t.pending.len();
        }
        if end == 0 {
            return if eof { Read::AtEnd } else { Read::More };
        }
        if !self.push(t, end, polled) {
            // Nothing committed: the bytes are read again next round.
            t.pending.clear();
            return Read::Failed;
        }
        t.offset += end as u64;
        t.pending.drain(..end);
        if eof { Read::AtEnd } else { Read::More }
    }

    /// Runs the lines in `t.pending[..end]` through the job's pipeline and pushes them;
    /// `false` if the store took nothing.
    fn push(&mut self, t: &mut Tailed, end: usize, polled: &mut Polled) -> bool {
        let job = t.target.job;
        let pipeline = &self.config.scrape_configs[job].pipeline;
        let state = &mut self.states[job];
        let mut streams: Vec<Stream> = Vec::new();
        let mut origins: Vec<Vec<(Option<u64>, u64)>> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut line_no = t.line;
        let mut start = 0;
        let mut lines = 0u64;
        let now = now_nanos();
        while start < end {
            let stop = t.pending[start..end]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(end, |i| start + i);
            let mut raw = &t.pending[start..stop];
            if raw.last() == Some(&b'\r') {
                raw = &raw[..raw.len() - 1];
            }
            let offset = t.offset + start as u64;
            let number = line_no;
            start = stop + 1;
            line_no = line_no.map(|n| n + 1);
            lines += 1;
            let ts = now.max(self.last_timestamp + 1);
            self.last_timestamp = ts;
            let mut line = Line::new(
                &t.target.labels,
                ts,
                String::from_utf8_lossy(raw).into_owned(),
            );
            if let Outcome::Dropped(reason) = pipeline.run(&mut line, state, now) {
                self.stats.dropped(&reason);
                polled.dropped += 1;
                continue;
            }
            let internal: Vec<String> = line
                .labels
                .iter()
                .filter(|l| l.name.starts_with("__"))
                .map(|l| l.name.to_owned())
                .collect();
            for n in internal {
                line.labels.remove(&n);
            }
            let labels = line.labels.build();
            if labels.is_empty() {
                self.stats.dropped("no_labels");
                polled.dropped += 1;
                continue;
            }
            let i = *index.entry(labels.clone()).or_insert_with(|| {
                streams.push(Stream {
                    labels,
                    entries: Vec::new(),
                });
                origins.push(Vec::new());
                streams.len() - 1
            });
            streams[i]
                .entries
                .push(Entry::new(line.timestamp, line.line).with_metadata(line.metadata.build()));
            origins[i].push((number, offset));
        }
        polled.lines += lines;
        if !streams.is_empty() {
            match self.store.push(&streams) {
                Ok(pushed) => {
                    polled.accepted += pushed.accepted;
                    polled.refused += pushed.refused.len() as u64;
                    self.stats.count(&self.stats.sent, pushed.accepted);
                    self.stats
                        .count(&self.stats.refused, pushed.refused.len() as u64);
                    for r in &pushed.refused {
                        let (number, offset) = origins
                            .get(r.stream)
                            .and_then(|o| o.get(r.entry))
                            .copied()
                            .unwrap_or((None, 0));
                        let place = match number {
                            Some(n) => format!("line {n} (byte offset {offset})"),
                            None => format!("the line at byte offset {offset}"),
                        };
                        tracing::warn!(file = %t.target.path, "the log store refused {place}: {}", r.reason);
                    }
                }
                Err(e) => {
                    polled.failed_pushes += 1;
                    self.stats.count(&self.stats.push_errors, 1);
                    tracing::warn!(file = %t.target.path, "the log store took no line of this batch, reading it again next round: {e}");
                    return false;
                }
            }
        }
        self.stats.lines(&t.target.path, lines);
        t.line = line_no;
        true
    }

    /// Starts the tailer on its own thread (its file reads block), polling every
    /// `interval` and evaluating the globs every `target_config.sync_period`.
    pub fn spawn(mut self, interval: Duration) -> std::io::Result<Running> {
        let (stop, stopped) = mpsc::channel::<()>();
        let telemetry = self.telemetry();
        let thread = std::thread::Builder::new()
            .name("logtail".into())
            .spawn(move || {
                let discover_every = Duration::from_millis(
                    u64::try_from(self.config.target_sync_period_ms).unwrap_or(10_000),
                );
                let sync_every = Duration::from_millis(
                    u64::try_from(self.config.positions.sync_period_ms).unwrap_or(10_000),
                );
                let mut polled = Polled::default();
                self.discover(&mut polled);
                let (mut discovered, mut synced) = (Instant::now(), Instant::now());
                loop {
                    self.read_all(&mut polled);
                    if synced.elapsed() >= sync_every {
                        if let Err(e) = self.save_positions() {
                            tracing::warn!("{e}");
                        }
                        synced = Instant::now();
                    }
                    match stopped.recv_timeout(interval) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                    if discovered.elapsed() >= discover_every {
                        self.discover(&mut polled);
                        discovered = Instant::now();
                    }
                }
                // A last round, so what was written before the stop is sent and positioned.
                self.read_all(&mut polled);
                self.save_positions()
            })?;
        Ok(Running {
            stop,
            thread,
            telemetry,
        })
    }
}

/// A tailer running on its thread.
pub struct Running {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Result<(), String>>,
    telemetry: crate::Telemetry,
}

impl Running {
    /// The tailer's counters, as a `prometheus-client` collector.
    pub fn telemetry(&self) -> crate::Telemetry {
        self.telemetry.clone()
    }

    /// Stops the tailer after a last round and writes the positions file; blocks until
    /// done (at most one round), so call it from a blocking context.
    pub fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        self.thread
            .join()
            .map_err(|_| "the file tailer's thread panicked".to_owned())?
    }
}
