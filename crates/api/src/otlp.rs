//! OTLP/HTTP: `POST /v1/traces`, `/v1/metrics` and `/v1/logs`, as the OTLP specification
//! has them, over the server's [`otlp::Receiver`].
//!
//! Bodies are `application/x-protobuf` or `application/json`, optionally gzip- (or
//! deflate-) compressed; the answer is in the request's encoding. `200` with the signal's
//! `Export*ServiceResponse` (its `partial_success` set when some items were refused, or
//! cut to a limit); on failure a `google.rpc.Status`: `400` for a body that does not decode
//! (the message names the protobuf field or JSON path), `413` over a limit (named, with its
//! value), `415` for another content type or encoding, `501` for a signal the server does
//! not store, `429` over the sender's ingestion rate and `503` when the store cannot take
//! data now (the two worth a retry). The rate is per tenant (`X-Scope-OrgID`, else the
//! client's address), as [`crate::limits`] keeps it.
//! The decoding and the limits are the receiver's: this module only reads the body within
//! `max_request_body_bytes` and writes the answer.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt as _;
use otlp::{Encoding, ExportError, Protocol, Receiver, Signal};

use crate::ApiState;
use crate::limits::Limiter;

/// The OTLP/HTTP routes; none when the server has no receiver.
pub fn router(state: ApiState) -> Router {
    let Some(receiver) = state.otlp else {
        return Router::new();
    };
    let route = |signal: Signal| {
        post(
            move |State(s): State<Served>, request: axum::extract::Request| {
                let (parts, body) = request.into_parts();
                let tenant = tenant(&parts);
                receive(s, signal, tenant, parts.headers, body)
            },
        )
    };
    Router::new()
        .route("/v1/traces", route(Signal::Traces))
        .route("/v1/metrics", route(Signal::Metrics))
        .route("/v1/logs", route(Signal::Logs))
        // The receiver's own limit applies, with OTLP's answer, not axum's 2 MB default.
        .layer(DefaultBodyLimit::disable())
        .with_state(Served {
            receiver,
            limits: state.limits,
        })
}

/// What the routes serve from.
#[derive(Clone)]
struct Served {
    receiver: Arc<Receiver>,
    limits: Arc<Limiter>,
}

/// Whose ingestion rate a request counts against: its `X-Scope-OrgID`, as Tempo's and
/// Loki's tenants, else the client's address (without its port).
pub(crate) fn tenant(parts: &axum::http::request::Parts) -> String {
    if let Some(id) = parts
        .headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        return id.to_owned();
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

fn failure(error: &ExportError, encoding: Encoding) -> Response {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        otlp::body::failure_body(error, encoding),
    )
        .into_response()
}

async fn receive(
    served: Served,
    signal: Signal,
    tenant: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Served { receiver, limits } = served;
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = text(header::CONTENT_TYPE);
    let content_encoding = text(header::CONTENT_ENCODING);
    let limit = receiver.limits().max_request_body_bytes;
    let bytes = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let error = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ExportError::TooLarge {
                    limit: "max_request_body_bytes",
                    value: limit as u64,
                    message: "the request body is larger; send smaller batches (the exporter's batch size) or raise the limit".into(),
                }
            } else {
                ExportError::BadData {
                    message: format!("the request body could not be read: {e}"),
                }
            };
            receiver.count_refused(signal, Protocol::Http, &error);
            let encoding =
                Encoding::from_content_type(content_type.as_deref()).unwrap_or(Encoding::Json);
            return failure(&error, encoding);
        }
    };
    // The rate counts the body as sent (compressed, if it is), before any work on it.
    if let Err(error) = limits.admit_otlp(&tenant, bytes.len()) {
        receiver.count_refused(signal, Protocol::Http, &error);
        let encoding =
            Encoding::from_content_type(content_type.as_deref()).unwrap_or(Encoding::Json);
        return failure(&error, encoding);
    }
    // Decoding and the store's append (a write-ahead log's sync) are blocking work.
    let r = receiver.clone();
    let done = tokio::task::spawn_blocking(move || {
        r.receive_http(
            signal,
            &bytes,
            content_type.as_deref(),
            content_encoding.as_deref(),
        )
    })
    .await;
    match done {
        Ok((encoding, Ok(accepted))) => (
            [(header::CONTENT_TYPE, encoding.content_type())],
            otlp::body::success_body(signal, &accepted, encoding),
        )
            .into_response(),
        Ok((encoding, Err(e))) => failure(&e, encoding),
        Err(e) => failure(
            &ExportError::Internal(format!("the export failed: {e}")),
            Encoding::Json,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    use axum::http::Request;
    use otlp::proto::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use otlp::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use otlp::{Limits, ReceiverOptions};
    use prost::Message as _;
    use serde_json::{Value, json};
    use spans::{MemSpans, SpanStore, TraceId, Window};
    use storage::MemStorage;
    use tower::ServiceExt as _;

    struct Fixture {
        app: Router,
        spans: Arc<MemSpans>,
        metrics: Arc<MemStorage>,
    }

    fn fixture(limits: Limits) -> Fixture {
        fixture_with(limits, crate::limits::Limits::default())
    }

    fn fixture_with(limits: Limits, api: crate::limits::Limits) -> Fixture {
        let spans = Arc::new(MemSpans::new());
        let metrics = Arc::new(MemStorage::new());
        let mut state = ApiState::new(
            metrics.clone(),
            promql::engine::Engine::new(promql::engine::EngineOptions::default()),
        );
        state.limits = Arc::new(Limiter::new(api));
        state.otlp = Some(Arc::new(Receiver::new(ReceiverOptions {
            spans: Some(spans.clone()),
            metrics: Some(metrics.clone()),
            logs: None,
            limits,
            admit: None,
        })));
        Fixture {
            app: router(state),
            spans,
            metrics,
        }
    }

    /// Posts `body` to `path` with the given headers; returns the status, content type and
    /// body.
    async fn post(
        app: &Router,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, String, Vec<u8>) {
        let mut req = Request::post(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, ct, body)
    }

    const PROTOBUF: (&str, &str) = ("content-type", "application/x-protobuf");
    const JSON: (&str, &str) = ("content-type", "application/json");

    fn request(trace: u8, n: u8) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: (1..=n)
                        .map(|i| Span {
                            trace_id: vec![trace; 16],
                            span_id: vec![i; 8],
                            name: format!("span {i}"),
                            ..Span::default()
                        })
                        .collect(),
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    fn stored(f: &Fixture, trace: u8) -> usize {
        f.spans
            .trace(&TraceId([trace; 16]), Window::ALL)
            .unwrap()
            .len()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[tokio::test]
    async fn protobuf_spans_are_kept_and_answered_in_protobuf() {
        let f = fixture(Limits::default());
        let (status, ct, body) = post(
            &f.app,
            "/v1/traces",
            &[PROTOBUF],
            request(1, 3).encode_to_vec(),
        )
        .await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::OK, "application/x-protobuf")
        );
        let answer = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
        assert_eq!(answer.partial_success, None, "full success leaves it unset");
        assert_eq!(stored(&f, 1), 3);

        // Gzip-compressed, and an empty request is a success too.
        let gz = gzip(&request(2, 2).encode_to_vec());
        let (status, _, _) = post(
            &f.app,
            "/v1/traces",
            &[PROTOBUF, ("content-encoding", "gzip")],
            gz,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(stored(&f, 2), 2);
        let (status, _, _) = post(&f.app, "/v1/traces", &[PROTOBUF], Vec::new()).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn json_spans_with_an_invalid_id_get_a_partial_success_in_json() {
        let f = fixture(Limits::default());
        let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "0102030405060708", "name": "ok"},
            {"traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "not hex", "name": "bad"}
        ]}]}]});
        let (status, ct, body) =
            post(&f.app, "/v1/traces", &[JSON], body.to_string().into_bytes()).await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/json"));
        let answer: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["partialSuccess"]["rejectedSpans"], "1");
        assert_eq!(
            answer["partialSuccess"]["errorMessage"],
            "rejected 1 of 2 spans: resource_spans[0].scope_spans[0].spans[1]: its span ID is not hex; give 16 hex digits"
        );
        let id: TraceId = "0102030405060708090a0b0c0d0e0f10".parse().unwrap();
        assert_eq!(f.spans.trace(&id, Window::ALL).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bad_bodies_get_400_with_a_status_naming_where() {
        let f = fixture(Limits::default());
        let (status, ct, body) =
            post(&f.app, "/v1/traces", &[PROTOBUF], vec![0x0a, 0x05, 0x12]).await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::BAD_REQUEST, "application/x-protobuf")
        );
        let rpc = otlp::body::RpcStatus::decode(body.as_slice()).unwrap();
        assert_eq!(rpc.code, 3);
        assert!(
            rpc.message
                .contains("ExportTraceServiceRequest.resource_spans"),
            "{rpc:?}"
        );

        let (status, _, body) = post(
            &f.app,
            "/v1/traces",
            &[JSON],
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#
                .to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let rpc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            rpc,
            json!({"code": 3, "message": "the OTLP/JSON body is invalid at resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an unsigned integer (a number or a decimal string), found \"soon\""})
        );
    }

    #[tokio::test]
    async fn limits_unknown_types_and_unstored_signals_get_their_codes() {
        let f = fixture(Limits {
            max_request_body_bytes: 200,
            max_spans_per_request: 2,
            ..Limits::default()
        });
        // On the wire, and once decompressed.
        let big = vec![0_u8; 201];
        let (status, _, body) = post(&f.app, "/v1/traces", &[PROTOBUF], big.clone()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let rpc = otlp::body::RpcStatus::decode(body.as_slice()).unwrap();
        assert!(
            rpc.message
                .starts_with("max_request_body_bytes (200) exceeded"),
            "{rpc:?}"
        );
        let (status, _, _) = post(
            &f.app,
            "/v1/traces",
            &[PROTOBUF, ("content-encoding", "gzip")],
            gzip(&vec![0_u8; 1000]),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _, body) = post(
            &f.app,
            "/v1/traces",
            &[PROTOBUF],
            request(3, 3).encode_to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            otlp::body::RpcStatus::decode(body.as_slice())
                .unwrap()
                .message
                .starts_with("max_spans_per_request (2) exceeded: the request holds 3 spans")
        );
        assert_eq!(stored(&f, 3), 0, "nothing of a refused request is kept");

        let (status, ct, body) = post(
            &f.app,
            "/v1/traces",
            &[("content-type", "text/plain")],
            b"x".to_vec(),
        )
        .await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "application/json")
        );
        let rpc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            rpc["message"],
            "Content-Type \"text/plain\" is not an OTLP encoding; send application/x-protobuf or application/json"
        );

        let (status, _, body) = post(&f.app, "/v1/logs", &[JSON], b"{}".to_vec()).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
        let rpc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(rpc["code"], 12);
        assert!(
            rpc["message"]
                .as_str()
                .unwrap()
                .starts_with("logs are not stored yet")
        );
    }

    #[tokio::test]
    async fn a_tenant_over_its_rate_gets_429_naming_the_limit_and_others_are_served() {
        let body = request(1, 1).encode_to_vec();
        let f = fixture_with(
            Limits::default(),
            crate::limits::Limits {
                // A second's worth is less than one request: a tenant's burst takes three.
                otlp_ingestion_rate_bytes: 1.0,
                otlp_ingestion_burst_bytes: (3 * body.len()) as f64,
                ..Default::default()
            },
        );
        let tenant = ("x-scope-orgid", "noisy");
        for _ in 0..3 {
            let (status, _, _) =
                post(&f.app, "/v1/traces", &[PROTOBUF, tenant], body.clone()).await;
            assert_eq!(status, StatusCode::OK);
        }
        let (status, ct, answer) = post(&f.app, "/v1/traces", &[JSON, tenant], body.clone()).await;
        assert_eq!(
            (status, ct.as_str()),
            (StatusCode::TOO_MANY_REQUESTS, "application/json")
        );
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains("tenant \"noisy\"") && message.contains("--otlp-ingestion-rate-mb"),
            "{message}"
        );
        assert_eq!(answer["code"], 8);
        // Another tenant, and a client without one (counted by its address), are served.
        let (status, _, _) = post(
            &f.app,
            "/v1/traces",
            &[PROTOBUF, ("x-scope-orgid", "calm")],
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = post(&f.app, "/v1/traces", &[PROTOBUF], body).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_become_samples() {
        use storage::{Queryable, SelectHints};
        let f = fixture(Limits::default());
        let body = json!({"resourceMetrics": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
            "scopeMetrics": [{"metrics": [{"name": "http.requests", "unit": "{request}", "sum": {
                "dataPoints": [{"asInt": "7", "timeUnixNano": "1700000000000000000", "attributes": [{"key": "http.route", "value": {"stringValue": "/x"}}]}],
                "aggregationTemporality": 2, "isMonotonic": true
            }}]}]
        }]});
        let (status, _, body) = post(
            &f.app,
            "/v1/metrics",
            &[JSON],
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        assert_eq!(body, b"{}");
        let q = f.metrics.querier(0, i64::MAX).unwrap();
        let mut set = q
            .select(
                &SelectHints::default(),
                &[model::Matcher::equal("__name__", "http_requests_total")],
            )
            .unwrap();
        let series = set.next().unwrap().unwrap();
        assert_eq!(
            series.labels.to_string(),
            r#"http_requests_total{http_route="/x",job="api"}"#
        );
    }
}
