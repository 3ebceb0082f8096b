//! OTLP/gRPC: the three collector services over one [`Receiver`], with gzip both ways
//! and the status codes OTLP's specification gives.
//!
//! tonic refuses a message over the size limit with `OUT_OF_RANGE`, which OTLP clients
//! retry, and a message that does not decode with `INTERNAL`; [`serve`] rewrites both
//! (`RESOURCE_EXHAUSTED` naming `max_request_body_bytes`, and `INVALID_ARGUMENT`), so
//! that clients drop what can never be taken, as the specification wants.

use std::future::Future;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::{Accepted, ExportError, Protocol, Receiver, Signal};

/// The gRPC status OTLP's specification gives to each refusal.
pub fn status(e: &ExportError) -> Status {
    Status::new(tonic::Code::from_i32(e.grpc_code()), e.to_string())
}

/// Whose ingestion rate a request counts against: its `x-scope-orgid` metadata, else the
/// client's IP address.
fn tenant<Q>(request: &Request<Q>) -> String {
    if let Some(id) = request
        .metadata()
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
    {
        return id.to_owned();
    }
    request
        .remote_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// Passes the request through the receiver's gate (its size: the message decoded), then
/// runs the export on a blocking thread (stores do I/O) and maps its refusal.
async fn export<Q, P>(
    receiver: &Arc<Receiver>,
    signal: Signal,
    request: Request<Q>,
    run: fn(&Receiver, Q) -> Result<Accepted, ExportError>,
    partial: fn(i64, String) -> P,
) -> Result<Option<P>, Status>
where
    Q: prost::Message + Send + 'static,
{
    let tenant = tenant(&request);
    let request = request.into_inner();
    receiver
        .admit(signal, Protocol::Grpc, &tenant, request.encoded_len())
        .map_err(|e| status(&e))?;
    let receiver = receiver.clone();
    let accepted = tokio::task::spawn_blocking(move || run(&receiver, request))
        .await
        .map_err(|e| Status::internal(format!("the export failed: {e}")))?
        .map_err(|e| status(&e))?;
    Ok(accepted
        .message
        .map(|m| partial(i64::try_from(accepted.rejected).unwrap_or(i64::MAX), m)))
}

/// The three services over one receiver.
#[derive(Debug, Clone)]
pub struct Services(Arc<Receiver>);

#[tonic::async_trait]
impl TraceService for Services {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let partial_success = export(
            &self.0,
            Signal::Traces,
            request,
            |r, q| r.export_traces(Protocol::Grpc, q),
            |rejected_spans, error_message| ExportTracePartialSuccess {
                rejected_spans,
                error_message,
            },
        )
        .await?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Services {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let partial_success = export(
            &self.0,
            Signal::Metrics,
            request,
            |r, q| r.export_metrics(Protocol::Grpc, q),
            |rejected_data_points, error_message| ExportMetricsPartialSuccess {
                rejected_data_points,
                error_message,
            },
        )
        .await?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success,
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Services {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let partial_success = export(
            &self.0,
            Signal::Logs,
            request,
            |r, q| r.export_logs(Protocol::Grpc, q),
            |rejected_log_records, error_message| ExportLogsPartialSuccess {
                rejected_log_records,
                error_message,
            },
        )
        .await?;
        Ok(Response::new(ExportLogsServiceResponse { partial_success }))
    }
}

/// Rewrites tonic's own refusals of a request into OTLP's codes (see the module's docs).
/// They come as trailers-only responses, so the status is in the headers.
fn otlp_codes<B>(mut response: http::Response<B>, limit: usize) -> http::Response<B> {
    let headers = response.headers_mut();
    let code = headers.get("grpc-status").and_then(|v| v.to_str().ok());
    // Percent-encoded (tonic encodes spaces too).
    let message = percent_encoding::percent_decode_str(
        headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
    .decode_utf8_lossy()
    .into_owned();
    let rewrite = match code {
        // OUT_OF_RANGE: the message is over the limit on the wire.
        Some("11") if message.contains("message length too large") => Some((
            "8",
            format!(
                "max_request_body_bytes ({limit}) exceeded: the message is larger; send smaller batches (the exporter's batch size) or raise the limit"
            ),
        )),
        // RESOURCE_EXHAUSTED: over the limit once decompressed.
        Some("8") if message.contains("size limit") => Some((
            "8",
            format!(
                "max_request_body_bytes ({limit}) exceeded: the message is larger once decompressed; send smaller batches or raise the limit"
            ),
        )),
        // INTERNAL from prost: the message does not decode.
        Some("13") if message.starts_with("failed to decode") => Some((
            "3",
            format!("the protobuf message does not decode: {message}"),
        )),
        _ => None,
    };
    if let Some((code, message)) = rewrite {
        headers.insert("grpc-status", http::HeaderValue::from_static(code));
        // Printable ASCII without `%` needs no percent-encoding in grpc-message.
        let message: String = message
            .chars()
            .map(|c| {
                if (' '..='~').contains(&c) && c != '%' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = http::HeaderValue::from_str(&message) {
            headers.insert("grpc-message", v);
        }
    }
    response
}

/// Serves the OTLP/gRPC services on `listener` until `shutdown` completes; requests and
/// answers may be gzip-compressed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    receiver: Arc<Receiver>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String> {
    serve_with(
        tonic::transport::server::TcpIncoming::from(listener),
        receiver,
        None,
        shutdown,
    )
    .await
}

/// Decides whether a call may proceed from its metadata (the HTTP/2 headers): the
/// server's credentials check, which this crate does not know.
pub type Authorize = Arc<
    dyn Fn(http::HeaderMap) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Status>> + Send>>
        + Send
        + Sync,
>;

/// As [`serve`], on any stream of connections (TLS ones, for example), each call first
/// passed to `authorize` when given: its refusal is the call's status
/// (`UNAUTHENTICATED`, say), and the services never see the call.
pub async fn serve_with<I, IO, IE>(
    incoming: I,
    receiver: Arc<Receiver>,
    authorize: Option<Authorize>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), String>
where
    I: tonic::codegen::tokio_stream::Stream<Item = Result<IO, IE>>,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = receiver.limits().max_request_body_bytes;
    let services = Services(receiver);
    let traces = TraceServiceServer::new(services.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let metrics = MetricsServiceServer::new(services.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    let logs = LogsServiceServer::new(services)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(limit);
    tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(move |r| {
            otlp_codes(r, limit)
        }))
        .layer(AuthorizeLayer(authorize))
        .add_service(traces)
        .add_service(metrics)
        .add_service(logs)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| format!("the OTLP/gRPC server failed: {e}"))
}

/// Puts [`Authorize`] in front of the services.
#[derive(Clone)]
struct AuthorizeLayer(Option<Authorize>);

impl<S> tower::Layer<S> for AuthorizeLayer {
    type Service = AuthorizeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthorizeService {
            inner,
            authorize: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct AuthorizeService<S> {
    inner: S,
    authorize: Option<Authorize>,
}

impl<S, B> tower::Service<http::Request<B>> for AuthorizeService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was made ready is the one that serves (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authorize = self.authorize.clone();
        Box::pin(async move {
            if let Some(authorize) = authorize
                && let Err(status) = authorize(request.headers().clone()).await
            {
                return Ok(status.into_http());
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(code: &'static str, message: &'static str) -> http::Response<()> {
        let mut r = http::Response::new(());
        r.headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static(code));
        r.headers_mut()
            .insert("grpc-message", http::HeaderValue::from_static(message));
        r
    }

    fn rewritten(code: &'static str, message: &'static str) -> (String, String) {
        let r = otlp_codes(refusal(code, message), 100);
        let get = |h: &str| r.headers()[h].to_str().unwrap().to_owned();
        (get("grpc-status"), get("grpc-message"))
    }

    #[test]
    fn tonic_refusals_get_the_codes_otlp_gives_them() {
        let (code, message) = rewritten(
            "13",
            "failed%20to%20decode%20Protobuf%20message:%20invalid%20wire%20type",
        );
        assert_eq!(code, "3");
        assert_eq!(
            message,
            "the protobuf message does not decode: failed to decode Protobuf message: invalid wire type"
        );
        let (code, message) = rewritten(
            "11",
            "Error,%20decoded%20message%20length%20too%20large:%20found%20200%20bytes",
        );
        assert_eq!(code, "8");
        assert!(
            message.starts_with("max_request_body_bytes (100) exceeded"),
            "{message}"
        );
        // Anything else is left as it is.
        assert_eq!(rewritten("13", "other"), ("13".into(), "other".into()));
        assert_eq!(rewritten("14", "x"), ("14".into(), "x".into()));
    }
}
