//! Metrics derived from spans, written into the series store under the names Tempo's
//! metrics-generator gives them, so that Grafana's Tempo data source draws its service
//! graph and its RED table (rate, errors, duration by span name) from Skywatch's
//! Prometheus API exactly as it draws them from a Prometheus that Tempo writes to.
//!
//! Two processors run over every batch of spans the server accepts:
//!
//! - **span metrics** ([`span_metrics`]): one call, one latency observation and the
//!   span's size, labelled `service`, `span_name`, `span_kind` and `status_code`
//!   (`traces_spanmetrics_calls_total`, `traces_spanmetrics_latency_bucket`/`_sum`/`_count`,
//!   `traces_spanmetrics_size_total`);
//! - **service graphs** ([`service_graphs`]): a client span paired with the server span
//!   it called (or a producer span with its consumer span) is one request from the
//!   client's service to the server's (`traces_service_graph_request_total`,
//!   `_failed_total`, `_server_seconds_*`, `_client_seconds_*`), labelled `client`,
//!   `server` and `connection_type`.
//!
//! Counters and histograms are cumulative and kept in memory; every collection interval
//! (15 s) each series is written with one sample, as Tempo remote-writes its registry.
//! A series without an update for the stale duration (15 m) is forgotten and marked
//! stale. The number of series is capped (see [`Config::max_active_series`]).
//!
//! ```
//! use std::sync::Arc;
//! use model::Matcher;
//! use spans::{Resource, Span, SpanId, SpanKind, TraceId};
//! use spanmetrics::{Config, SpanMetrics};
//! use storage::{MemStorage, Queryable, SelectHints};
//!
//! let db = Arc::new(MemStorage::new());
//! let metrics = SpanMetrics::new(Config::default(), db.clone()).unwrap();
//!
//! // The API calls the store: a client span of "api" and the server span of "store".
//! let trace = TraceId([1; 16]);
//! let mut client = Span::new(trace, SpanId([1; 8]), "GET /items", 0, 30_000_000);
//! client.kind = SpanKind::Client;
//! client.resource = Arc::new(Resource::service("api"));
//! let mut server = Span::new(trace, SpanId([2; 8]), "GET /items", 5_000_000, 25_000_000);
//! server.kind = SpanKind::Server;
//! server.parent_span_id = Some(client.span_id);
//! server.resource = Arc::new(Resource::service("store"));
//!
//! let now = 1_700_000_000_000; // ms
//! metrics.observe_at(&[client], now);
//! metrics.observe_at(&[server], now + 1_000); // its other half, in a later batch
//! metrics.collect(now + 15_000).unwrap();
//!
//! let q = db.querier(now, now + 15_000).unwrap();
//! let mut found = q
//!     .select(&SelectHints::default(), &[Matcher::equal("__name__", "traces_service_graph_request_total")])
//!     .unwrap();
//! let edge = found.next().unwrap().unwrap();
//! assert_eq!(edge.labels.to_string(), r#"traces_service_graph_request_total{client="api",server="store"}"#);
//!
//! let mut found = q
//!     .select(&SelectHints::default(), &[Matcher::equal("__name__", "traces_spanmetrics_calls_total")])
//!     .unwrap();
//! let calls = found.next().unwrap().unwrap();
//! assert_eq!(
//!     calls.labels.to_string(),
//!     r#"traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_CLIENT",span_name="GET /items",status_code="STATUS_CODE_UNSET"}"#
//! );
//! ```
//!
//! The server feeds it by wrapping its span store in an [`Observed`], which observes
//! every batch the store accepts, and runs [`SpanMetrics::run`] for the collections.

mod attributes;
pub mod config;
#[cfg(test)]
mod fixtures;
mod registry;
pub mod service_graphs;
mod size;
pub mod span_metrics;
mod telemetry;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use model::Timestamp;
use spans::{
    AttributeScope, Hint, Span, SpanError, SpanKind, SpanStore, TagNames, TraceId, Window,
};
use storage::{Appendable, StorageError};

pub use config::{Config, ConfigError};
pub use telemetry::{Stats, Telemetry};

use registry::{Registry, RegistryOptions, SampleKind};
use service_graphs::ServiceGraphs;
use span_metrics::SpanMetricsProcessor;

/// How often half-requests past their wait are ended (Tempo's expiry ticker).
const EXPIRE_EVERY: Duration = Duration::from_secs(2);

/// The processors and their series.
#[derive(Debug)]
struct State {
    registry: Registry,
    span_metrics: Option<SpanMetricsProcessor>,
    service_graphs: Option<ServiceGraphs>,
}

/// The metrics generator: observes spans, keeps the derived series, and writes them to
/// the store at each collection. See the crate's docs.
///
/// It is shared between the threads that observe and the task that collects: one lock
/// guards the series, held while a batch is counted and while a collection copies out
/// the samples, never while the store writes them.
pub struct SpanMetrics {
    config: Config,
    storage: Arc<dyn Appendable>,
    state: Mutex<State>,
    spans_received: AtomicU64,
    collections: AtomicU64,
    collections_failed: AtomicU64,
    samples_failed: AtomicU64,
    /// The limited series count last warned about.
    limited_warned: AtomicU64,
    clock: Clock,
}

/// The time samples and expiries are taken at: the wall clock when the generator was
/// made, advanced by the monotonic clock since, so that a step of the wall clock never
/// sends the generator's samples backwards. The monotonic clock is tokio's, which a test
/// can pause and advance.
#[derive(Debug)]
struct Clock {
    wall: Timestamp,
    start: tokio::time::Instant,
}

impl Clock {
    fn new() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            wall: i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            start: tokio::time::Instant::now(),
        }
    }

    /// Unix ms now.
    fn now(&self) -> Timestamp {
        let elapsed = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.wall.saturating_add(elapsed)
    }
}

impl std::fmt::Debug for SpanMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanMetrics")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What one collection wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Samples the store took (values, initial zeros and staleness markers).
    pub written: usize,
    /// Samples the store refused (each counted, the first logged).
    pub failed: usize,
}

impl SpanMetrics {
    /// A generator writing to `storage`, after checking `config`.
    pub fn new(config: Config, storage: Arc<dyn Appendable>) -> Result<Self, ConfigError> {
        config.validate()?;
        let r = &config.registry;
        let mut registry = Registry::new(RegistryOptions {
            external_labels: r
                .external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            max_active_series: config.max_active_series,
            stale_ms: i64::try_from(r.stale_duration.as_millis()).unwrap_or(i64::MAX),
            max_label_name_length: r.max_label_name_length,
            max_label_value_length: r.max_label_value_length,
        });
        let span_metrics = SpanMetricsProcessor::new(&config, &mut registry);
        let service_graphs = ServiceGraphs::new(&config, &mut registry);
        Ok(Self {
            config,
            storage,
            state: Mutex::new(State {
                registry,
                span_metrics,
                service_graphs,
            }),
            spans_received: AtomicU64::new(0),
            collections: AtomicU64::new(0),
            collections_failed: AtomicU64::new(0),
            samples_failed: AtomicU64::new(0),
            limited_warned: AtomicU64::new(0),
            clock: Clock::new(),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements that take the lock, so a panic
        // elsewhere while it was held leaves nothing half-done worth refusing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a batch of spans the server accepted, now.
    pub fn observe(&self, spans: &[Span]) {
        self.observe_at(spans, self.clock.now());
    }

    /// Counts a batch of spans as if received at `now` (Unix ms): series are updated at
    /// `now`, and half-requests wait from `now`.
    pub fn observe_at(&self, spans: &[Span], now: Timestamp) {
        self.spans_received
            .fetch_add(spans.len() as u64, Ordering::Relaxed);
        let mut state = self.lock();
        let State {
            registry,
            span_metrics,
            service_graphs,
        } = &mut *state;
        if let Some(p) = span_metrics {
            p.observe(registry, spans, now);
        }
        if let Some(p) = service_graphs {
            p.observe(registry, spans, now);
        }
    }

    /// Ends the half-requests whose wait ran out by `now`; [`SpanMetrics::run`] calls it
    /// every two seconds.
    pub fn expire(&self, now: Timestamp) {
        let mut state = self.lock();
        let State {
            registry,
            service_graphs,
            ..
        } = &mut *state;
        if let Some(p) = service_graphs {
            p.expire(registry, now);
        }
    }

    /// Writes every series' value at `now` in one transaction, with new series' initial
    /// zeros and forgotten series' staleness markers. A sample the store refuses is
    /// counted and the rest are written; an error is the commit's, and nothing of the
    /// collection is then kept (the next collection writes the values again, since they
    /// are cumulative).
    pub fn collect(&self, now: Timestamp) -> Result<Collected, StorageError> {
        let (samples, limited) = {
            let mut state = self.lock();
            let samples = state.registry.collect(now);
            (samples, state.registry.counts().limited)
        };
        self.collections.fetch_add(1, Ordering::Relaxed);
        let mut app = self.storage.appender();
        let mut failed = 0;
        let mut first_error = None;
        for s in &samples {
            match app.append(None, &s.labels, s.t, s.v) {
                Ok(r) => {
                    if let Some(e) = &s.exemplar {
                        // A store that keeps no exemplars, or one already there: nothing
                        // to count, as in Tempo's registry.
                        let _ = app.append_exemplar(Some(r), &s.labels, e.clone());
                    }
                }
                // A series forgotten and seen again: the store's samples are newer than
                // its zero, which is then not needed.
                Err(_) if s.kind == SampleKind::Initial => {}
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Err(e) = app.commit() {
            self.collections_failed.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        if let Some(e) = first_error {
            self.samples_failed
                .fetch_add(failed as u64, Ordering::Relaxed);
            tracing::warn!(failed, error = %e, "span metrics: the store refused samples");
        }
        let warned = self.limited_warned.swap(limited, Ordering::Relaxed);
        if limited > warned {
            tracing::warn!(
                limited = limited - warned,
                max_active_series = self.config.max_active_series,
                "span metrics: series over max_active_series were counted into the metric_overflow=\"true\" series; raise max_active_series or drop high-cardinality dimensions",
            );
        }
        Ok(Collected {
            written: samples.len() - failed,
            failed,
        })
    }

    /// Its figures, for the server's own metrics.
    pub fn stats(&self) -> Stats {
        let state = self.lock();
        let counts = state.registry.counts();
        let graph = state
            .service_graphs
            .as_ref()
            .map(ServiceGraphs::counts)
            .unwrap_or_default();
        Stats {
            spans_received: self.spans_received.load(Ordering::Relaxed),
            active_series: counts.active,
            max_active_series: self.config.max_active_series as u64,
            series_added: counts.added,
            series_removed: counts.removed,
            series_limited: counts.limited,
            collections: self.collections.load(Ordering::Relaxed),
            collections_failed: self.collections_failed.load(Ordering::Relaxed),
            samples_failed: self.samples_failed.load(Ordering::Relaxed),
            edges: graph.edges,
            edges_waiting: graph.waiting,
            expired_edges: graph.expired,
            dropped_spans: graph.dropped_spans,
        }
    }

    /// A collector of [`SpanMetrics::stats`] for a `prometheus-client` registry.
    pub fn telemetry(self: &Arc<Self>) -> Telemetry {
        Telemetry(Arc::clone(self))
    }

    /// Collects every collection interval and ends expired half-requests every two
    /// seconds, until the task is dropped. Collections run on the blocking pool, since
    /// the store may write to disk.
    pub async fn run(self: Arc<Self>) {
        use tokio::time::{Instant, MissedTickBehavior, interval_at};
        let period = self.config.registry.collection_interval;
        let start = Instant::now();
        let mut collect = interval_at(start + period, period);
        collect.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut expire = interval_at(start + EXPIRE_EVERY, EXPIRE_EVERY);
        expire.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = collect.tick() => {
                    let me = Arc::clone(&self);
                    match tokio::task::spawn_blocking(move || me.collect(me.clock.now())).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "span metrics: cannot store a collection"),
                        Err(e) => tracing::warn!(error = %e, "span metrics: a collection did not finish"),
                    }
                }
                _ = expire.tick() => self.expire(self.clock.now()),
            }
        }
    }
}

/// A span store that hands every batch it accepts to a [`SpanMetrics`]: what the server
/// gives its OTLP receivers, so that only spans that are kept are counted.
pub struct Observed {
    store: Arc<dyn SpanStore>,
    metrics: Arc<SpanMetrics>,
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

impl Observed {
    /// `store`, observed by `metrics`.
    pub fn new(store: Arc<dyn SpanStore>, metrics: Arc<SpanMetrics>) -> Self {
        Self { store, metrics }
    }
}

impl SpanStore for Observed {
    /// Appends to the store, then, if it took the batch, observes it.
    fn append(&self, spans: &[Span]) -> Result<(), SpanError> {
        self.store.append(spans)?;
        self.metrics.observe(spans);
        Ok(())
    }

    fn trace(&self, id: &TraceId, window: Window) -> Result<Vec<Span>, SpanError> {
        self.store.trace(id, window)
    }

    fn scan(
        &self,
        window: Window,
        hint: &Hint,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<(), SpanError> {
        self.store.scan(window, hint, visit)
    }

    fn tag_names(&self, window: Window) -> Result<TagNames, SpanError> {
        self.store.tag_names(window)
    }

    fn tag_values(
        &self,
        window: Window,
        scope: AttributeScope,
        key: &str,
        limit: usize,
    ) -> Result<std::collections::BTreeSet<String>, SpanError> {
        self.store.tag_values(window, scope, key, limit)
    }

    fn operations(
        &self,
        window: Window,
        service: &str,
    ) -> Result<std::collections::BTreeSet<(String, SpanKind)>, SpanError> {
        self.store.operations(window, service)
    }
}
