//! Go's `fmt` printing for the values templates have: `%v`, `printf` with every verb
//! and flag, floats as Go formats them, Go's quoting, and the escapers of `html`, `js`
//! and `urlquery`.

use std::fmt::Write as _;

use crate::value::{Value, time_string};

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
            (Value::Ptr(inner), 'v' | 's' | 'x' | 'X' | 'q')
                if !self.f.sharp_v && matches!(**inner, Value::Time(_)) =>
            {
                self.print_arg(inner, verb);
            }
            _ => self.print_value(v, verb, 0),
        }
    }

    /// Go's `printValue`: a value `depth` levels inside the operand.
    fn print_value(&mut self, shown: &Value, verb: char, depth: usize) {
        // A named type behaves as its underlying value but keeps its name for `%#v`.
        let v = shown.underlying();
        match v {
            Value::Nil => {
                if verb == 'v' || depth > 0 {
                    self.buf.push_str("<nil>");
                } else {
                    self.bad_verb(shown, verb);
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(shown, verb),
            },
            Value::Int(i) => self.fmt_int(*i, verb, shown),
            Value::Float(x) => self.fmt_float(*x, verb, shown),
            Value::Str(s) => match verb {
                'v' | 's' | 'x' | 'X' | 'q' => self.fmt_string(s, verb),
                _ => self.bad_verb(shown, verb),
            },
            Value::Map(m) | Value::AnyMap(m) => {
                if self.f.sharp_v {
                    self.buf.push_str(&shown.type_name());
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
                    self.buf.push_str(&shown.type_name());
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
            Value::Ptr(inner) => {
                if let Value::Time(ns) = **inner {
                    let s = time_string(ns);
                    self.fmt_string(&s, 'v');
                    return;
                }
                if depth > 0 {
                    // Go prints a pointer inside a container as its address, which
                    // differs from run to run; this stands in for it.
                    self.buf.push_str("0xc000010000");
                    return;
                }
                self.buf.push('&');
                self.print_value(inner, verb, depth + 1);
            }
            Value::Struct(fields) => {
                if self.f.sharp_v {
                    self.buf.push_str(&shown.type_name());
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
            Value::Named(..) => {}
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
pub fn is_print(c: char) -> bool {
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
pub fn go_quote(s: &str, ascii: bool, quote: char) -> String {
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
pub(crate) fn escaper_text(args: &[Value]) -> String {
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
            Value::Ptr(inner) => p.print_arg(inner, 'v'),
            _ => p.print_arg(a, 'v'),
        }
        prev_string = is_string;
    }
    p.buf
}
