//! Skywatch's web UI: the bundle `build.rs` makes from `ui/`, embedded, and an axum router
//! that serves it.
//!
//! The UI is a single page: every UI path answers with the same `index.html`, which loads
//! `/assets/app.js` and `/assets/app.css`; the page reads the path and draws the view. The
//! assets' names carry no hash, so they are served with `no-cache` (a revalidation per
//! load: they are about 60 KB together, and the UI changes with the binary).

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;

const INDEX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ui/index.html"));
const APP_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ui/app.js"));
const APP_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ui/app.css"));

/// The paths the page itself answers, beside `/`.
pub const PAGES: [&str; 14] = [
    "/explore",
    "/logs",
    "/targets",
    "/dashboards",
    "/d/{*rest}",
    "/health",
    "/alerts",
    "/rules",
    "/silences",
    "/notifications",
    "/slos",
    "/slos/{id}",
    "/traces",
    "/traces/{id}",
];

fn asset(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}

/// The UI's routes: its pages and its assets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let page = || get(|| async { asset("text/html; charset=utf-8", INDEX) });
    let mut router = Router::new()
        .route("/", page())
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        );
    for path in PAGES {
        router = router.route(path, page());
    }
    router
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> (StatusCode, String, Vec<u8>) {
        let response = router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let kind = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, kind, body.to_vec())
    }

    #[tokio::test]
    async fn pages_answer_with_the_page_and_assets_with_the_bundle() {
        for path in [
            "/",
            "/explore",
            "/logs",
            "/targets",
            "/d/abc/network-overview",
            "/slos",
            "/slos/zerostate-task-success",
            "/traces",
            "/traces/4bf92f3577b34da6a3ce929d0e0e4736",
        ] {
            let (status, kind, body) = get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(kind.starts_with("text/html"), "{path}: {kind}");
            let html = String::from_utf8(body).unwrap();
            assert!(html.contains("/assets/app.js"), "{path}: {html}");
        }
        let (status, kind, js) = get("/assets/app.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("text/javascript"));
        // The bundle holds the UI and uPlot, minified.
        assert!(js.len() > 10_000, "{} bytes", js.len());
        let (_, kind, css) = get("/assets/app.css").await;
        assert!(kind.starts_with("text/css"));
        assert!(String::from_utf8(css).unwrap().contains(".uplot"));
        assert_eq!(get("/nope").await.0, StatusCode::NOT_FOUND);
    }
}
