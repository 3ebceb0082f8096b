//! `skywatch demo`, the README's main job: every simulated node is `up` within ten
//! seconds as promtool sees it, and a node killed through the control endpoint goes
//! down with its series stale, then comes back.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the time to all targets up is reported for the record, not asserted beyond the 10 s the criterion sets"
)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{start_demo, within};

/// `promtool query instant` against `addr`: the output's lines.
fn promtool(addr: &str, query: &str) -> Vec<String> {
    let out = Command::new(common::tool("promtool"))
        .args(["query", "instant", &format!("http://{addr}"), query])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_node_is_up_within_ten_seconds() {
    let started = Instant::now();
    let (demo, addr) = start_demo(&[]);
    within(
        Duration::from_secs(10),
        "count(up{job=\"nodes\"} == 1) is 20",
        || {
            promtool(&addr, "count(up{job=\"nodes\"} == 1)")
                .first()
                .is_some_and(|l| l.starts_with("{} => 20 @"))
        },
    );
    eprintln!("all 20 nodes up {:?} after start", started.elapsed());
    // The README's command: every target is a node.
    let all = promtool(&addr, "count(up == 1)");
    assert!(all[0].starts_with("{} => 20 @"), "{all:?}");
    // The server records its own metrics too, for its own dashboard, without an `up`.
    within(
        Duration::from_secs(10),
        "the server's own series are recorded",
        || {
            promtool(&addr, "skywatch_tsdb_head_series{job=\"skywatch\"} > 0")
                .first()
                .is_some_and(|l| l.contains("instance="))
        },
    );
    drop(demo);
}

#[test]
fn a_killed_node_goes_down_and_stale_then_comes_back() {
    let (demo, addr) = start_demo(&["--nodes", "3", "--scrape-interval", "500ms"]);
    let up = |node: &str| promtool(&addr, &format!("up{{node=\"{node}\"}}"));
    within(Duration::from_secs(10), "node-01 up", || {
        up("node-01").first().is_some_and(|l| l.contains("=> 1 @"))
    });
    let client = reqwest::blocking::Client::new();
    let post = |path: &str| {
        let r = client
            .post(format!("http://{addr}/demo{path}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    };
    post("/nodes/1/kill");
    within(Duration::from_secs(10), "node-01 down", || {
        up("node-01").first().is_some_and(|l| l.contains("=> 0 @"))
    });
    // Stale: its series are gone from instant queries, the others' are not.
    let stale = promtool(&addr, "chain_block_height{node=\"node-01\"}");
    assert!(stale.is_empty(), "{stale:?}");
    assert!(!promtool(&addr, "chain_block_height{node=\"node-02\"}").is_empty());
    // Its health report cannot be had: it is CRITICAL, and so is the network.
    let health: serde_json::Value = serde_json::from_str(
        &client
            .get(format!("http://{addr}/api/health"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(health["status"], "CRITICAL", "{health}");
    let node = health["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["node"] == "node-01")
        .unwrap_or_else(|| panic!("node-01 is not in {health}"));
    assert_eq!(node["status"], "CRITICAL", "{node}");
    assert!(
        node["error"].as_str().unwrap().contains("/health"),
        "{node}"
    );
    // The shipped rules see it: ServiceDown goes pending for node-01 (it fires after its
    // minute), and the dead man's switch fires throughout.
    let alerts = || -> Vec<(String, String, String)> {
        let v: serde_json::Value = serde_json::from_str(
            &client
                .get(format!("http://{addr}/api/v1/alerts"))
                .send()
                .unwrap()
                .text()
                .unwrap(),
        )
        .unwrap();
        v["data"]["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let s = |k: &str| a["labels"][k].as_str().unwrap_or("").to_owned();
                (
                    s("alertname"),
                    s("node"),
                    a["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    within(
        Duration::from_secs(10),
        "ServiceDown pending for node-01",
        || alerts().contains(&("ServiceDown".into(), "node-01".into(), "pending".into())),
    );
    assert!(
        alerts().contains(&("Watchdog".into(), String::new(), "firing".into())),
        "{:?}",
        alerts()
    );
    post("/nodes/1/restart");
    within(Duration::from_secs(10), "node-01 back", || {
        up("node-01").first().is_some_and(|l| l.contains("=> 1 @"))
            && !promtool(&addr, "chain_block_height{node=\"node-01\"}").is_empty()
    });
    drop(demo);
}
