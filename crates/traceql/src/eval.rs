//! Evaluation over one trace, with Tempo's semantics (`ast_execute.go`).
//!
//! A pipeline starts from one spanset holding every span of the trace. A filter keeps the
//! spans its condition holds for; `&&` and `||` between spansets keep the spans of both
//! sides when both (either) matched; `>` and `>>` keep the right side's spans whose parent
//! (some ancestor) is among the left side's, ancestry being the trace's own; a scalar filter
//! keeps the spansets whose aggregate compares true. An empty spanset is dropped.
//!
//! Values are typed per span: a comparison whose sides are of types that cannot meet (a
//! string and a number), or that its operator does not suit, is false, as is any
//! comparison with a missing attribute except `= nil`. Numbers of different kinds
//! (integers, floats, durations in nanoseconds) compare as floats; strings compare
//! bytewise; `=~` is anchored at both ends. An array attribute matches `=`, `=~` and the
//! orderings when any element does, `!=` and `!~` when every element does.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;

use regex::Regex;
use spans::{Span, SpanId, SpanKind, StatusCode, Value, attribute};

use crate::ast::{
    Aggregate, BinOp, Field, FieldExpr, Intrinsic, Pipeline, ScalarFilter, SpansetExpr, SpansetOp,
    Stage, Static,
};
use crate::duration::format_go_duration;
use crate::lexer::AttrPrefix;

/// Spans of one trace that a query selected, with what its aggregates computed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spanset {
    /// Positions of the selected spans in the trace, in the trace's order.
    pub spans: Vec<usize>,
    /// The aggregates' values, named as written (`count()`, `avg(duration)`).
    pub attributes: Vec<(String, Value)>,
}

/// A value read from a span or written in the query.
#[derive(Clone, Debug, PartialEq)]
enum Val<'a> {
    Nil,
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    Status(StatusCode),
    Kind(SpanKind),
    /// An array whose elements are all of one scalar type.
    Array(&'a [Value]),
}

/// The type of a [`Val`], as operators check it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Nil,
    Int,
    Float,
    Str,
    Bool,
    Duration,
    Status,
    Kind,
    IntArray,
    FloatArray,
    StrArray,
    BoolArray,
}

impl Ty {
    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Duration)
    }

    fn element(self) -> Option<Ty> {
        Some(match self {
            Ty::IntArray => Ty::Int,
            Ty::FloatArray => Ty::Float,
            Ty::StrArray => Ty::Str,
            Ty::BoolArray => Ty::Bool,
            _ => return None,
        })
    }
}

impl<'a> Val<'a> {
    fn from_value(v: &'a Value) -> Val<'a> {
        match v {
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            Value::Int(i) => Val::Int(*i),
            Value::Double(d) => Val::Float(*d),
            Value::Bool(b) => Val::Bool(*b),
            Value::Array(items) if array_type(items).is_some() => Val::Array(items),
            // Tempo cannot search bytes, maps, mixed arrays or empty values.
            _ => Val::Nil,
        }
    }

    fn from_static(s: &'a Static) -> Val<'a> {
        match s {
            Static::Int(i) => Val::Int(*i),
            Static::Float(f) => Val::Float(*f),
            Static::Str(s) => Val::Str(Cow::Borrowed(s)),
            Static::Bool(b) => Val::Bool(*b),
            Static::Duration(d) => Val::Duration(*d),
            Static::Status(s) => Val::Status(*s),
            Static::Kind(k) => Val::Kind(*k),
        }
    }

    fn ty(&self) -> Ty {
        match self {
            Val::Nil => Ty::Nil,
            Val::Int(_) => Ty::Int,
            Val::Float(_) => Ty::Float,
            Val::Str(_) => Ty::Str,
            Val::Bool(_) => Ty::Bool,
            Val::Duration(_) => Ty::Duration,
            Val::Status(_) => Ty::Status,
            Val::Kind(_) => Ty::Kind,
            Val::Array(items) => array_type(items).unwrap_or(Ty::Nil),
        }
    }

    fn float(&self) -> f64 {
        match self {
            Val::Int(i) => *i as f64,
            Val::Float(f) => *f,
            Val::Duration(d) => *d as f64,
            _ => f64::NAN,
        }
    }

    /// The value as a search result carries it (Tempo's `Static.AsAnyValue`).
    fn to_value(&self) -> Option<Value> {
        Some(match self {
            Val::Nil => return None,
            Val::Int(i) => Value::Int(*i),
            Val::Float(f) => Value::Double(*f),
            Val::Str(s) => Value::String(s.to_string()),
            Val::Bool(b) => Value::Bool(*b),
            Val::Duration(d) => Value::String(format_go_duration(*d)),
            Val::Status(s) => Value::String(s.as_str().into()),
            Val::Kind(k) => Value::String(k.as_str().into()),
            Val::Array(items) => Value::Array(items.to_vec()),
        })
    }
}

/// The type of an array whose elements share one scalar type; `None` for an empty or mixed
/// one.
fn array_type(items: &[Value]) -> Option<Ty> {
    let ty = match items.first()? {
        Value::Int(_) => Ty::IntArray,
        Value::Double(_) => Ty::FloatArray,
        Value::String(_) => Ty::StrArray,
        Value::Bool(_) => Ty::BoolArray,
        _ => return None,
    };
    let same = items
        .iter()
        .all(|v| std::mem::discriminant(v) == std::mem::discriminant(&items[0]));
    same.then_some(ty)
}

/// What evaluation needs to know about the trace beyond one span.
pub(crate) struct TraceCtx<'a> {
    spans: &'a [Span],
    /// Each span's parent's position, when the parent is in the trace; empty unless the
    /// query needs the trace's structure.
    parents: Vec<Option<usize>>,
    /// How many spans of the trace name each span as parent; empty unless needed.
    children: Vec<u32>,
    root: Option<usize>,
    start: u64,
    end: u64,
}

impl<'a> TraceCtx<'a> {
    pub(crate) fn new(spans: &'a [Span], structure: bool) -> Self {
        let mut parents = Vec::new();
        let mut children = Vec::new();
        if structure {
            let mut index: HashMap<SpanId, usize> = HashMap::with_capacity(spans.len());
            for (i, s) in spans.iter().enumerate() {
                index.entry(s.span_id).or_insert(i);
            }
            children = vec![0; spans.len()];
            parents = spans
                .iter()
                .map(|s| {
                    let p = s.parent_span_id.and_then(|p| index.get(&p).copied());
                    if let Some(p) = p {
                        children[p] += 1;
                    }
                    p
                })
                .collect();
        }
        Self {
            spans,
            parents,
            children,
            root: spans.iter().position(Span::is_root),
            start: spans.iter().map(|s| s.start).min().unwrap_or(0),
            end: spans.iter().map(|s| s.end.max(s.start)).max().unwrap_or(0),
        }
    }

    fn field(&self, i: usize, f: &'a Field) -> Val<'a> {
        let Some(s) = self.spans.get(i) else {
            return Val::Nil;
        };
        match f {
            Field::Attr(prefix, name) => {
                let found = match prefix {
                    AttrPrefix::Span => attribute(&s.attributes, name),
                    AttrPrefix::Resource => attribute(&s.resource.attributes, name),
                    AttrPrefix::Instrumentation => attribute(&s.scope.attributes, name),
                    AttrPrefix::Unscoped => attribute(&s.attributes, name)
                        .or_else(|| attribute(&s.resource.attributes, name)),
                    AttrPrefix::Other(_) => None,
                };
                found.map_or(Val::Nil, Val::from_value)
            }
            Field::Intrinsic(intrinsic) => self.intrinsic(i, s, *intrinsic),
        }
    }

    fn intrinsic(&self, at: usize, s: &'a Span, i: Intrinsic) -> Val<'a> {
        let root = self.root.and_then(|r| self.spans.get(r));
        match i {
            Intrinsic::Name => Val::Str(Cow::Borrowed(&s.name)),
            Intrinsic::Status => Val::Status(s.status.code),
            Intrinsic::StatusMessage => Val::Str(Cow::Borrowed(&s.status.message)),
            Intrinsic::Kind => Val::Kind(s.kind),
            Intrinsic::Duration => Val::Duration(nanos(s.duration())),
            Intrinsic::SpanId => Val::Str(Cow::Owned(s.span_id.to_string())),
            Intrinsic::ParentId => s
                .parent_span_id
                .map_or(Val::Nil, |p| Val::Str(Cow::Owned(p.to_string()))),
            Intrinsic::ChildCount => self
                .children
                .get(at)
                .map_or(Val::Nil, |n| Val::Int(i64::from(*n))),
            Intrinsic::TraceId => Val::Str(Cow::Owned(s.trace_id.to_string())),
            Intrinsic::TraceDuration => Val::Duration(nanos(self.end.saturating_sub(self.start))),
            Intrinsic::RootName => root.map_or(Val::Nil, |r| Val::Str(Cow::Borrowed(&r.name))),
            Intrinsic::RootService => {
                root.map_or(Val::Nil, |r| Val::Str(Cow::Borrowed(r.service_name())))
            }
            Intrinsic::InstrumentationName => Val::Str(Cow::Borrowed(&s.scope.name)),
            Intrinsic::InstrumentationVersion => Val::Str(Cow::Borrowed(&s.scope.version)),
        }
    }

    /// Whether span `i` has an ancestor in `set`; `memo` caches the answer per span.
    fn has_ancestor_in(&self, i: usize, set: &[bool], memo: &mut [Option<bool>]) -> bool {
        let mut path = Vec::new();
        let mut cur = i;
        let answer = loop {
            let Some(p) = self.parents.get(cur).copied().flatten() else {
                break false;
            };
            if set.get(p).copied().unwrap_or(false) {
                break true;
            }
            if let Some(known) = memo.get(p).copied().flatten() {
                break known;
            }
            // A parent cycle (bad data) ends the walk.
            if path.len() > self.spans.len() {
                break false;
            }
            path.push(p);
            cur = p;
        };
        for p in path.into_iter().chain([i]) {
            if let Some(m) = memo.get_mut(p) {
                *m = Some(answer);
            }
        }
        answer
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }
}

fn nanos(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Evaluates `e` for span `i`.
fn eval<'a>(e: &'a FieldExpr, ctx: &TraceCtx<'a>, i: usize) -> Val<'a> {
    match e {
        FieldExpr::Static(s) => Val::from_static(s),
        FieldExpr::Field(f) => ctx.field(i, f),
        FieldExpr::Not(inner, _) => match eval(inner, ctx, i) {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Bool(false),
        },
        FieldExpr::Exists(inner, exists) => Val::Bool((eval(inner, ctx, i) != Val::Nil) == *exists),
        FieldExpr::Binary {
            op: op @ (BinOp::And | BinOp::Or),
            lhs,
            rhs,
            ..
        } => {
            let l = eval(lhs, ctx, i);
            match (op, &l) {
                (BinOp::And, Val::Bool(false)) => return Val::Bool(false),
                (BinOp::Or, Val::Bool(true)) => return Val::Bool(true),
                _ => {}
            }
            match (l, eval(rhs, ctx, i)) {
                (Val::Bool(a), Val::Bool(b)) => {
                    Val::Bool(if *op == BinOp::And { a && b } else { a || b })
                }
                _ => Val::Bool(false),
            }
        }
        FieldExpr::Binary {
            op,
            lhs,
            rhs,
            regex,
            ..
        } => Val::Bool(compare(
            *op,
            &eval(lhs, ctx, i),
            &eval(rhs, ctx, i),
            regex.as_ref(),
        )),
    }
}

/// Whether types `a` and `b` may meet in one comparison (Tempo's `isMatchingOperand`).
fn matching(a: Ty, b: Ty) -> bool {
    a == b
        || (a.numeric() && b.numeric())
        || a == Ty::Nil
        || b == Ty::Nil
        || a.element()
            .is_some_and(|e| matching(e, b) && b.element().is_none())
        || b.element()
            .is_some_and(|e| matching(a, e) && a.element().is_none())
}

/// Whether `op` applies to a value of type `t` (Tempo's `binaryTypeValid`).
fn valid(op: BinOp, t: Ty) -> bool {
    use BinOp::*;
    match t.element().unwrap_or(t) {
        Ty::Bool => matches!(op, And | Or | Eq | Neq),
        Ty::Int | Ty::Float | Ty::Duration => matches!(op, Eq | Neq | Lt | Lte | Gt | Gte),
        Ty::Str => true,
        _ => matches!(op, Eq | Neq),
    }
}

fn order(op: BinOp, o: Option<Ordering>) -> bool {
    match (op, o) {
        (BinOp::Lt, Some(o)) => o.is_lt(),
        (BinOp::Lte, Some(o)) => o.is_le(),
        (BinOp::Gt, Some(o)) => o.is_gt(),
        (BinOp::Gte, Some(o)) => o.is_ge(),
        _ => false,
    }
}

/// `l op r`, for every operator but `&&` and `||`; `regex` is `r` compiled, for `=~`/`!~`.
fn compare(op: BinOp, l: &Val<'_>, r: &Val<'_>, regex: Option<&Regex>) -> bool {
    let (lt, rt) = (l.ty(), r.ty());
    if !matching(lt, rt) || !valid(op, lt) || !valid(op, rt) {
        return false;
    }
    if lt.element().is_some() || rt.element().is_some() {
        return compare_array(op, l, r, regex);
    }
    match (op, l, r) {
        (BinOp::Re | BinOp::Nre, Val::Str(s), Val::Str(_)) => {
            regex.is_some_and(|re| re.is_match(s)) == (op == BinOp::Re)
        }
        (BinOp::Re | BinOp::Nre, ..) => false,
        (BinOp::Eq, ..) => equals(l, r),
        (BinOp::Neq, ..) => lt != Ty::Nil && rt != Ty::Nil && !equals(l, r),
        (_, Val::Str(a), Val::Str(b)) => order(op, Some(a.as_bytes().cmp(b.as_bytes()))),
        (_, Val::Int(a), Val::Int(b)) => order(op, Some(a.cmp(b))),
        _ => order(op, l.float().partial_cmp(&r.float())),
    }
}

/// An array compared with a scalar: any element for `=`, `=~` and the orderings, every
/// element for `!=` and `!~` (Tempo's array semantics).
fn compare_array(op: BinOp, l: &Val<'_>, r: &Val<'_>, regex: Option<&Regex>) -> bool {
    let (array, scalar, elem_op, array_left) = match (l, r) {
        (Val::Array(_), Val::Array(_)) => return false,
        (Val::Array(a), s) => (*a, s, flip(op), true),
        (s, Val::Array(a)) => (*a, s, op, false),
        _ => return false,
    };
    let every = matches!(op, BinOp::Neq | BinOp::Nre);
    let mut test = array.iter().map(|v| {
        let e = Val::from_value(v);
        if matches!(op, BinOp::Re | BinOp::Nre) {
            // The pattern is always on the right; the array's elements are matched.
            return array_left && compare(op, &e, scalar, regex);
        }
        compare(elem_op, scalar, &e, regex)
    });
    if every {
        test.all(|b| b)
    } else {
        test.any(|b| b)
    }
}

/// The operator with its sides swapped.
fn flip(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Lte => BinOp::Gte,
        BinOp::Gt => BinOp::Lt,
        BinOp::Gte => BinOp::Lte,
        other => other,
    }
}

/// Tempo's `Static.Equals`: nothing equals nil; numbers of any kind compare by value.
fn equals(l: &Val<'_>, r: &Val<'_>) -> bool {
    match (l, r) {
        (Val::Nil, _) | (_, Val::Nil) => false,
        (Val::Int(a) | Val::Duration(a), Val::Int(b) | Val::Duration(b)) => a == b,
        (Val::Float(_), _) | (_, Val::Float(_)) => l.float() == r.float(),
        (Val::Str(a), Val::Str(b)) => a == b,
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Status(a), Val::Status(b)) => a == b,
        (Val::Kind(a), Val::Kind(b)) => a == b,
        (Val::Array(a), Val::Array(b)) => a == b,
        _ => false,
    }
}

/// Runs `pipeline` over the spansets `input`.
pub(crate) fn pipeline<'a>(
    p: &'a Pipeline,
    ctx: &TraceCtx<'a>,
    input: Vec<Spanset>,
) -> Vec<Spanset> {
    let mut sets = input;
    for stage in &p.stages {
        sets = match stage {
            Stage::Spansets(e) => spansets(e, ctx, &sets),
            Stage::Scalar(f) => sets
                .into_iter()
                .filter_map(|ss| scalar_filter(f, ctx, ss))
                .collect(),
        };
        if sets.is_empty() {
            break;
        }
    }
    sets
}

fn spansets<'a>(e: &'a SpansetExpr, ctx: &TraceCtx<'a>, input: &[Spanset]) -> Vec<Spanset> {
    match e {
        SpansetExpr::Filter(cond) => input
            .iter()
            .filter_map(|ss| {
                let spans: Vec<usize> = ss
                    .spans
                    .iter()
                    .copied()
                    .filter(|&i| eval(cond, ctx, i) == Val::Bool(true))
                    .collect();
                (!spans.is_empty()).then(|| Spanset {
                    spans,
                    attributes: ss.attributes.clone(),
                })
            })
            .collect(),
        SpansetExpr::Pipeline(p) => pipeline(p, ctx, input.to_vec()),
        SpansetExpr::Op(op, l, r) => input
            .iter()
            .filter_map(|ss| {
                let one = std::slice::from_ref(ss);
                let (lhs, rhs) = (spansets(l, ctx, one), spansets(r, ctx, one));
                let spans = match op {
                    SpansetOp::And if lhs.is_empty() || rhs.is_empty() => return None,
                    SpansetOp::Or if lhs.is_empty() && rhs.is_empty() => return None,
                    SpansetOp::And | SpansetOp::Or => union(&lhs, &rhs, ctx.len()),
                    SpansetOp::Child | SpansetOp::Descendant => {
                        related(*op, &lhs, rhs.first(), ctx)
                    }
                };
                (!spans.is_empty()).then(|| Spanset {
                    spans,
                    attributes: ss.attributes.clone(),
                })
            })
            .collect(),
    }
}

/// Every span of `a` and `b`, once, in the trace's order.
fn union(a: &[Spanset], b: &[Spanset], n: usize) -> Vec<usize> {
    let mut seen = vec![false; n];
    for i in a.iter().chain(b).flat_map(|ss| &ss.spans) {
        if let Some(s) = seen.get_mut(*i) {
            *s = true;
        }
    }
    (0..n).filter(|&i| seen[i]).collect()
}

/// The spans of `rhs` whose parent (`Child`) or some ancestor (`Descendant`) is in `lhs`.
fn related(
    op: SpansetOp,
    lhs: &[Spanset],
    rhs: Option<&Spanset>,
    ctx: &TraceCtx<'_>,
) -> Vec<usize> {
    let Some(rhs) = rhs else { return Vec::new() };
    let mut set = vec![false; ctx.len()];
    for i in lhs.iter().flat_map(|ss| &ss.spans) {
        if let Some(s) = set.get_mut(*i) {
            *s = true;
        }
    }
    let mut memo = vec![None; ctx.len()];
    rhs.spans
        .iter()
        .copied()
        .filter(|&i| match op {
            SpansetOp::Child => ctx
                .parents
                .get(i)
                .copied()
                .flatten()
                .is_some_and(|p| set[p]),
            _ => ctx.has_ancestor_in(i, &set, &mut memo),
        })
        .collect()
}

/// The spanset with the aggregate's value added, if the comparison holds.
fn scalar_filter<'a>(f: &'a ScalarFilter, ctx: &TraceCtx<'a>, mut ss: Spanset) -> Option<Spanset> {
    let value = aggregate(&f.aggregate, ctx, &ss.spans)?;
    if !compare(f.op, &value, &Val::from_static(&f.value), None) {
        return None;
    }
    ss.attributes.push((f.text.clone(), value.to_value()?));
    Some(ss)
}

/// The aggregate over `spans`; `None` when no span has a number for it.
fn aggregate<'a>(a: &'a Aggregate, ctx: &TraceCtx<'a>, spans: &[usize]) -> Option<Val<'a>> {
    let field = match a {
        Aggregate::Count => return Some(Val::Int(i64::try_from(spans.len()).unwrap_or(i64::MAX))),
        Aggregate::Avg(f) | Aggregate::Min(f) | Aggregate::Max(f) | Aggregate::Sum(f) => f,
    };
    let values: Vec<Val<'a>> = spans
        .iter()
        .map(|&i| ctx.field(i, field))
        .filter(|v| v.ty().numeric())
        .collect();
    let first = values.first()?.clone();
    let pick = |want: Ordering| {
        values.iter().fold(first.clone(), |best, v| {
            if v.float().partial_cmp(&best.float()) == Some(want) {
                v.clone()
            } else {
                best
            }
        })
    };
    let same_type = values.iter().all(|v| v.ty() == first.ty());
    let sum = || match first {
        Val::Int(_) if same_type => Val::Int(
            values
                .iter()
                .map(|v| v.float() as i64)
                .fold(0, i64::wrapping_add),
        ),
        Val::Duration(_) if same_type => Val::Duration(
            values
                .iter()
                .map(|v| v.float() as i64)
                .fold(0, i64::wrapping_add),
        ),
        _ => Val::Float(values.iter().map(Val::float).sum()),
    };
    Some(match a {
        Aggregate::Min(_) => pick(Ordering::Less),
        Aggregate::Max(_) => pick(Ordering::Greater),
        Aggregate::Sum(_) => sum(),
        _ => {
            let n = values.len() as f64;
            match sum() {
                Val::Duration(d) => Val::Duration((d as f64 / n) as i64),
                other => Val::Float(other.float() / n),
            }
        }
    })
}

/// The values of `fields` on span `i`, named as Tempo names them in search results: the
/// attributes' own names, and intrinsics other than the span's name and duration and the
/// trace-level ones.
pub(crate) fn span_attributes<'a>(
    fields: &'a [Field],
    ctx: &TraceCtx<'a>,
    i: usize,
) -> Vec<(String, Value)> {
    fields
        .iter()
        .filter_map(|f| {
            let key = match f {
                Field::Attr(_, name) => name.clone(),
                Field::Intrinsic(
                    Intrinsic::Name
                    | Intrinsic::Duration
                    | Intrinsic::TraceDuration
                    | Intrinsic::RootName
                    | Intrinsic::RootService
                    | Intrinsic::TraceId
                    | Intrinsic::SpanId,
                ) => return None,
                Field::Intrinsic(intrinsic) => intrinsic.name().to_owned(),
            };
            Some((key, ctx.field(i, f).to_value()?))
        })
        .collect()
}
