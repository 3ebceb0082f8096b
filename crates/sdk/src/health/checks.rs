//! The built-in checks: disk usage, and thresholds over any value.

use std::path::PathBuf;
use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::{Atomic, Gauge};

use super::{Check, Outcome, Status};

/// A value a [`Threshold`] watches.
pub trait Source: Send + Sync + 'static {
    /// Reads the current value, or `None` when there is nothing to judge yet.
    fn read(&self) -> Option<f64>;
}

impl<F> Source for F
where
    F: Fn() -> f64 + Send + Sync + 'static,
{
    fn read(&self) -> Option<f64> {
        Some(self())
    }
}

/// A number a gauge can hold, read as `f64` (large integers lose precision, as in PromQL).
pub trait GaugeNumber: Copy + Send + Sync + 'static {
    /// Returns the value as `f64`.
    fn to_f64(self) -> f64;
}

macro_rules! gauge_number {
    ($($t:ty),*) => {$(
        impl GaugeNumber for $t {
            #[allow(clippy::cast_precision_loss, reason = "metric values are f64 in Prometheus")]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
gauge_number!(i32, i64, u32, u64, f32, f64);

/// Returns a source reading a gauge's current value.
pub fn gauge_source<N, A>(gauge: &Gauge<N, A>) -> impl Source + use<N, A>
where
    N: GaugeNumber,
    A: Atomic<N> + Send + Sync + 'static,
{
    let gauge = gauge.clone();
    move || gauge.get().to_f64()
}

/// Returns a source reading the ratio of two counters' increases since the previous read,
/// such as successful tasks over all tasks.
///
/// A lifetime ratio would hide a node that started failing after a week of successes, so only
/// the increase since the last check counts. When the denominator has not moved, the last
/// ratio is repeated; before the first increase there is no value and the check reports
/// healthy with "no data yet" (see [`Threshold::when_no_data`]).
pub fn ratio_source(numerator: &Counter, denominator: &Counter) -> RatioSource {
    RatioSource {
        numerator: numerator.clone(),
        denominator: denominator.clone(),
        state: Mutex::new(RatioState {
            last: (numerator.get(), denominator.get()),
            ratio: None,
        }),
    }
}

/// See [`ratio_source`].
#[derive(Debug)]
pub struct RatioSource {
    numerator: Counter,
    denominator: Counter,
    state: Mutex<RatioState>,
}

#[derive(Debug)]
struct RatioState {
    last: (u64, u64),
    ratio: Option<f64>,
}

impl Source for RatioSource {
    fn read(&self) -> Option<f64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Read the denominator first: an event counted in both between the two reads then
        // shows up in the numerator early rather than never.
        let den = self.denominator.get();
        let num = self.numerator.get();
        let (dn, dd) = (num.saturating_sub(s.last.0), den.saturating_sub(s.last.1));
        if dd > 0 {
            s.ratio = Some((dn as f64 / dd as f64).min(1.0));
            s.last = (num, den);
        }
        s.ratio
    }
}

/// Which side of a threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    Below,
    Above,
}

fn classify(value: f64, bad: Bad, degraded: f64, unhealthy: f64) -> Status {
    let past = |limit: f64| match bad {
        Bad::Below => value < limit,
        Bad::Above => value >= limit,
    };
    if value.is_nan() || past(unhealthy) {
        Status::Unhealthy
    } else if past(degraded) {
        Status::Degraded
    } else {
        Status::Healthy
    }
}

/// A check that compares a value with a degraded and an unhealthy threshold.
///
/// ```
/// use skywatch_sdk::health::{Threshold, gauge_source};
/// use skywatch_sdk::metrics::Gauge;
///
/// let peers: Gauge = Gauge::default();
/// // 0 peers is unhealthy, fewer than 3 degraded: the seeds' P2P checker.
/// let p2p = Threshold::below("connected peers", gauge_source(&peers), 3.0, 1.0);
/// ```
#[derive(Debug)]
pub struct Threshold<S> {
    what: String,
    source: S,
    bad: Bad,
    degraded: f64,
    unhealthy: f64,
    no_data: Status,
}

impl<S: Source> Threshold<S> {
    /// Unhealthy when the value is below `unhealthy_below`, degraded below `degraded_below`.
    pub fn below(
        what: impl Into<String>,
        source: S,
        degraded_below: f64,
        unhealthy_below: f64,
    ) -> Self {
        Self::new(what, source, Bad::Below, degraded_below, unhealthy_below)
    }

    /// Unhealthy when the value is at or above `unhealthy_at`, degraded at or above
    /// `degraded_at`.
    pub fn above(what: impl Into<String>, source: S, degraded_at: f64, unhealthy_at: f64) -> Self {
        Self::new(what, source, Bad::Above, degraded_at, unhealthy_at)
    }

    fn new(what: impl Into<String>, source: S, bad: Bad, degraded: f64, unhealthy: f64) -> Self {
        Self {
            what: what.into(),
            source,
            bad,
            degraded,
            unhealthy,
            no_data: Status::Healthy,
        }
    }

    /// Sets the state reported while the source has no value (healthy by default).
    pub fn when_no_data(mut self, status: Status) -> Self {
        self.no_data = status;
        self
    }

    fn evaluate(&self) -> Outcome {
        let Some(value) = self.source.read() else {
            return Outcome::new(self.no_data, format!("{}: no data yet", self.what));
        };
        let status = classify(value, self.bad, self.degraded, self.unhealthy);
        let relation = match (status, self.bad) {
            (Status::Healthy, _) => "within limits".to_owned(),
            (Status::Degraded, Bad::Below) => format!("below {}", self.degraded),
            (Status::Degraded, Bad::Above) => format!("at or above {}", self.degraded),
            (Status::Unhealthy, Bad::Below) => format!("below {}", self.unhealthy),
            (Status::Unhealthy, Bad::Above) => format!("at or above {}", self.unhealthy),
        };
        Outcome::new(status, format!("{} is {value}, {relation}", self.what))
            .with_detail("value", value)
            .with_detail("degraded_threshold", self.degraded)
            .with_detail("unhealthy_threshold", self.unhealthy)
    }
}

impl<S: Source> Check for Threshold<S> {
    async fn check(&self) -> Outcome {
        self.evaluate()
    }
}

/// A check of the file system holding a path: degraded at 80% used, unhealthy at 95%.
#[derive(Debug, Clone)]
pub struct DiskUsage {
    path: PathBuf,
    degraded_at: f64,
    unhealthy_at: f64,
}

impl DiskUsage {
    /// Checks the file system that holds `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            degraded_at: 0.80,
            unhealthy_at: 0.95,
        }
    }

    /// Sets the used fractions (0 to 1) at which the disk is degraded and unhealthy.
    pub fn thresholds(mut self, degraded_at: f64, unhealthy_at: f64) -> Self {
        self.degraded_at = degraded_at;
        self.unhealthy_at = unhealthy_at;
        self
    }

    fn evaluate(&self, stat: Result<rustix::fs::StatVfs, rustix::io::Errno>) -> Outcome {
        let stat = match stat {
            Ok(s) => s,
            Err(e) => {
                return Outcome::unhealthy(format!(
                    "cannot read file system usage of {}: {e}",
                    self.path.display()
                ));
            }
        };
        let block = stat.f_frsize as f64;
        let used = stat.f_blocks.saturating_sub(stat.f_bfree) as f64 * block;
        let available = stat.f_bavail as f64 * block;
        // As df(1) computes it: blocks reserved for root count as neither used nor available.
        let fraction = if used + available > 0.0 {
            used / (used + available)
        } else {
            0.0
        };
        let status = classify(fraction, Bad::Above, self.degraded_at, self.unhealthy_at);
        Outcome::new(
            status,
            format!(
                "{} is {:.1}% full ({} free)",
                self.path.display(),
                fraction * 100.0,
                human_bytes(available)
            ),
        )
        .with_detail("path", self.path.display().to_string())
        .with_detail("used_ratio", fraction)
        .with_detail("available_bytes", available)
        .with_detail("degraded_threshold", self.degraded_at)
        .with_detail("unhealthy_threshold", self.unhealthy_at)
    }
}

impl Check for DiskUsage {
    async fn check(&self) -> Outcome {
        // statvfs can hang on a stuck network file system: keep it off the async threads.
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || rustix::fs::statvfs(&path)).await {
            Ok(stat) => self.evaluate(stat),
            Err(e) => Outcome::unhealthy(format!("disk check failed: {e}")),
        }
    }
}

fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_is_inclusive_above_and_strict_below() {
        assert_eq!(classify(0.8, Bad::Above, 0.8, 0.95), Status::Degraded);
        assert_eq!(classify(0.79, Bad::Above, 0.8, 0.95), Status::Healthy);
        assert_eq!(classify(0.95, Bad::Above, 0.8, 0.95), Status::Unhealthy);
        assert_eq!(classify(0.0, Bad::Below, 3.0, 1.0), Status::Unhealthy);
        assert_eq!(classify(2.0, Bad::Below, 3.0, 1.0), Status::Degraded);
        assert_eq!(classify(3.0, Bad::Below, 3.0, 1.0), Status::Healthy);
        assert_eq!(classify(f64::NAN, Bad::Below, 3.0, 1.0), Status::Unhealthy);
    }

    #[test]
    fn threshold_over_a_gauge_reports_value_and_limits() {
        let peers: Gauge = Gauge::default();
        let check = Threshold::below("peers", gauge_source(&peers), 3.0, 1.0);
        assert_eq!(check.evaluate().status, Status::Unhealthy);
        peers.set(2);
        let outcome = check.evaluate();
        assert_eq!(outcome.status, Status::Degraded);
        assert_eq!(outcome.message, "peers is 2, below 3");
        assert_eq!(outcome.details["value"], 2.0);
        peers.set(8);
        assert_eq!(check.evaluate().status, Status::Healthy);
    }

    #[test]
    fn ratio_source_judges_recent_increases_only() {
        let (ok, all) = (Counter::default(), Counter::default());
        ok.inc_by(1000);
        all.inc_by(1000);
        let check = Threshold::below("task success ratio", ratio_source(&ok, &all), 0.9, 0.5);
        assert_eq!(check.evaluate().message, "task success ratio: no data yet");
        all.inc_by(10);
        ok.inc_by(3);
        assert_eq!(check.evaluate().status, Status::Unhealthy);
        // No new events: the last ratio stands.
        assert_eq!(check.evaluate().status, Status::Unhealthy);
        all.inc_by(10);
        ok.inc_by(8);
        assert_eq!(check.evaluate().status, Status::Degraded);
        let no_data =
            Threshold::below("x", ratio_source(&ok, &all), 0.9, 0.5).when_no_data(Status::Degraded);
        assert_eq!(no_data.evaluate().status, Status::Degraded);
    }

    #[test]
    fn disk_usage_reports_the_fraction_used() {
        let disk = DiskUsage::new("/data").thresholds(0.5, 0.9);
        let mut stat = rustix::fs::statvfs("/").unwrap();
        stat.f_frsize = 4096;
        stat.f_blocks = 1000;
        stat.f_bfree = 300;
        stat.f_bavail = 250; // 50 blocks reserved for root
        let outcome = disk.evaluate(Ok(stat));
        // 700 used of 950 usable.
        assert_eq!(outcome.status, Status::Degraded);
        assert_eq!(outcome.message, "/data is 73.7% full (1000.0 KiB free)");
        let err = disk.evaluate(Err(rustix::io::Errno::NOENT));
        assert_eq!(err.status, Status::Unhealthy);
        assert!(
            err.message
                .starts_with("cannot read file system usage of /data"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn disk_usage_of_a_real_path_is_a_fraction() {
        let outcome = DiskUsage::new(".").check().await;
        let used = outcome.details["used_ratio"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&used), "{outcome:?}");
    }
}
