//! Every endpoint of the SDK's router and every status path, called with `oneshot`: no
//! socket, no global state.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use skywatch_sdk::health::{CheckOptions, Health, HealthOptions, Outcome, Status, check_fn};
use skywatch_sdk::http::{HttpMetrics, MetricsLayer};
use skywatch_sdk::metrics::Registry;
use skywatch_sdk::{Config, LogWriter};
use tower::ServiceExt as _;

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

async fn call(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(app: &Router, path: &str) -> Reply {
    call(app, Request::get(path).body(Body::empty()).unwrap()).await
}

/// A node with one check of each given state and a fresh registry.
fn node(states: &[Status], options: HealthOptions) -> (skywatch_sdk::Telemetry, Router) {
    let config = Config::new("test-node", "1.0.0")
        .registry(Registry::new())
        .health(options)
        .log_writer(LogWriter::Custom(
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::sink),
        ));
    let (telemetry, _dispatch) = skywatch_sdk::build(config).unwrap();
    for (i, state) in states.iter().copied().enumerate() {
        telemetry.health().register(
            format!("c{i}"),
            check_fn(move || async move { Outcome::new(state, format!("is {state}")) }),
        );
    }
    let router = telemetry.router();
    (telemetry, router)
}

#[tokio::test]
async fn metrics_are_text_by_default_and_openmetrics_on_request() {
    let (_t, app) = node(&[], HealthOptions::default());
    let text = get(&app, "/metrics").await;
    assert_eq!(text.status, StatusCode::OK);
    assert_eq!(
        text.headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        text.text().contains("# TYPE build_info gauge\n"),
        "{}",
        text.text()
    );
    assert!(!text.text().contains("# EOF"));

    let request = Request::get("/metrics")
        .header(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .body(Body::empty())
        .unwrap();
    let om = call(&app, request).await;
    assert_eq!(
        om.headers[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.text().ends_with("# EOF\n"), "{}", om.text());
    assert!(om.text().contains("# TYPE build info\n"));
}

#[tokio::test]
async fn metrics_are_gzipped_when_accepted() {
    let (_t, app) = node(&[], HealthOptions::default());
    let plain = get(&app, "/metrics").await;
    let request = Request::get("/metrics")
        .header(header::ACCEPT_ENCODING, "gzip, deflate")
        .body(Body::empty())
        .unwrap();
    let gz = call(&app, request).await;
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    assert!(
        gz.headers[header::VARY]
            .to_str()
            .unwrap()
            .contains("Accept-Encoding")
    );
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    // Process metrics move between scrapes; the metric families do not.
    let families = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("# TYPE"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(families(&unzipped), families(&plain.text()));
    assert!(!families(&unzipped).is_empty());
}

#[tokio::test]
async fn all_healthy_is_live_ready_and_started() {
    let (_t, app) = node(
        &[Status::Healthy, Status::Healthy],
        HealthOptions::default(),
    );
    for path in ["/healthz", "/readyz", "/startupz", "/health"] {
        assert_eq!(get(&app, path).await.status, StatusCode::OK, "{path}");
    }
    assert_eq!(get(&app, "/healthz").await.text(), "healthy\n");
    assert_eq!(get(&app, "/readyz").await.text(), "ready\n");
}

#[tokio::test]
async fn degraded_fails_readiness_but_not_liveness() {
    let (_t, app) = node(
        &[Status::Healthy, Status::Degraded],
        HealthOptions::default(),
    );
    let live = get(&app, "/healthz").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.text(), "degraded\nc1: degraded: is degraded\n");
    let ready = get(&app, "/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.text(),
        "not ready: degraded\nc1: degraded: is degraded\n"
    );
    assert_eq!(get(&app, "/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn degraded_can_be_configured_ready() {
    let options = HealthOptions {
        ready_when_degraded: true,
    };
    let (_t, app) = node(&[Status::Degraded], options);
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn unhealthy_fails_every_probe() {
    let (_t, app) = node(
        &[Status::Degraded, Status::Unhealthy],
        HealthOptions::default(),
    );
    for path in ["/healthz", "/readyz", "/health"] {
        assert_eq!(
            get(&app, path).await.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}"
        );
    }
    let health = get(&app, "/health").await.json();
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["components"][1]["name"], "c1");
    assert_eq!(health["components"][1]["status"], "unhealthy");
    assert_eq!(health["components"][1]["message"], "is unhealthy");
    for key in ["duration_seconds", "checked_at", "last_change"] {
        assert!(
            !health["components"][1][key].is_null(),
            "{key} missing: {health}"
        );
    }
    // startupz is about starting, not health.
    assert_eq!(get(&app, "/startupz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_startup_gate_holds_readiness_until_opened() {
    let (telemetry, app) = node(&[Status::Healthy], HealthOptions::default());
    let gate = telemetry.health().startup_gate();
    assert_eq!(
        get(&app, "/startupz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let ready = get(&app, "/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().starts_with("starting"), "{}", ready.text());
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/health").await.json()["started"], false);
    gate.open();
    assert_eq!(get(&app, "/startupz").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/health").await.json()["started"], true);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_check_times_out_without_blocking_the_others() {
    let health = Health::default();
    let timeout = Duration::from_millis(200);
    health.register_with(
        "hangs",
        CheckOptions {
            timeout,
            cache_for: Duration::ZERO,
        },
        check_fn(std::future::pending::<Outcome>),
    );
    for (name, delay) in [("slow", 150), ("fast", 1)] {
        health.register_with(
            name,
            CheckOptions {
                timeout,
                cache_for: Duration::ZERO,
            },
            check_fn(move || async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                Outcome::healthy(format!("took {delay}ms"))
            }),
        );
    }
    let app = skywatch_sdk::health::router(health);
    let start = tokio::time::Instant::now();
    let reply = get(&app, "/health").await;
    // Run one after another, the checks would take 200 + 150 + 1 ms; concurrently, the
    // hanging one's timeout bounds the whole report (tokio's timer rounds to milliseconds).
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_millis(10),
        "{elapsed:?}"
    );
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let report = reply.json();
    let by_name = |n: &str| {
        report["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("hangs")["status"], "unhealthy");
    assert_eq!(by_name("hangs")["message"], "check timed out after 200ms");
    assert_eq!(by_name("slow")["status"], "healthy");
    assert_eq!(by_name("fast")["status"], "healthy");
    assert!(by_name("fast")["duration_seconds"].as_f64().unwrap() < 0.01);
}

#[tokio::test]
async fn health_states_are_exported_as_metrics() {
    let (_t, app) = node(
        &[Status::Healthy, Status::Degraded],
        HealthOptions::default(),
    );
    // Metrics show the latest results: none before any check has run.
    assert!(!get(&app, "/metrics").await.text().contains("check=\"c0\""));
    get(&app, "/health").await;
    let text = get(&app, "/metrics").await.text();
    for line in [
        "health_check_status{check=\"c0\",state=\"healthy\"} 1",
        "health_check_status{check=\"c1\",state=\"degraded\"} 1",
        "health_check_status{check=\"c1\",state=\"healthy\"} 0",
        "health_status{state=\"degraded\"} 1",
        "health_status{state=\"healthy\"} 0",
        "health_started 1",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(text.contains("health_check_duration_seconds{check=\"c1\"} "));
}

#[tokio::test]
async fn the_metrics_layer_records_route_templates_status_classes_and_sizes() {
    let registry = Registry::new();
    let layer = MetricsLayer::new(Arc::new(HttpMetrics::new(&registry, Some("api")).unwrap()));
    let app = Router::new()
        .route("/tasks/{id}", axum::routing::get(|| async { "0123456789" }))
        .route(
            "/fail",
            axum::routing::post(|| async { (StatusCode::BAD_GATEWAY, "upstream down") }),
        )
        // axum wraps only the routes and fallback present when `layer` is called.
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such route") })
        .layer(layer)
        .merge(skywatch_sdk::metrics_router(registry));
    for id in 0..3 {
        assert_eq!(
            get(&app, &format!("/tasks/{id}")).await.status,
            StatusCode::OK
        );
    }
    let post = Request::post("/fail").body(Body::from("12345")).unwrap();
    assert_eq!(call(&app, post).await.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        get(&app, "/no/such/path").await.status,
        StatusCode::NOT_FOUND
    );

    let text = get(&app, "/metrics").await.text();
    for line in [
        "api_http_requests_total{method=\"GET\",route=\"/tasks/{id}\",status=\"2xx\"} 3",
        "api_http_requests_total{method=\"POST\",route=\"/fail\",status=\"5xx\"} 1",
        "api_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"4xx\"} 1",
        "api_http_request_duration_seconds_count{method=\"GET\",route=\"/tasks/{id}\",status=\"2xx\"} 3",
        "api_http_response_size_bytes_sum{method=\"GET\",route=\"/tasks/{id}\",status=\"2xx\"} 30.0",
        "api_http_request_size_bytes_sum{method=\"POST\",route=\"/fail\",status=\"5xx\"} 5.0",
        "api_http_requests_in_flight{method=\"GET\",route=\"/tasks/{id}\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(
        !text.contains("/tasks/1"),
        "raw paths must never become labels"
    );
}

#[tokio::test]
async fn in_flight_counts_a_request_until_its_body_is_done() {
    let registry = Registry::new();
    let layer = MetricsLayer::new(Arc::new(HttpMetrics::new(&registry, None).unwrap()));
    let app = Router::new()
        .route("/stream", axum::routing::get(|| async { "body" }))
        .layer(layer);
    let response = app
        .clone()
        .oneshot(Request::get("/stream").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let in_flight = "http_requests_in_flight{method=\"GET\",route=\"/stream\"}";
    let text = registry.encode(skywatch_sdk::metrics::Format::Text);
    assert!(text.contains(&format!("{in_flight} 1")), "{text}");
    assert!(
        !text.contains("http_requests_total{"),
        "recorded before the body was sent"
    );
    // A client that goes away mid-response still ends the request.
    drop(response);
    let text = registry.encode(skywatch_sdk::metrics::Format::Text);
    assert!(text.contains(&format!("{in_flight} 0")), "{text}");
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/stream\",status=\"2xx\"} 1")
    );
}
