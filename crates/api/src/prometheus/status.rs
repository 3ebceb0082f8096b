//! The status pages that describe how the server was started: `/api/v1/status/config`
//! (the configuration it runs with) and `/api/v1/status/walreplay` (how far the
//! write-ahead log's replay got), in Prometheus's shapes.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::{ApiState, success};

/// How far the replay of the write-ahead log got at start, as Prometheus reports it: the
/// first and last segment numbers found and the one being read. Skywatch opens its TSDB,
/// replay included, before it serves anything, so `current` is `max` by the time anyone
/// asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalReplay {
    /// The first segment replayed (0 if there was none).
    pub min: u32,
    /// The last segment replayed (0 if there was none).
    pub max: u32,
    /// The segment being replayed.
    pub current: u32,
}

/// The status routes.
pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/status/config", get(config))
        .route("/api/v1/status/walreplay", get(walreplay))
}

/// `/api/v1/status/config`: `{"yaml": <text>}`.
///
/// Prometheus answers with its loaded configuration marshalled again, every default filled
/// in and secrets replaced by `<secret>`. Skywatch answers with the text of the file it
/// loaded last, as written, comments included: its configuration types keep no record of
/// which fields were defaulted, so a re-marshalled text would invent settings the file
/// does not make. Without a configuration file the text is empty.
async fn config(State(state): State<ApiState>) -> Response {
    let yaml = state.config.as_ref().map(|f| f()).unwrap_or_default();
    success(json!({ "yaml": yaml }))
}

/// `/api/v1/status/walreplay`: `{"min", "max", "current"}`.
async fn walreplay(State(state): State<ApiState>) -> Response {
    let WalReplay { min, max, current } = state.wal_replay;
    success(json!({ "min": min, "max": max, "current": current }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::ApiState;
    use crate::prometheus::test_support::{get, state};

    async fn check(state: ApiState, uri: &str, data: Value) {
        let (status, body) = get(&crate::router(state), uri).await;
        assert_eq!(status, 200, "{uri}: {body}");
        assert_eq!(body, json!({"status": "success", "data": data}), "{uri}");
    }

    #[tokio::test]
    async fn config_is_the_loaded_text_or_empty_without_a_file() {
        check(state(), "/api/v1/status/config", json!({"yaml": ""})).await;
        let mut with_file = state();
        with_file.config = Some(Arc::new(|| "global:\n  scrape_interval: 5s\n".to_owned()));
        check(
            with_file,
            "/api/v1/status/config",
            json!({"yaml": "global:\n  scrape_interval: 5s\n"}),
        )
        .await;
    }

    #[tokio::test]
    async fn walreplay_reports_the_segments_replayed() {
        check(
            state(),
            "/api/v1/status/walreplay",
            json!({"min": 0, "max": 0, "current": 0}),
        )
        .await;
        let mut replayed = state();
        replayed.wal_replay = super::WalReplay {
            min: 3,
            max: 7,
            current: 7,
        };
        check(
            replayed,
            "/api/v1/status/walreplay",
            json!({"min": 3, "max": 7, "current": 7}),
        )
        .await;
    }
}
