//! Remote write receive: a sender's snappy-compressed `WriteRequest` (1.0) or
//! `io.prometheus.write.v2.Request` (2.0), decoded and appended to the store through its
//! [`Appendable`], the path scraped samples take.
//!
//! The HTTP side (`POST /api/v1/write`, the status codes and the `X-Prometheus-Remote-
//! Write-*-Written` headers) is the API's `remote_write` family; this module decides what
//! is written and why something is not, as the specifications say:
//!
//! - a body that does not decompress or decode is refused whole, [`ReceiveError::BadData`]
//!   naming the byte offset (in the decompressed message) of the field that fails;
//! - a series with bad labels, or a sample out of order, duplicate or too old, is skipped
//!   while the rest of the request is written and committed; the answer is still
//!   `BadData`, naming each problem's series (up to [`MAX_PROBLEMS_NAMED`]), so that the
//!   sender does not retry what cannot succeed;
//! - native histograms are refused (the stores keep none yet) while their series' float
//!   samples are written; they count in [`ReceiveStats::histograms_refused`];
//! - exemplars are appended beside their series' samples; ones the store refuses (out of
//!   order, too long) are counted and dropped without failing the request, as Prometheus
//!   does;
//! - metadata (1.0's `metadata` list, 2.0's per-series type, help and unit) is kept by
//!   family name in [`Receiver::metadata`], which the server's `/api/v1/metadata` reads;
//! - only a store that cannot commit (its disk full, closed) is
//!   [`ReceiveError::Unavailable`], worth a retry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use model::Labels;
use prost::Message as _;
use storage::{Appendable, Appender, Exemplar, ExemplarError, SeriesRef};

use crate::{proto, v2};

/// The largest decompressed message taken (64 MiB): Prometheus sends at most a few MiB
/// (`max_samples_per_send` 2,000 in 2.42).
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// How many problems a refusal names; the rest are counted.
pub const MAX_PROBLEMS_NAMED: usize = 5;

/// The most metric families whose received metadata is kept; past it, new families'
/// metadata is dropped.
pub const MAX_METADATA_FAMILIES: usize = 100_000;

/// Which message a request carries, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// 1.0's `prometheus.WriteRequest`.
    V1,
    /// 2.0's `io.prometheus.write.v2.Request`.
    V2,
}

impl Message {
    /// The message a Content-Type names: `application/x-protobuf` alone (or no
    /// Content-Type, as 1.0 senders may send) is 1.0; its `proto` parameter names
    /// `prometheus.WriteRequest` or `io.prometheus.write.v2.Request`. Anything else is
    /// [`ReceiveError::Unsupported`] (415).
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, ReceiveError> {
        let Some(ct) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(Message::V1);
        };
        let mut parts = ct.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !media.eq_ignore_ascii_case("application/x-protobuf") {
            return Err(unsupported_type(ct));
        }
        let proto = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("proto"))
            .map(|(_, v)| v.trim().trim_matches('"'));
        match proto {
            None | Some("prometheus.WriteRequest") => Ok(Message::V1),
            Some("io.prometheus.write.v2.Request") => Ok(Message::V2),
            Some(_) => Err(unsupported_type(ct)),
        }
    }

    /// The protobuf message's full name.
    pub fn name(self) -> &'static str {
        match self {
            Message::V1 => "prometheus.WriteRequest",
            Message::V2 => "io.prometheus.write.v2.Request",
        }
    }
}

fn unsupported_type(ct: &str) -> ReceiveError {
    ReceiveError::Unsupported(format!(
        "Content-Type {ct:?} is not a remote write message this server takes: send \
         application/x-protobuf (1.0), application/x-protobuf;proto=prometheus.WriteRequest \
         or {}",
        v2::CONTENT_TYPE
    ))
}

/// Checks a request's Content-Encoding: `snappy` (the block format), as both versions
/// require; none is taken as snappy, as Prometheus takes it from 1.0 senders.
pub fn check_encoding(content_encoding: Option<&str>) -> Result<(), ReceiveError> {
    match content_encoding.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(()),
        Some(e) if e.eq_ignore_ascii_case("snappy") => Ok(()),
        Some(e) => Err(ReceiveError::Unsupported(format!(
            "Content-Encoding {e:?} is not supported: remote write bodies are snappy-compressed \
             (the block format) with Content-Encoding: snappy"
        ))),
    }
}

/// What one request wrote, for the `X-Prometheus-Remote-Write-*-Written` headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Float samples.
    pub samples: u64,
    /// Native histogram samples (none until the stores keep them).
    pub histograms: u64,
    /// Exemplars.
    pub exemplars: u64,
}

/// Why a request was not written, or not all of it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReceiveError {
    /// The Content-Type or Content-Encoding is not one this server takes (HTTP 415).
    #[error("{0}")]
    Unsupported(String),
    /// The message is larger than [`MAX_DECOMPRESSED_BYTES`] (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// Bad data (HTTP 400): the request, or some of its series or samples; what was good
    /// is in `written`, committed. A retry cannot help.
    #[error("{message}")]
    BadData {
        /// What was wrong, and where.
        message: String,
        /// What was written nonetheless.
        written: Written,
    },
    /// The sender is over its ingestion rate (HTTP 429): nothing was written, a retry
    /// after backing off succeeds.
    #[error("{0}")]
    RateLimited(String),
    /// The store could not commit (HTTP 503); nothing was written and a retry may succeed.
    #[error("{message}")]
    Unavailable {
        /// What failed.
        message: String,
    },
}

impl ReceiveError {
    /// The HTTP status the specifications give this error.
    pub fn http_status(&self) -> u16 {
        match self {
            ReceiveError::Unsupported(_) => 415,
            ReceiveError::TooLarge(_) => 413,
            ReceiveError::BadData { .. } => 400,
            ReceiveError::RateLimited(_) => 429,
            ReceiveError::Unavailable { .. } => 503,
        }
    }

    /// What was written despite the error.
    pub fn written(&self) -> Written {
        match self {
            ReceiveError::BadData { written, .. } => *written,
            _ => Written::default(),
        }
    }

    fn bad(message: String) -> Self {
        ReceiveError::BadData {
            message,
            written: Written::default(),
        }
    }
}

/// A metric family's metadata as a sender described it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FamilyMetadata {
    /// The type's name (`counter`), `unknown` if the sender gave none.
    pub kind: String,
    /// The help text.
    pub help: String,
    /// The unit.
    pub unit: String,
}

/// What the receiver has done since it started, for the server's own metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    /// Requests written whole.
    pub requests_ok: u64,
    /// Requests refused in whole or in part.
    pub requests_failed: u64,
    /// Samples written.
    pub samples: u64,
    /// Samples refused (bad labels, out of order, duplicate, too old).
    pub samples_refused: u64,
    /// Exemplars written.
    pub exemplars: u64,
    /// Exemplars the store refused.
    pub exemplars_refused: u64,
    /// Native histogram samples refused.
    pub histograms_refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    samples: AtomicU64,
    samples_refused: AtomicU64,
    exemplars: AtomicU64,
    exemplars_refused: AtomicU64,
    histograms_refused: AtomicU64,
}

/// Takes remote write requests into a store.
pub struct Receiver {
    store: Arc<dyn Appendable>,
    metadata: Mutex<BTreeMap<String, FamilyMetadata>>,
    counters: Counters,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl Receiver {
    /// A receiver appending to `store`.
    pub fn new(store: Arc<dyn Appendable>) -> Self {
        Self {
            store,
            metadata: Mutex::default(),
            counters: Counters::default(),
        }
    }

    /// The metadata senders gave, by family name.
    pub fn metadata(&self) -> BTreeMap<String, FamilyMetadata> {
        self.metadata
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The counts since start.
    pub fn stats(&self) -> ReceiveStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReceiveStats {
            requests_ok: get(&c.requests_ok),
            requests_failed: get(&c.requests_failed),
            samples: get(&c.samples),
            samples_refused: get(&c.samples_refused),
            exemplars: get(&c.exemplars),
            exemplars_refused: get(&c.exemplars_refused),
            histograms_refused: get(&c.histograms_refused),
        }
    }

    /// Decompresses `body` (snappy's block format), decodes it as `message` and writes
    /// it; what was written, or why not all of it was.
    pub fn receive(&self, message: Message, body: &[u8]) -> Result<Written, ReceiveError> {
        let result = self.write(message, body);
        let c = &self.counters;
        match &result {
            Ok(_) => c.requests_ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => c.requests_failed.fetch_add(1, Ordering::Relaxed),
        };
        result
    }

    fn write(&self, message: Message, body: &[u8]) -> Result<Written, ReceiveError> {
        let raw = decompress(body)?;
        let mut batch = Batch::new(self.store.appender());
        match message {
            Message::V1 => {
                let request = proto::WriteRequest::decode(raw.as_slice())
                    .map_err(|e| ReceiveError::bad(locate_decode_error(&raw, message, &e)))?;
                self.write_v1(&request, &mut batch);
            }
            Message::V2 => {
                let request = v2::Request::decode(raw.as_slice())
                    .map_err(|e| ReceiveError::bad(locate_decode_error(&raw, message, &e)))?;
                self.write_v2(&request, &mut batch);
            }
        }
        self.finish(batch)
    }

    fn write_v1(&self, request: &proto::WriteRequest, batch: &mut Batch<'_>) {
        for (i, ts) in request.timeseries.iter().enumerate() {
            let pairs = ts
                .labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str()));
            let labels = match series_labels(pairs) {
                Ok(l) => l,
                Err(why) => {
                    let labels = lenient_labels(&ts.labels);
                    batch.refuse_series(i, &labels, ts.samples.len(), &why);
                    continue;
                }
            };
            let samples = ts.samples.iter().map(|s| (s.timestamp, s.value));
            let series = batch.samples(i, &labels, samples, 0);
            for e in &ts.exemplars {
                let pairs = e.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
                batch.exemplar(series, &labels, exemplar(pairs, e.value, e.timestamp));
            }
            batch.histograms(i, &labels, ts.histograms.len());
        }
        for m in &request.metadata {
            self.keep_metadata(
                &m.metric_family_name,
                FamilyMetadata {
                    kind: proto::metric_type_name(m.r#type).to_owned(),
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                },
            );
        }
    }

    fn write_v2(&self, request: &v2::Request, batch: &mut Batch<'_>) {
        let symbols = &request.symbols;
        for (i, ts) in request.timeseries.iter().enumerate() {
            let labels = match resolve(symbols, &ts.labels_refs).and_then(series_labels) {
                Ok(l) => l,
                Err(why) => {
                    batch.refuse_series(i, &Labels::empty(), ts.samples.len(), &why);
                    continue;
                }
            };
            let samples = ts.samples.iter().map(|s| (s.timestamp, s.value));
            let series = batch.samples(i, &labels, samples, ts.created_timestamp);
            for (k, e) in ts.exemplars.iter().enumerate() {
                match resolve(symbols, &e.labels_refs) {
                    Ok(pairs) => {
                        batch.exemplar(series, &labels, exemplar(pairs, e.value, e.timestamp))
                    }
                    Err(why) => {
                        batch.problem(format!("timeseries[{i}] {labels}: exemplars[{k}]: {why}"))
                    }
                }
            }
            batch.histograms(i, &labels, ts.histograms.len());
            if let Some(m) = &ts.metadata {
                let text = |r: u32| symbols.get(r as usize).cloned().unwrap_or_default();
                let kind = proto::metric_type_name(m.r#type);
                if let Some(family) = labels.metric_name().map(|n| family_name(n, kind)) {
                    self.keep_metadata(
                        family,
                        FamilyMetadata {
                            kind: kind.to_owned(),
                            help: text(m.help_ref),
                            unit: text(m.unit_ref),
                        },
                    );
                }
            }
        }
    }

    fn keep_metadata(&self, family: &str, m: FamilyMetadata) {
        if family.is_empty() {
            return;
        }
        let mut all = self.metadata.lock().unwrap_or_else(PoisonError::into_inner);
        if all.len() < MAX_METADATA_FAMILIES || all.contains_key(family) {
            all.insert(family.to_owned(), m);
        }
    }

    fn finish(&self, batch: Batch<'_>) -> Result<Written, ReceiveError> {
        let Batch {
            app,
            written,
            problems,
            problem_count,
            samples_refused,
            exemplars_refused,
            histograms_refused,
        } = batch;
        let c = &self.counters;
        c.samples_refused
            .fetch_add(samples_refused, Ordering::Relaxed);
        c.exemplars_refused
            .fetch_add(exemplars_refused, Ordering::Relaxed);
        c.histograms_refused
            .fetch_add(histograms_refused, Ordering::Relaxed);
        app.commit().map_err(|e| ReceiveError::Unavailable {
            message: format!("the store could not commit the request, retry later: {e}"),
        })?;
        c.samples.fetch_add(written.samples, Ordering::Relaxed);
        c.exemplars.fetch_add(written.exemplars, Ordering::Relaxed);
        if problem_count == 0 {
            return Ok(written);
        }
        let mut message = format!(
            "{problem_count} problem{} in the request (the rest of it was written: {} samples, {} exemplars): {}",
            if problem_count == 1 { "" } else { "s" },
            written.samples,
            written.exemplars,
            problems.join("; ")
        );
        if problem_count > problems.len() {
            message += &format!("; and {} more", problem_count - problems.len());
        }
        Err(ReceiveError::BadData { message, written })
    }
}

/// One request's append transaction and what it met.
struct Batch<'a> {
    app: Box<dyn Appender + 'a>,
    written: Written,
    problems: Vec<String>,
    problem_count: usize,
    samples_refused: u64,
    exemplars_refused: u64,
    histograms_refused: u64,
}

impl<'a> Batch<'a> {
    fn new(app: Box<dyn Appender + 'a>) -> Self {
        Self {
            app,
            written: Written::default(),
            problems: Vec::new(),
            problem_count: 0,
            samples_refused: 0,
            exemplars_refused: 0,
            histograms_refused: 0,
        }
    }

    fn problem(&mut self, p: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS_NAMED {
            self.problems.push(p);
        }
    }

    fn refuse_series(&mut self, i: usize, labels: &Labels, samples: usize, why: &str) {
        self.samples_refused += samples as u64;
        self.problem(format!("timeseries[{i}] {labels}: {why}"));
    }

    /// Appends a series' samples, each with start time `st` if not 0; the series' ref if
    /// one was appended.
    fn samples(
        &mut self,
        i: usize,
        labels: &Labels,
        samples: impl Iterator<Item = (i64, f64)>,
        st: i64,
    ) -> Option<SeriesRef> {
        let mut series = None;
        for (t, v) in samples {
            let appended = if st == 0 {
                self.app.append(series, labels, t, v)
            } else {
                self.app.append_with_start_time(series, labels, t, st, v)
            };
            match appended {
                Ok(r) => {
                    series = Some(r);
                    self.written.samples += 1;
                }
                Err(e) => {
                    self.samples_refused += 1;
                    self.problem(format!("timeseries[{i}]: {e}"));
                }
            }
        }
        series
    }

    fn exemplar(&mut self, series: Option<SeriesRef>, labels: &Labels, e: Exemplar) {
        match self.app.append_exemplar(series, labels, e) {
            Ok(()) => self.written.exemplars += 1,
            // A sender repeating an exemplar, as scrapes repeat them: stored once.
            Err(ExemplarError::Duplicate { .. }) => {}
            Err(_) => self.exemplars_refused += 1,
        }
    }

    fn histograms(&mut self, i: usize, labels: &Labels, n: usize) {
        if n == 0 {
            return;
        }
        self.histograms_refused += n as u64;
        self.problem(format!(
            "timeseries[{i}] {labels}: {n} native histogram sample{} refused: Skywatch's \
             storage keeps no native histograms yet (the series' float samples were written); \
             send classic histograms instead",
            if n == 1 { "" } else { "s" }
        ));
    }
}

fn exemplar<'s>(
    pairs: impl IntoIterator<Item = (&'s str, &'s str)>,
    value: f64,
    t: i64,
) -> Exemplar {
    Exemplar {
        labels: Labels::from_pairs(pairs),
        value,
        t,
        has_timestamp: t != 0,
    }
}

/// A family's name from a series' metric name: a histogram's or summary's series
/// (`_bucket`, `_sum`, `_count`) belong to the family without the suffix.
fn family_name<'n>(name: &'n str, kind: &str) -> &'n str {
    if !matches!(kind, "histogram" | "gaugehistogram" | "summary") {
        return name;
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Labels as a series' identity: no empty or repeated names, and at least one label.
fn series_labels<'s>(
    pairs: impl IntoIterator<Item = (&'s str, &'s str)>,
) -> Result<Labels, String> {
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    pairs.sort_unstable();
    if pairs.iter().any(|(n, _)| n.is_empty()) {
        return Err("a label name is empty".into());
    }
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("label name {:?} is repeated", w[0].0));
    }
    let labels = Labels::from_pairs(pairs);
    storage::validate_labels(&labels).map_err(|e| e.to_string())?;
    Ok(labels)
}

/// The labels of a series refused for its labels, as well as they can be shown.
fn lenient_labels(labels: &[proto::Label]) -> Labels {
    Labels::from_pairs(
        labels
            .iter()
            .filter(|l| !l.name.is_empty())
            .map(|l| (l.name.as_str(), l.value.as_str())),
    )
}

/// 2.0's label references as (name, value) pairs.
fn resolve<'s>(symbols: &'s [String], refs: &[u32]) -> Result<Vec<(&'s str, &'s str)>, String> {
    if !refs.len().is_multiple_of(2) {
        return Err(format!(
            "labels_refs has {} entries: it holds name and value pairs, so an even number",
            refs.len()
        ));
    }
    let symbol = |k: usize| {
        let r = refs[k];
        symbols.get(r as usize).map(String::as_str).ok_or_else(|| {
            format!(
                "labels_refs[{k}] is {r}, past the symbols table's {} entries",
                symbols.len()
            )
        })
    };
    (0..refs.len() / 2)
        .map(|p| Ok((symbol(2 * p)?, symbol(2 * p + 1)?)))
        .collect()
}

fn decompress(body: &[u8]) -> Result<Vec<u8>, ReceiveError> {
    let not_snappy = |e: snap::Error| {
        ReceiveError::bad(format!(
            "the body is not snappy-compressed (the block format, not the framed one): {e}"
        ))
    };
    let len = snap::raw::decompress_len(body).map_err(not_snappy)?;
    if len > MAX_DECOMPRESSED_BYTES {
        return Err(ReceiveError::TooLarge(format!(
            "the message is {len} bytes decompressed, over the {MAX_DECOMPRESSED_BYTES} bytes \
             this server takes; send fewer samples a request (max_samples_per_send)"
        )));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(not_snappy)
}

/// Finds where a message that prost could not decode goes wrong: walks its top-level
/// fields and decodes each series (and 1.0's metadata, 2.0's symbols) alone, naming the
/// first that fails with its index and byte offset in the decompressed message.
fn locate_decode_error(raw: &[u8], message: Message, error: &prost::DecodeError) -> String {
    let name = message.name();
    let fallback = format!("the body does not decode as {name}: {error}");
    let mut pos = 0;
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    while pos < raw.len() {
        let start = pos;
        let Some(key) = varint(raw, &mut pos) else {
            return format!("{name}: the field key at byte {start} is cut short");
        };
        let (field, wire) = (key >> 3, key & 7);
        let end = match wire {
            0 => varint(raw, &mut pos).map(|_| pos),
            1 => Some(pos + 8),
            5 => Some(pos + 4),
            2 => varint(raw, &mut pos).and_then(|n| pos.checked_add(usize::try_from(n).ok()?)),
            _ => {
                return format!(
                    "{name}: field {field} at byte {start} has wire type {wire}, which protobuf \
                     does not have (the body is not {name}, or is damaged)"
                );
            }
        };
        let Some(end) = end.filter(|&e| e <= raw.len()) else {
            return format!(
                "{name}: field {field} at byte {start} runs past the end of the message ({} bytes)",
                raw.len()
            );
        };
        let index = seen.entry(field).or_default();
        let payload = &raw[pos..end];
        let failure = match (message, field, wire) {
            (Message::V1, 1, 2) => proto::TimeSeries::decode(payload)
                .err()
                .map(|e| ("timeseries", e.to_string())),
            (Message::V1, 3, 2) => proto::MetricMetadata::decode(payload)
                .err()
                .map(|e| ("metadata", e.to_string())),
            (Message::V2, 4, 2) => std::str::from_utf8(payload)
                .err()
                .map(|e| ("symbols", format!("not UTF-8: {e}"))),
            (Message::V2, 5, 2) => v2::TimeSeries::decode(payload)
                .err()
                .map(|e| ("timeseries", e.to_string())),
            _ => None,
        };
        if let Some((what, e)) = failure {
            return format!("{name}: {what}[{index}] at byte {start} does not decode: {e}");
        }
        *index += 1;
        pos = end;
    }
    fallback
}

fn varint(raw: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *raw.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Matcher;
    use storage::{MemStorage, Queryable, SelectHints, StorageError};

    fn snappy(raw: &[u8]) -> Vec<u8> {
        snap::raw::Encoder::new().compress_vec(raw).unwrap()
    }

    fn label(name: &str, value: &str) -> proto::Label {
        proto::Label {
            name: name.into(),
            value: value.into(),
        }
    }

    fn sample(timestamp: i64, value: f64) -> proto::Sample {
        proto::Sample { value, timestamp }
    }

    fn fixture() -> (Arc<MemStorage>, Receiver) {
        let store = Arc::new(MemStorage::new());
        let receiver = Receiver::new(store.clone());
        (store, receiver)
    }

    /// A series as text with its samples as (t, v, start time).
    type Stored = (String, Vec<(i64, f64, i64)>);

    /// Every series of `store` with its samples.
    fn stored(store: &MemStorage) -> Vec<Stored> {
        let q = store.querier(i64::MIN, i64::MAX).unwrap();
        let set = q
            .select(
                &SelectHints::default(),
                &[Matcher::new(model::MatchOp::Regex, "__name__", ".+").unwrap()],
            )
            .unwrap();
        let mut out = Vec::new();
        for s in set {
            let mut s = s.unwrap();
            let mut samples = Vec::new();
            while let Some(x) = s.samples.next().unwrap() {
                samples.push((x.t, x.v, s.samples.start_time()));
            }
            out.push((s.labels.to_string(), samples));
        }
        out
    }

    #[test]
    fn the_content_type_picks_the_message_and_anything_else_is_415() {
        let ok = [
            (None, Message::V1),
            (Some(""), Message::V1),
            (Some("application/x-protobuf"), Message::V1),
            (
                Some("application/x-protobuf;proto=prometheus.WriteRequest"),
                Message::V1,
            ),
            (
                Some("application/x-protobuf; proto=io.prometheus.write.v2.Request"),
                Message::V2,
            ),
            (Some(v2::CONTENT_TYPE), Message::V2),
        ];
        for (ct, want) in ok {
            assert_eq!(Message::from_content_type(ct), Ok(want), "{ct:?}");
        }
        for ct in [
            "application/json",
            "application/x-protobuf;proto=io.prometheus.write.v3.Request",
        ] {
            let e = Message::from_content_type(Some(ct)).unwrap_err();
            assert_eq!(e.http_status(), 415, "{ct}");
            assert!(e.to_string().contains(v2::CONTENT_TYPE), "{e}");
        }
        assert_eq!(check_encoding(Some("snappy")), Ok(()));
        assert_eq!(check_encoding(None), Ok(()));
        assert_eq!(check_encoding(Some("gzip")).unwrap_err().http_status(), 415);
    }

    #[test]
    fn v1_samples_exemplars_and_metadata_are_written_and_histograms_refused_by_name() {
        let (store, receiver) = fixture();
        let request = proto::WriteRequest {
            timeseries: vec![
                proto::TimeSeries {
                    labels: vec![
                        label("__name__", "http_requests_total"),
                        label("job", "api"),
                    ],
                    samples: vec![sample(1000, 1.0), sample(2000, 2.0)],
                    exemplars: vec![proto::Exemplar {
                        labels: vec![label("trace_id", "abc")],
                        value: 1.0,
                        timestamp: 1500,
                    }],
                    ..Default::default()
                },
                proto::TimeSeries {
                    labels: vec![label("__name__", "latency"), label("job", "api")],
                    samples: vec![sample(1000, 5.0)],
                    histograms: vec![proto::Histogram { timestamp: 1000 }],
                    ..Default::default()
                },
            ],
            metadata: vec![proto::MetricMetadata {
                r#type: 1,
                metric_family_name: "http_requests_total".into(),
                help: "Requests.".into(),
                unit: String::new(),
            }],
        };
        let e = receiver
            .receive(Message::V1, &snappy(&request.encode_to_vec()))
            .unwrap_err();
        assert_eq!(e.http_status(), 400);
        assert_eq!(
            e.written(),
            Written {
                samples: 3,
                histograms: 0,
                exemplars: 1
            }
        );
        let text = e.to_string();
        assert!(
            text.contains("timeseries[1] latency{job=\"api\"}: 1 native histogram sample refused"),
            "{text}"
        );
        assert_eq!(
            stored(&store),
            [
                (
                    "http_requests_total{job=\"api\"}".to_owned(),
                    vec![(1000, 1.0, 0), (2000, 2.0, 0)]
                ),
                ("latency{job=\"api\"}".to_owned(), vec![(1000, 5.0, 0)]),
            ]
        );
        let ex = store
            .select_exemplars(0, 3000, &[&[Matcher::equal("job", "api")]])
            .unwrap();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].exemplars[0].labels.get("trace_id"), Some("abc"));
        assert_eq!(
            receiver.metadata()["http_requests_total"],
            FamilyMetadata {
                kind: "counter".into(),
                help: "Requests.".into(),
                unit: String::new()
            }
        );
        let s = receiver.stats();
        assert_eq!(
            (
                s.samples,
                s.exemplars,
                s.histograms_refused,
                s.requests_failed
            ),
            (3, 1, 1, 1)
        );
    }

    #[test]
    fn bad_series_and_samples_are_named_while_the_good_ones_are_committed() {
        let (store, receiver) = fixture();
        let first = proto::WriteRequest {
            timeseries: vec![proto::TimeSeries {
                labels: vec![label("__name__", "up")],
                samples: vec![sample(5000, 1.0)],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            receiver.receive(Message::V1, &snappy(&first.encode_to_vec())),
            Ok(Written {
                samples: 1,
                ..Written::default()
            })
        );
        let second = proto::WriteRequest {
            timeseries: vec![
                proto::TimeSeries {
                    labels: vec![label("__name__", "up")],
                    samples: vec![sample(4000, 1.0), sample(6000, 1.0)],
                    ..Default::default()
                },
                proto::TimeSeries {
                    labels: vec![label("__name__", "x"), label("a", "1"), label("a", "2")],
                    samples: vec![sample(1000, 1.0)],
                    ..Default::default()
                },
                proto::TimeSeries {
                    labels: vec![label("__name__", "y")],
                    samples: vec![sample(1000, 3.0)],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let e = receiver
            .receive(Message::V1, &snappy(&second.encode_to_vec()))
            .unwrap_err();
        assert_eq!(e.http_status(), 400, "bad data is not worth a retry");
        assert_eq!(e.written().samples, 2);
        let text = e.to_string();
        assert!(text.starts_with("2 problems"), "{text}");
        assert!(
            text.contains("timeseries[0]: out of order sample for up{}"),
            "{text}"
        );
        assert!(
            text.contains("timeseries[1] x{a=\"2\"}: label name \"a\" is repeated"),
            "{text}"
        );
        assert_eq!(
            stored(&store),
            [
                ("up{}".to_owned(), vec![(5000, 1.0, 0), (6000, 1.0, 0)]),
                ("y{}".to_owned(), vec![(1000, 3.0, 0)]),
            ]
        );
    }

    #[test]
    fn a_body_that_does_not_decode_is_refused_naming_the_byte_offset() {
        let (store, receiver) = fixture();
        let good = proto::TimeSeries {
            labels: vec![label("__name__", "up")],
            samples: vec![sample(1000, 1.0)],
            ..Default::default()
        }
        .encode_to_vec();
        // One good series, then a second whose sample field says 200 bytes follow.
        let mut raw = vec![0x0a, good.len() as u8];
        raw.extend(&good);
        let second_at = raw.len();
        raw.extend([0x0a, 0x04, 0x12, 0x7f, 0x09, 0x00]);
        let e = receiver.receive(Message::V1, &snappy(&raw)).unwrap_err();
        assert_eq!(e.http_status(), 400);
        let text = e.to_string();
        assert!(
            text.contains(&format!(
                "prometheus.WriteRequest: timeseries[1] at byte {second_at} does not decode"
            )),
            "{text}"
        );
        assert!(
            stored(&store).is_empty(),
            "a request that does not decode writes nothing"
        );
        let e = receiver.receive(Message::V1, b"not snappy").unwrap_err();
        assert!(e.to_string().contains("not snappy-compressed"), "{e}");
    }

    /// A 2.0 request written out by hand, byte by byte from `types.proto`'s field numbers
    /// and the specification's rules (the symbols table starts with `""`; labels are name
    /// and value references in turn): the table `["", "__name__", "test_metric_total",
    /// "job", "service1", "trace_id", "abc", "help text"]`, one counter series with help
    /// text, a created timestamp, two samples and an exemplar.
    #[test]
    fn golden_v2_request_decodes_as_the_specification_reads_it() {
        let mut raw = Vec::new();
        for s in [
            "",
            "__name__",
            "test_metric_total",
            "job",
            "service1",
            "trace_id",
            "abc",
            "help text",
        ] {
            raw.push(0x22); // field 4, length-delimited
            raw.push(s.len() as u8);
            raw.extend(s.as_bytes());
        }
        let mut series = vec![0x0a, 0x04, 1, 2, 3, 4]; // labels_refs, packed
        // samples: value 1.0 at 1000, value 2.0 at 2000
        for (v, t) in [(1.0f64, [0xe8, 0x07]), (2.0, [0xd0, 0x0f])] {
            series.extend([0x12, 0x0c, 0x09]);
            series.extend(v.to_le_bytes());
            series.push(0x10);
            series.extend(t);
        }
        // exemplar: labels_refs [5, 6], value 1.0, timestamp 1500
        series.extend([0x22, 0x10, 0x0a, 0x02, 5, 6, 0x11]);
        series.extend(1.0f64.to_le_bytes());
        series.extend([0x18, 0xdc, 0x0b]);
        // metadata: counter, help_ref 7, unit_ref 0
        series.extend([0x2a, 0x04, 0x08, 0x01, 0x18, 0x07]);
        // created_timestamp 500
        series.extend([0x30, 0xf4, 0x03]);
        raw.push(0x2a); // field 5, length-delimited
        raw.push(series.len() as u8);
        raw.extend(&series);

        let request = v2::Request::decode(raw.as_slice()).unwrap();
        assert_eq!(request.symbols.len(), 8);
        assert_eq!(request.timeseries[0].labels_refs, [1, 2, 3, 4]);
        assert_eq!(request.timeseries[0].created_timestamp, 500);

        let (store, receiver) = fixture();
        assert_eq!(
            receiver.receive(Message::V2, &snappy(&raw)),
            Ok(Written {
                samples: 2,
                histograms: 0,
                exemplars: 1
            })
        );
        assert_eq!(
            stored(&store),
            [(
                "test_metric_total{job=\"service1\"}".to_owned(),
                vec![(1000, 1.0, 500), (2000, 2.0, 500)]
            )]
        );
        assert_eq!(
            receiver.metadata()["test_metric_total"],
            FamilyMetadata {
                kind: "counter".into(),
                help: "help text".into(),
                unit: String::new()
            }
        );
        // The same series encoded by encode_v2 is the same message.
        let ours = v2::encode_v2(&[v2::Series {
            labels: Labels::from_pairs([("__name__", "test_metric_total"), ("job", "service1")]),
            samples: vec![(1000, 1.0), (2000, 2.0)],
            exemplars: vec![(Labels::from_pairs([("trace_id", "abc")]), 1.0, 1500)],
            kind: "counter".into(),
            help: "help text".into(),
            unit: String::new(),
            created_timestamp: 500,
        }]);
        assert_eq!(ours.encode_to_vec(), raw);
    }

    #[test]
    fn v2_references_past_the_symbols_table_are_bad_data_naming_the_series() {
        let (store, receiver) = fixture();
        let request = v2::Request {
            symbols: vec!["".into(), "__name__".into(), "up".into()],
            timeseries: vec![
                v2::TimeSeries {
                    labels_refs: vec![1, 9],
                    samples: vec![v2::Sample {
                        value: 1.0,
                        timestamp: 1,
                    }],
                    ..Default::default()
                },
                v2::TimeSeries {
                    labels_refs: vec![1, 2, 1],
                    ..Default::default()
                },
                v2::TimeSeries {
                    labels_refs: vec![1, 2],
                    samples: vec![v2::Sample {
                        value: 1.0,
                        timestamp: 1,
                    }],
                    ..Default::default()
                },
            ],
        };
        let e = receiver
            .receive(Message::V2, &snappy(&request.encode_to_vec()))
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(
                "timeseries[0] {}: labels_refs[1] is 9, past the symbols table's 3 entries"
            ),
            "{text}"
        );
        assert!(
            text.contains("timeseries[1] {}: labels_refs has 3 entries"),
            "{text}"
        );
        assert_eq!(e.written().samples, 1);
        assert_eq!(stored(&store), [("up{}".to_owned(), vec![(1, 1.0, 0)])]);
    }

    /// A store whose commits fail, as a full disk makes them.
    struct Full;

    struct FullAppender;

    impl Appendable for Full {
        fn appender(&self) -> Box<dyn Appender + '_> {
            Box::new(FullAppender)
        }
    }

    impl Appender for FullAppender {
        fn append(
            &mut self,
            _: Option<SeriesRef>,
            _: &Labels,
            _: i64,
            _: f64,
        ) -> Result<SeriesRef, storage::AppendError> {
            Ok(SeriesRef::MIN)
        }

        fn commit(self: Box<Self>) -> Result<(), StorageError> {
            Err(StorageError::Io {
                op: "writing",
                path: "wal/00000001".into(),
                source: std::io::Error::other("no space left on device"),
            })
        }

        fn rollback(self: Box<Self>) {}
    }

    #[test]
    fn a_store_that_cannot_commit_is_worth_a_retry() {
        let receiver = Receiver::new(Arc::new(Full));
        let request = proto::WriteRequest {
            timeseries: vec![proto::TimeSeries {
                labels: vec![label("__name__", "up")],
                samples: vec![sample(1000, 1.0)],
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = receiver
            .receive(Message::V1, &snappy(&request.encode_to_vec()))
            .unwrap_err();
        assert_eq!(e.http_status(), 503);
        assert_eq!(e.written(), Written::default());
        assert!(e.to_string().contains("no space left on device"), "{e}");
    }
}
