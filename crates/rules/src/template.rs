//! Prometheus's alert templates: Go's `text/template` (the shared [`gotemplate`] engine)
//! with Prometheus's template functions, so that an alert rule renders in Skywatch exactly
//! as Prometheus 2.42 (built with Go 1.19) renders it.
//!
//! - The language, Go's builtins, printing and error texts are [`gotemplate`]'s.
//! - Prometheus's functions: `query`, `first`, `label`, `value`, `strvalue`, `args`,
//!   `reReplaceAll`, `safeHtml`, `match`, `title`, `toUpper`, `toLower`, `graphLink`,
//!   `tableLink`, `sortByLabel`, `stripPort`, `stripDomain`, `humanize`, `humanize1024`,
//!   `humanizeDuration`, `humanizePercentage`, `humanizeTimestamp`, `toTime`,
//!   `pathPrefix`, `externalURL`, `parseDuration`. (`tmpl` exists only in Prometheus's
//!   console templates, not in alert templates, so it is not defined here either.)
//!
//! Values carry Go's types (`float64`, `map[string]string`, `*template.sample`,
//! `template.queryResult`, `*time.Time`) so that `printf "%T"` and type errors match, and
//! a missing map key is the zero value, as Prometheus's `missingkey=zero` makes it. A
//! template that fails to run leaves Prometheus's error text, with Go's line, column and
//! node, in place of the expansion.

use std::collections::BTreeMap;

pub use gotemplate::humanize::{humanize, humanize_duration, humanize1024};
use gotemplate::{Escaping, Functions, Param, Signature, go_quote, strings};
pub use gotemplate::{
    MAX_TEMPLATE_DEPTH, TemplateError, Value, format_float, go_float, go_g, go_shortest_e,
    html_escape, js_escape, printf, query_escape, sprint, sprintln, time_string,
};

/// The Go type of a query's result.
const QUERY_RESULT: &str = "template.queryResult";
/// The Go type a query's sample points to.
const SAMPLE: &str = "template.sample";

/// A query result's sample (`*template.sample`): `.Labels` and `.Value`.
pub fn sample(labels: &BTreeMap<String, String>, value: f64) -> Value {
    Value::Ptr(Box::new(Value::named(
        SAMPLE,
        Value::Struct(vec![
            ("Labels".to_owned(), labels_value(labels)),
            ("Value".to_owned(), Value::Float(value)),
        ]),
    )))
}

/// A sample's labels and value, `None` for anything else (Go's nil pointer).
fn sample_parts(v: &Value) -> Option<(&Value, f64)> {
    let Value::Ptr(inner) = v else { return None };
    let Value::Named(SAMPLE, s) = inner.as_ref() else {
        return None;
    };
    let Value::Struct(fields) = s.as_ref() else {
        return None;
    };
    match fields.as_slice() {
        [(_, labels), (_, Value::Float(value))] => Some((labels, *value)),
        _ => None,
    }
}

/// A label of a sample's labels, `""` when missing.
fn label_of(labels: &Value, name: &str) -> String {
    match labels {
        Value::Map(m) => match m.get(name) {
            Some(Value::Str(s)) => s.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// Labels as a `map[string]string` value.
pub fn labels_value(labels: &BTreeMap<String, String>) -> Value {
    Value::string_map(labels)
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

/// The variables Prometheus defines before an alert's template text.
const ALERT_VARIABLES: [&str; 4] = ["labels", "externalLabels", "externalURL", "value"];

/// Prometheus's template functions, for one expansion.
struct Prometheus<'a> {
    env: &'a dyn Env,
    /// What the `externalURL` and `pathPrefix` functions return.
    external_url: String,
}

/// Prometheus's functions, for the parse-time check (they do not run there).
struct Names;

impl Functions for Names {
    fn signature(&self, name: &str) -> Option<Signature> {
        signature(name)
    }

    fn call(&self, name: &str, _: Vec<Value>) -> Result<Value, String> {
        Err(format!("function {name:?} not defined"))
    }
}

/// A Prometheus function's parameters.
fn signature(name: &str) -> Option<Signature> {
    use Param::*;
    const SAMPLE_PTR: Param = Type("*template.sample");
    const QUERY: Param = Type(QUERY_RESULT);
    let (fixed, variadic): (&'static [Param], Option<Param>) = match name {
        "args" => (&[], Some(Any)),
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" => (&[Any], None),
        "query" | "safeHtml" | "title" | "toUpper" | "toLower" | "graphLink" | "tableLink"
        | "stripPort" | "stripDomain" | "parseDuration" => (&[Str], None),
        "first" => (&[QUERY], None),
        "label" => (&[Str, SAMPLE_PTR], None),
        "value" | "strvalue" => (&[SAMPLE_PTR], None),
        "reReplaceAll" => (&[Str, Str, Str], None),
        "match" => (&[Str, Str], None),
        "sortByLabel" => (&[Str, QUERY], None),
        "pathPrefix" | "externalURL" => (&[], None),
        _ => return None,
    };
    Some(Signature { fixed, variadic })
}

impl Functions for Prometheus<'_> {
    fn signature(&self, name: &str) -> Option<Signature> {
        signature(name)
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
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
                Ok(Some(ns)) => Value::Ptr(Box::new(Value::Time(ns))),
                Ok(None) => return Err("value is NaN or Inf".into()),
                Err(e) => return Err(e),
            },
            "query" => {
                let expr = str_arg(0);
                let samples = self.env.query(&expr)?;
                Value::named(
                    QUERY_RESULT,
                    Value::List(samples.iter().map(|(l, v)| sample(l, *v)).collect()),
                )
            }
            "first" => match first.underlying() {
                Value::List(l) if !l.is_empty() => l[0].clone(),
                _ => return Err("first() called on vector with no elements".into()),
            },
            "value" => match sample_parts(&first) {
                Some((_, value)) => Value::Float(value),
                None => return Err(nil_sample()),
            },
            "strvalue" => match sample_parts(&first) {
                Some((labels, _)) => Value::Str(label_of(labels, "__value__")),
                None => return Err(nil_sample()),
            },
            "label" => match sample_parts(&args[1]) {
                Some((labels, _)) => Value::Str(label_of(labels, &str_arg(0))),
                None => return Err(nil_sample()),
            },
            "args" => Value::AnyMap(
                args.into_iter()
                    .enumerate()
                    .map(|(i, v)| (format!("arg{i}"), v))
                    .collect(),
            ),
            "title" => Value::Str(strings::title(&str_arg(0))),
            "toUpper" => Value::Str(strings::to_upper(&str_arg(0))),
            "toLower" => Value::Str(strings::to_lower(&str_arg(0))),
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
                let mut items = match args[1].underlying() {
                    Value::List(l) => l.clone(),
                    _ => Vec::new(),
                };
                let key = str_arg(0);
                let label = |s: &Value| match sample_parts(s) {
                    Some((labels, _)) => label_of(labels, &key),
                    None => String::new(),
                };
                // Stable, as Prometheus's sort.Stable.
                items.sort_by_key(label);
                Value::named(QUERY_RESULT, Value::List(items))
            }
            other => return Err(format!("function {other:?} not defined")),
        })
    }
}

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

/// The path of a URL, as Go's `url.URL.Path` gives it.
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("").to_owned()
}

/// A parsed alert template.
#[derive(Debug, Clone)]
pub struct Template(gotemplate::Template);

impl Template {
    /// Parses `text` as an alert template, in which `$labels`, `$value`,
    /// `$externalLabels` and `$externalURL` are defined.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut t = gotemplate::Template::new();
        t.parse("", text, &Names, &ALERT_VARIABLES)?;
        Ok(Self(t))
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
    let funcs = Prometheus {
        env,
        external_url: data.external_url.to_owned(),
    };
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
    let run =
        Template::parse(text).and_then(|t| t.0.execute("", &dot, &vars, &funcs, Escaping::Text));
    match run {
        Ok(s) => s,
        Err(e) => {
            let what = if e.is_parse_error() {
                "parsing"
            } else {
                "executing"
            };
            let go = e.go_text(&name, text, ALERT_DEFINITIONS.len(), &name);
            if e.is_parse_error() || e.source().is_some() {
                format!("<error expanding template: error {what} template {name}: {go}>")
            } else {
                format!("<error expanding template: error executing template {name}: {go}>")
            }
        }
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
