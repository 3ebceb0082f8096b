//! Summaries: quantiles over a sliding time window, plus a cumulative count and sum.
//!
//! `prometheus-client` has no summary type, so this module provides one with client_golang's
//! semantics: `_count` and `_sum` cover every observation since start, while the quantiles
//! cover only the last `max_age` (10 minutes by default), so that they follow the service's
//! current behaviour. The window slides in `age_buckets` steps: observations go into the
//! newest of `age_buckets` sub-windows of `max_age / age_buckets` each, and a scrape merges the
//! live ones, so a quantile reflects between `max_age * (age_buckets - 1) / age_buckets` and
//! `max_age` of history.
//!
//! Each sub-window is a log-bucketed sketch with a bounded *relative value* error (1% by
//! default): the reported quantile is within 1% of a value whose rank is exactly the requested
//! one. client_golang bounds the *rank* error instead; a value bound is what latency and cost
//! panels need, costs O(1) per observation, and merges exactly across sub-windows. Memory per
//! sub-window grows with the logarithm of the observed range (about 460 counters for values
//! spanning 1 ms to 10 s), not with the number of observations.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a summary computes its quantiles.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryOptions {
    /// The quantiles to expose, each in `[0, 1]`.
    pub quantiles: Vec<f64>,
    /// How far back the quantiles look.
    pub max_age: Duration,
    /// How many steps the window slides in; at least 1.
    pub age_buckets: u32,
    /// The relative error of a reported quantile value, in `(0, 1)`.
    pub relative_error: f64,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        Self {
            quantiles: vec![0.5, 0.9, 0.99],
            max_age: Duration::from_secs(600),
            age_buckets: 5,
            relative_error: 0.01,
        }
    }
}

/// A summary without labels. Clones share the same data.
#[derive(Debug, Clone)]
pub struct Summary {
    inner: Arc<Mutex<Window>>,
    quantiles: Arc<[f64]>,
}

impl Default for Summary {
    fn default() -> Self {
        Self::new(SummaryOptions::default())
    }
}

impl Summary {
    /// Returns a summary computing the given quantiles.
    pub fn new(options: SummaryOptions) -> Self {
        Self::at(options, Instant::now())
    }

    fn at(options: SummaryOptions, now: Instant) -> Self {
        Self {
            quantiles: options
                .quantiles
                .iter()
                .map(|q| q.clamp(0.0, 1.0))
                .collect(),
            inner: Arc::new(Mutex::new(Window::new(&options, now))),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        self.observe_at(value, Instant::now());
    }

    fn observe_at(&self, value: f64, now: Instant) {
        self.lock().observe(value, now);
    }

    /// Returns the number of observations since the summary was created.
    pub fn count(&self) -> u64 {
        self.lock().count
    }

    /// Returns the sum of all observations since the summary was created.
    pub fn sum(&self) -> f64 {
        self.lock().sum
    }

    /// Returns the configured quantiles and their current values (NaN when the window holds
    /// no observation).
    pub fn quantiles(&self) -> Vec<(f64, f64)> {
        self.quantiles_at(Instant::now())
    }

    fn quantiles_at(&self, now: Instant) -> Vec<(f64, f64)> {
        self.snapshot_at(now).0
    }

    /// Returns the quantiles, count and sum as of one instant, under one lock, so that a
    /// scrape never sees a count that disagrees with its quantiles.
    fn snapshot_at(&self, now: Instant) -> (Vec<(f64, f64)>, u64, f64) {
        let mut window = self.lock();
        window.rotate(now);
        let merged = window.merged();
        let quantiles = self
            .quantiles
            .iter()
            .map(|&q| (q, merged.quantile(q)))
            .collect();
        (quantiles, window.count, window.sum)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // Every update leaves the window consistent, so a poisoned lock is safe to enter.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn encode_samples(&self, name: &str, labels: &str, out: &mut String) {
        let (quantiles, count, sum) = self.snapshot_at(Instant::now());
        for (q, v) in quantiles {
            let sep = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(
                out,
                "{name}{{{labels}{sep}quantile=\"{q}\"}} {}",
                fmt_f64(v)
            );
        }
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), fmt_f64(sum));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// Summaries partitioned by label values, like client_golang's `SummaryVec`.
#[derive(Debug, Clone)]
pub struct SummaryFamily {
    label_names: Arc<[String]>,
    options: Arc<SummaryOptions>,
    children: Arc<Mutex<HashMap<Vec<String>, Summary>>>,
}

impl SummaryFamily {
    /// Returns a family whose members are told apart by the named labels.
    pub fn new<I, S>(label_names: I, options: SummaryOptions) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            label_names: label_names.into_iter().map(Into::into).collect(),
            options: Arc::new(options),
            children: Arc::default(),
        }
    }

    /// Returns the summary for these label values, creating it on first use.
    ///
    /// Values are matched to the label names by position; missing values are empty and extra
    /// ones are ignored, so a call never fails. Keep the returned handle for hot paths: the
    /// lookup takes a lock.
    pub fn with_label_values(&self, values: &[&str]) -> Summary {
        let key: Vec<String> = (0..self.label_names.len())
            .map(|i| values.get(i).copied().unwrap_or_default().to_owned())
            .collect();
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        children
            .entry(key)
            .or_insert_with(|| Summary::new((*self.options).clone()))
            .clone()
    }
}

/// A summary as stored in a registry.
#[derive(Debug, Clone)]
pub enum Handle {
    /// One summary without labels.
    Single(Summary),
    /// A labelled family.
    Family(SummaryFamily),
}

impl From<Summary> for Handle {
    fn from(s: Summary) -> Self {
        Handle::Single(s)
    }
}

impl From<SummaryFamily> for Handle {
    fn from(f: SummaryFamily) -> Self {
        Handle::Family(f)
    }
}

/// A registered summary: its name, escaped help and data.
#[derive(Debug)]
pub(super) struct Registered {
    pub(super) name: String,
    pub(super) help: String,
    pub(super) handle: Handle,
}

impl Registered {
    /// Appends the family in OpenMetrics text, which 0.0.4 shares for summaries.
    pub(super) fn encode(&self, out: &mut String) {
        let name = &self.name;
        let _ = writeln!(out, "# HELP {name} {}", self.help);
        let _ = writeln!(out, "# TYPE {name} summary");
        match &self.handle {
            Handle::Single(s) => s.encode_samples(name, "", out),
            Handle::Family(f) => {
                let mut children: Vec<(Vec<String>, Summary)> = f
                    .children
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                children.sort_by(|a, b| a.0.cmp(&b.0));
                for (values, summary) in children {
                    let mut labels = String::new();
                    for (i, (k, v)) in f.label_names.iter().zip(&values).enumerate() {
                        if i > 0 {
                            labels.push(',');
                        }
                        let _ = write!(labels, "{k}=\"{}\"", escape_label_value(v));
                    }
                    summary.encode_samples(name, &labels, out);
                }
            }
        }
    }
}

fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

/// The sliding window: a ring of sketches and the cumulative count and sum.
#[derive(Debug)]
struct Window {
    sketches: Vec<Sketch>,
    head: usize,
    head_started: Instant,
    step: Duration,
    count: u64,
    sum: f64,
}

impl Window {
    fn new(options: &SummaryOptions, now: Instant) -> Self {
        let buckets = options.age_buckets.max(1);
        let step = (options.max_age / buckets).max(Duration::from_millis(1));
        let gamma = Sketch::gamma(options.relative_error);
        Self {
            sketches: (0..buckets).map(|_| Sketch::new(gamma)).collect(),
            head: 0,
            head_started: now,
            step,
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, value: f64, now: Instant) {
        self.count += 1;
        self.sum += value;
        self.rotate(now);
        self.sketches[self.head].insert(value);
    }

    /// Moves the head forward one sub-window per elapsed step, clearing the sub-window it
    /// lands on, which holds the oldest data.
    fn rotate(&mut self, now: Instant) {
        let n = self.sketches.len();
        let mut elapsed = now.saturating_duration_since(self.head_started);
        let mut steps = 0;
        while elapsed >= self.step && steps < n {
            self.head = (self.head + 1) % n;
            self.sketches[self.head].clear();
            self.head_started += self.step;
            elapsed -= self.step;
            steps += 1;
        }
        if elapsed >= self.step {
            // Idle for longer than the whole window: everything was cleared above.
            let skipped = elapsed.as_nanos() / self.step.as_nanos();
            self.head_started += self.step * u32::try_from(skipped).unwrap_or(u32::MAX);
        }
    }

    fn merged(&self) -> Sketch {
        let mut merged = Sketch::new(self.sketches[0].gamma);
        for s in &self.sketches {
            merged.merge(s);
        }
        merged
    }
}

/// A log-bucketed quantile sketch with bounded relative value error.
///
/// A positive value `v` falls in bucket `ceil(log_gamma(v))`, whose representative value is
/// within a factor `(1 ± error)` of every value in it. Negative values mirror into a second
/// store; values of magnitude below `MIN_MAGNITUDE` count as zero.
#[derive(Debug, Clone)]
struct Sketch {
    gamma: f64,
    ln_gamma: f64,
    positive: Store,
    negative: Store,
    zeros: u64,
}

const MIN_MAGNITUDE: f64 = 1e-12;

impl Sketch {
    fn gamma(relative_error: f64) -> f64 {
        let e = if relative_error > 0.0 && relative_error < 1.0 {
            relative_error
        } else {
            0.01
        };
        (1.0 + e) / (1.0 - e)
    }

    fn new(gamma: f64) -> Self {
        Self {
            gamma,
            ln_gamma: gamma.ln(),
            positive: Store::default(),
            negative: Store::default(),
            zeros: 0,
        }
    }

    fn index(&self, magnitude: f64) -> i32 {
        // Bounded: magnitudes are finite and at least MIN_MAGNITUDE, so |index| < 1e5.
        (magnitude.ln() / self.ln_gamma).ceil() as i32
    }

    fn value(&self, index: i32) -> f64 {
        2.0 * self.gamma.powi(index) / (self.gamma + 1.0)
    }

    fn insert(&mut self, v: f64) {
        if v.is_nan() {
            return;
        }
        let m = v.abs().min(f64::MAX);
        if m < MIN_MAGNITUDE {
            self.zeros += 1;
        } else if v > 0.0 {
            let i = self.index(m);
            self.positive.add(i, 1);
        } else {
            let i = self.index(m);
            self.negative.add(i, 1);
        }
    }

    fn merge(&mut self, other: &Sketch) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zeros += other.zeros;
    }

    fn clear(&mut self) {
        self.positive.clear();
        self.negative.clear();
        self.zeros = 0;
    }

    fn total(&self) -> u64 {
        self.positive.total + self.negative.total + self.zeros
    }

    /// Returns the value at rank `q * (n - 1)`, counting from the smallest.
    fn quantile(&self, q: f64) -> f64 {
        let n = self.total();
        if n == 0 {
            return f64::NAN;
        }
        let rank = (q * (n - 1) as f64).round() as u64;
        let mut seen = 0;
        // Most negative first: the negative store in descending index order.
        for (i, c) in self.negative.iter().rev() {
            seen += c;
            if seen > rank {
                return -self.value(i);
            }
        }
        seen += self.zeros;
        if seen > rank {
            return 0.0;
        }
        for (i, c) in self.positive.iter() {
            seen += c;
            if seen > rank {
                return self.value(i);
            }
        }
        // Unreachable when the counts are consistent; the largest value is the safe answer.
        self.positive
            .iter()
            .last()
            .map_or(0.0, |(i, _)| self.value(i))
    }
}

/// Dense bucket counts over a contiguous index range that grows as needed.
#[derive(Debug, Clone, Default)]
struct Store {
    offset: i32,
    counts: Vec<u64>,
    total: u64,
}

impl Store {
    fn add(&mut self, index: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(0);
        } else if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        } else if (index - self.offset) as usize >= self.counts.len() {
            self.counts.resize((index - self.offset) as usize + 1, 0);
        }
        self.counts[(index - self.offset) as usize] += n;
        self.total += n;
    }

    fn merge(&mut self, other: &Store) {
        for (i, c) in other.iter() {
            self.add(i, c);
        }
    }

    fn clear(&mut self) {
        self.counts.clear();
        self.total = 0;
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (self.offset + i as i32, *c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantiles_of_a_uniform_sequence_are_within_the_error_bound() {
        let s = Summary::default();
        for i in 1..=10_000 {
            s.observe(f64::from(i) / 1000.0);
        }
        for (q, v) in s.quantiles() {
            let exact = (q * 9999.0).round() / 1000.0 + 0.001;
            assert!(
                (v - exact).abs() <= exact * 0.0101,
                "q={q} got {v} want {exact}"
            );
        }
        assert_eq!(s.count(), 10_000);
        assert!((s.sum() - 50_005.0).abs() < 1e-6);
    }

    #[test]
    fn the_window_forgets_old_observations_but_count_and_sum_do_not() {
        let t0 = Instant::now();
        let s = Summary::at(SummaryOptions::default(), t0);
        for _ in 0..100 {
            s.observe_at(100.0, t0);
        }
        let at = |secs| t0 + Duration::from_secs(secs);
        s.observe_at(1.0, at(300));
        // Within max_age: the old observations still dominate the median.
        let median = s.quantiles_at(at(300))[0].1;
        assert!((median - 100.0).abs() <= 1.0, "{median}");
        // After max_age the old sub-window is cleared; only the recent 1.0 remains.
        let median = s.quantiles_at(at(601))[0].1;
        assert!((median - 1.0).abs() <= 0.01, "{median}");
        assert!(s.quantiles_at(at(5000))[0].1.is_nan());
        assert_eq!(s.count(), 101);
        assert_eq!(s.sum(), 10_001.0);
    }

    #[test]
    fn encodes_quantiles_sum_and_count_with_labels() {
        let f = SummaryFamily::new(
            ["op"],
            SummaryOptions {
                quantiles: vec![0.5],
                ..SummaryOptions::default()
            },
        );
        f.with_label_values(&["put\"x"]).observe(2.0);
        let r = Registered {
            name: "dht_seconds".into(),
            help: "DHT latency.".into(),
            handle: f.into(),
        };
        let mut out = String::new();
        r.encode(&mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[..2],
            [
                "# HELP dht_seconds DHT latency.",
                "# TYPE dht_seconds summary"
            ]
        );
        let (series, value) = lines[2].rsplit_once(' ').unwrap();
        assert_eq!(series, "dht_seconds{op=\"put\\\"x\",quantile=\"0.5\"}");
        let value: f64 = value.parse().unwrap();
        assert!((value - 2.0).abs() <= 0.02, "{value}");
        assert_eq!(
            lines[3..],
            [
                "dht_seconds_sum{op=\"put\\\"x\"} 2.0",
                "dht_seconds_count{op=\"put\\\"x\"} 1"
            ]
        );
    }

    proptest! {
        #[test]
        fn any_quantile_is_within_relative_error_of_the_exact_rank(
            mut values in prop::collection::vec(-1e6f64..1e6, 1..500),
            q in 0.0f64..=1.0,
        ) {
            let s = Summary::default();
            for v in &values {
                s.observe(*v);
            }
            values.sort_by(f64::total_cmp);
            let rank = (q * (values.len() - 1) as f64).round() as usize;
            let exact = values[rank];
            let mut sketch = Sketch::new(Sketch::gamma(0.01));
            for v in &values {
                sketch.insert(*v);
            }
            let got = sketch.quantile(q);
            let tolerance = exact.abs() * 0.0101 + MIN_MAGNITUDE;
            prop_assert!((got - exact).abs() <= tolerance, "q={} got {} want {}", q, got, exact);
        }
    }
}
