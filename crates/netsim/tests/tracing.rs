//! Tasks hop between simulated nodes carrying their W3C trace context in the message's
//! metadata: the receiver's span continues the sender's trace, and the JSON log lines on
//! both sides carry the same trace id.
//!
//! Alone in its test binary: tracing decides once, at a callsite's first use, whether any
//! subscriber wants it, and another test hitting the same callsites first with no
//! subscriber would silence them here.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use std::time::Duration;

use netsim::{Network, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_carry_their_trace_from_node_to_node() {
    use skywatch_sdk::log::MemoryWriter;
    let logs = MemoryWriter::new();
    let (_telemetry, dispatch) = skywatch_sdk::build(
        skywatch_sdk::Config::new("netsim-test", "0.0.0")
            .registry(skywatch_sdk::metrics::Registry::new())
            .sample_ratio(1.0)
            .log_filter("info")
            .log_writer(skywatch_sdk::LogWriter::Custom(
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(logs.clone()),
            )),
    )
    .unwrap();
    // Set before the network's first tick: tracing caches whether a callsite is of
    // interest when it is first hit, and with no subscriber then, it would stay silent.
    let _default = tracing::dispatcher::set_default(&dispatch);
    let net = Network::start(Options {
        nodes: 4,
        seed: 9,
        tick: Duration::from_secs(3600),
        load_series: 0,
    })
    .await
    .unwrap();
    for _ in 0..40 {
        net.advance(1.0);
    }
    let lines = logs.json_lines().unwrap();
    let executed: Vec<_> = lines
        .iter()
        .filter(|l| l["message"] == "task executed")
        .collect();
    assert!(!executed.is_empty(), "no task hopped in 40 ticks");
    for done in executed {
        let sent = lines
            .iter()
            .find(|l| l["message"] == "task dispatched" && l["task_id"] == done["task_id"])
            .unwrap_or_else(|| panic!("no dispatch for {done:?}"));
        assert_eq!(
            sent["trace_id"], done["trace_id"],
            "the trace crosses the hop"
        );
        assert_ne!(sent["span_id"], done["span_id"]);
        assert_ne!(sent["node"], done["node"], "a hop goes to another node");
        assert_eq!(done["from"], sent["node"]);
    }
}
