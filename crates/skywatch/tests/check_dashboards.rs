//! `skywatch check dashboards`: the shipped dashboards pass; a dashboard with a broken query
//! fails, naming the file, the panel and the error; what the UI cannot draw as Grafana
//! draws it is listed per panel with its JSON path, and fails the check with `--strict`.
//! `skywatch up --dashboards` refuses a path that is not a directory.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::path::Path;
use std::process::{Command, Output};

fn check(dir: &Path) -> (Output, String) {
    check_with(&[], dir)
}

fn check_with(flags: &[&str], path: &Path) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["check", "dashboards"])
        .args(flags)
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

/// The dashboard the UI's marker is tested on too: a panel of each kind of warning.
fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/testdata/not-drawn.json")
}

#[test]
fn the_shipped_dashboards_pass_and_a_broken_query_fails_naming_the_panel() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    let (out, stdout) = check_with(&["--strict"], &shipped);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("SUCCESS"), "{stdout}");
    assert!(!stdout.contains("WARNING"), "{stdout}");

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
fn warnings_name_dashboard_panel_and_path_and_fail_only_with_strict() {
    // As a file, and in a directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(), dir.path().join("not-drawn.json")).unwrap();
    for path in [fixture(), dir.path().to_path_buf()] {
        let (out, stdout) = check(&path);
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains(
                "  not-drawn.json: \"Not drawn as Grafana draws it\" (uid not-drawn), 7 panels, 1 rows: 2 drawn as Grafana draws them, 5 with warnings\n"
            ),
            "{stdout}"
        );
        assert!(
            stdout.contains("  SUCCESS: 1 dashboards, 5 panels with warnings\n"),
            "{stdout}"
        );
        // Each panel with its title, id and path, then its warnings, one a line.
        let at = stdout
            .find("    panel \"Latency\" (id 4) at panels[2].panels[0]:\n")
            .unwrap_or_else(|| panic!("{stdout}"));
        let lines: Vec<&str> = stdout[at..].lines().skip(1).take(6).collect();
        assert_eq!(
            lines[0],
            "      WARNING [matcher] panels[2].panels[0].fieldConfig.overrides[0].matcher.id: override matcher \"byLabel\" is not applied: the override's properties are lost"
        );
        assert!(
            lines[4].starts_with("      WARNING [color-mode] panels[2].panels[0].fieldConfig.overrides[1].properties[0].value.mode: "),
            "{}",
            lines[4]
        );
        // A unit outside Grafana's catalogue is shown as a suffix by both: a note.
        assert_eq!(
            lines[5],
            "      NOTE [unit] panels[2].panels[0].fieldConfig.defaults.unit: unit \"kbps\" is not in Grafana's catalogue: shown as a suffix, as Grafana shows it (a misspelt unit id?)"
        );
        assert!(
            stdout.contains("    panel \"Where\" (id 2) at panels[1]:\n      WARNING [panel-type] panels[1].type: panel type \"geomap\" is not drawn\n"),
            "{stdout}"
        );

        let (out, stdout) = check_with(&["--strict"], &path);
        assert!(!out.status.success(), "{stdout}");
        assert!(
            stdout.contains("  FAILED: 5 panels with warnings (--strict)\n"),
            "{stdout}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("5 panels with warnings in the dashboards (--strict)"),
            "{stderr}"
        );
    }
}

#[test]
fn a_path_that_is_neither_a_directory_nor_a_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (out, stdout) = check(&dir.path().join("missing"));
    assert!(!out.status.success());
    assert!(
        stdout.contains("  FAILED: neither a directory nor a file"),
        "{stdout}"
    );
}

#[test]
fn up_refuses_a_dashboards_path_that_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .arg("--dashboards")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing: not a directory"), "{stderr}");
}
