//! `remote_write` to a real VictoriaMetrics (Debian's `victoria-metrics`, a remote write
//! receiver users run): the series `skywatch up` scrapes arrive there with the external
//! labels, and every sample Skywatch stored for them is there too.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Killed, free_port, get_json, start_skywatch_with, within};

/// An exporter on loopback whose counter grows on every scrape.
fn exporter() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = format!("# TYPE blocks_total counter\nblocks_total{{chain=\"main\"}} {n}\n");
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr.to_string()
}

#[test]
fn scraped_series_arrive_in_victoria_metrics() {
    let vm = common::tool_named("victoria-metrics", "victoria-metrics");
    let dir = tempfile::tempdir().unwrap();
    let vm_port = free_port();
    let _vm = Killed(
        Command::new(vm)
            .arg(format!("-httpListenAddr=127.0.0.1:{vm_port}"))
            .arg(format!(
                "-storageDataPath={}",
                dir.path().join("vm").display()
            ))
            .arg("-search.latencyOffset=0s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let vm = format!("127.0.0.1:{vm_port}");
    let target = exporter();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  external_labels:\n    replica: a\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{target}']\nremote_write:\n  - url: http://{vm}/api/v1/write\n    queue_config:\n      batch_send_deadline: 200ms\n"
        ),
    )
    .unwrap();
    let client = reqwest::blocking::Client::new();
    within(Duration::from_secs(60), "VictoriaMetrics to start", || {
        client
            .get(format!("http://{vm}/health"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    let (_server, addr) = start_skywatch_with(
        &dir.path().join("data"),
        &["--config".as_ref(), config.as_os_str()],
    );
    // Five scrapes stored here.
    within(Duration::from_secs(60), "five scrapes stored", || {
        let answer = get_json(
            &client,
            &addr,
            "/api/v1/query?query=count_over_time(blocks_total%5B1h%5D)",
        );
        answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|n| n >= 5)
    });
    // Every sample Skywatch holds of the series up to now is in VictoriaMetrics with the
    // external label added: VictoriaMetrics' raw export against Skywatch's own samples.
    let ours = get_json(&client, &addr, "/api/v1/query?query=blocks_total%5B1h%5D");
    let our_series = &ours["data"]["result"][0];
    let our_times: Vec<i64> = our_series["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64)
        .collect();
    within(Duration::from_secs(30), "every sample to arrive", || {
        let export = client
            .get(format!("http://{vm}/api/v1/export?match[]=blocks_total"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let theirs: serde_json::Value =
            serde_json::from_str(export.lines().next().unwrap_or("{}")).unwrap();
        let times: Vec<i64> = theirs["timestamps"]
            .as_array()
            .map(|t| t.iter().map(|t| t.as_i64().unwrap()).collect())
            .unwrap_or_default();
        our_times.iter().all(|t| times.contains(t))
            && theirs["metric"]
                == serde_json::json!({
                    "__name__": "blocks_total",
                    "chain": "main",
                    "instance": target,
                    "job": "node",
                    "replica": "a",
                })
    });
    // The server counts what it sent, as Prometheus does.
    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let sent = metrics
        .lines()
        .find(|l| {
            l.starts_with("prometheus_remote_storage_samples_total{remote_name=\"")
                && l.contains(&format!(",url=\"http://{vm}/api/v1/write\"}}"))
        })
        .unwrap_or_else(|| panic!("no remote storage counter in {metrics}"));
    let sent: f64 = sent.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(sent >= 5.0, "{sent}");
}
