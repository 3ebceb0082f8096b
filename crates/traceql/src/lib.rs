//! TraceQL, Tempo's trace query language: the subset Grafana's dashboards and the Tempo data
//! source use, parsed and evaluated with Tempo's semantics.
//!
//! A query selects spansets from one trace at a time. `{ condition }` keeps the spans for
//! which the condition holds; conditions compare intrinsics (`name`, `status`, `kind`,
//! `duration`, `statusMessage`, the trace-level `rootServiceName`, `rootName`,
//! `traceDuration`, and their scoped forms `span:name`, `trace:duration`, ...) and
//! attributes (`span.x`, `resource.x`, or `.x` for the span's else the resource's) with
//! `= != > >= < <= =~ !~`, joined by `&&` and `||`. Spansets combine with `&&`, `||`, `>`
//! (child) and `>>` (descendant), and a pipeline (`|`) filters them further with
//! `count()`, `avg()`, `min()`, `max()` and `sum()` compared with a number. A trace matches
//! when at least one spanset comes out.
//!
//! ```
//! use std::sync::Arc;
//! use spans::{Resource, Span, SpanId, TraceId};
//!
//! let trace: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
//! let mut api = Span::new(trace, SpanId([1; 8]), "POST /tasks", 0, 80_000_000);
//! api.resource = Arc::new(Resource::service("api"));
//! let mut dht = Span::new(trace, SpanId([2; 8]), "dht.lookup", 5_000_000, 65_000_000);
//! dht.parent_span_id = Some(api.span_id);
//! dht.resource = Arc::new(Resource::service("dht"));
//! let spans = [api, dht];
//!
//! let q: traceql::Query = r#"{ resource.service.name = "api" } >> { duration > 50ms }"#.parse().unwrap();
//! let found = q.eval(&spans);
//! assert_eq!(found.spansets.len(), 1);
//! assert_eq!(found.spansets[0].spans, vec![1]); // the dht.lookup span
//! assert_eq!(q.hint().service.as_deref(), Some("api"));
//!
//! let e = "{ .a = 1 } | select(.b)".parse::<traceql::Query>().unwrap_err();
//! assert_eq!(e.to_string(), "unsupported TraceQL at byte 13: `select()` is not supported: \
//!     use spanset filters and count(), avg(), min(), max() or sum()");
//! ```
//!
//! What Tempo accepts beyond this subset (`select()`, `by()`, `coalesce()`, arithmetic,
//! `<`, `<<`, `~` and the negated and union structural operators, `event.`, `link.` and
//! `parent.` scopes, metrics functions such as `rate()`) is refused with
//! [`ErrorKind::Unsupported`] and the byte offset of the construct; malformed text with
//! [`ErrorKind::Syntax`]. The parser is total: any input gives a query or an error.

mod ast;
pub mod duration;
mod eval;
mod hint;
mod lexer;
mod parser;

use std::str::FromStr;

use spans::{Hint, Span, Value};

pub use eval::Spanset;

/// Why a query was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not TraceQL (or its types do not fit).
    Syntax,
    /// It is TraceQL, but beyond the subset Skywatch evaluates.
    Unsupported,
}

/// A query that cannot run: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} at byte {offset}: {message}", match kind { ErrorKind::Syntax => "syntax error", ErrorKind::Unsupported => "unsupported TraceQL" })]
pub struct Error {
    /// The byte offset in the query of the token at fault.
    pub offset: usize,
    /// Syntax or unsupported.
    pub kind: ErrorKind,
    /// What is wrong, and what to write instead where that is known.
    pub message: String,
}

impl Error {
    pub(crate) fn syntax(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            kind: ErrorKind::Syntax,
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            kind: ErrorKind::Unsupported,
            message: message.into(),
        }
    }
}

/// A parsed, type-checked query, ready to run over traces.
#[derive(Debug)]
pub struct Query {
    pipeline: ast::Pipeline,
    /// Whether evaluation needs each span's parent (structural operators, `childCount`).
    structure: bool,
    /// The attributes and intrinsics the query reads, once each, in order of appearance:
    /// what search results show of each matched span.
    fields: Vec<ast::Field>,
}

impl FromStr for Query {
    type Err = Error;

    fn from_str(src: &str) -> Result<Self, Error> {
        let pipeline = parser::parse(src)?;
        let mut fields: Vec<ast::Field> = Vec::new();
        let mut structure = false;
        walk_pipeline(
            &pipeline,
            &mut |f| {
                if !fields.contains(f) {
                    fields.push(f.clone());
                }
            },
            &mut structure,
        );
        structure |= fields.contains(&ast::Field::Intrinsic(ast::Intrinsic::ChildCount));
        Ok(Self {
            pipeline,
            structure,
            fields,
        })
    }
}

/// Calls `visit` with every field `p` reads; sets `structure` when it has structural
/// operators.
fn walk_pipeline(p: &ast::Pipeline, visit: &mut dyn FnMut(&ast::Field), structure: &mut bool) {
    for stage in &p.stages {
        match stage {
            ast::Stage::Spansets(e) => walk_spansets(e, visit, structure),
            ast::Stage::Scalar(f) => match &f.aggregate {
                ast::Aggregate::Count => {}
                ast::Aggregate::Avg(x)
                | ast::Aggregate::Min(x)
                | ast::Aggregate::Max(x)
                | ast::Aggregate::Sum(x) => visit(x),
            },
        }
    }
}

fn walk_spansets(e: &ast::SpansetExpr, visit: &mut dyn FnMut(&ast::Field), structure: &mut bool) {
    match e {
        ast::SpansetExpr::Filter(f) => walk_condition(f, visit),
        ast::SpansetExpr::Pipeline(p) => walk_pipeline(p, visit, structure),
        ast::SpansetExpr::Op(op, l, r) => {
            *structure |= matches!(op, ast::SpansetOp::Child | ast::SpansetOp::Descendant);
            walk_spansets(l, visit, structure);
            walk_spansets(r, visit, structure);
        }
    }
}

fn walk_condition(e: &ast::FieldExpr, visit: &mut dyn FnMut(&ast::Field)) {
    match e {
        ast::FieldExpr::Static(_) => {}
        ast::FieldExpr::Field(f) => visit(f),
        ast::FieldExpr::Not(inner, _) | ast::FieldExpr::Exists(inner, _) => {
            walk_condition(inner, visit)
        }
        ast::FieldExpr::Binary { lhs, rhs, .. } => {
            walk_condition(lhs, visit);
            walk_condition(rhs, visit);
        }
    }
}

/// What a query found in one trace.
pub struct Matches<'a> {
    query: &'a Query,
    ctx: eval::TraceCtx<'a>,
    /// The spansets that came out; none if the trace does not match.
    pub spansets: Vec<Spanset>,
}

impl Matches<'_> {
    /// The values the query read from span `span` (a position in the trace), named as
    /// Tempo's search results name them: attributes by their own names, intrinsics such as
    /// `status` and `kind` by theirs (as strings); the span's name and duration and the
    /// trace-level intrinsics are left out, as search results carry them elsewhere.
    pub fn span_attributes(&self, span: usize) -> Vec<(String, Value)> {
        eval::span_attributes(&self.query.fields, &self.ctx, span)
    }
}

impl Query {
    /// Runs the query over one trace (its spans in any order; positions in the result refer
    /// to this slice).
    pub fn eval<'a>(&'a self, trace: &'a [Span]) -> Matches<'a> {
        let ctx = eval::TraceCtx::new(trace, self.structure);
        let all = Spanset {
            spans: (0..trace.len()).collect(),
            attributes: Vec::new(),
        };
        let spansets = if trace.is_empty() {
            Vec::new()
        } else {
            eval::pipeline(&self.pipeline, &ctx, vec![all])
        };
        Matches {
            query: self,
            ctx,
            spansets,
        }
    }

    /// What every trace this query matches must have, for [`spans::SpanStore::scan`].
    pub fn hint(&self) -> Hint {
        hint::of_pipeline(&self.pipeline)
    }
}

#[cfg(test)]
mod tests;
