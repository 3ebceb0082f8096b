//! Postings: for each label name and value, the sorted ids of the series that have it, and
//! how matchers select series from them.
//!
//! The evaluation follows Prometheus's: matchers that cannot match an absent label
//! (`job="a"`, `job=~"a.+"`, `job!=""`) are intersected from the postings of the values they
//! match; matchers that do match an absent label (`zone=""`, `zone!="eu"`, `zone=~".*"`)
//! subtract the series whose value they reject. With only the latter kind, the subtraction
//! starts from every series.

use std::collections::BTreeMap;

use model::{MatchOp, Matcher};

/// Sorted series ids per label name and value.
#[derive(Debug, Clone, Default)]
pub struct Postings {
    by_label: BTreeMap<Box<str>, BTreeMap<Box<str>, Vec<u64>>>,
    all: Vec<u64>,
}

impl Postings {
    /// Adds a series; ids must be added in increasing order.
    pub fn add(&mut self, id: u64, labels: &model::Labels) {
        for l in labels.iter() {
            // Looked up before inserting: most series add to lists that exist.
            let values = match self.by_label.get_mut(l.name) {
                Some(values) => values,
                None => self.by_label.entry(l.name.into()).or_default(),
            };
            match values.get_mut(l.value) {
                Some(ids) => ids.push(id),
                None => {
                    values.insert(l.value.into(), vec![id]);
                }
            }
        }
        self.all.push(id);
    }

    /// Removes the series whose ids `keep` rejects.
    pub fn retain(&mut self, keep: impl Fn(u64) -> bool) {
        for values in self.by_label.values_mut() {
            for ids in values.values_mut() {
                ids.retain(|id| keep(*id));
            }
            values.retain(|_, ids| !ids.is_empty());
        }
        self.by_label.retain(|_, values| !values.is_empty());
        self.all.retain(|id| keep(*id));
    }

    /// Every series id, sorted.
    pub fn all(&self) -> &[u64] {
        &self.all
    }

    /// The values of a label name and their ids.
    pub fn values(&self, name: &str) -> impl Iterator<Item = (&str, &[u64])> {
        self.by_label
            .get(name)
            .into_iter()
            .flat_map(|v| v.iter().map(|(k, ids)| (&**k, ids.as_slice())))
    }

    /// The ids of the series satisfying every matcher, sorted.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u64> {
        let mut result: Option<Vec<u64>> = None;
        // Narrowing matchers first: they shrink the set the others subtract from.
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let ids = if m.op == MatchOp::Equal {
                self.by_label
                    .get(m.name.as_str())
                    .and_then(|v| v.get(m.value.as_str()))
                    .cloned()
                    .unwrap_or_default()
            } else {
                union(
                    self.values(&m.name)
                        .filter(|(v, _)| m.matches(v))
                        .map(|(_, ids)| ids),
                )
            };
            result = Some(match result {
                Some(r) => intersect(&r, &ids),
                None => ids,
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let mut result = result.unwrap_or_else(|| self.all.clone());
        for m in matchers.iter().filter(|m| m.matches_empty()) {
            let rejected = union(
                self.values(&m.name)
                    .filter(|(v, _)| !m.matches(v))
                    .map(|(_, ids)| ids),
            );
            result = subtract(&result, &rejected);
        }
        result
    }
}

/// The sorted union of sorted id lists.
pub fn union<'a>(lists: impl Iterator<Item = &'a [u64]>) -> Vec<u64> {
    let mut out: Vec<u64> = lists.flat_map(|l| l.iter().copied()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The sorted intersection of two sorted id lists.
pub fn intersect(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The ids of sorted `a` that are not in sorted `b`.
pub fn subtract(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut j = 0;
    a.iter()
        .copied()
        .filter(|x| {
            while j < b.len() && b[j] < *x {
                j += 1;
            }
            !(j < b.len() && b[j] == *x)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;
    use proptest::prelude::*;

    proptest! {
        /// The postings evaluation agrees with matching each series' labels directly.
        #[test]
        fn select_agrees_with_matching_labels(
            series in prop::collection::vec(prop::collection::vec((0u8..3, 0u8..3), 0..4), 1..30),
            matchers in prop::collection::vec((0u8..3, 0u8..4, 0u8..4), 1..4),
        ) {
            let names = ["a", "b", "c"];
            let values = ["x", "y", "z"];
            let labels: Vec<Labels> = series
                .iter()
                .map(|pairs| Labels::from_pairs(pairs.iter().map(|&(n, v)| (names[n as usize], values[v as usize]))))
                .collect();
            let mut postings = Postings::default();
            for (i, l) in labels.iter().enumerate() {
                postings.add(i as u64, l);
            }
            let ops = [MatchOp::Equal, MatchOp::NotEqual, MatchOp::Regex, MatchOp::NotRegex];
            let patterns = ["x", "", "x|y", ".*"];
            let matchers: Vec<Matcher> = matchers
                .iter()
                .map(|&(n, o, p)| Matcher::new(ops[o as usize], names[n as usize], patterns[p as usize]).unwrap())
                .collect();
            let want: Vec<u64> = labels
                .iter()
                .enumerate()
                .filter(|(_, l)| model::matches_all(&matchers, l))
                .map(|(i, _)| i as u64)
                .collect();
            prop_assert_eq!(postings.select(&matchers), want);
        }
    }
}
