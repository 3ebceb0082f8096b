//! `skywatch up` with `rule_files`: recording rules write their series, alerting rules go
//! pending then firing and write `ALERTS`, `/api/v1/rules` and `/api/v1/alerts` answer as
//! Prometheus's do, a reload with a broken rule file keeps the running rules, and an
//! alert's start, the silences and the notification log survive a restart. With `--slos`,
//! the specs' generated rules run, `/api/v1/slos` reads their series, and the directory
//! is followed. Beside real Prometheus, each group evaluates at the same instants.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::time::Duration;

use common::{get_json, start_prometheus, start_skywatch_with, within};

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
        &[
            "--config".as_ref(),
            config.as_os_str(),
            // POST /-/reload below.
            "--web.enable-lifecycle".as_ref(),
        ],
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

/// An SLO spec whose SLI is a steady error ratio, with no metric behind it.
fn slo_spec(service: &str, ratio: f64) -> String {
    format!(
        r#"version: "prometheus/v1"
service: "{service}"
slos:
  - name: "steady"
    objective: 99
    sli:
      raw:
        error_ratio_query: avg_over_time(vector({ratio})[{{{{.window}}}}:1m])
    alerting:
      name: Steady
      page_alert:
        labels:
          severity: critical
"#
    )
}

#[test]
fn slo_specs_run_their_rules_answer_the_slo_api_and_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let slos = dir.path().join("slos");
    std::fs::create_dir(&slos).unwrap();
    // 2% errors against a 1% budget: burning at 2x, the period's budget overspent.
    std::fs::write(slos.join("a.yml"), slo_spec("alpha", 0.02)).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  evaluation_interval: 1s\n").unwrap();
    let (server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--slos".as_ref(),
            slos.as_os_str(),
        ],
    );
    let client = reqwest::blocking::Client::new();
    let slo_ids = || -> Vec<String> {
        get_json(&client, &addr, "/api/v1/slos")["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    within(Duration::from_secs(15), "the SLO's budget computed", || {
        get_json(&client, &addr, "/api/v1/slos")["data"][0]["errorBudgetRemaining"].is_number()
    });
    let alpha = &get_json(&client, &addr, "/api/v1/slos")["data"][0];
    assert_eq!(alpha["id"], "alpha-steady");
    assert!(
        (alpha["currentBurnRate"].as_f64().unwrap() - 2.0).abs() < 1e-9,
        "{alpha}"
    );
    assert!(
        (alpha["errorBudgetRemaining"].as_f64().unwrap() + 1.0).abs() < 1e-9,
        "{alpha}"
    );
    assert_eq!(alpha["timeToExhaustionSeconds"], 0.0);
    assert_eq!(alpha["alerts"][0]["severity"], "page");
    let rules = get_json(&client, &addr, "/api/v1/rules");
    let groups: Vec<&str> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"sloth-slo-alerts-alpha-steady"),
        "{groups:?}"
    );

    // A new spec is picked up; a broken one keeps the running set.
    std::fs::write(slos.join("b.yml"), slo_spec("beta", 0.001)).unwrap();
    within(Duration::from_secs(20), "the second spec followed", || {
        slo_ids().len() == 2
    });
    std::fs::write(slos.join("c.yml"), "version: prometheus/v1\nslos: []\n").unwrap();
    // The reload that refuses it happens within a watch tick or two; afterwards both SLOs
    // still run, and the broken file never joins.
    within(Duration::from_secs(20), "beta's budget computed", || {
        get_json(&client, &addr, "/api/v1/slos")["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "beta-steady" && s["errorBudgetRemaining"].is_number())
    });
    assert_eq!(slo_ids(), ["alpha-steady", "beta-steady"]);
    drop(server);
}

#[test]
fn alert_starts_silences_and_the_notification_log_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    interval: 500ms\n    rules:\n      - alert: Slow\n        expr: vector(1)\n        for: 1h\n",
    )
    .unwrap();
    // A receiver nothing listens to: every delivery fails, and the log says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    std::fs::write(
        dir.path().join("am.yml"),
        format!("route:\n  receiver: r\n  group_wait: 0s\nreceivers:\n  - name: r\n    webhook_configs:\n      - url: http://{closed}/\n"),
    )
    .unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        "global:\n  evaluation_interval: 500ms\nrule_files: [rules.yml]\nalerting:\n  alertmanagers: []\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let am = dir.path().join("am.yml");
    let args = [
        "--config".as_ref(),
        config.as_os_str(),
        "--alertmanager-config".as_ref(),
        am.as_os_str(),
        // POST /-/reload below.
        "--web.enable-lifecycle".as_ref(),
    ];
    let client = reqwest::blocking::Client::new();
    let active_at = |addr: &str| -> String {
        get_json(&client, addr, "/api/v1/alerts")["data"]["alerts"][0]["activeAt"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };

    let (first, addr) = start_skywatch_with(&data, &args);
    within(Duration::from_secs(10), "Slow pending", || {
        !active_at(&addr).is_empty()
    });
    let started = active_at(&addr);
    let silence = client
        .post(format!("http://{addr}/api/v2/silences"))
        .header("content-type", "application/json")
        .body(r#"{"matchers":[{"name":"alertname","value":"Other","isRegex":false}],"startsAt":"2000-01-01T00:00:00Z","endsAt":"2100-01-01T00:00:00Z","createdBy":"t","comment":"kept"}"#)
        .send()
        .unwrap();
    assert!(silence.status().is_success());
    // Slow is pending, not firing: nothing to deliver; post a firing alert to log one.
    let posted = client
        .post(format!("http://{addr}/api/v2/alerts"))
        .header("content-type", "application/json")
        .body(r#"[{"labels":{"alertname":"Posted"}}]"#)
        .send()
        .unwrap();
    assert!(posted.status().is_success());
    within(Duration::from_secs(20), "a failed delivery logged", || {
        get_json(&client, &addr, "/api/v1/notifications")["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "failed")
    });
    // The routing file is read again at a reload: a broken one is refused by name, a good
    // one is taken.
    let reload = || {
        client
            .post(format!("http://{addr}/-/reload"))
            .send()
            .unwrap()
    };
    std::fs::write(&am, "route:\n  receiver: nobody\nreceivers: []\n").unwrap();
    let refused = reload();
    assert!(!refused.status().is_success());
    assert!(refused.text().unwrap().contains("am.yml"));
    std::fs::write(&am, format!("route:\n  receiver: renamed\n  group_wait: 0s\nreceivers:\n  - name: renamed\n    webhook_configs:\n      - url: http://{closed}/\n")).unwrap();
    assert!(reload().status().is_success());
    assert_eq!(
        get_json(&client, &addr, "/api/v2/receivers")[0]["name"],
        "renamed"
    );
    // Past the second evaluation, so that ALERTS_FOR_STATE is written.
    std::thread::sleep(Duration::from_secs(1));
    drop(first);

    let (second, addr) = start_skywatch_with(&data, &args);
    within(Duration::from_secs(10), "Slow pending again", || {
        !active_at(&addr).is_empty()
    });
    assert_eq!(
        active_at(&addr),
        started,
        "the alert's start was not restored"
    );
    let silences = get_json(&client, &addr, "/api/v2/silences");
    assert_eq!(silences[0]["comment"], "kept", "{silences}");
    let log = get_json(&client, &addr, "/api/v1/notifications");
    assert!(
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "failed" && e["alertnames"][0] == "Posted"),
        "{log}"
    );
    drop(second);
}

/// Prometheus spreads its rule groups over the interval, each at an offset worked out from
/// its file and name; Skywatch evaluates each group at the same instants, so the two agree
/// on every recorded sample's timestamp, and many groups do not all run at once.
#[test]
fn groups_evaluate_at_the_instants_prometheus_evaluates_them() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yml");
    let mut text = String::from("groups:\n");
    for i in 0..6 {
        text.push_str(&format!(
            "  - name: group-{i}\n    interval: 2s\n    rules:\n      - record: g{i}:one\n        expr: vector(1)\n"
        ));
    }
    std::fs::write(&rules, text).unwrap();
    // The rule file named alike in both, by its absolute path: the offset hashes the name.
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  evaluation_interval: 2s\nrule_files:\n  - {}\n",
            rules.display()
        ),
    )
    .unwrap();
    let (skywatch, sw) = start_skywatch_with(
        &dir.path().join("skywatch"),
        &["--config".as_ref(), config.as_os_str()],
    );
    let (prometheus, prom) = start_prometheus(&config, &dir.path().join("prometheus"), &[]);
    let client = reqwest::blocking::Client::new();
    // The offset into the 2 s interval of each group's latest sample, in ms.
    let offsets = |addr: &str| -> Vec<Option<i64>> {
        (0..6)
            .map(|i| {
                let v = get_json(
                    &client,
                    addr,
                    &format!("/api/v1/query?query=timestamp(g{i}:one)"),
                );
                v["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map(|t| ((t * 1000.0).round() as i64).rem_euclid(2000))
            })
            .collect()
    };
    within(
        Duration::from_secs(20),
        "every group evaluated by both",
        || {
            offsets(&sw)
                .iter()
                .chain(&offsets(&prom))
                .all(Option::is_some)
        },
    );
    let (ours, theirs) = (offsets(&sw), offsets(&prom));
    assert_eq!(ours, theirs, "Skywatch's offsets, then Prometheus's");
    let distinct: std::collections::BTreeSet<_> = theirs.iter().collect();
    assert!(distinct.len() > 1, "six groups at one instant: {theirs:?}");
    drop((skywatch, prometheus));
}
