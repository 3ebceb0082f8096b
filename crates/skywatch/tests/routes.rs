//! Routing decisions side by side with Alertmanager's own: `skywatch test routes` and
//! `amtool config routes test` (Debian's `prometheus-alertmanager`) on the shipped
//! `alertmanager/node-network.yml`, for a table of label sets; and `skywatch check
//! alertmanager` agreeing with `amtool check-config` on it and on broken variants; the same
//! for VirtEngine's `alertmanager/virtengine.yml` and its demo tree.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tool;

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../alertmanager/node-network.yml")
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    )
}

#[test]
fn every_label_set_goes_to_the_receivers_amtool_says() {
    let amtool = tool("amtool");
    let table: &[&[&str]] = &[
        &["alertname=Watchdog", "severity=none", "component=system"],
        &[
            "alertname=ServiceDown",
            "severity=critical",
            "component=system",
            "node=node-03",
        ],
        &[
            "alertname=SLAViolation_Availability",
            "severity=critical",
            "component=sla",
        ],
        &[
            "alertname=SLAViolation_PaymentSuccess",
            "severity=warning",
            "component=sla",
        ],
        &[
            "alertname=TVLDrop",
            "severity=critical",
            "component=economic",
        ],
        &[
            "alertname=PaymentFailureRate",
            "severity=warning",
            "component=economic",
            "node=node-01",
        ],
        &[
            "alertname=LowPeerConnections",
            "severity=warning",
            "component=p2p",
            "node=node-01",
        ],
        &[
            "alertname=NoActiveGuilds",
            "severity=info",
            "component=execution",
        ],
        &["alertname=Unknown"],
        &["severity=page"],
        &[],
    ];
    let mut differ = Vec::new();
    for labels in table {
        let (ok, ours) = run(Command::new(env!("CARGO_BIN_EXE_skywatch"))
            .args(["test", "routes", "--config"])
            .arg(config())
            .args(*labels));
        assert!(ok, "skywatch test routes {labels:?}");
        let (ok, theirs) = run(Command::new(&amtool)
            .args(["config", "routes", "test", "--config.file"])
            .arg(config())
            .args(*labels));
        assert!(ok, "amtool config routes test {labels:?}");
        if ours != theirs {
            differ.push(format!("{labels:?}: skywatch {ours:?}, amtool {theirs:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn configuration_checks_agree_with_amtool() {
    let amtool = tool("amtool");
    let text = std::fs::read_to_string(config()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, body, valid) in [
        ("shipped.yml", text.clone(), true),
        (
            "unknown-receiver.yml",
            text.replace("receiver: sla-team", "receiver: nobody"),
            false,
        ),
        (
            "bad-matcher.yml",
            text.replace(r#"'severity="info"'"#, r#"'severity=~"("'"#),
            false,
        ),
        (
            "missing-interval.yml",
            text.replace("[business-hours]", "[weekends]"),
            false,
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let (ours, out) = run(Command::new(env!("CARGO_BIN_EXE_skywatch"))
            .args(["check", "alertmanager"])
            .arg(&path));
        let (theirs, _) = run(Command::new(&amtool).arg("check-config").arg(&path));
        assert_eq!(ours, valid, "skywatch on {name}: {out}");
        assert_eq!(theirs, valid, "amtool on {name}");
    }
}

/// VirtEngine's routing: `(labels, the receivers)`, as alertmanager/virtengine.yml names
/// them (the demo's tree, alertmanager/demo-virtengine.yml, names the same).
const VIRTENGINE_ROUTES: &[(&[&str], &str)] = &[
    (
        &["alertname=Watchdog", "severity=none", "team=platform"],
        "deadmans-switch",
    ),
    (
        &[
            "alertname=ConsensusStalled",
            "severity=critical",
            "team=chain",
            "node=node-01",
        ],
        "pagerduty-oncall",
    ),
    (
        &["alertname=ValidatorDown", "severity=critical", "team=chain"],
        "pagerduty-oncall",
    ),
    (
        &[
            "alertname=EscrowBalanceLow",
            "severity=critical",
            "team=marketplace",
            "node=node-02",
        ],
        "pagerduty-oncall",
    ),
    (
        &[
            "alertname=HighTransactionLatency",
            "severity=warning",
            "team=chain",
            "node=node-01",
        ],
        "slack-chain",
    ),
    (
        &[
            "alertname=VEIDVerificationQueue",
            "severity=warning",
            "team=identity",
            "node=node-01",
        ],
        "slack-identity",
    ),
    (
        &[
            "alertname=ProviderHighFailureRate",
            "severity=warning",
            "team=provider",
            "node=node-01",
        ],
        "slack-provider",
    ),
    (
        &[
            "alertname=MLInferenceTimeout",
            "severity=warning",
            "team=ml",
            "model=doc-ocr",
        ],
        "slack-ml",
    ),
    (
        &[
            "alertname=SLOOrderMatchingSuccess",
            "severity=warning",
            "team=marketplace",
            "slo=order_matching",
        ],
        "slack-marketplace",
    ),
    (
        &[
            "alertname=PodCrashLooping",
            "severity=warning",
            "team=platform",
            "node=node-03",
        ],
        "slack-platform",
    ),
    (
        &[
            "alertname=VEIDRejectionSpike",
            "severity=warning",
            "team=identity",
            "category=business",
        ],
        "email-business",
    ),
    (
        &[
            "alertname=OrderVolumeDrop",
            "severity=info",
            "team=marketplace",
            "category=business",
        ],
        "email-business",
    ),
    (&["alertname=SomethingNew", "severity=info"], "email-daily"),
    (&["alertname=Unlabelled"], "slack-platform"),
];

#[test]
fn virtengine_alerts_go_to_the_receivers_amtool_says_in_production_and_in_the_demo() {
    let amtool = tool("amtool");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../alertmanager");
    let dir = tempfile::tempdir().unwrap();
    // The demo's file, with its address in place, as the demo loads it.
    let demo = dir.path().join("demo-virtengine.yml");
    std::fs::write(
        &demo,
        std::fs::read_to_string(root.join("demo-virtengine.yml"))
            .unwrap()
            .replace("${SKYWATCH_URL}", "http://127.0.0.1:9797"),
    )
    .unwrap();
    let mut differ = Vec::new();
    for config in [root.join("virtengine.yml"), demo] {
        let (ours, out) = run(Command::new(env!("CARGO_BIN_EXE_skywatch"))
            .args(["check", "alertmanager"])
            .arg(&config));
        assert!(
            ours,
            "skywatch check alertmanager {}: {out}",
            config.display()
        );
        let (theirs, out) = run(Command::new(&amtool).arg("check-config").arg(&config));
        assert!(theirs, "amtool check-config {}: {out}", config.display());
        for (labels, want) in VIRTENGINE_ROUTES {
            let (ok, ours) = run(Command::new(env!("CARGO_BIN_EXE_skywatch"))
                .args(["test", "routes", "--config"])
                .arg(&config)
                .args(*labels));
            assert!(ok, "skywatch test routes {labels:?}");
            let (ok, theirs) = run(Command::new(&amtool)
                .args(["config", "routes", "test", "--config.file"])
                .arg(&config)
                .args(*labels));
            assert!(ok, "amtool config routes test {labels:?}");
            if ours != *want || theirs != *want {
                differ.push(format!(
                    "{}: {labels:?}: want {want:?}, skywatch {ours:?}, amtool {theirs:?}",
                    config.display()
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
