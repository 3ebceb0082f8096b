//! `skywatch check dashboards`: the shipped dashboards pass; a dashboard with a broken query
//! fails, naming the file, the panel and the error. `skywatch up --dashboards` refuses a
//! path that is not a directory.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::path::Path;
use std::process::{Command, Output};

fn check(dir: &Path) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["check", "dashboards"])
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

#[test]
fn the_shipped_dashboards_pass_and_a_broken_query_fails_naming_the_panel() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    let (out, stdout) = check(&shipped);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("SUCCESS"), "{stdout}");

    let text = std::fs::read_to_string(shipped.join("node-network/network-overview.json")).unwrap();
    let good = "sum by (direction) (rate(p2p_bandwidth_bytes_total{node=~\\\"$node\\\"}[$__rate_interval]))";
    assert!(text.contains(good), "the Bandwidth panel's query changed");
    let broken = text.replace(
        good,
        "sum by (direction) (rate(p2p_bandwidth_bytes_total[5m])",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("overview.json"), broken).unwrap();
    let (out, stdout) = check(dir.path());
    assert!(!out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("FAILED"))
        .unwrap_or_else(|| panic!("no failure reported: {stdout}"));
    assert!(
        line.contains("overview.json: panel \"Bandwidth\" (id 6): query A: "),
        "{line}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 problem in the dashboards"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn up_refuses_a_dashboards_path_that_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["up", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--dashboards")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing: not a directory"), "{stderr}");
}
