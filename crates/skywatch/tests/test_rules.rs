//! `skywatch test rules` and `skywatch check rules` side by side with promtool on the same
//! files: Prometheus's documentation example, rules with templates, `for` and
//! `keep_firing_for`, and deliberately failing variants (`*.fail.yml`), each passing or
//! failing as its name says with both tools; and every profile's shipped rules
//! (`rules/*/`), whose unit tests pass with both and which both check.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{output_text, tool};

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
                output_text(&ours),
                output_text(&theirs)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Every profile's rule directory under `rules/` (`node-network`, `virtengine`, ...): those
/// with a `tests/` directory beside their rule files.
fn shipped_rule_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("tests").is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The files of `dir` whose name ends with `suffix`, sorted.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

#[test]
fn the_shipped_rules_pass_their_unit_tests_with_skywatch_and_promtool() {
    let dirs = shipped_rule_dirs();
    let names: Vec<_> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["node-network", "virtengine"] {
        assert!(names.iter().any(|n| n == want), "{names:?}");
    }
    for dir in &dirs {
        // Rule files only: rules/network-health/ also keeps the settings its rules are
        // generated from.
        let rule_files: Vec<PathBuf> = files_ending(dir, ".yml")
            .into_iter()
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                text.starts_with("groups:") || text.contains("\ngroups:")
            })
            .collect();
        let tests = files_ending(&dir.join("tests"), ".test.yml");
        if dir.ends_with("node-network") || dir.ends_with("virtengine") {
            assert_eq!(rule_files.len(), 5, "{rule_files:?}");
        }
        // Every rule file has its unit test file, and every test file its rule file.
        let expected: Vec<PathBuf> = rule_files
            .iter()
            .map(|r| {
                dir.join("tests").join(
                    r.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .replace(".yml", ".test.yml"),
                )
            })
            .collect();
        assert_eq!(tests, expected, "{}", dir.display());
        for f in &tests {
            let f = f.to_str().unwrap();
            let ours = skywatch(&["test", "rules", f]);
            assert!(ours.status.success(), "skywatch: {}", output_text(&ours));
            let theirs = promtool(&["test", "rules", f]);
            assert!(
                theirs.status.success(),
                "promtool: {}",
                output_text(&theirs)
            );
        }
        for rules in &rule_files {
            let rules = rules.to_str().unwrap();
            for out in [
                skywatch(&["check", "rules", rules]),
                promtool(&["check", "rules", rules]),
            ] {
                assert!(out.status.success(), "{rules}: {}", output_text(&out));
            }
        }
    }
}

#[test]
fn a_failing_test_says_what_was_expected_and_what_came() {
    let out = skywatch(&["test", "rules", "wrong-annotation.fail.yml"]);
    assert!(!out.status.success());
    let t = output_text(&out);
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
        assert_eq!(ours.status.success(), ok, "{file}: {}", output_text(&ours));
        assert_eq!(
            theirs.status.success(),
            ok,
            "{file}: {}",
            output_text(&theirs)
        );
    }
    let t = output_text(&skywatch(&["check", "rules", "broken-rules.yml"]));
    assert!(
        t.contains("broken-rules.yml: line 5: group \"broken\", rule 1 (alert \"Broken\"): expr on line 6 does not parse"),
        "{t}"
    );
    assert!(
        output_text(&skywatch(&["check", "rules", "templates.yml"]))
            .contains("SUCCESS: 3 rules found")
    );
}

/// What one run printed and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Run {
    let o = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The regression fixtures of tests/rules/parity, one per class of difference found
/// between `skywatch check rules`/`test rules` and promtool 2.42, each run by both tools
/// and compared as its line in `cases.txt` says: byte for byte, by line counts, by exit
/// status, or as a known disagreement that must still disagree.
#[test]
fn parity_cases_compare_with_promtool_as_cases_txt_says() {
    let dir = dir().join("parity");
    let promtool = tool("promtool");
    let skywatch = PathBuf::from(env!("CARGO_BIN_EXE_skywatch"));
    let cases = std::fs::read_to_string(dir.join("cases.txt")).unwrap();
    let mut problems = Vec::new();
    let mut counted = 0;
    for line in cases
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut words = line.split_whitespace();
        let mode = words.next().unwrap();
        let args: Vec<&str> = words.collect();
        let ours = run(&skywatch, &args, &dir);
        let theirs = run(&promtool, &args, &dir);
        let lines = |r: &Run| (r.stdout.lines().count(), r.stderr.lines().count());
        let agree = match mode {
            "exact" => {
                ours.code == theirs.code
                    && ours.stdout == theirs.stdout
                    && ours.stderr == theirs.stderr
            }
            "lines" => ours.code == theirs.code && lines(&ours) == lines(&theirs),
            "status" => ours.code == theirs.code,
            "known" => ours.code != theirs.code,
            other => panic!("cases.txt: unknown mode {other:?} in {line:?}"),
        };
        counted += 1;
        if !agree {
            problems.push(format!(
                "{line}\n--- skywatch (status {:?}), stdout:\n{}--- stderr:\n{}--- promtool (status {:?}), stdout:\n{}--- stderr:\n{}",
                ours.code, ours.stdout, ours.stderr, theirs.code, theirs.stdout, theirs.stderr
            ));
        }
    }
    assert!(counted >= 20, "cases.txt has only {counted} cases");
    assert!(
        problems.is_empty(),
        "{} of {counted} cases differ from promtool (a `known` case that now agrees moves up to exact):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn compressed_rules_scale_ranges_offsets_and_waits_and_leave_strings_alone() {
    // The helper the profiles' chaos tests run the shipped rules through.
    let scale = |d: &str| format!("{}ms", common::parse_duration_ms(d).unwrap() / 30);
    assert_eq!(
        common::compress_expr(
            r#"rate(x{code=~"5[0-9]+"}[5m]) offset 1h > 0 and max_over_time(y[1h:30s] offset -10m)"#,
            &scale
        ),
        r#"rate(x{code=~"5[0-9]+"}[10000ms]) offset 120000ms > 0 and max_over_time(y[120000ms:1000ms] offset -20000ms)"#
    );
    assert_eq!(common::parse_duration_ms("1h30m"), Some(5_400_000));
    assert_eq!(common::parse_duration_ms("5x"), None);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.yml");
    std::fs::write(
        &src,
        "groups:\n  - name: g\n    interval: 1m\n    rules:\n      - alert: A\n        expr: increase(h[5m]) == 0\n        for: 5m\n        labels: {severity: critical}\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let written = common::compressed_rules(&[src], 60, out.path());
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written[0]).unwrap()).unwrap();
    let rule = &doc["groups"][0]["rules"][0];
    assert_eq!(doc["groups"][0]["interval"], "1000ms");
    assert_eq!(rule["for"], "5000ms");
    assert_eq!(rule["expr"], "increase(h[5000ms]) == 0");
    assert_eq!(rule["labels"]["severity"], "critical");
    // Still rules to both tools, as are the shipped ones compressed.
    let shipped: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/node-network"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yml"))
            .collect();
    let mut all = written;
    all.extend(common::compressed_rules(&shipped, 60, out.path()));
    for f in &all {
        let f = f.to_str().unwrap();
        for o in [
            skywatch(&["check", "rules", f]),
            promtool(&["check", "rules", f]),
        ] {
            assert!(o.status.success(), "{f}: {}", output_text(&o));
        }
    }
}
