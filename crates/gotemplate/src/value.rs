//! Template values: the Go types a template can meet, their names as Go writes them, Go's
//! truth, and how an action prints them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::fmt::sprint;

/// A value in a template, with the Go type it stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's `nil`.
    Nil,
    /// A `bool`.
    Bool(bool),
    /// An `int`, such as an integer constant.
    Int(i64),
    /// A `float64`.
    Float(f64),
    /// A `string`.
    Str(String),
    /// A `map[string]string`: a missing key reads as `""`.
    Map(BTreeMap<String, Value>),
    /// A `map[string]interface {}`: a missing key reads as `nil`.
    AnyMap(BTreeMap<String, Value>),
    /// A slice (`[]interface {}` unless [`Value::Named`] names it).
    List(Vec<Value>),
    /// A struct: its fields in order (an anonymous struct unless named).
    Struct(Vec<(String, Value)>),
    /// A pointer to a value: fields read through it, `printf "%v"` writes `&{...}`.
    Ptr(Box<Value>),
    /// A `time.Time` in UTC: nanoseconds since 1970.
    Time(i64),
    /// A value of a named Go type (`template.KV`, `[]string`, `*template.sample` is a
    /// [`Value::Ptr`] to one): it behaves as the value inside, but has this type's name,
    /// and the caller's [`crate::Functions::method`] gives it methods.
    Named(&'static str, Box<Value>),
}

impl Value {
    /// Go's truth: the zero value of its type, or an empty container, is false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) | Value::AnyMap(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Struct(_) | Value::Ptr(_) | Value::Time(_) => true,
            Value::Named(_, v) => v.truthy(),
        }
    }

    /// A value of the named Go type `name`.
    pub fn named(name: &'static str, v: Value) -> Self {
        Value::Named(name, Box::new(v))
    }

    /// A `[]string`.
    pub fn strings<I: IntoIterator<Item = String>>(items: I) -> Self {
        Value::named(
            "[]string",
            Value::List(items.into_iter().map(Value::Str).collect()),
        )
    }

    /// A `map[string]string` of these pairs.
    pub fn string_map(pairs: &BTreeMap<String, String>) -> Self {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                .collect(),
        )
    }

    /// The value inside any names: what Go's reflection calls the underlying kind.
    pub fn underlying(&self) -> &Value {
        match self {
            Value::Named(_, v) => v.underlying(),
            v => v,
        }
    }

    /// The value a pointer points to, through names (`self` when it is no pointer).
    pub fn pointee(&self) -> &Value {
        match self {
            Value::Ptr(v) => v,
            v => v,
        }
    }

    /// The Go type's name, as `printf "%T"` and error messages give it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float64".into(),
            Value::Str(_) => "string".into(),
            Value::Map(_) => "map[string]string".into(),
            Value::AnyMap(_) => "map[string]interface {}".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Struct(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(n, v)| format!("{n} {}", v.type_name()))
                    .collect();
                format!("struct {{ {} }}", inner.join("; "))
            }
            Value::Ptr(v) => format!("*{}", v.type_name()),
            Value::Time(_) => "time.Time".into(),
            Value::Named(n, _) => (*n).to_owned(),
        }
    }

    /// Whether Go's `fmt` sees a string (`print` puts no space next to one).
    pub(crate) fn is_string(&self) -> bool {
        matches!(self.underlying(), Value::Str(_))
    }
}

/// How an action prints its value: Go's `fmt.Fprint` after text/template dereferences a
/// pointer, with `<no value>` for a missing one.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Ptr(inner) => f.write_str(&sprint(std::slice::from_ref(inner.as_ref()))),
            other => f.write_str(&sprint(std::slice::from_ref(other))),
        }
    }
}

/// A `time.Time` in UTC as Go's `String` prints it: `2015-06-23 13:19:44.128 +0000 UTC`.
pub fn time_string(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, mo, d) = model::civil_from_days(days);
    let mut out = format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        let _ = write!(out, ".{}", frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}
