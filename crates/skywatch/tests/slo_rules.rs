//! The rules and tests `skywatch slo generate` writes, checked against the real promtool
//! 2.42 (issue 14).
//!
//! The specs are `tests/fixtures/slo/`: Sloth's format (two services; events, raw and
//! latency SLIs; one SLO on the workbook's windows over 28 days), OpenSLO's (a referenced
//! SLI, an alert policy, an SLO without policies) and that SLO again in Sloth's format.
//!
//! - Every spec's rules pass `promtool check rules`, and its generated unit tests pass
//!   under `promtool test rules` and `skywatch test rules`; so do the demo profiles'
//!   (`slos/*.yml`).
//! - The OpenSLO SLO and its Sloth equivalent generate the same alerts.
//! - Side by side: promtool (Prometheus 2.42's rule evaluation and storage) and Skywatch
//!   evaluate the same generated rules over the same raw counters, a calm error ratio
//!   with a ten-minute burn far over 14.4 times the budget, every minute for three hours.
//!   A unit-test file expects nothing of every `slo:*` metric, `ALERTS`,
//!   `ALERTS_FOR_STATE` and every alert at every minute, so both tools fail and print
//!   what they got; the two printouts, read back, must agree on every series within 1e-9
//!   and on every firing alert with its labels and annotations.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the side-by-side figures (series compared, largest difference) are reported for the record"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use common::{output_text, tool, yaml_fixtures};
use rules::file::{Kind, RuleFile};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/slo")
        .join(name)
}

fn skywatch() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_skywatch"))
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs `skywatch slo generate SPECS -o rules.yml --tests tests.yml` in `dir`.
fn generate(specs: &[PathBuf], dir: &Path) {
    let mut args: Vec<&str> = vec!["slo", "generate"];
    args.extend(specs.iter().map(|s| s.to_str().unwrap()));
    args.extend(["-o", "rules.yml", "--tests", "tests.yml"]);
    let out = run(&skywatch(), &args, dir);
    assert!(
        out.status.success(),
        "skywatch {}: {}",
        args.join(" "),
        output_text(&out)
    );
}

fn rule_file(dir: &Path) -> RuleFile {
    RuleFile::load(&dir.join("rules.yml")).unwrap()
}

#[test]
fn every_specs_rules_pass_promtool_check_and_its_tests_pass_under_both() {
    let promtool = tool("promtool");
    let mut specs = yaml_fixtures("fixtures/slo", 3);
    // Every profile's shipped specs (slos/zerostate.yml, slos/virtengine.yml, ...).
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../slos");
    let mut profiles: Vec<_> = std::fs::read_dir(&shipped)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    profiles.sort();
    for want in ["zerostate.yml", "virtengine.yml"] {
        assert!(profiles.contains(&shipped.join(want)), "{profiles:?}");
    }
    specs.extend(profiles);
    for spec in &specs {
        let name = spec.file_name().unwrap().to_string_lossy();
        let dir = tempfile::tempdir().unwrap();
        generate(std::slice::from_ref(spec), dir.path());
        let rules = rule_file(dir.path()).rule_count();
        let check = run(&promtool, &["check", "rules", "rules.yml"], dir.path());
        assert!(
            check.status.success(),
            "{name}: promtool check rules: {}",
            output_text(&check)
        );
        assert!(
            output_text(&check).contains(&format!("SUCCESS: {rules} rules found")),
            "{name}: promtool found other than the {rules} rules written: {}",
            output_text(&check)
        );
        let tests = std::fs::read_to_string(dir.path().join("tests.yml")).unwrap();
        assert!(
            tests.contains("exp_labels:") && tests.contains("exp_alerts: []"),
            "{name}: the generated tests expect no alert to fire, or none to stay silent:\n{tests}"
        );
        for (who, program) in [("promtool", &promtool), ("skywatch", &skywatch())] {
            let out = run(program, &["test", "rules", "tests.yml"], dir.path());
            assert!(
                out.status.success(),
                "{name}: {who} test rules failed:\n{}",
                output_text(&out)
            );
        }
    }
}

/// An alerting rule as the comparison sees it: name, labels, expression, `for`,
/// annotations.
type AlertRule = (
    String,
    BTreeMap<String, String>,
    String,
    i64,
    BTreeMap<String, String>,
);

/// The alerting rules of `file` for the SLO `sloth_id`, sorted.
fn alerts_of(file: &RuleFile, sloth_id: &str) -> Vec<AlertRule> {
    let mut out: Vec<AlertRule> = file
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| matches!(r.kind, Kind::Alert(_)) && r.expr.contains(sloth_id))
        .map(|r| {
            (
                r.name().to_owned(),
                r.labels.clone(),
                r.expr.clone(),
                r.for_,
                r.annotations.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_openslo_slo_and_its_sloth_equivalent_generate_the_same_alerts() {
    let (openslo, sloth) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(&[fixture("openslo.yml")], openslo.path());
    generate(&[fixture("sloth-equivalent.yml")], sloth.path());
    let id = "payments-refunds-availability";
    let theirs = alerts_of(&rule_file(openslo.path()), id);
    let ours = alerts_of(&rule_file(sloth.path()), id);
    let mut severities: Vec<&str> = ours
        .iter()
        .map(|a| a.1["sloth_severity"].as_str())
        .collect();
    severities.sort_unstable();
    assert_eq!(
        severities,
        ["budget", "page", "ticket"],
        "the Sloth spec's alerts: {ours:#?}"
    );
    assert_eq!(theirs, ours);
}

const MINUTE: i64 = 60_000;
/// The last evaluation, in minutes: the rules run at every minute from 0 to this.
const MINUTES: i64 = 180;
/// The minutes whose requests fail far faster than any budget allows.
const BURN: std::ops::Range<i64> = 60..70;

/// The input counters: every metric the SLIs of sloth.yml and openslo.yml read, as
/// (series, value before the first sample, growth a minute when calm, growth a minute
/// during the burn). Each SLO errs at a fraction of its budget when calm and at 100 to 200
/// times it during the burn. Counters start far from zero so that `rate` never
/// extrapolates towards a zero crossing, where Prometheus 2 and 3 differ on purpose
/// (docs/compatibility.md).
#[rustfmt::skip]
const COUNTERS: &[(&str, f64, f64, f64)] = &[
    // checkout requests-availability, 99.9%: 2,000 requests a minute, 0.05% failing, then 20%.
    (r#"http_requests_total{job="checkout", code="200"}"#, 5_000_000.0, 1999.0, 1600.0),
    (r#"http_requests_total{job="checkout", code="500"}"#, 4_000.0, 1.0, 400.0),
    // checkout requests-latency, 99%: 1,000 a minute, 0.2% slower than 300 ms, then 95%.
    (r#"http_request_duration_seconds_bucket{job="checkout", le="0.3"}"#, 2_990_000.0, 998.0, 50.0),
    (r#"http_request_duration_seconds_bucket{job="checkout", le="+Inf"}"#, 3_000_000.0, 1000.0, 1000.0),
    (r#"http_request_duration_seconds_count{job="checkout"}"#, 3_000_000.0, 1000.0, 1000.0),
    // ledger writes-availability, 99.5%: 1,000 writes a minute, 0.1% failing, then 50%.
    (r#"ledger_writes_total{job="ledger"}"#, 7_000_000.0, 1000.0, 1000.0),
    (r#"ledger_write_errors_total{job="ledger"}"#, 9_000.0, 1.0, 500.0),
    // payments charges-availability, 99.9%: as checkout.
    (r#"payment_requests_total{result="ok"}"#, 1_000_000.0, 1999.0, 1600.0),
    (r#"payment_requests_total{result="error"}"#, 1_000.0, 1.0, 400.0),
    // payments refunds-availability, 99.5%: 400 refunds a minute, 0.25% failing, then 50%.
    (r#"refund_requests_total{result="ok"}"#, 200_000.0, 399.0, 200.0),
    (r#"refund_requests_total{result="error"}"#, 600.0, 1.0, 200.0),
];

/// A YAML scalar holding exactly `s`: JSON's string syntax is YAML's double-quoted one.
fn yaml(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A unit-test file over `rules` expecting nothing, so that both tools print all they
/// got: every `slo:*` metric the rules record, `ALERTS` and `ALERTS_FOR_STATE` at every
/// minute, and every alert at every minute.
///
/// The input is sampled once a minute, 30 s past it (a 30 s grid with every other value
/// missing), as a scrape would be: off the evaluations' grid, so no sample lies on the
/// edge of a whole-minute window, where Prometheus 2 counts it and Skywatch, as
/// Prometheus 3, does not (docs/compatibility.md).
fn side_by_side_tests(rules: &RuleFile) -> String {
    let mut out = String::from("rule_files:\n  - rules.yml\nevaluation_interval: 1m\n");
    out.push_str("group_eval_order:\n");
    for g in &rules.groups {
        let _ = writeln!(out, "  - {}", yaml(&g.name));
    }
    out.push_str("tests:\n  - name: side by side\n    interval: 30s\n    input_series:\n");
    for &(series, start, calm, burning) in COUNTERS {
        let mut value = start;
        let mut values = Vec::new();
        for minute in 0..MINUTES {
            value += if BURN.contains(&minute) {
                burning
            } else {
                calm
            };
            values.push("_".to_owned());
            values.push(format!("{value}"));
        }
        let _ = writeln!(
            out,
            "      - series: {}\n        values: {}",
            yaml(series),
            yaml(&values.join(" "))
        );
    }
    let (records, alerts) = names(rules);
    out.push_str("    alert_rule_test:\n");
    for minute in 0..=MINUTES {
        for a in &alerts {
            let _ = writeln!(
                out,
                "      - eval_time: {minute}m\n        alertname: {}\n        exp_alerts: []",
                yaml(a)
            );
        }
    }
    out.push_str("    promql_expr_test:\n");
    for minute in 0..=MINUTES {
        for expr in records
            .iter()
            .map(String::as_str)
            .chain(["ALERTS", "ALERTS_FOR_STATE"])
        {
            let _ = writeln!(
                out,
                "      - expr: {}\n        eval_time: {minute}m\n        exp_samples: []",
                yaml(expr)
            );
        }
    }
    out
}

/// The `slo:*` metrics `rules` records and the alerts it has, each once, sorted.
fn names(rules: &RuleFile) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut records, mut alerts) = (BTreeSet::new(), BTreeSet::new());
    for r in rules.groups.iter().flat_map(|g| &g.rules) {
        match &r.kind {
            Kind::Record(n) if n.starts_with("slo:") => {
                records.insert(n.clone());
            }
            Kind::Record(_) => {}
            Kind::Alert(n) => {
                alerts.insert(n.clone());
            }
        }
    }
    (records, alerts)
}

type Labels = BTreeMap<String, String>;

/// What a failing unit test printed, read back.
#[derive(Default)]
struct Report {
    /// (time in ms, expression, series) -> value, from the expression tests.
    samples: BTreeMap<(i64, String, Labels), f64>,
    /// (time in ms, alert name) -> the firing alerts' labels and annotations, sorted.
    alerts: BTreeMap<(i64, String), Vec<(Labels, Labels)>>,
}

/// Reads `s` from a Go-quoted string's opening quote; returns the string and the rest.
fn go_unquote(s: &str) -> (String, &str) {
    let mut chars = s.char_indices();
    assert_eq!(
        chars.next().map(|c| c.1),
        Some('"'),
        "not a quoted string: {s}"
    );
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &s[i + 1..]),
            '\\' => match chars.next().map(|c| c.1) {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                other => panic!("an escape this test does not read: \\{other:?} in {s}"),
            },
            c => out.push(c),
        }
    }
    panic!("an unterminated string: {s}")
}

/// Reads a label set as Go's `labels.Labels.String()` prints it: `{a="b", c="d"}`;
/// returns it and the rest.
fn parse_labels(s: &str) -> (Labels, &str) {
    let mut rest = s
        .strip_prefix('{')
        .unwrap_or_else(|| panic!("not a label set: {s}"));
    let mut labels = Labels::new();
    if let Some(r) = rest.strip_prefix('}') {
        return (labels, r);
    }
    loop {
        let (name, r) = rest
            .split_once('=')
            .unwrap_or_else(|| panic!("a label without `=`: {rest}"));
        let (value, r) = go_unquote(r);
        labels.insert(name.to_owned(), value);
        if let Some(r) = r.strip_prefix(", ") {
            rest = r;
        } else if let Some(r) = r.strip_prefix('}') {
            return (labels, r);
        } else {
            panic!("expected `, ` or `}}` after a label: {r}");
        }
    }
}

/// A time as a unit-test failure prints it (`1h5m`, or Go's `1h5m0s`), in milliseconds.
fn parse_time(t: &str) -> i64 {
    let t = t.strip_suffix("0s").filter(|r| !r.is_empty()).unwrap_or(t);
    model::parse_duration(t).unwrap_or_else(|| panic!("not a time: {t}"))
}

/// Reads the failures promtool 2.42 prints for expression tests (`expr: ..., time: ...,`
/// then `exp:` and `got:` lines of `{labels} value`) and alert tests (`alertname: ...,
/// time: ...,` then `exp:[...]` and `got:[...]`, each alert a `Labels:` and an
/// `Annotations:` line). Any other line fails the test: the two tools must print alike.
fn parse_report(out: &str, who: &str) -> Report {
    let mut report = Report::default();
    let mut lines = out.lines().peekable();
    let unexpected = |line: &str| -> ! {
        panic!("{who}: a line this test cannot read, so not promtool's format: {line:?}")
    };
    while let Some(line) = lines.next() {
        let l = line.trim();
        if l.starts_with("Unit Testing:") || l == "FAILED:" || l.is_empty() {
            continue;
        }
        if l.starts_with("name: ") && l.ends_with(',') {
            continue;
        }
        if let Some(rest) = l.strip_prefix("expr: ") {
            let (expr, rest) = go_unquote(rest);
            let time = rest
                .strip_prefix(", time: ")
                .and_then(|r| r.strip_suffix(','))
                .unwrap_or_else(|| unexpected(line));
            let at = parse_time(time);
            let exp = lines.next().map(str::trim).unwrap_or_default();
            if exp != "exp: nil" {
                unexpected(exp);
            }
            let got = lines.next().unwrap_or_default();
            let mut rest = got
                .trim()
                .strip_prefix("got: ")
                .unwrap_or_else(|| unexpected(got));
            loop {
                let (labels, r) = parse_labels(rest);
                let r = r.strip_prefix(' ').unwrap_or_else(|| unexpected(got));
                let (value, r) = r.split_once(", ").unwrap_or((r, ""));
                let value: f64 = value.parse().unwrap_or_else(|_| unexpected(got));
                report.samples.insert((at, expr.clone(), labels), value);
                if r.is_empty() {
                    break;
                }
                rest = r;
            }
            continue;
        }
        if let Some(rest) = l.strip_prefix("alertname: ") {
            let (name, rest) = rest
                .split_once(", time: ")
                .unwrap_or_else(|| unexpected(line));
            let at = parse_time(rest.strip_suffix(',').unwrap_or_else(|| unexpected(line)));
            let exp = lines.next().map(str::trim).unwrap_or_default();
            if exp != "exp:[]," {
                unexpected(exp);
            }
            let got = lines.next().map(str::trim).unwrap_or_default();
            if got != "got:[" {
                unexpected(got);
            }
            let mut firing = Vec::new();
            loop {
                let l = lines.next().map(str::trim).unwrap_or_default();
                if l == "]" {
                    break;
                }
                let index = l.strip_suffix(':').filter(|i| i.parse::<usize>().is_ok());
                if index.is_none() {
                    unexpected(l);
                }
                // `Labels:{...}`, then `Annotations:{...}` (with a comma if another follows).
                let mut set = |key: &str, tail: &str| {
                    let line = lines.next().map(str::trim).unwrap_or_default();
                    let rest = line.strip_prefix(key).unwrap_or_else(|| unexpected(line));
                    let (set, r) = parse_labels(rest);
                    if !r.is_empty() && r != tail {
                        unexpected(line);
                    }
                    set
                };
                let labels = set("Labels:", "");
                let annotations = set("Annotations:", ",");
                firing.push((labels, annotations));
            }
            firing.sort();
            report.alerts.insert((at, name.to_owned()), firing);
            continue;
        }
        unexpected(line);
    }
    report
}

/// Whether two values agree within 1e-9: relative to the larger, or absolute below 1.
fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn prometheus_and_skywatch_evaluate_the_generated_rules_alike() {
    let began = Instant::now();
    let promtool = tool("promtool");
    let dir = tempfile::tempdir().unwrap();
    generate(&[fixture("sloth.yml"), fixture("openslo.yml")], dir.path());
    let rules = rule_file(dir.path());
    std::fs::write(dir.path().join("side.yml"), side_by_side_tests(&rules)).unwrap();

    let mut reports = Vec::new();
    let mut printouts = Vec::new();
    for (who, program) in [("promtool", &promtool), ("skywatch", &skywatch())] {
        let out = run(program, &["test", "rules", "side.yml"], dir.path());
        let printed = output_text(&out);
        assert!(
            !out.status.success(),
            "{who} passed a test expecting nothing at all: {printed}"
        );
        reports.push(parse_report(&printed, who));
        printouts.push(printed);
    }
    let (prom, sky) = (&reports[0], &reports[1]);

    let mut problems = Vec::new();
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    let keys: BTreeSet<_> = prom.samples.keys().chain(sky.samples.keys()).collect();
    for key in &keys {
        let (at, expr, labels) = key;
        let at = at / MINUTE;
        match (prom.samples.get(*key), sky.samples.get(*key)) {
            (Some(&p), Some(&s)) => {
                if p.is_finite() && s.is_finite() {
                    let d = (p - s).abs();
                    max_abs = max_abs.max(d);
                    if d > 0.0 {
                        max_rel = max_rel.max(d / p.abs().max(s.abs()));
                    }
                }
                if !close(p, s) {
                    problems.push(format!(
                        "{expr} at {at}m, {labels:?}: Prometheus {p:e}, Skywatch {s:e}"
                    ));
                }
            }
            (Some(p), None) => problems.push(format!(
                "{expr} at {at}m, {labels:?}: Prometheus {p:e}, Skywatch none"
            )),
            (None, Some(s)) => problems.push(format!(
                "{expr} at {at}m, {labels:?}: Prometheus none, Skywatch {s:e}"
            )),
            (None, None) => unreachable!("a key of one of them"),
        }
    }
    let alert_keys: BTreeSet<_> = prom.alerts.keys().chain(sky.alerts.keys()).collect();
    for key in &alert_keys {
        let (p, s) = (prom.alerts.get(*key), sky.alerts.get(*key));
        if p != s {
            problems.push(format!(
                "{} at {}m:\n  Prometheus {p:#?}\n  Skywatch {s:#?}",
                key.1,
                key.0 / MINUTE
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences between Prometheus 2.42 and Skywatch, the first:\n{}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Every SLO's page alert fires during the burn and stops well before the end.
    let ids: BTreeSet<&str> = prom
        .samples
        .keys()
        .filter_map(|(_, _, l)| l.get("sloth_id").map(String::as_str))
        .collect();
    assert_eq!(ids.len(), 5, "the SLOs evaluated: {ids:?}");
    for id in &ids {
        let paging: Vec<i64> = prom
            .alerts
            .iter()
            .filter(|(_, firing)| {
                firing.iter().any(|(l, _)| {
                    l.get("sloth_id").map(String::as_str) == Some(*id)
                        && l.get("sloth_severity").map(String::as_str) == Some("page")
                })
            })
            .map(|((at, _), _)| at / MINUTE)
            .collect();
        let (first, last) = (paging.iter().min(), paging.iter().max());
        assert!(
            first.is_some_and(|f| BURN.contains(f)),
            "{id}: the page alert first fires at minute {first:?}, not during the burn ({BURN:?})"
        );
        assert!(
            last.is_some_and(|l| *l < MINUTES - 30),
            "{id}: the page alert still fires at minute {last:?}"
        );
    }
    let alerts_compared: usize = prom.alerts.values().map(Vec::len).sum();
    eprintln!(
        "{} evaluations; {} samples of {} slo:*/ALERTS expressions compared, max difference \
         {max_abs:e} (relative {max_rel:e}); {alerts_compared} firing alerts compared at {} \
         (minute, alert) points; printouts byte for byte identical: {}; {:.1?}",
        MINUTES + 1,
        prom.samples.len(),
        names(&rules).0.len() + 2,
        prom.alerts.len(),
        printouts[0] == printouts[1],
        began.elapsed()
    );
}
