//! Fuzzes TraceQL from parse to answer: any query text is a query or an error with a byte
//! offset inside it; a query runs over a small trace (two services, parent and children,
//! attributes of each kind, an error status) to spansets that name spans of the trace,
//! and its hint never rules out a trace it matches (a store skips traces by the hint).
//! Each input runs on a worker's 2 MiB stack, where Tempo's search API runs queries.

#![no_main]

use std::str::FromStr as _;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use spans::{
    Event, KeyValue, Resource, Span, SpanId, SpanKind, Status, StatusCode, TraceId, Value,
};

fn trace() -> &'static [Span] {
    static TRACE: OnceLock<Vec<Span>> = OnceLock::new();
    TRACE.get_or_init(|| {
        let id = TraceId([7; 16]);
        let api = Arc::new(Resource::service("api"));
        let db = Arc::new(Resource::service("db"));
        let mut root = Span::new(id, SpanId([1; 8]), "GET /orders", 1_000, 9_000_000);
        root.kind = SpanKind::Server;
        root.resource = api.clone();
        root.attributes = vec![
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.status_code", Value::Int(500)),
            KeyValue::new("ratio", Value::Double(0.25)),
            KeyValue::new("cached", Value::Bool(false)),
        ];
        root.status = Status {
            code: StatusCode::Error,
            message: "boom".into(),
        };
        let mut call = Span::new(id, SpanId([2; 8]), "SELECT orders", 2_000, 5_000_000);
        call.parent_span_id = Some(root.span_id);
        call.kind = SpanKind::Client;
        call.resource = api;
        call.attributes = vec![KeyValue::new("db.system", "postgresql")];
        call.events = vec![Event {
            time: 3_000,
            name: "retry".into(),
            attributes: vec![KeyValue::new("attempt", Value::Int(2))],
            dropped_attributes_count: 0,
        }];
        let mut query = Span::new(id, SpanId([3; 8]), "query", 2_500, 4_900_000);
        query.parent_span_id = Some(call.span_id);
        query.kind = SpanKind::Server;
        query.resource = db;
        query.attributes = vec![KeyValue::new("rows", Value::Int(42))];
        vec![root, call, query]
    })
}

fn run(text: &str) {
    let query = match traceql::Query::from_str(text) {
        Ok(q) => q,
        Err(e) => {
            assert!(
                e.offset <= text.len(),
                "offset {} in {} bytes",
                e.offset,
                text.len()
            );
            return;
        }
    };
    let trace = trace();
    let hint = query.hint();
    let matches = query.eval(trace);
    for set in &matches.spansets {
        assert!(
            set.spans.iter().all(|&i| i < trace.len()),
            "{:?}",
            set.spans
        );
        for &i in &set.spans {
            let _ = matches.span_attributes(i);
        }
    }
    if !matches.spansets.is_empty() {
        assert!(
            hint.matches(trace),
            "{hint:?} would skip a trace that {text:?} matches"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    skywatch_fuzz::on_worker_stack("the TraceQL query", || run(text));
});
