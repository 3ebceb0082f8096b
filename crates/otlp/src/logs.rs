//! Logs: decoded here, kept by whatever implements [`LogSink`] (the log store, when it
//! comes). Without a sink the receivers refuse log requests with an error that says logs
//! are not stored yet, rather than dropping them.

use opentelemetry_proto::tonic::logs::v1::ResourceLogs;

/// What a sink refused of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refused {
    /// How many log records it refused.
    pub records: u64,
    /// Why, for the partial success's message; `None` when nothing was refused.
    pub message: Option<String>,
}

/// Why a sink could not take a request at all.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The sink cannot take records now (disk full, shutting down); the sender may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The sink failed for good; retrying the same request does not help.
    #[error("{0}")]
    Failed(String),
}

/// Where decoded log records go.
///
/// Implementations MUST be safe to share between threads: the receivers call `append`
/// from any number of blocking threads at once. When `append` returns `Ok`, every record
/// not counted in [`Refused`] is kept (durably, for a store that promises it); when it
/// returns `Err`, none of the request's records may be kept, so that the sender's retry
/// does not duplicate them.
pub trait LogSink: Send + Sync {
    /// Keeps the records of one request, with their resources and scopes.
    fn append(&self, logs: Vec<ResourceLogs>) -> Result<Refused, LogError>;
}

/// How many log records `logs` holds.
pub fn count(logs: &[ResourceLogs]) -> usize {
    logs.iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum()
}
