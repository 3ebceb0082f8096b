//! W3C trace context survives a round trip through a custom carrier, as a P2P message's
//! metadata would carry it from one node to the next.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a test failure with a backtrace"
)]

use opentelemetry::trace::TraceContextExt as _;
use skywatch_sdk::metrics::Registry;
use skywatch_sdk::trace::{self, Carrier};
use skywatch_sdk::{Config, LogWriter};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// A P2P message whose metadata is an ordered list of pairs, as libp2p-style envelopes are.
#[derive(Debug, Default, Clone)]
struct Envelope {
    metadata: Vec<(String, String)>,
    payload: Vec<u8>,
}

impl Carrier for Envelope {
    fn get(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn set(&mut self, key: &str, value: String) {
        self.metadata.retain(|(k, _)| k != key);
        self.metadata.push((key.to_owned(), value));
    }
    fn keys(&self) -> Vec<&str> {
        self.metadata.iter().map(|(k, _)| k.as_str()).collect()
    }
}

fn node_dispatch(name: &str) -> (skywatch_sdk::Telemetry, tracing::Dispatch) {
    skywatch_sdk::build(
        Config::new(name, "1.0.0")
            .registry(Registry::new())
            .log_writer(LogWriter::Custom(BoxMakeWriter::new(std::io::sink))),
    )
    .unwrap()
}

#[test]
fn traceparent_survives_a_round_trip_through_a_custom_carrier() {
    let (_sender, sender_dispatch) = node_dispatch("sender");
    let (_receiver, receiver_dispatch) = node_dispatch("receiver");

    // Node A sends a gossip message from inside a span.
    let (sent_context, mut envelope) = tracing::dispatcher::with_default(&sender_dispatch, || {
        let span = tracing::info_span!("p2p.send");
        let _entered = span.enter();
        let mut envelope = Envelope {
            payload: b"block 42".to_vec(),
            ..Envelope::default()
        };
        trace::inject(&mut envelope);
        (span.context().span().span_context().clone(), envelope)
    });
    assert!(sent_context.is_valid());
    let traceparent = envelope.get("traceparent").unwrap().to_owned();
    assert_eq!(
        traceparent,
        format!(
            "00-{}-{}-01",
            sent_context.trace_id(),
            sent_context.span_id()
        )
    );

    // The envelope crosses the wire with other metadata around it.
    envelope.set("content-type", "application/cbor".into());

    // Node B continues the trace from the envelope.
    let received_context = tracing::dispatcher::with_default(&receiver_dispatch, || {
        let extracted = trace::extract(&envelope);
        let got = extracted.span().span_context().clone();
        assert_eq!(
            (
                got.trace_id(),
                got.span_id(),
                got.trace_flags(),
                got.is_remote()
            ),
            (
                sent_context.trace_id(),
                sent_context.span_id(),
                sent_context.trace_flags(),
                true
            )
        );
        let span = tracing::info_span!("p2p.receive");
        assert!(trace::continue_from(&span, &envelope));
        let _entered = span.enter();
        // Re-injecting on B writes B's own span under the same trace.
        let mut forwarded = Envelope::default();
        trace::inject(&mut forwarded);
        assert_ne!(forwarded.get("traceparent"), Some(traceparent.as_str()));
        assert!(
            forwarded
                .get("traceparent")
                .unwrap()
                .contains(&sent_context.trace_id().to_string())
        );
        span.context().span().span_context().clone()
    });
    assert_eq!(received_context.trace_id(), sent_context.trace_id());
    assert_ne!(received_context.span_id(), sent_context.span_id());
    assert_eq!(envelope.payload, b"block 42");
}

#[test]
fn a_carrier_without_context_starts_a_new_trace() {
    let (_t, dispatch) = node_dispatch("lonely");
    tracing::dispatcher::with_default(&dispatch, || {
        let envelope = Envelope::default();
        assert!(!trace::extract(&envelope).span().span_context().is_valid());
        let span = tracing::info_span!("p2p.receive");
        trace::continue_from(&span, &envelope);
        assert!(span.context().span().span_context().is_valid());
    });
}
