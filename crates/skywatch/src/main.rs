//! The `skywatch` command: the server and the tools that work on its data.
//!
//! This is the only crate that names concrete types: it builds the TSDB and hands it to
//! what needs storage. Each subcommand is a module; errors are reported on standard error
//! as `skywatch: <what failed>` with exit status 1, usage errors by clap with status 2.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line program reports on the terminal"
)]

mod alert_hook;
mod alert_sink;
mod check;
mod demo;
mod export;
mod health;
mod history;
mod network_health;
mod self_metrics;
mod shipped;
mod shipped_coinjecture;
mod shipped_virtengine;
mod slo_cmd;
mod slos;
mod tsdb_cmd;
mod up;
mod web_server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc rather than glibc's malloc: queries allocate and free many mid-sized vectors,
/// which glibc keeps returning to and faulting back from the kernel (measured: 10-15% of
/// a dashboard query's time went to page faults).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Skywatch: metrics, alerts, traces and logs for node networks, in one binary.
#[derive(Debug, Parser)]
#[command(name = "skywatch", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: scrape the configured targets and serve the data through the
    /// Prometheus HTTP API.
    Up(up::UpArgs),
    /// Run the server and a simulated node network in one process: the way to see
    /// Skywatch work.
    Demo(demo::DemoArgs),
    /// Run only the simulated node network, for benchmarks or to point another scraper at.
    Netsim(demo::NetsimArgs),
    /// Check files without starting anything: `skywatch check config FILE...`.
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Run tests of files: `skywatch test rules TEST.yml...`, promtool's unit tests.
    #[command(subcommand)]
    Test(check::TestCommand),
    /// SLOs: `skywatch slo generate SPEC...` writes their rules (and --tests, their
    /// promtool tests); `skywatch slo check SPEC...` checks them.
    #[command(subcommand)]
    Slo(slo_cmd::SloCommand),
    /// Network-relative health: `skywatch network-health rules SETTINGS` prints the rule
    /// group its settings give (docs/network-health.md).
    #[command(subcommand)]
    NetworkHealth(network_health::NetworkHealthCommand),
    /// Write what `skywatch up` (or, with --demo, `skywatch demo`) runs as plain files
    /// for Prometheus, Alertmanager, Grafana, Kubernetes and docker compose.
    Export(Box<export::ExportArgs>),
    /// Work with TSDB data directories: import, inspect.
    #[command(subcommand)]
    Tsdb(tsdb_cmd::TsdbCommand),
    /// Receive Alertmanager webhook notifications and run a command for the firing alerts
    /// that match (an automatic rollback), safely: no shell, a cooldown, a timeout.
    AlertHook(alert_hook::AlertHookArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` and `test` report their findings themselves, as promtool does, and return
    // promtool's exit status; the other commands return only what stopped them.
    let succeeded = |r: Result<(), String>| r.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        Command::Up(args) => succeeded(up::run(args)),
        Command::Check(cmd) => check::run(cmd),
        Command::Test(cmd) => check::test(cmd),
        Command::Demo(args) => succeeded(demo::run(args)),
        Command::Netsim(args) => succeeded(demo::run_netsim(args)),
        Command::Slo(cmd) => slo_cmd::run(cmd),
        Command::NetworkHealth(cmd) => succeeded(network_health::run(cmd)),
        Command::Export(args) => succeeded(export::run(*args)),
        Command::Tsdb(cmd) => succeeded(tsdb_cmd::run(cmd)),
        Command::AlertHook(args) => succeeded(alert_hook::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("skywatch: {e}");
            ExitCode::FAILURE
        }
    }
}
