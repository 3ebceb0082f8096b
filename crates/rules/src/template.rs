//! The part of Go's `text/template` that alert labels and annotations use, with
//! Prometheus's template functions, so that an alert rule renders in Skywatch exactly as
//! Prometheus 2.42 (built with Go 1.19) renders it.
//!
//! - Actions: `{{ pipeline }}`, `if`/`else if`/`else`, `range` (with `break` and
//!   `continue`), `with`, `define`/`template`/`block`, variables (`$x := ...`,
//!   `$x = ...`), parenthesised pipelines, trim markers `{{-`/`-}}` and comments.
//! - Go's builtins: `and`, `or` (both short-circuit), `not`, `len`, `index`, `slice`,
//!   `print`, `printf`, `println`, `html`, `js`, `urlquery`, `call`, `eq`..`ge`, with
//!   Go's typing: `gt $value 1` compares a float with an int and fails, as in Go.
//! - Prometheus's functions: `query`, `first`, `label`, `value`, `strvalue`, `args`,
//!   `reReplaceAll`, `safeHtml`, `match`, `title`, `toUpper`, `toLower`, `graphLink`,
//!   `tableLink`, `sortByLabel`, `stripPort`, `stripDomain`, `humanize`, `humanize1024`,
//!   `humanizeDuration`, `humanizePercentage`, `humanizeTimestamp`, `toTime`,
//!   `pathPrefix`, `externalURL`, `parseDuration`. (`tmpl` exists only in Prometheus's
//!   console templates, not in alert templates, so it is not defined here either.)
//!
//! Values print as Go's `fmt` prints them (`0.5`, `1e+06`, `+Inf`, `map[a:b]`,
//! `%!s(float64=1.5)`), values carry Go's types (`float64`, `int`, `string`,
//! `map[string]string`, `*template.sample`...) so that `printf "%T"` and type errors
//! match, and a missing map key is the zero value, as Prometheus's `missingkey=zero`
//! makes it. A template that fails to run leaves Prometheus's error text, with Go's
//! line, column and node, in place of the expansion.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A value in a template, with the Go type it stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's `nil`.
    Nil,
    /// A `bool`.
    Bool(bool),
    /// An `int`, such as an integer constant.
    Int(i64),
    /// A `float64`, such as `$value`.
    Float(f64),
    /// A `string`.
    Str(String),
    /// A `map[string]string`, such as `$labels`.
    Map(BTreeMap<String, Value>),
    /// A `map[string]interface {}`, what `args` returns: a missing key is `nil`.
    AnyMap(BTreeMap<String, Value>),
    /// A query's result (`template.queryResult`, a slice of samples).
    List(Vec<Value>),
    /// A query's sample (`*template.sample`): `.Labels` and `.Value`.
    Sample {
        /// The sample's labels, with `__name__` where the query kept it.
        labels: BTreeMap<String, String>,
        /// The sample's value.
        value: f64,
    },
    /// A struct, such as `.` in an alert template: its fields in order.
    Struct(Vec<(String, Value)>),
    /// A `*time.Time`, what `toTime` returns: nanoseconds since 1970 in UTC.
    Time(i64),
}

impl Value {
    /// Go's truth: the zero value of its type, or an empty container, is false.
    fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) | Value::AnyMap(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Sample { .. } | Value::Struct(_) | Value::Time(_) => true,
        }
    }

    /// A query result's sample.
    pub fn sample(labels: &BTreeMap<String, String>, value: f64) -> Self {
        Value::Sample {
            labels: labels.clone(),
            value,
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
            Value::List(_) => "template.queryResult".into(),
            Value::Sample { .. } => "*template.sample".into(),
            Value::Struct(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(n, v)| format!("{n} {}", v.type_name()))
                    .collect();
                format!("struct {{ {} }}", inner.join("; "))
            }
            Value::Time(_) => "*time.Time".into(),
        }
    }

    /// Whether Go's `fmt` sees a string (`print` puts no space next to one).
    fn is_string(&self) -> bool {
        matches!(self, Value::Str(_))
    }
}

/// The struct a sample points to, as text/template prints it after dereferencing.
fn sample_struct(labels: &BTreeMap<String, String>, value: f64) -> Value {
    Value::Struct(vec![
        ("Labels".to_owned(), labels_value(labels)),
        ("Value".to_owned(), Value::Float(value)),
    ])
}

/// Labels as a `map[string]string` value.
pub fn labels_value(labels: &BTreeMap<String, String>) -> Value {
    Value::Map(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
            .collect(),
    )
}

/// How an action prints its value: Go's `fmt.Fprint` after text/template dereferences a
/// pointer, with `<no value>` for a missing one.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Nil => f.write_str("<no value>"),
            Value::Sample { labels, value } => {
                f.write_str(&sprint(&[sample_struct(labels, *value)]))
            }
            other => f.write_str(&sprint(std::slice::from_ref(other))),
        }
    }
}

/// A float as Go's `%v` prints it (`strconv.FormatFloat(x, 'g', -1, 64)`): the shortest
/// digits that read back the same, in exponent form below 1e-4 and from 1e6 on.
pub fn go_float(x: f64) -> String {
    format_float(x, 'g', None)
}

/// Go's `strconv.FormatFloat(x, 'e' or 'E', -1, 64)`: the shortest digits in exponent
/// form, `4.2e+01`; how the API writes an alert's value and promtool a sample's.
pub fn go_shortest_e(x: f64, letter: char) -> String {
    if !x.is_finite() {
        return go_float(x);
    }
    format_float(x, letter, None)
}

/// Go's `%.{prec}g`: `prec` significant digits, exponent form when the exponent is below
/// -4 or at least `prec`, trailing zeros removed.
pub fn go_g(x: f64, prec: usize) -> String {
    format_float(x, 'g', Some(prec))
}

/// The decimal digits of `|x|` without trailing zeros, and where the point goes:
/// `|x| = 0.d₁d₂… × 10^dp`. Zero has no digits.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

/// How many digits [`digits`] keeps.
#[derive(Clone, Copy)]
enum Round {
    /// The fewest that read back as the same float.
    Shortest,
    /// This many significant digits.
    Significant(usize),
    /// This many digits after the point.
    Fixed(usize),
}

fn digits(x: f64, round: Round) -> Digits {
    let a = x.abs();
    if a == 0.0 {
        return Digits {
            d: Vec::new(),
            dp: 0,
        };
    }
    // Rust's formatting is exact and rounds half to even, as Go's strconv does.
    let (mut d, mut dp): (Vec<u8>, i32) = match round {
        Round::Shortest | Round::Significant(_) => {
            let e = match round {
                Round::Significant(n) => format!("{:.*e}", n.max(1) - 1, a),
                _ => format!("{a:e}"),
            };
            let (m, exp) = e.split_once('e').unwrap_or((&e, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            (m.bytes().filter(u8::is_ascii_digit).collect(), exp + 1)
        }
        Round::Fixed(n) => {
            let s = format!("{a:.n$}");
            let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
            let mut d: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
            let mut dp = int.len() as i32;
            while d.first() == Some(&b'0') {
                d.remove(0);
                dp -= 1;
            }
            if d.is_empty() {
                dp = 0;
            }
            (d, dp)
        }
    };
    while d.last() == Some(&b'0') {
        d.pop();
    }
    if d.is_empty() {
        dp = 0;
    }
    Digits { d, dp }
}

/// `d.ddde±XX`, Go's `%e` body.
fn fmt_e(out: &mut String, ds: &Digits, prec: usize, letter: char) {
    out.push(ds.d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(ds.d.get(i).map_or('0', |&c| c as char));
        }
    }
    out.push(letter);
    let exp = if ds.d.is_empty() { 0 } else { ds.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
}

/// `ddd.ddd`, Go's `%f` body.
fn fmt_f(out: &mut String, ds: &Digits, prec: usize) {
    if ds.dp > 0 {
        let m = (ds.dp as usize).min(ds.d.len());
        out.extend(ds.d[..m].iter().map(|&c| c as char));
        out.extend(std::iter::repeat_n('0', ds.dp as usize - m));
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i32 {
            let j = ds.dp + i - 1;
            let c = usize::try_from(j)
                .ok()
                .and_then(|j| ds.d.get(j))
                .map_or('0', |&c| c as char);
            out.push(c);
        }
    }
}

/// Go's `strconv.FormatFloat(x, verb, prec, 64)` for the verbs `e E f g G x X b`,
/// `None` meaning the shortest precision (`-1`).
pub fn format_float(x: f64, verb: char, prec: Option<usize>) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    match verb {
        'b' => {
            let (mant, exp) = float_bits(x);
            let _ = write!(
                out,
                "{mant}p{}{}",
                if exp - 52 >= 0 { "+" } else { "" },
                exp - 52
            );
        }
        'x' | 'X' => fmt_x(&mut out, x, prec, verb),
        'e' | 'E' => {
            let ds = digits(
                x,
                prec.map_or(Round::Shortest, |p| Round::Significant(p + 1)),
            );
            let p = prec.unwrap_or(ds.d.len().saturating_sub(1));
            fmt_e(&mut out, &ds, p, verb);
        }
        'f' | 'F' => {
            let ds = digits(x, prec.map_or(Round::Shortest, Round::Fixed));
            let p = prec.unwrap_or((ds.d.len() as i32 - ds.dp).max(0) as usize);
            fmt_f(&mut out, &ds, p);
        }
        _ => {
            let upper = verb == 'G';
            let ds = digits(
                x,
                prec.map_or(Round::Shortest, |p| Round::Significant(p.max(1))),
            );
            let nd = ds.d.len() as i32;
            let mut p = prec.map_or(nd, |p| p.max(1) as i32);
            let mut eprec = p;
            if eprec > nd && nd >= ds.dp {
                eprec = nd;
            }
            if prec.is_none() {
                eprec = 6;
            }
            let exp = ds.dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(
                    &mut out,
                    &ds,
                    (p - 1).max(0) as usize,
                    if upper { 'E' } else { 'e' },
                );
            } else {
                if p > ds.dp {
                    p = nd;
                }
                fmt_f(&mut out, &ds, (p - ds.dp).max(0) as usize);
            }
        }
    }
    out
}

/// A finite float's mantissa with its implicit bit, and its binary exponent:
/// `|x| = mant × 2^(exp - 52)`.
fn float_bits(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i32;
    let mut mant = bits & ((1 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1 << 52;
    }
    (mant, exp - 1023)
}

/// Go's hexadecimal float, `0x1.8p+00`: a leading 1, `prec` hex digits (all that are
/// needed when `None`) and a binary exponent of at least two digits.
fn fmt_x(out: &mut String, x: f64, prec: Option<usize>, verb: char) {
    let (mut mant, mut exp) = float_bits(x);
    if mant == 0 {
        exp = 0;
    }
    // The leading 1 goes to bit 60, leaving 15 hex digits below it.
    mant <<= 8;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec.filter(|&p| p < 15) {
        let shift = p as u32 * 4;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        // Round half to even.
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let upper = verb == 'X';
    let hex = |d: u64| {
        let c = char::from_digit(d as u32, 16).unwrap_or('0');
        if upper { c.to_ascii_uppercase() } else { c }
    };
    out.push('0');
    out.push(if upper { 'X' } else { 'x' });
    out.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    match prec {
        None if mant != 0 => {
            out.push('.');
            while mant != 0 {
                out.push(hex((mant >> 60) & 15));
                mant <<= 4;
            }
        }
        Some(p) if p > 0 => {
            out.push('.');
            for _ in 0..p {
                out.push(hex((mant >> 60) & 15));
                mant <<= 4;
            }
        }
        _ => {}
    }
    out.push(if upper { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
}

/// The flags, width and precision of one `printf` verb.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    /// `%+v`: field names in structs.
    plus_v: bool,
    /// `%#v`: Go syntax.
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt` printer for the value kinds templates have.
#[derive(Default)]
struct Printer {
    buf: String,
    f: Flags,
}

impl Printer {
    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    /// Writes `s` padded to the width with spaces, or zeros under the `0` flag.
    fn pad(&mut self, s: &str) {
        let n = self.f.wid.unwrap_or(0).saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.write_padding(n);
        } else {
            self.write_padding(n);
            self.buf.push_str(s);
        }
    }

    /// `%!verb(type=value)`.
    fn bad_verb(&mut self, v: &Value, verb: char) {
        let _ = write!(self.buf, "%!{verb}(");
        if matches!(v, Value::Nil) {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(&v.type_name());
            self.buf.push('=');
            self.print_arg(v, 'v');
        }
        self.buf.push(')');
    }

    /// Go's `printArg`: one operand at the top level.
    fn print_arg(&mut self, v: &Value, verb: char) {
        match (v, verb) {
            (Value::Nil, 'T' | 'v') => self.pad("<nil>"),
            (Value::Nil, _) => self.bad_verb(v, verb),
            (_, 'T') => {
                let t = v.type_name();
                self.fmt_s(&t);
            }
            (Value::Time(ns), 'v' | 's' | 'x' | 'X' | 'q') if !self.f.sharp_v => {
                let s = time_string(*ns);
                self.fmt_string(&s, verb);
            }
            _ => self.print_value(v, verb, 0),
        }
    }

    /// Go's `printValue`: a value `depth` levels inside the operand.
    fn print_value(&mut self, v: &Value, verb: char, depth: usize) {
        match v {
            Value::Nil => {
                if verb == 'v' || depth > 0 {
                    self.buf.push_str("<nil>");
                } else {
                    self.bad_verb(v, verb);
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(v, verb),
            },
            Value::Int(i) => self.fmt_int(*i, verb, v),
            Value::Float(x) => self.fmt_float(*x, verb, v),
            Value::Str(s) => match verb {
                'v' | 's' | 'x' | 'X' | 'q' => self.fmt_string(s, verb),
                _ => self.bad_verb(v, verb),
            },
            Value::Map(m) | Value::AnyMap(m) => {
                if self.f.sharp_v {
                    self.buf.push_str(&v.type_name());
                    self.buf.push('{');
                } else {
                    self.buf.push_str("map[");
                }
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.print_value(&Value::Str(k.clone()), verb, depth + 1);
                    self.buf.push(':');
                    self.print_value(x, verb, depth + 1);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::List(l) => {
                if self.f.sharp_v {
                    self.buf.push_str(&v.type_name());
                    self.buf.push('{');
                } else {
                    self.buf.push('[');
                }
                for (i, x) in l.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.print_value(x, verb, depth + 1);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Sample { labels, value } => {
                if depth > 0 {
                    // Go prints a pointer inside a container as its address, which
                    // differs from run to run; this stands in for it.
                    self.buf.push_str("0xc000010000");
                    return;
                }
                self.buf.push('&');
                self.print_value(&sample_struct(labels, *value), verb, depth + 1);
            }
            Value::Struct(fields) => {
                if self.f.sharp_v {
                    self.buf.push_str(&v.type_name());
                }
                self.buf.push('{');
                for (i, (name, x)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    if self.f.plus_v || self.f.sharp_v {
                        self.buf.push_str(name);
                        self.buf.push(':');
                    }
                    self.print_value(x, verb, depth + 1);
                }
                self.buf.push('}');
            }
            Value::Time(ns) => {
                let s = time_string(*ns);
                self.fmt_string(&s, 'v');
            }
        }
    }

    fn fmt_s(&mut self, s: &str) {
        match self.f.prec {
            Some(p) => {
                let t: String = s.chars().take(p).collect();
                self.pad(&t);
            }
            None => self.pad(s),
        }
    }

    fn fmt_string(&mut self, s: &str, verb: char) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s),
            'v' | 's' => self.fmt_s(s),
            'x' | 'X' => {
                let bytes = s.as_bytes();
                let n = self.f.prec.map_or(bytes.len(), |p| p.min(bytes.len()));
                let mut out = String::new();
                let x = if verb == 'X' { "0X" } else { "0x" };
                for (i, b) in bytes[..n].iter().enumerate() {
                    if self.f.space && i > 0 {
                        out.push(' ');
                    }
                    if self.f.sharp && (self.f.space || i == 0) {
                        out.push_str(x);
                    }
                    if verb == 'X' {
                        let _ = write!(out, "{b:02X}");
                    } else {
                        let _ = write!(out, "{b:02x}");
                    }
                }
                self.pad(&out);
            }
            _ => self.fmt_q(s),
        }
    }

    fn fmt_q(&mut self, s: &str) {
        let s: String = match self.f.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_owned(),
        };
        let q = if self.f.sharp && can_backquote(&s) {
            format!("`{s}`")
        } else {
            go_quote(&s, self.f.plus, '"')
        };
        self.pad(&q);
    }

    fn fmt_int(&mut self, i: i64, verb: char, v: &Value) {
        match verb {
            'v' | 'd' => self.fmt_integer(i, 10, verb),
            'b' => self.fmt_integer(i, 2, verb),
            'o' | 'O' => self.fmt_integer(i, 8, verb),
            'x' | 'X' => self.fmt_integer(i, 16, verb),
            'c' => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                self.pad(&c.to_string());
            }
            'q' => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                let q = go_quote(&c.to_string(), self.f.plus, '\'');
                self.pad(&q);
            }
            'U' => {
                let mut s = format!("U+{:04X}", i as u64);
                if let Some(c) = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .filter(|&c| self.f.sharp && is_print(c))
                {
                    let _ = write!(s, " '{c}'");
                }
                let z = self.f.zero;
                self.f.zero = false;
                self.pad(&s);
                self.f.zero = z;
            }
            _ => self.bad_verb(v, verb),
        }
    }

    /// Go's `fmtInteger`: precision or the `0` flag give leading zeros after the sign.
    fn fmt_integer(&mut self, i: i64, base: u32, verb: char) {
        let negative = i < 0;
        let u = i.unsigned_abs();
        let mut prec = 0;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let z = self.f.zero;
                self.f.zero = false;
                let w = self.f.wid.unwrap_or(0);
                self.write_padding(w);
                self.f.zero = z;
                return;
            }
        } else if let (true, Some(w)) = (self.f.zero, self.f.wid) {
            prec = w;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut digits = match base {
            2 => format!("{u:b}"),
            8 => format!("{u:o}"),
            16 if verb == 'X' => format!("{u:X}"),
            16 => format!("{u:x}"),
            _ => u.to_string(),
        };
        if digits.len() < prec {
            digits.insert_str(0, &"0".repeat(prec - digits.len()));
        }
        if self.f.sharp {
            match base {
                2 => digits.insert_str(0, "0b"),
                8 if !digits.starts_with('0') => digits.insert(0, '0'),
                16 => digits.insert_str(0, if verb == 'X' { "0X" } else { "0x" }),
                _ => {}
            }
        }
        if verb == 'O' {
            digits.insert_str(0, "0o");
        }
        if negative {
            digits.insert(0, '-');
        } else if self.f.plus {
            digits.insert(0, '+');
        } else if self.f.space {
            digits.insert(0, ' ');
        }
        let z = self.f.zero;
        self.f.zero = false;
        self.pad(&digits);
        self.f.zero = z;
    }

    fn fmt_float(&mut self, x: f64, verb: char, v: &Value) {
        let (verb, prec) = match verb {
            'v' => ('g', None),
            'b' | 'g' | 'G' | 'x' | 'X' => (verb, self.f.prec),
            'f' | 'F' | 'e' | 'E' => (
                if verb == 'F' { 'f' } else { verb },
                Some(self.f.prec.unwrap_or(6)),
            ),
            _ => return self.bad_verb(v, verb),
        };
        let s = format_float(x, verb, prec);
        let mut num = if s.starts_with(['-', '+']) {
            s
        } else {
            format!("+{s}")
        };
        if self.f.space && num.starts_with('+') && !self.f.plus {
            num.replace_range(0..1, " ");
        }
        if num[1..].starts_with(['I', 'N']) {
            let z = self.f.zero;
            self.f.zero = false;
            if num[1..].starts_with('N') && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad(&num);
            self.f.zero = z;
            return;
        }
        if self.f.sharp && verb != 'b' {
            num = sharp_float(num, verb, prec);
        }
        if self.f.plus || !num.starts_with('+') {
            if let (true, Some(w)) = (self.f.zero, self.f.wid)
                && w > num.len()
            {
                let (sign, rest) = num.split_at(1);
                self.buf.push_str(sign);
                self.write_padding(w - num.len());
                self.buf.push_str(rest);
                return;
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
    }
}

/// The `#` flag on a float: always a decimal point, and `%g` keeps its trailing zeros.
fn sharp_float(num: String, verb: char, prec: Option<usize>) -> String {
    let mut digits: i64 = match verb {
        'v' | 'g' | 'G' | 'x' => prec.map_or(6, |p| p as i64),
        _ => 0,
    };
    let bytes = num.as_bytes();
    let mut body_end = bytes.len();
    let mut has_point = false;
    let mut seen_nonzero = false;
    for (i, &c) in bytes.iter().enumerate().skip(1) {
        match c {
            b'.' => has_point = true,
            b'p' | b'P' => {
                body_end = i;
                break;
            }
            b'e' | b'E' if verb != 'x' && verb != 'X' => {
                body_end = i;
                break;
            }
            _ => {
                if c != b'0' {
                    seen_nonzero = true;
                }
                if seen_nonzero {
                    digits -= 1;
                }
            }
        }
    }
    let (body, tail) = num.split_at(body_end);
    let mut out = body.to_owned();
    if !has_point {
        if body.len() == 2 && body.ends_with('0') {
            digits -= 1;
        }
        out.push('.');
    }
    while digits > 0 {
        out.push('0');
        digits -= 1;
    }
    out.push_str(tail);
    out
}

/// Whether Go's `unicode.IsPrint` holds: letters, marks, numbers, punctuation, symbols
/// and the ASCII space. Unassigned code points outside the ranges below count as
/// printable here, where Go would escape them.
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let u = c as u32;
    !(c.is_control()
        || c.is_whitespace()
        || matches!(u, 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xD800..=0xDFFF
            | 0xE000..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF
            | 0xF0000..=0x10FFFF | 0xE0001..=0xE007F))
}

/// Go's `strconv.Quote` (or `QuoteToASCII` when `ascii`), or `QuoteRune` with `'`.
fn go_quote(s: &str, ascii: bool, quote: char) -> String {
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            _ if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            _ if c.is_ascii() && is_print(c) => out.push(c),
            _ if !c.is_ascii() && is_print(c) && !ascii => out.push(c),
            _ if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            _ if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
    out
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\x7f')))
}

/// Go's `fmt.Sprint`: each operand as `%v`, with a space between two operands when
/// neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = a.is_string();
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// Go's `fmt.Sprintln`: the operands as `%v`, spaces between all, and a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut p = Printer::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(a, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// Go's `fmt.Sprintf` for the value kinds templates have: every verb, flag, width,
/// precision and `[n]` argument index, and Go's `%!verb(type=value)`, `%!v(MISSING)`
/// and `%!(EXTRA ...)` texts.
pub fn printf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    let fmt: Vec<char> = format.chars().collect();
    let mut i = 0;
    let mut arg_num = 0;
    let mut reordered = false;
    // Reads `[n]` at `i`, returning the argument it names.
    let arg_index = |i: &mut usize, arg_num: &mut usize, reordered: &mut bool, ok: &mut bool| {
        if fmt.get(*i) != Some(&'[') {
            return;
        }
        *reordered = true;
        let close = fmt[*i..].iter().position(|&c| c == ']');
        let Some(close) = close else {
            *ok = false;
            *i = fmt.len();
            return;
        };
        let text: String = fmt[*i + 1..*i + close].iter().collect();
        match text.parse::<usize>() {
            Ok(n) if n >= 1 && n <= args.len() => *arg_num = n - 1,
            _ => *ok = false,
        }
        *i += close + 1;
    };
    while i < fmt.len() {
        if fmt[i] != '%' {
            p.buf.push(fmt[i]);
            i += 1;
            continue;
        }
        i += 1;
        p.f = Flags::default();
        while let Some(&c) = fmt.get(i) {
            match c {
                '#' => p.f.sharp = true,
                '0' => p.f.zero = !p.f.minus,
                '+' => p.f.plus = true,
                '-' => {
                    p.f.minus = true;
                    p.f.zero = false;
                }
                ' ' => p.f.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut good = true;
        arg_index(&mut i, &mut arg_num, &mut reordered, &mut good);
        // Width: `*` takes an int operand.
        if fmt.get(i) == Some(&'*') {
            i += 1;
            match args.get(arg_num) {
                Some(Value::Int(w)) => {
                    if *w < 0 {
                        p.f.minus = true;
                        p.f.zero = false;
                    }
                    p.f.wid = Some(w.unsigned_abs() as usize);
                }
                _ => p.buf.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
        } else {
            let start = i;
            while fmt.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            if i > start {
                p.f.wid = fmt[start..i].iter().collect::<String>().parse().ok();
            }
        }
        if fmt.get(i) == Some(&'.') {
            i += 1;
            arg_index(&mut i, &mut arg_num, &mut reordered, &mut good);
            if fmt.get(i) == Some(&'*') {
                i += 1;
                match args.get(arg_num) {
                    Some(Value::Int(n)) if *n >= 0 => p.f.prec = Some(*n as usize),
                    Some(Value::Int(_)) => p.f.prec = None,
                    _ => p.buf.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                let start = i;
                while fmt.get(i).is_some_and(char::is_ascii_digit) {
                    i += 1;
                }
                p.f.prec = Some(
                    fmt[start..i]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .unwrap_or(0),
                );
            }
        }
        arg_index(&mut i, &mut arg_num, &mut reordered, &mut good);
        let Some(&verb) = fmt.get(i) else {
            p.buf.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            p.buf.push('%');
            continue;
        }
        if !good {
            let _ = write!(p.buf, "%!{verb}(BADINDEX)");
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            let _ = write!(p.buf, "%!{verb}(MISSING)");
            continue;
        };
        arg_num += 1;
        if verb == 'v' {
            if p.f.sharp {
                p.f.sharp = false;
                p.f.sharp_v = true;
            }
            if p.f.plus {
                p.f.plus = false;
                p.f.plus_v = true;
            }
        }
        p.print_arg(arg, verb);
    }
    if !reordered && arg_num < args.len() {
        p.f = Flags::default();
        p.buf.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                p.buf.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                p.buf.push_str("<nil>");
            } else {
                p.buf.push_str(&a.type_name());
                p.buf.push('=');
                p.print_arg(a, 'v');
            }
        }
        p.buf.push(')');
    }
    p.buf
}

/// Go's `text/template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `text/template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if c.is_ascii() || is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, a space as `+`, every other
/// byte as `%XX`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// What `html`, `js` and `urlquery` escape: one string operand as it is, otherwise the
/// operands as `print` joins them after dereferencing pointers, a missing value as
/// `<no value>`.
fn escaper_text(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.clone();
    }
    let mut p = Printer::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = a.is_string() || matches!(a, Value::Nil);
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        match a {
            Value::Nil => p.buf.push_str("<no value>"),
            Value::Sample { labels, value } => p.print_arg(&sample_struct(labels, *value), 'v'),
            _ => p.print_arg(a, 'v'),
        }
        prev_string = is_string;
    }
    p.buf
}

/// Why a template does not parse or run, as Go's `text/template` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    message: String,
    at: Where,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Where {
    /// Not tied to the text.
    Nowhere,
    /// A parse error on this line (from 1).
    Line(usize),
    /// A run-time error at this byte of the text, in this node, in the named template
    /// (`None`: the template itself).
    Node {
        pos: usize,
        context: String,
        template: Option<String>,
    },
}

impl TemplateError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            at: Where::Nowhere,
        }
    }

    /// Go's message without the template's name and position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prometheus's full text for a template named `name` whose text is `text`, written
    /// after `prefix_len` bytes of its variable definitions on the first line.
    fn prometheus_text(&self, name: &str, text: &str, prefix_len: usize) -> String {
        match &self.at {
            Where::Nowhere => format!("error executing template {name}: {}", self.message),
            Where::Line(line) => format!(
                "error parsing template {name}: template: {name}:{line}: {}",
                self.message
            ),
            Where::Node {
                pos,
                context,
                template,
            } => {
                let before = &text[..(*pos).min(text.len())];
                let line = 1 + before.matches('\n').count();
                let col = match before.rfind('\n') {
                    Some(nl) => pos - nl - 1,
                    None => pos + prefix_len,
                };
                format!(
                    "error executing template {name}: template: {name}:{line}:{col}: executing {:?} at <{context}>: {}",
                    template.as_deref().unwrap_or(name),
                    self.message
                )
            }
        }
    }
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Where::Nowhere => f.write_str(&self.message),
            Where::Line(line) => write!(f, "line {line}: {}", self.message),
            Where::Node { context, .. } => write!(f, "at <{context}>: {}", self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

fn err<T>(message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError::new(message))
}

/// How deep parentheses, blocks and `template` calls may nest. Parsing and running a
/// template recurse once per level, on whatever thread evaluates the rule; no real
/// template comes near this, and a template from outside cannot overflow the stack.
/// (Go allows 100,000 levels of `template` calls; the message says this limit instead.)
pub const MAX_TEMPLATE_DEPTH: usize = 100;

fn too_deep<T>() -> Result<T, TemplateError> {
    err(format!(
        "the template nests parentheses and if, range or with blocks more than {MAX_TEMPLATE_DEPTH} levels deep, the limit"
    ))
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
    /// `{{ template "name" pipeline }}`, at the name's byte.
    Template {
        name: String,
        pipe: Option<Pipeline>,
        pos: usize,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
struct Pipeline {
    /// `$x :=` or `$i, $x :=` (declare) or `$x =` (assign).
    vars: Vec<String>,
    declare: bool,
    cmds: Vec<Command>,
    /// The byte of its first token.
    pos: usize,
}

impl Pipeline {
    /// As Go writes the node in an error: `$x := f a | g`.
    fn text(&self) -> String {
        let mut s = String::new();
        if !self.vars.is_empty() {
            let vars: Vec<String> = self.vars.iter().map(|v| format!("${v}")).collect();
            s.push_str(&vars.join(", "));
            s.push_str(if self.declare { " := " } else { " = " });
        }
        let cmds: Vec<String> = self.cmds.iter().map(Command::text).collect();
        s.push_str(&cmds.join(" | "));
        s
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Command {
    args: Vec<Arg>,
}

impl Command {
    fn text(&self) -> String {
        let args: Vec<&str> = self.args.iter().map(|a| a.text.as_str()).collect();
        args.join(" ")
    }

    fn pos(&self) -> usize {
        self.args.first().map_or(0, |a| a.pos)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Arg {
    kind: ArgKind,
    /// The byte Go reports for the node: its first field's for a chain of fields.
    pos: usize,
    /// As Go writes the node.
    text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum ArgKind {
    /// `.` then fields, `.Labels.job`.
    Dot(Vec<String>),
    /// `$x` then fields (`$` alone is named "").
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    /// `( pipeline )` then fields.
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum TokKind {
    Pipe,
    Open,
    Close,
    Declare,
    Assign,
    Comma,
    Str(String),
    Int(i64),
    Float(f64),
    Ident(String),
    /// `.a.b`; empty for `.` alone.
    Field(Vec<String>),
    Var(String, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
struct Tok {
    kind: TokKind,
    /// The byte it starts at in the template.
    pos: usize,
    /// Its text in the template.
    text: String,
    /// Where its fields start, for a variable or `)` followed by fields.
    fields_pos: Option<usize>,
}

/// Go's `strconv.Unquote` of a double-quoted string's inside.
fn unescape(body: &[char]) -> Result<String, String> {
    let mut s = String::new();
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != '\\' {
            s.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else {
            return Err("unterminated quoted string".into());
        };
        i += 1;
        let hex = |n: usize, i: &mut usize| -> Result<u32, String> {
            let t: String = body.get(*i..*i + n).unwrap_or_default().iter().collect();
            *i += n;
            u32::from_str_radix(&t, 16).map_err(|_| "invalid syntax".to_owned())
        };
        match e {
            'a' => s.push('\x07'),
            'b' => s.push('\x08'),
            'f' => s.push('\x0c'),
            'n' => s.push('\n'),
            'r' => s.push('\r'),
            't' => s.push('\t'),
            'v' => s.push('\x0b'),
            '\\' | '"' | '\'' => s.push(e),
            'x' => {
                let b = hex(2, &mut i)?;
                // A byte above 0x7f cannot stand alone in a Rust string.
                s.push(char::from_u32(b).filter(|_| b < 0x80).unwrap_or('\u{FFFD}'));
            }
            'u' => s.push(char::from_u32(hex(4, &mut i)?).ok_or("invalid syntax")?),
            'U' => s.push(char::from_u32(hex(8, &mut i)?).ok_or("invalid syntax")?),
            '0'..='7' => {
                let t: String = body.get(i - 1..i + 2).unwrap_or_default().iter().collect();
                i += 2;
                let b = u32::from_str_radix(&t, 8).map_err(|_| "invalid syntax")?;
                s.push(char::from_u32(b).filter(|_| b < 0x80).unwrap_or('\u{FFFD}'));
            }
            _ => return Err("invalid syntax".into()),
        }
    }
    Ok(s)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits one action's text, which starts at byte `base` of the template, into tokens.
fn lex(src: &str, base: usize) -> Result<Vec<Tok>, TemplateError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let b: Vec<char> = chars.iter().map(|&(_, c)| c).collect();
    let at = |i: usize| base + chars.get(i).map_or(src.len(), |&(o, _)| o);
    let text = |from: usize, to: usize| -> String { b[from..to].iter().collect() };
    let mut i = 0;
    let mut out = Vec::new();
    let fields = |i: &mut usize| -> Vec<String> {
        let mut fs = Vec::new();
        while *i < b.len() && b[*i] == '.' {
            let start = *i + 1;
            let mut j = start;
            while j < b.len() && is_ident_char(b[j]) {
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
        let start = i;
        let simple = |k: TokKind, len: usize| Tok {
            kind: k,
            pos: at(start),
            text: text(start, start + len),
            fields_pos: None,
        };
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '|' => {
                out.push(simple(TokKind::Pipe, 1));
                i += 1;
            }
            '(' => {
                out.push(simple(TokKind::Open, 1));
                i += 1;
            }
            ')' => {
                let mut t = simple(TokKind::Close, 1);
                i += 1;
                let fpos = at(i);
                let fs = fields(&mut i);
                if !fs.is_empty() {
                    t.fields_pos = Some(fpos);
                    out.push(t);
                    out.push(Tok {
                        kind: TokKind::Field(fs),
                        pos: fpos,
                        text: text(start + 1, i),
                        fields_pos: None,
                    });
                } else {
                    out.push(t);
                }
            }
            ',' => {
                out.push(simple(TokKind::Comma, 1));
                i += 1;
            }
            ':' if b.get(i + 1) == Some(&'=') => {
                out.push(simple(TokKind::Declare, 2));
                i += 2;
            }
            '=' => {
                out.push(simple(TokKind::Assign, 1));
                i += 1;
            }
            '"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some('\n') => return err("unterminated quoted string"),
                        Some('\\') if b.get(i + 1).is_some_and(|&c| c != '\n') => i += 2,
                        Some('"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let s = unescape(&b[start + 1..i - 1]).map_err(TemplateError::new)?;
                out.push(simple(TokKind::Str(s), i - start));
            }
            '`' => {
                let Some(end) = b[start + 1..].iter().position(|&c| c == '`') else {
                    return err("unterminated raw quoted string");
                };
                i = start + end + 2;
                let s = text(start + 1, i - 1).replace('\r', "");
                out.push(simple(TokKind::Str(s), i - start));
            }
            '\'' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some('\n') => return err("unterminated character constant"),
                        Some('\\') => i += 2,
                        Some('\'') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let inner = &b[start + 1..i - 1];
                let s = if inner == ['"'] {
                    "\"".to_owned()
                } else {
                    unescape(inner).map_err(TemplateError::new)?
                };
                let mut cs = s.chars();
                let (Some(ch), None) = (cs.next(), cs.next()) else {
                    return err(format!("malformed character constant: {}", text(start, i)));
                };
                out.push(simple(TokKind::Int(ch as i64), i - start));
            }
            '.' if b.get(i + 1).is_none_or(|c| !c.is_ascii_digit()) => {
                if b.get(i + 1).is_some_and(|&c| is_ident_char(c)) {
                    let fs = fields(&mut i);
                    out.push(Tok {
                        kind: TokKind::Field(fs),
                        pos: at(start),
                        text: text(start, i),
                        fields_pos: None,
                    });
                } else {
                    out.push(simple(TokKind::Field(Vec::new()), 1));
                    i += 1;
                }
            }
            '$' => {
                let mut j = start + 1;
                while j < b.len() && is_ident_char(b[j]) {
                    j += 1;
                }
                let name = text(start + 1, j);
                i = j;
                let fpos = at(i);
                let fs = fields(&mut i);
                out.push(Tok {
                    fields_pos: (!fs.is_empty()).then_some(fpos),
                    kind: TokKind::Var(name, fs),
                    pos: at(start),
                    text: text(start, i),
                });
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == '.'
                        || b[i] == '_'
                        || ((b[i] == '-' || b[i] == '+')
                            && matches!(b[i - 1], 'e' | 'E' | 'p' | 'P')))
                {
                    i += 1;
                }
                let t = text(start, i);
                let kind = number(&t).ok_or_else(|| {
                    let overflows = t.parse::<f64>().is_ok_and(f64::is_infinite);
                    let what = if overflows { "illegal" } else { "bad" };
                    TemplateError::new(format!("{what} number syntax: {t:?}"))
                })?;
                out.push(simple(kind, i - start));
            }
            c if is_ident_char(c) => {
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
                out.push(simple(TokKind::Ident(text(start, i)), i - start));
            }
            other => {
                return err(format!("unexpected {:?} in command", other.to_string()));
            }
        }
    }
    Ok(out)
}

/// A number constant as Go's template parser reads it: an int unless it has a point,
/// an exponent or a fraction that does not fit.
fn number(t: &str) -> Option<TokKind> {
    let clean = t.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find(|(p, _)| lower.starts_with(p));
    if let Some(&(p, r)) = radix {
        if r != 16 || !lower.contains('p') {
            let n = i64::from_str_radix(&lower[p.len()..], r).ok()?;
            return Some(TokKind::Int(if neg { -n } else { n }));
        }
        return None;
    }
    if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        let n = i64::from_str_radix(&body[1..], 8).ok()?;
        return Some(TokKind::Int(if neg { -n } else { n }));
    }
    if let Ok(n) = clean.parse::<i64>() {
        return Some(TokKind::Int(n));
    }
    let f: f64 = clean.parse().ok().filter(|f: &f64| f.is_finite())?;
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        return None;
    }
    Some(TokKind::Float(f))
}

/// The functions known; a call to any other is a parse error, as in Go.
const FUNCTIONS: &[&str] = &[
    // Go's builtins.
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    // Prometheus's.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "sortByLabel",
    "stripPort",
    "stripDomain",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "pathPrefix",
    "externalURL",
    "parseDuration",
];

/// The variables Prometheus defines before an alert's template text.
const ALERT_VARIABLES: [&str; 4] = ["labels", "externalLabels", "externalURL", "value"];

struct Parser<'a> {
    toks: Vec<Tok>,
    at: usize,
    /// How many parentheses the parser is inside.
    depth: usize,
    /// The variables in scope, for Go's parse-time check.
    vars: &'a [String],
    /// Where the action ends, for errors at its end.
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn pipeline(&mut self, declared: &mut Vec<String>) -> Result<Pipeline, TemplateError> {
        let pos = self.peek().map_or(self.end, |t| t.pos);
        let mut vars = Vec::new();
        let mut declare = true;
        // `$x :=`, `$i, $x :=` or `$x =`.
        let save = self.at;
        while let Some(Tok {
            kind: TokKind::Var(name, fs),
            ..
        }) = self.peek().cloned()
        {
            if !fs.is_empty() {
                break;
            }
            self.at += 1;
            vars.push(name);
            match self.peek().map(|t| &t.kind) {
                Some(TokKind::Comma) => self.at += 1,
                Some(TokKind::Declare) => {
                    self.at += 1;
                    break;
                }
                Some(TokKind::Assign) => {
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
        if declare {
            declared.extend(vars.iter().cloned());
        } else {
            for v in &vars {
                self.check_var(v, declared)?;
            }
        }
        let mut cmds = vec![Command { args: Vec::new() }];
        loop {
            match self.peek().map(|t| t.kind.clone()) {
                None | Some(TokKind::Close) => break,
                Some(TokKind::Pipe) => {
                    self.at += 1;
                    cmds.push(Command { args: Vec::new() });
                }
                Some(_) => {
                    let arg = self.operand(declared)?;
                    if let Some(c) = cmds.last_mut() {
                        c.args.push(arg);
                    }
                }
            }
        }
        if cmds.len() == 1 && cmds[0].args.is_empty() {
            return err("missing value for command");
        }
        if cmds.iter().any(|c| c.args.is_empty()) {
            return err("missing command");
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0].kind,
                ArgKind::Bool(_)
                    | ArgKind::Dot(_)
                    | ArgKind::Nil
                    | ArgKind::Int(_)
                    | ArgKind::Float(_)
                    | ArgKind::Str(_)
            ) && !matches!(&c.args[0].kind, ArgKind::Dot(fs) if !fs.is_empty())
            {
                return err(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(Pipeline {
            vars,
            declare,
            cmds,
            pos,
        })
    }

    fn check_var(&self, name: &str, declared: &[String]) -> Result<(), TemplateError> {
        if name.is_empty() || self.vars.iter().chain(declared).any(|v| v == name) {
            Ok(())
        } else {
            err(format!("undefined variable \"${name}\""))
        }
    }

    fn operand(&mut self, declared: &mut Vec<String>) -> Result<Arg, TemplateError> {
        let tok = self.toks[self.at].clone();
        self.at += 1;
        let arg = |kind| Arg {
            kind,
            pos: tok.pos,
            text: tok.text.clone(),
        };
        Ok(match tok.kind {
            TokKind::Field(fs) => arg(ArgKind::Dot(fs)),
            TokKind::Var(ref name, ref fs) => {
                self.check_var(name, declared)?;
                Arg {
                    kind: ArgKind::Var(name.clone(), fs.clone()),
                    pos: tok.fields_pos.unwrap_or(tok.pos),
                    text: tok.text.clone(),
                }
            }
            TokKind::Str(ref s) => arg(ArgKind::Str(s.clone())),
            TokKind::Int(n) => arg(ArgKind::Int(n)),
            TokKind::Float(f) => arg(ArgKind::Float(f)),
            TokKind::Ident(ref name) => match name.as_str() {
                "true" => arg(ArgKind::Bool(true)),
                "false" => arg(ArgKind::Bool(false)),
                "nil" => arg(ArgKind::Nil),
                _ if FUNCTIONS.contains(&name.as_str()) => arg(ArgKind::Func(name.clone())),
                _ => return err(format!("function {name:?} not defined")),
            },
            TokKind::Open => {
                if self.depth == MAX_TEMPLATE_DEPTH {
                    return too_deep();
                }
                self.depth += 1;
                let inner = self.pipeline(declared)?;
                self.depth -= 1;
                let Some(close) = self.peek().filter(|t| t.kind == TokKind::Close).cloned() else {
                    return err("unclosed left paren");
                };
                self.at += 1;
                let mut text = format!("({})", inner.text());
                let mut pos = tok.pos;
                let fields = match self.peek() {
                    Some(Tok {
                        kind: TokKind::Field(fs),
                        text: t,
                        ..
                    }) if close.fields_pos.is_some() => {
                        let fs = fs.clone();
                        text.push_str(t);
                        pos = close.fields_pos.unwrap_or(pos);
                        self.at += 1;
                        fs
                    }
                    _ => Vec::new(),
                };
                Arg {
                    kind: ArgKind::Sub(Box::new(inner), fields),
                    pos,
                    text,
                }
            }
            TokKind::Close => return err("unexpected right paren"),
            TokKind::Pipe | TokKind::Declare | TokKind::Assign | TokKind::Comma => {
                return err(format!("unexpected {:?} in operand", tok.text));
            }
        })
    }
}

/// Parses the pipeline of an action whose text starts at byte `base`, with `vars` in
/// scope; variables it declares are added to `declared`.
fn parse_pipeline(
    text: &str,
    base: usize,
    vars: &[String],
    declared: &mut Vec<String>,
) -> Result<Pipeline, TemplateError> {
    let mut p = Parser {
        toks: lex(text, base)?,
        at: 0,
        depth: 0,
        vars,
        end: base + text.len(),
    };
    let pipe = p.pipeline(declared)?;
    if let Some(t) = p.peek() {
        return err(match t.kind {
            TokKind::Close => "unexpected right paren".to_owned(),
            _ => format!("unexpected {:?} in command", t.text),
        });
    }
    Ok(pipe)
}

/// A parsed template, with the templates it defines.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
    defined: BTreeMap<String, Vec<Node>>,
    text: String,
}

/// One `{{ ... }}` or the text between.
enum Piece {
    Text(String),
    /// An action's text, the byte it starts at and its line.
    Action(String, usize, usize),
}

/// Where an action that starts at byte `from` ends: the byte of its `}}` or ` -}}`,
/// skipping quoted text, and whether it trims the text after it.
fn action_end(src: &str, from: usize) -> Result<(usize, bool), TemplateError> {
    let b = src.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' | b'`' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    if b[i.min(b.len() - 1)] == b'\n' && q != b'`' {
                        return err(if q == b'"' {
                            "unterminated quoted string"
                        } else {
                            "unterminated character constant"
                        });
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return err(match q {
                        b'"' => "unterminated quoted string",
                        b'`' => "unterminated raw quoted string",
                        _ => "unterminated character constant",
                    });
                }
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\n' if src[i + 1..].starts_with("-}}") => {
                return Ok((i, true));
            }
            b'}' if src[i..].starts_with("}}") => return Ok((i, false)),
            _ => i += 1,
        }
    }
    err("unclosed action")
}

fn pieces(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut trim_next = false;
    // Lines are counted as the scan goes: counting from the start for each action
    // would take quadratic time on long templates.
    let mut counted = 0;
    let mut lines = 1;
    let mut line_of = |pos: usize| {
        lines += src[counted..pos].matches('\n').count();
        counted = pos;
        lines
    };
    while let Some(found) = src[at..].find("{{") {
        let start = at + found;
        let mut text = &src[at..start];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        let mut inner = start + 2;
        let rest = &src[inner..];
        if rest.starts_with('-') && rest[1..].starts_with([' ', '\t', '\r', '\n']) {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            inner += 2;
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_owned()));
        }
        let line = line_of(start);
        if src[inner..].starts_with("/*") {
            let Some(close) = src[inner..].find("*/") else {
                return Err(TemplateError {
                    message: "unclosed comment".into(),
                    at: Where::Line(line),
                });
            };
            let after = inner + close + 2;
            if src[after..].starts_with("}}") {
                at = after + 2;
                trim_next = false;
            } else if src[after..].starts_with([' ', '\t', '\r', '\n'])
                && src[after + 1..].starts_with("-}}")
            {
                at = after + 4;
                trim_next = true;
            } else {
                return Err(TemplateError {
                    message: "comment ends before closing delimiter".into(),
                    at: Where::Line(line),
                });
            }
            continue;
        }
        let (end, trims) = action_end(src, inner).map_err(|e| TemplateError {
            at: Where::Line(line),
            ..e
        })?;
        out.push(Piece::Action(src[inner..end].to_owned(), inner, line));
        at = if trims { end + 4 } else { end + 2 };
        trim_next = trims;
    }
    let mut rest = &src[at..];
    if trim_next {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
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
    /// `{{ else }}` or `{{ else if ... }}`: the text after `else`, its byte and line.
    Else(String, usize, usize),
}

/// Builds the node tree from the pieces, checking variables and `break`/`continue` as
/// Go's parser does.
struct TreeBuilder {
    pieces: std::iter::Peekable<std::vec::IntoIter<Piece>>,
    defined: BTreeMap<String, Vec<Node>>,
}

/// The first word of an action and the rest, with the rest's byte offset.
fn split_word(action: &str, base: usize) -> (&str, &str, usize) {
    let trimmed = action.trim_start();
    let lead = action.len() - trimmed.len();
    match trimmed.find(|c: char| !is_ident_char(c)) {
        Some(n) => {
            let rest = &trimmed[n..];
            let rest_trim = rest.trim_start();
            (
                &trimmed[..n],
                rest_trim,
                base + lead + n + (rest.len() - rest_trim.len()),
            )
        }
        None => (trimmed, "", base + action.len()),
    }
}

impl TreeBuilder {
    /// The nodes up to the end of the block `depth` levels deep, or of the text.
    fn nodes(
        &mut self,
        depth: usize,
        vars: &mut Vec<String>,
        in_range: bool,
        top: bool,
    ) -> Result<(Vec<Node>, Stop), TemplateError> {
        if depth > MAX_TEMPLATE_DEPTH {
            return too_deep();
        }
        let mut out = Vec::new();
        while let Some(piece) = self.pieces.next() {
            let (action, base, line) = match piece {
                Piece::Text(t) => {
                    out.push(Node::Text(t));
                    continue;
                }
                Piece::Action(a, base, line) => (a, base, line),
            };
            let at_line = |e: TemplateError| TemplateError {
                at: Where::Line(line),
                ..e
            };
            let (word, rest, rest_at) = split_word(&action, base);
            match word {
                "end" if rest.is_empty() => {
                    if top {
                        return Err(at_line(TemplateError::new("unexpected {{end}}")));
                    }
                    return Ok((out, Stop::End));
                }
                "else" => {
                    if top {
                        return Err(at_line(TemplateError::new("unexpected {{else}}")));
                    }
                    return Ok((out, Stop::Else(rest.to_owned(), rest_at, line)));
                }
                "break" | "continue" if rest.is_empty() => {
                    if !in_range {
                        return Err(at_line(TemplateError::new(format!(
                            "{{{{{word}}}}} outside {{{{range}}}}"
                        ))));
                    }
                    out.push(if word == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "if" | "with" | "range" => {
                    let node = self
                        .control(word, rest, rest_at, depth, vars, in_range)
                        .map_err(|e| match e.at {
                            Where::Nowhere => at_line(e),
                            _ => e,
                        })?;
                    out.push(node);
                }
                "define" | "block" | "template" => {
                    let mut p = Parser {
                        toks: lex(rest, rest_at).map_err(at_line)?,
                        at: 0,
                        depth: 0,
                        vars,
                        end: base + action.len(),
                    };
                    let (name, name_pos) = match p.peek() {
                        Some(Tok {
                            kind: TokKind::Str(s),
                            pos,
                            ..
                        }) => (s.clone(), *pos),
                        _ => {
                            return Err(at_line(TemplateError::new(format!(
                                "unexpected {:?} in {word} clause",
                                p.peek().map_or(String::new(), |t| t.text.clone())
                            ))));
                        }
                    };
                    p.at += 1;
                    let pipe = if p.peek().is_some() {
                        let mut declared = Vec::new();
                        let pipe = p.pipeline(&mut declared).map_err(at_line)?;
                        vars.extend(declared);
                        Some(pipe)
                    } else {
                        None
                    };
                    if word == "define" && (!top || pipe.is_some()) {
                        return Err(at_line(TemplateError::new(
                            "unexpected <define> in command",
                        )));
                    }
                    if word != "template" {
                        // A definition sees only `$`, the dot it is given.
                        let mut own = Vec::new();
                        let (body, stop) = self.nodes(depth + 1, &mut own, false, false)?;
                        if !matches!(stop, Stop::End) {
                            return Err(at_line(TemplateError::new(format!(
                                "unexpected EOF in {word}"
                            ))));
                        }
                        let empty = body
                            .iter()
                            .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()));
                        if !(empty && self.defined.contains_key(&name)) {
                            self.defined.insert(name.clone(), body);
                        }
                    }
                    if word != "define" {
                        out.push(Node::Template {
                            name,
                            pipe,
                            pos: name_pos,
                        });
                    }
                }
                _ => {
                    if action.trim().is_empty() {
                        return Err(at_line(TemplateError::new("missing value for command")));
                    }
                    let mut declared = Vec::new();
                    let pipe =
                        parse_pipeline(&action, base, vars, &mut declared).map_err(at_line)?;
                    vars.extend(declared);
                    out.push(Node::Action(pipe));
                }
            }
        }
        Ok((out, Stop::Eof))
    }

    /// An `if`, `with` or `range` block after its keyword; `else if` nests as in Go.
    fn control(
        &mut self,
        word: &str,
        rest: &str,
        rest_at: usize,
        depth: usize,
        vars: &mut Vec<String>,
        in_range: bool,
    ) -> Result<Node, TemplateError> {
        // Variables declared in the block live until its end.
        let mark = vars.len();
        let mut declared = Vec::new();
        let pipe = parse_pipeline(rest, rest_at, vars, &mut declared)?;
        vars.extend(declared);
        let body_in_range = in_range || word == "range";
        let (body, stop) = self.nodes(depth + 1, vars, body_in_range, false)?;
        let otherwise = match stop {
            Stop::End => Vec::new(),
            Stop::Eof => return err("unexpected EOF"),
            Stop::Else(chain, at, line) => {
                let (w, r, r_at) = split_word(&chain, at);
                if w == "if" {
                    let inner = self.control("if", r, r_at, depth + 1, vars, in_range);
                    let inner = inner.map_err(|e| match e.at {
                        Where::Nowhere => TemplateError {
                            at: Where::Line(line),
                            ..e
                        },
                        _ => e,
                    })?;
                    vec![inner]
                } else if !chain.is_empty() {
                    return Err(TemplateError {
                        message: format!("unexpected {:?} in else", chain),
                        at: Where::Line(line),
                    });
                } else {
                    let (o, stop) = self.nodes(depth + 1, vars, in_range, false)?;
                    if !matches!(stop, Stop::End) {
                        return err("unexpected EOF");
                    }
                    o
                }
            }
        };
        vars.truncate(mark);
        Ok(match word {
            "if" => Node::If {
                branches: vec![(pipe, body)],
                otherwise,
            },
            "range" => Node::Range {
                pipe,
                body,
                otherwise,
            },
            _ => Node::With {
                pipe,
                body,
                otherwise,
            },
        })
    }
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

/// How a list of nodes ended.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// What a function's parameter accepts, for Go's argument checks.
#[derive(Clone, Copy, PartialEq)]
enum Param {
    /// `interface{}`.
    Any,
    /// `string`.
    Str,
    /// `*template.sample`.
    Sample,
    /// `template.queryResult`.
    Query,
}

impl Param {
    fn go(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str => "string",
            Param::Sample => "*template.sample",
            Param::Query => "template.queryResult",
        }
    }
}

/// A function's fixed parameters and, if it takes more, their kind.
fn signature(name: &str) -> (&'static [Param], Option<Param>) {
    use Param::*;
    match name {
        "and" | "or" | "index" | "slice" | "call" | "eq" => (&[Any], Some(Any)),
        "html" | "js" | "urlquery" | "print" | "println" | "args" => (&[], Some(Any)),
        "printf" => (&[Str], Some(Any)),
        "ne" | "lt" | "le" | "gt" | "ge" => (&[Any, Any], None),
        "not" | "len" | "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" => (&[Any], None),
        "query" | "safeHtml" | "title" | "toUpper" | "toLower" | "graphLink" | "tableLink"
        | "stripPort" | "stripDomain" | "parseDuration" => (&[Str], None),
        "first" => (&[Query], None),
        "label" => (&[Str, Sample], None),
        "value" | "strvalue" => (&[Sample], None),
        "reReplaceAll" => (&[Str, Str, Str], None),
        "match" => (&[Str, Str], None),
        "sortByLabel" => (&[Str, Query], None),
        _ => (&[], None),
    }
}

struct Run<'a> {
    env: &'a dyn Env,
    defined: &'a BTreeMap<String, Vec<Node>>,
    vars: Vec<(String, Value)>,
    out: String,
    /// The defined template running, `None` for the template itself.
    template: Option<String>,
    /// How many `template` calls deep the run is.
    depth: usize,
    /// What the `externalURL` and `pathPrefix` functions return.
    external_url: String,
}

/// Go's `strconv.ParseFloat`, with its error text.
fn parse_float(s: &str) -> Result<f64, String> {
    let invalid = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s, false, '"')
        )
    };
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    // Go takes "inf" and "infinity" with a sign, and "nan" only without one.
    if matches!(lower.as_str(), "inf" | "infinity") {
        return Ok(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        return if body.len() == s.len() {
            Ok(f64::NAN)
        } else {
            Err(invalid())
        };
    }
    if body.is_empty()
        || !body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return Err(invalid());
    }
    let x: f64 = s.parse().map_err(|_| invalid())?;
    if x.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(s, false, '"')
        ));
    }
    Ok(x)
}

/// Prometheus's `convertToFloat`.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => parse_float(s),
        other => Err(format!("can't convert {} to float", other.type_name())),
    }
}

/// 2^63, the float nearest `i64::MAX`, as Go compares with `math.MaxInt64`.
const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Prometheus's `floatToTime`: seconds to nanoseconds, then to whole milliseconds
/// (rounded toward zero) as `model.Time` keeps them. `Ok(None)` for NaN and infinities.
fn float_to_time(v: f64) -> Result<Option<i64>, String> {
    if !v.is_finite() {
        return Ok(None);
    }
    let ns = v * 1e9;
    if !(-I64_LIMIT..=I64_LIMIT).contains(&ns) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            go_float(v)
        ));
    }
    Ok(Some((ns as i64) / 1_000_000 * 1_000_000))
}

/// A `time.Time` in UTC as Go's `String` prints it: `2015-06-23 13:19:44.128 +0000 UTC`.
fn time_string(ns: i64) -> String {
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

/// Go's `net.SplitHostPort`: `None` where Go returns an error.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let colon = s.rfind(':')?;
    let (host, port) = (&s[..colon], &s[colon + 1..]);
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        if inner.contains(['[', ']']) || port.contains(['[', ']']) {
            return None;
        }
        return Some((inner, port));
    }
    if host.contains([':', '[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host, port))
}

/// Whether Go's `net.ParseIP` accepts `s`.
fn is_ip(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok() || s.parse::<std::net::Ipv6Addr>().is_ok()
}

/// Go's `strings.Title`: each letter that starts a word to title case, a word starting
/// after anything but a letter, digit or `_` (Go's `isSeparator`).
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_separator(prev) {
            out.push_str(&to_title(c));
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's `unicode.ToTitle` of one rune: the simple title-case mapping.
fn to_title(c: char) -> String {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => "ǅ".into(),
        'Ǉ' | 'ǈ' | 'ǉ' => "ǈ".into(),
        'Ǌ' | 'ǋ' | 'ǌ' => "ǋ".into(),
        'Ǳ' | 'ǲ' | 'ǳ' => "ǲ".into(),
        _ => simple_upper(c).to_string(),
    }
}

/// Go's `unicode.ToUpper` of one rune: Rust's mapping where it is one rune, else the
/// rune itself (Go keeps `ß`, which Rust makes `SS`).
fn simple_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower` of one rune.
fn simple_lower(c: char) -> char {
    if c == 'İ' {
        return 'i';
    }
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Prometheus's `model.ParseDuration` in seconds, with its error texts.
fn parse_duration(s: &str) -> Result<f64, String> {
    if s.is_empty() {
        return Err("empty duration string".into());
    }
    let shape = regex::Regex::new(
        "^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$",
    )
    .map_err(|e| e.to_string())?;
    if s != "0" && !shape.is_match(s) {
        return Err(format!(
            "not a valid duration string: {}",
            go_quote(s, false, '"')
        ));
    }
    match model::parse_duration(s) {
        // Prometheus keeps nanoseconds in an int64: about 292 years at most.
        Some(ms) if (0..=i64::MAX / 1_000_000).contains(&ms) => Ok(ms as f64 / 1000.0),
        _ => Err("duration out of range".into()),
    }
}

/// Go's `reflect.Value.Field`-style access of `name` on `v`, with `missingkey=zero`.
fn field(v: &Value, name: &str) -> Result<Value, String> {
    Ok(match v {
        Value::Map(m) => m.get(name).cloned().unwrap_or(Value::Str(String::new())),
        Value::AnyMap(m) => m.get(name).cloned().unwrap_or(Value::Nil),
        Value::Struct(fields) => match fields.iter().find(|(n, _)| n == name) {
            Some((_, x)) => x.clone(),
            None => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    v.type_name()
                ));
            }
        },
        Value::Sample { labels, value } => match name {
            "Labels" => labels_value(labels),
            "Value" => Value::Float(*value),
            _ => {
                return Err(format!(
                    "can't evaluate field {name} in type *template.sample"
                ));
            }
        },
        Value::Time(ns) => {
            let secs = ns.div_euclid(1_000_000_000);
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            match name {
                "Unix" => Value::Int(secs),
                "UnixMilli" => Value::Int(ns.div_euclid(1_000_000)),
                "UnixMicro" => Value::Int(ns.div_euclid(1_000)),
                "UnixNano" => Value::Int(*ns),
                "Year" => Value::Int(model::civil_from_days(days).0),
                "Day" => Value::Int(i64::from(model::civil_from_days(days).2)),
                "Hour" => Value::Int(rem / 3600),
                "Minute" => Value::Int(rem / 60 % 60),
                "Second" => Value::Int(rem % 60),
                "Nanosecond" => Value::Int(ns.rem_euclid(1_000_000_000)),
                "String" => Value::Str(time_string(*ns)),
                _ => return Err(format!("can't evaluate field {name} in type *time.Time")),
            }
        }
        Value::Nil => return Err(format!("nil pointer evaluating interface {{}}.{name}")),
        other => {
            return Err(format!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            ));
        }
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
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

/// Go 1.19's `eq`: equal to any of the others; values of different kinds do not
/// compare, except that `nil` is unequal to anything else.
fn go_eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = kind(a);
    for b in others {
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
                (Value::Sample { .. }, Value::Sample { .. }) | (Value::Time(_), Value::Time(_)) => {
                    a == b
                }
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
            v = field(&v, f).or_else(|m| self.fail(a.pos, &a.text, m))?;
        }
        Ok(v)
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
            (Value::Nil | Value::Sample { .. }, Param::Sample) => true,
            (Value::Nil | Value::List(_), Param::Query) => true,
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
                        let what = match &first.kind {
                            ArgKind::Dot(fs) | ArgKind::Var(_, fs) | ArgKind::Sub(_, fs)
                                if !fs.is_empty() =>
                            {
                                return self.fail(
                                    first.pos,
                                    &first.text,
                                    format!(
                                        "{} is not a method but has arguments",
                                        fs.last().map_or("", String::as_str)
                                    ),
                                );
                            }
                            _ => first.text.clone(),
                        };
                        return self.fail(
                            first.pos,
                            &first.text,
                            format!("can't give argument to non-function {what}"),
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

    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for n in nodes {
            let depth = self.vars.len();
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
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
                    let items: Vec<(Value, Value)> = match v {
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
                    let Some(body) = self.defined.get(name) else {
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
                    self.depth += 1;
                    let result = self.nodes(body, &new_dot);
                    self.depth -= 1;
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
        let (fixed, more) = signature(name);
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
        let nil_sample =
            || "runtime error: invalid memory address or nil pointer dereference".to_owned();
        Ok(match name {
            "not" => Value::Bool(!first.truthy()),
            "eq" => Value::Bool(go_eq(&first, &args[1..])?),
            "ne" => Value::Bool(!go_eq(&first, &args[1..])?),
            "lt" => Value::Bool(go_lt(&args[0], &args[1])?),
            "le" => Value::Bool(go_lt(&args[0], &args[1])? || go_eq(&args[0], &args[1..])?),
            "gt" => Value::Bool(!(go_lt(&args[0], &args[1])? || go_eq(&args[0], &args[1..])?)),
            "ge" => Value::Bool(!go_lt(&args[0], &args[1])?),
            "len" => Value::Int(match &first {
                Value::Str(s) => s.len() as i64,
                Value::Map(m) | Value::AnyMap(m) => m.len() as i64,
                Value::List(l) => l.len() as i64,
                Value::Nil => return Err("len of untyped nil".into()),
                Value::Sample { .. } => return Err("len of type template.sample".into()),
                Value::Time(_) => return Err("len of type time.Time".into()),
                other => return Err(format!("len of type {}", other.type_name())),
            }),
            "index" => {
                let mut v = first;
                if matches!(v, Value::Nil) {
                    return Err("index of untyped nil".into());
                }
                for k in &args[1..] {
                    v = match &v {
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
                                None if matches!(v, Value::Map(_)) => Value::Str(String::new()),
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
                let (len, is_str) = match &first {
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
                match first {
                    Value::Str(s) => Value::Str(
                        String::from_utf8_lossy(&s.as_bytes()[bounds[0]..bounds[1]]).into_owned(),
                    ),
                    Value::List(l) => Value::List(l[bounds[0]..bounds[1]].to_vec()),
                    _ => Value::Nil,
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
            "humanize" => Value::Str(humanize(to_float(&first)?)),
            "humanize1024" => Value::Str(humanize1024(to_float(&first)?)),
            "humanizeDuration" => Value::Str(humanize_duration(to_float(&first)?)),
            "humanizePercentage" => Value::Str(format!("{}%", go_g(to_float(&first)? * 100.0, 4))),
            "humanizeTimestamp" => {
                let v = to_float(&first)?;
                match float_to_time(v)? {
                    Some(ns) => Value::Str(time_string(ns)),
                    None => Value::Str(go_g(v, 4)),
                }
            }
            "toTime" => match float_to_time(to_float(&first)?) {
                Ok(Some(ns)) => Value::Time(ns),
                Ok(None) => return Err("value is NaN or Inf".into()),
                Err(e) => return Err(e),
            },
            "query" => {
                let expr = str_arg(0);
                let samples = self.env.query(&expr)?;
                Value::List(samples.iter().map(|(l, v)| Value::sample(l, *v)).collect())
            }
            "first" => match first {
                Value::List(l) if !l.is_empty() => l[0].clone(),
                _ => return Err("first() called on vector with no elements".into()),
            },
            "value" => match first {
                Value::Sample { value, .. } => Value::Float(value),
                _ => return Err(nil_sample()),
            },
            "strvalue" => match first {
                Value::Sample { labels, .. } => {
                    Value::Str(labels.get("__value__").cloned().unwrap_or_default())
                }
                _ => return Err(nil_sample()),
            },
            "label" => match &args[1] {
                Value::Sample { labels, .. } => {
                    Value::Str(labels.get(&str_arg(0)).cloned().unwrap_or_default())
                }
                _ => return Err(nil_sample()),
            },
            "args" => Value::AnyMap(
                args.into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v))
                    .collect(),
            ),
            "title" => Value::Str(title(&str_arg(0))),
            "toUpper" => Value::Str(str_arg(0).chars().map(simple_upper).collect()),
            "toLower" => Value::Str(str_arg(0).chars().map(simple_lower).collect()),
            "safeHtml" => Value::Str(str_arg(0)),
            "graphLink" => Value::Str(format!(
                "/graph?g0.expr={}&g0.tab=0",
                query_escape(&str_arg(0))
            )),
            "tableLink" => Value::Str(format!(
                "/graph?g0.expr={}&g0.tab=1",
                query_escape(&str_arg(0))
            )),
            "parseDuration" => Value::Float(parse_duration(&str_arg(0))?),
            "match" => {
                let re = regex::Regex::new(&str_arg(0)).map_err(|e| e.to_string())?;
                Value::Bool(re.is_match(&str_arg(1)))
            }
            "reReplaceAll" => {
                let re = regex::Regex::new(&str_arg(0)).map_err(|e| e.to_string())?;
                Value::Str(
                    re.replace_all(&str_arg(2), str_arg(1).as_str())
                        .into_owned(),
                )
            }
            "stripPort" => {
                let s = str_arg(0);
                Value::Str(match split_host_port(&s) {
                    Some((host, _)) => host.to_owned(),
                    None => s,
                })
            }
            "stripDomain" => {
                let s = str_arg(0);
                let (host, port) = split_host_port(&s).unwrap_or((&s, ""));
                if is_ip(host) {
                    Value::Str(s.clone())
                } else {
                    let short = host.split('.').next().unwrap_or(host);
                    Value::Str(if port.is_empty() {
                        short.to_owned()
                    } else if short.contains(':') {
                        format!("[{short}]:{port}")
                    } else {
                        format!("{short}:{port}")
                    })
                }
            }
            "externalURL" => Value::Str(self.external_url.clone()),
            "pathPrefix" => Value::Str(url_path(&self.external_url)),
            "sortByLabel" => {
                let mut items = match &args[1] {
                    Value::List(l) => l.clone(),
                    _ => Vec::new(),
                };
                let key = str_arg(0);
                let label = |s: &Value| match s {
                    Value::Sample { labels, .. } => labels.get(&key).cloned().unwrap_or_default(),
                    _ => String::new(),
                };
                // Stable, as Prometheus's sort.Stable.
                items.sort_by_key(label);
                Value::List(items)
            }
            other => return Err(format!("function {other:?} not defined")),
        })
    }
}

/// The path of a URL, as Go's `url.URL.Path` gives it.
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("").to_owned()
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
        return format!("{}s", go_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let a = v.abs();
        // Go converts a float beyond int64 to int64's minimum on amd64, where
        // Prometheus is built; Rust would saturate to the maximum.
        let whole = if a < I64_LIMIT { a as i64 } else { i64::MIN };
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

impl Template {
    /// Parses `text` as an alert template, in which `$labels`, `$value`,
    /// `$externalLabels` and `$externalURL` are defined.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut builder = TreeBuilder {
            pieces: pieces(text)?.into_iter().peekable(),
            defined: BTreeMap::new(),
        };
        let mut vars: Vec<String> = ALERT_VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        let (nodes, _) = builder.nodes(0, &mut vars, false, true)?;
        Ok(Self {
            nodes,
            defined: builder.defined,
            text: text.to_owned(),
        })
    }

    /// Runs the template with `dot` as `.` and `vars` defined (`$labels`, `$value`...);
    /// the `externalURL` function returns `$externalURL`.
    pub fn execute(
        &self,
        dot: &Value,
        vars: &[(&str, Value)],
        env: &dyn Env,
    ) -> Result<String, TemplateError> {
        let external_url = vars
            .iter()
            .find_map(|(n, v)| match v {
                Value::Str(s) if *n == "externalURL" => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let mut run = Run {
            env,
            defined: &self.defined,
            vars: std::iter::once((String::new(), dot.clone()))
                .chain(vars.iter().map(|(n, v)| ((*n).to_owned(), v.clone())))
                .collect(),
            out: String::new(),
            template: None,
            depth: 0,
            external_url,
        };
        run.nodes(&self.nodes, dot)?;
        Ok(run.out)
    }
}

/// What an alert's templates see, as Prometheus gives it.
pub struct AlertData<'a> {
    /// The alerting rule's name, which Go's error messages give as `__alert_NAME`.
    pub rule: &'a str,
    /// The sample's labels (`$labels`), with `__name__` where the sample has it.
    pub labels: &'a BTreeMap<String, String>,
    /// The server's external labels (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// The server's external URL (`$externalURL`).
    pub external_url: &'a str,
    /// The alert's value (`$value`).
    pub value: f64,
}

/// The definitions Prometheus puts before an alert's template text; error columns on
/// the first line count them.
const ALERT_DEFINITIONS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Expands one of an alert's label or annotation templates: `.Labels`, `.Value`,
/// `$labels`, `$value`, `$externalLabels`, `$externalURL`. A template that fails gives
/// Prometheus's error text in its place, so that the alert still goes out.
pub fn expand(text: &str, data: &AlertData<'_>, env: &dyn Env) -> String {
    let labels = labels_value(data.labels);
    let external = labels_value(data.external_labels);
    let dot = Value::Struct(vec![
        ("Labels".to_owned(), labels.clone()),
        ("ExternalLabels".to_owned(), external.clone()),
        (
            "ExternalURL".to_owned(),
            Value::Str(data.external_url.to_owned()),
        ),
        ("Value".to_owned(), Value::Float(data.value)),
    ]);
    let vars = [
        ("labels", labels),
        ("externalLabels", external),
        ("externalURL", Value::Str(data.external_url.to_owned())),
        ("value", Value::Float(data.value)),
    ];
    let name = format!("__alert_{}", data.rule);
    match Template::parse(text).and_then(|t| t.execute(&dot, &vars, env)) {
        Ok(s) => s,
        Err(e) => format!(
            "<error expanding template: {}>",
            e.prometheus_text(&name, text, ALERT_DEFINITIONS.len())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("__name__".to_owned(), "node_up".to_owned()),
            ("node".to_owned(), "node-03".to_owned()),
            ("instance".to_owned(), "10.0.0.3:9100".to_owned()),
        ])
    }

    fn run(text: &str, value: f64) -> String {
        let labels = labels();
        let ext = BTreeMap::from([("cluster".to_owned(), "eu".to_owned())]);
        let data = AlertData {
            rule: "Test",
            labels: &labels,
            external_labels: &ext,
            external_url: "http://sky:9797/prefix",
            value,
        };
        expand(text, &data, &Fixed)
    }

    /// One template, expected output pairs: the expectations are what promtool 2.42
    /// (Go 1.19) renders for the same template and data.
    fn check(cases: &[(&str, &str)]) {
        let mut wrong = Vec::new();
        for (t, want) in cases {
            let got = run(t, 1.5);
            if got != *want {
                wrong.push(format!("{t}\n  want {want:?}\n  got  {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    struct Fixed;
    impl Env for Fixed {
        fn query(&self, expr: &str) -> Result<Samples, String> {
            match expr {
                "up" => Ok(vec![
                    (BTreeMap::from([("job".to_owned(), "b".to_owned())]), 0.0),
                    (BTreeMap::from([("job".to_owned(), "a".to_owned())]), 1.0),
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
        // A template that calls itself stops at the limit instead of the stack's end.
        let r = run(
            r#"{{ define "x" }}{{ template "x" . }}{{ end }}{{ template "x" }}"#,
            0.0,
        );
        assert!(r.contains("exceeded maximum template depth (100)"), "{r}");
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
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (-2.5, "-2.5"),
            (-0.0, "-0"),
        ] {
            assert_eq!(run("{{ $value }}", v), want, "{v}");
        }
        check(&[
            (
                "{{ $labels }}",
                "map[__name__:node_up instance:10.0.0.3:9100 node:node-03]",
            ),
            (
                "{{ . }}",
                "{map[__name__:node_up instance:10.0.0.3:9100 node:node-03] map[cluster:eu] http://sky:9797/prefix 1.5}",
            ),
            (
                "{{ range query \"up\" }}{{ . }}{{ end }}",
                "{map[job:b] 0}{map[job:a] 1}",
            ),
            ("{{ (args 1).arg5 }}", "<no value>"),
            ("{{ $labels.nothing }}|", "|"),
        ]);
    }

    #[test]
    fn html_escapes_as_go_html_escape_string() {
        check(&[
            (
                r#"{{ html "<a href=\"x\">'&'</a>" "\x00" }}"#,
                "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;\u{FFFD}",
            ),
            ("{{ html 1 2 \"x\" nil }}", "1 2x&lt;no value&gt;"),
            ("{{ \"a<b\" | html }}", "a&lt;b"),
            ("{{ html \"é ok\" }}", "é ok"),
        ]);
    }

    #[test]
    fn js_escapes_as_go_js_escape_string() {
        check(&[
            (
                r#"{{ js "<a href=\"x?y=1&z='2'\">\u0001é\\" }}"#,
                r#"\u003Ca href\u003D\"x?y\u003D1\u0026z\u003D\'2\'\"\u003E\u0001é\\"#,
            ),
            ("{{ js \"\\t\\n\\u2028\" }}", r"\u0009\u000A\u2028"),
            ("{{ js 1.5 true }}", "1.5 true"),
        ]);
    }

    #[test]
    fn urlquery_escapes_as_go_query_escape() {
        check(&[
            (
                "{{ urlquery \"a b&c=d/é~*\" 1 2 }}",
                "a+b%26c%3Dd%2F%C3%A9~%2A1+2",
            ),
            ("{{ urlquery \"A-z_0.9~\" }}", "A-z_0.9~"),
            (
                "{{ graphLink \"rate(x{a=\\\"b\\\"}[5m]) > 0\" }}",
                "/graph?g0.expr=rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29+%3E+0&g0.tab=0",
            ),
            (
                "{{ tableLink \"up == 0\" }}",
                "/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
            ),
        ]);
    }

    #[test]
    fn printf_verbs_flags_and_widths_match_go() {
        check(&[
            (
                r#"{{ printf "%5.2f|%-8s|%08.3f|%+d|%x|%X|%o|%b|%e|%E|%G|%c|%U" 3.14159 "ab" -3.5 5 255 255 8 5 1234.5 0.00012 1e21 65 65 }}"#,
                " 3.14|ab      |-003.500|+5|ff|FF|10|101|1.234500e+03|1.200000E-04|1E+21|A|U+0041",
            ),
            (
                r#"{{ printf "%d %d" 1.5 "x" }}"#,
                "%!d(float64=1.5) %!d(string=x)",
            ),
            (
                r#"{{ printf "%v %v %v %v %v" nil $value 3 "s" true }}"#,
                "<nil> 1.5 3 s true",
            ),
            (
                r#"{{ printf "%T %T %T %T %T %T" nil $value 3 "s" true $labels }}"#,
                "<nil> float64 int string bool map[string]string",
            ),
            (
                r#"{{ printf "%x %X % x %q %#q %+q" "héllo" "hi" "hi" "é\n" "a`b" "é" }}"#,
                r#"68c3a96c6c6f 6869 68 69 "é\n" "a`b" "\u00e9""#,
            ),
            (
                r#"{{ printf "%x %.2x %b" 1.5 1.5 1.5 }}"#,
                "0x1.8p+00 0x1.80p+00 6755399441055744p-52",
            ),
            (
                r#"{{ printf "%q %q %q %x %X %o %c" 1.5 65 true 1e6 -2.5 1.5 1.5 }}"#,
                "%!q(float64=1.5) 'A' %!q(bool=true) 0x1.e848p+19 -0X1.4P+01 %!o(float64=1.5) %!c(float64=1.5)",
            ),
            (
                r#"{{ printf "%v %v %v %v %v %v" 1e6 1e-5 123456.0 1e21 -0.0 0.1 }}"#,
                "1e+06 1e-05 123456 1e+21 -0 0.1",
            ),
            (
                r#"{{ printf "%5t|%-7v|%3d|%.3d|%+.3d|%x|%X|%#v|%#v|%#v" true nil 12345 7 7 "é" "\xff" "s" 3 true }}"#,
                " true|<nil>  |12345|007|+007|c3a9|EFBFBD|\"s\"|3|true",
            ),
            (
                r#"{{ printf "%*d|%-*d|%.*f" 5 1 5 2 2 3.14159 }}"#,
                "    1|2    |3.14",
            ),
            (r#"{{ printf "%[2]d %[1]d" 1 2 }}"#, "2 1"),
            (
                r#"{{ printf "%s" (args 1 "a") }}"#,
                "map[arg0:%!s(int=1) arg1:a]",
            ),
            (
                r#"{{ printf "%6.2v|%-6v|%06d|%x|% d|%+.1e|%#x|%#o" 1.5 true -42 -255 5 12345.678 255 8 }}"#,
                "   1.5|true  |-00042|-ff| 5|+1.2e+04|0xff|010",
            ),
            (
                r#"{{ printf "%s %v %d %q" nil nil nil nil }}"#,
                "%!s(<nil>) <nil> %!d(<nil>) %!q(<nil>)",
            ),
            (
                r#"{{ printf "%!" }}|{{ printf "%d" }}|{{ printf "%d %d" 1 }}|{{ printf "x" 1 2 }}|{{ printf "%z" 1 }}"#,
                "%!!(MISSING)|%!d(MISSING)|1 %!d(MISSING)|x%!(EXTRA int=1, int=2)|%!z(int=1)",
            ),
            (
                r#"{{ printf "%t %t %s" true 1 false }}"#,
                "true %!t(int=1) %!s(bool=false)",
            ),
            (
                r#"{{ printf "%5s|%-5s|%.1s|%5.1q|%05s" "abc" "é" "héllo" "abc" "ab" }}"#,
                "  abc|é    |h|  \"a\"|000ab",
            ),
            (
                r#"{{ printf "%g %g %g %g %.3g %e %.0f %f" 1e21 1e20 1e-5 123456789.0 0.0001234 0.0 2.5 -0.0 }}"#,
                "1e+21 1e+20 1e-05 1.23456789e+08 0.000123 0.000000e+00 2 -0.000000",
            ),
            (
                r#"{{ printf "%f %e %g %v %d %x %.2f %08.2f %+f % f" $value $value $value $value 5 -1 (0.0 | humanize) 3.14159 1.0 1.0 }}"#,
                "1.500000 1.500000e+00 1.5 1.5 5 -1 %!f(string=0) 00003.14 +1.000000  1.000000",
            ),
            (
                r#"{{ printf "%v|%+v|%d" $labels.node . (args 1) }}"#,
                "node-03|{Labels:map[__name__:node_up instance:10.0.0.3:9100 node:node-03] ExternalLabels:map[cluster:eu] ExternalURL:http://sky:9797/prefix Value:1.5}|map[%!d(string=arg0):1]",
            ),
            (
                r#"{{ range query "up" }}{{ printf "%v %+v %T" . . . }} {{ end }}"#,
                "&{map[job:b] 0} &{Labels:map[job:b] Value:0} *template.sample &{map[job:a] 1} &{Labels:map[job:a] Value:1} *template.sample ",
            ),
            (
                r#"{{ printf "%f %.1f %-6e| %+v %08f %x" "NaN" 1e300 -1e300 1e-300 -1.0 0.0 }}"#,
                "%!f(string=NaN) 1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160.0 -1.000000e+300| 1e-300 -1.000000 0x0p+00",
            ),
        ]);
        // Infinities and NaN, which a constant cannot spell.
        assert_eq!(
            printf(
                "%f|%5.1f|%+f|%05v|% f",
                &[
                    Value::Float(f64::NAN),
                    Value::Float(f64::INFINITY),
                    Value::Float(f64::NAN),
                    Value::Float(f64::NEG_INFINITY),
                    Value::Float(f64::INFINITY)
                ]
            ),
            "NaN| +Inf|+NaN| -Inf| Inf"
        );
    }

    #[test]
    fn print_and_println_space_as_go_sprint() {
        check(&[
            (
                r#"{{ print 1 2 "a" "b" 3 true false nil 1.5 }}"#,
                "1 2ab3 true false <nil> 1.5",
            ),
            (r#"{{ println 1 2 "a" }}"#, "1 2 a\n"),
            (
                r#"{{ print 1.5 2.5 }}|{{ print "a" 1 2 "b" }}|{{ print nil nil }}|{{ print true 1 }}"#,
                "1.5 2.5|a1 2b|<nil> <nil>|true 1",
            ),
            (
                r#"{{ println }}|{{ print }}|{{ println "a" 1 "b" }}"#,
                "\n||a 1 b\n",
            ),
        ]);
    }

    #[test]
    fn text_functions_match_go_strings() {
        check(&[
            (
                r#"{{ title "hello wORLD foo_bar baz-qux o'neil 3am éa ßx" }}"#,
                "Hello WORLD Foo_bar Baz-Qux O'Neil 3am Éa ßx",
            ),
            (
                r#"{{ title "" }}|{{ title "élan vital" }}|{{ title "a.b,c;d(e)f" }}|{{ title "x_y 1a ǆa" }}|{{ title "hello\tworld\nnew" }}|{{ title "don't stop" }}|{{ title "a$b" }}|{{ title "a+b=c" }}"#,
                "|Élan Vital|A.B,C;D(E)F|X_y 1a ǅa|Hello\tWorld\nNew|Don'T Stop|A$B|A+B=C",
            ),
            (
                r#"{{ toUpper "ßtraße ǆ" }}|{{ toLower "İSTANBUL ΣΑΣ" }}"#,
                "ßTRAßE Ǆ|istanbul σασ",
            ),
            (
                r#"{{ stripPort "a:b" }}|{{ stripPort "[::1]:80" }}|{{ stripPort "::1" }}|{{ stripPort "host:" }}|{{ stripPort "host" }}|{{ stripPort "a:b:c" }}|{{ stripPort "[a]" }}"#,
                "a|::1|::1|host|host|a:b:c|[a]",
            ),
            (
                r#"{{ stripDomain "h.example.com:9100" }}|{{ stripDomain "10.0.0.1:80" }}|{{ stripDomain "[::1]:80" }}|{{ stripDomain "a.b" }}|{{ stripDomain "a.b:" }}|{{ stripDomain "::1" }}"#,
                "h:9100|10.0.0.1:80|[::1]:80|a|a|::1",
            ),
            (
                r#"{{ slice "hello" 1 3 }}|{{ slice "hello" 1 }}|{{ index "abc" 1 }}|{{ len "héllo" }}"#,
                "el|ello|98|6",
            ),
            (r#"{{ reReplaceAll "node-0*" "n" $labels.node }}"#, "n3"),
            (
                r#"{{ if match `^node-\d+$` $labels.node }}a node{{ end }}"#,
                "a node",
            ),
            (
                r#"{{ externalURL }}|{{ pathPrefix }}"#,
                "http://sky:9797/prefix|/prefix",
            ),
        ]);
    }

    #[test]
    fn numbers_durations_and_times_match_prometheus() {
        check(&[
            ("{{ $value | humanize }}", "1.5"),
            (
                "{{ humanize 1234567.0 }}|{{ humanize 0.00123 }}|{{ humanize 0 }}",
                "1.235M|1.23m|0",
            ),
            ("{{ humanize1024 134217728.0 }}", "128Mi"),
            (
                r#"{{ parseDuration "1h30m" }}|{{ parseDuration "0" }}|{{ parseDuration "1ms" }}|{{ parseDuration "400d" }}|{{ parseDuration "1y2w3d4h5m6s7ms" }}"#,
                "5400|0|0.001|3.456e+07|3.3019506007e+07",
            ),
            (
                r#"{{ humanizeDuration -0.0 }}|{{ humanizeDuration 0.001 }}|{{ humanizeDuration 34560000 }}|{{ humanizeDuration -90 }}|{{ humanizeDuration 1e-30 }}|{{ humanizeDuration -0.5 }}"#,
                "-0s|1ms|400d 0h 0m 0s|-1m 30s|1e-06ys|-500ms",
            ),
            (
                r#"{{ humanize1024 -0.0 }}|{{ humanize1024 1e30 }}|{{ humanize1024 -2048 }}|{{ humanizePercentage -0.0 }}|{{ humanizePercentage "Inf" }}"#,
                "-0|8.272e+05Yi|-2ki|-0%|+Inf%",
            ),
            (
                r#"{{ humanizeTimestamp 1435065584.128 }}|{{ toTime 1435065584.128 }}|{{ (toTime 1435065584.128).Unix }}|{{ printf "%v %T" (toTime 1) (toTime 1) }}"#,
                "2015-06-23 13:19:44.128 +0000 UTC|2015-06-23 13:19:44.128 +0000 UTC|1435065584|1970-01-01 00:00:01 +0000 UTC *time.Time",
            ),
            (
                r#"{{ humanizeTimestamp -1.5 }}|{{ humanizeTimestamp -0.0015 }}|{{ humanizeTimestamp "NaN" }}"#,
                "1969-12-31 23:59:58.5 +0000 UTC|1969-12-31 23:59:59.999 +0000 UTC|NaN",
            ),
        ]);
    }

    #[test]
    fn comparisons_and_logic_follow_go_types() {
        check(&[
            (
                r#"{{ eq "a" "b" "a" }}|{{ lt "a" "b" }}|{{ eq true true }}|{{ lt 1 2 }}|{{ lt $value $value }}|{{ eq $value 1.5 }}|{{ lt (parseDuration "1m") 61.0 }}"#,
                "true|true|true|true|false|true|true",
            ),
            ("{{ eq nil nil }}", "true"),
            (
                r#"{{ and 0 (first (query "nothing")) }}|{{ or 1 (first (query "nothing")) }}"#,
                "0|1",
            ),
            (
                r#"{{ and 1 0 }}|{{ or 0 "" "x" }}|{{ not 0 }}|{{ and 1 "a" }}"#,
                "0|x|true|a",
            ),
            (
                r#"{{ index $labels "node" }}|{{ index $labels "nope" }}|{{ index (args 1 2) "arg1" }}|{{ len $labels }}|{{ len (query "up") }}"#,
                "node-03||2|3|2",
            ),
            (
                r#"{{ range $i, $x := query "up" }}{{ if eq $i 0 }}{{ continue }}{{ end }}{{ $x.Value }}{{ break }}{{ end }}ok"#,
                "1ok",
            ),
            (
                r#"{{ range sortByLabel "job" (query "up") }}{{ label "job" . }}{{ end }}"#,
                "ab",
            ),
            (
                r#"{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" 5 }}{{ block "y" "b" }}<{{ . }}>{{ end }}{{ template "y" 3 }}"#,
                "[5]<b><3>",
            ),
            (
                "{{ if gt $value 2.0 }}big{{ else if gt $value 1.0 }}mid{{ else }}small{{ end }}",
                "mid",
            ),
            ("x {{- if true -}} yes {{- end }} {{/* c */}}y", "xyes y"),
        ]);
    }

    #[test]
    fn run_time_errors_read_as_prometheus_writes_them() {
        let e = |at: &str, msg: &str| {
            format!(
                "<error expanding template: error executing template __alert_Test: template: __alert_Test:1:{at}: executing \"__alert_Test\" at <{msg}>"
            )
        };
        check(&[
            (
                "{{ gt $value 1 }}",
                &e(
                    "115",
                    "gt $value 1>: error calling gt: incompatible types for comparison",
                ),
            ),
            (
                "{{ .Foo }}",
                &e(
                    "115",
                    ".Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }",
                ),
            ),
            (
                "{{ $labels.foo.bar }}",
                &e(
                    "122",
                    "$labels.foo.bar>: can't evaluate field bar in type string",
                ),
            ),
            ("{{ title 3 }}", &e("121", "3>: expected string; found 3")),
            (
                "{{ title $value }}",
                &e(
                    "121",
                    "$value>: wrong type for value; expected string; got float64",
                ),
            ),
            (
                r#"{{ first (query "nothing") }}"#,
                &e(
                    "115",
                    "first (query \"nothing\")>: error calling first: first() called on vector with no elements",
                ),
            ),
            (
                "{{ range 3 }}{{ . }}{{ end }}",
                &e("121", "3>: range can't iterate over 3"),
            ),
            (
                r#"{{ template "nope" }}"#,
                &e(
                    "124",
                    "{{template \"nope\"}}>: template \"nope\" not defined",
                ),
            ),
            (
                "{{ lt true false }}",
                &e(
                    "115",
                    "lt true false>: error calling lt: invalid type for comparison",
                ),
            ),
            (
                "{{ eq $labels $labels }}",
                &e(
                    "115",
                    "eq $labels $labels>: error calling eq: non-comparable type map[__name__:node_up instance:10.0.0.3:9100 node:node-03]: map[string]string",
                ),
            ),
            (
                "{{ call 1 }}",
                &e(
                    "115",
                    "call 1>: error calling call: non-function of type int",
                ),
            ),
            (
                "{{ index 1 2 }}",
                &e(
                    "115",
                    "index 1 2>: error calling index: can't index item of type int",
                ),
            ),
            (
                r#"{{ humanize "abc" }}"#,
                &e(
                    "115",
                    "humanize \"abc\">: error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax",
                ),
            ),
            (
                "{{ humanize true }}",
                &e(
                    "115",
                    "humanize true>: error calling humanize: can't convert bool to float",
                ),
            ),
            (
                r#"{{ parseDuration "1.5h" }}"#,
                &e(
                    "115",
                    "parseDuration \"1.5h\">: error calling parseDuration: not a valid duration string: \"1.5h\"",
                ),
            ),
            (
                r#"{{ parseDuration "" }}"#,
                &e(
                    "115",
                    "parseDuration \"\">: error calling parseDuration: empty duration string",
                ),
            ),
            (
                r#"{{ parseDuration "1000000y" }}"#,
                &e(
                    "115",
                    "parseDuration \"1000000y\">: error calling parseDuration: duration out of range",
                ),
            ),
            (
                "{{ humanizeTimestamp 1e10 }}",
                &e(
                    "115",
                    "humanizeTimestamp 1e10>: error calling humanizeTimestamp: 1e+10 cannot be represented as a nanoseconds timestamp since it overflows int64",
                ),
            ),
        ]);
    }

    #[test]
    fn broken_templates_fail_to_parse_as_go_says() {
        for (t, want) in [
            ("{{ $value ", "line 1: unclosed action"),
            ("{{ if $value }}x", "line 1: unexpected EOF"),
            ("{{ end }}", "line 1: unexpected {{end}}"),
            (
                "{{ nosuch $value }}",
                "line 1: function \"nosuch\" not defined",
            ),
            ("{{ \"abc }}", "line 1: unterminated quoted string"),
            (
                "a\n{{ $undefined }}",
                "line 2: undefined variable \"$undefined\"",
            ),
            ("{{ break }}", "line 1: {{break}} outside {{range}}"),
            ("{{ 1e400 }}", "line 1: illegal number syntax: \"1e400\""),
            (
                "{{ define \"x\" }}{{ $labels }}{{ end }}",
                "line 1: undefined variable \"$labels\"",
            ),
        ] {
            let e = Template::parse(t).unwrap_err().to_string();
            assert_eq!(e, want, "{t}");
        }
    }
}
