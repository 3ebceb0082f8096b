//! Log lines carry the trace and span ids of the span they are written in, with or
//! without an exporter: correlation must not depend on shipping spans anywhere.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use skywatch_sdk::log::MemoryWriter;
use skywatch_sdk::{Config, LogWriter, metrics::Registry};

#[test]
fn root_spans_have_ids_in_logs_and_propagate_without_an_exporter() {
    let logs = MemoryWriter::new();
    let (_telemetry, dispatch) = skywatch_sdk::build(
        Config::new("ids", "0.0.0")
            .registry(Registry::new())
            .log_filter("info")
            .log_writer(LogWriter::Custom(
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(logs.clone()),
            )),
    )
    .unwrap();
    let mut metadata = std::collections::BTreeMap::<String, String>::new();
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("send");
        let _entered = span.enter();
        skywatch_sdk::trace::inject(&mut metadata);
        tracing::info!("sent");
    });
    let lines = logs.json_lines().unwrap();
    let trace_id = lines[0]["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{:?}", lines[0]));
    assert_eq!(trace_id.len(), 32);
    let traceparent = metadata.get("traceparent").unwrap();
    assert!(traceparent.contains(trace_id), "{traceparent}");
}
