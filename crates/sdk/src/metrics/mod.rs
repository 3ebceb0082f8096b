//! Metrics: a shareable registry over `prometheus-client`, the standard bucket sets, summaries,
//! process metrics and `build_info`.
//!
//! Counters, gauges, histograms and families are `prometheus-client`'s own types, re-exported
//! here, so recording a value costs exactly what it costs with the bare crate. Skywatch adds
//! what that crate leaves out and a node needs:
//!
//! - [`Registry`], a cheaply clonable, thread-safe handle that components register into at any
//!   time (the bare registry needs `&mut` and so must be built before it is shared), with a
//!   process-wide default in [`Registry::global`]. Registration rejects invalid and duplicate
//!   names instead of producing an exposition Prometheus would refuse.
//! - [`Summary`] and [`SummaryFamily`], which `prometheus-client` does not have: quantiles over a
//!   sliding time window, as client_golang's summaries compute them.
//! - Exposition in both the Prometheus text format 0.0.4 and OpenMetrics 1.0, chosen by the
//!   scraper's `Accept` header ([`exposition`]).
//! - [`buckets`], the bucket sets the seed teams standardised on, and [`ProcessCollector`] and
//!   [`BuildInfo`], the metrics every Prometheus client library exposes.

pub mod buckets;
pub mod exposition;
mod process;
mod summary;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;
pub use prometheus_client::metrics::info::Info;
pub use prometheus_client::registry::Unit;

pub use exposition::Format;
pub use process::ProcessCollector;
pub use summary::{Summary, SummaryFamily, SummaryOptions};

use prometheus_client::collector::Collector;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Metric;

/// Returns a histogram with the given bucket upper bounds; `+Inf` is implied.
///
/// Use one of the sets in [`buckets`] so dashboards can aggregate across services.
pub fn histogram(buckets: &[f64]) -> Histogram {
    Histogram::new(buckets.iter().copied())
}

/// An error from registering a metric.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegisterError {
    /// The name is not a valid Prometheus metric name.
    #[error(
        "invalid metric name {0:?}: names must match [a-zA-Z_:][a-zA-Z0-9_:]* (for example \"node_peers\")"
    )]
    InvalidName(String),
    /// A metric with the same exposed name is already registered.
    #[error("metric {0:?} is already registered: register each metric once and share the handle")]
    Duplicate(String),
    /// A counter's name already ends in `_total`, which exposition appends.
    #[error(
        "counter name {0:?} ends in \"_total\", which exposition appends: register it as {1:?}"
    )]
    CounterSuffix(String, String),
}

/// A thread-safe handle to a set of metrics; clones share the same set.
///
/// Components take a `&Registry` and register the metrics they own (one metrics struct per
/// component, as Prometheus's own code does). Registration may happen at any time, also while
/// the registry is being scraped. Encoding holds a read lock for the duration of one scrape;
/// recording values never takes the lock, since metric handles are shared atomics.
#[derive(Clone, Default)]
pub struct Registry {
    state: Arc<RwLock<State>>,
}

#[derive(Default)]
struct State {
    inner: prometheus_client::registry::Registry,
    summaries: Vec<summary::Registered>,
    names: HashSet<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = self.read().names.len();
        f.debug_struct("Registry").field("metrics", &names).finish()
    }
}

impl Registry {
    /// Returns a new, empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the process-wide default registry, created empty on first use.
    ///
    /// Convenient for applications with one registry; libraries should take a `&Registry`
    /// from their caller instead, so tests can use a fresh one.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::new)
    }

    /// Registers a metric under `name` with a help text.
    ///
    /// Counters are registered without the `_total` suffix, which exposition appends.
    pub fn register(
        &self,
        name: impl Into<String>,
        help: impl AsRef<str>,
        metric: impl Metric,
    ) -> Result<(), RegisterError> {
        let name = name.into();
        let mut state = self.write();
        state.claim(&name, metric.metric_type())?;
        state
            .inner
            .register(name, registry_help(help.as_ref()), metric);
        Ok(())
    }

    /// Registers a metric whose name ends in a unit suffix, such as `_seconds` or `_bytes`.
    ///
    /// OpenMetrics exposes the unit in a `# UNIT` line; the exposed name is `name_unit`.
    pub fn register_with_unit(
        &self,
        name: impl Into<String>,
        help: impl AsRef<str>,
        unit: Unit,
        metric: impl Metric,
    ) -> Result<(), RegisterError> {
        let name = name.into();
        let full = format!("{name}_{}", unit.as_str());
        let mut state = self.write();
        state.claim(&full, metric.metric_type())?;
        state
            .inner
            .register_with_unit(name, registry_help(help.as_ref()), unit, metric);
        Ok(())
    }

    /// Registers a summary (unlabelled or a [`SummaryFamily`]).
    pub fn register_summary(
        &self,
        name: impl Into<String>,
        help: impl AsRef<str>,
        summary: impl Into<summary::Handle>,
    ) -> Result<(), RegisterError> {
        let name = name.into();
        let mut state = self.write();
        state.claim(&name, MetricType::Unknown)?;
        state.summaries.push(summary::Registered {
            name,
            help: registry_help(help.as_ref()) + ".",
            handle: summary.into(),
        });
        Ok(())
    }

    /// Registers a collector, which produces its metrics when the registry is encoded.
    ///
    /// The names a collector produces are not checked for duplicates.
    pub fn register_collector(&self, collector: impl Collector) {
        self.write().inner.register_collector(Box::new(collector));
    }

    /// Runs `f` with the underlying `prometheus-client` registry, for libraries of that
    /// ecosystem that register into it directly. Names registered this way bypass the checks
    /// of [`Registry::register`].
    pub fn with_inner<T>(
        &self,
        f: impl FnOnce(&mut prometheus_client::registry::Registry) -> T,
    ) -> T {
        f(&mut self.write().inner)
    }

    /// Encodes every metric in `format` and returns the exposition body.
    pub fn encode(&self, format: Format) -> String {
        let mut openmetrics = String::with_capacity(4096);
        {
            let state = self.read();
            // Writing to a `String` cannot fail; an `Err` could only come from a metric's own
            // encoder, and the output written before it is still served.
            let _ =
                prometheus_client::encoding::text::encode_registry(&mut openmetrics, &state.inner);
            for s in &state.summaries {
                s.encode(&mut openmetrics);
            }
        }
        match format {
            Format::OpenMetrics => {
                openmetrics.push_str("# EOF\n");
                openmetrics
            }
            Format::Text => exposition::openmetrics_to_text(&openmetrics),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves the registry itself consistent (every mutation
        // is a single push), so a poisoned lock is safe to enter.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn claim(&mut self, name: &str, metric_type: MetricType) -> Result<(), RegisterError> {
        if !is_valid_metric_name(name) {
            return Err(RegisterError::InvalidName(name.to_owned()));
        }
        if matches!(metric_type, MetricType::Counter)
            && let Some(stem) = name.strip_suffix("_total")
        {
            return Err(RegisterError::CounterSuffix(
                name.to_owned(),
                stem.to_owned(),
            ));
        }
        if !self.names.insert(name.to_owned()) {
            return Err(RegisterError::Duplicate(name.to_owned()));
        }
        Ok(())
    }
}

/// Escapes a help text for `prometheus-client`, which appends a period to every help text:
/// a trailing period is removed so that the exposed text ends in exactly one.
fn registry_help(help: &str) -> String {
    exposition::escape_help(help.strip_suffix('.').unwrap_or(help))
}

/// Tells whether `name` is a valid Prometheus metric name.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_' | b':'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b':'))
}

/// Joins an optional namespace and a metric name with `_`.
pub(crate) fn namespaced(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}_{name}"),
        _ => name.to_owned(),
    }
}

/// What a service is and which build it runs, exposed as `<namespace>_build_info{...} 1`.
#[derive(Debug, Clone, PartialEq, Eq, EncodeLabelSet, Hash)]
pub struct BuildInfo {
    /// The service's name.
    pub service: String,
    /// The release version, for example `1.4.2`.
    pub version: String,
    /// The source revision, for example a git commit; empty when unknown.
    pub revision: String,
    /// The target the binary was built for, for example `x86_64-linux`.
    pub target: String,
}

impl BuildInfo {
    /// Returns build information for `service` at `version`, with the revision taken from
    /// the `SKYWATCH_BUILD_REVISION` environment variable at run time, if set.
    pub fn new(service: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            version: version.into(),
            revision: std::env::var("SKYWATCH_BUILD_REVISION").unwrap_or_default(),
            target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        }
    }

    /// Sets the source revision.
    pub fn with_revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = revision.into();
        self
    }

    /// Registers `<namespace>_build_info` on `registry`.
    pub fn register(
        self,
        registry: &Registry,
        namespace: Option<&str>,
    ) -> Result<(), RegisterError> {
        registry.register(
            namespaced(namespace, "build"),
            "Build information of the running service; the value is always 1.",
            Info::new(self),
        )
    }
}

/// Builds [`BuildInfo`] for the calling crate from its Cargo package name and version.
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::metrics::BuildInfo::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_duplicate_and_suffixed_names() {
        let r = Registry::new();
        assert_eq!(
            r.register("1bad", "x", Gauge::<i64>::default()),
            Err(RegisterError::InvalidName("1bad".into()))
        );
        r.register("peers", "x", Gauge::<i64>::default()).unwrap();
        assert_eq!(
            r.register("peers", "x", Gauge::<i64>::default()),
            Err(RegisterError::Duplicate("peers".into()))
        );
        assert_eq!(
            r.register("msgs_total", "x", Counter::<u64>::default()),
            Err(RegisterError::CounterSuffix(
                "msgs_total".into(),
                "msgs".into()
            ))
        );
        // A gauge may end in _total; only counters get the suffix appended.
        r.register("budget_total", "x", Gauge::<i64>::default())
            .unwrap();
    }

    #[test]
    fn unit_names_are_claimed_with_their_suffix() {
        let r = Registry::new();
        r.register_with_unit(
            "rtt",
            "x",
            Unit::Seconds,
            Gauge::<f64, std::sync::atomic::AtomicU64>::default(),
        )
        .unwrap();
        assert_eq!(
            r.register("rtt_seconds", "x", Gauge::<i64>::default()),
            Err(RegisterError::Duplicate("rtt_seconds".into()))
        );
    }

    #[test]
    fn build_info_is_an_info_metric() {
        let r = Registry::new();
        BuildInfo::new("node", "1.2.3")
            .with_revision("abc")
            .register(&r, Some("zerostate"))
            .unwrap();
        let text = r.encode(Format::Text);
        assert!(
            text.contains("# TYPE zerostate_build_info gauge\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "zerostate_build_info{service=\"node\",version=\"1.2.3\",revision=\"abc\",target="
            ),
            "{text}"
        );
        let om = r.encode(Format::OpenMetrics);
        assert!(om.contains("# TYPE zerostate_build info\n"), "{om}");
    }
}
