//! Grafana's queries over what the generator wrote: ten minutes of a small network's
//! traffic go through [`SpanMetrics`] into `storage::MemStorage`, collected every 15 s as
//! the server's task collects, and the PromQL engine answers the queries Grafana's Tempo
//! data source sends for its service graph and its RED table, and the usual RED panels.
//!
//! The traffic, every 15 s: 30 `GET /tasks` requests from users to `api` (100 ms, 3 of
//! them failing); for 15 of those, `api` calls `store` (`GET /items`: the client span in
//! this batch, the server span, 40 ms, in the next batch, 3 of them failing); `store`
//! makes one call to the `ledger` database; and `legacy` answers one request a step for
//! the first two minutes only.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::sync::Arc;

use model::{Labels, MatchOp, Matcher, Timestamp};
use promql::engine::{Engine, EngineOptions, Stepped, Steps};
use spanmetrics::{Config, Observed, SpanMetrics};
use spans::{
    KeyValue, MemSpans, Resource, Span, SpanId, SpanKind, SpanStore, Status, StatusCode, TraceId,
    Window,
};
use storage::{MemStorage, Queryable, SelectHints};

const T0: Timestamp = 1_700_000_000_000;
const STEP: Timestamp = 15_000;
const STEPS: i64 = 40;

fn t(step: i64) -> Timestamp {
    T0 + step * STEP
}

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource::service(service))
}

#[allow(
    clippy::too_many_arguments,
    reason = "a test's span, every field spelled out"
)]
fn span(
    resource: &Arc<Resource>,
    trace: TraceId,
    id: u8,
    parent: Option<u8>,
    name: &str,
    kind: SpanKind,
    start_ns: u64,
    ms: u64,
    failed: bool,
) -> Span {
    let mut s = Span::new(
        trace,
        SpanId([id; 8]),
        name,
        start_ns,
        start_ns + ms * 1_000_000,
    );
    s.parent_span_id = parent.map(|p| SpanId([p; 8]));
    s.kind = kind;
    s.resource = Arc::clone(resource);
    if failed {
        s.status = Status {
            code: StatusCode::Error,
            message: "failed".into(),
        };
    }
    s
}

fn trace_id(step: i64, i: usize) -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&step.to_be_bytes());
    id[8..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    TraceId(id)
}

/// The batches of one step: this step's spans, and the store's server spans, which
/// come a batch late.
fn traffic(step: i64) -> (Vec<Span>, Vec<Span>) {
    let (api, store, legacy) = (resource("api"), resource("store"), resource("legacy"));
    let start = u64::try_from(t(step)).unwrap_or_default() * 1_000_000;
    let (mut now, mut later) = (Vec::new(), Vec::new());
    for i in 0..30 {
        let trace = trace_id(step, i);
        let root = span(
            &api,
            trace,
            1,
            None,
            "GET /tasks",
            SpanKind::Server,
            start,
            100,
            i % 10 == 0,
        );
        now.push(root);
        if i % 2 == 0 {
            now.push(span(
                &api,
                trace,
                2,
                Some(1),
                "GET /items",
                SpanKind::Client,
                start,
                50,
                false,
            ));
            later.push(span(
                &store,
                trace,
                3,
                Some(2),
                "GET /items",
                SpanKind::Server,
                start,
                40,
                i % 10 == 4,
            ));
        }
    }
    let mut db = span(
        &store,
        trace_id(step, 99),
        4,
        Some(3),
        "SELECT",
        SpanKind::Client,
        start,
        5,
        false,
    );
    db.attributes = vec![
        KeyValue::new("db.system", "postgresql"),
        KeyValue::new("db.name", "ledger"),
    ];
    now.push(db);
    if step < 8 {
        now.push(span(
            &legacy,
            trace_id(step, 98),
            1,
            None,
            "GET /old",
            SpanKind::Server,
            start,
            20,
            false,
        ));
    }
    (now, later)
}

/// Ten minutes of traffic through the generator into a fresh store.
fn generate() -> (Arc<MemStorage>, Arc<SpanMetrics>) {
    let db = Arc::new(MemStorage::new());
    let mut config = Config::default();
    config.registry.stale_duration = std::time::Duration::from_secs(120);
    let metrics = Arc::new(SpanMetrics::new(config, db.clone()).unwrap());
    let mut late = Vec::new();
    for step in 0..STEPS {
        let (now, later) = traffic(step);
        metrics.observe_at(&now, t(step));
        metrics.observe_at(&late, t(step));
        late = later;
        metrics.expire(t(step));
        let collected = metrics.collect(t(step)).unwrap();
        assert_eq!(collected.failed, 0);
    }
    (db, metrics)
}

/// An instant query's answer: each series' labels and value, sorted.
fn query(db: &MemStorage, expr: &str, at: Timestamp) -> Vec<(String, f64)> {
    let e = promql::ast::parse(expr).unwrap();
    let value = Engine::new(EngineOptions::default())
        .eval(db, &e, Steps::instant(at))
        .unwrap();
    let Stepped::Vector(series) = value else {
        panic!("{expr} is not a vector: {value:?}")
    };
    let mut out: Vec<(String, f64)> = series
        .into_iter()
        .map(|s| (s.labels.to_string(), s.points[0].v))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[track_caller]
fn check(db: &MemStorage, expr: &str, want: &[(&str, f64)]) {
    let got = query(db, expr, t(STEPS - 1));
    let close = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|((gl, gv), (wl, wv))| gl == wl && (gv - wv).abs() < 1e-9 * wv.abs().max(1.0));
    assert!(close, "{expr}\n got: {got:?}\nwant: {want:?}");
}

#[test]
fn red_panels_answer_over_span_metrics() {
    let (db, _) = generate();
    // Rate: api serves 2/s and calls 1/s; store serves 1/s and calls the database 1/15 s.
    check(
        &db,
        r#"sum(rate(traces_spanmetrics_calls_total[5m])) by (service)"#,
        &[
            (r#"{service="api"}"#, 3.0),
            (r#"{service="store"}"#, 1.0 + 1.0 / 15.0),
        ],
    );
    // Errors.
    check(
        &db,
        r#"sum(rate(traces_spanmetrics_calls_total{status_code="STATUS_CODE_ERROR"}[5m])) by (service)"#,
        &[(r#"{service="api"}"#, 0.2), (r#"{service="store"}"#, 0.2)],
    );
    // Duration: every request takes 100 ms, in the bucket (0.064, 0.128]; the 95th
    // percentile is 95% of the way through it.
    check(
        &db,
        r#"histogram_quantile(0.95, sum(rate(traces_spanmetrics_latency_bucket{span_kind="SPAN_KIND_SERVER",service="api"}[5m])) by (le, service))"#,
        &[(r#"{service="api"}"#, 0.064 + 0.064 * 0.95)],
    );
    // Average duration from _sum and _count.
    check(
        &db,
        r#"sum(rate(traces_spanmetrics_latency_sum{service="store",span_kind="SPAN_KIND_SERVER"}[5m])) / sum(rate(traces_spanmetrics_latency_count{service="store",span_kind="SPAN_KIND_SERVER"}[5m]))"#,
        &[("{}", 0.04)],
    );
}

#[test]
fn the_tempo_data_sources_service_graph_queries_answer() {
    let (db, _) = generate();
    // Grafana's makePromServiceMapRequest, with $__range = 5m: the sum and the labels of
    // each of its four metrics.
    check(
        &db,
        r#"sum by (client, server) (rate(traces_service_graph_request_total[5m]))"#,
        &[
            (r#"{client="api",server="store"}"#, 1.0),
            (r#"{client="store",server="ledger"}"#, 1.0 / 15.0),
            (r#"{client="user",server="api"}"#, 2.0),
        ],
    );
    check(
        &db,
        r#"group by (client, connection_type, server) (traces_service_graph_request_total)"#,
        &[
            (r#"{client="api",server="store"}"#, 1.0),
            (
                r#"{client="store",connection_type="database",server="ledger"}"#,
                1.0,
            ),
            (
                r#"{client="user",connection_type="virtual_node",server="api"}"#,
                1.0,
            ),
        ],
    );
    check(
        &db,
        r#"sum by (client, server) (rate(traces_service_graph_request_failed_total[5m]))"#,
        &[
            (r#"{client="api",server="store"}"#, 0.2),
            (r#"{client="user",server="api"}"#, 0.2),
        ],
    );
    check(
        &db,
        r#"sum by (client, server) (rate(traces_service_graph_request_server_seconds_sum[5m]))"#,
        &[
            (r#"{client="api",server="store"}"#, 0.04),
            (r#"{client="store",server="ledger"}"#, 0.005 / 15.0),
            (r#"{client="user",server="api"}"#, 0.2),
        ],
    );
    // The node's "Request histogram" link: 40 ms in the first bucket (0, 0.1].
    check(
        &db,
        r#"histogram_quantile(0.9, sum(rate(traces_service_graph_request_server_seconds_bucket{server="store"}[5m])) by (le, client, server))"#,
        &[(r#"{client="api",server="store"}"#, 0.09)],
    );
    // The service graph view's table: rate by span name, server spans only, top 5.
    check(
        &db,
        r#"topk(5, sum(rate(traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER"}[5m])) by (span_name))"#,
        &[
            (r#"{span_name="GET /items"}"#, 1.0),
            (r#"{span_name="GET /tasks"}"#, 2.0),
        ],
    );
}

#[test]
fn a_service_that_stops_ends_with_a_staleness_marker() {
    let (db, metrics) = generate();
    let legacy = r#"count(traces_spanmetrics_calls_total{service="legacy"})"#;
    // legacy's last spans came at step 7; two minutes later (step 16) its series are
    // forgotten and marked stale, well within the 5m lookback of its last sample.
    assert_eq!(query(&db, legacy, t(15)), [("{}".to_owned(), 1.0)]);
    assert!(query(&db, legacy, t(17)).is_empty());
    let q = db.querier(T0 - 60_000, t(STEPS)).unwrap();
    let mut set = q
        .select(
            &SelectHints::default(),
            &[
                Matcher::equal("__name__", "traces_spanmetrics_calls_total"),
                Matcher::equal("service", "legacy"),
            ],
        )
        .unwrap();
    let series = set.next().unwrap().unwrap();
    let mut samples = series.samples;
    let samples = samples.collect_vec().unwrap();
    // Its zero one second before its first minute, a value per step, then the marker.
    assert_eq!(samples[0].v, 0.0);
    assert_eq!(samples[0].t, t(0) - t(0).rem_euclid(60_000) - 1000);
    assert_eq!(samples[8].v, 8.0);
    let last = samples.last().unwrap();
    assert!(model::is_stale_nan(last.v));
    assert_eq!(last.t, t(16));
    assert_eq!(samples.len(), 1 + 16 + 1);
    // legacy's calls, size and latency (15 buckets, _sum, _count), and its edge from
    // user: requests and two histograms of 9 buckets, _sum and _count.
    assert_eq!(metrics.stats().series_removed, 1 + 1 + 17 + 1 + 11 + 11);
}

#[test]
fn counters_count_from_their_first_span() {
    let (db, _) = generate();
    // 40 steps of 30 requests: the raw counter holds every one, and the initial zero
    // lets increase() see the first step's too.
    check(
        &db,
        r#"sum(traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_SERVER"})"#,
        &[("{}", 1200.0)],
    );
    let first = query(
        &db,
        r#"sum(increase(traces_spanmetrics_calls_total{service="api",span_kind="SPAN_KIND_SERVER"}[30s]))"#,
        t(0) + 1,
    );
    assert!(first[0].1 > 0.0, "{first:?}");
}

#[test]
fn observed_store_counts_what_it_keeps_only() {
    let db = Arc::new(MemStorage::new());
    let metrics = Arc::new(SpanMetrics::new(Config::default(), db).unwrap());
    let store = Observed::new(Arc::new(MemSpans::new()), Arc::clone(&metrics));
    let (batch, _) = traffic(0);
    store.append(&batch).unwrap();
    assert_eq!(metrics.stats().spans_received, batch.len() as u64);
    // A batch the store refuses (a span without a trace ID) is not counted.
    let mut bad = batch[..2].to_vec();
    bad[1].trace_id = TraceId::default();
    assert!(store.append(&bad).is_err());
    assert_eq!(metrics.stats().spans_received, batch.len() as u64);
    // Reads pass through.
    let found = store.trace(&batch[0].trace_id, Window::ALL).unwrap();
    assert_eq!(found.len(), 2);
}

#[test]
fn the_generators_own_metrics_encode_with_tempos_names() {
    let (_, metrics) = generate();
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(metrics.telemetry()));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let stats = metrics.stats();
    for line in [
        format!(
            "tempo_metrics_generator_spans_received_total {}",
            stats.spans_received
        ),
        format!(
            "tempo_metrics_generator_registry_active_series {}",
            stats.active_series
        ),
        "tempo_metrics_generator_registry_max_active_series 50000".to_owned(),
        format!("tempo_metrics_generator_registry_collections_total {STEPS}"),
        "tempo_metrics_generator_processor_service_graphs_dropped_spans_total 0".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} is not in\n{text}");
    }
    assert!(stats.active_series > 0 && stats.edges > 0);
}

#[tokio::test(start_paused = true)]
async fn the_task_collects_every_interval_and_expires_halves() {
    let db = Arc::new(MemStorage::new());
    let metrics = Arc::new(SpanMetrics::new(Config::default(), db.clone()).unwrap());
    let task = tokio::spawn(Arc::clone(&metrics).run());
    // A root server span: after the 10 s wait it becomes an edge from "user".
    let (batch, _) = traffic(0);
    metrics.observe(&batch[..1]);
    tokio::time::sleep(std::time::Duration::from_secs(16)).await;
    let stats = metrics.stats();
    assert_eq!(stats.collections, 1);
    assert_eq!(stats.edges_waiting, 0);
    let q = db.querier(0, i64::MAX).unwrap();
    let names = q.label_values("__name__", &[]).unwrap();
    assert!(
        names.contains(&"traces_spanmetrics_calls_total".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"traces_service_graph_request_total".to_owned()),
        "{names:?}"
    );
    task.abort();
}

#[test]
fn external_labels_are_on_every_series() {
    let db = Arc::new(MemStorage::new());
    let mut config = Config::default();
    config
        .registry
        .external_labels
        .insert("cluster".into(), "eu1".into());
    let metrics = SpanMetrics::new(config, db.clone()).unwrap();
    metrics.observe_at(&traffic(0).0, T0);
    metrics.collect(T0).unwrap();
    let q = db.querier(0, i64::MAX).unwrap();
    let set = q
        .select(
            &SelectHints::default(),
            &[Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()],
        )
        .unwrap();
    let mut n = 0;
    for series in set {
        let labels: Labels = series.unwrap().labels;
        assert_eq!(labels.get("cluster"), Some("eu1"), "{labels}");
        n += 1;
    }
    assert!(n > 10);
}

#[test]
fn latency_and_service_graph_buckets_carry_one_trace_exemplar_a_collection() {
    let db = Arc::new(MemStorage::new());
    let metrics = SpanMetrics::new(Config::default(), db.clone()).unwrap();
    let (now, later) = traffic(0);
    metrics.observe_at(&now, T0);
    metrics.observe_at(&later, T0);
    metrics.collect(T0).unwrap();
    let selector = |name: &str| vec![Matcher::new(MatchOp::Equal, "__name__", name).unwrap()];
    for name in [
        "traces_spanmetrics_latency_bucket",
        "traces_service_graph_request_server_seconds_bucket",
        "traces_service_graph_request_client_seconds_bucket",
    ] {
        let m = selector(name);
        let found = db.select_exemplars(0, i64::MAX, &[&m]).unwrap();
        assert!(!found.is_empty(), "{name}");
        for s in &found {
            assert_eq!(s.exemplars.len(), 1, "{name}: one a collection");
            let e = &s.exemplars[0];
            assert_eq!(e.t, T0);
            let trace = e.labels.get("trace_id").unwrap();
            assert!(
                !trace.is_empty() && trace.chars().all(|c| c.is_ascii_hexdigit()),
                "{e:?}"
            );
            // The exemplar's value is in its bucket.
            let le: f64 = match s.series.get("le").unwrap() {
                "+Inf" => f64::INFINITY,
                le => le.parse().unwrap(),
            };
            assert!(e.value <= le, "{s:?}");
        }
    }
    // Counters carry none, as in Tempo.
    let m = selector("traces_spanmetrics_calls_total");
    assert!(db.select_exemplars(0, i64::MAX, &[&m]).unwrap().is_empty());
    // A collection with nothing new observed writes no exemplar again.
    metrics.collect(T0 + STEP).unwrap();
    let m = selector("traces_spanmetrics_latency_bucket");
    for s in db.select_exemplars(0, i64::MAX, &[&m]).unwrap() {
        assert_eq!(s.exemplars.len(), 1);
    }
}
