//! What the trace API families (Tempo's and Jaeger's) share: running span store calls off
//! the async runtime (stores are synchronous and may read files), and query strings read
//! as Go's `FormValue` reads them, since both APIs come from Go servers.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use spans::SpanStore;

use crate::ApiState;

/// Why the span store could not answer.
pub(crate) enum Unavailable {
    /// The server runs without a span store.
    NoStore,
    /// The call failed outside the store's own errors (it panicked).
    Failed(String),
}

impl Unavailable {
    /// The HTTP status that says it: 503 without a store, 500 otherwise.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Unavailable::NoStore => StatusCode::SERVICE_UNAVAILABLE,
            Unavailable::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What to tell the client.
    pub(crate) fn message(&self) -> String {
        match self {
            Unavailable::NoStore => {
                "this server keeps no spans: it runs without a span store".into()
            }
            Unavailable::Failed(e) => format!("reading spans failed: {e}"),
        }
    }
}

/// Runs `f` on the span store on a blocking thread.
pub(crate) async fn with_store<T, E>(
    state: &ApiState,
    f: impl FnOnce(&dyn SpanStore) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<Unavailable> + Send + 'static,
{
    let Some(store) = state.spans.clone() else {
        return Err(Unavailable::NoStore.into());
    };
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| Unavailable::Failed(e.to_string()))?
}

/// The query string's parameters, in order, decoded.
pub(crate) fn params(raw: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The first value of `name` when it is not empty, as Go's `FormValue` reads it.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Unix nanoseconds now.
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
