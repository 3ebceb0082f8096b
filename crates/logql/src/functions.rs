//! The functions `line_format` and `label_format` templates may call, as Loki's
//! `pkg/logql/log/fmt.go` offers them: Go's `strings` functions (`ToUpper`, `Replace`, ...),
//! the sprig functions Loki picks (`lower`, `trunc`, `default`, `regexReplaceAll`, `add`,
//! ...), and Loki's own (`__line__`, `__timestamp__`, `unixEpoch`, `alignLeft`, `count`,
//! ...). Documented at <https://grafana.com/docs/loki/latest/query/template_functions/>.
//!
//! Not here (a template calling them fails to parse, naming the function): `toDate` and
//! `toDateInZone` (they need Go's time layout parser).

use gotemplate::{Functions, Param, Signature, Template, Value};
use regex::Regex;

/// The names of the template functions.
pub const TEMPLATE_FUNCTIONS: &[&str] = &[
    "__line__",
    "__timestamp__",
    "ToLower",
    "ToUpper",
    "Replace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "TrimSpace",
    "lower",
    "upper",
    "title",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "indent",
    "nindent",
    "replace",
    "repeat",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "default",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "count",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "fromJson",
    "date",
    "now",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "unixToTime",
    "duration",
    "duration_seconds",
    "bytes",
    "alignLeft",
    "alignRight",
    "b64enc",
    "b64dec",
    "urlencode",
    "urldecode",
];

/// The template functions, for one line: `__line__` and `__timestamp__` read it.
pub(crate) struct LokiFunctions<'a> {
    pub(crate) line: &'a str,
    pub(crate) ts: i64,
}

/// Parses a `line_format`/`label_format` template with these functions.
pub(crate) fn template(text: &str) -> Result<Template, String> {
    let mut t = Template::new();
    let funcs = LokiFunctions { line: "", ts: 0 };
    t.parse("", text, &funcs, &[]).map_err(|e| e.to_string())?;
    Ok(t)
}

const ANY: Param = Param::Any;

fn sig(fixed: &'static [Param], variadic: bool) -> Option<Signature> {
    Some(Signature {
        fixed,
        variadic: variadic.then_some(ANY),
    })
}

fn text(v: &Value) -> String {
    match v.underlying() {
        Value::Str(s) => s.clone(),
        Value::Nil => String::new(),
        other => gotemplate::sprint(std::slice::from_ref(other)),
    }
}

/// sprig's `toInt64`: numbers, numeric strings (else 0), booleans.
fn int(v: &Value) -> i64 {
    match v.underlying() {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Str(s) => s
            .trim()
            .parse::<i64>()
            .unwrap_or_else(|_| s.trim().parse::<f64>().map_or(0, |f| f as i64)),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// sprig's `toFloat64`.
fn float(v: &Value) -> f64 {
    match v.underlying() {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

fn chars_range(s: &str, start: i64, end: i64) -> String {
    let v: Vec<char> = s.chars().collect();
    let len = v.len() as i64;
    let start = start.clamp(0, len);
    let end = if end < 0 || end > len {
        len
    } else {
        end.max(start)
    };
    v[start as usize..end as usize].iter().collect()
}

fn json_value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(json_value).collect()),
        serde_json::Value::Object(o) => {
            Value::AnyMap(o.into_iter().map(|(k, v)| (k, json_value(v))).collect())
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64enc(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64dec(input: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in input.trim_end_matches('=').bytes() {
        let v = B64.iter().position(|b| *b == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

fn url_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        format!(
                            "invalid URL escape {:?}",
                            s.get(i..(i + 3).min(s.len())).unwrap_or("%")
                        )
                    })?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Loki's `unixToTime`: an epoch in seconds, milliseconds, microseconds or nanoseconds,
/// told apart by its number of digits.
fn unix_to_time(s: &str) -> Result<i64, String> {
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("unable to parse epoch {s:?}"))?;
    Ok(match s.trim().len() {
        0..=10 => n.saturating_mul(1_000_000_000),
        11..=13 => n.saturating_mul(1_000_000),
        14..=16 => n.saturating_mul(1_000),
        _ => n,
    })
}

fn time_ns(v: &Value) -> Result<i64, String> {
    match v.underlying() {
        Value::Time(ns) => Ok(*ns),
        other => Err(format!(
            "wrong type for value; expected time.Time; got {}",
            other.type_name()
        )),
    }
}

impl Functions for LokiFunctions<'_> {
    fn signature(&self, name: &str) -> Option<Signature> {
        const A1: &[Param] = &[ANY];
        const A2: &[Param] = &[ANY, ANY];
        const A3: &[Param] = &[ANY, ANY, ANY];
        const A4: &[Param] = &[ANY, ANY, ANY, ANY];
        match name {
            "__line__" | "__timestamp__" | "now" => sig(&[], false),
            "ToLower" | "ToUpper" | "TrimSpace" | "lower" | "upper" | "title" | "int"
            | "float64" | "ceil" | "floor" | "fromJson" | "unixEpoch" | "unixEpochMillis"
            | "unixEpochNanos" | "unixToTime" | "duration" | "duration_seconds" | "bytes"
            | "b64enc" | "b64dec" | "urlencode" | "urldecode" => sig(A1, false),
            "Trim" | "TrimLeft" | "TrimRight" | "TrimPrefix" | "TrimSuffix" | "trunc"
            | "contains" | "hasPrefix" | "hasSuffix" | "indent" | "nindent" | "repeat"
            | "trimAll" | "trimPrefix" | "trimSuffix" | "count" | "sub" | "div" | "mod"
            | "date" | "alignLeft" | "alignRight" => sig(A2, false),
            "substr" | "replace" | "regexReplaceAll" | "regexReplaceAllLiteral" => sig(A3, false),
            "Replace" => sig(A4, false),
            "trim" => sig(A1, false),
            "round" => sig(A2, true),
            "default" | "add" | "mul" | "addf" | "subf" | "mulf" | "divf" | "max" | "min"
            | "maxf" | "minf" => sig(A1, true),
            _ => None,
        }
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let s = |i: usize| args.get(i).map(text).unwrap_or_default();
        let i = |n: usize| args.get(n).map_or(0, int);
        let f = |n: usize| args.get(n).map_or(0.0, float);
        let out = match name {
            "__line__" => self.line.to_owned(),
            "__timestamp__" => return Ok(Value::Time(self.ts)),
            "now" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as i64);
                return Ok(Value::Time(now));
            }
            "ToLower" | "lower" => gotemplate::strings::to_lower(&s(0)),
            "ToUpper" | "upper" => gotemplate::strings::to_upper(&s(0)),
            "title" => gotemplate::strings::title(&s(0)),
            "TrimSpace" | "trim" => s(0).trim().to_owned(),
            "Trim" => s(0).trim_matches(|c| s(1).contains(c)).to_owned(),
            "TrimLeft" => s(0).trim_start_matches(|c| s(1).contains(c)).to_owned(),
            "TrimRight" => s(0).trim_end_matches(|c| s(1).contains(c)).to_owned(),
            "trimAll" => s(1).trim_matches(|c| s(0).contains(c)).to_owned(),
            "TrimPrefix" => s(0)
                .strip_prefix(s(1).as_str())
                .map_or_else(|| s(0), str::to_owned),
            "TrimSuffix" => s(0)
                .strip_suffix(s(1).as_str())
                .map_or_else(|| s(0), str::to_owned),
            "trimPrefix" => s(1)
                .strip_prefix(s(0).as_str())
                .map_or_else(|| s(1), str::to_owned),
            "trimSuffix" => s(1)
                .strip_suffix(s(0).as_str())
                .map_or_else(|| s(1), str::to_owned),
            "contains" => return Ok(Value::Bool(s(1).contains(&s(0)))),
            "hasPrefix" => return Ok(Value::Bool(s(1).starts_with(&s(0)))),
            "hasSuffix" => return Ok(Value::Bool(s(1).ends_with(&s(0)))),
            "Replace" => {
                let n = i(3);
                if n < 0 {
                    s(0).replace(&s(1), &s(2))
                } else {
                    s(0).replacen(&s(1), &s(2), n as usize)
                }
            }
            "replace" => s(2).replace(&s(0), &s(1)),
            "trunc" => {
                let (n, v) = (i(0), s(1));
                let len = v.chars().count() as i64;
                if n < 0 {
                    chars_range(&v, len + n, len)
                } else {
                    chars_range(&v, 0, n)
                }
            }
            "substr" => chars_range(&s(2), i(0), i(1)),
            "repeat" => s(1).repeat(i(0).clamp(0, 10_000) as usize),
            "indent" | "nindent" => {
                let pad = " ".repeat(i(0).clamp(0, 1_000) as usize);
                let body = format!("{pad}{}", s(1).replace('\n', &format!("\n{pad}")));
                if name == "nindent" {
                    format!("\n{body}")
                } else {
                    body
                }
            }
            "default" => {
                let given = args.get(1).filter(|v| v.truthy());
                return Ok(given.cloned().unwrap_or_else(|| args[0].clone()));
            }
            "regexReplaceAll" | "regexReplaceAllLiteral" => {
                let re = Regex::new(&s(0)).map_err(|e| e.to_string())?;
                if name == "regexReplaceAll" {
                    re.replace_all(&s(1), s(2).as_str()).into_owned()
                } else {
                    re.replace_all(&s(1), regex::NoExpand(&s(2))).into_owned()
                }
            }
            "count" => {
                let re = Regex::new(&s(0)).map_err(|e| e.to_string())?;
                return Ok(Value::Int(re.find_iter(&s(1)).count() as i64));
            }
            "int" => return Ok(Value::Int(i(0))),
            "float64" => return Ok(Value::Float(f(0))),
            "add" => return Ok(Value::Int(args.iter().map(int).fold(0, i64::wrapping_add))),
            "mul" => return Ok(Value::Int(args.iter().map(int).fold(1, i64::wrapping_mul))),
            "sub" => return Ok(Value::Int(i(0).wrapping_sub(i(1)))),
            "div" | "mod" => {
                if i(1) == 0 {
                    return Err("runtime error: integer divide by zero".into());
                }
                return Ok(Value::Int(if name == "div" {
                    i(0).wrapping_div(i(1))
                } else {
                    i(0).wrapping_rem(i(1))
                }));
            }
            "addf" => return Ok(Value::Float(args.iter().map(float).sum())),
            "mulf" => return Ok(Value::Float(args.iter().map(float).product())),
            "subf" => {
                return Ok(Value::Float(
                    args.iter().skip(1).map(float).fold(f(0), |a, b| a - b),
                ));
            }
            "divf" => {
                return Ok(Value::Float(
                    args.iter().skip(1).map(float).fold(f(0), |a, b| a / b),
                ));
            }
            "max" => return Ok(Value::Int(args.iter().map(int).max().unwrap_or(0))),
            "min" => return Ok(Value::Int(args.iter().map(int).min().unwrap_or(0))),
            "maxf" => {
                return Ok(Value::Float(
                    args.iter().map(float).fold(f64::NEG_INFINITY, f64::max),
                ));
            }
            "minf" => {
                return Ok(Value::Float(
                    args.iter().map(float).fold(f64::INFINITY, f64::min),
                ));
            }
            "ceil" => return Ok(Value::Float(f(0).ceil())),
            "floor" => return Ok(Value::Float(f(0).floor())),
            "round" => {
                // sprig's round(value, places, roundOn = .5).
                let places = i(1).clamp(0, 15) as i32;
                let round_on = if args.len() > 2 { f(2) } else { 0.5 };
                let pow = 10f64.powi(places);
                let digit = f(0) * pow;
                let (whole, frac) = (digit.trunc(), digit.fract());
                let r = if frac >= round_on { whole + 1.0 } else { whole };
                return Ok(Value::Float(r / pow));
            }
            "fromJson" => {
                let v: serde_json::Value =
                    serde_json::from_str(&s(0)).map_err(|e| e.to_string())?;
                return Ok(json_value(v));
            }
            "date" => gotemplate::timefmt::format(time_ns(&args[1])?, &s(0)),
            "unixEpoch" => time_ns(&args[0])?.div_euclid(1_000_000_000).to_string(),
            "unixEpochMillis" => time_ns(&args[0])?.div_euclid(1_000_000).to_string(),
            "unixEpochNanos" => time_ns(&args[0])?.to_string(),
            "unixToTime" => return unix_to_time(&s(0)).map(Value::Time),
            "duration" | "duration_seconds" => {
                let v = s(0);
                let ns = crate::lexer::parse_duration(v.trim())
                    .filter(|_| !v.trim().ends_with(['d', 'w', 'y']))
                    .ok_or_else(|| format!("time: invalid duration {v:?}"))?;
                return Ok(Value::Float(ns as f64 / 1e9));
            }
            "bytes" => {
                let v = s(0);
                let b = crate::lexer::parse_bytes(&v)
                    .ok_or_else(|| format!("unhandled size name: {v}"))?;
                return Ok(Value::Float(b as f64));
            }
            "alignLeft" | "alignRight" => {
                let n = i(0).clamp(0, 10_000) as usize;
                let v: Vec<char> = s(1).chars().collect();
                if v.len() >= n {
                    v[..n].iter().collect()
                } else if name == "alignLeft" {
                    format!("{}{}", s(1), " ".repeat(n - v.len()))
                } else {
                    format!("{}{}", " ".repeat(n - v.len()), s(1))
                }
            }
            "b64enc" => b64enc(s(0).as_bytes()),
            "b64dec" => b64dec(&s(0)).ok_or("illegal base64 data")?,
            "urlencode" => gotemplate::query_escape(&s(0)),
            "urldecode" => url_decode(&s(0))?,
            _ => return Err(format!("function {name:?} not defined")),
        };
        Ok(Value::Str(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(t: &str, line: &str) -> String {
        let tmpl = template(t).expect("parses");
        let funcs = LokiFunctions {
            line,
            ts: 1_700_000_000_123_000_000,
        };
        let dot = Value::Map(
            [("path".to_owned(), Value::Str("/a/b/".into()))]
                .into_iter()
                .collect(),
        );
        tmpl.execute("", &dot, &[], &funcs, gotemplate::Escaping::Text)
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    /// Each function's example from https://grafana.com/docs/loki/latest/query/template_functions/
    #[test]
    fn documented_examples() {
        let cases = [
            (r#"{{ alignLeft 5 "hello world"}}"#, "hello"),
            (r#"{{ alignRight 5 "hi"}}"#, "   hi"),
            (
                r#"{{ b64enc "hello" }}|{{ b64dec "aGVsbG8=" }}"#,
                "aGVsbG8=|hello",
            ),
            (r#"{{ default "-" "" }}|{{ default "-" "foo" }}"#, "-|foo"),
            (
                r#"{{ lower "HELLO" }} {{ upper "hello" }} {{ title "hello world" }}"#,
                "hello HELLO Hello World",
            ),
            (r#"{{ repeat 3 "hello" }}"#, "hellohellohello"),
            (
                r#"{{ replace "hello" "world" "hello world" }}"#,
                "world world",
            ),
            (
                r#"{{ substr 0 5 "hello world" }}|{{ substr 6 11 "hello world" }}"#,
                "hello|world",
            ),
            (
                r#"{{ trim "   hello    " }}|{{ trimAll "$" "$5.00" }}"#,
                "hello|5.00",
            ),
            (
                r#"{{ trimPrefix "-" "-hello" }}|{{ trimSuffix "-" "hello-" }}"#,
                "hello|hello",
            ),
            (
                r#"{{ .path | trimAll "/" }}|{{ .path | trimPrefix "/" }}"#,
                "a/b|a/b/",
            ),
            (
                r#"{{ trunc 5 "hello world" }}|{{ trunc -5 "hello world" }}"#,
                "hello|world",
            ),
            (r#"{{ if contains "he" "hello" }}yes{{end}}"#, "yes"),
            (r#"{{ if hasPrefix "he" "hello" }}yes{{end}}"#, "yes"),
            (
                r#"{{ add 3 2 5 }} {{ sub 5 2 }} {{ mul 5 2 3 }} {{ div 10 2 }} {{ mod 10 3 }}"#,
                "10 3 30 5 1",
            ),
            (
                r#"{{ addf 3.5 2 5 }} {{ subf 5.5 2 1.5 }} {{ mulf 5.5 2 2.5 }} {{ divf 10 2 4 }}"#,
                "10.5 2 27.5 1.25",
            ),
            (
                r#"{{ max 1 2 3 }} {{ min 1 2 3 }} {{ maxf 1 2.5 3 }} {{ minf 1 2.5 3 }}"#,
                "3 1 3 1",
            ),
            (
                r#"{{ ceil 123.001 }} {{ floor 123.9999 }} {{ round 123.555555 3 }}"#,
                "124 123 123.556",
            ),
            (r#"{{ "3.5" | float64 }} {{ "3" | int }}"#, "3.5 3"),
            (r#"{{ count "a|b" "abab" }} {{ count "o" "foo" }}"#, "4 2"),
            (r#"{{ regexReplaceAll "(a*)bc" "aaabc" "${1}a" }}"#, "aaaa"),
            (
                r#"{{ regexReplaceAllLiteral "(ts=)" "ts=1" "timestamp=" }}"#,
                "timestamp=1",
            ),
            (r#"{{ (fromJson "{\"foo\": 55}").foo }}"#, "55"),
            (
                r#"{{ __timestamp__ | unixEpoch }} {{ __timestamp__ | unixEpochMillis }}"#,
                "1700000000 1700000000123",
            ),
            (
                r#"{{ __timestamp__ | date "2006-01-02 15:04:05.000" }}"#,
                "2023-11-14 22:13:20.123",
            ),
            (r#"{{ unixToTime "1679577215" | unixEpoch }}"#, "1679577215"),
            (r#"{{ duration "1m30s" }} {{ bytes "2KiB" }}"#, "90 2048"),
            (
                r#"{{ urlencode "a b&c" }}|{{ urldecode "a+b%26c" }}"#,
                "a+b%26c|a b&c",
            ),
            (r#"{{ __line__ | count "XYZ" }}"#, "2"),
            (r#"{{ indent 2 "a\nb" }}"#, "  a\n  b"),
        ];
        let mut failures = Vec::new();
        for (t, want) in cases {
            let got = run(t, "XYZ and XYZ");
            if got != want {
                failures.push(format!("{t}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
