//! Remote write: every sample stored is also sent to the configuration's `remote_write`
//! endpoints (VictoriaMetrics, Mimir, Thanos Receive, another Prometheus...) with
//! Prometheus's remote write 1.0 protocol: snappy-compressed protobuf `WriteRequest`s.
//!
//! [`RemoteWrite`] wraps the store's [`Appendable`]: a transaction's samples (and, with
//! `send_exemplars`, its exemplars) go to the store and, once it commits, to each
//! destination's queue. Each queue adds the external labels, applies
//! `write_relabel_configs`, and appends the result to its own log on disk
//! (`<data>/remote_write/<queue>/`, drawn in `docs/format/remote-write-queue.md`). Shards
//! read the log and send it: up to `max_samples_per_send` per request or what came within
//! `batch_send_deadline`, each series on one shard so that its samples arrive in order,
//! between `min_shards` and `max_shards` of them as the rates ask, retrying with backoff
//! (`min_backoff` doubling to `max_backoff`) on 5xx, on 429 with `retry_on_http_429`, and on
//! network errors; any other refusal drops the batch, counted. The position up to which the
//! destination acknowledged the log is kept on disk, so a restart or an outage of the
//! receiver loses nothing (up to the queue's size on disk). Metadata goes every
//! `metadata_config.send_interval`.
//!
//! Differences from Prometheus, on purpose and documented in `docs/compatibility.md`: each
//! destination keeps its own log instead of re-reading the TSDB's write-ahead log (the
//! remote write queue does not depend on the store, and the TSDB keeps its WAL segments on
//! its own schedule); a restart sends what was committed before it and not yet sent, where
//! Prometheus sends only samples newer than its start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use model::{Labels, Timestamp};
use scrape::config::RemoteWriteConfig;
use storage::{AppendError, Appendable, Appender, Queryable, SeriesRef, StorageError};

pub mod backend;
mod log;
mod queue;
pub mod read;

pub use backend::{BackendOptions, QueryBackend};
pub use prompb::{proto, receive, v2};
pub use read::RemoteRead;

use queue::{Queue, QueueOptions};

/// The most bytes one destination's queue holds on disk by default: past it, new samples
/// are dropped (counted and logged) until the destination takes the backlog.
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 2 << 30;

/// Which protobuf message a destination is sent (`protobuf_message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// `prometheus.WriteRequest`, remote write 1.0.
    V1,
    /// `io.prometheus.write.v2.Request`, remote write 2.0.
    V2,
}

/// One metric family's metadata, as the targets describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The family's name.
    pub family: String,
    /// `counter`, `gauge`, ... as the TYPE line says.
    pub kind: String,
    /// The HELP text.
    pub help: String,
    /// The UNIT.
    pub unit: String,
}

/// Where the metadata sent with `metadata_config` comes from (the scrape manager's).
pub type MetadataSource = Arc<dyn Fn() -> Vec<Metadata> + Send + Sync>;

/// A store whose committed samples are also sent to remote write destinations; queries
/// go to the store.
pub struct RemoteWrite<S: ?Sized> {
    inner: Arc<S>,
    dir: PathBuf,
    max_queue_bytes: u64,
    queues: RwLock<Vec<Arc<Queue>>>,
    metadata: Arc<RwLock<Option<MetadataSource>>>,
    /// The newest timestamp committed, in ms (`highest_timestamp_in_seconds`).
    highest: std::sync::atomic::AtomicI64,
    /// Samples and exemplars committed while a destination was configured.
    samples_in: std::sync::atomic::AtomicU64,
    exemplars_in: std::sync::atomic::AtomicU64,
}

impl<S: ?Sized> std::fmt::Debug for RemoteWrite<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWrite").finish_non_exhaustive()
    }
}

/// What a destination has done, for the server's own metrics (Prometheus's
/// `prometheus_remote_storage_*` figures of a queue).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// `remote_name`: the configuration's `name`, or a hash of its URL.
    pub name: String,
    /// The destination's URL.
    pub url: String,
    /// Samples the destination accepted.
    pub sent: u64,
    /// Samples it refused for good (4xx).
    pub failed: u64,
    /// Samples dropped: the queue on disk was full or could not be written.
    pub dropped: u64,
    /// Samples sent again after a recoverable failure.
    pub retried: u64,
    /// Samples waiting.
    pub pending: u64,
    /// Exemplars accepted, refused, retried, dropped, waiting.
    pub exemplars: u64,
    /// Exemplars refused for good.
    pub exemplars_failed: u64,
    /// Exemplars sent again.
    pub exemplars_retried: u64,
    /// Exemplars dropped.
    pub exemplars_dropped: u64,
    /// Exemplars waiting.
    pub exemplars_pending: u64,
    /// Metadata entries accepted.
    pub metadata: u64,
    /// Metadata entries refused for good.
    pub metadata_failed: u64,
    /// Metadata entries sent again.
    pub metadata_retried: u64,
    /// Bytes of sample and exemplar requests sent (compressed), retries included.
    pub bytes: u64,
    /// Bytes of metadata requests sent.
    pub metadata_bytes: u64,
    /// The newest sample timestamp the destination accepted, in seconds.
    pub highest_sent_seconds: f64,
    /// Shards sending now.
    pub shards: u64,
    /// Shards the rates ask for.
    pub shards_desired: u64,
    /// `min_shards`.
    pub shards_min: u64,
    /// `max_shards`.
    pub shards_max: u64,
    /// `capacity`: items buffered per shard.
    pub shard_capacity: u64,
    /// `max_samples_per_send`.
    pub max_samples_per_send: u64,
    /// Bytes of the queue's log on disk.
    pub queue_bytes: u64,
    /// `sent_batch_duration_seconds`: the count in each bucket by its upper bound (not
    /// cumulative; the last is +Inf), the sum, the count.
    pub batch_durations: (Vec<(f64, u64)>, f64, u64),
}

/// The figures of the remote write storage as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StorageStats {
    /// The newest timestamp committed, in seconds.
    pub highest_timestamp_seconds: f64,
    /// Samples committed.
    pub samples_in: u64,
    /// Exemplars committed.
    pub exemplars_in: u64,
}

impl<S: ?Sized> RemoteWrite<S> {
    /// Wraps `inner`; nothing is sent until [`apply`](Self::apply) names destinations.
    /// Each destination keeps its queue in a directory under `dir` (the data directory's
    /// `remote_write/`).
    pub fn new(inner: Arc<S>, dir: PathBuf) -> Self {
        Self {
            inner,
            dir,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            queues: RwLock::default(),
            metadata: Arc::default(),
            highest: std::sync::atomic::AtomicI64::new(i64::MIN),
            samples_in: std::sync::atomic::AtomicU64::new(0),
            exemplars_in: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Sets the most bytes each destination's queue holds on disk (default
    /// [`DEFAULT_MAX_QUEUE_BYTES`]), for queues made after.
    pub fn with_max_queue_bytes(mut self, bytes: u64) -> Self {
        self.max_queue_bytes = bytes.max(1);
        self
    }

    /// Names where the metadata sent with `metadata_config` comes from.
    pub fn set_metadata_source(&self, source: MetadataSource) {
        *self.metadata.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// Sends to `configs` from now on, with `external_labels` added to each series. A
    /// destination whose settings are unchanged keeps its queue; a changed one gets a new
    /// queue on the same log (by `name` and URL), which resumes where the old one was
    /// acknowledged. The log of a destination no longer configured is deleted. Must be
    /// called within a Tokio runtime.
    pub fn apply(
        &self,
        configs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<(), String> {
        let mut next = Vec::with_capacity(configs.len());
        let old = self
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut dirs = Vec::new();
        let mut started = Vec::new();
        for config in configs {
            let key = format!("{config:?}|{external_labels:?}");
            let dir_name = queue_dir_name(config);
            dirs.push(dir_name.clone());
            if let Some(q) = old.iter().find(|q| q.key == key) {
                next.push(q.clone());
                continue;
            }
            let previous = old
                .iter()
                .find(|q| queue_dir_name_of(&q.name, &q.url) == dir_name)
                .cloned();
            let (log, pending) = match &previous {
                Some(p) => (p.log.clone(), 0),
                None => {
                    let dir = self.dir.join(&dir_name);
                    let (log, opened) = log::Log::open(&dir, self.max_queue_bytes)
                        .map_err(|e| format!("remote_write {}: {e}", config.url.value))?;
                    for r in &opened.repaired {
                        tracing::warn!(queue = %dir.display(), "{r}");
                    }
                    (Arc::new(log), opened.pending)
                }
            };
            if let Some(p) = &previous {
                p.stop();
            }
            let queue = Arc::new(Queue::new(
                config,
                QueueOptions {
                    key,
                    log,
                    pending,
                    external_labels: external_labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    metadata_source: self.metadata.clone(),
                    previous,
                },
            )?);
            started.push(queue.clone());
            next.push(queue);
        }
        for q in &old {
            if !next.iter().any(|n| Arc::ptr_eq(n, q)) {
                q.stop();
            }
        }
        for q in started {
            tokio::spawn(q.run());
        }
        *self.queues.write().unwrap_or_else(|e| e.into_inner()) = next;
        self.remove_unconfigured(&dirs, &old);
        Ok(())
    }

    /// Deletes the queue directories of destinations no longer configured, once their
    /// queues have ended.
    fn remove_unconfigured(&self, keep: &[String], old: &[Arc<Queue>]) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_queue_dir_name(&name) || keep.contains(&name) {
                continue;
            }
            let path = entry.path();
            let ending: Vec<_> = old
                .iter()
                .filter(|q| queue_dir_name_of(&q.name, &q.url) == name)
                .cloned()
                .collect();
            tokio::spawn(async move {
                for q in ending {
                    q.finished().await;
                }
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => {
                        tracing::info!(queue = %path.display(), "removed the queue of a remote_write destination no longer configured")
                    }
                    Err(e) => {
                        tracing::warn!(queue = %path.display(), error = %e, "removing the queue of a remote_write destination no longer configured")
                    }
                }
            });
        }
    }

    /// Each destination's figures.
    pub fn stats(&self) -> Vec<QueueStats> {
        self.queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|q| stats(q))
            .collect()
    }

    /// The figures of remote write as a whole.
    pub fn storage_stats(&self) -> StorageStats {
        let highest = self.highest.load(Ordering::Relaxed);
        StorageStats {
            highest_timestamp_seconds: if highest == i64::MIN {
                0.0
            } else {
                highest as f64 / 1000.0
            },
            samples_in: self.samples_in.load(Ordering::Relaxed),
            exemplars_in: self.exemplars_in.load(Ordering::Relaxed),
        }
    }

    /// Stops every queue: each shard finishes the request it is in; the rest stays in the
    /// queues' logs for the next start.
    pub fn stop(&self) {
        for q in self.queues.read().unwrap_or_else(|e| e.into_inner()).iter() {
            q.stop();
        }
    }

    /// Stops every queue and waits, up to `limit`, for their requests in flight to end, so
    /// that what they sent is recorded as sent.
    pub async fn shutdown(&self, limit: std::time::Duration) {
        self.stop();
        let queues = std::mem::take(&mut *self.queues.write().unwrap_or_else(|e| e.into_inner()));
        let all = async {
            for q in &queues {
                q.finished().await;
            }
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!(
                "remote write queues did not end in time; a request in flight may be sent again at the next start"
            );
        }
    }
}

fn stats(q: &Queue) -> QueueStats {
    let m = &q.metrics;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let gauge =
        |a: &std::sync::atomic::AtomicI64| u64::try_from(a.load(Ordering::Relaxed)).unwrap_or(0);
    let (buckets, sum) = *m.durations.lock().unwrap_or_else(|e| e.into_inner());
    let bounds: Vec<(f64, u64)> = queue::DURATION_BUCKETS
        .iter()
        .copied()
        .chain([f64::INFINITY])
        .zip(buckets)
        .collect();
    let count = buckets.iter().sum();
    let highest = m.highest_sent_ms.load(Ordering::Relaxed);
    QueueStats {
        name: q.name.clone(),
        url: q.url.clone(),
        sent: load(&m.samples),
        failed: load(&m.samples_failed),
        dropped: load(&m.samples_dropped),
        retried: load(&m.samples_retried),
        pending: gauge(&m.samples_pending),
        exemplars: load(&m.exemplars),
        exemplars_failed: load(&m.exemplars_failed),
        exemplars_retried: load(&m.exemplars_retried),
        exemplars_dropped: load(&m.exemplars_dropped),
        exemplars_pending: gauge(&m.exemplars_pending),
        metadata: load(&m.metadata),
        metadata_failed: load(&m.metadata_failed),
        metadata_retried: load(&m.metadata_retried),
        bytes: load(&m.bytes),
        metadata_bytes: load(&m.metadata_bytes),
        highest_sent_seconds: highest as f64 / 1000.0,
        shards: m.shards.load(Ordering::Relaxed) as u64,
        shards_desired: m.shards_desired.load(Ordering::Relaxed) as u64,
        shards_min: q.min_shards as u64,
        shards_max: q.max_shards as u64,
        shard_capacity: q.capacity as u64,
        max_samples_per_send: q.max_per_send as u64,
        queue_bytes: q.log.bytes(),
        batch_durations: (bounds, sum, count),
    }
}

/// `remote_name` as Prometheus gives it: the configuration's `name`, else a short hash (six
/// hex digits; Prometheus hashes its whole configuration, Skywatch the URL, so the name
/// stays when other settings change).
pub(crate) fn remote_name(config: &RemoteWriteConfig) -> String {
    if config.name.is_empty() {
        format!(
            "{:06x}",
            xxhash_rust::xxh64::xxh64(config.url.value.as_bytes(), 0) >> 40
        )
    } else {
        config.name.clone()
    }
}

/// The directory of a destination's queue: a hash of its `remote_name` and URL.
fn queue_dir_name(config: &RemoteWriteConfig) -> String {
    queue_dir_name_of(&remote_name(config), &config.url.value)
}

fn queue_dir_name_of(name: &str, url: &str) -> String {
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    h.update(name.as_bytes());
    h.update(&[0]);
    h.update(url.as_bytes());
    format!("{:016x}", h.digest())
}

fn is_queue_dir_name(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

impl<S: Appendable + ?Sized> Appendable for RemoteWrite<S> {
    fn appender(&self) -> Box<dyn Appender + '_> {
        let queues = self
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if queues.is_empty() {
            return self.inner.appender();
        }
        let exemplars = queues.iter().any(|q| q.sends_exemplars());
        Box::new(Tee {
            inner: self.inner.appender(),
            samples: Vec::new(),
            exemplars: exemplars.then(Vec::new),
            queues,
            owner: Counts {
                highest: &self.highest,
                samples_in: &self.samples_in,
                exemplars_in: &self.exemplars_in,
            },
        })
    }
}

impl<S: Queryable + ?Sized> Queryable for RemoteWrite<S> {
    fn querier(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
    ) -> Result<Box<dyn storage::Querier + '_>, StorageError> {
        self.inner.querier(mint, maxt)
    }

    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[&[model::Matcher]],
    ) -> Result<Vec<storage::ExemplarSeries>, StorageError> {
        self.inner.select_exemplars(start, end, matcher_sets)
    }
}

/// The storage-wide counters a transaction adds to when it commits.
struct Counts<'a> {
    highest: &'a std::sync::atomic::AtomicI64,
    samples_in: &'a std::sync::atomic::AtomicU64,
    exemplars_in: &'a std::sync::atomic::AtomicU64,
}

/// A transaction on the store that also keeps its samples (and exemplars, when a
/// destination sends them) for the queues.
struct Tee<'a> {
    inner: Box<dyn Appender + 'a>,
    samples: Vec<(Labels, Timestamp, f64)>,
    exemplars: Option<Vec<(Labels, storage::Exemplar)>>,
    queues: Vec<Arc<Queue>>,
    owner: Counts<'a>,
}

impl Appender for Tee<'_> {
    fn append(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let r = self.inner.append(series, labels, t, v)?;
        self.samples.push((labels.clone(), t, v));
        Ok(r)
    }

    fn append_with_start_time(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        t: Timestamp,
        st: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError> {
        let r = self
            .inner
            .append_with_start_time(series, labels, t, st, v)?;
        self.samples.push((labels.clone(), t, v));
        Ok(r)
    }

    fn append_exemplar(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        exemplar: storage::Exemplar,
    ) -> Result<(), storage::ExemplarError> {
        let kept = self.exemplars.as_ref().map(|_| exemplar.clone());
        self.inner.append_exemplar(series, labels, exemplar)?;
        if let (Some(list), Some(e)) = (self.exemplars.as_mut(), kept) {
            list.push((labels.clone(), e));
        }
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let Tee {
            inner,
            samples,
            exemplars,
            queues,
            owner,
        } = *self;
        inner.commit()?;
        let exemplars = exemplars.unwrap_or_default();
        if let Some(t) = samples.iter().map(|s| s.1).max() {
            owner.highest.fetch_max(t, Ordering::Relaxed);
        }
        owner
            .samples_in
            .fetch_add(samples.len() as u64, Ordering::Relaxed);
        owner
            .exemplars_in
            .fetch_add(exemplars.len() as u64, Ordering::Relaxed);
        for q in &queues {
            q.push(&samples, &exemplars);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) {
        self.inner.rollback();
    }
}

/// A batch as a snappy-compressed `WriteRequest`: one series per label set, samples in the
/// order they came.
pub fn encode(batch: &[(Labels, Timestamp, f64)]) -> Vec<u8> {
    let items: Vec<log::Item> = batch
        .iter()
        .map(|(series, t, v)| log::Item {
            series: series.clone(),
            t: *t,
            v: *v,
            exemplar: None,
        })
        .collect();
    queue::encode_v1(&items.iter().collect::<Vec<_>>(), &[])
}
