//! Running a parsed template: Go's evaluation of pipelines, fields, methods, variables
//! and control structures, and Go's builtin functions, with Go's run-time error texts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::error::{MAX_TEMPLATE_DEPTH, TemplateError, Where};
use crate::fmt::{escaper_text, html_escape, js_escape, printf, query_escape, sprint, sprintln};
use crate::html::HtmlContext;
use crate::parse::{Arg, ArgKind, Command, Node, Pipeline};
use crate::value::{Value, time_string};
use crate::{Functions, Param, Signature};

/// How a list of nodes ended.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Go's builtin functions, which every template has.
const BUILTINS: &[&str] = &[
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

/// Whether `name` is one of Go's builtin functions.
pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// A builtin's fixed parameters and, if it takes more, their kind.
fn builtin_signature(name: &str) -> Option<Signature> {
    use Param::*;
    let (fixed, variadic): (&'static [Param], Option<Param>) = match name {
        "and" | "or" | "index" | "slice" | "call" | "eq" => (&[Any], Some(Any)),
        "html" | "js" | "urlquery" | "print" | "println" => (&[], Some(Any)),
        "printf" => (&[Str], Some(Any)),
        "ne" | "lt" | "le" | "gt" | "ge" => (&[Any, Any], None),
        "not" | "len" => (&[Any], None),
        _ => return None,
    };
    Some(Signature { fixed, variadic })
}

/// One template being run.
pub(crate) struct Run<'a> {
    pub(crate) funcs: &'a dyn Functions,
    pub(crate) defined: &'a BTreeMap<String, (Arc<Vec<Node>>, usize)>,
    pub(crate) vars: Vec<(String, Value)>,
    pub(crate) out: String,
    /// The defined template running, `None` for the template the run started with.
    pub(crate) template: Option<String>,
    /// Which parsed text the running nodes come from, for error positions.
    pub(crate) source: usize,
    /// How many `template` calls deep the run is.
    pub(crate) depth: usize,
    /// Where the output stands in HTML, when the output is HTML.
    pub(crate) html: Option<HtmlContext>,
}

/// Go's `reflect.Value.Field`-style access of `name` on `v`, with `missingkey=zero`.
pub(crate) fn field(v: &Value, name: &str) -> Result<Value, String> {
    let missing = || format!("can't evaluate field {name} in type {}", v.type_name());
    Ok(match v.pointee().underlying() {
        Value::Map(m) => m.get(name).cloned().unwrap_or(Value::Str(String::new())),
        Value::AnyMap(m) => m.get(name).cloned().unwrap_or(Value::Nil),
        Value::Struct(fields) => match fields.iter().find(|(n, _)| n == name) {
            Some((_, x)) => x.clone(),
            None => return Err(missing()),
        },
        Value::Time(ns) => match time_method(*ns, name, &[]) {
            Some(r) => r?,
            None => return Err(missing()),
        },
        Value::Nil => return Err(format!("nil pointer evaluating interface {{}}.{name}")),
        _ => return Err(missing()),
    })
}

/// A method of Go's `time.Time`: `Unix`, `Year`, `Format "2006-01-02"`...; `None` when
/// there is no such method.
pub(crate) fn time_method(ns: i64, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    let secs = ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let no_args = |v: Value| {
        if args.is_empty() {
            Ok(v)
        } else {
            Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                args.len()
            ))
        }
    };
    Some(match name {
        "Unix" => no_args(Value::Int(secs)),
        "UnixMilli" => no_args(Value::Int(ns.div_euclid(1_000_000))),
        "UnixMicro" => no_args(Value::Int(ns.div_euclid(1_000))),
        "UnixNano" => no_args(Value::Int(ns)),
        "Year" => no_args(Value::Int(model::civil_from_days(days).0)),
        "Day" => no_args(Value::Int(i64::from(model::civil_from_days(days).2))),
        "Hour" => no_args(Value::Int(rem / 3600)),
        "Minute" => no_args(Value::Int(rem / 60 % 60)),
        "Second" => no_args(Value::Int(rem % 60)),
        "Nanosecond" => no_args(Value::Int(ns.rem_euclid(1_000_000_000))),
        "String" => no_args(Value::Str(time_string(ns))),
        // Times here are in UTC; Go's `Local` is UTC on a server without a zone.
        "UTC" | "Local" => no_args(Value::Time(ns)),
        "Format" => match args {
            [Value::Str(layout)] => Ok(Value::Str(crate::timefmt::format(ns, layout))),
            [other] => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
            _ => Err(format!(
                "wrong number of args for Format: want 1 got {}",
                args.len()
            )),
        },
        _ => return None,
    })
}

/// The Go kinds `eq` and `lt` compare.
#[derive(PartialEq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v.underlying() {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

/// Go 1.19's `eq`: equal to any of the others; values of different kinds do not
/// compare, except that `nil` is unequal to anything else.
pub(crate) fn go_eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let a = a.underlying();
    let k1 = kind(a);
    for b in others {
        let b = b.underlying();
        let k2 = kind(b);
        let truth = if k1 != k2 {
            if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) {
                return Err("incompatible types for comparison".into());
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Nil, _) | (_, Value::Nil) => false,
                (Value::Ptr(_), Value::Ptr(_)) | (Value::Time(_), Value::Time(_)) => a == b,
                (x, y) if std::mem::discriminant(x) != std::mem::discriminant(y) => {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        sprint(std::slice::from_ref(x)),
                        x.type_name(),
                        y.type_name(),
                        sprint(std::slice::from_ref(y))
                    ));
                }
                (_, y) => {
                    return Err(format!(
                        "non-comparable type {}: {}",
                        sprint(std::slice::from_ref(y)),
                        y.type_name()
                    ));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go 1.19's `lt`.
fn go_lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (a, b) = (a.underlying(), b.underlying());
    let (k1, k2) = (kind(a), kind(b));
    if k1 == Kind::Other || k2 == Kind::Other {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => return Err("invalid type for comparison".into()),
    })
}

/// Go's index of a slice or string: an int within `0..=cap`.
fn index_arg(i: &Value, cap: usize) -> Result<usize, String> {
    match i {
        Value::Int(x) if *x >= 0 && (*x as u64) <= cap as u64 => Ok(*x as usize),
        Value::Int(x) => Err(format!("index out of range: {x}")),
        Value::Nil => Err("cannot index slice/array with nil".into()),
        other => Err(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        )),
    }
}

impl Run<'_> {
    fn fail<T>(
        &self,
        pos: usize,
        context: &str,
        message: impl Into<String>,
    ) -> Result<T, TemplateError> {
        Err(TemplateError {
            message: message.into(),
            at: Where::Node {
                source: self.source,
                pos,
                context: context.to_owned(),
                template: self.template.clone(),
            },
        })
    }

    fn var(&self, name: &str, a: &Arg) -> Result<Value, TemplateError> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.fail(a.pos, &a.text, format!("undefined variable: ${name}")),
        }
    }

    fn set(
        &mut self,
        name: &str,
        v: Value,
        declare: bool,
        p: &Pipeline,
    ) -> Result<(), TemplateError> {
        if declare {
            self.vars.push((name.to_owned(), v));
            return Ok(());
        }
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => self.fail(p.pos, &p.text(), format!("undefined variable: ${name}")),
        }
    }

    fn fields(&self, v: Value, fs: &[String], a: &Arg) -> Result<Value, TemplateError> {
        let mut v = v;
        for f in fs {
            v = match self.method(&v, f, &[]) {
                Some(r) => {
                    r.or_else(|m| self.fail(a.pos, &a.text, format!("error calling {f}: {m}")))?
                }
                None => field(&v, f).or_else(|m| self.fail(a.pos, &a.text, m))?,
            };
        }
        Ok(v)
    }

    /// Calls the method `name` of `recv`: the caller's, or one of `time.Time`'s; `None`
    /// when `recv` has no such method.
    fn method(&self, recv: &Value, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if let Some(r) = self.funcs.method(recv, name, args) {
            return Some(r);
        }
        match recv.pointee().underlying() {
            Value::Time(ns) => time_method(*ns, name, args),
            _ => None,
        }
    }

    /// A command whose first operand ends in a method given arguments:
    /// `.CommonLabels.Remove .GroupLabels.Names`, `.StartsAt.Format "15:04"`.
    fn method_call(
        &mut self,
        cmd: &Command,
        dot: &Value,
        last: Option<Value>,
    ) -> Result<Value, TemplateError> {
        let first = &cmd.args[0];
        let (recv, fs) = match &first.kind {
            ArgKind::Dot(fs) => (dot.clone(), fs),
            ArgKind::Var(name, fs) => (self.var(name, first)?, fs),
            ArgKind::Sub(p, fs) => (self.pipeline(p, dot)?, fs),
            _ => return self.fail(first.pos, &first.text, "not a method"),
        };
        let Some((name, chain)) = fs.split_last() else {
            return self.fail(first.pos, &first.text, "not a method");
        };
        let recv = self.fields(recv, chain, first)?;
        let mut args = Vec::with_capacity(cmd.args.len());
        for a in &cmd.args[1..] {
            args.push(self.arg(a, dot)?);
        }
        args.extend(last);
        match self.method(&recv, name, &args) {
            Some(r) => r.or_else(|m| {
                self.fail(first.pos, &first.text, format!("error calling {name}: {m}"))
            }),
            None => self.fail(
                first.pos,
                &first.text,
                format!("{name} is not a method but has arguments"),
            ),
        }
    }

    /// An operand's value, untyped (for an `interface{}` parameter or a command).
    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        Ok(match &a.kind {
            ArgKind::Dot(fs) => self.fields(dot.clone(), fs, a)?,
            ArgKind::Var(name, fs) => {
                let v = self.var(name, a)?;
                self.fields(v, fs, a)?
            }
            ArgKind::Str(s) => Value::Str(s.clone()),
            ArgKind::Int(n) => Value::Int(*n),
            ArgKind::Float(n) => Value::Float(*n),
            ArgKind::Bool(b) => Value::Bool(*b),
            ArgKind::Nil => Value::Nil,
            ArgKind::Func(name) => {
                let cmd = Command {
                    args: vec![a.clone()],
                };
                self.call(name, &cmd, dot, None)?
            }
            ArgKind::Sub(p, fs) => {
                let v = self.pipeline(p, dot)?;
                self.fields(v, fs, a)?
            }
        })
    }

    /// An operand for a parameter of kind `param`, checked as Go's `evalArg` checks it.
    fn typed_arg(&mut self, a: &Arg, param: Param, dot: &Value) -> Result<Value, TemplateError> {
        if param == Param::Any {
            return self.arg(a, dot);
        }
        let constant = match &a.kind {
            ArgKind::Int(_) | ArgKind::Float(_) | ArgKind::Bool(_) => Some(a.text.clone()),
            ArgKind::Str(_) if param != Param::Str => Some(a.text.clone()),
            _ => None,
        };
        if let Some(text) = constant {
            return match param {
                Param::Str => self.fail(a.pos, &a.text, format!("expected string; found {text}")),
                _ => self.fail(
                    a.pos,
                    &a.text,
                    format!("can't handle {text} for arg of type {}", param.go()),
                ),
            };
        }
        if let ArgKind::Nil = a.kind {
            return match param {
                Param::Str => self.fail(a.pos, &a.text, "cannot assign nil to string"),
                _ => Ok(Value::Nil),
            };
        }
        let v = self.arg(a, dot)?;
        self.check_type(v, param, a)
    }

    /// Go's `validateType` of a value for a parameter.
    fn check_type(&self, v: Value, param: Param, a: &Arg) -> Result<Value, TemplateError> {
        let ok = match (&v, param) {
            (_, Param::Any) => true,
            (Value::Str(_), Param::Str) => true,
            (Value::Nil, Param::Str) => {
                return self.fail(a.pos, &a.text, "invalid value; expected string");
            }
            (Value::Nil, Param::Type(_)) => true,
            (v, Param::Type(t)) => v.type_name() == t,
            _ => false,
        };
        if ok {
            Ok(v)
        } else {
            self.fail(
                a.pos,
                &a.text,
                format!(
                    "wrong type for value; expected {}; got {}",
                    param.go(),
                    v.type_name()
                ),
            )
        }
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for cmd in &p.cmds {
            let value = match &cmd.args[0].kind {
                ArgKind::Func(name) => self.call(name, cmd, dot, last.take())?,
                _ => {
                    let first = &cmd.args[0];
                    if cmd.args.len() > 1 || last.is_some() {
                        if let ArgKind::Dot(fs) | ArgKind::Var(_, fs) | ArgKind::Sub(_, fs) =
                            &first.kind
                            && !fs.is_empty()
                        {
                            last = Some(self.method_call(cmd, dot, last.take())?);
                            continue;
                        }
                        return self.fail(
                            first.pos,
                            &first.text,
                            format!("can't give argument to non-function {}", first.text),
                        );
                    }
                    if let ArgKind::Nil = first.kind {
                        return self.fail(first.pos, &first.text, "nil is not a command");
                    }
                    self.arg(first, dot)?
                }
            };
            last = Some(value);
        }
        let v = last.unwrap_or(Value::Nil);
        for name in &p.vars {
            self.set(name, v.clone(), p.declare, p)?;
        }
        Ok(v)
    }

    /// Runs the nodes of the template the run starts with.
    pub(crate) fn run(&mut self, nodes: &[Node], dot: &Value) -> Result<(), TemplateError> {
        self.nodes(nodes, dot).map(|_| ())
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for n in nodes {
            let depth = self.vars.len();
            match n {
                Node::Text(t) => match &mut self.html {
                    Some(h) => h.text(t, &mut self.out),
                    None => self.out.push_str(t),
                },
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.vars.is_empty() {
                        match &mut self.html {
                            Some(h) => {
                                let last = p.cmds.last().and_then(|c| match &c.args[0].kind {
                                    ArgKind::Func(n) => Some(n.as_str()),
                                    _ => None,
                                });
                                h.value(&v, last, &mut self.out);
                            }
                            None => {
                                let _ = write!(self.out, "{v}");
                            }
                        }
                    }
                    // A declaration lives to the end of the enclosing block.
                    continue;
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut done = false;
                    for (cond, body) in branches {
                        if self.pipeline(cond, dot)?.truthy() {
                            let flow = self.nodes(body, dot)?;
                            self.vars.truncate(depth);
                            if !matches!(flow, Flow::Normal) {
                                return Ok(flow);
                            }
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        let flow = self.nodes(otherwise, dot)?;
                        self.vars.truncate(depth);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                    }
                }
                Node::With {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let v = self.pipeline(pipe, dot)?;
                    let flow = if v.truthy() {
                        self.nodes(body, &v)?
                    } else {
                        self.nodes(otherwise, dot)?
                    };
                    self.vars.truncate(depth);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mut bare = pipe.clone();
                    bare.vars.clear();
                    let v = self.pipeline(&bare, dot)?;
                    let items: Vec<(Value, Value)> = match v.underlying().clone() {
                        Value::List(l) => l
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| (Value::Int(i as i64), x))
                            .collect(),
                        Value::Map(m) | Value::AnyMap(m) => {
                            m.into_iter().map(|(k, x)| (Value::Str(k), x)).collect()
                        }
                        Value::Nil => Vec::new(),
                        other => {
                            return self.fail(
                                pipe.pos,
                                &bare.text(),
                                format!("range can't iterate over {}", sprint(&[other])),
                            );
                        }
                    };
                    if items.is_empty() {
                        let flow = self.nodes(otherwise, dot)?;
                        self.vars.truncate(depth);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                    }
                    for (k, x) in items {
                        let mark = self.vars.len();
                        match pipe.vars.as_slice() {
                            [] => {}
                            [one] => self.vars.push((one.clone(), x.clone())),
                            [key, val, ..] => {
                                self.vars.push((key.clone(), k));
                                self.vars.push((val.clone(), x.clone()));
                            }
                        }
                        let flow = self.nodes(body, &x)?;
                        self.vars.truncate(mark);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                }
                Node::Template { name, pipe, pos } => {
                    let context = match pipe {
                        Some(p) => format!("{{{{template {name:?} {}}}}}", p.text()),
                        None => format!("{{{{template {name:?}}}}}"),
                    };
                    let Some((body, source)) = self.defined.get(name) else {
                        return self.fail(*pos, &context, format!("template {name:?} not defined"));
                    };
                    if self.depth >= MAX_TEMPLATE_DEPTH {
                        return self.fail(
                            *pos,
                            &context,
                            format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
                        );
                    }
                    let new_dot = match pipe {
                        Some(p) => self.pipeline(p, dot)?,
                        None => Value::Nil,
                    };
                    // A defined template runs with only `$`, its dot, in scope.
                    let saved_vars =
                        std::mem::replace(&mut self.vars, vec![(String::new(), new_dot.clone())]);
                    let saved_name = self.template.replace(name.clone());
                    let saved_source = std::mem::replace(&mut self.source, *source);
                    self.depth += 1;
                    let result = self.nodes(body, &new_dot);
                    self.depth -= 1;
                    self.source = saved_source;
                    self.template = saved_name;
                    self.vars = saved_vars;
                    result?;
                }
            }
            self.vars.truncate(depth);
        }
        Ok(Flow::Normal)
    }

    /// Calls `name` with the command's other operands and the previous command's value.
    fn call(
        &mut self,
        name: &str,
        cmd: &Command,
        dot: &Value,
        last: Option<Value>,
    ) -> Result<Value, TemplateError> {
        let ident = &cmd.args[0];
        let operands = &cmd.args[1..];
        let sig = builtin_signature(name)
            .or_else(|| self.funcs.signature(name))
            .unwrap_or(Signature {
                fixed: &[],
                variadic: None,
            });
        let (fixed, more) = (sig.fixed, sig.variadic);
        let given = operands.len() + usize::from(last.is_some());
        if more.is_some() && given < fixed.len() {
            return self.fail(
                ident.pos,
                &ident.text,
                format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    fixed.len(),
                    given
                ),
            );
        }
        if more.is_none() && given != fixed.len() {
            return self.fail(
                ident.pos,
                &ident.text,
                format!(
                    "wrong number of args for {name}: want {} got {given}",
                    fixed.len()
                ),
            );
        }
        let param = |i: usize| fixed.get(i).copied().or(more).unwrap_or(Param::Any);
        // `and` and `or` stop at the first operand that decides them, as in Go 1.18 on.
        if name == "and" || name == "or" {
            let mut v = Value::Nil;
            for a in operands {
                v = self.arg(a, dot)?;
                if v.truthy() == (name == "or") {
                    return Ok(v);
                }
            }
            if let Some(l) = last {
                v = l;
            }
            return Ok(v);
        }
        let mut args = Vec::with_capacity(given);
        for (i, a) in operands.iter().enumerate() {
            args.push(self.typed_arg(a, param(i), dot)?);
        }
        if let Some(l) = last {
            // A piped value is checked at the command, as Go does.
            let p = param(args.len());
            let v = self.check_type(l, p, ident)?;
            args.push(v);
        }
        let context = cmd.text();
        self.function(name, args)
            .or_else(|m| self.fail(cmd.pos(), &context, format!("error calling {name}: {m}")))
    }

    /// Runs a function on checked arguments; the error is the function's own.
    fn function(&mut self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let str_arg = |i: usize| -> String {
            match args.get(i) {
                Some(Value::Str(s)) => s.clone(),
                _ => String::new(),
            }
        };
        let first = args.first().cloned().unwrap_or(Value::Nil);
        Ok(match name {
            "not" => Value::Bool(!first.truthy()),
            "eq" => Value::Bool(go_eq(&first, &args[1..])?),
            "ne" => Value::Bool(!go_eq(&first, &args[1..])?),
            "lt" => Value::Bool(go_lt(&args[0], &args[1])?),
            "le" => Value::Bool(go_lt(&args[0], &args[1])? || go_eq(&args[0], &args[1..])?),
            "gt" => Value::Bool(!(go_lt(&args[0], &args[1])? || go_eq(&args[0], &args[1..])?)),
            "ge" => Value::Bool(!go_lt(&args[0], &args[1])?),
            "len" => Value::Int(match first.pointee().underlying() {
                Value::Str(s) => s.len() as i64,
                Value::Map(m) | Value::AnyMap(m) => m.len() as i64,
                Value::List(l) => l.len() as i64,
                Value::Nil => return Err("len of untyped nil".into()),
                _ => return Err(format!("len of type {}", first.pointee().type_name())),
            }),
            "index" => {
                let mut v = first;
                if matches!(v, Value::Nil) {
                    return Err("index of untyped nil".into());
                }
                for k in &args[1..] {
                    let base = v.underlying().clone();
                    v = match &base {
                        Value::Map(m) | Value::AnyMap(m) => {
                            let key = match k {
                                Value::Str(s) => s.clone(),
                                Value::Nil => String::new(),
                                other => {
                                    return Err(format!(
                                        "value has type {}; should be string",
                                        other.type_name()
                                    ));
                                }
                            };
                            match m.get(&key) {
                                Some(x) => x.clone(),
                                None if matches!(base, Value::Map(_)) => Value::Str(String::new()),
                                None => Value::Nil,
                            }
                        }
                        Value::List(l) => {
                            let i = index_arg(k, l.len())?;
                            l.get(i)
                                .cloned()
                                .ok_or(format!("index out of range: {i}"))?
                        }
                        Value::Str(s) => {
                            let i = index_arg(k, s.len())?;
                            Value::Int(i64::from(
                                *s.as_bytes()
                                    .get(i)
                                    .ok_or(format!("index out of range: {i}"))?,
                            ))
                        }
                        Value::Nil => return Err("index of nil pointer".into()),
                        other => {
                            let t = other.type_name();
                            return Err(format!(
                                "can't index item of type {}",
                                t.trim_start_matches('*')
                            ));
                        }
                    };
                }
                v
            }
            "slice" => {
                let idx = &args[1..];
                if idx.len() > 3 {
                    return Err(format!("too many slice indexes: {}", idx.len()));
                }
                let (len, is_str) = match first.underlying() {
                    Value::Str(s) => (s.len(), true),
                    Value::List(l) => (l.len(), false),
                    Value::Nil => return Err("slice of untyped nil".into()),
                    other => {
                        return Err(format!(
                            "can't slice item of type {}",
                            other.type_name().trim_start_matches('*')
                        ));
                    }
                };
                if is_str && idx.len() == 3 {
                    return Err("cannot 3-index slice a string".into());
                }
                let mut bounds = [0, len, len];
                for (i, x) in idx.iter().enumerate() {
                    bounds[i] = index_arg(x, len)?;
                }
                if bounds[0] > bounds[1] {
                    return Err(format!(
                        "invalid slice index: {} > {}",
                        bounds[0], bounds[1]
                    ));
                }
                if idx.len() == 3 && bounds[1] > bounds[2] {
                    return Err(format!(
                        "invalid slice index: {} > {}",
                        bounds[1], bounds[2]
                    ));
                }
                let part = match first.underlying() {
                    Value::Str(s) => Value::Str(
                        String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]]).into_owned(),
                    ),
                    Value::List(l) => Value::List(l[bounds[0]..bounds[1]].to_vec()),
                    _ => Value::Nil,
                };
                // Go's slice keeps the operand's type.
                match first {
                    Value::Named(n, _) => Value::named(n, part),
                    _ => part,
                }
            }
            "call" => {
                return Err(match first {
                    Value::Nil => "call of nil".into(),
                    other => format!("non-function of type {}", other.type_name()),
                });
            }
            "print" => Value::Str(sprint(&args)),
            "println" => Value::Str(sprintln(&args)),
            "printf" => Value::Str(printf(&str_arg(0), &args[1..])),
            "html" => Value::Str(html_escape(&escaper_text(&args))),
            "js" => Value::Str(js_escape(&escaper_text(&args))),
            "urlquery" => Value::Str(query_escape(&escaper_text(&args))),
            other => return self.funcs.call(other, args),
        })
    }
}
