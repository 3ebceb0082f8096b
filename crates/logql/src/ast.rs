//! The LogQL syntax tree, as Loki's `syntax/ast.go` shapes it: a query is a log query (a
//! stream selector and a pipeline) or a metric query (range aggregations over log ranges,
//! vector aggregations, binary operations, literals).

use model::Matcher;
use regex::Regex;

use crate::pipeline::Stage;

/// A parsed LogQL query.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A log query: `{job="node"} |= "error" | json`.
    Log(LogExpr),
    /// A metric query: `sum by (level) (rate({job="node"}[1m]))`.
    Metric(MetricExpr),
}

/// A stream selector and the pipeline its lines go through.
#[derive(Debug, Clone)]
pub struct LogExpr {
    /// The stream selector's matchers.
    pub matchers: Vec<Matcher>,
    /// The pipeline's stages, in order.
    pub stages: Vec<Stage>,
}

/// A query that gives numbers.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    /// `rate(...)`, `count_over_time(...)`, `sum_over_time(... | unwrap x [1m])`, ...
    Range(Box<RangeAggregation>),
    /// `sum by (x) (...)`, `topk(3, ...)`, ...
    Vector(Box<VectorAggregation>),
    /// `a + b`, `a > bool 1`, `a and on (x) b`, ...
    Binary(Box<Binary>),
    /// A number.
    Literal(f64),
    /// `vector(1)`.
    VectorLiteral(f64),
    /// `label_replace(v, dst, replacement, src, regex)`.
    LabelReplace(Box<LabelReplace>),
}

/// A range aggregation over a log range.
#[derive(Debug, Clone)]
pub struct RangeAggregation {
    /// The function.
    pub op: RangeOp,
    /// `quantile_over_time`'s φ.
    pub param: Option<f64>,
    /// The lines, the range and what is unwrapped.
    pub range: LogRange,
    /// `by (...)` or `without (...)` after the call (unwrapped functions only).
    pub grouping: Option<Grouping>,
}

/// A log query over a range: `{job="node"} | json [5m] offset 1h`.
#[derive(Debug, Clone)]
pub struct LogRange {
    /// The lines.
    pub log: LogExpr,
    /// The range, in nanoseconds.
    pub range: i64,
    /// The offset, in nanoseconds.
    pub offset: i64,
    /// `| unwrap x`, with its conversion and the label filters after it.
    pub unwrap: Option<Unwrap>,
}

/// `| unwrap [duration|duration_seconds|bytes](label) | filters...`.
#[derive(Debug, Clone)]
pub struct Unwrap {
    /// The label whose values become samples.
    pub label: String,
    /// How its values are read.
    pub conversion: Conversion,
    /// Label filters applied after conversion (so that `__error__` can be filtered).
    pub post_filters: Vec<crate::pipeline::LabelFilter>,
}

/// How an unwrapped label's value becomes a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// As a float (`strconv.ParseFloat`).
    Float,
    /// As a Go duration, in seconds.
    Duration,
    /// As a byte size (go-humanize), in bytes.
    Bytes,
}

/// The range functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    missing_docs,
    reason = "each variant is the LogQL function of the same name"
)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    AvgOverTime,
    SumOverTime,
    MinOverTime,
    MaxOverTime,
    StdvarOverTime,
    StddevOverTime,
    QuantileOverTime,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
}

impl RangeOp {
    /// The function of this name.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "count_over_time" => Self::CountOverTime,
            "rate" => Self::Rate,
            "rate_counter" => Self::RateCounter,
            "bytes_over_time" => Self::BytesOverTime,
            "bytes_rate" => Self::BytesRate,
            "avg_over_time" => Self::AvgOverTime,
            "sum_over_time" => Self::SumOverTime,
            "min_over_time" => Self::MinOverTime,
            "max_over_time" => Self::MaxOverTime,
            "stdvar_over_time" => Self::StdvarOverTime,
            "stddev_over_time" => Self::StddevOverTime,
            "quantile_over_time" => Self::QuantileOverTime,
            "first_over_time" => Self::FirstOverTime,
            "last_over_time" => Self::LastOverTime,
            "absent_over_time" => Self::AbsentOverTime,
            _ => return None,
        })
    }

    /// Whether the function reads unwrapped values (true) or counts lines and bytes (false).
    pub(crate) fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            Self::CountOverTime
                | Self::Rate
                | Self::BytesOverTime
                | Self::BytesRate
                | Self::AbsentOverTime
        )
    }
}

/// `by (a, b)` or `without (a, b)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// `without` rather than `by`.
    pub without: bool,
    /// The label names.
    pub labels: Vec<String>,
}

/// A vector aggregation.
#[derive(Debug, Clone)]
pub struct VectorAggregation {
    /// The operator.
    pub op: VectorOp,
    /// `topk`'s and `bottomk`'s k.
    pub param: Option<f64>,
    /// What is aggregated.
    pub expr: MetricExpr,
    /// `by`/`without`, before or after the call.
    pub grouping: Option<Grouping>,
}

/// The vector aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(
    missing_docs,
    reason = "each variant is the LogQL operator of the same name"
)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl VectorOp {
    /// The operator of this name.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sum" => Self::Sum,
            "avg" => Self::Avg,
            "min" => Self::Min,
            "max" => Self::Max,
            "count" => Self::Count,
            "stddev" => Self::Stddev,
            "stdvar" => Self::Stdvar,
            "topk" => Self::Topk,
            "bottomk" => Self::Bottomk,
            "sort" => Self::Sort,
            "sort_desc" => Self::SortDesc,
            _ => return None,
        })
    }
}

/// A binary operation between two metric queries (or a query and a number).
#[derive(Debug, Clone)]
pub struct Binary {
    /// The operator.
    pub op: BinOp,
    /// The left side.
    pub lhs: MetricExpr,
    /// The right side.
    pub rhs: MetricExpr,
    /// `bool`: a comparison gives 0 or 1 rather than filtering.
    pub return_bool: bool,
    /// `on`/`ignoring` and `group_left`/`group_right`.
    pub matching: VectorMatching,
}

/// The binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[expect(missing_docs, reason = "each variant is the operator its name says")]
pub enum BinOp {
    Or,
    And,
    Unless,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl BinOp {
    /// Binding power: higher binds tighter (PromQL's and Loki's order).
    pub(crate) fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And | Self::Unless => 2,
            Self::Eq | Self::Neq | Self::Gt | Self::Gte | Self::Lt | Self::Lte => 3,
            Self::Add | Self::Sub => 4,
            Self::Mul | Self::Div | Self::Mod => 5,
            Self::Pow => 6,
        }
    }

    /// Whether the operator is a comparison.
    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            Self::Eq | Self::Neq | Self::Gt | Self::Gte | Self::Lt | Self::Lte
        )
    }

    /// Whether the operator works on sets (`and`, `or`, `unless`).
    pub(crate) fn is_set(self) -> bool {
        matches!(self, Self::And | Self::Or | Self::Unless)
    }
}

/// How the series of a binary operation's sides are paired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VectorMatching {
    /// `on (...)` rather than `ignoring (...)`.
    pub on: bool,
    /// The labels of `on` or `ignoring`.
    pub labels: Vec<String>,
    /// One-to-one, many-to-one or one-to-many.
    pub card: Cardinality,
    /// The labels of `group_left (...)`/`group_right (...)`.
    pub include: Vec<String>,
}

/// Which side of a binary operation may have several series per match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Cardinality {
    /// Neither.
    #[default]
    OneToOne,
    /// `group_left`: the left.
    ManyToOne,
    /// `group_right`: the right.
    OneToMany,
}

/// `label_replace(v, dst, replacement, src, regex)`.
#[derive(Debug, Clone)]
pub struct LabelReplace {
    /// The series.
    pub expr: MetricExpr,
    /// The label written.
    pub dst: String,
    /// The replacement, with `$1`, `${name}`.
    pub replacement: String,
    /// The label read.
    pub src: String,
    /// The regex, anchored at both ends.
    pub regex: Regex,
}

impl Expr {
    /// Whether the query gives numbers (a metric query) rather than log lines.
    pub fn is_metric(&self) -> bool {
        matches!(self, Expr::Metric(_))
    }

    /// The matchers of the query's first stream selector: what `/series`-like uses and
    /// volume queries select with.
    pub fn selector_matchers(&self) -> &[Matcher] {
        match self {
            Expr::Log(l) => &l.matchers,
            Expr::Metric(m) => m.first_log().map_or(&[], |l| &l.matchers),
        }
    }

    /// Every stream selector's matchers, in order of appearance.
    pub fn all_selectors(&self) -> Vec<&[Matcher]> {
        let mut out = Vec::new();
        match self {
            Expr::Log(l) => out.push(l.matchers.as_slice()),
            Expr::Metric(m) => m.logs(&mut |l| out.push(l.matchers.as_slice())),
        }
        out
    }

    /// Strings every line the query reads contains, as the first stream selector's pipeline
    /// says for certain (`|= "x"` before anything rewrites the line): hints for
    /// [`logs::Select::contains`].
    pub fn contains_hints(&self) -> Vec<String> {
        match self {
            Expr::Log(l) => l.contains_hints(),
            Expr::Metric(m) => m
                .first_log()
                .map(LogExpr::contains_hints)
                .unwrap_or_default(),
        }
    }
}

impl LogExpr {
    /// Strings every line this pipeline keeps contains.
    pub fn contains_hints(&self) -> Vec<String> {
        crate::pipeline::contains_hints(&self.stages)
    }
}

impl MetricExpr {
    /// The first log query inside, if any.
    fn first_log(&self) -> Option<&LogExpr> {
        let mut first = None;
        self.logs(&mut |l| {
            if first.is_none() {
                first = Some(l);
            }
        });
        first
    }

    /// Visits every log query inside, left to right.
    pub(crate) fn logs<'a>(&'a self, visit: &mut dyn FnMut(&'a LogExpr)) {
        match self {
            MetricExpr::Range(r) => visit(&r.range.log),
            MetricExpr::Vector(v) => v.expr.logs(visit),
            MetricExpr::Binary(b) => {
                b.lhs.logs(visit);
                b.rhs.logs(visit);
            }
            MetricExpr::LabelReplace(l) => l.expr.logs(visit),
            MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => {}
        }
    }
}
