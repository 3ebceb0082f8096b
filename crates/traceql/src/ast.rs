//! The syntax tree of a supported query, and the type check Tempo runs after parsing
//! (`ast_validate.go`): operands of one comparison must be of one type (numbers, durations
//! and attributes, whose type is known only per span, mix), each operator must suit its
//! operands' types, and a spanset filter must be a condition.

use regex::Regex;
use spans::{SpanKind, StatusCode};

use crate::Error;
use crate::lexer::AttrPrefix;

/// Stages separated by `|`, each fed the spansets the one before left.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) stages: Vec<Stage>,
}

/// One stage of a pipeline.
#[derive(Debug)]
pub(crate) enum Stage {
    /// A spanset expression: filters and spanset operators.
    Spansets(SpansetExpr),
    /// `count() > 3`: keeps the spansets whose aggregate compares true.
    Scalar(ScalarFilter),
}

/// Selects spans from each input spanset.
#[derive(Debug)]
pub(crate) enum SpansetExpr {
    /// `{ condition }`: the spans for which the condition holds.
    Filter(FieldExpr),
    /// `&&`, `||`, `>` or `>>` between two spanset expressions.
    Op(SpansetOp, Box<SpansetExpr>, Box<SpansetExpr>),
    /// `( pipeline )`.
    Pipeline(Pipeline),
}

/// A supported spanset operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpansetOp {
    /// `&&`: both sides matched; the spans of both.
    And,
    /// `||`: either side matched; the spans of both.
    Or,
    /// `>`: right-hand spans whose parent matched the left.
    Child,
    /// `>>`: right-hand spans with an ancestor that matched the left.
    Descendant,
}

/// `aggregate op number`.
#[derive(Debug)]
pub(crate) struct ScalarFilter {
    pub(crate) aggregate: Aggregate,
    /// The aggregate as written, such as `avg(duration)`: the name of the spanset attribute
    /// that carries its value.
    pub(crate) text: String,
    pub(crate) op: BinOp,
    pub(crate) value: Static,
}

/// An aggregate over a spanset.
#[derive(Debug)]
pub(crate) enum Aggregate {
    Count,
    Avg(Field),
    Min(Field),
    Max(Field),
    Sum(Field),
}

/// A per-span expression, inside `{ }` or an aggregate.
#[derive(Debug)]
pub(crate) enum FieldExpr {
    Static(Static),
    Field(Field),
    Binary {
        op: BinOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
        /// Where the operator is, for errors.
        offset: usize,
        /// For `=~` and `!~`: the right-hand string, compiled and anchored at both ends.
        regex: Option<Regex>,
    },
    /// `!x`.
    Not(Box<FieldExpr>, usize),
    /// `x != nil` (true) or `x = nil` (false).
    Exists(Box<FieldExpr>, bool),
}

/// A binary operator inside a spanset filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    And,
    Or,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Re,
    Nre,
}

impl BinOp {
    pub(crate) fn text(self) -> &'static str {
        match self {
            BinOp::And => "&&",
            BinOp::Or => "||",
            BinOp::Eq => "=",
            BinOp::Neq => "!=",
            BinOp::Lt => "<",
            BinOp::Lte => "<=",
            BinOp::Gt => ">",
            BinOp::Gte => ">=",
            BinOp::Re => "=~",
            BinOp::Nre => "!~",
        }
    }
}

/// Something read from a span: an attribute or an intrinsic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    Attr(AttrPrefix, String),
    Intrinsic(Intrinsic),
}

/// The intrinsics supported, trace-level ones included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    SpanId,
    ParentId,
    ChildCount,
    TraceId,
    TraceDuration,
    RootName,
    RootService,
    InstrumentationName,
    InstrumentationVersion,
}

impl Intrinsic {
    /// The name Tempo gives it in search results' attributes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Intrinsic::Name => "name",
            Intrinsic::Status => "status",
            Intrinsic::StatusMessage => "statusMessage",
            Intrinsic::Kind => "kind",
            Intrinsic::Duration => "duration",
            Intrinsic::SpanId => "span:id",
            Intrinsic::ParentId => "span:parentID",
            Intrinsic::ChildCount => "childCount",
            Intrinsic::TraceId => "trace:id",
            Intrinsic::TraceDuration => "traceDuration",
            Intrinsic::RootName => "rootName",
            Intrinsic::RootService => "rootServiceName",
            Intrinsic::InstrumentationName => "instrumentation:name",
            Intrinsic::InstrumentationVersion => "instrumentation:version",
        }
    }

    fn ty(self) -> Type {
        match self {
            Intrinsic::Name
            | Intrinsic::StatusMessage
            | Intrinsic::SpanId
            | Intrinsic::ParentId
            | Intrinsic::TraceId
            | Intrinsic::RootName
            | Intrinsic::RootService
            | Intrinsic::InstrumentationName
            | Intrinsic::InstrumentationVersion => Type::Str,
            Intrinsic::Status => Type::Status,
            Intrinsic::Kind => Type::Kind,
            Intrinsic::Duration | Intrinsic::TraceDuration => Type::Duration,
            Intrinsic::ChildCount => Type::Int,
        }
    }
}

/// A literal.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Static {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    Status(StatusCode),
    Kind(SpanKind),
}

/// A type as the checker knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Type {
    /// An attribute's: known per span only.
    Dynamic,
    Int,
    Float,
    Str,
    Bool,
    Duration,
    Status,
    Kind,
}

impl Type {
    fn numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Duration)
    }

    fn name(self) -> &'static str {
        match self {
            Type::Dynamic => "attribute",
            Type::Int => "integer",
            Type::Float => "float",
            Type::Str => "string",
            Type::Bool => "boolean",
            Type::Duration => "duration",
            Type::Status => "status",
            Type::Kind => "kind",
        }
    }
}

impl Static {
    fn ty(&self) -> Type {
        match self {
            Static::Int(_) => Type::Int,
            Static::Float(_) => Type::Float,
            Static::Str(_) => Type::Str,
            Static::Bool(_) => Type::Bool,
            Static::Duration(_) => Type::Duration,
            Static::Status(_) => Type::Status,
            Static::Kind(_) => Type::Kind,
        }
    }
}

/// Whether `op` suits an operand of type `t` (Tempo's `binaryTypeValid`).
fn suits(op: BinOp, t: Type) -> bool {
    use BinOp::*;
    match t {
        Type::Dynamic => true,
        Type::Bool => matches!(op, And | Or | Eq | Neq),
        Type::Int | Type::Float | Type::Duration => matches!(op, Eq | Neq | Lt | Lte | Gt | Gte),
        Type::Str => matches!(op, Eq | Neq | Re | Nre | Lt | Lte | Gt | Gte),
        Type::Status | Type::Kind => matches!(op, Eq | Neq),
    }
}

/// Whether values of types `a` and `b` may meet in one comparison.
fn comparable(a: Type, b: Type) -> bool {
    a == Type::Dynamic || b == Type::Dynamic || a == b || (a.numeric() && b.numeric())
}

impl FieldExpr {
    /// Checks types below this node and returns its own.
    pub(crate) fn check(&mut self) -> Result<Type, Error> {
        match self {
            FieldExpr::Static(s) => Ok(s.ty()),
            FieldExpr::Field(Field::Intrinsic(i)) => Ok(i.ty()),
            FieldExpr::Field(Field::Attr(..)) => Ok(Type::Dynamic),
            FieldExpr::Exists(inner, _) => {
                inner.check()?;
                Ok(Type::Bool)
            }
            FieldExpr::Not(inner, offset) => {
                let t = inner.check()?;
                if t != Type::Bool && t != Type::Dynamic {
                    return Err(Error::syntax(
                        *offset,
                        format!("`!` needs a condition, not a {}", t.name()),
                    ));
                }
                Ok(t)
            }
            FieldExpr::Binary {
                op,
                lhs,
                rhs,
                offset,
                regex,
            } => {
                let (lt, rt) = (lhs.check()?, rhs.check()?);
                if !comparable(lt, rt) {
                    return Err(Error::syntax(
                        *offset,
                        format!(
                            "`{}` compares a {} with a {}: both sides must be of one type",
                            op.text(),
                            lt.name(),
                            rt.name()
                        ),
                    ));
                }
                if !suits(*op, lt) || !suits(*op, rt) {
                    let t = if suits(*op, lt) { rt } else { lt };
                    return Err(Error::syntax(
                        *offset,
                        format!("`{}` does not apply to a {}", op.text(), t.name()),
                    ));
                }
                if matches!(op, BinOp::Re | BinOp::Nre) {
                    let FieldExpr::Static(Static::Str(pattern)) = rhs.as_ref() else {
                        return Err(Error::syntax(
                            *offset,
                            format!(
                                "the right of `{}` must be a string: the regular expression",
                                op.text()
                            ),
                        ));
                    };
                    *regex = Some(anchored(pattern, *offset)?);
                }
                // Every supported binary operator is a condition (no arithmetic).
                Ok(Type::Bool)
            }
        }
    }
}

/// Compiles `pattern` anchored at both ends, as Tempo matches (`^(?:pattern)$`).
fn anchored(pattern: &str, offset: usize) -> Result<Regex, Error> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or("").trim();
            Error::syntax(
                offset,
                format!("invalid regular expression {pattern:?}: {last}"),
            )
        })
}
