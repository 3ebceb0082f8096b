//! The PromQL syntax tree the engine evaluates, and its construction from promql-parser's.
//!
//! promql-parser (GreptimeDB) parses and type-checks; this module turns its tree into ours,
//! so that the engine depends on types this crate owns: a parser upgrade, or a parser of our
//! own for syntax promql-parser lacks, changes only this file. Durations and times are
//! milliseconds; matchers are `model::Matcher`s. Parentheses are dropped: they only group.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use model::{MatchOp, Matcher};
use promql_parser::parser as pp;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal.
    Number(f64),
    /// A string literal.
    String(String),
    /// `name{matchers} offset d @ t`
    Vector(Selector),
    /// `name{matchers}[range] offset d @ t`
    Matrix {
        /// The series selected.
        selector: Selector,
        /// The range, in ms.
        range: i64,
    },
    /// `expr[range:step] offset d @ t`
    Subquery {
        /// The inner expression.
        expr: Box<Expr>,
        /// The range, in ms.
        range: i64,
        /// The step, in ms; `None` uses the default evaluation interval.
        step: Option<i64>,
        /// The offset, in ms (negative for `offset -d`).
        offset: i64,
        /// The `@` modifier.
        at: Option<At>,
    },
    /// `-expr`
    Negate(Box<Expr>),
    /// `lhs op rhs`
    Binary {
        /// The operator.
        op: BinOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
        /// How vector elements pair up; `None` for scalar operands.
        matching: Option<VectorMatching>,
        /// `bool`: comparisons return 0 or 1 instead of filtering.
        return_bool: bool,
    },
    /// `op by|without (labels) (param, expr)`
    Aggregate {
        /// The aggregation.
        op: AggOp,
        /// Its vector argument.
        expr: Box<Expr>,
        /// Its parameter (`k`, the quantile, the label of `count_values`...).
        param: Option<Box<Expr>>,
        /// The grouping.
        grouping: Grouping,
        /// Where it and its arguments are in the query.
        pos: Pos,
    },
    /// `func(args)`
    Call {
        /// The function's name.
        func: String,
        /// Its arguments.
        args: Vec<Expr>,
        /// Where it and its arguments are in the query.
        pos: Pos,
    },
}

/// A place in the query text, as Prometheus gives it in annotations: 1-based line and
/// column (in bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCol {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub col: usize,
}

impl std::fmt::Display for LineCol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where a function call or an aggregation and each of its arguments start (an
/// aggregation's parameter first), for annotations; default when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pos {
    /// The call's first character.
    pub at: LineCol,
    /// Each argument's first character.
    pub args: Vec<LineCol>,
}

impl Pos {
    /// Where argument `i` starts, or the call if unknown.
    pub fn arg(&self, i: usize) -> LineCol {
        self.args.get(i).copied().unwrap_or(self.at)
    }
}

impl Expr {
    /// Every series selector in the expression, range selectors' included, in order.
    pub fn selectors(&self) -> Vec<&Selector> {
        let mut out = Vec::new();
        self.collect_selectors(&mut out);
        out
    }

    fn collect_selectors<'a>(&'a self, out: &mut Vec<&'a Selector>) {
        match self {
            Expr::Number(_) | Expr::String(_) => {}
            Expr::Vector(selector) | Expr::Matrix { selector, .. } => out.push(selector),
            Expr::Subquery { expr, .. } | Expr::Negate(expr) => expr.collect_selectors(out),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.collect_selectors(out);
                rhs.collect_selectors(out);
            }
            Expr::Aggregate { expr, param, .. } => {
                if let Some(p) = param {
                    p.collect_selectors(out);
                }
                expr.collect_selectors(out);
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| a.collect_selectors(out)),
        }
    }
}

impl Selector {
    /// The metric name the selector requires, if it has an equality matcher on it.
    pub fn metric_name(&self) -> Option<&str> {
        self.matchers
            .iter()
            .find(|m| m.name == model::METRIC_NAME && m.op == MatchOp::Equal)
            .map(|m| m.value.as_str())
    }
}

/// A series selector with its modifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// The matchers, the metric name included as `__name__="..."`.
    pub matchers: Vec<Matcher>,
    /// The offset, in ms (negative for `offset -d`).
    pub offset: i64,
    /// The `@` modifier.
    pub at: Option<At>,
}

/// The `@` modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// `@ start()`
    Start,
    /// `@ end()`
    End,
    /// `@ <time>`, in ms.
    Time(i64),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `atan2`
    Atan2,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinOp {
    /// Tells whether the operator compares.
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    /// Tells whether the operator works on sets of series.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `count_values`
    CountValues,
    /// `quantile`
    Quantile,
    /// `limitk`
    Limitk,
    /// `limit_ratio`
    LimitRatio,
}

/// How an aggregation groups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grouping {
    /// `without` (true) or `by` (false).
    pub without: bool,
    /// The labels listed.
    pub labels: Vec<String>,
}

/// How the elements of two vectors pair up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorMatching {
    /// One-to-one, many-to-one (`group_left`), one-to-many (`group_right`) or, for set
    /// operators, many-to-many.
    pub card: Cardinality,
    /// `on` (true) or `ignoring` (false); with no modifier, `ignoring ()`.
    pub on: bool,
    /// The labels of `on` or `ignoring`.
    pub labels: Vec<String>,
    /// The labels of `group_left` / `group_right` to copy from the "one" side.
    pub include: Vec<String>,
}

/// The cardinality of a vector match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cardinality {
    /// Each element matches at most one on the other side.
    OneToOne,
    /// `group_left`
    ManyToOne,
    /// `group_right`
    OneToMany,
    /// Set operators.
    ManyToMany,
}

/// A query that does not parse, or uses syntax the engine does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Formats a query the way Prometheus's `format_query` does.
pub fn format(query: &str) -> Result<String, ParseError> {
    pp::parse(query)
        .map(|e| e.prettify())
        .map_err(|e| ParseError(format!("parse error: {e}")))
}

/// Parses a PromQL expression.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    let expr = pp::parse(query)
        .map_err(|e| ParseError(format!("parse error: {}", prometheus_wording(&e))))?;
    convert(&expr, &mut CallSites::scan(query))
}

/// The calls and aggregations of a query's text, by lower-cased name, each a queue of their
/// positions in text order. promql-parser's tree has no positions, so they are recovered
/// from the text: every identifier followed by `(` (after an aggregation's `by (...)` or
/// `without (...)`) is a call site, and the tree's calls of one name, visited in text order,
/// take that name's sites in turn.
struct CallSites(HashMap<String, VecDeque<Pos>>);

impl CallSites {
    fn scan(text: &str) -> Self {
        let b = text.as_bytes();
        let line_col = |i: usize| {
            let before = &text[..i];
            let line = before.matches('\n').count() + 1;
            let col = i - before.rfind('\n').map_or(0, |n| n + 1) + 1;
            LineCol { line, col }
        };
        let mut sites: HashMap<String, VecDeque<Pos>> = HashMap::new();
        let mut i = 0;
        let mut after_at = false;
        while i < b.len() {
            let c = b[i];
            if c == b'"' || c == b'\'' || c == b'`' {
                i = skip_string(b, i);
                after_at = false;
                continue;
            }
            if c == b'#' {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n);
                continue;
            }
            if c.is_ascii_alphabetic() || c == b'_' {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                // `@ start()` and `@ end()` are modifiers, not calls.
                if !after_at && let Some(open) = call_paren(b, i) {
                    let args = argument_starts(b, open).into_iter().map(line_col).collect();
                    sites
                        .entry(text[start..i].to_ascii_lowercase())
                        .or_default()
                        .push_back(Pos {
                            at: line_col(start),
                            args,
                        });
                }
                after_at = false;
                continue;
            }
            if !c.is_ascii_whitespace() {
                after_at = c == b'@';
            }
            i += 1;
        }
        Self(sites)
    }

    /// The next site of a call named `name`.
    fn next(&mut self, name: &str) -> Pos {
        self.0
            .get_mut(&name.to_ascii_lowercase())
            .and_then(VecDeque::pop_front)
            .unwrap_or_default()
    }
}

/// The index after the string literal starting at `i`.
fn skip_string(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != quote {
        if b[j] == b'\\' && quote != b'`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The index of the `(` that opens the arguments of the identifier ending at `i`, skipping
/// an aggregation's `by (...)` or `without (...)`; `None` if it is not a call.
fn call_paren(b: &[u8], i: usize) -> Option<usize> {
    let mut j = skip_space(b, i);
    for keyword in [&b"by"[..], &b"without"[..]] {
        let end = j + keyword.len();
        if b.get(j..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(keyword))
            && b.get(end)
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
        {
            let open = skip_space(b, end);
            if b.get(open) != Some(&b'(') {
                return None;
            }
            j = skip_space(b, matching_close(b, open, |_| {})? + 1);
            break;
        }
    }
    (b.get(j) == Some(&b'(')).then_some(j)
}

/// The index of the bracket closing the one at `open`, calling `on_comma` with the index
/// of each comma directly inside it; strings are skipped.
fn matching_close(b: &[u8], open: usize, mut on_comma: impl FnMut(usize)) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            b',' if depth == 1 => on_comma(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Where each argument of the call whose `(` is at `open` starts.
fn argument_starts(b: &[u8], open: usize) -> Vec<usize> {
    let first = skip_space(b, open + 1);
    if b.get(first).is_none_or(|&c| c == b')') {
        return Vec::new();
    }
    let mut starts = vec![first];
    matching_close(b, open, |comma| starts.push(skip_space(b, comma + 1)));
    starts
}

/// A promql-parser message worded as Prometheus words it, where they differ.
fn prometheus_wording(message: &str) -> String {
    const UNKNOWN: &str = "unknown function with name ";
    match message.strip_prefix(UNKNOWN) {
        Some(name) => format!("{UNKNOWN}\"{}\"", name.trim_matches('\'')),
        None => message.to_owned(),
    }
}

fn millis(d: &Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn offset(o: &Option<pp::Offset>) -> i64 {
    match o {
        Some(pp::Offset::Pos(d)) => millis(d),
        Some(pp::Offset::Neg(d)) => -millis(d),
        None => 0,
    }
}

fn at(a: &Option<pp::AtModifier>) -> Option<At> {
    a.as_ref().map(|a| match a {
        pp::AtModifier::Start => At::Start,
        pp::AtModifier::End => At::End,
        pp::AtModifier::At(t) => At::Time(match t.duration_since(UNIX_EPOCH) {
            Ok(d) => millis(&d),
            Err(e) => -millis(&e.duration()),
        }),
    })
}

fn selector(vs: &pp::VectorSelector) -> Result<Selector, ParseError> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(ParseError("`or` inside a selector is not supported".into()));
    }
    let mut matchers = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        matchers.push(Matcher::equal(model::METRIC_NAME, name.clone()));
    }
    for m in &vs.matchers.matchers {
        let op = match &m.op {
            promql_parser::label::MatchOp::Equal => MatchOp::Equal,
            promql_parser::label::MatchOp::NotEqual => MatchOp::NotEqual,
            promql_parser::label::MatchOp::Re(_) => MatchOp::Regex,
            promql_parser::label::MatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        if vs.name.is_some()
            && m.name == model::METRIC_NAME
            && op == MatchOp::Equal
            && Some(&m.value) == vs.name.as_ref()
        {
            continue;
        }
        matchers.push(
            Matcher::new(op, m.name.clone(), m.value.clone())
                .map_err(|e| ParseError(e.to_string()))?,
        );
    }
    Ok(Selector {
        matchers,
        offset: offset(&vs.offset),
        at: at(&vs.at),
    })
}

fn bin_op(op: &str) -> Result<BinOp, ParseError> {
    Ok(match op {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Mod,
        "^" => BinOp::Pow,
        "atan2" => BinOp::Atan2,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        ">" => BinOp::Gt,
        "<" => BinOp::Lt,
        ">=" => BinOp::Ge,
        "<=" => BinOp::Le,
        "and" => BinOp::And,
        "or" => BinOp::Or,
        "unless" => BinOp::Unless,
        other => return Err(ParseError(format!("unsupported binary operator {other:?}"))),
    })
}

fn agg_op(op: &str) -> Result<AggOp, ParseError> {
    Ok(match op {
        "sum" => AggOp::Sum,
        "avg" => AggOp::Avg,
        "count" => AggOp::Count,
        "min" => AggOp::Min,
        "max" => AggOp::Max,
        "group" => AggOp::Group,
        "stddev" => AggOp::Stddev,
        "stdvar" => AggOp::Stdvar,
        "topk" => AggOp::Topk,
        "bottomk" => AggOp::Bottomk,
        "count_values" => AggOp::CountValues,
        "quantile" => AggOp::Quantile,
        "limitk" => AggOp::Limitk,
        "limit_ratio" => AggOp::LimitRatio,
        other => return Err(ParseError(format!("unsupported aggregation {other:?}"))),
    })
}

fn labels_of(l: &promql_parser::label::Labels) -> Vec<String> {
    l.labels.clone()
}

fn convert(e: &pp::Expr, sites: &mut CallSites) -> Result<Expr, ParseError> {
    Ok(match e {
        pp::Expr::NumberLiteral(n) => Expr::Number(n.val),
        pp::Expr::StringLiteral(s) => Expr::String(s.val.clone()),
        pp::Expr::Paren(p) => convert(&p.expr, sites)?,
        pp::Expr::VectorSelector(vs) => Expr::Vector(selector(vs)?),
        pp::Expr::MatrixSelector(ms) => Expr::Matrix {
            selector: selector(&ms.vs)?,
            range: millis(&ms.range),
        },
        pp::Expr::Subquery(sq) => Expr::Subquery {
            expr: Box::new(convert(&sq.expr, sites)?),
            range: millis(&sq.range),
            step: sq.step.as_ref().map(millis),
            offset: offset(&sq.offset),
            at: at(&sq.at),
        },
        pp::Expr::Unary(u) => Expr::Negate(Box::new(convert(&u.expr, sites)?)),
        pp::Expr::Binary(b) => {
            let op = bin_op(&b.op.to_string())?;
            let matching = match &b.modifier {
                None => None,
                Some(m) => {
                    if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                        return Err(ParseError("fill modifiers are not supported".into()));
                    }
                    let (card, include) = match &m.card {
                        pp::VectorMatchCardinality::OneToOne => (Cardinality::OneToOne, vec![]),
                        pp::VectorMatchCardinality::ManyToOne(l) => {
                            (Cardinality::ManyToOne, labels_of(l))
                        }
                        pp::VectorMatchCardinality::OneToMany(l) => {
                            (Cardinality::OneToMany, labels_of(l))
                        }
                        pp::VectorMatchCardinality::ManyToMany => (Cardinality::ManyToMany, vec![]),
                    };
                    let (on, labels) = match &m.matching {
                        Some(pp::LabelModifier::Include(l)) => (true, labels_of(l)),
                        Some(pp::LabelModifier::Exclude(l)) => (false, labels_of(l)),
                        None => (false, vec![]),
                    };
                    Some(VectorMatching {
                        card,
                        on,
                        labels,
                        include,
                    })
                }
            };
            let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
            Expr::Binary {
                op,
                lhs: Box::new(convert(&b.lhs, sites)?),
                rhs: Box::new(convert(&b.rhs, sites)?),
                matching,
                return_bool,
            }
        }
        pp::Expr::Aggregate(a) => {
            let op_name = a.op.to_string();
            let pos = sites.next(&op_name);
            // The parameter comes first in the text.
            let param = a
                .param
                .as_ref()
                .map(|p| convert(p, sites).map(Box::new))
                .transpose()?;
            Expr::Aggregate {
                op: agg_op(&op_name)?,
                param,
                expr: Box::new(convert(&a.expr, sites)?),
                grouping: match &a.modifier {
                    Some(pp::LabelModifier::Include(l)) => Grouping {
                        without: false,
                        labels: labels_of(l),
                    },
                    Some(pp::LabelModifier::Exclude(l)) => Grouping {
                        without: true,
                        labels: labels_of(l),
                    },
                    None => Grouping::default(),
                },
                pos,
            }
        }
        pp::Expr::Call(c) => {
            let pos = sites.next(c.func.name);
            Expr::Call {
                func: c.func.name.to_owned(),
                args: c
                    .args
                    .args
                    .iter()
                    .map(|a| convert(a, sites))
                    .collect::<Result<_, _>>()?,
                pos,
            }
        }
        pp::Expr::Extension(_) => {
            return Err(ParseError("extension expressions are not supported".into()));
        }
    })
}

/// Returns the time as milliseconds since the epoch, for tests and callers that hold a
/// `SystemTime`.
pub fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => millis(&d),
        Err(e) => -millis(&e.duration()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_the_shapes_the_engine_needs() {
        let e = parse(r#"sum by (job) (rate(http_requests_total{code=~"5.."}[5m] offset 1m))"#)
            .unwrap();
        let Expr::Aggregate {
            op, grouping, expr, ..
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(
            (op, grouping),
            (
                AggOp::Sum,
                Grouping {
                    without: false,
                    labels: vec!["job".into()]
                }
            )
        );
        let Expr::Call { func, args, .. } = *expr else {
            panic!()
        };
        assert_eq!(func, "rate");
        let Expr::Matrix { selector, range } = &args[0] else {
            panic!()
        };
        assert_eq!((*range, selector.offset), (300_000, 60_000));
        assert_eq!(selector.matchers.len(), 2);
        assert_eq!(
            selector.matchers[0].to_string(),
            r#"__name__="http_requests_total""#
        );

        let e = parse("a / on(job) group_left(team) b").unwrap();
        let Expr::Binary {
            op,
            matching: Some(m),
            ..
        } = e
        else {
            panic!()
        };
        assert_eq!(op, BinOp::Div);
        assert_eq!(
            (m.card, m.on, m.labels, m.include),
            (
                Cardinality::ManyToOne,
                true,
                vec!["job".to_string()],
                vec!["team".to_string()]
            )
        );

        let e = parse("max_over_time((x - x offset -1h)[1h:5m] @ 100)").unwrap();
        let Expr::Call { args, .. } = e else { panic!() };
        let Expr::Subquery {
            range, step, at, ..
        } = &args[0]
        else {
            panic!()
        };
        assert_eq!(
            (*range, *step, *at),
            (3_600_000, Some(300_000), Some(At::Time(100_000)))
        );
        assert_eq!(
            parse("-(1 + 2) > bool 3").unwrap().to_string_shape(),
            "Binary(Negate(Binary(Number, Number)), Number)"
        );
    }

    #[test]
    fn parse_errors_say_so() {
        let e = parse("sum(").unwrap_err();
        assert!(e.0.starts_with("parse error: "), "{e}");
        assert_eq!(
            parse(r#"{a="b" or c="d"}"#)
                .map_err(|e| e.0.contains("parse error") || e.0.contains("not supported")),
            Err(true)
        );
    }

    /// Every expression of the 16 target scripts that promql-parser accepts converts; the
    /// five excluded files use syntax the engine does not support (fill modifiers among it).
    #[test]
    fn every_target_expression_converts() {
        const EXCLUDED: [&str; 5] = [
            "duration_expression.test",
            "extended_vectors.test",
            "fill-modifier.test",
            "info.test",
            "native_histograms.test",
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/promql-testdata");
        let mut converted = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".test") || EXCLUDED.contains(&name.as_str()) {
                continue;
            }
            let script =
                crate::promqltest::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for c in &script.commands {
                let crate::promqltest::Command::Eval(e) = c else {
                    continue;
                };
                if let Ok(tree) = pp::parse(&e.expr) {
                    let expr = convert(&tree, &mut CallSites::scan(&e.expr))
                        .unwrap_or_else(|err| panic!("{name}:{}: {}: {err}", e.line, e.expr));
                    check_positions(&expr, &e.expr);
                    converted += 1;
                }
            }
        }
        assert!(converted > 1300, "{converted}");
    }

    /// Every call of a one-line query knows where it is: the text there is its name.
    fn check_positions(e: &Expr, text: &str) {
        let at = |p: LineCol| &text[p.col.saturating_sub(1)..];
        match e {
            Expr::Call { func, args, pos } => {
                assert!(
                    pos.at.line == 1 && at(pos.at).starts_with(func.as_str()),
                    "{text}: {func} at {}",
                    pos.at
                );
                assert_eq!(pos.args.len(), args.len(), "{text}: {func}");
                args.iter().for_each(|a| check_positions(a, text));
            }
            Expr::Aggregate {
                expr, param, pos, ..
            } => {
                assert!(pos.at.line == 1, "{text}: aggregation at {}", pos.at);
                assert_eq!(pos.args.len(), 1 + usize::from(param.is_some()), "{text}");
                if let Some(p) = param {
                    check_positions(p, text);
                }
                check_positions(expr, text);
            }
            Expr::Subquery { expr, .. } | Expr::Negate(expr) => check_positions(expr, text),
            Expr::Binary { lhs, rhs, .. } => {
                check_positions(lhs, text);
                check_positions(rhs, text);
            }
            Expr::Number(_) | Expr::String(_) | Expr::Vector(_) | Expr::Matrix { .. } => {}
        }
    }

    #[test]
    fn positions_are_found_past_strings_groupings_and_at_modifiers() {
        let text = r#"sum by (job) (rate(x{a="rate(y)"}[5m] @ start())) / on() count(abs(z))"#;
        let Expr::Binary { lhs, rhs, .. } = parse(text).unwrap() else {
            panic!()
        };
        let Expr::Aggregate { expr, pos, .. } = *lhs else {
            panic!()
        };
        assert_eq!(pos.at, LineCol { line: 1, col: 1 });
        assert_eq!(pos.args, [LineCol { line: 1, col: 15 }]);
        let Expr::Call { pos, .. } = *expr else {
            panic!()
        };
        assert_eq!((pos.at.col, pos.arg(0).col), (15, 20));
        let Expr::Aggregate { expr, pos, .. } = *rhs else {
            panic!()
        };
        assert_eq!(pos.at.col, 58);
        let Expr::Call { pos, .. } = *expr else {
            panic!()
        };
        assert_eq!(pos.at.col, 64);
        let Expr::Call { pos, .. } = parse("histogram_quantile(\n  0.9,\n  x)").unwrap() else {
            panic!()
        };
        assert_eq!(pos.arg(1), LineCol { line: 3, col: 3 });
    }

    impl Expr {
        /// A compact rendering of the tree's shape, for tests.
        fn to_string_shape(&self) -> String {
            match self {
                Expr::Number(_) => "Number".into(),
                Expr::String(_) => "String".into(),
                Expr::Vector(_) => "Vector".into(),
                Expr::Matrix { .. } => "Matrix".into(),
                Expr::Subquery { expr, .. } => format!("Subquery({})", expr.to_string_shape()),
                Expr::Negate(e) => format!("Negate({})", e.to_string_shape()),
                Expr::Binary { lhs, rhs, .. } => format!(
                    "Binary({}, {})",
                    lhs.to_string_shape(),
                    rhs.to_string_shape()
                ),
                Expr::Aggregate { expr, .. } => format!("Aggregate({})", expr.to_string_shape()),
                Expr::Call { func, args, .. } => {
                    format!(
                        "{func}({})",
                        args.iter()
                            .map(Expr::to_string_shape)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            }
        }
    }
}
