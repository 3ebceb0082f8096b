//! Log records exported over OTLP: one batching pipeline that any number of logger
//! providers feed, each record under its own provider's resource.
//!
//! [`crate::init`] sends the node's `tracing` events here when
//! [`Config::otlp_logs`](crate::Config::otlp_logs) is set: the OpenTelemetry project's
//! `tracing` bridge (`opentelemetry-appender-tracing`) turns each event into a log record
//! (severity from the level, body from the message, attributes from the fields, trace and
//! span ids from the span the event happened in), and a [`LogPipeline`] exports the
//! records in batches, under the same resource as the node's spans (`service.name`...).
//!
//! Like the span [`Pipeline`](crate::trace::Pipeline), the pipeline is one thread and one
//! exporter for any number of providers: a process that speaks for several services (a
//! simulator of a node network) gives each its [`LogPipeline::provider`] and emits records
//! through that provider's logger. The queue is bounded: a record that finds it full is
//! dropped and counted ([`PipelineStats::dropped`]), so a slow or absent collector never
//! blocks the code that logs.
//!
//! ```
//! use skywatch_sdk::log::{LogPipeline, Severity};
//! use skywatch_sdk::opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _};
//! use skywatch_sdk::opentelemetry_sdk::Resource;
//! use skywatch_sdk::trace::BatchOptions;
//!
//! let (pipeline, memory) = LogPipeline::memory(BatchOptions::default());
//! let resource = Resource::builder_empty().with_service_name("execution").build();
//! let logger = pipeline.provider(resource).logger("example");
//! let mut record = logger.create_log_record();
//! record.set_severity_number(Severity::Warn);
//! record.set_body("resource warning: WASM memory above 80% of the limit".into());
//! record.add_attribute("component", "execution");
//! logger.emit(record);
//! pipeline.flush().unwrap();
//!
//! let logs = memory.records();
//! assert_eq!(logs[0].service(), "execution");
//! assert_eq!(logs[0].severity(), Some(Severity::Warn));
//! assert_eq!(logs[0].attribute("component").as_deref(), Some("execution"));
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{AnyValue, LogRecord as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
#[cfg(feature = "otlp-grpc")]
use opentelemetry_sdk::logs::LogBatch;
#[cfg(feature = "otlp-grpc")]
use opentelemetry_sdk::logs::LogExporter;
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord, SdkLoggerProvider};

pub use opentelemetry::logs::Severity;

use crate::batch::{BatchOptions, Batcher, Export, Names, PipelineStats, lock};
use crate::trace::{OtlpConfig, TraceError};

/// The words of the log pipeline's thread and errors.
static NAMES: Names = Names {
    thread: "skywatch-log-export",
    signal: "log",
    items: "log records",
};

/// A record and the scope of the logger that made it.
type Item = (SdkLogRecord, InstrumentationScope);

/// A batching log record exporter that several logger providers share, each with its own
/// resource; see the [module documentation](self).
///
/// Clones share the pipeline. Its thread stops once the pipeline and every provider made
/// from it are dropped, after exporting what is queued; [`shutdown`](Self::shutdown)
/// stops it sooner.
#[derive(Clone)]
pub struct LogPipeline {
    batcher: Batcher<Item>,
}

impl std::fmt::Debug for LogPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogPipeline")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl LogPipeline {
    /// Exports over OTLP as `otlp` says (HTTP/protobuf to `<endpoint>/v1/logs`, or gRPC,
    /// by the protocol's cargo feature), in batches.
    ///
    /// Over gRPC, call it inside a tokio runtime, which drives the connection.
    ///
    /// Over HTTP, one request carries every resource of a batch (a simulator of many
    /// services makes one request a batch, not one per service); over gRPC, each resource
    /// of a batch is one export call, through `opentelemetry-otlp`'s exporter.
    pub fn otlp(otlp: &OtlpConfig, batch: BatchOptions) -> Result<Self, TraceError> {
        let disabled = || {
            Err(TraceError::FeatureDisabled(
                otlp.protocol,
                otlp.protocol.feature(),
            ))
        };
        match otlp.protocol {
            #[cfg(feature = "otlp-grpc")]
            crate::trace::Protocol::Grpc => Ok(Self {
                batcher: Batcher::spawn(
                    Records(crate::trace::grpc_log_exporter(otlp)?),
                    batch,
                    &NAMES,
                ),
            }),
            #[cfg(feature = "otlp-http")]
            crate::trace::Protocol::HttpProtobuf => Ok(Self {
                batcher: Batcher::spawn(http::HttpLogs::new(otlp)?, batch, &NAMES),
            }),
            #[allow(
                unreachable_patterns,
                reason = "reached when a protocol's feature is off"
            )]
            _ => {
                let _ = batch;
                disabled()
            }
        }
    }

    /// Keeps every exported record in memory, with its resource: for tests of code that
    /// logs.
    pub fn memory(batch: BatchOptions) -> (Self, MemoryLogs) {
        let memory = MemoryLogs::default();
        let exporter = MemoryExporter {
            records: memory.clone(),
        };
        (
            Self {
                batcher: Batcher::spawn(exporter, batch, &NAMES),
            },
            memory,
        )
    }

    /// A logger provider whose records carry `resource` and go through this pipeline.
    ///
    /// Build the resource with `Resource::builder_empty()` to send exactly the attributes
    /// given. Shutting the provider down flushes nothing and leaves the pipeline running
    /// for the others: flush or shut down the pipeline itself.
    pub fn provider(&self, resource: Resource) -> SdkLoggerProvider {
        SdkLoggerProvider::builder()
            .with_resource(resource)
            .with_log_processor(Feed {
                batcher: self.batcher.clone(),
                resource: Arc::new(Resource::builder_empty().build()),
            })
            .build()
    }

    /// Exports every record emitted before the call, and waits for it: an error is the
    /// exporter's.
    pub fn flush(&self) -> Result<(), String> {
        self.batcher.flush()
    }

    /// Exports every record queued, shuts the exporter down and stops the thread; records
    /// emitted later are dropped and counted.
    pub fn shutdown(&self) -> Result<(), String> {
        self.batcher.shutdown()
    }

    /// What the pipeline has done so far.
    pub fn stats(&self) -> PipelineStats {
        self.batcher.stats()
    }
}

/// The log processor of each provider: it hands emitted records, with the provider's
/// resource, to the pipeline's queue.
struct Feed {
    batcher: Batcher<Item>,
    resource: Arc<Resource>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl LogProcessor for Feed {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        // A `tracing` event has no time of its own: the moment it was seen is when it
        // happened, and receivers that index by time (Loki) want it in the record's time.
        if record.timestamp().is_none()
            && let Some(observed) = record.observed_timestamp()
        {
            record.set_timestamp(observed);
        }
        // Never blocks the code that logs: a full queue drops the record.
        self.batcher
            .offer(self.resource.clone(), (record.clone(), scope.clone()));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.batcher
            .flush()
            .map_err(opentelemetry_sdk::error::OTelSdkError::InternalFailure)
    }

    /// The pipeline outlives any one provider: nothing stops here.
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Arc::new(resource.clone());
    }
}

/// An OpenTelemetry log exporter as the batch thread's [`Export`].
#[cfg(feature = "otlp-grpc")]
struct Records<E>(E);

#[cfg(feature = "otlp-grpc")]
impl<E: LogExporter + 'static> Export for Records<E> {
    type Item = Item;

    fn export(&mut self, resource: &Resource, items: Vec<Item>) -> Result<(), String> {
        self.0.set_resource(resource);
        let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            items.iter().map(|(r, s)| (r, s)).collect();
        futures_executor::block_on(self.0.export(LogBatch::new(&refs))).map_err(|e| e.to_string())
    }

    fn shutdown(&mut self) -> Result<(), String> {
        self.0.shutdown().map_err(|e| e.to_string())
    }
}

#[cfg(feature = "otlp-http")]
mod http {
    //! OTLP/HTTP log export with every resource of a batch in one request.
    //!
    //! `opentelemetry-otlp`'s exporter holds one resource, so a pipeline fed by many
    //! providers would post one request per resource and batch: for the simulated
    //! network's 140 services, dozens of requests a second where one does. The request is
    //! built with `opentelemetry-proto`'s own conversion, resource by resource, and posted
    //! as that exporter posts it (protobuf, the configured headers, optionally gzip).

    use std::io::Write as _;
    use std::sync::Arc;

    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::logs::LogBatch;
    use prost::Message as _;

    use super::Item;
    use crate::batch::Export;
    use crate::trace::{OtlpConfig, TraceError};

    /// The exporter: where to post, and how.
    pub(super) struct HttpLogs {
        url: String,
        headers: Vec<(String, String)>,
        gzip: bool,
        client: reqwest::blocking::Client,
    }

    impl HttpLogs {
        pub(super) fn new(otlp: &OtlpConfig) -> Result<Self, TraceError> {
            let client = crate::trace::blocking_client(otlp.timeout, otlp.tls.as_ref()).map_err(
                |message| TraceError::Exporter {
                    endpoint: otlp.endpoint.clone(),
                    message,
                },
            )?;
            Ok(Self {
                url: crate::trace::http_signal_url(&otlp.endpoint, "/v1/logs"),
                headers: otlp.headers.clone(),
                gzip: otlp.gzip,
                client,
            })
        }

        /// Posts every group's records in one request.
        fn post(&self, groups: &[(Arc<Resource>, Vec<Item>)]) -> Result<(), String> {
            let mut request = ExportLogsServiceRequest {
                resource_logs: Vec::with_capacity(groups.len()),
            };
            for (resource, items) in groups {
                let refs: Vec<_> = items.iter().map(|(r, s)| (r, s)).collect();
                let batch = LogBatch::new(&refs);
                let resource = ResourceAttributesWithSchema::from(&**resource);
                request
                    .resource_logs
                    .extend(group_logs_by_resource_and_scope(&batch, &resource));
            }
            let mut body = request.encode_to_vec();
            let mut post = self
                .client
                .post(&self.url)
                .header(http::header::CONTENT_TYPE, "application/x-protobuf");
            for (name, value) in &self.headers {
                post = post.header(name.as_str(), value.as_str());
            }
            if self.gzip {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&body)
                    .map_err(|e| format!("gzip failed: {e}"))?;
                body = gz.finish().map_err(|e| format!("gzip failed: {e}"))?;
                post = post.header(http::header::CONTENT_ENCODING, "gzip");
            }
            let response = post
                .body(body)
                .send()
                .map_err(|e| format!("POST {} failed: {e}", self.url))?;
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("POST {} answered {status}", self.url))
            }
        }
    }

    impl Export for HttpLogs {
        type Item = Item;

        fn export(&mut self, resource: &Resource, items: Vec<Item>) -> Result<(), String> {
            self.post(&[(Arc::new(resource.clone()), items)])
        }

        fn export_groups(
            &mut self,
            groups: Vec<(Arc<Resource>, Vec<Item>)>,
        ) -> Vec<(u64, Result<(), String>)> {
            let count = groups.iter().map(|(_, items)| items.len() as u64).sum();
            vec![(count, self.post(&groups))]
        }

        fn shutdown(&mut self) -> Result<(), String> {
            Ok(())
        }
    }
}

/// A log record as exported, with the resource of the service that made it.
#[derive(Debug, Clone)]
pub struct ExportedLog {
    /// The resource of the provider that made the record.
    pub resource: Resource,
    /// The record.
    pub record: SdkLogRecord,
    /// The scope of the logger that made it.
    pub scope: InstrumentationScope,
}

impl ExportedLog {
    /// The resource's `service.name`.
    pub fn service(&self) -> String {
        self.resource_attribute("service.name").unwrap_or_default()
    }

    /// A resource attribute, as a string.
    pub fn resource_attribute(&self, key: &str) -> Option<String> {
        self.resource
            .get(&opentelemetry::Key::new(key.to_owned()))
            .map(|v| v.to_string())
    }

    /// A record attribute, as a string (a string as it is, other values in their
    /// debug form).
    pub fn attribute(&self, key: &str) -> Option<String> {
        self.record
            .attributes_iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| text(v))
    }

    /// The body, as a string.
    pub fn body(&self) -> Option<String> {
        self.record.body().map(text)
    }

    /// The severity.
    pub fn severity(&self) -> Option<Severity> {
        self.record.severity_number()
    }

    /// The trace id, in hex, when the record was made in a span.
    pub fn trace_id(&self) -> Option<String> {
        self.record
            .trace_context()
            .map(|cx| cx.trace_id.to_string())
    }

    /// The span id, in hex, when the record was made in a span.
    pub fn span_id(&self) -> Option<String> {
        self.record.trace_context().map(|cx| cx.span_id.to_string())
    }
}

fn text(value: &AnyValue) -> String {
    match value {
        AnyValue::String(s) => s.to_string(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => d.to_string(),
        AnyValue::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// The records a [`LogPipeline::memory`] exported, in the order they were exported.
#[derive(Debug, Clone, Default)]
pub struct MemoryLogs(Arc<Mutex<Vec<ExportedLog>>>);

impl MemoryLogs {
    /// Every record exported so far.
    pub fn records(&self) -> Vec<ExportedLog> {
        lock(&self.0).clone()
    }

    /// Forgets the records exported so far.
    pub fn clear(&self) {
        lock(&self.0).clear();
    }
}

/// The exporter behind [`LogPipeline::memory`].
struct MemoryExporter {
    records: MemoryLogs,
}

impl Export for MemoryExporter {
    type Item = Item;

    fn export(&mut self, resource: &Resource, items: Vec<Item>) -> Result<(), String> {
        lock(&self.records.0).extend(items.into_iter().map(|(record, scope)| ExportedLog {
            resource: resource.clone(),
            record,
            scope,
        }));
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::logs::{Logger as _, LoggerProvider as _};

    fn resource(service: &str) -> Resource {
        Resource::builder_empty()
            .with_service_name(service.to_owned())
            .build()
    }

    fn emit(provider: &SdkLoggerProvider, body: &'static str) {
        let logger = provider.logger("t");
        let mut record = logger.create_log_record();
        record.set_body(body.into());
        logger.emit(record);
    }

    #[test]
    fn each_record_keeps_the_resource_of_its_provider_and_gets_a_time() {
        let (pipeline, memory) = LogPipeline::memory(BatchOptions::default());
        let api = pipeline.provider(resource("api"));
        let p2p = pipeline.provider(resource("p2p"));
        emit(&api, "a1");
        emit(&p2p, "p1");
        emit(&api, "a2");
        pipeline.flush().unwrap();
        let seen: Vec<(String, String)> = memory
            .records()
            .iter()
            .map(|r| (r.body().unwrap(), r.service()))
            .collect();
        assert_eq!(
            seen,
            [
                ("a1".into(), "api".into()),
                ("a2".into(), "api".into()),
                ("p1".into(), "p2p".into())
            ]
        );
        assert!(
            memory
                .records()
                .iter()
                .all(|r| r.record.timestamp().is_some())
        );
        assert_eq!(pipeline.stats().exported, 3);
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let (batcher, _receiver) = Batcher::stuck(1, &NAMES);
        let stuck = LogPipeline { batcher };
        let provider = stuck.provider(resource("api"));
        for _ in 0..3 {
            emit(&provider, "x");
        }
        assert_eq!(stuck.stats().dropped, 2);
    }

    #[test]
    fn shutdown_exports_what_is_queued_and_later_records_are_dropped() {
        let (pipeline, memory) = LogPipeline::memory(BatchOptions::default());
        let provider = pipeline.provider(resource("api"));
        emit(&provider, "before");
        pipeline.shutdown().unwrap();
        assert_eq!(memory.records().len(), 1);
        emit(&provider, "after");
        assert_eq!(pipeline.stats().dropped, 1);
        assert_eq!(
            pipeline.flush().unwrap_err(),
            "the log export thread has stopped"
        );
    }
}
