//! The parser: tokens to a [`Pipeline`], with Tempo's grammar and precedence (`expr.y`).
//!
//! Between spansets, `&&` and `||` share one precedence and group from the left, and the
//! structural operators (`>`, `>>`) bind tighter: `{a} && {b} >> {c}` is
//! `{a} && ({b} >> {c})`. Inside `{ }` likewise: `&&` and `||` share the lowest precedence
//! (so `a || b && c` is `(a || b) && c`, as in Tempo), comparisons bind tighter and group
//! from the left, and `!` tighter still. TraceQL that Tempo accepts but this subset does not
//! (`select`, `by`, arithmetic, other structural operators, metrics functions) fails with
//! [`ErrorKind::Unsupported`](crate::ErrorKind) at the offset of the construct. Recursion is
//! bounded, so no input can exhaust the stack.

use spans::{SpanKind, StatusCode};

use crate::Error;
use crate::ast::{
    Aggregate, BinOp, Field, FieldExpr, Intrinsic, Pipeline, ScalarFilter, SpansetExpr, SpansetOp,
    Stage, Static, Type,
};
use crate::lexer::{AttrPrefix, Sym, Tok, Token, lex};

/// How deeply parentheses, braces and `!` may nest.
const MAX_DEPTH: usize = 64;

/// How many binary operators a query may have: chains of them make trees as deep as they
/// are long, and evaluation walks trees recursively.
const MAX_OPERATORS: usize = 512;

/// Metrics functions and second-stage functions: Tempo's metrics queries.
const METRICS_FUNCTIONS: &[&str] = &[
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "topk",
    "bottomk",
];

/// Parses a whole query.
pub(crate) fn parse(src: &str) -> Result<Pipeline, Error> {
    let tokens = lex(src)?;
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        depth: 0,
        operators: 0,
    };
    let pipeline = p.pipeline()?;
    p.hints()?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(Error::syntax(
            t.start,
            format!("unexpected {}: the query should end here", describe(&t.tok)),
        ));
    }
    Ok(pipeline)
}

/// A token as error messages name it.
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Sym(s) => format!("`{}`", s.text()),
        Tok::Str(s) => format!("the string {s:?}"),
        Tok::Int(i) => format!("the number {i}"),
        Tok::Float(f) => format!("the number {f}"),
        Tok::Duration(_) => "a duration".into(),
        Tok::Ident(w) => format!("`{w}`"),
        Tok::Attr(_, name) => format!("the attribute `{name}`"),
        Tok::Scope(s) => format!("`{s}`"),
        Tok::Eof => "the end of the query".into(),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    operators: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> Token {
        let last = self.tokens.len().saturating_sub(1);
        self.tokens
            .get((self.pos + ahead).min(last))
            .cloned()
            .unwrap_or(Token {
                tok: Tok::Eof,
                start: self.src.len(),
                end: self.src.len(),
            })
    }

    fn bump(&mut self) -> Token {
        let t = self.peek();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn at_sym(&self, sym: Sym) -> bool {
        self.peek().tok == Tok::Sym(sym)
    }

    fn expect(&mut self, sym: Sym, context: &str) -> Result<Token, Error> {
        let t = self.peek();
        if t.tok == Tok::Sym(sym) {
            return Ok(self.bump());
        }
        Err(Error::syntax(
            t.start,
            format!(
                "unexpected {}: expected `{}` {context}",
                describe(&t.tok),
                sym.text()
            ),
        ))
    }

    /// Enters one more level of nesting, at `at`.
    fn enter(&mut self, at: usize) -> Result<(), Error> {
        count(
            &mut self.depth,
            MAX_DEPTH,
            at,
            "nests deeper than",
            "levels",
        )
    }

    /// Counts one more binary operator, at `at`.
    fn operator(&mut self, at: usize) -> Result<(), Error> {
        count(
            &mut self.operators,
            MAX_OPERATORS,
            at,
            "has more than",
            "operators",
        )
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn pipeline(&mut self) -> Result<Pipeline, Error> {
        let mut stages = vec![self.stage()?];
        while self.at_sym(Sym::Pipe) {
            self.operator(self.peek().start)?;
            self.bump();
            stages.push(self.stage()?);
        }
        Ok(Pipeline { stages })
    }

    fn stage(&mut self) -> Result<Stage, Error> {
        let t = self.peek();
        match &t.tok {
            Tok::Ident(w) if matches!(w.as_str(), "count" | "avg" | "min" | "max" | "sum") => {
                Ok(Stage::Scalar(self.scalar_filter()?))
            }
            Tok::Ident(w) if matches!(w.as_str(), "by" | "coalesce" | "select") => {
                Err(Error::unsupported(
                    t.start,
                    format!(
                        "`{w}()` is not supported: use spanset filters and count(), avg(), min(), max() or sum()"
                    ),
                ))
            }
            Tok::Ident(w) if METRICS_FUNCTIONS.contains(&w.as_str()) => Err(Error::unsupported(
                t.start,
                format!(
                    "the metrics function `{w}()` is not supported: TraceQL metrics queries are not implemented"
                ),
            )),
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Sym(Sym::Minus) => {
                Err(Error::unsupported(
                    t.start,
                    "a scalar filter must start with its aggregate: write `count() > 2`, not `2 < count()`",
                ))
            }
            _ => Ok(Stage::Spansets(self.spanset_expr(1)?)),
        }
    }

    fn scalar_filter(&mut self) -> Result<ScalarFilter, Error> {
        let name_token = self.bump();
        let Tok::Ident(name) = &name_token.tok else {
            return Err(Error::syntax(name_token.start, "expected an aggregate"));
        };
        let name = name.clone();
        self.expect(Sym::LParen, &format!("after `{name}`"))?;
        let aggregate = if name == "count" {
            Aggregate::Count
        } else {
            let arg = self.peek();
            let field = match self.field_primary()? {
                FieldExpr::Field(f) => f,
                _ => {
                    return Err(Error::unsupported(
                        arg.start,
                        format!(
                            "`{name}()` takes one attribute or intrinsic, such as `{name}(duration)`"
                        ),
                    ));
                }
            };
            self.no_arithmetic()?;
            if let Field::Intrinsic(i) = &field
                && !matches!(
                    i,
                    Intrinsic::Duration | Intrinsic::TraceDuration | Intrinsic::ChildCount
                )
            {
                return Err(Error::syntax(
                    arg.start,
                    format!(
                        "`{name}({})` needs a number: `{}` is not one",
                        i.name(),
                        i.name()
                    ),
                ));
            }
            match name.as_str() {
                "avg" => Aggregate::Avg(field),
                "min" => Aggregate::Min(field),
                "max" => Aggregate::Max(field),
                _ => Aggregate::Sum(field),
            }
        };
        let close = self.expect(
            Sym::RParen,
            if name == "count" {
                "after `count(`: count() takes no argument"
            } else {
                "after the aggregate's argument"
            },
        )?;
        let text: String = self.src[name_token.start..close.end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        self.no_arithmetic()?;
        let t = self.peek();
        let op = match &t.tok {
            Tok::Sym(Sym::Eq) => BinOp::Eq,
            Tok::Sym(Sym::Neq) => BinOp::Neq,
            Tok::Sym(Sym::Lt) => BinOp::Lt,
            Tok::Sym(Sym::Lte) => BinOp::Lte,
            Tok::Sym(Sym::Gt) => BinOp::Gt,
            Tok::Sym(Sym::Gte) => BinOp::Gte,
            Tok::Sym(Sym::RParen) => {
                return Err(Error::unsupported(
                    name_token.start,
                    format!(
                        "comparing a parenthesised pipeline is not supported: compare `{text}` inside it, as in `{{ }} | {text} > 2`"
                    ),
                ));
            }
            other => {
                return Err(Error::syntax(
                    t.start,
                    format!(
                        "unexpected {}: compare `{text}` with a number, such as `{text} > 2`",
                        describe(other)
                    ),
                ));
            }
        };
        self.bump();
        let v = self.peek();
        let value = match self.field_unary()? {
            FieldExpr::Static(s @ (Static::Int(_) | Static::Float(_) | Static::Duration(_))) => s,
            _ => {
                return Err(Error::syntax(
                    v.start,
                    format!("`{text}` can be compared only with a number or a duration"),
                ));
            }
        };
        Ok(ScalarFilter {
            aggregate,
            text,
            op,
            value,
        })
    }

    /// Fails if arithmetic follows.
    fn no_arithmetic(&self) -> Result<(), Error> {
        let t = self.peek();
        if let Tok::Sym(
            s @ (Sym::Plus | Sym::Minus | Sym::Star | Sym::Slash | Sym::Percent | Sym::Caret),
        ) = t.tok
        {
            return Err(Error::unsupported(
                t.start,
                format!("arithmetic (`{}`) is not supported", s.text()),
            ));
        }
        Ok(())
    }

    /// Spanset operators at precedence `min` and above: 1 for `&&` and `||`, 2 for
    /// structural operators.
    fn spanset_expr(&mut self, min: u8) -> Result<SpansetExpr, Error> {
        let mut lhs = self.spanset_primary()?;
        loop {
            let t = self.peek();
            let Tok::Sym(sym) = t.tok else { break };
            let (prec, op) = match sym {
                Sym::And => (1, Some(SpansetOp::And)),
                Sym::Or => (1, Some(SpansetOp::Or)),
                Sym::Gt => (2, Some(SpansetOp::Child)),
                Sym::Desc => (2, Some(SpansetOp::Descendant)),
                Sym::Lt
                | Sym::Ance
                | Sym::Tilde
                | Sym::NotChild
                | Sym::NotParent
                | Sym::NotDesc
                | Sym::NotAnce
                | Sym::Nre
                | Sym::UnionSibl
                | Sym::UnionChild
                | Sym::UnionParent
                | Sym::UnionDesc
                | Sym::UnionAnce => (2, None),
                _ => break,
            };
            if prec < min {
                break;
            }
            let Some(op) = op else {
                return Err(Error::unsupported(
                    t.start,
                    format!(
                        "the spanset operator `{}` is not supported: use &&, ||, > (child) or >> (descendant)",
                        sym.text()
                    ),
                ));
            };
            self.operator(t.start)?;
            self.bump();
            let rhs = self.spanset_expr(prec + 1)?;
            lhs = SpansetExpr::Op(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn spanset_primary(&mut self) -> Result<SpansetExpr, Error> {
        let t = self.peek();
        match t.tok {
            Tok::Sym(Sym::LBrace) => {
                self.enter(t.start)?;
                self.bump();
                let expr = if self.at_sym(Sym::RBrace) {
                    FieldExpr::Static(Static::Bool(true))
                } else {
                    let mut e = self.field_or()?;
                    let ty = e.check()?;
                    if ty != Type::Bool && ty != Type::Dynamic {
                        return Err(Error::syntax(
                            t.start,
                            "a spanset filter must be a condition, such as `{ .http.status_code = 200 }`",
                        ));
                    }
                    e
                };
                self.expect(Sym::RBrace, "to close the spanset filter")?;
                self.leave();
                Ok(SpansetExpr::Filter(expr))
            }
            Tok::Sym(Sym::LParen) => {
                self.enter(t.start)?;
                self.bump();
                let mut inner = self.pipeline()?;
                self.expect(Sym::RParen, "to close the parenthesis")?;
                self.leave();
                if inner.stages.len() == 1
                    && let Some(Stage::Spansets(_)) = inner.stages.first()
                    && let Some(Stage::Spansets(e)) = inner.stages.pop()
                {
                    return Ok(e);
                }
                Ok(SpansetExpr::Pipeline(inner))
            }
            ref other => Err(Error::syntax(
                t.start,
                format!(
                    "unexpected {}: expected a spanset such as `{{ }}`",
                    describe(other)
                ),
            )),
        }
    }

    /// `&&` and `||` inside a spanset filter: one precedence, grouped from the left.
    fn field_or(&mut self) -> Result<FieldExpr, Error> {
        let mut lhs = self.field_cmp()?;
        loop {
            let t = self.peek();
            let op = match t.tok {
                Tok::Sym(Sym::And) => BinOp::And,
                Tok::Sym(Sym::Or) => BinOp::Or,
                _ => return Ok(lhs),
            };
            self.operator(t.start)?;
            self.bump();
            let rhs = self.field_cmp()?;
            lhs = FieldExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                offset: t.start,
                regex: None,
            };
        }
    }

    fn cmp_op(tok: &Tok) -> Option<BinOp> {
        Some(match tok {
            Tok::Sym(Sym::Eq) => BinOp::Eq,
            Tok::Sym(Sym::Neq) => BinOp::Neq,
            Tok::Sym(Sym::Lt) => BinOp::Lt,
            Tok::Sym(Sym::Lte) => BinOp::Lte,
            Tok::Sym(Sym::Gt) => BinOp::Gt,
            Tok::Sym(Sym::Gte) => BinOp::Gte,
            Tok::Sym(Sym::Re) => BinOp::Re,
            Tok::Sym(Sym::Nre) => BinOp::Nre,
            _ => return None,
        })
    }

    fn is_nil(tok: &Tok) -> bool {
        matches!(tok, Tok::Ident(w) if w == "nil")
    }

    /// Comparisons, grouped from the left; `x = nil` and `x != nil` test presence.
    fn field_cmp(&mut self) -> Result<FieldExpr, Error> {
        let mut lhs = self.field_unary()?;
        loop {
            let t = self.peek();
            let Some(op) = Self::cmp_op(&t.tok) else {
                return Ok(lhs);
            };
            self.operator(t.start)?;
            self.bump();
            if Self::is_nil(&self.peek().tok) {
                let nil = self.bump();
                lhs = match op {
                    BinOp::Eq => FieldExpr::Exists(Box::new(lhs), false),
                    BinOp::Neq => FieldExpr::Exists(Box::new(lhs), true),
                    _ => {
                        return Err(Error::syntax(
                            nil.start,
                            format!(
                                "`nil` can be compared only with = or !=, not `{}`",
                                op.text()
                            ),
                        ));
                    }
                };
                continue;
            }
            let rhs = self.field_unary()?;
            lhs = FieldExpr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                offset: t.start,
                regex: None,
            };
        }
    }

    fn field_unary(&mut self) -> Result<FieldExpr, Error> {
        let t = self.peek();
        self.enter(t.start)?;
        let e = match t.tok {
            Tok::Sym(Sym::Not) => {
                self.bump();
                FieldExpr::Not(Box::new(self.field_unary()?), t.start)
            }
            Tok::Sym(Sym::Minus) => {
                self.bump();
                match self.bump().tok {
                    Tok::Int(i) => FieldExpr::Static(Static::Int(i.wrapping_neg())),
                    Tok::Float(f) => FieldExpr::Static(Static::Float(-f)),
                    Tok::Duration(d) => FieldExpr::Static(Static::Duration(d.wrapping_neg())),
                    _ => {
                        return Err(Error::unsupported(
                            t.start,
                            "arithmetic (`-`) is not supported: a minus sign may only precede a number",
                        ));
                    }
                }
            }
            ref tok if Self::is_nil(tok) => {
                self.bump();
                let op = self.bump();
                let exists = match op.tok {
                    Tok::Sym(Sym::Eq) => false,
                    Tok::Sym(Sym::Neq) => true,
                    _ => {
                        return Err(Error::syntax(
                            t.start,
                            "`nil` can only be compared with = or !=, as in `span.x = nil`",
                        ));
                    }
                };
                if Self::is_nil(&self.peek().tok) {
                    self.bump();
                    FieldExpr::Static(Static::Bool(false))
                } else {
                    FieldExpr::Exists(Box::new(self.field_unary()?), exists)
                }
            }
            _ => self.field_primary()?,
        };
        self.leave();
        self.no_arithmetic()?;
        Ok(e)
    }

    fn field_primary(&mut self) -> Result<FieldExpr, Error> {
        let t = self.bump();
        Ok(match t.tok {
            Tok::Sym(Sym::LParen) => {
                self.enter(t.start)?;
                let e = self.field_or()?;
                self.expect(Sym::RParen, "to close the parenthesis")?;
                self.leave();
                e
            }
            Tok::Str(s) => FieldExpr::Static(Static::Str(s)),
            Tok::Int(i) => FieldExpr::Static(Static::Int(i)),
            Tok::Float(f) => FieldExpr::Static(Static::Float(f)),
            Tok::Duration(d) => FieldExpr::Static(Static::Duration(d)),
            Tok::Ident(w) => self.word(&w, t.start)?,
            Tok::Scope(scope) => {
                let name = self.bump();
                let Tok::Ident(n) = &name.tok else {
                    return Err(Error::syntax(
                        name.start,
                        format!(
                            "unexpected {}: an intrinsic's name must follow `{scope}`",
                            describe(&name.tok)
                        ),
                    ));
                };
                FieldExpr::Field(Field::Intrinsic(scoped_intrinsic(scope, n, t.start)?))
            }
            Tok::Attr(AttrPrefix::Other(prefix), _) => {
                return Err(Error::unsupported(
                    t.start,
                    format!(
                        "`{prefix}` attributes are not supported: use `span.`, `resource.` or `.`"
                    ),
                ));
            }
            Tok::Attr(prefix, name) => FieldExpr::Field(Field::Attr(prefix, name)),
            ref other => {
                return Err(Error::syntax(
                    t.start,
                    format!(
                        "unexpected {}: expected an attribute, an intrinsic or a value",
                        describe(other)
                    ),
                ));
            }
        })
    }

    /// A keyword inside a spanset filter: a literal or an unscoped intrinsic.
    fn word(&self, w: &str, at: usize) -> Result<FieldExpr, Error> {
        let s = |v| Ok(FieldExpr::Static(v));
        let i = |v| Ok(FieldExpr::Field(Field::Intrinsic(v)));
        match w {
            "true" => s(Static::Bool(true)),
            "false" => s(Static::Bool(false)),
            "ok" => s(Static::Status(StatusCode::Ok)),
            "error" => s(Static::Status(StatusCode::Error)),
            "unset" => s(Static::Status(StatusCode::Unset)),
            "unspecified" => s(Static::Kind(SpanKind::Unspecified)),
            "internal" => s(Static::Kind(SpanKind::Internal)),
            "server" => s(Static::Kind(SpanKind::Server)),
            "client" => s(Static::Kind(SpanKind::Client)),
            "producer" => s(Static::Kind(SpanKind::Producer)),
            "consumer" => s(Static::Kind(SpanKind::Consumer)),
            "minInt" => s(Static::Int(i64::MIN)),
            "maxInt" => s(Static::Int(i64::MAX)),
            "name" => i(Intrinsic::Name),
            "status" => i(Intrinsic::Status),
            "statusMessage" => i(Intrinsic::StatusMessage),
            "kind" => i(Intrinsic::Kind),
            "duration" => i(Intrinsic::Duration),
            "rootName" => i(Intrinsic::RootName),
            "rootServiceName" => i(Intrinsic::RootService),
            "traceDuration" => i(Intrinsic::TraceDuration),
            "parent" | "nestedSetLeft" | "nestedSetRight" | "nestedSetParent" => Err(
                Error::unsupported(at, format!("the intrinsic `{w}` is not supported")),
            ),
            "count" | "avg" | "min" | "max" | "sum" => Err(Error::syntax(
                at,
                format!(
                    "`{w}()` belongs after `|`, as in `{{ }} | {w}(...) > 1`, not inside a spanset filter"
                ),
            )),
            "nil" => Err(Error::syntax(
                at,
                "`nil` can only be compared with = or !=, as in `span.x = nil`",
            )),
            _ => Err(Error::syntax(
                at,
                format!(
                    "unknown identifier `{w}`: quote a string (\"{w}\") or scope an attribute (.{w})"
                ),
            )),
        }
    }

    /// Ignores `with (name = value, ...)`: query hints change how Tempo searches, not what
    /// matches.
    fn hints(&mut self) -> Result<(), Error> {
        if !matches!(&self.peek().tok, Tok::Ident(w) if w == "with") {
            return Ok(());
        }
        self.bump();
        self.expect(Sym::LParen, "after `with`")?;
        loop {
            let name = self.bump();
            if !matches!(name.tok, Tok::Ident(_)) {
                return Err(Error::syntax(
                    name.start,
                    format!("unexpected {}: expected a hint's name", describe(&name.tok)),
                ));
            }
            self.expect(Sym::Eq, "after the hint's name")?;
            let value = self.bump();
            let literal = match &value.tok {
                Tok::Str(_) | Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) => true,
                Tok::Ident(w) => w == "true" || w == "false",
                _ => false,
            };
            if !literal {
                return Err(Error::syntax(
                    value.start,
                    format!(
                        "unexpected {}: a hint's value must be a literal",
                        describe(&value.tok)
                    ),
                ));
            }
            if self.at_sym(Sym::Comma) {
                self.bump();
                continue;
            }
            self.expect(Sym::RParen, "to close the hints")?;
            return Ok(());
        }
    }
}

/// Adds one to `counter`, failing at `at` past `max`.
fn count(
    counter: &mut usize,
    max: usize,
    at: usize,
    beyond: &str,
    what: &str,
) -> Result<(), Error> {
    *counter += 1;
    if *counter > max {
        return Err(Error::syntax(
            at,
            format!("the query {beyond} {max} {what}"),
        ));
    }
    Ok(())
}

/// The intrinsic `scope:name` stands for.
fn scoped_intrinsic(scope: &str, name: &str, at: usize) -> Result<Intrinsic, Error> {
    Ok(match (scope, name) {
        ("span:", "name") => Intrinsic::Name,
        ("span:", "status") => Intrinsic::Status,
        ("span:", "statusMessage") => Intrinsic::StatusMessage,
        ("span:", "kind") => Intrinsic::Kind,
        ("span:", "duration") => Intrinsic::Duration,
        ("span:", "id") => Intrinsic::SpanId,
        ("span:", "parentID") => Intrinsic::ParentId,
        ("span:", "childCount") => Intrinsic::ChildCount,
        ("trace:", "duration") => Intrinsic::TraceDuration,
        ("trace:", "rootName") => Intrinsic::RootName,
        ("trace:", "rootService") => Intrinsic::RootService,
        ("trace:", "id") => Intrinsic::TraceId,
        ("instrumentation:", "name") => Intrinsic::InstrumentationName,
        ("instrumentation:", "version") => Intrinsic::InstrumentationVersion,
        ("event:", _) | ("link:", _) => {
            return Err(Error::unsupported(
                at,
                format!("`{scope}{name}` is not supported: events and links cannot be queried"),
            ));
        }
        _ => {
            return Err(Error::syntax(
                at,
                format!("`{scope}{name}` is no intrinsic"),
            ));
        }
    })
}
