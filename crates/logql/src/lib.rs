//! LogQL, Loki 3's log query language: parsed, and evaluated over any [`logs::LogStore`]
//! with Loki's semantics.
//!
//! A **log query** selects streams by their labels and runs each line through a pipeline:
//! line filters (`|= "x"`, `!= "x"`, `|~ "re"`, `!~ "re"`, `|> "<_> pattern"`, with `or`),
//! parsers that turn the line's fields into labels (`json`, `logfmt`, `regexp`, `pattern`,
//! `unpack`), label filters (`| level="error"`, `| status >= 500 or latency > 1s`,
//! `| size > 20MB`), and formats (`line_format`, `label_format`, `drop`, `keep`,
//! `decolorize`). It answers the newest (or oldest) `limit` lines, grouped into streams by
//! their labels after the pipeline.
//!
//! A **metric query** counts or measures lines over a sliding range (`rate`,
//! `count_over_time`, `bytes_rate`, `sum_over_time(... | unwrap latency [1m])`, ...), then
//! aggregates series (`sum by (level)`, `topk(3, ...)`) and combines them (`a / b`,
//! `a > bool 1`, `a and on (job) b`) as PromQL does.
//!
//! ```
//! use logs::{Entry, LogStore, MemLogs, Stream};
//! use model::Labels;
//!
//! let store = MemLogs::new();
//! let s = 1_000_000_000;
//! store.push(&[Stream {
//!     labels: Labels::from_pairs([("job", "node")]),
//!     entries: vec![
//!         Entry::new(10 * s, r#"{"level":"info","msg":"block imported"}"#),
//!         Entry::new(20 * s, r#"{"level":"error","msg":"peer lost"}"#),
//!         Entry::new(30 * s, r#"{"level":"error","msg":"peer lost"}"#),
//!     ],
//! }]).unwrap();
//!
//! let q = logql::parse(r#"sum by (level) (count_over_time({job="node"} | json [1m]))"#).unwrap();
//! assert!(q.is_metric());
//! let params = logql::Params::instant(60 * s);
//! let logql::Value::Vector(v) = logql::eval(&store, &q, &params).unwrap() else { panic!() };
//! let counts: Vec<(String, f64)> = v.iter().map(|x| (x.labels.to_string(), x.value)).collect();
//! assert_eq!(counts, [(r#"{level="error"}"#.to_owned(), 2.0), (r#"{level="info"}"#.to_owned(), 1.0)]);
//!
//! let q = logql::parse(r#"{job="node"} |= "peer" | json | line_format "{{.level | ToUpper}}: {{.msg}}""#).unwrap();
//! assert_eq!(q.contains_hints(), ["peer"]);
//! let params = logql::Params::range(0, 60 * s, 0);
//! let logql::Value::Streams(streams) = logql::eval(&store, &q, &params).unwrap() else { panic!() };
//! assert_eq!(streams[0].entries[0].line, "ERROR: peer lost");
//!
//! let e = logql::parse(r#"{job="node"} | json | status > "x""#).unwrap_err();
//! assert_eq!(e.to_string(), "parse error at line 1, col 32: syntax error: unexpected STRING \"x\", expecting NUMBER, DURATION or BYTES");
//! ```
//!
//! What Loki accepts beyond this (the `ip()` line and label filters, `approx_topk`) is
//! refused with `unsupported: ...` and the position of the construct. Where the two differ
//! on purpose: a regex is compiled (and refused) at parse time, not when the query runs; a
//! label whose value is empty is no label (Skywatch's label sets drop empty values, as
//! Prometheus's do), so `| json` of `{"a":""}` gives no `a`.

mod ast;
mod eval;
pub mod fields;
mod functions;
pub mod json;
mod lexer;
mod parser;
mod pipeline;

#[cfg(test)]
mod tests;

use std::fmt;

pub use ast::{
    BinOp, Binary, Cardinality, Conversion, Expr, Grouping, LabelReplace, LogExpr, LogRange,
    MetricExpr, RangeAggregation, RangeOp, Unwrap, VectorAggregation, VectorMatching, VectorOp,
};
pub use functions::TEMPLATE_FUNCTIONS;
pub use logs::Direction;
pub use model::Labels;
pub use parser::{MAX_DEPTH, MAX_OPERATORS};
pub use pipeline::{
    CmpOp, ERROR_DETAILS_LABEL, ERROR_LABEL, LabelFilter, LabelFmt, LabelsResult, LineFilter,
    LineOp, NamedMatcher, Pattern, Stage,
};

/// Parses a LogQL query.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    parser::parse(text)
}

/// A query that does not parse: where, and why. Displays as Loki's
/// `parse error at line 1, col 12: syntax error: unexpected ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The byte offset in the query of the token at fault.
    pub offset: usize,
    /// Its line, from 1.
    pub line: usize,
    /// Its column in characters, from 1.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(src: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(src.len());
        let before = src.get(..offset).unwrap_or(src);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        Self {
            offset,
            line,
            col,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parse error at line {}, col {}: {}",
            self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// A query that could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A limit was reached; the message names it and what to change.
    #[error("{0}")]
    Limit(String),
    /// A parser or conversion failed on some lines of a metric query (Loki's pipeline
    /// error): filter them with `| __error__=""`.
    #[error("{0}")]
    Pipeline(String),
    /// The query cannot be evaluated as asked (matching, parameters).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] logs::LogError),
}

/// What to evaluate over. Times are Unix nanoseconds; an instant query has `start == end`
/// and `step == 0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The start (log queries: inclusive).
    pub start: i64,
    /// The end (log queries: exclusive; metric queries: the last step).
    pub end: i64,
    /// The step of a range metric query; 0 for an instant query.
    pub step: i64,
    /// Log queries: per stream, only lines at least this far apart.
    pub interval: Option<i64>,
    /// Log queries: newest first (backward) or oldest first (forward).
    pub direction: Direction,
    /// Log queries: the most lines answered.
    pub limit: usize,
}

impl Params {
    /// An instant query at `time`, backward, with Loki's default limit of 100.
    pub fn instant(time: i64) -> Self {
        Self {
            start: time,
            end: time,
            step: 0,
            interval: None,
            direction: Direction::Backward,
            limit: 100,
        }
    }

    /// A range query over `[start, end]` with `step` (0 for log queries), backward, with
    /// Loki's default limit of 100.
    pub fn range(start: i64, end: i64, step: i64) -> Self {
        Self {
            start,
            end,
            step,
            interval: None,
            direction: Direction::Backward,
            limit: 100,
        }
    }
}

/// What keeps one query from taking the server down; each error names its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The most series a metric query may give or hold (Loki's `max_query_series`).
    pub max_series: usize,
    /// The largest `limit` of a log query (Loki's `max_entries_limit_per_query`).
    pub max_entries: usize,
    /// The most steps of a range query (Loki's and Prometheus's 11,000 points).
    pub max_points: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_series: 500,
            max_entries: 5000,
            max_points: 11_000,
        }
    }
}

/// A query's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A log query's lines.
    Streams(Vec<StreamResult>),
    /// A range metric query's series.
    Matrix(Vec<Series>),
    /// An instant metric query's samples.
    Vector(Vec<Sample>),
    /// A number (an instant query of a literal).
    Scalar(f64),
}

/// Lines with the same labels after the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamResult {
    /// Every label: the stream's, the metadata's and the parsed ones.
    pub labels: Labels,
    /// Its lines, in the query's direction.
    pub entries: Vec<ResultEntry>,
}

/// One line of a log query's answer, with its labels by kind (for Loki's
/// `categorize-labels` answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultEntry {
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The line, as the pipeline left it.
    pub line: String,
    /// The stream's labels (as the pipeline left them).
    pub stream: Labels,
    /// Structured metadata.
    pub metadata: Labels,
    /// Labels the pipeline added (and `__error__`).
    pub parsed: Labels,
}

/// A series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// Its points: (Unix nanoseconds, value), at the steps where it has a value.
    pub points: Vec<(i64, f64)>,
}

/// A sample of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels.
    pub labels: Labels,
    /// Unix nanoseconds.
    pub timestamp: i64,
    /// The value.
    pub value: f64,
}

/// What a query read and returned, for the `stats` of Loki's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Lines read from the store.
    pub lines: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Lines that passed the pipeline.
    pub post_filter_lines: u64,
    /// Log lines answered.
    pub entries_returned: u64,
    /// Seconds spent.
    pub exec_time: f64,
}

/// Evaluates `expr` over `store` with the default [`Limits`].
pub fn eval(store: &dyn logs::LogStore, expr: &Expr, params: &Params) -> Result<Value, EvalError> {
    eval::eval(store, expr, params, &Limits::default()).map(|(v, _)| v)
}

/// Evaluates `expr` over `store` within `limits`, with what it read.
pub fn eval_with(
    store: &dyn logs::LogStore,
    expr: &Expr,
    params: &Params,
    limits: &Limits,
) -> Result<(Value, Stats), EvalError> {
    eval::eval(store, expr, params, limits)
}
