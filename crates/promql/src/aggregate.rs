//! Aggregation operators over the elements of a vector, per step and per group.
//!
//! A group is the labels the grouping keeps: the `by` labels, or every label but the
//! `without` ones and the metric name. `sum`, `avg`, `count`, `min`, `max`, `group`,
//! `stddev`, `stdvar`, `quantile` and `count_values` yield one element per group with the
//! group's labels; `topk` and `bottomk` keep the chosen elements with their own labels,
//! ordered best first (NaN ranks last in both, as in Prometheus).

use std::collections::{BTreeMap, HashMap};

use model::{Labels, LabelsBuilder, Sample};

use crate::ast::{AggOp, Grouping};
use crate::engine::{EvalError, Series, Stepped, Steps};
use crate::functions::{kahan_sum, mean, quantile, variance};

/// The labels of the group an element belongs to.
fn group_labels(labels: &Labels, grouping: &Grouping) -> Labels {
    if grouping.without {
        let mut b = labels.builder();
        crate::engine::remove_name(&mut b);
        for n in &grouping.labels {
            b.remove(n);
        }
        b.build()
    } else {
        let mut b = LabelsBuilder::new();
        for l in labels
            .iter()
            .filter(|l| grouping.labels.iter().any(|n| *n == l.name))
        {
            b.set(l.name, l.value);
        }
        b.build()
    }
}

/// A scalar parameter's value at each step, or a string parameter.
pub(crate) enum Param {
    None,
    Scalar(Vec<f64>),
    String(String),
}

/// Evaluates an aggregation of `series` at every step.
pub(crate) fn eval(
    op: AggOp,
    series: Vec<Series>,
    param: Param,
    grouping: &Grouping,
    steps: Steps,
) -> Result<Stepped, EvalError> {
    // Each series' group, resolved once: per step, elements are bucketed by group index.
    let mut group_ids: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    let group_of: Vec<usize> = series
        .iter()
        .map(|s| {
            let g = group_labels(&s.labels, grouping);
            *group_ids.entry(g.clone()).or_insert_with(|| {
                groups.push(g);
                groups.len() - 1
            })
        })
        .collect();
    let mut by_group: Vec<Vec<(usize, f64)>> = vec![Vec::new(); groups.len()];
    // Elements of each step: (series index, value).
    let mut at: Vec<Vec<(usize, f64)>> = vec![Vec::new(); steps.len()];
    for (i, s) in series.iter().enumerate() {
        for p in &s.points {
            if let Some(slot) = at.get_mut(((p.t - steps.start) / steps.step) as usize) {
                slot.push((i, p.v));
            }
        }
    }
    // A NaN parameter fails the query whether or not there is anything to aggregate.
    if let Param::Scalar(values) = &param
        && values.iter().any(|v| v.is_nan())
    {
        match op {
            AggOp::Topk | AggOp::Bottomk | AggOp::Limitk => {
                return Err(EvalError::Execution("Parameter value is NaN".into()));
            }
            AggOp::LimitRatio => return Err(EvalError::Execution("Ratio value is NaN".into())),
            _ => {}
        }
    }
    let param_at = |k: usize| match &param {
        Param::Scalar(v) => v.get(k).copied(),
        _ => None,
    };
    // Output in first-seen order per step, so that topk's order survives an instant query.
    // Each output series' points, and whether its name is marked for dropping.
    let mut order: Vec<Labels> = Vec::new();
    let mut out: HashMap<Labels, (Vec<Sample>, bool)> = HashMap::new();
    let mut emit = |labels: Labels, s: Sample, drop_name: bool| {
        let (points, drop) = out.entry(labels.clone()).or_insert_with(|| {
            order.push(labels);
            (Vec::new(), false)
        });
        points.push(s);
        *drop |= drop_name;
    };
    // limit_ratio's place of each series in [0, 1], computed when first needed.
    let mut offsets: Vec<Option<f64>> = vec![None; series.len()];
    for (k, t) in steps.times().enumerate() {
        for members in &mut by_group {
            members.clear();
        }
        for &(i, v) in &at[k] {
            by_group[group_of[i]].push((i, v));
        }
        for (g, members) in by_group.iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let group = &groups[g];
            let values = || members.iter().map(|(_, v)| *v);
            let n = members.len() as f64;
            let one = |v: f64| Some(v);
            let value = match op {
                AggOp::Sum => one(kahan_sum(values())),
                AggOp::Avg => one(mean(values())),
                AggOp::Count => one(n),
                AggOp::Group => one(1.0),
                AggOp::Min => extreme(values(), |a, b| b < a),
                AggOp::Max => extreme(values(), |a, b| b > a),
                AggOp::Stdvar => one(variance(values())),
                AggOp::Stddev => one(variance(values()).sqrt()),
                AggOp::Quantile => {
                    let q = param_at(k).unwrap_or(f64::NAN);
                    let mut v: Vec<f64> = values().collect();
                    one(quantile(q, &mut v))
                }
                AggOp::Topk | AggOp::Bottomk => {
                    let kk = param_at(k).unwrap_or(f64::NAN);
                    if kk.is_nan() {
                        return Err(EvalError::Execution("Parameter value is NaN".into()));
                    }
                    let keep = if kk < 1.0 {
                        0
                    } else {
                        kk.min(members.len() as f64) as usize
                    };
                    let top = op == AggOp::Topk;
                    let mut chosen = select_k(members, keep, top);
                    // Reported best first; ties keep the heap's order.
                    chosen.sort_by(|a, b| rank(a.1, b.1, top));
                    for &(i, v) in &chosen {
                        emit(
                            series[i].labels.clone(),
                            Sample::new(t, v),
                            series[i].drop_name,
                        );
                    }
                    None
                }
                AggOp::CountValues => {
                    let Param::String(label) = &param else {
                        return Err(EvalError::BadData("count_values needs a label name".into()));
                    };
                    if !is_label_name(label) {
                        return Err(EvalError::Execution(format!(
                            "invalid label name {label:?}"
                        )));
                    }
                    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
                    for v in values() {
                        *counts.entry(format_value(v)).or_default() += 1.0;
                    }
                    for (value, count) in counts {
                        let mut b = group.builder();
                        b.set(label, &value);
                        emit(b.build(), Sample::new(t, count), false);
                    }
                    None
                }
                AggOp::Limitk => {
                    // The first k elements of the group, in input order.
                    let kk = param_at(k).unwrap_or(f64::NAN);
                    let keep = if kk < 1.0 {
                        0
                    } else {
                        kk.min(members.len() as f64) as usize
                    };
                    for &(i, v) in &members[..keep] {
                        emit(
                            series[i].labels.clone(),
                            Sample::new(t, v),
                            series[i].drop_name,
                        );
                    }
                    None
                }
                AggOp::LimitRatio => {
                    let ratio = param_at(k).unwrap_or(f64::NAN).clamp(-1.0, 1.0);
                    for &(i, v) in members {
                        let offset =
                            *offsets[i].get_or_insert_with(|| hash_offset(&series[i].labels));
                        if ratio_keeps(ratio, offset) {
                            emit(
                                series[i].labels.clone(),
                                Sample::new(t, v),
                                series[i].drop_name,
                            );
                        }
                    }
                    None
                }
            };
            if let Some(v) = value {
                // Grouped by the name (`by (__name__)`), the result drops it if any member
                // was to.
                let drop_name = group.get(model::METRIC_NAME).is_some()
                    && members.iter().any(|&(i, _)| series[i].drop_name);
                emit(group.clone(), Sample::new(t, v), drop_name);
            }
        }
    }
    Ok(Stepped::Vector(
        order
            .into_iter()
            .map(|labels| {
                let (points, drop_name) = out.remove(&labels).unwrap_or_default();
                Series {
                    labels,
                    points,
                    drop_name,
                }
            })
            .collect(),
    ))
}

/// Where a series falls in [0, 1] for `limit_ratio`: its label set's hash as Prometheus
/// computes it (xxHash64 of each name and value followed by 0xff, in label order) over
/// the largest hash.
fn hash_offset(labels: &Labels) -> f64 {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for l in labels.iter() {
        h.update(l.name.as_bytes());
        h.update(&[0xff]);
        h.update(l.value.as_bytes());
        h.update(&[0xff]);
    }
    h.digest() as f64 / u64::MAX as f64
}

/// Whether `limit_ratio(ratio, ...)` keeps a series at `offset`: a positive ratio keeps
/// the offsets below it, a negative one those at or above `1 + ratio`, so that `r` and
/// `-(1 - r)` split the series between them.
fn ratio_keeps(ratio: f64, offset: f64) -> bool {
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}

/// Chooses `k` elements as Prometheus's topk (`top`) and bottomk do, ties included: a heap
/// of the first `k` elements in input order, worst at the root (NaN worst of all), where a
/// later element replaces the root only if strictly better. Go's `container/heap` sift
/// order is reproduced, because with ties it decides which equal element survives.
fn select_k(members: &[(usize, f64)], k: usize, top: bool) -> Vec<(usize, f64)> {
    // `less(a, b)`: a is worse than b, as Prometheus's vectorByValueHeap (topk) and
    // vectorByReverseValueHeap (bottomk) define it.
    let less = |a: f64, b: f64| {
        if a.is_nan() {
            return true;
        }
        if top { a < b } else { a > b }
    };
    let mut heap: Vec<(usize, f64)> = Vec::with_capacity(k);
    if k == 0 {
        return heap;
    }
    let up = |h: &mut Vec<(usize, f64)>, mut j: usize| {
        while j > 0 {
            let i = (j - 1) / 2;
            if !less(h[j].1, h[i].1) {
                break;
            }
            h.swap(i, j);
            j = i;
        }
    };
    let down = |h: &mut Vec<(usize, f64)>, i0: usize| {
        let n = h.len();
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            if j1 + 1 < n && less(h[j1 + 1].1, h[j1].1) {
                j = j1 + 1;
            }
            if !less(h[j].1, h[i].1) {
                break;
            }
            h.swap(i, j);
            i = j;
        }
        i > i0
    };
    for &m in members {
        if heap.len() < k {
            heap.push(m);
            let last = heap.len() - 1;
            up(&mut heap, last);
        } else {
            let root = heap[0].1;
            let better = if top { root < m.1 } else { root > m.1 };
            if better || (root.is_nan() && !m.1.is_nan()) {
                heap[0] = m;
                if k > 1 && !down(&mut heap, 0) {
                    up(&mut heap, 0);
                }
            }
        }
    }
    heap
}

/// Orders two values best first for topk (`top`) or bottomk, NaN last in both.
fn rank(a: f64, b: f64, top: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => Greater,
        (false, true) => Less,
        (false, false) if top => b.total_cmp(&a),
        (false, false) => a.total_cmp(&b),
    }
}

fn extreme(values: impl Iterator<Item = f64>, better: impl Fn(f64, f64) -> bool) -> Option<f64> {
    values.fold(None, |acc, v| match acc {
        None => Some(v),
        Some(a) if a.is_nan() || better(a, v) => Some(v),
        Some(a) => Some(a),
    })
}

fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Formats a value as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest decimal that
/// reads back exactly, never in exponent form.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display never uses an exponent for f64 and prints the shortest round trip.
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_ratio_splits_series_by_their_hash() {
        // xxHash64 of nothing, seed 0, is 0xef46db3751d8e999: the empty label set's hash.
        assert_eq!(
            hash_offset(&Labels::empty()),
            0xef46_db37_51d8_e999_u64 as f64 / u64::MAX as f64
        );
        let offsets: Vec<f64> = (0..200)
            .map(|i| hash_offset(&Labels::from_pairs([("i", i.to_string().as_str())])))
            .collect();
        for r in [0.0, 0.2, 0.5, 0.8, 1.0] {
            // r and -(1 - r) pick complementary sets.
            for &o in &offsets {
                assert!(ratio_keeps(r, o) != ratio_keeps(-(1.0 - r), o), "{r} {o}");
            }
        }
        let half = offsets.iter().filter(|&&o| ratio_keeps(0.5, o)).count();
        assert!((70..=130).contains(&half), "{half} of 200 kept by 0.5");
    }

    #[test]
    fn values_format_as_go_does() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn ties_resolve_as_prometheus_heap_does() {
        // k = 2 over a=5, b=5, c=7: c replaces the root a, so b survives.
        let chosen = select_k(&[(0, 5.0), (1, 5.0), (2, 7.0)], 2, true);
        let mut ids: Vec<usize> = chosen.iter().map(|(i, _)| *i).collect();
        ids.sort();
        assert_eq!(ids, [1, 2]);
        // NaN is replaced by any number.
        let chosen = select_k(&[(0, f64::NAN), (1, 1.0)], 1, true);
        assert_eq!(chosen, [(1, 1.0)]);
        let chosen = select_k(&[(0, 3.0), (1, 1.0), (2, 2.0)], 2, false);
        let mut ids: Vec<usize> = chosen.iter().map(|(i, _)| *i).collect();
        ids.sort();
        assert_eq!(ids, [1, 2]);
    }

    #[test]
    fn nan_ranks_last_for_topk_and_bottomk() {
        let mut v = [f64::NAN, 1.0, 3.0, 2.0];
        v.sort_by(|a, b| rank(*a, *b, true));
        assert_eq!(&v[..3], [3.0, 2.0, 1.0]);
        assert!(v[3].is_nan());
        v.sort_by(|a, b| rank(*a, *b, false));
        assert_eq!(&v[..3], [1.0, 2.0, 3.0]);
    }
}
