//! The `data` object of Loki's `/loki/api/v1/query` and `/loki/api/v1/query_range`
//! answers, as Loki writes it (`pkg/util/marshal`) and Grafana reads it.
//!
//! - streams: `{"resultType":"streams","result":[{"stream":{labels},"values":[["<ns>","line"],...]}]}`;
//!   with `categorize-labels` (Loki's `X-Loki-Response-Encoding-Flags` header), streams are
//!   grouped by their stream labels alone and each value carries a third element,
//!   `{"structuredMetadata":{...},"parsed":{...}}`, and `encodingFlags` says so.
//! - matrix: `{"metric":{labels},"values":[[<seconds>,"<value>"],...]}`; vector:
//!   `{"metric":{labels},"value":[<seconds>,"<value>"]}`; scalar: `[<seconds>,"<value>"]`.
//!
//! Log timestamps are strings of nanoseconds; sample timestamps are seconds as numbers and
//! values strings, formatted as Go's `strconv.FormatFloat(v, 'f', -1, 64)` (`+Inf`, `NaN`).

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};

use crate::{Labels, Stats, Value};

/// The `data` object for `value`, with stats computed from the answer alone.
pub fn data(value: &Value, categorize_labels: bool) -> Json {
    let entries = match value {
        Value::Streams(s) => s.iter().map(|s| s.entries.len() as u64).sum(),
        _ => 0,
    };
    let stats = Stats {
        entries_returned: entries,
        ..Stats::default()
    };
    data_with_stats(value, &stats, categorize_labels)
}

/// The `data` object for `value` with the evaluation's `stats`.
pub fn data_with_stats(value: &Value, stats: &Stats, categorize_labels: bool) -> Json {
    let mut data = Map::new();
    let (kind, result) = match value {
        Value::Streams(streams) => ("streams", streams_json(streams, categorize_labels)),
        Value::Matrix(series) => (
            "matrix",
            Json::Array(
                series
                    .iter()
                    .map(|s| {
                        json!({
                            "metric": labels_json(&s.labels),
                            "values": s.points.iter().map(|(t, v)| point(*t, *v)).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            ),
        ),
        Value::Vector(samples) => (
            "vector",
            Json::Array(
                samples
                    .iter()
                    .map(|s| {
                        json!({
                            "metric": labels_json(&s.labels),
                            "value": point(s.timestamp, s.value),
                        })
                    })
                    .collect(),
            ),
        ),
        Value::Scalar(x) => ("scalar", json!([0, format_value(*x)])),
    };
    data.insert("resultType".into(), kind.into());
    data.insert("result".into(), result);
    data.insert("stats".into(), stats_json(stats));
    if categorize_labels && matches!(value, Value::Streams(_)) {
        data.insert("encodingFlags".into(), json!(["categorize-labels"]));
    }
    Json::Object(data)
}

fn streams_json(streams: &[crate::StreamResult], categorize: bool) -> Json {
    if !categorize {
        return Json::Array(
            streams
                .iter()
                .map(|s| {
                    json!({
                        "stream": labels_json(&s.labels),
                        "values": s.entries.iter()
                            .map(|e| json!([e.timestamp.to_string(), e.line]))
                            .collect::<Vec<_>>(),
                    })
                })
                .collect(),
        );
    }
    let mut groups: Vec<(Labels, Vec<Json>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in streams {
        for e in &s.entries {
            let i = *index.entry(e.stream.clone()).or_insert_with(|| {
                groups.push((e.stream.clone(), Vec::new()));
                groups.len() - 1
            });
            let mut extra = Map::new();
            if !e.metadata.is_empty() {
                extra.insert("structuredMetadata".into(), labels_json(&e.metadata));
            }
            if !e.parsed.is_empty() {
                extra.insert("parsed".into(), labels_json(&e.parsed));
            }
            groups[i].1.push(json!([
                e.timestamp.to_string(),
                e.line,
                Json::Object(extra)
            ]));
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    Json::Array(
        groups
            .into_iter()
            .map(|(labels, mut values)| {
                // Entries of one stream labels group came from several result streams:
                // order them by time again, newest first unless the first two say otherwise.
                let ts = |v: &Json| {
                    v.get(0)
                        .and_then(Json::as_str)
                        .and_then(|s| s.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                let forward = values.len() > 1 && ts(&values[0]) <= ts(&values[1]);
                values.sort_by_key(|v| if forward { ts(v) } else { -ts(v) });
                json!({"stream": labels_json(&labels), "values": values})
            })
            .collect(),
    )
}

/// A label set as a JSON object.
pub fn labels_json(labels: &Labels) -> Json {
    Json::Object(
        labels
            .iter()
            .map(|l| (l.name.to_owned(), Json::String(l.value.to_owned())))
            .collect(),
    )
}

/// A sample: `[seconds, "value"]`, seconds written as Go's shortest float (`1700000010`,
/// `1700000010.5`), as Loki's encoder writes them.
fn point(ns: i64, v: f64) -> Json {
    let t = if ns % 1_000_000_000 == 0 {
        Json::from(ns / 1_000_000_000)
    } else {
        serde_json::Number::from_f64(ns as f64 / 1e9).map_or(Json::Null, Json::Number)
    };
    json!([t, format_value(v)])
}

/// A sample value as Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn stats_json(s: &Stats) -> Json {
    let per_sec = |n: u64| {
        if s.exec_time > 0.0 {
            (n as f64 / s.exec_time) as u64
        } else {
            0
        }
    };
    json!({
        "summary": {
            "bytesProcessedPerSecond": per_sec(s.bytes),
            "linesProcessedPerSecond": per_sec(s.lines),
            "totalBytesProcessed": s.bytes,
            "totalLinesProcessed": s.lines,
            "execTime": s.exec_time,
            "queueTime": 0,
            "subqueries": 0,
            "totalEntriesReturned": s.entries_returned,
            "splits": 0,
            "shards": 0,
            "totalPostFilterLines": s.post_filter_lines,
            "totalStructuredMetadataBytesProcessed": 0,
        },
        "querier": {"store": store_stats(s)},
        "ingester": {
            "totalReached": 0,
            "totalChunksMatched": 0,
            "totalBatches": 0,
            "totalLinesSent": 0,
            "store": store_stats(&Stats::default()),
        },
        "cache": {},
    })
}

fn store_stats(s: &Stats) -> Json {
    json!({
        "totalChunksRef": 0,
        "totalChunksDownloaded": 0,
        "chunksDownloadTime": 0,
        "queryReferencedStructuredMetadata": false,
        "chunk": {
            "headChunkBytes": 0,
            "headChunkLines": 0,
            "decompressedBytes": s.bytes,
            "decompressedLines": s.lines,
            "compressedBytes": 0,
            "totalDuplicates": 0,
            "postFilterLines": s.post_filter_lines,
            "headChunkStructuredMetadataBytes": 0,
            "decompressedStructuredMetadataBytes": 0,
        },
    })
}
