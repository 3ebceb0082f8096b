//! The receiver: what the HTTP and gRPC transports share. It checks the limits, hands
//! each signal to where it is kept, answers with OTLP's partial success, and counts what
//! it received and refused.
//!
//! Its calls are synchronous and may do I/O (the span store's write-ahead log): async
//! callers run them on `spawn_blocking`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use spans::{SpanError, SpanStore};
use storage::Appendable;

use crate::body::{self, Encoding};
use crate::logs::{self, LogError, LogSink};
use crate::{metrics, traces};

/// The receivers' limits; each refusal names the limit and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body, in bytes, once decompressed (HTTP) or the largest gRPC
    /// message. OTLP recommends 20 MiB, the default. Over it: HTTP 413, gRPC
    /// `RESOURCE_EXHAUSTED`, and nothing of the request is kept.
    pub max_request_body_bytes: usize,
    /// The most spans one request may carry (default 100,000): a request with more is
    /// refused whole, as too large (HTTP 413, gRPC `RESOURCE_EXHAUSTED`).
    pub max_spans_per_request: usize,
    /// The longest string or bytes attribute value of a span, resource, scope, event or
    /// link, in bytes (default 2,048): longer values are cut (at a character boundary)
    /// and the span kept, as Tempo's distributor cuts values over its
    /// `max_attribute_bytes`; the response's partial success says how many were cut.
    pub max_attribute_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_body_bytes: 20 << 20,
            max_spans_per_request: 100_000,
            max_attribute_value_bytes: 2048,
        }
    }
}

/// Why a request was refused whole. Each kind maps to one HTTP status and one gRPC code,
/// as the OTLP specification assigns them; only [`ExportError::Unavailable`] and
/// [`ExportError::RateLimited`] are worth a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The body cannot be decoded or is invalid as a whole (HTTP 400, gRPC
    /// `INVALID_ARGUMENT`); retrying does not help.
    #[error("{message}")]
    BadData {
        /// Where decoding failed and what would fix it.
        message: String,
    },
    /// A limit was exceeded (HTTP 413, gRPC `RESOURCE_EXHAUSTED` without retry info).
    #[error("{limit} ({value}) exceeded: {message}")]
    TooLarge {
        /// The limit's name, as configured.
        limit: &'static str,
        /// Its value.
        value: u64,
        /// What was too large and what would fix it.
        message: String,
    },
    /// The sender is over its ingestion rate (HTTP 429, gRPC `RESOURCE_EXHAUSTED`); it
    /// may retry later, as OTLP has it for 429.
    #[error("{message}")]
    RateLimited {
        /// Whose rate, which limit, and what would fix it.
        message: String,
    },
    /// The content type or encoding is not one OTLP/HTTP uses (HTTP 415).
    #[error("{0}")]
    Unsupported(String),
    /// The signal has nowhere to go on this server (HTTP 501, gRPC `UNIMPLEMENTED`).
    #[error("{0}")]
    NotStored(String),
    /// The store cannot take data now (HTTP 503, gRPC `UNAVAILABLE`); the sender should
    /// retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed in a way a retry does not fix (HTTP 500, gRPC `INTERNAL`).
    #[error("{0}")]
    Internal(String),
}

impl ExportError {
    /// The HTTP status OTLP/HTTP answers it with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadData { .. } => 400,
            Self::TooLarge { .. } => 413,
            Self::RateLimited { .. } => 429,
            Self::Unsupported(_) => 415,
            Self::NotStored(_) => 501,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The gRPC status code OTLP/gRPC answers it with (and OTLP/HTTP's `Status.code`):
    /// `INVALID_ARGUMENT` (3), `RESOURCE_EXHAUSTED` without retry info (8),
    /// `UNIMPLEMENTED` (12), `UNAVAILABLE` (14) or `INTERNAL` (13).
    pub fn grpc_code(&self) -> i32 {
        match self {
            Self::BadData { .. } | Self::Unsupported(_) => 3,
            Self::TooLarge { .. } | Self::RateLimited { .. } => 8,
            Self::NotStored(_) => 12,
            Self::Unavailable(_) => 14,
            Self::Internal(_) => 13,
        }
    }

    /// The outcome's label on `skywatch_otlp_requests_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::BadData { .. } => "bad_data",
            Self::TooLarge { .. } => "too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unsupported(_) => "unsupported",
            Self::NotStored(_) => "not_stored",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// A request the receiver took: what it refused of it, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Items (spans, data points, log records) kept.
    pub kept: u64,
    /// Items refused.
    pub rejected: u64,
    /// The partial success's message; `None` when everything was kept as sent, which
    /// leaves `partial_success` unset, as OTLP requires.
    pub message: Option<String>,
}

/// OTLP's signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces = 0,
    /// Metric data points.
    Metrics = 1,
    /// Log records.
    Logs = 2,
}

impl Signal {
    /// Every signal.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// `traces`, `metrics` or `logs`: the label value and the URL path's last part.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
        }
    }
}

/// The transport a request came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC.
    Grpc = 0,
    /// OTLP/HTTP.
    Http = 1,
}

impl Protocol {
    /// Both transports.
    pub const ALL: [Protocol; 2] = [Protocol::Grpc, Protocol::Http];

    /// `grpc` or `http`, the label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Http => "http",
        }
    }
}

/// The outcomes `skywatch_otlp_requests_total` counts, in order.
pub const OUTCOMES: [&str; 9] = [
    "ok",
    "partial",
    "bad_data",
    "too_large",
    "unsupported",
    "not_stored",
    "unavailable",
    "internal",
    "rate_limited",
];

#[derive(Debug, Default)]
struct Counts {
    received: AtomicU64,
    rejected: AtomicU64,
    requests: [AtomicU64; OUTCOMES.len()],
}

/// What one signal received over one transport since the server started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// The signal.
    pub signal: Signal,
    /// The transport.
    pub protocol: Protocol,
    /// Items kept.
    pub received: u64,
    /// Items refused: rejected in a partial success, or in a request refused whole once
    /// it was decoded.
    pub rejected: u64,
    /// Requests by outcome, in the order of [`OUTCOMES`].
    pub requests: [u64; OUTCOMES.len()],
}

/// Where the receiver sends each signal.
#[derive(Default)]
pub struct ReceiverOptions {
    /// The span store; without one, trace requests are refused as not stored.
    pub spans: Option<Arc<dyn SpanStore>>,
    /// Where metric samples go; without it, metric requests are refused as not stored.
    pub metrics: Option<Arc<dyn Appendable>>,
    /// Where log records go; without it, log requests are refused: logs are not stored
    /// yet.
    pub logs: Option<Arc<dyn LogSink>>,
    /// The limits.
    pub limits: Limits,
    /// What a gRPC request passes before anything else is done with it, given its tenant
    /// (`X-Scope-OrgID`, else the client's IP address) and its size: the server's
    /// ingestion rate. `None` lets every request in. (The HTTP routes, in `api`, apply
    /// the same rate themselves.)
    pub admit: Option<Admit>,
}

/// A gate a request passes first, given its tenant and size in bytes; its refusal is the
/// request's answer.
pub type Admit = Arc<dyn Fn(&str, usize) -> Result<(), ExportError> + Send + Sync>;

/// Takes OTLP requests of every signal; see the module's docs.
pub struct Receiver {
    options: ReceiverOptions,
    counts: [[Counts; 2]; 3],
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("limits", &self.options.limits)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver sending each signal where `options` says.
    pub fn new(options: ReceiverOptions) -> Self {
        Self {
            options,
            counts: Default::default(),
        }
    }

    /// Passes a request of `tenant` and `bytes` through the gate, if there is one; a
    /// refusal is counted.
    pub fn admit(
        &self,
        signal: Signal,
        protocol: Protocol,
        tenant: &str,
        bytes: usize,
    ) -> Result<(), ExportError> {
        let Some(admit) = &self.options.admit else {
            return Ok(());
        };
        admit(tenant, bytes).inspect_err(|e| self.count_refused(signal, protocol, e))
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &Limits {
        &self.options.limits
    }

    /// What it received, by signal and transport.
    pub fn figures(&self) -> Vec<Figures> {
        let mut out = Vec::new();
        for signal in Signal::ALL {
            for protocol in Protocol::ALL {
                let c = &self.counts[signal as usize][protocol as usize];
                out.push(Figures {
                    signal,
                    protocol,
                    received: c.received.load(Ordering::Relaxed),
                    rejected: c.rejected.load(Ordering::Relaxed),
                    requests: std::array::from_fn(|i| c.requests[i].load(Ordering::Relaxed)),
                });
            }
        }
        out
    }

    /// Counts a request refused before it could be decoded (a transport's own check).
    pub fn count_refused(&self, signal: Signal, protocol: Protocol, error: &ExportError) {
        self.count(signal, protocol, 0, &Err(error.clone()));
    }

    fn count(
        &self,
        signal: Signal,
        protocol: Protocol,
        items: u64,
        result: &Result<Accepted, ExportError>,
    ) {
        let c = &self.counts[signal as usize][protocol as usize];
        let outcome = match result {
            Ok(a) => {
                c.received.fetch_add(a.kept, Ordering::Relaxed);
                c.rejected.fetch_add(a.rejected, Ordering::Relaxed);
                if a.message.is_some() { "partial" } else { "ok" }
            }
            Err(e) => {
                c.rejected.fetch_add(items, Ordering::Relaxed);
                e.outcome()
            }
        };
        let i = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(0);
        c.requests[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Decodes an OTLP/HTTP body of `signal` and exports it; the encoding of the answer
    /// is the request's (JSON when the content type is not one OTLP uses).
    pub fn receive_http(
        &self,
        signal: Signal,
        body: &[u8],
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> (Encoding, Result<Accepted, ExportError>) {
        let encoding = match Encoding::from_content_type(content_type) {
            Ok(e) => e,
            Err(e) => {
                self.count_refused(signal, Protocol::Http, &e);
                return (Encoding::Json, Err(e));
            }
        };
        let decoded =
            body::decompress(body, content_encoding, self.limits().max_request_body_bytes);
        let result = decoded.and_then(|body| match signal {
            Signal::Traces => {
                body::traces(&body, encoding).map(|r| self.export_traces(Protocol::Http, r))
            }
            Signal::Metrics => {
                body::metrics(&body, encoding).map(|r| self.export_metrics(Protocol::Http, r))
            }
            Signal::Logs => {
                body::logs(&body, encoding).map(|r| self.export_logs(Protocol::Http, r))
            }
        });
        match result {
            Ok(exported) => (encoding, exported),
            Err(e) => {
                self.count_refused(signal, Protocol::Http, &e);
                (encoding, Err(e))
            }
        }
    }

    /// Keeps the spans of a request: all but those with invalid IDs, which are counted in
    /// the answer; or none, if a limit is exceeded or the store fails.
    pub fn export_traces(
        &self,
        protocol: Protocol,
        request: ExportTraceServiceRequest,
    ) -> Result<Accepted, ExportError> {
        let n = traces::count(&request.resource_spans) as u64;
        let result = self.traces(request, n);
        self.count(Signal::Traces, protocol, n, &result);
        result
    }

    fn traces(&self, request: ExportTraceServiceRequest, n: u64) -> Result<Accepted, ExportError> {
        let Some(store) = &self.options.spans else {
            return Err(ExportError::NotStored(
                "traces are not stored by this server: it has no span store".into(),
            ));
        };
        let limits = self.limits();
        if n > limits.max_spans_per_request as u64 {
            return Err(ExportError::TooLarge {
                limit: "max_spans_per_request",
                value: limits.max_spans_per_request as u64,
                message: format!(
                    "the request holds {n} spans; send smaller batches (the exporter's batch size) or raise the limit"
                ),
            });
        }
        let received = traces::from_otlp(request.resource_spans, limits.max_attribute_value_bytes);
        if !received.spans.is_empty() {
            store.append(&received.spans).map_err(span_error)?;
        }
        Ok(Accepted {
            kept: received.spans.len() as u64,
            rejected: received.rejected,
            message: received.message(),
        })
    }

    /// Appends the samples of a request's data points; refused points are counted in
    /// the answer.
    pub fn export_metrics(
        &self,
        protocol: Protocol,
        request: ExportMetricsServiceRequest,
    ) -> Result<Accepted, ExportError> {
        let n = request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(metric_points)
            .sum::<usize>() as u64;
        let result = match &self.options.metrics {
            None => Err(ExportError::NotStored(
                "metrics are not stored by this server: it has no metric storage".into(),
            )),
            Some(store) => metrics::append(store.as_ref(), request.resource_metrics)
                .map(|a| Accepted {
                    kept: a.accepted,
                    rejected: a.rejected,
                    message: a.message(),
                })
                .map_err(|e| ExportError::Unavailable(format!("the metric storage failed: {e}"))),
        };
        self.count(Signal::Metrics, protocol, n, &result);
        result
    }

    /// Hands a request's log records to the log sink.
    pub fn export_logs(
        &self,
        protocol: Protocol,
        request: ExportLogsServiceRequest,
    ) -> Result<Accepted, ExportError> {
        let n = logs::count(&request.resource_logs) as u64;
        let result = match &self.options.logs {
            None => Err(ExportError::NotStored(
                "logs are not stored yet: this server has no log store, so the records were not kept; send logs to another backend for now"
                    .into(),
            )),
            Some(sink) => match sink.append(request.resource_logs) {
                Ok(refused) => Ok(Accepted {
                    kept: n.saturating_sub(refused.records),
                    rejected: refused.records,
                    message: refused.message,
                }),
                Err(LogError::Unavailable(e)) => Err(ExportError::Unavailable(e)),
                Err(LogError::Failed(e)) => Err(ExportError::Internal(e)),
            },
        };
        self.count(Signal::Logs, protocol, n, &result);
        result
    }
}

fn metric_points(m: &opentelemetry_proto::tonic::metrics::v1::Metric) -> usize {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    match &m.data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    }
}

/// A span store's failure as the sender should see it.
fn span_error(e: SpanError) -> ExportError {
    match e {
        SpanError::Io { .. } | SpanError::Closed => {
            ExportError::Unavailable(format!("the span store cannot take spans now: {e}"))
        }
        SpanError::Limit { .. } => ExportError::Unavailable(format!("the span store is full: {e}")),
        // Invalid spans were filtered out before; a store that still refuses the batch
        // will refuse it again.
        SpanError::Invalid { .. } | SpanError::Corrupt { .. } => {
            ExportError::Internal(format!("the span store refused the spans: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use spans::{MemSpans, Window};

    fn request(n: u8) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: (1..=n)
                        .map(|i| Span {
                            trace_id: vec![1; 16],
                            span_id: vec![i; 8],
                            ..Span::default()
                        })
                        .collect(),
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    fn figures(r: &Receiver, signal: Signal, protocol: Protocol) -> Figures {
        r.figures()
            .into_iter()
            .find(|f| f.signal == signal && f.protocol == protocol)
            .unwrap()
    }

    #[test]
    fn spans_are_kept_counted_and_limited_by_name() {
        let store = Arc::new(MemSpans::new());
        let r = Receiver::new(ReceiverOptions {
            spans: Some(store.clone()),
            limits: Limits {
                max_spans_per_request: 3,
                ..Limits::default()
            },
            ..ReceiverOptions::default()
        });
        let mut req = request(3);
        req.resource_spans[0].scope_spans[0].spans[1].span_id = vec![0; 8];
        let a = r.export_traces(Protocol::Grpc, req).unwrap();
        assert_eq!((a.kept, a.rejected), (2, 1));
        assert_eq!(
            store
                .trace(&spans::TraceId([1; 16]), Window::ALL)
                .unwrap()
                .len(),
            2
        );
        let e = r.export_traces(Protocol::Grpc, request(4)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "max_spans_per_request (3) exceeded: the request holds 4 spans; send smaller batches \
             (the exporter's batch size) or raise the limit"
        );
        let f = figures(&r, Signal::Traces, Protocol::Grpc);
        assert_eq!((f.received, f.rejected), (2, 1 + 4));
        assert_eq!(f.requests[1], 1, "one partial success");
        assert_eq!(f.requests[3], 1, "one refused as too large");
    }

    #[test]
    fn a_signal_without_a_destination_is_refused_saying_so() {
        let r = Receiver::new(ReceiverOptions::default());
        let e = r
            .export_logs(Protocol::Http, ExportLogsServiceRequest::default())
            .unwrap_err();
        assert!(matches!(e, ExportError::NotStored(_)));
        assert!(e.to_string().starts_with("logs are not stored yet"), "{e}");
        let (encoding, result) =
            r.receive_http(Signal::Traces, b"{}", Some("application/json"), None);
        assert_eq!(encoding, Encoding::Json);
        assert!(matches!(result, Err(ExportError::NotStored(_))));
        let (_, result) = r.receive_http(Signal::Traces, b"{}", Some("text/csv"), None);
        assert!(matches!(result, Err(ExportError::Unsupported(_))));
        assert_eq!(figures(&r, Signal::Traces, Protocol::Http).requests[4], 1);
    }
}
