//! Response compression as Prometheus's API does it: a response is gzip- or
//! deflate-compressed when the request's `Accept-Encoding` names one of them, whatever its
//! size.
//!
//! Prometheus (`util/httputil/compression.go`) takes the first comma-separated entry that
//! is exactly `gzip` or `deflate`: an entry with parameters (`gzip;q=0.5`) is not
//! recognised and q-values are never weighed, so `deflate, gzip` gets deflate and
//! `gzip;q=1` gets no compression. tower-http weighs q-values and answers 406 when nothing
//! is acceptable; to answer as Prometheus does, the header is first rewritten to the one
//! encoding Prometheus would pick, or removed.

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::ACCEPT_ENCODING;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate as _, SizeAbove};

/// `router` with its responses compressed as Prometheus compresses its API's. A response
/// that already has a `Content-Encoding` (the self-compressing `/metrics`) is left as it
/// is, and so are images and event streams, which gain nothing from it. An empty body
/// (a 204, the answer to a HEAD) stays empty, where Prometheus would send the 20 bytes of
/// an empty gzip stream.
pub fn compressed(router: Router) -> Router {
    let worth_it = SizeAbove::new(1)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::GRPC);
    router
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .deflate(true)
                .compress_when(worth_it),
        )
        .layer(axum::middleware::map_request(as_prometheus_negotiates))
}

/// The encoding Prometheus would answer a request with this `Accept-Encoding` with.
fn prometheus_choice(accept_encoding: &str) -> Option<&'static str> {
    accept_encoding
        .split(',')
        .find_map(|e| match e.trim_matches([' ', '\t', '\n', '\r']) {
            "gzip" => Some("gzip"),
            "deflate" => Some("deflate"),
            _ => None,
        })
}

async fn as_prometheus_negotiates(mut request: Request) -> Request {
    let choice = request
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|h| h.to_str().ok())
        .and_then(prometheus_choice);
    let headers = request.headers_mut();
    match choice {
        Some(encoding) => {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(encoding));
        }
        None => {
            headers.remove(ACCEPT_ENCODING);
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode, header};
    use axum::response::IntoResponse as _;
    use axum::routing::get;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    #[test]
    fn the_first_exact_gzip_or_deflate_entry_wins() {
        for (header, expect) in [
            ("gzip", Some("gzip")),
            ("deflate, gzip", Some("deflate")),
            ("br, gzip", Some("gzip")),
            (" gzip ,deflate", Some("gzip")),
            ("gzip;q=1.0", None),
            ("identity", None),
            ("", None),
            ("x-gzip", None),
        ] {
            assert_eq!(prometheus_choice(header), expect, "{header:?}");
        }
    }

    /// A router answering 350 KB of JSON, an empty 204, an image and an answer that is
    /// already compressed.
    fn app() -> Router {
        let big = serde_json::json!({"data": vec!["some series"; 30_000]}).to_string();
        assert!(big.len() > 350_000);
        compressed(
            Router::new()
                .route("/big", get(move || async move { big.clone() }))
                .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
                .route(
                    "/png",
                    get(|| async { ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 100]) }),
                )
                .route(
                    "/gz",
                    get(|| async {
                        ([(header::CONTENT_ENCODING, "gzip")], "pretend-gzip").into_response()
                    }),
                ),
        )
    }

    async fn fetch(
        method: Method,
        uri: &str,
        accept: Option<&str>,
    ) -> (StatusCode, Option<String>, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(a) = accept {
            request = request.header(header::ACCEPT_ENCODING, a);
        }
        let response = app()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let encoding = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, encoding, body.to_vec())
    }

    #[tokio::test]
    async fn large_answers_are_gzipped_or_deflated_when_asked_and_plain_otherwise() {
        let (_, plain_encoding, plain) = fetch(Method::GET, "/big", None).await;
        assert_eq!(plain_encoding, None);
        let (status, encoding, gz) = fetch(Method::GET, "/big", Some("gzip")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(encoding.as_deref(), Some("gzip"));
        assert!(gz.len() * 20 < plain.len(), "{} bytes", gz.len());
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain);

        let (_, encoding, zlib) = fetch(Method::GET, "/big", Some("deflate, gzip")).await;
        assert_eq!(encoding.as_deref(), Some("deflate"));
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&zlib[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, plain);

        // Prometheus does not recognise an entry with a q-value; nor is anything refused.
        let (status, encoding, body) = fetch(Method::GET, "/big", Some("gzip;q=1")).await;
        assert_eq!((status, encoding), (StatusCode::OK, None));
        assert_eq!(body, plain);
        let (status, encoding, _) = fetch(Method::GET, "/big", Some("identity;q=0")).await;
        assert_eq!((status, encoding), (StatusCode::OK, None));
    }

    #[tokio::test]
    async fn empty_head_image_and_precompressed_answers_stay_sound() {
        let (status, _, body) = fetch(Method::HEAD, "/big", Some("gzip")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_empty());
        let (status, _, body) = fetch(Method::GET, "/empty", Some("gzip")).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(body.is_empty(), "{body:?}");
        let (_, encoding, body) = fetch(Method::GET, "/png", Some("gzip")).await;
        assert_eq!((encoding, body.len()), (None, 100));
        let (_, encoding, body) = fetch(Method::GET, "/gz", Some("gzip")).await;
        assert_eq!(encoding.as_deref(), Some("gzip"));
        assert_eq!(body, b"pretend-gzip");
    }
}
