//! The reference store: every stream's entries in a sorted vector, in memory. Simple enough
//! to be obviously right; the conformance suite runs against it first.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use model::{Labels, Matcher};

use crate::{
    Direction, Entry, LogError, LogStore, Pushed, Reason, Refusal, Select, Stream, StreamStats,
    Visit, validate,
};

/// How many entries [`MemLogs`] hands the visitor at once.
const BATCH: usize = 256;

/// Log streams in memory, lost at exit. It refuses entries that fall more than the
/// out-of-order window behind their stream's newest (by default one hour, as Loki's
/// `max_chunk_age`/2 allows), and nothing else.
#[derive(Debug)]
pub struct MemLogs {
    window: i64,
    streams: RwLock<BTreeMap<Labels, Vec<Entry>>>,
}

impl Default for MemLogs {
    fn default() -> Self {
        Self::with_window(3_600 * 1_000_000_000)
    }
}

impl MemLogs {
    /// An empty store with the default out-of-order window.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store accepting entries up to `window` nanoseconds behind their stream's
    /// newest.
    pub fn with_window(window: i64) -> Self {
        Self {
            window,
            streams: RwLock::default(),
        }
    }
}

impl LogStore for MemLogs {
    fn push(&self, streams: &[Stream]) -> Result<Pushed, LogError> {
        validate(streams)?;
        let mut all = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        let mut pushed = Pushed::default();
        for (si, s) in streams.iter().enumerate() {
            let kept = all.entry(s.labels.clone()).or_default();
            for (ei, e) in s.entries.iter().enumerate() {
                let newest = kept.last().map_or(i64::MIN, |k| k.timestamp);
                if newest != i64::MIN && e.timestamp < newest.saturating_sub(self.window) {
                    pushed.refused.push(Refusal {
                        stream: si,
                        entry: ei,
                        reason: Reason::TooOld {
                            newest,
                            window: self.window,
                        },
                    });
                    continue;
                }
                pushed.accepted += 1;
                // After every entry of the same timestamp, so that ties keep push order.
                let at = kept.partition_point(|k| k.timestamp <= e.timestamp);
                let repeat = kept[..at]
                    .iter()
                    .rev()
                    .take_while(|k| k.timestamp == e.timestamp)
                    .any(|k| k.line == e.line);
                if !repeat {
                    kept.insert(at, e.clone());
                }
            }
            if kept.is_empty() {
                all.remove(&s.labels);
            }
        }
        Ok(pushed)
    }

    fn select(
        &self,
        select: &Select,
        visit: &mut dyn FnMut(&Labels, &[Entry]) -> Visit,
    ) -> Result<(), LogError> {
        let all = self.streams.read().unwrap_or_else(PoisonError::into_inner);
        for (labels, entries) in all.iter().filter(|(l, _)| select.matches(l)) {
            let from = entries.partition_point(|e| e.timestamp < select.start);
            let to = entries.partition_point(|e| e.timestamp < select.end);
            let window = &entries[from..to.max(from)];
            let flow = match select.direction {
                Direction::Forward => visit_batches(labels, window.chunks(BATCH), visit),
                Direction::Backward => {
                    // One batch reversed at a time, so that a visitor that stops early
                    // has not paid for copying the whole window.
                    let mut flow = Visit::Continue;
                    for chunk in window.rchunks(BATCH) {
                        let reversed: Vec<Entry> = chunk.iter().rev().cloned().collect();
                        flow = visit(labels, &reversed);
                        if flow != Visit::Continue {
                            break;
                        }
                    }
                    flow
                }
            };
            if flow == Visit::Stop {
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
        let all = self.streams.read().unwrap_or_else(PoisonError::into_inner);
        Ok(all
            .iter()
            .filter(|(l, _)| {
                matchers.is_empty() || matchers.iter().any(|m| model::matches_all(m, l))
            })
            .filter(|(_, e)| e.iter().any(|e| start <= e.timestamp && e.timestamp < end))
            .map(|(l, _)| l.clone())
            .collect())
    }

    fn stats(
        &self,
        matchers: &[Matcher],
        start: i64,
        end: i64,
    ) -> Result<Vec<StreamStats>, LogError> {
        let all = self.streams.read().unwrap_or_else(PoisonError::into_inner);
        Ok(all
            .iter()
            .filter(|(l, _)| model::matches_all(matchers, l))
            .filter_map(|(labels, entries)| {
                let inside = entries
                    .iter()
                    .filter(|e| start <= e.timestamp && e.timestamp < end);
                let (n, bytes) = inside.fold((0, 0), |(n, b), e| (n + 1, b + e.size() as u64));
                (n > 0).then(|| StreamStats {
                    labels: labels.clone(),
                    entries: n,
                    bytes,
                    chunks: 0,
                })
            })
            .collect())
    }
}

fn visit_batches<'a>(
    labels: &Labels,
    batches: impl Iterator<Item = &'a [Entry]>,
    visit: &mut dyn FnMut(&Labels, &[Entry]) -> Visit,
) -> Visit {
    for batch in batches {
        match visit(labels, batch) {
            Visit::Continue => {}
            Visit::NextStream => return Visit::NextStream,
            Visit::Stop => return Visit::Stop,
        }
    }
    Visit::Continue
}
