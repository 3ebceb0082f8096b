//! What the API families read from: the state the server fills in, one source per
//! concern, each optional.

use std::collections::BTreeMap;
use std::sync::Arc;

use promql::engine::Engine;
use serde_json::Value;
use storage::Queryable;

use crate::prometheus::{TargetMetadata, WalReplay};

/// What the API reads from.
#[derive(Clone)]
pub struct ApiState {
    /// The data queries read: the local store, and remote read endpoints where configured.
    pub storage: Arc<dyn Queryable>,
    /// The local store alone, for `/api/v1/status/tsdb`.
    pub local: Arc<dyn Queryable>,
    /// The PromQL engine.
    pub engine: Engine,
    /// What `/api/v1/status/buildinfo` reports.
    pub build: BuildInfo,
    /// What `/api/v1/status/runtimeinfo` reports.
    pub runtime: RuntimeInfo,
    /// The server's command-line flags and their values, for `/api/v1/status/flags`.
    pub flags: BTreeMap<String, String>,
    /// The head block's figures, for `/api/v1/status/tsdb`; `None` if the storage has no
    /// head (the TSDB status then counts every series).
    pub head: Option<Arc<dyn Fn() -> HeadStats + Send + Sync>>,
    /// The scrape targets, for `/api/v1/targets`; `None` if nothing is scraped.
    pub targets: Option<Arc<dyn Fn() -> Targets + Send + Sync>>,
    /// Reloads the configuration, for `POST /-/reload`; `None` if there is none.
    pub reload: Option<Arc<dyn Fn() -> Result<(), String> + Send + Sync>>,
    /// Metric metadata by family name, for `/api/v1/metadata`.
    pub metadata: Option<MetadataSource>,
    /// The rule groups as `/api/v1/rules` answers, given its `type` parameter (`alert`,
    /// `record` or empty); `None` if no rules run.
    pub rules: Option<RulesSource>,
    /// The pending and firing alerts as `/api/v1/alerts` answers.
    pub alerts: Option<Arc<dyn Fn() -> Value + Send + Sync>>,
    /// The text of the configuration file last loaded, for `/api/v1/status/config`; `None`
    /// if the server runs without one.
    pub config: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    /// What the write-ahead log's replay went through at start, for
    /// `/api/v1/status/walreplay`.
    pub wal_replay: WalReplay,
    /// Each scraped target's metric metadata, for `/api/v1/targets/metadata`; `None` if
    /// nothing is scraped.
    pub target_metadata: Option<Arc<dyn Fn() -> Vec<TargetMetadata> + Send + Sync>>,
    /// The URLs alerts are posted to, for `/api/v1/alertmanagers`.
    pub alertmanagers: Option<Arc<dyn Fn() -> Vec<String> + Send + Sync>>,
    /// Where every query is logged (`global.query_log_file`), if anywhere.
    pub query_log: promql::query_log::Shared,
    /// The SLOs the server runs, for the SLO API.
    pub slos: Option<crate::slo::SloSource>,
    /// The span store, for the trace APIs (Tempo, Jaeger) and the OTLP receivers.
    pub spans: Option<Arc<dyn spans::SpanStore>>,
    /// The OTLP receiver behind `POST /v1/traces`, `/v1/metrics` and `/v1/logs` (and the
    /// gRPC services the binary serves); `None` serves no OTLP.
    pub otlp: Option<Arc<otlp::Receiver>>,
    /// Loki's push and its limits, over the log store the Loki routes read; `None` serves
    /// no Loki API.
    pub logs: Option<Arc<crate::loki::Distributor>>,
    /// Remote write's receiver behind `POST /api/v1/write`, writing to the store scrapes
    /// write to; `None` serves no receiver.
    pub remote_write: Option<Arc<prompb::receive::Receiver>>,
    /// The configuration's `global.external_labels` now (they change on reload), which
    /// `/federate` and the remote read server add to the series they answer; `None` for
    /// none.
    pub external_labels: Option<Arc<dyn Fn() -> model::Labels + Send + Sync>>,
    /// The limits across families (query concurrency and points, OTLP rate) and the
    /// count of their refusals.
    pub limits: Arc<crate::limits::Limiter>,
}

/// Gives the rule groups as JSON for a `type` filter.
pub type RulesSource = Arc<dyn Fn(&str) -> Value + Send + Sync>;

/// Where `/api/v1/metadata` reads from.
pub type MetadataSource = Arc<dyn Fn() -> BTreeMap<String, MetricMetadata> + Send + Sync>;

/// What a metric family is, as its HELP, TYPE and UNIT lines say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, ...
    pub kind: String,
    /// The help text.
    pub help: String,
    /// The unit.
    pub unit: String,
}

impl MetricMetadata {
    /// The type as Prometheus's metadata endpoints write it: `unknown` for a family
    /// whose HELP or UNIT came without a TYPE.
    pub(crate) fn type_name(&self) -> &str {
        if self.kind.is_empty() {
            "unknown"
        } else {
            &self.kind
        }
    }
}

impl ApiState {
    /// State serving `storage` with `engine`, and empty build and runtime facts.
    pub fn new(storage: Arc<dyn Queryable>, engine: Engine) -> Self {
        Self {
            local: storage.clone(),
            storage,
            engine,
            build: BuildInfo::default(),
            runtime: RuntimeInfo::default(),
            flags: BTreeMap::new(),
            head: None,
            targets: None,
            reload: None,
            metadata: None,
            rules: None,
            alerts: None,
            config: None,
            wal_replay: WalReplay::default(),
            target_metadata: None,
            alertmanagers: None,
            query_log: promql::query_log::Shared::default(),
            slos: None,
            spans: None,
            otlp: None,
            logs: None,
            remote_write: None,
            external_labels: None,
            limits: Arc::default(),
        }
    }
}

/// The build of the running server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// The release version.
    pub version: String,
    /// The source revision.
    pub revision: String,
}

/// Facts about the running server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeInfo {
    /// When the server started, in ms since the epoch.
    pub start_time: i64,
    /// How long data is kept, as Prometheus writes it (`15d`), or empty for ever.
    pub storage_retention: String,
}

/// The scrape targets.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// The targets being scraped.
    pub active: Vec<ActiveTarget>,
    /// The discovered label sets relabelling dropped, with their jobs.
    pub dropped: Vec<(String, model::Labels)>,
    /// The discovery providers failing now.
    pub discovery_failures: Vec<DiscoveryFailure>,
}

/// A discovery provider whose last refresh failed; its job keeps the targets it found
/// before.
#[derive(Debug, Clone)]
pub struct DiscoveryFailure {
    /// The job.
    pub scrape_pool: String,
    /// The provider, as the configuration names it (`consul_sd_configs[0]`).
    pub provider: String,
    /// Why the last refresh failed.
    pub error: String,
    /// When the failures began, in ms since the epoch.
    pub since: i64,
    /// How many target groups the job keeps from the provider's last success.
    pub kept_groups: usize,
}

/// A target being scraped.
#[derive(Debug, Clone)]
pub struct ActiveTarget {
    /// Its labels before relabelling.
    pub discovered_labels: model::Labels,
    /// The labels its series get.
    pub labels: model::Labels,
    /// Its job.
    pub scrape_pool: String,
    /// What is fetched.
    pub scrape_url: String,
    /// Why the last scrape failed; empty if it did not.
    pub last_error: String,
    /// When the last scrape started, in ms (0 if never).
    pub last_scrape: i64,
    /// How long it took, in seconds.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: &'static str,
    /// The interval, in ms.
    pub scrape_interval: i64,
    /// The timeout, in ms.
    pub scrape_timeout: i64,
}

/// The head block's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadStats {
    /// Series in the head.
    pub num_series: usize,
    /// Chunks in the head.
    pub chunk_count: usize,
    /// The oldest and newest sample times in the head, in ms, if it holds samples.
    pub time_range: Option<(i64, i64)>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").finish_non_exhaustive()
    }
}
