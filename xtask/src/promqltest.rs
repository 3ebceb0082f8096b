//! `cargo xtask promqltest [DIR]`: runs Prometheus's PromQL test scripts against the engine
//! and prints, per file, `FILE: N passed, M failed`, then the totals.
//!
//! `--failures` also prints each failing eval with its reason; `--print-known-failures`
//! prints the failures in the format of `crates/promql/tests/known-failures.txt`, grouped by
//! reason, for when a change fixes or breaks cases on purpose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let mut dir = root.join("../shared/promql-testdata");
    let (mut show_failures, mut print_known) = (false, false);
    for a in args {
        match a.as_str() {
            "--failures" => show_failures = true,
            "--print-known-failures" => print_known = true,
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            path => dir = PathBuf::from(path),
        }
    }
    let outcomes = promql::runner::run_dir(&dir, &promql::runner::test_engine())?;
    if print_known {
        let mut by_reason: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for o in &outcomes {
            if let Some(failure) = &o.failure {
                by_reason
                    .entry(promql::runner::reason(failure))
                    .or_default()
                    .push(format!("{}:{}", o.file, o.line));
            }
        }
        println!("{}", promql::runner::KNOWN_FAILURES_HEADER);
        for (reason, cases) in by_reason {
            println!("\n## {reason}");
            for c in cases {
                println!("{c}");
            }
        }
        return Ok(());
    }
    let mut per_file: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for o in &outcomes {
        let entry = per_file.entry(o.file.as_str()).or_default();
        if o.failure.is_none() {
            entry.0 += 1;
        } else {
            entry.1 += 1;
            if show_failures {
                println!(
                    "{}:{}: {}",
                    o.file,
                    o.line,
                    o.failure.as_deref().unwrap_or("")
                );
            }
        }
    }
    let (mut passed, mut failed) = (0, 0);
    for (file, (p, f)) in &per_file {
        println!("{file}: {p} passed, {f} failed");
        passed += p;
        failed += f;
    }
    println!("{passed} passed, {failed} failed");
    Ok(())
}
