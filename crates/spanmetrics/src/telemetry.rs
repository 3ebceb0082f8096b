//! The generator's own metrics, under the names Tempo's metrics-generator gives them
//! (without Tempo's `tenant` label), so Tempo's operational dashboards read them:
//!
//! | metric | type | what |
//! |---|---|---|
//! | `tempo_metrics_generator_spans_received_total` | counter | spans observed |
//! | `tempo_metrics_generator_registry_active_series` | gauge | series kept |
//! | `tempo_metrics_generator_registry_max_active_series` | gauge | the cap (0: none) |
//! | `tempo_metrics_generator_registry_series_added_total` | counter | series created |
//! | `tempo_metrics_generator_registry_series_removed_total` | counter | series forgotten as stale |
//! | `tempo_metrics_generator_registry_series_limited_total` | counter | series refused by the cap, counted into the overflow series |
//! | `tempo_metrics_generator_registry_collections_total` | counter | collections |
//! | `tempo_metrics_generator_registry_collections_failed_total` | counter | collections the store did not commit |
//! | `skywatch_spanmetrics_samples_failed_total` | counter | samples the store refused |
//! | `tempo_metrics_generator_processor_service_graphs_edges_total` | counter | half-requests stored |
//! | `tempo_metrics_generator_processor_service_graphs_expired_edges_total{unmatched_span_kind}` | counter | half-requests that found no other half and named no virtual node |
//! | `tempo_metrics_generator_processor_service_graphs_dropped_spans_total` | counter | spans dropped because `max_items` halves were waiting |
//! | `skywatch_spanmetrics_service_graph_waiting_edges` | gauge | half-requests waiting now |
//!
//! (These are what the Grafana Agent called `traces_service_graph_unpaired_spans_total`
//! and `traces_service_graph_dropped_spans_total`; Tempo does not write them among the
//! derived series, and neither does Skywatch.)

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::SpanMetrics;

/// The generator's figures since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Spans observed.
    pub spans_received: u64,
    /// Series kept (a histogram's label set counts its buckets, `_sum` and `_count`).
    pub active_series: u64,
    /// The cap on series; 0 for none.
    pub max_active_series: u64,
    /// Series created.
    pub series_added: u64,
    /// Series forgotten after the stale duration.
    pub series_removed: u64,
    /// Series refused by the cap (their observations went to the overflow series).
    pub series_limited: u64,
    /// Collections.
    pub collections: u64,
    /// Collections whose commit failed.
    pub collections_failed: u64,
    /// Samples the store refused.
    pub samples_failed: u64,
    /// Half-requests stored, or complete at once.
    pub edges: u64,
    /// Half-requests waiting for their other half now.
    pub edges_waiting: u64,
    /// Half-requests that expired unpaired, by their span's kind (`SPAN_KIND_CLIENT`, ...).
    pub expired_edges: BTreeMap<&'static str, u64>,
    /// Spans dropped because the store of half-requests was full.
    pub dropped_spans: u64,
}

/// A `prometheus-client` collector of a generator's [`Stats`]; see the module's docs.
#[derive(Debug)]
pub struct Telemetry(pub(crate) Arc<SpanMetrics>);

fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    ConstCounter::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(e.encode_descriptor(
        name,
        help,
        None,
        MetricType::Gauge,
    )?)
}

impl Collector for Telemetry {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = self.0.stats();
        let g = "tempo_metrics_generator";
        counter(
            &mut e,
            &format!("{g}_spans_received"),
            "Spans the metrics generator observed.",
            s.spans_received,
        )?;
        gauge(
            &mut e,
            &format!("{g}_registry_active_series"),
            "Series the metrics generator keeps.",
            s.active_series,
        )?;
        gauge(
            &mut e,
            &format!("{g}_registry_max_active_series"),
            "The most series the metrics generator keeps; 0 for no limit.",
            s.max_active_series,
        )?;
        let registry: [(&str, &str, u64); 5] = [
            ("series_added", "Series created.", s.series_added),
            (
                "series_removed",
                "Series removed after they became stale.",
                s.series_removed,
            ),
            (
                "series_limited",
                "Series not created because of max_active_series.",
                s.series_limited,
            ),
            ("collections", "Collections of the series.", s.collections),
            (
                "collections_failed",
                "Collections the store did not commit.",
                s.collections_failed,
            ),
        ];
        for (name, help, v) in registry {
            counter(&mut e, &format!("{g}_registry_{name}"), help, v)?;
        }
        counter(
            &mut e,
            "skywatch_spanmetrics_samples_failed",
            "Derived samples the store refused.",
            s.samples_failed,
        )?;
        let graphs = format!("{g}_processor_service_graphs");
        counter(
            &mut e,
            &format!("{graphs}_edges"),
            "Half-requests of the service graph stored.",
            s.edges,
        )?;
        let expired = format!("{graphs}_expired_edges");
        let mut family = e.encode_descriptor(
            &expired,
            "Half-requests that expired before their other half came, by the kind of their span.",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in &s.expired_edges {
            ConstCounter::new(*n)
                .encode(family.encode_family(&[("unmatched_span_kind", *kind)])?)?;
        }
        counter(
            &mut e,
            &format!("{graphs}_dropped_spans"),
            "Spans dropped because the service graph's store of half-requests was full.",
            s.dropped_spans,
        )?;
        gauge(
            &mut e,
            "skywatch_spanmetrics_service_graph_waiting_edges",
            "Half-requests waiting for their other half.",
            s.edges_waiting,
        )
    }
}
