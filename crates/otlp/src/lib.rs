//! OTLP, decoded in one place: the OpenTelemetry protocol's requests for traces, metrics
//! and logs, read from protobuf or OTLP/JSON into the generated types of
//! `opentelemetry-proto`, and from there into what Skywatch keeps.
//!
//! Traces become [`spans::Span`]s ([`traces::from_otlp`]), and a trace read back goes out
//! as OTLP again ([`traces::to_otlp`], then protobuf or [`json::write_traces`]), which is
//! what Tempo's `/api/traces/{id}` answers with.
//!
//! ```
//! use prost::Message as _;
//! use spans::{Span, SpanId, TraceId};
//!
//! let trace: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
//! let mut span = Span::new(trace, SpanId([1; 8]), "GET /api/tasks", 1_000, 9_000);
//! span.resource = spans::Resource::service("api").into();
//!
//! let data = otlp::traces::to_otlp(&[span]);
//! let json = otlp::json::write_traces(&data);
//! assert_eq!(
//!     json["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"],
//!     "4bf92f3577b34da6a3ce929d0e0e4736"
//! );
//! assert_eq!(
//!     json["resourceSpans"][0]["resource"]["attributes"][0],
//!     serde_json::json!({"key": "service.name", "value": {"stringValue": "api"}})
//! );
//!
//! // The protobuf encoding reads back into the same spans.
//! let bytes = data.encode_to_vec();
//! let back = otlp::proto::trace::v1::TracesData::decode(bytes.as_slice()).unwrap();
//! let received = otlp::traces::from_otlp(back.resource_spans, usize::MAX);
//! assert_eq!(received.spans[0].name, "GET /api/tasks");
//! assert_eq!(received.spans[0].service_name(), "api");
//! ```

pub mod body;
pub mod grpc;
pub mod json;
pub mod logs;
pub mod metrics;
mod receiver;
pub mod traces;

pub use body::Encoding;
pub use logs::LogSink;
pub use receiver::*;

/// The generated OTLP types (`opentelemetry-proto`'s prost and tonic code).
pub use opentelemetry_proto::tonic as proto;
