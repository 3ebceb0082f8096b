//! The server's own metrics: storage and scrape figures on its `/metrics`, read when
//! scraped, and [`record`], which stores everything `/metrics` shows into the server's
//! own database: what Skywatch's own dashboard draws.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `skywatch_tsdb_head_series` | gauge | series in the head |
//! | `skywatch_tsdb_head_chunks` | gauge | chunks in the head, open and sealed |
//! | `skywatch_tsdb_blocks_loaded` | gauge | persisted blocks |
//! | `skywatch_tsdb_blocks_bytes` | gauge | bytes of the persisted blocks on disk |
//! | `skywatch_tsdb_blocks_samples` | gauge | samples in the persisted blocks |
//! | `prometheus_tsdb_exemplar_exemplars_appended_total` | counter | exemplars added to the ring |
//! | `prometheus_tsdb_exemplar_out_of_order_exemplars_total` | counter | exemplars refused as not newer than their series' last |
//! | `prometheus_tsdb_exemplar_exemplars_in_storage` | gauge | exemplars in the ring |
//! | `prometheus_tsdb_exemplar_max_exemplars` | gauge | the ring's size (`storage.exemplars.max_exemplars`) |
//! | `skywatch_scrape_targets{health}` | gauge | targets by the outcome of their last scrape: up, down, unknown |
//! | `prometheus_remote_storage_*{remote_name,url}` | | each `remote_write` queue's figures with Prometheus 2.42's names (docs/remote-write.md, Sending) |
//! | `skywatch_remote_storage_queue_bytes{remote_name,url}` | gauge | bytes of a queue's log on disk |
//! | `skywatch_otlp_spans_received_total{protocol}` | counter | spans OTLP brought and the store kept (`protocol`: `grpc`, `http`) |
//! | `skywatch_otlp_spans_rejected_total{protocol}` | counter | spans refused: invalid IDs (partial success) or in a request refused whole |
//! | `skywatch_otlp_metric_points_received_total{protocol}` | counter | metric data points kept as samples |
//! | `skywatch_otlp_metric_points_rejected_total{protocol}` | counter | metric data points refused |
//! | `skywatch_otlp_log_records_received_total{protocol}` | counter | log records kept |
//! | `skywatch_otlp_log_records_rejected_total{protocol}` | counter | log records refused (all of them while no log store exists) |
//! | `skywatch_limit_exceeded_total{limit}` | counter | refusals by the flag of the limit (docs/security.md, Limits) |
//! | `prometheus_engine_queries` | gauge | PromQL queries of the API running or waiting |
//! | `prometheus_engine_queries_concurrent_max` | gauge | `--query-max-concurrency` |
//! | `prometheus_target_scrapes_exceeded_sample_limit_total` | counter | scrapes failed by `sample_limit` |
//! | `prometheus_target_scrapes_exceeded_body_size_limit_total` | counter | scrapes failed by `body_size_limit` |
//! | `prometheus_target_scrape_pool_exceeded_label_limits_total` | counter | scrapes failed by a label limit |
//! | `prometheus_target_scrape_pool_exceeded_target_limit_total` | counter | reconciles that found a job over its `target_limit` |
//! | `skywatch_otlp_requests_total{signal,protocol,outcome}` | counter | OTLP requests by outcome: `ok`, `partial`, `bad_data`, `too_large`, `rate_limited`, `unsupported`, `not_stored`, `unavailable`, `internal` |
//! | `skywatch_remote_write_requests_total{outcome}` | counter | remote write requests received (`POST /api/v1/write`): `ok`, or `failed` in whole or part |
//! | `skywatch_remote_write_samples_received_total` | counter | samples remote write senders brought and the store kept |
//! | `skywatch_remote_write_samples_rejected_total` | counter | samples refused: bad labels, out of order, duplicate, too old |
//! | `skywatch_remote_write_exemplars_received_total` | counter | exemplars kept |
//! | `skywatch_remote_write_exemplars_rejected_total` | counter | exemplars the store refused |
//! | `skywatch_remote_write_histograms_rejected_total` | counter | native histogram samples refused (the store keeps none yet) |

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use model::{Labels, LabelsBuilder, METRIC_NAME};
use storage::Appendable;
use textparse::{Entry, Format, Parser};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Reads the database and the scrape manager at each scrape of `/metrics`.
#[derive(Debug)]
pub(crate) struct ServerCollector {
    pub(crate) db: Arc<tsdb::Tsdb>,
    pub(crate) manager: Arc<scrape::ScrapeManager>,
    pub(crate) remote: Arc<remote::RemoteWrite<tsdb::Tsdb>>,
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    g.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// Encodes counters without labels: each a name (without `_total`), help and value.
fn counters(encoder: &mut DescriptorEncoder<'_>, all: &[(&str, &str, u64)]) -> std::fmt::Result {
    for &(name, help, v) in all {
        ConstCounter::new(v).encode(encoder.encode_descriptor(
            name,
            help,
            None,
            MetricType::Counter,
        )?)?;
    }
    Ok(())
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let head = self.db.head();
        gauge(
            &mut encoder,
            "skywatch_tsdb_head_series",
            "Series in the head.",
            head.series_count() as u64,
        )?;
        gauge(
            &mut encoder,
            "skywatch_tsdb_head_chunks",
            "Chunks in the head, open and sealed.",
            head.chunk_count() as u64,
        )?;
        let blocks = self.db.blocks();
        gauge(
            &mut encoder,
            "skywatch_tsdb_blocks_loaded",
            "Persisted blocks.",
            blocks.len() as u64,
        )?;
        gauge(
            &mut encoder,
            "skywatch_tsdb_blocks_bytes",
            "Bytes of the persisted blocks on disk.",
            blocks.iter().map(|b| b.size()).sum(),
        )?;
        gauge(
            &mut encoder,
            "skywatch_tsdb_blocks_samples",
            "Samples in the persisted blocks.",
            blocks.iter().map(|b| b.meta().stats.samples).sum(),
        )?;
        let (held, max) = head.exemplar_count();
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        counters(
            &mut encoder,
            &[
                (
                    "prometheus_tsdb_exemplar_exemplars_appended",
                    "Exemplars added to the ring.",
                    load(&head.stats.exemplars_appended),
                ),
                (
                    "prometheus_tsdb_exemplar_out_of_order_exemplars",
                    "Exemplars refused as not newer than their series' last.",
                    load(&head.stats.exemplars_out_of_order),
                ),
            ],
        )?;
        gauge(
            &mut encoder,
            "prometheus_tsdb_exemplar_exemplars_in_storage",
            "Exemplars in the ring.",
            held as u64,
        )?;
        gauge(
            &mut encoder,
            "prometheus_tsdb_exemplar_max_exemplars",
            "The ring's size (storage.exemplars.max_exemplars).",
            max as u64,
        )?;
        let (mut up, mut down, mut unknown) = (0_i64, 0_i64, 0_i64);
        for t in self.manager.targets() {
            match t.status.health {
                scrape::Health::Up => up += 1,
                scrape::Health::Down => down += 1,
                scrape::Health::Unknown => unknown += 1,
            }
        }
        let mut family = encoder.encode_descriptor(
            "skywatch_scrape_targets",
            "Targets by the outcome of their last scrape.",
            None,
            MetricType::Gauge,
        )?;
        for (health, n) in [("up", up), ("down", down), ("unknown", unknown)] {
            ConstGauge::new(n).encode(family.encode_family(&[("health", health)])?)?;
        }
        encode_remote(&mut encoder, &self.remote)
    }
}

/// A histogram read whole at a scrape: buckets (not cumulative), sum, count.
#[derive(Debug)]
struct ConstHistogram<'a>(&'a [(f64, u64)], f64, u64);

impl EncodeMetric for ConstHistogram<'_> {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> std::fmt::Result {
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.1, self.2, self.0, None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Remote write's figures with Prometheus's names and labels (`remote_name`, `url`).
fn encode_remote(
    encoder: &mut DescriptorEncoder<'_>,
    remote: &remote::RemoteWrite<tsdb::Tsdb>,
) -> std::fmt::Result {
    let queues = remote.stats();
    if queues.is_empty() {
        return Ok(());
    }
    let storage = remote.storage_stats();
    let g = ConstGauge::new(storage.highest_timestamp_seconds);
    g.encode(encoder.encode_descriptor(
        "prometheus_remote_storage_highest_timestamp_in_seconds",
        "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch.",
        None,
        MetricType::Gauge,
    )?)?;
    for (name, help, v) in [
        (
            "prometheus_remote_storage_samples_in",
            "Samples read into remote storage.",
            storage.samples_in,
        ),
        (
            "prometheus_remote_storage_exemplars_in",
            "Exemplars read into remote storage.",
            storage.exemplars_in,
        ),
    ] {
        ConstCounter::new(v).encode(encoder.encode_descriptor(
            name,
            help,
            None,
            MetricType::Counter,
        )?)?;
    }
    type Figure = fn(&remote::QueueStats) -> f64;
    let counter = MetricType::Counter;
    let gauge = MetricType::Gauge;
    let families: [(&str, &str, MetricType, Figure); 24] = [
        (
            "prometheus_remote_storage_samples",
            "Total number of samples sent to remote storage.",
            counter,
            |q| q.sent as f64,
        ),
        (
            "prometheus_remote_storage_samples_failed",
            "Total number of samples which failed on send to remote storage, non-recoverable errors.",
            counter,
            |q| q.failed as f64,
        ),
        (
            "prometheus_remote_storage_samples_retried",
            "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
            counter,
            |q| q.retried as f64,
        ),
        (
            "prometheus_remote_storage_samples_dropped",
            "Total number of samples which were dropped before being sent: the queue on disk was full or could not be written.",
            counter,
            |q| q.dropped as f64,
        ),
        (
            "prometheus_remote_storage_samples_pending",
            "The number of samples pending in the queues shards to be sent to the remote storage.",
            gauge,
            |q| q.pending as f64,
        ),
        (
            "prometheus_remote_storage_exemplars",
            "Total number of exemplars sent to remote storage.",
            counter,
            |q| q.exemplars as f64,
        ),
        (
            "prometheus_remote_storage_exemplars_failed",
            "Total number of exemplars which failed on send to remote storage, non-recoverable errors.",
            counter,
            |q| q.exemplars_failed as f64,
        ),
        (
            "prometheus_remote_storage_exemplars_retried",
            "Total number of exemplars which failed on send to remote storage but were retried because the send error was recoverable.",
            counter,
            |q| q.exemplars_retried as f64,
        ),
        (
            "prometheus_remote_storage_exemplars_dropped",
            "Total number of exemplars which were dropped before being sent.",
            counter,
            |q| q.exemplars_dropped as f64,
        ),
        (
            "prometheus_remote_storage_exemplars_pending",
            "The number of exemplars pending in the queues shards to be sent to the remote storage.",
            gauge,
            |q| q.exemplars_pending as f64,
        ),
        (
            "prometheus_remote_storage_metadata",
            "Total number of metadata entries sent to remote storage.",
            counter,
            |q| q.metadata as f64,
        ),
        (
            "prometheus_remote_storage_metadata_failed",
            "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.",
            counter,
            |q| q.metadata_failed as f64,
        ),
        (
            "prometheus_remote_storage_metadata_retried",
            "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.",
            counter,
            |q| q.metadata_retried as f64,
        ),
        (
            "prometheus_remote_storage_bytes",
            "The total number of bytes of data (not metadata) sent by the queue after compression.",
            counter,
            |q| q.bytes as f64,
        ),
        (
            "prometheus_remote_storage_metadata_bytes",
            "The total number of bytes of metadata sent by the queue after compression.",
            counter,
            |q| q.metadata_bytes as f64,
        ),
        (
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
            "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
            gauge,
            |q| q.highest_sent_seconds,
        ),
        (
            "prometheus_remote_storage_shards",
            "The number of shards used for parallel sending to the remote storage.",
            gauge,
            |q| q.shards as f64,
        ),
        (
            "prometheus_remote_storage_shards_desired",
            "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.",
            gauge,
            |q| q.shards_desired as f64,
        ),
        (
            "prometheus_remote_storage_shards_min",
            "The minimum number of shards that the queue is allowed to run.",
            gauge,
            |q| q.shards_min as f64,
        ),
        (
            "prometheus_remote_storage_shards_max",
            "The maximum number of shards that the queue is allowed to run.",
            gauge,
            |q| q.shards_max as f64,
        ),
        (
            "prometheus_remote_storage_shard_capacity",
            "The capacity of each shard of the queue used for parallel sending to the remote storage.",
            gauge,
            |q| q.shard_capacity as f64,
        ),
        (
            "prometheus_remote_storage_max_samples_per_send",
            "The maximum number of samples to be sent, in a single request, to the remote storage.",
            gauge,
            |q| q.max_samples_per_send as f64,
        ),
        (
            "skywatch_remote_storage_queue_bytes",
            "Bytes of the remote write queue on disk.",
            gauge,
            |q| q.queue_bytes as f64,
        ),
        (
            "skywatch_remote_storage_queue_bytes_max",
            "Bytes the remote write queue on disk may hold; past them, samples are dropped.",
            gauge,
            |_| remote::DEFAULT_MAX_QUEUE_BYTES as f64,
        ),
    ];
    for (name, help, kind, figure) in families {
        let mut family = encoder.encode_descriptor(name, help, None, kind)?;
        for q in &queues {
            let labels = [("remote_name", q.name.as_str()), ("url", q.url.as_str())];
            let v = figure(q);
            if matches!(kind, MetricType::Counter) {
                ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
            } else {
                ConstGauge::new(v).encode(family.encode_family(&labels)?)?;
            }
        }
    }
    let mut family = encoder.encode_descriptor(
        "prometheus_remote_storage_sent_batch_duration_seconds",
        "Duration of send calls to the remote storage.",
        None,
        MetricType::Histogram,
    )?;
    for q in &queues {
        let labels = [("remote_name", q.name.as_str()), ("url", q.url.as_str())];
        let (buckets, sum, count) = &q.batch_durations;
        ConstHistogram(buckets, *sum, *count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Reads the OTLP receiver's counts at each scrape of `/metrics`.
#[derive(Debug)]
pub(crate) struct OtlpCollector {
    pub(crate) receiver: Arc<otlp::Receiver>,
}

impl Collector for OtlpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let figures = self.receiver.figures();
        let items = [
            (otlp::Signal::Traces, "spans"),
            (otlp::Signal::Metrics, "metric_points"),
            (otlp::Signal::Logs, "log_records"),
        ];
        for (signal, item) in items {
            type Figure = fn(&otlp::Figures) -> u64;
            let counts: [(&str, &str, Figure); 2] = [
                ("received", "kept", |f| f.received),
                ("rejected", "refused", |f| f.rejected),
            ];
            for (what, verb, figure) in counts {
                let name = format!("skywatch_otlp_{item}_{what}");
                let help = format!("OTLP {} {verb}, by transport.", item.replace('_', " "));
                let mut family =
                    encoder.encode_descriptor(&name, &help, None, MetricType::Counter)?;
                for f in figures.iter().filter(|f| f.signal == signal) {
                    ConstCounter::new(figure(f))
                        .encode(family.encode_family(&[("protocol", f.protocol.as_str())])?)?;
                }
            }
        }
        let mut family = encoder.encode_descriptor(
            "skywatch_otlp_requests",
            "OTLP requests by signal, transport and outcome.",
            None,
            MetricType::Counter,
        )?;
        for f in &figures {
            for (outcome, n) in otlp::OUTCOMES.iter().zip(f.requests) {
                let labels = [
                    ("signal", f.signal.as_str()),
                    ("protocol", f.protocol.as_str()),
                    ("outcome", outcome),
                ];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The limits (docs/security.md, Limits): every refusal by the flag of the limit that made it, the
/// query queue as Prometheus's engine shows it, and the scrape limits under Prometheus's
/// names.
pub(crate) struct LimitCollector {
    pub(crate) limiter: Arc<api::limits::Limiter>,
    pub(crate) db: Arc<tsdb::Tsdb>,
    pub(crate) manager: Arc<scrape::ScrapeManager>,
}

impl std::fmt::Debug for LimitCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitCollector").finish_non_exhaustive()
    }
}

impl Collector for LimitCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let mut exceeded = self.limiter.exceeded();
        let head_refused = self
            .db
            .head()
            .stats
            .series_limit
            .load(std::sync::atomic::Ordering::Relaxed);
        exceeded.insert("tsdb-max-head-series", head_refused);
        let mut family = encoder.encode_descriptor(
            "skywatch_limit_exceeded",
            "Requests, queries and series a limit refused or held back, by the flag that sets \
             the limit.",
            None,
            MetricType::Counter,
        )?;
        for (limit, n) in &exceeded {
            ConstCounter::new(*n).encode(family.encode_family(&[("limit", *limit)])?)?;
        }
        gauge(
            &mut encoder,
            "prometheus_engine_queries",
            "The current number of queries being executed or waiting.",
            self.limiter.active_queries() as u64,
        )?;
        gauge(
            &mut encoder,
            "prometheus_engine_queries_concurrent_max",
            "The max number of concurrent queries.",
            self.limiter.limits().query_max_concurrency as u64,
        )?;
        let scrape = self.manager.limit_counts();
        counters(
            &mut encoder,
            &[
                (
                    "prometheus_target_scrapes_exceeded_sample_limit",
                    "Total number of scrapes that hit the sample limit and were rejected.",
                    scrape.sample_limit,
                ),
                (
                    "prometheus_target_scrapes_exceeded_body_size_limit",
                    "Total number of scrapes that hit the body size limit.",
                    scrape.body_size_limit,
                ),
                (
                    "prometheus_target_scrape_pool_exceeded_label_limits",
                    "Total number of times scrape pools hit the label limits, during sync or config reload.",
                    scrape.label_limits,
                ),
                (
                    "prometheus_target_scrape_pool_exceeded_target_limit",
                    "Total number of times scrape pools hit the target limit, during sync or config reload.",
                    scrape.target_limit,
                ),
            ],
        )
    }
}

/// Loki's push: entries and bytes kept, and refused by Loki's reason, as Loki's
/// `loki_distributor_lines_received_total` and `loki_discarded_samples_total` count them.
pub(crate) struct LokiCollector {
    pub(crate) distributor: Arc<api::loki::Distributor>,
}

impl std::fmt::Debug for LokiCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiCollector").finish_non_exhaustive()
    }
}

impl Collector for LokiCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let f = self.distributor.figures();
        counters(
            &mut encoder,
            &[
                (
                    "skywatch_loki_received_entries",
                    "Log entries Loki's push kept.",
                    f.received_entries,
                ),
                (
                    "skywatch_loki_received_bytes",
                    "Bytes of the log lines Loki's push kept.",
                    f.received_bytes,
                ),
            ],
        )?;
        type Figure = fn(&(u64, u64)) -> u64;
        let discarded: [(&str, &str, Figure); 2] = [
            (
                "skywatch_loki_discarded_entries",
                "Log entries Loki's push refused, by the limit or check that refused them.",
                |d| d.0,
            ),
            (
                "skywatch_loki_discarded_bytes",
                "Bytes of the log lines Loki's push refused, by the limit or check that refused them.",
                |d| d.1,
            ),
        ];
        for (name, help, figure) in discarded {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (reason, d) in &f.discarded {
                ConstCounter::new(figure(d))
                    .encode(family.encode_family(&[("reason", *reason)])?)?;
            }
        }
        Ok(())
    }
}

/// Every `interval`, stores the samples of `registry` into `db` under `job` and
/// `instance` labels, as a scrape of the server's `/metrics` would, without the HTTP round
/// trip and without an `up` series: the server cannot be down while recording, and `up`
/// stays the count of the targets it scrapes.
pub(crate) async fn record(
    db: Arc<tsdb::Tsdb>,
    registry: skywatch_sdk::metrics::Registry,
    job: String,
    instance: String,
    interval: scrape::config::Duration,
) {
    let mut tick = tokio::time::interval(interval.std().max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Each series' labels, by its text in the exposition.
    let mut known: HashMap<String, Labels> = HashMap::new();
    loop {
        tick.tick().await;
        let text = registry.encode(skywatch_sdk::metrics::Format::OpenMetrics);
        let t = promql::ast::system_time_ms(std::time::SystemTime::now());
        let mut app = db.appender();
        for entry in Parser::new(&text, Format::OpenMetrics) {
            let s = match entry {
                Ok(Entry::Sample(s)) => s,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "the server's own exposition does not parse");
                    break;
                }
            };
            let labels = known.entry(s.series.to_owned()).or_insert_with(|| {
                let mut b = LabelsBuilder::new();
                for (k, v) in &s.labels {
                    b.set(k, v);
                }
                b.set("job", &job);
                b.set("instance", &instance);
                b.set(METRIC_NAME, s.name);
                b.build()
            });
            if let Err(e) = app.append(None, labels, t, s.value) {
                tracing::debug!(error = %e, series = s.series, "own sample not stored");
            }
        }
        if let Err(e) = app.commit() {
            tracing::warn!(error = %e, "cannot store the server's own metrics");
        }
    }
}

/// Reads remote write's receiver counts at each scrape of `/metrics`.
#[derive(Debug)]
pub(crate) struct RemoteWriteReceiveCollector {
    pub(crate) receiver: Arc<remote::receive::Receiver>,
}

impl Collector for RemoteWriteReceiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = self.receiver.stats();
        let mut family = encoder.encode_descriptor(
            "skywatch_remote_write_requests",
            "Remote write requests received, by outcome.",
            None,
            MetricType::Counter,
        )?;
        for (outcome, n) in [("ok", s.requests_ok), ("failed", s.requests_failed)] {
            ConstCounter::new(n).encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        let counts = [
            (
                "skywatch_remote_write_samples_received",
                "Samples received by remote write and kept.",
                s.samples,
            ),
            (
                "skywatch_remote_write_samples_rejected",
                "Samples received by remote write and refused.",
                s.samples_refused,
            ),
            (
                "skywatch_remote_write_exemplars_received",
                "Exemplars received by remote write and kept.",
                s.exemplars,
            ),
            (
                "skywatch_remote_write_exemplars_rejected",
                "Exemplars received by remote write and refused.",
                s.exemplars_refused,
            ),
            (
                "skywatch_remote_write_histograms_rejected",
                "Native histogram samples received by remote write and refused.",
                s.histograms_refused,
            ),
        ];
        for (name, help, n) in counts {
            let family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(n).encode(family)?;
        }
        Ok(())
    }
}
