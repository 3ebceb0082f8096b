//! Health checks with three states, served as Kubernetes probes and exported as metrics.
//!
//! A [`Check`] reports [`Status::Healthy`], [`Status::Degraded`] or [`Status::Unhealthy`] with
//! a message and details. [`Health`] runs every registered check concurrently, each under its
//! own timeout, and caches each result for a short time so that probes from several sources
//! do not multiply the work. The endpoints ([`router`]) follow the probe semantics the seed
//! teams settled on:
//!
//! | endpoint    | 200 when                                            | otherwise |
//! |-------------|-----------------------------------------------------|-----------|
//! | `/healthz`  | no check is unhealthy (degraded is still alive)     | 503       |
//! | `/readyz`   | started, and every check healthy (degraded may be allowed, see [`HealthOptions`]) | 503 |
//! | `/startupz` | the startup gate was opened                         | 503       |
//! | `/health`   | as `/healthz`, with every component as JSON          | 503       |
//!
//! Liveness is forgiving because a restart rarely cures a degraded node; readiness is strict
//! because a degraded node should not take traffic. The startup gate keeps `/readyz` failing
//! while a node bootstraps (a DHT bootstrap can take minutes) without failing liveness.
//!
//! Built-in checks: [`DiskUsage`] and [`Threshold`], which turns any gauge, counter ratio or
//! closure into a check; the seeds' P2P, DHT, execution, payment and guild checkers are
//! thresholds over their layer's metrics.

mod checks;
mod http;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt as _;
use serde::Serialize;
use serde_json::{Map, Value};

pub use checks::{
    DiskUsage, GaugeNumber, RatioSource, Source, Threshold, gauge_source, ratio_source,
};
pub use http::router;

/// The state of a component or of the whole node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Working as intended.
    Healthy,
    /// Working, with reduced capacity or quality; should not take new traffic.
    Degraded,
    /// Not working; a restart may be needed.
    Unhealthy,
}

impl Status {
    /// Every state, in order of severity.
    pub const ALL: [Status; 3] = [Status::Healthy, Status::Degraded, Status::Unhealthy];

    /// The lower-case name used in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// The component's state.
    pub status: Status,
    /// A one-line explanation for an operator.
    pub message: String,
    /// Machine-readable facts behind the state, such as the measured value and thresholds.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
}

impl Outcome {
    /// Returns an outcome with the given state and message and no details.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Returns a healthy outcome.
    pub fn healthy(message: impl Into<String>) -> Self {
        Self::new(Status::Healthy, message)
    }

    /// Returns a degraded outcome.
    pub fn degraded(message: impl Into<String>) -> Self {
        Self::new(Status::Degraded, message)
    }

    /// Returns an unhealthy outcome.
    pub fn unhealthy(message: impl Into<String>) -> Self {
        Self::new(Status::Unhealthy, message)
    }

    /// Adds a detail.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }
}

/// A health check of one component.
///
/// Implementations MUST NOT block the thread: a check that needs blocking I/O runs it with
/// `tokio::task::spawn_blocking`. A check that does not finish within its timeout is
/// cancelled (its future is dropped) and reported unhealthy; a check that panics is reported
/// unhealthy too. Checks MAY be run concurrently with themselves only if registered twice.
///
/// ```
/// use skywatch_sdk::health::{Check, Outcome};
///
/// struct Database;
///
/// impl Check for Database {
///     async fn check(&self) -> Outcome {
///         Outcome::healthy("connected").with_detail("pool_size", 8)
///     }
/// }
/// ```
pub trait Check: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> impl Future<Output = Outcome> + Send;
}

/// A check built from an async closure; see [`check_fn`].
pub struct CheckFn<F>(F);

/// Wraps an async closure as a [`Check`].
pub fn check_fn<F, Fut>(f: F) -> CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    CheckFn(f)
}

impl<F, Fut> Check for CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    fn check(&self) -> impl Future<Output = Outcome> + Send {
        (self.0)()
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The object-safe form of [`Check`], so checks of different types share one list.
trait DynCheck: Send + Sync {
    fn run(&self) -> BoxFuture<'_, Outcome>;
}

impl<C: Check> DynCheck for C {
    fn run(&self) -> BoxFuture<'_, Outcome> {
        Box::pin(self.check())
    }
}

/// How one check is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// How long a run may take before it is cancelled and reported unhealthy.
    pub timeout: Duration,
    /// How long a result is reused before the check runs again.
    pub cache_for: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            cache_for: Duration::from_secs(1),
        }
    }
}

/// How the checks add up to readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthOptions {
    /// Whether `/readyz` passes while some check is degraded (none unhealthy). Off by
    /// default: a degraded node stops taking traffic.
    pub ready_when_degraded: bool,
}

/// The registered checks of a node and their latest results. Clones share the same state.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    options: HealthOptions,
    checks: RwLock<Vec<Arc<Entry>>>,
    started: AtomicBool,
    gated: AtomicBool,
}

struct Entry {
    name: String,
    options: CheckOptions,
    check: Box<dyn DynCheck>,
    /// Serialises runs: concurrent probes wait for the run in progress and share its result.
    run: tokio::sync::Mutex<Option<Cached>>,
    /// The latest result, readable without waiting for a run (for metrics).
    latest: Mutex<Option<Component>>,
}

#[derive(Clone)]
struct Cached {
    at: Instant,
    component: Component,
}

/// The latest state of one component, as `/health` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    /// The check's registered name.
    pub name: String,
    /// Its state.
    pub status: Status,
    /// The check's message.
    pub message: String,
    /// The check's details.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    /// How long the run took, in seconds.
    pub duration_seconds: f64,
    /// When the check last ran.
    #[serde(serialize_with = "rfc3339")]
    pub checked_at: SystemTime,
    /// When the state last changed (the first run counts as a change).
    #[serde(serialize_with = "rfc3339")]
    pub last_change: SystemTime,
}

/// Every component's state and the node's overall state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The worst state of any component; healthy when there are none.
    pub status: Status,
    /// Whether the startup gate is open.
    pub started: bool,
    /// Every component, in registration order.
    pub components: Vec<Component>,
}

impl Report {
    /// Tells whether the node is alive: no component is unhealthy.
    pub fn is_live(&self) -> bool {
        self.status != Status::Unhealthy
    }

    /// Tells whether the node should take traffic under `options`.
    pub fn is_ready(&self, options: &HealthOptions) -> bool {
        self.started
            && match self.status {
                Status::Healthy => true,
                Status::Degraded => options.ready_when_degraded,
                Status::Unhealthy => false,
            }
    }
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

impl Default for Health {
    fn default() -> Self {
        Self::new(HealthOptions::default())
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.entries().iter().map(|e| e.name.clone()).collect();
        f.debug_struct("Health")
            .field("checks", &names)
            .field("started", &self.is_started())
            .finish()
    }
}

impl Health {
    /// Returns a set of checks with no check registered yet.
    pub fn new(options: HealthOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                checks: RwLock::default(),
                started: AtomicBool::new(true),
                gated: AtomicBool::new(false),
            }),
        }
    }

    /// The options this set was built with.
    pub fn options(&self) -> &HealthOptions {
        &self.inner.options
    }

    /// Registers a check with the default timeout (5 s) and cache time (1 s).
    pub fn register(&self, name: impl Into<String>, check: impl Check) {
        self.register_with(name, CheckOptions::default(), check);
    }

    /// Registers a check with its own timeout and cache time.
    pub fn register_with(&self, name: impl Into<String>, options: CheckOptions, check: impl Check) {
        let entry = Arc::new(Entry {
            name: name.into(),
            options,
            check: Box::new(check),
            run: tokio::sync::Mutex::new(None),
            latest: Mutex::new(None),
        });
        self.inner
            .checks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }

    /// Closes the startup gate and returns the handle that opens it.
    ///
    /// A node that never takes a gate counts as started from the beginning. Once the first
    /// gate is taken, `/startupz` and `/readyz` fail until [`StartupGate::open`] is called;
    /// `/healthz` is unaffected, since a starting node is alive. Dropping a gate without
    /// opening it leaves the node starting: a bootstrap that failed must not let traffic in.
    /// Later calls return handles to the same gate and do not close it again.
    pub fn startup_gate(&self) -> StartupGate {
        if !self.inner.gated.swap(true, Ordering::AcqRel) {
            self.inner.started.store(false, Ordering::Release);
        }
        StartupGate {
            health: self.clone(),
        }
    }

    /// Tells whether the startup gate is open.
    pub fn is_started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
    }

    /// Runs every check whose cached result has expired, concurrently, and returns the report.
    pub async fn report(&self) -> Report {
        let entries = self.entries();
        let components = futures_util::future::join_all(entries.iter().map(|e| e.current())).await;
        let status = components
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Healthy);
        Report {
            status,
            started: self.is_started(),
            components,
        }
    }

    /// Returns the latest result of every check that has run, without running any.
    pub fn latest(&self) -> Vec<Component> {
        self.entries()
            .iter()
            .filter_map(|e| e.latest.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Runs the checks every `interval` on the current tokio runtime, so that the exported
    /// health metrics stay current when no probe is asking. The task runs until the returned
    /// handle is aborted or the runtime shuts down.
    pub fn spawn_refresher(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let health = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                health.report().await;
            }
        })
    }

    /// Registers `<namespace>_health_check_status{check,state}` (1 for the current state of
    /// each check, 0 for the others), `<namespace>_health_check_duration_seconds{check}` and
    /// `<namespace>_health_status{state}` for the node as a whole, read from the latest
    /// results at scrape time.
    pub fn register_metrics(&self, registry: &crate::metrics::Registry, namespace: Option<&str>) {
        registry.register_collector(http::HealthCollector {
            health: self.clone(),
            prefix: namespace.filter(|n| !n.is_empty()).map(|n| format!("{n}_")),
        });
    }

    fn entries(&self) -> Vec<Arc<Entry>> {
        self.inner
            .checks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Opens the startup gate of a [`Health`]; see [`Health::startup_gate`].
#[derive(Debug)]
pub struct StartupGate {
    health: Health,
}

impl StartupGate {
    /// Opens the gate: the node has finished starting.
    pub fn open(self) {
        self.health.inner.started.store(true, Ordering::Release);
    }
}

impl Entry {
    /// Returns the cached result if fresh, or runs the check.
    async fn current(&self) -> Component {
        let mut cached = self.run.lock().await;
        if let Some(c) = cached.as_ref()
            && c.at.elapsed() < self.options.cache_for
        {
            return c.component.clone();
        }
        let started = Instant::now();
        let checked_at = SystemTime::now();
        let run = std::panic::AssertUnwindSafe(self.check.run()).catch_unwind();
        let outcome = match tokio::time::timeout(self.options.timeout, run).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Outcome::unhealthy("check panicked"),
            Err(_) => Outcome::unhealthy(format!(
                "check timed out after {}",
                humantime::format_duration(self.options.timeout)
            )),
        };
        let duration = started.elapsed();
        let last_change = match cached.as_ref() {
            Some(prev) if prev.component.status == outcome.status => prev.component.last_change,
            _ => checked_at,
        };
        let component = Component {
            name: self.name.clone(),
            status: outcome.status,
            message: outcome.message,
            details: outcome.details,
            duration_seconds: duration.as_secs_f64(),
            checked_at,
            last_change,
        };
        *cached = Some(Cached {
            at: Instant::now(),
            component: component.clone(),
        });
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(component.clone());
        component
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Counting(Arc<AtomicUsize>, Status);

    impl Check for Counting {
        async fn check(&self) -> Outcome {
            self.0.fetch_add(1, Ordering::SeqCst);
            Outcome::new(self.1, "counted")
        }
    }

    #[tokio::test]
    async fn results_are_cached_for_the_configured_time() {
        let runs = Arc::new(AtomicUsize::new(0));
        let health = Health::default();
        health.register_with(
            "c",
            CheckOptions {
                cache_for: Duration::from_secs(3600),
                ..CheckOptions::default()
            },
            Counting(runs.clone(), Status::Healthy),
        );
        let (a, b) = tokio::join!(health.report(), health.report());
        health.report().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn an_uncached_check_runs_every_time_and_keeps_its_last_change() {
        let runs = Arc::new(AtomicUsize::new(0));
        let health = Health::default();
        health.register_with(
            "c",
            CheckOptions {
                cache_for: Duration::ZERO,
                ..CheckOptions::default()
            },
            Counting(runs.clone(), Status::Degraded),
        );
        let first = health.report().await;
        let second = health.report().await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(first.status, Status::Degraded);
        assert_eq!(
            first.components[0].last_change,
            second.components[0].last_change
        );
        assert!(second.components[0].checked_at >= first.components[0].checked_at);
    }

    #[tokio::test]
    async fn the_worst_component_decides_and_a_panic_is_unhealthy() {
        let health = Health::default();
        health.register("ok", check_fn(|| async { Outcome::healthy("fine") }));
        health.register(
            "boom",
            check_fn(|| async {
                if true {
                    panic!("checker bug");
                }
                Outcome::healthy("unreachable")
            }),
        );
        let report = health.report().await;
        assert_eq!(report.status, Status::Unhealthy);
        assert_eq!(report.components[1].message, "check panicked");
        assert!(!report.is_live());
    }

    #[test]
    fn readiness_policy() {
        let report = |status, started| Report {
            status,
            started,
            components: vec![],
        };
        let strict = HealthOptions::default();
        let lenient = HealthOptions {
            ready_when_degraded: true,
        };
        assert!(report(Status::Healthy, true).is_ready(&strict));
        assert!(!report(Status::Healthy, false).is_ready(&lenient));
        assert!(!report(Status::Degraded, true).is_ready(&strict));
        assert!(report(Status::Degraded, true).is_ready(&lenient));
        assert!(!report(Status::Unhealthy, true).is_ready(&lenient));
        assert!(report(Status::Degraded, true).is_live());
    }

    #[test]
    fn startup_gate_closes_when_taken_and_opens_once() {
        let health = Health::default();
        assert!(health.is_started());
        let gate = health.startup_gate();
        assert!(!health.is_started());
        // A second gate does not close it again after it was opened.
        gate.open();
        assert!(health.is_started());
        let _again = health.startup_gate();
        assert!(health.is_started());
    }
}
