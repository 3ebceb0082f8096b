//! Jaeger's query API over the fixture traces: the fields Grafana's Jaeger data source and
//! Jaeger's UI read, search parameters, dependencies and errors.

use serde_json::{Value, json};

use super::router;
use crate::trace_fixtures::{MS, fixture, get, get_json, now_ns};

#[tokio::test]
async fn services_and_operations_are_listed() {
    let f = fixture();
    let (status, body) = get_json(router(f.state.clone()), "/jaeger/api/services").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": ["api", "dht", "guild", "p2p", "payments", "task", "wasm"],
               "total": 7, "limit": 0, "offset": 0, "errors": null})
    );
    let (_, body) = get_json(
        router(f.state.clone()),
        "/jaeger/api/services/api/operations",
    )
    .await;
    assert_eq!(body["data"], json!(["POST /tasks", "p2p.send"]));
    assert_eq!(body["total"], 2);
    let (_, body) = get_json(
        router(f.state.clone()),
        "/jaeger/api/operations?service=api&spanKind=server",
    )
    .await;
    assert_eq!(
        body["data"],
        json!([{"name": "POST /tasks", "spanKind": "server"}])
    );
    let (_, body) = get_json(
        router(f.state.clone()),
        "/jaeger/api/operations?service=api",
    )
    .await;
    assert_eq!(body["total"], 2);
    let (status, headers, text) = get(router(f.state), "/jaeger/api/operations", &[]).await;
    assert_eq!(
        (status.as_u16(), headers["content-type"].to_str().unwrap()),
        (400, "text/plain; charset=utf-8")
    );
    let body: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(
        body["errors"],
        json!([{"code": 400, "msg": "parameter 'service' is required"}])
    );
}

#[tokio::test]
async fn a_trace_reads_back_in_jaegers_model() {
    let f = fixture();
    let uri = format!("/jaeger/api/traces/{}", f.seed);
    let (status, body) = get_json(router(f.state.clone()), &uri).await;
    assert_eq!(status, 200);
    let trace = &body["data"][0];
    assert_eq!(trace["traceID"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(trace["spans"].as_array().unwrap().len(), 8);
    assert_eq!(trace["processes"].as_object().unwrap().len(), 7);
    assert_eq!(
        trace["spans"][0],
        json!({
            "traceID": "0af7651916cd43dd8448eb211c80319c",
            "spanID": "a000000000000001",
            "operationName": "POST /tasks",
            "references": [],
            "startTime": f.t0 / 1000,
            "duration": 120_000,
            "tags": [
                {"key": "otel.scope.name", "type": "string", "value": "zerostate"},
                {"key": "otel.scope.version", "type": "string", "value": "1.4.2"},
                {"key": "http.method", "type": "string", "value": "POST"},
                {"key": "http.status_code", "type": "int64", "value": 200},
                {"key": "span.kind", "type": "string", "value": "server"},
            ],
            "logs": [],
            "processID": "p1",
            "warnings": null,
        })
    );
    assert_eq!(
        trace["processes"]["p1"],
        json!({"serviceName": "api", "tags": [{"key": "host.name", "type": "string", "value": "node-01"}]})
    );
    // Spans of one resource share a process; the p2p.receive span is another's child.
    assert_eq!(trace["spans"][1]["processID"], "p1");
    assert_eq!(trace["spans"][2]["processID"], "p2");
    assert_eq!(
        trace["spans"][2]["references"],
        json!([{"refType": "CHILD_OF", "traceID": "0af7651916cd43dd8448eb211c80319c", "spanID": "a000000000000002"}])
    );
    assert_eq!(
        trace["spans"][7]["tags"][3],
        json!({"key": "otel.status_code", "type": "string", "value": "OK"})
    );
    // Short hex (left-padded) and base64 name the same trace.
    for alias in [
        "0af7651916cd43dd8448eb211c80319c",
        "CvdlGRbNQ92ESOshHIAxnA==",
    ] {
        let (_, again) = get_json(
            router(f.state.clone()),
            &format!("/jaeger/api/traces/{alias}"),
        )
        .await;
        assert_eq!(again, body, "{alias}");
    }
    let (_, short) = get_json(
        router(f.state.clone()),
        "/jaeger/api/traces/4bf92f3577b34da6",
    )
    .await;
    assert_eq!(short["data"][0]["spans"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn errors_events_links_and_odd_values_map_as_jaeger_maps_them() {
    let f = fixture();
    let (_, body) = get_json(
        router(f.state.clone()),
        &format!("/jaeger/api/traces/{}", f.failed),
    )
    .await;
    let trace = &body["data"][0];
    // A 64-bit trace ID prints as 16 hex digits, in references too.
    assert_eq!(trace["traceID"], "4bf92f3577b34da6");
    let root_tags = &trace["spans"][0]["tags"];
    assert_eq!(
        root_tags.as_array().unwrap()[2..],
        [
            json!({"key": "span.kind", "type": "string", "value": "server"}),
            json!({"key": "otel.status_code", "type": "string", "value": "ERROR"}),
            json!({"key": "error", "type": "bool", "value": true}),
            json!({"key": "otel.status_description", "type": "string", "value": "deadline exceeded"}),
        ]
    );
    let dht = &trace["spans"][2];
    assert_eq!(
        dht["logs"],
        json!([{"timestamp": (f.t0 + 61_000 * MS) / 1000, "fields": [
            {"key": "event", "type": "string", "value": "exception"},
            {"key": "exception.message", "type": "string", "value": "no route to node-12"},
        ]}])
    );
    assert_eq!(
        dht["references"],
        json!([
            {"refType": "CHILD_OF", "traceID": "4bf92f3577b34da6", "spanID": "a000000000000002"},
            {"refType": "FOLLOWS_FROM", "traceID": "0af7651916cd43dd8448eb211c80319c", "spanID": "a000000000000004"},
        ])
    );

    let (_, body) = get_json(
        router(f.state.clone()),
        &format!("/jaeger/api/traces/{}", f.rich),
    )
    .await;
    let span = &body["data"][0]["spans"][0];
    let tag = |key: &str| {
        span["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        tag("raw"),
        json!({"key": "raw", "type": "binary", "value": "AP8H"})
    );
    assert_eq!(
        tag("route"),
        json!({"key": "route", "type": "string", "value": "[\"p2p\",3,null]"})
    );
    assert_eq!(
        tag("payment.attempts"),
        json!({"key": "payment.attempts", "type": "int64", "value": -3})
    );
    assert_eq!(
        tag("nan"),
        json!({"key": "nan", "type": "float64", "value": null})
    );
    assert_eq!(
        tag("w3c.tracestate")["value"],
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    assert_eq!(tag("span.kind")["value"], "consumer");
    assert_eq!(
        body["data"][0]["processes"]["p1"]["tags"],
        json!([{"key": "host.name", "type": "string", "value": "node-07"},
               {"key": "process.pid", "type": "int64", "value": 4242}])
    );
    assert_eq!(span["references"][1]["refType"], "FOLLOWS_FROM");
}

#[tokio::test]
async fn missing_and_malformed_trace_ids_answer_as_jaeger_does() {
    let f = fixture();
    let (status, headers, text) =
        get(router(f.state.clone()), "/jaeger/api/traces/ffff", &[]).await;
    assert_eq!(
        (status.as_u16(), headers["content-type"].to_str().unwrap()),
        (404, "text/plain; charset=utf-8")
    );
    let body: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(
        body,
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
               "errors": [{"code": 404, "msg": "trace not found"}]})
    );
    let (status, body) = get_json(router(f.state.clone()), "/jaeger/api/traces/not-an-id").await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("is not a trace ID")
    );
    // A window that ends before the trace hides it.
    let uri = format!("/jaeger/api/traces/{}?end={}", f.seed, f.t0 / 1000 - 1);
    assert_eq!(get_json(router(f.state), &uri).await.0, 404);
}

/// The trace IDs a search returns, in order.
async fn search(state: &crate::ApiState, query: &str) -> Vec<String> {
    let (status, body) = get_json(
        router(state.clone()),
        &format!("/jaeger/api/traces?{query}"),
    )
    .await;
    assert_eq!(status, 200, "{query}: {body}");
    assert_eq!(
        (&body["total"], &body["errors"]),
        (&json!(0), &Value::Null),
        "{query}"
    );
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_takes_jaegers_parameters() {
    let f = fixture();
    let (seed, failed) = ("0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6");
    let window = format!(
        "start={}&end={}",
        (f.t0 - 60_000 * MS) / 1000,
        now_ns() / 1000
    );
    let s = &f.state;
    assert_eq!(
        search(s, &format!("service=api&{window}")).await,
        [failed, seed]
    );
    assert_eq!(
        search(s, "service=api").await,
        [failed, seed],
        "the last two days by default"
    );
    assert_eq!(
        search(s, "service=api&lookback=1m").await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(s, &format!("service=api&operation=p2p.send&{window}")).await,
        [seed]
    );
    assert_eq!(
        search(s, &format!("service=api&limit=1&{window}")).await,
        [failed]
    );
    assert_eq!(
        search(s, &format!("service=api&minDuration=1s&{window}")).await,
        [failed]
    );
    assert_eq!(
        search(s, &format!("service=api&maxDuration=500ms&{window}")).await,
        [seed]
    );
    let tags = |json: &str| format!("service=api&tags={}&{window}", urlencode(json));
    assert_eq!(
        search(s, &tags(r#"{"http.status_code":"200"}"#)).await,
        [seed]
    );
    assert_eq!(search(s, &tags(r#"{"error":"true"}"#)).await, [failed]);
    assert_eq!(
        search(s, &tags(r#"{"host.name":"node-01","span.kind":"server"}"#)).await,
        [failed, seed]
    );
    assert_eq!(
        search(s, &format!("service=api&tag=http.method:POST&{window}")).await,
        [seed]
    );
    assert_eq!(
        search(
            s,
            &format!(
                "service=dht&tags={}",
                urlencode(r#"{"exception.message":"no route to node-12"}"#)
            )
        )
        .await,
        [failed]
    );
    let start_now = format!("service=api&start={}", now_ns() / 1000);
    assert_eq!(search(s, &start_now).await, Vec::<String>::new());

    let (_, body) = get_json(
        router(s.clone()),
        &format!("/jaeger/api/traces?traceID={}&traceID=ffff", f.seed),
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["errors"],
        json!([{"msg": "trace not found", "traceID": "000000000000ffff"}])
    );

    for (query, msg) in [
        ("", "parameter 'service' is required"),
        (
            "service=api&tags=%7Bnope",
            "malformed 'tags' parameter, cannot unmarshal JSON",
        ),
        (
            "service=api&tag=nocolon",
            "malformed 'tag' parameter, expecting key:value",
        ),
        ("service=api&limit=x", "unable to parse param 'limit'"),
        (
            "service=api&minDuration=5",
            "unable to parse param 'minDuration'",
        ),
        (
            "service=api&minDuration=2s&maxDuration=1s",
            "'maxDuration' should be greater than 'minDuration'",
        ),
    ] {
        let (status, body) =
            get_json(router(s.clone()), &format!("/jaeger/api/traces?{query}")).await;
        assert_eq!(status, 400, "{query}");
        let got = body["errors"][0]["msg"].as_str().unwrap();
        assert!(got.contains(msg), "{query}: {got}");
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn dependencies_count_calls_between_services() {
    let f = fixture();
    let now_ms = now_ns() / MS;
    let uri = format!("/jaeger/api/dependencies?endTs={now_ms}&lookback=3600000");
    let (status, body) = get_json(router(f.state.clone()), &uri).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!([
            {"parent": "api", "child": "p2p", "callCount": 2},
            {"parent": "api", "child": "payments", "callCount": 1},
            {"parent": "guild", "child": "task", "callCount": 1},
            {"parent": "p2p", "child": "dht", "callCount": 2},
            {"parent": "p2p", "child": "guild", "callCount": 1},
            {"parent": "task", "child": "wasm", "callCount": 1},
        ])
    );
    let (_, body) = get_json(router(f.state.clone()), &format!("{uri}&service=guild")).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    // A window before the traces holds none.
    let early = format!(
        "/jaeger/api/dependencies?endTs={}&lookback=1000",
        f.t0 / MS - 1
    );
    assert_eq!(get_json(router(f.state), &early).await.1["data"], json!([]));
}

#[tokio::test]
async fn without_a_span_store_the_api_says_so() {
    let mut state = fixture().state;
    state.spans = None;
    let (status, body) = get_json(router(state), "/jaeger/api/services").await;
    assert_eq!(status, 503);
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("no spans")
    );
}
