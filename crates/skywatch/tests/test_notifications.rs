//! `skywatch test notifications CONFIG ALERTS.json`: what each receiver would be sent,
//! rendered without sending, with the configuration's templates; a text that cannot be
//! rendered and alerts that are not JSON are reported, naming what to fix.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::path::Path;
use std::process::{Command, Output};

const TEMPLATES: &str = r#"{{ define "team.title" }}[{{ .Status | toUpper }}] {{ .GroupLabels.alertname }}: {{ len .Alerts.Firing }} down{{ end }}
{{ define "team.text" }}{{ range .Alerts.Firing }}{{ .Labels.instance }}: {{ .Annotations.summary }}
{{ end }}{{ end }}
"#;

const ALERTS: &str = r#"[
  {"labels": {"alertname": "NodeDown", "instance": "n1", "severity": "critical"},
   "annotations": {"summary": "n1 stopped answering"}, "startsAt": "2026-01-01T00:00:00Z"},
  {"labels": {"alertname": "NodeDown", "instance": "n2", "severity": "critical"},
   "annotations": {"summary": "n2 stopped answering"}, "startsAt": "2026-01-01T00:01:00Z"}
]"#;

fn run(dir: &Path, config: &str, alerts: &str) -> Output {
    std::fs::write(dir.join("team.tmpl"), TEMPLATES).unwrap();
    std::fs::write(dir.join("am.yml"), config).unwrap();
    std::fs::write(dir.join("alerts.json"), alerts).unwrap();
    Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["test", "notifications", "am.yml", "alerts.json"])
        .args(["--external-url", "http://am.example:9093"])
        .current_dir(dir)
        .output()
        .unwrap()
}

const CONFIG: &str = "templates: ['team.tmpl']
route:
  receiver: team
  group_by: [alertname]
receivers:
  - name: team
    slack_configs:
      - api_url: https://hooks.slack.example/T0/B0/x
        title: '{{ template \"team.title\" . }}'
        text: '{{ template \"team.text\" . }}'
    pagerduty_configs:
      - routing_key: rk
";

#[test]
fn each_receiver_is_shown_what_it_would_be_sent() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), CONFIG, ALERTS);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("2 alerts, 2 notifications\n"),
        "{stdout}"
    );
    // Slack: the templates file's title and text, rendered over both alerts.
    assert!(
        stdout.contains("POST https://hooks.slack.example/T0/B0/x"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""title": "[FIRING] NodeDown: 2 down""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""text": "n1: n1 stopped answering\nn2: n2 stopped answering\n""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""title_link": "http://am.example:9093/#/alerts?receiver=team""#),
        "{stdout}"
    );
    // PagerDuty: Alertmanager's default summary and the group's dedup key.
    let key = alerting::notify::group_key_hash(r#"{}:{alertname="NodeDown"}"#);
    assert!(
        stdout.contains(&format!(r#""dedup_key": "{key}""#)),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""summary": "[FIRING:2] NodeDown (critical)""#),
        "{stdout}"
    );
}

#[test]
fn a_text_that_cannot_render_and_bad_alerts_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let broken = CONFIG.replace("team.title", "no.such.template");
    let out = run(dir.path(), &broken, ALERTS);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("NOT RENDERED:"), "{stdout}");
    assert!(stdout.contains("no.such.template"), "{stdout}");

    let out = run(dir.path(), CONFIG, "[{\"labels\": }]");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("alerts.json: line 1, column 13: expected value; write a JSON array"),
        "{stderr}"
    );
}
