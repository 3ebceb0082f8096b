//! The [`Hint`] a query implies: what every trace it can match must have, so that a span
//! store may skip the others before the query runs.
//!
//! Only certainties go in. A condition joined by `&&` (inside a filter or between
//! spansets, `>` and `>>` included) contributes what it requires; `||` keeps only what
//! both sides require; `!`, `!=`, regular expressions and comparisons the hint cannot
//! express contribute nothing. What is taken: `resource.service.name = "x"` (the service;
//! OpenTelemetry's conventions make `service.name` a string), `name = "x"` (the span name)
//! and `duration > d` / `duration >= d` (a span's least duration). Attributes are left
//! out: an array attribute matches `= "x"` when any element is `"x"`, which a store
//! comparing whole values would miss.

use spans::Hint;

use crate::ast::{
    BinOp, Field, FieldExpr, Intrinsic, Pipeline, SpansetExpr, SpansetOp, Stage, Static,
};
use crate::lexer::AttrPrefix;

/// The hint of a whole pipeline: every spanset stage must match for any output.
pub(crate) fn of_pipeline(p: &Pipeline) -> Hint {
    p.stages
        .iter()
        .filter_map(|s| match s {
            Stage::Spansets(e) => Some(of_spansets(e)),
            Stage::Scalar(_) => None,
        })
        .fold(Hint::default(), both)
}

fn of_spansets(e: &SpansetExpr) -> Hint {
    match e {
        SpansetExpr::Filter(f) => of_condition(f),
        SpansetExpr::Pipeline(p) => of_pipeline(p),
        SpansetExpr::Op(SpansetOp::Or, l, r) => either(of_spansets(l), of_spansets(r)),
        SpansetExpr::Op(_, l, r) => both(of_spansets(l), of_spansets(r)),
    }
}

fn of_condition(e: &FieldExpr) -> Hint {
    let FieldExpr::Binary { op, lhs, rhs, .. } = e else {
        return Hint::default();
    };
    match op {
        BinOp::And => return both(of_condition(lhs), of_condition(rhs)),
        BinOp::Or => return either(of_condition(lhs), of_condition(rhs)),
        _ => {}
    }
    // With the literal on the left, the operator reads the other way round.
    let (field, op, value) = match (lhs.as_ref(), rhs.as_ref()) {
        (FieldExpr::Field(f), FieldExpr::Static(v)) => (f, *op, v),
        (FieldExpr::Static(v), FieldExpr::Field(f)) => {
            let flipped = match op {
                BinOp::Lt => BinOp::Gt,
                BinOp::Lte => BinOp::Gte,
                BinOp::Gt => BinOp::Lt,
                BinOp::Gte => BinOp::Lte,
                other => *other,
            };
            (f, flipped, v)
        }
        _ => return Hint::default(),
    };
    let mut hint = Hint::default();
    match (field, op, value) {
        (Field::Attr(AttrPrefix::Resource, key), BinOp::Eq, Static::Str(s))
            if key == spans::SERVICE_NAME =>
        {
            hint.service = Some(s.clone());
        }
        (Field::Intrinsic(Intrinsic::Name), BinOp::Eq, Static::Str(s)) => {
            hint.span_name = Some(s.clone());
        }
        (
            Field::Intrinsic(Intrinsic::Duration),
            BinOp::Gt | BinOp::Gte,
            Static::Duration(d) | Static::Int(d),
        ) if *d >= 0 => {
            let least = d.unsigned_abs() + u64::from(op == BinOp::Gt);
            hint.min_span_duration = Some(least);
        }
        _ => {}
    }
    hint
}

/// What two requirements that must both hold require.
fn both(a: Hint, b: Hint) -> Hint {
    let mut attributes = a.attributes;
    for x in b.attributes {
        if !attributes.contains(&x) {
            attributes.push(x);
        }
    }
    Hint {
        service: a.service.or(b.service),
        span_name: a.span_name.or(b.span_name),
        attributes,
        min_span_duration: a.min_span_duration.max(b.min_span_duration),
    }
}

/// What holds whichever of two requirements does.
fn either(a: Hint, b: Hint) -> Hint {
    let same = |x: Option<String>, y: Option<String>| x.filter(|x| y.as_ref() == Some(x));
    Hint {
        service: same(a.service, b.service),
        span_name: same(a.span_name, b.span_name),
        attributes: a
            .attributes
            .into_iter()
            .filter(|x| b.attributes.contains(x))
            .collect(),
        min_span_duration: a
            .min_span_duration
            .zip(b.min_span_duration)
            .map(|(x, y)| x.min(y)),
    }
}
