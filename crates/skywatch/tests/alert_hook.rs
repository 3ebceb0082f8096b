//! `skywatch alert-hook` as Alertmanager meets it: the real binary on loopback, real
//! webhook payloads (version 4) posted to it, and a command that writes what it got to a
//! temporary directory, so the test sees exactly what ran, with which environment.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::within;

/// An Alertmanager webhook notification of one alert.
fn notification(group_key: &str, status: &str, labels: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "auto-rollback",
        "groupLabels": {"component": "parity"},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://skywatch.example:9797",
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": {"summary": "Dual-run parity mismatch"},
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://skywatch.example:9797/graph",
            "fingerprint": "0123456789abcdef"
        }]
    })
}

/// Posts `body` to the hook and returns the outcome it answered.
fn post(client: &reqwest::blocking::Client, addr: &str, body: &serde_json::Value) -> String {
    let text = client
        .post(format!("http://{addr}/"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
        .text()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    answer["outcome"].as_str().unwrap().to_owned()
}

/// The value of one sample line of the hook's `/metrics`, 0 if absent.
fn metric(client: &reqwest::blocking::Client, addr: &str, series: &str) -> f64 {
    common::metric_value(client, addr, series).unwrap_or(0.0)
}

/// The runs the command recorded: one `env.PID` file each.
fn runs(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_prefix("env.").map(str::to_owned)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_matching_firing_notification_runs_the_command_once_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    // The command records its environment and its standard input under its PID; `$0` is
    // the directory, passed as an argument rather than spliced into the script.
    let (_hook, addr) = common::start_alert_hook(&[
        "--match",
        r#"alertname="ParityMismatch""#,
        "--match",
        r#"severity="P0""#,
        "--cooldown",
        "1h",
        "--",
        "sh",
        "-c",
        r#"cat > "$0/payload.$$"; env > "$0/env.$$""#,
        out,
    ]);
    let client = reqwest::blocking::Client::new();
    let parity = serde_json::json!({
        "alertname": "ParityMismatch", "severity": "P0", "component": "parity",
        "node": "node-01", "function": "merkle_root", "weird-label.x": "a b;c"
    });

    assert_eq!(
        post(
            &client,
            &addr,
            &notification("{}:{component=\"parity\"}", "firing", parity.clone())
        ),
        "run"
    );
    within(Duration::from_secs(20), "the run finished", || {
        metric(
            &client,
            &addr,
            r#"skywatch_alert_hook_runs_total{result="success"}"#,
        ) == 1.0
    });
    let pids = runs(dir.path());
    assert_eq!(pids.len(), 1, "{pids:?}");
    let env = std::fs::read_to_string(dir.path().join(format!("env.{}", pids[0]))).unwrap();
    for line in [
        "ALERT_ALERTNAME=ParityMismatch",
        "ALERT_NODE=node-01",
        "ALERT_FUNCTION=merkle_root",
        "ALERT_SEVERITY=P0",
        "ALERT_WEIRD_LABEL_X=a b;c",
        "SKYWATCH_RECEIVER=auto-rollback",
        "SKYWATCH_MATCHING_ALERTS=1",
        "SKYWATCH_GROUP_KEY={}:{component=\"parity\"}",
    ] {
        assert!(env.lines().any(|l| l == line), "{line:?} not in\n{env}");
    }
    let payload: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("payload.{}", pids[0]))).unwrap(),
    )
    .unwrap();
    assert_eq!(payload["alerts"][0]["labels"]["node"], "node-01");

    // Alertmanager's repeat of the same group, within the cooldown: not run again.
    assert_eq!(
        post(
            &client,
            &addr,
            &notification("{}:{component=\"parity\"}", "firing", parity.clone())
        ),
        "cooldown"
    );
    // Resolved, in another group (so the cooldown cannot be what stops it): not run.
    assert_eq!(
        post(
            &client,
            &addr,
            &notification("{}:{component=\"other\"}", "resolved", parity)
        ),
        "resolved"
    );
    // Firing, but not matching (a P1 NodeDown), in a third group: not run.
    let node_down =
        serde_json::json!({"alertname": "NodeDown", "severity": "P1", "node": "node-02"});
    assert_eq!(
        post(
            &client,
            &addr,
            &notification("{}:{alertname=\"NodeDown\"}", "firing", node_down)
        ),
        "no_match"
    );
    // Not a notification at all.
    let bad = client
        .post(format!("http://{addr}/"))
        .body("not json")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);

    for (outcome, n) in [
        ("run", 1.0),
        ("cooldown", 1.0),
        ("resolved", 1.0),
        ("no_match", 1.0),
        ("invalid", 1.0),
    ] {
        let series = format!(r#"skywatch_alert_hook_notifications_total{{outcome="{outcome}"}}"#);
        assert_eq!(metric(&client, &addr, &series), n, "{series}");
    }
    assert_eq!(runs(dir.path()).len(), 1, "only the first notification ran");
}

#[test]
fn a_failing_or_slow_command_is_counted_and_a_dry_run_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let script = format!("touch {}; sleep 30", marker.display());
    let (_hook, addr) = common::start_alert_hook(&[
        "--match",
        r#"alertname="ParityMismatch""#,
        "--cooldown",
        "0s",
        "--timeout",
        "300ms",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let client = reqwest::blocking::Client::new();
    let parity = serde_json::json!({"alertname": "ParityMismatch"});
    assert_eq!(
        post(&client, &addr, &notification("g", "firing", parity.clone())),
        "run"
    );
    within(Duration::from_secs(20), "the slow run was killed", || {
        metric(
            &client,
            &addr,
            r#"skywatch_alert_hook_runs_total{result="timeout"}"#,
        ) == 1.0
    });
    assert!(marker.exists(), "the command did start");

    let (_dry, dry_addr) = common::start_alert_hook(&[
        "--match",
        r#"alertname="ParityMismatch""#,
        "--dry-run",
        "--",
        "sh",
        "-c",
        &format!("touch {}", dir.path().join("dry").display()),
    ]);
    assert_eq!(
        post(&client, &dry_addr, &notification("g", "firing", parity)),
        "dry_run"
    );
    assert_eq!(
        metric(
            &client,
            &dry_addr,
            r#"skywatch_alert_hook_notifications_total{outcome="dry_run"}"#
        ),
        1.0
    );
    assert!(
        !dir.path().join("dry").exists(),
        "a dry run ran the command"
    );
}
