//! Fuzzes LogQL from parse to answer: any query text parses to a query or an error, and a
//! query evaluates (as a range and, for metric queries, an instant query) to a value or an
//! error over a few streams of JSON, logfmt and plain lines, never panicking or
//! overflowing the stack. Each input runs on a thread with the 2 MiB stack of an async
//! runtime's worker, where the server parses and evaluates queries.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use logs::{Entry, LogStore as _, MemLogs, Stream};
use model::Labels;

const S: i64 = 1_000_000_000;

/// Streams of node lines for the queries to select.
fn store() -> &'static MemLogs {
    static STORE: OnceLock<MemLogs> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = MemLogs::new();
        let lines: [(&str, &str, fn(i64) -> String); 3] = [
            ("node", "info", |i| {
                format!(r#"{{"level":"info","msg":"block imported","height":{i},"took":"{i}ms","trace_id":"4bf92f3577b34da6a3ce929d0e0e{i:04x}","nested":{{"a":[1,2]}}}}"#)
            }),
            ("node", "error", |i| {
                format!("level=error component=p2p msg=\"peer lost\" peers={i} size={i}KB latency=1.{i}s")
            }),
            ("api", "info", |i| {
                format!("10.0.0.{i} - - [07/Dec/2026:10:00:{:02} +0000] \"GET /api/{i} HTTP/1.1\" 200 {i}", i % 60)
            }),
        ];
        let streams: Vec<Stream> = lines
            .iter()
            .map(|(job, level, line)| Stream {
                labels: Labels::from_pairs([("job", *job), ("level", *level)]),
                entries: (0..40)
                    .map(|i| {
                        Entry::new(i * 15 * S, line(i))
                            .with_metadata(Labels::from_pairs([("span_id", format!("{i:016x}"))]))
                    })
                    .collect(),
            })
            .collect();
        store.push(&streams).expect("the fuzz corpus is valid");
        store
    })
}

fn run(text: &str) {
    let Ok(expr) = logql::parse(text) else {
        return;
    };
    let range = logql::Params::range(0, 600 * S, 30 * S);
    let _ = logql::eval(store(), &expr, &range);
    if expr.is_metric() {
        let _ = logql::eval(store(), &expr, &logql::Params::instant(300 * S));
    }
}

fuzz_target!(
    init: std::panic::set_hook(Box::new(|_| {})),
    |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        skywatch_fuzz::on_worker_stack("the query", || run(text));
    }
);
