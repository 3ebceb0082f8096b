//! Loki's routes over a `MemLogs`: pushes in each encoding read back line for line with
//! their structured metadata, each limit refused by name with the rest kept, and the
//! label, series and index routes in Loki's shapes.

use std::io::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use logs::{LogStore, MemLogs, Select};
use model::Matcher;
use prost::Message as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter, Timestamp};
use super::*;

/// A recent time, so that the default windows and `reject_old_samples` take it.
fn base() -> i64 {
    (now_ns() / 1_000_000_000 - 60) * 1_000_000_000
}

struct Fixture {
    app: Router,
    store: Arc<MemLogs>,
    distributor: Arc<Distributor>,
}

fn fixture(limits: Limits) -> Fixture {
    let store = Arc::new(MemLogs::new());
    let distributor = Arc::new(Distributor::new(store.clone(), limits));
    let mut state = crate::ApiState::new(
        Arc::new(storage::MemStorage::new()),
        promql::engine::Engine::new(promql::engine::EngineOptions::default()),
    );
    state.logs = Some(distributor.clone());
    state.build.version = "1.2.3".into();
    Fixture {
        app: router(state),
        store,
        distributor,
    }
}

async fn call(app: &Router, req: Request<Body>) -> (u16, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn post(app: &Router, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let mut req = Request::post("/loki/api/v1/push");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    call(app, req.body(Body::from(body)).unwrap()).await
}

async fn post_json(app: &Router, body: Value) -> (u16, String) {
    post(
        app,
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

async fn get_json(app: &Router, uri: &str) -> (u16, Value) {
    let (status, body) = call(app, Request::get(uri).body(Body::empty()).unwrap()).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Every line of the store, as (labels, timestamp, line, metadata).
fn lines(store: &MemLogs) -> Vec<(String, i64, String, String)> {
    let mut out = Vec::new();
    let select = Select::new(
        vec![Matcher::new(model::MatchOp::Regex, "job", ".+").unwrap()],
        0,
        i64::MAX,
    );
    store
        .select(&select, &mut |labels, entries| {
            for e in entries {
                out.push((
                    selector::format_labels(labels),
                    e.timestamp,
                    e.line.clone(),
                    selector::format_labels(&e.metadata),
                ));
            }
            logs::Visit::Continue
        })
        .unwrap();
    out
}

fn snappy(request: &PushRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

fn entry(ts: i64, line: &str, meta: &[(&str, &str)]) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(Timestamp {
            seconds: ts.div_euclid(1_000_000_000),
            nanos: ts.rem_euclid(1_000_000_000) as i32,
        }),
        line: line.into(),
        structured_metadata: meta
            .iter()
            .map(|(n, v)| LabelPairAdapter {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
    }
}

#[tokio::test]
async fn snappy_protobuf_pushes_keep_lines_and_structured_metadata() {
    let f = fixture(Limits::default());
    let t = base();
    let request = PushRequest {
        streams: vec![StreamAdapter {
            labels: r#"{job="node", app="api"}"#.into(),
            entries: vec![
                entry(t + 5, "second", &[]),
                entry(
                    t,
                    "first",
                    &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
                ),
            ],
        }],
    };
    let (status, body) = post(
        &f.app,
        &[("content-type", "application/x-protobuf")],
        snappy(&request),
    )
    .await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert_eq!(
        lines(&f.store),
        [
            (
                r#"{app="api", job="node"}"#.to_owned(),
                t,
                "first".to_owned(),
                r#"{trace_id="4bf92f3577b34da6a3ce929d0e0e4736"}"#.to_owned()
            ),
            (
                r#"{app="api", job="node"}"#.to_owned(),
                t + 5,
                "second".to_owned(),
                "{}".to_owned()
            ),
        ]
    );
    let figures = f.distributor.figures();
    assert_eq!((figures.received_entries, figures.received_bytes), (2, 11));
}

#[tokio::test]
async fn gzipped_json_pushes_keep_lines_and_structured_metadata() {
    let f = fixture(Limits::default());
    let t = base();
    let body = json!({"streams": [{
        "stream": {"job": "node", "level": "warn"},
        "values": [
            [t.to_string(), "disk almost full", {"trace_id": "abc", "user": "u1"}],
            [(t + 1).to_string(), "plain"],
        ]
    }]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    let (status, text) = post(
        &f.app,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        gz.finish().unwrap(),
    )
    .await;
    assert_eq!((status, text.as_str()), (204, ""));
    let got = lines(&f.store);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, r#"{job="node", level="warn"}"#);
    assert_eq!(got[0].2, "disk almost full");
    assert_eq!(got[0].3, r#"{trace_id="abc", user="u1"}"#);
    assert_eq!((got[1].1, got[1].3.as_str()), (t + 1, "{}"));
}

#[tokio::test]
async fn malformed_bodies_are_refused_naming_the_stream_entry_and_field() {
    let f = fixture(Limits::default());
    let t = base().to_string();
    let check = |body: Value, want: &'static str| {
        let app = f.app.clone();
        async move {
            let (status, text) = post_json(&app, body).await;
            assert_eq!(status, 400, "{text}");
            assert!(text.contains(want), "{want:?} not in {text:?}");
        }
    };
    check(json!({"nope": []}), "no \"streams\" array").await;
    check(
        json!({"streams": [{"stream": {"a": "b"}, "values": [[t, "x"]]}, {"stream": {"a": 1}, "values": []}]}),
        "streams[1].stream.a: label values must be strings",
    )
    .await;
    check(
        json!({"streams": [{"stream": {"a": "b"}, "values": [[t, "x"], [12, "y"]]}]}),
        "streams[0].values[1][0]: the timestamp must be a string of Unix nanoseconds",
    )
    .await;
    check(
        json!({"streams": [{"stream": {"a": "b"}, "values": [[t, "x", {"k": 1}]]}]}),
        "streams[0].values[0][2].k: structured metadata values must be strings",
    )
    .await;
    let (status, text) = post(
        &f.app,
        &[("content-type", "application/x-protobuf")],
        b"not snappy at all".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("snappy"), "{text}");
    let (status, text) = post(
        &f.app,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "br"),
        ],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 415, "{text}");
    assert!(
        lines(&f.store).is_empty(),
        "nothing of a malformed body is kept"
    );
}

#[tokio::test]
async fn limits_refuse_entries_by_name_and_keep_the_rest() {
    let f = fixture(Limits {
        max_line_size: 10,
        max_label_names_per_series: 2,
        max_label_value_length: 8,
        ..Limits::default()
    });
    let t = base();
    let now = now_ns();
    let (status, text) = post_json(
        &f.app,
        json!({"streams": [
            {"stream": {"job": "node"}, "values": [
                [t.to_string(), "short"],
                [(t + 1).to_string(), "far too long a line"],
                [(now - 8 * 24 * 3600 * 1_000_000_000i64).to_string(), "ancient"],
                [(now + 3600 * 1_000_000_000i64).to_string(), "future"],
            ]},
            {"stream": {"job": "a", "b": "c", "d": "e"}, "values": [[t.to_string(), "x"]]},
            {"stream": {"job": "a-very-long-value"}, "values": [[t.to_string(), "x"]]},
            {"stream": {}, "values": [[t.to_string(), "x"]]},
        ]}),
    )
    .await;
    assert_eq!(status, 400);
    let messages: Vec<&str> = text.lines().collect();
    assert_eq!(messages.len(), 6, "{text}");
    assert!(
        messages[0].starts_with(
            "Max entry size '10' bytes exceeded for stream '{job=\"node\"}' while adding an entry with length '19' bytes"
        ),
        "{text}"
    );
    assert!(
        messages[1].starts_with("entry for stream '{job=\"node\"}' has timestamp too old"),
        "{text}"
    );
    assert!(
        messages[2].starts_with("entry for stream '{job=\"node\"}' has timestamp too new"),
        "{text}"
    );
    assert!(
        messages[3].contains("has 3 label names; limit 2 (max_label_names_per_series)"),
        "{text}"
    );
    assert!(
        messages[4].contains("has label value too long: 'a-very-long-value'"),
        "{text}"
    );
    assert!(
        messages[5].contains("stream 3: error at least one label pair is required"),
        "{text}"
    );
    let kept = lines(&f.store);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].2, "short");
    let d = f.distributor.figures().discarded;
    assert_eq!(d["line_too_long"], (1, 19));
    assert_eq!(d["greater_than_max_sample_age"].0, 1);
    assert_eq!(d["too_far_in_future"].0, 1);
    assert_eq!(d["max_label_names_per_series"], (1, 1));
    assert_eq!(d["label_value_too_long"].0, 1);
    assert_eq!(d["missing_labels"].0, 1);
}

#[tokio::test]
async fn store_refusals_are_reported_and_the_rest_kept() {
    let f = fixture(Limits::default());
    let t = base();
    let old = t - 2 * 3600 * 1_000_000_000;
    let (status, text) = post_json(
        &f.app,
        json!({"streams": [{"stream": {"job": "node"}, "values": [
            [t.to_string(), "new"], [old.to_string(), "behind the window"]
        ]}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("entry for stream '{job=\"node\"}' has timestamp too old"),
        "{text}"
    );
    assert!(text.contains("out-of-order window is 3600s"), "{text}");
    assert_eq!(lines(&f.store).len(), 1);
    assert_eq!(f.distributor.figures().discarded["too_far_behind"], (1, 17));
}

#[tokio::test]
async fn a_push_over_the_tenants_rate_is_refused_whole_with_429() {
    let f = fixture(Limits {
        ingestion_rate_bytes: 1.0,
        ingestion_burst_bytes: 10.0,
        ..Limits::default()
    });
    let t = base();
    let push = |tenant: &'static str, line: &'static str, ts: i64| {
        let app = f.app.clone();
        async move {
            let body = json!({"streams": [{"stream": {"job": "node"}, "values": [[ts.to_string(), line]]}]});
            post(
                &app,
                &[
                    ("content-type", "application/json"),
                    ("x-scope-orgid", tenant),
                ],
                body.to_string().into_bytes(),
            )
            .await
        }
    };
    assert_eq!(push("a", "12345678", t).await.0, 204);
    let (status, text) = push("a", "12345678", t + 1).await;
    assert_eq!(status, 429);
    assert!(
        text.starts_with("Ingestion rate limit exceeded for user a (limit: 1 bytes/sec) while attempting to ingest '1' lines totaling '8' bytes"),
        "{text}"
    );
    // Another tenant has a bucket of its own.
    assert_eq!(push("b", "12345678", t + 2).await.0, 204);
    assert_eq!(lines(&f.store).len(), 2);
    assert_eq!(f.distributor.figures().discarded["rate_limited"], (1, 8));
}

async fn seeded() -> (Fixture, i64) {
    let f = fixture(Limits::default());
    let t = base();
    let streams = [
        (json!({"job": "foo", "env": "prod", "team": "alpha"}), 100),
        (json!({"job": "bar", "env": "prod", "team": "beta"}), 10),
        (json!({"job": "foo", "env": "dev", "team": "alpha"}), 1),
    ];
    let body = json!({"streams": streams.iter().map(|(labels, size)| json!({
        "stream": labels,
        "values": [[t.to_string(), "x".repeat(*size)], [(t + 1_000_000_000).to_string(), "x".repeat(*size)]],
    })).collect::<Vec<_>>()});
    assert_eq!(post_json(&f.app, body).await.0, 204);
    (f, t)
}

#[tokio::test]
async fn labels_values_and_series_answer_in_lokis_shapes() {
    let (f, t) = seeded().await;
    let (status, body) = get_json(&f.app, "/loki/api/v1/labels").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "success", "data": ["env", "job", "team"]})
    );
    let (_, body) = get_json(
        &f.app,
        "/loki/api/v1/label/job/values?query=%7Benv%3D%22prod%22%7D",
    )
    .await;
    assert_eq!(body["data"], json!(["bar", "foo"]));
    let (_, body) = get_json(
        &f.app,
        "/loki/api/v1/series?match[]=%7Bteam%3D%22alpha%22%7D&match[]=%7Bjob%3D%22bar%22%7D",
    )
    .await;
    assert_eq!(
        body,
        json!({"status": "success", "data": [
            {"env": "dev", "job": "foo", "team": "alpha"},
            {"env": "prod", "job": "bar", "team": "beta"},
            {"env": "prod", "job": "foo", "team": "alpha"},
        ]})
    );
    // POSTed as a form, and with a window that misses the lines.
    let req = Request::post("/loki/api/v1/series")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "match[]=%7Bjob%3D%22bar%22%7D&start={}&end={}",
            t - 10_000,
            t - 1
        )))
        .unwrap();
    let (status, body) = call(&f.app, req).await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"data":[],"status":"success"}"#)
    );
    let (status, body) = get_json(&f.app, "/loki/api/v1/series?match[]=%7Bjob%3D%22x%22").await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("invalid match[]"), "{body}");
}

#[tokio::test]
async fn index_stats_and_volume_aggregate_as_loki_does() {
    let (f, t) = seeded().await;
    let (_, body) = get_json(
        &f.app,
        "/loki/api/v1/index/stats?query=%7Bjob%3D%22foo%22%7D",
    )
    .await;
    assert_eq!(
        body,
        json!({"streams": 2, "chunks": 0, "entries": 4, "bytes": 202})
    );
    // The docs' example: {job="foo", env=~".+"} gives one series per job and env.
    let end = t + 2_000_000_000;
    let (_, body) = get_json(
        &f.app,
        &format!(
            "/loki/api/v1/index/volume?query=%7Bjob%3D%22foo%22%2Cenv%3D~%22.%2B%22%7D&start={t}&end={end}"
        ),
    )
    .await;
    let secs = end as f64 / 1e9;
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"env": "prod", "job": "foo"}, "value": [secs, "200"]},
            {"metric": {"env": "dev", "job": "foo"}, "value": [secs, "2"]},
        ]}})
    );
    let (_, body) = get_json(
        &f.app,
        &format!(
            "/loki/api/v1/index/volume?query=%7Benv%3D~%22.%2B%22%7D&targetLabels=team&limit=1&start={t}&end={end}"
        ),
    )
    .await;
    assert_eq!(
        body["data"]["result"],
        json!([{"metric": {"team": "alpha"}, "value": [secs, "202"]}])
    );
    let (_, body) = get_json(
        &f.app,
        &format!(
            "/loki/api/v1/index/volume?query=%7Benv%3D~%22.%2B%22%7D&aggregateBy=labels&targetLabels=env,team&start={t}&end={end}"
        ),
    )
    .await;
    assert_eq!(
        body["data"]["result"],
        json!([
            {"metric": {"env": ""}, "value": [secs, "222"]},
            {"metric": {"team": ""}, "value": [secs, "222"]},
        ])
    );
    let (_, body) = get_json(
        &f.app,
        &format!(
            "/loki/api/v1/index/volume_range?query=%7Bjob%3D%22bar%22%7D&step=1s&start={t}&end={}",
            t + 1_000_000_000
        ),
    )
    .await;
    assert_eq!(
        body,
        json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"job": "bar"}, "values": [[t as f64 / 1e9, "10"], [(t + 1_000_000_000) as f64 / 1e9, "10"]]},
        ]}})
    );
    let (status, _) = get_json(&f.app, "/loki/api/v1/index/volume").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn ready_and_buildinfo() {
    let f = fixture(Limits::default());
    let (status, body) = call(&f.app, Request::get("/ready").body(Body::empty()).unwrap()).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    let (_, body) = get_json(&f.app, "/loki/api/v1/status/buildinfo").await;
    assert_eq!(body["version"], "1.2.3");
}

#[test]
fn times_are_read_as_loki_reads_them() {
    assert_eq!(
        parse_time("1570818238000000000"),
        Some(1_570_818_238_000_000_000)
    );
    assert_eq!(parse_time("1570818238"), Some(1_570_818_238_000_000_000));
    assert_eq!(parse_time("1570818238.5"), Some(1_570_818_238_500_000_000));
    assert_eq!(
        parse_time("2019-10-11T18:23:58.000000001Z"),
        Some(1_570_818_238_000_000_001)
    );
    assert_eq!(parse_time("yesterday"), None);
}
