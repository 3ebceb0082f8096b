//! Real log clients against `skywatch up`: the OpenTelemetry Python SDK's OTLP log
//! exporters (gRPC and HTTP/protobuf) and python-logging-loki (Loki's push, from PyPI),
//! driven by `tests/otlp/send_logs.py` from the virtual environment
//! `scripts/install-test-deps` makes. Every line sent must be kept: each client's streams
//! appear in Loki's `/loki/api/v1/series` with the labels Loki would give them
//! (`service_name` from `service.name`; the Loki handler's tags), `/index/stats` counts
//! exactly the lines and bytes sent, and the server's own counters agree. Reading each
//! line back with its structured metadata goes through `/loki/api/v1/query_range`, which
//! comes with the LogQL engine: that test is ignored until then.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::start_skywatch_otlp;
use serde_json::{Value, json};

/// The Python of the test's virtual environment; fails saying how to make it.
fn python() -> PathBuf {
    let venv = std::env::var_os("SKYWATCH_PYTHON_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/python-otlp"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/install-test-deps, which installs the OpenTelemetry Python SDK and python-logging-loki there",
        python.display()
    );
    python
}

/// Sends with every client to a fresh server; returns the server, its address and what
/// the clients sent.
fn send(dir: &std::path::Path) -> (common::Killed, String, Value) {
    let python = python();
    let (server, addr, grpc, _log) = start_skywatch_otlp(dir, &[]);
    let out = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/otlp/send_logs.py"
        ))
        .args([
            "--grpc",
            &grpc,
            "--http",
            &format!("http://{addr}/v1/logs"),
            "--loki",
            &format!("http://{addr}/loki/api/v1/push"),
            "--tag",
            "t1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::output_text(&out));
    let sent: Value = serde_json::from_slice(&out.stdout).unwrap();
    (server, addr, sent)
}

fn get(client: &reqwest::blocking::Client, url: &str, query: &[(&str, &str)]) -> Value {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    let res = client.get(format!("{url}?{query}")).send().unwrap();
    let status = res.status();
    let text = res.text().unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn otlp_and_loki_clients_push_and_every_line_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, sent) = send(dir.path());
    let client = reqwest::blocking::Client::new();
    let base = format!("http://{addr}/loki/api/v1");

    for c in sent["otlp"].as_array().unwrap() {
        let service = c["service"].as_str().unwrap();
        let selector = format!("{{service_name=\"{service}\"}}");
        let series = get(
            &client,
            &format!("{base}/series"),
            &[("match[]", &selector)],
        );
        assert_eq!(
            series["data"],
            json!([{"service_instance_id": format!("{service}-0"), "service_name": service}]),
            "{}: host.name is structured metadata, not a label",
            c["protocol"]
        );
        let lines = c["lines"].as_array().unwrap();
        let bytes: usize = lines
            .iter()
            .map(|l| l["line"].as_str().unwrap().len())
            .sum();
        let stats = get(
            &client,
            &format!("{base}/index/stats"),
            &[("query", &selector)],
        );
        assert_eq!(
            (
                stats["streams"].as_u64(),
                stats["entries"].as_u64(),
                stats["bytes"].as_u64()
            ),
            (Some(1), Some(lines.len() as u64), Some(bytes as u64)),
            "{}: {stats}",
            c["protocol"]
        );
    }

    let application = sent["loki"]["application"].as_str().unwrap();
    let selector = format!("{{application=\"{application}\"}}");
    let series = get(
        &client,
        &format!("{base}/series"),
        &[("match[]", &selector)],
    );
    assert_eq!(
        series["data"],
        json!([
            {"application": application, "logger": "skywatch.tests.loki", "severity": "info"},
            {"application": application, "logger": "skywatch.tests.loki", "severity": "warning"},
        ])
    );
    let values = get(
        &client,
        &format!("{base}/label/severity/values"),
        &[("query", &selector)],
    );
    assert_eq!(values["data"], json!(["info", "warning"]));

    let metrics = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "skywatch_loki_received_entries_total 2"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "skywatch_otlp_log_records_received_total{protocol=\"grpc\"} 2"),
        "{metrics}"
    );
}

#[test]
#[ignore = "reads lines through /loki/api/v1/query_range, which comes with the LogQL engine (issue 16 item 3)"]
fn every_line_reads_back_with_its_labels_and_structured_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, sent) = send(dir.path());
    let client = reqwest::blocking::Client::new();
    let range = format!("http://{addr}/loki/api/v1/query_range");
    for c in sent["otlp"].as_array().unwrap() {
        let service = c["service"].as_str().unwrap();
        let body = get(
            &client,
            &range,
            &[
                ("query", &format!("{{service_name=\"{service}\"}}")),
                ("direction", "forward"),
            ],
        );
        let result = body["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), 1, "{body}");
        let values = result[0]["values"].as_array().unwrap();
        let want = c["lines"].as_array().unwrap();
        assert_eq!(values.len(), want.len(), "{body}");
        for (got, want) in values.iter().zip(want) {
            assert_eq!(got[1], want["line"], "{body}");
            // Structured metadata comes as the third element of each value when the
            // request asks for categorized labels; otherwise in the stream's labels.
            let meta = got.get(2).cloned().unwrap_or(json!({}));
            let text = meta.to_string() + &result[0]["stream"].to_string();
            for key in ["severity_text", "trace_id", "span_id", "peer_id"] {
                if let Some(v) = want.get(key) {
                    assert!(text.contains(v.as_str().unwrap()), "{key}: {text}");
                }
            }
        }
    }
}
