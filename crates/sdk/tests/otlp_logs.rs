//! `tracing` events leave the node as OTLP log records: in memory, each record carries the
//! trace and span ids of the span it was written in, its level as severity and its fields
//! as attributes; over HTTP, `init` posts them as protobuf to `/v1/logs` under the node's
//! resource, and the JSON lines go on as before.
//!
//! Every test installs its dispatcher for its own scope only (`with_default`), so the
//! tests of this binary can run in parallel.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message as _;
use skywatch_sdk::log::{LogPipeline, MemoryWriter, Severity};
use skywatch_sdk::metrics::Registry;
use skywatch_sdk::opentelemetry::trace::TracerProvider as _;
use skywatch_sdk::opentelemetry_sdk::Resource;
use skywatch_sdk::opentelemetry_sdk::trace::SdkTracerProvider;
use skywatch_sdk::trace::{BatchOptions, OtlpConfig};
use skywatch_sdk::{Config, LogWriter};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn records_carry_the_active_span_ids_the_level_and_the_fields() {
    let (pipeline, memory) = LogPipeline::memory(BatchOptions::default());
    let resource = Resource::builder_empty()
        .with_service_name("execution")
        .build();
    let tracer = SdkTracerProvider::builder().build().tracer("test");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(skywatch_sdk::log::bridge(&pipeline.provider(resource)));
    let mut ids = (String::new(), String::new());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside any span");
        let span = tracing::info_span!("task.execute", task_id = "task-1");
        span.in_scope(|| {
            use tracing_opentelemetry::OpenTelemetrySpanExt as _;
            let cx = tracing::Span::current().context();
            use skywatch_sdk::opentelemetry::trace::TraceContextExt as _;
            let sc = cx.span().span_context().clone();
            ids = (sc.trace_id().to_string(), sc.span_id().to_string());
            tracing::info!(task_id = "task-1", duration_ms = 1523u64, "task executed");
            tracing::warn!(
                component = "execution",
                "resource warning: WASM memory high"
            );
            tracing::error!(component = "execution", error = "wasm trap", "task failed");
        });
    });
    pipeline.flush().unwrap();
    let records = memory.records();
    assert_eq!(records.len(), 4, "{records:#?}");
    assert_eq!(records[0].trace_id(), None, "no span, no trace id");
    for r in &records[1..] {
        assert_eq!(r.trace_id().as_deref(), Some(ids.0.as_str()), "{r:?}");
        assert_eq!(r.span_id().as_deref(), Some(ids.1.as_str()), "{r:?}");
        assert_eq!(r.service(), "execution");
    }
    let severities: Vec<_> = records.iter().map(|r| r.severity()).collect();
    assert_eq!(
        severities,
        [
            Some(Severity::Info),
            Some(Severity::Info),
            Some(Severity::Warn),
            Some(Severity::Error)
        ]
    );
    assert_eq!(records[1].body().as_deref(), Some("task executed"));
    assert_eq!(records[1].attribute("task_id").as_deref(), Some("task-1"));
    assert_eq!(records[1].attribute("duration_ms").as_deref(), Some("1523"));
    assert_eq!(records[3].attribute("error").as_deref(), Some("wasm trap"));
    assert_eq!(
        records[2].attribute("component").as_deref(),
        Some("execution")
    );
}

type Received = Arc<Mutex<Vec<ExportLogsServiceRequest>>>;

async fn receive(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-protobuf") {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    let body = if headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        == Some("gzip")
    {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain)
            .unwrap();
        Bytes::from(plain)
    } else {
        body
    };
    match ExportLogsServiceRequest::decode(body) {
        Ok(request) => {
            received.lock().unwrap().push(request);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

fn string(kv: &[KeyValue], key: &str) -> Option<String> {
    kv.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.clone()),
            Some(Value::IntValue(i)) => Some(i.to_string()),
            _ => None,
        })
}

fn body(v: &Option<AnyValue>) -> Option<String> {
    match v.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_posts_records_as_protobuf_to_v1_logs_under_the_node_resource() {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/logs", axum::routing::post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let lines = MemoryWriter::new();
    let (telemetry, dispatch) = skywatch_sdk::build(
        Config::new("execution", "1.2.3")
            .node_id("node-3")
            .registry(Registry::new())
            .log_filter("info")
            .otlp_logs(OtlpConfig::http(endpoint))
            .log_writer(LogWriter::Custom(BoxMakeWriter::new(lines.clone()))),
    )
    .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("task.execute").in_scope(|| {
            tracing::warn!(
                component = "execution",
                peers = 2,
                "peers below the minimum"
            );
        });
        tracing::debug!("filtered out, as from the JSON lines");
    });
    let stats = tokio::task::spawn_blocking(move || {
        let stats = telemetry.log_export_stats();
        telemetry.shutdown().map(|()| stats)
    })
    .await
    .unwrap()
    .unwrap();
    assert!(stats.is_some());

    let json = lines.json_lines().unwrap();
    assert_eq!(json.len(), 1, "{json:?}");
    let received = received.lock().unwrap();
    let mut records = Vec::new();
    for request in received.iter() {
        for rl in &request.resource_logs {
            let resource = &rl.resource.as_ref().unwrap().attributes;
            for sl in &rl.scope_logs {
                for record in &sl.log_records {
                    records.push((resource.clone(), record.clone()));
                }
            }
        }
    }
    assert_eq!(records.len(), 1, "{records:#?}");
    let (resource, record) = &records[0];
    assert_eq!(
        string(resource, "service.name").as_deref(),
        Some("execution")
    );
    assert_eq!(
        string(resource, "service.instance.id").as_deref(),
        Some("node-3")
    );
    assert_eq!(
        body(&record.body).as_deref(),
        Some("peers below the minimum")
    );
    assert_eq!(record.severity_number, Severity::Warn as i32);
    assert_eq!(record.severity_text, "WARN");
    assert_eq!(
        string(&record.attributes, "component").as_deref(),
        Some("execution")
    );
    assert_eq!(string(&record.attributes, "peers").as_deref(), Some("2"));
    assert!(record.time_unix_nano > 0, "the record has its time");
    // The same ids as the JSON line of the same event.
    assert_eq!(hex(&record.trace_id), json[0]["trace_id"].as_str().unwrap());
    assert_eq!(hex(&record.span_id), json[0]["span_id"].as_str().unwrap());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_collector_that_is_down_fails_the_export_not_the_logging_code() {
    // A port that was free a moment ago: connections to it are refused.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let (telemetry, dispatch) = skywatch_sdk::build(
        Config::new("execution", "1.2.3")
            .registry(Registry::new())
            .log_filter("info")
            .otlp_logs(OtlpConfig::http(endpoint))
            .log_writer(LogWriter::Custom(BoxMakeWriter::new(std::io::sink))),
    )
    .unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..10 {
            tracing::info!(i, "line");
        }
    });
    let stats = telemetry.log_export_stats().unwrap();
    assert_eq!(stats.dropped, 0, "a queue of 2048 holds 10: {stats:?}");
    let error = telemetry.shutdown().unwrap_err();
    assert!(error.contains("exporting 10 log records failed"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_several_resources_is_one_request() {
    use skywatch_sdk::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
    let received = Received::default();
    let app = Router::new()
        .route("/v1/logs", axum::routing::post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut otlp = OtlpConfig::http(endpoint);
    otlp.gzip = true;
    let pipeline = LogPipeline::otlp(&otlp, BatchOptions::default()).unwrap();
    let sending = pipeline.clone();
    // The exporter's blocking client must not be called from the async workers.
    tokio::task::spawn_blocking(move || {
        for node in ["node-01", "node-02", "node-03"] {
            let resource = Resource::builder_empty()
                .with_service_name("zerostate-p2p")
                .with_attribute(skywatch_sdk::opentelemetry::KeyValue::new(
                    "service.instance.id",
                    node,
                ))
                .build();
            let logger = sending.provider(resource).logger("test");
            let mut record = logger.create_log_record();
            record.set_body(format!("hello from {node}").into());
            logger.emit(record);
        }
        sending.flush().unwrap();
    })
    .await
    .unwrap();
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 1, "one request for the batch");
    let nodes: Vec<String> = received[0]
        .resource_logs
        .iter()
        .map(|rl| {
            string(
                &rl.resource.as_ref().unwrap().attributes,
                "service.instance.id",
            )
            .unwrap()
        })
        .collect();
    assert_eq!(nodes, ["node-01", "node-02", "node-03"]);
    assert_eq!(pipeline.stats().exported, 3);
}
