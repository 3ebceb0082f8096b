//! Metrics: OTLP data points to samples, appended through [`storage::Appendable`] as
//! Prometheus 3's OTLP receiver translates them (its `otlptranslator` with the default
//! `UnderscoreEscapingWithSuffixes` strategy).
//!
//! - Names: the metric name's characters outside `[a-zA-Z0-9:]` split it into words
//!   joined by `_`; the unit follows as a word (`s` → `seconds`, `By` → `bytes`, `By/s` →
//!   `bytes_per_second`, `{requests}` → nothing; see [`UNITS`]) unless the name already has
//!   it; a monotonic sum gets `_total`, a gauge with unit `1` gets `_ratio`; a name starting
//!   with a digit gets a leading `_`.
//! - Labels: the point's attributes, names with characters outside `[a-zA-Z0-9_]` made
//!   `_`, a leading digit prefixed with `key_`, a single leading `_` with `key`; two
//!   attributes that end up with one name are joined with `;`. `job` is the resource's
//!   `service.namespace/service.name` (or `service.name`), `instance` its
//!   `service.instance.id`. The other resource attributes go to one `target_info` series
//!   per resource (value 1, from the earliest to the latest point every 2m30s, half the
//!   lookback), as Prometheus writes it.
//! - Gauges and sums: one sample a point (an integer point as a float); a monotonic
//!   cumulative sum is a counter with its start time kept. Histograms: `_bucket{le}`
//!   cumulative counts with `le="+Inf"` equal to the count, `_sum` (when present) and
//!   `_count`. Summaries: `{quantile}` series, `_sum` and `_count`. A point flagged "no
//!   recorded value" is written as staleness markers.
//! - Refused, each point counted in the partial success: sums and histograms with delta
//!   or unspecified temporality (as Prometheus refuses them without its delta feature) and
//!   exponential histograms (native histograms, which storage does not hold yet).
//! - Exemplars of sums go to the sum's series, those of histograms to the first bucket
//!   whose bound is at or above the exemplar's value (`+Inf` at the last), as Prometheus 3
//!   puts them. Their labels are `trace_id` and `span_id` in lowercase hex (when set), then
//!   the filtered attributes with their keys as they are, unless those would take the
//!   labels past 128 characters, when only the IDs are kept. Gauges' and summaries'
//!   exemplars are dropped, as Prometheus drops them; a refused exemplar never refuses its
//!   point.
//!
//! Timestamps become milliseconds by integer division, as Prometheus does.

use model::{Labels, LabelsBuilder, METRIC_NAME, STALE_NAN, Timestamp};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, DataPointFlags, Gauge, ResourceMetrics, Sum, exemplar, metric::Data,
    number_data_point,
};
use storage::{Appendable, Exemplar, StorageError};

use crate::traces::Values;

/// OTLP's (UCUM's) units and the words Prometheus names them with; `1` is none.
pub const UNITS: &[(&str, &str)] = &[
    ("d", "days"),
    ("h", "hours"),
    ("min", "minutes"),
    ("s", "seconds"),
    ("ms", "milliseconds"),
    ("us", "microseconds"),
    ("ns", "nanoseconds"),
    ("By", "bytes"),
    ("KiBy", "kibibytes"),
    ("MiBy", "mebibytes"),
    ("GiBy", "gibibytes"),
    ("TiBy", "tibibytes"),
    ("KBy", "kilobytes"),
    ("MBy", "megabytes"),
    ("GBy", "gigabytes"),
    ("TBy", "terabytes"),
    ("m", "meters"),
    ("V", "volts"),
    ("A", "amperes"),
    ("J", "joules"),
    ("W", "watts"),
    ("g", "grams"),
    ("Cel", "celsius"),
    ("Hz", "hertz"),
    ("1", ""),
    ("%", "percent"),
];

/// The units after a `/`, in the singular.
const PER_UNITS: &[(&str, &str)] = &[
    ("s", "second"),
    ("m", "minute"),
    ("h", "hour"),
    ("d", "day"),
    ("w", "week"),
    ("mo", "month"),
    ("y", "year"),
];

/// What kind of series a metric becomes, which decides its suffixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A gauge.
    Gauge,
    /// A monotonic sum: a counter, `_total`.
    Counter,
    /// A sum that may go down: a gauge without `_total`.
    NonMonotonicSum,
    /// A histogram.
    Histogram,
    /// A summary.
    Summary,
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// A unit word as a name part: invalid characters made `_`, runs of `_` collapsed, a
/// leading `_` dropped.
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars() {
        let c = if is_name_char(c) { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_start_matches('_').to_owned()
}

/// The unit's main and per words (`By/s` → `bytes`, `per_second`).
fn unit_words(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let main = if main.is_empty() || main.contains(['{', '}']) {
        String::new()
    } else {
        lookup(UNITS, main).unwrap_or(main).to_owned()
    };
    let per = match parts.next().map(str::trim) {
        Some(p) if !p.is_empty() && !p.contains(['{', '}']) => {
            format!("per_{}", lookup(PER_UNITS, p).unwrap_or(p))
        }
        _ => String::new(),
    };
    (clean_unit(&main), clean_unit(&per))
}

/// The Prometheus name of an OTLP metric, or why it has none.
pub fn metric_name(name: &str, unit: &str, kind: Kind) -> Result<String, String> {
    let mut words: Vec<String> = name
        .split(|c: char| !is_name_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let (mut main, per) = unit_words(unit);
    if words.contains(&main) {
        main.clear();
    }
    let per = if per == "per_" {
        String::new()
    } else {
        let per = per.trim_end_matches('_').to_owned();
        if words.contains(&per) {
            String::new()
        } else {
            per
        }
    };
    if !per.is_empty() {
        main = main.trim_end_matches('_').to_owned();
    }
    for w in [main, per] {
        if !w.is_empty() {
            words.push(w);
        }
    }
    if kind == Kind::Counter {
        words.retain(|w| w != "total");
        words.push("total".into());
    }
    if unit == "1" && kind == Kind::Gauge {
        words.retain(|w| w != "ratio");
        words.push("ratio".into());
    }
    let mut out = words.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if out.is_empty() {
        return Err(format!(
            "the name of metric {name:?} has no valid character"
        ));
    }
    if out != name && out.bytes().all(|b| b == b'_') {
        return Err(format!(
            "the name of metric {name:?} becomes only underscores"
        ));
    }
    Ok(out)
}

/// The Prometheus label name of an attribute key, or why it has none.
pub fn label_name(key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err("an attribute has an empty key".into());
    }
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    if out != key && out.bytes().all(|b| b == b'_') {
        return Err(format!("attribute {key:?} becomes only underscores"));
    }
    Ok(out)
}

/// An attribute's value as a label value (strings as they are, the rest as text).
fn text(values: &mut Values, kv: &KeyValue) -> String {
    values.value(kv.value.clone()).to_text()
}

/// The labels of a point: its attributes, then `job` and `instance`.
fn attribute_labels(
    values: &mut Values,
    attributes: &[KeyValue],
    skip: &[&str],
    job: Option<&str>,
    instance: Option<&str>,
) -> Result<LabelsBuilder, String> {
    let mut sorted: Vec<&KeyValue> = attributes
        .iter()
        .filter(|kv| !skip.contains(&kv.key.as_str()))
        .collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut b = LabelsBuilder::new();
    for kv in sorted {
        let name = label_name(&kv.key)?;
        let value = text(values, kv);
        // Two keys that sanitize to one name keep both values, as Prometheus does.
        let joined = match b.get(&name) {
            Some(existing) => format!("{existing};{value}"),
            None => value,
        };
        b.set(&name, &joined);
    }
    if let Some(job) = job {
        b.set("job", job);
    }
    if let Some(instance) = instance {
        b.set("instance", instance);
    }
    Ok(b)
}

/// What became of the data points of one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Appended {
    /// Data points kept (a histogram point is one point, however many samples).
    pub accepted: u64,
    /// Data points refused.
    pub rejected: u64,
    /// Samples appended.
    pub samples: u64,
    /// Exemplars appended.
    pub exemplars: u64,
    /// Why: the first few refusals and warnings.
    pub problems: Vec<String>,
}

const PROBLEMS_KEPT: usize = 5;

impl Appended {
    fn note(&mut self, problem: String) {
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(problem);
        }
    }

    fn reject(&mut self, points: usize, problem: String) {
        self.rejected += points as u64;
        self.note(problem);
    }

    /// The message of a partial success; `None` when every point was kept and nothing
    /// needs saying.
    pub fn message(&self) -> Option<String> {
        if self.problems.is_empty() {
            return None;
        }
        let total = self.accepted + self.rejected;
        Some(format!(
            "rejected {} of {total} data points: {}",
            self.rejected,
            self.problems.join("; ")
        ))
    }
}

/// The samples of one point, and its exemplars by the sample they go with.
struct Point {
    t: Timestamp,
    start: Timestamp,
    samples: Vec<(Labels, f64)>,
    exemplars: Vec<(usize, Exemplar)>,
}

/// A point's exemplars as Prometheus 3's `getPromExemplars` makes them; those without a
/// value are dropped.
fn exemplars(
    values: &mut Values,
    list: &[opentelemetry_proto::tonic::metrics::v1::Exemplar],
) -> Vec<Exemplar> {
    let hex = |bytes: &[u8]| -> Option<String> {
        bytes
            .iter()
            .any(|&b| b != 0)
            .then(|| bytes.iter().map(|b| format!("{b:02x}")).collect())
    };
    list.iter()
        .filter_map(|e| {
            let value = match e.value? {
                exemplar::Value::AsDouble(d) => d,
                exemplar::Value::AsInt(i) => i as f64,
            };
            let mut b = LabelsBuilder::new();
            let mut length = 0;
            for (name, id) in [("trace_id", &e.trace_id), ("span_id", &e.span_id)] {
                if let Some(id) = hex(id) {
                    length += name.len() + id.len();
                    b.set(name, &id);
                }
            }
            let attributes: Vec<(&str, String)> = e
                .filtered_attributes
                .iter()
                .map(|kv| (kv.key.as_str(), text(values, kv)))
                .collect();
            length += attributes
                .iter()
                .map(|(k, v)| k.chars().count() + v.chars().count())
                .sum::<usize>();
            if length <= storage::exemplar::MAX_LABELS_LENGTH {
                for (k, v) in &attributes {
                    b.set(k, v);
                }
            }
            Some(Exemplar {
                labels: b.build(),
                value,
                t: millis(e.time_unix_nano),
                has_timestamp: true,
            })
        })
        .collect()
}

/// The sample of a histogram's buckets (from `first`, one a bound and `+Inf` last) each
/// exemplar goes to: the first whose bound is at or above its value.
fn bucket_exemplars(list: Vec<Exemplar>, bounds: &[f64], first: usize) -> Vec<(usize, Exemplar)> {
    list.into_iter()
        .map(|e| {
            let i = bounds
                .iter()
                .position(|&b| e.value <= b)
                .unwrap_or(bounds.len());
            (first + i, e)
        })
        .collect()
}

fn millis(ns: u64) -> Timestamp {
    i64::try_from(ns / 1_000_000).unwrap_or(i64::MAX)
}

/// The `le` and `quantile` values, as Go's `FormatFloat(f, 'f', -1, 64)` writes them.
fn float_label(f: f64) -> String {
    if f == f64::INFINITY {
        "+Inf".into()
    } else if f == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        f.to_string()
    }
}

fn with_name(base: &LabelsBuilder, name: &str, extra: Option<(&str, &str)>) -> Labels {
    let mut b = base.clone();
    if let Some((n, v)) = extra {
        b.set(n, v);
    }
    b.set(METRIC_NAME, name);
    b.build()
}

/// How far apart `target_info` samples are: half of the 5m lookback, as Prometheus.
const TARGET_INFO_STEP: i64 = 150_000;

/// The most `target_info` samples one resource of a request writes (41h37m30s of points).
const MAX_TARGET_INFO_SAMPLES: i64 = 1_000;

/// Appends the samples of every point of `resource_metrics` in one transaction. Fails
/// only if the transaction cannot commit (nothing is then kept); refused points are
/// counted in the result.
pub fn append(
    store: &dyn Appendable,
    resource_metrics: Vec<ResourceMetrics>,
) -> Result<Appended, StorageError> {
    let mut out = Appended::default();
    let mut values = Values {
        limit: usize::MAX,
        truncated: 0,
    };
    // Exemplars' attributes are not cut, as Prometheus does not cut them.
    let mut exemplar_values = Values {
        limit: usize::MAX,
        truncated: 0,
    };
    let mut points: Vec<Point> = Vec::new();
    let mut target_info: Vec<(Labels, Vec<Timestamp>)> = Vec::new();
    for rm in resource_metrics {
        let resource = rm.resource.unwrap_or_default().attributes;
        let find = |key: &str| {
            resource
                .iter()
                .find(|kv| kv.key == key)
                .map(|kv| kv.value.clone())
        };
        let mut job = None;
        if let Some(name) = find("service.name") {
            let name = values.value(name).to_text();
            job = Some(match find("service.namespace") {
                Some(ns) => format!("{}/{name}", values.value(ns).to_text()),
                None => name,
            });
        }
        let instance = find("service.instance.id").map(|v| values.value(v).to_text());
        let (mut earliest, mut latest) = (u64::MAX, 0_u64);
        for sm in rm.scope_metrics {
            for m in sm.metrics {
                let Some(data) = m.data else {
                    out.note(format!("metric {:?} has no data; it is dropped", m.name));
                    continue;
                };
                let (kind, temporality, count) = match &data {
                    Data::Gauge(g) => (Kind::Gauge, None, g.data_points.len()),
                    Data::Sum(s) => (
                        if s.is_monotonic {
                            Kind::Counter
                        } else {
                            Kind::NonMonotonicSum
                        },
                        Some(s.aggregation_temporality),
                        s.data_points.len(),
                    ),
                    Data::Histogram(h) => (
                        Kind::Histogram,
                        Some(h.aggregation_temporality),
                        h.data_points.len(),
                    ),
                    Data::ExponentialHistogram(h) => {
                        out.reject(
                            h.data_points.len(),
                            format!(
                                "metric {:?} is an exponential histogram, which would be a native histogram, and Skywatch does not store those yet; send explicit-bucket histograms",
                                m.name
                            ),
                        );
                        continue;
                    }
                    Data::Summary(s) => (Kind::Summary, None, s.data_points.len()),
                };
                if count == 0 {
                    out.note(format!("empty data points. {} is dropped", m.name));
                    continue;
                }
                if temporality.is_some_and(|t| t != AggregationTemporality::Cumulative as i32) {
                    out.reject(
                        count,
                        format!(
                            "invalid temporality and type combination for metric {:?}: only cumulative sums and histograms are stored; set the exporter's temporality preference to cumulative",
                            m.name
                        ),
                    );
                    continue;
                }
                let name = match metric_name(&m.name, &m.unit, kind) {
                    Ok(name) => name,
                    Err(e) => {
                        out.reject(count, e);
                        continue;
                    }
                };
                // Collects one point's samples; a point whose labels cannot be made is
                // refused and counted.
                let mut push = |attributes: &[KeyValue],
                                time: u64,
                                start: u64,
                                flags: u32,
                                exemplars: Vec<(usize, Exemplar)>,
                                build: &mut dyn FnMut(&LabelsBuilder) -> Vec<(Labels, f64)>| {
                    let base = match attribute_labels(
                        &mut values,
                        attributes,
                        &[],
                        job.as_deref(),
                        instance.as_deref(),
                    ) {
                        Ok(base) => base,
                        Err(e) => return out.reject(1, format!("metric {:?}: {e}", m.name)),
                    };
                    earliest = earliest.min(time);
                    latest = latest.max(time);
                    let mut samples = build(&base);
                    if flags & DataPointFlags::NoRecordedValueMask as u32 != 0 {
                        for s in &mut samples {
                            s.1 = STALE_NAN;
                        }
                    }
                    points.push(Point {
                        t: millis(time),
                        start: millis(start),
                        samples,
                        exemplars,
                    });
                };
                match data {
                    Data::Gauge(Gauge { data_points }) | Data::Sum(Sum { data_points, .. }) => {
                        for p in data_points {
                            let v = number(p.value);
                            // Only sums have a start: a gauge's is no reset.
                            let start = match kind {
                                Kind::Gauge => 0,
                                _ => p.start_time_unix_nano,
                            };
                            // Only sums keep exemplars, on their one series.
                            let kept = match kind {
                                Kind::Gauge => Vec::new(),
                                _ => exemplars(&mut exemplar_values, &p.exemplars)
                                    .into_iter()
                                    .map(|e| (0, e))
                                    .collect(),
                            };
                            push(
                                &p.attributes,
                                p.time_unix_nano,
                                start,
                                p.flags,
                                kept,
                                &mut |b| vec![(with_name(b, &name, None), v)],
                            );
                        }
                    }
                    Data::Histogram(h) => {
                        for p in h.data_points {
                            // The buckets follow `_sum` (if any) and `_count`.
                            let first = 1 + usize::from(p.sum.is_some());
                            let bounds = &p.explicit_bounds
                                [..p.explicit_bounds.len().min(p.bucket_counts.len())];
                            let kept = bucket_exemplars(
                                exemplars(&mut exemplar_values, &p.exemplars),
                                bounds,
                                first,
                            );
                            push(
                                &p.attributes,
                                p.time_unix_nano,
                                p.start_time_unix_nano,
                                p.flags,
                                kept,
                                &mut |b| {
                                    let mut s = Vec::with_capacity(p.explicit_bounds.len() + 3);
                                    if let Some(sum) = p.sum {
                                        s.push((with_name(b, &format!("{name}_sum"), None), sum));
                                    }
                                    s.push((
                                        with_name(b, &format!("{name}_count"), None),
                                        p.count as f64,
                                    ));
                                    let bucket = format!("{name}_bucket");
                                    let mut cumulative = 0_u64;
                                    for (bound, n) in p.explicit_bounds.iter().zip(&p.bucket_counts)
                                    {
                                        cumulative = cumulative.saturating_add(*n);
                                        let le = float_label(*bound);
                                        s.push((
                                            with_name(b, &bucket, Some(("le", &le))),
                                            cumulative as f64,
                                        ));
                                    }
                                    s.push((
                                        with_name(b, &bucket, Some(("le", "+Inf"))),
                                        p.count as f64,
                                    ));
                                    s
                                },
                            );
                        }
                    }
                    Data::Summary(sm) => {
                        for p in sm.data_points {
                            push(
                                &p.attributes,
                                p.time_unix_nano,
                                p.start_time_unix_nano,
                                p.flags,
                                Vec::new(),
                                &mut |b| {
                                    let mut s = vec![
                                        (with_name(b, &format!("{name}_sum"), None), p.sum),
                                        (
                                            with_name(b, &format!("{name}_count"), None),
                                            p.count as f64,
                                        ),
                                    ];
                                    for q in &p.quantile_values {
                                        let quantile = float_label(q.quantile);
                                        s.push((
                                            with_name(b, &name, Some(("quantile", &quantile))),
                                            q.value,
                                        ));
                                    }
                                    s
                                },
                            );
                        }
                    }
                    Data::ExponentialHistogram(_) => {}
                }
            }
        }
        if earliest <= latest {
            let identifying = ["service.name", "service.namespace", "service.instance.id"];
            let others = resource
                .iter()
                .any(|kv| !identifying.contains(&kv.key.as_str()));
            if others && (job.is_some() || instance.is_some()) {
                match attribute_labels(
                    &mut values,
                    &resource,
                    &identifying,
                    job.as_deref(),
                    instance.as_deref(),
                ) {
                    Ok(b) => {
                        let (mut first, last) = (millis(earliest), millis(latest));
                        // Points years apart would make millions of samples (a fuzzed
                        // request of two points made 11 million): the newest ones only.
                        let span = (MAX_TARGET_INFO_SAMPLES - 1) * TARGET_INFO_STEP;
                        if last.saturating_sub(first) > span {
                            first = last - span;
                            out.note(format!(
                                "target_info: the points span more than {} hours; it is written for the last {} hours of them only",
                                span / 3_600_000,
                                span / 3_600_000
                            ));
                        }
                        // Every half lookback (2m30s), so that target_info is found for the
                        // whole span of the points.
                        let mut times: Vec<Timestamp> =
                            (first..last).step_by(TARGET_INFO_STEP as usize).collect();
                        if times.last().is_none_or(|&t| t < last) {
                            times.push(last);
                        }
                        target_info.push((with_name(&b, "target_info", None), times));
                    }
                    Err(e) => out.note(format!("target_info: {e}")),
                }
            }
        }
    }

    let mut app = store.appender();
    for point in points {
        let mut refused = None;
        let mut exemplars = point.exemplars.into_iter().peekable();
        for (i, (labels, v)) in point.samples.iter().enumerate() {
            let r = if point.start > 0 {
                app.append_with_start_time(None, labels, point.t, point.start, *v)
            } else {
                app.append(None, labels, point.t, *v)
            };
            let series = match r {
                Ok(r) => {
                    out.samples += 1;
                    Some(r)
                }
                Err(e) => {
                    refused = Some(e);
                    None
                }
            };
            while let Some((_, e)) = exemplars.next_if(|(of, _)| *of == i) {
                // As Prometheus: a refused exemplar (repeated, late, or a store keeping none)
                // is dropped without a word, and never refuses its point. (Labels cannot be
                // too long: attributes are left out first.)
                if app.append_exemplar(series, labels, e).is_ok() {
                    out.exemplars += 1;
                }
            }
        }
        match refused {
            Some(e) => out.reject(1, e.to_string()),
            None => out.accepted += 1,
        }
    }
    for (labels, times) in &target_info {
        for &t in times {
            // A target_info sample the store already has from an earlier request is no
            // data point of this one: its refusal (out of order) is not counted.
            if app.append(None, labels, t, 1.0).is_ok() {
                out.samples += 1;
            }
        }
    }
    app.commit()?;
    Ok(out)
}

fn number(v: Option<number_data_point::Value>) -> f64 {
    match v {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Matcher;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        Exemplar as OtlpExemplar, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
        ScopeMetrics, Sum, Summary, SummaryDataPoint, summary_data_point::ValueAtQuantile,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use storage::{MemStorage, Queryable, SelectHints};

    #[test]
    fn names_get_unit_and_type_suffixes_as_prometheus_gives_them() {
        for (name, unit, kind, expected) in [
            (
                "http.server.duration",
                "s",
                Kind::Histogram,
                "http_server_duration_seconds",
            ),
            (
                "http.server.request.duration",
                "ms",
                Kind::Histogram,
                "http_server_request_duration_milliseconds",
            ),
            ("requests.count", "1", Kind::Counter, "requests_count_total"),
            ("memory.usage", "By", Kind::Gauge, "memory_usage_bytes"),
            ("cpu.utilization", "1", Kind::Gauge, "cpu_utilization_ratio"),
            (
                "cpu.utilization.ratio",
                "1",
                Kind::Gauge,
                "cpu_utilization_ratio",
            ),
            (
                "network.io",
                "By/s",
                Kind::Gauge,
                "network_io_bytes_per_second",
            ),
            (
                "system.network.packets",
                "{packets}",
                Kind::Counter,
                "system_network_packets_total",
            ),
            (
                "requests",
                "{request}/s",
                Kind::Gauge,
                "requests_per_second",
            ),
            (
                "process.runtime.total",
                "",
                Kind::Counter,
                "process_runtime_total",
            ),
            ("queue.size", "", Kind::NonMonotonicSum, "queue_size"),
            ("latency_seconds", "s", Kind::Summary, "latency_seconds"),
            ("temp", "Cel", Kind::Gauge, "temp_celsius"),
            ("2xx.responses", "", Kind::Counter, "_2xx_responses_total"),
            ("foo__bar...baz", "", Kind::Gauge, "foo_bar_baz"),
            ("sent", "KiBy", Kind::Counter, "sent_kibibytes_total"),
            ("ratio.thing", "%", Kind::Gauge, "ratio_thing_percent"),
            ("rate", "m/h", Kind::Gauge, "rate_meters_per_hour"),
            ("odd", "my unit", Kind::Gauge, "odd_my_unit"),
            ("app:requests", "", Kind::Gauge, "app:requests"),
        ] {
            assert_eq!(
                metric_name(name, unit, kind).unwrap(),
                expected,
                "{name} {unit}"
            );
        }
        assert!(metric_name("...", "", Kind::Gauge).is_err());
    }

    #[test]
    fn attribute_keys_become_label_names_as_prometheus_makes_them() {
        for (key, expected) in [
            ("http.method", "http_method"),
            ("123invalid", "key_123invalid"),
            ("_private", "key_private"),
            ("__reserved__", "__reserved__"),
            ("größe", "gr__e"),
            ("valid_name", "valid_name"),
        ] {
            assert_eq!(label_name(key).unwrap(), expected, "{key}");
        }
        assert!(label_name("").is_err());
        assert!(label_name("...").is_err());
    }

    fn text(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            key_strindex: 0,
        }
    }

    fn int(k: &str, v: i64) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(v)),
            }),
            key_strindex: 0,
        }
    }

    const T: u64 = 1_700_000_000_123_456_789;

    fn number_point(attributes: Vec<KeyValue>, v: number_data_point::Value) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: T - 60_000_000_000,
            time_unix_nano: T,
            value: Some(v),
            ..NumberDataPoint::default()
        }
    }

    fn metric(name: &str, unit: &str, data: Data) -> Metric {
        Metric {
            name: name.into(),
            unit: unit.into(),
            data: Some(data),
            ..Metric::default()
        }
    }

    fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> Vec<ResourceMetrics> {
        vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource,
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..ScopeMetrics::default()
            }],
            schema_url: String::new(),
        }]
    }

    /// Every series in the store with its samples, as `labels => [(t, v)]` lines.
    fn dump(store: &MemStorage) -> Vec<String> {
        let q = store.querier(i64::MIN, i64::MAX).unwrap();
        let set = q
            .select(
                &SelectHints::default(),
                &[Matcher::new(model::MatchOp::Regex, "__name__", ".+").unwrap()],
            )
            .unwrap();
        set.map(|s| {
            let mut s = s.unwrap();
            let samples: Vec<String> = s
                .samples
                .collect_vec()
                .unwrap()
                .iter()
                .map(|x| {
                    if model::is_stale_nan(x.v) {
                        format!("{}:stale", x.t)
                    } else {
                        format!("{}:{}", x.t, x.v)
                    }
                })
                .collect();
            format!("{} {}", s.labels, samples.join(","))
        })
        .collect()
    }

    fn otlp_exemplar(value: f64, ms: u64, trace: u8, attributes: Vec<KeyValue>) -> OtlpExemplar {
        OtlpExemplar {
            filtered_attributes: attributes,
            time_unix_nano: ms * 1_000_000,
            span_id: if trace == 0 { vec![] } else { vec![trace; 8] },
            trace_id: vec![trace; 16],
            value: Some(exemplar::Value::AsDouble(value)),
        }
    }

    #[test]
    fn exemplars_go_to_the_sum_and_to_the_bucket_their_value_falls_in() {
        let store = MemStorage::new();
        let mut sum = number_point(vec![], number_data_point::Value::AsInt(3));
        sum.exemplars = vec![otlp_exemplar(1.0, 1000, 0xab, vec![text("user", "u1")])];
        let mut gauge = number_point(vec![], number_data_point::Value::AsInt(3));
        gauge.exemplars = vec![otlp_exemplar(1.0, 1000, 0xab, vec![])];
        let long = "v".repeat(80);
        let metrics = vec![
            metric(
                "jobs",
                "",
                Data::Sum(Sum {
                    data_points: vec![sum],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
            ),
            metric(
                "depth",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![gauge],
                }),
            ),
            metric(
                "lat",
                "s",
                Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        time_unix_nano: T,
                        count: 6,
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![0.1, 0.5],
                        exemplars: vec![
                            otlp_exemplar(0.1, 1001, 1, vec![]),
                            otlp_exemplar(0.3, 1002, 2, vec![text("long", &long)]),
                            otlp_exemplar(7.0, 1003, 0, vec![]),
                        ],
                        ..HistogramDataPoint::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
        ];
        let got = append(&store, request(vec![text("service.name", "s")], metrics)).unwrap();
        assert_eq!(got.exemplars, 4);
        let found: Vec<String> = store
            .select_exemplars(i64::MIN, i64::MAX, &[&[]])
            .unwrap()
            .iter()
            .flat_map(|s| {
                s.exemplars
                    .iter()
                    .map(move |e| format!("{} {} {} {}", s.series, e.labels, e.value, e.t))
            })
            .collect();
        let (ab, one, two) = ("ab".repeat(16), "01".repeat(16), "02".repeat(16));
        assert_eq!(
            found,
            [
                format!(
                    r#"jobs_total{{job="s"}} {{span_id="{}",trace_id="{ab}",user="u1"}} 1 1000"#,
                    "ab".repeat(8)
                ),
                r#"lat_seconds_bucket{job="s",le="+Inf"} {} 7 1003"#.to_owned(),
                format!(
                    r#"lat_seconds_bucket{{job="s",le="0.1"}} {{span_id="{}",trace_id="{one}"}} 0.1 1001"#,
                    "01".repeat(8)
                ),
                // The attribute would take the labels past 128 characters: only the IDs.
                format!(
                    r#"lat_seconds_bucket{{job="s",le="0.5"}} {{span_id="{}",trace_id="{two}"}} 0.3 1002"#,
                    "02".repeat(8)
                ),
            ]
        );
    }

    #[test]
    fn every_kind_of_point_becomes_prometheus_series() {
        let store = MemStorage::new();
        let resource = vec![
            text("service.name", "payments"),
            text("service.namespace", "zerostate"),
            text("service.instance.id", "node-07"),
            text("host.name", "h1"),
        ];
        let metrics = vec![
            metric(
                "tasks.completed",
                "{task}",
                Data::Sum(Sum {
                    data_points: vec![number_point(
                        vec![text("task.kind", "wasm"), int("shard", 3)],
                        number_data_point::Value::AsInt(42),
                    )],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                }),
            ),
            metric(
                "queue.depth",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![number_point(
                        vec![],
                        number_data_point::Value::AsDouble(2.5),
                    )],
                }),
            ),
            metric(
                "rpc.duration",
                "s",
                Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes: vec![text("rpc.method", "Send")],
                        start_time_unix_nano: T - 60_000_000_000,
                        time_unix_nano: T,
                        count: 6,
                        sum: Some(1.5),
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![0.1, 0.5],
                        ..HistogramDataPoint::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                }),
            ),
            metric(
                "gc.pause",
                "ms",
                Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: T,
                        count: 4,
                        sum: 10.0,
                        quantile_values: vec![
                            ValueAtQuantile {
                                quantile: 0.5,
                                value: 2.0,
                            },
                            ValueAtQuantile {
                                quantile: 0.99,
                                value: 4.0,
                            },
                        ],
                        ..SummaryDataPoint::default()
                    }],
                }),
            ),
        ];
        let got = append(&store, request(resource, metrics)).unwrap();
        assert_eq!(
            got,
            Appended {
                accepted: 4,
                rejected: 0,
                samples: 1 + 1 + 5 + 4 + 1,
                exemplars: 0,
                problems: vec![],
            }
        );
        let t = 1_700_000_000_123_i64;
        let ids = r#"instance="node-07",job="zerostate/payments""#;
        assert_eq!(
            dump(&store),
            [
                format!(r#"gc_pause_milliseconds{{{ids},quantile="0.5"}} {t}:2"#),
                format!(r#"gc_pause_milliseconds{{{ids},quantile="0.99"}} {t}:4"#),
                format!(r#"gc_pause_milliseconds_count{{{ids}}} {t}:4"#),
                format!(r#"gc_pause_milliseconds_sum{{{ids}}} {t}:10"#),
                format!(r#"queue_depth{{{ids}}} {t}:2.5"#),
                format!(
                    r#"rpc_duration_seconds_bucket{{{ids},le="+Inf",rpc_method="Send"}} {t}:6"#
                ),
                format!(r#"rpc_duration_seconds_bucket{{{ids},le="0.1",rpc_method="Send"}} {t}:1"#),
                format!(r#"rpc_duration_seconds_bucket{{{ids},le="0.5",rpc_method="Send"}} {t}:3"#),
                format!(r#"rpc_duration_seconds_count{{{ids},rpc_method="Send"}} {t}:6"#),
                format!(r#"rpc_duration_seconds_sum{{{ids},rpc_method="Send"}} {t}:1.5"#),
                format!(r#"target_info{{host_name="h1",{ids}}} {t}:1"#),
                format!(r#"tasks_completed_total{{{ids},shard="3",task_kind="wasm"}} {t}:42"#),
            ]
        );
    }

    #[test]
    fn delta_sums_exponential_histograms_and_colliding_points_are_refused_and_counted() {
        let store = MemStorage::new();
        let metrics = vec![
            metric(
                "delta",
                "",
                Data::Sum(Sum {
                    data_points: vec![
                        number_point(vec![], number_data_point::Value::AsInt(1)),
                        number_point(vec![], number_data_point::Value::AsInt(2)),
                    ],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                    is_monotonic: true,
                }),
            ),
            metric("exp", "", Data::ExponentialHistogram(Default::default())),
            metric(
                "twice",
                "",
                Data::Gauge(Gauge {
                    // The same series at the same time with another value: the second is
                    // a conflicting duplicate.
                    data_points: vec![
                        number_point(vec![], number_data_point::Value::AsDouble(1.0)),
                        number_point(vec![], number_data_point::Value::AsDouble(2.0)),
                    ],
                }),
            ),
            metric(
                "empty",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![],
                }),
            ),
            metric(
                "odd",
                "",
                Data::Gauge(Gauge {
                    data_points: vec![number_point(
                        vec![text("...", "x")],
                        number_data_point::Value::AsDouble(1.0),
                    )],
                }),
            ),
        ];
        let got = append(&store, request(vec![text("service.name", "a")], metrics)).unwrap();
        assert_eq!((got.accepted, got.rejected), (1, 4));
        let message = got.message().unwrap();
        assert!(
            message.contains("metric \"odd\": attribute \"...\" becomes only underscores"),
            "{message}"
        );
        assert!(message.starts_with("rejected 4 of 5 data points: invalid temporality and type combination for metric \"delta\""), "{message}");
        assert!(
            message.contains("duplicate sample for twice{job=\"a\"}"),
            "{message}"
        );
        assert!(
            message.contains("empty data points. empty is dropped"),
            "{message}"
        );
        // Only job: no other resource attribute, so no target_info.
        assert_eq!(dump(&store), [r#"twice{job="a"} 1700000000123:1"#]);
    }

    #[test]
    fn no_recorded_value_is_a_staleness_marker_and_colliding_keys_join() {
        let store = MemStorage::new();
        let mut p = number_point(
            vec![text("a.b", "1"), text("a_b", "2")],
            number_data_point::Value::AsDouble(7.0),
        );
        p.flags = DataPointFlags::NoRecordedValueMask as u32;
        let metrics = vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: vec![p],
            }),
        )];
        append(&store, request(vec![], metrics)).unwrap();
        assert_eq!(dump(&store), [r#"g{a_b="1;2"} 1700000000123:stale"#]);
    }

    /// A request of one resource (with an attribute for target_info) and two gauge points,
    /// at `early` (Unix nanoseconds) and at `T`.
    fn two_points_since(early: u64) -> Vec<ResourceMetrics> {
        let mut first = number_point(vec![], number_data_point::Value::AsDouble(1.0));
        first.time_unix_nano = early;
        let late = number_point(vec![], number_data_point::Value::AsDouble(2.0));
        let metrics = vec![metric(
            "g",
            "",
            Data::Gauge(Gauge {
                data_points: vec![first, late],
            }),
        )];
        request(
            vec![text("service.instance.id", "i"), text("region", "eu")],
            metrics,
        )
    }

    // Fuzzing (fuzz/fuzz_targets/otlp.rs) found a request of two gauge points, one at
    // the Unix epoch and one now, that made 11 million target_info samples (1.3 GB, over
    // 30 s); the samples now cover the newest 41h37m30s of the points at most.
    #[test]
    fn target_info_of_points_years_apart_covers_the_newest_hours_only() {
        let store = MemStorage::new();
        let appended = append(&store, two_points_since(1)).unwrap();
        assert_eq!(appended.accepted, 2);
        let message = appended.message().unwrap_or_default();
        assert!(
            message.contains("target_info: the points span more than 41 hours"),
            "{message}"
        );
        let lines = dump(&store);
        let info = lines.iter().find(|l| l.starts_with("target_info")).unwrap();
        assert_eq!(info.matches(":1").count(), 1_000, "{}", &info[..200]);
        let t = 1_700_000_000_123_i64;
        assert!(
            info.ends_with(&format!(",{t}:1")),
            "{}",
            &info[info.len() - 100..]
        );
    }

    #[test]
    fn target_info_covers_the_points_every_half_lookback() {
        let store = MemStorage::new();
        append(&store, two_points_since(T - 400_000_000_000)).unwrap();
        let lines = dump(&store);
        let t = 1_700_000_000_123_i64;
        let first = t - 400_000;
        assert_eq!(
            lines[1],
            format!(
                r#"target_info{{instance="i",region="eu"}} {first}:1,{}:1,{}:1,{t}:1"#,
                first + 150_000,
                first + 300_000
            )
        );
    }
}
