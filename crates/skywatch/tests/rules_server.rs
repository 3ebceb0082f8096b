//! `skywatch up` with `rule_files`: recording rules write their series, alerting rules go
//! pending then firing and write `ALERTS`, `/api/v1/rules` and `/api/v1/alerts` answer as
//! Prometheus's do, and a reload with a broken rule file keeps the running rules.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::time::Duration;

use common::{get_json, start_skywatch_with, within};

const RULES: &str = r#"
groups:
  - name: demo
    interval: 1s
    rules:
      - record: test:one
        expr: vector(1)
        labels:
          source: rule
      - alert: AlwaysOn
        expr: vector(42) > 0
        for: 2s
        labels:
          severity: warning
        annotations:
          summary: "value {{ $value }} on {{ $externalLabels.site }}"
"#;

#[test]
fn rules_run_and_answer_through_the_api_and_survive_a_bad_reload() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  evaluation_interval: 1s\n  external_labels:\n    site: lab\nrule_files:\n  - rules.yml\n",
    )
    .unwrap();
    let (server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &["--config".as_ref(), config.as_os_str()],
    );
    let client = reqwest::blocking::Client::new();
    let query = |q: &str| get_json(&client, &addr, &format!("/api/v1/query?query={q}"));

    within(Duration::from_secs(10), "test:one recorded", || {
        query("test:one")["data"]["result"][0]["metric"]["source"] == "rule"
    });
    within(Duration::from_secs(10), "the alert pending", || {
        get_json(&client, &addr, "/api/v1/alerts")["data"]["alerts"][0]["state"] == "pending"
    });
    within(
        Duration::from_secs(10),
        "the alert firing after its 2 s",
        || get_json(&client, &addr, "/api/v1/alerts")["data"]["alerts"][0]["state"] == "firing",
    );
    let alert = &get_json(&client, &addr, "/api/v1/alerts")["data"]["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "AlwaysOn");
    assert_eq!(alert["annotations"]["summary"], "value 42 on lab");
    assert_eq!(alert["value"], "4.2e+01");
    within(Duration::from_secs(10), "ALERTS firing", || {
        query("ALERTS%7Balertstate%3D%22firing%22%7D")["data"]["result"][0]["metric"]["alertname"]
            == "AlwaysOn"
    });
    let rules = get_json(&client, &addr, "/api/v1/rules");
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "demo");
    assert_eq!(group["interval"], 1.0);
    assert_eq!(group["rules"][0]["type"], "recording");
    assert_eq!(group["rules"][1]["type"], "alerting");
    assert_eq!(group["rules"][1]["state"], "firing");
    assert_eq!(group["rules"][1]["duration"], 2.0);
    assert_eq!(group["rules"][1]["health"], "ok");
    let only_alerts = get_json(&client, &addr, "/api/v1/rules?type=alert");
    assert_eq!(
        only_alerts["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A broken rule file: the reload fails naming it, and the rules keep running.
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: x\n    rules:\n      - record: y\n        expr: sum(\n",
    )
    .unwrap();
    let reload = client
        .post(format!("http://{addr}/-/reload"))
        .send()
        .unwrap();
    assert!(!reload.status().is_success());
    let body = reload.text().unwrap();
    assert!(body.contains("rules.yml: line 4"), "{body}");
    assert_eq!(
        get_json(&client, &addr, "/api/v1/alerts")["data"]["alerts"][0]["state"],
        "firing"
    );
    drop(server);
}
