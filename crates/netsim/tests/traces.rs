//! The network's traces, exported through an in-memory pipeline: a request leaves the
//! seeds' whole flow across nodes and services with its parent-child links intact, the
//! sampler keeps or drops a trace whole, and chaos on a layer shows as errors or latency in
//! the spans of that layer. The network moves only when the test moves it, and requests
//! draw from the seeded generator, so every run plans the same requests (only the random
//! trace and span ids differ).

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

mod common;

use common::quiet;
use netsim::{FLOW, Layer, Network, Service};
use skywatch_sdk::opentelemetry::trace::{SpanKind, Status, TraceId};
use skywatch_sdk::trace::{BatchOptions, ExportedSpan, Pipeline};

/// Runs a network of `nodes` from `seed` for `ticks` one-second ticks, with `chaos`
/// degraded from the start, and returns every span exported at `ratio`.
async fn run(
    nodes: usize,
    seed: u64,
    ticks: usize,
    ratio: f64,
    chaos: Option<Layer>,
) -> Vec<ExportedSpan> {
    let (pipeline, memory) = Pipeline::memory(BatchOptions {
        max_queue: 1 << 16,
        ..BatchOptions::default()
    });
    let net = Network::start(quiet(nodes, seed)).await.unwrap();
    net.trace_to(&pipeline, ratio);
    if let Some(layer) = chaos {
        net.chaos().degrade(layer).unwrap();
    }
    for _ in 0..ticks {
        net.advance(1.0);
    }
    pipeline.flush().unwrap();
    assert_eq!(pipeline.stats().dropped, 0);
    memory.spans()
}

/// The spans by trace, each trace's spans in the order they start.
fn traces(spans: &[ExportedSpan]) -> HashMap<TraceId, Vec<&ExportedSpan>> {
    let mut traces: HashMap<TraceId, Vec<&ExportedSpan>> = HashMap::new();
    for s in spans {
        traces
            .entry(s.span.span_context.trace_id())
            .or_default()
            .push(s);
    }
    for spans in traces.values_mut() {
        // A child may start as its parent does: parents first.
        let parents: HashMap<_, _> = spans
            .iter()
            .map(|s| (s.span.span_context.span_id(), s.span.parent_span_id))
            .collect();
        let depth = |s: &ExportedSpan| {
            let mut depth = 0;
            let mut id = s.span.parent_span_id;
            while let Some(parent) = parents.get(&id) {
                depth += 1;
                id = *parent;
            }
            depth
        };
        spans.sort_by_key(|s| (s.span.start_time, depth(s)));
    }
    traces
}

fn string(s: &ExportedSpan, key: &str) -> String {
    s.attribute(key)
        .map(|v| v.to_string())
        .unwrap_or_else(|| panic!("{} has no {key}: {:?}", s.span.name, s.span.attributes))
}

fn is_error(s: &ExportedSpan) -> bool {
    matches!(s.span.status, Status::Error { .. })
}

fn exception(s: &ExportedSpan) -> Option<String> {
    s.span
        .events
        .iter()
        .find(|e| e.name == "exception")
        .map(|e| {
            e.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "exception.message")
                .unwrap()
                .value
                .to_string()
        })
}

/// Checks that every span of `trace` but one has its parent in the trace, and returns the
/// root.
fn whole<'a>(trace: &[&'a ExportedSpan]) -> &'a ExportedSpan {
    let ids: HashSet<_> = trace
        .iter()
        .map(|s| s.span.span_context.span_id())
        .collect();
    let roots: Vec<_> = trace
        .iter()
        .filter(|s| !ids.contains(&s.span.parent_span_id))
        .collect();
    assert_eq!(roots.len(), 1, "a trace has one root: {roots:?}");
    let root = roots[0];
    assert_eq!(root.span.name, "POST /v1/tasks");
    assert_eq!(root.span.span_kind, SpanKind::Server);
    assert_eq!(root.service(), Service::Api.name());
    root
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_leaves_the_whole_flow_across_nodes_and_services() {
    let spans = run(6, 4, 10, 1.0, None).await;
    let traces = traces(&spans);
    assert!(traces.len() >= 10, "{} traces in 10 ticks", traces.len());
    let mut complete = 0;
    let mut widest = 0;
    for trace in traces.values() {
        let root = whole(trace);
        let names: Vec<&str> = trace.iter().map(|s| s.span.name.as_ref()).collect();
        if names != FLOW {
            continue;
        }
        complete += 1;
        let services: BTreeSet<String> = trace.iter().map(|s| s.service()).collect();
        let all: BTreeSet<String> = Service::ALL.iter().map(|s| s.name().to_owned()).collect();
        assert_eq!(services, all);
        let instances: BTreeSet<String> = trace
            .iter()
            .map(|s| s.resource_attribute("service.instance.id").unwrap())
            .collect();
        // The entry node, the coordinator, its DHT peer and the executor: two of them at
        // least, which may be the same node.
        assert!(instances.len() >= 2, "{instances:?}");
        widest = widest.max(instances.len());
        for s in trace {
            assert_eq!(
                s.resource_attribute("host.name"),
                s.resource_attribute("service.instance.id")
            );
            assert!(s.resource_attribute("service.version").is_some());
            assert!(!is_error(s), "{:?}", s.span);
            assert_eq!(string(s, "task.id"), string(root, "task.id"));
        }
        assert_eq!(string(root, "http.request.method"), "POST");
        assert_eq!(string(root, "http.route"), "/v1/tasks");
        assert_eq!(string(root, "http.response.status_code"), "200");
        let by_id: HashMap<_, _> = trace
            .iter()
            .map(|s| (s.span.span_context.span_id(), *s))
            .collect();
        for s in &trace[1..] {
            let parent = by_id[&s.span.parent_span_id];
            let instance = |s: &ExportedSpan| s.resource_attribute("service.instance.id");
            // A span continues a parent on another node only through the message's
            // traceparent, and then its parent is remote; on the same node it is local.
            let crosses = instance(s) != instance(parent);
            assert_eq!(s.span.parent_span_is_remote, crosses, "{}", s.span.name);
            if crosses {
                assert!(
                    matches!(s.span.span_kind, SpanKind::Server | SpanKind::Consumer),
                    "{} crosses nodes as {:?}",
                    s.span.name,
                    s.span.span_kind
                );
                assert_eq!(
                    string(s, "p2p.message.type"),
                    string(parent, "p2p.message.type")
                );
                assert_eq!(
                    Some(string(parent, "peer.node")),
                    instance(s),
                    "the sender names the receiver"
                );
            }
            assert!(parent.span.start_time <= s.span.start_time);
            if parent.span.span_kind != SpanKind::Producer {
                assert!(
                    s.span.end_time <= parent.span.end_time,
                    "{} ends after {}",
                    s.span.name,
                    parent.span.name
                );
            }
        }
        let kinds: Vec<(&str, SpanKind)> = trace
            .iter()
            .map(|s| (s.span.name.as_ref(), s.span.span_kind.clone()))
            .collect();
        assert_eq!(kinds[1], ("p2p.send task.submit", SpanKind::Client));
        assert_eq!(kinds[2], ("p2p.handle task.submit", SpanKind::Server));
        assert_eq!(kinds[6], ("p2p.send task.assign", SpanKind::Producer));
        assert_eq!(kinds[7], ("p2p.receive task.assign", SpanKind::Consumer));
        let wasm = trace[9];
        assert_eq!(string(wasm, "wasm.exit_code"), "0");
        let payment = trace[10];
        assert!(string(payment, "payment.amount").parse::<f64>().unwrap() > 0.0);
        assert_eq!(string(payment, "payment.payee").len(), 52);
        assert!(string(trace[5], "guild.id").starts_with("guild-"));
    }
    assert!(complete >= 5, "{complete} complete flows");
    assert!(widest >= 4, "no flow crossed four nodes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sampler_keeps_or_drops_each_trace_whole() {
    let all = traces(&run(5, 7, 100, 1.0, None).await).len();
    let spans = run(5, 7, 100, 0.3, None).await;
    let kept = traces(&spans);
    // The same seed plans the same requests; about 30% of them are kept (the trace ids,
    // and so the decisions, are random: 0.15 and 0.45 are over six standard deviations out).
    assert!(all >= 100, "{all} requests");
    let share = kept.len() as f64 / all as f64;
    assert!(
        (0.15..0.45).contains(&share),
        "{} of {all} kept",
        kept.len()
    );
    for trace in kept.values() {
        whole(trace);
        let root = trace[0];
        if string(root, "http.response.status_code") == "200" {
            assert_eq!(trace.len(), FLOW.len(), "a kept trace has every span");
        }
    }
    // Nothing is kept at 0.
    assert!(run(5, 7, 20, 0.0, None).await.is_empty());
}

/// What chaos on a layer must show in the spans.
struct Case {
    layer: Layer,
    /// The spans that record the failures.
    raising: &'static [&'static str],
    /// Checks the degraded run against the healthy one.
    check: fn(&Spans, &Spans),
}

/// The spans of one run, by name.
struct Spans(BTreeMap<String, Vec<ExportedSpan>>);

impl Spans {
    fn new(spans: Vec<ExportedSpan>) -> Self {
        let mut by_name: BTreeMap<String, Vec<ExportedSpan>> = BTreeMap::new();
        for s in spans {
            by_name.entry(s.span.name.to_string()).or_default().push(s);
        }
        Self(by_name)
    }

    fn named(&self, name: &str) -> &[ExportedSpan] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    /// The share of the spans called `name` with an error status.
    fn errors(&self, name: &str) -> f64 {
        let spans = self.named(name);
        spans.iter().filter(|s| is_error(s)).count() as f64 / spans.len().max(1) as f64
    }

    /// The mean duration of the spans called `name`, in seconds.
    fn mean(&self, name: &str) -> f64 {
        let spans = self.named(name);
        let total: Duration = spans
            .iter()
            .map(|s| s.span.end_time.duration_since(s.span.start_time).unwrap())
            .sum();
        total.as_secs_f64() / spans.len().max(1) as f64
    }

    /// The names of the spans with an exception event.
    fn raising(&self) -> BTreeSet<&str> {
        self.0
            .iter()
            .filter(|(_, spans)| spans.iter().any(|s| exception(s).is_some()))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_shows_in_the_spans_of_the_layer_it_degrades() {
    let cases = [
        Case {
            layer: Layer::P2p,
            raising: &[
                "p2p.send task.submit",
                "p2p.send task.assign",
                "dht.find_providers",
            ],
            check: |_, chaos| {
                assert!(chaos.errors("p2p.send task.submit") > 0.3);
                assert!(chaos.errors("dht.find_providers") > 0.2);
            },
        },
        Case {
            layer: Layer::Execution,
            raising: &["wasm.execute"],
            check: |_, chaos| assert!(chaos.errors("wasm.execute") > 0.3),
        },
        Case {
            layer: Layer::Latency,
            raising: &["wasm.execute"],
            check: |healthy, chaos| {
                assert!(
                    chaos.mean("wasm.execute") > 5.0 * healthy.mean("wasm.execute"),
                    "{} against {}",
                    chaos.mean("wasm.execute"),
                    healthy.mean("wasm.execute")
                );
                assert!(chaos.mean("POST /v1/tasks") > 5.0 * healthy.mean("POST /v1/tasks"));
                assert!(chaos.errors("wasm.execute") > 0.2, "tasks time out");
            },
        },
        Case {
            layer: Layer::Payments,
            raising: &["payment.settle"],
            check: |_, chaos| assert!(chaos.errors("payment.settle") > 0.3),
        },
        Case {
            layer: Layer::Consensus,
            raising: &["chain.confirm"],
            check: |healthy, chaos| {
                assert!(chaos.errors("chain.confirm") > 0.1);
                assert!(
                    chaos.errors("payment.settle") > 0.1,
                    "the settlement waited"
                );
                assert!(chaos.mean("chain.confirm") > 2.0 * healthy.mean("chain.confirm"));
            },
        },
        Case {
            layer: Layer::Api,
            raising: &["POST /v1/tasks"],
            check: |_, chaos| {
                assert!(chaos.errors("POST /v1/tasks") > 0.3);
                let slowest_of_the_fast = chaos
                    .named("POST /v1/tasks")
                    .iter()
                    .map(|s| s.span.end_time.duration_since(s.span.start_time).unwrap())
                    .min()
                    .unwrap();
                assert!(slowest_of_the_fast >= Duration::from_millis(300));
                assert!(
                    chaos
                        .named("POST /v1/tasks")
                        .iter()
                        .filter(|s| is_error(s))
                        .all(|s| string(s, "http.response.status_code") == "503")
                );
            },
        },
    ];
    let healthy = Spans::new(run(8, 1, 60, 1.0, None).await);
    assert_eq!(
        healthy.raising(),
        BTreeSet::new(),
        "a healthy network of this seed fails nothing in 60 ticks"
    );
    for case in &cases {
        let chaos = Spans::new(run(8, 1, 60, 1.0, Some(case.layer)).await);
        let raising = chaos.raising();
        let expected: BTreeSet<&str> = case.raising.iter().copied().collect();
        assert_eq!(raising, expected, "{:?}", case.layer);
        (case.check)(&healthy, &chaos);
    }
}
