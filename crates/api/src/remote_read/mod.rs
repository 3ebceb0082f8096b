//! The remote read server: `POST /api/v1/read`, so that a Prometheus with `remote_read:`
//! pointing at Skywatch queries Skywatch's store as its own, with Prometheus 2.42's
//! protocol and behaviour:
//!
//! - The body is a snappy-compressed (block format) protobuf `ReadRequest`; the answer a
//!   snappy-compressed `ReadResponse` (`Content-Type: application/x-protobuf`,
//!   `Content-Encoding: snappy`), one result per query, in order, each series with its
//!   samples in the query's range.
//! - Response types: `SAMPLES` only. A request that accepts no type (as Prometheus 2.42
//!   sends) is answered with samples; one that accepts only the streamed XOR chunks
//!   (`STREAMED_XOR_CHUNKS`) is refused with 400, as Prometheus refuses a type it lacks.
//! - External labels: a query's `=` matcher on an external label with the server's value
//!   is dropped (the store does not hold external labels), and every series answered
//!   carries the external labels it lacks, as Prometheus's server does.
//! - At most [`SAMPLE_LIMIT`] samples a request (Prometheus's
//!   `--storage.remote.read-sample-limit` default); more is refused with 400.
//!
//! Bad input (not snappy, not a `ReadRequest`, a bad regex) is 400 with what is wrong; a
//! store failure is 500. The server reads the local store alone, never its own remote
//! read endpoints, so that two servers reading each other do not loop.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use model::{Labels, MatchOp, Matcher};
use prost::Message as _;

use crate::ApiState;
use crate::prometheus::blocking;

use prompb::proto;

/// The most samples one request may answer, as Prometheus's default sample limit.
pub const SAMPLE_LIMIT: usize = 50_000_000;

/// The `ReadRequest` response type `SAMPLES`.
const SAMPLES: i32 = 0;

/// Returns the remote read server's route.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/read", post(read))
        .with_state(state)
}

/// Why a request is not answered, with its HTTP status.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, message.into())
}

async fn read(State(state): State<ApiState>, body: Bytes) -> Response {
    let answered = decode(&body).and_then(|request| {
        let external = state
            .external_labels
            .as_ref()
            .map(|f| f())
            .unwrap_or_default();
        blocking(|| answer(&state, &request, &external))
    });
    match answered {
        Ok(response) => match snap::raw::Encoder::new().compress_vec(&response.encode_to_vec()) {
            Ok(body) => (
                [
                    (header::CONTENT_TYPE, "application/x-protobuf"),
                    (header::CONTENT_ENCODING, "snappy"),
                ],
                body,
            )
                .into_response(),
            Err(e) => Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Err(refusal) => refusal.into_response(),
    }
}

/// The request in `body`, checked for a response type this server writes.
fn decode(body: &[u8]) -> Result<proto::ReadRequest, Refusal> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| {
            bad(format!(
                "the body is not snappy-compressed (block format), as remote read sends it: {e}"
            ))
        })?;
    let request = proto::ReadRequest::decode(raw.as_slice())
        .map_err(|e| bad(format!("the body is not a remote read ReadRequest: {e}")))?;
    let types = &request.accepted_response_types;
    if !types.is_empty() && !types.contains(&SAMPLES) {
        return Err(bad(format!(
            "none of the accepted response types {types:?} is served: this server answers SAMPLES (0) only"
        )));
    }
    Ok(request)
}

/// Every query of `request` answered from the local store.
fn answer(
    state: &ApiState,
    request: &proto::ReadRequest,
    external: &Labels,
) -> Result<proto::ReadResponse, Refusal> {
    let mut samples = 0;
    let mut results = Vec::with_capacity(request.queries.len());
    for (i, query) in request.queries.iter().enumerate() {
        let matchers =
            matchers(&query.matchers, external).map_err(|e| bad(format!("queries[{i}]: {e}")))?;
        let querier = state
            .local
            .querier(query.start_timestamp_ms, query.end_timestamp_ms)
            .map_err(store_failed)?;
        let hints = storage::SelectHints {
            start: query.start_timestamp_ms,
            end: query.end_timestamp_ms,
            ..storage::SelectHints::default()
        };
        let mut timeseries = Vec::new();
        for series in querier.select(&hints, &matchers).map_err(store_failed)? {
            let mut series = series.map_err(store_failed)?;
            let points = series.samples.collect_vec().map_err(store_failed)?;
            samples += points.len();
            if samples > SAMPLE_LIMIT {
                return Err(bad(format!(
                    "exceeded sample limit ({SAMPLE_LIMIT}): narrow the query's matchers or time range"
                )));
            }
            timeseries.push(proto::TimeSeries {
                labels: proto::labels(&with_external(&series.labels, external)),
                samples: points
                    .iter()
                    .map(|s| proto::Sample {
                        value: s.v,
                        timestamp: s.t,
                    })
                    .collect(),
                ..Default::default()
            });
        }
        results.push(proto::QueryResult { timeseries });
    }
    Ok(proto::ReadResponse { results })
}

fn store_failed(e: storage::StorageError) -> Refusal {
    Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// A query's matchers, less the `=` matchers an external label satisfies.
fn matchers(given: &[proto::LabelMatcher], external: &Labels) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::with_capacity(given.len());
    for (i, m) in given.iter().enumerate() {
        let op = match m.r#type {
            0 => MatchOp::Equal,
            1 => MatchOp::NotEqual,
            2 => MatchOp::Regex,
            3 => MatchOp::NotRegex,
            other => {
                return Err(format!(
                    "matchers[{i}]: type {other} is not a matcher type (0 =, 1 !=, 2 =~, 3 !~)"
                ));
            }
        };
        if op == MatchOp::Equal && external.get(&m.name) == Some(m.value.as_str()) {
            continue;
        }
        let matcher = Matcher::new(op, m.name.clone(), m.value.clone())
            .map_err(|e| format!("matchers[{i}]: {}: {}", e.pattern, e.message))?;
        out.push(matcher);
    }
    Ok(out)
}

/// `labels` with the external labels it lacks.
fn with_external(labels: &Labels, external: &Labels) -> Labels {
    if external.is_empty() {
        return labels.clone();
    }
    let mut b = labels.builder();
    for e in external {
        if labels.get(e.name).is_none_or(str::is_empty) {
            b.set(e.name, e.value);
        }
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use storage::{Appendable, MemStorage};

    use super::*;

    fn request(r: &proto::ReadRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&r.encode_to_vec())
            .expect("compress")
    }

    fn query(matchers: Vec<proto::LabelMatcher>) -> proto::Query {
        proto::Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: 10_000,
            matchers,
            ..Default::default()
        }
    }

    fn eq(name: &str, value: &str) -> proto::LabelMatcher {
        proto::LabelMatcher {
            r#type: 0,
            name: name.into(),
            value: value.into(),
        }
    }

    fn state() -> ApiState {
        let store = Arc::new(MemStorage::new());
        let mut app = store.appender();
        let up = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        for t in [1_000, 2_000, 20_000] {
            app.append(None, &up, t, t as f64).expect("append");
        }
        app.commit().expect("commit");
        let mut state = ApiState::new(
            store,
            promql::engine::Engine::new(promql::engine::EngineOptions::default()),
        );
        state.external_labels = Some(Arc::new(|| Labels::from_pairs([("dc", "eu")])));
        state
    }

    #[test]
    fn answers_samples_in_range_with_external_labels() {
        let state = state();
        let r = proto::ReadRequest {
            queries: vec![query(vec![eq("__name__", "up"), eq("dc", "eu")])],
            accepted_response_types: vec![],
        };
        let req = decode(&request(&r)).map_err(|e| e.1).expect("decode");
        let got = answer(&state, &req, &Labels::from_pairs([("dc", "eu")]))
            .map_err(|e| e.1)
            .expect("answer");
        assert_eq!(got.results.len(), 1);
        let ts = &got.results[0].timeseries;
        assert_eq!(ts.len(), 1);
        let names: Vec<_> = ts[0].labels.iter().map(|l| (&*l.name, &*l.value)).collect();
        assert_eq!(names, [("__name__", "up"), ("dc", "eu"), ("job", "a")]);
        let times: Vec<_> = ts[0].samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [1_000, 2_000]);
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(
            decode(b"not snappy").err().map(|e| e.0),
            Some(StatusCode::BAD_REQUEST)
        );
        let chunks_only = proto::ReadRequest {
            queries: vec![],
            accepted_response_types: vec![1],
        };
        let e = decode(&request(&chunks_only)).expect_err("refused");
        assert!(e.1.contains("SAMPLES"), "{}", e.1);
        let bad_type = proto::LabelMatcher {
            r#type: 7,
            name: "a".into(),
            value: "b".into(),
        };
        let e = matchers(&[bad_type], &Labels::empty()).expect_err("refused");
        assert!(e.contains("matchers[0]: type 7"), "{e}");
    }
}
