//! ZeroState's shipped alerts against its simulated network, as `virtengine_alerts.rs` and
//! `coinjecture_alerts.rs` do for the other profiles: `skywatch demo` (the default
//! profile) with the shipped rules of `rules/node-network/` time-compressed
//! (`common::compressed_rules`), one demo per chaos control. Each test applies its chaos
//! through the demo's controls and follows the alert it must raise through
//! `/api/v1/alerts`, quiet before, pending, then firing, and through `GET /demo/webhook` to
//! the receivers `alertmanager/demo.yml` routes it to: exactly those that `amtool config
//! routes test` (Debian's `prometheus-alertmanager`) names for the alert's labels.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{alert_states, get_json, receivers_of, start_demo, tool, within};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The receivers amtool routes an alert with `labels` to under the demo's routing.
fn amtool_receivers(labels: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("demo.yml");
    let text = std::fs::read_to_string(root().join("alertmanager/demo.yml"))
        .unwrap()
        .replace("${SKYWATCH_URL}", "http://127.0.0.1:9797");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(tool("amtool"))
        .args(["config", "routes", "test", "--config.file"])
        .arg(&config)
        .args(
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "amtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .split(',')
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// Starts the demo (6 nodes, scraped every second) with the shipped rules 30 times
/// faster, applies `chaos` (a POST under `/demo/`) once `alert` is quiet, and follows
/// `alert` pending, then firing, then to the receivers amtool names for its labels.
fn chaos_fires(chaos: &str, alert: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("rules/node-network"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    let rules = common::compressed_rules(&files, 30, dir.path());
    let mut args = vec!["--nodes", "6", "--scrape-interval", "1s"];
    for r in &rules {
        args.push("--rules");
        args.push(r.to_str().unwrap());
    }
    let (_demo, addr) = start_demo(&args);
    let client = reqwest::blocking::Client::new();
    within(Duration::from_secs(30), "the Watchdog fires", || {
        alert_states(&client, &addr, "Watchdog") == ["firing"]
    });
    assert!(
        alert_states(&client, &addr, alert).is_empty(),
        "{alert} before {chaos}"
    );
    let r = client
        .post(format!("http://{addr}/demo/{chaos}"))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{chaos}: {}", r.status());
    let mut pending = false;
    within(
        Duration::from_secs(90),
        &format!("{alert} pending, then firing, after {chaos}"),
        || {
            let now = alert_states(&client, &addr, alert);
            pending |= now.iter().any(|s| s == "pending");
            pending && now.iter().any(|s| s == "firing")
        },
    );
    // The receivers of every firing instance of the alert, as amtool routes its labels.
    let mut want: Vec<String> = get_json(&client, &addr, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == alert && a["state"] == "firing")
        .flat_map(|a| amtool_receivers(a["labels"].as_object().unwrap()))
        .collect();
    want.sort();
    want.dedup();
    assert!(!want.is_empty());
    within(
        Duration::from_secs(30),
        &format!("{alert} notified to {want:?}"),
        || receivers_of(&client, &addr, alert) == want,
    );
}

#[test]
fn a_killed_node_raises_service_down() {
    chaos_fires("nodes/3/kill", "ServiceDown");
}

#[test]
fn failing_executors_raise_critical_task_failure_rate() {
    chaos_fires("chaos/execution", "CriticalTaskFailureRate");
}

#[test]
fn failing_payments_raise_payment_failure_rate() {
    chaos_fires("chaos/payments", "PaymentFailureRate");
}
