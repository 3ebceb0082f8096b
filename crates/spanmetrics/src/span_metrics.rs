//! The span metrics processor: for every span, a call, its latency and its size, by
//! service, span name, kind and status (and the configured attributes), as Tempo's
//! `span-metrics` processor counts them.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `traces_spanmetrics_calls_total` | counter | `service`, `span_name`, `span_kind`, `status_code` (+ `status_message`, dimensions, `job`, `instance`) |
//! | `traces_spanmetrics_latency` | histogram (`_bucket`, `_sum`, `_count`), seconds | the same |
//! | `traces_spanmetrics_size_total` | counter, bytes of the span in OTLP protobuf | the same |
//! | `traces_target_info` | gauge, 1 | each resource's attributes, `job`, `instance` (with `enable_target_info`) |
//!
//! Kinds and codes are written as OTLP's enum names (`SPAN_KIND_SERVER`,
//! `STATUS_CODE_ERROR`), and a label whose value would be empty (a span without
//! `service.name`, a dimension the span lacks) is left out, as Tempo leaves it out.

use std::collections::BTreeSet;
use std::sync::Arc;

use model::Timestamp;
use spans::{KeyValue, Resource, Span, SpanKind, StatusCode, Value};

use crate::attributes::{find, find_text, sanitize_label_name, stringify};
use crate::config::{
    Config, DimensionMapping, INTRINSIC_DIMENSIONS, IntrinsicDimensions, SPAN_METRICS,
    SPAN_METRICS_COUNT, SPAN_METRICS_LATENCY, SPAN_METRICS_SIZE, dimension_label,
};
use crate::registry::{MetricId, Registry};
use crate::size::encoded_len;

/// The name of the calls counter.
pub const CALLS_TOTAL: &str = "traces_spanmetrics_calls_total";
/// The name of the latency histogram (its series end in `_bucket`, `_sum`, `_count`).
pub const LATENCY: &str = "traces_spanmetrics_latency";
/// The name of the size counter.
pub const SIZE_TOTAL: &str = "traces_spanmetrics_size_total";
/// The name of the target info gauge.
pub const TARGET_INFO: &str = "traces_target_info";

/// A trace ID as Tempo writes it in exemplars (`TraceIDToHexString`): lowercase hex
/// without leading zeros (`0` for none), which trace pages read as they read the full form.
pub(crate) fn trace_id_label(id: &spans::TraceId) -> String {
    let hex = id.to_string();
    match hex.trim_start_matches('0') {
        "" => "0".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

/// A span's kind as the label's value: OTLP's enum name.
pub fn kind_label(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

/// A span's status code as the label's value: OTLP's enum name.
pub fn status_label(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

/// What a resource gives every span of it.
#[derive(Debug, Default)]
struct ResourceLabels {
    service: String,
    job: String,
    instance: String,
}

/// Reads `service.name`, `service.namespace` and `service.instance.id`, the first of
/// each; `job` is `namespace/name`, or the name alone (Tempo's `FindServiceLabels`).
fn resource_labels(resource: &Resource) -> ResourceLabels {
    let first = |key| find_text(key, &[&resource.attributes]).unwrap_or_default();
    let service = first("service.name");
    let namespace = first("service.namespace");
    let job = match (service.is_empty(), namespace.is_empty()) {
        (true, _) => String::new(),
        (false, true) => service.clone(),
        (false, false) => format!("{namespace}/{service}"),
    };
    ResourceLabels {
        service,
        job,
        instance: first("service.instance.id"),
    }
}

/// How much one span counts for: 1, or 1/ratio when `key` names a span or resource
/// attribute holding a positive double (Tempo's `GetSpanMultiplier`).
pub(crate) fn multiplier(key: &str, span: &Span) -> f64 {
    if key.is_empty() {
        return 1.0;
    }
    [&span.attributes, &span.resource.attributes]
        .iter()
        .filter_map(|attrs| attrs.iter().find(|kv| kv.key == key))
        .find_map(|kv| match kv.value {
            Value::Double(ratio) if ratio > 0.0 => Some(1.0 / ratio),
            _ => None,
        })
        .unwrap_or(1.0)
}

/// The span metrics processor; see the module's docs.
#[derive(Debug)]
pub(crate) struct SpanMetricsProcessor {
    intrinsic: IntrinsicDimensions,
    /// Attribute keys and their labels.
    dimensions: Vec<(String, String)>,
    mappings: Vec<(DimensionMapping, String)>,
    target_info: Option<MetricId>,
    instance_label: bool,
    excluded: BTreeSet<String>,
    multiplier_key: String,
    calls: Option<MetricId>,
    latency: Option<MetricId>,
    size: Option<MetricId>,
}

impl SpanMetricsProcessor {
    /// The processor, if the configuration runs it or one of its metrics.
    pub(crate) fn new(config: &Config, registry: &mut Registry) -> Option<Self> {
        let all = config.has(SPAN_METRICS);
        let wants = |sub| all || config.has(sub);
        if ![SPAN_METRICS_COUNT, SPAN_METRICS_LATENCY, SPAN_METRICS_SIZE]
            .into_iter()
            .any(wants)
        {
            return None;
        }
        let c = &config.span_metrics;
        Some(Self {
            intrinsic: c.intrinsic_dimensions.clone(),
            dimensions: c
                .dimensions
                .iter()
                .map(|d| (d.clone(), dimension_label(d)))
                .collect(),
            mappings: c
                .dimension_mappings
                .iter()
                .map(|m| (m.clone(), dimension_label(&m.name)))
                .collect(),
            target_info: c.enable_target_info.then(|| registry.gauge(TARGET_INFO)),
            instance_label: c.enable_instance_label,
            excluded: c.target_info_excluded_dimensions.iter().cloned().collect(),
            multiplier_key: c.span_multiplier_key.clone(),
            calls: wants(SPAN_METRICS_COUNT).then(|| registry.counter(CALLS_TOTAL)),
            latency: wants(SPAN_METRICS_LATENCY)
                .then(|| registry.histogram(LATENCY, &c.histogram_buckets)),
            size: wants(SPAN_METRICS_SIZE).then(|| registry.counter(SIZE_TOTAL)),
        })
    }

    /// Counts a batch of spans.
    pub(crate) fn observe(&self, registry: &mut Registry, spans: &[Span], now: Timestamp) {
        let mut last: Option<(&Arc<Resource>, ResourceLabels)> = None;
        for span in spans {
            // Spans of one resource share its Arc: read the resource once per run of them.
            if !matches!(&last, Some((r, _)) if Arc::ptr_eq(r, &span.resource)) {
                let labels = resource_labels(&span.resource);
                if let Some(id) = self.target_info {
                    self.target_info(registry, id, &span.resource, &labels, now);
                }
                last = Some((&span.resource, labels));
            }
            if let Some((_, resource)) = &last {
                self.observe_span(registry, span, resource, now);
            }
        }
    }

    fn observe_span(
        &self,
        registry: &mut Registry,
        span: &Span,
        resource: &ResourceLabels,
        now: Timestamp,
    ) {
        let mut set = registry.labels();
        let i = &self.intrinsic;
        if i.service {
            set.add("service", &resource.service);
        }
        if i.span_name {
            set.add("span_name", &span.name);
        }
        if i.span_kind {
            set.add("span_kind", kind_label(span.kind));
        }
        if i.status_code {
            set.add("status_code", status_label(span.status.code));
        }
        if i.status_message {
            set.add("status_message", &span.status.message);
        }
        let lists: [&[KeyValue]; 2] = [&span.resource.attributes, &span.attributes];
        for (key, label) in &self.dimensions {
            // Two dimensions that sanitise alike: the last one configured wins, even
            // when it has no value (Tempo's builder deletes the label then).
            set.add(label, &find_text(key, &lists).unwrap_or_default());
        }
        for (mapping, label) in &self.mappings {
            let values: Vec<String> = mapping
                .source_labels
                .iter()
                .filter_map(|key| find(key, &lists).map(stringify))
                .filter(|v| !v.is_empty())
                .collect();
            set.add(label, &values.join(&mapping.join));
        }
        if self.target_info.is_some() {
            set.add("job", &resource.job);
            if self.instance_label {
                set.add("instance", &resource.instance);
            }
        }
        let labels = set.build();
        let weight = multiplier(&self.multiplier_key, span);
        if let Some(id) = self.calls {
            registry.inc(id, &labels, weight, now);
        }
        if let Some(id) = self.latency {
            // A span ending before it starts took no time.
            let seconds = span.duration() as f64 / 1e9;
            let trace_id = trace_id_label(&span.trace_id);
            registry.observe(id, &labels, seconds, weight, now, Some(&trace_id));
        }
        if let Some(id) = self.size {
            registry.inc(id, &labels, encoded_len(span) as f64, now);
        }
    }

    /// Writes `traces_target_info` for a resource: its attributes (but `service.*`, the
    /// excluded, empty keys and keys starting with a digit) with `job` and `instance`,
    /// when it has one of those and one attribute more.
    fn target_info(
        &self,
        registry: &mut Registry,
        id: MetricId,
        resource: &Resource,
        labels: &ResourceLabels,
        now: Timestamp,
    ) {
        let mut set = registry.labels();
        for kv in &resource.attributes {
            let key = kv.key.as_str();
            if key.is_empty()
                || key.starts_with(|c: char| c.is_ascii_digit())
                || matches!(
                    key,
                    "service.name" | "service.namespace" | "service.instance.id"
                )
                || self.excluded.contains(key)
            {
                continue;
            }
            let mut label = sanitize_label_name(key);
            if INTRINSIC_DIMENSIONS.contains(&label.as_str())
                || label == "job"
                || label == "instance"
            {
                label.insert_str(0, "__");
            }
            set.add(&label, &stringify(&kv.value));
        }
        let mut identifying = 0;
        if !labels.job.is_empty() {
            set.add("job", &labels.job);
            identifying += 1;
        }
        if !labels.instance.is_empty() && self.instance_label {
            set.add("instance", &labels.instance);
            identifying += 1;
        }
        let built = set.build();
        if identifying > 0 && built.len() > identifying {
            registry.set(id, &built, 1.0, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{Edit, assert_lines, collect, dump, registry, span};

    /// Observes `spans` with `config` and compares the values of the series named
    /// `prefix...` with `expect`.
    #[track_caller]
    fn check(config: &Config, spans: &[Span], prefix: &str, expect: &str) {
        let mut r = registry(config);
        let p = SpanMetricsProcessor::new(config, &mut r).unwrap();
        p.observe(&mut r, spans, 1000);
        assert_lines(&dump(&collect(&mut r, 15_000), prefix), expect);
    }

    #[test]
    fn every_kind_and_status_is_labelled_with_otlps_names() {
        let spans = [
            span("api", "GET /tasks", SpanKind::Server),
            span("api", "GET /tasks", SpanKind::Server),
            span("api", "GET /tasks", SpanKind::Server).status(StatusCode::Error, "boom"),
            span("api", "dht lookup", SpanKind::Client).status(StatusCode::Ok, ""),
            span("api", "encode", SpanKind::Internal),
            span("api", "", SpanKind::Unspecified),
            span("bus", "publish", SpanKind::Producer),
            span("worker", "consume", SpanKind::Consumer),
            span("", "orphan", SpanKind::Server),
        ];
        check(
            &Config::default(),
            &spans,
            CALLS_TOTAL,
            r#"
            traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_CLIENT",span_name="dht lookup",status_code="STATUS_CODE_OK"} 1
            traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_INTERNAL",span_name="encode",status_code="STATUS_CODE_UNSET"} 1
            traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_SERVER",span_name="GET /tasks",status_code="STATUS_CODE_ERROR"} 1
            traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_SERVER",span_name="GET /tasks",status_code="STATUS_CODE_UNSET"} 2
            traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_UNSPECIFIED",status_code="STATUS_CODE_UNSET"} 1
            traces_spanmetrics_calls_total{service="bus",span_kind="SPAN_KIND_PRODUCER",span_name="publish",status_code="STATUS_CODE_UNSET"} 1
            traces_spanmetrics_calls_total{service="worker",span_kind="SPAN_KIND_CONSUMER",span_name="consume",status_code="STATUS_CODE_UNSET"} 1
            traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER",span_name="orphan",status_code="STATUS_CODE_UNSET"} 1
            "#,
        );
    }

    #[test]
    fn latency_falls_in_tempos_default_buckets() {
        let spans = [
            span("api", "op", SpanKind::Server).ms(0, 3), // 0.003 s: le 0.004
            span("api", "op", SpanKind::Server).ms(0, 4), // on the bound: le 0.004
            span("api", "op", SpanKind::Server).ms(0, 700), // le 1.024
            span("api", "op", SpanKind::Server).ms(0, 20_000), // +Inf only
            span("api", "op", SpanKind::Server).ms(50, 0), // zero
        ];
        let mut backwards = span("api", "op", SpanKind::Server);
        (backwards.start, backwards.end) = (5_000_000, 1_000_000); // ends before it starts: 0 s
        let mut all = spans.to_vec();
        all.push(backwards);
        let labels = r#"service="api",span_kind="SPAN_KIND_SERVER",span_name="op",status_code="STATUS_CODE_UNSET""#;
        let line = |le: &str, n: u32| {
            format!("traces_spanmetrics_latency_bucket{{le=\"{le}\",{labels}}} {n}")
        };
        let mut expect: Vec<String> = [
            ("+Inf", 6),
            ("0.002", 2),
            ("0.004", 4),
            ("0.008", 4),
            ("0.016", 4),
            ("0.032", 4),
            ("0.064", 4),
            ("0.128", 4),
            ("0.256", 4),
            ("0.512", 4),
            ("1.024", 5),
            ("16.384", 5),
            ("2.048", 5),
            ("4.096", 5),
            ("8.192", 5),
        ]
        .iter()
        .map(|(le, n)| line(le, *n))
        .collect();
        expect.push(format!("traces_spanmetrics_latency_count{{{labels}}} 6"));
        let sum = [0.003, 0.004, 0.7, 20.0, 0.0, 0.0]
            .iter()
            .fold(0.0, |a, b| a + b);
        expect.push(format!("traces_spanmetrics_latency_sum{{{labels}}} {sum}"));
        check(&Config::default(), &all, LATENCY, &expect.join("\n"));
    }

    #[test]
    fn dimensions_come_from_the_resource_then_the_span_with_sanitised_names() {
        let mut config = Config::default();
        let sm = &mut config.span_metrics;
        sm.intrinsic_dimensions.status_message = true;
        sm.dimensions = [
            "deployment.environment",
            "http.method",
            "span.name",
            "missing",
        ]
        .map(String::from)
        .to_vec();
        sm.dimension_mappings = vec![DimensionMapping {
            name: "route".into(),
            source_labels: ["http.method", "nothing", "http.route"]
                .map(String::from)
                .to_vec(),
            join: " ".into(),
        }];
        let s = span("api", "GET", SpanKind::Server)
            .status(StatusCode::Error, "deadline exceeded")
            .resource_attr("deployment.environment", "prod")
            .attr(
                "deployment.environment",
                "ignored: the resource's comes first",
            )
            .attr("http.method", "GET")
            .attr("http.route", "/tasks/{id}")
            .attr("span.name", 7_i64);
        check(
            &config,
            &[s],
            CALLS_TOTAL,
            r#"traces_spanmetrics_calls_total{__span_name="7",deployment_environment="prod",http_method="GET",route="GET /tasks/{id}",service="api",span_kind="SPAN_KIND_SERVER",span_name="GET",status_code="STATUS_CODE_ERROR",status_message="deadline exceeded"} 1"#,
        );
    }

    #[test]
    fn intrinsic_labels_can_be_turned_off() {
        let mut config = Config::default();
        config.span_metrics.intrinsic_dimensions.span_name = false;
        config.span_metrics.intrinsic_dimensions.status_code = false;
        check(
            &config,
            &[
                span("api", "a", SpanKind::Server),
                span("api", "b", SpanKind::Server),
            ],
            CALLS_TOTAL,
            r#"traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_SERVER"} 2"#,
        );
    }

    #[test]
    fn target_info_adds_job_and_instance_and_describes_the_resource() {
        let mut config = Config::default();
        config.span_metrics.enable_target_info = true;
        config.span_metrics.target_info_excluded_dimensions = vec!["secret".into()];
        let s = span("api", "op", SpanKind::Server)
            .resource_attr("service.namespace", "zerostate")
            .resource_attr("service.instance.id", "node-3")
            .resource_attr("host.name", "h1")
            .resource_attr("secret", "x")
            .resource_attr("9lives", "x")
            .resource_attr("span.kind", "y");
        check(
            &config,
            std::slice::from_ref(&s),
            CALLS_TOTAL,
            r#"traces_spanmetrics_calls_total{instance="node-3",job="zerostate/api",service="api",span_kind="SPAN_KIND_SERVER",span_name="op",status_code="STATUS_CODE_UNSET"} 1"#,
        );
        check(
            &config,
            &[s],
            TARGET_INFO,
            r#"traces_target_info{__span_kind="y",host_name="h1",instance="node-3",job="zerostate/api"} 1"#,
        );
        // Without an attribute beyond job and instance there is no target info.
        config.span_metrics.enable_instance_label = false;
        check(
            &config,
            &[span("api", "op", SpanKind::Server)],
            TARGET_INFO,
            "",
        );
    }

    #[test]
    fn a_sampling_ratio_makes_each_span_count_for_more() {
        let mut config = Config::default();
        config.span_metrics.span_multiplier_key = "sampling.ratio".into();
        let labels = r#"service="api",span_kind="SPAN_KIND_SERVER",span_name="op",status_code="STATUS_CODE_UNSET""#;
        check(
            &config,
            &[
                span("api", "op", SpanKind::Server).attr("sampling.ratio", 0.1),
                span("api", "op", SpanKind::Server).resource_attr("sampling.ratio", 0.5),
                // Not a double, or not positive: counts once.
                span("api", "op", SpanKind::Server).attr("sampling.ratio", 1_i64),
                span("api", "op", SpanKind::Server).attr("sampling.ratio", 0.0),
            ],
            "traces_spanmetrics_latency_count",
            &format!("traces_spanmetrics_latency_count{{{labels}}} 14"),
        );
    }

    #[test]
    fn size_adds_up_each_spans_protobuf_bytes() {
        let a = span("api", "op", SpanKind::Server);
        let b = a.clone().attr("http.route", "/tasks/{id}");
        let want = encoded_len(&a) + encoded_len(&b);
        assert_eq!(encoded_len(&a), 43);
        check(
            &Config::default(),
            &[a, b],
            SIZE_TOTAL,
            &format!(
                r#"traces_spanmetrics_size_total{{service="api",span_kind="SPAN_KIND_SERVER",span_name="op",status_code="STATUS_CODE_UNSET"}} {want}"#
            ),
        );
    }

    #[test]
    fn only_the_metrics_asked_for_are_written() {
        let mut config = Config {
            processors: ["span-metrics-count".to_owned()].into(),
            ..Config::default()
        };
        let mut r = registry(&config);
        let p = SpanMetricsProcessor::new(&config, &mut r).unwrap();
        p.observe(&mut r, &[span("api", "op", SpanKind::Server)], 0);
        let got = dump(&collect(&mut r, 15_000), "traces_");
        assert!(got.starts_with("traces_spanmetrics_calls_total{"), "{got}");
        assert_eq!(got.lines().count(), 1, "{got}");

        config.processors = ["service-graphs".to_owned()].into();
        assert!(SpanMetricsProcessor::new(&config, &mut r).is_none());
    }
}
