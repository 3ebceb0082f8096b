//! `skywatch test rules` and `skywatch check rules` side by side with promtool on the same
//! files: Prometheus's documentation example, rules with templates, `for` and
//! `keep_firing_for`, and deliberately failing variants (`*.fail.yml`), each passing or
//! failing as its name says with both tools; and the shipped node-network rules, whose
//! unit tests pass with both.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tool;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

fn skywatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(args)
        .current_dir(dir())
        .output()
        .unwrap()
}

fn promtool(args: &[&str]) -> Output {
    Command::new(tool("promtool"))
        .args(args)
        .current_dir(dir())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn unit_tests_pass_or_fail_as_with_promtool() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pass.yml") || n.ends_with(".fail.yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    let mut disagreements = Vec::new();
    for f in &files {
        let want = f.ends_with(".pass.yml");
        let ours = skywatch(&["test", "rules", f]);
        let theirs = promtool(&["test", "rules", f]);
        if ours.status.success() != want || theirs.status.success() != want {
            disagreements.push(format!(
                "{f}: expected to {}; skywatch {}, promtool {}\n--- skywatch:\n{}--- promtool:\n{}",
                if want { "pass" } else { "fail" },
                ours.status,
                theirs.status,
                text(&ours),
                text(&theirs)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn the_shipped_rules_pass_their_unit_tests_with_skywatch_and_promtool() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/node-network/tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&tests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 5, "{files:?}");
    for f in &files {
        let f = f.to_str().unwrap();
        let ours = skywatch(&["test", "rules", f]);
        assert!(ours.status.success(), "skywatch: {}", text(&ours));
        let theirs = promtool(&["test", "rules", f]);
        assert!(theirs.status.success(), "promtool: {}", text(&theirs));
        let rules = f.replace("/tests/", "/").replace(".test.yml", ".yml");
        for out in [
            skywatch(&["check", "rules", &rules]),
            promtool(&["check", "rules", &rules]),
        ] {
            assert!(out.status.success(), "{rules}: {}", text(&out));
        }
    }
}

#[test]
fn a_failing_test_says_what_was_expected_and_what_came() {
    let out = skywatch(&["test", "rules", "wrong-annotation.fail.yml"]);
    assert!(!out.status.success());
    let t = text(&out);
    for want in [
        "Unit Testing:  wrong-annotation.fail.yml",
        "FAILED:",
        "alertname: InstanceDown, time: 10m",
        "description=\"localhost:9090 of job prometheus is down.\"",
        "description=\"localhost:9090 of job prometheus has been down for more than 5 minutes.\"",
    ] {
        assert!(t.contains(want), "missing {want:?} in:\n{t}");
    }
}

#[test]
fn check_rules_agrees_with_promtool_and_names_the_line() {
    for (file, ok) in [
        ("docs-alerts.yml", true),
        ("templates.yml", true),
        ("broken-rules.yml", false),
    ] {
        let ours = skywatch(&["check", "rules", file]);
        let theirs = promtool(&["check", "rules", file]);
        assert_eq!(ours.status.success(), ok, "{file}: {}", text(&ours));
        assert_eq!(theirs.status.success(), ok, "{file}: {}", text(&theirs));
    }
    let t = text(&skywatch(&["check", "rules", "broken-rules.yml"]));
    assert!(
        t.contains("broken-rules.yml: line 5: group \"broken\", rule 1 (alert \"Broken\"): expr on line 6 does not parse"),
        "{t}"
    );
    assert!(
        text(&skywatch(&["check", "rules", "templates.yml"])).contains("SUCCESS: 3 rules found")
    );
}
