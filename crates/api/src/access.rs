//! Every route the server registers, with its class (read, write or admin), and the two
//! Prometheus switches that turn groups of admin routes off: `--web.enable-lifecycle`
//! (`/-/reload`, `/-/quit`) and `--web.enable-admin-api` (`/api/v1/admin/*`).
//!
//! [`classify`] is the one classifier the server's guard (`web::protect`) and its gRPC
//! listener use. A route missing from [`ROUTES`] is classified admin (fail closed), and
//! the binary's test walks every route the server's routers register and fails on one
//! that is not listed here, so a new route gets a class on purpose. docs/security.md
//! lists the same table, checked by the same test.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::IntoResponse;
use http::{Method, StatusCode};
use web::Class::{self, Admin, Read, Write};

/// One route: a method, its template as registered (axum's `{param}` syntax, with the
/// prefix it is nested under), its class and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method.
    pub method: &'static str,
    /// The route template.
    pub path: &'static str,
    /// Its class.
    pub class: Class,
    /// Who serves it (an API family, the UI, the demo).
    pub family: &'static str,
}

const fn r(method: &'static str, path: &'static str, class: Class, family: &'static str) -> Route {
    Route {
        method,
        path,
        class,
        family,
    }
}

/// The routes of `skywatch up` and `skywatch demo`, by family.
pub const ROUTES: &[Route] = &[
    // Prometheus's HTTP API and lifecycle.
    r("GET", "/api/v1/query", Read, "prometheus"),
    r("POST", "/api/v1/query", Read, "prometheus"),
    r("GET", "/api/v1/query_range", Read, "prometheus"),
    r("POST", "/api/v1/query_range", Read, "prometheus"),
    r("GET", "/api/v1/series", Read, "prometheus"),
    r("POST", "/api/v1/series", Read, "prometheus"),
    r("GET", "/api/v1/labels", Read, "prometheus"),
    r("POST", "/api/v1/labels", Read, "prometheus"),
    r("GET", "/api/v1/label/{name}/values", Read, "prometheus"),
    r("GET", "/api/v1/format_query", Read, "prometheus"),
    r("POST", "/api/v1/format_query", Read, "prometheus"),
    r("GET", "/api/v1/status/buildinfo", Read, "prometheus"),
    r("GET", "/api/v1/status/runtimeinfo", Read, "prometheus"),
    r("GET", "/api/v1/status/flags", Read, "prometheus"),
    r("GET", "/api/v1/status/tsdb", Read, "prometheus"),
    r("GET", "/api/v1/status/config", Read, "prometheus"),
    r("GET", "/api/v1/status/walreplay", Read, "prometheus"),
    r("GET", "/api/v1/metadata", Read, "prometheus"),
    r("GET", "/api/v1/query_exemplars", Read, "prometheus"),
    r("POST", "/api/v1/query_exemplars", Read, "prometheus"),
    r("GET", "/api/v1/targets", Read, "prometheus"),
    r("GET", "/api/v1/targets/metadata", Read, "prometheus"),
    r("GET", "/api/v1/alertmanagers", Read, "prometheus"),
    r("GET", "/api/v1/alerts", Read, "prometheus"),
    r("GET", "/api/v1/rules", Read, "prometheus"),
    r("GET", "/api/v1/slos", Read, "prometheus"),
    r("GET", "/federate", Read, "prometheus"),
    r("POST", "/federate", Read, "prometheus"),
    r("POST", "/api/v1/read", Read, "prometheus"),
    r("POST", "/-/reload", Admin, "prometheus"),
    r("PUT", "/-/reload", Admin, "prometheus"),
    r("POST", "/-/quit", Admin, "prometheus"),
    r("PUT", "/-/quit", Admin, "prometheus"),
    r("GET", "/-/healthy", Read, "prometheus"),
    r("GET", "/-/ready", Read, "prometheus"),
    // OTLP over HTTP.
    r("POST", "/v1/traces", Write, "otlp"),
    r("POST", "/v1/metrics", Write, "otlp"),
    r("POST", "/v1/logs", Write, "otlp"),
    // Remote write's receiver.
    r("POST", "/api/v1/write", Write, "remote_write"),
    // Jaeger's query API.
    r("GET", "/jaeger/api/services", Read, "jaeger"),
    r(
        "GET",
        "/jaeger/api/services/{service}/operations",
        Read,
        "jaeger",
    ),
    r("GET", "/jaeger/api/operations", Read, "jaeger"),
    r("GET", "/jaeger/api/traces", Read, "jaeger"),
    r("GET", "/jaeger/api/traces/{id}", Read, "jaeger"),
    r("GET", "/jaeger/api/dependencies", Read, "jaeger"),
    // Tempo's API.
    r("GET", "/tempo/api/traces/{id}", Read, "tempo"),
    r("GET", "/tempo/api/v2/traces/{id}", Read, "tempo"),
    r("GET", "/tempo/api/search", Read, "tempo"),
    r("GET", "/tempo/api/search/tags", Read, "tempo"),
    r("GET", "/tempo/api/v2/search/tags", Read, "tempo"),
    r("GET", "/tempo/api/search/tag/{tag}/values", Read, "tempo"),
    r(
        "GET",
        "/tempo/api/v2/search/tag/{tag}/values",
        Read,
        "tempo",
    ),
    r("GET", "/tempo/api/echo", Read, "tempo"),
    r("GET", "/tempo/api/status/buildinfo", Read, "tempo"),
    // Loki's API.
    r("POST", "/loki/api/v1/push", Write, "loki"),
    r("POST", "/api/prom/push", Write, "loki"),
    r("GET", "/loki/api/v1/labels", Read, "loki"),
    r("POST", "/loki/api/v1/labels", Read, "loki"),
    r("GET", "/loki/api/v1/label/{name}/values", Read, "loki"),
    r("POST", "/loki/api/v1/label/{name}/values", Read, "loki"),
    r("GET", "/loki/api/v1/series", Read, "loki"),
    r("POST", "/loki/api/v1/series", Read, "loki"),
    r("GET", "/loki/api/v1/index/stats", Read, "loki"),
    r("POST", "/loki/api/v1/index/stats", Read, "loki"),
    r("GET", "/loki/api/v1/index/volume", Read, "loki"),
    r("POST", "/loki/api/v1/index/volume", Read, "loki"),
    r("GET", "/loki/api/v1/index/volume_range", Read, "loki"),
    r("POST", "/loki/api/v1/index/volume_range", Read, "loki"),
    r("GET", "/loki/api/v1/query", Read, "loki"),
    r("POST", "/loki/api/v1/query", Read, "loki"),
    r("GET", "/loki/api/v1/query_range", Read, "loki"),
    r("POST", "/loki/api/v1/query_range", Read, "loki"),
    r("GET", "/loki/api/v1/tail", Read, "loki"),
    r("GET", "/loki/api/v1/detected_fields", Read, "loki"),
    r("POST", "/loki/api/v1/detected_fields", Read, "loki"),
    r("GET", "/loki/api/v1/patterns", Read, "loki"),
    r("POST", "/loki/api/v1/patterns", Read, "loki"),
    r("GET", "/ready", Read, "loki"),
    r("GET", "/loki/api/v1/status/buildinfo", Read, "loki"),
    // Alertmanager's API (with --alertmanager-config, and in the demo).
    r("GET", "/api/v2/alerts", Read, "alertmanager"),
    r("POST", "/api/v2/alerts", Admin, "alertmanager"),
    r("GET", "/api/v2/silences", Read, "alertmanager"),
    r("POST", "/api/v2/silences", Admin, "alertmanager"),
    r("GET", "/api/v2/silence/{id}", Read, "alertmanager"),
    r("DELETE", "/api/v2/silence/{id}", Admin, "alertmanager"),
    r("GET", "/api/v2/receivers", Read, "alertmanager"),
    r("GET", "/api/v2/status", Read, "alertmanager"),
    r("GET", "/api/v1/notifications", Read, "alertmanager"),
    // Grafana's dashboard API.
    r("GET", "/api/search", Read, "dashboards"),
    r("GET", "/api/dashboards/uid/{uid}", Read, "dashboards"),
    r("GET", "/api/dashboards/problems", Read, "dashboards"),
    // The server's own.
    r("GET", "/metrics", Read, "server"),
    r("GET", "/api/health", Read, "server"),
    r("GET", "/runbooks/{name}", Read, "server"),
    // The UI's pages and assets.
    r("GET", "/", Read, "ui"),
    r("GET", "/assets/app.js", Read, "ui"),
    r("GET", "/assets/app.css", Read, "ui"),
    r("GET", "/explore", Read, "ui"),
    r("GET", "/logs", Read, "ui"),
    r("GET", "/targets", Read, "ui"),
    r("GET", "/dashboards", Read, "ui"),
    r("GET", "/d/{*rest}", Read, "ui"),
    r("GET", "/health", Read, "ui"),
    r("GET", "/alerts", Read, "ui"),
    r("GET", "/rules", Read, "ui"),
    r("GET", "/silences", Read, "ui"),
    r("GET", "/notifications", Read, "ui"),
    r("GET", "/slos", Read, "ui"),
    r("GET", "/slos/{id}", Read, "ui"),
    r("GET", "/traces", Read, "ui"),
    r("GET", "/traces/{id}", Read, "ui"),
    // The demo's controls (skywatch demo only).
    r("GET", "/demo/nodes", Read, "demo"),
    r("POST", "/demo/nodes/{id}/{action}", Admin, "demo"),
    r("POST", "/demo/nodes/{id}/executor/{mode}", Admin, "demo"),
    r("POST", "/demo/partition", Admin, "demo"),
    r("POST", "/demo/heal", Admin, "demo"),
    r("POST", "/demo/payments/failure-rate", Admin, "demo"),
    r("POST", "/demo/p2p/failure-rate", Admin, "demo"),
    r("POST", "/demo/chaos/{layer}", Admin, "demo"),
    r("DELETE", "/demo/chaos/{layer}", Admin, "demo"),
    r("POST", "/demo/chain/halt", Admin, "demo"),
    r("POST", "/demo/chain/resume", Admin, "demo"),
    r("POST", "/demo/chain/block-time", Admin, "demo"),
    r("GET", "/demo/faults", Read, "demo"),
    r("POST", "/demo/faults/{name}", Admin, "demo"),
    r("DELETE", "/demo/faults/{name}", Admin, "demo"),
    r("POST", "/demo/coinjecture/rollback", Admin, "demo"),
    r("POST", "/demo/coinjecture/promote", Admin, "demo"),
    // The demo's webhook receiver: its own Alertmanager delivers notifications here.
    r("POST", "/demo/webhook/{receiver}", Write, "demo"),
    r("GET", "/demo/webhook", Read, "demo"),
];

/// The class of a request by its method and matched route template (`None` when no route
/// matched: the answer is a 404, a read). `HEAD` is classified as `GET`, `OPTIONS` as a
/// read (a CORS preflight carries no credentials); a route not in [`ROUTES`], and
/// anything under `/api/v1/admin/`, is admin.
pub fn classify(method: &Method, route: Option<&str>) -> Class {
    let Some(path) = route else { return Read };
    if path.starts_with("/api/v1/admin/") {
        return Admin;
    }
    if *method == Method::OPTIONS {
        return Read;
    }
    let method = if *method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == path)
        .map_or(Admin, |r| r.class)
}

/// Prometheus's switches for groups of admin routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Switches {
    /// `--web.enable-lifecycle`: `/-/reload` and `/-/quit` are served.
    pub lifecycle: bool,
    /// `--web.enable-admin-api`: `/api/v1/admin/*` is served.
    pub admin_api: bool,
}

/// Answers the switched-off routes as Prometheus does: `/-/reload` and `/-/quit` with
/// 403 "Lifecycle API is not enabled.", `/api/v1/admin/*` with 503 and the API's error
/// "admin APIs disabled". Add it after every merge, inside the guard (credentials are
/// checked first, as Prometheus checks them first).
pub fn switch(router: axum::Router, switches: Switches) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            let path = request.extensions().get::<MatchedPath>().map_or_else(
                || request.uri().path().to_owned(),
                |m| m.as_str().to_owned(),
            );
            if !switches.lifecycle && (path == "/-/reload" || path == "/-/quit") {
                return (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n").into_response();
            }
            if !switches.admin_api && path.starts_with("/api/v1/admin/") {
                // Prometheus's errorUnavailable.
                let body = serde_json::json!({
                    "status": "error",
                    "errorType": "unavailable",
                    "error": "admin APIs disabled",
                });
                return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            }
            next.run(request).await
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn unknown_routes_are_admin_and_unmatched_paths_read() {
        assert_eq!(classify(&Method::GET, Some("/api/v1/query")), Read);
        assert_eq!(classify(&Method::HEAD, Some("/api/v1/query")), Read);
        assert_eq!(classify(&Method::POST, Some("/v1/traces")), Write);
        assert_eq!(classify(&Method::POST, Some("/-/reload")), Admin);
        assert_eq!(classify(&Method::DELETE, Some("/api/v1/query")), Admin);
        assert_eq!(
            classify(&Method::GET, Some("/api/v1/admin/tsdb/snapshot")),
            Admin
        );
        assert_eq!(classify(&Method::GET, None), Read);
    }
}
