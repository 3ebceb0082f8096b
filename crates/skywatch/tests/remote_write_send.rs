//! `remote_write` to a real Prometheus 2.42 started with `--web.enable-remote-write-receiver`:
//! Skywatch scrapes a target while the receiver is stopped for part of the run and Skywatch
//! itself restarts during the outage; afterwards every series and every sample in Prometheus
//! equals Skywatch's own (`count_over_time` per series).
//!
//! The outage lasts [`OUTAGE`] in CI (`SKYWATCH_OUTAGE_SECONDS` overrides it;
//! `scripts/remote-write-outage --full` runs the ten minutes), Skywatch restarting
//! half-way through it.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
#![allow(
    clippy::print_stderr,
    reason = "the run's figures are reported for the record (scripts/remote-write-outage)"
)]

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Killed, free_port, get_json, start_skywatch_with, tool, within};

/// How long the receiver is away in CI.
const OUTAGE: Duration = Duration::from_secs(4);

/// The outage's length: [`OUTAGE`], or `SKYWATCH_OUTAGE_SECONDS`.
fn outage() -> Duration {
    std::env::var("SKYWATCH_OUTAGE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(OUTAGE, Duration::from_secs)
}

/// Starts the receiver on `port` (the same across restarts, so the sender's URL holds).
fn receiver(dir: &std::path::Path, port: u16) -> Killed {
    let config = dir.join("receiver.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
    Killed(
        Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The samples of each series of the job over the last hour (what `count_over_time` gives
/// per series; asked as a range selector, since `count_over_time` drops the names and the
/// series would then clash), by its labels less `replica`.
fn counts(client: &reqwest::blocking::Client, addr: &str) -> BTreeMap<String, usize> {
    let answer = get_json(
        client,
        addr,
        "/api/v1/query?query=%7Bjob%3D%22node%22%7D%5B1h%5D",
    );
    answer["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    let mut m = s["metric"].clone();
                    m.as_object_mut().unwrap().remove("replica");
                    (m.to_string(), s["values"].as_array().unwrap().len())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_outage_and_a_restart_lose_nothing_in_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let target = common::serve_fixed(
        "text/plain; version=0.0.4",
        "# TYPE blocks_total counter\nblocks_total{chain=\"main\"} 7\nheight 3\n".into(),
    );
    let port = free_port();
    let prom = format!("127.0.0.1:{port}");
    let config = dir.path().join("skywatch.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 500ms\n  external_labels:\n    replica: a\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{target}']\nremote_write:\n  - url: http://{prom}/api/v1/write\n    queue_config:\n      batch_send_deadline: 100ms\n      min_backoff: 50ms\n      max_backoff: 200ms\n"
        ),
    )
    .unwrap();
    let client = reqwest::blocking::Client::new();
    let receiving = receiver(dir.path(), port);
    within(Duration::from_secs(60), "Prometheus to start", || {
        client
            .get(format!("http://{prom}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    let data = dir.path().join("data");
    let args = ["--config".as_ref(), config.as_os_str()];
    let (sky, _) = start_skywatch_with(&data, &args);
    within(Duration::from_secs(30), "samples in Prometheus", || {
        !counts(&client, &prom).is_empty()
    });
    // The receiver goes away; Skywatch keeps scraping, restarts, and scrapes on.
    let outage = outage();
    drop(receiving);
    std::thread::sleep(outage / 2);
    drop(sky);
    let (_sky, addr2) = start_skywatch_with(&data, &args);
    std::thread::sleep(outage / 2);
    let _receiving = receiver(dir.path(), port);
    within(Duration::from_secs(60), "Prometheus to start again", || {
        client
            .get(format!("http://{prom}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    let mut ours = BTreeMap::new();
    within(
        Duration::from_secs(60),
        "Prometheus to hold what Skywatch holds",
        || {
            ours = counts(&client, &addr2);
            let theirs = counts(&client, &prom);
            !ours.is_empty() && theirs == ours
        },
    );
    // blocks_total, height and the five series Prometheus adds per scrape (up, ...).
    assert!(ours.len() >= 3, "{ours:?}");
    // Scrapes before, during (two a second) and after the outage.
    let during = outage.as_secs() as usize * 2;
    assert!(ours.values().all(|n| *n >= during), "{ours:?}");
    eprintln!(
        "{} series, {} samples, a {}s outage: all equal",
        ours.len(),
        ours.values().sum::<usize>(),
        outage.as_secs()
    );
}
