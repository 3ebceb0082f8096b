//! The trace-context layer: continues the caller's trace from `traceparent` and runs each
//! request inside a server span named after its route template.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::{MethodLabel, Route, RouteFn};

/// A tower layer that wraps each request in a `tracing` span of kind server.
///
/// The span is named `METHOD /route/{template}` and carries the OpenTelemetry HTTP semantic
/// attributes `http.request.method`, `http.route`, `url.path` and
/// `http.response.status_code`; a 5xx response or a service error marks it as an error. When
/// the request has a valid `traceparent` header, the span continues that trace.
#[derive(Clone, Default)]
pub struct TraceLayer {
    route_fn: Option<RouteFn>,
}

impl std::fmt::Debug for TraceLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceLayer")
            .field("route_fn", &self.route_fn.is_some())
            .finish()
    }
}

impl TraceLayer {
    /// Returns the layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how to find the route template of a request that axum has not matched; see
    /// [`super::MetricsLayer::with_route_fn`].
    pub fn with_route_fn(
        mut self,
        f: impl Fn(&http::Method, &http::Uri) -> Option<std::sync::Arc<str>> + Send + Sync + 'static,
    ) -> Self {
        self.route_fn = Some(std::sync::Arc::new(f));
        self
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService {
            inner,
            route_fn: self.route_fn.clone(),
        }
    }
}

/// The service produced by [`TraceLayer`].
#[derive(Clone)]
pub struct TraceService<S> {
    inner: S,
    route_fn: Option<RouteFn>,
}

impl<S> std::fmt::Debug for TraceService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for TraceService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TraceFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let route = Route::of(&request, self.route_fn.as_ref());
        let method = MethodLabel::of(request.method());
        let span = tracing::info_span!(
            "http.request",
            otel.name = format!("{} {}", method.as_str(), route.as_str()),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = method.as_str(),
            http.route = route.as_str(),
            url.path = request.uri().path(),
            http.response.status_code = tracing::field::Empty,
        );
        if !span.is_disabled() {
            let parent = crate::trace::extract(request.headers());
            // Fails only when tracing-opentelemetry is not installed; the span then simply
            // has no OpenTelemetry counterpart.
            let _ = span.set_parent(parent);
        }
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        TraceFuture { inner, span }
    }
}

pin_project! {
    /// The response future of [`TraceService`].
    pub struct TraceFuture<F> {
        #[pin]
        inner: F,
        span: Span,
    }
}

impl<F, ResBody, E> Future for TraceFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: std::fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = ready!(this.inner.poll(cx));
        match &result {
            Ok(response) => {
                let status = response.status();
                this.span
                    .record("http.response.status_code", status.as_u16());
                if status.is_server_error() {
                    this.span.record("otel.status_code", "ERROR");
                }
            }
            Err(e) => {
                this.span.record("otel.status_code", "ERROR");
                tracing::error!(error = %e, "request failed");
            }
        }
        Poll::Ready(result)
    }
}
