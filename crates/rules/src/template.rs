//! The part of Go's `text/template` that alert labels and annotations use, with
//! Prometheus's template functions: `{{ $value }}`, `{{ $labels.node }}`, pipelines into
//! `humanize`, `humanizeDuration`, `humanizePercentage`, `printf`, `query`, `first`,
//! `value`, `label`; `if`/`else if`/`else`, `range`, `with`, variables, comparisons and
//! `and`/`or`/`not`; trim markers `{{-`/`-}}` and comments.
//!
//! Values print as Go prints them (`0.5`, `1e+06`, `+Inf`), and a missing map key is the
//! empty string, as Prometheus's `missingkey=zero` makes it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A value in a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer constant.
    Int(i64),
    /// A float, such as `$value`.
    Float(f64),
    /// A string.
    Str(String),
    /// A map, such as `$labels`, or a struct such as `.`.
    Map(BTreeMap<String, Value>),
    /// A list, such as a query's result.
    List(Vec<Value>),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// A query result's sample: `{Labels, Value}`.
    pub fn sample(labels: &BTreeMap<String, String>, value: f64) -> Self {
        Value::Map(BTreeMap::from([
            ("Labels".to_owned(), labels_value(labels)),
            ("Value".to_owned(), Value::Float(value)),
        ]))
    }
}

/// Labels as a map value.
pub fn labels_value(labels: &BTreeMap<String, String>) -> Value {
    Value::Map(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
            .collect(),
    )
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&go_float(*x)),
            Value::Str(s) => f.write_str(s),
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A float as Go's `%v` prints it (`strconv.FormatFloat(x, 'g', -1, 64)`): the shortest
/// digits that read back the same, in exponent form below 1e-4 and from 1e6 on.
pub fn go_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let (mantissa, exp) = shortest_exp(x);
    if !(-4..6).contains(&exp) {
        go_exponent(&mantissa, exp)
    } else {
        format!("{x}")
    }
}

/// Go's `strconv.FormatFloat(x, 'e' or 'E', -1, 64)`: the shortest digits in exponent
/// form, `4.2e+01`; how the API writes an alert's value and promtool a sample's.
pub fn go_shortest_e(x: f64, letter: char) -> String {
    if !x.is_finite() {
        return go_float(x);
    }
    let (mantissa, exp) = shortest_exp(x);
    go_exponent(&mantissa, exp).replacen('e', &letter.to_string(), 1)
}

/// The shortest digits of `x` as `d.ddd` and its decimal exponent.
fn shortest_exp(x: f64) -> (String, i32) {
    let e = format!("{x:e}");
    let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
    (m.to_owned(), exp.parse().unwrap_or(0))
}

/// `1.5e+06`: Go's exponent, signed, at least two digits.
fn go_exponent(mantissa: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// Go's `%.{prec}g`: `prec` significant digits, exponent form when the exponent is below
/// -4 or at least `prec`, trailing zeros removed.
pub fn go_g(x: f64, prec: usize) -> String {
    if !x.is_finite() {
        return go_float(x);
    }
    if x == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let e = format!("{:.*e}", prec - 1, x);
    let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        go_exponent(&trim(m), exp)
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{x:.decimals$}"))
    }
}

/// Why a template does not parse or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

fn err<T>(message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(message.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Pipeline {
    /// `$x :=` or `$i, $x :=` (declare) or `$x =` (assign).
    vars: Vec<String>,
    declare: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// `.` then fields, `.Labels.job`.
    Dot(Vec<String>),
    /// `$x` then fields.
    Var(String, Vec<String>),
    Str(String),
    Num(f64, bool),
    Bool(bool),
    Nil,
    Func(String),
    /// `( pipeline )` then fields.
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Pipe,
    Open,
    Close,
    Declare,
    Assign,
    Comma,
    Str(String),
    Num(f64, bool),
    Ident(String),
    /// `.a.b`; empty for `.` alone.
    Field(Vec<String>),
    Var(String, Vec<String>),
}

fn lex(src: &str) -> Result<Vec<Tok>, TemplateError> {
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let fields = |b: &[char], i: &mut usize| -> Vec<String> {
        let mut fs = Vec::new();
        while *i < b.len() && b[*i] == '.' {
            let start = *i + 1;
            let mut j = start;
            while j < b.len() && (b[j].is_alphanumeric() || b[j] == '_') {
                j += 1;
            }
            if j == start {
                break;
            }
            fs.push(b[start..j].iter().collect());
            *i = j;
        }
        fs
    };
    while i < b.len() {
        let c = b[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
                let fs = fields(&b, &mut i);
                if !fs.is_empty() {
                    out.push(Tok::Field(fs));
                }
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' if b.get(i + 1) == Some(&'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&c) = b.get(i) else {
                        return err("a string is not closed");
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = b.get(i) else {
                                return err("a string is not closed");
                            };
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        c => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            '`' => {
                let start = i + 1;
                let Some(end) = b[start..].iter().position(|&c| c == '`') else {
                    return err("a raw string is not closed");
                };
                out.push(Tok::Str(b[start..start + end].iter().collect()));
                i = start + end + 1;
            }
            '.' if b.get(i + 1).is_none_or(|c| !c.is_ascii_digit()) => {
                if b.get(i + 1).is_some_and(|c| c.is_alphabetic() || *c == '_') {
                    out.push(Tok::Field(fields(&b, &mut i)));
                } else {
                    out.push(Tok::Field(Vec::new()));
                    i += 1;
                }
            }
            '$' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j].is_alphanumeric() || b[j] == '_') {
                    j += 1;
                }
                let name: String = b[start..j].iter().collect();
                i = j;
                let fs = fields(&b, &mut i);
                out.push(Tok::Var(name, fs));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let start = i;
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == '.'
                        || b[i] == '_'
                        || ((b[i] == '-' || b[i] == '+') && matches!(b[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = b[start..i].iter().collect();
                let clean = text.replace('_', "");
                if let Ok(n) = clean.parse::<i64>() {
                    out.push(Tok::Num(n as f64, true));
                } else if let Ok(f) = clean.parse::<f64>() {
                    out.push(Tok::Num(f, false));
                } else if let Some(h) = clean.strip_prefix("0x") {
                    let n = i64::from_str_radix(h, 16)
                        .map_err(|_| TemplateError(format!("{text:?} is not a number")))?;
                    out.push(Tok::Num(n as f64, true));
                } else {
                    return err(format!("{text:?} is not a number"));
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(b[start..i].iter().collect()));
            }
            other => return err(format!("unexpected {other:?} in an action")),
        }
    }
    Ok(out)
}

/// The functions known; a call to any other is a parse error, as in Go.
const FUNCTIONS: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "query",
    "first",
    "value",
    "label",
    "strvalue",
    "title",
    "toUpper",
    "toLower",
    "match",
    "reReplaceAll",
    "args",
    "safeHtml",
    "stripPort",
    "stripDomain",
    "toTime",
    "externalURL",
    "pathPrefix",
    "sortByLabel",
    "urlquery",
    "html",
    "js",
];

/// How deep parentheses and `if`, `range` and `with` blocks may nest in a template. Parsing
/// and running a template recurse once per level, on whatever thread evaluates the rule; no
/// real template comes near this, and a template from outside cannot overflow the stack.
pub const MAX_TEMPLATE_DEPTH: usize = 100;

fn too_deep<T>() -> Result<T, TemplateError> {
    err(format!(
        "the template nests parentheses and if, range or with blocks more than {MAX_TEMPLATE_DEPTH} levels deep, the limit"
    ))
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    /// How many parentheses the parser is inside.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn pipeline(&mut self) -> Result<Pipeline, TemplateError> {
        let mut vars = Vec::new();
        let mut declare = true;
        // `$x :=`, `$i, $x :=` or `$x =`.
        let save = self.at;
        while let Some(Tok::Var(name, fs)) = self.peek().cloned() {
            if !fs.is_empty() {
                break;
            }
            self.at += 1;
            vars.push(name);
            match self.peek() {
                Some(Tok::Comma) => self.at += 1,
                Some(Tok::Declare) => {
                    self.at += 1;
                    break;
                }
                Some(Tok::Assign) => {
                    declare = false;
                    self.at += 1;
                    break;
                }
                _ => {
                    vars.clear();
                    self.at = save;
                    break;
                }
            }
        }
        let mut cmds = vec![Vec::new()];
        loop {
            match self.peek().cloned() {
                None | Some(Tok::Close) => break,
                Some(Tok::Pipe) => {
                    self.at += 1;
                    cmds.push(Vec::new());
                }
                Some(_) => {
                    let arg = self.operand()?;
                    if let Some(c) = cmds.last_mut() {
                        c.push(arg);
                    }
                }
            }
        }
        if cmds.iter().any(Vec::is_empty) {
            return err("a pipeline has an empty command");
        }
        Ok(Pipeline {
            vars,
            declare,
            cmds,
        })
    }

    fn operand(&mut self) -> Result<Arg, TemplateError> {
        let tok = self.toks[self.at].clone();
        self.at += 1;
        Ok(match tok {
            Tok::Field(fs) => Arg::Dot(fs),
            Tok::Var(name, fs) => Arg::Var(name, fs),
            Tok::Str(s) => Arg::Str(s),
            Tok::Num(n, int) => Arg::Num(n, int),
            Tok::Ident(name) => match name.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ if FUNCTIONS.contains(&name.as_str()) => Arg::Func(name),
                _ => return err(format!("function {name:?} not defined")),
            },
            Tok::Open => {
                if self.depth == MAX_TEMPLATE_DEPTH {
                    return too_deep();
                }
                self.depth += 1;
                let inner = self.pipeline()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::Close) {
                    return err("a parenthesis is not closed");
                }
                self.at += 1;
                let fields = match self.peek() {
                    Some(Tok::Field(fs)) if !fs.is_empty() => {
                        let fs = fs.clone();
                        self.at += 1;
                        fs
                    }
                    _ => Vec::new(),
                };
                Arg::Sub(Box::new(inner), fields)
            }
            other => return err(format!("unexpected {other:?}")),
        })
    }
}

fn parse_pipeline(text: &str) -> Result<Pipeline, TemplateError> {
    let mut p = Parser {
        toks: lex(text)?,
        at: 0,
        depth: 0,
    };
    let pipe = p.pipeline()?;
    if p.at != p.toks.len() {
        return err(format!("unexpected {:?}", p.toks[p.at]));
    }
    Ok(pipe)
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

/// One `{{ ... }}` or the text between.
enum Piece {
    Text(String),
    Action(String),
}

fn pieces(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        let mut inner = &rest[start + 2..];
        if inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n") {
            text = text.trim_end();
            inner = &inner[1..];
        }
        let Some(end) = inner.find("}}") else {
            return err("an action {{ is not closed with }}");
        };
        let mut action = &inner[..end];
        let mut after = &inner[end + 2..];
        if action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-") {
            action = &action[..action.len() - 1];
            after = after.trim_start();
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_owned()));
        }
        let action = action.trim();
        if !(action.starts_with("/*") && action.ends_with("*/")) {
            out.push(Piece::Action(action.to_owned()));
        }
        rest = after;
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    Ok(out)
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End,
    Else(Option<String>),
}

/// The nodes up to the end of the block `depth` levels deep, or of the text.
fn nodes(
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
    depth: usize,
) -> Result<(Vec<Node>, Stop), TemplateError> {
    if depth > MAX_TEMPLATE_DEPTH {
        return too_deep();
    }
    let mut out = Vec::new();
    while let Some(piece) = pieces.next() {
        let action = match piece {
            Piece::Text(t) => {
                out.push(Node::Text(t));
                continue;
            }
            Piece::Action(a) => a,
        };
        let (word, rest) = action
            .split_once(char::is_whitespace)
            .map_or((action.as_str(), ""), |(w, r)| (w, r.trim()));
        match word {
            "end" => return Ok((out, Stop::End)),
            "else" => {
                return Ok((out, Stop::Else((!rest.is_empty()).then(|| rest.to_owned()))));
            }
            "if" => {
                let mut branches = Vec::new();
                let mut cond = parse_pipeline(rest)?;
                let otherwise = loop {
                    let (body, end) = nodes(pieces, depth + 1)?;
                    branches.push((cond, body));
                    match end {
                        Stop::End => break Vec::new(),
                        Stop::Eof => return err("an if has no end"),
                        Stop::Else(None) => {
                            let (body, end) = nodes(pieces, depth + 1)?;
                            if !matches!(end, Stop::End) {
                                return err("an if's else has no end");
                            }
                            break body;
                        }
                        Stop::Else(Some(chain)) => {
                            let Some(c) = chain.strip_prefix("if") else {
                                return err(format!("else {chain} is not else if"));
                            };
                            cond = parse_pipeline(c.trim())?;
                        }
                    }
                };
                out.push(Node::If {
                    branches,
                    otherwise,
                });
            }
            "range" | "with" => {
                let pipe = parse_pipeline(rest)?;
                let (body, end) = nodes(pieces, depth + 1)?;
                let otherwise = match end {
                    Stop::End => Vec::new(),
                    Stop::Eof => return err(format!("a {word} has no end")),
                    Stop::Else(Some(_)) => return err(format!("a {word}'s else takes nothing")),
                    Stop::Else(None) => {
                        let (o, end) = nodes(pieces, depth + 1)?;
                        if !matches!(end, Stop::End) {
                            return err(format!("a {word}'s else has no end"));
                        }
                        o
                    }
                };
                out.push(if word == "range" {
                    Node::Range {
                        pipe,
                        body,
                        otherwise,
                    }
                } else {
                    Node::With {
                        pipe,
                        body,
                        otherwise,
                    }
                });
            }
            "define" | "template" | "block" => {
                return err(format!("{word} is not supported in alert templates"));
            }
            _ => {
                if action.is_empty() {
                    return err("an empty action {{}}");
                }
                out.push(Node::Action(parse_pipeline(&action)?));
            }
        }
    }
    Ok((out, Stop::Eof))
}

/// A query's answer: each sample's labels and value.
pub type Samples = Vec<(BTreeMap<String, String>, f64)>;

/// What a template can ask of its surroundings.
pub trait Env {
    /// Evaluates a PromQL expression at the evaluation's time.
    fn query(&self, expr: &str) -> Result<Samples, String>;
}

/// An environment without queries (`query` fails).
pub struct NoQueries;

impl Env for NoQueries {
    fn query(&self, _: &str) -> Result<Samples, String> {
        Err("queries are not available here".into())
    }
}

struct Run<'a> {
    env: &'a dyn Env,
    vars: Vec<(String, Value)>,
    out: String,
}

fn field(v: &Value, fields: &[String]) -> Result<Value, TemplateError> {
    let mut v = v.clone();
    for f in fields {
        v = match v {
            Value::Map(m) => m.get(f).cloned().unwrap_or(Value::Str(String::new())),
            Value::Nil => Value::Nil,
            other => return err(format!("cannot take .{f} of {other}")),
        };
    }
    Ok(v)
}

impl Run<'_> {
    fn var(&self, name: &str) -> Result<Value, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| TemplateError(format!("undefined variable ${name}")))
    }

    fn set(&mut self, name: &str, v: Value, declare: bool) -> Result<(), TemplateError> {
        if declare {
            self.vars.push((name.to_owned(), v));
            return Ok(());
        }
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => err(format!("undefined variable ${name}")),
        }
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        Ok(match a {
            Arg::Dot(fs) => field(dot, fs)?,
            Arg::Var(name, fs) => {
                let v = if name.is_empty() {
                    self.var("")?
                } else {
                    self.var(name)?
                };
                field(&v, fs)?
            }
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Num(n, true) => Value::Int(*n as i64),
            Arg::Num(n, false) => Value::Float(*n),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
            Arg::Func(name) => self.call(name, Vec::new())?,
            Arg::Sub(p, fs) => {
                let v = self.pipeline(p, dot)?;
                field(&v, fs)?
            }
        })
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for cmd in &p.cmds {
            let value = match &cmd[0] {
                Arg::Func(name) => {
                    let mut args = Vec::with_capacity(cmd.len());
                    for a in &cmd[1..] {
                        args.push(self.arg(a, dot)?);
                    }
                    if let Some(prev) = last.take() {
                        args.push(prev);
                    }
                    self.call(name, args)?
                }
                first => {
                    if cmd.len() > 1 || last.is_some() {
                        return err("only a function takes arguments");
                    }
                    self.arg(first, dot)?
                }
            };
            last = Some(value);
        }
        let v = last.unwrap_or(Value::Nil);
        if !p.vars.is_empty() {
            let name = p.vars.last().cloned().unwrap_or_default();
            self.set(&name, v.clone(), p.declare)?;
        }
        Ok(v)
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<(), TemplateError> {
        for n in nodes {
            let depth = self.vars.len();
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.vars.is_empty() {
                        let _ = write!(self.out, "{v}");
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
                            self.nodes(body, dot)?;
                            done = true;
                            break;
                        }
                    }
                    if !done {
                        self.nodes(otherwise, dot)?;
                    }
                }
                Node::With {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let v = self.pipeline(pipe, dot)?;
                    if v.truthy() {
                        self.nodes(body, &v)?;
                    } else {
                        self.nodes(otherwise, dot)?;
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
                    let items: Vec<(Value, Value)> = match v {
                        Value::List(l) => l
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| (Value::Int(i as i64), x))
                            .collect(),
                        Value::Map(m) => m.into_iter().map(|(k, x)| (Value::Str(k), x)).collect(),
                        Value::Nil => Vec::new(),
                        Value::Int(n) => (0..n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
                        other => return err(format!("cannot range over {other}")),
                    };
                    if items.is_empty() {
                        self.nodes(otherwise, dot)?;
                    }
                    for (k, x) in items {
                        let depth = self.vars.len();
                        match pipe.vars.as_slice() {
                            [] => {}
                            [one] => self.vars.push((one.clone(), x.clone())),
                            [key, val, ..] => {
                                self.vars.push((key.clone(), k));
                                self.vars.push((val.clone(), x.clone()));
                            }
                        }
                        self.nodes(body, &x)?;
                        self.vars.truncate(depth);
                    }
                }
            }
            self.vars.truncate(depth);
        }
        Ok(())
    }

    fn call(&mut self, name: &str, args: Vec<Value>) -> Result<Value, TemplateError> {
        let num = |v: &Value| -> Result<f64, TemplateError> {
            match v {
                Value::Int(i) => Ok(*i as f64),
                Value::Float(f) => Ok(*f),
                Value::Str(s) => promql_float(s)
                    .ok_or_else(|| TemplateError(format!("{name}: {s:?} is not a number"))),
                other => err(format!("{name}: {other} is not a number")),
            }
        };
        let one = |args: &[Value]| -> Result<Value, TemplateError> {
            match args {
                [a] => Ok(a.clone()),
                _ => err(format!("{name} takes one argument, not {}", args.len())),
            }
        };
        let text = |v: &Value| v.to_string();
        Ok(match name {
            "and" => args
                .iter()
                .find(|a| !a.truthy())
                .or(args.last())
                .cloned()
                .unwrap_or(Value::Nil),
            "or" => args
                .iter()
                .find(|a| a.truthy())
                .or(args.last())
                .cloned()
                .unwrap_or(Value::Nil),
            "not" => Value::Bool(!one(&args)?.truthy()),
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
                let [a, rest @ ..] = args.as_slice() else {
                    return err(format!("{name} needs two arguments"));
                };
                let Some(b) = rest.first() else {
                    return err(format!("{name} needs two arguments"));
                };
                let cmp = |x: &Value, y: &Value| -> Result<std::cmp::Ordering, TemplateError> {
                    match (x.number(), y.number(), x, y) {
                        (Some(p), Some(q), _, _) => p.partial_cmp(&q).ok_or_else(|| {
                            TemplateError(format!("{name}: NaN cannot be compared"))
                        }),
                        (_, _, Value::Str(p), Value::Str(q)) => Ok(p.cmp(q)),
                        (_, _, Value::Bool(p), Value::Bool(q)) if matches!(name, "eq" | "ne") => {
                            Ok(p.cmp(q))
                        }
                        _ => err(format!("{name}: cannot compare {x} with {y}")),
                    }
                };
                use std::cmp::Ordering::*;
                Value::Bool(match name {
                    "eq" => {
                        let mut any = false;
                        for y in rest {
                            any |= cmp(a, y)? == Equal;
                        }
                        any
                    }
                    "ne" => cmp(a, b)? != Equal,
                    "lt" => cmp(a, b)? == Less,
                    "le" => cmp(a, b)? != Greater,
                    "gt" => cmp(a, b)? == Greater,
                    _ => cmp(a, b)? != Less,
                })
            }
            "len" => Value::Int(match one(&args)? {
                Value::Str(s) => s.len() as i64,
                Value::Map(m) => m.len() as i64,
                Value::List(l) => l.len() as i64,
                other => return err(format!("len of {other}")),
            }),
            "index" => {
                let mut it = args.into_iter();
                let mut v = it.next().unwrap_or(Value::Nil);
                for k in it {
                    v = match (&v, &k) {
                        (Value::Map(m), key) => m
                            .get(&text(key))
                            .cloned()
                            .unwrap_or(Value::Str(String::new())),
                        (Value::List(l), i) => {
                            let i = num(i)? as usize;
                            l.get(i)
                                .cloned()
                                .ok_or_else(|| TemplateError(format!("index {i} out of range")))?
                        }
                        _ => return err(format!("cannot index {v}")),
                    };
                }
                v
            }
            "print" => Value::Str(args.iter().map(text).collect::<Vec<_>>().join("")),
            "println" => Value::Str(format!(
                "{}\n",
                args.iter().map(text).collect::<Vec<_>>().join(" ")
            )),
            "printf" => {
                let Some((format, rest)) = args.split_first() else {
                    return err("printf needs a format");
                };
                Value::Str(printf(&text(format), rest)?)
            }
            "humanize" => Value::Str(humanize(num(&one(&args)?)?)),
            "humanize1024" => Value::Str(humanize1024(num(&one(&args)?)?)),
            "humanizeDuration" => Value::Str(humanize_duration(num(&one(&args)?)?)),
            "humanizePercentage" => Value::Str(format!("{}%", go_g(num(&one(&args)?)? * 100.0, 4))),
            "humanizeTimestamp" => Value::Str(humanize_timestamp(num(&one(&args)?)?)),
            "toTime" => Value::Str(humanize_timestamp(num(&one(&args)?)?)),
            "query" => {
                let expr = text(&one(&args)?);
                let samples = self
                    .env
                    .query(&expr)
                    .map_err(|e| TemplateError(format!("query {expr:?}: {e}")))?;
                Value::List(samples.iter().map(|(l, v)| Value::sample(l, *v)).collect())
            }
            "first" => match one(&args)? {
                Value::List(l) => l
                    .into_iter()
                    .next()
                    .ok_or_else(|| TemplateError("first of an empty query result".into()))?,
                other => return err(format!("first of {other}")),
            },
            "value" => field(&one(&args)?, &["Value".to_owned()])?,
            "strvalue" => Value::Str(text(&field(
                &one(&args)?,
                &["Labels".into(), "__value__".into()],
            )?)),
            "label" => {
                let [l, s] = args.as_slice() else {
                    return err("label takes a label name and a sample");
                };
                field(s, &["Labels".to_owned(), text(l)])?
            }
            "title" => Value::Str(title(&text(&one(&args)?))),
            "toUpper" => Value::Str(text(&one(&args)?).to_uppercase()),
            "toLower" => Value::Str(text(&one(&args)?).to_lowercase()),
            "safeHtml" | "html" | "js" | "urlquery" => one(&args)?,
            "match" => {
                let [pattern, text_arg] = args.as_slice() else {
                    return err("match takes a pattern and a text");
                };
                let re = regex::Regex::new(&text(pattern))
                    .map_err(|e| TemplateError(format!("match: {e}")))?;
                Value::Bool(re.is_match(&text(text_arg)))
            }
            "reReplaceAll" => {
                let [pattern, replacement, text_arg] = args.as_slice() else {
                    return err("reReplaceAll takes a pattern, a replacement and a text");
                };
                let re = regex::Regex::new(&text(pattern))
                    .map_err(|e| TemplateError(format!("reReplaceAll: {e}")))?;
                Value::Str(
                    re.replace_all(&text(text_arg), text(replacement).as_str())
                        .into_owned(),
                )
            }
            "args" => Value::Map(
                args.into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v))
                    .collect(),
            ),
            "stripPort" => {
                let s = text(&one(&args)?);
                Value::Str(match s.rsplit_once(':') {
                    Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    _ => s,
                })
            }
            "stripDomain" => {
                let s = text(&one(&args)?);
                let (host, port) = match s.rsplit_once(':') {
                    Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                        (h.to_owned(), format!(":{p}"))
                    }
                    _ => (s.clone(), String::new()),
                };
                let short = host.split('.').next().unwrap_or(&host).to_owned();
                Value::Str(format!("{short}{port}"))
            }
            "externalURL" | "pathPrefix" => {
                self.var("externalURL").unwrap_or(Value::Str(String::new()))
            }
            "sortByLabel" => {
                let [l, list] = args.as_slice() else {
                    return err("sortByLabel takes a label name and a query result");
                };
                let Value::List(items) = list else {
                    return err("sortByLabel sorts a query result");
                };
                let mut items = items.clone();
                let key = text(l);
                items.sort_by_key(|s| {
                    text(&field(s, &["Labels".to_owned(), key.clone()]).unwrap_or(Value::Nil))
                });
                Value::List(items)
            }
            other => return err(format!("function {other:?} not defined")),
        })
    }
}

/// A number as PromQL writes one, for functions given strings.
fn promql_float(s: &str) -> Option<f64> {
    promql::promqltest::parse_float(s.trim())
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '\'';
    }
    out
}

/// SI prefixes up from 1 and down from 1.
const SI_UP: [&str; 8] = ["k", "M", "G", "T", "P", "E", "Z", "Y"];
const SI_DOWN: [&str; 8] = ["m", "u", "n", "p", "f", "a", "z", "y"];

/// `v` with four significant digits and the prefix that brings it within `[1, base)`:
/// divided by `base` per prefix of `up` while at least `base`, or multiplied per prefix
/// of `down` while under 1.
fn prefixed(v: f64, base: f64, up: &[&str], down: &[&str]) -> String {
    let mut x = v;
    let mut prefix = "";
    if x.abs() >= 1.0 {
        for p in up {
            if x.abs() < base {
                break;
            }
            prefix = p;
            x /= base;
        }
    } else {
        for p in down {
            if x.abs() >= 1.0 {
                break;
            }
            prefix = p;
            x *= base;
        }
    }
    format!("{}{prefix}", go_g(x, 4))
}

/// Prometheus's `humanize`: SI prefixes, four significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    prefixed(v, 1000.0, &SI_UP, &SI_DOWN)
}

/// Prometheus's `humanize1024`: binary prefixes, four significant digits.
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    prefixed(
        v,
        1024.0,
        &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"],
        &[],
    )
}

/// Prometheus's `humanizeDuration` of seconds: `1d 2h 3m 4s`, `1.5s`, `250ms`.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    if v == 0.0 {
        return "0s".into();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let a = v.abs();
        let whole = a as i64;
        let (s, m, h, d) = (
            whole % 60,
            (whole / 60) % 60,
            (whole / 3600) % 24,
            whole / 86400,
        );
        return if d != 0 {
            format!("{sign}{d}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", go_g(a, 4))
        };
    }
    format!("{}s", prefixed(v, 1000.0, &[], &SI_DOWN))
}

/// A Unix time in seconds as Go's `time.Time` prints it in UTC.
pub fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    // As Prometheus: to nanoseconds, then to its millisecond time.
    let ms = ((v * 1e9) as i64).div_euclid(1_000_000);
    let secs = ms.div_euclid(1000);
    let nanos = ms.rem_euclid(1000) * 1_000_000;
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

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x %%`, with
/// flags, width and precision.
pub fn printf(format: &str, args: &[Value]) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "+-# 0".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = next.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        let n = arg.number().or_else(|| match arg {
            Value::Str(s) => promql_float(s),
            _ => None,
        });
        let body = match (verb, n) {
            ('d', Some(x)) => format!("{}", x as i64),
            ('f' | 'F', Some(x)) => format!("{:.*}", precision.unwrap_or(6), x),
            ('e', Some(x)) => {
                let e = format!("{:.*e}", precision.unwrap_or(6), x);
                let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
                go_exponent(m, exp.parse().unwrap_or(0))
            }
            ('g', Some(x)) => match precision {
                Some(p) => go_g(x, p),
                None => go_float(x),
            },
            ('x', Some(x)) => format!("{:x}", x as i64),
            ('q', _) => format!("{:?}", arg.to_string()),
            ('s' | 'v', _) => {
                let s = arg.to_string();
                match precision {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            (_, _) => format!("%!{verb}({arg})"),
        };
        let body = if flags.contains('+') && n.is_some_and(|x| x >= 0.0) && "dfeg".contains(verb) {
            format!("+{body}")
        } else {
            body
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < w {
            let pad = w - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.extend(std::iter::repeat_n(' ', pad));
            } else if flags.contains('0') && n.is_some() {
                let (sign, digits) = body.split_at(usize::from(body.starts_with(['-', '+'])));
                out.push_str(sign);
                out.extend(std::iter::repeat_n('0', pad));
                out.push_str(digits);
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    if next.next().is_some() {
        out.push_str("%!(EXTRA)");
    }
    Ok(out)
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut it = pieces(text)?.into_iter().peekable();
        let (nodes, end) = nodes(&mut it, 0)?;
        match end {
            Stop::Eof => Ok(Self { nodes }),
            Stop::End => err("an end without an if, range or with"),
            Stop::Else(_) => err("an else without an if, range or with"),
        }
    }

    /// Runs the template with `dot` as `.` and `vars` defined (`$labels`, `$value`...).
    pub fn execute(
        &self,
        dot: &Value,
        vars: &[(&str, Value)],
        env: &dyn Env,
    ) -> Result<String, TemplateError> {
        let mut run = Run {
            env,
            vars: std::iter::once((String::new(), dot.clone()))
                .chain(vars.iter().map(|(n, v)| ((*n).to_owned(), v.clone())))
                .collect(),
            out: String::new(),
        };
        run.nodes(&self.nodes, dot)?;
        Ok(run.out)
    }
}

/// What an alert's templates see, as Prometheus gives it.
pub struct AlertData<'a> {
    /// The alert's labels (`$labels`).
    pub labels: &'a BTreeMap<String, String>,
    /// The server's external labels (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// The server's external URL (`$externalURL`).
    pub external_url: &'a str,
    /// The alert's value (`$value`).
    pub value: f64,
}

/// Expands one of an alert's label or annotation templates: `.Labels`, `.Value`,
/// `$labels`, `$value`, `$externalLabels`, `$externalURL`. A template that fails gives
/// Prometheus's error text in its place, so that the alert still goes out.
pub fn expand(text: &str, data: &AlertData<'_>, env: &dyn Env) -> String {
    let labels = labels_value(data.labels);
    let external = labels_value(data.external_labels);
    let dot = Value::Map(BTreeMap::from([
        ("Labels".to_owned(), labels.clone()),
        ("ExternalLabels".to_owned(), external.clone()),
        (
            "ExternalURL".to_owned(),
            Value::Str(data.external_url.to_owned()),
        ),
        ("Value".to_owned(), Value::Float(data.value)),
    ]));
    let vars = [
        ("labels", labels),
        ("externalLabels", external),
        ("externalURL", Value::Str(data.external_url.to_owned())),
        ("value", Value::Float(data.value)),
    ];
    match Template::parse(text).and_then(|t| t.execute(&dot, &vars, env)) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, value: f64) -> String {
        let labels = BTreeMap::from([
            ("node".to_owned(), "node-03".to_owned()),
            ("instance".to_owned(), "10.0.0.3:9100".to_owned()),
        ]);
        let ext = BTreeMap::from([("cluster".to_owned(), "eu".to_owned())]);
        let data = AlertData {
            labels: &labels,
            external_labels: &ext,
            external_url: "http://sky:9797",
            value,
        };
        Template::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        expand(text, &data, &Fixed)
    }

    struct Fixed;
    impl Env for Fixed {
        fn query(&self, expr: &str) -> Result<Samples, String> {
            match expr {
                "up" => Ok(vec![
                    (BTreeMap::from([("job".to_owned(), "a".to_owned())]), 1.0),
                    (BTreeMap::from([("job".to_owned(), "b".to_owned())]), 0.0),
                ]),
                _ => Ok(Vec::new()),
            }
        }
    }

    // Issue 21: no template text can overflow the stack of the thread that runs it.
    #[test]
    fn nesting_deeper_than_the_limit_is_an_error_and_within_it_runs() {
        let n = MAX_TEMPLATE_DEPTH;
        let parens = format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        assert_eq!(run(&parens, 0.0), "1");
        let ifs = format!("{}x{}", "{{ if true }}".repeat(n), "{{ end }}".repeat(n));
        assert_eq!(run(&ifs, 0.0), "x");
        for deep in [
            format!("{{{{ {}1{} }}}}", "(".repeat(100_000), ")".repeat(100_000)),
            format!(
                "{}{}",
                "{{ if true }}".repeat(100_000),
                "{{ end }}".repeat(100_000)
            ),
            format!(
                "{}{}",
                "{{ with 1 }}".repeat(n + 1),
                "{{ end }}".repeat(n + 1)
            ),
        ] {
            let e = Template::parse(&deep).unwrap_err().to_string();
            assert!(e.contains("more than 100 levels deep, the limit"), "{e}");
        }
    }

    #[test]
    fn values_print_as_go_prints_them() {
        for (v, want) in [
            (0.5, "0.5"),
            (100.0, "100"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(run("{{ $value }}", v), want, "{v}");
        }
    }

    #[test]
    fn the_functions_people_use_give_prometheus_text() {
        assert_eq!(run("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(run("{{ humanize $value }}", 0.00123), "1.23m");
        assert_eq!(run("{{ humanize 0 }}", 0.0), "0");
        assert_eq!(run("{{ $value | humanize1024 }}", 134217728.0), "128Mi");
        assert_eq!(
            run("{{ $value | humanizeDuration }}", 93784.0),
            "1d 2h 3m 4s"
        );
        assert_eq!(run("{{ $value | humanizeDuration }}", 1.5), "1.5s");
        assert_eq!(run("{{ $value | humanizeDuration }}", 0.25), "250ms");
        assert_eq!(run("{{ $value | humanizePercentage }}", 0.2345), "23.45%");
        assert_eq!(
            run("{{ humanizeTimestamp 1435065584.128 }}", 0.0),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(run(r#"{{ printf "%.2f" $value }}"#, 1.23456), "1.23");
        assert_eq!(
            run(r#"{{ printf "%s is at %d%%" $labels.node 42 }}"#, 0.0),
            "node-03 is at 42%"
        );
        assert_eq!(
            run(r#"{{ printf "%5.1f|%-4d|" $value 7 }}"#, 2.25),
            "  2.2|7   |"
        );
    }

    #[test]
    fn labels_variables_and_missing_keys() {
        assert_eq!(
            run("{{ $labels.node }} on {{ .Labels.instance }}", 0.0),
            "node-03 on 10.0.0.3:9100"
        );
        assert_eq!(run("[{{ $labels.nothing }}]", 0.0), "[]");
        assert_eq!(
            run("{{ $externalLabels.cluster }} {{ $externalURL }}", 0.0),
            "eu http://sky:9797"
        );
        assert_eq!(run("{{ $labels.instance | stripPort }}", 0.0), "10.0.0.3");
        assert_eq!(run("{{ $x := 5 }}{{ $x }}", 0.0), "5");
    }

    #[test]
    fn conditionals_ranges_and_queries() {
        let t =
            "{{ if gt $value 0.9 }}critical{{ else if gt $value 0.5 }}warning{{ else }}ok{{ end }}";
        assert_eq!(run(t, 0.95), "critical");
        assert_eq!(run(t, 0.6), "warning");
        assert_eq!(run(t, 0.1), "ok");
        assert_eq!(
            run(
                "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
                0.0
            ),
            "instance=10.0.0.3:9100;node=node-03;"
        );
        assert_eq!(
            run(
                r#"{{ with query "up" }}{{ . | first | value }}{{ end }}"#,
                0.0
            ),
            "1"
        );
        assert_eq!(
            run(
                r#"{{ range query "up" }}{{ .Labels.job }}:{{ .Value }} {{ end }}"#,
                0.0
            ),
            "a:1 b:0 "
        );
        assert_eq!(
            run(
                r#"{{ with query "none" }}yes{{ else }}no data{{ end }}"#,
                0.0
            ),
            "no data"
        );
        assert_eq!(
            run(
                "x {{- if and (eq $labels.node \"node-03\") (not false) -}} yes {{- end }}",
                0.0
            ),
            "xyes"
        );
        assert_eq!(run("a {{/* a comment */}}b", 0.0), "a b");
        assert_eq!(
            run(r#"{{ reReplaceAll "node-0*" "n" $labels.node }}"#, 0.0),
            "n3"
        );
        assert_eq!(
            run(
                r#"{{ if match `^node-\d+$` $labels.node }}a node{{ end }}"#,
                0.0
            ),
            "a node"
        );
    }

    #[test]
    fn broken_templates_fail_to_parse_and_say_why() {
        for (t, want) in [
            ("{{ $value ", "not closed"),
            ("{{ if $value }}x", "no end"),
            ("{{ end }}", "end without"),
            ("{{ nosuch $value }}", "function \"nosuch\" not defined"),
            ("{{ \"abc }}", "string is not closed"),
        ] {
            let e = Template::parse(t).unwrap_err();
            assert!(e.0.contains(want), "{t}: {e}");
        }
        // A template that fails at run time leaves Prometheus's error text in its place.
        assert!(
            run("{{ $undefined }}", 0.0)
                .starts_with("<error expanding template: undefined variable $undefined")
        );
    }
}
