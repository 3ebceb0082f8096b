//! The remote read messages the server reads and writes (`prompb`'s `ReadRequest`,
//! `ReadResponse` and what they hold), as prost messages with the field numbers of
//! Prometheus's `remote.proto` and `types.proto`. Defined here rather than taken from the
//! `remote` crate, which depends on the scrape configuration the API must not depend on.
//! Fields the server does not read (hints, chunked responses) are left out: prost skips
//! them when decoding.

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

/// A request: one query per selector.
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

/// One series and its samples, oldest first.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
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
