//! The streams in memory: each stream's labels, head, frozen head and chunks, found by
//! label set and by label postings.
//!
//! A stream costs its label set (one allocation, shared with the map that finds it by
//! labels), a slot of a few words, and a stream ID (4 bytes) in one posting list per label;
//! nothing grows with time but its chunk list. So a million streams cost some hundreds of
//! megabytes at worst, in proportion, with no limit to fall off but
//! [`Options::max_streams`](crate::Options::max_streams).

use std::collections::HashMap;
use std::sync::Arc;

use logs::{Entry, Labels, Matcher};
use model::MatchOp;

use crate::segment::ChunkMeta;

/// One stream.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) labels: Labels,
    /// Entries since the last cut, sorted by timestamp, ties in push order.
    pub(crate) head: Vec<Entry>,
    /// Entries of the cut being written, in the same order.
    pub(crate) frozen: Option<Arc<Vec<Entry>>>,
    /// Chunks on disk, oldest written first.
    pub(crate) chunks: Vec<Arc<ChunkMeta>>,
    /// The newest timestamp accepted: the out-of-order window is counted back from it.
    pub(crate) newest: i64,
}

impl StreamState {
    fn new(labels: Labels) -> Self {
        Self {
            labels,
            head: Vec::new(),
            frozen: None,
            chunks: Vec::new(),
            newest: i64::MIN,
        }
    }

    /// Whether the stream holds nothing at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_empty() && self.frozen.is_none() && self.chunks.is_empty()
    }

    /// Whether the stream has an entry in `[start, end)`, judging chunks by their time
    /// range (a chunk spanning the window without an entry inside counts).
    pub(crate) fn may_have(&self, start: i64, end: i64) -> bool {
        let mem = |e: &[Entry]| {
            let from = e.partition_point(|x| x.timestamp < start);
            e.get(from).is_some_and(|x| x.timestamp < end)
        };
        mem(&self.head)
            || self.frozen.as_ref().is_some_and(|f| mem(f))
            || self
                .chunks
                .iter()
                .any(|c| c.min_time < end && c.max_time >= start)
    }

    /// Inserts `e` in timestamp order after entries of the same time, unless an entry with
    /// the same time and line is in the head already. Returns the bytes added.
    pub(crate) fn insert(&mut self, e: Entry) -> usize {
        self.newest = self.newest.max(e.timestamp);
        let head = &mut self.head;
        if head.last().is_none_or(|l| l.timestamp < e.timestamp) {
            let n = e.line.len();
            head.push(e);
            return n;
        }
        let at = head.partition_point(|k| k.timestamp <= e.timestamp);
        let repeat = head[..at]
            .iter()
            .rev()
            .take_while(|k| k.timestamp == e.timestamp)
            .any(|k| k.line == e.line);
        if repeat {
            return 0;
        }
        let n = e.line.len();
        head.insert(at, e);
        n
    }
}

/// Every stream, by ID, by labels and by label postings.
#[derive(Debug, Default)]
pub(crate) struct Index {
    slots: Vec<Option<StreamState>>,
    free: Vec<u32>,
    by_labels: HashMap<Labels, u32>,
    /// Label name, then value, then the sorted IDs of the streams with it.
    postings: HashMap<Box<str>, HashMap<Box<str>, Vec<u32>>>,
}

impl Index {
    /// Streams held.
    pub(crate) fn len(&self) -> usize {
        self.by_labels.len()
    }

    /// The ID of the stream with `labels`.
    pub(crate) fn find(&self, labels: &Labels) -> Option<u32> {
        self.by_labels.get(labels).copied()
    }

    /// The stream with `id`.
    pub(crate) fn get(&self, id: u32) -> Option<&StreamState> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// The stream with `id`, to change.
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut StreamState> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// The ID of the stream with `labels`, created if new.
    pub(crate) fn get_or_create(&mut self, labels: &Labels) -> u32 {
        if let Some(id) = self.find(labels) {
            return id;
        }
        let state = Some(StreamState::new(labels.clone()));
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = state;
                id
            }
            None => {
                self.slots.push(state);
                (self.slots.len() - 1) as u32
            }
        };
        self.by_labels.insert(labels.clone(), id);
        for l in labels.iter() {
            let list = self
                .postings
                .entry(l.name.into())
                .or_default()
                .entry(l.value.into())
                .or_default();
            let at = list.partition_point(|x| *x < id);
            list.insert(at, id);
        }
        id
    }

    /// Forgets the stream with `id`.
    pub(crate) fn remove(&mut self, id: u32) {
        let Some(state) = self.slots.get_mut(id as usize).and_then(Option::take) else {
            return;
        };
        self.by_labels.remove(&state.labels);
        for l in state.labels.iter() {
            if let Some(values) = self.postings.get_mut(l.name) {
                if let Some(list) = values.get_mut(l.value) {
                    list.retain(|x| *x != id);
                    if list.is_empty() {
                        values.remove(l.value);
                    }
                }
                if values.is_empty() {
                    self.postings.remove(l.name);
                }
            }
        }
        self.free.push(id);
    }

    /// Every stream, with its ID.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &StreamState)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
    }

    /// Every stream, to change.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut StreamState> {
        self.slots.iter_mut().flatten()
    }

    /// The IDs of the streams matching all `matchers`, sorted by their labels. Equality
    /// matchers with a non-empty value narrow the candidates by postings (intersected,
    /// smallest list first); the rest are checked on each candidate's labels.
    pub(crate) fn matching(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut lists: Vec<&[u32]> = Vec::new();
        for m in matchers {
            if m.op == MatchOp::Equal && !m.value.is_empty() {
                match self
                    .postings
                    .get(m.name.as_str())
                    .and_then(|v| v.get(m.value.as_str()))
                {
                    Some(list) => lists.push(list),
                    None => return Vec::new(),
                }
            }
        }
        lists.sort_by_key(|l| l.len());
        let candidates: Vec<u32> = match lists.split_first() {
            Some((first, rest)) => first
                .iter()
                .copied()
                .filter(|id| rest.iter().all(|l| l.binary_search(id).is_ok()))
                .collect(),
            None => self.iter().map(|(id, _)| id).collect(),
        };
        let mut out: Vec<(u32, &Labels)> = candidates
            .into_iter()
            .filter_map(|id| self.get(id).map(|s| (id, &s.labels)))
            .filter(|(_, l)| model::matches_all(matchers, l))
            .collect();
        out.sort_by(|a, b| a.1.cmp(b.1));
        out.into_iter().map(|(id, _)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn postings_narrow_and_matchers_decide() {
        let mut idx = Index::default();
        let a = idx.get_or_create(&labels(&[("job", "node"), ("level", "info")]));
        let b = idx.get_or_create(&labels(&[("job", "node"), ("level", "warn")]));
        let c = idx.get_or_create(&labels(&[("job", "api")]));
        assert_eq!(idx.get_or_create(&labels(&[("job", "api")])), c);
        assert_eq!(idx.matching(&[Matcher::equal("job", "node")]), [a, b]);
        let not_info = Matcher::new(MatchOp::NotEqual, "level", "info").unwrap();
        assert_eq!(idx.matching(std::slice::from_ref(&not_info)), [c, b]);
        assert_eq!(idx.matching(&[Matcher::equal("job", "none")]), []);
        idx.remove(a);
        assert_eq!(idx.matching(&[Matcher::equal("job", "node")]), [b]);
        assert_eq!(idx.len(), 2);
        let d = idx.get_or_create(&labels(&[("job", "node"), ("level", "debug")]));
        assert_eq!(d, a, "a freed ID is reused");
        assert_eq!(idx.matching(&[Matcher::equal("job", "node")]), [d, b]);
    }
}
