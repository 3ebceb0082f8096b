//! Evaluation over any [`LogStore`]: log queries (the newest or oldest lines through the
//! pipeline, grouped into streams) and metric queries (range aggregations stepped as Loki
//! steps them, then vector aggregations, binary operations and `label_replace` step by
//! step, as Prometheus's engine does, which Loki's follows).

use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use logs::{Direction, Entry, LogStore, Select, Visit};
use model::{Labels, LabelsBuilder, MatchOp};

use crate::ast::*;
use crate::parser::vector_name;
use crate::pipeline::{self, Builder, ERR_SAMPLE, LabelsResult, process};
use crate::{EvalError, Limits, Params, ResultEntry, Sample, Series, Stats, StreamResult, Value};

/// Runs `expr`.
pub(crate) fn eval(
    store: &dyn LogStore,
    expr: &Expr,
    params: &Params,
    limits: &Limits,
) -> Result<(Value, Stats), EvalError> {
    let began = Instant::now();
    let mut stats = Stats::default();
    if params.end < params.start {
        return Err(EvalError::Invalid(format!(
            "the end ({}) is before the start ({}); swap them",
            params.end, params.start
        )));
    }
    let value = match expr {
        Expr::Log(_) if params.step <= 0 && params.start == params.end => {
            return Err(EvalError::Invalid(
                "log queries are not supported as an instant query type, please change your query to a range query type".into(),
            ));
        }
        Expr::Log(l) => eval_log(store, l, params, limits, &mut stats)?,
        Expr::Metric(m) => {
            let steps = steps(params, limits)?;
            let mut ctx = Ctx {
                store,
                params,
                limits,
                steps: &steps,
                stats: &mut stats,
            };
            let v = ctx.metric(m, None)?;
            // Loki promises no order but `sort`'s and `sort_desc`'s; the others come sorted
            // by labels, so that answers are stable.
            let by_value = matches!(m, MetricExpr::Vector(v) if matches!(v.op, VectorOp::Sort | VectorOp::SortDesc));
            finish(v, &steps, params, limits, by_value)?
        }
    };
    stats.exec_time = began.elapsed().as_secs_f64();
    if let Value::Streams(s) = &value {
        stats.entries_returned = s.iter().map(|s| s.entries.len() as u64).sum();
    }
    Ok((value, stats))
}

fn steps(params: &Params, limits: &Limits) -> Result<Vec<i64>, EvalError> {
    if params.step <= 0 {
        return Ok(vec![params.end]);
    }
    let n = (params.end - params.start) / params.step + 1;
    if n as u64 > limits.max_points as u64 {
        return Err(EvalError::Limit(format!(
            "exceeded maximum resolution of {} points per timeseries ({n} asked); increase the step or shorten the range",
            limits.max_points
        )));
    }
    Ok((0..n).map(|i| params.start + i * params.step).collect())
}

// ---- log queries ----

/// One kept line, ordered so that the heap's top is the line to give up first.
struct Kept {
    key: (i64, u64),
    backward: bool,
    line: String,
    labels: LabelsResult,
}

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Kept {
    /// The worst line is the greatest: going backward the oldest (then the latest seen),
    /// going forward the newest.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.backward {
            (std::cmp::Reverse(self.key.0), self.key.1)
                .cmp(&(std::cmp::Reverse(other.key.0), other.key.1))
        } else {
            self.key.cmp(&other.key)
        }
    }
}

fn eval_log(
    store: &dyn LogStore,
    l: &LogExpr,
    params: &Params,
    limits: &Limits,
    stats: &mut Stats,
) -> Result<Value, EvalError> {
    if params.limit > limits.max_entries {
        return Err(EvalError::Limit(format!(
            "max entries limit per query exceeded, limit > max_entries_limit_per_query ({} > {})",
            params.limit, limits.max_entries
        )));
    }
    let backward = params.direction == Direction::Backward;
    // Log queries read [start, end), as Loki's do.
    let mut select =
        Select::new(l.matchers.clone(), params.start, params.end).direction(params.direction);
    select.contains = l.contains_hints();
    let mut heap: BinaryHeap<Kept> = BinaryHeap::new();
    let mut seq = 0u64;
    let limit = params.limit;
    let mut next_allowed: Option<i64> = None;
    let mut current: Option<Labels> = None;
    store
        .select(&select, &mut |labels: &Labels, entries: &[Entry]| {
            if current.as_ref() != Some(labels) {
                current = Some(labels.clone());
                next_allowed = None;
            }
            for e in entries {
                stats.lines += 1;
                stats.bytes += e.size() as u64;
                if limit == 0 {
                    return Visit::Stop;
                }
                if heap.len() >= limit
                    && let Some(worst) = heap.peek()
                {
                    let worse = if backward {
                        e.timestamp <= worst.key.0
                    } else {
                        e.timestamp >= worst.key.0
                    };
                    if worse {
                        return Visit::NextStream;
                    }
                }
                let Some(p) = process(&l.stages, e.timestamp, &e.line, labels, &e.metadata) else {
                    continue;
                };
                // `interval`: per stream, lines at least this far apart.
                if let Some(interval) = params.interval.filter(|i| *i > 0) {
                    if let Some(next) = next_allowed {
                        let early = if backward {
                            e.timestamp > next
                        } else {
                            e.timestamp < next
                        };
                        if early {
                            continue;
                        }
                    }
                    next_allowed = Some(if backward {
                        e.timestamp - interval
                    } else {
                        e.timestamp + interval
                    });
                }
                stats.post_filter_lines += 1;
                let result = match &p.labels {
                    Some(b) => b.result(),
                    None => pipeline::plain_result(labels, &e.metadata),
                };
                seq += 1;
                heap.push(Kept {
                    key: (e.timestamp, seq),
                    backward,
                    line: p.line.into_owned(),
                    labels: result,
                });
                if heap.len() > limit {
                    heap.pop();
                }
            }
            Visit::Continue
        })
        .map_err(EvalError::Store)?;
    let mut kept = heap.into_vec();
    kept.sort();
    let mut streams: Vec<StreamResult> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for k in kept {
        let i = *index.entry(k.labels.all.clone()).or_insert_with(|| {
            streams.push(StreamResult {
                labels: k.labels.all.clone(),
                entries: Vec::new(),
            });
            streams.len() - 1
        });
        streams[i].entries.push(ResultEntry {
            timestamp: k.key.0,
            line: k.line,
            stream: k.labels.stream,
            metadata: k.labels.metadata,
            parsed: k.labels.parsed,
        });
    }
    streams.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Value::Streams(streams))
}

// ---- metric queries ----

/// A metric value while evaluating: a number, or one vector per step.
enum Val {
    Scalar(f64),
    Steps(Vec<Vec<(Labels, f64)>>),
}

struct Ctx<'a> {
    store: &'a dyn LogStore,
    params: &'a Params,
    limits: &'a Limits,
    steps: &'a [i64],
    stats: &'a mut Stats,
}

fn check_series(n: usize, limits: &Limits) -> Result<(), EvalError> {
    if n > limits.max_series {
        return Err(EvalError::Limit(format!(
            "maximum number of series ({}) reached for a single query; add stream selectors or aggregate (sum by (...)) to return fewer, or raise max_query_series",
            limits.max_series
        )));
    }
    Ok(())
}

impl Ctx<'_> {
    fn metric(&mut self, m: &MetricExpr, pushed: Option<&Grouping>) -> Result<Val, EvalError> {
        match m {
            MetricExpr::Literal(v) => Ok(Val::Scalar(*v)),
            MetricExpr::VectorLiteral(v) => Ok(Val::Steps(
                self.steps
                    .iter()
                    .map(|_| vec![(Labels::empty(), *v)])
                    .collect(),
            )),
            MetricExpr::Range(r) => self.range(r, pushed),
            MetricExpr::Vector(v) => self.vector(v),
            MetricExpr::Binary(b) => self.binary(b),
            MetricExpr::LabelReplace(l) => {
                let inner = self.metric(&l.expr, None)?;
                let Val::Steps(steps) = inner else {
                    return Ok(inner);
                };
                Ok(Val::Steps(
                    steps
                        .into_iter()
                        .map(|v| {
                            v.into_iter()
                                .map(|(labels, x)| (label_replace(l, &labels), x))
                                .collect()
                        })
                        .collect(),
                ))
            }
        }
    }

    fn vector(&mut self, v: &VectorAggregation) -> Result<Val, EvalError> {
        // Loki's grouping push-down: a sum by (...) of count, rate, bytes or sum_over_time
        // gives the same numbers when lines are grouped as they are read, without a series
        // per stream in between.
        let pushed = match (&v.expr, v.op) {
            (MetricExpr::Range(r), VectorOp::Sum)
                if r.grouping.is_none()
                    && matches!(
                        r.op,
                        RangeOp::CountOverTime
                            | RangeOp::Rate
                            | RangeOp::BytesOverTime
                            | RangeOp::BytesRate
                            | RangeOp::SumOverTime
                    ) =>
            {
                Some(v.grouping.clone().unwrap_or(Grouping {
                    without: false,
                    labels: Vec::new(),
                }))
            }
            _ => None,
        };
        let inner = self.metric(&v.expr, pushed.as_ref())?;
        let Val::Steps(steps) = inner else {
            return Err(EvalError::Invalid(format!(
                "{} needs a vector, not a number",
                vector_name(v.op)
            )));
        };
        Ok(Val::Steps(
            steps
                .into_iter()
                .map(|samples| aggregate(v, samples))
                .collect(),
        ))
    }

    fn range(&mut self, r: &RangeAggregation, pushed: Option<&Grouping>) -> Result<Val, EvalError> {
        let lr = &r.range;
        let first = self.steps.first().copied().unwrap_or(self.params.end);
        let last = self.steps.last().copied().unwrap_or(self.params.end);
        // Windows are (t - offset - range, t - offset]; the store's are [start, end).
        let select_start = first
            .saturating_sub(lr.offset)
            .saturating_sub(lr.range)
            .saturating_add(1);
        let select_end = last.saturating_sub(lr.offset).saturating_add(1);
        let mut select = Select::new(lr.log.matchers.clone(), select_start, select_end);
        select.contains = lr.log.contains_hints();
        let grouping = r.grouping.as_ref().or(pushed);
        let unwrap = lr.unwrap.as_ref();
        // The unwrapped label leaves the series' labels unless `by` names what stays
        // (Loki's LabelExtractorWithStages adds it to `without`).
        let unwrap_grouping = unwrap.and_then(|u| match grouping {
            Some(g) if !g.without => None,
            Some(g) => {
                let mut g = g.clone();
                g.labels.push(u.label.clone());
                Some(g)
            }
            None => Some(Grouping {
                without: true,
                labels: vec![u.label.clone()],
            }),
        });
        let key_grouping = unwrap_grouping.as_ref().or(grouping);
        let counts_bytes = matches!(r.op, RangeOp::BytesOverTime | RangeOp::BytesRate);

        let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
        let mut absent_points: Vec<i64> = Vec::new();
        let mut plain_cache: Option<(Labels, Labels)> = None;
        let stats = &mut *self.stats;
        let max_series = self.limits.max_series;
        let mut too_many = false;
        self.store
            .select(&select, &mut |labels: &Labels, entries: &[Entry]| {
                for e in entries {
                    stats.lines += 1;
                    stats.bytes += e.size() as u64;
                    let Some(p) =
                        process(&lr.log.stages, e.timestamp, &e.line, labels, &e.metadata)
                    else {
                        continue;
                    };
                    stats.post_filter_lines += 1;
                    let (key, value) = match unwrap {
                        None => {
                            let value = if counts_bytes {
                                p.line.len() as f64
                            } else {
                                1.0
                            };
                            let key = match (&p.labels, key_grouping) {
                                (Some(b), Some(g)) => b.grouped(g),
                                (Some(b), None) => b.result().all,
                                (None, g) if !metadata_matters(&e.metadata, g) => {
                                    match &plain_cache {
                                        Some((l, k)) if l == labels => k.clone(),
                                        _ => {
                                            let k = match g {
                                                Some(g) => group_labels(labels, g),
                                                None => labels.clone(),
                                            };
                                            plain_cache = Some((labels.clone(), k.clone()));
                                            k
                                        }
                                    }
                                }
                                (None, Some(g)) => Builder::new(labels, &e.metadata).grouped(g),
                                (None, None) => pipeline::plain_result(labels, &e.metadata).all,
                            };
                            (key, value)
                        }
                        Some(u) => {
                            let mut b = p
                                .labels
                                .unwrap_or_else(|| Builder::new(labels, &e.metadata));
                            let text = b.get(&u.label).unwrap_or("").to_owned();
                            if text.is_empty() {
                                continue;
                            }
                            let value = match convert(&text, u.conversion) {
                                Ok(v) => v,
                                Err(details) => {
                                    b.set_err(ERR_SAMPLE, &details);
                                    0.0
                                }
                            };
                            if !u
                                .post_filters
                                .iter()
                                .all(|f| pipeline::label_filter(f, &mut b))
                            {
                                continue;
                            }
                            let key = b.grouped(key_grouping.unwrap_or(&Grouping {
                                without: true,
                                labels: Vec::new(),
                            }));
                            (key, value)
                        }
                    };
                    if r.op == RangeOp::AbsentOverTime {
                        absent_points.push(e.timestamp);
                        continue;
                    }
                    if !series.contains_key(&key) && series.len() >= max_series {
                        too_many = true;
                        return Visit::Stop;
                    }
                    series.entry(key).or_default().push((e.timestamp, value));
                }
                Visit::Continue
            })
            .map_err(EvalError::Store)?;
        if too_many {
            check_series(max_series + 1, self.limits)?;
        }
        if r.op == RangeOp::AbsentOverTime {
            absent_points.sort_unstable();
            let labels = absent_labels(&lr.log);
            return Ok(Val::Steps(
                self.steps
                    .iter()
                    .map(|t| {
                        let (lo, hi) =
                            window(&absent_points, t.saturating_sub(lr.offset), lr.range, |p| {
                                *p
                            });
                        if hi > lo {
                            Vec::new()
                        } else {
                            vec![(labels.clone(), 1.0)]
                        }
                    })
                    .collect(),
            ));
        }
        for labels in series.keys() {
            if let Some(err) = labels.get(pipeline::ERROR_LABEL) {
                return Err(EvalError::Pipeline(format!(
                    "pipeline error: '{err}' for series: '{labels}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{err}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n"
                )));
            }
        }
        let mut out: Vec<Vec<(Labels, f64)>> = vec![Vec::new(); self.steps.len()];
        let mut sorted: Vec<(Labels, Vec<(i64, f64)>)> = series.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let range_secs = lr.range as f64 / 1e9;
        for (labels, mut points) in sorted {
            points.sort_by_key(|p| p.0);
            for (i, t) in self.steps.iter().enumerate() {
                let end = t.saturating_sub(lr.offset);
                let (lo, hi) = window(&points, end, lr.range, |p| p.0);
                if lo == hi {
                    continue;
                }
                let pts = &points[lo..hi];
                if let Some(v) = range_value(r, pts, end, lr.range, range_secs) {
                    out[i].push((labels.clone(), v));
                }
            }
        }
        Ok(Val::Steps(out))
    }

    fn binary(&mut self, b: &Binary) -> Result<Val, EvalError> {
        let lhs = self.metric(&b.lhs, None)?;
        let rhs = self.metric(&b.rhs, None)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => {
                let v = arith(b.op, l, r);
                Ok(Val::Scalar(match v {
                    Some(v) if b.op.is_comparison() => {
                        if v.1 {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    Some(v) => v.0,
                    None => f64::NAN,
                }))
            }
            (Val::Steps(l), Val::Scalar(s)) => Ok(Val::Steps(
                l.into_iter().map(|v| scalar_op(b, v, s, false)).collect(),
            )),
            (Val::Scalar(s), Val::Steps(r)) => Ok(Val::Steps(
                r.into_iter().map(|v| scalar_op(b, v, s, true)).collect(),
            )),
            (Val::Steps(l), Val::Steps(r)) => {
                let mut out = Vec::with_capacity(l.len());
                for (lv, rv) in l.into_iter().zip(r) {
                    out.push(vector_op(b, lv, rv)?);
                }
                Ok(Val::Steps(out))
            }
        }
    }
}

/// The indices `[lo, hi)` of the points in `(end - range, end]`.
fn window<T>(points: &[T], end: i64, range: i64, ts: impl Fn(&T) -> i64) -> (usize, usize) {
    let lo = points.partition_point(|p| ts(p) <= end.saturating_sub(range));
    let hi = points.partition_point(|p| ts(p) <= end);
    (lo, hi.max(lo))
}

fn range_value(
    r: &RangeAggregation,
    pts: &[(i64, f64)],
    end: i64,
    range: i64,
    range_secs: f64,
) -> Option<f64> {
    let n = pts.len() as f64;
    let sum = || pts.iter().map(|p| p.1).sum::<f64>();
    let var = || {
        let mean = sum() / n;
        pts.iter().map(|p| (p.1 - mean).powi(2)).sum::<f64>() / n
    };
    Some(match r.op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate if r.range.unwrap.is_none() => n / range_secs,
        RangeOp::Rate => sum() / range_secs,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::BytesRate => sum() / range_secs,
        RangeOp::AvgOverTime => sum() / n,
        RangeOp::MinOverTime => pts
            .iter()
            .map(|p| p.1)
            .fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a }),
        RangeOp::MaxOverTime => pts
            .iter()
            .map(|p| p.1)
            .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a }),
        RangeOp::StdvarOverTime => var(),
        RangeOp::StddevOverTime => var().sqrt(),
        RangeOp::QuantileOverTime => {
            let mut values: Vec<f64> = pts.iter().map(|p| p.1).collect();
            quantile(r.param.unwrap_or(0.5), &mut values)
        }
        RangeOp::FirstOverTime => pts[0].1,
        RangeOp::LastOverTime => pts[pts.len() - 1].1,
        RangeOp::RateCounter => extrapolated_rate(pts, end, range),
        RangeOp::AbsentOverTime => 1.0,
    })
}

/// Prometheus's `quantile` (φ-quantile with linear interpolation between closest ranks).
fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Loki's `extrapolatedRate` for counters (`range_vector.go`, after Prometheus's): the
/// increase with counter resets, extrapolated towards the window's edges, per second; 0
/// with fewer than two points.
fn extrapolated_rate(pts: &[(i64, f64)], end: i64, range: i64) -> f64 {
    if pts.len() < 2 {
        return 0.0;
    }
    let secs = |ns: i64| ns as f64 / 1e9;
    let (first, last) = (pts[0], pts[pts.len() - 1]);
    let mut result = last.1 - first.1;
    let mut prev = 0.0;
    for p in pts {
        if p.1 < prev {
            result += prev;
        }
        prev = p.1;
    }
    let mut to_start = secs(first.0 - end.saturating_sub(range));
    let mut to_end = secs(end - last.0);
    let sampled = secs(last.0 - first.0);
    let average = sampled / (pts.len() - 1) as f64;
    let threshold = average * 1.1;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average / 2.0;
    }
    result *= (sampled + to_start + to_end) / sampled;
    result / secs(range)
}

/// An unwrapped label's value as a number.
fn convert(text: &str, c: Conversion) -> Result<f64, String> {
    match c {
        Conversion::Float => text
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("strconv.ParseFloat: parsing {text:?}: invalid syntax")),
        Conversion::Duration => crate::lexer::parse_duration(text.trim())
            .filter(|_| !text.trim().ends_with(['d', 'w', 'y']))
            .map(|ns| ns as f64 / 1e9)
            .ok_or_else(|| format!("time: invalid duration {text:?}")),
        Conversion::Bytes => crate::lexer::parse_bytes(text)
            .map(|b| b as f64)
            .ok_or_else(|| format!("unhandled size name: {text}")),
    }
}

/// Whether a line's structured metadata can change its series' labels under `grouping`:
/// not when `by` names none of the metadata's names (nor their `_extracted` forms).
fn metadata_matters(metadata: &Labels, grouping: Option<&Grouping>) -> bool {
    match grouping {
        _ if metadata.is_empty() => false,
        Some(g) if !g.without => metadata.iter().any(|m| {
            g.labels
                .iter()
                .any(|n| n == m.name || n.strip_suffix("_extracted") == Some(m.name))
        }),
        _ => true,
    }
}

/// The labels `absent_over_time` gives: the selector's equality matchers.
fn absent_labels(l: &LogExpr) -> Labels {
    let mut b = LabelsBuilder::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in &l.matchers {
        if m.op == MatchOp::Equal && !seen.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            seen.push(&m.name);
        } else if seen.contains(&m.name.as_str()) {
            b.remove(&m.name);
        }
    }
    b.build()
}

fn group_labels(labels: &Labels, g: &Grouping) -> Labels {
    let mut b = LabelsBuilder::new();
    for l in labels.iter() {
        if g.labels.iter().any(|n| n == l.name) != g.without {
            b.set(l.name, l.value);
        }
    }
    b.build()
}

fn aggregate(v: &VectorAggregation, samples: Vec<(Labels, f64)>) -> Vec<(Labels, f64)> {
    let key = |l: &Labels| match &v.grouping {
        Some(g) => group_labels(l, g),
        None => Labels::empty(),
    };
    match v.op {
        VectorOp::Sort | VectorOp::SortDesc => {
            let mut s = samples;
            s.sort_by(|a, b| {
                let o = a.1.total_cmp(&b.1);
                if v.op == VectorOp::SortDesc {
                    o.reverse()
                } else {
                    o
                }
            });
            s
        }
        VectorOp::Topk | VectorOp::Bottomk => {
            let k = v.param.unwrap_or(1.0) as usize;
            let mut groups: Vec<(Labels, Vec<(Labels, f64)>)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for (l, x) in samples {
                let g = key(&l);
                let i = *index.entry(g.clone()).or_insert_with(|| {
                    groups.push((g, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push((l, x));
            }
            let mut out = Vec::new();
            for (_, mut members) in groups {
                members.sort_by(|a, b| {
                    // NaN sorts last for both, as Prometheus keeps it out when it can.
                    let o = match (a.1.is_nan(), b.1.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => return std::cmp::Ordering::Greater,
                        (false, true) => return std::cmp::Ordering::Less,
                        _ => a.1.total_cmp(&b.1),
                    };
                    if v.op == VectorOp::Topk {
                        o.reverse()
                    } else {
                        o
                    }
                });
                members.truncate(k);
                out.extend(members);
            }
            out
        }
        _ => {
            let mut groups: Vec<(Labels, Vec<f64>)> = Vec::new();
            let mut index: HashMap<Labels, usize> = HashMap::new();
            for (l, x) in samples {
                let g = key(&l);
                let i = *index.entry(g.clone()).or_insert_with(|| {
                    groups.push((g, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push(x);
            }
            groups
                .into_iter()
                .map(|(g, xs)| {
                    let n = xs.len() as f64;
                    let sum: f64 = xs.iter().sum();
                    let var = || {
                        let mean = sum / n;
                        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
                    };
                    let value = match v.op {
                        VectorOp::Sum => sum,
                        VectorOp::Avg => sum / n,
                        VectorOp::Count => n,
                        VectorOp::Min => xs
                            .iter()
                            .copied()
                            .fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a }),
                        VectorOp::Max => xs
                            .iter()
                            .copied()
                            .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a }),
                        VectorOp::Stdvar => var(),
                        VectorOp::Stddev => var().sqrt(),
                        _ => f64::NAN,
                    };
                    (g, value)
                })
                .collect()
        }
    }
}

/// `op` on two numbers: the arithmetic result, and for comparisons whether it holds.
fn arith(op: BinOp, l: f64, r: f64) -> Option<(f64, bool)> {
    Some(match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (l.powf(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Neq => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Gte => (l, l >= r),
        BinOp::Lt => (l, l < r),
        BinOp::Lte => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => return None,
    })
}

fn scalar_op(b: &Binary, v: Vec<(Labels, f64)>, s: f64, scalar_left: bool) -> Vec<(Labels, f64)> {
    v.into_iter()
        .filter_map(|(labels, x)| {
            let (l, r) = if scalar_left { (s, x) } else { (x, s) };
            let (value, keep) = arith(b.op, l, r)?;
            if b.op.is_comparison() {
                if b.return_bool {
                    Some((labels, if keep { 1.0 } else { 0.0 }))
                } else {
                    keep.then_some((labels, x))
                }
            } else {
                Some((labels, value))
            }
        })
        .collect()
}

fn signature(labels: &Labels, m: &VectorMatching) -> Labels {
    group_labels(
        labels,
        &Grouping {
            without: !m.on,
            labels: m.labels.clone(),
        },
    )
}

fn vector_op(
    b: &Binary,
    lhs: Vec<(Labels, f64)>,
    rhs: Vec<(Labels, f64)>,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    let m = &b.matching;
    match b.op {
        BinOp::And => {
            let right: std::collections::HashSet<Labels> =
                rhs.iter().map(|(l, _)| signature(l, m)).collect();
            return Ok(lhs
                .into_iter()
                .filter(|(l, _)| right.contains(&signature(l, m)))
                .collect());
        }
        BinOp::Unless => {
            let right: std::collections::HashSet<Labels> =
                rhs.iter().map(|(l, _)| signature(l, m)).collect();
            return Ok(lhs
                .into_iter()
                .filter(|(l, _)| !right.contains(&signature(l, m)))
                .collect());
        }
        BinOp::Or => {
            let left: std::collections::HashSet<Labels> =
                lhs.iter().map(|(l, _)| signature(l, m)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|(l, _)| !left.contains(&signature(l, m))),
            );
            return Ok(out);
        }
        _ => {}
    }
    // The "one" side is indexed; group_right swaps the roles.
    let swap = m.card == Cardinality::OneToMany;
    let (many, one) = if swap { (rhs, lhs) } else { (lhs, rhs) };
    let mut index: HashMap<Labels, (Labels, f64)> = HashMap::new();
    for (l, x) in one {
        let sig = signature(&l, m);
        if index.contains_key(&sig) {
            let side = if swap { "left" } else { "right" };
            return Err(EvalError::Invalid(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
        index.insert(sig, (l, x));
    }
    let mut out = Vec::new();
    let mut matched: HashMap<Labels, usize> = HashMap::new();
    for (l, x) in many {
        let sig = signature(&l, m);
        let Some((ol, ox)) = index.get(&sig) else {
            continue;
        };
        if m.card == Cardinality::OneToOne {
            let n = matched.entry(sig.clone()).or_default();
            *n += 1;
            if *n > 1 {
                return Err(EvalError::Invalid(format!(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right); the match group is {sig}"
                )));
            }
        }
        let (lv, rv) = if swap { (*ox, x) } else { (x, *ox) };
        let Some((value, keep)) = arith(b.op, lv, rv) else {
            continue;
        };
        let value = if b.op.is_comparison() {
            if b.return_bool {
                if keep { 1.0 } else { 0.0 }
            } else if keep {
                // A filtering comparison keeps the value of the "many" side (the left in
                // one-to-one).
                x
            } else {
                continue;
            }
        } else {
            value
        };
        let labels = result_labels(&l, ol, m);
        out.push((labels, value));
    }
    if m.card != Cardinality::OneToOne {
        let mut seen = std::collections::HashSet::new();
        for (l, _) in &out {
            if !seen.insert(l.clone()) {
                return Err(EvalError::Invalid(format!(
                    "multiple matches for labels: grouping labels must ensure unique matches; the result {l} repeats"
                )));
            }
        }
    }
    Ok(out)
}

/// Prometheus's `resultMetric`: one-to-one keeps the `on` labels (or drops the `ignoring`
/// ones); grouped matching keeps the "many" side's labels plus the `include` labels of the
/// "one" side.
fn result_labels(many: &Labels, one: &Labels, m: &VectorMatching) -> Labels {
    if m.card == Cardinality::OneToOne {
        return signature(many, m);
    }
    let mut b = many.builder();
    for name in &m.include {
        match one.get(name) {
            Some(v) => b.set(name, v),
            None => b.remove(name),
        };
    }
    b.build()
}

fn label_replace(l: &LabelReplace, labels: &Labels) -> Labels {
    let src = labels.get(&l.src).unwrap_or("");
    let Some(caps) = l.regex.captures(src) else {
        return labels.clone();
    };
    let mut value = String::new();
    caps.expand(&l.replacement, &mut value);
    let mut b = labels.builder();
    b.set(&l.dst, &value);
    b.build()
}

/// Turns per-step vectors into the answer: a matrix for a range query, a vector (or a
/// scalar) for an instant one.
fn finish(
    v: Val,
    steps: &[i64],
    params: &Params,
    limits: &Limits,
    by_value: bool,
) -> Result<Value, EvalError> {
    let instant = params.step <= 0;
    match v {
        Val::Scalar(x) if instant => Ok(Value::Scalar(x)),
        Val::Scalar(x) => Ok(Value::Matrix(vec![Series {
            labels: Labels::empty(),
            points: steps.iter().map(|t| (*t, x)).collect(),
        }])),
        Val::Steps(mut per_step) if instant => {
            let mut samples = per_step.pop().unwrap_or_default();
            if !by_value {
                samples.sort_by(|a, b| a.0.cmp(&b.0));
            }
            check_series(samples.len(), limits)?;
            check_unique(samples.iter().map(|s| &s.0))?;
            Ok(Value::Vector(
                samples
                    .into_iter()
                    .map(|(labels, value)| Sample {
                        labels,
                        timestamp: params.end,
                        value,
                    })
                    .collect(),
            ))
        }
        Val::Steps(per_step) => {
            let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
            for (t, samples) in steps.iter().zip(per_step) {
                check_unique(samples.iter().map(|s| &s.0))?;
                for (l, x) in samples {
                    series.entry(l).or_default().push((*t, x));
                }
                check_series(series.len(), limits)?;
            }
            let mut out: Vec<Series> = series
                .into_iter()
                .map(|(labels, points)| Series { labels, points })
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            Ok(Value::Matrix(out))
        }
    }
}

fn check_unique<'a>(labels: impl Iterator<Item = &'a Labels>) -> Result<(), EvalError> {
    let mut seen = std::collections::HashSet::new();
    for l in labels {
        if !seen.insert(l) {
            return Err(EvalError::Invalid(format!(
                "vector cannot contain metrics with the same labelset: {l}"
            )));
        }
    }
    Ok(())
}
