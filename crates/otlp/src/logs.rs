//! Logs: decoded here, kept by whatever implements [`LogSink`]: [`StoreSink`] maps them
//! onto Loki's model ([`to_streams`]) and keeps them in a `logs::LogStore`. Without a sink
//! the receivers refuse log requests with an error that says logs are not stored, rather
//! than dropping them.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;

/// What a sink refused of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refused {
    /// How many log records it refused.
    pub records: u64,
    /// Why, for the partial success's message; `None` when nothing was refused.
    pub message: Option<String>,
}

/// Why a sink could not take a request at all.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The sink cannot take records now (disk full, shutting down); the sender may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The sink failed for good; retrying the same request does not help.
    #[error("{0}")]
    Failed(String),
}

/// Where decoded log records go.
///
/// Implementations MUST be safe to share between threads: the receivers call `append`
/// from any number of blocking threads at once. When `append` returns `Ok`, every record
/// not counted in [`Refused`] is kept (durably, for a store that promises it); when it
/// returns `Err`, none of the request's records may be kept, so that the sender's retry
/// does not duplicate them.
pub trait LogSink: Send + Sync {
    /// Keeps the records of one request, with their resources and scopes.
    fn append(&self, logs: Vec<ResourceLogs>) -> Result<Refused, LogError>;
}

/// How many log records `logs` holds.
pub fn count(logs: &[ResourceLogs]) -> usize {
    logs.iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum()
}

/// The resource attributes Loki 3 makes stream labels by default (its distributor's
/// `default_resource_attributes_as_index_labels`); every other resource attribute becomes
/// structured metadata.
pub const DEFAULT_INDEX_LABELS: [&str; 17] = [
    "cloud.availability_zone",
    "cloud.region",
    "container.name",
    "deployment.environment",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
    "k8s.deployment.name",
    "k8s.job.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "service.instance.id",
    "service.name",
    "service.namespace",
];

/// The stream labels Loki takes `service_name` from when a resource has no
/// `service.name` (its `discover_service_name` default), in order.
const SERVICE_NAME_SOURCES: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// The `service_name` of a stream whose resource names no service, as Loki sets it.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Maps OTLP log records to log streams as Loki 3's OTLP ingestion does by default:
///
/// - the resource attributes in [`DEFAULT_INDEX_LABELS`] become the stream's labels, their
///   names normalized (`service.name` → `service_name`), with `service_name` discovered
///   from other labels or set to [`UNKNOWN_SERVICE`] when the resource names no service;
/// - the line is the body (a string as is, any other value as its JSON);
/// - the timestamp is the record's time, else its observed time, else `now`;
/// - structured metadata: the record's attributes, `observed_timestamp` (when both times
///   are set), `severity_number`, `severity_text`, `dropped_attributes_count`, `flags`,
///   `trace_id` and `span_id` (hex), then the other resource attributes, then the scope's
///   attributes with `scope_name`, `scope_version` and `scope_dropped_attributes_count`.
///   Map values are flattened with `_` between the keys; other values are written as
///   strings.
///
/// Records of resources with the same stream labels share a stream.
pub fn to_streams(resource_logs: Vec<ResourceLogs>, now: i64) -> Vec<logs::Stream> {
    use std::collections::BTreeMap;
    let mut streams: BTreeMap<model::Labels, Vec<logs::Entry>> = BTreeMap::new();
    for rl in resource_logs {
        let mut index = Vec::new();
        let mut resource_meta = Vec::new();
        let attributes = rl.resource.map(|r| r.attributes).unwrap_or_default();
        let has_service = attributes.iter().any(|kv| {
            kv.key == "service.name" && kv.value.as_ref().is_some_and(|v| !as_string(v).is_empty())
        });
        for kv in &attributes {
            let Some(value) = &kv.value else { continue };
            if DEFAULT_INDEX_LABELS.contains(&kv.key.as_str()) {
                flatten(&kv.key, value, &mut index);
            } else {
                flatten(&kv.key, value, &mut resource_meta);
            }
        }
        if !has_service {
            let found = SERVICE_NAME_SOURCES
                .iter()
                .find_map(|s| index.iter().find(|(n, v)| n == s && !v.is_empty()))
                .map(|(_, v)| v.clone());
            index.push((
                "service_name".to_owned(),
                found.unwrap_or_else(|| UNKNOWN_SERVICE.to_owned()),
            ));
        }
        let labels = model::Labels::from_pairs(index);
        for sl in rl.scope_logs {
            let mut scope_meta = Vec::new();
            if let Some(scope) = &sl.scope {
                for kv in &scope.attributes {
                    if let Some(value) = &kv.value {
                        flatten(&kv.key, value, &mut scope_meta);
                    }
                }
                push_nonempty(&mut scope_meta, "scope_name", scope.name.clone());
                push_nonempty(&mut scope_meta, "scope_version", scope.version.clone());
                if scope.dropped_attributes_count != 0 {
                    scope_meta.push((
                        "scope_dropped_attributes_count".into(),
                        scope.dropped_attributes_count.to_string(),
                    ));
                }
            }
            let entries = streams.entry(labels.clone()).or_default();
            for record in sl.log_records {
                let mut meta = Vec::new();
                for kv in &record.attributes {
                    if let Some(value) = &kv.value {
                        flatten(&kv.key, value, &mut meta);
                    }
                }
                if record.time_unix_nano != 0 && record.observed_time_unix_nano != 0 {
                    meta.push((
                        "observed_timestamp".into(),
                        record.observed_time_unix_nano.to_string(),
                    ));
                }
                if record.severity_number != 0 {
                    meta.push(("severity_number".into(), record.severity_number.to_string()));
                }
                push_nonempty(&mut meta, "severity_text", record.severity_text.clone());
                if record.dropped_attributes_count != 0 {
                    meta.push((
                        "dropped_attributes_count".into(),
                        record.dropped_attributes_count.to_string(),
                    ));
                }
                if record.flags != 0 {
                    meta.push(("flags".into(), record.flags.to_string()));
                }
                if record.trace_id.iter().any(|b| *b != 0) {
                    meta.push(("trace_id".into(), hex(&record.trace_id)));
                }
                if record.span_id.iter().any(|b| *b != 0) {
                    meta.push(("span_id".into(), hex(&record.span_id)));
                }
                // Resource and scope metadata come after the record's own, and the record's
                // own win a clash, as in Loki where the first pair of a name is read.
                let mut all = resource_meta.clone();
                all.extend(scope_meta.iter().cloned());
                all.extend(meta);
                let timestamp = [record.time_unix_nano, record.observed_time_unix_nano]
                    .into_iter()
                    .find(|t| *t != 0)
                    .map_or(now, |t| i64::try_from(t).unwrap_or(i64::MAX));
                let line = record.body.as_ref().map(as_string).unwrap_or_default();
                entries.push(
                    logs::Entry::new(timestamp, line).with_metadata(model::Labels::from_pairs(all)),
                );
            }
        }
    }
    streams
        .into_iter()
        .filter(|(_, entries)| !entries.is_empty())
        .map(|(labels, entries)| logs::Stream { labels, entries })
        .collect()
}

fn push_nonempty(out: &mut Vec<(String, String)>, name: &str, value: String) {
    if !value.is_empty() {
        out.push((name.to_owned(), value));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An attribute name as a Loki label name: every character but letters, digits and `_`
/// becomes `_`; a leading digit gets `key_` before it, a single leading `_` gets `key`
/// (Prometheus's OTLP translator's rule, which Loki applies).
pub fn normalize_label(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{clean}")
    } else if clean.starts_with('_') && !clean.starts_with("__") {
        format!("key{clean}")
    } else {
        clean
    }
}

/// Appends `key`'s pairs: one, or one per leaf of a map value (keys joined with `_`).
fn flatten(key: &str, value: &AnyValue, out: &mut Vec<(String, String)>) {
    let name = normalize_label(key);
    match &value.value {
        Some(any_value::Value::KvlistValue(map)) => {
            for kv in &map.values {
                if let Some(v) = &kv.value {
                    flatten(&format!("{name}_{}", kv.key), v, out);
                }
            }
        }
        _ => out.push((name, as_string(value))),
    }
}

/// A value as text, as the OpenTelemetry Collector's `AsString` writes it: strings as
/// they are, numbers and booleans in their usual form, bytes in base64, arrays and maps
/// as JSON.
pub fn as_string(value: &AnyValue) -> String {
    use any_value::Value as V;
    match &value.value {
        // A string table reference belongs to profiles, never to a log record.
        None | Some(V::StringValueStrindex(_)) => String::new(),
        Some(V::StringValue(s)) => s.clone(),
        Some(V::BoolValue(b)) => b.to_string(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(V::DoubleValue(f)) => float(*f),
        Some(V::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(V::ArrayValue(_) | V::KvlistValue(_)) => to_json(value).to_string(),
    }
}

/// A float as JavaScript writes a number (what the Collector follows): decimal between
/// 1e-6 and 1e21, exponent form outside.
fn float(f: f64) -> String {
    if f.is_nan() || f.is_infinite() {
        return format!(
            "json: unsupported value: {}",
            if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            }
        );
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

fn to_json(value: &AnyValue) -> serde_json::Value {
    use any_value::Value as V;
    use serde_json::Value as J;
    match &value.value {
        None | Some(V::StringValueStrindex(_)) => J::Null,
        Some(V::StringValue(s)) => J::String(s.clone()),
        Some(V::BoolValue(b)) => J::Bool(*b),
        Some(V::IntValue(i)) => J::from(*i),
        Some(V::DoubleValue(f)) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Some(V::BytesValue(b)) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Some(V::ArrayValue(a)) => J::Array(a.values.iter().map(to_json).collect()),
        // serde_json's map is sorted by key, as Go's encoding/json writes maps.
        Some(V::KvlistValue(m)) => J::Object(
            m.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(J::Null, to_json)))
                .collect(),
        ),
    }
}

/// A [`LogSink`] over a log store: records mapped by [`to_streams`], the store's refusals
/// counted in OTLP's partial success.
pub struct StoreSink {
    store: std::sync::Arc<dyn logs::LogStore>,
}

impl StoreSink {
    /// A sink keeping records in `store`.
    pub fn new(store: std::sync::Arc<dyn logs::LogStore>) -> Self {
        Self { store }
    }
}

impl std::fmt::Debug for StoreSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSink").finish_non_exhaustive()
    }
}

impl LogSink for StoreSink {
    fn append(&self, logs: Vec<ResourceLogs>) -> Result<Refused, LogError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let streams = to_streams(logs, now);
        if streams.is_empty() {
            return Ok(Refused::default());
        }
        let pushed = self.store.push(&streams).map_err(|e| match e {
            logs::LogError::Unavailable(_) | logs::LogError::Io(_) => {
                LogError::Unavailable(format!("the log store cannot take records now: {e}"))
            }
            logs::LogError::Invalid { .. } | logs::LogError::Corrupt(_) => {
                LogError::Failed(format!("the log store refused the records: {e}"))
            }
        })?;
        let Some(first) = pushed.refused.first() else {
            return Ok(Refused::default());
        };
        let stream = &streams[first.stream];
        let message = format!(
            "{} log records refused; the first, of stream {}: {}",
            pushed.refused.len(),
            stream.labels,
            first.reason
        );
        Ok(Refused {
            records: pushed.refused.len() as u64,
            message: Some(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{
        ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
    };
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn s(v: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }
    }

    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(value),
            key_strindex: 0,
        }
    }

    fn resource(attributes: Vec<KeyValue>, records: Vec<LogRecord>) -> ResourceLogs {
        ResourceLogs {
            resource: Some(Resource {
                attributes,
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "node.p2p".into(),
                    version: "1.0".into(),
                    attributes: vec![kv("scope.attr", s("x"))],
                    dropped_attributes_count: 0,
                }),
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }
    }

    fn pairs(l: &model::Labels) -> Vec<(String, String)> {
        l.iter()
            .map(|l| (l.name.to_owned(), l.value.to_owned()))
            .collect()
    }

    #[test]
    fn resources_become_stream_labels_and_the_rest_structured_metadata() {
        let record = LogRecord {
            time_unix_nano: 1_000,
            observed_time_unix_nano: 2_000,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(s("peer dropped")),
            attributes: vec![
                kv("peer.id", s("p1")),
                kv(
                    "http",
                    AnyValue {
                        value: Some(any_value::Value::KvlistValue(KeyValueList {
                            values: vec![kv(
                                "status",
                                AnyValue {
                                    value: Some(any_value::Value::IntValue(503)),
                                },
                            )],
                        })),
                    },
                ),
            ],
            trace_id: vec![0x4b; 16],
            span_id: vec![0x01; 8],
            flags: 1,
            ..LogRecord::default()
        };
        let streams = to_streams(
            vec![resource(
                vec![
                    kv("service.name", s("node")),
                    kv("k8s.pod.name", s("node-0")),
                    kv("host.name", s("h1")),
                ],
                vec![record],
            )],
            99,
        );
        assert_eq!(streams.len(), 1);
        assert_eq!(
            pairs(&streams[0].labels),
            [
                ("k8s_pod_name".to_owned(), "node-0".to_owned()),
                ("service_name".to_owned(), "node".to_owned())
            ]
        );
        let e = &streams[0].entries[0];
        assert_eq!((e.timestamp, e.line.as_str()), (1_000, "peer dropped"));
        let meta: Vec<(String, String)> = pairs(&e.metadata);
        let want: Vec<(String, String)> = [
            ("flags", "1"),
            ("host_name", "h1"),
            ("http_status", "503"),
            ("observed_timestamp", "2000"),
            ("peer_id", "p1"),
            ("scope_attr", "x"),
            ("scope_name", "node.p2p"),
            ("scope_version", "1.0"),
            ("severity_number", "17"),
            ("severity_text", "ERROR"),
            ("span_id", "0101010101010101"),
            ("trace_id", "4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b4b"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(meta, want);
    }

    #[test]
    fn service_name_is_discovered_or_unknown_and_bodies_are_text() {
        let body = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![
                    kv("msg", s("hi")),
                    kv(
                        "n",
                        AnyValue {
                            value: Some(any_value::Value::ArrayValue(ArrayValue {
                                values: vec![AnyValue {
                                    value: Some(any_value::Value::DoubleValue(1.5)),
                                }],
                            })),
                        },
                    ),
                ],
            })),
        };
        let record = |body: Option<AnyValue>, observed: u64| LogRecord {
            observed_time_unix_nano: observed,
            body,
            ..LogRecord::default()
        };
        let streams = to_streams(
            vec![
                resource(
                    vec![kv("k8s.container.name", s("relay"))],
                    vec![record(Some(body), 5)],
                ),
                resource(vec![kv("host.name", s("h"))], vec![record(None, 0)]),
            ],
            42,
        );
        let by_service: Vec<(String, i64, String)> = streams
            .iter()
            .flat_map(|st| {
                st.entries.iter().map(|e| {
                    (
                        st.labels.get("service_name").unwrap_or("").to_owned(),
                        e.timestamp,
                        e.line.clone(),
                    )
                })
            })
            .collect();
        assert_eq!(
            by_service,
            [
                (
                    "relay".to_owned(),
                    5,
                    r#"{"msg":"hi","n":[1.5]}"#.to_owned()
                ),
                (UNKNOWN_SERVICE.to_owned(), 42, String::new()),
            ]
        );
    }

    #[test]
    fn values_are_written_as_the_collector_writes_them() {
        let v = |v| AnyValue { value: Some(v) };
        use any_value::Value as V;
        assert_eq!(as_string(&v(V::DoubleValue(0.25))), "0.25");
        assert_eq!(as_string(&v(V::DoubleValue(3.0))), "3");
        assert_eq!(as_string(&v(V::DoubleValue(1e21))), "1e+21");
        assert_eq!(as_string(&v(V::DoubleValue(1.5e-7))), "1.5e-7");
        assert_eq!(as_string(&v(V::BoolValue(true))), "true");
        assert_eq!(as_string(&v(V::BytesValue(vec![1, 2]))), "AQI=");
        assert_eq!(normalize_label("service.name"), "service_name");
        assert_eq!(normalize_label("2xx"), "key_2xx");
        assert_eq!(normalize_label("_x"), "key_x");
        assert_eq!(normalize_label("__x"), "__x");
    }

    #[test]
    fn the_store_sink_reports_refusals_as_a_partial_success() {
        let store = std::sync::Arc::new(logs::MemLogs::with_window(10));
        let sink = StoreSink::new(store.clone());
        let records = vec![
            LogRecord {
                time_unix_nano: 1_000,
                body: Some(s("new")),
                ..LogRecord::default()
            },
            LogRecord {
                time_unix_nano: 1,
                body: Some(s("too old")),
                ..LogRecord::default()
            },
        ];
        let refused = sink
            .append(vec![resource(vec![kv("service.name", s("api"))], records)])
            .unwrap();
        assert_eq!(refused.records, 1);
        let message = refused.message.unwrap();
        assert!(
            message.starts_with(
                "1 log records refused; the first, of stream {service_name=\"api\"}: entry too far behind"
            ),
            "{message}"
        );
        let stats = logs::LogStore::stats(store.as_ref(), &[], 0, i64::MAX).unwrap();
        assert_eq!(stats[0].entries, 1);
    }
}
