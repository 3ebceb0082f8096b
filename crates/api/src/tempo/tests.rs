//! Tempo's HTTP API over the fixture traces: traces by ID in both encodings and both API
//! versions, read back field for field; TraceQL and tag search with the fields Grafana's
//! Tempo data source reads; tags and typed tag values; the test endpoints.

use prost::Message as _;
use serde_json::{Value, json};
use spans::{Span, Window};

use super::{TraceByIdResponse, router};
use crate::trace_fixtures::{MS, fixture, get, get_json, now_ns};

/// Spans decoded from an OTLP protobuf body, as the `otlp` crate reads them.
fn decode(resource_spans: Vec<otlp::proto::trace::v1::ResourceSpans>) -> Vec<Span> {
    let mut spans = otlp::traces::from_otlp(resource_spans, usize::MAX).spans;
    spans::normalize(&mut spans);
    spans
}

/// Spans compared field for field, floats bit for bit.
fn same(a: &[Span], b: &[Span]) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

#[tokio::test]
async fn traces_read_back_span_for_span_in_every_encoding() {
    let f = fixture();
    let store = f.state.spans.clone().unwrap();
    for id in [f.seed, f.failed, f.rich] {
        let stored = store.trace(&id, Window::ALL).unwrap();
        let proto = [("accept", "application/protobuf")];
        let (status, headers, body) = get(
            router(f.state.clone()),
            &format!("/tempo/api/traces/{id}"),
            &proto,
        )
        .await;
        assert_eq!(
            (status.as_u16(), headers["content-type"].to_str().unwrap()),
            (200, "application/protobuf")
        );
        let data = otlp::proto::trace::v1::TracesData::decode(body.as_slice()).unwrap();
        assert!(
            same(&decode(data.resource_spans), &stored),
            "{id} v1 protobuf"
        );

        let (status, _, body) = get(
            router(f.state.clone()),
            &format!("/tempo/api/v2/traces/{id}"),
            &proto,
        )
        .await;
        assert_eq!(status, 200);
        let v2 = TraceByIdResponse::decode(body.as_slice()).unwrap();
        assert!(
            same(&decode(v2.trace.unwrap().resource_spans), &stored),
            "{id} v2 protobuf"
        );
        assert!(v2.metrics.is_some());

        let (_, v1) = get_json(router(f.state.clone()), &format!("/tempo/api/traces/{id}")).await;
        let (_, v2) = get_json(
            router(f.state.clone()),
            &format!("/tempo/api/v2/traces/{id}"),
        )
        .await;
        // Tempo 1 calls the resource spans `batches`; Tempo 2 wraps the trace.
        assert_eq!(v1["batches"], v2["trace"]["resourceSpans"], "{id}");
        assert_eq!(v2["metrics"], json!({}));
        let spans_in = |json: &Value| -> usize {
            json.as_array()
                .unwrap()
                .iter()
                .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
                .map(|ss| ss["spans"].as_array().unwrap().len())
                .sum()
        };
        assert_eq!(spans_in(&v1["batches"]), stored.len());
    }
    let (_, v1) = get_json(
        router(f.state.clone()),
        &format!("/tempo/api/traces/{}", f.seed),
    )
    .await;
    let root = &v1["batches"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(root["traceId"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(root["name"], "POST /tasks");
    assert_eq!(
        v1["batches"][0]["resource"]["attributes"][0],
        json!({"key": "service.name", "value": {"stringValue": "api"}})
    );
}

#[tokio::test]
async fn missing_traces_ids_and_windows_answer_as_tempo_does() {
    let f = fixture();
    for path in ["/tempo/api/traces/ffff", "/tempo/api/v2/traces/ffff"] {
        let (status, _, body) = get(router(f.state.clone()), path, &[]).await;
        assert_eq!((status.as_u16(), body.len()), (404, 0), "{path}");
    }
    // Short hex is left-padded; base64 names the same bytes.
    for alias in ["4bf92f3577b34da6", "AAAAAAAAAABL+S81d7NNpg=="] {
        let (status, body) = get_json(
            router(f.state.clone()),
            &format!("/tempo/api/traces/{alias}"),
        )
        .await;
        assert_eq!(status, 200, "{alias}");
        assert_eq!(body["batches"].as_array().unwrap().len(), 3, "{alias}");
    }
    let (status, _, body) = get(router(f.state.clone()), "/tempo/api/traces/not-hex", &[]).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("is not a trace ID"));
    let before = f.t0 / 1_000_000_000 - 1;
    let uri = format!(
        "/tempo/api/traces/{}?start={}&end={before}",
        f.seed,
        before - 60
    );
    assert_eq!(get(router(f.state.clone()), &uri, &[]).await.0, 404);
    let uri = format!("/tempo/api/traces/{}?start=20&end=10", f.seed);
    let (status, _, body) = get(router(f.state), &uri, &[]).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("start must be before end"));
}

/// `GET /tempo/api/search?{query}`: its traces.
async fn search(state: &crate::ApiState, query: &str) -> Vec<Value> {
    let (status, body) =
        get_json(router(state.clone()), &format!("/tempo/api/search?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    assert!(body["metrics"]["inspectedTraces"].as_u64().is_some());
    body["traces"].as_array().unwrap().clone()
}

fn ids(traces: &[Value]) -> Vec<&str> {
    traces
        .iter()
        .map(|t| t["traceID"].as_str().unwrap())
        .collect()
}

fn q(traceql: &str) -> String {
    format!(
        "q={}",
        form_urlencoded::byte_serialize(traceql.as_bytes()).collect::<String>()
    )
}

const SEED: &str = "0af7651916cd43dd8448eb211c80319c";
const FAILED: &str = "00000000000000004bf92f3577b34da6";
const RICH: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn traceql_search_answers_with_tempos_fields() {
    let f = fixture();
    let s = &f.state;
    let traces = search(s, &q(r#"{ resource.service.name = "dht" }"#)).await;
    assert_eq!(ids(&traces), [FAILED, SEED]);
    assert_eq!(
        traces[1],
        json!({
            "traceID": SEED,
            "rootServiceName": "api",
            "rootTraceName": "POST /tasks",
            "startTimeUnixNano": f.t0.to_string(),
            "durationMs": 120,
            "serviceStats": {
                "api": {"spanCount": 2}, "dht": {"spanCount": 1}, "guild": {"spanCount": 1},
                "p2p": {"spanCount": 1}, "payments": {"spanCount": 1}, "task": {"spanCount": 1},
                "wasm": {"spanCount": 1},
            },
            "spanSet": traces[1]["spanSets"][0],
            "spanSets": [{
                "spans": [{
                    "spanID": "a000000000000004",
                    "name": "dht.lookup",
                    "startTimeUnixNano": (f.t0 + 12 * MS).to_string(),
                    "durationNanos": (28 * MS).to_string(),
                    "attributes": [{"key": "service.name", "value": {"stringValue": "dht"}}],
                }],
                "matched": 1,
            }],
        })
    );
    let traces = search(s, &q("{ status = error }")).await;
    assert_eq!(ids(&traces), [FAILED, RICH]);
    assert_eq!(
        traces[0]["serviceStats"]["dht"],
        json!({"spanCount": 1, "errorCount": 1})
    );
    assert_eq!(traces[0]["spanSets"][0]["matched"], 2);
    assert_eq!(
        traces[0]["spanSets"][0]["spans"][0]["attributes"],
        json!([{"key": "status", "value": {"stringValue": "error"}}])
    );
    // The conformance span has a parent but no root in its trace.
    assert_eq!(traces[1]["rootServiceName"], "<root span not yet received>");

    let traces = search(s, &q("{ } | count() > 5")).await;
    assert_eq!(ids(&traces), [SEED]);
    let set = &traces[0]["spanSets"][0];
    assert_eq!(
        (
            set["matched"].as_u64(),
            set["spans"].as_array().unwrap().len()
        ),
        (Some(8), 3)
    );
    assert_eq!(
        set["attributes"],
        json!([{"key": "count()", "value": {"intValue": "8"}}])
    );
    let traces = search(s, &format!("{}&spss=2", q("{ } | avg(duration) > 10ms"))).await;
    assert_eq!(
        traces[0]["spanSets"][0]["spans"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        traces[0]["spanSets"][0]["attributes"][0]["key"],
        "avg(duration)"
    );

    let window = format!(
        "start={}&end={}",
        f.t0 / 1_000_000_000 - 60,
        now_ns() / 1_000_000_000 + 1
    );
    assert_eq!(ids(&search(s, "q=%7B%7D").await), [FAILED, SEED, RICH]);
    assert_eq!(
        ids(&search(s, &format!("q=%7B%7D&{window}")).await),
        [FAILED, SEED]
    );
    assert_eq!(
        ids(&search(s, &format!("q=%7B%7D&limit=1&{window}")).await).len(),
        1
    );
    assert_eq!(ids(&search(s, "q=%7B%7D&minDuration=1s").await), [FAILED]);
    assert_eq!(
        ids(&search(s, "q=%7B%7D&maxDuration=500ms").await),
        [SEED, RICH]
    );
    assert_eq!(
        ids(&search(
            s,
            &q(r#"{ resource.service.name = "api" } >> { name = "wasm.run" }"#)
        )
        .await),
        [SEED]
    );
    assert_eq!(
        ids(&search(
            s,
            &q(r#"{ traceDuration > 1s && rootServiceName = "api" }"#)
        )
        .await),
        [FAILED]
    );
}

#[tokio::test]
async fn tag_search_and_bad_requests() {
    let f = fixture();
    let s = &f.state;
    let traces = search(s, "tags=service.name%3Ddht").await;
    assert_eq!(ids(&traces), [FAILED, SEED]);
    assert!(traces[0].get("spanSets").is_none());
    assert_eq!(
        ids(&search(s, "tags=name%3D%22p2p.send%22+http.status_code%3D200").await),
        [SEED]
    );
    assert_eq!(
        ids(&search(s, "tags=status.code%3Derror&minDuration=1s").await),
        [FAILED]
    );
    assert_eq!(ids(&search(s, "tags=host.name%3Dnode-09").await), [SEED]);
    assert_eq!(
        ids(&search(s, "tags=root.service.name%3Dap").await),
        [FAILED, SEED]
    );
    // The first Grafana versions sent tags as parameters of their own.
    assert_eq!(ids(&search(s, "service.name=wasm").await), [SEED]);
    for (query, words) in [
        (
            "q=%7B%7D+%7C+select(.a)",
            "invalid TraceQL query: unsupported TraceQL at byte 5: `select()`",
        ),
        (
            "q=%7B+.a+%3D+%7D",
            "invalid TraceQL query: syntax error at byte 7",
        ),
        ("q=%7B%7D&tags=a%3Db", "can't specify tags and q"),
        ("tags=a%3D1+a%3D2", "tag a has been set twice"),
        ("limit=0", "invalid limit: must be a positive number"),
        ("limit=x", "invalid limit"),
        ("minDuration=5", "invalid minDuration"),
        (
            "minDuration=2s&maxDuration=1s",
            "must be greater than minDuration",
        ),
        ("start=10&end=5", "start must be before end"),
        ("start=abc&end=5", "invalid start"),
    ] {
        let (status, _, body) = get(
            router(s.clone()),
            &format!("/tempo/api/search?{query}"),
            &[],
        )
        .await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 400, "{query}: {text}");
        assert!(text.contains(words), "{query}: {text}");
    }
}

#[tokio::test]
async fn tags_and_typed_tag_values() {
    let f = fixture();
    let s = &f.state;
    let (_, body) = get_json(router(s.clone()), "/tempo/api/search/tags").await;
    let names: Vec<&str> = body["tagNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in ["service.name", "host.name", "http.method", "dht.key"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let (_, body) = get_json(router(s.clone()), "/tempo/api/search/tags?scope=intrinsic").await;
    assert!(
        body["tagNames"]
            .as_array()
            .unwrap()
            .contains(&json!("traceDuration"))
    );
    let (status, _, _) = get(router(s.clone()), "/tempo/api/search/tags?scope=event", &[]).await;
    assert_eq!(status, 400);

    let window = format!(
        "start={}&end={}",
        f.t0 / 1_000_000_000 - 60,
        now_ns() / 1_000_000_000 + 1
    );
    let uri = format!(
        "/tempo/api/v2/search/tags?{window}&{}",
        q(r#"{ resource.service.name = "dht" }"#)
    );
    let (_, body) = get_json(router(s.clone()), &uri).await;
    assert_eq!(
        body["scopes"],
        json!([
            {"name": "resource", "tags": ["host.name", "service.name"]},
            {"name": "span", "tags": ["dht.hops", "dht.key"]},
            {"name": "intrinsic", "tags": super::INTRINSICS},
        ])
    );
    let (_, body) = get_json(router(s.clone()), "/tempo/api/v2/search/tags?scope=span").await;
    assert_eq!(body["scopes"].as_array().unwrap().len(), 1);

    let (_, body) = get_json(
        router(s.clone()),
        "/tempo/api/search/tag/service.name/values",
    )
    .await;
    assert_eq!(
        body["tagValues"],
        json!(["api", "dht", "guild", "p2p", "payments", "task", "wasm"])
    );

    let v2 =
        |tag: &str, extra: &str| format!("/tempo/api/v2/search/tag/{tag}/values?{window}{extra}");
    let (_, body) = get_json(router(s.clone()), &v2("span.dht.hops", "")).await;
    assert_eq!(body["tagValues"], json!([{"type": "int", "value": "3"}]));
    let (_, body) = get_json(router(s.clone()), &v2(".wasm.fuel", "")).await;
    assert_eq!(
        body["tagValues"],
        json!([{"type": "float", "value": "1.5"}])
    );
    let (_, body) = get_json(router(s.clone()), &v2("resource.service.name", "&limit=2")).await;
    assert_eq!(
        body["tagValues"],
        json!([{"type": "string", "value": "api"}, {"type": "string", "value": "dht"}])
    );
    let filter = format!("&{}", q(r#"{ resource.service.name = "api" }"#));
    let (_, body) = get_json(router(s.clone()), &v2("name", &filter)).await;
    assert_eq!(
        body["tagValues"],
        json!([{"type": "string", "value": "POST /tasks"}, {"type": "string", "value": "p2p.send"}])
    );
    let (_, body) = get_json(router(s.clone()), &v2("status", "")).await;
    assert_eq!(
        body["tagValues"][0],
        json!({"type": "keyword", "value": "error"})
    );
    let (_, body) = get_json(router(s.clone()), &v2("rootServiceName", "")).await;
    assert_eq!(
        body["tagValues"],
        json!([{"type": "string", "value": "api"}])
    );
    let (_, body) = get_json(router(s.clone()), &v2("duration", "")).await;
    assert_eq!(body["tagValues"], json!([]));
}

#[tokio::test]
async fn the_test_endpoints_answer() {
    let f = fixture();
    let (status, headers, body) = get(router(f.state.clone()), "/tempo/api/echo", &[]).await;
    assert_eq!(
        (status.as_u16(), body.as_slice()),
        (200, b"echo\n".as_slice())
    );
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    let (_, body) = get_json(router(f.state.clone()), "/tempo/api/status/buildinfo").await;
    assert_eq!(body["version"], "0.0.0");
    let mut state = f.state;
    state.spans = None;
    let (status, _, body) = get(router(state), "/tempo/api/search?q=%7B%7D", &[]).await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("no spans"));
}
