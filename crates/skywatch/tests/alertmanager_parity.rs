//! `skywatch check alertmanager` gives `amtool check-config`'s verdict (Debian's
//! Alertmanager 0.25, package `prometheus-alertmanager`) on our fixtures in
//! `tests/alertmanager/`, one per class of difference found in real configurations:
//! nulls and comment-only lists, every key of every receiver, the defaults `global` gives
//! and the errors when it gives none, URLs, smarthosts, matchers, `group_by`, the root
//! route, time intervals in IANA time zones, and HTTP client settings.
//!
//! A fixture's name says the verdicts:
//! - `*.good.yml`: both valid;
//! - `*.bad.yml`: both invalid (Skywatch for a reason of its own, not an integration it
//!   does not send to yet);
//! - `*.unsent.yml`: valid for Alertmanager; Skywatch reads and checks it all, then
//!   refuses only the integrations it does not send to yet, each by name;
//! - `*.newer.yml`: keys newer than Alertmanager 0.25, which refuses them; Skywatch reads
//!   them as the newest Alertmanager documents them (and may refuse them as not sent yet).

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
    /// Refused only because it names integrations not sent yet.
    Unsent,
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
    let failed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("FAILED: "))
        .collect();
    let unsent = !failed.is_empty()
        && failed.iter().all(|f| {
            f.split("; line ")
                .all(|part| part.contains("Skywatch does not send to"))
        });
    (
        if unsent {
            Verdict::Unsent
        } else {
            Verdict::Invalid
        },
        text,
    )
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
            "unsent" => (true, vec![Verdict::Unsent]),
            "newer" => (false, vec![Verdict::Valid, Verdict::Unsent]),
            _ => panic!("{name}: say the verdict in the name (good, bad, unsent, newer)"),
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

#[test]
fn an_integration_not_sent_yet_is_named_with_its_receiver() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/alertmanager/every_integration.unsent.yml");
    let (verdict, said) = skywatch(&file);
    assert_eq!(verdict, Verdict::Unsent, "{said}");
    for (key, name) in [
        ("opsgenie_configs", "Opsgenie"),
        ("victorops_configs", "VictorOps"),
        ("pushover_configs", "Pushover"),
        ("sns_configs", "Amazon SNS"),
        ("telegram_configs", "Telegram"),
        ("discord_configs", "Discord"),
        ("webex_configs", "Webex"),
        ("wechat_configs", "WeChat"),
    ] {
        let want = format!("receivers[0].{key}: Skywatch does not send to {name} yet");
        assert!(said.contains(&want), "{want:?} not in {said}");
    }
}
