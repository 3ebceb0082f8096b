//! Skywatch's HTTP APIs, one family a module, each with its own router and tests; this
//! file only assembles them. The families read what the server fills in [`ApiState`].
//!
//! - [`prometheus`]: the Prometheus HTTP API (`/api/v1/...`) and its lifecycle endpoints
//!   (`/-/healthy`, `/-/ready`, `/-/reload`), as Grafana, promtool and every Prometheus
//!   client call them.
//! - [`federate`]: `/federate`, the latest sample of matching series as text exposition,
//!   for another Prometheus to scrape.
//! - [`remote_read`]: `POST /api/v1/read`, Prometheus's remote read server.
//! - [`slo`]: `/api/v1/slos`, every SLO the server runs with its budget, burn rates and
//!   alerts now.
//! - [`otlp`]: OTLP/HTTP's receivers, `POST /v1/traces`, `/v1/metrics` and `/v1/logs`.
//! - [`jaeger`]: Jaeger's query API under `/jaeger`, over the span store.
//! - [`tempo`]: Tempo's HTTP API under `/tempo`: traces by ID, TraceQL and tag search.
//! - [`loki`]: Loki's push and its label, series and index routes, over the log store.
//! - [`remote_write`]: Prometheus's remote write receiver, `POST /api/v1/write` (1.0 and
//!   2.0).
//!
//! - [`access`]: every route's class (read, write, admin) for the server's guard, and
//!   Prometheus's `--web.enable-lifecycle` and `--web.enable-admin-api` switches.
//!
//! [`limits`] holds what the families share of the limits on queries and ingestion.
//!
//! Every answer may be compressed ([`compressed`]), as Prometheus compresses its API's.

use axum::Router;

pub mod access;
mod compression;
pub mod federate;
pub mod jaeger;
pub mod limits;
pub mod loki;
pub mod otlp;
pub mod prometheus;
mod rate;
pub mod remote_read;
pub mod remote_write;
pub mod slo;
mod span_access;
mod state;
pub mod tempo;
#[cfg(test)]
mod trace_fixtures;

pub use compression::compressed;
pub use prometheus::{
    ApiError, TargetMetadata, WalReplay, format_value, parse_duration, parse_time,
};
pub use state::*;

/// Every API family's routes over `state`.
pub fn router(state: ApiState) -> Router {
    prometheus::router(state.clone())
        .merge(federate::router(state.clone()))
        .merge(remote_read::router(state.clone()))
        .merge(slo::router(state.clone()))
        .merge(otlp::router(state.clone()))
        .merge(jaeger::router(state.clone()))
        .merge(tempo::router(state.clone()))
        .merge(loki::router(state.clone()))
        .merge(remote_write::router(state))
}
