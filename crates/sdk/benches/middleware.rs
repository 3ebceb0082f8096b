//! Latency the HTTP metrics layer adds to a request (target: under 2 µs).
//!
//! Each pair serves the same request through the same service with and without
//! [`skywatch_sdk::http::MetricsLayer`], including reading the response body, which is when
//! the layer records; the difference of the pair is the layer's cost. `cargo xtask
//! bench-sdk` prints the differences.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use skywatch_sdk::http::{HttpMetrics, MetricsLayer};
use skywatch_sdk::metrics::Registry;
use tower::{Layer as _, Service, ServiceExt as _};

async fn serve<S, B>(svc: &mut S, path: &'static str)
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = svc.ready().await.unwrap().call(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap();
    std::hint::black_box(body);
}

fn layer() -> MetricsLayer {
    MetricsLayer::new(Arc::new(
        HttpMetrics::new(&Registry::new(), Some("bench")).unwrap(),
    ))
}

fn tower_service(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handler = tower::service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let mut g = c.benchmark_group("middleware_tower");
    let mut bare = handler;
    g.bench_function("bare", |b| {
        b.iter(|| rt.block_on(serve(&mut bare, "/tasks/1")))
    });
    let mut metered = layer()
        .with_route_fn(|_, _| Some(Arc::from("/tasks/{id}")))
        .layer(handler);
    g.bench_function("metered", |b| {
        b.iter(|| rt.block_on(serve(&mut metered, "/tasks/1")))
    });
    g.finish();
}

fn axum_router(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let app = || Router::new().route("/tasks/{id}", axum::routing::get(|| async { "ok" }));
    let mut g = c.benchmark_group("middleware_axum");
    let mut bare = app();
    g.bench_function("bare", |b| {
        b.iter(|| rt.block_on(serve(&mut bare, "/tasks/1")))
    });
    let mut metered = app().layer(layer());
    g.bench_function("metered", |b| {
        b.iter(|| rt.block_on(serve(&mut metered, "/tasks/1")))
    });
    g.finish();
}

criterion_group!(benches, tower_service, axum_router);
criterion_main!(benches);
