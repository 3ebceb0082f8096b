//! Functions over instant vectors and scalars: math, labels, sorting, dates, and the
//! functions that make vectors from scalars and back.
//!
//! Functions that compute a new value drop the metric name, as in Prometheus; those that
//! only move or relabel elements (`sort*`, `label_*`, `clamp*` aside) keep it.

use model::{Labels, MatchOp, Matcher, Sample};

use crate::ast::{LineCol, Pos};
use crate::engine::{Annotations, EvalError, Series, Stepped, Steps, computed, drop_name};

/// Whether `func` is evaluated here.
pub(crate) fn is_instant_function(func: &str) -> bool {
    math(func, 0.0).is_some()
        || matches!(
            func,
            "vector"
                | "min_of"
                | "max_of"
                | "histogram_quantile"
                | "histogram_quantiles"
                | "histogram_fraction"
                | "scalar"
                | "time"
                | "pi"
                | "round"
                | "clamp"
                | "clamp_min"
                | "clamp_max"
                | "label_replace"
                | "label_join"
                | "sort"
                | "sort_desc"
                | "sort_by_label"
                | "sort_by_label_desc"
                | "minute"
                | "hour"
                | "day_of_month"
                | "day_of_week"
                | "day_of_year"
                | "days_in_month"
                | "month"
                | "year"
        )
}

/// The value of a one-argument math function, or `None` if `func` is not one.
pub(crate) fn math(func: &str, v: f64) -> Option<f64> {
    Some(match func {
        "abs" => v.abs(),
        "ceil" => v.ceil(),
        "floor" => v.floor(),
        "exp" => v.exp(),
        "ln" => v.ln(),
        "log2" => v.log2(),
        "log10" => v.log10(),
        "sqrt" => v.sqrt(),
        "sgn" => {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }
        "sin" => v.sin(),
        "cos" => v.cos(),
        "tan" => v.tan(),
        "asin" => v.asin(),
        "acos" => v.acos(),
        "atan" => v.atan(),
        "sinh" => v.sinh(),
        "cosh" => v.cosh(),
        "tanh" => v.tanh(),
        "asinh" => v.asinh(),
        "acosh" => v.acosh(),
        "atanh" => v.atanh(),
        "deg" => v.to_degrees(),
        "rad" => v.to_radians(),
        _ => return None,
    })
}

/// Maps every point of every series (`f` gets the step's index), dropping the metric
/// name of the results.
fn map_points(
    series: Vec<Series>,
    f: impl Fn(usize, f64) -> Option<f64>,
    steps: Steps,
    delayed: bool,
) -> Result<Stepped, EvalError> {
    let mapped = series
        .into_iter()
        .filter_map(|s| {
            let points: Vec<Sample> = s
                .points
                .iter()
                .filter_map(|p| {
                    f(((p.t - steps.start) / steps.step) as usize, p.v).map(|v| Sample::new(p.t, v))
                })
                .collect();
            (!points.is_empty()).then_some(Series { points, ..s })
        })
        .collect();
    Ok(Stepped::Vector(computed(mapped, delayed)?))
}

fn scalar_arg(
    arg: Option<Stepped>,
    steps: Steps,
    default: f64,
    func: &str,
) -> Result<Vec<f64>, EvalError> {
    match arg {
        None => Ok(vec![default; steps.len()]),
        Some(Stepped::Scalar(v)) => Ok(v),
        Some(_) => Err(EvalError::BadData(format!(
            "expected a scalar argument to {func}"
        ))),
    }
}

fn string_arg(arg: Option<&Stepped>, func: &str) -> Result<String, EvalError> {
    match arg {
        Some(Stepped::String(s)) => Ok(s.clone()),
        _ => Err(EvalError::BadData(format!(
            "expected a string argument to {func}"
        ))),
    }
}

/// Evaluates `func` on already evaluated arguments.
pub(crate) fn eval(
    func: &str,
    mut args: Vec<Stepped>,
    steps: Steps,
    pos: &Pos,
    notes: &mut Annotations,
    delayed: bool,
) -> Result<Stepped, EvalError> {
    let times = || steps.times().map(|t| t as f64 / 1000.0);
    if func == "time" {
        return Ok(Stepped::Scalar(times().collect()));
    }
    if func == "pi" {
        return Ok(Stepped::Scalar(vec![std::f64::consts::PI; steps.len()]));
    }
    if func == "min_of" || func == "max_of" {
        let [a, b] = <[Stepped; 2]>::try_from(args)
            .map_err(|_| EvalError::BadData(format!("{func} takes 2 arguments")))?;
        let (a, b) = (
            scalar_arg(Some(a), steps, f64::NAN, func)?,
            scalar_arg(Some(b), steps, f64::NAN, func)?,
        );
        let pick = |(x, y): (f64, f64)| match () {
            _ if x.is_nan() || y.is_nan() => f64::NAN,
            _ if func == "min_of" => x.min(y),
            _ => x.max(y),
        };
        return Ok(Stepped::Scalar(a.into_iter().zip(b).map(pick).collect()));
    }
    if func == "vector" {
        let v = scalar_arg(args.pop(), steps, f64::NAN, func)?;
        let points = steps
            .times()
            .zip(v)
            .map(|(t, v)| Sample::new(t, v))
            .collect();
        return Ok(Stepped::Vector(vec![Series::new(Labels::empty(), points)]));
    }
    let is_date = matches!(
        func,
        "minute"
            | "hour"
            | "day_of_month"
            | "day_of_week"
            | "day_of_year"
            | "days_in_month"
            | "month"
            | "year"
    );
    if is_date && args.is_empty() {
        let points: Vec<Sample> = steps
            .times()
            .map(|t| Sample::new(t, date_part(func, t as f64 / 1000.0)))
            .collect();
        return Ok(Stepped::Vector(vec![Series::new(Labels::empty(), points)]));
    }
    if func == "histogram_quantile" {
        let [q, v] = <[Stepped; 2]>::try_from(args)
            .map_err(|_| EvalError::BadData("histogram_quantile takes 2 arguments".into()))?;
        let q = scalar_arg(Some(q), steps, f64::NAN, func)?;
        notes.check_quantiles(&q, pos.arg(0));
        let Stepped::Vector(series) = v else {
            return Err(EvalError::BadData(
                "histogram_quantile takes an instant vector".into(),
            ));
        };
        let histograms = classic_histograms(series, steps, notes, pos.arg(1));
        return Ok(Stepped::Vector(crate::engine::merge_same_labels(
            per_histogram(histograms, steps, notes, pos.arg(1), |k, buckets| {
                bucket_quantile(q[k], buckets)
            }),
        )?));
    }
    if func == "histogram_fraction" {
        let [lower, upper, v] = <[Stepped; 3]>::try_from(args)
            .map_err(|_| EvalError::BadData("histogram_fraction takes 3 arguments".into()))?;
        let lower = scalar_arg(Some(lower), steps, f64::NAN, func)?;
        let upper = scalar_arg(Some(upper), steps, f64::NAN, func)?;
        let Stepped::Vector(series) = v else {
            return Err(EvalError::BadData(
                "histogram_fraction takes an instant vector".into(),
            ));
        };
        let histograms = classic_histograms(series, steps, notes, pos.arg(2));
        return Ok(Stepped::Vector(crate::engine::merge_same_labels(
            histograms
                .into_iter()
                .filter_map(|h| {
                    h.map_steps(steps, |k, buckets| {
                        bucket_fraction(lower[k], upper[k], buckets)
                    })
                })
                .collect(),
        )?));
    }
    if func == "histogram_quantiles" {
        let mut args = args.into_iter();
        let (Some(Stepped::Vector(series)), Some(Stepped::String(label))) =
            (args.next(), args.next())
        else {
            return Err(EvalError::BadData(
                "histogram_quantiles takes an instant vector, a label name and quantiles".into(),
            ));
        };
        let qs = args
            .map(|q| scalar_arg(Some(q), steps, f64::NAN, func))
            .collect::<Result<Vec<_>, _>>()?;
        for (i, q) in qs.iter().enumerate() {
            notes.check_quantiles(q, pos.arg(2 + i));
        }
        let histograms = classic_histograms(series, steps, notes, pos.arg(0));
        return Ok(Stepped::Vector(crate::engine::merge_same_labels(
            histogram_quantiles(histograms, &label, &qs, steps, notes, pos.arg(0))?,
        )?));
    }
    let mut rest = args.split_off(1.min(args.len()));
    let Some(Stepped::Vector(series)) = args.pop() else {
        return Err(EvalError::BadData(format!(
            "expected an instant vector as the first argument of {func}"
        )));
    };
    if func == "scalar" {
        let mut values = vec![None; steps.len()];
        let mut counts = vec![0usize; steps.len()];
        for s in &series {
            for p in &s.points {
                let k = ((p.t - steps.start) / steps.step) as usize;
                counts[k] += 1;
                values[k] = Some(p.v);
            }
        }
        return Ok(Stepped::Scalar(
            values
                .into_iter()
                .zip(counts)
                .map(|(v, n)| {
                    if n == 1 {
                        v.unwrap_or(f64::NAN)
                    } else {
                        f64::NAN
                    }
                })
                .collect(),
        ));
    }
    if math(func, 0.0).is_some() {
        return map_points(series, |_, v| math(func, v), steps, delayed);
    }
    if is_date {
        return map_points(series, |_, v| Some(date_part(func, v)), steps, delayed);
    }
    match func {
        "round" => {
            let to = scalar_arg(rest.pop(), steps, 1.0, func)?;
            map_points(
                series,
                |k, v| {
                    let inverse = 1.0 / to[k];
                    Some((v * inverse + 0.5).floor() / inverse)
                },
                steps,
                delayed,
            )
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let (lo, hi) = match func {
                "clamp" => {
                    let hi = scalar_arg(rest.pop(), steps, f64::NAN, func)?;
                    (scalar_arg(rest.pop(), steps, f64::NAN, func)?, hi)
                }
                "clamp_min" => (
                    scalar_arg(rest.pop(), steps, f64::NAN, func)?,
                    vec![f64::INFINITY; steps.len()],
                ),
                _ => (
                    vec![f64::NEG_INFINITY; steps.len()],
                    scalar_arg(rest.pop(), steps, f64::NAN, func)?,
                ),
            };
            map_points(
                series,
                |k, v| {
                    if func == "clamp" && hi[k] < lo[k] {
                        return None;
                    }
                    // Go's math.Max and math.Min, which Prometheus uses, propagate NaN.
                    if v.is_nan() || lo[k].is_nan() || hi[k].is_nan() {
                        return Some(f64::NAN);
                    }
                    Some(v.max(lo[k]).min(hi[k]))
                },
                steps,
                delayed,
            )
        }
        "sort" | "sort_desc" => {
            let mut series = series;
            let value = |s: &Series| s.points.first().map_or(f64::NAN, |p| p.v);
            // NaN sorts last in both directions, as in Prometheus.
            series.sort_by(|a, b| {
                let (x, y) = (value(a), value(b));
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if func == "sort" => x.total_cmp(&y),
                    _ => y.total_cmp(&x),
                }
            });
            Ok(Stepped::Vector(series))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let names: Vec<String> = rest
                .iter()
                .map(|a| string_arg(Some(a), func))
                .collect::<Result<_, _>>()?;
            let mut series = series;
            series.sort_by(|a, b| {
                let key = |s: &Series| -> Vec<String> {
                    names
                        .iter()
                        .map(|n| s.labels.get(n).unwrap_or("").to_owned())
                        .collect()
                };
                let ord = natural_cmp_list(&key(a), &key(b)).then_with(|| a.labels.cmp(&b.labels));
                if func == "sort_by_label" {
                    ord
                } else {
                    ord.reverse()
                }
            });
            Ok(Stepped::Vector(series))
        }
        "label_replace" => {
            let [dst, replacement, src, regex] = rest.as_slice() else {
                return Err(EvalError::BadData("label_replace takes 5 arguments".into()));
            };
            let (dst, replacement, src, regex) = (
                string_arg(Some(dst), func)?,
                string_arg(Some(replacement), func)?,
                string_arg(Some(src), func)?,
                string_arg(Some(regex), func)?,
            );
            let re = model::anchored_regex(&regex).map_err(|e| {
                EvalError::BadData(format!(
                    "invalid regular expression in label_replace(): {}: {e}",
                    model::shorten(&regex)
                ))
            })?;
            if !is_label_name(&dst) {
                return Err(EvalError::BadData(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let out = series
                .into_iter()
                .map(|s| {
                    let value = s.labels.get(&src).unwrap_or("");
                    let labels = match re.captures(value) {
                        Some(caps) => {
                            let mut expanded = String::new();
                            caps.expand(&replacement, &mut expanded);
                            let mut b = s.labels.builder();
                            b.set(&dst, &expanded);
                            b.build()
                        }
                        None => s.labels,
                    };
                    Series {
                        labels,
                        points: s.points,
                        // A name written by the query itself stays.
                        drop_name: s.drop_name && dst != model::METRIC_NAME,
                    }
                })
                .collect();
            Ok(Stepped::Vector(crate::engine::merge_same_labels(out)?))
        }
        "label_join" => {
            if rest.len() < 2 {
                return Err(EvalError::BadData(
                    "label_join takes at least 3 arguments".into(),
                ));
            }
            let dst = string_arg(rest.first(), func)?;
            let sep = string_arg(rest.get(1), func)?;
            let srcs: Vec<String> = rest[2..]
                .iter()
                .map(|a| string_arg(Some(a), func))
                .collect::<Result<_, _>>()?;
            if !is_label_name(&dst) {
                return Err(EvalError::BadData(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let out = series
                .into_iter()
                .map(|s| {
                    let joined: Vec<&str> =
                        srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
                    let mut b = s.labels.builder();
                    b.set(&dst, &joined.join(&sep));
                    Series {
                        labels: b.build(),
                        points: s.points,
                        drop_name: s.drop_name && dst != model::METRIC_NAME,
                    }
                })
                .collect();
            Ok(Stepped::Vector(crate::engine::merge_same_labels(out)?))
        }
        other => Err(EvalError::Execution(format!(
            "not implemented yet: function call {other}"
        ))),
    }
}

/// A classic histogram's buckets at each step: `(upper bound, cumulative count)` pairs,
/// unsorted.
type StepBuckets = Vec<Vec<(f64, f64)>>;

/// One classic histogram: the bucket series that differ only in `le`.
struct Classic {
    /// The labels without `le` and the metric name: the result's.
    labels: Labels,
    /// The bucket series' metric name, for annotations.
    name: String,
    /// Its buckets at each step.
    per_step: StepBuckets,
}

impl Classic {
    /// The series of `f` of the buckets at each step where there are any (`f` gets the
    /// step's index), or `None` if there are none.
    fn map_steps(
        self,
        steps: Steps,
        mut f: impl FnMut(usize, &mut [(f64, f64)]) -> f64,
    ) -> Option<Series> {
        let points: Vec<Sample> = self
            .per_step
            .into_iter()
            .zip(steps.times())
            .enumerate()
            .filter(|(_, (buckets, _))| !buckets.is_empty())
            .map(|(k, (mut buckets, t))| Sample::new(t, f(k, &mut buckets)))
            .collect();
        (!points.is_empty()).then_some(Series::new(self.labels, points))
    }
}

/// The classic histograms among `series`, the argument at `at`. Series without a valid
/// `le` are left out, with a warning.
fn classic_histograms(
    series: Vec<Series>,
    steps: Steps,
    notes: &mut Annotations,
    at: LineCol,
) -> Vec<Classic> {
    use std::collections::BTreeMap;
    // Grouped with the metric name, so that two histograms that differ only in name
    // collide in the result rather than mix their buckets.
    let mut groups: BTreeMap<Labels, StepBuckets> = BTreeMap::new();
    for s in series {
        let name = s.labels.get(model::METRIC_NAME).unwrap_or("");
        let le = s.labels.get("le").unwrap_or("");
        let Some(upper) = textparse_le(le) else {
            notes.warn(
                format_args!(
                    "bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"
                ),
                at,
            );
            continue;
        };
        let mut b = s.labels.builder();
        b.remove("le");
        let per_step = groups
            .entry(b.build())
            .or_insert_with(|| vec![Vec::new(); steps.len()]);
        for p in &s.points {
            if let Some(slot) = per_step.get_mut(((p.t - steps.start) / steps.step) as usize) {
                slot.push((upper, p.v));
            }
        }
    }
    groups
        .into_iter()
        .map(|(labels, per_step)| Classic {
            name: labels.get(model::METRIC_NAME).unwrap_or("").to_owned(),
            labels: drop_name(&labels),
            per_step,
        })
        .collect()
}

/// `histogram_quantile` of each histogram at each step, noting a histogram whose counts
/// had to be made monotonic.
fn per_histogram(
    histograms: Vec<Classic>,
    steps: Steps,
    notes: &mut Annotations,
    at: LineCol,
    f: impl Fn(usize, &mut [(f64, f64)]) -> f64,
) -> Vec<Series> {
    histograms
        .into_iter()
        .filter_map(|h| {
            let name = h.name.clone();
            let mut forced = false;
            let series = h.map_steps(steps, |k, buckets| {
                forced |= decreases(buckets);
                f(k, buckets)
            });
            if forced {
                notes.info(monotonicity(&name), at);
            }
            series
        })
        .collect()
}

fn monotonicity(name: &str) -> String {
    format!(
        "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"
    )
}

/// Whether cumulative bucket counts decrease somewhere by more than float noise, once
/// sorted by upper bound (which this does).
fn decreases(buckets: &mut [(f64, f64)]) -> bool {
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut prev = match buckets.first() {
        Some(b) => b.1,
        None => return false,
    };
    for b in &buckets[1..] {
        if b.1 == prev || crate::runner::almost_equal_tolerance(prev, b.1, 1e-12) {
            continue;
        }
        if b.1 < prev {
            return true;
        }
        prev = b.1;
    }
    false
}

/// `histogram_quantiles(v, label, q...)`: each quantile of each histogram, as a series
/// with `label` set to the quantile. It fails if the histograms already have `label`.
fn histogram_quantiles(
    histograms: Vec<Classic>,
    label: &str,
    qs: &[Vec<f64>],
    steps: Steps,
    notes: &mut Annotations,
    at: LineCol,
) -> Result<Vec<Series>, EvalError> {
    if !is_label_name(label) {
        return Err(EvalError::BadData(format!("invalid label name {label:?}")));
    }
    let mut out = Vec::with_capacity(histograms.len() * qs.len());
    for mut h in histograms {
        if h.labels.get(label).is_some() {
            return Err(EvalError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
        if h.per_step.iter_mut().any(|b| decreases(b)) {
            notes.info(monotonicity(&h.name), at);
        }
        for q in qs {
            // Each step's point goes to the series labelled with that step's quantile.
            let mut by_quantile: Vec<(String, Vec<Sample>)> = Vec::new();
            for (k, (buckets, t)) in h.per_step.iter().zip(steps.times()).enumerate() {
                if buckets.is_empty() {
                    continue;
                }
                let point = Sample::new(t, bucket_quantile(q[k], &mut buckets.clone()));
                let value = label_float(q[k]);
                match by_quantile.iter_mut().find(|(v, _)| *v == value) {
                    Some((_, points)) => points.push(point),
                    None => by_quantile.push((value, vec![point])),
                }
            }
            for (value, points) in by_quantile {
                let mut b = h.labels.builder();
                b.set(label, &value);
                out.push(Series::new(b.build(), points));
            }
        }
    }
    Ok(out)
}

/// A float as Prometheus 3 writes it in `le` and `quantile` labels: with a decimal point.
fn label_float(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = v.to_string();
    if v.is_finite() && !s.contains(['.', 'e']) {
        format!("{s}.0")
    } else {
        s
    }
}

/// The estimated share of the observations of cumulative `(upper bound, count)` buckets
/// that lie between `lower` and `upper`, as Prometheus estimates it: linearly within a
/// bucket, except that a bucket of infinite width holds its observations at its infinite
/// end. The first bucket starts at 0 if its upper bound is positive, else at -Inf.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    // The number of observations at or below `x`.
    let rank = |x: f64| -> f64 {
        if x == f64::NEG_INFINITY {
            return 0.0;
        }
        let mut below = 0.0;
        let mut lo = if buckets[0].0 > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        for &(hi, cumulative) in buckets.iter() {
            let count = cumulative - below;
            if x <= lo {
                return below;
            }
            if x < hi {
                return match () {
                    _ if lo == f64::NEG_INFINITY => cumulative,
                    _ if hi == f64::INFINITY => below,
                    _ => below + count * (x - lo) / (hi - lo),
                };
            }
            (below, lo) = (cumulative, hi);
        }
        total
    };
    if total == 0.0 {
        return f64::NAN;
    }
    ((rank(upper) - rank(lower)) / total).max(0.0)
}

/// Parses an `le` label value as Prometheus does (`+Inf` included).
fn textparse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        _ => s.parse().ok(),
    }
}

/// Prometheus's `bucketQuantile`: the φ-quantile of cumulative `(upper bound, count)`
/// buckets, interpolated linearly within the bucket that holds the rank.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Buckets with the same upper bound (from series that differ in other ways) add up.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    // Counts must not decrease; tiny floating-point deltas are evened out.
    let mut prev = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        if b.1 == prev {
            continue;
        }
        if crate::runner::almost_equal_tolerance(prev, b.1, 1e-12) || b.1 < prev {
            b.1 = prev;
            continue;
        }
        prev = b.1;
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let n = merged.len();
    let b = merged[..n - 1].partition_point(|x| x.1 < rank);
    if b == n - 1 {
        return merged[n - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Compares label values as Prometheus's `sort_by_label` does: numbers inside strings by
/// value ("natural" order).
fn natural_cmp_list(a: &[String], b: &[String]) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = natural_cmp(x, y);
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..nx], &y[..ny]);
                let strip = |d: &[u8]| d.iter().skip_while(|c| **c == b'0').count();
                let o = strip(dx).cmp(&strip(dy)).then_with(|| {
                    let tx = &dx[dx.len() - strip(dx)..];
                    let ty = &dy[dy.len() - strip(dy)..];
                    tx.cmp(ty)
                });
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// A date part of a Unix time in seconds, in UTC.
fn date_part(func: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let s = secs.floor() as i64;
    let days = s.div_euclid(86_400);
    let sod = s.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_mar = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_mar + 2) / 153;
    let day = doy_mar - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let day_of_year = cumulative[(month - 1) as usize] + day + i64::from(leap && month > 2);
    (match func {
        "minute" => sod / 60 % 60,
        "hour" => sod / 3600,
        "day_of_month" => day,
        "day_of_week" => (days + 4).rem_euclid(7),
        "day_of_year" => day_of_year,
        "days_in_month" => match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        },
        "month" => month,
        _ => year,
    }) as f64
}

/// The labels `absent()` gives its result: the equality matchers of a selector argument,
/// except on labels that have more than one matcher.
pub(crate) fn absent_labels(matchers: &[Matcher]) -> Labels {
    let mut seen: Vec<&str> = Vec::new();
    let mut duplicated: Vec<&str> = Vec::new();
    for m in matchers {
        if seen.contains(&m.name.as_str()) {
            duplicated.push(&m.name);
        }
        seen.push(&m.name);
    }
    Labels::from_pairs(
        matchers
            .iter()
            .filter(|m| {
                m.op == MatchOp::Equal
                    && m.name != model::METRIC_NAME
                    && !duplicated.contains(&m.name.as_str())
            })
            .map(|m| (m.name.as_str(), m.value.as_str())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        // 2024-02-29T13:45:00Z, a Thursday.
        let t = 1_709_214_300.0;
        let parts: Vec<f64> = [
            "year",
            "month",
            "day_of_month",
            "hour",
            "minute",
            "day_of_week",
            "day_of_year",
            "days_in_month",
        ]
        .iter()
        .map(|f| date_part(f, t))
        .collect();
        assert_eq!(parts, [2024.0, 2.0, 29.0, 13.0, 45.0, 4.0, 60.0, 29.0]);
        assert_eq!(date_part("year", 0.0), 1970.0);
    }

    #[test]
    fn bucket_quantile_interpolates_within_the_bucket() {
        // 10 observations: 5 <= 0.1, 8 <= 0.5, 10 <= +Inf.
        let mut b = [(0.5, 8.0), (f64::INFINITY, 10.0), (0.1, 5.0)];
        // Rank 5 of 10 is the top of the first bucket.
        assert_eq!(bucket_quantile(0.5, &mut b.clone()), 0.1);
        // Rank 6.5: 1.5 of the 3 in (0.1, 0.5].
        assert!((bucket_quantile(0.65, &mut b.clone()) - 0.3).abs() < 1e-12);
        // Ranks in the +Inf bucket report the highest finite bound.
        assert_eq!(bucket_quantile(0.99, &mut b), 0.5);
        assert!(
            bucket_quantile(0.5, &mut [(0.1, 1.0)]).is_nan(),
            "no +Inf bucket"
        );
        // A decreasing count (a scrape racing a reset) is forced monotonic.
        let mut b = [(0.1, 5.0), (0.5, 4.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.5, &mut b), 0.1);
    }

    #[test]
    fn natural_order_compares_numbers_by_value() {
        let mut v = vec!["a10", "a2", "a1", "b"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a1", "a2", "a10", "b"]);
    }
}
