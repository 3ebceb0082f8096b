//! One target's scrape loop: fetch, parse, relabel, append, and write the synthetic series.
//!
//! Scrapes run at a fixed interval from an offset that spreads targets over it (a hash of
//! the target, as Prometheus does), so they do not drift. Each scrape's samples are
//! appended in one transaction, timestamped with the scrape's start unless the target gives
//! timestamps and the job honours them. A scrape that fails (connection, HTTP status,
//! parse error, limit) appends nothing but marks the previous scrape's series stale, as
//! does a series that disappears between scrapes and every series when the target goes
//! away. Then `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added` are written.
//!
//! Exemplars are read from OpenMetrics answers only, as Prometheus reads them, and appended
//! right after their sample on the same relabelled series; one without a timestamp takes
//! its sample's. A refused exemplar never fails a scrape.
//!
//! Parsing and appending are synchronous and run on a blocking thread. Each target keeps a
//! cache from a series' text to its final labels and storage ref, so a steady target's
//! labels are built and relabelled once, not at every scrape.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hashbrown::HashTable;
use model::{Labels, LabelsBuilder, STALE_NAN, Timestamp};
use storage::{AppendError, Appendable, SeriesRef};
use textparse::{Entry, Format};

use crate::relabel::{RelabelConfig, relabel};
use crate::target::Target;

/// How a job's scrapes treat what they read.
#[derive(Debug, Clone, Default)]
pub struct ScrapeOptions {
    /// Keep scraped labels that clash with target labels.
    pub honor_labels: bool,
    /// Use the target's timestamps.
    pub honor_timestamps: bool,
    /// Fail a scrape with more samples than this after relabelling (0: none).
    pub sample_limit: usize,
    /// Fail a scrape with a series of more labels than this (0: none).
    pub label_limit: usize,
    /// Fail a scrape with a longer label name (0: none).
    pub label_name_length_limit: usize,
    /// Fail a scrape with a longer label value (0: none).
    pub label_value_length_limit: usize,
    /// Fail a scrape with a larger uncompressed body, in bytes (0: none).
    pub body_size_limit: u64,
    /// Relabelling of scraped series.
    pub metric_relabel: Vec<RelabelConfig>,
    /// How the scrape authenticates.
    pub auth: crate::client::Auth,
}

/// The health of a target, as `/api/v1/targets` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Not scraped yet.
    Unknown,
    /// The last scrape worked.
    Up,
    /// The last scrape failed.
    Down,
}

impl Health {
    /// As Prometheus writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What the last scrape of a target did.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeStatus {
    /// Up, down or not scraped yet.
    pub health: Health,
    /// Why the last scrape failed; empty if it did not.
    pub last_error: String,
    /// When it started, in ms (0 if never).
    pub last_scrape: Timestamp,
    /// How long it took, in seconds.
    pub last_duration: f64,
    /// Samples it read.
    pub samples: usize,
    /// What the target's HELP, TYPE and UNIT lines have said, by family name, as of its
    /// last successful scrape (kept through failed ones, as Prometheus keeps a target's
    /// metadata cache). Shared, so that reading a status does not copy it.
    pub metadata: Arc<BTreeMap<String, MetricMetadata>>,
}

impl Default for ScrapeStatus {
    fn default() -> Self {
        Self {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape: 0,
            last_duration: 0.0,
            samples: 0,
            metadata: Arc::default(),
        }
    }
}

/// A series a target has exposed: its labels once built (`None` if metric relabelling
/// drops it), its storage ref, and in which scrapes it was last seen.
#[derive(Debug, Clone)]
struct Cached {
    labels: Option<Labels>,
    series: Option<SeriesRef>,
    /// Where its text starts in [`SeriesCache::texts`], and its length.
    text: (u32, u32),
    /// The attempt that last read it, to skip a repeat within one scrape.
    read_in: u64,
    /// The successful scrape that last appended it.
    appended_in: u64,
}

/// The series a target has exposed, found by their text as the target writes it: one
/// lookup per sample. The texts sit end to end in one buffer and the index holds positions
/// in `series`, so a cached series costs its text and a few words rather than an
/// allocation and a map entry of its own (with the head's chunk growth, 17 MiB less peak
/// RSS in scripts/bench-scrape than a map keyed by boxed strings).
#[derive(Debug, Default)]
struct SeriesCache {
    texts: String,
    series: Vec<Cached>,
    index: HashTable<u32>,
    hasher: RandomState,
}

/// The text of `cached` in `texts`.
fn text_in<'a>(texts: &'a str, cached: &Cached) -> &'a str {
    let (start, len) = cached.text;
    &texts[start as usize..][..len as usize]
}

impl SeriesCache {
    fn text(&self, i: usize) -> &str {
        text_in(&self.texts, &self.series[i])
    }

    fn find(&self, text: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(text);
        self.index
            .find(hash, |&i| self.text(i as usize) == text)
            .map(|&i| i as usize)
    }

    /// Adds a series not in the cache and returns its position.
    fn insert(&mut self, text: &str, labels: Option<Labels>) -> Result<usize, String> {
        self.push(
            text,
            Cached {
                labels,
                series: None,
                text: (0, 0),
                read_in: 0,
                appended_in: 0,
            },
        )
    }

    /// Adds `cached` under `text` (its `text` span is set here) and returns its position.
    fn push(&mut self, text: &str, mut cached: Cached) -> Result<usize, String> {
        let fits = |n: usize| u32::try_from(n).ok();
        let (Some(start), Some(len), Some(i), Some(_)) = (
            fits(self.texts.len()),
            fits(text.len()),
            fits(self.series.len()),
            fits(self.texts.len() + text.len()),
        ) else {
            return Err("the target exposes more than 4 GiB of series text".into());
        };
        self.texts.push_str(text);
        cached.text = (start, len);
        self.series.push(cached);
        let Self {
            texts,
            series,
            index,
            hasher,
        } = self;
        index.insert_unique(hasher.hash_one(text), i, |&j| {
            hasher.hash_one(text_in(texts, &series[j as usize]))
        });
        Ok(i as usize)
    }

    /// Keeps the series `keep` accepts and returns the new position of each old one.
    fn retain(&mut self, keep: impl Fn(&Cached) -> bool) -> Vec<Option<usize>> {
        let mut remap = vec![None; self.series.len()];
        let mut kept = Self {
            hasher: self.hasher.clone(),
            ..Self::default()
        };
        for (i, cached) in self.series.iter().enumerate() {
            if keep(cached) {
                // Fits: the kept texts are fewer than the ones already held.
                let j = kept
                    .push(self.text(i), cached.clone())
                    .unwrap_or_else(|e| unreachable!("{e}"));
                remap[i] = Some(j);
            }
        }
        kept.texts.shrink_to_fit();
        *self = kept;
        remap
    }

    fn len(&self) -> usize {
        self.series.len()
    }
}

/// What a loop remembers between scrapes.
#[derive(Debug, Default)]
pub(crate) struct LoopState {
    cache: SeriesCache,
    /// Scrape attempts so far.
    attempts: u64,
    /// The series the last successful scrape appended.
    previous: Vec<usize>,
    /// The metric families' metadata, from HELP, TYPE and UNIT lines.
    pub(crate) metadata: BTreeMap<String, MetricMetadata>,
    /// What the last scrape read, up to where it failed if it did: its synthetic series
    /// report it either way, as Prometheus's do (a scrape over its `sample_limit` reports
    /// how many samples it had).
    read: Report,
}

/// The words Prometheus 2.42 fails a scrape with for each limit, which `/targets` shows
/// as the last error; Skywatch's errors begin with them.
pub(crate) mod limit_errors {
    /// `sample_limit` (Prometheus's `errSampleLimit`).
    pub(crate) const SAMPLE_LIMIT: &str = "sample limit exceeded";
    /// `body_size_limit` (Prometheus's `errBodySizeLimit`).
    pub(crate) const BODY_SIZE_LIMIT: &str = "body size limit exceeded";
    /// `label_limit`, `label_name_length_limit` and `label_value_length_limit` (the three
    /// begin with their key).
    pub(crate) const LABEL_LIMITS: [&str; 3] = [
        "label_limit exceeded",
        "label_name_length_limit exceeded",
        "label_value_length_limit exceeded",
    ];
}

/// How many scrapes each limit failed, as Prometheus counts them
/// (`prometheus_target_scrapes_exceeded_sample_limit_total`, ...).
#[derive(Debug, Default)]
pub(crate) struct LimitCounts {
    sample_limit: std::sync::atomic::AtomicU64,
    body_size_limit: std::sync::atomic::AtomicU64,
    label_limits: std::sync::atomic::AtomicU64,
}

/// How many scrapes each per-job limit failed since the start, by Prometheus's metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeLimitCounts {
    /// `prometheus_target_scrapes_exceeded_sample_limit_total`.
    pub sample_limit: u64,
    /// `prometheus_target_scrapes_exceeded_body_size_limit_total`.
    pub body_size_limit: u64,
    /// `prometheus_target_scrape_pool_exceeded_label_limits_total`.
    pub label_limits: u64,
    /// `prometheus_target_scrape_pool_exceeded_target_limit_total`: reconciles that found
    /// a job with more targets than its `target_limit`.
    pub target_limit: u64,
}

impl LimitCounts {
    /// Counts a failed scrape under the limit its error names, if any.
    fn count(&self, error: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let counter = if error.starts_with(limit_errors::SAMPLE_LIMIT) {
            &self.sample_limit
        } else if error.starts_with(limit_errors::BODY_SIZE_LIMIT) {
            &self.body_size_limit
        } else if limit_errors::LABEL_LIMITS
            .iter()
            .any(|l| error.starts_with(l))
        {
            &self.label_limits
        } else {
            return;
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The counts now, with `target_limit` as given.
    pub(crate) fn snapshot(&self, target_limit: u64) -> ScrapeLimitCounts {
        use std::sync::atomic::Ordering::Relaxed;
        ScrapeLimitCounts {
            sample_limit: self.sample_limit.load(Relaxed),
            body_size_limit: self.body_size_limit.load(Relaxed),
            label_limits: self.label_limits.load(Relaxed),
            target_limit,
        }
    }
}

/// What a target says about a metric family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, `summary`, ... as the TYPE line says.
    pub kind: String,
    /// The HELP text.
    pub help: String,
    /// The UNIT (OpenMetrics).
    pub unit: String,
}

/// What one scrape read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Report {
    /// Sample lines read.
    pub scraped: usize,
    /// Samples left after metric relabelling.
    pub post_relabel: usize,
    /// Series not seen before.
    pub added: usize,
}

/// Milliseconds since the epoch now.
pub(crate) fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Appends one scrape's body: every sample, and stale markers for the previous scrape's
/// series that are gone. Nothing is appended if it fails; what it read before it failed
/// stays in `state.read` for the scrape's report.
pub(crate) fn ingest(
    state: &mut LoopState,
    body: &str,
    format: Format,
    t: Timestamp,
    target: &Labels,
    options: &ScrapeOptions,
    store: &dyn Appendable,
) -> Result<Report, String> {
    state.read = Report::default();
    state.attempts += 1;
    let this = state.attempts;
    // Parse and resolve first: a scrape that fails appends nothing.
    let mut samples: Vec<(usize, f64, Timestamp)> = Vec::with_capacity(state.previous.len());
    // The exemplars read (OpenMetrics only), by their sample's place in `samples`.
    let mut exemplars: Vec<(usize, storage::Exemplar)> = Vec::new();
    // Distinct cached series read in this scrape, dropped ones included.
    let mut read = 0;
    for entry in textparse::Parser::new(body, format) {
        let s = match entry.map_err(|e| e.to_string())? {
            Entry::Sample(s) => s,
            Entry::Help { name, help } => {
                state.metadata.entry(name.to_owned()).or_default().help = help.into_owned();
                continue;
            }
            Entry::Type { name, kind } => {
                state.metadata.entry(name.to_owned()).or_default().kind = type_name(kind).into();
                continue;
            }
            Entry::Unit { name, unit } => {
                state.metadata.entry(name.to_owned()).or_default().unit = unit.to_owned();
                continue;
            }
        };
        state.read.scraped += 1;
        let i = match state.cache.find(s.series) {
            Some(i) => i,
            None => {
                let labels = series_labels(&s, target, options)?;
                if labels.is_some() {
                    state.read.added += 1;
                }
                state.cache.insert(s.series, labels)?
            }
        };
        let cached = &mut state.cache.series[i];
        // The same series twice in one scrape: Prometheus keeps the first.
        if cached.read_in == this {
            continue;
        }
        cached.read_in = this;
        read += 1;
        // Dropped by relabelling.
        if cached.labels.is_none() {
            continue;
        }
        let at = match s.timestamp {
            Some(ts) if options.honor_timestamps => ts,
            _ => t,
        };
        if let Some(e) = &s.exemplar {
            exemplars.push((samples.len(), exemplar(e, at)));
        }
        samples.push((i, s.value, at));
    }
    state.read.post_relabel = samples.len();
    if options.sample_limit > 0 && samples.len() > options.sample_limit {
        return Err(format!(
            "{} ({} samples after metric relabelling, sample_limit {}): raise the job's \
             sample_limit or drop series with metric_relabel_configs",
            limit_errors::SAMPLE_LIMIT,
            samples.len(),
            options.sample_limit
        ));
    }
    let mut app = store.appender();
    let mut exemplars = exemplars.into_iter().peekable();
    for (n, &(i, v, at)) in samples.iter().enumerate() {
        let cached = &mut state.cache.series[i];
        append(&mut *app, cached, at, v)?;
        cached.appended_in = this;
        while let Some((_, e)) = exemplars.next_if(|(of, _)| *of == n) {
            append_exemplar(&mut *app, cached, e);
        }
    }
    for &i in &state.previous {
        if state.cache.series[i].appended_in != this {
            append(&mut *app, &mut state.cache.series[i], t, STALE_NAN)?;
        }
    }
    app.commit().map_err(|e| e.to_string())?;
    state.previous = samples.iter().map(|&(i, _, _)| i).collect();
    // As Prometheus after every scrape that returned a body: the series this scrape did
    // not read are forgotten, so one that comes back counts in scrape_series_added again
    // (and the cache of a target whose series come and go does not grow).
    if !body.is_empty() && state.cache.len() > read {
        state.forget_unread();
    } else if state.read.added > 0 && state.cache.texts.capacity() > state.cache.texts.len() * 9 / 8
    {
        state.cache.texts.shrink_to_fit();
    }
    Ok(state.read)
}

impl LoopState {
    /// Forgets the series the last attempt did not read.
    fn forget_unread(&mut self) {
        let last = self.attempts;
        let remap = self.cache.retain(|cached| cached.read_in == last);
        self.previous = self.previous.iter().filter_map(|&i| remap[i]).collect();
    }
}

/// A metric type as Prometheus's metadata API writes it.
fn type_name(kind: textparse::MetricType) -> &'static str {
    use textparse::MetricType as T;
    match kind {
        T::Counter => "counter",
        T::Gauge => "gauge",
        T::Histogram => "histogram",
        T::GaugeHistogram => "gaugehistogram",
        T::Summary => "summary",
        T::Info => "info",
        T::StateSet => "stateset",
        T::Unknown => "unknown",
    }
}

/// Appends one sample of a cached series; one refused for its time is skipped.
fn append(
    app: &mut dyn storage::Appender,
    cached: &mut Cached,
    t: Timestamp,
    v: f64,
) -> Result<(), String> {
    let Some(labels) = &cached.labels else {
        return Ok(());
    };
    match app.append(cached.series, labels, t, v) {
        Ok(r) => {
            cached.series = Some(r);
            Ok(())
        }
        Err(e) if refused_for_its_time(&e) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// An exemplar as stored: its labels (empty values dropped), its value, and its own
/// timestamp or else its sample's, `t`, as Prometheus stores it.
fn exemplar(e: &textparse::ExemplarLine<'_>, t: Timestamp) -> storage::Exemplar {
    let mut b = model::LabelsBuilder::new();
    for (name, value) in &e.labels {
        b.set(name, value);
    }
    storage::Exemplar {
        labels: b.build(),
        value: e.value,
        t: e.timestamp.unwrap_or(t),
        has_timestamp: e.timestamp.is_some(),
    }
}

/// Appends an exemplar of a cached series whose sample was just appended. A refused
/// exemplar never fails the scrape, as in Prometheus: a duplicate (the target repeating
/// its last exemplar) is what most scrapes bring, and the store counts the out-of-order
/// ones; the rest are logged.
fn append_exemplar(app: &mut dyn storage::Appender, cached: &Cached, e: storage::Exemplar) {
    let Some(labels) = &cached.labels else {
        return;
    };
    match app.append_exemplar(cached.series, labels, e) {
        Ok(())
        | Err(
            storage::ExemplarError::Duplicate { .. } | storage::ExemplarError::OutOfOrder { .. },
        ) => {}
        Err(e) => tracing::debug!(error = %e, "exemplar not stored"),
    }
}

/// The final labels of a scraped series: its own, the target's (a clash renames the
/// scraped label to `exported_<name>` unless the job honours labels), then metric
/// relabelling; `None` if that drops it. Fails on a label limit.
fn series_labels(
    s: &textparse::SampleLine<'_>,
    target: &Labels,
    options: &ScrapeOptions,
) -> Result<Option<Labels>, String> {
    let mut b = LabelsBuilder::new();
    for (name, value) in &s.labels {
        b.set(name, value);
    }
    for l in target.iter() {
        // A label the target exposes with an empty value is there, for honor_labels: the
        // target's is not added, and the empty value leaves the label absent (Prometheus's
        // `lset.Has`).
        if options.honor_labels && s.labels.iter().any(|(name, _)| *name == l.name) {
            continue;
        }
        match b.get(l.name) {
            Some(_) if options.honor_labels => {}
            Some(scraped) => {
                let scraped = scraped.to_owned();
                let mut exported = format!("exported_{}", l.name);
                while b.get(&exported).is_some() {
                    exported = format!("exported_{exported}");
                }
                b.set(&exported, &scraped);
                b.set(l.name, l.value);
            }
            None => {
                b.set(l.name, l.value);
            }
        }
    }
    b.set(model::METRIC_NAME, s.name);
    if !relabel(&options.metric_relabel, &mut b) {
        return Ok(None);
    }
    let labels = b.build();
    if options.label_limit > 0 && labels.len() > options.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {}, number of labels: {}, limit: {})",
            s.name,
            labels.len(),
            options.label_limit
        ));
    }
    for l in labels.iter() {
        if options.label_name_length_limit > 0 && l.name.len() > options.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {}, label name: {}, length: {}, limit: {})",
                s.name,
                l.name,
                l.name.len(),
                options.label_name_length_limit
            ));
        }
        if options.label_value_length_limit > 0 && l.value.len() > options.label_value_length_limit
        {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {}, label name: {}, value: {:?}, length: {}, limit: {})",
                s.name,
                l.name,
                l.value,
                l.value.len(),
                options.label_value_length_limit
            ));
        }
    }
    Ok(Some(labels))
}

/// Marks every series of the last successful scrape stale at `t`, and forgets them.
pub(crate) fn mark_all_stale(
    state: &mut LoopState,
    t: Timestamp,
    store: &dyn Appendable,
) -> Result<(), String> {
    if state.previous.is_empty() {
        return Ok(());
    }
    let mut app = store.appender();
    for i in std::mem::take(&mut state.previous) {
        append(&mut *app, &mut state.cache.series[i], t, STALE_NAN)?;
    }
    app.commit().map_err(|e| e.to_string())
}

/// The series every scrape writes about itself, in this order.
const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Writes the synthetic series of one scrape.
pub(crate) fn write_report(
    store: &dyn Appendable,
    target: &Labels,
    t: Timestamp,
    up: bool,
    duration: f64,
    report: Report,
) -> Result<(), String> {
    let values = [
        if up { 1.0 } else { 0.0 },
        duration,
        report.scraped as f64,
        report.post_relabel as f64,
        report.added as f64,
    ];
    append_synthetic(store, target, t, values)
}

/// Marks the synthetic series stale, when the target goes away.
fn stale_report(store: &dyn Appendable, target: &Labels, t: Timestamp) -> Result<(), String> {
    append_synthetic(store, target, t, [STALE_NAN; 5])
}

/// Appends one value to each of the [`SYNTHETIC`] series of `target`.
fn append_synthetic(
    store: &dyn Appendable,
    target: &Labels,
    t: Timestamp,
    values: [f64; 5],
) -> Result<(), String> {
    let mut app = store.appender();
    for (name, v) in SYNTHETIC.into_iter().zip(values) {
        let mut b = target.builder();
        b.set(model::METRIC_NAME, name);
        match app.append(None, &b.build(), t, v) {
            Err(e) if !refused_for_its_time(&e) => return Err(e.to_string()),
            _ => {}
        }
    }
    app.commit().map_err(|e| e.to_string())
}

/// Whether the store refused a sample for its timestamp (out of order, duplicate, too
/// old): such a sample is skipped, as Prometheus skips it, and the scrape goes on.
fn refused_for_its_time(e: &AppendError) -> bool {
    matches!(
        e,
        AppendError::OutOfOrder { .. } | AppendError::Duplicate { .. } | AppendError::TooOld { .. }
    )
}

/// The content types a scrape asks for, best first: OpenMetrics, then text 0.0.4.
const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Fetches a target's exposition: its body and format.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    target: &Target,
    options: &ScrapeOptions,
) -> Result<(String, Format), String> {
    let timeout = Duration::from_millis(target.timeout.unsigned_abs());
    let request = client
        .get(&target.url)
        .header(reqwest::header::ACCEPT, ACCEPT)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format!("{}", timeout.as_secs_f64()),
        )
        .timeout(timeout);
    let request = options.auth.apply(request).await?;
    let response = request.send().await.map_err(describe)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("server returned HTTP status {status}"));
    }
    let format = match response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(ct) if ct.starts_with("application/openmetrics-text") => Format::OpenMetrics,
        _ => Format::Text,
    };
    let limit = options.body_size_limit;
    let mut body: Vec<u8> = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        body.extend_from_slice(&chunk);
        // As Prometheus: a body of the limit's size is already over it.
        if limit > 0 && body.len() as u64 >= limit {
            return Err(format!(
                "{}: the response is {limit} bytes or more (body_size_limit {limit})",
                limit_errors::BODY_SIZE_LIMIT
            ));
        }
    }
    let body = String::from_utf8(body).map_err(|e| {
        format!(
            "the response is not UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok((body, format))
}

/// A reqwest error as a one-line reason.
fn describe(e: reqwest::Error) -> String {
    use std::error::Error as _;
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        message = format!("scrape timed out: {message}");
    }
    message
}

/// What a loop shares with its manager.
pub(crate) struct Shared {
    /// The target's last scrape, as `/targets` shows it.
    pub(crate) status: Arc<Mutex<ScrapeStatus>>,
    /// Every target's metric metadata.
    pub(crate) metadata: Arc<Mutex<BTreeMap<String, MetricMetadata>>>,
    /// The job's forced error, reported instead of scraping while set.
    pub(crate) forced: crate::manager::ForcedError,
    /// The scrapes each limit failed, counted.
    pub(crate) limits: Arc<LimitCounts>,
}

/// Scrapes `target` every interval until `stop` says so (or its sender is dropped), then
/// marks its series stale.
pub(crate) async fn run(
    target: Target,
    options: Arc<ScrapeOptions>,
    client: reqwest::Client,
    store: Arc<dyn Appendable>,
    shared: Shared,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Shared {
        status,
        metadata,
        forced,
        limits,
    } = shared;
    let interval = Duration::from_millis(target.interval.unsigned_abs().max(1));
    // Spread targets over the interval by a hash of the target, as Prometheus does.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    target.url.hash(&mut h);
    target.labels.hash(&mut h);
    let offset = Duration::from_millis(h.finish() % interval.as_millis().max(1) as u64);
    let start = tokio::time::Instant::now() + offset;
    let mut ticker = tokio::time::interval_at(start, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut state = Some(LoopState::default());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => break,
        }
        let begun = Instant::now();
        let t = now_ms();
        // A forced error (the job's target_limit exceeded) is the scrape's outcome: the
        // target is down and its series stale, as in Prometheus.
        let forced_error = forced.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let fetched = match forced_error {
            Some(e) => Err(e),
            None => fetch(&client, &target, &options).await,
        };
        let labels = target.labels.clone();
        let options_ = options.clone();
        let store_ = store.clone();
        let limits_ = limits.clone();
        let mut st = state.take().unwrap_or_default();
        let result = tokio::task::spawn_blocking(move || {
            let fetched_ok = fetched.is_ok();
            let outcome = fetched.and_then(|(body, format)| {
                ingest(
                    &mut st,
                    &body,
                    format,
                    t,
                    &labels,
                    &options_,
                    store_.as_ref(),
                )
            });
            let (up, report, error) = match outcome {
                Ok(report) => (true, report, String::new()),
                Err(e) => {
                    limits_.count(&e);
                    // What the scrape read before it failed (nothing if the fetch did).
                    let read = if fetched_ok {
                        st.read
                    } else {
                        Report::default()
                    };
                    let stale = mark_all_stale(&mut st, t, store_.as_ref());
                    let e = match stale {
                        Ok(()) => e,
                        Err(s) => format!("{e}; marking series stale failed: {s}"),
                    };
                    (false, read, e)
                }
            };
            let duration = begun.elapsed().as_secs_f64();
            let written = write_report(store_.as_ref(), &labels, t, up, duration, report);
            (st, up, report, error, duration, written)
        })
        .await;
        let Ok((st, up, report, error, duration, written)) = result else {
            tracing::error!(target = %target.url, "a scrape panicked");
            continue;
        };
        if up {
            let mut shared = metadata.lock().unwrap_or_else(|e| e.into_inner());
            for (name, m) in &st.metadata {
                if shared.get(name) != Some(m) {
                    shared.insert(name.clone(), m.clone());
                }
            }
        }
        if let Err(e) = written {
            tracing::warn!(target = %target.url, error = %e, "cannot write the scrape's report");
        }
        let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
        // A new copy only when the target's metadata changed, which is rare after its
        // first scrape.
        let target_metadata = if up && *s.metadata != st.metadata {
            Arc::new(st.metadata.clone())
        } else {
            s.metadata.clone()
        };
        state = Some(st);
        *s = ScrapeStatus {
            health: if up { Health::Up } else { Health::Down },
            last_error: error,
            last_scrape: t,
            last_duration: duration,
            samples: report.scraped,
            metadata: target_metadata,
        };
    }
    // The target is gone: its series, and its synthetic ones, end now.
    let t = now_ms();
    let labels = target.labels.clone();
    let mut st = state.unwrap_or_default();
    let done = tokio::task::spawn_blocking(move || {
        mark_all_stale(&mut st, t, store.as_ref())
            .and_then(|()| stale_report(store.as_ref(), &labels, t))
    })
    .await;
    if let Ok(Err(e)) = done {
        tracing::warn!(target = %target.url, error = %e, "cannot mark the target's series stale");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::{MemStorage, Queryable, SelectHints};

    fn series(store: &MemStorage) -> Vec<(String, Vec<(i64, f64)>)> {
        let q = store.querier(i64::MIN, i64::MAX).unwrap();
        q.select(&SelectHints::default(), &[])
            .unwrap()
            .map(|s| {
                let mut s = s.unwrap();
                let points = s
                    .samples
                    .collect_vec()
                    .unwrap()
                    .iter()
                    .map(|p| (p.t, if model::is_stale_nan(p.v) { -1.0 } else { p.v }))
                    .collect();
                (s.labels.to_string(), points)
            })
            .collect()
    }

    fn target() -> Labels {
        Labels::from_pairs([("instance", "n1:9100"), ("job", "nodes")])
    }

    /// Ingests a text 0.0.4 body from [`target`] scraped at `t`.
    fn scrape_text(
        state: &mut LoopState,
        body: &str,
        t: Timestamp,
        options: &ScrapeOptions,
        store: &MemStorage,
    ) -> Result<Report, String> {
        ingest(state, body, Format::Text, t, &target(), options, store)
    }

    #[test]
    fn samples_get_target_labels_and_disappearing_series_go_stale() {
        let store = MemStorage::new();
        let mut state = LoopState::default();
        let options = ScrapeOptions {
            honor_timestamps: true,
            ..ScrapeOptions::default()
        };
        let first = "# TYPE a counter\na_total{x=\"1\"} 5\nb 1\n";
        let report = scrape_text(&mut state, first, 1000, &options, &store).unwrap();
        assert_eq!(
            report,
            Report {
                scraped: 2,
                post_relabel: 2,
                added: 2
            }
        );
        let second = "a_total{x=\"1\"} 6\n";
        let report = scrape_text(&mut state, second, 2000, &options, &store).unwrap();
        assert_eq!(report.added, 0);
        assert_eq!(
            series(&store),
            [
                (
                    "a_total{instance=\"n1:9100\",job=\"nodes\",x=\"1\"}".to_owned(),
                    vec![(1000, 5.0), (2000, 6.0)]
                ),
                (
                    "b{instance=\"n1:9100\",job=\"nodes\"}".to_owned(),
                    vec![(1000, 1.0), (2000, -1.0)]
                ),
            ]
        );
    }

    #[test]
    fn clashing_labels_are_exported_unless_honoured() {
        let body = "m{job=\"inner\",exported_job=\"x\"} 1 500\n";
        let store = MemStorage::new();
        let options = ScrapeOptions::default();
        scrape_text(&mut LoopState::default(), body, 1000, &options, &store).unwrap();
        let got = series(&store);
        assert_eq!(
            got[0].0,
            "m{exported_exported_job=\"inner\",exported_job=\"x\",instance=\"n1:9100\",job=\"nodes\"}"
        );
        // Timestamps are not honoured by default here: the scrape time is used.
        assert_eq!(got[0].1, [(1000, 1.0)]);
        let store = MemStorage::new();
        let honour = ScrapeOptions {
            honor_labels: true,
            honor_timestamps: true,
            ..ScrapeOptions::default()
        };
        scrape_text(&mut LoopState::default(), body, 1000, &honour, &store).unwrap();
        let got = series(&store);
        assert_eq!(
            got[0].0,
            "m{exported_job=\"x\",instance=\"n1:9100\",job=\"inner\"}"
        );
        assert_eq!(got[0].1, [(500, 1.0)]);

        // An empty value the target exposes, honoured, leaves the label absent: the
        // target's own instance is not added (as Prometheus, for pushed series).
        let store = MemStorage::new();
        scrape_text(
            &mut LoopState::default(),
            "pushed{instance=\"\",job=\"batch\"} 1\n",
            1000,
            &honour,
            &store,
        )
        .unwrap();
        assert_eq!(series(&store)[0].0, "pushed{job=\"batch\"}");
    }

    #[test]
    fn a_series_that_comes_back_counts_as_added_again() {
        let store = MemStorage::new();
        let options = ScrapeOptions::default();
        let mut state = LoopState::default();
        let added = |state: &mut LoopState, body: &str, t: i64| {
            scrape_text(state, body, t, &options, &store).unwrap().added
        };
        assert_eq!(added(&mut state, "a 1\nb 1\n", 1000), 2);
        assert_eq!(added(&mut state, "a 2\n", 2000), 0);
        // b was not in the last scrape: Prometheus has forgotten it and counts it again.
        assert_eq!(added(&mut state, "a 3\nb 3\n", 3000), 1);
        assert_eq!(added(&mut state, "a 4\nb 4\n", 4000), 0);
    }

    #[test]
    fn metric_relabelling_and_limits_apply_before_anything_is_stored() {
        let relabel: Vec<RelabelConfig> =
            yaml::from_str("- source_labels: [__name__]\n  regex: 'go_.*'\n  action: drop\n")
                .unwrap();
        let options = ScrapeOptions {
            metric_relabel: relabel,
            sample_limit: 2,
            ..ScrapeOptions::default()
        };
        let store = MemStorage::new();
        let mut state = LoopState::default();
        let report = scrape_text(
            &mut state,
            "go_threads 9\na 1\nb 2\n",
            1000,
            &options,
            &store,
        )
        .unwrap();
        assert_eq!((report.scraped, report.post_relabel), (3, 2));
        let err = scrape_text(&mut state, "a 1\nb 2\nc 3\n", 2000, &options, &store).unwrap_err();
        assert_eq!(
            err,
            "sample limit exceeded (3 samples after metric relabelling, sample_limit 2): \
             raise the job's sample_limit or drop series with metric_relabel_configs"
        );
        // The failed scrape's report says what it read, as Prometheus's does.
        assert_eq!((state.read.scraped, state.read.post_relabel), (3, 3));
        let counts = LimitCounts::default();
        counts.count(&err);
        // Nothing of the failed scrape was stored.
        assert!(series(&store).iter().all(|(l, _)| !l.starts_with("c{")));
        let labels = ScrapeOptions {
            label_limit: 3,
            ..ScrapeOptions::default()
        };
        let err = ingest(
            &mut LoopState::default(),
            "m{a=\"1\",b=\"2\"} 1\n",
            Format::Text,
            1000,
            &target(),
            &labels,
            &MemStorage::new(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "label_limit exceeded (metric: m, number of labels: 5, limit: 3)"
        );
        counts.count(&err);
        counts.count("server returned HTTP status 500 Internal Server Error");
        assert_eq!(
            counts.snapshot(0),
            crate::ScrapeLimitCounts {
                sample_limit: 1,
                label_limits: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn openmetrics_exemplars_are_stored_on_the_relabelled_series() {
        let store = MemStorage::new();
        let mut state = LoopState::default();
        let options = ScrapeOptions {
            metric_relabel: crate::config::Config::parse(
                "scrape_configs:\n  - job_name: j\n    metric_relabel_configs:\n      - {source_labels: [__name__], regex: dropped_total, action: drop}\n",
                "p.yml",
            )
            .unwrap()
            .scrape_configs[0]
                .metric_relabel_configs
                .clone(),
            ..ScrapeOptions::default()
        };
        let body = "# TYPE req counter\nreq_total{code=\"200\"} 5 # {trace_id=\"abc\",span_id=\"\"} 1 1.5\nlat_bucket{le=\"1\"} 2 # {trace_id=\"def\"} 0.5\ndropped_total 1 # {trace_id=\"x\"} 1\n# EOF\n";
        for t in [10_000, 20_000] {
            ingest(
                &mut state,
                body,
                Format::OpenMetrics,
                t,
                &target(),
                &options,
                &store,
            )
            .unwrap();
        }
        let found: Vec<_> = store
            .select_exemplars(i64::MIN, i64::MAX, &[&[]])
            .unwrap()
            .into_iter()
            .map(|s| {
                let exemplars = s
                    .exemplars
                    .iter()
                    .map(|e| (e.labels.to_string(), e.value, e.t))
                    .collect::<Vec<_>>();
                (s.series.to_string(), exemplars)
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "lat_bucket{instance=\"n1:9100\",job=\"nodes\",le=\"1\"}".to_owned(),
                    // Without a timestamp of its own, an exemplar takes its sample's; the
                    // same one in the next scrape is a duplicate all the same.
                    vec![("{trace_id=\"def\"}".to_owned(), 0.5, 10_000)]
                ),
                (
                    "req_total{code=\"200\",instance=\"n1:9100\",job=\"nodes\"}".to_owned(),
                    // With one, the second scrape's is a duplicate, dropped without a word.
                    vec![("{trace_id=\"abc\"}".to_owned(), 1.0, 1500)]
                ),
            ]
        );
        // Text 0.0.4 has no exemplars.
        assert!(
            ingest(
                &mut LoopState::default(),
                "a 1 # {} 1\n",
                Format::Text,
                0,
                &target(),
                &options,
                &store
            )
            .is_err()
        );
    }

    #[test]
    fn help_type_and_unit_lines_become_metadata() {
        let mut state = LoopState::default();
        let body =
            "# HELP rx Bytes received.\n# TYPE rx counter\n# UNIT rx bytes\nrx_total 5\n# EOF\n";
        ingest(
            &mut state,
            body,
            Format::OpenMetrics,
            1000,
            &target(),
            &ScrapeOptions::default(),
            &MemStorage::new(),
        )
        .unwrap();
        assert_eq!(
            state.metadata["rx"],
            MetricMetadata {
                kind: "counter".into(),
                help: "Bytes received.".into(),
                unit: "bytes".into()
            }
        );
    }

    #[test]
    fn the_cache_forgets_series_a_churning_target_stopped_exposing() {
        let store = MemStorage::new();
        let mut state = LoopState::default();
        let options = ScrapeOptions::default();
        for round in 0..20 {
            // 200 series, all new each round.
            let body: String = (0..200)
                .map(|i| format!("churn{{id=\"{round}-{i}\"}} 1\n"))
                .collect();
            scrape_text(&mut state, &body, 1000 * (round + 1), &options, &store).unwrap();
            assert!(
                state.cache.len() <= 2 * 200 + 1024 + 200,
                "round {round}: {} cached",
                state.cache.len()
            );
            assert_eq!(state.cache.index.len(), state.cache.len());
            // Every series this round read is still found by its text.
            let first = format!("churn{{id=\"{round}-0\"}}");
            let i = state
                .cache
                .find(&first)
                .expect("the round's first series is cached");
            assert_eq!(state.cache.text(i), first);
        }
        // Staleness still works after forgetting: the last round's series go stale.
        scrape_text(&mut state, "other 1\n", 50_000, &options, &store).unwrap();
        let q = store.querier(0, i64::MAX).unwrap();
        let stale = q
            .select(
                &SelectHints::default(),
                &[model::Matcher::equal("id", "19-7")],
            )
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .samples
            .collect_vec()
            .unwrap();
        assert!(model::is_stale_nan(stale.last().unwrap().v));
    }

    #[test]
    fn a_failed_scrape_marks_the_last_ones_series_stale_and_reports_down() {
        let store = MemStorage::new();
        let mut state = LoopState::default();
        let options = ScrapeOptions::default();
        scrape_text(&mut state, "a 1\n", 1000, &options, &store).unwrap();
        let err = scrape_text(&mut state, "a 1 x\n", 2000, &options, &store).unwrap_err();
        assert!(err.starts_with("line 1, column"), "{err}");
        mark_all_stale(&mut state, 2000, &store).unwrap();
        write_report(&store, &target(), 2000, false, 0.01, Report::default()).unwrap();
        let got = series(&store);
        let a = got.iter().find(|(l, _)| l.starts_with("a{")).unwrap();
        assert_eq!(a.1, [(1000, 1.0), (2000, -1.0)]);
        let up = got.iter().find(|(l, _)| l.starts_with("up{")).unwrap();
        assert_eq!(up.1, [(2000, 0.0)]);
    }
}
