//! Exemplars: a sample's pointer to one event behind it, usually a trace, kept beside the
//! series in a bounded ring as Prometheus's exemplar storage keeps them.
//!
//! An exemplar is a few labels (`trace_id`, `span_id`), a value and a timestamp, attached to
//! one series by [`Appender::append_exemplar`](crate::Appender::append_exemplar). Stores
//! keep the newest [`DEFAULT_MAX_EXEMPLARS`] of them across all series in an
//! [`ExemplarRing`], the oldest overwritten first, and answer
//! [`Queryable::select_exemplars`](crate::Queryable::select_exemplars) from it. The rules are
//! Prometheus's (`tsdb/exemplar.go`):
//!
//! - the labels' names and values together are at most [`MAX_LABELS_LENGTH`] UTF-8
//!   characters ([`ExemplarError::LabelLength`]);
//! - an exemplar equal to its series' newest one is a duplicate, which scrapes produce every
//!   time a target repeats its exemplar: [`ExemplarError::Duplicate`], which callers drop
//!   silently;
//! - an exemplar at or before its series' newest one is out of order
//!   ([`ExemplarError::OutOfOrder`]): exemplars, unlike samples, are never replaced in place.
//!
//! The ring lives here, beside the contract, because both the reference store and the TSDB
//! keep exemplars in memory the same way; only the TSDB also logs them.

use std::collections::HashMap;

use model::{Labels, Matcher, Timestamp, matches_all};

/// Prometheus's default size of the exemplar ring (`storage.exemplars.max_exemplars`).
pub const DEFAULT_MAX_EXEMPLARS: usize = 100_000;

/// The most UTF-8 characters an exemplar's label names and values may hold together, as
/// OpenMetrics and Prometheus allow.
pub const MAX_LABELS_LENGTH: usize = 128;

/// One exemplar of a series. (`==` compares values as floats; [`same_as`](Self::same_as)
/// bit for bit.)
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Its labels, such as `trace_id` and `span_id`; may be empty.
    pub labels: Labels,
    /// The observed value.
    pub value: f64,
    /// When it was observed (ms): the exemplar's own timestamp, or the sample's.
    pub t: Timestamp,
    /// Whether `t` is the exemplar's own (OpenMetrics' optional timestamp, OTLP's time)
    /// rather than its scrape's. Two exemplars without one are the same whatever their
    /// `t`, so that a target repeating an untimed exemplar stores it once, as in
    /// Prometheus. Not persisted: an exemplar read back from the WAL has none.
    pub has_timestamp: bool,
}

impl Exemplar {
    /// Whether `other` is the same exemplar, as Prometheus's `Exemplar.Equals`: labels and
    /// value (bit for bit), and the timestamp if either has its own.
    pub fn same_as(&self, other: &Exemplar) -> bool {
        (self.t == other.t || !(self.has_timestamp || other.has_timestamp))
            && self.value.to_bits() == other.value.to_bits()
            && self.labels == other.labels
    }
}

/// A series and its exemplars in a range, as
/// [`Queryable::select_exemplars`](crate::Queryable::select_exemplars) answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarSeries {
    /// The series' labels.
    pub series: Labels,
    /// Its exemplars, oldest first.
    pub exemplars: Vec<Exemplar>,
}

/// Why an exemplar was not appended. None of these spoil the transaction: the caller goes
/// on with its other samples and exemplars.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExemplarError {
    /// The exemplar's labels are longer than [`MAX_LABELS_LENGTH`] characters together.
    #[error(
        "exemplar labels {labels} of {series} are {length} UTF-8 characters long: label length for exemplar exceeds maximum of {MAX_LABELS_LENGTH} UTF-8 characters (shorten the names or values)"
    )]
    LabelLength {
        /// The series.
        series: Labels,
        /// The exemplar's labels.
        labels: Labels,
        /// Their length in characters, names and values together.
        length: usize,
    },
    /// The exemplar is its series' newest exemplar again. Expected whenever a target repeats
    /// an exemplar between scrapes; callers drop it without a word.
    #[error("duplicate exemplar for {series}")]
    Duplicate {
        /// The series.
        series: Labels,
    },
    /// The exemplar is not newer than its series' newest exemplar.
    #[error(
        "out of order exemplar for {series}: timestamp {t} is not after the series' newest exemplar at {newest}"
    )]
    OutOfOrder {
        /// The series.
        series: Labels,
        /// The rejected exemplar's timestamp.
        t: Timestamp,
        /// The newest exemplar's timestamp.
        newest: Timestamp,
    },
    /// The store keeps no exemplars (`max_exemplars` is 0).
    #[error(
        "exemplar storage is disabled or max exemplars is less than or equal to 0 (set storage.exemplars.max_exemplars)"
    )]
    Disabled,
    /// The series itself was refused.
    #[error(transparent)]
    Series(#[from] crate::AppendError),
}

/// Checks `e` against its series' newest exemplar `newest` and its labels' length, by the
/// rules in the module documentation.
pub fn check_exemplar(
    series: &Labels,
    newest: Option<&Exemplar>,
    e: &Exemplar,
) -> Result<(), ExemplarError> {
    let length: usize = e
        .labels
        .iter()
        .map(|l| l.name.chars().count() + l.value.chars().count())
        .sum();
    if length > MAX_LABELS_LENGTH {
        return Err(ExemplarError::LabelLength {
            series: series.clone(),
            labels: e.labels.clone(),
            length,
        });
    }
    match newest {
        Some(n) if n.same_as(e) => Err(ExemplarError::Duplicate {
            series: series.clone(),
        }),
        Some(n) if e.t <= n.t => Err(ExemplarError::OutOfOrder {
            series: series.clone(),
            t: e.t,
            newest: n.t,
        }),
        _ => Ok(()),
    }
}

/// A slot of the ring: an exemplar, its series and the slot of the series' next exemplar.
#[derive(Debug, Clone)]
struct Entry {
    series: Labels,
    exemplar: Exemplar,
    next: Option<usize>,
}

/// The exemplars of all series in one circular buffer of fixed size, each series' exemplars
/// linked oldest to newest; when it is full, the oldest exemplar of all is overwritten.
///
/// Because exemplars enter in time order per series, the slot overwritten always holds the
/// oldest exemplar of its series, so unlinking it only moves that series' head.
#[derive(Debug, Clone)]
pub struct ExemplarRing {
    slots: Vec<Option<Entry>>,
    capacity: usize,
    /// The slot the next exemplar goes to.
    cursor: usize,
    /// Each series' oldest and newest slots.
    index: HashMap<Labels, (usize, usize)>,
    /// How many slots hold an exemplar.
    held: usize,
}

impl Default for ExemplarRing {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EXEMPLARS)
    }
}

impl ExemplarRing {
    /// Returns an empty ring holding at most `capacity` exemplars; 0 keeps none.
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: Vec::new(),
            capacity,
            cursor: 0,
            index: HashMap::new(),
            held: 0,
        }
    }

    /// The most exemplars the ring holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many exemplars the ring holds.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether the ring holds no exemplar.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The newest exemplar of `series`, if the ring holds one.
    pub fn newest(&self, series: &Labels) -> Option<&Exemplar> {
        let (_, newest) = self.index.get(series)?;
        self.slots[*newest].as_ref().map(|e| &e.exemplar)
    }

    /// Checks `e` as [`add`](Self::add) would, without adding it.
    pub fn validate(&self, series: &Labels, e: &Exemplar) -> Result<(), ExemplarError> {
        if self.capacity == 0 {
            return Err(ExemplarError::Disabled);
        }
        check_exemplar(series, self.newest(series), e)
    }

    /// Adds `e` to `series`, overwriting the oldest exemplar of all when the ring is full.
    pub fn add(&mut self, series: &Labels, e: Exemplar) -> Result<(), ExemplarError> {
        self.validate(series, &e)?;
        let slot = self.cursor;
        self.cursor = (self.cursor + 1) % self.capacity;
        if slot == self.slots.len() {
            self.slots.push(None);
            self.held += 1;
        } else if let Some(old) = self.slots[slot].take() {
            // The overwritten exemplar is its series' oldest: the series now starts at the
            // next one, or is gone.
            match old.next {
                Some(next) => {
                    if let Some(ends) = self.index.get_mut(&old.series) {
                        ends.0 = next;
                    }
                }
                None => {
                    self.index.remove(&old.series);
                }
            }
        }
        self.slots[slot] = Some(Entry {
            series: series.clone(),
            exemplar: e,
            next: None,
        });
        match self.index.get_mut(series) {
            Some(ends) => {
                if let Some(prev) = self.slots[ends.1].as_mut() {
                    prev.next = Some(slot);
                }
                ends.1 = slot;
            }
            None => {
                self.index.insert(series.clone(), (slot, slot));
            }
        }
        Ok(())
    }

    /// Every exemplar in `[start, end]` of the series matching at least one of the matcher
    /// sets, by series labels, each series' exemplars oldest first; series without an
    /// exemplar in range are left out.
    pub fn select(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[&[Matcher]],
    ) -> Vec<ExemplarSeries> {
        let mut out = Vec::new();
        for (series, &(oldest, _)) in &self.index {
            if !matcher_sets.iter().any(|set| matches_all(set, series)) {
                continue;
            }
            let mut exemplars = Vec::new();
            let mut at = Some(oldest);
            while let Some(entry) = at.and_then(|i| self.slots[i].as_ref()) {
                if entry.exemplar.t > end {
                    break;
                }
                if entry.exemplar.t >= start {
                    exemplars.push(entry.exemplar.clone());
                }
                at = entry.next;
            }
            if !exemplars.is_empty() {
                out.push(ExemplarSeries {
                    series: series.clone(),
                    exemplars,
                });
            }
        }
        out.sort_by(|a, b| a.series.cmp(&b.series));
        out
    }

    /// Every exemplar held with its series, oldest first across all series, as a log
    /// checkpoint writes them.
    pub fn iter_oldest_first(&self) -> impl Iterator<Item = (&Labels, &Exemplar)> {
        let (newer, older) = self.slots.split_at(self.cursor.min(self.slots.len()));
        older
            .iter()
            .chain(newer)
            .flatten()
            .map(|e| (&e.series, &e.exemplar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(t: Timestamp, v: f64, trace: &str) -> Exemplar {
        Exemplar {
            labels: Labels::from_pairs([("trace_id", trace)]),
            value: v,
            t,
            has_timestamp: true,
        }
    }

    fn series(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name)])
    }

    fn times(ring: &ExemplarRing, name: &str) -> Vec<Timestamp> {
        let m = [Matcher::equal("__name__", name)];
        ring.select(Timestamp::MIN, Timestamp::MAX, &[&m])
            .into_iter()
            .flat_map(|s| s.exemplars)
            .map(|e| e.t)
            .collect()
    }

    #[test]
    fn a_full_ring_overwrites_the_oldest_exemplar_of_all() {
        let mut ring = ExemplarRing::new(3);
        let (a, b) = (series("a"), series("b"));
        ring.add(&a, ex(1, 1.0, "x")).unwrap();
        ring.add(&b, ex(2, 1.0, "x")).unwrap();
        ring.add(&a, ex(3, 1.0, "x")).unwrap();
        assert_eq!(ring.len(), 3);
        ring.add(&b, ex(4, 1.0, "x")).unwrap(); // overwrites a@1
        assert_eq!(times(&ring, "a"), [3]);
        assert_eq!(times(&ring, "b"), [2, 4]);
        ring.add(&b, ex(5, 1.0, "x")).unwrap(); // overwrites b@2
        ring.add(&b, ex(6, 1.0, "x")).unwrap(); // overwrites a@3: a is gone
        assert_eq!(times(&ring, "a"), Vec::<Timestamp>::new());
        assert_eq!(times(&ring, "b"), [4, 5, 6]);
        assert!(ring.newest(&a).is_none());
        // A series that lost every exemplar starts again with any timestamp.
        ring.add(&a, ex(0, 1.0, "x")).unwrap();
        assert_eq!(times(&ring, "a"), [0]);
        let order: Vec<Timestamp> = ring.iter_oldest_first().map(|(_, e)| e.t).collect();
        assert_eq!(order, [5, 6, 0]);
    }

    #[test]
    fn one_series_filling_the_ring_keeps_its_newest() {
        let mut ring = ExemplarRing::new(2);
        let a = series("a");
        for t in 1..=5 {
            ring.add(&a, ex(t, t as f64, "x")).unwrap();
        }
        assert_eq!(times(&ring, "a"), [4, 5]);
    }

    #[test]
    fn a_ring_of_size_zero_is_disabled() {
        let mut ring = ExemplarRing::new(0);
        assert_eq!(
            ring.add(&series("a"), ex(1, 1.0, "x")),
            Err(ExemplarError::Disabled)
        );
    }

    #[test]
    fn label_length_counts_characters_of_names_and_values() {
        let s = series("a");
        let name = "t".repeat(8);
        let ok = Exemplar {
            labels: Labels::from_pairs([(name.as_str(), "ü".repeat(120).as_str())]),
            value: 1.0,
            t: 1,
            has_timestamp: true,
        };
        assert_eq!(check_exemplar(&s, None, &ok), Ok(()));
        let long = Exemplar {
            labels: Labels::from_pairs([(name.as_str(), "ü".repeat(121).as_str())]),
            ..ok
        };
        assert!(matches!(
            check_exemplar(&s, None, &long),
            Err(ExemplarError::LabelLength { length: 129, .. })
        ));
    }
}
