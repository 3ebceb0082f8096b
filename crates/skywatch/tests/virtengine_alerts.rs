//! VirtEngine's shipped alerts against its simulated network: `skywatch demo --profile
//! virtengine` with the shipped rule files time-compressed (`common::compressed_rules`:
//! every `for`, range and offset divided by a factor, so that an hour's window is a
//! minute's), one demo per fault. Each test turns its fault on (`POST
//! /demo/faults/NAME`) and follows the alert the fault's catalog names through
//! `/api/v1/alerts`, quiet before, pending, then firing, and through `GET /demo/webhook`
//! to the receiver alertmanager/demo-virtengine.yml routes it to, and to no other; and the
//! alerts the routing's inhibition rules mute under it firing, inhibited, and sent nowhere.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{alert_states as states, get_json, receivers_of, start_demo, within};

/// The shipped rule files of the profile.
fn shipped_rules() -> Vec<PathBuf> {
    let files =
        common::yml_files_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/virtengine"));
    assert_eq!(files.len(), 5, "{files:?}");
    files
}

/// Starts the demo (6 nodes, scraped every second) with the shipped rules `factor` times
/// faster, turns `fault` on once the rules run and every alert of `alerts` is quiet, and
/// follows each of `alerts` (alert name, receiver) to firing and to its receiver within
/// `limit`; then each of `inhibited` to firing, inhibited by one of them, and sent nowhere.
fn fault_fires(
    fault: &str,
    factor: u32,
    alerts: &[(&str, &str)],
    inhibited: &[&str],
    limit: Duration,
) {
    let dir = tempfile::tempdir().unwrap();
    let rules = common::compressed_rules(&shipped_rules(), factor, dir.path());
    let mut args = vec![
        "--profile",
        "virtengine",
        "--nodes",
        "6",
        "--scrape-interval",
        "1s",
    ];
    for r in &rules {
        args.push("--rules");
        args.push(r.to_str().unwrap());
    }
    let (_demo, addr) = start_demo(&args);
    let client = reqwest::blocking::Client::new();
    within(Duration::from_secs(20), "every node scraped", || {
        get_json(&client, &addr, "/api/v1/query?query=count(up%3D%3D1)")["data"]["result"][0]["value"]
            [1]
            == "6"
    });
    // The rules run: the Watchdog fires, and reaches its dead man's switch.
    within(Duration::from_secs(20), "the Watchdog fires", || {
        states(&client, &addr, "Watchdog") == ["firing"]
    });
    for (name, _) in alerts {
        let now = states(&client, &addr, name);
        assert!(now.is_empty(), "{name} before {fault}: {now:?}");
    }
    let r = client
        .post(format!("http://{addr}/demo/faults/{fault}"))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{fault}: {}", r.status());
    // Every alert is polled at each turn, so that one that goes pending while another is
    // followed is seen pending too: (seen pending, seen firing) for each.
    let mut seen = vec![(false, false); alerts.len()];
    within(limit, &format!("{alerts:?} firing after {fault}"), || {
        for ((name, _), (pending, firing)) in alerts.iter().zip(seen.iter_mut()) {
            let now = states(&client, &addr, name);
            *pending |= now.iter().any(|s| s == "pending");
            // Firing counts once pending was seen: the `for` was waited.
            *firing |= *pending && now.iter().any(|s| s == "firing");
        }
        seen.iter().all(|(_, firing)| *firing)
    });
    for (name, receiver) in alerts {
        within(
            Duration::from_secs(20),
            &format!("{name} notified to {receiver}"),
            || !receivers_of(&client, &addr, name).is_empty(),
        );
        assert_eq!(
            receivers_of(&client, &addr, name),
            [*receiver],
            "{name}: {}",
            get_json(&client, &addr, "/demo/webhook")
        );
    }
    for name in inhibited {
        within(limit, &format!("{name} firing after {fault}"), || {
            states(&client, &addr, name).iter().any(|s| s == "firing")
        });
        within(
            Duration::from_secs(20),
            &format!("{name} inhibited under {alerts:?}"),
            || {
                get_json(
                    &client,
                    &addr,
                    &format!("/api/v2/alerts?inhibited=true&filter=alertname%3D%22{name}%22"),
                )
                .as_array()
                .unwrap()
                .iter()
                .any(|a| {
                    a["status"]["inhibitedBy"]
                        .as_array()
                        .is_some_and(|by| !by.is_empty())
                })
            },
        );
        // Inhibited from its first evaluation on: nothing of it was sent.
        assert!(
            receivers_of(&client, &addr, name).is_empty(),
            "{name} was sent: {}",
            get_json(&client, &addr, "/demo/webhook")
        );
    }
    assert_eq!(
        receivers_of(&client, &addr, "Watchdog"),
        ["deadmans-switch"]
    );
}

#[test]
fn consensus_stall_pages_consensus_stalled() {
    fault_fires(
        "consensus-stall",
        30,
        &[("ConsensusStalled", "pagerduty-oncall")],
        // Transactions pile up in every mempool, explained by the halt.
        &["MempoolBacklog"],
        Duration::from_secs(120),
    );
}

#[test]
fn validator_down_pages_validator_down() {
    fault_fires(
        "validator-down",
        30,
        &[("ValidatorDown", "pagerduty-oncall")],
        // The validators that stopped miss every block, and heights take extra rounds.
        &["ValidatorMissingBlocks", "ConsensusRoundsHigh"],
        Duration::from_secs(60),
    );
}

#[test]
fn escrow_low_pages_escrow_balance_low() {
    fault_fires(
        "escrow-low",
        30,
        &[("EscrowBalanceLow", "pagerduty-oncall")],
        &[],
        Duration::from_secs(90),
    );
}

#[test]
fn inference_timeouts_reach_the_ml_channel() {
    fault_fires(
        "inference-timeouts",
        30,
        &[("MLInferenceTimeout", "slack-ml")],
        &[],
        Duration::from_secs(60),
    );
}

#[test]
fn provider_failures_reach_the_provider_channel() {
    fault_fires(
        "provider-failures",
        60,
        &[("ProviderHighFailureRate", "slack-provider")],
        &[],
        Duration::from_secs(90),
    );
}

#[test]
fn veid_backlog_reaches_the_identity_channel_twice() {
    fault_fires(
        "veid-backlog",
        60,
        &[
            ("VEIDVerificationQueue", "slack-identity"),
            ("SLOVEIDResponseTime", "slack-identity"),
        ],
        &[],
        Duration::from_secs(150),
    );
}

#[test]
fn tx_latency_reaches_the_chain_channel() {
    fault_fires(
        "tx-latency",
        30,
        &[("HighTransactionLatency", "slack-chain")],
        &[],
        Duration::from_secs(90),
    );
}
