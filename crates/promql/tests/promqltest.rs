//! Runs every upstream PromQL test script and checks the failures against
//! `known-failures.txt`: an eval failing that is not listed fails this test, and so does a
//! listed eval that now passes, so that the list only shrinks.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn failures_are_exactly_the_known_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("../../../shared/promql-testdata");
    let outcomes = promql::runner::run_dir(&dir, &promql::runner::test_engine()).unwrap();
    assert!(
        outcomes.len() > 2000,
        "only {} evals ran from {}",
        outcomes.len(),
        dir.display()
    );
    let known_text = std::fs::read_to_string(root.join("tests/known-failures.txt")).unwrap();
    let known: BTreeSet<&str> = known_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let failing: Vec<(String, &str)> = outcomes
        .iter()
        .filter_map(|o| {
            o.failure
                .as_deref()
                .map(|f| (format!("{}:{}", o.file, o.line), f))
        })
        .collect();
    let failing_ids: BTreeSet<&str> = failing.iter().map(|(id, _)| id.as_str()).collect();
    let unexpected: Vec<String> = failing
        .iter()
        .filter(|(id, _)| !known.contains(id.as_str()))
        .map(|(id, why)| format!("{id}: {why}"))
        .collect();
    let fixed: Vec<&str> = known
        .iter()
        .filter(|id| !failing_ids.contains(*id))
        .copied()
        .collect();
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "{} evals fail that are not in known-failures.txt:\n{}\n\n{} listed evals now pass; remove them:\n{}",
        unexpected.len(),
        unexpected.join("\n"),
        fixed.len(),
        fixed.join("\n")
    );
}
