//! Real log clients against `skywatch up`: the OpenTelemetry Python SDK's OTLP log
//! exporters (gRPC and HTTP/protobuf) and python-logging-loki (Loki's push, from PyPI),
//! driven by `tests/otlp/send_logs.py` from the virtual environment
//! `scripts/install-test-deps` makes. Every line sent must be kept: each client's streams
//! appear in Loki's `/loki/api/v1/series` with the labels Loki would give them
//! (`service_name` from `service.name`; the Loki handler's tags), `/index/stats` counts
//! exactly the lines and bytes sent, and the server's own counters agree; each line reads
//! back through `/loki/api/v1/query_range` with its labels and structured metadata; and a
//! tail over WebSocket delivers a pushed line within two seconds.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::process::Command;

use common::{python, start_skywatch_otlp};
use serde_json::{Value, json};

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

/// Each client's lines read back through `/loki/api/v1/query_range` as Grafana asks for
/// them (categorized labels): the stream's labels, then per line its text and its
/// structured metadata, exactly.
#[test]
fn every_line_reads_back_with_its_labels_and_structured_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, sent) = send(dir.path());
    let client = reqwest::blocking::Client::new();
    let range = format!("http://{addr}/loki/api/v1/query_range");
    let query = |selector: &str| -> Value {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("query", selector), ("direction", "forward")])
            .finish();
        let res = client
            .get(format!("{range}?{query}"))
            .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
            .send()
            .unwrap();
        let status = res.status();
        let text = res.text().unwrap();
        assert!(status.is_success(), "{selector}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    };
    for c in sent["otlp"].as_array().unwrap() {
        let service = c["service"].as_str().unwrap();
        let body = query(&format!("{{service_name=\"{service}\"}}"));
        assert_eq!(body["data"]["resultType"], "streams", "{body}");
        assert_eq!(
            body["data"]["encodingFlags"],
            json!(["categorize-labels"]),
            "{body}"
        );
        let result = body["data"]["result"].as_array().unwrap();
        assert_eq!(result.len(), 1, "one stream per service: {body}");
        assert_eq!(
            result[0]["stream"],
            json!({"service_instance_id": format!("{service}-0"), "service_name": service}),
            "{body}"
        );
        let values = result[0]["values"].as_array().unwrap();
        let want = c["lines"].as_array().unwrap();
        assert_eq!(values.len(), want.len(), "{body}");
        for (got, want) in values.iter().zip(want) {
            assert_eq!(got[1], want["line"], "{body}");
            let meta = &got[2]["structuredMetadata"];
            assert_eq!(meta["host_name"], "test-host", "resource attribute: {got}");
            for key in ["severity_text", "trace_id", "span_id", "peer_id"] {
                if let Some(v) = want.get(key) {
                    assert_eq!(&meta[key], v, "{key} of {got}");
                }
            }
        }
    }
    let application = sent["loki"]["application"].as_str().unwrap();
    let body = query(&format!("{{application=\"{application}\"}}"));
    let mut got: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let severity = s["stream"]["severity"].as_str().unwrap().to_owned();
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| (v[1].as_str().unwrap().to_owned(), severity.clone()))
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = sent["loki"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line"].as_str().unwrap().to_owned(),
                l["severity"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want, "{body}");
}

/// A tail over WebSocket (`/loki/api/v1/tail`, as `logcli --tail` and Grafana's live mode
/// open it) delivers a pushed line within two seconds of the push.
#[test]
fn tail_delivers_a_pushed_line_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, _grpc, _log) = start_skywatch_otlp(dir.path(), &[]);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("query", "{job=\"tail-test\"} |= \"wanted\"")])
        .finish();
    let (mut socket, _) =
        tungstenite::connect(format!("ws://{addr}/loki/api/v1/tail?{query}")).unwrap();
    // The tail answers nothing until a line comes; a read times out rather than hangs.
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_string();
    let push = json!({"streams": [{
        "stream": {"job": "tail-test"},
        "values": [[now, "not this one"], [now, "the wanted line"]],
    }]});
    let client = reqwest::blocking::Client::new();
    let pushed_at = std::time::Instant::now();
    let res = client
        .post(format!("http://{addr}/loki/api/v1/push"))
        .header("content-type", "application/json")
        .body(push.to_string())
        .send()
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().unwrap());
    let message = loop {
        match socket.read().unwrap() {
            tungstenite::Message::Text(t) => break t,
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected message {other:?}"),
        }
    };
    let took = pushed_at.elapsed();
    let message: Value = serde_json::from_str(&message).unwrap();
    assert_eq!(
        message,
        json!({
            "streams": [{"stream": {"job": "tail-test"}, "values": [[now, "the wanted line"]]}],
            "dropped_entries": null,
        })
    );
    assert!(
        took < std::time::Duration::from_secs(2),
        "the line came {took:?} after its push"
    );
}
