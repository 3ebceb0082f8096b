//! What the server talks to besides its clients: `/api/v1/targets/metadata` (what each
//! scraped target says about its metric families) and `/api/v1/alertmanagers` (where
//! alerts are sent), in Prometheus's shapes.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{ApiError, ApiState, MetricMetadata, Params, metric, selector, success};

/// One scraped target and what its HELP, TYPE and UNIT lines said, by family name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetMetadata {
    /// The target's labels (those its series get: `job`, `instance`, ...).
    pub labels: model::Labels,
    /// Its metric families' metadata, by name.
    pub metadata: BTreeMap<String, MetricMetadata>,
}

/// The routes of this family.
pub(crate) fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/targets/metadata", get(target_metadata))
        .route("/api/v1/alertmanagers", get(alertmanagers))
}

/// `/api/v1/targets/metadata`: a list of `{target, metric, type, help, unit}`, one per target
/// and family, filtered by `match_target` (a series selector the target's labels must
/// match) and `metric` (one family name; the entries then have no `metric` key, as in
/// Prometheus).
///
/// `limit` is checked as Prometheus checks it: before each target, so the last target's
/// families all come even if they overshoot it; a negative limit is no limit. Prometheus's
/// order is that of Go map iteration (random); here targets come ordered by their labels
/// and families by name.
async fn target_metadata(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> Response {
    let p = Params::new(raw, &[]);
    let limit = match p.get("limit").filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => match l.parse::<i64>() {
            Ok(n) => usize::try_from(n).ok(),
            Err(_) => return ApiError::bad_data("limit must be a number").into_response(),
        },
    };
    let matchers = match p.get("match_target").filter(|m| !m.is_empty()) {
        None => Vec::new(),
        Some(m) => match selector(m) {
            Ok(matchers) => matchers,
            Err(e) => return e.in_param("match_target").into_response(),
        },
    };
    let wanted = p.get("metric").filter(|m| !m.is_empty());
    let mut targets = state
        .target_metadata
        .as_ref()
        .map(|f| f())
        .unwrap_or_default();
    targets.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<Value> = Vec::new();
    for t in targets {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        if !matchers.iter().all(|m| m.matches_labels(&t.labels)) {
            continue;
        }
        let entry = |m: &MetricMetadata| json!({"target": metric(&t.labels), "type": m.type_name(), "help": m.help, "unit": m.unit});
        match wanted {
            Some(name) => out.extend(t.metadata.get(name).map(entry)),
            None => out.extend(t.metadata.iter().map(|(name, m)| {
                let mut e = entry(m);
                e["metric"] = Value::String(name.clone());
                e
            })),
        }
    }
    success(Value::Array(out))
}

/// `/api/v1/alertmanagers`: the URLs alerts are posted to. No Alertmanager is ever
/// dropped: Skywatch's `alerting.alertmanagers` takes static targets only, which
/// relabelling never drops.
async fn alertmanagers(State(state): State<ApiState>) -> Response {
    let urls = state
        .alertmanagers
        .as_ref()
        .map(|f| f())
        .unwrap_or_default();
    let active: Vec<Value> = urls.into_iter().map(|url| json!({"url": url})).collect();
    success(json!({"activeAlertmanagers": active, "droppedAlertmanagers": []}))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::TargetMetadata;
    use super::{ApiState, MetricMetadata};
    use crate::prometheus::test_support::{get, state};

    fn meta(kind: &str, help: &str) -> MetricMetadata {
        MetricMetadata {
            kind: kind.into(),
            help: help.into(),
            unit: String::new(),
        }
    }

    fn scraping() -> ApiState {
        let mut s = state();
        s.target_metadata = Some(Arc::new(|| {
            vec![
                TargetMetadata {
                    labels: model::Labels::from_pairs([("instance", "n2:9100"), ("job", "node")]),
                    metadata: BTreeMap::from([
                        ("up_seconds".to_owned(), meta("counter", "Uptime.")),
                        ("temp".to_owned(), meta("", "Help only.")),
                    ]),
                },
                TargetMetadata {
                    labels: model::Labels::from_pairs([("instance", "n1:9100"), ("job", "node")]),
                    metadata: BTreeMap::from([("temp".to_owned(), meta("gauge", "Degrees."))]),
                },
            ]
        }));
        s
    }

    async fn check(state: &ApiState, uri: &str, code: u16, expect: Value) {
        let (status, body) = get(&crate::router(state.clone()), uri).await;
        assert_eq!(status, code, "{uri}: {body}");
        let got = if code == 200 {
            &body["data"]
        } else {
            &body["error"]
        };
        assert_eq!(got, &expect, "{uri}");
    }

    #[tokio::test]
    async fn target_metadata_filters_and_limits_as_prometheus() {
        let s = scraping();
        let n1 = json!({"instance": "n1:9100", "job": "node"});
        let n2 = json!({"instance": "n2:9100", "job": "node"});
        check(
            &s,
            "/api/v1/targets/metadata?metric=temp",
            200,
            json!([
                {"target": n1, "type": "gauge", "help": "Degrees.", "unit": ""},
                {"target": n2, "type": "unknown", "help": "Help only.", "unit": ""},
            ]),
        )
        .await;
        check(
            &s,
            "/api/v1/targets/metadata?match_target=%7Binstance%3D%22n2%3A9100%22%7D",
            200,
            json!([
                {"target": n2, "metric": "temp", "type": "unknown", "help": "Help only.", "unit": ""},
                {"target": n2, "metric": "up_seconds", "type": "counter", "help": "Uptime.", "unit": ""},
            ]),
        )
        .await;
        // The limit is checked before each target: the second target's two entries all come.
        let (_, body) = get(
            &crate::router(s.clone()),
            "/api/v1/targets/metadata?limit=2",
        )
        .await;
        assert_eq!(body["data"].as_array().map(Vec::len), Some(3), "{body}");
        check(&s, "/api/v1/targets/metadata?limit=0", 200, json!([])).await;
        check(
            &s,
            "/api/v1/targets/metadata?limit=-1&metric=temp&match_target=%7Bjob%3D%22other%22%7D",
            200,
            json!([]),
        )
        .await;
        check(
            &s,
            "/api/v1/targets/metadata?limit=x",
            400,
            json!("limit must be a number"),
        )
        .await;
        check(
            &s,
            "/api/v1/targets/metadata?match_target=%7Bjob%3D%7D",
            400,
            json!("invalid parameter \"match_target\": 1:6: parse error: unexpected \"}\" in label matching, expected string"),
        )
        .await;
        check(&state(), "/api/v1/targets/metadata", 200, json!([])).await;
    }

    #[tokio::test]
    async fn alertmanagers_lists_where_alerts_go() {
        check(
            &state(),
            "/api/v1/alertmanagers",
            200,
            json!({"activeAlertmanagers": [], "droppedAlertmanagers": []}),
        )
        .await;
        let mut s = state();
        s.alertmanagers = Some(Arc::new(|| vec!["http://am:9093/api/v2/alerts".to_owned()]));
        check(
            &s,
            "/api/v1/alertmanagers",
            200,
            json!({"activeAlertmanagers": [{"url": "http://am:9093/api/v2/alerts"}], "droppedAlertmanagers": []}),
        )
        .await;
    }
}
