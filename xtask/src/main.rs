//! Repository automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask tidy` checks the rules of ARCHITECTURE.md and CONTRIBUTING.md that the
//!   compiler does not: the layering invariants (read from `cargo metadata`), that every
//!   source file opens with a `//!` comment, that dependency versions live only in the
//!   workspace manifest, that every crate inherits the workspace lints, and that no file
//!   names a path of the machine it was written on. The same checks run as tests in
//!   `cargo test --workspace`.
//! - `cargo xtask bench-sdk` runs the SDK's Criterion benchmarks and prints each SDK figure
//!   next to its baseline, with the ratio or the difference.
//! - `cargo xtask bench-logs` pushes generated node logs through a `skywatch up`'s Loki API
//!   and times its queries (`scripts/bench-logs` builds and runs it).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

mod bench;
mod bench_logs;
mod datagen;
mod promqltest;
mod tidy;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("tidy") => tidy::run(&workspace_root()),
        Some("bench-sdk") => bench::run(&workspace_root(), &args[1..]),
        Some("bench-logs") => bench_logs::run(&args[1..]),
        Some("gen-openmetrics") => gen_openmetrics(&args[1..]),
        Some("promqltest") => promqltest::run(&workspace_root(), &args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 tidy        check layering, file headers, manifests and paths\n  \
                 bench-sdk   run the SDK benchmarks and print ratios to their baselines \
                 (extra arguments go to criterion)\n  \
                 bench-logs --skywatch PATH [--lines N] ...\n              \
                 push node logs through skywatch up's Loki API and time queries (scripts/bench-logs)\n  \
                 gen-openmetrics [--nodes N] [--hours H] [--seed S] --out FILE\n              \
                 write the storage benchmark's node-network data set\n  \
                 promqltest [DIR] [--failures] [--print-known-failures]\n              \
                 run Prometheus's PromQL test scripts (default ../shared/promql-testdata)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the generator's flags and runs it.
fn gen_openmetrics(args: &[String]) -> Result<(), String> {
    let mut o = datagen::GenOptions {
        nodes: 30,
        hours: 4.0,
        seed: 1,
        out: PathBuf::new(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--nodes" => o.nodes = value.parse().map_err(|e| bad(&e))?,
            "--hours" => o.hours = value.parse().map_err(|e| bad(&e))?,
            "--seed" => o.seed = value.parse().map_err(|e| bad(&e))?,
            "--out" => o.out = PathBuf::from(value),
            _ => {
                return Err(format!(
                    "unknown flag {flag}: expected --nodes, --hours, --seed or --out"
                ));
            }
        }
    }
    if o.out.as_os_str().is_empty() {
        return Err("--out FILE is required".into());
    }
    let (series, samples) = datagen::run(&o)?;
    println!(
        "wrote {samples} samples of {series} series to {}",
        o.out.display()
    );
    Ok(())
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
