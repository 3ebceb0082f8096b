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

use crate::limits;

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
        // Depth first with a stack of its own: a tree may be thousands of levels deep.
        let mut pending = vec![self];
        while let Some(e) = pending.pop() {
            match e {
                Expr::Vector(selector) | Expr::Matrix { selector, .. } => out.push(selector),
                other => {
                    let first = pending.len();
                    other.for_each_operand(|o| pending.push(o));
                    pending[first..].reverse();
                }
            }
        }
        out
    }

    /// Calls `f` with each operand of the expression, in the order of the text.
    pub fn for_each_operand<'a>(&'a self, mut f: impl FnMut(&'a Expr)) {
        match self {
            Expr::Number(_) | Expr::String(_) | Expr::Vector(_) | Expr::Matrix { .. } => {}
            Expr::Subquery { expr, .. } | Expr::Negate(expr) => f(expr),
            Expr::Binary { lhs, rhs, .. } => {
                f(lhs);
                f(rhs);
            }
            Expr::Aggregate { expr, param, .. } => {
                if let Some(p) = param {
                    f(p);
                }
                f(expr);
            }
            Expr::Call { args, .. } => args.iter().for_each(f),
        }
    }

    /// Moves every operand that has operands of its own into `out`, leaving a number in
    /// its place.
    fn detach_deep_operands(&mut self, out: &mut Vec<Expr>) {
        let mut detach = |e: &mut Expr| {
            if !e.is_leaf() {
                out.push(std::mem::replace(e, Expr::Number(0.0)));
            }
        };
        match self {
            Expr::Number(_) | Expr::String(_) | Expr::Vector(_) | Expr::Matrix { .. } => {}
            Expr::Subquery { expr, .. } | Expr::Negate(expr) => detach(expr),
            Expr::Binary { lhs, rhs, .. } => {
                detach(lhs);
                detach(rhs);
            }
            Expr::Aggregate { expr, param, .. } => {
                if let Some(p) = param {
                    detach(p);
                }
                detach(expr);
            }
            Expr::Call { args, .. } => args.iter_mut().for_each(detach),
        }
    }

    fn is_leaf(&self) -> bool {
        let mut leaf = true;
        self.for_each_operand(|_| leaf = false);
        leaf
    }
}

/// Drops the tree without recursing once per level, as the drop the compiler writes would:
/// a chain of 20,000 operators would overflow a worker thread's stack.
impl Drop for Expr {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.detach_deep_operands(&mut pending);
        while let Some(mut e) = pending.pop() {
            e.detach_deep_operands(&mut pending);
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
    let depth = limits::format_depth_bound(query)?;
    limits::on_stack(depth, || pp_parse(query).map(|e| e.prettify()))
}

/// Parses a PromQL expression: an error if it does not parse, or if it is deeper or its
/// regular expressions longer than the [`limits`](crate::limits) allow.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    let depth = limits::depth_bound(query)?;
    limits::on_stack(depth, || {
        let expr = pp_parse(query)?;
        convert(&expr, &mut CallSites::scan(query))
    })
}

/// promql-parser's tree of `query`. It panics on some input (a duration of 1e300 seconds,
/// found by fuzzing): a panic is a parse error with its message, not a failed request or
/// a rule manager gone.
fn pp_parse(query: &str) -> Result<pp::Expr, ParseError> {
    match std::panic::catch_unwind(|| pp::parse(query)) {
        Ok(parsed) => parsed.map_err(|e| parse_error(&e)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the parser failed".to_owned());
            Err(parse_error(&message))
        }
    }
}

/// promql-parser's message as a parse error, shortened if it quotes a long input whole
/// (a regex it could not compile, say).
fn parse_error(message: &str) -> ParseError {
    let message = prometheus_wording(message);
    ParseError(format!("parse error: {}", model::shorten(&message)))
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
        let newlines: Vec<usize> = memchr_all(b, b'\n');
        let line_col = |i: usize| {
            let line = newlines.partition_point(|&n| n < i);
            let col = i - line.checked_sub(1).map_or(0, |l| newlines[l] + 1) + 1;
            LineCol {
                line: line + 1,
                col,
            }
        };
        let brackets = Brackets::scan(b);
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
                i = skip_comment(b, i);
                continue;
            }
            if c.is_ascii_alphabetic() || c == b'_' {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                // `@ start()` and `@ end()` are modifiers, not calls.
                if !after_at && let Some(open) = call_paren(b, i, &brackets) {
                    let args = argument_starts(b, open, &brackets)
                        .into_iter()
                        .map(line_col)
                        .collect();
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

/// The index of the end of the line of the comment starting at `i`.
pub(crate) fn skip_comment(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| i + n)
}

/// The index after the string literal starting at `i`.
pub(crate) fn skip_string(b: &[u8], i: usize) -> usize {
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
fn call_paren(b: &[u8], i: usize, brackets: &Brackets) -> Option<usize> {
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
            j = skip_space(b, brackets.0.get(&open)?.close + 1);
            break;
        }
    }
    (b.get(j) == Some(&b'(')).then_some(j)
}

/// Where each argument of the call whose `(` is at `open` starts.
fn argument_starts(b: &[u8], open: usize, brackets: &Brackets) -> Vec<usize> {
    let first = skip_space(b, open + 1);
    if b.get(first).is_none_or(|&c| c == b')') {
        return Vec::new();
    }
    let commas = brackets.0.get(&open).map_or(&[][..], |o| &o.commas);
    std::iter::once(first)
        .chain(commas.iter().map(|&comma| skip_space(b, comma + 1)))
        .collect()
}

/// Every closed bracket of a query's text by the index of its opening one, with the commas
/// directly inside it: found in one pass, so that a query of many nested calls is scanned
/// in time linear in its length.
struct Brackets(HashMap<usize, Bracket>);

struct Bracket {
    close: usize,
    commas: Vec<usize>,
}

impl Brackets {
    fn scan(b: &[u8]) -> Self {
        let mut closed = HashMap::new();
        let mut open: Vec<(usize, Vec<usize>)> = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' | b'\'' | b'`' => {
                    i = skip_string(b, i);
                    continue;
                }
                b'#' => {
                    i = skip_comment(b, i);
                    continue;
                }
                b'(' | b'[' | b'{' => open.push((i, Vec::new())),
                b')' | b']' | b'}' => {
                    if let Some((at, commas)) = open.pop() {
                        closed.insert(at, Bracket { close: i, commas });
                    }
                }
                b',' => {
                    if let Some((_, commas)) = open.last_mut() {
                        commas.push(i);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        Self(closed)
    }
}

/// The indexes of every `byte` in `b`.
fn memchr_all(b: &[u8], byte: u8) -> Vec<usize> {
    b.iter()
        .enumerate()
        .filter_map(|(i, &c)| (c == byte).then_some(i))
        .collect()
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
    limits::grow(|| convert_node(e, sites))
}

fn convert_node(e: &pp::Expr, sites: &mut CallSites) -> Result<Expr, ParseError> {
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
        } = &e
        else {
            panic!("{e:?}")
        };
        let (op, grouping) = (*op, grouping.clone());
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
        let Expr::Call { func, args, .. } = &**expr else {
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
        } = &e
        else {
            panic!()
        };
        assert_eq!(*op, BinOp::Div);
        assert_eq!(
            (m.card, m.on, m.labels.clone(), m.include.clone()),
            (
                Cardinality::ManyToOne,
                true,
                vec!["job".to_string()],
                vec!["team".to_string()]
            )
        );

        let e = parse("max_over_time((x - x offset -1h)[1h:5m] @ 100)").unwrap();
        let Expr::Call { args, .. } = &e else {
            panic!()
        };
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
        let e = parse(text).unwrap();
        let Expr::Binary { lhs, rhs, .. } = &e else {
            panic!()
        };
        let Expr::Aggregate { expr, pos, .. } = &**lhs else {
            panic!()
        };
        assert_eq!(pos.at, LineCol { line: 1, col: 1 });
        assert_eq!(pos.args, [LineCol { line: 1, col: 15 }]);
        let Expr::Call { pos, .. } = &**expr else {
            panic!()
        };
        assert_eq!((pos.at.col, pos.arg(0).col), (15, 20));
        let Expr::Aggregate { expr, pos, .. } = &**rhs else {
            panic!()
        };
        assert_eq!(pos.at.col, 58);
        let Expr::Call { pos, .. } = &**expr else {
            panic!()
        };
        assert_eq!(pos.at.col, 64);
        let e = parse("histogram_quantile(\n  0.9,\n  x)").unwrap();
        let Expr::Call { pos, .. } = &e else { panic!() };
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
