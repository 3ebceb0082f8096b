//! The read-back half of issue 15's first acceptance criterion, in one process: spans
//! posted to OTLP/HTTP, as an SDK sends them, come back span for span and attribute for
//! attribute through Tempo's trace APIs (v1 and v2, protobuf and JSON), Tempo's search and
//! Jaeger's trace API.

use std::sync::Arc;

use api::ApiState;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp::proto::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use otlp::proto::resource::v1::Resource;
use otlp::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, TracesData, span};
use prost::Message as _;
use serde_json::Value as Json;
use tower::ServiceExt as _;

const TRACE: [u8; 16] = [0x5e, 0xed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// Three spans of two services, with attributes of every kind, an event, a link and an
/// error, as an OpenTelemetry SDK would send them.
fn request(t0: u64) -> ExportTraceServiceRequest {
    let span =
        |id: u8, parent: Option<u8>, name: &str, kind: span::SpanKind, from: u64, to: u64| Span {
            trace_id: TRACE.to_vec(),
            span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: parent
                .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
                .unwrap_or_default(),
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: t0 + from,
            end_time_unix_nano: t0 + to,
            ..Span::default()
        };
    let mut root = span(
        1,
        None,
        "POST /tasks",
        span::SpanKind::Server,
        0,
        120_000_000,
    );
    root.attributes = vec![
        kv("http.method", s("POST")),
        kv("http.status_code", any_value::Value::IntValue(201)),
        kv("task.cost", any_value::Value::DoubleValue(0.25)),
        kv("task.retried", any_value::Value::BoolValue(false)),
        kv(
            "task.tags",
            any_value::Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(s("wasm")),
                    },
                    AnyValue {
                        value: Some(s("gpu")),
                    },
                ],
            }),
        ),
    ];
    root.flags = 0x101;
    root.trace_state = "zs=1".into();
    let mut send = span(
        2,
        Some(1),
        "p2p.send",
        span::SpanKind::Client,
        5_000_000,
        100_000_000,
    );
    send.events = vec![span::Event {
        time_unix_nano: t0 + 6_000_000,
        name: "queued".into(),
        attributes: vec![kv("queue.depth", any_value::Value::IntValue(3))],
        dropped_attributes_count: 1,
    }];
    send.links = vec![span::Link {
        trace_id: vec![9; 16],
        span_id: vec![9; 8],
        attributes: vec![kv("link.why", s("retry of"))],
        ..span::Link::default()
    }];
    let mut receive = span(
        3,
        Some(2),
        "p2p.receive",
        span::SpanKind::Server,
        10_000_000,
        95_000_000,
    );
    receive.status = Some(Status {
        message: "peer gone".into(),
        code: 2,
    });
    let scope = Some(InstrumentationScope {
        name: "zerostate".into(),
        version: "1.4.2".into(),
        ..InstrumentationScope::default()
    });
    let resource = |service: &str| {
        Some(Resource {
            attributes: vec![
                kv("service.name", s(service)),
                kv("host.name", s("node-07")),
            ],
            ..Resource::default()
        })
    };
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                resource: resource("api"),
                scope_spans: vec![ScopeSpans {
                    scope: scope.clone(),
                    spans: vec![root, send],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
            ResourceSpans {
                resource: resource("p2p"),
                scope_spans: vec![ScopeSpans {
                    scope,
                    spans: vec![receive],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            },
        ],
    }
}

/// Every span with its resource and scope, ordered by span ID, for comparison.
fn flatten(
    resource_spans: &[ResourceSpans],
) -> Vec<(Option<Resource>, Option<InstrumentationScope>, Span)> {
    let mut out: Vec<_> = resource_spans
        .iter()
        .flat_map(|rs| {
            rs.scope_spans.iter().flat_map(move |ss| {
                ss.spans
                    .iter()
                    .map(move |s| (rs.resource.clone(), ss.scope.clone(), s.clone()))
            })
        })
        .collect();
    out.sort_by(|a, b| a.2.span_id.cmp(&b.2.span_id));
    out
}

async fn call(app: &Router, req: Request<Body>) -> (u16, Vec<u8>) {
    let response = app.clone().oneshot(req).await.expect("the router answers");
    let status = response.status().as_u16();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .expect("the body reads")
            .to_bytes()
            .to_vec(),
    )
}

async fn get(app: &Router, uri: &str, accept: &str) -> Vec<u8> {
    let (status, body) = call(
        app,
        Request::get(uri)
            .header("accept", accept)
            .body(Body::empty())
            .expect("a request"),
    )
    .await;
    assert_eq!(status, 200, "{uri}: {}", String::from_utf8_lossy(&body));
    body
}

/// Tempo's `TraceByIDResponse`, as Grafana decodes it.
#[derive(prost::Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
}

#[tokio::test]
async fn spans_posted_over_otlp_read_back_through_tempo_and_jaeger() {
    let store = Arc::new(spans::MemSpans::new());
    let mut state = ApiState::new(
        Arc::new(storage::MemStorage::new()),
        promql::engine::Engine::new(promql::engine::EngineOptions::default()),
    );
    state.spans = Some(store.clone());
    state.otlp = Some(Arc::new(otlp::Receiver::new(otlp::ReceiverOptions {
        spans: Some(store),
        ..otlp::ReceiverOptions::default()
    })));
    let app = api::router(state);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let sent = request(now - 60_000_000_000);
    let post = Request::post("/v1/traces")
        .header("content-type", "application/x-protobuf")
        .body(Body::from(sent.encode_to_vec()))
        .unwrap();
    assert_eq!(call(&app, post).await.0, 200);
    let want = flatten(&sent.resource_spans);
    let id = "5eed0102030405060708090a0b0c0d0e";

    let v1 = get(
        &app,
        &format!("/tempo/api/traces/{id}"),
        "application/protobuf",
    )
    .await;
    assert_eq!(
        flatten(&TracesData::decode(v1.as_slice()).unwrap().resource_spans),
        want,
        "v1 protobuf"
    );
    let v2 = get(
        &app,
        &format!("/tempo/api/v2/traces/{id}"),
        "application/protobuf",
    )
    .await;
    let v2 = TraceByIdResponse::decode(v2.as_slice())
        .unwrap()
        .trace
        .unwrap();
    assert_eq!(flatten(&v2.resource_spans), want, "v2 protobuf");

    let v1: Json =
        serde_json::from_slice(&get(&app, &format!("/tempo/api/traces/{id}"), "*/*").await)
            .unwrap();
    let as_request = serde_json::json!({"resourceSpans": v1["batches"]}).to_string();
    let read = otlp::json::read_traces(as_request.as_bytes()).unwrap();
    assert_eq!(flatten(&read.resource_spans), want, "v1 JSON");
    let v2: Json =
        serde_json::from_slice(&get(&app, &format!("/tempo/api/v2/traces/{id}"), "*/*").await)
            .unwrap();
    let read = otlp::json::read_traces(v2["trace"].to_string().as_bytes()).unwrap();
    assert_eq!(flatten(&read.resource_spans), want, "v2 JSON");

    let q: String =
        form_urlencoded::byte_serialize(br#"{ resource.service.name = "p2p" && status = error }"#)
            .collect();
    let search: Json =
        serde_json::from_slice(&get(&app, &format!("/tempo/api/search?q={q}"), "*/*").await)
            .unwrap();
    let found = &search["traces"][0];
    assert_eq!(
        (found["traceID"].as_str(), found["rootServiceName"].as_str()),
        (Some(id), Some("api"))
    );
    assert_eq!(
        found["spanSets"][0]["spans"][0]["spanID"],
        "0000000000000003"
    );

    let jaeger: Json =
        serde_json::from_slice(&get(&app, &format!("/jaeger/api/traces/{id}"), "*/*").await)
            .unwrap();
    let trace = &jaeger["data"][0];
    assert_eq!(trace["spans"].as_array().unwrap().len(), 3);
    let tags: Vec<(String, Json)> = trace["spans"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap().to_owned(), t["value"].clone()))
        .collect();
    for (key, value) in [
        ("http.method", serde_json::json!("POST")),
        ("http.status_code", serde_json::json!(201)),
        ("task.cost", serde_json::json!(0.25)),
        ("task.retried", serde_json::json!(false)),
        ("task.tags", serde_json::json!("[\"wasm\",\"gpu\"]")),
    ] {
        assert!(
            tags.contains(&(key.to_owned(), value.clone())),
            "{key}={value} in {tags:?}"
        );
    }
    assert_eq!(trace["spans"][1]["logs"][0]["fields"][1]["value"], 3);
    assert_eq!(
        trace["spans"][2]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["key"] == "error")
            .count(),
        1
    );
}
