//! Remote write: every sample stored is also sent to the configuration's `remote_write`
//! endpoints (VictoriaMetrics, Mimir, Thanos Receive, another Prometheus...) with
//! Prometheus's remote write 1.0 protocol: snappy-compressed protobuf `WriteRequest`s.
//!
//! [`RemoteWrite`] wraps the store's [`Appendable`]: a transaction's samples go to the store
//! and, once it commits, to each destination's queue. Each queue adds the external labels,
//! applies `write_relabel_configs`, batches up to `max_samples_per_send` samples or
//! `batch_send_deadline`, and sends them in order, retrying with backoff
//! (`min_backoff` doubling to `max_backoff`) on 5xx, on 429 with `retry_on_http_429`, and on
//! network errors; any other refusal drops the batch, counted.
//!
//! Differences from Prometheus, on purpose and documented in `docs/compatibility.md`: the
//! queue is held in memory (`capacity * max_shards` samples; the oldest are dropped past
//! that, counted), where Prometheus re-reads its write-ahead log, so an outage longer than
//! the buffer loses samples; one connection sends in order (shards are not used); metadata
//! and exemplars are not sent.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use model::{Labels, Timestamp};
use scrape::config::RemoteWriteConfig;
use scrape::relabel::{RelabelConfig, relabel};
use storage::{AppendError, Appendable, Appender, Queryable, SeriesRef, StorageError};

pub mod backend;
pub mod read;

pub use backend::{BackendOptions, QueryBackend};
pub use prompb::{proto, receive, v2};
pub use read::RemoteRead;

/// A store whose committed samples are also sent to remote write destinations; queries
/// go to the store.
pub struct RemoteWrite<S: ?Sized> {
    inner: Arc<S>,
    queues: RwLock<Vec<Arc<Queue>>>,
}

impl<S: ?Sized> std::fmt::Debug for RemoteWrite<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWrite").finish_non_exhaustive()
    }
}

/// What a destination has done, for the server's own metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// The destination's name: `name`, or its URL.
    pub name: String,
    /// Samples the destination accepted.
    pub sent: u64,
    /// Samples it refused for good (4xx).
    pub failed: u64,
    /// Samples dropped from a full buffer.
    pub dropped: u64,
    /// Samples sent again after a recoverable failure.
    pub retried: u64,
    /// Samples waiting.
    pub pending: u64,
}

impl<S: ?Sized> RemoteWrite<S> {
    /// Wraps `inner`; nothing is sent until [`apply`](Self::apply) names destinations.
    pub fn new(inner: Arc<S>) -> Self {
        Self {
            inner,
            queues: RwLock::default(),
        }
    }

    /// Sends to `configs` from now on, with `external_labels` added to each series. A
    /// destination whose settings are unchanged keeps its queue; the others start afresh.
    /// Must be called within a Tokio runtime.
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
        for config in configs {
            let key = format!("{config:?}|{external_labels:?}");
            if let Some(q) = old.iter().find(|q| q.key == key) {
                next.push(q.clone());
                continue;
            }
            let queue = Arc::new(Queue::new(config, external_labels, key)?);
            tokio::spawn(queue.clone().run());
            next.push(queue);
        }
        for q in &old {
            if !next.iter().any(|n| Arc::ptr_eq(n, q)) {
                q.stop();
            }
        }
        *self.queues.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// Each destination's figures.
    pub fn stats(&self) -> Vec<QueueStats> {
        self.queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|q| q.stats())
            .collect()
    }

    /// Stops every queue.
    pub fn stop(&self) {
        for q in std::mem::take(&mut *self.queues.write().unwrap_or_else(|e| e.into_inner())) {
            q.stop();
        }
    }
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
        Box::new(Tee {
            inner: self.inner.appender(),
            samples: Vec::new(),
            queues,
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

/// A transaction on the store that also keeps its samples for the queues.
struct Tee<'a> {
    inner: Box<dyn Appender + 'a>,
    samples: Vec<(Labels, Timestamp, f64)>,
    queues: Vec<Arc<Queue>>,
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

    /// Exemplars go to the store only: remote write does not send them (`send_exemplars`).
    fn append_exemplar(
        &mut self,
        series: Option<SeriesRef>,
        labels: &Labels,
        exemplar: storage::Exemplar,
    ) -> Result<(), storage::ExemplarError> {
        self.inner.append_exemplar(series, labels, exemplar)
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        let Tee {
            inner,
            samples,
            queues,
        } = *self;
        inner.commit()?;
        for q in &queues {
            q.push(&samples);
        }
        Ok(())
    }

    fn rollback(self: Box<Self>) {
        self.inner.rollback();
    }
}

/// One destination: its buffer and the task that sends it.
struct Queue {
    key: String,
    name: String,
    url: String,
    client: reqwest::Client,
    auth: scrape::client::Auth,
    /// Signs each request for AWS, with `sigv4` (then `auth` is none: the configuration
    /// allows one of them).
    signer: Option<aws::Signer>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    external: Vec<(String, String)>,
    relabel: Vec<RelabelConfig>,
    max_per_send: usize,
    deadline: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    retry_on_429: bool,
    limit: usize,
    pending: Mutex<VecDeque<(Labels, Timestamp, f64)>>,
    wake: tokio::sync::Notify,
    stopped: tokio::sync::watch::Sender<bool>,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
}

impl Queue {
    fn new(
        config: &RemoteWriteConfig,
        external_labels: &BTreeMap<String, String>,
        key: String,
    ) -> Result<Self, String> {
        let q = &config.queue_config;
        let name = if config.name.is_empty() {
            config.url.value.clone()
        } else {
            config.name.clone()
        };
        Ok(Self {
            key,
            name,
            url: config.url.value.clone(),
            client: config.http.client()?,
            auth: config.http.auth()?,
            signer: config
                .sigv4
                .as_ref()
                .map(|s| {
                    let s = &s.value;
                    let settings = aws::Settings {
                        region: s.region.clone(),
                        endpoint: String::new(),
                        access_key: s.access_key.clone(),
                        secret_key: s.secret_key.clone(),
                        profile: s.profile.clone(),
                        role_arn: s.role_arn.clone(),
                    };
                    aws::Signer::new("aps", settings, &config.http, config.remote_timeout.std())
                })
                .transpose()?,
            headers: config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timeout: config.remote_timeout.std(),
            external: external_labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            relabel: config.write_relabel_configs.clone(),
            max_per_send: q.max_samples_per_send.max(1),
            deadline: q.batch_send_deadline.std(),
            min_backoff: q.min_backoff.std(),
            max_backoff: q.max_backoff.std().max(q.min_backoff.std()),
            retry_on_429: q.retry_on_http_429,
            limit: q.capacity.max(1).saturating_mul(q.max_shards.max(1)),
            pending: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            stopped: tokio::sync::watch::channel(false).0,
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        })
    }

    fn stats(&self) -> QueueStats {
        QueueStats {
            name: self.name.clone(),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            pending: self.lock().len() as u64,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Labels, Timestamp, f64)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop(&self) {
        let _ = self.stopped.send(true);
    }

    /// Adds a committed transaction's samples: external labels where the series lacks
    /// them, then write relabelling, as Prometheus orders them.
    fn push(&self, samples: &[(Labels, Timestamp, f64)]) {
        let mut kept = Vec::with_capacity(samples.len());
        for (labels, t, v) in samples {
            let labels = if self.external.is_empty() && self.relabel.is_empty() {
                labels.clone()
            } else {
                let mut b = labels.builder();
                for (name, value) in &self.external {
                    if labels.get(name).is_none() {
                        b.set(name, value);
                    }
                }
                if !relabel(&self.relabel, &mut b) {
                    continue;
                }
                b.build()
            };
            kept.push((labels, *t, *v));
        }
        if kept.is_empty() {
            return;
        }
        let mut pending = self.lock();
        pending.extend(kept);
        let over = pending.len().saturating_sub(self.limit);
        if over > 0 {
            pending.drain(..over);
            self.dropped.fetch_add(over as u64, Ordering::Relaxed);
        }
        let full = pending.len() >= self.max_per_send;
        drop(pending);
        if full {
            self.wake.notify_one();
        }
    }

    /// Sends batches until stopped.
    async fn run(self: Arc<Self>) {
        let mut stopped = self.stopped.subscribe();
        loop {
            if self.lock().len() < self.max_per_send {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.deadline) => {}
                    _ = stopped.changed() => return,
                }
            }
            if *stopped.borrow() {
                return;
            }
            let batch: Vec<_> = {
                let mut pending = self.lock();
                let n = pending.len().min(self.max_per_send);
                pending.drain(..n).collect()
            };
            if batch.is_empty() {
                continue;
            }
            let body = encode(&batch);
            let mut backoff = self.min_backoff;
            loop {
                match self.send(body.clone()).await {
                    Ok(()) => {
                        self.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        break;
                    }
                    Err(Failure::Retry(why)) => {
                        self.retried
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        tracing::warn!(queue = %self.name, error = %why, "remote write failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = stopped.changed() => return,
                        }
                        backoff = (backoff * 2).min(self.max_backoff);
                    }
                    Err(Failure::Drop(why)) => {
                        self.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        tracing::error!(queue = %self.name, error = %why, samples = batch.len(), "remote write refused a batch; dropping it");
                        break;
                    }
                }
            }
        }
    }

    async fn send(&self, body: Vec<u8>) -> Result<(), Failure> {
        let mut request = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = self.auth.apply(request).await.map_err(Failure::Retry)?;
        let mut request = request
            .body(body)
            .build()
            .map_err(|e| Failure::Drop(e.to_string()))?;
        // Signed last, over the headers and body as they are sent.
        if let Some(signer) = &self.signer {
            signer.sign(&mut request).await.map_err(Failure::Retry)?;
        }
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let why = format!("server returned HTTP status {status}: {}", text.trim());
        if status.is_server_error()
            || (status == reqwest::StatusCode::TOO_MANY_REQUESTS && self.retry_on_429)
        {
            Err(Failure::Retry(why))
        } else {
            Err(Failure::Drop(why))
        }
    }
}

enum Failure {
    Retry(String),
    Drop(String),
}

/// A batch as a snappy-compressed `WriteRequest`: one series per label set, samples in the
/// order they came.
pub fn encode(batch: &[(Labels, Timestamp, f64)]) -> Vec<u8> {
    use prost::Message as _;
    let mut by_series: BTreeMap<&Labels, Vec<proto::Sample>> = BTreeMap::new();
    for (labels, t, v) in batch {
        by_series.entry(labels).or_default().push(proto::Sample {
            value: *v,
            timestamp: *t,
        });
    }
    let request = proto::WriteRequest {
        timeseries: by_series
            .into_iter()
            .map(|(labels, samples)| proto::TimeSeries {
                labels: proto::labels(labels),
                samples,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_else(|_| Vec::new())
}
