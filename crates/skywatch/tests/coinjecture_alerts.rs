//! COINjecture's shipped alerts on a live `skywatch demo --profile coinjecture`: each fault
//! of the profile makes its alert go pending, then firing, then reach the receiver that
//! `alertmanager/demo-coinjecture.yml` routes it to; and the automatic rollback end to end:
//! the parity fault fires ParityMismatch, the routing calls a real `skywatch alert-hook`,
//! whose command rolls the demo's codec back, after which no mismatch is counted.
//!
//! The shipped rules run time-compressed (`common::compressed_rules`: every `for`, range
//! and offset divided by [`FACTOR`]), so that a 5-minute window takes 10 seconds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{compressed_rules, get_json, start_demo, within};

/// How much faster than written the rules run.
const FACTOR: u32 = 30;

/// The rule files as shipped, under the repository's `rules/`.
fn shipped_rule_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/coinjecture");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{}: {files:?}", dir.display());
    files
}

/// Writes the compressed shipped rules into `dir`; returns the `--rules` arguments.
fn write_compressed_rules(dir: &Path) -> Vec<String> {
    compressed_rules(&shipped_rule_files(), FACTOR, dir)
        .into_iter()
        .flat_map(|p| ["--rules".to_owned(), p.to_str().unwrap().to_owned()])
        .collect()
}

/// The state of `alertname` in `/api/v1/alerts` (any of its series): "firing" over
/// "pending" over "" (absent).
fn state(client: &reqwest::blocking::Client, addr: &str, alertname: &str) -> String {
    let alerts = get_json(client, addr, "/api/v1/alerts");
    let states: Vec<String> = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == alertname)
        .map(|a| a["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    ["firing", "pending"]
        .into_iter()
        .find(|s| states.iter().any(|x| x == s))
        .unwrap_or_default()
        .to_owned()
}

/// Whether the demo's webhook `receiver` got a firing notification of `alertname`.
fn delivered(
    client: &reqwest::blocking::Client,
    addr: &str,
    receiver: &str,
    alertname: &str,
) -> bool {
    get_json(client, addr, "/demo/webhook")
        .as_array()
        .unwrap()
        .iter()
        .any(|p| {
            p["receiver"] == receiver
                && p["payload"]["alerts"].as_array().is_some_and(|alerts| {
                    alerts
                        .iter()
                        .any(|a| a["labels"]["alertname"] == alertname && a["status"] == "firing")
                })
        })
}

/// The value of an instant query that returns one sample.
fn scalar(client: &reqwest::blocking::Client, addr: &str, query: &str) -> Option<f64> {
    let q: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let v = get_json(client, addr, &format!("/api/v1/query?query={q}"));
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

fn post(client: &reqwest::blocking::Client, url: &str) {
    let r = client.post(url).send().unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
}

#[test]
fn each_fault_fires_its_alert_pending_then_firing_and_routed() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--profile".to_owned(),
        "coinjecture".to_owned(),
        "--nodes".to_owned(),
        "6".to_owned(),
        "--scrape-interval".to_owned(),
        "1s".to_owned(),
    ];
    args.extend(write_compressed_rules(dir.path()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_demo, addr) = start_demo(&args);
    let client = reqwest::blocking::Client::new();
    within(Duration::from_secs(30), "every node scraped", || {
        scalar(&client, &addr, "count(up{job=\"nodes\"} == 1)") == Some(6.0)
    });
    // fault, alert, the receivers it must reach.
    let cases: [(&str, &str, &[&str]); 7] = [
        (
            "parity-mismatch",
            "ParityMismatch",
            &["pagerduty-p0", "auto-rollback"],
        ),
        (
            "replay-bypass",
            "EpochReplayBypass",
            &["pagerduty-p0", "security-team"],
        ),
        ("pin-quorum-loss", "IPFSPinQuorumLost", &["pagerduty-p0"]),
        ("api-errors", "APIAvailabilityBreach", &["slack-oncall"]),
        (
            "validation-slow",
            "BlockValidationLatencyHigh",
            &["slack-oncall"],
        ),
        ("memory-leak", "MemoryLeakSuspected", &["slack-oncall"]),
        (
            "rate-limit-false-positives",
            "RateLimitFalsePositives",
            &["slack-email-p2"],
        ),
    ];
    for (fault, alert, receivers) in cases {
        assert_eq!(state(&client, &addr, alert), "", "{alert} before {fault}");
        post(&client, &format!("http://{addr}/demo/faults/{fault}"));
        within(
            Duration::from_secs(60),
            &format!("{alert} pending on {fault}"),
            || state(&client, &addr, alert) == "pending",
        );
        within(
            Duration::from_secs(60),
            &format!("{alert} firing on {fault}"),
            || state(&client, &addr, alert) == "firing",
        );
        // Within the group's wait, or its interval (30 s) if an earlier notification of
        // the same group was sent.
        for receiver in receivers {
            within(
                Duration::from_secs(60),
                &format!("{alert} at {receiver}"),
                || delivered(&client, &addr, receiver, alert),
            );
        }
        post(&client, &format!("http://{addr}/demo/chaos/heal"));
        within(
            Duration::from_secs(90),
            &format!("{alert} resolved after {fault}"),
            || state(&client, &addr, alert).is_empty(),
        );
    }
}

#[test]
fn a_parity_mismatch_rolls_the_codec_back_through_the_alert_hook() {
    let dir = tempfile::tempdir().unwrap();
    // The hook needs the demo's address and the demo the hook's: the hook's command reads
    // the demo's from a file written once the demo listens.
    let demo_file = dir.path().join("demo-address");
    let (_hook, hook_addr) = common::start_alert_hook(&[
        "--match",
        r#"alertname="ParityMismatch""#,
        "--match",
        r#"severity="P0""#,
        "--",
        "sh",
        "-c",
        r#"curl -fsS -XPOST "http://$(cat "$0")/demo/coinjecture/rollback""#,
        demo_file.to_str().unwrap(),
    ]);
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../alertmanager/demo-coinjecture.yml"),
    )
    .unwrap();
    let routing_text = shipped.replace(
        "${SKYWATCH_URL}/demo/webhook/auto-rollback",
        &format!("http://{hook_addr}/"),
    );
    assert_ne!(
        routing_text, shipped,
        "the demo routing has no auto-rollback receiver"
    );
    let routing = dir.path().join("routing.yml");
    std::fs::write(&routing, routing_text).unwrap();
    let mut args = vec![
        "--profile".to_owned(),
        "coinjecture".to_owned(),
        "--nodes".to_owned(),
        "6".to_owned(),
        "--scrape-interval".to_owned(),
        "1s".to_owned(),
        "--alertmanager-config".to_owned(),
        routing.to_str().unwrap().to_owned(),
    ];
    args.extend(write_compressed_rules(dir.path()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_demo, addr) = start_demo(&args);
    std::fs::write(&demo_file, &addr).unwrap();
    let client = reqwest::blocking::Client::new();
    within(
        Duration::from_secs(30),
        "codec refactored_primary everywhere",
        || scalar(&client, &addr, "min(codec_mode_active)") == Some(2.0),
    );

    post(
        &client,
        &format!("http://{addr}/demo/faults/parity-mismatch"),
    );
    within(Duration::from_secs(60), "ParityMismatch firing", || {
        state(&client, &addr, "ParityMismatch") == "firing"
    });
    let hook_runs = || {
        let text = client
            .get(format!("http://{hook_addr}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(r#"skywatch_alert_hook_runs_total{result="success"}"#)?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    within(Duration::from_secs(30), "the hook ran the rollback", || {
        hook_runs() >= 1.0
    });
    within(
        Duration::from_secs(15),
        "codec_mode_active 0 on every node",
        || scalar(&client, &addr, "max(codec_mode_active)") == Some(0.0),
    );
    // No mismatch is counted any more: the total is the same three scrapes later.
    let total = "sum(dual_run_mismatches_total)";
    let stamp = "max(timestamp(dual_run_mismatches_total))";
    let (before, at) = (
        scalar(&client, &addr, total).unwrap(),
        scalar(&client, &addr, stamp).unwrap(),
    );
    within(Duration::from_secs(15), "three more scrapes", || {
        scalar(&client, &addr, stamp).is_some_and(|t| t >= at + 3.0)
    });
    assert_eq!(
        scalar(&client, &addr, total),
        Some(before),
        "mismatches still grow"
    );
    // Alertmanager's repeats within the cooldown ran nothing more.
    assert_eq!(hook_runs(), 1.0);
}
