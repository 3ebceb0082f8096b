//! The LogQL parser: tokens to [`Expr`], with Loki's grammar (`syntax/syntax.y`) and its
//! checks (`syntax/ast.go`'s validations), by recursive descent.
//!
//! Binary operators bind as in PromQL (`or` < `and`/`unless` < comparisons < `+ -` <
//! `* / %` < `^`, which groups from the right); in label filters `and` (or `,`, or a space)
//! binds tighter than `or`. Nesting is bounded ([`MAX_DEPTH`] levels of parentheses and
//! calls, [`MAX_OPERATORS`] binary operators and label filter joins in all), so that no query
//! overflows the stack in parsing, evaluation or drop.

use model::{MatchOp, Matcher};

use crate::ParseError;
use crate::ast::*;
use crate::fields;
use crate::lexer::{Sym, Tok, Token, lex};
use crate::pipeline::{
    CmpOp, LabelFilter, LabelFmt, LineFilter, LineOp, NamedMatcher, Pattern, Stage, template,
};

/// The most levels of parentheses and calls a query may nest.
pub const MAX_DEPTH: usize = 64;
/// The most binary operators and label filter joins (`and`, `or`) a query may have.
pub const MAX_OPERATORS: usize = 256;

/// Parses a query.
pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
        operators: 0,
    };
    let node = p.expr(0)?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected("end of input"));
    }
    match node {
        Node::Log(l) => Ok(Expr::Log(l)),
        Node::Metric(m) => Ok(Expr::Metric(m)),
    }
}

enum Node {
    Log(LogExpr),
    Metric(MetricExpr),
}

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    operators: usize,
}

/// What a log range is made of before its range is known.
struct RangeParts {
    log: LogExpr,
    range: Option<(i64, i64)>,
    unwrap: Option<Unwrap>,
}

impl<'s> Parser<'s> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    fn at(&self) -> usize {
        self.toks[self.pos].at
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.src, at, message)
    }

    fn unexpected(&self, expecting: &str) -> ParseError {
        self.error(
            self.at(),
            format!(
                "syntax error: unexpected {}, expecting {expecting}",
                self.peek().describe()
            ),
        )
    }

    fn unsupported(&self, at: usize, what: &str) -> ParseError {
        self.error(at, format!("unsupported: {what}"))
    }

    fn is_sym(&self, s: Sym) -> bool {
        self.peek() == &Tok::Sym(s)
    }

    fn is_ident(&self, name: &str) -> bool {
        matches!(self.peek(), Tok::Ident(i) if i == name)
    }

    fn expect_sym(&mut self, s: Sym) -> Result<(), ParseError> {
        if self.is_sym(s) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected(s.text()))
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.next();
                Ok(s)
            }
            _ => Err(self.unexpected("IDENTIFIER")),
        }
    }

    fn string(&mut self) -> Result<(String, usize), ParseError> {
        let at = self.at();
        match self.peek().clone() {
            Tok::Str(s) => {
                self.next();
                Ok((s, at))
            }
            _ => Err(self.unexpected("STRING")),
        }
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let neg = if self.is_sym(Sym::Sub) || self.is_sym(Sym::Add) {
            self.next().tok == Tok::Sym(Sym::Sub)
        } else {
            false
        };
        match self.peek().clone() {
            Tok::Num(n) => {
                self.next();
                Ok(if neg { -n } else { n })
            }
            _ => Err(self.unexpected("NUMBER")),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                self.at(),
                format!(
                    "syntax error: the query nests deeper than {MAX_DEPTH} levels of parentheses and calls; flatten it"
                ),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn operator(&mut self, at: usize) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.error(
                at,
                format!(
                    "syntax error: the query has more than {MAX_OPERATORS} operators; split it"
                ),
            ));
        }
        Ok(())
    }

    // ---- expressions ----

    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Ident(i) => match i.as_str() {
                "or" => BinOp::Or,
                "and" => BinOp::And,
                "unless" => BinOp::Unless,
                _ => return None,
            },
            Tok::Sym(s) => match s {
                Sym::Add => BinOp::Add,
                Sym::Sub => BinOp::Sub,
                Sym::Mul => BinOp::Mul,
                Sym::Div => BinOp::Div,
                Sym::Mod => BinOp::Mod,
                Sym::Pow => BinOp::Pow,
                Sym::CmpEq => BinOp::Eq,
                Sym::Neq => BinOp::Neq,
                Sym::Gt => BinOp::Gt,
                Sym::Gte => BinOp::Gte,
                Sym::Lt => BinOp::Lt,
                Sym::Lte => BinOp::Lte,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn expr(&mut self, min_prec: u8) -> Result<Node, ParseError> {
        self.enter()?;
        let mut lhs = self.primary()?;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_at = self.at();
            self.operator(op_at)?;
            self.next();
            let mut matching = VectorMatching::default();
            let mut return_bool = false;
            if self.is_ident("bool") {
                if !op.is_comparison() {
                    return Err(self.error(
                        self.at(),
                        "syntax error: bool modifier can only be used on comparison operators",
                    ));
                }
                self.next();
                return_bool = true;
            }
            if self.is_ident("on") || self.is_ident("ignoring") {
                matching.on = self.is_ident("on");
                self.next();
                matching.labels = self.label_list()?;
                if self.is_ident("group_left") || self.is_ident("group_right") {
                    let at = self.at();
                    if op.is_set() {
                        return Err(self.error(
                            at,
                            "syntax error: no grouping allowed for \"and\", \"or\", \"unless\" operations",
                        ));
                    }
                    matching.card = if self.is_ident("group_left") {
                        Cardinality::ManyToOne
                    } else {
                        Cardinality::OneToMany
                    };
                    self.next();
                    if self.is_sym(Sym::LParen) {
                        matching.include = self.label_list()?;
                    }
                }
            }
            let rhs = self.expr(if op == BinOp::Pow { prec } else { prec + 1 })?;
            let (Node::Metric(l), Node::Metric(r)) = (lhs, rhs) else {
                return Err(self.error(
                    op_at,
                    "syntax error: a binary operation needs a metric query or a number on each side, not a log query; wrap the log query in a range aggregation such as count_over_time(...[5m])",
                ));
            };
            let scalar = |m: &MetricExpr| matches!(m, MetricExpr::Literal(_));
            // Comparisons of two numbers give 1 or 0, bool or not (Loki reduces them).
            if op.is_set() && (scalar(&l) || scalar(&r)) {
                return Err(self.error(
                    op_at,
                    format!(
                        "syntax error: set operator \"{}\" not allowed in binary scalar expression",
                        match op {
                            BinOp::And => "and",
                            BinOp::Or => "or",
                            _ => "unless",
                        }
                    ),
                ));
            }
            lhs = Node::Metric(MetricExpr::Binary(Box::new(Binary {
                op,
                lhs: l,
                rhs: r,
                return_bool,
                matching,
            })));
        }
        self.leave();
        Ok(lhs)
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        let at = self.at();
        match self.peek().clone() {
            Tok::Sym(Sym::LParen) => {
                self.next();
                let inner = self.expr(0)?;
                self.expect_sym(Sym::RParen)?;
                if self.is_sym(Sym::LBracket) {
                    return Err(self.range_outside());
                }
                Ok(inner)
            }
            Tok::Sym(Sym::LBrace) => {
                let log = self.log_expr()?;
                if self.is_sym(Sym::LBracket) {
                    return Err(self.range_outside());
                }
                if self.is_sym(Sym::Pipe) && self.is_unwrap_next() {
                    return Err(self.error(
                        self.at(),
                        "syntax error: unexpected unwrap: | unwrap belongs in a range aggregation such as sum_over_time({...} | unwrap x [5m])",
                    ));
                }
                Ok(Node::Log(log))
            }
            Tok::Num(_) | Tok::Sym(Sym::Sub | Sym::Add) => {
                Ok(Node::Metric(MetricExpr::Literal(self.number()?)))
            }
            Tok::Ident(name) => {
                if let Some(op) = RangeOp::from_name(&name) {
                    self.next();
                    return self.range_aggregation(op, at).map(Node::Metric);
                }
                if let Some(op) = VectorOp::from_name(&name) {
                    self.next();
                    return self.vector_aggregation(op, at).map(Node::Metric);
                }
                match name.as_str() {
                    "label_replace" => {
                        self.next();
                        self.label_replace().map(Node::Metric)
                    }
                    "vector" => {
                        self.next();
                        self.expect_sym(Sym::LParen)?;
                        let n = self.number()?;
                        self.expect_sym(Sym::RParen)?;
                        Ok(Node::Metric(MetricExpr::VectorLiteral(n)))
                    }
                    "approx_topk" => Err(self.unsupported(
                        at,
                        "approx_topk (a probabilistic topk for sharded queries); use topk",
                    )),
                    _ => Err(self.unexpected(
                        "a stream selector {...}, a number, or a function such as rate, count_over_time, sum, topk",
                    )),
                }
            }
            _ => Err(self.unexpected("a stream selector {...}, a number or a function")),
        }
    }

    fn range_outside(&self) -> ParseError {
        self.error(
            self.at(),
            "syntax error: unexpected RANGE: a log range such as [5m] goes inside a range aggregation, e.g. count_over_time({job=\"x\"}[5m])",
        )
    }

    fn is_unwrap_next(&self) -> bool {
        matches!(self.peek_at(1), Tok::Ident(i) if i == "unwrap")
    }

    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect_sym(Sym::LParen)?;
        let mut out = Vec::new();
        while !self.is_sym(Sym::RParen) {
            out.push(self.ident()?);
            if !self.is_sym(Sym::Comma) {
                break;
            }
            self.next();
        }
        self.expect_sym(Sym::RParen)?;
        Ok(out)
    }

    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        if self.is_ident("by") || self.is_ident("without") {
            let without = self.is_ident("without");
            self.next();
            let labels = self.label_list()?;
            return Ok(Some(Grouping { without, labels }));
        }
        Ok(None)
    }

    fn range_aggregation(&mut self, op: RangeOp, at: usize) -> Result<MetricExpr, ParseError> {
        self.enter()?;
        self.expect_sym(Sym::LParen)?;
        let mut param = None;
        if matches!(self.peek(), Tok::Num(_)) {
            param = Some(self.number()?);
            self.expect_sym(Sym::Comma)?;
        }
        let parts = self.range_parts()?;
        let Some((range, offset)) = parts.range else {
            return Err(self.unexpected("a range such as [5m]"));
        };
        self.expect_sym(Sym::RParen)?;
        let grouping = self.grouping()?;
        self.leave();
        let name = range_name(op);
        match (op, param) {
            (RangeOp::QuantileOverTime, None) => {
                return Err(self.error(at, format!("parameter required for operation {name}")));
            }
            (RangeOp::QuantileOverTime, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                return Err(self.error(
                    at,
                    format!("parameter declared for operation {name} but not required"),
                ));
            }
        }
        let unwrapped = parts.unwrap.is_some();
        if op.needs_unwrap() && !unwrapped {
            return Err(self.error(at, format!("invalid aggregation {name} without unwrap")));
        }
        if unwrapped
            && matches!(
                op,
                RangeOp::CountOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate
            )
        {
            return Err(self.error(at, format!("invalid aggregation {name} with unwrap")));
        }
        // Loki groups only the unwrapped functions that keep one value per series.
        let groupable = unwrapped
            && !matches!(
                op,
                RangeOp::SumOverTime
                    | RangeOp::AbsentOverTime
                    | RangeOp::Rate
                    | RangeOp::RateCounter
            );
        if grouping.is_some() && !groupable {
            return Err(self.error(at, format!("grouping not allowed for {name} aggregation")));
        }
        Ok(MetricExpr::Range(Box::new(RangeAggregation {
            op,
            param,
            range: LogRange {
                log: parts.log,
                range,
                offset,
                unwrap: parts.unwrap,
            },
            grouping,
        })))
    }

    /// A log range in any of Loki's spellings: `{..} | p [5m] offset 1h`, `{..}[5m] | p`,
    /// `({..} | p)[5m]`, `({..} | p [5m])`, each with `| unwrap` before or after the range.
    fn range_parts(&mut self) -> Result<RangeParts, ParseError> {
        let mut parts = if self.is_sym(Sym::LParen) {
            self.enter()?;
            self.next();
            let inner = self.range_parts()?;
            self.expect_sym(Sym::RParen)?;
            self.leave();
            inner
        } else if self.is_sym(Sym::LBrace) {
            let log = self.log_expr()?;
            RangeParts {
                log,
                range: None,
                unwrap: None,
            }
        } else {
            return Err(self.unexpected("a stream selector {...}"));
        };
        if parts.unwrap.is_none() && self.is_sym(Sym::Pipe) && self.is_unwrap_next() {
            parts.unwrap = Some(self.unwrap()?);
        }
        if parts.range.is_none() && self.is_sym(Sym::LBracket) {
            self.next();
            let at = self.at();
            let range = match self.peek().clone() {
                Tok::Duration(d) => d,
                _ => return Err(self.unexpected("DURATION")),
            };
            if range <= 0 {
                return Err(self.error(at, "syntax error: the range must be positive"));
            }
            self.next();
            self.expect_sym(Sym::RBracket)?;
            let mut offset = 0;
            if self.is_ident("offset") {
                self.next();
                offset = match self.peek().clone() {
                    Tok::Duration(d) => d,
                    Tok::Sym(Sym::Sub) => match self.peek_at(1).clone() {
                        Tok::Duration(d) => {
                            self.next();
                            -d
                        }
                        _ => return Err(self.unexpected("DURATION")),
                    },
                    _ => return Err(self.unexpected("DURATION")),
                };
                self.next();
            }
            parts.range = Some((range, offset));
            // `selector [5m] | pipeline`: stages may follow the range.
            let more = self.stages()?;
            if !more.is_empty() {
                if parts.unwrap.is_some() {
                    return Err(self.error(
                        self.at(),
                        "syntax error: stages after | unwrap must be label filters",
                    ));
                }
                parts.log.stages.extend(more);
            }
            if parts.unwrap.is_none() && self.is_sym(Sym::Pipe) && self.is_unwrap_next() {
                parts.unwrap = Some(self.unwrap()?);
            }
        }
        Ok(parts)
    }

    fn unwrap(&mut self) -> Result<Unwrap, ParseError> {
        self.next(); // |
        self.next(); // unwrap
        let name = self.ident()?;
        let (label, conversion) = if self.is_sym(Sym::LParen) {
            let conversion = match name.as_str() {
                "duration" | "duration_seconds" => Conversion::Duration,
                "bytes" => Conversion::Bytes,
                _ => {
                    return Err(self.error(
                        self.toks[self.pos - 1].at,
                        format!(
                            "syntax error: unexpected conversion {name}, expecting bytes, duration or duration_seconds"
                        ),
                    ));
                }
            };
            self.next();
            let label = self.ident()?;
            self.expect_sym(Sym::RParen)?;
            (label, conversion)
        } else {
            (name, Conversion::Float)
        };
        let mut post_filters = Vec::new();
        while self.is_sym(Sym::Pipe)
            && matches!(self.peek_at(1), Tok::Ident(_) | Tok::Sym(Sym::LParen))
        {
            self.next();
            post_filters.push(self.label_filter()?);
        }
        Ok(Unwrap {
            label,
            conversion,
            post_filters,
        })
    }

    fn vector_aggregation(&mut self, op: VectorOp, at: usize) -> Result<MetricExpr, ParseError> {
        self.enter()?;
        let mut grouping = self.grouping()?;
        self.expect_sym(Sym::LParen)?;
        let mut param = None;
        if matches!(self.peek(), Tok::Num(_)) && self.peek_at(1) == &Tok::Sym(Sym::Comma) {
            param = Some(self.number()?);
            self.next();
        }
        let inner_at = self.at();
        let inner = self.expr(0)?;
        self.expect_sym(Sym::RParen)?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        self.leave();
        let Node::Metric(expr) = inner else {
            return Err(self.error(
                inner_at,
                "syntax error: a vector aggregation needs a metric query; wrap the log query in a range aggregation such as count_over_time(...[5m])",
            ));
        };
        let name = vector_name(op);
        match op {
            VectorOp::Topk | VectorOp::Bottomk => match param {
                None => {
                    return Err(self.error(at, format!("parameter required for operation {name}")));
                }
                Some(k) if k.fract() != 0.0 => {
                    return Err(self.error(at, format!("invalid parameter {name}({k},")));
                }
                Some(k) if k <= 0.0 => {
                    return Err(self.error(
                        at,
                        format!("invalid parameter (must be greater than 0) {name}({k}"),
                    ));
                }
                Some(_) => {}
            },
            _ if param.is_some() => {
                return Err(self.error(
                    at,
                    format!(
                        "unsupported parameter for operation {name}({},",
                        param.unwrap_or_default()
                    ),
                ));
            }
            VectorOp::Sort | VectorOp::SortDesc if grouping.is_some() => {
                return Err(self.error(at, format!("grouping not allowed for {name} aggregation")));
            }
            _ => {}
        }
        Ok(MetricExpr::Vector(Box::new(VectorAggregation {
            op,
            param,
            expr,
            grouping,
        })))
    }

    fn label_replace(&mut self) -> Result<MetricExpr, ParseError> {
        self.enter()?;
        self.expect_sym(Sym::LParen)?;
        let inner_at = self.at();
        let Node::Metric(expr) = self.expr(0)? else {
            return Err(self.error(inner_at, "syntax error: label_replace needs a metric query"));
        };
        let mut args = Vec::new();
        for _ in 0..4 {
            self.expect_sym(Sym::Comma)?;
            args.push(self.string()?);
        }
        self.expect_sym(Sym::RParen)?;
        self.leave();
        let (regex_text, regex_at) = args[3].clone();
        let regex = model::anchored_regex(&regex_text)
            .map_err(|e| self.error(regex_at, format!("invalid regex in label_replace: {e}")))?;
        let dst = args[0].0.clone();
        if !valid_label_name(&dst) {
            return Err(self.error(
                args[0].1,
                format!("invalid destination label name in label_replace: {dst}"),
            ));
        }
        Ok(MetricExpr::LabelReplace(Box::new(LabelReplace {
            expr,
            dst,
            replacement: args[1].0.clone(),
            src: args[2].0.clone(),
            regex,
        })))
    }

    // ---- log queries ----

    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let matchers = self.selector()?;
        let stages = self.stages()?;
        Ok(LogExpr { matchers, stages })
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        let open = self.at();
        self.expect_sym(Sym::LBrace)?;
        let mut matchers = Vec::new();
        while !self.is_sym(Sym::RBrace) {
            matchers.push(self.matcher()?);
            if !self.is_sym(Sym::Comma) {
                break;
            }
            self.next();
        }
        self.expect_sym(Sym::RBrace)?;
        if matchers.is_empty() {
            return Err(self.error(
                open,
                "syntax error: unexpected }, expecting IDENTIFIER: a stream selector needs at least one matcher",
            ));
        }
        if matchers.iter().all(Matcher::matches_empty) {
            return Err(self.error(
                open,
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ));
        }
        Ok(matchers)
    }

    fn match_op(&self) -> Option<MatchOp> {
        match self.peek() {
            Tok::Sym(Sym::Eq) => Some(MatchOp::Equal),
            Tok::Sym(Sym::Neq) => Some(MatchOp::NotEqual),
            Tok::Sym(Sym::Re) => Some(MatchOp::Regex),
            Tok::Sym(Sym::Nre) => Some(MatchOp::NotRegex),
            _ => None,
        }
    }

    fn matcher(&mut self) -> Result<Matcher, ParseError> {
        let name = self.ident()?;
        let Some(op) = self.match_op() else {
            return Err(self.unexpected("=, !=, =~ or !~"));
        };
        self.next();
        let (value, at) = self.string()?;
        Matcher::new(op, name, value).map_err(|e| self.error(at, e.to_string()))
    }

    /// Pipeline stages, as many as follow (none is fine); stops before `| unwrap`.
    fn stages(&mut self) -> Result<Vec<Stage>, ParseError> {
        let mut stages = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::Sym(Sym::PipeExact) => LineOp::Contains,
                Tok::Sym(Sym::Neq) => LineOp::NotContains,
                Tok::Sym(Sym::PipeMatch) => LineOp::Regex,
                Tok::Sym(Sym::Nre) => LineOp::NotRegex,
                Tok::Sym(Sym::PipePattern) => LineOp::Pattern,
                Tok::Sym(Sym::NotPattern) => LineOp::NotPattern,
                Tok::Sym(Sym::Pipe) => {
                    if self.is_unwrap_next() {
                        return Ok(stages);
                    }
                    self.next();
                    stages.push(self.stage()?);
                    continue;
                }
                _ => return Ok(stages),
            };
            self.next();
            stages.push(Stage::LineFilter(self.line_filter(op)?));
        }
    }

    fn line_filter(&mut self, op: LineOp) -> Result<LineFilter, ParseError> {
        let mut f = LineFilter {
            op,
            values: Vec::new(),
            regexes: Vec::new(),
            patterns: Vec::new(),
        };
        loop {
            if self.is_ident("ip") {
                return Err(self.unsupported(self.at(), "the ip() line filter"));
            }
            let (value, at) = self.string()?;
            match op {
                LineOp::Regex | LineOp::NotRegex => {
                    if value.len() > model::MAX_REGEX_BYTES {
                        return Err(self.error(
                            at,
                            format!(
                                "invalid regex: {} bytes, more than the limit of {} bytes",
                                value.len(),
                                model::MAX_REGEX_BYTES
                            ),
                        ));
                    }
                    let re = regex::RegexBuilder::new(&value)
                        .size_limit(model::MAX_COMPILED_REGEX_BYTES)
                        .build()
                        .map_err(|e| self.error(at, format!("invalid regex {value:?}: {e}")))?;
                    f.regexes.push(re);
                }
                LineOp::Pattern | LineOp::NotPattern => {
                    f.patterns.push(
                        Pattern::new(&value, true)
                            .map_err(|e| self.error(at, format!("invalid pattern: {e}")))?,
                    );
                }
                LineOp::Contains | LineOp::NotContains => {}
            }
            f.values.push(value);
            if self.is_ident("or") && matches!(self.peek_at(1), Tok::Str(_)) {
                self.next();
                continue;
            }
            return Ok(f);
        }
    }

    fn stage(&mut self) -> Result<Stage, ParseError> {
        let at = self.at();
        let keyword = match self.peek() {
            Tok::Ident(i) => i.clone(),
            Tok::Sym(Sym::LParen) => return Ok(Stage::LabelFilter(self.label_filter()?)),
            _ => return Err(self.unexpected("a parser, a label filter or a format stage")),
        };
        let stage = match keyword.as_str() {
            "json" => {
                self.next();
                let mut paths = Vec::new();
                if matches!(self.peek(), Tok::Ident(_)) {
                    for (label, expr, at) in self.extractions()? {
                        let path = fields::parse_path(&expr).map_err(|e| {
                            self.error(at, format!("cannot parse expression [{expr}]: {e}"))
                        })?;
                        paths.push((label, path));
                    }
                }
                Stage::Json(paths)
            }
            "logfmt" => {
                self.next();
                let (mut strict, mut keep_empty) = (false, false);
                while let Tok::Flag(f) = self.peek().clone() {
                    match f.as_str() {
                        "strict" => strict = true,
                        "keep-empty" => keep_empty = true,
                        _ => {
                            return Err(self.error(
                                self.at(),
                                format!("syntax error: invalid logfmt flag --{f}: use --strict or --keep-empty"),
                            ));
                        }
                    }
                    self.next();
                }
                let mut fields = Vec::new();
                if matches!(self.peek(), Tok::Ident(_)) {
                    fields = self
                        .extractions()?
                        .into_iter()
                        .map(|(l, e, _)| (l, e))
                        .collect();
                }
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    fields,
                }
            }
            "regexp" => {
                self.next();
                let (text, at) = self.string()?;
                if text.len() > model::MAX_REGEX_BYTES {
                    return Err(self.error(
                        at,
                        format!(
                            "invalid regex: more than the limit of {} bytes",
                            model::MAX_REGEX_BYTES
                        ),
                    ));
                }
                let re = regex::RegexBuilder::new(&text)
                    .size_limit(model::MAX_COMPILED_REGEX_BYTES)
                    .build()
                    .map_err(|e| self.error(at, format!("invalid regex {text:?}: {e}")))?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(self.error(
                        at,
                        "at least one named capture must be supplied: (?P<name>...)",
                    ));
                }
                for n in re.capture_names().flatten() {
                    if !valid_label_name(n) {
                        return Err(self.error(at, format!("invalid extracted label name '{n}'")));
                    }
                }
                Stage::Regexp(re)
            }
            "pattern" => {
                self.next();
                let (text, at) = self.string()?;
                Stage::Pattern(Pattern::new(&text, false).map_err(|e| self.error(at, e))?)
            }
            "unpack" => {
                self.next();
                Stage::Unpack
            }
            "decolorize" => {
                self.next();
                Stage::Decolorize
            }
            "line_format" => {
                self.next();
                let (text, at) = self.string()?;
                let t = template(&text)
                    .map_err(|e| self.error(at, format!("invalid line template: {e}")))?;
                Stage::LineFormat(Box::new(t))
            }
            "label_format" => {
                self.next();
                let mut fmts = Vec::new();
                loop {
                    let dst = self.ident()?;
                    self.expect_sym(Sym::Eq)?;
                    match self.peek().clone() {
                        Tok::Ident(src) => {
                            self.next();
                            fmts.push(LabelFmt::Rename(dst, src));
                        }
                        Tok::Str(text) => {
                            let at = self.at();
                            self.next();
                            let t = template(&text).map_err(|e| {
                                self.error(at, format!("invalid label template for {dst}: {e}"))
                            })?;
                            fmts.push(LabelFmt::Template(dst, Box::new(t)));
                        }
                        _ => return Err(self.unexpected("IDENTIFIER or STRING")),
                    }
                    if !self.is_sym(Sym::Comma) {
                        break;
                    }
                    self.next();
                }
                let mut seen: Vec<&str> = Vec::new();
                for f in &fmts {
                    let dst = match f {
                        LabelFmt::Rename(d, _) | LabelFmt::Template(d, _) => d.as_str(),
                    };
                    if seen.contains(&dst) {
                        return Err(self.error(
                            at,
                            format!("multiple label name '{dst}' not allowed in a single format operation"),
                        ));
                    }
                    seen.push(dst);
                }
                Stage::LabelFormat(fmts)
            }
            "drop" | "keep" => {
                self.next();
                let mut ms = Vec::new();
                loop {
                    if matches!(
                        self.peek_at(1),
                        Tok::Sym(Sym::Eq | Sym::Neq | Sym::Re | Sym::Nre)
                    ) {
                        ms.push(NamedMatcher::Matcher(self.matcher()?));
                    } else {
                        ms.push(NamedMatcher::Name(self.ident()?));
                    }
                    if !self.is_sym(Sym::Comma) {
                        break;
                    }
                    self.next();
                }
                if keyword == "drop" {
                    Stage::Drop(ms)
                } else {
                    Stage::Keep(ms)
                }
            }
            _ => Stage::LabelFilter(self.label_filter()?),
        };
        Ok(stage)
    }

    /// `a="b.c", d`: (label, expression, offset) each.
    fn extractions(&mut self) -> Result<Vec<(String, String, usize)>, ParseError> {
        let mut out = Vec::new();
        loop {
            let at = self.at();
            let label = self.ident()?;
            if self.is_sym(Sym::Eq) {
                self.next();
                let (expr, at) = self.string()?;
                out.push((label, expr, at));
            } else {
                out.push((label.clone(), label, at));
            }
            if !self.is_sym(Sym::Comma) {
                return Ok(out);
            }
            self.next();
        }
    }

    // ---- label filters ----

    fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        self.enter()?;
        let mut lhs = self.label_filter_and()?;
        while self.is_ident("or") {
            self.operator(self.at())?;
            self.next();
            let rhs = self.label_filter_and()?;
            lhs = LabelFilter::Or(Box::new(lhs), Box::new(rhs));
        }
        self.leave();
        Ok(lhs)
    }

    fn starts_label_filter(&self) -> bool {
        match self.peek() {
            Tok::Sym(Sym::LParen) => true,
            Tok::Ident(i) => {
                i != "or"
                    && i != "and"
                    && matches!(
                        self.peek_at(1),
                        Tok::Sym(
                            Sym::Eq
                                | Sym::Neq
                                | Sym::Re
                                | Sym::Nre
                                | Sym::CmpEq
                                | Sym::Gt
                                | Sym::Gte
                                | Sym::Lt
                                | Sym::Lte
                        )
                    )
            }
            _ => false,
        }
    }

    fn label_filter_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_atom()?;
        loop {
            let joined = if self.is_ident("and") || self.is_sym(Sym::Comma) {
                let at = self.at();
                self.next();
                self.operator(at)?;
                true
            } else if self.starts_label_filter() {
                self.operator(self.at())?;
                true
            } else {
                false
            };
            if !joined {
                return Ok(lhs);
            }
            let rhs = self.label_filter_atom()?;
            lhs = LabelFilter::And(Box::new(lhs), Box::new(rhs));
        }
    }

    fn label_filter_atom(&mut self) -> Result<LabelFilter, ParseError> {
        if self.is_sym(Sym::LParen) {
            self.next();
            let f = self.label_filter()?;
            self.expect_sym(Sym::RParen)?;
            return Ok(f);
        }
        let name = self.ident()?;
        let op_at = self.at();
        let Tok::Sym(op) = self.peek().clone() else {
            return Err(self.unexpected("a comparison (=, !=, =~, !~, ==, >, >=, <, <=)"));
        };
        let cmp = match op {
            Sym::Eq | Sym::CmpEq => CmpOp::Eq,
            Sym::Neq => CmpOp::Neq,
            Sym::Gt => CmpOp::Gt,
            Sym::Gte => CmpOp::Gte,
            Sym::Lt => CmpOp::Lt,
            Sym::Lte => CmpOp::Lte,
            Sym::Re | Sym::Nre => CmpOp::Eq,
            _ => return Err(self.unexpected("a comparison (=, !=, =~, !~, ==, >, >=, <, <=)")),
        };
        self.next();
        match self.peek().clone() {
            Tok::Str(value) if matches!(op, Sym::Eq | Sym::Neq | Sym::Re | Sym::Nre) => {
                let at = self.at();
                self.next();
                let mop = match op {
                    Sym::Eq => MatchOp::Equal,
                    Sym::Neq => MatchOp::NotEqual,
                    Sym::Re => MatchOp::Regex,
                    _ => MatchOp::NotRegex,
                };
                Ok(LabelFilter::Matcher(
                    Matcher::new(mop, name, value).map_err(|e| self.error(at, e.to_string()))?,
                ))
            }
            _ if matches!(op, Sym::Re | Sym::Nre) => Err(self.unexpected("STRING")),
            Tok::Ident(i) if i == "ip" => Err(self.unsupported(op_at, "the ip() label filter")),
            Tok::Duration(d) => {
                self.next();
                Ok(LabelFilter::Duration(name, cmp, d))
            }
            Tok::Bytes(b) => {
                self.next();
                Ok(LabelFilter::Bytes(name, cmp, b))
            }
            Tok::Num(_) | Tok::Sym(Sym::Sub | Sym::Add) => {
                let n = self.number()?;
                Ok(LabelFilter::Number(name, cmp, n))
            }
            _ if matches!(op, Sym::Eq | Sym::Neq) => {
                Err(self.unexpected("STRING, NUMBER, DURATION or BYTES"))
            }
            _ => Err(self.unexpected("NUMBER, DURATION or BYTES")),
        }
    }
}

fn valid_label_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.starts_with(|c: char| c.is_ascii_digit())
}

pub(crate) fn range_name(op: RangeOp) -> &'static str {
    match op {
        RangeOp::CountOverTime => "count_over_time",
        RangeOp::Rate => "rate",
        RangeOp::RateCounter => "rate_counter",
        RangeOp::BytesOverTime => "bytes_over_time",
        RangeOp::BytesRate => "bytes_rate",
        RangeOp::AvgOverTime => "avg_over_time",
        RangeOp::SumOverTime => "sum_over_time",
        RangeOp::MinOverTime => "min_over_time",
        RangeOp::MaxOverTime => "max_over_time",
        RangeOp::StdvarOverTime => "stdvar_over_time",
        RangeOp::StddevOverTime => "stddev_over_time",
        RangeOp::QuantileOverTime => "quantile_over_time",
        RangeOp::FirstOverTime => "first_over_time",
        RangeOp::LastOverTime => "last_over_time",
        RangeOp::AbsentOverTime => "absent_over_time",
    }
}

pub(crate) fn vector_name(op: VectorOp) -> &'static str {
    match op {
        VectorOp::Sum => "sum",
        VectorOp::Avg => "avg",
        VectorOp::Min => "min",
        VectorOp::Max => "max",
        VectorOp::Count => "count",
        VectorOp::Stddev => "stddev",
        VectorOp::Stdvar => "stdvar",
        VectorOp::Topk => "topk",
        VectorOp::Bottomk => "bottomk",
        VectorOp::Sort => "sort",
        VectorOp::SortDesc => "sort_desc",
    }
}
