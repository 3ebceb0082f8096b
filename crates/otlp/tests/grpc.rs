//! OTLP/gRPC end to end: the generated tonic clients against `otlp::grpc::serve` on a
//! loopback port, for partial success, gzip, the size limit and a signal with nowhere to go.

use std::sync::Arc;

use otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
use otlp::proto::collector::logs::v1::logs_service_client::LogsServiceClient;
use otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use otlp::proto::collector::trace::v1::trace_service_client::TraceServiceClient;
use otlp::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use otlp::{Limits, Protocol, Receiver, ReceiverOptions, Signal};
use spans::{MemSpans, SpanStore, TraceId, Window};
use tonic::codec::CompressionEncoding;

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn span(trace: u8, id: u8, name: &str) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: name.into(),
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 2_000,
        ..Span::default()
    }
}

/// Starts the services on a free loopback port; returns its URL.
async fn start(receiver: Arc<Receiver>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(otlp::grpc::serve(listener, receiver, async {
        let _ = stopped.await;
    }));
    (url, stop)
}

#[tokio::test]
async fn spans_arrive_with_partial_success_gzip_and_limits_by_name() {
    let store = Arc::new(MemSpans::new());
    let receiver = Arc::new(Receiver::new(ReceiverOptions {
        spans: Some(store.clone()),
        limits: Limits {
            max_request_body_bytes: 4096,
            ..Limits::default()
        },
        ..ReceiverOptions::default()
    }));
    let (url, _stop) = start(receiver.clone()).await;
    let mut client = TraceServiceClient::connect(url.clone()).await.unwrap();

    // One span with a zero trace ID: the rest are kept, the answer says what was not.
    let mut bad = span(0, 9, "bad");
    bad.trace_id = vec![0; 16];
    let answer = client
        .export(request(vec![span(1, 1, "a"), bad, span(1, 2, "b")]))
        .await
        .unwrap()
        .into_inner();
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("its trace ID is all zeros"),
        "{}",
        partial.error_message
    );
    assert_eq!(
        store.trace(&TraceId([1; 16]), Window::ALL).unwrap().len(),
        2
    );

    // Everything kept: partial_success stays unset. Gzip both ways.
    let mut gzip = TraceServiceClient::connect(url.clone())
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let answer = gzip
        .export(request(vec![span(2, 1, "c")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.partial_success, None);
    assert_eq!(
        store.trace(&TraceId([2; 16]), Window::ALL).unwrap().len(),
        1
    );

    // Over max_request_body_bytes: RESOURCE_EXHAUSTED (not retried), naming the limit,
    // whether the message is large on the wire or only once decompressed.
    let big = request((1..=100).map(|i| span(3, i, &"x".repeat(100))).collect());
    for client in [&mut client, &mut gzip] {
        let status = client.export(big.clone()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(
            status
                .message()
                .starts_with("max_request_body_bytes (4096) exceeded"),
            "{status:?}"
        );
    }
    assert!(
        store
            .trace(&TraceId([3; 16]), Window::ALL)
            .unwrap()
            .is_empty()
    );

    let f = receiver
        .figures()
        .into_iter()
        .find(|f| f.signal == Signal::Traces && f.protocol == Protocol::Grpc)
        .unwrap();
    assert_eq!((f.received, f.rejected), (3, 1));
}

#[tokio::test]
async fn logs_without_a_store_are_refused_as_unimplemented() {
    let (url, _stop) = start(Arc::new(Receiver::new(ReceiverOptions::default()))).await;
    let mut client = LogsServiceClient::connect(url).await.unwrap();
    let status = client
        .export(ExportLogsServiceRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(
        status.message().starts_with("logs are not stored yet"),
        "{status:?}"
    );
}

#[tokio::test]
async fn the_gate_sees_each_requests_tenant_and_size_and_its_refusal_is_the_answer() {
    let store = Arc::new(MemSpans::new());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let receiver = Arc::new(Receiver::new(ReceiverOptions {
        spans: Some(store.clone()),
        admit: Some({
            let seen = seen.clone();
            Arc::new(move |tenant: &str, bytes: usize| {
                seen.lock().unwrap().push((tenant.to_owned(), bytes));
                if tenant == "noisy" {
                    Err(otlp::ExportError::RateLimited {
                        message: format!("ingestion rate limit exceeded for tenant {tenant:?}"),
                    })
                } else {
                    Ok(())
                }
            })
        }),
        ..ReceiverOptions::default()
    }));
    let (url, _stop) = start(receiver.clone()).await;
    let mut client = TraceServiceClient::connect(url).await.unwrap();
    let with_tenant = |tenant: &str, trace: u8| {
        let mut r = tonic::Request::new(request(vec![span(trace, 1, "a")]));
        r.metadata_mut()
            .insert("x-scope-orgid", tenant.parse().unwrap());
        r
    };
    let status = client.export(with_tenant("noisy", 1)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("tenant \"noisy\""), "{status:?}");
    assert!(
        store
            .trace(&TraceId([1; 16]), Window::ALL)
            .unwrap()
            .is_empty()
    );
    // Another tenant, and a client without one (its address), are let in.
    client.export(with_tenant("calm", 2)).await.unwrap();
    client.export(request(vec![span(3, 1, "a")])).await.unwrap();
    assert_eq!(
        store.trace(&TraceId([3; 16]), Window::ALL).unwrap().len(),
        1
    );
    let seen = seen.lock().unwrap().clone();
    let tenants: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(tenants, ["noisy", "calm", "127.0.0.1"]);
    assert!(seen.iter().all(|(_, bytes)| *bytes > 0));
    let refused = receiver
        .figures()
        .into_iter()
        .find(|f| f.signal == Signal::Traces && f.protocol == Protocol::Grpc)
        .unwrap();
    let at = otlp::OUTCOMES
        .iter()
        .position(|o| *o == "rate_limited")
        .unwrap();
    assert_eq!(refused.requests[at], 1);
}
