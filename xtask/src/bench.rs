//! `cargo xtask bench-sdk`: runs the SDK's Criterion benchmarks and prints each figure next
//! to its baseline.
//!
//! Criterion writes each benchmark's estimates to
//! `target/criterion/<group>/<function>/new/estimates.json`; the report reads the mean from
//! there, so the figures are exactly Criterion's.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A pair to report: the SDK's figure and its baseline in the same group.
struct Pair {
    group: &'static str,
    baseline: &'static str,
    sdk: &'static str,
    /// `true`: report the ratio sdk/baseline; `false`: the difference sdk - baseline.
    ratio: bool,
    target: &'static str,
}

const PAIRS: &[Pair] = &[
    Pair {
        group: "counter_inc",
        baseline: "bare",
        sdk: "sdk",
        ratio: true,
        target: "<= 1.2x",
    },
    Pair {
        group: "family_counter_inc",
        baseline: "bare",
        sdk: "sdk",
        ratio: true,
        target: "<= 1.2x",
    },
    Pair {
        group: "histogram_observe",
        baseline: "bare",
        sdk: "sdk",
        ratio: true,
        target: "<= 1.2x",
    },
    Pair {
        group: "middleware_tower",
        baseline: "bare",
        sdk: "metered",
        ratio: false,
        target: "< 2000 ns added",
    },
    Pair {
        group: "middleware_axum",
        baseline: "bare",
        sdk: "metered",
        ratio: false,
        target: "< 2000 ns added",
    },
];

fn mean_ns(root: &Path, group: &str, function: &str) -> Result<f64, String> {
    let path = root
        .join("target/criterion")
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {}: {e} (did the benchmark run?)",
            path.display()
        )
    })?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    json["mean"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("{}: no mean.point_estimate", path.display()))
}

pub(crate) fn run(root: &Path, criterion_args: &[String]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "bench",
            "-p",
            "skywatch-sdk",
            "--bench",
            "metrics",
            "--bench",
            "middleware",
            "--",
        ])
        .args(criterion_args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !status.success() {
        return Err("cargo bench failed".into());
    }
    println!(
        "\n{:<20} {:>12} {:>12} {:>16}  target",
        "group", "baseline", "sdk", "result"
    );
    for p in PAIRS {
        let base = mean_ns(root, p.group, p.baseline)?;
        let sdk = mean_ns(root, p.group, p.sdk)?;
        let result = if p.ratio {
            format!("{:.2}x", sdk / base)
        } else {
            format!("+{:.0} ns", sdk - base)
        };
        println!(
            "{:<20} {:>9.1} ns {:>9.1} ns {:>16}  {}",
            p.group, base, sdk, result, p.target
        );
    }
    let summary = mean_ns(root, "summary_observe", "sdk")?;
    println!(
        "{:<20} {:>12} {:>9.1} ns {:>16}  (no bare counterpart)",
        "summary_observe", "-", summary, "-"
    );
    Ok(())
}
