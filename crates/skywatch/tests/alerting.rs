//! Alerting end to end against a live `skywatch demo`: `amtool` (Debian's
//! `prometheus-alertmanager`) lists alerts and creates and expires a silence; and a node's
//! failure goes from rule to receiver: pending, firing after its `for`, an
//! Alertmanager-shaped webhook payload with the rendered annotations, a silence muting the
//! next, inhibition muting a warning under a firing critical, the notification log
//! recording each outcome, and the resolved notification when the node recovers; and
//! alerts sent on to a real Alertmanager (Debian's `prometheus-alertmanager`) listed in
//! `alerting.alertmanagers`.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{get_json, start_demo, tool, within};
use serde_json::{Value, json};

fn amtool(addr: &str, args: &[&str]) -> String {
    let out = Command::new(tool("amtool"))
        .arg(format!("--alertmanager.url=http://{addr}"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "amtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn amtool_lists_alerts_and_creates_and_expires_a_silence() {
    let (demo, addr) = start_demo(&["--nodes", "3", "--scrape-interval", "500ms"]);
    within(Duration::from_secs(15), "Watchdog listed by amtool", || {
        amtool(&addr, &["alert", "query"]).contains("Watchdog")
    });
    let id = amtool(
        &addr,
        &[
            "silence",
            "add",
            "alertname=Watchdog",
            "--author=ops",
            "--comment=maintenance",
            "--duration=10m",
        ],
    )
    .trim()
    .to_owned();
    assert_eq!(id.len(), 36, "a silence id: {id:?}");
    let listed = amtool(&addr, &["silence", "query"]);
    assert!(
        listed.contains(&id) && listed.contains("maintenance"),
        "{listed}"
    );
    // Silenced, it is no longer among the active alerts amtool shows.
    within(Duration::from_secs(5), "Watchdog silenced", || {
        !amtool(&addr, &["alert", "query"]).contains("Watchdog")
    });
    assert!(amtool(&addr, &["alert", "query", "--silenced"]).contains("Watchdog"));
    amtool(&addr, &["silence", "expire", &id]);
    assert!(amtool(&addr, &["silence", "query", "--expired"]).contains(&id));
    assert!(amtool(&addr, &["alert", "query"]).contains("Watchdog"));
    drop(demo);
}

const RULES: &str = r#"
groups:
  - name: e2e
    interval: 500ms
    rules:
      - alert: NodeDown
        expr: up{job="nodes"} == 0
        for: 2s
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.node }} is down"
          description: "{{ $labels.node }} answered no scrape; up is {{ $value }}."
      # Fires after the critical does: by then the critical inhibits it.
      - alert: NodeUnreachable
        expr: up{job="nodes"} == 0
        for: 4s
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.node }} cannot be reached"
"#;

const ROUTING: &str = r#"
route:
  receiver: ops
  group_by: [alertname, node]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [node]
receivers:
  - name: oncall
    webhook_configs:
      - url: ${SKYWATCH_URL}/demo/webhook/oncall
  - name: ops
    webhook_configs:
      - url: ${SKYWATCH_URL}/demo/webhook/ops
"#;

#[test]
fn a_failing_node_is_routed_silenced_inhibited_logged_and_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    let routing = dir.path().join("alertmanager.yml");
    std::fs::write(&rules, RULES).unwrap();
    std::fs::write(&routing, ROUTING).unwrap();
    let (demo, addr) = start_demo(&[
        "--nodes",
        "3",
        "--scrape-interval",
        "500ms",
        "--rules",
        rules.to_str().unwrap(),
        "--alertmanager-config",
        routing.to_str().unwrap(),
    ]);
    let client = reqwest::blocking::Client::new();
    let post = |path: &str, body: Option<Value>| {
        let mut r = client.post(format!("http://{addr}{path}"));
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = r.send().unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.text().unwrap()
    };
    let received = || get_json(&client, &addr, "/demo/webhook");
    let delivered = |receiver: &str, node: &str, status: &str| {
        received().as_array().unwrap().iter().any(|p| {
            p["receiver"] == receiver
                && p["payload"]["status"] == status
                && p["payload"]["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["labels"]["node"] == node && a["status"] == status)
        })
    };
    let state = |name: &str, node: &str| -> String {
        get_json(&client, &addr, "/api/v1/alerts")["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == name && a["labels"]["node"] == node)
            .map_or_else(String::new, |a| a["state"].as_str().unwrap().to_owned())
    };
    within(Duration::from_secs(15), "every node scraped", || {
        get_json(&client, &addr, "/api/v1/query?query=count(up%3D%3D1)")["data"]["result"][0]["value"]
            [1]
            == "3"
    });

    // A node fails: pending, then firing after its 2 s.
    post("/demo/nodes/1/kill", None);
    within(Duration::from_secs(10), "NodeDown pending", || {
        state("NodeDown", "node-01") == "pending"
    });
    within(Duration::from_secs(10), "NodeDown firing", || {
        state("NodeDown", "node-01") == "firing"
    });
    within(
        Duration::from_secs(10),
        "the oncall webhook gets it",
        || delivered("oncall", "node-01", "firing"),
    );
    let payload = received()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["receiver"] == "oncall")
        .unwrap()["payload"]
        .clone();
    for key in [
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    ] {
        assert!(payload.get(key).is_some(), "{key} missing from {payload}");
    }
    assert_eq!(payload["version"], "4");
    let alert = &payload["alerts"][0];
    assert_eq!(alert["annotations"]["summary"], "node-01 is down");
    assert_eq!(
        alert["annotations"]["description"],
        "node-01 answered no scrape; up is 0."
    );
    for key in [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ] {
        assert!(alert.get(key).is_some(), "{key} missing from {alert}");
    }

    // The warning of the same node is inhibited by the critical: it never reaches ops.
    within(Duration::from_secs(10), "the warning inhibited", || {
        get_json(
            &client,
            &addr,
            "/api/v2/alerts?inhibited=true&filter=alertname%3D%22NodeUnreachable%22",
        )
        .as_array()
        .unwrap()
        .iter()
        .any(|a| {
            a["labels"]["node"] == "node-01"
                && !a["status"]["inhibitedBy"].as_array().unwrap().is_empty()
        })
    });

    // A silence on node-02, then node-02 fails: its alerts fire but are not sent.
    let silence = post(
        "/api/v2/silences",
        Some(json!({
            "matchers": [{"name": "node", "value": "node-02", "isRegex": false, "isEqual": true}],
            "startsAt": "2000-01-01T00:00:00Z",
            "endsAt": "2100-01-01T00:00:00Z",
            "createdBy": "e2e",
            "comment": "node-02 is being replaced",
        })),
    );
    assert!(silence.contains("silenceID"), "{silence}");
    post("/demo/nodes/2/kill", None);
    within(Duration::from_secs(10), "node-02's NodeDown firing", || {
        state("NodeDown", "node-02") == "firing"
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !delivered("oncall", "node-02", "firing"),
        "a silenced alert was sent"
    );
    assert!(
        !received()
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["receiver"] == "ops"),
        "an inhibited or silenced warning was sent"
    );

    // The node recovers: the resolved notification arrives.
    post("/demo/nodes/1/restart", None);
    within(Duration::from_secs(15), "the resolved notification", || {
        delivered("oncall", "node-01", "resolved")
    });

    // The notification log says what went where, and how it went.
    let log = get_json(&client, &addr, "/api/v1/notifications?receiver=oncall");
    let entries = log["data"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["status"] == "firing" && e["outcome"] == "sent"),
        "{log}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["status"] == "resolved" && e["outcome"] == "sent"),
        "{log}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["integration"] == "webhook" && e["attempts"] == 1),
        "{log}"
    );
    // Each entry keeps what was sent, as rendered: here the webhook's POST and its JSON
    // body.
    for e in entries {
        let rendered = e["rendered"].as_str().unwrap();
        let (request, body) = rendered.split_once('\n').unwrap();
        assert!(request.starts_with("POST http://"), "{e}");
        let sent: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(sent["receiver"], "oncall", "{e}");
        assert_eq!(sent["status"], e["status"], "{e}");
    }
    drop(demo);
}

/// A real Alertmanager on a free loopback port, served under `/am`: the process and its
/// `host:port`.
fn real_alertmanager(dir: &std::path::Path) -> (common::Killed, String) {
    // Alertmanager cannot report a port it chose: take a free one and hand it over.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let am_config = dir.join("alertmanager.yml");
    std::fs::write(
        &am_config,
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let binary = tool("prometheus-alertmanager");
    let am = common::Killed(
        Command::new(binary)
            .arg(format!("--config.file={}", am_config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // Served under a prefix, which alerting.alertmanagers' path_prefix names.
            .arg("--web.route-prefix=/am")
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let am_url = format!("127.0.0.1:{port}");
    within(Duration::from_secs(15), "Alertmanager up", || {
        reqwest::blocking::get(format!("http://{am_url}/am/-/ready"))
            .is_ok_and(|r| r.status().is_success())
    });
    (am, am_url)
}

#[test]
fn alerts_reach_a_real_alertmanager_found_by_file_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let (am, am_url) = real_alertmanager(dir.path());
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 500ms\n    rules:\n      - alert: Discovered\n        expr: vector(1)\n",
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    // The target file is named relative to the configuration, and written only after the
    // server starts: the Alertmanager is found when it appears.
    std::fs::write(
        &config,
        "global:\n  evaluation_interval: 500ms\nrule_files: [rules.yml]\nalerting:\n  alertmanagers:\n    - path_prefix: /am\n      file_sd_configs:\n        - files: [alertmanagers/*.json]\n",
    )
    .unwrap();
    let (server, addr) = common::start_skywatch_with(
        &dir.path().join("data"),
        &["--config".as_ref(), config.as_os_str()],
    );
    std::fs::create_dir(dir.path().join("alertmanagers")).unwrap();
    std::fs::write(
        dir.path().join("alertmanagers/am.json"),
        format!(r#"[{{"targets": ["{am_url}"]}}]"#),
    )
    .unwrap();
    let client = reqwest::blocking::Client::new();
    within(
        Duration::from_secs(15),
        "the Alertmanager discovered",
        || {
            common::get_json(&client, &addr, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
                .as_array()
                .is_some_and(|a| {
                    a.iter()
                        .any(|am| am["url"] == format!("http://{am_url}/am/api/v2/alerts"))
                })
        },
    );
    let am_prefixed = format!("{am_url}/am");
    within(
        Duration::from_secs(15),
        "the alert listed by the real Alertmanager",
        || amtool(&am_prefixed, &["alert", "query"]).contains("Discovered"),
    );
    drop(server);
    drop(am);
}

#[test]
fn alerts_also_reach_a_real_alertmanager_of_alerting_alertmanagers() {
    let dir = tempfile::tempdir().unwrap();
    let (am, am_url) = real_alertmanager(dir.path());
    let am_prefixed = format!("{am_url}/am");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 500ms\n    rules:\n      - alert: SentOut\n        expr: vector(1)\n        labels:\n          severity: info\n        annotations:\n          summary: to the real one\n",
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        // The alerts are relabelled before they go (a label added, one dropped), and the
        // Alertmanager's address is relabelled too, as Prometheus's notifier does.
        format!("global:\n  evaluation_interval: 500ms\nrule_files: [rules.yml]\nalerting:\n  alert_relabel_configs:\n    - target_label: relabelled\n      replacement: 'yes'\n    - regex: severity\n      action: labeldrop\n  alertmanagers:\n    - path_prefix: /am\n      timeout: 5s\n      follow_redirects: false\n      static_configs:\n        - targets: ['placeholder:1']\n          labels:\n            real: '{am_url}'\n      relabel_configs:\n        - source_labels: [real]\n          target_label: __address__\n"),
    )
    .unwrap();
    let (server, _) = common::start_skywatch_with(
        &dir.path().join("data"),
        &["--config".as_ref(), config.as_os_str()],
    );
    within(
        Duration::from_secs(15),
        "the alert listed by the real Alertmanager",
        || amtool(&am_prefixed, &["alert", "query"]).contains("SentOut"),
    );
    let shown = amtool(&am_prefixed, &["alert", "query", "-o", "extended"]);
    assert!(
        shown.contains("relabelled=\"yes\"")
            && !shown.contains("severity")
            && shown.contains("to the real one"),
        "{shown}"
    );
    drop(server);
    drop(am);
}
