//! `skywatch up`: the server. It scrapes the targets of its configuration into its TSDB and
//! serves the data through the Prometheus HTTP API; rules and the UI join it later.
//!
//! Components, wired here because this is the only crate that names concrete types:
//! - storage: the TSDB in the data directory, whose head and WAL take appends and whose
//!   blocks are cut, compacted and aged out by a maintenance task every minute (on a
//!   blocking thread: the TSDB's calls are synchronous and may do I/O);
//! - scraping: the scrape manager over the TSDB, reconfigured on SIGHUP and
//!   `POST /-/reload` (a bad file is refused and the running configuration kept);
//! - query: the PromQL engine over the TSDB, or over a Prometheus-API engine merged with
//!   the TSDB with `--query.backend` (`remote::QueryBackend`, docs/query-backend.md);
//! - HTTP: the API router, the server's own `/metrics`, and RED metrics of every request;
//! - OTLP: one `otlp::Receiver` over the span store (`open_span_store`), the storage and
//!   the log store (`open_log_store`), behind the API's `/v1/*` routes and the gRPC
//!   services on `--otlp-grpc-listen`;
//! - Loki: `api::loki::Distributor` over the same log store, behind Loki's push and read
//!   routes, its limits the `--logs-*` flags;
//! - files: `start_log_tailer` tails the files of `--logs.config.file` (Promtail's format)
//!   into the same log store.
//!
//! Settings come from the flags, then the configuration file's `skywatch:` section, then
//! the defaults.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::alert_sink::{AlertSink, Alertmanagers};

/// `skywatch up` options.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// The configuration file: Prometheus's format (scrape_configs, relabelling, ...).
    /// Without one, nothing is scraped and the data directory is only served.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// The data directory, created if missing [default: ./skywatch-data].
    #[arg(long)]
    data: Option<PathBuf>,
    /// The address to serve the API on [default: 127.0.0.1:9797].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Delete blocks whose data is older than this (for example 15d); keep everything if
    /// unset.
    #[arg(long, value_parser = humantime::parse_duration)]
    retention_time: Option<Duration>,
    /// A directory of Grafana dashboard JSON, laid out as Grafana's file provisioning
    /// (subdirectories are folders); watched for changes and served in the UI.
    #[arg(long)]
    pub(crate) dashboards: Option<PathBuf>,
    /// An Alertmanager configuration file: the rules' alerts are routed, grouped,
    /// silenced and sent by Skywatch itself as it says, and Alertmanager's API is served.
    #[arg(long)]
    pub(crate) alertmanager_config: Option<PathBuf>,
    /// A directory of SLO specs (Sloth `prometheus/v1`, OpenSLO v1): their rules run
    /// beside the configuration's, `/api/v1/slos` and the `/slos` page show their budgets;
    /// watched for changes.
    #[arg(long)]
    pub(crate) slos: Option<PathBuf>,
    /// Network-relative health settings (docs/network-health.md): the metrics that give a
    /// node's height and peers, the thresholds and the inventory of expected nodes; their
    /// rules (group skywatch-network-health) run beside the others, generated again when
    /// the file or an inventory file changes.
    #[arg(long = "network-health.config", value_name = "FILE")]
    pub(crate) network_health_config: Option<PathBuf>,
    #[command(flatten)]
    otlp: OtlpArgs,
    #[command(flatten)]
    query: QueryArgs,
    #[command(flatten)]
    web: crate::web_server::WebArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// The log filter, in RUST_LOG syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

/// The OTLP receivers' settings.
#[derive(Debug, Clone, Args)]
pub(crate) struct OtlpArgs {
    /// The address to take OTLP over gRPC on (traces, metrics, logs); OTLP over HTTP is
    /// served on --listen (POST /v1/traces, /v1/metrics, /v1/logs).
    #[arg(long, default_value = DEFAULT_OTLP_GRPC_LISTEN)]
    pub(crate) otlp_grpc_listen: SocketAddr,
    /// The largest OTLP request body (or gRPC message), in bytes, once decompressed; a
    /// larger one is refused (HTTP 413, gRPC RESOURCE_EXHAUSTED).
    #[arg(long, default_value_t = otlp::Limits::default().max_request_body_bytes)]
    otlp_max_request_body_bytes: usize,
    /// The most spans one OTLP request may carry; a request with more is refused whole.
    #[arg(long, default_value_t = otlp::Limits::default().max_spans_per_request)]
    otlp_max_spans_per_request: usize,
    /// The longest string or bytes attribute value of a span, in bytes; longer values are
    /// cut and the span kept.
    #[arg(long, default_value_t = otlp::Limits::default().max_attribute_value_bytes)]
    otlp_max_attribute_value_bytes: usize,
    /// A YAML file of span metrics and service graph settings, under the keys of Tempo's
    /// `metrics_generator.processor` block plus `processors`, `registry` and
    /// `max_active_series` (docs/spanmetrics.md); `processors: []` turns them off. Without
    /// it, both run with Tempo's defaults.
    #[arg(long, value_name = "FILE")]
    pub(crate) spanmetrics_config: Option<PathBuf>,
    #[command(flatten)]
    traces: TraceStoreArgs,
    #[command(flatten)]
    logs: LogsArgs,
}

/// The limits of log ingestion over Loki's push API (docs/logs.md), named after Loki's
/// `limits_config`, with its defaults.
#[derive(Debug, Clone, Args)]
pub(crate) struct LogsArgs {
    /// The longest log line a push may carry (Loki's max_line_size); a longer one is
    /// refused alone with 400; 0 for no limit.
    #[arg(long, default_value = "256KB", value_parser = byte_size)]
    logs_max_line_size: u64,
    /// The most labels a pushed stream may have (max_label_names_per_series).
    #[arg(long, default_value_t = api::loki::Limits::default().max_label_names_per_series)]
    logs_max_label_names_per_series: usize,
    /// The longest label name of a pushed stream (max_label_name_length).
    #[arg(long, default_value_t = api::loki::Limits::default().max_label_name_length)]
    logs_max_label_name_length: usize,
    /// The longest label value of a pushed stream (max_label_value_length).
    #[arg(long, default_value_t = api::loki::Limits::default().max_label_value_length)]
    logs_max_label_value_length: usize,
    /// The megabytes a second a tenant (X-Scope-OrgID) may push (ingestion_rate_mb); a
    /// push over it is refused with 429; 0 for no limit.
    #[arg(long, default_value_t = 4.0)]
    logs_ingestion_rate_mb: f64,
    /// The most megabytes a tenant may push at once (ingestion_burst_size_mb).
    #[arg(long, default_value_t = 6.0)]
    logs_ingestion_burst_size_mb: f64,
    /// Refuse pushed entries older than this (reject_old_samples_max_age); 0s accepts
    /// any age.
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    logs_reject_old_samples_max_age: Duration,
    /// Refuse pushed entries newer than now plus this (creation_grace_period).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    logs_creation_grace_period: Duration,
    /// The most bytes of structured metadata a pushed entry may carry
    /// (max_structured_metadata_size).
    #[arg(long, default_value = "64KB", value_parser = byte_size)]
    logs_max_structured_metadata_size: u64,
    /// The most structured metadata pairs a pushed entry may carry
    /// (max_structured_metadata_entries_count).
    #[arg(long, default_value_t = api::loki::Limits::default().max_structured_metadata_entries)]
    logs_max_structured_metadata_entries: usize,
    /// Delete log chunks whose newest line is older than this, and refuse older lines;
    /// 0s keeps them forever (Loki's retention_period).
    #[arg(long, default_value = "14d", value_parser = humantime::parse_duration)]
    logs_retention_time: Duration,
    /// While the log chunks and log take more than this (512MB, 20GB, ...), delete the
    /// oldest; unset, no limit.
    #[arg(long, value_parser = byte_size)]
    logs_retention_size: Option<u64>,
    /// How far behind its stream's newest line a line may arrive and still be kept; older
    /// ones are refused naming the window.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    logs_out_of_order_window: Duration,
    /// The most streams the store holds; a line that would make one more is refused
    /// naming the limit. Many streams cost memory, not a cliff: see docs/logs.md.
    #[arg(long, default_value_t = logdb::Options::default().max_streams)]
    logs_max_streams: usize,
    /// Sync the log store's write-ahead log to disk on every accepted push (survives power
    /// loss, costs a disk flush a request); without it a killed server loses nothing but a
    /// crashed machine may.
    #[arg(long)]
    logs_sync: bool,
    /// A Promtail configuration file (scrape_configs with static file targets,
    /// relabel_configs, pipeline_stages; docs/logs.md): the files it names are tailed into
    /// the log store, their positions kept in positions.filename (default
    /// logtail-positions.yaml in the data directory).
    #[arg(long = "logs.config.file", value_name = "FILE")]
    pub(crate) logs_config_file: Option<PathBuf>,
}

impl LogsArgs {
    /// The log store's options: these settings over the store's defaults.
    fn store_options(&self) -> logdb::Options {
        logdb::Options {
            retention_age: Some(self.logs_retention_time).filter(|d| !d.is_zero()),
            retention_bytes: self.logs_retention_size,
            out_of_order_window: self.logs_out_of_order_window,
            max_streams: self.logs_max_streams,
            max_line_bytes: usize::try_from(self.logs_max_line_size)
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or(usize::MAX),
            sync: if self.logs_sync {
                logdb::SyncPolicy::Always
            } else {
                logdb::SyncPolicy::Never
            },
            ..logdb::Options::default()
        }
    }

    /// The push limits these flags give.
    fn limits(&self) -> api::loki::Limits {
        const MIB: f64 = (1u64 << 20) as f64;
        api::loki::Limits {
            max_line_size: usize::try_from(self.logs_max_line_size).unwrap_or(usize::MAX),
            max_label_names_per_series: self.logs_max_label_names_per_series,
            max_label_name_length: self.logs_max_label_name_length,
            max_label_value_length: self.logs_max_label_value_length,
            ingestion_rate_bytes: self.logs_ingestion_rate_mb * MIB,
            ingestion_burst_bytes: self.logs_ingestion_burst_size_mb * MIB,
            max_structured_metadata_size: usize::try_from(self.logs_max_structured_metadata_size)
                .unwrap_or(usize::MAX),
            max_structured_metadata_entries: self.logs_max_structured_metadata_entries,
            reject_old_samples_max_age: Some(self.logs_reject_old_samples_max_age)
                .filter(|d| !d.is_zero()),
            creation_grace_period: self.logs_creation_grace_period,
            ..api::loki::Limits::default()
        }
    }

    /// The flags and their values, for `/api/v1/status/flags`.
    fn flags(&self) -> Vec<(&'static str, String)> {
        let duration = |d: Duration| humantime::format_duration(d).to_string();
        vec![
            (
                "logs-max-line-size",
                format!("{}B", self.logs_max_line_size),
            ),
            (
                "logs-max-label-names-per-series",
                self.logs_max_label_names_per_series.to_string(),
            ),
            (
                "logs-max-label-name-length",
                self.logs_max_label_name_length.to_string(),
            ),
            (
                "logs-max-label-value-length",
                self.logs_max_label_value_length.to_string(),
            ),
            (
                "logs-ingestion-rate-mb",
                self.logs_ingestion_rate_mb.to_string(),
            ),
            (
                "logs-ingestion-burst-size-mb",
                self.logs_ingestion_burst_size_mb.to_string(),
            ),
            (
                "logs-reject-old-samples-max-age",
                duration(self.logs_reject_old_samples_max_age),
            ),
            (
                "logs-creation-grace-period",
                duration(self.logs_creation_grace_period),
            ),
            (
                "logs-max-structured-metadata-size",
                format!("{}B", self.logs_max_structured_metadata_size),
            ),
            (
                "logs-max-structured-metadata-entries",
                self.logs_max_structured_metadata_entries.to_string(),
            ),
            ("logs-retention-time", duration(self.logs_retention_time)),
            (
                "logs-retention-size",
                self.logs_retention_size
                    .map_or_else(|| "0B".to_owned(), |b| format!("{b}B")),
            ),
            (
                "logs-out-of-order-window",
                duration(self.logs_out_of_order_window),
            ),
            ("logs-max-streams", self.logs_max_streams.to_string()),
            ("logs-sync", self.logs_sync.to_string()),
            (
                "logs.config.file",
                self.logs_config_file
                    .as_ref()
                    .map_or_else(String::new, |p| p.display().to_string()),
            ),
        ]
    }
}

/// The span store's settings (`docs/trace-store.md`).
#[derive(Debug, Clone, Args)]
pub(crate) struct TraceStoreArgs {
    /// Delete span blocks whose newest span ended longer ago than this; 0s keeps them
    /// forever (Tempo's block_retention).
    #[arg(long, default_value = "14d", value_parser = humantime::parse_duration)]
    traces_retention_time: Duration,
    /// While the span blocks and log take more than this (512MB, 20GB, ...), delete the
    /// oldest blocks; unset, no limit.
    #[arg(long, value_parser = byte_size)]
    traces_retention_size: Option<u64>,
    /// Write the spans held in memory into a block once they take this much (64MB, ...).
    #[arg(long, default_value = "64MB", value_parser = byte_size)]
    traces_head_size: u64,
    /// ... or once the oldest of them arrived this long ago (Tempo's max_block_duration).
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    traces_head_age: Duration,
    /// The most spans one trace may receive between two blocks; a batch that would pass
    /// it is refused naming max_trace_spans.
    #[arg(long, default_value_t = tracedb::Options::default().max_trace_spans)]
    traces_max_spans_per_trace: u32,
    /// Sync the span log to disk on every accepted batch (survives power loss, costs a
    /// disk flush a request); without it the kernel writes it back on its own schedule,
    /// which survives a crash of the server but not of the machine.
    #[arg(long)]
    traces_sync: bool,
}

impl TraceStoreArgs {
    /// The store's options: these settings over the store's defaults.
    fn options(&self) -> tracedb::Options {
        tracedb::Options {
            retention_age: Some(self.traces_retention_time).filter(|d| !d.is_zero()),
            retention_bytes: self.traces_retention_size,
            max_head_bytes: self.traces_head_size,
            max_head_age: self.traces_head_age,
            max_trace_spans: self.traces_max_spans_per_trace,
            sync: if self.traces_sync {
                tracedb::SyncPolicy::Always
            } else {
                tracedb::SyncPolicy::Never
            },
            ..tracedb::Options::default()
        }
    }
}

/// A size with a unit, as Prometheus writes sizes: 512KB, 64MB, 20GB (powers of 1024).
fn byte_size(s: &str) -> Result<u64, String> {
    scrape::config::parse_byte_size(s).ok_or_else(|| {
        format!("{s:?} is not a size: write a number and a unit, such as 512MB or 20GB")
    })
}

impl OtlpArgs {
    /// The span metrics settings: `--spanmetrics-config`'s file, or the defaults.
    fn spanmetrics(&self) -> Result<spanmetrics::Config, String> {
        let Some(path) = &self.spanmetrics_config else {
            return Ok(spanmetrics::Config::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let config: spanmetrics::Config =
            yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        config
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(config)
    }

    /// The receivers' limits.
    fn limits(&self) -> otlp::Limits {
        otlp::Limits {
            max_request_body_bytes: self.otlp_max_request_body_bytes,
            max_spans_per_request: self.otlp_max_spans_per_request,
            max_attribute_value_bytes: self.otlp_max_attribute_value_bytes,
        }
    }
}

/// The query engine's settings. Prometheus's spellings (`--query.timeout`,
/// `--query.max-samples`, `--query.lookback-delta`, `--query.max-concurrency`) are
/// accepted too, so a Prometheus command line carries over.
#[derive(Debug, Clone, Args)]
pub(crate) struct QueryArgs {
    /// The longest a query may run before it fails (a request's `timeout` parameter can
    /// only shorten it).
    #[arg(long, alias = "query.timeout", default_value = "2m", value_parser = humantime::parse_duration)]
    query_timeout: Duration,
    /// The most samples a query may hold in memory; a query needing more fails.
    #[arg(long, alias = "query.max-samples", default_value_t = 50_000_000)]
    query_max_samples: usize,
    /// How far back an instant selector looks for a series' latest sample.
    #[arg(long, alias = "query.lookback-delta", default_value = "5m", value_parser = humantime::parse_duration)]
    query_lookback_delta: Duration,
    /// Drop the metric name at the end of a query rather than at each operation, as
    /// Prometheus's `promql-delayed-name-removal` feature does.
    #[arg(long)]
    query_delayed_name_removal: bool,
    /// Answer every query (the UI, the Prometheus API, recording and alerting rules, SLOs)
    /// from this engine's Prometheus HTTP API (Prometheus, Thanos Query, Mimir with its
    /// /prometheus prefix, VictoriaMetrics), merged with the local TSDB, which still takes
    /// what this server scrapes, records and receives (docs/query-backend.md).
    #[arg(long = "query.backend", value_name = "URL")]
    query_backend: Option<String>,
    /// The query backend's HTTP client settings, as Prometheus's http_config (basic_auth,
    /// authorization, bearer_token_file, oauth2, tls_config, proxy_url) in a YAML file.
    #[arg(
        long = "query.backend.http-config",
        value_name = "FILE",
        requires = "query_backend"
    )]
    query_backend_http_config: Option<PathBuf>,
    /// Read the query backend's raw samples with remote read (URL/api/v1/read), which keeps
    /// staleness markers, rather than with the query API; for engines that serve remote
    /// read (Prometheus, Mimir), not Thanos Query or VictoriaMetrics.
    #[arg(long = "query.backend.remote-read", requires = "query_backend")]
    query_backend_remote_read: bool,
}

impl QueryArgs {
    /// The query backend's settings, if one is named; fails naming the file if its
    /// client settings cannot be read.
    fn backend(&self) -> Result<Option<remote::BackendOptions>, String> {
        let Some(url) = &self.query_backend else {
            return Ok(None);
        };
        let http = match &self.query_backend_http_config {
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    format!(
                        "cannot read --query.backend.http-config {}: {e}",
                        file.display()
                    )
                })?;
                yaml::from_str(&text)
                    .map_err(|e| format!("--query.backend.http-config {}: {e}", file.display()))?
            }
            None => httpclient::HttpClientConfig {
                follow_redirects: true,
                enable_http2: true,
                ..httpclient::HttpClientConfig::default()
            },
        };
        Ok(Some(remote::BackendOptions {
            url: url.clone(),
            http,
            timeout: self.query_timeout,
            remote_read: self.query_backend_remote_read,
        }))
    }
}

impl Default for QueryArgs {
    fn default() -> Self {
        Self {
            query_timeout: Duration::from_secs(120),
            query_max_samples: 50_000_000,
            query_lookback_delta: Duration::from_secs(300),
            query_delayed_name_removal: false,
            query_backend: None,
            query_backend_http_config: None,
            query_backend_remote_read: false,
        }
    }
}

/// The limits that keep one client from taking the server down (docs/security.md, Limits), beside
/// the query, OTLP and Loki limits of their own sections. Each refusal is counted in
/// `skywatch_limit_exceeded_total{limit}` under the flag's name.
#[derive(Debug, Clone, Args)]
pub(crate) struct LimitArgs {
    /// The most PromQL queries of the HTTP API evaluated at once; the others wait in a
    /// queue, their wait counting against their timeout (Prometheus's
    /// --query.max-concurrency).
    #[arg(
        long,
        alias = "query.max-concurrency",
        default_value_t = api::limits::Limits::default().query_max_concurrency
    )]
    query_max_concurrency: usize,
    /// The most points a range query may give each series (Prometheus's fixed 11,000).
    #[arg(long, default_value_t = api::limits::Limits::default().query_max_points_per_series)]
    query_max_points_per_series: i64,
    /// The most series the TSDB's head holds: a sample that would create another is
    /// refused (its scrape fails, OTLP reports it refused), while existing series keep
    /// taking samples; 0 for no limit.
    #[arg(long, default_value_t = DEFAULT_MAX_HEAD_SERIES)]
    tsdb_max_head_series: usize,
    /// The megabytes a second an OTLP tenant (X-Scope-OrgID, else the client's address)
    /// may send over HTTP and gRPC together (Tempo's ingestion_rate_limit_bytes); over it,
    /// HTTP 429 or gRPC RESOURCE_EXHAUSTED; 0 for no limit.
    #[arg(long, default_value_t = 15.0)]
    otlp_ingestion_rate_mb: f64,
    /// The most megabytes an OTLP tenant may send at once (Tempo's
    /// ingestion_burst_size_bytes).
    #[arg(long, default_value_t = 20.0)]
    otlp_ingestion_burst_size_mb: f64,
    /// The megabytes a second a remote write sender (X-Scope-OrgID, else the client's
    /// address) may post to /api/v1/write, as sent (compressed); over it, HTTP 429, which
    /// senders retry after backing off; 0 (the default) for no limit, as Prometheus has.
    #[arg(long, default_value_t = 0.0)]
    remote_write_ingestion_rate_mb: f64,
    /// The most megabytes a remote write sender may post at once; a larger request is
    /// always refused.
    #[arg(long, default_value_t = 64.0)]
    remote_write_ingestion_burst_size_mb: f64,
}

/// The default of --tsdb-max-head-series: well above what one server of a node network
/// scrapes, well below what fills its memory.
const DEFAULT_MAX_HEAD_SERIES: usize = 5_000_000;

impl Default for LimitArgs {
    fn default() -> Self {
        let api = api::limits::Limits::default();
        Self {
            query_max_concurrency: api.query_max_concurrency,
            query_max_points_per_series: api.query_max_points_per_series,
            tsdb_max_head_series: DEFAULT_MAX_HEAD_SERIES,
            otlp_ingestion_rate_mb: 15.0,
            otlp_ingestion_burst_size_mb: 20.0,
            remote_write_ingestion_rate_mb: 0.0,
            remote_write_ingestion_burst_size_mb: 64.0,
        }
    }
}

impl LimitArgs {
    /// The API's limits.
    fn api(&self) -> api::limits::Limits {
        const MIB: f64 = 1024.0 * 1024.0;
        api::limits::Limits {
            query_max_concurrency: self.query_max_concurrency,
            query_max_points_per_series: self.query_max_points_per_series,
            otlp_ingestion_rate_bytes: self.otlp_ingestion_rate_mb * MIB,
            otlp_ingestion_burst_bytes: self.otlp_ingestion_burst_size_mb * MIB,
            remote_write_ingestion_rate_bytes: self.remote_write_ingestion_rate_mb * MIB,
            remote_write_ingestion_burst_bytes: self.remote_write_ingestion_burst_size_mb * MIB,
        }
    }

    /// The head's series limit, if any.
    fn max_head_series(&self) -> Option<usize> {
        (self.tsdb_max_head_series > 0).then_some(self.tsdb_max_head_series)
    }

    /// The flags and their values, for `/api/v1/status/flags`.
    fn flags(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "query-max-concurrency",
                self.query_max_concurrency.to_string(),
            ),
            (
                "query-max-points-per-series",
                self.query_max_points_per_series.to_string(),
            ),
            (
                "tsdb-max-head-series",
                self.tsdb_max_head_series.to_string(),
            ),
            (
                "otlp-ingestion-rate-mb",
                self.otlp_ingestion_rate_mb.to_string(),
            ),
            (
                "otlp-ingestion-burst-size-mb",
                self.otlp_ingestion_burst_size_mb.to_string(),
            ),
            (
                "remote-write-ingestion-rate-mb",
                self.remote_write_ingestion_rate_mb.to_string(),
            ),
            (
                "remote-write-ingestion-burst-size-mb",
                self.remote_write_ingestion_burst_size_mb.to_string(),
            ),
        ]
    }
}

/// What a server runs with, once flags, file and defaults are resolved.
pub(crate) struct Settings {
    /// The data directory.
    pub(crate) data: PathBuf,
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// Where to take OTLP over gRPC, and the receivers' limits.
    pub(crate) otlp: OtlpArgs,
    /// How long to keep data.
    pub(crate) retention_time: Option<Duration>,
    /// The query engine's settings.
    pub(crate) query: QueryArgs,
    /// The limits on queries, the head's series and OTLP's rate.
    pub(crate) limits: LimitArgs,
    /// The configuration, and the file it came from if it can be reloaded.
    pub(crate) config: scrape::Config,
    pub(crate) config_file: Option<PathBuf>,
    /// The configuration file's text as loaded (empty without a file), which
    /// `/api/v1/status/config` shows.
    pub(crate) config_text: String,
    /// The log filter.
    pub(crate) log: String,
    /// More routes to serve beside the API.
    pub(crate) extra_routes: Option<axum::Router>,
    /// The dashboards to serve.
    pub(crate) dashboards: Arc<dashboards::Library>,
    /// Record the server's own metrics into its database as this job, every global
    /// scrape interval.
    pub(crate) self_job: Option<String>,
    /// Rule files that come with the program (the demo's), run besides the
    /// configuration's `rule_files`.
    pub(crate) shipped_rules: Arc<Vec<rules::RuleFile>>,
    /// The SLO specs whose rules run too.
    pub(crate) slos: Arc<crate::slos::SloSet>,
    /// The network-health settings whose generated rules run too.
    pub(crate) network_health: Option<Arc<crate::network_health::NetworkHealth>>,
    /// Alert routing: an Alertmanager configuration's text, whose `${SKYWATCH_URL}` is
    /// replaced by the server's address, and the file it came from.
    pub(crate) alertmanager: Option<(String, String)>,
    /// TLS, credentials and route classes for the listeners (`--web.*`).
    pub(crate) web: Arc<crate::web_server::WebSettings>,
}

/// The rule files of `config` (relative to the configuration file's directory), the
/// shipped ones, the SLOs' and the network health's generated ones, read and checked, with
/// the SLOs: all of them, or every problem.
fn rule_files(
    config: &scrape::Config,
    config_file: Option<&Path>,
    shipped: &[rules::RuleFile],
    slos: &crate::slos::SloSet,
    network_health: Option<&crate::network_health::NetworkHealth>,
) -> Result<(Vec<rules::RuleFile>, Vec<slo::Slo>), String> {
    let base = config_file.and_then(Path::parent).unwrap_or(Path::new("."));
    let paths = rules::manager::resolve(base, &config.rule_files)?;
    let mut files = rules::manager::load_all(&paths).map_err(|problems| problems.join("\n"))?;
    files.extend(shipped.iter().cloned());
    let (list, generated) = slos.read()?;
    files.extend(generated);
    if let Some(nh) = network_health {
        files.push(nh.read()?);
    }
    Ok((files, list))
}

/// What every rule template sees of the server.
fn rule_context(
    config: &scrape::Config,
    addr: SocketAddr,
    query_log: &promql::query_log::Shared,
) -> rules::eval::Context {
    rules::eval::Context {
        external_labels: config.global.external_labels.clone(),
        external_url: format!("http://{addr}"),
        query_log: query_log.clone(),
    }
}

/// Opens the query log `config` names (anew, if it was open), or closes it.
fn open_query_log(
    config: &scrape::Config,
    query_log: &promql::query_log::Shared,
) -> Result<(), String> {
    let file = config
        .global
        .query_log_file
        .as_ref()
        .map(|f| PathBuf::from(&f.value))
        .filter(|f| !f.as_os_str().is_empty());
    query_log.set(file.as_deref())
}

impl Settings {
    /// The flags and their values, as `/api/v1/status/flags` reports them.
    fn flags(&self) -> std::collections::BTreeMap<String, String> {
        let duration = |d: Duration| humantime::format_duration(d).to_string();
        [
            (
                "config",
                self.config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("data", self.data.display().to_string()),
            ("listen", self.listen.to_string()),
            ("otlp-grpc-listen", self.otlp.otlp_grpc_listen.to_string()),
            (
                "traces-retention-time",
                duration(self.otlp.traces.traces_retention_time),
            ),
            (
                "traces-retention-size",
                self.otlp
                    .traces
                    .traces_retention_size
                    .map(|b| format!("{b}B"))
                    .unwrap_or_default(),
            ),
            (
                "spanmetrics-config",
                self.otlp
                    .spanmetrics_config
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            (
                "otlp-max-request-body-bytes",
                self.otlp.otlp_max_request_body_bytes.to_string(),
            ),
            (
                "otlp-max-spans-per-request",
                self.otlp.otlp_max_spans_per_request.to_string(),
            ),
            (
                "otlp-max-attribute-value-bytes",
                self.otlp.otlp_max_attribute_value_bytes.to_string(),
            ),
            (
                "retention-time",
                self.retention_time.map(duration).unwrap_or_default(),
            ),
            ("query-timeout", duration(self.query.query_timeout)),
            (
                "query-max-samples",
                self.query.query_max_samples.to_string(),
            ),
            (
                "query-lookback-delta",
                duration(self.query.query_lookback_delta),
            ),
            (
                "query-delayed-name-removal",
                self.query.query_delayed_name_removal.to_string(),
            ),
            (
                "query.backend",
                self.query.query_backend.clone().unwrap_or_default(),
            ),
            (
                "dashboards",
                self.dashboards
                    .dir()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("log", self.log.clone()),
        ]
        .into_iter()
        .chain(self.otlp.logs.flags())
        .chain(self.web.flags())
        .chain(self.limits.flags())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The default data directory and listen address.
pub(crate) const DEFAULT_DATA: &str = "./skywatch-data";
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:9797";
/// OTLP/gRPC's standard port, on loopback.
pub(crate) const DEFAULT_OTLP_GRPC_LISTEN: &str = "127.0.0.1:4317";

pub(crate) fn run(args: UpArgs) -> Result<(), String> {
    let (config, config_text) = match &args.config {
        Some(path) => load(path)?,
        None => (scrape::Config::default(), String::new()),
    };
    let own = &config.skywatch;
    let listen = match (args.listen, &own.listen_address) {
        (Some(a), _) => a,
        (None, Some(a)) => a
            .parse()
            .map_err(|e| format!("skywatch.listen_address {a:?}: {e}"))?,
        (None, None) => DEFAULT_LISTEN.parse().map_err(|e| format!("{e}"))?,
    };
    if let Some(dir) = args.slos.as_deref().filter(|d| !d.is_dir()) {
        return Err(format!(
            "--slos {}: not a directory; give the directory of SLO spec files",
            dir.display()
        ));
    }
    if let Some(dir) = args.dashboards.as_deref().filter(|d| !d.is_dir()) {
        return Err(format!(
            "--dashboards {}: not a directory; give the directory of Grafana dashboard JSON files",
            dir.display()
        ));
    }
    let settings = Settings {
        data: args
            .data
            .or_else(|| own.data_dir.clone())
            .unwrap_or_else(|| DEFAULT_DATA.into()),
        listen,
        otlp: args.otlp,
        retention_time: args
            .retention_time
            .or_else(|| own.retention_time.map(scrape::config::Duration::std)),
        query: args.query,
        limits: args.limits,
        config_file: args.config,
        config,
        config_text,
        log: args.log,
        // The network-health alerts' runbook links lead here.
        extra_routes: args
            .network_health_config
            .is_some()
            .then(crate::network_health::runbook_router),
        dashboards: Arc::new(
            args.dashboards
                .as_deref()
                .map(dashboards::Library::open)
                .unwrap_or_default(),
        ),
        self_job: None,
        shipped_rules: Arc::default(),
        slos: Arc::new(crate::slos::SloSet::new(args.slos, Vec::new())),
        network_health: args
            .network_health_config
            .map(|f| Arc::new(crate::network_health::NetworkHealth::from_file(f))),
        alertmanager: match &args.alertmanager_config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--alertmanager-config {}: {e}", path.display()))?;
                Some((text, path.display().to_string()))
            }
            None => None,
        },
        web: Arc::new(args.web.settings(false)?),
    };
    runtime()?.block_on(async {
        let telemetry = init_telemetry_traced(&settings.log, settings.config.tracing.as_ref())?;
        let result = serve(settings, &telemetry, shutdown_signal(), |_, _| {}).await;
        drop(telemetry);
        result
    })
}

/// The multi-threaded Tokio runtime the commands run in.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Starts the SDK's logging (JSON on standard error) and the server's own metrics.
pub(crate) fn init_telemetry(log: &str) -> Result<skywatch_sdk::Telemetry, String> {
    init_telemetry_traced(log, None)
}

/// As [`init_telemetry`], and the server's own spans sent over OTLP as the configuration's
/// `tracing` section says, sampled as Prometheus samples them (a share of new traces,
/// a caller's decision followed).
fn init_telemetry_traced(
    log: &str,
    tracing: Option<&scrape::config::TracingConfig>,
) -> Result<skywatch_sdk::Telemetry, String> {
    let mut config = skywatch_sdk::Config::new("skywatch", env!("CARGO_PKG_VERSION"))
        .namespace("skywatch")
        .log_filter(log.to_owned())
        .log_writer(skywatch_sdk::LogWriter::Stderr);
    if let Some(t) = tracing
        && let Some(url) = t.url()
    {
        let mut otlp = if t.is_http() {
            skywatch_sdk::trace::OtlpConfig::http(url)
        } else {
            skywatch_sdk::trace::OtlpConfig::grpc(url)
        };
        if let Some(timeout) = t.timeout.filter(|d| d.0 > 0) {
            otlp.timeout = timeout.std();
        }
        otlp.headers = t.headers.clone().into_iter().collect();
        otlp.gzip = t.gzip();
        // As Prometheus does, TLS is used unless `insecure`, with the system's roots when
        // the section has no tls_config.
        if !t.insecure {
            let tls = scrape::tls::client_config(&t.tls_config.clone().unwrap_or_default())
                .map_err(|e| format!("tracing: {e}"))?;
            otlp.tls = Some(std::sync::Arc::new(tls));
        }
        // Prometheus's default fraction is 0: no trace begun here is sampled.
        config = config
            .otlp(otlp)
            .sample_ratio(t.sampling_fraction.unwrap_or(0.0));
    }
    skywatch_sdk::init(config).map_err(|e| e.to_string())
}

/// Runs the server until `shutdown` completes; `listening` is told the bound addresses
/// (HTTP, then OTLP/gRPC).
pub(crate) async fn serve(
    settings: Settings,
    telemetry: &skywatch_sdk::Telemetry,
    shutdown: impl Future<Output = ()> + Send + 'static,
    listening: impl FnOnce(SocketAddr, SocketAddr),
) -> Result<(), String> {
    let options = tsdb::Options {
        retention_time: settings.retention_time.map(millis),
        max_exemplars: settings.config.storage.exemplars.ring_size(),
        max_series: settings.limits.max_head_series(),
        ..tsdb::Options::default()
    };
    // The segments the open is about to replay, for /api/v1/status/walreplay: the replay
    // is over before anything is served, so the segment being read is the last one.
    let wal_replay = match tsdb::wal::segments(&settings.data.join("wal")) {
        Ok(segments) => {
            let first = segments.first().map_or(0, |(n, _)| *n);
            let last = segments.last().map_or(0, |(n, _)| *n);
            api::WalReplay {
                min: first,
                max: last,
                current: last,
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the write-ahead log's segments");
            api::WalReplay::default()
        }
    };
    let dir = settings.data.clone();
    let opening = std::time::Instant::now();
    let db = tokio::task::spawn_blocking(move || tsdb::Tsdb::open(dir, options))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| {
            format!(
                "cannot open the data directory {}: {e}",
                settings.data.display()
            )
        })?;
    if let Some(damage) = db.wal_damage() {
        tracing::warn!(%damage, "recovered from a damaged write-ahead log");
    }
    for q in db.quarantined() {
        tracing::warn!(from = %q.from.display(), to = %q.to.display(), "{q}");
    }
    let db = Arc::new(db);
    tracing::info!(
        data = %settings.data.display(),
        blocks = db.blocks().len(),
        head_series = db.head().series_count(),
        replay_seconds = opening.elapsed().as_secs_f64(),
        "opened the data directory"
    );

    let maintenance = {
        let db = db.clone();
        every_minute("storage maintenance", move || db.maintain())
    };

    // Samples scraped and recorded go to the store and to remote_write's destinations;
    // queries read the store (merged under the query backend's answers with
    // --query.backend) and remote_read's endpoints. Each remote_write destination keeps
    // its queue on disk, so that a restart or an outage of the receiver loses nothing.
    let written = Arc::new(remote::RemoteWrite::new(
        db.clone(),
        settings.data.join("remote_write"),
    ));
    written.apply(
        &settings.config.remote_write,
        &settings.config.global.external_labels,
    )?;
    let backend = Arc::new(remote::QueryBackend::new(
        written.clone(),
        settings.query.backend()?,
    )?);
    if let Some(url) = backend.url() {
        tracing::info!(%url, "queries, rules and SLOs read the query backend");
    }
    let store = Arc::new(remote::RemoteRead::new(backend, {
        let db = db.clone();
        Box::new(move || db.start_time())
    }));
    store.apply(
        &settings.config.remote_read,
        &settings.config.global.external_labels,
    )?;
    let manager = Arc::new(scrape::ScrapeManager::new(written.clone()));
    written.set_metadata_source({
        let manager = manager.clone();
        Arc::new(move || {
            manager
                .metadata()
                .into_iter()
                .map(|(family, m)| remote::Metadata {
                    family,
                    kind: m.kind,
                    help: m.help,
                    unit: m.unit,
                })
                .collect()
        })
    });
    telemetry
        .registry()
        .register_collector(crate::self_metrics::ServerCollector {
            db: db.clone(),
            manager: manager.clone(),
            remote: written.clone(),
        });
    for problem in manager.apply(&settings.config) {
        tracing::warn!(%problem, "target not scraped");
    }
    tracing::info!(
        jobs = settings.config.scrape_configs.len(),
        targets = manager.targets().len(),
        "scraping"
    );

    let q = &settings.query;
    let engine = promql::engine::Engine::new(promql::engine::EngineOptions {
        timeout: Some(q.query_timeout),
        max_samples: q.query_max_samples,
        lookback: millis(q.query_lookback_delta),
        delayed_name_removal: q.query_delayed_name_removal,
        ..promql::engine::EngineOptions::default()
    });
    // The rule files are read now, so that a bad one stops the start with its problems.
    let (first_rules, first_slos) = rule_files(
        &settings.config,
        settings.config_file.as_deref(),
        &settings.shipped_rules,
        &settings.slos,
        settings.network_health.as_deref(),
    )?;
    // Spans go to the span store; OTLP metrics join the scraped samples (and remote
    // write); logs, over OTLP and Loki's push, go to the log store.
    let (span_db, span_maintenance) =
        open_span_store(&settings.data, settings.otlp.traces.options())?;
    let span_store: Arc<dyn spans::SpanStore> = span_db.clone();
    let (log_db, log_maintenance) =
        open_log_store(&settings.data, settings.otlp.logs.store_options())?;
    let log_store: Arc<dyn logs::LogStore> = log_db.clone();
    // Spans the receivers keep are also counted into Tempo's span metrics and service
    // graph, written beside the scraped series.
    let generator = Arc::new(
        spanmetrics::SpanMetrics::new(settings.otlp.spanmetrics()?, written.clone())
            .map_err(|e| format!("span metrics: {e}"))?,
    );
    telemetry
        .registry()
        .register_collector(generator.telemetry());
    let generator_task = tokio::spawn(Arc::clone(&generator).run());
    let limits = Arc::new(api::limits::Limiter::new(settings.limits.api()));
    let receiver = Arc::new(otlp::Receiver::new(otlp::ReceiverOptions {
        spans: Some(Arc::new(spanmetrics::Observed::new(
            span_store.clone(),
            generator,
        ))),
        metrics: Some(written.clone()),
        logs: Some(Arc::new(otlp::logs::StoreSink::new(log_store.clone()))),
        limits: settings.otlp.limits(),
        // OTLP/gRPC's ingestion rate, the one the HTTP routes apply.
        admit: Some({
            let limits = limits.clone();
            Arc::new(move |tenant: &str, bytes| limits.admit_otlp(tenant, bytes))
        }),
    }));
    let tailer = start_log_tailer(
        settings.otlp.logs.logs_config_file.as_deref(),
        &settings.data,
        &log_store,
        telemetry,
    )?;
    let distributor = Arc::new(api::loki::Distributor::new(
        log_store,
        settings.otlp.logs.limits(),
    ));
    telemetry
        .registry()
        .register_collector(crate::self_metrics::LokiCollector {
            distributor: distributor.clone(),
        });
    telemetry
        .registry()
        .register_collector(crate::self_metrics::OtlpCollector {
            receiver: receiver.clone(),
        });
    telemetry
        .registry()
        .register_collector(crate::self_metrics::LimitCollector {
            limiter: limits.clone(),
            db: db.clone(),
            manager: manager.clone(),
        });
    let grpc_listener = tokio::net::TcpListener::bind(settings.otlp.otlp_grpc_listen)
        .await
        .map_err(|e| {
            format!(
                "cannot listen on {} for OTLP/gRPC: {e}; give another address with --otlp-grpc-listen",
                settings.otlp.otlp_grpc_listen
            )
        })?;
    let grpc_addr = grpc_listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %grpc_addr, "OTLP/gRPC listening");
    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    // TLS and the write class's credentials, as on the HTTP listener.
    let grpc = {
        let (web, receiver) = (settings.web.clone(), receiver.clone());
        tokio::spawn(async move {
            web.serve_grpc(grpc_listener, receiver, async {
                let _ = grpc_stopped.await;
            })
            .await
        })
    };
    // Bound now: the rules' templates, the router and the reloader need the address.
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(addr = %addr, "listening");
    let alert_service = match &settings.alertmanager {
        Some((text, file)) => {
            let text = text.replace("${SKYWATCH_URL}", &format!("http://{addr}"));
            let config = alerting::Config::parse(&text, file).map_err(|e| e.to_string())?;
            // A template file that cannot be read stops the start, as it stops Alertmanager.
            alerting::notify::Service::templates(&config)?;
            let silences = alerting::silence::Silences::open(&settings.data.join("silences.json"))?;
            let log = alerting::notify::NotificationLog::open(
                &settings.data.join("notifications.jsonl"),
            )?;
            let mut dispatcher = alerting::dispatch::Dispatcher::new(config, silences);
            dispatcher.keep_log(
                &settings.data.join("nflog.json"),
                alerting::notify::now_ms(),
            )?;
            let service = Arc::new(alerting::notify::Service::new(
                dispatcher,
                log,
                format!("http://{addr}"),
            ));
            tokio::spawn(service.clone().run());
            Some((service, text))
        }
        None => None,
    };
    let sink = AlertSink {
        own: alert_service.as_ref().map(|(s, _)| s.clone()),
        external: std::sync::RwLock::new(Arc::new(
            Alertmanagers::from_config(&settings.config)?
                .follow_discovery(&tokio::runtime::Handle::current()),
        )),
        runtime: tokio::runtime::Handle::current(),
    };
    let sink = Arc::new(sink);
    let config_text = Arc::new(std::sync::RwLock::new(settings.config_text.clone()));
    // What `/federate` and the remote read server add to the series they answer.
    let external_labels = Arc::new(std::sync::RwLock::new(model::Labels::from_pairs(
        &settings.config.global.external_labels,
    )));
    let rule_manager = Arc::new(rules::manager::RuleManager::new(
        store.clone(),
        engine,
        Some(sink.clone()),
    ));
    // Every query the API answers and every rule evaluation, logged if the configuration
    // names a file.
    let query_log = promql::query_log::Shared::default();
    open_query_log(&settings.config, &query_log)?;
    let reloader = settings.config_file.clone().map(|path| Reloader {
        path,
        manager: manager.clone(),
        rules: rule_manager.clone(),
        remote: written.clone(),
        read: store.clone(),
        shipped_rules: settings.shipped_rules.clone(),
        slos: settings.slos.clone(),
        network_health: settings.network_health.clone(),
        addr,
        sink: sink.clone(),
        query_log: query_log.clone(),
        config_text: config_text.clone(),
        external_labels: external_labels.clone(),
        routing: alert_service.as_ref().and_then(|(service, _)| {
            let (_, file) = settings.alertmanager.as_ref()?;
            Some((service.clone(), PathBuf::from(file)))
        }),
    });
    let hangups = reloader.clone().map(|r| tokio::spawn(r.on_sighup()));
    let mut state = api::ApiState::new(store.clone(), engine);
    state.local = db.clone();
    state.query_log = query_log.clone();
    state.build = api::BuildInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        revision: std::env::var("SKYWATCH_BUILD_REVISION").unwrap_or_default(),
    };
    state.runtime = api::RuntimeInfo {
        start_time: promql::ast::system_time_ms(std::time::SystemTime::now()),
        storage_retention: settings
            .retention_time
            .map(|d| humantime::format_duration(d).to_string())
            .unwrap_or_default(),
    };
    state.flags = settings.flags();
    state.head = Some({
        let db = db.clone();
        Arc::new(move || api::HeadStats {
            num_series: db.head().series_count(),
            chunk_count: db.head().chunk_count(),
            time_range: db.head().time_range(),
        })
    });
    state.targets = Some({
        let manager = manager.clone();
        Arc::new(move || targets_of(&manager))
    });
    // Remote write senders' samples take the scrapes' path: the store, then remote_write's
    // destinations.
    let received = Arc::new(remote::receive::Receiver::new(written.clone()));
    telemetry
        .registry()
        .register_collector(crate::self_metrics::RemoteWriteReceiveCollector {
            receiver: received.clone(),
        });
    state.remote_write = Some(received.clone());
    state.metadata = Some({
        let manager = manager.clone();
        Arc::new(move || {
            // What senders described, then what the targets describe, which wins.
            let sent = received.metadata().into_iter().map(|(name, m)| {
                let m = api::MetricMetadata {
                    kind: m.kind,
                    help: m.help,
                    unit: m.unit,
                };
                (name, m)
            });
            let scraped = manager.metadata().into_iter().map(|(name, m)| {
                let m = api::MetricMetadata {
                    kind: m.kind,
                    help: m.help,
                    unit: m.unit,
                };
                (name, m)
            });
            sent.chain(scraped).collect()
        })
    });
    state.rules = Some({
        let m = rule_manager.clone();
        Arc::new(move |kind: &str| m.rules_json(kind))
    });
    state.alerts = Some({
        let m = rule_manager.clone();
        Arc::new(move || m.alerts_json())
    });
    state.slos = Some({
        let slos = settings.slos.clone();
        Arc::new(move || slos.current())
    });
    if let Some(r) = reloader.clone() {
        state.reload = Some(Arc::new(move || r.reload()));
    }
    if settings.config_file.is_some() {
        let text = config_text.clone();
        state.config = Some(Arc::new(move || {
            text.read().unwrap_or_else(|e| e.into_inner()).clone()
        }));
    }
    state.wal_replay = wal_replay;
    state.spans = Some(span_store);
    state.limits = limits.clone();
    state.otlp = Some(receiver);
    state.logs = Some(distributor);
    state.external_labels = Some({
        let labels = external_labels.clone();
        Arc::new(move || labels.read().unwrap_or_else(|e| e.into_inner()).clone())
    });
    state.target_metadata = Some({
        let manager = manager.clone();
        Arc::new(move || target_metadata(&manager))
    });
    state.alertmanagers = Some({
        let sink = sink.clone();
        // The built-in routing takes the alerts in the process, as if they were posted to
        // its Alertmanager API on this server; it is listed first, then the external ones.
        let own = alert_service
            .is_some()
            .then(|| format!("http://{addr}/api/v2/alerts"));
        Arc::new(move || {
            let external = sink
                .external
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .urls();
            own.iter().cloned().chain(external).collect()
        })
    });
    for problem in settings.dashboards.problems() {
        tracing::warn!("dashboard: {problem}");
    }
    // The dashboards directory is read again when a file in it changes.
    let library = settings.dashboards.clone();
    let watcher = settings.dashboards.dir().is_some().then(|| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let library = library.clone();
                let reloaded = tokio::task::spawn_blocking(move || {
                    library.reload_if_changed().then(|| library.problems())
                })
                .await;
                if let Ok(Some(problems)) = reloaded {
                    tracing::info!(problems = problems.len(), "dashboards reloaded");
                    for problem in problems {
                        tracing::warn!("dashboard: {problem}");
                    }
                }
            }
        })
    });
    let mut app = api::router(state);
    if let Some((service, text)) = &alert_service {
        app = app.merge(alerting::api::router(service.clone(), text.clone()));
    }
    let mut app = app
        .merge(crate::health::router(manager.clone()))
        .merge(dashboards::router(settings.dashboards.clone()))
        .merge(ui::router())
        .merge(settings.web.quit_router())
        .layer(telemetry.http_layer())
        .merge(skywatch_sdk::metrics_router(telemetry.registry().clone()));
    if settings.config.tracing.is_some() {
        // Each request in a span of its own, continuing the caller's trace.
        app = app.layer(telemetry.trace_layer());
    }
    if let Some(extra) = settings.extra_routes {
        app = app.merge(extra);
    }
    // Every route behind the web configuration's TLS and credentials and its class's
    // rules (after every merge: a route merged later would not be guarded).
    let app = settings.web.protect(app);
    // Every answer is compressed when the client asks, as Prometheus compresses its API's.
    let app = api::compressed(app);

    let evaluated = rule_manager.apply(
        &first_rules,
        settings.config.global.evaluation_interval.0,
        rule_context(&settings.config, addr, &query_log),
    );
    settings.slos.set(first_slos);
    tracing::info!(
        rules = evaluated,
        slos = settings.slos.current().len(),
        "evaluating rules"
    );
    // The SLO directory and the network-health files are read again when a file in them
    // changes, and their rules applied with the rest (through the reloader, which reads
    // the configuration too, if there is a file to read).
    let slo_watcher = (settings.slos.watched() || settings.network_health.is_some()).then(|| {
        let slos = settings.slos.clone();
        let network_health = settings.network_health.clone();
        let reloader = reloader.clone();
        let (rules, config, shipped) =
            (rule_manager.clone(), settings.config.clone(), settings.shipped_rules.clone());
        let query_log = query_log.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                if !slos.changed() && !network_health.as_ref().is_some_and(|n| n.changed()) {
                    continue;
                }
                let (slos, reloader) = (slos.clone(), reloader.clone());
                let network_health = network_health.clone();
                let (rules, config, shipped) = (rules.clone(), config.clone(), shipped.clone());
                let query_log = query_log.clone();
                let _ = tokio::task::spawn_blocking(move || match reloader {
                    Some(r) => {
                        let _ = r.reload();
                    }
                    None => match rule_files(&config, None, &shipped, &slos, network_health.as_deref()) {
                        Ok((files, list)) => {
                            let n = rules.apply(
                                &files,
                                config.global.evaluation_interval.0,
                                rule_context(&config, addr, &query_log),
                            );
                            slos.set(list);
                            tracing::info!(rules = n, slos = slos.current().len(), "SLOs reloaded");
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the SLO specs or network-health settings are invalid; keeping the running ones");
                        }
                    },
                })
                .await;
            }
        })
    });
    let recorder = settings.self_job.clone().map(|job| {
        tokio::spawn(crate::self_metrics::record(
            db.clone(),
            telemetry.registry().clone(),
            job,
            addr.to_string(),
            settings.config.global.scrape_interval,
        ))
    });
    listening(addr, grpc_addr);
    settings.web.serve_http(listener, app, shutdown).await?;
    if let Some(h) = hangups {
        h.abort();
    }
    if let Some(w) = watcher {
        w.abort();
    }
    if let Some(w) = slo_watcher {
        w.abort();
    }
    if let Some(r) = recorder {
        r.abort();
    }
    let _ = stop_grpc.send(());
    match grpc.await {
        Ok(Err(e)) => tracing::error!(error = %e, "OTLP/gRPC"),
        Err(e) => tracing::error!(error = %e, "the OTLP/gRPC server panicked"),
        Ok(Ok(())) => {}
    }
    rule_manager.stop();
    // The tailer's last round, and its positions written, before the store goes.
    if let Some(t) = tailer {
        match tokio::task::spawn_blocking(move || t.stop()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "stopping the file tailer"),
            Err(e) => tracing::error!(error = %e, "stopping the file tailer panicked"),
        }
    }
    // Targets end with the server: their series are marked stale, as Prometheus does.
    manager.stop().await;
    // Requests in flight end and are recorded as sent; the rest waits in the queues' logs.
    written.shutdown(std::time::Duration::from_secs(10)).await;
    maintenance.abort();
    span_maintenance.abort();
    log_maintenance.abort();
    generator_task.abort();
    // The log store's heads are cut into chunks, so that the next start has no WAL to
    // replay.
    match tokio::task::spawn_blocking(move || log_db.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "closing the log store"),
        Err(e) => tracing::error!(error = %e, "closing the log store panicked"),
    }
    // The span store's head is cut into a block, so that the next start has no WAL to
    // replay and the spans are kept compressed.
    match tokio::task::spawn_blocking(move || span_db.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "closing the span store"),
        Err(e) => tracing::error!(error = %e, "closing the span store panicked"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Runs `job` on a blocking thread every minute (the first a minute from now), logging
/// its failures as `what`'s, until the task is aborted.
fn every_minute<E: std::fmt::Display + Send + 'static>(
    what: &'static str,
    job: impl Fn() -> Result<(), E> + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    let job = Arc::new(job);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let job = job.clone();
            match tokio::task::spawn_blocking(move || job()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "{what} failed"),
                Err(e) => tracing::error!(error = %e, "{what} panicked"),
            }
        }
    })
}

/// Opens the server's span store, `tracedb` in `data/traces` (the one place that names
/// it), and starts its maintenance: every minute it cuts a head older than its limit into a
/// block, compacts blocks and applies retention.
fn open_span_store(
    data: &Path,
    options: tracedb::Options,
) -> Result<(Arc<tracedb::TraceDb>, tokio::task::JoinHandle<()>), String> {
    let dir = data.join("traces");
    let opening = std::time::Instant::now();
    let db = tracedb::TraceDb::open(&dir, options)
        .map_err(|e| format!("opening the span store in {}: {e}", dir.display()))?;
    let db = Arc::new(db);
    let stats = db.stats();
    tracing::info!(
        data = %dir.display(),
        blocks = stats.blocks,
        spans = stats.spans,
        replay_seconds = opening.elapsed().as_secs_f64(),
        "opened the span store"
    );
    let maintenance = {
        let db = db.clone();
        every_minute("span store maintenance", move || db.maintain())
    };
    Ok((db, maintenance))
}

/// Opens the server's log store, `logdb` in `data/logs` (the one place that names it), and
/// starts its maintenance: every minute it cuts heads older than their limit into chunks
/// and applies retention.
fn open_log_store(
    data: &Path,
    options: logdb::Options,
) -> Result<(Arc<logdb::LogDb>, tokio::task::JoinHandle<()>), String> {
    let dir = data.join("logs");
    let opening = std::time::Instant::now();
    let db = logdb::LogDb::open(&dir, options)
        .map_err(|e| format!("opening the log store in {}: {e}", dir.display()))?;
    if let Some(damage) = db.wal_damage() {
        tracing::warn!(%damage, "recovered the log store from a damaged write-ahead log");
    }
    let db = Arc::new(db);
    let figures = db.figures();
    tracing::info!(
        data = %dir.display(),
        streams = figures.streams,
        chunks = figures.chunks,
        replay_seconds = opening.elapsed().as_secs_f64(),
        "opened the log store"
    );
    let maintenance = {
        let db = db.clone();
        every_minute("log store maintenance", move || db.maintain())
    };
    Ok((db, maintenance))
}

/// Starts tailing the files of the Promtail configuration `file` (`--logs.config.file`)
/// into `store` on the tailer's own thread, its metrics registered; `None` without a file.
fn start_log_tailer(
    file: Option<&Path>,
    data: &Path,
    store: &Arc<dyn logs::LogStore>,
    telemetry: &skywatch_sdk::Telemetry,
) -> Result<Option<logtail::Running>, String> {
    let Some(file) = file else {
        return Ok(None);
    };
    let config = logtail::Config::load(file).map_err(|e| e.to_string())?;
    for note in &config.notes {
        tracing::warn!("{}: {note}", file.display());
    }
    let tailer = logtail::Tailer::new(logtail::TailerOptions {
        positions_file: config.positions_file(data),
        config,
        store: store.clone(),
    })?;
    telemetry.registry().register_collector(tailer.telemetry());
    let running = tailer
        .spawn(Duration::from_millis(250))
        .map_err(|e| format!("cannot start the file tailer: {e}"))?;
    tracing::info!(config = %file.display(), "tailing log files");
    Ok(Some(running))
}

/// The targets as the API shows them.
fn targets_of(manager: &scrape::ScrapeManager) -> api::Targets {
    api::Targets {
        active: manager
            .targets()
            .into_iter()
            .map(|t| api::ActiveTarget {
                discovered_labels: t.target.discovered,
                labels: t.target.labels,
                scrape_pool: t.target.job,
                scrape_url: t.target.url,
                last_error: t.status.last_error,
                last_scrape: t.status.last_scrape,
                last_scrape_duration: t.status.last_duration,
                health: t.status.health.as_str(),
                scrape_interval: t.target.interval,
                scrape_timeout: t.target.timeout,
            })
            .collect(),
        dropped: manager.dropped(),
        discovery_failures: manager
            .discovery_failures()
            .into_iter()
            .map(|f| api::DiscoveryFailure {
                scrape_pool: f.job,
                provider: f.provider,
                error: f.error,
                since: f.since,
                kept_groups: f.kept_groups,
            })
            .collect(),
    }
}

/// Each target's metric metadata as the API shows it.
fn target_metadata(manager: &scrape::ScrapeManager) -> Vec<api::TargetMetadata> {
    manager
        .targets()
        .into_iter()
        .map(|t| api::TargetMetadata {
            labels: t.target.labels,
            metadata: t
                .status
                .metadata
                .iter()
                .map(|(name, m)| {
                    let m = api::MetricMetadata {
                        kind: m.kind.clone(),
                        help: m.help.clone(),
                        unit: m.unit.clone(),
                    };
                    (name.clone(), m)
                })
                .collect(),
        })
        .collect()
}

/// What rules and queries read and write: the TSDB, remote write's destinations, the query
/// backend and remote read's endpoints.
type Store = remote::RemoteRead<remote::QueryBackend<remote::RemoteWrite<tsdb::Tsdb>>>;

/// Reloads the configuration file into the scrape manager.
#[derive(Clone)]
struct Reloader {
    path: PathBuf,
    manager: Arc<scrape::ScrapeManager>,
    rules: Arc<rules::manager::RuleManager<Store>>,
    remote: Arc<remote::RemoteWrite<tsdb::Tsdb>>,
    read: Arc<Store>,
    shipped_rules: Arc<Vec<rules::RuleFile>>,
    slos: Arc<crate::slos::SloSet>,
    network_health: Option<Arc<crate::network_health::NetworkHealth>>,
    addr: SocketAddr,
    sink: Arc<AlertSink>,
    query_log: promql::query_log::Shared,
    /// The text of the configuration last applied.
    config_text: Arc<std::sync::RwLock<String>>,
    /// The external labels `/federate` and remote read answers carry.
    external_labels: Arc<std::sync::RwLock<model::Labels>>,
    /// The routing and its configuration file, read again at each reload.
    routing: Option<(Arc<alerting::notify::Service>, PathBuf)>,
}

impl Reloader {
    /// Reads, checks and applies the file, its rule files and the routing configuration;
    /// a bad file changes nothing.
    fn reload(&self) -> Result<(), String> {
        let loaded = load(&self.path).and_then(|(config, text)| {
            let (rules, slos) = rule_files(
                &config,
                Some(&self.path),
                &self.shipped_rules,
                &self.slos,
                self.network_health.as_deref(),
            )?;
            let routing = match &self.routing {
                Some((_, file)) => {
                    let text = std::fs::read_to_string(file)
                        .map_err(|e| format!("cannot read {}: {e}", file.display()))?
                        .replace("${SKYWATCH_URL}", &format!("http://{}", self.addr));
                    Some(
                        alerting::Config::parse(&text, &file.display().to_string())
                            .map_err(|e| e.to_string())?,
                    )
                }
                None => None,
            };
            let alertmanagers = Alertmanagers::from_config(&config)?;
            Ok((config, text, rules, slos, routing, alertmanagers))
        });
        match loaded {
            Ok((config, text, rules, slos, routing, alertmanagers)) => {
                *self.config_text.write().unwrap_or_else(|e| e.into_inner()) = text;
                *self
                    .external_labels
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) =
                    model::Labels::from_pairs(&config.global.external_labels);
                // Opened anew, as Prometheus reopens it, so that a rotated file is followed.
                if let Err(e) = open_query_log(&config, &self.query_log) {
                    tracing::error!(error = %e, "the query log is not written");
                }
                if let (Some((service, _)), Some(routing)) = (&self.routing, routing)
                    && let Err(e) = service.reconfigure(routing)
                {
                    tracing::error!(error = %e, "the routing is not reloaded: its templates cannot be read");
                }
                *self
                    .sink
                    .external
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(alertmanagers.follow_discovery(&self.sink.runtime));
                if let Err(e) = self
                    .remote
                    .apply(&config.remote_write, &config.global.external_labels)
                {
                    tracing::error!(error = %e, "remote_write not applied");
                }
                if let Err(e) = self
                    .read
                    .apply(&config.remote_read, &config.global.external_labels)
                {
                    tracing::error!(error = %e, "remote_read not applied");
                }
                for problem in self.manager.apply(&config) {
                    tracing::warn!(%problem, "target not scraped");
                }
                let evaluated = self.rules.apply(
                    &rules,
                    config.global.evaluation_interval.0,
                    rule_context(&config, self.addr, &self.query_log),
                );
                self.slos.set(slos);
                tracing::info!(file = %self.path.display(), targets = self.manager.targets().len(), rules = evaluated, "reloaded the configuration");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "the new configuration is invalid; keeping the running one");
                Err(e)
            }
        }
    }

    /// Reloads on every SIGHUP.
    async fn on_sighup(self) {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; reload with POST /-/reload");
            return;
        };
        while hup.recv().await.is_some() {
            let r = self.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
        }
    }
}

/// Reads and checks the configuration file; returns it and its text.
pub(crate) fn load(path: &Path) -> Result<(scrape::Config, String), String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        scrape::config::ConfigError {
            file: file.clone(),
            message: format!("cannot read it: {e}"),
        }
        .to_string()
    })?;
    let mut config = scrape::Config::parse(&text, &file).map_err(|e| e.to_string())?;
    // The files it names are found beside it, as Prometheus finds them.
    config.set_directory(path.parent().unwrap_or(Path::new("")));
    Ok((config, text))
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
