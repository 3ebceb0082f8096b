//! Network-relative health on a live demo (docs/network-health.md): one node's height
//! stalls while the rest advance and a node of the inventory is killed, and both alerts go
//! pending then fire within their `for`; a node of the inventory with no target at all is
//! absent and a target left out of the inventory is unexpected; then, healed, with every
//! node slow alike (block time times 4), no alert of the group fires over three windows;
//! and when the chain halts, NetworkHeadStalled fires and no node's own alert.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{get_json, start_demo, within};

/// The settings' window and `for`.
const WINDOW: Duration = Duration::from_secs(20);
const FOR: Duration = Duration::from_secs(5);
/// Evaluation every 500 ms, a scrape every 500 ms: an alert fires at most this long after
/// its `for`, plus the polling's 100 ms.
const SLACK: Duration = Duration::from_secs(3);

/// The alerts of the group now: `(alertname, node)` to state.
fn alerts(client: &reqwest::blocking::Client, addr: &str) -> BTreeMap<(String, String), String> {
    get_json(client, addr, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["component"] == "network-health")
        .map(|a| {
            (
                (
                    a["labels"]["alertname"].as_str().unwrap().to_owned(),
                    a["labels"]["node"].as_str().unwrap_or("").to_owned(),
                ),
                a["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// When each of `wanted` was first seen pending and first seen firing, polling from now
/// until all fire or `limit` passes.
fn watch(
    client: &reqwest::blocking::Client,
    addr: &str,
    wanted: &[(&str, &str)],
    limit: Duration,
) -> BTreeMap<(String, String), (Option<Instant>, Option<Instant>)> {
    let mut seen: BTreeMap<(String, String), (Option<Instant>, Option<Instant>)> = wanted
        .iter()
        .map(|(a, n)| (((*a).to_owned(), (*n).to_owned()), (None, None)))
        .collect();
    within(limit, &format!("{wanted:?} firing"), || {
        let now = alerts(client, addr);
        for (key, (pending, firing)) in &mut seen {
            match now.get(key).map(String::as_str) {
                Some("pending") if pending.is_none() => *pending = Some(Instant::now()),
                Some("firing") if firing.is_none() => *firing = Some(Instant::now()),
                _ => {}
            }
        }
        seen.values().all(|(_, f)| f.is_some())
    });
    seen
}

#[test]
fn a_stalled_node_and_a_missing_one_fire_and_a_network_slow_alike_fires_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("network-health.yml");
    // node-05 is left out of the inventory; node-09 is in it but no target.
    std::fs::write(
        &settings,
        format!(
            "height: chain_block_height\npeers: p2p_peers\nup: 'up{{job=\"nodes\"}}'\n\
             window: {}s\nfor: {}s\nmax_lag_blocks: 5\n\
             inventory:\n  nodes: [node-00, node-01, node-02, node-03, node-04, node-09]\n",
            WINDOW.as_secs(),
            FOR.as_secs()
        ),
    )
    .unwrap();
    let (demo, addr) = start_demo(&[
        "--nodes",
        "6",
        "--scrape-interval",
        "500ms",
        "--network-health.config",
        settings.to_str().unwrap(),
        "--trace-export",
        "none",
        "--log-export",
        "none",
    ]);
    let client = reqwest::blocking::Client::new();
    let post = |path: &str| {
        let r = client
            .post(format!("http://{addr}/demo{path}"))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    };

    // The inventory against the targets, from the start.
    let started = watch(
        &client,
        &addr,
        &[
            ("ExpectedNodeAbsent", "node-09"),
            ("UnexpectedNodePresent", "node-05"),
        ],
        FOR + Duration::from_secs(15),
    );
    for (key, (pending, firing)) in &started {
        let (pending, firing) = (pending.unwrap(), firing.unwrap());
        assert!(firing - pending <= FOR + SLACK, "{key:?}");
    }
    // Let the recorded heights cover a window, so the stall below is the only one.
    std::thread::sleep(WINDOW);

    // node-02's height stops while the rest advance; node-03, expected, is killed.
    post("/nodes/2/stall");
    post("/nodes/3/kill");
    let chaos = Instant::now();
    let seen = watch(
        &client,
        &addr,
        &[
            ("NodeHeadStalled", "node-02"),
            ("NodeHeightBehindNetwork", "node-02"),
            ("ExpectedNodeAbsent", "node-03"),
        ],
        WINDOW + FOR + Duration::from_secs(30),
    );
    for (key, (pending, firing)) in &seen {
        let firing = firing.unwrap();
        let pending = pending.unwrap_or_else(|| panic!("{key:?} fired unseen pending"));
        assert!(pending < firing, "{key:?}");
        assert!(
            firing - pending >= FOR - Duration::from_millis(600),
            "{key:?} fired before its for: {:?}",
            firing - pending
        );
        assert!(
            firing - pending <= FOR + SLACK,
            "{key:?} fired {:?} after it went pending",
            firing - pending
        );
    }
    // The killed node is absent soon after it goes down, not a window later.
    let absent = seen[&("ExpectedNodeAbsent".to_owned(), "node-03".to_owned())]
        .1
        .unwrap();
    assert!(absent - chaos <= FOR + SLACK, "{:?}", absent - chaos);
    // The demo serves the group's runbooks beside the profile's.
    let runbook = client
        .get(format!("http://{addr}/runbooks/NodeHeadStalled"))
        .send()
        .unwrap();
    assert!(runbook.status().is_success());
    assert!(runbook.text().unwrap().starts_with("# NodeHeadStalled\n"));
    // One node stalled is not the network stalled.
    assert!(
        !alerts(&client, &addr).contains_key(&("NetworkHeadStalled".to_owned(), String::new()))
    );

    // Healed, then every node slow alike.
    post("/chaos/heal");
    let inventory = |(alert, node): &(String, String)| {
        (alert == "ExpectedNodeAbsent" && node == "node-09")
            || (alert == "UnexpectedNodePresent" && node == "node-05")
    };
    within(
        WINDOW + FOR + Duration::from_secs(20),
        "the heal resolves every alert but the inventory's",
        || alerts(&client, &addr).keys().all(inventory),
    );
    post("/chain/block-time?factor=4");
    let slow = Instant::now();
    while slow.elapsed() < 3 * WINDOW {
        let now = alerts(&client, &addr);
        let firing: Vec<_> = now
            .iter()
            .filter(|(k, state)| !inventory(k) && *state == "firing")
            .collect();
        assert!(
            firing.is_empty(),
            "{:?} into the slow network: {firing:?}",
            slow.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // And the inventory's alerts still fire: the rules were evaluated all along.
    let now = alerts(&client, &addr);
    assert_eq!(
        now.get(&("ExpectedNodeAbsent".to_owned(), "node-09".to_owned()))
            .map(String::as_str),
        Some("firing"),
        "{now:?}"
    );

    // The whole chain halts: the network alert fires, and no node's own.
    post("/chain/halt");
    let mut node_alerts = Vec::new();
    within(
        WINDOW + FOR + Duration::from_secs(20),
        "NetworkHeadStalled firing",
        || {
            let now = alerts(&client, &addr);
            node_alerts.extend(
                now.keys()
                    .filter(|(a, _)| a == "NodeHeadStalled" || a == "NodeBlockRateOutlier")
                    .cloned(),
            );
            now.get(&("NetworkHeadStalled".to_owned(), String::new()))
                .is_some_and(|s| s == "firing")
        },
    );
    assert_eq!(node_alerts, [], "a halt is not each node's fault");
    drop(demo);
}

/// The inventory's recorded rules: the expected nodes, as `/api/v1/rules` lists them.
fn expected_nodes(client: &reqwest::blocking::Client, addr: &str) -> Vec<String> {
    get_json(client, addr, "/api/v1/rules")["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["name"] == "skywatch-network-health")
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .filter(|r| r["name"] == "skywatch:inventory_expected")
        .map(|r| r["labels"]["node"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_server_runs_the_settings_rules_follows_the_inventory_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("network-health.yml");
    std::fs::write(
        &settings,
        "height: chain_block_height\ninventory:\n  files: [inventory.yml]\n",
    )
    .unwrap();
    let inventory = dir.path().join("inventory.yml");
    std::fs::write(
        &inventory,
        r#"[{"targets": ["10.0.0.1:9100"], "labels": {"node": "a"}}, {"targets": ["10.0.0.2:9100"], "labels": {"node": "b"}}]"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let (server, addr) = common::start_skywatch_with(
        &data,
        &["--network-health.config".as_ref(), settings.as_os_str()],
    );
    let client = reqwest::blocking::Client::new();
    assert_eq!(expected_nodes(&client, &addr), ["a", "b"]);
    // The alerts' runbook links lead to their runbooks.
    let runbook = client
        .get(format!("http://{addr}/runbooks/ExpectedNodeAbsent"))
        .send()
        .unwrap();
    assert!(runbook.status().is_success());
    assert!(
        runbook
            .text()
            .unwrap()
            .starts_with("# ExpectedNodeAbsent\n")
    );
    // A node added to the inventory file joins the rules, without a reload.
    std::fs::write(&inventory, "- a\n- b\n- c\n").unwrap();
    within(Duration::from_secs(20), "node c expected", || {
        expected_nodes(&client, &addr) == ["a", "b", "c"]
    });
    // A broken inventory keeps the running rules.
    std::fs::write(&inventory, "- {targets: [x]}\n").unwrap();
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(expected_nodes(&client, &addr), ["a", "b", "c"]);
    drop(server);

    // A bad file stops the start, naming the file, the line and the field.
    std::fs::write(&settings, "height: chain_block_height\nwindow: soon\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(&data)
        .arg("--network-health.config")
        .arg(&settings)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2: window: \"soon\"", settings.display())),
        "{stderr}"
    );

    // The command prints what the server runs: the committed example is its output.
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/network-health");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["network-health", "rules", "settings.yml"])
        .current_dir(&example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(example.join("network-health.yml")).unwrap()
    );
}
