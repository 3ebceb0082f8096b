//! Traces: the OpenTelemetry tracer provider, OTLP export, and W3C trace-context propagation
//! over HTTP headers and any key-value carrier.
//!
//! Spans are written with `tracing` (`info_span!`, `#[instrument]`); the
//! `tracing-opentelemetry` layer that [`crate::init`] installs turns them into OpenTelemetry
//! spans with the service's resource (`service.name`, `service.version`,
//! `deployment.environment.name`), samples them parent-based with a ratio for new traces,
//! and exports them in batches over OTLP when an endpoint is configured. With no endpoint,
//! spans still get ids, so log lines carry `trace_id` and `span_id` for correlation.
//!
//! A request that crosses nodes carries its context in a W3C `traceparent` (and
//! `tracestate`) entry. [`inject`] writes the current span's context into a [`Carrier`] and
//! [`extract`] reads it back on the other side; HTTP header maps and string maps are carriers,
//! and a P2P message type becomes one by implementing the trait for its metadata.
//!
//! A process that speaks for several services, each with its own resource (a simulator of
//! a node network, a gateway), exports them through one [`Pipeline`]: one batch thread and
//! one exporter for any number of tracer providers.

mod pipeline;

pub use pipeline::{BatchOptions, ExportedSpan, MemorySpans, Pipeline, PipelineStats};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub use opentelemetry::Context;

/// The wire protocol of OTLP export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC, usually on port 4317 (cargo feature `otlp-grpc`).
    Grpc,
    /// OTLP over HTTP with protobuf bodies, usually on port 4318 (cargo feature `otlp-http`).
    HttpProtobuf,
}

/// Where and how to export spans.
///
/// ```
/// use skywatch_sdk::trace::OtlpConfig;
///
/// let mut otlp = OtlpConfig::grpc("http://127.0.0.1:4317");
/// otlp.headers.push(("x-scope-orgid".into(), "tenant-1".into()));
/// otlp.gzip = true;
/// assert_eq!(otlp.headers.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The collector's URL: `http://host:4317` for gRPC; `http://host:4318` (or the full
    /// `.../v1/traces` URL) for HTTP. `https` needs [`tls`](Self::tls).
    pub endpoint: String,
    /// The wire protocol.
    pub protocol: Protocol,
    /// How long one export may take before it is abandoned.
    pub timeout: Duration,
    /// Sent with each export: HTTP headers, or gRPC metadata (whose keys must be
    /// lower-case ASCII; a key or value that cannot be sent fails the exporter's setup).
    pub headers: Vec<(String, String)>,
    /// Compresses each export with gzip (`Content-Encoding: gzip` over HTTP, the `gzip`
    /// `grpc-encoding` over gRPC).
    pub gzip: bool,
    /// How an `https` endpoint is reached: the roots that verify it, a client certificate,
    /// the name to check. Without it, an `https` HTTP endpoint is verified with the
    /// system's roots and an `https` gRPC endpoint cannot be reached. Its ALPN protocols
    /// are set by the exporter (`h2` for gRPC).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl OtlpConfig {
    /// Exports over gRPC to `endpoint`.
    pub fn grpc(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            protocol: Protocol::Grpc,
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            gzip: false,
            tls: None,
        }
    }

    /// Exports over HTTP/protobuf to `endpoint`.
    pub fn http(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            protocol: Protocol::HttpProtobuf,
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            gzip: false,
            tls: None,
        }
    }
}

/// An error setting up trace export.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The protocol's cargo feature is not enabled.
    #[error("OTLP over {0} needs skywatch-sdk's cargo feature \"{1}\": enable it in Cargo.toml")]
    FeatureDisabled(Protocol, &'static str),
    /// gRPC export needs a tokio runtime to drive its connection.
    #[error(
        "OTLP over gRPC must be set up inside a tokio runtime (call init from async code, or use OtlpConfig::http)"
    )]
    NoRuntime,
    /// A header cannot be sent as configured.
    #[error("cannot send the OTLP header {name:?}: {message}")]
    Header {
        /// The header's name.
        name: String,
        /// Why it cannot be sent.
        message: String,
    },
    /// The exporter rejected its configuration.
    #[error("cannot set up the OTLP exporter for {endpoint}: {message}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// What the exporter said.
        message: String,
    },
}

/// Builds the tracer provider: resource, parent-based ratio sampler and, if configured, a
/// batch exporter.
pub(crate) fn provider(
    resource: opentelemetry_sdk::Resource,
    sample_ratio: f64,
    otlp: Option<&OtlpConfig>,
) -> Result<SdkTracerProvider, TraceError> {
    let builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(sampler(sample_ratio));
    let builder = match otlp {
        Some(otlp) => with_exporter(builder, otlp)?,
        None => builder,
    };
    Ok(builder.build())
}

/// Samples `ratio` of new traces (clamped to 0..=1) and follows the parent's decision for
/// the others, so that a trace is kept or dropped whole.
fn sampler(ratio: f64) -> Sampler {
    Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio.clamp(0.0, 1.0))))
}

#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
fn with_exporter(
    builder: opentelemetry_sdk::trace::TracerProviderBuilder,
    otlp: &OtlpConfig,
) -> Result<opentelemetry_sdk::trace::TracerProviderBuilder, TraceError> {
    Ok(builder.with_batch_exporter(exporter(otlp)?))
}

#[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
fn with_exporter(
    _builder: opentelemetry_sdk::trace::TracerProviderBuilder,
    otlp: &OtlpConfig,
) -> Result<opentelemetry_sdk::trace::TracerProviderBuilder, TraceError> {
    Err(TraceError::FeatureDisabled(
        otlp.protocol,
        otlp.protocol.feature(),
    ))
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Grpc => "gRPC",
            Protocol::HttpProtobuf => "HTTP/protobuf",
        })
    }
}

impl Protocol {
    /// The cargo feature of skywatch-sdk that compiles this protocol's exporter in.
    pub fn feature(self) -> &'static str {
        match self {
            Protocol::Grpc => "otlp-grpc",
            Protocol::HttpProtobuf => "otlp-http",
        }
    }
}

#[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
fn exporter(otlp: &OtlpConfig) -> Result<opentelemetry_otlp::SpanExporter, TraceError> {
    let failed = |e: &dyn std::fmt::Display| TraceError::Exporter {
        endpoint: otlp.endpoint.clone(),
        message: e.to_string(),
    };
    match otlp.protocol {
        Protocol::Grpc => {
            #[cfg(feature = "otlp-grpc")]
            {
                let builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
                grpc::configure(builder, otlp)?
                    .build()
                    .map_err(|e| failed(&e))
            }
            #[cfg(not(feature = "otlp-grpc"))]
            {
                let _ = failed;
                Err(TraceError::FeatureDisabled(
                    Protocol::Grpc,
                    Protocol::Grpc.feature(),
                ))
            }
        }
        Protocol::HttpProtobuf => {
            #[cfg(feature = "otlp-http")]
            {
                let builder = opentelemetry_otlp::SpanExporter::builder().with_http();
                configure_http(builder, otlp, "/v1/traces")?
                    .build()
                    .map_err(|e| failed(&e))
            }
            #[cfg(not(feature = "otlp-http"))]
            {
                let _ = failed;
                Err(TraceError::FeatureDisabled(
                    Protocol::HttpProtobuf,
                    "otlp-http",
                ))
            }
        }
    }
}

/// The OTLP/gRPC log exporter `otlp` describes: the same endpoint, headers, compression
/// and TLS settings as for spans.
#[cfg(feature = "otlp-grpc")]
pub(crate) fn grpc_log_exporter(
    otlp: &OtlpConfig,
) -> Result<opentelemetry_otlp::LogExporter, TraceError> {
    let builder = opentelemetry_otlp::LogExporter::builder().with_tonic();
    grpc::configure(builder, otlp)?
        .build()
        .map_err(|e| TraceError::Exporter {
            endpoint: otlp.endpoint.clone(),
            message: e.to_string(),
        })
}

/// Applies `otlp` to an HTTP exporter builder of any signal, whose requests go to
/// `path` under the endpoint.
#[cfg(feature = "otlp-http")]
fn configure_http<B>(builder: B, otlp: &OtlpConfig, path: &str) -> Result<B, TraceError>
where
    B: opentelemetry_otlp::WithExportConfig + opentelemetry_otlp::WithHttpConfig,
{
    let mut builder = builder
        .with_endpoint(http_signal_url(&otlp.endpoint, path))
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_timeout(otlp.timeout)
        .with_headers(otlp.headers.iter().cloned().collect());
    if otlp.gzip {
        builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
    }
    if let Some(tls) = &otlp.tls {
        builder =
            builder.with_http_client(blocking_client(otlp.timeout, Some(tls)).map_err(|e| {
                TraceError::Exporter {
                    endpoint: otlp.endpoint.clone(),
                    message: e,
                }
            })?);
    }
    Ok(builder)
}

/// A blocking HTTP client for the HTTP exporters, reaching `https` endpoints with `tls`
/// when given (and otherwise verifying with the system's roots).
///
/// It is built on a thread of its own: reqwest's blocking client starts a runtime, which
/// must not happen on a thread already driving one.
#[cfg(feature = "otlp-http")]
pub(crate) fn blocking_client(
    timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<reqwest::blocking::Client, String> {
    let tls = tls.map(|tls| rustls::ClientConfig::clone(tls));
    std::thread::spawn(move || {
        let builder = reqwest::blocking::Client::builder().timeout(timeout);
        match tls {
            Some(tls) => builder.tls_backend_preconfigured(tls),
            None => builder,
        }
        .build()
        .map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "building the HTTP client panicked".to_owned())?
}

/// Returns the URL of a signal's `path` (`/v1/traces`, `/v1/logs`) for an OTLP/HTTP
/// endpoint given as a base URL, as the `OTEL_EXPORTER_OTLP_ENDPOINT` convention does; a
/// URL already ending in `path` is kept.
#[cfg_attr(
    not(feature = "otlp-http"),
    allow(dead_code, reason = "used by the HTTP exporter")
)]
pub(crate) fn http_signal_url(endpoint: &str, path: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with(path) {
        endpoint.to_owned()
    } else {
        format!("{base}{path}")
    }
}

/// A key-value map that can carry trace context: HTTP headers, a P2P message's metadata.
///
/// Keys are the lower-case W3C names `traceparent` and `tracestate`.
///
/// ```
/// use std::collections::HashMap;
/// use skywatch_sdk::trace::Carrier;
///
/// /// Metadata of a P2P message.
/// struct Envelope {
///     metadata: Vec<(String, String)>,
/// }
///
/// impl Carrier for Envelope {
///     fn get(&self, key: &str) -> Option<&str> {
///         self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
///     }
///     fn set(&mut self, key: &str, value: String) {
///         self.metadata.retain(|(k, _)| k != key);
///         self.metadata.push((key.to_owned(), value));
///     }
///     fn keys(&self) -> Vec<&str> {
///         self.metadata.iter().map(|(k, _)| k.as_str()).collect()
///     }
/// }
/// ```
pub trait Carrier {
    /// Returns the value stored under `key`.
    fn get(&self, key: &str) -> Option<&str>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&mut self, key: &str, value: String);
    /// Returns every key.
    fn keys(&self) -> Vec<&str>;
}

impl Carrier for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

impl Carrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_owned(), value);
    }
    fn keys(&self) -> Vec<&str> {
        BTreeMap::keys(self).map(String::as_str).collect()
    }
}

impl Carrier for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key).and_then(|v| v.to_str().ok())
    }
    fn set(&mut self, key: &str, value: String) {
        // Propagators write ASCII header names and values; anything else is dropped rather
        // than sent malformed.
        if let (Ok(name), Ok(value)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.insert(name, value);
        }
    }
    fn keys(&self) -> Vec<&str> {
        http::HeaderMap::keys(self)
            .map(http::HeaderName::as_str)
            .collect()
    }
}

struct AsInjector<'a, C: ?Sized>(&'a mut C);

impl<C: Carrier + ?Sized> Injector for AsInjector<'_, C> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, value);
    }
}

struct AsExtractor<'a, C: ?Sized>(&'a C);

impl<C: Carrier + ?Sized> Extractor for AsExtractor<'_, C> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }
}

/// Writes `cx`'s span context into `carrier` as `traceparent` and `tracestate`.
///
/// Writes nothing when `cx` holds no valid span context.
pub fn inject_context(cx: &Context, carrier: &mut (impl Carrier + ?Sized)) {
    TraceContextPropagator::new().inject_context(cx, &mut AsInjector(carrier));
}

/// Writes the current `tracing` span's context into `carrier`.
pub fn inject(carrier: &mut (impl Carrier + ?Sized)) {
    inject_context(&tracing::Span::current().context(), carrier);
}

/// Reads the trace context from `carrier`; an absent or malformed `traceparent` yields an
/// empty context, which starts a new trace.
pub fn extract(carrier: &(impl Carrier + ?Sized)) -> Context {
    TraceContextPropagator::new().extract(&AsExtractor(carrier))
}

/// Makes the context in `carrier` the parent of `span`: call it on the span that handles
/// an incoming message, before entering it.
///
/// Returns `false` when `tracing-opentelemetry` is not installed (no [`crate::init`]), in
/// which case nothing changes.
pub fn continue_from(span: &tracing::Span, carrier: &(impl Carrier + ?Sized)) -> bool {
    span.set_parent(extract(carrier)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };

    #[test]
    fn context_round_trips_through_headers_and_maps() {
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::from_key_value([("vendor", "x")]).unwrap(),
        );
        let cx = Context::new().with_remote_span_context(sc.clone());
        let mut headers = http::HeaderMap::new();
        inject_context(&cx, &mut headers);
        assert_eq!(
            headers["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(headers["tracestate"], "vendor=x");
        let back = extract(&headers);
        assert_eq!(back.span().span_context(), &sc);

        let mut map = BTreeMap::new();
        inject_context(&cx, &mut map);
        assert_eq!(extract(&map).span().span_context(), &sc);
    }

    #[test]
    fn malformed_traceparent_starts_a_new_trace() {
        let mut map = HashMap::new();
        map.insert(
            "traceparent".to_owned(),
            "00-zz-00f067aa0ba902b7-01".to_owned(),
        );
        assert!(!extract(&map).span().span_context().is_valid());
    }

    /// Built only without exporter features; `scripts/test` runs that configuration.
    #[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
    #[test]
    fn export_without_an_exporter_feature_names_the_feature() {
        let err = provider(
            opentelemetry_sdk::Resource::builder_empty().build(),
            1.0,
            Some(&OtlpConfig::grpc("http://127.0.0.1:4317")),
        )
        .err()
        .unwrap();
        assert_eq!(
            err.to_string(),
            "OTLP over gRPC needs skywatch-sdk's cargo feature \"otlp-grpc\": enable it in Cargo.toml"
        );
    }

    #[test]
    fn http_endpoint_gets_the_signal_path_once() {
        let traces = |e| http_signal_url(e, "/v1/traces");
        assert_eq!(traces("http://h:4318"), "http://h:4318/v1/traces");
        assert_eq!(traces("http://h:4318/"), "http://h:4318/v1/traces");
        assert_eq!(traces("http://h:4318/v1/traces"), "http://h:4318/v1/traces");
        let logs = |e| http_signal_url(e, "/v1/logs");
        assert_eq!(logs("http://h:4318"), "http://h:4318/v1/logs");
        assert_eq!(logs("http://h:4318/v1/logs"), "http://h:4318/v1/logs");
    }
}

/// What OTLP over gRPC needs beyond the exporter's builder: the headers as metadata, and a
/// channel over the caller's TLS settings.
#[cfg(feature = "otlp-grpc")]
mod grpc {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use hyper_util::rt::TokioIo;
    use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
    use tonic::transport::{Channel, Endpoint, Uri};

    use super::{OtlpConfig, TraceError};

    /// Applies `otlp` to a gRPC exporter builder of any signal. Needs a tokio runtime,
    /// which drives the connection.
    pub(super) fn configure<B>(builder: B, otlp: &OtlpConfig) -> Result<B, TraceError>
    where
        B: opentelemetry_otlp::WithExportConfig + opentelemetry_otlp::WithTonicConfig,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(TraceError::NoRuntime);
        }
        let mut builder = builder
            .with_endpoint(otlp.endpoint.clone())
            .with_timeout(otlp.timeout)
            .with_metadata(metadata(&otlp.headers)?);
        if otlp.gzip {
            builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        if let Some(tls) = &otlp.tls {
            builder =
                builder.with_channel(tls_channel(&otlp.endpoint, otlp.timeout, tls).map_err(
                    |e| TraceError::Exporter {
                        endpoint: otlp.endpoint.clone(),
                        message: e,
                    },
                )?);
        }
        Ok(builder)
    }

    /// The headers as gRPC metadata; gRPC keys are lower case, so names are lowered as
    /// Go's gRPC lowers them.
    pub(super) fn metadata(headers: &[(String, String)]) -> Result<MetadataMap, TraceError> {
        let mut map = MetadataMap::new();
        for (name, value) in headers {
            let bad = |message: String| TraceError::Header {
                name: name.clone(),
                message,
            };
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            let value = MetadataValue::try_from(value.as_str()).map_err(|e| bad(e.to_string()))?;
            map.append(key, value);
        }
        Ok(map)
    }

    /// A lazily connected channel to `endpoint` (`https://host:port`) over TLS with `tls`,
    /// offering HTTP/2 by ALPN as gRPC requires.
    pub(super) fn tls_channel(
        endpoint: &str,
        timeout: Duration,
        tls: &Arc<rustls::ClientConfig>,
    ) -> Result<Channel, String> {
        let mut config = rustls::ClientConfig::clone(tls);
        config.alpn_protocols = vec![b"h2".to_vec()];
        let endpoint = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| e.to_string())?
            .timeout(timeout);
        Ok(endpoint.connect_with_connector_lazy(TlsConnector(Arc::new(config))))
    }

    /// Connects over TCP, then TLS, to the URI's host and port (443 without one).
    #[derive(Clone)]
    struct TlsConnector(Arc<rustls::ClientConfig>);

    type Stream = TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;
    type BoxError = Box<dyn std::error::Error + Send + Sync>;

    impl tower_service::Service<Uri> for TlsConnector {
        type Response = Stream;
        type Error = BoxError;
        type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, uri: Uri) -> Self::Future {
            let config = self.0.clone();
            Box::pin(async move {
                let host = uri.host().ok_or("the endpoint has no host")?;
                // A bracketed IPv6 literal is a name without its brackets.
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                let port = uri.port_u16().unwrap_or(443);
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                let name = rustls::pki_types::ServerName::try_from(host)?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await?;
                Ok(TokioIo::new(tls))
            })
        }
    }
}

#[cfg(all(test, feature = "otlp-grpc"))]
#[allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]
mod grpc_tests {
    //! The gRPC exporter against a receiver on loopback (opentelemetry-proto's tonic
    //! service): the configured headers arrive as metadata, gzip-compressed.

    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };

    use super::*;

    /// One export's metadata, as `(key, value)` pairs.
    type Metadata = Vec<(String, String)>;

    /// The metadata of every export received.
    #[derive(Clone, Default)]
    struct Receiver(Arc<Mutex<Vec<Metadata>>>);

    #[tonic::async_trait]
    impl TraceService for Receiver {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let metadata = request
                .metadata()
                .clone()
                .into_headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            self.0.lock().unwrap().push(metadata);
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn headers_arrive_as_metadata_gzip_compressed() {
        let receiver = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(
                    TraceServiceServer::new(receiver.clone())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                )
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let mut otlp = OtlpConfig::grpc(endpoint);
        otlp.headers = vec![
            ("X-Scope-OrgID".into(), "validators".into()),
            ("foo".into(), "bar".into()),
        ];
        otlp.gzip = true;
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter(&otlp).unwrap())
            .build();
        // The simple processor blocks on each export: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            provider.tracer("test").in_span("exported", |_| {});
            provider.shutdown().unwrap();
        })
        .await
        .unwrap();
        let exports = receiver.0.lock().unwrap().clone();
        let metadata = exports.first().expect("no export received");
        let get = |key: &str| {
            metadata
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-scope-orgid"), Some("validators"), "{metadata:?}");
        assert_eq!(get("foo"), Some("bar"), "{metadata:?}");
        assert_eq!(get("grpc-encoding"), Some("gzip"), "{metadata:?}");
    }

    #[test]
    fn a_header_grpc_cannot_carry_is_refused_by_name() {
        let error = grpc::metadata(&[("bad header".into(), "v".into())]).unwrap_err();
        assert!(error.to_string().contains("\"bad header\""), "{error}");
    }
}
