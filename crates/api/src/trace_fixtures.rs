//! Traces for the trace API families' tests (Tempo, Jaeger): the seed flow of a node network
//! across seven services, a failed request with an exception event and a link to the first,
//! and the conformance suite's span with every field set, in a `MemSpans` behind an
//! `ApiState`; and the requests the tests make.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use spans::{
    Event, KeyValue, Link, MemSpans, Resource, Scope, Span, SpanId, SpanKind, SpanStore, Status,
    StatusCode as Code, TraceId,
};
use tower::ServiceExt;

use crate::ApiState;
pub(crate) use crate::span_access::now_ns;

pub(crate) const MS: u64 = 1_000_000;

/// The store, the state serving it, and the traces in it.
pub(crate) struct Fixture {
    pub(crate) state: ApiState,
    /// The seed flow: `POST /tasks` through p2p, dht, guild, task and wasm to payments.
    pub(crate) seed: TraceId,
    /// A request that failed: an error at the root and an exception in the DHT.
    pub(crate) failed: TraceId,
    /// One span with every field set (`spans::conformance::rich_span`).
    pub(crate) rich: TraceId,
    /// When the seed flow started, in Unix nanoseconds (ten minutes ago).
    pub(crate) t0: u64,
}

fn resource(service: &str, host: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![
            KeyValue::new("service.name", service),
            KeyValue::new("host.name", host),
        ],
        ..Resource::default()
    })
}

/// Adds spans to one trace, times in milliseconds after `t0`.
struct TraceBuilder {
    id: TraceId,
    t0: u64,
    spans: Vec<Span>,
    scope: Arc<Scope>,
}

impl TraceBuilder {
    fn span(
        &mut self,
        n: u8,
        parent: Option<u8>,
        res: &Arc<Resource>,
        name: &str,
        kind: SpanKind,
        ms: (u64, u64),
    ) -> &mut Span {
        let mut s = Span::new(
            self.id,
            SpanId([0xa0, 0, 0, 0, 0, 0, 0, n]),
            name,
            self.t0 + ms.0 * MS,
            self.t0 + ms.1 * MS,
        );
        s.parent_span_id = parent.map(|p| SpanId([0xa0, 0, 0, 0, 0, 0, 0, p]));
        s.resource = res.clone();
        s.scope = self.scope.clone();
        s.kind = kind;
        self.spans.push(s);
        let last = self.spans.len() - 1;
        &mut self.spans[last]
    }
}

pub(crate) fn fixture() -> Fixture {
    let t0 = (now_ns() - 600_000 * MS) / MS * MS;
    let seed: TraceId = "0af7651916cd43dd8448eb211c80319c".parse().unwrap();
    let failed: TraceId = "00000000000000004bf92f3577b34da6".parse().unwrap();
    let scope = Arc::new(Scope {
        name: "zerostate".into(),
        version: "1.4.2".into(),
        ..Scope::default()
    });
    let api = resource("api", "node-01");
    let p2p = resource("p2p", "node-07");
    let mut b = TraceBuilder {
        id: seed,
        t0,
        spans: Vec::new(),
        scope: scope.clone(),
    };
    b.span(1, None, &api, "POST /tasks", SpanKind::Server, (0, 120))
        .attributes = vec![
        KeyValue::new("http.method", "POST"),
        KeyValue::new("http.status_code", 200_i64),
    ];
    b.span(2, Some(1), &api, "p2p.send", SpanKind::Client, (5, 100))
        .attributes = vec![KeyValue::new("peer.id", "node-07")];
    b.span(3, Some(2), &p2p, "p2p.receive", SpanKind::Server, (10, 95));
    b.span(
        4,
        Some(3),
        &resource("dht", "node-07"),
        "dht.lookup",
        SpanKind::Internal,
        (12, 40),
    )
    .attributes = vec![
        KeyValue::new("dht.key", "abc"),
        KeyValue::new("dht.hops", 3_i64),
    ];
    b.span(
        5,
        Some(3),
        &resource("guild", "node-09"),
        "guild.form",
        SpanKind::Internal,
        (41, 80),
    );
    b.span(
        6,
        Some(5),
        &resource("task", "node-09"),
        "task.execute",
        SpanKind::Consumer,
        (45, 78),
    );
    b.span(
        7,
        Some(6),
        &resource("wasm", "node-09"),
        "wasm.run",
        SpanKind::Internal,
        (46, 70),
    )
    .attributes = vec![KeyValue::new("wasm.fuel", 1.5)];
    b.span(
        8,
        Some(1),
        &resource("payments", "node-03"),
        "payment.settle",
        SpanKind::Producer,
        (100, 118),
    )
    .status
    .code = Code::Ok;
    let seed_spans = std::mem::take(&mut b.spans);

    let mut b = TraceBuilder {
        id: failed,
        t0: t0 + 60_000 * MS,
        spans: Vec::new(),
        scope,
    };
    b.span(1, None, &api, "POST /tasks", SpanKind::Server, (0, 2_000))
        .status = Status {
        code: Code::Error,
        message: "deadline exceeded".into(),
    };
    b.span(
        2,
        Some(1),
        &p2p,
        "p2p.receive",
        SpanKind::Server,
        (10, 1_990),
    );
    let dht = b.span(
        3,
        Some(2),
        &resource("dht", "node-07"),
        "dht.lookup",
        SpanKind::Internal,
        (20, 1_980),
    );
    dht.status.code = Code::Error;
    dht.events = vec![Event {
        time: t0 + 61_000 * MS,
        name: "exception".into(),
        attributes: vec![KeyValue::new("exception.message", "no route to node-12")],
        dropped_attributes_count: 0,
    }];
    dht.links = vec![Link {
        trace_id: seed,
        span_id: SpanId([0xa0, 0, 0, 0, 0, 0, 0, 4]),
        ..Link::default()
    }];
    let failed_spans = std::mem::take(&mut b.spans);

    let rich = spans::conformance::rich_span();
    let store = Arc::new(MemSpans::new());
    store.append(&seed_spans).unwrap();
    store.append(&failed_spans).unwrap();
    store.append(std::slice::from_ref(&rich)).unwrap();
    let mut state = ApiState::new(
        Arc::new(storage::MemStorage::new()),
        promql::engine::Engine::new(promql::engine::EngineOptions::default()),
    );
    state.spans = Some(store);
    Fixture {
        state,
        seed,
        failed,
        rich: rich.trace_id,
        t0,
    }
}

/// `GET uri` with `headers`: the status, headers and body.
pub(crate) async fn get(
    router: Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = router
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, body)
}

/// `GET uri`, its status and body as JSON.
pub(crate) async fn get_json(router: Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let (status, _, body) = get(router, uri, &[]).await;
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: {e}: {}", String::from_utf8_lossy(&body)));
    (status, json)
}
