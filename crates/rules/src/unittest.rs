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
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    labels: String,
    value: f64,
}

/// The outcome of one test file: its failures, each a readable paragraph; none if it
/// passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The test file, as given.
    pub file: String,
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

/// Runs the unit tests of the file at `path`.
pub fn run_file(path: &Path) -> Outcome {
    let file = path.display().to_string();
    let failures = match std::fs::read_to_string(path) {
        Ok(text) => run(&text, path.parent().unwrap_or(Path::new("."))),
        Err(e) => vec![format!("cannot read it: {e}")],
    };
    Outcome { file, failures }
}

/// Runs the unit tests in `text`, whose rule files are relative to `dir`.
pub fn run(text: &str, dir: &Path) -> Vec<String> {
    let tests: TestFile = match yaml::from_str(text) {
        Ok(t) => t,
        Err(e) => return vec![e.to_string()],
    };
    let interval = match tests
        .evaluation_interval
        .as_deref()
        .map_or(Ok(60_000), |d| duration(d, "evaluation_interval"))
    {
        Ok(0) => return vec!["evaluation_interval must be positive".into()],
        Ok(i) => i,
        Err(e) => return vec![e],
    };
    let files = match crate::manager::resolve(dir, &tests.rule_files) {
        Ok(files) => files,
        Err(e) => return vec![e],
    };
    let mut rule_files = Vec::new();
    let mut failures = Vec::new();
    for f in &files {
        match RuleFile::load(f) {
            Ok(r) => rule_files.push(r),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if !failures.is_empty() {
        return failures;
    }
    for group in &tests.tests {
        failures.extend(run_group(
            group,
            &rule_files,
            interval,
            &tests.group_eval_order,
            tests.fuzzy_compare,
        ));
    }
    failures
}

/// Labels as promtool prints them: `{a="b", c="d"}`.
fn show_labels(map: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
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

fn run_group(
    tg: &TestGroup,
    files: &[RuleFile],
    eval_interval: i64,
    order: &[String],
    fuzzy: bool,
) -> Vec<String> {
    let prefix = tg
        .name
        .as_ref()
        .map(|n| format!("    name: {n},\n"))
        .unwrap_or_default();
    let fail = |m: String| vec![format!("{prefix}{m}")];
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
    let mut alert_tests: Vec<(i64, &AlertTest)> = Vec::new();
    for a in &tg.alert_rule_test {
        if a.alertname.is_empty() {
            return fail(format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}",
                a.eval_time
            ));
        }
        match duration(&a.eval_time, "eval_time") {
            Ok(t) => alert_tests.push((t, a)),
            Err(e) => return fail(e),
        }
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

    // The groups, those named in group_eval_order first, in that order.
    let mut groups: Vec<GroupState> = files
        .iter()
        .flat_map(|f| {
            f.groups
                .iter()
                .map(|g| GroupState::new(&f.file, g, interval))
        })
        .collect();
    groups.sort_by_key(|g| {
        order
            .iter()
            .position(|n| *n == g.name)
            .unwrap_or(usize::MAX)
    });
    let ctx = Context {
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone().unwrap_or_default(),
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
                        show(ts)
                    ));
                }
            }
        }
        if !eval_errors.is_empty() {
            failures.extend(eval_errors.into_iter().map(|e| format!("{prefix}{e}")));
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
                "{prefix}    expr: {:?}, time: {}, err: {m}",
                test.expr,
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
            match parse_labels(s.labels.trim()) {
                Some(l) => exp.push((l, s.value)),
                None => bad = Some(format!("labels {:?}: not a series", s.labels)),
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
                    .map(|(l, x)| format!("{l} {}", crate::template::go_shortest_e(*x, 'E')))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            failures.push(format!(
                "{prefix}    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                test.expr,
                show(t),
                show_samples(&exp),
                show_samples(&got)
            ));
        }
    }
    failures
}
