//! Remote write's receiver: `POST /api/v1/write`, as Prometheus's
//! `--web.enable-remote-write-receiver` serves it, for 1.0's `prometheus.WriteRequest` and
//! 2.0's `io.prometheus.write.v2.Request`.
//!
//! The Content-Type picks the message (`application/x-protobuf` alone is 1.0;
//! `;proto=io.prometheus.write.v2.Request` is 2.0); another type or a Content-Encoding
//! other than `snappy` is `415`. The answer is `204` when all was written, and carries
//! `X-Prometheus-Remote-Write-Samples-Written`, `-Histograms-Written` and
//! `-Exemplars-Written` for both versions, on errors too. Otherwise the status says
//! whether a retry helps, as both specifications ask: `400` for bad data (the text names
//! the series, or the byte offset of what does not decode; the good series of the request
//! are written), `413` over the size limit, and `429` over the sender's ingestion rate
//! (`X-Scope-OrgID`, else the client's address; see [`crate::limits`]) or `503` when the
//! store cannot commit, the two worth a retry.
//! Decoding and appending are [`prompb::receive`]'s.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt as _;
use prompb::receive::{
    MAX_DECOMPRESSED_BYTES, Message, ReceiveError, Receiver, Written, check_encoding,
};

use crate::ApiState;
use crate::limits::Limiter;

/// The response header counting the float samples written.
pub const SAMPLES_WRITTEN: &str = "X-Prometheus-Remote-Write-Samples-Written";
/// The response header counting the native histogram samples written.
pub const HISTOGRAMS_WRITTEN: &str = "X-Prometheus-Remote-Write-Histograms-Written";
/// The response header counting the exemplars written.
pub const EXEMPLARS_WRITTEN: &str = "X-Prometheus-Remote-Write-Exemplars-Written";

/// `POST /api/v1/write`; none when the server has no receiver.
pub fn router(state: ApiState) -> Router {
    let Some(receiver) = state.remote_write else {
        return Router::new();
    };
    // The receiver's own size limit applies, with its answer, not axum's 2 MB default.
    let served: Served = (receiver, state.limits);
    Router::new()
        .route("/api/v1/write", post(write))
        .layer(DefaultBodyLimit::disable())
        .with_state(served)
}

/// What the route serves from: the receiver, and the limiter holding the senders' rates.
type Served = (Arc<Receiver>, Arc<Limiter>);

async fn write(
    State((receiver, limits)): State<Served>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let tenant = crate::otlp::tenant(&parts);
    let headers = parts.headers;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let message = match Message::from_content_type(text(header::CONTENT_TYPE))
        .and_then(|m| check_encoding(text(header::CONTENT_ENCODING)).map(|()| m))
    {
        Ok(m) => m,
        Err(e) => return answer(Err(e)),
    };
    // Snappy never grows data by more than about a sixth, so a body past the decompressed
    // limit is over it whatever it holds.
    let bytes = match http_body_util::Limited::new(body, MAX_DECOMPRESSED_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let error = if e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ReceiveError::TooLarge(format!(
                    "the request body is over {MAX_DECOMPRESSED_BYTES} bytes; send fewer samples a \
                     request (max_samples_per_send)"
                ))
            } else {
                ReceiveError::BadData {
                    message: format!("the request body could not be read: {e}"),
                    written: Written::default(),
                }
            };
            return answer(Err(error));
        }
    };
    // The rate counts the body as sent, before any work on it.
    if let Err(message) = limits.admit_remote_write(&tenant, bytes.len()) {
        return answer(Err(ReceiveError::RateLimited(message)));
    }
    // Decoding and the store's append (a write-ahead log's sync) are blocking work.
    let done = tokio::task::spawn_blocking(move || receiver.receive(message, &bytes)).await;
    answer(done.unwrap_or_else(|e| {
        Err(ReceiveError::Unavailable {
            message: format!("the write failed: {e}"),
        })
    }))
}

fn answer(result: Result<Written, ReceiveError>) -> Response {
    let (status, written, body) = match result {
        Ok(w) => (StatusCode::NO_CONTENT, w, String::new()),
        Err(e) => (
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e.written(),
            format!("{e}\n"),
        ),
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    for (name, n) in [
        (SAMPLES_WRITTEN, written.samples),
        (HISTOGRAMS_WRITTEN, written.histograms),
        (EXEMPLARS_WRITTEN, written.exemplars),
    ] {
        h.insert(name, HeaderValue::from(n));
    }
    if status != StatusCode::NO_CONTENT {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::body::Body;
    use axum::http::Request;
    use model::{Labels, Matcher};
    use prompb::{proto, v2};
    use prost::Message as _;
    use storage::{MemStorage, Queryable, SelectHints};
    use tower::ServiceExt as _;

    fn app() -> (Router, Arc<MemStorage>) {
        app_with(crate::limits::Limits::default())
    }

    fn app_with(limits: crate::limits::Limits) -> (Router, Arc<MemStorage>) {
        let store = Arc::new(MemStorage::new());
        let mut state = ApiState::new(
            store.clone(),
            promql::engine::Engine::new(promql::engine::EngineOptions::default()),
        );
        state.limits = Arc::new(Limiter::new(limits));
        state.remote_write = Some(Arc::new(Receiver::new(store.clone())));
        (router(state), store)
    }

    /// Posts `body` snappy-compressed with `content_type`; the status, the three written
    /// counts and the body.
    async fn post(
        app: &Router,
        content_type: &str,
        encoding: &str,
        body: &[u8],
    ) -> (StatusCode, [String; 3], String) {
        let body = snap::raw::Encoder::new().compress_vec(body).unwrap();
        let resp = app
            .clone()
            .oneshot(
                Request::post("/api/v1/write")
                    .header("content-type", content_type)
                    .header("content-encoding", encoding)
                    .header("x-prometheus-remote-write-version", "2.0.0")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_else(|| "missing".into())
        };
        let written = [
            header(SAMPLES_WRITTEN),
            header(HISTOGRAMS_WRITTEN),
            header(EXEMPLARS_WRITTEN),
        ];
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, written, String::from_utf8(body.to_vec()).unwrap())
    }

    fn count(store: &MemStorage) -> usize {
        let q = store.querier(i64::MIN, i64::MAX).unwrap();
        let set = q
            .select(&SelectHints::default(), &[Matcher::equal("job", "a")])
            .unwrap();
        let mut n = 0;
        for s in set {
            let mut s = s.unwrap();
            n += s.samples.collect_vec().unwrap().len();
        }
        n
    }

    #[tokio::test]
    async fn v2_is_written_with_204_and_the_written_headers() {
        let (app, store) = app();
        let request = v2::encode_v2(&[v2::Series {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            samples: vec![(1000, 1.0), (2000, 1.0)],
            exemplars: vec![(Labels::from_pairs([("trace_id", "t1")]), 1.0, 2000)],
            ..v2::Series::default()
        }]);
        let (status, written, body) =
            post(&app, v2::CONTENT_TYPE, "snappy", &request.encode_to_vec()).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(written, ["2", "0", "1"]);
        assert_eq!(count(&store), 2);
    }

    #[tokio::test]
    async fn v1_is_the_default_and_bad_data_is_400_with_what_was_written() {
        let (app, store) = app();
        let series = |t| proto::TimeSeries {
            labels: vec![
                proto::Label {
                    name: "__name__".into(),
                    value: "up".into(),
                },
                proto::Label {
                    name: "job".into(),
                    value: "a".into(),
                },
            ],
            samples: vec![proto::Sample {
                value: 1.0,
                timestamp: t,
            }],
            ..Default::default()
        };
        let request = proto::WriteRequest {
            timeseries: vec![series(5000)],
            ..Default::default()
        };
        let (status, written, _) = post(
            &app,
            "application/x-protobuf",
            "snappy",
            &request.encode_to_vec(),
        )
        .await;
        assert_eq!((status, &written[0][..]), (StatusCode::NO_CONTENT, "1"));
        let request = proto::WriteRequest {
            timeseries: vec![series(1000), series(6000)],
            ..Default::default()
        };
        let (status, written, body) = post(
            &app,
            "application/x-protobuf",
            "snappy",
            &request.encode_to_vec(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(written, ["1", "0", "0"]);
        assert!(
            body.contains("out of order sample for up{job=\"a\"}"),
            "{body}"
        );
        assert_eq!(count(&store), 2);
    }

    #[tokio::test]
    async fn an_unknown_message_or_encoding_is_415() {
        let (app, _) = app();
        let (status, written, body) = post(
            &app,
            "application/x-protobuf;proto=io.prometheus.write.v9.Request",
            "snappy",
            b"",
        )
        .await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(written, ["0", "0", "0"]);
        assert!(body.contains(v2::CONTENT_TYPE), "{body}");
        let (status, _, body) = post(&app, v2::CONTENT_TYPE, "zstd", b"").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(body.contains("Content-Encoding \"zstd\""), "{body}");
    }

    #[tokio::test]
    async fn a_sender_over_its_ingestion_rate_gets_429_and_nothing_is_written() {
        let (app, store) = app_with(crate::limits::Limits {
            remote_write_ingestion_rate_bytes: 1.0,
            remote_write_ingestion_burst_bytes: 10.0,
            ..crate::limits::Limits::default()
        });
        let request = v2::encode_v2(&[v2::Series {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            samples: vec![(1000, 1.0)],
            ..v2::Series::default()
        }]);
        let (status, written, body) =
            post(&app, v2::CONTENT_TYPE, "snappy", &request.encode_to_vec()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "a retry helps");
        assert_eq!(written, ["0", "0", "0"]);
        assert!(body.contains("--remote-write-ingestion-rate-mb"), "{body}");
        assert_eq!(count(&store), 0);
    }
}
