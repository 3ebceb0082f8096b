//! `skywatch check alertmanager` gives `amtool check-config`'s verdict (Debian's
//! Alertmanager 0.25, package `prometheus-alertmanager`) on our fixtures in
//! `tests/alertmanager/`, one per class of difference found in real configurations:
//! nulls and comment-only lists, every key of every receiver, the defaults `global` gives
//! and the errors when it gives none, URLs, smarthosts, matchers, `group_by`, the root
//! route, time intervals in IANA time zones, and HTTP client settings.
//!
//! A fixture's name says the verdicts:
//! - `*.good.yml`: both valid;
//! - `*.bad.yml`: both invalid;
//! - `*.newer.yml`: keys newer than Alertmanager 0.25, which refuses them; Skywatch reads
//!   them as the newest Alertmanager documents them.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::tool;

/// What Skywatch said of a file.
#[derive(Debug, PartialEq)]
enum Verdict {
    Valid,
    Invalid,
}

fn skywatch(file: &Path) -> (Verdict, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["check", "alertmanager"])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return (Verdict::Valid, text);
    }
    (Verdict::Invalid, text)
}

#[test]
fn skywatch_and_amtool_agree_on_every_fixture() {
    let amtool = tool("amtool");
    let files = common::yaml_fixtures("alertmanager", 40);
    let mut disagreements = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let kind = name.rsplit('.').nth(1).unwrap_or_default().to_owned();
        let (amtool_valid, skywatch_may) = match kind.as_str() {
            "good" => (true, vec![Verdict::Valid]),
            "bad" => (false, vec![Verdict::Invalid]),
            "newer" => (false, vec![Verdict::Valid]),
            _ => panic!("{name}: say the verdict in the name (good, bad, newer)"),
        };
        let theirs = Command::new(&amtool)
            .arg("check-config")
            .arg(file)
            .output()
            .unwrap();
        let (ours, said) = skywatch(file);
        if theirs.status.success() != amtool_valid || !skywatch_may.contains(&ours) {
            disagreements.push(format!(
                "{name}: amtool {} ({}), skywatch {ours:?} ({})",
                theirs.status,
                String::from_utf8_lossy(&theirs.stdout).trim(),
                said.trim()
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n\n"));
}
