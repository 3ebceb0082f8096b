//! Spans reach a real OTLP/gRPC receiver (opentelemetry-proto's tonic service, in process)
//! with the service's resource and the right parent/child links, and the JSON log lines of
//! the same request carry the same trace and span ids.
//!
//! This binary installs the process-wide subscriber with `init`, so it holds one test.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use skywatch_sdk::log::MemoryWriter;
use skywatch_sdk::metrics::Registry;
use skywatch_sdk::trace::OtlpConfig;
use skywatch_sdk::{Config, LogWriter};
use tower::ServiceExt as _;
use tracing::Instrument as _;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Records every export request it receives.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

async fn handler() -> &'static str {
    tracing::info!("accepted");
    async {
        tracing::info!(step = "wasm", "executing");
    }
    .instrument(tracing::info_span!("task.execute"))
    .await;
    "done"
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(
    attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.clone()),
            AnyValue::IntValue(i) => Some(i.to_string()),
            other => Some(format!("{other:?}")),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_receiver_linked_and_logs_carry_their_ids() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let logs = MemoryWriter::new();
    let telemetry = skywatch_sdk::init(
        Config::new("otlp-test", "9.9.9")
            .environment("ci")
            .node_id("node-7")
            .registry(Registry::new())
            .log_filter("info")
            .otlp(OtlpConfig::grpc(endpoint))
            .log_writer(LogWriter::Custom(BoxMakeWriter::new(logs.clone()))),
    )
    .unwrap();

    let app = Router::new()
        .route("/tasks/{id}", axum::routing::get(handler))
        .layer(telemetry.trace_layer());
    let request = Request::get("/tasks/42")
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);

    // A second init is refused with a reason, and the first keeps working.
    let again = skywatch_sdk::init(Config::new("again", "1").registry(Registry::new()));
    assert!(
        matches!(again, Err(skywatch_sdk::InitError::AlreadyInitialized)),
        "{again:?}"
    );

    // Shutting down flushes the batch; it blocks, so keep it off the async workers.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();

    let exports = receiver.0.lock().unwrap().clone();
    let resource_spans: Vec<_> = exports
        .iter()
        .flat_map(|e| e.resource_spans.iter())
        .collect();
    assert!(!resource_spans.is_empty(), "no span reached the receiver");
    let resource = resource_spans[0].resource.as_ref().unwrap();
    for (key, want) in [
        ("service.name", "otlp-test"),
        ("service.version", "9.9.9"),
        ("deployment.environment.name", "ci"),
        ("service.instance.id", "node-7"),
    ] {
        assert_eq!(
            attribute(&resource.attributes, key).as_deref(),
            Some(want),
            "{key}"
        );
    }
    let spans: Vec<&Span> = resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .collect();
    let named = |name: &str| {
        *spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name} among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let server = named("GET /tasks/{id}");
    let child = named("task.execute");

    // The server span continues the caller's trace, the child hangs under the server span.
    assert_eq!(hex(&server.trace_id), CALLER_TRACE);
    assert_eq!(hex(&server.parent_span_id), CALLER_SPAN);
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(
        attribute(&server.attributes, "http.route").as_deref(),
        Some("/tasks/{id}")
    );
    assert_eq!(
        attribute(&server.attributes, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(hex(&child.trace_id), CALLER_TRACE);
    assert_eq!(child.parent_span_id, server.span_id);

    let lines = logs.json_lines().unwrap();
    let logged = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no log line {message:?} in\n{}", logs.contents()))
    };
    let accepted = logged("accepted");
    assert_eq!(accepted["trace_id"], CALLER_TRACE);
    assert_eq!(accepted["span_id"], hex(&server.span_id));
    assert_eq!(accepted["service"], "otlp-test");
    assert_eq!(accepted["node_id"], "node-7");
    let executing = logged("executing");
    assert_eq!(executing["trace_id"], CALLER_TRACE);
    assert_eq!(executing["span_id"], hex(&child.span_id));
    assert_eq!(executing["span"], "task.execute");
    assert_eq!(executing["step"], "wasm");
}
