//! The log lines of a request carry the ids of the spans they were written in, on every
//! node it crosses: the line of the entry node's HTTP span and the executor's task line
//! share the trace id, and each names its own span.
//!
//! Alone in its test binary: tracing decides once, at a callsite's first use, whether any
//! subscriber wants it, and another test hitting the same callsites first with no
//! subscriber would silence them here.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::collections::HashMap;

mod common;

use netsim::Network;
use skywatch_sdk::trace::{BatchOptions, Pipeline};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_carry_the_ids_of_their_spans_across_nodes() {
    use skywatch_sdk::log::MemoryWriter;
    let logs = MemoryWriter::new();
    let (_telemetry, dispatch) = skywatch_sdk::build(
        skywatch_sdk::Config::new("netsim-test", "0.0.0")
            .registry(skywatch_sdk::metrics::Registry::new())
            .log_filter("info")
            .log_writer(skywatch_sdk::LogWriter::Custom(
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(logs.clone()),
            )),
    )
    .unwrap();
    // Set before the network's first tick: tracing caches whether a callsite is of
    // interest when it is first hit, and with no subscriber then, it would stay silent.
    let _default = tracing::dispatcher::set_default(&dispatch);
    let (pipeline, memory) = Pipeline::memory(BatchOptions::default());
    let net = Network::start(common::quiet(4, 9)).await.unwrap();
    net.trace_to(&pipeline, 1.0);
    for _ in 0..20 {
        net.advance(1.0);
    }
    pipeline.flush().unwrap();
    // Every span by its id: (trace id, name, node).
    let spans: HashMap<String, (String, String, String)> = memory
        .spans()
        .iter()
        .map(|s| {
            (
                s.span.span_context.span_id().to_string(),
                (
                    s.span.span_context.trace_id().to_string(),
                    s.span.name.to_string(),
                    s.resource_attribute("service.instance.id").unwrap(),
                ),
            )
        })
        .collect();
    let lines = logs.json_lines().unwrap();
    // The network's first tick, as it starts, comes before `trace_to`: its lines have no
    // span to name.
    let executed: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "task executed" && l.contains_key("trace_id"))
        .collect();
    assert!(executed.len() >= 10, "{} tasks in 20 ticks", executed.len());
    let mut across = 0;
    for done in executed {
        let submitted = lines
            .iter()
            .find(|l| l["message"] == "task submitted" && l["task_id"] == done["task_id"])
            .unwrap_or_else(|| panic!("no submission for {done:?}"));
        assert_eq!(submitted["trace_id"], done["trace_id"], "one trace");
        for (line, name) in [(submitted, "POST /v1/tasks"), (done, "task.execute")] {
            let (trace, span, node) = &spans[line["span_id"].as_str().unwrap()];
            assert_eq!(trace, line["trace_id"].as_str().unwrap());
            assert_eq!(span, name);
            assert_eq!(node, line["node"].as_str().unwrap());
        }
        if submitted["node"] != done["node"] {
            across += 1;
        }
    }
    assert!(across > 0, "no task ran on another node than it entered");
}
