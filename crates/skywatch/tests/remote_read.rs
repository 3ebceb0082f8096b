//! `remote_read` against a real Prometheus 2.42 (Debian's `prometheus` package): samples
//! pushed into Prometheus (its remote write receiver) are read by a `skywatch up` whose
//! configuration names Prometheus's `/api/v1/read`, and Skywatch's answers to the same
//! queries equal Prometheus's own, external labels filtered as Prometheus filters them. An
//! endpoint that does not answer adds a warning and takes nothing away.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{get_json, start_prometheus, start_skywatch_with, within};
use model::Labels;
use serde_json::Value;

/// Milliseconds since the epoch, rounded down to a minute so both servers see the same
/// steps.
fn now_ms() -> i64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    ms - ms % 60_000
}

/// Pushes every 15s from `from` to `to` into Prometheus's remote write receiver: a counter
/// for two jobs and a gauge.
fn push(client: &reqwest::blocking::Client, prometheus: &str, from: i64, to: i64) {
    let mut batch = Vec::new();
    for (i, t) in (from..=to).step_by(15_000).enumerate() {
        let i = i as f64;
        for (job, rate) in [("api", 3.0), ("batch", 0.5)] {
            batch.push((
                Labels::from_pairs([("__name__", "pushed_total"), ("job", job)]),
                t,
                i * rate * 15.0,
            ));
        }
        batch.push((
            Labels::from_pairs([("__name__", "pushed_temperature"), ("job", "api")]),
            t,
            20.0 + (i / 7.0).sin(),
        ));
    }
    common::remote_write(client, prometheus, &batch);
}

#[test]
fn queries_read_a_real_prometheus_through_remote_read() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::blocking::Client::new();
    let prometheus_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        "global:\n  external_labels:\n    replica: a\n",
    )
    .unwrap();
    let (_prometheus, prometheus) = start_prometheus(
        &prometheus_config,
        &dir.path().join("prometheus"),
        &["--web.enable-remote-write-receiver"],
    );
    within(Duration::from_secs(30), "Prometheus to be ready", || {
        client
            .get(format!("http://{prometheus}/-/ready"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    let now = now_ms();
    let (from, to) = (now - 40 * 60_000, now - 5 * 60_000);
    push(&client, &prometheus, from, to);

    // A closed port beside it: asked too (read_recent), it fails and warns.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("skywatch.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  external_labels:\n    replica: a\n\
             remote_read:\n  - url: http://{prometheus}/api/v1/read\n    name: prometheus\n\
             \x20 - url: http://{closed}/api/v1/read\n    name: gone\n    read_recent: true\n    remote_timeout: 2s\n"
        ),
    )
    .unwrap();
    let (_skywatch, skywatch) = start_skywatch_with(
        &dir.path().join("skywatch"),
        &["--config".as_ref(), config.as_os_str()],
    );

    let (start, end) = ((from + 10 * 60_000) / 1000, to / 1000);
    // Queries whose answers do not depend on where Skywatch deliberately differs from
    // Prometheus 2.x (rate's extrapolation, samples on a window's left edge: see
    // docs/compatibility.md); times are off the 15s sample grid.
    let queries = [
        format!("/api/v1/query_range?query=pushed_total&start={start}&end={end}&step=60"),
        format!(
            "/api/v1/query_range?query=sum+by+(job)+(pushed_total)+/+2&start={start}&end={end}&step=120"
        ),
        format!("/api/v1/query?query=pushed_temperature&time={end}"),
        format!("/api/v1/query?query=pushed_total[1m]&time={}", end - 7),
        format!(
            "/api/v1/query?query=max_over_time(pushed_temperature[15m])&time={}",
            end - 307
        ),
        format!("/api/v1/series?match[]=pushed_total&start={start}&end={end}"),
    ];
    // Prometheus answers as soon as its receiver has taken the samples.
    within(
        Duration::from_secs(30),
        "Prometheus to hold the samples",
        || {
            get_json(&client, &prometheus, &queries[2])["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        },
    );
    for query in &queries {
        let theirs = get_json(&client, &prometheus, query);
        let ours = get_json(&client, &skywatch, query);
        assert_eq!(theirs["status"], "success", "{query}: {theirs}");
        assert_ne!(theirs["data"], Value::Array(Vec::new()), "{query}: empty");
        assert_eq!(ours["data"], theirs["data"], "{query}");
        let warnings = ours["warnings"].as_array().cloned().unwrap_or_default();
        assert!(
            warnings.iter().any(|w| w
                .as_str()
                .unwrap()
                .starts_with("remote_read: error sending request")),
            "{query}: {ours}"
        );
    }
}
