//! Spans reach an OTLP/HTTP receiver as protobuf at `/v1/traces` when the endpoint is given
//! as a base URL, as collectors are usually addressed.
//!
//! This binary installs the process-wide subscriber with `init`, so it holds one test.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use skywatch_sdk::metrics::Registry;
use skywatch_sdk::trace::OtlpConfig;
use skywatch_sdk::{Config, LogWriter};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

type Received = Arc<Mutex<Vec<(String, ExportTraceServiceRequest)>>>;

async fn receive(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            received.lock().unwrap().push((content_type, request));
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_posted_as_protobuf_to_v1_traces() {
    let received = Received::default();
    let app = Router::new()
        .route("/v1/traces", axum::routing::post(receive))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let telemetry = skywatch_sdk::init(
        Config::new("otlp-http-test", "1.0.0")
            .registry(Registry::new())
            .otlp(OtlpConfig::http(endpoint))
            .log_writer(LogWriter::Custom(BoxMakeWriter::new(std::io::sink))),
    )
    .unwrap();
    tracing::info_span!("settle.payment", channel = "ch-1").in_scope(|| {
        tracing::info_span!("settle.sign").in_scope(|| tracing::info!("signed"));
    });
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();

    let received = received.lock().unwrap();
    assert!(!received.is_empty(), "nothing was posted to /v1/traces");
    assert_eq!(received[0].0, "application/x-protobuf");
    let spans: Vec<_> = received
        .iter()
        .flat_map(|(_, r)| r.resource_spans.iter())
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .collect();
    let parent = spans.iter().find(|s| s.name == "settle.payment").unwrap();
    let child = spans.iter().find(|s| s.name == "settle.sign").unwrap();
    assert_eq!(child.parent_span_id, parent.span_id);
    assert_eq!(child.trace_id, parent.trace_id);
    assert!(
        parent.parent_span_id.is_empty(),
        "a new trace has no parent"
    );
}
