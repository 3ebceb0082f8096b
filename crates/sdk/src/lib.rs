//! Instrument a Rust node with Prometheus metrics, health checks, JSON logs and OpenTelemetry
//! traces from one dependency and one call.
//!
//! A node of a P2P network is watched in four ways, and this crate gives each its standard
//! form so that Skywatch, Prometheus, Grafana and Kubernetes understand the node unchanged:
//!
//! - **Metrics** ([`metrics`]): counters, gauges, histograms and summaries on a
//!   [`metrics::Registry`], served at `/metrics` in the Prometheus text format or OpenMetrics,
//!   whichever the scraper asks for, gzip-compressed on request. Process metrics and a
//!   `build_info` come with it, and [`http::MetricsLayer`] records rate, errors and duration
//!   of every HTTP request by route template.
//! - **Health** ([`health`]): checks with three states (healthy, degraded, unhealthy), run
//!   concurrently with timeouts and served as `/healthz` (liveness), `/readyz` (readiness),
//!   `/startupz` and `/health` (JSON), and exported as metrics.
//! - **Logs** ([`log`]): one JSON object per line with the `trace_id` and `span_id` of the
//!   span it was written in, so a log line leads to its trace; and, once an endpoint is
//!   configured, the same events as OpenTelemetry log records over OTLP (`/v1/logs`),
//!   batched on a thread of their own, with the spans' resource and trace context.
//! - **Traces** ([`trace`]): `tracing` spans exported as OpenTelemetry spans over OTLP, with
//!   W3C `traceparent` propagation across HTTP and across P2P messages.
//!
//! [`init`] sets all four up and returns a [`Telemetry`] guard; [`Telemetry::router`] serves
//! the endpoints, to merge into the node's own axum app or to serve on a port of their own.
//!
//! # Example
//!
//! Recording and exposing a metric family:
//!
//! ```
//! use skywatch_sdk::metrics::{Counter, Family, Format, Registry};
//!
//! let registry = Registry::new();
//! let sent = Family::<[(&str, &str); 1], Counter>::default();
//! registry
//!     .register("p2p_messages_sent", "P2P messages sent, by type.", sent.clone())
//!     .unwrap();
//!
//! sent.get_or_create(&[("type", "gossip")]).inc_by(3);
//!
//! assert_eq!(
//!     registry.encode(Format::Text),
//!     "# HELP p2p_messages_sent_total P2P messages sent, by type.\n\
//!      ## TYPE p2p_messages_sent_total counter\n\
//!      p2p_messages_sent_total{type=\"gossip\"} 3\n"
//! );
//! assert_eq!(
//!     registry.encode(Format::OpenMetrics),
//!     "# HELP p2p_messages_sent P2P messages sent, by type.\n\
//!      ## TYPE p2p_messages_sent counter\n\
//!      p2p_messages_sent_total{type=\"gossip\"} 3\n\
//!      ## EOF\n"
//! );
//! ```
//!
//! Setting up a node (inside a tokio runtime):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use skywatch_sdk::{Config, health::DiskUsage, trace::OtlpConfig};
//!
//! let telemetry = skywatch_sdk::init(
//!     Config::new("execution", env!("CARGO_PKG_VERSION"))
//!         .node_id("node-3")
//!         .namespace("zerostate")
//!         .otlp(OtlpConfig::http("http://127.0.0.1:4318"))
//!         .otlp_logs(OtlpConfig::http("http://127.0.0.1:4318")),
//! )?;
//! telemetry.health().register("disk", DiskUsage::new("/var/lib/node"));
//!
//! let app = axum::Router::new()
//!     .route("/tasks", axum::routing::post(|| async { "queued" }))
//!     .layer(telemetry.http_layer())
//!     .layer(telemetry.trace_layer())
//!     .merge(telemetry.router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9100").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod batch;
pub mod health;
pub mod http;
pub mod log;
pub mod metrics;
pub mod trace;

use std::io::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

pub use prometheus_client;
/// The OpenTelemetry API and SDK the traces are built on, for code that makes spans with
/// them directly (explicit timestamps, several resources in one process): the versions
/// always match the SDK's.
pub use {opentelemetry, opentelemetry_sdk};

use health::{Health, HealthOptions};
use log::LogPipeline;
use metrics::{Format, ProcessCollector, RegisterError, Registry};
use trace::{BatchOptions, OtlpConfig, PipelineStats, TraceError};

/// Where log lines go.
pub enum LogWriter {
    /// Standard output, through a non-blocking writer thread.
    Stdout,
    /// Standard error, through a non-blocking writer thread.
    Stderr,
    /// Any writer, called on the logging thread.
    Custom(BoxMakeWriter),
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogWriter::Stdout => "Stdout",
            LogWriter::Stderr => "Stderr",
            LogWriter::Custom(_) => "Custom",
        })
    }
}

/// What [`init`] sets up.
#[derive(Debug)]
pub struct Config {
    /// The service's name: the `service.name` of traces and the `service` field of logs.
    pub service: String,
    /// The service's version.
    pub version: String,
    /// The deployment environment, such as `production` (default `development`).
    pub environment: String,
    /// This node's id, written on every log line as `node_id` and to traces as `service.instance.id`.
    pub node_id: Option<String>,
    /// The prefix of the SDK's own metric names (`<namespace>_http_requests_total`).
    pub namespace: Option<String>,
    /// Which log events to keep, in `RUST_LOG` syntax (default: `RUST_LOG`, or `info`).
    pub log_filter: String,
    /// More fields written on every log line.
    pub log_fields: Vec<(String, Value)>,
    /// Where log lines go (default standard output).
    pub log_writer: LogWriter,
    /// Where spans are exported; `None` keeps them in-process (they still give log lines
    /// their trace ids).
    pub otlp: Option<OtlpConfig>,
    /// Where log records are exported over OTLP, besides the JSON lines of
    /// [`log_writer`](Self::log_writer); `None` (the default) exports none. Every event
    /// the log filter keeps is exported, with the spans' resource and the trace and span
    /// ids of the span it happened in.
    pub otlp_logs: Option<OtlpConfig>,
    /// How log records are batched for export: a record that finds the queue full is
    /// dropped and counted, never waited for (default: [`BatchOptions::default`]).
    pub log_batch: BatchOptions,
    /// The fraction of new traces to sample; a trace continued from a caller follows the
    /// caller's decision (default 1.0).
    pub sample_ratio: f64,
    /// How health checks add up to readiness.
    pub health: HealthOptions,
    /// The registry to use (default: [`Registry::global`]).
    pub registry: Option<Registry>,
}

impl Config {
    /// Returns the defaults for `service` at `version`.
    pub fn new(service: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            version: version.into(),
            environment: "development".into(),
            node_id: None,
            namespace: None,
            log_filter: std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            log_fields: Vec::new(),
            log_writer: LogWriter::Stdout,
            otlp: None,
            otlp_logs: None,
            log_batch: BatchOptions::default(),
            sample_ratio: 1.0,
            health: HealthOptions::default(),
            registry: None,
        }
    }

    /// Applies the standard OpenTelemetry environment variables, where set:
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (spans and logs), `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`
    /// (logs alone; over HTTP, `/v1/logs` is added unless the URL ends with it),
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` and `OTEL_EXPORTER_OTLP_LOGS_PROTOCOL` (`grpc` or
    /// `http/protobuf`, the default), `OTEL_LOGS_EXPORTER=none` (no log export),
    /// `OTEL_TRACES_SAMPLER_ARG` and `OTEL_DEPLOYMENT_ENVIRONMENT`.
    pub fn with_env(self) -> Self {
        self.with_vars(|name| std::env::var(name).ok())
    }

    /// [`with_env`](Self::with_env) over any source of variables (a test's map).
    fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        let config = |endpoint: String, protocol: Option<String>| match protocol.as_deref() {
            Some("grpc") => OtlpConfig::grpc(endpoint),
            _ => OtlpConfig::http(endpoint),
        };
        let protocol = var("OTEL_EXPORTER_OTLP_PROTOCOL");
        if let Some(endpoint) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.otlp = Some(config(endpoint.clone(), protocol.clone()));
            self.otlp_logs = Some(config(endpoint, protocol.clone()));
        }
        if let Some(endpoint) = var("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") {
            let protocol = var("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL").or(protocol);
            self.otlp_logs = Some(config(endpoint, protocol));
        }
        if var("OTEL_LOGS_EXPORTER").as_deref() == Some("none") {
            self.otlp_logs = None;
        }
        if let Some(ratio) = var("OTEL_TRACES_SAMPLER_ARG").and_then(|r| r.parse().ok()) {
            self.sample_ratio = ratio;
        }
        if let Some(env) = var("OTEL_DEPLOYMENT_ENVIRONMENT") {
            self.environment = env;
        }
        self
    }

    /// Sets the deployment environment.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }

    /// Sets this node's id.
    pub fn node_id(mut self, node_id: impl Into<String>) -> Self {
        self.node_id = Some(node_id.into());
        self
    }

    /// Sets the prefix of the SDK's own metric names.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the log filter, in `RUST_LOG` syntax.
    pub fn log_filter(mut self, filter: impl Into<String>) -> Self {
        self.log_filter = filter.into();
        self
    }

    /// Adds a field written on every log line.
    pub fn log_field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.log_fields.push((key.into(), value.into()));
        self
    }

    /// Sets where log lines go.
    pub fn log_writer(mut self, writer: LogWriter) -> Self {
        self.log_writer = writer;
        self
    }

    /// Exports spans over OTLP.
    pub fn otlp(mut self, otlp: OtlpConfig) -> Self {
        self.otlp = Some(otlp);
        self
    }

    /// Exports log records over OTLP (besides writing JSON lines).
    pub fn otlp_logs(mut self, otlp: OtlpConfig) -> Self {
        self.otlp_logs = Some(otlp);
        self
    }

    /// Sets how log records are batched for export.
    pub fn log_batch(mut self, batch: BatchOptions) -> Self {
        self.log_batch = batch;
        self
    }

    /// Sets the fraction of new traces to sample.
    pub fn sample_ratio(mut self, ratio: f64) -> Self {
        self.sample_ratio = ratio;
        self
    }

    /// Sets how health checks add up to readiness.
    pub fn health(mut self, options: HealthOptions) -> Self {
        self.health = options;
        self
    }

    /// Uses `registry` instead of the process-wide default.
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }
}

/// An error from [`init`] or [`build`].
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A global `tracing` subscriber is already installed.
    #[error(
        "a global tracing subscriber is already set: call skywatch_sdk::init once, before any other subscriber is installed"
    )]
    AlreadyInitialized,
    /// The log filter does not parse.
    #[error(
        "invalid log filter {filter:?}: {message} (expected RUST_LOG syntax, e.g. \"info,my_node=debug\")"
    )]
    LogFilter {
        /// The filter as given.
        filter: String,
        /// What the parser said.
        message: String,
    },
    /// Trace export could not be set up.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// Log export could not be set up.
    #[error("cannot export logs: {0}")]
    Logs(TraceError),
    /// The SDK's metrics could not be registered.
    #[error("cannot register the SDK's metrics: {0}")]
    Register(#[from] RegisterError),
}

/// The running telemetry of a node. Dropping it flushes pending spans, log records and
/// log lines.
pub struct Telemetry {
    registry: Registry,
    health: Health,
    http_metrics: Arc<http::HttpMetrics>,
    provider: SdkTracerProvider,
    /// The OTLP log export, when configured.
    logs: Option<LogPipeline>,
    // Dropped after the provider is shut down, so that log lines about the shutdown are kept.
    log_guard: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("registry", &self.registry)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// Sets up metrics, health, logs and traces, and installs them process-wide: the `tracing`
/// subscriber, the OpenTelemetry tracer provider and the W3C propagator.
///
/// Call it once, early in `main`, inside the tokio runtime when exporting over gRPC. Keep
/// the returned guard alive: dropping it flushes and stops trace export.
pub fn init(config: Config) -> Result<Telemetry, InitError> {
    // Checked first so that a second call fails for its real reason, not because the SDK's
    // metrics are already in the default registry.
    if tracing::dispatcher::has_been_set() {
        return Err(InitError::AlreadyInitialized);
    }
    let (telemetry, dispatch) = build(config)?;
    tracing::dispatcher::set_global_default(dispatch).map_err(|_| InitError::AlreadyInitialized)?;
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    opentelemetry::global::set_tracer_provider(telemetry.provider.clone());
    Ok(telemetry)
}

/// Sets up what [`init`] does without installing anything process-wide: the caller installs
/// the returned dispatcher, for example with `tracing::dispatcher::with_default` in a test.
pub fn build(config: Config) -> Result<(Telemetry, tracing::Dispatch), InitError> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter).map_err(|e| {
        InitError::LogFilter {
            filter: config.log_filter.clone(),
            message: e.to_string(),
        }
    })?;

    let mut attributes = vec![
        KeyValue::new("service.version", config.version.clone()),
        KeyValue::new("deployment.environment.name", config.environment.clone()),
    ];
    if let Some(id) = &config.node_id {
        attributes.push(KeyValue::new("service.instance.id", id.clone()));
    }
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(config.service.clone())
        .with_attributes(attributes)
        .build();
    let provider = trace::provider(resource.clone(), config.sample_ratio, config.otlp.as_ref())?;
    let otel_layer =
        tracing_opentelemetry::layer().with_tracer(provider.tracer(config.service.clone()));

    let mut persistent = vec![("service".to_owned(), Value::from(config.service.clone()))];
    if let Some(id) = &config.node_id {
        persistent.push(("node_id".to_owned(), Value::from(id.clone())));
    }
    persistent.extend(config.log_fields);
    let (writer, log_guard) = match config.log_writer {
        LogWriter::Stdout => {
            let (w, g) = tracing_appender::non_blocking(std::io::stdout());
            (BoxMakeWriter::new(w), Some(g))
        }
        LogWriter::Stderr => {
            let (w, g) = tracing_appender::non_blocking(std::io::stderr());
            (BoxMakeWriter::new(w), Some(g))
        }
        LogWriter::Custom(w) => (w, None),
    };
    let json = log::JsonLayer::new(writer, persistent);
    let dispatch_slot = json.dispatch_slot();
    let logs = match &config.otlp_logs {
        Some(otlp) => Some(LogPipeline::otlp(otlp, config.log_batch).map_err(InitError::Logs)?),
        None => None,
    };
    // The same resource as the spans', so that a record and its span name one service.
    let bridge = logs
        .as_ref()
        .map(|logs| log::bridge(&logs.provider(resource.clone())));
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(otel_layer)
        .with(json)
        .with(bridge);

    let registry = config
        .registry
        .unwrap_or_else(|| Registry::global().clone());
    let namespace = config.namespace.as_deref();
    metrics::BuildInfo::new(config.service.clone(), config.version.clone())
        .register(&registry, namespace)?;
    registry.register_collector(ProcessCollector::new());
    let http_metrics = Arc::new(http::HttpMetrics::new(&registry, namespace)?);
    let health = Health::new(config.health);
    health.register_metrics(&registry, namespace);

    Ok((
        Telemetry {
            registry,
            health,
            http_metrics,
            provider,
            logs,
            log_guard,
        },
        {
            let dispatch = tracing::Dispatch::new(subscriber);
            let _ = dispatch_slot.set(dispatch.downgrade());
            dispatch
        },
    ))
}

impl Telemetry {
    /// The registry the node's metrics are served from.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The node's health checks; register checks here.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// A layer recording HTTP RED metrics; add it to the node's router with `Router::layer`.
    pub fn http_layer(&self) -> http::MetricsLayer {
        http::MetricsLayer::new(self.http_metrics.clone())
    }

    /// A layer running each HTTP request in a server span that continues the caller's trace.
    pub fn trace_layer(&self) -> http::TraceLayer {
        http::TraceLayer::new()
    }

    /// A router serving `/metrics` and the health endpoints.
    pub fn router(&self) -> Router {
        metrics_router(self.registry.clone()).merge(health::router(self.health.clone()))
    }

    /// What the OTLP log export has done so far (exported, dropped when its queue was
    /// full, failed), when it is configured.
    pub fn log_export_stats(&self) -> Option<PipelineStats> {
        self.logs.as_ref().map(LogPipeline::stats)
    }

    /// Flushes pending spans and log records and stops export, reporting what failed.
    pub fn shutdown(mut self) -> Result<(), String> {
        let traces = self.provider.shutdown().map_err(|e| e.to_string());
        // After the spans, so that what is logged while they are flushed is exported.
        let logs = match self.logs.take() {
            Some(logs) => logs.shutdown(),
            None => Ok(()),
        };
        drop(self.log_guard.take());
        match (traces, logs) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
            (Err(t), Err(l)) => Err(format!("{t}; {l}")),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Best effort: `shutdown` reports errors; here they have nowhere to go, and a second
        // shutdown after an explicit one only says so.
        let _ = self.provider.shutdown();
        if let Some(logs) = self.logs.take() {
            let _ = logs.shutdown();
        }
    }
}

/// Returns a router serving `registry` at `/metrics`, in the format the `Accept` header
/// asks for, gzip-compressed when `Accept-Encoding` allows.
pub fn metrics_router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(registry)
}

async fn serve_metrics(State(registry): State<Registry>, headers: HeaderMap) -> Response {
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let format = Format::negotiate(header_str(header::ACCEPT));
    let body = registry.encode(format);
    let mut response = if metrics::exposition::accepts_gzip(header_str(header::ACCEPT_ENCODING)) {
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4),
            flate2::Compression::fast(),
        );
        match gz.write_all(body.as_bytes()).and_then(|()| gz.finish()) {
            Ok(compressed) => {
                let mut r = compressed.into_response();
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            Err(e) => {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("gzip failed: {e}"),
                )
                    .into_response();
            }
        }
    } else {
        body.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::new("s", "1")
            .with_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn log_export_follows_the_opentelemetry_variables() {
        let none = with(&[]);
        assert!(none.otlp.is_none() && none.otlp_logs.is_none());

        let both = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        let logs = both
            .otlp_logs
            .as_ref()
            .map(|o| (o.endpoint.as_str(), o.protocol));
        assert_eq!(logs, Some(("http://c:4317", trace::Protocol::Grpc)));
        assert!(both.otlp.is_some());

        let own = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://l:3100/otlp/v1/logs",
            ),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
        ]);
        let logs = own
            .otlp_logs
            .as_ref()
            .map(|o| (o.endpoint.as_str(), o.protocol));
        assert_eq!(
            logs,
            Some(("http://l:3100/otlp/v1/logs", trace::Protocol::HttpProtobuf))
        );
        assert_eq!(
            own.otlp.as_ref().map(|o| o.protocol),
            Some(trace::Protocol::Grpc)
        );

        let off = with(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ]);
        assert!(off.otlp_logs.is_none() && off.otlp.is_some());
    }
}
