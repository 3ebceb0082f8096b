//! The remote write 1.0 and remote read messages (`prompb`'s `WriteRequest`, `ReadRequest`,
//! `ReadResponse` and what they hold), as prost messages, field numbers as in Prometheus's
//! `remote.proto` and `types.proto`. No maintained crate publishes these types alone; they
//! are a few plain structs, derived. Fields Skywatch neither sends nor reads (histograms,
//! chunked responses) are left out: prost skips them when decoding.

/// A series' labels as the messages carry them.
pub fn labels(labels: &model::Labels) -> Vec<Label> {
    labels
        .iter()
        .map(|l| Label {
            name: l.name.to_owned(),
            value: l.value.to_owned(),
        })
        .collect()
}

/// A request: series with their samples, and metric metadata.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric families' metadata.
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// A metric family's metadata (`prompb.MetricMetadata`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    /// `MetricType`: 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gauge histogram,
    /// 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The family's name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// The HELP text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// The UNIT.
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// An exemplar (`prompb.Exemplar`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Its labels, such as `trace_id`.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// The observed value.
    #[prost(double, tag = "2")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// One series and its samples, oldest first.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Exemplars.
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
}

/// A label.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Its name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A sample.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A remote read request: one query per selector.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    /// The queries.
    #[prost(message, repeated, tag = "1")]
    pub queries: Vec<Query>,
    /// The response types the client takes, best first; empty means samples.
    #[prost(int32, repeated, tag = "2")]
    pub accepted_response_types: Vec<i32>,
}

/// One selector over a time range.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    /// The range's start (ms).
    #[prost(int64, tag = "1")]
    pub start_timestamp_ms: i64,
    /// The range's end (ms).
    #[prost(int64, tag = "2")]
    pub end_timestamp_ms: i64,
    /// The selector's matchers.
    #[prost(message, repeated, tag = "3")]
    pub matchers: Vec<LabelMatcher>,
    /// What the caller will do with the series.
    #[prost(message, optional, tag = "4")]
    pub hints: Option<ReadHints>,
}

/// A matcher; `r#type` is 0 `=`, 1 `!=`, 2 `=~`, 3 `!~`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelMatcher {
    /// The comparison.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// The label name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// The value or pattern.
    #[prost(string, tag = "3")]
    pub value: String,
}

/// Prometheus's select hints.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadHints {
    /// The evaluation step (ms).
    #[prost(int64, tag = "1")]
    pub step_ms: i64,
    /// The function applied, such as `rate`.
    #[prost(string, tag = "2")]
    pub func: String,
    /// The evaluation's start (ms).
    #[prost(int64, tag = "3")]
    pub start_ms: i64,
    /// The evaluation's end (ms).
    #[prost(int64, tag = "4")]
    pub end_ms: i64,
    /// The surrounding aggregation's labels.
    #[prost(string, repeated, tag = "5")]
    pub grouping: Vec<String>,
    /// Whether `grouping` is a `by` list.
    #[prost(bool, tag = "6")]
    pub by: bool,
    /// The range selector's range (ms).
    #[prost(int64, tag = "7")]
    pub range_ms: i64,
}

/// The answer: one result per query, in order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    /// The results.
    #[prost(message, repeated, tag = "1")]
    pub results: Vec<QueryResult>,
}

/// The series one query matched.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryResult {
    /// The series, with their samples in the range.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}
