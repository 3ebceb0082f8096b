//! Routing decisions side by side with Alertmanager's own: `skywatch test routes` and
//! `amtool config routes test` (Debian's `prometheus-alertmanager`) on the shipped
//! `alertmanager/node-network.yml`, for a table of label sets; and `skywatch check
//! alertmanager` agreeing with `amtool check-config` on it and on broken variants.

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
