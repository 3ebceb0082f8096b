//! One export pipeline for several services of one process, each span keeping its own
//! service's resource.
//!
//! OpenTelemetry ties a resource (`service.name`, `service.instance.id`...) to a tracer
//! provider, and its batch processor to one provider: a process that speaks for several
//! services, a simulator of a node network or a gateway, would need a batch thread and a
//! connection per service. A [`Pipeline`] is one batch thread and one exporter that any
//! number of providers feed: [`Pipeline::provider`] builds a provider for one resource
//! whose finished spans go, with that resource, into the pipeline's queue; the thread
//! exports a batch as one export call per resource in it.
//!
//! The queue is bounded: a span that finds it full is dropped and counted
//! ([`PipelineStats::dropped`]), as OpenTelemetry's batch processor does, so that a slow
//! collector never blocks the code that ends spans.
//!
//! ```
//! use skywatch_sdk::opentelemetry::trace::{Tracer as _, TracerProvider as _};
//! use skywatch_sdk::opentelemetry_sdk::Resource;
//! use skywatch_sdk::trace::{BatchOptions, Pipeline};
//!
//! let (pipeline, memory) = Pipeline::memory(BatchOptions::default());
//! for node in ["node-01", "node-02"] {
//!     let resource = Resource::builder_empty()
//!         .with_service_name("execution")
//!         .with_attribute(skywatch_sdk::opentelemetry::KeyValue::new(
//!             "service.instance.id",
//!             node,
//!         ))
//!         .build();
//!     pipeline.provider(resource, 1.0).tracer("example").in_span("task.execute", |_| {});
//! }
//! pipeline.flush().unwrap();
//! let instances: Vec<String> = memory
//!     .spans()
//!     .iter()
//!     .map(|s| s.resource_attribute("service.instance.id").unwrap())
//!     .collect();
//! assert_eq!(instances, ["node-01", "node-02"]);
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor};

pub use crate::batch::{BatchOptions, PipelineStats};
use crate::batch::{Batcher, Export, Names, lock};

use super::{OtlpConfig, TraceError};

/// The words of the span pipeline's thread and errors.
static NAMES: Names = Names {
    thread: "skywatch-span-export",
    signal: "span",
    items: "spans",
};

/// A batching span exporter that several tracer providers share, each with its own
/// resource; see the [module documentation](self).
///
/// Clones share the pipeline. Its thread stops once the pipeline and every provider made
/// from it are dropped, after exporting what is queued; [`shutdown`](Self::shutdown)
/// stops it sooner.
#[derive(Clone)]
pub struct Pipeline {
    batcher: Batcher<SpanData>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// An OpenTelemetry span exporter as the batch thread's [`Export`].
struct Spans<E>(E);

impl<E: SpanExporter + 'static> Export for Spans<E> {
    type Item = SpanData;

    fn export(&mut self, resource: &Resource, items: Vec<SpanData>) -> Result<(), String> {
        self.0.set_resource(resource);
        futures_executor::block_on(self.0.export(items)).map_err(|e| e.to_string())
    }

    fn shutdown(&mut self) -> Result<(), String> {
        self.0.shutdown().map_err(|e| e.to_string())
    }
}

impl Pipeline {
    /// Exports over OTLP as `otlp` says (HTTP/protobuf or gRPC, by the protocol's cargo
    /// feature), in batches.
    ///
    /// Over gRPC, call it inside a tokio runtime, which drives the connection.
    pub fn otlp(otlp: &OtlpConfig, batch: BatchOptions) -> Result<Self, TraceError> {
        #[cfg(any(feature = "otlp-http", feature = "otlp-grpc"))]
        {
            Ok(Self::spawn(super::exporter(otlp)?, batch))
        }
        #[cfg(not(any(feature = "otlp-http", feature = "otlp-grpc")))]
        {
            let _ = batch;
            Err(TraceError::FeatureDisabled(
                otlp.protocol,
                otlp.protocol.feature(),
            ))
        }
    }

    /// Keeps every exported span in memory, with its resource: for tests of code that
    /// makes spans.
    pub fn memory(batch: BatchOptions) -> (Self, MemorySpans) {
        let memory = MemorySpans::default();
        let exporter = MemoryExporter {
            spans: memory.clone(),
            resource: Resource::builder_empty().build(),
        };
        (Self::spawn(exporter, batch), memory)
    }

    /// Starts the export thread over `exporter`.
    fn spawn<E: SpanExporter + 'static>(exporter: E, batch: BatchOptions) -> Self {
        Self {
            batcher: Batcher::spawn(Spans(exporter), batch, &NAMES),
        }
    }

    /// A tracer provider whose spans carry `resource` and go through this pipeline,
    /// sampled parent-based with `sample_ratio` for new traces (as [`crate::Config`]'s
    /// `sample_ratio`).
    ///
    /// Build the resource with `Resource::builder_empty()` to send exactly the attributes
    /// given (the default builder adds `telemetry.sdk.*` and reads `OTEL_SERVICE_NAME`).
    /// Shutting the provider down flushes nothing and leaves the pipeline running for the
    /// others: flush or shut down the pipeline itself.
    pub fn provider(&self, resource: Resource, sample_ratio: f64) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_resource(resource)
            .with_sampler(super::sampler(sample_ratio))
            .with_span_processor(Feed {
                batcher: self.batcher.clone(),
                resource: Arc::new(Resource::builder_empty().build()),
            })
            .build()
    }

    /// Exports every span ended before the call, and waits for it: an error is the
    /// exporter's.
    pub fn flush(&self) -> Result<(), String> {
        self.batcher.flush()
    }

    /// Exports every span queued, shuts the exporter down and stops the thread; spans
    /// ended later are dropped and counted.
    pub fn shutdown(&self) -> Result<(), String> {
        self.batcher.shutdown()
    }

    /// What the pipeline has done so far.
    pub fn stats(&self) -> PipelineStats {
        self.batcher.stats()
    }
}

/// The span processor of each provider: it hands finished spans, with the provider's
/// resource, to the pipeline's queue.
struct Feed {
    batcher: Batcher<SpanData>,
    resource: Arc<Resource>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl SpanProcessor for Feed {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        // Never blocks the code ending the span: a full queue drops it.
        self.batcher.offer(self.resource.clone(), span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.batcher.flush().map_err(OTelSdkError::InternalFailure)
    }

    /// The pipeline outlives any one provider: nothing stops here.
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Arc::new(resource.clone());
    }
}

/// A span as exported, with the resource of the service that made it.
#[derive(Debug, Clone)]
pub struct ExportedSpan {
    /// The resource of the provider that made the span.
    pub resource: Resource,
    /// The span.
    pub span: SpanData,
}

impl ExportedSpan {
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

    /// A span attribute.
    pub fn attribute(&self, key: &str) -> Option<&opentelemetry::Value> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }
}

/// The spans a [`Pipeline::memory`] exported, in the order they were exported.
#[derive(Debug, Clone, Default)]
pub struct MemorySpans(Arc<Mutex<Vec<ExportedSpan>>>);

impl MemorySpans {
    /// Every span exported so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        lock(&self.0).clone()
    }

    /// Forgets the spans exported so far.
    pub fn clear(&self) {
        lock(&self.0).clear();
    }
}

/// The exporter behind [`Pipeline::memory`].
#[derive(Debug)]
struct MemoryExporter {
    spans: MemorySpans,
    resource: Resource,
}

impl SpanExporter for MemoryExporter {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let mut spans = lock(&self.spans.0);
        spans.extend(batch.into_iter().map(|span| ExportedSpan {
            resource: self.resource.clone(),
            span,
        }));
        std::future::ready(Ok(()))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};

    fn resource(service: &str, instance: &str) -> Resource {
        Resource::builder_empty()
            .with_service_name(service.to_owned())
            .with_attribute(KeyValue::new("service.instance.id", instance.to_owned()))
            .build()
    }

    #[test]
    fn each_span_keeps_the_resource_of_its_provider() {
        let (pipeline, memory) = Pipeline::memory(BatchOptions::default());
        let api = pipeline.provider(resource("api", "node-01"), 1.0);
        let p2p = pipeline.provider(resource("p2p", "node-02"), 1.0);
        // Interleaved, so that one batch holds both resources twice.
        api.tracer("t").in_span("a1", |_| {});
        p2p.tracer("t").in_span("p1", |_| {});
        api.tracer("t").in_span("a2", |_| {});
        pipeline.flush().unwrap();
        let seen: Vec<(String, String, String)> = memory
            .spans()
            .iter()
            .map(|s| {
                (
                    s.span.name.to_string(),
                    s.service(),
                    s.resource_attribute("service.instance.id").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("a1".into(), "api".into(), "node-01".into()),
                ("a2".into(), "api".into(), "node-01".into()),
                ("p1".into(), "p2p".into(), "node-02".into()),
            ]
        );
        assert_eq!(pipeline.stats().exported, 3);
    }

    #[test]
    fn a_full_batch_goes_without_waiting_for_the_delay() {
        let (pipeline, memory) = Pipeline::memory(BatchOptions {
            max_queue: 64,
            max_batch: 4,
            delay: Duration::from_secs(3600),
        });
        let tracer = pipeline.provider(resource("api", "n"), 1.0).tracer("t");
        for _ in 0..4 {
            tracer.in_span("s", |_| {});
        }
        // The batch is full: it is exported without a flush, long before the delay.
        let began = Instant::now();
        while memory.spans().len() < 4 {
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "a full batch was not exported"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn unsampled_spans_are_not_exported_and_a_full_queue_drops_and_counts() {
        let (pipeline, memory) = Pipeline::memory(BatchOptions::default());
        pipeline
            .provider(resource("api", "n"), 0.0)
            .tracer("t")
            .in_span("never", |_| {});
        pipeline.flush().unwrap();
        assert!(memory.spans().is_empty());

        // A pipeline whose thread is busy: its queue of one fills.
        let (batcher, _receiver) = Batcher::stuck(1, &NAMES);
        let stuck = Pipeline { batcher };
        let tracer = stuck.provider(resource("api", "n"), 1.0).tracer("t");
        for _ in 0..3 {
            tracer.in_span("s", |_| {});
        }
        assert_eq!(stuck.stats().dropped, 2);
    }

    #[test]
    fn shutdown_exports_what_is_queued_and_later_spans_are_dropped() {
        let (pipeline, memory) = Pipeline::memory(BatchOptions::default());
        let tracer = pipeline.provider(resource("api", "n"), 1.0).tracer("t");
        tracer.in_span("before", |_| {});
        pipeline.shutdown().unwrap();
        assert_eq!(memory.spans().len(), 1);
        tracer.in_span("after", |_| {});
        assert_eq!(pipeline.stats().dropped, 1);
        assert_eq!(
            pipeline.flush().unwrap_err(),
            "the span export thread has stopped"
        );
    }
}

#[cfg(all(test, feature = "otlp-http"))]
mod otlp_tests {
    //! The pipeline over OTLP/HTTP against a receiver on loopback: one request per
    //! resource, each span under its own service.

    use std::sync::{Arc, Mutex};

    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spans_of_several_services_reach_a_collector_each_under_its_resource() {
        let received: Arc<Mutex<Vec<ExportTraceServiceRequest>>> = Arc::default();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post({
                let received = received.clone();
                move |body: axum::body::Bytes| async move {
                    let request = ExportTraceServiceRequest::decode(body).unwrap();
                    received.lock().unwrap().push(request);
                    ""
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let pipeline = Pipeline::otlp(
            &OtlpConfig::http(format!("http://{addr}")),
            BatchOptions::default(),
        )
        .unwrap();
        let pipeline_for_spans = pipeline.clone();
        // The exporter's blocking client must not be called from the async workers.
        tokio::task::spawn_blocking(move || {
            for (service, node) in [("api", "node-01"), ("p2p", "node-02"), ("api", "node-03")] {
                let resource = Resource::builder_empty()
                    .with_service_name(service)
                    .with_attribute(KeyValue::new("service.instance.id", node))
                    .build();
                pipeline_for_spans
                    .provider(resource, 1.0)
                    .tracer("test")
                    .in_span(format!("{service} work"), |_| {});
            }
            pipeline_for_spans.flush().unwrap();
        })
        .await
        .unwrap();
        let mut seen: Vec<(String, String, String)> = Vec::new();
        for request in received.lock().unwrap().iter() {
            for rs in &request.resource_spans {
                let attr = |key: &str| {
                    rs.resource
                        .as_ref()
                        .unwrap()
                        .attributes
                        .iter()
                        .find(|kv| kv.key == key)
                        .and_then(|kv| kv.value.as_ref())
                        .map(|v| format!("{:?}", v.value))
                        .unwrap()
                };
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        seen.push((
                            span.name.clone(),
                            attr("service.name"),
                            attr("service.instance.id"),
                        ));
                    }
                }
            }
        }
        seen.sort();
        let string = |s: &str| {
            format!(
                "{:?}",
                Some(
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                        s.to_owned()
                    )
                )
            )
        };
        assert_eq!(
            seen,
            [
                ("api work".to_owned(), string("api"), string("node-01")),
                ("api work".to_owned(), string("api"), string("node-03")),
                ("p2p work".to_owned(), string("p2p"), string("node-02")),
            ]
        );
        assert_eq!(pipeline.stats().exported, 3);
        assert_eq!(pipeline.stats().last_error, None);
    }
}
