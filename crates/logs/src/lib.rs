//! The log store contract: how log lines go in and how they come out.
//!
//! Everything that receives logs (Loki's push API, the OTLP receivers, the file tailer)
//! holds a [`LogStore`] and calls [`LogStore::push`]; everything that reads them (LogQL,
//! Loki's query API, the UI) reads through the same trait. Neither knows which store is
//! behind it: the persistent one, or the reference [`MemLogs`]. This crate holds only the
//! log model (Loki's: streams identified by a label set, each a sequence of timestamped
//! lines with optional structured metadata), the trait, its errors, the reference store and
//! the [`conformance_tests!`] suite every store must pass.
//!
//! ```
//! use std::ops::ControlFlow;
//! use logs::{Entry, LogStore, MemLogs, Select, Stream, Visit};
//! use model::{Labels, Matcher};
//!
//! let store = MemLogs::new();
//! let labels = Labels::from_pairs([("job", "node"), ("level", "info")]);
//! let entry = Entry::new(1_000, "block imported height=7")
//!     .with_metadata(Labels::from_pairs([("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]));
//! let pushed = store.push(&[Stream { labels, entries: vec![entry] }]).unwrap();
//! assert_eq!(pushed.accepted, 1);
//!
//! let mut lines = Vec::new();
//! let select = Select::new(vec![Matcher::equal("job", "node")], 0, 2_000);
//! store.select(&select, &mut |_labels, entries| {
//!     lines.extend(entries.iter().map(|e| e.line.clone()));
//!     Visit::Continue
//! }).unwrap();
//! assert_eq!(lines, ["block imported height=7"]);
//! ```
//!
//! # Writing
//!
//! [`LogStore::push`] takes what one push request carried: streams, each with its label
//! set and entries. Entries are judged one by one: an entry the store cannot keep (too old
//! for its out-of-order window, a line over the size limit, a new stream past the stream
//! limit) is refused alone and named in [`Pushed::refused`], with why; every other entry is
//! kept. When `push` returns, every accepted entry is durable against the process being
//! killed (a store with files has written it to its write-ahead log) and visible to every
//! read after. `Err` means nothing of the request was kept.
//!
//! Entries of a stream may arrive out of order within the store's window. The same entry
//! pushed twice (same stream, timestamp and line) is kept once, as Loki keeps it.
//!
//! # Reading
//!
//! [`LogStore::select`] visits the streams that match a selector, each stream's entries in
//! the window in batches, in timestamp order (oldest first going forward, newest first
//! going backward; entries with equal timestamps in the order they were pushed), all of a
//! stream's batches before the next stream's. [`Select::contains`] lists strings every
//! wanted line contains, so a store with a token index or bloom filters may skip chunks
//! that cannot hold them; it never skips a line that holds them, and the caller filters the
//! lines itself. Times are Unix nanoseconds throughout, as Loki and OTLP have them; windows
//! are `[start, end)`, as Loki's query range is.

pub mod conformance;
mod memory;

use std::collections::BTreeSet;
use std::fmt;

pub use memory::MemLogs;
pub use model::{Labels, Matcher};

/// One log line: when, what, and its structured metadata (high-cardinality fields such as
/// `trace_id` that travel with the line without making it a stream of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The line, as sent.
    pub line: String,
    /// Structured metadata; empty for most lines.
    pub metadata: Labels,
}

impl Entry {
    /// An entry without structured metadata.
    pub fn new(timestamp: i64, line: impl Into<String>) -> Self {
        Self {
            timestamp,
            line: line.into(),
            metadata: Labels::empty(),
        }
    }

    /// The same entry with `metadata` as its structured metadata.
    pub fn with_metadata(mut self, metadata: Labels) -> Self {
        self.metadata = metadata;
        self
    }

    /// The bytes Loki counts for the entry in its limits and `bytes_over_time`: the line's.
    pub fn size(&self) -> usize {
        self.line.len()
    }
}

/// A stream's entries in one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// The stream's label set: what identifies it. Never empty.
    pub labels: Labels,
    /// Its entries, in any order.
    pub entries: Vec<Entry>,
}

/// What a store did with one push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Entries kept (including repeats of entries already kept, which are not stored twice).
    pub accepted: u64,
    /// Entries refused, each with its place in the request and why.
    pub refused: Vec<Refusal>,
}

/// One refused entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The index of its stream in the request.
    pub stream: usize,
    /// The index of the entry in its stream.
    pub entry: usize,
    /// Why.
    pub reason: Reason,
}

/// Why a store refused an entry. Each names the limit, so the error a client sees says what
/// to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The entry is older than the stream's newest entry by more than the out-of-order
    /// window (Loki: `entry too far behind`).
    TooOld {
        /// The stream's newest timestamp when the entry came.
        newest: i64,
        /// The window, in nanoseconds.
        window: i64,
    },
    /// The entry is older than the store keeps (retention).
    BeyondRetention {
        /// The oldest timestamp the store accepts now.
        oldest: i64,
    },
    /// The line is longer than the store's limit.
    LineTooLong {
        /// The line's length in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Accepting the entry would create a stream past the limit on streams.
    StreamLimit {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooOld { newest, window } => write!(
                f,
                "entry too far behind: its timestamp is more than the out-of-order window ({}s) before the stream's newest entry ({newest}); send entries in order or raise the window",
                window / 1_000_000_000
            ),
            Self::BeyondRetention { oldest } => write!(
                f,
                "entry older than the retention period: the oldest timestamp kept now is {oldest}"
            ),
            Self::LineTooLong { size, limit } => write!(
                f,
                "line too long: {size} bytes, over the limit of {limit} bytes (max_line_size)"
            ),
            Self::StreamLimit { limit } => write!(
                f,
                "stream limit reached: the store holds {limit} streams (max_streams); drop a high-cardinality label or move it to structured metadata"
            ),
        }
    }
}

/// Why a store could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The request breaks the model (a stream without labels, ...): nothing of it is kept.
    #[error("stream {stream}: {message}")]
    Invalid {
        /// The index of the offending stream in the request.
        stream: usize,
        /// What is wrong.
        message: String,
    },
    /// The store cannot take or answer this now (disk full, closing); a retry may work.
    #[error("{0}")]
    Unavailable(String),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The store's data is damaged.
    #[error("{0}")]
    Corrupt(String),
}

/// Read direction, as Loki's `direction` parameter has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// What to read: the streams a selector matches, the time window, the order, and what
/// every wanted line contains.
#[derive(Debug, Clone)]
pub struct Select {
    /// The stream selector's matchers; a stream matches when all do.
    pub matchers: Vec<Matcher>,
    /// Unix nanoseconds, inclusive.
    pub start: i64,
    /// Unix nanoseconds, exclusive.
    pub end: i64,
    /// The order of each stream's entries.
    pub direction: Direction,
    /// Strings that every wanted line contains (case-sensitive); a hint a store may use to
    /// skip chunks, never a filter the caller may rely on.
    pub contains: Vec<String>,
}

impl Select {
    /// Reads forward over `[start, end)`, without hints.
    pub fn new(matchers: Vec<Matcher>, start: i64, end: i64) -> Self {
        Self {
            matchers,
            start,
            end,
            direction: Direction::Forward,
            contains: Vec::new(),
        }
    }

    /// The same selection in `direction`.
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// Tells whether `timestamp` falls in the window.
    pub fn covers(&self, timestamp: i64) -> bool {
        self.start <= timestamp && timestamp < self.end
    }

    /// Tells whether a stream with `labels` matches the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        model::matches_all(&self.matchers, labels)
    }
}

/// What the visitor of [`LogStore::select`] wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// The next batch.
    Continue,
    /// Nothing more of this stream: go on with the next.
    NextStream,
    /// Nothing more at all.
    Stop,
}

/// A stream's share of the store within a window, for `/index/stats` and `/index/volume`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    /// The stream's labels.
    pub labels: Labels,
    /// Entries in the window.
    pub entries: u64,
    /// Their lines' bytes.
    pub bytes: u64,
    /// Chunks holding them (0 for a store without chunks).
    pub chunks: u64,
}

/// A log store. Implementations MUST be safe to share between threads: pushes and reads
/// come from any number of threads at once.
pub trait LogStore: Send + Sync {
    /// Keeps a push's entries (see the crate's docs for what is refused and what `Ok` means).
    fn push(&self, streams: &[Stream]) -> Result<Pushed, LogError>;

    /// Visits the matching streams' entries in the window (see the crate's docs for the
    /// order). A stream with no entry in the window is not visited; batches are never empty.
    fn select(
        &self,
        select: &Select,
        visit: &mut dyn FnMut(&Labels, &[Entry]) -> Visit,
    ) -> Result<(), LogError>;

    /// The label sets of the streams with an entry in `[start, end)` that match any of the
    /// matcher sets (every stream when `matchers` is empty), sorted.
    fn series(
        &self,
        matchers: &[Vec<Matcher>],
        start: i64,
        end: i64,
    ) -> Result<Vec<Labels>, LogError>;

    /// Per stream matching `matchers` with an entry in `[start, end)`: its entries, bytes
    /// and chunks there; sorted by labels.
    fn stats(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<StreamStats>, LogError>;

    /// The stream label names of the streams with an entry in `[start, end)` that match
    /// `matchers` (all streams when empty).
    fn label_names(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<BTreeSet<String>, LogError> {
        let mut names = BTreeSet::new();
        for labels in self.series(&sets(matchers), start, end)? {
            names.extend(labels.iter().map(|l| l.name.to_owned()));
        }
        Ok(names)
    }

    /// The values of stream label `name` on the streams with an entry in `[start, end)`
    /// that match `matchers` (all streams when empty).
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<BTreeSet<String>, LogError> {
        let mut values = BTreeSet::new();
        for labels in self.series(&sets(matchers), start, end)? {
            if let Some(v) = labels.get(name) {
                values.insert(v.to_owned());
            }
        }
        Ok(values)
    }
}

fn sets(matchers: &[Matcher]) -> Vec<Vec<Matcher>> {
    if matchers.is_empty() {
        Vec::new()
    } else {
        vec![matchers.to_vec()]
    }
}

/// Checks a push against the model's rules before a store keeps any of it: every stream
/// has labels.
pub fn validate(streams: &[Stream]) -> Result<(), LogError> {
    for (stream, s) in streams.iter().enumerate() {
        if s.labels.is_empty() {
            return Err(LogError::Invalid {
                stream,
                message: "a stream needs at least one label".into(),
            });
        }
    }
    Ok(())
}
