//! `GET /api/health`: every scrape target's health report, fetched now and aggregated into
//! HEALTHY, DEGRADED or CRITICAL, with the failing components.
//!
//! A target's report is at `/health` on the address its metrics are scraped from, where
//! the SDK serves it: `{"status": "healthy" | "degraded" | "unhealthy", "components":
//! [{"name", "status", "message"}, ...]}`. A target that does not answer, or answers
//! something else, is CRITICAL with the reason. The network is as bad as its worst target.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Json;
use axum::routing::get;
use serde_json::{Value, json};

/// How long a target may take to report.
const TIMEOUT: Duration = Duration::from_secs(2);

/// A state, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Healthy,
    Degraded,
    Critical,
}

impl Status {
    fn of(sdk: &str) -> Self {
        match sdk {
            "healthy" => Self::Healthy,
            "degraded" => Self::Degraded,
            _ => Self::Critical,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "HEALTHY",
            Self::Degraded => "DEGRADED",
            Self::Critical => "CRITICAL",
        }
    }
}

/// The health report's address for a scrape URL: `/health` on the same origin.
fn health_url(scrape_url: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(scrape_url).ok()?;
    url.set_path("/health");
    url.set_query(None);
    Some(url.into())
}

/// One target's report: its status and failing components, or why there is none.
async fn report(client: &reqwest::Client, scrape_url: &str) -> (Status, Vec<Value>, String) {
    let Some(url) = health_url(scrape_url) else {
        return (
            Status::Critical,
            Vec::new(),
            format!("no health address for {scrape_url}"),
        );
    };
    // The SDK answers 503 with the report when a component is unhealthy: read the body
    // whatever the status.
    let body = match client.get(&url).send().await {
        Ok(response) => response.bytes().await,
        Err(e) => return (Status::Critical, Vec::new(), format!("{url}: {e}")),
    };
    let parsed: Option<Value> = body.ok().and_then(|b| serde_json::from_slice(&b).ok());
    let Some(status) = parsed.as_ref().and_then(|v| v["status"].as_str()) else {
        return (
            Status::Critical,
            Vec::new(),
            format!("{url} answered no health report (JSON with a status)"),
        );
    };
    let failing = parsed
        .as_ref()
        .and_then(|v| v["components"].as_array())
        .into_iter()
        .flatten()
        .filter(|c| c["status"].as_str() != Some("healthy"))
        .map(|c| {
            json!({
                "name": c["name"],
                "status": Status::of(c["status"].as_str().unwrap_or("")).as_str(),
                "message": c["message"],
            })
        })
        .collect();
    (Status::of(status), failing, String::new())
}

/// The route's state: the targets, and one client for all requests (building one reads
/// the system's CA certificates).
#[derive(Clone)]
struct Sources {
    manager: Arc<scrape::ScrapeManager>,
    client: reqwest::Client,
}

async fn health(State(Sources { manager, client }): State<Sources>) -> Json<Value> {
    let mut reports = tokio::task::JoinSet::new();
    for (i, t) in manager.targets().into_iter().enumerate() {
        let client = client.clone();
        reports.spawn(async move {
            let (status, failing, error) = report(&client, &t.target.url).await;
            (i, t.target, status, failing, error)
        });
    }
    let mut nodes = Vec::new();
    while let Some(Ok(r)) = reports.join_next().await {
        nodes.push(r);
    }
    nodes.sort_by_key(|n| n.0);
    let overall = nodes.iter().map(|n| n.2).max().unwrap_or(Status::Healthy);
    let nodes: Vec<Value> = nodes
        .into_iter()
        .map(|(_, target, status, failing, error)| {
            let labels: serde_json::Map<String, Value> = target
                .labels
                .iter()
                .map(|l| (l.name.to_owned(), Value::from(l.value)))
                .collect();
            json!({
                "job": target.job,
                "labels": labels,
                "scrapeUrl": target.url,
                "status": status.as_str(),
                "failing": failing,
                "error": error,
            })
        })
        .collect();
    Json(json!({"status": overall.as_str(), "targets": nodes}))
}

/// The health route.
pub(crate) fn router(manager: Arc<scrape::ScrapeManager>) -> axum::Router {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .unwrap_or_default();
    axum::Router::new()
        .route("/api/health", get(health))
        .with_state(Sources { manager, client })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_beside_the_metrics_and_the_worst_state_wins() {
        assert_eq!(
            health_url("http://127.0.0.1:9100/metrics?x=1").as_deref(),
            Some("http://127.0.0.1:9100/health")
        );
        assert_eq!(
            [Status::Healthy, Status::Critical, Status::Degraded]
                .into_iter()
                .max(),
            Some(Status::Critical)
        );
        assert_eq!(Status::of("unhealthy"), Status::Critical);
    }
}
