//! The generator's series, kept in memory between collections, as Tempo's
//! `registry.ManagedRegistry` keeps them.
//!
//! Counters and histograms are cumulative: each observation adds to a series' values, and
//! each collection writes every series' current values at the collection's time, so the
//! store sees what a scrape of Tempo's generator would have remote-written. A series'
//! first collection also writes zeros one second before the start of that minute, so
//! that `rate` and `increase` count the first observations instead of taking them as the
//! series' starting point (Tempo does the same). A series not updated for the stale
//! duration is forgotten and, unlike Tempo, ended in the store with a staleness marker,
//! so queries stop seeing it at once rather than after their lookback.
//!
//! The number of series is capped: a label set that would pass the cap is counted into
//! the metric's overflow series (`metric_overflow="true"`) instead, as Tempo's
//! `LocalSeriesLimiter` does, so totals stay right while the breakdown is lost.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use model::{Labels, LabelsBuilder, METRIC_NAME, STALE_NAN, Timestamp};

use crate::attributes::{format_float, truncate};

/// A metric of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetricId(usize);

#[derive(Debug)]
enum Kind {
    Counter,
    Gauge,
    /// Bounds end with `+Inf`; `les` are their labels.
    Histogram {
        bounds: Vec<f64>,
        les: Vec<String>,
    },
}

#[derive(Debug)]
struct Metric {
    name: String,
    kind: Kind,
    series: HashMap<Labels, Series>,
}

impl Kind {
    /// How many stored series one label set of a metric of this kind makes.
    fn width(&self) -> usize {
        match self {
            Kind::Counter | Kind::Gauge => 1,
            Kind::Histogram { bounds, .. } => bounds.len() + 2,
        }
    }
}

/// One label set of a metric: the stored series it writes and their values.
#[derive(Debug)]
struct Series {
    /// The labels of each stored series: the metric's one, or a histogram's `_sum`,
    /// `_count` and buckets in order.
    out: Vec<Labels>,
    /// Their values, in the same order.
    values: Vec<f64>,
    last_updated: Timestamp,
    /// Not written yet: the first collection writes the initial zeros.
    new: bool,
    /// The overflow series, which the cap does not count.
    overflow: bool,
    /// The exemplar of each bucket since the last collection, by its place in `out`: the
    /// last observation's trace ID and value, as Tempo keeps one per bucket.
    exemplars: Vec<(usize, String, f64)>,
}

/// Why a sample is written, which decides what an append error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SampleKind {
    /// A new series' zero, before its first value. It is older than what the store may
    /// hold for a series that was forgotten and came back, and is then refused as out of
    /// order: harmless.
    Initial,
    /// The current value.
    Value,
    /// The staleness marker of a forgotten series.
    Stale,
}

/// One sample to write.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) labels: Labels,
    pub(crate) t: Timestamp,
    pub(crate) v: f64,
    pub(crate) kind: SampleKind,
    /// The exemplar to append with it (a histogram bucket's, at most one a collection).
    pub(crate) exemplar: Option<storage::Exemplar>,
}

/// The registry's own figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RegistryCounts {
    pub(crate) active: u64,
    pub(crate) added: u64,
    pub(crate) removed: u64,
    pub(crate) limited: u64,
}

/// How the registry keeps series.
#[derive(Debug, Clone)]
pub(crate) struct RegistryOptions {
    pub(crate) external_labels: Vec<(String, String)>,
    /// 0: no cap.
    pub(crate) max_active_series: usize,
    pub(crate) stale_ms: i64,
    pub(crate) max_label_name_length: usize,
    pub(crate) max_label_value_length: usize,
}

/// The series of every metric; see the module's docs.
#[derive(Debug)]
pub(crate) struct Registry {
    options: RegistryOptions,
    metrics: Vec<Metric>,
    overflow: Labels,
    counts: RegistryCounts,
}

/// A label set being built for an observation: names and values are cut to the
/// registry's lengths, a later value for the same name wins, and an empty value removes
/// the label (Tempo's `LabelBuilder`).
#[derive(Debug)]
pub(crate) struct LabelSet {
    builder: LabelsBuilder,
    max_name: usize,
    max_value: usize,
}

impl LabelSet {
    /// Sets a label.
    pub(crate) fn add(&mut self, name: &str, value: &str) {
        let name = truncate(name, self.max_name);
        self.builder.set(name, truncate(value, self.max_value));
    }

    /// The label set.
    pub(crate) fn build(&self) -> Labels {
        self.builder.build()
    }
}

impl Registry {
    pub(crate) fn new(options: RegistryOptions) -> Self {
        Self {
            options,
            metrics: Vec::new(),
            overflow: Labels::from_pairs([("metric_overflow", "true")]),
            counts: RegistryCounts::default(),
        }
    }

    fn register(&mut self, name: &str, kind: Kind) -> MetricId {
        self.metrics.push(Metric {
            name: name.to_owned(),
            kind,
            series: HashMap::new(),
        });
        MetricId(self.metrics.len() - 1)
    }

    /// A counter named `name`.
    pub(crate) fn counter(&mut self, name: &str) -> MetricId {
        self.register(name, Kind::Counter)
    }

    /// A gauge named `name`.
    pub(crate) fn gauge(&mut self, name: &str) -> MetricId {
        self.register(name, Kind::Gauge)
    }

    /// A histogram named `name` (writing `name_bucket`, `name_sum` and `name_count`) with
    /// these upper bounds, to which `+Inf` is added.
    pub(crate) fn histogram(&mut self, name: &str, bounds: &[f64]) -> MetricId {
        let mut bounds = bounds.to_vec();
        bounds.sort_by(f64::total_cmp);
        bounds.push(f64::INFINITY);
        let les = bounds.iter().map(|b| format_float(*b)).collect();
        self.register(name, Kind::Histogram { bounds, les })
    }

    /// An empty label set to build.
    pub(crate) fn labels(&self) -> LabelSet {
        LabelSet {
            builder: LabelsBuilder::new(),
            max_name: self.options.max_label_name_length,
            max_value: self.options.max_label_value_length,
        }
    }

    /// Adds `v` to counter `id`'s series `labels`.
    pub(crate) fn inc(&mut self, id: MetricId, labels: &Labels, v: f64, now: Timestamp) {
        let s = self.series(id, labels, now);
        s.values[0] += v;
    }

    /// Sets gauge `id`'s series `labels` to `v`.
    pub(crate) fn set(&mut self, id: MetricId, labels: &Labels, v: f64, now: Timestamp) {
        let s = self.series(id, labels, now);
        s.values[0] = v;
    }

    /// Counts `value` into histogram `id`'s series `labels`, `weight` times (the span
    /// multiplier). A value equal to a bound falls in that bound's bucket (`le`), which
    /// keeps `trace_id` as its exemplar until the next collection, replacing an earlier
    /// one (Tempo's `ObserveWithExemplar`).
    pub(crate) fn observe(
        &mut self,
        id: MetricId,
        labels: &Labels,
        value: f64,
        weight: f64,
        now: Timestamp,
        trace_id: Option<&str>,
    ) {
        let first = match &self.metrics[id.0].kind {
            Kind::Histogram { bounds, .. } => bounds.partition_point(|b| *b < value),
            Kind::Counter | Kind::Gauge => return,
        };
        let s = self.series(id, labels, now);
        s.values[0] += value * weight;
        s.values[1] += weight;
        for bucket in &mut s.values[2 + first..] {
            *bucket += weight;
        }
        if let Some(trace_id) = trace_id {
            let at = 2 + first;
            s.exemplars.retain(|(i, _, _)| *i != at);
            s.exemplars.push((at, trace_id.to_owned(), value));
        }
    }

    /// The series of `id` for `labels`, created if new (or the overflow series if the
    /// cap is reached), marked as updated at `now`.
    fn series(&mut self, id: MetricId, labels: &Labels, now: Timestamp) -> &mut Series {
        let Metric { name, kind, series } = &mut self.metrics[id.0];
        let width = kind.width() as u64;
        let cap = self.options.max_active_series as u64;
        let key = if series.contains_key(labels)
            || *labels == self.overflow
            || cap == 0
            || self.counts.active.saturating_add(width) <= cap
        {
            labels
        } else {
            self.counts.limited += width;
            &self.overflow
        };
        let series = match series.entry(key.clone()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let overflow = *key == self.overflow;
                if !overflow {
                    self.counts.active += width;
                    self.counts.added += width;
                }
                e.insert(new_series(
                    name,
                    kind,
                    key,
                    &self.options.external_labels,
                    overflow,
                ))
            }
        };
        series.last_updated = series.last_updated.max(now);
        series
    }

    /// Forgets the series not updated for the stale duration, and returns the samples to
    /// write at `now`: every series' value, new series' initial zeros, and forgotten
    /// series' staleness markers.
    pub(crate) fn collect(&mut self, now: Timestamp) -> Vec<Sample> {
        let stale_before = now.saturating_sub(self.options.stale_ms);
        let initial_t = end_of_last_minute(now);
        let mut out = Vec::new();
        for metric in &mut self.metrics {
            let width = metric.kind.width() as u64;
            metric.series.retain(|_, s| {
                if s.last_updated >= stale_before {
                    return true;
                }
                if !s.new {
                    out.extend(s.out.iter().map(|labels| Sample {
                        labels: labels.clone(),
                        t: now,
                        v: STALE_NAN,
                        kind: SampleKind::Stale,
                        exemplar: None,
                    }));
                }
                if !s.overflow {
                    self.counts.active -= width;
                    self.counts.removed += width;
                }
                false
            });
            for s in metric.series.values_mut() {
                if s.new {
                    s.new = false;
                    out.extend(s.out.iter().map(|labels| Sample {
                        labels: labels.clone(),
                        t: initial_t,
                        v: 0.0,
                        kind: SampleKind::Initial,
                        exemplar: None,
                    }));
                }
                let first = out.len();
                out.extend(s.out.iter().zip(&s.values).map(|(labels, v)| Sample {
                    labels: labels.clone(),
                    t: now,
                    v: *v,
                    kind: SampleKind::Value,
                    exemplar: None,
                }));
                for (i, trace_id, value) in s.exemplars.drain(..) {
                    out[first + i].exemplar = Some(storage::Exemplar {
                        labels: Labels::from_pairs([("trace_id", trace_id.as_str())]),
                        value,
                        t: now,
                        has_timestamp: true,
                    });
                }
            }
        }
        out
    }

    /// The registry's figures.
    pub(crate) fn counts(&self) -> RegistryCounts {
        self.counts
    }
}

fn new_series(
    name: &str,
    kind: &Kind,
    key: &Labels,
    external: &[(String, String)],
    overflow: bool,
) -> Series {
    let mut b = key.builder();
    for (name, value) in external {
        b.set(name, value);
    }
    let mut named = |suffix: &str, le: Option<&str>| {
        b.set(METRIC_NAME, &format!("{name}{suffix}"));
        if let Some(le) = le {
            b.set("le", le);
        }
        b.build()
    };
    let out: Vec<Labels> = match kind {
        Kind::Counter | Kind::Gauge => vec![named("", None)],
        Kind::Histogram { les, .. } => {
            let mut out = vec![named("_sum", None), named("_count", None)];
            out.extend(les.iter().map(|le| named("_bucket", Some(le))));
            out
        }
    };
    Series {
        values: vec![0.0; out.len()],
        out,
        last_updated: Timestamp::MIN,
        new: true,
        overflow,
        exemplars: Vec::new(),
    }
}

/// One second before the minute `t` is in begins: where a new series' zeros go, so that
/// they fall in an earlier minute than its first value (Tempo's `getEndOfLastMinuteMs`).
fn end_of_last_minute(t: Timestamp) -> Timestamp {
    t - t.rem_euclid(60_000) - 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(cap: usize) -> Registry {
        Registry::new(RegistryOptions {
            external_labels: vec![("cluster".into(), "eu1".into())],
            max_active_series: cap,
            stale_ms: 60_000,
            max_label_name_length: 8,
            max_label_value_length: 4,
        })
    }

    fn values(samples: &[Sample], kind: SampleKind) -> Vec<(String, i64, f64)> {
        let mut out: Vec<_> = samples
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| (s.labels.to_string(), s.t, s.v))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_a_bound_is_inclusive() {
        let mut r = registry(0);
        let h = r.histogram("lat", &[0.1, 0.5, 1.0]);
        let l = Labels::from_pairs([("svc", "a")]);
        for v in [0.05, 0.1, 0.3, 1.0, 7.0] {
            r.observe(h, &l, v, 1.0, 120_000, None);
        }
        r.observe(h, &l, 0.5, 10.0, 120_000, None); // a span standing for ten
        let got = values(&r.collect(125_000), SampleKind::Value);
        let want = [
            (r#"lat_bucket{cluster="eu1",le="+Inf",svc="a"}"#, 15.0),
            (r#"lat_bucket{cluster="eu1",le="0.1",svc="a"}"#, 2.0),
            (r#"lat_bucket{cluster="eu1",le="0.5",svc="a"}"#, 13.0),
            (r#"lat_bucket{cluster="eu1",le="1",svc="a"}"#, 14.0),
            (r#"lat_count{cluster="eu1",svc="a"}"#, 15.0),
            (
                r#"lat_sum{cluster="eu1",svc="a"}"#,
                0.05 + 0.1 + 0.3 + 1.0 + 7.0 + 5.0,
            ),
        ];
        assert_eq!(got.len(), want.len());
        for ((name, t, v), (want_name, want_v)) in got.iter().zip(want) {
            assert_eq!((name.as_str(), *t), (want_name, 125_000));
            assert!((v - want_v).abs() < 1e-9, "{name}: {v} != {want_v}");
        }
    }

    #[test]
    fn each_bucket_keeps_its_last_exemplar_until_the_next_collection() {
        let mut r = registry(0);
        let h = r.histogram("lat", &[0.1, 0.5]);
        let l = Labels::from_pairs([("svc", "a")]);
        r.observe(h, &l, 0.2, 1.0, 1000, Some("aa"));
        r.observe(h, &l, 0.5, 1.0, 1000, Some("bb")); // the same bucket: replaces aa
        r.observe(h, &l, 0.05, 1.0, 1000, Some("cc"));
        r.observe(h, &l, 9.0, 1.0, 1000, None);
        let exemplars = |samples: &[Sample]| -> Vec<String> {
            let mut out: Vec<String> = samples
                .iter()
                .filter_map(|s| {
                    let e = s.exemplar.as_ref()?;
                    Some(format!("{} {} {} {}", s.labels, e.labels, e.value, e.t))
                })
                .collect();
            out.sort();
            out
        };
        assert_eq!(
            exemplars(&r.collect(15_000)),
            [
                r#"lat_bucket{cluster="eu1",le="0.1",svc="a"} {trace_id="cc"} 0.05 15000"#,
                r#"lat_bucket{cluster="eu1",le="0.5",svc="a"} {trace_id="bb"} 0.5 15000"#,
            ]
        );
        assert!(exemplars(&r.collect(30_000)).is_empty(), "written once");
    }

    #[test]
    fn a_new_series_starts_with_zeros_before_its_minute_and_counts_on() {
        let mut r = registry(0);
        let c = r.counter("calls_total");
        let l = Labels::from_pairs([("svc", "a")]);
        r.inc(c, &l, 2.0, 125_000);
        let first = r.collect(125_000);
        assert_eq!(
            values(&first, SampleKind::Initial),
            [(r#"calls_total{cluster="eu1",svc="a"}"#.into(), 119_000, 0.0)]
        );
        assert_eq!(values(&first, SampleKind::Value)[0].2, 2.0);
        r.inc(c, &l, 3.0, 130_000);
        let second = r.collect(140_000);
        assert!(values(&second, SampleKind::Initial).is_empty());
        assert_eq!(values(&second, SampleKind::Value)[0].1, 140_000);
        assert_eq!(values(&second, SampleKind::Value)[0].2, 5.0);
    }

    #[test]
    fn a_series_not_updated_for_the_stale_duration_is_ended_and_forgotten() {
        let mut r = registry(0);
        let c = r.counter("calls_total");
        let (a, b) = (
            Labels::from_pairs([("svc", "a")]),
            Labels::from_pairs([("svc", "b")]),
        );
        r.inc(c, &a, 1.0, 0);
        r.inc(c, &b, 1.0, 0);
        r.collect(15_000);
        r.inc(c, &b, 1.0, 50_000);
        assert_eq!(r.counts().active, 2);
        // At 70 s, a was last updated 70 s ago (over the 60 s stale duration); b 20 s ago.
        let out = r.collect(70_000);
        let stale: Vec<_> = out.iter().filter(|s| s.kind == SampleKind::Stale).collect();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].labels.get("svc"), Some("a"));
        assert!(model::is_stale_nan(stale[0].v) && stale[0].t == 70_000);
        assert_eq!(values(&out, SampleKind::Value).len(), 1);
        assert_eq!(r.counts().active, 1);
        assert_eq!(r.counts().removed, 1);
        // a comes back as a new series, from zero.
        r.inc(c, &a, 1.0, 80_000);
        let out = r.collect(90_000);
        assert_eq!(values(&out, SampleKind::Initial).len(), 1);
    }

    #[test]
    fn past_the_cap_label_sets_go_to_the_overflow_series() {
        // One counter series and one 5-wide histogram fit in 6; nothing more does.
        let mut r = registry(6);
        let c = r.counter("calls_total");
        let h = r.histogram("lat", &[0.1, 1.0]);
        let l = |s: &str| Labels::from_pairs([("svc", s)]);
        r.inc(c, &l("a"), 1.0, 0);
        r.observe(h, &l("a"), 0.5, 1.0, 0, None);
        r.inc(c, &l("b"), 1.0, 0);
        r.inc(c, &l("c"), 2.0, 0);
        r.observe(h, &l("b"), 0.5, 1.0, 0, None);
        r.inc(c, &l("a"), 1.0, 0); // known series are still updated
        let counts = r.counts();
        assert_eq!((counts.active, counts.limited), (6, 1 + 1 + 5));
        let got = values(&r.collect(15_000), SampleKind::Value);
        let calls: Vec<_> = got
            .iter()
            .filter(|(n, ..)| n.starts_with("calls_total"))
            .map(|(n, _, v)| (n.as_str(), *v))
            .collect();
        assert_eq!(
            calls,
            [
                (r#"calls_total{cluster="eu1",metric_overflow="true"}"#, 3.0),
                (r#"calls_total{cluster="eu1",svc="a"}"#, 2.0),
            ]
        );
        assert!(got.iter().any(|(n, _, v)| n
            == r#"lat_count{cluster="eu1",metric_overflow="true"}"#
            && *v == 1.0));
    }

    #[test]
    fn long_names_and_values_are_cut_and_empty_values_drop_the_label() {
        let r = registry(0);
        let mut set = r.labels();
        set.add("service_name_long", "frontend");
        set.add("empty", "");
        set.add("kind", "x");
        set.add("kind", "");
        assert_eq!(set.build().to_string(), r#"{service_="fron"}"#);
    }

    #[test]
    fn zeros_go_one_second_before_the_minute() {
        assert_eq!(end_of_last_minute(125_000), 119_000);
        assert_eq!(end_of_last_minute(120_000), 119_000);
        assert_eq!(end_of_last_minute(60_000 - 1), -1000);
    }
}
