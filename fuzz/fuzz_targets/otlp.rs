//! Fuzzes OTLP/HTTP request bodies of the three signals, in protobuf and in JSON, plain or
//! gzipped, as the receiver takes them: the first byte chooses the signal (bits 0-1), the
//! encoding (bit 2) and gzip (bit 3); the rest is the body. Any body is refused with an
//! error or taken, with kept plus rejected equal to the items sent (spans, log records),
//! and the answer encodes in the request's encoding. Spans also round-trip: what the
//! store keeps, written back as OTLP (as Tempo's trace answers are) and read again, is the
//! same spans; and a trace request read from JSON, written as JSON and read again, is the
//! same request.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use otlp::proto::trace::v1::TracesData;
use otlp::{Accepted, Encoding, ExportError, Protocol, Receiver, ReceiverOptions, Signal, body};
use prost::Message as _;

fn receiver() -> Receiver {
    let logs: Arc<dyn logs::LogStore> = Arc::new(logs::MemLogs::new());
    Receiver::new(ReceiverOptions {
        spans: Some(Arc::new(spans::MemSpans::new())),
        metrics: Some(Arc::new(storage::MemStorage::new())),
        logs: Some(Arc::new(otlp::logs::StoreSink::new(logs))),
        limits: otlp::Limits::default(),
    })
}

/// Spans as comparable text, in an order that does not depend on grouping.
fn shown(spans: &[spans::Span]) -> Vec<String> {
    let mut out: Vec<String> = spans.iter().map(|s| format!("{s:?}")).collect();
    out.sort();
    out
}

fn traces(r: &Receiver, body: &[u8], encoding: Encoding) -> Result<Accepted, ExportError> {
    let request = body::traces(body, encoding)?;
    let sent = otlp::traces::count(&request.resource_spans) as u64;
    if encoding == Encoding::Json {
        let json = otlp::json::write_traces(&TracesData {
            resource_spans: request.resource_spans.clone(),
        });
        let again = otlp::json::read_traces(json.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("the JSON written does not read: {e}: {json}"));
        assert_eq!(
            again.encode_to_vec(),
            request.encode_to_vec(),
            "JSON → request → JSON → request changed it: {json}"
        );
    }
    let limit = r.limits().max_attribute_value_bytes;
    let received = otlp::traces::from_otlp(request.resource_spans.clone(), limit);
    let back = otlp::traces::to_otlp(&received.spans);
    let again = otlp::traces::from_otlp(back.resource_spans, limit);
    assert_eq!(
        again.rejected, 0,
        "the spans kept are valid: {:?}",
        again.problems
    );
    assert_eq!(
        shown(&again.spans),
        shown(&received.spans),
        "spans → OTLP → spans"
    );
    let accepted = r.export_traces(Protocol::Http, request)?;
    assert_eq!(accepted.kept + accepted.rejected, sent, "{accepted:?}");
    Ok(accepted)
}

fn run(data: &[u8]) {
    let Some((&head, body)) = data.split_first() else {
        return;
    };
    let signal = [
        Signal::Traces,
        Signal::Metrics,
        Signal::Logs,
        Signal::Traces,
    ][usize::from(head & 3)];
    let encoding = if head & 4 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let coding = (head & 8 != 0).then_some("gzip");
    let r = receiver();
    let result =
        body::decompress(body, coding, r.limits().max_request_body_bytes).and_then(|body| {
            match signal {
                Signal::Traces => traces(&r, &body, encoding),
                Signal::Metrics => {
                    r.export_metrics(Protocol::Http, body::metrics(&body, encoding)?)
                }
                Signal::Logs => {
                    let request = body::logs(&body, encoding)?;
                    let sent = otlp::logs::count(&request.resource_logs) as u64;
                    let accepted = r.export_logs(Protocol::Http, request)?;
                    assert_eq!(accepted.kept + accepted.rejected, sent, "{accepted:?}");
                    Ok(accepted)
                }
            }
        });
    let answer = match &result {
        Ok(accepted) => body::success_body(signal, accepted, encoding),
        Err(e) => {
            assert!((400..600).contains(&e.http_status()), "{e:?}");
            body::failure_body(e, encoding)
        }
    };
    if encoding == Encoding::Json {
        serde_json::from_slice::<serde_json::Value>(&answer).expect("a JSON answer");
    }
    // The receiver's own entry point takes the same body to the same outcome.
    let content_type = encoding.content_type();
    let (_, again) = receiver().receive_http(signal, body, Some(content_type), coding);
    assert_eq!(again.is_ok(), result.is_ok(), "{again:?} and {result:?}");
}

fuzz_target!(|data: &[u8]| {
    skywatch_fuzz::on_worker_stack("the OTLP request", || run(data));
});
