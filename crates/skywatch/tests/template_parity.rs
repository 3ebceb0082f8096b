//! Alert templates rendered by Skywatch and by promtool (Prometheus 2.42) agree.
//!
//! The test writes one rule file whose alerts render every template function, Go
//! builtin and `printf` verb over edge values (NaN, ±Inf, ±0, huge and tiny numbers,
//! text needing HTML, JavaScript and URL escaping, Unicode, durations and timestamps),
//! and run-time errors. It renders each label and annotation with Skywatch's template
//! engine, writes the renderings as a promtool unit test's `exp_alerts`, and runs both
//! `promtool test rules` and `skywatch test rules` on it: both pass only if both render
//! exactly what Skywatch's engine rendered.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::output_text;
use rules::template::{self, AlertData, Env, Samples};

/// The series the alerts select, by their `case` label, with the value each has at 0s.
const CASES: &[(&str, &str, f64)] = &[
    ("one", "1.5", 1.5),
    ("zero", "0", 0.0),
    ("negzero", "-0", -0.0),
    ("neg", "-2.5", -2.5),
    ("nan", "NaN", f64::NAN),
    ("inf", "Inf", f64::INFINITY),
    ("neginf", "-Inf", f64::NEG_INFINITY),
    ("huge", "1e300", 1e300),
    ("tiny", "1e-300", 1e-300),
    ("stamp", "1435065584.128", 1_435_065_584.128),
    ("days400", "34560000", 34_560_000.0),
    ("milli", "0.001", 0.001),
    ("big", "123456789", 123_456_789.0),
    ("ratio", "0.2345", 0.2345),
    ("answer", "42", 42.0),
];

/// What the alert on each case renders, from `$value` and `$labels`.
const VALUE_TEMPLATES: &[&str] = &[
    "[{{ $value }}] [{{ .Value }}]",
    "{{ humanize $value }}|{{ $value | humanize1024 }}|{{ humanizeDuration $value }}|{{ humanizePercentage $value }}",
    "{{ humanizeTimestamp $value }}",
    "{{ toTime $value }}",
    r#"{{ printf "%v|%s|%d|%f|%.2f|%e|%E|%g|%G|%x|%X|%b|%8.3f|%-12.2e|%+g|% g|%08.3f|%q|%T|%t|%5v|%+v|%#v|%.0f|%.3g|%10.4g|%+.1e" $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value $value }}"#,
    "{{ if gt $value 1.0 }}gt{{ else }}le{{ end }} {{ eq $value 0.0 }} {{ lt $value 0.0 }} {{ ge $value 0.0 }} {{ ne $value $value }} {{ le $value $value }}",
    r#"{{ print $value 1 "s" $value true }}|{{ println $value nil "x" }}"#,
    "{{ html $value }} {{ js $value }} {{ urlquery $value $value }}",
    "{{ gt $value 1 }}",
    r#"{{ printf "%s and %v" $labels.case $labels }}"#,
    r#"{{ with $value }}{{ . }}{{ else }}falsy{{ end }} {{ and $value "and" }} {{ or $value "or" }} {{ not $value }}"#,
];

/// What one alert renders from constants, on the `one` case.
const TEXT_TEMPLATES: &[&str] = &[
    // Escapers.
    r#"{{ html "<a href=\"x?y=1&z='2'\">é</a>" }}"#,
    r#"{{ js "<a href=\"x?y=1&z='2'\">é</a>\\ \t\u0001\u2028" }}"#,
    r#"{{ urlquery "a b&c=d/é~*+%" }} {{ urlquery 1 2 "x" 3 }}"#,
    "{{ $labels.msg | html }} {{ $labels.msg | js }} {{ $labels.msg | urlquery }}",
    r#"{{ html "a" 1 nil }} {{ js 1.5 true }} {{ "x<y" | html }}"#,
    r#"{{ safeHtml "<b>raw</b>" }}"#,
    // Links.
    r#"{{ graphLink "rate(x{a=\"b\"}[5m]) > 0" }} {{ tableLink "up == 0" }} {{ graphLink "" }}"#,
    // Text.
    r#"{{ title "hello wORLD foo_bar baz-qux o'neil 3am éa ßx a.b,c;d(e)f x_y ǆa" }}"#,
    r#"{{ title "" }}|{{ title "hello\tworld\nnew" }}|{{ title "a$b+c=d" }}"#,
    r#"{{ toUpper "ßtraße ǆ héllo" }}|{{ toLower "İSTANBUL ΣΑΣ HÉLLO" }}"#,
    r#"{{ stripPort "a:b" }}|{{ stripPort "[::1]:80" }}|{{ stripPort "::1" }}|{{ stripPort "host:" }}|{{ stripPort "host" }}|{{ stripPort "a:b:c" }}|{{ $labels.instance | stripPort }}"#,
    r#"{{ stripDomain "h.example.com:9100" }}|{{ stripDomain "10.0.0.1:80" }}|{{ stripDomain "[::1]:80" }}|{{ stripDomain "a.b" }}|{{ stripDomain "a.b:" }}|{{ stripDomain "::1" }}"#,
    r#"{{ reReplaceAll "(h)(\\w+)" "${2}_$1" "hello world" }}|{{ match "^h.*o$" "hello" }}|{{ match "x" "hello" }}"#,
    // Durations.
    r#"{{ parseDuration "1h30m" }}|{{ parseDuration "0" }}|{{ parseDuration "1ms" }}|{{ parseDuration "400d" }}|{{ parseDuration "1y2w3d4h5m6s7ms" }}|{{ parseDuration "0.001s" | printf "%v" }}"#,
    r#"{{ humanizeDuration 0.001 }}|{{ humanizeDuration 34560000 }}|{{ humanizeDuration -90 }}|{{ humanizeDuration 1e-30 }}|{{ humanizeDuration 59.99 }}|{{ humanizeDuration 3600 }}|{{ humanizeDuration "86400" }}"#,
    r#"{{ humanize "1e3" }}|{{ humanize "inf" }}|{{ humanize "-Infinity" }}|{{ humanize "nan" }}|{{ humanize 1000 }}|{{ humanize 0.000001234 }}|{{ humanize1024 1024 }}|{{ humanize1024 -2048 }}|{{ humanizePercentage 1 }}"#,
    r#"{{ humanizeTimestamp 0 }}|{{ humanizeTimestamp -1.5 }}|{{ humanizeTimestamp "1435065584.128" }}|{{ (toTime 1435065584.128).Unix }}|{{ printf "%v %T" (toTime 1) (toTime 1) }}"#,
    // printf beyond numbers.
    r#"{{ printf "%x %X % x %q %#q %+q %5s|%-5s|%.1s|%5.1q|%05s" "héllo" "hi" "hi" "é\n" "a`b" "é" "abc" "é" "héllo" "abc" "ab" }}"#,
    r#"{{ printf "%d|%+d|%x|%X|%o|%O|%b|%c|%q|%U|%#U|%#x|%#o|%08d|%-6d|%.3d|% d|%6.2v" 42 42 -255 255 8 8 5 233 65 233 233 255 8 -42 7 7 5 1.5 }}"#,
    r#"{{ printf "%v|%s|%t|%5t|%q|%T" true false true false true true }}"#,
    r#"{{ printf "%s %v %d %q %T" nil nil nil nil nil }}"#,
    r#"{{ printf "%!" }}|{{ printf "%d" }}|{{ printf "%d %d" 1 }}|{{ printf "x" 1 "y" }}|{{ printf "%z" 1 }}|{{ printf "%[2]d %[1]d" 1 2 }}|{{ printf "%*d|%-*d|%.*f" 5 1 5 2 2 3.14159 }}|{{ printf "100%%" }}"#,
    r#"{{ printf "%v|%+v|%d|%s" $labels $externalLabels (args 1 "a") (args 1 "a") }}"#,
    r#"{{ printf "%v" . }}"#,
    r#"{{ printf "%g %g %.3g %e %.0f %.0f %.1f %x %.3x %8.2X" 1e21 1e20 0.0001234 0.0 2.5 3.5 0.05 1e6 3.0 -1.5 }}"#,
    r#"{{ print 1 2 "a" "b" 3 true false nil 1.5 }}|{{ print "a" 1 2 "b" }}|{{ print }}|{{ println "a" 1 "b" }}"#,
    // Values as text/template prints them.
    "{{ $labels }} {{ $externalLabels }} {{ $externalURL }} {{ .ExternalURL }}",
    "{{ . }}",
    "[{{ $labels.nothing }}] [{{ index $labels \"nothing\" }}] [{{ (args 1).arg5 }}] [{{ index (args 1 2) \"arg1\" }}]",
    // Go builtins.
    r#"{{ len $labels }} {{ len "héllo" }} {{ index "abc" 1 }} {{ slice "hello" 1 3 }} {{ slice "hello" 2 }} {{ slice "hello" }}"#,
    r#"{{ and 1 0 }}|{{ or 0 "" "x" }}|{{ not 0 }}|{{ and 1 "a" }}|{{ and 0 (first (query "nothing_here")) }}|{{ or 1 (first (query "nothing_here")) }}"#,
    r#"{{ eq "a" "b" "a" }}|{{ lt "a" "b" }}|{{ eq true true }}|{{ lt 1 2 }}|{{ eq nil nil }}|{{ ne 1 2 }}|{{ ge "b" "a" }}|{{ le 2 2 }}"#,
    r#"{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ $y }}{{ end }}{{ $x }}"#,
    r#"{{ range $i, $c := (args "a" "b" "c") }}{{ if eq $i "arg1" }}{{ continue }}{{ end }}{{ $i }}={{ $c }};{{ end }}"#,
    r#"{{ range $k, $v := $labels }}{{ if eq $k "job" }}{{ break }}{{ end }}{{ $k }};{{ end }}"#,
    r#"{{ define "item" }}<{{ . }}>{{ end }}{{ template "item" 5 }}{{ template "item" $labels.case }}{{ block "b" "x" }}[{{ . }}]{{ end }}{{ template "b" }}"#,
    "x {{- if true -}} yes {{- end }} {{/* a comment */}} y {{- /* trimmed */ -}} z",
    // Queries.
    r#"{{ with query "vector(3)" }}{{ . | first | value }}{{ end }} {{ range query "edge{case=\"one\"}" }}{{ .Labels.case }} {{ .Value }} {{ label "job" . }} [{{ strvalue . }}] {{ . }}{{ end }}"#,
    r#"{{ range sortByLabel "case" (query "edge{case=~\"one|neg|zero\"}") }}{{ .Labels.case }}={{ .Value }} {{ end }}"#,
    r#"{{ with query "nothing_here" }}yes{{ else }}no data{{ end }} {{ len (query "nothing_here") }}"#,
    r#"{{ printf "%+v %T" (query "vector(3)" | first) (query "vector(3)") }}"#,
    // Errors at run time, which Prometheus writes in place of the text.
    "{{ .Foo }}",
    "{{ $labels.case.bar }}",
    "{{ title 3 }}",
    "{{ title $value }}",
    r#"{{ first (query "nothing_here") }}"#,
    "{{ range 3 }}{{ . }}{{ end }}",
    r#"{{ template "nope" }}"#,
    "{{ lt true false }}",
    "{{ eq $labels $labels }}",
    "{{ eq 1 1.0 }}",
    "{{ call 1 }}",
    "{{ index 1 2 }}",
    r#"{{ humanize "abc" }}"#,
    "{{ humanize true }}",
    r#"{{ parseDuration "1.5h" }}"#,
    r#"{{ parseDuration "" }}"#,
    r#"{{ parseDuration "1000000y" }}"#,
    "{{ humanizeTimestamp 1e10 }}",
    "line one\n{{ title 3 }}",
];

/// The labels every series has besides `case`.
fn series_labels(case: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("__name__".to_owned(), "edge".to_owned()),
        ("case".to_owned(), case.to_owned()),
        ("instance".to_owned(), "h.example.com:9100".to_owned()),
        ("job".to_owned(), "node".to_owned()),
        (
            "msg".to_owned(),
            "<a href=\"x?y=1&z='2'\">é & ü</a>".to_owned(),
        ),
    ])
}

/// A series as PromQL writes it: `edge{case="one", ...}`.
fn series_text(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("edge{{{}}}", inner.join(", "))
}

/// The answers of the queries the templates make, as PromQL gives them at 0s.
struct Answers;

impl Env for Answers {
    fn query(&self, expr: &str) -> Result<Samples, String> {
        let of = |cases: &[&str]| -> Samples {
            cases
                .iter()
                .map(|c| {
                    let value = CASES.iter().find(|(n, _, _)| n == c).unwrap().2;
                    (series_labels(c), value)
                })
                .collect()
        };
        Ok(match expr {
            "vector(3)" => vec![(BTreeMap::new(), 3.0)],
            "nothing_here" => Vec::new(),
            r#"edge{case="one"}"# => of(&["one"]),
            r#"edge{case=~"one|neg|zero"}"# => of(&["neg", "one", "zero"]),
            other => panic!("the test answers no query {other:?}"),
        })
    }
}

const EXTERNAL_URL: &str = "http://sky.example:9090/prefix";

fn external_labels() -> BTreeMap<String, String> {
    BTreeMap::from([("cluster".to_owned(), "eu-1".to_owned())])
}

/// A YAML scalar holding exactly `s`: JSON's string syntax is YAML's double-quoted one.
fn yaml(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// One alerting rule: its annotations' templates and the case it selects.
struct Alert {
    name: String,
    case: &'static str,
    annotations: Vec<String>,
}

/// Labels whose templates the alerts on the cases render too: one that the value picks,
/// one that renders empty for some cases (and so is dropped).
const LABEL_TEMPLATES: &[(&str, &str)] = &[
    (
        "severity",
        "{{ if gt $value 1.0 }}high{{ else }}low{{ end }}",
    ),
    ("sign", "{{ if lt $value 0.0 }}negative{{ end }}"),
];

fn alerts() -> Vec<Alert> {
    let mut out: Vec<Alert> = CASES
        .iter()
        .map(|(case, _, _)| Alert {
            name: format!("Value_{case}"),
            case,
            annotations: VALUE_TEMPLATES.iter().map(|t| (*t).to_owned()).collect(),
        })
        .collect();
    out.push(Alert {
        name: "Text".to_owned(),
        case: "one",
        annotations: TEXT_TEMPLATES.iter().map(|t| (*t).to_owned()).collect(),
    });
    out
}

/// Writes the rule file and its unit test, with Skywatch's renderings as expectations,
/// and returns the test file's name.
fn write_files(dir: &Path) -> String {
    let mut rules = String::from("groups:\n  - name: templates\n    rules:\n");
    let mut tests = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    external_url: {}\n    external_labels:\n      cluster: {}\n    input_series:\n",
        yaml(EXTERNAL_URL),
        yaml("eu-1")
    );
    for (case, value, _) in CASES {
        tests.push_str(&format!(
            "      - series: {}\n        values: {}\n",
            yaml(&series_text(&series_labels(case))),
            yaml(value)
        ));
    }
    tests.push_str("    alert_rule_test:\n");
    let ext = external_labels();
    for alert in alerts() {
        let labels = series_labels(alert.case);
        let value = CASES.iter().find(|(c, _, _)| *c == alert.case).unwrap().2;
        let data = AlertData {
            rule: &alert.name,
            labels: &labels,
            external_labels: &ext,
            external_url: EXTERNAL_URL,
            value,
        };
        rules.push_str(&format!(
            "      - alert: {}\n        expr: {}\n        labels:\n",
            alert.name,
            yaml(&format!("edge{{case=\"{}\"}}", alert.case))
        ));
        let mut alert_labels = labels.clone();
        alert_labels.remove("__name__");
        for (k, t) in LABEL_TEMPLATES {
            rules.push_str(&format!("          {k}: {}\n", yaml(t)));
            let rendered = template::expand(t, &data, &Answers);
            if !rendered.is_empty() {
                alert_labels.insert((*k).to_owned(), rendered);
            }
        }
        rules.push_str("        annotations:\n");
        tests.push_str(&format!(
            "      - eval_time: 0m\n        alertname: {}\n        exp_alerts:\n          - exp_labels:\n",
            alert.name
        ));
        for (k, v) in &alert_labels {
            tests.push_str(&format!("              {k}: {}\n", yaml(v)));
        }
        tests.push_str("            exp_annotations:\n");
        for (i, t) in alert.annotations.iter().enumerate() {
            rules.push_str(&format!("          a{i:02}: {}\n", yaml(t)));
            let rendered = template::expand(t, &data, &Answers);
            tests.push_str(&format!("              a{i:02}: {}\n", yaml(&rendered)));
        }
    }
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(dir.join("rules.test.yml"), tests).unwrap();
    "rules.test.yml".to_owned()
}

#[test]
fn promtool_renders_every_template_as_skywatch_does() {
    let promtool = common::tool("promtool");
    let dir = tempfile::tempdir().unwrap();
    let file = write_files(dir.path());
    let theirs = Command::new(promtool)
        .args(["test", "rules", &file])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let ours = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["test", "rules", &file])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let rules = std::fs::read_to_string(dir.path().join("rules.yml")).unwrap();
    assert!(
        theirs.status.success(),
        "promtool renders differently from Skywatch's template engine:\n{}\n--- rules.yml:\n{rules}",
        output_text(&theirs)
    );
    assert!(
        ours.status.success(),
        "skywatch test rules renders differently from its own template engine:\n{}",
        output_text(&ours)
    );
}

/// The expectations are not vacuous: they hold Go's texts, which a template engine that
/// passed text through unescaped, or printed numbers its own way, would not produce.
#[test]
fn the_expectations_hold_go_renderings() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path());
    let tests = std::fs::read_to_string(dir.path().join("rules.test.yml")).unwrap();
    for want in [
        "&lt;a href=&#34;x?y=1&amp;z=&#39;2&#39;&#34;&gt;é&lt;/a&gt;",
        r#"\\u003Ca href\\u003D\\\"x?y\\u003D1\\u0026z\\u003D\\'2\\'\\\"\\u003Eé"#,
        "a+b%26c%3Dd%2F%C3%A9~%2A%2B%25",
        "%!s(float64=1.5)",
        "map[__name__:edge case:one",
        "Hello WORLD Foo_bar Baz-Qux O'Neil 3am Éa ßx A.B,C;D(E)F X_y ǅa",
        "/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "error calling gt: incompatible types for comparison",
    ] {
        assert!(
            tests.contains(want),
            "{want:?} is not among the expectations"
        );
    }
}
