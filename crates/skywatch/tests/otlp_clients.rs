//! Real OTLP clients against `skywatch up`: the OpenTelemetry Python SDK's gRPC and
//! HTTP/protobuf exporters (`tests/otlp/send.py`, from the virtual environment
//! `scripts/install-test-deps` makes) and the Rust SDK's exporters, each plain and
//! gzip-compressed. Every request must be accepted whole, and the server's
//! `skywatch_otlp_spans_received_total` must grow by exactly the spans sent, per transport;
//! each span the Python SDK sent reads back field for field and attribute for attribute
//! through Tempo's `/tempo/api/traces/{id}` and `/tempo/api/v2/traces/{id}`, with its name
//! and tags through Jaeger's `/jaeger/api/traces/{id}`, and Tempo's search finds each trace.
//! The Rust SDK's traces read back the same way. Received spans also become Tempo's span
//! metrics and service graph series.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::{python, start_skywatch_otlp};

/// The server's own metrics, as text.
fn metrics_text(client: &reqwest::blocking::Client, addr: &str) -> String {
    client
        .get(format!("http://{addr}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// POSTs OTLP/JSON `body` to the server's `/v1/traces`.
fn post_traces(
    client: &reqwest::blocking::Client,
    addr: &str,
    body: &serde_json::Value,
) -> reqwest::blocking::Response {
    client
        .post(format!("http://{addr}/v1/traces"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
}

/// The server's OTLP counters: `name{labels}` to value, for every `skywatch_otlp_` line.
fn otlp_counters(client: &reqwest::blocking::Client, addr: &str) -> BTreeMap<String, f64> {
    metrics_text(client, addr)
        .lines()
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
fn the_python_sdk_sends_over_grpc_and_http_and_every_span_reads_back() {
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

    // Each span reads back as sent, field for field and attribute for attribute, through
    // Tempo's trace APIs (v1 and v2), Tempo's search and Jaeger's trace API.
    let sent_spans: Vec<&serde_json::Value> = requests
        .iter()
        .flat_map(|r| r["spans"].as_array().unwrap())
        .collect();
    for sent in &sent_spans {
        let id = sent["traceId"].as_str().unwrap();
        let v1 = common::get_json(&client, &addr, &format!("/tempo/api/traces/{id}"));
        let v2 = common::get_json(&client, &addr, &format!("/tempo/api/v2/traces/{id}"));
        for (api, resource_spans) in [
            ("v1", &v1["batches"]),
            ("v2", &v2["trace"]["resourceSpans"]),
        ] {
            let read = flatten(resource_spans);
            let span_id = &sent["spanId"];
            let found = read
                .iter()
                .find(|s| s["spanId"] == *span_id)
                .unwrap_or_else(|| {
                    panic!("{api}: span {span_id} of trace {id} is missing: {read:?}")
                });
            assert_eq!(
                canonical(found),
                canonical(sent),
                "{api}: span {span_id} of trace {id} reads back otherwise"
            );
        }
        let jaeger = common::get_json(&client, &addr, &format!("/jaeger/api/traces/{id}"));
        let jspans = jaeger["data"][0]["spans"].as_array().unwrap();
        let jspan = jspans
            .iter()
            .find(|s| s["spanID"] == sent["spanId"])
            .unwrap_or_else(|| panic!("jaeger: span {} missing: {jaeger}", sent["spanId"]));
        assert_eq!(jspan["operationName"], sent["name"]);
        for attr in sent["attributes"].as_array().into_iter().flatten() {
            let key = attr["key"].as_str().unwrap();
            assert!(
                jspan["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["key"] == key),
                "jaeger: span {} lacks tag {key}: {jspan}",
                sent["spanId"]
            );
        }
    }
    // Tempo's search finds each client's trace by its service.
    for r in requests {
        let span = &r["spans"][0];
        let service = span["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == "service.name")
            .unwrap()["value"]["stringValue"]
            .as_str()
            .unwrap();
        let found = common::get_json(
            &client,
            &addr,
            &format!("/tempo/api/search?tags=service.name%3D{service}&start=0&end=4000000000"),
        );
        let ids: Vec<&str> = found["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceID"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [span["traceId"].as_str().unwrap()],
            "{service}: {found}"
        );
    }

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

/// The spans of OTLP/JSON resource spans, each with its resource and scope beside it, as
/// `send.py` prints what it sent.
fn flatten(resource_spans: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for rs in resource_spans.as_array().into_iter().flatten() {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for span in ss["spans"].as_array().into_iter().flatten() {
                let mut span = span.clone();
                span["resource"] = rs["resource"].clone();
                span["scope"] = ss["scope"].clone();
                out.push(span);
            }
        }
    }
    out
}

/// OTLP/JSON with what its encodings may write either way made one: fields at their zero
/// value left out (protobuf's JSON mapping omits them; others write them), 64-bit integers
/// as numbers (the mapping writes them as strings; readers take both).
fn canonical(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), canonical(v)))
                .filter(|(_, v)| {
                    !matches!(v, Value::Null)
                        && *v != 0
                        && *v != ""
                        && *v != Value::Object(Default::default())
                        && *v != Value::Array(Vec::new())
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::String(s) => match s.parse::<i64>() {
            Ok(n) if s.chars().all(|c| c.is_ascii_digit() || c == '-') => Value::from(n),
            _ => v.clone(),
        },
        _ => v.clone(),
    }
}

/// Sends three spans as `service` through the Rust SDK's exporter over `otlp` and flushes
/// them.
fn send_with_the_rust_sdk(service: &str, otlp: skywatch_sdk::trace::OtlpConfig) {
    let mut config = skywatch_sdk::Config::new(service, "1.0.0");
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

/// The value of attribute `key` among OTLP/JSON `attributes`.
fn attribute<'a>(attributes: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    attributes
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == key))
        .map_or(&serde_json::Value::Null, |kv| &kv["value"])
}

/// The Rust SDK's trace sent as `service` reads back whole: Tempo's search finds exactly
/// one trace; through Tempo's v1 and v2 trace APIs it holds the three spans, parent to
/// child, with their attributes typed as the SDK recorded them and the service's
/// resource; Jaeger's trace API names the same spans with the same tags.
fn the_rust_sdk_trace_reads_back(client: &reqwest::blocking::Client, addr: &str, service: &str) {
    let found = common::get_json(
        client,
        addr,
        &format!("/tempo/api/search?tags=service.name%3D{service}&start=0&end=4000000000"),
    );
    let traces = found["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "{service}: {found}");
    let id = traces[0]["traceID"].as_str().unwrap();
    assert_eq!(traces[0]["rootServiceName"], service, "{found}");
    assert_eq!(traces[0]["rootTraceName"], "handle request", "{found}");

    let v1 = common::get_json(client, addr, &format!("/tempo/api/traces/{id}"));
    let v2 = common::get_json(client, addr, &format!("/tempo/api/v2/traces/{id}"));
    for (api, resource_spans) in [
        ("v1", &v1["batches"]),
        ("v2", &v2["trace"]["resourceSpans"]),
    ] {
        let spans = flatten(resource_spans);
        assert_eq!(spans.len(), 3, "{api}: {resource_spans}");
        let named = |name: &str| {
            spans
                .iter()
                .find(|s| s["name"] == name)
                .unwrap_or_else(|| panic!("{api}: no span {name}: {spans:?}"))
        };
        let (root, send, lookup) = (
            named("handle request"),
            named("p2p send"),
            named("dht lookup"),
        );
        for span in [root, send, lookup] {
            assert_eq!(span["traceId"], id, "{api}: {span}");
            assert_eq!(
                attribute(&span["resource"]["attributes"], "service.name")["stringValue"],
                service,
                "{api}: {span}"
            );
            let (start, end) = (&span["startTimeUnixNano"], &span["endTimeUnixNano"]);
            let ns = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => s.parse::<u64>().unwrap(),
                v => v.as_u64().unwrap(),
            };
            assert!(ns(start) > 0 && ns(start) <= ns(end), "{api}: {span}");
        }
        assert!(
            root["parentSpanId"].as_str().unwrap_or_default().is_empty(),
            "{api}: {root}"
        );
        assert_eq!(send["parentSpanId"], root["spanId"], "{api}");
        assert_eq!(lookup["parentSpanId"], send["spanId"], "{api}");
        assert_eq!(
            attribute(&root["attributes"], "http.method")["stringValue"],
            "POST"
        );
        let retries = &attribute(&root["attributes"], "retries")["intValue"];
        assert!(*retries == "2" || *retries == 2, "{api}: {root}");
        assert_eq!(
            attribute(&send["attributes"], "peer")["stringValue"],
            "node-07"
        );
        assert_eq!(attribute(&lookup["attributes"], "ok")["boolValue"], true);
    }

    let jaeger = common::get_json(client, addr, &format!("/jaeger/api/traces/{id}"));
    let jspans = jaeger["data"][0]["spans"].as_array().unwrap();
    let mut names: Vec<&str> = jspans
        .iter()
        .map(|s| s["operationName"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["dht lookup", "handle request", "p2p send"],
        "{jaeger}"
    );
    let root = jspans
        .iter()
        .find(|s| s["operationName"] == "handle request")
        .unwrap();
    let tag = |key: &str| {
        root["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .unwrap_or_else(|| panic!("jaeger: no tag {key}: {root}"))["value"]
            .clone()
    };
    assert_eq!(tag("http.method"), "POST");
    assert_eq!(tag("retries"), 2);
}

#[test]
fn the_rust_sdk_sends_over_grpc_and_http_and_every_span_reads_back() {
    use skywatch_sdk::trace::OtlpConfig;
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, grpc, _log) = start_skywatch_otlp(dir.path(), &[]);
    let client = reqwest::blocking::Client::new();

    let mut http = OtlpConfig::http(format!("http://{addr}"));
    http.gzip = true;
    send_with_the_rust_sdk("rust-sdk-http", http);
    // The gRPC exporter needs a tokio runtime to drive its connection.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut otlp = OtlpConfig::grpc(format!("http://{grpc}"));
    otlp.gzip = true;
    runtime.block_on(async {
        tokio::task::spawn_blocking(move || send_with_the_rust_sdk("rust-sdk-grpc", otlp))
            .await
            .unwrap();
    });

    let after = otlp_counters(&client, &addr);
    assert_eq!(received(&after, "http"), 3.0, "{after:?}");
    assert_eq!(received(&after, "grpc"), 3.0, "{after:?}");
    assert_eq!(rejected(&after), 0.0);
    the_rust_sdk_trace_reads_back(&client, &addr, "rust-sdk-http");
    the_rust_sdk_trace_reads_back(&client, &addr, "rust-sdk-grpc");
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
    let response = post_traces(&client, &addr, &body);
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

#[test]
fn received_spans_become_tempo_span_metrics_and_service_graph_edges() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spanmetrics.yml");
    std::fs::write(&config, "registry:\n  collection_interval: 1s\n").unwrap();
    let (_server, addr, _grpc, _log) = start_skywatch_otlp(
        &dir.path().join("data"),
        &["--spanmetrics-config".as_ref(), config.as_os_str()],
    );
    let client = reqwest::blocking::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    // The API's client span and, in a separate request, the store's server span under it.
    let batch = |service: &str, span: serde_json::Value| {
        serde_json::json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"spans": [span]}]
        }]})
    };
    let client_span = serde_json::json!({
        "traceId": trace, "spanId": "0000000000000001", "name": "GET /items", "kind": 3,
        "startTimeUnixNano": (now - 30_000_000).to_string(), "endTimeUnixNano": now.to_string(),
    });
    let server_span = serde_json::json!({
        "traceId": trace, "spanId": "0000000000000002", "parentSpanId": "0000000000000001",
        "name": "GET /items", "kind": 2, "status": {"code": 2},
        "startTimeUnixNano": (now - 25_000_000).to_string(), "endTimeUnixNano": (now - 5_000_000).to_string(),
    });
    for body in [batch("api", client_span), batch("store", server_span)] {
        assert_eq!(post_traces(&client, &addr, &body).status().as_u16(), 200);
    }

    let query = |q: &str| {
        let path = format!(
            "/api/v1/query?query={}",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        );
        common::get_json(&client, &addr, &path)["data"]["result"].clone()
    };
    let edge = r#"traces_service_graph_request_total{client="api",server="store"}"#;
    common::within(Duration::from_secs(30), "the service graph edge", || {
        query(edge).as_array().is_some_and(|r| r.len() == 1)
    });
    assert_eq!(query(edge)[0]["value"][1], "1");
    let failed = r#"traces_service_graph_request_failed_total{client="api",server="store"}"#;
    assert_eq!(query(failed)[0]["value"][1], "1");
    let calls = query(r#"traces_spanmetrics_calls_total{service="store"}"#);
    assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
    let labels = &calls[0]["metric"];
    assert_eq!(labels["span_name"], "GET /items");
    assert_eq!(labels["span_kind"], "SPAN_KIND_SERVER");
    assert_eq!(labels["status_code"], "STATUS_CODE_ERROR");
    assert_eq!(calls[0]["value"][1], "1");
    // The generator's own figures are on /metrics under Tempo's names.
    let metrics = metrics_text(&client, &addr);
    assert!(
        metrics.lines().any(
            |l| l.starts_with("tempo_metrics_generator_spans_received_total") && l.ends_with(" 2")
        ),
        "{metrics}"
    );
}

#[test]
fn a_bad_span_metrics_file_stops_the_start_naming_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spanmetrics.yml");
    std::fs::write(&config, "processors: [span-metrics, flame-graphs]\n").unwrap();
    let text = refused_start(
        &dir.path().join("data"),
        &["--spanmetrics-config".as_ref(), config.as_os_str()],
    );
    assert!(text.contains("spanmetrics.yml"), "{text}");
    assert!(text.contains("flame-graphs"), "{text}");
}

#[test]
fn a_stopped_server_leaves_its_spans_in_blocks_and_reads_them_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let trace = "5bf92f3577b34da6a3ce929d0e0e4736";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let spans: Vec<serde_json::Value> = (1..=3)
        .map(|i| {
            serde_json::json!({
                "traceId": trace, "spanId": format!("{i:016x}"), "name": format!("step {i}"),
                // Spans of now: retention keeps them.
                "startTimeUnixNano": now.to_string(), "endTimeUnixNano": (now + i).to_string(),
            })
        })
        .collect();
    let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]});
    {
        let (server, addr, _grpc, _log) = start_skywatch_otlp(dir.path(), &[]);
        let client = reqwest::blocking::Client::new();
        assert_eq!(post_traces(&client, &addr, &body).status().as_u16(), 200);
        // SIGTERM, as a service manager stops it; dropping `server` waits for the exit.
        drop(server);
    }
    let traces = dir.path().join("traces");
    let blocks: Vec<_> = std::fs::read_dir(&traces)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").exists())
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "the head was not cut into a block at the stop"
    );
    let wal: u64 = std::fs::read_dir(traces.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(wal, 0, "the WAL still holds what the block holds");

    let (_server, addr, _grpc, _log) = start_skywatch_otlp(dir.path(), &[]);
    let client = reqwest::blocking::Client::new();
    let read = common::get_json(&client, &addr, &format!("/tempo/api/traces/{trace}"));
    let mut names: Vec<String> = flatten(&read["batches"])
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["step 1", "step 2", "step 3"], "{read}");
}

#[test]
fn the_span_store_takes_its_settings_as_flags_and_refuses_a_size_without_a_unit() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, _grpc, _log) = start_skywatch_otlp(
        dir.path(),
        &[
            "--traces-retention-time".as_ref(),
            "3d".as_ref(),
            "--traces-retention-size".as_ref(),
            "2GB".as_ref(),
        ],
    );
    let client = reqwest::blocking::Client::new();
    let flags = common::get_json(&client, &addr, "/api/v1/status/flags");
    assert_eq!(flags["data"]["traces-retention-time"], "3days", "{flags}");
    assert_eq!(
        flags["data"]["traces-retention-size"], "2147483648B",
        "{flags}"
    );

    let text = refused_start(
        &dir.path().join("other"),
        &["--traces-retention-size".as_ref(), "2000".as_ref()],
    );
    assert!(text.contains("--traces-retention-size"), "{text}");
    assert!(text.contains("such as 512MB or 20GB"), "{text}");
}

/// What `skywatch up` with `args` printed as it refused to start.
fn refused_start(data: &std::path::Path, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skywatch"))
        .args([
            "up",
            "--listen",
            "127.0.0.1:0",
            "--otlp-grpc-listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "it started");
    common::output_text(&out)
}
