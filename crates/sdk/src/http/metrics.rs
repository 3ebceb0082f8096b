//! The RED metrics layer: rate, errors and duration of every request, plus sizes and the
//! number in flight.
//!
//! A request is recorded once, when its response body has been sent in full or dropped
//! (a client that disconnects mid-body still counts), so the duration covers the whole
//! exchange and the response size is the number of bytes actually produced. The request size
//! is the body's exact size hint (`Content-Length`); a chunked upload of unknown length
//! counts its lower bound, usually 0, since counting it would mean wrapping the request body
//! and changing the inner service's request type.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Buf;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tower_layer::Layer;
use tower_service::Service;

use super::{MethodLabel, Route, RouteFn, status_class};
use crate::metrics::{RegisterError, Registry, buckets, namespaced};

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    route: Route,
    status: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct InFlightLabels {
    method: MethodLabel,
    route: Route,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The metrics of an HTTP server, registered once and shared by every [`MetricsLayer`].
///
/// | metric | type | labels |
/// |---|---|---|
/// | `<ns>_http_requests_total` | counter | method, route, status |
/// | `<ns>_http_request_duration_seconds` | histogram ([`buckets::DURATION_SECONDS`]) | method, route, status |
/// | `<ns>_http_request_size_bytes` | histogram ([`buckets::BYTES`]) | method, route, status |
/// | `<ns>_http_response_size_bytes` | histogram ([`buckets::BYTES`]) | method, route, status |
/// | `<ns>_http_requests_in_flight` | gauge | method, route |
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily<RequestLabels>,
    request_size: HistogramFamily<RequestLabels>,
    response_size: HistogramFamily<RequestLabels>,
    in_flight: Family<InFlightLabels, Gauge>,
}

impl HttpMetrics {
    /// Registers the HTTP server metrics on `registry`, prefixed with `namespace` if given.
    pub fn new(registry: &Registry, namespace: Option<&str>) -> Result<Self, RegisterError> {
        let m = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                crate::metrics::histogram(buckets::DURATION_SECONDS)
            }),
            request_size: Family::new_with_constructor(|| {
                crate::metrics::histogram(buckets::BYTES)
            }),
            response_size: Family::new_with_constructor(|| {
                crate::metrics::histogram(buckets::BYTES)
            }),
            in_flight: Family::default(),
        };
        let name = |n: &str| namespaced(namespace, n);
        registry.register(
            name("http_requests"),
            "HTTP requests served, by method, route template and status class.",
            m.requests.clone(),
        )?;
        registry.register(
            name("http_request_duration_seconds"),
            "Time from receiving an HTTP request to sending the last byte of its response.",
            m.duration.clone(),
        )?;
        registry.register(
            name("http_request_size_bytes"),
            "Size of HTTP request bodies as declared by Content-Length.",
            m.request_size.clone(),
        )?;
        registry.register(
            name("http_response_size_bytes"),
            "Size of HTTP response bodies as sent.",
            m.response_size.clone(),
        )?;
        registry.register(
            name("http_requests_in_flight"),
            "HTTP requests being served right now.",
            m.in_flight.clone(),
        )?;
        Ok(m)
    }
}

/// A tower layer recording [`HttpMetrics`] for every request.
#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<HttpMetrics>,
    route_fn: Option<RouteFn>,
}

impl std::fmt::Debug for MetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsLayer")
            .field("route_fn", &self.route_fn.is_some())
            .finish()
    }
}

impl MetricsLayer {
    /// Returns a layer recording into `metrics`.
    pub fn new(metrics: Arc<HttpMetrics>) -> Self {
        Self {
            metrics,
            route_fn: None,
        }
    }

    /// Sets how to find the route template of a request that axum has not matched, for
    /// services that are not axum routers. The function must return a template from a small
    /// fixed set, or `None` for `unmatched`.
    pub fn with_route_fn(
        mut self,
        f: impl Fn(&http::Method, &http::Uri) -> Option<Arc<str>> + Send + Sync + 'static,
    ) -> Self {
        self.route_fn = Some(Arc::new(f));
        self
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service produced by [`MetricsLayer`].
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    layer: MetricsLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let route = Route::of(&request, self.layer.route_fn.as_ref());
        let method = MethodLabel::of(request.method());
        let hint = request.body().size_hint();
        let request_size = hint.exact().unwrap_or(hint.lower());
        let in_flight = InFlightLabels { method, route };
        self.layer.metrics.in_flight.get_or_create(&in_flight).inc();
        let pending = Finish {
            metrics: self.layer.metrics.clone(),
            in_flight,
            status: "error",
            start,
            request_size,
            response_size: 0,
        };
        MetricsFuture {
            inner: self.inner.call(request),
            pending: Some(pending),
        }
    }
}

pin_project! {
    /// The response future of [`MetricsService`].
    pub struct MetricsFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Finish>,
    }
}

impl<F, ResBody, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<MeteredBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // A future polled after completion has no pending record; an error is recorded when
        // `pending` drops, with status "error".
        let mut finish = this.pending.take();
        Poll::Ready(result.map(|response| {
            if let Some(f) = finish.as_mut() {
                f.status = status_class(Some(response.status()));
            }
            response.map(|body| MeteredBody {
                inner: body,
                finish,
            })
        }))
    }
}

pin_project! {
    /// A response body that records its request's metrics when it ends or is dropped.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        finish: Option<Finish>,
    }
}

impl<B: Body> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let (Some(finish), Some(data)) = (this.finish.as_mut(), f.data_ref()) {
                    finish.response_size += data.remaining() as u64;
                }
            }
            // The end of the body, or an error that ends it: record now, not at drop.
            None | Some(Err(_)) => drop(this.finish.take()),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What is recorded when a request ends; recording happens in `Drop`, so that every path
/// out (end of body, error, cancellation, disconnect) records exactly once.
struct Finish {
    metrics: Arc<HttpMetrics>,
    in_flight: InFlightLabels,
    status: &'static str,
    start: Instant,
    request_size: u64,
    response_size: u64,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let m = &self.metrics;
        m.in_flight.get_or_create(&self.in_flight).dec();
        let labels = RequestLabels {
            method: self.in_flight.method.clone(),
            route: self.in_flight.route.clone(),
            status: self.status,
        };
        m.requests.get_or_create(&labels).inc();
        m.duration
            .get_or_create(&labels)
            .observe(self.start.elapsed().as_secs_f64());
        m.request_size
            .get_or_create(&labels)
            .observe(self.request_size as f64);
        m.response_size
            .get_or_create(&labels)
            .observe(self.response_size as f64);
    }
}
