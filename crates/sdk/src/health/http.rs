//! The probe endpoints and the health metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use super::{Health, Report, Status};

/// Returns a router serving `/healthz`, `/readyz`, `/startupz` and `/health` for `health`.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/startupz", get(startupz))
        .route("/health", get(health_json))
        .with_state(health)
}

/// A plain-text probe answer: the verdict, then one line per component not healthy.
fn probe(ok: bool, verdict: &str, report: &Report) -> Response {
    let mut body = format!("{verdict}\n");
    for c in report
        .components
        .iter()
        .filter(|c| c.status != Status::Healthy)
    {
        body.push_str(&format!("{}: {}: {}\n", c.name, c.status, c.message));
    }
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn healthz(State(health): State<Health>) -> Response {
    let report = health.report().await;
    probe(report.is_live(), report.status.as_str(), &report)
}

async fn readyz(State(health): State<Health>) -> Response {
    if !health.is_started() {
        let report = Report {
            status: Status::Healthy,
            started: false,
            components: vec![],
        };
        return probe(false, "starting: the startup gate is not open yet", &report);
    }
    let report = health.report().await;
    let ready = report.is_ready(health.options());
    let verdict = if ready {
        "ready".to_owned()
    } else {
        format!("not ready: {}", report.status)
    };
    probe(ready, &verdict, &report)
}

async fn startupz(State(health): State<Health>) -> Response {
    let started = health.is_started();
    let report = Report {
        status: Status::Healthy,
        started,
        components: vec![],
    };
    probe(
        started,
        if started { "started" } else { "starting" },
        &report,
    )
}

async fn health_json(State(health): State<Health>) -> Response {
    let report = health.report().await;
    let code = if report.is_live() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(report),
    )
        .into_response()
}

/// Exposes the latest check results as metrics at scrape time.
#[derive(Debug)]
pub(super) struct HealthCollector {
    pub(super) health: Health,
    pub(super) prefix: Option<String>,
}

impl Collector for HealthCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let components = self.health.latest();
        let prefix = self.prefix.as_deref().unwrap_or("");
        let name = format!("{prefix}health_check_status");
        let mut family = encoder.encode_descriptor(
            &name,
            "Current state of each health check: 1 for the state it is in, 0 for the others.",
            None,
            MetricType::Gauge,
        )?;
        for c in &components {
            for state in Status::ALL {
                let labels = [("check", c.name.as_str()), ("state", state.as_str())];
                ConstGauge::new(i64::from(c.status == state))
                    .encode(family.encode_family(&labels)?)?;
            }
        }
        let name = format!("{prefix}health_check_duration_seconds");
        let mut family = encoder.encode_descriptor(
            &name,
            "How long the latest run of each health check took.",
            None,
            MetricType::Gauge,
        )?;
        for c in &components {
            ConstGauge::new(c.duration_seconds)
                .encode(family.encode_family(&[("check", c.name.as_str())])?)?;
        }
        let overall = components
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Healthy);
        let name = format!("{prefix}health_status");
        let mut family = encoder.encode_descriptor(
            &name,
            "Overall state of the node, the worst of its checks: 1 for the current state.",
            None,
            MetricType::Gauge,
        )?;
        for state in Status::ALL {
            ConstGauge::new(i64::from(overall == state))
                .encode(family.encode_family(&[("state", state.as_str())])?)?;
        }
        let name = format!("{prefix}health_started");
        let started = ConstGauge::new(i64::from(self.health.is_started()));
        started.encode(encoder.encode_descriptor(
            &name,
            "Whether the node's startup gate is open (1) or it is still starting (0).",
            None,
            started.metric_type(),
        )?)?;
        Ok(())
    }
}
