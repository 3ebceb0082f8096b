//! Binary operators: arithmetic, comparisons and set operators, with vector matching.
//!
//! Vectors are matched step by step. Two elements match when their labels agree on the
//! `on` labels, or on all labels but the `ignoring` ones and the metric name. One-to-one
//! matching needs unique signatures on both sides; `group_left` lets many left elements
//! share one right element (`group_right` the reverse) and copies the listed labels from
//! the "one" side. Arithmetic drops the metric name; a comparison without `bool` filters,
//! keeping the left value and the name; with `bool` it yields 0 or 1 and drops the name.

use std::collections::{BTreeMap, HashMap};

use model::{Labels, LabelsBuilder, Sample};

use crate::ast::{BinOp, Cardinality, VectorMatching};
use crate::engine::{EvalError, Series, Stepped, Steps, computed};

/// Applies an arithmetic or comparison operator to two numbers; `None` when a comparison
/// without `bool` filters the element out.
fn apply(op: BinOp, l: f64, r: f64, return_bool: bool) -> Option<f64> {
    let cmp = |b: bool| {
        if return_bool {
            Some(if b { 1.0 } else { 0.0 })
        } else {
            b.then_some(l)
        }
    };
    match op {
        BinOp::Add => Some(l + r),
        BinOp::Sub => Some(l - r),
        BinOp::Mul => Some(l * r),
        BinOp::Div => Some(l / r),
        BinOp::Mod => Some(l % r),
        BinOp::Pow => Some(l.powf(r)),
        BinOp::Atan2 => Some(l.atan2(r)),
        BinOp::Eq => cmp(l == r),
        BinOp::Ne => cmp(l != r),
        BinOp::Gt => cmp(l > r),
        BinOp::Lt => cmp(l < r),
        BinOp::Ge => cmp(l >= r),
        BinOp::Le => cmp(l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => None,
    }
}

/// Whether the operator's result is a new quantity, losing the metric name.
fn drops_name(op: BinOp, return_bool: bool) -> bool {
    !op.is_set() && (!op.is_comparison() || return_bool)
}

/// Formats labels as Prometheus does in error messages: `{__name__="a", b="c"}`.
pub(crate) fn prometheus_string(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The elements of each step: `(series index, value)`.
fn by_step(series: &[Series], steps: Steps) -> Vec<Vec<(usize, f64)>> {
    let mut out = vec![Vec::new(); steps.len()];
    for (i, s) in series.iter().enumerate() {
        for p in &s.points {
            let k = ((p.t - steps.start) / steps.step) as usize;
            if let Some(slot) = out.get_mut(k) {
                slot.push((i, p.v));
            }
        }
    }
    out
}

/// Per-step results by labels, each with whether its name is marked for dropping.
type Results = BTreeMap<Labels, (Vec<Sample>, bool)>;

/// Collects per-step results into series sorted by labels.
fn collect(points: Results) -> Stepped {
    Stepped::Vector(
        points
            .into_iter()
            .map(|(labels, (points, drop_name))| Series {
                labels,
                points,
                drop_name,
            })
            .collect(),
    )
}

/// Adds a result point to the series with `labels`.
fn add(out: &mut Results, labels: &Labels, drop_name: bool, point: Sample) {
    let (points, drop) = out.entry(labels.clone()).or_default();
    points.push(point);
    *drop |= drop_name;
}

/// Evaluates `lhs op rhs`.
pub(crate) fn eval(
    op: BinOp,
    lhs: Stepped,
    rhs: Stepped,
    matching: Option<&VectorMatching>,
    return_bool: bool,
    steps: Steps,
    delayed: bool,
) -> Result<Stepped, EvalError> {
    match (lhs, rhs) {
        (Stepped::Scalar(l), Stepped::Scalar(r)) => Ok(Stepped::Scalar(
            l.iter()
                .zip(&r)
                .map(|(a, b)| apply(op, *a, *b, true).unwrap_or(f64::NAN))
                .collect(),
        )),
        (Stepped::Vector(v), Stepped::Scalar(s)) => {
            vector_scalar(op, v, &s, false, return_bool, steps, delayed)
        }
        (Stepped::Scalar(s), Stepped::Vector(v)) => {
            vector_scalar(op, v, &s, true, return_bool, steps, delayed)
        }
        (Stepped::Vector(l), Stepped::Vector(r)) => {
            let default = VectorMatching {
                card: if op.is_set() {
                    Cardinality::ManyToMany
                } else {
                    Cardinality::OneToOne
                },
                on: false,
                labels: Vec::new(),
                include: Vec::new(),
            };
            let matching = matching.unwrap_or(&default);
            if op.is_set() {
                Ok(set_op(op, l, r, matching, steps))
            } else {
                vector_vector(op, l, r, matching, return_bool, steps, delayed)
            }
        }
        _ => Err(EvalError::BadData(
            "binary operations are not defined on strings".into(),
        )),
    }
}

fn vector_scalar(
    op: BinOp,
    v: Vec<Series>,
    s: &[f64],
    scalar_left: bool,
    return_bool: bool,
    steps: Steps,
    delayed: bool,
) -> Result<Stepped, EvalError> {
    let drop = drops_name(op, return_bool);
    let mut out = Vec::with_capacity(v.len());
    for series in v {
        let points: Vec<Sample> = series
            .points
            .iter()
            .filter_map(|p| {
                let k = ((p.t - steps.start) / steps.step) as usize;
                let sv = *s.get(k)?;
                let value = if scalar_left {
                    // A filter keeps the vector's value, whichever side it is on.
                    apply(op, sv, p.v, return_bool).map(|x| {
                        if op.is_comparison() && !return_bool {
                            p.v
                        } else {
                            x
                        }
                    })
                } else {
                    apply(op, p.v, sv, return_bool)
                };
                value.map(|x| Sample::new(p.t, x))
            })
            .collect();
        if !points.is_empty() {
            out.push(Series { points, ..series });
        }
    }
    Ok(Stepped::Vector(if drop {
        computed(out, delayed)?
    } else {
        out
    }))
}

/// The labels two elements are matched on. Without `on`, the metric name never counts;
/// for the set operators (`set`), neither do the metric's type and unit, so that a computed
/// value still finds its series.
fn signature(labels: &Labels, matching: &VectorMatching, set: bool) -> Labels {
    if matching.on {
        let mut b = LabelsBuilder::new();
        for l in labels
            .iter()
            .filter(|l| matching.labels.iter().any(|n| *n == l.name))
        {
            b.set(l.name, l.value);
        }
        b.build()
    } else {
        let mut b = labels.builder();
        if set {
            crate::engine::remove_name(&mut b);
        } else {
            b.remove(model::METRIC_NAME);
        }
        for n in &matching.labels {
            b.remove(n);
        }
        b.build()
    }
}

fn set_op(
    op: BinOp,
    l: Vec<Series>,
    r: Vec<Series>,
    matching: &VectorMatching,
    steps: Steps,
) -> Stepped {
    let (ls, rs) = (by_step(&l, steps), by_step(&r, steps));
    let lsig: Vec<Labels> = l
        .iter()
        .map(|s| signature(&s.labels, matching, true))
        .collect();
    let rsig: Vec<Labels> = r
        .iter()
        .map(|s| signature(&s.labels, matching, true))
        .collect();
    let mut out = Results::new();
    for (k, t) in steps.times().enumerate() {
        let right: std::collections::HashSet<&Labels> =
            rs[k].iter().map(|(i, _)| &rsig[*i]).collect();
        match op {
            BinOp::And | BinOp::Unless => {
                for (i, v) in &ls[k] {
                    if right.contains(&lsig[*i]) == (op == BinOp::And) {
                        add(&mut out, &l[*i].labels, l[*i].drop_name, Sample::new(t, *v));
                    }
                }
            }
            _ => {
                let left: std::collections::HashSet<&Labels> =
                    ls[k].iter().map(|(i, _)| &lsig[*i]).collect();
                for (i, v) in &ls[k] {
                    add(&mut out, &l[*i].labels, l[*i].drop_name, Sample::new(t, *v));
                }
                for (i, v) in &rs[k] {
                    if !left.contains(&rsig[*i]) {
                        add(&mut out, &r[*i].labels, r[*i].drop_name, Sample::new(t, *v));
                    }
                }
            }
        }
    }
    for (points, _) in out.values_mut() {
        points.sort_by_key(|p| p.t);
    }
    collect(out)
}

fn vector_vector(
    op: BinOp,
    l: Vec<Series>,
    r: Vec<Series>,
    matching: &VectorMatching,
    return_bool: bool,
    steps: Steps,
    delayed: bool,
) -> Result<Stepped, EvalError> {
    // With group_right the right side is the "many" side: swap, and swap the values back
    // when applying the operator.
    let swapped = matching.card == Cardinality::OneToMany;
    let (many, one) = if swapped { (&r, &l) } else { (&l, &r) };
    let (ms, os) = (by_step(many, steps), by_step(one, steps));
    let msig: Vec<Labels> = many
        .iter()
        .map(|s| signature(&s.labels, matching, false))
        .collect();
    let osig: Vec<Labels> = one
        .iter()
        .map(|s| signature(&s.labels, matching, false))
        .collect();
    let drop = drops_name(op, return_bool);
    let mut out = Results::new();
    for (k, t) in steps.times().enumerate() {
        let mut one_by_sig: HashMap<&Labels, (usize, f64)> = HashMap::new();
        for &(i, v) in &os[k] {
            if let Some((other, _)) = one_by_sig.insert(&osig[i], (i, v)) {
                let side = if swapped { "left" } else { "right" };
                return Err(EvalError::Execution(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    prometheus_string(&osig[i]),
                    prometheus_string(&one[other].labels),
                    prometheus_string(&one[i].labels),
                )));
            }
        }
        let mut seen: HashMap<Labels, ()> = HashMap::new();
        let mut matched_sigs: HashMap<&Labels, usize> = HashMap::new();
        for &(i, mv) in &ms[k] {
            let Some(&(j, ov)) = one_by_sig.get(&msig[i]) else {
                continue;
            };
            if matching.card == Cardinality::OneToOne {
                let n = matched_sigs.entry(&msig[i]).or_default();
                *n += 1;
                if *n > 1 {
                    return Err(EvalError::Execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                    ));
                }
            }
            let (lv, rv) = if swapped { (ov, mv) } else { (mv, ov) };
            let Some(value) = apply(op, lv, rv, return_bool) else {
                continue;
            };
            // The result takes the many side's labels.
            let mut b = many[i].labels.builder();
            if drop && !delayed {
                crate::engine::remove_name(&mut b);
            }
            let drop_name = if drop { delayed } else { many[i].drop_name };
            if matching.card == Cardinality::OneToOne {
                if matching.on {
                    b = LabelsBuilder::new();
                    for x in many[i]
                        .labels
                        .iter()
                        .filter(|x| matching.labels.iter().any(|n| *n == x.name))
                    {
                        b.set(x.name, x.value);
                    }
                } else {
                    for n in &matching.labels {
                        b.remove(n);
                    }
                }
            }
            for n in &matching.include {
                match one[j].labels.get(n) {
                    Some(v) => b.set(n, v),
                    None => b.remove(n),
                };
            }
            let labels = b.build();
            if seen.insert(labels.clone(), ()).is_some() {
                return Err(EvalError::Execution(
                    "multiple matches for labels: grouping labels must ensure unique matches"
                        .into(),
                ));
            }
            // A filter keeps the left operand's value.
            let value = if op.is_comparison() && !return_bool {
                lv
            } else {
                value
            };
            add(&mut out, &labels, drop_name, Sample::new(t, value));
        }
    }
    Ok(collect(out))
}
