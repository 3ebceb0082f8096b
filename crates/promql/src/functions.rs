//! Functions over range vectors: the value of each series' window at each step.

use model::Sample;

use crate::engine::EvalError;

/// Whether a function over a range vector keeps the metric name in its result.
pub(crate) fn keeps_name(func: &str) -> bool {
    matches!(func, "last_over_time" | "first_over_time")
}

/// Tells whether `func` takes a range vector as its (last) argument and is evaluated here.
pub(crate) fn is_range_function(func: &str) -> bool {
    matches!(
        func,
        "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "changes"
            | "resets"
            | "avg_over_time"
            | "min_over_time"
            | "max_over_time"
            | "sum_over_time"
            | "count_over_time"
            | "last_over_time"
            | "first_over_time"
            | "ts_of_last_over_time"
            | "ts_of_first_over_time"
            | "ts_of_min_over_time"
            | "ts_of_max_over_time"
            | "double_exponential_smoothing"
            | "present_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "quantile_over_time"
            | "mad_over_time"
            | "deriv"
            | "predict_linear"
            | "absent_over_time"
    )
}

/// Computes `func` over one window ending at `t` of length `range` (ms); `sts` are the
/// window's samples' start times if the series has any; `params` are the scalar arguments
/// at this step, where the function has them (`quantile_over_time`, `predict_linear`,
/// `double_exponential_smoothing`). `None` means the series has no value at this step.
/// `step_t` is the evaluation time, which `predict_linear` extrapolates from even when `@`
/// moved the window to end at `t`.
pub(crate) fn range_function(
    func: &str,
    window: &[Sample],
    sts: Option<&[i64]>,
    t: i64,
    range: i64,
    params: &[f64],
    step_t: i64,
) -> Option<f64> {
    let values = || window.iter().map(|s| s.v);
    let param = params.first().copied().unwrap_or(f64::NAN);
    match func {
        "rate" => extrapolated(window, sts, t - range, t, true, true),
        "increase" => extrapolated(window, sts, t - range, t, true, false),
        "delta" => extrapolated(window, None, t - range, t, false, false),
        "irate" | "idelta" => {
            let [.., prev, last] = window else {
                return None;
            };
            let reset = last.v < prev.v
                || sts.is_some_and(|sts| start_time_reset(window, sts, window.len() - 1));
            let diff = if func == "irate" && reset {
                last.v
            } else {
                last.v - prev.v
            };
            if func == "irate" {
                let secs = (last.t - prev.t) as f64 / 1000.0;
                (secs > 0.0).then(|| diff / secs)
            } else {
                Some(diff)
            }
        }
        "changes" | "resets" => {
            let first = window.first()?;
            let mut prev = first.v;
            let mut n = 0.0;
            for (i, s) in window.iter().enumerate().skip(1) {
                let counted = if func == "changes" {
                    s.v != prev && !(s.v.is_nan() && prev.is_nan())
                } else {
                    s.v < prev || sts.is_some_and(|sts| start_time_reset(window, sts, i))
                };
                if counted {
                    n += 1.0;
                }
                prev = s.v;
            }
            Some(n)
        }
        "count_over_time" => (!window.is_empty()).then_some(window.len() as f64),
        "present_over_time" => (!window.is_empty()).then_some(1.0),
        "last_over_time" => window.last().map(|s| s.v),
        "first_over_time" => window.first().map(|s| s.v),
        "ts_of_last_over_time" => window.last().map(|s| seconds(s.t)),
        "ts_of_first_over_time" => window.first().map(|s| seconds(s.t)),
        "ts_of_min_over_time" => extreme_at(window, |a, b| b < a).map(|s| seconds(s.t)),
        "ts_of_max_over_time" => extreme_at(window, |a, b| b > a).map(|s| seconds(s.t)),
        "double_exponential_smoothing" => double_exponential_smoothing(window, param, params[1]),
        "sum_over_time" => (!window.is_empty()).then(|| kahan_sum(values())),
        "avg_over_time" => (!window.is_empty()).then(|| mean(values())),
        "min_over_time" => fold_extreme(values(), |a, b| b < a),
        "max_over_time" => fold_extreme(values(), |a, b| b > a),
        "stdvar_over_time" => (!window.is_empty()).then(|| variance(values())),
        "stddev_over_time" => (!window.is_empty()).then(|| variance(values()).sqrt()),
        "quantile_over_time" => {
            let mut v: Vec<f64> = values().collect();
            (!v.is_empty()).then(|| quantile(param, &mut v))
        }
        "deriv" => {
            if window.len() < 2 {
                return None;
            }
            linear_regression(window, window[0].t).map(|(slope, _)| slope)
        }
        "predict_linear" => {
            if window.len() < 2 {
                return None;
            }
            linear_regression(window, step_t).map(|(slope, intercept)| intercept + slope * param)
        }
        "mad_over_time" => {
            let mut v: Vec<f64> = values().collect();
            if v.is_empty() {
                return None;
            }
            if v.iter().any(|x| x.is_nan()) {
                return Some(f64::NAN);
            }
            let median = quantile(0.5, &mut v);
            let mut deviations: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
            Some(quantile(0.5, &mut deviations))
        }
        _ => None,
    }
}

fn seconds(t: i64) -> f64 {
    t as f64 / 1000.0
}

/// The first sample whose value no later one `beats`; NaN loses to any number.
fn extreme_at(window: &[Sample], beats: impl Fn(f64, f64) -> bool) -> Option<&Sample> {
    let mut best = window.first()?;
    for s in &window[1..] {
        if beats(best.v, s.v) || (best.v.is_nan() && !s.v.is_nan()) {
            best = s;
        }
    }
    Some(best)
}

/// Fails unless both factors of `double_exponential_smoothing` are in (0, 1) at every step,
/// as Prometheus does.
pub(crate) fn check_smoothing_factors(params: &[Vec<f64>]) -> Result<(), EvalError> {
    let [sf, tf] = params else {
        return Err(EvalError::BadData(
            "double_exponential_smoothing takes a range vector and two scalars".into(),
        ));
    };
    for (&sf, &tf) in sf.iter().zip(tf) {
        if !(sf > 0.0 && sf < 1.0) {
            return Err(EvalError::Execution(format!(
                "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
            )));
        }
        if !(tf > 0.0 && tf < 1.0) {
            return Err(EvalError::Execution(format!(
                "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
            )));
        }
    }
    Ok(())
}

/// Holt's linear smoothing of the window's values with smoothing factor `sf` and trend
/// factor `tf`: the smoothed value at the last sample.
fn double_exponential_smoothing(window: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    let [first, second, ..] = window else {
        return None;
    };
    let (mut previous, mut smoothed) = (0.0, first.v);
    let mut trend = second.v - first.v;
    for (i, s) in window.iter().enumerate().skip(1) {
        if i > 1 {
            trend = tf * (smoothed - previous) + (1.0 - tf) * trend;
        }
        let next = sf * s.v + (1.0 - sf) * (smoothed + trend);
        (previous, smoothed) = (smoothed, next);
    }
    Some(smoothed)
}

/// The least-squares line through the samples, with time in seconds from `intercept_time`:
/// `(slope, intercept)`. A constant series has slope 0 (and no line if it is infinite).
fn linear_regression(samples: &[Sample], intercept_time: i64) -> Option<(f64, f64)> {
    let first = samples[0].v;
    if samples.iter().all(|s| s.v == first) {
        return (!first.is_infinite()).then_some((0.0, first));
    }
    let n = samples.len() as f64;
    let xs = || {
        samples
            .iter()
            .map(|s| (s.t - intercept_time) as f64 / 1000.0)
    };
    let sum_x = kahan_sum(xs());
    let sum_y = kahan_sum(samples.iter().map(|s| s.v));
    let sum_xy = kahan_sum(xs().zip(samples).map(|(x, s)| x * s.v));
    let sum_x2 = kahan_sum(xs().map(|x| x * x));
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    Some((slope, sum_y / n - slope * sum_x / n))
}

/// Prometheus's extrapolated rate over the window `(start, end]` (ms): the difference
/// between the first and last samples (adding back counter resets), extrapolated towards
/// the window's ends by at most half an average sample interval, and not below zero for
/// counters.
///
/// With start times (`sts`, one per sample, 0 if unknown), a counter also resets where a
/// sample's start time says so ([`start_time_reset`]), and when the first sample's start
/// time is valid and inside the window the count is taken from zero at that time instead
/// of extrapolating to the window's start.
fn extrapolated(
    window: &[Sample],
    sts: Option<&[i64]>,
    start: i64,
    end: i64,
    counter: bool,
    per_second: bool,
) -> Option<f64> {
    let (first, last) = (window.first()?, window.last()?);
    let mut result = last.v - first.v;
    if counter {
        let mut prev = first.v;
        for (i, s) in window.iter().enumerate().skip(1) {
            if s.v < prev || sts.is_some_and(|sts| start_time_reset(window, sts, i)) {
                result += prev;
            }
            prev = s.v;
        }
    }
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let average = (window.len() > 1).then(|| sampled / (window.len() - 1) as f64);
    let mut factor = match sts.map(|sts| sts[0]) {
        Some(st) if counter && valid_start_time(st, first) && st > start => {
            // Counted from zero at the start time: only the right end is extrapolated.
            result += first.v;
            let counted = (last.t - st) as f64 / 1000.0;
            let to_end = match average {
                Some(average) => capped_gap((end - last.t) as f64 / 1000.0, average),
                None => 0.0,
            };
            (counted + to_end) / counted
        }
        _ => {
            let average = average?;
            let mut to_start = capped_gap((first.t - start) as f64 / 1000.0, average);
            if counter && result > 0.0 && first.v >= 0.0 {
                // A counter cannot go below zero: do not extrapolate past where it would be
                // 0. This applies after the cap, as in Prometheus.
                let to_zero = sampled * (first.v / result);
                if to_zero < to_start {
                    to_start = to_zero;
                }
            }
            let to_end = capped_gap((end - last.t) as f64 / 1000.0, average);
            (sampled + to_start + to_end) / sampled
        }
    };
    if per_second {
        factor /= (end - start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// How far to extrapolate over a gap of `gap` seconds between the samples and a window's
/// edge: all of it if the samples come within 110% of their average interval of the edge,
/// else half an interval (the series seems to start or end inside the window).
fn capped_gap(gap: f64, average: f64) -> f64 {
    if gap >= average * 1.1 {
        average / 2.0
    } else {
        gap
    }
}

/// Whether a start time is usable: known (not 0) and before its sample.
fn valid_start_time(st: i64, sample: &Sample) -> bool {
    st != 0 && st < sample.t
}

/// Whether sample `i` of `window` starts a new count by its start time `sts[i]`: the start
/// time is valid and after the previous sample, or at it while the previous sample's start
/// time is valid too (each sample a delta since the one before). A start time at the
/// previous sample after an unknown or invalid one is a cumulative series with an unknown
/// start, not a reset.
pub(crate) fn start_time_reset(window: &[Sample], sts: &[i64], i: usize) -> bool {
    let (st, prev) = (sts[i], &window[i - 1]);
    valid_start_time(st, &window[i])
        && (st > prev.t || (st == prev.t && valid_start_time(sts[i - 1], prev)))
}

/// Whether a start time overlaps the sample before: known, before the previous sample,
/// and not the previous sample's own start time.
pub(crate) fn start_time_overlaps(sts: &[i64], window: &[Sample], i: usize) -> bool {
    let st = sts[i];
    st != 0 && st < window[i - 1].t && st != sts[i - 1]
}

/// Sums with Kahan-Babuška compensation, as Prometheus does, so that long windows keep
/// precision.
pub(crate) fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for v in values {
        let t = sum + v;
        if sum.is_infinite() || t.is_infinite() {
            sum = t;
            c = 0.0;
            continue;
        }
        if sum.abs() >= v.abs() {
            c += (sum - t) + v;
        } else {
            c += (v - t) + sum;
        }
        sum = t;
    }
    sum + c
}

/// The mean, as Prometheus computes it: the Kahan sum divided by the count while that sum
/// stays finite (or an input is infinite or NaN), else an incremental mean that scales
/// before adding, `m · (n-1)/n + x/n`, so that it never overflows on finite inputs.
pub(crate) fn mean(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = values.clone().count() as f64;
    let sum = kahan_sum(values.clone());
    if sum.is_finite() || values.clone().any(|v| !v.is_finite()) {
        return sum / n;
    }
    let mut m = 0.0;
    for (i, v) in values.enumerate() {
        let count = (i + 1) as f64;
        m = m * ((count - 1.0) / count) + v / count;
    }
    m
}

/// The population variance, by Welford's algorithm.
pub(crate) fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        let d = v - mean;
        mean += d / n;
        m2 += d * (v - mean);
    }
    m2 / n
}

/// The extreme by `better`, where NaN loses to any number (so NaN only if all are NaN).
fn fold_extreme(
    values: impl Iterator<Item = f64>,
    better: impl Fn(f64, f64) -> bool,
) -> Option<f64> {
    values.fold(None, |acc, v| match acc {
        None => Some(v),
        Some(a) if a.is_nan() || better(a, v) => Some(v),
        Some(a) => Some(a),
    })
}

/// The φ-quantile by linear interpolation between closest ranks, as Prometheus's
/// `quantile`: `-Inf` below 0, `+Inf` above 1, NaN for NaN.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go's sort order, which Prometheus inherits: NaN before every number.
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    #[test]
    fn rate_extrapolates_to_the_window_edges() {
        // 0+10x10 every 30s; rate over 5m at 5m: samples at 30s..300s (0 at t=0 is outside
        // the left-open window).
        let window = w(&(1..=10)
            .map(|i| (i * 30_000, (i * 10) as f64))
            .collect::<Vec<_>>());
        let r = range_function("rate", &window, None, 300_000, 300_000, &[], 0).unwrap();
        assert!((r - 1.0 / 3.0).abs() < 1e-9, "{r}");
        let inc = range_function("increase", &window, None, 300_000, 300_000, &[], 0).unwrap();
        assert!((inc - 100.0).abs() < 1e-9, "{inc}");
        assert_eq!(
            range_function("rate", &w(&[(0, 1.0)]), None, 300_000, 300_000, &[], 0),
            None
        );
    }

    #[test]
    fn counter_resets_are_added_back() {
        let window = w(&[
            (60_000, 10.0),
            (120_000, 20.0),
            (180_000, 5.0),
            (240_000, 15.0),
        ]);
        // 10 -> 20 (+10), reset to 5 (+5 from zero), -> 15 (+10): 25 over 3 minutes. The
        // window (30s, 270s] starts and ends 30s from the samples, within 110% of the 60s
        // interval: extrapolated to both edges, 25 * 240/180.
        let inc = range_function("increase", &window, None, 270_000, 240_000, &[], 0).unwrap();
        assert!((inc - 25.0 * 240.0 / 180.0).abs() < 1e-9, "{inc}");
        assert_eq!(
            range_function("resets", &window, None, 0, 0, &[], 0),
            Some(1.0)
        );
        assert_eq!(
            range_function("irate", &window, None, 0, 0, &[], 0),
            Some(10.0 / 60.0)
        );
    }

    #[test]
    fn over_time_aggregates() {
        let window = w(&[(1, 1.0), (2, f64::NAN), (3, 4.0), (4, 2.0)]);
        assert_eq!(
            range_function("max_over_time", &window, None, 0, 0, &[], 0),
            Some(4.0)
        );
        assert_eq!(
            range_function("min_over_time", &window, None, 0, 0, &[], 0),
            Some(1.0)
        );
        assert_eq!(
            range_function("count_over_time", &window, None, 0, 0, &[], 0),
            Some(4.0)
        );
        assert_eq!(
            range_function("changes", &window, None, 0, 0, &[], 0),
            Some(3.0)
        );
        let clean = w(&[(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)]);
        assert_eq!(
            range_function("avg_over_time", &clean, None, 0, 0, &[], 0),
            Some(2.5)
        );
        assert_eq!(
            range_function("quantile_over_time", &clean, None, 0, 0, &[0.5], 0),
            Some(2.5)
        );
        assert_eq!(
            range_function("stdvar_over_time", &clean, None, 0, 0, &[], 0),
            Some(1.25)
        );
        assert_eq!(
            range_function("quantile_over_time", &clean, None, 0, 0, &[2.0], 0),
            Some(f64::INFINITY)
        );
    }
}
