//! Evaluation of PromQL over any `storage::Queryable`.
//!
//! As in Prometheus, an expression is evaluated over every step of the query at once: an
//! instant query is a range query of one step. Each node yields a [`Stepped`] value: a
//! scalar per step, a string, or series with a point at the steps where they have a value.
//! Selectors read storage once per query, over the whole range plus the lookback, and then
//! pick each step's sample from memory.
//!
//! Semantics follow Prometheus 3: an instant selector at time `t` takes the newest sample
//! in `(t - lookback, t]` (5 minutes by default), unless that sample is a staleness marker;
//! a range selector `[r]` takes the samples in `(t - r, t]`, without staleness markers.
//! `offset d` moves `t` back by `d`; `@ t0` pins it to `t0` (`start()` and `end()` being
//! the query's ends), before the offset applies.
//!
//! A subquery `e[r:s]` evaluates `e` at the multiples of `s` from the first one after the
//! earliest window's start, once for the whole query; each step's window holds the inner
//! points in `(t - r, t]`, as a range selector's would.
//!
//! Limits: a query fails with `TooManySamples` once the samples it has read pass
//! `max_samples`, and with `Timeout` once it has run past its timeout, checked before each
//! node and after each series read.
//!
//! Annotations (warnings and infos) are collected as Prometheus words and places them. An
//! instant query of a range selector or subquery returns its raw samples. With delayed
//! name removal, operations mark the metric name and the query drops it at the end.
//!
//! Not yet: native histograms (storage has none), and with them the `histogram_*`
//! functions that only read native histograms, which fail saying so.

use std::time::{Duration, Instant};

use model::{Labels, Sample, Timestamp, is_stale_nan};
use storage::{Queryable, SelectHints};

use crate::ast::{AggOp, At, Expr, LineCol, Pos, Selector};

/// Limits and defaults of evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample, in ms.
    pub lookback: i64,
    /// The most samples a query may hold in memory at once; more fails the query.
    pub max_samples: usize,
    /// The step of a subquery without one, in ms.
    pub default_subquery_step: i64,
    /// How long a query may run before it fails; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Prometheus's `promql-delayed-name-removal`: operations mark the metric name to be
    /// dropped at the end of the query instead of dropping it at once. Off by default, as
    /// in Prometheus; on in its test engine.
    pub delayed_name_removal: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback: 5 * 60_000,
            max_samples: 50_000_000,
            default_subquery_step: 60_000,
            timeout: Some(Duration::from_secs(120)),
            delayed_name_removal: false,
        }
    }
}

/// Why a query failed, in the categories of Prometheus's API errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The query is wrong (`bad_data`).
    #[error("{0}")]
    BadData(String),
    /// The query would hold too many samples (`execution`).
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// The query ran longer than its timeout (`timeout`).
    #[error("query timed out in expression evaluation")]
    Timeout,
    /// Storage failed (`internal`).
    #[error("{0}")]
    Storage(String),
    /// Evaluation failed (`execution`), for example a many-to-many match.
    #[error("{0}")]
    Execution(String),
}

impl From<storage::StorageError> for EvalError {
    fn from(e: storage::StorageError) -> Self {
        EvalError::Storage(e.to_string())
    }
}

/// Warnings and infos about a query's result, each worded and placed as Prometheus does
/// (`PromQL warning: ... (1:25)`), without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// Results that may be wrong.
    pub warnings: Vec<String>,
    /// Results that may not mean what the query intended.
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds a warning about the expression at `at`.
    pub(crate) fn warn(&mut self, message: impl std::fmt::Display, at: LineCol) {
        let text = format!("PromQL warning: {message} ({at})");
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    /// Adds a warning from the store, such as a remote read endpoint that failed, as it
    /// words it.
    pub(crate) fn storage(&mut self, text: String) {
        if !self.warnings.contains(&text) {
            self.warnings.push(text);
        }
    }

    /// Adds an info about the expression at `at`.
    pub(crate) fn info(&mut self, message: impl std::fmt::Display, at: LineCol) {
        let text = format!("PromQL info: {message} ({at})");
        if !self.infos.contains(&text) {
            self.infos.push(text);
        }
    }

    /// Warns about each quantile outside [0, 1] among `qs`, given at `at`.
    pub(crate) fn check_quantiles(&mut self, qs: &[f64], at: LineCol) {
        for q in changes(qs) {
            if !(0.0..=1.0).contains(&q) {
                self.warn(
                    format_args!("quantile value should be between 0 and 1, got {q}"),
                    at,
                );
            }
        }
    }

    /// Warns about each `limit_ratio` ratio outside [-1, 1] among `ratios`, given at `at`.
    pub(crate) fn check_ratios(&mut self, ratios: &[f64], at: LineCol) {
        for r in changes(ratios) {
            if r.abs() > 1.0 {
                self.warn(
                    format_args!(
                        "ratio value should be between -1 and 1, got {r}, capping to {}",
                        r.clamp(-1.0, 1.0)
                    ),
                    at,
                );
            }
        }
    }
}

/// A parameter's values over the steps, each run of equal values once (usually the
/// parameter is constant): the annotation checks need not look at every step.
fn changes(values: &[f64]) -> impl Iterator<Item = f64> + '_ {
    values
        .iter()
        .enumerate()
        .filter(|&(i, v)| i == 0 || values[i - 1].to_bits() != v.to_bits())
        .map(|(_, &v)| v)
}

/// A query's value and what the engine noticed about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The value at every step.
    pub value: Stepped,
    /// Warnings and infos.
    pub annotations: Annotations,
}

/// A series with points at some steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// Its points, in time order.
    pub points: Vec<Sample>,
    /// With delayed name removal, set once an operation has dropped the metric name: the
    /// name stays in `labels` (for `label_replace` and `by (__name__)` to see) until the
    /// query ends.
    pub drop_name: bool,
}

impl Series {
    /// A series that keeps its metric name.
    pub fn new(labels: Labels, points: Vec<Sample>) -> Self {
        Self {
            labels,
            points,
            drop_name: false,
        }
    }
}

/// A node's value over all steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Stepped {
    /// One value per step.
    Scalar(Vec<f64>),
    /// A string (the same at every step).
    String(String),
    /// Series with points at the steps where they have a value.
    Vector(Vec<Series>),
    /// A range vector, the result of an instant query of a range selector or subquery:
    /// each series' samples in the window, at their own times.
    Matrix(Vec<Series>),
}

/// The steps of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// The first step's time, in ms.
    pub start: Timestamp,
    /// The last step's time, in ms.
    pub end: Timestamp,
    /// The interval between steps, in ms (any positive value for one step).
    pub step: i64,
}

impl Steps {
    /// One step at `t`.
    pub fn instant(t: Timestamp) -> Self {
        Self {
            start: t,
            end: t,
            step: 1,
        }
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        if self.end < self.start {
            0
        } else {
            // In i128: the times come from the query, and may be anywhere in i64's range.
            let n = (i128::from(self.end) - i128::from(self.start)) / i128::from(self.step.max(1));
            usize::try_from(n).map_or(usize::MAX, |n| n.saturating_add(1))
        }
    }

    /// Tells whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The steps' times.
    pub fn times(&self) -> impl Iterator<Item = Timestamp> + '_ {
        (0..self.len()).map(|i| self.start + i as i64 * self.step)
    }
}

/// Evaluates expressions against a store.
#[derive(Debug, Clone, Copy, Default)]
pub struct Engine {
    options: EngineOptions,
}

/// The state of one query.
struct Query<'a> {
    store: &'a dyn Queryable,
    options: EngineOptions,
    /// The whole query's range, for `@ start()` and `@ end()`.
    query: Steps,
    samples: usize,
    /// When the query times out.
    deadline: Option<Instant>,
    annotations: Annotations,
}

impl Engine {
    /// Returns an engine with these options.
    pub fn new(options: EngineOptions) -> Self {
        Self { options }
    }

    /// The engine's options.
    pub fn options(&self) -> EngineOptions {
        self.options
    }

    /// The same engine with a timeout no longer than `timeout`, for a query that asks for
    /// a shorter one.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        let timeout = self.options.timeout.map_or(timeout, |t| t.min(timeout));
        Self::new(EngineOptions {
            timeout: Some(timeout),
            ..self.options
        })
    }

    /// Evaluates `expr` at every step.
    pub fn eval(
        &self,
        store: &dyn Queryable,
        expr: &Expr,
        steps: Steps,
    ) -> Result<Stepped, EvalError> {
        self.eval_annotated(store, expr, steps).map(|e| e.value)
    }

    /// Evaluates `expr` at every step, with the warnings and infos Prometheus would give.
    pub fn eval_annotated(
        &self,
        store: &dyn Queryable,
        expr: &Expr,
        steps: Steps,
    ) -> Result<Evaluated, EvalError> {
        if steps.step <= 0 {
            return Err(EvalError::BadData("zero or negative query resolution step widths are not accepted. Try a positive integer".into()));
        }
        let mut q = Query {
            store,
            options: self.options,
            query: steps,
            samples: 0,
            deadline: self.options.timeout.map(|t| Instant::now() + t),
            annotations: Annotations::default(),
        };
        let value = match expr {
            Expr::Matrix { .. } | Expr::Subquery { .. } => q.range_vector(expr, steps)?,
            _ => q.eval(expr, steps)?,
        };
        let value = match value {
            Stepped::Vector(series) => Stepped::Vector(drop_marked_names(series)?),
            Stepped::Matrix(series) => Stepped::Matrix(drop_marked_names(series)?),
            other => other,
        };
        Ok(Evaluated {
            value,
            annotations: q.annotations,
        })
    }
}

/// The time a selector reads at for the step at `t`.
fn read_time(t: Timestamp, offset: i64, at: Option<At>, query: Steps) -> Timestamp {
    let base = match at {
        None => t,
        Some(At::Start) => query.start,
        Some(At::End) => query.end,
        Some(At::Time(t0)) => t0,
    };
    // Saturating: `@` and `offset` may take any time a query can write.
    base.saturating_sub(offset)
}

impl Query<'_> {
    fn account(&mut self, n: usize) -> Result<(), EvalError> {
        self.samples += n;
        if self.samples > self.options.max_samples {
            return Err(EvalError::TooManySamples);
        }
        self.check_deadline()
    }

    fn check_deadline(&self) -> Result<(), EvalError> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(EvalError::Timeout),
            _ => Ok(()),
        }
    }

    /// Evaluates `expr`. Every recursion of evaluation passes through here, so growing the
    /// stack here lets any depth of expression run on any thread (see `limits`).
    fn eval(&mut self, expr: &Expr, steps: Steps) -> Result<Stepped, EvalError> {
        // A node holds a value per step: a subquery of a long range at a fine step (say
        // `[10y:1ms]`) would ask for more than memory holds, so it counts as samples first.
        if steps.len() > self.options.max_samples {
            return Err(EvalError::TooManySamples);
        }
        crate::limits::grow(|| self.eval_node(expr, steps))
    }

    fn eval_node(&mut self, expr: &Expr, steps: Steps) -> Result<Stepped, EvalError> {
        self.check_deadline()?;
        match expr {
            Expr::Number(v) => Ok(Stepped::Scalar(vec![*v; steps.len()])),
            Expr::String(s) => Ok(Stepped::String(s.clone())),
            Expr::Vector(sel) => self.instant_selector(sel, steps),
            Expr::Negate(e) => Ok(match self.eval(e, steps)? {
                Stepped::Scalar(v) => Stepped::Scalar(v.into_iter().map(|x| -x).collect()),
                Stepped::Vector(series) => Stepped::Vector(computed(
                    series
                        .into_iter()
                        .map(|s| Series {
                            points: s
                                .points
                                .into_iter()
                                .map(|p| Sample::new(p.t, -p.v))
                                .collect(),
                            ..s
                        })
                        .collect(),
                    self.options.delayed_name_removal,
                )?),
                Stepped::String(_) | Stepped::Matrix(_) => {
                    return Err(EvalError::BadData(
                        "unary minus takes a scalar or an instant vector".into(),
                    ));
                }
            }),
            Expr::Matrix { .. } => Err(EvalError::BadData(
                "a range vector can only be passed to a function; it is not a query result".into(),
            )),
            Expr::Call { func, args, .. } if func == "absent_over_time" => {
                self.absent_over_time(args, steps)
            }
            Expr::Call { func, args, pos } if crate::functions::is_range_function(func) => {
                self.range_call(func, args, pos, steps)
            }
            Expr::Call { func, args, .. } if args.is_empty() && is_query_function(func) => {
                Ok(Stepped::Scalar(vec![
                    query_function(func, self.query);
                    steps.len()
                ]))
            }
            Expr::Call { func, args, .. } if func == "timestamp" => self.timestamp(args, steps),
            Expr::Call { func, args, .. } if func == "start_timestamp" => {
                self.start_timestamp(args, steps)
            }
            Expr::Call { func, args, .. } if func == "absent" => self.absent(args, steps),
            Expr::Call { func, args, pos } if crate::instant::is_instant_function(func) => {
                let args = args
                    .iter()
                    .map(|a| self.eval(a, steps))
                    .collect::<Result<Vec<_>, _>>()?;
                if func.starts_with("sort") && self.query.start != self.query.end {
                    self.annotations.warn(
                        "sort is ineffective for range queries since results are always ordered by labels",
                        pos.at,
                    );
                }
                crate::instant::eval(
                    func,
                    args,
                    steps,
                    pos,
                    &mut self.annotations,
                    self.options.delayed_name_removal,
                )
            }
            Expr::Binary {
                op,
                lhs,
                rhs,
                matching,
                return_bool,
            } => {
                let l = self.eval(lhs, steps)?;
                let r = self.eval(rhs, steps)?;
                crate::binary::eval(
                    *op,
                    l,
                    r,
                    matching.as_ref(),
                    *return_bool,
                    steps,
                    self.options.delayed_name_removal,
                )
            }
            Expr::Aggregate {
                op,
                expr,
                param,
                grouping,
                pos,
            } => {
                let param = match param {
                    None => crate::aggregate::Param::None,
                    Some(p) => match self.eval(p, steps)? {
                        Stepped::Scalar(v) => crate::aggregate::Param::Scalar(v),
                        Stepped::String(s) => crate::aggregate::Param::String(s),
                        Stepped::Vector(_) | Stepped::Matrix(_) => {
                            return Err(EvalError::BadData(
                                "an aggregation's parameter must be a scalar or a string".into(),
                            ));
                        }
                    },
                };
                if let crate::aggregate::Param::Scalar(values) = &param {
                    match op {
                        AggOp::Quantile => self.annotations.check_quantiles(values, pos.arg(0)),
                        AggOp::LimitRatio => self.annotations.check_ratios(values, pos.arg(0)),
                        _ => {}
                    }
                }
                match self.eval(expr, steps)? {
                    Stepped::Vector(series) => {
                        crate::aggregate::eval(*op, series, param, grouping, steps)
                    }
                    _ => Err(EvalError::BadData(
                        "aggregations take an instant vector".into(),
                    )),
                }
            }
            other => Err(EvalError::Execution(format!(
                "not implemented yet: {}",
                kind(other)
            ))),
        }
    }

    /// A range selector or subquery as the query's result: only an instant query has one.
    fn range_vector(&mut self, expr: &Expr, steps: Steps) -> Result<Stepped, EvalError> {
        if steps.start != steps.end {
            return Err(EvalError::BadData(
                "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into(),
            ));
        }
        let (_, windows) = self.windows_of(expr, steps)?;
        Ok(Stepped::Matrix(
            windows
                .into_iter()
                .filter_map(|series| {
                    let points = series.iter().next()?.2.to_vec();
                    (!points.is_empty()).then_some(Series {
                        labels: series.labels,
                        points,
                        drop_name: series.drop_name,
                    })
                })
                .collect(),
        ))
    }

    /// Reads every series `sel` matches over the times the steps need, `extra` ms before
    /// the earliest.
    fn fetch(
        &mut self,
        sel: &Selector,
        steps: Steps,
        extra: i64,
    ) -> Result<Vec<Fetched>, EvalError> {
        let first = read_time(steps.start, sel.offset, sel.at, self.query);
        let last = read_time(steps.end, sel.offset, sel.at, self.query);
        let (lo, hi) = (first.min(last), first.max(last));
        let mint = lo.saturating_sub(extra).saturating_add(1);
        let querier = self.store.querier(mint, hi)?;
        let hints = SelectHints {
            start: mint,
            end: hi,
            step: steps.step,
            ..SelectHints::default()
        };
        let mut out = Vec::new();
        for series in querier.select(&hints, &sel.matchers)? {
            let mut series = series?;
            let (samples, start_times) = series.samples.collect_with_start_times()?;
            self.account(samples.len())?;
            out.push(Fetched {
                labels: series.labels,
                samples,
                start_times,
            });
        }
        for warning in querier.take_warnings() {
            self.annotations.storage(warning);
        }
        Ok(out)
    }

    fn instant_selector(&mut self, sel: &Selector, steps: Steps) -> Result<Stepped, EvalError> {
        Ok(Stepped::Vector(self.selector_points(
            sel,
            steps,
            PointValue::Value,
        )?))
    }

    /// Each series' sample at each step, valued as `value` says.
    fn selector_points(
        &mut self,
        sel: &Selector,
        steps: Steps,
        value: PointValue,
    ) -> Result<Vec<Series>, EvalError> {
        let lookback = self.options.lookback;
        let data = self.fetch(sel, steps, lookback)?;
        let mut out = Vec::with_capacity(data.len());
        for Fetched {
            labels,
            samples,
            start_times,
        } in data
        {
            let mut points = Vec::new();
            for t in steps.times() {
                let at = read_time(t, sel.offset, sel.at, self.query);
                // The newest sample in (at - lookback, at].
                let i = samples.partition_point(|s| s.t <= at);
                if let Some(i) = i.checked_sub(1)
                    && samples[i].t > at.saturating_sub(lookback)
                    && !is_stale_nan(samples[i].v)
                {
                    let v = match value {
                        PointValue::Value => samples[i].v,
                        PointValue::SampleTime => samples[i].t as f64 / 1000.0,
                        PointValue::StartTime => {
                            start_times.as_ref().map_or(0, |sts| sts[i]) as f64 / 1000.0
                        }
                    };
                    points.push(Sample::new(t, v));
                }
            }
            if !points.is_empty() {
                out.push(Series::new(labels, points));
            }
        }
        Ok(out)
    }

    /// Evaluates a function of a range vector, such as `rate(x[5m])`.
    fn range_call(
        &mut self,
        func: &str,
        args: &[Expr],
        pos: &Pos,
        steps: Steps,
    ) -> Result<Stepped, EvalError> {
        // The range vector is the one range selector or subquery; the other arguments are
        // scalars (quantile_over_time's first, predict_linear's last).
        let range_at = args
            .iter()
            .position(|a| matches!(a, Expr::Matrix { .. } | Expr::Subquery { .. }))
            .unwrap_or(0);
        let Some(range_arg) = args.get(range_at) else {
            return Err(EvalError::BadData(format!(
                "wrong number of arguments to {func}"
            )));
        };
        let mut params = Vec::with_capacity(args.len() - 1);
        for (i, arg) in args.iter().enumerate() {
            if i == range_at {
                continue;
            }
            match self.eval(arg, steps)? {
                Stepped::Scalar(v) => params.push(v),
                _ => {
                    return Err(EvalError::BadData(format!(
                        "the parameters of {func} must be scalars"
                    )));
                }
            }
        }
        if func == "double_exponential_smoothing" {
            crate::functions::check_smoothing_factors(&params)?;
        }
        if func == "quantile_over_time"
            && let Some(qs) = params.first()
        {
            self.annotations.check_quantiles(qs, pos.arg(0));
        }
        let (range, windows) = self.windows_of(range_arg, steps)?;
        let keep_name = crate::functions::keeps_name(func);
        let mut out = Vec::new();
        for series in windows {
            if matches!(func, "rate" | "increase" | "irate") {
                note_non_counter(&mut self.annotations, &series.labels, pos.arg(0));
            }
            if matches!(func, "rate" | "increase") && series.start_times_overlap() {
                let name = series.labels.get(model::METRIC_NAME).unwrap_or("");
                self.annotations.warn(
                    format_args!(
                        "sample has start time that overlaps with previous sample timestamp for metric {name:?}"
                    ),
                    pos.arg(0),
                );
            }
            let points: Vec<Sample> = series
                .iter()
                .enumerate()
                .filter_map(|(k, (t, at, window))| {
                    // At most two parameters: kept on the stack, as this runs per point.
                    let mut at_step = [0.0; 2];
                    for (slot, p) in at_step.iter_mut().zip(&params) {
                        *slot = p[k];
                    }
                    let step_params = &at_step[..params.len().min(2)];
                    let sts = series.start_times_of(k);
                    crate::functions::range_function(func, window, sts, at, range, step_params, t)
                        .map(|v| Sample::new(t, v))
                })
                .collect();
            if !points.is_empty() {
                out.push(Series {
                    labels: series.labels,
                    points,
                    drop_name: series.drop_name,
                });
            }
        }
        Ok(Stepped::Vector(if keep_name {
            out
        } else {
            computed(out, self.options.delayed_name_removal)?
        }))
    }

    /// `timestamp(v)`: for a selector, the time of each sample taken; otherwise the step's.
    fn timestamp(&mut self, args: &[Expr], steps: Steps) -> Result<Stepped, EvalError> {
        let [arg] = args else {
            return Err(EvalError::BadData("timestamp takes one argument".into()));
        };
        let series = match arg {
            Expr::Vector(sel) => self.selector_points(sel, steps, PointValue::SampleTime)?,
            other => match self.eval(other, steps)? {
                Stepped::Vector(series) => series
                    .into_iter()
                    .map(|s| Series {
                        points: s
                            .points
                            .iter()
                            .map(|p| Sample::new(p.t, p.t as f64 / 1000.0))
                            .collect(),
                        ..s
                    })
                    .collect(),
                _ => {
                    return Err(EvalError::BadData(
                        "timestamp takes an instant vector".into(),
                    ));
                }
            },
        };
        Ok(Stepped::Vector(computed(
            series,
            self.options.delayed_name_removal,
        )?))
    }

    /// `start_timestamp(v)`: for a selector, each sample's start time in seconds (0 if it
    /// has none); an expression's values have no start times, so nothing.
    fn start_timestamp(&mut self, args: &[Expr], steps: Steps) -> Result<Stepped, EvalError> {
        let series = match args {
            [Expr::Vector(sel)] => self.selector_points(sel, steps, PointValue::StartTime)?,
            [other] => {
                self.eval(other, steps)?;
                Vec::new()
            }
            _ => {
                return Err(EvalError::BadData(
                    "start_timestamp takes one argument".into(),
                ));
            }
        };
        Ok(Stepped::Vector(computed(
            series,
            self.options.delayed_name_removal,
        )?))
    }

    /// `absent(v)`: 1 at the steps where `v` is empty, labelled by a selector's equality
    /// matchers.
    fn absent(&mut self, args: &[Expr], steps: Steps) -> Result<Stepped, EvalError> {
        let [arg] = args else {
            return Err(EvalError::BadData("absent takes one argument".into()));
        };
        let Stepped::Vector(series) = self.eval(arg, steps)? else {
            return Err(EvalError::BadData("absent takes an instant vector".into()));
        };
        let labels = match arg {
            Expr::Vector(sel) => crate::instant::absent_labels(&sel.matchers),
            _ => Labels::empty(),
        };
        Ok(absent_at(&series, labels, steps))
    }

    /// `absent_over_time(v[r])`: 1 at the steps where no series has a sample in the window,
    /// labelled by a range selector's equality matchers.
    fn absent_over_time(&mut self, args: &[Expr], steps: Steps) -> Result<Stepped, EvalError> {
        let [arg] = args else {
            return Err(EvalError::BadData(
                "absent_over_time takes one argument".into(),
            ));
        };
        let (_, windows) = self.windows_of(arg, steps)?;
        let present: Vec<Series> = windows
            .into_iter()
            .map(|series| {
                let points = series
                    .iter()
                    .filter(|(_, _, w)| !w.is_empty())
                    .map(|(t, _, _)| Sample::new(t, 1.0))
                    .collect();
                Series::new(series.labels, points)
            })
            .collect();
        let labels = match arg {
            Expr::Matrix { selector, .. } => crate::instant::absent_labels(&selector.matchers),
            _ => Labels::empty(),
        };
        Ok(absent_at(&present, labels, steps))
    }

    /// The windows a range function reads, from a range selector or a subquery: the range,
    /// and per series its samples with each step's window as an index range into them.
    fn windows_of(
        &mut self,
        arg: &Expr,
        steps: Steps,
    ) -> Result<(i64, Vec<SeriesWindows>), EvalError> {
        match arg {
            Expr::Matrix { selector, range } => {
                Ok((*range, self.range_windows(selector, *range, steps)?))
            }
            Expr::Subquery {
                expr,
                range,
                step,
                offset,
                at,
            } => {
                let sub_step = step.unwrap_or(self.options.default_subquery_step).max(1);
                let first = read_time(steps.start, *offset, *at, self.query);
                let last = read_time(steps.end, *offset, *at, self.query);
                let (lo, hi) = (first.min(last), first.max(last));
                // The inner steps are multiples of the subquery step, from the first one after
                // the earliest window's start.
                let window_start = lo.saturating_sub(*range);
                let mut start = sub_step * (window_start / sub_step);
                if start <= window_start {
                    start = start.saturating_add(sub_step);
                }
                let inner = Steps {
                    start,
                    end: hi,
                    step: sub_step,
                };
                let series = match self.eval(expr, inner)? {
                    Stepped::Vector(series) => series,
                    Stepped::Scalar(values) => vec![Series::new(
                        Labels::empty(),
                        inner
                            .times()
                            .zip(values)
                            .map(|(t, v)| Sample::new(t, v))
                            .collect(),
                    )],
                    Stepped::String(_) | Stepped::Matrix(_) => {
                        return Err(EvalError::BadData(
                            "a subquery takes a scalar or an instant vector".into(),
                        ));
                    }
                };
                let query = self.query;
                let windows = series
                    .into_iter()
                    .map(|s| {
                        let mut w = SeriesWindows::new(s.labels, s.points, steps, *range, |t| {
                            read_time(t, *offset, *at, query)
                        });
                        w.drop_name = s.drop_name;
                        w
                    })
                    .collect();
                Ok((*range, windows))
            }
            _ => Err(EvalError::BadData(
                "expected a range vector: a range selector or a subquery".into(),
            )),
        }
    }

    /// The samples of each series of a range selector, staleness markers left out, with
    /// each step's window `(at - range, at]`.
    fn range_windows(
        &mut self,
        sel: &Selector,
        range: i64,
        steps: Steps,
    ) -> Result<Vec<SeriesWindows>, EvalError> {
        let data = self.fetch(sel, steps, range)?;
        let query = self.query;
        Ok(data
            .into_iter()
            .map(|f| {
                let (samples, start_times) = without_stale(f.samples, f.start_times);
                let mut w = SeriesWindows::new(f.labels, samples, steps, range, |t| {
                    read_time(t, sel.offset, sel.at, query)
                });
                w.start_times = start_times;
                w
            })
            .collect())
    }
}

/// A series as read from storage.
struct Fetched {
    labels: Labels,
    samples: Vec<Sample>,
    /// The samples' start times (0 for none), if any has one.
    start_times: Option<Vec<Timestamp>>,
}

/// What an instant selector's points hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PointValue {
    /// The sample's value.
    Value,
    /// When the sample was taken, in seconds (`timestamp()`).
    SampleTime,
    /// The sample's start time in seconds, 0 if it has none (`start_timestamp()`).
    StartTime,
}

/// The samples without staleness markers, and their start times alike.
fn without_stale(
    samples: Vec<Sample>,
    start_times: Option<Vec<Timestamp>>,
) -> (Vec<Sample>, Option<Vec<Timestamp>>) {
    match start_times {
        None => (
            samples.into_iter().filter(|s| !is_stale_nan(s.v)).collect(),
            None,
        ),
        Some(sts) => {
            let (samples, sts) = samples
                .into_iter()
                .zip(sts)
                .filter(|(s, _)| !is_stale_nan(s.v))
                .unzip();
            (samples, Some(sts))
        }
    }
}

/// Notes a series read by a counter function whose name does not say it is a counter.
fn note_non_counter(notes: &mut Annotations, labels: &Labels, at: LineCol) {
    let Some(name) = labels.get(model::METRIC_NAME) else {
        return;
    };
    let counter_like = ["_total", "_sum", "_count", "_bucket"]
        .iter()
        .any(|suffix| name.ends_with(suffix));
    if !counter_like && labels.get("__type__").is_none_or(|t| t != "counter") {
        notes.info(
            format_args!(
                "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {name:?}"
            ),
            at,
        );
    }
}

/// One series' samples, and per step the step's time, its window's end and the window as
/// an index range into the samples: windows overlap, so they share the samples rather than
/// copying them.
pub(crate) struct SeriesWindows {
    labels: Labels,
    /// The subquery's series had its name marked for dropping.
    drop_name: bool,
    samples: Vec<Sample>,
    /// The samples' start times, if the series has any (a subquery's never does).
    start_times: Option<Vec<Timestamp>>,
    windows: Vec<(Timestamp, Timestamp, usize, usize)>,
}

impl SeriesWindows {
    fn new(
        labels: Labels,
        samples: Vec<Sample>,
        steps: Steps,
        range: i64,
        end_of: impl Fn(Timestamp) -> Timestamp,
    ) -> Self {
        let windows = steps
            .times()
            .map(|t| {
                let end = end_of(t);
                let lo = samples.partition_point(|s| s.t <= end.saturating_sub(range));
                let hi = samples.partition_point(|s| s.t <= end).max(lo);
                (t, end, lo, hi)
            })
            .collect();
        Self {
            labels,
            drop_name: false,
            samples,
            start_times: None,
            windows,
        }
    }

    /// Each step's time, window end and samples.
    fn iter(&self) -> impl Iterator<Item = (Timestamp, Timestamp, &[Sample])> {
        self.windows
            .iter()
            .map(|&(t, end, lo, hi)| (t, end, &self.samples[lo..hi]))
    }

    /// Each step's window's start times, if the series has any.
    fn start_times_of(&self, k: usize) -> Option<&[Timestamp]> {
        let (_, _, lo, hi) = self.windows[k];
        self.start_times.as_deref().map(|sts| &sts[lo..hi])
    }

    /// Whether any sample's start time overlaps the sample before it.
    fn start_times_overlap(&self) -> bool {
        self.start_times.as_deref().is_some_and(|sts| {
            (1..sts.len()).any(|i| crate::functions::start_time_overlaps(sts, &self.samples, i))
        })
    }
}

/// 1 with `labels` at every step where `series` has no point.
fn absent_at(series: &[Series], labels: Labels, steps: Steps) -> Stepped {
    let mut present = vec![false; steps.len()];
    for s in series {
        for p in &s.points {
            if let Some(slot) = present.get_mut(((p.t - steps.start) / steps.step) as usize) {
                *slot = true;
            }
        }
    }
    let points: Vec<Sample> = steps
        .times()
        .zip(present)
        .filter(|(_, here)| !here)
        .map(|(t, _)| Sample::new(t, 1.0))
        .collect();
    Stepped::Vector(if points.is_empty() {
        Vec::new()
    } else {
        vec![Series::new(labels, points)]
    })
}

/// Merges series that share labels, as they do once an operation drops their metric names:
/// their points interleave if they never meet at one time, and the query fails if they do.
pub(crate) fn merge_same_labels(series: Vec<Series>) -> Result<Vec<Series>, EvalError> {
    use std::collections::btree_map::{BTreeMap, Entry};
    let mut by_labels: BTreeMap<Labels, (Vec<Sample>, bool)> = BTreeMap::new();
    let mut merged = false;
    for s in series {
        match by_labels.entry(s.labels) {
            Entry::Vacant(e) => {
                e.insert((s.points, s.drop_name));
            }
            Entry::Occupied(mut e) => {
                merged = true;
                let (points, drop) = e.get_mut();
                points.extend(s.points);
                *drop |= s.drop_name;
            }
        }
    }
    if merged {
        for (points, _) in by_labels.values_mut() {
            points.sort_by_key(|p| p.t);
            if points.windows(2).any(|w| w[0].t == w[1].t) {
                return Err(EvalError::Execution(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
        }
    }
    Ok(by_labels
        .into_iter()
        .map(|(labels, (points, drop_name))| Series {
            labels,
            points,
            drop_name,
        })
        .collect())
}

/// Drops the metric name of series computed from others: now, merging series that then
/// share labels, or with delayed name removal by marking them (see [`Series::drop_name`]).
pub(crate) fn computed(series: Vec<Series>, delayed: bool) -> Result<Vec<Series>, EvalError> {
    if delayed {
        return Ok(series
            .into_iter()
            .map(|s| Series {
                drop_name: true,
                ..s
            })
            .collect());
    }
    merge_same_labels(
        series
            .into_iter()
            .map(|s| Series::new(drop_name(&s.labels), s.points))
            .collect(),
    )
}

/// The end of a query with delayed name removal: the marked series lose their names.
fn drop_marked_names(series: Vec<Series>) -> Result<Vec<Series>, EvalError> {
    if !series.iter().any(|s| s.drop_name) {
        return Ok(series);
    }
    merge_same_labels(
        series
            .into_iter()
            .map(|s| {
                if s.drop_name {
                    Series::new(drop_name(&s.labels), s.points)
                } else {
                    s
                }
            })
            .collect(),
    )
}

/// The labels without the metric name, as operations that change a value's meaning return.
pub fn drop_name(labels: &Labels) -> Labels {
    let mut b = labels.builder();
    remove_name(&mut b);
    b.build()
}

/// Removes the metric name, and with it the metric's type and unit (`__type__`,
/// `__unit__`), which describe the named metric and not a value computed from it.
pub(crate) fn remove_name(b: &mut model::LabelsBuilder) {
    b.remove(model::METRIC_NAME)
        .remove("__type__")
        .remove("__unit__");
}

/// Whether `func` is one of the functions of the query's own range.
fn is_query_function(func: &str) -> bool {
    matches!(func, "start" | "end" | "range" | "step")
}

/// `start()` and `end()`, the query's first and last step in seconds; `range()`, their
/// distance; `step()`, the step. An instant query's range and step are 0.
fn query_function(func: &str, query: Steps) -> f64 {
    let instant = query.start == query.end;
    let ms = match func {
        "start" => query.start,
        "end" => query.end,
        "range" => query.end - query.start,
        _ if instant => 0,
        _ => query.step,
    };
    ms as f64 / 1000.0
}

fn kind(e: &Expr) -> &'static str {
    match e {
        Expr::Number(_) => "number",
        Expr::String(_) => "string",
        Expr::Vector(_) => "vector selector",
        Expr::Matrix { .. } => "range selector",
        Expr::Subquery { .. } => "subquery",
        Expr::Negate(_) => "negation",
        Expr::Binary { .. } => "binary operation",
        Expr::Aggregate { .. } => "aggregation",
        Expr::Call { .. } => "function call",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::parse;
    use storage::{Appendable, MemStorage};

    fn store(series: &[(&str, &[(i64, f64)])]) -> MemStorage {
        let s = MemStorage::new();
        let mut app = s.appender();
        for (text, samples) in series {
            let labels = crate::promqltest::parse_labels(text).unwrap();
            for &(t, v) in *samples {
                app.append(None, &labels, t, v).unwrap();
            }
        }
        app.commit().unwrap();
        s
    }

    fn eval(s: &MemStorage, q: &str, steps: Steps) -> Stepped {
        Engine::default()
            .eval(s, &parse(q).unwrap(), steps)
            .unwrap()
    }

    fn points(v: &Stepped) -> Vec<(String, Vec<(i64, f64)>)> {
        match v {
            Stepped::Vector(series) => series
                .iter()
                .map(|s| {
                    (
                        s.labels.to_string(),
                        s.points.iter().map(|p| (p.t, p.v)).collect(),
                    )
                })
                .collect(),
            other => panic!("not a vector: {other:?}"),
        }
    }

    #[test]
    fn instant_selectors_look_back_five_minutes_left_open() {
        let s = store(&[("up{job=\"a\"}", &[(0, 1.0), (60_000, 2.0)])]);
        let steps = Steps {
            start: 0,
            end: 420_000,
            step: 60_000,
        };
        // At 6m the newest sample (1m) is exactly 5m old: outside the left-open window.
        assert_eq!(
            points(&eval(&s, "up", steps)),
            [(
                "up{job=\"a\"}".into(),
                vec![
                    (0, 1.0),
                    (60_000, 2.0),
                    (120_000, 2.0),
                    (180_000, 2.0),
                    (240_000, 2.0),
                    (300_000, 2.0)
                ]
            )]
        );
    }

    #[test]
    fn a_stale_marker_ends_the_series_at_once() {
        let s = store(&[("x", &[(0, 1.0), (60_000, model::STALE_NAN), (180_000, 3.0)])]);
        let steps = Steps {
            start: 0,
            end: 180_000,
            step: 60_000,
        };
        assert_eq!(
            points(&eval(&s, "x", steps)),
            [("x{}".into(), vec![(0, 1.0), (180_000, 3.0)])]
        );
    }

    #[test]
    fn offset_and_at_move_the_read_time() {
        let s = store(&[("x", &[(0, 10.0), (600_000, 20.0)])]);
        let at_10m = Steps::instant(600_000);
        assert_eq!(
            points(&eval(&s, "x offset 10m", at_10m))[0].1,
            [(600_000, 10.0)]
        );
        assert_eq!(points(&eval(&s, "x @ 0", at_10m))[0].1, [(600_000, 10.0)]);
        assert_eq!(
            points(&eval(
                &s,
                "x @ end()",
                Steps {
                    start: 0,
                    end: 600_000,
                    step: 600_000
                }
            ))[0]
                .1,
            [(0, 20.0), (600_000, 20.0)]
        );
        assert_eq!(
            points(&eval(&s, "-x", at_10m)),
            [("{}".into(), vec![(600_000, -20.0)])]
        );
    }

    #[test]
    fn range_functions_evaluate_per_step_and_drop_the_name() {
        let s = store(&[(
            "req_total{job=\"a\"}",
            &(0..=20)
                .map(|i| (i * 30_000, (i * 10) as f64))
                .collect::<Vec<_>>(),
        )]);
        let got = points(&eval(
            &s,
            "rate(req_total[5m])",
            Steps {
                start: 300_000,
                end: 600_000,
                step: 300_000,
            },
        ));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "{job=\"a\"}");
        for (_, v) in &got[0].1 {
            assert!((v - 1.0 / 3.0).abs() < 1e-9, "{v}");
        }
        let last = points(&eval(
            &s,
            "last_over_time(req_total[1m])",
            Steps::instant(600_000),
        ));
        assert_eq!(
            last,
            [("req_total{job=\"a\"}".into(), vec![(600_000, 200.0)])]
        );
        let q = points(&eval(
            &s,
            "quantile_over_time(0.5, req_total[1m])",
            Steps::instant(600_000),
        ));
        assert_eq!(q[0].1, [(600_000, 195.0)]);
    }

    #[test]
    fn delayed_name_removal_keeps_names_until_the_end() {
        let s = store(&[
            ("a_total{env=\"1\"}", &[(0, 0.0), (60_000, 60.0)]),
            ("b_total{env=\"1\"}", &[(0, 0.0), (60_000, 120.0)]),
        ]);
        let delayed = Engine::new(EngineOptions {
            delayed_name_removal: true,
            ..EngineOptions::default()
        });
        let at = Steps::instant(60_000);
        let run = |engine: &Engine, q: &str| engine.eval(&s, &parse(q).unwrap(), at);
        // At once, rate() of both gives two series with the same labels.
        assert_eq!(
            run(&Engine::default(), "rate({env=\"1\"}[2m])"),
            Err(EvalError::Execution(
                "vector cannot contain metrics with the same labelset".into()
            ))
        );
        let Ok(Stepped::Vector(sum)) = run(&delayed, "sum by (env) (rate({env=\"1\"}[2m]))") else {
            panic!()
        };
        assert_eq!(sum[0].labels.to_string(), "{env=\"1\"}");
        let Ok(Stepped::Vector(pair)) = run(
            &Engine::default(),
            "rate(a_total[2m]) + on(env) rate(b_total[2m])",
        ) else {
            panic!()
        };
        assert_eq!(sum[0].points, pair[0].points);
        // label_replace still sees the name, and a name it writes stays.
        let Ok(Stepped::Vector(named)) = run(
            &delayed,
            "label_replace(rate(a_total[2m]), \"__name__\", \"rate_$1\", \"__name__\", \"(.+)\")",
        ) else {
            panic!()
        };
        assert_eq!(named[0].labels.to_string(), "rate_a_total{env=\"1\"}");
        let Ok(Stepped::Vector(plain)) = run(&delayed, "abs(a_total)") else {
            panic!()
        };
        assert_eq!(plain[0].labels.to_string(), "{env=\"1\"}");
    }

    #[test]
    fn limits_and_bad_queries_fail_with_their_category() {
        let s = store(&[("x", &[(0, 1.0), (1, 2.0), (2, 3.0)])]);
        let engine = Engine::new(EngineOptions {
            max_samples: 2,
            ..EngineOptions::default()
        });
        assert_eq!(
            engine.eval(&s, &parse("x").unwrap(), Steps::instant(10)),
            Err(EvalError::TooManySamples)
        );
        let expired = Engine::default().with_timeout(Duration::ZERO);
        assert_eq!(expired.options().timeout, Some(Duration::ZERO));
        assert_eq!(
            expired.eval(&s, &parse("sum(x)").unwrap(), Steps::instant(10)),
            Err(EvalError::Timeout)
        );
        assert_eq!(
            Engine::default()
                .with_timeout(Duration::from_secs(600))
                .options()
                .timeout,
            Some(Duration::from_secs(120)),
            "a request cannot raise the configured timeout"
        );
        assert!(matches!(
            Engine::default().eval(
                &s,
                &parse("x").unwrap(),
                Steps {
                    start: 0,
                    end: 10,
                    step: 0
                }
            ),
            Err(EvalError::BadData(_))
        ));
        assert_eq!(
            eval(
                &s,
                "1.5",
                Steps {
                    start: 0,
                    end: 2,
                    step: 1
                }
            ),
            Stepped::Scalar(vec![1.5; 3])
        );
    }
}
