//! Loki's push (`POST /loki/api/v1/push`): the body decoded (snappy-compressed protobuf,
//! Loki clients' default, or JSON, either optionally gzip- or deflate-compressed), each
//! stream and entry checked against Loki's `limits_config` limits, the rest handed to the
//! log store, and every refusal counted and told to the client, as Loki's distributor
//! does.
//!
//! A body that cannot be decoded is refused whole (400, naming the stream and entry index
//! and the field). A stream or entry over a limit is refused alone, with Loki's wording,
//! and the rest kept; the answer is then 400 listing the refusals, one a line. The
//! ingestion rate is the exception: a request over its tenant's rate is refused whole with
//! 429, so that the client retries it later.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use logs::{Entry, LogStore, Reason, Stream};
use model::Labels;
use prost::Message as _;
use serde_json::Value;

use super::proto;
use super::selector::{format_labels, parse_labels, valid_label_name};

/// The tenant of a request without `X-Scope-OrgID`, as Loki names it with auth disabled.
pub const DEFAULT_TENANT: &str = "fake";

/// The push limits, each named as in Loki's `limits_config`, with Loki's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// The longest line, in bytes (`max_line_size`, 256KB); 0 for no limit.
    pub max_line_size: usize,
    /// The most labels a stream may have (`max_label_names_per_series`, 15).
    pub max_label_names_per_series: usize,
    /// The longest label name (`max_label_name_length`, 1024).
    pub max_label_name_length: usize,
    /// The longest label value (`max_label_value_length`, 2048).
    pub max_label_value_length: usize,
    /// The bytes (lines and structured metadata) a tenant may push per second
    /// (`ingestion_rate_mb`, 4 MiB); 0 for no limit.
    pub ingestion_rate_bytes: f64,
    /// The most bytes a tenant may push at once (`ingestion_burst_size_mb`, 6 MiB).
    pub ingestion_burst_bytes: f64,
    /// The most bytes of structured metadata an entry may carry
    /// (`max_structured_metadata_size`, 64KB).
    pub max_structured_metadata_size: usize,
    /// The most structured metadata pairs an entry may carry
    /// (`max_structured_metadata_entries_count`, 128).
    pub max_structured_metadata_entries: usize,
    /// Entries older than this are refused (`reject_old_samples_max_age`, 1 week); `None`
    /// keeps entries of any age (`reject_old_samples: false`).
    pub reject_old_samples_max_age: Option<Duration>,
    /// Entries newer than now plus this are refused (`creation_grace_period`, 10m).
    pub creation_grace_period: Duration,
    /// The largest body once decompressed (`distributor.max_recv_msg_size`, 100 MiB).
    pub max_request_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line_size: 256 << 10,
            max_label_names_per_series: 15,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
            ingestion_rate_bytes: f64::from(4u32 << 20),
            ingestion_burst_bytes: f64::from(6u32 << 20),
            max_structured_metadata_size: 64 << 10,
            max_structured_metadata_entries: 128,
            reject_old_samples_max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            creation_grace_period: Duration::from_secs(600),
            max_request_body_bytes: 100 << 20,
        }
    }
}

/// Why a push failed as a whole, with the HTTP status Loki answers it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushError {
    /// 400 (bad body, or refused entries), 413 (body too large), 415 (encoding), 429
    /// (rate), 500 or 503 (the store).
    pub status: u16,
    /// The message, one refusal a line.
    pub message: String,
}

impl PushError {
    fn bad(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
        }
    }
}

/// What one push did: entries kept, and the refusals, one message each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Entries the store kept.
    pub accepted: u64,
    /// Loki's message for each refused stream or entry.
    pub refused: Vec<String>,
}

/// What the distributor counted since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// Entries kept.
    pub received_entries: u64,
    /// Their bytes (lines).
    pub received_bytes: u64,
    /// Entries and bytes refused, by Loki's reason (`line_too_long`, `rate_limited`, ...).
    pub discarded: BTreeMap<&'static str, (u64, u64)>,
}

/// Takes pushes for the log store: Loki's distributor, in one process.
pub struct Distributor {
    store: Arc<dyn LogStore>,
    limits: Limits,
    buckets: crate::rate::Buckets,
    received_entries: AtomicU64,
    received_bytes: AtomicU64,
    discarded: Mutex<BTreeMap<&'static str, (u64, u64)>>,
}

impl std::fmt::Debug for Distributor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distributor")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// An entry refused before the store saw it, and why (Loki's reason label).
struct Discard {
    reason: &'static str,
    entries: u64,
    bytes: u64,
    message: String,
}

impl Distributor {
    /// A distributor keeping what it accepts in `store`, within `limits`.
    pub fn new(store: Arc<dyn LogStore>, limits: Limits) -> Self {
        Self {
            store,
            buckets: crate::rate::Buckets::new(
                limits.ingestion_rate_bytes,
                limits.ingestion_burst_bytes,
            ),
            limits,
            received_entries: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            discarded: Mutex::default(),
        }
    }

    /// The store it writes to (and the query routes read).
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What it counted.
    pub fn figures(&self) -> Figures {
        Figures {
            received_entries: self.received_entries.load(Ordering::Relaxed),
            received_bytes: self.received_bytes.load(Ordering::Relaxed),
            discarded: self
                .discarded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    fn count(&self, discards: &[Discard]) {
        let mut d = self
            .discarded
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for x in discards {
            let e = d.entry(x.reason).or_default();
            e.0 += x.entries;
            e.1 += x.bytes;
        }
    }

    /// Decodes a push body by its content type (`application/json`, or protobuf for
    /// anything else, as Loki decides) and encoding.
    pub fn decode(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        content_encoding: Option<&str>,
    ) -> Result<Vec<RawStream>, PushError> {
        let body = decompress(body, content_encoding, self.limits.max_request_body_bytes)?;
        let json = content_type
            .and_then(|t| t.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
        if json {
            decode_json(&body)
        } else {
            decode_protobuf(&body, self.limits.max_request_body_bytes)
        }
    }

    /// Checks and keeps a decoded push for `tenant`; `now` is Unix nanoseconds.
    pub fn push(
        &self,
        tenant: &str,
        streams: Vec<RawStream>,
        now: i64,
    ) -> Result<Pushed, PushError> {
        let mut discards = Vec::new();
        let mut valid: Vec<Stream> = Vec::new();
        for raw in streams {
            let labels = match self.stream_labels(&raw) {
                Ok(l) => l,
                Err(d) => {
                    discards.push(d);
                    continue;
                }
            };
            let shown = format_labels(&labels);
            let mut entries = Vec::with_capacity(raw.entries.len());
            for entry in raw.entries {
                match self.check_entry(&shown, &entry, now) {
                    Ok(()) => entries.push(entry),
                    Err(d) => discards.push(d),
                }
            }
            if !entries.is_empty() {
                valid.push(Stream { labels, entries });
            }
        }
        let bytes: usize = valid
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.size() + metadata_size(&e.metadata))
            .sum();
        let lines: usize = valid.iter().map(|s| s.entries.len()).sum();
        if lines > 0 && !self.buckets.allow(tenant, bytes as f64, Instant::now()) {
            discards.push(Discard {
                reason: "rate_limited",
                entries: lines as u64,
                bytes: bytes as u64,
                message: String::new(),
            });
            self.count(&discards);
            return Err(PushError {
                status: 429,
                message: format!(
                    "Ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or raise the limit (--logs-ingestion-rate-mb, --logs-ingestion-burst-size-mb)",
                    self.limits.ingestion_rate_bytes as u64
                ),
            });
        }
        let mut pushed = Pushed::default();
        if !valid.is_empty() {
            let kept = self.store.push(&valid).map_err(|e| match e {
                logs::LogError::Invalid { .. } => PushError::bad(e.to_string()),
                logs::LogError::Unavailable(_) | logs::LogError::Io(_) => PushError {
                    status: 503,
                    message: format!("the log store cannot take entries now: {e}"),
                },
                logs::LogError::Corrupt(_) => PushError {
                    status: 500,
                    message: format!("the log store failed: {e}"),
                },
            })?;
            pushed.accepted = kept.accepted;
            for r in &kept.refused {
                let stream = &valid[r.stream];
                let entry = &stream.entries[r.entry];
                discards.push(store_refusal(stream, entry, &r.reason));
            }
            let refused_bytes: u64 = kept
                .refused
                .iter()
                .map(|r| valid[r.stream].entries[r.entry].size() as u64)
                .sum();
            let all_bytes: u64 = valid
                .iter()
                .flat_map(|s| &s.entries)
                .map(|e| e.size() as u64)
                .sum();
            self.received_entries
                .fetch_add(kept.accepted, Ordering::Relaxed);
            self.received_bytes
                .fetch_add(all_bytes - refused_bytes, Ordering::Relaxed);
        }
        self.count(&discards);
        pushed.refused = discards.into_iter().map(|d| d.message).collect();
        Ok(pushed)
    }

    fn stream_labels(&self, raw: &RawStream) -> Result<Labels, Discard> {
        let bytes = raw.entries.iter().map(|e| e.size() as u64).sum();
        let discard = |reason, message: String| Discard {
            reason,
            entries: raw.entries.len() as u64,
            bytes,
            message,
        };
        let labels = match &raw.labels {
            RawLabels::Text(text) => parse_labels(text).map_err(|e| {
                discard(
                    "invalid_labels",
                    format!("stream {}: error parsing labels '{text}': {e}", raw.index),
                )
            })?,
            RawLabels::Parsed(l) => l.clone(),
        };
        if labels.is_empty() {
            return Err(discard(
                "missing_labels",
                format!(
                    "stream {}: error at least one label pair is required per stream",
                    raw.index
                ),
            ));
        }
        let shown = format_labels(&labels);
        let l = &self.limits;
        if labels.len() > l.max_label_names_per_series {
            return Err(discard(
                "max_label_names_per_series",
                format!(
                    "entry for stream '{shown}' has {} label names; limit {} (max_label_names_per_series): move some to structured metadata",
                    labels.len(),
                    l.max_label_names_per_series
                ),
            ));
        }
        for label in labels.iter() {
            if !valid_label_name(label.name) {
                return Err(discard(
                    "invalid_labels",
                    format!(
                        "stream {}: invalid label name '{}' in '{shown}': use letters, digits and _",
                        raw.index, label.name
                    ),
                ));
            }
            if label.name.len() > l.max_label_name_length {
                return Err(discard(
                    "label_name_too_long",
                    format!(
                        "stream '{shown}' has label name too long: '{}' ({} bytes; limit {}, max_label_name_length)",
                        label.name,
                        label.name.len(),
                        l.max_label_name_length
                    ),
                ));
            }
            if label.value.len() > l.max_label_value_length {
                return Err(discard(
                    "label_value_too_long",
                    format!(
                        "stream '{shown}' has label value too long: '{}' ({} bytes; limit {}, max_label_value_length)",
                        label.value,
                        label.value.len(),
                        l.max_label_value_length
                    ),
                ));
            }
        }
        Ok(labels)
    }

    fn check_entry(&self, shown: &str, e: &Entry, now: i64) -> Result<(), Discard> {
        let discard = |reason, message| {
            Err(Discard {
                reason,
                entries: 1,
                bytes: e.size() as u64,
                message,
            })
        };
        let l = &self.limits;
        if let Some(age) = l.reject_old_samples_max_age {
            let oldest = now.saturating_sub(nanos(age));
            if e.timestamp < oldest {
                return discard(
                    "greater_than_max_sample_age",
                    format!(
                        "entry for stream '{shown}' has timestamp too old: {}, oldest acceptable timestamp is: {} (reject_old_samples_max_age)",
                        rfc3339(e.timestamp),
                        rfc3339(oldest)
                    ),
                );
            }
        }
        if e.timestamp > now.saturating_add(nanos(l.creation_grace_period)) {
            return discard(
                "too_far_in_future",
                format!(
                    "entry for stream '{shown}' has timestamp too new: {} (creation_grace_period)",
                    rfc3339(e.timestamp)
                ),
            );
        }
        if l.max_line_size > 0 && e.line.len() > l.max_line_size {
            return discard(
                "line_too_long",
                format!(
                    "Max entry size '{}' bytes exceeded for stream '{shown}' while adding an entry with length '{}' bytes (max_line_size)",
                    l.max_line_size,
                    e.line.len()
                ),
            );
        }
        let size = metadata_size(&e.metadata);
        if size > l.max_structured_metadata_size {
            return discard(
                "structured_metadata_too_large",
                format!(
                    "stream '{shown}' has structured metadata too large: '{size}' bytes, limit: '{}' bytes (max_structured_metadata_size)",
                    l.max_structured_metadata_size
                ),
            );
        }
        if e.metadata.len() > l.max_structured_metadata_entries {
            return discard(
                "structured_metadata_too_many",
                format!(
                    "stream '{shown}' has too many structured metadata labels: '{}', limit: '{}' (max_structured_metadata_entries_count)",
                    e.metadata.len(),
                    l.max_structured_metadata_entries
                ),
            );
        }
        Ok(())
    }
}

/// A stream as the body gave it, before its labels are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStream {
    /// Its index in the request.
    pub index: usize,
    /// Its labels.
    pub labels: RawLabels,
    /// Its entries.
    pub entries: Vec<Entry>,
}

/// A stream's labels as the body gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLabels {
    /// Loki's text form (protobuf).
    Text(String),
    /// Pairs (JSON).
    Parsed(Labels),
}

fn store_refusal(stream: &Stream, entry: &Entry, reason: &Reason) -> Discard {
    let shown = format_labels(&stream.labels);
    let (name, message) = match reason {
        Reason::TooOld { newest, window } => (
            "too_far_behind",
            format!(
                "entry for stream '{shown}' has timestamp too old: {}, oldest acceptable timestamp is: {} (entry too far behind the stream's newest; the out-of-order window is {}s)",
                rfc3339(entry.timestamp),
                rfc3339(newest.saturating_sub(*window)),
                window / 1_000_000_000
            ),
        ),
        Reason::BeyondRetention { oldest } => (
            "greater_than_max_sample_age",
            format!(
                "entry for stream '{shown}' has timestamp too old: {}, oldest acceptable timestamp is: {} (retention)",
                rfc3339(entry.timestamp),
                rfc3339(*oldest)
            ),
        ),
        Reason::LineTooLong { size, limit } => (
            "line_too_long",
            format!(
                "Max entry size '{limit}' bytes exceeded for stream '{shown}' while adding an entry with length '{size}' bytes"
            ),
        ),
        Reason::StreamLimit { .. } => (
            "stream_limit",
            format!("entry for stream '{shown}' refused: {reason}"),
        ),
    };
    Discard {
        reason: name,
        entries: 1,
        bytes: entry.size() as u64,
        message,
    }
}

/// The bytes Loki counts for structured metadata: names and values.
fn metadata_size(metadata: &Labels) -> usize {
    metadata.iter().map(|l| l.name.len() + l.value.len()).sum()
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Unix nanoseconds now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A timestamp in RFC 3339 with nanoseconds, for messages.
fn rfc3339(ns: i64) -> String {
    if ns < 0 {
        return ns.to_string();
    }
    let t = UNIX_EPOCH + Duration::from_nanos(ns.unsigned_abs());
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Undoes `Content-Encoding` (gzip, deflate or none), within `limit` bytes.
fn decompress(body: &[u8], encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, PushError> {
    let too_large = || PushError {
        status: 413,
        message: format!(
            "the request body is larger than the limit of {limit} bytes once decompressed (max_recv_msg_size); send smaller batches"
        ),
    };
    let read = |mut r: Box<dyn std::io::Read + '_>, name: &str| {
        let mut out = Vec::new();
        (&mut r)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| PushError::bad(format!("the {name} body cannot be decompressed: {e}")))?;
        if out.len() > limit {
            return Err(too_large());
        }
        Ok(out)
    };
    match encoding.map(str::trim).filter(|e| !e.is_empty()) {
        None | Some("identity") => {
            if body.len() > limit {
                return Err(too_large());
            }
            Ok(body.to_vec())
        }
        Some(e) if e.eq_ignore_ascii_case("gzip") => {
            read(Box::new(flate2::read::GzDecoder::new(body)), "gzip")
        }
        Some(e) if e.eq_ignore_ascii_case("deflate") => {
            read(Box::new(flate2::read::ZlibDecoder::new(body)), "deflate")
        }
        Some(e) => Err(PushError {
            status: 415,
            message: format!("Content-Encoding {e:?} is not supported: send gzip, deflate or none"),
        }),
    }
}

/// Reads a snappy-compressed (block format) `PushRequest`.
fn decode_protobuf(body: &[u8], limit: usize) -> Result<Vec<RawStream>, PushError> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        PushError::bad(format!(
            "the protobuf body is not snappy-compressed (block format): {e}; send Content-Type: application/json for a JSON body"
        ))
    })?;
    if len > limit {
        return Err(PushError {
            status: 413,
            message: format!(
                "the request body is {len} bytes once decompressed, more than the limit of {limit} bytes (max_recv_msg_size); send smaller batches"
            ),
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| PushError::bad(format!("the snappy body cannot be decompressed: {e}")))?;
    let request = proto::PushRequest::decode(raw.as_slice())
        .map_err(|e| PushError::bad(format!("the body is not a Loki PushRequest: {e}")))?;
    let mut out = Vec::with_capacity(request.streams.len());
    for (si, s) in request.streams.into_iter().enumerate() {
        let mut entries = Vec::with_capacity(s.entries.len());
        for (ei, e) in s.entries.into_iter().enumerate() {
            let ts = e.timestamp.unwrap_or_default();
            if !(0..1_000_000_000).contains(&ts.nanos) {
                return Err(PushError::bad(format!(
                    "streams[{si}].entries[{ei}].timestamp: nanos {} is outside 0..999999999",
                    ts.nanos
                )));
            }
            let timestamp = ts
                .seconds
                .checked_mul(1_000_000_000)
                .and_then(|s| s.checked_add(i64::from(ts.nanos)))
                .ok_or_else(|| {
                    PushError::bad(format!(
                        "streams[{si}].entries[{ei}].timestamp: {}s is out of range",
                        ts.seconds
                    ))
                })?;
            let metadata = Labels::from_pairs(
                e.structured_metadata
                    .iter()
                    .map(|p| (p.name.as_str(), p.value.as_str())),
            );
            entries.push(Entry::new(timestamp, e.line).with_metadata(metadata));
        }
        out.push(RawStream {
            index: si,
            labels: RawLabels::Text(s.labels),
            entries,
        });
    }
    Ok(out)
}

/// Reads Loki's JSON push: `{"streams": [{"stream": {..}, "values": [["<ns>", "line",
/// {metadata}]]}]}`.
fn decode_json(body: &[u8]) -> Result<Vec<RawStream>, PushError> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| PushError::bad(format!("the body is not valid JSON: {e}")))?;
    let Some(streams) = doc.get("streams").and_then(Value::as_array) else {
        return Err(PushError::bad(
            "the body has no \"streams\" array: send {\"streams\": [{\"stream\": {...}, \"values\": [[\"<unix ns>\", \"<line>\"]]}]}",
        ));
    };
    let mut out = Vec::with_capacity(streams.len());
    for (si, s) in streams.iter().enumerate() {
        let Some(stream) = s.get("stream").and_then(Value::as_object) else {
            return Err(PushError::bad(format!(
                "streams[{si}].stream: expected an object of label names to string values"
            )));
        };
        let mut pairs = Vec::with_capacity(stream.len());
        for (k, v) in stream {
            let Some(v) = v.as_str() else {
                return Err(PushError::bad(format!(
                    "streams[{si}].stream.{k}: label values must be strings"
                )));
            };
            pairs.push((k.as_str(), v));
        }
        let labels = Labels::from_pairs(pairs);
        let Some(values) = s.get("values").and_then(Value::as_array) else {
            return Err(PushError::bad(format!(
                "streams[{si}].values: expected an array of [\"<unix ns>\", \"<line>\"] pairs"
            )));
        };
        let mut entries = Vec::with_capacity(values.len());
        for (ei, v) in values.iter().enumerate() {
            let at = |field: &str| format!("streams[{si}].values[{ei}]{field}");
            let Some(items) = v.as_array().filter(|a| (2..=3).contains(&a.len())) else {
                return Err(PushError::bad(format!(
                    "{}: expected [\"<unix ns>\", \"<line>\"] or [\"<unix ns>\", \"<line>\", {{metadata}}]",
                    at("")
                )));
            };
            let timestamp = items[0]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| {
                    PushError::bad(format!(
                        "{}: the timestamp must be a string of Unix nanoseconds, such as \"1570818238000000000\"; got {}",
                        at("[0]"),
                        items[0]
                    ))
                })?;
            let Some(line) = items[1].as_str() else {
                return Err(PushError::bad(format!(
                    "{}: the line must be a string",
                    at("[1]")
                )));
            };
            let mut entry = Entry::new(timestamp, line);
            if let Some(meta) = items.get(2) {
                let Some(meta) = meta.as_object() else {
                    return Err(PushError::bad(format!(
                        "{}: structured metadata must be an object of string values",
                        at("[2]")
                    )));
                };
                let mut pairs = Vec::with_capacity(meta.len());
                for (k, v) in meta {
                    let Some(v) = v.as_str() else {
                        return Err(PushError::bad(format!(
                            "{}.{k}: structured metadata values must be strings",
                            at("[2]")
                        )));
                    };
                    pairs.push((k.as_str(), v));
                }
                entry = entry.with_metadata(Labels::from_pairs(pairs));
            }
            entries.push(entry);
        }
        out.push(RawStream {
            index: si,
            labels: RawLabels::Parsed(labels),
            entries,
        });
    }
    Ok(out)
}
