//! The rules and tests `skywatch slo generate` writes, checked against the real promtool
//! 2.42 (issue 14).
//!
//! The specs are `tests/fixtures/slo/`: Sloth's format (two services; events, raw and
//! latency SLIs; one SLO on the workbook's windows over 28 days), OpenSLO's (a referenced
//! SLI, an alert policy, an SLO without policies) and that SLO again in Sloth's format.
//!
//! - Every spec's rules pass `promtool check rules`, and its generated unit tests pass
//!   under `promtool test rules` and `skywatch test rules`.
//! - The OpenSLO SLO and its Sloth equivalent generate the same alerts.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{output_text, tool, yaml_fixtures};
use rules::file::{Kind, RuleFile};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/slo")
        .join(name)
}

fn skywatch() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_skywatch"))
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Runs `skywatch slo generate SPECS -o rules.yml --tests tests.yml` in `dir`.
fn generate(specs: &[PathBuf], dir: &Path) {
    let mut args: Vec<&str> = vec!["slo", "generate"];
    args.extend(specs.iter().map(|s| s.to_str().unwrap()));
    args.extend(["-o", "rules.yml", "--tests", "tests.yml"]);
    let out = run(&skywatch(), &args, dir);
    assert!(
        out.status.success(),
        "skywatch {}: {}",
        args.join(" "),
        output_text(&out)
    );
}

fn rule_file(dir: &Path) -> RuleFile {
    RuleFile::load(&dir.join("rules.yml")).unwrap()
}

#[test]
fn every_specs_rules_pass_promtool_check_and_its_tests_pass_under_both() {
    let promtool = tool("promtool");
    let specs = yaml_fixtures("fixtures/slo", 3);
    for spec in &specs {
        let name = spec.file_name().unwrap().to_string_lossy();
        let dir = tempfile::tempdir().unwrap();
        generate(std::slice::from_ref(spec), dir.path());
        let rules = rule_file(dir.path()).rule_count();
        let check = run(&promtool, &["check", "rules", "rules.yml"], dir.path());
        assert!(
            check.status.success(),
            "{name}: promtool check rules: {}",
            output_text(&check)
        );
        assert!(
            output_text(&check).contains(&format!("SUCCESS: {rules} rules found")),
            "{name}: promtool found other than the {rules} rules written: {}",
            output_text(&check)
        );
        let tests = std::fs::read_to_string(dir.path().join("tests.yml")).unwrap();
        assert!(
            tests.contains("exp_labels:") && tests.contains("exp_alerts: []"),
            "{name}: the generated tests expect no alert to fire, or none to stay silent:\n{tests}"
        );
        for (who, program) in [("promtool", &promtool), ("skywatch", &skywatch())] {
            let out = run(program, &["test", "rules", "tests.yml"], dir.path());
            assert!(
                out.status.success(),
                "{name}: {who} test rules failed:\n{}",
                output_text(&out)
            );
        }
    }
}

/// An alerting rule as the comparison sees it: name, labels, expression, `for`,
/// annotations.
type AlertRule = (
    String,
    BTreeMap<String, String>,
    String,
    i64,
    BTreeMap<String, String>,
);

/// The alerting rules of `file` for the SLO `sloth_id`, sorted.
fn alerts_of(file: &RuleFile, sloth_id: &str) -> Vec<AlertRule> {
    let mut out: Vec<AlertRule> = file
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| matches!(r.kind, Kind::Alert(_)) && r.expr.contains(sloth_id))
        .map(|r| {
            (
                r.name().to_owned(),
                r.labels.clone(),
                r.expr.clone(),
                r.for_,
                r.annotations.clone(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn an_openslo_slo_and_its_sloth_equivalent_generate_the_same_alerts() {
    let (openslo, sloth) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(&[fixture("openslo.yml")], openslo.path());
    generate(&[fixture("sloth-equivalent.yml")], sloth.path());
    let id = "payments-refunds-availability";
    let theirs = alerts_of(&rule_file(openslo.path()), id);
    let ours = alerts_of(&rule_file(sloth.path()), id);
    let mut severities: Vec<&str> = ours
        .iter()
        .map(|a| a.1["sloth_severity"].as_str())
        .collect();
    severities.sort_unstable();
    assert_eq!(
        severities,
        ["budget", "page", "ticket"],
        "the Sloth spec's alerts: {ours:#?}"
    );
    assert_eq!(theirs, ours);
}
