//! The storage contract: how samples go in and how they come out.
//!
//! Everything that writes series (scraping, rules, remote write) holds an [`Appendable`];
//! everything that reads them (the PromQL engine, the API, rules) holds a [`Queryable`].
//! Neither knows which store is behind them: the TSDB, the reference [`MemStorage`], or a
//! fan-out to several. This crate holds only those traits, their error types, the reference
//! store, and the [`conformance_tests!`] suite that every store must pass.
//!
//! # Writing
//!
//! Appends are transactions. An [`Appender`] collects samples; [`Appender::commit`] makes
//! all of them visible to queries at once, [`Appender::rollback`] discards them. Both take
//! the appender by value, so an appender cannot be used after either.
//!
//! ```
//! use model::{Labels, Matcher};
//! use storage::{Appendable, MemStorage, Queryable, SelectHints};
//!
//! let store = MemStorage::new();
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
//! let mut app = store.appender();
//! let series = app.append(None, &up, 1000, 1.0).unwrap();
//! app.append(Some(series), &up, 2000, 0.0).unwrap(); // the ref skips the label lookup
//! app.commit().unwrap();
//!
//! let querier = store.querier(0, 1500).unwrap();
//! let mut set = querier
//!     .select(&SelectHints::default(), &[Matcher::equal("job", "node")])
//!     .unwrap();
//! let mut found = set.next().unwrap().unwrap();
//! assert_eq!(found.labels, up);
//! assert_eq!(found.samples.next().unwrap().map(|s| (s.t, s.v)), Some((1000, 1.0)));
//! assert!(found.samples.next().unwrap().is_none()); // 2000 is outside [0, 1500]
//! ```
//!
//! # Reading
//!
//! A [`Querier`] is bound to a closed time range `[mint, maxt]` when it is created and sees
//! the data committed at that moment, never a later commit half-applied. `select` returns
//! the series matching every matcher, sorted by labels, each with an iterator over its
//! samples in that range in timestamp order; [`SelectHints`] say what the caller will do
//! with them and never change the result.
//!
//! # Exemplars
//!
//! An appender may attach an [`Exemplar`] (a trace ID, a value, a time) to a series with
//! [`Appender::append_exemplar`]; it becomes visible at commit with the samples, and
//! [`Queryable::select_exemplars`] reads them back by series and time range. Stores keep a
//! bounded number of them, newest first (see [`exemplar`]); stores that keep none drop
//! them, as the defaults do.
//!
//! # Staleness
//!
//! A stale series is marked with a sample whose value is [`model::STALE_NAN`]; stores keep
//! it bit for bit, and readers (PromQL's lookback) treat the series as ended there.

pub mod conformance;
pub mod exemplar;
mod memory;

pub use exemplar::{Exemplar, ExemplarError, ExemplarRing, ExemplarSeries};
pub use memory::MemStorage;

use model::{Labels, Matcher, Sample, Timestamp};

/// A series' handle within one store, returned by [`Appender::append`] so that later
/// appends can skip looking the series up by its labels. Refs are valid for the lifetime
/// of the store instance; they are not persisted.
pub type SeriesRef = std::num::NonZeroU64;

/// An error from a store as a whole: its files or its state.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O operation failed. Retrying may help if the cause (disk full, permissions) is
    /// fixed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done, for example "writing".
        op: &'static str,
        /// The file or directory.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Stored bytes are not what was written. Retrying does not help; the data up to
    /// `offset` is usually recoverable.
    #[error("corrupt data in {path} at byte {offset}: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// The byte offset where the damage starts.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
    /// A remote engine the store reads from (a query backend) failed or refused the
    /// request; `message` is the engine's own words where it gave any. Retrying may help
    /// if the engine was unavailable.
    #[error("query backend {endpoint}: {message}")]
    Remote {
        /// The engine's URL.
        endpoint: String,
        /// What went wrong, in the engine's words where it gave any.
        message: String,
    },
}

/// Why one sample was not appended. The appender stays usable: the caller may go on with
/// other samples, and commit those.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    /// The sample is older than the newest sample of its series.
    #[error(
        "out of order sample for {labels}: timestamp {t} is before the series' last timestamp {last}"
    )]
    OutOfOrder {
        /// The series.
        labels: Labels,
        /// The rejected sample's timestamp.
        t: Timestamp,
        /// The series' newest timestamp.
        last: Timestamp,
    },
    /// The series already has a different value at this timestamp. (The same value again is
    /// accepted and ignored.)
    #[error(
        "duplicate sample for {labels} at timestamp {t}: {existing} is stored, {new} was given"
    )]
    Duplicate {
        /// The series.
        labels: Labels,
        /// The timestamp.
        t: Timestamp,
        /// The stored value.
        existing: f64,
        /// The rejected value.
        new: f64,
    },
    /// The sample is older than the store accepts (for example, before the TSDB head).
    #[error("sample for {labels} at {t} is too old: the store accepts samples from {min_valid} on")]
    TooOld {
        /// The series.
        labels: Labels,
        /// The timestamp.
        t: Timestamp,
        /// The oldest timestamp accepted.
        min_valid: Timestamp,
    },
    /// Creating this series would exceed the store's limit on active series.
    #[error(
        "series limit of {limit} reached: {labels} was not created, while existing series keep taking samples (raise the limit, --tsdb-max-head-series for a Skywatch server's TSDB, or reduce label cardinality)"
    )]
    SeriesLimit {
        /// The series that was not created.
        labels: Labels,
        /// The limit.
        limit: usize,
    },
    /// The labels are not a valid series identity.
    #[error("invalid series labels {labels}: {reason}")]
    InvalidLabels {
        /// The labels.
        labels: Labels,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Something that takes samples: a store, or a fan-out to several.
///
/// Implementations MUST be safe to share between threads; any number of appenders may be
/// open at once.
pub trait Appendable: Send + Sync {
    /// Opens an append transaction.
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// An append transaction.
///
/// Samples appended are invisible to every querier until [`commit`](Appender::commit)
/// returns; after it returns, every querier created later sees all of them. `append`
/// checks each sample against the committed data and the transaction's own earlier
/// samples and rejects it at once if it is out of order, a conflicting duplicate, too old,
/// or would create a series past the store's limit; rejected samples are not part of the
/// transaction. A sample that was valid when appended but conflicts with another
/// transaction that committed first is dropped at commit, and the store counts it.
///
/// Dropping an appender without committing rolls it back.
pub trait Appender: Send {
    /// Appends one sample and returns its series' ref.
    ///
    /// `series` is a ref returned earlier by this store for these same labels; passing it
    /// skips the label lookup. A stale or unknown ref is ignored and the labels are used.
    /// Passing a ref with different labels is a caller bug whose result is unspecified.
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError>;

    /// Appends one sample with its start time `st`: when the counting that led to `v`
    /// began (OpenMetrics' `_created`, OTLP's start time), 0 if unknown. Stores that keep
    /// start times return it from [`SampleIterator::start_time`]; the others drop it, as
    /// this default does.
    fn append_with_start_time(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        st: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let _ = st;
        self.append(series, labels, t, v)
    }

    /// Attaches an exemplar to the series `labels` (`series` as for
    /// [`append`](Appender::append)), usually right after appending the sample it explains.
    ///
    /// The exemplar is checked at once against the series' newest committed exemplar and the
    /// transaction's own earlier ones (see [`exemplar`]) and, if accepted, becomes visible at
    /// commit with the samples; one that a concurrent commit made out of order meanwhile is
    /// dropped at commit. A store that keeps no exemplars drops it and returns `Ok`, as this
    /// default does, so that writers need not know which store they write to.
    fn append_exemplar(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        exemplar: Exemplar,
    ) -> Result<(), ExemplarError> {
        let _ = (series, labels, exemplar);
        Ok(())
    }

    /// Makes every appended sample visible and, for a durable store, durable as the store's
    /// sync policy promises.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;

    /// Discards every appended sample.
    fn rollback(self: Box<Self>);
}

/// Something that answers queries over a time range.
pub trait Queryable: Send + Sync {
    /// Returns a querier over the closed range `[mint, maxt]`, seeing the data committed now.
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError>;

    /// Returns the exemplars in `[start, end]` of every series that matches all the matchers
    /// of at least one of `matcher_sets` (each series once), sorted by series labels, each
    /// series' exemplars oldest first; series with none in range are left out. Sees the
    /// exemplars committed now. A store that keeps no exemplars answers none, as this default
    /// does.
    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[&[Matcher]],
    ) -> Result<Vec<ExemplarSeries>, StorageError> {
        let _ = (start, end, matcher_sets);
        Ok(Vec::new())
    }
}

/// What the caller of [`Querier::select`] will do with the series, so that a store may
/// prepare less (as Prometheus's `SelectHints`). Hints never change the result: a store MAY
/// ignore them, and MUST return the same series and samples whatever they say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// The start of the query's evaluation range (ms); may be before the querier's `mint`
    /// by the lookback.
    pub start: Timestamp,
    /// The end of the evaluation range (ms).
    pub end: Timestamp,
    /// The evaluation step (ms); 0 for an instant query.
    pub step: i64,
    /// The function applied to the series, such as `rate`, if any.
    pub func: Option<String>,
    /// The range of a range selector (ms), such as 300000 for `[5m]`; 0 otherwise.
    pub range: i64,
    /// The labels of a surrounding `by` (or, with `by = false`, `without`) aggregation.
    pub grouping: Vec<String>,
    /// Whether `grouping` is a `by` list.
    pub by: bool,
}

/// Reads series from a fixed time range and a fixed snapshot of the store.
pub trait Querier: Send + Sync {
    /// Returns the series that have at least one sample in range and satisfy every matcher
    /// (a series lacking a label has the empty value for it), sorted by labels. With no
    /// matchers, every series with a sample in range.
    fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError>;

    /// Returns the sorted, distinct label names of the series `select(matchers)` would
    /// return.
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// Returns the sorted, distinct values of label `name` among the series
    /// `select(matchers)` would return.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;

    /// What went wrong without failing the read, such as a remote read endpoint that did
    /// not answer: the caller shows these beside the result, as Prometheus's warnings.
    /// Taken once: a second call returns only what happened since.
    fn take_warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Series in label order; reading a series may fail if stored data is damaged.
pub type SeriesSet<'a> = Box<dyn Iterator<Item = Result<Series<'a>, StorageError>> + Send + 'a>;

/// One series of a [`SeriesSet`]: its labels and its samples in the querier's range.
pub struct Series<'a> {
    /// The series' labels.
    pub labels: Labels,
    /// Its samples, in timestamp order.
    pub samples: Box<dyn SampleIterator + 'a>,
}

impl std::fmt::Debug for Series<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// Samples of one series, in timestamp order.
pub trait SampleIterator: Send {
    /// Returns the next sample, `None` at the end, or an error if stored data is damaged.
    fn next(&mut self) -> Result<Option<Sample>, StorageError>;

    /// Advances to the first sample at or after `t` and returns it. Never moves backwards:
    /// if the last sample returned is already at or after `t`, returns the next one after it.
    fn seek(&mut self, t: Timestamp) -> Result<Option<Sample>, StorageError> {
        while let Some(s) = self.next()? {
            if s.t >= t {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The start time of the sample `next` or `seek` returned last, 0 if it has none or the
    /// store keeps no start times.
    fn start_time(&self) -> Timestamp {
        0
    }

    /// Collects the remaining samples.
    fn collect_vec(&mut self) -> Result<Vec<Sample>, StorageError> {
        let mut out = Vec::new();
        while let Some(s) = self.next()? {
            out.push(s);
        }
        Ok(out)
    }

    /// Whether the samples may have start times; `false` lets readers skip asking.
    fn has_start_times(&self) -> bool {
        false
    }

    /// Collects the remaining samples and, if any has one, their start times.
    fn collect_with_start_times(
        &mut self,
    ) -> Result<(Vec<Sample>, Option<Vec<Timestamp>>), StorageError> {
        if !self.has_start_times() {
            return Ok((self.collect_vec()?, None));
        }
        let mut samples = Vec::new();
        let mut start_times = Vec::new();
        while let Some(s) = self.next()? {
            samples.push(s);
            start_times.push(self.start_time());
        }
        let any = start_times.iter().any(|&st| st != 0);
        Ok((samples, any.then_some(start_times)))
    }
}

/// Start times of a series' samples, by sample time; samples without one are absent.
pub type StartTimes = std::sync::Arc<std::collections::BTreeMap<Timestamp, Timestamp>>;

/// A sample iterator over an in-memory list.
#[derive(Debug, Default, Clone)]
pub struct VecIterator {
    samples: Vec<Sample>,
    next: usize,
    start_times: Option<StartTimes>,
}

impl VecIterator {
    /// Iterates over `samples`, which must be in timestamp order.
    pub fn new(samples: Vec<Sample>) -> Self {
        Self {
            samples,
            next: 0,
            start_times: None,
        }
    }

    /// Iterates over `samples`, whose start times `start_times` has.
    pub fn with_start_times(samples: Vec<Sample>, start_times: StartTimes) -> Self {
        Self {
            start_times: Some(start_times),
            ..Self::new(samples)
        }
    }
}

impl SampleIterator for VecIterator {
    fn has_start_times(&self) -> bool {
        self.start_times.is_some()
    }

    fn start_time(&self) -> Timestamp {
        let (Some(times), Some(i)) = (&self.start_times, self.next.checked_sub(1)) else {
            return 0;
        };
        self.samples
            .get(i)
            .and_then(|s| times.get(&s.t).copied())
            .unwrap_or(0)
    }

    fn next(&mut self) -> Result<Option<Sample>, StorageError> {
        let s = self.samples.get(self.next).copied();
        self.next += usize::from(s.is_some());
        Ok(s)
    }

    fn seek(&mut self, t: Timestamp) -> Result<Option<Sample>, StorageError> {
        let rest = &self.samples[self.next.min(self.samples.len())..];
        self.next += rest.partition_point(|s| s.t < t);
        self.next()
    }
}

/// Where a new sample stands against the newest sample of its series, by the rules of
/// [`Appender::append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleOrder {
    /// Newer than the newest sample (or the series has none): appended.
    Append,
    /// The newest sample again, bit for bit: accepted and stored once.
    Same,
    /// Older than the newest sample: [`AppendError::OutOfOrder`].
    Older,
    /// At the newest sample's timestamp with another value: [`AppendError::Duplicate`].
    Conflict,
}

impl SampleOrder {
    /// Classifies `s` against `last`, the series' newest sample.
    pub fn of(last: Option<Sample>, s: Sample) -> Self {
        match last {
            Some(l) if s.t < l.t => SampleOrder::Older,
            Some(l) if s.t == l.t && l.v.to_bits() != s.v.to_bits() => SampleOrder::Conflict,
            Some(l) if s.t == l.t => SampleOrder::Same,
            _ => SampleOrder::Append,
        }
    }

    /// Returns whether to store `s`, or the error rejecting it.
    pub fn check(last: Option<Sample>, s: Sample, labels: &Labels) -> Result<bool, AppendError> {
        match (Self::of(last, s), last) {
            (SampleOrder::Append, _) => Ok(true),
            (SampleOrder::Same, _) => Ok(false),
            (SampleOrder::Older, Some(l)) => Err(AppendError::OutOfOrder {
                labels: labels.clone(),
                t: s.t,
                last: l.t,
            }),
            (SampleOrder::Conflict, Some(l)) => Err(AppendError::Duplicate {
                labels: labels.clone(),
                t: s.t,
                existing: l.v,
                new: s.v,
            }),
            // Older and Conflict need a newest sample.
            (SampleOrder::Older | SampleOrder::Conflict, None) => Ok(true),
        }
    }
}

/// Checks that labels can identify a series: a metric name and no empty label names.
pub fn validate_labels(labels: &Labels) -> Result<(), AppendError> {
    let invalid = |reason| {
        Err(AppendError::InvalidLabels {
            labels: labels.clone(),
            reason,
        })
    };
    if labels.is_empty() {
        return invalid("a series needs at least one label");
    }
    if labels.iter().any(|l| l.name.is_empty()) {
        return invalid("label names must not be empty");
    }
    Ok(())
}
