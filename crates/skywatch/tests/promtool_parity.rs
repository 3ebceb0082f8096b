//! `promtool query instant` and `promtool query range` give the same series and values
//! against Skywatch as against Prometheus (Debian's `prometheus` package) on the same data.
//!
//! One generated OpenMetrics file is imported with `skywatch tsdb import openmetrics` and
//! with `promtool tsdb create-blocks-from openmetrics`; both servers run on loopback; each
//! query's promtool output is compared series by series, values within a relative 1e-9.
//! Query times fall between samples, away from the edges of windows, where Prometheus 2.42
//! (closed on the left) and Prometheus 3 semantics, which Skywatch follows (open on the
//! left), legitimately differ.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use common::{Killed, free_port, start_skywatch};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T0: i64 = 1_700_000_000;

/// Counters with varying increments, integer gauges and a classic histogram, every 15 s
/// for 30 minutes.
fn data_set() -> String {
    let mut om = String::new();
    om.push_str("# TYPE rx counter\n");
    for (n, node) in ["a", "b", "c"].iter().enumerate() {
        let mut v = 0u64;
        for k in 0..120 {
            v += (k * 7 + n as u64 * 13) % 40;
            om.push_str(&format!(
                "rx_total{{node=\"{node}\"}} {v} {}\n",
                T0 + k as i64 * 15
            ));
        }
    }
    om.push_str("# TYPE node_peers gauge\n");
    for (n, node) in ["a", "b", "c"].iter().enumerate() {
        for k in 0..120i64 {
            om.push_str(&format!(
                "node_peers{{node=\"{node}\"}} {} {}\n",
                3 + (k + n as i64 * 5) % 9,
                T0 + k * 15
            ));
        }
    }
    om.push_str("# TYPE lat histogram\n");
    let bounds = ["0.1", "0.5", "1.0", "+Inf"];
    for (b, le) in bounds.iter().enumerate() {
        let mut c = 0u64;
        for k in 0..120u64 {
            c += (k % 5 + 1) * (b as u64 + 1);
            om.push_str(&format!(
                "lat_bucket{{le=\"{le}\"}} {c} {}\n",
                T0 + k as i64 * 15
            ));
        }
    }
    om.push_str("# EOF\n");
    om
}

fn wait_ready(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::blocking::Client::new();
    while Instant::now() < deadline {
        if client
            .get(format!("http://{addr}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{addr} did not become ready within 60 s");
}

fn start_prometheus(dir: &Path) -> (Killed, String) {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(common::tool("prometheus"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    wait_ready(&addr);
    (child, addr)
}

/// A promtool result: per series header, its `(value, timestamp)` lines.
fn promtool(args: &[String], addr: &str, query: &str) -> Vec<(String, Vec<(String, String)>)> {
    let out = Command::new(common::tool("promtool"))
        .arg("query")
        .args(args)
        .arg(format!("http://{addr}"))
        .arg(query)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool against {addr} for {query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut series: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match line.split_once(" => ") {
            Some((header, rest)) => {
                series.push((header.to_owned(), Vec::new()));
                if let Some((v, ts)) = rest.split_once(" @[") {
                    series
                        .last_mut()
                        .unwrap()
                        .1
                        .push((v.to_owned(), ts.to_owned()));
                }
            }
            None if line.ends_with(" =>") => {
                series.push((line.trim_end_matches(" =>").to_owned(), Vec::new()))
            }
            None => {
                let (v, ts) = line.split_once(" @[").unwrap_or((line, ""));
                series
                    .last_mut()
                    .unwrap()
                    .1
                    .push((v.to_owned(), ts.to_owned()));
            }
        }
    }
    series.sort();
    series
}

fn same(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => {
            x == y || (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        _ => a == b,
    }
}

#[test]
fn promtool_sees_the_same_results_from_skywatch_and_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.om");
    std::fs::write(&data, data_set()).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args(["tsdb", "import", "openmetrics", "--quiet"])
        .arg(&data)
        .arg(dir.path().join("skywatch"))
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new(common::tool("promtool"))
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&data)
        .arg(dir.path().join("prometheus"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (_sw, sw) = start_skywatch(&dir.path().join("skywatch"));
    let (_pr, pr) = start_prometheus(dir.path());

    let at = T0 + 1500 + 7;
    let instant = vec![format!("--time={at}")];
    let range = vec![
        "range".to_owned(),
        format!("--start={}", T0 + 600 + 7),
        format!("--end={at}"),
        "--step=60s".to_owned(),
    ];
    let queries = [
        "rx_total",
        "rate(rx_total[2m])",
        "sum by (node) (increase(rx_total[5m]))",
        "node_peers > 5",
        "max_over_time(node_peers[5m])",
        "histogram_quantile(0.9, sum by (le) (rate(lat_bucket[5m])))",
        "topk(2, node_peers)",
        "avg(node_peers) / count(node_peers)",
        "rx_total / on(node) node_peers",
        "sum(rate(rx_total[2m])) * 60",
    ];
    let mut compared = 0;
    for q in queries {
        for args in [&instant, &range] {
            let mut cmd_args = Vec::new();
            if args[0] != "range" {
                cmd_args.push("instant".to_owned());
            }
            cmd_args.extend(args.iter().cloned());
            let ours = promtool(&cmd_args, &sw, q);
            let theirs = promtool(&cmd_args, &pr, q);
            assert!(
                !theirs.is_empty(),
                "{q}: Prometheus returned nothing; the data set is wrong"
            );
            assert_eq!(
                ours.iter().map(|(h, _)| h).collect::<Vec<_>>(),
                theirs.iter().map(|(h, _)| h).collect::<Vec<_>>(),
                "{q} {args:?}: different series"
            );
            for ((h, a), (_, b)) in ours.iter().zip(&theirs) {
                assert_eq!(a.len(), b.len(), "{q} {args:?} {h}: {a:?} vs {b:?}");
                for ((va, ta), (vb, tb)) in a.iter().zip(b) {
                    assert_eq!(ta, tb, "{q} {args:?} {h}");
                    assert!(same(va, vb), "{q} {args:?} {h}: {va} vs {vb}");
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 100, "only {compared} values compared");
}
