//! One `remote_write` destination: its on-disk [`Log`], the shards that send it in
//! parallel, their number adjusted to keep up, retries with backoff, metadata sent every
//! `send_interval`, and the figures Prometheus reports for a queue.
//!
//! Samples go to a shard by a hash of their series, and each shard sends its batches in
//! order, one at a time, so each series' samples arrive in order. A shard that fails
//! retries the same batch (on 5xx, on 429 with `retry_on_http_429`, on network errors),
//! `min_backoff` doubling to `max_backoff`; its buffer fills and the reader waits, so an
//! outage holds the samples in the log on disk, not in memory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use model::Labels;
use scrape::config::RemoteWriteConfig;
use scrape::relabel::{RelabelConfig, relabel};
use tokio::sync::{mpsc, watch};

use crate::log::{Item, Log};
use crate::{Message, Metadata, MetadataSource, proto};

/// How often the number of shards is reconsidered, as in Prometheus.
const SHARD_UPDATE: Duration = Duration::from_secs(10);
/// The share of the backlog to catch up each second when choosing the shards.
const BACKLOG_CATCHUP: f64 = 0.05;
/// The shards are changed only when the number wanted is this far (as a fraction) from the
/// current one.
const SHARD_TOLERANCE: f64 = 0.3;
/// The weight of the newest interval in the smoothed rates.
const EWMA_WEIGHT: f64 = 0.2;
/// The upper bounds of `sent_batch_duration_seconds`, Prometheus's.
pub(crate) const DURATION_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0,
];

/// An item on its way to a shard: its record's sequence number and its series key.
type Queued = (u64, u64, Item);

/// The counters and gauges of one queue.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub samples: AtomicU64,
    pub samples_failed: AtomicU64,
    pub samples_retried: AtomicU64,
    pub samples_dropped: AtomicU64,
    pub samples_pending: AtomicI64,
    pub exemplars: AtomicU64,
    pub exemplars_failed: AtomicU64,
    pub exemplars_retried: AtomicU64,
    pub exemplars_dropped: AtomicU64,
    pub exemplars_pending: AtomicI64,
    pub metadata: AtomicU64,
    pub metadata_failed: AtomicU64,
    pub metadata_retried: AtomicU64,
    pub bytes: AtomicU64,
    pub metadata_bytes: AtomicU64,
    pub highest_sent_ms: AtomicI64,
    pub shards: AtomicUsize,
    pub shards_desired: AtomicUsize,
    /// Per bucket of [`DURATION_BUCKETS`] (not cumulative), then the sum in µs.
    pub durations: Mutex<([u64; DURATION_BUCKETS.len() + 1], f64)>,
}

impl Metrics {
    fn observe(&self, seconds: f64) {
        let mut d = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let i = DURATION_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        d.0[i] += 1;
        d.1 += seconds;
    }
}

/// How requests reach the destination.
struct Client {
    url: String,
    client: reqwest::Client,
    auth: scrape::client::Auth,
    /// Signs each request for AWS, with `sigv4` (then `auth` is none: the configuration
    /// allows one of them).
    signer: Option<aws::Signer>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    retry_on_429: bool,
    /// The message sent, which names the Content-Type and protocol version.
    message: Message,
}

/// One destination: its log, settings and the figures of its sending.
pub(crate) struct Queue {
    /// The settings it was made from, to keep it when they do not change.
    pub key: String,
    /// `remote_name`: the configuration's `name`, else a hash of its URL.
    pub name: String,
    pub url: String,
    client: Client,
    external: Vec<(String, String)>,
    relabel: Vec<RelabelConfig>,
    send_exemplars: bool,
    message: Message,
    pub min_shards: usize,
    pub max_shards: usize,
    pub capacity: usize,
    pub max_per_send: usize,
    deadline: Duration,
    min_backoff: Duration,
    max_backoff: Duration,
    metadata: scrape::config::MetadataConfig,
    metadata_source: Arc<RwLock<Option<MetadataSource>>>,
    pub log: Arc<Log>,
    wake: tokio::sync::Notify,
    stopped: watch::Sender<bool>,
    /// Set once every task of the queue has ended.
    done: watch::Sender<bool>,
    /// A stopped queue on the same log whose tasks must end before this one reads it.
    previous: Mutex<Option<Arc<Queue>>>,
    pub metrics: Metrics,
    /// When a send last failed: shards are not changed while sending fails.
    last_failure: Mutex<Option<Instant>>,
    /// Items written to the log, for the rate the shards must keep up with.
    items_in: AtomicU64,
    /// When a full log was last reported, so that an outage logs once a minute.
    full_logged: Mutex<Option<Instant>>,
}

/// What [`Queue::new`] needs besides the configuration.
pub(crate) struct QueueOptions {
    pub key: String,
    pub log: Arc<Log>,
    pub pending: u64,
    pub external_labels: Vec<(String, String)>,
    pub metadata_source: Arc<RwLock<Option<MetadataSource>>>,
    pub previous: Option<Arc<Queue>>,
}

impl Queue {
    pub(crate) fn new(config: &RemoteWriteConfig, o: QueueOptions) -> Result<Self, String> {
        let q = &config.queue_config;
        let message = match config.protobuf_message {
            scrape::config::ProtobufMessage::V1 => Message::V1,
            scrape::config::ProtobufMessage::V2 => Message::V2,
        };
        let metrics = Metrics::default();
        metrics.samples_pending.store(
            i64::try_from(o.pending).unwrap_or(i64::MAX),
            Ordering::Relaxed,
        );
        metrics.shards.store(q.min_shards.max(1), Ordering::Relaxed);
        metrics
            .shards_desired
            .store(q.min_shards.max(1), Ordering::Relaxed);
        Ok(Self {
            key: o.key,
            name: crate::remote_name(config),
            url: config.url.value.clone(),
            client: Client {
                message,
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
                retry_on_429: q.retry_on_http_429,
            },
            external: o.external_labels,
            relabel: config.write_relabel_configs.clone(),
            send_exemplars: config.send_exemplars,
            message,
            min_shards: q.min_shards.max(1),
            max_shards: q.max_shards.max(q.min_shards).max(1),
            capacity: q.capacity.max(1),
            max_per_send: q.max_samples_per_send.max(1),
            deadline: q.batch_send_deadline.std(),
            min_backoff: q.min_backoff.std(),
            max_backoff: q.max_backoff.std().max(q.min_backoff.std()),
            metadata: config.metadata_config.clone(),
            metadata_source: o.metadata_source,
            log: o.log,
            wake: tokio::sync::Notify::new(),
            stopped: watch::channel(false).0,
            done: watch::channel(false).0,
            previous: Mutex::new(o.previous),
            metrics,
            last_failure: Mutex::new(None),
            items_in: AtomicU64::new(0),
            full_logged: Mutex::new(None),
        })
    }

    /// Asks every task of the queue to end: shards finish the request they are in and
    /// send nothing more; what is unsent stays in the log.
    pub(crate) fn stop(&self) {
        self.stopped.send_replace(true);
    }

    /// Waits until every task of the queue has ended.
    pub(crate) async fn finished(&self) {
        let mut done = self.done.subscribe();
        let _ = done.wait_for(|d| *d).await;
    }

    /// Whether exemplars are sent.
    pub(crate) fn sends_exemplars(&self) -> bool {
        self.send_exemplars
    }

    /// Adds a committed transaction's samples and exemplars to the log: external labels
    /// where the series lacks them, then write relabelling, as Prometheus orders them.
    pub(crate) fn push(
        &self,
        samples: &[(Labels, i64, f64)],
        exemplars: &[(Labels, storage::Exemplar)],
    ) {
        let mut items = Vec::with_capacity(samples.len() + exemplars.len());
        for (labels, t, v) in samples {
            if let Some(series) = self.final_labels(labels) {
                items.push(Item {
                    series,
                    t: *t,
                    v: *v,
                    exemplar: None,
                });
            }
        }
        if self.send_exemplars {
            for (labels, e) in exemplars {
                if let Some(series) = self.final_labels(labels) {
                    items.push(Item {
                        series,
                        t: e.t,
                        v: e.value,
                        exemplar: Some(e.labels.clone()),
                    });
                }
            }
        }
        if items.is_empty() {
            return;
        }
        let n_exemplars = items.iter().filter(|i| i.exemplar.is_some()).count() as u64;
        let n_samples = items.len() as u64 - n_exemplars;
        match self.log.append(&items) {
            Ok(true) => {
                self.metrics
                    .samples_pending
                    .fetch_add(n_samples as i64, Ordering::Relaxed);
                self.metrics
                    .exemplars_pending
                    .fetch_add(n_exemplars as i64, Ordering::Relaxed);
                self.items_in
                    .fetch_add(items.len() as u64, Ordering::Relaxed);
                self.wake.notify_one();
            }
            Ok(false) => {
                self.count_dropped(n_samples, n_exemplars);
                self.log_full(None);
            }
            Err(e) => {
                self.count_dropped(n_samples, n_exemplars);
                self.log_full(Some(e.to_string()));
            }
        }
    }

    fn count_dropped(&self, samples: u64, exemplars: u64) {
        self.metrics
            .samples_dropped
            .fetch_add(samples, Ordering::Relaxed);
        self.metrics
            .exemplars_dropped
            .fetch_add(exemplars, Ordering::Relaxed);
    }

    /// Logs, at most once a minute, that samples are being dropped.
    fn log_full(&self, error: Option<String>) {
        let mut last = self.full_logged.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(60)) {
            return;
        }
        *last = Some(Instant::now());
        match error {
            None => tracing::error!(
                queue = %self.name,
                bytes = self.log.bytes(),
                "the remote write queue on disk is full; new samples are dropped (counted in prometheus_remote_storage_samples_dropped_total) until the destination takes the backlog"
            ),
            Some(e) => tracing::error!(
                queue = %self.name,
                error = %e,
                "the remote write queue could not be written; these samples are dropped (counted in prometheus_remote_storage_samples_dropped_total)"
            ),
        }
    }

    /// A series' labels as sent, or `None` when write relabelling drops it.
    fn final_labels(&self, labels: &Labels) -> Option<Labels> {
        if self.external.is_empty() && self.relabel.is_empty() {
            return Some(labels.clone());
        }
        let mut b = labels.builder();
        for (name, value) in &self.external {
            if labels.get(name).is_none() {
                b.set(name, value);
            }
        }
        relabel(&self.relabel, &mut b).then(|| b.build())
    }

    /// Reads the log and hands its items to the shards until stopped; changes the number
    /// of shards as the rates ask.
    pub(crate) async fn run(self: Arc<Self>) {
        let previous = self
            .previous
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(p) = previous {
            // The stopped queue's shards may hold items read and not sent: read again from
            // the position, once they have all ended and acknowledged what they sent.
            p.finished().await;
            self.log.rewind();
        }
        let metadata = tokio::spawn(self.clone().send_metadata());
        self.dispatch().await;
        let _ = metadata.await;
        self.done.send_replace(true);
    }

    async fn dispatch(self: &Arc<Self>) {
        let mut stopped = self.stopped.subscribe();
        let mut n = self.min_shards;
        let (mut senders, mut shards) = self.start_shards(n);
        let mut rates = Rates::default();
        let mut next_update = Instant::now() + SHARD_UPDATE;
        'read: loop {
            if *stopped.borrow() {
                break;
            }
            if Instant::now() >= next_update {
                next_update = Instant::now() + SHARD_UPDATE;
                let desired = self.desired_shards(&mut rates, n);
                if desired != n {
                    tracing::info!(queue = %self.name, from = n, to = desired, "remote write resharding");
                    // The old shards send what they hold before the new ones start, so
                    // that each series stays in order.
                    senders.clear();
                    for s in std::mem::take(&mut shards) {
                        tokio::select! {
                            _ = s => {}
                            _ = stopped.changed() => break 'read,
                        }
                    }
                    n = desired;
                    (senders, shards) = self.start_shards(n);
                }
            }
            let log = self.log.clone();
            let reads = match tokio::task::spawn_blocking(move || log.read()).await {
                Ok(Ok(reads)) => reads,
                Ok(Err(e)) => {
                    tracing::error!(queue = %self.name, error = %e, "reading the remote write queue");
                    Vec::new()
                }
                Err(e) => {
                    tracing::error!(queue = %self.name, error = %e, "reading the remote write queue panicked");
                    Vec::new()
                }
            };
            if reads.is_empty() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopped.changed() => break,
                }
                continue;
            }
            for read in reads {
                for item in read.items {
                    let key = item.key();
                    let shard = (key % n as u64) as usize;
                    tokio::select! {
                        r = senders[shard].send((read.seq, key, item)) => {
                            if r.is_err() {
                                break 'read;
                            }
                        }
                        _ = stopped.changed() => break 'read,
                    }
                }
            }
        }
        drop(senders);
        for s in shards {
            let _ = s.await;
        }
    }

    fn start_shards(
        self: &Arc<Self>,
        n: usize,
    ) -> (Vec<mpsc::Sender<Queued>>, Vec<tokio::task::JoinHandle<()>>) {
        self.metrics.shards.store(n, Ordering::Relaxed);
        (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::channel(self.capacity);
                (tx, tokio::spawn(self.clone().shard(rx)))
            })
            .unzip()
    }

    /// The shards wanted for the rates seen, as Prometheus reckons them: the time one
    /// sample takes to send, times the samples coming in plus a share of the backlog.
    /// Unchanged while sends fail, or when within [`SHARD_TOLERANCE`] of `current`.
    fn desired_shards(&self, rates: &mut Rates, current: usize) -> usize {
        let seconds = SHARD_UPDATE.as_secs_f64();
        let items_in = self.items_in.load(Ordering::Relaxed);
        let items_out = self.metrics.samples.load(Ordering::Relaxed)
            + self.metrics.exemplars.load(Ordering::Relaxed)
            + self.metrics.samples_failed.load(Ordering::Relaxed)
            + self.metrics.exemplars_failed.load(Ordering::Relaxed);
        let busy = {
            let d = self
                .metrics
                .durations
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            d.1
        };
        rates.update(
            (items_in - rates.last_in) as f64 / seconds,
            (items_out - rates.last_out) as f64 / seconds,
            (busy - rates.last_busy) / seconds,
        );
        rates.last_in = items_in;
        rates.last_out = items_out;
        rates.last_busy = busy;
        let failing = self
            .last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < SHARD_UPDATE);
        if failing || rates.out <= 0.0 {
            self.metrics
                .shards_desired
                .store(current, Ordering::Relaxed);
            return current;
        }
        let backlog = (self.metrics.samples_pending.load(Ordering::Relaxed)
            + self.metrics.exemplars_pending.load(Ordering::Relaxed))
        .max(0) as f64;
        let per_item = rates.busy / rates.out;
        let wanted = per_item * (rates.incoming + BACKLOG_CATCHUP * backlog);
        let desired = (wanted.ceil() as usize).clamp(self.min_shards, self.max_shards);
        self.metrics
            .shards_desired
            .store(desired, Ordering::Relaxed);
        let low = current as f64 * (1.0 - SHARD_TOLERANCE);
        let high = current as f64 * (1.0 + SHARD_TOLERANCE);
        if (low..=high).contains(&wanted) && (self.min_shards..=self.max_shards).contains(&current)
        {
            current
        } else {
            desired
        }
    }

    /// Collects batches (up to `max_samples_per_send`, or what came within
    /// `batch_send_deadline`) and sends them one after the other until the channel closes
    /// or the queue stops.
    async fn shard(self: Arc<Self>, mut rx: mpsc::Receiver<Queued>) {
        let mut stopped = self.stopped.subscribe();
        let mut batch = Vec::with_capacity(self.max_per_send);
        loop {
            if *stopped.borrow() {
                return;
            }
            let first = tokio::select! {
                m = rx.recv() => m,
                _ = stopped.changed() => return,
            };
            let Some(first) = first else { return };
            batch.push(first);
            let deadline = tokio::time::Instant::now() + self.deadline;
            while batch.len() < self.max_per_send {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => batch.push(m),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = stopped.changed() => return,
                }
            }
            if !self.send_batch(&batch, &mut stopped).await {
                return;
            }
            batch.clear();
        }
    }

    /// Sends one batch, retrying while the failure is recoverable. Returns false if the
    /// queue stopped before the batch was sent.
    async fn send_batch(&self, batch: &[Queued], stopped: &mut watch::Receiver<bool>) -> bool {
        let items: Vec<&Item> = batch.iter().map(|(_, _, i)| i).collect();
        let body = match self.message {
            Message::V1 => encode_v1(&items, &[]),
            Message::V2 => encode_v2(&items, &self.metadata_by_family()),
        };
        let exemplars = items.iter().filter(|i| i.exemplar.is_some()).count() as u64;
        let samples = items.len() as u64 - exemplars;
        let m = &self.metrics;
        let mut backoff = self.min_backoff;
        loop {
            m.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            let began = Instant::now();
            let result = self.client.send(body.clone()).await;
            m.observe(began.elapsed().as_secs_f64());
            match result {
                Ok(()) => {
                    m.samples.fetch_add(samples, Ordering::Relaxed);
                    m.exemplars.fetch_add(exemplars, Ordering::Relaxed);
                    if let Some(t) = items
                        .iter()
                        .filter(|i| i.exemplar.is_none())
                        .map(|i| i.t)
                        .max()
                    {
                        m.highest_sent_ms.fetch_max(t, Ordering::Relaxed);
                    }
                    self.acknowledge(batch, samples, exemplars);
                    return true;
                }
                Err(Failure::Retry(why)) => {
                    m.samples_retried.fetch_add(samples, Ordering::Relaxed);
                    m.exemplars_retried.fetch_add(exemplars, Ordering::Relaxed);
                    *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Instant::now());
                    tracing::warn!(queue = %self.name, error = %why, retry_in = ?backoff, "remote write failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped.changed() => return false,
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
                Err(Failure::Drop(why)) => {
                    m.samples_failed.fetch_add(samples, Ordering::Relaxed);
                    m.exemplars_failed.fetch_add(exemplars, Ordering::Relaxed);
                    tracing::error!(queue = %self.name, error = %why, samples, exemplars, "remote write refused a batch; dropping it");
                    self.acknowledge(batch, samples, exemplars);
                    return true;
                }
            }
        }
    }

    /// Marks a batch done in the log (sent, or refused for good).
    fn acknowledge(&self, batch: &[Queued], samples: u64, exemplars: u64) {
        let m = &self.metrics;
        m.samples_pending
            .fetch_sub(samples as i64, Ordering::Relaxed);
        m.exemplars_pending
            .fetch_sub(exemplars as i64, Ordering::Relaxed);
        let done: Vec<_> = batch
            .iter()
            .map(|(seq, key, i)| (*seq, *key, i.t))
            .collect();
        if let Err(e) = self.log.ack(&done) {
            tracing::error!(queue = %self.name, error = %e, "the remote write queue's position was not written; a restart sends these samples again");
        }
    }

    /// Sends the targets' metric metadata every `send_interval`, while `send` is on.
    async fn send_metadata(self: Arc<Self>) {
        // 2.0 carries each series' metadata beside its samples.
        if !self.metadata.send
            || self.metadata.send_interval.std().is_zero()
            || self.client.message == Message::V2
        {
            return;
        }
        let mut stopped = self.stopped.subscribe();
        let mut tick = tokio::time::interval(self.metadata.send_interval.std());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => return,
            }
            let source = self
                .metadata_source
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let Some(source) = source else { continue };
            let all = source();
            for chunk in all.chunks(self.metadata.max_samples_per_send.max(1)) {
                if !self.send_metadata_chunk(chunk, &mut stopped).await {
                    return;
                }
            }
        }
    }

    /// The targets' metadata by family, for 2.0's series; none unless `metadata_config`
    /// sends metadata.
    fn metadata_by_family(&self) -> BTreeMap<String, Metadata> {
        if !self.metadata.send {
            return BTreeMap::new();
        }
        let source = self
            .metadata_source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        source
            .map(|source| {
                source()
                    .into_iter()
                    .map(|m| (m.family.clone(), m))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn send_metadata_chunk(
        &self,
        chunk: &[Metadata],
        stopped: &mut watch::Receiver<bool>,
    ) -> bool {
        let body = encode_v1(&[], chunk);
        let n = chunk.len() as u64;
        let m = &self.metrics;
        let mut backoff = self.min_backoff;
        loop {
            m.metadata_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            match self.client.send(body.clone()).await {
                Ok(()) => {
                    m.metadata.fetch_add(n, Ordering::Relaxed);
                    return true;
                }
                Err(Failure::Retry(why)) => {
                    m.metadata_retried.fetch_add(n, Ordering::Relaxed);
                    tracing::warn!(queue = %self.name, error = %why, "sending metadata failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped.changed() => return false,
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
                Err(Failure::Drop(why)) => {
                    m.metadata_failed.fetch_add(n, Ordering::Relaxed);
                    tracing::error!(queue = %self.name, error = %why, "remote write refused metadata; dropping it");
                    return true;
                }
            }
        }
    }
}

/// The smoothed rates the number of shards is chosen from.
#[derive(Debug, Default)]
struct Rates {
    /// Items written to the log per second.
    incoming: f64,
    /// Items sent (or refused) per second.
    out: f64,
    /// Seconds spent sending, per second.
    busy: f64,
    last_in: u64,
    last_out: u64,
    last_busy: f64,
    primed: bool,
}

impl Rates {
    fn update(&mut self, incoming: f64, out: f64, busy: f64) {
        if !self.primed {
            (self.incoming, self.out, self.busy, self.primed) = (incoming, out, busy, true);
            return;
        }
        let mix = |old: f64, new: f64| old + EWMA_WEIGHT * (new - old);
        self.incoming = mix(self.incoming, incoming);
        self.out = mix(self.out, out);
        self.busy = mix(self.busy, busy);
    }
}

/// Why a request failed, and whether sending it again may help.
enum Failure {
    Retry(String),
    Drop(String),
}

impl Client {
    async fn send(&self, body: Vec<u8>) -> Result<(), Failure> {
        let mut request = self
            .client
            .post(&self.url)
            .timeout(self.timeout)
            .header("Content-Encoding", "snappy")
            .header(
                "User-Agent",
                concat!("Skywatch/", env!("CARGO_PKG_VERSION")),
            );
        request = match self.message {
            Message::V1 => request
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0"),
            Message::V2 => request
                .header(
                    "Content-Type",
                    "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                )
                .header("X-Prometheus-Remote-Write-Version", "2.0.0"),
        };
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

/// A remote write 1.0 request, snappy-compressed: one series per label set with its
/// samples and exemplars in the order they came, then the metadata.
pub(crate) fn encode_v1(items: &[&Item], metadata: &[Metadata]) -> Vec<u8> {
    use prost::Message as _;
    let mut by_series: BTreeMap<&Labels, proto::TimeSeries> = BTreeMap::new();
    for item in items {
        let series = by_series.entry(&item.series).or_default();
        match &item.exemplar {
            None => series.samples.push(proto::Sample {
                value: item.v,
                timestamp: item.t,
            }),
            Some(labels) => series.exemplars.push(proto::Exemplar {
                labels: proto::labels(labels),
                value: item.v,
                timestamp: item.t,
            }),
        }
    }
    let request = proto::WriteRequest {
        timeseries: by_series
            .into_iter()
            .map(|(labels, mut series)| {
                series.labels = proto::labels(labels);
                series
            })
            .collect(),
        metadata: metadata
            .iter()
            .map(|m| proto::MetricMetadata {
                r#type: prompb::v2::metric_type_number(&m.kind),
                metric_family_name: m.family.clone(),
                help: m.help.clone(),
                unit: m.unit.clone(),
            })
            .collect(),
    };
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_else(|_| Vec::new())
}

/// A remote write 2.0 request, snappy-compressed: one series per label set with its
/// samples and exemplars in the order they came, and its family's metadata when
/// `metadata_config` sends metadata and the targets described the family.
pub(crate) fn encode_v2(items: &[&Item], metadata: &BTreeMap<String, Metadata>) -> Vec<u8> {
    use prost::Message as _;
    let mut by_series: BTreeMap<&Labels, prompb::v2::Series> = BTreeMap::new();
    for item in items {
        let series = by_series.entry(&item.series).or_default();
        match &item.exemplar {
            None => series.samples.push((item.t, item.v)),
            Some(labels) => series.exemplars.push((labels.clone(), item.v, item.t)),
        }
    }
    let series: Vec<prompb::v2::Series> = by_series
        .into_iter()
        .map(|(labels, mut series)| {
            if let Some(m) = labels
                .get(model::METRIC_NAME)
                .and_then(|name| family_of(name, metadata))
            {
                series.kind.clone_from(&m.kind);
                series.help.clone_from(&m.help);
                series.unit.clone_from(&m.unit);
            }
            series.labels = labels.clone();
            series
        })
        .collect();
    let raw = prompb::v2::encode_v2(&series).encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_else(|_| Vec::new())
}

/// The metadata of the family a series named `name` belongs to: the name itself, else the
/// name less the suffix a counter, histogram or summary adds.
fn family_of<'a>(name: &str, metadata: &'a BTreeMap<String, Metadata>) -> Option<&'a Metadata> {
    metadata.get(name).or_else(|| {
        ["_total", "_bucket", "_count", "_sum", "_created", "_info"]
            .iter()
            .filter_map(|suffix| name.strip_suffix(suffix))
            .find_map(|family| metadata.get(family))
    })
}
