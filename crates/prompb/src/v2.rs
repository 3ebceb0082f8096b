//! Remote write 2.0's message, `io.prometheus.write.v2.Request`, as prost messages with
//! the field numbers of Prometheus's `prompb/io/prometheus/write/v2/types.proto`, and
//! [`encode_v2`], which builds one from series.
//!
//! 2.0 writes every string once, in the request's `symbols` table (whose first entry is
//! the empty string), and refers to it by index: a series' labels are `labels_refs`, name
//! and value indexes in turn. A series also carries its metadata (type, help, unit) and
//! its created timestamp (when its counter started). No maintained crate publishes these
//! types; they are derived here as [`crate::proto`]'s 1.0 types are. Native histograms
//! are read for their timestamps only ([`crate::proto::Histogram`]).

use std::collections::HashMap;

use model::{Labels, Timestamp};

/// 2.0's `Sample` is 1.0's, field for field; its `Histogram` is read as 1.0's is.
pub use crate::proto::{Histogram, Sample};

/// The Content-Type of a 2.0 request.
pub const CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

/// A 2.0 request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// Every string the request refers to, each once; the first is `""`.
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    /// The series.
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series with its samples (or native histograms), exemplars and metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// The labels as symbol indexes: name, value, name, value..., sorted by name.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// Float samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histogram samples.
    #[prost(message, repeated, tag = "3")]
    pub histograms: Vec<Histogram>,
    /// Exemplars of the samples.
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    /// The series' type, help and unit.
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    /// When the series' counting started (ms); 0 for unknown.
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

/// An exemplar; its labels are symbol indexes as a series' are.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// The labels as symbol indexes.
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the epoch; 0 for unknown.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A series' metadata; help and unit are symbol indexes (0, the empty string, for none).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    /// The type, numbered as [`crate::proto::metric_type_name`] reads it.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The help text's index.
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    /// The unit's index.
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// The type number of a type name (`counter` is 1), 0 for one 2.0 does not know.
pub fn metric_type_number(name: &str) -> i32 {
    (1..=7)
        .find(|&n| crate::proto::metric_type_name(n) == name)
        .unwrap_or(0)
}

/// One series to encode: its labels, samples and what 2.0 carries beside them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// The labels.
    pub labels: Labels,
    /// Samples as (ms, value), oldest first.
    pub samples: Vec<(Timestamp, f64)>,
    /// Exemplars as (labels, value, ms).
    pub exemplars: Vec<(Labels, f64, Timestamp)>,
    /// The type name (`counter`), empty for none.
    pub kind: String,
    /// The help text.
    pub help: String,
    /// The unit.
    pub unit: String,
    /// When counting started (ms); 0 for unknown.
    pub created_timestamp: Timestamp,
}

/// The symbols table being built: each string once, `""` first.
#[derive(Debug)]
struct Symbols {
    table: Vec<String>,
    index: HashMap<String, u32>,
}

impl Symbols {
    fn new() -> Self {
        Self {
            table: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }

    fn of(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.table.len()).unwrap_or(u32::MAX);
        self.table.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }

    fn labels(&mut self, labels: &Labels) -> Vec<u32> {
        labels
            .iter()
            .flat_map(|l| [l.name, l.value])
            .map(|s| self.of(s))
            .collect()
    }
}

/// Builds the 2.0 request for `series` (not yet snappy-compressed): one symbols table, each
/// series' labels, samples, exemplars, metadata and created timestamp.
pub fn encode_v2(series: &[Series]) -> Request {
    let mut symbols = Symbols::new();
    let timeseries = series
        .iter()
        .map(|s| {
            let has_metadata = !(s.kind.is_empty() && s.help.is_empty() && s.unit.is_empty());
            TimeSeries {
                labels_refs: symbols.labels(&s.labels),
                samples: s
                    .samples
                    .iter()
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect(),
                histograms: Vec::new(),
                exemplars: s
                    .exemplars
                    .iter()
                    .map(|(labels, value, timestamp)| Exemplar {
                        labels_refs: symbols.labels(labels),
                        value: *value,
                        timestamp: *timestamp,
                    })
                    .collect(),
                metadata: has_metadata.then(|| Metadata {
                    r#type: metric_type_number(&s.kind),
                    help_ref: symbols.of(&s.help),
                    unit_ref: symbols.of(&s.unit),
                }),
                created_timestamp: s.created_timestamp,
            }
        })
        .collect();
    Request {
        symbols: symbols.table,
        timeseries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_string_is_written_once_after_the_empty_one() {
        let a = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "up"), ("job", "b")]);
        let r = encode_v2(&[
            Series {
                labels: a,
                samples: vec![(1000, 1.0)],
                kind: "gauge".into(),
                ..Series::default()
            },
            Series {
                labels: b,
                samples: vec![(1000, 0.0)],
                ..Series::default()
            },
        ]);
        assert_eq!(r.symbols, ["", "__name__", "up", "job", "a", "b"]);
        assert_eq!(r.timeseries[0].labels_refs, [1, 2, 3, 4]);
        assert_eq!(r.timeseries[1].labels_refs, [1, 2, 3, 5]);
        assert_eq!(
            r.timeseries[0].metadata,
            Some(Metadata {
                r#type: 2,
                help_ref: 0,
                unit_ref: 0
            })
        );
        assert_eq!(r.timeseries[1].metadata, None);
    }
}
