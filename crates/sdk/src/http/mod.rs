//! HTTP middleware: RED metrics ([`MetricsLayer`]) and W3C trace context ([`TraceLayer`]) for
//! any tower service, axum routers included.
//!
//! Both label requests by *route template* (`/tasks/{id}`), never by raw path, so a crawler
//! requesting a million distinct URLs creates no new series. In an axum app, add the layers
//! with `Router::layer` so that axum's `MatchedPath` is in the request when they run; requests
//! that match no route (404s) are labelled `unmatched`. axum wraps only the routes and the
//! fallback that exist when `layer` is called, and its implicit 404 is not one of them: set a
//! `fallback` before the layers to count 404s. For other tower services, supply a route
//! function with [`MetricsLayer::with_route_fn`].

mod metrics;
mod trace;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use axum::extract::MatchedPath;
use http::{Method, Request};
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

pub use metrics::{HttpMetrics, MeteredBody, MetricsLayer, MetricsService};
pub use trace::{TraceLayer, TraceService};

/// Maps a request to its route template when axum's `MatchedPath` is absent.
pub type RouteFn = Arc<dyn Fn(&Method, &http::Uri) -> Option<Arc<str>> + Send + Sync>;

/// The route label of a request: a template, never a raw path.
#[derive(Clone, Debug)]
pub(crate) enum Route {
    Matched(MatchedPath),
    Custom(Arc<str>),
    Unmatched,
}

impl Route {
    pub(crate) fn of<B>(request: &Request<B>, route_fn: Option<&RouteFn>) -> Self {
        if let Some(m) = request.extensions().get::<MatchedPath>() {
            return Route::Matched(m.clone());
        }
        match route_fn.and_then(|f| f(request.method(), request.uri())) {
            Some(r) => Route::Custom(r),
            None => Route::Unmatched,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Route::Matched(m) => m.as_str(),
            Route::Custom(r) => r,
            Route::Unmatched => "unmatched",
        }
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.as_str().encode(encoder)
    }
}

/// The method label: the standard methods by name, anything else as `_OTHER`, as the
/// OpenTelemetry HTTP conventions do, so that invented methods cannot add series.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MethodLabel(&'static str);

impl MethodLabel {
    pub(crate) fn of(method: &Method) -> Self {
        Self(match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::DELETE => "DELETE",
            Method::HEAD => "HEAD",
            Method::OPTIONS => "OPTIONS",
            Method::PATCH => "PATCH",
            Method::CONNECT => "CONNECT",
            Method::TRACE => "TRACE",
            _ => "_OTHER",
        })
    }

    pub(crate) fn as_str(&self) -> &'static str {
        self.0
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
}

/// The status label: the class of the response code (`2xx`), or `error` when the service
/// failed without a response.
pub(crate) fn status_class(status: Option<http::StatusCode>) -> &'static str {
    match status.map(|s| s.as_u16() / 100) {
        Some(1) => "1xx",
        Some(2) => "2xx",
        Some(3) => "3xx",
        Some(4) => "4xx",
        Some(5) => "5xx",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(MethodLabel::of(&Method::GET).as_str(), "GET");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(MethodLabel::of(&odd).as_str(), "_OTHER");
        assert_eq!(status_class(Some(http::StatusCode::IM_A_TEAPOT)), "4xx");
        assert_eq!(status_class(None), "error");
        let req = Request::get("/tasks/123").body(()).unwrap();
        assert_eq!(Route::of(&req, None).as_str(), "unmatched");
        let f: RouteFn = Arc::new(|_, uri| {
            uri.path()
                .starts_with("/tasks/")
                .then(|| Arc::from("/tasks/{id}"))
        });
        assert_eq!(Route::of(&req, Some(&f)).as_str(), "/tasks/{id}");
    }
}
