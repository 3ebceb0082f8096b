//! The `.test` script language of Prometheus's PromQL acceptance suite: parsing.
//!
//! A script is a sequence of commands; indented lines belong to the command above them:
//!
//! ```text
//! load 5m                                   # samples every 5 minutes from t = 0
//!     http_requests{job="api"} 0+10x10      # 0, 10, ..., 100
//!     other 1 _ stale 3x2                   # 1, gap, staleness marker, 3, 3, 3
//!
//! eval instant at 50m sum(http_requests)    # the expected result follows
//!     {} 100
//!
//! eval range from 0 to 10m step 5m rate(http_requests[5m])
//!     expect no_warn
//!     {job="api"} _ 0.0333 0.0333
//!
//! clear
//! ```
//!
//! Value sequences expand as upstream's: `a+bxn` is the `n + 1` values `a, a+b, ... a+nb`
//! (`a-bxn` counts down), `axn` repeats `a` `n + 1` times, `_` is a missing sample and `_xn`
//! `n` of them, `stale` is the staleness marker. Native histograms (`{{...}}`) are kept as
//! text: the engine does not evaluate them yet. `expect` lines state what else must hold:
//! `fail` (with `msg:` or `regex:`), `ordered`, `warn`/`no_warn`, `info`/`no_info`,
//! `string "..."`, and `range vector from A to B step S`.

use model::{Labels, LabelsBuilder, METRIC_NAME, parse_duration};

/// A parsed script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The commands, in order.
    pub commands: Vec<Command>,
}

/// One command of a script.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `load <interval>` (or `load_with_nhcb`) and its series.
    Load(Load),
    /// `clear`: remove every series.
    Clear {
        /// The 1-based line.
        line: usize,
    },
    /// `eval ...` or `eval_fail ...` and its expectations.
    Eval(Box<Eval>),
}

/// A `load` command.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The 1-based line.
    pub line: usize,
    /// Milliseconds between consecutive values; the first is at time 0.
    pub interval: i64,
    /// `load_with_nhcb`: classic histograms are also loaded as native ones.
    pub with_nhcb: bool,
    /// The series and their values.
    pub series: Vec<(Labels, Vec<Value>)>,
    /// Start timestamps of series (`name{...}@st` lines): per position, the start time
    /// relative to the sample's time in ms, or `None` for `_`.
    pub start_times: Vec<(Labels, Vec<Option<i64>>)>,
}

/// One position of a value sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A float sample.
    Float(f64),
    /// No sample (`_`).
    Missing,
    /// The staleness marker (`stale`).
    Stale,
    /// A native histogram, as written between `{{` and `}}`.
    Histogram(String),
}

/// When an expression is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalAt {
    /// An instant query at a time (ms).
    Instant(i64),
    /// A range query from `start` to `end` every `step` (ms).
    Range {
        /// Start time.
        start: i64,
        /// End time.
        end: i64,
        /// Step.
        step: i64,
    },
}

/// What an annotation expectation says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Annotation {
    /// Not stated: anything goes.
    #[default]
    Unstated,
    /// There must be some (`expect warn`): each line's message, or any if it gives none,
    /// must be among them, and each of them must be some line's.
    Expected(Vec<Option<Matcher>>),
    /// There must be none (`expect no_warn`).
    Absent,
}

impl Annotation {
    /// Adds an `expect` line.
    fn expect(&mut self, m: Option<Matcher>) {
        match self {
            Annotation::Expected(lines) => lines.push(m),
            _ => *self = Annotation::Expected(vec![m]),
        }
    }
}

/// A message expectation: exact or by regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// `msg: <text>`
    Message(String),
    /// `regex: <pattern>`
    Regex(String),
}

/// The expected result of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    /// Series with a value each (instant) or a value sequence (range); a scalar result is
    /// one series with no labels written as a bare number.
    Series(Vec<(Labels, Vec<Value>)>),
    /// A scalar: a bare number line.
    Scalar(f64),
    /// `expect string "..."`.
    String(String),
    /// `expect range vector from A to B step S` and the series' values at those times.
    RangeVector {
        /// First timestamp (ms).
        from: i64,
        /// Last timestamp (ms).
        to: i64,
        /// Step (ms).
        step: i64,
        /// The series.
        series: Vec<(Labels, Vec<Value>)>,
    },
}

/// An `eval` command.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// The 1-based line.
    pub line: usize,
    /// The PromQL expression.
    pub expr: String,
    /// When to evaluate it.
    pub at: EvalAt,
    /// `eval_fail` or `expect fail`: the evaluation must fail, optionally so.
    pub fail: Option<Option<Matcher>>,
    /// `expect ordered`: series order matters.
    pub ordered: bool,
    /// `expect warn` / `no_warn`.
    pub warn: Annotation,
    /// `expect info` / `no_info`.
    pub info: Annotation,
    /// The expected result (empty series for none).
    pub expected: Expected,
}

/// A script does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ScriptError> {
    Err(ScriptError {
        line,
        message: message.into(),
    })
}

/// Parses a time in an eval line: a duration from 0, or plain seconds.
fn parse_time(s: &str) -> Option<i64> {
    parse_duration(s).or_else(|| {
        s.parse::<f64>()
            .ok()
            .map(|secs| (secs * 1000.0).round() as i64)
    })
}

/// Parses a float as PromQL writes them (`Inf`, `-inf`, `NaN` in any case, hex, exponents).
pub fn parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let (sign, body) = match lower.strip_prefix('-') {
        Some(b) => (-1.0, b),
        None => (1.0, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    match body {
        "inf" => Some(sign * f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ if body.starts_with("0x") => i64::from_str_radix(&body[2..], 16)
            .ok()
            .map(|v| sign * v as f64),
        _ if body.starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
            body.parse::<f64>().ok().map(|v| sign * v)
        }
        _ => None,
    }
}

/// Splits a series line into its labels part and the rest: `name{a="b"} values`.
fn split_series(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b':')) {
        i += 1;
    }
    if bytes.get(i) == Some(&b'{') {
        let mut quoted = false;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'}' if !quoted => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    (i > 0).then(|| (&line[..i.min(line.len())], line[i.min(line.len())..].trim()))
}

/// Parses `name{a="b", c="d"}`, `name` or `{a="b"}`.
pub fn parse_labels(s: &str) -> Option<Labels> {
    let (name, body) = match s.find('{') {
        Some(i) => (&s[..i], s[i + 1..].strip_suffix('}')?),
        None => (s, ""),
    };
    let mut b = LabelsBuilder::new();
    if !name.is_empty() {
        b.set(METRIC_NAME, name);
    }
    let mut rest = body.trim();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        let after = rest[eq + 1..].trim_start();
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let mut value = String::new();
        let mut chars = after[1..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    other => value.push(other),
                },
                c if c == quote => {
                    end = Some(i + 2);
                    break;
                }
                c => value.push(c),
            }
        }
        let key = key.trim_matches('"');
        b.set(key, &value);
        rest = after[end?..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(b.build())
}

/// Expands a value sequence such as `0+10x3 _ stale 1x2 {{count:1}}`.
pub fn parse_values(s: &str) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        if let Some(h) = rest.strip_prefix("{{") {
            let end = h.find("}}")?;
            let body = h[..end].to_owned();
            rest = &h[end + 2..];
            // `{{a}}+{{b}}xn`: position k holds a + k·b, written out as text.
            let step = match rest.as_bytes() {
                [sign @ (b'+' | b'-'), b'{', b'{', ..] => {
                    let inner = &rest[3..];
                    let end = inner.find("}}")?;
                    let step = (char::from(*sign), inner[..end].to_owned());
                    rest = &inner[end + 2..];
                    Some(step)
                }
                _ => None,
            };
            let (times, after) = repeat_suffix(rest);
            if step.is_some() && times.is_none() {
                return None;
            }
            rest = after.trim_start();
            for k in 0..=times.unwrap_or(0) {
                out.push(Value::Histogram(match &step {
                    Some((sign, b)) if k > 0 => format!("{body} {sign} {k}*({b})"),
                    _ => body.clone(),
                }));
            }
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let item = &rest[..end];
        rest = rest[end..].trim_start();
        if item == "_" {
            out.push(Value::Missing);
        } else if let Some(n) = item.strip_prefix("_x") {
            out.extend(std::iter::repeat_n(Value::Missing, n.parse().ok()?));
        } else if item == "stale" {
            out.push(Value::Stale);
        } else if let Some(n) = item.strip_prefix("stalex") {
            out.extend(std::iter::repeat_n(
                Value::Stale,
                n.parse::<usize>().ok()? + 1,
            ));
        } else {
            out.extend(expand(item)?);
        }
    }
    Some(out)
}

/// Parses a signed duration such as `-1m` or `59999ms`.
fn parse_signed_duration(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(d) => parse_duration(d).map(|v| -v),
        None => parse_duration(s.strip_prefix('+').unwrap_or(s)),
    }
}

/// Expands a sequence of durations: `_`, `D`, `Dxn` and `D+Exn` / `D-Exn`, as `@st` lines
/// write start timestamps.
fn parse_durations(s: &str) -> Option<Vec<Option<i64>>> {
    let mut out = Vec::new();
    for item in s.split_whitespace() {
        if item == "_" {
            out.push(None);
            continue;
        }
        let (head, times) = match item.rfind('x') {
            Some(i) if i + 1 < item.len() && item[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                (&item[..i], item[i + 1..].parse::<i64>().ok()?)
            }
            _ => (item, 0),
        };
        let b = head.as_bytes();
        let split = (1..b.len()).rev().find(|&i| matches!(b[i], b'+' | b'-'));
        let (start, step) = match split {
            Some(i) => (
                parse_signed_duration(&head[..i])?,
                parse_signed_duration(&head[i..])?,
            ),
            None => (parse_signed_duration(head)?, 0),
        };
        out.extend((0..=times).map(|k| Some(start + step * k)));
    }
    Some(out)
}

/// Splits `x<n>` off the front of `s`, for repeated histograms.
fn repeat_suffix(s: &str) -> (Option<usize>, &str) {
    if let Some(r) = s.strip_prefix('x') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        if let Ok(n) = r[..end].parse() {
            return (Some(n), &r[end..]);
        }
    }
    (None, s)
}

/// Expands one float item: `a`, `axn`, `a+bxn` or `a-bxn`.
fn expand(item: &str) -> Option<Vec<Value>> {
    let Some(x) = item
        .rfind('x')
        .filter(|&i| item[i + 1..].bytes().all(|b| b.is_ascii_digit()) && i + 1 < item.len())
    else {
        return Some(vec![Value::Float(parse_float(item)?)]);
    };
    let times: usize = item[x + 1..].parse().ok()?;
    let head = &item[..x];
    // The increment's sign is the last + or - that is not at the start and not part of an
    // exponent.
    let b = head.as_bytes();
    let split = (1..b.len())
        .rev()
        .find(|&i| matches!(b[i], b'+' | b'-') && !matches!(b[i - 1], b'e' | b'E'));
    let (start, step) = match split {
        Some(i) => (parse_float(&head[..i])?, parse_float(&head[i..])?),
        None => (parse_float(head)?, 0.0),
    };
    Some(
        (0..=times)
            .map(|k| Value::Float(start + step * k as f64))
            .collect(),
    )
}

/// Parses a whole script.
pub fn parse(text: &str) -> Result<Script, ScriptError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The indented lines (or, after eval, any non-command lines) that belong to it.
        let mut body = Vec::new();
        while i < lines.len() {
            let l = lines[i].trim();
            if l.is_empty() || is_command(l) {
                break;
            }
            if !l.starts_with('#') {
                body.push((i + 1, l));
            }
            i += 1;
        }
        let word = line.split_whitespace().next().unwrap_or("");
        match word {
            "clear" => commands.push(Command::Clear { line: line_no }),
            "load" | "load_with_nhcb" => {
                commands.push(Command::Load(parse_load(line_no, line, &body)?))
            }
            "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info" => {
                commands.push(Command::Eval(Box::new(parse_eval(line_no, line, &body)?)));
            }
            other => return err(line_no, format!("unknown command {other:?}")),
        }
    }
    Ok(Script { commands })
}

fn is_command(line: &str) -> bool {
    let word = line.split_whitespace().next().unwrap_or("");
    matches!(
        word,
        "load"
            | "load_with_nhcb"
            | "clear"
            | "eval"
            | "eval_fail"
            | "eval_ordered"
            | "eval_warn"
            | "eval_info"
    )
}

fn parse_series_line(line_no: usize, l: &str) -> Result<(Labels, Vec<Value>), ScriptError> {
    let Some((labels, values)) = split_series(l) else {
        return err(line_no, format!("expected a series, got {l:?}"));
    };
    let Some(labels) = parse_labels(labels) else {
        return err(line_no, format!("cannot parse the labels {labels:?}"));
    };
    let Some(values) = parse_values(values) else {
        return err(line_no, format!("cannot parse the values {values:?}"));
    };
    Ok((labels, values))
}

fn parse_load(line_no: usize, line: &str, body: &[(usize, &str)]) -> Result<Load, ScriptError> {
    let mut words = line.split_whitespace();
    let with_nhcb = words.next() == Some("load_with_nhcb");
    let Some(interval) = words.next().and_then(parse_duration) else {
        return err(line_no, "expected `load <interval>`");
    };
    let mut series = Vec::new();
    let mut start_times = Vec::new();
    for &(n, l) in body {
        match split_series(l) {
            Some((labels, rest)) if rest.starts_with("@st") => {
                let (Some(labels), Some(times)) =
                    (parse_labels(labels), parse_durations(&rest[3..]))
                else {
                    return err(n, format!("cannot parse the start timestamps {l:?}"));
                };
                start_times.push((labels, times));
            }
            _ => series.push(parse_series_line(n, l)?),
        }
    }
    Ok(Load {
        line: line_no,
        interval,
        with_nhcb,
        series,
        start_times,
    })
}

fn parse_eval(line_no: usize, line: &str, body: &[(usize, &str)]) -> Result<Eval, ScriptError> {
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    let (at, expr) = if let Some(r) = rest.strip_prefix("instant at ") {
        let (t, expr) = r.split_once(' ').unwrap_or((r, ""));
        let Some(t) = parse_time(t) else {
            return err(line_no, format!("invalid evaluation time {t:?}"));
        };
        (EvalAt::Instant(t), expr)
    } else if let Some(r) = rest.strip_prefix("range from ") {
        let mut parts = r.splitn(6, ' ');
        let (start, to, end, step_word, step) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        );
        let expr = parts.next().unwrap_or("");
        match (
            start.and_then(parse_time),
            to,
            end.and_then(parse_time),
            step_word,
            step.and_then(parse_duration),
        ) {
            (Some(start), Some("to"), Some(end), Some("step"), Some(step)) => {
                (EvalAt::Range { start, end, step }, expr)
            }
            _ => {
                return err(
                    line_no,
                    "expected `eval range from <start> to <end> step <step> <expr>`",
                );
            }
        }
    } else {
        return err(line_no, "expected `instant at` or `range from` after eval");
    };
    let mut eval = Eval {
        line: line_no,
        expr: expr.trim().to_owned(),
        at,
        fail: (word == "eval_fail").then_some(None),
        ordered: word == "eval_ordered",
        warn: if word == "eval_warn" {
            Annotation::Expected(vec![None])
        } else {
            Annotation::Unstated
        },
        info: if word == "eval_info" {
            Annotation::Expected(vec![None])
        } else {
            Annotation::Unstated
        },
        expected: Expected::Series(Vec::new()),
    };
    let mut series = Vec::new();
    for &(n, l) in body {
        if let Some(e) = l.strip_prefix("expect ") {
            parse_expect(n, e.trim(), &mut eval)?;
        } else if let Some(v) = parse_float(l).filter(|_| !l.contains(' ')) {
            eval.expected = Expected::Scalar(v);
        } else {
            series.push(parse_series_line(n, l)?);
        }
    }
    match &mut eval.expected {
        Expected::Series(s) | Expected::RangeVector { series: s, .. } => *s = series,
        Expected::Scalar(_) | Expected::String(_) if !series.is_empty() => {
            return err(
                line_no,
                "a scalar or string expectation cannot have series too",
            );
        }
        _ => {}
    }
    Ok(eval)
}

fn parse_matcher(s: &str) -> Option<Matcher> {
    if let Some(m) = s.strip_prefix("msg:") {
        Some(Matcher::Message(m.trim().to_owned()))
    } else {
        s.strip_prefix("regex:")
            .map(|r| Matcher::Regex(r.trim().to_owned()))
    }
}

fn parse_expect(n: usize, e: &str, eval: &mut Eval) -> Result<(), ScriptError> {
    let (kind, arg) = e.split_once(' ').map_or((e, ""), |(k, a)| (k, a.trim()));
    match kind {
        "fail" => eval.fail = Some(parse_matcher(arg)),
        "ordered" => eval.ordered = true,
        "warn" => eval.warn.expect(parse_matcher(arg)),
        "no_warn" => eval.warn = Annotation::Absent,
        "info" => eval.info.expect(parse_matcher(arg)),
        "no_info" => eval.info = Annotation::Absent,
        "string" => {
            let quoted = arg.len() >= 2
                && ((arg.starts_with('"') && arg.ends_with('"'))
                    || (arg.starts_with('`') && arg.ends_with('`')));
            if !quoted {
                return err(
                    n,
                    format!("expected a quoted string after `expect string`, got {arg:?}"),
                );
            }
            eval.expected = Expected::String(arg[1..arg.len() - 1].to_owned());
        }
        "range" => {
            let words: Vec<&str> = arg.split_whitespace().collect();
            match words.as_slice() {
                ["vector", "from", from, "to", to, "step", step] => {
                    match (parse_time(from), parse_time(to), parse_duration(step)) {
                        (Some(from), Some(to), Some(step)) => {
                            eval.expected = Expected::RangeVector {
                                from,
                                to,
                                step,
                                series: Vec::new(),
                            };
                        }
                        _ => return err(n, "invalid times in `expect range vector`"),
                    }
                }
                _ => return err(n, "expected `expect range vector from <t> to <t> step <d>`"),
            }
        }
        other => return err(n, format!("unknown expectation {other:?}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_sequences_expand_as_upstream() {
        use Value::*;
        assert_eq!(
            parse_values("0+10x3").unwrap(),
            [Float(0.0), Float(10.0), Float(20.0), Float(30.0)]
        );
        assert_eq!(
            parse_values("10-5x2").unwrap(),
            [Float(10.0), Float(5.0), Float(0.0)]
        );
        assert_eq!(
            parse_values("1x2 _ _x2 stale").unwrap(),
            [
                Float(1.0),
                Float(1.0),
                Float(1.0),
                Missing,
                Missing,
                Missing,
                Stale
            ]
        );
        assert_eq!(
            parse_values("-2 1e3+1e2x1 -Inf").unwrap(),
            [
                Float(-2.0),
                Float(1000.0),
                Float(1100.0),
                Float(f64::NEG_INFINITY)
            ]
        );
        assert_eq!(
            parse_values("{{count:1 sum:2}}x1").unwrap(),
            [
                Histogram("count:1 sum:2".into()),
                Histogram("count:1 sum:2".into())
            ]
        );
        assert_eq!(
            parse_values("{{count:0}}+{{count:6}}x2").unwrap(),
            [
                Histogram("count:0".into()),
                Histogram("count:0 + 1*(count:6)".into()),
                Histogram("count:0 + 2*(count:6)".into())
            ]
        );
        assert!(parse_values("1 oops").is_none());
    }

    #[test]
    fn start_timestamp_lines_are_kept_apart() {
        let script =
            parse("load 1m\n  c{a=\"b\"}@st _ -30s-1mx2 -1s\n  c{a=\"b\"} _ 0+60x1\n").unwrap();
        let Command::Load(l) = &script.commands[0] else {
            panic!()
        };
        assert_eq!(l.series.len(), 1);
        assert_eq!(
            l.start_times[0].1,
            [
                None,
                Some(-30_000),
                Some(-90_000),
                Some(-150_000),
                Some(-1000)
            ]
        );
    }

    #[test]
    fn durations_and_labels() {
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("15m1s"), Some(901_000));
        assert_eq!(parse_duration("5x"), None);
        let l =
            parse_labels(r#"http_requests{job="api-server", instance="0", path="a\"b"}"#).unwrap();
        assert_eq!(
            l.to_string(),
            r#"http_requests{instance="0",job="api-server",path="a\"b"}"#
        );
        assert_eq!(parse_labels("{}").unwrap(), Labels::empty());
    }

    #[test]
    fn commands_and_expectations() {
        let script = parse(
            "load 5m\n  up{job=\"a\"} 1+1x2\n\n# comment\neval instant at 10m up\n  expect no_warn\n  up{job=\"a\"} 3\n\n\
             eval range from 0 to 10m step 5m up * 2\n  expect ordered\n  {job=\"a\"} 2 4 6\n\n\
             eval instant at 1m 1 + 1\n  2\n\neval_fail instant at 0 foo(\n\n\
             eval instant at 1m bad\n  expect fail msg: something broke\n\neval instant at 0 \"x\"\n  expect string \"x\"\nclear\n",
        )
        .unwrap();
        assert_eq!(script.commands.len(), 8);
        let Command::Eval(e) = &script.commands[1] else {
            panic!()
        };
        assert_eq!(
            (e.at, e.warn.clone(), e.expr.as_str()),
            (EvalAt::Instant(600_000), Annotation::Absent, "up")
        );
        let Command::Eval(e) = &script.commands[2] else {
            panic!()
        };
        assert_eq!(
            e.at,
            EvalAt::Range {
                start: 0,
                end: 600_000,
                step: 300_000
            }
        );
        assert!(e.ordered);
        let Command::Eval(e) = &script.commands[3] else {
            panic!()
        };
        assert_eq!(e.expected, Expected::Scalar(2.0));
        let Command::Eval(e) = &script.commands[4] else {
            panic!()
        };
        assert_eq!(e.fail, Some(None));
        let Command::Eval(e) = &script.commands[5] else {
            panic!()
        };
        assert_eq!(
            e.fail,
            Some(Some(Matcher::Message("something broke".into())))
        );
        let Command::Eval(e) = &script.commands[6] else {
            panic!()
        };
        assert_eq!(e.expected, Expected::String("x".into()));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse("load 5q\n").unwrap_err(),
            ScriptError {
                line: 1,
                message: "expected `load <interval>`".into()
            }
        );
        let e = parse("load 5m\n  up 1 two\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            parse("frobnicate\n").unwrap_err().message,
            "unknown command \"frobnicate\""
        );
    }

    /// Every upstream script parses, and the totals match the README's.
    #[test]
    fn every_upstream_script_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/promql-testdata");
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e} (the repository's ../shared/promql-testdata is needed)",
                dir.display()
            )
        });
        let (mut files, mut evals, mut clears) = (0, 0, 0);
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "test") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let script = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for c in &script.commands {
                match c {
                    Command::Eval(_) => evals += 1,
                    Command::Clear { .. } => clears += 1,
                    Command::Load(l) => assert!(!l.series.is_empty() || l.line > 0),
                }
            }
        }
        // The README counts 2,213 lines *starting* with `eval`; one more eval is indented by a
        // space (start_timestamps.test:169), and upstream trims lines before reading them.
        assert_eq!((files, evals, clears), (21, 2214, 231));
    }
}
