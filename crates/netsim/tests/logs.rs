//! The nodes' log records: a calm network's requests write info lines in the context of
//! their spans, under the resource of the node and service that wrote them, and each node
//! writes `block imported` lines; each kind of chaos writes warn and error lines naming
//! the component that fails, with the error. The network moves only when the test moves
//! it, so every count here is the same at every run.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::collections::{BTreeSet, HashMap};

mod common;

use netsim::{Layer, LogPipeline, Network, Pipeline};
use skywatch_sdk::log::{ExportedLog, MemoryLogs, Severity};
use skywatch_sdk::trace::{BatchOptions, MemorySpans};

/// A quiet network of `nodes` whose spans, all sampled, and logs are kept in memory.
async fn network(nodes: usize) -> (Network, Pipeline, MemorySpans, LogPipeline, MemoryLogs) {
    let (spans, memory_spans) = Pipeline::memory(BatchOptions::default());
    let (logs, memory_logs) = LogPipeline::memory(BatchOptions::default());
    let net = Network::start(common::quiet(nodes, 5)).await.unwrap();
    net.trace_to(&spans, 1.0);
    net.log_to(&logs);
    (net, spans, memory_spans, logs, memory_logs)
}

fn attr(r: &ExportedLog, key: &str) -> String {
    r.attribute(key)
        .unwrap_or_else(|| panic!("no {key} on {r:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calm_requests_log_info_in_their_spans_and_nodes_import_blocks() {
    let (net, spans, memory_spans, logs, memory_logs) = network(4).await;
    for _ in 0..20 {
        net.advance(1.0);
    }
    spans.flush().unwrap();
    logs.flush().unwrap();
    // Every span by its id: (trace id, name, service, node).
    let spans: HashMap<String, (String, String, String, String)> = memory_spans
        .spans()
        .iter()
        .map(|s| {
            (
                s.span.span_context.span_id().to_string(),
                (
                    s.span.span_context.trace_id().to_string(),
                    s.span.name.to_string(),
                    s.service(),
                    s.resource_attribute("service.instance.id").unwrap(),
                ),
            )
        })
        .collect();
    let records = memory_logs.records();
    let in_spans: Vec<&ExportedLog> = records.iter().filter(|r| r.trace_id().is_some()).collect();
    assert!(in_spans.len() >= 50, "{} request lines", in_spans.len());
    for r in &in_spans {
        assert_eq!(r.severity(), Some(Severity::Info), "a calm network: {r:?}");
        let (trace, _, service, node) = spans
            .get(&r.span_id().unwrap())
            .unwrap_or_else(|| panic!("no span for {r:?}"));
        assert_eq!(
            &r.trace_id().unwrap(),
            trace,
            "the line's trace is its span's"
        );
        assert_eq!(&r.service(), service, "under its span's service");
        assert_eq!(&attr(r, "node"), node);
        assert_eq!(
            r.resource_attribute("service.instance.id").as_ref(),
            Some(node)
        );
    }
    // A task's lines, from the node it entered to the one that ran it, share one trace.
    let executed: Vec<_> = in_spans
        .iter()
        .filter(|r| r.body().as_deref() == Some("task executed"))
        .collect();
    assert!(executed.len() >= 10, "{} tasks in 20 ticks", executed.len());
    let mut across = 0;
    for done in executed {
        let task = attr(done, "task_id");
        let submitted = in_spans
            .iter()
            .find(|r| r.body().as_deref() == Some("task submitted") && attr(r, "task_id") == task)
            .unwrap_or_else(|| panic!("no submission for {done:?}"));
        assert_eq!(submitted.trace_id(), done.trace_id(), "one trace");
        assert_eq!(spans[&done.span_id().unwrap()].1, "task.execute");
        assert_eq!(spans[&submitted.span_id().unwrap()].1, "POST /v1/tasks");
        assert_eq!(done.service(), "zerostate-execution");
        assert_eq!(attr(done, "component"), "execution");
        if attr(submitted, "node") != attr(done, "node") {
            across += 1;
        }
    }
    assert!(across > 0, "no task ran on another node than it entered");
    // Each node's own lines: blocks, without a trace.
    let blocks: Vec<_> = records
        .iter()
        .filter(|r| r.body().as_deref() == Some("block imported"))
        .collect();
    let nodes: BTreeSet<String> = blocks.iter().map(|r| attr(r, "node")).collect();
    assert_eq!(nodes.len(), 4, "every node imports blocks");
    for b in &blocks {
        assert_eq!(b.service(), netsim::logs::NODE_SERVICE);
        assert!(b.trace_id().is_none());
        assert!(attr(b, "height").parse::<u64>().unwrap() > 1);
        assert!(b.attribute("peers").is_some());
    }
    assert!(
        !records
            .iter()
            .any(|r| r.body().unwrap().starts_with("resource warning")),
        "a calm network warns of nothing"
    );
}

/// What a layer's chaos must write: an error or warn line of `component` whose body or
/// error says `says`.
struct Case {
    layer: Layer,
    component: &'static str,
    severity: Severity,
    says: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_chaos_logs_warnings_and_errors_naming_the_failing_component() {
    let cases = [
        Case {
            layer: Layer::Execution,
            component: "execution",
            severity: Severity::Error,
            says: "wasm trap",
        },
        Case {
            layer: Layer::Latency,
            component: "execution",
            severity: Severity::Error,
            says: "deadline",
        },
        Case {
            layer: Layer::Latency,
            component: "execution",
            severity: Severity::Warn,
            says: "resource warning: WASM memory",
        },
        Case {
            layer: Layer::Payments,
            component: "payments",
            severity: Severity::Error,
            says: "rejected the settlement",
        },
        Case {
            layer: Layer::P2p,
            component: "p2p",
            severity: Severity::Error,
            says: "stream to",
        },
        Case {
            layer: Layer::Consensus,
            component: "consensus",
            severity: Severity::Warn,
            says: "resource warning: chain sync lag",
        },
        Case {
            layer: Layer::Api,
            component: "api",
            severity: Severity::Error,
            says: "503",
        },
    ];
    let (net, _spans, _memory_spans, logs, memory) = network(8).await;
    for case in cases {
        net.chaos().degrade(case.layer).unwrap();
        for _ in 0..30 {
            net.advance(1.0);
        }
        logs.flush().unwrap();
        let records = memory.records();
        let found = records.iter().find(|r| {
            r.severity() == Some(case.severity)
                && r.attribute("component").as_deref() == Some(case.component)
                && (r.body().unwrap().contains(case.says)
                    || r.attribute("error").is_some_and(|e| e.contains(case.says)))
        });
        assert!(
            found.is_some(),
            "{:?}: no {:?} line of {} saying {:?} among {} lines",
            case.layer,
            case.severity,
            case.component,
            case.says,
            records.len()
        );
        // A failure raised in a span is logged with its trace and an error to read.
        if let Some(r) = found.filter(|r| r.trace_id().is_some()) {
            assert!(r.attribute("error").is_some(), "{r:?}");
            assert!(r.attribute("task_id").is_some(), "{r:?}");
        }
        net.chaos().heal_all().await.unwrap();
        for _ in 0..25 {
            net.advance(1.0);
        }
        logs.flush().unwrap();
        memory.clear();
        // Healed, the network warns of its resources no more.
        for _ in 0..5 {
            net.advance(1.0);
        }
        logs.flush().unwrap();
        let warnings: Vec<_> = memory
            .records()
            .into_iter()
            .filter(|r| r.body().unwrap().starts_with("resource warning"))
            .collect();
        assert!(warnings.is_empty(), "{:?} healed: {warnings:?}", case.layer);
        memory.clear();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_logs_nothing_and_its_peers_log_that_they_cannot_dial_it() {
    let (net, _spans, _memory_spans, logs, memory) = network(4).await;
    net.chaos().kill(1).unwrap();
    for _ in 0..30 {
        net.advance(1.0);
    }
    logs.flush().unwrap();
    let records = memory.records();
    assert!(
        records.iter().all(|r| attr(r, "node") != "node-01"),
        "a dead node writes nothing"
    );
    let dial = records.iter().find(|r| {
        r.severity() == Some(Severity::Error)
            && attr(r, "component") == "p2p"
            && attr(r, "error").contains("cannot dial node-01")
    });
    assert!(
        dial.is_some(),
        "no dial failure among {} lines",
        records.len()
    );
}
