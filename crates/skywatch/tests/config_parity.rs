//! `skywatch check config` gives promtool's verdict (Debian's Prometheus 2.42,
//! `promtool check config`, with and without `--syntax-only`) on our fixtures in `tests/config/`, one per class
//! of difference found in real configurations: nulls where YAML lists hold only comments,
//! second documents, the checks Prometheus makes of relabelling, sizes, rule globs and HTTP
//! client settings, URLs as targets with and without relabelling. A fixture's name says
//! the `--syntax-only` verdict (`*.good.yml`, `*.bad.yml`); both tools must give it, and
//! agree on the full check, which also reads the files a configuration names.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::tool;

#[test]
fn skywatch_and_promtool_agree_on_every_fixture() {
    let promtool = tool("promtool");
    let files = common::yaml_fixtures("config", 15);
    let mut disagreements = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let good = name.ends_with(".good.yml");
        assert!(
            good || name.ends_with(".bad.yml"),
            "{name}: say the verdict in the name"
        );
        let check = |program: &Path, syntax_only: bool| {
            let mut command = Command::new(program);
            command.args(["check", "config"]);
            if syntax_only {
                command.arg("--syntax-only");
            }
            command.arg(file).output().unwrap()
        };
        let skywatch = Path::new(env!("CARGO_BIN_EXE_skywatch"));
        let (theirs, ours) = (check(&promtool, true), check(skywatch, true));
        if theirs.status.success() != good || ours.status.success() != good {
            disagreements.push(format!(
                "{name} --syntax-only: expected {}, promtool {} ({}), skywatch {} ({})",
                if good { "valid" } else { "invalid" },
                theirs.status,
                String::from_utf8_lossy(&theirs.stderr).trim(),
                ours.status,
                String::from_utf8_lossy(&ours.stderr).trim(),
            ));
        }
        // The full check also looks at the files a configuration names (rule files,
        // credentials, client certificates, beside the configuration): the tools agree.
        let (theirs, ours) = (check(&promtool, false), check(skywatch, false));
        if theirs.status.success() != ours.status.success() {
            disagreements.push(format!(
                "{name}: promtool {} ({}), skywatch {} ({})",
                theirs.status,
                String::from_utf8_lossy(&theirs.stderr).trim(),
                ours.status,
                String::from_utf8_lossy(&ours.stderr).trim(),
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
