//! The generator's settings: Tempo's metrics-generator settings under the same keys and
//! with the same defaults, so a Tempo configuration's `metrics_generator` section (its
//! `processor` and `registry` parts, and the `processors` and `max_active_series` of its
//! overrides) reads unchanged. Every unknown key is refused by name.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::attributes::sanitize_label_name;

/// Every setting of the generator.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which processors run, by Tempo's names: `span-metrics` (or only some of its
    /// metrics: `span-metrics-count`, `span-metrics-latency`, `span-metrics-size`) and
    /// `service-graphs` (or `service-graphs-request`, `service-graphs-latency`, and the
    /// opt-in `service-graphs-connection-info`). Both whole processors by default.
    pub processors: BTreeSet<String>,
    /// How series are kept and written.
    pub registry: RegistryConfig,
    /// The span metrics processor.
    pub span_metrics: SpanMetricsConfig,
    /// The service graph processor.
    pub service_graphs: ServiceGraphsConfig,
    /// The most series the generator keeps (a histogram counts its buckets, `_sum` and
    /// `_count`); 0 for no limit. A label set that would pass it is counted into one
    /// overflow series per metric, labelled `metric_overflow="true"`, as Tempo does, and
    /// `tempo_metrics_generator_registry_series_limited_total` counts the series refused.
    /// Tempo has no limit by default; Skywatch keeps one so that one high-cardinality
    /// dimension cannot fill the database.
    pub max_active_series: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            processors: [SPAN_METRICS, SERVICE_GRAPHS]
                .into_iter()
                .map(str::to_owned)
                .collect(),
            registry: RegistryConfig::default(),
            span_metrics: SpanMetricsConfig::default(),
            service_graphs: ServiceGraphsConfig::default(),
            max_active_series: 50_000,
        }
    }
}

pub(crate) const SPAN_METRICS: &str = "span-metrics";
pub(crate) const SPAN_METRICS_COUNT: &str = "span-metrics-count";
pub(crate) const SPAN_METRICS_LATENCY: &str = "span-metrics-latency";
pub(crate) const SPAN_METRICS_SIZE: &str = "span-metrics-size";
pub(crate) const SERVICE_GRAPHS: &str = "service-graphs";
pub(crate) const SERVICE_GRAPHS_REQUEST: &str = "service-graphs-request";
pub(crate) const SERVICE_GRAPHS_LATENCY: &str = "service-graphs-latency";
pub(crate) const SERVICE_GRAPHS_CONNECTION_INFO: &str = "service-graphs-connection-info";

const PROCESSORS: [&str; 8] = [
    SPAN_METRICS,
    SPAN_METRICS_COUNT,
    SPAN_METRICS_LATENCY,
    SPAN_METRICS_SIZE,
    SERVICE_GRAPHS,
    SERVICE_GRAPHS_REQUEST,
    SERVICE_GRAPHS_LATENCY,
    SERVICE_GRAPHS_CONNECTION_INFO,
];

/// The labels the span metrics processor makes from a span's own fields.
pub(crate) const INTRINSIC_DIMENSIONS: [&str; 5] = [
    "service",
    "span_name",
    "span_kind",
    "status_code",
    "status_message",
];

/// How series are kept and written (Tempo's `metrics_generator.registry`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// How often every series is written to the store (15 s), each with one sample at
    /// the time of writing, as Tempo remote-writes at each collection.
    #[serde(deserialize_with = "duration")]
    pub collection_interval: Duration,
    /// How long a series is kept without an update (15 m) before it is dropped from
    /// memory and marked stale in the store.
    #[serde(deserialize_with = "duration")]
    pub stale_duration: Duration,
    /// Labels added to every series.
    pub external_labels: BTreeMap<String, String>,
    /// Longer label names are cut to this many bytes (1024); 0 for no limit.
    pub max_label_name_length: usize,
    /// Longer label values are cut to this many bytes (2048); 0 for no limit.
    pub max_label_value_length: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            collection_interval: Duration::from_secs(15),
            stale_duration: Duration::from_secs(15 * 60),
            external_labels: BTreeMap::new(),
            max_label_name_length: 1024,
            max_label_value_length: 2048,
        }
    }
}

/// The span metrics processor (Tempo's `metrics_generator.processor.span_metrics`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpanMetricsConfig {
    /// The latency histogram's upper bounds, in seconds; Tempo's default is 14
    /// exponential buckets from 2 ms, doubling, to 16.384 s.
    pub histogram_buckets: Vec<f64>,
    /// Which labels come from the span's own fields.
    pub intrinsic_dimensions: IntrinsicDimensions,
    /// Attributes (resource first, then span) added as labels, their names sanitised
    /// (`deployment.environment` -> `deployment_environment`); a name that sanitises to an
    /// intrinsic label's gets a `__` prefix.
    pub dimensions: Vec<String>,
    /// Labels made by joining several attributes.
    pub dimension_mappings: Vec<DimensionMapping>,
    /// Writes `traces_target_info` (each resource's attributes) and adds `job` and
    /// `instance` to the span metrics.
    pub enable_target_info: bool,
    /// Resource attributes left out of `traces_target_info`.
    pub target_info_excluded_dimensions: Vec<String>,
    /// With target info, adds `instance` (the resource's `service.instance.id`).
    pub enable_instance_label: bool,
    /// A span or resource attribute holding the sampling ratio (a double in (0, 1]): each
    /// span then counts as 1/ratio spans, undoing head sampling.
    pub span_multiplier_key: String,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self {
            histogram_buckets: exponential_buckets(0.002, 2.0, 14),
            intrinsic_dimensions: IntrinsicDimensions::default(),
            dimensions: Vec::new(),
            dimension_mappings: Vec::new(),
            enable_target_info: false,
            target_info_excluded_dimensions: Vec::new(),
            enable_instance_label: true,
            span_multiplier_key: String::new(),
        }
    }
}

/// Which intrinsic labels the span metrics carry; all but `status_message` by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntrinsicDimensions {
    /// `service`: the resource's `service.name`.
    pub service: bool,
    /// `span_name`.
    pub span_name: bool,
    /// `span_kind`: `SPAN_KIND_SERVER` and the like.
    pub span_kind: bool,
    /// `status_code`: `STATUS_CODE_UNSET`, `STATUS_CODE_OK` or `STATUS_CODE_ERROR`.
    pub status_code: bool,
    /// `status_message`.
    pub status_message: bool,
}

impl Default for IntrinsicDimensions {
    fn default() -> Self {
        Self {
            service: true,
            span_name: true,
            span_kind: true,
            status_code: true,
            status_message: false,
        }
    }
}

/// A label whose value joins the values of several attributes (Tempo's
/// `dimension_mappings`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DimensionMapping {
    /// The label's name (sanitised as dimensions are).
    pub name: String,
    /// The attributes joined, in order; those without a value are skipped.
    pub source_labels: Vec<String>,
    /// What goes between two values.
    #[serde(default)]
    pub join: String,
}

/// The service graph processor (Tempo's `metrics_generator.processor.service_graphs`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceGraphsConfig {
    /// How long half of a request (a client span without its server span, or the
    /// reverse) waits for the other half (10 s).
    #[serde(deserialize_with = "duration")]
    pub wait: Duration,
    /// The most half-requests kept waiting (10,000); the spans that would add more are
    /// dropped and counted.
    pub max_items: usize,
    /// Accepted for compatibility with Tempo's configuration; one lock does the work.
    pub workers: usize,
    /// The latency histograms' upper bounds, in seconds; Tempo's default is 8
    /// exponential buckets from 0.1 s, doubling, to 12.8 s.
    pub histogram_buckets: Vec<f64>,
    /// Attributes (resource first, then span) added as labels.
    pub dimensions: Vec<String>,
    /// Adds each dimension twice, as `client_<name>` from the client span and
    /// `server_<name>` from the server span.
    pub enable_client_server_prefix: bool,
    /// Writes `traces_service_graph_request_messaging_system_seconds`: the time from a
    /// producer span's end to its consumer span's start.
    pub enable_messaging_system_latency_histogram: bool,
    /// Span attributes naming an uninstrumented peer (a virtual node), searched in order.
    pub peer_attributes: Vec<String>,
    /// As for span metrics.
    pub span_multiplier_key: String,
    /// Adds `virtual_node="client"` or `"server"` to edges with a virtual node.
    pub enable_virtual_node_label: bool,
    /// Attributes that make a client span a database call, searched in order.
    pub database_name_attributes: Vec<String>,
}

impl Default for ServiceGraphsConfig {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(10),
            max_items: 10_000,
            workers: 10,
            histogram_buckets: exponential_buckets(0.1, 2.0, 8),
            dimensions: Vec::new(),
            enable_client_server_prefix: false,
            enable_messaging_system_latency_histogram: false,
            peer_attributes: ["peer.service", "db.name", "db.system", "db.system.name"]
                .map(String::from)
                .to_vec(),
            span_multiplier_key: String::new(),
            enable_virtual_node_label: false,
            database_name_attributes: ["db.namespace", "db.name", "db.system", "db.system.name"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// `count` bounds from `start`, each `factor` times the last (client_golang's
/// `ExponentialBuckets`).
pub fn exponential_buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    std::iter::successors(Some(start), |b| Some(b * factor))
        .take(count)
        .collect()
}

/// A setting that cannot work, with the key that holds it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The setting's key, such as `span_metrics.histogram_buckets`.
    pub key: String,
    /// What is wrong with it, and what would fix it.
    pub message: String,
}

fn error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

impl Config {
    /// Checks every setting, as Tempo checks them when it starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for p in &self.processors {
            if !PROCESSORS.contains(&p.as_str()) {
                return Err(error(
                    "processors",
                    format!("{p:?} is not a known processor; valid values: {PROCESSORS:?}"),
                ));
            }
        }
        let registry = &self.registry;
        if registry.collection_interval.is_zero() {
            return Err(error(
                "registry.collection_interval",
                "must be more than zero (Tempo's default is 15s)",
            ));
        }
        if registry.stale_duration.is_zero() {
            return Err(error(
                "registry.stale_duration",
                "must be more than zero (Tempo's default is 15m)",
            ));
        }
        for name in registry.external_labels.keys() {
            if name.is_empty() || *name != sanitize_label_name(name) || name.starts_with(digit) {
                return Err(error(
                    format!("registry.external_labels.{name}"),
                    "is not a valid label name: use letters, digits and underscores, not starting with a digit",
                ));
            }
        }
        buckets(
            "span_metrics.histogram_buckets",
            &self.span_metrics.histogram_buckets,
        )?;
        buckets(
            "service_graphs.histogram_buckets",
            &self.service_graphs.histogram_buckets,
        )?;
        self.validate_dimensions()?;
        if self.service_graphs.max_items == 0 {
            return Err(error(
                "service_graphs.max_items",
                "must be more than zero, or no request could wait for its other half",
            ));
        }
        Ok(())
    }

    /// Dimension mappings must not collide with another label (Tempo's
    /// `ValidateDimensions`); two dimensions that sanitise alike are allowed, the last
    /// configured wins.
    fn validate_dimensions(&self) -> Result<(), ConfigError> {
        let sm = &self.span_metrics;
        let mut seen: BTreeMap<String, String> = INTRINSIC_DIMENSIONS
            .iter()
            .filter(|d| sm.intrinsic_dimensions.enabled(d))
            .map(|d| ((*d).to_owned(), format!("intrinsic dimension {d:?}")))
            .collect();
        for d in &sm.dimensions {
            seen.insert(dimension_label(d), format!("dimension {d:?}"));
        }
        for (i, m) in sm.dimension_mappings.iter().enumerate() {
            let key = format!("span_metrics.dimension_mappings[{i}]");
            if m.name.is_empty() {
                return Err(error(key + ".name", "cannot be empty"));
            }
            if m.source_labels.is_empty() {
                return Err(error(
                    key + ".source_labels",
                    format!("cannot be empty for mapping {:?}", m.name),
                ));
            }
            let label = dimension_label(&m.name);
            if let Some(other) = seen.get(&label) {
                return Err(error(
                    key,
                    format!(
                        "dimension_mapping {:?} produces label {label:?}, which collides with {other}",
                        m.name
                    ),
                ));
            }
            seen.insert(label, format!("dimension_mapping {:?}", m.name));
        }
        Ok(())
    }

    pub(crate) fn has(&self, processor: &str) -> bool {
        self.processors.contains(processor)
    }
}

impl IntrinsicDimensions {
    pub(crate) fn enabled(&self, name: &str) -> bool {
        match name {
            "service" => self.service,
            "span_name" => self.span_name,
            "span_kind" => self.span_kind,
            "status_code" => self.status_code,
            "status_message" => self.status_message,
            _ => false,
        }
    }
}

/// The label of span metrics dimension `name`: sanitised, with `__` in front when it
/// would be an intrinsic label (`SanitizeLabelNameWithCollisions`).
pub(crate) fn dimension_label(name: &str) -> String {
    let label = sanitize_label_name(name);
    if INTRINSIC_DIMENSIONS.contains(&label.as_str()) {
        format!("__{label}")
    } else {
        label
    }
}

fn digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn buckets(key: &str, bounds: &[f64]) -> Result<(), ConfigError> {
    if bounds.is_empty() {
        return Err(error(key, "needs at least one bucket bound"));
    }
    for (i, w) in bounds.windows(2).enumerate() {
        if w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater) {
            return Err(error(
                key,
                format!(
                    "must be strictly increasing: bucket[{}]={} is <= bucket[{i}]={}",
                    i + 1,
                    w[1],
                    w[0]
                ),
            ));
        }
    }
    if let Some(b) = bounds.iter().find(|b| !b.is_finite()) {
        return Err(error(
            key,
            format!("{b} is not a finite bound (the +Inf bucket is always added)"),
        ));
    }
    Ok(())
}

/// Reads a duration as Prometheus writes them (`15s`, `1m30s`, `15m`), the form Tempo's
/// defaults are written in.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let ms = model::parse_duration(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration: write it as 15s, 1m30s or 15m"
        ))
    })?;
    Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_tempos() {
        let c = Config::default();
        assert_eq!(
            c.span_metrics.histogram_buckets,
            [
                0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
                8.192, 16.384
            ]
        );
        assert_eq!(
            c.service_graphs.histogram_buckets,
            [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]
        );
        assert_eq!(c.registry.collection_interval, Duration::from_secs(15));
        assert_eq!(c.registry.stale_duration, Duration::from_secs(900));
        assert_eq!(c.service_graphs.wait, Duration::from_secs(10));
        assert_eq!(c.service_graphs.max_items, 10_000);
        assert!(c.has("span-metrics") && c.has("service-graphs"));
        assert!(!c.span_metrics.intrinsic_dimensions.status_message);
        c.validate().unwrap();
    }

    #[test]
    fn a_tempo_section_reads_unchanged() {
        let c: Config = yaml::from_str(
            r#"
processors: [span-metrics, service-graphs]
registry:
  collection_interval: 30s
  stale_duration: 5m
  external_labels: {cluster: eu1}
span_metrics:
  dimensions: [deployment.environment, http.method]
  intrinsic_dimensions: {status_message: true}
  enable_target_info: true
service_graphs:
  wait: 1m30s
  max_items: 5000
  dimensions: [cluster]
  enable_virtual_node_label: true
"#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.registry.collection_interval, Duration::from_secs(30));
        assert_eq!(c.service_graphs.wait, Duration::from_secs(90));
        assert!(c.span_metrics.intrinsic_dimensions.status_message);
        assert!(
            c.span_metrics.intrinsic_dimensions.service,
            "others keep defaults"
        );
        assert_eq!(c.registry.external_labels["cluster"], "eu1");
    }

    #[test]
    fn bad_settings_name_their_key() {
        let err = yaml::from_str::<Config>("span_metrics: {dimensons: [a]}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dimensons"), "{err}");
        let err = yaml::from_str::<Config>("registry: {stale_duration: 15 minutes}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a duration"), "{err}");

        let check = |edit: fn(&mut Config), key: &str, text: &str| {
            let mut c = Config::default();
            edit(&mut c);
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, key);
            assert!(e.to_string().contains(text), "{e}");
        };
        check(
            |c| {
                c.processors.insert("span-metric".into());
            },
            "processors",
            "\"span-metric\" is not a known processor",
        );
        check(
            |c| c.span_metrics.histogram_buckets = vec![0.1, 0.1],
            "span_metrics.histogram_buckets",
            "bucket[1]=0.1 is <= bucket[0]=0.1",
        );
        check(
            |c| c.service_graphs.histogram_buckets = vec![],
            "service_graphs.histogram_buckets",
            "at least one",
        );
        check(
            |c| {
                c.span_metrics.dimensions = vec!["k8s.pod".into()];
                c.span_metrics.dimension_mappings = vec![DimensionMapping {
                    name: "k8s_pod".into(),
                    source_labels: vec!["a".into()],
                    join: String::new(),
                }];
            },
            "span_metrics.dimension_mappings[0]",
            "collides with dimension \"k8s.pod\"",
        );
        check(
            |c| {
                c.registry.external_labels.insert("1bad".into(), "x".into());
            },
            "registry.external_labels.1bad",
            "not a valid label name",
        );
    }

    #[test]
    fn a_dimension_named_like_an_intrinsic_label_is_prefixed() {
        assert_eq!(dimension_label("span.name"), "__span_name");
        assert_eq!(dimension_label("http.route"), "http_route");
    }
}
