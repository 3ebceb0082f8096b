//! The reference store: everything in memory, simple enough to be obviously right.
//!
//! It defines the contract's behaviour by example: the conformance suite runs on it first,
//! and other stores are compared against it. It is not meant to be fast or small. It keeps
//! samples' start times, and exemplars in the same ring as the TSDB.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use model::{Labels, Matcher, Sample, Timestamp, matches_all};

use crate::exemplar::check_exemplar;
use crate::{
    AppendError, Appendable, Appender, Exemplar, ExemplarError, ExemplarRing, ExemplarSeries,
    Querier, Queryable, SampleIterator, SampleOrder, SelectHints, Series, SeriesRef, SeriesSet,
    StartTimes, StorageError, VecIterator, validate_labels,
};

/// A store holding every sample in memory.
#[derive(Debug, Default)]
pub struct MemStorage {
    state: RwLock<State>,
    series_limit: Option<usize>,
    exemplars: RwLock<ExemplarRing>,
}

#[derive(Debug, Default, Clone)]
struct State {
    /// Series by ref - 1. Snapshots clone this vector; each series' samples are shared.
    series: Vec<MemSeries>,
    by_labels: HashMap<Labels, SeriesRef>,
    /// Samples dropped at commit because another transaction committed a conflict first.
    dropped_at_commit: u64,
}

#[derive(Debug, Clone)]
struct MemSeries {
    labels: Labels,
    samples: Arc<Vec<Sample>>,
    start_times: StartTimes,
}

impl MemStorage {
    /// Returns an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns an empty store that refuses to create more than `limit` series.
    pub fn with_series_limit(limit: usize) -> Self {
        Self {
            series_limit: Some(limit),
            ..Self::default()
        }
    }

    /// Returns an empty store keeping at most `max` exemplars (0: none).
    pub fn with_max_exemplars(max: usize) -> Self {
        Self {
            exemplars: RwLock::new(ExemplarRing::new(max)),
            ..Self::default()
        }
    }

    fn exemplar_ring(&self) -> std::sync::RwLockReadGuard<'_, ExemplarRing> {
        self.exemplars.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How many samples commits dropped because a concurrent commit conflicted with them.
    pub fn dropped_at_commit(&self) -> u64 {
        self.read().dropped_at_commit
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Appendable for MemStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            store: self,
            pending: Vec::new(),
            index: HashMap::new(),
            exemplars: Vec::new(),
        })
    }
}

/// An appended sample and its start time (0 if none).
type Pending = (Sample, Timestamp);

struct MemAppender<'a> {
    store: &'a MemStorage,
    /// Appended samples by series: the series' labels and its new samples in order.
    pending: Vec<(SeriesRef, Labels, Vec<Pending>)>,
    /// Where each series' entry is in `pending`.
    index: HashMap<SeriesRef, usize>,
    /// Appended exemplars with their series, in order.
    exemplars: Vec<(Labels, Exemplar)>,
}

impl Appender for MemAppender<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        self.append_with_start_time(series, labels, t, 0, v)
    }

    fn append_with_start_time(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        st: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        validate_labels(labels)?;
        // Series are created at append time, as in Prometheus's head, so that refs are
        // stable; a series with no committed sample is invisible to queries.
        let (r, committed_last) = {
            let state = self.store.read();
            let known = series
                .filter(|r| {
                    state
                        .series
                        .get(r.get() as usize - 1)
                        .is_some_and(|s| &s.labels == labels)
                })
                .or_else(|| state.by_labels.get(labels).copied());
            (
                known,
                known.and_then(|r| state.series[r.get() as usize - 1].samples.last().copied()),
            )
        };
        let r = match r {
            Some(r) => r,
            None => {
                let mut state = self.store.write();
                match state.by_labels.get(labels) {
                    Some(r) => *r,
                    None => {
                        if let Some(limit) = self.store.series_limit
                            && state.series.len() >= limit
                        {
                            return Err(AppendError::SeriesLimit {
                                labels: labels.clone(),
                                limit,
                            });
                        }
                        state.series.push(MemSeries {
                            labels: labels.clone(),
                            samples: Arc::default(),
                            start_times: Arc::default(),
                        });
                        let r = SeriesRef::new(state.series.len() as u64).unwrap_or(SeriesRef::MIN);
                        state.by_labels.insert(labels.clone(), r);
                        r
                    }
                }
            }
        };
        let slot = self.index.get(&r).copied();
        let last = slot
            .and_then(|i| self.pending[i].2.last().map(|(s, _)| *s))
            .or(committed_last);
        let sample = Sample::new(t, v);
        if SampleOrder::check(last, sample, labels)? {
            match slot {
                Some(i) => self.pending[i].2.push((sample, st)),
                None => {
                    self.index.insert(r, self.pending.len());
                    self.pending.push((r, labels.clone(), vec![(sample, st)]));
                }
            }
        }
        Ok(r)
    }

    fn append_exemplar(
        &mut self,
        _series: Option<SeriesRef>,
        labels: &Labels,
        exemplar: Exemplar,
    ) -> Result<(), ExemplarError> {
        validate_labels(labels)?;
        let ring = self.store.exemplar_ring();
        if ring.capacity() == 0 {
            return Err(ExemplarError::Disabled);
        }
        let pending = self.exemplars.iter().rev().find(|(l, _)| l == labels);
        let newest = pending.map(|(_, e)| e).or_else(|| ring.newest(labels));
        check_exemplar(labels, newest, &exemplar)?;
        drop(ring);
        self.exemplars.push((labels.clone(), exemplar));
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        if !self.exemplars.is_empty() {
            let mut ring = self
                .store
                .exemplars
                .write()
                .unwrap_or_else(|e| e.into_inner());
            for (labels, e) in self.exemplars {
                // A concurrent commit may have made it a duplicate or out of order since.
                let _ = ring.add(&labels, e);
            }
        }
        let mut state = self.store.write();
        let mut dropped = 0;
        for (r, labels, samples) in self.pending {
            let series = &mut state.series[r.get() as usize - 1];
            let stored = Arc::make_mut(&mut series.samples);
            for (s, st) in samples {
                // Another transaction may have committed this series past `s` meanwhile.
                match SampleOrder::check(stored.last().copied(), s, &labels) {
                    Ok(true) => {
                        stored.push(s);
                        if st != 0 {
                            Arc::make_mut(&mut series.start_times).insert(s.t, st);
                        }
                    }
                    Ok(false) => {}
                    Err(_) => dropped += 1,
                }
            }
        }
        state.dropped_at_commit += dropped;
        Ok(())
    }

    fn rollback(self: Box<Self>) {}
}

impl Queryable for MemStorage {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn Querier + '_>, StorageError> {
        // A snapshot: later commits replace the samples vectors, which this clone shares.
        Ok(Box::new(MemQuerier {
            series: self.read().series.clone(),
            mint,
            maxt,
        }))
    }

    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[&[Matcher]],
    ) -> Result<Vec<ExemplarSeries>, StorageError> {
        Ok(self.exemplar_ring().select(start, end, matcher_sets))
    }
}

struct MemQuerier {
    series: Vec<MemSeries>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl MemQuerier {
    fn in_range(&self, s: &MemSeries) -> Vec<Sample> {
        let lo = s.samples.partition_point(|x| x.t < self.mint);
        let hi = s.samples.partition_point(|x| x.t <= self.maxt);
        s.samples[lo..hi.max(lo)].to_vec()
    }

    fn matching(&self, matchers: &[Matcher]) -> Vec<(Labels, Vec<Sample>, StartTimes)> {
        let mut out: Vec<(Labels, Vec<Sample>, StartTimes)> = self
            .series
            .iter()
            .filter(|s| matches_all(matchers, &s.labels))
            .map(|s| (s.labels.clone(), self.in_range(s), s.start_times.clone()))
            .filter(|(_, samples, _)| !samples.is_empty())
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl Querier for MemQuerier {
    fn select(
        &self,
        _hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet<'_>, StorageError> {
        Ok(Box::new(self.matching(matchers).into_iter().map(
            |(labels, samples, start_times)| {
                let samples = if start_times.is_empty() {
                    VecIterator::new(samples)
                } else {
                    VecIterator::with_start_times(samples, start_times)
                };
                Ok(Series {
                    labels,
                    samples: Box::new(samples) as Box<dyn SampleIterator>,
                })
            },
        )))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let names: BTreeSet<String> = self
            .matching(matchers)
            .iter()
            .flat_map(|(l, _, _)| l.iter().map(|l| l.name.to_string()))
            .collect();
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let values: BTreeSet<String> = self
            .matching(matchers)
            .iter()
            .filter_map(|(l, _, _)| l.get(name).map(str::to_owned))
            .collect();
        Ok(values.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::conformance_tests!(
        crate::MemStorage::new(),
        crate::MemStorage::with_series_limit
    );

    #[test]
    fn start_times_are_kept_per_sample() {
        let store = MemStorage::new();
        let labels = Labels::from_pairs([("__name__", "c_total")]);
        let mut app = store.appender();
        app.append_with_start_time(None, &labels, 10, 5, 1.0)
            .unwrap();
        app.append(None, &labels, 20, 2.0).unwrap();
        app.append_with_start_time(None, &labels, 30, 25, 1.0)
            .unwrap();
        app.commit().unwrap();
        let querier = store.querier(0, 100).unwrap();
        let mut set = querier.select(&SelectHints::default(), &[]).unwrap();
        let mut series = set.next().unwrap().unwrap();
        let (samples, start_times) = series.samples.collect_with_start_times().unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(start_times, Some(vec![5, 0, 25]));
        // A range without any start time reports none.
        let querier = store.querier(15, 25).unwrap();
        let mut set = querier.select(&SelectHints::default(), &[]).unwrap();
        let mut series = set.next().unwrap().unwrap();
        assert_eq!(series.samples.collect_with_start_times().unwrap().1, None);
    }
}
