//! Real OTLP clients against `skywatch up`: the OpenTelemetry Python SDK's gRPC and
//! HTTP/protobuf exporters (`tests/otlp/send.py`, from the virtual environment
//! `scripts/install-test-deps` makes) and the Rust SDK's exporters, each plain and
//! gzip-compressed. Every request must be accepted whole, and the server's
//! `skywatch_otlp_spans_received_total` must grow by exactly the spans sent, per transport.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use common::start_skywatch_otlp;

/// The Python of the test's virtual environment; fails saying how to make it.
fn python() -> PathBuf {
    let venv = std::env::var_os("SKYWATCH_PYTHON_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/python-otlp"),
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/install-test-deps, which installs the OpenTelemetry Python SDK there",
        python.display()
    );
    python
}

/// The server's OTLP counters: `name{labels}` to value, for every `skywatch_otlp_` line.
fn otlp_counters(client: &reqwest::blocking::Client, addr: &str) -> BTreeMap<String, f64> {
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("skywatch_otlp_"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn received(counters: &BTreeMap<String, f64>, protocol: &str) -> f64 {
    counters[&format!("skywatch_otlp_spans_received_total{{protocol=\"{protocol}\"}}")]
}

fn rejected(counters: &BTreeMap<String, f64>) -> f64 {
    counters
        .iter()
        .filter(|(k, _)| k.starts_with("skywatch_otlp_spans_rejected_total"))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn the_python_sdk_sends_over_grpc_and_http_and_every_span_arrives() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, grpc, _log) = start_skywatch_otlp(dir.path(), &[]);
    let client = reqwest::blocking::Client::new();
    let before = otlp_counters(&client, &addr);
    assert_eq!(
        (received(&before, "grpc"), received(&before, "http")),
        (0.0, 0.0)
    );

    let out = Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/send.py"))
        .args([
            "--grpc",
            &grpc,
            "--http",
            &format!("http://{addr}/v1/traces"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::output_text(&out));
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let requests = sent["requests"].as_array().unwrap();
    let mut spans = BTreeMap::<&str, f64>::new();
    let mut seen = Vec::new();
    for r in requests {
        let (protocol, compression) = (
            r["protocol"].as_str().unwrap(),
            r["compression"].as_str().unwrap(),
        );
        assert_eq!(
            r["accepted"], true,
            "{protocol} ({compression}) was refused"
        );
        let these = r["spans"].as_array().unwrap();
        assert_eq!(these.len(), 3, "{r}");
        *spans.entry(protocol).or_default() += these.len() as f64;
        seen.push(format!("{protocol}/{compression}"));
    }
    assert_eq!(seen, ["grpc/none", "grpc/gzip", "http/none", "http/gzip"]);
    // What was sent is OTLP/JSON, ready to compare with a trace API's answer.
    let root = &requests[0]["spans"][2];
    assert_eq!(root["kind"], 2, "{root}");
    assert_eq!(root["traceId"].as_str().unwrap().len(), 32, "{root}");
    assert_eq!(root["status"]["code"], 2, "{root}");

    let after = otlp_counters(&client, &addr);
    assert_eq!(received(&after, "grpc"), spans["grpc"]);
    assert_eq!(received(&after, "http"), spans["http"]);
    assert_eq!(rejected(&after), 0.0);
    for protocol in ["grpc", "http"] {
        let ok = format!(
            "skywatch_otlp_requests_total{{signal=\"traces\",protocol=\"{protocol}\",outcome=\"ok\"}}"
        );
        assert_eq!(after[&ok], 2.0, "{ok}");
    }
}

/// Sends three spans through the Rust SDK's exporter over `otlp` and flushes them.
fn send_with_the_rust_sdk(otlp: skywatch_sdk::trace::OtlpConfig) {
    let mut config = skywatch_sdk::Config::new("rust-sdk-client", "1.0.0");
    config.otlp = Some(otlp);
    config.registry = Some(skywatch_sdk::metrics::Registry::new());
    config.log_writer = skywatch_sdk::LogWriter::Stderr;
    let (telemetry, dispatch) = skywatch_sdk::build(config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        let root = tracing::info_span!("handle request", http.method = "POST", retries = 2_i64);
        let _root = root.enter();
        let child = tracing::info_span!("p2p send", peer = "node-07");
        let _child = child.enter();
        tracing::info_span!("dht lookup", ok = true).in_scope(|| {});
    });
    telemetry.shutdown().unwrap();
}

#[test]
fn the_rust_sdk_sends_over_grpc_and_http_and_every_span_arrives() {
    use skywatch_sdk::trace::OtlpConfig;
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, grpc, _log) = start_skywatch_otlp(dir.path(), &[]);
    let client = reqwest::blocking::Client::new();

    let mut http = OtlpConfig::http(format!("http://{addr}"));
    http.gzip = true;
    send_with_the_rust_sdk(http);
    // The gRPC exporter needs a tokio runtime to drive its connection.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut otlp = OtlpConfig::grpc(format!("http://{grpc}"));
    otlp.gzip = true;
    runtime.block_on(async {
        tokio::task::spawn_blocking(move || send_with_the_rust_sdk(otlp))
            .await
            .unwrap();
    });

    let after = otlp_counters(&client, &addr);
    assert_eq!(received(&after, "http"), 3.0, "{after:?}");
    assert_eq!(received(&after, "grpc"), 3.0, "{after:?}");
    assert_eq!(rejected(&after), 0.0);
}

#[test]
fn the_limits_are_flags_and_a_request_over_one_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, _grpc, _log) = start_skywatch_otlp(
        dir.path(),
        &["--otlp-max-spans-per-request".as_ref(), "2".as_ref()],
    );
    let client = reqwest::blocking::Client::new();
    let span = |id: &str| serde_json::json!({"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": id, "name": "s"});
    let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        span("0000000000000001"), span("0000000000000002"), span("0000000000000003")
    ]}]}]});
    let response = client
        .post(format!("http://{addr}/v1/traces"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let status: serde_json::Value = serde_json::from_str(&response.text().unwrap()).unwrap();
    assert_eq!(status["code"], 8);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("max_spans_per_request (2) exceeded: the request holds 3 spans"),
        "{status}"
    );
    let after = otlp_counters(&client, &addr);
    assert_eq!(received(&after, "http"), 0.0);
    assert_eq!(rejected(&after), 3.0);
    let refused =
        "skywatch_otlp_requests_total{signal=\"traces\",protocol=\"http\",outcome=\"too_large\"}";
    assert_eq!(after[refused], 1.0);
}
