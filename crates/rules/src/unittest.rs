//! Unit tests of rules in promtool's format (`promtool test rules`): input series in the
//! expanding notation, then at each evaluation interval every group evaluated in order,
//! the firing alerts compared at each `alert_rule_test`'s time, and each
//! `promql_expr_test` evaluated at the end.
//!
//! As promtool does: only firing alerts count, an expected alert's labels get its
//! `alertname`, labels and annotations must match exactly, sample values must be equal,
//! a rule that fails to evaluate fails its test group, and rule files are relative to the
//! test file.

use std::collections::BTreeMap;
use std::path::Path;

use model::Labels;
use promql::engine::{Engine, Steps};
use promql::promqltest::{Value as SeriesValue, parse_labels, parse_values};
use serde::Deserialize;
use storage::Appendable;
use storage::MemStorage;

use crate::eval::{AlertState, Context, GroupState};
use crate::file::RuleFile;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    fuzzy_compare: bool,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    #[serde(default = "zero")]
    eval_time: String,
    #[serde(default)]
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    #[serde(default = "zero")]
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    /// A series as PromQL writes it; none (or `{}`) for a result without labels.
    #[serde(default)]
    labels: String,
    value: f64,
}

/// An eval time not given: the start, as Go's zero `model.Duration`.
fn zero() -> String {
    "0".into()
}

/// The outcome of one test file: its warnings and failures, each a paragraph as promtool
/// prints it; no failures if it passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The test file, as given.
    pub file: String,
    /// What is suspicious but not a failure: a `rule_files` pattern matching no file.
    pub warnings: Vec<String>,
    /// What failed; empty if every test passed.
    pub failures: Vec<String>,
}

fn duration(text: &str, what: &str) -> Result<i64, String> {
    if text.trim() == "0" {
        return Ok(0);
    }
    model::parse_duration(text.trim())
        .filter(|d| *d >= 0)
        .ok_or_else(|| format!("{what} {text:?} is not a duration: write one such as 5m or 30s"))
}

/// Go's `model.Duration` text, as promtool prints eval times: `5m`, `1h30m`, `0s`.
fn show(ms: i64) -> String {
    if ms == 0 {
        "0s".into()
    } else {
        model::format_duration(ms)
    }
}

/// Runs the unit tests of the file at `path`, whose rule files are relative to its
/// directory.
pub fn run_file(path: &Path) -> Outcome {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => run(&text, &crate::glob::dir(&file), file),
        Err(e) => Outcome {
            file,
            warnings: Vec::new(),
            failures: vec![format!("cannot read it: {e}")],
        },
    }
}

/// The `rule_files` patterns joined to `dir` and expanded as promtool expands them: an
/// error only for a malformed pattern; a pattern matching nothing is a warning, in
/// promtool's words, whether or not it has a glob character.
fn rule_files(
    dir: &str,
    patterns: &[String],
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    for p in patterns {
        let p = if p.is_empty() || p.starts_with('/') {
            p.clone()
        } else {
            crate::glob::join(dir, p)
        };
        let found = crate::glob::glob(&p).map_err(|e| e.to_string())?;
        if found.is_empty() {
            warnings.push(format!("  WARNING: no file match pattern {p}"));
        }
        files.extend(found);
    }
    Ok(files)
}

/// Runs the unit tests in `text` (the file `file`), whose rule files are relative to
/// `dir`.
pub fn run(text: &str, dir: &str, file: String) -> Outcome {
    let mut warnings = Vec::new();
    let failures = run_tests(text, dir, &mut warnings);
    Outcome {
        file,
        warnings,
        failures,
    }
}

fn run_tests(text: &str, dir: &str, warnings: &mut Vec<String>) -> Vec<String> {
    let tests: TestFile = match yaml::from_str(text) {
        Ok(t) => t,
        Err(e) => return vec![e.to_string()],
    };
    let files = match rule_files(dir, &tests.rule_files, warnings) {
        Ok(files) => files,
        Err(e) => return vec![e],
    };
    // Zero, as not given, is promtool's default of a minute.
    let interval = match tests
        .evaluation_interval
        .as_deref()
        .map_or(Ok(0), |d| duration(d, "evaluation_interval"))
    {
        Ok(0) => 60_000,
        Ok(i) => i,
        Err(e) => return vec![e],
    };
    for (i, name) in tests.group_eval_order.iter().enumerate() {
        if tests.group_eval_order[..i].contains(name) {
            return vec![format!("group name repeated in evaluation order: {name}")];
        }
    }
    // promtool loads the rule files for each test group and reports their errors in each.
    let mut rule_files = Vec::new();
    let mut load_errors = Vec::new();
    for f in &files {
        match RuleFile::load(Path::new(f)) {
            Ok(r) => rule_files.push(r),
            Err(e) => load_errors.extend(e.problems.iter().map(|p| format!("{}: {p}", e.file))),
        }
    }
    let loaded = if load_errors.is_empty() {
        Ok(rule_files.as_slice())
    } else {
        Err(load_errors.as_slice())
    };
    let mut failures = Vec::new();
    for group in &tests.tests {
        failures.extend(run_group(
            group,
            loaded,
            interval,
            &tests.group_eval_order,
            tests.fuzzy_compare,
        ));
    }
    failures
}

/// `s` quoted as Go's `strconv.Quote` quotes it, as promtool prints label values and
/// expressions: `\"`, `\\`, `\n` and the other C escapes, `\xHH` for other ASCII control
/// characters, `\uHHHH` for characters Go does not print. Go's test of printability uses
/// Unicode's categories; this one treats controls, spaces other than ` ` and the common
/// invisible format characters as unprintable, which agrees on every character a label
/// is likely to hold.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control()
                || (c.is_whitespace() && c != ' ')
                || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}') =>
            {
                let n = c as u32;
                if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A time as Go's `time.Duration` prints it, as promtool prints the time of a rule's
/// evaluation error: `0s`, `500ms`, `1m30s`, `1h0m0s`, `2m1.5s`.
fn go_time(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => format!("{sign}{secs}"),
        (0, m) => format!("{sign}{m}m{secs}"),
        (h, m) => format!("{sign}{h}h{m}m{secs}"),
    }
}

/// Labels as Go's `labels.Labels` prints them, as promtool prints series:
/// `{__name__="up", job="node"}`.
fn go_labels<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let pairs: Vec<String> = labels
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// An alert's labels or annotations as promtool prints them: `{a="b", c="d"}`.
fn show_labels(map: &BTreeMap<String, String>) -> String {
    go_labels(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

type Found = Vec<(BTreeMap<String, String>, BTreeMap<String, String>)>;

fn show_alerts(alerts: &Found) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let items: Vec<String> = alerts
        .iter()
        .enumerate()
        .map(|(i, (l, a))| {
            format!(
                "{i}:\n  Labels:{}\n  Annotations:{}",
                show_labels(l),
                show_labels(a)
            )
        })
        .collect();
    format!("[\n{}\n]", items.join(",\n"))
}

/// Runs one test group over the rule files, or fails with their problems, as promtool
/// does after loading the group's input series.
///
/// As promtool 2.42 prints them: only an alert test's failure names the test group
/// (`    name: ...,` above it); a rule's evaluation error gives its time as Go's
/// `time.Duration` (`1m0s`), the tests' times as Prometheus durations (`1m`).
fn run_group(
    tg: &TestGroup,
    loaded: Result<&[RuleFile], &[String]>,
    eval_interval: i64,
    order: &[String],
    fuzzy: bool,
) -> Vec<String> {
    let name = tg.name.as_deref().filter(|n| !n.is_empty());
    let prefix = name
        .map(|n| format!("    name: {n},\n"))
        .unwrap_or_default();
    let fail = |m: String| vec![m];
    let interval = match tg
        .interval
        .as_deref()
        .map_or(Ok(eval_interval), |d| duration(d, "interval"))
    {
        Ok(0) => return fail("interval must be positive".into()),
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    // The input series, a sample every interval from time 0.
    let store = MemStorage::new();
    {
        let mut app = store.appender();
        for s in &tg.input_series {
            let Some(labels) = parse_labels(s.series.trim()) else {
                return fail(format!(
                    "input series {:?} is not a series: write name{{label=\"value\"}}",
                    s.series
                ));
            };
            let Some(values) = parse_values(&s.values) else {
                return fail(format!(
                    "values {:?} of {} do not parse: write e.g. '1+1x10 _ stale'",
                    s.values, s.series
                ));
            };
            for (i, v) in values.iter().enumerate() {
                let t = i as i64 * interval;
                let v = match v {
                    SeriesValue::Float(f) => *f,
                    SeriesValue::Stale => model::STALE_NAN,
                    SeriesValue::Missing => continue,
                    SeriesValue::Histogram(_) => {
                        return fail(format!("{}: native histograms are not supported", s.series));
                    }
                };
                if let Err(e) = app.append(None, &labels, t, v) {
                    return fail(format!("input series {}: {e}", s.series));
                }
            }
        }
        if let Err(e) = app.commit() {
            return fail(format!("loading the input series: {e}"));
        }
    }
    let files = match loaded {
        Ok(files) => files,
        Err(problems) => return problems.to_vec(),
    };
    let mut alert_tests: Vec<(i64, &AlertTest)> = Vec::new();
    for a in &tg.alert_rule_test {
        let t = match duration(&a.eval_time, "eval_time") {
            Ok(t) => t,
            Err(e) => return fail(e),
        };
        if a.alertname.is_empty() {
            let group = name
                .map(|n| format!(" (in TestGroup {n})"))
                .unwrap_or_default();
            return fail(format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{group}",
                show(t)
            ));
        }
        alert_tests.push((t, a));
    }
    alert_tests.sort_by_key(|(t, _)| *t);
    let mut expr_tests = Vec::new();
    for e in &tg.promql_expr_test {
        match duration(&e.eval_time, "eval_time") {
            Ok(t) => expr_tests.push((t, e)),
            Err(err) => return fail(err),
        }
    }
    let maxt = alert_tests
        .iter()
        .map(|(t, _)| *t)
        .chain(expr_tests.iter().map(|(t, _)| *t))
        .max()
        .unwrap_or(0);

    // The groups in group_eval_order's order; as promtool ranks a group it does not name
    // with the first it names, they go beside that one, in file order.
    let mut groups: Vec<GroupState> = files
        .iter()
        .flat_map(|f| {
            f.groups
                .iter()
                .map(|g| GroupState::new(&f.file, g, interval).keeping_parsed_expressions())
        })
        .collect();
    groups.sort_by_key(|g| order.iter().position(|n| *n == g.name).unwrap_or(0));
    let ctx = Context {
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone().unwrap_or_default(),
        query_log: promql::query_log::Shared::default(),
    };
    let engine = Engine::new(promql::engine::EngineOptions::default());
    let mut failures = Vec::new();
    let mut next_alert = 0;
    let mut ts = 0;
    while ts <= maxt {
        let mut eval_errors = Vec::new();
        for g in &mut groups {
            g.eval(ts, &store, &engine, &ctx);
            for r in &g.rules {
                if let Some(e) = &r.health.last_error {
                    eval_errors.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.rule.name(),
                        go_time(ts)
                    ));
                }
            }
        }
        if !eval_errors.is_empty() {
            failures.extend(eval_errors);
            return failures;
        }
        // The alert tests whose time falls in [ts, ts + interval) look at this evaluation.
        while next_alert < alert_tests.len() && alert_tests[next_alert].0 < ts + eval_interval {
            let (t, test) = alert_tests[next_alert];
            next_alert += 1;
            if t < ts {
                continue;
            }
            let mut got: Found = groups
                .iter()
                .flat_map(GroupState::alerts)
                .filter(|(rule, a)| rule.name() == test.alertname && a.state == AlertState::Firing)
                .map(|(_, a)| (a.labels.clone(), a.annotations.clone()))
                .collect();
            let mut exp: Found = test
                .exp_alerts
                .iter()
                .map(|e| {
                    let mut labels = e.exp_labels.clone();
                    labels.insert("alertname".into(), test.alertname.clone());
                    (labels, e.exp_annotations.clone())
                })
                .collect();
            got.sort();
            exp.sort();
            if got != exp {
                failures.push(format!(
                    "{prefix}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                    test.alertname,
                    show(t),
                    show_alerts(&exp).replace('\n', "\n            "),
                    show_alerts(&got).replace('\n', "\n            ")
                ));
            }
        }
        ts += eval_interval;
    }

    for (t, test) in expr_tests {
        let fail_at = |m: String| {
            format!(
                "    expr: {}, time: {}, err: {m}",
                go_quote(&test.expr),
                show(t)
            )
        };
        let parsed = match promql::ast::parse(&test.expr) {
            Ok(p) => p,
            Err(e) => {
                failures.push(fail_at(e.to_string()));
                continue;
            }
        };
        let got = match engine.eval(&store, &parsed, Steps::instant(t)) {
            Ok(promql::engine::Stepped::Vector(v)) => v
                .into_iter()
                .filter_map(|s| s.points.first().map(|p| (s.labels.clone(), p.v)))
                .collect::<Vec<(Labels, f64)>>(),
            Ok(promql::engine::Stepped::Scalar(v)) => {
                vec![(Labels::empty(), v.first().copied().unwrap_or(f64::NAN))]
            }
            Ok(_) => {
                failures.push(fail_at("rule result is not a vector or scalar".into()));
                continue;
            }
            Err(e) => {
                failures.push(fail_at(e.to_string()));
                continue;
            }
        };
        let mut exp = Vec::new();
        let mut bad = None;
        for s in &test.exp_samples {
            let text = s.labels.trim();
            match parse_labels(text) {
                Some(l) => exp.push((l, s.value)),
                // Nothing, as `{}`, is a sample without labels, such as a scalar's.
                None if text.is_empty() => exp.push((Labels::empty(), s.value)),
                None => bad = Some(format!("labels {}: not a series", go_quote(&s.labels))),
            }
        }
        if let Some(b) = bad {
            failures.push(fail_at(b));
            continue;
        }
        let mut got = got;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        // Exactly equal, as promtool compares (NaN equals nothing); with fuzzy_compare,
        // the last bit of the mantissa may differ.
        let equal = |a: f64, b: f64| {
            a == b
                || (fuzzy
                    && a.is_finite()
                    && b.is_finite()
                    && a.to_bits().abs_diff(b.to_bits()) <= 1)
        };
        let same = got.len() == exp.len()
            && got
                .iter()
                .zip(&exp)
                .all(|(g, e)| g.0 == e.0 && equal(g.1, e.1));
        if !same {
            let show_samples = |v: &[(Labels, f64)]| -> String {
                if v.is_empty() {
                    return "nil".into();
                }
                v.iter()
                    .map(|(l, x)| {
                        let labels = go_labels(l.iter().map(|l| (l.name, l.value)));
                        format!("{labels} {}", crate::template::go_shortest_e(*x, 'E'))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut failure = format!(
                "    expr: {}, time: {},\n        exp: {}\n        got: {}",
                go_quote(&test.expr),
                show(t),
                show_samples(&exp),
                show_samples(&got)
            );
            // Beyond promtool: a sample on a window's left edge, which Prometheus 2 counted
            // and Skywatch does not, may be why.
            let options = promql::engine::EngineOptions::default();
            let on_edges = crate::window_edge::samples_on_edges(
                &store,
                &parsed,
                t,
                options.lookback,
                options.default_subquery_step,
            );
            for edge in on_edges.iter().take(3) {
                failure += &format!(
                    "\n        note: {} has a sample at {}, on the left edge of a {} {} window; Prometheus 2 counted it, Skywatch leaves it out as Prometheus 3 does (docs/compatibility.md)",
                    go_labels(edge.series.iter().map(|l| (l.name, l.value))),
                    show(edge.at),
                    show(edge.width),
                    if edge.range { "range" } else { "lookback" },
                );
            }
            failures.push(failure);
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_strings_print_as_go_prints_them() {
        for (ms, want) in [
            (0, "0s"),
            (500, "500ms"),
            (1000, "1s"),
            (60_000, "1m0s"),
            (90_500, "1m30.5s"),
            (3_600_000, "1h0m0s"),
            (90_061_000, "25h1m1s"),
        ] {
            assert_eq!(go_time(ms), want, "{ms}");
        }
        assert_eq!(
            go_quote("a\"b\\c\n\u{1}\u{7f}é\u{a0}"),
            r#""a\"b\\c\n\x01\x7fé\u00a0""#
        );
    }

    /// Regression: an alert test and an expression test may leave out `eval_time` (the
    /// start), and an expected sample its labels (a scalar's); a rule file that matches
    /// nothing is a warning, as promtool has it.
    #[test]
    fn eval_time_and_labels_may_be_left_out_and_a_missing_rule_file_warns() {
        let outcome = run(
            r#"rule_files: [nothing.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'x{job="a"}'
        values: '7'
    alert_rule_test:
      - alertname: None
    promql_expr_test:
      - expr: scalar(x)
        exp_samples:
          - value: 7
"#,
            ".",
            "t.yml".into(),
        );
        assert_eq!(outcome.failures, [] as [String; 0]);
        assert_eq!(
            outcome.warnings,
            ["  WARNING: no file match pattern nothing.yml"]
        );
    }

    #[test]
    fn failures_print_series_with_their_name_as_a_label() {
        let outcome = run(
            r#"tests:
  - interval: 1m
    name: group one
    input_series:
      - series: 'x{job="a"}'
        values: '7'
    promql_expr_test:
      - expr: x
        exp_samples:
          - labels: 'x{job="a"}'
            value: 8
"#,
            ".",
            "t.yml".into(),
        );
        assert_eq!(
            outcome.failures,
            [
                "    expr: \"x\", time: 0s,\n        exp: {__name__=\"x\", job=\"a\"} 8E+00\n        got: {__name__=\"x\", job=\"a\"} 7E+00"
            ]
        );
    }

    #[test]
    fn a_failure_that_may_hang_on_a_window_edge_says_so() {
        // Prometheus 2 counts 6 samples in x[5m] at 10m (5m to 10m), Skywatch 5.
        let outcome = run(
            r#"tests:
  - interval: 1m
    input_series:
      - series: 'x{job="a"}'
        values: '0+1x10'
    promql_expr_test:
      - expr: count_over_time(x[5m])
        eval_time: 10m
        exp_samples:
          - labels: '{job="a"}'
            value: 6
"#,
            ".",
            "t.yml".into(),
        );
        assert_eq!(outcome.failures.len(), 1);
        let failure = &outcome.failures[0];
        assert!(
            failure.ends_with(
                "\n        note: {__name__=\"x\", job=\"a\"} has a sample at 5m, on the left edge of a 5m range window; Prometheus 2 counted it, Skywatch leaves it out as Prometheus 3 does (docs/compatibility.md)"
            ),
            "{failure}"
        );
    }
}
